/*
 * test-gen-read.c - the read planner (cache/gen-read.h).
 *
 * limg_plan_read() is checked against a model of the image built from
 * the layout's own answers to other questions (meta_blocks, size, and
 * limg_layout_node_lba() of every file), never from its segment map: the
 * pieces it hands out must be exactly the model's, in order, and the
 * bytes assembled from the model (zeros, rendered blocks, synthetic file
 * contents) must be what a read through the planner gives. A synthetic
 * format with a hand-written segment table checks it without ISO 9660.
 *
 * limg_gen_read() / limg_gen_pread() are checked through an image service
 * over a real directory: any range equals the same range of the whole
 * image, the whole image equals one laid out and read independently
 * (a fresh scan, a fresh layout, files read by path), file extents found
 * by parsing the image's directory records hold the files' bytes, and a
 * file changed or a layer removed after the layout fails the read.
 */
#include <config.h>

#include <fcntl.h>
#include <unistd.h>

#include "cache/gen-read.h"
#include "cache/images.h"
#include "iso/format.h"
#include "lib/testlib.h"

#define BLK 2048

/* ------------------------------------------------------------ pieces */

typedef enum { P_META, P_DATA, P_ZERO } PieceKind;

typedef struct {
	PieceKind kind;
	uint64_t pos;          /* image offset of the piece */
	uint64_t len;
	uint32_t block;        /* META */
	size_t off;            /*   offset in the block */
	uint32_t node;         /* DATA */
	uint64_t file_off;
} Piece;

typedef struct {
	GArray *pieces;        /* Piece */
	uint64_t pos;
	unsigned calls;
	unsigned fail_at;      /* fail the call with this number (1-based); 0: never */
	int fail_with;
	unsigned calls_after_failure;
	bool failed;
} Rec;

static int
rec_piece(Rec *r, Piece p)
{
	if (r->failed) {
		r->calls_after_failure++;
		return -EFAULT;
	}
	r->calls++;
	if (r->fail_at && r->calls == r->fail_at) {
		r->failed = true;
		return r->fail_with;
	}
	p.pos = r->pos;
	r->pos += p.len;
	g_array_append_val(r->pieces, p);
	return 0;
}

static int
rec_meta(void *ctx, uint32_t block, size_t off, size_t len)
{
	return rec_piece(ctx, (Piece){ .kind = P_META, .block = block, .off = off, .len = len });
}

static int
rec_data(void *ctx, uint32_t node, uint64_t file_off, uint64_t len)
{
	return rec_piece(ctx, (Piece){ .kind = P_DATA, .node = node, .file_off = file_off, .len = len });
}

static int
rec_zero(void *ctx, uint64_t len)
{
	return rec_piece(ctx, (Piece){ .kind = P_ZERO, .len = len });
}

static const LimgPlanSink rec_sink = { rec_meta, rec_data, rec_zero };

static Rec
rec_new(uint64_t off)
{
	return (Rec){ .pieces = g_array_new(FALSE, FALSE, sizeof(Piece)), .pos = off };
}

/*
 * Merge neighbours that are one run: zeros after zeros, the same block
 * continued, the same file continued. Whatever way a planner cuts a run
 * is fine as long as the runs are the same.
 */
static GArray *
normalize(GArray *in)
{
	GArray *out = g_array_new(FALSE, FALSE, sizeof(Piece));

	for (guint i = 0; i < in->len; i++) {
		Piece p = g_array_index(in, Piece, i);
		Piece *last = out->len ? &g_array_index(out, Piece, out->len - 1) : NULL;

		if (last && last->kind == p.kind && last->pos + last->len == p.pos &&
		    ((p.kind == P_ZERO) ||
		     (p.kind == P_META && last->block == p.block && last->off + last->len == p.off) ||
		     (p.kind == P_DATA && last->node == p.node &&
		      last->file_off + last->len == p.file_off))) {
			last->len += p.len;
			continue;
		}
		g_array_append_val(out, p);
	}
	return out;
}

/* ------------------------------------------------------------ the model */

typedef struct {
	PieceKind kind;
	uint64_t start, end;   /* image offsets */
	uint32_t node;         /* DATA */
} Run;

static gint
cmp_run(gconstpointer a, gconstpointer b)
{
	const Run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The image's runs from the layout's meta_blocks, size and node LBAs:
 * zeros (system area), metadata, then file extents in LBA order with
 * zeros between and after.
 */
static GArray *
model_runs(const LimgLayout *l)
{
	const LimgTree *t = limg_layout_tree(l);
	uint64_t size = limg_layout_size(l), meta_end = (uint64_t)limg_layout_meta_blocks(l) * BLK;
	g_autoptr(GArray) ext = g_array_new(FALSE, FALSE, sizeof(Run));
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
	GArray *runs = g_array_new(FALSE, FALSE, sizeof(Run));
	uint64_t pos;

	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];
		uint32_t lba;
		Run r;

		if (!S_ISREG(n->mode) || n->size == 0)
			continue;
		lba = limg_layout_node_lba(l, i);
		cr_assert_geq((uint64_t)lba * BLK, meta_end, "node %u's data inside the metadata", i);
		if (g_hash_table_contains(seen, GUINT_TO_POINTER(lba)))
			continue;   /* a hard link: one extent */
		g_hash_table_add(seen, GUINT_TO_POINTER(lba));
		r = (Run){ P_DATA, (uint64_t)lba * BLK, (uint64_t)lba * BLK + n->size, i };
		g_array_append_val(ext, r);
	}
	g_array_sort(ext, cmp_run);
	g_array_append_val(runs, ((Run){ P_ZERO, 0, 16 * BLK, 0 }));
	g_array_append_val(runs, ((Run){ P_META, 16 * BLK, meta_end, 0 }));
	pos = meta_end;
	for (guint i = 0; i < ext->len; i++) {
		Run r = g_array_index(ext, Run, i);

		cr_assert_geq(r.start, pos, "extents overlap at %" PRIu64, r.start);
		cr_assert_eq(r.start % BLK, 0);
		if (r.start > pos)
			g_array_append_val(runs, ((Run){ P_ZERO, pos, r.start, 0 }));
		g_array_append_val(runs, r);
		pos = r.end;
	}
	cr_assert_leq(pos, size, "a file runs past the image's end");
	if (pos < size)
		g_array_append_val(runs, ((Run){ P_ZERO, pos, size, 0 }));
	return runs;
}

