/*
 * ecma119.h - on-disk encodings of ECMA-119 (ISO 9660), 2nd edition.
 *
 * Encoders are named after the section that defines them (7.1.1 "711",
 * 7.3.3 "733", ...), as the standard and the BSD cd9660 code name them, so
 * a reader can check each field against the spec table it comes from.
 * Byte offsets of structures are given as ECMA-119 "BP" positions minus
 * one, in the ISO_* constants below.
 *
 * Pure inline helpers: no state, thread-safe.
 */
#ifndef LIMG_ECMA119_H
#define LIMG_ECMA119_H

#include <stdint.h>
#include <string.h>

#define ISO_BLOCK_SIZE      2048u
#define ISO_BLOCK_SHIFT     11
#define ISO_SYSTEM_AREA     16u     /* blocks 0..15 (6.2.1) */
#define ISO_PVD_LBA         16u
#define ISO_TERM_LBA        17u
#define ISO_FIRST_FREE_LBA  18u

/* Directory record (9.1): fixed part is 33 bytes, then the identifier. */
#define ISO_DR_LEN          0   /* 711 */
#define ISO_DR_EXT_ATTR_LEN 1   /* 711 */
#define ISO_DR_EXTENT       2   /* 733 */
#define ISO_DR_SIZE         10  /* 733 */
#define ISO_DR_DATE         18  /* 7 bytes, 9.1.5 */
#define ISO_DR_FLAGS        25  /* 711 */
#define ISO_DR_UNIT_SIZE    26  /* 711 */
#define ISO_DR_GAP          27  /* 711 */
#define ISO_DR_VOL_SEQ      28  /* 723 */
#define ISO_DR_NAME_LEN     32  /* 711 */
#define ISO_DR_NAME         33
#define ISO_DR_FIXED        33
#define ISO_DR_MAX          255

/* File flags (9.1.6). */
#define ISO_FLAG_DIRECTORY  0x02
#define ISO_FLAG_MULTI      0x80  /* not the final record of a file */

/*
 * Largest section of a multi-extent file: a whole number of blocks that
 * fits the 32-bit data length field (ECMA-119 6.5.1 / 9.1.4).
 */
#define ISO_MAX_SECTION     0xFFFFF800ull
#define ISO_MAX_SECTIONS    100   /* cap: readers loop over records */

static inline void put_711(uint8_t *p, uint8_t v) { p[0] = v; }

static inline void
put_721(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static inline void
put_722(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void
put_723(uint8_t *p, uint16_t v)
{
	put_721(p, v);
	put_722(p + 2, v);
}

static inline void
put_731(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static inline void
put_732(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static inline void
put_733(uint8_t *p, uint32_t v)
{
	put_731(p, v);
	put_732(p + 4, v);
}

static inline uint32_t
get_731(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint32_t
get_732(const uint8_t *p)
{
	return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[0] << 24;
}

/* Fill @len bytes with @c (a-/d-character fields are padded with spaces). */
static inline void
put_padded(uint8_t *p, size_t len, const char *s, char pad)
{
	size_t n = s ? strlen(s) : 0;

	if (n > len)
		n = len;
	if (n)
		memcpy(p, s, n);
	memset(p + n, pad, len - n);
}

static inline uint32_t
iso_blocks(uint64_t bytes)
{
	return (uint32_t)((bytes + ISO_BLOCK_SIZE - 1) >> ISO_BLOCK_SHIFT);
}

#endif /* LIMG_ECMA119_H */
