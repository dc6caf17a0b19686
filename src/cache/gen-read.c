/*
 * gen-read.c - the read planner; see gen-read.h.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cache/gen-read.h"
#include "cache/images-internal.h"
#include "util/escape.h"
#include "util/log.h"

static int
open_content(void *ctx, uint32_t node, LimgContent *out)
{
	LimgGen *g = ctx;

	/* Data is planned from the layout only: limg_gen_read() got it. */
	return limg_source_open(g->source, g->im->fmt->tree(g->layout), node, out);
}

/* A handle of @node, checked against the layout: 0, -ESTALE or -errno. */
static int
gen_handle(LimgGen *g, uint32_t node, LimgHandle **out)
{
	const LimgTree *tree = g->im->fmt->tree(g->layout);
	bool fresh;
	int ret = limg_handles_get(g->im->handles, g, node, open_content, g, out, &fresh);

	/* A cached fd is checked again: the file may have changed since. */
	if (ret == 0 && !fresh &&
	    limg_source_check(g->source, tree, node, limg_handle_content(*out)) < 0) {
		limg_handles_forget(g->im->handles, g, node);
		limg_handle_unref(*out);
		*out = NULL;
		ret = -ESTALE;
	}
	if (ret < 0) {
		g_autofree char *p = limg_tree_path(tree, node);
		g_autofree char *e = limg_escape(p, strlen(p));

		if (ret == -ESTALE) {
			limg_log(LIMG_LOG_WARN, "%s.iso: /%s changed since the layout; read fails "
			         "with EIO, image will be laid out again", g->name, e);
			limg_counter_add(&g->im->n.source_changes, 1);
			limg_images_mark_stale(g->im, g, node);
		} else {
			limg_log(LIMG_LOG_WARN, "%s.iso: /%s: %s", g->name, e, g_strerror(-ret));
			ret = -EIO;
		}
	}
	return ret;
}

int
limg_plan_read(const LimgFormat *fmt, const LimgFormatLayout *layout, uint64_t off,
               uint64_t len, const LimgPlanSink *sink, void *ctx)
{
	uint64_t size = fmt->size(layout), end, pos;
	uint32_t bs = fmt->block_size;
	int ret = 0;

	if (off >= size || len == 0)
		return 0;
	end = off + MIN(len, size - off);
	for (pos = off; pos < end && ret == 0;) {
		LimgSegment seg;
		uint64_t n;

		if (fmt->segment(layout, pos, &seg) < 0)
			return -EIO;
		n = MIN(seg.length, end - pos);
		switch (seg.kind) {
		case LIMG_SEG_ZERO:
			ret = sink->zero(ctx, n);
			break;
		case LIMG_SEG_META: {
			uint32_t in = (uint32_t)(pos % bs);

			/* One block at a time: each is its own rendered buffer. */
			n = MIN(n, (uint64_t)(bs - in));
			ret = sink->meta(ctx, (uint32_t)(pos / bs), in, (size_t)n);
			break;
		}
		case LIMG_SEG_DATA:
			ret = sink->data(ctx, seg.node, seg.file_offset, n);
			break;
		}
		pos += n;
	}
	return ret;
}

/* A generation read: plan pieces -> blocks and handles -> the caller's sink. */
typedef struct {
	LimgGen *g;
	const LimgReadSink *sink;
	void *ctx;
	gint64 n_meta, n_data, n_zero;
} GenRead;

static int
gen_meta(void *ctx, uint32_t block, size_t off, size_t len)
{
	GenRead *r = ctx;
	GBytes *blk = limg_gen_block(r->g, block);

	if (!blk)
		return -EIO;
	r->n_meta += (gint64)len;
	return r->sink->meta(r->ctx, blk, off, len);
}

static int
gen_data(void *ctx, uint32_t node, uint64_t file_off, uint64_t len)
{
	GenRead *r = ctx;
	LimgHandle *h;
	int ret = gen_handle(r->g, node, &h);

	if (ret < 0)
		return ret;
	r->n_data += (gint64)len;
	return r->sink->data(r->ctx, h, limg_handle_content(h)->base + file_off, len);
}

static int
gen_zero(void *ctx, uint64_t len)
{
	GenRead *r = ctx;

	r->n_zero += (gint64)len;
	return r->sink->zero(r->ctx, len);
}

static const LimgPlanSink gen_plan_sink = { gen_meta, gen_data, gen_zero };

/*
 * Is the layer still there? Asked at most every LIMG_PRESENT_EVERY_US per
 * generation: it is an fstat of the layer directory (of every part's, for
 * a stack), which was a third of the system calls of a 4 KiB random read.
 * A layer removed within that time still gives the bytes of the files
 * already open (the layer as laid out); other files fail to open (EIO).
 */
