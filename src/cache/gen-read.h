/*
 * gen-read.h - the read planner: the one place that turns a byte range
 * of an image into what makes it up.
 *
 * limg_plan_read() is the walk itself, over any laid-out image: segment
 * by segment (format.h), [off, off + len) becomes, in order, pieces of
 * metadata blocks (block number, offset, length), of files (node, offset
 * in the file, length) and zeros. It does no I/O; the engine's unit tests
 * render whole images through it with synthetic file contents.
 *
 * limg_gen_read() reads a generation through it and hands each piece, in
 * order, to a sink:
 *
 *   meta   bytes of one rendered metadata block, as a reference to the
 *          block (from the block cache, rendered on a miss), so a reply
 *          can point into it however long it takes to send;
 *   data   bytes of a layer file: an open handle (fd cache) and the
 *          position in its fd; the file was checked to be the one laid
 *          out (when opened, or again now if the fd was cached);
 *   zero   padding, holes between extents, the system area.
 *
 * The mount builds its FUSE reply from these pieces (fuse/read.c),
 * `render` writes its output file from them (cli/cmd-render.c), and
 * limg_gen_pread() copies them into a buffer (tests, small readers).
 *
 * A source file that changed since the layout is never served as mixed
 * bytes: the read fails with -ESTALE, the event is logged and counted,
 * and the image is laid out again under a new generation for the next
 * request (images.h).
 *
 * Thread model: reentrant; any number of threads may read one generation.
 */
#ifndef LIMG_GEN_READ_H
#define LIMG_GEN_READ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "cache/handles.h"
#include "cache/images.h"
#include "iso/format.h"

/* What limg_plan_read() hands out. A callback that fails ends the walk. */
typedef struct {
	/* Bytes [off, off + len) of metadata block @block. */
	int (*meta)(void *ctx, uint32_t block, size_t off, size_t len);
	/* @len bytes of regular-file node @node, from @file_off. */
	int (*data)(void *ctx, uint32_t node, uint64_t file_off, uint64_t len);
	/* @len zero bytes. */
	int (*zero)(void *ctx, uint64_t len);
} LimgPlanSink;

/*
 * Walk image bytes [@off, @off + @len) of @layout (format @fmt; cut at
 * the image's end) and hand each piece to @sink in order. Returns 0,
 * -EIO for a layout that cannot map an offset, or the first error a
 * callback returned.
 */
int limg_plan_read(const LimgFormat *fmt, const LimgFormatLayout *layout, uint64_t off,
                   uint64_t len, const LimgPlanSink *sink, void *ctx);

typedef struct {
	/* Bytes [off, off + len) of @block. Takes the reference to @block. */
	int (*meta)(void *ctx, GBytes *block, size_t off, size_t len);
	/*
	 * @len bytes of a layer file at @pos of limg_handle_content(@handle)->fd.
	 * Takes the reference to @handle.
	 */
	int (*data)(void *ctx, LimgHandle *handle, uint64_t pos, uint64_t len);
	/* @len zero bytes. */
	int (*zero)(void *ctx, uint64_t len);
} LimgReadSink;

/*
 * Hand image bytes [@off, @off + @len) of @g (cut at the image's end) to
 * @sink, piece by piece, in order. A sink callback that fails ends the
 * walk with its -errno. Returns 0, or -errno:
 *   -ESTALE  a source file changed since the layout (logged; the image
 *            will be laid out again),
 *   -ENOENT  the layer was removed (looked at no more often than every
 *            LIMG_PRESENT_EVERY_US per generation: until then, files
 *            already open still give their bytes),
 *   -EIO     a metadata block could not be rendered, or a file not opened,
 *   or the first error a sink returned.
 */
#define LIMG_PRESENT_EVERY_US 100000
int limg_gen_read(LimgGen *g, uint64_t off, uint64_t len, const LimgReadSink *sink, void *ctx);

/*
 * Copy image bytes [@off, @off + @len) of @g into @buf (cut at the end).
 * The number of bytes copied, or -errno as limg_gen_read(); -ESTALE also
 * when a file is shorter than laid out.
 */
ssize_t limg_gen_pread(LimgGen *g, void *buf, size_t len, uint64_t off);

#endif /* LIMG_GEN_READ_H */
