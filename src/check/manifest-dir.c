/*
 * manifest-dir.c - the expected manifest: a plain walk of a directory.
 *
 * Deliberately independent of src/source: a recursive openat()/fstatat()
 * walk relative to each directory's fd (so paths of any length and depth
 * work), lstat semantics everywhere, symlinks read with readlinkat() and
 * never followed, only regular files opened (O_NOFOLLOW | O_NONBLOCK, then
 * re-checked with fstat against the lstat result), FIFOs, sockets and
 * devices never opened.
 *
 * Hard links: every non-directory with st_nlink > 1 gets the link key
 * "dev:ino"; limg_manifest_group_links() then keeps only keys shared by
 * two or more entries, i.e. links inside the tree.
 *
 * xattrs are read through /proc/self/fd/DIRFD/NAME with the l*xattr calls,
 * which works for every file type (including symlinks and devices) without
 * opening the file and without long paths.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib.h>

#include "check/manifest.h"
#include "util/sha256.h"

#define READ_CHUNK (1024 * 1024)

typedef struct {
	LimgManifest *m;
	LimgManifestFlags flags;
	const char *top;	/* the directory given by the user, for messages */
	guchar *buf;		/* READ_CHUNK bytes */
} Walk;

static gboolean set_errno_error(GError **error, int err, const Walk *w,
				const char *rel, const char *what)
{
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
		    "%s%s%s: %s%s%s", w->top,
		    strcmp(rel, ".") ? "/" : "", strcmp(rel, ".") ? rel : "",
		    what ? what : "", what ? ": " : "", g_strerror(err));
	return FALSE;
}

static LimgEntryType type_of(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return LIMG_ENTRY_DIR;
	case S_IFLNK:
		return LIMG_ENTRY_SYMLINK;
	case S_IFCHR:
		return LIMG_ENTRY_CHR;
	case S_IFBLK:
		return LIMG_ENTRY_BLK;
	case S_IFIFO:
		return LIMG_ENTRY_FIFO;
	case S_IFSOCK:
		return LIMG_ENTRY_SOCK;
	default:
		return LIMG_ENTRY_REG;
	}
}

/* Hash the regular file @name in @dirfd; @st is its lstat. */
static gboolean hash_file(Walk *w, int dirfd, const char *name,
			  const char *rel, const struct stat *st,
			  LimgManifestEntry *e, GError **error)
{
	g_auto(LimgSha256) sum = { 0 };
	struct stat fst;
	guint64 total = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return set_errno_error(error, errno, w, rel, "open");
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) ||
	    fst.st_ino != st->st_ino || fst.st_dev != st->st_dev) {
		close(fd);
		return set_errno_error(error, EAGAIN, w, rel,
				       "changed during the walk");
	}
	limg_sha256_begin(&sum);
	for (;;) {
		ssize_t n = read(fd, w->buf, READ_CHUNK);

		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			close(fd);
			return set_errno_error(error, err, w, rel, "read");
		}
		if (n == 0)
			break;
		limg_sha256_update(&sum, w->buf, n);
		total += (guint64)n;
	}
	close(fd);
	/* Size from the bytes actually hashed, so a change shows up. */
	e->size = total;
	e->sha256 = limg_sha256_hex(&sum);
	return TRUE;
}

static gboolean read_target(Walk *w, int dirfd, const char *name,
			    const char *rel, LimgManifestEntry *e,
			    GError **error)
{
	gsize cap = 256;

	for (;;) {
		g_autofree char *buf = g_malloc(cap);
		ssize_t n = readlinkat(dirfd, name, buf, cap);

		if (n < 0)
			return set_errno_error(error, errno, w, rel, "readlink");
		if ((gsize)n < cap) {
			buf[n] = '\0';
			e->target = g_steal_pointer(&buf);
			return TRUE;
		}
		cap *= 2;
	}
}

static gboolean read_xattrs(Walk *w, int dirfd, const char *name,
			    const char *rel, LimgManifestEntry *e,
			    GError **error)
{
	g_autofree char *proc = NULL;
	g_autofree char *list = NULL;
	ssize_t len;

	if (strcmp(rel, ".") == 0)
		proc = g_strdup_printf("/proc/self/fd/%d/.", dirfd);
	else
		proc = g_strdup_printf("/proc/self/fd/%d/%s", dirfd, name);

	for (;;) {
		len = llistxattr(proc, NULL, 0);
		if (len < 0 && (errno == ENOTSUP || errno == ENOSYS))
			return TRUE;
		if (len < 0)
			return set_errno_error(error, errno, w, rel, "llistxattr");
		if (len == 0)
			return TRUE;
		g_free(list);
		list = g_malloc(len);
		len = llistxattr(proc, list, len);
		if (len >= 0)
			break;
		if (errno != ERANGE)
			return set_errno_error(error, errno, w, rel, "llistxattr");
	}
	for (ssize_t off = 0; off < len; off += strlen(list + off) + 1) {
		const char *xname = list + off;
		g_autofree char *val = NULL;
		ssize_t vlen;

		for (;;) {
			vlen = lgetxattr(proc, xname, NULL, 0);
			if (vlen < 0 && errno == ENODATA)
				break;
			if (vlen < 0)
				return set_errno_error(error, errno, w, rel,
						       "lgetxattr");
			g_free(val);
			val = g_malloc(vlen + 1);
			vlen = lgetxattr(proc, xname, val, vlen);
			if (vlen >= 0)
				break;
			if (errno != ERANGE)
				return set_errno_error(error, errno, w, rel,
						       "lgetxattr");
		}
		if (vlen >= 0)
			limg_manifest_entry_add_xattr(e, xname, val, vlen);
	}
	return TRUE;
}

