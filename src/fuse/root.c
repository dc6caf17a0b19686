/*
 * root.c - the mount's namespace: node ids and what they stand for.
 *
 *   1                 the root directory
 *   2                 .stats
 *   hash of the name  <layer>.iso (FNV-1a of the layer name with bit 62
 *                     set, so ids are the same across mounts and never
 *                     meet the small fixed ones)
 *
 * The kernel holds a node from a lookup until it forgets it; the table
 * below keeps, per image node it holds, the name and the lookup count,
 * and drops the node at the last forget. Attributes always come from the
 * image service: a node whose layer left the store answers ENOENT.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse/fs-internal.h"
#include "util/log.h"

typedef struct {
	fuse_ino_t ino;
	char *name;             /* image name */
	uint64_t nlookup;       /* kernel references */
} Node;

struct LimgRoot {
	GMutex lock;
	/* protected by lock */
	GHashTable *by_ino;     /* &ino -> Node * (owns) */
	GHashTable *by_name;    /* name -> Node * */
};

static void
node_free(gpointer p)
{
	Node *n = p;

	g_free(n->name);
	g_free(n);
}

LimgRoot *
limg_root_new(void)
{
	LimgRoot *r = g_new0(LimgRoot, 1);

	g_mutex_init(&r->lock);
	r->by_ino = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, node_free);
	r->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	return r;
}

void
limg_root_free(LimgRoot *r)
{
	if (!r)
		return;
	g_hash_table_destroy(r->by_name);
	g_hash_table_destroy(r->by_ino);
	g_mutex_clear(&r->lock);
	g_free(r);
}

static uint64_t
name_hash(const char *name)
{
	/* FNV-1a, high bit set so it never meets small reserved numbers. */
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h | (1ull << 62);
}

/* The id of image @name; r->lock held. Another name on its hash: the next free one. */
static fuse_ino_t
ino_locked(LimgRoot *r, const char *name)
{
	Node *n = g_hash_table_lookup(r->by_name, name);
	uint64_t ino;

	if (n)
		return n->ino;
	ino = name_hash(name);
	while ((n = g_hash_table_lookup(r->by_ino, &ino)) != NULL)
		ino = (ino + 1) | (1ull << 62);
	return ino;
}

fuse_ino_t
limg_root_image_ino(LimgFs *fs, const char *name)
{
	fuse_ino_t ino;

	g_mutex_lock(&fs->root->lock);
	ino = ino_locked(fs->root, name);
	g_mutex_unlock(&fs->root->lock);
	return ino;
}

/* Count one kernel reference to image @name; its node id. */
static fuse_ino_t
hold_image(LimgRoot *r, const char *name)
{
	Node *n;

	g_mutex_lock(&r->lock);
	n = g_hash_table_lookup(r->by_name, name);
	if (!n) {
		n = g_new0(Node, 1);
		n->ino = ino_locked(r, name);
		n->name = g_strdup(name);
		g_hash_table_insert(r->by_ino, &n->ino, n);
		g_hash_table_insert(r->by_name, n->name, n);
		if (n->ino != name_hash(name))
			limg_log(LIMG_LOG_DEBUG, "%s.iso: node id hash taken, using the next one", name);
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
			g_hash_table_remove(r->by_name, n->name);
			g_hash_table_remove(r->by_ino, &key);
		}
	}
	g_mutex_unlock(&r->lock);
}

char *
limg_root_image_name(LimgFs *fs, fuse_ino_t ino)
{
	uint64_t key = ino;
	char *name = NULL;
	Node *n;

	g_mutex_lock(&fs->root->lock);
	n = g_hash_table_lookup(fs->root->by_ino, &key);
	if (n)
		name = g_strdup(n->name);
	g_mutex_unlock(&fs->root->lock);
	return name;
}

int
limg_root_kind(LimgFs *fs, fuse_ino_t ino, LimgNodeKind *kind)
{
	g_autofree char *name = NULL;

	if (ino == LIMG_ROOT_INO) {
		*kind = LIMG_NODE_DIR;
		return 0;
	}
	if (ino == LIMG_STATS_INO) {
		*kind = LIMG_NODE_STATS;
		return 0;
	}
	name = limg_root_image_name(fs, ino);
	if (!name)
		return -ENOENT;
	*kind = LIMG_NODE_IMAGE;
	return 0;
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

static void
dir_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
}

