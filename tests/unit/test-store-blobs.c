/*
 * test-store-blobs.c - the blob stores (store/store-oci.c,
 * store-archive.c, store-containerd.c over store-blobs.c): OCI image
 * layouts, docker-archive and oci-archive tars read in place, containerd
 * roots. Every store is made here, in a scratch directory: JSON written by
 * the test, tiny layer tars made with libarchive's writer, digests
 * computed, containerd's meta.db written by a small bbolt writer below.
 *
 * What is checked: the layers (LIMG_LAYER_TAR records whose byte range is
 * exactly the blob: read back and compared), images, tags, chain ids and
 * by-diff-id names through limg_store_list/lookup/meta; and that each bad
 * input (missing blob, digest mismatch, cycles, deep nesting, symlinks,
 * other digest algorithms, diff_ids count, unknown media types, foreign
 * platforms, truncated and compressed archives, duplicate members,
 * missing members, unreadable databases) is logged, naming the file or
 * blob, while everything else is still served.
 */
#include <config.h>

#include <fcntl.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "store/store.h"
#include "store/store-blobs-internal.h"
#include "lib/testlib.h"

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_TGZ "application/vnd.oci.image.layer.v1.tar+gzip"

static char *base;          /* scratch */
static char *source;        /* base/src: the store (a directory, or a file) */

static void
setup(void)
{
	base = th_tmpdir();
	source = g_build_filename(base, "src", NULL);
	th_mkdir(base, "src");
}

static void
teardown(void)
{
	th_rmtree(base);
	g_free(base);
	g_free(source);
}

TestSuite(store_blobs, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ the log */

static int saved_stderr = -1;

/* From now on the log (stderr) goes to a file. */
static void
log_begin(void)
{
	g_autofree char *path = g_build_filename(base, "log", NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0);
	fflush(stderr);
	saved_stderr = dup(2);
	cr_assert_eq(dup2(fd, 2), 2);
	close(fd);
}

/*
 * What was logged since log_begin() (stderr restored; echoed there too
 * with LIMG_TEST_SHOW_LOG=1). Caller frees.
 */
static char *
log_end(void)
{
	g_autofree char *path = g_build_filename(base, "log", NULL);
	char *log;

	fflush(stderr);
	cr_assert_eq(dup2(saved_stderr, 2), 2);
	close(saved_stderr);
	saved_stderr = -1;
	log = (char *)th_read(path, NULL);
	if (g_getenv("LIMG_TEST_SHOW_LOG"))
		fputs(log, stderr);
	return log;
}

/* Some line of @log holds @a and @b (NULL: anything). */
static bool
logged(const char *log, const char *a, const char *b)
{
	g_auto(GStrv) lines = g_strsplit(log, "\n", -1);

	for (guint i = 0; lines[i]; i++) {
		if (strstr(lines[i], a) && (!b || strstr(lines[i], b)))
			return true;
	}
	return false;
}

#define expect_logged(log, a, b) \
	cr_expect(logged(log, a, b), "a log line with \"%s\" and \"%s\"; the log:\n%s", a, \
	          (b) ? (const char *)(b) : "", log)

/* ------------------------------------------------------------ tars */

typedef struct {
	struct archive *a;
	GByteArray *out;
} TarW;

static la_ssize_t
tw_write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	g_byte_array_append(((TarW *)ctx)->out, buf, (guint)len);
	return (la_ssize_t)len;
}

/* A tar writer into memory (pax, so long names and sparse files work). */
static TarW *
tw_new(bool gzip)
{
	TarW *t = g_new0(TarW, 1);

	t->out = g_byte_array_new();
	t->a = archive_write_new();
	archive_write_set_format_pax_restricted(t->a);
	archive_write_set_bytes_in_last_block(t->a, 1);
	if (gzip)
		cr_assert_eq(archive_write_add_filter_gzip(t->a), ARCHIVE_OK);
	cr_assert_eq(archive_write_open2(t->a, t, NULL, tw_write_cb, NULL, NULL), ARCHIVE_OK);
	return t;
}

