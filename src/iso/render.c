/*
 * render.c - metadata blocks on demand; see render.h.
 *
 * Directory blocks are rendered by replaying the layout's packing from
 * the block's first record (LimgBlockStart): the same SUSP builder, the
 * same split, the same "a record never crosses a block" rule, so the
 * bytes always match the sizes the layout assigned.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "iso/ecma119.h"
#include "iso/layout-internal.h"
#include "iso/render.h"
#include "iso/rrip.h"
#include "util/search.h"

/*
 * The first continuation area of record @rec of @d, or NULL: a layout
 * taken from hints (layout-hints.c) that were not this build's own.
 */
static const LimgCeArea *
find_ce(const LimgLayout *l, const LimgDirInfo *d, uint32_t rec)
{
	uint32_t lo = d->first_ce + (uint32_t)LIMG_LOWER_BOUND(l->ces + d->first_ce, d->n_ce, rec, rec);

	if (lo < d->first_ce + d->n_ce && l->ces[lo].rec == rec && l->ces[lo].piece == 1)
		return &l->ces[lo];
	return NULL;
}

static void
write_dr(const LimgLayout *l, uint8_t *p, uint32_t reclen, uint32_t node,
         uint32_t section, const char *id, uint32_t idlen)
{
	const LimgNode *n = &l->tree->nodes[node];
	uint32_t extent = 0, size = 0;
	uint8_t flags = 0;
	bool clamped;

	if (S_ISDIR(n->mode)) {
		const LimgDirInfo *dd = &l->dirs[l->aux[node]];

		extent = dd->lba;
		size = dd->blocks << ISO_BLOCK_SHIFT;
		flags = ISO_FLAG_DIRECTORY;
	} else if (S_ISREG(n->mode) && n->size > 0) {
		uint32_t nsec = limg_sections(n->size);
		uint64_t start = (uint64_t)section * ISO_MAX_SECTION;

		extent = l->lba[node] + (uint32_t)(start >> ISO_BLOCK_SHIFT);
		size = (uint32_t)(section + 1 < nsec ? ISO_MAX_SECTION : n->size - start);
		if (section + 1 < nsec)
			flags |= ISO_FLAG_MULTI;
	}
	put_711(p + ISO_DR_LEN, (uint8_t)reclen);
	put_711(p + ISO_DR_EXT_ATTR_LEN, 0);
	put_733(p + ISO_DR_EXTENT, extent);
	put_733(p + ISO_DR_SIZE, size);
	limg_iso_date7(p + ISO_DR_DATE, n->mtime.sec, &clamped);
	put_711(p + ISO_DR_FLAGS, flags);
	put_711(p + ISO_DR_UNIT_SIZE, 0);
	put_711(p + ISO_DR_GAP, 0);
	put_723(p + ISO_DR_VOL_SEQ, 1);
	put_711(p + ISO_DR_NAME_LEN, (uint8_t)idlen);
	memcpy(p + ISO_DR_NAME, id, idlen);
}

/* Bytes of entries [first, end) of @s. */
static const uint8_t *
piece_bytes(const LimgSusp *s, const LimgSuspPiece *p, uint32_t *len)
{
	uint32_t start = p->first ? s->ends[p->first - 1] : 0;
	uint32_t end = p->end ? s->ends[p->end - 1] : 0;

	*len = end > start ? end - start : 0;
	return s->buf + start;
}

