/*
 * test-budget.c - the disk cache's size budget (cache/budget.h) and the
 * "last used" times it reads (util/touch.h): what counts (tree and spool
 * files, by the blocks they take), which go first (least recently used,
 * down to the low-water mark), what is spared (temporaries being written,
 * anything that is not a cache file, anything behind a symlink), the
 * running total, two enforcements at once, and the image service keeping
 * to its budget.
 *
 * Sizes are never assumed: what a file takes is read back with lstat
 * (st_blocks), so the tests hold on any file system.
 */
#include <config.h>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache/budget.h"
#include "cache/persist.h"
#include "lib/testlib.h"
#include "util/touch.h"

#define UNIT (64 * 1024)    /* the size of the test's cache files */

static char *dir;           /* the cache directory */
static char *outside;       /* a directory beside it */
static int64_t now;

static void
setup(void)
{
	dir = th_tmpdir();
	outside = th_tmpdir();
	now = g_get_real_time() / G_USEC_PER_SEC;
}

static void
teardown(void)
{
	th_rmtree(dir);
	th_rmtree(outside);
	g_free(dir);
	g_free(outside);
}

TestSuite(budget, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(touch, .init = setup, .fini = teardown, .timeout = 60);

/* @in/@name: @len bytes that are not zeros (no file system may skip them), mtime @mtime. */
static void
put_in(const char *in, const char *name, size_t len, int64_t mtime)
{
	g_autofree uint8_t *buf = g_malloc(len ? len : 1);

	memset(buf, 0x5a, len);
	th_write(in, name, buf, len);
	th_touch(in, name, mtime);
}

static void
put(const char *name, size_t len, int64_t mtime)
{
	put_in(dir, name, len, mtime);
}

/* Disk use of @dir/@name (0 when it is not there). */
static uint64_t
use_of(const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

static bool
here(const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	return th_exists(path);
}

static int64_t
mtime_of(const char *in, const char *name)
{
	g_autofree char *path = g_build_filename(in, name, NULL);
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "lstat %s", path);
	return st.st_mtim.tv_sec;
}

/* Cache file i: a hex name, and an mtime that grows with i. */
static char *
nth_name(unsigned i)
{
	return g_strdup_printf("%04x.%s", i, i % 2 ? "spool" : "tree");
}

/* @n cache files of UNIT bytes, file i last used at now - 1000 + i; their disk use. */
static uint64_t
put_many(unsigned n)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++) {
		g_autofree char *name = nth_name(i);

		put(name, UNIT, now - 1000 + i);
		total += use_of(name);
	}
	return total;
}

static unsigned
count_left(unsigned n)
{
	unsigned left = 0;

	for (unsigned i = 0; i < n; i++) {
		g_autofree char *name = nth_name(i);

		left += here(name);
	}
	return left;
}

/* Files 0 .. k-1 are gone, k .. n-1 are there: the oldest went first. */
static void
expect_oldest_gone(unsigned n, unsigned k)
{
	for (unsigned i = 0; i < n; i++) {
		g_autofree char *name = nth_name(i);

		if (i < k)
			cr_expect_not(here(name), "%s (the %u. oldest) was evicted", name, i + 1);
		else
			cr_expect(here(name), "%s (newer) is kept", name);
	}
}

/* ------------------------------------------------------------ what counts */

Test(budget, counts_tree_and_spool_files_by_their_blocks)
{
	uint64_t want;

	put("ab12.tree", UNIT, now);
	put("cd34.spool", 2 * UNIT, now);
	want = use_of("ab12.tree") + use_of("cd34.spool");
	cr_assert_gt(want, 0);
	put("ab12.tree.tmp.XyZ123", UNIT, now);
	put(".spool.tmp.AbC", UNIT, now);
	put("notes.txt", UNIT, now);
	put("tree", UNIT, now);
	put("xyz.tree", UNIT, now);         /* not a hex name */
	put(".tree", UNIT, now);            /* no name at all */
	put("ab12.tree.bak", UNIT, now);
	cr_expect_eq(limg_budget_usage(dir), want);
}