static void
stats_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = LIMG_STATS_INO;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = 0;   /* generated at open; read with direct_io */
}

void
limg_root_image_attr(LimgGen *gen, fuse_ino_t ino, struct stat *st)
{
	uint64_t size = limg_gen_size(gen);

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blksize = limg_gen_block_size(gen);
	st->st_blocks = (blkcnt_t)(size / 512);
	st->st_mtim.tv_sec = limg_gen_mtime(gen);
	st->st_ctim.tv_sec = limg_gen_mtime(gen);
	st->st_atim.tv_sec = limg_gen_mtime(gen);
}

int
limg_root_attr(LimgFs *fs, fuse_ino_t ino, LimgGen *gen, struct stat *st)
{
	g_autofree char *name = NULL;
	LimgGen *g = NULL;
	int ret;

	if (ino == LIMG_ROOT_INO) {
		dir_attr(ino, st);
		return 0;
	}
	if (ino == LIMG_STATS_INO) {
		stats_attr(st);
		return 0;
	}
	if (gen) {
		limg_root_image_attr(gen, ino, st);
		return 0;
	}
	name = limg_root_image_name(fs, ino);
	if (!name)
		return -ENOENT;
	ret = limg_images_get(fs->images, name, &g);
	if (ret < 0)
		return ret;
	limg_root_image_attr(g, ino, st);
	limg_gen_unref(g);
	return 0;
}

/* ------------------------------------------------------------ lookup, list */

/* "<layer>.iso" -> "<layer>", or NULL. Caller frees. */
static char *
image_name_of(const char *entry)
{
	size_t len = strlen(entry), sl = strlen(LIMG_ISO_SUFFIX);

	if (len <= sl || strcmp(entry + len - sl, LIMG_ISO_SUFFIX) != 0)
		return NULL;
	return g_strndup(entry, len - sl);
}

int
limg_root_lookup(LimgFs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	g_autofree char *image = NULL;
	LimgGen *g = NULL;
	int ret;

	if (parent != LIMG_ROOT_INO)
		return parent == LIMG_STATS_INO || limg_root_image_name(fs, parent) ? -ENOTDIR :
		       -ENOENT;
	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.attr_timeout;
	if (strcmp(name, LIMG_STATS_NAME) == 0) {
		e->ino = LIMG_STATS_INO;
		stats_attr(&e->attr);
		return 0;
	}
	image = image_name_of(name);
	if (!image)
		return -ENOENT;
	ret = limg_images_get(fs->images, image, &g);
	if (ret < 0)
		return ret;
	e->ino = hold_image(fs->root, image);
	limg_root_image_attr(g, e->ino, &e->attr);
	limg_gen_unref(g);
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
	g_autoptr(GPtrArray) layers = NULL;
	GPtrArray *d;

	if (ino != LIMG_ROOT_INO)
		return -ENOTDIR;
	layers = limg_store_list(limg_images_store(fs->images));
	d = g_ptr_array_new_with_free_func(dir_entry_free);
	add_entry(d, g_strdup("."), LIMG_ROOT_INO, LIMG_NODE_DIR);
	add_entry(d, g_strdup(".."), LIMG_ROOT_INO, LIMG_NODE_DIR);
	add_entry(d, g_strdup(LIMG_STATS_NAME), LIMG_STATS_INO, LIMG_NODE_STATS);
	for (guint i = 0; i < layers->len; i++) {
		const LimgLayerInfo *li = layers->pdata[i];

		add_entry(d, g_strconcat(li->id, LIMG_ISO_SUFFIX, NULL),
		          limg_root_image_ino(fs, li->id), LIMG_NODE_IMAGE);
	}
	*out = d;
	return 0;
}

/* ------------------------------------------------------------ events */

void
limg_fs_on_image_event(void *ctx, const char *name, LimgImageEvent event)
{
	LimgFs *fs = ctx;

	if (event == LIMG_IMAGE_CHANGED) {
		g_autofree char *held = NULL;
		fuse_ino_t ino = limg_root_image_ino(fs, name);

		/* Only a node the kernel holds can have cached pages. */
		held = limg_root_image_name(fs, ino);
		if (held && strcmp(held, name) == 0)
			limg_notify_inode(fs->notify, ino);
	} else {
		g_autofree char *entry = g_strconcat(name, LIMG_ISO_SUFFIX, NULL);

		limg_notify_entry(fs->notify, LIMG_ROOT_INO, entry);
	}
}
