/*
 * store.c - the layer store: explicit layers, the backend choice, the
 * backends' registry, the metadata snapshot and stacks; see store.h.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store-internal.h"
#include "util/log.h"

/* How long a look at SOURCE decides the auto backend. */
#define AUTO_TTL_US (1000 * 1000)

/*
 * In the order auto tries them: archive first (the only one that takes a
 * file, and it takes nothing else), then the stores told by a mark of
 * their own (oci-layout, containerd's content directory, Docker's
 * layerdb, containers-storage's overlay-layers), then overlay2 (l/ or
 * any <dir>/diff, which a Docker data root also has), plain last: it
 * takes anything.
 */
static const LimgStoreBackend *const backends[] = {
	&limg_store_archive,
	&limg_store_oci,
	&limg_store_containerd,
	&limg_store_docker,
	&limg_store_containers,
	&limg_store_overlay2,
	&limg_store_plain,
};

#define STACK_IMAGES "images/"
#define STACK_CONTAINERS "containers/"
#define STACK_ROOTFS "/rootfs"

/* What a metadata path looked like: a change of any field is a change. */
typedef struct {
	uint64_t ino;
	int64_t mtime_ns;
	int64_t ctime_ns;
	int64_t size;
} PathMark;

struct LimgStore {
	char *source;           /* canonical; NULL: explicit layers only */
	int dir_fd;             /* SOURCE (a directory, or the file), or -1 */
	bool is_file;           /* SOURCE is a regular file: an archive */
	bool automatic;         /* backend chosen by detect(), re-checked */
	gint looked_after;      /* atomic: the watcher calls limg_store_look_again()
	                         * and refreshes the metadata: lookups take the
	                         * backend and the snapshot as they are */
	GPtrArray *explicit;    /* LimgLayerInfo * (id, root only) */
	GMutex lock;
	/* protected by lock */
	const LimgStoreBackend *backend;
	gint64 detected_us;
	LimgStoreMeta *meta;    /* last snapshot (metadata backends) */
	char **meta_paths;      /* relative to SOURCE */
	GArray *marks;          /* PathMark per meta path, as of @meta */
};

void
limg_layer_info_free(LimgLayerInfo *li)
{
	if (!li)
		return;
	g_free(li->id);
	g_free(li->root);
	g_free(li->rel);
	g_free(li->parent);
	g_strfreev(li->names);
	if (li->parts)
		g_ptr_array_free(li->parts, TRUE);
	g_free(li->files_dir);
	g_free(li->digest);
	g_free(li);
}

char *
limg_layer_info_path(const LimgLayerInfo *li)
{
	return li->rel && *li->rel ? g_build_filename(li->root, li->rel, NULL) : g_strdup(li->root);
}

bool
limg_store_valid_name(const char *name)
{
	return name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 250;
}

static const LimgStoreBackend *
detect(int dir_fd)
{
	for (guint i = 0; i < G_N_ELEMENTS(backends); i++) {
		if (backends[i]->detect(dir_fd))
			return backends[i];
	}
	return &limg_store_plain;
}

/* "auto, plain, overlay2, ... or containerd": every kind, for messages. Caller frees. */
static char *
kind_names(void)
{
	GString *t = g_string_new("auto");

	for (guint i = 0; i < G_N_ELEMENTS(backends); i++)
		g_string_append_printf(t, "%s%s", i + 1 < G_N_ELEMENTS(backends) ? ", " : " or ",
		                       backends[i]->name);
	return g_string_free(t, FALSE);
}

static const LimgStoreBackend *
backend_named(const char *kind)
{
	for (guint i = 0; i < G_N_ELEMENTS(backends); i++) {
		if (strcmp(backends[i]->name, kind) == 0)
			return backends[i];
	}
	return NULL;
}

/*
 * Open SOURCE: a directory, or a regular file (an archive). Not
 * O_DIRECTORY, so a file opens too; O_NONBLOCK, so a FIFO named as
 * SOURCE cannot hang the open (it is refused by the fstat after).
 */
