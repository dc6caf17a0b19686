/*
 * builder.h - a tree made from entries given by path, in any order, with
 * "the later entry wins", as extracting an archive does.
 *
 * Sources whose entries do not come directory by directory (a tar
 * stream; a few files at fixed paths) put each entry under its path; the
 * builder makes missing parent directories, lets a later entry replace
 * an earlier one of the same path (a non-directory over a directory
 * takes its whole subtree away; a directory over a directory keeps the
 * children and takes the new attributes), and finally emits a LimgTree
 * with the tree invariant: children of a directory contiguous and
 * sorted by name in byte order, appended all at once, directories
 * visited depth first in name order, the numbering a function of the
 * entries only.
 *
 * Paths are relative, already clean: components separated by '/', none
 * empty, "." or "..", each 1..255 bytes without NUL. "" is the root.
 *
 * Thread model: one builder per thread; the tree it emits is the
 * caller's.
 */
#ifndef LIMG_BUILDER_H
#define LIMG_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "tree/tree.h"

typedef struct LimgTreeBuilder LimgTreeBuilder;
typedef struct LimgBuilderEntry LimgBuilderEntry;

/*
 * A builder holding the root with @root's metadata (type bits forced to
 * a directory). Directories made for missing parents take @parent's.
 */
LimgTreeBuilder *limg_tree_builder_new(const LimgNode *root, const LimgNode *parent);
void limg_tree_builder_free(LimgTreeBuilder *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgTreeBuilder, limg_tree_builder_free)

/*
 * Put an entry with metadata @proto (mode with type bits; parent,
 * children, name, target and xattr fields are ignored) at @path (@len
 * bytes), replacing what is there; a symlink's target is @target (@tlen
 * bytes; else NULL). "" sets the root's metadata. The entry's xattrs are
 * cleared. 0 and the entry in *out (borrowed, valid until the builder is
 * freed or the entry replaced; may be NULL), or -EINVAL (a bad path, a
 * non-directory at the root) / -ENOTDIR (a parent is not a directory:
 * left out, as extraction refuses it).
 */
int limg_tree_builder_put(LimgTreeBuilder *b, const char *path, size_t len,
                          const LimgNode *proto, const char *target, size_t tlen,
                          LimgBuilderEntry **out);

/*
 * Put a hard link at @path to the entry at @tpath (@tlen bytes): a copy
 * of its node (dev and ino included, so the tree shows one inode), its
 * symlink target and its xattrs, replacing what is at @path. A link to
 * itself changes nothing. 0 and the new entry in *out (may be NULL), or
 * -ENOENT (no entry at @tpath), -EISDIR (it is a directory), or what
 * limg_tree_builder_put() returns.
 */
int limg_tree_builder_link(LimgTreeBuilder *b, const char *path, size_t len,
                           const char *tpath, size_t tlen, LimgBuilderEntry **out);

/* The entry at @path, or NULL. Borrowed. */
LimgBuilderEntry *limg_tree_builder_find(LimgTreeBuilder *b, const char *path, size_t len);

/* The directory at @path, made (with the parent metadata) if missing. NULL: not a directory. */
LimgBuilderEntry *limg_tree_builder_dir(LimgTreeBuilder *b, const char *path, size_t len);

/* The entry's metadata, to change before building. Borrowed. */
LimgNode *limg_builder_entry_node(LimgBuilderEntry *e);

/* Set (or replace) xattr @name of @e (copied). */
void limg_builder_entry_set_xattr(LimgBuilderEntry *e, const char *name, const void *value,
                                  uint32_t len);

/*
 * Emit the tree (xattrs sorted by name; data_bytes is left 0: the layout
 * counts data, hard links once). The builder is left empty.
 * 0 and a new tree in *out (caller owns), or -ENOMEM / -E2BIG.
 */
int limg_tree_builder_build(LimgTreeBuilder *b, LimgTree **out);

/*
 * Clean an archive path the way container runtimes extract it: leading
 * '/' and "./" dropped, empty and "." components dropped, ".." taking
 * away the component before it and never going above the root. Returns
 * a new string (caller frees; "" for the root) and sets *changed when
 * the path would have left the layer: a leading '/', or a ".." above the
 * root. NULL when a component is longer than 255 bytes.
 */
char *limg_tree_clean_path(const char *path, size_t len, bool *changed);

#endif /* LIMG_BUILDER_H */
