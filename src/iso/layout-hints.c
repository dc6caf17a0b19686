/*
 * layout-hints.c - a layout's own results, kept beside its tree in the
 * disk cache and taken back by limg_layout_build() for the same tree
 * (layout.h). They are what costs in a layout: the ISO identifiers and
 * the sort of each directory (step 2 of layout.c), and how each
 * directory's records fill their blocks and continuation areas, which
 * the layout learns by building every record's SUSP entries (step 4).
 * Everything else (hard links, path table, LBAs, extents) is linear and
 * is computed again.
 *
 * Format (host byte order, as the cache file around it), u32 words:
 *
 *   magic "LHN" + version digit, n_nodes, n_dirs, n_blk, n_ce, names_len,
 *   order_width (2 when no directory has more than 65536 entries, else 4)
 *   iso_len   n_nodes bytes, then zeros to a multiple of 4
 *   names     the identifiers in node order, each followed by a NUL (the
 *             arena as the layout fills it), names_len bytes, then zeros
 *             to a multiple of 4
 *   order     n_nodes entries of order_width bytes: order[i] minus the
 *             first child of i's directory (layout-internal.h), then zeros
 *             to a multiple of 4
 *   dirs      per directory in path-table order: blocks, ce_blocks, n_ce
 *   blk       per block of records: rec, child, section
 *   ces       per continuation area, grouped by directory: rec, node,
 *             block relative to the directory's first CE block,
 *             off | len << 16, piece | kind << 16
 *
 * Trust: hints come from a file that passed its checksum, written by
 * this program; they are still checked against the tree so that no
 * index, length or offset from them can take a reader out of bounds:
 * every directory's order is a permutation of its children, each block
 * start names a real record, CE areas lie in their directory's blocks,
 * one block after another, and name the record they continue. What is
 * not checked is that the names and the packing are the ones this build
 * computes for this tree (that would be the work the hints save). Hints
 * carry nothing of the tree's names, sizes or xattrs: they are bound to
 * their tree by whoever keeps them (the disk cache: one file under one
 * checksum). Hints of another tree of the same shape are taken and give
 * a wrong image, never an out-of-bounds access (render.c returns -EIO
 * where records and areas disagree). A change to names, order or record
 * sizes bumps LIMG_LAYOUT_HINTS_VERSION (layout.h), which the hints'
 * magic carries.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iso/ecma119.h"
#include "iso/layout-internal.h"
#include "iso/names.h"

/* "LHN" and the version's digit: hints of another version do not fit. */
#define HINTS_MAGIC (0x004e484cu | (uint32_t)('0' + LIMG_LAYOUT_HINTS_VERSION) << 24)
#define HEADER_WORDS 7

typedef struct {
	uint32_t n_nodes, n_dirs, n_blk, n_ce, names_len, order_width;
	const uint8_t *iso_len;
	const uint8_t *names;
	const uint8_t *order;   /* order_width bytes each, unaligned */
	const uint8_t *dirs;
	const uint8_t *blk;
	const uint8_t *ces;
} Hints;

static inline uint32_t
word(const uint8_t *p, size_t i)
{
	uint32_t v;

	memcpy(&v, p + 4 * i, 4);
	return v;
}

static size_t
pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static void
put_word(GByteArray *b, uint32_t v)
{
	g_byte_array_append(b, (const guint8 *)&v, 4);
}

static void
put_pad(GByteArray *b)
{
	static const uint8_t zeros[4];

	g_byte_array_append(b, zeros, (guint)(pad4(b->len) - b->len));
}

GBytes *
limg_layout_hints(const LimgLayout *l)
{
	const LimgTree *t = l->tree;
	GByteArray *b = g_byte_array_new();
	uint64_t names_len = 0;
	uint32_t width = 2;

	for (uint32_t i = 0; i < t->n_nodes; i++)
		names_len += l->iso_len[i] + 1u;
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		if (S_ISDIR(t->nodes[i].mode) && t->nodes[i].nchildren > 65536)
			width = 4;
	}
	put_word(b, HINTS_MAGIC);
	put_word(b, t->n_nodes);
	put_word(b, l->n_dirs);
	put_word(b, l->n_blk);
	put_word(b, l->n_ce);
	put_word(b, (uint32_t)names_len);
	put_word(b, width);
	g_byte_array_append(b, l->iso_len, t->n_nodes);
	put_pad(b);
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		static const uint8_t nul;

		/* The root has no identifier of its own: iso_name[0] is 0. */
		if (l->iso_len[i])
			g_byte_array_append(b, (const guint8 *)limg_arena_at(&l->names, l->iso_name[i]),
			                    l->iso_len[i]);
		g_byte_array_append(b, &nul, 1);
	}
	put_pad(b);
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];
		uint32_t rel = i == 0 ? 0 : l->order[i] - t->nodes[n->parent].first_child;
		uint16_t r16 = (uint16_t)rel;

		g_byte_array_append(b, width == 2 ? (const guint8 *)&r16 : (const guint8 *)&rel, width);
	}
	put_pad(b);
	for (uint32_t i = 0; i < l->n_dirs; i++) {
		put_word(b, l->dirs[i].blocks);
		put_word(b, l->dirs[i].ce_blocks);
		put_word(b, l->dirs[i].n_ce);
	}
	for (uint32_t i = 0; i < l->n_blk; i++) {
		put_word(b, l->blk[i].rec);
		put_word(b, l->blk[i].child);
		put_word(b, l->blk[i].section);
	}
	for (uint32_t i = 0; i < l->n_ce; i++) {
		const LimgCeArea *a = &l->ces[i];
		const LimgDirInfo *d = &l->dirs[a->dir];

		put_word(b, a->rec);
		put_word(b, a->node);
		put_word(b, a->lba - (d->lba + d->blocks));
		put_word(b, (uint32_t)a->off | (uint32_t)a->len << 16);
		put_word(b, (uint32_t)a->piece | (uint32_t)a->kind << 16);
	}
	return g_byte_array_free_to_bytes(b);
}

