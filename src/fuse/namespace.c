/*
 * namespace.c - what each path of the mount is, from the store now.
 *
 *   <layer>.iso                    a layer image
 *   .stats                         counters
 *   by-diff-id/<hex>.iso           -> ../<layer>.iso
 *   by-chain-id/<hex>.iso          -> ../<layer>.iso
 *   images/<id>/layers             "<index> <diff-id> <chain-id> <layer>.iso" per
 *                                  layer, lowest first
 *   images/<id>/NN-<chain-hex>.iso -> ../../<layer>.iso (NN = 00 for the lowest)
 *   images/<id>/rootfs.iso         the image's layers flattened
 *   tags/<repository>:<tag>        -> images/<id> (relative; a repository's '/'
 *                                  are directories)
 *   containers/<id>/layers, NN-<chain-hex>.iso, NN-init.iso, rootfs.iso
 *                                  the same for a container: its image's
 *                                  layers, its init layer, and its root as
 *                                  the runtime sees it at start
 *
 * The directories after .stats exist only for stores with metadata
 * (docker, containers and the blob stores: oci, archive, containerd). Nothing here is cached: every resolution looks at
 * the store's current snapshot, so what appears or goes there is seen at
 * the next lookup.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "fuse/fs-internal.h"

#define BY_DIFF "by-diff-id"
#define BY_CHAIN "by-chain-id"
#define IMAGES "images"
#define TAGS "tags"
#define CONTAINERS "containers"
#define ROOTFS "rootfs.iso"
#define LAYERS "layers"

void
limg_ns_entry_clear(LimgNsEntry *e)
{
	g_clear_pointer(&e->image, g_free);
	g_clear_pointer(&e->target, g_free);
	g_clear_pointer(&e->text, g_free);
}

static const char *
hex_of(const char *digest)
{
	return digest && g_str_has_prefix(digest, "sha256:") ? digest + strlen("sha256:") : NULL;
}

/* The lines of image @im's layers, plus @init. */
static char *
layers_text(const LimgMetaImage *im, const LimgMetaLayer *init)
{
	GString *s = g_string_new(NULL);
	guint i;

	for (i = 0; i < im->layers->len; i++) {
		const LimgMetaLayer *l = im->layers->pdata[i];
		const char *chain = limg_meta_image_chain(im, i);

		g_string_append_printf(s, "%u %s %s %s" LIMG_ISO_SUFFIX "\n", i,
		                       l->diff_id ? l->diff_id : "-", chain ? chain : "-", l->id);
	}
	if (init)
		g_string_append_printf(s, "%u - - %s" LIMG_ISO_SUFFIX "\n", i, init->id);
	return g_string_free(s, FALSE);
}

/*
 * "NN-<chain-hex>.iso" of layer @i of image @im (its chain id in this
 * image: a blob layer has one in each image it is in); "NN-init.iso" for
 * @init, the container's init layer after the image's layers.
 */
static char *
stack_link_name(const LimgMetaImage *im, guint i, const LimgMetaLayer *init)
{
	const char *hex = i < im->layers->len ? hex_of(limg_meta_image_chain(im, i)) : NULL;

	return init || !hex ? g_strdup_printf("%02u-init" LIMG_ISO_SUFFIX, i) :
	       g_strdup_printf("%02u-%s" LIMG_ISO_SUFFIX, i, hex);
}

/* The image of directory @kind/@id: an image's, or a container's (+ init). */
static bool
stack_of(const LimgStoreMeta *m, const char *kind, const char *id, const LimgMetaImage **im,
         const LimgMetaLayer **init)
{
	*init = NULL;
	if (strcmp(kind, IMAGES) == 0) {
		*im = limg_store_meta_image(m, id);
		return *im != NULL;
	}
	if (strcmp(kind, CONTAINERS) == 0) {
		const LimgMetaContainer *c = limg_store_meta_container(m, id);

		if (!c)
			return false;
		*im = c->image;
		*init = c->init;
		return true;
	}
	return false;
}

/* Entries of images/<id>/ or containers/<id>/. */
static void
list_stack(GPtrArray *out, const char *kind, const LimgMetaImage *im, const LimgMetaLayer *init)
{
	guint i;

	limg_ns_add(out, g_strdup(LAYERS), LIMG_NODE_TEXT);
	for (i = 0; i < im->layers->len; i++)
		limg_ns_add(out, stack_link_name(im, i, NULL), LIMG_NODE_LINK);
	if (init)
		limg_ns_add(out, stack_link_name(im, i, init), LIMG_NODE_LINK);
	limg_ns_add(out, g_strdup(ROOTFS), LIMG_NODE_IMAGE);
}

