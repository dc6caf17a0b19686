/*
 * layout.c - node tree -> identifiers, records, LBAs, image size; see
 * layout.h for the image map.
 *
 * The build is a handful of linear passes over the node array:
 *   1. hard-link groups and compatibility findings;
 *   2. ISO identifiers and the ECMA-119 order of each directory;
 *   3. directories in path-table order (breadth first over sorted
 *      children, ECMA-119 6.9.1), and the path table's size;
 *   4. directory records packed into blocks (a record never crosses a
 *      block, 6.8.1.1), SUSP continuation areas allocated right after each
 *      directory (an area never crosses a block: Linux requires it);
 *   5. file data extents in node order.
 * Nothing is rendered here: record sizes come from building the SUSP
 * entries into scratch space with the same code render.c uses. Steps 2
 * and 4 are most of the cost; hints from the disk cache (layout-hints.c)
 * replace them when the options carry them.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "iso/ecma119.h"
#include "iso/layout-internal.h"
#include "iso/names.h"
#include "iso/rrip.h"
#include "util/escape.h"
#include "util/search.h"

typedef struct {
	uint64_t dev;
	uint64_t ino;
} DevIno;

static guint
devino_hash(gconstpointer p)
{
	const DevIno *k = p;

	return (guint)(k->ino ^ (k->ino >> 32) ^ (k->dev * 0x9e3779b1u));
}

static gboolean
devino_equal(gconstpointer a, gconstpointer b)
{
	const DevIno *x = a, *y = b;

	return x->dev == y->dev && x->ino == y->ino;
}

static void
layout_free(LimgLayout *l)
{
	limg_tree_free(l->tree);
	g_free(l->iso_name);
	g_free(l->iso_len);
	g_free(l->order);
	g_free(l->lba);
	g_free(l->leader);
	g_free(l->aux);
	limg_arena_release(&l->names);
	g_free(l->dirs);
	g_free(l->blk);
	g_free(l->ces);
	g_free(l->extents);
	g_free(l->pt);
	g_free(l);
}

LimgLayout *
limg_layout_ref(LimgLayout *l)
{
	g_atomic_int_inc(&l->refcount);
	return l;
}

void
limg_layout_unref(LimgLayout *l)
{
	if (l && g_atomic_int_dec_and_test(&l->refcount))
		layout_free(l);
}

uint64_t
limg_layout_size(const LimgLayout *l)
{
	return (uint64_t)l->total_blocks << ISO_BLOCK_SHIFT;
}

uint32_t
limg_layout_meta_blocks(const LimgLayout *l)
{
	return l->meta_blocks;
}

const LimgTree *
limg_layout_tree(const LimgLayout *l)
{
	return l->tree;
}

uint32_t
limg_layout_node_lba(const LimgLayout *l, uint32_t node)
{
	g_return_val_if_fail(node < l->tree->n_nodes, 0);
	return l->lba[node];
}

bool
limg_layout_hinted(const LimgLayout *l)
{
	return l->hinted;
}

size_t
limg_layout_mem_bytes(const LimgLayout *l)
{
	size_t n = l->tree->n_nodes;

	return limg_tree_mem_bytes(l->tree) + n * (4 * 5 + 1) + l->names.cap +
	       l->n_dirs * sizeof(LimgDirInfo) + l->n_blk * sizeof(LimgBlockStart) +
	       l->n_ce * sizeof(LimgCeArea) + l->n_ext * sizeof(LimgExtent) +
	       l->pt_blocks * sizeof(LimgPtStart) + sizeof(*l);
}

/* ------------------------------------------------------------ records */

static uint32_t
node_nlink(const LimgLayout *l, uint32_t node)
{
	if (S_ISDIR(l->tree->nodes[node].mode))
		return 2 + l->dirs[l->aux[node]].nsubdirs;
	return l->aux[node];
}

static uint32_t
node_serial(const LimgLayout *l, uint32_t node)
{
	if (S_ISDIR(l->tree->nodes[node].mode))
		return node + 1;
	return l->leader[node] + 1;
}

