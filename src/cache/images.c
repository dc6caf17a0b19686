/*
 * images.c - the layer-image service: the image table, generations,
 * precompute glue and counters; see images.h. The build pipeline is
 * images-build.c.
 *
 * The table holds one refcounted LimgImage per layer name asked for; a
 * LimgImage leaves the table (and is freed once nobody holds it) when its
 * layer leaves the store. Lock order: im->lock (the table) before
 * img->lock; neither is held across a build, file I/O or a listener call.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "cache/gen-read.h"
#include "cache/images-internal.h"
#include "cache/persist.h"
#include "util/escape.h"
#include "util/fnv.h"
#include "util/log.h"
#include "util/prio.h"

#define DEFAULT_PRERENDER 512      /* 1 MiB of metadata per image */
#define DEFAULT_HANDLES 256

static LimgImage *
image_ref(LimgImage *img)
{
	g_atomic_int_inc(&img->ref);
	return img;
}

static void
image_unref(LimgImage *img)
{
	if (!img || !g_atomic_int_dec_and_test(&img->ref))
		return;
	limg_gen_unref(img->gen);
	g_mutex_clear(&img->lock);
	g_cond_clear(&img->cond);
	g_free(img->key);
	g_free(img->name);
	g_free(img);
}

/* ------------------------------------------------------------ generations */

LimgGen *
limg_gen_ref(LimgGen *g)
{
	g_atomic_int_inc(&g->ref);
	return g;
}

void
limg_gen_unref(LimgGen *g)
{
	if (!g || !g_atomic_int_dec_and_test(&g->ref))
		return;
	limg_handles_drop_owner(g->im->handles, g);
	limg_block_cache_drop_owner(g->im->blocks, g);
	if (g->layout)
		g->im->fmt->unref(g->layout);
	limg_persist_close(g->pending);
	limg_head_clear(&g->head);
	g_mutex_clear(&g->head_lock);
	limg_source_free(g->source);
	g_free(g->name);
	g_free(g);
}

const char *
limg_gen_name(const LimgGen *g)
{
	return g->name;
}

uint64_t
limg_gen_number(const LimgGen *g)
{
	return g->number;
}

GBytes *
limg_gen_head_bytes(LimgGen *g)
{
	GBytes *b = NULL;

	if (!g->headed || __atomic_load_n(&g->complete, __ATOMIC_ACQUIRE) != 0)
		return NULL;
	g_mutex_lock(&g->head_lock);
	if (g->head.bytes)
		b = g_bytes_ref(g->head.bytes);
	g_mutex_unlock(&g->head_lock);
	return b;
}

/*
 * The facts of a headed generation come from its head (equal to the
 * layout's once that is there: checked), so they never wait for it.
 */
uint64_t
limg_gen_size(const LimgGen *g)
{
	return g->headed ? g->head.size : g->im->fmt->size(g->layout);
}

uint32_t
limg_gen_block_size(const LimgGen *g)
{
	return g->im->fmt->block_size;
}

uint32_t
limg_gen_meta_blocks(const LimgGen *g)
{
	return g->headed ? g->head.meta_blocks : g->im->fmt->meta_blocks(g->layout);
}

int64_t
limg_gen_mtime(const LimgGen *g)
{
	return g->mtime;
}

uint32_t
limg_gen_entries(const LimgGen *g)
{
	return g->headed ? g->head.entries : g->im->fmt->tree(g->layout)->n_nodes;
}

size_t
limg_gen_mem_bytes(const LimgGen *g)
{
	g_autoptr(GBytes) head = limg_gen_head_bytes((LimgGen *)g);
	size_t n = head ? g_bytes_get_size(head) : 0;

	return n + (limg_gen_complete(g) ? g->im->fmt->mem_bytes(g->layout) : 0);
}

uint64_t
limg_gen_data_bytes(const LimgGen *g)
{
	return g->headed ? g->head.data_bytes : g->im->fmt->tree(g->layout)->data_bytes;
}

