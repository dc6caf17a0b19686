/*
 * store-overlay2.c - Docker's overlay2 directory: a layer is <id>/diff;
 * <id>/link (the short name in l/) is written last, so a layer without it
 * is still being extracted.
 */
#include <config.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/store-internal.h"

/* overlay2 if SOURCE has l/ (Docker makes it first) or any <dir>/diff. */
static bool
overlay2_detect(int dir_fd)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	bool found = false;
	struct stat st;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (!found && (de = readdir(d)) != NULL) {
		g_autofree char *diff = NULL;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, "l") == 0) {
			found = fstatat(dir_fd, "l", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			        S_ISDIR(st.st_mode);
			continue;
		}
		diff = g_build_filename(de->d_name, "diff", NULL);
		found = fstatat(dir_fd, diff, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
	}
	closedir(d);
	return found;
}

static LimgLayerInfo *
overlay2_lookup(const char *source, int dir_fd, const char *id)
{
	g_autofree char *diff = g_build_filename(id, "diff", NULL);
	g_autofree char *link = g_build_filename(id, "link", NULL);
	LimgLayerInfo *li;
	struct stat st;

	if (strcmp(id, "l") == 0)
		return NULL;
	if (limg_store_stat_dir(source, dir_fd, id, &st) < 0 ||
	    limg_store_stat_dir(source, dir_fd, diff, &st) < 0)
		return NULL;
	li = limg_store_dir_layer(source, id, diff, &st);
	li->complete = faccessat(dir_fd, link, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	return li;
}

static void
overlay2_list(const char *source, int dir_fd, GPtrArray *out,
              bool (*skip)(const char *name, void *ctx), void *ctx)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		LimgLayerInfo *li;

		if (!limg_store_valid_name(de->d_name) || skip(de->d_name, ctx))
			continue;
		li = overlay2_lookup(source, dir_fd, de->d_name);
		if (li)
			g_ptr_array_add(out, li);
	}
	closedir(d);
}

const LimgStoreBackend limg_store_overlay2 = {
	.name = "overlay2",
	.detect = overlay2_detect,
	.list = overlay2_list,
	.lookup = overlay2_lookup,
};
