/*
 * test-head.c - an image's head (cache/head.h): a head rendered from a
 * layout parses back to the layout's facts and its first image bytes,
 * equal to the image rendered independently through the test library's
 * read planner (the zeros of the system area included, for any range);
 * it matches the layout it came from and the layout of an identical
 * tree, and no layout of a tree that differs in a file's size, a name or
 * an entry, nor any head whose bytes differ in one byte or whose facts
 * differ in one fact; a head for other options (tag) does not parse; an
 * image whose metadata ends within the system area has no head, nor one
 * whose system area is not zeros (and a head matches no such layout);
 * and a raw head that is too short or whose facts are inconsistent,
 * field by field, is refused.
 *
 * ISO 9660 metadata always ends after block 21 (test-layout.c) and its
 * system area is a zero segment, so the last two cases are made with the
 * ISO format's table with meta_blocks, or segment and render_block,
 * replaced.
 *
 * Raw heads for the refusals are made by editing a rendered one's facts
 * through this suite's own copy of the layout documented in head.c:
 *
 *   char magic[4] "LIHD"; u32 version (1), block size, metadata blocks,
 *   entries, blocks; u64 image size, data bytes, options tag   (48 bytes,
 *   host byte order), then image blocks 16 .. blocks - 1.
 *
 * The big tree: 20 directories of 20 files with names of 120 bytes, so
 * that its metadata takes well over 64 blocks (103 today; the test
 * asserts more than LIMG_HEAD_BLOCKS) and the head is cut at
 * LIMG_HEAD_BLOCKS.
 */
#include <config.h>

#include "cache/head.h"
#include "iso/format.h"
#include "lib/testlib.h"

TestSuite(head, .timeout = 60);

#define FMT (&limg_format_iso9660)
#define TAG 0x1234567890abcdefull
#define N_DIRS 20
#define N_FILES 20

/* The documented raw facts (head.c). */
typedef struct {
	char magic[4];
	uint32_t version;
	uint32_t block_size;
	uint32_t meta_blocks;
	uint32_t entries;
	uint32_t blocks;
	uint64_t size;
	uint64_t data_bytes;
	uint64_t tag;
} RawFacts;

G_STATIC_ASSERT(sizeof(RawFacts) == 48);

/* Variants of the big tree, each one change away from BASE. */
typedef enum {
	T_BASE,
	T_RESIZED,      /* one file one byte longer */
	T_BALANCED,     /* one file a byte longer, its neighbour a byte shorter */
	T_RENAMED,      /* one name's last byte changed, same length */
	T_ADDED,        /* one more file */
} Variant;

static char *
file_path(int d, int f, char last)
{
	return g_strdup_printf("dir-%02d/file-%03d-%0110d%c", d, f, 0, last);
}

/* The size of file @f of directory @d: 10..1509, within one block. */
static uint64_t
file_size(int d, int f)
{
	return (uint64_t)((d * N_FILES + f) * 37 % 1500 + 10);
}

static LimgTree *
big_tree(Variant v)
{
	TreeBuilder *tb = tb_new();
	LimgTree *t;

	for (int d = 0; d < N_DIRS; d++) {
		g_autofree char *dir = g_strdup_printf("dir-%02d", d);

		tb_dir(tb, dir);
		for (int f = 0; f < N_FILES; f++) {
			bool first = d == 0 && f == 0;
			uint64_t size = file_size(d, f);
			g_autofree char *path = file_path(d, f, first && v == T_RENAMED ? 'b' : 'a');

			if (first && (v == T_RESIZED || v == T_BALANCED))
				size++;
			if (d == 0 && f == 1 && v == T_BALANCED)
				size--;
			tb_file(tb, path, size);
		}
	}
	if (v == T_ADDED)
		tb_file(tb, "dir-00/added", 7);
	t = tb_build(tb);
	tb_free(tb);
	return t;
}

