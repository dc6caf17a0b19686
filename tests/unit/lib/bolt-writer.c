/*
 * bolt-writer.c - a minimal bbolt file writer, for suites that need a
 * database of their own (the containerd store); see testlib.h.
 *
 * Written from the format (src/store/bolt.h describes it), not with the
 * reader's code, so a test never agrees with the reader by sharing its
 * mistakes: one leaf page (plus overflow pages when it must) per bucket,
 * every bucket a page of its own (never inline), meta pages 0 and 1
 * (txid 2 and 3), no freelist page.
 */
#include <config.h>

#include "lib/testlib.h"

#define PAGE 4096u

typedef struct ThBoltBucket ThBoltBucket;

typedef struct {
	char *key;
	GBytes *value;            /* or NULL: a sub-bucket */
	ThBoltBucket *bucket;
} Item;

struct ThBoltBucket {
	GPtrArray *items;         /* Item * */
	uint64_t pgid;
	uint32_t pages;
};

struct ThBolt {
	ThBoltBucket *root;
};

static void bucket_free(ThBoltBucket *b);

static void
item_free(gpointer p)
{
	Item *it = p;

	g_free(it->key);
	if (it->value)
		g_bytes_unref(it->value);
	bucket_free(it->bucket);
	g_free(it);
}

static ThBoltBucket *
bucket_new(void)
{
	ThBoltBucket *b = g_new0(ThBoltBucket, 1);

	b->items = g_ptr_array_new_with_free_func(item_free);
	return b;
}

static void
bucket_free(ThBoltBucket *b)
{
	if (!b)
		return;
	g_ptr_array_free(b->items, TRUE);
	g_free(b);
}

ThBolt *
th_bolt_new(void)
{
	ThBolt *db = g_new0(ThBolt, 1);

	db->root = bucket_new();
	return db;
}

void
th_bolt_free(ThBolt *db)
{
	if (!db)
		return;
	bucket_free(db->root);
	g_free(db);
}

static Item *
find(ThBoltBucket *b, const char *key)
{
	for (guint i = 0; i < b->items->len; i++) {
		Item *it = b->items->pdata[i];

		if (strcmp(it->key, key) == 0)
			return it;
	}
	return NULL;
}

static ThBoltBucket *
bucket_at(ThBolt *db, const char *const *path)
{
	ThBoltBucket *b = db->root;

	for (guint i = 0; path && path[i]; i++) {
		Item *it = find(b, path[i]);

		if (!it) {
			it = g_new0(Item, 1);
			it->key = g_strdup(path[i]);
			it->bucket = bucket_new();
			g_ptr_array_add(b->items, it);
		}
		cr_assert_not_null(it->bucket, "bolt writer: %s is a value, not a bucket", path[i]);
		b = it->bucket;
	}
	return b;
}

void
th_bolt_bucket(ThBolt *db, const char *const *path)
{
	bucket_at(db, path);
}

void
th_bolt_put(ThBolt *db, const char *const *path, const char *key, const void *value,
            size_t len)
{
	ThBoltBucket *b = bucket_at(db, path);
	Item *it;

	cr_assert_null(find(b, key), "bolt writer: key %s twice", key);
	it = g_new0(Item, 1);
	it->key = g_strdup(key);
	it->value = g_bytes_new(value, len);
	g_ptr_array_add(b->items, it);
}

void
th_bolt_put_str(ThBolt *db, const char *const *path, const char *key, const char *value)
{
	th_bolt_put(db, path, key, value, strlen(value));
}

void
th_bolt_put_varint(ThBolt *db, const char *const *path, const char *key, int64_t x)
{
	/* Go's binary.PutVarint: zigzag, then 7 bits a byte, low first. */
	uint64_t ux = ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
	uint8_t buf[10];
	size_t n = 0;

	while (ux >= 0x80) {
		buf[n++] = (uint8_t)(ux | 0x80);
		ux >>= 7;
	}
	buf[n++] = (uint8_t)ux;
	th_bolt_put(db, path, key, buf, n);
}

