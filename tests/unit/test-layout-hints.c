/*
 * test-layout-hints.c - a layout's hints (layout.h, layout-hints.c):
 * given back for the same tree they are taken and change nothing of the
 * image; hints that do not fit the tree (another tree, damage, another
 * version) are set aside and the image is the one a build without hints
 * makes; hints that pass the checks but are wrong anyway may give a
 * wrong image, never a crash or an access out of bounds (the suite runs
 * under ASan and UBSan with --enable-sanitizers).
 *
 * limg_layout_build() takes its tree, so every layout here gets a tree
 * of its own, made again by the same builder calls (a Shape): identical
 * trees, as the disk cache gives back the tree it saved.
 *
 * The hints are read here from the format in layout-hints.c's header
 * (HintsView), not through the engine's structures: a test that damages
 * one field knows where it is from the documentation alone.
 */
#include <config.h>

#include "lib/testlib.h"

#define BLK 2048ull

TestSuite(layout_hints);

/* ------------------------------------------------------------ trees */

typedef struct {
	void (*fill)(TreeBuilder *tb);
	/* Runs on the built tree (node indices known): extended attributes. */
	void (*post)(LimgTree *t, TreeBuilder *tb);
} Shape;

static LimgTree *
make_tree(const Shape *s)
{
	TreeBuilder *tb = tb_new();
	LimgTree *t;

	if (s->fill)
		s->fill(tb);
	t = tb_build(tb);
	if (s->post)
		s->post(t, tb);
	tb_free(tb);
	return t;
}

/* Lay out a new tree of @s with @hints (may be NULL); 0 or -errno. */
static int
try_lay_out(const Shape *s, GBytes *hints, LimgLayout **out)
{
	LimgLayoutOptions opts = { .hints = hints };

	return limg_layout_build(make_tree(s), &opts, NULL, out);
}

static LimgLayout *
lay_out(const Shape *s, GBytes *hints)
{
	LimgLayout *l = NULL;
	int ret = try_lay_out(s, hints, &l);

	cr_assert_eq(ret, 0, "limg_layout_build: %d", ret);
	return l;
}

/* @n attributes "user.kN" of @len bytes each on @path. */
static void
put_xattrs(LimgTree *t, TreeBuilder *tb, const char *path, size_t n, uint32_t len)
{
	char **names = g_new0(char *, n + 1);
	uint8_t **values = g_new0(uint8_t *, n);
	uint32_t *lens = g_new(uint32_t, n);

	for (size_t i = 0; i < n; i++) {
		names[i] = g_strdup_printf("user.k%zu", i);
		values[i] = g_malloc(len ? len : 1);
		for (uint32_t k = 0; k < len; k++)
			values[i][k] = (uint8_t)(i * 31 + k * 7);
		lens[i] = len;
	}
	cr_assert_eq(limg_tree_set_xattrs(t, tb_get(tb, path)->idx, n,
	                                  (const char *const *)names,
	                                  (const void *const *)values, lens), 0);
	for (size_t i = 0; i < n; i++)
		g_free(values[i]);
	g_strfreev(names);
	g_free(values);
	g_free(lens);
}

/* A symlink target of @len bytes: components of varied length, some longer than 255. */
static char *
long_target(size_t len, unsigned seed)
{
	char *s = g_malloc(len + 1);
	size_t comp = 0;

	for (size_t i = 0; i < len; i++) {
		size_t want = 5 + (seed * 7 + i / 97) % 300;

		s[i] = comp >= want && i + 1 < len ? '/' : (char)('a' + (i + seed) % 26);
		comp = s[i] == '/' ? 0 : comp + 1;
	}
	s[len] = 0;
	return s;
}

/* @prefix, then letters up to @len bytes: a name (or a path whose last component is long). */
static char *
long_name(const char *prefix, size_t len)
{
	char *s = g_malloc(len + 1);
	size_t pl = strlen(prefix);

	for (size_t i = 0; i < len; i++)
		s[i] = i < pl ? prefix[i] : (char)('A' + i % 52 % 26 + (i % 52 >= 26 ? 32 : 0));
	s[len] = 0;
	return s;
}

static void
fill_big_dir(TreeBuilder *tb)
{
	char name[64];

	/* 2100 records of ~110 bytes: over a hundred blocks of records. */
	for (int i = 0; i < 2100; i++) {
		snprintf(name, sizeof(name), "many/file-%04d.%s", i,
		         i % 3 == 0 ? "txt" : i % 3 == 1 ? "conf" : "a.b");
		tb_file(tb, name, (uint64_t)(i % 5) * 1000);
	}
	tb_dir(tb, "other");
	tb_file(tb, "other/x", 1);
}

static void
fill_deep(TreeBuilder *tb)
{
	GString *p = g_string_new(NULL);
	char name[128];

	for (int d = 0; d < 48; d++) {
		g_autofree char *f = NULL;

		g_string_append_printf(p, "%sd%02d", d ? "/" : "", d);
		tb_dir(tb, p->str);
		f = g_strdup_printf("%s/file%d", p->str, d);
		tb_file(tb, f, (uint64_t)d + 1);
	}
	/* 31-character directory names: the path table takes several blocks. */
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "wide/directory-with-long-name%03d", i);
		tb_dir(tb, name);
	}
	g_string_free(p, TRUE);
}

static void
fill_collisions(TreeBuilder *tb)
{
	static const char *const names[] = {
		"a.b.c", "a_b.c", "A.B.C", "a.b_c", "Foo", "foo", "FOO", "fOO.",
		"x.abcdefghij1", "x.abcdefghij2", "x.abcdefghij3",
		"a.c", "A.c", "a_1.c", "a_2.c", "a-1.c",
		"this-is-a-very-long-name-that-only-differs-at-the-end-1",
		"this-is-a-very-long-name-that-only-differs-at-the-end-2",
		"this-is-a-very-long-name-that-only-differs-at-the-end-3",
		".hidden", "_hidden", "-hidden", NULL,
	};
	char name[96];

	for (const char *const *n = names; *n; n++) {
		tb_file(tb, *n, 3);
		snprintf(name, sizeof(name), "sub/%s", *n);
		tb_file(tb, name, 4);
	}
	/* A directory FOO collides with a file "FOO." (names.h). */
	tb_dir(tb, "sub/foo.d");
	tb_dir(tb, "foo.");
	tb_dir(tb, "FOO.");
	tb_file(tb, "foo.x", 1);
	/* Twelve names of one identifier: suffixes _1 .. _11. */
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "many/name%c.txt", "!#$%&+,-=@^~"[i]);
		tb_file(tb, name, 0);
	}
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "dirs/long-directory-name-past-31-chars-%02d", i);
		tb_dir(tb, name);
	}
}