/* The model's pieces of [off, off + len) (cut at the end), normalized. */
static GArray *
model_pieces(const LimgLayout *l, GArray *runs, uint64_t off, uint64_t len)
{
	uint64_t size = limg_layout_size(l), end = off >= size ? off : off + MIN(len, size - off);
	GArray *out = g_array_new(FALSE, FALSE, sizeof(Piece));

	for (guint i = 0; i < runs->len; i++) {
		const Run *r = &g_array_index(runs, Run, i);
		uint64_t a = MAX(r->start, off), b = MIN(r->end, end);

		if (a >= b)
			continue;
		if (r->kind == P_META) {
			for (uint64_t p = a; p < b;) {
				uint64_t n = MIN(b, (p / BLK + 1) * BLK) - p;
				Piece pc = { .kind = P_META, .pos = p, .len = n,
				             .block = (uint32_t)(p / BLK), .off = (size_t)(p % BLK) };

				g_array_append_val(out, pc);
				p += n;
			}
		} else {
			Piece pc = { .kind = r->kind, .pos = a, .len = b - a, .node = r->node,
			             .file_off = a - r->start };

			g_array_append_val(out, pc);
		}
	}
	return out;
}

static const char *
kind_name(PieceKind k)
{
	return k == P_META ? "meta" : k == P_DATA ? "data" : "zero";
}

/* The planner's pieces of [off, off + len) are the model's. */
static void
expect_plan_matches_model(const LimgLayout *l, GArray *runs, uint64_t off, uint64_t len)
{
	const LimgTree *t = limg_layout_tree(l);
	Rec r = rec_new(off);
	int ret = limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)l, off, len,
	                         &rec_sink, &r);
	g_autoptr(GArray) got = NULL, want = model_pieces(l, runs, off, len);
	uint64_t sum = 0;

	cr_assert_eq(ret, 0, "plan [%" PRIu64 ", +%" PRIu64 "): %d", off, len, ret);
	for (guint i = 0; i < r.pieces->len; i++) {
		const Piece *p = &g_array_index(r.pieces, Piece, i);

		cr_assert_gt(p->len, 0, "an empty piece at %" PRIu64, p->pos);
		sum += p->len;
		if (p->kind == P_META) {
			cr_assert_leq(p->off + p->len, BLK, "a meta piece crosses block %u", p->block);
			cr_assert_eq((uint64_t)p->block * BLK + p->off, p->pos,
			             "meta piece at %" PRIu64 " names block %u+%zu", p->pos, p->block,
			             p->off);
		} else if (p->kind == P_DATA) {
			cr_assert_lt(p->node, t->n_nodes);
			cr_assert(S_ISREG(t->nodes[p->node].mode), "data of a non-file node %u", p->node);
			cr_assert_leq(p->file_off + p->len, t->nodes[p->node].size,
			              "data past the end of node %u", p->node);
			cr_assert_eq((uint64_t)limg_layout_node_lba(l, p->node) * BLK + p->file_off,
			             p->pos, "data of node %u at %" PRIu64 " is not where its LBA says",
			             p->node, p->pos);
		}
	}
	cr_assert_eq(sum, off >= limg_layout_size(l) ? 0 : MIN(len, limg_layout_size(l) - off),
	             "the pieces of [%" PRIu64 ", +%" PRIu64 ") add up to %" PRIu64, off, len, sum);
	got = normalize(r.pieces);
	{
		g_autoptr(GArray) w = normalize(want);

		cr_assert_eq(got->len, w->len, "[%" PRIu64 ", +%" PRIu64 "): %u runs, the model has %u",
		             off, len, got->len, w->len);
		for (guint i = 0; i < w->len; i++) {
			const Piece *a = &g_array_index(got, Piece, i), *b = &g_array_index(w, Piece, i);

			cr_assert_eq(a->kind, b->kind, "run %u at %" PRIu64 ": %s, the model says %s", i,
			             b->pos, kind_name(a->kind), kind_name(b->kind));
			cr_assert_eq(a->pos, b->pos, "run %u", i);
			cr_assert_eq(a->len, b->len, "run %u at %" PRIu64 " (%s)", i, b->pos,
			             kind_name(b->kind));
			if (b->kind == P_DATA) {
				cr_assert_eq(limg_layout_node_lba(l, a->node),
				             limg_layout_node_lba(l, b->node));
				cr_assert_eq(a->file_off, b->file_off);
			}
		}
	}
	g_array_free(r.pieces, TRUE);
}

/* ------------------------------------------------------------ layouts */

static TreeBuilder *tb;
static LimgLayout *lay;
static GArray *runs;

static void
setup_plan(void)
{
	tb = tb_new();
	lay = NULL;
	runs = NULL;
}

static void
teardown_plan(void)
{
	if (runs)
		g_array_free(runs, TRUE);
	limg_layout_unref(lay);
	tb_free(tb);
}

TestSuite(gen_read, .timeout = 60);

/* The planner's tests: a layout of a built tree (or a synthetic format). */

static void
mixed_tree(void)
{
	TbEntry *g;

	tb_file(tb, "a", 1);
	tb_file(tb, "b", 2047);
	tb_file(tb, "c", 2048);
	tb_file(tb, "d", 2049);
	tb_file(tb, "e", 0);
	tb_file(tb, "sub/f", 10000);
	g = tb_file(tb, "sub/g", 333);
	tb_link(tb, "h", g);
	tb_symlink(tb, "sub/l", "../a");
	tb_dev(tb, "sub/n", S_IFCHR, 1, 3);
	for (int i = 0; i < 60; i++) {
		g_autofree char *p = g_strdup_printf("many/entry-with-a-longish-name-%03d", i);

		tb_file(tb, p, (uint64_t)i * 37);
	}
	lay = build_layout(tb_build(tb), NULL);
	runs = model_runs(lay);
}

Test(gen_read, plan_whole_image_is_the_model,
     .init = setup_plan, .fini = teardown_plan)
{
	mixed_tree();
	expect_plan_matches_model(lay, runs, 0, limg_layout_size(lay));
}

