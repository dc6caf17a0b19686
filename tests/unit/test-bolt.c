/*
 * test-bolt.c - the BoltDB reader (store/bolt.h).
 *
 *  - containerd's own databases (tests/data/bolt/, see its README: a
 *    meta.db and an overlayfs snapshotter metadata.db made by Debian's
 *    containerd 1.6) read back as `ctr images ls`, `content ls`,
 *    `snapshots ls`, `leases ls` and `namespaces ls` printed them;
 *  - small databases written here from the format, for shapes containerd
 *    did not make in a small file: deep trees, branch lookups at every
 *    edge, inline and empty buckets, no freelist, small pages;
 *  - damaged and crafted files (truncated, flipped meta bytes, page ids
 *    past the end, cycles, shared pages, huge counts and lengths, and
 *    random damage): each one -EBADMSG, never a crash or a read out of
 *    bounds (the suite runs under valgrind and in the ASan build).
 */
#include <config.h>

#include <fcntl.h>
#include <unistd.h>

#include "store/bolt.h"
#include "lib/testlib.h"

TestSuite(bolt, .timeout = 120);

/* ------------------------------------------------------------ raw bytes */

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* FNV-1a 64, the meta checksum. */
static uint64_t
fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The meta fields of meta page @idx of a file of page size @ps. */
static uint8_t *
meta_at(uint8_t *db, uint32_t ps, unsigned idx)
{
	return db + (size_t)idx * ps + 16;
}

static void
meta_fix_sum(uint8_t *db, uint32_t ps, unsigned idx)
{
	uint8_t *m = meta_at(db, ps, idx);

	wr64(m + 56, fnv(m, 56));
}

/* Which meta page is the newest (both are valid in the fixtures). */
static unsigned
meta_newest(uint8_t *db, uint32_t ps)
{
	return rd64(meta_at(db, ps, 1) + 48) > rd64(meta_at(db, ps, 0) + 48);
}

/* ------------------------------------------------------------ fixtures */

#define PS 4096u

static uint8_t *
fixture(const char *name, size_t *len)
{
	g_autofree char *rel = g_strconcat("tests/data/bolt/", name, NULL);
	g_autofree char *path = th_data_path(rel);

	return th_read(path, len);
}

static int
open_mem(const uint8_t *data, size_t len, LimgBolt **db)
{
	g_autoptr(GBytes) bytes = g_bytes_new(data, len);

	return limg_bolt_open_bytes(bytes, db);
}

static LimgBolt *
open_fixture(const char *name)
{
	g_autofree char *rel = g_strconcat("tests/data/bolt/", name, NULL);
	g_autofree char *path = th_data_path(rel);
	LimgBolt *db = NULL;
	int ret = limg_bolt_open(path, &db);

	cr_assert_eq(ret, 0, "open %s: %s", path, g_strerror(-ret));
	return db;
}

/*
 * The rows of tests/data/bolt/expected/@name after its header line (all
 * of them if !@header), split at any of @seps, empty fields dropped.
 * Each row is a strv; caller unrefs.
 */
static GPtrArray *
expected_rows(const char *name, const char *seps, bool header)
{
	g_autofree char *rel = g_strconcat("expected/", name, NULL);
	g_autofree char *text = (char *)fixture(rel, NULL);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

	for (size_t i = header ? 1 : 0; lines[i]; i++) {
		g_auto(GStrv) f = g_strsplit_set(lines[i], seps, -1);
		GPtrArray *keep = g_ptr_array_new();

		for (size_t j = 0; f[j]; j++) {
			if (*f[j])
				g_ptr_array_add(keep, g_strdup(f[j]));
		}
		if (keep->len == 0) {
			g_ptr_array_free(keep, TRUE);
			continue;
		}
		g_ptr_array_add(keep, NULL);
		g_ptr_array_add(rows, g_ptr_array_free(keep, FALSE));
	}
	return rows;
}

/* The second field of the row of @name whose first field is @key, or NULL. */
static const char *
expected_value(GPtrArray *rows, const char *key)
{
	for (guint i = 0; i < rows->len; i++) {
		char **r = rows->pdata[i];

		if (strcmp(r[0], key) == 0)
			return r[1];
	}
	return NULL;
}

static char *
get_str(LimgBolt *db, const char *const *bucket, const char *key)
{
	char *s = NULL;
	int ret = limg_bolt_get_string(db, bucket, key, &s);

	cr_assert_eq(ret, 0, "get %s: %s", key, g_strerror(-ret));
	return s;
}

static int64_t
get_varint(LimgBolt *db, const char *const *bucket, const char *key)
{
	g_autoptr(GBytes) v = NULL;
	int64_t n = -1;

	cr_assert_eq(limg_bolt_get(db, bucket, key, &v), 0, "get %s", key);
	cr_assert_eq(limg_bolt_varint(v, &n), 0, "%s: not a varint", key);
	return n;
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A bucket's plain values as "key=value", sorted, joined by ','. */
static char *
labels_of(LimgBolt *db, const char *const *bucket)
{
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GPtrArray) kv = g_ptr_array_new_with_free_func(g_free);
	int ret = limg_bolt_list(db, bucket, &items);

	cr_assert_eq(ret, 0, "list labels: %s", g_strerror(-ret));
	for (guint i = 0; i < items->len; i++) {
		LimgBoltItem *it = items->pdata[i];
		gsize n;
		const char *v = g_bytes_get_data(it->value, &n);

		cr_assert(!it->is_bucket);
		g_ptr_array_add(kv, g_strdup_printf("%s=%.*s", it->key, (int)n, n ? v : ""));
	}
	g_ptr_array_sort(kv, cmp_strp);
	g_ptr_array_add(kv, NULL);
	return g_strjoinv(",", (char **)kv->pdata);
}

/* ctr's comma-separated labels, sorted (ctr prints them in map order). */
static char *
sorted_labels(const char *s)
{
	g_auto(GStrv) v = g_strsplit(s, ",", -1);

	qsort(v, g_strv_length(v), sizeof(*v), cmp_strp);
	return g_strjoinv(",", v);
}

/*
 * Every key and value below bucket @path, one "path/key=hex" line each,
 * sub-buckets to @depth levels: the first error, or 0. Sub-buckets whose
 * key holds a NUL cannot be named, and are only listed. A damaged file
 * can nest a bucket in itself, so the walk also stops (with 0) after
 * *@budget items.
 */
static int
walk(LimgBolt *db, GPtrArray *path, unsigned depth, unsigned *budget, GString *out)
{
	g_autoptr(GPtrArray) items = NULL;
	int ret;

	g_ptr_array_add(path, NULL);
	ret = limg_bolt_list(db, (const char *const *)path->pdata, &items);
	g_ptr_array_remove_index(path, path->len - 1);
	if (ret)
		return ret;
	for (guint i = 0; i < items->len && *budget; i++) {
		LimgBoltItem *it = items->pdata[i];
		g_autofree char *key = g_strescape(it->key, NULL);

		--*budget;
		for (guint j = 0; j < path->len; j++)
			g_string_append_printf(out, "%s/", (char *)path->pdata[j]);
		g_string_append(out, key);
		if (it->is_bucket) {
			g_string_append_printf(out, "/ seq %" PRIu64 "\n", it->sequence);
			if (depth == 0 || strlen(it->key) != it->key_len)
				continue;
			g_ptr_array_add(path, it->key);
			ret = walk(db, path, depth - 1, budget, out);
			g_ptr_array_remove_index(path, path->len - 1);
			if (ret)
				return ret;
		} else {
			gsize n;
			const uint8_t *v = g_bytes_get_data(it->value, &n);

			g_string_append_c(out, '=');
			for (gsize j = 0; j < n; j++)
				g_string_append_printf(out, "%02x", v[j]);
			g_string_append_c(out, '\n');
		}
	}
	return 0;
}

