/*
 * test-blockcache.c - the rendered-block cache (cache/blockcache.h): one
 * budget for the blocks of all owners, least recently used first out,
 * blocks that stay valid while held, and no caching of failures.
 *
 * Owners are stub "generations" whose render function fills a block with
 * a pattern of (owner, lba) and counts its calls, so every expectation
 * about hits, misses and evictions is checked against the renders that
 * really happened.
 */
#include <config.h>

#include <unistd.h>

#include "cache/blockcache.h"
#include "lib/testlib.h"

#define BLK 2048

typedef struct {
	uint8_t id;
	gint renders;            /* atomic */
	int fail;                /* -errno to fail with, 0: render */
	unsigned delay_us;       /* per render, to widen races */
	GHashTable *per_lba;     /* lba -> renders (protected by lock) */
	GMutex lock;
} Owner;

static Owner A, B;

static void
owner_init(Owner *o, uint8_t id)
{
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->per_lba = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_mutex_init(&o->lock);
}

static void
owner_clear(Owner *o)
{
	g_hash_table_destroy(o->per_lba);
	g_mutex_clear(&o->lock);
}

static void
setup(void)
{
	owner_init(&A, 0xA1);
	owner_init(&B, 0xB2);
}

static void
teardown(void)
{
	owner_clear(&A);
	owner_clear(&B);
}

TestSuite(blockcache, .init = setup, .fini = teardown, .timeout = 30);

static uint8_t
pattern(uint8_t id, uint32_t lba, size_t i)
{
	return (uint8_t)(id ^ (lba * 31u) ^ (i * 7u) ^ (i >> 8));
}

static int
render(gconstpointer ctx, uint32_t lba, uint8_t *buf)
{
	Owner *o = (Owner *)ctx;

	g_atomic_int_inc(&o->renders);
	g_mutex_lock(&o->lock);
	g_hash_table_insert(o->per_lba, GUINT_TO_POINTER(lba),
	                    GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(
	                                         o->per_lba, GUINT_TO_POINTER(lba))) + 1));
	g_mutex_unlock(&o->lock);
	if (o->delay_us)
		g_usleep(o->delay_us);
	if (o->fail)
		return o->fail;
	for (size_t i = 0; i < BLK; i++)
		buf[i] = pattern(o->id, lba, i);
	return 0;
}

/* Renders of (@o, @lba) so far. */
static unsigned
renders_of(Owner *o, uint32_t lba)
{
	unsigned n;

	g_mutex_lock(&o->lock);
	n = GPOINTER_TO_UINT(g_hash_table_lookup(o->per_lba, GUINT_TO_POINTER(lba)));
	g_mutex_unlock(&o->lock);
	return n;
}

/* @b holds exactly the block (@o, @lba). */
static bool
is_block(GBytes *b, Owner *o, uint32_t lba)
{
	gsize n;
	const uint8_t *p;

	if (!b)
		return false;
	p = g_bytes_get_data(b, &n);
	if (n != BLK)
		return false;
	for (size_t i = 0; i < BLK; i++) {
		if (p[i] != pattern(o->id, lba, i))
			return false;
	}
	return true;
}

/* Get (@o, @lba), check its bytes, drop the reference. */
static void
touch(LimgBlockCache *c, Owner *o, uint32_t lba)
{
	GBytes *b = limg_block_cache_get(c, o, lba, render);

	cr_assert(is_block(b, o, lba), "block (%02x, %u) has the wrong bytes", o->id, lba);
	g_bytes_unref(b);
}

static LimgBlockCacheStats
stats(LimgBlockCache *c)
{
	LimgBlockCacheStats st;

	limg_block_cache_stats(c, &st);
	return st;
}

/* ------------------------------------------------------------ counters */

