/*
 * store-blobs.c - the blob walk's blobs and images (store-blobs-internal.h):
 * descriptors, and JSON blobs read and checked against their digests;
 * manifests and configs made images of tar blobs; tags; the directory
 * reader. Layouts and indexes are walked in store-blobs-index.c
 * (store-blobs-walk-internal.h).
 *
 * References: OCI image-spec v1.1 (manifest.md, config.md, descriptor.md,
 * annotations.md); Docker image manifest v2 schema 2 (the manifest media
 * type).
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "store/store-blobs-walk-internal.h"
#include "util/log.h"

#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"

/* The layer media types a tar source can serve, and what they hold. */
static const struct {
	const char *type;
	LimgBlobCompression comp;
} layer_types[] = {
	{ "application/vnd.oci.image.layer.v1.tar", LIMG_BLOB_PLAIN },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", LIMG_BLOB_GZIP },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", LIMG_BLOB_ZSTD },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar", LIMG_BLOB_PLAIN },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LIMG_BLOB_GZIP },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LIMG_BLOB_ZSTD },
	{ "application/vnd.docker.image.rootfs.diff.tar", LIMG_BLOB_PLAIN },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", LIMG_BLOB_GZIP },
	{ "application/vnd.docker.image.rootfs.diff.tar.zstd", LIMG_BLOB_ZSTD },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar", LIMG_BLOB_PLAIN },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LIMG_BLOB_GZIP },
};

void
limg_blob_loc_clear(LimgBlobLoc *loc)
{
	g_clear_pointer(&loc->rel, g_free);
}

/* ------------------------------------------------------------ small parts */

LimgBlobCompression
limg_blob_compression(const uint8_t *head, size_t len)
{
	static const uint8_t gzip[] = { 0x1f, 0x8b }, zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 }, bzip2[] = { 'B', 'Z', 'h' };

	if (len >= sizeof(gzip) && memcmp(head, gzip, sizeof(gzip)) == 0)
		return LIMG_BLOB_GZIP;
	if (len >= sizeof(zstd) && memcmp(head, zstd, sizeof(zstd)) == 0)
		return LIMG_BLOB_ZSTD;
	if ((len >= sizeof(xz) && memcmp(head, xz, sizeof(xz)) == 0) ||
	    (len >= sizeof(bzip2) && memcmp(head, bzip2, sizeof(bzip2)) == 0))
		return LIMG_BLOB_OTHER;
	return LIMG_BLOB_PLAIN;
}

static bool
layer_compression(const char *type, LimgBlobCompression *comp)
{
	for (size_t i = 0; type && i < G_N_ELEMENTS(layer_types); i++) {
		if (strcmp(type, layer_types[i].type) == 0) {
			*comp = layer_types[i].comp;
			return true;
		}
	}
	return false;
}

/* "sha256:<hex>" -> "<hex>" (a valid digest only). */
static const char *
hex_of(const char *digest)
{
	return digest + strlen("sha256:");
}

char *
limg_blob_path(const LimgBlobWalk *w, const char *hex)
{
	return g_strconcat(w->r->blobs, hex, NULL);
}

char *
limg_blob_label(const LimgBlobWalk *w, const char *path)
{
	return w->r->label(w->r->ctx, path);
}

/* Why a read or locate failed, for messages. Caller frees. */
char *
limg_blob_read_error(int ret, size_t max)
{
	switch (ret) {
	case -ENOENT:
		return g_strdup("missing");
	case -ELOOP:
		return g_strdup("a symlink, refused");
	case -EINVAL:
		return g_strdup("not a regular file");
	case -EFBIG:
		return g_strdup_printf("larger than %zu bytes", max);
	default:
		return g_strdup(g_strerror(-ret));
	}
}

/* Parse @text as a JSON object: the root, or NULL and *@why (caller frees). */
JsonNode *
limg_blob_parse_object(const char *text, size_t len, char **why)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error = NULL;
	JsonNode *root;

	if (!json_parser_load_from_data(parser, text, (gssize)len, &error)) {
		*why = g_strdup_printf("not JSON (%s)", error->message);
		return NULL;
	}
	root = json_parser_steal_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		*why = g_strdup("not a JSON object");
		g_clear_pointer(&root, json_node_unref);
	}
	return root;
}

/*
 * Entry @what of @label as a descriptor: false when it is unusable
 * (logged: "<label>: <what>: ...; <left> left out").
 */
