/*
 * store-plain.c - a directory of layer directories, each served as it is.
 */
#include <config.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/store-internal.h"

static bool
plain_detect(int dir_fd)
{
	return true;
}

static LimgLayerInfo *
plain_lookup(const char *source, int dir_fd, const char *id)
{
	struct stat st;

	if (limg_store_stat_dir(source, dir_fd, id, &st) < 0)
		return NULL;
	return limg_store_dir_layer(source, id, id, &st);
}

static void
plain_list(const char *source, int dir_fd, GPtrArray *out,
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
		li = plain_lookup(source, dir_fd, de->d_name);
		if (li)
			g_ptr_array_add(out, li);
	}
	closedir(d);
}

const LimgStoreBackend limg_store_plain = {
	.name = "plain",
	.detect = plain_detect,
	.list = plain_list,
	.lookup = plain_lookup,
};
