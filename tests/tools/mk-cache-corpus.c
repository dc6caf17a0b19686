/*
 * mk-cache-corpus.c - write the should-fail corpus of disk cache files.
 *
 *   tests/tools/mk-cache-corpus OUTDIR
 *
 * writes into OUTDIR (tests/data/should-fail/cache/ in the source tree)
 * one damaged cache file per way a file can be wrong, all for one fixed
 * source identity (CF_CORPUS_KEY, CF_CORPUS_PRINT in
 * tests/unit/lib/cachefile.h), plus OUTDIR/EXPECTED: one line per file,
 *
 *   NAME ERRNO REASON...
 *
 * where ERRNO is what limg_persist_load() must return for it (ESTALE,
 * EBADMSG; OK for the control file, which must load). test-persist.c
 * copies each file into a scratch cache directory under the name persist
 * looks for, sha256(key) + ".tree", loads it and checks the error.
 *
 * The files are encoded by tests/unit/lib/cachefile.h, written from the
 * format's description, never by persist.c. They hold host-order
 * integers and the host's sizeof(LimgNode): run this again (and check the
 * result in) when LimgNode or LIMG_PERSIST_VERSION changes; the unit
 * test says so when the corpus no longer matches the build.
 * The output is deterministic.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "../unit/lib/cachefile.h"

/* A small valid layer: /etc/hostname, /hello, /link -> hello, an xattr on /etc. */
typedef struct {
	LimgNode nodes[5];
	GByteArray *strings;
} Sample;

static uint32_t
add_string(GByteArray *s, const void *p, size_t len)
{
	uint32_t off = s->len;
	uint8_t nul = 0;

	g_byte_array_append(s, p, (guint)len);
	g_byte_array_append(s, &nul, 1);
	return off;
}

static void
node(LimgNode *n, uint32_t parent, uint32_t mode, uint64_t size, uint64_t ino)
{
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	n->mode = mode;
	n->nlink = S_ISDIR(mode) ? 2 : 1;
	n->size = size;
	n->ino = ino;
	n->dev = 0x801;
	n->mtime.sec = 1000000000;
	n->ctime.sec = 1000000000;
	n->target = LIMG_NONE;
	n->xattrs = LIMG_NONE;
}

static void
name(Sample *s, uint32_t i, const char *text)
{
	s->nodes[i].name = add_string(s->strings, text, strlen(text));
	s->nodes[i].name_len = (uint16_t)strlen(text);
}

/* @value_len as recorded (may lie, to make a blob that runs past the strings). */
static void
xattr(Sample *s, uint32_t i, const char *attr, const char *value, uint32_t value_len)
{
	GByteArray *blob = g_byte_array_new();
	uint32_t count = 1, real_len = (uint32_t)strlen(value);
	uint16_t nl = (uint16_t)strlen(attr);

	g_byte_array_append(blob, (const guint8 *)&count, 4);
	g_byte_array_append(blob, (const guint8 *)&nl, 2);
	g_byte_array_append(blob, (const guint8 *)&value_len, 4);
	g_byte_array_append(blob, (const guint8 *)attr, nl);
	g_byte_array_append(blob, (const guint8 *)value, real_len);
	s->nodes[i].xattrs = add_string(s->strings, blob->data, blob->len);
	g_byte_array_unref(blob);
}

static void
sample_init(Sample *s, uint32_t xattr_value_len)
{
	s->strings = g_byte_array_new();
	node(&s->nodes[0], 0, S_IFDIR | 0755, 0, 2);
	s->nodes[0].first_child = 1;
	s->nodes[0].nchildren = 3;
	name(s, 0, "");
	node(&s->nodes[1], 0, S_IFDIR | 0755, 0, 10);
	s->nodes[1].first_child = 4;
	s->nodes[1].nchildren = 1;
	name(s, 1, "etc");
	node(&s->nodes[2], 0, S_IFREG | 0644, 6, 11);
	name(s, 2, "hello");
	node(&s->nodes[3], 0, S_IFLNK | 0777, 5, 12);
	name(s, 3, "link");
	s->nodes[3].target = add_string(s->strings, "hello", 5);
	node(&s->nodes[4], 1, S_IFREG | 0644, 5, 13);
	name(s, 4, "hostname");
	xattr(s, 1, "user.corpus", "yes", xattr_value_len);
}

static void
sample_clear(Sample *s)
{
	g_byte_array_unref(s->strings);
}

