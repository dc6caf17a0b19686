/*
 * store.h - which layers exist in a layer store and what they are called.
 *
 * A store is a directory of layer directories (SOURCE), plus single layers
 * added by name (-o layer=NAME:PATH). Within SOURCE:
 *  - a directory with a diff/ subdirectory is a Docker overlay2 layer and
 *    is served from diff/;
 *  - in a store where any directory has diff/ (overlay2), directories
 *    without diff/ (such as the l/ directory of short links) are not
 *    layers;
 *  - otherwise every directory is a layer served as it is.
 * Layer names are directory names; names that are not valid file names in
 * the mount (none here: they came from readdir) or start with '.' are
 * skipped.
 *
 * The store keeps no cache: every call looks at the file system, so layers
 * that appear or vanish are seen at once.
 *
 * Thread model: immutable after creation; calls are reentrant.
 */
#ifndef LIMG_STORE_H
#define LIMG_STORE_H

#include <stdint.h>

#include <glib.h>

typedef struct LimgStore LimgStore;

typedef struct {
	char *name;        /* layer name (no ".iso") */
	char *path;        /* directory to serve: <dir>/diff or <dir> */
	uint64_t dev;      /* identity of that directory */
	uint64_t ino;
	int64_t mtime;     /* of the layer directory */
} LimgLayerInfo;

void limg_layer_info_free(LimgLayerInfo *li);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgLayerInfo, limg_layer_info_free)

/*
 * @source may be NULL (only explicit layers). Fails if @source is not a
 * readable directory.
 */
LimgStore *limg_store_new(const char *source, GError **error);
void limg_store_free(LimgStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgStore, limg_store_free)

/* Add "NAME:PATH" (the -o layer= option). Fails on a bad spec or path. */
gboolean limg_store_add_spec(LimgStore *s, const char *spec, GError **error);

/* All layers now present, sorted by name: LimgLayerInfo *, caller frees. */
GPtrArray *limg_store_list(LimgStore *s);

/* One layer by name, or NULL if there is none now. Caller frees. */
LimgLayerInfo *limg_store_lookup(LimgStore *s, const char *name);

const char *limg_store_source(const LimgStore *s);

/*
 * Whether a layer looks completely written: for an overlay2 layer (served
 * from diff/), Docker writes <id>/link last; other layers: always.
 */
gboolean limg_store_layer_complete(const LimgStore *s, const LimgLayerInfo *li);

/* Whether @name was added with -o layer= (it then hides SOURCE/@name). */
gboolean limg_store_lookup_explicit_name(const LimgStore *s, const char *name);

#endif /* LIMG_STORE_H */
