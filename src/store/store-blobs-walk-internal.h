/*
 * store-blobs-walk-internal.h - the blob walk's own parts, shared by
 * store-blobs.c (reading blobs; manifests and configs made images; tags)
 * and store-blobs-index.c (layouts, indexes, the walk of descriptors).
 * Not for the backends: they use store-blobs-internal.h, where the walk
 * is opaque.
 *
 * Thread model: a walk is used by one thread at a time.
 */
#ifndef LIMG_STORE_BLOBS_WALK_INTERNAL_H
#define LIMG_STORE_BLOBS_WALK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-glib/json-glib.h>

#include "store/store-blobs-internal.h"

struct LimgBlobWalk {
	const char *source;
	const LimgBlobReader *r;
	LimgStoreMeta *m;
	GHashTable *visits;       /* hex -> Visit * (store-blobs-index.c) */
	GHashTable *on_path;      /* hex of the indexes being walked (cycles) */
	GHashTable *images;       /* image id -> LimgMetaImage * */
	GHashTable *costs;        /* image id -> 1 + compressed layers of its manifest */
};

/* A descriptor (OCI descriptor.md), checked. Borrows the JSON it came from. */
typedef struct {
	const char *hex;          /* of a valid "sha256:<hex>" digest */
	const char *media_type;   /* or NULL */
	int64_t size;             /* -1: not given */
	JsonObject *platform;     /* or NULL */
	JsonObject *annotations;  /* or NULL */
} LimgBlobDesc;

/* The reader's path of blob @hex. Caller frees. */
char *limg_blob_path(const LimgBlobWalk *w, const char *hex);

/* @path as messages name it. Caller frees. */
char *limg_blob_label(const LimgBlobWalk *w, const char *path);

/* Why a read or locate failed (@ret; @max: the bound read with), for messages. Caller frees. */
char *limg_blob_read_error(int ret, size_t max);

/* Parse @text as a JSON object: the root, or NULL and *@why (caller frees). */
JsonNode *limg_blob_parse_object(const char *text, size_t len, char **why);

/*
 * Entry @what of @label as a descriptor: false when it is unusable
 * (logged: "<label>: <what>: ...; <left> left out").
 */
bool limg_blob_parse_desc(JsonObject *o, const char *label, const char *what, const char *left,
                          LimgBlobDesc *d);

/*
 * JSON object blob @d, at most @max bytes, checked against its size (if
 * the descriptor gives one) and its digest; NULL when it is not (logged,
 * naming the blob and @referrer; "<left> left out"). Caller unrefs.
 */
JsonNode *limg_blob_read_json(LimgBlobWalk *w, const LimgBlobDesc *d, size_t max,
                              const char *referrer, const char *left);

/* The image of manifest @o (blob @label), or NULL (logged). */
LimgMetaImage *limg_blob_walk_add_manifest(LimgBlobWalk *w, JsonObject *o, const char *label);

#endif /* LIMG_STORE_BLOBS_WALK_INTERNAL_H */
