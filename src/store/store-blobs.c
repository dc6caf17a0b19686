/*
 * store-blobs.c - OCI image layouts, indexes, manifests and configs, read
 * through a blob reader, as images of tar blobs; see
 * store-blobs-internal.h.
 *
 * References: OCI image-spec v1.1 (image-layout.md, image-index.md,
 * manifest.md, config.md, descriptor.md, annotations.md); Docker image
 * manifest v2 schema 2 (the manifest list and manifest media types).
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "store/store-blobs-internal.h"
#include "util/log.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"

#define MAX_LAYOUT_FILE (64u << 10)   /* oci-layout: one small object */

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

typedef enum { KIND_UNKNOWN, KIND_INDEX, KIND_MANIFEST } BlobKind;

/* A descriptor (OCI descriptor.md), checked. Borrows the JSON it came from. */
typedef struct {
	const char *hex;          /* of a valid "sha256:<hex>" digest */
	const char *media_type;   /* or NULL */
	int64_t size;             /* -1: not given */
	JsonObject *platform;     /* or NULL */
	JsonObject *annotations;  /* or NULL */
} Desc;

/* What became of a blob walked once: met again, it only gets tags. */
typedef struct {
	BlobKind kind;
	LimgMetaImage *image;     /* a manifest's image, or NULL (left out) */
	char *chosen;             /* an index: hex of the entry the host takes */
} Visit;

struct LimgBlobWalk {
	const char *source;
	const LimgBlobReader *r;
	LimgStoreMeta *m;
	GHashTable *visits;       /* hex -> Visit * */
	GHashTable *on_path;      /* hex of the indexes being walked (cycles) */
	GHashTable *images;       /* image id -> LimgMetaImage * */
	GHashTable *costs;        /* image id -> 1 + compressed layers of its manifest */
};

static void
visit_free(gpointer p)
{
	Visit *v = p;

	g_free(v->chosen);
	g_free(v);
}

void
limg_blob_loc_clear(LimgBlobLoc *loc)
{
	g_clear_pointer(&loc->rel, g_free);
}

LimgBlobWalk *
limg_blob_walk_new(const char *source, const LimgBlobReader *r, LimgStoreMeta *m)
{
	LimgBlobWalk *w = g_new0(LimgBlobWalk, 1);

	w->source = source;
	w->r = r;
	w->m = m;
	w->visits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, visit_free);
	w->on_path = g_hash_table_new(g_str_hash, g_str_equal);
	w->images = g_hash_table_new(g_str_hash, g_str_equal);
	w->costs = g_hash_table_new(g_str_hash, g_str_equal);
	return w;
}