/* Most attributes one node may carry; more is left out with a warning. */
#define XATTR_MAX_BYTES (256 * 1024)

static int
add_xattrs(const LimgLayout *l, const LimgNode *n, LimgSusp *s)
{
	const char *names[256];
	size_t name_lens[256];
	const uint8_t *values[256];
	uint32_t value_lens[256];
	size_t cursor = 0, k = 0;

	while (k < 256 && limg_tree_xattr_next(l->tree, n, &cursor, &names[k], &name_lens[k],
	                                       &values[k], &value_lens[k]))
		k++;
	return limg_aaip_al(s, k, names, name_lens, values, value_lens);
}

int
limg_layout_record_susp(const LimgLayout *l, int kind, uint32_t node, LimgSusp *s)
{
	const LimgNode *n = &l->tree->nodes[node];
	bool root_dot = kind == REC_DOT && node == 0;
	uint8_t date[7];
	bool clamped;
	int ret = 0;

	limg_susp_reset(s);
	/* SUSP 5.3: SP comes first in the root's "." record. */
	if (root_dot && (ret = limg_susp_sp(s)) < 0)
		return ret;
	/* Measuring (rrip.h): PX and TF are counted, their fields unused. */
	if ((ret = limg_rrip_px(s, n->mode, s->measure ? 0 : node_nlink(l, node), n->uid, n->gid,
	                        s->measure ? 0 : node_serial(l, node))) < 0)
		return ret;
	if (!s->measure)
		limg_iso_date7(date, n->mtime.sec, &clamped);
	else
		memset(date, 0, sizeof(date));
	if ((ret = limg_rrip_tf(s, date)) < 0)
		return ret;
	if (kind == REC_ENTRY) {
		if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
			/*
			 * PN as glibc's 64-bit dev_t split high:low, which libisofs
			 * and libarchive decode; for majors and minors below 256 it
			 * is high 0, low major<<8|minor, which Linux isofs decodes as
			 * an old 16-bit dev_t: every target reader agrees on all the
			 * devices layers hold (whiteouts 0:0, 1:3, ...).
			 */
			uint64_t dev = makedev(n->rdev_major, n->rdev_minor);

			if ((ret = limg_rrip_pn(s, (uint32_t)(dev >> 32), (uint32_t)dev)) < 0)
				return ret;
		}
		if (S_ISLNK(n->mode) && n->target != LIMG_NONE) {
			ret = limg_rrip_sl(s, limg_tree_target(l->tree, n), (size_t)n->size);
			if (ret < 0)
				return ret;
		}
		if ((ret = limg_rrip_nm(s, limg_tree_name(l->tree, n), n->name_len)) < 0)
			return ret;
	}
	/* A directory's attributes travel in its record in the parent; the
	 * root has none, so its attributes go in its "." record. */
	if ((kind == REC_ENTRY || root_dot) && n->xattrs != LIMG_NONE &&
	    (ret = add_xattrs(l, n, s)) < 0)
		return ret;
	if (root_dot) {
		if ((ret = limg_susp_er(s)) < 0)
			return ret;
		if (l->has_xattrs)
			ret = limg_susp_er_aaip(s);
	}
	return ret;
}

uint32_t
limg_layout_record_id(const LimgLayout *l, int kind, uint32_t node, const char **id)
{
	static const char dot[1] = { 0 }, dotdot[1] = { 1 };

	if (kind == REC_DOT) {
		*id = dot;
		return 1;
	}
	if (kind == REC_DOTDOT) {
		*id = dotdot;
		return 1;
	}
	*id = limg_arena_at(&l->names, l->iso_name[node]);
	return l->iso_len[node];
}

/* ------------------------------------------------------------ passes */

static int
cmp_iso_order(const void *a, const void *b, void *arg)
{
	const LimgLayout *l = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return limg_iso_name_cmp(limg_arena_at(&l->names, l->iso_name[x]), l->iso_len[x],
	                         limg_arena_at(&l->names, l->iso_name[y]), l->iso_len[y]);
}