Test(gen_read, plan_any_range_is_the_model,
     .init = setup_plan, .fini = teardown_plan)
{
	GRand *r = g_rand_new_with_seed(20261201);
	uint64_t size;

	mixed_tree();
	size = limg_layout_size(lay);
	for (int i = 0; i < 400; i++) {
		uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)size);
		uint64_t len = i % 8 == 0 ? (uint64_t)g_rand_int_range(r, 1, (gint32)size) :
		               (uint64_t)g_rand_int_range(r, 1, 6000);

		expect_plan_matches_model(lay, runs, off, len);
	}
	g_rand_free(r);
}

Test(gen_read, plan_ranges_around_every_boundary_are_the_model,
     .init = setup_plan, .fini = teardown_plan)
{
	mixed_tree();
	for (guint i = 0; i < runs->len; i++) {
		const Run *x = &g_array_index(runs, Run, i);
		uint64_t edges[] = { x->start, x->end };

		for (int k = 0; k < 2; k++) {
			uint64_t e = edges[k];

			for (uint64_t d = 0; d < 3; d++) {
				if (e >= d)
					expect_plan_matches_model(lay, runs, e - d, 1);
				expect_plan_matches_model(lay, runs, e + d, 1);
				if (e >= 2)
					expect_plan_matches_model(lay, runs, e - 2, 4 + d);
			}
		}
	}
}

Test(gen_read, plan_lengths_are_cut_at_the_end,
     .init = setup_plan, .fini = teardown_plan)
{
	uint64_t size;

	mixed_tree();
	size = limg_layout_size(lay);
	expect_plan_matches_model(lay, runs, size - 10, 100000);
	expect_plan_matches_model(lay, runs, 0, UINT64_MAX);
	expect_plan_matches_model(lay, runs, size - 1, UINT64_MAX);
	{
		Rec r = rec_new(size);

		cr_expect_eq(limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay, size,
		                            10, &rec_sink, &r), 0);
		cr_expect_eq(r.calls, 0, "nothing at the end");
		cr_expect_eq(limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay,
		                            size + 5000, 10, &rec_sink, &r), 0);
		cr_expect_eq(limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay, 100, 0,
		                            &rec_sink, &r), 0);
		cr_expect_eq(r.calls, 0, "nothing past it, nothing for no bytes");
		g_array_free(r.pieces, TRUE);
	}
}

Test(gen_read, plan_padding_and_the_system_area_are_zero_pieces,
     .init = setup_plan, .fini = teardown_plan)
{
	TbEntry *one;
	uint64_t pos;
	Rec r = rec_new(0);
	const Piece *p;

	one = tb_file(tb, "one", 1);
	tb_file(tb, "two", 5000);
	lay = build_layout(tb_build(tb), NULL);
	runs = model_runs(lay);
	/* The system area: one zero piece of 16 blocks. */
	cr_assert_eq(limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay, 0, 16 * BLK,
	                            &rec_sink, &r), 0);
	cr_assert_eq(r.pieces->len, 1);
	p = &g_array_index(r.pieces, Piece, 0);
	cr_expect_eq(p->kind, P_ZERO);
	cr_expect_eq(p->len, 16 * BLK);
	g_array_set_size(r.pieces, 0);
	/* A one-byte file: its byte, then zeros to the end of its block. */
	pos = (uint64_t)limg_layout_node_lba(lay, one->idx) * BLK;
	r.pos = pos;
	r.calls = 0;
	cr_assert_eq(limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay, pos, BLK,
	                            &rec_sink, &r), 0);
	cr_assert_eq(r.pieces->len, 2);
	p = &g_array_index(r.pieces, Piece, 0);
	cr_expect_eq(p->kind, P_DATA);
	cr_expect_eq(p->node, one->idx);
	cr_expect_eq(p->file_off, 0);
	cr_expect_eq(p->len, 1);
	p = &g_array_index(r.pieces, Piece, 1);
	cr_expect_eq(p->kind, P_ZERO);
	cr_expect_eq(p->len, BLK - 1);
	g_array_free(r.pieces, TRUE);
	expect_plan_matches_model(lay, runs, 0, limg_layout_size(lay));
}

Test(gen_read, plan_meta_pieces_are_one_block_each,
     .init = setup_plan, .fini = teardown_plan)
{
	uint32_t meta;
	Rec r = rec_new(16 * BLK + 100);

	mixed_tree();
	meta = limg_layout_meta_blocks(lay);
	cr_assert_gt(meta, 19);
	cr_assert_eq(limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay,
	                            16 * BLK + 100, 3 * BLK, &rec_sink, &r), 0);
	cr_assert_eq(r.pieces->len, 4, "a range over 4 blocks is 4 pieces");
	for (guint i = 0; i < 4; i++) {
		const Piece *p = &g_array_index(r.pieces, Piece, i);

		cr_expect_eq(p->kind, P_META);
		cr_expect_eq(p->block, 16 + i);
		cr_expect_eq(p->off, i == 0 ? 100 : 0);
		cr_expect_eq(p->len, i == 0 ? BLK - 100 : i == 3 ? 100 : BLK);
	}
	g_array_free(r.pieces, TRUE);
}

Test(gen_read, plan_multi_extent_file_is_one_run_of_data,
     .init = setup_plan, .fini = teardown_plan)
{
	TbEntry *big;
	uint64_t size = 5ull << 30, start;

	big = tb_file(tb, "big", size);
	tb_file(tb, "small", 3000);
	lay = build_layout(tb_build(tb), NULL);
	runs = model_runs(lay);
	start = (uint64_t)limg_layout_node_lba(lay, big->idx) * BLK;
	expect_plan_matches_model(lay, runs, 0, limg_layout_size(lay));
	/* Around the 4 GiB section boundaries and the file's end. */
	for (uint64_t s = 1; s <= 2; s++) {
		uint64_t at = start + s * (0xFFFFFFFFull & ~(uint64_t)(BLK - 1));

		expect_plan_matches_model(lay, runs, at - 5000, 10000);
	}
	expect_plan_matches_model(lay, runs, start + size - 100, 5000);
}