Test(budget, sparse_file_counts_by_blocks_not_size)
{
	g_autofree char *path = g_build_filename(dir, "5a.spool", NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	LimgBudgetResult r;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)1 << 30), 0);
	cr_assert_eq(pwrite(fd, "data", 4, ((off_t)1 << 30) - 4), 4);
	close(fd);
	cr_assert_lt(use_of("5a.spool"), (uint64_t)1 << 20, "the file system keeps the hole");
	cr_expect_eq(limg_budget_usage(dir), use_of("5a.spool"));
	cr_assert_eq(limg_budget_enforce(dir, 1 << 20, &r), 0);
	cr_expect_eq(r.removed, 0, "1 GiB long, but it takes less than the budget");
	cr_expect(here("5a.spool"));
}

Test(budget, missing_directory_is_an_error_and_counts_nothing)
{
	g_autofree char *missing = g_build_filename(dir, "missing", NULL);
	LimgBudgetResult r = { .removed = 7 };

	cr_expect_eq(limg_budget_enforce(missing, 1, &r), -ENOENT);
	cr_expect_eq(r.removed, 0, "the result is cleared");
	cr_expect_eq(limg_budget_usage(missing), 0);
}

/* ------------------------------------------------------------ eviction */

Test(budget, under_or_at_the_budget_nothing_goes)
{
	uint64_t total = put_many(4);
	LimgBudgetResult r;

	cr_assert_eq(limg_budget_enforce(dir, total, &r), 0);
	cr_expect_eq(r.removed, 0);
	cr_expect_eq(r.files, 4);
	cr_expect_eq(r.bytes, total);
	cr_expect_eq(count_left(4), 4);
}

Test(budget, least_recently_used_go_first)
{
	static const unsigned order[] = { 3, 0, 4, 1, 2 };
	uint64_t unit, total = 0;
	LimgBudgetResult r;

	/* Written in another order than used: only the mtime decides. */
	for (size_t j = 0; j < G_N_ELEMENTS(order); j++) {
		g_autofree char *name = nth_name(order[j]);

		put(name, UNIT, now - 1000 + order[j]);
		total += use_of(name);
	}
	unit = total / 5;
	/* 3.5 files allowed, 3.15 after the low-water mark: 2 go. */
	cr_assert_eq(limg_budget_enforce(dir, unit * 7 / 2, &r), 0);
	cr_expect_eq(r.removed, 2);
	cr_expect_eq(r.removed_bytes, 2 * unit);
	cr_expect_eq(r.files, 3);
	cr_expect_eq(r.bytes, 3 * unit);
	expect_oldest_gone(5, 2);
}

Test(budget, eviction_goes_down_to_the_low_water_mark)
{
	uint64_t total = put_many(10), unit = total / 10;
	LimgBudgetResult r;

	/* One byte over: one file would do, the low-water mark (90%) takes two. */
	cr_assert_eq(limg_budget_enforce(dir, total - 1, &r), 0);
	cr_expect_eq(r.removed, 2);
	cr_expect_leq(r.bytes, (total - 1) / 100 * LIMG_BUDGET_LOW_WATER);
	expect_oldest_gone(10, 2);
	/* Now well under: the next save costs no eviction. */
	put("ffff.tree", UNIT, now);
	cr_assert_eq(limg_budget_enforce(dir, total - 1, &r), 0);
	cr_expect_eq(r.removed, 0);
	cr_expect_eq(r.bytes, 9 * unit);
}

Test(budget, ties_in_mtime_go_by_name)
{
	LimgBudgetResult r;
	uint64_t unit;

	put("0b.tree", UNIT, now - 100);
	put("0a.tree", UNIT, now - 100);
	put("0c.tree", UNIT, now - 100);
	unit = use_of("0a.tree");
	cr_assert_eq(limg_budget_enforce(dir, 2 * unit, &r), 0);
	cr_expect_eq(r.removed, 2, "2 allowed, 1.8 after the low-water mark");
	cr_expect_not(here("0a.tree"));
	cr_expect_not(here("0b.tree"));
	cr_expect(here("0c.tree"));
}

