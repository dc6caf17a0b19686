/*
 * source-internal.h - what the sources share (source.c). Not for other
 * modules: they use source.h.
 */
#ifndef LIMG_SOURCE_INTERNAL_H
#define LIMG_SOURCE_INTERNAL_H

#include <stdbool.h>
#include <sys/stat.h>

#include "source/source.h"

/*
 * Is @st still the regular file node @n recorded (type, inode, device,
 * size, mtime and ctime)?
 */
bool limg_source_same_file(const struct stat *st, const LimgNode *n);

/*
 * Check a freshly opened fd (or -errno of the open) against node @n: the
 * fd, or -ESTALE (and the fd closed) when it is not the file laid out.
 * Errors of a path open that mean "not there any more" become -ESTALE.
 */
int limg_source_verify_open(int fd, const LimgNode *n);

#endif /* LIMG_SOURCE_INTERNAL_H */
