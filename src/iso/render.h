/*
 * render.h - bytes of an image, on demand.
 *
 * limg_render_block() renders one metadata block (volume descriptors, path
 * tables, directory records, continuation areas) from the layout alone,
 * without rendering anything else: any block in O(log n) plus the records
 * it holds.
 *
 * limg_render_pread() answers an arbitrary read of the image through the
 * segment map: metadata is rendered, zeros are zeros, and file data comes
 * from the caller's @read_data callback (the engine does no I/O itself).
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

/*
 * Read @len bytes of node @node's content at @off into @buf. Must fill the
 * whole range (a short file is an error: the source changed); returns 0 or
 * -errno.
 */
typedef int (*LimgReadDataFn)(void *ctx, uint32_t node, uint64_t off, void *buf, size_t len);

/*
 * Read image bytes [@off, @off + @len) into @buf; reads past the end are
 * cut short. Returns the number of bytes read, or -errno.
 */
ssize_t limg_render_pread(const LimgLayout *l, void *buf, size_t len, uint64_t off,
                          LimgReadDataFn read_data, void *ctx);

#endif /* LIMG_RENDER_H */
