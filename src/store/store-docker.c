/*
 * store-docker.c - a Docker data root (overlay2 storage driver), read
 * from its metadata; see store.h.
 *
 * SOURCE is the data root (/var/lib/docker: metadata in image/overlay2/,
 * layers in overlay2/) or its overlay2/ directory (metadata in
 * ../image/overlay2/). What is read, never written:
 *
 *   image/overlay2/layerdb/sha256/<chain-id>/{diff,cache-id,parent}
 *       one committed layer each: its diff-id, the overlay2 directory
 *       that holds it, the chain id below it. Docker renames a layer's
 *       layerdb directory into place when the layer is committed, so an
 *       entry here means the layer is complete;
 *   image/overlay2/imagedb/content/sha256/<image-id>
 *       the image config (rootfs.diff_ids: the layers, lowest first);
 *   image/overlay2/repositories.json
 *       tags: {"Repositories": {repo: {"repo:tag": "sha256:<id>"}}};
 *   image/overlay2/layerdb/mounts/<container-id>/{init-id,mount-id}
 *       a container's init layer and its writable layer (never served);
 *   containers/<container-id>/config.v2.json ("Image"), and the
 *       hostname, hosts and resolv.conf files Docker makes there.
 *
 * chain_id(1) = diff_id(1); chain_id(n) = sha256 of
 * "chain_id(n-1) diff_id(n)" (OCI image spec, "ChainID").
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store/store-internal.h"

#define MAX_CONFIG (16u << 20)       /* an image config or config.v2.json */
#define MAX_REPOSITORIES (64u << 20)