Test(budget, a_file_larger_than_the_budget_goes_too)
{
	LimgBudgetResult r;

	put("0a.tree", UNIT, now - 100);
	put("0b.spool", 4 * UNIT, now);
	cr_assert_eq(limg_budget_enforce(dir, UNIT, &r), 0);
	cr_expect_eq(r.removed, 2);
	cr_expect_eq(r.files, 0);
	cr_expect_eq(r.bytes, 0);
}

Test(budget, an_open_file_may_go_and_stays_readable)
{
	g_autofree char *path = g_build_filename(dir, "0a.spool", NULL);
	char buf[4];
	int fd;

	put("0a.spool", UNIT, now - 100);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(limg_budget_enforce(dir, 1, NULL), 0);
	cr_expect_not(here("0a.spool"));
	cr_expect_eq(pread(fd, buf, 4, UNIT - 4), 4, "the descriptor still reads the data");
	cr_expect_eq(memcmp(buf, "ZZZZ", 4), 0);
	close(fd);
}

Test(budget, zero_is_no_limit)
{
	uint64_t total = put_many(6);
	LimgBudgetResult r;

	put("0a.tree.tmp.old", UNIT, now - 2 * LIMG_BUDGET_TEMP_MAX_AGE);
	cr_assert_eq(limg_budget_enforce(dir, 0, &r), 0);
	cr_expect_eq(r.removed, 0);
	cr_expect_eq(r.bytes, total);
	cr_expect_eq(count_left(6), 6);
	cr_expect_eq(r.temps, 1, "a crash's leftovers go, limit or not");
	cr_expect_not(here("0a.tree.tmp.old"));
}

/* ------------------------------------------------------------ what is spared */

Test(budget, temporaries_being_written_are_spared_old_ones_reaped)
{
	static const struct {
		const char *name;
		int64_t age;
		bool kept;
	} temps[] = {
		{ "ab.tree.tmp.AbCdEf", 0, true },
		{ ".spool.tmp.XyZ123", LIMG_BUDGET_TEMP_MAX_AGE / 2, true },
		{ "ab.spool.tmp", LIMG_BUDGET_TEMP_MAX_AGE - 60, true },
		{ "cd.spool.tmp.QwErTy", LIMG_BUDGET_TEMP_MAX_AGE + 60, false },
		{ ".tree.tmp.old", 2 * 86400, false },
	};
	LimgBudgetResult r;

	put_many(3);
	for (size_t i = 0; i < G_N_ELEMENTS(temps); i++)
		put(temps[i].name, UNIT, now - temps[i].age);
	cr_assert_eq(limg_budget_enforce(dir, 1, &r), 0);
	cr_expect_eq(r.removed, 3, "every cache file goes");
	cr_expect_eq(r.temps, 2);
	cr_expect_eq(r.bytes, 0, "temporaries never count");
	for (size_t i = 0; i < G_N_ELEMENTS(temps); i++)
		cr_expect_eq(here(temps[i].name), temps[i].kept, "%s: %s", temps[i].name,
		             temps[i].kept ? "being written: kept" : "a crash's leftover: removed");
}

