/*
 * arena.c - append-only byte store; see arena.h.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

int
limg_arena_append(LimgArena *a, const void *data, size_t len, uint32_t *off)
{
	size_t need = a->len + len + 1;

	if (need < a->len || need > UINT32_MAX)
		return -E2BIG;
	if (need > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		uint8_t *nb;

		while (cap < need)
			cap *= 2;
		if (cap > (size_t)UINT32_MAX + 1)
			cap = (size_t)UINT32_MAX + 1;
		nb = realloc(a->buf, cap);
		if (!nb)
			return -ENOMEM;
		a->buf = nb;
		a->cap = cap;
	}
	if (len)
		memcpy(a->buf + a->len, data, len);
	a->buf[a->len + len] = 0;
	*off = (uint32_t)a->len;
	a->len = need;
	return 0;
}

void
limg_arena_trim(LimgArena *a)
{
	uint8_t *nb;

	if (a->len == a->cap || a->len == 0)
		return;
	nb = realloc(a->buf, a->len);
	if (nb) {
		a->buf = nb;
		a->cap = a->len;
	}
}

void
limg_arena_release(LimgArena *a)
{
	free(a->buf);
	a->buf = NULL;
	a->len = a->cap = 0;
}
