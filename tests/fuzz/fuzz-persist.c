/*
 * fuzz-persist.c - the disk-cache file loader (src/cache/persist.c).
 *
 * The input is a cache file (tests/unit/lib/cachefile.h has the format).
 * Its checksum is sealed again here, as a writer would have done, and it
 * is loaded as the cache of the key and fingerprint it carries itself:
 * so a mutation of any field reaches the checks behind the checksum and
 * the identity (the tree invariant, tree_valid()), which is what a file
 * shaped by someone who can write the cache directory meets. A tree that
 * loads is then used as the mount would (laid out, every metadata block
 * rendered) and saved and loaded again, which must give the same tree.
 * Each input is first opened in the two steps of a restart (the head,
 * decompressed when the file has one, then the rest): the head's
 * checksum is sealed too (cf_seal), so mutations reach the decompressor.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "../unit/lib/cachefile.h"
#include "cache/persist.h"
#include "fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	limg_fuzz_init();
	return 0;
}

/* Part [@off, @off + @len) of @f as a string, if it lies inside @f. */
static char *
part(const GByteArray *f, uint64_t off, uint64_t len)
{
	if (off > f->len || len > f->len - off)
		return NULL;
	return g_strndup((const char *)f->data + off, (gsize)len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GByteArray) f = g_byte_array_new();
	g_autofree char *dir = limg_fuzz_fresh("cache");
	g_autofree char *key = NULL, *print = NULL, *hash = NULL, *file = NULL;
	g_autoptr(LimgTree) tree = NULL;
	LimgSourceId id = { 0 };
	size_t print_len;
	int ret;

	g_byte_array_append(f, data, (guint)size);
	if (f->len >= CF_HEADER_SIZE) {
		uint32_t klen = cf_get32(f, CF_OFF_KEY_LEN), plen = cf_get32(f, CF_OFF_PRINT_LEN);

		key = part(f, CF_HEADER_SIZE, klen);
		print = part(f, CF_HEADER_SIZE + (uint64_t)klen, plen);
		print_len = plen;
		cf_seal(f);
	}
	/* A file without a usable identity is loaded as the corpus layer's. */
	if (!key || !print) {
		g_clear_pointer(&key, g_free);
		g_clear_pointer(&print, g_free);
		key = g_strdup(CF_CORPUS_KEY);
		print = g_strdup(CF_CORPUS_PRINT);
		print_len = CF_CORPUS_PRINT_LEN;
	}
	if (mkdir(dir, 0700) < 0)
		abort();
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, key, -1);
	file = g_strdup_printf("%s/%s.tree", dir, hash);
	limg_fuzz_write(file, f->data, f->len);

	id.key = key;
	id.fingerprint = g_bytes_new(print, print_len);
	{
		/* The two steps of a restart: the head first (decompressed), then the rest. */
		g_autoptr(GBytes) head = NULL;
		LimgPersistFile *pf = NULL;

		ret = limg_persist_open(dir, &id, &pf, &head);
		if (ret == 0) {
			ret = limg_persist_read_tree(pf, &tree, NULL);
			limg_persist_close(pf);
		}
		if (ret < 0 && ret != -EBADMSG && ret != -ESTALE) {
			fprintf(stderr, "fuzz: open: %s, not a rejection\n", g_strerror(-ret));
			abort();
		}
		g_clear_pointer(&tree, limg_tree_free);
		/* What open rejected it removed: write it again for the one-step load. */
		limg_fuzz_write(file, f->data, f->len);
	}
	ret = limg_persist_load(dir, &id, &tree);
	g_bytes_unref(id.fingerprint);
	if (ret == 0) {
		limg_fuzz_roundtrip(tree);
		limg_fuzz_lay_out(g_steal_pointer(&tree));
	} else if (ret != -EBADMSG && ret != -ESTALE) {
		fprintf(stderr, "fuzz: load: %s, not a rejection\n", g_strerror(-ret));
		abort();
	}
	return 0;
}