static void
fill_long(TreeBuilder *tb)
{
	static const size_t name_lens[] = { 200, 213, 229, 240, 254, 255 };
	static const size_t target_lens[] = { 300, 700, 1500, 2600, 3900, 4000 };

	for (size_t i = 0; i < G_N_ELEMENTS(name_lens); i++) {
		g_autofree char *n = long_name(i % 2 ? "file-" : "sub/file-", name_lens[i]);
		g_autofree char *dn = long_name("dir-", name_lens[i]);
		g_autofree char *in = NULL;

		tb_file(tb, n, 10 * i);
		in = g_strdup_printf("%s/inner", dn);
		tb_file(tb, in, 1);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(target_lens); i++) {
		g_autofree char *t = long_target(target_lens[i], (unsigned)i);
		g_autofree char *n = g_strdup_printf("links/l%zu", i);
		g_autofree char *ln = long_name("links/long-", 240 + i * 3);

		tb_symlink(tb, n, t);
		/* both NM and SL continue, in one chain */
		tb_symlink(tb, ln, t);
	}
	tb_symlink(tb, "links/short", "x");
}

static void
fill_xattr_tree(TreeBuilder *tb)
{
	tb_file(tb, "small", 5);
	tb_file(tb, "big", 5);
	tb_file(tb, "many", 5);
	tb_file(tb, "plain", 5);
	tb_dir(tb, "dir");
	tb_file(tb, "dir/f", 1);
}

static void
post_xattrs(LimgTree *t, TreeBuilder *tb)
{
	put_xattrs(t, tb, "small", 1, 10);
	/* 3 x 3000 bytes: an AL chain through several continuation areas */
	put_xattrs(t, tb, "big", 3, 3000);
	put_xattrs(t, tb, "many", 60, 40);
	put_xattrs(t, tb, "dir", 2, 1500);
	/* the root's attributes go in its "." record */
	put_xattrs(t, tb, "", 2, 700);
}

static void
post_tiny_xattr(LimgTree *t, TreeBuilder *tb)
{
	put_xattrs(t, tb, "small", 1, 4);
}

#define GiB (1ull << 30)

static void
fill_big_files(TreeBuilder *tb)
{
	char name[64];

	tb_file(tb, "five-gib", 5 * GiB);
	tb_file(tb, "ten-gib", 10 * GiB + 1);
	tb_file(tb, "one-section", 0xFFFFF800ull);
	tb_file(tb, "two-sections", 0xFFFFF801ull);
	tb_file(tb, "small", 100);
	/* 3 records each: some blocks start at section 1 or 2 of a file */
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "big/huge-file-%02d", i);
		tb_file(tb, name, 10 * GiB + (uint64_t)i);
	}
}

static void
fill_links(TreeBuilder *tb)
{
	TbEntry *f = tb_file(tb, "f", 3000);
	TbEntry *g = tb_file(tb, "g", 10);
	TbEntry *e = tb_file(tb, "empty", 0);
	TbEntry *s = tb_symlink(tb, "s", "target");
	TbEntry *c = tb_dev(tb, "c", S_IFCHR, 1, 3);

	tb_link(tb, "d/f2", f);
	tb_link(tb, "d/g2", g);
	tb_link(tb, "d/e/g3", g);
	tb_link(tb, "empty2", e);
	tb_link(tb, "s2", s);
	tb_link(tb, "d/c2", c);
}

static void
fill_special(TreeBuilder *tb)
{
	tb_dev(tb, "dev/null", S_IFCHR, 1, 3);
	tb_dev(tb, "dev/sda", S_IFBLK, 8, 0);
	tb_dev(tb, "dev/wide", S_IFCHR, 300, 70000);
	tb_dev(tb, "dev/.wh.gone", S_IFCHR, 0, 0);
	tb_fifo(tb, "run/fifo");
	tb_sock(tb, "run/sock");
	tb_file(tb, "run/file", 1);
}

/* A bit of everything, small: used for the damage tests (must stay fast). */
static void
fill_small(TreeBuilder *tb)
{
	char name[64];
	g_autofree char *t1 = long_target(600, 1);
	g_autofree char *t2 = long_target(2500, 2);
	g_autofree char *ln = long_name("sub/", 240);
	TbEntry *f;

	/* 40 files: the root's records take three blocks */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "file-%02d.txt", i);
		tb_file(tb, name, (uint64_t)i * 100);
	}
	tb_file(tb, "a.b.c", 1);
	tb_file(tb, "a_b.c", 1);
	tb_symlink(tb, "link1", t1);
	tb_symlink(tb, "link2", t2);
	tb_file(tb, ln, 7);
	f = tb_file(tb, "sub/x", 9);
	tb_link(tb, "sub/y", f);
	tb_dev(tb, "sub/null", S_IFCHR, 1, 3);
	tb_fifo(tb, "sub/fifo");
}

static void
post_small(LimgTree *t, TreeBuilder *tb)
{
	put_xattrs(t, tb, "file-03.txt", 2, 300);
}

static void
fill_mixed(TreeBuilder *tb)
{
	fill_special(tb);
	fill_links(tb);
	tb_file(tb, "huge/five", 5 * GiB);
	tb_file(tb, "x/a.b.c", 1);
	tb_file(tb, "x/a_b.c", 1);
	tb_file(tb, "x/Foo", 1);
	tb_file(tb, "x/foo", 1);
	tb_symlink(tb, "x/long", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/"
	           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
	           "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/"
	           "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
}

static void
post_mixed(LimgTree *t, TreeBuilder *tb)
{
	put_xattrs(t, tb, "x/foo", 4, 1000);
}

static void
fill_wide(TreeBuilder *tb)
{
	char name[32];

	/* More than 65536 entries in one directory: 4-byte order entries. */
	for (int i = 0; i < 65600; i++) {
		snprintf(name, sizeof(name), "w/%05x", i);
		tb_file(tb, name, 0);
	}
}

static const Shape shape_empty = { NULL, NULL };
static const Shape shape_big_dir = { fill_big_dir, NULL };
static const Shape shape_deep = { fill_deep, NULL };
static const Shape shape_collisions = { fill_collisions, NULL };
static const Shape shape_long = { fill_long, NULL };
static const Shape shape_xattrs = { fill_xattr_tree, post_xattrs };
static const Shape shape_tiny_xattr = { fill_xattr_tree, post_tiny_xattr };
static const Shape shape_no_xattrs = { fill_xattr_tree, NULL };
static const Shape shape_big_files = { fill_big_files, NULL };
static const Shape shape_links = { fill_links, NULL };
static const Shape shape_special = { fill_special, NULL };
static const Shape shape_small = { fill_small, post_small };
static const Shape shape_mixed = { fill_mixed, post_mixed };
static const Shape shape_wide = { fill_wide, NULL };

/* ------------------------------------------------------------ the hints, read by their format */

typedef struct {
	uint32_t magic, n_nodes, n_dirs, n_blk, n_ce, names_len, width;
	/* byte offsets of the sections */
	size_t iso_len, names, order, dirs, blk, ces, end;
} HintsView;

static size_t
pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static uint32_t
get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, 4);
	return v;
}

static void
put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