/* Where the parts are, relative to SOURCE. */
typedef struct {
	const char *meta;     /* "" (SOURCE is the data root) or "../" */
	const char *layers;   /* "overlay2/" or "" */
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

	if (fstatat(dir_fd, "image/overlay2/layerdb", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		l->meta = "";
		l->layers = "overlay2/";
		return true;
	}
	if (fstatat(dir_fd, "../image/overlay2/layerdb", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && same_dir(dir_fd, "../overlay2")) {
		l->meta = "../";
		l->layers = "";
		return true;
	}
	return false;
}

static bool
docker_detect(int dir_fd)
{
	Layout l;

	return find_layout(dir_fd, &l);
}

static int
cmp_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the entries of directory @path (relative to @dir_fd), sorted. */
static GPtrArray *
list_names(int dir_fd, const char *path)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	int fd = openat(dir_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return out;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			g_ptr_array_add(out, g_strdup(de->d_name));
	}
	closedir(d);
	g_ptr_array_sort(out, cmp_names);
	return out;
}

/* One layerdb entry, checked. */
typedef struct {
	char *chain;          /* "sha256:<hex>" */
	char *diff;
	char *parent;         /* or NULL */
	char *cache_id;
	bool bad;             /* lost a cache-id to another entry */
} DbLayer;

static void
db_layer_free(gpointer p)
{
	DbLayer *d = p;

	g_free(d->chain);
	g_free(d->diff);
	g_free(d->parent);
	g_free(d->cache_id);
	g_free(d);
}

/* Is @rel (relative to @dir_fd) a real directory? Logs why not. */
static bool
layer_dir_ok(const char *source, int dir_fd, const char *rel, const char *what)
{
	struct stat st;
	int ret = limg_store_stat_dir(source, dir_fd, rel, &st);

	if (ret == 0)
		return true;
	if (ret != -ELOOP)
		limg_store_log_once("%s: %s/%s: %s; layer left out", what, source, rel,
		                    ret == -ENOENT ? "missing" : g_strerror(-ret));
	return false;
}

/*
 * layerdb/sha256/: chain hex -> DbLayer, every entry checked. Two entries
 * that claim one cache-id cannot both be right: the one an image stands
 * on is kept (the other is a layer listed twice), else the smaller chain
 * id; the other is logged and left out.
 */
static GHashTable *
read_layerdb(const char *source, int dir_fd, const Layout *l, LimgStoreMeta *m,
             GHashTable *used)
{
	g_autofree char *db = g_strdup_printf("%simage/overlay2/layerdb/sha256", l->meta);
	g_autoptr(GPtrArray) names = list_names(dir_fd, db);
	GHashTable *by_chain = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, db_layer_free);
	g_autoptr(GHashTable) by_cache = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) all = g_ptr_array_new();

	for (guint i = 0; i < names->len; i++) {
		const char *hex = names->pdata[i];
		g_autofree char *dir = g_strdup_printf("%s/%s", db, hex);
		g_autofree char *label = g_strdup_printf("%s/%s", source, dir);
		g_autofree char *pdiff = g_strdup_printf("%s/diff", dir);
		g_autofree char *pcache = g_strdup_printf("%s/cache-id", dir);
		g_autofree char *pparent = g_strdup_printf("%s/parent", dir);
		g_autofree char *rel = NULL;
		DbLayer *d;

		/* Docker renames an entry it removes to <chain>-<random>-removing. */
		if (!limg_store_valid_hex(hex)) {
			if (!strchr(hex, '-'))
				limg_store_log_once("%s: not a chain id; ignored", label);
			continue;
		}
		d = g_new0(DbLayer, 1);
		d->chain = g_strconcat("sha256:", hex, NULL);
		d->diff = limg_store_read_line(dir_fd, pdiff);
		d->cache_id = limg_store_read_line(dir_fd, pcache);
		d->parent = limg_store_read_line(dir_fd, pparent);
		if (!limg_store_valid_digest(d->diff)) {
			limg_store_log_once("%s/diff: %s; layer left out", label,
			                    d->diff ? "not a sha256 digest" : "missing");
			db_layer_free(d);
			continue;
		}
		if (!d->cache_id || !limg_store_valid_name(d->cache_id)) {
			limg_store_log_once("%s/cache-id: %s; layer left out", label,
			                    d->cache_id ? "not a usable directory name" : "missing");
			db_layer_free(d);
			continue;
		}
		if (d->parent && !limg_store_valid_digest(d->parent)) {
			limg_store_log_once("%s/parent: not a sha256 digest; layer left out", label);
			db_layer_free(d);
			continue;
		}
		{
			g_autofree char *want = limg_store_chain_id(d->parent, d->diff);

			if (strcmp(want, d->chain) != 0) {
				limg_store_log_once("%s: chain id does not match its parent and diff; "
				                    "layer left out", label);
				db_layer_free(d);
				continue;
			}
		}
		rel = g_strdup_printf("%s%s/diff", l->layers, d->cache_id);
		if (!layer_dir_ok(source, dir_fd, rel, label)) {
			db_layer_free(d);
			continue;
		}
		g_ptr_array_add(all, d);
	}
	/* One entry per cache-id. */
	for (guint i = 0; i < all->len; i++) {
		DbLayer *d = all->pdata[i], *other = g_hash_table_lookup(by_cache, d->cache_id);
		bool d_used = g_hash_table_contains(used, d->chain + strlen("sha256:"));

		if (other) {
			bool o_used = g_hash_table_contains(used, other->chain + strlen("sha256:"));
			DbLayer *keep = d_used != o_used ? (d_used ? d : other) :
			                strcmp(d->chain, other->chain) < 0 ? d : other;
			DbLayer *drop = keep == d ? other : d;

			limg_store_log_once("%s/%s/cache-id: %s is already the directory of another "
			                    "layer (%s); left out", source, db, drop->cache_id,
			                    keep->chain);
			g_hash_table_insert(by_cache, keep->cache_id, keep);
			drop->bad = true;
			continue;
		}
		g_hash_table_insert(by_cache, d->cache_id, d);
	}
	for (guint i = 0; i < all->len; i++) {
		DbLayer *d = all->pdata[i];
		g_autofree char *rel = NULL;

		if (d->bad) {
			db_layer_free(d);
			continue;
		}
		rel = g_strdup_printf("%s%s/diff", l->layers, d->cache_id);
		limg_meta_add_layer(m, d->cache_id, rel, d->diff, d->chain, false);
		g_hash_table_insert(by_chain, d->chain + strlen("sha256:"), d);
	}
	return by_chain;
}

