/*
 * fixtures.c - scratch directories and files for the unit tests; see
 * testlib.h.
 */
#include <config.h>

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "lib/testlib.h"

char *
th_tmpdir(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp("limg-unit-XXXXXX", &error);

	cr_assert(dir != NULL, "cannot make a scratch directory: %s", error ? error->message : "");
	return dir;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void
th_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

void
th_mkdir(const char *dir, const char *rel)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);

	cr_assert_eq(g_mkdir_with_parents(path, 0755), 0, "mkdir %s: %s", path, g_strerror(errno));
}

void
th_write(const char *dir, const char *rel, const void *data, size_t len)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(path);
	g_autoptr(GError) error = NULL;

	cr_assert_eq(g_mkdir_with_parents(parent, 0755), 0, "mkdir %s", parent);
	cr_assert(g_file_set_contents(path, data, (gssize)len, &error), "write %s: %s", path,
	          error ? error->message : "");
}

void
th_write_text(const char *dir, const char *rel, const char *text)
{
	th_write(dir, rel, text, strlen(text));
}

void
th_touch(const char *dir, const char *rel, int64_t mtime)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	struct timespec ts[2] = { { (time_t)mtime, 0 }, { (time_t)mtime, 0 } };

	cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0, "touch %s", path);
}
