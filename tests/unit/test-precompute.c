/*
 * test-precompute.c - the background pool and store watcher
 * (cache/precompute.h), with stub build and forget callbacks that record
 * every call: each queued name is built once, a name is scheduled at most
 * once at a time, RETRY comes back no earlier than asked, stop waits for
 * running builds and drops the rest, and the watcher queues directories
 * that appear (after the settle time) and forgets those that go.
 */
#include <config.h>

#include <unistd.h>

#include "cache/precompute.h"
#include "lib/testlib.h"

typedef struct {
	unsigned calls;
	int64_t first_us, last_us;  /* monotonic, of the calls */
	uint32_t settle_ms;         /* as the last call got it */
	unsigned retries_left;      /* answer RETRY this many times */
	int64_t retry_after_us;     /* ... asking to come back this much later */
	int64_t asked_retry_at;     /* the last retry time asked for */
	bool fail;
	bool block;                 /* wait for the gate */
	unsigned forgets;
	int64_t forget_us;
} Rec;

typedef struct {
	GMutex lock;
	GCond cond;
	GHashTable *recs;           /* name -> Rec * */
	bool gate_open;
	unsigned blocked;           /* builds waiting at the gate now */
	GPtrArray *order;           /* names in build order */
} Ctx;

static Ctx ctx;
static char *dir;

static void
setup(void)
{
	g_mutex_init(&ctx.lock);
	g_cond_init(&ctx.cond);
	ctx.recs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	ctx.order = g_ptr_array_new_with_free_func(g_free);
	ctx.gate_open = false;
	ctx.blocked = 0;
	dir = th_tmpdir();
}

static void
teardown(void)
{
	g_hash_table_destroy(ctx.recs);
	g_ptr_array_free(ctx.order, TRUE);
	g_mutex_clear(&ctx.lock);
	g_cond_clear(&ctx.cond);
	th_rmtree(dir);
	g_free(dir);
}

TestSuite(precompute, .init = setup, .fini = teardown, .timeout = 30);

/* The record of @name (made if needed); call with ctx.lock held. */
static Rec *
rec_locked(const char *name)
{
	Rec *r = g_hash_table_lookup(ctx.recs, name);

	if (!r) {
		r = g_new0(Rec, 1);
		g_hash_table_insert(ctx.recs, g_strdup(name), r);
	}
	return r;
}

/* Set up how @name builds, before it is queued. */
static Rec *
plan(const char *name)
{
	Rec *r;

	g_mutex_lock(&ctx.lock);
	r = rec_locked(name);
	g_mutex_unlock(&ctx.lock);
	return r;
}

/* A copy of @name's record. */
static Rec
rec(const char *name)
{
	Rec r;

	g_mutex_lock(&ctx.lock);
	r = *rec_locked(name);
	g_mutex_unlock(&ctx.lock);
	return r;
}

static LimgBuildResult
build(void *c, const char *name, uint32_t settle_ms, int64_t *retry_at_us)
{
	Ctx *x = c;
	int64_t now = g_get_monotonic_time();
	LimgBuildResult res = LIMG_BUILD_DONE;
	Rec *r;

	g_mutex_lock(&x->lock);
	r = rec_locked(name);
	r->calls++;
	if (r->calls == 1)
		r->first_us = now;
	r->last_us = now;
	r->settle_ms = settle_ms;
	g_ptr_array_add(x->order, g_strdup(name));
	if (r->block) {
		x->blocked++;
		g_cond_broadcast(&x->cond);
		while (!x->gate_open)
			g_cond_wait(&x->cond, &x->lock);
		x->blocked--;
	}
	if (r->retries_left) {
		r->retries_left--;
		r->asked_retry_at = now + r->retry_after_us;
		*retry_at_us = r->asked_retry_at;
		res = LIMG_BUILD_RETRY;
	} else if (r->fail) {
		res = LIMG_BUILD_FAILED;
	}
	g_mutex_unlock(&x->lock);
	return res;
}