/* Asserts that @p / @len is laid out as layout-hints.c says. */
static HintsView
hv_parse(const uint8_t *p, size_t len)
{
	HintsView v;

	cr_assert_geq(len, 28);
	v.magic = get32(p, 0);
	v.n_nodes = get32(p, 4);
	v.n_dirs = get32(p, 8);
	v.n_blk = get32(p, 12);
	v.n_ce = get32(p, 16);
	v.names_len = get32(p, 20);
	v.width = get32(p, 24);
	cr_assert(v.width == 2 || v.width == 4, "order width %u", v.width);
	v.iso_len = 28;
	v.names = v.iso_len + pad4(v.n_nodes);
	v.order = v.names + pad4(v.names_len);
	v.dirs = v.order + pad4((size_t)v.width * v.n_nodes);
	v.blk = v.dirs + 12 * (size_t)v.n_dirs;
	v.ces = v.blk + 12 * (size_t)v.n_blk;
	v.end = v.ces + 20 * (size_t)v.n_ce;
	cr_assert_eq(v.end, len, "sections add up to %zu, not %zu", v.end, len);
	return v;
}

static HintsView
hv_of(GBytes *h)
{
	gsize len;
	const uint8_t *p = g_bytes_get_data(h, &len);

	return hv_parse(p, len);
}

/* Largest piece number of any continuation area. */
static uint32_t
hv_max_piece(GBytes *h)
{
	const uint8_t *p = g_bytes_get_data(h, NULL);
	HintsView v = hv_of(h);
	uint32_t m = 0;

	for (uint32_t i = 0; i < v.n_ce; i++)
		m = MAX(m, get32(p, v.ces + 20 * (size_t)i + 16) & 0xFFFF);
	return m;
}

/* Largest number of record blocks of one directory. */
static uint32_t
hv_max_blocks(GBytes *h)
{
	const uint8_t *p = g_bytes_get_data(h, NULL);
	HintsView v = hv_of(h);
	uint32_t m = 0;

	for (uint32_t i = 0; i < v.n_dirs; i++)
		m = MAX(m, get32(p, v.dirs + 12 * (size_t)i));
	return m;
}

/* Whether some identifier contains @s. */
static bool
hv_has_name(GBytes *h, const char *s)
{
	gsize len;
	const uint8_t *p = g_bytes_get_data(h, &len);
	HintsView v = hv_of(h);

	return memmem(p + v.names, v.names_len, s, strlen(s)) != NULL;
}

/* ------------------------------------------------------------ comparing layouts */

typedef struct {
	uint64_t size;
	uint32_t meta;
	uint32_t n_nodes;
	uint8_t *blocks;
	uint32_t *lba;
} Snapshot;

/* Every metadata block of @l (each must render) and every node's LBA. */
static void
snap_take(const LimgLayout *l, Snapshot *s)
{
	s->size = limg_layout_size(l);
	s->meta = limg_layout_meta_blocks(l);
	s->n_nodes = limg_layout_tree(l)->n_nodes;
	cr_assert_leq(s->meta, 1u << 16, "%u metadata blocks: too many for a test", s->meta);
	s->blocks = g_malloc((size_t)s->meta * BLK);
	for (uint32_t b = 0; b < s->meta; b++) {
		int ret = limg_render_block(l, b, s->blocks + (size_t)b * BLK);

		cr_assert_eq(ret, 0, "block %u: %d", b, ret);
	}
	s->lba = g_new(uint32_t, s->n_nodes);
	for (uint32_t i = 0; i < s->n_nodes; i++)
		s->lba[i] = limg_layout_node_lba(l, i);
}

static void
snap_release(Snapshot *s)
{
	g_free(s->blocks);
	g_free(s->lba);
}

/* Where @l differs from @s, or NULL. Caller frees. */
static char *
snap_diff(const Snapshot *s, const LimgLayout *l)
{
	uint8_t blk[BLK];

	if (limg_layout_size(l) != s->size)
		return g_strdup_printf("size %" PRIu64 ", not %" PRIu64, limg_layout_size(l), s->size);
	if (limg_layout_meta_blocks(l) != s->meta)
		return g_strdup_printf("%u metadata blocks, not %u", limg_layout_meta_blocks(l),
		                       s->meta);
	if (limg_layout_tree(l)->n_nodes != s->n_nodes)
		return g_strdup("another node count");
	for (uint32_t b = 0; b < s->meta; b++) {
		int ret = limg_render_block(l, b, blk);

		if (ret != 0)
			return g_strdup_printf("block %u: render returned %d", b, ret);
		if (memcmp(blk, s->blocks + (size_t)b * BLK, BLK) != 0)
			return g_strdup_printf("block %u differs", b);
	}
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		if (limg_layout_node_lba(l, i) != s->lba[i])
			return g_strdup_printf("node %u: LBA %u, not %u", i,
			                       limg_layout_node_lba(l, i), s->lba[i]);
	}
	return NULL;
}

static bool
same_segment(const LimgSegment *x, const LimgSegment *y)
{
	return x->kind == y->kind && x->offset == y->offset && x->length == y->length &&
	       (x->kind != LIMG_SEG_DATA ||
	        (x->node == y->node && x->file_offset == y->file_offset));
}

static char *
segment_diff_at(const LimgLayout *a, const LimgLayout *b, uint64_t off)
{
	LimgSegment x, y;
	int ra = limg_layout_segment(a, off, &x), rb = limg_layout_segment(b, off, &y);

	if (ra != rb)
		return g_strdup_printf("segment at %" PRIu64 ": %d vs %d", off, ra, rb);
	if (ra == 0 && !same_segment(&x, &y))
		return g_strdup_printf("segment at %" PRIu64 " differs", off);
	return NULL;
}

/*
 * The segment maps of @a and @b, compared at every block boundary of a
 * small image; for a large one (files of several GiB), at every block
 * of the first 2^18, at each segment's start, middle and last block,
 * and past the end.
 */
static char *
segments_diff(const LimgLayout *a, const LimgLayout *b)
{
	uint64_t size = limg_layout_size(a), off = 0;
	char *d;

	if (size != limg_layout_size(b))
		return g_strdup("sizes differ");
	for (uint64_t blk = 0; blk < (size >> 11) && blk < (1u << 18); blk++) {
		if ((d = segment_diff_at(a, b, blk * BLK)))
			return d;
	}
	while (off < size) {
		LimgSegment s;
		uint64_t mid, last;

		cr_assert_eq(limg_layout_segment(a, off, &s), 0);
		cr_assert_gt(s.length, 0);
		mid = (off + s.length / 2) & ~(BLK - 1);
		last = (off + s.length - 1) & ~(BLK - 1);
		if ((d = segment_diff_at(a, b, off)) || (d = segment_diff_at(a, b, mid)) ||
		    (d = segment_diff_at(a, b, last)) || (d = segment_diff_at(a, b, off + 1)))
			return d;
		off += s.length;
	}
	return segment_diff_at(a, b, size);
}

/*
 * Lay out @s without hints and again with the first layout's hints: they
 * must be taken and change nothing. Returns the hints (caller unrefs).
 */
