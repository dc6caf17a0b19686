/*
 * root.c - node ids and what the kernel holds of the namespace
 * (namespace.c says what each path is).
 *
 *   1                 the root directory
 *   2                 .stats
 *   hash of the name  an image (FNV-1a of the image name with bit 62 set:
 *                     the same across mounts, never meeting the small
 *                     fixed ones)
 *   hash of "/path"   every other node (directories, links, text files)
 *
 * The kernel holds a node from a lookup until it forgets it; the table
 * keeps, per node it holds, the path and the lookup count, and drops the
 * node at the last forget. Attributes always come from the namespace and
 * the image service: a node whose path went away answers ENOENT.
 *
 * Modes are what the kernel enforces (default_permissions): images have
 * the owner and mode of the options (0400 by default: layers hold
 * secrets); directories (0555), .stats and the text files (0444) and
 * links stay readable by whoever sees the mount, and nothing is writable.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse/fs-internal.h"
#include "util/log.h"

typedef struct {
	fuse_ino_t ino;
	char *path;             /* "" root, ".stats", "images/<id>/rootfs.iso", ... */
	uint64_t nlookup;       /* kernel references */
} Node;

struct LimgRoot {
	GMutex lock;
	/* protected by lock */
	GHashTable *by_ino;     /* &ino -> Node * (owns) */
	GHashTable *by_path;    /* path -> Node * */
};

static void
node_free(gpointer p)
{
	Node *n = p;

	g_free(n->path);
	g_free(n);
}

LimgRoot *
limg_root_new(void)
{
	LimgRoot *r = g_new0(LimgRoot, 1);

	g_mutex_init(&r->lock);
	r->by_ino = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, node_free);
	r->by_path = g_hash_table_new(g_str_hash, g_str_equal);
	return r;
}

void
limg_root_free(LimgRoot *r)
{
	if (!r)
		return;
	g_hash_table_destroy(r->by_path);
	g_hash_table_destroy(r->by_ino);
	g_mutex_clear(&r->lock);
	g_free(r);
}

static uint64_t
fnv(const char *a, const char *b)
{
	/* FNV-1a, high bit set so it never meets small reserved numbers. */
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *s = a; s; s = s == a ? b : NULL) {
		for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
			h ^= *p;
			h *= 0x100000001b3ull;
		}
	}
	return h | (1ull << 62);
}

/* The preferred id of @path, of kind @kind (image: @image is its name). */
static uint64_t
path_hash(const char *path, LimgNodeKind kind, const char *image)
{
	if (!*path)
		return LIMG_ROOT_INO;
	if (kind == LIMG_NODE_STATS)
		return LIMG_STATS_INO;
	return kind == LIMG_NODE_IMAGE ? fnv(image, NULL) : fnv("/", path);
}

/* The id of @path; r->lock held. Another path on its hash: the next free one. */
static fuse_ino_t
ino_locked(LimgRoot *r, const char *path, LimgNodeKind kind, const char *image)
{
	Node *n = g_hash_table_lookup(r->by_path, path);
	uint64_t ino;

	if (n)
		return n->ino;
	ino = path_hash(path, kind, image);
	if (ino == LIMG_ROOT_INO || ino == LIMG_STATS_INO)
		return ino;
	while ((n = g_hash_table_lookup(r->by_ino, &ino)) != NULL)
		ino = (ino + 1) | (1ull << 62);
	return ino;
}

static fuse_ino_t
ino_of(LimgFs *fs, const char *path, LimgNodeKind kind, const char *image)
{
	fuse_ino_t ino;

	g_mutex_lock(&fs->root->lock);
	ino = ino_locked(fs->root, path, kind, image);
	g_mutex_unlock(&fs->root->lock);
	return ino;
}

