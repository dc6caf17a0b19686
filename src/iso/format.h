/*
 * format.h - what the image service needs of an image format, and no
 * more: lay out a tree, map any byte of the image to a segment, render
 * one metadata block.
 *
 * The service (src/cache/images.h) and the read planner hold a format
 * and an opaque layout of it; they never see ISO 9660 structures. ISO
 * 9660 + Rock Ridge (src/iso/) is the one format today; a second one
 * would be a second LimgFormat beside it.
 *
 * An image is a sequence of blocks of @block_size bytes. Blocks
 * [0, meta_blocks) are metadata, produced only by render_block(); what
 * follows is file data (bytes of the tree's regular files, read from the
 * layer by the caller) and zeros. segment() says which, for any offset.
 *
 * Thread model: a format is a constant table; layouts are immutable
 * after build and shared across threads by ref/unref.
 */
#ifndef LIMG_FORMAT_H
#define LIMG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tree/tree.h"
#include "util/report.h"

typedef enum {
	LIMG_SEG_META,   /* rendered metadata: render_block() */
	LIMG_SEG_DATA,   /* bytes of a regular file of the tree */
	LIMG_SEG_ZERO,   /* padding */
} LimgSegKind;

typedef struct {
	LimgSegKind kind;
	uint64_t offset;       /* image offset where this segment starts */
	uint64_t length;       /* bytes from @offset to the segment's end */
	uint32_t node;         /* DATA: the tree node */
	uint64_t file_offset;  /* DATA: offset within that file */
} LimgSegment;

typedef struct {
	const char *volume_id;  /* NULL: the format's default */
	/*
	 * NULL, or what hints() gave for a layout of this same tree (the
	 * disk cache keeps them): the build takes its costly steps from
	 * them. Hints that do not fit the tree are ignored.
	 */
	GBytes *hints;
} LimgFormatOptions;

/* A laid-out image of some format; opaque, refcounted, immutable. */
typedef struct LimgFormatLayout LimgFormatLayout;

typedef struct {
	const char *name;
	uint32_t block_size;
	/*
	 * Lay out @tree (taken in every case). Findings go to @report (may be
	 * NULL). 0 and a new layout in *out, or -errno (described in
	 * @report->errors).
	 */
	int (*build)(LimgTree *tree, const LimgFormatOptions *opts, LimgReport *report,
	             LimgFormatLayout **out);
	LimgFormatLayout *(*ref)(LimgFormatLayout *l);
	void (*unref)(LimgFormatLayout *l);
	uint64_t (*size)(const LimgFormatLayout *l);          /* bytes */
	uint32_t (*meta_blocks)(const LimgFormatLayout *l);
	const LimgTree *(*tree)(const LimgFormatLayout *l);   /* borrowed */
	/* The segment holding byte @off, from @off to its end. 0 or -EINVAL. */
	int (*segment)(const LimgFormatLayout *l, uint64_t off, LimgSegment *seg);
	/* Metadata block @block into @buf (block_size bytes). 0 or -errno. */
	int (*render_block)(const LimgFormatLayout *l, uint32_t block, uint8_t *buf);
	size_t (*mem_bytes)(const LimgFormatLayout *l);
	/* The layout's results for the disk cache (see hints above). */
	GBytes *(*hints)(const LimgFormatLayout *l);
	/* Whether the build took them from hints. */
	bool (*hinted)(const LimgFormatLayout *l);
} LimgFormat;

/* ISO 9660 level 3 + Rock Ridge 1.12 + AAIP 2.0 (src/iso/). */
extern const LimgFormat limg_format_iso9660;

#endif /* LIMG_FORMAT_H */