uint64_t
limg_gen_digest(LimgGen *g)
{
	uint64_t h = __atomic_load_n(&g->digest, __ATOMIC_RELAXED);
	uint64_t size, data;
	uint32_t bs, meta, entries;
	int64_t mtime;
	bool whole = true;

	if (h)
		return h;
	h = LIMG_FNV_INIT;
	size = limg_gen_size(g);
	data = limg_gen_data_bytes(g);
	bs = limg_gen_block_size(g);
	meta = limg_gen_meta_blocks(g);
	entries = limg_gen_entries(g);
	mtime = limg_gen_mtime(g);
	h = limg_fnv_mix(h, g->name, strlen(g->name) + 1);
	LIMG_FNV_MIX(h, size);
	LIMG_FNV_MIX(h, data);
	LIMG_FNV_MIX(h, bs);
	LIMG_FNV_MIX(h, meta);
	LIMG_FNV_MIX(h, entries);
	LIMG_FNV_MIX(h, mtime);
	/* ECMA-119: the primary volume descriptor is block 16. */
	if (meta > 16) {
		g_autoptr(GBytes) pvd = limg_gen_block(g, 16);
		gsize len = 0;
		const void *p = pvd ? g_bytes_get_data(pvd, &len) : NULL;

		if (p)
			h = limg_fnv_mix(h, p, len);
		else
			whole = false;  /* not rendered now: not kept, tried again */
	}
	h &= ~(1ull << 63);
	if (!h)
		h = 1;
	if (whole)
		__atomic_store_n(&g->digest, h, __ATOMIC_RELAXED);
	return h;
}

int
limg_gen_present(LimgGen *g)
{
	return limg_source_present(g->source);
}

static int
render_gen_block(gconstpointer owner, uint32_t block, uint8_t *buf)
{
	LimgGen *g = (LimgGen *)owner;
	uint32_t bs = g->im->fmt->block_size;
	const LimgFormatLayout *layout;
	int ret;

	/* A head's block is a copy: equal to the rendering (checked when read). */
	if (block < g->head.blocks) {
		g_autoptr(GBytes) head = limg_gen_head_bytes(g);

		if (head) {
			limg_head_copy(&g->head, head, bs, (uint64_t)block * bs, bs, buf);
			return 0;
		}
	}
	layout = limg_gen_layout(g);
	if (!layout)
		return -EIO;
	ret = g->im->fmt->render_block(layout, block, buf);
	if (ret == 0)
		limg_counter_add(&g->im->n.meta_rendered, 1);
	return ret;
}

/* Hand a laid-out disk-cache generation to the verifier: once, once complete. */
static void
verify_when_complete(LimgImages *im, LimgGen *g)
{
	if (g->verify_pending && limg_gen_complete(g) &&
	    g_atomic_int_compare_and_exchange(&g->verify_queued, 0, 1))
		limg_images_verify_later(im, g);
}

const LimgFormatLayout *
limg_gen_layout(LimgGen *g)
{
	if (g_once_init_enter(&g->complete)) {
		gsize v = limg_images_gen_complete(g->im, g) == 0 ? 1 : 2;
		GBytes *head;

		g_once_init_leave(&g->complete, v);
		/* Not needed any more: blocks render from the layout (or fail). */
		g_mutex_lock(&g->head_lock);
		head = g_steal_pointer(&g->head.bytes);
		g_mutex_unlock(&g->head_lock);
		if (head)
			g_bytes_unref(head);
		verify_when_complete(g->im, g);
	}
	return limg_gen_complete(g) ? g->layout : NULL;
}

GBytes *
limg_gen_block(LimgGen *g, uint32_t block)
{
	return limg_block_cache_get(g->im->blocks, g, block, render_gen_block);
}

/* ------------------------------------------------------------ the table */

/*
 * The current generation of @img, built if there is none, it went stale,
 * or the layer directory was replaced. Concurrent callers wait for one
 * build. @info is the layer as the caller just looked it up (borrowed).
 * Returns a reference, or NULL with *err set.
 */
static LimgImage *image_get(LimgImages *im, const char *name, bool create);

/*
 * Is stack generation @g still what its parts are: every part image's
 * current generation the one @g stands on, and the files on top
 * unchanged? (Takes image locks: call without any held.)
 */
