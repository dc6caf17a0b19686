/*
 * test-layout.c - from a tree to the image's shape (layout.h): sizes and
 * LBAs worked out by hand from the image map in layout.h, ECMA-119 and
 * SUSP record sizes, the segment map, hard links, multi-extent files,
 * determinism and the compatibility report.
 *
 * Sizes used throughout (bytes):
 *   root "." record: 33 + 1 (id 0x00) = 34 fixed; SUSP SP 7 + PX 44 + TF 26
 *     + ER 237 = 314 > 255 - 34, so ER goes to a continuation area: the
 *     root always has one CE block;
 *   path table of the root alone: 8 + 1 + 1 (pad) = 10 bytes, one block
 *     each for L and M;
 *   so an image's metadata is at least blocks 0..21: system area 0..15,
 *   PVD 16, terminator 17, L table 18, M table 19, root records 20, root
 *   CE 21.
 */
#include <config.h>

#include "iso/ecma119.h"
#include "lib/testlib.h"

static TreeBuilder *tb;
static LimgReport report;
static LimgLayout *lay;

static void
setup(void)
{
	tb = tb_new();
	limg_report_init(&report);
	lay = NULL;
}

static void
teardown(void)
{
	limg_layout_unref(lay);
	limg_report_release(&report);
	tb_free(tb);
}

TestSuite(layout, .init = setup, .fini = teardown);

static void
build(void)
{
	lay = build_layout(tb_build(tb), &report);
}

#define BLK 2048ull

/* Metadata blocks only, rendered one by one (no file data needed). */
static uint8_t *
render_meta(const LimgLayout *l, size_t *size)
{
	uint32_t n = limg_layout_meta_blocks(l);
	uint8_t *img = g_malloc((size_t)n * BLK);

	for (uint32_t b = 0; b < n; b++)
		cr_assert_eq(limg_render_block(l, b, img + (size_t)b * BLK), 0, "block %u", b);
	*size = (size_t)n * BLK;
	return img;
}

/* The records of the root directory, from the PVD's root record. */
static GArray *
root_records(const uint8_t *img, size_t size)
{
	DirRec root;

	parse_dr(img + 16 * BLK + 156, 16 * BLK + 156, &root);
	return read_dir(img, size, root.extent, root.size);
}

/* ------------------------------------------------------------ sizes */

Test(layout, empty_root_is_22_blocks)
{
	build();
	cr_expect_eq(limg_layout_meta_blocks(lay), 22);
	cr_expect_eq(limg_layout_size(lay), 22 * BLK);
	/* The root directory's records are at block 20. */
	cr_expect_eq(limg_layout_node_lba(lay, 0), 20);
	cr_expect_eq(limg_layout_tree(lay)->n_nodes, 1);
}

Test(layout, files_are_block_aligned_in_node_order)
{
	/*
	 * Byte order puts "B" (0x42) before "a" (0x61), so node order is
	 * B a c d e while the ISO order is A B C D E: data follows the nodes.
	 * Root records: "." 140 (34 + SP PX TF + CE = 105, padded even), ".."
	 * 104, five files of 38 + PX TF NM(6) = 114 each: one block.
	 */
	TbEntry *B, *a, *c, *d, *e;

	B = tb_file(tb, "B", 1);
	a = tb_file(tb, "a", 2048);
	c = tb_file(tb, "c", 2049);
	d = tb_file(tb, "d", 0);
	e = tb_file(tb, "e", 5);
	build();
	cr_assert_eq(B->idx, 1);
	cr_assert_eq(a->idx, 2);
	cr_expect_eq(limg_layout_meta_blocks(lay), 22);
	cr_expect_eq(limg_layout_node_lba(lay, B->idx), 22);
	cr_expect_eq(limg_layout_node_lba(lay, a->idx), 23);
	cr_expect_eq(limg_layout_node_lba(lay, c->idx), 24);
	cr_expect_eq(limg_layout_node_lba(lay, d->idx), 0, "an empty file has no extent");
	cr_expect_eq(limg_layout_node_lba(lay, e->idx), 26);
	cr_expect_eq(limg_layout_size(lay), 27 * BLK);
}