static int
find_links(LimgLayout *l, LimgReport *report)
{
	const LimgTree *t = l->tree;
	g_autoptr(GHashTable) groups = g_hash_table_new_full(devino_hash, devino_equal, g_free, NULL);

	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];
		DevIno key = { n->dev, n->ino };
		gpointer v;

		l->leader[i] = i;
		l->aux[i] = 1;
		if (S_ISDIR(n->mode) || n->nlink < 2)
			continue;
		if (g_hash_table_lookup_extended(groups, &key, NULL, &v)) {
			uint32_t lead = GPOINTER_TO_UINT(v) - 1;

			l->leader[i] = lead;
			l->aux[lead]++;
			if (t->nodes[lead].mode != n->mode || t->nodes[lead].size != n->size) {
				/* Same inode, different facts: the tree is inconsistent. */
				l->leader[i] = i;
				l->aux[lead]--;
			}
		} else {
			DevIno *k = g_new(DevIno, 1);

			*k = key;
			g_hash_table_insert(groups, k, GUINT_TO_POINTER(i + 1));
		}
	}
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		if (l->leader[i] != i)
			l->aux[i] = l->aux[l->leader[i]];
	}
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];

		if (l->leader[i] == i && l->aux[i] > 1 &&
		    (!S_ISREG(n->mode) || n->size == 0)) {
			g_autofree char *p = limg_tree_path(t, i);

			limg_report_compat(report, LIMG_COMPAT_SPECIAL_LINK, p);
		}
	}
	return 0;
}

static void
find_compat(LimgLayout *l, LimgReport *report)
{
	LimgTree *t = l->tree;
	/* Linux isofs keeps times in 32 bits (READERS.md). */
	const int64_t lo32 = INT32_MIN, hi32 = INT32_MAX;

	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];
		int what[8], k = 0;

		if (n->xattrs != LIMG_NONE) {
			size_t cursor = 0, total = 0, count = 0, nl;
			const char *name;
			const uint8_t *val;
			uint32_t vl;

			while (limg_tree_xattr_next(t, n, &cursor, &name, &nl, &val, &vl)) {
				total += nl + vl;
				count++;
			}
			if (total > XATTR_MAX_BYTES || count > 256) {
				g_autofree char *p = limg_tree_path(t, i);
				g_autofree char *e = limg_escape(p, strlen(p));

				limg_report_warn(report, "/%s: %zu extended attributes of %zu bytes "
				                 "exceed the %d-byte limit; attributes left out",
				                 e, count, total, XATTR_MAX_BYTES);
				t->nodes[i].xattrs = LIMG_NONE;
			} else {
				l->has_xattrs = true;
			}
		}
		if (n->name_len >= 254)
			what[k++] = LIMG_COMPAT_LONG_NAME;
		if (S_ISLNK(n->mode) && n->size >= 1024)
			what[k++] = LIMG_COMPAT_LONG_TARGET;
		if (limg_iso_date7_clamps(n->mtime.sec))
			what[k++] = LIMG_COMPAT_TIME_CLAMPED;
		else if (n->mtime.sec < lo32 || n->mtime.sec > hi32)
			what[k++] = LIMG_COMPAT_TIME_32BIT;
		if ((S_ISCHR(n->mode) || S_ISBLK(n->mode)) &&
		    (n->rdev_major >= 256 || n->rdev_minor >= 256))
			what[k++] = LIMG_COMPAT_DEV_WIDE;
		if (n->xattrs != LIMG_NONE)
			what[k++] = LIMG_COMPAT_XATTR;
		if (S_ISSOCK(n->mode))
			what[k++] = LIMG_COMPAT_SOCKET;
		if (S_ISREG(n->mode) && limg_sections(n->size) > 1)
			what[k++] = LIMG_COMPAT_BIG_FILE;
		if (k) {
			g_autofree char *p = limg_tree_path(t, i);

			for (int j = 0; j < k; j++)
				limg_report_compat(report, (LimgCompat)what[j], p);
		}
	}
}