/* Fill @e from @st; @dirfd/@name locate the node (for the root: ".") */
static gboolean visit(Walk *w, int dirfd, const char *name, const char *rel,
		      const struct stat *st, LimgManifestEntry *e,
		      GError **error)
{
	e->perm = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime = st->st_mtim.tv_sec;

	switch (e->type) {
	case LIMG_ENTRY_REG:
		if (!hash_file(w, dirfd, name, rel, st, e, error))
			return FALSE;
		break;
	case LIMG_ENTRY_SYMLINK:
		if (!read_target(w, dirfd, name, rel, e, error))
			return FALSE;
		break;
	case LIMG_ENTRY_CHR:
	case LIMG_ENTRY_BLK:
		e->rdev_major = major(st->st_rdev);
		e->rdev_minor = minor(st->st_rdev);
		break;
	default:
		break;
	}
	if (e->type != LIMG_ENTRY_DIR && st->st_nlink > 1)
		e->link_key = g_strdup_printf("%ju:%ju", (uintmax_t)st->st_dev,
					      (uintmax_t)st->st_ino);
	if (w->flags & LIMG_MANIFEST_XATTRS) {
		if (!read_xattrs(w, dirfd, name, rel, e, error))
			return FALSE;
	}
	return TRUE;
}

/* Walk the open directory @fd, whose path is @rel ("." for the top). */
static gboolean walk_dir(Walk *w, int fd, const char *rel, GError **error)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	struct dirent *de;
	DIR *d;
	int dupfd;

	dupfd = dup(fd);
	if (dupfd < 0)
		return set_errno_error(error, errno, w, rel, "dup");
	d = fdopendir(dupfd);
	if (!d) {
		close(dupfd);
		return set_errno_error(error, errno, w, rel, "opendir");
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		g_ptr_array_add(names, g_strdup(de->d_name));
	}
	if (errno) {
		int err = errno;

		closedir(d);
		return set_errno_error(error, err, w, rel, "readdir");
	}
	closedir(d);

	for (guint i = 0; i < names->len; i++) {
		const char *name = names->pdata[i];
		g_autofree char *crel = strcmp(rel, ".") == 0 ?
			g_strdup(name) : g_strconcat(rel, "/", name, NULL);
		LimgManifestEntry *e;
		struct stat st;

		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return set_errno_error(error, errno, w, crel, "lstat");
		e = limg_manifest_add(w->m, crel, type_of(st.st_mode));
		if (!visit(w, fd, name, crel, &st, e, error))
			return FALSE;
		if (e->type == LIMG_ENTRY_DIR) {
			gboolean ok;
			int cfd = openat(fd, name, O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);

			if (cfd < 0)
				return set_errno_error(error, errno, w, crel,
						       "open");
			ok = walk_dir(w, cfd, crel, error);
			close(cfd);
			if (!ok)
				return FALSE;
		}
	}
	return TRUE;
}

LimgManifest *limg_manifest_from_dir(const char *dir, LimgManifestFlags flags,
				     GError **error)
{
	g_autoptr(LimgManifest) m = limg_manifest_new();
	g_autofree guchar *buf = g_malloc(READ_CHUNK);
	Walk w = { m, flags, dir, buf };
	LimgManifestEntry *root;
	struct stat st;
	gboolean ok;
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		set_errno_error(error, errno, &w, ".", NULL);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		set_errno_error(error, errno, &w, ".", "stat");
		close(fd);
		return NULL;
	}
	m->has_xattrs = (flags & LIMG_MANIFEST_XATTRS) != 0;
	root = limg_manifest_add(m, ".", LIMG_ENTRY_DIR);
	ok = visit(&w, fd, ".", ".", &st, root, error) &&
		walk_dir(&w, fd, ".", error);
	close(fd);
	if (!ok)
		return NULL;
	if (flags & LIMG_MANIFEST_LAYER)
		limg_manifest_apply_layer_rule(m);
	limg_manifest_group_links(m);
	return g_steal_pointer(&m);
}