static bool
open_source(LimgStore *s, const char *source, GError **error)
{
	struct stat st;
	int err;

	s->dir_fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (s->dir_fd < 0 || fstat(s->dir_fd, &st) < 0) {
		err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s", source,
		            g_strerror(err));
		return false;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
		            "%s: neither a directory nor a regular file (an archive)", source);
		return false;
	}
	s->is_file = S_ISREG(st.st_mode);
	return true;
}

/* Can the backend the operator chose read SOURCE at all? */
static bool
check_kind(const LimgStore *s, const char *source, GError **error)
{
	if (s->automatic)
		return true;
	if (s->is_file && s->backend != &limg_store_archive) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
		            "%s: not a directory (a file: only store=archive or auto reads one, "
		            "as a docker-archive or oci-archive tar), so store=%s cannot read it",
		            source, s->backend->name);
		return false;
	}
	if (!s->is_file && s->backend == &limg_store_archive) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_ISDIR,
		            "%s: a directory; store=archive reads a docker-archive or oci-archive "
		            "tar file (an OCI layout directory is store=oci)", source);
		return false;
	}
	return true;
}

LimgStore *
limg_store_new(const char *source, const char *kind, GError **error)
{
	g_autoptr(LimgStore) s = g_new0(LimgStore, 1);

	s->dir_fd = -1;
	s->explicit = g_ptr_array_new_with_free_func((GDestroyNotify)limg_layer_info_free);
	g_mutex_init(&s->lock);
	s->automatic = !kind || strcmp(kind, "auto") == 0;
	if (!s->automatic) {
		s->backend = backend_named(kind);
		if (!s->backend) {
			g_autofree char *kinds = kind_names();

			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			            "store=%s: expected %s", kind, kinds);
			return NULL;
		}
	}
	if (source) {
		if (!open_source(s, source, error) || !check_kind(s, source, error))
			return NULL;
		s->source = g_canonicalize_filename(source, NULL);
		if (s->automatic) {
			s->backend = detect(s->dir_fd);
			s->detected_us = g_get_monotonic_time();
		}
	}
	return g_steal_pointer(&s);
}

void
limg_store_free(LimgStore *s)
{
	if (!s)
		return;
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	g_free(s->source);
	limg_store_meta_unref(s->meta);
	g_strfreev(s->meta_paths);
	if (s->marks)
		g_array_free(s->marks, TRUE);
	g_ptr_array_free(s->explicit, TRUE);
	g_mutex_clear(&s->lock);
	g_free(s);
}

const char *
limg_store_source(const LimgStore *s)
{
	return s->source;
}

const char *
limg_store_watch_dir(const LimgStore *s)
{
	const LimgStoreBackend *b;

	g_mutex_lock((GMutex *)&s->lock);
	b = s->backend;
	g_mutex_unlock((GMutex *)&s->lock);
	/* With metadata, a layer counts once the metadata says it is committed. */
	return b && b->read_meta ? NULL : s->source;
}

/*
 * The backend to use now (auto: looked at again at most once a second;
 * by limg_store_look_again() alone when @from_request and someone calls
 * it: a detection is some 25 system calls, 0.1 ms that a request after a
 * quiet second would otherwise wait for).
 */
static const LimgStoreBackend *
backend_at(LimgStore *s, bool from_request)
{
	const LimgStoreBackend *b;
	gint64 now;

	g_mutex_lock(&s->lock);
	b = s->backend;
	now = g_get_monotonic_time();
	if (s->automatic && s->dir_fd >= 0 && now - s->detected_us >= AUTO_TTL_US &&
	    !(from_request && b && g_atomic_int_get(&s->looked_after))) {
		g_mutex_unlock(&s->lock);
		b = detect(s->dir_fd);
		g_mutex_lock(&s->lock);
		if (s->backend != b)
			limg_log(LIMG_LOG_INFO, "%s: now read as a%s %s store", s->source,
			         strchr("aeiou", b->name[0]) ? "n" : "", b->name);
		s->backend = b;
		s->detected_us = now;
	}
	g_mutex_unlock(&s->lock);
	return b;
}

static const LimgStoreBackend *
backend_now(LimgStore *s)
{
	return backend_at(s, true);
}

