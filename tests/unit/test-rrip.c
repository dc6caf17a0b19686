/*
 * test-rrip.c - SUSP 1.12 and RRIP 1.12 entries (rrip.h), against the
 * entry layouts of SUSP section 5 and RRIP section 4, and the date forms
 * of ECMA-119 8.4.26.1 and 9.1.5.
 */
#include <config.h>

#include "iso/rrip.h"
#include "lib/testlib.h"

static LimgSusp s;

static void
setup(void)
{
	limg_susp_init(&s);
}

static void
teardown(void)
{
	limg_susp_release(&s);
}

TestSuite(rrip, .init = setup, .fini = teardown);

/* Entry @i of @s: start pointer and length, checked against ends[]. */
static const uint8_t *
entry(uint32_t i, uint32_t *len)
{
	uint32_t start = i ? s.ends[i - 1] : 0;

	cr_assert_lt(i, s.n);
	*len = s.ends[i] - start;
	cr_assert_eq(s.buf[start + 2], *len, "entry %u: length byte %u, size %u", i,
	             s.buf[start + 2], *len);
	cr_assert_eq(s.buf[start + 3], 1, "entry %u: version", i);
	return s.buf + start;
}

/* 7.3.3 both-endian value at @p. */
static uint32_t
both32(const uint8_t *p)
{
	uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	              (uint32_t)p[3] << 24;
	uint32_t be = (uint32_t)p[7] | (uint32_t)p[6] << 8 | (uint32_t)p[5] << 16 |
	              (uint32_t)p[4] << 24;

	cr_expect_eq(le, be, "little-endian 0x%x, big-endian 0x%x", le, be);
	return le;
}

/* ------------------------------------------------------------ SP, ER */

Test(rrip, sp_entry_bytes)
{
	static const uint8_t want[7] = { 'S', 'P', 7, 1, 0xBE, 0xEF, 0 };
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_susp_sp(&s), 0);
	cr_assert_eq(s.n, 1);
	p = entry(0, &len);
	cr_expect_eq(len, 7);
	cr_expect_arr_eq(p, want, 7);
}

Test(rrip, er_entry_is_237_bytes_with_rrip_1991a)
{
	static const char desc[] =
		"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_susp_er(&s), 0);
	p = entry(0, &len);
	cr_expect_eq(len, 237);
	cr_expect_eq(p[0], 'E');
	cr_expect_eq(p[1], 'R');
	/* SUSP 5.5: LEN_ID, LEN_DES, LEN_SRC, EXT_VER, then the three strings. */
	cr_expect_eq(p[4], 10);
	cr_expect_eq(p[5], sizeof(desc) - 1);
	cr_expect_eq(8 + p[4] + p[5] + p[6], len, "lengths add up to the entry");
	cr_expect_eq(p[7], 1, "extension version");
	cr_expect_arr_eq(p + 8, "RRIP_1991A", 10);
	cr_expect_arr_eq(p + 18, desc, sizeof(desc) - 1);
}

/* ------------------------------------------------------------ PX, PN, TF */

Test(rrip, px_entry_is_44_bytes)
{
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_px(&s, S_IFREG | 04755, 3, 100000, 0x12345678, 77), 0);
	p = entry(0, &len);
	cr_expect_eq(len, 44);
	cr_expect_arr_eq(p, "PX", 2);
	/* RRIP 4.1.1: mode 5..12, links 13..20, uid 21..28, gid 29..36, serial 37..44 (BP). */
	cr_expect_eq(both32(p + 4), S_IFREG | 04755);
	cr_expect_eq(both32(p + 12), 3);
	cr_expect_eq(both32(p + 20), 100000);
	cr_expect_eq(both32(p + 28), 0x12345678);
	cr_expect_eq(both32(p + 36), 77);
	/* Spot-check the byte order itself. */
	cr_expect_eq(p[28], 0x78);
	cr_expect_eq(p[35], 0x78);
}

Test(rrip, pn_entry_is_20_bytes)
{
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_pn(&s, 0x1000, 0x10010300), 0);
	p = entry(0, &len);
	cr_expect_eq(len, 20);
	cr_expect_arr_eq(p, "PN", 2);
	cr_expect_eq(both32(p + 4), 0x1000);
	cr_expect_eq(both32(p + 12), 0x10010300);
}