/* Count one kernel reference to @path; its node id. */
static fuse_ino_t
hold(LimgRoot *r, const char *path, LimgNodeKind kind, const char *image)
{
	Node *n;

	if (!*path || kind == LIMG_NODE_STATS)
		return path_hash(path, kind, image);
	g_mutex_lock(&r->lock);
	n = g_hash_table_lookup(r->by_path, path);
	if (!n) {
		n = g_new0(Node, 1);
		n->ino = ino_locked(r, path, kind, image);
		n->path = g_strdup(path);
		g_hash_table_insert(r->by_ino, &n->ino, n);
		g_hash_table_insert(r->by_path, n->path, n);
	}
	n->nlookup++;
	g_mutex_unlock(&r->lock);
	return n->ino;
}

void
limg_root_forget(LimgFs *fs, fuse_ino_t ino, uint64_t count)
{
	LimgRoot *r = fs->root;
	uint64_t key = ino;
	Node *n;

	g_mutex_lock(&r->lock);
	n = g_hash_table_lookup(r->by_ino, &key);
	if (n) {
		n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
		if (n->nlookup == 0) {
			g_hash_table_remove(r->by_path, n->path);
			g_hash_table_remove(r->by_ino, &key);
		}
	}
	g_mutex_unlock(&r->lock);
}

static char *child_path(const char *parent, const char *name);

#define ADOPT_MAX_VISITS (4u << 20)

/*
 * The path of node @ino as a previous worker of our keeper gave it out
 * (keeper.h), NULL if none is now: node ids are hashes of paths, so the
 * namespace is searched for the path whose id it is. The node is then
 * held for good, as the kernel's count of it is unknown. (A path whose
 * hash met another's got the next free id from that worker, which
 * depends on the order of lookups: such a node is not found again, and
 * answers ENOENT.)
 */
static char *
adopt_path(LimgFs *fs, fuse_ino_t ino)
{
	g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func(g_free);
	unsigned visits = 0;
	char *found = NULL;

	g_ptr_array_add(todo, g_strdup(""));
	while (todo->len && !found && visits < ADOPT_MAX_VISITS) {
		g_autofree char *dir = g_ptr_array_steal_index_fast(todo, todo->len - 1);
		g_autoptr(GPtrArray) names = NULL;

		if (limg_ns_list(fs, dir, &names) < 0)
			continue;
		for (guint i = 0; i < names->len && !found; i++, visits++) {
			LimgNsName *n = names->pdata[i];
			g_autofree char *cp = child_path(dir, n->name);
			g_autofree char *image = NULL;

			if (n->kind == LIMG_NODE_IMAGE)
				image = g_strndup(cp, strlen(cp) - strlen(LIMG_ISO_SUFFIX));
			if (path_hash(cp, n->kind, image) == ino)
				found = g_steal_pointer(&cp);
			else if (n->kind == LIMG_NODE_DIR)
				g_ptr_array_add(todo, g_steal_pointer(&cp));
		}
	}
	if (found) {
		LimgRoot *r = fs->root;
		uint64_t key = ino;

		g_mutex_lock(&r->lock);
		if (!g_hash_table_lookup(r->by_ino, &key) && !g_hash_table_lookup(r->by_path, found)) {
			Node *n = g_new0(Node, 1);

			n->ino = ino;
			n->path = g_strdup(found);
			n->nlookup = UINT64_MAX / 2;
			g_hash_table_insert(r->by_ino, &n->ino, n);
			g_hash_table_insert(r->by_path, n->path, n);
		}
		g_mutex_unlock(&r->lock);
		limg_log(LIMG_LOG_DEBUG, "node %" G_GUINT64_FORMAT " of a previous worker: %s",
		         (guint64)ino, found);
	}
	return found;
}

/* The path of node @ino (caller frees), or NULL. */
static char *
path_of(LimgFs *fs, fuse_ino_t ino)
{
	uint64_t key = ino;
	char *path = NULL;
	Node *n;

	if (ino == LIMG_ROOT_INO)
		return g_strdup("");
	if (ino == LIMG_STATS_INO)
		return g_strdup(LIMG_STATS_NAME);
	g_mutex_lock(&fs->root->lock);
	n = g_hash_table_lookup(fs->root->by_ino, &key);
	if (n)
		path = g_strdup(n->path);
	g_mutex_unlock(&fs->root->lock);
	/* Unknown: given out by the worker before us? */
	if (!path && fs->worker_start > 1)
		path = adopt_path(fs, ino);
	return path;
}

