/*
 * render.h - bytes of an image, on demand.
 *
 * limg_render_block() renders one metadata block (volume descriptors, path
 * tables, directory records, continuation areas) from the layout alone,
 * without rendering anything else: any block in O(log n) plus the records
 * it holds.
 *
 * Any read of the image goes through the read planner
 * (cache/gen-read.h), which walks the segment map and asks for the
 * metadata blocks it needs; the engine does no I/O itself.
 *
 * Thread model: reentrant; any number of threads may render from one
 * layout at once.
 */
#ifndef LIMG_RENDER_H
#define LIMG_RENDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iso/ecma119.h"
#include "iso/layout.h"

/*
 * Render metadata block @lba (< limg_layout_meta_blocks()) into @buf.
 * Returns 0, -EINVAL for a block that is not metadata, or -ENOMEM.
 */
int limg_render_block(const LimgLayout *l, uint32_t lba, uint8_t buf[ISO_BLOCK_SIZE]);

#endif /* LIMG_RENDER_H */
