/*
 * precompute.h - lay out layers in the background, before anyone asks.
 *
 * A pool of worker threads (low CPU and I/O priority) runs a build
 * callback for each queued image name; a watcher thread follows the
 * store directory with inotify and queues layers as they appear, after a
 * settle time (a layer still being extracted is retried later: the build
 * callback says when), and reports layers that vanish. For a store with
 * metadata it also follows the metadata directories and asks the owner
 * to resync after each batch of changes.
 *
 * Knows nothing of FUSE or of the image format: the caller supplies the
 * callbacks. A name is queued at most once at a time.
 *
 * Thread model: thread-safe. Start it only after daemonizing (fork).
 * Callbacks run on worker threads (build) and the watcher thread
 * (forget), never holding the module's lock.
 */
#ifndef LIMG_PRECOMPUTE_H
#define LIMG_PRECOMPUTE_H

#include <stdint.h>

#include <glib.h>

typedef enum {
	LIMG_BUILD_DONE,     /* ready (or nothing to do) */
	LIMG_BUILD_RETRY,    /* not settled yet: try again at *retry_at_us */
	LIMG_BUILD_FAILED,   /* gave up; logged by the callback */
} LimgBuildResult;

/*
 * Lay out layer @name. @settle_ms > 0 asks not to use a tree whose newest
 * change (ctime) is less than @settle_ms old; then return
 * LIMG_BUILD_RETRY with the monotonic time (g_get_monotonic_time()) to
 * retry at.
 */
typedef LimgBuildResult (*LimgBuildFn)(void *ctx, const char *name, uint32_t settle_ms,
                                       int64_t *retry_at_us);

/* Layer @name was removed from the store. */
typedef void (*LimgForgetFn)(void *ctx, const char *name);

/*
 * Something changed in one of the metadata directories: find out what
 * (once per batch of events, on the watcher thread).
 */
typedef void (*LimgResyncFn)(void *ctx);

typedef struct {
	unsigned workers;        /* 0: the watcher only (queued names are dropped) */
	uint32_t settle_ms;      /* quiet time before a new layer is laid out */
	const char *watch_dir;   /* store directory whose entries are layers, or NULL */
	const char *const *meta_dirs;  /* metadata directories to watch (NULL-terminated),
	                                * or NULL */
	LimgResyncFn resync;     /* called for changes in @meta_dirs */
	void (*tick)(void *ctx); /* called about once a second on the watcher
	                          * thread, or NULL */
} LimgPrecomputeOptions;

typedef struct LimgPrecompute LimgPrecompute;

typedef struct {
	unsigned queued;         /* waiting for a worker */
	unsigned delayed;        /* waiting for their settle time */
	unsigned running;
	uint64_t done;
	uint64_t retried;
	uint64_t failed;
} LimgPrecomputeStats;

LimgPrecompute *limg_precompute_start(const LimgPrecomputeOptions *opts, LimgBuildFn build,
                                      LimgForgetFn forget, void *ctx, GError **error);

/* Queue @name now (@delay_ms 0) or after @delay_ms; no-op if queued. */
void limg_precompute_queue(LimgPrecompute *p, const char *name, uint32_t delay_ms);

/* Stop: no new jobs; waits for running ones. NULL is fine. */
void limg_precompute_stop(LimgPrecompute *p);

void limg_precompute_stats(LimgPrecompute *p, LimgPrecomputeStats *out);

#endif /* LIMG_PRECOMPUTE_H */
