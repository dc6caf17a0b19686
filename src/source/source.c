/*
 * source.c - what every source shares; see source.h.
 */
#include <config.h>

#include <errno.h>
#include <unistd.h>

#include "source/source-internal.h"

void
limg_source_free(LimgSource *src)
{
	if (src)
		src->ops->free(src);
}

void
limg_source_id_clear(LimgSourceId *id)
{
	g_clear_pointer(&id->key, g_free);
	g_clear_pointer(&id->fingerprint, g_bytes_unref);
}

void
limg_content_release(LimgContent *c)
{
	if (c->owned && c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->owned = false;
}

bool
limg_source_same_file(const struct stat *st, const LimgNode *n)
{
	return S_ISREG(st->st_mode) && st->st_ino == n->ino && st->st_dev == n->dev &&
	       (uint64_t)st->st_size == n->size && st->st_mtim.tv_sec == n->mtime.sec &&
	       (uint32_t)st->st_mtim.tv_nsec == n->mtime.nsec && st->st_ctim.tv_sec == n->ctime.sec &&
	       (uint32_t)st->st_ctim.tv_nsec == n->ctime.nsec;
}

int
limg_source_verify_open(int fd, const LimgNode *n)
{
	struct stat st;

	if (fd < 0)
		return fd == -ELOOP || fd == -EXDEV || fd == -ENOENT || fd == -ENOTDIR ? -ESTALE : fd;
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (!limg_source_same_file(&st, n)) {
		close(fd);
		return -ESTALE;
	}
	/*
	 * A regular file: O_NONBLOCK (which kept a swapped-in FIFO from
	 * hanging the open) has no effect on its reads, so it stays.
	 */
	return fd;
}
