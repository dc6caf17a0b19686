/*
 * head.h - an image's head: its first blocks and the facts about it a
 * generation is named and sized by, kept in the layer's disk-cache file
 * (persist.h) so that a restarted daemon serves the first read of an
 * image before it has read the layer's tree back (images.h).
 *
 * A head is rendered from a layout when the layout is saved, and checked
 * against the layout read back from the same file once that is there:
 * the facts must be equal and the bytes the same as the layout renders.
 * A head written for other options or by another version of the program
 * (its tag) or for another format is not used.
 *
 * Knows nothing of files: the raw bytes come from and go to persist.h.
 *
 * Thread model: reentrant; a LimgHead is immutable once parsed.
 */
#ifndef LIMG_HEAD_H
#define LIMG_HEAD_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "iso/format.h"

/*
 * Blocks a head covers (at most; never more than the metadata): 128 KiB
 * of 2 KiB blocks, the kernel's first read of an image (its first
 * readahead for a read of 64 KiB), where a guest finds the volume
 * descriptors, the path tables and the first directories. The system
 * area before them (blocks 0-15) is zeros, not kept: a head holds the
 * blocks from the primary volume descriptor on. Kept small: a restart
 * decompresses it on its first request.
 */
#define LIMG_HEAD_BLOCKS 64
#define LIMG_HEAD_FIRST 16

typedef struct {
	uint64_t size;          /* image bytes */
	uint64_t data_bytes;    /* of the tree */
	uint32_t meta_blocks;
	uint32_t entries;       /* nodes of the tree */
	uint32_t blocks;        /* image blocks [0, blocks) covered */
	GBytes *bytes;          /* blocks [LIMG_HEAD_FIRST, blocks); NULL: none */
} LimgHead;

/*
 * The raw head of @layout (format @fmt) for options tag @tag, or NULL
 * when there is nothing past the system area to keep (metadata ending by
 * block 16), the system area is not zeros, or it cannot be rendered.
 */
GBytes *limg_head_render(const LimgFormat *fmt, const LimgFormatLayout *layout, uint64_t tag);

/*
 * Parse raw head @raw: true and *out filled (out->bytes a new
 * reference), or false if it is not a head of format @fmt for @tag or
 * its facts are inconsistent.
 */
bool limg_head_parse(GBytes *raw, const LimgFormat *fmt, uint64_t tag, LimgHead *out);

/*
 * Bytes [@off, @off + @len) of the image, inside the head's blocks and
 * the zeros before them, copied to @buf from @head's @bytes (borrowed: a
 * reference the caller holds).
 */
void limg_head_copy(const LimgHead *head, GBytes *bytes, uint32_t block_size, uint64_t off,
                    size_t len, uint8_t *buf);

/* Whether @head holds the facts and the first bytes of @layout. */
bool limg_head_matches(const LimgHead *head, const LimgFormat *fmt,
                       const LimgFormatLayout *layout);

void limg_head_clear(LimgHead *head);

#endif /* LIMG_HEAD_H */