static GBytes *
expect_round_trip(const Shape *s)
{
	g_autoptr(LimgLayout) a = lay_out(s, NULL);
	g_autoptr(LimgLayout) b = NULL;
	g_autoptr(GBytes) h2 = NULL;
	g_autofree char *d1 = NULL, *d2 = NULL;
	GBytes *h = limg_layout_hints(a);
	HintsView v = hv_of(h);
	Snapshot sa;

	cr_expect(!limg_layout_hinted(a), "a build without hints is not hinted");
	cr_expect_eq(v.n_nodes, limg_layout_tree(a)->n_nodes);
	b = lay_out(s, h);
	cr_assert(limg_layout_hinted(b), "the layout's own hints are taken for the same tree");
	snap_take(a, &sa);
	d1 = snap_diff(&sa, b);
	cr_expect(d1 == NULL, "hinted layout: %s", d1);
	d2 = segments_diff(a, b);
	cr_expect(d2 == NULL, "hinted layout: %s", d2);
	/* A hinted layout's hints are the same bytes: the cache may write them again. */
	h2 = limg_layout_hints(b);
	cr_expect(g_bytes_equal(h, h2), "hints of the hinted layout differ");
	snap_release(&sa);
	return h;
}

/* ------------------------------------------------------------ round trips */

Test(layout_hints, round_trip_empty_root)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_empty);
	HintsView v = hv_of(h);

	cr_expect_eq(v.n_nodes, 1);
	cr_expect_eq(v.n_dirs, 1);
	cr_expect_eq(v.n_blk, 1);
	/* the root's ER always continues (test-layout.c) */
	cr_expect_geq(v.n_ce, 1);
}

Test(layout_hints, round_trip_directory_of_2100_entries)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_big_dir);

	cr_expect_gt(hv_max_blocks(h), 100, "many blocks of records");
}

Test(layout_hints, round_trip_deep_nesting_and_long_path_table)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_deep);
	g_autoptr(LimgLayout) l = lay_out(&shape_deep, NULL);

	cr_expect_eq(hv_of(h).n_dirs, 1 + 48 + 1 + 150);
	/* system area, PVD, terminator, then more than one block per path table */
	cr_expect_gt(limg_layout_node_lba(l, 0), 18 + 2 * 1);
}

Test(layout_hints, round_trip_names_that_collide_after_mangling)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_collisions);

	/* the uniquifying path ran */
	cr_expect(hv_has_name(h, "_1."), "a suffixed identifier");
	cr_expect(hv_has_name(h, "_11."), "a two-digit suffix");
}

Test(layout_hints, round_trip_long_names_and_targets)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_long);

	cr_expect_geq(hv_max_piece(h), 2, "continuation chains of several areas");
	cr_expect_geq(hv_of(h).n_ce, 12);
}

Test(layout_hints, round_trip_large_xattrs)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_xattrs);

	cr_expect_geq(hv_max_piece(h), 4, "9000 bytes of attributes: several areas");
}

Test(layout_hints, round_trip_with_and_without_xattrs)
{
	g_autoptr(GBytes) with = expect_round_trip(&shape_tiny_xattr);
	g_autoptr(GBytes) without = expect_round_trip(&shape_no_xattrs);

	/* has_xattrs adds the AAIP ER to the root: the packing differs */
	cr_expect(!g_bytes_equal(with, without));
}

Test(layout_hints, round_trip_multi_extent_files)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_big_files);
	const uint8_t *p = g_bytes_get_data(h, NULL);
	HintsView v = hv_of(h);
	bool mid_file = false;

	/* a block that starts at a later section of a file (take_dir's walk) */
	for (uint32_t i = 0; i < v.n_blk; i++)
		mid_file |= get32(p, v.blk + 12 * (size_t)i + 8) != 0;
	cr_expect(mid_file, "no block starts at a section > 0: make the tree richer");
}

Test(layout_hints, round_trip_hard_links)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_links);
}

Test(layout_hints, round_trip_devices_fifos_sockets)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_special);
}

Test(layout_hints, round_trip_small_and_mixed_trees)
{
	g_autoptr(GBytes) h1 = expect_round_trip(&shape_small);
	g_autoptr(GBytes) h2 = expect_round_trip(&shape_mixed);

	cr_expect_gt(hv_max_blocks(h1), 2);
	cr_expect_geq(hv_max_piece(h1), 2);
}

Test(layout_hints, round_trip_directory_of_65600_entries_uses_wide_order)
{
	g_autoptr(GBytes) h = expect_round_trip(&shape_wide);

	cr_expect_eq(hv_of(h).width, 4);
}

Test(layout_hints, hints_are_deterministic)
{
	g_autoptr(LimgLayout) a = lay_out(&shape_mixed, NULL);
	g_autoptr(LimgLayout) b = lay_out(&shape_mixed, NULL);
	g_autoptr(GBytes) ha = limg_layout_hints(a);
	g_autoptr(GBytes) hb = limg_layout_hints(b);
	const uint8_t *p = g_bytes_get_data(ha, NULL);

	cr_expect(g_bytes_equal(ha, hb));
	cr_expect(memcmp(p, "LHN", 3) == 0 || memcmp(p + 1, "NHL", 3) == 0, "magic \"LHN\"");
	cr_expect_eq(hv_of(ha).width, 2);
}

/* ------------------------------------------------------------ other trees */

/*
 * @hints are not @s's own: @s laid out with them must not be hinted and
 * must be the layout of @s without hints, byte for byte.
 */
static void
expect_not_taken(const Shape *s, GBytes *hints, const char *what)
{
	g_autoptr(LimgLayout) ref = lay_out(s, NULL);
	g_autoptr(LimgLayout) l = NULL;
	g_autofree char *d1 = NULL, *d2 = NULL;
	Snapshot snap;
	int ret = try_lay_out(s, hints, &l);

	cr_assert_eq(ret, 0, "%s: build returned %d", what, ret);
	cr_expect(!limg_layout_hinted(l), "%s: hints taken", what);
	snap_take(ref, &snap);
	d1 = snap_diff(&snap, l);
	cr_expect(d1 == NULL, "%s: %s", what, d1);
	d2 = segments_diff(ref, l);
	cr_expect(d2 == NULL, "%s: %s", what, d2);
	snap_release(&snap);
}

static GBytes *
hints_of(const Shape *s)
{
	g_autoptr(LimgLayout) l = lay_out(s, NULL);

	return limg_layout_hints(l);
}

static void
fill_abc(TreeBuilder *tb)
{
	tb_file(tb, "a", 1);
	tb_file(tb, "b", 2);
	tb_file(tb, "c", 3);
}

static void
fill_ab_dir(TreeBuilder *tb)
{
	tb_file(tb, "a", 1);
	tb_file(tb, "b", 2);
	tb_dir(tb, "c");
}

static void
fill_abx(TreeBuilder *tb)
{
	tb_file(tb, "a", 1);
	tb_file(tb, "b", 2);
	tb_file(tb, "x", 3);
}

static void
fill_d_xy_z(TreeBuilder *tb)
{
	tb_file(tb, "d/x", 1);
	tb_file(tb, "d/y", 1);
	tb_file(tb, "z", 1);
}

static void
fill_d_x_yz(TreeBuilder *tb)
{
	tb_file(tb, "d/x", 1);
	tb_file(tb, "y", 1);
	tb_file(tb, "z", 1);
}

static void
fill_abc_long_link(TreeBuilder *tb)
{
	g_autofree char *t = long_target(3000, 5);

	tb_file(tb, "a", 1);
	tb_file(tb, "b", 2);
	tb_symlink(tb, "c", t);
}