/* The bytes of [off, off + len) assembled from the model alone. */
static void
model_bytes(const LimgLayout *l, GArray *rs, uint64_t off, size_t len, uint8_t *out)
{
	g_autoptr(GArray) pieces = model_pieces(l, rs, off, len);
	size_t at = 0;

	for (guint i = 0; i < pieces->len; i++) {
		const Piece *p = &g_array_index(pieces, Piece, i);

		if (p->kind == P_ZERO) {
			memset(out + at, 0, p->len);
		} else if (p->kind == P_META) {
			uint8_t blk[BLK];

			cr_assert_eq(limg_render_block(l, p->block, blk), 0);
			memcpy(out + at, blk + p->off, p->len);
		} else {
			for (uint64_t k = 0; k < p->len; k++)
				out[at + k] = synth_byte(p->node, p->file_off + k);
		}
		at += p->len;
	}
}

Test(gen_read, plan_bytes_read_through_the_planner_are_the_models,
     .init = setup_plan, .fini = teardown_plan)
{
	SynthCtx ctx;
	size_t size;
	g_autofree uint8_t *want = NULL, *got = NULL;
	GRand *r = g_rand_new_with_seed(7);

	mixed_tree();
	size = limg_layout_size(lay);
	ctx = (SynthCtx){ .tree = limg_layout_tree(lay) };
	want = g_malloc(size);
	got = g_malloc(size);
	model_bytes(lay, runs, 0, size, want);
	cr_assert_eq(th_pread(lay, got, size, 0, synth_read, &ctx), (ssize_t)size);
	cr_expect(memcmp(got, want, size) == 0, "the whole image differs from the model");
	for (int i = 0; i < 200; i++) {
		uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)size);
		size_t len = (size_t)g_rand_int_range(r, 1, 9000);
		ssize_t n = th_pread(lay, got, len, off, synth_read, &ctx);

		cr_assert_eq(n, (ssize_t)MIN(len, size - off));
		cr_assert(memcmp(got, want + off, (size_t)n) == 0, "[%" PRIu64 ", +%zu)", off, len);
	}
	cr_expect_eq(ctx.bad, 0);
	g_rand_free(r);
}

static void
expect_failure_stops_the_walk(PieceKind kind, int err)
{
	Rec r = rec_new(0);
	GArray *all;
	unsigned nth = 0, k = 0;
	int ret;

	mixed_tree();
	/* Find the second piece of @kind in a whole-image walk. */
	cr_assert_eq(limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay, 0,
	                            limg_layout_size(lay), &rec_sink, &r), 0);
	all = r.pieces;
	for (guint i = 0; i < all->len && !nth; i++) {
		if (g_array_index(all, Piece, i).kind == kind && ++k == 2)
			nth = i + 1;
	}
	cr_assert_gt(nth, 0, "no second %s piece", kind_name(kind));
	g_array_free(all, TRUE);
	r = rec_new(0);
	r.fail_at = nth;
	r.fail_with = err;
	ret = limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)lay, 0,
	                     limg_layout_size(lay), &rec_sink, &r);
	cr_expect_eq(ret, err, "the callback's error is the walk's");
	cr_expect_eq(r.calls_after_failure, 0, "no callback after the failure");
	cr_expect_eq(r.calls, nth);
	g_array_free(r.pieces, TRUE);
}

Test(gen_read, plan_a_failing_meta_callback_stops_the_walk,
     .init = setup_plan, .fini = teardown_plan)
{
	expect_failure_stops_the_walk(P_META, -EXDEV);
}

Test(gen_read, plan_a_failing_data_callback_stops_the_walk,
     .init = setup_plan, .fini = teardown_plan)
{
	expect_failure_stops_the_walk(P_DATA, -ENOSPC);
}

Test(gen_read, plan_a_failing_zero_callback_stops_the_walk,
     .init = setup_plan, .fini = teardown_plan)
{
	expect_failure_stops_the_walk(P_ZERO, -EPIPE);
}

/* ------------------------------------------------------------ a synthetic format */

/*
 * Block size 100, 1000 bytes: zeros [0,150), metadata [150,420), node 7
 * [420,500), zeros [500,520), node 9 from its byte 30 [520,900), zeros
 * [900,1000). When "broken", the layout cannot map [600,700): the
 * segment before it ends at 600.
 */
typedef struct {
	bool broken;
	unsigned segment_calls;
} FakeLayout;

static const struct {
	LimgSegKind kind;
	uint64_t start, end;
	uint32_t node;
	uint64_t file_off;
} fake_map[] = {
	{ LIMG_SEG_ZERO, 0, 150, 0, 0 },   { LIMG_SEG_META, 150, 420, 0, 0 },
	{ LIMG_SEG_DATA, 420, 500, 7, 0 }, { LIMG_SEG_ZERO, 500, 520, 0, 0 },
	{ LIMG_SEG_DATA, 520, 900, 9, 30 }, { LIMG_SEG_ZERO, 900, 1000, 0, 0 },
};

static uint64_t
fake_size(const LimgFormatLayout *l)
{
	(void)l;
	return 1000;
}

static int
fake_segment(const LimgFormatLayout *l, uint64_t off, LimgSegment *seg)
{
	FakeLayout *f = (FakeLayout *)l;

	f->segment_calls++;
	if (off >= 1000 || (f->broken && off >= 600 && off < 700))
		return -EINVAL;
	for (size_t i = 0; i < G_N_ELEMENTS(fake_map); i++) {
		if (off >= fake_map[i].start && off < fake_map[i].end) {
			memset(seg, 0, sizeof(*seg));
			seg->kind = fake_map[i].kind;
			seg->offset = off;
			seg->length = fake_map[i].end - off;
			seg->node = fake_map[i].node;
			seg->file_offset = fake_map[i].file_off + (off - fake_map[i].start);
			if (f->broken && off < 600 && fake_map[i].end > 600)
				seg->length = 600 - off;   /* what follows is the hole */
			return 0;
		}
	}
	return -EINVAL;
}

static const LimgFormat fake_format = {
	.name = "fake",
	.block_size = 100,
	.size = fake_size,
	.segment = fake_segment,
};

/* "m<block>+<off>/<len> d<node>@<off>/<len> z<len>" of the pieces. */
static char *
describe(GArray *pieces)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < pieces->len; i++) {
		const Piece *p = &g_array_index(pieces, Piece, i);

		if (i)
			g_string_append_c(s, ' ');
		if (p->kind == P_META)
			g_string_append_printf(s, "m%u+%zu/%" PRIu64, p->block, p->off, p->len);
		else if (p->kind == P_DATA)
			g_string_append_printf(s, "d%u@%" PRIu64 "/%" PRIu64, p->node, p->file_off,
			                       p->len);
		else
			g_string_append_printf(s, "z%" PRIu64, p->len);
	}
	return g_string_free(s, FALSE);
}

