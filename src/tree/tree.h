/*
 * tree.h - the neutral node tree every layer source produces and the ISO
 * engine consumes.
 *
 * A tree is a flat array of nodes. Node 0 is the root directory. The
 * children of a directory are contiguous: nodes[d.first_child ..
 * d.first_child + d.nchildren), sorted by name in byte order (memcmp).
 * Sources append all children of a directory at once, which gives this
 * shape whatever order directories are visited in; a source that visits
 * directories in sorted depth-first order makes node numbering a pure
 * function of the tree's contents.
 *
 * Nothing here is host-specific at render time: st_ino/st_dev are kept
 * only to find hard links and to recognise a source file again at open
 * time, never written into an image.
 *
 * Thread model: built by one thread; immutable afterwards and then safe to
 * read from any number of threads. Owned by whoever built it, or by the
 * layout it is handed to (limg_layout_build() takes ownership).
 */
#ifndef LIMG_TREE_H
#define LIMG_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <glib.h>

#include "util/arena.h"

#define LIMG_NONE UINT32_MAX

typedef struct {
	int64_t sec;
	uint32_t nsec;
} LimgTime;

typedef struct {
	uint32_t parent;      /* index of the parent directory; root: 0 */
	uint32_t first_child; /* directories: first child index, else 0 */
	uint32_t nchildren;   /* directories: number of children */
	uint32_t name;        /* arena offset of the NUL-terminated name */
	uint32_t target;      /* symlinks: arena offset of the target; else LIMG_NONE */
	uint32_t xattrs;      /* arena offset of the xattr blob; else LIMG_NONE */
	uint16_t name_len;    /* bytes, without the NUL; 1..255 ("" for root) */
	uint32_t mode;        /* st_mode, type bits included */
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;       /* st_nlink on the host (may count links outside the layer) */
	uint32_t rdev_major;
	uint32_t rdev_minor;
	uint64_t size;        /* regular files: bytes; symlinks: target length */
	uint64_t ino;         /* host identity, for hard links and re-open checks */
	uint64_t dev;
	LimgTime mtime;
	LimgTime ctime;       /* re-open check only; never rendered */
} LimgNode;

typedef struct {
	LimgNode *nodes;
	uint32_t n_nodes;
	uint32_t cap;
	LimgArena strings;    /* names, targets, xattr blobs */
	uint64_t data_bytes;  /* sum of regular file sizes (hard links once) */
} LimgTree;

LimgTree *limg_tree_new(void);
void limg_tree_free(LimgTree *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgTree, limg_tree_free)

/*
 * Append a node. @proto supplies every field but name/target/xattrs, which
 * are set to "none" (name is copied from @name/@name_len).
 * Returns 0 and the new index in *idx, or -ENOMEM / -E2BIG (more than
 * 2^32-2 nodes or 4 GiB of strings).
 */
int limg_tree_add(LimgTree *tree, const LimgNode *proto, const char *name,
                  size_t name_len, uint32_t *idx);

/* Set a symlink's target (copied). 0 or -errno. */
int limg_tree_set_target(LimgTree *tree, uint32_t idx, const char *target, size_t len);

/*
 * Set a node's extended attributes from @n parallel arrays (copied).
 * Names are NUL-terminated "namespace.name" strings; values are binary.
 * 0 or -errno.
 */
int limg_tree_set_xattrs(LimgTree *tree, uint32_t idx, size_t n,
                         const char *const *names, const void *const *values,
                         const uint32_t *value_lens);

/* Iterate a node's xattrs: returns false when done. *cursor starts at 0. */
bool limg_tree_xattr_next(const LimgTree *tree, const LimgNode *node, size_t *cursor,
                          const char **name, size_t *name_len,
                          const uint8_t **value, uint32_t *value_len);

static inline const char *
limg_tree_name(const LimgTree *tree, const LimgNode *node)
{
	return limg_arena_at(&tree->strings, node->name);
}

static inline const char *
limg_tree_target(const LimgTree *tree, const LimgNode *node)
{
	return node->target == LIMG_NONE ? NULL : limg_arena_at(&tree->strings, node->target);
}

/* Path of node @idx relative to the root ("" for the root). Caller frees. */
char *limg_tree_path(const LimgTree *tree, uint32_t idx);

/* Done adding: give back spare capacity. */
void limg_tree_seal(LimgTree *tree);

/* Bytes of memory the tree holds (nodes + strings), for reports. */
size_t limg_tree_mem_bytes(const LimgTree *tree);

#endif /* LIMG_TREE_H */