static void
fill_long_names_a(TreeBuilder *tb)
{
	char name[64];

	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "name-%02d", i);
		tb_file(tb, name, 1);
	}
}

static void
fill_long_names_b(TreeBuilder *tb)
{
	char name[300];

	/* the same 40 identifiers and order, records of other sizes */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "name-%02d%s", i, i % 4 ? "" : "-and-a-longer-tail");
		tb_file(tb, name, 1);
	}
}

Test(layout_hints, other_tree_a_file_that_became_a_directory)
{
	static const Shape a = { fill_abc, NULL }, b = { fill_ab_dir, NULL };
	g_autoptr(GBytes) h = hints_of(&a);

	/*
	 * The identifiers and order fit (three children, one name each) but
	 * the directories do not: the whole of the hints must be set aside,
	 * names included (layout-internal.h: "nothing of them is kept").
	 */
	expect_not_taken(&b, h, "abc -> ab + dir c");
}

Test(layout_hints, other_tree_a_file_moved_to_another_directory)
{
	static const Shape a = { fill_d_xy_z, NULL }, b = { fill_d_x_yz, NULL };
	g_autoptr(GBytes) ha = hints_of(&a);
	g_autoptr(GBytes) hb = hints_of(&b);

	expect_not_taken(&b, ha, "d/{x,y} z -> d/x y z");
	expect_not_taken(&a, hb, "d/x y z -> d/{x,y} z");
}

Test(layout_hints, other_tree_of_other_node_count)
{
	g_autoptr(GBytes) h1 = hints_of(&shape_small);
	g_autoptr(GBytes) h2 = hints_of(&shape_empty);
	g_autoptr(GBytes) h3 = hints_of(&shape_links);

	expect_not_taken(&shape_empty, h1, "small -> empty");
	expect_not_taken(&shape_small, h2, "empty -> small");
	expect_not_taken(&shape_special, h3, "links -> special");
	expect_not_taken(&shape_mixed, h1, "small -> mixed");
}

/*
 * Whatever the hints, the build succeeds; if they are taken, every
 * metadata block renders (0, or -EIO where the hints disagree with the
 * records) and the segment map stays inside the image and its files.
 * An image made huge by a damaged count is rendered in part: its first
 * blocks (four times the reference and more) and its last.
 */
static void
expect_survives(const LimgLayout *l, uint32_t ref_meta, const char *what)
{
	const LimgTree *t = limg_layout_tree(l);
	uint32_t meta = limg_layout_meta_blocks(l);
	uint64_t size = limg_layout_size(l), off = 0;
	uint32_t head = MIN(meta, 4 * ref_meta + 64);
	uint8_t blk[BLK];

	cr_assert_leq((uint64_t)meta * BLK, size, "%s", what);
	for (uint32_t b = 0; b < meta; b++) {
		int ret;

		if (b == head)
			b = MAX(head, meta - MIN(meta, 16u));
		ret = limg_render_block(l, b, blk);
		cr_assert(ret == 0 || ret == -EIO, "%s: block %u of %u: %d", what, b, meta, ret);
	}
	cr_assert_eq(limg_render_block(l, meta, blk), -EINVAL, "%s: block %u is data", what, meta);
	for (unsigned n = 0; off < size && n < (1u << 16); n++) {
		LimgSegment s;

		cr_assert_eq(limg_layout_segment(l, off, &s), 0, "%s: segment at %" PRIu64, what, off);
		cr_assert(s.offset == off && s.length > 0 && s.length <= size - off,
		          "%s: segment at %" PRIu64, what, off);
		if (s.kind == LIMG_SEG_DATA) {
			const LimgNode *nd = s.node < t->n_nodes ? &t->nodes[s.node] : NULL;

			cr_assert(nd && S_ISREG(nd->mode) && s.file_offset < nd->size &&
			          s.length <= nd->size - s.file_offset,
			          "%s: data segment at %" PRIu64 " outside its file", what, off);
		}
		off += s.length;
	}
	cr_assert_eq(limg_layout_segment(l, size, &(LimgSegment){ 0 }), -EINVAL);
}

/*
 * The hints carry nothing of the tree's names or record sizes, only its
 * shape (layout-hints.c, "Trust"): whoever keeps them binds them to their
 * tree (the disk cache: one file under one checksum). Hints of another
 * tree of the same shape are taken; its image is then wrong, but every
 * block renders or fails with -EIO and no access leaves the layout.
 */
static void
expect_taken_and_safe(const Shape *s, GBytes *hints, const char *what)
{
	g_autoptr(LimgLayout) ref = lay_out(s, NULL);
	g_autoptr(LimgLayout) l = NULL;
	int ret = try_lay_out(s, hints, &l);

	cr_assert_eq(ret, 0, "%s: build returned %d", what, ret);
	cr_expect(limg_layout_hinted(l), "%s: hints of the same shape set aside", what);
	expect_survives(l, limg_layout_meta_blocks(ref), what);
}

Test(layout_hints, same_shape_other_names_are_taken_and_render_safely)
{
	static const Shape a = { fill_abc, NULL }, b = { fill_abx, NULL };
	g_autoptr(GBytes) h = hints_of(&a);

	expect_taken_and_safe(&b, h, "abc -> abx");
}

Test(layout_hints, same_shape_other_record_sizes_are_taken_and_render_safely)
{
	static const Shape a = { fill_abc, NULL }, b = { fill_abc_long_link, NULL };
	static const Shape c = { fill_long_names_a, NULL }, d = { fill_long_names_b, NULL };
	g_autoptr(GBytes) ha = hints_of(&a);
	g_autoptr(GBytes) hc = hints_of(&c);
	g_autoptr(GBytes) hx = hints_of(&shape_no_xattrs);

	expect_taken_and_safe(&b, ha, "file c -> long symlink c");
	expect_taken_and_safe(&d, hc, "longer names");
	expect_taken_and_safe(&shape_tiny_xattr, hx, "xattrs added");
}

/*
 * The hints of @l, a layout taken from hints, are taken again and give
 * the same blocks (the disk cache may save them again). Rendered in
 * part, as expect_survives() does.
 */
static void
expect_rehinted(const Shape *s, const LimgLayout *l, uint32_t ref_meta, const char *what)
{
	g_autoptr(GBytes) h = limg_layout_hints(l);
	g_autoptr(LimgLayout) again = NULL;
	uint32_t meta = limg_layout_meta_blocks(l);
	uint32_t head = MIN(meta, 4 * ref_meta + 64);
	uint8_t x[BLK], y[BLK];

	cr_assert_eq(try_lay_out(s, h, &again), 0, "%s: its layout's hints", what);
	cr_assert(limg_layout_hinted(again), "%s: its layout's hints are not taken", what);
	cr_assert_eq(limg_layout_meta_blocks(again), meta, "%s: its layout's hints", what);
	cr_assert_eq(limg_layout_size(again), limg_layout_size(l), "%s: its layout's hints", what);
	for (uint32_t b = 0; b < meta; b++) {
		int rx, ry;

		if (b == head)
			b = MAX(head, meta - MIN(meta, 16u));
		rx = limg_render_block(l, b, x);
		ry = limg_render_block(again, b, y);
		cr_assert(rx == ry && (rx != 0 || memcmp(x, y, BLK) == 0),
		          "%s: its layout's hints: block %u differs", what, b);
	}
}

