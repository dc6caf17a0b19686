/*
 * stats.c - MOUNT/.stats: one "key value" line per counter, read at open
 * (a snapshot, served with direct_io). Scripts and benchmarks read these
 * keys; keep them stable.
 */
#include <config.h>

#include <unistd.h>

#include "fuse/fs-internal.h"

char *
limg_stats_text(LimgFs *fs)
{
	GString *s = g_string_new(NULL);
	LimgImagesStats st;
	unsigned pending;

	limg_images_stats(fs->images, &st);
	/* Pending: images of the store without a ready or failed generation yet. */
	pending = st.layers + st.stacks > st.ready + st.failed ?
	          st.layers + st.stacks - st.ready - st.failed : 0;
	g_string_append_printf(s, "layers_in_store %u\n", st.layers);
	g_string_append_printf(s, "stacks_in_store %u\n", st.stacks);
	g_string_append_printf(s, "images_known %u\n", st.known);
	g_string_append_printf(s, "images_laid_out %u\n", st.ready);
	g_string_append_printf(s, "layouts_built %" G_GUINT64_FORMAT "\n", st.layouts);
	g_string_append_printf(s, "layout_seconds %.3f\n", st.layout_usec / 1e6);
	g_string_append_printf(s, "meta_blocks_rendered %" G_GUINT64_FORMAT "\n", st.meta_rendered);
	g_string_append_printf(s, "bytes_served_meta %" G_GUINT64_FORMAT "\n", st.bytes_meta);
	g_string_append_printf(s, "bytes_served_data %" G_GUINT64_FORMAT "\n", st.bytes_data);
	g_string_append_printf(s, "bytes_served_zero %" G_GUINT64_FORMAT "\n", st.bytes_zero);
	g_string_append_printf(s, "read_errors %" G_GUINT64_FORMAT "\n", st.read_errors);
	g_string_append_printf(s, "source_changes %" G_GUINT64_FORMAT "\n", st.source_changes);
	g_string_append_printf(s, "images_ready %u\nimages_pending %u\nimages_failed %u\n",
	                       st.ready, pending, st.failed);
	g_string_append_printf(s, "images_building %u\n", st.building);
	g_string_append_printf(s, "queue_length %u\nqueue_settling %u\nqueue_running %u\n",
	                       st.queue.queued, st.queue.delayed, st.queue.running);
	g_string_append_printf(s, "walks %" G_GUINT64_FORMAT "\nwalk_seconds %.3f\n", st.walks,
	                       st.walk_usec / 1e6);
	g_string_append_printf(s, "cache_mem_hits %" G_GUINT64_FORMAT "\ncache_mem_misses %"
	                       G_GUINT64_FORMAT "\ncache_mem_evictions %" G_GUINT64_FORMAT "\n",
	                       st.blocks.hits, st.blocks.misses, st.blocks.evictions);
	g_string_append_printf(s, "cache_mem_bytes %" G_GUINT64_FORMAT "\ncache_mem_budget %"
	                       G_GUINT64_FORMAT "\n", st.blocks.bytes, st.blocks.budget);
	g_string_append_printf(s, "cache_disk_hits %" G_GUINT64_FORMAT "\ncache_disk_misses %"
	                       G_GUINT64_FORMAT "\ncache_disk_rejected %" G_GUINT64_FORMAT
	                       "\ncache_disk_writes %" G_GUINT64_FORMAT "\ncache_disk_stale_later %"
	                       G_GUINT64_FORMAT "\n", st.disk_hits, st.disk_misses, st.disk_rejected,
	                       st.disk_writes, st.disk_stale_later);
	g_string_append_printf(s, "cache_disk_layouts %" G_GUINT64_FORMAT "\n", st.disk_layouts);
	g_string_append_printf(s, "cache_disk_heads %" G_GUINT64_FORMAT "\n", st.disk_heads);
	g_string_append_printf(s, "cache_disk_bytes %" G_GUINT64_FORMAT "\ncache_disk_enabled %d\n",
	                       st.disk_bytes, st.disk_enabled);
	/* Budget 0: no limit. Evictions: cache files removed to keep to it. */
	g_string_append_printf(s, "cache_disk_budget %" G_GUINT64_FORMAT "\ncache_disk_evictions %"
	                       G_GUINT64_FORMAT "\ncache_disk_evicted_bytes %" G_GUINT64_FORMAT "\n",
	                       st.disk_budget, st.disk_evictions, st.disk_evicted_bytes);
	g_string_append_printf(s, "open_source_files %u\n", st.handles);
	/* Who serves: keeper 0 with -o nokeeper; worker_start 2, 3, ... after restarts. */
	g_string_append_printf(s, "keeper_pid %d\nworker_pid %d\nworker_start %u\n",
	                       (int)fs->keeper, (int)getpid(), fs->worker_start);
	return g_string_free(s, FALSE);
}
