/*
 * helpers.h - shared helpers of the Criterion unit tests.
 *
 *  - a tiny tree builder: add directories, files, symlinks, devices, fifos
 *    and sockets by path with explicit metadata, in any order; tb_build()
 *    turns them into a LimgTree with the tree invariant (the children of a
 *    directory contiguous and sorted by name in byte order, appended all
 *    at once, directories visited depth first in name order, as the
 *    directory source does);
 *  - layout + whole-image render into memory through limg_render_pread(),
 *    with a read_data callback that synthesizes file content from
 *    (node, offset) and checks that the engine only asks for bytes that
 *    exist;
 *  - small ECMA-119 / SUSP parsers written from the standards, for
 *    assertions. They never call the engine's encoders.
 *
 * Everything is static: each test program includes this once.
 */
#ifndef LIMG_TEST_HELPERS_H
#define LIMG_TEST_HELPERS_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <glib.h>

#include "iso/layout.h"
#include "iso/render.h"
#include "tree/tree.h"
#include "util/report.h"

#define H_UNUSED G_GNUC_UNUSED

/* A fixed, ordinary time: 2001-09-09T01:46:40Z. */
#define TB_DEFAULT_MTIME 1000000000LL

/* ------------------------------------------------------------ builder */

typedef struct {
	char *path;            /* relative, no leading '/'; "" is the root */
	LimgNode node;         /* metadata; parent/first_child/nchildren are set by tb_build */
	char *target;          /* symlinks */
	size_t target_len;
	uint32_t idx;          /* node index, after tb_build */
} TbEntry;

typedef struct {
	GPtrArray *ents;       /* TbEntry * */
	GHashTable *by_path;   /* path -> TbEntry * (borrowed keys) */
	uint64_t next_ino;
} TreeBuilder;

static void
tb_entry_free(gpointer p)
{
	TbEntry *e = p;

	g_free(e->path);
	g_free(e->target);
	g_free(e);
}

static H_UNUSED void tb_free(TreeBuilder *tb);

static TbEntry *
tb_add_raw(TreeBuilder *tb, const char *path, uint32_t mode)
{
	TbEntry *e = g_new0(TbEntry, 1);

	cr_assert(g_hash_table_lookup(tb->by_path, path) == NULL, "duplicate path %s", path);
	e->path = g_strdup(path);
	e->node.mode = mode;
	e->node.nlink = S_ISDIR(mode) ? 2 : 1;
	e->node.ino = tb->next_ino++;
	e->node.dev = 42;
	e->node.mtime.sec = TB_DEFAULT_MTIME;
	e->node.ctime.sec = TB_DEFAULT_MTIME;
	e->idx = LIMG_NONE;
	g_ptr_array_add(tb->ents, e);
	g_hash_table_insert(tb->by_path, e->path, e);
	return e;
}

/* Make sure every ancestor directory of @path exists. */
static void
tb_parents(TreeBuilder *tb, const char *path)
{
	g_autofree char *dir = g_strdup(path);
	char *slash = strrchr(dir, '/');

	if (!slash)
		return;
	*slash = 0;
	if (g_hash_table_lookup(tb->by_path, dir))
		return;
	tb_parents(tb, dir);
	tb_add_raw(tb, dir, S_IFDIR | 0755);
}

/* A builder holding only the root directory (mode 0755, owner 0:0). */
static H_UNUSED TreeBuilder *
tb_new(void)
{
	TreeBuilder *tb = g_new0(TreeBuilder, 1);

	tb->ents = g_ptr_array_new_with_free_func(tb_entry_free);
	tb->by_path = g_hash_table_new(g_str_hash, g_str_equal);
	tb->next_ino = 100;
	tb_add_raw(tb, "", S_IFDIR | 0755);
	return tb;
}

static H_UNUSED void
tb_free(TreeBuilder *tb)
{
	if (!tb)
		return;
	g_hash_table_destroy(tb->by_path);
	g_ptr_array_free(tb->ents, TRUE);
	g_free(tb);
}

static H_UNUSED TbEntry *
tb_root(TreeBuilder *tb)
{
	return g_hash_table_lookup(tb->by_path, "");
}

static H_UNUSED TbEntry *
tb_get(TreeBuilder *tb, const char *path)
{
	TbEntry *e = g_hash_table_lookup(tb->by_path, path);

	cr_assert(e != NULL, "no entry %s", path);
	return e;
}

