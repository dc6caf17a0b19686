/*
 * store-meta.c - metadata snapshots and what the metadata backends share:
 * bounded reads of metadata files, digest checks, chain ids, messages
 * logged once. See store.h and store-internal.h.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store-internal.h"
#include "util/log.h"

static void
meta_layer_free(gpointer p)
{
	LimgMetaLayer *l = p;

	g_free(l->id);
	g_free(l->rel);
	g_free(l->diff_id);
	g_free(l->chain_id);
	g_free(l->digest);
	g_free(l);
}

static void
meta_image_free(gpointer p)
{
	LimgMetaImage *im = p;

	g_free(im->id);
	g_ptr_array_free(im->tags, TRUE);
	g_ptr_array_free(im->layers, TRUE);
	if (im->chains)
		g_ptr_array_free(im->chains, TRUE);
	g_free(im);
}

static void
meta_container_free(gpointer p)
{
	LimgMetaContainer *c = p;

	g_free(c->id);
	g_free(c->files_dir);
	g_free(c);
}

LimgStoreMeta *
limg_store_meta_new(void)
{
	static gint64 serial;
	LimgStoreMeta *m = g_new0(LimgStoreMeta, 1);

	m->ref = 1;
	m->serial = (uint64_t)__atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
	m->layers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, meta_layer_free);
	m->by_diff = g_hash_table_new(g_str_hash, g_str_equal);
	m->by_chain = g_hash_table_new(g_str_hash, g_str_equal);
	m->images = g_ptr_array_new_with_free_func(meta_image_free);
	m->containers = g_ptr_array_new_with_free_func(meta_container_free);
	m->tags = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	m->pending = g_ptr_array_new_with_free_func(g_free);
	return m;
}

LimgStoreMeta *
limg_store_meta_ref(LimgStoreMeta *m)
{
	g_atomic_int_inc(&m->ref);
	return m;
}

void
limg_store_meta_unref(LimgStoreMeta *m)
{
	if (!m || !g_atomic_int_dec_and_test(&m->ref))
		return;
	g_hash_table_destroy(m->tags);
	g_ptr_array_free(m->pending, TRUE);
	g_ptr_array_free(m->containers, TRUE);
	g_ptr_array_free(m->images, TRUE);
	g_hash_table_destroy(m->by_chain);
	g_hash_table_destroy(m->by_diff);
	g_hash_table_destroy(m->layers);
	g_free(m);
}

static int
cmp_image(gconstpointer a, gconstpointer b)
{
	return strcmp((*(LimgMetaImage *const *)a)->id, (*(LimgMetaImage *const *)b)->id);
}

static int
cmp_container(gconstpointer a, gconstpointer b)
{
	return strcmp((*(LimgMetaContainer *const *)a)->id,
	              (*(LimgMetaContainer *const *)b)->id);
}

static int
cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

LimgMetaImage *
limg_store_meta_image(const LimgStoreMeta *m, const char *id)
{
	for (guint lo = 0, hi = m->images->len; lo < hi;) {
		guint mid = lo + (hi - lo) / 2;
		LimgMetaImage *im = m->images->pdata[mid];
		int r = strcmp(im->id, id);

		if (r == 0)
			return im;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *
limg_meta_image_chain(const LimgMetaImage *im, guint i)
{
	if (i >= im->layers->len)
		return NULL;
	if (im->chains && i < im->chains->len)
		return im->chains->pdata[i];
	return ((const LimgMetaLayer *)im->layers->pdata[i])->chain_id;
}

LimgMetaContainer *
limg_store_meta_container(const LimgStoreMeta *m, const char *id)
{
	for (guint lo = 0, hi = m->containers->len; lo < hi;) {
		guint mid = lo + (hi - lo) / 2;
		LimgMetaContainer *c = m->containers->pdata[mid];
		int r = strcmp(c->id, id);

		if (r == 0)
			return c;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

LimgMetaLayer *
limg_meta_add_layer(LimgStoreMeta *m, const char *id, const char *rel, const char *diff_id,
                    const char *chain_id, bool init)
{
	LimgMetaLayer *l;

	if (g_hash_table_contains(m->layers, id))
		return NULL;
	l = g_new0(LimgMetaLayer, 1);
	l->id = g_strdup(id);
	l->rel = g_strdup(rel);
	l->diff_id = g_strdup(diff_id);
	l->chain_id = g_strdup(chain_id);
	l->init = init;
	g_hash_table_insert(m->layers, l->id, l);
	return l;
}

LimgMetaLayer *
limg_meta_add_blob_layer(LimgStoreMeta *m, const char *id, const char *rel, uint64_t offset,
                         uint64_t length, const char *digest, const char *diff_id,
                         const char *chain_id)
{
	LimgMetaLayer *l = limg_meta_add_layer(m, id, rel, diff_id, chain_id, false);

	if (!l)
		return NULL;
	l->blob = true;
	l->offset = offset;
	l->length = length;
	l->digest = g_strdup(digest);
	return l;
}

LimgMetaImage *
limg_meta_add_image(LimgStoreMeta *m, const char *id)
{
	LimgMetaImage *im = g_new0(LimgMetaImage, 1);

	im->id = g_strdup(id);
	im->tags = g_ptr_array_new_with_free_func(g_free);
	im->layers = g_ptr_array_new();
	g_ptr_array_add(m->images, im);
	return im;
}

LimgMetaContainer *
limg_meta_add_container(LimgStoreMeta *m, const char *id, LimgMetaImage *image,
                        LimgMetaLayer *init, const char *files_dir)
{
	LimgMetaContainer *c = g_new0(LimgMetaContainer, 1);

	c->id = g_strdup(id);
	c->image = image;
	c->init = init;
	c->files_dir = g_strdup(files_dir);
	g_ptr_array_add(m->containers, c);
	return c;
}

bool
limg_meta_add_tag(LimgStoreMeta *m, const char *tag, LimgMetaImage *image)
{
	if (g_hash_table_contains(m->tags, tag))
		return false;
	g_hash_table_insert(m->tags, g_strdup(tag), image);
	g_ptr_array_add(image->tags, g_strdup(tag));
	return true;
}

/* The smaller layer id wins a name two layers share (same content). */
static void
name_layer(GHashTable *map, const char *digest, LimgMetaLayer *l)
{
	const char *hex;
	LimgMetaLayer *other;

	if (!digest || !g_str_has_prefix(digest, "sha256:"))
		return;
	hex = digest + strlen("sha256:");
	other = g_hash_table_lookup(map, hex);
	if (!other || strcmp(l->id, other->id) < 0)
		g_hash_table_insert(map, (gpointer)hex, l);
}