void
limg_store_look_after(LimgStore *s, bool on)
{
	g_atomic_int_set(&s->looked_after, on);
}

static LimgStoreMeta *meta_read(LimgStore *s, const LimgStoreBackend *b, bool force);

void
limg_store_look_again(LimgStore *s)
{
	const LimgStoreBackend *b = backend_at(s, false);

	if (b && s->dir_fd >= 0)
		limg_store_meta_unref(meta_read(s, b, false));
}

const char *
limg_store_kind(LimgStore *s)
{
	const LimgStoreBackend *b = backend_now(s);

	return b ? b->name : "none";
}

static LimgLayerInfo *stack_info(const char *id, GPtrArray *parts, const char *files_dir);

static LimgLayerInfo *
explicit_find(const LimgStore *s, const char *id)
{
	for (guint i = 0; i < s->explicit->len; i++) {
		LimgLayerInfo *e = s->explicit->pdata[i];

		if (strcmp(e->id, id) == 0)
			return e;
	}
	return NULL;
}

/* A fresh record of explicit layer @e, or NULL if its directory or blob is gone. */
static LimgLayerInfo *
explicit_info(const LimgLayerInfo *e)
{
	LimgLayerInfo *li;
	struct stat st;

	if (e->kind == LIMG_LAYER_STACK) {
		GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);

		for (guint i = 0; i < e->parts->len; i++)
			g_ptr_array_add(parts, g_strdup(e->parts->pdata[i]));
		return stack_info(e->id, parts, NULL);
	}
	if (stat(e->root, &st) < 0 || (e->kind == LIMG_LAYER_DIR) != !!S_ISDIR(st.st_mode) ||
	    (e->kind == LIMG_LAYER_TAR && !S_ISREG(st.st_mode)))
		return NULL;
	li = g_new0(LimgLayerInfo, 1);
	li->kind = e->kind;
	li->id = g_strdup(e->id);
	li->root = g_strdup(e->root);
	li->rel = g_strdup("");
	li->dev = st.st_dev;
	li->ino = st.st_ino;
	li->mtime = st.st_mtim.tv_sec;
	li->complete = true;
	/* a directory may still be being written; a blob is what it is */
	li->settle = e->kind == LIMG_LAYER_DIR;
	return li;
}

gboolean
limg_store_add_dir(LimgStore *s, const char *name, const char *path, GError **error)
{
	LimgLayerInfo *li;
	struct stat st;

	if (!limg_store_valid_name(name)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "'%s' is not a usable layer name (no '/', no leading '.')", name);
		return FALSE;
	}
	if (stat(path, &st) < 0) {
		int err = errno;

		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s", path,
		            g_strerror(err));
		return FALSE;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
		            "%s: neither a directory nor a tar blob", path);
		return FALSE;
	}
	if (explicit_find(s, name)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "layer '%s' given twice", name);
		return FALSE;
	}
	li = g_new0(LimgLayerInfo, 1);
	li->kind = S_ISDIR(st.st_mode) ? LIMG_LAYER_DIR : LIMG_LAYER_TAR;
	li->id = g_strdup(name);
	li->root = g_canonicalize_filename(path, NULL);
	g_ptr_array_add(s->explicit, li);
	return TRUE;
}

gboolean
limg_store_add_stack(LimgStore *s, const char *name, const char *const *parts, GError **error)
{
	LimgLayerInfo *li;

	if (!limg_store_valid_name(name) || explicit_find(s, name)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "'%s' is not a usable stack name, or taken", name);
		return FALSE;
	}
	li = g_new0(LimgLayerInfo, 1);
	li->kind = LIMG_LAYER_STACK;
	li->id = g_strdup(name);
	li->parts = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; parts[i]; i++)
		g_ptr_array_add(li->parts, g_strdup(parts[i]));
	g_ptr_array_add(s->explicit, li);
	return TRUE;
}

gboolean
limg_store_add_spec(LimgStore *s, const char *spec, GError **error)
{
	const char *colon = strchr(spec, ':');
	g_autofree char *name = NULL;
	g_autoptr(GError) err = NULL;

	if (!colon || colon == spec || !colon[1]) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "layer=%s: expected layer=NAME:PATH", spec);
		return FALSE;
	}
	name = g_strndup(spec, (gsize)(colon - spec));
	if (!limg_store_add_dir(s, name, colon + 1, &err)) {
		g_set_error(error, err->domain, err->code, "layer=%s: %s", spec, err->message);
		return FALSE;
	}
	return TRUE;
}