void
limg_blob_walk_free(LimgBlobWalk *w)
{
	if (!w)
		return;
	g_hash_table_destroy(w->visits);
	g_hash_table_destroy(w->on_path);
	g_hash_table_destroy(w->images);
	g_hash_table_destroy(w->costs);
	g_free(w);
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

static BlobKind
kind_of_type(const char *type)
{
	if (!type)
		return KIND_UNKNOWN;
	if (strcmp(type, MT_OCI_INDEX) == 0 || strcmp(type, MT_DOCKER_LIST) == 0)
		return KIND_INDEX;
	if (strcmp(type, MT_OCI_MANIFEST) == 0 || strcmp(type, MT_DOCKER_MANIFEST) == 0)
		return KIND_MANIFEST;
	return KIND_UNKNOWN;
}

/*
 * What a blob without a known media type is: its own mediaType, else its
 * shape (an index has "manifests", a manifest "config" and "layers").
 */
static BlobKind
kind_of_blob(JsonObject *o)
{
	BlobKind k = kind_of_type(limg_json_string(o, "mediaType"));

	if (k != KIND_UNKNOWN)
		return k;
	if (limg_json_array(o, "manifests"))
		return KIND_INDEX;
	if (limg_json_object(o, "config") && limg_json_array(o, "layers"))
		return KIND_MANIFEST;
	return KIND_UNKNOWN;
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

static char *
blob_path(const LimgBlobWalk *w, const char *hex)
{
	return g_strconcat(w->r->blobs, hex, NULL);
}

static char *
label_of(const LimgBlobWalk *w, const char *path)
{
	return w->r->label(w->r->ctx, path);
}

/* Why a read or locate failed, for messages. Caller frees. */
static char *
read_error(int ret, size_t max)
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
static JsonNode *
parse_object(const char *text, size_t len, char **why)
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
static bool
parse_desc(JsonObject *o, const char *label, const char *what, const char *left, Desc *d)
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
read_blob(LimgBlobWalk *w, const Desc *d, size_t max, const char *referrer, const char *left,
          char **text, size_t *len)
{
	g_autofree char *path = blob_path(w, d->hex);
	g_autofree char *label = label_of(w, path);
	g_autofree char *sum = NULL, *why = NULL;
	int ret = w->r->read(w->r->ctx, path, max, text, len);

	if (ret < 0) {
		why = read_error(ret, max);
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
static JsonNode *
read_json_blob(LimgBlobWalk *w, const Desc *d, size_t max, const char *referrer,
               const char *left)
{
	g_autofree char *text = NULL, *why = NULL;
	size_t len = 0;
	JsonNode *root;

	if (read_blob(w, d, max, referrer, left, &text, &len) < 0)
		return NULL;
	root = parse_object(text, len, &why);
	if (!root) {
		g_autofree char *path = blob_path(w, d->hex);
		g_autofree char *label = label_of(w, path);

		limg_store_log_once("%s (named by %s): %s; %s left out", label, referrer, why, left);
	}
	return root;
}

/* ------------------------------------------------------------ platforms */

static char *
host_platform_once(void)
{
	static const struct {
		const char *machine, *platform;
	} map[] = {
		{ "x86_64", "linux/amd64" }, { "aarch64", "linux/arm64" },
		{ "arm64", "linux/arm64" }, { "armv7l", "linux/arm/v7" },
		{ "armv6l", "linux/arm/v6" }, { "i386", "linux/386" }, { "i486", "linux/386" },
		{ "i586", "linux/386" }, { "i686", "linux/386" }, { "ppc64le", "linux/ppc64le" },
		{ "s390x", "linux/s390x" }, { "riscv64", "linux/riscv64" },
	};
	struct utsname u;

	if (uname(&u) < 0)
		return g_strdup("linux/unknown");
	for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
		if (strcmp(u.machine, map[i].machine) == 0)
			return g_strdup(map[i].platform);
	}
	/* Go's GOARCH is the machine name for the others (mips64, loong64 ...). */
	return g_strconcat("linux/", u.machine, NULL);
}

const char *
limg_blob_host_platform(void)
{
	static char *host;

	if (g_once_init_enter(&host))
		g_once_init_leave(&host, host_platform_once());
	return host;
}

/* "os/arch[/variant]" of @p. Caller frees. */
static char *
platform_name(JsonObject *p)
{
	const char *os = limg_json_string(p, "os"), *arch = limg_json_string(p, "architecture");
	const char *variant = limg_json_string(p, "variant");

	return g_strdup_printf("%s/%s%s%s", os ? os : "?", arch ? arch : "?", variant ? "/" : "",
	                       variant ? variant : "");
}

/*
 * How well a manifest of platform @p (NULL: none said) fits this host:
 * 3 exactly, 2 the same os and architecture without a variant, 1 no
 * platform at all, 0 not at all.
 */
static int
platform_score(JsonObject *p)
{
	g_autofree char *name = NULL;
	const char *host = limg_blob_host_platform();

	if (!p)
		return 1;
	name = platform_name(p);
	if (strcmp(name, host) == 0)
		return 3;
	/* arm64's one variant, v8, is arm64 itself. */
	if (strcmp(host, "linux/arm64") == 0 && strcmp(name, "linux/arm64/v8") == 0)
		return 3;
	if (!limg_json_string(p, "variant") && g_str_has_prefix(host, name) &&
	    host[strlen(name)] == '/')
		return 2;
	return 0;
}

/*
 * Which of @descs[@idx[0..@n)] the host takes: the best platform_score()
 * above 0, the first of equals; -1 for none. Logs once (naming @label and
 * @tag, which may be NULL) which platforms there are when there are
 * several, and that none fits when none does.
 */
static int
choose_platform(const Desc *descs, const guint *idx, guint n, const char *label,
                const char *tag)
{
	g_autoptr(GString) others = g_string_new(NULL);
	g_autofree char *taken = NULL;
	int best = -1, best_score = 0;
	guint platforms = 0;

	for (guint i = 0; i < n; i++) {
		int score = platform_score(descs[idx[i]].platform);

		if (score > best_score) {
			best_score = score;
			best = (int)idx[i];
		}
	}
	for (guint i = 0; i < n; i++) {
		g_autofree char *name = NULL;

		if (!descs[idx[i]].platform)
			continue;
		platforms++;
		name = platform_name(descs[idx[i]].platform);
		if ((int)idx[i] == best && !taken)
			taken = g_steal_pointer(&name);
		else
			g_string_append_printf(others, "%s%s", others->len ? ", " : "", name);
	}
	if (best < 0 && platforms)
		limg_store_log_once("%s: no image for this host's platform %s (there are %s)%s%s%s",
		                    label, limg_blob_host_platform(), others->str,
		                    tag ? "; tag " : "", tag ? tag : "", tag ? " not set" : "");
	else if (platforms > 1)
		limg_store_log_once_at(LIMG_LOG_INFO, "%s: platform %s taken%s%s; the others are "
		                       "images without a tag (under images/): %s", label,
		                       taken ? taken : "(none said)", tag ? " for tag " : "",
		                       tag ? tag : "", others->str);
	return best;
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
	g_autoptr(JsonNode) root = parse_object(config, config_len, &why);
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
	Desc d;
	int ret;

	if (!parse_desc(o, label, what, "image", &d))
		return false;
	path = blob_path(w, d.hex);
	*name = label_of(w, path);
	if (!layer_compression(d.media_type, &l->comp)) {
		limg_store_log_once("%s: %s: media type %s is not a tar layer this store serves; "
		                    "image left out", label, what, d.media_type ? d.media_type : "(none)");
		return false;
	}
	ret = w->r->locate(w->r->ctx, path, &l->loc);
	if (ret < 0) {
		why = read_error(ret, 0);
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
static LimgMetaImage *
add_manifest(LimgBlobWalk *w, JsonObject *o, const char *label)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) layers = NULL;
	g_autofree char *config = NULL, *cpath = NULL, *clabel = NULL;
	LimgMetaImage *im = NULL;
	size_t len = 0;
	Desc c;

	if (!parse_desc(limg_json_object(o, "config"), label, "config", "image", &c))
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
		cpath = blob_path(w, c.hex);
		clabel = label_of(w, cpath);
		im = limg_blob_walk_add_image(w, config, len, clabel,
		                              (const LimgBlobLayer *)(void *)layers->data, layers->len,
		                              NULL);
	}
	for (guint k = 0; k < layers->len; k++)
		limg_blob_loc_clear(&g_array_index(layers, LimgBlobLayer, k).loc);
	return im;
}

/* ------------------------------------------------------------ the walk */

static void walk_desc(LimgBlobWalk *w, const Desc *d, const char *referrer, guint depth);

/* Tag @tag for what blob @hex became (an index: what the host takes in it). */
static void
visit_tag(LimgBlobWalk *w, const char *hex, const char *tag, const char *referrer)
{
	Visit *v = g_hash_table_lookup(w->visits, hex);

	/* Bounded: a chosen entry is a blob walked below its index. */
	for (guint hops = 0; v && v->kind == KIND_INDEX && v->chosen &&
	                     hops <= LIMG_BLOBS_MAX_DEPTH; hops++)
		v = g_hash_table_lookup(w->visits, v->chosen);
	if (v && v->image)
		limg_blob_walk_tag(w, v->image, tag, referrer);
	else if (v && v->kind == KIND_INDEX)
		limg_store_log_once("%s: tag %s: no image of this host's platform (%s) there; not "
		                    "set", referrer, tag, limg_blob_host_platform());
	else
		limg_store_log_once("%s: tag %s not set: its image was left out", referrer, tag);
}

/* The descriptors of @a (entries of @label); unusable ones logged, left out. */
static GArray *
parse_descs(JsonArray *a, const char *label)
{
	GArray *out = g_array_new(FALSE, TRUE, sizeof(Desc));

	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		g_autofree char *what = g_strdup_printf("manifests[%u]", i);
		Desc d;

		if (parse_desc(JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL, label,
		               what, "entry", &d))
			g_array_append_val(out, d);
	}
	return out;
}

/* Index @o (blob @hex, @label): its entries, and which one the host takes. */
static void
walk_index(LimgBlobWalk *w, const char *hex, JsonObject *o, const char *label, guint depth)
{
	JsonArray *a = limg_json_array(o, "manifests");
	g_autoptr(GArray) descs = NULL;
	g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(guint));
	Visit *v = g_new0(Visit, 1);
	int chosen;

	v->kind = KIND_INDEX;
	if (!a) {
		limg_store_log_once("%s: no manifests array; left out", label);
		g_hash_table_insert(w->visits, g_strdup(hex), v);
		return;
	}
	descs = parse_descs(a, label);
	g_hash_table_add(w->on_path, (gpointer)hex);
	for (guint i = 0; i < descs->len; i++) {
		walk_desc(w, &g_array_index(descs, Desc, i), label, depth + 1);
		g_array_append_val(all, i);
	}
	g_hash_table_remove(w->on_path, hex);
	chosen = choose_platform((const Desc *)(void *)descs->data, (const guint *)(void *)all->data,
	                         all->len, label, NULL);
	if (chosen >= 0)
		v->chosen = g_strdup(g_array_index(descs, Desc, chosen).hex);
	g_hash_table_insert(w->visits, g_strdup(hex), v);
}