static void
forget(void *c, const char *name)
{
	Ctx *x = c;
	Rec *r;

	g_mutex_lock(&x->lock);
	r = rec_locked(name);
	r->forgets++;
	r->forget_us = g_get_monotonic_time();
	g_mutex_unlock(&x->lock);
}

static void
open_gate(void)
{
	g_mutex_lock(&ctx.lock);
	ctx.gate_open = true;
	g_cond_broadcast(&ctx.cond);
	g_mutex_unlock(&ctx.lock);
}

static LimgPrecompute *
start(unsigned workers, uint32_t settle_ms, const char *watch)
{
	LimgPrecomputeOptions o = { .workers = workers, .settle_ms = settle_ms, .watch_dir = watch };
	g_autoptr(GError) error = NULL;
	LimgPrecompute *p = limg_precompute_start(&o, build, forget, &ctx, &error);

	cr_assert_not_null(p, "start: %s", error ? error->message : "");
	return p;
}

static LimgPrecomputeStats
stats(LimgPrecompute *p)
{
	LimgPrecomputeStats st;

	limg_precompute_stats(p, &st);
	return st;
}

typedef struct {
	LimgPrecompute *p;
	uint64_t done, failed;     /* wait until at least these */
} Until;

static bool
settled(void *data)
{
	Until *u = data;
	LimgPrecomputeStats st = stats(u->p);

	return st.done >= u->done && st.failed >= u->failed && st.running == 0 && st.queued == 0 &&
	       st.delayed == 0;
}

static void
wait_idle(LimgPrecompute *p, uint64_t done, uint64_t failed)
{
	Until u = { p, done, failed };

	cr_assert(th_wait_for(settled, &u, 10000), "the pool did not finish: done %" PRIu64
	          " failed %" PRIu64, stats(p).done, stats(p).failed);
}

static bool
done_at_least(void *data)
{
	Until *u = data;

	return stats(u->p).done >= u->done;
}

static bool
retry_pending(void *data)
{
	LimgPrecomputeStats st = stats(data);

	return st.delayed == 1 && st.retried == 1;
}

static bool
one_blocked(void *data)
{
	unsigned n;

	g_mutex_lock(&ctx.lock);
	n = ctx.blocked;
	g_mutex_unlock(&ctx.lock);
	return n >= GPOINTER_TO_UINT(data);
}

/* ------------------------------------------------------------ the pool */

Test(precompute, every_queued_name_is_built_once)
{
	LimgPrecompute *p = start(2, 0, NULL);
	LimgPrecomputeStats st;

	for (int i = 0; i < 40; i++) {
		g_autofree char *name = g_strdup_printf("layer%02d", i);

		limg_precompute_queue(p, name, 0);
	}
	wait_idle(p, 40, 0);
	for (int i = 0; i < 40; i++) {
		g_autofree char *name = g_strdup_printf("layer%02d", i);

		cr_expect_eq(rec(name).calls, 1, "%s built %u times", name, rec(name).calls);
	}
	st = stats(p);
	cr_expect_eq(st.done, 40);
	cr_expect_eq(st.failed, 0);
	cr_expect_eq(st.retried, 0);
	cr_expect_eq(st.queued, 0);
	cr_expect_eq(st.delayed, 0);
	cr_expect_eq(st.running, 0);
	cr_expect_eq(ctx.order->len, 40, "no build for a name never queued");
	limg_precompute_stop(p);
}

Test(precompute, settle_ms_reaches_the_build)
{
	LimgPrecompute *p = start(1, 1234, NULL);

	limg_precompute_queue(p, "a", 0);
	wait_idle(p, 1, 0);
	cr_expect_eq(rec("a").settle_ms, 1234);
	limg_precompute_stop(p);
}