Test(rrip, tf_entry_is_26_bytes_with_flags_0x0e)
{
	static const uint8_t date[7] = { 101, 9, 9, 1, 46, 40, 0 };
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_tf(&s, date), 0);
	p = entry(0, &len);
	cr_expect_eq(len, 26);
	cr_expect_arr_eq(p, "TF", 2);
	/* RRIP 4.1.6: MODIFY 0x02 | ACCESS 0x04 | ATTRIBUTES 0x08, 7-byte form (bit 7 clear). */
	cr_expect_eq(p[4], 0x0E);
	cr_expect_arr_eq(p + 5, date, 7);
	cr_expect_arr_eq(p + 12, date, 7);
	cr_expect_arr_eq(p + 19, date, 7);
}

Test(rrip, entries_are_appended_in_order)
{
	static const uint8_t date[7] = { 70, 1, 1, 0, 0, 0, 0 };

	cr_assert_eq(limg_susp_sp(&s), 0);
	cr_assert_eq(limg_rrip_px(&s, S_IFDIR | 0755, 2, 0, 0, 1), 0);
	cr_assert_eq(limg_rrip_tf(&s, date), 0);
	cr_assert_eq(limg_susp_er(&s), 0);
	cr_expect_eq(s.n, 4);
	cr_expect_eq(s.ends[0], 7);
	cr_expect_eq(s.ends[1], 7 + 44);
	cr_expect_eq(s.ends[2], 7 + 44 + 26);
	cr_expect_eq(s.ends[3], 7 + 44 + 26 + 237);
	cr_expect_eq(s.len, 314);
	limg_susp_reset(&s);
	cr_expect_eq(s.n, 0);
	cr_expect_eq(s.len, 0);
}

/* ------------------------------------------------------------ NM */

Test(rrip, nm_short_name_is_one_entry)
{
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_nm(&s, "hello.txt", 9), 0);
	cr_assert_eq(s.n, 1);
	p = entry(0, &len);
	cr_expect_eq(len, 5 + 9);
	cr_expect_arr_eq(p, "NM", 2);
	cr_expect_eq(p[4], 0, "flags");
	cr_expect_arr_eq(p + 5, "hello.txt", 9);
}

Test(rrip, nm_250_bytes_fit_one_entry)
{
	char name[250];
	const uint8_t *p;
	uint32_t len;

	memset(name, 'n', sizeof(name));
	cr_assert_eq(limg_rrip_nm(&s, name, sizeof(name)), 0);
	cr_expect_eq(s.n, 1);
	p = entry(0, &len);
	cr_expect_eq(len, 255);
	cr_expect_eq(p[4], 0);
}

Test(rrip, nm_splits_at_250_bytes_with_continue)
{
	char name[255];
	const uint8_t *p, *q;
	uint32_t len, len2;

	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = (char)('a' + i % 26);
	cr_assert_eq(limg_rrip_nm(&s, name, sizeof(name)), 0);
	cr_assert_eq(s.n, 2);
	p = entry(0, &len);
	q = entry(1, &len2);
	cr_expect_eq(len, 255);
	cr_expect_eq(p[4], 0x01, "CONTINUE on the first part");
	cr_expect_arr_eq(p + 5, name, 250);
	cr_expect_eq(len2, 5 + 5);
	cr_expect_eq(q[4], 0, "no CONTINUE on the last part");
	cr_expect_arr_eq(q + 5, name + 250, 5);
}

Test(rrip, nm_keeps_raw_bytes)
{
	static const char name[] = "\xff\x01 a;1.B";
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_nm(&s, name, sizeof(name) - 1), 0);
	p = entry(0, &len);
	cr_expect_arr_eq(p + 5, name, sizeof(name) - 1);
}

/* ------------------------------------------------------------ SL */

/* All entries of @s, which must all be SL. */
static GPtrArray *
sl_entries(void)
{
	GPtrArray *a = g_ptr_array_new();

	for (uint32_t i = 0; i < s.n; i++) {
		uint32_t len;
		const uint8_t *p = entry(i, &len);

		cr_assert(p[0] == 'S' && p[1] == 'L', "entry %u is not SL", i);
		g_ptr_array_add(a, (gpointer)p);
	}
	return a;
}

