/*
 * fdio.h - small file-descriptor helpers for the program's own files
 * (images written by render, cache files). Not part of the engine.
 *
 * Thread model: reentrant.
 */
#ifndef LIMG_FDIO_H
#define LIMG_FDIO_H

#include <stddef.h>

/* Write all @len bytes, retrying on EINTR and short writes. 0 or -errno. */
int limg_write_all(int fd, const void *buf, size_t len);

#endif /* LIMG_FDIO_H */