Test(precompute, a_name_queued_again_while_scheduled_is_built_once)
{
	LimgPrecompute *p = start(1, 0, NULL);
	LimgPrecomputeStats st;

	plan("first")->block = true;
	limg_precompute_queue(p, "first", 0);
	cr_assert(th_wait_for(one_blocked, GUINT_TO_POINTER(1), 5000));
	/* Running: queueing it again is a no-op. */
	limg_precompute_queue(p, "first", 0);
	/* Waiting for the one worker: queued twice, counted once. */
	limg_precompute_queue(p, "second", 0);
	limg_precompute_queue(p, "second", 0);
	limg_precompute_queue(p, "second", 200);
	/* Delayed: queueing it now does not make a second job. */
	limg_precompute_queue(p, "third", 300);
	limg_precompute_queue(p, "third", 0);
	st = stats(p);
	cr_expect_eq(st.running, 1);
	cr_expect_eq(st.queued, 1, "second once");
	cr_expect_eq(st.delayed, 1, "third once");
	open_gate();
	wait_idle(p, 3, 0);
	cr_expect_eq(rec("first").calls, 1);
	cr_expect_eq(rec("second").calls, 1);
	cr_expect_eq(rec("third").calls, 1);
	cr_expect_eq(stats(p).done, 3);

	/* Once done, a name can be queued again. */
	limg_precompute_queue(p, "first", 0);
	wait_idle(p, 4, 0);
	cr_expect_eq(rec("first").calls, 2);
	limg_precompute_stop(p);
}

Test(precompute, retry_runs_again_no_earlier_than_asked)
{
	LimgPrecompute *p = start(2, 0, NULL);
	Rec *r = plan("slow");
	LimgPrecomputeStats st;
	Rec got;

	r->retries_left = 2;
	r->retry_after_us = 250 * 1000;
	limg_precompute_queue(p, "slow", 0);
	limg_precompute_queue(p, "quick", 0);
	cr_expect(th_wait_for(retry_pending, p, 5000), "waiting for its retry time");
	limg_precompute_queue(p, "slow", 0);   /* scheduled (delayed): no-op */
	wait_idle(p, 2, 0);
	got = rec("slow");
	cr_expect_eq(got.calls, 3, "two RETRYs, then DONE");
	cr_expect_geq(got.last_us, got.asked_retry_at, "not before the time it asked for");
	cr_expect_geq(got.last_us - got.first_us, 2 * 250 * 1000);
	cr_expect_eq(rec("quick").calls, 1);
	st = stats(p);
	cr_expect_eq(st.retried, 2);
	cr_expect_eq(st.done, 2, "a retried build counts as done once, when it is");
	cr_expect_eq(st.failed, 0);
	limg_precompute_stop(p);
}

Test(precompute, failed_builds_are_counted)
{
	LimgPrecompute *p = start(2, 0, NULL);
	LimgPrecomputeStats st;

	plan("bad1")->fail = true;
	plan("bad2")->fail = true;
	limg_precompute_queue(p, "bad1", 0);
	limg_precompute_queue(p, "bad2", 0);
	limg_precompute_queue(p, "good", 0);
	wait_idle(p, 1, 2);
	st = stats(p);
	cr_expect_eq(st.failed, 2);
	cr_expect_eq(st.done, 1);
	cr_expect_eq(st.retried, 0);
	/* A failed name is not scheduled any more: it may be queued again. */
	limg_precompute_queue(p, "bad1", 0);
	wait_idle(p, 1, 3);
	cr_expect_eq(rec("bad1").calls, 2);
	limg_precompute_stop(p);
}

Test(precompute, delay_ms_defers_the_build)
{
	LimgPrecompute *p = start(1, 0, NULL);
	int64_t t0 = g_get_monotonic_time();
	LimgPrecomputeStats st;

	limg_precompute_queue(p, "later", 300);
	st = stats(p);
	cr_expect_eq(st.delayed, 1);
	cr_expect_eq(st.queued, 0);
	wait_idle(p, 1, 0);
	cr_expect_geq(rec("later").first_us - t0, 300 * 1000);
	cr_expect_eq(stats(p).retried, 0, "a delay is not a retry");
	limg_precompute_stop(p);
}