/* Decode as Linux does (helpers.h); caller frees. */
static char *
decode_linux(size_t *len)
{
	GPtrArray *a = sl_entries();
	char *r = sl_decode((const uint8_t *const *)a->pdata, a->len, len);

	g_ptr_array_free(a, TRUE);
	return r;
}

/*
 * Decode as libarchive's parse_rockridge_SL1() does: the separator state
 * starts afresh in every SL entry, so a '/' owed across an entry boundary
 * is lost unless the last component of the entry had CONTINUE.
 */
static char *
decode_restarting(void)
{
	GString *out = g_string_new(NULL);

	for (uint32_t i = 0; i < s.n; i++) {
		uint32_t len, off = 5;
		const uint8_t *p = entry(i, &len);
		const char *sep = "";

		while (off + 2 <= len) {
			uint8_t f = p[off], n = p[off + 1];

			g_string_append(out, sep);
			sep = "/";
			if ((f & ~1) == 0)
				g_string_append_len(out, (const char *)p + off + 2, n);
			else if (f == 2)
				g_string_append_c(out, '.');
			else if (f == 4)
				g_string_append(out, "..");
			else if (f == 8)
				g_string_append_c(out, '/');
			if (f & 9)
				sep = "";
			off += 2 + n;
		}
	}
	return g_string_free(out, FALSE);
}

static void
expect_sl_roundtrip(const char *target, size_t tlen)
{
	size_t n;
	g_autofree char *back = NULL;

	limg_susp_reset(&s);
	cr_assert_eq(limg_rrip_sl(&s, target, tlen), 0);
	back = decode_linux(&n);
	cr_expect(n == tlen && memcmp(back, target, n) == 0, "\"%.60s\"... (%zu bytes) read back as "
	          "\"%.60s\"... (%zu bytes)", target, tlen, back, n);
}

/*
 * Entry structure of a multi-entry SL: every entry at most 255 bytes,
 * CONTINUE (flag 1) on all but the last, and, when @inside_text, the
 * last component of every non-final entry continued (the boundary falls
 * inside a text component).
 */
static void
expect_sl_entries_well_formed(bool inside_text)
{
	for (uint32_t i = 0; i < s.n; i++) {
		uint32_t len, off = 5, last = 0;
		const uint8_t *p = entry(i, &len);

		cr_expect_leq(len, 255);
		cr_expect_eq(p[4], i + 1 < s.n ? 1 : 0, "SL entry %u of %u: flags 0x%02x", i, s.n, p[4]);
		while (off + 2 <= len) {
			last = off;
			off += 2 + p[off + 1];
		}
		cr_expect_eq(off, len, "SL entry %u: components do not fill it", i);
		if (inside_text && i + 1 < s.n)
			cr_expect_eq(p[last], 0x01, "SL entry %u of %u ends with component flags 0x%02x, "
			             "not inside a continued text component", i, s.n, p[last]);
	}
}

Test(rrip, sl_absolute_target)
{
	static const uint8_t want[] = {
		'S', 'L', 20, 1, 0,
		0x08, 0,
		0x00, 3, 'e', 't', 'c',
		0x00, 6, 'p', 'a', 's', 's', 'w', 'd',
	};
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_sl(&s, "/etc/passwd", 11), 0);
	cr_assert_eq(s.n, 1);
	p = entry(0, &len);
	cr_expect_eq(len, sizeof(want));
	cr_expect_arr_eq(p, want, sizeof(want));
}

Test(rrip, sl_root_alone)
{
	static const uint8_t want[] = { 'S', 'L', 7, 1, 0, 0x08, 0 };
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_sl(&s, "/", 1), 0);
	cr_assert_eq(s.n, 1);
	p = entry(0, &len);
	cr_expect_eq(len, sizeof(want));
	cr_expect_arr_eq(p, want, sizeof(want));
}

