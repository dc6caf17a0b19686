/*
 * prio.c - background threads that never delay requests; see prio.h.
 */
#include <config.h>

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib.h>

#include "util/prio.h"

/* ioprio_set(2): the idle class for the calling thread. */
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

void
limg_thread_background(bool sched_idle)
{
	static GPrivate done;
	int tid = (int)syscall(SYS_gettid);

	if (g_private_get(&done))
		return;
	g_private_set(&done, GINT_TO_POINTER(1));
	if (sched_idle) {
		struct sched_param sp = { 0 };

		(void)sched_setscheduler(0, SCHED_IDLE, &sp);
	} else {
		(void)setpriority(PRIO_PROCESS, (id_t)tid, 10);
	}
	(void)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid,
	              IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
}

void
limg_thread_lower_cpu(void)
{
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
}