bool
limg_blob_parse_desc(JsonObject *o, const char *label, const char *what, const char *left,
                     LimgBlobDesc *d)
{
	const char *digest = limg_json_string(o, "digest");
	JsonNode *size = o ? json_object_get_member(o, "size") : NULL;
	const char *colon = digest ? strchr(digest, ':') : NULL;

	memset(d, 0, sizeof(*d));
	if (!digest || !colon) {
		limg_store_log_once("%s: %s: no digest; %s left out", label, what, left);
		return false;
	}
	if (!g_str_has_prefix(digest, "sha256:")) {
		limg_store_log_once("%s: %s: digest algorithm %.*s is not supported (only sha256); "
		                    "%s left out", label, what, (int)MIN(colon - digest, 32), digest,
		                    left);
		return false;
	}
	if (!limg_store_valid_digest(digest)) {
		limg_store_log_once("%s: %s: \"%.80s\" is not a sha256 digest; %s left out", label,
		                    what, digest, left);
		return false;
	}
	d->hex = hex_of(digest);
	d->size = -1;
	if (size) {
		if (!JSON_NODE_HOLDS_VALUE(size) || json_node_get_value_type(size) != G_TYPE_INT64 ||
		    json_node_get_int(size) < 0) {
			limg_store_log_once("%s: %s: size is not a byte count; %s left out", label, what,
			                    left);
			return false;
		}
		d->size = json_node_get_int(size);
	}
	d->media_type = limg_json_string(o, "mediaType");
	d->platform = limg_json_object(o, "platform");
	d->annotations = limg_json_object(o, "annotations");
	return true;
}

/*
 * Blob @d whole, checked: its size (if the descriptor gives one) and its
 * digest. 0 and *@text, *@len, or -1 (logged, naming the blob and
 * @referrer; "<left> left out").
 */
static int
read_blob(LimgBlobWalk *w, const LimgBlobDesc *d, size_t max, const char *referrer,
          const char *left, char **text, size_t *len)
{
	g_autofree char *path = limg_blob_path(w, d->hex);
	g_autofree char *label = limg_blob_label(w, path);
	g_autofree char *sum = NULL, *why = NULL;
	int ret = w->r->read(w->r->ctx, path, max, text, len);

	if (ret < 0) {
		why = limg_blob_read_error(ret, max);
		limg_store_log_once("%s (named by %s): %s; %s left out", label, referrer, why, left);
		return -1;
	}
	if (d->size >= 0 && (uint64_t)*len != (uint64_t)d->size) {
		limg_store_log_once("%s (named by %s): %zu bytes, but the descriptor says %" G_GINT64_FORMAT
		                    "; %s left out", label, referrer, *len, d->size, left);
		g_clear_pointer(text, g_free);
		return -1;
	}
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)*text, *len);
	if (strcmp(sum, d->hex) != 0) {
		limg_store_log_once("%s (named by %s): content does not match its digest; %s left out",
		                    label, referrer, left);
		g_clear_pointer(text, g_free);
		return -1;
	}
	return 0;
}

/* JSON object blob @d, checked as read_blob(); NULL when it is not (logged). */
JsonNode *
limg_blob_read_json(LimgBlobWalk *w, const LimgBlobDesc *d, size_t max, const char *referrer,
                    const char *left)
{
	g_autofree char *text = NULL, *why = NULL;
	size_t len = 0;
	JsonNode *root;

	if (read_blob(w, d, max, referrer, left, &text, &len) < 0)
		return NULL;
	root = limg_blob_parse_object(text, len, &why);
	if (!root) {
		g_autofree char *path = limg_blob_path(w, d->hex);
		g_autofree char *label = limg_blob_label(w, path);

		limg_store_log_once("%s (named by %s): %s; %s left out", label, referrer, why, left);
	}
	return root;
}

/* ------------------------------------------------------------ tags */

bool
limg_blob_valid_bare_tag(const char *tag)
{
	if (!tag[0] || tag[0] == '.' || strlen(tag) > 250 || strpbrk(tag, "/:@\\"))
		return false;
	for (const char *p = tag; *p; p++) {
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			return false;
	}
	return true;
}

static bool
usable_tag(const char *tag)
{
	return !strchr(tag, '@') && (limg_store_valid_tag(tag) || limg_blob_valid_bare_tag(tag));
}

const char *
limg_blob_tag(JsonObject *annotations, const char *label)
{
	const char *full = limg_json_string(annotations, ANN_CONTAINERD_NAME);
	const char *ref = limg_json_string(annotations, ANN_REF_NAME);

	/* The full reference first: tags/docker.io/library/x:1 says more than tags/1. */
	if (full && !strchr(full, '@') && limg_store_valid_tag(full))
		return full;
	if (ref && usable_tag(ref))
		return ref;
	if (full || ref) {
		g_autofree char *e = g_strescape(ref ? ref : full, NULL);

		limg_store_log_once("%s: reference \"%.200s\" cannot be a path under tags/; no tag",
		                    label, e);
	}
	return NULL;
}

