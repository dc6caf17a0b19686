/*
 * store-blobs-internal.h - what the blob stores share (store-oci.c,
 * store-archive.c, store-containerd.c): reading OCI image layouts,
 * indexes, manifests and image configs, and adding images of tar blobs
 * to a metadata snapshot. Not for other modules.
 *
 * Where blobs are is hidden behind a blob reader: files below SOURCE (an
 * OCI layout directory, containerd's content store) or members of the tar
 * file SOURCE is (an oci-archive). Everything else is the one walk here:
 *
 *   index      (OCI image index, Docker manifest list) -> its manifests,
 *              nested at most LIMG_BLOBS_MAX_DEPTH deep, each blob walked
 *              once (a blob met again only gets the new tags), an index
 *              met again on its own path (a cycle) refused; of the
 *              manifests of one tag the host's platform takes the tag,
 *              the others are images without it (logged once);
 *   manifest   (OCI, Docker schema 2) -> its config and layer blobs;
 *   config     -> rootfs.diff_ids, one per layer; the image id is the
 *              config's digest, as in Docker.
 *
 * No blob is trusted. A JSON blob (index, manifest, config) is read with
 * a size bound and must hash to its digest and be the size its descriptor
 * says. A layer blob must exist as a regular file of the size its
 * descriptor says; its digest goes with the layer, for the tar source to
 * check while it scans; an uncompressed one must hash to its diff id, so
 * its digest must be its diff id. Only sha256 digests are read. An image
 * with anything wrong is left out with one log line naming the blob and
 * the file or entry that named it; the rest is still served.
 *
 * Layers are named by their blob's hex digest, or by their diff id when
 * the blob's digest is not known (a compressed docker-archive member);
 * one blob is one layer in every image that stacks it. When two manifests
 * share a config (one image stored twice, e.g. gzip and zstd), the image
 * is made of the one with fewer compressed layers (cheaper to serve; the
 * first on a tie); both manifests' layers are layers of the store.
 *
 * Thread model: a walk and a reader are used by one thread at a time.
 */
#ifndef LIMG_STORE_BLOBS_INTERNAL_H
#define LIMG_STORE_BLOBS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-glib/json-glib.h>

#include "store/store-internal.h"

/* Deepest nesting of indexes below the top one. */
#define LIMG_BLOBS_MAX_DEPTH 8
/* Largest index or manifest read (the registries' own limit). */
#define LIMG_BLOBS_MAX_MANIFEST (4u << 20)
/* Largest image config read (as the docker store's imagedb). */
#define LIMG_BLOBS_MAX_CONFIG (16u << 20)

/* Where a blob's bytes are. */
typedef struct {
	char *rel;            /* the file below SOURCE ("": SOURCE itself) */
	uint64_t offset;      /* the blob is bytes [offset, offset + length) */
	uint64_t length;
	uint64_t file_dev;    /* the file the offsets hold for (both 0: any) */
	uint64_t file_ino;
} LimgBlobLoc;

void limg_blob_loc_clear(LimgBlobLoc *loc);

/*
 * Where a layout's files are. Paths are relative to the layout's root
 * ("index.json", "blobs/sha256/<hex>"); a path met as a symlink is never
 * followed.
 */
typedef struct {
	/*
	 * Read file @path whole, at most @max bytes, NUL-terminated: 0 and
	 * *@out (caller frees) and *@len, or -ENOENT, -ELOOP (a symlink),
	 * -EINVAL (not a regular file), -EFBIG (larger than @max), -errno.
	 */
	int (*read)(void *ctx, const char *path, size_t max, char **out, size_t *len);
	/* Where file @path's bytes are: 0 and *@loc, or -errno as for read. */
	int (*locate)(void *ctx, const char *path, LimgBlobLoc *loc);
	/* @path as messages name it. Caller frees. */
	char *(*label)(void *ctx, const char *path);
	const char *blobs;    /* where sha256 blobs are: "<blobs><hex>" */
	void *ctx;
} LimgBlobReader;