static char *
fake_plan(FakeLayout *f, uint64_t off, uint64_t len, int *ret)
{
	Rec r = rec_new(off);
	char *d;

	*ret = limg_plan_read(&fake_format, (const LimgFormatLayout *)f, off, len, &rec_sink, &r);
	d = describe(r.pieces);
	g_array_free(r.pieces, TRUE);
	return d;
}

Test(gen_read, plan_synthetic_format_pieces_are_exact,
     .init = setup_plan, .fini = teardown_plan)
{
	static const struct {
		uint64_t off, len;
		const char *want;
	} cases[] = {
		{ 0, 1000, "z150 m1+50/50 m2+0/100 m3+0/100 m4+0/20 d7@0/80 z20 d9@30/380 z100" },
		{ 140, 20, "z10 m1+50/10" },
		{ 199, 2, "m1+99/1 m2+0/1" },
		{ 410, 20, "m4+10/10 d7@0/10" },
		{ 499, 30, "d7@79/1 z20 d9@30/9" },
		{ 600, 5, "d9@110/5" },
		{ 950, 500, "z50" },
		{ 999, 1, "z1" },
		{ 1000, 10, "" },
		{ 5, 0, "" },
	};
	FakeLayout f = { 0 };

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		int ret = 1;
		g_autofree char *got = fake_plan(&f, cases[i].off, cases[i].len, &ret);

		cr_expect_eq(ret, 0);
		cr_expect_str_eq(got, cases[i].want, "[%" PRIu64 ", +%" PRIu64 "): %s", cases[i].off,
		                 cases[i].len, got);
	}
}

Test(gen_read, plan_an_offset_the_layout_cannot_map_is_eio,
     .init = setup_plan, .fini = teardown_plan)
{
	FakeLayout f = { .broken = true };
	int ret = 0;
	g_autofree char *before = fake_plan(&f, 590, 100, &ret);
	g_autofree char *after = NULL;

	cr_expect_eq(ret, -EIO);
	cr_expect_str_eq(before, "d9@100/10", "the pieces before the hole were handed out");
	after = fake_plan(&f, 700, 100, &ret);
	cr_expect_eq(ret, 0);
	cr_expect_str_eq(after, "d9@210/100");
}

/* ------------------------------------------------------------ a service */

static char *base, *store, *cache;
static LimgImages *im;
static GPtrArray *events;
static GMutex events_lock;

static void
on_notify(void *ctx, const char *name, LimgImageEvent ev)
{
	g_mutex_lock(&events_lock);
	g_ptr_array_add(events, g_strdup_printf("%s:%s", name,
	                                        ev == LIMG_IMAGE_CHANGED ? "CHANGED" : "REMOVED"));
	g_mutex_unlock(&events_lock);
}

/* Deterministic contents of the test files. */
static void
put_file(const char *rel, size_t size, unsigned seed)
{
	g_autofree uint8_t *d = g_malloc(size ? size : 1);

	for (size_t i = 0; i < size; i++)
		d[i] = (uint8_t)((i * 131 + seed * 17) ^ (i >> 7));
	th_write(store, rel, d, size);
}

static const struct {
	const char *rel;
	size_t size;
} files[] = {
	{ "a/empty", 0 },     { "a/one", 1 },           { "a/b2047", 2047 },
	{ "a/b2048", 2048 },  { "a/b2049", 2049 },      { "a/sub/five", 5000 },
	{ "a/sub/big", 70000 }, { "a/sub/deep/er/x", 3 },
};

static void
setup_gen(void)
{
	base = th_tmpdir();
	store = g_build_filename(base, "store", NULL);
	cache = g_build_filename(base, "cache", NULL);
	th_mkdir(base, "cache");
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
		put_file(files[i].rel, files[i].size, (unsigned)i);
	{
		g_autofree char *l = g_build_filename(store, "a", "link", NULL);

		cr_assert_eq(symlink("sub/five", l), 0);
	}
	th_mkdir(store, "a/emptydir");
	events = g_ptr_array_new_with_free_func(g_free);
	g_mutex_init(&events_lock);
	im = NULL;
}

static void
teardown_gen(void)
{
	limg_images_free(im);
	th_rmtree(base);
	g_free(base);
	g_free(store);
	g_free(cache);
	g_ptr_array_free(events, TRUE);
	g_mutex_clear(&events_lock);
}

/* The reads' tests: an image service over layer "a" of a scratch store. */

static LimgGen *
start_service(const LimgImagesOptions *o)
{
	LimgGen *g = NULL;
	int ret;

	im = th_images_new(store, "plain", o);
	limg_images_set_notify(im, on_notify, NULL);
	ret = limg_images_get(im, "a", &g);
	cr_assert_eq(ret, 0, "get a: %d", ret);
	return g;
}

static uint8_t *
read_whole(LimgGen *g, size_t *size)
{
	uint64_t sz = limg_gen_size(g);
	uint8_t *buf = g_malloc(sz);

	cr_assert_eq(limg_gen_pread(g, buf, sz, 0), (ssize_t)sz);
	*size = sz;
	return buf;
}

static LimgImagesStats
stats(void)
{
	LimgImagesStats st;

	limg_images_stats(im, &st);
	return st;
}

/* Read node contents by path below the layer: the independent reader. */
typedef struct {
	const LimgTree *tree;
	const char *root;
} PathCtx;

static int
read_by_path(void *ctx, uint32_t node, uint64_t off, void *buf, size_t len)
{
	PathCtx *c = ctx;
	g_autofree char *rel = limg_tree_path(c->tree, node);
	g_autofree char *path = g_build_filename(c->root, rel, NULL);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, (off_t)off);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/*
 * The per-layer rule of tree/overlay.h, as the service applies it: the
 * root shows mode 0755, owner 0:0, the newest mtime of the other entries
 * (0 if none) and no xattrs. (The fixture has no whiteouts and no
 * overlay xattrs, the rule's other cases.)
 */
