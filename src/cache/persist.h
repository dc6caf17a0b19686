/*
 * persist.h - the on-disk cache of laid-out layers.
 *
 * One file per layer, <cache_dir>/<sha256 of the source key>.tree,
 * holding the layer's node tree (what a scan produces, as the image
 * shows it: normalised, overlay.h), the layout's hints (format.h: the
 * costly part of laying it out again; the rest is recomputed) and a
 * head: bytes the caller may use before the tree is read (the image
 * service keeps there the image's first bytes; opaque here, stored
 * compressed). A file carries a format version, the source's identity
 * (source.h: the key, e.g. the layer directory's path, and the
 * fingerprint, e.g. its device, inode, mtime and ctime), a checksum of
 * its head and an XXH3-128 checksum over all of it. A file that is
 * missing, from another format, for another key or fingerprint,
 * truncated or corrupt is rejected (and removed), never used.
 *
 * Two steps, for a caller that serves the head at once:
 * limg_persist_open() checks the identity and the head (one read of the
 * file's first bytes), limg_persist_read_tree() reads and checks the
 * rest, later, from the same open file (so a file evicted or replaced
 * meanwhile still gives what was opened).
 *
 * Files are written to a temporary name (<file>.tmp.XXXXXX) and renamed
 * into place, so a crash leaves either the old file or the new one. A
 * load that succeeds touches the file (util/touch.h): the cache
 * directory's budget (budget.h) evicts the least recently used.
 *
 * Thread model: reentrant; concurrent saves of one layer are harmless
 * (last rename wins, both are complete).
 */
#ifndef LIMG_PERSIST_H
#define LIMG_PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "source/source.h"
#include "tree/tree.h"

#define LIMG_PERSIST_VERSION 3

/*
 * Save @tree for source identity @id under @dir. Returns 0, or -errno
 * (the cache directory is full, read-only, ...): callers degrade to
 * memory only.
 */
int limg_persist_save(const char *dir, const LimgSourceId *id, const LimgTree *tree,
                      uint64_t *bytes_written);

/*
 * The same, with @layout (NULL: none) kept beside the tree: the format's
 * hints for laying out this tree again (format.h), opaque to the cache;
 * and @head (NULL: none; left out if over 4 MiB, or if stored it would
 * take more than an eighth of the rest of the file).
 */
int limg_persist_save_layout(const char *dir, const LimgSourceId *id, const LimgTree *tree,
                             GBytes *layout, GBytes *head, uint64_t *bytes_written);

/*
 * Load the tree saved for @id. Returns 0 and a new tree (caller frees),
 * -ENOENT when there is no file, -ESTALE when the file is for another
 * key or fingerprint, -EBADMSG when it is truncated, corrupt, of another
 * format version or not a valid tree (stale and bad files are removed),
 * -EIO when it cannot be opened (permissions, I/O errors).
 */
int limg_persist_load(const char *dir, const LimgSourceId *id, LimgTree **out);

/* The same, and in *layout (when not NULL) the hints kept beside it, or NULL. */
int limg_persist_load_layout(const char *dir, const LimgSourceId *id, LimgTree **out,
                             GBytes **layout);

typedef struct LimgPersistFile LimgPersistFile;

/*
 * Open the file saved for @id and check its identity and its head (not
 * the rest). 0, the open file in *out and its head in *head (when not
 * NULL; NULL if the file has none), or the errors of limg_persist_load()
 * (-EBADMSG also for a head that fails its checksum or does not
 * decompress).
 */
int limg_persist_open(const char *dir, const LimgSourceId *id, LimgPersistFile **out,
                      GBytes **head);

/*
 * The rest of file @pf: its tree (and *layout, as limg_persist_load_layout()),
 * the whole file's checksum and the tree's invariant checked. 0, or
 * -EBADMSG (the file is removed: unless it was replaced meanwhile),
 * -ENOMEM, -EINVAL if called twice. Touches the file (budget.h).
 */
int limg_persist_read_tree(LimgPersistFile *pf, LimgTree **out, GBytes **layout);

/*
 * Whether @pf was written by a writer that kept no heads (an older
 * version): without a head, and without the record of a writer that
 * would have kept one had it been worth it.
 */
bool limg_persist_headless_writer(const LimgPersistFile *pf);

void limg_persist_close(LimgPersistFile *pf);

/*
 * Remove the files of source key @key, if any: its tree and the spool a
 * tar source keeps beside it (<same hash>.spool, source.h).
 */
void limg_persist_remove(const char *dir, const char *key);

/* Bytes of all cache files in @dir. */
uint64_t limg_persist_dir_bytes(const char *dir);

#endif /* LIMG_PERSIST_H */
