/*
 * source-dir.c - a layer that is a directory tree; see source.h.
 *
 * The walk is depth first with an explicit stack of directory fds, in
 * byte order of names at every level, and appends all children of a
 * directory at once: node numbering is a function of the tree's contents
 * only, whatever order the file system returns entries in.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include <glib.h>

#include "source/source.h"

#define DEFAULT_MAX_DEPTH 2048

typedef struct {
	char *name;
	size_t len;
} DirEnt;

typedef struct {
	int fd;
	uint32_t node;
	uint32_t next;   /* next child position to look at for subdirectories */
} Frame;

typedef struct {
	LimgTree *tree;
	LimgReport *report;
	const LimgScanOptions *opts;
	uint64_t skipped;
	GArray *ents;     /* DirEnt, reused per directory */
	GStringChunk *names;
	char *linkbuf;    /* PATH_MAX + 1 */
} Walk;

static void
warn_entry(Walk *w, uint32_t parent, const char *name, size_t len, const char *what, int err)
{
	g_autofree char *dir = limg_tree_path(w->tree, parent);
	g_autofree char *full = *dir ? g_strdup_printf("%s/%.*s", dir, (int)len, name)
	                             : g_strndup(name, len);
	g_autofree char *esc = limg_escape(full, strlen(full));

	limg_report_warn(w->report, "/%s: %s: %s; left out of the image", esc, what,
	                 g_strerror(err));
	w->skipped++;
}

static int
cmp_ent(const void *a, const void *b)
{
	const DirEnt *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->name, y->name, n);

	return r ? r : (x->len < y->len ? -1 : x->len > y->len);
}

static void
fill_node(LimgNode *n, const struct stat *st, uint32_t parent)
{
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	n->mode = st->st_mode;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->nlink = (uint32_t)st->st_nlink;
	n->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	n->ino = st->st_ino;
	n->dev = st->st_dev;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		n->rdev_major = major(st->st_rdev);
		n->rdev_minor = minor(st->st_rdev);
	}
	n->mtime.sec = st->st_mtim.tv_sec;
	n->mtime.nsec = (uint32_t)st->st_mtim.tv_nsec;
	n->ctime.sec = st->st_ctim.tv_sec;
	n->ctime.nsec = (uint32_t)st->st_ctim.tv_nsec;
}

#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif

struct limg_xattr_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

static int have_xattrat = -1;   /* -1 unknown, 0 no, 1 yes; races are benign */

/*
 * List and read the xattrs of @name in @dirfd without following a
 * symlink. Uses listxattrat/getxattrat (Linux 6.13) and falls back to the
 * /proc/self/fd path form. Returns 0 (possibly with no attributes) or
 * -errno.
 */
static ssize_t
x_list(int dirfd, const char *name, char *buf, size_t size)
{
	if (have_xattrat != 0) {
		ssize_t r = syscall(SYS_listxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, buf, size);

		if (r >= 0 || errno != ENOSYS) {
			have_xattrat = 1;
			return r;
		}
		have_xattrat = 0;
	}
	{
		char path[64 + NAME_MAX];

		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
		return llistxattr(path, buf, size);
	}
}

static ssize_t
x_get(int dirfd, const char *name, const char *attr, void *buf, size_t size)
{
	if (have_xattrat == 1) {
		struct limg_xattr_args args = { (uint64_t)(uintptr_t)buf, (uint32_t)size, 0 };

		return syscall(SYS_getxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, attr,
		               &args, sizeof(args));
	}
	{
		char path[64 + NAME_MAX];

		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
		return lgetxattr(path, attr, buf, size);
	}
}