static bool
taken_by_explicit(const char *name, void *ctx)
{
	return explicit_find(ctx, name) != NULL;
}

static gint
cmp_info(gconstpointer a, gconstpointer b)
{
	const LimgLayerInfo *x = *(LimgLayerInfo *const *)a, *y = *(LimgLayerInfo *const *)b;

	return strcmp(x->id, y->id);
}

/* ------------------------------------------------------------ metadata */

/* What @path (relative to SOURCE; "": SOURCE itself) looks like now. */
static PathMark
mark_of(const LimgStore *s, const char *path)
{
	PathMark m = { 0 };
	struct stat st;
	/*
	 * SOURCE by its path, not by dir_fd: an archive replaced by rename
	 * is a new file at the path while dir_fd still holds the old one.
	 */
	int ret = *path ? fstatat(s->dir_fd, path, &st, 0) : stat(s->source, &st);

	if (ret == 0) {
		m.ino = st.st_ino;
		m.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		m.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
		m.size = st.st_size;
	}
	return m;
}

/*
 * The snapshot of @b's metadata now: the cached one while no metadata
 * path changed, else read again. A reference, or NULL (no metadata).
 */
/* Marks of @paths and of @m's pending paths. */
static GArray *
marks_of(const LimgStore *s, char **paths, const LimgStoreMeta *m)
{
	GArray *marks = g_array_new(FALSE, FALSE, sizeof(PathMark));

	for (guint i = 0; paths[i]; i++) {
		PathMark pm = mark_of(s, paths[i]);

		g_array_append_val(marks, pm);
	}
	for (guint i = 0; m && i < m->pending->len; i++) {
		PathMark pm = mark_of(s, m->pending->pdata[i]);

		g_array_append_val(marks, pm);
	}
	return marks;
}

/*
 * The snapshot of @b's metadata now: the cached one while no metadata
 * path (nor a pending entry of it) changed, else read again (always, with
 * @force). A reference, or NULL (no metadata).
 */
static LimgStoreMeta *
meta_read(LimgStore *s, const LimgStoreBackend *b, bool force)
{
	g_autoptr(GArray) marks = NULL;
	LimgStoreMeta *m;

	if (!b->read_meta || s->dir_fd < 0)
		return NULL;
	g_mutex_lock(&s->lock);
	if (!s->meta_paths || s->backend != b || !s->meta) {
		g_strfreev(s->meta_paths);
		s->meta_paths = b->meta_paths(s->source, s->dir_fd);
	}
	marks = marks_of(s, s->meta_paths, s->meta);
	if (!force && s->meta && s->marks && s->marks->len == marks->len &&
	    memcmp(s->marks->data, marks->data, marks->len * sizeof(PathMark)) == 0) {
		m = limg_store_meta_ref(s->meta);
		g_mutex_unlock(&s->lock);
		return m;
	}
	g_mutex_unlock(&s->lock);

	/*
	 * Read outside the lock; a concurrent reader may read too. The marks
	 * are taken before the read, so a change during it is seen next time.
	 */
	g_array_set_size(marks, g_strv_length(s->meta_paths));   /* before the read */
	m = b->read_meta(s->source, s->dir_fd);
	g_mutex_lock(&s->lock);
	{
		char *none[] = { NULL };
		g_autoptr(GArray) pending = marks_of(s, none, m);

		g_array_append_vals(marks, pending->data, pending->len);
	}
	limg_store_meta_unref(s->meta);
	s->meta = limg_store_meta_ref(m);
	if (s->marks)
		g_array_free(s->marks, TRUE);
	s->marks = g_steal_pointer(&marks);
	g_mutex_unlock(&s->lock);
	return m;
}