Test(layout_hints, hints_of_a_same_shaped_tree_never_crash)
{
	static const Shape a = { fill_abc, NULL }, b = { fill_abc_long_link, NULL };
	static const Shape c = { fill_long_names_a, NULL }, d = { fill_long_names_b, NULL };
	static const Shape e = { fill_abx, NULL };
	struct {
		const Shape *from, *to;
	} cases[] = {
		{ &a, &b }, { &b, &a }, { &c, &d }, { &d, &c }, { &a, &e },
		{ &shape_no_xattrs, &shape_xattrs }, { &shape_xattrs, &shape_no_xattrs },
		{ &shape_no_xattrs, &shape_tiny_xattr }, { &shape_tiny_xattr, &shape_no_xattrs },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GBytes) h = hints_of(cases[i].from);
		g_autoptr(LimgLayout) ref = lay_out(cases[i].to, NULL);
		g_autoptr(LimgLayout) l = NULL;
		g_autofree char *what = g_strdup_printf("case %zu", i);

		cr_assert_eq(try_lay_out(cases[i].to, h, &l), 0, "%s", what);
		expect_survives(l, limg_layout_meta_blocks(ref), what);
		if (limg_layout_hinted(l))
			expect_rehinted(cases[i].to, l, limg_layout_meta_blocks(ref), what);
	}
}

/* ------------------------------------------------------------ damage */

typedef struct {
	const Shape *shape;
	Snapshot snap;
	LimgLayout *ref;
	uint8_t *hints;
	size_t len;
	HintsView v;
	unsigned taken;
} Damage;

static void
damage_init(Damage *dm, const Shape *s)
{
	GBytes *h;
	gsize len;
	const uint8_t *p;

	dm->shape = s;
	dm->ref = lay_out(s, NULL);
	snap_take(dm->ref, &dm->snap);
	h = limg_layout_hints(dm->ref);
	p = g_bytes_get_data(h, &len);
	dm->hints = g_memdup2(p, len);
	dm->len = len;
	dm->v = hv_parse(p, len);
	dm->taken = 0;
	g_bytes_unref(h);
}

static void
damage_release(Damage *dm)
{
	snap_release(&dm->snap);
	limg_layout_unref(dm->ref);
	g_free(dm->hints);
}

/*
 * Lay out the shape with @p / @len as hints: the build succeeds; hints
 * not taken change nothing; hints taken survive (expect_survives()).
 */
static void
try_damaged(Damage *dm, const uint8_t *p, size_t len, const char *what)
{
	g_autoptr(GBytes) h = g_bytes_new(p, len);
	g_autoptr(LimgLayout) l = NULL;
	int ret = try_lay_out(dm->shape, h, &l);

	cr_assert_eq(ret, 0, "%s: build returned %d", what, ret);
	if (!limg_layout_hinted(l)) {
		g_autofree char *d1 = snap_diff(&dm->snap, l);
		g_autofree char *d2 = d1 ? NULL : segments_diff(dm->ref, l);

		cr_assert(d1 == NULL && d2 == NULL, "%s: hints set aside, yet %s", what,
		          d1 ? d1 : d2);
		return;
	}
	dm->taken++;
	expect_survives(l, dm->snap.meta, what);
	expect_rehinted(dm->shape, l, dm->snap.meta, what);
}

/* The reference hints with word @off set to @v, tried. */
static void
try_word(Damage *dm, size_t off, uint32_t v, const char *what)
{
	g_autofree uint8_t *p = g_memdup2(dm->hints, dm->len);

	cr_assert_leq(off + 4, dm->len);
	put32(p, off, v);
	try_damaged(dm, p, dm->len, what);
}

Test(layout_hints, empty_hints_are_not_taken)
{
	g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
	g_autoptr(GBytes) zeros = g_bytes_new_take(g_malloc0(64), 64);

	expect_not_taken(&shape_small, empty, "empty hints");
	expect_not_taken(&shape_empty, empty, "empty hints, empty tree");
	expect_not_taken(&shape_small, zeros, "64 zero bytes");
}

Test(layout_hints, truncated_hints_are_not_taken)
{
	Damage dm;

	damage_init(&dm, &shape_small);
	/* every length: the header's words, each section's end, the rest */
	for (size_t len = 0; len < dm.len; len++) {
		g_autofree char *what = g_strdup_printf("first %zu of %zu bytes", len, dm.len);
		g_autoptr(GBytes) h = g_bytes_new(dm.hints, len);
		g_autoptr(LimgLayout) l = NULL;

		cr_assert_eq(try_lay_out(&shape_small, h, &l), 0, "%s", what);
		cr_assert(!limg_layout_hinted(l), "%s: taken", what);
		if (len % 4 == 0 || len + 8 > dm.len) {
			g_autofree char *d = snap_diff(&dm.snap, l);

			cr_assert(d == NULL, "%s: %s", what, d);
		}
	}
	damage_release(&dm);
}

Test(layout_hints, extended_hints_are_not_taken)
{
	Damage dm;

	damage_init(&dm, &shape_small);
	for (size_t extra = 1; extra <= 24; extra++) {
		g_autofree uint8_t *p = g_malloc0(dm.len + extra);
		g_autofree char *what = g_strdup_printf("%zu bytes more", extra);

		memcpy(p, dm.hints, dm.len);
		try_damaged(&dm, p, dm.len + extra, what);
		cr_expect_eq(dm.taken, 0, "%s: taken", what);
	}
	damage_release(&dm);
}

enum { SEC_HEADER, SEC_ISO_LEN, SEC_NAMES, SEC_ORDER, SEC_DIRS, SEC_BLK, SEC_CES, SEC_PAD };

/* Which section of @v byte @i lies in; the zeros that pad one to 4 bytes apart. */
static int
hv_section(const HintsView *v, size_t i)
{
	if (i < v->iso_len)
		return SEC_HEADER;
	if (i < v->names)
		return i < v->iso_len + v->n_nodes ? SEC_ISO_LEN : SEC_PAD;
	if (i < v->order)
		return i < v->names + v->names_len ? SEC_NAMES : SEC_PAD;
	if (i < v->dirs)
		return i < v->order + (size_t)v->width * v->n_nodes ? SEC_ORDER : SEC_PAD;
	return i < v->blk ? SEC_DIRS : i < v->ces ? SEC_BLK : SEC_CES;
}

