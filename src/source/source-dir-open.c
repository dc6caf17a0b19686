/*
 * source-dir-open.c - the directory source object (source.h): safe
 * opening of a layer directory and of its files' contents, the
 * parent-directory memo, and verification of a cached tree.
 *
 * Files are read in node order, so siblings come together: the source
 * keeps the parent directories of the last files opened and opens each
 * file as one O_NOFOLLOW component of one, instead of resolving its
 * whole path each time. The memo holds a few directories, least
 * recently used out, because the kernel's readahead has several worker
 * threads read neighbouring parts of an image at once (with one entry
 * they took it from each other: 2,980 directory opens in one first read
 * of a minbase image, 503 single-threaded). Entries are refcounted fds:
 * the lock only guards the table, every open runs outside it.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include <glib.h>

#include "source/source-dir-internal.h"
#include "source/source-internal.h"

/* A directory of a recent file open: one fd, shared by readers. */
typedef struct {
	gint refs;
	int fd;
	uint32_t node;
} DirRef;

/* Directories kept per source (and so per generation: fds, not memory). */
#define MEMO_DIRS 4

typedef struct {
	LimgSource base;
	int root_fd;
	char *key;              /* "<root>/<rel>": the disk cache key */
	GMutex lock;
	/* protected by lock */
	DirRef *memo[MEMO_DIRS];
	uint64_t memo_used[MEMO_DIRS];  /* clock of the last use; 0: empty */
	uint64_t clock;
} DirSource;

#define DIR_SOURCE(s) ((DirSource *)(s))

/*
 * Open @path beneath @root_fd without following any symlink, the last
 * component with O_NOFOLLOW | O_NONBLOCK (a FIFO swapped in cannot hang
 * us) plus @extra. An fd or -errno.
 */
static int
open_beneath(int root_fd, const char *path, int extra)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | extra;
#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
		           RESOLVE_NO_XDEV,
	};
	int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

	/*
	 * Paths over PATH_MAX (deep layers with long names are legal) and
	 * kernels without openat2 take the component walk below.
	 */
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM && errno != ENAMETOOLONG))
		return fd < 0 ? -errno : fd;
#endif
	/* Fallback: one component at a time, never following a symlink. */
	{
		g_autofree char *copy = g_strdup(path);
		char *save = NULL, *comp = strtok_r(copy, "/", &save);
		int dir = dup(root_fd);

		if (dir < 0)
			return -errno;
		while (comp) {
			char *next = strtok_r(NULL, "/", &save);
			int nfd;

			if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0) {
				close(dir);
				return -EXDEV;
			}
			nfd = openat(dir, comp, next ? (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			                             : flags);
			close(dir);
			if (nfd < 0)
				return -errno;
			dir = nfd;
			comp = next;
		}
		return dir;
	}
}

/* Errors of a path open that mean "not what was scanned any more". */
static int
stale_errno(int err)
{
	return err == -ELOOP || err == -EXDEV || err == -ENOENT || err == -ENOTDIR ? -ESTALE : err;
}

/* Open directory node @node beneath @root_fd, checked to be the one scanned. */
static int
open_dir_node(int root_fd, const LimgTree *tree, uint32_t node)
{
	const LimgNode *n = &tree->nodes[node];
	struct stat st;
	int fd;

	if (node == 0) {
		fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	} else {
		g_autofree char *path = limg_tree_path(tree, node);

		fd = open_beneath(root_fd, path, O_DIRECTORY);
		if (fd < 0)
			return stale_errno(fd);
	}
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_ino != n->ino ||
	    st.st_dev != n->dev) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static void
dir_ref_unref(DirRef *d)
{
	if (d && g_atomic_int_dec_and_test(&d->refs)) {
		close(d->fd);
		g_free(d);
	}
}

/* A reference to an fd of directory node @node, from the memo or opened. */
static int
parent_dir(DirSource *s, const LimgTree *tree, uint32_t node, DirRef **out)
{
	DirRef *d = NULL, *old = NULL;
	unsigned victim = 0;
	int fd;

	g_mutex_lock(&s->lock);
	for (unsigned i = 0; i < MEMO_DIRS; i++) {
		if (s->memo[i] && s->memo[i]->node == node) {
			d = s->memo[i];
			g_atomic_int_inc(&d->refs);
			s->memo_used[i] = ++s->clock;
			break;
		}
	}
	g_mutex_unlock(&s->lock);
	if (d) {
		*out = d;
		return 0;
	}
	fd = open_dir_node(s->root_fd, tree, node);
	if (fd < 0)
		return fd;
	d = g_new(DirRef, 1);
	d->refs = 2;            /* the memo's and the caller's */
	d->fd = fd;
	d->node = node;
	g_mutex_lock(&s->lock);
	for (unsigned i = 1; i < MEMO_DIRS; i++) {
		if (s->memo_used[i] < s->memo_used[victim])
			victim = i;
	}
	old = s->memo[victim];
	s->memo[victim] = d;
	s->memo_used[victim] = ++s->clock;
	g_mutex_unlock(&s->lock);
	dir_ref_unref(old);
	*out = d;
	return 0;
}

