/*
 * fuzz-bolt.c - the BoltDB reader (src/store/bolt.c) and the containerd
 * store that names its images from it (store-containerd.c).
 *
 * The input is a database file. The FNV-1a checksums of its two meta
 * pages are sealed again here where they sit (page 0, and page 1 at
 * meta 0's page size and at 4096), as bbolt would have written them, so
 * mutations reach what lies behind the checksums. The database is
 * opened from memory and walked: every bucket listed, depth first (at
 * most MAX_DEPTH deep, MAX_ITEMS keys in all: a crafted file can make a
 * bucket its own sub-bucket), every plain key read again by name (bolt.h
 * promises a lookup finds whatever a listing shows), every sub-bucket
 * looked up, every value decoded as both kinds of varint. Then the file
 * is the meta.db of a containerd root with an empty content store, read
 * by the store (fuzz-store.c checks its answers).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "fuzz-common.h"
#include "store/bolt.h"

#define MAX_DEPTH 8
#define MAX_ITEMS 4096

#define META_AT 16u         /* the meta fields follow the page header */
#define META_SUMMED 56u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	limg_fuzz_init();
	return 0;
}

static uint64_t
fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Seal the meta page at byte @off, if the file holds one there. */
static void
seal(uint8_t *db, size_t size, size_t off)
{
	uint64_t sum;

	if (off > size || size - off < META_AT + META_SUMMED + 8)
		return;
	sum = GUINT64_TO_LE(fnv1a64(db + off + META_AT, META_SUMMED));
	memcpy(db + off + META_AT + META_SUMMED, &sum, 8);
}

typedef struct {
	const LimgBolt *db;
	unsigned items;
} Walk;

static void
walk(Walk *w, GPtrArray *path, unsigned depth)
{
	g_autoptr(GPtrArray) items = NULL;
	int ret = limg_bolt_list(w->db, (const char *const *)path->pdata, &items);

	if (ret < 0) {
		if (ret != -EBADMSG && ret != -ENOENT && ret != -ENOTDIR) {
			fprintf(stderr, "fuzz: list: %s\n", g_strerror(-ret));
			abort();
		}
		return;
	}
	for (guint i = 0; i < items->len && w->items < MAX_ITEMS; i++, w->items++) {
		const LimgBoltItem *it = items->pdata[i];
		g_autoptr(GBytes) value = NULL;
		uint64_t u, seq;
		int64_t v;

		/* A key with a NUL in it can be listed but not named. */
		if (strlen(it->key) != it->key_len)
			continue;
		if (!it->is_bucket) {
			ret = limg_bolt_get(w->db, (const char *const *)path->pdata, it->key, &value);
			if (ret < 0 || !g_bytes_equal(value, it->value)) {
				fprintf(stderr, "fuzz: key %s was listed, but its lookup gives %s\n",
				        it->key, ret < 0 ? g_strerror(-ret) : "another value");
				abort();
			}
			limg_bolt_uvarint(value, &u);
			limg_bolt_varint(value, &v);
			continue;
		}
		g_ptr_array_insert(path, (gint)path->len - 1, it->key);
		ret = limg_bolt_bucket(w->db, (const char *const *)path->pdata, &seq);
		/* Listed as a bucket: damaged perhaps (checked only now), never missing. */
		if (ret < 0 && ret != -EBADMSG) {
			fprintf(stderr, "fuzz: bucket %s was listed, but its lookup gives %s\n",
			        it->key, g_strerror(-ret));
			abort();
		}
		if (ret == 0 && seq != it->sequence)
			abort();
		if (ret == 0 && depth + 1 < MAX_DEPTH)
			walk(w, path, depth + 1);
		g_ptr_array_remove_index(path, path->len - 2);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree uint8_t *db = g_memdup2(data, size);
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(LimgBolt) bolt = NULL;
	g_autofree char *root = limg_fuzz_fresh("containerd");
	g_autofree char *meta = NULL;
	uint32_t page_size;

	seal(db, size, 0);
	/* Meta 1 is where meta 0's page size says; without one, bolt.c looks at 4096. */
	page_size = 0;
	if (size >= META_AT + 12) {
		memcpy(&page_size, db + META_AT + 8, 4);
		page_size = GUINT32_FROM_LE(page_size);
	}
	seal(db, size, page_size >= 512 && page_size <= (1u << 20) ? page_size : 4096);
	bytes = g_bytes_new(db, size);
	if (limg_bolt_open_bytes(bytes, &bolt) == 0) {
		g_autoptr(GPtrArray) path = g_ptr_array_new();
		Walk w = { .db = bolt };

		g_ptr_array_add(path, NULL);
		walk(&w, path, 0);
		limg_bolt_txid(bolt);
	}

	meta = g_build_filename(root, "io.containerd.metadata.v1.bolt", NULL);
	if (g_mkdir_with_parents(meta, 0755) < 0)
		abort();
	g_free(meta);
	meta = g_build_filename(root, "io.containerd.content.v1.content/blobs/sha256", NULL);
	if (g_mkdir_with_parents(meta, 0755) < 0)
		abort();
	g_free(meta);
	meta = g_build_filename(root, "io.containerd.metadata.v1.bolt/meta.db", NULL);
	limg_fuzz_write(meta, db, size);
	limg_fuzz_store(root, "containerd");
	return 0;
}