static void
tw_entry(TarW *t, const char *name, mode_t type, const void *data, size_t len,
         const char *link, bool hard)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(e, TB_DEFAULT_MTIME, 0);
	archive_entry_set_size(e, (la_int64_t)len);
	if (link && hard)
		archive_entry_set_hardlink(e, link);
	else if (link)
		archive_entry_set_symlink(e, link);
	cr_assert_geq(archive_write_header(t->a, e), ARCHIVE_WARN, "%s", archive_error_string(t->a));
	if (len)
		cr_assert_eq(archive_write_data(t->a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void
tw_file(TarW *t, const char *name, const void *data, size_t len)
{
	tw_entry(t, name, AE_IFREG, data, len, NULL, false);
}

/* A sparse member: a hole, then @len bytes of @data. */
static void
tw_sparse(TarW *t, const char *name, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)(65536 + len));
	archive_entry_sparse_add_entry(e, 65536, (la_int64_t)len);
	cr_assert_geq(archive_write_header(t->a, e), ARCHIVE_WARN, "%s", archive_error_string(t->a));
	cr_assert_eq(archive_write_data(t->a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* Finish: the bytes (caller unrefs). */
static GBytes *
tw_finish(TarW *t)
{
	GBytes *b;

	cr_assert_eq(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	b = g_byte_array_free_to_bytes(t->out);
	g_free(t);
	return b;
}

/* A layer tar holding etc/@name = "@name\n" (gzip'd with @gzip); its diff id hex. */
static GBytes *
layer_tar(const char *name, bool gzip, char **diff_hex)
{
	g_autofree char *path = g_strdup_printf("etc/%s", name);
	g_autofree char *text = g_strdup_printf("%s\n", name);
	TarW *plain = tw_new(false), *t = gzip ? tw_new(true) : NULL;
	g_autoptr(GBytes) p = NULL;

	tw_file(plain, path, text, strlen(text));
	p = tw_finish(plain);
	*diff_hex = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, p);
	if (!t)
		return g_steal_pointer(&p);
	tw_file(t, path, text, strlen(text));
	return tw_finish(t);
}

/* ------------------------------------------------------------ OCI layouts */

/* A blob of an OCI layout in @dir (blobs/sha256/<hex>): its hex digest. */
static char *
put_blob(const char *dir, const void *data, size_t len)
{
	char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
	g_autofree char *rel = g_strdup_printf("blobs/sha256/%s", hex);

	th_write(dir, rel, data, len);
	return hex;
}

static char *
put_text(const char *dir, const char *text, size_t *size)
{
	*size = strlen(text);
	return put_blob(dir, text, *size);
}

typedef struct {
	const char *mt;       /* layer media type */
	char *hex;            /* blob */
	size_t size;
	char *diff;           /* diff id hex */
	GBytes *bytes;
} TLayer;

typedef struct {
	char *config;         /* hex */
	size_t config_size;
	char *manifest;       /* hex */
	size_t manifest_size;
	const char *manifest_mt;
} TImage;

static void
tlayer_clear(TLayer *l)
{
	g_free(l->hex);
	g_free(l->diff);
	g_bytes_unref(l->bytes);
}

static void
timage_clear(TImage *im)
{
	g_free(im->config);
	g_free(im->manifest);
}

/* Layer blob @name (gzip'd with @gzip) in layout @dir. */
static TLayer
mk_layer(const char *dir, const char *name, bool gzip)
{
	TLayer l = { .mt = gzip ? MT_TGZ : MT_TAR };
	gsize len;
	const void *data;

	l.bytes = layer_tar(name, gzip, &l.diff);
	data = g_bytes_get_data(l.bytes, &len);
	l.hex = put_blob(dir, data, len);
	l.size = len;
	return l;
}

/* A config of @diffs (hex, NULL-terminated; @label makes it unique). Caller frees. */
static char *
config_json(const char *label, const char *const *diffs)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s, "{\"architecture\":\"amd64\",\"os\":\"linux\","
	                       "\"config\":{\"Labels\":{\"test\":\"%s\"}},"
	                       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[", label);
	for (guint i = 0; diffs[i]; i++)
		g_string_append_printf(s, "%s\"sha256:%s\"", i ? "," : "", diffs[i]);
	g_string_append(s, "]}}");
	return g_string_free(s, FALSE);
}

/* A manifest of config @chex and @n layers. Caller frees. */
static char *
manifest_json(const char *chex, size_t csize, const TLayer *layers, guint n)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s, "{\"schemaVersion\":2,\"mediaType\":\"" MT_MANIFEST "\","
	                       "\"config\":{\"mediaType\":\"" MT_CONFIG "\",\"digest\":"
	                       "\"sha256:%s\",\"size\":%zu},\"layers\":[", chex, csize);
	for (guint i = 0; i < n; i++)
		g_string_append_printf(s, "%s{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\","
		                       "\"size\":%zu}", i ? "," : "", layers[i].mt, layers[i].hex,
		                       layers[i].size);
	g_string_append(s, "]}");
	return g_string_free(s, FALSE);
}

/* Config and manifest of an image of @layers in layout @dir. */
static TImage
mk_image(const char *dir, const char *label, const TLayer *layers, guint n)
{
	TImage im = { .manifest_mt = MT_MANIFEST };
	g_autoptr(GPtrArray) diffs = g_ptr_array_new();
	g_autofree char *config = NULL, *manifest = NULL;

	for (guint i = 0; i < n; i++)
		g_ptr_array_add(diffs, layers[i].diff);
	g_ptr_array_add(diffs, NULL);
	config = config_json(label, (const char *const *)diffs->pdata);
	im.config = put_text(dir, config, &im.config_size);
	manifest = manifest_json(im.config, im.config_size, layers, n);
	im.manifest = put_text(dir, manifest, &im.manifest_size);
	return im;
}

/* A descriptor of manifest @im with @extra members (",..." or ""). Caller frees. */
static char *
desc_of(const TImage *im, const char *extra)
{
	return g_strdup_printf("{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu%s}",
	                       im->manifest_mt, im->manifest, im->manifest_size, extra);
}

static char *
ref_name(const char *ref)
{
	return g_strdup_printf(",\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}",
	                       ref);
}

/* oci-layout and index.json of @dir, listing @descs (JSON objects, joined). */
static void
write_layout(const char *dir, const char *const *descs)
{
	g_autofree char *list = g_strjoinv(",", (char **)descs);
	g_autofree char *index = g_strdup_printf("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX
	                                         "\",\"manifests\":[%s]}", list);

	th_write_text(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	th_write_text(dir, "index.json", index);
}

/* An index blob of @descs in @dir: its hex, *@size. */
static char *
put_index(const char *dir, const char *const *descs, size_t *size)
{
	g_autofree char *list = g_strjoinv(",", (char **)descs);
	g_autofree char *index = g_strdup_printf("{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX
	                                         "\",\"manifests\":[%s]}", list);

	return put_text(dir, index, size);
}

static char *
index_desc(const char *hex, size_t size, const char *extra)
{
	return g_strdup_printf("{\"mediaType\":\"" MT_INDEX "\",\"digest\":\"sha256:%s\","
	                       "\"size\":%zu%s}", hex, size, extra);
}

/* ------------------------------------------------------------ store checks */

static LimgStore *
open_store(const char *kind)
{
	return th_store_open(source, kind);
}

static gint
cmp_strp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted ids of @a, @b, ... (NULL-terminated), space-separated. Caller frees. */
static char *
sorted_ids(const char *first, ...)
{
	g_autoptr(GPtrArray) ids = g_ptr_array_new();
	va_list ap;

	va_start(ap, first);
	for (const char *id = first; id; id = va_arg(ap, const char *))
		g_ptr_array_add(ids, (gpointer)id);
	va_end(ap);
	g_ptr_array_sort(ids, cmp_strp);
	g_ptr_array_add(ids, NULL);
	return g_strjoinv(" ", (char **)ids->pdata);
}

/* The bytes layer @li's record names: its file, [offset, offset + length). */
static GBytes *
read_record(const LimgLayerInfo *li)
{
	g_autofree char *path = limg_layer_info_path(li);
	g_autofree uint8_t *all = NULL;
	size_t len = 0;
	uint64_t n;

	all = th_read(path, &len);
	cr_assert_leq(li->offset, len, "%s: offset beyond %s", li->id, path);
	n = li->length ? li->length : len - li->offset;
	cr_assert_leq(li->offset + n, len, "%s: length beyond %s", li->id, path);
	return g_bytes_new(all + li->offset, (gsize)n);
}

/* Layer @id is a TAR record whose bytes are @want, with digest @digest (or NULL). */
static void
expect_tar_layer(LimgStore *s, const char *id, GBytes *want, const char *digest_hex)
{
	g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, id);
	g_autoptr(GBytes) got = NULL;
	g_autofree char *path = NULL, *canon = g_canonicalize_filename(source, NULL);
	struct stat st;

	cr_assert_not_null(li, "layer %s", id);
	cr_expect_eq(li->kind, LIMG_LAYER_TAR, "%s: kind", id);
	cr_expect_str_eq(li->root, canon, "%s: root", id);
	cr_expect(li->complete, "%s: complete", id);
	cr_expect_not(li->settle, "%s: a blob is what it is: no settling", id);
	path = limg_layer_info_path(li);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(li->dev, (uint64_t)st.st_dev, "%s: dev", id);
	cr_expect_eq(li->ino, (uint64_t)st.st_ino, "%s: ino", id);
	cr_expect_eq(li->mtime, (int64_t)st.st_mtim.tv_sec, "%s: mtime", id);
	got = read_record(li);
	cr_expect(g_bytes_equal(got, want), "%s: the record's bytes [%" PRIu64 ", +%" PRIu64
	          ") of %s are the blob's", id, li->offset, li->length, path);
	if (digest_hex) {
		g_autofree char *d = g_strconcat("sha256:", digest_hex, NULL);

		cr_expect_str_eq(li->digest, d, "%s: digest", id);
	} else {
		cr_expect_null(li->digest, "%s: no digest known", id);
	}
}

/* Image @id's layer ids, space-separated (NULL: no such image). Caller frees. */
static char *
image_layers(const LimgStoreMeta *m, const char *id)
{
	LimgMetaImage *im = limg_store_meta_image(m, id);
	GString *s;

	if (!im)
		return NULL;
	s = g_string_new(NULL);
	for (guint i = 0; i < im->layers->len; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "",
		                       ((LimgMetaLayer *)im->layers->pdata[i])->id);
	return g_string_free(s, FALSE);
}

/* The image tag @tag names, or NULL. */
static const char *
tag_image(const LimgStoreMeta *m, const char *tag)
{
	LimgMetaImage *im = g_hash_table_lookup(m->tags, tag);

	return im ? im->id : NULL;
}

/* An image of one layer, etc/@name, in layout @dir. */
typedef struct {
	TLayer l;
	TImage im;
} TOne;

static TOne
one_image(const char *dir, const char *name, bool gzip)
{
	TOne o;

	o.l = mk_layer(dir, name, gzip);
	o.im = mk_image(dir, name, &o.l, 1);
	return o;
}

static void
one_clear(TOne *o)
{
	tlayer_clear(&o->l);
	timage_clear(&o->im);
}

/* index.json's entry of @im, tagged @ref (NULL: no tag). Caller frees. */
static char *
entry_of(const TImage *im, const char *ref)
{
	g_autofree char *ann = ref ? ref_name(ref) : NULL;

	return desc_of(im, ann ? ann : "");
}

/* A layout of @entries at SOURCE, opened with store=auto. */
static LimgStore *
open_layout(const char *const *entries)
{
	write_layout(source, entries);
	return open_store(NULL);
}

/*
 * The snapshot now, in *@ids (if not NULL) the layers listed, and in
 * *@log what reading both logged.
 */
static LimgStoreMeta *
read_logged(LimgStore *s, char **ids, char **log)
{
	LimgStoreMeta *m;

	log_begin();
	m = limg_store_meta(s);
	if (ids)
		*ids = th_store_ids(s);
	*log = log_end();
	cr_assert_not_null(m);
	return m;
}

static LimgStoreMeta *
meta_logged(LimgStore *s, char **log)
{
	return read_logged(s, NULL, log);
}

/* ------------------------------------------------------------ OCI layout: good */

Test(store_blobs, oci_layout_layers_images_tags_and_records)
{
	TLayer l[2] = { mk_layer(source, "base", false), mk_layer(source, "top", true) };
	TImage im = mk_image(source, "one", l, 2);
	g_autofree char *d1 = desc_of(&im, ",\"annotations\":{\"org.opencontainers.image.ref.name"
	                              "\":\"latest\"}");
	g_autofree char *d2 = desc_of(&im, ",\"annotations\":{\"io.containerd.image.name\":"
	                              "\"localhost/one:1\",\"org.opencontainers.image.ref.name\":"
	                              "\"1\"}");
	const char *descs[] = { d1, d2, NULL };
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	g_autofree char *ids = NULL, *want = NULL, *layers = NULL, *chain2 = NULL;
	g_autofree char *diff1 = g_strconcat("sha256:", l[0].diff, NULL);
	g_autofree char *diff2 = g_strconcat("sha256:", l[1].diff, NULL);
	LimgMetaImage *mi;

	write_layout(source, descs);
	s = open_store(NULL);
	cr_expect_str_eq(limg_store_kind(s), "oci");
	cr_expect_null(limg_store_watch_dir(s), "layers come from the metadata");
	ids = th_store_ids(s);
	want = sorted_ids(l[0].hex, l[1].hex, NULL);
	cr_expect_str_eq(ids, want, "every layer blob is a layer, named by its digest");
	cr_expect_str_eq(l[0].hex, l[0].diff, "a plain tar's digest is its diff id");
	expect_tar_layer(s, l[0].hex, l[0].bytes, l[0].hex);
	expect_tar_layer(s, l[1].hex, l[1].bytes, l[1].hex);
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, l[1].hex);
		g_autofree char *rel = g_strdup_printf("blobs/sha256/%s", l[1].hex);

		cr_assert_not_null(li);
		cr_expect_str_eq(li->rel, rel);
		cr_expect_eq(li->offset, 0);
		cr_expect_eq(li->length, l[1].size);
		cr_assert_not_null(li->names);
		chain2 = limg_store_chain_id(diff1, diff2);
		cr_expect_str_eq(li->names[0], diff2, "names: the diff id");
		cr_expect_str_eq(li->names[1], chain2, "names: the chain id");
	}
	m = limg_store_meta(s);
	cr_assert_not_null(m);
	cr_expect_eq(m->images->len, 1);
	layers = image_layers(m, im.config);
	{
		g_autofree char *w = g_strdup_printf("%s %s", l[0].hex, l[1].hex);

		cr_expect_str_eq(layers, w, "the image id is the config digest; layers lowest first");
	}
	mi = limg_store_meta_image(m, im.config);
	cr_assert_not_null(mi);
	cr_expect_str_eq(limg_meta_image_chain(mi, 0), diff1);
	cr_expect_str_eq(limg_meta_image_chain(mi, 1), chain2);
	cr_expect_str_eq(tag_image(m, "latest"), im.config, "a bare ref.name is a tag as it is");
	cr_expect_str_eq(tag_image(m, "localhost/one:1"), im.config,
	                 "io.containerd.image.name, a full reference, before ref.name");
	cr_expect_null(tag_image(m, "1"));
	cr_expect_eq(g_hash_table_size(m->tags), 2);
	cr_expect_eq(g_hash_table_lookup(m->by_diff, l[1].diff),
	             g_hash_table_lookup(m->layers, l[1].hex));
	cr_expect_not_null(g_hash_table_lookup(m->by_chain, chain2 + strlen("sha256:")));
	{
		g_autoptr(GPtrArray) stacks = limg_store_stacks(s);
		g_autofree char *name = g_strdup_printf("images/%s/rootfs", im.config);
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, name);

		cr_assert_eq(stacks->len, 1);
		cr_expect_str_eq(stacks->pdata[0], name);
		cr_assert_not_null(li);
		cr_expect_eq(li->kind, LIMG_LAYER_STACK);
		cr_assert_eq(li->parts->len, 2);
		cr_expect_str_eq(li->parts->pdata[0], l[0].hex);
		cr_expect_str_eq(li->parts->pdata[1], l[1].hex);
	}
	{
		g_auto(GStrv) watch = limg_store_meta_watch(s);
		g_autofree char *canon = g_canonicalize_filename(source, NULL);
		g_autofree char *blobs = g_build_filename(canon, "blobs/sha256", NULL);

		cr_assert_not_null(watch);
		cr_expect(g_strv_contains((const char *const *)watch, canon),
		          "index.json is watched through its directory (inotify watches those)");
		cr_expect(g_strv_contains((const char *const *)watch, blobs));
		cr_expect_eq(g_strv_length(watch), 2);
	}
	tlayer_clear(&l[0]);
	tlayer_clear(&l[1]);
	timage_clear(&im);
}