Test(rrip, sl_relative_with_current_and_parent)
{
	static const uint8_t want[] = {
		'S', 'L', 15, 1, 0,
		0x02, 0,
		0x00, 1, 'a',
		0x04, 0,
		0x00, 1, 'b',
	};
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_sl(&s, "./a/../b", 8), 0);
	cr_assert_eq(s.n, 1);
	p = entry(0, &len);
	cr_expect_eq(len, sizeof(want));
	cr_expect_arr_eq(p, want, sizeof(want));
}

Test(rrip, sl_dot_names_that_are_not_dot_or_dotdot_are_text)
{
	static const uint8_t want[] = {
		'S', 'L', 14, 1, 0,
		0x00, 3, '.', '.', '.',
		0x00, 2, '.', 'x',
	};
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_sl(&s, ".../.x", 6), 0);
	p = entry(0, &len);
	cr_expect_eq(len, sizeof(want));
	cr_expect_arr_eq(p, want, sizeof(want));
}

Test(rrip, sl_trailing_slash_is_an_empty_final_component)
{
	static const uint8_t want[] = {
		'S', 'L', 10, 1, 0,
		0x00, 1, 'a',
		0x00, 0,
	};
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_sl(&s, "a/", 2), 0);
	p = entry(0, &len);
	cr_expect_eq(len, sizeof(want));
	cr_expect_arr_eq(p, want, sizeof(want));
	expect_sl_roundtrip("a/", 2);
}

Test(rrip, sl_double_slash_is_an_empty_component)
{
	static const uint8_t want[] = {
		'S', 'L', 13, 1, 0,
		0x00, 1, 'a',
		0x00, 0,
		0x00, 1, 'b',
	};
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(limg_rrip_sl(&s, "a//b", 4), 0);
	p = entry(0, &len);
	cr_expect_eq(len, sizeof(want));
	cr_expect_arr_eq(p, want, sizeof(want));
	expect_sl_roundtrip("//", 2);
	expect_sl_roundtrip("//a", 3);
	expect_sl_roundtrip("a//", 3);
}

Test(rrip, sl_short_targets_round_trip)
{
	static const char *const targets[] = {
		"/", "a", "a/b", "/a/b/", "./", "..", "../", "../../x", ".../x", "a/./b",
		"/usr/lib/x86_64-linux-gnu/libc.so.6", "..hidden/.x./...", "\xff\xfe/\x01",
		"/./../", "x/.",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(targets); i++)
		expect_sl_roundtrip(targets[i], strlen(targets[i]));
}

/* A target of @total bytes made of text components of 2..@maxc bytes. */
static char *
make_target(size_t total, size_t maxc, unsigned seed, bool absolute)
{
	GString *t = g_string_new(absolute ? "/" : "");
	unsigned x = seed;

	while (t->len < total) {
		size_t left = total - t->len, c;

		x = x * 1103515245u + 12345u;
		c = 2 + (x >> 16) % (maxc - 1);
		if (left <= maxc + 3) {
			c = left;   /* the last component takes the rest */
		} else if (left - c - 1 < 2) {
			c = left - 3;
		}
		for (size_t i = 0; i < c; i++)
			g_string_append_c(t, (char)('a' + ((x >> 8) + i) % 26));
		if (t->len < total)
			g_string_append_c(t, '/');
	}
	cr_assert_eq(t->len, total);
	return g_string_free(t, FALSE);
}

Test(rrip, sl_long_target_spans_several_entries)
{
	g_autofree char *t = make_target(600, 40, 1, true);

	cr_assert_eq(limg_rrip_sl(&s, t, strlen(t)), 0);
	cr_expect_geq(s.n, 3, "600 bytes need at least 3 SL entries of <= 250 component bytes");
	expect_sl_entries_well_formed(true);
	expect_sl_roundtrip(t, strlen(t));
}

Test(rrip, sl_long_targets_split_inside_text_components)
{
	/* Many shapes, so the entry boundary lands at every kind of position. */
	for (unsigned seed = 0; seed < 200; seed++) {
		size_t total = 251 + seed * 7 % 1500;
		g_autofree char *t = make_target(total, 2 + seed % 60, seed, seed & 1);
		g_autofree char *back = NULL;

		limg_susp_reset(&s);
		cr_assert_eq(limg_rrip_sl(&s, t, total), 0);
		expect_sl_entries_well_formed(true);
		back = decode_restarting();
		cr_expect_str_eq(back, t, "seed %u: a reader restarting separators per SL entry "
		                 "misreads the target", seed);
		expect_sl_roundtrip(t, total);
	}
}