/* Does an index at @depth (indexes above it) nest too deep? Logs it. */
static bool
too_deep(guint depth, const char *label, const char *referrer)
{
	if (depth <= LIMG_BLOBS_MAX_DEPTH)
		return false;
	limg_store_log_once("%s (named by %s): indexes nested more than %u deep; left out", label,
	                    referrer, LIMG_BLOBS_MAX_DEPTH);
	return true;
}

/*
 * Walk the blob descriptor @d names (found in @referrer, below @depth
 * indexes): an index or a manifest, once.
 */
static void
walk_desc(LimgBlobWalk *w, const Desc *d, const char *referrer, guint depth)
{
	g_autofree char *path = blob_path(w, d->hex);
	g_autofree char *label = label_of(w, path);
	g_autoptr(JsonNode) root = NULL;
	BlobKind kind = kind_of_type(d->media_type);
	JsonObject *o;
	Visit *v;

	if (g_hash_table_contains(w->on_path, d->hex)) {
		limg_store_log_once("%s (named by %s): an index that contains itself; left out", label,
		                    referrer);
		return;
	}
	if (g_hash_table_contains(w->visits, d->hex))
		return;
	if (d->media_type && kind == KIND_UNKNOWN) {
		limg_store_log_once("%s (named by %s): media type %s is neither an image index nor "
		                    "an image manifest; left out", label, referrer, d->media_type);
		return;
	}
	if (kind == KIND_INDEX && too_deep(depth, label, referrer))
		return;
	root = read_json_blob(w, d, LIMG_BLOBS_MAX_MANIFEST, referrer, "image");
	o = root ? json_node_get_object(root) : NULL;
	if (o && kind == KIND_UNKNOWN)
		kind = kind_of_blob(o);
	if (o && kind == KIND_INDEX) {
		if (!too_deep(depth, label, referrer))
			walk_index(w, d->hex, o, label, depth);
		return;
	}
	if (o && kind == KIND_UNKNOWN)
		limg_store_log_once("%s (named by %s): neither an image index nor an image manifest; "
		                    "left out", label, referrer);
	/* Remembered even when unusable: logged once, never read again. */
	v = g_new0(Visit, 1);
	v->kind = KIND_MANIFEST;
	if (o && kind == KIND_MANIFEST)
		v->image = add_manifest(w, o, label);
	g_hash_table_insert(w->visits, g_strdup(d->hex), v);
}