/* Open @data and walk all of it: 0 and the walk in *@out, or the error. */
static int
open_and_walk(const uint8_t *data, size_t len, char **out)
{
	g_autoptr(LimgBolt) db = NULL;
	g_autoptr(GPtrArray) path = g_ptr_array_new();
	g_autoptr(GString) s = g_string_new(NULL);
	unsigned budget = 20000;
	int ret = open_mem(data, len, &db);

	if (ret == 0)
		ret = walk(db, path, 12, &budget, s);
	if (out)
		*out = ret == 0 ? g_strdup(s->str) : NULL;
	return ret;
}

static const char *const IMAGES[] = { "v1", "default", "images", NULL };
static const char *const BLOBS[] = { "v1", "default", "content", "blob", NULL };
static const char *const SNAPSHOTS[] = { "v1", "default", "snapshots", "overlayfs", NULL };
static const char *const LEASE_LABELS[] = { "v1", "default", "leases", "limg-lease", "labels", NULL };

/* ------------------------------------------------------------ containerd's meta.db */

Test(bolt, opens_containerd_meta_db)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	g_autoptr(GPtrArray) root = NULL;
	LimgBoltItem *it;

	cr_expect_eq(limg_bolt_page_size(db), 4096);
	cr_expect_gt(limg_bolt_txid(db), 2);
	cr_assert_eq(limg_bolt_list(db, NULL, &root), 0);
	cr_assert_eq(root->len, 1);
	it = root->pdata[0];
	cr_expect_str_eq(it->key, "v1");
	cr_expect_eq(it->key_len, 2);
	cr_expect(it->is_bucket);
	cr_expect_null(it->value);
}

Test(bolt, images_are_what_ctr_images_ls_listed)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	g_autoptr(GPtrArray) want = expected_rows("images-ls.txt", " ", true);
	g_autoptr(GPtrArray) blobs = expected_rows("blobs.txt", " ", false);
	g_autoptr(GPtrArray) items = NULL;

	cr_assert_eq(limg_bolt_list(db, IMAGES, &items), 0);
	cr_assert_eq(items->len, want->len, "%u images, ctr listed %u", items->len, want->len);
	cr_assert_eq(want->len, 3);
	/* ctr lists them in key order too. */
	for (guint i = 0; i < items->len; i++) {
		LimgBoltItem *it = items->pdata[i];
		char **w = want->pdata[i];
		const char *target[] = { "v1", "default", "images", it->key, "target", NULL };
		const char *blob[] = { "v1", "default", "content", "blob", w[2], NULL };
		g_autofree char *digest = get_str(db, target, "digest");
		g_autofree char *type = get_str(db, target, "mediatype");
		const char *size = expected_value(blobs, w[2]);

		cr_expect_str_eq(it->key, w[0]);
		cr_expect(it->is_bucket, "%s: not a bucket", it->key);
		cr_expect_str_eq(digest, w[2], "%s: digest", it->key);
		cr_expect_str_eq(type, w[1], "%s: media type", it->key);
		cr_assert_not_null(size, "%s: no blob %s", it->key, w[2]);
		cr_expect_eq(get_varint(db, target, "size"), g_ascii_strtoll(size, NULL, 10),
		             "%s: size", it->key);
		cr_expect_eq(limg_bolt_bucket(db, blob, NULL), 0, "%s: its manifest is not in content",
		             it->key);
	}
}

Test(bolt, image_annotations_and_times)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	const char *img[] = { "v1", "default", "images", "localhost/limg-bolt:alias", NULL };
	const char *ann[] = { "v1", "default", "images", "localhost/limg-bolt:alias", "annotations",
		              NULL };
	g_autofree char *name = get_str(db, ann, "io.containerd.image.name");
	g_autoptr(GBytes) created = NULL;
	char *s = (char *)"unset";
	gsize n;

	/* A tag keeps the annotations of the image it was made from. */
	cr_expect_str_eq(name, "localhost/limg-bolt:1");
	/* Go's time.MarshalBinary: version 1, seconds, nanoseconds, zone. */
	cr_assert_eq(limg_bolt_get(db, img, "createdat", &created), 0);
	cr_assert_eq(g_bytes_get_size(created), 15);
	cr_expect_eq(((const uint8_t *)g_bytes_get_data(created, &n))[0], 1);
	cr_expect_eq(limg_bolt_get_string(db, img, "createdat", &s), -EILSEQ);
	cr_expect_null(s);
}

Test(bolt, content_blobs_are_what_ctr_content_ls_listed)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	g_autoptr(GPtrArray) want = expected_rows("content-ls.txt", "\t", true);
	g_autoptr(GPtrArray) blobs = expected_rows("blobs.txt", " ", false);
	g_autoptr(GPtrArray) items = NULL;

	cr_assert_eq(limg_bolt_list(db, BLOBS, &items), 0);
	cr_assert_eq(items->len, want->len);
	cr_assert_eq(items->len, blobs->len);
	cr_assert_eq(items->len, 6);
	for (guint i = 0; i < items->len; i++) {
		LimgBoltItem *it = items->pdata[i];
		char **w = want->pdata[i];
		const char *blob[] = { "v1", "default", "content", "blob", it->key, NULL };
		const char *labels[] = { "v1", "default", "content", "blob", it->key, "labels", NULL };
		g_autofree char *got = labels_of(db, labels);
		g_autofree char *exp = sorted_labels(w[3]);

		cr_expect_str_eq(it->key, w[0]);
		cr_expect_str_eq(it->key, ((char **)blobs->pdata[i])[0]);
		cr_expect_eq(get_varint(db, blob, "size"),
		             g_ascii_strtoll(((char **)blobs->pdata[i])[1], NULL, 10), "%s: size",
		             it->key);
		cr_expect_str_eq(got, exp, "%s: labels", it->key);
	}
}

Test(bolt, layer_blobs_are_uncompressed_diff_ids)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	g_autoptr(GPtrArray) digests = expected_rows("digests.txt", " ", false);
	const char *names[] = { "base", "top" };

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		const char *d = expected_value(digests, names[i]);
		const char *labels[] = { "v1", "default", "content", "blob", d, "labels", NULL };
		g_autofree char *u = get_str(db, labels, "containerd.io/uncompressed");

		cr_expect_str_eq(u, d);
	}
}

Test(bolt, snapshots_are_what_ctr_snapshots_ls_listed)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	g_autoptr(GPtrArray) want = expected_rows("snapshots-ls.txt", " ", true);
	g_autoptr(GPtrArray) items = NULL;
	uint64_t seq = 0;

	cr_assert_eq(limg_bolt_list(db, SNAPSHOTS, &items), 0);
	cr_assert_eq(items->len, want->len);
	cr_assert_eq(limg_bolt_bucket(db, SNAPSHOTS, &seq), 0);
	for (guint i = 0; i < items->len; i++) {
		LimgBoltItem *it = items->pdata[i];
		char **w = want->pdata[i];
		bool has_parent = g_strv_length(w) == 3;
		const char *snap[] = { "v1", "default", "snapshots", "overlayfs", it->key, NULL };
		g_autofree char *name = get_str(db, snap, "name");
		g_autofree char *suffix = g_strconcat("/", it->key, NULL);
		char *parent = NULL;
		int ret = limg_bolt_get_string(db, snap, "parent", &parent);
		uint64_t n;

		cr_expect_str_eq(it->key, w[0]);
		cr_expect_str_eq(w[has_parent ? 2 : 1], "Committed");
		if (has_parent) {
			cr_expect_eq(ret, 0);
			cr_expect_str_eq(parent, w[1]);
		} else {
			cr_expect_eq(ret, -ENOENT);
		}
		g_free(parent);
		/* "default/<N>/<key>", N from the bucket's sequence. */
		cr_expect(g_str_has_prefix(name, "default/") && g_str_has_suffix(name, suffix),
		          "name %s", name);
		n = g_ascii_strtoull(name + strlen("default/"), NULL, 10);
		cr_expect(n >= 1 && n <= seq, "name %s, sequence %" PRIu64, name, seq);
	}
}