bool
limg_blob_walk_tag(LimgBlobWalk *w, LimgMetaImage *im, const char *tag, const char *referrer)
{
	LimgMetaImage *other;

	if (!usable_tag(tag)) {
		g_autofree char *e = g_strescape(tag, NULL);

		limg_store_log_once("%s: tag \"%.200s\" cannot be a path under tags/; left out",
		                    referrer, e);
		return false;
	}
	other = g_hash_table_lookup(w->m->tags, tag);
	if (other == im)
		return true;
	if (other) {
		limg_store_log_once("%s: tag %s names image %s, but it is image %s's already; the "
		                    "first kept", referrer, tag, im->id, other->id);
		return false;
	}
	return limg_meta_add_tag(w->m, tag, im);
}

/* ------------------------------------------------------------ images */

/* rootfs.diff_ids of config @o, all sha256 digests; NULL if not (logged). */
static GPtrArray *
config_diff_ids(JsonObject *o, const char *label)
{
	JsonArray *a = limg_json_array(limg_json_object(o, "rootfs"), "diff_ids");
	GPtrArray *out;

	if (!a) {
		limg_store_log_once("%s: no rootfs.diff_ids; image left out", label);
		return NULL;
	}
	out = g_ptr_array_new();
	for (guint i = 0; i < json_array_get_length(a); i++) {
		const char *diff = limg_json_node_string(json_array_get_element(a, i));

		if (!limg_store_valid_digest(diff)) {
			limg_store_log_once("%s: rootfs.diff_ids[%u] is not a sha256 digest; image left "
			                    "out", label, i);
			g_ptr_array_free(out, TRUE);
			return NULL;
		}
		g_ptr_array_add(out, (gpointer)diff);
	}
	return out;
}

/*
 * Can layer @i (@l, diff id @diff) be one of this image's? Logs why not,
 * naming the layer and @config_name.
 */
static bool
layer_ok(LimgBlobWalk *w, const LimgBlobLayer *l, guint i, const char *diff,
         const char *config_name)
{
	const LimgMetaLayer *known;

	if (l->comp == LIMG_BLOB_OTHER) {
		limg_store_log_once("%s: layer %u is compressed with neither gzip nor zstd; image %s "
		                    "left out", l->name, i + 1, config_name);
		return false;
	}
	/* The digest of a plain tar is the digest of its uncompressed bytes. */
	if (l->comp == LIMG_BLOB_PLAIN && l->digest && strcmp(l->digest, diff) != 0) {
		limg_store_log_once("%s: layer %u is an uncompressed tar, so its digest must be its "
		                    "diff id %s (%s); image left out", l->name, i + 1, diff,
		                    config_name);
		return false;
	}
	known = g_hash_table_lookup(w->m->layers, hex_of(l->digest ? l->digest : diff));
	if (known && g_strcmp0(known->diff_id, diff) != 0) {
		limg_store_log_once("%s: layer %u has diff id %s in %s, but %s in an image read "
		                    "before; image left out", l->name, i + 1, diff, config_name,
		                    known->diff_id);
		return false;
	}
	return true;
}

/* Add layer @l of diff id @diff and chain id @chain (or find it, same blob). */
static LimgMetaLayer *
add_layer(LimgBlobWalk *w, const LimgBlobLayer *l, const char *diff, const char *chain)
{
	const char *id = hex_of(l->digest ? l->digest : diff);
	LimgMetaLayer *ml = limg_meta_add_blob_layer(w->m, id, l->loc.rel, l->loc.offset,
	                                             l->loc.length, l->digest, diff, chain);

	if (!ml)
		return g_hash_table_lookup(w->m->layers, id);
	ml->file_dev = l->loc.file_dev;
	ml->file_ino = l->loc.file_ino;
	return ml;
}

/*
 * The image @id made of @layers: a new one, or the one of that id, its
 * layers replaced when @cost (compressed layers) is lower than its own.
 * Layers of the image are set when *@fill comes back true.
 */