/* What node @ino is now. 0 or -ENOENT. */
int
limg_root_entry(LimgFs *fs, fuse_ino_t ino, LimgNsEntry *e)
{
	g_autofree char *path = path_of(fs, ino);

	memset(e, 0, sizeof(*e));
	return path ? limg_ns_resolve(fs, path, e) : -ENOENT;
}

unsigned
limg_root_count(LimgFs *fs)
{
	unsigned n;

	g_mutex_lock(&fs->root->lock);
	n = g_hash_table_size(fs->root->by_ino) + 2;
	g_mutex_unlock(&fs->root->lock);
	return n;
}

/* ------------------------------------------------------------ attributes */

void
limg_root_image_attr(LimgFs *fs, LimgGen *gen, fuse_ino_t ino, struct stat *st)
{
	uint64_t size = limg_gen_size(gen);

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	/* The options are checked at mount; a write bit still never gets out. */
	st->st_mode = S_IFREG | (fs->opts.image_mode & 0555);
	st->st_uid = fs->opts.image_uid;
	st->st_gid = fs->opts.image_gid;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blksize = limg_gen_block_size(gen);
	st->st_blocks = (blkcnt_t)(size / 512);
	st->st_mtim.tv_sec = limg_gen_mtime(gen);
	st->st_ctim.tv_sec = limg_gen_mtime(gen);
	st->st_atim.tv_sec = limg_gen_mtime(gen);
}

/* Attributes of entry @e as node @ino; an image's from @gen if given. */
static int
entry_attr(LimgFs *fs, const LimgNsEntry *e, fuse_ino_t ino, LimgGen *gen, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = fs->opts.uid;
	st->st_gid = fs->opts.gid;
	switch (e->kind) {
	case LIMG_NODE_DIR:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case LIMG_NODE_STATS:
		st->st_mode = S_IFREG | 0444;
		st->st_size = 0;   /* generated at open; read with direct_io */
		return 0;
	case LIMG_NODE_TEXT:
		st->st_mode = S_IFREG | 0444;
		st->st_size = (off_t)strlen(e->text);
		return 0;
	case LIMG_NODE_LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(e->target);
		return 0;
	case LIMG_NODE_IMAGE:
		if (gen) {
			limg_root_image_attr(fs, gen, ino, st);
		} else {
			LimgGen *g = NULL;
			int ret = limg_images_get(fs->images, e->image, &g);

			if (ret < 0)
				return ret;
			limg_root_image_attr(fs, g, ino, st);
			limg_gen_unref(g);
		}
		return 0;
	}
	return -EIO;
}

int
limg_root_attr(LimgFs *fs, fuse_ino_t ino, LimgGen *gen, struct stat *st)
{
	g_auto(LimgNsEntry) e = { 0 };
	int ret;

	if (gen) {
		limg_root_image_attr(fs, gen, ino, st);
		return 0;
	}
	ret = limg_root_entry(fs, ino, &e);
	return ret < 0 ? ret : entry_attr(fs, &e, ino, NULL, st);
}

/* ------------------------------------------------------------ lookup, list */

static char *
child_path(const char *parent, const char *name)
{
	return *parent ? g_strconcat(parent, "/", name, NULL) : g_strdup(name);
}

