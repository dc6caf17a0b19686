/*
 * test-handles.c - the fd cache (cache/handles.h): a handle is opened
 * once and then reused, the least recently used goes first at capacity,
 * and an fd is closed only when its last reference goes (checked with
 * fcntl(F_GETFD) on the very fd the open callback gave out).
 *
 * The open callback opens real files, one per node, whose contents name
 * the node, so a reader can tell it got the right fd.
 */
#include <config.h>

#include <fcntl.h>
#include <unistd.h>

#include "cache/handles.h"
#include "lib/testlib.h"

#define NODES 8

typedef struct {
	char *dir;
	gint opens;              /* atomic */
	gint per_node[NODES];    /* atomic */
	int fail[NODES];         /* -errno to fail node with */
	bool not_owned;          /* hand out fds the cache must not close */
	unsigned delay_us;
	int last_fd[NODES];
} Opener;

static Opener op;
static int outside_fds[NODES];

static void
setup(void)
{
	memset(&op, 0, sizeof(op));
	op.dir = th_tmpdir();
	for (int i = 0; i < NODES; i++) {
		g_autofree char *name = g_strdup_printf("n%d", i);
		g_autofree char *text = g_strdup_printf("node %d", i);

		th_write_text(op.dir, name, text);
		op.last_fd[i] = -1;
		outside_fds[i] = -1;
	}
}

static void
teardown(void)
{
	for (int i = 0; i < NODES; i++) {
		if (outside_fds[i] >= 0)
			close(outside_fds[i]);
	}
	th_rmtree(op.dir);
	g_free(op.dir);
}

TestSuite(handles, .init = setup, .fini = teardown, .timeout = 30);

static int
open_node(void *ctx, uint32_t node, LimgContent *out)
{
	Opener *o = ctx;
	g_autofree char *path = NULL;
	int fd;

	cr_assert_lt(node, NODES);
	g_atomic_int_inc(&o->opens);
	g_atomic_int_inc(&o->per_node[node]);
	if (o->delay_us)
		g_usleep(o->delay_us);
	if (o->fail[node])
		return o->fail[node];
	path = g_strdup_printf("%s/n%u", o->dir, node);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	out->fd = fd;
	out->base = 1000 + node;
	out->owned = !o->not_owned;
	o->last_fd[node] = fd;
	if (o->not_owned)
		outside_fds[node] = fd;   /* the test closes these */
	return 0;
}

static bool
fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) != -1;
}

