/*
 * fuzz-layout-hints.c - the layout's hints (src/iso/layout-hints.c) as
 * the disk cache hands them back: bytes that passed a checksum, for a
 * tree they may not fit.
 *
 * One fixed tree, made here in memory (three blocks of root records,
 * continuation chains from long names, targets and xattrs, names that
 * mangle alike, a hard link, devices, files of more than 4 GiB), laid
 * out once without hints: the reference, and its hints. Each input is
 * hints for that tree:
 *
 *   SPLICE_MAX bytes or more   the hints themselves;
 *   shorter                    a splice: bytes 0-1 an offset (little
 *                              endian, modulo the length) into the real
 *                              hints, the rest XORed into a copy of them
 *                              there (clipped at the end), so mutations
 *                              stay near hints that fit.
 *
 * An identical tree is laid out with them. The build must succeed. Hints
 * set aside must give the reference, block for block; hints taken may
 * give another image, but every metadata block renders (0, or -EIO where
 * they disagree with the records), the segment map stays inside the
 * image and its files, and the layout's own hints are taken again and
 * give the same blocks (the cache may save them again).
 *
 * LIMG_FUZZ_WRITE_SEEDS=DIR: write the seeds (the real hints and a few
 * splices) to DIR and exit, for tests/fuzz/mk-seeds.sh.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "fuzz-common.h"
#include "iso/layout.h"
#include "iso/render.h"

#define SPLICE_MAX 64
/* Bounds the work per input: hints may claim many blocks. */
#define MAX_RENDER_BLOCKS 4096
#define MAX_SEGMENTS (1u << 16)
#define BLK ISO_BLOCK_SIZE

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------ the tree */

typedef struct {
	char *path;            /* relative; parents listed before */
	LimgNode node;
	size_t target_len;     /* symlinks: a target of this many bytes */
	uint32_t n_xattrs;
	uint32_t xattr_len;
	uint32_t idx;          /* node index, the same in every build */
} Ent;

static GPtrArray *ents;        /* Ent *, in the order added */
static GHashTable *kids;       /* parent path -> GPtrArray of Ent *, sorted by name */
static uint64_t next_ino = 100;

static Ent *
ent(const char *path, uint32_t mode, uint64_t size)
{
	Ent *e = g_new0(Ent, 1);

	e->path = g_strdup(path);
	e->node.mode = mode;
	e->node.nlink = S_ISDIR(mode) ? 2 : 1;
	e->node.size = size;
	e->node.ino = next_ino++;
	e->node.dev = 42;
	e->node.mtime.sec = 1000000000;
	e->node.ctime.sec = 1000000000;
	g_ptr_array_add(ents, e);
	return e;
}

static Ent *
dir(const char *path)
{
	return ent(path, S_IFDIR | 0755, 0);
}

static Ent *
file(const char *path, uint64_t size)
{
	return ent(path, S_IFREG | 0644, size);
}

static Ent *
symlink_of(const char *path, size_t target_len)
{
	Ent *e = ent(path, S_IFLNK | 0777, target_len);

	e->target_len = target_len;
	return e;
}

static Ent *
dev(const char *path, uint32_t type, uint32_t major, uint32_t minor)
{
	Ent *e = ent(path, type | 0600, 0);

	e->node.rdev_major = major;
	e->node.rdev_minor = minor;
	return e;
}

static const char *
base_name(const Ent *e)
{
	const char *s = strrchr(e->path, '/');

	return s ? s + 1 : e->path;
}

static int
cmp_name(gconstpointer a, gconstpointer b)
{
	return strcmp(base_name(*(Ent *const *)a), base_name(*(Ent *const *)b));
}

/* A name of @len bytes starting with @prefix (no '/'). Caller frees. */
static char *
long_name(const char *prefix, size_t len)
{
	char *s = g_malloc(len + 1);
	size_t pl = strlen(prefix);

	for (size_t i = 0; i < len; i++)
		s[i] = i < pl ? prefix[i] : (char)('a' + i % 26);
	s[len] = 0;
	return s;
}