static gint
cmp_item(gconstpointer a, gconstpointer b)
{
	return strcmp((*(Item *const *)a)->key, (*(Item *const *)b)->key);
}

/* A leaf of @b: header, element headers, keys and values. */
static size_t
leaf_size(const ThBoltBucket *b)
{
	size_t n = 16 + 16 * (size_t)b->items->len;

	for (guint i = 0; i < b->items->len; i++) {
		const Item *it = b->items->pdata[i];

		n += strlen(it->key) + (it->value ? g_bytes_get_size(it->value) : 16);
	}
	return n;
}

/* Give @b and its sub-buckets their pages, from *@next on. */
static void
assign(ThBoltBucket *b, uint64_t *next)
{
	g_ptr_array_sort(b->items, cmp_item);
	b->pgid = *next;
	b->pages = (uint32_t)((leaf_size(b) + PAGE - 1) / PAGE);
	*next += b->pages;
	for (guint i = 0; i < b->items->len; i++) {
		Item *it = b->items->pdata[i];

		if (it->bucket)
			assign(it->bucket, next);
	}
}

/* Little-endian, as bbolt writes on the hosts it runs on. */
static void
put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
write_bucket(const ThBoltBucket *b, uint8_t *file)
{
	uint8_t *p = file + b->pgid * PAGE;
	size_t data = 16 + 16 * (size_t)b->items->len;

	put_le(p, b->pgid, 8);
	put_le(p + 8, 0x02, 2);                       /* a leaf */
	put_le(p + 10, b->items->len, 2);
	put_le(p + 12, b->pages - 1, 4);              /* overflow pages */
	for (guint i = 0; i < b->items->len; i++) {
		const Item *it = b->items->pdata[i];
		uint8_t *e = p + 16 + 16 * (size_t)i;
		size_t klen = strlen(it->key), vlen = it->value ? g_bytes_get_size(it->value) : 16;

		put_le(e, it->bucket ? 1 : 0, 4);
		put_le(e + 4, data - (16 + 16 * (size_t)i), 4);   /* from the element */
		put_le(e + 8, klen, 4);
		put_le(e + 12, vlen, 4);
		memcpy(p + data, it->key, klen);
		if (it->value) {
			memcpy(p + data + klen, g_bytes_get_data(it->value, NULL), vlen);
		} else {
			put_le(p + data + klen, it->bucket->pgid, 8);
			put_le(p + data + klen + 8, 0, 8);    /* sequence */
		}
		data += klen + vlen;
		if (it->bucket)
			write_bucket(it->bucket, file);
	}
}

/* FNV-1a 64 of the meta fields before the checksum. */
static uint64_t
meta_checksum(const uint8_t *f)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < 56; i++)
		h = (h ^ f[i]) * 0x100000001b3ull;
	return h;
}

void
th_bolt_save(ThBolt *db, const char *dir, const char *rel)
{
	uint64_t next = 2;
	g_autofree uint8_t *file = NULL;

	assign(db->root, &next);
	file = g_malloc0(next * PAGE);
	write_bucket(db->root, file);
	for (uint64_t i = 0; i < 2; i++) {
		uint8_t *p = file + i * PAGE, *f = p + 16;

		put_le(p, i, 8);
		put_le(p + 8, 0x04, 2);                   /* a meta page */
		put_le(f, 0xED0CDAEDu, 4);
		put_le(f + 4, 2, 4);                      /* format version */
		put_le(f + 8, PAGE, 4);
		put_le(f + 16, db->root->pgid, 8);
		put_le(f + 32, UINT64_MAX, 8);            /* no freelist */
		put_le(f + 40, next, 8);                  /* pages in the file */
		put_le(f + 48, 2 + i, 8);                 /* txid T lives in page T % 2 */
		put_le(f + 56, meta_checksum(f), 8);
	}
	th_write(dir, rel, file, next * PAGE);
}