/* A small tree: its metadata is far less than LIMG_HEAD_BLOCKS. */
static LimgTree *
small_tree(void)
{
	TreeBuilder *tb = tb_new();
	LimgTree *t;

	tb_file(tb, "etc/hostname", 5);
	tb_file(tb, "hello", 6);
	tb_symlink(tb, "link", "hello");
	t = tb_build(tb);
	tb_free(tb);
	return t;
}

/* Lay out @t (taken) with the default options. */
static LimgFormatLayout *
layout_of(LimgTree *t)
{
	LimgFormatOptions opts = { 0 };
	LimgFormatLayout *l = NULL;
	int ret = FMT->build(t, &opts, NULL, &l);

	cr_assert_eq(ret, 0, "build: %d", ret);
	cr_assert_not_null(l);
	return l;
}

static GBytes *
render_head(const LimgFormatLayout *l, uint64_t tag)
{
	GBytes *raw = limg_head_render(FMT, l, tag);

	cr_assert_not_null(raw, "no head rendered");
	return raw;
}

static void
parse_ok(GBytes *raw, uint64_t tag, LimgHead *h)
{
	cr_assert(limg_head_parse(raw, FMT, tag, h), "a rendered head does not parse");
	cr_assert_not_null(h->bytes);
}

/* Image bytes [@off, @off + @len) through limg_head_copy equal @img's. */
static void
expect_copy(const LimgHead *h, const uint8_t *img, uint64_t off, size_t len)
{
	g_autofree uint8_t *buf = g_malloc(len + 1);

	memset(buf, 0xAA, len + 1);
	limg_head_copy(h, h->bytes, FMT->block_size, off, len, buf);
	cr_expect(memcmp(buf, img + off, len) == 0, "copy of [%" PRIu64 ", %" PRIu64 ") differs",
	          off, off + len);
	cr_expect_eq(buf[len], 0xAA, "copy of [%" PRIu64 ", %" PRIu64 ") wrote past its end", off,
	             off + len);
}

Test(head, big_tree_head_parses_to_facts_and_first_image_bytes)
{
	LimgFormatLayout *l = layout_of(big_tree(T_BASE));
	const LimgTree *t = FMT->tree(l);
	uint32_t bs = FMT->block_size, meta = FMT->meta_blocks(l);
	uint64_t sys = (uint64_t)LIMG_HEAD_FIRST * bs, head_len;
	GBytes *raw = render_head(l, TAG);
	LimgHead h;
	size_t img_size = 0;
	uint8_t *img = render_image((const LimgLayout *)l, &img_size);

	cr_assert_gt(meta, LIMG_HEAD_BLOCKS, "the tree is too small: %u metadata blocks", meta);
	cr_assert_eq(img_size, FMT->size(l));
	parse_ok(raw, TAG, &h);
	cr_expect_eq(h.size, FMT->size(l));
	cr_expect_eq(h.meta_blocks, meta);
	cr_expect_eq(h.entries, t->n_nodes);
	cr_expect_eq(h.entries, 1 + N_DIRS + N_DIRS * N_FILES);
	cr_expect_eq(h.data_bytes, t->data_bytes);
	cr_assert_eq(h.blocks, MIN((uint32_t)LIMG_HEAD_BLOCKS, meta));
	head_len = (uint64_t)h.blocks * bs;
	cr_assert_eq(g_bytes_get_size(h.bytes), head_len - sys,
	             "the head keeps blocks %u..%u", LIMG_HEAD_FIRST, h.blocks - 1);

	/* The whole head, the system area's zeros first. */
	{
		g_autofree uint8_t *buf = g_malloc(head_len);

		memset(buf, 0xAA, head_len);
		limg_head_copy(&h, h.bytes, bs, 0, head_len, buf);
		for (uint64_t i = 0; i < sys; i++)
			cr_assert_eq(buf[i], 0, "byte %" PRIu64 " of the system area", i);
		cr_expect(memcmp(buf, img, head_len) == 0, "the head differs from the image");
	}
	/* Ranges: inside the system area, across its end, inside, to the head's end. */
	expect_copy(&h, img, 100, 5000);
	expect_copy(&h, img, 7, 1);
	expect_copy(&h, img, sys - 777, 3001);
	expect_copy(&h, img, sys - 1, 2);
	expect_copy(&h, img, sys, bs);
	expect_copy(&h, img, sys + 1234, 10 * bs + 17);
	expect_copy(&h, img, head_len - 4321, 4321);
	expect_copy(&h, img, head_len - 1, 1);
	expect_copy(&h, img, 0, 0);

	g_free(img);
	limg_head_clear(&h);
	cr_expect_null(h.bytes);
	g_bytes_unref(raw);
	FMT->unref(l);
}

