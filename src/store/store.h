/*
 * store.h - which layers and images a store holds, what they are called
 * and what each of them is.
 *
 * A store is SOURCE, read through one backend, plus single layers added
 * by name (-o layer=NAME:PATH, which hide a SOURCE layer of that name).
 * Backends (store-*.c, registered in store.c):
 *
 *   plain       SOURCE is a directory of layer directories; each one is a
 *               layer, served as it is;
 *   overlay2    SOURCE is an overlay2 directory without metadata beside
 *               it: a layer is <id>/diff (directories without diff/, like
 *               l/, are not layers); complete once <id>/link exists;
 *   docker      a Docker data root (/var/lib/docker) or its overlay2/
 *               directory: layers are what image/overlay2/layerdb says
 *               (committed layers, by diff-id and chain-id) plus the
 *               containers' init layers; images and tags come from
 *               imagedb and repositories.json, containers from
 *               layerdb/mounts and containers/<id>/; a container's
 *               writable layer is never a layer of the store;
 *   containers  a containers-storage graph root (buildah, podman, CRI-O)
 *               or its overlay/ directory: layers from
 *               overlay-layers/layers.json (complete ones), images from
 *               overlay-images/images.json, containers from
 *               overlay-containers/containers.json; writable layers are
 *               never layers of the store.
 *
 * Blob stores: every layer is a tar blob (LIMG_LAYER_TAR), named by its
 * digest, served without being unpacked (store-blobs-internal.h):
 *
 *   oci         an OCI image layout directory (oci-layout, index.json,
 *               blobs/sha256/): images from index.json, nested indexes
 *               (the host's platform takes the tag) and manifests;
 *   archive     SOURCE is a file: a `docker save` / docker-archive tar
 *               (manifest.json) or an oci-archive tar (an OCI layout in
 *               a tar), read in place: a layer is a byte range of it;
 *   containerd  a containerd root (/var/lib/containerd): images of every
 *               namespace from io.containerd.metadata.v1.bolt/meta.db,
 *               blobs from io.containerd.content.v1.content/.
 *
 * With store=auto (the default) the backend is chosen by looking at
 * SOURCE: archive when it is a regular file; oci, containerd, docker or
 * containers when their marks are there; else overlay2 if it has an l/
 * directory or any <dir>/diff, else plain. An empty directory may become
 * an overlay2 store later (Docker starting after the mount), so auto
 * looks again at most once a second.
 *
 * Metadata is read, never written, with a real JSON parser; a file or
 * entry that is missing, truncated, inconsistent or hostile is logged
 * once with the file it came from and left out, and everything else is
 * still served.
 *
 * Stacks: besides its layers, a store with metadata names stacks, images
 * made of other images: "images/<image-id>/rootfs" (the image's layers,
 * flattened) and "containers/<container-id>/rootfs" (the image's rootfs
 * + the container's init layer + its hosts, hostname and resolv.conf).
 *
 * Layer directories are never symlinks: a layer whose directory (or
 * diff/) is a symlink is refused with a log line, so a store cannot be
 * made to serve a directory outside itself. Likewise a layer blob must be
 * a regular file, not a symlink, and hold the byte range the metadata
 * names (else it is refused, logged). Layer names are those of
 * their directories; names starting with '.' or longer than 250 bytes are
 * skipped.
 *
 * What the store caches: the auto backend's choice (for at most a
 * second) and the last metadata snapshot, which is read again whenever
 * one of the backend's metadata files or directories changed (checked by
 * stat at every use). Layer directories are looked at at every call, so
 * layers that appear or vanish are seen at once.
 *
 * Thread model: thread-safe; calls are reentrant. Snapshots are
 * immutable and refcounted.
 */
#ifndef LIMG_STORE_H
#define LIMG_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

typedef struct LimgStore LimgStore;

typedef enum {
	LIMG_LAYER_DIR,       /* a directory tree: @root + @rel */
	LIMG_LAYER_STACK,     /* images merged as overlayfs shows them: @parts */
	LIMG_LAYER_TAR,       /* a tar blob (plain, gzip or zstd): bytes [@offset,
	                       * @offset + @length) of the file @root/@rel */
} LimgLayerKind;