/*
 * The snapshot a request uses. Looked after (limg_store_look_after), the
 * watcher keeps it current: a re-read right after every batch of inotify
 * events in the metadata directories (limg_store_meta_refresh), and a
 * look at their marks once a second (limg_store_look_again) for what
 * inotify cannot see (an entry still being written that completes). The
 * request then takes it as it is, without a stat of every metadata path
 * under the store's lock.
 */
static LimgStoreMeta *
meta_now(LimgStore *s, const LimgStoreBackend *b)
{
	if (g_atomic_int_get(&s->looked_after)) {
		LimgStoreMeta *m = NULL;

		g_mutex_lock(&s->lock);
		if (s->meta && s->backend == b)
			m = limg_store_meta_ref(s->meta);
		g_mutex_unlock(&s->lock);
		if (m)
			return m;
	}
	return meta_read(s, b, false);
}

void
limg_store_meta_refresh(LimgStore *s)
{
	if (s->dir_fd >= 0)
		limg_store_meta_unref(meta_read(s, backend_now(s), true));
}

LimgStoreMeta *
limg_store_meta(LimgStore *s)
{
	return s->dir_fd >= 0 ? meta_now(s, backend_now(s)) : NULL;
}

char **
limg_store_meta_watch(LimgStore *s)
{
	const LimgStoreBackend *b;
	char **rel;
	GPtrArray *out;

	if (s->dir_fd < 0)
		return NULL;
	b = backend_now(s);
	if (!b->meta_paths)
		return NULL;
	rel = b->meta_paths(s->source, s->dir_fd);
	out = g_ptr_array_new();
	for (guint i = 0; rel[i]; i++) {
		char *path = g_canonicalize_filename(rel[i], s->source);
		struct stat st;

		/*
		 * Directories are watched: a metadata file (index.json, meta.db,
		 * the archive itself) changes in its directory. The stat marks
		 * still decide what changed.
		 */
		if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
			char *dir = g_path_get_dirname(path);

			g_free(path);
			path = dir;
		}
		if (g_ptr_array_find_with_equal_func(out, path, g_str_equal, NULL))
			g_free(path);
		else
			g_ptr_array_add(out, path);
	}
	g_ptr_array_add(out, NULL);
	g_strfreev(rel);
	return (char **)g_ptr_array_free(out, FALSE);
}

/*
 * A TAR record of blob layer @ml, if its file is there, is the file the
 * metadata was read from, and holds the byte range.
 */
static LimgLayerInfo *
blob_layer_info(const LimgStore *s, const LimgMetaLayer *ml)
{
	LimgLayerInfo *li;
	struct stat st;

	if (limg_store_stat_blob(s->source, s->dir_fd, ml->rel, &st) < 0)
		return NULL;
	/* Replaced since the metadata was read: the next read sees the new one. */
	if (ml->file_ino && (ml->file_dev != (uint64_t)st.st_dev ||
	                     ml->file_ino != (uint64_t)st.st_ino))
		return NULL;
	if (ml->offset > (uint64_t)st.st_size || ml->length > (uint64_t)st.st_size - ml->offset) {
		g_autofree char *path = g_build_filename(s->source, ml->rel, NULL);

		limg_store_log_once("%s: layer %s is bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
		                    ") of it, beyond its end (%" G_GUINT64_FORMAT " bytes); not "
		                    "served", path, ml->id, ml->offset, ml->offset + ml->length,
		                    (uint64_t)st.st_size);
		return NULL;
	}
	li = g_new0(LimgLayerInfo, 1);
	li->kind = LIMG_LAYER_TAR;
	li->id = g_strdup(ml->id);
	li->root = g_strdup(s->source);
	li->rel = g_strdup(ml->rel);
	li->dev = st.st_dev;
	li->ino = st.st_ino;
	li->mtime = st.st_mtim.tv_sec;
	li->offset = ml->offset;
	li->length = ml->length;
	li->digest = g_strdup(ml->digest);
	li->complete = true;
	return li;
}