Test(rrip, sl_component_longer_than_an_entry_is_continued)
{
	char t[1000];
	g_autofree char *back = NULL;

	memset(t, 'L', sizeof(t));
	cr_assert_eq(limg_rrip_sl(&s, t, sizeof(t)), 0);
	cr_expect_geq(s.n, 5, "1000 bytes of text need at least 5 entries");
	expect_sl_entries_well_formed(true);
	{
		uint32_t len;
		const uint8_t *p = entry(0, &len);

		/* A component piece of 248 bytes fills the 250 bytes after the flags byte. */
		cr_expect_eq(len, 255);
		cr_expect_eq(p[5], 0x01);
		cr_expect_eq(p[6], 248);
	}
	back = decode_restarting();
	cr_expect(strlen(back) == sizeof(t) && memcmp(back, t, sizeof(t)) == 0);
	expect_sl_roundtrip(t, sizeof(t));
}

Test(rrip, sl_dotdot_at_entry_end_still_splits_inside_text)
{
	/*
	 * 245 bytes of text take 247 of the 250 component bytes of an entry,
	 * ".." two more: the next text component cannot start in the last
	 * byte. Ending the entry after ".." would lose the '/' for readers that
	 * restart separators per entry; holding back the end of the 245-byte
	 * component avoids that (RRIP allows splitting any text component).
	 */
	GString *g = g_string_new(NULL);
	g_autofree char *t = NULL, *back = NULL;

	for (int i = 0; i < 245; i++)
		g_string_append_c(g, 'x');
	g_string_append(g, "/../");
	for (int i = 0; i < 100; i++)
		g_string_append_c(g, 'y');
	t = g_string_free(g, FALSE);

	cr_assert_eq(limg_rrip_sl(&s, t, strlen(t)), 0);
	expect_sl_entries_well_formed(true);
	back = decode_restarting();
	cr_expect_str_eq(back, t);
	expect_sl_roundtrip(t, strlen(t));
}

Test(rrip, sl_4095_byte_target_round_trips)
{
	g_autofree char *t = make_target(4095, 30, 7, true);
	g_autofree char *back = NULL;
	size_t total = 0;

	cr_assert_eq(limg_rrip_sl(&s, t, 4095), 0);
	for (uint32_t i = 0; i < s.n; i++) {
		uint32_t len;

		entry(i, &len);
		total += len;
	}
	cr_expect_eq(total, s.len);
	/* 4095 bytes cannot fit fewer than ceil(4095 / 250) entries. */
	cr_expect_geq(s.n, 17);
	expect_sl_entries_well_formed(true);
	back = decode_restarting();
	cr_expect_str_eq(back, t);
	expect_sl_roundtrip(t, 4095);
}

/* ------------------------------------------------------------ CE, take */

Test(rrip, ce_entry_bytes)
{
	uint8_t p[28];

	memset(p, 0xAA, sizeof(p));
	limg_susp_put_ce(p, 0x01020304, 100, 237);
	cr_expect_arr_eq(p, "CE", 2);
	cr_expect_eq(p[2], 28);
	cr_expect_eq(p[3], 1);
	/* SUSP 5.1: block 5..12, offset 13..20, length 21..28 (BP), all 733. */
	cr_expect_eq(both32(p + 4), 0x01020304);
	cr_expect_eq(both32(p + 12), 100);
	cr_expect_eq(both32(p + 20), 237);
}

static void
add_px_tf(void)
{
	static const uint8_t date[7] = { 100, 1, 1, 0, 0, 0, 0 };

	cr_assert_eq(limg_rrip_px(&s, S_IFREG | 0644, 1, 0, 0, 5), 0);
	cr_assert_eq(limg_rrip_tf(&s, date), 0);
}