/* One layer, as the store sees it now. */
typedef struct {
	LimgLayerKind kind;
	char *id;             /* its name in the mount, without ".iso" */
	char *root;           /* DIR: the directory that holds it (SOURCE, or
	                       * the -o layer= path); TAR: SOURCE */
	char *rel;            /* DIR, TAR: its path below @root ("" for @root:
	                       * SOURCE is the file, an archive) */
	char *parent;         /* id of the layer below it, or NULL (unknown) */
	GStrv names;          /* other names of the layer, or NULL */
	uint64_t dev;         /* identity of the served directory: a layer */
	uint64_t ino;         /*   replaced under the same id is a new one */
	int64_t mtime;        /* of the served directory, seconds */
	bool complete;        /* completely written: may be laid out */
	bool settle;          /* completeness is a guess: wait until nothing in
	                       * it changed for the settle time */
	/* STACK */
	GPtrArray *parts;     /* char *: image names, lowest first */
	char *files_dir;      /* hosts, hostname, resolv.conf put on top as
	                       * etc/..., from this directory; or NULL */
	/* TAR (@dev, @ino, @mtime: of the file) */
	uint64_t offset;      /* where the blob starts in the file */
	uint64_t length;      /* its bytes; 0: to the end of the file */
	char *digest;         /* "sha256:<hex>" its bytes must hash to (checked
	                       * before it is served), or NULL */
} LimgLayerInfo;

void limg_layer_info_free(LimgLayerInfo *li);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgLayerInfo, limg_layer_info_free)

/* "<root>/<rel>": the served path, for messages and cache keys. Caller frees. */
char *limg_layer_info_path(const LimgLayerInfo *li);

/* ------------------------------------------------------------ metadata */

/* A layer the metadata knows. */
typedef struct {
	char *id;             /* store layer id: the mount's <id>.iso */
	char *rel;            /* its directory below SOURCE */
	char *diff_id;        /* "sha256:<hex>" of its tar, or NULL (init layers) */
	char *chain_id;       /* "sha256:<hex>", or NULL */
	bool init;            /* a container's init layer */
	/* Blob stores (oci, archive, containerd): the layer is a tar blob */
	bool blob;            /* @rel names a regular file ("": SOURCE itself) */
	uint64_t offset;      /* the blob is bytes [offset, offset + length) */
	uint64_t length;      /*   of it (0: to the end) */
	char *digest;         /* "sha256:<hex>" of the blob's bytes, or NULL */
	uint64_t file_dev;    /* the file the offsets were read from (an */
	uint64_t file_ino;    /*   archive): another file there is not this
	                       *   layer; both 0: any file */
} LimgMetaLayer;

/* An image: an ordered stack of layers. */
typedef struct {
	char *id;             /* hex digest of its config, no "sha256:" */
	GPtrArray *tags;      /* char *: "repository:tag" (blob stores: also a
	                       * bare OCI "ref.name" tag), sorted */
	GPtrArray *layers;    /* LimgMetaLayer * (borrowed), lowest first */
	GPtrArray *chains;    /* char *: the chain id of each layer in this
	                       * image, or NULL: each layer's own @chain_id. A
	                       * blob is one layer wherever it is stacked, so
	                       * its chain id depends on the image */
} LimgMetaImage;

typedef struct {
	char *id;
	LimgMetaImage *image;     /* borrowed */
	LimgMetaLayer *init;      /* borrowed; NULL when the engine makes none */
	char *files_dir;          /* absolute: where its hosts, hostname and
	                           * resolv.conf are (may not exist yet) */
} LimgMetaContainer;

/* What a store's metadata says at one moment. Immutable; refcounted. */
typedef struct {
	gint ref;
	uint64_t serial;          /* a new number for every new snapshot */
	GHashTable *layers;       /* id -> LimgMetaLayer * (owns) */
	GHashTable *by_diff;      /* hex -> LimgMetaLayer * */
	GHashTable *by_chain;     /* hex -> LimgMetaLayer * (images' chains too) */
	GPtrArray *images;        /* LimgMetaImage *, sorted by id (owns) */
	GPtrArray *containers;    /* LimgMetaContainer *, sorted by id (owns) */
	GHashTable *tags;         /* "repository:tag" -> LimgMetaImage * */
	GPtrArray *pending;       /* char *: paths (relative to SOURCE) of entries
	                           * still being written, left out for now; a change
	                           * of any of them makes the snapshot stale */
} LimgStoreMeta;

LimgStoreMeta *limg_store_meta_new(void);
LimgStoreMeta *limg_store_meta_ref(LimgStoreMeta *m);
void limg_store_meta_unref(LimgStoreMeta *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgStoreMeta, limg_store_meta_unref)

/* Lookups in a snapshot; NULL when absent. Borrowed. */
LimgMetaImage *limg_store_meta_image(const LimgStoreMeta *m, const char *id);
/* The chain id of layer @i of @im ("sha256:<hex>"), or NULL. Borrowed. */
const char *limg_meta_image_chain(const LimgMetaImage *im, guint i);
LimgMetaContainer *limg_store_meta_container(const LimgStoreMeta *m, const char *id);

/*
 * The metadata snapshot now: a reference (caller unrefs), or NULL for a
 * store without metadata (plain, overlay2).
 */
LimgStoreMeta *limg_store_meta(LimgStore *s);

/* Read the metadata again now, whatever the marks say (after an event). */
void limg_store_meta_refresh(LimgStore *s);