static GByteArray *
encode(const Sample *s, const char *key, size_t key_len, const void *print, size_t print_len)
{
	return cf_encode(key, key_len, print, print_len, s->nodes, G_N_ELEMENTS(s->nodes),
	                 s->strings->data, s->strings->len);
}

static GByteArray *
encode_std(const Sample *s)
{
	return encode(s, CF_CORPUS_KEY, strlen(CF_CORPUS_KEY), CF_CORPUS_PRINT, CF_CORPUS_PRINT_LEN);
}

static const char *outdir;
static GString *expected;
static int status;

static void
emit(const char *file, GByteArray *f, const char *err, const char *reason)
{
	g_autofree char *path = g_build_filename(outdir, file, NULL);
	g_autoptr(GError) error = NULL;

	if (!g_file_set_contents(path, (const char *)f->data, f->len, &error)) {
		fprintf(stderr, "mk-cache-corpus: %s\n", error->message);
		status = 1;
	}
	g_string_append_printf(expected, "%s %s %s\n", file, err, reason);
	g_byte_array_unref(f);
}

/* @f cut to its first @len bytes. */
static GByteArray *
cut(GByteArray *f, size_t len)
{
	g_byte_array_set_size(f, (guint)len);
	return f;
}

static GByteArray *
flip(GByteArray *f, size_t off)
{
	f->data[off] ^= 0x40;
	return f;
}

/* The sample changed by @edit, then sealed: the checksum matches. */
typedef void (*EditFn)(Sample *s);

static GByteArray *
edited(EditFn edit)
{
	Sample s;
	GByteArray *f;

	sample_init(&s, 3);
	edit(&s);
	f = encode_std(&s);
	sample_clear(&s);
	return f;
}

static void e_root_file(Sample *s) { s->nodes[0].mode = S_IFREG | 0644; }
static void e_parent_range(Sample *s) { s->nodes[4].parent = 5; }
static void e_name_past(Sample *s) { s->nodes[2].name = s->strings->len; }
static void e_name_end_past(Sample *s) { s->nodes[2].name_len = 200; }
static void e_children_past(Sample *s) { s->nodes[1].nchildren = 2; }
static void e_target_past(Sample *s) { s->nodes[3].target = s->strings->len + 10; }
static void e_target_len_past(Sample *s) { s->nodes[3].size = 100; }
static void e_xattrs_past(Sample *s) { s->nodes[1].xattrs = s->strings->len; }
static void e_unterminated(Sample *s) { s->strings->data[s->strings->len - 1] = 'x'; }
static void e_parent_cycle(Sample *s) { s->nodes[1].parent = 1; }
static void e_root_own_child(Sample *s) { s->nodes[0].first_child = 0; }

