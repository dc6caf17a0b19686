/*
 * fs.c - FUSE low-level operations; see fs.h.
 *
 * Inodes: 1 the root directory, 2 .stats, 3.. images in the order they
 * were first looked up (node ids). st_ino of an image is a hash of its
 * layer name, so it is the same across mounts.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "cache/blockcache.h"
#include "cache/persist.h"
#include "cache/precompute.h"
#include "fuse/fs.h"
#include "iso/layout.h"
#include "iso/render.h"
#include "source/source.h"
#include "util/log.h"

#define ROOT_INO   FUSE_ROOT_ID
#define STATS_INO  2
#define FIRST_IMAGE_INO 3
#define STATS_NAME ".stats"
#define ISO_SUFFIX ".iso"
#define FD_SLOTS   256
#define ZERO_CHUNK (256 * 1024)
#define PRERENDER_BLOCKS 512      /* 1 MiB of metadata per image */

static const uint8_t zeros[ZERO_CHUNK];

typedef struct Gen Gen;

/* One image: a layer name and its current generation. */
typedef struct {
	char *name;             /* layer name, without ".iso" */
	fuse_ino_t nodeid;
	uint64_t st_ino;
	GMutex lock;
	GCond cond;
	/* protected by lock */
	Gen *gen;               /* current generation, or NULL */
	bool building;
	bool stale;             /* a source file changed: lay out again */
	int error;              /* last build error (-errno), 0 if none */
	uint64_t dev, ino;      /* identity of the layer directory of @gen */
	int64_t mtime;
	uint64_t next_gen;
} Image;

/* A generation of an image: immutable layout + lazily rendered blocks. */
struct Gen {
	gint ref;
	LimgFs *fs;
	LimgLayout *layout;
	int root_fd;
	uint64_t number;
	GMutex dir_lock;
	/* protected by dir_lock: the parent directory of the last file opened */
	int dir_fd;
	uint32_t dir_node;
};

typedef struct {
	Gen *gen;               /* NULL: free slot */
	uint32_t node;
	int fd;
	int refs;
	uint64_t used;
} FdSlot;

typedef struct {
	gint64 images_laid_out;
	gint64 layouts;
	gint64 meta_rendered;
	gint64 bytes_meta;
	gint64 bytes_data;
	gint64 bytes_zero;
	gint64 read_errors;
	gint64 source_changes;
	gint64 layout_usec;
	gint64 walks;
	gint64 walk_usec;
	gint64 disk_hits;
	gint64 disk_misses;
	gint64 disk_rejected;
	gint64 disk_writes;
	gint64 entries_laid_out;
} Stats;

struct LimgFs {
	LimgStore *store;
	LimgFsOptions opts;
	struct fuse_session *se;
	GMutex lock;
	/* protected by lock */
	GHashTable *by_name;    /* char * -> Image * */
	GPtrArray *by_ino;      /* Image *, index = nodeid - FIRST_IMAGE_INO */
	GMutex fd_lock;
	/* protected by fd_lock */
	FdSlot slots[FD_SLOTS];
	uint64_t clock;
	Stats stats;            /* atomics */
	LimgBlockCache *blocks;
	LimgPrecompute *pre;
	gint disk_off;          /* atomic: cache dir unusable, memory only */
	char *mountpoint;
	unsigned readahead_kb;
	gsize after_init;       /* g_once: work after the kernel's INIT */
	gint64 started_us;
};

typedef struct {
	Gen *gen;               /* images */
	GBytes *stats;          /* .stats snapshot */
} OpenFile;

