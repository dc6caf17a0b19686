/*
 * layout-internal.h - the layout's tables, shared by layout.c (which fills
 * them) and render.c (which reads them). Not for other modules.
 *
 * Per-node arrays are indexed by tree node; per-directory tables are
 * indexed by directory number - 1 (path-table order, which is also the
 * order of directory extents on the image).
 */
#ifndef LIMG_LAYOUT_INTERNAL_H
#define LIMG_LAYOUT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "iso/ecma119.h"
#include "iso/layout.h"
#include "iso/rrip.h"
#include "util/arena.h"

/* What a directory record stands for. */
enum {
	REC_DOT = 0,     /* "." : the directory itself */
	REC_DOTDOT = 1,  /* "..": its parent */
	REC_ENTRY = 2,   /* one section of a child */
};

typedef struct {
	uint32_t node;          /* directory node */
	uint32_t parent_num;    /* path table number of the parent (root: 1) */
	uint32_t lba;           /* first block of records */
	uint32_t blocks;        /* blocks of records: data length / 2048 */
	uint32_t ce_blocks;     /* continuation blocks right after the records */
	uint32_t nsubdirs;      /* for PX nlink = 2 + nsubdirs */
	uint32_t first_blk;     /* index of block 0 in blk[] */
	uint32_t first_ce;      /* index of the first area in ces[] */
	uint32_t n_ce;
} LimgDirInfo;

/* The first record of a directory block. */
typedef struct {
	uint32_t rec;           /* ordinal in the directory: 0 ".", 1 "..", 2.. */
	uint32_t child;         /* REC_ENTRY: position in the sorted children */
	uint32_t section;       /* REC_ENTRY: section of that child */
} LimgBlockStart;

/* One continuation area (piece >= 1 of a record's SUSP entries). */
typedef struct {
	uint32_t dir;           /* directory index (number - 1) */
	uint32_t rec;           /* record ordinal in that directory */
	uint32_t node;          /* node whose entries these are */
	uint32_t lba;
	uint16_t off;
	uint16_t len;
	uint16_t piece;         /* 1 = first continuation area */
	uint8_t kind;           /* REC_* */
} LimgCeArea;

/* Path table: where each table block starts. */
typedef struct {
	uint32_t dir;           /* directory whose record spans the block start */
	uint32_t rec_off;       /* byte offset of that record in the table */
} LimgPtStart;

typedef struct {
	uint32_t lba;
	uint32_t node;
} LimgExtent;

struct LimgLayout {
	gint refcount;
	LimgTree *tree;
	char volume_id[33];
	bool has_xattrs;        /* any node carries AAIP attributes */
	bool hinted;            /* names and packing came from hints */

	/* per node */
	uint32_t *iso_name;     /* offset in @names */
	uint8_t *iso_len;
	uint32_t *order;        /* sorted children, same ranges as the tree */
	uint32_t *lba;
	uint32_t *leader;       /* hard-link group leader (self if none) */
	uint32_t *aux;          /* dirs: directory index; others: links in tree */
	LimgArena names;

	LimgDirInfo *dirs;
	uint32_t n_dirs;
	LimgBlockStart *blk;
	uint32_t n_blk;
	LimgCeArea *ces;
	uint32_t n_ce;
	LimgExtent *extents;
	uint32_t n_ext;
	LimgPtStart *pt;        /* one per path table block */

	uint32_t pt_size;       /* bytes */
	uint32_t pt_blocks;
	uint32_t l_pt_lba;
	uint32_t m_pt_lba;
	uint32_t meta_blocks;
	uint32_t total_blocks;
};

/*
 * Sections a regular file of @size bytes is stored in (>= 1). Divided
 * without rounding up first, which would wrap near 2^64 (a tar header or
 * a cache file can say any size); UINT32_MAX for more than that.
 */
static inline uint32_t
limg_sections(uint64_t size)
{
	uint64_t n = size / ISO_MAX_SECTION + (size % ISO_MAX_SECTION != 0);

	if (size <= 0xFFFFFFFFull)
		return 1;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Length of a path table record for an identifier of @n bytes (9.4). */
static inline uint32_t
limg_pt_rec_len(uint32_t n)
{
	return 8 + n + (n & 1);
}

/*
 * Append the SUSP entries of one record to @s (which is reset first).
 * @dir_node is the directory holding the record; @node the node described
 * (for REC_DOTDOT the parent). Shared by layout (measure) and render
 * (emit), so both always agree. 0 or -ENOMEM.
 */
int limg_layout_record_susp(const LimgLayout *l, int kind, uint32_t node,
                            LimgSusp *s);

/* Identifier length of a record and the inline SUSP capacity it leaves. */
uint32_t limg_layout_record_id(const LimgLayout *l, int kind, uint32_t node,
                               const char **id);
static inline uint32_t
limg_dr_fixed(uint32_t id_len)
{
	return ISO_DR_FIXED + id_len + ((id_len & 1) ? 0 : 1);
}

/*
 * The records of a directory in order: ".", "..", then each section of
 * each child in sorted order. Render replays a block from its
 * LimgBlockStart with it; the hints are checked record by record with it.
 * limg_rec_next() gives false after the last record.
 */
typedef struct {
	int kind;
	uint32_t rec;
	uint32_t child;
	uint32_t section;
} LimgRecCursor;

static inline uint32_t
limg_rec_node(const LimgLayout *l, const LimgDirInfo *d, const LimgRecCursor *c)
{
	const LimgNode *dn = &l->tree->nodes[d->node];

	switch (c->kind) {
	case REC_DOT:
		return d->node;
	case REC_DOTDOT:
		return dn->parent;
	default:
		return l->order[dn->first_child + c->child];
	}
}

static inline bool
limg_rec_next(const LimgLayout *l, const LimgDirInfo *d, LimgRecCursor *c)
{
	const LimgNode *dn = &l->tree->nodes[d->node];

	c->rec++;
	if (c->kind == REC_DOT) {
		c->kind = REC_DOTDOT;
		return true;
	}
	if (c->kind == REC_DOTDOT) {
		c->kind = REC_ENTRY;
		c->child = 0;
		c->section = 0;
		return dn->nchildren > 0;
	}
	{
		const LimgNode *cn = &l->tree->nodes[l->order[dn->first_child + c->child]];
		uint32_t nsec = S_ISREG(cn->mode) ? limg_sections(cn->size) : 1;

		if (++c->section < nsec)
			return true;
	}
	c->section = 0;
	return ++c->child < dn->nchildren;
}

/*
 * layout-hints.c: take step 2 (identifiers and order; before the
 * directories are numbered) and step 4 (blocks, CE areas and directory
 * LBAs from *cursor, which is advanced) from @hints. 0; -EBADMSG when
 * they do not fit the tree (limg_layout_build() then undoes steps 2-4
 * and computes them all); -ENOMEM.
 */
int limg_layout_hints_names(LimgLayout *l, GBytes *hints);
int limg_layout_hints_pack(LimgLayout *l, GBytes *hints, uint32_t *cursor);

#endif /* LIMG_LAYOUT_INTERNAL_H */