/* Record identifier @id of node @c (and start its order slot). */
static int
set_name(LimgLayout *l, uint32_t c, const char *id, size_t len)
{
	uint32_t off;
	int ret = limg_arena_append(&l->names, id, len, &off);

	if (ret < 0)
		return ret;
	l->iso_name[c] = off;
	l->iso_len[c] = (uint8_t)len;
	l->order[c] = c;
	return 0;
}

/* Give children c of directory @dn their plain identifiers. */
static int
plain_names(LimgLayout *l, const LimgNode *dn)
{
	const LimgTree *t = l->tree;

	for (uint32_t c = dn->first_child; c < dn->first_child + dn->nchildren; c++) {
		const LimgNode *cn = &t->nodes[c];
		char id[LIMG_ISO_NAME_MAX];
		size_t len = limg_iso_name(limg_tree_name(t, cn), cn->name_len, S_ISDIR(cn->mode),
		                           0, id, NULL);
		int ret;

		if ((ret = set_name(l, c, id, len)) < 0)
			return ret;
	}
	return 0;
}

/* Whether two identifiers have the same uniqueness key. */
static bool
same_key(const LimgLayout *l, uint32_t x, uint32_t y)
{
	const char *a = limg_arena_at(&l->names, l->iso_name[x]);
	const char *b = limg_arena_at(&l->names, l->iso_name[y]);
	size_t al = l->iso_len[x], bl = l->iso_len[y];

	/* Keys ignore ";1" and treat a directory "FOO" like a file "FOO.". */
	if (al >= 2 && a[al - 2] == ';')
		al -= 2;
	if (bl >= 2 && b[bl - 2] == ';')
		bl -= 2;
	if (al && a[al - 1] == '.')
		al--;
	if (bl && b[bl - 1] == '.')
		bl--;
	return al == bl && memcmp(a, b, al) == 0;
}

/*
 * Collisions: give every child its identifier in byte order of real
 * names, suffixing later ones, with a set of the keys taken so far.
 */
static int
unique_names(LimgLayout *l, const LimgNode *dn)
{
	const LimgTree *t = l->tree;
	g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (uint32_t c = dn->first_child; c < dn->first_child + dn->nchildren; c++) {
		const LimgNode *cn = &t->nodes[c];
		bool isdir = S_ISDIR(cn->mode);
		char id[LIMG_ISO_NAME_MAX], key[LIMG_ISO_NAME_MAX];
		size_t len = limg_iso_name(limg_tree_name(t, cn), cn->name_len, isdir, 0, id, key);
		gpointer v;
		int ret;

		if (g_hash_table_lookup_extended(used, key, NULL, &v)) {
			unsigned s = GPOINTER_TO_UINT(v);
			char key0[LIMG_ISO_NAME_MAX];

			memcpy(key0, key, sizeof(key0));
			do {
				len = limg_iso_name(limg_tree_name(t, cn), cn->name_len, isdir, s++, id, key);
			} while (g_hash_table_contains(used, key));
			g_hash_table_replace(used, g_strdup(key0), GUINT_TO_POINTER(s));
		}
		g_hash_table_insert(used, g_strdup(key), GUINT_TO_POINTER(1));
		if ((ret = set_name(l, c, id, len)) < 0)
			return ret;
	}
	return 0;
}

/*
 * ISO identifiers and the ECMA-119 order of every directory. Most
 * directories have no two names that mangle alike: sort the plain
 * identifiers and look at neighbours; only a directory with a collision
 * pays for the set (its abandoned plain names stay in the arena).
 */