static void
stat_add(gint64 *counter, gint64 n)
{
	/* glib has no 64-bit atomic add; use the compiler's. */
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static gint64
stat_get(gint64 *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ fd cache */

static void
fd_purge_gen(LimgFs *fs, Gen *g)
{
	g_mutex_lock(&fs->fd_lock);
	for (int i = 0; i < FD_SLOTS; i++) {
		FdSlot *s = &fs->slots[i];

		if (s->gen == g) {
			g_assert(s->refs == 0);
			close(s->fd);
			s->gen = NULL;
		}
	}
	g_mutex_unlock(&fs->fd_lock);
}

/*
 * Open file @node of @g. Files are read in node order, so siblings come
 * together: keep the parent directory open and open each file as one
 * O_NOFOLLOW component of it instead of resolving its whole path.
 */
static int
gen_open_file(Gen *g, uint32_t node)
{
	const LimgTree *t = limg_layout_tree(g->layout);
	uint32_t parent = t->nodes[node].parent;
	int fd;

	g_mutex_lock(&g->dir_lock);
	if (g->dir_fd < 0 || g->dir_node != parent) {
		int dfd = limg_source_open_dir(g->root_fd, t, parent);

		if (dfd < 0) {
			g_mutex_unlock(&g->dir_lock);
			return dfd;
		}
		if (g->dir_fd >= 0)
			close(g->dir_fd);
		g->dir_fd = dfd;
		g->dir_node = parent;
	}
	fd = limg_source_open_node_at(g->dir_fd, t, node);
	g_mutex_unlock(&g->dir_lock);
	return fd;
}

/*
 * Borrow an fd for @node of @g; *slot is -1 when the fd is not cached.
 * *fresh says it was just opened (and so just checked against the layout).
 */
static int
fd_get(LimgFs *fs, Gen *g, uint32_t node, int *slot, bool *fresh)
{
	int fd, victim = -1;

	*fresh = false;
	g_mutex_lock(&fs->fd_lock);
	for (int i = 0; i < FD_SLOTS; i++) {
		FdSlot *s = &fs->slots[i];

		if (s->gen == g && s->node == node) {
			s->refs++;
			s->used = ++fs->clock;
			*slot = i;
			fd = s->fd;
			g_mutex_unlock(&fs->fd_lock);
			return fd;
		}
	}
	g_mutex_unlock(&fs->fd_lock);

	fd = gen_open_file(g, node);
	if (fd < 0)
		return fd;
	*fresh = true;

	g_mutex_lock(&fs->fd_lock);
	for (int i = 0; i < FD_SLOTS; i++) {
		FdSlot *s = &fs->slots[i];

		if (!s->gen) {
			victim = i;
			break;
		}
		if (s->refs == 0 && (victim < 0 || s->used < fs->slots[victim].used))
			victim = i;
	}
	*slot = victim;
	if (victim >= 0) {
		FdSlot *s = &fs->slots[victim];

		if (s->gen)
			close(s->fd);
		s->gen = g;
		s->node = node;
		s->fd = fd;
		s->refs = 1;
		s->used = ++fs->clock;
	}
	g_mutex_unlock(&fs->fd_lock);
	return fd;
}

static void
fd_put(LimgFs *fs, int slot, int fd)
{
	if (slot < 0) {
		close(fd);
		return;
	}
	g_mutex_lock(&fs->fd_lock);
	fs->slots[slot].refs--;
	g_mutex_unlock(&fs->fd_lock);
}

/* ------------------------------------------------------------ generations */

static Gen *
gen_ref(Gen *g)
{
	g_atomic_int_inc(&g->ref);
	return g;
}

static void
gen_unref(Gen *g)
{
	if (!g || !g_atomic_int_dec_and_test(&g->ref))
		return;
	fd_purge_gen(g->fs, g);
	limg_block_cache_drop_owner(g->fs->blocks, g);
	limg_layout_unref(g->layout);
	close(g->root_fd);
	if (g->dir_fd >= 0)
		close(g->dir_fd);
	g_mutex_clear(&g->dir_lock);
	g_free(g);
}

static int
render_gen_block(gconstpointer owner, uint32_t lba, uint8_t *buf)
{
	const Gen *g = owner;
	int ret = limg_render_block(g->layout, lba, buf);

	if (ret == 0)
		stat_add(&g->fs->stats.meta_rendered, 1);
	return ret;
}

/* Metadata block @lba of @g from the block cache (a new reference). */
static GBytes *
gen_meta_block(Gen *g, uint32_t lba)
{
	return limg_block_cache_get(g->fs->blocks, g, lba, render_gen_block);
}

/* Newest ctime in @t, in ms: a layer still being written is young. */
static int64_t
tree_newest_ctime_ms(const LimgTree *t)
{
	int64_t newest = INT64_MIN;

	for (uint32_t i = 0; i < t->n_nodes; i++)
		newest = MAX(newest, t->nodes[i].ctime.sec * 1000 + t->nodes[i].ctime.nsec / 1000000);
	return newest;
}

static void
disk_cache_failed(LimgFs *fs, const char *what, int err)
{
	if (g_atomic_int_compare_and_exchange(&fs->disk_off, 0, 1))
		limg_log(LIMG_LOG_WARN, "cache directory %s: %s: %s; continuing with the "
		         "memory cache only", fs->opts.cache_dir, what, g_strerror(-err));
}

/*
 * The tree of @info's layer: from the disk cache when it holds this
 * layer's identity and fingerprint (and the policy trusts it), else by a
 * walk. With @settle_ms, a walked tree whose newest change is younger
 * than that is refused (-EAGAIN, *retry_at_us set): the layer is still
 * being extracted.
 */
static int
gen_tree(LimgFs *fs, Image *img, const LimgLayerInfo *info, int fd, const LimgPersistKey *key,
         bool allow_disk, uint32_t settle_ms, int64_t *retry_at_us, LimgTree **out,
         bool *from_disk)
{
	/*
	 * A request waits for this walk: use the cores. Background builds
	 * (settle_ms > 0) stay on their one low-priority worker thread.
	 */
	LimgScanOptions sopts = { .xattrs = fs->opts.xattrs,
	                          .threads = settle_ms ? 1 : MIN(4u, g_get_num_processors()) };
	LimgReport report;
	uint64_t skipped = 0;
	gint64 t0;
	int ret;

	*from_disk = false;
	if (allow_disk && fs->opts.cache_dir && !fs->opts.verify_walk &&
	    !g_atomic_int_get(&fs->disk_off)) {
		ret = limg_persist_load(fs->opts.cache_dir, key, out);
		if (ret == 0 && limg_source_verify_dirs(fd, *out) < 0) {
			/* An entry was added, removed or renamed below the top. */
			limg_tree_free(*out);
			*out = NULL;
			ret = -ESTALE;
		}
		if (ret == 0) {
			stat_add(&fs->stats.disk_hits, 1);
			*from_disk = true;
			return 0;
		}
		if (ret == -ENOENT) {
			stat_add(&fs->stats.disk_misses, 1);
		} else {
			stat_add(&fs->stats.disk_rejected, 1);
			limg_log(LIMG_LOG_INFO, "%s.iso: cached layout %s; walking the layer again",
			         img->name, ret == -ESTALE ? "is for another version of the layer" :
			         ret == -EBADMSG ? "is truncated, corrupt or of an older format" :
			         g_strerror(-ret));
		}
	}
	t0 = g_get_monotonic_time();
	limg_report_init(&report);
	ret = limg_source_dir_scan(fd, &sopts, &report, out, &skipped);
	for (guint i = 0; i < report.warnings->len; i++)
		limg_log(LIMG_LOG_WARN, "%s.iso: %s", img->name, (char *)report.warnings->pdata[i]);
	limg_report_release(&report);
	stat_add(&fs->stats.walks, 1);
	stat_add(&fs->stats.walk_usec, g_get_monotonic_time() - t0);
	if (ret < 0) {
		limg_log(LIMG_LOG_ERR, "%s.iso: %s: %s", img->name, info->path, g_strerror(-ret));
		return ret;
	}
	if (settle_ms) {
		int64_t age_ms = ((int64_t)g_get_real_time() / 1000) - tree_newest_ctime_ms(*out);

		if (age_ms < (int64_t)settle_ms) {
			limg_tree_free(*out);
			*out = NULL;
			*retry_at_us = g_get_monotonic_time() +
			               ((int64_t)settle_ms - MAX(age_ms, 0)) * 1000 + 1000;
			return -EAGAIN;
		}
	}
	return 0;
}

/*
 * Lay out @info's layer. Returns a new generation, or NULL with *err set
 * (-EAGAIN: not settled, see gen_tree()).
 */
static Gen *
gen_build(LimgFs *fs, Image *img, const LimgLayerInfo *info, uint64_t number,
          uint32_t settle_ms, int64_t *retry_at_us, int *err)
{
	LimgTree *tree = NULL;
	LimgLayout *layout = NULL;
	LimgPersistKey key;
	LimgReport report;
	gint64 t0 = g_get_monotonic_time();
	bool from_disk = false;
	Gen *g;
	int fd, ret;

	fd = open(info->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*err = -errno;
		limg_log(LIMG_LOG_ERR, "%s: %s: %s", img->name, info->path, g_strerror(errno));
		return NULL;
	}
	ret = limg_persist_key_from_fd(&key, info->path, fd);
	if (ret == 0)
		/*
		 * Only the first generation may come from the disk cache: a
		 * rebuild means the layer changed, and its directory's
		 * fingerprint does not see changes below the top level.
		 */
		ret = gen_tree(fs, img, info, fd, &key, number == 1, settle_ms, retry_at_us,
		               &tree, &from_disk);
	if (ret < 0) {
		close(fd);
		*err = ret;
		return NULL;
	}
	limg_report_init(&report);
	ret = limg_layout_build(tree, NULL, &report, &layout);
	for (guint i = 0; i < report.errors->len; i++)
		limg_log(LIMG_LOG_ERR, "%s.iso: %s", img->name, (char *)report.errors->pdata[i]);
	limg_report_release(&report);
	if (ret < 0) {
		limg_log(LIMG_LOG_ERR, "%s.iso: image refused: %s", img->name, g_strerror(-ret));
		close(fd);
		*err = ret;
		return NULL;
	}
	if (!from_disk && fs->opts.cache_dir && !g_atomic_int_get(&fs->disk_off)) {
		ret = limg_persist_save(fs->opts.cache_dir, &key, limg_layout_tree(layout), NULL);
		if (ret < 0)
			disk_cache_failed(fs, "cannot save a layout", ret);
		else
			stat_add(&fs->stats.disk_writes, 1);
	}
	g = g_new0(Gen, 1);
	g->ref = 1;
	g->fs = fs;
	g->layout = layout;
	g->root_fd = fd;
	g->number = number;
	g->dir_fd = -1;
	g_mutex_init(&g->dir_lock);
	stat_add(&fs->stats.layouts, 1);
	stat_add(&fs->stats.layout_usec, g_get_monotonic_time() - t0);
	stat_add(&fs->stats.entries_laid_out, limg_layout_tree(layout)->n_nodes);
	limg_log(LIMG_LOG_DEBUG, "%s.iso: generation %" G_GUINT64_FORMAT ", %u entries, "
	         "%" G_GUINT64_FORMAT " bytes%s", img->name, number,
	         limg_layout_tree(layout)->n_nodes, limg_layout_size(layout),
	         from_disk ? " (from the disk cache)" : "");
	return g;
}

typedef struct {
	struct fuse_session *se;
	fuse_ino_t ino;
} InvalJob;

static gpointer
inval_thread(gpointer data)
{
	InvalJob *j = data;

	/* Never from a request handler: the kernel may wait on that request. */
	fuse_lowlevel_notify_inval_inode(j->se, j->ino, 0, 0);
	g_free(j);
	return NULL;
}

/*
 * The current generation of @img, built if there is none, it went stale,
 * or the layer directory was replaced. Concurrent callers wait for one
 * build. @known is the layer as the caller just looked it up (taken;
 * NULL: look it up here). Returns a reference, or NULL with *err set.
 */
static Gen *
image_gen_settled(LimgFs *fs, Image *img, LimgLayerInfo *known, uint32_t settle_ms,
                  int64_t *retry_at_us, int *err)
{
	g_autoptr(LimgLayerInfo) info = known ? known : limg_store_lookup(fs->store, img->name);
	Gen *g, *old = NULL;
	uint64_t number;
	bool invalidate = false;

	g_mutex_lock(&img->lock);
	for (;;) {
		if (!info) {
			/* The layer is gone: forget the image. */
			old = img->gen;
			img->gen = NULL;
			g_mutex_unlock(&img->lock);
			gen_unref(old);
			*err = -ENOENT;
			return NULL;
		}
		if (img->gen && !img->stale && img->dev == info->dev && img->ino == info->ino) {
			g = gen_ref(img->gen);
			g_mutex_unlock(&img->lock);
			return g;
		}
		if (!img->building)
			break;
		g_cond_wait(&img->cond, &img->lock);
	}
	img->building = true;
	number = ++img->next_gen;
	invalidate = img->gen != NULL;
	g_mutex_unlock(&img->lock);

	g = gen_build(fs, img, info, number, settle_ms, retry_at_us, err);

	g_mutex_lock(&img->lock);
	img->building = false;
	if (!g && *err == -EAGAIN) {
		/* Not settled: nothing to record; a request will build it. */
	} else if (g) {
		old = img->gen;
		img->gen = gen_ref(g);
		img->stale = false;
		img->error = 0;
		img->dev = info->dev;
		img->ino = info->ino;
		img->mtime = info->mtime;
	} else {
		img->error = *err;
	}
	g_cond_broadcast(&img->cond);
	g_mutex_unlock(&img->lock);
	gen_unref(old);
	if (g && invalidate && fs->se) {
		InvalJob *j = g_new(InvalJob, 1);

		j->se = fs->se;
		j->ino = img->nodeid;
		g_thread_unref(g_thread_new("limg-inval", inval_thread, j));
	}
	return g;
}

static Gen *
image_gen(LimgFs *fs, Image *img, LimgLayerInfo *known, int *err)
{
	int64_t unused;

	return image_gen_settled(fs, img, known, 0, &unused, err);
}

static void
image_mark_stale(Image *img, Gen *g)
{
	g_mutex_lock(&img->lock);
	if (img->gen == g)
		img->stale = true;
	g_mutex_unlock(&img->lock);
}

static uint64_t
name_ino(const char *name)
{
	/* FNV-1a, high bit set so it never meets small reserved numbers. */
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h | (1ull << 62);
}

/* The image for layer @name, created on first use. Never freed. */
static Image *
image_get(LimgFs *fs, const char *name)
{
	Image *img;

	g_mutex_lock(&fs->lock);
	img = g_hash_table_lookup(fs->by_name, name);
	if (!img) {
		img = g_new0(Image, 1);
		img->name = g_strdup(name);
		img->nodeid = FIRST_IMAGE_INO + fs->by_ino->len;
		img->st_ino = name_ino(name);
		g_mutex_init(&img->lock);
		g_cond_init(&img->cond);
		g_ptr_array_add(fs->by_ino, img);
		g_hash_table_insert(fs->by_name, img->name, img);
	}
	g_mutex_unlock(&fs->lock);
	return img;
}

static Image *
image_by_ino(LimgFs *fs, fuse_ino_t ino)
{
	Image *img = NULL;

	g_mutex_lock(&fs->lock);
	if (ino >= FIRST_IMAGE_INO && ino - FIRST_IMAGE_INO < fs->by_ino->len)
		img = fs->by_ino->pdata[ino - FIRST_IMAGE_INO];
	g_mutex_unlock(&fs->lock);
	return img;
}

static void
image_free(gpointer p)
{
	Image *img = p;

	gen_unref(img->gen);
	g_mutex_clear(&img->lock);
	g_cond_clear(&img->cond);
	g_free(img->name);
	g_free(img);
}

/* ------------------------------------------------------------ attributes */

static void
root_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ROOT_INO;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
}

static void
stats_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = STATS_INO;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = 0;   /* generated at open; read with direct_io */
}