void
limg_blob_walk_target(LimgBlobWalk *w, const char *digest, const char *media_type, int64_t size,
                      const char *tag, const char *referrer)
{
	g_autoptr(JsonObject) o = json_object_new();
	Desc d;

	/* The same checks as a descriptor read from JSON. */
	json_object_set_string_member(o, "digest", digest ? digest : "");
	if (media_type && *media_type)
		json_object_set_string_member(o, "mediaType", media_type);
	if (size >= 0)
		json_object_set_int_member(o, "size", size);
	if (!parse_desc(o, referrer, "target", "image", &d))
		return;
	walk_desc(w, &d, referrer, 0);
	if (tag)
		visit_tag(w, d.hex, tag, referrer);
}

/* A layout's small JSON file @path, parsed; NULL if unusable (logged). */
static JsonNode *
read_layout_file(LimgBlobWalk *w, const char *path, size_t max)
{
	g_autofree char *label = label_of(w, path);
	g_autofree char *text = NULL, *why = NULL;
	size_t len = 0;
	int ret = w->r->read(w->r->ctx, path, max, &text, &len);
	JsonNode *root;

	if (ret < 0) {
		why = read_error(ret, max);
		limg_store_log_once("%s: %s; not an OCI image layout, nothing read", label, why);
		return NULL;
	}
	root = parse_object(text, len, &why);
	if (!root)
		limg_store_log_once("%s: %s; nothing read", label, why);
	return root;
}