static int
assign_names(LimgLayout *l)
{
	const LimgTree *t = l->tree;

	for (uint32_t d = 0; d < t->n_nodes; d++) {
		const LimgNode *dn = &t->nodes[d];
		uint32_t *ord;
		bool clash = false;
		int ret;

		if (!S_ISDIR(dn->mode) || dn->nchildren == 0)
			continue;
		if ((ret = plain_names(l, dn)) < 0)
			return ret;
		ord = &l->order[dn->first_child];
		qsort_r(ord, dn->nchildren, sizeof(uint32_t), cmp_iso_order, l);
		for (uint32_t k = 1; k < dn->nchildren && !clash; k++)
			clash = same_key(l, ord[k - 1], ord[k]);
		if (!clash)
			continue;
		if ((ret = unique_names(l, dn)) < 0)
			return ret;
		qsort_r(ord, dn->nchildren, sizeof(uint32_t), cmp_iso_order, l);
	}
	return 0;
}

static int
order_dirs(LimgLayout *l, LimgReport *report)
{
	const LimgTree *t = l->tree;
	uint32_t ndirs = 0;

	for (uint32_t i = 0; i < t->n_nodes; i++)
		ndirs += S_ISDIR(t->nodes[i].mode) ? 1 : 0;
	l->dirs = g_new0(LimgDirInfo, ndirs);
	l->dirs[0].node = 0;
	l->dirs[0].parent_num = 1;
	l->aux[0] = 0;
	l->n_dirs = 1;
	for (uint32_t i = 0; i < l->n_dirs; i++) {
		const LimgNode *dn = &t->nodes[l->dirs[i].node];

		for (uint32_t k = 0; k < dn->nchildren; k++) {
			uint32_t c = l->order[dn->first_child + k];

			if (!S_ISDIR(t->nodes[c].mode))
				continue;
			g_assert(l->n_dirs < ndirs);
			l->dirs[l->n_dirs].node = c;
			l->dirs[l->n_dirs].parent_num = i + 1;
			l->aux[c] = l->n_dirs++;
			l->dirs[i].nsubdirs++;
		}
	}
	if (l->n_dirs != ndirs) {
		limg_report_error(report, "the tree's directories are not all reachable from its root");
		return -EINVAL;
	}
	if (l->n_dirs > 65535)
		limg_report_compat(report, LIMG_COMPAT_MANY_DIRS, "");
	return 0;
}

static void
size_path_table(LimgLayout *l)
{
	uint64_t off = 0, boundary = 0;
	uint32_t nb = 0;

	for (uint32_t i = 0; i < l->n_dirs; i++)
		off += limg_pt_rec_len(i == 0 ? 1 : l->iso_len[l->dirs[i].node]);
	l->pt_size = (uint32_t)off;
	l->pt_blocks = iso_blocks(off);
	l->pt = g_new0(LimgPtStart, l->pt_blocks ? l->pt_blocks : 1);
	off = 0;
	for (uint32_t i = 0; i < l->n_dirs; i++) {
		uint32_t len = limg_pt_rec_len(i == 0 ? 1 : l->iso_len[l->dirs[i].node]);

		while (boundary < off + len && nb < l->pt_blocks) {
			l->pt[nb].dir = i;
			l->pt[nb].rec_off = (uint32_t)off;
			nb++;
			boundary += ISO_BLOCK_SIZE;
		}
		off += len;
	}
}

/* Growable arrays of the pack pass. */
typedef struct {
	GArray *blk;    /* LimgBlockStart */
	GArray *ces;    /* LimgCeArea */
	LimgSusp susp;
} PackState;

/*
 * Pack one record into the directory. @used is the fill of the current
 * block; *blocks grows when a new block starts. Continuation areas are
 * allocated relative to the directory's first CE block (*ce_blk, *ce_off).
 */