/*
 * Where a layer is: chain id -> meta.db name -> snapshots.db id -> the
 * directory snapshots/<id>. The chain ids are those of the OCI rule.
 */
Test(bolt, snapshot_directories_come_from_the_snapshotter_db)
{
	g_autoptr(LimgBolt) meta = open_fixture("meta.db");
	g_autoptr(LimgBolt) sn = open_fixture("snapshots.db");
	g_autoptr(GPtrArray) digests = expected_rows("digests.txt", " ", false);
	g_autoptr(GPtrArray) dirs = expected_rows("snapshot-dirs.txt", " ", false);
	const char *base = expected_value(digests, "base");
	const char *top = expected_value(digests, "top");
	g_autofree char *chain_in = g_strdup_printf("%s %s", base, top);
	g_autofree char *chain_hex = th_sha256_hex(chain_in);
	g_autofree char *chain = g_strconcat("sha256:", chain_hex, NULL);
	const char *keys[] = { base, chain };
	const char *files[] = { "./etc/hello", "./etc/limg/top.txt" };
	const char *snaps[] = { "v1", "snapshots", NULL };
	uint64_t seq = 0, max_id = 0;

	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		const char *snap[] = { "v1", "default", "snapshots", "overlayfs", keys[i], NULL };
		g_autofree char *name = get_str(meta, snap, "name");
		const char *backend[] = { "v1", "snapshots", name, NULL };
		g_autoptr(GBytes) id_bytes = NULL;
		g_autoptr(GBytes) kind = NULL;
		g_autofree char *id = NULL;
		uint64_t n = 0;
		const char *in_dir;

		cr_assert_eq(limg_bolt_get(sn, backend, "id", &id_bytes), 0, "%s", name);
		cr_assert_eq(limg_bolt_uvarint(id_bytes, &n), 0);
		max_id = MAX(max_id, n);
		id = g_strdup_printf("%" PRIu64, n);
		in_dir = expected_value(dirs, id);
		cr_assert_not_null(in_dir, "%s: no directory %s", keys[i], id);
		cr_expect_str_eq(in_dir, files[i], "%s: directory %s", keys[i], id);
		cr_assert_eq(limg_bolt_get(sn, backend, "kind", &kind), 0);
		cr_expect_eq(g_bytes_get_size(kind), 1);
		cr_expect_eq(*(const uint8_t *)g_bytes_get_data(kind, NULL), 3, "kind: committed");
	}
	cr_assert_eq(limg_bolt_bucket(sn, snaps, &seq), 0);
	cr_expect_eq(seq, max_id, "the ids come from the bucket's sequence");
}

Test(bolt, snapshot_parents_and_children)
{
	g_autoptr(LimgBolt) meta = open_fixture("meta.db");
	g_autoptr(LimgBolt) sn = open_fixture("snapshots.db");
	g_autoptr(GPtrArray) digests = expected_rows("digests.txt", " ", false);
	const char *base = expected_value(digests, "base");
	const char *children[] = { "v1", "default", "snapshots", "overlayfs", base, "children", NULL };
	const char *parents[] = { "v1", "parents", NULL };
	g_autoptr(GPtrArray) kids = NULL;
	g_autoptr(GPtrArray) links = NULL;
	LimgBoltItem *it;

	cr_assert_eq(limg_bolt_list(meta, children, &kids), 0);
	cr_assert_eq(kids->len, 1);
	it = kids->pdata[0];
	cr_expect(g_str_has_prefix(it->key, "sha256:"));
	cr_expect_eq(g_bytes_get_size(it->value), 0);

	/* Keys with a NUL byte: uvarint parent id, 0, uvarint child id. */
	cr_assert_eq(limg_bolt_list(sn, parents, &links), 0);
	cr_assert_eq(links->len, 1);
	it = links->pdata[0];
	cr_expect_eq(it->key_len, 3);
	cr_expect_eq(memcmp(it->key, "\x01\x00\x02", 4), 0);
	{
		gsize n;
		const char *v = g_bytes_get_data(it->value, &n);
		g_autofree char *child = g_strndup(v, n);
		const char *backend[] = { "v1", "snapshots", child, NULL };

		/* The child's name, a bucket of v1/snapshots/. */
		cr_expect(g_str_has_prefix(child, "default/"), "%s", child);
		cr_expect_eq(limg_bolt_bucket(sn, backend, NULL), 0, "%s", child);
	}
}

Test(bolt, namespaces_leases_and_version)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	g_autoptr(GPtrArray) ns = expected_rows("namespaces-ls.txt", " ", true);
	g_autoptr(GPtrArray) leases = expected_rows("leases-ls.txt", " ", true);
	const char *v1[] = { "v1", NULL };
	const char *empty_labels[] = { "v1", "limg-empty", "labels", NULL };
	const char *lease_list[] = { "v1", "default", "leases", NULL };
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GPtrArray) empty = NULL;
	g_autoptr(GPtrArray) ls = NULL;
	g_autofree char *got = NULL;
	g_autofree char *exp = NULL;
	guint nbuckets = 0;

	/* v1: the namespaces (buckets) and the schema version (a value). */
	cr_assert_eq(limg_bolt_list(db, v1, &items), 0);
	for (guint i = 0; i < items->len; i++) {
		LimgBoltItem *it = items->pdata[i];

		if (!it->is_bucket) {
			cr_expect_str_eq(it->key, "version");
			continue;
		}
		cr_assert_lt(nbuckets, ns->len);
		cr_expect_str_eq(it->key, ((char **)ns->pdata[nbuckets])[0]);
		nbuckets++;
	}
	cr_expect_eq(nbuckets, ns->len);
	cr_expect_eq(get_varint(db, v1, "version"), 3);
	cr_assert_eq(limg_bolt_list(db, empty_labels, &empty), 0);
	cr_expect_eq(empty->len, 0);

	/* The lease: its labels bucket is larger than a page (a branch page). */
	cr_assert_eq(leases->len, 1);
	cr_assert_eq(limg_bolt_list(db, lease_list, &ls), 0);
	cr_assert_eq(ls->len, 1);
	cr_expect_str_eq(((LimgBoltItem *)ls->pdata[0])->key, ((char **)leases->pdata[0])[0]);
	got = labels_of(db, LEASE_LABELS);
	exp = sorted_labels(((char **)leases->pdata[0])[2]);
	cr_expect_str_eq(got, exp);
	/* Keys, values and a 16-byte element header each: more than a page. */
	{
		g_auto(GStrv) kv = g_strsplit(got, ",", -1);
		size_t n = g_strv_length(kv);

		cr_expect_gt(n, 70);
		cr_expect_gt(strlen(got) - (n - 1) - n + 16 * n, 4096, "the labels fit in a page");
	}
}

Test(bolt, missing_keys_and_wrong_kinds)
{
	g_autoptr(LimgBolt) db = open_fixture("meta.db");
	const char *no_ns[] = { "v1", "nonexistent", "images", NULL };
	const char *through_value[] = { "v1", "version", "x", NULL };
	const char *target[] = { "v1", "default", "images", "localhost/limg-bolt:1", "target", NULL };
	g_autoptr(GBytes) v = NULL;
	g_autoptr(GPtrArray) items = NULL;
	char *s = NULL;
	uint64_t seq = 1;

	cr_expect_eq(limg_bolt_get(db, IMAGES, "localhost/nothing:1", &v), -ENOENT);
	cr_expect_null(v);
	cr_expect_eq(limg_bolt_get(db, no_ns, "x", &v), -ENOENT);
	cr_expect_eq(limg_bolt_list(db, no_ns, &items), -ENOENT);
	cr_expect_null(items);
	cr_expect_eq(limg_bolt_bucket(db, no_ns, &seq), -ENOENT);
	cr_expect_eq(seq, 1);
	cr_expect_eq(limg_bolt_get(db, through_value, "x", &v), -ENOTDIR);
	cr_expect_eq(limg_bolt_list(db, through_value, &items), -ENOTDIR);
	cr_expect_eq(limg_bolt_get(db, IMAGES, "localhost/limg-bolt:1", &v), -EISDIR);
	cr_expect_eq(limg_bolt_get_string(db, target, "digestx", &s), -ENOENT);
	cr_expect_eq(limg_bolt_get_string(db, target, "digest", &s), 0);
	cr_expect(g_str_has_prefix(s, "sha256:"));
	g_free(s);
	/* Prefixes and extensions of keys that exist are other keys. */
	cr_expect_eq(limg_bolt_get(db, target, "diges", &v), -ENOENT);
	cr_expect_eq(limg_bolt_get(db, target, "", &v), -ENOENT);
}

