/*
 * store.c - the layer store: explicit layers, the backend choice and the
 * backends' registry; see store.h.
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

static const LimgStoreBackend *const backends[] = {
	&limg_store_plain,
	&limg_store_overlay2,
};

struct LimgStore {
	char *source;           /* canonical; NULL: explicit layers only */
	int dir_fd;             /* SOURCE, or -1 */
	bool automatic;         /* backend chosen by detect(), re-checked */
	GPtrArray *explicit;    /* LimgLayerInfo * (id, root only) */
	GMutex lock;
	/* protected by lock */
	const LimgStoreBackend *backend;
	gint64 detected_us;
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
	/* overlay2 first: an overlay2 directory is also a directory of dirs. */
	if (limg_store_overlay2.detect(dir_fd))
		return &limg_store_overlay2;
	return &limg_store_plain;
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
		for (guint i = 0; i < G_N_ELEMENTS(backends); i++) {
			if (strcmp(backends[i]->name, kind) == 0)
				s->backend = backends[i];
		}
		if (!s->backend) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			            "store=%s: expected auto, plain or overlay2", kind);
			return NULL;
		}
	}
	if (source) {
		s->dir_fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->dir_fd < 0) {
			int err = errno;

			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s",
			            source, err == ENOTDIR ? "not a directory" : g_strerror(err));
			return NULL;
		}
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
	return s->source;
}

/* The backend to use now (auto: looked at again at most once a second). */
static const LimgStoreBackend *
backend_now(LimgStore *s)
{
	const LimgStoreBackend *b;
	gint64 now;

	g_mutex_lock(&s->lock);
	b = s->backend;
	now = g_get_monotonic_time();
	if (s->automatic && s->dir_fd >= 0 && now - s->detected_us >= AUTO_TTL_US) {
		g_mutex_unlock(&s->lock);
		b = detect(s->dir_fd);
		g_mutex_lock(&s->lock);
		if (s->backend != b)
			limg_log(LIMG_LOG_INFO, "%s: now read as a%s %s store", s->source,
			         b == &limg_store_overlay2 ? "n" : "", b->name);
		s->backend = b;
		s->detected_us = now;
	}
	g_mutex_unlock(&s->lock);
	return b;
}

const char *
limg_store_kind(LimgStore *s)
{
	const LimgStoreBackend *b = backend_now(s);

	return b ? b->name : "none";
}

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

/* A fresh record of explicit layer @e, or NULL if its directory is gone. */
static LimgLayerInfo *
explicit_info(const LimgLayerInfo *e)
{
	LimgLayerInfo *li;
	struct stat st;

	if (stat(e->root, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	li = g_new0(LimgLayerInfo, 1);
	li->kind = LIMG_LAYER_DIR;
	li->id = g_strdup(e->id);
	li->root = g_strdup(e->root);
	li->rel = g_strdup("");
	li->dev = st.st_dev;
	li->ino = st.st_ino;
	li->mtime = st.st_mtim.tv_sec;
	li->complete = true;
	li->settle = true;
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
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR, "%s is not a directory", path);
		return FALSE;
	}
	if (explicit_find(s, name)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "layer '%s' given twice", name);
		return FALSE;
	}
	li = g_new0(LimgLayerInfo, 1);
	li->id = g_strdup(name);
	li->root = g_canonicalize_filename(path, NULL);
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

GPtrArray *
limg_store_list(LimgStore *s)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)limg_layer_info_free);

	for (guint i = 0; i < s->explicit->len; i++) {
		LimgLayerInfo *li = explicit_info(s->explicit->pdata[i]);

		if (li)
			g_ptr_array_add(out, li);
	}
	if (s->dir_fd >= 0)
		backend_now(s)->list(s->source, s->dir_fd, out, taken_by_explicit, s);
	g_ptr_array_sort(out, cmp_info);
	return out;
}

LimgLayerInfo *
limg_store_lookup(LimgStore *s, const char *id)
{
	const LimgLayerInfo *e;

	if (!limg_store_valid_name(id))
		return NULL;
	e = explicit_find(s, id);
	if (e)
		return explicit_info(e);
	if (s->dir_fd < 0)
		return NULL;
	return backend_now(s)->lookup(s->source, s->dir_fd, id);
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