static bool
stack_fresh(LimgImages *im, LimgGen *g)
{
	for (guint i = 0; i < g->stack->gens->len; i++) {
		LimgGen *pg = g->stack->gens->pdata[i];
		LimgImage *pimg = image_get(im, pg->name, false);
		bool same = false;

		if (pimg) {
			g_mutex_lock(&pimg->lock);
			same = pimg->gen == pg && !pimg->stale;
			g_mutex_unlock(&pimg->lock);
			image_unref(pimg);
		}
		if (!same || (pg->stack && !stack_fresh(im, pg)))
			return false;
	}
	return !g->stack->files ||
	       limg_source_verify(g->stack->files, g->stack->files_tree) == 0;
}

/*
 * The current generation of @img, built if there is none, it went stale,
 * the layer directory was replaced, or (a stack) a part changed.
 * Concurrent callers wait for one build. @info is the layer as the
 * caller just looked it up (borrowed). Returns a reference, or NULL with
 * *err set.
 */
static LimgGen *
image_gen(LimgImages *im, LimgImage *img, const LimgLayerInfo *info, uint32_t settle_ms,
          int64_t *retry_at_us, int *err)
{
	LimgGen *g, *old = NULL;
	uint64_t number;
	bool replaced;

	g_mutex_lock(&img->lock);
	for (;;) {
		if (img->gen && !img->stale && img->dev == info->dev && img->ino == info->ino &&
		    !(img->provisional && info->complete)) {
			g = limg_gen_ref(img->gen);
			if (!g->stack) {
				g_mutex_unlock(&img->lock);
				return g;
			}
			/* A stack: look at its parts without this image's lock. */
			g_mutex_unlock(&img->lock);
			if (stack_fresh(im, g))
				return g;
			g_mutex_lock(&img->lock);
			if (img->gen == g)
				img->stale = true;
			limg_gen_unref(g);
			continue;
		}
		if (!img->building)
			break;
		g_cond_wait(&img->cond, &img->lock);
	}
	img->building = true;
	/* Numbered when served: a refused or failed build takes no number. */
	number = img->next_gen + 1;
	replaced = img->gen != NULL;
	g_mutex_unlock(&img->lock);

	g = limg_images_gen_build(im, img, info, number, settle_ms, retry_at_us, err);

	g_mutex_lock(&img->lock);
	img->building = false;
	if (!g && *err == -EAGAIN) {
		/* Not settled: nothing to record; a request will build it. */
	} else if (g) {
		old = img->gen;
		img->gen = limg_gen_ref(g);
		img->next_gen = number;
		img->stale = false;
		img->provisional = !info->complete;
		img->error = 0;
		img->dev = info->dev;
		img->ino = info->ino;
	} else {
		img->error = *err;
	}
	g_cond_broadcast(&img->cond);
	g_mutex_unlock(&img->lock);
	limg_gen_unref(old);
	if (g && replaced && im->notify)
		im->notify(im->notify_ctx, img->name, LIMG_IMAGE_CHANGED);
	if (g)
		verify_when_complete(im, g);
	return g;
}

/* The image of @name: a reference, created if @create, else NULL if none. */
static LimgImage *
image_get(LimgImages *im, const char *name, bool create)
{
	LimgImage *img;

	g_mutex_lock(&im->lock);
	img = g_hash_table_lookup(im->table, name);
	if (!img && create) {
		img = g_new0(LimgImage, 1);
		img->ref = 1;
		img->name = g_strdup(name);
		g_mutex_init(&img->lock);
		g_cond_init(&img->cond);
		g_hash_table_insert(im->table, img->name, img);
	}
	if (img)
		image_ref(img);
	g_mutex_unlock(&im->lock);
	return img;
}

/*
 * Layer @name is gone from the store: take its image out of the table
 * (generations live on in whoever holds them) and remove its cache file.
 * Returns whether there was an image.
 */
