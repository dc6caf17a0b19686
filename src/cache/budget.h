/*
 * budget.h - one size budget for everything in the disk cache directory,
 * the least recently used files evicted first.
 *
 * What counts: regular files named <hex>.tree (persist.h: laid-out trees)
 * and <hex>.spool (decompressed layer blobs, source.h), by the disk space
 * they take (st_blocks * 512: a spool may be sparse), <hex> being one or
 * more hex digits. Temporaries, [<hex>].tree.tmp* and [<hex>].spool.tmp*
 * (<hex> here possibly empty; a cache file is written under such a name
 * and renamed into place), do not count and are never removed while
 * their mtime is younger than LIMG_BUDGET_TEMP_MAX_AGE seconds (a writer
 * that writes keeps it fresh); older ones are the leftovers of a crash
 * and are removed. Nothing else in the directory is ever touched: other
 * names, and whatever is not a regular file whatever its name (a symlink
 * is never followed).
 *
 * Recency is a file's mtime: whoever uses a cache file touches it
 * (util/touch.h: limg_touch(), at most one write per file and minute;
 * in util so that the sources, below this module, can call it too).
 *
 * Enforcement: when the cache files take more than the budget, the least
 * recently used are removed until they take at most
 * LIMG_BUDGET_LOW_WATER percent of it (so that every new file does not
 * cost an eviction). A file someone has open may be removed: Linux keeps
 * its data for the open descriptors and frees the space at the last
 * close, so a live generation keeps reading its spool; until then that
 * space is in use but no longer counted. A file larger than the whole
 * budget is removed at the first enforcement after it was added.
 *
 * Two ways to use it: limg_budget_enforce(), stateless, one scan of the
 * directory; or a LimgBudget, a running total (one scan at start),
 * raised by the writers as they add files (limg_budget_added()), with a
 * scan and an enforcement only when it crosses the budget.
 *
 * Thread model: thread-safe. Enforcements are serialized across threads
 * (a mutex of this module) and across processes (flock(2) on the
 * directory, where the file system has it: daemons may share a cache
 * directory), so two concurrent ones never remove more than one would.
 * That lock is held across the enforcement's own I/O and nothing else;
 * callers need no lock.
 */
#ifndef LIMG_BUDGET_H
#define LIMG_BUDGET_H

#include <stdint.h>

#include <glib.h>

/* Enforcement removes files until the rest take this share of the budget. */
#define LIMG_BUDGET_LOW_WATER 90
/* A temporary whose mtime is older than this (seconds) is a crash's leftover. */
#define LIMG_BUDGET_TEMP_MAX_AGE 3600

/*
 * The default budget: LIMG_BUDGET_DEFAULT_PERCENT of the size of the file
 * system @dir is on, at most LIMG_BUDGET_DEFAULT_CAP. The cache usually
 * shares that file system with the layer store (/var): a share of it
 * keeps a small disk from filling up, the cap keeps a large one from
 * holding more than a node needs (trees take about 190 bytes an entry; a
 * spool, its layer's uncompressed size).
 */
#define LIMG_BUDGET_DEFAULT_PERCENT 10
#define LIMG_BUDGET_DEFAULT_CAP (8ull << 30)

/* The default budget for @dir in bytes; the cap if statvfs(@dir) fails. */
uint64_t limg_budget_default(const char *dir);

/* What one enforcement did and found. */
typedef struct {
	uint64_t removed;       /* cache files removed */
	uint64_t removed_bytes; /* their disk use */
	uint64_t temps;         /* stale temporaries removed */
	uint64_t failed;        /* files that could not be removed */
	uint64_t files;         /* cache files left */
	uint64_t bytes;         /* their disk use */
} LimgBudgetResult;

/*
 * Remove the stale temporaries of @dir and, when its cache files take
 * more than @max_bytes (0: no limit), the least recently used of them
 * until the rest take at most LIMG_BUDGET_LOW_WATER percent of it. Logs
 * one line when it removed or failed to remove anything. A file that
 * vanishes meanwhile is normal; one that was used (touched) or replaced
 * since the scan is kept. Returns 0 and fills @out (may be NULL), or
 * -errno when @dir cannot be read (then nothing is removed).
 */
int limg_budget_enforce(const char *dir, uint64_t max_bytes, LimgBudgetResult *out);

/*
 * Disk use of the cache files of @dir now (a scan, nothing removed); 0 if
 * it cannot be read.
 */
uint64_t limg_budget_usage(const char *dir);

/* ------------------------------------------------------------ running total */

typedef struct LimgBudget LimgBudget;

typedef struct {
	uint64_t max;           /* the budget; 0: no limit */
	uint64_t used;          /* the last scan plus what was added since:
	                         * at least the disk use, give or take removals */
	uint64_t enforcements;  /* scans of the directory */
	uint64_t evictions;     /* cache files removed, over all enforcements */
	uint64_t evicted_bytes;
	uint64_t temps;         /* stale temporaries removed */
} LimgBudgetStats;

/* A budget of @max_bytes (0: no limit) for @dir (copied). No I/O. */
LimgBudget *limg_budget_new(const char *dir, uint64_t max_bytes);
void limg_budget_free(LimgBudget *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgBudget, limg_budget_free)

/*
 * Scan and enforce now (limg_budget_enforce()), and start the running
 * total from the scan. Call once at start: a budget smaller than the last
 * run's takes effect, a crash's temporaries go. 0 or -errno.
 */
int limg_budget_rescan(LimgBudget *b);

/*
 * A writer put a cache file of @bytes into the directory (its disk use,
 * or its size: the next scan corrects an estimate). When the running
 * total crosses the budget, the directory is scanned and the budget
 * enforced, on this thread, unless another thread is at it (it then scans
 * again when done, so this file is counted). No-op when @b is NULL.
 */
void limg_budget_added(LimgBudget *b, uint64_t bytes);

void limg_budget_stats(LimgBudget *b, LimgBudgetStats *out);

#endif /* LIMG_BUDGET_H */