Test(head, small_tree_head_covers_all_its_metadata)
{
	LimgFormatLayout *l = layout_of(small_tree());
	uint32_t bs = FMT->block_size, meta = FMT->meta_blocks(l);
	GBytes *raw = render_head(l, TAG);
	LimgHead h;
	size_t img_size = 0;
	uint8_t *img = render_image((const LimgLayout *)l, &img_size);

	cr_assert_gt(meta, LIMG_HEAD_FIRST);
	cr_assert_lt(meta, LIMG_HEAD_BLOCKS);
	parse_ok(raw, TAG, &h);
	cr_expect_eq(h.blocks, meta);
	cr_expect_eq(h.meta_blocks, meta);
	cr_expect_eq(h.size, FMT->size(l));
	cr_expect_eq(h.entries, FMT->tree(l)->n_nodes);
	cr_expect_eq(h.data_bytes, FMT->tree(l)->data_bytes);
	cr_assert_eq(g_bytes_get_size(h.bytes), (size_t)(meta - LIMG_HEAD_FIRST) * bs);
	expect_copy(&h, img, 0, (size_t)meta * bs);
	expect_copy(&h, img, 3, (size_t)meta * bs - 3);
	cr_expect(limg_head_matches(&h, FMT, l));

	g_free(img);
	limg_head_clear(&h);
	g_bytes_unref(raw);
	FMT->unref(l);
}

/* The head of @v's big tree, compared with BASE's head. */
static bool
base_head_matches(const LimgHead *h, Variant v, bool same_facts)
{
	LimgFormatLayout *l = layout_of(big_tree(v));
	bool ret = limg_head_matches(h, FMT, l);

	if (same_facts) {
		/* Only the bytes can tell them apart. */
		cr_expect_eq(FMT->size(l), h->size, "variant %d: image size", v);
		cr_expect_eq(FMT->meta_blocks(l), h->meta_blocks, "variant %d: metadata", v);
		cr_expect_eq(FMT->tree(l)->n_nodes, h->entries, "variant %d: entries", v);
		cr_expect_eq(FMT->tree(l)->data_bytes, h->data_bytes, "variant %d: data", v);
	}
	FMT->unref(l);
	return ret;
}

Test(head, matches_its_layout_and_an_identical_tree_only)
{
	LimgFormatLayout *l = layout_of(big_tree(T_BASE));
	GBytes *raw = render_head(l, TAG);
	LimgHead h;

	parse_ok(raw, TAG, &h);
	cr_expect(limg_head_matches(&h, FMT, l), "not the head of its own layout");
	cr_expect(base_head_matches(&h, T_BASE, true), "not the head of an identical tree");
	cr_expect_not(base_head_matches(&h, T_RESIZED, false), "a file's size changed");
	cr_expect_not(base_head_matches(&h, T_BALANCED, true),
	              "two sizes changed, the total the same");
	cr_expect_not(base_head_matches(&h, T_RENAMED, true), "a name changed");
	cr_expect_not(base_head_matches(&h, T_ADDED, false), "an entry added");

	limg_head_clear(&h);
	g_bytes_unref(raw);
	FMT->unref(l);
}

