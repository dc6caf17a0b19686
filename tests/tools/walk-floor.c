#include <config.h>
/*
 * walk-floor - the floor of a layout walk, for scripts/bench-layout: the
 * least work any program must do to learn a tree's metadata.
 *
 * Usage: walk-floor [-x] DIR
 *
 * readdir() every directory, fstatat(AT_SYMLINK_NOFOLLOW) every entry,
 * openat(O_NOFOLLOW) every subdirectory, one thread; with -x also list
 * every entry's xattrs (listxattrat, Linux 6.13+, else llistxattr through
 * /proc/self/fd), the floor of a walk that carries xattrs. Nothing is
 * read but metadata. The caller times the whole process.
 *
 * Prints "entries: N" (the root included, as fuse-layerimg counts) and
 * "errors: N" (entries that could not be stat'ed or opened). Exit status
 * 0, 1 if DIR cannot be opened, 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif

static unsigned long count, errors;
static int xattrs, have_listxattrat = 1;
static char xbuf[65536];

static void
list_xattrs(int dfd, const char *name)
{
	char path[64 + 256];

	if (have_listxattrat) {
		if (syscall(SYS_listxattrat, dfd, name, AT_SYMLINK_NOFOLLOW, xbuf,
			    sizeof(xbuf)) >= 0 || errno != ENOSYS)
			return;
		have_listxattrat = 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	(void)llistxattr(path, xbuf, sizeof(xbuf));
}

/* Walk the directory open as FD; closes FD. */
static void
walk(int fd)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		close(fd);
		errors++;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		struct stat st;

		if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)))
			continue;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			errors++;
			continue;
		}
		count++;
		if (xattrs)
			list_xattrs(dirfd(d), n);
		if (S_ISDIR(st.st_mode)) {
			int c = openat(dirfd(d), n,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (c < 0)
				errors++;
			else
				walk(c);
		}
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	const char *dir;
	int fd;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		puts("usage: walk-floor [-x] DIR\n"
		     "readdir + fstatat every entry of DIR (with -x: + listxattr);\n"
		     "prints the entry and error counts.");
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "-x") == 0) {
		xattrs = 1;
		dir = argv[2];
	} else if (argc == 2 && argv[1][0] != '-') {
		dir = argv[1];
	} else {
		fprintf(stderr, "usage: walk-floor [-x] DIR\n");
		return 2;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "walk-floor: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	count = 1;   /* the root, as fuse-layerimg counts it */
	walk(fd);
	printf("entries: %lu\nerrors: %lu\n", count, errors);
	return 0;
}
