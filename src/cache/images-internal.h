/*
 * images-internal.h - the image service's state shared by images.c (the
 * table), images-build.c (the build pipeline) and gen-read.c (the read
 * planner). Not for other modules: they use images.h and gen-read.h.
 */
#ifndef LIMG_IMAGES_INTERNAL_H
#define LIMG_IMAGES_INTERNAL_H

#include "cache/budget.h"
#include "cache/handles.h"
#include "cache/head.h"
#include "cache/images.h"
#include "cache/persist.h"
#include "iso/format.h"
#include "source/source.h"

/* Counters behind LimgImagesStats; updated with atomics. */
typedef struct {
	gint64 layouts;
	gint64 layout_usec;
	gint64 entries;
	gint64 walks;
	gint64 walk_usec;
	gint64 meta_rendered;
	gint64 bytes_meta;
	gint64 bytes_data;
	gint64 bytes_zero;
	gint64 read_errors;
	gint64 source_changes;
	gint64 disk_hits;
	gint64 disk_layouts;
	gint64 disk_misses;
	gint64 disk_rejected;
	gint64 disk_writes;
	gint64 disk_stale_later;
	gint64 disk_heads;
} LimgImagesCounters;

static inline void
limg_counter_add(gint64 *counter, gint64 n)
{
	/* glib has no 64-bit atomic add; use the compiler's. */
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static inline gint64
limg_counter_get(gint64 *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/*
 * What a stack generation stands on: the generations of the images it
 * merges (parts 0 .. gens->len - 1 of its stack source) and the files it
 * puts on top (the last part). Owned by the stack source, freed with it.
 */
typedef struct {
	GPtrArray *gens;            /* LimgGen * references */
	LimgSource *files;          /* or NULL */
	LimgTree *files_tree;
} LimgStackHold;

/*
 * A generation: immutable after it is built, but for one step. A
 * generation from the head of its disk-cache file (headed: see images.h,
 * "Restarted") is served from the head's facts and bytes until its
 * layout is needed; limg_gen_layout() then reads the rest of the file
 * (once, under @complete) and sets @layout.
 */
struct LimgGen {
	gint ref;
	LimgImages *im;             /* outlives every generation */
	char *name;
	uint64_t number;            /* 1, 2, ... per image */
	LimgFormatLayout *layout;   /* headed: set under @complete */
	LimgHead head;              /* head.bytes NULL: not headed (facts stay,
	                             * the bytes go once the layout is there) */
	GMutex head_lock;           /* protects head.bytes */
	bool headed;                /* from a head: facts from @head */
	LimgPersistFile *pending;   /* headed: the file the tree is read from */
	gsize complete;             /* g_once: 1 @layout is there, 2 reading it failed */
	gint verify_queued;         /* atomic: handed to the verifier */
	gint prepare_queued;        /* atomic: handed to the completer */
	LimgSource *source;         /* owned: its fds are the generation's */
	LimgStackHold *stack;       /* stacks: borrowed from @source; else NULL */
	int64_t mtime;
	bool verify_pending;        /* from the disk cache, not verified yet: the
	                             * verifier's once it is the image's */
	gint64 present_us;          /* atomic: when the source was last found
	                             * present (gen-read.c) */
	gint prerendered;           /* atomic: blocks limg_gen_prerender() took */
	guint64 digest;             /* atomic: limg_gen_digest(), 0 until known */
};

struct LimgImages {
	LimgStore *store;
	LimgImagesOptions opts;     /* strings below are our copies */
	char *cache_dir;
	char *volume_id;
	const LimgFormat *fmt;
	LimgBlockCache *blocks;
	LimgHandles *handles;
	LimgPrecompute *pre;
	LimgBudget *budget;         /* of cache_dir; NULL without one */
	LimgImagesNotifyFn notify;  /* set before start */
	void *notify_ctx;
	gint disk_off;              /* atomic: the cache directory failed */
	GThreadPool *verifier;      /* verifies disk-cache trees being served;
	                             * NULL: not started (they are verified first) */
	gint verify_stop;           /* atomic: skip what is still queued */
	GThreadPool *completer;     /* lays out headed generations after a read
	                             * (limg_gen_prepare()); NULL: not started */
	gint64 started_us;
	LimgImagesCounters n;
	GMutex lock;
	/* protected by lock */
	GHashTable *table;          /* name -> LimgImage * (one reference) */
	GHashTable *known;          /* names of the store's images at the last resync */
};

/*
 * One image: a layer name and its current generation (images.c). Lock
 * order: im->lock (the table) before img->lock.
 */
typedef struct {
	gint ref;
	char *name;
	GMutex lock;
	GCond cond;
	/* protected by lock */
	LimgGen *gen;           /* current generation, or NULL */
	bool building;
	bool stale;             /* a source file changed: lay out again */
	bool provisional;       /* @gen was built while the layer was still
	                         * being written: lay out again once complete */
	int error;              /* last build error (-errno), 0 if none */
	uint64_t dev, ino;      /* identity of the layer directory of @gen */
	uint64_t next_gen;
	char *key;              /* disk-cache key of the last build, or NULL */
} LimgImage;

/*
 * Hand @g (built from the disk cache, verify_pending) to the verifier,
 * once it is its image's generation (images.c). Takes a reference.
 */
void limg_images_verify_later(LimgImages *im, LimgGen *g);

/*
 * The layout of @g: for a headed generation, read from its cache file the
 * first time (on this thread; concurrent callers wait for it), checked
 * against the head. NULL if that failed (logged, the image marked stale,
 * the file removed: the next open walks the layer). (images.c)
 */
const LimgFormatLayout *limg_gen_layout(LimgGen *g);

/*
 * Headed @g's head bytes (a new reference) while its layout is not read,
 * else NULL. (images.c)
 */
GBytes *limg_gen_head_bytes(LimgGen *g);

/* Whether @g's layout is there: not headed, or read. Does not read it. */
static inline bool
limg_gen_complete(const LimgGen *g)
{
	return __atomic_load_n(&g->complete, __ATOMIC_ACQUIRE) == 1;
}

/*
 * Read headed generation @g's tree from its cache file and lay it out:
 * 0 and g->layout set, or -errno (logged). Called by limg_gen_layout()
 * only. (images-build.c)
 */
int limg_images_gen_complete(LimgImages *im, LimgGen *g);

/* Is the disk cache in use: a cache directory that has not failed? (images-build.c) */
bool limg_images_disk_usable(LimgImages *im);

/*
 * Lay out @info's layer as generation @number of @img (images-build.c):
 * its tree from the disk cache (the first generation only) or a walk,
 * normalised and laid out; a walked tree of a complete layer is saved to
 * the disk cache. With @settle_ms (for a layer that settles), a walked
 * tree changed less than @settle_ms ago is refused. A new generation, or
 * NULL with *err set (-EAGAIN: not settled, *@retry_at_us says when to
 * try again). Call without image locks held (a stack gets its parts'
 * generations); takes @img->lock only to record the disk-cache key.
 */
LimgGen *limg_images_gen_build(LimgImages *im, LimgImage *img, const LimgLayerInfo *info,
                               uint64_t number, uint32_t settle_ms, int64_t *retry_at_us,
                               int *err);

/*
 * Node @node of @g changed under it: @g's image went stale if @g is still
 * its generation, and so did, for a stack, the part the node came from.
 */
void limg_images_mark_stale(LimgImages *im, LimgGen *g, uint32_t node);

#endif /* LIMG_IMAGES_INTERNAL_H */