static gint
cmp_str_ptr(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
read_xattrs(Walk *w, int dirfd, const char *name, uint32_t idx)
{
	char list[65536];
	ssize_t ll = x_list(dirfd, name, list, sizeof(list));
	g_autoptr(GPtrArray) names = NULL, values = NULL, sorted = NULL;
	g_autoptr(GArray) lens = NULL;
	int ret;

	if (ll < 0)
		return (errno == ENOTSUP || errno == EOPNOTSUPP) ? 0 : -errno;
	if (ll == 0)
		return 0;
	names = g_ptr_array_new();
	sorted = g_ptr_array_new();
	values = g_ptr_array_new_with_free_func(g_free);
	lens = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	/* Sorted by name: listxattr order differs between copies of a tree. */
	{
		g_autoptr(GPtrArray) order = g_ptr_array_new();

		for (char *a = list; a < list + ll; a += strlen(a) + 1)
			g_ptr_array_add(order, a);
		g_ptr_array_sort(order, cmp_str_ptr);
		for (guint i = 0; i < order->len; i++) {
			g_ptr_array_add(sorted, order->pdata[i]);
		}
	}
	for (guint ai = 0; ai < sorted->len; ai++) {
		char *a = sorted->pdata[ai];
		ssize_t vl = x_get(dirfd, name, a, NULL, 0);
		void *v;

		if (vl < 0)
			continue;    /* removed meanwhile */
		v = g_malloc(vl ? (size_t)vl : 1);
		vl = x_get(dirfd, name, a, v, (size_t)vl);
		if (vl < 0) {
			g_free(v);
			continue;
		}
		g_ptr_array_add(names, a);
		g_ptr_array_add(values, v);
		{
			uint32_t l32 = (uint32_t)vl;

			g_array_append_val(lens, l32);
		}
	}
	ret = limg_tree_set_xattrs(w->tree, idx, names->len, (const char *const *)names->pdata,
	                           (const void *const *)values->pdata, (uint32_t *)(void *)lens->data);
	return ret;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Append all children of directory node @dnode, open as @fd. */
static int
read_dir(Walk *w, int fd, uint32_t dnode)
{
	char buf[32768] __attribute__((aligned(8)));
	uint32_t first = LIMG_NONE, count = 0;
	long n;
	int ret = 0;

	/* getdents64 on the fd itself: no dup/fdopendir/closedir per directory. */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	g_array_set_size(w->ents, 0);
	g_string_chunk_clear(w->names);
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			const struct linux_dirent64 *de = (const struct linux_dirent64 *)(buf + off);
			DirEnt e;

			off += de->d_reclen;
			if (de->d_name[0] == '.' && (de->d_name[1] == 0 ||
			    (de->d_name[1] == '.' && de->d_name[2] == 0)))
				continue;
			e.len = strlen(de->d_name);
			e.name = g_string_chunk_insert_len(w->names, de->d_name, (gssize)e.len);
			g_array_append_val(w->ents, e);
		}
	}
	if (n < 0)
		return -errno;
	qsort(w->ents->data, w->ents->len, sizeof(DirEnt), cmp_ent);

	for (guint i = 0; i < w->ents->len; i++) {
		const DirEnt *e = &g_array_index(w->ents, DirEnt, i);
		struct stat st;
		LimgNode proto;
		uint32_t idx;

		if (fstatat(fd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			warn_entry(w, dnode, e->name, e->len, "cannot stat", errno);
			continue;
		}
		fill_node(&proto, &st, dnode);
		if ((ret = limg_tree_add(w->tree, &proto, e->name, e->len, &idx)) < 0)
			return ret;
		if (S_ISLNK(st.st_mode)) {
			ssize_t tl = readlinkat(fd, e->name, w->linkbuf, PATH_MAX + 1);

			if (tl < 0 || tl > PATH_MAX) {
				warn_entry(w, dnode, e->name, e->len, "cannot read symlink",
				           tl < 0 ? errno : ENAMETOOLONG);
				w->tree->n_nodes--;   /* drop the node just added */
				continue;
			}
			if ((ret = limg_tree_set_target(w->tree, idx, w->linkbuf, (size_t)tl)) < 0)
				return ret;
		}
		if (w->opts->xattrs && (ret = read_xattrs(w, fd, e->name, idx)) < 0) {
			warn_entry(w, dnode, e->name, e->len, "cannot read extended attributes", -ret);
			ret = 0;
		}
		if (first == LIMG_NONE)
			first = idx;
		count++;
	}
	w->tree->nodes[dnode].first_child = first == LIMG_NONE ? 0 : first;
	w->tree->nodes[dnode].nchildren = count;
	return 0;
}

int
limg_source_dir_scan(int root_fd, const LimgScanOptions *opts, LimgReport *report,
                     LimgTree **out, uint64_t *skipped)
{
	static const LimgScanOptions defaults = { .xattrs = true };
	g_autoptr(LimgTree) tree = limg_tree_new();
	g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(Frame));
	Walk w = { .tree = tree, .report = report, .opts = opts ? opts : &defaults };
	uint32_t max_depth;
	struct stat st;
	LimgNode proto;
	uint32_t idx;
	Frame root;
	int ret;

	*out = NULL;
	max_depth = w.opts->max_depth ? w.opts->max_depth : DEFAULT_MAX_DEPTH;
	if (fstat(root_fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	fill_node(&proto, &st, 0);
	if ((ret = limg_tree_add(tree, &proto, "", 0, &idx)) < 0)
		return ret;
	if (w.opts->xattrs) {
		/* The root itself: "." relative to its own fd. */
		if (read_xattrs(&w, root_fd, ".", 0) < 0)
			limg_report_warn(report, "/: cannot read extended attributes");
	}
	w.ents = g_array_new(FALSE, FALSE, sizeof(DirEnt));
	w.names = g_string_chunk_new(65536);
	w.linkbuf = g_malloc(PATH_MAX + 1);

	root.fd = dup(root_fd);
	root.node = 0;
	root.next = 0;
	if (root.fd < 0) {
		ret = -errno;
		goto out_free;
	}
	if ((ret = read_dir(&w, root.fd, 0)) < 0) {
		close(root.fd);
		goto out_free;
	}
	g_array_append_val(stack, root);

	while (stack->len) {
		Frame *f = &g_array_index(stack, Frame, stack->len - 1);
		const LimgNode *dn = &tree->nodes[f->node];
		uint32_t child = LIMG_NONE;

		while (f->next < dn->nchildren) {
			uint32_t c = dn->first_child + f->next++;

			if (S_ISDIR(tree->nodes[c].mode)) {
				child = c;
				break;
			}
		}
		if (child == LIMG_NONE) {
			close(f->fd);
			g_array_set_size(stack, stack->len - 1);
			continue;
		}
		{
			const LimgNode *cn = &tree->nodes[child];
			const char *name = limg_tree_name(tree, cn);
			Frame nf = { .node = child, .next = 0 };
			struct stat cst;

			if (stack->len >= max_depth) {
				warn_entry(&w, f->node, name, cn->name_len,
				           "directory nested too deeply, contents", ELOOP);
				continue;
			}
			nf.fd = openat(f->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nf.fd < 0) {
				warn_entry(&w, f->node, name, cn->name_len,
				           "cannot open directory, contents", errno);
				continue;
			}
			/* The directory we opened must be the one we stat'ed. */
			if (fstat(nf.fd, &cst) < 0 || cst.st_ino != cn->ino || cst.st_dev != cn->dev) {
				warn_entry(&w, f->node, name, cn->name_len,
				           "directory replaced during the walk, contents", EAGAIN);
				close(nf.fd);
				continue;
			}
			ret = read_dir(&w, nf.fd, child);
			if (ret == -ENOMEM || ret == -E2BIG) {
				close(nf.fd);
				goto out_close;
			}
			if (ret < 0) {
				warn_entry(&w, f->node, name, cn->name_len,
				           "cannot read directory, contents", -ret);
				close(nf.fd);
				ret = 0;
				continue;
			}
			g_array_append_val(stack, nf);
		}
	}
	ret = 0;
	limg_tree_seal(tree);
	*out = g_steal_pointer(&tree);
	if (skipped)
		*skipped = w.skipped;
out_close:
	for (guint i = 0; i < stack->len; i++)
		close(g_array_index(stack, Frame, i).fd);
out_free:
	g_array_free(w.ents, TRUE);
	g_string_chunk_free(w.names);
	g_free(w.linkbuf);
	return ret;
}

/* Open @path beneath @root_fd without following any symlink. */
static int
open_beneath(int root_fd, const char *path)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
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

int
limg_source_open_node(int root_fd, const LimgTree *tree, uint32_t node)
{
	const LimgNode *n;
	g_autofree char *path = NULL;
	struct stat st;
	int fd;

	g_return_val_if_fail(node < tree->n_nodes, -EINVAL);
	n = &tree->nodes[node];
	if (!S_ISREG(n->mode))
		return -EINVAL;
	path = limg_tree_path(tree, node);
	fd = open_beneath(root_fd, path);
	if (fd < 0)
		return fd == -ELOOP || fd == -EXDEV || fd == -ENOENT || fd == -ENOTDIR ? -ESTALE : fd;
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || st.st_ino != n->ino || st.st_dev != n->dev ||
	    (uint64_t)st.st_size != n->size || st.st_mtim.tv_sec != n->mtime.sec ||
	    (uint32_t)st.st_mtim.tv_nsec != n->mtime.nsec || st.st_ctim.tv_sec != n->ctime.sec ||
	    (uint32_t)st.st_ctim.tv_nsec != n->ctime.nsec) {
		close(fd);
		return -ESTALE;
	}
	/* Regular file confirmed: reads may block normally from now on. */
	fcntl(fd, F_SETFL, O_RDONLY);
	return fd;
}