static LimgMetaImage *
image_for(LimgBlobWalk *w, const char *id, guint cost, bool *fill)
{
	LimgMetaImage *im = g_hash_table_lookup(w->images, id);
	guint old = GPOINTER_TO_UINT(g_hash_table_lookup(w->costs, id));

	*fill = !im || cost + 1 < old;
	if (!im) {
		im = limg_meta_add_image(w->m, id);
		g_hash_table_insert(w->images, im->id, im);
	} else if (*fill) {
		g_ptr_array_set_size(im->layers, 0);
		g_ptr_array_set_size(im->chains, 0);
	}
	if (*fill)
		g_hash_table_insert(w->costs, im->id, GUINT_TO_POINTER(cost + 1));
	if (!im->chains)
		im->chains = g_ptr_array_new_with_free_func(g_free);
	return im;
}

LimgMetaImage *
limg_blob_walk_add_image(LimgBlobWalk *w, const char *config, size_t config_len,
                         const char *config_name, const LimgBlobLayer *layers, guint n,
                         const char *const *tags)
{
	g_autofree char *id = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
	                                                  (const guchar *)config, config_len);
	g_autofree char *why = NULL, *chain = NULL;
	g_autoptr(JsonNode) root = limg_blob_parse_object(config, config_len, &why);
	g_autoptr(GPtrArray) diffs = NULL;
	g_autofree LimgBlobLayer *own = NULL;
	LimgMetaImage *im;
	guint cost = 0;
	bool fill;

	if (!root) {
		limg_store_log_once("%s: %s; image left out", config_name, why);
		return NULL;
	}
	diffs = config_diff_ids(json_node_get_object(root), config_name);
	if (!diffs)
		return NULL;
	if (diffs->len != n) {
		limg_store_log_once("%s: %u diff ids for %u layers; image left out", config_name,
		                    diffs->len, n);
		return NULL;
	}
	/* As the docker store: an image of no layers has no root to serve. */
	if (n == 0) {
		limg_store_log_once("%s: no layers; image left out", config_name);
		return NULL;
	}
	own = g_new(LimgBlobLayer, n);
	for (guint i = 0; i < n; i++) {
		own[i] = layers[i];
		/* A plain tar's bytes are the uncompressed layer: its digest is the diff id. */
		if (!own[i].digest && own[i].comp == LIMG_BLOB_PLAIN)
			own[i].digest = diffs->pdata[i];
		if (!layer_ok(w, &own[i], i, diffs->pdata[i], config_name))
			return NULL;
		cost += own[i].comp != LIMG_BLOB_PLAIN;
	}
	im = image_for(w, id, cost, &fill);
	for (guint i = 0; i < n; i++) {
		char *next = limg_store_chain_id(chain, diffs->pdata[i]);
		LimgMetaLayer *ml;

		g_free(chain);
		chain = next;
		ml = add_layer(w, &own[i], diffs->pdata[i], chain);
		if (fill) {
			g_ptr_array_add(im->layers, ml);
			g_ptr_array_add(im->chains, g_strdup(chain));
		}
	}
	for (guint i = 0; tags && tags[i]; i++)
		limg_blob_walk_tag(w, im, tags[i], config_name);
	return im;
}

/*
 * Layer @i of a manifest (descriptor @o) as an image layer: false if it
 * is not one (logged). @l's location must be cleared either way.
 */
static bool
manifest_layer(LimgBlobWalk *w, JsonObject *o, guint i, const char *label, LimgBlobLayer *l,
               char **name)
{
	g_autofree char *what = g_strdup_printf("layer %u", i + 1);
	g_autofree char *path = NULL, *why = NULL;
	LimgBlobDesc d;
	int ret;

	if (!limg_blob_parse_desc(o, label, what, "image", &d))
		return false;
	path = limg_blob_path(w, d.hex);
	*name = limg_blob_label(w, path);
	if (!layer_compression(d.media_type, &l->comp)) {
		limg_store_log_once("%s: %s: media type %s is not a tar layer this store serves; "
		                    "image left out", label, what, d.media_type ? d.media_type : "(none)");
		return false;
	}
	ret = w->r->locate(w->r->ctx, path, &l->loc);
	if (ret < 0) {
		why = limg_blob_read_error(ret, 0);
		limg_store_log_once("%s (%s of %s): %s; image left out", *name, what, label, why);
		return false;
	}
	if (d.size >= 0 && l->loc.length != (uint64_t)d.size) {
		limg_store_log_once("%s (%s of %s): %" G_GUINT64_FORMAT " bytes, but the manifest says %"
		                    G_GINT64_FORMAT "; image left out", *name, what, label,
		                    l->loc.length, d.size);
		return false;
	}
	l->name = *name;
	l->digest = json_object_get_string_member(o, "digest");
	return true;
}