static H_UNUSED TbEntry *
tb_dir(TreeBuilder *tb, const char *path)
{
	TbEntry *e = g_hash_table_lookup(tb->by_path, path);

	if (e)
		return e;
	tb_parents(tb, path);
	return tb_add_raw(tb, path, S_IFDIR | 0755);
}

static H_UNUSED TbEntry *
tb_file(TreeBuilder *tb, const char *path, uint64_t size)
{
	TbEntry *e;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, S_IFREG | 0644);
	e->node.size = size;
	return e;
}

static H_UNUSED TbEntry *
tb_symlink_len(TreeBuilder *tb, const char *path, const char *target, size_t len)
{
	TbEntry *e;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, S_IFLNK | 0777);
	e->target = g_malloc(len + 1);
	memcpy(e->target, target, len);
	e->target[len] = 0;
	e->target_len = len;
	e->node.size = len;
	return e;
}

static H_UNUSED TbEntry *
tb_symlink(TreeBuilder *tb, const char *path, const char *target)
{
	return tb_symlink_len(tb, path, target, strlen(target));
}

/* @type is S_IFCHR or S_IFBLK. */
static H_UNUSED TbEntry *
tb_dev(TreeBuilder *tb, const char *path, uint32_t type, uint32_t major, uint32_t minor)
{
	TbEntry *e;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, type | 0600);
	e->node.rdev_major = major;
	e->node.rdev_minor = minor;
	return e;
}

static H_UNUSED TbEntry *
tb_fifo(TreeBuilder *tb, const char *path)
{
	tb_parents(tb, path);
	return tb_add_raw(tb, path, S_IFIFO | 0644);
}

static H_UNUSED TbEntry *
tb_sock(TreeBuilder *tb, const char *path)
{
	tb_parents(tb, path);
	return tb_add_raw(tb, path, S_IFSOCK | 0755);
}

/*
 * Add @path as a hard link of @existing: same inode, device, metadata;
 * nlink of every member becomes the group size.
 */
static H_UNUSED TbEntry *
tb_link(TreeBuilder *tb, const char *path, TbEntry *existing)
{
	TbEntry *e;
	uint32_t count = 0;

	tb_parents(tb, path);
	e = tb_add_raw(tb, path, existing->node.mode);
	e->node = existing->node;
	if (existing->target) {
		e->target = g_memdup2(existing->target, existing->target_len + 1);
		e->target_len = existing->target_len;
	}
	for (guint i = 0; i < tb->ents->len; i++) {
		TbEntry *x = tb->ents->pdata[i];

		if (x->node.ino == e->node.ino && x->node.dev == e->node.dev)
			count++;
	}
	for (guint i = 0; i < tb->ents->len; i++) {
		TbEntry *x = tb->ents->pdata[i];

		if (x->node.ino == e->node.ino && x->node.dev == e->node.dev)
			x->node.nlink = count;
	}
	return e;
}

static const char *
tb_basename(const TbEntry *e)
{
	const char *s = strrchr(e->path, '/');

	return s ? s + 1 : e->path;
}

static int
tb_cmp_name(const void *a, const void *b)
{
	const TbEntry *x = *(TbEntry *const *)a, *y = *(TbEntry *const *)b;

	/* strcmp compares as unsigned char: byte order for NUL-free names. */
	return strcmp(tb_basename(x), tb_basename(y));
}

static void
tb_add_children(TreeBuilder *tb, LimgTree *t, GHashTable *kids, TbEntry *dir)
{
	GPtrArray *list = g_hash_table_lookup(kids, dir->path);
	uint32_t first = 0;

	if (!list)
		return;
	qsort(list->pdata, list->len, sizeof(gpointer), tb_cmp_name);
	for (guint i = 0; i < list->len; i++) {
		TbEntry *c = list->pdata[i];
		const char *name = tb_basename(c);
		LimgNode proto = c->node;
		uint32_t idx;

		proto.parent = dir->idx;
		proto.first_child = 0;
		proto.nchildren = 0;
		cr_assert_eq(limg_tree_add(t, &proto, name, strlen(name), &idx), 0);
		if (c->target)
			cr_assert_eq(limg_tree_set_target(t, idx, c->target, c->target_len), 0);
		c->idx = idx;
		if (i == 0)
			first = idx;
	}
	t->nodes[dir->idx].first_child = first;
	t->nodes[dir->idx].nchildren = list->len;
	for (guint i = 0; i < list->len; i++) {
		TbEntry *c = list->pdata[i];

		if (S_ISDIR(c->node.mode))
			tb_add_children(tb, t, kids, c);
	}
}