static bool
image_forget(LimgImages *im, const char *name)
{
	g_autofree char *key = NULL;
	LimgGen *old = NULL;
	LimgImage *img;

	g_mutex_lock(&im->lock);
	img = g_hash_table_lookup(im->table, name);
	if (img)
		g_hash_table_steal(im->table, name);
	g_mutex_unlock(&im->lock);
	if (!img)
		return false;
	g_mutex_lock(&img->lock);
	old = g_steal_pointer(&img->gen);
	key = g_steal_pointer(&img->key);
	g_mutex_unlock(&img->lock);
	if (old) {
		limg_log(LIMG_LOG_INFO, "%s.iso: layer removed; image dropped", name);
		limg_gen_unref(old);
	}
	if (key && im->cache_dir)
		limg_persist_remove(im->cache_dir, key);
	image_unref(img);
	return true;
}

void
limg_images_mark_stale(LimgImages *im, LimgGen *g, uint32_t node)
{
	LimgImage *img = image_get(im, g->name, false);
	uint32_t pnode;
	size_t part;

	if (img) {
		g_mutex_lock(&img->lock);
		if (img->gen == g)
			img->stale = true;
		g_mutex_unlock(&img->lock);
		image_unref(img);
	}
	/* A stack: the part that holds the node is what changed. */
	if (g->stack && limg_stack_source_origin(g->source, node, &part, &pnode) == 0 &&
	    part < g->stack->gens->len)
		limg_images_mark_stale(im, g->stack->gens->pdata[part], pnode);
}

int
limg_images_get(LimgImages *im, const char *name, LimgGen **out)
{
	g_autoptr(LimgLayerInfo) info = limg_store_lookup(im->store, name);
	int64_t unused;
	LimgImage *img;
	int err = 0;

	*out = NULL;
	if (!info) {
		/* Gone without the watcher seeing it (an explicit layer, or no watcher). */
		if (image_forget(im, name) && im->notify)
			im->notify(im->notify_ctx, name, LIMG_IMAGE_REMOVED);
		return -ENOENT;
	}
	img = image_get(im, name, true);
	*out = image_gen(im, img, info, 0, &unused, &err);
	image_unref(img);
	return *out ? 0 : err;
}

bool
limg_images_exists(LimgImages *im, const char *name)
{
	g_autoptr(LimgLayerInfo) info = limg_store_lookup(im->store, name);

	return info != NULL;
}

/* Prerendering: metadata blocks into the block cache, nothing else. */
static int
prerender_meta(void *ctx, uint32_t block, size_t off, size_t len)
{
	GBytes *blk = off == 0 ? limg_gen_block(ctx, block) : NULL;

	if (blk)
		g_bytes_unref(blk);
	return 0;
}

static int
plan_skip_data(void *ctx, uint32_t node, uint64_t file_off, uint64_t len)
{
	return 0;
}

static int
plan_skip_zero(void *ctx, uint64_t len)
{
	return 0;
}

void
limg_gen_prerender(LimgGen *g, uint32_t blocks)
{
	static const LimgPlanSink warm = { .meta = prerender_meta, .data = plan_skip_data,
	                                   .zero = plan_skip_zero };
	LimgImages *im = g->im;
	uint32_t n = MIN(limg_gen_meta_blocks(g), MIN(blocks, im->opts.prerender));
	uint32_t bs = limg_gen_block_size(g);
	const LimgFormatLayout *layout;
	gint done;

	/*
	 * A headed generation's head holds the first blocks; its layout is
	 * read after its first read (limg_gen_prepare()), not here: a lookup
	 * calls this right before the open and the read it would slow down.
	 */
	if (g->headed && !limg_gen_complete(g))
		return;
	layout = limg_gen_layout(g);
	if (!layout)
		return;
	/* Blocks [done, n): the first caller of a larger count renders the rest. */
	do {
		done = g_atomic_int_get(&g->prerendered);
		if ((uint32_t)done >= n)
			return;
	} while (!g_atomic_int_compare_and_exchange(&g->prerendered, done, (gint)n));
	/* The system area is zeros, never rendered; data is not read here. */
	(void)limg_plan_read(im->fmt, layout, (uint64_t)done * bs, (uint64_t)(n - done) * bs,
	                     &warm, g);
}