/* Freed pages hold older copies (an unpacking's extract-... key): never seen. */
Test(bolt, freed_pages_are_never_seen)
{
	const char *names[] = { "meta.db", "snapshots.db" };
	bool stale = false;

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		size_t len;
		g_autofree uint8_t *data = fixture(names[i], &len);
		g_autofree char *all = NULL;

		stale |= memmem(data, len, "extract-", 8) != NULL;
		cr_assert_eq(open_and_walk(data, len, &all), 0, "%s", names[i]);
		cr_expect_null(strstr(all, "extract-"), "%s", names[i]);
	}
	cr_expect(stale, "the fixtures have no stale extract- key left to hide");
}

Test(bolt, open_reads_files_only)
{
	g_autofree char *dir = th_tmpdir();
	g_autofree char *path = th_data_path("tests/data/bolt/meta.db");
	g_autofree char *link = g_build_filename(dir, "link.db", NULL);
	g_autofree char *empty = g_build_filename(dir, "empty.db", NULL);
	g_autofree char *missing = g_build_filename(dir, "missing.db", NULL);
	g_autofree char *fifo = g_build_filename(dir, "fifo.db", NULL);
	LimgBolt *db = (LimgBolt *)&db;   /* not NULL: a failed open must reset it */
	int dfd;

	cr_assert_eq(symlink(path, link), 0);
	th_write(dir, "empty.db", "", 0);
	cr_expect_eq(limg_bolt_open(link, &db), -ELOOP);
	cr_expect_null(db);
	cr_expect_eq(limg_bolt_open(dir, &db), -EINVAL);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_expect_eq(limg_bolt_open(fifo, &db), -EINVAL);
	cr_expect_eq(limg_bolt_open(empty, &db), -EBADMSG);
	cr_expect_eq(limg_bolt_open(missing, &db), -ENOENT);
	dfd = open(th_srcdir(), O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	cr_expect_eq(limg_bolt_openat(dfd, "tests/data/bolt/snapshots.db", &db), 0);
	cr_expect_not_null(db);
	limg_bolt_close(db);
	limg_bolt_close(NULL);
	close(dfd);
	th_rmtree(dir);
}

/* ------------------------------------------------------------ varints */

/* The bytes @hex spells. Caller unrefs. */
static GBytes *
hex_bytes(const char *hex)
{
	gsize n = strlen(hex) / 2;
	uint8_t *b = g_malloc(n + 1);

	for (gsize i = 0; i < n; i++)
		b[i] = (uint8_t)((g_ascii_xdigit_value(hex[2 * i]) << 4) |
		                 g_ascii_xdigit_value(hex[2 * i + 1]));
	return g_bytes_new_take(b, n);
}

static int
uvar(const char *hex, uint64_t *out)
{
	g_autoptr(GBytes) v = hex_bytes(hex);

	return limg_bolt_uvarint(v, out);
}

static int
svar(const char *hex, int64_t *out)
{
	g_autoptr(GBytes) v = hex_bytes(hex);

	return limg_bolt_varint(v, out);
}

Test(bolt, go_varints)
{
	static const struct {
		const char *hex;
		int64_t v;
	} s[] = {
		{ "00", 0 }, { "01", -1 }, { "02", 1 }, { "7e", 63 }, { "7f", -64 },
		{ "8001", 64 }, { "a206", 401 }, { "80a001", 10240 },
		{ "feffffffffffffffff01", INT64_MAX }, { "ffffffffffffffffff01", INT64_MIN },
	};
	static const char *const bad[] = {
		"", "80", "ff", "0000", "8000ff", "ffffffffffffffffff02", "ffffffffffffffffffff01",
		"8080808080808080808001",
	};
	uint64_t u = 0;
	int64_t v = 0;

	for (size_t i = 0; i < G_N_ELEMENTS(s); i++) {
		cr_expect_eq(svar(s[i].hex, &v), 0, "%s", s[i].hex);
		cr_expect_eq(v, s[i].v, "%s: %" PRId64, s[i].hex, v);
	}
	cr_expect_eq(uvar("ffffffffffffffffff01", &u), 0);
	cr_expect_eq(u, UINT64_MAX);
	cr_expect_eq(uvar("01", &u), 0);
	cr_expect_eq(u, 1);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		cr_expect_eq(uvar(bad[i], &u), -EBADMSG, "%s", bad[i]);
		cr_expect_eq(svar(bad[i], &v), -EBADMSG, "%s", bad[i]);
	}
	cr_expect_eq(limg_bolt_uvarint(NULL, &u), -EBADMSG);
}

/* ------------------------------------------------------------ databases written here */

/*
 * A database of @npages pages of @ps bytes, written from the format.
 * Pages 0 and 1 are metas (txid 2 and 3 by default, both valid), page 2
 * an empty freelist; the caller writes the rest.
 */
typedef struct {
	uint8_t *buf;
	uint32_t ps;
	uint64_t npages;
} Db;

typedef struct {
	uint32_t flags;            /* 1: bucket */
	const char *key;
	const void *val;
	size_t vlen;
} El;

#define VAL(s) (s), (sizeof(s) - 1)

static uint8_t *
db_page(Db *d, uint64_t pgid)
{
	cr_assert_lt(pgid, d->npages);
	return d->buf + pgid * d->ps;
}

static void
db_meta(Db *d, unsigned idx, uint64_t root, uint64_t freelist, uint64_t npages, uint64_t txid)
{
	uint8_t *p = d->buf + (size_t)idx * d->ps;
	uint8_t *m = p + 16;

	memset(p, 0, 16 + 64);
	wr64(p, idx);
	wr16(p + 8, 0x04);
	wr32(m, 0xED0CDAEDu);
	wr32(m + 4, 2);
	wr32(m + 8, d->ps);
	wr32(m + 12, 0);
	wr64(m + 16, root);
	wr64(m + 24, 0);
	wr64(m + 32, freelist);
	wr64(m + 40, npages);
	wr64(m + 48, txid);
	wr64(m + 56, fnv(m, 56));
}

static Db *
db_new(uint32_t ps, uint64_t npages, uint64_t root)
{
	Db *d = g_new0(Db, 1);

	d->ps = ps;
	d->npages = npages;
	d->buf = g_malloc0((size_t)ps * npages);
	db_meta(d, 0, root, 2, npages, 2);
	db_meta(d, 1, root, 2, npages, 3);
	wr64(db_page(d, 2), 2);
	wr16(db_page(d, 2) + 8, 0x10);
	return d;
}

