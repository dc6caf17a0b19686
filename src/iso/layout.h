/*
 * layout.h - from a layer's node tree to the exact shape of its image.
 *
 * limg_layout_build() assigns every node its ISO identifier, directory
 * record, Rock Ridge entries, continuation areas and LBAs, and so fixes the
 * image size, without reading any file data and without rendering any
 * metadata. The result is an immutable, refcounted LimgLayout that answers
 * two questions for any byte of the image:
 *
 *   limg_layout_segment()  what lies at this offset: metadata (render it
 *                          with limg_render_block()), a file's bytes
 *                          (node + file offset), or zeros; and how far
 *                          that segment extends;
 *   limg_render_block()    (render.h) the bytes of one metadata block.
 *
 * Image map (2048-byte blocks):
 *
 *   0..15        system area, zeros
 *   16           primary volume descriptor
 *   17           volume descriptor set terminator
 *   18..         L path table, then M path table
 *   ...          each directory's records, immediately followed by the
 *                SUSP continuation areas of that directory's records
 *                (readers that stream, like libarchive, need CE areas after
 *                the records that point at them and before file data)
 *   ...          file data in node order, each file block-aligned; hard
 *                links share one extent; files > 4 GiB are multi-extent
 *
 * Determinism: the output depends only on the tree's names, types, modes,
 * owners, sizes, mtimes, symlink targets, device numbers and hard-link
 * structure, and on the options; never on host inode numbers, paths or the
 * clock.
 *
 * Thread model: immutable after build; share across threads with
 * limg_layout_ref()/limg_layout_unref().
 */
#ifndef LIMG_LAYOUT_H
#define LIMG_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "iso/format.h"
#include "tree/tree.h"
#include "util/report.h"

typedef struct LimgLayout LimgLayout;

/* Options: the volume identifier (PVD); NULL: "LAYER". */
typedef LimgFormatOptions LimgLayoutOptions;

/*
 * Lay out @tree. Takes ownership of @tree in every case. Warnings and the
 * compatibility findings go to @report (may be NULL).
 * Returns 0 and a new layout in *out, or:
 *   -EFBIG   a file needs more than ISO_MAX_SECTIONS sections,
 *   -E2BIG   the image would exceed 2^32 blocks,
 *   -EINVAL  the tree has no root directory,
 *   -ENOMEM.
 * Errors are also described in @report->errors.
 */
int limg_layout_build(LimgTree *tree, const LimgLayoutOptions *opts,
                      LimgReport *report, LimgLayout **out);

LimgLayout *limg_layout_ref(LimgLayout *l);
void limg_layout_unref(LimgLayout *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgLayout, limg_layout_unref)

/* Image size in bytes (a whole number of blocks). */
uint64_t limg_layout_size(const LimgLayout *l);

/* Blocks [0, n) hold metadata (and the system area); file data follows. */
uint32_t limg_layout_meta_blocks(const LimgLayout *l);

/* The laid-out tree. Borrowed; valid until the layout's last unref. */
const LimgTree *limg_layout_tree(const LimgLayout *l);

/* First data block of a node's extent (0 for nodes without data). */
uint32_t limg_layout_node_lba(const LimgLayout *l, uint32_t node);

/*
 * Describe the segment that contains image offset @off, from @off to the
 * end of that segment. Returns 0, or -EINVAL when @off >= image size.
 */
int limg_layout_segment(const LimgLayout *l, uint64_t off, LimgSegment *seg);

/*
 * The layout's own results (ISO identifiers, each directory's order, how
 * its records fill blocks and continuation areas), for the disk cache to
 * keep beside the tree. Given back through the options' hints for the
 * same tree, limg_layout_build() skips naming, sorting and measuring:
 * the rest of a layout is a few linear passes (layout-hints.c says what
 * is checked). A change to the layout's names, order or record sizes
 * must bump LIMG_LAYOUT_HINTS_VERSION: the hints carry it in their magic,
 * so those of another version are set aside.
 */
#define LIMG_LAYOUT_HINTS_VERSION 1
GBytes *limg_layout_hints(const LimgLayout *l);

/* Whether this layout was built from hints (they fit the tree). */
bool limg_layout_hinted(const LimgLayout *l);

/* Bytes of memory the layout holds, tree included. */
size_t limg_layout_mem_bytes(const LimgLayout *l);

#endif /* LIMG_LAYOUT_H */
