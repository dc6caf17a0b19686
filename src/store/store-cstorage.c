/*
 * store-cstorage.c - a containers-storage graph root (buildah, podman,
 * CRI-O) with the overlay driver, read from its metadata; see store.h.
 *
 * SOURCE is the graph root (/var/lib/containers/storage: metadata in
 * overlay-layers/, overlay-images/, overlay-containers/; layers in
 * overlay/) or its overlay/ directory. What is read, never written:
 *
 *   overlay-layers/layers.json
 *       [{"id", "parent", "diff-digest", "flags": {"incomplete": true}}]:
 *       the layers; one flagged incomplete is still being written;
 *   overlay-images/images.json
 *       [{"id", "names": ["localhost/myapp:1"], "layer": <top layer>}]:
 *       an image's layers are its top layer and that layer's parents;
 *   overlay-containers/containers.json
 *       [{"id", "image", "layer": <the writable layer, never served>}];
 *       the container's hosts, hostname and resolv.conf are made at its
 *       first start in overlay-containers/<id>/userdata/ of the run root
 *       (/run/containers/storage for root), or of the graph root.
 *
 * The files are replaced by rename when they change.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store/store-internal.h"

#define MAX_JSON (256u << 20)
#define MAX_DEPTH 4096      /* layers in one chain */

typedef struct {
	const char *meta;     /* "" (SOURCE is the graph root) or "../" */
	const char *layers;   /* "overlay/" or "" */
} Layout;

