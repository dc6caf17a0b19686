/*
 * prio.h - background threads that never delay requests.
 *
 * The image service's background threads (the precompute workers, the
 * verifier) lower their own CPU and I/O priority once, on their first
 * job. Both put their reads in the idle I/O class (ioprio_set(2)); the
 * CPU side is their own choice: nice 10 for the workers, which must make
 * progress under load (layouts are what readers wait for next), or
 * SCHED_IDLE for work that may wait for a free CPU (sched(7)).
 *
 * Thread model: acts on the calling thread only; the first call on a
 * thread sets its priority, later calls on it return at once.
 */
#ifndef LIMG_PRIO_H
#define LIMG_PRIO_H

#include <stdbool.h>

void limg_thread_background(bool sched_idle);

/*
 * Nice 10 for the calling thread's CPU time, its I/O priority left as it
 * is: for work that readers may wait for (so it must make progress under
 * load and read at the normal I/O priority) but that should yield to the
 * requests running beside it.
 */
void limg_thread_lower_cpu(void);

#endif /* LIMG_PRIO_H */