static inline uint32_t
order_at(const Hints *h, uint32_t i)
{
	uint16_t v;

	if (h->order_width == 4)
		return word(h->order, i);
	memcpy(&v, h->order + 2ull * i, 2);
	return v;
}

/* Split @bytes into its sections; false when the sizes do not add up. */
static bool
hints_parse(GBytes *bytes, uint32_t n_nodes, Hints *h)
{
	gsize len;
	const uint8_t *p = g_bytes_get_data(bytes, &len);
	uint64_t need, off;

	if (!p || len < HEADER_WORDS * 4 || word(p, 0) != HINTS_MAGIC || word(p, 1) != n_nodes)
		return false;
	h->n_nodes = n_nodes;
	h->n_dirs = word(p, 2);
	h->n_blk = word(p, 3);
	h->n_ce = word(p, 4);
	h->names_len = word(p, 5);
	h->order_width = word(p, 6);
	if (h->order_width != 2 && h->order_width != 4)
		return false;
	off = HEADER_WORDS * 4;
	need = off + pad4(n_nodes) + pad4(h->names_len) + pad4((uint64_t)h->order_width * n_nodes) +
	       12ull * h->n_dirs + 12ull * h->n_blk + 20ull * h->n_ce;
	if (need != len)
		return false;
	h->iso_len = p + off;
	off += pad4(n_nodes);
	h->names = p + off;
	off += pad4(h->names_len);
	h->order = p + off;
	off += pad4((uint64_t)h->order_width * n_nodes);
	h->dirs = p + off;
	off += 12ull * h->n_dirs;
	h->blk = p + off;
	off += 12ull * h->n_blk;
	h->ces = p + off;
	return true;
}

int
limg_layout_hints_names(LimgLayout *l, GBytes *bytes)
{
	const LimgTree *t = l->tree;
	uint32_t n = t->n_nodes;
	g_autofree uint8_t *seen = NULL;
	uint64_t total = 0, pos = 0;
	LimgArena *a = &l->names;
	Hints h;

	if (!hints_parse(bytes, n, &h))
		return -EBADMSG;
	/* Identifiers: 1..LIMG_ISO_NAME_MAX bytes for every node but the root. */
	for (uint32_t i = 0; i < n; i++) {
		uint8_t il = h.iso_len[i];

		if (i == 0 ? il != 0 : il == 0 || il > LIMG_ISO_NAME_MAX)
			return -EBADMSG;
		/* its NUL */
		if (total + il >= h.names_len || h.names[total + il] != 0)
			return -EBADMSG;
		total += il + 1u;
	}
	if (total != h.names_len || total > UINT32_MAX)
		return -EBADMSG;
	/* Each directory's order is a permutation of its own children. */
	seen = g_malloc0(n);
	for (uint32_t i = 0; i < n; i++) {
		const LimgNode *dn = &t->nodes[i];

		if (!S_ISDIR(dn->mode))
			continue;
		for (uint32_t c = dn->first_child; c < dn->first_child + dn->nchildren; c++) {
			uint32_t rel = order_at(&h, c);

			if (rel >= dn->nchildren || seen[dn->first_child + rel])
				return -EBADMSG;
			seen[dn->first_child + rel] = 1;
			l->order[c] = dn->first_child + rel;
		}
	}
	if (order_at(&h, 0) != 0)
		return -EBADMSG;
	/* The arena as set_name() leaves it: each identifier NUL-terminated. */
	limg_arena_release(a);
	a->buf = malloc(total);
	if (!a->buf)
		return -ENOMEM;
	memcpy(a->buf, h.names, total);
	a->cap = a->len = total;
	memcpy(l->iso_len, h.iso_len, n);
	for (uint32_t i = 0; i < n; i++) {
		l->iso_name[i] = (uint32_t)pos;
		pos += h.iso_len[i] + 1u;
	}
	return 0;
}