/* Resolve @name inside images/<id>/ or containers/<id>/. */
static int
resolve_in_stack(const char *kind, const char *id, const LimgMetaImage *im,
                 const LimgMetaLayer *init, const char *name, LimgNsEntry *e)
{
	guint i;

	if (strcmp(name, LAYERS) == 0) {
		e->kind = LIMG_NODE_TEXT;
		e->text = layers_text(im, init);
		return 0;
	}
	if (strcmp(name, ROOTFS) == 0) {
		e->kind = LIMG_NODE_IMAGE;
		e->image = g_strdup_printf("%s/%s/rootfs", kind, id);
		return 0;
	}
	for (i = 0; i <= im->layers->len; i++) {
		const LimgMetaLayer *l = i < im->layers->len ? im->layers->pdata[i] : init;
		g_autofree char *link = NULL;

		if (!l)
			break;
		link = stack_link_name(im, i, l == init ? init : NULL);
		if (strcmp(link, name) == 0) {
			e->kind = LIMG_NODE_LINK;
			e->target = g_strdup_printf("../../%s" LIMG_ISO_SUFFIX, l->id);
			return 0;
		}
	}
	return -ENOENT;
}

/* Does tag @tag lie under directory @dir of tags/ ("" for tags/ itself)? */
static bool
tag_under(const char *tag, const char *dir)
{
	size_t n = strlen(dir);

	return n == 0 || (strncmp(tag, dir, n) == 0 && tag[n] == '/');
}

/* tags/@rest: a directory of tag parts, or a tag's link. */
static int
resolve_tag(const LimgStoreMeta *m, const char *rest, LimgNsEntry *e)
{
	LimgMetaImage *im = g_hash_table_lookup(m->tags, rest);
	GHashTableIter it;
	gpointer key;

	if (im) {
		GString *t = g_string_new(NULL);

		/* From tags/<a>/<b>:<tag> back up to the mount's root. */
		for (const char *p = rest; *p; p++) {
			if (*p == '/')
				g_string_append(t, "../");
		}
		g_string_append_printf(t, "../" IMAGES "/%s", im->id);
		e->kind = LIMG_NODE_LINK;
		e->target = g_string_free(t, FALSE);
		return 0;
	}
	g_hash_table_iter_init(&it, m->tags);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		if (tag_under(key, rest)) {
			e->kind = LIMG_NODE_DIR;
			return 0;
		}
	}
	return -ENOENT;
}

static void
list_tags(const LimgStoreMeta *m, const char *dir, GPtrArray *out)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	size_t n = strlen(dir);
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init(&it, m->tags);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		const char *tag = key, *rest, *slash;

		if (!tag_under(tag, dir))
			continue;
		rest = n ? tag + n + 1 : tag;
		slash = strchr(rest, '/');
		{
			g_autofree char *name = slash ? g_strndup(rest, (gsize)(slash - rest)) :
			                        g_strdup(rest);

			if (g_hash_table_contains(seen, name))
				continue;
			g_hash_table_add(seen, g_strdup(name));
			limg_ns_add(out, g_steal_pointer(&name), slash ? LIMG_NODE_DIR : LIMG_NODE_LINK);
		}
	}
}

/* "<name>.iso" -> "<name>", or NULL. Caller frees. */
static char *
strip_iso(const char *entry)
{
	size_t len = strlen(entry), sl = strlen(LIMG_ISO_SUFFIX);

	if (len <= sl || strcmp(entry + len - sl, LIMG_ISO_SUFFIX) != 0)
		return NULL;
	return g_strndup(entry, len - sl);
}

int
limg_ns_resolve(LimgFs *fs, const char *path, LimgNsEntry *e)
{
	LimgStore *store = limg_images_store(fs->images);
	g_autoptr(LimgStoreMeta) m = NULL;
	g_auto(GStrv) parts = NULL;
	guint n;

	memset(e, 0, sizeof(*e));
	if (!*path) {
		e->kind = LIMG_NODE_DIR;
		return 0;
	}
	if (strcmp(path, LIMG_STATS_NAME) == 0) {
		e->kind = LIMG_NODE_STATS;
		return 0;
	}
	/*
	 * A top-level "<layer>.iso" names an image. Whether the layer is in
	 * the store now is the image service's to say: every use of an image
	 * entry asks it for the generation (limg_images_get(): -ENOENT),
	 * which looks the layer up anyway. One stat of the layer directory
	 * per lookup and open of an image, not two.
	 */
	if (!strchr(path, '/')) {
		g_autofree char *layer = strip_iso(path);

		if (layer) {
			e->kind = LIMG_NODE_IMAGE;
			e->image = g_steal_pointer(&layer);
			return 0;
		}
	}
	m = limg_store_meta(store);
	if (!m)
		return -ENOENT;
	parts = g_strsplit(path, "/", 3);
	n = g_strv_length(parts);
	if (strcmp(parts[0], BY_DIFF) == 0 || strcmp(parts[0], BY_CHAIN) == 0) {
		GHashTable *map = strcmp(parts[0], BY_DIFF) == 0 ? m->by_diff : m->by_chain;
		g_autofree char *hex = n == 2 ? strip_iso(parts[1]) : NULL;
		LimgMetaLayer *l;

		if (n == 1) {
			e->kind = LIMG_NODE_DIR;
			return 0;
		}
		l = hex && n == 2 ? g_hash_table_lookup(map, hex) : NULL;
		if (!l)
			return -ENOENT;
		e->kind = LIMG_NODE_LINK;
		e->target = g_strdup_printf("../%s" LIMG_ISO_SUFFIX, l->id);
		return 0;
	}
	if (strcmp(parts[0], IMAGES) == 0 || strcmp(parts[0], CONTAINERS) == 0) {
		const LimgMetaLayer *init;
		const LimgMetaImage *im;

		if (n == 1) {
			e->kind = LIMG_NODE_DIR;
			return 0;
		}
		if (!stack_of(m, parts[0], parts[1], &im, &init))
			return -ENOENT;
		if (n == 2) {
			e->kind = LIMG_NODE_DIR;
			return 0;
		}
		if (strchr(parts[2], '/'))
			return -ENOENT;
		return resolve_in_stack(parts[0], parts[1], im, init, parts[2], e);
	}
	if (strcmp(parts[0], TAGS) == 0) {
		if (n == 1) {
			e->kind = LIMG_NODE_DIR;
			return 0;
		}
		return resolve_tag(m, path + strlen(TAGS) + 1, e);
	}
	return -ENOENT;
}