static void
normalize_layer_root(LimgTree *t)
{
	LimgTime newest = { 0, 0 };

	for (uint32_t i = 1; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];

		cr_assert(!(S_ISCHR(n->mode) && n->rdev_major == 0 && n->rdev_minor == 0),
		          "the fixture has no whiteouts");
		if (n->mtime.sec > newest.sec ||
		    (n->mtime.sec == newest.sec && n->mtime.nsec > newest.nsec))
			newest = n->mtime;
	}
	t->nodes[0].mode = S_IFDIR | 0755;
	t->nodes[0].uid = t->nodes[0].gid = 0;
	t->nodes[0].mtime = newest;
	t->nodes[0].xattrs = LIMG_NONE;
}

Test(gen_read, whole_image_equals_an_independent_layout_and_read,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgGen *g = start_service(NULL);
	g_autofree char *layer = g_build_filename(store, "a", NULL);
	g_autofree uint8_t *img = NULL, *want = NULL;
	LimgSource *src = NULL;
	LimgTree *tree = NULL;
	LimgLayout *l;
	PathCtx pc;
	size_t size;

	img = read_whole(g, &size);
	cr_assert_eq(limg_dir_source_new(store, "a", &src), 0);
	cr_assert_eq(limg_source_scan(src, &(LimgScanOptions){ .xattrs = false }, NULL, &tree, NULL),
	             0);
	normalize_layer_root(tree);
	l = build_layout(tree, NULL);
	cr_assert_eq(limg_layout_size(l), size, "the same tree lays out to the same size");
	want = g_malloc(size);
	pc = (PathCtx){ limg_layout_tree(l), layer };
	cr_assert_eq(th_pread(l, want, size, 0, read_by_path, &pc), (ssize_t)size);
	{
		size_t first = 0;

		while (first < size && img[first] == want[first])
			first++;
		cr_expect_eq(first, size, "the service's image differs from byte %zu (block %zu)",
		             first, first / BLK);
	}
	limg_layout_unref(l);
	limg_source_free(src);
	limg_gen_unref(g);
}

/* The extent and size of @path in image @img, from its directory records. */
static bool
find_extent(const uint8_t *img, size_t size, const char *path, uint32_t *extent, uint32_t *len)
{
	g_auto(GStrv) comps = g_strsplit(path, "/", -1);
	DirRec dir;

	parse_dr(img + 16 * BLK + 156, 16 * BLK + 156, &dir);
	for (guint c = 0; comps[c]; c++) {
		GArray *recs = read_dir(img, size, dir.extent, dir.size);
		bool found = false;

		for (guint i = 2; i < recs->len && !found; i++) {
			const DirRec *r = &g_array_index(recs, DirRec, i);
			GArray *ents = susp_entries(img, size, r);
			size_t nl;
			g_autofree char *nm = susp_nm(ents, &nl);

			if (nl == strlen(comps[c]) && memcmp(nm, comps[c], nl) == 0) {
				dir = *r;
				found = true;
			}
			g_array_free(ents, TRUE);
		}
		g_array_free(recs, TRUE);
		if (!found)
			return false;
	}
	*extent = dir.extent;
	*len = dir.size;
	return true;
}

Test(gen_read, file_extents_hold_the_files_bytes,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgGen *g = start_service(NULL);
	g_autofree uint8_t *img = NULL;
	size_t size;

	img = read_whole(g, &size);
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = g_build_filename(store, files[i].rel, NULL);
		size_t flen;
		g_autofree uint8_t *data = th_read(path, &flen);
		uint32_t extent = 0, len = 0;

		cr_assert(find_extent(img, size, files[i].rel + 2, &extent, &len), "no record for %s",
		          files[i].rel);
		cr_expect_eq(len, flen, "%s: size", files[i].rel);
		if (flen) {
			cr_assert_leq((uint64_t)extent * BLK + flen, size);
			cr_expect(memcmp(img + (uint64_t)extent * BLK, data, flen) == 0,
			          "%s: the extent does not hold the file", files[i].rel);
		}
	}
	limg_gen_unref(g);
}

Test(gen_read, any_range_equals_the_same_range_of_the_whole_image,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgGen *g = start_service(NULL);
	g_autofree uint8_t *img = NULL, *buf = NULL;
	GRand *r = g_rand_new_with_seed(99);
	size_t size;

	img = read_whole(g, &size);
	buf = g_malloc(size + 8192);
	for (int i = 0; i < 300; i++) {
		uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)size);
		size_t len = i % 10 == 0 ? (size_t)g_rand_int_range(r, 1, (gint32)size + 8192) :
		             (size_t)g_rand_int_range(r, 1, 9000);
		ssize_t n = limg_gen_pread(g, buf, len, off);

		cr_assert_eq(n, (ssize_t)MIN(len, size - off), "[%" PRIu64 ", +%zu): %zd", off, len, n);
		cr_assert(memcmp(buf, img + off, (size_t)n) == 0, "[%" PRIu64 ", +%zu) differs", off,
		          len);
	}
	/* Single bytes at every block edge. */
	for (uint64_t b = 1; b < size / BLK; b++) {
		uint64_t offs[] = { b * BLK - 1, b * BLK, b * BLK + 1 };

		for (int k = 0; k < 3; k++) {
			uint8_t byte = 0xAA;

			cr_assert_eq(limg_gen_pread(g, &byte, 1, offs[k]), 1);
			cr_assert_eq(byte, img[offs[k]], "byte %" PRIu64, offs[k]);
		}
	}
	cr_expect_eq(limg_gen_pread(g, buf, 100, size), 0, "nothing at the end");
	cr_expect_eq(limg_gen_pread(g, buf, 100, size + 1), 0);
	cr_expect_eq(limg_gen_pread(g, buf, 100, size - 10), 10, "cut at the end");
	cr_expect_eq(limg_gen_pread(g, buf, 0, 0), 0);
	g_rand_free(r);
	limg_gen_unref(g);
}

typedef struct {
	LimgGen *g;
	const uint8_t *img;
	size_t size;
	guint seed;
	unsigned bad;
} Reader;

static gpointer
reader(gpointer data)
{
	Reader *x = data;
	GRand *r = g_rand_new_with_seed(x->seed);
	uint8_t *buf = g_malloc(20000);

	for (int i = 0; i < 150; i++) {
		uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)x->size);
		size_t len = (size_t)g_rand_int_range(r, 1, 20000);
		ssize_t n = limg_gen_pread(x->g, buf, len, off);

		if (n != (ssize_t)MIN(len, x->size - off) || memcmp(buf, x->img + off, (size_t)n) != 0)
			x->bad++;
	}
	g_free(buf);
	g_rand_free(r);
	return NULL;
}