/* Describe the tree, once. */
static void
describe(void)
{
	g_autofree char *n240 = long_name("sub/", 240);
	g_autofree char *n250 = long_name("", 250);
	char name[64];
	Ent *x, *f;

	ents = g_ptr_array_new();
	dir("");
	/* 40 records past "." and "..": the root takes three blocks */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "file-%02d.txt", i);
		f = file(name, (uint64_t)i * 100);
		if (i == 3) {
			f->n_xattrs = 2;
			f->xattr_len = 300;
		}
	}
	/* names that mangle alike: the uniquifying path */
	file("a.b.c", 1);
	file("a_b.c", 1);
	file("Foo", 1);
	file("foo", 1);
	file("FOO", 1);
	/* continuation chains: SL of 600 and 2500 bytes, NM of 250 */
	symlink_of("link1", 600);
	symlink_of("link2", 2500);
	symlink_of(n250, 40);
	/* multi-extent: 2 and 3 sections */
	file("big", 5ull << 30);
	file("huge", (10ull << 30) + 1);
	x = dir("sub");
	x->n_xattrs = 1;
	x->xattr_len = 2500;
	file(n240, 7);
	f = file("sub/x", 9);
	/* a hard link: same inode, nlink 2 */
	x = file("sub/y", 9);
	x->node.ino = f->node.ino;
	x->node.nlink = f->node.nlink = 2;
	dev("sub/null", S_IFCHR, 1, 3);
	dev("sub/wide", S_IFBLK, 300, 70000);
	ent("sub/fifo", S_IFIFO | 0644, 0);
	ent("sub/sock", S_IFSOCK | 0755, 0);
	dir("deep");
	dir("deep/d1");
	dir("deep/d1/d2");
	file("deep/d1/d2/leaf", 3);

	kids = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 1; i < ents->len; i++) {
		Ent *e = ents->pdata[i];
		const char *slash = strrchr(e->path, '/');
		char *parent = slash ? g_strndup(e->path, (gsize)(slash - e->path)) : g_strdup("");
		GPtrArray *list = g_hash_table_lookup(kids, parent);

		if (!list) {
			list = g_ptr_array_new();
			g_hash_table_insert(kids, parent, list);
		} else {
			g_free(parent);
		}
		g_ptr_array_add(list, e);
	}
}

static void
sort_kids(gpointer key, gpointer value, gpointer data)
{
	g_ptr_array_sort(value, cmp_name);
}

static void
must(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "fuzz: %s: %s\n", what, g_strerror(-ret));
		abort();
	}
}

static void
set_xattrs(LimgTree *t, const Ent *e)
{
	char *names[4];
	uint8_t *values[4];
	uint32_t lens[4];

	g_assert(e->n_xattrs <= 4);
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		names[i] = g_strdup_printf("user.k%u", i);
		values[i] = g_malloc(e->xattr_len);
		for (uint32_t k = 0; k < e->xattr_len; k++)
			values[i][k] = (uint8_t)(i * 31 + k * 7);
		lens[i] = e->xattr_len;
	}
	must(limg_tree_set_xattrs(t, e->idx, e->n_xattrs, (const char *const *)names,
	                          (const void *const *)values, lens), "xattrs");
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		g_free(names[i]);
		g_free(values[i]);
	}
}

/* Children of @d, all at once and in name order; then each subdirectory's (tree.h). */
static void
add_children(LimgTree *t, const Ent *d)
{
	GPtrArray *list = g_hash_table_lookup(kids, d->path);
	uint32_t first = t->n_nodes;

	if (!list)
		return;
	for (guint i = 0; i < list->len; i++) {
		Ent *c = list->pdata[i];
		LimgNode proto = c->node;
		const char *name = base_name(c);

		proto.parent = d->idx;
		must(limg_tree_add(t, &proto, name, strlen(name), &c->idx), "add");
		if (c->target_len) {
			char *target = g_malloc(c->target_len);

			/* components of 1..300 bytes: SL splits those past 255 */
			for (size_t k = 0; k < c->target_len; k++)
				target[k] = k % 301 == 300 ? '/' : (char)('A' + k % 26);
			must(limg_tree_set_target(t, c->idx, target, c->target_len), "target");
			g_free(target);
		}
		if (c->n_xattrs)
			set_xattrs(t, c);
	}
	t->nodes[d->idx].first_child = first;
	t->nodes[d->idx].nchildren = list->len;
	for (guint i = 0; i < list->len; i++) {
		const Ent *c = list->pdata[i];

		if (S_ISDIR(c->node.mode))
			add_children(t, c);
	}
}

static LimgTree *
make_tree(void)
{
	LimgTree *t = limg_tree_new();
	Ent *root = ents->pdata[0];
	LimgNode proto = root->node;

	must(limg_tree_add(t, &proto, "", 0, &root->idx), "add root");
	add_children(t, root);
	return t;
}

/* ------------------------------------------------------------ the reference */

static bool verbose;             /* LIMG_FUZZ_VERBOSE: say what became of each input */
static LimgLayout *ref;
static GBytes *ref_hints;
static uint8_t *ref_blocks;
static uint32_t ref_meta;

