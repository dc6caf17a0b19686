/*
 * blockcache.h - rendered metadata blocks of all images, in one memory
 * budget with least-recently-used eviction across images.
 *
 * Blocks are keyed by (owner, lba), where owner is an image generation;
 * a block handed out is a GBytes reference, valid however long the caller
 * holds it, even if the cache evicts it meanwhile (so a reply being built
 * never loses its bytes).
 *
 * Thread model: thread-safe; one internal mutex (a leaf lock), never held
 * while rendering.
 */
#ifndef LIMG_BLOCKCACHE_H
#define LIMG_BLOCKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

typedef struct LimgBlockCache LimgBlockCache;

/* Render block @lba of @ctx into @buf (2048 bytes). 0 or -errno. */
typedef int (*LimgRenderFn)(gconstpointer ctx, uint32_t lba, uint8_t *buf);

typedef struct {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;
	uint64_t bytes;      /* block bytes held now */
	uint64_t budget;
	uint64_t blocks;
} LimgBlockCacheStats;

/* @budget: bytes of block data to keep at most (>= one block). */
LimgBlockCache *limg_block_cache_new(size_t budget);
void limg_block_cache_free(LimgBlockCache *c);

/*
 * Block @lba of @owner: from the cache, or rendered by @render(@owner, lba)
 * and inserted. Returns a new reference (caller unrefs), or NULL if
 * rendering failed.
 */
GBytes *limg_block_cache_get(LimgBlockCache *c, gconstpointer owner, uint32_t lba,
                             LimgRenderFn render);

/* Drop every block of @owner (its generation is going away). */
void limg_block_cache_drop_owner(LimgBlockCache *c, gconstpointer owner);

void limg_block_cache_stats(LimgBlockCache *c, LimgBlockCacheStats *out);

#endif /* LIMG_BLOCKCACHE_H */