static void
db_free(Db *d)
{
	g_free(d->buf);
	g_free(d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Db, db_free)

/* A leaf page at @p (@cap bytes) with elements @els: bytes used. */
static size_t
put_leaf(uint8_t *p, size_t cap, uint64_t id, const El *els, size_t n)
{
	size_t data = 16 + 16 * n;

	cr_assert_leq(data, cap);
	memset(p, 0, 16);
	wr64(p, id);
	wr16(p + 8, 0x02);
	wr16(p + 10, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = p + 16 + 16 * i;
		size_t klen = strlen(els[i].key);

		cr_assert_leq(data + klen + els[i].vlen, cap);
		wr32(e, els[i].flags);
		wr32(e + 4, (uint32_t)(data - (16 + 16 * i)));
		wr32(e + 8, (uint32_t)klen);
		wr32(e + 12, (uint32_t)els[i].vlen);
		memcpy(p + data, els[i].key, klen);
		if (els[i].vlen)
			memcpy(p + data + klen, els[i].val, els[i].vlen);
		data += klen + els[i].vlen;
	}
	return data;
}

static void
db_leaf(Db *d, uint64_t pgid, const El *els, size_t n)
{
	put_leaf(db_page(d, pgid), d->ps, pgid, els, n);
}

static void
db_branch(Db *d, uint64_t pgid, const char *const *keys, const uint64_t *kids, size_t n)
{
	uint8_t *p = db_page(d, pgid);
	size_t data = 16 + 16 * n;

	memset(p, 0, 16);
	wr64(p, pgid);
	wr16(p + 8, 0x01);
	wr16(p + 10, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = p + 16 + 16 * i;
		size_t klen = strlen(keys[i]);

		cr_assert_leq(data + klen, d->ps);
		wr32(e, (uint32_t)(data - (16 + 16 * i)));
		wr32(e + 4, (uint32_t)klen);
		wr64(e + 8, kids[i]);
		memcpy(p + data, keys[i], klen);
		data += klen;
	}
}

/* A bucket value: {root, sequence} and, for root 0, an inline leaf of @els. */
static uint8_t *
bucket_val(uint64_t root, uint64_t seq, const El *els, size_t n, size_t *len)
{
	uint8_t *v = g_malloc0(4096);

	wr64(v, root);
	wr64(v + 8, seq);
	*len = 16;
	if (root == 0)
		*len += put_leaf(v + 16, 4096 - 16, 0, els, n);
	return v;
}

static int
db_open(Db *d, LimgBolt **db)
{
	return open_mem(d->buf, (size_t)d->ps * d->npages, db);
}

/*
 * The small database of these tests (page size @ps):
 *   3  root leaf: big/ (page 4, sequence 7), empty/ (inline, no keys),
 *      in/ (inline: k1=v1, k2=v2), val=plain
 *   4  branch: "a" -> 5, "m" -> 6
 *   5  leaf: a=1, b=2, c/ (inline: x=y)
 *   6  leaf: m=13, n=14, z=26
 */
static Db *
small_db(uint32_t ps)
{
	Db *d = db_new(ps, 8, 3);
	const El in_els[] = { { 0, "k1", VAL("v1") }, { 0, "k2", VAL("v2") } };
	const El c_els[] = { { 0, "x", VAL("y") } };
	size_t big_len, empty_len, in_len, c_len;
	g_autofree uint8_t *big = bucket_val(4, 7, NULL, 0, &big_len);
	g_autofree uint8_t *empty = bucket_val(0, 0, NULL, 0, &empty_len);
	g_autofree uint8_t *in = bucket_val(0, 5, in_els, 2, &in_len);
	g_autofree uint8_t *c = bucket_val(0, 0, c_els, 1, &c_len);
	const El root[] = {
		{ 1, "big", big, big_len }, { 1, "empty", empty, empty_len },
		{ 1, "in", in, in_len }, { 0, "val", VAL("plain") },
	};
	const El p5[] = { { 0, "a", VAL("1") }, { 0, "b", VAL("2") }, { 1, "c", c, c_len } };
	const El p6[] = { { 0, "m", VAL("13") }, { 0, "n", VAL("14") }, { 0, "z", VAL("26") } };
	const char *keys[] = { "a", "m" };
	const uint64_t kids[] = { 5, 6 };

	db_leaf(d, 3, root, G_N_ELEMENTS(root));
	db_branch(d, 4, keys, kids, 2);
	db_leaf(d, 5, p5, G_N_ELEMENTS(p5));
	db_leaf(d, 6, p6, G_N_ELEMENTS(p6));
	return d;
}

static const char *const BIG[] = { "big", NULL };

static void
expect_value(LimgBolt *db, const char *const *bucket, const char *key, const char *want)
{
	g_autofree char *s = NULL;
	int ret = limg_bolt_get_string(db, bucket, key, &s);

	if (!want) {
		cr_expect_eq(ret, -ENOENT, "%s: %s", key, g_strerror(-ret));
		return;
	}
	cr_expect_eq(ret, 0, "%s: %s", key, g_strerror(-ret));
	if (ret == 0)
		cr_expect_str_eq(s, want, "%s", key);
}

Test(bolt, lookups_through_a_branch_page)
{
	g_autoptr(Db) d = small_db(4096);
	g_autoptr(LimgBolt) db = NULL;
	const char *c[] = { "big", "c", NULL };
	g_autoptr(GBytes) v = NULL;

	cr_assert_eq(db_open(d, &db), 0);
	cr_expect_eq(limg_bolt_txid(db), 3);
	expect_value(db, BIG, "a", "1");
	expect_value(db, BIG, "b", "2");
	expect_value(db, BIG, "m", "13");
	expect_value(db, BIG, "n", "14");
	expect_value(db, BIG, "z", "26");
	/* Before the first key, between the children, after the last. */
	expect_value(db, BIG, "0", NULL);
	expect_value(db, BIG, "d", NULL);
	expect_value(db, BIG, "l", NULL);
	expect_value(db, BIG, "zz", NULL);
	expect_value(db, BIG, "aa", NULL);
	cr_expect_eq(limg_bolt_get(db, BIG, "c", &v), -EISDIR);
	expect_value(db, c, "x", "y");
	expect_value(db, NULL, "val", "plain");
}

Test(bolt, listing_and_inline_buckets)
{
	g_autoptr(Db) d = small_db(4096);
	g_autoptr(LimgBolt) db = NULL;
	g_autoptr(GPtrArray) root = NULL;
	g_autoptr(GPtrArray) big = NULL;
	g_autoptr(GPtrArray) empty = NULL;
	g_autoptr(GString) keys = g_string_new(NULL);
	const char *in[] = { "in", NULL };
	const char *e[] = { "empty", NULL };
	const char *val[] = { "val", NULL };
	uint64_t seq = 0;

	cr_assert_eq(db_open(d, &db), 0);
	cr_assert_eq(limg_bolt_list(db, NULL, &root), 0);
	cr_assert_eq(root->len, 4);
	cr_expect(((LimgBoltItem *)root->pdata[0])->is_bucket);
	cr_expect_eq(((LimgBoltItem *)root->pdata[0])->sequence, 7);
	cr_expect(((LimgBoltItem *)root->pdata[2])->is_bucket);
	cr_expect_eq(((LimgBoltItem *)root->pdata[2])->sequence, 5);
	cr_expect_not(((LimgBoltItem *)root->pdata[3])->is_bucket);
	cr_assert_eq(limg_bolt_list(db, BIG, &big), 0);
	for (guint i = 0; i < big->len; i++) {
		LimgBoltItem *it = big->pdata[i];

		g_string_append_printf(keys, "%s%s ", it->key, it->is_bucket ? "/" : "");
	}
	cr_expect_str_eq(keys->str, "a b c/ m n z ");
	cr_assert_eq(limg_bolt_list(db, e, &empty), 0);
	cr_expect_eq(empty->len, 0);
	cr_expect_eq(limg_bolt_bucket(db, in, &seq), 0);
	cr_expect_eq(seq, 5);
	expect_value(db, in, "k1", "v1");
	expect_value(db, in, "k2", "v2");
	expect_value(db, in, "k3", NULL);
	cr_expect_eq(limg_bolt_bucket(db, val, NULL), -ENOTDIR);
}

Test(bolt, no_freelist_and_small_pages)
{
	g_autoptr(Db) d = small_db(1024);
	g_autoptr(LimgBolt) db = NULL;
	g_autoptr(LimgBolt) db2 = NULL;

	db_meta(d, 1, 3, UINT64_MAX, d->npages, 3);
	cr_assert_eq(db_open(d, &db), 0);
	cr_expect_eq(limg_bolt_page_size(db), 1024);
	expect_value(db, BIG, "z", "26");
	/* Meta 0 damaged: meta 1 is found where its own page size says. */
	d->buf[16 + 3] ^= 0x40;
	cr_assert_eq(db_open(d, &db2), 0);
	cr_expect_eq(limg_bolt_txid(db2), 3);
	expect_value(db2, BIG, "n", "14");
}

Test(bolt, the_newest_valid_meta_wins)
{
	g_autoptr(Db) d = small_db(4096);
	g_autoptr(LimgBolt) a = NULL;
	g_autoptr(LimgBolt) b = NULL;

	db_meta(d, 0, 3, 2, d->npages, 6);
	db_meta(d, 1, 3, 2, d->npages, 5);
	cr_assert_eq(db_open(d, &a), 0);
	cr_expect_eq(limg_bolt_txid(a), 6);
	/* A meta whose txid is not of its page (bbolt writes txid T to page T % 2). */
	db_meta(d, 0, 3, 2, d->npages, 7);
	cr_assert_eq(db_open(d, &b), 0);
	cr_expect_eq(limg_bolt_txid(b), 5);
}

/* A chain of @depth pages from bucket "deep" to its leaf. */
static Db *
deep_db(unsigned depth)
{
	Db *d = db_new(4096, 4 + depth, 3);
	size_t vlen;
	g_autofree uint8_t *v = bucket_val(4, 0, NULL, 0, &vlen);
	const El root[] = { { 1, "deep", v, vlen } };
	const El leaf[] = { { 0, "a", VAL("bottom") } };
	const char *keys[] = { "a" };

	db_leaf(d, 3, root, 1);
	for (unsigned i = 0; i + 1 < depth; i++) {
		uint64_t kid = 5 + i;

		db_branch(d, 4 + i, keys, &kid, 1);
	}
	db_leaf(d, 3 + depth, leaf, 1);
	return d;
}

Test(bolt, depth_is_limited)
{
	const char *deep[] = { "deep", NULL };
	g_autoptr(Db) ok = deep_db(LIMG_BOLT_MAX_DEPTH);
	g_autoptr(Db) too = deep_db(LIMG_BOLT_MAX_DEPTH + 1);
	g_autoptr(LimgBolt) a = NULL;
	g_autoptr(LimgBolt) b = NULL;
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GPtrArray) none = NULL;
	g_autoptr(GBytes) v = NULL;

	cr_assert_eq(db_open(ok, &a), 0);
	expect_value(a, deep, "a", "bottom");
	cr_expect_eq(limg_bolt_list(a, deep, &items), 0);
	cr_assert_eq(db_open(too, &b), 0);
	cr_expect_eq(limg_bolt_get(b, deep, "a", &v), -EBADMSG);
	cr_expect_eq(limg_bolt_list(b, deep, &none), -EBADMSG);
	cr_expect_null(none);
}

