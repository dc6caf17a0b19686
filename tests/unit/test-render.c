/*
 * test-render.c - rendered image bytes (render.h): volume descriptors and
 * path tables (ECMA-119 8.4, 8.3, 9.4, 6.9.1), directory records (9.1, 9.3,
 * 6.8.1.1), Rock Ridge entries as stored (SUSP CE chains, PN, SL, NM), and
 * th_pread() against the whole image.
 */
#include <config.h>

#include "lib/testlib.h"

static TreeBuilder *tb;
static LimgReport report;
static LimgLayout *lay;
static uint8_t *img;
static size_t img_size;

static void
setup(void)
{
	tb = tb_new();
	limg_report_init(&report);
	lay = NULL;
	img = NULL;
	img_size = 0;
}

static void
teardown(void)
{
	g_free(img);
	limg_layout_unref(lay);
	limg_report_release(&report);
	tb_free(tb);
}

TestSuite(render, .init = setup, .fini = teardown);

#define BLK 2048ull

static void
build_and_render(void)
{
	lay = build_layout(tb_build(tb), &report);
	img = render_image(lay, &img_size);
}

static DirRec
root_dr(void)
{
	DirRec r;

	parse_dr(img + 16 * BLK + 156, 16 * BLK + 156, &r);
	return r;
}

/* ------------------------------------------------------------ 9.3 order, independently */

static void
split93(const uint8_t *id, size_t len, size_t *nl, const uint8_t **ext, size_t *el, long *ver)
{
	size_t i = 0, j;

	while (i < len && id[i] != '.' && id[i] != ';')
		i++;
	*nl = i;
	*ext = id + i;
	*el = 0;
	*ver = 0;
	if (i < len && id[i] == '.') {
		for (j = i + 1; j < len && id[j] != ';'; j++)
			;
		*ext = id + i + 1;
		*el = j - i - 1;
		i = j;
	}
	if (i < len && id[i] == ';')
		*ver = strtol((const char *)id + i + 1, NULL, 10);
}

static int
cmp_space_padded(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	for (size_t i = 0; i < al || i < bl; i++) {
		int x = i < al ? a[i] : ' ', y = i < bl ? b[i] : ' ';

		if (x != y)
			return x - y;
	}
	return 0;
}

/* ECMA-119 9.3 b-d. */
static int
cmp93(const DirRec *a, const DirRec *b)
{
	size_t an, ae, bn, be;
	const uint8_t *ax, *bx;
	long av, bv;
	int r;
	char ia[40] = "", ib[40] = "";

	memcpy(ia, a->id, a->id_len < 39 ? a->id_len : 39);
	memcpy(ib, b->id, b->id_len < 39 ? b->id_len : 39);
	split93((const uint8_t *)ia, a->id_len, &an, &ax, &ae, &av);
	split93((const uint8_t *)ib, b->id_len, &bn, &bx, &be, &bv);
	if ((r = cmp_space_padded((const uint8_t *)ia, an, (const uint8_t *)ib, bn)))
		return r;
	if ((r = cmp_space_padded(ax, ae, bx, be)))
		return r;
	return (int)(bv - av);
}

static char *
id_str(const DirRec *r)
{
	return g_strndup((const char *)r->id, r->id_len);
}

/* ------------------------------------------------------------ whole-image walk */

typedef struct {
	GArray *areas;         /* CeArea of every CE */
	uint32_t dirs;
	uint32_t records;
	uint32_t max_dir_blocks;
} Walk;

/*
 * Visit every directory from @lba: "." and ".." first and right, entries
 * in 9.3 order (equal only between sections of one multi-extent file),
 * every record's SUSP entries and CE chain valid, CE areas after the
 * directory's own records and inside the metadata.
 */
static void
walk_dir(Walk *w, uint32_t lba, uint32_t size, uint32_t parent_lba, int depth)
{
	GArray *recs = read_dir(img, img_size, lba, size);
	uint64_t meta_end = (uint64_t)limg_layout_meta_blocks(lay) * BLK;

	cr_assert_lt(depth, 64);
	cr_assert_geq(recs->len, 2);
	w->dirs++;
	w->records += recs->len;
	if (size / 2048 > w->max_dir_blocks)
		w->max_dir_blocks = size / 2048;
	{
		DirRec *dot = &g_array_index(recs, DirRec, 0), *dd = &g_array_index(recs, DirRec, 1);

		cr_expect(dot->id_len == 1 && dot->id[0] == 0, "first record is not \".\"");
		cr_expect(dd->id_len == 1 && dd->id[0] == 1, "second record is not \"..\"");
		cr_expect_eq(dot->extent, lba);
		cr_expect_eq(dot->size, size);
		cr_expect_eq(dot->flags, 0x02);
		cr_expect_eq(dd->extent, parent_lba);
		cr_expect_eq(dd->flags, 0x02);
	}
	for (guint i = 0; i < recs->len; i++) {
		DirRec *r = &g_array_index(recs, DirRec, i);
		guint before = w->areas->len;
		GArray *su = susp_entries_ex(img, img_size, r, w->areas);

		cr_expect_not_null(susp_find(su, "PX"), "record without PX");
		cr_expect_not_null(susp_find(su, "TF"), "record without TF");
		for (guint k = before; k < w->areas->len; k++) {
			CeArea *a = &g_array_index(w->areas, CeArea, k);

			cr_expect_geq(a->pos, ((uint64_t)lba * BLK) + size,
			              "CE area before the end of its directory's records");
			cr_expect_leq(a->pos + a->len, meta_end, "CE area outside the metadata");
		}
		if (i >= 2) {
			DirRec *prev = &g_array_index(recs, DirRec, i - 1);
			g_autofree char *pi = id_str(prev), *ci = id_str(r);

			if (i > 2) {
				int c = cmp93(prev, r);

				cr_expect(c < 0 || (c == 0 && (prev->flags & 0x80)),
				          "%s before %s breaks ECMA-119 9.3", pi, ci);
			}
			if (r->flags & 0x02)
				walk_dir(w, r->extent, r->size, lba, depth + 1);
		}
		g_array_free(su, TRUE);
	}
	g_array_free(recs, TRUE);
}