/* The completer's first job: see complete_job(). */
static const char completer_first_job;

static void
complete_job(gpointer data, gpointer user)
{
	/*
	 * At nice 10: a reader just woken by the reply that queued this must
	 * not wait behind it (on two cores it did, for the whole layout).
	 * Its first job, at start, does only this.
	 */
	limg_thread_lower_cpu();
	if (data == &completer_first_job)
		return;
	(void)limg_gen_layout(data);
	limg_gen_unref(data);
}

void
limg_gen_prepare(LimgGen *g)
{
	LimgImages *im = g->im;
	bool queued = false;

	if (!g->headed || __atomic_load_n(&g->complete, __ATOMIC_ACQUIRE) != 0 ||
	    !g_atomic_int_compare_and_exchange(&g->prepare_queued, 0, 1))
		return;
	g_mutex_lock(&im->lock);
	if (im->completer)
		queued = g_thread_pool_push(im->completer, limg_gen_ref(g), NULL);
	g_mutex_unlock(&im->lock);
	if (!queued)
		(void)limg_gen_layout(g);
}

/* ------------------------------------------------------------ the verifier */

/*
 * A tree from the disk cache is served at once and verified here, on the
 * verifier's thread, a few milliseconds later: what is trusted until
 * then, and why that is safe, is in images.h.
 */
static void
verify_gen(LimgImages *im, LimgGen *g)
{
	const LimgFormatLayout *layout = limg_gen_layout(g);

	/* A layout that could not be read: marked stale where it failed. */
	if (!layout || limg_source_verify(g->source, im->fmt->tree(layout)) == 0)
		return;
	limg_counter_add(&im->n.disk_stale_later, 1);
	limg_log(LIMG_LOG_INFO, "%s.iso: its cached layout is of another version of the layer "
	         "(entries were added, removed or renamed); the next open lays it out again",
	         g->name);
	limg_images_mark_stale(im, g, 0);
	if (im->notify)
		im->notify(im->notify_ctx, g->name, LIMG_IMAGE_CHANGED);
}

/* limg_images_start()'s first job for the verifier: see verify_job(). */
static const char verifier_first_job;

static void
verify_job(gpointer data, gpointer user)
{
	LimgGen *g = data;
	LimgImages *im = user;

	/*
	 * The verifier runs only on a CPU that nothing else wants
	 * (SCHED_IDLE, prio.h): it starts the moment a restarted mount
	 * serves its first image and must not delay the requests that
	 * follow (on two cores it took one from the kernel and the reader).
	 * limg_images_start()'s first job does only this.
	 */
	limg_thread_background(true);
	if (data == &verifier_first_job)
		return;
	if (!g_atomic_int_get(&im->verify_stop))
		verify_gen(im, g);
	limg_gen_unref(g);
}

void
limg_images_verify_later(LimgImages *im, LimgGen *g)
{
	bool queued = false;

	g_mutex_lock(&im->lock);
	if (im->verifier)
		queued = g_thread_pool_push(im->verifier, limg_gen_ref(g), NULL);
	g_mutex_unlock(&im->lock);
	/* Stopping: verify on this thread, as a service that never started does. */
	if (!queued)
		verify_gen(im, g);
}

/* ------------------------------------------------------------ precompute */

