/*
 * format-iso.c - ISO 9660 + Rock Ridge as an image format (format.h):
 * the layout and render entry points behind the format table.
 */
#include <config.h>

#include "iso/ecma119.h"
#include "iso/format.h"
#include "iso/layout.h"
#include "iso/render.h"

/* The service's opaque layout is our LimgLayout. */
#define ISO(l) ((LimgLayout *)(l))
#define CISO(l) ((const LimgLayout *)(l))

static int
iso_build(LimgTree *tree, const LimgFormatOptions *opts, LimgReport *report,
          LimgFormatLayout **out)
{
	LimgLayout *l = NULL;
	int ret = limg_layout_build(tree, opts, report, &l);

	*out = (LimgFormatLayout *)l;
	return ret;
}

static LimgFormatLayout *
iso_ref(LimgFormatLayout *l)
{
	return (LimgFormatLayout *)limg_layout_ref(ISO(l));
}

static void
iso_unref(LimgFormatLayout *l)
{
	limg_layout_unref(ISO(l));
}

static uint64_t
iso_size(const LimgFormatLayout *l)
{
	return limg_layout_size(CISO(l));
}

static uint32_t
iso_meta_blocks(const LimgFormatLayout *l)
{
	return limg_layout_meta_blocks(CISO(l));
}

static const LimgTree *
iso_tree(const LimgFormatLayout *l)
{
	return limg_layout_tree(CISO(l));
}

static int
iso_segment(const LimgFormatLayout *l, uint64_t off, LimgSegment *seg)
{
	return limg_layout_segment(CISO(l), off, seg);
}

static int
iso_render_block(const LimgFormatLayout *l, uint32_t block, uint8_t *buf)
{
	return limg_render_block(CISO(l), block, buf);
}

static size_t
iso_mem_bytes(const LimgFormatLayout *l)
{
	return limg_layout_mem_bytes(CISO(l));
}

static GBytes *
iso_hints(const LimgFormatLayout *l)
{
	return limg_layout_hints(CISO(l));
}

static bool
iso_hinted(const LimgFormatLayout *l)
{
	return limg_layout_hinted(CISO(l));
}

const LimgFormat limg_format_iso9660 = {
	.name = "iso9660",
	.block_size = ISO_BLOCK_SIZE,
	.build = iso_build,
	.ref = iso_ref,
	.unref = iso_unref,
	.size = iso_size,
	.meta_blocks = iso_meta_blocks,
	.tree = iso_tree,
	.segment = iso_segment,
	.render_block = iso_render_block,
	.mem_bytes = iso_mem_bytes,
	.hints = iso_hints,
	.hinted = iso_hinted,
};