static void
remove_str(GPtrArray *a, const char *s)
{
	for (guint i = 0; i < a->len; i++) {
		if (strcmp(a->pdata[i], s) == 0) {
			g_ptr_array_remove_index(a, i);
			return;
		}
	}
}

/*
 * tags/ shows "a:1" as a link and "a:1/b:2" as a link in directory a:1:
 * one path cannot be both, so the tag that is a directory of another goes.
 */
static void
drop_shadowed_tags(LimgStoreMeta *m)
{
	g_autoptr(GHashTable) drop = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init(&it, m->tags);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		const char *tag = key;

		for (const char *p = strchr(tag, '/'); p; p = strchr(p + 1, '/')) {
			g_autofree char *dir = g_strndup(tag, (gsize)(p - tag));

			if (g_hash_table_contains(m->tags, dir) && !g_hash_table_contains(drop, dir)) {
				limg_store_log_once("tag %s is also a directory of tag %s under tags/; "
				                    "left out", dir, tag);
				g_hash_table_add(drop, g_steal_pointer(&dir));
			}
		}
	}
	g_hash_table_iter_init(&it, drop);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		LimgMetaImage *im = g_hash_table_lookup(m->tags, key);

		remove_str(im->tags, key);
		g_hash_table_remove(m->tags, key);
	}
}

void
limg_meta_finish(LimgStoreMeta *m)
{
	GHashTableIter it;
	gpointer v;

	drop_shadowed_tags(m);
	g_ptr_array_sort(m->images, cmp_image);
	g_ptr_array_sort(m->containers, cmp_container);
	for (guint i = 0; i < m->images->len; i++)
		g_ptr_array_sort(((LimgMetaImage *)m->images->pdata[i])->tags, cmp_str);
	g_hash_table_iter_init(&it, m->layers);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		LimgMetaLayer *l = v;

		name_layer(m->by_diff, l->diff_id, l);
		name_layer(m->by_chain, l->chain_id, l);
	}
	/* A blob stacked in several images has a chain id in each. */
	for (guint i = 0; i < m->images->len; i++) {
		LimgMetaImage *im = m->images->pdata[i];

		for (guint k = 0; im->chains && k < im->layers->len; k++)
			name_layer(m->by_chain, limg_meta_image_chain(im, k), im->layers->pdata[k]);
	}
}