/* An image config, checked: its id and its layers' chain ids, lowest first. */
typedef struct {
	char *id;
	char *label;
	GPtrArray *diffs;     /* char * */
	GPtrArray *chains;    /* char * */
} Config;

static void
config_free(gpointer p)
{
	Config *c = p;

	g_free(c->id);
	g_free(c->label);
	g_ptr_array_free(c->diffs, TRUE);
	g_ptr_array_free(c->chains, TRUE);
	g_free(c);
}

/* imagedb/content/sha256/: every config that is what its name says. */
static GPtrArray *
read_configs(const char *source, int dir_fd, const Layout *l)
{
	g_autofree char *dir = g_strdup_printf("%simage/overlay2/imagedb/content/sha256", l->meta);
	g_autoptr(GPtrArray) names = list_names(dir_fd, dir);
	GPtrArray *out = g_ptr_array_new_with_free_func(config_free);

	for (guint i = 0; i < names->len; i++) {
		const char *hex = names->pdata[i];
		g_autofree char *path = g_strdup_printf("%s/%s", dir, hex);
		g_autofree char *label = g_strdup_printf("%s/%s", source, path);
		g_autofree char *text = NULL, *sum = NULL, *chain = NULL;
		g_autoptr(JsonParser) parser = NULL;
		JsonArray *diffs;
		Config *c;
		size_t len = 0;
		int ret;

		if (!limg_store_valid_hex(hex))
			continue;
		ret = limg_store_read_file(dir_fd, path, MAX_CONFIG, &text, &len);
		if (ret < 0) {
			limg_store_log_once("%s: %s; image left out", label,
			                    ret == -EFBIG ? "larger than an image config can be" :
			                    g_strerror(-ret));
			continue;
		}
		/* The file is named by its digest: anything else is not the config. */
		sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)text, len);
		if (strcmp(sum, hex) != 0) {
			limg_store_log_once("%s: content does not match its digest; image left out",
			                    label);
			continue;
		}
		parser = json_parser_new_immutable();
		/* An empty file parses, to no root at all (NULL: not a node to ask). */
		if (!json_parser_load_from_data(parser, text, (gssize)len, NULL) ||
		    !json_parser_get_root(parser) ||
		    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
			limg_store_log_once("%s: not a JSON object; image left out", label);
			continue;
		}
		diffs = limg_json_array(limg_json_object(json_node_get_object(
		                        json_parser_get_root(parser)), "rootfs"), "diff_ids");
		if (!diffs || json_array_get_length(diffs) == 0) {
			limg_store_log_once("%s: no rootfs.diff_ids; image left out", label);
			continue;
		}
		c = g_new0(Config, 1);
		c->id = g_strdup(hex);
		c->label = g_strdup(label);
		c->diffs = g_ptr_array_new_with_free_func(g_free);
		c->chains = g_ptr_array_new_with_free_func(g_free);
		for (guint k = 0; k < json_array_get_length(diffs); k++) {
			JsonNode *n = json_array_get_element(diffs, k);
			const char *diff = JSON_NODE_HOLDS_VALUE(n) &&
			                   json_node_get_value_type(n) == G_TYPE_STRING ?
			                   json_node_get_string(n) : NULL;
			char *next;

			if (!limg_store_valid_digest(diff)) {
				limg_store_log_once("%s: diff_ids[%u] is not a sha256 digest; image "
				                    "left out", label, k);
				g_clear_pointer(&c, config_free);
				break;
			}
			next = limg_store_chain_id(chain, diff);
			g_free(chain);
			chain = next;
			g_ptr_array_add(c->diffs, g_strdup(diff));
			g_ptr_array_add(c->chains, g_strdup(chain));
		}
		if (c)
			g_ptr_array_add(out, c);
	}
	return out;
}