static void
image_attr(const Image *img, const Gen *g, struct stat *st)
{
	uint64_t size = limg_layout_size(g->layout);

	memset(st, 0, sizeof(*st));
	st->st_ino = img->st_ino;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blksize = ISO_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)(size / 512);
	st->st_mtim.tv_sec = img->mtime;
	st->st_ctim.tv_sec = img->mtime;
	st->st_atim.tv_sec = img->mtime;
}

static char *
stats_text(LimgFs *fs)
{
	GString *s = g_string_new(NULL);
	guint known, ready = 0, failed = 0, building = 0, in_store;
	LimgBlockCacheStats bc;
	LimgPrecomputeStats ps;

	g_mutex_lock(&fs->lock);
	known = fs->by_ino->len;
	for (guint i = 0; i < fs->by_ino->len; i++) {
		Image *img = fs->by_ino->pdata[i];

		g_mutex_lock(&img->lock);
		ready += img->gen != NULL;
		failed += img->gen == NULL && img->error != 0;
		building += img->building;
		g_mutex_unlock(&img->lock);
	}
	g_mutex_unlock(&fs->lock);
	limg_block_cache_stats(fs->blocks, &bc);
	limg_precompute_stats(fs->pre, &ps);
	{
		g_autoptr(GPtrArray) layers = limg_store_list(fs->store);

		in_store = layers->len;
		g_string_append_printf(s, "layers_in_store %u\n", in_store);
	}
	g_string_append_printf(s, "images_known %u\n", known);
	g_string_append_printf(s, "images_laid_out %u\n", ready);
	g_string_append_printf(s, "layouts_built %" G_GINT64_FORMAT "\n", stat_get(&fs->stats.layouts));
	g_string_append_printf(s, "layout_seconds %.3f\n", stat_get(&fs->stats.layout_usec) / 1e6);
	g_string_append_printf(s, "meta_blocks_rendered %" G_GINT64_FORMAT "\n",
	                       stat_get(&fs->stats.meta_rendered));
	g_string_append_printf(s, "bytes_served_meta %" G_GINT64_FORMAT "\n", stat_get(&fs->stats.bytes_meta));
	g_string_append_printf(s, "bytes_served_data %" G_GINT64_FORMAT "\n", stat_get(&fs->stats.bytes_data));
	g_string_append_printf(s, "bytes_served_zero %" G_GINT64_FORMAT "\n", stat_get(&fs->stats.bytes_zero));
	g_string_append_printf(s, "read_errors %" G_GINT64_FORMAT "\n", stat_get(&fs->stats.read_errors));
	g_string_append_printf(s, "source_changes %" G_GINT64_FORMAT "\n",
	                       stat_get(&fs->stats.source_changes));
	/* Pending: layers of the store without a ready or failed image yet. */
	g_string_append_printf(s, "images_ready %u\nimages_pending %u\nimages_failed %u\n",
	                       ready, in_store > ready + failed ? in_store - ready - failed : 0,
	                       failed);
	g_string_append_printf(s, "images_building %u\n", building);
	g_string_append_printf(s, "queue_length %u\nqueue_settling %u\nqueue_running %u\n",
	                       ps.queued, ps.delayed, ps.running);
	g_string_append_printf(s, "walks %" G_GINT64_FORMAT "\nwalk_seconds %.3f\n",
	                       stat_get(&fs->stats.walks), stat_get(&fs->stats.walk_usec) / 1e6);
	g_string_append_printf(s, "cache_mem_hits %" G_GUINT64_FORMAT "\ncache_mem_misses %"
	                       G_GUINT64_FORMAT "\ncache_mem_evictions %" G_GUINT64_FORMAT "\n",
	                       bc.hits, bc.misses, bc.evictions);
	g_string_append_printf(s, "cache_mem_bytes %" G_GUINT64_FORMAT "\ncache_mem_budget %"
	                       G_GUINT64_FORMAT "\n", bc.bytes, bc.budget);
	g_string_append_printf(s, "cache_disk_hits %" G_GINT64_FORMAT "\ncache_disk_misses %"
	                       G_GINT64_FORMAT "\ncache_disk_rejected %" G_GINT64_FORMAT
	                       "\ncache_disk_writes %" G_GINT64_FORMAT "\n",
	                       stat_get(&fs->stats.disk_hits), stat_get(&fs->stats.disk_misses),
	                       stat_get(&fs->stats.disk_rejected), stat_get(&fs->stats.disk_writes));
	g_string_append_printf(s, "cache_disk_bytes %" G_GUINT64_FORMAT "\ncache_disk_enabled %d\n",
	                       fs->opts.cache_dir && !g_atomic_int_get(&fs->disk_off) ?
	                       limg_persist_dir_bytes(fs->opts.cache_dir) : 0,
	                       fs->opts.cache_dir && !g_atomic_int_get(&fs->disk_off));
	return g_string_free(s, FALSE);
}

