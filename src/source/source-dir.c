/*
 * source-dir.c - the directory source's walks: a layer directory -> node
 * tree, single-threaded or with the stats spread over threads; see
 * source-dir-internal.h.
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

#include <glib.h>

#include "source/source-dir-internal.h"
#include "util/escape.h"

#define DEFAULT_MAX_DEPTH 2048

typedef struct {
	char *name;
	size_t len;
	unsigned char type;   /* d_type */
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

static int scan_sequential(int root_fd, const LimgScanOptions *opts, LimgReport *report,
                           LimgTree **out, uint64_t *skipped);

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

/* An entry's extended attributes, sorted by name. */
typedef struct {
	GPtrArray *names;       /* char *, owned */
	GPtrArray *values;      /* void *, owned */
	GArray *lens;           /* uint32_t */
} Xattrs;

static void
xattrs_clear(Xattrs *x)
{
	if (x->names)
		g_ptr_array_free(x->names, TRUE);
	if (x->values)
		g_ptr_array_free(x->values, TRUE);
	if (x->lens)
		g_array_free(x->lens, TRUE);
	memset(x, 0, sizeof(*x));
}

/* Read the xattrs of @name in @dirfd (no symlink followed). 0 or -errno. */
static int
collect_xattrs(int dirfd, const char *name, Xattrs *x)
{
	char list[65536];
	ssize_t ll = x_list(dirfd, name, list, sizeof(list));
	g_autoptr(GPtrArray) order = NULL;

	memset(x, 0, sizeof(*x));
	if (ll < 0)
		return (errno == ENOTSUP || errno == EOPNOTSUPP) ? 0 : -errno;
	if (ll == 0)
		return 0;
	x->names = g_ptr_array_new_with_free_func(g_free);
	x->values = g_ptr_array_new_with_free_func(g_free);
	x->lens = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	/* Sorted by name: listxattr order differs between copies of a tree. */
	order = g_ptr_array_new();
	for (char *a = list; a < list + ll; a += strlen(a) + 1)
		g_ptr_array_add(order, a);
	g_ptr_array_sort(order, cmp_str_ptr);
	for (guint i = 0; i < order->len; i++) {
		const char *a = order->pdata[i];
		ssize_t vl = x_get(dirfd, name, a, NULL, 0);
		uint32_t l32;
		void *v;

		if (vl < 0)
			continue;    /* removed meanwhile */
		v = g_malloc(vl ? (size_t)vl : 1);
		vl = x_get(dirfd, name, a, v, (size_t)vl);
		if (vl < 0) {
			g_free(v);
			continue;
		}
		l32 = (uint32_t)vl;
		g_ptr_array_add(x->names, g_strdup(a));
		g_ptr_array_add(x->values, v);
		g_array_append_val(x->lens, l32);
	}
	return 0;
}

static int
store_xattrs(LimgTree *tree, uint32_t idx, const Xattrs *x)
{
	if (!x->names || x->names->len == 0)
		return 0;
	return limg_tree_set_xattrs(tree, idx, x->names->len, (const char *const *)x->names->pdata,
	                            (const void *const *)x->values->pdata,
	                            (const uint32_t *)(void *)x->lens->data);
}

static int
read_xattrs(Walk *w, int dirfd, const char *name, uint32_t idx)
{
	Xattrs x;
	int ret = collect_xattrs(dirfd, name, &x);

	if (ret == 0)
		ret = store_xattrs(w->tree, idx, &x);
	xattrs_clear(&x);
	return ret;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/*
 * The entries of directory @fd but "." and "..", sorted by name in byte
 * order, into @ents (names copied into @chunk; both cleared first).
 * getdents64 on the fd itself: no dup/fdopendir/closedir per directory.
 */
static int
list_dir(int fd, GArray *ents, GStringChunk *chunk)
{
	char buf[32768] __attribute__((aligned(8)));
	long n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	g_array_set_size(ents, 0);
	g_string_chunk_clear(chunk);
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			const struct linux_dirent64 *de = (const struct linux_dirent64 *)(buf + off);
			DirEnt e;

			off += de->d_reclen;
			if (de->d_name[0] == '.' && (de->d_name[1] == 0 ||
			    (de->d_name[1] == '.' && de->d_name[2] == 0)))
				continue;
			e.len = strlen(de->d_name);
			e.name = g_string_chunk_insert_len(chunk, de->d_name, (gssize)e.len);
			e.type = de->d_type;
			g_array_append_val(ents, e);
		}
	}
	if (n < 0)
		return -errno;
	qsort(ents->data, ents->len, sizeof(DirEnt), cmp_ent);
	return 0;
}