static int
cmp_area(const void *a, const void *b)
{
	const CeArea *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void
walk_image(Walk *w)
{
	DirRec root = root_dr();

	memset(w, 0, sizeof(*w));
	w->areas = g_array_new(FALSE, FALSE, sizeof(CeArea));
	walk_dir(w, root.extent, root.size, root.extent, 0);
	g_array_sort(w->areas, cmp_area);
	for (guint i = 1; i < w->areas->len; i++) {
		CeArea *a = &g_array_index(w->areas, CeArea, i - 1), *b = &g_array_index(w->areas, CeArea, i);

		cr_expect_leq(a->pos + a->len, b->pos, "CE areas at %" PRIu64 " and %" PRIu64 " overlap",
		              a->pos, b->pos);
	}
}

/* Find the record of @dir (extent/size) whose NM is @name; asserts. */
static DirRec
find_rec(const DirRec *dir, const char *name)
{
	GArray *recs = read_dir(img, img_size, dir->extent, dir->size);
	DirRec found = { 0 };
	bool ok = false;

	for (guint i = 2; i < recs->len && !ok; i++) {
		DirRec *r = &g_array_index(recs, DirRec, i);
		GArray *su = susp_entries(img, img_size, r);
		g_autofree char *nm = susp_nm(su, NULL);

		if (strcmp(nm, name) == 0) {
			found = *r;
			ok = true;
		}
		g_array_free(su, TRUE);
	}
	g_array_free(recs, TRUE);
	cr_assert(ok, "no record named %s", name);
	return found;
}

/* ------------------------------------------------------------ descriptors */

Test(render, system_area_is_zero)
{
	tb_file(tb, "f", 100);
	build_and_render();
	for (size_t i = 0; i < 16 * BLK; i++)
		cr_assert_eq(img[i], 0, "byte %zu of the system area", i);
}

Test(render, pvd_fields)
{
	char vol[32];
	const uint8_t *p;
	DirRec root;

	memset(vol, ' ', sizeof(vol));
	memcpy(vol, "LAYER", 5);
	tb_file(tb, "f", 5000);
	build_and_render();
	p = img + 16 * BLK;
	/* 8.4.1-8.4.3 */
	cr_expect_eq(p[0], 1);
	cr_expect_arr_eq(p + 1, "CD001", 5);
	cr_expect_eq(p[6], 1);
	cr_expect_eq(p[7], 0);
	cr_expect_arr_eq(p + 40, vol, 32);
	for (int i = 72; i < 80; i++)
		cr_expect_eq(p[i], 0, "unused byte %d", i + 1);
	/* 8.4.8 volume space size */
	cr_expect_eq(rd_733(p + 80), limg_layout_size(lay) / 2048);
	cr_expect_eq(rd_733(p + 80), img_size / 2048);
	cr_expect_eq(rd_723(p + 120), 1, "volume set size");
	cr_expect_eq(rd_723(p + 124), 1, "volume sequence number");
	cr_expect_eq(rd_723(p + 128), 2048, "logical block size");
	/* 8.4.14-8.4.18: path table of the root alone is one 10-byte record. */
	cr_expect_eq(rd_733(p + 132), 10);
	cr_expect_eq(rd_731(p + 140), 18, "type L path table");
	cr_expect_eq(rd_731(p + 144), 0, "optional type L path table");
	cr_expect_eq(rd_732(p + 148), 19, "type M path table");
	cr_expect_eq(rd_732(p + 152), 0, "optional type M path table");
	/* 8.4.18 root directory record, 34 bytes. */
	root = root_dr();
	cr_expect_eq(root.len, 34);
	cr_expect_eq(root.extent, 20);
	cr_expect_eq(root.size, 2048);
	cr_expect_eq(root.flags, 0x02);
	cr_expect_eq(root.id_len, 1);
	cr_expect_eq(root.id[0], 0);
	{
		static const uint8_t d7[7] = { 101, 9, 9, 1, 46, 40, 0 };

		cr_expect_arr_eq(root.date, d7, 7, "root record time = root mtime");
	}
	/* 8.4.26/27: the root's mtime, not the clock; 8.4.28/29 not specified. */
	cr_expect_arr_eq(p + 813, "2001090901464000", 16);
	cr_expect_eq(p[829], 0);
	cr_expect_arr_eq(p + 830, "2001090901464000", 16);
	cr_expect_arr_eq(p + 847, "0000000000000000", 16);
	cr_expect_arr_eq(p + 864, "0000000000000000", 16);
	cr_expect_eq(p[881], 1, "file structure version");
	cr_expect_eq(p[882], 0);
	for (int i = 1395; i < 2048; i++)
		cr_expect_eq(p[i], 0, "reserved byte %d", i + 1);
}

Test(render, pvd_volume_id_option_is_d_characters)
{
	LimgLayoutOptions o = { .volume_id = "my-layer.v2" };
	uint8_t b[2048];
	char want[32];

	memset(want, ' ', sizeof(want));
	memcpy(want, "MY_LAYER_V2", 11);
	cr_assert_eq(limg_layout_build(tb_build(tb), &o, NULL, &lay), 0);
	cr_assert_eq(limg_render_block(lay, 16, b), 0);
	cr_expect_arr_eq(b + 40, want, 32);
}

Test(render, terminator_block)
{
	const uint8_t *p;

	build_and_render();
	p = img + 17 * BLK;
	cr_expect_eq(p[0], 255);
	cr_expect_arr_eq(p + 1, "CD001", 5);
	cr_expect_eq(p[6], 1);
	for (int i = 7; i < 2048; i++)
		cr_expect_eq(p[i], 0, "byte %d", i);
}

Test(render, render_block_refuses_data_blocks)
{
	uint8_t b[2048];

	tb_file(tb, "f", 1);
	lay = build_layout(tb_build(tb), NULL);
	cr_expect_eq(limg_render_block(lay, limg_layout_meta_blocks(lay), b), -EINVAL);
	cr_expect_eq(limg_render_block(lay, 0, b), 0);
}

/* ------------------------------------------------------------ path tables */

Test(render, path_tables_little_and_big_endian)
{
	/*
	 * 6.9.1: by level, then parent number, then identifier: X (parent A,
	 * number 2) comes before C (parent B, number 3) although C < X.
	 * Directory extents follow path-table order: 20 root (+21 its CE),
	 * then A 22, B 23, X 24, C 25.
	 */
	static const struct { uint8_t id; uint32_t lba; uint16_t parent; } want[] = {
		{ 0, 20, 1 }, { 'A', 22, 1 }, { 'B', 23, 1 }, { 'X', 24, 2 }, { 'C', 25, 3 },
	};
	const uint8_t *l, *m;
	uint32_t off = 0;
	DirRec root, a, b, x, c;

	tb_dir(tb, "b/c");
	tb_dir(tb, "a/x");
	tb_file(tb, "a/file", 1);
	build_and_render();
	cr_expect_eq(rd_733(img + 16 * BLK + 132), 50, "5 records of 10 bytes");
	l = img + (uint64_t)rd_731(img + 16 * BLK + 140) * BLK;
	m = img + (uint64_t)rd_732(img + 16 * BLK + 148) * BLK;
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++, off += 10) {
		cr_expect_eq(l[off], 1, "record %zu: identifier length", i);
		cr_expect_eq(l[off + 1], 0);
		cr_expect_eq(rd_731(l + off + 2), want[i].lba, "record %zu: L extent", i);
		cr_expect_eq(rd_721(l + off + 6), want[i].parent, "record %zu: L parent", i);
		cr_expect_eq(l[off + 8], want[i].id, "record %zu: identifier", i);
		cr_expect_eq(l[off + 9], 0, "record %zu: pad", i);
		cr_expect_eq(m[off], 1);
		cr_expect_eq(rd_732(m + off + 2), want[i].lba, "record %zu: M extent", i);
		cr_expect_eq(rd_722(m + off + 6), want[i].parent, "record %zu: M parent", i);
		cr_expect_eq(m[off + 8], want[i].id);
	}
	for (uint32_t i = off; i < 2048; i++) {
		cr_expect_eq(l[i], 0);
		cr_expect_eq(m[i], 0);
	}
	/* The same extents as the directory records say. */
	root = root_dr();
	a = find_rec(&root, "a");
	b = find_rec(&root, "b");
	x = find_rec(&a, "x");
	c = find_rec(&b, "c");
	cr_expect_eq(root.extent, 20);
	cr_expect_eq(a.extent, 22);
	cr_expect_eq(b.extent, 23);
	cr_expect_eq(x.extent, 24);
	cr_expect_eq(c.extent, 25);
}

