/*
 * store.c - layers of a plain or overlay2 layer store; see store.h.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

struct LimgStore {
	char *source;           /* NULL: explicit layers only */
	GPtrArray *explicit;    /* LimgLayerInfo * (path and name only) */
	GMutex lock;
	/* protected by lock: is SOURCE an overlay2 store, as of when */
	gboolean overlay;
	gint64 overlay_checked_us;
};

/* How long a look at SOURCE decides whether it is an overlay2 store. */
#define OVERLAY_TTL_US (1000 * 1000)

void
limg_layer_info_free(LimgLayerInfo *li)
{
	if (!li)
		return;
	g_free(li->name);
	g_free(li->path);
	g_free(li);
}

LimgStore *
limg_store_new(const char *source, GError **error)
{
	LimgStore *s = g_new0(LimgStore, 1);

	s->explicit = g_ptr_array_new_with_free_func((GDestroyNotify)limg_layer_info_free);
	g_mutex_init(&s->lock);
	if (source) {
		struct stat st;

		if (stat(source, &st) < 0) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			            "%s: %s", source, g_strerror(errno));
			limg_store_free(s);
			return NULL;
		}
		if (!S_ISDIR(st.st_mode)) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
			            "%s: not a directory", source);
			limg_store_free(s);
			return NULL;
		}
		s->source = g_canonicalize_filename(source, NULL);
	}
	return s;
}

void
limg_store_free(LimgStore *s)
{
	if (!s)
		return;
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

static gboolean
valid_name(const char *name)
{
	return name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 250;
}

gboolean
limg_store_add_spec(LimgStore *s, const char *spec, GError **error)
{
	const char *colon = strchr(spec, ':');
	g_autofree char *name = NULL;
	LimgLayerInfo *li;
	struct stat st;

	if (!colon || colon == spec || !colon[1]) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "layer=%s: expected layer=NAME:PATH", spec);
		return FALSE;
	}
	name = g_strndup(spec, (gsize)(colon - spec));
	if (!valid_name(name)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "layer=%s: '%s' is not a usable name (no '/', no leading '.')",
		            spec, name);
		return FALSE;
	}
	if (stat(colon + 1, &st) < 0 || !S_ISDIR(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
		            "layer=%s: %s is not a directory", spec, colon + 1);
		return FALSE;
	}
	for (guint i = 0; i < s->explicit->len; i++) {
		if (strcmp(((LimgLayerInfo *)s->explicit->pdata[i])->name, name) == 0) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			            "layer=%s: layer '%s' given twice", spec, name);
			return FALSE;
		}
	}
	li = g_new0(LimgLayerInfo, 1);
	li->name = g_steal_pointer(&name);
	li->path = g_canonicalize_filename(colon + 1, NULL);
	g_ptr_array_add(s->explicit, li);
	return TRUE;
}

static LimgLayerInfo *
info_for(const char *name, const char *path)
{
	LimgLayerInfo *li;
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	li = g_new0(LimgLayerInfo, 1);
	li->name = g_strdup(name);
	li->path = g_strdup(path);
	li->dev = st.st_dev;
	li->ino = st.st_ino;
	li->mtime = st.st_mtim.tv_sec;
	return li;
}

static gint
cmp_info(gconstpointer a, gconstpointer b)
{
	const LimgLayerInfo *x = *(LimgLayerInfo *const *)a, *y = *(LimgLayerInfo *const *)b;

	return strcmp(x->name, y->name);
}

GPtrArray *
limg_store_list(LimgStore *s)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)limg_layer_info_free);
	g_autoptr(GPtrArray) plain = g_ptr_array_new_with_free_func(g_free);
	gboolean overlay = FALSE;

	for (guint i = 0; i < s->explicit->len; i++) {
		const LimgLayerInfo *e = s->explicit->pdata[i];
		LimgLayerInfo *li = info_for(e->name, e->path);

		if (li)
			g_ptr_array_add(out, li);
	}
	if (s->source) {
		DIR *d = opendir(s->source);
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL) {
			g_autofree char *dir = NULL, *diff = NULL;
			LimgLayerInfo *li;
			struct stat st;

			if (!valid_name(de->d_name) || limg_store_lookup_explicit_name(s, de->d_name))
				continue;
			dir = g_build_filename(s->source, de->d_name, NULL);
			if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			diff = g_build_filename(dir, "diff", NULL);
			li = info_for(de->d_name, diff);
			if (li) {
				overlay = TRUE;
				g_ptr_array_add(out, li);
			} else {
				g_ptr_array_add(plain, g_strdup(de->d_name));
			}
		}
		if (d)
			closedir(d);
		g_mutex_lock(&s->lock);
		s->overlay = overlay;
		s->overlay_checked_us = g_get_monotonic_time();
		g_mutex_unlock(&s->lock);
		if (!overlay) {
			for (guint i = 0; i < plain->len; i++) {
				g_autofree char *dir = g_build_filename(s->source, plain->pdata[i], NULL);
				LimgLayerInfo *li = info_for(plain->pdata[i], dir);

				if (li)
					g_ptr_array_add(out, li);
			}
		}
	}
	g_ptr_array_sort(out, cmp_info);
	return out;
}

gboolean
limg_store_lookup_explicit_name(const LimgStore *s, const char *name)
{
	for (guint i = 0; i < s->explicit->len; i++) {
		if (strcmp(((LimgLayerInfo *)s->explicit->pdata[i])->name, name) == 0)
			return TRUE;
	}
	return FALSE;
}

LimgLayerInfo *
limg_store_lookup(LimgStore *s, const char *name)
{
	g_autofree char *dir = NULL, *diff = NULL;
	LimgLayerInfo *li;
	struct stat st;

	if (!valid_name(name))
		return NULL;
	for (guint i = 0; i < s->explicit->len; i++) {
		const LimgLayerInfo *e = s->explicit->pdata[i];

		if (strcmp(e->name, name) == 0)
			return info_for(e->name, e->path);
	}
	if (!s->source)
		return NULL;
	dir = g_build_filename(s->source, name, NULL);
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	diff = g_build_filename(dir, "diff", NULL);
	li = info_for(name, diff);
	if (li)
		return li;
	/*
	 * A plain directory is a layer only in a store without overlay2
	 * layers. Whether SOURCE is one is decided by a full look at most
	 * once a second, not at every lookup (stores hold hundreds of layers).
	 */
	{
		gboolean overlay, fresh;

		g_mutex_lock(&s->lock);
		overlay = s->overlay;
		fresh = s->overlay_checked_us &&
		        g_get_monotonic_time() - s->overlay_checked_us < OVERLAY_TTL_US;
		g_mutex_unlock(&s->lock);
		if (!fresh) {
			g_autoptr(GPtrArray) all = limg_store_list(s);   /* refreshes the flag */

			g_mutex_lock(&s->lock);
			overlay = s->overlay;
			g_mutex_unlock(&s->lock);
		}
		return overlay ? NULL : info_for(name, dir);
	}
}

gboolean
limg_store_layer_complete(const LimgStore *s, const LimgLayerInfo *li)
{
	g_autofree char *base = NULL, *link = NULL;

	if (!g_str_has_suffix(li->path, "/diff") || limg_store_lookup_explicit_name(s, li->name))
		return TRUE;
	base = g_path_get_dirname(li->path);
	link = g_build_filename(base, "link", NULL);
	return access(link, F_OK) == 0;
}