int
main(int argc, char **argv)
{
	Sample s;
	GByteArray *f;
	size_t nodes_off;
	uint32_t u;

	if (argc != 2) {
		fprintf(stderr, "usage: mk-cache-corpus OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (g_mkdir_with_parents(outdir, 0755) < 0) {
		fprintf(stderr, "mk-cache-corpus: %s: %s\n", outdir, g_strerror(errno));
		return 1;
	}
	expected = g_string_new(NULL);
	sample_init(&s, 3);

	/* The control: this one must load, or the rest prove nothing. */
	emit("control-valid.tree", encode_std(&s), "OK",
	     "a valid file for the corpus identity: must load");

	/* Identity. */
	emit("other-key.tree",
	     encode(&s, "/srv/layers/other-layer", strlen("/srv/layers/other-layer"), CF_CORPUS_PRINT,
	            CF_CORPUS_PRINT_LEN),
	     "ESTALE", "the file is for another layer's key");
	{
		g_autofree char *longer = g_strconcat(CF_CORPUS_KEY, "2", NULL);

		emit("longer-key.tree", encode(&s, longer, strlen(longer), CF_CORPUS_PRINT,
		                               CF_CORPUS_PRINT_LEN),
		     "ESTALE", "the file's key has the right key as a prefix");
	}
	{
		char print[] = CF_CORPUS_PRINT;

		print[CF_CORPUS_PRINT_LEN - 1] ^= 1;
		emit("other-fingerprint.tree",
		     encode(&s, CF_CORPUS_KEY, strlen(CF_CORPUS_KEY), print, CF_CORPUS_PRINT_LEN),
		     "ESTALE", "the layer changed since the file was written (last fingerprint byte)");
		emit("shorter-fingerprint.tree",
		     encode(&s, CF_CORPUS_KEY, strlen(CF_CORPUS_KEY), CF_CORPUS_PRINT,
		            CF_CORPUS_PRINT_LEN - 1),
		     "ESTALE", "the fingerprint is a prefix of the right one");
	}

	/* Truncated or too long. */
	f = encode_std(&s);
	nodes_off = cf_nodes_offset(f);
	g_byte_array_unref(f);
	emit("empty.tree", cut(encode_std(&s), 0), "EBADMSG", "an empty file");
	emit("truncated-header.tree", cut(encode_std(&s), 40), "EBADMSG",
	     "cut inside the header");
	emit("header-only.tree", cut(encode_std(&s), CF_HEADER_SIZE), "EBADMSG",
	     "the header and nothing after it");
	emit("truncated-in-nodes.tree", cut(encode_std(&s), nodes_off + 50), "EBADMSG",
	     "cut inside the node array");
	f = encode_std(&s);
	emit("truncated-last-byte.tree", cut(f, f->len - 1), "EBADMSG",
	     "one byte short of its lengths");
	f = encode_std(&s);
	{
		uint8_t extra = 0;

		g_byte_array_append(f, &extra, 1);
	}
	cf_seal(f);
	emit("trailing-byte.tree", f, "EBADMSG", "one byte more than its lengths (checksum over all)");

	/* Another format, each with a checksum that matches. */
	f = encode_std(&s);
	f->data[7] = 'F';
	cf_seal(f);
	emit("bad-magic.tree", f, "EBADMSG", "magic LIMGTREF");
	f = encode_std(&s);
	cf_put32(f, CF_OFF_VERSION, LIMG_PERSIST_VERSION - 1);
	cf_seal(f);
	emit("older-version.tree", f, "EBADMSG", "format version one below the current");
	f = encode_std(&s);
	cf_put32(f, CF_OFF_VERSION, LIMG_PERSIST_VERSION + 1);
	cf_seal(f);
	emit("newer-version.tree", f, "EBADMSG", "format version one above the current");
	f = encode_std(&s);
	cf_put32(f, CF_OFF_NODE_SIZE, (uint32_t)sizeof(LimgNode) - 8);
	cf_seal(f);
	emit("other-node-size.tree", f, "EBADMSG", "written by a build with a smaller LimgNode");

	/* Corrupt: the checksum does not match. */
	emit("flipped-key-byte.tree", flip(encode_std(&s), CF_HEADER_SIZE + 3), "EBADMSG",
	     "a byte of the key changed after sealing");
	emit("flipped-node-byte.tree", flip(encode_std(&s), nodes_off + sizeof(LimgNode) + 40),
	     "EBADMSG", "a byte of the second node changed after sealing");
	f = encode_std(&s);
	emit("flipped-string-byte.tree", flip(f, f->len - 2), "EBADMSG",
	     "a byte of the strings changed after sealing");
	emit("flipped-checksum-byte.tree", flip(encode_std(&s), CF_OFF_SUM + 15), "EBADMSG",
	     "the checksum's last byte changed");
	emit("checksum-padding-byte.tree", flip(encode_std(&s), CF_OFF_SUM + 31), "EBADMSG",
	     "a byte of the zero padding after the checksum changed");
	emit("flipped-reserved-byte.tree", flip(encode_std(&s), CF_OFF_RESERVED), "EBADMSG",
	     "the reserved header field changed after sealing");
	f = encode_std(&s);
	memset(f->data + CF_OFF_SUM, 0, 32);
	emit("zero-checksum.tree", f, "EBADMSG", "the checksum field left zero");

	/* Lengths. */
	{
		g_autofree char *key = g_malloc(65537 + 1);
		g_autofree char *print = g_malloc(4097);

		memset(key, 'k', 65537);
		key[65537] = 0;
		memset(print, 'p', 4097);
		emit("key-len-over-limit.tree", encode(&s, key, 65537, CF_CORPUS_PRINT,
		                                       CF_CORPUS_PRINT_LEN),
		     "EBADMSG", "a consistent file with a 65537-byte key (limit 65536)");
		emit("print-len-over-limit.tree", encode(&s, CF_CORPUS_KEY, strlen(CF_CORPUS_KEY),
		                                         print, 4097),
		     "EBADMSG", "a consistent file with a 4097-byte fingerprint (limit 4096)");
	}
	f = encode_std(&s);
	cf_put32(f, CF_OFF_KEY_LEN, UINT32_MAX);
	cf_seal(f);
	emit("key-len-huge.tree", f, "EBADMSG", "key length 2^32-1 in a small file");
	f = encode_std(&s);
	cf_put32(f, CF_OFF_PRINT_LEN, UINT32_MAX);
	cf_seal(f);
	emit("print-len-huge.tree", f, "EBADMSG", "fingerprint length 2^32-1 in a small file");
	f = encode_std(&s);
	u = cf_get32(f, CF_OFF_N_NODES);
	cf_put32(f, CF_OFF_N_NODES, u + 1);
	cf_seal(f);
	emit("node-count-mismatch.tree", f, "EBADMSG", "one node more than the file holds");
	f = encode_std(&s);
	cf_put32(f, CF_OFF_N_NODES, UINT32_MAX);
	cf_seal(f);
	emit("node-count-huge.tree", f, "EBADMSG", "node count 2^32-1 in a small file");
	f = encode_std(&s);
	cf_put64(f, CF_OFF_STRINGS_LEN, s.strings->len + 1);
	cf_seal(f);
	emit("strings-len-mismatch.tree", f, "EBADMSG", "one string byte more than the file holds");
	f = encode_std(&s);
	cf_put64(f, CF_OFF_STRINGS_LEN, UINT64_MAX);
	cf_seal(f);
	emit("strings-len-huge.tree", f, "EBADMSG", "strings length 2^64-1");

	/* Valid checksum, invalid tree. */
	emit("no-nodes.tree",
	     cf_encode(CF_CORPUS_KEY, strlen(CF_CORPUS_KEY), CF_CORPUS_PRINT, CF_CORPUS_PRINT_LEN,
	               NULL, 0, "", 1),
	     "EBADMSG", "no nodes at all");
	{
		LimgNode root = s.nodes[0];

		root.first_child = 0;
		root.nchildren = 0;
		emit("no-strings.tree",
		     cf_encode(CF_CORPUS_KEY, strlen(CF_CORPUS_KEY), CF_CORPUS_PRINT,
		               CF_CORPUS_PRINT_LEN, &root, 1, NULL, 0),
		     "EBADMSG", "a lone root and no strings (its name is nowhere)");
	}
	emit("root-not-a-directory.tree", edited(e_root_file), "EBADMSG",
	     "node 0 is a regular file");
	emit("parent-out-of-range.tree", edited(e_parent_range), "EBADMSG",
	     "a node's parent is past the last node");
	emit("name-past-strings.tree", edited(e_name_past), "EBADMSG",
	     "a name offset at the end of the strings");
	emit("name-end-past-strings.tree", edited(e_name_end_past), "EBADMSG",
	     "a name whose length runs past the strings");
	emit("children-past-end.tree", edited(e_children_past), "EBADMSG",
	     "first_child + nchildren past the last node");
	emit("target-past-strings.tree", edited(e_target_past), "EBADMSG",
	     "a symlink target offset past the strings");
	emit("target-len-past-strings.tree", edited(e_target_len_past), "EBADMSG",
	     "a symlink target whose length runs past the strings");
	emit("xattrs-past-strings.tree", edited(e_xattrs_past), "EBADMSG",
	     "an xattr blob offset at the end of the strings");
	emit("strings-unterminated.tree", edited(e_unterminated), "EBADMSG",
	     "the strings do not end with a NUL");
	emit("parent-cycle.tree", edited(e_parent_cycle), "EBADMSG",
	     "a directory is its own parent (a path walk never ends)");
	emit("root-is-its-own-child.tree", edited(e_root_own_child), "EBADMSG",
	     "the root's child range starts at the root itself (a cycle)");
	{
		Sample bad;

		sample_init(&bad, 300);
		emit("xattr-value-past-strings.tree", encode_std(&bad), "EBADMSG",
		     "an xattr value length (300) that runs past the strings");
		sample_clear(&bad);
	}

	sample_clear(&s);
	{
		g_autofree char *path = g_build_filename(outdir, "EXPECTED", NULL);
		g_autoptr(GError) error = NULL;
		GString *all = g_string_new(
		    "# Generated by tests/tools/mk-cache-corpus; checked by tests/unit/test-persist.c.\n"
		    "# Each file is loaded as the cache of key " CF_CORPUS_KEY "\n"
		    "# (tests/unit/lib/cachefile.h) and must give the error named.\n"
		    "# NAME ERRNO REASON\n");

		g_string_append(all, expected->str);
		if (!g_file_set_contents(path, all->str, (gssize)all->len, &error)) {
			fprintf(stderr, "mk-cache-corpus: %s\n", error->message);
			status = 1;
		}
		g_string_free(all, TRUE);
	}
	g_string_free(expected, TRUE);
	return status;
}
