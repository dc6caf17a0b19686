/*
 * notify.c - kernel cache invalidations, sent from one thread.
 *
 * An invalidation must never be sent from a request handler: the kernel
 * may be waiting on that very request (a lookup holding the directory
 * lock while we invalidate an entry of it). Events are queued here and
 * sent in order by one thread, started at the first event.
 */
#include <config.h>

#include <string.h>

#include "fuse/fs-internal.h"
#include "util/log.h"

typedef struct {
	fuse_ino_t ino;         /* inode to drop, or the parent of @name */
	char *name;             /* NULL: inode; else an entry */
	bool stop;
} Job;

struct LimgNotify {
	GAsyncQueue *queue;     /* Job * */
	GMutex lock;
	/* protected by lock */
	GThread *thread;
	struct fuse_session *se;
};

static void
job_free(Job *j)
{
	g_free(j->name);
	g_free(j);
}

static gpointer
notify_thread(gpointer data)
{
	LimgNotify *n = data;

	for (;;) {
		Job *j = g_async_queue_pop(n->queue);
		struct fuse_session *se;
		int ret = 0;

		if (j->stop) {
			job_free(j);
			return NULL;
		}
		g_mutex_lock(&n->lock);
		se = n->se;
		g_mutex_unlock(&n->lock);
		if (se && j->name)
			ret = fuse_lowlevel_notify_inval_entry(se, j->ino, j->name, strlen(j->name));
		else if (se)
			ret = fuse_lowlevel_notify_inval_inode(se, j->ino, 0, 0);
		/* -ENOENT: the kernel holds nothing of it; nothing to drop. */
		if (ret < 0 && ret != -ENOENT)
			limg_log(LIMG_LOG_DEBUG, "kernel invalidation of %s: %s",
			         j->name ? j->name : "an image", g_strerror(-ret));
		job_free(j);
	}
}

LimgNotify *
limg_notify_new(void)
{
	LimgNotify *n = g_new0(LimgNotify, 1);

	n->queue = g_async_queue_new();
	g_mutex_init(&n->lock);
	return n;
}

void
limg_notify_set_session(LimgNotify *n, struct fuse_session *se)
{
	g_mutex_lock(&n->lock);
	n->se = se;
	g_mutex_unlock(&n->lock);
}

static void
push(LimgNotify *n, Job *j)
{
	g_mutex_lock(&n->lock);
	if (!n->thread)
		n->thread = g_thread_new("limg-notify", notify_thread, n);
	g_mutex_unlock(&n->lock);
	g_async_queue_push(n->queue, j);
}

void
limg_notify_inode(LimgNotify *n, fuse_ino_t ino)
{
	Job *j = g_new0(Job, 1);

	j->ino = ino;
	push(n, j);
}

void
limg_notify_entry(LimgNotify *n, fuse_ino_t parent, const char *name)
{
	Job *j = g_new0(Job, 1);

	j->ino = parent;
	j->name = g_strdup(name);
	push(n, j);
}

void
limg_notify_free(LimgNotify *n)
{
	Job *j;

	if (!n)
		return;
	if (n->thread) {
		j = g_new0(Job, 1);
		j->stop = true;
		g_async_queue_push(n->queue, j);
		g_thread_join(n->thread);
	}
	while ((j = g_async_queue_try_pop(n->queue)) != NULL)
		job_free(j);
	g_async_queue_unref(n->queue);
	g_mutex_clear(&n->lock);
	g_free(n);
}