Test(layout, subdirectory_records_follow_the_root_and_its_ce_block)
{
	TbEntry *d, *f;

	d = tb_dir(tb, "d");
	f = tb_file(tb, "d/f", 1);
	build();
	/* 18 L, 19 M (20 bytes of path table), 20 root, 21 root CE, 22 d. */
	cr_expect_eq(limg_layout_node_lba(lay, d->idx), 22);
	cr_expect_eq(limg_layout_meta_blocks(lay), 23);
	cr_expect_eq(limg_layout_node_lba(lay, f->idx), 23);
	cr_expect_eq(limg_layout_size(lay), 24 * BLK);
}

Test(layout, hard_links_share_an_extent)
{
	TbEntry *x, *y, *z;

	x = tb_file(tb, "x", 100);
	y = tb_link(tb, "y", x);
	z = tb_file(tb, "z", 10);
	build();
	cr_expect_eq(limg_layout_node_lba(lay, x->idx), 22);
	cr_expect_eq(limg_layout_node_lba(lay, y->idx), 22);
	cr_expect_eq(limg_layout_node_lba(lay, z->idx), 23);
	cr_expect_eq(limg_layout_size(lay), 24 * BLK);
	cr_expect_eq(limg_layout_tree(lay)->data_bytes, 110, "linked data counted once");
}

Test(layout, nodes_without_data_have_lba_0)
{
	TbEntry *e[5];

	e[0] = tb_file(tb, "empty", 0);
	e[1] = tb_symlink(tb, "link", "target");
	e[2] = tb_dev(tb, "null", S_IFCHR, 1, 3);
	e[3] = tb_fifo(tb, "pipe");
	e[4] = tb_sock(tb, "sock");
	build();
	for (int i = 0; i < 5; i++)
		cr_expect_eq(limg_layout_node_lba(lay, e[i]->idx), 0, "%s", e[i]->path);
	cr_expect_eq(limg_layout_size(lay), (uint64_t)limg_layout_meta_blocks(lay) * BLK);
}

Test(layout, image_size_is_whole_blocks)
{
	static const uint64_t sizes[] = { 1, 2047, 2048, 2049, 4095, 12345, 100000 };
	char name[16];

	for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		tb_file(tb, name, sizes[i]);
	}
	tb_symlink(tb, "s", "f1");
	build();
	cr_expect_eq(limg_layout_size(lay) % 2048, 0);
	/* 1 + 1 + 1 + 2 + 2 + 7 + 49 blocks of data after the metadata. */
	cr_expect_eq(limg_layout_size(lay), (limg_layout_meta_blocks(lay) + 63ull) * BLK);
}

/* ------------------------------------------------------------ multi-extent */

/* The records of the root whose NM is @name, in order. */
static GArray *
records_named(const uint8_t *img, size_t size, const char *name)
{
	GArray *recs = root_records(img, size);
	GArray *out = g_array_new(FALSE, FALSE, sizeof(DirRec));

	for (guint i = 2; i < recs->len; i++) {
		DirRec *r = &g_array_index(recs, DirRec, i);
		GArray *su = susp_entries(img, size, r);
		g_autofree char *nm = susp_nm(su, NULL);

		if (strcmp(nm, name) == 0)
			g_array_append_val(out, *r);
		g_array_free(su, TRUE);
	}
	g_array_free(recs, TRUE);
	return out;
}