/* Images whose every layer is in layerdb (configs in id order: sorted). */
static void
read_images(LimgStoreMeta *m, GPtrArray *configs, GHashTable *by_chain)
{
	for (guint i = 0; i < configs->len; i++) {
		const Config *c = configs->pdata[i];
		g_autoptr(GPtrArray) layers = g_ptr_array_new();

		for (guint k = 0; k < c->chains->len; k++) {
			const char *chain = c->chains->pdata[k];
			DbLayer *d = g_hash_table_lookup(by_chain, chain + strlen("sha256:"));

			if (!d) {
				limg_store_log_once("%s: layer %u (%s) is not in layerdb (not extracted "
				                    "yet, or removed); image left out", c->label, k + 1,
				                    (char *)c->diffs->pdata[k]);
				g_ptr_array_set_size(layers, 0);
				break;
			}
			g_ptr_array_add(layers, g_hash_table_lookup(m->layers, d->cache_id));
		}
		if (layers->len == 0)
			continue;
		{
			LimgMetaImage *im = limg_meta_add_image(m, c->id);

			for (guint k = 0; k < layers->len; k++)
				g_ptr_array_add(im->layers, layers->pdata[k]);
		}
	}
}

static void
read_tags(const char *source, int dir_fd, const Layout *l, LimgStoreMeta *m)
{
	g_autofree char *path = g_strdup_printf("%simage/overlay2/repositories.json", l->meta);
	g_autofree char *label = g_strdup_printf("%s/%s", source, path);
	g_autoptr(JsonNode) root = limg_store_read_json(dir_fd, path, MAX_REPOSITORIES, label);
	JsonObject *repos;
	GList *keys;

	if (!root)
		return;
	repos = JSON_NODE_HOLDS_OBJECT(root) ?
	        limg_json_object(json_node_get_object(root), "Repositories") : NULL;
	if (!repos) {
		limg_store_log_once("%s: no \"Repositories\" object; no tags", label);
		return;
	}
	keys = json_object_get_members(repos);
	for (GList *r = keys; r; r = r->next) {
		JsonObject *tags = limg_json_object(repos, r->data);
		GList *names;

		if (!tags)
			continue;
		names = json_object_get_members(tags);
		for (GList *t = names; t; t = t->next) {
			const char *tag = t->data;
			const char *id = limg_json_string(tags, tag);
			LimgMetaImage *im;

			if (strchr(tag, '@'))
				continue;   /* a digest reference, not a tag */
			if (!limg_store_valid_tag(tag)) {
				g_autofree char *e = g_strescape(tag, NULL);

				limg_store_log_once("%s: tag \"%s\" cannot be a path; left out", label, e);
				continue;
			}
			if (!limg_store_valid_digest(id)) {
				limg_store_log_once("%s: tag %s: not an image digest; left out", label, tag);
				continue;
			}
			im = limg_store_meta_image(m, id + strlen("sha256:"));
			if (!im)
				continue;   /* an image left out above: logged there */
			limg_meta_add_tag(m, tag, im);
		}
		g_list_free(names);
	}
	g_list_free(keys);
}

