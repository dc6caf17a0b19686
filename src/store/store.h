/*
 * store.h - which layers a layer store holds, what they are called and
 * what each of them is.
 *
 * A store is SOURCE, read through one backend, plus single layers added
 * by name (-o layer=NAME:PATH, which hide a SOURCE layer of that name).
 * Backends (store-*.c, registered in store.c):
 *
 *   plain     SOURCE is a directory of layer directories; each one is a
 *             layer, served as it is;
 *   overlay2  SOURCE is Docker's overlay2/ directory: a layer is <id>/diff
 *             (directories without diff/, like l/, are not layers); it is
 *             complete once Docker wrote <id>/link.
 *
 * With store=auto (the default) the backend is chosen by looking at
 * SOURCE: overlay2 if it has an l/ directory or any <dir>/diff, else
 * plain. An empty directory may become an overlay2 store later (Docker
 * starting after the mount), so auto looks again at most once a second.
 *
 * Layer directories are never symlinks: a layer whose directory (or
 * diff/) is a symlink is refused with a log line, so a store cannot be
 * made to serve a directory outside itself. Layer names are those of
 * their directories; names starting with '.' or longer than 250 bytes are
 * skipped.
 *
 * What the store caches: only the auto backend's choice (for at most a
 * second). Every list and lookup looks at the file system, so layers
 * that appear or vanish are seen at once.
 *
 * Thread model: thread-safe; calls are reentrant.
 */
#ifndef LIMG_STORE_H
#define LIMG_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

typedef struct LimgStore LimgStore;

typedef enum {
	LIMG_LAYER_DIR,       /* a directory tree: @root + @rel */
} LimgLayerKind;

/* One layer, as the store sees it now. */
typedef struct {
	LimgLayerKind kind;
	char *id;             /* its name in the mount, without ".iso" */
	char *root;           /* DIR: the directory that holds it (SOURCE, or
	                       * the -o layer= path) */
	char *rel;            /* DIR: its path below @root ("" for @root) */
	char *parent;         /* id of the layer below it, or NULL (unknown) */
	GStrv names;          /* other names of the layer, or NULL */
	uint64_t dev;         /* identity of the served directory: a layer */
	uint64_t ino;         /*   replaced under the same id is a new one */
	int64_t mtime;        /* of the served directory, seconds */
	bool complete;        /* completely written: may be laid out */
	bool settle;          /* completeness is a guess: wait until nothing in
	                       * it changed for the settle time */
} LimgLayerInfo;

void limg_layer_info_free(LimgLayerInfo *li);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgLayerInfo, limg_layer_info_free)

/* "<root>/<rel>": the served path, for messages and cache keys. Caller frees. */
char *limg_layer_info_path(const LimgLayerInfo *li);

/* One backend: how SOURCE names and describes its layers. */
typedef struct {
	const char *name;
	/* Does the directory @dir_fd look like this kind of store? */
	bool (*detect)(int dir_fd);
	/*
	 * Append every layer of the store at @source (open as @dir_fd) to
	 * @out (LimgLayerInfo *); @skip(name, ctx) says a name is taken.
	 */
	void (*list)(const char *source, int dir_fd, GPtrArray *out,
	             bool (*skip)(const char *name, void *ctx), void *ctx);
	/* The layer @id, or NULL. */
	LimgLayerInfo *(*lookup)(const char *source, int dir_fd, const char *id);
} LimgStoreBackend;

extern const LimgStoreBackend limg_store_plain;
extern const LimgStoreBackend limg_store_overlay2;

/*
 * Open the store at @source (NULL: only explicit layers), read with the
 * backend named @kind ("plain", "overlay2"; NULL or "auto": detect).
 * Fails if @source is not a readable directory or @kind is unknown.
 */
LimgStore *limg_store_new(const char *source, const char *kind, GError **error);
void limg_store_free(LimgStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgStore, limg_store_free)

/* Add "NAME:PATH" (the -o layer= option). Fails on a bad spec or path. */
gboolean limg_store_add_spec(LimgStore *s, const char *spec, GError **error);

/* Add directory @path as layer @name (render's single layer). */
gboolean limg_store_add_dir(LimgStore *s, const char *name, const char *path, GError **error);

/* All layers now present, sorted by id: LimgLayerInfo *, caller frees. */
GPtrArray *limg_store_list(LimgStore *s);

/* One layer by id, or NULL if there is none now. Caller frees. */
LimgLayerInfo *limg_store_lookup(LimgStore *s, const char *id);

/* SOURCE, canonical, or NULL. */
const char *limg_store_source(const LimgStore *s);

/* The directory whose entries come and go with layers (inotify), or NULL. */
const char *limg_store_watch_dir(const LimgStore *s);

/* The backend in use now: "plain", "overlay2" (auto may change). */
const char *limg_store_kind(LimgStore *s);

/* Valid as a layer directory name in a store (no '/', no leading '.'). */
bool limg_store_valid_name(const char *name);

#endif /* LIMG_STORE_H */