Test(budget, nothing_but_cache_files_is_ever_touched)
{
	g_autofree char *target = g_build_filename(outside, "precious", NULL);
	g_autofree char *link1 = g_build_filename(dir, "0b.tree", NULL);
	g_autofree char *link2 = g_build_filename(dir, "0c.spool.tmp.x", NULL);
	g_autofree char *fifo = g_build_filename(dir, "0e.spool", NULL);
	LimgBudgetResult r;
	uint64_t before;

	put_in(outside, "precious", 4 * UNIT, now - 86400);
	put("notes.txt", UNIT, now - 86400);
	put("xyz.tree", UNIT, now - 86400);
	th_mkdir(dir, "0a.tree");
	put("0a.tree/inside.tree", UNIT, now - 86400);
	th_touch(dir, "0a.tree", now - 86400);
	cr_assert_eq(symlink(target, link1), 0);
	cr_assert_eq(symlink(target, link2), 0);
	th_touch(dir, "0b.tree", now - 86400);
	th_touch(dir, "0c.spool.tmp.x", now - 86400);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	put("0d.tree", UNIT, now);
	before = use_of("0d.tree");
	cr_expect_eq(limg_budget_usage(dir), before, "only 0d.tree counts");
	cr_assert_eq(limg_budget_enforce(dir, 1, &r), 0);
	cr_expect_eq(r.removed, 1);
	cr_expect_eq(r.removed_bytes, before);
	cr_expect_eq(r.temps, 0);
	cr_expect_eq(r.failed, 0);
	cr_expect_not(here("0d.tree"));
	cr_expect(here("notes.txt"));
	cr_expect(here("xyz.tree"));
	cr_expect(here("0a.tree/inside.tree"), "a directory is not entered");
	cr_expect(here("0b.tree"), "a symlink is not removed");
	cr_expect(here("0c.spool.tmp.x"));
	cr_expect(here("0e.spool"), "a fifo is not removed");
	cr_expect(th_exists(target), "nothing is removed through a symlink");
	cr_expect_eq(mtime_of(outside, "precious"), now - 86400);
}

/* ------------------------------------------------------------ concurrency */

typedef struct {
	uint64_t max;
	LimgBudgetResult r;
	int ret;
	gint *go;
} Enforcer;

static gpointer
enforce_thread(gpointer p)
{
	Enforcer *e = p;

	while (!g_atomic_int_get(e->go))
		;
	e->ret = limg_budget_enforce(dir, e->max, &e->r);
	return NULL;
}

Test(budget, two_enforcements_at_once_remove_what_one_would)
{
	for (unsigned round = 0; round < 5; round++) {
		uint64_t total = put_many(40), unit = total / 40;
		gint go = 0;
		Enforcer a = { .max = unit * 30, .go = &go }, b = a;
		GThread *ta = g_thread_new("enforce-a", enforce_thread, &a);
		GThread *tb = g_thread_new("enforce-b", enforce_thread, &b);

		g_atomic_int_set(&go, 1);
		g_thread_join(ta);
		g_thread_join(tb);
		cr_assert_eq(a.ret, 0);
		cr_assert_eq(b.ret, 0);
		/* 30 allowed, 27 after the low-water mark: 13 go, once. */
		cr_expect_eq(a.r.removed + b.r.removed, 13, "round %u: %" PRIu64 " + %" PRIu64,
		             round, a.r.removed, b.r.removed);
		cr_expect(a.r.removed == 0 || b.r.removed == 0, "one of them found it done");
		cr_expect_eq(a.r.failed + b.r.failed, 0);
		expect_oldest_gone(40, 13);
		th_rmtree(dir);
		th_mkdir(dir, ".");
	}
}

typedef struct {
	gint *stop;
	unsigned n;
} Remover;

/* Removes cache files behind the enforcer's back, newest first. */
static gpointer
remove_thread(gpointer p)
{
	Remover *rm = p;

	for (unsigned i = rm->n; i-- > 0 && !g_atomic_int_get(rm->stop);) {
		g_autofree char *name = nth_name(i);
		g_autofree char *path = g_build_filename(dir, name, NULL);

		unlink(path);
	}
	return NULL;
}

Test(budget, files_that_vanish_meanwhile_are_normal)
{
	for (unsigned round = 0; round < 5; round++) {
		gint stop = 0;
		Remover rm = { .stop = &stop, .n = 200 };
		LimgBudgetResult r;
		GThread *t;

		put_many(rm.n);
		t = g_thread_new("remove", remove_thread, &rm);
		cr_expect_eq(limg_budget_enforce(dir, UNIT, &r), 0);
		g_atomic_int_set(&stop, 1);
		g_thread_join(t);
		cr_expect_eq(r.failed, 0, "round %u: a vanished file is no failure", round);
		cr_expect_leq(r.removed, rm.n);
	}
}