Test(head, another_tag_does_not_parse)
{
	LimgFormatLayout *l = layout_of(big_tree(T_BASE));
	GBytes *raw = render_head(l, TAG);
	LimgHead h;

	memset(&h, 0x5A, sizeof(h));
	cr_expect_not(limg_head_parse(raw, FMT, TAG + 1, &h), "parsed for another tag");
	cr_expect_null(h.bytes);
	cr_expect_not(limg_head_parse(raw, FMT, 0, &h), "parsed for tag 0");
	cr_expect_null(h.bytes);
	parse_ok(raw, TAG, &h);
	limg_head_clear(&h);

	/* The tag is stored: a head rendered for tag 0 is for tag 0 only. */
	g_bytes_unref(raw);
	raw = render_head(l, 0);
	cr_expect_not(limg_head_parse(raw, FMT, TAG, &h));
	cr_expect_null(h.bytes);
	parse_ok(raw, 0, &h);
	limg_head_clear(&h);

	g_bytes_unref(raw);
	FMT->unref(l);
}

/* The ISO format with its metadata cut to @fake_meta blocks. */
static uint32_t fake_meta;

static uint32_t
fake_meta_blocks(const LimgFormatLayout *l)
{
	return fake_meta;
}

Test(head, no_head_when_metadata_ends_by_block_16)
{
	/*
	 * An ISO 9660 image always has 22 metadata blocks or more (see
	 * test-layout.c), so the case is made with a format whose metadata
	 * is said to end earlier.
	 */
	LimgFormat fake = *FMT;
	LimgFormatLayout *l = layout_of(small_tree());
	GBytes *raw;
	LimgHead h;

	fake.meta_blocks = fake_meta_blocks;
	fake_meta = LIMG_HEAD_FIRST;
	cr_expect_null(limg_head_render(&fake, l, TAG), "a head of the system area alone");
	fake_meta = 1;
	cr_expect_null(limg_head_render(&fake, l, TAG), "a head of one block");
	fake_meta = 0;
	cr_expect_null(limg_head_render(&fake, l, TAG), "a head of no metadata");

	/* One block more, the primary volume descriptor, is a head. */
	fake_meta = LIMG_HEAD_FIRST + 1;
	raw = limg_head_render(&fake, l, TAG);
	cr_assert_not_null(raw, "no head of the system area and the PVD");
	cr_assert(limg_head_parse(raw, &fake, TAG, &h));
	cr_expect_eq(h.blocks, LIMG_HEAD_FIRST + 1);
	cr_expect_eq(g_bytes_get_size(h.bytes), FMT->block_size);
	limg_head_clear(&h);
	g_bytes_unref(raw);

	FMT->unref(l);
}

/* ------------------------------------------------------------ refusals */

static GBytes *good_raw;
static RawFacts good;

static void
refusal_setup(void)
{
	LimgFormatLayout *l = layout_of(big_tree(T_BASE));

	good_raw = render_head(l, TAG);
	cr_assert_geq(g_bytes_get_size(good_raw), sizeof(good));
	memcpy(&good, g_bytes_get_data(good_raw, NULL), sizeof(good));
	FMT->unref(l);
	/* What head.c documents, so that each edit below changes one thing. */
	cr_assert(memcmp(good.magic, "LIHD", 4) == 0);
	cr_assert_eq(good.version, 1);
	cr_assert_eq(good.block_size, FMT->block_size);
	cr_assert_eq(good.blocks, LIMG_HEAD_BLOCKS);
	cr_assert_gt(good.meta_blocks, LIMG_HEAD_BLOCKS + 1);
	cr_assert_eq(good.tag, TAG);
	cr_assert_eq(g_bytes_get_size(good_raw),
	             sizeof(good) + (size_t)(good.blocks - LIMG_HEAD_FIRST) * good.block_size);
}

static void
refusal_teardown(void)
{
	g_clear_pointer(&good_raw, g_bytes_unref);
}

/*
 * A raw head with facts @f and the good head's block bytes cut or
 * extended (zeros) to @n bytes.
 */
static GBytes *
raw_with(const RawFacts *f, size_t n)
{
	gsize good_len = 0;
	const uint8_t *p = g_bytes_get_data(good_raw, &good_len);
	size_t have = good_len - sizeof(*f);
	uint8_t *raw = g_malloc0(sizeof(*f) + n);

	memcpy(raw, f, sizeof(*f));
	memcpy(raw + sizeof(*f), p + sizeof(*f), MIN(have, n));
	return g_bytes_new_take(raw, sizeof(*f) + n);
}

