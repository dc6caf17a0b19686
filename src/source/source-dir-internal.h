/*
 * source-dir-internal.h - the directory source's parts, shared by
 * source-dir.c (the walks) and source-dir-open.c (the source object: safe
 * opening of contents, the parent-directory memo, verification). Not for
 * other modules: they use source.h.
 *
 * How a directory layer is read safely:
 *  - the walk uses openat()/fstatat() relative to directory fds, never
 *    paths, and never follows a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW);
 *  - it opens nothing but directories (no file data is read, no FIFO,
 *    socket or device is ever opened);
 *  - a regular file's content is opened only beneath the layer root
 *    (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, falling back to
 *    O_NOFOLLOW per component), with O_NONBLOCK so a FIFO swapped in
 *    cannot hang us, and its type and identity are checked after open.
 */
#ifndef LIMG_SOURCE_DIR_INTERNAL_H
#define LIMG_SOURCE_DIR_INTERNAL_H

#include "source/source.h"

/*
 * Walk the layer whose root directory is open as @root_fd (borrowed) and
 * build its tree; the contract of LimgSourceOps.scan.
 */
int limg_dir_scan(int root_fd, const LimgScanOptions *opts, LimgReport *report, LimgTree **out,
                  uint64_t *skipped);

#endif /* LIMG_SOURCE_DIR_INTERNAL_H */
