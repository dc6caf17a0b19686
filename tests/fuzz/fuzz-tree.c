/*
 * fuzz-tree.c - a parser's tree, used the way the mount uses it; see
 * fuzz-common.h.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "cache/persist.h"
#include "fuzz-common.h"
#include "iso/layout.h"
#include "iso/render.h"

/* Bounds the work per input: a tree of a small input renders far fewer. */
#define MAX_RENDER_BLOCKS 65536
#define MAX_SEGMENTS (1u << 20)

#define ROUNDTRIP_KEY "/fuzz/roundtrip-layer"

void
limg_fuzz_lay_out(LimgTree *tree)
{
	g_autoptr(LimgLayout) l = NULL;
	LimgReport report;
	uint8_t block[ISO_BLOCK_SIZE];
	uint32_t meta;
	uint64_t size, off = 0;
	int ret;

	limg_report_init(&report);
	ret = limg_layout_build(tree, NULL, &report, &l);
	limg_report_release(&report);
	if (ret == -EFBIG || ret == -E2BIG)
		return;   /* an image too large to be one: refused, as it should be */
	if (ret < 0) {
		fprintf(stderr, "fuzz: a parser's tree was refused by the layout: %s\n",
		        g_strerror(-ret));
		abort();
	}
	meta = limg_layout_meta_blocks(l);
	size = limg_layout_size(l);
	for (uint32_t b = 0; b < meta && b < MAX_RENDER_BLOCKS; b++) {
		ret = limg_render_block(l, b, block);
		if (ret < 0) {
			fprintf(stderr, "fuzz: render of block %u of %u: %s\n", b, meta,
			        g_strerror(-ret));
			abort();
		}
	}
	for (unsigned n = 0; off < size && n < MAX_SEGMENTS; n++) {
		LimgSegment seg;

		ret = limg_layout_segment(l, off, &seg);
		if (ret < 0 || seg.offset != off || seg.length == 0 || seg.length > size - off) {
			fprintf(stderr, "fuzz: segment at %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
			        ": %d\n", off, size, ret);
			abort();
		}
		if (seg.kind == LIMG_SEG_DATA) {
			const LimgTree *t = limg_layout_tree(l);
			const LimgNode *nd = seg.node < t->n_nodes ? &t->nodes[seg.node] : NULL;

			if (!nd || !S_ISREG(nd->mode) ||
			    seg.file_offset >= nd->size || seg.length > nd->size - seg.file_offset) {
				fprintf(stderr, "fuzz: data segment at %" G_GUINT64_FORMAT
				        " is not inside its file\n", off);
				abort();
			}
		}
		off += seg.length;
	}
}

static bool
same_tree(const LimgTree *a, const LimgTree *b)
{
	return a->n_nodes == b->n_nodes && a->strings.len == b->strings.len &&
	       memcmp(a->nodes, b->nodes, (size_t)a->n_nodes * sizeof(LimgNode)) == 0 &&
	       (a->strings.len == 0 || memcmp(a->strings.buf, b->strings.buf, a->strings.len) == 0);
}

/*
 * With LIMG_FUZZ_KEEP_TREES=DIR, the cache file just saved is copied to
 * DIR/<its sha256>.tree: tests/fuzz/mk-seeds.sh makes the disk-cache
 * harness's valid seeds so, with persist.c's own writer, from the trees
 * of the tar seeds.
 */
static void
keep_file(const char *dir)
{
	const char *keep = getenv("LIMG_FUZZ_KEEP_TREES");
	g_autofree char *hash = NULL, *from = NULL, *text = NULL, *sum = NULL, *to = NULL;
	gsize len;

	if (!keep)
		return;
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, ROUNDTRIP_KEY, -1);
	from = g_strdup_printf("%s/%s.tree", dir, hash);
	if (!g_file_get_contents(from, &text, &len, NULL))
		abort();
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)text, len);
	to = g_strdup_printf("%s/%s.tree", keep, sum);
	limg_fuzz_write(to, text, len);
}

void
limg_fuzz_roundtrip(const LimgTree *tree)
{
	g_autofree char *dir = limg_fuzz_fresh("roundtrip");
	g_autoptr(LimgTree) back = NULL;
	LimgSourceId id = { .key = ROUNDTRIP_KEY };
	int ret;

	if (mkdir(dir, 0700) < 0)
		abort();
	id.fingerprint = g_bytes_new_static("fuzz", 4);
	ret = limg_persist_save(dir, &id, tree, NULL);
	if (ret < 0) {
		fprintf(stderr, "fuzz: save: %s\n", g_strerror(-ret));
		abort();
	}
	keep_file(dir);
	ret = limg_persist_load(dir, &id, &back);
	g_bytes_unref(id.fingerprint);
	if (ret < 0) {
		fprintf(stderr, "fuzz: a parser's tree breaks the tree invariant: the disk cache "
		        "refuses it (%s)\n", g_strerror(-ret));
		abort();
	}
	if (!same_tree(tree, back)) {
		fprintf(stderr, "fuzz: the disk cache gave back another tree\n");
		abort();
	}
}