static LimgLayout *
lay_out(GBytes *hints)
{
	LimgLayoutOptions opts = { .hints = hints };
	LimgLayout *l = NULL;
	int ret = limg_layout_build(make_tree(), &opts, NULL, &l);

	if (ret < 0) {
		fprintf(stderr, "fuzz: the build failed with %s hints: %s\n",
		        hints ? "these" : "no", g_strerror(-ret));
		abort();
	}
	return l;
}

static void
write_seed(const char *dir, const char *name, const void *data, size_t len)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	limg_fuzz_write(path, data, len);
}

/* A splice seed: XOR @x (@n bytes) at offset @off of the real hints. */
static void
write_splice(const char *dir, const char *name, uint32_t off, const uint8_t *x, size_t n)
{
	uint8_t buf[SPLICE_MAX];

	g_assert(n + 2 < SPLICE_MAX && off < 65536);
	buf[0] = (uint8_t)off;
	buf[1] = (uint8_t)(off >> 8);
	if (n)
		memcpy(buf + 2, x, n);
	write_seed(dir, name, buf, n + 2);
}

static uint32_t
hword(const uint8_t *p, size_t i)
{
	uint32_t v;

	memcpy(&v, p + 4 * i, 4);
	return v;
}

/*
 * The seeds: the real hints, and splices into their sections (offsets
 * from the format in layout-hints.c's header): none, an identifier's
 * byte, a continuation area's offset, a block start.
 */