static void
flip_all(const Shape *s, uint8_t mask)
{
	static const char *const sections[] = {
		"header", "iso_len", "names", "order", "dirs", "blk", "ces", "padding",
	};
	unsigned tried[8] = { 0 }, taken[8] = { 0 };
	Damage dm;

	damage_init(&dm, s);
	for (size_t i = 0; i < dm.len; i++) {
		g_autofree char *what = g_strdup_printf("byte %zu of %zu ^ 0x%02x", i, dm.len, mask);
		unsigned before = dm.taken;
		int k = hv_section(&dm.v, i);

		dm.hints[i] ^= mask;
		try_damaged(&dm, dm.hints, dm.len, what);
		dm.hints[i] ^= mask;
		tried[k]++;
		taken[k] += dm.taken - before;
	}
	for (int k = 0; k < 8; k++)
		cr_log_info("^ 0x%02x: %-8s %4u flips, %4u taken", mask, sections[k], tried[k],
		            taken[k]);
	/*
	 * Taken may be: bytes of identifiers, padding, and where in their
	 * blocks the continuation areas lie (checked only to stay in the
	 * block). Never a count, a length or an index into the tree.
	 */
	cr_expect_eq(taken[SEC_HEADER], 0, "a damaged header was taken");
	cr_expect_eq(taken[SEC_ISO_LEN], 0, "a damaged identifier length was taken");
	cr_expect_eq(taken[SEC_ORDER], 0, "a damaged order was taken");
	cr_expect_eq(taken[SEC_BLK], 0, "a damaged block start was taken");
	/* see ce_blocks_past_the_last_area_are_not_taken */
	cr_expect_eq(taken[SEC_DIRS], 0, "a damaged directory count was taken");
	damage_release(&dm);
}

Test(layout_hints, every_byte_flipped_0xff)
{
	flip_all(&shape_small, 0xFF);
}

Test(layout_hints, every_byte_flipped_0x01)
{
	flip_all(&shape_small, 0x01);
}

Test(layout_hints, every_byte_flipped_empty_root)
{
	flip_all(&shape_empty, 0xFF);
	flip_all(&shape_empty, 0x01);
}

Test(layout_hints, every_byte_flipped_0x80_special_files)
{
	/* devices, a FIFO, a socket; XOR 0x80 flips each byte's high bit */
	flip_all(&shape_special, 0x80);
}

/* The packing part of the hints, word by word, with values near the edges. */
Test(layout_hints, damaged_counts_and_offsets)
{
	static const uint32_t values[] = {
		0, 1, 2, 3, 0x7FF, 0x800, 0x801, 0xFFFF, 0x10000, 0x7FFFFFFF,
		0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
	};
	Damage dm;

	damage_init(&dm, &shape_small);
	for (size_t off = dm.v.dirs; off < dm.len; off += 4) {
		for (size_t k = 0; k < G_N_ELEMENTS(values); k++) {
			g_autofree char *what = g_strdup_printf("word at %zu = 0x%x", off, values[k]);

			try_word(&dm, off, values[k], what);
		}
	}
	/* the header: counts, names_len, order width */
	for (size_t off = 4; off < 28; off += 4) {
		for (size_t k = 0; k < G_N_ELEMENTS(values); k++) {
			g_autofree char *what = g_strdup_printf("header word %zu = 0x%x", off / 4,
			                                        values[k]);

			try_word(&dm, off, values[k], what);
		}
	}
	damage_release(&dm);
}

Test(layout_hints, damaged_identifiers_and_order)
{
	Damage dm;
	const HintsView *v;
	uint32_t nroot;

	damage_init(&dm, &shape_small);
	v = &dm.v;
	for (uint32_t i = 0; i < v->n_nodes; i++) {
		static const uint8_t lens[] = { 0, 1, 36, 37, 255 };
		uint8_t *p = dm.hints + v->iso_len + i;
		uint8_t keep = *p;

		for (size_t k = 0; k < G_N_ELEMENTS(lens); k++) {
			g_autofree char *what = g_strdup_printf("iso_len[%u] = %u", i, lens[k]);

			*p = lens[k];
			try_damaged(&dm, dm.hints, dm.len, what);
		}
		*p = keep;
	}
	/* the NULs between identifiers */
	for (size_t i = 0; i < v->names_len; i++) {
		uint8_t *p = dm.hints + v->names + i;
		uint8_t keep = *p;
		g_autofree char *what = g_strdup_printf("names[%zu] %s", i, keep ? "= 0" : "= 'A'");

		*p = keep ? 0 : 'A';
		try_damaged(&dm, dm.hints, dm.len, what);
		*p = keep;
	}
	/* order entries: to their neighbours, the end of the root's range and past it */
	cr_assert_eq(v->width, 2);
	dm.taken = 0;
	nroot = limg_layout_tree(dm.ref)->nodes[0].nchildren;
	for (uint32_t i = 0; i < v->n_nodes; i++) {
		uint8_t *p = dm.hints + v->order + 2 * (size_t)i;
		uint32_t vals[11] = { 0, 1, 2, 0, 0, 0, nroot - 1, nroot, nroot + 1, 0x7FFF, 0xFFFF };
		uint16_t keep, x;

		memcpy(&keep, p, 2);
		vals[3] = keep - 1u;
		vals[4] = keep + 1u;
		vals[5] = keep ^ 1u;
		for (size_t k = 0; k < G_N_ELEMENTS(vals); k++) {
			uint32_t val = vals[k] & 0xFFFF;
			g_autofree char *what = g_strdup_printf("order[%u] = %u", i, val);

			if (val == keep)
				continue;
			x = (uint16_t)val;
			memcpy(p, &x, 2);
			try_damaged(&dm, dm.hints, dm.len, what);
			cr_assert_eq(dm.taken, 0, "%s: a duplicate in the order was taken", what);
		}
		memcpy(p, &keep, 2);
	}
	damage_release(&dm);
}

/*
 * Continuation blocks no area lies in: the packing never makes them
 * (a directory's last area is in its last block). A few more make
 * another image; 2^31 more, one of 4 TiB of zeros; as many as fit below
 * 2^32 blocks leave no room for the files' data, and the build failed
 * (-E2BIG from the data pass) instead of setting the hints aside.
 */
Test(layout_hints, ce_blocks_past_the_last_area_are_not_taken)
{
	static const uint32_t more[] = { 1, 2, 1000, 0x40000000, 0x80000000 };
	const LimgTree *t;
	uint32_t last_lba = 0, last = 0;
	Damage dm;

	damage_init(&dm, &shape_small);
	t = limg_layout_tree(dm.ref);
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		if (S_ISDIR(t->nodes[i].mode))
			last_lba = MAX(last_lba, limg_layout_node_lba(dm.ref, i));
	}
	last = dm.v.n_dirs - 1;
	for (uint32_t di = 0; di < dm.v.n_dirs; di++) {
		size_t off = dm.v.dirs + 12 * (size_t)di + 4;
		uint32_t blocks = get32(dm.hints, off - 4), ce_blocks = get32(dm.hints, off);

		if (ce_blocks == 0)
			continue;
		for (size_t k = 0; k < G_N_ELEMENTS(more); k++) {
			g_autofree char *what = g_strdup_printf("dir %u: ce_blocks %u + %u", di,
			                                        ce_blocks, more[k]);

			unsigned before = dm.taken;

			try_word(&dm, off, ce_blocks + more[k], what);
			cr_expect_eq(dm.taken, before, "%s: taken", what);
		}
		if (di == last) {
			/* metadata up to 2^32 - 4 blocks: the files' data does not fit */
			uint32_t edge = UINT32_MAX - 3 - last_lba - blocks;
			unsigned before = dm.taken;

			try_word(&dm, off, edge, "last dir: ce_blocks up to 2^32 - 4 blocks");
			cr_expect_eq(dm.taken, before, "an 8 TiB image was taken");
		}
	}
	cr_expect_gt(get32(dm.hints, dm.v.dirs + 12 * (size_t)last + 4), 0,
	             "the last directory has continuation areas (the tree changed?)");
	damage_release(&dm);
}

