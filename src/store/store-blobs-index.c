/*
 * store-blobs-index.c - the blob walk (store-blobs-internal.h) through
 * OCI image layouts and indexes: each blob descriptor walked once down
 * to its manifests, cycles and depth bounded, the entry of the host's
 * platform chosen, tags set on what their entries became. The blobs
 * themselves are read, and manifests made images, by store-blobs.c.
 *
 * References: OCI image-spec v1.1 (image-layout.md, image-index.md);
 * Docker image manifest v2 schema 2 (the manifest list and manifest
 * media types).
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "store/store-blobs-walk-internal.h"
#include "util/log.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

#define MAX_LAYOUT_FILE (64u << 10)   /* oci-layout: one small object */

typedef enum { KIND_UNKNOWN, KIND_INDEX, KIND_MANIFEST } BlobKind;

/* What became of a blob walked once: met again, it only gets tags. */
typedef struct {
	BlobKind kind;
	LimgMetaImage *image;     /* a manifest's image, or NULL (left out) */
	char *chosen;             /* an index: hex of the entry the host takes */
} Visit;

static void
visit_free(gpointer p)
{
	Visit *v = p;

	g_free(v->chosen);
	g_free(v);
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

/* ------------------------------------------------------------ kinds */

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
choose_platform(const LimgBlobDesc *descs, const guint *idx, guint n, const char *label,
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

/* ------------------------------------------------------------ the walk */

static void walk_desc(LimgBlobWalk *w, const LimgBlobDesc *d, const char *referrer, guint depth);

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
	GArray *out = g_array_new(FALSE, TRUE, sizeof(LimgBlobDesc));

	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		g_autofree char *what = g_strdup_printf("manifests[%u]", i);
		LimgBlobDesc d;

		if (limg_blob_parse_desc(JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL,
		                         label, what, "entry", &d))
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
		walk_desc(w, &g_array_index(descs, LimgBlobDesc, i), label, depth + 1);
		g_array_append_val(all, i);
	}
	g_hash_table_remove(w->on_path, hex);
	chosen = choose_platform((const LimgBlobDesc *)(void *)descs->data,
	                         (const guint *)(void *)all->data, all->len, label, NULL);
	if (chosen >= 0)
		v->chosen = g_strdup(g_array_index(descs, LimgBlobDesc, chosen).hex);
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
walk_desc(LimgBlobWalk *w, const LimgBlobDesc *d, const char *referrer, guint depth)
{
	g_autofree char *path = limg_blob_path(w, d->hex);
	g_autofree char *label = limg_blob_label(w, path);
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
	root = limg_blob_read_json(w, d, LIMG_BLOBS_MAX_MANIFEST, referrer, "image");
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
		v->image = limg_blob_walk_add_manifest(w, o, label);
	g_hash_table_insert(w->visits, g_strdup(d->hex), v);
}

void
limg_blob_walk_target(LimgBlobWalk *w, const char *digest, const char *media_type, int64_t size,
                      const char *tag, const char *referrer)
{
	g_autoptr(JsonObject) o = json_object_new();
	LimgBlobDesc d;

	/* The same checks as a descriptor read from JSON. */
	json_object_set_string_member(o, "digest", digest ? digest : "");
	if (media_type && *media_type)
		json_object_set_string_member(o, "mediaType", media_type);
	if (size >= 0)
		json_object_set_int_member(o, "size", size);
	if (!limg_blob_parse_desc(o, referrer, "target", "image", &d))
		return;
	walk_desc(w, &d, referrer, 0);
	if (tag)
		visit_tag(w, d.hex, tag, referrer);
}

/* A layout's small JSON file @path, parsed; NULL if unusable (logged). */
static JsonNode *
read_layout_file(LimgBlobWalk *w, const char *path, size_t max)
{
	g_autofree char *label = limg_blob_label(w, path);
	g_autofree char *text = NULL, *why = NULL;
	size_t len = 0;
	int ret = w->r->read(w->r->ctx, path, max, &text, &len);
	JsonNode *root;

	if (ret < 0) {
		why = limg_blob_read_error(ret, max);
		limg_store_log_once("%s: %s; not an OCI image layout, nothing read", label, why);
		return NULL;
	}
	root = limg_blob_parse_object(text, len, &why);
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
		const char *tag = limg_blob_tag(g_array_index(descs, LimgBlobDesc, i).annotations,
		                                label);
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
		int chosen = choose_platform((const LimgBlobDesc *)(void *)descs->data,
		                             (const guint *)(void *)g->data, g->len, label,
		                             order->pdata[i]);

		if (chosen >= 0)
			visit_tag(w, g_array_index(descs, LimgBlobDesc, chosen).hex, order->pdata[i],
			          label);
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
		g_autofree char *l = limg_blob_label(w, "oci-layout");

		limg_store_log_once("%s: imageLayoutVersion is %s, not 1.0.0; nothing read", l,
		                    version ? version : "missing");
		return;
	}
	index = read_layout_file(w, "index.json", LIMG_BLOBS_MAX_MANIFEST);
	if (!index)
		return;
	label = limg_blob_label(w, "index.json");
	a = limg_json_array(json_node_get_object(index), "manifests");
	if (!a) {
		limg_store_log_once("%s: no manifests array; nothing read", label);
		return;
	}
	descs = parse_descs(a, label);
	/* index.json is the top index: the blobs it names are below one. */
	for (guint i = 0; i < descs->len; i++)
		walk_desc(w, &g_array_index(descs, LimgBlobDesc, i), label, 1);
	tag_layout_entries(w, descs, label);
}