void
limg_ns_add(GPtrArray *out, char *name, LimgNodeKind kind)
{
	LimgNsName *d = g_new(LimgNsName, 1);

	d->name = name;
	d->kind = kind;
	g_ptr_array_add(out, d);
}

static void
ns_name_free(gpointer p)
{
	LimgNsName *d = p;

	g_free(d->name);
	g_free(d);
}

int
limg_ns_list(LimgFs *fs, const char *path, GPtrArray **out)
{
	LimgStore *store = limg_images_store(fs->images);
	g_autoptr(LimgStoreMeta) m = limg_store_meta(store);
	g_autoptr(GPtrArray) d = g_ptr_array_new_with_free_func(ns_name_free);
	LimgNsEntry e;
	int ret = limg_ns_resolve(fs, path, &e);

	limg_ns_entry_clear(&e);
	if (ret < 0)
		return ret;
	if (e.kind != LIMG_NODE_DIR)
		return -ENOTDIR;
	if (!*path) {
		g_autoptr(GPtrArray) layers = limg_store_list(store);

		limg_ns_add(d, g_strdup(LIMG_STATS_NAME), LIMG_NODE_STATS);
		for (guint i = 0; i < layers->len; i++)
			limg_ns_add(d, g_strconcat(((LimgLayerInfo *)layers->pdata[i])->id,
			                           LIMG_ISO_SUFFIX, NULL), LIMG_NODE_IMAGE);
		if (m) {
			limg_ns_add(d, g_strdup(BY_CHAIN), LIMG_NODE_DIR);
			limg_ns_add(d, g_strdup(BY_DIFF), LIMG_NODE_DIR);
			limg_ns_add(d, g_strdup(CONTAINERS), LIMG_NODE_DIR);
			limg_ns_add(d, g_strdup(IMAGES), LIMG_NODE_DIR);
			limg_ns_add(d, g_strdup(TAGS), LIMG_NODE_DIR);
		}
	} else if (strcmp(path, BY_DIFF) == 0 || strcmp(path, BY_CHAIN) == 0) {
		g_autoptr(GList) keys = g_hash_table_get_keys(strcmp(path, BY_DIFF) == 0 ?
		                                              m->by_diff : m->by_chain);

		keys = g_list_sort(keys, (GCompareFunc)strcmp);
		for (GList *k = keys; k; k = k->next)
			limg_ns_add(d, g_strconcat(k->data, LIMG_ISO_SUFFIX, NULL), LIMG_NODE_LINK);
	} else if (strcmp(path, IMAGES) == 0) {
		for (guint i = 0; i < m->images->len; i++)
			limg_ns_add(d, g_strdup(((LimgMetaImage *)m->images->pdata[i])->id),
			            LIMG_NODE_DIR);
	} else if (strcmp(path, CONTAINERS) == 0) {
		for (guint i = 0; i < m->containers->len; i++)
			limg_ns_add(d, g_strdup(((LimgMetaContainer *)m->containers->pdata[i])->id),
			            LIMG_NODE_DIR);
	} else if (g_str_has_prefix(path, TAGS)) {
		list_tags(m, path[strlen(TAGS)] ? path + strlen(TAGS) + 1 : "", d);
	} else {
		g_auto(GStrv) parts = g_strsplit(path, "/", 3);
		const LimgMetaLayer *init;
		const LimgMetaImage *im;

		if (g_strv_length(parts) == 2 && stack_of(m, parts[0], parts[1], &im, &init))
			list_stack(d, parts[0], im, init);
	}
	*out = g_steal_pointer(&d);
	return 0;
}