/*
 * Kernel readahead of this mount's own backing device (bdi): sequential
 * buffered readers then send large requests. Found through mountinfo,
 * since a stat() of the mount point from the daemon could wait on
 * itself. The kernel sets the bdi's readahead when it gets our INIT
 * reply, so this runs at the first request after it. Best effort.
 */
static void
set_readahead(const char *mountpoint, unsigned kb)
{
	g_autofree char *info = NULL, *canon = g_canonicalize_filename(mountpoint, NULL);
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/self/mountinfo", &info, NULL, NULL))
		return;
	lines = g_strsplit(info, "\n", -1);
	for (guint i = g_strv_length(lines); i > 0; i--) {
		g_auto(GStrv) f = g_strsplit(lines[i - 1], " ", 6);
		g_autofree char *path = NULL, *val = NULL;

		if (g_strv_length(f) < 5 || strcmp(f[4], canon) != 0)
			continue;
		path = g_strdup_printf("/sys/class/bdi/%s/read_ahead_kb", f[2]);
		val = g_strdup_printf("%u", kb);
		{
			/* sysfs: write in place (g_file_set_contents renames). */
			int fd = open(path, O_WRONLY | O_CLOEXEC);

			if (fd < 0 || write(fd, val, strlen(val)) < 0)
				limg_log(LIMG_LOG_DEBUG, "cannot set %s: %s", path, g_strerror(errno));
			if (fd >= 0)
				close(fd);
		}
		return;
	}
}