Test(render, path_table_spanning_blocks_matches_records)
{
	/* 300 directories of 8-character identifiers: 10 + 300 * 16 = 4810 bytes, 3 blocks. */
	char name[16];
	uint32_t size, off = 0, n = 0;
	const uint8_t *l, *m;

	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "dir%05d", i);
		tb_dir(tb, name);
	}
	build_and_render();
	size = rd_733(img + 16 * BLK + 132);
	cr_expect_eq(size, 4810);
	l = img + (uint64_t)rd_731(img + 16 * BLK + 140) * BLK;
	m = img + (uint64_t)rd_732(img + 16 * BLK + 148) * BLK;
	cr_expect_eq(rd_732(img + 16 * BLK + 148) - rd_731(img + 16 * BLK + 140), 3,
	             "M table follows the 3 blocks of the L table");
	while (off < size) {
		uint8_t len = l[off];

		cr_assert(len == 1 || len == 8, "record %u: identifier length %u", n, len);
		cr_expect_eq(m[off], len);
		cr_expect_eq(rd_731(l + off + 2), rd_732(m + off + 2), "record %u extent", n);
		cr_expect_eq(rd_721(l + off + 6), rd_722(m + off + 6), "record %u parent", n);
		cr_expect_arr_eq(l + off + 8, m + off + 8, len);
		if (n > 0) {
			snprintf(name, sizeof(name), "DIR%05u", n - 1);
			cr_expect_arr_eq(l + off + 8, name, 8, "record %u", n);
			cr_expect_eq(rd_721(l + off + 6), 1);
		}
		off += 8 + len + (len & 1);
		n++;
	}
	cr_expect_eq(off, size);
	cr_expect_eq(n, 301);
}

