/*
 * arena.h - append-only byte store addressed by 32-bit offsets.
 *
 * Names, symlink targets and xattr blobs of a tree live here, so a node
 * carries a 4-byte offset instead of an 8-byte pointer plus a malloc
 * header. Offsets stay valid for the arena's life; pointers returned by
 * limg_arena_at() are valid only until the next append.
 *
 * Thread model: caller serialises appends; after the last append the
 * arena is immutable and may be read from any thread.
 */
#ifndef LIMG_ARENA_H
#define LIMG_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *buf;
	size_t len;
	size_t cap;
} LimgArena;

#define LIMG_ARENA_INIT { NULL, 0, 0 }

/*
 * Append @len bytes of @data followed by a NUL byte.
 * Returns 0 and the offset of the copy in *off, -ENOMEM, or -E2BIG when
 * the arena would pass 4 GiB.
 */
int limg_arena_append(LimgArena *a, const void *data, size_t len, uint32_t *off);

static inline const char *
limg_arena_at(const LimgArena *a, uint32_t off)
{
	return (const char *)a->buf + off;
}

/* Give back unused capacity once the arena is complete. */
void limg_arena_trim(LimgArena *a);

/* Free the storage; the arena is empty and reusable afterwards. */
void limg_arena_release(LimgArena *a);

#endif /* LIMG_ARENA_H */
