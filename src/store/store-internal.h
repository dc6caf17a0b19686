/*
 * store-internal.h - what the store backends share (store.c). Not for
 * other modules.
 */
#ifndef LIMG_STORE_INTERNAL_H
#define LIMG_STORE_INTERNAL_H

#include <sys/stat.h>

#include "store/store.h"

/*
 * lstat @path (relative to SOURCE, open as @dir_fd). 0 if it is a real
 * directory; -ELOOP for a symlink (refused, logged once per path);
 * -ENOTDIR, or the stat's -errno.
 */
int limg_store_stat_dir(const char *source, int dir_fd, const char *path, struct stat *st);

/* A complete DIR layer record for @source/@rel, from its stat @st. */
LimgLayerInfo *limg_store_dir_layer(const char *source, const char *id, const char *rel,
                                    const struct stat *st);

#endif /* LIMG_STORE_INTERNAL_H */