static int
pack_record(LimgLayout *l, PackState *ps, uint32_t di, int kind, uint32_t node,
            uint32_t rec, uint32_t child, uint32_t section, bool rebuild,
            uint32_t *used, uint32_t *blocks, uint32_t *ce_blk, uint32_t *ce_off,
            bool *ce_any)
{
	const char *id;
	uint32_t idlen = limg_layout_record_id(l, kind, node, &id);
	uint32_t fixed = limg_dr_fixed(idlen), len;
	LimgSuspPiece p;
	int ret;

	if (rebuild && (ret = limg_layout_record_susp(l, kind, node, &ps->susp)) < 0)
		return ret;
	limg_susp_take(&ps->susp, 0, ISO_DR_MAX - 1 - fixed, &p);
	len = fixed + p.bytes;
	len += len & 1;
	if (*used + len > ISO_BLOCK_SIZE) {
		LimgBlockStart b = { rec, child, section };

		g_array_append_val(ps->blk, b);
		(*blocks)++;
		*used = 0;
	}
	*used += len;
	for (uint16_t piece = 1; p.ce; piece++) {
		LimgCeArea a = { .dir = di, .rec = rec, .node = node, .kind = (uint8_t)kind,
		                 .piece = piece };

		limg_susp_take(&ps->susp, p.end, SUSP_AREA_MAX, &p);
		if (*ce_off + p.bytes > ISO_BLOCK_SIZE) {
			(*ce_blk)++;
			*ce_off = 0;
		}
		a.lba = *ce_blk;
		a.off = (uint16_t)*ce_off;
		a.len = (uint16_t)p.bytes;
		*ce_off += p.bytes + (p.bytes & 1);
		*ce_any = true;
		g_array_append_val(ps->ces, a);
	}
	return 0;
}

/*
 * Files of more than ISO_MAX_SECTIONS sections are refused before the
 * pack pass, which lays out one record per section: a tar header or a
 * cache file may say any size, and 2^63 bytes are 2^31 records.
 */
static int
check_sections(const LimgLayout *l, LimgReport *report)
{
	const LimgTree *t = l->tree;

	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];

		if (S_ISREG(n->mode) && limg_sections(n->size) > ISO_MAX_SECTIONS) {
			g_autofree char *p = limg_tree_path(t, i);
			g_autofree char *e = limg_escape(p, strlen(p));

			limg_report_error(report, "/%s: %" G_GUINT64_FORMAT " bytes needs more than %d "
			                  "ISO 9660 sections; image refused", e, n->size,
			                  ISO_MAX_SECTIONS);
			return -EFBIG;
		}
	}
	return 0;
}

static int
pack_dirs(LimgLayout *l, uint32_t *cursor)
{
	const LimgTree *t = l->tree;
	PackState ps = { 0 };
	int ret = 0;

	ps.blk = g_array_new(FALSE, FALSE, sizeof(LimgBlockStart));
	ps.ces = g_array_new(FALSE, FALSE, sizeof(LimgCeArea));
	limg_susp_init_measure(&ps.susp);

	for (uint32_t di = 0; di < l->n_dirs && ret == 0; di++) {
		LimgDirInfo *d = &l->dirs[di];
		const LimgNode *dn = &t->nodes[d->node];
		uint32_t used = 0, blocks = 1, ce_blk = 0, ce_off = 0, rec = 0;
		LimgBlockStart b0 = { 0, 0, 0 };
		bool ce_any = false;

		d->lba = *cursor;
		d->first_blk = ps.blk->len;
		d->first_ce = ps.ces->len;
		g_array_append_val(ps.blk, b0);

		ret = pack_record(l, &ps, di, REC_DOT, d->node, rec++, 0, 0, true,
		                  &used, &blocks, &ce_blk, &ce_off, &ce_any);
		if (ret == 0)
			ret = pack_record(l, &ps, di, REC_DOTDOT, dn->parent, rec++, 0, 0, true,
			                  &used, &blocks, &ce_blk, &ce_off, &ce_any);
		for (uint32_t k = 0; k < dn->nchildren && ret == 0; k++) {
			uint32_t c = l->order[dn->first_child + k];
			const LimgNode *cn = &t->nodes[c];
			uint32_t nsec = S_ISREG(cn->mode) ? limg_sections(cn->size) : 1;

			for (uint32_t s = 0; s < nsec && ret == 0; s++)
				ret = pack_record(l, &ps, di, REC_ENTRY, c, rec++, k, s, s == 0,
				                  &used, &blocks, &ce_blk, &ce_off, &ce_any);
		}
		d->blocks = blocks;
		d->ce_blocks = ce_any ? ce_blk + 1 : 0;
		d->n_ce = ps.ces->len - d->first_ce;
		for (uint32_t i = d->first_ce; i < ps.ces->len; i++)
			g_array_index(ps.ces, LimgCeArea, i).lba += *cursor + blocks;
		l->lba[d->node] = d->lba;
		if ((uint64_t)*cursor + blocks + d->ce_blocks > UINT32_MAX)
			ret = -E2BIG;
		else
			*cursor += blocks + d->ce_blocks;
	}
	limg_susp_release(&ps.susp);
	l->n_blk = ps.blk->len;
	l->blk = (LimgBlockStart *)(void *)g_array_free(ps.blk, FALSE);
	l->n_ce = ps.ces->len;
	l->ces = (LimgCeArea *)(void *)g_array_free(ps.ces, FALSE);
	return ret;
}

