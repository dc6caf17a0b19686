/*
 * images.h - the layer-image service: every layer of a store as an image,
 * laid out once, cached in memory and on disk, precomputed in the
 * background, served in generations.
 *
 * An image is named by its layer's id in the store. Its current
 * generation (LimgGen) is an immutable layout of the layer plus the
 * source it reads file data from; the mount, `render` and any other
 * consumer read a generation through the read planner (gen-read.h).
 *
 * Build pipeline, the first time an image is asked for (or when a
 * precompute worker gets to it):
 *
 *   store lookup -> source (by the layer's kind)
 *     -> disk cache: the tree saved for the source's identity, if the
 *        policy trusts it (first generation only, not verify=walk) and the
 *        source verifies it (the directory source: every directory
 *        unchanged; see "Verified later" below)
 *     -> otherwise scan (walk), and for a layer whose completeness is a
 *        guess, settle: refuse a tree whose newest change is younger than
 *        the settle time (precompute retries it later)
 *     -> layout -> persist (save the scanned tree, the hints and the head)
 *
 * Concurrent requests for one image wait for one build. A generation is
 * replaced by a new one when a source file changed under it (the read
 * planner marks it stale) or the layer directory was replaced; the old
 * one lives on for as long as anyone holds it (an open file keeps the
 * generation it opened). The service tells its listener (the FUSE side)
 * when an image changed or left the store, so the kernel's caches can be
 * invalidated.
 *
 * Verified later. In a started service, a directory layer's tree from
 * the disk cache is served at once and its directories are checked on
 * the verifier's thread right after (one stat each: a few ms for a
 * Debian base layer), instead of before the first byte. That thread runs
 * at SCHED_IDLE, on CPU time no request wants: on a machine busy on
 * every core the check waits for a free moment. Until then the
 * service trusts, of the layer as it is now:
 *  - its top directory: device, inode, mtime and ctime are the file's
 *    fingerprint, compared before the tree is used (an entry added,
 *    removed or renamed at the top changes them);
 *  - nothing of any file's content: every file is checked when it is
 *    opened for its bytes (inode, size, mtime, ctime), so a file that
 *    changed gives an I/O error for its bytes, never other bytes;
 *  - that no entry was added, removed or renamed below the top: this is
 *    the one thing the verifier checks later. What a reader sees in that
 *    window if it was (possible only while the daemon was not running,
 *    as layers are not changed in place by the engines) is the image of
 *    the layer as the cache file recorded it: consistent, minus the new
 *    entries, with I/O errors for entries removed. Then the image goes
 *    stale (as when a file changes under a served image), the kernel's
 *    caches of it are dropped and the next open lays it out again.
 * A service that was not started (`render`) verifies before use.
 *
 * Restarted. A started service serves a directory layer's first
 * generation from its cache file's head (head.h: the image's first 64
 * blocks, its size, digest facts and entry count) without reading the
 * tree: the lookup reads the file's first bytes (header, identity, the
 * compressed head) and nothing else. The first read of the image within
 * the head is answered from it; the read's reply then queues the rest
 * (limg_gen_prepare(): the completer's thread, nice 10, reads the tree,
 * lays it out from its hints and checks that the layout gives exactly
 * the head's facts and bytes), and any read past the head does it itself
 * if it comes first. Trusted before that, beyond the above: the head's
 * own checksum (over the identity and the head) and that the head was
 * written by this program with these options (its tag). If the tree is
 * damaged behind a good head, the layer is walked instead; if that walk
 * lays out to the same head (the layer is unchanged), the image is
 * served on without a visible difference and the file written again;
 * if not, what was served came from the layer as the file recorded it,
 * reads of that generation past the head fail with EIO, and the image
 * goes stale (the next open lays it out again). The verifier checks the
 * directories once the layout is there, as above.
 *
 * Knows nothing of FUSE.
 *
 * Thread model: thread-safe. Locks: the image table before one image's
 * lock; the block cache and the fd cache are leaf locks. No lock is held
 * across a build, file I/O or a listener call. Start precomputation only
 * after daemonizing (fork).
 */
