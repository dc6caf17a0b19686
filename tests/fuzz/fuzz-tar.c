/*
 * fuzz-tar.c - the tar indexer (src/source/source-tar.c): plain, gzip
 * and zstd blobs, sparse members, PAX and GNU headers, through libarchive.
 *
 * The input is a layer blob. It is written into a file between a few
 * bytes of other data, as a blob is a byte range of an archive, and
 * scanned by a tar source given that range and the blob's own digest
 * (so the hashing thread runs beside the scan and must agree with it),
 * a small decompression bound (a bomb is refused quickly) and a spool
 * directory of its own. A tree that comes out must be one the rest of
 * the program can trust: every regular file opens and its first and
 * last bytes can be read where the source says they are; the tree is
 * saved to the disk cache and loaded again (persist.c checks the whole
 * tree invariant), verified against the source, and laid out.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "fuzz-common.h"
#include "source/source.h"

/* Bytes around the blob in its file: offsets must be honoured. */
#define PAD 7
/* The decompression bound: 1000 times a large input. */
#define MAX_SIZE (64u << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	limg_fuzz_init();
	return 0;
}

/* Can @len bytes at file offset @off of @n be read? */
static void
read_at(const LimgContent *c, uint64_t off, size_t len, uint32_t n)
{
	uint8_t buf[64];
	ssize_t got = pread(c->fd, buf, len, (off_t)(c->base + off));

	if (got != (ssize_t)len) {
		fprintf(stderr, "fuzz: node %u: %zu bytes at %" G_GUINT64_FORMAT " (base %"
		        G_GUINT64_FORMAT "): read %zd\n", n, len, off, c->base, got);
		abort();
	}
}

static void
use_files(LimgSource *src, const LimgTree *tree)
{
	for (uint32_t i = 0; i < tree->n_nodes; i++) {
		const LimgNode *n = &tree->nodes[i];
		LimgContent c = { .fd = -1 };
		int ret;

		if (!S_ISREG(n->mode))
			continue;
		ret = limg_source_open(src, tree, i, &c);
		if (ret < 0) {
			fprintf(stderr, "fuzz: node %u cannot be opened: %s\n", i, g_strerror(-ret));
			abort();
		}
		if (n->size) {
			read_at(&c, 0, (size_t)MIN(n->size, 64), i);
			read_at(&c, n->size - 1, 1, i);
		}
		if (limg_source_check(src, tree, i, &c) < 0)
			abort();
		limg_content_release(&c);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pad[PAD] = "padding";
	g_autofree char *file = limg_fuzz_fresh("blob");
	g_autofree char *spool = limg_fuzz_fresh("spool");
	g_autofree char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size);
	g_autofree char *digest = g_strconcat("sha256:", hex, NULL);
	g_autofree char *mismatch = g_strdup_printf("%s: its digest is sha256:", file);
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(LimgSource) src = NULL;
	g_autoptr(LimgTree) tree = NULL;
	g_auto(LimgSourceId) id = { 0 };
	LimgTarOptions opts = {
		.digest = digest, .offset = PAD, .length = size, .spool_dir = spool,
		.max_size = MAX_SIZE,
	};
	LimgScanOptions scan = { .xattrs = true };
	LimgReport report;
	int ret;

	/* A blob of no bytes is "to the end of the file": there is none. */
	if (size == 0)
		return -1;
	g_byte_array_append(bytes, pad, PAD);
	g_byte_array_append(bytes, data, (guint)size);
	g_byte_array_append(bytes, pad, PAD);
	limg_fuzz_write(file, bytes->data, bytes->len);
	if (mkdir(spool, 0700) < 0)
		abort();
	ret = limg_tar_source_new(file, false, &opts, &src);
	if (ret < 0) {
		fprintf(stderr, "fuzz: tar source: %s\n", g_strerror(-ret));
		abort();
	}
	limg_report_init(&report);
	ret = limg_source_scan(src, &scan, &report, &tree, NULL);
	for (guint i = 0; ret < 0 && i < report.errors->len; i++) {
		/* The digest given is the blob's: the hasher must agree. */
		if (g_str_has_prefix(report.errors->pdata[i], mismatch)) {
			fprintf(stderr, "fuzz: %s\n", (char *)report.errors->pdata[i]);
			abort();
		}
	}
	limg_report_release(&report);
	if (ret < 0) {
		if (ret != -EBADMSG && ret != -EFBIG && ret != -ENOTSUP) {
			fprintf(stderr, "fuzz: scan: %s, not a refusal\n", g_strerror(-ret));
			abort();
		}
		return 0;
	}
	use_files(src, tree);
	limg_fuzz_roundtrip(tree);
	if (limg_source_identity(src, &id) < 0 || limg_source_verify(src, tree) < 0 ||
	    limg_source_present(src) < 0) {
		fprintf(stderr, "fuzz: the source does not recognise its own tree\n");
		abort();
	}
	limg_fuzz_lay_out(g_steal_pointer(&tree));
	return 0;
}
