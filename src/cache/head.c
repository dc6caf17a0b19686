/*
 * head.c - an image's head; see head.h.
 *
 * Raw head (host byte order, like the rest of the cache file):
 *
 *   magic "LIHD", version 1, block size, metadata blocks, entries,
 *   blocks, image size, data bytes, options tag   (Facts, 48 bytes)
 *   (blocks - 16) * block size bytes: image blocks 16 .. blocks - 1 (the
 *   system area before them is zeros: checked when the head is made and
 *   when it is compared with the layout read back)
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "cache/gen-read.h"
#include "cache/head.h"

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
} Facts;

G_STATIC_ASSERT(sizeof(Facts) == 48);

#define HEAD_VERSION 1
/* ECMA-119: the system area, then the primary volume descriptor. */
#define SYSTEM_BLOCKS LIMG_HEAD_FIRST

static const char head_magic[4] = { 'L', 'I', 'H', 'D' };

/* Rendering into a buffer that starts zeroed: metadata copied, nothing else. */
typedef struct {
	const LimgFormat *fmt;
	const LimgFormatLayout *layout;
	uint8_t *out;
	uint64_t pos;
	uint8_t *block;
} Render;

static int
render_meta(void *ctx, uint32_t block, size_t off, size_t len)
{
	Render *r = ctx;
	int ret = r->fmt->render_block(r->layout, block, r->block);

	if (ret < 0)
		return ret;
	memcpy(r->out + r->pos, r->block + off, len);
	r->pos += len;
	return 0;
}

static int
render_data(void *ctx, uint32_t node, uint64_t file_off, uint64_t len)
{
	return -EINVAL;   /* a head is metadata and zeros only */
}

static int
render_zero(void *ctx, uint64_t len)
{
	Render *r = ctx;

	r->pos += len;
	return 0;
}

static const LimgPlanSink render_sink = { render_meta, render_data, render_zero };

/*
 * Image blocks [0, @blocks) of @layout: a new buffer, or NULL if they do
 * not render or the system area is not zeros (not this kind of head).
 */
static uint8_t *
render_image(const LimgFormat *fmt, const LimgFormatLayout *layout, uint32_t blocks)
{
	g_autofree uint8_t *block = g_malloc(fmt->block_size);
	size_t len = (size_t)blocks * fmt->block_size, sys = (size_t)SYSTEM_BLOCKS * fmt->block_size;
	g_autofree uint8_t *out = g_malloc0(len);
	Render r = { .fmt = fmt, .layout = layout, .out = out, .block = block };

	if (limg_plan_read(fmt, layout, 0, len, &render_sink, &r) < 0 || r.pos != len)
		return NULL;
	for (size_t i = 0; i < sys; i++) {
		if (out[i])
			return NULL;
	}
	return g_steal_pointer(&out);
}

GBytes *
limg_head_render(const LimgFormat *fmt, const LimgFormatLayout *layout, uint64_t tag)
{
	uint32_t blocks = MIN((uint32_t)LIMG_HEAD_BLOCKS, fmt->meta_blocks(layout));
	const LimgTree *t = fmt->tree(layout);
	size_t sys = (size_t)SYSTEM_BLOCKS * fmt->block_size, len;
	g_autofree uint8_t *img = NULL;
	uint8_t *raw;
	Facts f = { .version = HEAD_VERSION };

	if (blocks <= SYSTEM_BLOCKS ||
	    (uint64_t)blocks * fmt->block_size > fmt->size(layout))
		return NULL;
	img = render_image(fmt, layout, blocks);
	if (!img)
		return NULL;
	len = (size_t)blocks * fmt->block_size;
	raw = g_malloc(sizeof(f) + len - sys);
	memcpy(raw + sizeof(f), img + sys, len - sys);
	len = sizeof(f) + len - sys;
	memcpy(f.magic, head_magic, sizeof(head_magic));
	f.block_size = fmt->block_size;
	f.meta_blocks = fmt->meta_blocks(layout);
	f.entries = t->n_nodes;
	f.blocks = blocks;
	f.size = fmt->size(layout);
	f.data_bytes = t->data_bytes;
	f.tag = tag;
	memcpy(raw, &f, sizeof(f));
	return g_bytes_new_take(raw, len);
}

bool
limg_head_parse(GBytes *raw, const LimgFormat *fmt, uint64_t tag, LimgHead *out)
{
	gsize len = 0;
	const uint8_t *p = g_bytes_get_data(raw, &len);
	Facts f;

	memset(out, 0, sizeof(*out));
	if (!p || len < sizeof(f))
		return false;
	memcpy(&f, p, sizeof(f));
	if (memcmp(f.magic, head_magic, sizeof(head_magic)) != 0 || f.version != HEAD_VERSION ||
	    f.block_size != fmt->block_size || f.tag != tag || f.blocks <= SYSTEM_BLOCKS ||
	    f.blocks > f.meta_blocks || f.blocks > LIMG_HEAD_BLOCKS ||
	    len - sizeof(f) != (uint64_t)(f.blocks - SYSTEM_BLOCKS) * f.block_size ||
	    (uint64_t)f.meta_blocks * f.block_size > f.size || f.entries == 0)
		return false;
	out->size = f.size;
	out->data_bytes = f.data_bytes;
	out->meta_blocks = f.meta_blocks;
	out->entries = f.entries;
	out->blocks = f.blocks;
	out->bytes = g_bytes_new_from_bytes(raw, sizeof(f), len - sizeof(f));
	return true;
}

bool
limg_head_matches(const LimgHead *head, const LimgFormat *fmt, const LimgFormatLayout *layout)
{
	const LimgTree *t = fmt->tree(layout);
	g_autofree uint8_t *mine = NULL;
	gsize len = 0;
	const void *p = head->bytes ? g_bytes_get_data(head->bytes, &len) : NULL;
	size_t sys = (size_t)SYSTEM_BLOCKS * fmt->block_size;

	if (!p || head->size != fmt->size(layout) || head->meta_blocks != fmt->meta_blocks(layout) ||
	    head->entries != t->n_nodes || head->data_bytes != t->data_bytes ||
	    len + sys != (gsize)head->blocks * fmt->block_size)
		return false;
	mine = render_image(fmt, layout, head->blocks);
	return mine && memcmp(mine + sys, p, len) == 0;
}

void
limg_head_copy(const LimgHead *head, GBytes *bytes, uint32_t block_size, uint64_t off,
               size_t len, uint8_t *buf)
{
	const uint8_t *p = g_bytes_get_data(bytes, NULL);
	uint64_t sys = (uint64_t)SYSTEM_BLOCKS * block_size;

	g_assert(off + len <= (uint64_t)head->blocks * block_size);
	if (off < sys) {
		size_t n = (size_t)MIN((uint64_t)len, sys - off);

		memset(buf, 0, n);
		buf += n;
		off += n;
		len -= n;
	}
	if (len)
		memcpy(buf, p + (off - sys), len);
}

void
limg_head_clear(LimgHead *head)
{
	g_clear_pointer(&head->bytes, g_bytes_unref);
}