int
limg_root_lookup(LimgFs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *e,
                 LimgGen **gen)
{
	g_autofree char *ppath = path_of(fs, parent);
	g_autofree char *path = NULL;
	g_auto(LimgNsEntry) pe = { 0 };
	g_auto(LimgNsEntry) ce = { 0 };
	LimgGen *g = NULL;
	fuse_ino_t ino;
	int ret;

	if (!ppath)
		return -ENOENT;
	if ((ret = limg_ns_resolve(fs, ppath, &pe)) < 0)
		return ret;
	if (pe.kind != LIMG_NODE_DIR)
		return -ENOTDIR;
	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -ENOENT;
	path = child_path(ppath, name);
	if ((ret = limg_ns_resolve(fs, path, &ce)) < 0)
		return ret;
	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.attr_timeout;
	if (ce.kind == LIMG_NODE_IMAGE) {
		/* Build (or find) the image before the kernel learns of it. */
		ret = limg_images_get(fs->images, ce.image, &g);
		if (ret < 0)
			return ret;
	}
	ino = hold(fs->root, path, ce.kind, ce.image);
	ret = entry_attr(fs, &ce, ino, g, &e->attr);
	/*
	 * Every generation of an image is its own kernel inode: the same node
	 * id (a hash of the path) with a generation number of its own, so a
	 * lookup that meets a new generation makes the kernel fail the old
	 * inode's open files with EIO and start a new one (its own page cache
	 * and size), where they would read another layer's bytes through one
	 * shared inode. The kernel keeps 32 bits; from the layout's digest, so
	 * every worker gives a generation the same number.
	 */
	if (g) {
		uint32_t digest = (uint32_t)limg_gen_digest(g);

		e->generation = digest ? digest : 1;
	}
	if (ret < 0) {
		limg_gen_unref(g);
		limg_root_forget(fs, ino, 1);
		return ret;
	}
	if (gen)
		*gen = g;
	else
		limg_gen_unref(g);
	e->ino = ino;
	return 0;
}

static void
dir_entry_free(gpointer p)
{
	LimgDirEntry *d = p;

	g_free(d->name);
	g_free(d);
}

static void
add_entry(GPtrArray *out, char *name, uint64_t ino, LimgNodeKind kind)
{
	LimgDirEntry *d = g_new(LimgDirEntry, 1);

	d->name = name;
	d->ino = ino;
	d->kind = kind;
	g_ptr_array_add(out, d);
}

int
limg_root_list(LimgFs *fs, fuse_ino_t ino, GPtrArray **out)
{
	g_autofree char *path = path_of(fs, ino);
	g_autoptr(GPtrArray) names = NULL;
	GPtrArray *d;
	int ret;

	if (!path)
		return -ENOENT;
	if ((ret = limg_ns_list(fs, path, &names)) < 0)
		return ret;
	d = g_ptr_array_new_with_free_func(dir_entry_free);
	add_entry(d, g_strdup("."), ino, LIMG_NODE_DIR);
	add_entry(d, g_strdup(".."), ino, LIMG_NODE_DIR);   /* the kernel fills in the real one */
	for (guint i = 0; i < names->len; i++) {
		LimgNsName *n = names->pdata[i];
		g_autofree char *cp = child_path(path, n->name);
		g_autofree char *image = NULL;

		if (n->kind == LIMG_NODE_IMAGE) {
			size_t len = strlen(cp) - strlen(LIMG_ISO_SUFFIX);

			image = g_strndup(cp, len);
		}
		add_entry(d, g_steal_pointer(&n->name), ino_of(fs, cp, n->kind, image), n->kind);
	}
	*out = d;
	return 0;
}

/* ------------------------------------------------------------ events */

void
limg_fs_on_image_event(void *ctx, const char *name, LimgImageEvent event)
{
	LimgFs *fs = ctx;
	g_autofree char *path = g_strconcat(name, LIMG_ISO_SUFFIX, NULL);
	uint64_t ino = 0, parent = 0;
	char *slash = strrchr(path, '/');
	Node *n;

	g_mutex_lock(&fs->root->lock);
	/* Only what the kernel holds can be in its caches. */
	n = g_hash_table_lookup(fs->root->by_path, path);
	if (n)
		ino = n->ino;
	if (!slash) {
		parent = LIMG_ROOT_INO;
	} else {
		*slash = 0;
		n = g_hash_table_lookup(fs->root->by_path, path);
		if (n)
			parent = n->ino;
		*slash = '/';
	}
	g_mutex_unlock(&fs->root->lock);
	if (event == LIMG_IMAGE_CHANGED) {
		if (ino)
			limg_notify_inode(fs->notify, ino);
	} else if (parent) {
		limg_notify_entry(fs->notify, parent, slash ? slash + 1 : path);
	}
}