static LimgBuildResult
precompute_build(void *ctx, const char *name, uint32_t settle_ms, int64_t *retry_at_us)
{
	LimgImages *im = ctx;
	g_autoptr(LimgLayerInfo) info = limg_store_lookup(im->store, name);
	LimgImage *img;
	LimgGen *g;
	int err = 0;

	if (!info)
		return LIMG_BUILD_DONE;   /* not a layer (yet): a later event requeues */
	if (!info->complete) {
		/* overlay2: diff/ is there but link is not written yet. */
		*retry_at_us = g_get_monotonic_time() + (int64_t)MAX(settle_ms, 100u) * 1000;
		return LIMG_BUILD_RETRY;
	}
	img = image_get(im, name, true);
	g = image_gen(im, img, info, settle_ms, retry_at_us, &err);
	image_unref(img);
	if (!g)
		return err == -EAGAIN ? LIMG_BUILD_RETRY : LIMG_BUILD_FAILED;
	if (im->opts.progress) {
		LimgPrecomputeStats ps;
		gint64 entries = limg_counter_get(&im->n.entries);
		double secs = (g_get_monotonic_time() - im->started_us) / 1e6;

		limg_precompute_stats(im->pre, &ps);
		limg_log(LIMG_LOG_INFO, "precompute: %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
		         " images ready (%s.iso, %u entries), %u settling; %.0f entries/s",
		         ps.done + 1, ps.done + ps.queued + ps.delayed + ps.running, name,
		         limg_gen_entries(g), ps.delayed, secs > 0 ? entries / secs : 0.0);
	}
	/*
	 * Ready means ready to serve: laid out (a generation from a cache
	 * file's head is read now) and the first metadata blocks rendered, so
	 * the first read at container start is only copies.
	 */
	(void)limg_gen_layout(g);
	limg_gen_prerender(g, UINT32_MAX);
	limg_gen_unref(g);
	return LIMG_BUILD_DONE;
}

/* The watcher saw @name leave the store directory. */
static void
precompute_forget(void *ctx, const char *name)
{
	LimgImages *im = ctx;
	g_autoptr(LimgLayerInfo) still = limg_store_lookup(im->store, name);

	if (still)
		return;   /* replaced meanwhile: the new one is served */
	image_forget(im, name);
	if (im->notify)
		im->notify(im->notify_ctx, name, LIMG_IMAGE_REMOVED);
}

/* Every image name of the store now: its layers, then its stacks. */
static GPtrArray *
store_names(LimgImages *im)
{
	g_autoptr(GPtrArray) layers = limg_store_list(im->store);
	g_autoptr(GPtrArray) stacks = limg_store_stacks(im->store);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < layers->len; i++)
		g_ptr_array_add(out, g_strdup(((LimgLayerInfo *)layers->pdata[i])->id));
	for (guint i = 0; i < stacks->len; i++)
		g_ptr_array_add(out, g_strdup(stacks->pdata[i]));
	return out;
}

/*
 * The metadata changed: queue the images that appeared (a pull, a load,
 * a commit, a create) and forget those that went (rmi, rm).
 */
static void
precompute_resync(void *ctx)
{
	LimgImages *im = ctx;
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
	GHashTable *now = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTableIter it;
	gpointer key;

	limg_store_meta_refresh(im->store);
	names = store_names(im);
	for (guint i = 0; i < names->len; i++)
		g_hash_table_add(now, g_strdup(names->pdata[i]));
	g_mutex_lock(&im->lock);
	g_hash_table_iter_init(&it, im->known);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		if (!g_hash_table_contains(now, key))
			g_ptr_array_add(gone, g_strdup(key));
	}
	for (guint i = 0; i < names->len; i++) {
		if (!g_hash_table_contains(im->known, names->pdata[i]))
			limg_precompute_queue(im->pre, names->pdata[i], 0);
	}
	g_hash_table_destroy(im->known);
	im->known = now;
	g_mutex_unlock(&im->lock);
	for (guint i = 0; i < gone->len; i++)
		precompute_forget(im, gone->pdata[i]);
}

/* Once a second on the watcher thread: what kind of store SOURCE is now. */
static void
watcher_tick(void *ctx)
{
	LimgImages *im = ctx;

	limg_store_look_again(im->store);
}

/*
 * Start one-thread pool *@pool (exclusive: its thread exists from now on,
 * so the first request of a restarted mount creates none) with @first as
 * its first job: it sets the thread's priority before the first wake-up
 * that would preempt a request.
 */
static gboolean
start_pool(LimgImages *im, GThreadPool **pool, GFunc fn, const char *first, GError **error)
{
	GThreadPool *p;

	if (*pool)
		return TRUE;
	p = g_thread_pool_new(fn, im, 1, TRUE, error);
	if (!p)
		return FALSE;
	g_mutex_lock(&im->lock);
	*pool = p;
	g_mutex_unlock(&im->lock);
	g_thread_pool_push(p, (gpointer)first, NULL);
	return TRUE;
}

