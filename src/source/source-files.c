/*
 * source-files.c - a few host files put at fixed paths of an image: a
 * container's hosts, hostname and resolv.conf as /etc/hosts, ... (what a
 * runtime mounts over the root at start). See source.h.
 *
 * The tree holds the root, the directories of the paths (only to make
 * them: in a stack this source is "files only", so they never replace the
 * attributes of the image's own directories) and every file of the map
 * that exists as a regular file in the directory. A missing file is left
 * out; one that is not a regular file is left out with a warning. No
 * symlink is followed.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/source-internal.h"
#include "util/escape.h"

typedef struct {
	LimgSource base;
	int dir_fd;
	char **dest;            /* paths in the image */
	char **src;             /* file names in the directory */
	GMutex lock;
	/* protected by lock: node of the tree -> index in the map, from the scan */
	GHashTable *node_map;
} FilesSource;

#define FILES(s) ((FilesSource *)(s))

/* A directory of the tree being built: sub-directories and files. */
typedef struct FDir FDir;
struct FDir {
	char *name;
	GPtrArray *dirs;        /* FDir * */
	GArray *files;          /* FItem */
};

typedef struct {
	const char *name;       /* borrowed from the map */
	struct stat st;
	size_t map;             /* index in the map */
} FItem;

static FDir *
fdir_new(const char *name, size_t len)
{
	FDir *d = g_new0(FDir, 1);

	d->name = g_strndup(name, len);
	d->dirs = g_ptr_array_new();
	d->files = g_array_new(FALSE, FALSE, sizeof(FItem));
	return d;
}

static void
fdir_free(FDir *d)
{
	for (guint i = 0; i < d->dirs->len; i++)
		fdir_free(d->dirs->pdata[i]);
	g_ptr_array_free(d->dirs, TRUE);
	g_array_free(d->files, TRUE);
	g_free(d->name);
	g_free(d);
}

/* The sub-directory @name of @d, made if missing. */
static FDir *
fdir_child(FDir *d, const char *name, size_t len)
{
	FDir *c;

	for (guint i = 0; i < d->dirs->len; i++) {
		c = d->dirs->pdata[i];
		if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
			return c;
	}
	c = fdir_new(name, len);
	g_ptr_array_add(d->dirs, c);
	return c;
}

/* One child of a directory, for sorting by name. */
typedef struct {
	const char *name;
	FDir *dir;              /* or NULL: a file */
	const FItem *file;
} FKid;

static int
cmp_kid(gconstpointer a, gconstpointer b)
{
	return strcmp(((const FKid *)a)->name, ((const FKid *)b)->name);
}

/*
 * Append the children of @d (node @idx of @t) all at once, sorted, then
 * descend into its sub-directories in order: the tree invariant.
 */
static int
emit_dir(LimgTree *t, FDir *d, uint32_t idx, GHashTable *node_map)
{
	g_autoptr(GArray) kids = g_array_new(FALSE, FALSE, sizeof(FKid));
	uint32_t first = t->n_nodes, n;
	int ret;

	for (guint i = 0; i < d->dirs->len; i++) {
		FKid k = { ((FDir *)d->dirs->pdata[i])->name, d->dirs->pdata[i], NULL };

		g_array_append_val(kids, k);
	}
	for (guint i = 0; i < d->files->len; i++) {
		FKid k = { g_array_index(d->files, FItem, i).name, NULL,
		           &g_array_index(d->files, FItem, i) };

		g_array_append_val(kids, k);
	}
	g_array_sort(kids, cmp_kid);
	for (guint i = 0; i < kids->len; i++) {
		const FKid *k = &g_array_index(kids, FKid, i);
		LimgNode p = { .parent = idx, .mode = S_IFDIR | 0755, .nlink = 2 };

		if (k->file) {
			const struct stat *st = &k->file->st;

			p.mode = st->st_mode;
			p.uid = st->st_uid;
			p.gid = st->st_gid;
			p.nlink = 1;
			p.size = (uint64_t)st->st_size;
			p.ino = st->st_ino;
			p.dev = st->st_dev;
			p.mtime = (LimgTime){ st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec };
			p.ctime = (LimgTime){ st->st_ctim.tv_sec, (uint32_t)st->st_ctim.tv_nsec };
		}
		if ((ret = limg_tree_add(t, &p, k->name, strlen(k->name), &n)) < 0)
			return ret;
		if (k->file)
			g_hash_table_insert(node_map, GUINT_TO_POINTER(n),
			                    GSIZE_TO_POINTER(k->file->map + 1));
	}
	t->nodes[idx].first_child = kids->len ? first : 0;
	t->nodes[idx].nchildren = kids->len;
	for (guint i = 0; i < kids->len; i++) {
		const FKid *k = &g_array_index(kids, FKid, i);

		if (k->dir && (ret = emit_dir(t, k->dir, first + i, node_map)) < 0)
			return ret;
	}
	return 0;
}