static int
dir_open(LimgSource *src, const LimgTree *tree, uint32_t node, LimgContent *out)
{
	DirSource *s = DIR_SOURCE(src);
	const LimgNode *n;
	DirRef *d;
	int fd, ret;

	g_return_val_if_fail(node < tree->n_nodes, -EINVAL);
	n = &tree->nodes[node];
	if (!S_ISREG(n->mode))
		return -EINVAL;
	ret = parent_dir(s, tree, n->parent, &d);
	if (ret < 0)
		return ret;
	fd = openat(d->fd, limg_tree_name(tree, n),
	            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	dir_ref_unref(d);
	fd = limg_source_verify_open(fd < 0 ? -errno : fd, n);
	if (fd < 0)
		return fd;
	out->fd = fd;
	out->base = 0;
	out->owned = true;
	return 0;
}

static int
dir_check(LimgSource *src, const LimgTree *tree, uint32_t node, const LimgContent *c)
{
	struct stat st;

	if (fstat(c->fd, &st) < 0)
		return -errno;
	return limg_source_same_file(&st, &tree->nodes[node]) ? 0 : -ESTALE;
}

static int
dir_scan(LimgSource *src, const LimgScanOptions *opts, LimgReport *report, LimgTree **out,
         uint64_t *skipped)
{
	return limg_dir_scan(DIR_SOURCE(src)->root_fd, opts, report, out, skipped);
}

/* Fingerprint: what changes when the layer directory's own entries do. */
typedef struct {
	uint64_t dev;
	uint64_t ino;
	int64_t mtime_sec;
	int64_t ctime_sec;
	uint32_t mtime_nsec;
	uint32_t ctime_nsec;
} DirPrint;

static int
dir_identity(LimgSource *src, LimgSourceId *id)
{
	DirSource *s = DIR_SOURCE(src);
	DirPrint p = { 0 };
	struct stat st;

	if (fstat(s->root_fd, &st) < 0)
		return -errno;
	p.dev = st.st_dev;
	p.ino = st.st_ino;
	p.mtime_sec = st.st_mtim.tv_sec;
	p.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	p.ctime_sec = st.st_ctim.tv_sec;
	p.ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	id->key = g_strdup(s->key);
	id->fingerprint = g_bytes_new(&p, sizeof(p));
	return 0;
}

/*
 * Every directory of @tree below the top still has its inode, mtime and
 * ctime: then no entry was added, removed or renamed anywhere. The top
 * directory is the identity's fingerprint (dir_identity()), which the
 * disk cache compares before it gives a tree; its mtime in @tree may be
 * the normalised one (overlay.h). One stat per directory, no file opened.
 */
static int
dir_verify(LimgSource *src, const LimgTree *tree)
{
	int root_fd = DIR_SOURCE(src)->root_fd;

	for (uint32_t i = 1; i < tree->n_nodes; i++) {
		const LimgNode *n = &tree->nodes[i];
		g_autofree char *path = NULL;
		struct stat st;
		int r;

		if (!S_ISDIR(n->mode))
			continue;
		path = limg_tree_path(tree, i);
		r = fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW);
		/*
		 * A directory's mtime and ctime change whenever an entry in it
		 * is added, removed or renamed; changes to the entries
		 * themselves are caught when a file is opened.
		 */
		if (r < 0 || !S_ISDIR(st.st_mode) || st.st_ino != n->ino || st.st_dev != n->dev ||
		    st.st_mtim.tv_sec != n->mtime.sec || (uint32_t)st.st_mtim.tv_nsec != n->mtime.nsec ||
		    st.st_ctim.tv_sec != n->ctime.sec || (uint32_t)st.st_ctim.tv_nsec != n->ctime.nsec)
			return -ESTALE;
	}
	return 0;
}

static int
dir_present(LimgSource *src)
{
	struct stat st;

	if (fstat(DIR_SOURCE(src)->root_fd, &st) < 0 || st.st_nlink == 0)
		return -ENOENT;
	return 0;
}

static void
dir_free(LimgSource *src)
{
	DirSource *s = DIR_SOURCE(src);

	for (unsigned i = 0; i < MEMO_DIRS; i++)
		dir_ref_unref(s->memo[i]);
	close(s->root_fd);
	g_mutex_clear(&s->lock);
	g_free(s->key);
	g_free(s);
}

static const LimgSourceOps dir_ops = {
	.kind = "dir",
	.scan = dir_scan,
	.identity = dir_identity,
	.verify = dir_verify,
	.verify_later = true,
	.open = dir_open,
	.check = dir_check,
	.present = dir_present,
	.free = dir_free,
};

int
limg_dir_source_new(const char *root, const char *rel, LimgSource **out)
{
	DirSource *s;
	int fd;

	*out = NULL;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (rel && *rel) {
		/* Below @root, no component may be a symlink (or "." / ".."). */
		g_auto(GStrv) comps = g_strsplit(rel, "/", -1);

		for (guint i = 0; comps[i]; i++) {
			int nfd;

			if (!*comps[i])
				continue;
			if (strcmp(comps[i], ".") == 0 || strcmp(comps[i], "..") == 0) {
				close(fd);
				return -EINVAL;
			}
			nfd = openat(fd, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0) {
				int err = -errno;
				struct stat st;

				/* O_DIRECTORY reports a symlink as ENOTDIR: say what it is. */
				if (err == -ENOTDIR && fstatat(fd, comps[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				    S_ISLNK(st.st_mode))
					err = -ELOOP;
				close(fd);
				return err;
			}
			close(fd);
			fd = nfd;
		}
	}
	s = g_new0(DirSource, 1);
	s->base.ops = &dir_ops;
	s->root_fd = fd;
	s->key = rel && *rel ? g_build_filename(root, rel, NULL) : g_strdup(root);
	g_mutex_init(&s->lock);
	*out = &s->base;
	return 0;
}