/* ------------------------------------------------------------ the running total */

static LimgBudgetStats
stats_of(LimgBudget *b)
{
	LimgBudgetStats st;

	limg_budget_stats(b, &st);
	return st;
}

Test(budget, rescan_applies_a_smaller_budget_at_start)
{
	uint64_t total = put_many(10), unit = total / 10;
	g_autoptr(LimgBudget) b = limg_budget_new(dir, 5 * unit);
	LimgBudgetStats st;

	put("0a.spool.tmp.crash", UNIT, now - 2 * LIMG_BUDGET_TEMP_MAX_AGE);
	cr_assert_eq(limg_budget_rescan(b), 0);
	st = stats_of(b);
	cr_expect_eq(st.max, 5 * unit);
	cr_expect_eq(st.enforcements, 1);
	cr_expect_eq(st.evictions, 6, "5 allowed, 4.5 after the low-water mark");
	cr_expect_eq(st.evicted_bytes, 6 * unit);
	cr_expect_eq(st.temps, 1);
	cr_expect_eq(st.used, 4 * unit);
	expect_oldest_gone(10, 6);
}

Test(budget, running_total_scans_only_when_it_crosses_the_budget)
{
	uint64_t total = put_many(4), unit = total / 4;
	g_autoptr(LimgBudget) b = limg_budget_new(dir, 6 * unit);

	cr_assert_eq(limg_budget_rescan(b), 0);
	cr_expect_eq(stats_of(b).used, 4 * unit);
	/* Files the budget is not told of are found at the next scan only. */
	put("f0.tree", UNIT, now);
	put("f1.tree", UNIT, now);
	put("f2.tree", UNIT, now);
	limg_budget_added(b, unit);
	cr_expect_eq(stats_of(b).enforcements, 1, "5 of 6 counted: no scan");
	cr_expect_eq(count_left(4), 4);
	limg_budget_added(b, 2 * unit);
	cr_expect_eq(stats_of(b).enforcements, 2, "7 of 6 counted: a scan");
	/* It found 7 files (6 allowed, 5.4 after the low-water mark): the 2 oldest went. */
	cr_expect_eq(stats_of(b).evictions, 2);
	cr_expect_eq(stats_of(b).used, 5 * unit);
	expect_oldest_gone(4, 2);
	cr_expect(here("f2.tree"));
}

Test(budget, running_total_without_a_limit_never_scans)
{
	g_autoptr(LimgBudget) b = limg_budget_new(dir, 0);

	put_many(3);
	for (unsigned i = 0; i < 100; i++)
		limg_budget_added(b, (uint64_t)1 << 40);
	cr_expect_eq(stats_of(b).enforcements, 0);
	cr_expect_eq(count_left(3), 3);
	limg_budget_added(NULL, 1);     /* no cache directory: a no-op */
}

typedef struct {
	LimgBudget *b;
	unsigned first, n;
} Writer;

/* Adds files first .. first + n - 1 and tells the budget of each. */
static gpointer
writer_thread(gpointer p)
{
	Writer *w = p;

	for (unsigned i = w->first; i < w->first + w->n; i++) {
		g_autofree char *name = nth_name(i);

		put(name, UNIT, now - 1000 + i);
		limg_budget_added(w->b, use_of(name));
	}
	return NULL;
}

Test(budget, writers_on_two_threads_keep_to_the_budget)
{
	uint64_t unit;
	g_autoptr(LimgBudget) b = NULL;
	Writer w1, w2;
	GThread *t1, *t2;

	put("0.tree", UNIT, now - 2000);
	unit = use_of("0.tree");
	b = limg_budget_new(dir, 10 * unit);
	cr_assert_eq(limg_budget_rescan(b), 0);
	w1 = (Writer){ .b = b, .first = 0x100, .n = 60 };
	w2 = (Writer){ .b = b, .first = 0x200, .n = 60 };
	t1 = g_thread_new("writer-1", writer_thread, &w1);
	t2 = g_thread_new("writer-2", writer_thread, &w2);
	g_thread_join(t1);
	g_thread_join(t2);
	cr_expect_leq(limg_budget_usage(dir), 10 * unit, "%" PRIu64 " of %" PRIu64 " bytes",
	              limg_budget_usage(dir), 10 * unit);
	cr_expect_geq(stats_of(b).used, limg_budget_usage(dir), "the total never undercounts");
	cr_expect_gt(stats_of(b).evictions, 0);
	cr_expect_not(here("0.tree"), "the oldest went");
}