Test(store_blobs, one_blob_has_a_chain_id_in_each_image_it_is_in)
{
	TLayer a = mk_layer(source, "a", false), b = mk_layer(source, "b", false);
	TLayer ab[2] = { a, b }, bonly[1] = { b };
	TImage x = mk_image(source, "x", ab, 2), y = mk_image(source, "y", bonly, 1);
	g_autofree char *dx = desc_of(&x, ""), *dy = desc_of(&y, "");
	const char *descs[] = { dx, dy, NULL };
	g_autofree char *da = g_strconcat("sha256:", a.diff, NULL);
	g_autofree char *db = g_strconcat("sha256:", b.diff, NULL);
	g_autofree char *cx = limg_store_chain_id(da, db);
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	LimgMetaImage *ix, *iy;

	write_layout(source, descs);
	s = open_store("oci");
	m = limg_store_meta(s);
	ix = limg_store_meta_image(m, x.config);
	iy = limg_store_meta_image(m, y.config);
	cr_assert(ix && iy);
	cr_expect_eq(ix->layers->pdata[1], iy->layers->pdata[0], "one blob, one layer");
	cr_expect_str_eq(limg_meta_image_chain(ix, 1), cx, "over a: chain(a, b)");
	cr_expect_str_eq(limg_meta_image_chain(iy, 0), db, "alone: its diff id");
	cr_expect_eq(g_hash_table_lookup(m->by_chain, cx + 7), ix->layers->pdata[1]);
	cr_expect_eq(g_hash_table_lookup(m->by_chain, b.diff), ix->layers->pdata[1],
	             "by-chain-id names it by both");
	tlayer_clear(&a);
	tlayer_clear(&b);
	timage_clear(&x);
	timage_clear(&y);
}

Test(store_blobs, one_config_in_two_manifests_is_made_of_the_uncompressed_one)
{
	TLayer gz = mk_layer(source, "l", true), plain = mk_layer(source, "l", false);
	TImage a = mk_image(source, "same", &gz, 1), b = mk_image(source, "same", &plain, 1);
	g_autofree char *da = entry_of(&a, "gzip"), *db = entry_of(&b, "plain");
	g_autoptr(LimgStore) s = open_layout((const char *[]){ da, db, NULL });
	g_autoptr(LimgStoreMeta) m = limg_store_meta(s);
	g_autofree char *ids = th_store_ids(s), *want = sorted_ids(gz.hex, plain.hex, NULL);
	g_autofree char *layers = image_layers(m, a.config);

	cr_assert_str_eq(a.config, b.config, "the same config bytes");
	cr_expect_str_eq(ids, want, "both blobs are layers");
	cr_expect_eq(m->images->len, 1, "one image id: one image");
	cr_expect_str_eq(layers, plain.hex, "made of the manifest served without decompression");
	cr_expect_str_eq(tag_image(m, "gzip"), a.config);
	cr_expect_str_eq(tag_image(m, "plain"), a.config);
	tlayer_clear(&gz);
	tlayer_clear(&plain);
	timage_clear(&a);
	timage_clear(&b);
}

/* A platform that is not this host's. */
static const char *
foreign_platform(void)
{
	return strcmp(limg_blob_host_platform(), "linux/s390x") == 0 ? "riscv64" : "s390x";
}

/* ",\"platform\":{...}" of os/arch[/variant] @p. Caller frees. */
static char *
platform_of(const char *p)
{
	g_auto(GStrv) f = g_strsplit(p, "/", 3);

	return g_strdup_printf(",\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"%s%s%s}",
	                       f[0], f[1], f[2] ? ",\"variant\":\"" : "", f[2] ? f[2] : "",
	                       f[2] ? "\"" : "");
}

/* A nested index of @entries (NULL-terminated), in index.json as tag @ref. Caller frees. */
static char *
nested_entry(const char *const *entries, const char *ref, char **hex)
{
	g_autofree char *ann = ref_name(ref);
	size_t size;

	*hex = put_index(source, entries, &size);
	return index_desc(*hex, size, ann);
}

Test(store_blobs, the_host_platform_takes_the_tag_the_others_are_images)
{
	TOne h = one_image(source, "host", false), f = one_image(source, "foreign", false);
	g_autofree char *fp = g_strdup_printf("linux/%s", foreign_platform());
	g_autofree char *ph = platform_of(limg_blob_host_platform()), *pf = platform_of(fp);
	g_autofree char *dh = desc_of(&h.im, ph), *df = desc_of(&f.im, pf), *ihex = NULL;
	g_autofree char *top = nested_entry((const char *[]){ df, dh, NULL }, "multi", &ihex);
	g_autoptr(LimgStore) s = open_layout((const char *[]){ top, NULL });
	g_autofree char *log = NULL;
	g_autoptr(LimgStoreMeta) m = meta_logged(s, &log);

	cr_expect_eq(m->images->len, 2, "every platform's image is under images/");
	cr_expect_not_null(limg_store_meta_image(m, f.im.config));
	cr_expect_str_eq(tag_image(m, "multi"), h.im.config, "the host's platform takes the tag");
	expect_logged(log, ihex, fp);
	one_clear(&h);
	one_clear(&f);
}

Test(store_blobs, a_foreign_platform_only_index_sets_no_tag)
{
	TOne f = one_image(source, "foreign", false), ok = one_image(source, "ok", false);
	g_autofree char *fp = g_strdup_printf("linux/%s", foreign_platform());
	g_autofree char *pf = platform_of(fp), *df = desc_of(&f.im, pf), *ihex = NULL;
	g_autofree char *top = nested_entry((const char *[]){ df, NULL }, "foreign", &ihex);
	g_autofree char *dok = entry_of(&ok.im, "ok");
	g_autoptr(LimgStore) s = open_layout((const char *[]){ top, dok, NULL });
	g_autofree char *log = NULL;
	g_autoptr(LimgStoreMeta) m = meta_logged(s, &log);

	cr_expect_not_null(limg_store_meta_image(m, f.im.config), "still an image, to be looked at");
	cr_expect_null(tag_image(m, "foreign"));
	cr_expect_str_eq(tag_image(m, "ok"), ok.im.config);
	expect_logged(log, "no image for this host's platform", ihex);
	expect_logged(log, "tag foreign: no image of this host's platform", "not set");
	one_clear(&f);
	one_clear(&ok);
}