Test(blockcache, first_get_misses_and_renders_then_hits)
{
	LimgBlockCache *c = limg_block_cache_new(16 * BLK);
	LimgBlockCacheStats st;

	st = stats(c);
	cr_expect_eq(st.hits, 0);
	cr_expect_eq(st.misses, 0);
	cr_expect_eq(st.blocks, 0);
	cr_expect_eq(st.bytes, 0);
	cr_expect_eq(st.budget, 16 * BLK);

	touch(c, &A, 5);
	st = stats(c);
	cr_expect_eq(st.misses, 1);
	cr_expect_eq(st.hits, 0);
	cr_expect_eq(st.blocks, 1);
	cr_expect_eq(st.bytes, BLK);
	cr_expect_eq(renders_of(&A, 5), 1);

	for (int i = 0; i < 3; i++)
		touch(c, &A, 5);
	st = stats(c);
	cr_expect_eq(st.misses, 1);
	cr_expect_eq(st.hits, 3);
	cr_expect_eq(st.evictions, 0);
	cr_expect_eq(renders_of(&A, 5), 1, "a cached block is never rendered again");
	limg_block_cache_free(c);
}

Test(blockcache, render_gets_the_owner_and_lba_asked_for)
{
	LimgBlockCache *c = limg_block_cache_new(16 * BLK);

	touch(c, &A, 0);
	touch(c, &A, 7);
	touch(c, &B, 7);
	touch(c, &B, UINT32_MAX);
	cr_expect_eq(renders_of(&A, 0), 1);
	cr_expect_eq(renders_of(&A, 7), 1);
	cr_expect_eq(renders_of(&B, 7), 1);
	cr_expect_eq(renders_of(&B, UINT32_MAX), 1);
	cr_expect_eq(g_atomic_int_get(&A.renders), 2);
	cr_expect_eq(g_atomic_int_get(&B.renders), 2);
	cr_expect_eq(stats(c).blocks, 4);
	limg_block_cache_free(c);
}

Test(blockcache, budget_is_never_exceeded)
{
	LimgBlockCache *c = limg_block_cache_new(4 * BLK);
	LimgBlockCacheStats st;

	for (uint32_t lba = 0; lba < 10; lba++) {
		touch(c, &A, lba);
		st = stats(c);
		cr_expect_leq(st.bytes, 4 * BLK, "after %u blocks: %" PRIu64 " bytes", lba + 1, st.bytes);
		cr_expect_eq(st.bytes, st.blocks * BLK);
	}
	st = stats(c);
	cr_expect_eq(st.blocks, 4);
	cr_expect_eq(st.misses, 10);
	cr_expect_eq(st.evictions, 6);
	limg_block_cache_free(c);
}

Test(blockcache, budget_between_blocks_keeps_whole_blocks_below_it)
{
	LimgBlockCache *c = limg_block_cache_new(3 * BLK + BLK / 2);

	for (uint32_t lba = 0; lba < 8; lba++)
		touch(c, &A, lba);
	cr_expect_eq(stats(c).blocks, 3);
	cr_expect_eq(stats(c).evictions, 5);
	limg_block_cache_free(c);
}

Test(blockcache, budget_of_one_block_keeps_the_newest)
{
	LimgBlockCache *c = limg_block_cache_new(BLK);

	touch(c, &A, 1);
	touch(c, &A, 2);
	cr_expect_eq(stats(c).blocks, 1);
	touch(c, &A, 2);
	cr_expect_eq(stats(c).hits, 1, "the block just inserted is the one kept");
	cr_expect_eq(renders_of(&A, 2), 1);
	touch(c, &A, 1);
	cr_expect_eq(renders_of(&A, 1), 2, "the older block was evicted");
	limg_block_cache_free(c);
}

/* ------------------------------------------------------------ LRU */

Test(blockcache, least_recently_used_goes_first_across_owners)
{
	LimgBlockCache *c = limg_block_cache_new(3 * BLK);

	touch(c, &A, 1);        /* LRU order, oldest first: A1 */
	touch(c, &B, 1);        /* A1 B1 */
	touch(c, &A, 2);        /* A1 B1 A2 */
	touch(c, &A, 1);        /* hit: B1 A2 A1 */
	touch(c, &B, 2);        /* evicts B1: A2 A1 B2 */
	cr_expect_eq(stats(c).evictions, 1);

	/* Hits first (they evict nothing), then the one that must be gone. */
	touch(c, &A, 1);
	touch(c, &A, 2);
	touch(c, &B, 2);
	cr_expect_eq(renders_of(&A, 1), 1, "A1 was used recently: kept");
	cr_expect_eq(renders_of(&A, 2), 1);
	cr_expect_eq(renders_of(&B, 2), 1);
	cr_expect_eq(stats(c).hits, 4);
	touch(c, &B, 1);
	cr_expect_eq(renders_of(&B, 1), 2, "B1 was the least recently used: evicted");
	limg_block_cache_free(c);
}