Test(gen_read, concurrent_reads_of_one_generation_agree,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgImagesOptions o = { .handles = 2, .cache_mem = 4 * BLK };
	LimgGen *g = start_service(&o);
	g_autofree uint8_t *img = NULL;
	GThread *t[4];
	Reader rd[4];
	size_t size;

	img = read_whole(g, &size);
	for (int i = 0; i < 4; i++) {
		rd[i] = (Reader){ g, img, size, 1000 + (guint)i, 0 };
		t[i] = g_thread_new("read", reader, &rd[i]);
	}
	for (int i = 0; i < 4; i++) {
		g_thread_join(t[i]);
		cr_expect_eq(rd[i].bad, 0, "reader %d got wrong bytes", i);
	}
	cr_expect_leq(stats().handles, 2);
	limg_gen_unref(g);
}

Test(gen_read, metadata_blocks_are_the_images,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgGen *g = start_service(NULL);
	g_autofree uint8_t *img = NULL;
	size_t size;

	img = read_whole(g, &size);
	for (uint32_t b = 16; b < limg_gen_meta_blocks(g); b++) {
		GBytes *blk = limg_gen_block(g, b);
		gsize n;
		const uint8_t *p;

		cr_assert_not_null(blk, "block %u", b);
		p = g_bytes_get_data(blk, &n);
		cr_expect_eq(n, BLK);
		cr_expect(memcmp(p, img + (uint64_t)b * BLK, BLK) == 0, "block %u", b);
		g_bytes_unref(blk);
	}
	limg_gen_unref(g);
}

/* ------------------------------------------------------------ the read sink */

typedef struct {
	const uint8_t *img;
	uint64_t pos;
	uint64_t meta, data, zero;
	unsigned pieces, bad;
	unsigned fail_kind;     /* 1 meta, 2 data, 3 zero: fail the first one */
	int fail_with;
	unsigned after_failure;
	bool failed;
} Sink;

static int
sink_meta(void *ctx, GBytes *block, size_t off, size_t len)
{
	Sink *s = ctx;
	gsize n;
	const uint8_t *p = g_bytes_get_data(block, &n);
	int ret = 0;

	if (s->failed)
		s->after_failure++;
	if (n != BLK || off + len > BLK || (s->img && memcmp(p + off, s->img + s->pos, len) != 0))
		s->bad++;
	if (s->fail_kind == 1 && !s->failed) {
		s->failed = true;
		ret = s->fail_with;
	}
	s->meta += len;
	s->pos += len;
	s->pieces++;
	g_bytes_unref(block);   /* the sink owns it, failing or not */
	return ret;
}

static int
sink_data(void *ctx, LimgHandle *h, uint64_t pos, uint64_t len)
{
	Sink *s = ctx;
	int ret = 0;

	if (s->failed)
		s->after_failure++;
	if (s->img) {
		uint8_t *buf = g_malloc(len);
		ssize_t n = pread(limg_handle_content(h)->fd, buf, len, (off_t)pos);

		if (n != (ssize_t)len || memcmp(buf, s->img + s->pos, len) != 0)
			s->bad++;
		g_free(buf);
	}
	if (s->fail_kind == 2 && !s->failed) {
		s->failed = true;
		ret = s->fail_with;
	}
	s->data += len;
	s->pos += len;
	s->pieces++;
	limg_handle_unref(h);
	return ret;
}

static int
sink_zero(void *ctx, uint64_t len)
{
	Sink *s = ctx;
	int ret = 0;

	if (s->failed)
		s->after_failure++;
	if (s->img) {
		for (uint64_t i = 0; i < len; i++) {
			if (s->img[s->pos + i]) {
				s->bad++;
				break;
			}
		}
	}
	if (s->fail_kind == 3 && !s->failed) {
		s->failed = true;
		ret = s->fail_with;
	}
	s->zero += len;
	s->pos += len;
	s->pieces++;
	return ret;
}

static const LimgReadSink read_sink = { sink_meta, sink_data, sink_zero };

Test(gen_read, read_sink_gets_blocks_and_handles_that_hold_the_bytes,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgGen *g = start_service(NULL);
	g_autofree uint8_t *img = NULL;
	size_t size;
	Sink s = { 0 };

	img = read_whole(g, &size);
	s.img = img;
	cr_assert_eq(limg_gen_read(g, 0, size, &read_sink, &s), 0);
	cr_expect_eq(s.bad, 0);
	cr_expect_eq(s.pos, size);
	cr_expect_eq(s.meta, (uint64_t)(limg_gen_meta_blocks(g) - 16) * BLK);
	cr_expect_eq(s.data, limg_gen_data_bytes(g));
	s = (Sink){ .img = img, .pos = 5 * BLK + 7 };
	cr_assert_eq(limg_gen_read(g, 5 * BLK + 7, size, &read_sink, &s), 0);
	cr_expect_eq(s.pos, size);
	cr_expect_eq(s.bad, 0);
	limg_gen_unref(g);
}

Test(gen_read, counters_add_up_to_what_was_read,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgGen *g = start_service(NULL);
	LimgImagesStats st0, st1;
	uint64_t size = limg_gen_size(g), total = 0;
	Sink s = { 0 };
	GRand *r = g_rand_new_with_seed(3);

	st0 = stats();
	for (int i = 0; i < 50; i++) {
		uint64_t off = (uint64_t)g_rand_int_range(r, 0, (gint32)size);
		uint64_t len = (uint64_t)g_rand_int_range(r, 1, 30000);
		uint64_t before = s.meta + s.data + s.zero;

		cr_assert_eq(limg_gen_read(g, off, len, &read_sink, &s), 0);
		cr_assert_eq(s.meta + s.data + s.zero - before, MIN(len, size - off));
		total += MIN(len, size - off);
	}
	st1 = stats();
	cr_expect_eq(st1.bytes_meta - st0.bytes_meta, s.meta);
	cr_expect_eq(st1.bytes_data - st0.bytes_data, s.data);
	cr_expect_eq(st1.bytes_zero - st0.bytes_zero, s.zero);
	cr_expect_eq((st1.bytes_meta + st1.bytes_data + st1.bytes_zero) -
	             (st0.bytes_meta + st0.bytes_data + st0.bytes_zero), total);
	cr_expect_eq(st1.read_errors, 0);
	g_rand_free(r);
	limg_gen_unref(g);
}

