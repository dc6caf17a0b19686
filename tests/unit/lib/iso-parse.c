/*
 * iso-parse.c - small ECMA-119 and SUSP/RRIP parsers for assertions,
 * written from the standards; they never call the engine's encoders. See
 * testlib.h.
 */
#include <config.h>

#include "lib/testlib.h"

/* 7.2.3: both-byte orders; the two halves must agree. */
uint16_t
rd_723(const uint8_t *p)
{
	cr_expect_eq(rd_721(p), rd_722(p + 2), "723 halves differ: %u vs %u", rd_721(p), rd_722(p + 2));
	return rd_721(p);
}

/* 7.3.3: both-byte orders; the two halves must agree. */
uint32_t
rd_733(const uint8_t *p)
{
	cr_expect_eq(rd_731(p), rd_732(p + 4), "733 halves differ: %u vs %u", rd_731(p), rd_732(p + 4));
	return rd_731(p);
}


void
parse_dr(const uint8_t *p, uint64_t pos, DirRec *r)
{
	memset(r, 0, sizeof(*r));
	r->pos = pos;
	r->len = p[0];
	cr_assert_geq(r->len, 34, "record at %" PRIu64 " too short: %u", pos, r->len);
	cr_expect_eq(p[1], 0, "extended attribute record length");
	r->extent = rd_733(p + 2);
	r->size = rd_733(p + 10);
	r->date = p + 18;
	r->flags = p[25];
	cr_expect_eq(p[26], 0, "file unit size");
	cr_expect_eq(p[27], 0, "interleave gap");
	cr_expect_eq(rd_723(p + 28), 1, "volume sequence number");
	r->id_len = p[32];
	r->id = p + 33;
	{
		uint32_t su = 33 + r->id_len + ((r->id_len & 1) ? 0 : 1);

		cr_assert_leq(su, r->len, "identifier overruns record at %" PRIu64, pos);
		r->su = p + su;
		r->su_len = r->len - su;
	}
}

/*
 * All records of the directory whose extent is @lba, @size bytes, in
 * order. Asserts 6.8.1.1: no record crosses a block; the rest of a block
 * after its last record is zero.
 */
GArray *
read_dir(const uint8_t *img, size_t img_size, uint32_t lba, uint32_t size)
{
	GArray *recs = g_array_new(FALSE, FALSE, sizeof(DirRec));

	cr_assert_eq(size % 2048, 0, "directory size %u not whole blocks", size);
	cr_assert_leq((uint64_t)lba * 2048 + size, img_size, "directory outside the image");
	for (uint32_t b = 0; b < size / 2048; b++) {
		const uint8_t *blk = img + (uint64_t)(lba + b) * 2048;
		uint32_t off = 0;

		while (off < 2048 && blk[off] != 0) {
			DirRec r;

			cr_assert_leq(off + blk[off], 2048, "record at block %u+%u crosses the block",
			              lba + b, off);
			parse_dr(blk + off, (uint64_t)(lba + b) * 2048 + off, &r);
			g_array_append_val(recs, r);
			off += blk[off];
		}
		for (uint32_t i = off; i < 2048; i++)
			cr_assert_eq(blk[i], 0, "garbage after the last record of block %u", lba + b);
	}
	return recs;
}

/* ------------------------------------------------------------ SUSP */



/*
 * Collect the SUSP entries of record @r, following CE entries (SUSP 5.1)
 * through the image. CE entries are checked (inside the image, inside one
 * block, both-endian fields, area made of whole entries) and not returned;
 * the areas they point at are appended to @areas when it is not NULL.
 */