/* ------------------------------------------------------------ directory records */

Test(render, records_sorted_per_9_3_with_dot_and_dotdot_first)
{
	static const char *const want[] = {
		"A.;1", "A.Z;1", "A.Z1;1", "AB.;1", "A_.;1", "B.;1",
	};
	static const char *const names[] = { "a.z1", "a.z", "ab", "a", "a_", "B" };
	DirRec root;
	GArray *recs;

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		tb_file(tb, names[i], i + 1);
	build_and_render();
	root = root_dr();
	recs = read_dir(img, img_size, root.extent, root.size);
	cr_assert_eq(recs->len, 2 + G_N_ELEMENTS(want));
	cr_expect_eq(g_array_index(recs, DirRec, 0).id[0], 0);
	cr_expect_eq(g_array_index(recs, DirRec, 1).id[0], 1);
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
		DirRec *r = &g_array_index(recs, DirRec, i + 2);
		g_autofree char *id = id_str(r);

		cr_expect_str_eq(id, want[i], "record %zu", i + 2);
	}
	g_array_free(recs, TRUE);
}

Test(render, colliding_names_get_numbered_suffixes)
{
	DirRec root, r;
	g_autofree char *i1 = NULL, *i2 = NULL, *i3 = NULL, *i4 = NULL, *i5 = NULL;

	/* Byte order: "FOO" < "Foo" < "foo"; suffixes count up in that order. */
	tb_file(tb, "foo", 1);
	tb_file(tb, "FOO", 1);
	tb_file(tb, "Foo", 1);
	/* A directory and a file that would read the same: "BAR" and "BAR.;1". */
	tb_file(tb, "BAR", 1);
	tb_dir(tb, "bar");
	/* Names equal in their first 30 mapped characters. */
	tb_file(tb, "a-very-long-file-name-that-is-cut-1.txt", 1);
	tb_file(tb, "a-very-long-file-name-that-is-cut-2.txt", 1);
	tb_file(tb, "a_very_long_file_name_that_is_cut_3.txt", 1);
	tb_dir(tb, "a-very-long-directory-name-that-is-cut-1");
	tb_dir(tb, "a-very-long-directory-name-that-is-cut-2");
	build_and_render();
	root = root_dr();
	r = find_rec(&root, "FOO");
	i1 = id_str(&r);
	r = find_rec(&root, "Foo");
	i2 = id_str(&r);
	r = find_rec(&root, "foo");
	i3 = id_str(&r);
	r = find_rec(&root, "BAR");
	i4 = id_str(&r);
	r = find_rec(&root, "bar");
	i5 = id_str(&r);
	cr_expect_str_eq(i1, "FOO.;1");
	cr_expect_str_eq(i2, "FOO_1.;1");
	cr_expect_str_eq(i3, "FOO_2.;1");
	cr_expect_str_eq(i4, "BAR.;1");
	cr_expect_str_eq(i5, "BAR_1");
	cr_expect_eq(r.flags, 0x02);
	{
		Walk w;

		walk_image(&w);   /* all identifiers distinct and in 9.3 order */
		g_array_free(w.areas, TRUE);
	}
}