/* A chain of @n indexes, each holding the next, the last @im: the top's hex. */
static char *
nest(const char *dir, const TImage *im, guint n, size_t *size)
{
	char *desc = desc_of(im, "");
	char *hex = NULL;

	for (guint i = 0; i < n; i++) {
		const char *one[] = { desc, NULL };

		g_free(hex);
		hex = put_index(dir, one, size);
		g_free(desc);
		desc = index_desc(hex, *size, "");
	}
	g_free(desc);
	return hex;
}

Test(store_blobs, indexes_nest_eight_deep_not_nine)
{
	TOne i8 = one_image(source, "eight", false), i9 = one_image(source, "nine", false);
	size_t s8, s9;
	g_autofree char *h8 = nest(source, &i8.im, LIMG_BLOBS_MAX_DEPTH, &s8);
	g_autofree char *h9 = nest(source, &i9.im, LIMG_BLOBS_MAX_DEPTH + 1, &s9);
	g_autofree char *r8 = ref_name("eight"), *r9 = ref_name("nine");
	g_autofree char *d8 = index_desc(h8, s8, r8), *d9 = index_desc(h9, s9, r9);
	g_autoptr(LimgStore) s = open_layout((const char *[]){ d8, d9, NULL });
	g_autofree char *log = NULL;
	g_autoptr(LimgStoreMeta) m = meta_logged(s, &log);
	g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, i9.l.hex);

	cr_expect_str_eq(tag_image(m, "eight"), i8.im.config);
	cr_expect_null(limg_store_meta_image(m, i9.im.config), "nine deep: left out");
	cr_expect_null(tag_image(m, "nine"));
	expect_logged(log, "nested more than 8 deep", NULL);
	cr_expect_null(li, "a left-out image's layers are not layers");
	one_clear(&i8);
	one_clear(&i9);
}

Test(store_blobs, an_index_met_twice_is_walked_once_and_a_self_reference_is_refused)
{
	TOne o = one_image(source, "im", false);
	g_autofree char *d = desc_of(&o.im, ""), *ihex = NULL, *ihex2 = NULL;
	g_autofree char *da = nested_entry((const char *[]){ d, NULL }, "a", &ihex);
	g_autofree char *db = nested_entry((const char *[]){ d, NULL }, "b", &ihex2);
	/*
	 * An index cannot hold its own digest and still match it: a
	 * self-reference is a blob that fails its digest check, before the
	 * walk's own cycle guard is needed.
	 */
	g_autofree char *fake = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "cycle", -1);
	g_autofree char *self = g_strdup_printf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType"
	                                        "\":\"" MT_INDEX "\",\"digest\":\"sha256:%s\"}]}",
	                                        fake);
	g_autofree char *selfrel = g_strdup_printf("blobs/sha256/%s", fake);
	g_autofree char *rc = ref_name("cycle"), *dc = index_desc(fake, strlen(self), rc);
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	g_autofree char *log = NULL;

	cr_assert_str_eq(ihex, ihex2, "one index blob, named twice");
	th_write_text(source, selfrel, self);
	s = open_layout((const char *[]){ da, db, dc, NULL });
	m = meta_logged(s, &log);
	cr_expect_str_eq(tag_image(m, "a"), o.im.config);
	cr_expect_str_eq(tag_image(m, "b"), o.im.config, "the second path only adds its tag");
	cr_expect_null(tag_image(m, "cycle"));
	expect_logged(log, fake, "does not match its digest");
	one_clear(&o);
}

/* ------------------------------------------------------------ OCI layout: bad input */

/*
 * A layout with image "good" (tag good) and one more, "bad", made by
 * @spoil (tag bad); check: good served, bad not, and a log line with
 * @what and the blob @spoil names.
 */
typedef struct {
	TLayer good_layer, bad_layer;
	TImage good, bad;
	char *bad_desc;       /* index.json entry of bad (set by spoil, or made) */
	char *named;          /* what the log line must name */
	bool unread;          /* index.json's entry itself is refused: no tag to miss */
} Case;

static void
case_clear(Case *c)
{
	tlayer_clear(&c->good_layer);
	tlayer_clear(&c->bad_layer);
	timage_clear(&c->good);
	timage_clear(&c->bad);
	g_free(c->bad_desc);
	g_free(c->named);
}

static void
run_case(void (*spoil)(Case *c), const char *what)
{
	Case c = { 0 };
	g_autofree char *rg = ref_name("good"), *rb = ref_name("bad"), *dg = NULL;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	g_autofree char *log = NULL, *ids = NULL;

	c.good_layer = mk_layer(source, "good", false);
	c.bad_layer = mk_layer(source, "bad", false);
	c.good = mk_image(source, "good", &c.good_layer, 1);
	spoil(&c);
	if (!c.bad_desc)
		c.bad_desc = desc_of(&c.bad, rb);
	dg = desc_of(&c.good, rg);
	{
		const char *descs[] = { c.bad_desc, dg, NULL };

		write_layout(source, descs);
	}
	s = open_store(NULL);
	m = read_logged(s, &ids, &log);
	cr_expect_str_eq(tag_image(m, "good"), c.good.config, "the good image is served");
	cr_expect_null(tag_image(m, "bad"), "the bad one is not");
	cr_expect_eq(m->images->len, 1, "only the good image");
	cr_expect_str_eq(ids, c.good_layer.hex, "only the good image's layer");
	expect_logged(log, what, c.named);
	if (!c.unread)
		expect_logged(log, "tag bad not set: its image was left out", NULL);
	case_clear(&c);
}

/* c->bad: a config of @diffs and a manifest of @layers, at odds on purpose. */
static void
bad_image(Case *c, const char *const *diffs, const TLayer *layers, guint n)
{
	g_autofree char *config = config_json("bad", diffs);
	g_autofree char *manifest = NULL;

	c->bad.config = put_text(source, config, &c->bad.config_size);
	manifest = manifest_json(c->bad.config, c->bad.config_size, layers, n);
	c->bad.manifest = put_text(source, manifest, &c->bad.manifest_size);
	c->bad.manifest_mt = MT_MANIFEST;
}

static void
spoil_missing_layer(Case *c)
{
	g_autofree char *p = g_strdup_printf("%s/blobs/sha256/%s", source, c->bad_layer.hex);

	c->bad = mk_image(source, "bad", &c->bad_layer, 1);
	cr_assert_eq(unlink(p), 0);
	c->named = g_strdup(c->bad_layer.hex);
}

Test(store_blobs, a_missing_layer_blob_leaves_its_image_out)
{
	run_case(spoil_missing_layer, "missing");
}

static void
spoil_manifest_digest(Case *c)
{
	g_autofree char *p = NULL;

	c->bad = mk_image(source, "bad", &c->bad_layer, 1);
	p = g_strdup_printf("blobs/sha256/%s", c->bad.manifest);
	/* Same size, one byte changed. */
	{
		g_autofree char *path = g_build_filename(source, p, NULL);
		g_autofree char *text = (char *)th_read(path, NULL);

		text[strlen(text) - 1] = ' ';
		th_write_text(source, p, text);
	}
	c->named = g_strdup(c->bad.manifest);
}

Test(store_blobs, a_manifest_that_is_not_its_digest_leaves_its_image_out)
{
	run_case(spoil_manifest_digest, "does not match its digest");
}

static void
spoil_config_digest(Case *c)
{
	g_autofree char *config = config_json("bad", (const char *[]){ c->bad_layer.diff, NULL });
	g_autofree char *other = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "other", -1);
	g_autofree char *rel = g_strdup_printf("blobs/sha256/%s", other);
	g_autofree char *manifest = manifest_json(other, strlen(config), &c->bad_layer, 1);

	/* A config stored under a digest it does not have. */
	th_write_text(source, rel, config);
	c->bad.manifest = put_text(source, manifest, &c->bad.manifest_size);
	c->bad.manifest_mt = MT_MANIFEST;
	c->named = g_strdup(other);
}

Test(store_blobs, a_config_that_is_not_its_digest_leaves_its_image_out)
{
	run_case(spoil_config_digest, "does not match its digest");
}

static void
spoil_diff_ids(Case *c)
{
	TLayer two[2] = { c->bad_layer, c->bad_layer };

	bad_image(c, (const char *[]){ c->bad_layer.diff, NULL }, two, 2);
	c->named = g_strdup(c->bad.config);
}

Test(store_blobs, a_diff_ids_count_that_is_not_the_layer_count_leaves_its_image_out)
{
	run_case(spoil_diff_ids, "1 diff ids for 2 layers");
}

static void
spoil_media_type(Case *c)
{
	c->bad_layer.mt = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted";
	c->bad = mk_image(source, "bad", &c->bad_layer, 1);
	c->named = g_strdup(c->bad.manifest);
}

