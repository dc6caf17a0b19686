/*
 * fuzz-store.c - a store read from hostile metadata, asked everything
 * the mount asks, its answers checked against store.h; see
 * fuzz-common.h.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "fuzz-common.h"
#include "store/store-blobs-internal.h"
#include "store/store-internal.h"

#define broken(...) \
	do { \
		fprintf(stderr, "fuzz: store: " __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} while (0)

/* A path below SOURCE, never out of it: relative, no ".." component. */
static bool
below(const char *rel)
{
	g_auto(GStrv) parts = NULL;

	if (!rel || rel[0] == '/')
		return false;
	parts = g_strsplit(rel, "/", -1);
	for (guint i = 0; parts[i]; i++) {
		if (strcmp(parts[i], "..") == 0)
			return false;
	}
	return true;
}

static void
check_layer(LimgStore *s, const LimgLayerInfo *li)
{
	g_autoptr(LimgLayerInfo) again = NULL;

	if (!limg_store_valid_name(li->id))
		broken("layer id \"%s\" is not a usable name", li->id);
	if (li->kind != LIMG_LAYER_DIR && li->kind != LIMG_LAYER_TAR)
		broken("layer %s: kind %d in a listing", li->id, li->kind);
	if (!below(li->rel))
		broken("layer %s: %s is not below SOURCE", li->id, li->rel);
	again = limg_store_lookup(s, li->id);
	if (!again || again->kind != li->kind || strcmp(again->rel, li->rel) != 0 ||
	    again->offset != li->offset || again->length != li->length ||
	    g_strcmp0(again->digest, li->digest) != 0)
		broken("layer %s: its lookup disagrees with the listing", li->id);
}

static bool
usable_tag(const char *tag)
{
	return limg_store_valid_tag(tag) || limg_blob_valid_bare_tag(tag);
}

static void
check_meta(const LimgStoreMeta *m)
{
	GHashTableIter it;
	gpointer k, v;

	for (guint i = 0; i < m->images->len; i++) {
		const LimgMetaImage *im = m->images->pdata[i];

		if (i && strcmp(((LimgMetaImage *)m->images->pdata[i - 1])->id, im->id) >= 0)
			broken("images not sorted, or one twice: %s", im->id);
		if (limg_store_meta_image(m, im->id) != im)
			broken("image %s is not found by its id", im->id);
		if (im->layers->len == 0)
			broken("image %s has no layers", im->id);
		if (im->chains && im->chains->len != im->layers->len)
			broken("image %s: %u chains for %u layers", im->id, im->chains->len,
			       im->layers->len);
		for (guint k2 = 0; k2 < im->layers->len; k2++) {
			const LimgMetaLayer *l = im->layers->pdata[k2];

			if (!l || g_hash_table_lookup(m->layers, l->id) != l)
				broken("image %s: layer %u is not a layer of the snapshot", im->id, k2);
		}
		for (guint t = 0; t < im->tags->len; t++) {
			if (g_hash_table_lookup(m->tags, im->tags->pdata[t]) != im)
				broken("image %s: tag %s names another image", im->id,
				       (char *)im->tags->pdata[t]);
		}
	}
	for (guint i = 0; i < m->containers->len; i++) {
		const LimgMetaContainer *c = m->containers->pdata[i];

		if (!c->image || limg_store_meta_image(m, c->image->id) != c->image)
			broken("container %s: its image is not in the snapshot", c->id);
		if (c->init && g_hash_table_lookup(m->layers, c->init->id) != c->init)
			broken("container %s: its init layer is not in the snapshot", c->id);
	}
	g_hash_table_iter_init(&it, m->tags);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const char *tag = k;

		if (!usable_tag(tag) || strchr(tag, '@'))
			broken("tag \"%s\" cannot be a path under tags/", tag);
		if (!g_ptr_array_find_with_equal_func(((LimgMetaImage *)v)->tags, tag, g_str_equal,
		                                      NULL))
			broken("tag %s: its image does not list it", tag);
		/* tags/a:1 cannot be a link and the directory of tags/a:1/b:2 at once */
		for (const char *p = strchr(tag, '/'); p; p = strchr(p + 1, '/')) {
			g_autofree char *dir = g_strndup(tag, (gsize)(p - tag));

			if (g_hash_table_contains(m->tags, dir))
				broken("tag %s is also a directory of tag %s", dir, tag);
		}
	}
	g_hash_table_iter_init(&it, m->layers);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const LimgMetaLayer *l = v;

		if (strcmp(k, l->id) != 0 || !below(l->rel))
			broken("layer %s: key %s, rel %s", l->id, (char *)k, l->rel);
	}
	g_hash_table_iter_init(&it, m->by_diff);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		if (g_hash_table_lookup(m->layers, ((LimgMetaLayer *)v)->id) != v)
			broken("by-diff-id %s names no layer", (char *)k);
	}
	g_hash_table_iter_init(&it, m->by_chain);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		if (g_hash_table_lookup(m->layers, ((LimgMetaLayer *)v)->id) != v)
			broken("by-chain-id %s names no layer", (char *)k);
	}
}

static void
check_stack(LimgStore *s, const LimgStoreMeta *m, const char *name)
{
	g_autoptr(LimgLayerInfo) li = limg_store_lookup(s, name);

	if (!li || li->kind != LIMG_LAYER_STACK || !li->parts || li->parts->len == 0)
		broken("stack %s is listed but not found", name);
	for (guint i = 0; i < li->parts->len; i++) {
		const char *part = li->parts->pdata[i];

		if (!g_hash_table_contains(m->layers, part) &&
		    !(g_str_has_prefix(part, "images/") && g_str_has_suffix(part, "/rootfs")))
			broken("stack %s: part %s is neither a layer nor an image", name, part);
	}
}

void
limg_fuzz_store(const char *source, const char *kind)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(LimgStore) s = limg_store_new(source, kind, &error);
	g_autoptr(GPtrArray) layers = NULL, stacks = NULL;
	g_autoptr(LimgStoreMeta) m = NULL;
	g_auto(GStrv) watch = NULL;

	if (!s)
		return;
	layers = limg_store_list(s);
	for (guint i = 0; i < layers->len; i++)
		check_layer(s, layers->pdata[i]);
	m = limg_store_meta(s);
	if (m)
		check_meta(m);
	stacks = limg_store_stacks(s);
	for (guint i = 0; m && i < stacks->len; i++)
		check_stack(s, m, stacks->pdata[i]);
	watch = limg_store_meta_watch(s);
	limg_store_kind(s);
	/* Names a lookup must refuse, whatever the store holds. */
	if (limg_store_lookup(s, "..") || limg_store_lookup(s, "") ||
	    limg_store_lookup(s, "images/../rootfs"))
		broken("a lookup of a name no layer can have found one");
}