static void
once_after_init(LimgFs *fs)
{
	if (g_once_init_enter(&fs->after_init)) {
		if (fs->readahead_kb && fs->mountpoint)
			set_readahead(fs->mountpoint, fs->readahead_kb);
		g_once_init_leave(&fs->after_init, 1);
	}
}

/* ------------------------------------------------------------ operations */

#define FS(req) ((LimgFs *)fuse_req_userdata(req))

static LimgBuildResult
precompute_build(void *ctx, const char *name, uint32_t settle_ms, int64_t *retry_at_us)
{
	LimgFs *fs = ctx;
	LimgLayerInfo *info = limg_store_lookup(fs->store, name);
	Image *img;
	Gen *g;
	int err = 0;

	if (!info)
		return LIMG_BUILD_DONE;   /* not a layer (yet): a later event requeues */
	if (!limg_store_layer_complete(fs->store, info)) {
		/* overlay2: diff/ is there but link is not written yet. */
		limg_layer_info_free(info);
		*retry_at_us = g_get_monotonic_time() + (int64_t)MAX(settle_ms, 100u) * 1000;
		return LIMG_BUILD_RETRY;
	}
	img = image_get(fs, name);
	g = image_gen_settled(fs, img, info, settle_ms, retry_at_us, &err);
	if (!g)
		return err == -EAGAIN ? LIMG_BUILD_RETRY : LIMG_BUILD_FAILED;
	if (fs->opts.foreground) {
		LimgPrecomputeStats ps;
		gint64 entries = stat_get(&fs->stats.entries_laid_out);
		double secs = (g_get_monotonic_time() - fs->started_us) / 1e6;

		limg_precompute_stats(fs->pre, &ps);
		limg_log(LIMG_LOG_INFO, "precompute: %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
		         " layers ready (%s.iso, %u entries), %u settling; %.0f entries/s",
		         ps.done + 1, ps.done + ps.queued + ps.delayed + ps.running, name,
		         limg_layout_tree(g->layout)->n_nodes, ps.delayed,
		         secs > 0 ? entries / secs : 0.0);
	}
	/*
	 * Ready means ready to serve: render the first metadata blocks (what
	 * a guest reads to mount the image) into the block cache now, so
	 * the first read at container start is only copies.
	 */
	{
		uint32_t n = MIN(limg_layout_meta_blocks(g->layout), PRERENDER_BLOCKS);

		for (uint32_t lba = ISO_SYSTEM_AREA; lba < n; lba++) {
			GBytes *b = gen_meta_block(g, lba);

			if (b)
				g_bytes_unref(b);
		}
	}
	gen_unref(g);
	return LIMG_BUILD_DONE;
}

typedef struct {
	struct fuse_session *se;
	char *name;
} EntryInval;

static gpointer
inval_entry_thread(gpointer data)
{
	EntryInval *j = data;

	fuse_lowlevel_notify_inval_entry(j->se, ROOT_INO, j->name, strlen(j->name));
	g_free(j->name);
	g_free(j);
	return NULL;
}

/* The layer directory @name left the store: drop its image and cache. */
static void
precompute_forget(void *ctx, const char *name)
{
	LimgFs *fs = ctx;
	Image *img;
	Gen *old;

	g_mutex_lock(&fs->lock);
	img = g_hash_table_lookup(fs->by_name, name);
	g_mutex_unlock(&fs->lock);
	if (!img)
		return;
	{
		g_autoptr(LimgLayerInfo) still = limg_store_lookup(fs->store, name);

		if (still)
			return;   /* replaced meanwhile: the new one is served */
	}
	g_mutex_lock(&img->lock);
	old = img->gen;
	img->gen = NULL;
	g_mutex_unlock(&img->lock);
	if (old) {
		limg_log(LIMG_LOG_INFO, "%s.iso: layer removed; image dropped", name);
		gen_unref(old);
	}
	if (fs->opts.cache_dir) {
		g_autofree char *dir = g_build_filename(limg_store_source(fs->store), name, NULL);
		g_autofree char *diff = g_build_filename(dir, "diff", NULL);

		limg_persist_remove(fs->opts.cache_dir, dir);
		limg_persist_remove(fs->opts.cache_dir, diff);
	}
	if (fs->se) {
		EntryInval *j = g_new(EntryInval, 1);

		j->se = fs->se;
		j->name = g_strconcat(name, ISO_SUFFIX, NULL);
		g_thread_unref(g_thread_new("limg-inval", inval_entry_thread, j));
	}
}