#ifndef LIMG_IMAGES_H
#define LIMG_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "cache/blockcache.h"
#include "cache/precompute.h"
#include "store/store.h"
#include "util/report.h"

typedef struct LimgImages LimgImages;
typedef struct LimgGen LimgGen;

#define LIMG_IMAGES_DEFAULT_CACHE_MEM (256u * 1024 * 1024)

typedef enum {
	LIMG_IMAGE_CHANGED,     /* a new generation replaced the one served */
	LIMG_IMAGE_REMOVED,     /* the layer left the store */
} LimgImageEvent;

/* Called on the thread that noticed; must not call back into the service. */
typedef void (*LimgImagesNotifyFn)(void *ctx, const char *name, LimgImageEvent event);

/*
 * The findings of one build of image @name: scan warnings (entries left
 * out: @skipped of them), layout errors and the compatibility notes.
 * Default (no hook): warnings and errors are logged.
 */
typedef void (*LimgImagesReportFn)(void *ctx, const char *name, const LimgReport *report,
                                   uint64_t skipped);

typedef struct {
	bool xattrs;            /* record extended attributes */
	size_t cache_mem;       /* rendered-block budget; 0: 256 MiB */
	const char *cache_dir;  /* persistent trees; NULL: memory only */
	uint64_t cache_size;    /* budget of cache_dir (trees and spools
	                         * together, LRU; budget.h); 0: no limit */
	bool verify_walk;       /* never trust the disk cache: walk again */
	unsigned workers;       /* precompute threads; 0: build on demand only */
	uint32_t settle_ms;     /* quiet time before a guessed-complete layer */
	bool progress;          /* log one line per precomputed image */
	unsigned scan_threads;  /* stat threads of a scan a request waits for;
	                         * 0: min(4, cores) */
	bool strict;            /* refuse an image whose scan left entries out */
	const char *volume_id;  /* NULL: the format's default */
	unsigned prerender;     /* metadata blocks rendered after a precompute
	                         * build, ready for the first read; 0: 512 */
	unsigned handles;       /* open source files kept; 0: 256 (-o open_files) */
	uint64_t tar_max;       /* most bytes a compressed tar blob may
	                         * decompress to; 0: LIMG_TAR_DEFAULT_MAX */
	LimgImagesReportFn report;
	void *report_ctx;
} LimgImagesOptions;

typedef struct {
	unsigned layers;        /* in the store now */
	unsigned stacks;        /* stacks the store's metadata names now */
	unsigned known;         /* images in the table */
	unsigned ready;         /* with a generation */
	unsigned failed;        /* last build failed, no generation */
	unsigned building;
	uint64_t layouts;       /* generations built */
	uint64_t layout_usec;   /* in builds, scans included */
	uint64_t entries;       /* laid out, over all builds */
	uint64_t walks;
	uint64_t walk_usec;
	uint64_t meta_rendered;
	uint64_t bytes_meta;    /* served through the read planner */
	uint64_t bytes_data;
	uint64_t bytes_zero;
	uint64_t read_errors;
	uint64_t source_changes;
	uint64_t disk_hits;
	uint64_t disk_layouts;   /* of the hits: laid out from the hints kept */
	uint64_t disk_heads;     /* of the hits: served from the head first */
	uint64_t disk_misses;
	uint64_t disk_rejected;
	uint64_t disk_writes;
	uint64_t disk_stale_later;      /* served from the disk cache, then found stale */
	bool disk_enabled;
	uint64_t disk_bytes;    /* cache files now (disk use) */
	uint64_t disk_budget;   /* 0: no limit */
	uint64_t disk_evictions;        /* cache files removed for the budget */
	uint64_t disk_evicted_bytes;
	unsigned handles;       /* open source files cached */
	LimgBlockCacheStats blocks;
	LimgPrecomputeStats queue;
} LimgImagesStats;

/* Takes ownership of @store. */
LimgImages *limg_images_new(LimgStore *store, const LimgImagesOptions *opts);