/*
 * Build the tree. The builder stays valid (each entry's ->idx is its node)
 * and must still be freed. Caller owns the tree.
 */
static H_UNUSED LimgTree *
tb_build(TreeBuilder *tb)
{
	LimgTree *t = limg_tree_new();
	GHashTable *kids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                         (GDestroyNotify)g_ptr_array_unref);
	TbEntry *root = tb_root(tb);
	LimgNode proto = root->node;
	uint32_t idx;

	for (guint i = 0; i < tb->ents->len; i++) {
		TbEntry *e = tb->ents->pdata[i];
		const char *slash;
		char *parent;
		GPtrArray *list;

		if (e == root)
			continue;
		slash = strrchr(e->path, '/');
		parent = slash ? g_strndup(e->path, (gsize)(slash - e->path)) : g_strdup("");
		list = g_hash_table_lookup(kids, parent);
		if (!list) {
			list = g_ptr_array_new();
			g_hash_table_insert(kids, parent, list);
		} else {
			g_free(parent);
		}
		g_ptr_array_add(list, e);
	}
	proto.parent = 0;
	cr_assert_eq(limg_tree_add(t, &proto, "", 0, &idx), 0);
	root->idx = idx;
	tb_add_children(tb, t, kids, root);
	g_hash_table_destroy(kids);
	return t;
}

/* ------------------------------------------------------------ layout/render */

/* Deterministic content of byte @off of node @node. */
static inline uint8_t
synth_byte(uint32_t node, uint64_t off)
{
	uint64_t x = off * 0x9E3779B97F4A7C15ull + (uint64_t)node * 0xBF58476D1CE4E5B9ull;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17) ^ node);
}

typedef struct {
	const LimgTree *tree;
	uint64_t calls;
	uint64_t bad;          /* requests for bytes that are not there */
} SynthCtx;

static H_UNUSED int
synth_read(void *ctx, uint32_t node, uint64_t off, void *buf, size_t len)
{
	SynthCtx *c = ctx;
	uint8_t *p = buf;

	c->calls++;
	if (node >= c->tree->n_nodes || !S_ISREG(c->tree->nodes[node].mode) ||
	    off + len > c->tree->nodes[node].size || len == 0) {
		c->bad++;
		return -EIO;
	}
	for (size_t i = 0; i < len; i++)
		p[i] = synth_byte(node, off + i);
	return 0;
}

/* Lay out @tree (ownership passes), asserting success. */
static H_UNUSED LimgLayout *
build_layout(LimgTree *tree, LimgReport *report)
{
	LimgLayout *l = NULL;
	int ret = limg_layout_build(tree, NULL, report, &l);

	cr_assert_eq(ret, 0, "limg_layout_build: %d", ret);
	cr_assert(l != NULL);
	return l;
}

/* The whole image, read through limg_render_pread(). Caller g_free()s. */
static H_UNUSED uint8_t *
render_image(const LimgLayout *l, size_t *size)
{
	uint64_t sz = limg_layout_size(l);
	SynthCtx ctx = { .tree = limg_layout_tree(l) };
	uint8_t *img;
	ssize_t n;

	cr_assert(sz <= (uint64_t)256 << 20, "image too large to render in a test: %" PRIu64, sz);
	img = g_malloc(sz);
	n = limg_render_pread(l, img, sz, 0, synth_read, &ctx);
	cr_assert_eq(n, (ssize_t)sz, "limg_render_pread returned %zd", n);
	cr_assert_eq(ctx.bad, 0, "read_data asked for bytes that are not in a file");
	*size = sz;
	return img;
}

/* ------------------------------------------------------------ ECMA-119 */