/* Block bytes a head of @blocks blocks of @bs bytes has. */
static size_t
blocks_len(uint32_t blocks, uint32_t bs)
{
	return (size_t)(blocks - LIMG_HEAD_FIRST) * bs;
}

static bool
parses(GBytes *raw, const char *what)
{
	LimgHead h;
	bool ok;

	memset(&h, 0x5A, sizeof(h));
	ok = limg_head_parse(raw, FMT, TAG, &h);
	if (!ok)
		cr_expect_null(h.bytes, "%s: refused, but out.bytes is set", what);
	limg_head_clear(&h);
	g_bytes_unref(raw);
	return ok;
}

static bool
parses_facts(const RawFacts *f, const char *what)
{
	return parses(raw_with(f, blocks_len(f->blocks, f->block_size)), what);
}

Test(head, parse_refuses_short_raw, .init = refusal_setup, .fini = refusal_teardown)
{
	gsize len = 0;
	const uint8_t *p = g_bytes_get_data(good_raw, &len);
	size_t n = blocks_len(good.blocks, good.block_size);

	cr_expect_not(parses(g_bytes_new(NULL, 0), "empty"), "an empty raw head");
	cr_expect_not(parses(g_bytes_new(p, 1), "1 byte"), "1 byte");
	cr_expect_not(parses(g_bytes_new(p, sizeof(RawFacts) - 1), "47 bytes"),
	              "shorter than the facts");
	cr_expect_not(parses(g_bytes_new(p, sizeof(RawFacts)), "facts only"),
	              "the facts without the blocks");
	cr_expect_not(parses(g_bytes_new(p, len - 1), "one byte short"), "one byte short");
	cr_expect_not(parses(g_bytes_new(p, len - good.block_size), "one block short"),
	              "one block short");
	cr_expect_not(parses(raw_with(&good, n + 1), "one byte long"), "one byte too long");
	cr_expect_not(parses(raw_with(&good, n + good.block_size), "one block long"),
	              "one block too long");
	/* The control: the same bytes copied whole parse. */
	cr_expect(parses(g_bytes_new(p, len), "a copy"), "a copy of the raw head");
}

Test(head, parse_refuses_inconsistent_facts, .init = refusal_setup, .fini = refusal_teardown)
{
	RawFacts f;

	/* Controls: the facts as they are, and consistent edits, parse. */
	f = good;
	cr_expect(parses_facts(&f, "as rendered"), "the facts as rendered");
	f = good;
	f.blocks = LIMG_HEAD_FIRST + 1;
	cr_expect(parses_facts(&f, "17 blocks"), "a head of 17 blocks (cut consistently)");
	f = good;
	f.meta_blocks = f.blocks;
	cr_expect(parses_facts(&f, "blocks == meta_blocks"), "blocks == meta_blocks");
	f = good;
	f.size = (uint64_t)f.meta_blocks * f.block_size;
	cr_expect(parses_facts(&f, "size == metadata"), "an image of metadata only");
	f = good;
	f.entries = 1;
	cr_expect(parses_facts(&f, "one entry"), "one entry");

	f = good;
	memcpy(f.magic, "LIHE", 4);
	cr_expect_not(parses_facts(&f, "magic"), "another magic");
	f = good;
	memset(f.magic, 0, 4);
	cr_expect_not(parses_facts(&f, "no magic"), "a zero magic");
	f = good;
	f.version = 2;
	cr_expect_not(parses_facts(&f, "version 2"), "version 2");
	f = good;
	f.version = 0;
	cr_expect_not(parses_facts(&f, "version 0"), "version 0");
	f = good;
	f.block_size = good.block_size / 4;
	cr_expect_not(parses_facts(&f, "block size"), "another block size (length consistent)");
	f = good;
	f.block_size = good.block_size * 2;
	cr_expect_not(parses_facts(&f, "block size x2"), "a block size twice the format's");
	f = good;
	f.blocks = LIMG_HEAD_FIRST;
	cr_expect_not(parses_facts(&f, "16 blocks"), "the system area alone (no bytes)");
	f = good;
	f.blocks = 0;
	cr_expect_not(parses(raw_with(&f, 0), "0 blocks"), "no blocks");
	f = good;
	f.meta_blocks = good.blocks - 1;
	cr_expect_not(parses_facts(&f, "blocks > meta_blocks"), "more blocks than metadata");
	f = good;
	f.blocks = LIMG_HEAD_BLOCKS + 1;
	cr_expect_not(parses_facts(&f, "blocks > LIMG_HEAD_BLOCKS"),
	              "more blocks than a head holds (length consistent)");
	f = good;
	f.blocks = good.blocks - 1;
	cr_expect_not(parses(raw_with(&f, blocks_len(good.blocks, good.block_size)), "length"),
	              "a length that does not match blocks");
	f = good;
	f.size = (uint64_t)f.meta_blocks * f.block_size - 1;
	cr_expect_not(parses_facts(&f, "size < metadata"), "an image smaller than its metadata");
	f = good;
	f.size = 0;
	cr_expect_not(parses_facts(&f, "size 0"), "an image of no bytes");
	f = good;
	f.entries = 0;
	cr_expect_not(parses_facts(&f, "entries 0"), "no entries");
	f = good;
	f.tag = TAG ^ 1;
	cr_expect_not(parses_facts(&f, "tag"), "another tag");
}