Test(layout, file_of_4_gib_plus_1_is_two_sections)
{
	const uint64_t size = 0x100000001ull;
	g_autofree uint8_t *img = NULL;
	size_t isz;
	GArray *recs;
	TbEntry *big;
	LimgSegment seg;

	big = tb_file(tb, "big", size);
	build();
	cr_expect_eq(limg_layout_node_lba(lay, big->idx), 22);
	/* ceil(0x100000001 / 2048) = 0x200001 blocks. */
	cr_expect_eq(limg_layout_size(lay), (22 + 0x200001ull) * BLK);
	img = render_meta(lay, &isz);
	recs = records_named(img, isz, "big");
	cr_assert_eq(recs->len, 2);
	{
		DirRec *a = &g_array_index(recs, DirRec, 0), *b = &g_array_index(recs, DirRec, 1);

		cr_expect_eq(a->extent, 22);
		cr_expect_eq(a->size, 0xFFFFF800u);
		cr_expect_eq(a->flags, 0x80);
		/* 0xFFFFF800 / 2048 = 0x1FFFFF blocks later. */
		cr_expect_eq(b->extent, 22 + 0x1FFFFFu);
		cr_expect_eq(b->size, 0x801u);
		cr_expect_eq(b->flags, 0);
	}
	g_array_free(recs, TRUE);

	cr_assert_eq(limg_layout_segment(lay, 22 * BLK, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_DATA);
	cr_expect_eq(seg.node, big->idx);
	cr_expect_eq(seg.file_offset, 0);
	cr_expect_eq(seg.length, size);
	cr_assert_eq(limg_layout_segment(lay, 22 * BLK + 0xFFFFF800ull, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_DATA);
	cr_expect_eq(seg.file_offset, 0xFFFFF800ull);
	cr_expect_eq(seg.length, 0x801);
	cr_assert_eq(limg_layout_segment(lay, 22 * BLK + size, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_ZERO);
	cr_expect_eq(seg.length, 2047);
}

Test(layout, file_of_0xffffffff_bytes_is_one_section)
{
	g_autofree uint8_t *img = NULL;
	size_t isz;
	GArray *recs;

	tb_file(tb, "max", 0xFFFFFFFFull);
	build();
	cr_expect_eq(limg_layout_size(lay), (22 + 0x200000ull) * BLK);
	img = render_meta(lay, &isz);
	recs = records_named(img, isz, "max");
	cr_assert_eq(recs->len, 1);
	cr_expect_eq(g_array_index(recs, DirRec, 0).size, 0xFFFFFFFFu);
	cr_expect_eq(g_array_index(recs, DirRec, 0).flags, 0);
	cr_expect_eq(g_array_index(recs, DirRec, 0).extent, 22);
	g_array_free(recs, TRUE);
}

Test(layout, file_of_100_sections_is_accepted)
{
	g_autofree uint8_t *img = NULL;
	size_t isz;
	GArray *recs;

	tb_file(tb, "huge", 100 * 0xFFFFF800ull);
	build();
	img = render_meta(lay, &isz);
	recs = records_named(img, isz, "huge");
	cr_assert_eq(recs->len, 100);
	for (guint i = 0; i < recs->len; i++) {
		DirRec *r = &g_array_index(recs, DirRec, i);

		cr_expect_eq(r->size, 0xFFFFF800u, "section %u", i);
		cr_expect_eq(r->flags, i + 1 < recs->len ? 0x80 : 0, "section %u", i);
		cr_expect_eq(r->extent, g_array_index(recs, DirRec, 0).extent + i * 0x1FFFFFu);
	}
	g_array_free(recs, TRUE);
}

Test(layout, file_over_100_sections_is_efbig)
{
	LimgLayout *l = (LimgLayout *)0x1;

	tb_file(tb, "toobig", 100 * 0xFFFFF800ull + 1);
	cr_expect_eq(limg_layout_build(tb_build(tb), NULL, &report, &l), -EFBIG);
	cr_expect_null(l);
	cr_expect_geq(report.errors->len, 1, "the error is described in the report");
}

/*
 * Found by tests/fuzz/fuzz-persist: a size of 2^63 (a tar header or a
 * cache file may say any) was 2^31 sections, each packed as a record
 * before the section count was checked: the layout never finished.
 */
Test(layout, file_of_2_63_bytes_is_efbig_at_once, .timeout = 10)
{
	LimgLayout *l = NULL;

	tb_file(tb, "vast", 1ull << 63);
	cr_expect_eq(limg_layout_build(tb_build(tb), NULL, &report, &l), -EFBIG);
	cr_expect_null(l);
}

/* Sizes near 2^64 wrapped the section count to a small number (0 here). */
Test(layout, file_of_2_64_minus_1_bytes_is_efbig, .timeout = 10)
{
	LimgLayout *l = NULL;

	tb_file(tb, "wraps", UINT64_MAX);
	cr_expect_eq(limg_layout_build(tb_build(tb), NULL, &report, &l), -EFBIG);
	cr_expect_null(l);
}

Test(layout, tree_without_root_directory_is_einval)
{
	LimgTree *t = limg_tree_new();
	LimgLayout *l = (LimgLayout *)0x1;
	LimgNode n = { .mode = S_IFREG | 0644 };
	uint32_t idx;

	cr_expect_eq(limg_layout_build(limg_tree_new(), NULL, NULL, &l), -EINVAL);
	cr_expect_null(l);
	cr_assert_eq(limg_tree_add(t, &n, "", 0, &idx), 0);
	cr_expect_eq(limg_layout_build(t, NULL, &report, &l), -EINVAL);
	cr_expect_null(l);
}

/* ------------------------------------------------------------ segments */

Test(layout, segments_cover_the_image)
{
	TbEntry *a, *b, *e, *c;
	LimgSegment seg;
	uint64_t meta;

	a = tb_file(tb, "a", 3000);    /* blocks 22-23 */
	e = tb_file(tb, "b", 0);
	b = tb_file(tb, "c", 4096);    /* blocks 24-25, no padding */
	c = tb_file(tb, "d", 1);       /* block 26 */
	build();
	meta = (uint64_t)limg_layout_meta_blocks(lay) * BLK;
	cr_assert_eq(meta, 22 * BLK);

	cr_assert_eq(limg_layout_segment(lay, 0, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_ZERO, "system area");
	cr_expect_eq(seg.offset, 0);
	cr_expect_eq(seg.length, 16 * BLK);
	cr_assert_eq(limg_layout_segment(lay, 100, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_ZERO);
	cr_expect_eq(seg.length, 16 * BLK - 100);

	cr_assert_eq(limg_layout_segment(lay, 16 * BLK, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_META);
	cr_expect_eq(seg.length, meta - 16 * BLK);
	cr_assert_eq(limg_layout_segment(lay, meta - 1, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_META);
	cr_expect_eq(seg.length, 1);

	cr_assert_eq(limg_layout_segment(lay, 22 * BLK, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_DATA);
	cr_expect_eq(seg.node, a->idx);
	cr_expect_eq(seg.file_offset, 0);
	cr_expect_eq(seg.length, 3000);
	cr_assert_eq(limg_layout_segment(lay, 22 * BLK + 2999, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_DATA);
	cr_expect_eq(seg.file_offset, 2999);
	cr_expect_eq(seg.length, 1);
	cr_assert_eq(limg_layout_segment(lay, 22 * BLK + 3000, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_ZERO, "padding after the last byte");
	cr_expect_eq(seg.offset, 22 * BLK + 3000);
	cr_expect_eq(seg.length, 4096 - 3000);

	cr_assert_eq(limg_layout_segment(lay, 24 * BLK + 5, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_DATA);
	cr_expect_eq(seg.node, b->idx);
	cr_expect_eq(seg.file_offset, 5);
	cr_expect_eq(seg.length, 4091);

	cr_assert_eq(limg_layout_segment(lay, 26 * BLK, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_DATA);
	cr_expect_eq(seg.node, c->idx);
	cr_expect_eq(seg.length, 1);
	cr_assert_eq(limg_layout_segment(lay, 26 * BLK + 1, &seg), 0);
	cr_expect_eq(seg.kind, LIMG_SEG_ZERO);
	cr_expect_eq(seg.length, 2047, "padding to the end of the image");
	cr_expect_eq(limg_layout_size(lay), 27 * BLK);

	cr_expect_eq(limg_layout_segment(lay, 27 * BLK, &seg), -EINVAL);
	cr_expect_eq(limg_layout_segment(lay, UINT64_MAX, &seg), -EINVAL);
	(void)e;
}

Test(layout, segments_tile_the_image_without_gaps)
{
	uint64_t off = 0, size;
	uint64_t data[8] = { 0 };
	TbEntry *f[4];

	f[0] = tb_file(tb, "dir/one", 5000);
	f[1] = tb_file(tb, "dir/two", 1);
	f[2] = tb_file(tb, "three", 2048);
	f[3] = tb_link(tb, "four", f[0]);
	tb_symlink(tb, "dir/link", "../three");
	build();
	size = limg_layout_size(lay);
	while (off < size) {
		LimgSegment seg;

		cr_assert_eq(limg_layout_segment(lay, off, &seg), 0);
		cr_assert_eq(seg.offset, off);
		cr_assert_gt(seg.length, 0);
		cr_assert_leq(off + seg.length, size);
		if (seg.kind == LIMG_SEG_DATA) {
			cr_assert_lt(seg.node, 8);
			cr_expect_eq(seg.file_offset, data[seg.node], "file data in order, once");
			data[seg.node] += seg.length;
			cr_expect_eq(off, (uint64_t)limg_layout_node_lba(lay, seg.node) * BLK +
			             seg.file_offset);
		}
		off += seg.length;
	}
	cr_expect_eq(off, size);
	cr_expect_eq(data[f[0]->idx] + data[f[3]->idx], 5000, "one extent for the link group");
	cr_expect_eq(data[f[1]->idx], 1);
	cr_expect_eq(data[f[2]->idx], 2048);
}

/* ------------------------------------------------------------ determinism */

static void
fill_tree(TreeBuilder *t, uint64_t ino_base, uint64_t dev)
{
	TbEntry *x;

	t->next_ino = ino_base;
	tb_file(t, "etc/passwd", 1234);
	tb_file(t, "etc/hostname", 7);
	x = tb_file(t, "usr/bin/tool", 70000);
	tb_link(t, "usr/bin/tool-alias", x);
	tb_symlink(t, "usr/lib64", "lib");
	tb_dir(t, "usr/lib");
	tb_dev(t, "dev/null", S_IFCHR, 1, 3);
	tb_dev(t, "wh", S_IFCHR, 0, 0);
	tb_fifo(t, "run/fifo");
	for (guint i = 0; i < t->ents->len; i++) {
		TbEntry *e = t->ents->pdata[i];

		e->node.dev = dev;
		e->node.ctime.sec = (int64_t)ino_base * 3;   /* never rendered */
	}
}

Test(layout, same_tree_renders_identical_bytes)
{
	TreeBuilder *t2 = tb_new();
	LimgLayout *l2;
	g_autofree uint8_t *i1 = NULL, *i2 = NULL;
	size_t s1, s2;

	fill_tree(tb, 1000, 7);
	fill_tree(t2, 1000, 7);
	build();
	l2 = build_layout(tb_build(t2), NULL);
	i1 = render_image(lay, &s1);
	i2 = render_image(l2, &s2);
	cr_expect_eq(s1, s2);
	cr_expect(s1 == s2 && memcmp(i1, i2, s1) == 0, "two builds of one tree differ");
	limg_layout_unref(l2);
	tb_free(t2);
}

Test(layout, host_inode_device_and_ctime_do_not_change_the_image)
{
	TreeBuilder *t2 = tb_new();
	LimgLayout *l2;
	g_autofree uint8_t *i1 = NULL, *i2 = NULL;
	size_t s1, s2;

	fill_tree(tb, 1000, 7);
	fill_tree(t2, 987654321, 0xfd01);
	build();
	l2 = build_layout(tb_build(t2), NULL);
	i1 = render_image(lay, &s1);
	i2 = render_image(l2, &s2);
	cr_expect(s1 == s2 && memcmp(i1, i2, s1) == 0, "host identity leaked into the image");
	limg_layout_unref(l2);
	tb_free(t2);
}

Test(layout, layout_is_refcounted)
{
	LimgLayout *r;

	build();
	r = limg_layout_ref(lay);
	cr_expect_eq(r, lay);
	limg_layout_unref(r);
	/* Still alive: the fixture's reference remains. */
	cr_expect_eq(limg_layout_size(lay), 22 * BLK);
	cr_expect_gt(limg_layout_mem_bytes(lay), 0);
}

/* ------------------------------------------------------------ compat report */

Test(layout, compat_report_counts_each_finding)
{
	char longname[255];
	TbEntry *f;

	tb_file(tb, "big", 0x100000001ull);
	memset(longname, 'l', 254);
	longname[254] = 0;
	tb_file(tb, longname, 1);
	longname[253] = 0;
	tb_file(tb, longname, 1);                      /* 253: not long */
	f = tb_file(tb, "y2040", 1);
	f->node.mtime.sec = 25626LL * 86400;          /* 2040-02-29 */
	tb_dev(tb, "wide", S_IFCHR, 259, 65536);
	tb_dev(tb, "narrow", S_IFBLK, 8, 1);
	tb_sock(tb, "sock");
	f = tb_fifo(tb, "fifo1");
	tb_link(tb, "fifo2", f);
	f = tb_file(tb, "data1", 10);
	tb_link(tb, "data2", f);                       /* regular with data: fine */
	build();
	cr_expect_eq(report.compat_count[LIMG_COMPAT_BIG_FILE], 1);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_LONG_NAME], 1);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_TIME_32BIT], 1);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_TIME_CLAMPED], 0);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_DEV_WIDE], 1);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_SOCKET], 1);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_SPECIAL_LINK], 1, "one group of linked fifos");
	cr_expect_eq(report.compat_count[LIMG_COMPAT_XATTR], 0);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_MANY_DIRS], 0);
	cr_expect_str_eq(report.compat_example[LIMG_COMPAT_BIG_FILE], "big");
	cr_expect_str_eq(report.compat_example[LIMG_COMPAT_SOCKET], "sock");
	cr_expect_str_eq(report.compat_example[LIMG_COMPAT_DEV_WIDE], "wide");
	cr_expect_str_eq(report.compat_example[LIMG_COMPAT_TIME_32BIT], "y2040");
	cr_expect_eq(report.errors->len, 0);
}

Test(layout, compat_report_clamped_times_and_empty_links)
{
	TbEntry *f;

	f = tb_file(tb, "old", 1);
	f->node.mtime.sec = -2208988801LL;     /* 1899-12-31T23:59:59Z */
	f = tb_file(tb, "pre1901", 1);
	f->node.mtime.sec = -2208988800LL;     /* 1900: fits 7 bytes, not 32 bits */
	f = tb_file(tb, "empty1", 0);
	tb_link(tb, "empty2", f);
	f = tb_symlink(tb, "sym1", "x");
	tb_link(tb, "sym2", f);
	build();
	cr_expect_eq(report.compat_count[LIMG_COMPAT_TIME_CLAMPED], 1);
	cr_expect_eq(report.compat_count[LIMG_COMPAT_TIME_32BIT], 1);
	cr_expect_str_eq(report.compat_example[LIMG_COMPAT_TIME_CLAMPED], "old");
	cr_expect_eq(report.compat_count[LIMG_COMPAT_SPECIAL_LINK], 2);
}