Test(store_blobs, an_unknown_layer_media_type_leaves_its_image_out)
{
	run_case(spoil_media_type, "+encrypted is not a tar layer");
}

static void
spoil_algorithm(Case *c)
{
	c->bad = mk_image(source, "bad", &c->bad_layer, 1);
	c->bad_desc = g_strdup_printf("{\"mediaType\":\"" MT_MANIFEST "\",\"digest\":\"sha512:%s%s\","
	                              "\"size\":1}", c->bad.manifest, c->bad.manifest);
	c->named = g_build_filename(source, "index.json", NULL);
	c->unread = true;
}

Test(store_blobs, a_digest_other_than_sha256_is_skipped)
{
	run_case(spoil_algorithm, "digest algorithm sha512 is not supported");
}

static void
spoil_symlink(Case *c)
{
	g_autofree char *p = g_strdup_printf("%s/blobs/sha256/%s", source, c->bad_layer.hex);
	g_autofree char *outside = g_build_filename(base, "outside.tar", NULL);

	c->bad = mk_image(source, "bad", &c->bad_layer, 1);
	cr_assert_eq(rename(p, outside), 0);
	cr_assert_eq(symlink(outside, p), 0);
	c->named = g_strdup(c->bad_layer.hex);
}

Test(store_blobs, a_symlinked_layer_blob_is_refused)
{
	run_case(spoil_symlink, "a symlink");
}

static void
spoil_plain_digest(Case *c)
{
	g_autofree char *other = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "x", -1);

	/* The config's diff id is not what the uncompressed blob hashes to. */
	bad_image(c, (const char *[]){ other, NULL }, &c->bad_layer, 1);
	c->named = g_strdup(c->bad_layer.hex);
}

Test(store_blobs, an_uncompressed_layer_must_hash_to_its_diff_id)
{
	run_case(spoil_plain_digest, "its digest must be its diff id");
}

static void
spoil_size(Case *c)
{
	c->bad_layer.size += 1;
	c->bad = mk_image(source, "bad", &c->bad_layer, 1);
	c->named = g_strdup(c->bad_layer.hex);
}

Test(store_blobs, a_layer_of_another_size_than_its_descriptor_leaves_its_image_out)
{
	run_case(spoil_size, "but the manifest says");
}

Test(store_blobs, a_symlinked_blobs_directory_serves_nothing)
{
	g_autofree char *elsewhere = g_build_filename(base, "elsewhere", NULL);
	g_autofree char *blobs = g_build_filename(source, "blobs", NULL);
	TOne o = one_image(source, "im", false);
	g_autofree char *d = entry_of(&o.im, NULL), *log = NULL, *ids = NULL;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;

	cr_assert_eq(rename(blobs, elsewhere), 0);
	cr_assert_eq(symlink(elsewhere, blobs), 0);
	s = open_layout((const char *[]){ d, NULL });
	m = read_logged(s, &ids, &log);
	cr_expect_eq(m->images->len, 0);
	cr_expect_str_eq(ids, "");
	expect_logged(log, blobs, "a symlink");
	one_clear(&o);
}

Test(store_blobs, a_tag_that_is_a_directory_of_another_is_left_out)
{
	TOne a = one_image(source, "a", false), b = one_image(source, "b", false);
	g_autofree char *da = entry_of(&a.im, "localhost:5000");
	g_autofree char *db = entry_of(&b.im, "localhost:5000/b:1");
	g_autoptr(LimgStore) s = open_layout((const char *[]){ da, db, NULL });
	g_autofree char *log = NULL;
	g_autoptr(LimgStoreMeta) m = meta_logged(s, &log);

	cr_expect_null(tag_image(m, "localhost:5000"), "tags/localhost:5000 is a directory");
	cr_expect_str_eq(tag_image(m, "localhost:5000/b:1"), b.im.config);
	cr_expect_eq(limg_store_meta_image(m, a.im.config)->tags->len, 0);
	expect_logged(log, "tag localhost:5000 is also a directory", NULL);
	one_clear(&a);
	one_clear(&b);
}

Test(store_blobs, the_snapshot_follows_index_json_and_the_blobs)
{
	TOne a = one_image(source, "a", false), b = one_image(source, "b", false);
	g_autofree char *da = entry_of(&a.im, NULL), *db = entry_of(&b.im, NULL);
	g_autofree char *blob = g_strdup_printf("%s/blobs/sha256/%s", source, a.l.hex);
	g_autoptr(LimgStore) s = open_layout((const char *[]){ da, NULL });
	g_autofree char *one = th_store_ids(s), *two = NULL, *want = NULL, *log = NULL;
	g_autoptr(LimgLayerInfo) li = NULL;

	cr_expect_str_eq(one, a.l.hex);
	write_layout(source, (const char *[]){ da, db, NULL });
	two = th_store_ids(s);
	want = sorted_ids(a.l.hex, b.l.hex, NULL);
	cr_expect_str_eq(two, want, "a new index.json is seen at once");
	/* A blob cut short after the snapshot: refused at lookup, logged. */
	cr_assert_eq(truncate(blob, 10), 0);
	log_begin();
	li = limg_store_lookup(s, a.l.hex);
	log = log_end();
	cr_expect_null(li, "bytes beyond the file are never a layer");
	expect_logged(log, a.l.hex, "beyond its end");
	one_clear(&a);
	one_clear(&b);
}

/* ------------------------------------------------------------ kinds */

Test(store_blobs, a_file_is_read_only_by_the_archive_backend)
{
	g_autofree char *file = g_build_filename(base, "x.tar", NULL);
	g_autoptr(GError) error = NULL;
	LimgStore *s;

	th_write_text(base, "x.tar", "");
	s = limg_store_new(file, "docker", &error);
	cr_expect_null(s);
	cr_assert_not_null(error);
	cr_expect(error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOTDIR, "%s",
	          error->message);
	cr_expect(strstr(error->message, "store=archive") != NULL, "%s", error->message);
	g_clear_error(&error);
	s = limg_store_new(source, "archive", &error);
	cr_expect_null(s);
	cr_assert_not_null(error);
	cr_expect(error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_ISDIR, "%s",
	          error->message);
	g_clear_error(&error);
	s = limg_store_new(file, NULL, &error);
	cr_assert_not_null(s, "%s", error ? error->message : "");
	cr_expect_str_eq(limg_store_kind(s), "archive");
	limg_store_free(s);
	s = limg_store_new(source, "squashfs", &error);
	cr_expect_null(s);
	cr_assert_not_null(error);
	cr_expect(strstr(error->message, "oci, containerd") && strstr(error->message, "archive"),
	          "the kinds are listed: %s", error->message);
}

Test(store_blobs, a_fifo_is_no_source)
{
	g_autofree char *fifo = g_build_filename(base, "fifo", NULL);
	g_autoptr(GError) error = NULL;

	cr_assert_eq(mkfifo(fifo, 0644), 0);
	cr_expect_null(limg_store_new(fifo, NULL, &error), "refused, and the open never hangs");
	cr_expect_not_null(error);
}

Test(store_blobs, compression_magic_and_bare_tags)
{
	static const uint8_t gz[] = { 0x1f, 0x8b, 8, 0 }, zst[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 }, tar[] = { 'e', 't', 'c', '/' };

	cr_expect_eq(limg_blob_compression(gz, sizeof(gz)), LIMG_BLOB_GZIP);
	cr_expect_eq(limg_blob_compression(zst, sizeof(zst)), LIMG_BLOB_ZSTD);
	cr_expect_eq(limg_blob_compression(xz, sizeof(xz)), LIMG_BLOB_OTHER);
	cr_expect_eq(limg_blob_compression(tar, sizeof(tar)), LIMG_BLOB_PLAIN);
	cr_expect_eq(limg_blob_compression(gz, 1), LIMG_BLOB_PLAIN, "too short to tell");
	cr_expect(limg_blob_valid_bare_tag("latest"));
	cr_expect(limg_blob_valid_bare_tag("v1.2-rc_3"));
	cr_expect_not(limg_blob_valid_bare_tag(""));
	cr_expect_not(limg_blob_valid_bare_tag(".hidden"));
	cr_expect_not(limg_blob_valid_bare_tag("a/b"));
	cr_expect_not(limg_blob_valid_bare_tag("a:b"), "a full reference, not a bare tag");
	cr_expect_not(limg_blob_valid_bare_tag("a@b"));
	cr_expect_not(limg_blob_valid_bare_tag("a b"));
	cr_expect(g_str_has_prefix(limg_blob_host_platform(), "linux/"));
}

/* ------------------------------------------------------------ archives */

/* Write @b to SOURCE's place as a file (SOURCE becomes that file). */
static void
put_source_file(GBytes *b)
{
	gsize len;
	const void *data = g_bytes_get_data(b, &len);

	cr_assert_eq(rmdir(source), 0);
	th_write(base, "src", data, len);
}

/* A docker-archive's parts: two images sharing a base layer. */
typedef struct {
	TLayer base, top, gz;
	char *config_a, *config_b;   /* JSON */
	char *id_a, *id_b;
} Docker;