Test(blockcache, same_lba_of_two_owners_is_two_blocks)
{
	LimgBlockCache *c = limg_block_cache_new(8 * BLK);
	GBytes *a = limg_block_cache_get(c, &A, 9, render);
	GBytes *b = limg_block_cache_get(c, &B, 9, render);

	cr_expect(is_block(a, &A, 9));
	cr_expect(is_block(b, &B, 9));
	cr_expect_eq(stats(c).blocks, 2);
	cr_expect_eq(stats(c).misses, 2);
	g_bytes_unref(a);
	g_bytes_unref(b);
	limg_block_cache_free(c);
}

/* ------------------------------------------------------------ references */

Test(blockcache, held_block_stays_valid_after_eviction)
{
	LimgBlockCache *c = limg_block_cache_new(BLK);
	GBytes *held = limg_block_cache_get(c, &A, 3, render);

	cr_assert(is_block(held, &A, 3));
	for (uint32_t lba = 10; lba < 20; lba++)
		touch(c, &B, lba);
	cr_expect_eq(stats(c).evictions, 10);
	cr_expect(is_block(held, &A, 3), "an evicted block keeps its bytes while held");
	limg_block_cache_drop_owner(c, &A);
	cr_expect(is_block(held, &A, 3));
	limg_block_cache_free(c);
	cr_expect(is_block(held, &A, 3), "and even after the cache is freed");
	g_bytes_unref(held);
}

Test(blockcache, drop_owner_forgets_that_owner_only)
{
	LimgBlockCache *c = limg_block_cache_new(16 * BLK);
	LimgBlockCacheStats st;

	touch(c, &A, 1);
	touch(c, &A, 2);
	touch(c, &B, 1);
	limg_block_cache_drop_owner(c, &A);
	st = stats(c);
	cr_expect_eq(st.blocks, 1);
	cr_expect_eq(st.bytes, BLK);
	cr_expect_eq(st.evictions, 0, "dropping is not evicting");
	touch(c, &B, 1);
	cr_expect_eq(renders_of(&B, 1), 1, "B's block survived");
	touch(c, &A, 1);
	touch(c, &A, 2);
	cr_expect_eq(renders_of(&A, 1), 2, "A's blocks were dropped");
	cr_expect_eq(renders_of(&A, 2), 2);
	limg_block_cache_drop_owner(c, &A);
	limg_block_cache_drop_owner(c, &A);
	limg_block_cache_drop_owner(c, &B);
	cr_expect_eq(stats(c).blocks, 0);
	cr_expect_eq(stats(c).bytes, 0);
	limg_block_cache_free(c);
}

/* ------------------------------------------------------------ failures */

Test(blockcache, failing_render_returns_null_and_caches_nothing)
{
	LimgBlockCache *c = limg_block_cache_new(2 * BLK);
	LimgBlockCacheStats st;

	touch(c, &B, 1);
	touch(c, &B, 2);
	A.fail = -EIO;
	cr_expect_null(limg_block_cache_get(c, &A, 4, render));
	st = stats(c);
	cr_expect_eq(st.blocks, 2, "a failed render takes no room");
	cr_expect_eq(st.bytes, 2 * BLK);
	cr_expect_eq(st.evictions, 0, "and evicts nothing");
	cr_expect_null(limg_block_cache_get(c, &A, 4, render));
	cr_expect_eq(renders_of(&A, 4), 2, "a failure is not remembered: rendered again");
	A.fail = 0;
	touch(c, &A, 4);
	touch(c, &A, 4);
	cr_expect_eq(renders_of(&A, 4), 3, "once it renders, it is cached");
	touch(c, &B, 2);
	cr_expect_eq(renders_of(&B, 2), 1);
	limg_block_cache_free(c);
}