/* ------------------------------------------------------------ touch */

static int
open_in(const char *in, const char *name, int flags)
{
	g_autofree char *path = g_build_filename(in, name, NULL);
	int fd = open(path, flags | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, g_strerror(errno));
	return fd;
}

Test(touch, marks_an_old_file_used_now_through_a_read_only_descriptor)
{
	int fd;

	put("0a.spool", 10, now - 86400);
	fd = open_in(dir, "0a.spool", O_RDONLY);
	cr_expect_eq(limg_touch(fd), 0);
	close(fd);
	cr_expect_geq(mtime_of(dir, "0a.spool"), now);
}

Test(touch, within_a_minute_it_writes_nothing)
{
	g_autofree char *path = g_build_filename(dir, "0a.tree", NULL);
	struct stat before, after;
	int fd;

	put("0a.tree", 10, now - (LIMG_TOUCH_SEC - 20));
	cr_assert_eq(lstat(path, &before), 0);
	fd = open_in(dir, "0a.tree", O_RDONLY);
	for (unsigned i = 0; i < 100; i++)
		cr_expect_eq(limg_touch(fd), 0);
	cr_expect_eq(limg_touch_path(dir, "0a.tree"), 0);
	close(fd);
	cr_assert_eq(lstat(path, &after), 0);
	cr_expect(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
	          before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
	          before.st_ctim.tv_sec == after.st_ctim.tv_sec &&
	          before.st_ctim.tv_nsec == after.st_ctim.tv_nsec,
	          "neither mtime nor ctime changed: no inode update");
	/* A minute later it is due again. */
	th_touch(dir, "0a.tree", now - LIMG_TOUCH_SEC - 1);
	cr_expect_eq(limg_touch_path(dir, "0a.tree"), 0);
	cr_expect_geq(mtime_of(dir, "0a.tree"), now);
}

Test(touch, a_future_mtime_is_set_back_to_now)
{
	put("0a.tree", 10, now + 3600);
	cr_expect_eq(limg_touch_path(dir, "0a.tree"), 0);
	cr_expect_lt(mtime_of(dir, "0a.tree"), now + LIMG_TOUCH_SEC);
}

Test(touch, path_never_follows_a_symlink)
{
	g_autofree char *target = g_build_filename(outside, "precious", NULL);
	g_autofree char *link = g_build_filename(dir, "0b.tree", NULL);

	put_in(outside, "precious", 10, now - 86400);
	cr_assert_eq(symlink(target, link), 0);
	th_touch(dir, "0b.tree", now - 86400);
	cr_expect_eq(limg_touch_path(dir, "0b.tree"), -EINVAL);
	cr_expect_eq(mtime_of(outside, "precious"), now - 86400);
	cr_expect_eq(mtime_of(dir, "0b.tree"), now - 86400, "nor the link's own time");
}

Test(touch, only_regular_files_by_plain_names)
{
	int fd;

	th_mkdir(dir, "sub");
	put("sub/0a.tree", 10, now - 86400);
	th_touch(dir, "sub", now - 86400);
	cr_expect_eq(limg_touch_path(dir, "sub"), -EINVAL);
	cr_expect_eq(limg_touch_path(dir, "sub/0a.tree"), -EINVAL, "a name, not a path");
	cr_expect_eq(limg_touch_path(dir, ""), -EINVAL);
	cr_expect_eq(limg_touch_path(dir, "missing"), -ENOENT);
	fd = open_in(dir, "sub", O_RDONLY | O_DIRECTORY);
	cr_expect_eq(limg_touch(fd), -EINVAL);
	close(fd);
	cr_expect_eq(limg_touch(-1), -EBADF);
	cr_expect_eq(mtime_of(dir, "sub"), now - 86400);
	cr_expect_eq(mtime_of(dir, "sub/0a.tree"), now - 86400);
}