/* Stops precomputation, frees everything. Every generation must be unref'd. */
void limg_images_free(LimgImages *im);

/* The listener of image changes (one; NULL to remove). */
void limg_images_set_notify(LimgImages *im, LimgImagesNotifyFn fn, void *ctx);

/*
 * Start the store watcher (layers and metadata that come and go) and the
 * background workers (if opts.workers), and queue every image of the
 * store for them. After daemonizing.
 */
gboolean limg_images_start(LimgImages *im, GError **error);

/* Stop the workers and the watcher (waits for running builds). Idempotent. */
void limg_images_stop(LimgImages *im);

LimgStore *limg_images_store(LimgImages *im);

/* Block size of the images' format (bytes). */
uint32_t limg_images_block_size(const LimgImages *im);

/*
 * The current generation of image @name, built now if there is none, it
 * went stale, or its layer was replaced. 0 and a reference in *out, or
 * -ENOENT (no such layer in the store now), or the build's -errno.
 */
int limg_images_get(LimgImages *im, const char *name, LimgGen **out);

/* Whether the store has layer @name now (no build). */
bool limg_images_exists(LimgImages *im, const char *name);

void limg_images_stats(LimgImages *im, LimgImagesStats *out);

/*
 * A cache file of @bytes was put into the cache directory (a spool, once
 * renamed into place): counted against the budget, which is enforced
 * when crossed (on this thread; budget.h). No-op without a cache
 * directory.
 */
void limg_images_disk_added(LimgImages *im, uint64_t bytes);

/* ------------------------------------------------------------ generations */

LimgGen *limg_gen_ref(LimgGen *g);
void limg_gen_unref(LimgGen *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgGen, limg_gen_unref)

const char *limg_gen_name(const LimgGen *g);
uint64_t limg_gen_number(const LimgGen *g);
uint64_t limg_gen_size(const LimgGen *g);           /* image bytes */
uint32_t limg_gen_block_size(const LimgGen *g);
uint32_t limg_gen_meta_blocks(const LimgGen *g);
int64_t limg_gen_mtime(const LimgGen *g);           /* of the layer, seconds */
uint32_t limg_gen_entries(const LimgGen *g);        /* nodes of the tree */
size_t limg_gen_mem_bytes(const LimgGen *g);        /* layout and tree */
uint64_t limg_gen_data_bytes(const LimgGen *g);     /* file data, links once */

/*
 * What names @g's bytes: equal digests, equal bytes, in any process that
 * lays out the same layer (FNV-1a, 64 bits, over the name, the size, the
 * data bytes, the block size, the metadata block and entry counts, the
 * mtime and the primary volume descriptor's block); never 0, its top bit
 * clear. Computed once per generation: the mount names open files and
 * kernel inode generations with it, on every lookup and open.
 */
uint64_t limg_gen_digest(LimgGen *g);

/* 0 while the generation's layer exists; -ENOENT once it was removed. */
int limg_gen_present(LimgGen *g);

/*
 * Metadata block @block of @g, from the block cache or rendered into it:
 * a new reference, or NULL if rendering failed.
 */
GBytes *limg_gen_block(LimgGen *g, uint32_t block);

/*
 * Render the first @blocks metadata blocks of @g (at most the options'
 * prerender: what a guest reads to mount the image) into the block
 * cache, each once per generation: what an earlier call rendered is not
 * rendered again. Precomputation does it when an image is ready; the
 * mount after the reply to a lookup, for the blocks of a first read,
 * while the kernel and the reader go on to the open.
 */
void limg_gen_prerender(LimgGen *g, uint32_t blocks);

/*
 * Make @g ready to serve any byte: a generation served from its disk
 * cache file's head after a restart (see "Restarted") reads the rest of
 * the file and lays it out now, on this thread, if it has not yet. A
 * no-op for any other. The mount calls it after replying to a read, so
 * that the first read of a restarted image is served from the head
 * while nothing else runs, and the next one finds the layout there.
 */
void limg_gen_prepare(LimgGen *g);

#endif /* LIMG_IMAGES_H */
