/*
 * fnv.h - FNV-1a, 64 bits: a small, stable hash for names and digests
 * that must come out the same in every process and every build (file
 * handles that outlive a worker, kernel inode generations). Not for
 * hostile keys.
 */
#ifndef LIMG_FNV_H
#define LIMG_FNV_H

#include <stddef.h>
#include <stdint.h>

#define LIMG_FNV_INIT 0xcbf29ce484222325ull

static inline uint64_t
limg_fnv_mix(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Mix the bytes of an lvalue. */
#define LIMG_FNV_MIX(h, v) ((h) = limg_fnv_mix((h), &(v), sizeof(v)))

#endif /* LIMG_FNV_H */