/* A record of metadata layer @ml, if its directory (or blob) is there. */
static LimgLayerInfo *
meta_layer_info(const LimgStore *s, const LimgMetaLayer *ml)
{
	LimgLayerInfo *li;
	struct stat st;

	if (ml->blob) {
		li = blob_layer_info(s, ml);
	} else {
		if (limg_store_stat_dir(s->source, s->dir_fd, ml->rel, &st) < 0)
			return NULL;
		li = limg_store_dir_layer(s->source, ml->id, ml->rel, &st);
	}
	if (!li)
		return NULL;
	/* Committed, says the metadata: no settling, no guessing. */
	li->settle = false;
	if (ml->diff_id || ml->chain_id) {
		GPtrArray *names = g_ptr_array_new();

		if (ml->diff_id)
			g_ptr_array_add(names, g_strdup(ml->diff_id));
		if (ml->chain_id)
			g_ptr_array_add(names, g_strdup(ml->chain_id));
		g_ptr_array_add(names, NULL);
		li->names = (GStrv)g_ptr_array_free(names, FALSE);
	}
	return li;
}

static LimgLayerInfo *
stack_info(const char *id, GPtrArray *parts, const char *files_dir)
{
	LimgLayerInfo *li = g_new0(LimgLayerInfo, 1);

	li->kind = LIMG_LAYER_STACK;
	li->id = g_strdup(id);
	li->parts = parts;
	li->files_dir = g_strdup(files_dir);
	li->complete = true;
	return li;
}

/* "images/<id>/rootfs" or "containers/<id>/rootfs" of @m, or NULL. */
static LimgLayerInfo *
stack_lookup(const LimgStoreMeta *m, const char *name)
{
	g_autofree char *id = NULL;
	const char *rest;
	size_t n;

	if (g_str_has_prefix(name, STACK_IMAGES))
		rest = name + strlen(STACK_IMAGES);
	else if (g_str_has_prefix(name, STACK_CONTAINERS))
		rest = name + strlen(STACK_CONTAINERS);
	else
		return NULL;
	n = strlen(rest);
	if (n <= strlen(STACK_ROOTFS) || strcmp(rest + n - strlen(STACK_ROOTFS), STACK_ROOTFS) != 0)
		return NULL;
	id = g_strndup(rest, n - strlen(STACK_ROOTFS));
	if (g_str_has_prefix(name, STACK_IMAGES)) {
		LimgMetaImage *im = limg_store_meta_image(m, id);
		GPtrArray *parts;

		if (!im)
			return NULL;
		parts = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; i < im->layers->len; i++)
			g_ptr_array_add(parts, g_strdup(((LimgMetaLayer *)im->layers->pdata[i])->id));
		return stack_info(name, parts, NULL);
	} else {
		LimgMetaContainer *c = limg_store_meta_container(m, id);
		GPtrArray *parts;

		if (!c)
			return NULL;
		/* The image's flattened root, then what the container adds. */
		parts = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(parts, g_strdup_printf(STACK_IMAGES "%s" STACK_ROOTFS, c->image->id));
		if (c->init)
			g_ptr_array_add(parts, g_strdup(c->init->id));
		return stack_info(name, parts, c->files_dir);
	}
}

GPtrArray *
limg_store_stacks(LimgStore *s)
{
	g_autoptr(LimgStoreMeta) m = limg_store_meta(s);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < s->explicit->len; i++) {
		const LimgLayerInfo *e = s->explicit->pdata[i];

		if (e->kind == LIMG_LAYER_STACK)
			g_ptr_array_add(out, g_strdup(e->id));
	}
	if (!m)
		return out;
	for (guint i = 0; i < m->images->len; i++)
		g_ptr_array_add(out, g_strdup_printf(STACK_IMAGES "%s" STACK_ROOTFS,
		                                     ((LimgMetaImage *)m->images->pdata[i])->id));
	for (guint i = 0; i < m->containers->len; i++)
		g_ptr_array_add(out, g_strdup_printf(STACK_CONTAINERS "%s" STACK_ROOTFS,
		                                     ((LimgMetaContainer *)m->containers->pdata[i])->id));
	return out;
}

/* ------------------------------------------------------------ list, lookup */