/* Apply @damage to the small database; every call that reaches it is -EBADMSG. */
static void
expect_damage(const char *what, void (*damage)(Db *d))
{
	g_autoptr(Db) d = small_db(4096);
	g_autoptr(LimgBolt) db = NULL;
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GBytes) v = NULL;
	const char *keys[] = { "a", "b", "m", "n", "z", "0", "d", "zz" };
	int ret;

	damage(d);
	ret = db_open(d, &db);
	if (ret) {
		cr_expect_eq(ret, -EBADMSG, "%s: open: %s", what, g_strerror(-ret));
		return;
	}
	cr_expect_eq(limg_bolt_list(db, BIG, &items), -EBADMSG, "%s: list", what);
	cr_expect_null(items);
	ret = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(keys) && ret != -EBADMSG; i++) {
		ret = limg_bolt_get(db, BIG, keys[i], &v);
		g_clear_pointer(&v, g_bytes_unref);
	}
	cr_expect_eq(ret, -EBADMSG, "%s: some lookup", what);
	/* The rest of the database is still there. */
	expect_value(db, NULL, "val", "plain");
}

static void
kid_self(Db *d)
{
	wr64(db_page(d, 4) + 16 + 8, 4);
}

static void
kid_past_end(Db *d)
{
	wr64(db_page(d, 4) + 16 + 16 + 8, d->npages);
}

static void
kid_huge(Db *d)
{
	wr64(db_page(d, 4) + 16 + 8, UINT64_MAX);
}

static void
kid_meta(Db *d)
{
	wr64(db_page(d, 4) + 16 + 16 + 8, 1);
}

static void
kid_freelist(Db *d)
{
	wr64(db_page(d, 4) + 16 + 8, 2);
}

static void
two_page_cycle(Db *d)
{
	const char *keys[] = { "a" };
	const uint64_t to4 = 4;

	/* 4 -> 5 (a branch now) -> 4 */
	db_branch(d, 5, keys, &to4, 1);
}

static void
shared_child(Db *d)
{
	wr64(db_page(d, 4) + 16 + 16 + 8, 5);
}

static void
branch_count_huge(Db *d)
{
	wr16(db_page(d, 4) + 10, 0xffff);
}

static void
branch_count_zero(Db *d)
{
	wr16(db_page(d, 4) + 10, 0);
}

static void
leaf_count_huge(Db *d)
{
	wr16(db_page(d, 6) + 10, 0xffff);
}

static void
leaf_count_fills_page(Db *d)
{
	/* (4096 - 16) / 16 element headers fit; one more does not. */
	wr16(db_page(d, 6) + 10, 256);
}

static void
overflow_huge(Db *d)
{
	wr32(db_page(d, 6) + 12, 0xffffffffu);
}

static void
overflow_past_end(Db *d)
{
	wr32(db_page(d, 6) + 12, (uint32_t)(d->npages - 6));
}

static void
wrong_page_id(Db *d)
{
	wr64(db_page(d, 6), 5);
}

static void
unknown_page_type(Db *d)
{
	wr16(db_page(d, 6) + 8, 0x02 | 0x10);
}

static void
pos_huge(Db *d)
{
	wr32(db_page(d, 6) + 16 + 4, 0xfffffff0u);
}

static void
ksize_huge(Db *d)
{
	wr32(db_page(d, 6) + 16 + 16 + 8, 0xffffffffu);
}

static void
vsize_past_page(Db *d)
{
	/* The last value ("z"'s, at 48 + pos + 1 in the page) ends one byte past the page. */
	uint8_t *e = db_page(d, 6) + 16 + 32;
	uint32_t pos = rd16(e + 4);

	wr32(e + 12, d->ps - (48 + pos + 1) + 1);
}

static void
empty_key(Db *d)
{
	wr32(db_page(d, 6) + 16 + 8, 0);
}

static void
keys_unsorted(Db *d)
{
	uint8_t *p = db_page(d, 6);
	uint8_t *e0 = p + 16, *e2 = p + 48;
	/* Swap the keys "m" and "z" (both one byte). */
	uint8_t *k0 = e0 + rd16(e0 + 4), *k2 = e2 + rd16(e2 + 4);
	uint8_t t = *k0;

	*k0 = *k2;
	*k2 = t;
}

static void
leaves_out_of_order(Db *d)
{
	/* "a" -> 6 (m n z), "m" -> 5 (a b c): sorted within each page, not across. */
	wr64(db_page(d, 4) + 16 + 8, 6);
	wr64(db_page(d, 4) + 32 + 8, 5);
}

static void
unknown_leaf_flag(Db *d)
{
	wr32(db_page(d, 6) + 16, 0x04);
}

static void
bucket_value_short(Db *d)
{
	/* The root leaf's "big" value: 15 bytes instead of 16. */
	wr32(db_page(d, 3) + 16 + 12, 15);
}

static void
bucket_root_is_meta(Db *d)
{
	uint8_t *e = db_page(d, 3) + 16;

	wr64(e + rd16(e + 4) + 3, 1);
}