Test(precompute, stats_count_queued_delayed_and_running)
{
	LimgPrecompute *p = start(2, 0, NULL);
	LimgPrecomputeStats st;

	plan("b1")->block = true;
	plan("b2")->block = true;
	limg_precompute_queue(p, "b1", 0);
	limg_precompute_queue(p, "b2", 0);
	cr_assert(th_wait_for(one_blocked, GUINT_TO_POINTER(2), 5000));
	limg_precompute_queue(p, "q1", 0);
	limg_precompute_queue(p, "q2", 0);
	limg_precompute_queue(p, "q3", 0);
	limg_precompute_queue(p, "d1", 5000);
	st = stats(p);
	cr_expect_eq(st.running, 2);
	cr_expect_eq(st.queued, 3);
	cr_expect_eq(st.delayed, 1);
	cr_expect_eq(st.done, 0);
	open_gate();
	cr_assert(th_wait_for(done_at_least, &(Until){ p, 5, 0 }, 10000));
	st = stats(p);
	cr_expect_eq(st.done, 5);
	cr_expect_eq(st.running, 0);
	cr_expect_eq(st.queued, 0);
	cr_expect_eq(st.delayed, 1, "d1 still waits for its time");
	limg_precompute_stop(p);
	cr_expect_eq(rec("d1").calls, 0, "stopped before its time");
}

Test(precompute, stats_of_no_pool_are_zero)
{
	LimgPrecomputeStats st;

	memset(&st, 0xff, sizeof(st));
	limg_precompute_stats(NULL, &st);
	cr_expect_eq(st.queued + st.delayed + st.running, 0);
	cr_expect_eq(st.done + st.retried + st.failed, 0);
	limg_precompute_stop(NULL);
}

static void
count_tick(void *data)
{
	g_atomic_int_inc((gint *)data);
}

Test(precompute, the_tick_runs_about_once_a_second_without_workers)
{
	gint ticks = 0;
	LimgPrecomputeOptions o = { .workers = 0, .tick = count_tick };
	g_autoptr(GError) error = NULL;
	LimgPrecompute *p = limg_precompute_start(&o, build, forget, &ticks, &error);

	cr_assert_not_null(p, "start: %s", error ? error->message : "");
	g_usleep(2500 * 1000);
	limg_precompute_stop(p);
	cr_expect(g_atomic_int_get(&ticks) >= 2 && g_atomic_int_get(&ticks) <= 3,
	          "%d ticks in 2.5 s", g_atomic_int_get(&ticks));
}

/* ------------------------------------------------------------ stop */

typedef struct {
	LimgPrecompute *p;
	gint returned;
} Stopper;

static gpointer
stop_thread(gpointer data)
{
	Stopper *s = data;

	limg_precompute_stop(s->p);
	g_atomic_int_set(&s->returned, 1);
	return NULL;
}

Test(precompute, stop_waits_for_running_builds_and_drops_queued_ones)
{
	Stopper s = { .p = start(1, 0, NULL) };
	GThread *t;

	plan("running")->block = true;
	limg_precompute_queue(s.p, "running", 0);
	cr_assert(th_wait_for(one_blocked, GUINT_TO_POINTER(1), 5000));
	limg_precompute_queue(s.p, "queued1", 0);
	limg_precompute_queue(s.p, "queued2", 0);
	limg_precompute_queue(s.p, "delayed", 50);
	t = g_thread_new("stop", stop_thread, &s);
	g_usleep(300 * 1000);
	cr_expect_eq(g_atomic_int_get(&s.returned), 0, "stop returned while a build ran");
	open_gate();
	g_thread_join(t);
	cr_expect_eq(g_atomic_int_get(&s.returned), 1);
	cr_expect_eq(rec("running").calls, 1);
	cr_expect_eq(rec("queued1").calls, 0, "queued jobs are dropped");
	cr_expect_eq(rec("queued2").calls, 0);
	cr_expect_eq(rec("delayed").calls, 0, "delayed jobs are dropped");
}

Test(precompute, stop_drops_a_retry)
{
	LimgPrecompute *p = start(1, 0, NULL);
	Rec *r = plan("again");

	r->block = true;
	r->retries_left = 1;
	r->retry_after_us = 0;
	limg_precompute_queue(p, "again", 0);
	cr_assert(th_wait_for(one_blocked, GUINT_TO_POINTER(1), 5000));
	{
		Stopper s = { .p = p };
		GThread *t = g_thread_new("stop", stop_thread, &s);

		g_usleep(300 * 1000);
		open_gate();
		g_thread_join(t);
	}
	cr_expect_eq(rec("again").calls, 1, "no retry after stop");
}

