/*
 * source.c - what every source shares; see source.h.
 */
#include <config.h>

#include <unistd.h>

#include "source/source.h"

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