/* ------------------------------------------------------------ threads */

#define THREADS 8
#define ROUNDS 200

typedef struct {
	LimgBlockCache *c;
	Owner *o;
	uint32_t lba;            /* UINT32_MAX: random lbas of 0..31 */
	guint seed;
	GBytes *first;           /* THREADS' first result (kept) */
	unsigned bad;
	unsigned nulls;
} Worker;

static gpointer
worker(gpointer data)
{
	Worker *w = data;
	GRand *r = g_rand_new_with_seed(w->seed);

	for (int i = 0; i < ROUNDS; i++) {
		uint32_t lba = w->lba != UINT32_MAX ? w->lba : (uint32_t)g_rand_int_range(r, 0, 32);
		GBytes *b = limg_block_cache_get(w->c, w->o, lba, render);

		if (!b) {
			w->nulls++;
			continue;
		}
		if (!is_block(b, w->o, lba))
			w->bad++;
		if (!w->first)
			w->first = g_bytes_ref(b);
		g_bytes_unref(b);
	}
	g_rand_free(r);
	return NULL;
}

static void
run_workers(Worker *w, unsigned n)
{
	GThread *t[THREADS];

	for (unsigned i = 0; i < n; i++)
		t[i] = g_thread_new("blk", worker, &w[i]);
	for (unsigned i = 0; i < n; i++)
		g_thread_join(t[i]);
}

Test(blockcache, concurrent_gets_of_one_block_give_equal_bytes)
{
	LimgBlockCache *c = limg_block_cache_new(16 * BLK);
	Worker w[THREADS];
	LimgBlockCacheStats st;

	A.delay_us = 2000;      /* the first renders overlap */
	for (unsigned i = 0; i < THREADS; i++)
		w[i] = (Worker){ .c = c, .o = &A, .lba = 6, .seed = i };
	run_workers(w, THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		cr_expect_eq(w[i].bad, 0, "thread %u saw wrong bytes", i);
		cr_expect_eq(w[i].nulls, 0);
		cr_assert_not_null(w[i].first);
		cr_expect(g_bytes_equal(w[i].first, w[0].first), "threads %u and 0 differ", i);
		g_bytes_unref(w[i].first);
	}
	st = stats(c);
	cr_expect_eq(st.blocks, 1, "one block, however many threads rendered it");
	cr_expect_eq(st.bytes, BLK);
	cr_expect_eq(st.hits + st.misses, THREADS * ROUNDS);
	cr_expect_eq((uint64_t)g_atomic_int_get(&A.renders), st.misses,
	             "a render for every miss, none for a hit");
	cr_expect_leq(st.misses, THREADS, "at most one miss per thread");
	limg_block_cache_free(c);
}

Test(blockcache, concurrent_gets_under_a_small_budget_keep_the_books)
{
	LimgBlockCache *c = limg_block_cache_new(5 * BLK);
	Worker w[THREADS];
	LimgBlockCacheStats st;

	for (unsigned i = 0; i < THREADS; i++)
		w[i] = (Worker){ .c = c, .o = i % 2 ? &A : &B, .lba = UINT32_MAX, .seed = 100 + i };
	run_workers(w, THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		cr_expect_eq(w[i].bad, 0, "thread %u saw wrong bytes", i);
		cr_expect_eq(w[i].nulls, 0);
		g_bytes_unref(w[i].first);
	}
	st = stats(c);
	cr_expect_eq(st.hits + st.misses, THREADS * ROUNDS);
	cr_expect_eq(st.blocks, 5);
	cr_expect_eq(st.bytes, 5 * BLK);
	cr_expect_eq((uint64_t)(g_atomic_int_get(&A.renders) + g_atomic_int_get(&B.renders)),
	             st.misses);
	/*
	 * Every block that went in is either there now or was evicted; a miss
	 * inserts one block, or none when another thread's render won.
	 */
	cr_expect_leq(st.evictions + st.blocks, st.misses);
	cr_expect_geq(st.evictions, 32 - 5, "32 blocks through a budget of 5");
	limg_block_cache_free(c);
}