/*
 * The reader of a directory SOURCE (open as @dir_fd): paths are below it,
 * blobs in @blobs ("blobs/sha256/"). Every directory of @blobs must be a
 * real one, checked at init: if one is a symlink (refused, logged) or
 * missing, no blob can be read. Blobs are located at offset 0, whole.
 */
typedef struct {
	LimgBlobReader r;
	const char *source;
	int dir_fd;
	int blobs_err;        /* 0, or why no blob can be read (-errno) */
} LimgBlobDirReader;

void limg_blob_dir_reader_init(LimgBlobDirReader *d, const char *source, int dir_fd,
                               const char *blobs);

typedef enum {
	LIMG_BLOB_PLAIN,      /* an uncompressed tar */
	LIMG_BLOB_GZIP,
	LIMG_BLOB_ZSTD,
	LIMG_BLOB_OTHER,      /* compressed some other way: not served */
} LimgBlobCompression;

/* What the first bytes of a blob say it is (a tar if nothing else). */
LimgBlobCompression limg_blob_compression(const uint8_t *head, size_t len);

/* One layer of an image being added. */
typedef struct {
	const char *name;     /* how messages name it (blob or member label) */
	LimgBlobLoc loc;      /* borrowed */
	const char *digest;   /* "sha256:<hex>" of the blob, or NULL: unknown
	                       * (for a plain tar: its diff id, said the config) */
	LimgBlobCompression comp;
} LimgBlobLayer;

typedef struct LimgBlobWalk LimgBlobWalk;

/* A walk adding to snapshot @m, reading through @r (both borrowed). */
LimgBlobWalk *limg_blob_walk_new(const char *source, const LimgBlobReader *r, LimgStoreMeta *m);
void limg_blob_walk_free(LimgBlobWalk *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgBlobWalk, limg_blob_walk_free)

/*
 * An OCI image layout: oci-layout (imageLayoutVersion 1.0.0) and
 * index.json, whose manifests are tagged by their annotations (see
 * limg_blob_tag()). Problems logged.
 */
void limg_blob_walk_layout(LimgBlobWalk *w);

/*
 * An index or manifest named elsewhere (a containerd image record):
 * @digest, @media_type (or NULL: told by the blob), @size (or -1), @tag
 * for the image the host takes (or NULL), @referrer naming where it was
 * found, for messages.
 */
void limg_blob_walk_target(LimgBlobWalk *w, const char *digest, const char *media_type,
                           int64_t size, const char *tag, const char *referrer);

/*
 * An image from its config (@config, @config_len bytes, named @config_name
 * in messages) and its @n layers, lowest first, tagged @tags
 * (NULL-terminated, or NULL): the docker-archive's way. The image, or NULL
 * when left out (logged).
 */
LimgMetaImage *limg_blob_walk_add_image(LimgBlobWalk *w, const char *config, size_t config_len,
                                        const char *config_name, const LimgBlobLayer *layers,
                                        guint n, const char *const *tags);

/*
 * Tag @tag for @im: false when it names another image already (logged;
 * the first stays) or is no usable tag (logged).
 */
bool limg_blob_walk_tag(LimgBlobWalk *w, LimgMetaImage *im, const char *tag,
                        const char *referrer);

/*
 * The tag of a manifest from its annotations: io.containerd.image.name
 * when it is a full reference (repository:tag), else
 * org.opencontainers.image.ref.name, either a full reference or a bare
 * tag ("latest", what `skopeo copy ... oci:DIR:latest` writes), which
 * becomes tags/<tag> itself. NULL when there is none (or neither is
 * usable, logged, naming @label). Borrowed from @annotations.
 */
const char *limg_blob_tag(JsonObject *annotations, const char *label);

/* A bare tag usable as one name under tags/: no '/', ':' or '@', not hidden. */
bool limg_blob_valid_bare_tag(const char *tag);

/* "linux/amd64" (os/architecture[/variant]) of this host. */
const char *limg_blob_host_platform(void);

#endif /* LIMG_STORE_BLOBS_INTERNAL_H */