static int
render_dir_block(const LimgLayout *l, uint32_t di, uint32_t k, uint8_t *buf)
{
	const LimgDirInfo *d = &l->dirs[di];
	const LimgBlockStart *b = &l->blk[d->first_blk + k];
	LimgRecCursor c = { .rec = b->rec, .child = b->child, .section = b->section };
	uint32_t used = 0;
	LimgSusp s;
	int ret = 0;

	c.kind = b->rec == 0 ? REC_DOT : b->rec == 1 ? REC_DOTDOT : REC_ENTRY;
	limg_susp_init(&s);
	do {
		uint32_t node = limg_rec_node(l, d, &c), idlen, fixed, len, blen;
		const uint8_t *bytes;
		const char *id;
		LimgSuspPiece p;

		idlen = limg_layout_record_id(l, c.kind, node, &id);
		fixed = limg_dr_fixed(idlen);
		if ((ret = limg_layout_record_susp(l, c.kind, node, &s)) < 0)
			break;
		limg_susp_take(&s, 0, ISO_DR_MAX - 1 - fixed, &p);
		len = fixed + p.bytes;
		len += len & 1;
		if (used + len > ISO_BLOCK_SIZE)
			break;
		write_dr(l, buf + used, len, node, c.section, id, idlen);
		bytes = piece_bytes(&s, &p, &blen);
		memcpy(buf + used + fixed, bytes, blen);
		if (p.ce) {
			const LimgCeArea *a = find_ce(l, d, c.rec);

			if (!a) {
				ret = -EIO;
				break;
			}
			limg_susp_put_ce(buf + used + fixed + blen, a->lba, a->off, a->len);
		}
		used += len;
	} while (limg_rec_next(l, d, &c));
	limg_susp_release(&s);
	return ret;
}

static int
render_ce_block(const LimgLayout *l, uint32_t di, uint32_t lba, uint8_t *buf)
{
	const LimgDirInfo *d = &l->dirs[di];
	uint32_t lo = d->first_ce + (uint32_t)LIMG_LOWER_BOUND(l->ces + d->first_ce, d->n_ce, lba, lba);
	LimgSusp s;
	int ret = 0;

	limg_susp_init(&s);
	for (uint32_t i = lo; i < d->first_ce + d->n_ce && l->ces[i].lba == lba; i++) {
		const LimgCeArea *a = &l->ces[i];
		const char *id;
		uint32_t fixed = limg_dr_fixed(limg_layout_record_id(l, a->kind, a->node, &id));
		const uint8_t *bytes;
		LimgSuspPiece p;
		uint32_t blen;

		if ((ret = limg_layout_record_susp(l, a->kind, a->node, &s)) < 0)
			break;
		limg_susp_take(&s, 0, ISO_DR_MAX - 1 - fixed, &p);
		for (uint16_t piece = 1; piece <= a->piece; piece++)
			limg_susp_take(&s, p.end, SUSP_AREA_MAX, &p);
		bytes = piece_bytes(&s, &p, &blen);
		/* Only hints that are not this build's own disagree (find_ce()). */
		if (blen > a->len || (p.ce && (i + 1 >= l->n_ce || l->ces[i + 1].rec != a->rec ||
		                                l->ces[i + 1].dir != a->dir ||
		                                blen + SUSP_CE_LEN > a->len))) {
			ret = -EIO;
			break;
		}
		memcpy(buf + a->off, bytes, blen);
		if (p.ce) {
			const LimgCeArea *next = &l->ces[i + 1];

			limg_susp_put_ce(buf + a->off + blen, next->lba, next->off, next->len);
		}
	}
	limg_susp_release(&s);
	return ret;
}

static int
render_pt(const LimgLayout *l, uint32_t blk, uint8_t *buf, bool msb)
{
	uint64_t base = (uint64_t)blk << ISO_BLOCK_SHIFT, off = l->pt[blk].rec_off;

	for (uint32_t i = l->pt[blk].dir; i < l->n_dirs && off < base + ISO_BLOCK_SIZE; i++) {
		const LimgDirInfo *d = &l->dirs[i];
		uint8_t rec[8 + 40] = { 0 };
		const char *id = "";
		uint32_t idlen = i == 0 ? 1 : l->iso_len[d->node];
		uint32_t len = limg_pt_rec_len(idlen);
		uint16_t parent = d->parent_num > 65535 ? 65535 : (uint16_t)d->parent_num;
		uint64_t from, to;

		if (i > 0)
			id = limg_arena_at(&l->names, l->iso_name[d->node]);
		rec[0] = (uint8_t)idlen;
		rec[1] = 0;
		if (msb) {
			put_732(rec + 2, d->lba);
			put_722(rec + 6, parent);
		} else {
			put_731(rec + 2, d->lba);
			put_721(rec + 6, parent);
		}
		if (i > 0)
			memcpy(rec + 8, id, idlen);
		from = off > base ? off : base;
		to = off + len < base + ISO_BLOCK_SIZE ? off + len : base + ISO_BLOCK_SIZE;
		memcpy(buf + (from - base), rec + (from - off), to - from);
		off += len;
	}
	return 0;
}