/* ------------------------------------------------------------ the default */

Test(budget, default_is_a_tenth_of_the_file_system_at_most_8g)
{
	g_autofree char *missing = g_build_filename(dir, "missing", NULL);
	struct statvfs sv;
	uint64_t share;

	cr_assert_eq(statvfs(dir, &sv), 0);
	share = (uint64_t)sv.f_blocks * sv.f_frsize / 100 * 10;
	cr_expect_eq(limg_budget_default(dir), MIN(share, 8ull << 30));
	cr_expect_eq(limg_budget_default(missing), 8ull << 30, "unknown: the cap");
}

/* ------------------------------------------------------------ users */

Test(budget, a_persist_load_marks_the_tree_used)
{
	TreeBuilder *tb = tb_new();
	LimgTree *tree, *back = NULL;
	LimgSourceId id = { .key = (char *)"/layers/a", .fingerprint = g_bytes_new_static("p", 1) };
	g_autofree char *file = th_cache_file(dir, "/layers/a");
	g_autofree char *name = g_path_get_basename(file);

	tb_file(tb, "hello", 5);
	tree = tb_build(tb);
	cr_assert_eq(limg_persist_save(dir, &id, tree, NULL), 0);
	th_touch(dir, name, now - 86400);
	cr_assert_eq(limg_persist_load(dir, &id, &back), 0);
	cr_expect_geq(mtime_of(dir, name), now, "loaded: used now");
	limg_tree_free(back);
	limg_tree_free(tree);
	tb_free(tb);
	g_bytes_unref(id.fingerprint);
}

/* Layer @name of @store: a few files. */
static void
make_layer(const char *store, const char *name)
{
	for (unsigned i = 0; i < 20; i++) {
		g_autofree char *rel = g_strdup_printf("%s/dir%u/file%u", name, i % 4, i);

		th_write_text(store, rel, "some content");
	}
}

Test(budget, image_service_keeps_to_its_budget)
{
	g_autofree char *store = g_build_filename(outside, "store", NULL);
	g_autoptr(GError) error = NULL;
	LimgImagesOptions o = { .cache_dir = dir };
	LimgImagesStats st;
	LimgImages *im;
	LimgGen *g = NULL;
	uint64_t one;

	/* An old tree file a smaller budget evicts at start. */
	put("0000.tree", UNIT, now - 86400);
	make_layer(store, "a");
	make_layer(store, "b");
	make_layer(store, "c");
	/* How much one layer's tree takes: save one, measure, start again. */
	im = th_images_new(store, "plain", &o);
	cr_assert_eq(limg_images_get(im, "a", &g), 0);
	limg_gen_unref(g);
	limg_images_free(im);
	one = limg_budget_usage(dir) - use_of("0000.tree");
	cr_assert_gt(one, 0);
	o.cache_size = 2 * one;
	im = th_images_new(store, "plain", &o);
	cr_assert(limg_images_start(im, &error), "%s", error ? error->message : "");
	limg_images_stop(im);
	cr_expect_not(here("0000.tree"), "the smaller budget took effect at start");
	for (const char *n = "abc"; *n; n++) {
		char name[2] = { *n, 0 };

		cr_assert_eq(limg_images_get(im, name, &g), 0);
		limg_gen_unref(g);
	}
	limg_images_stats(im, &st);
	cr_expect_eq(st.disk_budget, 2 * one);
	cr_expect_geq(st.disk_evictions, 2);
	cr_expect_gt(st.disk_evicted_bytes, 0);
	cr_expect_leq(st.disk_bytes, 2 * one);
	cr_expect_eq(st.disk_bytes, limg_budget_usage(dir));
	limg_images_free(im);
}