/* The next subdirectory of frame @f to descend into, or LIMG_NONE. */
static uint32_t
next_subdir(const LimgTree *tree, Frame *f)
{
	const LimgNode *dn = &tree->nodes[f->node];

	while (f->next < dn->nchildren) {
		uint32_t c = dn->first_child + f->next++;

		if (S_ISDIR(tree->nodes[c].mode))
			return c;
	}
	return LIMG_NONE;
}

/* Append all children of directory node @dnode, open as @fd. */
static int
read_dir(Walk *w, int fd, uint32_t dnode)
{
	uint32_t first = LIMG_NONE, count = 0;
	int ret = list_dir(fd, w->ents, w->names);

	if (ret < 0)
		return ret;

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

/* ------------------------------------------------------------ parallel */

/*
 * The parallel walk keeps the sequential walk's shape exactly: this
 * thread reads directories (getdents64, sort, openat) in the same
 * depth-first order and appends the same nodes, knowing directories by
 * d_type; worker threads stat each directory's entries (fstatat,
 * readlinkat, xattrs) and the results are merged into the nodes in
 * place. Anything unusual (DT_UNKNOWN, an entry that vanished or changed
 * type, a directory replaced during the walk, a depth limit) makes it
 * give up with -EAGAIN, and the caller walks again single-threaded, which
 * handles and reports each case.
 */
typedef struct {
	struct stat st;
	int err;
	char *target;
	size_t tlen;
	Xattrs x;
	int xerr;
} PEnt;

typedef struct {
	int fd;                 /* own dup of the directory fd */
	uint32_t first;
	uint32_t count;
	char **names;
	PEnt *res;
	bool xattrs;
	gint done;
} Batch;

typedef struct {
	GMutex lock;
	GCond cond;
} BatchSync;

static BatchSync bsync = { 0 };
static GOnce bsync_once = G_ONCE_INIT;

static gpointer
bsync_init(gpointer unused)
{
	g_mutex_init(&bsync.lock);
	g_cond_init(&bsync.cond);
	return NULL;
}

static void
stat_batch(gpointer data, gpointer unused)
{
	Batch *b = data;

	for (uint32_t i = 0; i < b->count; i++) {
		PEnt *r = &b->res[i];

		if (fstatat(b->fd, b->names[i], &r->st, AT_SYMLINK_NOFOLLOW) < 0) {
			r->err = errno;
			continue;
		}
		if (S_ISLNK(r->st.st_mode)) {
			char buf[PATH_MAX + 1];
			ssize_t tl = readlinkat(b->fd, b->names[i], buf, sizeof(buf));

			if (tl < 0 || tl > PATH_MAX) {
				r->err = tl < 0 ? errno : ENAMETOOLONG;
				continue;
			}
			r->target = g_memdup2(buf, (gsize)tl);
			r->tlen = (size_t)tl;
		}
		if (b->xattrs)
			r->xerr = collect_xattrs(b->fd, b->names[i], &r->x);
	}
	g_mutex_lock(&bsync.lock);
	g_atomic_int_set(&b->done, 1);
	g_cond_broadcast(&bsync.cond);
	g_mutex_unlock(&bsync.lock);
}

static void
batch_free(Batch *b)
{
	for (uint32_t i = 0; i < b->count; i++) {
		g_free(b->res[i].target);
		xattrs_clear(&b->res[i].x);
	}
	close(b->fd);
	g_free(b->names);
	g_free(b->res);
	g_free(b);
}

static void
batch_wait(Batch *b)
{
	g_mutex_lock(&bsync.lock);
	while (!g_atomic_int_get(&b->done))
		g_cond_wait(&bsync.cond, &bsync.lock);
	g_mutex_unlock(&bsync.lock);
}

/* Merge a finished batch into its nodes; -EAGAIN on anything unusual. */
static int
batch_merge(LimgTree *tree, Batch *b)
{
	int ret = 0;

	for (uint32_t i = 0; i < b->count && ret == 0; i++) {
		PEnt *r = &b->res[i];
		LimgNode *n = &tree->nodes[b->first + i];
		LimgNode full;

		if (r->err || r->xerr || S_ISDIR(r->st.st_mode) != S_ISDIR(n->mode))
			return -EAGAIN;
		fill_node(&full, &r->st, n->parent);
		full.first_child = n->first_child;
		full.nchildren = n->nchildren;
		full.name = n->name;
		full.name_len = n->name_len;
		full.target = LIMG_NONE;
		full.xattrs = LIMG_NONE;
		*n = full;
		if (r->target)
			ret = limg_tree_set_target(tree, b->first + i, r->target, r->tlen);
		if (ret == 0)
			ret = store_xattrs(tree, b->first + i, &r->x);
	}
	return ret;
}

typedef struct {
	uint32_t node;
	uint64_t ino;
	uint64_t dev;
} OpenedDir;

/*
 * Read directory node @dnode (open as @fd): append its children, typed by
 * d_type, and queue one batch to stat them. -EAGAIN for DT_UNKNOWN.
 */
static int
par_read_dir(LimgTree *tree, GThreadPool *pool, GQueue *pending, int fd, uint32_t dnode,
             bool xattrs, GArray *ents, GStringChunk *chunk)
{
	uint32_t first = tree->n_nodes, idx;
	size_t total = 0;
	Batch *b;
	char *blk;
	int ret = list_dir(fd, ents, chunk);

	if (ret < 0)
		return ret;
	for (guint i = 0; i < ents->len; i++) {
		const DirEnt *e = &g_array_index(ents, DirEnt, i);
		LimgNode p = { .parent = dnode };

		if (e->type == DT_UNKNOWN)
			return -EAGAIN;
		p.mode = e->type == DT_DIR ? S_IFDIR : S_IFREG;
		if ((ret = limg_tree_add(tree, &p, e->name, e->len, &idx)) < 0)
			return ret;
		total += e->len + 1;
	}
	tree->nodes[dnode].first_child = ents->len ? first : 0;
	tree->nodes[dnode].nchildren = ents->len;
	if (ents->len == 0)
		return 0;

	b = g_new0(Batch, 1);
	b->fd = dup(fd);
	if (b->fd < 0) {
		g_free(b);
		return -errno;
	}
	b->first = first;
	b->count = ents->len;
	b->xattrs = xattrs;
	b->res = g_new0(PEnt, ents->len);
	/* The names outlive @chunk: pointers and bytes in one block. */
	blk = g_malloc(sizeof(char *) * ents->len + total);
	b->names = (char **)(void *)blk;
	blk += sizeof(char *) * ents->len;
	for (guint i = 0; i < ents->len; i++) {
		const DirEnt *e = &g_array_index(ents, DirEnt, i);

		memcpy(blk, e->name, e->len + 1);
		b->names[i] = blk;
		blk += e->len + 1;
	}
	g_queue_push_tail(pending, b);
	g_thread_pool_push(pool, b, NULL);
	return 0;
}

static int
scan_parallel(int root_fd, const LimgScanOptions *opts, LimgTree **out)
{
	g_autoptr(LimgTree) tree = limg_tree_new();
	g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(Frame));
	g_autoptr(GArray) opened = g_array_new(FALSE, FALSE, sizeof(OpenedDir));
	GQueue pending = G_QUEUE_INIT;
	uint32_t max_depth = opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH;
	GStringChunk *chunk;
	GThreadPool *pool;
	GArray *ents;
	struct stat st;
	LimgNode proto;
	uint32_t idx;
	int ret = 0;

	g_once(&bsync_once, bsync_init, NULL);
	if (fstat(root_fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	fill_node(&proto, &st, 0);
	if ((ret = limg_tree_add(tree, &proto, "", 0, &idx)) < 0)
		return ret;
	if (opts->xattrs) {
		Xattrs x;

		ret = collect_xattrs(root_fd, ".", &x);
		if (ret == 0)
			ret = store_xattrs(tree, 0, &x);
		xattrs_clear(&x);
		if (ret < 0)
			return -EAGAIN;
	}
	pool = g_thread_pool_new(stat_batch, NULL, (gint)opts->threads, FALSE, NULL);
	if (!pool)
		return -EAGAIN;
	ents = g_array_new(FALSE, FALSE, sizeof(DirEnt));
	chunk = g_string_chunk_new(65536);
	{
		Frame root = { .fd = dup(root_fd), .node = 0, .next = 0 };

		if (root.fd < 0)
			ret = -errno;
		else
			g_array_append_val(stack, root);
	}
	if (ret == 0)
		ret = par_read_dir(tree, pool, &pending, g_array_index(stack, Frame, 0).fd, 0,
		                   opts->xattrs, ents, chunk);

	while (stack->len && ret == 0) {
		Frame *f = &g_array_index(stack, Frame, stack->len - 1);
		uint32_t child = next_subdir(tree, f);
		Frame nf = { .node = child, .next = 0 };
		struct stat cst;
		OpenedDir od;

		if (child == LIMG_NONE) {
			close(f->fd);
			g_array_set_size(stack, stack->len - 1);
			continue;
		}
		if (stack->len >= max_depth) {
			ret = -EAGAIN;
			break;
		}
		nf.fd = openat(f->fd, limg_tree_name(tree, &tree->nodes[child]),
		               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nf.fd < 0 || fstat(nf.fd, &cst) < 0) {
			if (nf.fd >= 0)
				close(nf.fd);
			ret = -EAGAIN;
			break;
		}
		od.node = child;
		od.ino = cst.st_ino;
		od.dev = cst.st_dev;
		g_array_append_val(opened, od);
		g_array_append_val(stack, nf);
		ret = par_read_dir(tree, pool, &pending, nf.fd, child, opts->xattrs, ents, chunk);

		/* Merge what is done; bound the batches in flight. */
		while (ret == 0 && !g_queue_is_empty(&pending)) {
			Batch *b = g_queue_peek_head(&pending);

			if (!g_atomic_int_get(&b->done)) {
				if (g_queue_get_length(&pending) < 256)
					break;
				batch_wait(b);
			}
			g_queue_pop_head(&pending);
			ret = batch_merge(tree, b);
			batch_free(b);
		}
	}
	/* Drain: every batch must finish before its fd and names go. */
	while (!g_queue_is_empty(&pending)) {
		Batch *b = g_queue_pop_head(&pending);

		batch_wait(b);
		if (ret == 0)
			ret = batch_merge(tree, b);
		batch_free(b);
	}
	g_thread_pool_free(pool, FALSE, TRUE);
	g_array_free(ents, TRUE);
	g_string_chunk_free(chunk);
	for (guint i = 0; i < stack->len; i++)
		close(g_array_index(stack, Frame, i).fd);
	if (ret < 0)
		return ret;
	/* Every directory we descended into is the one that was stat'ed. */
	for (guint i = 0; i < opened->len; i++) {
		const OpenedDir *od = &g_array_index(opened, OpenedDir, i);

		if (tree->nodes[od->node].ino != od->ino || tree->nodes[od->node].dev != od->dev)
			return -EAGAIN;
	}
	limg_tree_seal(tree);
	*out = g_steal_pointer(&tree);
	return 0;
}

int
limg_dir_scan(int root_fd, const LimgScanOptions *opts, LimgReport *report, LimgTree **out,
              uint64_t *skipped)
{
	if (opts && opts->threads > 1) {
		int ret = scan_parallel(root_fd, opts, out);

		if (ret != -EAGAIN) {
			if (skipped)
				*skipped = 0;
			return ret;
		}
		/* Something unusual: the single-threaded walk handles and reports it. */
	}
	return scan_sequential(root_fd, opts, report, out, skipped);
}

static int
scan_sequential(int root_fd, const LimgScanOptions *opts, LimgReport *report,
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
		uint32_t child = next_subdir(tree, f);

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
