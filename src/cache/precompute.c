/*
 * precompute.c - background layout pool and store watcher; see
 * precompute.h.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cache/precompute.h"
#include "util/prio.h"

typedef struct {
	char *name;
	int64_t due_us;           /* monotonic */
} Delayed;

struct LimgPrecompute {
	LimgPrecomputeOptions opts;
	LimgBuildFn build;
	LimgForgetFn forget;
	void *ctx;
	GThreadPool *pool;
	GThread *watcher;
	int inotify_fd;
	int store_wd;             /* watch descriptor of watch_dir */
	int wake_fd;              /* eventfd: new delayed job, or stop */
	GMutex lock;
	/* protected by lock */
	GHashTable *scheduled;    /* name -> NULL: queued, delayed or running */
	int64_t resync_at[2];     /* monotonic: look again then (0: not due) */
	GArray *delayed;          /* Delayed */
	bool stopping;
	LimgPrecomputeStats st;
};

static void
wake(LimgPrecompute *p)
{
	uint64_t one = 1;

	if (write(p->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the watcher wakes anyway */
	}
}

static void
worker(gpointer data, gpointer user)
{
	LimgPrecompute *p = user;
	char *name = data;
	int64_t retry_at = 0;
	LimgBuildResult r;

	/* Nice 10, idle I/O: layouts still progress under load (prio.h). */
	limg_thread_background(false);
	g_mutex_lock(&p->lock);
	p->st.queued--;
	if (p->stopping) {
		/* Shutting down: drain the queue without building. */
		g_hash_table_remove(p->scheduled, name);
		g_mutex_unlock(&p->lock);
		g_free(name);
		return;
	}
	p->st.running++;
	g_mutex_unlock(&p->lock);

	r = p->build(p->ctx, name, p->opts.settle_ms, &retry_at);

	g_mutex_lock(&p->lock);
	p->st.running--;
	if (r == LIMG_BUILD_RETRY && !p->stopping) {
		Delayed d = { name, retry_at };

		p->st.retried++;
		p->st.delayed++;
		g_array_append_val(p->delayed, d);
		g_mutex_unlock(&p->lock);
		wake(p);
		return;
	}
	if (r == LIMG_BUILD_DONE)
		p->st.done++;
	else if (r == LIMG_BUILD_FAILED)
		p->st.failed++;
	g_hash_table_remove(p->scheduled, name);
	g_mutex_unlock(&p->lock);
	g_free(name);
}

/* Move due delayed jobs to the pool; returns ms until the next one, or -1. */
static int
run_due(LimgPrecompute *p)
{
	int64_t now = g_get_monotonic_time(), next = -1;

	g_mutex_lock(&p->lock);
	for (guint i = 0; i < p->delayed->len;) {
		Delayed *d = &g_array_index(p->delayed, Delayed, i);

		if (d->due_us <= now) {
			char *name = d->name;

			g_array_remove_index_fast(p->delayed, i);
			p->st.delayed--;
			p->st.queued++;
			g_thread_pool_push(p->pool, name, NULL);
			continue;
		}
		if (next < 0 || d->due_us < next)
			next = d->due_us;
		i++;
	}
	g_mutex_unlock(&p->lock);
	return next < 0 ? -1 : (int)((next - now) / 1000 + 1);
}

static void
handle_events(LimgPrecompute *p)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool meta = false;
	ssize_t len;

	while ((len = read(p->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *q = buf; q < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)q;

			if (ev->wd != p->store_wd) {
				meta = true;   /* a metadata directory: resync once below */
			} else if (ev->len && ev->name[0] != '.') {
				if (ev->mask & (IN_CREATE | IN_MOVED_TO))
					limg_precompute_queue(p, ev->name, p->opts.settle_ms);
				else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
					p->forget(p->ctx, ev->name);
			}
			q += sizeof(*ev) + ev->len;
		}
	}
	if (meta && p->opts.resync) {
		int64_t now = g_get_monotonic_time();

		p->opts.resync(p->ctx);
		/*
		 * Engines write an entry's files after the event that made it
		 * appear (a container's config after its directory): look again
		 * a little later.
		 */
		p->resync_at[0] = now + 500 * 1000;
		p->resync_at[1] = now + 3000 * 1000;
	}
}

/* Run due resyncs; ms until the next one, or -1. */
static int
run_resyncs(LimgPrecompute *p)
{
	int64_t now = g_get_monotonic_time(), next = -1;
	bool due = false;

	for (int i = 0; i < 2; i++) {
		if (p->resync_at[i] && p->resync_at[i] <= now) {
			p->resync_at[i] = 0;
			due = true;
		}
		if (p->resync_at[i] && (next < 0 || p->resync_at[i] < next))
			next = p->resync_at[i];
	}
	if (due && p->opts.resync)
		p->opts.resync(p->ctx);
	return next < 0 ? -1 : (int)((next - now) / 1000 + 1);
}

/* Call the tick if a second has passed since the last; ms until the next, or -1. */
static int
run_tick(LimgPrecompute *p, int64_t *last_us)
{
	int64_t now = g_get_monotonic_time();

	if (!p->opts.tick)
		return -1;
	if (now - *last_us >= G_USEC_PER_SEC) {
		p->opts.tick(p->ctx);
		*last_us = now;
	}
	return (int)((*last_us + G_USEC_PER_SEC - now) / 1000 + 1);
}

