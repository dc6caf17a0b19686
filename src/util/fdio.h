/*
 * fdio.h - small file-descriptor helpers for the program's own files
 * (images written by render, cache files). Not part of the engine.
 *
 * Thread model: reentrant.
 */
#ifndef LIMG_FDIO_H
#define LIMG_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Write all @len bytes, retrying on EINTR and short writes. 0 or -errno. */
int limg_write_all(int fd, const void *buf, size_t len);

/*
 * pwrite / pread all @len bytes at @off, retrying on EINTR and short
 * transfers. 0 or -errno; a read that meets the end of the file first is
 * -ENODATA.
 */
int limg_pwrite_full(int fd, const void *buf, size_t len, off_t off);
int limg_pread_full(int fd, void *buf, size_t len, off_t off);

#endif /* LIMG_FDIO_H */
