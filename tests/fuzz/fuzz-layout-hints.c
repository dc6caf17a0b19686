/*
 * fuzz-layout-hints.c - the layout's hints (src/iso/layout-hints.c) as
 * the disk cache hands them back: bytes that passed a checksum, for a
 * tree they may not fit.
 *
 * One fixed tree, made with the tree builder (tree/builder.h): three
 * blocks of root records, continuation chains from long names, targets
 * and xattrs, names that mangle alike, a hard link, devices, files of
 * more than 4 GiB. It is laid out once without hints: the reference,
 * and its hints. Each input is hints for that tree:
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
#include "tree/builder.h"

#define SPLICE_MAX 64
/* Bounds the work per input: hints may claim many blocks. */
#define MAX_RENDER_BLOCKS 4096
#define MAX_SEGMENTS (1u << 16)
#define BLK ISO_BLOCK_SIZE

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------ the tree */

static void
must(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "fuzz: %s: %s\n", what, g_strerror(-ret));
		abort();
	}
}

/* A tree in the making: the builder of tree/builder.h and the next inode. */
typedef struct {
	LimgTreeBuilder *b;
	uint64_t ino;
} Mk;

static LimgBuilderEntry *
put(Mk *m, const char *path, uint32_t mode, uint64_t size)
{
	LimgNode n = { .mode = mode, .nlink = S_ISDIR(mode) ? 2 : 1, .size = size,
	               .ino = m->ino++, .dev = 42, .mtime.sec = 1000000000,
	               .ctime.sec = 1000000000 };
	g_autofree char *target = NULL;
	LimgBuilderEntry *e = NULL;

	if (S_ISLNK(mode)) {
		target = g_malloc(size);
		/* components of 1..300 bytes: SL splits those past 255 */
		for (size_t k = 0; k < size; k++)
			target[k] = k % 301 == 300 ? '/' : (char)('A' + k % 26);
	}
	must(limg_tree_builder_put(m->b, path, strlen(path), &n, target, target ? size : 0, &e),
	     path);
	return e;
}

static void
put_xattrs(LimgBuilderEntry *e, uint32_t n, uint32_t len)
{
	for (uint32_t i = 0; i < n; i++) {
		g_autofree char *name = g_strdup_printf("user.k%u", i);
		g_autofree uint8_t *value = g_malloc(len);

		for (uint32_t k = 0; k < len; k++)
			value[k] = (uint8_t)(i * 31 + k * 7);
		limg_builder_entry_set_xattr(e, name, value, len);
	}
}

static void
put_dev(Mk *m, const char *path, uint32_t type, uint32_t major, uint32_t minor)
{
	LimgNode *n = limg_builder_entry_node(put(m, path, type | 0600, 0));

	n->rdev_major = major;
	n->rdev_minor = minor;
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

/* The fixed tree, the same nodes in every call. */
static LimgTree *
make_tree(void)
{
	static const LimgNode root = { .mode = S_IFDIR | 0755, .nlink = 2, .dev = 42, .ino = 99,
	                               .mtime.sec = 1000000000, .ctime.sec = 1000000000 };
	g_autofree char *n240 = long_name("sub/", 240);
	g_autofree char *n250 = long_name("", 250);
	Mk m = { limg_tree_builder_new(&root, &root), 100 };
	LimgTree *t = NULL;
	char name[64];

	/* 40 records past "." and "..": the root takes three blocks */
	for (int i = 0; i < 40; i++) {
		LimgBuilderEntry *f;

		snprintf(name, sizeof(name), "file-%02d.txt", i);
		f = put(&m, name, S_IFREG | 0644, (uint64_t)i * 100);
		if (i == 3)
			put_xattrs(f, 2, 300);
	}
	/* names that mangle alike: the uniquifying path */
	put(&m, "a.b.c", S_IFREG | 0644, 1);
	put(&m, "a_b.c", S_IFREG | 0644, 1);
	put(&m, "Foo", S_IFREG | 0644, 1);
	put(&m, "foo", S_IFREG | 0644, 1);
	put(&m, "FOO", S_IFREG | 0644, 1);
	/* continuation chains: SL of 600 and 2500 bytes, NM of 250 */
	put(&m, "link1", S_IFLNK | 0777, 600);
	put(&m, "link2", S_IFLNK | 0777, 2500);
	put(&m, n250, S_IFLNK | 0777, 40);
	/* multi-extent: 2 and 3 sections */
	put(&m, "big", S_IFREG | 0644, 5ull << 30);
	put(&m, "huge", S_IFREG | 0644, (10ull << 30) + 1);
	put_xattrs(put(&m, "sub", S_IFDIR | 0755, 0), 1, 2500);
	put(&m, n240, S_IFREG | 0644, 7);
	/* a hard link: same inode, nlink 2 */
	limg_builder_entry_node(put(&m, "sub/x", S_IFREG | 0644, 9))->nlink = 2;
	must(limg_tree_builder_link(m.b, "sub/y", 5, "sub/x", 5, NULL), "link");
	put_dev(&m, "sub/null", S_IFCHR, 1, 3);
	put_dev(&m, "sub/wide", S_IFBLK, 300, 70000);
	put(&m, "sub/fifo", S_IFIFO | 0644, 0);
	put(&m, "sub/sock", S_IFSOCK | 0755, 0);
	put(&m, "deep/d1/d2/leaf", S_IFREG | 0644, 3);
	must(limg_tree_builder_build(m.b, &t), "build");
	limg_tree_builder_free(m.b);
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
