/*
 * images-build.c - the image service's build pipeline (images.h): a
 * layer's source (a directory, a tar blob, or a stack of generations and
 * the files put on top), its tree from the disk cache (verified against
 * the source) or a walk, refused while the layer settles, normalised,
 * laid out and saved to the disk cache: a new generation. The table that
 * holds generations is images.c.
 */
#include <config.h>

#include <errno.h>

#include "cache/images-internal.h"
#include "cache/persist.h"
#include "tree/overlay.h"
#include "util/fnv.h"
#include "util/log.h"

static void
disk_cache_failed(LimgImages *im, const char *what, int err)
{
	if (g_atomic_int_compare_and_exchange(&im->disk_off, 0, 1))
		limg_log(LIMG_LOG_WARN, "cache directory %s: %s: %s; continuing with the "
		         "memory cache only", im->cache_dir, what, g_strerror(-err));
}

bool
limg_images_disk_usable(LimgImages *im)
{
	return im->cache_dir && !g_atomic_int_get(&im->disk_off);
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
default_report(const char *name, const LimgReport *report)
{
	for (guint i = 0; i < report->warnings->len; i++)
		limg_log(LIMG_LOG_WARN, "%s.iso: %s", name, (char *)report->warnings->pdata[i]);
	for (guint i = 0; i < report->errors->len; i++)
		limg_log(LIMG_LOG_ERR, "%s.iso: %s", name, (char *)report->errors->pdata[i]);
}

/* A container's files, as a runtime puts them over its root. */
static const char *const container_files[] = {
	"etc/hosts=hosts",
	"etc/hostname=hostname",
	"etc/resolv.conf=resolv.conf",
	NULL,
};

static void
stack_hold_free(gpointer p)
{
	LimgStackHold *h = p;

	g_ptr_array_free(h->gens, TRUE);
	limg_source_free(h->files);
	limg_tree_free(h->files_tree);
	g_free(h);
}

/*
 * The source of stack @info: the current generation of every part (built
 * now if need be) and the files put on top. *hold is the stack's hold.
 */
static int
stack_source(LimgImages *im, const LimgLayerInfo *info, LimgSource **out, LimgStackHold **hold)
{
	LimgStackHold *h = g_new0(LimgStackHold, 1);
	g_autoptr(GArray) parts = g_array_new(FALSE, FALSE, sizeof(LimgStackPart));
	int ret;

	h->gens = g_ptr_array_new_with_free_func((GDestroyNotify)limg_gen_unref);
	for (guint i = 0; i < info->parts->len; i++) {
		const char *name = info->parts->pdata[i];
		LimgStackPart p = { 0 };
		LimgGen *pg;

		ret = limg_images_get(im, name, &pg);
		if (ret == 0 && !limg_gen_layout(pg)) {
			limg_gen_unref(pg);
			ret = -EIO;     /* its cache file failed: logged */
		}
		if (ret < 0) {
			limg_log(LIMG_LOG_ERR, "%s.iso: its part %s.iso: %s", info->id, name,
			         ret == -ENOENT ? "not in the store" : g_strerror(-ret));
			stack_hold_free(h);
			return ret;
		}
		g_ptr_array_add(h->gens, pg);
		p.source = pg->source;
		p.tree = im->fmt->tree(limg_gen_layout(pg));
		g_array_append_val(parts, p);
	}
	if (info->files_dir &&
	    limg_files_source_new(info->files_dir, container_files, &h->files) == 0) {
		LimgReport report;
		LimgStackPart p = { .files_only = true };

		limg_report_init(&report);
		ret = limg_source_scan(h->files, NULL, &report, &h->files_tree, NULL);
		default_report(info->id, &report);
		limg_report_release(&report);
		if (ret < 0) {
			stack_hold_free(h);
			return ret;
		}
		p.source = h->files;
		p.tree = h->files_tree;
		g_array_append_val(parts, p);
	}
	ret = limg_stack_source_new((LimgStackPart *)(void *)parts->data, parts->len,
	                            stack_hold_free, h, out);
	if (ret < 0) {
		stack_hold_free(h);
		return ret;
	}
	*hold = h;
	return 0;
}

/* The source that reads layer @info; *hold for stacks. */
static int
source_for(LimgImages *im, const LimgLayerInfo *info, LimgSource **out, LimgStackHold **hold)
{
	*hold = NULL;
	switch (info->kind) {
	case LIMG_LAYER_DIR:
		return limg_dir_source_new(info->root, info->rel, out);
	case LIMG_LAYER_STACK:
		return stack_source(im, info, out, hold);
	case LIMG_LAYER_TAR: {
		g_autofree char *path = limg_layer_info_path(info);
		LimgTarOptions topts = {
			.digest = info->digest,
			.offset = info->offset,
			.length = info->length,
			/* decompressed copies live with the layouts, under one budget */
			.spool_dir = limg_images_disk_usable(im) ? im->cache_dir : NULL,
			.max_size = im->opts.tar_max,
		};

		/*
		 * The operator's own path (render, -o layer=, an archive as
		 * SOURCE) may be a symlink; a blob inside a store never is.
		 */
		return limg_tar_source_new(path, !info->rel || !*info->rel, &topts, out);
	}
	}
	return -EINVAL;
}

/*
 * What, besides a layout, makes a head's bytes (head.h): this program
 * and the options the layout is built with.
 */
static uint64_t
head_tag(const LimgImages *im)
{
	const char *vid = im->volume_id ? im->volume_id : "";
	uint64_t h = limg_fnv_mix(LIMG_FNV_INIT, PACKAGE_STRING, sizeof(PACKAGE_STRING));

	return limg_fnv_mix(h, vid, strlen(vid) + 1);
}

/* Log a cache file that was not used, and count it. */
static void
disk_rejected(LimgImages *im, const char *name, int ret)
{
	limg_counter_add(&im->n.disk_rejected, 1);
	limg_log(LIMG_LOG_INFO, "%s.iso: cached layout %s; walking the layer again", name,
	         ret == -ESTALE ? "is for another version of the layer" :
	         ret == -EBADMSG ? "is truncated, corrupt or of an older format" :
	         g_strerror(-ret));
}

/*
 * Walk @src on @threads stat threads, counted; a scan error is reported
 * (naming @what), and with -o strict a scan that left entries out is
 * refused (-EIO; the warnings name each entry).
 */
static int
walk_tree(LimgImages *im, LimgSource *src, unsigned threads, const char *what,
          LimgReport *report, LimgTree **out, uint64_t *skipped)
{
	LimgScanOptions sopts = { .xattrs = im->opts.xattrs, .threads = threads };
	gint64 t0 = g_get_monotonic_time();
	int ret = limg_source_scan(src, &sopts, report, out, skipped);

	limg_counter_add(&im->n.walks, 1);
	limg_counter_add(&im->n.walk_usec, g_get_monotonic_time() - t0);
	if (ret < 0) {
		limg_report_error(report, "%s: %s", what, g_strerror(-ret));
		return ret;
	}
	if (*skipped && im->opts.strict) {
		g_clear_pointer(out, limg_tree_free);
		return -EIO;
	}
	return 0;
}

/*
 * Save @layout's tree for @id to the disk cache, with its hints and (for
 * a source verified later: a restart may serve it at once) its head. A
 * cache directory that fails is turned off, with a warning.
 */
static void
save_layout(LimgImages *im, const LimgSourceId *id, const LimgFormatLayout *layout,
            bool with_head)
{
	g_autoptr(GBytes) hints = im->fmt->hints(layout);
	g_autoptr(GBytes) head = with_head ? limg_head_render(im->fmt, layout, head_tag(im)) : NULL;
	uint64_t written = 0;
	int ret = limg_persist_save_layout(im->cache_dir, id, im->fmt->tree(layout), hints, head,
	                                   &written);

	if (ret < 0) {
		disk_cache_failed(im, "cannot save a layout", ret);
		return;
	}
	limg_counter_add(&im->n.disk_writes, 1);
	limg_budget_added(im->budget, written);
}

/*
 * The tree of layer @name: from the disk cache when it holds @id and the
 * policy trusts it (@allow_disk), else by a scan. With @settle_ms, a
 * scanned tree whose newest change is younger than that is refused
 * (-EAGAIN, *retry_at_us set): the layer is still being extracted.
 * *from_disk says where the tree came from, *skipped how many entries the
 * scan left out. *verify_later: a tree from the disk cache whose
 * verification is the verifier's, while it is served (images.h); *hints
 * the layout's hints kept with it, if any.
 *
 * With @deferred, a cache file with a head for this service (head.h)
 * whose tree the verifier may check later is not read further: 0,
 * *out NULL, the open file in *deferred and the head in *head. A cache
 * file written before heads existed sets *want_head (saved again, with
 * one if it is worth keeping).
 */
static int
build_tree(LimgImages *im, const char *name, LimgSource *src, const LimgSourceId *id,
           bool allow_disk, uint32_t settle_ms, int64_t *retry_at_us, LimgReport *report,
           LimgTree **out, GBytes **hints, bool *from_disk, bool *verify_later,
           uint64_t *skipped, LimgPersistFile **deferred, LimgHead *head, bool *want_head)
{
	int ret;

	*from_disk = false;
	*verify_later = false;
	*skipped = 0;
	*want_head = false;
	if (allow_disk && id->key && limg_images_disk_usable(im) && !im->opts.verify_walk) {
		bool later = limg_source_verify_later(src) && g_atomic_pointer_get(&im->verifier);
		g_autoptr(GBytes) raw = NULL;
		LimgPersistFile *pf = NULL;

		ret = limg_persist_open(im->cache_dir, id, &pf, later && deferred ? &raw : NULL);
		if (ret == 0 && raw && limg_head_parse(raw, im->fmt, head_tag(im), head)) {
			limg_counter_add(&im->n.disk_hits, 1);
			limg_counter_add(&im->n.disk_heads, 1);
			*deferred = pf;
			*from_disk = true;
			*verify_later = true;
			return 0;
		}
		*want_head = ret == 0 && later && deferred && limg_persist_headless_writer(pf);
		if (ret == 0) {
			ret = limg_persist_read_tree(pf, out, hints);
			limg_persist_close(pf);
		}
		if (ret == 0 && later) {
			*verify_later = true;
		} else if (ret == 0 && limg_source_verify(src, *out) < 0) {
			/* An entry was added, removed or renamed below the top. */
			g_clear_pointer(out, limg_tree_free);
			g_clear_pointer(hints, g_bytes_unref);
			ret = -ESTALE;
		}
		if (ret == 0) {
			limg_counter_add(&im->n.disk_hits, 1);
			*from_disk = true;
			return 0;
		}
		*want_head = false;
		if (ret == -ENOENT)
			limg_counter_add(&im->n.disk_misses, 1);
		else
			disk_rejected(im, name, ret);
	}
	/*
	 * A request waits for this walk: use the cores. Background builds
	 * (settle_ms > 0) stay on their one low-priority worker thread.
	 */
	ret = walk_tree(im, src, settle_ms ? 1 : im->opts.scan_threads, id->key ? id->key : name,
	                report, out, skipped);
	if (ret < 0)
		return ret;
	if (settle_ms) {
		int64_t age_ms = ((int64_t)g_get_real_time() / 1000) - tree_newest_ctime_ms(*out);

		if (age_ms < (int64_t)settle_ms) {
			g_clear_pointer(out, limg_tree_free);
			*retry_at_us = g_get_monotonic_time() +
			               ((int64_t)settle_ms - MAX(age_ms, 0)) * 1000 + 1000;
			return -EAGAIN;
		}
	}
	return 0;
}

/* A generation of @img without its layout yet; takes *src, records id->key. */
static LimgGen *
gen_new(LimgImages *im, LimgImage *img, uint64_t number, LimgSource **src, LimgStackHold *hold,
        int64_t mtime, LimgSourceId *id)
{
	LimgGen *g = g_new0(LimgGen, 1);

	g->ref = 1;
	g->im = im;
	g_mutex_init(&g->head_lock);
	g->name = g_strdup(img->name);
	g->number = number;
	g->source = g_steal_pointer(src);
	g->stack = hold;
	g->mtime = mtime;
	if (id->key) {
		g_mutex_lock(&img->lock);
		g_free(img->key);
		img->key = g_steal_pointer(&id->key);
		g_mutex_unlock(&img->lock);
	}
	return g;
}

/* Lay out @tree (taken) and check it against @g's head: 0, or -errno and *why. */
static int
layout_for_head(LimgImages *im, LimgGen *g, LimgTree *tree, GBytes *hints, LimgReport *report,
                LimgFormatLayout **out, const char **why)
{
	LimgFormatOptions fopts = { .volume_id = im->volume_id, .hints = hints };
	int ret = limg_overlay_normalize_layer(tree);

	if (ret < 0) {
		limg_tree_free(tree);
		*why = "its tree cannot be normalised";
		return ret;
	}
	ret = im->fmt->build(tree, &fopts, report, out);
	if (ret < 0) {
		*why = "its tree cannot be laid out";
		return ret;
	}
	if (!limg_head_matches(&g->head, im->fmt, *out)) {
		g_clear_pointer(out, im->fmt->unref);
		*why = "its tree does not lay out to the bytes of its head";
		return -EBADMSG;
	}
	return 0;
}

/*
 * The layout of headed @g by a walk of its layer, after its cache file
 * failed: the same as the head's (the layer is unchanged), saved to the
 * disk cache again, or an error.
 */
static int
layout_by_walk(LimgImages *im, LimgGen *g, LimgReport *report, LimgFormatLayout **out)
{
	g_auto(LimgSourceId) id = { 0 };
	LimgTree *tree = NULL;
	const char *why = NULL;
	uint64_t skipped = 0;
	int ret = walk_tree(im, g->source, im->opts.scan_threads, g->name, report, &tree, &skipped);

	if (ret == 0)
		ret = layout_for_head(im, g, tree, NULL, report, out, &why);
	if (ret == 0 && limg_images_disk_usable(im) && limg_source_identity(g->source, &id) == 0 &&
	    id.key)
		save_layout(im, &id, *out, true);
	return ret;
}

int
limg_images_gen_complete(LimgImages *im, LimgGen *g)
{
	g_autoptr(GBytes) hints = NULL;
	LimgFormatLayout *layout = NULL;
	LimgTree *tree = NULL;
	LimgReport report;
	gint64 t0 = g_get_monotonic_time();
	const char *why = "its tree is truncated or corrupt";
	int ret;

	limg_report_init(&report);
	ret = limg_persist_read_tree(g->pending, &tree, &hints);
	g_clear_pointer(&g->pending, limg_persist_close);
	if (ret == 0)
		ret = layout_for_head(im, g, g_steal_pointer(&tree), hints, &report, &layout, &why);
	else
		why = ret == -EBADMSG ? "its tree is truncated or corrupt" : g_strerror(-ret);
	if (ret == 0 && im->fmt->hinted(layout))
		limg_counter_add(&im->n.disk_layouts, 1);
	if (ret < 0) {
		g_auto(LimgSourceId) id = { 0 };

		/* Its first bytes were served: a walk must give them again. */
		limg_counter_add(&im->n.disk_rejected, 1);
		limg_log(LIMG_LOG_WARN, "%s.iso: cache file rejected after its first bytes were "
		         "served: %s; walking the layer again", g->name, why);
		if (im->cache_dir && limg_source_identity(g->source, &id) == 0 && id.key)
			limg_persist_remove(im->cache_dir, id.key);
		limg_report_release(&report);
		limg_report_init(&report);
		ret = layout_by_walk(im, g, &report, &layout);
	}
	if (im->opts.report)
		im->opts.report(im->opts.report_ctx, g->name, &report, 0);
	else
		default_report(g->name, &report);
	limg_report_release(&report);
	if (ret < 0) {
		/* Never bytes of another layout: errors, and the next open lays it out. */
		limg_log(LIMG_LOG_ERR, "%s.iso: the layer is not what its cache file recorded "
		         "(%s); reads of the generation served from it fail with EIO, the next "
		         "open lays it out again", g->name, g_strerror(-ret));
		limg_images_mark_stale(im, g, 0);
		return ret;
	}
	g->layout = layout;
	limg_counter_add(&im->n.layouts, 1);
	limg_counter_add(&im->n.layout_usec, g_get_monotonic_time() - t0);
	limg_counter_add(&im->n.entries, im->fmt->tree(layout)->n_nodes);
	return 0;
}

/*
 * Lay out @info's layer as generation @number of @img. A new generation,
 * or NULL with *err set (-EAGAIN: not settled, see build_tree()).
 */
LimgGen *
limg_images_gen_build(LimgImages *im, LimgImage *img, const LimgLayerInfo *info,
                      uint64_t number, uint32_t settle_ms, int64_t *retry_at_us, int *err)
{
	g_autoptr(LimgSource) src = NULL;
	g_auto(LimgSourceId) id = { 0 };
	LimgStackHold *hold = NULL;
	LimgFormatOptions fopts = { .volume_id = im->volume_id };
	LimgFormatLayout *layout = NULL;
	LimgTree *tree = NULL;
	g_autoptr(GBytes) hints = NULL;
	uint64_t skipped = 0;
	LimgReport report;
	gint64 t0 = g_get_monotonic_time();
	bool from_disk = false, verify_later = false, want_head = false;
	LimgPersistFile *deferred = NULL;
	LimgHead head = { 0 };
	LimgGen *g;
	int ret;

	ret = source_for(im, info, &src, &hold);
	if (ret < 0) {
		if (info->kind == LIMG_LAYER_DIR || info->kind == LIMG_LAYER_TAR) {
			g_autofree char *path = limg_layer_info_path(info);

			limg_log(LIMG_LOG_ERR, "%s.iso: %s: %s", img->name, path,
			         ret == -ELOOP ? (info->kind == LIMG_LAYER_DIR ?
			                          "a symlink, not a directory" : "a symlink") :
			         ret == -EINVAL && info->kind == LIMG_LAYER_TAR ?
			         "not a regular file, or shorter than the blob it should hold" :
			         g_strerror(-ret));
		}
		*err = ret;
		return NULL;
	}
	ret = limg_source_identity(src, &id);
	if (ret < 0) {
		limg_log(LIMG_LOG_ERR, "%s.iso: %s", img->name, g_strerror(-ret));
		*err = ret;
		return NULL;
	}
	limg_report_init(&report);
	/*
	 * Only the first generation may come from the disk cache: a rebuild
	 * means the layer changed, and the fingerprint of its directory does
	 * not see changes below the top level.
	 */
	ret = build_tree(im, img->name, src, &id, number == 1, info->settle ? settle_ms : 0,
	                 retry_at_us, &report, &tree, &hints, &from_disk, &verify_later, &skipped,
	                 info->kind == LIMG_LAYER_DIR ? &deferred : NULL, &head, &want_head);
	if (ret == 0 && deferred) {
		/* Served from the head; laid out when first needed (gen_complete below). */
		limg_report_release(&report);
		g = gen_new(im, img, number, &src, NULL, info->mtime, &id);
		g->head = head;
		g->headed = true;
		g->pending = deferred;
		g->verify_pending = true;
		limg_log(LIMG_LOG_DEBUG, "%s.iso: generation %" G_GUINT64_FORMAT ", %u entries, "
		         "%" G_GUINT64_FORMAT " bytes (from the disk cache's head)", g->name, number,
		         head.entries, head.size);
		return g;
	}
	/* A compressed blob's scan put its decompressed copy in the cache. */
	if (ret == 0 && !from_disk && info->kind == LIMG_LAYER_TAR)
		limg_budget_added(im->budget, limg_tar_source_spooled(src));
	/*
	 * The image shows what the layer is, not who extracted it (overlay.h).
	 * Normalising a tree from the disk cache again changes nothing.
	 */
	if (ret == 0 && (ret = limg_overlay_normalize_layer(tree)) < 0)
		g_clear_pointer(&tree, limg_tree_free);
	if (ret == 0) {
		fopts.hints = hints;
		ret = im->fmt->build(tree, &fopts, &report, &layout);
		if (ret < 0)
			limg_report_error(&report, "image refused: %s", g_strerror(-ret));
	}
	if (ret == 0 && from_disk && im->fmt->hinted(layout))
		limg_counter_add(&im->n.disk_layouts, 1);
	/*
	 * The disk cache keeps the tree as laid out (it is verified against
	 * the source: normalising leaves every directory but the top alone)
	 * and the layout's hints, of complete layers only: a layer still
	 * being written is served as it is now and laid out again once
	 * complete. A file without hints that fit, or from before heads (an
	 * older one), is written again, once.
	 */
	if (ret == 0 && (!from_disk || !im->fmt->hinted(layout) || want_head) && id.key &&
	    info->complete && limg_images_disk_usable(im))
		save_layout(im, &id, layout, limg_source_verify_later(src));
	if (ret != -EAGAIN) {
		if (im->opts.report)
			im->opts.report(im->opts.report_ctx, img->name, &report, skipped);
		else
			default_report(img->name, &report);
	}
	limg_report_release(&report);
	if (ret < 0) {
		*err = ret;
		return NULL;
	}
	g = gen_new(im, img, number, &src, hold, info->kind == LIMG_LAYER_STACK ?
	            im->fmt->tree(layout)->nodes[0].mtime.sec : info->mtime, &id);
	g->layout = layout;
	g->complete = 1;
	g->verify_pending = verify_later;
	limg_counter_add(&im->n.layouts, 1);
	limg_counter_add(&im->n.layout_usec, g_get_monotonic_time() - t0);
	limg_counter_add(&im->n.entries, im->fmt->tree(layout)->n_nodes);
	limg_log(LIMG_LOG_DEBUG, "%s.iso: generation %" G_GUINT64_FORMAT ", %u entries, "
	         "%" G_GUINT64_FORMAT " bytes%s", img->name, number,
	         im->fmt->tree(layout)->n_nodes, im->fmt->size(layout),
	         from_disk ? " (from the disk cache)" : "");
	return g;
}