Test(bolt, damaged_pages_are_ebadmsg)
{
	static const struct {
		const char *what;
		void (*fn)(Db *d);
	} cases[] = {
		{ "child is its own page", kid_self },
		{ "child past the end", kid_past_end },
		{ "child UINT64_MAX", kid_huge },
		{ "child is a meta page", kid_meta },
		{ "child is the freelist", kid_freelist },
		{ "cycle of two pages", two_page_cycle },
		{ "one child twice", shared_child },
		{ "branch count 65535", branch_count_huge },
		{ "branch count 0", branch_count_zero },
		{ "leaf count 65535", leaf_count_huge },
		{ "leaf count one past the page", leaf_count_fills_page },
		{ "overflow 2^32-1", overflow_huge },
		{ "overflow past the end", overflow_past_end },
		{ "page id not its own", wrong_page_id },
		{ "unknown page type", unknown_page_type },
		{ "key position past the page", pos_huge },
		{ "key size 2^32-1", ksize_huge },
		{ "value past the page", vsize_past_page },
		{ "empty key", empty_key },
		{ "keys out of order", keys_unsorted },
		{ "leaves out of order", leaves_out_of_order },
		{ "unknown leaf flag", unknown_leaf_flag },
		{ "bucket value of 15 bytes", bucket_value_short },
		{ "bucket root is a meta page", bucket_root_is_meta },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		expect_damage(cases[i].what, cases[i].fn);
}

Test(bolt, damaged_inline_buckets_are_ebadmsg)
{
	const char *c[] = { "big", "c", NULL };
	const char *in[] = { "in", NULL };
	uint8_t *e, *v;

	for (int round = 0; round < 4; round++) {
		g_autoptr(Db) d = small_db(4096);
		g_autoptr(LimgBolt) db = NULL;
		g_autoptr(GPtrArray) items = NULL;
		g_autoptr(GBytes) x = NULL;

		/* big/c: the third element of page 5; its value follows the key "c". */
		e = db_page(d, 5) + 16 + 32;
		v = e + rd16(e + 4) + 1;
		switch (round) {
		case 0: wr16(v + 16 + 8, 0x01); break;               /* inline branch */
		case 1: wr16(v + 16 + 10, 0xffff); break;            /* huge count */
		case 2: wr32(e + 12, 16 + 15); break;                /* no room for a page header */
		case 3: wr32(v + 16 + 16 + 4, 0x7fffffffu); break;   /* key past the value */
		}
		cr_assert_eq(db_open(d, &db), 0);
		cr_expect_eq(limg_bolt_get(db, c, "x", &x), -EBADMSG, "round %d", round);
		cr_expect_eq(limg_bolt_list(db, c, &items), -EBADMSG, "round %d", round);
		cr_expect_eq(limg_bolt_bucket(db, c, NULL), -EBADMSG, "round %d", round);
		/* Listing big/ itself reads only c's header. */
		cr_expect_eq(limg_bolt_list(db, BIG, &items), 0, "round %d", round);
		expect_value(db, in, "k1", "v1");
	}
}

Test(bolt, shared_pages_do_not_multiply_work)
{
	/* Three levels of 200 children, all the same page: 8e6 paths, one page each. */
	g_autoptr(Db) d = db_new(4096, 8, 3);
	size_t vlen;
	g_autofree uint8_t *v = bucket_val(4, 0, NULL, 0, &vlen);
	const El root[] = { { 1, "dag", v, vlen } };
	const char *dag[] = { "dag", NULL };
	char names[200][8];
	const char *keys[200];
	uint64_t to5[200], to6[200];
	g_autoptr(LimgBolt) db = NULL;
	g_autoptr(GPtrArray) items = NULL;
	gint64 t0;

	for (int i = 0; i < 200; i++) {
		snprintf(names[i], sizeof(names[i]), "k%03d", i);
		keys[i] = names[i];
		to5[i] = 5;
		to6[i] = 6;
	}
	db_leaf(d, 3, root, 1);
	db_branch(d, 4, keys, to5, 200);
	db_branch(d, 5, keys, to6, 200);
	db_leaf(d, 6, NULL, 0);
	cr_assert_eq(db_open(d, &db), 0);
	t0 = g_get_monotonic_time();
	cr_expect_eq(limg_bolt_list(db, dag, &items), -EBADMSG);
	cr_expect_lt(g_get_monotonic_time() - t0, 2 * G_USEC_PER_SEC);
}

/* ------------------------------------------------------------ damaged meta pages */

Test(bolt, crafted_metas_are_ebadmsg)
{
	static const struct {
		const char *what;
		uint64_t root, freelist, npages;
	} cases[] = {
		{ "root past the high-water mark", 8, 2, 8 },
		{ "root is a meta page", 1, 2, 8 },
		{ "freelist past the high-water mark", 3, 9, 8 },
		{ "high-water mark past the file", 3, 2, 9 },
		{ "high-water mark 2^64-1", 3, 2, UINT64_MAX },
		{ "high-water mark 2", 3, 2, 2 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(Db) d = small_db(4096);
		LimgBolt *db = NULL;

		/* Both metas, checksums right. */
		db_meta(d, 0, cases[i].root, cases[i].freelist, cases[i].npages, 2);
		db_meta(d, 1, cases[i].root, cases[i].freelist, cases[i].npages, 3);
		cr_expect_eq(db_open(d, &db), -EBADMSG, "%s", cases[i].what);
		cr_expect_null(db);
	}
	for (int i = 0; i < 5; i++) {
		g_autoptr(Db) d = small_db(4096);
		LimgBolt *db = NULL;
		uint8_t *m0 = meta_at(d->buf, 4096, 0), *m1 = meta_at(d->buf, 4096, 1);

		switch (i) {
		case 0: wr32(m0 + 4, 3); wr32(m1 + 4, 1); break;          /* version */
		case 1: wr32(m0 + 8, 100); wr32(m1 + 8, 1u << 30); break; /* page size */
		case 2: m0[0] ^= 1; m1[0] ^= 1; break;                    /* magic */
		case 3: wr16(d->buf + 8, 0x02); wr16(d->buf + 4096 + 8, 0x02); break;
		case 4: wr64(d->buf, 1); wr64(d->buf + 4096, 0); break;   /* page ids */
		}
		if (i < 2) {
			meta_fix_sum(d->buf, 4096, 0);
			meta_fix_sum(d->buf, 4096, 1);
		}
		cr_expect_eq(db_open(d, &db), -EBADMSG, "meta case %d", i);
	}
}

/* ------------------------------------------------------------ damaged containerd files */

Test(bolt, truncated_files_are_ebadmsg)
{
	size_t len;
	g_autofree uint8_t *data = fixture("meta.db", &len);
	g_autofree char *full = NULL;
	g_autofree char *dir = th_tmpdir();
	uint64_t hw = MAX(rd64(meta_at(data, PS, 0) + 40), rd64(meta_at(data, PS, 1) + 40));
	size_t used = (size_t)hw * PS;
	const size_t cuts[] = { 0, 1, 15, 16, 79, 80, 95, 96, 4095, 4096, 4096 + 95, 8191, 8192,
		                12288, used / 2, used - PS, used - 1 };

	cr_assert_eq(open_and_walk(data, len, &full), 0);
	cr_assert_lt(used, len, "the fixture has no unused tail");
	for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
		g_autofree char *name = g_strdup_printf("cut-%zu.db", cuts[i]);
		g_autofree char *path = g_build_filename(dir, name, NULL);
		LimgBolt *db = NULL;

		cr_expect_eq(open_and_walk(data, cuts[i], NULL), -EBADMSG, "cut at %zu", cuts[i]);
		th_write(dir, name, data, cuts[i]);
		cr_expect_eq(limg_bolt_open(path, &db), -EBADMSG, "file cut at %zu", cuts[i]);
		cr_expect_null(db);
	}
	/* Cut at the high-water mark: nothing in use is lost. */
	{
		g_autofree char *cut = NULL;

		cr_expect_eq(open_and_walk(data, used, &cut), 0);
		cr_expect_str_eq(cut, full);
	}
	th_rmtree(dir);
}

Test(bolt, a_damaged_meta_falls_back_to_the_previous_commit)
{
	size_t len;
	g_autofree uint8_t *data = fixture("meta.db", &len);
	unsigned newest = meta_newest(data, PS);
	uint64_t old_txid = rd64(meta_at(data, PS, !newest) + 48);
	/* Bytes of the newest meta's fields: magic, page size, root, high-water, txid, checksum. */
	const size_t offs[] = { 0, 9, 17, 41, 49, 57, 63 };

	for (size_t i = 0; i < G_N_ELEMENTS(offs); i++) {
		g_autofree uint8_t *copy = g_memdup2(data, len);
		g_autoptr(LimgBolt) db = NULL;
		g_autofree char *all = NULL;
		g_autoptr(GPtrArray) images = NULL;

		meta_at(copy, PS, newest)[offs[i]] ^= 0x10;
		cr_assert_eq(open_mem(copy, len, &db), 0, "byte %zu", offs[i]);
		cr_expect_eq(limg_bolt_txid(db), old_txid);
		/* The previous commit is whole: bbolt never reuses its pages in the next one. */
		cr_expect_eq(open_and_walk(copy, len, &all), 0, "byte %zu", offs[i]);
		cr_expect_eq(limg_bolt_list(db, IMAGES, &images), 0);
		/* Both damaged: nothing left. */
		meta_at(copy, PS, !newest)[offs[i]] ^= 0x01;
		cr_expect_eq(open_and_walk(copy, len, NULL), -EBADMSG, "both, byte %zu", offs[i]);
	}
}

/* The root page of the meta in use. */
static uint64_t
root_page(const uint8_t *data)
{
	unsigned newest = meta_newest((uint8_t *)data, PS);

	return rd64(meta_at((uint8_t *)data, PS, newest) + 16);
}

Test(bolt, damaged_containerd_pages_are_ebadmsg)
{
	size_t len;
	g_autofree uint8_t *data = fixture("meta.db", &len);
	uint64_t hw = MAX(rd64(meta_at(data, PS, 0) + 40), rd64(meta_at(data, PS, 1) + 40));
	unsigned reached = 0;

	/* The root page: every lookup goes through it. */
	for (int round = 0; round < 3; round++) {
		g_autofree uint8_t *copy = g_memdup2(data, len);
		uint8_t *p = copy + root_page(data) * PS;
		g_autoptr(LimgBolt) db = NULL;
		g_autoptr(GPtrArray) items = NULL;

		switch (round) {
		case 0: wr16(p + 10, 0xffff); break;     /* count */
		case 1: wr64(p, hw); break;              /* its id */
		case 2: wr32(p + 12, 0xffffffffu); break; /* overflow */
		}
		cr_assert_eq(open_mem(copy, len, &db), 0);
		cr_expect_eq(limg_bolt_list(db, NULL, &items), -EBADMSG, "round %d", round);
		cr_expect_eq(limg_bolt_list(db, IMAGES, &items), -EBADMSG, "round %d", round);
	}

	/*
	 * The branch pages (the lease's labels): a child past the end, its
	 * own child (a cycle), a huge count. Stale branch pages in freed
	 * pages are not reached; at least one of them must be.
	 */
	for (uint64_t pg = 2; pg < hw; pg++) {
		uint8_t *p = data + pg * PS;
		bool live = false;

		if (rd64(p) != pg || rd16(p + 8) != 0x01)
			continue;
		for (int round = 0; round < 3; round++) {
			g_autofree uint8_t *copy = g_memdup2(data, len);
			uint8_t *q = copy + pg * PS;
			g_autoptr(LimgBolt) db = NULL;
			g_autoptr(GPtrArray) items = NULL;
			g_autoptr(GPtrArray) images = NULL;
			int ret;

			switch (round) {
			case 0: wr64(q + 16 + 8, hw); break;
			case 1: wr64(q + 16 + 8, pg); break;
			case 2: wr16(q + 10, 0xffff); break;
			}
			cr_assert_eq(open_mem(copy, len, &db), 0);
			ret = limg_bolt_list(db, LEASE_LABELS, &items);
			cr_expect(ret == 0 || ret == -EBADMSG, "page %" PRIu64 ": %d", pg, ret);
			if (ret == -EBADMSG) {
				live = true;
				/* The images do not go through it. */
				cr_expect_eq(limg_bolt_list(db, IMAGES, &images), 0);
			}
		}
		reached += live;
	}
	cr_expect_geq(reached, 1, "no branch page of the fixture is reached");
}

/*
 * Random damage to @data: bytes flipped in page headers, element headers
 * and anywhere in the pages in use, metas rewritten with random page ids
 * and a right checksum, random lengths. Whatever comes out is 0 or
 * -EBADMSG; counts both in @outcomes.
 */
static void
fuzz(const char *what, const uint8_t *data, size_t len, GRand *rnd, int iterations,
     unsigned outcomes[2])
{
	uint64_t hw = MAX(rd64(meta_at((uint8_t *)data, PS, 0) + 40),
	                  rd64(meta_at((uint8_t *)data, PS, 1) + 40));

	cr_assert_leq(hw * PS, len);
	for (int iter = 0; iter < iterations; iter++) {
		g_autofree uint8_t *copy = g_memdup2(data, len);
		size_t n = len;
		int flips = g_rand_int_range(rnd, 1, 9);
		int ret;

		for (int f = 0; f < flips; f++) {
			uint64_t pg = (uint64_t)g_rand_int_range(rnd, 2, (gint32)hw);
			size_t off;

			switch (g_rand_int_range(rnd, 0, 3)) {
			case 0: off = pg * PS + (size_t)g_rand_int_range(rnd, 0, 16); break;
			case 1: off = pg * PS + (size_t)g_rand_int_range(rnd, 16, 16 + 16 * 8); break;
			default: off = (size_t)g_rand_int_range(rnd, 0, (gint32)(hw * PS)); break;
			}
			copy[off] ^= (uint8_t)g_rand_int_range(rnd, 1, 256);
		}
		if (g_rand_int_range(rnd, 0, 4) == 0) {
			unsigned m = (unsigned)g_rand_int_range(rnd, 0, 2);
			uint8_t *f = meta_at(copy, PS, m);
			/* The root, freelist or high-water page: small, or huge. */
			static const size_t fields[] = { 16, 32, 40 };
			size_t field = fields[g_rand_int_range(rnd, 0, 3)];

			wr64(f + field, g_rand_boolean(rnd) ? (uint64_t)g_rand_int_range(rnd, 0, 64)
			                                      : UINT64_MAX - (uint64_t)g_rand_int_range(rnd, 0, 3));
			meta_fix_sum(copy, PS, m);
		}
		if (g_rand_int_range(rnd, 0, 8) == 0)
			n = (size_t)g_rand_int_range(rnd, 0, (gint32)len);
		ret = open_and_walk(copy, n, NULL);
		cr_expect(ret == 0 || ret == -EBADMSG, "%s, iteration %d: %d", what, iter, ret);
		outcomes[ret == 0]++;
	}
}

/*
 * LIMG_BOLT_FUZZ=N: N damaged copies of each database (default 300);
 * LIMG_BOLT_FUZZ_SEED=S: another seed.
 */
Test(bolt, random_damage_never_crashes)
{
	const char *env = getenv("LIMG_BOLT_FUZZ");
	const char *seed = getenv("LIMG_BOLT_FUZZ_SEED");
	int iterations = env ? atoi(env) : 300;
	g_autoptr(GRand) rnd = g_rand_new_with_seed(seed ? (guint32)strtoul(seed, NULL, 0) : 0x1b0172);
	g_autoptr(Db) small = small_db(4096);
	const char *names[] = { "meta.db", "snapshots.db" };
	unsigned outcomes[2] = { 0, 0 };

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		size_t len;
		g_autofree uint8_t *data = fixture(names[i], &len);

		fuzz(names[i], data, len, rnd, iterations, outcomes);
	}
	fuzz("small", small->buf, (size_t)small->ps * small->npages, rnd, iterations, outcomes);
	cr_log_info("random damage: %u readable, %u -EBADMSG", outcomes[1], outcomes[0]);
	cr_expect_gt(outcomes[0], 0);
	cr_expect_gt(outcomes[1], 0);
}