/*
 * Tag the entries of index.json: each tag once, to the entry of the
 * host's platform among those that carry it.
 */
static void
tag_layout_entries(LimgBlobWalk *w, GArray *descs, const char *label)
{
	g_autoptr(GHashTable) groups = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	                                                     (GDestroyNotify)g_array_unref);
	g_autoptr(GPtrArray) order = g_ptr_array_new();

	for (guint i = 0; i < descs->len; i++) {
		const char *tag = limg_blob_tag(g_array_index(descs, Desc, i).annotations, label);
		GArray *g;

		if (!tag)
			continue;
		g = g_hash_table_lookup(groups, tag);
		if (!g) {
			g = g_array_new(FALSE, FALSE, sizeof(guint));
			g_hash_table_insert(groups, (gpointer)tag, g);
			g_ptr_array_add(order, (gpointer)tag);
		}
		g_array_append_val(g, i);
	}
	for (guint i = 0; i < order->len; i++) {
		GArray *g = g_hash_table_lookup(groups, order->pdata[i]);
		int chosen = choose_platform((const Desc *)(void *)descs->data,
		                             (const guint *)(void *)g->data, g->len, label,
		                             order->pdata[i]);

		if (chosen >= 0)
			visit_tag(w, g_array_index(descs, Desc, chosen).hex, order->pdata[i], label);
	}
}

void
limg_blob_walk_layout(LimgBlobWalk *w)
{
	g_autoptr(JsonNode) layout = read_layout_file(w, "oci-layout", MAX_LAYOUT_FILE);
	g_autoptr(JsonNode) index = NULL;
	g_autofree char *label = NULL;
	g_autoptr(GArray) descs = NULL;
	const char *version;
	JsonArray *a;

	if (!layout)
		return;
	version = limg_json_string(json_node_get_object(layout), "imageLayoutVersion");
	if (!version || strcmp(version, "1.0.0") != 0) {
		g_autofree char *l = label_of(w, "oci-layout");

		limg_store_log_once("%s: imageLayoutVersion is %s, not 1.0.0; nothing read", l,
		                    version ? version : "missing");
		return;
	}
	index = read_layout_file(w, "index.json", LIMG_BLOBS_MAX_MANIFEST);
	if (!index)
		return;
	label = label_of(w, "index.json");
	a = limg_json_array(json_node_get_object(index), "manifests");
	if (!a) {
		limg_store_log_once("%s: no manifests array; nothing read", label);
		return;
	}
	descs = parse_descs(a, label);
	/* index.json is the top index: the blobs it names are below one. */
	for (guint i = 0; i < descs->len; i++)
		walk_desc(w, &g_array_index(descs, Desc, i), label, 1);
	tag_layout_entries(w, descs, label);
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