gboolean
limg_images_start(LimgImages *im, GError **error)
{
	g_auto(GStrv) meta = limg_store_meta_watch(im->store);
	LimgPrecomputeOptions po = {
		.workers = im->opts.workers,
		.settle_ms = im->opts.settle_ms,
		.watch_dir = limg_store_watch_dir(im->store),
		.meta_dirs = (const char *const *)meta,
		.resync = precompute_resync,
		.tick = watcher_tick,
	};
	g_autoptr(GPtrArray) names = NULL;

	im->started_us = g_get_monotonic_time();
	if (im->pre)
		return TRUE;
	g_atomic_int_set(&im->verify_stop, 0);
	if (!start_pool(im, &im->verifier, verify_job, &verifier_first_job, error) ||
	    !start_pool(im, &im->completer, complete_job, &completer_first_job, error))
		return FALSE;
	/* A budget smaller than the last run's takes effect; a crash's temporaries go. */
	if (im->budget && limg_images_disk_usable(im))
		limg_budget_rescan(im->budget);
	im->pre = limg_precompute_start(&po, precompute_build, precompute_forget, im, error);
	if (!im->pre)
		return FALSE;
	/* Requests no longer look at the store's kind: the watcher does. */
	limg_store_look_after(im->store, true);
	names = store_names(im);
	g_mutex_lock(&im->lock);
	for (guint i = 0; i < names->len; i++) {
		g_hash_table_add(im->known, g_strdup(names->pdata[i]));
		limg_precompute_queue(im->pre, names->pdata[i], 0);
	}
	g_mutex_unlock(&im->lock);
	if (im->opts.progress && im->opts.workers)
		limg_log(LIMG_LOG_INFO, "precompute: %u images queued, %u workers", names->len,
		         im->opts.workers);
	return TRUE;
}

/* Take *@pool out of the service and wait for the job it runs (and those queued). */
static void
stop_pool(LimgImages *im, GThreadPool **pool)
{
	GThreadPool *p;

	g_mutex_lock(&im->lock);
	p = g_steal_pointer(pool);
	g_mutex_unlock(&im->lock);
	if (p)
		g_thread_pool_free(p, FALSE, TRUE);
}

void
limg_images_stop(LimgImages *im)
{
	if (im->pre)
		limg_store_look_after(im->store, false);
	limg_precompute_stop(im->pre);
	im->pre = NULL;
	/*
	 * Queued layouts are made (each holds its generation), then, as the
	 * service is going away, what is still queued for the verifier is
	 * dropped.
	 */
	stop_pool(im, &im->completer);
	g_atomic_int_set(&im->verify_stop, 1);
	stop_pool(im, &im->verifier);
}

/* ------------------------------------------------------------ the service */

LimgImages *
limg_images_new(LimgStore *store, const LimgImagesOptions *opts)
{
	LimgImages *im = g_new0(LimgImages, 1);

	im->store = store;
	im->opts = *opts;
	im->cache_dir = g_strdup(opts->cache_dir);
	im->volume_id = g_strdup(opts->volume_id);
	im->opts.cache_dir = im->cache_dir;
	im->opts.volume_id = im->volume_id;
	if (!im->opts.scan_threads)
		im->opts.scan_threads = MIN(4u, g_get_num_processors());
	if (!im->opts.prerender)
		im->opts.prerender = DEFAULT_PRERENDER;
	im->fmt = &limg_format_iso9660;
	im->blocks = limg_block_cache_new(opts->cache_mem ? opts->cache_mem :
	                                  LIMG_IMAGES_DEFAULT_CACHE_MEM);
	im->handles = limg_handles_new(opts->handles ? opts->handles : DEFAULT_HANDLES);
	if (im->cache_dir)
		im->budget = limg_budget_new(im->cache_dir, opts->cache_size);
	g_mutex_init(&im->lock);
	im->table = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	                                  (GDestroyNotify)image_unref);
	im->known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	return im;
}