Test(render, root_dot_record_starts_with_sp_and_points_to_er)
{
	/* 34 + SP 7 + PX 44 + TF 26 + CE 28 = 139, padded to 140; ER (237) at 21:0. */
	static const uint8_t sp[7] = { 'S', 'P', 7, 1, 0xBE, 0xEF, 0 };
	DirRec root = { 0 }, dot;
	GArray *recs, *su;
	const uint8_t *ce;
	const SuspEnt *er;

	build_and_render();
	root = root_dr();
	recs = read_dir(img, img_size, root.extent, root.size);
	dot = g_array_index(recs, DirRec, 0);
	cr_expect_eq(dot.len, 140);
	cr_expect_eq(dot.su_len, 106);
	cr_expect_arr_eq(dot.su, sp, 7, "SUSP 5.3: SP first in the root's \".\" record");
	cr_expect_arr_eq(dot.su + 7, "PX", 2);
	cr_expect_arr_eq(dot.su + 51, "TF", 2);
	ce = dot.su + 77;
	cr_expect_arr_eq(ce, "CE", 2);
	cr_expect_eq(rd_733(ce + 4), 21);
	cr_expect_eq(rd_733(ce + 12), 0);
	cr_expect_eq(rd_733(ce + 20), 237);
	cr_expect_eq(dot.su[105], 0, "pad byte");
	su = susp_entries(img, img_size, &dot);
	er = susp_find(su, "ER");
	cr_assert_not_null(er);
	cr_expect_eq(er->pos, 21 * BLK);
	cr_expect_arr_eq(er->p + 8, "RRIP_1991A", 10);
	cr_expect_null(susp_find(su, "NM"), "\".\" has no name");
	g_array_free(su, TRUE);
	/* ".." of the root: 34 + PX + TF = 104, no CE. */
	cr_expect_eq(g_array_index(recs, DirRec, 1).len, 104);
	g_array_free(recs, TRUE);
}

Test(render, px_and_tf_of_records)
{
	TbEntry *f, *g, *d;
	DirRec root, r;
	GArray *su;
	const SuspEnt *px, *tf;
	uint32_t serial_f, serial_g;

	f = tb_file(tb, "f", 10);
	f->node.mode = S_IFREG | 04751;
	f->node.uid = 100000;
	f->node.gid = 4242;
	f->node.mtime.sec = 25626LL * 86400 + 86399;   /* 2040-02-29T23:59:59Z */
	g = tb_link(tb, "g", f);
	d = tb_dir(tb, "d");
	tb_dir(tb, "d/e1");
	tb_dir(tb, "d/e2");
	tb_file(tb, "d/file", 0);
	(void)g;
	(void)d;
	build_and_render();
	root = root_dr();

	r = find_rec(&root, "f");
	su = susp_entries(img, img_size, &r);
	px = susp_find(su, "PX");
	cr_assert_not_null(px);
	cr_expect_eq(px->len, 44);
	cr_expect_eq(rd_733(px->p + 4), S_IFREG | 04751);
	cr_expect_eq(rd_733(px->p + 12), 2, "two links");
	cr_expect_eq(rd_733(px->p + 20), 100000);
	cr_expect_eq(rd_733(px->p + 28), 4242);
	serial_f = rd_733(px->p + 36);
	tf = susp_find(su, "TF");
	cr_assert_not_null(tf);
	{
		static const uint8_t d7[7] = { 140, 2, 29, 23, 59, 59, 0 };

		cr_expect_eq(tf->p[4], 0x0E);
		cr_expect_arr_eq(tf->p + 5, d7, 7);
		cr_expect_arr_eq(r.date, d7, 7, "record time (9.1.5)");
	}
	g_array_free(su, TRUE);

	r = find_rec(&root, "g");
	su = susp_entries(img, img_size, &r);
	serial_g = rd_733(susp_find(su, "PX")->p + 36);
	cr_expect_eq(serial_f, serial_g, "hard links share a serial number");
	g_array_free(su, TRUE);

	r = find_rec(&root, "d");
	su = susp_entries(img, img_size, &r);
	cr_expect_eq(rd_733(susp_find(su, "PX")->p + 4), S_IFDIR | 0755);
	cr_expect_eq(rd_733(susp_find(su, "PX")->p + 12), 4, "2 + two subdirectories");
	cr_expect_neq(rd_733(susp_find(su, "PX")->p + 36), serial_f);
	g_array_free(su, TRUE);
}

Test(render, regular_file_records)
{
	TbEntry *f;
	DirRec root, r;

	f = tb_file(tb, "data.bin", 3000);
	tb_file(tb, "empty", 0);
	build_and_render();
	root = root_dr();
	r = find_rec(&root, "data.bin");
	cr_expect_eq(r.extent, limg_layout_node_lba(lay, f->idx));
	cr_expect_eq(r.size, 3000);
	cr_expect_eq(r.flags, 0);
	r = find_rec(&root, "empty");
	cr_expect_eq(r.extent, 0);
	cr_expect_eq(r.size, 0);
}

Test(render, file_data_lies_at_its_extent)
{
	TbEntry *f[3];
	DirRec root, r;
	uint64_t sizes[3] = { 1, 2048, 5000 };
	const char *names[3] = { "one", "two", "three" };

	for (int i = 0; i < 3; i++)
		f[i] = tb_file(tb, names[i], sizes[i]);
	build_and_render();
	root = root_dr();
	for (int i = 0; i < 3; i++) {
		uint64_t start;

		r = find_rec(&root, names[i]);
		start = (uint64_t)r.extent * BLK;
		cr_assert_leq(start + sizes[i], img_size);
		for (uint64_t k = 0; k < sizes[i]; k++)
			cr_assert_eq(img[start + k], synth_byte(f[i]->idx, k), "%s byte %" PRIu64,
			             names[i], k);
		for (uint64_t k = sizes[i]; k % 2048; k++)
			cr_assert_eq(img[start + k], 0, "%s padding byte %" PRIu64, names[i], k);
	}
}