static void
start_precompute(LimgFs *fs)
{
	LimgPrecomputeOptions po = {
		.workers = fs->opts.workers,
		.settle_ms = fs->opts.settle_ms,
		.watch_dir = limg_store_source(fs->store),
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) layers = NULL;

	if (fs->opts.workers == 0)
		return;
	fs->pre = limg_precompute_start(&po, precompute_build, precompute_forget, fs, &error);
	if (!fs->pre) {
		limg_log(LIMG_LOG_WARN, "background precomputation off: %s", error->message);
		return;
	}
	layers = limg_store_list(fs->store);
	for (guint i = 0; i < layers->len; i++)
		limg_precompute_queue(fs->pre, ((LimgLayerInfo *)layers->pdata[i])->name, 0);
	if (fs->opts.foreground)
		limg_log(LIMG_LOG_INFO, "precompute: %u layers queued, %u workers",
		         layers->len, fs->opts.workers);
}

static void
op_destroy(void *userdata)
{
	LimgFs *fs = userdata;

	limg_precompute_stop(fs->pre);
	fs->pre = NULL;
}

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	LimgFs *fs = userdata;

	/* Splice file data from the source fd; large requests. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;   /* images are immutable */
	conn->max_readahead = 1024 * 1024;
	/* Must match the max_read mount option (cmd-mount.c). */
	conn->max_read = fs->opts.max_read;
	/* After daemonizing: threads do not survive fork(). */
	fs->started_us = g_get_monotonic_time();
	start_precompute(fs);
}

/* Valid replies: fuse_reply_entry, fuse_reply_err */
static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	LimgFs *fs = FS(req);
	struct fuse_entry_param e = { 0 };
	size_t len = strlen(name);
	g_autofree char *layer = NULL;
	LimgLayerInfo *info;
	Image *img;
	Gen *g;
	int err = 0;

	once_after_init(fs);
	if (parent != ROOT_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.attr_timeout = fs->opts.attr_timeout;
	e.entry_timeout = fs->opts.attr_timeout;
	if (strcmp(name, STATS_NAME) == 0) {
		e.ino = STATS_INO;
		stats_attr(&e.attr);
		fuse_reply_entry(req, &e);
		return;
	}
	if (len <= strlen(ISO_SUFFIX) || strcmp(name + len - strlen(ISO_SUFFIX), ISO_SUFFIX) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	layer = g_strndup(name, len - strlen(ISO_SUFFIX));
	/* Look before creating an Image: names that are no layer stay out. */
	info = limg_store_lookup(fs->store, layer);
	if (!info) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	img = image_get(fs, layer);
	g = image_gen(fs, img, info, &err);
	if (!g) {
		fuse_reply_err(req, err == -ENOENT ? ENOENT : EIO);
		return;
	}
	e.ino = img->nodeid;
	image_attr(img, g, &e.attr);
	gen_unref(g);
	fuse_reply_entry(req, &e);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err */
static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	LimgFs *fs = FS(req);
	struct stat st;
	Image *img;
	Gen *g;
	int err = 0;

	if (ino == ROOT_INO) {
		root_attr(&st);
		fuse_reply_attr(req, &st, fs->opts.attr_timeout);
		return;
	}
	if (ino == STATS_INO) {
		stats_attr(&st);
		fuse_reply_attr(req, &st, fs->opts.attr_timeout);
		return;
	}
	img = image_by_ino(fs, ino);
	if (!img) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (fi && fi->fh) {
		/* An open file keeps the generation it opened. */
		g = gen_ref(((OpenFile *)(uintptr_t)fi->fh)->gen);
	} else {
		g = image_gen(fs, img, NULL, &err);
	}
	if (!g) {
		fuse_reply_err(req, err == -ENOENT ? ENOENT : EIO);
		return;
	}
	image_attr(img, g, &st);
	gen_unref(g);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

/* Everything that would change the mount. Valid replies: fuse_reply_err */
static void
op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
           struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void
op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void
op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void
op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void
op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void
op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
          const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void
op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void
op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void
op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
             struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void
op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
            size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void
op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void
op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
             struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

/*
 * Runtimes open disks read-write even when they never write (solo5's
 * tender does): such opens succeed; writes then fail with EROFS.
 * Valid replies: fuse_reply_open, fuse_reply_err
 */
static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	LimgFs *fs = FS(req);
	OpenFile *of;
	Image *img;
	Gen *g;
	int err = 0;

	if (ino == ROOT_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (fi->flags & O_TRUNC) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ino == STATS_INO) {
		of = g_new0(OpenFile, 1);
		{
			char *text = stats_text(fs);

			of->stats = g_bytes_new_take(text, strlen(text));
		}
		fi->fh = (uint64_t)(uintptr_t)of;
		fi->direct_io = 1;
		fuse_reply_open(req, fi);
		return;
	}
	img = image_by_ino(fs, ino);
	if (!img) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	g = image_gen(fs, img, NULL, &err);
	if (!g) {
		fuse_reply_err(req, err == -ENOENT ? ENOENT : EIO);
		return;
	}
	of = g_new0(OpenFile, 1);
	of->gen = g;
	fi->fh = (uint64_t)(uintptr_t)of;
	/* Images are immutable per generation: keep the page cache. */
	fi->keep_cache = 1;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

/* Valid replies: fuse_reply_err */
static void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	OpenFile *of = (OpenFile *)(uintptr_t)fi->fh;

	if (of) {
		gen_unref(of->gen);
		if (of->stats)
			g_bytes_unref(of->stats);
		g_free(of);
	}
	fuse_reply_err(req, 0);
}

static void
op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void
op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Does open source file @fd still match what node @n recorded? */
static bool
source_unchanged(int fd, const LimgNode *n)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino == n->ino &&
	       (uint64_t)st.st_size == n->size && st.st_mtim.tv_sec == n->mtime.sec &&
	       (uint32_t)st.st_mtim.tv_nsec == n->mtime.nsec && st.st_ctim.tv_sec == n->ctime.sec &&
	       (uint32_t)st.st_ctim.tv_nsec == n->ctime.nsec;
}

