/*
 * persist.h - the on-disk cache of laid-out layers.
 *
 * One file per layer, <cache_dir>/<sha256 of the layer path>.tree, holding
 * the layer's node tree (what a walk produces; the layout is recomputed
 * from it in memory, which is cheap and deterministic). A file carries a
 * format version, the layer's identity (path, device, inode) and
 * fingerprint (mtime and ctime of the layer directory), and a SHA-256 over
 * all of it. A file that is missing, from another format, for another
 * layer identity or fingerprint, truncated or corrupt is rejected (and
 * removed), never used.
 *
 * Files are written to a temporary name and renamed into place, so a
 * crash leaves either the old file or the new one.
 *
 * Thread model: reentrant; concurrent saves of one layer are harmless
 * (last rename wins, both are complete).
 */
#ifndef LIMG_PERSIST_H
#define LIMG_PERSIST_H

#include <stdint.h>

#include "tree/tree.h"

#define LIMG_PERSIST_VERSION 1

typedef struct {
	const char *path;       /* canonical layer directory path */
	uint64_t dev;
	uint64_t ino;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
} LimgPersistKey;

/* Fill @key from an open layer root fd and its path (borrowed). */
int limg_persist_key_from_fd(LimgPersistKey *key, const char *path, int fd);

/*
 * Save @tree under @dir. Returns 0, or -errno (the cache directory is
 * full, read-only, ...): callers degrade to memory only.
 */
int limg_persist_save(const char *dir, const LimgPersistKey *key, const LimgTree *tree,
                      uint64_t *bytes_written);

/*
 * Load the tree saved for @key. Returns 0 and a new tree (caller frees),
 * -ENOENT when there is no file, -ESTALE when the file is for another
 * identity or fingerprint, -EBADMSG when it is truncated, corrupt or of
 * another format version (stale and bad files are removed).
 */
int limg_persist_load(const char *dir, const LimgPersistKey *key, LimgTree **out);

/* Remove the file of the layer at @path, if any. */
void limg_persist_remove(const char *dir, const char *path);

/* Bytes of all cache files in @dir. */
uint64_t limg_persist_dir_bytes(const char *dir);

#endif /* LIMG_PERSIST_H */