/* ------------------------------------------------------------ bytes */

/* @h with its bytes replaced by a copy of them, byte @at xor @x. */
static bool
matches_edited(const LimgHead *h, const LimgFormatLayout *l, gssize at, uint8_t x)
{
	gsize len = 0;
	const uint8_t *p = g_bytes_get_data(h->bytes, &len);
	uint8_t *copy = g_memdup2(p, len);
	LimgHead e = *h;
	bool ret;

	if (at >= 0) {
		cr_assert_lt((gsize)at, len);
		copy[at] ^= x;
	}
	e.bytes = g_bytes_new_take(copy, len);
	ret = limg_head_matches(&e, FMT, l);
	limg_head_clear(&e);
	return ret;
}

Test(head, matches_refuses_a_changed_byte)
{
	LimgFormatLayout *l = layout_of(big_tree(T_BASE));
	GBytes *raw = render_head(l, TAG);
	LimgHead h, e;
	gsize len;

	parse_ok(raw, TAG, &h);
	len = g_bytes_get_size(h.bytes);
	/* The control: an unchanged copy matches. */
	cr_expect(matches_edited(&h, l, -1, 0), "an unchanged copy of the bytes");
	cr_expect_not(matches_edited(&h, l, 0, 0x01), "first byte (block 16's type)");
	cr_expect_not(matches_edited(&h, l, 40, 0x80), "a byte of the volume id");
	cr_expect_not(matches_edited(&h, l, (gssize)len / 2, 0xFF), "a middle byte");
	cr_expect_not(matches_edited(&h, l, (gssize)len - 1, 0x01), "the last byte");
	for (gsize b = 1; b < len / FMT->block_size; b++)
		cr_expect_not(matches_edited(&h, l, (gssize)(b * FMT->block_size + 7), 0x10),
		              "a byte of block %zu", (size_t)(LIMG_HEAD_FIRST + b));

	/* No bytes, or fewer than the blocks say. */
	e = h;
	e.bytes = NULL;
	cr_expect_not(limg_head_matches(&e, FMT, l), "a head without bytes");
	e.bytes = g_bytes_new_from_bytes(h.bytes, 0, len - FMT->block_size);
	cr_expect_not(limg_head_matches(&e, FMT, l), "a block short");
	e.blocks = h.blocks - 1;
	cr_expect(limg_head_matches(&e, FMT, l), "a head cut consistently to blocks - 1");
	limg_head_clear(&e);

	limg_head_clear(&h);
	g_bytes_unref(raw);
	FMT->unref(l);
}