/* ------------------------------------------------------------ watcher */

typedef struct {
	const char *name;
	unsigned calls;
	unsigned forgets;
} Want;

static bool
reached(void *data)
{
	Want *w = data;
	Rec r = rec(w->name);

	return r.calls >= w->calls && r.forgets >= w->forgets;
}

Test(precompute, watcher_queues_a_new_directory_after_the_settle_time)
{
	LimgPrecompute *p = start(1, 400, dir);
	int64_t t0;
	Want w = { "fresh", 1, 0 };
	Rec r;

	g_usleep(50 * 1000);
	t0 = g_get_monotonic_time();
	th_mkdir(dir, "fresh");
	th_mkdir(dir, ".hidden");
	cr_assert(th_wait_for(reached, &w, 10000), "fresh was never built");
	r = rec("fresh");
	cr_expect_geq(r.first_us - t0, 400 * 1000, "built %" PRId64 " ms after it appeared",
	              (r.first_us - t0) / 1000);
	cr_expect_eq(r.settle_ms, 400);
	cr_expect_eq(r.calls, 1);
	g_usleep(600 * 1000);
	cr_expect_eq(rec(".hidden").calls, 0, "names starting with '.' are ignored");
	cr_expect_eq(rec("fresh").calls, 1);
	limg_precompute_stop(p);
}

Test(precompute, watcher_queues_a_directory_moved_in)
{
	LimgPrecompute *p = start(1, 100, dir);
	g_autofree char *other = th_tmpdir();
	g_autofree char *from = g_build_filename(other, "moved", NULL);
	g_autofree char *to = g_build_filename(dir, "moved", NULL);
	Want w = { "moved", 1, 0 };

	th_mkdir(other, "moved");
	g_usleep(50 * 1000);
	cr_assert_eq(rename(from, to), 0, "%s", strerror(errno));
	cr_expect(th_wait_for(reached, &w, 10000), "moved was never built");
	limg_precompute_stop(p);
	th_rmtree(other);
}

Test(precompute, watcher_forgets_a_directory_removed_or_moved_out)
{
	LimgPrecompute *p = start(1, 100, dir);
	g_autofree char *gone = g_build_filename(dir, "gone", NULL);
	g_autofree char *away = g_build_filename(dir, "away", NULL);
	g_autofree char *elsewhere = g_build_filename(dir, ".elsewhere", NULL);
	Want w1 = { "gone", 1, 1 }, w2 = { "away", 1, 1 };

	th_mkdir(dir, "gone");
	th_mkdir(dir, "away");
	cr_assert(th_wait_for(reached, &(Want){ "gone", 1, 0 }, 10000));
	cr_assert(th_wait_for(reached, &(Want){ "away", 1, 0 }, 10000));
	cr_assert_eq(rmdir(gone), 0);
	cr_assert_eq(rename(away, elsewhere), 0);
	cr_expect(th_wait_for(reached, &w1, 10000), "gone was never forgotten");
	cr_expect(th_wait_for(reached, &w2, 10000), "away was never forgotten");
	cr_expect_eq(rec("gone").forgets, 1);
	cr_expect_eq(rec("away").forgets, 1);
	cr_expect_eq(rec(".elsewhere").calls, 0, "moved to a dot name: not queued");
	limg_precompute_stop(p);
}

Test(precompute, start_fails_on_a_missing_watch_dir)
{
	LimgPrecomputeOptions o = { .workers = 1, .watch_dir = "/nonexistent/limg-watch" };
	g_autoptr(GError) error = NULL;
	LimgPrecompute *p = limg_precompute_start(&o, build, forget, &ctx, &error);

	cr_expect_null(p);
	cr_expect_not_null(error);
	limg_precompute_stop(p);
}