static int
gen_present(LimgGen *g)
{
	gint64 now = g_get_monotonic_time();
	gint64 last = __atomic_load_n(&g->present_us, __ATOMIC_RELAXED);
	int ret;

	if (last && now - last < LIMG_PRESENT_EVERY_US)
		return 0;
	ret = limg_source_present(g->source);
	if (ret == 0)
		__atomic_store_n(&g->present_us, now, __ATOMIC_RELAXED);
	return ret;
}

/*
 * Bytes [@off, @off + @len) of headed @g's head, one block's piece at a
 * time as the planner hands them (the system area as zeros): a
 * restarted daemon's first read, before the layout is read.
 */
static int
head_read(LimgGen *g, GBytes *head, uint64_t off, uint64_t len, GenRead *r)
{
	uint32_t bs = g->im->fmt->block_size;
	uint64_t sys = (uint64_t)LIMG_HEAD_FIRST * bs, end = off + len;
	int ret = 0;

	if (off < sys) {
		uint64_t n = MIN(end, sys) - off;

		r->n_zero += (gint64)n;
		ret = r->sink->zero(r->ctx, n);
		off += n;
	}
	while (ret == 0 && off < end) {
		uint64_t n = MIN(end - off, bs - off % bs);

		r->n_meta += (gint64)n;
		ret = r->sink->meta(r->ctx, g_bytes_ref(head), (size_t)(off - sys), (size_t)n);
		off += n;
	}
	return ret;
}

int
limg_gen_read(LimgGen *g, uint64_t off, uint64_t len, const LimgReadSink *sink, void *ctx)
{
	GenRead r = { .g = g, .sink = sink, .ctx = ctx };
	const LimgFormatLayout *layout;
	uint64_t size = limg_gen_size(g);
	g_autoptr(GBytes) head = NULL;
	int ret;

	if (off >= size || len == 0)
		return 0;
	len = MIN(len, size - off);
	if (gen_present(g) < 0) {
		limg_log(LIMG_LOG_WARN, "%s.iso: layer directory removed; read fails with EIO",
		         g->name);
		limg_counter_add(&g->im->n.read_errors, 1);
		return -ENOENT;
	}
	/* The head, while the layout is not read (unless reading it failed). */
	if (off + len <= (uint64_t)g->head.blocks * g->im->fmt->block_size &&
	    (head = limg_gen_head_bytes(g)) != NULL) {
		ret = head_read(g, head, off, len, &r);
	} else {
		layout = limg_gen_layout(g);
		ret = layout ? limg_plan_read(g->im->fmt, layout, off, len, &gen_plan_sink, &r) : -EIO;
	}
	if (ret < 0) {
		limg_counter_add(&g->im->n.read_errors, 1);
		return ret;
	}
	limg_counter_add(&g->im->n.bytes_meta, r.n_meta);
	limg_counter_add(&g->im->n.bytes_data, r.n_data);
	limg_counter_add(&g->im->n.bytes_zero, r.n_zero);
	return 0;
}

/* ------------------------------------------------------------ into memory */

typedef struct {
	uint8_t *out;
	size_t done;
} Copy;

static int
copy_meta(void *ctx, GBytes *block, size_t off, size_t len)
{
	Copy *c = ctx;

	memcpy(c->out + c->done, (const uint8_t *)g_bytes_get_data(block, NULL) + off, len);
	c->done += len;
	g_bytes_unref(block);
	return 0;
}

static int
copy_data(void *ctx, LimgHandle *handle, uint64_t pos, uint64_t len)
{
	Copy *c = ctx;
	int fd = limg_handle_content(handle)->fd, ret = 0;

	while (len) {
		ssize_t r = pread(fd, c->out + c->done, (size_t)len, (off_t)pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -ESTALE;   /* shorter than laid out */
			break;
		}
		c->done += (size_t)r;
		pos += (uint64_t)r;
		len -= (uint64_t)r;
	}
	limg_handle_unref(handle);
	return ret;
}

static int
copy_zero(void *ctx, uint64_t len)
{
	Copy *c = ctx;

	memset(c->out + c->done, 0, (size_t)len);
	c->done += (size_t)len;
	return 0;
}

static const LimgReadSink copy_sink = { copy_meta, copy_data, copy_zero };

ssize_t
limg_gen_pread(LimgGen *g, void *buf, size_t len, uint64_t off)
{
	Copy c = { .out = buf };
	int ret = limg_gen_read(g, off, len, &copy_sink, &c);

	return ret < 0 ? ret : (ssize_t)c.done;
}