Test(rrip, take_keeps_everything_inline_when_it_fits)
{
	LimgSuspPiece p;

	cr_assert_eq(limg_susp_sp(&s), 0);
	add_px_tf();
	limg_susp_take(&s, 0, 200, &p);
	cr_expect_eq(p.first, 0);
	cr_expect_eq(p.end, 3);
	cr_expect_eq(p.bytes, 77);
	cr_expect(!p.ce);
}

Test(rrip, take_exact_fit_needs_no_ce)
{
	LimgSuspPiece p;

	add_px_tf();
	limg_susp_take(&s, 0, 70, &p);
	cr_expect_eq(p.end, 2);
	cr_expect_eq(p.bytes, 70);
	cr_expect(!p.ce);
}

Test(rrip, take_reserves_a_ce_and_never_splits_an_entry)
{
	char name[255];
	LimgSuspPiece p;

	memset(name, 'z', sizeof(name));
	add_px_tf();
	cr_assert_eq(limg_rrip_nm(&s, name, 200), 0);   /* one 205-byte entry */
	/* 70 + 205 = 275 > 200: PX, TF and a 28-byte CE stay (98 bytes). */
	limg_susp_take(&s, 0, 200, &p);
	cr_expect_eq(p.first, 0);
	cr_expect_eq(p.end, 2);
	cr_expect_eq(p.bytes, 70 + 28);
	cr_expect(p.ce);
	limg_susp_take(&s, p.end, 2048, &p);
	cr_expect_eq(p.first, 2);
	cr_expect_eq(p.end, 3);
	cr_expect_eq(p.bytes, 205);
	cr_expect(!p.ce);
}

Test(rrip, take_leaves_room_for_the_ce_entry)
{
	char name[100];
	LimgSuspPiece p;

	memset(name, 'n', sizeof(name));
	add_px_tf();
	cr_assert_eq(limg_rrip_nm(&s, name, sizeof(name)), 0);   /* 105 bytes: 175 in all */
	/* 71: PX + CE = 72 does not fit, so nothing but the CE stays. */
	limg_susp_take(&s, 0, 71, &p);
	cr_expect_eq(p.end, 0);
	cr_expect_eq(p.bytes, 28);
	cr_expect(p.ce);
	/* 72: PX + CE. */
	limg_susp_take(&s, 0, 72, &p);
	cr_expect_eq(p.end, 1);
	cr_expect_eq(p.bytes, 72);
	cr_expect(p.ce);
	/* 97: PX + TF + CE = 98 does not fit. */
	limg_susp_take(&s, 0, 97, &p);
	cr_expect_eq(p.end, 1);
	cr_expect_eq(p.bytes, 72);
	cr_expect(p.ce);
	/* 98: PX + TF + CE. */
	limg_susp_take(&s, 0, 98, &p);
	cr_expect_eq(p.end, 2);
	cr_expect_eq(p.bytes, 98);
	cr_expect(p.ce);
	/* 175: everything, no CE. */
	limg_susp_take(&s, 0, 175, &p);
	cr_expect_eq(p.end, 3);
	cr_expect_eq(p.bytes, 175);
	cr_expect(!p.ce);
}

Test(rrip, take_chains_continuation_areas)
{
	g_autofree char *t = make_target(4095, 30, 3, false);
	uint32_t first = 0, pieces = 0, total = 0;
	LimgSuspPiece p;

	add_px_tf();
	cr_assert_eq(limg_rrip_sl(&s, t, 4095), 0);
	limg_susp_take(&s, 0, 180, &p);
	cr_expect(p.ce);
	cr_expect_leq(p.bytes, 180);
	total += p.bytes - SUSP_CE_LEN;
	do {
		first = p.end;
		limg_susp_take(&s, first, SUSP_AREA_MAX, &p);
		pieces++;
		cr_expect_eq(p.first, first);
		cr_expect_gt(p.end, first, "no progress");
		cr_expect_leq(p.bytes, SUSP_AREA_MAX);
		/* Whole entries only: the byte count is that of entries [first, end) (+ CE). */
		cr_expect_eq(p.bytes, s.ends[p.end - 1] - (first ? s.ends[first - 1] : 0) +
		             (p.ce ? SUSP_CE_LEN : 0));
		total += p.bytes - (p.ce ? SUSP_CE_LEN : 0);
	} while (p.ce && pieces < 100);
	cr_expect_eq(p.end, s.n);
	cr_expect_eq(total, s.len);
	cr_expect_geq(pieces, 3, "4 KiB of SL entries need at least three 2 KiB areas");
}