static bool
same_dir(int dir_fd, const char *path)
{
	struct stat a, b;

	return fstat(dir_fd, &a) == 0 && fstatat(dir_fd, path, &b, 0) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static bool
find_layout(int dir_fd, Layout *l)
{
	struct stat st;

	if (fstatat(dir_fd, "overlay-layers", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		l->meta = "";
		l->layers = "overlay/";
		return true;
	}
	if (fstatat(dir_fd, "../overlay-layers", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && same_dir(dir_fd, "../overlay")) {
		l->meta = "../";
		l->layers = "";
		return true;
	}
	return false;
}

static bool
cs_detect(int dir_fd)
{
	Layout l;

	return find_layout(dir_fd, &l);
}

/* An array of objects from @file, or NULL (logged). */
static JsonNode *
read_array(const char *source, int dir_fd, const Layout *l, const char *file, char **label)
{
	g_autofree char *path = g_strdup_printf("%s%s", l->meta, file);
	JsonNode *root;

	*label = g_strdup_printf("%s/%s", source, path);
	root = limg_store_read_json(dir_fd, path, MAX_JSON, *label);
	if (root && !JSON_NODE_HOLDS_ARRAY(root)) {
		limg_store_log_once("%s: not a JSON array; ignored", *label);
		g_clear_pointer(&root, json_node_unref);
	}
	return root;
}

typedef struct {
	const char *id;
	const char *parent;
	const char *diff;
	char *chain;          /* computed: NULL until known */
	bool bad;             /* left out (logged) */
	bool rw;              /* a container's writable layer */
} CsLayer;

static void
cs_layer_free(gpointer p)
{
	CsLayer *c = p;

	g_free(c->chain);
	g_free(c);
}

/* The chain id of @c (and its parents); NULL when the chain is broken. */
static const char *
chain_of(GHashTable *all, CsLayer *c, const char *label)
{
	g_autoptr(GPtrArray) path = g_ptr_array_new();
	CsLayer *at = c;

	/* Walk down to a layer whose chain id is known (or the lowest). */
	while (at && !at->chain && !at->bad) {
		if (path->len >= MAX_DEPTH) {
			limg_store_log_once("%s: layer %s: parent chain longer than %u or a cycle; "
			                    "left out", label, c->id, MAX_DEPTH);
			return NULL;
		}
		g_ptr_array_add(path, at);
		at = at->parent ? g_hash_table_lookup(all, at->parent) : NULL;
		if (!at && path->len && ((CsLayer *)path->pdata[path->len - 1])->parent) {
			limg_store_log_once("%s: layer %s: parent %s is not in the file; left out",
			                    label, ((CsLayer *)path->pdata[path->len - 1])->id,
			                    ((CsLayer *)path->pdata[path->len - 1])->parent);
			for (guint i = 0; i < path->len; i++)
				((CsLayer *)path->pdata[i])->bad = true;
			return NULL;
		}
	}
	if (at && at->bad) {
		for (guint i = 0; i < path->len; i++)
			((CsLayer *)path->pdata[i])->bad = true;
		return NULL;
	}
	for (guint i = path->len; i-- > 0;) {
		CsLayer *x = path->pdata[i];
		CsLayer *below = x->parent ? g_hash_table_lookup(all, x->parent) : NULL;

		x->chain = limg_store_chain_id(below ? below->chain : NULL, x->diff);
	}
	return c->chain;
}

/* Where podman puts a container's hosts, hostname and resolv.conf. */
#define DEFAULT_RUN_ROOT "/run/containers/storage"

static char *
userdata_dir(const char *graph_root, const char *id)
{
	g_autofree char *run = g_strdup_printf(DEFAULT_RUN_ROOT "/overlay-containers/%s/userdata", id);
	g_autofree char *graph = g_strdup_printf("%s/overlay-containers/%s/userdata", graph_root, id);
	g_autofree char *hosts = g_build_filename(graph, "hosts", NULL);

	/* The graph root's when the files are there, else the run root's. */
	return g_file_test(hosts, G_FILE_TEST_EXISTS) ? g_steal_pointer(&graph) :
	       g_steal_pointer(&run);
}

static LimgStoreMeta *
cs_read_meta(const char *source, int dir_fd)
{
	LimgStoreMeta *m = limg_store_meta_new();
	g_autofree char *llabel = NULL, *ilabel = NULL, *clabel = NULL;
	g_autoptr(JsonNode) layers = NULL, images = NULL, containers = NULL;
	g_autoptr(GHashTable) all = NULL;
	g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
	g_autofree char *root = NULL;
	Layout l;

	if (!find_layout(dir_fd, &l))
		return m;
	root = l.meta[0] ? g_path_get_dirname(source) : g_strdup(source);
	all = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, cs_layer_free);
	layers = read_array(source, dir_fd, &l, "overlay-layers/layers.json", &llabel);
	images = read_array(source, dir_fd, &l, "overlay-images/images.json", &ilabel);
	containers = read_array(source, dir_fd, &l, "overlay-containers/containers.json", &clabel);

	/* Writable layers of containers are never layers of the store. */
	if (containers) {
		JsonArray *a = json_node_get_array(containers);

		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *n = json_array_get_element(a, i);
			const char *rw = JSON_NODE_HOLDS_OBJECT(n) ?
			                 limg_json_string(json_node_get_object(n), "layer") : NULL;

			if (rw) {
				CsLayer *c = g_new0(CsLayer, 1);

				c->id = rw;
				c->rw = true;
				c->bad = true;
				g_hash_table_replace(all, (gpointer)rw, c);
			}
		}
	}
	if (layers) {
		JsonArray *a = json_node_get_array(layers);

		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *n = json_array_get_element(a, i);
			JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
			const char *id = limg_json_string(o, "id");
			JsonObject *flags = limg_json_object(o, "flags");
			CsLayer *c, *old;

			if (!id || !limg_store_valid_name(id)) {
				limg_store_log_once("%s: entry %u: no usable id; left out", llabel, i);
				continue;
			}
			old = g_hash_table_lookup(all, id);
			if (old && old->rw)
				continue;
			if (old) {
				limg_store_log_once("%s: layer %s listed twice; the first kept", llabel, id);
				continue;
			}
			c = g_new0(CsLayer, 1);
			c->id = id;
			c->parent = limg_json_string(o, "parent");
			c->diff = limg_json_string(o, "diff-digest");
			g_hash_table_insert(all, (gpointer)id, c);
			if (flags && json_object_has_member(flags, "incomplete")) {
				JsonNode *inc = json_object_get_member(flags, "incomplete");

				/*
				 * json-glib's boolean getters expect a boolean (a
				 * critical, and "false", for an object or array):
				 * anything else is not a layer known to be complete.
				 */
				if (!JSON_NODE_HOLDS_VALUE(inc) ||
				    json_node_get_value_type(inc) != G_TYPE_BOOLEAN) {
					limg_store_log_once("%s: layer %s: flags.incomplete is not true or "
					                    "false; left out", llabel, id);
					c->bad = true;
					continue;
				}
				if (json_node_get_boolean(inc)) {
					c->bad = true;   /* still being written: not yet */
					continue;
				}
			}
			if (!limg_store_valid_digest(c->diff)) {
				limg_store_log_once("%s: layer %s: diff-digest is %s; left out", llabel, id,
				                    c->diff ? "not a sha256 digest" : "missing");
				c->bad = true;
			}
		}
	}
	/* Layers whose chain is whole and whose directory is there. */
	{
		GHashTableIter it;
		gpointer v;

		g_hash_table_iter_init(&it, all);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			CsLayer *c = v;
			g_autofree char *rel = NULL;
			struct stat st;
			int ret;

			if (c->bad || !chain_of(all, c, llabel))
				continue;
			rel = g_strdup_printf("%s%s/diff", l.layers, c->id);
			ret = limg_store_stat_dir(source, dir_fd, rel, &st);
			if (ret < 0) {
				if (ret != -ELOOP)
					limg_store_log_once("%s: layer %s: %s/%s: %s; left out", llabel,
					                    c->id, source, rel,
					                    ret == -ENOENT ? "missing" : g_strerror(-ret));
				continue;
			}
			limg_meta_add_layer(m, c->id, rel, c->diff, c->chain, false);
		}
	}
	if (images) {
		JsonArray *a = json_node_get_array(images);

		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *n = json_array_get_element(a, i);
			JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
			const char *id = limg_json_string(o, "id");
			const char *top = limg_json_string(o, "layer");
			JsonArray *names = limg_json_array(o, "names");
			g_autoptr(GPtrArray) chain = g_ptr_array_new();
			LimgMetaImage *im;
			const char *at;

			if (!id || !limg_store_valid_hex(id)) {
				limg_store_log_once("%s: entry %u: no usable image id; left out", ilabel, i);
				continue;
			}
			if (g_hash_table_contains(by_id, id) || !top)
				continue;
			for (at = top; at;) {
				CsLayer *c = g_hash_table_lookup(all, at);
				LimgMetaLayer *ml = g_hash_table_lookup(m->layers, at);

				if (!c || !ml || chain->len >= MAX_DEPTH) {
					limg_store_log_once("%s: image %s: layer %s is %s; image left out",
					                    ilabel, id, at, !c ? "not in layers.json" :
					                    "incomplete or unusable");
					g_ptr_array_set_size(chain, 0);
					break;
				}
				g_ptr_array_add(chain, ml);
				at = c->parent;
			}
			if (chain->len == 0)
				continue;
			im = limg_meta_add_image(m, id);
			g_hash_table_insert(by_id, im->id, im);
			for (guint k = chain->len; k-- > 0;)
				g_ptr_array_add(im->layers, chain->pdata[k]);
			for (guint k = 0; names && k < json_array_get_length(names); k++) {
				JsonNode *tn = json_array_get_element(names, k);
				const char *tag = JSON_NODE_HOLDS_VALUE(tn) &&
				                  json_node_get_value_type(tn) == G_TYPE_STRING ?
				                  json_node_get_string(tn) : NULL;

				if (!tag || strchr(tag, '@'))
					continue;
				if (!limg_store_valid_tag(tag)) {
					g_autofree char *e = g_strescape(tag, NULL);

					limg_store_log_once("%s: image %s: name \"%s\" cannot be a path; "
					                    "left out", ilabel, id, e);
					continue;
				}
				limg_meta_add_tag(m, tag, im);
			}
		}
	}
	if (containers) {
		JsonArray *a = json_node_get_array(containers);

		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *n = json_array_get_element(a, i);
			JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
			const char *id = limg_json_string(o, "id");
			const char *image = limg_json_string(o, "image");
			g_autofree char *files = NULL;
			LimgMetaImage *im;

			if (!id || !limg_store_valid_hex(id) || !image)
				continue;
			im = g_hash_table_lookup(by_id, image);
			if (!im) {
				limg_store_log_once("%s: container %s: image %s is not in the store; "
				                    "left out", clabel, id, image);
				continue;
			}
			files = userdata_dir(root, id);
			limg_meta_add_container(m, id, im, NULL, files);
		}
	}
	limg_meta_finish(m);
	return m;
}

static char **
cs_meta_paths(const char *source, int dir_fd)
{
	GPtrArray *v = g_ptr_array_new();
	Layout l;

	if (find_layout(dir_fd, &l)) {
		g_ptr_array_add(v, g_strdup_printf("%soverlay-layers", l.meta));
		g_ptr_array_add(v, g_strdup_printf("%soverlay-images", l.meta));
		g_ptr_array_add(v, g_strdup_printf("%soverlay-containers", l.meta));
	}
	g_ptr_array_add(v, NULL);
	return (char **)g_ptr_array_free(v, FALSE);
}

const LimgStoreBackend limg_store_containers = {
	.name = "containers",
	.detect = cs_detect,
	.read_meta = cs_read_meta,
	.meta_paths = cs_meta_paths,
};