static void
docker_parts(Docker *d)
{
	g_autoptr(GBytes) b1 = layer_tar("base", false, &d->base.diff);
	g_autoptr(GBytes) b2 = layer_tar("top", false, &d->top.diff);
	g_autoptr(GBytes) b3 = layer_tar("gz", true, &d->gz.diff);

	d->base.bytes = g_bytes_ref(b1);
	d->top.bytes = g_bytes_ref(b2);
	d->gz.bytes = g_bytes_ref(b3);
	d->config_a = config_json("a", (const char *[]){ d->base.diff, d->top.diff, NULL });
	d->config_b = config_json("b", (const char *[]){ d->base.diff, d->gz.diff, NULL });
	d->id_a = g_compute_checksum_for_string(G_CHECKSUM_SHA256, d->config_a, -1);
	d->id_b = g_compute_checksum_for_string(G_CHECKSUM_SHA256, d->config_b, -1);
}

static void
docker_clear(Docker *d)
{
	tlayer_clear(&d->base);
	tlayer_clear(&d->top);
	tlayer_clear(&d->gz);
	g_free(d->config_a);
	g_free(d->config_b);
	g_free(d->id_a);
	g_free(d->id_b);
}

static void
tw_bytes(TarW *t, const char *name, GBytes *b)
{
	gsize len;
	const void *data = g_bytes_get_data(b, &len);

	tw_file(t, name, data, len);
}

/*
 * The archive, as `docker save` (old: <v1>/layer.tar, a later one a
 * symlink to the first) and skopeo (<diff>.tar) write them; with a
 * 150-byte member name (a PAX path record), and manifest.json and
 * v1b/layer.tar twice (the later one counts, as extraction does).
 */
static GBytes *
docker_archive_bytes(const Docker *d, const char *manifest)
{
	TarW *t = tw_new(false);
	g_autofree char *long_dir = g_strnfill(150, 'd');
	g_autofree char *base_tar = g_strdup_printf("%s/layer.tar", long_dir);
	g_autofree char *link = g_strdup_printf("../%s", base_tar);
	g_autofree char *top_tar = g_strdup_printf("%s.tar", d->top.diff);
	g_autofree char *ca = g_strdup_printf("%s.json", d->id_a);
	g_autofree char *cb = g_strdup_printf("%s.json", d->id_b);

	tw_file(t, "manifest.json", "[]", 2);
	tw_entry(t, long_dir, AE_IFDIR, NULL, 0, NULL, false);
	tw_bytes(t, base_tar, d->base.bytes);
	tw_file(t, "v1b/layer.tar", "junk", 4);
	tw_bytes(t, top_tar, d->top.bytes);
	tw_bytes(t, "blobs/gz", d->gz.bytes);
	tw_file(t, ca, d->config_a, strlen(d->config_a));
	tw_file(t, cb, d->config_b, strlen(d->config_b));
	tw_entry(t, "v1b/layer.tar", AE_IFLNK, NULL, 0, link, false);
	tw_file(t, "manifest.json", manifest, strlen(manifest));
	return tw_finish(t);
}

static char *
docker_manifest(const Docker *d, const char *base_name)
{
	g_autofree char *long_dir = g_strnfill(150, 'd');

	return g_strdup_printf(
		"[{\"Config\":\"%s.json\",\"RepoTags\":[\"localhost/a:1\",\"a:latest\"],"
		"\"Layers\":[\"%s/layer.tar\",\"%s.tar\"]},"
		"{\"Config\":\"%s.json\",\"RepoTags\":[\"localhost/b:1\"],"
		"\"Layers\":[\"%s\",\"blobs/gz\"]}]",
		d->id_a, long_dir, d->top.diff, d->id_b, base_name);
}

Test(store_blobs, docker_archive_layers_are_byte_ranges_of_the_archive)
{
	Docker d = { 0 };
	g_autofree char *manifest = NULL, *ids = NULL, *want = NULL, *log = NULL;
	g_autoptr(GBytes) tar = NULL;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;

	docker_parts(&d);
	/* Image b names the base through the symlink v1b/layer.tar (the later member). */
	manifest = docker_manifest(&d, "./v1b/layer.tar");
	tar = docker_archive_bytes(&d, manifest);
	put_source_file(tar);
	log_begin();
	s = open_store(NULL);
	cr_expect_str_eq(limg_store_kind(s), "archive");
	m = limg_store_meta(s);
	ids = th_store_ids(s);
	log = log_end();
	expect_logged(log, "member manifest.json is in the archive more than once", NULL);
	expect_logged(log, "member v1b/layer.tar is in the archive more than once", NULL);
	want = sorted_ids(d.base.diff, d.top.diff, d.gz.diff, NULL);
	cr_expect_str_eq(ids, want, "plain layers are named by their diff id (= blob digest), a "
	                 "compressed one without a digest in its name too");
	expect_tar_layer(s, d.base.diff, d.base.bytes, d.base.diff);
	expect_tar_layer(s, d.top.diff, d.top.bytes, d.top.diff);
	expect_tar_layer(s, d.gz.diff, d.gz.bytes, NULL);
	{
		g_autofree char *layers = image_layers(m, d.id_b);
		g_autofree char *w = g_strdup_printf("%s %s", d.base.diff, d.gz.diff);

		cr_expect_str_eq(layers, w, "the symlink is followed to the base's member");
	}
	{
		g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, d.base.diff);

		cr_assert_not_null(li);
		cr_expect_str_eq(li->rel, "", "the archive itself");
		cr_expect_eq(li->length, g_bytes_get_size(d.base.bytes));
		cr_expect_eq(li->offset % 512, 0, "tar data starts on a block");
	}
	cr_expect_str_eq(tag_image(m, "localhost/a:1"), d.id_a);
	cr_expect_str_eq(tag_image(m, "a:latest"), d.id_a);
	{
		g_autofree char *layers = image_layers(m, d.id_a);
		g_autofree char *w = g_strdup_printf("%s %s", d.base.diff, d.top.diff);

		cr_expect_str_eq(layers, w);
	}
	{
		g_auto(GStrv) watch = limg_store_meta_watch(s);
		g_autofree char *canon = g_canonicalize_filename(base, NULL);

		cr_assert_not_null(watch);
		cr_expect_str_eq(watch[0], canon, "the archive is watched through its directory");
		cr_expect_null(watch[1]);
	}
	docker_clear(&d);
}

Test(store_blobs, docker_archive_links_and_compressed_members)
{
	Docker d = { 0 };
	g_autofree char *manifest = NULL, *ids = NULL, *want = NULL;
	g_autoptr(GBytes) tar = NULL;
	TarW *t;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	g_autofree char *ca = NULL, *cb = NULL, *gz_blob = NULL, *gz_name = NULL;

	docker_parts(&d);
	gz_blob = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, d.gz.bytes);
	gz_name = g_strdup_printf("blobs/sha256/%s", gz_blob);
	ca = g_strdup_printf("%s.json", d.id_a);
	cb = g_strdup_printf("%s.json", d.id_b);
	manifest = g_strdup_printf(
		"[{\"Config\":\"%s\",\"RepoTags\":[\"a:1\"],\"Layers\":[\"v1a/layer.tar\",\"top.tar\"]},"
		"{\"Config\":\"%s\",\"RepoTags\":[\"b:1\"],\"Layers\":[\"v1b/layer.tar\",\"%s\"]}]",
		ca, cb, gz_name);
	t = tw_new(false);
	tw_bytes(t, "v1a/layer.tar", d.base.bytes);
	/* docker save links a layer it wrote before; a hard link the same. */
	tw_entry(t, "v1b/layer.tar", AE_IFLNK, NULL, 0, "../v1a/layer.tar", false);
	tw_bytes(t, "top.tar.real", d.top.bytes);
	tw_entry(t, "top.tar", AE_IFREG, NULL, 0, "top.tar.real", true);
	tw_bytes(t, gz_name, d.gz.bytes);
	tw_file(t, ca, d.config_a, strlen(d.config_a));
	tw_file(t, cb, d.config_b, strlen(d.config_b));
	tw_file(t, "manifest.json", manifest, strlen(manifest));
	tar = tw_finish(t);
	put_source_file(tar);
	s = open_store("archive");
	m = limg_store_meta(s);
	ids = th_store_ids(s);
	want = sorted_ids(d.base.diff, d.top.diff, gz_blob, NULL);
	cr_expect_str_eq(ids, want, "a compressed blobs/sha256/ member is named by its digest");
	expect_tar_layer(s, gz_blob, d.gz.bytes, gz_blob);
	expect_tar_layer(s, d.top.diff, d.top.bytes, d.top.diff);
	{
		g_autofree char *lb = image_layers(m, d.id_b);
		g_autofree char *w = g_strdup_printf("%s %s", d.base.diff, gz_blob);

		cr_expect_str_eq(lb, w, "the symlinked layer.tar is the base");
	}
	cr_expect_str_eq(tag_image(m, "b:1"), d.id_b);
	docker_clear(&d);
}

