/*
 * fdio.c - file-descriptor helpers; see fdio.h.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "util/fdio.h"

int
limg_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}