static void
expect_sink_error(unsigned kind, int err)
{
	LimgGen *g = start_service(NULL);
	LimgImagesStats st0, st1;
	Sink s = { .fail_kind = kind, .fail_with = err };

	st0 = stats();
	cr_expect_eq(limg_gen_read(g, 0, limg_gen_size(g), &read_sink, &s), err);
	cr_expect(s.failed);
	cr_expect_eq(s.after_failure, 0, "nothing handed out after the sink failed");
	st1 = stats();
	cr_expect_eq(st1.read_errors, st0.read_errors + 1);
	limg_gen_unref(g);
}

Test(gen_read, a_failing_meta_sink_ends_the_read_with_its_error,
     .init = setup_gen, .fini = teardown_gen)
{
	expect_sink_error(1, -ECONNRESET);
}

Test(gen_read, a_failing_data_sink_ends_the_read_with_its_error,
     .init = setup_gen, .fini = teardown_gen)
{
	expect_sink_error(2, -EPIPE);
}

Test(gen_read, a_failing_zero_sink_ends_the_read_with_its_error,
     .init = setup_gen, .fini = teardown_gen)
{
	expect_sink_error(3, -ENOBUFS);
}

/* ------------------------------------------------------------ changes */

/* [extent, +size) of file @rel ("a/..."), from the image's records. */
static void
extent_of(LimgGen *g, const char *rel, uint64_t *off, uint32_t *len)
{
	size_t size;
	g_autofree uint8_t *img = read_whole(g, &size);
	uint32_t extent = 0;

	cr_assert(find_extent(img, size, rel + 2, &extent, len), "no %s", rel);
	*off = (uint64_t)extent * BLK;
}

static void
expect_stale_after(void (*change)(void), bool read_first)
{
	LimgImagesOptions o = { .cache_dir = cache };
	LimgGen *g = start_service(&o), *g2;
	uint64_t off;
	uint32_t len;
	uint8_t buf[6000];
	LimgImagesStats st;

	extent_of(g, "a/sub/five", &off, &len);
	cr_assert_eq(len, 5000);
	if (read_first)
		cr_assert_eq(limg_gen_pread(g, buf, len, off), (ssize_t)len, "the fd is cached now");
	st = stats();
	cr_assert_eq(st.source_changes, 0);
	change();
	cr_expect_eq(limg_gen_pread(g, buf, len, off), -ESTALE, "never old or mixed bytes");
	st = stats();
	cr_expect_eq(st.source_changes, 1);
	cr_expect_geq(st.read_errors, 1);
	cr_expect_eq(limg_gen_pread(g, buf, 2048, 16 * BLK), 2048, "the metadata still reads");
	g2 = NULL;
	cr_assert_eq(limg_images_get(im, "a", &g2), 0);
	cr_expect_neq(g2, g, "a new generation");
	cr_expect_eq(limg_gen_number(g2), 2);
	{
		g_autofree char *want = g_strdup("a:CHANGED");
		GString *got = g_string_new(NULL);

		for (guint i = 0; i < events->len; i++)
			g_string_append_printf(got, "%s%s", i ? " " : "", (char *)events->pdata[i]);
		cr_expect_str_eq(got->str, want);
		g_string_free(got, TRUE);
	}
	st = stats();
	cr_expect_eq(st.walks, 2, "a rebuild walks: it never trusts the disk cache");
	cr_expect_eq(st.disk_hits, 0);
	{
		g_autofree char *path = g_build_filename(store, "a/sub/five", NULL);
		size_t flen;
		g_autofree uint8_t *data = th_read(path, &flen);
		uint64_t off2;
		uint32_t len2;
		g_autofree uint8_t *got = g_malloc(flen + 1);

		extent_of(g2, "a/sub/five", &off2, &len2);
		cr_expect_eq(len2, flen);
		cr_assert_eq(limg_gen_pread(g2, got, flen, off2), (ssize_t)flen);
		cr_expect(memcmp(got, data, flen) == 0, "the new generation has the new bytes");
	}
	cr_expect_eq(limg_gen_pread(g, buf, len, off), -ESTALE, "the old one stays stale");
	limg_gen_unref(g);
	limg_gen_unref(g2);
}

static void
grow_five(void)
{
	g_autofree char *path = g_build_filename(store, "a/sub/five", NULL);
	int fd = open(path, O_WRONLY | O_APPEND);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "more", 4), 4);
	close(fd);
}

static void
retime_five(void)
{
	th_touch(store, "a/sub/five", TB_DEFAULT_MTIME);
}

Test(gen_read, a_file_grown_after_the_layout_fails_the_read_with_estale,
     .init = setup_gen, .fini = teardown_gen)
{
	expect_stale_after(grow_five, false);
}

Test(gen_read, a_file_retimed_after_the_layout_fails_the_read_with_estale,
     .init = setup_gen, .fini = teardown_gen)
{
	expect_stale_after(retime_five, false);
}

Test(gen_read, a_cached_file_changed_after_a_read_fails_the_next_read,
     .init = setup_gen, .fini = teardown_gen)
{
	expect_stale_after(grow_five, true);
}

Test(gen_read, a_removed_layer_directory_fails_the_read_with_enoent,
     .init = setup_gen, .fini = teardown_gen)
{
	LimgGen *g = start_service(NULL);
	g_autofree char *layer = g_build_filename(store, "a", NULL);
	uint8_t buf[4096];
	LimgGen *g2 = (LimgGen *)0x1;

	cr_assert_eq(limg_gen_pread(g, buf, sizeof(buf), 16 * BLK), (ssize_t)sizeof(buf));
	th_rmtree(layer);
	/* The layer's presence is looked at again after LIMG_PRESENT_EVERY_US. */
	g_usleep(LIMG_PRESENT_EVERY_US + 20000);
	cr_expect_eq(limg_gen_pread(g, buf, sizeof(buf), 16 * BLK), -ENOENT);
	cr_expect_eq(limg_gen_pread(g, buf, sizeof(buf), 0), -ENOENT);
	cr_expect_geq(stats().read_errors, 2);
	cr_expect_eq(limg_images_get(im, "a", &g2), -ENOENT);
	cr_expect_null(g2);
	limg_gen_unref(g);
}