/*
 * Directory @di's block starts and CE areas from @h (at *bi and *ci),
 * checked record by record against the tree. 0 or -EBADMSG.
 */
static int
take_dir(LimgLayout *l, const Hints *h, uint32_t di, uint32_t *bi, uint32_t *ci)
{
	LimgDirInfo *d = &l->dirs[di];
	uint32_t blocks = word(h->dirs, 3 * di), ce_blocks = word(h->dirs, 3 * di + 1);
	uint32_t n_ce = word(h->dirs, 3 * di + 2);
	uint32_t b_end, c_end, prev_rel = 0, prev_rec = 0, prev_piece = 0;
	LimgRecCursor c = { .kind = REC_DOT };

	if (blocks == 0 || blocks > h->n_blk - *bi || n_ce > h->n_ce - *ci ||
	    (n_ce == 0) != (ce_blocks == 0))
		return -EBADMSG;
	d->blocks = blocks;
	d->ce_blocks = ce_blocks;
	d->first_blk = *bi;
	d->first_ce = *ci;
	d->n_ce = n_ce;
	b_end = *bi + blocks;
	c_end = *ci + n_ce;
	/* Every block start and every CE area must fall on a record. */
	do {
		uint32_t node = limg_rec_node(l, d, &c);

		/* Block 0 starts at "."; the record a later one starts at. */
		if (c.rec == 0 || (*bi < b_end && word(h->blk, 3 * *bi) == c.rec)) {
			if (*bi == b_end || word(h->blk, 3 * *bi) != c.rec ||
			    word(h->blk, 3 * *bi + 1) != c.child ||
			    word(h->blk, 3 * *bi + 2) != c.section)
				return -EBADMSG;
			l->blk[(*bi)++] = (LimgBlockStart){ c.rec, c.child, c.section };
		}
		while (*ci < c_end && word(h->ces, 5 * *ci) == c.rec) {
			const uint8_t *e = h->ces + 20ull * *ci;
			uint32_t rel = word(e, 2), ol = word(e, 3), pk = word(e, 4);
			uint32_t off = ol & 0xFFFF, len = ol >> 16, piece = pk & 0xFFFF, ek = pk >> 16;

			/*
			 * Pieces 1, 2, ... of one record; CE blocks 0, 1, ...
			 * without a gap (one is started when an area does not
			 * fit the last), so ce_blocks is bounded by the areas.
			 */
			if (word(e, 1) != node || ek != (uint32_t)c.kind || rel >= ce_blocks ||
			    (*ci == d->first_ce ? rel != 0 : rel != prev_rel && rel != prev_rel + 1) ||
			    off + len > ISO_BLOCK_SIZE || len == 0 ||
			    piece != (c.rec == prev_rec && prev_piece ? prev_piece + 1 : 1))
				return -EBADMSG;
			l->ces[(*ci)++] = (LimgCeArea){ .dir = di, .rec = c.rec, .node = node,
			                                .lba = d->lba + blocks + rel,
			                                .off = (uint16_t)off, .len = (uint16_t)len,
			                                .piece = (uint16_t)piece,
			                                .kind = (uint8_t)c.kind };
			prev_rel = rel;
			prev_rec = c.rec;
			prev_piece = piece;
		}
	} while (limg_rec_next(l, d, &c));
	if (*bi != b_end || *ci != c_end)
		return -EBADMSG;
	/* The last area lies in the last CE block, as the packing leaves it. */
	if (n_ce && prev_rel != ce_blocks - 1)
		return -EBADMSG;
	return 0;
}

int
limg_layout_hints_pack(LimgLayout *l, GBytes *bytes, uint32_t *cursor)
{
	uint32_t bi = 0, ci = 0, c = *cursor;
	Hints h;
	int ret = 0;

	if (!hints_parse(bytes, l->tree->n_nodes, &h) || h.n_dirs != l->n_dirs)
		return -EBADMSG;
	l->blk = g_try_new(LimgBlockStart, h.n_blk ? h.n_blk : 1);
	l->ces = g_try_new(LimgCeArea, h.n_ce ? h.n_ce : 1);
	if (!l->blk || !l->ces)
		ret = -ENOMEM;
	for (uint32_t di = 0; di < l->n_dirs && ret == 0; di++) {
		LimgDirInfo *d = &l->dirs[di];

		d->lba = c;
		ret = take_dir(l, &h, di, &bi, &ci);
		if (ret == 0 && (uint64_t)c + d->blocks + d->ce_blocks > UINT32_MAX)
			ret = -EBADMSG;
		if (ret == 0) {
			l->lba[d->node] = c;
			c += d->blocks + d->ce_blocks;
		}
	}
	if (ret == 0 && (bi != h.n_blk || ci != h.n_ce))
		ret = -EBADMSG;
	if (ret < 0) {
		g_clear_pointer(&l->blk, g_free);
		g_clear_pointer(&l->ces, g_free);
		return ret;
	}
	l->n_blk = h.n_blk;
	l->n_ce = h.n_ce;
	*cursor = c;
	return 0;
}