Test(store_blobs, docker_archive_compressed_member_without_a_digest_is_named_by_its_diff_id)
{
	Docker d = { 0 };
	g_autofree char *manifest = NULL, *ca = NULL;
	g_autoptr(GBytes) tar = NULL;
	TarW *t;
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *config = NULL, *id = NULL;

	docker_parts(&d);
	config = config_json("g", (const char *[]){ d.gz.diff, NULL });
	id = g_compute_checksum_for_string(G_CHECKSUM_SHA256, config, -1);
	ca = g_strdup_printf("%s.json", id);
	manifest = g_strdup_printf("[{\"Config\":\"%s\",\"Layers\":[\"gz/layer.tar\"]}]", ca);
	t = tw_new(false);
	tw_bytes(t, "gz/layer.tar", d.gz.bytes);
	tw_file(t, ca, config, strlen(config));
	tw_file(t, "manifest.json", manifest, strlen(manifest));
	tar = tw_finish(t);
	put_source_file(tar);
	s = open_store(NULL);
	expect_tar_layer(s, d.gz.diff, d.gz.bytes, NULL);
	docker_clear(&d);
}

/* An archive whose manifest.json names missing, sparse and dangerous members. */
Test(store_blobs, docker_archive_bad_members_leave_their_image_out)
{
	Docker d = { 0 };
	g_autofree char *manifest = NULL, *log = NULL, *ids = NULL;
	g_autofree char *ca = NULL, *cb = NULL, *cc = NULL, *config_c = NULL, *id_c = NULL;
	g_autoptr(GBytes) tar = NULL;
	TarW *t;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	gsize len;
	const void *data;

	docker_parts(&d);
	config_c = config_json("c", (const char *[]){ d.base.diff, NULL });
	id_c = g_compute_checksum_for_string(G_CHECKSUM_SHA256, config_c, -1);
	ca = g_strdup_printf("%s.json", d.id_a);
	cb = g_strdup_printf("%s.json", d.id_b);
	cc = g_strdup_printf("%s.json", id_c);
	manifest = g_strdup_printf(
		"[{\"Config\":\"%s\",\"RepoTags\":[\"a:1\"],\"Layers\":[\"base.tar\",\"missing.tar\"]},"
		"{\"Config\":\"%s\",\"RepoTags\":[\"b:1\"],\"Layers\":[\"base.tar\",\"sparse.tar\"]},"
		"{\"Config\":\"%s\",\"RepoTags\":[\"c:1\"],\"Layers\":[\"base.tar\"]},"
		"{\"Config\":\"nothing.json\",\"Layers\":[\"base.tar\"]}]", ca, cb, cc);
	t = tw_new(false);
	tw_bytes(t, "base.tar", d.base.bytes);
	data = g_bytes_get_data(d.gz.bytes, &len);
	tw_sparse(t, "sparse.tar", data, len);
	tw_file(t, "../evil", "x", 1);
	tw_file(t, ca, d.config_a, strlen(d.config_a));
	tw_file(t, cb, d.config_b, strlen(d.config_b));
	tw_file(t, cc, config_c, strlen(config_c));
	tw_file(t, "manifest.json", manifest, strlen(manifest));
	tar = tw_finish(t);
	put_source_file(tar);
	s = open_store(NULL);
	m = read_logged(s, &ids, &log);
	cr_expect_str_eq(ids, d.base.diff);
	cr_expect_eq(m->images->len, 1);
	cr_expect_str_eq(tag_image(m, "c:1"), id_c, "the good image is served");
	expect_logged(log, "missing.tar", "no such member");
	expect_logged(log, "sparse.tar", "sparse");
	expect_logged(log, "../evil", "ignored");
	expect_logged(log, "Config nothing.json", "no such member");
	docker_clear(&d);
}

Test(store_blobs, a_truncated_archive_serves_the_members_before_the_cut)
{
	Docker d = { 0 };
	g_autofree char *manifest = NULL, *log = NULL, *ids = NULL, *ca = NULL, *cb = NULL;
	g_autofree char *config_b = NULL, *id_b = NULL;
	g_autoptr(GBytes) tar = NULL, cut = NULL;
	TarW *t;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	gsize len;

	docker_parts(&d);
	config_b = config_json("b", (const char *[]){ d.base.diff, NULL });
	id_b = g_compute_checksum_for_string(G_CHECKSUM_SHA256, config_b, -1);
	ca = g_strdup_printf("%s.json", d.id_a);
	cb = g_strdup_printf("%s.json", id_b);
	manifest = g_strdup_printf(
		"[{\"Config\":\"%s\",\"RepoTags\":[\"a:1\"],\"Layers\":[\"base.tar\",\"top.tar\"]},"
		"{\"Config\":\"%s\",\"RepoTags\":[\"b:1\"],\"Layers\":[\"base.tar\"]}]", ca, cb);
	t = tw_new(false);
	tw_file(t, "manifest.json", manifest, strlen(manifest));
	tw_file(t, ca, d.config_a, strlen(d.config_a));
	tw_file(t, cb, config_b, strlen(config_b));
	tw_bytes(t, "base.tar", d.base.bytes);
	tw_bytes(t, "top.tar", d.top.bytes);
	tar = tw_finish(t);
	/* Cut in the middle of top.tar's data: its member runs past the end. */
	len = g_bytes_get_size(tar) - 1024 - g_bytes_get_size(d.top.bytes) / 2;
	cut = g_bytes_new_from_bytes(tar, 0, len);
	put_source_file(cut);
	s = open_store(NULL);
	m = read_logged(s, &ids, &log);
	cr_expect_str_eq(ids, d.base.diff);
	cr_expect_str_eq(tag_image(m, "b:1"), id_b);
	cr_expect_null(tag_image(m, "a:1"));
	expect_logged(log, "member top.tar", "run past the end of the file");
	expect_logged(log, "top.tar", "no such member");
	docker_clear(&d);
}

Test(store_blobs, a_compressed_archive_is_refused)
{
	TarW *t = tw_new(true);
	g_autoptr(GBytes) tar = NULL;
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *log = NULL, *ids = NULL;

	tw_file(t, "manifest.json", "[]", 2);
	tar = tw_finish(t);
	put_source_file(tar);
	s = open_store(NULL);
	cr_expect_str_eq(limg_store_kind(s), "archive");
	log_begin();
	ids = th_store_ids(s);
	log = log_end();
	cr_expect_str_eq(ids, "");
	expect_logged(log, source, "a gzip-compressed file");
}

Test(store_blobs, a_file_that_is_no_tar_is_said_so)
{
	g_autoptr(GBytes) junk = g_bytes_new_static("this is not a tar archive at all\n", 33);
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *log = NULL, *ids = NULL;

	put_source_file(junk);
	s = open_store(NULL);
	log_begin();
	ids = th_store_ids(s);
	log = log_end();
	cr_expect_str_eq(ids, "");
	expect_logged(log, source, "not a tar archive");
}

/* Tar every file below @dir (sorted walk) into a new archive. */
static void
tar_tree(TarW *t, const char *dir, const char *prefix)
{
	g_auto(GStrv) names = th_list_dir(dir, NULL);

	for (guint i = 0; names[i]; i++) {
		g_autofree char *path = g_build_filename(dir, names[i], NULL);
		g_autofree char *rel = *prefix ? g_strdup_printf("%s/%s", prefix, names[i]) :
		                       g_strdup(names[i]);
		struct stat st;

		cr_assert_eq(lstat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			tw_entry(t, rel, AE_IFDIR, NULL, 0, NULL, false);
			tar_tree(t, path, rel);
		} else {
			size_t len = 0;
			g_autofree uint8_t *data = th_read(path, &len);

			tw_file(t, rel, data, len);
		}
	}
}

Test(store_blobs, oci_archive_is_the_layout_walk_over_members)
{
	g_autofree char *layout = g_build_filename(base, "layout", NULL);
	TLayer l[2];
	TImage im;
	g_autofree char *rn = NULL, *d = NULL, *ids = NULL, *want = NULL;
	g_autoptr(GBytes) tar = NULL;
	TarW *t;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;

	th_mkdir(base, "layout");
	l[0] = mk_layer(layout, "base", false);
	l[1] = mk_layer(layout, "top", true);
	im = mk_image(layout, "one", l, 2);
	rn = ref_name("latest");
	d = desc_of(&im, rn);
	write_layout(layout, (const char *[]){ d, NULL });
	t = tw_new(false);
	tar_tree(t, layout, "");
	tar = tw_finish(t);
	put_source_file(tar);
	s = open_store(NULL);
	m = limg_store_meta(s);
	ids = th_store_ids(s);
	want = sorted_ids(l[0].hex, l[1].hex, NULL);
	cr_expect_str_eq(ids, want);
	expect_tar_layer(s, l[0].hex, l[0].bytes, l[0].hex);
	expect_tar_layer(s, l[1].hex, l[1].bytes, l[1].hex);
	cr_expect_str_eq(tag_image(m, "latest"), im.config);
	tlayer_clear(&l[0]);
	tlayer_clear(&l[1]);
	timage_clear(&im);
}