typedef struct {
	struct fuse_bufvec *v;
	size_t cap;
	int *fds;               /* borrowed fds: slot, fd pairs */
	size_t nfds;
	GPtrArray *blocks;      /* GBytes references to metadata blocks */
} ReplyBuilder;

static struct fuse_buf *
rb_add(ReplyBuilder *rb)
{
	if (rb->v->count == rb->cap) {
		rb->cap *= 2;
		rb->v = g_realloc(rb->v, sizeof(struct fuse_bufvec) +
		                  (rb->cap - 1) * sizeof(struct fuse_buf));
		rb->fds = g_realloc(rb->fds, rb->cap * 2 * sizeof(int));
	}
	memset(&rb->v->buf[rb->v->count], 0, sizeof(struct fuse_buf));
	return &rb->v->buf[rb->v->count++];
}

/*
 * The reply releases the reader, whose close() may then free the open
 * file on another thread while this one is still returning from the
 * reply: hold our own reference to anything the reply points into.
 */
static void
read_stats(fuse_req_t req, OpenFile *of, size_t size, off_t off)
{
	GBytes *b = g_bytes_ref(of->stats);
	gsize len;
	const char *text = g_bytes_get_data(b, &len);

	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, text + off, MIN(size, len - (size_t)off));
	g_bytes_unref(b);
}

/*
 * Valid replies: fuse_reply_data, fuse_reply_buf, fuse_reply_err.
 * EIO when the layer was removed or a source file changed since the
 * layout (the image is then laid out again for the next open).
 */
static void
do_read(fuse_req_t req, LimgFs *fs, fuse_ino_t ino, Gen *g, size_t size, off_t off)
{
	ReplyBuilder rb = { 0 };
	uint64_t isize, pos, end;
	const LimgTree *tree;
	gint64 n_meta = 0, n_data = 0, n_zero = 0;
	struct stat rst;
	int err = 0;

	isize = limg_layout_size(g->layout);
	if ((uint64_t)off >= isize || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	end = MIN((uint64_t)off + size, isize);
	if (fstat(g->root_fd, &rst) < 0 || rst.st_nlink == 0) {
		Image *img = image_by_ino(fs, ino);

		limg_log(LIMG_LOG_WARN, "%s.iso: layer directory removed; read fails with EIO",
		         img ? img->name : "?");
		stat_add(&fs->stats.read_errors, 1);
		fuse_reply_err(req, EIO);
		return;
	}
	tree = limg_layout_tree(g->layout);
	rb.cap = 16;
	rb.v = g_malloc(sizeof(struct fuse_bufvec) + (rb.cap - 1) * sizeof(struct fuse_buf));
	rb.v->count = 0;
	rb.v->idx = 0;
	rb.v->off = 0;
	rb.fds = g_malloc(rb.cap * 2 * sizeof(int));
	rb.blocks = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

	for (pos = (uint64_t)off; pos < end && !err;) {
		LimgSegment seg;
		uint64_t n;

		if (limg_layout_segment(g->layout, pos, &seg) < 0) {
			err = EIO;
			break;
		}
		n = MIN(seg.length, end - pos);
		switch (seg.kind) {
		case LIMG_SEG_ZERO:
			for (uint64_t left = n; left;) {
				struct fuse_buf *b = rb_add(&rb);

				b->size = (size_t)MIN(left, (uint64_t)ZERO_CHUNK);
				b->mem = (void *)zeros;
				left -= b->size;
			}
			n_zero += (gint64)n;
			break;
		case LIMG_SEG_META: {
			uint32_t in = (uint32_t)(pos % ISO_BLOCK_SIZE);
			GBytes *blk = gen_meta_block(g, (uint32_t)(pos / ISO_BLOCK_SIZE));
			struct fuse_buf *b;

			if (!blk) {
				err = EIO;
				break;
			}
			/* Held until the reply is sent, even if evicted meanwhile. */
			g_ptr_array_add(rb.blocks, blk);
			n = MIN(n, (uint64_t)(ISO_BLOCK_SIZE - in));
			b = rb_add(&rb);
			b->size = (size_t)n;
			b->mem = (uint8_t *)g_bytes_get_data(blk, NULL) + in;
			n_meta += (gint64)n;
			break;
		}
		case LIMG_SEG_DATA: {
			bool fresh;
			int slot, fd = fd_get(fs, g, seg.node, &slot, &fresh);
			struct fuse_buf *b;

			/* A cached fd is checked again: the file may have changed since. */
			if (fd >= 0 && !fresh && !source_unchanged(fd, &tree->nodes[seg.node])) {
				fd_put(fs, slot, fd);
				fd = -ESTALE;
			}
			if (fd < 0) {
				g_autofree char *p = limg_tree_path(tree, seg.node);
				Image *img = image_by_ino(fs, ino);

				if (fd == -ESTALE) {
					limg_log(LIMG_LOG_WARN, "%s.iso: /%s changed since the layout; "
					         "read fails with EIO, image will be laid out again",
					         img ? img->name : "?", p);
					stat_add(&fs->stats.source_changes, 1);
					if (img)
						image_mark_stale(img, g);
				} else {
					limg_log(LIMG_LOG_WARN, "%s.iso: /%s: %s", img ? img->name : "?",
					         p, g_strerror(-fd));
				}
				err = EIO;
				break;
			}
			b = rb_add(&rb);
			b->size = (size_t)n;
			b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
			b->fd = fd;
			b->pos = (off_t)seg.file_offset;
			rb.fds[rb.nfds * 2] = slot;
			rb.fds[rb.nfds * 2 + 1] = fd;
			rb.nfds++;
			n_data += (gint64)n;
			break;
		}
		}
		pos += n;
	}
	if (err) {
		stat_add(&fs->stats.read_errors, 1);
		fuse_reply_err(req, err);
	} else {
		int ret = fuse_reply_data(req, rb.v, FUSE_BUF_SPLICE_MOVE);

		if (ret < 0 && ret != -ENOENT)
			limg_log(LIMG_LOG_WARN, "reply to read: %s", g_strerror(-ret));
		stat_add(&fs->stats.bytes_meta, n_meta);
		stat_add(&fs->stats.bytes_data, n_data);
		stat_add(&fs->stats.bytes_zero, n_zero);
	}
	for (size_t i = 0; i < rb.nfds; i++)
		fd_put(fs, rb.fds[i * 2], rb.fds[i * 2 + 1]);
	g_free(rb.fds);
	g_free(rb.v);
	g_ptr_array_free(rb.blocks, TRUE);
}

/*
 * Valid replies: fuse_reply_data, fuse_reply_buf, fuse_reply_err.
 * The reply releases the reader, whose close() may drop the open file's
 * generation on another thread before this one is done (fd slots, block
 * references): the read holds its own reference.
 */
static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	OpenFile *of = (OpenFile *)(uintptr_t)fi->fh;
	Gen *g;

	if (ino == STATS_INO) {
		read_stats(req, of, size, off);
		return;
	}
	g = gen_ref(of->gen);
	do_read(req, FS(req), ino, g, size, off);
	gen_unref(g);
}