GArray *
susp_entries_ex(const uint8_t *img, size_t img_size, const DirRec *r, GArray *areas)
{
	GArray *out = g_array_new(FALSE, FALSE, sizeof(SuspEnt));
	const uint8_t *area = r->su;
	uint64_t area_pos = r->pos + (uint64_t)(r->su - (img + r->pos));
	uint32_t area_len = r->su_len;
	int hops = 0;

	for (;;) {
		uint32_t off = 0;
		const uint8_t *ce = NULL;

		while (off + 4 <= area_len) {
			SuspEnt e = { area + off, area[off + 2], area_pos + off };

			if (area[off] == 0 && e.len == 0)
				break;   /* padding */
			cr_assert_geq(e.len, 4, "SUSP entry at %" PRIu64 " shorter than 4", e.pos);
			cr_assert_leq(off + e.len, area_len, "SUSP entry at %" PRIu64 " overruns its area",
			              e.pos);
			cr_expect_eq(e.p[3], 1, "SUSP entry %c%c version", e.p[0], e.p[1]);
			if (e.p[0] == 'C' && e.p[1] == 'E') {
				cr_expect_eq(e.len, 28, "CE length");
				cr_expect(ce == NULL, "two CE entries in one area");
				ce = e.p;
			} else {
				g_array_append_val(out, e);
			}
			off += e.len;
		}
		/* Only the pad byte of an odd-length record may remain. */
		cr_expect_leq(area_len - off, 1, "unparsed bytes after SUSP entries at %" PRIu64,
		              area_pos);
		if (!ce)
			break;
		{
			uint32_t blk = rd_733(ce + 4), coff = rd_733(ce + 12), clen = rd_733(ce + 20);

			cr_assert_lt(coff, 2048, "CE offset %u outside the block", coff);
			cr_assert_leq(coff + clen, 2048, "CE area %u+%u crosses a block", coff, clen);
			cr_assert_gt(clen, 0, "empty CE area");
			cr_assert_leq((uint64_t)blk * 2048 + coff + clen, img_size, "CE area outside the image");
			cr_assert_geq(blk, 18, "CE area in the system area or volume descriptors");
			area = img + (uint64_t)blk * 2048 + coff;
			area_pos = (uint64_t)blk * 2048 + coff;
			area_len = clen;
			if (areas) {
				CeArea a = { area_pos, clen };

				g_array_append_val(areas, a);
			}
		}
		cr_assert_lt(++hops, 64, "CE chain too long");
	}
	return out;
}

GArray *
susp_entries(const uint8_t *img, size_t img_size, const DirRec *r)
{
	return susp_entries_ex(img, img_size, r, NULL);
}

/* First entry with signature @sig, or NULL. */
const SuspEnt *
susp_find(GArray *ents, const char *sig)
{
	for (guint i = 0; i < ents->len; i++) {
		const SuspEnt *e = &g_array_index(ents, SuspEnt, i);

		if (e->p[0] == (uint8_t)sig[0] && e->p[1] == (uint8_t)sig[1])
			return e;
	}
	return NULL;
}

/* The Rock Ridge name (NM entries, RRIP 4.1.4) of a record's entries. Caller frees. */
char *
susp_nm(GArray *ents, size_t *len)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < ents->len; i++) {
		const SuspEnt *e = &g_array_index(ents, SuspEnt, i);

		if (e->p[0] == 'N' && e->p[1] == 'M')
			g_string_append_len(s, (const char *)e->p + 5, e->len - 5);
	}
	if (len)
		*len = s->len;
	return g_string_free(s, FALSE);
}

/*
 * Decode the components of SL entries (RRIP 4.1.3) as Linux does: the
 * components of all SL entries form one sequence; ROOT gives "/", CURRENT
 * ".", PARENT ".."; a '/' separates a component from the next unless it
 * is ROOT or has its CONTINUE flag. Caller frees.
 */
char *
sl_decode(const uint8_t *const *entries, size_t n, size_t *len)
{
	GString *s = g_string_new(NULL);
	bool sep = false;   /* a '/' is owed before the next component */

	for (size_t k = 0; k < n; k++) {
		const uint8_t *e = entries[k];
		uint32_t elen = e[2], off = 5;

		while (off + 2 <= elen) {
			uint8_t flags = e[off], clen = e[off + 1];

			cr_assert_leq(off + 2 + clen, elen, "SL component overruns its entry");
			if (sep)
				g_string_append_c(s, '/');
			sep = true;
			switch (flags & ~1) {
			case 0:
				g_string_append_len(s, (const char *)e + off + 2, clen);
				break;
			case 2:
				cr_expect_eq(clen, 0, "CURRENT component with text");
				g_string_append_c(s, '.');
				break;
			case 4:
				cr_expect_eq(clen, 0, "PARENT component with text");
				g_string_append(s, "..");
				break;
			case 8:
				cr_expect_eq(clen, 0, "ROOT component with text");
				g_string_append_c(s, '/');
				sep = false;
				break;
			default:
				cr_expect_fail("unexpected SL component flags 0x%02x", flags);
			}
			if (flags & 1)
				sep = false;
			off += 2 + clen;
		}
		cr_expect_eq(off, elen, "trailing bytes in an SL entry");
	}
	if (len)
		*len = s->len;
	return g_string_free(s, FALSE);
}