/* Does the handle's fd read "node N"? */
static bool
reads_node(const LimgHandle *h, uint32_t node)
{
	char want[32], buf[32];
	ssize_t n;

	snprintf(want, sizeof(want), "node %u", node);
	n = pread(limg_handle_content(h)->fd, buf, sizeof(buf), 0);
	return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

static LimgHandle *
get(LimgHandles *h, gconstpointer owner, uint32_t node, bool *fresh)
{
	LimgHandle *handle = NULL;
	int ret = limg_handles_get(h, owner, node, open_node, &op, &handle, fresh);

	cr_assert_eq(ret, 0, "get node %u: %d", node, ret);
	cr_assert_not_null(handle);
	return handle;
}

/* Get and drop at once: the handle stays cached only. */
static void
touch(LimgHandles *h, gconstpointer owner, uint32_t node)
{
	limg_handle_unref(get(h, owner, node, NULL));
}

static const char owner_a[] = "a", owner_b[] = "b";

/* ------------------------------------------------------------ get */

Test(handles, get_opens_once_then_hits)
{
	LimgHandles *h = limg_handles_new(4);
	LimgHandle *x, *y;
	bool fresh = false;

	x = get(h, owner_a, 1, &fresh);
	cr_expect(fresh, "the first get opens");
	cr_expect_eq(g_atomic_int_get(&op.opens), 1);
	cr_expect(reads_node(x, 1));
	limg_handle_unref(x);
	cr_expect_eq(limg_handles_count(h), 1);

	fresh = true;
	y = get(h, owner_a, 1, &fresh);
	cr_expect_not(fresh, "a cached handle is not fresh");
	cr_expect_eq(g_atomic_int_get(&op.opens), 1, "the second get does not open");
	cr_expect_eq(y, x, "the same handle");
	cr_expect_eq(limg_handle_content(y)->fd, op.last_fd[1]);
	cr_expect(reads_node(y, 1));
	limg_handle_unref(y);

	/* *fresh may be NULL. */
	touch(h, owner_a, 1);
	touch(h, owner_a, 2);
	cr_expect_eq(g_atomic_int_get(&op.opens), 2);
	cr_expect_eq(limg_handles_count(h), 2);
	limg_handles_free(h);
}

Test(handles, content_is_what_open_gave)
{
	LimgHandles *h = limg_handles_new(4);
	LimgHandle *x = get(h, owner_a, 3, NULL);
	const LimgContent *c = limg_handle_content(x);

	cr_expect_eq(c->fd, op.last_fd[3]);
	cr_expect_eq(c->base, 1003);
	cr_expect(c->owned);
	limg_handle_unref(x);
	limg_handles_free(h);
}

Test(handles, two_owners_with_the_same_node_are_distinct)
{
	LimgHandles *h = limg_handles_new(4);
	LimgHandle *a = get(h, owner_a, 2, NULL);
	int fd_a = op.last_fd[2];
	LimgHandle *b = get(h, owner_b, 2, NULL);
	int fd_b = op.last_fd[2];

	cr_expect_neq(a, b);
	cr_expect_neq(fd_a, fd_b);
	cr_expect_eq(limg_handle_content(a)->fd, fd_a);
	cr_expect_eq(limg_handle_content(b)->fd, fd_b);
	cr_expect_eq(g_atomic_int_get(&op.per_node[2]), 2);
	cr_expect_eq(limg_handles_count(h), 2);
	limg_handle_unref(a);
	limg_handle_unref(b);
	limg_handles_free(h);
}

/* ------------------------------------------------------------ eviction */

Test(handles, lru_eviction_at_capacity_closes_after_the_last_reference)
{
	LimgHandles *h = limg_handles_new(2);
	LimgHandle *held = get(h, owner_a, 1, NULL);
	int fd1 = op.last_fd[1], fd2;

	touch(h, owner_a, 2);
	fd2 = op.last_fd[2];
	cr_expect_eq(limg_handles_count(h), 2);
	touch(h, owner_a, 3);   /* node 1 is the least recently used */
	cr_expect_eq(limg_handles_count(h), 2, "capacity is respected");
	cr_expect(fd_open(fd1), "evicted but still referenced: the fd stays open");
	cr_expect(reads_node(held, 1));
	cr_expect(fd_open(fd2));
	limg_handle_unref(held);
	cr_expect_not(fd_open(fd1), "closed with the last reference");
	cr_expect(fd_open(fd2));

	touch(h, owner_a, 1);
	cr_expect_eq(g_atomic_int_get(&op.per_node[1]), 2, "an evicted handle is opened again");
	cr_expect_not(fd_open(fd2), "node 2 was the least recently used now, and unreferenced");
	limg_handles_free(h);
}

Test(handles, a_hit_makes_a_handle_recent)
{
	LimgHandles *h = limg_handles_new(2);

	touch(h, owner_a, 1);
	touch(h, owner_a, 2);
	touch(h, owner_a, 1);   /* hit: node 2 is now the oldest */
	touch(h, owner_a, 3);
	touch(h, owner_a, 1);
	cr_expect_eq(g_atomic_int_get(&op.per_node[1]), 1, "node 1 was kept");
	touch(h, owner_a, 2);
	cr_expect_eq(g_atomic_int_get(&op.per_node[2]), 2, "node 2 was evicted");
	limg_handles_free(h);
}

Test(handles, capacity_zero_is_one)
{
	LimgHandles *h = limg_handles_new(0);

	touch(h, owner_a, 1);
	cr_expect_eq(limg_handles_count(h), 1);
	touch(h, owner_a, 2);
	cr_expect_eq(limg_handles_count(h), 1);
	touch(h, owner_a, 2);
	cr_expect_eq(g_atomic_int_get(&op.per_node[2]), 1);
	limg_handles_free(h);
}

Test(handles, free_closes_cached_fds_and_spares_held_ones)
{
	LimgHandles *h = limg_handles_new(4);
	LimgHandle *held = get(h, owner_a, 1, NULL);
	int fd1 = op.last_fd[1], fd2;

	touch(h, owner_a, 2);
	fd2 = op.last_fd[2];
	limg_handles_free(h);
	cr_expect_not(fd_open(fd2));
	cr_expect(fd_open(fd1));
	cr_expect(reads_node(held, 1));
	limg_handle_unref(held);
	cr_expect_not(fd_open(fd1));
}

Test(handles, fds_the_cache_does_not_own_are_never_closed)
{
	LimgHandles *h = limg_handles_new(1);

	op.not_owned = true;
	touch(h, owner_a, 1);
	touch(h, owner_a, 2);   /* evicts node 1 */
	limg_handles_forget(h, owner_a, 2);
	limg_handles_free(h);
	cr_expect(fd_open(outside_fds[1]));
	cr_expect(fd_open(outside_fds[2]));
}

/* ------------------------------------------------------------ forget */

Test(handles, forget_closes_and_the_next_get_opens_again)
{
	LimgHandles *h = limg_handles_new(4);
	LimgHandle *held;
	int fd1, fd2;
	bool fresh = false;

	touch(h, owner_a, 1);
	fd1 = op.last_fd[1];
	touch(h, owner_a, 2);
	fd2 = op.last_fd[2];
	limg_handles_forget(h, owner_a, 1);
	cr_expect_eq(limg_handles_count(h), 1);
	cr_expect_not(fd_open(fd1));
	cr_expect(fd_open(fd2), "only the forgotten handle goes");
	held = get(h, owner_a, 1, &fresh);
	cr_expect(fresh);
	cr_expect_eq(g_atomic_int_get(&op.per_node[1]), 2);

	/* Forgotten while held: valid until the reference goes. */
	fd1 = op.last_fd[1];
	limg_handles_forget(h, owner_a, 1);
	cr_expect(fd_open(fd1));
	cr_expect(reads_node(held, 1));
	limg_handle_unref(held);
	cr_expect_not(fd_open(fd1));

	/* Forgetting what is not there is harmless. */
	limg_handles_forget(h, owner_a, 7);
	limg_handles_forget(h, owner_b, 2);
	cr_expect_eq(limg_handles_count(h), 1);
	cr_expect(fd_open(fd2));
	limg_handles_free(h);
}

Test(handles, drop_owner_forgets_every_handle_of_that_owner_only)
{
	LimgHandles *h = limg_handles_new(8);
	LimgHandle *held;
	int a1, a2, a3, b1;

	touch(h, owner_a, 1);
	a1 = op.last_fd[1];
	touch(h, owner_a, 2);
	a2 = op.last_fd[2];
	held = get(h, owner_a, 3, NULL);
	a3 = op.last_fd[3];
	touch(h, owner_b, 1);
	b1 = op.last_fd[1];
	limg_handles_drop_owner(h, owner_a);
	cr_expect_eq(limg_handles_count(h), 1);
	cr_expect_not(fd_open(a1));
	cr_expect_not(fd_open(a2));
	cr_expect(fd_open(a3), "a held handle survives its owner's drop");
	cr_expect(fd_open(b1));
	touch(h, owner_b, 1);
	cr_expect_eq(g_atomic_int_get(&op.per_node[1]), 2, "b's node 1 was still cached");
	limg_handle_unref(held);
	cr_expect_not(fd_open(a3));
	limg_handles_drop_owner(h, owner_a);
	limg_handles_free(h);
}

/* ------------------------------------------------------------ errors */

Test(handles, an_open_error_is_returned_and_nothing_cached)
{
	LimgHandles *h = limg_handles_new(4);
	LimgHandle *out = NULL;
	bool fresh = true;
	int ret;

	op.fail[4] = -EACCES;
	ret = limg_handles_get(h, owner_a, 4, open_node, &op, &out, &fresh);
	cr_expect_eq(ret, -EACCES);
	cr_expect_not(fresh);
	cr_expect_eq(limg_handles_count(h), 0);
	op.fail[4] = -ESTALE;
	ret = limg_handles_get(h, owner_a, 4, open_node, &op, &out, NULL);
	cr_expect_eq(ret, -ESTALE);
	cr_expect_eq(g_atomic_int_get(&op.per_node[4]), 2, "a failure is not remembered");
	op.fail[4] = 0;
	touch(h, owner_a, 4);
	cr_expect_eq(limg_handles_count(h), 1);
	cr_expect_eq(g_atomic_int_get(&op.per_node[4]), 3);
	limg_handles_free(h);
}

/* ------------------------------------------------------------ threads */

#define THREADS 8
#define ROUNDS 300

typedef struct {
	LimgHandles *h;
	guint seed;
	bool hold_two;           /* hold two handles at once */
	unsigned bad;
	unsigned errors;
} Worker;

static gpointer
worker(gpointer data)
{
	Worker *w = data;
	GRand *r = g_rand_new_with_seed(w->seed);

	for (int i = 0; i < ROUNDS; i++) {
		uint32_t n1 = (uint32_t)g_rand_int_range(r, 0, 4);
		uint32_t n2 = (uint32_t)g_rand_int_range(r, 0, 4);
		gconstpointer owner = g_rand_boolean(r) ? owner_a : owner_b;
		LimgHandle *x = NULL, *y = NULL;

		if (limg_handles_get(w->h, owner, n1, open_node, &op, &x, NULL) < 0) {
			w->errors++;
			continue;
		}
		if (w->hold_two && limg_handles_get(w->h, owner, n2, open_node, &op, &y, NULL) < 0)
			w->errors++;
		/* Others evict meanwhile; our fds must stay ours. */
		g_thread_yield();
		if (!reads_node(x, n1))
			w->bad++;
		if (y && !reads_node(y, n2))
			w->bad++;
		limg_handle_unref(x);
		limg_handle_unref(y);
	}
	g_rand_free(r);
	return NULL;
}

static void
run_concurrent(unsigned capacity)
{
	LimgHandles *h = limg_handles_new(capacity);
	GThread *t[THREADS];
	Worker w[THREADS];

	op.delay_us = 200;
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (Worker){ .h = h, .seed = 7 + i, .hold_two = i % 2 };
		t[i] = g_thread_new("handles", worker, &w[i]);
	}
	for (unsigned i = 0; i < THREADS; i++)
		g_thread_join(t[i]);
	for (unsigned i = 0; i < THREADS; i++) {
		cr_expect_eq(w[i].bad, 0, "thread %u read through a wrong or closed fd", i);
		cr_expect_eq(w[i].errors, 0);
	}
	cr_expect_leq(limg_handles_count(h), capacity);
	cr_expect_geq(g_atomic_int_get(&op.opens), 8, "each (owner, node) opened at least once");
	limg_handles_free(h);
}