typedef struct {
	GPtrArray *names;       /* char *: ".", "..", ".stats", "<layer>.iso" */
	GArray *inos;           /* uint64_t */
} DirSnap;

/* Valid replies: fuse_reply_open, fuse_reply_err */
static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	LimgFs *fs = FS(req);
	g_autoptr(GPtrArray) layers = NULL;
	DirSnap *d;
	uint64_t v;

	if (ino != ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	layers = limg_store_list(fs->store);
	d = g_new0(DirSnap, 1);
	d->names = g_ptr_array_new_with_free_func(g_free);
	d->inos = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	g_ptr_array_add(d->names, g_strdup("."));
	v = ROOT_INO;
	g_array_append_val(d->inos, v);
	g_ptr_array_add(d->names, g_strdup(".."));
	g_array_append_val(d->inos, v);
	g_ptr_array_add(d->names, g_strdup(STATS_NAME));
	v = STATS_INO;
	g_array_append_val(d->inos, v);
	for (guint i = 0; i < layers->len; i++) {
		const LimgLayerInfo *li = layers->pdata[i];

		g_ptr_array_add(d->names, g_strconcat(li->name, ISO_SUFFIX, NULL));
		v = name_ino(li->name);
		g_array_append_val(d->inos, v);
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fuse_reply_open(req, fi);
}

/* Valid replies: fuse_reply_buf, fuse_reply_err */
static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	DirSnap *d = (DirSnap *)(uintptr_t)fi->fh;
	g_autofree char *buf = g_malloc(size);
	size_t used = 0;

	for (guint i = (guint)off; i < d->names->len; i++) {
		struct stat st = { 0 };
		size_t need;

		st.st_ino = g_array_index(d->inos, uint64_t, i);
		st.st_mode = i < 2 ? S_IFDIR : S_IFREG;
		need = fuse_add_direntry(req, buf + used, size - used, d->names->pdata[i], &st,
		                         (off_t)i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

static void
op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	DirSnap *d = (DirSnap *)(uintptr_t)fi->fh;

	g_ptr_array_free(d->names, TRUE);
	g_array_free(d->inos, TRUE);
	g_free(d);
	fuse_reply_err(req, 0);
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	LimgFs *fs = FS(req);
	struct statvfs sv = { 0 };
	guint n;

	g_mutex_lock(&fs->lock);
	n = fs->by_ino->len;
	g_mutex_unlock(&fs->lock);
	sv.f_bsize = ISO_BLOCK_SIZE;
	sv.f_frsize = ISO_BLOCK_SIZE;
	sv.f_files = n + 2;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.create = op_create,
	.fallocate = op_fallocate,
};

uint32_t
limg_fs_max_read_for_pipe(uint64_t pipe_max)
{
	return pipe_max >= 2 * 1024 * 1024 ? 1024 * 1024 : 512 * 1024;
}

const struct fuse_lowlevel_ops *
limg_fs_ops(void)
{
	return &ops;
}

LimgFs *
limg_fs_new(LimgStore *store, const LimgFsOptions *opts)
{
	LimgFs *fs = g_new0(LimgFs, 1);

	fs->store = store;
	fs->opts = *opts;
	g_mutex_init(&fs->lock);
	g_mutex_init(&fs->fd_lock);
	fs->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	fs->by_ino = g_ptr_array_new_with_free_func(image_free);
	fs->blocks = limg_block_cache_new(opts->cache_mem ? opts->cache_mem : LIMG_FS_DEFAULT_CACHE_MEM);
	return fs;
}

void
limg_fs_set_mountpoint(LimgFs *fs, const char *mountpoint, unsigned readahead_kb)
{
	g_free(fs->mountpoint);
	fs->mountpoint = g_canonicalize_filename(mountpoint, NULL);
	fs->readahead_kb = readahead_kb;
}

void
limg_fs_set_session(LimgFs *fs, struct fuse_session *se)
{
	fs->se = se;
}

void
limg_fs_free(LimgFs *fs)
{
	if (!fs)
		return;
	limg_precompute_stop(fs->pre);
	g_hash_table_destroy(fs->by_name);
	g_ptr_array_free(fs->by_ino, TRUE);
	for (int i = 0; i < FD_SLOTS; i++) {
		if (fs->slots[i].gen)
			close(fs->slots[i].fd);
	}
	g_mutex_clear(&fs->lock);
	g_mutex_clear(&fs->fd_lock);
	limg_store_free(fs->store);
	limg_block_cache_free(fs->blocks);
	g_free(fs->mountpoint);
	g_free(fs);
}