/*
 * Continuation blocks skipped: the packing starts a block only when an
 * area does not fit in the one before, so a directory's areas lie in
 * blocks 0, 1, ... without a gap. Areas moved k blocks on (with as many
 * more blocks) leave k blocks of zeros; 2^30 more, an image of 2 TiB.
 * (Today only the order of the blocks is checked.)
 */
Test(layout_hints, continuation_areas_that_skip_blocks_are_not_taken)
{
	static const uint32_t more[] = { 1, 1000, 0x40000000 };
	Damage dm;
	uint32_t first = 0;

	damage_init(&dm, &shape_long);
	for (uint32_t di = 0; di < dm.v.n_dirs; di++) {
		size_t doff = dm.v.dirs + 12 * (size_t)di;
		uint32_t ce_blocks = get32(dm.hints, doff + 4), n_ce = get32(dm.hints, doff + 8);

		for (size_t k = 0; k < G_N_ELEMENTS(more) && n_ce; k++) {
			for (int all = 0; all < 2; all++) {
				g_autofree uint8_t *p = g_memdup2(dm.hints, dm.len);
				g_autofree char *what = g_strdup_printf("dir %u: %s areas %u blocks on",
				                                        di, all ? "all" : "the last",
				                                        more[k]);
				unsigned before = dm.taken;

				/* the last area alone one block on is another packing, not a gap */
				if (!all && more[k] == 1)
					continue;
				put32(p, doff + 4, ce_blocks + more[k]);
				for (uint32_t i = all ? first : first + n_ce - 1; i < first + n_ce; i++) {
					size_t e = dm.v.ces + 20 * (size_t)i + 8;

					put32(p, e, get32(p, e) + more[k]);
				}
				try_damaged(&dm, p, dm.len, what);
				cr_expect_eq(dm.taken, before, "%s: taken", what);
			}
		}
		first += n_ce;
	}
	cr_expect_eq(first, dm.v.n_ce);
	damage_release(&dm);
}

/* A continuation area moved onto another record, or out of its block. */
Test(layout_hints, misplaced_continuation_areas)
{
	Damage dm;

	damage_init(&dm, &shape_small);
	cr_assert_geq(dm.v.n_ce, 3);
	for (uint32_t i = 0; i < dm.v.n_ce; i++) {
		size_t e = dm.v.ces + 20 * (size_t)i;
		uint32_t rec = get32(dm.hints, e), node = get32(dm.hints, e + 4);
		uint32_t ol = get32(dm.hints, e + 12), pk = get32(dm.hints, e + 16);
		uint32_t off = ol & 0xFFFF, len = ol >> 16;
		g_autofree char *w1 = g_strdup_printf("area %u: rec + 1", i);
		g_autofree char *w2 = g_strdup_printf("area %u: node + 1", i);
		g_autofree char *w3 = g_strdup_printf("area %u: crosses its block", i);
		g_autofree char *w4 = g_strdup_printf("area %u: empty", i);
		g_autofree char *w5 = g_strdup_printf("area %u: piece + 1", i);
		g_autofree char *w6 = g_strdup_printf("area %u: other kind", i);

		try_word(&dm, e, rec + 1, w1);
		try_word(&dm, e + 4, node + 1, w2);
		try_word(&dm, e + 12, (2048 - len + 1) | len << 16, w3);
		try_word(&dm, e + 12, off, w4);
		try_word(&dm, e + 16, pk + 1, w5);
		try_word(&dm, e + 16, (pk & 0xFFFF) | ((pk >> 16) ^ 1) << 16, w6);
		cr_expect_eq(dm.taken, 0, "area %u: a misplaced area was taken", i);
	}
	/* inside its block, elsewhere: not checked (another image, still in bounds) */
	for (uint32_t i = 0; i < dm.v.n_ce; i++) {
		size_t e = dm.v.ces + 20 * (size_t)i;
		uint32_t len = get32(dm.hints, e + 12) >> 16;
		g_autofree char *what = g_strdup_printf("area %u: at the block's end", i);

		try_word(&dm, e + 12, (2048 - len) | len << 16, what);
	}
	damage_release(&dm);
}

/* A block start moved to the next record or another child. */
Test(layout_hints, misplaced_block_starts)
{
	Damage dm;

	damage_init(&dm, &shape_small);
	cr_assert_gt(dm.v.n_blk, dm.v.n_dirs, "some directory has several blocks");
	for (uint32_t i = 0; i < dm.v.n_blk; i++) {
		size_t b = dm.v.blk + 12 * (size_t)i;
		uint32_t rec = get32(dm.hints, b), child = get32(dm.hints, b + 4);
		uint32_t sec = get32(dm.hints, b + 8);
		g_autofree char *w1 = g_strdup_printf("block %u: rec + 1", i);
		g_autofree char *w2 = g_strdup_printf("block %u: child + 1", i);
		g_autofree char *w3 = g_strdup_printf("block %u: section + 1", i);

		try_word(&dm, b, rec + 1, w1);
		try_word(&dm, b + 4, child + 1, w2);
		try_word(&dm, b + 8, sec + 1, w3);
	}
	cr_expect_eq(dm.taken, 0, "a block start off its record was taken");
	damage_release(&dm);
}

/* ------------------------------------------------------------ version */

Test(layout_hints, other_magic_is_not_taken)
{
	Damage dm;
	uint32_t magic;
	uint8_t m[4];

	damage_init(&dm, &shape_small);
	magic = get32(dm.hints, 0);
	memcpy(m, &magic, 4);
	/* "LHN" + the version's digit, in host order */
	cr_expect(memcmp(m, "LHN", 3) == 0 || memcmp(m + 1, "NHL", 3) == 0);
	try_word(&dm, 0, magic + (1u << 24), "next version");
	try_word(&dm, 0, magic - (1u << 24), "previous version");
	try_word(&dm, 0, magic ^ 0x20, "lower-case magic");
	try_word(&dm, 0, GUINT32_SWAP_LE_BE(magic), "other byte order");
	try_word(&dm, 0, 0, "zero");
	try_word(&dm, 0, 0xFFFFFFFF, "all ones");
	for (int bit = 0; bit < 32; bit++) {
		g_autofree char *what = g_strdup_printf("magic bit %d", bit);

		try_word(&dm, 0, magic ^ 1u << bit, what);
	}
	cr_expect_eq(dm.taken, 0, "hints of another magic were taken");
	damage_release(&dm);
}

Test(layout_hints, magic_names_the_version)
{
	g_autoptr(GBytes) h = hints_of(&shape_empty);
	uint32_t magic = get32(g_bytes_get_data(h, NULL), 0);
	uint8_t digit = (uint8_t)(G_BYTE_ORDER == G_LITTLE_ENDIAN ? magic >> 24 : magic & 0xFF);

	cr_expect_eq(digit, '0' + LIMG_LAYOUT_HINTS_VERSION);
}