static int
files_scan(LimgSource *src, const LimgScanOptions *opts, LimgReport *report, LimgTree **out,
           uint64_t *skipped)
{
	FilesSource *s = FILES(src);
	g_autoptr(LimgTree) t = limg_tree_new();
	g_autoptr(GHashTable) node_map = g_hash_table_new(g_direct_hash, g_direct_equal);
	LimgNode root = { .mode = S_IFDIR | 0755, .nlink = 2 };
	FDir *top = fdir_new("", 0);
	uint64_t left_out = 0;
	uint32_t idx;
	int ret;

	for (size_t i = 0; s->dest[i]; i++) {
		const char *path = s->dest[i], *slash;
		FDir *d = top;
		FItem it = { .map = i };

		if (fstatat(s->dir_fd, s->src[i], &it.st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;   /* not there (yet): nothing to put on top */
		if (!S_ISREG(it.st.st_mode)) {
			g_autofree char *e = limg_escape(s->src[i], strlen(s->src[i]));

			limg_report_warn(report, "%s: not a regular file; left out", e);
			left_out++;
			continue;
		}
		while ((slash = strchr(path, '/')) != NULL) {
			d = fdir_child(d, path, (size_t)(slash - path));
			path = slash + 1;
		}
		it.name = path;
		g_array_append_val(d->files, it);
	}
	ret = limg_tree_add(t, &root, "", 0, &idx);
	if (ret == 0)
		ret = emit_dir(t, top, idx, node_map);
	fdir_free(top);
	if (ret < 0)
		return ret;
	limg_tree_seal(t);
	g_mutex_lock(&s->lock);
	if (s->node_map)
		g_hash_table_destroy(s->node_map);
	s->node_map = g_steal_pointer(&node_map);
	g_mutex_unlock(&s->lock);
	if (skipped)
		*skipped = left_out;
	*out = g_steal_pointer(&t);
	return 0;
}

static int
files_identity(LimgSource *src, LimgSourceId *id)
{
	id->key = NULL;   /* a few files: never worth a cache file */
	id->fingerprint = g_bytes_new(NULL, 0);
	return 0;
}

/* The map index of node @node, or -1. */
static gssize
map_of(FilesSource *s, uint32_t node)
{
	gpointer v = NULL;

	g_mutex_lock(&s->lock);
	if (s->node_map)
		v = g_hash_table_lookup(s->node_map, GUINT_TO_POINTER(node));
	g_mutex_unlock(&s->lock);
	return v ? (gssize)GPOINTER_TO_SIZE(v) - 1 : -1;
}

/* Is @tree still what a scan would give? (a file appeared, went, changed) */
static int
files_verify(LimgSource *src, const LimgTree *tree)
{
	FilesSource *s = FILES(src);
	size_t present = 0, files = 0;

	for (size_t i = 0; s->dest[i]; i++) {
		struct stat st;

		if (fstatat(s->dir_fd, s->src[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			present++;
	}
	for (uint32_t n = 0; n < tree->n_nodes; n++) {
		gssize m;
		struct stat st;

		if (!S_ISREG(tree->nodes[n].mode))
			continue;
		files++;
		m = map_of(s, n);
		if (m < 0 || fstatat(s->dir_fd, s->src[m], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !limg_source_same_file(&st, &tree->nodes[n]))
			return -ESTALE;
	}
	return present == files ? 0 : -ESTALE;
}

static int
files_open(LimgSource *src, const LimgTree *tree, uint32_t node, LimgContent *out)
{
	FilesSource *s = FILES(src);
	gssize m = map_of(s, node);
	int fd;

	if (m < 0 || !S_ISREG(tree->nodes[node].mode))
		return -EINVAL;
	fd = openat(s->dir_fd, s->src[m], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	fd = limg_source_verify_open(fd < 0 ? -errno : fd, &tree->nodes[node]);
	if (fd < 0)
		return fd;
	out->fd = fd;
	out->base = 0;
	out->owned = true;
	return 0;
}

static int
files_check(LimgSource *src, const LimgTree *tree, uint32_t node, const LimgContent *c)
{
	struct stat st;

	if (fstat(c->fd, &st) < 0)
		return -errno;
	return limg_source_same_file(&st, &tree->nodes[node]) ? 0 : -ESTALE;
}

static int
files_present(LimgSource *src)
{
	struct stat st;

	if (fstat(FILES(src)->dir_fd, &st) < 0 || st.st_nlink == 0)
		return -ENOENT;
	return 0;
}

static void
files_free(LimgSource *src)
{
	FilesSource *s = FILES(src);

	close(s->dir_fd);
	g_strfreev(s->dest);
	g_strfreev(s->src);
	if (s->node_map)
		g_hash_table_destroy(s->node_map);
	g_mutex_clear(&s->lock);
	g_free(s);
}

static const LimgSourceOps files_ops = {
	.kind = "files",
	.scan = files_scan,
	.identity = files_identity,
	.verify = files_verify,
	.open = files_open,
	.check = files_check,
	.present = files_present,
	.free = files_free,
};

int
limg_files_source_new(const char *dir, const char *const *map, LimgSource **out)
{
	GPtrArray *dest = g_ptr_array_new(), *src = g_ptr_array_new();
	FilesSource *s;
	int fd;

	*out = NULL;
	for (size_t i = 0; map[i]; i++) {
		const char *eq = strchr(map[i], '=');

		if (!eq || eq == map[i] || !eq[1] || strchr(eq + 1, '/') || map[i][0] == '/' ||
		    strstr(map[i], "//") || eq[-1] == '/') {
			g_ptr_array_free(dest, TRUE);
			g_ptr_array_free(src, TRUE);
			return -EINVAL;
		}
		g_ptr_array_add(dest, g_strndup(map[i], (gsize)(eq - map[i])));
		g_ptr_array_add(src, g_strdup(eq + 1));
	}
	g_ptr_array_add(dest, NULL);
	g_ptr_array_add(src, NULL);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		g_strfreev((char **)g_ptr_array_free(dest, FALSE));
		g_strfreev((char **)g_ptr_array_free(src, FALSE));
		return err;
	}
	s = g_new0(FilesSource, 1);
	s->base.ops = &files_ops;
	s->dir_fd = fd;
	s->dest = (char **)g_ptr_array_free(dest, FALSE);
	s->src = (char **)g_ptr_array_free(src, FALSE);
	g_mutex_init(&s->lock);
	*out = &s->base;
	return 0;
}
