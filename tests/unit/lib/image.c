/*
 * image.c - layouts and images in memory, through the read planner; see
 * testlib.h.
 */
#include <config.h>

#include "cache/gen-read.h"
#include "iso/format.h"
#include "lib/testlib.h"

int
synth_read(void *ctx, uint32_t node, uint64_t off, void *buf, size_t len)
{
	SynthCtx *c = ctx;
	uint8_t *p = buf;

	c->calls++;
	if (node >= c->tree->n_nodes || !S_ISREG(c->tree->nodes[node].mode) ||
	    off + len > c->tree->nodes[node].size || len == 0) {
		c->bad++;
		return -EIO;
	}
	for (size_t i = 0; i < len; i++)
		p[i] = synth_byte(node, off + i);
	return 0;
}

LimgLayout *
build_layout(LimgTree *tree, LimgReport *report)
{
	LimgLayout *l = NULL;
	int ret = limg_layout_build(tree, NULL, report, &l);

	cr_assert_eq(ret, 0, "limg_layout_build: %d", ret);
	cr_assert(l != NULL);
	return l;
}

/* A planner sink copying into memory. */
typedef struct {
	const LimgLayout *l;
	uint8_t *out;
	size_t done;
	SynthReadFn read_data;
	void *ctx;
} Copy;

static int
copy_meta(void *ctx, uint32_t block, size_t off, size_t len)
{
	Copy *c = ctx;
	uint8_t blk[ISO_BLOCK_SIZE];
	int ret = limg_render_block(c->l, block, blk);

	if (ret < 0)
		return ret;
	memcpy(c->out + c->done, blk + off, len);
	c->done += len;
	return 0;
}

static int
copy_data(void *ctx, uint32_t node, uint64_t file_off, uint64_t len)
{
	Copy *c = ctx;
	int ret;

	if (!c->read_data)
		return -EINVAL;
	ret = c->read_data(c->ctx, node, file_off, c->out + c->done, (size_t)len);
	if (ret < 0)
		return ret;
	c->done += (size_t)len;
	return 0;
}

static int
copy_zero(void *ctx, uint64_t len)
{
	Copy *c = ctx;

	memset(c->out + c->done, 0, (size_t)len);
	c->done += (size_t)len;
	return 0;
}

static const LimgPlanSink copy_sink = { copy_meta, copy_data, copy_zero };

ssize_t
th_pread(const LimgLayout *l, void *buf, size_t len, uint64_t off, SynthReadFn read_data,
         void *ctx)
{
	Copy c = { .l = l, .out = buf, .read_data = read_data, .ctx = ctx };
	int ret = limg_plan_read(&limg_format_iso9660, (const LimgFormatLayout *)l, off, len,
	                         &copy_sink, &c);

	return ret < 0 ? ret : (ssize_t)c.done;
}

uint8_t *
render_image(const LimgLayout *l, size_t *size)
{
	uint64_t sz = limg_layout_size(l);
	SynthCtx ctx = { .tree = limg_layout_tree(l) };
	uint8_t *img;
	ssize_t n;

	cr_assert(sz <= (uint64_t)256 << 20, "image too large to render in a test: %" PRIu64, sz);
	img = g_malloc(sz);
	n = th_pread(l, img, sz, 0, synth_read, &ctx);
	cr_assert_eq(n, (ssize_t)sz, "the planner returned %zd", n);
	cr_assert_eq(ctx.bad, 0, "the planner asked for bytes that are not in a file");
	*size = sz;
	return img;
}