Test(render, large_directory_records_never_cross_blocks)
{
	GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	DirRec root;
	GArray *recs;
	Walk w;
	char name[256];

	for (int i = 0; i < 2000; i++) {
		int pad = (i * 7) % 40;

		if (i % 50 == 0)
			pad = 200 + i % 44;   /* long names: NM in continuation areas */
		snprintf(name, sizeof(name), "entry-%04d-", i);
		memset(name + 11, 'a' + i % 26, (size_t)pad);
		name[11 + pad] = 0;
		if (i % 3 == 0)
			tb_file(tb, name, (uint64_t)i);
		else if (i % 3 == 1)
			tb_symlink(tb, name, name);
		else
			tb_dev(tb, name, S_IFCHR, (uint32_t)i, (uint32_t)i);
		g_hash_table_add(names, g_strdup(name));
	}
	build_and_render();
	root = root_dr();
	recs = read_dir(img, img_size, root.extent, root.size);
	cr_expect_eq(recs->len, 2002);
	cr_expect_gt(root.size / 2048, 100, "many blocks of records");
	for (guint i = 2; i < recs->len; i++) {
		DirRec *r = &g_array_index(recs, DirRec, i);
		GArray *su = susp_entries(img, img_size, r);
		g_autofree char *nm = susp_nm(su, NULL);

		cr_expect(g_hash_table_remove(names, nm), "unexpected or repeated name %s", nm);
		g_array_free(su, TRUE);
	}
	cr_expect_eq(g_hash_table_size(names), 0, "names missing from the directory");
	g_array_free(recs, TRUE);
	g_hash_table_destroy(names);

	walk_image(&w);
	cr_expect_eq(w.records, 2002);
	cr_expect_geq(w.areas->len, 40, "long names use continuation areas");
	g_array_free(w.areas, TRUE);
}

Test(render, continuation_areas_are_valid_everywhere)
{
	/* Long names, long targets, deep directories: many CE chains. */
	char name[256], target[4096];
	Walk w;

	memset(name, 'n', 255);
	name[255] = 0;
	for (int i = 0; i < 4095; i++)
		target[i] = (i % 13 == 12) ? '/' : (char)('a' + i % 26);
	target[4095] = 0;
	for (int d = 0; d < 6; d++) {
		GString *p = g_string_new(NULL);
		g_autofree char *link = NULL, *file = NULL;

		for (int k = 0; k <= d; k++)
			g_string_append_printf(p, "%sdir%d-%.*s", k ? "/" : "", k, 200, name);
		tb_dir(tb, p->str);
		link = g_strdup_printf("%s/%s", p->str, name);            /* 255-byte name */
		file = g_strdup_printf("%s/X%s", p->str, name + 1);       /* another one */
		tb_symlink(tb, link, target);
		tb_file(tb, file, 100);
		g_string_free(p, TRUE);
	}
	build_and_render();
	walk_image(&w);
	cr_expect_eq(w.dirs, 7);
	cr_expect_geq(w.areas->len, 6 * 3);
	g_array_free(w.areas, TRUE);
}

Test(render, long_name_and_target_read_back_through_ce)
{
	char name[256], target[4096];
	DirRec root, r;
	GArray *su;
	GPtrArray *sl = g_ptr_array_new();
	g_autofree char *nm = NULL, *back = NULL;
	size_t nl, tl;

	for (int i = 0; i < 255; i++)
		name[i] = (char)('0' + i % 75);   /* no '/' */
	name[255] = 0;
	for (int i = 0; i < 4095; i++)
		target[i] = (i % 17 == 16) ? '/' : (char)('A' + i % 26);
	target[0] = '/';
	target[4095] = 0;
	tb_symlink(tb, name, target);
	build_and_render();
	root = root_dr();
	r = find_rec(&root, name);
	su = susp_entries(img, img_size, &r);
	nm = susp_nm(su, &nl);
	cr_expect(nl == 255 && memcmp(nm, name, 255) == 0, "NM reads back");
	for (guint i = 0; i < su->len; i++) {
		const SuspEnt *e = &g_array_index(su, SuspEnt, i);

		if (e->p[0] == 'S' && e->p[1] == 'L')
			g_ptr_array_add(sl, (gpointer)e->p);
	}
	cr_expect_geq(sl->len, 17);
	back = sl_decode((const uint8_t *const *)sl->pdata, sl->len, &tl);
	cr_expect(tl == 4095 && memcmp(back, target, 4095) == 0, "SL reads back");
	cr_expect_eq(r.size, 0, "a symlink has no data");
	g_ptr_array_free(sl, TRUE);
	g_array_free(su, TRUE);
}