Test(head, matches_refuses_a_changed_fact)
{
	LimgFormatLayout *l = layout_of(big_tree(T_BASE));
	GBytes *raw = render_head(l, TAG);
	LimgHead h, e;

	parse_ok(raw, TAG, &h);
	cr_assert(limg_head_matches(&h, FMT, l));
	/* Each fact one off, the bytes the layout's own. */
	e = h;
	e.size++;
	cr_expect_not(limg_head_matches(&e, FMT, l), "image size + 1");
	e = h;
	e.size -= FMT->block_size;
	cr_expect_not(limg_head_matches(&e, FMT, l), "image size - 1 block");
	e = h;
	e.data_bytes++;
	cr_expect_not(limg_head_matches(&e, FMT, l), "data bytes + 1");
	e = h;
	e.meta_blocks++;
	cr_expect_not(limg_head_matches(&e, FMT, l), "metadata blocks + 1");
	e = h;
	e.entries--;
	cr_expect_not(limg_head_matches(&e, FMT, l), "entries - 1");
	e = h;
	e.blocks--;
	cr_expect_not(limg_head_matches(&e, FMT, l), "blocks - 1, the bytes of all of them");

	limg_head_clear(&h);
	g_bytes_unref(raw);
	FMT->unref(l);
}

/*
 * The ISO format with a system area of metadata blocks (the ISO format's
 * is a zero segment), zeros but for one byte of block @dirty_block (none:
 * UINT32_MAX), and block 16 changed too when @dirty_block is 16.
 */
static uint32_t dirty_block;

static int
dirty_segment(const LimgFormatLayout *l, uint64_t off, LimgSegment *seg)
{
	uint64_t sys = (uint64_t)LIMG_HEAD_FIRST * FMT->block_size;

	if (off >= sys)
		return FMT->segment(l, off, seg);
	memset(seg, 0, sizeof(*seg));
	seg->kind = LIMG_SEG_META;
	seg->offset = off;
	seg->length = sys - off;
	return 0;
}

static int
dirty_render_block(const LimgFormatLayout *l, uint32_t block, uint8_t *buf)
{
	int ret = 0;

	if (block < LIMG_HEAD_FIRST)
		memset(buf, 0, FMT->block_size);
	else
		ret = FMT->render_block(l, block, buf);
	if (ret == 0 && block == dirty_block)
		buf[FMT->block_size - 1] ^= 0x42;
	return ret;
}

Test(head, a_system_area_of_its_own_gives_no_head_and_no_match)
{
	LimgFormat dirty = *FMT;
	LimgFormatLayout *l = layout_of(big_tree(T_BASE));
	GBytes *raw = render_head(l, TAG);
	LimgHead h;

	dirty.segment = dirty_segment;
	dirty.render_block = dirty_render_block;
	parse_ok(raw, TAG, &h);
	/* Controls: a zero system area rendered as metadata; block 16 changed. */
	dirty_block = UINT32_MAX;
	{
		GBytes *other = limg_head_render(&dirty, l, TAG);

		cr_assert_not_null(other, "no head of a zero system area rendered as metadata");
		cr_expect(g_bytes_equal(other, raw));
		g_bytes_unref(other);
	}
	cr_expect(limg_head_matches(&h, &dirty, l), "a zero system area rendered as metadata");
	dirty_block = LIMG_HEAD_FIRST;
	{
		GBytes *other = limg_head_render(&dirty, l, TAG);

		cr_assert_not_null(other, "a changed PVD still makes a head");
		g_bytes_unref(other);
	}
	cr_expect_not(limg_head_matches(&h, &dirty, l), "a changed PVD");
	/* A byte of the system area set. */
	for (uint32_t b = 0; b < LIMG_HEAD_FIRST; b += 5) {
		dirty_block = b;
		cr_expect_null(limg_head_render(&dirty, l, TAG), "system area block %u set", b);
		cr_expect_not(limg_head_matches(&h, &dirty, l), "system area block %u set", b);
	}

	limg_head_clear(&h);
	g_bytes_unref(raw);
	FMT->unref(l);
}