Test(store_blobs, an_archive_replaced_by_rename_is_indexed_again)
{
	Docker d = { 0 };
	g_autofree char *manifest = NULL, *ca = NULL, *next = NULL;
	g_autoptr(GBytes) one = NULL, two = NULL;
	TarW *t;
	g_autoptr(LimgStore) s = NULL;

	docker_parts(&d);
	ca = g_strdup_printf("%s.json", d.id_a);
	manifest = g_strdup_printf("[{\"Config\":\"%s\",\"Layers\":[\"b.tar\",\"t.tar\"]}]", ca);
	t = tw_new(false);
	tw_file(t, "manifest.json", "[]", 2);
	one = tw_finish(t);
	put_source_file(one);
	s = open_store(NULL);
	{
		g_autofree char *ids = th_store_ids(s);

		cr_expect_str_eq(ids, "");
	}
	t = tw_new(false);
	tw_file(t, "pad", "0123456789", 10);   /* the offsets move */
	tw_bytes(t, "b.tar", d.base.bytes);
	tw_bytes(t, "t.tar", d.top.bytes);
	tw_file(t, ca, d.config_a, strlen(d.config_a));
	tw_file(t, "manifest.json", manifest, strlen(manifest));
	two = tw_finish(t);
	{
		gsize len;
		const void *data = g_bytes_get_data(two, &len);

		th_write(base, "next", data, len);
	}
	next = g_build_filename(base, "next", NULL);
	cr_assert_eq(rename(next, source), 0);
	expect_tar_layer(s, d.base.diff, d.base.bytes, d.base.diff);
	expect_tar_layer(s, d.top.diff, d.top.bytes, d.top.diff);
	docker_clear(&d);
}

/* ------------------------------------------------------------ containerd */

#define CTD_BLOBS "io.containerd.content.v1.content"
#define CTD_DB "io.containerd.metadata.v1.bolt/meta.db"

/* Image record @name of namespace @ns: target @hex, a manifest of @size bytes. */
static void
ctd_image(ThBolt *db, const char *ns, const char *name, const char *mt, const char *hex,
          size_t size)
{
	const char *const target[] = { "v1", ns, "images", name, "target", NULL };
	const char *const image[] = { "v1", ns, "images", name, NULL };
	g_autofree char *digest = g_strconcat("sha256:", hex, NULL);

	th_bolt_put_str(db, image, "createdat", "\x01");
	th_bolt_put_str(db, target, "digest", digest);
	th_bolt_put_str(db, target, "mediatype", mt);
	th_bolt_put_varint(db, target, "size", (int64_t)size);
}

Test(store_blobs, containerd_images_of_every_namespace)
{
	g_autofree char *content = g_build_filename(source, CTD_BLOBS, NULL);
	TOne a, b;
	g_autoptr(ThBolt) db = th_bolt_new();
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	g_autofree char *ids = NULL, *want = NULL, *log = NULL, *digest_ref = NULL, *id_ref = NULL;

	th_mkdir(source, CTD_BLOBS);
	a = one_image(content, "a", true);
	b = one_image(content, "b", false);
	th_bolt_put_varint(db, (const char *[]){ "v1", NULL }, "version", 3);
	ctd_image(db, "default", "docker.io/library/a:1", MT_MANIFEST, a.im.manifest,
	          a.im.manifest_size);
	ctd_image(db, "k8s.io", "docker.io/library/b:2", MT_MANIFEST, b.im.manifest,
	          b.im.manifest_size);
	/* CRI also names images by digest reference and by id: not tags. */
	digest_ref = g_strdup_printf("docker.io/library/b@sha256:%s", b.im.manifest);
	id_ref = g_strdup_printf("sha256:%s", b.im.config);
	ctd_image(db, "k8s.io", digest_ref, MT_MANIFEST, b.im.manifest, b.im.manifest_size);
	ctd_image(db, "k8s.io", id_ref, MT_MANIFEST, b.im.manifest, b.im.manifest_size);
	/* A record whose target is not what it says: left out, logged. */
	ctd_image(db, "moby", "missing:1", MT_MANIFEST, a.l.hex, 1);
	th_bolt_bucket(db, (const char *[]){ "v1", "limg-empty", NULL });
	th_bolt_save(db, source, CTD_DB);
	s = open_store(NULL);
	cr_expect_str_eq(limg_store_kind(s), "containerd");
	m = read_logged(s, &ids, &log);
	want = sorted_ids(a.l.hex, b.l.hex, NULL);
	cr_expect_str_eq(ids, want);
	expect_tar_layer(s, a.l.hex, a.l.bytes, a.l.hex);
	cr_expect_str_eq(tag_image(m, "docker.io/library/a:1"), a.im.config, "default: the name");
	cr_expect_str_eq(tag_image(m, "k8s.io/docker.io/library/b:2"), b.im.config,
	                 "other namespaces: <ns>/<name>");
	cr_expect_eq(g_hash_table_size(m->tags), 2, "digest references and ids are no tags");
	cr_expect_eq(m->images->len, 2);
	expect_logged(log, "image missing:1 (namespace moby)", "descriptor says 1");
	{
		g_auto(GStrv) watch = limg_store_meta_watch(s);
		g_autofree char *canon = g_canonicalize_filename(source, NULL);
		g_autofree char *dbdir = g_build_filename(canon, "io.containerd.metadata.v1.bolt", NULL);

		cr_expect(g_strv_contains((const char *const *)watch, dbdir));
	}
	one_clear(&a);
	one_clear(&b);
}

Test(store_blobs, containerd_without_a_readable_database_serves_nothing_and_says_why)
{
	g_autofree char *content = g_build_filename(source, CTD_BLOBS, NULL);
	TOne o;
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *log = NULL, *ids = NULL;

	th_mkdir(source, CTD_BLOBS);
	o = one_image(content, "a", false);
	th_write_text(source, CTD_DB, "not a bolt database");
	s = open_store("containerd");
	log_begin();
	ids = th_store_ids(s);
	log = log_end();
	cr_expect_str_eq(ids, "");
	expect_logged(log, "meta.db", "not a bolt database this reader knows");
	one_clear(&o);
}

/*
 * containerd's own meta.db (tests/data/bolt, made by Debian's containerd
 * 1.6: localhost/limg-bolt:1 and :alias, localhost/limg-bolt-base:1), over
 * a content store without the blobs: the records are read as containerd
 * wrote them (names, target digests, sizes), each image left out, named.
 */
Test(store_blobs, containerd_s_own_database_is_read)
{
	g_autofree char *fixture = th_data_path("tests/data/bolt/meta.db");
	g_autofree uint8_t *bytes = NULL;
	g_autoptr(LimgStore) s = NULL;
	g_autofree char *log = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	size_t len = 0;
	/* The manifest of limg-bolt:1 (expected/images-ls.txt), 577 bytes (blobs.txt). */
	const char *manifest = "4a886ac4cce2c8d03e889a9987e8288bc5ca770265fa6752d14d23f9290cce93";
	g_autofree char *rel = g_strdup_printf(CTD_BLOBS "/blobs/sha256/%s", manifest);

	if (!th_exists(fixture))
		cr_skip_test("no %s", fixture);
	bytes = th_read(fixture, &len);
	th_write(source, CTD_DB, bytes, len);
	th_write_text(source, rel, "short");
	s = open_store(NULL);
	m = meta_logged(s, &log);
	cr_expect_eq(m->images->len, 0);
	expect_logged(log, "image localhost/limg-bolt:1 (namespace default)",
	              "5 bytes, but the descriptor says 577");
	expect_logged(log, "image localhost/limg-bolt-base:1 (namespace default)", "missing");
	expect_logged(log, "image localhost/limg-bolt:alias (namespace default)", NULL);
}

Test(store_blobs, containerd_index_target_takes_the_host_platform)
{
	g_autofree char *content = g_build_filename(source, CTD_BLOBS, NULL);
	TOne h, f;
	g_autoptr(ThBolt) db = th_bolt_new();
	g_autofree char *fp = g_strdup_printf("linux/%s", foreign_platform());
	g_autofree char *ph = platform_of(limg_blob_host_platform()), *pf = platform_of(fp);
	g_autofree char *dh = NULL, *df = NULL, *ihex = NULL;
	g_autoptr(LimgStore) s = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	size_t isize;

	th_mkdir(source, CTD_BLOBS);
	h = one_image(content, "h", false);
	f = one_image(content, "f", false);
	h.im.manifest_mt = MT_DOCKER_MANIFEST;   /* the descriptor's type; the walk takes both */
	dh = desc_of(&h.im, ph);
	df = desc_of(&f.im, pf);
	ihex = put_index(content, (const char *[]){ df, dh, NULL }, &isize);
	ctd_image(db, "default", "docker.io/library/multi:1", MT_INDEX, ihex, isize);
	th_bolt_save(db, source, CTD_DB);
	s = open_store(NULL);
	m = limg_store_meta(s);
	cr_expect_str_eq(tag_image(m, "docker.io/library/multi:1"), h.im.config);
	cr_expect_eq(m->images->len, 2);
	one_clear(&h);
	one_clear(&f);
}