/* ------------------------------------------------------------ dates */

static void
expect_date7(int64_t sec, const uint8_t want[7], bool want_clamped)
{
	uint8_t d[7];
	bool clamped = !want_clamped;

	memset(d, 0xEE, sizeof(d));
	limg_iso_date7(d, sec, &clamped);
	cr_expect_arr_eq(d, want, 7, "%" PRId64 ": %u %u %u %u:%u:%u %u", sec, d[0], d[1], d[2],
	                 d[3], d[4], d[5], d[6]);
	cr_expect_eq(clamped, want_clamped, "%" PRId64 ": clamped", sec);
}

Test(rrip, date7_epoch)
{
	static const uint8_t want[7] = { 70, 1, 1, 0, 0, 0, 0 };

	expect_date7(0, want, false);
}

Test(rrip, date7_before_1970)
{
	/* 1960-06-15T12:30:45Z: 3487 days before the epoch, plus 45045 s. */
	static const uint8_t want[7] = { 60, 6, 15, 12, 30, 45, 0 };

	expect_date7(-3487LL * 86400 + 45045, want, false);
}

Test(rrip, date7_after_2038)
{
	/* 2040-02-29T23:59:59Z: 25626 days after the epoch, plus 86399 s. */
	static const uint8_t want[7] = { 140, 2, 29, 23, 59, 59, 0 };

	expect_date7(25626LL * 86400 + 86399, want, false);
}

Test(rrip, date7_range_limits)
{
	/*
	 * 1900-01-01T00:00:00Z = -2208988800 (70 years of 365 days + 17 leap
	 * days before the epoch); 2155-12-31T23:59:59Z = 5869583999 (2156-01-01
	 * is 186 * 365 + 45 leap days = 67935 days after the epoch).
	 */
	static const uint8_t lo[7] = { 0, 1, 1, 0, 0, 0, 0 };
	static const uint8_t hi[7] = { 255, 12, 31, 23, 59, 59, 0 };

	expect_date7(-2208988800LL, lo, false);
	expect_date7(5869583999LL, hi, false);
}

Test(rrip, date7_clamps_below_1900)
{
	static const uint8_t lo[7] = { 0, 1, 1, 0, 0, 0, 0 };

	expect_date7(-2208988801LL, lo, true);
	expect_date7(INT64_MIN / 2, lo, true);
}

Test(rrip, date7_clamps_after_2155)
{
	static const uint8_t hi[7] = { 255, 12, 31, 23, 59, 59, 0 };

	/* 2156-01-01T00:00:00Z: year 256 does not fit the 711 field. */
	expect_date7(5869584000LL, hi, true);
	/* 2156-03-01: must clamp, not wrap to 1900 (year byte 256 & 0xff). */
	expect_date7(5869584000LL + 60 * 86400, hi, true);
	expect_date7(INT64_MAX / 2, hi, true);
}

static void
expect_date17(int64_t sec, const char *digits)
{
	uint8_t d[17];

	memset(d, 0xEE, sizeof(d));
	limg_iso_date17(d, sec);
	cr_expect_arr_eq(d, digits, 16, "%" PRId64 ": got %.16s", sec, (const char *)d);
	cr_expect_eq(d[16], 0, "GMT offset");
}

Test(rrip, date17_epoch)
{
	expect_date17(0, "1970010100000000");
}

Test(rrip, date17_after_2038)
{
	expect_date17(25626LL * 86400 + 86399, "2040022923595900");
}

Test(rrip, date17_before_1970)
{
	/* 8.4.26.1 covers years 1 to 9999: 1960 is representable. */
	expect_date17(-3487LL * 86400 + 45045, "1960061512304500");
}

Test(rrip, date17_out_of_range_is_not_specified)
{
	/* 8.4.26.1: all digits zero and offset 0 mean "not specified". */
	expect_date17(253402300800LL, "0000000000000000");   /* year 10000 */
}