static inline uint16_t
rd_721(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint16_t
rd_722(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
rd_731(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t
rd_732(const uint8_t *p)
{
	return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* 7.2.3: both-byte orders; the two halves must agree. */
static H_UNUSED uint16_t
rd_723(const uint8_t *p)
{
	cr_expect_eq(rd_721(p), rd_722(p + 2), "723 halves differ: %u vs %u", rd_721(p), rd_722(p + 2));
	return rd_721(p);
}

/* 7.3.3: both-byte orders; the two halves must agree. */
static H_UNUSED uint32_t
rd_733(const uint8_t *p)
{
	cr_expect_eq(rd_731(p), rd_732(p + 4), "733 halves differ: %u vs %u", rd_731(p), rd_732(p + 4));
	return rd_731(p);
}

/* A directory record (9.1), parsed. Pointers borrow the image. */
typedef struct {
	uint64_t pos;          /* image offset of the record */
	uint8_t len;
	uint32_t extent;
	uint32_t size;
	const uint8_t *date;   /* 7 bytes */
	uint8_t flags;
	const uint8_t *id;
	uint8_t id_len;
	const uint8_t *su;     /* system use area */
	uint32_t su_len;
} DirRec;

static H_UNUSED void
parse_dr(const uint8_t *p, uint64_t pos, DirRec *r)
{
	memset(r, 0, sizeof(*r));
	r->pos = pos;
	r->len = p[0];
	cr_assert_geq(r->len, 34, "record at %" PRIu64 " too short: %u", pos, r->len);
	cr_expect_eq(p[1], 0, "extended attribute record length");
	r->extent = rd_733(p + 2);
	r->size = rd_733(p + 10);
	r->date = p + 18;
	r->flags = p[25];
	cr_expect_eq(p[26], 0, "file unit size");
	cr_expect_eq(p[27], 0, "interleave gap");
	cr_expect_eq(rd_723(p + 28), 1, "volume sequence number");
	r->id_len = p[32];
	r->id = p + 33;
	{
		uint32_t su = 33 + r->id_len + ((r->id_len & 1) ? 0 : 1);

		cr_assert_leq(su, r->len, "identifier overruns record at %" PRIu64, pos);
		r->su = p + su;
		r->su_len = r->len - su;
	}
}

/*
 * All records of the directory whose extent is @lba, @size bytes, in
 * order. Asserts 6.8.1.1: no record crosses a block; the rest of a block
 * after its last record is zero.
 */
static H_UNUSED GArray *
read_dir(const uint8_t *img, size_t img_size, uint32_t lba, uint32_t size)
{
	GArray *recs = g_array_new(FALSE, FALSE, sizeof(DirRec));

	cr_assert_eq(size % 2048, 0, "directory size %u not whole blocks", size);
	cr_assert_leq((uint64_t)lba * 2048 + size, img_size, "directory outside the image");
	for (uint32_t b = 0; b < size / 2048; b++) {
		const uint8_t *blk = img + (uint64_t)(lba + b) * 2048;
		uint32_t off = 0;

		while (off < 2048 && blk[off] != 0) {
			DirRec r;

			cr_assert_leq(off + blk[off], 2048, "record at block %u+%u crosses the block",
			              lba + b, off);
			parse_dr(blk + off, (uint64_t)(lba + b) * 2048 + off, &r);
			g_array_append_val(recs, r);
			off += blk[off];
		}
		for (uint32_t i = off; i < 2048; i++)
			cr_assert_eq(blk[i], 0, "garbage after the last record of block %u", lba + b);
	}
	return recs;
}

/* ------------------------------------------------------------ SUSP */

/* One SUSP entry, found in a record or continuation area. */
typedef struct {
	const uint8_t *p;      /* signature at p[0..1], length p[2], version p[3] */
	uint8_t len;
	uint64_t pos;          /* image offset */
} SuspEnt;

/* A continuation area: image offset and length. */
typedef struct {
	uint64_t pos;
	uint32_t len;
} CeArea;

/*
 * Collect the SUSP entries of record @r, following CE entries (SUSP 5.1)
 * through the image. CE entries are checked (inside the image, inside one
 * block, both-endian fields, area made of whole entries) and not returned;
 * the areas they point at are appended to @areas when it is not NULL.
 */
static H_UNUSED GArray *
susp_entries_ex(const uint8_t *img, size_t img_size, const DirRec *r, GArray *areas)
{
	GArray *out = g_array_new(FALSE, FALSE, sizeof(SuspEnt));
	const uint8_t *area = r->su;
	uint64_t area_pos = r->pos + (uint64_t)(r->su - (img + r->pos));
	uint32_t area_len = r->su_len;
	int hops = 0;

	for (;;) {
		uint32_t off = 0;
		const uint8_t *ce = NULL;

		while (off + 4 <= area_len) {
			SuspEnt e = { area + off, area[off + 2], area_pos + off };

			if (area[off] == 0 && e.len == 0)
				break;   /* padding */
			cr_assert_geq(e.len, 4, "SUSP entry at %" PRIu64 " shorter than 4", e.pos);
			cr_assert_leq(off + e.len, area_len, "SUSP entry at %" PRIu64 " overruns its area",
			              e.pos);
			cr_expect_eq(e.p[3], 1, "SUSP entry %c%c version", e.p[0], e.p[1]);
			if (e.p[0] == 'C' && e.p[1] == 'E') {
				cr_expect_eq(e.len, 28, "CE length");
				cr_expect(ce == NULL, "two CE entries in one area");
				ce = e.p;
			} else {
				g_array_append_val(out, e);
			}
			off += e.len;
		}
		/* Only the pad byte of an odd-length record may remain. */
		cr_expect_leq(area_len - off, 1, "unparsed bytes after SUSP entries at %" PRIu64,
		              area_pos);
		if (!ce)
			break;
		{
			uint32_t blk = rd_733(ce + 4), coff = rd_733(ce + 12), clen = rd_733(ce + 20);

			cr_assert_lt(coff, 2048, "CE offset %u outside the block", coff);
			cr_assert_leq(coff + clen, 2048, "CE area %u+%u crosses a block", coff, clen);
			cr_assert_gt(clen, 0, "empty CE area");
			cr_assert_leq((uint64_t)blk * 2048 + coff + clen, img_size, "CE area outside the image");
			cr_assert_geq(blk, 18, "CE area in the system area or volume descriptors");
			area = img + (uint64_t)blk * 2048 + coff;
			area_pos = (uint64_t)blk * 2048 + coff;
			area_len = clen;
			if (areas) {
				CeArea a = { area_pos, clen };

				g_array_append_val(areas, a);
			}
		}
		cr_assert_lt(++hops, 64, "CE chain too long");
	}
	return out;
}

static H_UNUSED GArray *
susp_entries(const uint8_t *img, size_t img_size, const DirRec *r)
{
	return susp_entries_ex(img, img_size, r, NULL);
}

/* First entry with signature @sig, or NULL. */
static H_UNUSED const SuspEnt *
susp_find(GArray *ents, const char *sig)
{
	for (guint i = 0; i < ents->len; i++) {
		const SuspEnt *e = &g_array_index(ents, SuspEnt, i);

		if (e->p[0] == (uint8_t)sig[0] && e->p[1] == (uint8_t)sig[1])
			return e;
	}
	return NULL;
}

/* The Rock Ridge name (NM entries, RRIP 4.1.4) of a record's entries. Caller frees. */
static H_UNUSED char *
susp_nm(GArray *ents, size_t *len)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < ents->len; i++) {
		const SuspEnt *e = &g_array_index(ents, SuspEnt, i);

		if (e->p[0] == 'N' && e->p[1] == 'M')
			g_string_append_len(s, (const char *)e->p + 5, e->len - 5);
	}
	if (len)
		*len = s->len;
	return g_string_free(s, FALSE);
}

/*
 * Decode the components of SL entries (RRIP 4.1.3) as Linux does: the
 * components of all SL entries form one sequence; ROOT gives "/", CURRENT
 * ".", PARENT ".."; a '/' separates a component from the next unless it
 * is ROOT or has its CONTINUE flag. Caller frees.
 */
static H_UNUSED char *
sl_decode(const uint8_t *const *entries, size_t n, size_t *len)
{
	GString *s = g_string_new(NULL);
	bool sep = false;   /* a '/' is owed before the next component */

	for (size_t k = 0; k < n; k++) {
		const uint8_t *e = entries[k];
		uint32_t elen = e[2], off = 5;

		while (off + 2 <= elen) {
			uint8_t flags = e[off], clen = e[off + 1];

			cr_assert_leq(off + 2 + clen, elen, "SL component overruns its entry");
			if (sep)
				g_string_append_c(s, '/');
			sep = true;
			switch (flags & ~1) {
			case 0:
				g_string_append_len(s, (const char *)e + off + 2, clen);
				break;
			case 2:
				cr_expect_eq(clen, 0, "CURRENT component with text");
				g_string_append_c(s, '.');
				break;
			case 4:
				cr_expect_eq(clen, 0, "PARENT component with text");
				g_string_append(s, "..");
				break;
			case 8:
				cr_expect_eq(clen, 0, "ROOT component with text");
				g_string_append_c(s, '/');
				sep = false;
				break;
			default:
				cr_expect_fail("unexpected SL component flags 0x%02x", flags);
			}
			if (flags & 1)
				sep = false;
			off += 2 + clen;
		}
		cr_expect_eq(off, elen, "trailing bytes in an SL entry");
	}
	if (len)
		*len = s->len;
	return g_string_free(s, FALSE);
}

#endif /* LIMG_TEST_HELPERS_H */