static void
render_root_dr(const LimgLayout *l, uint8_t *p)
{
	static const char root_id[1] = { 0 };

	write_dr(l, p, 34, 0, 0, root_id, 1);
}

static int
render_pvd(const LimgLayout *l, uint8_t *b)
{
	int64_t t = l->tree->nodes[0].mtime.sec;

	b[0] = 1;                                    /* 8.4.1 type */
	memcpy(b + 1, "CD001", 5);
	b[6] = 1;
	put_padded(b + 8, 32, "LINUX", ' ');         /* system identifier */
	put_padded(b + 40, 32, l->volume_id, ' ');
	put_733(b + 80, l->total_blocks);            /* volume space size */
	put_723(b + 120, 1);                         /* volume set size */
	put_723(b + 124, 1);                         /* volume sequence number */
	put_723(b + 128, ISO_BLOCK_SIZE);
	put_733(b + 132, l->pt_size);
	put_731(b + 140, l->l_pt_lba);
	put_731(b + 144, 0);
	put_732(b + 148, l->m_pt_lba);
	put_732(b + 152, 0);
	render_root_dr(l, b + 156);
	put_padded(b + 190, 128, NULL, ' ');         /* volume set */
	put_padded(b + 318, 128, NULL, ' ');         /* publisher */
	put_padded(b + 446, 128, NULL, ' ');         /* data preparer */
	put_padded(b + 574, 128, "FUSE-LAYERIMG", ' ');
	put_padded(b + 702, 37, NULL, ' ');
	put_padded(b + 739, 37, NULL, ' ');
	put_padded(b + 776, 37, NULL, ' ');
	/* Creation and modification: the root's mtime, never the clock. */
	limg_iso_date17(b + 813, t);
	limg_iso_date17(b + 830, t);
	limg_iso_date17(b + 847, INT64_MIN);   /* expiration: not specified */
	limg_iso_date17(b + 864, INT64_MIN);   /* effective: not specified */
	b[881] = 1;                                  /* file structure version */
	return 0;
}

int
limg_render_block(const LimgLayout *l, uint32_t lba, uint8_t buf[ISO_BLOCK_SIZE])
{
	uint32_t lo;

	memset(buf, 0, ISO_BLOCK_SIZE);
	if (lba >= l->meta_blocks)
		return -EINVAL;
	if (lba < ISO_SYSTEM_AREA)
		return 0;
	if (lba == ISO_PVD_LBA)
		return render_pvd(l, buf);
	if (lba == ISO_TERM_LBA) {
		buf[0] = 255;
		memcpy(buf + 1, "CD001", 5);
		buf[6] = 1;
		return 0;
	}
	if (lba < l->m_pt_lba)
		return render_pt(l, lba - l->l_pt_lba, buf, false);
	if (lba < l->m_pt_lba + l->pt_blocks)
		return render_pt(l, lba - l->m_pt_lba, buf, true);

	/* The last directory starting at or before @lba. */
	lo = (uint32_t)LIMG_LOWER_BOUND(l->dirs, l->n_dirs, lba, (uint64_t)lba + 1);
	g_assert(lo > 0);
	{
		const LimgDirInfo *d = &l->dirs[lo - 1];
		uint32_t k = lba - d->lba;

		if (k < d->blocks)
			return render_dir_block(l, lo - 1, k, buf);
		g_assert(k < d->blocks + d->ce_blocks);
		return render_ce_block(l, lo - 1, lba, buf);
	}
}
