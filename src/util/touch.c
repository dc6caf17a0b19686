/*
 * touch.c - "last used" times of cache files; see touch.h.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "util/touch.h"

/* Set the mtime, leave the atime (utimensat(2): allowed to the owner and to writers). */
static const struct timespec mtime_now[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };

/* Is @st's mtime LIMG_TOUCH_SEC or more away from now (a clock may have jumped back)? */
static bool
touch_due(const struct stat *st)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gint64 m = st->st_mtim.tv_sec;

	return now - m >= LIMG_TOUCH_SEC || m - now >= LIMG_TOUCH_SEC;
}

int
limg_touch(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (!touch_due(&st))
		return 0;
	return futimens(fd, mtime_now) < 0 ? -errno : 0;
}

int
limg_touch_path(const char *dir, const char *name)
{
	g_autofree char *path = NULL;
	struct stat st;

	if (!*name || strchr(name, '/'))
		return -EINVAL;
	path = g_build_filename(dir, name, NULL);
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (!touch_due(&st))
		return 0;
	return utimensat(AT_FDCWD, path, mtime_now, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}