static gpointer
watch_thread(gpointer data)
{
	LimgPrecompute *p = data;
	int64_t ticked_us = g_get_monotonic_time();

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = p->wake_fd, .events = POLLIN },
			{ .fd = p->inotify_fd, .events = POLLIN },
		};
		int timeout = run_due(p), rt = run_resyncs(p), tt = run_tick(p, &ticked_us);
		uint64_t v;

		if (rt >= 0 && (timeout < 0 || rt < timeout))
			timeout = rt;
		if (tt >= 0 && (timeout < 0 || tt < timeout))
			timeout = tt;
		if (poll(fds, p->inotify_fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN) {
			if (read(p->wake_fd, &v, sizeof(v)) < 0) {
				/* nothing to read: fine */
			}
		}
		g_mutex_lock(&p->lock);
		if (p->stopping) {
			g_mutex_unlock(&p->lock);
			break;
		}
		g_mutex_unlock(&p->lock);
		if (p->inotify_fd >= 0 && (fds[1].revents & POLLIN))
			handle_events(p);
	}
	return NULL;
}

LimgPrecompute *
limg_precompute_start(const LimgPrecomputeOptions *opts, LimgBuildFn build,
                      LimgForgetFn forget, void *ctx, GError **error)
{
	LimgPrecompute *p = g_new0(LimgPrecompute, 1);

	p->opts = *opts;
	p->build = build;
	p->forget = forget;
	p->ctx = ctx;
	p->inotify_fd = -1;
	p->store_wd = -1;
	p->opts.meta_dirs = NULL;   /* only used here, below */
	g_mutex_init(&p->lock);
	p->scheduled = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	p->delayed = g_array_new(FALSE, FALSE, sizeof(Delayed));
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
		            "eventfd: %s", g_strerror(errno));
		goto out_free;
	}
	if (opts->watch_dir || opts->meta_dirs) {
		p->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (p->inotify_fd < 0) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			            "inotify: %s", g_strerror(errno));
			goto out_free;
		}
	}
	if (opts->watch_dir) {
		p->store_wd = inotify_add_watch(p->inotify_fd, opts->watch_dir,
		                                IN_CREATE | IN_MOVED_TO | IN_DELETE |
		                                IN_MOVED_FROM | IN_ONLYDIR);
		if (p->store_wd < 0) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			            "watching %s: %s", opts->watch_dir, g_strerror(errno));
			goto out_free;
		}
	}
	for (guint i = 0; opts->meta_dirs && opts->meta_dirs[i]; i++) {
		/*
		 * Metadata files are replaced by rename, or written in place:
		 * closed after writing (IN_CLOSE_WRITE), or, like containerd's
		 * bolt database, kept open and written (IN_MODIFY; a burst of
		 * them is one resync, handle_events()).
		 */
		if (inotify_add_watch(p->inotify_fd, opts->meta_dirs[i],
		                      IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM |
		                      IN_CLOSE_WRITE | IN_MODIFY | IN_ONLYDIR) < 0 &&
		    errno != ENOENT) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			            "watching %s: %s", opts->meta_dirs[i], g_strerror(errno));
			goto out_free;
		}
	}
	/* No workers: the watcher alone (forget, resync); queued names are dropped. */
	if (p->opts.workers) {
		p->pool = g_thread_pool_new(worker, p, (gint)p->opts.workers, FALSE, error);
		if (!p->pool)
			goto out_free;
	}
	p->watcher = g_thread_new("limg-watch", watch_thread, p);
	return p;
out_free:
	if (p->inotify_fd >= 0)
		close(p->inotify_fd);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	g_hash_table_destroy(p->scheduled);
	g_array_free(p->delayed, TRUE);
	g_mutex_clear(&p->lock);
	g_free(p);
	return NULL;
}

void
limg_precompute_queue(LimgPrecompute *p, const char *name, uint32_t delay_ms)
{
	char *copy;

	g_mutex_lock(&p->lock);
	if (p->stopping || g_hash_table_contains(p->scheduled, name)) {
		g_mutex_unlock(&p->lock);
		return;
	}
	if (!p->pool) {
		g_mutex_unlock(&p->lock);
		return;
	}
	copy = g_strdup(name);
	g_hash_table_add(p->scheduled, g_strdup(name));
	if (delay_ms == 0) {
		p->st.queued++;
		g_thread_pool_push(p->pool, copy, NULL);
		g_mutex_unlock(&p->lock);
		return;
	}
	{
		Delayed d = { copy, g_get_monotonic_time() + (int64_t)delay_ms * 1000 };

		g_array_append_val(p->delayed, d);
		p->st.delayed++;
	}
	g_mutex_unlock(&p->lock);
	wake(p);
}

void
limg_precompute_stop(LimgPrecompute *p)
{
	if (!p)
		return;
	g_mutex_lock(&p->lock);
	p->stopping = true;
	g_mutex_unlock(&p->lock);
	wake(p);
	g_thread_join(p->watcher);
	/* Queued jobs see stopping and return at once; wait for them all. */
	if (p->pool)
		g_thread_pool_free(p->pool, FALSE, TRUE);
	for (guint i = 0; i < p->delayed->len; i++)
		g_free(g_array_index(p->delayed, Delayed, i).name);
	g_array_free(p->delayed, TRUE);
	g_hash_table_destroy(p->scheduled);
	if (p->inotify_fd >= 0)
		close(p->inotify_fd);
	close(p->wake_fd);
	g_mutex_clear(&p->lock);
	g_free(p);
}

void
limg_precompute_stats(LimgPrecompute *p, LimgPrecomputeStats *out)
{
	if (!p) {
		memset(out, 0, sizeof(*out));
		return;
	}
	g_mutex_lock(&p->lock);
	*out = p->st;
	g_mutex_unlock(&p->lock);
}