Test(render, symlink_sl_in_record)
{
	static const uint8_t want[] = {
		'S', 'L', 20, 1, 0,
		0x08, 0,
		0x00, 3, 'e', 't', 'c',
		0x00, 6, 'p', 'a', 's', 's', 'w', 'd',
	};
	DirRec root, r;
	GArray *su;
	const SuspEnt *sl;

	tb_symlink(tb, "pw", "/etc/passwd");
	build_and_render();
	root = root_dr();
	r = find_rec(&root, "pw");
	su = susp_entries(img, img_size, &r);
	sl = susp_find(su, "SL");
	cr_assert_not_null(sl);
	cr_expect_eq(sl->len, sizeof(want));
	cr_expect_arr_eq(sl->p, want, sizeof(want));
	cr_expect_eq(rd_733(susp_find(su, "PX")->p + 4), S_IFLNK | 0777);
	g_array_free(su, TRUE);
}

static void
expect_pn(const DirRec *root, const char *name, uint32_t mode, uint32_t high, uint32_t low)
{
	DirRec r = find_rec(root, name);
	GArray *su = susp_entries(img, img_size, &r);
	const SuspEnt *pn = susp_find(su, "PN");

	cr_assert_not_null(pn, "%s: no PN", name);
	cr_expect_eq(pn->len, 20);
	cr_expect_eq(rd_733(pn->p + 4), high, "%s: high 0x%x", name, rd_733(pn->p + 4));
	cr_expect_eq(rd_733(pn->p + 12), low, "%s: low 0x%x", name, rd_733(pn->p + 12));
	cr_expect_eq(rd_733(susp_find(su, "PX")->p + 4), mode, "%s: mode", name);
	cr_expect_eq(r.size, 0);
	g_array_free(su, TRUE);
}

Test(render, device_numbers_in_pn)
{
	DirRec root;

	tb_dev(tb, "whiteout", S_IFCHR, 0, 0);
	tb_dev(tb, "null", S_IFCHR, 1, 3);
	tb_dev(tb, "sda1", S_IFBLK, 8, 1);
	tb_dev(tb, "wide", S_IFCHR, 259, 65536);
	tb_dev(tb, "huge", S_IFBLK, 4096, 1);
	tb_fifo(tb, "fifo");
	build_and_render();
	root = root_dr();
	expect_pn(&root, "whiteout", S_IFCHR | 0600, 0, 0);
	expect_pn(&root, "null", S_IFCHR | 0600, 0, 0x103);
	expect_pn(&root, "sda1", S_IFBLK | 0600, 0, 0x801);
	/*
	 * glibc's dev_t: minor bits 0-7 and 20-43, major bits 8-19 and 32-63.
	 * 259:65536 -> (0x103 << 8) | (0x10000 << 12) = 0x10010300;
	 * 4096:1 -> (0x1000 << 32) | 1.
	 */
	expect_pn(&root, "wide", S_IFCHR | 0600, 0, 0x10010300);
	expect_pn(&root, "huge", S_IFBLK | 0600, 0x1000, 1);
	{
		DirRec r = find_rec(&root, "fifo");
		GArray *su = susp_entries(img, img_size, &r);

		cr_expect_null(susp_find(su, "PN"), "a fifo has no PN");
		cr_expect_eq(rd_733(susp_find(su, "PX")->p + 4), S_IFIFO | 0644);
		g_array_free(su, TRUE);
	}
}

Test(render, multi_extent_records_are_consecutive)
{
	const uint64_t size = 2 * 0xFFFFF800ull + 5;
	uint8_t *meta;
	uint32_t nmeta;
	DirRec root;
	GArray *recs;
	guint first = 0, count = 0;

	tb_file(tb, "a", 1);
	tb_file(tb, "big", size);
	tb_file(tb, "c", 1);
	lay = build_layout(tb_build(tb), NULL);
	nmeta = limg_layout_meta_blocks(lay);
	meta = g_malloc((size_t)nmeta * BLK);
	for (uint32_t b = 0; b < nmeta; b++)
		cr_assert_eq(limg_render_block(lay, b, meta + (size_t)b * BLK), 0);
	/* Borrow the fixture's image slots for the parsers. */
	img = meta;
	img_size = (size_t)nmeta * BLK;
	root = root_dr();
	recs = read_dir(img, img_size, root.extent, root.size);
	for (guint i = 2; i < recs->len; i++) {
		DirRec *r = &g_array_index(recs, DirRec, i);

		if (r->id_len == 6 && memcmp(r->id, "BIG.;1", 6) == 0) {
			if (!count)
				first = i;
			count++;
		}
	}
	cr_assert_eq(count, 3);
	for (guint k = 0; k < 3; k++) {
		DirRec *r = &g_array_index(recs, DirRec, first + k);

		cr_expect_eq(first + k, 3 + k, "sections are consecutive records");
		cr_expect_eq(r->flags, k < 2 ? 0x80 : 0, "section %u flags", k);
		cr_expect_eq(r->size, k < 2 ? 0xFFFFF800u : 5u, "section %u size", k);
		cr_expect_eq(r->extent, g_array_index(recs, DirRec, first).extent + k * 0x1FFFFFu);
	}
	g_array_free(recs, TRUE);
}