Test(handles, concurrent_gets_with_room_for_all)
{
	run_concurrent(16);
	/* 2 owners x 4 nodes; a race may open one twice, but each is cached once. */
	cr_expect_leq(g_atomic_int_get(&op.opens), 8 * THREADS);
}

Test(handles, concurrent_gets_under_constant_eviction)
{
	run_concurrent(2);
}

Test(handles, concurrent_gets_of_one_node_share_one_cached_handle)
{
	LimgHandles *h = limg_handles_new(4);
	GThread *t[THREADS];
	Worker w[THREADS];

	op.delay_us = 5000;     /* every thread misses at once */
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (Worker){ .h = h, .seed = 1 };   /* same seed: same nodes */
		t[i] = g_thread_new("handles", worker, &w[i]);
	}
	for (unsigned i = 0; i < THREADS; i++)
		g_thread_join(t[i]);
	for (unsigned i = 0; i < THREADS; i++)
		cr_expect_eq(w[i].bad, 0);
	cr_expect_leq(limg_handles_count(h), 4);
	limg_handles_free(h);
	/* Every fd opened was closed: no leaked duplicates. */
	for (int fd = 3; fd < 1024; fd++) {
		char link[64], target[PATH_MAX];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		cr_expect_not(g_str_has_prefix(target, op.dir), "fd %d still open on %s", fd, target);
	}
}