/* ------------------------------------------------------------ helpers */

static GMutex once_lock;
static GHashTable *once_seen;

static void
log_once_v(int level, const char *fmt, va_list ap)
{
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	bool fresh;

	g_mutex_lock(&once_lock);
	if (!once_seen)
		once_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fresh = !g_hash_table_contains(once_seen, msg);
	if (fresh)
		g_hash_table_add(once_seen, g_strdup(msg));
	g_mutex_unlock(&once_lock);
	if (fresh)
		limg_log((LimgLogLevel)level, "%s", msg);
}

void
limg_store_log_once(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_once_v(LIMG_LOG_WARN, fmt, ap);
	va_end(ap);
}

void
limg_store_log_once_at(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_once_v(level, fmt, ap);
	va_end(ap);
}

bool
limg_store_valid_hex(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		if (!g_ascii_isxdigit(s[n]) || g_ascii_isupper(s[n]))
			return false;
	}
	return n == 64;
}

bool
limg_store_valid_digest(const char *s)
{
	return s && g_str_has_prefix(s, "sha256:") && limg_store_valid_hex(s + strlen("sha256:"));
}

char *
limg_store_chain_id(const char *parent_chain, const char *diff_id)
{
	g_autofree char *text = NULL;
	g_autofree char *hex = NULL;

	if (!parent_chain)
		return g_strdup(diff_id);
	text = g_strdup_printf("%s %s", parent_chain, diff_id);
	hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
	return g_strconcat("sha256:", hex, NULL);
}

int
limg_store_read_file(int dir_fd, const char *path, size_t max, char **out, size_t *len)
{
	g_autofree char *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd;

	*out = NULL;
	fd = openat(dir_fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf = g_malloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = 0;
	if (len)
		*len = got;
	*out = g_steal_pointer(&buf);
	return 0;
}

char *
limg_store_read_line(int dir_fd, const char *path)
{
	char *text = NULL;

	if (limg_store_read_file(dir_fd, path, 4096, &text, NULL) < 0)
		return NULL;
	g_strstrip(text);
	return text;
}

JsonNode *
limg_store_read_json(int dir_fd, const char *path, size_t max, const char *label)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	size_t len = 0;
	int ret = limg_store_read_file(dir_fd, path, max, &text, &len);

	if (ret == -ENOENT)
		return NULL;
	if (ret < 0) {
		limg_store_log_once("%s: %s; ignored", label,
		                    ret == -EFBIG ? "larger than a metadata file can be" :
		                    ret == -EINVAL ? "not a regular file" : g_strerror(-ret));
		return NULL;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, text, (gssize)len, &error)) {
		limg_store_log_once("%s: not JSON (%s); ignored", label, error->message);
		return NULL;
	}
	return json_parser_steal_root(parser);
}

const char *
limg_json_node_string(JsonNode *n)
{
	if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

const char *
limg_json_string(JsonObject *o, const char *member)
{
	return limg_json_node_string(o ? json_object_get_member(o, member) : NULL);
}

JsonObject *
limg_json_object(JsonObject *o, const char *member)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;

	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

JsonArray *
limg_json_array(JsonObject *o, const char *member)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;

	return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

bool
limg_store_valid_tag(const char *tag)
{
	const char *colon = strrchr(tag, ':');
	g_auto(GStrv) parts = NULL;

	/* repository[/more]:tag; no component empty, ".", "..", or hidden. */
	if (!colon || colon == tag || !colon[1] || strlen(tag) > 1024 || strchr(colon, '/'))
		return false;
	for (const char *p = tag; *p; p++) {
		if ((unsigned char)*p < 0x21 || *p == 0x7f || *p == '\\')
			return false;
	}
	parts = g_strsplit(tag, "/", -1);
	for (guint i = 0; parts[i]; i++) {
		if (!parts[i][0] || parts[i][0] == '.' || strlen(parts[i]) > 250)
			return false;
	}
	return true;
}