static void
write_seeds(const char *dir)
{
	gsize len;
	const uint8_t *p = g_bytes_get_data(ref_hints, &len);
	uint32_t n = hword(p, 1), n_dirs = hword(p, 2), n_blk = hword(p, 3);
	uint32_t names_len = hword(p, 5), width = hword(p, 6);
	size_t names = 28 + ((n + 3) & ~3u);
	size_t dirs = names + ((names_len + 3) & ~3u) + ((width * n + 3) & ~3u);
	size_t blk = dirs + 12 * (size_t)n_dirs, ces = blk + 12 * (size_t)n_blk;
	static const uint8_t one = 0x01, two = 0x02;

	if (g_mkdir_with_parents(dir, 0755) < 0)
		abort();
	write_seed(dir, "real.hints", p, len);
	write_splice(dir, "splice-none", 0, NULL, 0);
	write_splice(dir, "splice-identifier", (uint32_t)names + 1, &one, 1);
	write_splice(dir, "splice-ce-offset", (uint32_t)ces + 12, &two, 1);
	write_splice(dir, "splice-block-start", (uint32_t)blk + 12, &one, 1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("LIMG_FUZZ_WRITE_SEEDS");

	limg_fuzz_init();
	verbose = getenv("LIMG_FUZZ_VERBOSE") != NULL;
	describe();
	g_hash_table_foreach(kids, sort_kids, NULL);
	ref = lay_out(NULL);
	ref_hints = limg_layout_hints(ref);
	ref_meta = limg_layout_meta_blocks(ref);
	ref_blocks = g_malloc((size_t)ref_meta * BLK);
	for (uint32_t b = 0; b < ref_meta; b++)
		must(limg_render_block(ref, b, ref_blocks + (size_t)b * BLK), "reference render");
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

/* ------------------------------------------------------------ one input */

static GBytes *
hints_of_input(const uint8_t *data, size_t size)
{
	gsize len;
	const uint8_t *real = g_bytes_get_data(ref_hints, &len);
	uint8_t *h;
	size_t off;

	if (size >= SPLICE_MAX)
		return g_bytes_new(data, size);
	h = g_memdup2(real, len);
	off = size >= 2 ? (size_t)(data[0] | data[1] << 8) % len : 0;
	for (size_t i = 2; i < size && off + i - 2 < len; i++)
		h[off + i - 2] ^= data[i];
	return g_bytes_new_take(h, len);
}

static void
expect_reference(const LimgLayout *l)
{
	uint8_t blk[BLK];

	if (limg_layout_size(l) != limg_layout_size(ref) || limg_layout_meta_blocks(l) != ref_meta) {
		fprintf(stderr, "fuzz: hints set aside, yet the image has another size\n");
		abort();
	}
	for (uint32_t b = 0; b < ref_meta; b++) {
		int ret = limg_render_block(l, b, blk);

		if (ret < 0 || memcmp(blk, ref_blocks + (size_t)b * BLK, BLK) != 0) {
			fprintf(stderr, "fuzz: hints set aside, yet block %u differs (%d)\n", b, ret);
			abort();
		}
	}
	for (uint32_t i = 0; i < limg_layout_tree(l)->n_nodes; i++) {
		if (limg_layout_node_lba(l, i) != limg_layout_node_lba(ref, i)) {
			fprintf(stderr, "fuzz: hints set aside, yet node %u moved\n", i);
			abort();
		}
	}
}

/* Blocks to render of a layout of @meta: all, or the first and the last. */
static bool
skip_block(uint32_t b, uint32_t meta)
{
	return meta > MAX_RENDER_BLOCKS && b >= MAX_RENDER_BLOCKS / 2 &&
	       b < meta - MAX_RENDER_BLOCKS / 2;
}

/*
 * Every block of records has its block start in the hints (12 bytes),
 * every continuation block at least one area (20 bytes): taken hints of
 * @len bytes describe at most @len / 12 blocks of directories, beside
 * the path tables (a block or two for this tree).
 */
static void
expect_survives(const LimgLayout *l, size_t len)
{
	const LimgTree *t = limg_layout_tree(l);
	uint32_t meta = limg_layout_meta_blocks(l);
	uint64_t size = limg_layout_size(l), off = 0;
	uint8_t blk[BLK];

	if ((uint64_t)meta * BLK > size) {
		fprintf(stderr, "fuzz: %u metadata blocks in an image of %" G_GUINT64_FORMAT "\n",
		        meta, size);
		abort();
	}
	if (meta > ref_meta + len / 12 + 2) {
		fprintf(stderr, "fuzz: hints of %zu bytes taken for %u metadata blocks (%u without)\n",
		        len, meta, ref_meta);
		abort();
	}
	for (uint32_t b = 0; b < meta; b++) {
		int ret;

		if (skip_block(b, meta))
			b = meta - MAX_RENDER_BLOCKS / 2;
		ret = limg_render_block(l, b, blk);
		if (ret != 0 && ret != -EIO) {
			fprintf(stderr, "fuzz: hints taken: block %u of %u: %s\n", b, meta,
			        g_strerror(-ret));
			abort();
		}
	}
	for (unsigned n = 0; off < size && n < MAX_SEGMENTS; n++) {
		LimgSegment seg;
		int ret = limg_layout_segment(l, off, &seg);

		if (ret < 0 || seg.offset != off || seg.length == 0 || seg.length > size - off) {
			fprintf(stderr, "fuzz: segment at %" G_GUINT64_FORMAT ": %d\n", off, ret);
			abort();
		}
		if (seg.kind == LIMG_SEG_DATA) {
			const LimgNode *nd = seg.node < t->n_nodes ? &t->nodes[seg.node] : NULL;

			if (!nd || !S_ISREG(nd->mode) || seg.file_offset >= nd->size ||
			    seg.length > nd->size - seg.file_offset) {
				fprintf(stderr, "fuzz: data segment at %" G_GUINT64_FORMAT
				        " is not inside its file\n", off);
				abort();
			}
		}
		off += seg.length;
	}
}

/* A taken layout's own hints are taken again, and give the same blocks. */
static void
expect_rehinted(const LimgLayout *l)
{
	g_autoptr(GBytes) h = limg_layout_hints(l);
	g_autoptr(LimgLayout) again = lay_out(h);
	uint32_t meta = limg_layout_meta_blocks(l);
	uint8_t x[BLK], y[BLK];

	if (!limg_layout_hinted(again) || limg_layout_meta_blocks(again) != meta ||
	    limg_layout_size(again) != limg_layout_size(l)) {
		fprintf(stderr, "fuzz: a hinted layout's own hints do not give it again\n");
		abort();
	}
	for (uint32_t b = 0; b < meta; b++) {
		int rx, ry;

		if (skip_block(b, meta))
			b = meta - MAX_RENDER_BLOCKS / 2;
		rx = limg_render_block(l, b, x);
		ry = limg_render_block(again, b, y);
		if (rx != ry || (rx == 0 && memcmp(x, y, BLK) != 0)) {
			fprintf(stderr, "fuzz: a hinted layout's own hints: block %u differs\n", b);
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) h = hints_of_input(data, size);
	g_autoptr(LimgLayout) l = lay_out(h);

	if (verbose)
		fprintf(stderr, "fuzz: %zu bytes of hints: %s\n", g_bytes_get_size(h),
		        limg_layout_hinted(l) ? "taken" : "set aside");
	if (!limg_layout_hinted(l)) {
		expect_reference(l);
		return 0;
	}
	expect_survives(l, g_bytes_get_size(h));
	expect_rehinted(l);
	return 0;
}