static int
place_data(LimgLayout *l, uint32_t *cursor, LimgReport *report)
{
	const LimgTree *t = l->tree;
	uint64_t next = *cursor;
	uint32_t n_ext = 0;

	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];

		if (S_ISREG(n->mode) && l->leader[i] == i && n->size > 0)
			n_ext++;
	}
	l->extents = g_new(LimgExtent, n_ext ? n_ext : 1);
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];

		if (S_ISDIR(n->mode))
			continue;
		l->lba[i] = 0;
		if (!S_ISREG(n->mode) || l->leader[i] != i || n->size == 0)
			continue;
		l->lba[i] = (uint32_t)next;
		l->extents[l->n_ext].lba = (uint32_t)next;
		l->extents[l->n_ext].node = i;
		l->n_ext++;
		l->tree->data_bytes += n->size;
		next += iso_blocks(n->size);
		if (next > UINT32_MAX) {
			limg_report_error(report, "image would exceed 2^32 blocks (8 TiB); image refused");
			return -E2BIG;
		}
	}
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		if (l->leader[i] != i)
			l->lba[i] = l->lba[l->leader[i]];
	}
	*cursor = (uint32_t)next;
	return 0;
}

/*
 * Steps 2-4: identifiers and order, directories and the path table, the
 * records and their blocks, from @hints when not NULL; *cursor is the
 * first block after them. -EBADMSG: the hints do not fit (only then).
 */
static int
lay_out_metadata(LimgLayout *l, GBytes *hints, LimgReport *report, uint32_t *cursor)
{
	int ret = hints ? limg_layout_hints_names(l, hints) : assign_names(l);

	if (ret < 0)
		return ret;
	limg_arena_trim(&l->names);
	if ((ret = order_dirs(l, report)) < 0)
		return ret;
	if ((ret = check_sections(l, report)) < 0)
		return ret;
	size_path_table(l);
	l->l_pt_lba = ISO_FIRST_FREE_LBA;
	l->m_pt_lba = l->l_pt_lba + l->pt_blocks;
	*cursor = l->m_pt_lba + l->pt_blocks;
	if (hints)
		return limg_layout_hints_pack(l, hints, cursor);
	if ((ret = pack_dirs(l, cursor)) < 0)
		limg_report_error(report, "metadata would exceed 2^32 blocks; image refused");
	return ret;
}

/* Undo lay_out_metadata() with hints that did not fit. */
static void
forget_metadata(LimgLayout *l)
{
	limg_arena_release(&l->names);
	g_clear_pointer(&l->dirs, g_free);
	g_clear_pointer(&l->pt, g_free);
	g_clear_pointer(&l->blk, g_free);
	g_clear_pointer(&l->ces, g_free);
	l->n_dirs = l->n_blk = l->n_ce = 0;
	l->pt_size = l->pt_blocks = 0;
}