static void
read_containers(const char *source, int dir_fd, const Layout *l, LimgStoreMeta *m)
{
	g_autofree char *mounts = g_strdup_printf("%simage/overlay2/layerdb/mounts", l->meta);
	g_autoptr(GPtrArray) names = list_names(dir_fd, mounts);
	g_autofree char *root = l->meta[0] ? g_path_get_dirname(source) : g_strdup(source);

	for (guint i = 0; i < names->len; i++) {
		const char *cid = names->pdata[i];
		g_autofree char *mdir = g_strdup_printf("%s/%s", mounts, cid);
		g_autofree char *pinit = g_strdup_printf("%s/init-id", mdir);
		g_autofree char *pconf = g_strdup_printf("%scontainers/%s/config.v2.json", l->meta, cid);
		g_autofree char *label = g_strdup_printf("%s/%s", source, pconf);
		g_autofree char *init_id = NULL, *files = NULL;
		g_autoptr(JsonNode) conf = NULL;
		LimgMetaLayer *init = NULL;
		LimgMetaImage *im;
		const char *image;

		if (!limg_store_valid_hex(cid))
			continue;
		conf = limg_store_read_json(dir_fd, pconf, MAX_CONFIG, label);
		if (!conf) {
			/* Not a container yet: Docker writes its config last. */
			g_ptr_array_add(m->pending, g_strdup_printf("%scontainers/%s", l->meta, cid));
			continue;
		}
		image = JSON_NODE_HOLDS_OBJECT(conf) ?
		        limg_json_string(json_node_get_object(conf), "Image") : NULL;
		if (!limg_store_valid_digest(image)) {
			limg_store_log_once("%s: no image digest; container left out", label);
			continue;
		}
		im = limg_store_meta_image(m, image + strlen("sha256:"));
		if (!im) {
			limg_store_log_once("%s: image %s is not in the store; container left out",
			                    label, image);
			continue;
		}
		init_id = limg_store_read_line(dir_fd, pinit);
		if (init_id && limg_store_valid_name(init_id)) {
			g_autofree char *rel = g_strdup_printf("%s%s/diff", l->layers, init_id);

			if (layer_dir_ok(source, dir_fd, rel, mdir)) {
				init = limg_meta_add_layer(m, init_id, rel, NULL, NULL, true);
				if (!init)
					init = g_hash_table_lookup(m->layers, init_id);
			}
		}
		files = g_strdup_printf("%s/containers/%s", root, cid);
		limg_meta_add_container(m, cid, im, init, files);
	}
}

static LimgStoreMeta *
docker_read_meta(const char *source, int dir_fd)
{
	LimgStoreMeta *m = limg_store_meta_new();
	g_autoptr(GHashTable) by_chain = NULL;
	g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) configs = NULL;
	Layout l;

	if (!find_layout(dir_fd, &l))
		return m;
	configs = read_configs(source, dir_fd, &l);
	for (guint i = 0; i < configs->len; i++) {
		const Config *c = configs->pdata[i];

		for (guint k = 0; k < c->chains->len; k++)
			g_hash_table_add(used, g_strdup((char *)c->chains->pdata[k] + strlen("sha256:")));
	}
	by_chain = read_layerdb(source, dir_fd, &l, m, used);
	read_images(m, configs, by_chain);
	read_tags(source, dir_fd, &l, m);
	read_containers(source, dir_fd, &l, m);
	limg_meta_finish(m);
	return m;
}

static char **
docker_meta_paths(const char *source, int dir_fd)
{
	GPtrArray *v = g_ptr_array_new();
	Layout l;

	if (find_layout(dir_fd, &l)) {
		g_ptr_array_add(v, g_strdup_printf("%simage/overlay2", l.meta));
		g_ptr_array_add(v, g_strdup_printf("%simage/overlay2/layerdb/sha256", l.meta));
		g_ptr_array_add(v, g_strdup_printf("%simage/overlay2/layerdb/mounts", l.meta));
		g_ptr_array_add(v, g_strdup_printf("%simage/overlay2/imagedb/content/sha256", l.meta));
		g_ptr_array_add(v, g_strdup_printf("%scontainers", l.meta));
	}
	g_ptr_array_add(v, NULL);
	return (char **)g_ptr_array_free(v, FALSE);
}

const LimgStoreBackend limg_store_docker = {
	.name = "docker",
	.detect = docker_detect,
	.read_meta = docker_read_meta,
	.meta_paths = docker_meta_paths,
};