GPtrArray *
limg_store_list(LimgStore *s)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)limg_layer_info_free);

	for (guint i = 0; i < s->explicit->len; i++) {
		const LimgLayerInfo *e = s->explicit->pdata[i];
		LimgLayerInfo *li = e->kind != LIMG_LAYER_STACK ? explicit_info(e) : NULL;

		if (li)
			g_ptr_array_add(out, li);
	}
	if (s->dir_fd >= 0) {
		const LimgStoreBackend *b = backend_now(s);
		g_autoptr(LimgStoreMeta) m = meta_now(s, b);

		if (m) {
			GHashTableIter it;
			gpointer v;

			g_hash_table_iter_init(&it, m->layers);
			while (g_hash_table_iter_next(&it, NULL, &v)) {
				LimgLayerInfo *li;

				if (explicit_find(s, ((LimgMetaLayer *)v)->id))
					continue;
				li = meta_layer_info(s, v);
				if (li)
					g_ptr_array_add(out, li);
			}
		} else {
			b->list(s->source, s->dir_fd, out, taken_by_explicit, s);
		}
	}
	g_ptr_array_sort(out, cmp_info);
	return out;
}

LimgLayerInfo *
limg_store_lookup(LimgStore *s, const char *id)
{
	const LimgStoreBackend *b;
	const LimgLayerInfo *e;
	g_autoptr(LimgStoreMeta) m = NULL;

	if (s->dir_fd >= 0 && (g_str_has_prefix(id, STACK_IMAGES) ||
	                       g_str_has_prefix(id, STACK_CONTAINERS))) {
		m = limg_store_meta(s);
		return m ? stack_lookup(m, id) : NULL;
	}
	if (!limg_store_valid_name(id))
		return NULL;
	e = explicit_find(s, id);
	if (e)
		return explicit_info(e);
	if (s->dir_fd < 0)
		return NULL;
	b = backend_now(s);
	m = meta_now(s, b);
	if (m) {
		LimgMetaLayer *ml = g_hash_table_lookup(m->layers, id);

		return ml ? meta_layer_info(s, ml) : NULL;
	}
	return b->lookup(s->source, s->dir_fd, id);
}

/* ------------------------------------------------------------ backends */

static GMutex refused_lock;
static GHashTable *refused;     /* "<source>/<path>" we logged as refused */

static void
refuse_once(const char *source, const char *path, const char *why)
{
	g_autofree char *key = g_build_filename(source, path, NULL);
	bool fresh;

	g_mutex_lock(&refused_lock);
	if (!refused)
		refused = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fresh = !g_hash_table_contains(refused, key);
	if (fresh)
		g_hash_table_add(refused, g_strdup(key));
	g_mutex_unlock(&refused_lock);
	if (fresh)
		limg_log(LIMG_LOG_WARN, "%s: %s; not served as a layer", key, why);
}

int
limg_store_stat_dir(const char *source, int dir_fd, const char *path, struct stat *st)
{
	if (fstatat(dir_fd, path, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISLNK(st->st_mode)) {
		refuse_once(source, path, "a symlink, not a directory");
		return -ELOOP;
	}
	return S_ISDIR(st->st_mode) ? 0 : -ENOTDIR;
}

int
limg_store_stat_blob(const char *source, int dir_fd, const char *rel, struct stat *st)
{
	int ret = *rel ? fstatat(dir_fd, rel, st, AT_SYMLINK_NOFOLLOW) : stat(source, st);

	if (ret < 0)
		return -errno;
	if (S_ISLNK(st->st_mode)) {
		refuse_once(source, rel, "a symlink, not a regular file");
		return -ELOOP;
	}
	if (!S_ISREG(st->st_mode)) {
		refuse_once(source, rel, "not a regular file");
		return -EINVAL;
	}
	return 0;
}

LimgLayerInfo *
limg_store_dir_layer(const char *source, const char *id, const char *rel, const struct stat *st)
{
	LimgLayerInfo *li = g_new0(LimgLayerInfo, 1);

	li->kind = LIMG_LAYER_DIR;
	li->id = g_strdup(id);
	li->root = g_strdup(source);
	li->rel = g_strdup(rel);
	li->dev = st->st_dev;
	li->ino = st->st_ino;
	li->mtime = st->st_mtim.tv_sec;
	li->complete = true;
	li->settle = true;
	return li;
}