int
limg_layout_build(LimgTree *tree, const LimgLayoutOptions *opts, LimgReport *report,
                  LimgLayout **out)
{
	g_autoptr(LimgLayout) l = g_new0(LimgLayout, 1);
	LimgReport scratch;
	const char *vol = opts && opts->volume_id ? opts->volume_id : "LAYER";
	uint32_t n = tree->n_nodes, cursor;
	int ret;

	l->refcount = 1;
	l->tree = tree;
	*out = NULL;
	if (!report) {
		limg_report_init(&scratch);
		report = &scratch;
	}
	if (n == 0 || !S_ISDIR(tree->nodes[0].mode)) {
		limg_report_error(report, "the tree has no root directory");
		ret = -EINVAL;
		goto out_report;
	}
	/* Volume identifier: d-characters only (8.4.6). */
	for (size_t i = 0; i < 32 && vol[i]; i++) {
		char c = vol[i];

		l->volume_id[i] = (char)((c >= 'a' && c <= 'z') ? c - 32 :
		                  ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ? c : '_');
	}

	limg_tree_seal(tree);
	l->iso_name = g_new0(uint32_t, n);
	l->iso_len = g_new0(uint8_t, n);
	l->order = g_new0(uint32_t, n);
	l->lba = g_new0(uint32_t, n);
	l->leader = g_new(uint32_t, n);
	l->aux = g_new(uint32_t, n);

	if ((ret = find_links(l, report)) < 0)
		goto out_report;
	find_compat(l, report);
	/*
	 * Hints that do not fit this tree are set aside, whichever part
	 * fails: all of steps 2-4 are then computed afresh.
	 */
	ret = -EBADMSG;
	if (opts && opts->hints) {
		ret = lay_out_metadata(l, opts->hints, report, &cursor);
		l->hinted = ret == 0;
		if (ret == -EBADMSG)
			forget_metadata(l);
	}
	if (ret == -EBADMSG)
		ret = lay_out_metadata(l, NULL, report, &cursor);
	if (ret < 0)
		goto out_report;
	l->meta_blocks = cursor;
	if ((ret = place_data(l, &cursor, report)) < 0)
		goto out_report;
	l->total_blocks = cursor;
	*out = g_steal_pointer(&l);
	ret = 0;
out_report:
	if (report == &scratch)
		limg_report_release(&scratch);
	return ret;
}

/* ------------------------------------------------------------ segments */

int
limg_layout_segment(const LimgLayout *l, uint64_t off, LimgSegment *seg)
{
	uint64_t size = limg_layout_size(l);
	uint64_t meta_end = (uint64_t)l->meta_blocks << ISO_BLOCK_SHIFT;
	uint32_t blk, lo;

	if (off >= size)
		return -EINVAL;
	memset(seg, 0, sizeof(*seg));
	seg->offset = off;
	if (off < (uint64_t)ISO_SYSTEM_AREA << ISO_BLOCK_SHIFT) {
		seg->kind = LIMG_SEG_ZERO;
		seg->length = ((uint64_t)ISO_SYSTEM_AREA << ISO_BLOCK_SHIFT) - off;
		return 0;
	}
	if (off < meta_end) {
		seg->kind = LIMG_SEG_META;
		seg->length = meta_end - off;
		return 0;
	}
	/* Last extent starting at or before the block of @off. */
	blk = (uint32_t)(off >> ISO_BLOCK_SHIFT);
	lo = (uint32_t)LIMG_LOWER_BOUND(l->extents, l->n_ext, lba, (uint64_t)blk + 1);
	if (lo > 0) {
		const LimgExtent *e = &l->extents[lo - 1];
		uint64_t start = (uint64_t)e->lba << ISO_BLOCK_SHIFT;
		uint64_t fsize = l->tree->nodes[e->node].size;

		if (off < start + fsize) {
			seg->kind = LIMG_SEG_DATA;
			seg->node = e->node;
			seg->file_offset = off - start;
			seg->length = start + fsize - off;
			return 0;
		}
	}
	seg->kind = LIMG_SEG_ZERO;
	seg->length = (lo < l->n_ext ? (uint64_t)l->extents[lo].lba << ISO_BLOCK_SHIFT : size) - off;
	return 0;
}