void
limg_images_free(LimgImages *im)
{
	if (!im)
		return;
	limg_images_stop(im);
	g_hash_table_destroy(im->table);
	g_hash_table_destroy(im->known);
	limg_handles_free(im->handles);
	limg_block_cache_free(im->blocks);
	limg_budget_free(im->budget);
	limg_store_free(im->store);
	g_mutex_clear(&im->lock);
	g_free(im->cache_dir);
	g_free(im->volume_id);
	g_free(im);
}

void
limg_images_disk_added(LimgImages *im, uint64_t bytes)
{
	limg_budget_added(im->budget, bytes);
}

void
limg_images_set_notify(LimgImages *im, LimgImagesNotifyFn fn, void *ctx)
{
	im->notify = fn;
	im->notify_ctx = ctx;
}

LimgStore *
limg_images_store(LimgImages *im)
{
	return im->store;
}

uint32_t
limg_images_block_size(const LimgImages *im)
{
	return im->fmt->block_size;
}

void
limg_images_stats(LimgImages *im, LimgImagesStats *out)
{
	g_autoptr(GPtrArray) layers = limg_store_list(im->store);
	g_autoptr(GPtrArray) stacks = limg_store_stacks(im->store);
	GHashTableIter it;
	gpointer value;

	memset(out, 0, sizeof(*out));
	out->layers = layers->len;
	out->stacks = stacks->len;
	g_mutex_lock(&im->lock);
	out->known = g_hash_table_size(im->table);
	g_hash_table_iter_init(&it, im->table);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		LimgImage *img = value;

		g_mutex_lock(&img->lock);
		out->ready += img->gen != NULL;
		out->failed += img->gen == NULL && img->error != 0;
		out->building += img->building;
		g_mutex_unlock(&img->lock);
	}
	g_mutex_unlock(&im->lock);
	out->layouts = (uint64_t)limg_counter_get(&im->n.layouts);
	out->layout_usec = (uint64_t)limg_counter_get(&im->n.layout_usec);
	out->entries = (uint64_t)limg_counter_get(&im->n.entries);
	out->walks = (uint64_t)limg_counter_get(&im->n.walks);
	out->walk_usec = (uint64_t)limg_counter_get(&im->n.walk_usec);
	out->meta_rendered = (uint64_t)limg_counter_get(&im->n.meta_rendered);
	out->bytes_meta = (uint64_t)limg_counter_get(&im->n.bytes_meta);
	out->bytes_data = (uint64_t)limg_counter_get(&im->n.bytes_data);
	out->bytes_zero = (uint64_t)limg_counter_get(&im->n.bytes_zero);
	out->read_errors = (uint64_t)limg_counter_get(&im->n.read_errors);
	out->source_changes = (uint64_t)limg_counter_get(&im->n.source_changes);
	out->disk_hits = (uint64_t)limg_counter_get(&im->n.disk_hits);
	out->disk_layouts = (uint64_t)limg_counter_get(&im->n.disk_layouts);
	out->disk_heads = (uint64_t)limg_counter_get(&im->n.disk_heads);
	out->disk_misses = (uint64_t)limg_counter_get(&im->n.disk_misses);
	out->disk_rejected = (uint64_t)limg_counter_get(&im->n.disk_rejected);
	out->disk_stale_later = (uint64_t)limg_counter_get(&im->n.disk_stale_later);
	out->disk_writes = (uint64_t)limg_counter_get(&im->n.disk_writes);
	out->disk_enabled = limg_images_disk_usable(im);
	out->disk_bytes = out->disk_enabled ? limg_budget_usage(im->cache_dir) : 0;
	if (im->budget) {
		LimgBudgetStats bs;

		limg_budget_stats(im->budget, &bs);
		out->disk_budget = bs.max;
		out->disk_evictions = bs.evictions;
		out->disk_evicted_bytes = bs.evicted_bytes;
	}
	out->handles = limg_handles_count(im->handles);
	limg_block_cache_stats(im->blocks, &out->blocks);
	limg_precompute_stats(im->pre, &out->queue);
}
