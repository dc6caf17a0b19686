/*
 * search.h - the one binary search of the project: lower bound over a
 * sorted array of structs by one of their uint32_t fields.
 *
 * Every sorted table of the layout (directories by LBA, continuation
 * areas by record and by LBA, file extents by LBA) is searched through
 * this helper, so the boundary rule is written once:
 *
 *   limg_lower_bound_u32(base, n, stride, field, key)
 *       = the first index i in [0, n) whose field is >= key, or n.
 *
 * An "upper bound" (the first field > key) is the lower bound of key + 1;
 * @key is 64-bit so that key + 1 never wraps.
 *
 * Thread model: pure function.
 */
#ifndef LIMG_SEARCH_H
#define LIMG_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline size_t
limg_lower_bound_u32(const void *base, size_t n, size_t stride, size_t field, uint64_t key)
{
	const unsigned char *p = base;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v;

		memcpy(&v, p + mid * stride + field, sizeof(v));
		if (v < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Lower bound of @key over the uint32_t @member of the @n structs at @arr. */
#define LIMG_LOWER_BOUND(arr, n, member, key) \
	limg_lower_bound_u32((arr), (n), sizeof(*(arr)), offsetof(__typeof__(*(arr)), member), (key))

#endif /* LIMG_SEARCH_H */