/* The layers of manifest @o; NULL if one is unusable (logged). */
static GArray *
manifest_layers(LimgBlobWalk *w, JsonObject *o, const char *label, GPtrArray *names)
{
	JsonArray *a = limg_json_array(o, "layers");
	GArray *out;

	if (!a) {
		limg_store_log_once("%s: no layers array; image left out", label);
		return NULL;
	}
	out = g_array_new(FALSE, TRUE, sizeof(LimgBlobLayer));
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		LimgBlobLayer l = { 0 };
		char *name = NULL;
		bool ok = JSON_NODE_HOLDS_OBJECT(n) &&
		          manifest_layer(w, json_node_get_object(n), i, label, &l, &name);

		if (name)
			g_ptr_array_add(names, name);
		g_array_append_val(out, l);
		if (!ok) {
			if (!JSON_NODE_HOLDS_OBJECT(n))
				limg_store_log_once("%s: layer %u is not an object; image left out", label,
				                    i + 1);
			for (guint k = 0; k < out->len; k++)
				limg_blob_loc_clear(&g_array_index(out, LimgBlobLayer, k).loc);
			g_array_free(out, TRUE);
			return NULL;
		}
	}
	return out;
}

/* The image of manifest @o (blob @label), or NULL (logged). */
LimgMetaImage *
limg_blob_walk_add_manifest(LimgBlobWalk *w, JsonObject *o, const char *label)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) layers = NULL;
	g_autofree char *config = NULL, *cpath = NULL, *clabel = NULL;
	LimgMetaImage *im = NULL;
	size_t len = 0;
	LimgBlobDesc c;

	if (!limg_blob_parse_desc(limg_json_object(o, "config"), label, "config", "image", &c))
		return NULL;
	if (c.media_type && strcmp(c.media_type, MT_OCI_CONFIG) != 0 &&
	    strcmp(c.media_type, MT_DOCKER_CONFIG) != 0) {
		limg_store_log_once("%s: config media type %s is not an image config's (an "
		                    "artifact?); left out", label, c.media_type);
		return NULL;
	}
	layers = manifest_layers(w, o, label, names);
	if (!layers)
		return NULL;
	if (read_blob(w, &c, LIMG_BLOBS_MAX_CONFIG, label, "image", &config, &len) == 0) {
		cpath = limg_blob_path(w, c.hex);
		clabel = limg_blob_label(w, cpath);
		im = limg_blob_walk_add_image(w, config, len, clabel,
		                              (const LimgBlobLayer *)(void *)layers->data, layers->len,
		                              NULL);
	}
	for (guint k = 0; k < layers->len; k++)
		limg_blob_loc_clear(&g_array_index(layers, LimgBlobLayer, k).loc);
	return im;
}

/* ------------------------------------------------------------ directory reader */

static int
dir_read(void *ctx, const char *path, size_t max, char **out, size_t *len)
{
	LimgBlobDirReader *d = ctx;

	*out = NULL;
	if (g_str_has_prefix(path, d->r.blobs) && d->blobs_err)
		return d->blobs_err;
	return limg_store_read_file(d->dir_fd, path, max, out, len);
}

static int
dir_locate(void *ctx, const char *path, LimgBlobLoc *loc)
{
	LimgBlobDirReader *d = ctx;
	struct stat st;
	int ret = g_str_has_prefix(path, d->r.blobs) ? d->blobs_err : 0;

	memset(loc, 0, sizeof(*loc));
	if (ret == 0)
		ret = limg_store_stat_blob(d->source, d->dir_fd, path, &st);
	if (ret < 0)
		return ret;
	loc->rel = g_strdup(path);
	loc->length = (uint64_t)st.st_size;
	return 0;
}

static char *
dir_label(void *ctx, const char *path)
{
	LimgBlobDirReader *d = ctx;

	return g_build_filename(d->source, path, NULL);
}

void
limg_blob_dir_reader_init(LimgBlobDirReader *d, const char *source, int dir_fd,
                          const char *blobs)
{
	g_auto(GStrv) parts = g_strsplit(blobs, "/", -1);
	g_autoptr(GString) at = g_string_new(NULL);

	memset(d, 0, sizeof(*d));
	d->r.read = dir_read;
	d->r.locate = dir_locate;
	d->r.label = dir_label;
	d->r.blobs = blobs;
	d->r.ctx = d;
	d->source = source;
	d->dir_fd = dir_fd;
	/* Every directory on the way to the blobs is a real one, or no blob is read. */
	for (guint i = 0; parts[i] && d->blobs_err == 0; i++) {
		struct stat st;

		if (!parts[i][0])
			continue;
		g_string_append_printf(at, "%s%s", at->len ? "/" : "", parts[i]);
		d->blobs_err = limg_store_stat_dir(source, dir_fd, at->str, &st);
	}
}