Test(render, multi_extent_file_with_long_name_has_a_ce_per_section)
{
	char name[256];
	uint32_t nmeta;
	Walk w;

	memset(name, 'm', 255);
	name[255] = 0;
	tb_file(tb, name, 3 * 0xFFFFF800ull);
	lay = build_layout(tb_build(tb), NULL);
	nmeta = limg_layout_meta_blocks(lay);
	img_size = (size_t)nmeta * BLK;
	img = g_malloc(img_size);
	for (uint32_t b = 0; b < nmeta; b++)
		cr_assert_eq(limg_render_block(lay, b, img + (size_t)b * BLK), 0);
	walk_image(&w);
	cr_expect_eq(w.records, 2 + 3);
	/* The root's ER, and the NM continuation of each of the 3 sections. */
	cr_expect_eq(w.areas->len, 1 + 3);
	g_array_free(w.areas, TRUE);
}

/* ------------------------------------------------------------ pread */

static void
fill_mixed_tree(void)
{
	TbEntry *x;

	tb_file(tb, "a", 1);
	tb_file(tb, "b", 2047);
	tb_file(tb, "c", 2048);
	tb_file(tb, "d", 2049);
	tb_file(tb, "e", 0);
	tb_file(tb, "sub/f", 10000);
	x = tb_file(tb, "sub/g", 333);
	tb_link(tb, "h", x);
	tb_symlink(tb, "sub/l", "../a");
	tb_dev(tb, "sub/n", S_IFCHR, 1, 3);
}

Test(render, pread_of_any_range_equals_the_whole_image)
{
	SynthCtx ctx;
	uint8_t *buf;
	uint32_t x = 12345;

	fill_mixed_tree();
	build_and_render();
	ctx = (SynthCtx){ .tree = limg_layout_tree(lay) };
	buf = g_malloc(img_size + 4096);
	for (int i = 0; i < 2000; i++) {
		uint64_t off;
		size_t len;
		ssize_t n;

		x = x * 1664525u + 1013904223u;
		off = x % img_size;
		x = x * 1664525u + 1013904223u;
		len = i % 10 == 0 ? x % (img_size + 1) : x % 5000;
		n = th_pread(lay, buf, len, off, synth_read, &ctx);
		cr_assert_eq(n, (ssize_t)(off + len <= img_size ? len : img_size - off),
		             "read %zu at %" PRIu64 ": %zd", len, off, n);
		cr_assert(memcmp(buf, img + off, (size_t)n) == 0, "read %zu at %" PRIu64 " differs",
		          len, off);
	}
	cr_expect_eq(ctx.bad, 0);
	g_free(buf);
}

Test(render, pread_single_bytes_around_boundaries)
{
	SynthCtx ctx;
	uint8_t b;

	fill_mixed_tree();
	build_and_render();
	ctx = (SynthCtx){ .tree = limg_layout_tree(lay) };
	for (uint64_t blk = 0; blk < img_size / BLK; blk++) {
		uint64_t offs[4] = { blk * BLK, blk * BLK + 1, blk * BLK + 2046, blk * BLK + 2047 };

		for (int k = 0; k < 4; k++) {
			cr_assert_eq(th_pread(lay, &b, 1, offs[k], synth_read, &ctx), 1);
			cr_assert_eq(b, img[offs[k]], "byte %" PRIu64, offs[k]);
		}
	}
	cr_expect_eq(ctx.bad, 0);
}

Test(render, pread_past_the_end)
{
	SynthCtx ctx;
	uint8_t buf[4096];

	fill_mixed_tree();
	build_and_render();
	ctx = (SynthCtx){ .tree = limg_layout_tree(lay) };
	cr_expect_eq(th_pread(lay, buf, sizeof(buf), img_size, synth_read, &ctx), 0);
	cr_expect_eq(th_pread(lay, buf, sizeof(buf), img_size + 12345, synth_read, &ctx), 0);
	cr_expect_eq(th_pread(lay, buf, sizeof(buf), img_size - 10, synth_read, &ctx), 10);
	cr_expect_arr_eq(buf, img + img_size - 10, 10);
	cr_expect_eq(th_pread(lay, buf, 0, 100, synth_read, &ctx), 0);
}

static int
failing_read(void *ctx, uint32_t node, uint64_t off, void *buf, size_t len)
{
	(void)ctx;
	(void)node;
	(void)off;
	(void)buf;
	(void)len;
	return -EIO;
}

Test(render, pread_passes_read_errors_on)
{
	uint8_t buf[4096];
	TbEntry *f;

	f = tb_file(tb, "f", 100);
	lay = build_layout(tb_build(tb), NULL);
	cr_expect_eq(th_pread(lay, buf, 100,
	                               (uint64_t)limg_layout_node_lba(lay, f->idx) * BLK,
	                               failing_read, NULL), -EIO);
	/* Metadata alone never calls read_data. */
	cr_expect_eq(th_pread(lay, buf, sizeof(buf), 16 * BLK, failing_read, NULL),
	             (ssize_t)sizeof(buf));
}