/* One backend: how SOURCE names and describes its layers. */
typedef struct {
	const char *name;
	/*
	 * Does SOURCE, open as @dir_fd (a directory, or a regular file: see
	 * limg_store_new()), look like this kind of store?
	 */
	bool (*detect)(int dir_fd);
	/*
	 * Append every layer of the store at @source (open as @dir_fd) to
	 * @out (LimgLayerInfo *); @skip(name, ctx) says a name is taken.
	 */
	void (*list)(const char *source, int dir_fd, GPtrArray *out,
	             bool (*skip)(const char *name, void *ctx), void *ctx);
	/* The layer @id, or NULL. */
	LimgLayerInfo *(*lookup)(const char *source, int dir_fd, const char *id);
	/*
	 * Metadata backends: read the snapshot now (never NULL: an empty one
	 * when nothing can be read, problems logged); the paths (relative to
	 * SOURCE, a new NULL-terminated vector; "" is SOURCE itself) whose
	 * changes change it. For these, list and lookup may be NULL: the
	 * store core answers from the snapshot.
	 */
	LimgStoreMeta *(*read_meta)(const char *source, int dir_fd);
	char **(*meta_paths)(const char *source, int dir_fd);
} LimgStoreBackend;

extern const LimgStoreBackend limg_store_plain;
extern const LimgStoreBackend limg_store_overlay2;
extern const LimgStoreBackend limg_store_docker;
extern const LimgStoreBackend limg_store_containers;
extern const LimgStoreBackend limg_store_oci;
extern const LimgStoreBackend limg_store_archive;
extern const LimgStoreBackend limg_store_containerd;

/*
 * Open the store at @source (NULL: only explicit layers), read with the
 * backend named @kind ("plain", "overlay2", "docker", "containers",
 * "oci", "archive", "containerd"; NULL or "auto": detect).
 * @source is a directory, or a regular file (an archive: read only by
 * the archive backend, which auto picks for a file).
 * Fails if @source is neither a readable directory nor a readable
 * regular file, if @kind is unknown (G_OPTION_ERROR), or if @kind cannot
 * read it (G_FILE_ERROR_NOTDIR: a file for a directory backend;
 * G_FILE_ERROR_ISDIR: a directory for archive).
 */
LimgStore *limg_store_new(const char *source, const char *kind, GError **error);
void limg_store_free(LimgStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgStore, limg_store_free)

/* Add "NAME:PATH" (the -o layer= option). Fails on a bad spec or path. */
gboolean limg_store_add_spec(LimgStore *s, const char *spec, GError **error);

/*
 * Add @path as layer @name: a directory, or a regular file holding a tar
 * blob (plain, gzip or zstd). render's layers, -o layer=NAME:PATH.
 */
gboolean limg_store_add_dir(LimgStore *s, const char *name, const char *path, GError **error);

/*
 * Add stack @name: the images @parts (NULL-terminated), lowest first,
 * flattened (render of several directories).
 */
gboolean limg_store_add_stack(LimgStore *s, const char *name, const char *const *parts,
                              GError **error);

/* All layers now present, sorted by id: LimgLayerInfo *, caller frees. */
GPtrArray *limg_store_list(LimgStore *s);

/* One layer by id, or NULL if there is none now. Caller frees. */
LimgLayerInfo *limg_store_lookup(LimgStore *s, const char *id);

/* SOURCE, canonical, or NULL. */
const char *limg_store_source(const LimgStore *s);

/* The directory whose entries come and go with layers (inotify), or NULL. */
const char *limg_store_watch_dir(const LimgStore *s);

/*
 * Directories (absolute, NULL-terminated; caller g_strfreev()s) whose
 * changes change the metadata (inotify), or NULL for a store without. A
 * metadata file is watched through its directory: an archive through the
 * directory that holds SOURCE, an OCI layout's index.json through SOURCE.
 */
char **limg_store_meta_watch(LimgStore *s);

/* Names of every stack the metadata knows now, sorted (caller frees). */
GPtrArray *limg_store_stacks(LimgStore *s);

/*
 * The backend in use now: "plain", "overlay2", "docker", "containers",
 * "oci", "archive", "containerd".
 */
const char *limg_store_kind(LimgStore *s);

/*
 * With store=auto the backend is looked at again at most once a second,
 * by the first lookup after that second, and every lookup of a store
 * with metadata stats its metadata paths to see whether its snapshot is
 * current; unless someone calls limg_store_look_again() about once a
 * second and limg_store_meta_refresh() after every change in the
 * metadata directories (the image service's watcher thread: inotify)
 * and says so with limg_store_look_after(s, true): then lookups use the
 * backend and the snapshot as last seen and look at nothing themselves.
 */
void limg_store_look_after(LimgStore *s, bool on);
void limg_store_look_again(LimgStore *s);

/* Valid as a layer directory name in a store (no '/', no leading '.'). */
bool limg_store_valid_name(const char *name);

#endif /* LIMG_STORE_H */
