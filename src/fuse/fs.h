/*
 * fs.h - the FUSE file system: the images of a layer-image service as
 * files of a read-only mount.
 *
 * The FUSE glue only: the images, their generations and every cache are
 * the image service's (cache/images.h); reads are planned by its read
 * planner (cache/gen-read.h). This module maps FUSE requests onto them:
 *
 *   fs.c        new/free, the operations table, INIT and DESTROY
 *   ops.c       lookup, forget, getattr, open, release, directories, statfs
 *   read.c      read: planner pieces -> a fuse_bufvec, spliced
 *   root.c      the namespace: node ids, <layer>.iso, .stats
 *   stats.c     the text of MOUNT/.stats
 *   notify.c    kernel cache invalidations, from one thread
 *   readonly.c  everything that would change the mount: EROFS
 *   tune.c      request sizes, splice, readahead
 *
 * The only module that includes <fuse_lowlevel.h>.
 *
 * Thread model: handlers run on libfuse's worker threads. No lock is held
 * across a build, file I/O or a fuse_reply_*(); kernel invalidations are
 * sent only from the notification thread, never from a handler.
 */
#ifndef LIMG_FS_H
#define LIMG_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/images.h"

typedef struct LimgFs LimgFs;

typedef struct {
	double attr_timeout;   /* seconds the kernel may cache attributes */
	uint32_t max_read;     /* bytes; must match the max_read mount option */
	/*
	 * Who may read the images (every LIMG_NODE_IMAGE node). Layers hold
	 * what images hold, /etc/shadow and keys included, and the kernel
	 * enforces these (the mount always has default_permissions), so the
	 * caller's default is its own uid and gid with 0400. Only the
	 * permission bits of image_mode count, and never a write bit.
	 */
	uid_t image_uid;
	gid_t image_gid;
	mode_t image_mode;
	/* Owner of everything else (directories, links, .stats): the daemon. */
	uid_t uid;
	gid_t gid;
} LimgFsOptions;

/*
 * The largest read request, for the max_read mount option: as many pages
 * as the kernel and libfuse agree on at INIT, min(libfuse 3.14's 256,
 * /proc/sys/fs/fuse/max_pages_limit), when a pipe of this process can
 * grow to twice that (past /proc/sys/fs/pipe-max-size only with
 * CAP_SYS_RESOURCE); else what limg_fs_max_read_for_pipe() gives for
 * pipe-max-size.
 */
uint32_t limg_fs_max_read(void);

/*
 * Largest read request up to @request bytes whose replies splice through
 * a pipe of @pipe_size bytes: half of it, in pages (at least 128 KiB,
 * or @request if smaller).
 * libfuse splices a reply only when 4096 * (pieces + 2) + length fits its
 * pipe, and copies it through a fresh malloc per request otherwise; half
 * leaves room for one piece per 4 KiB (small files): 512 KiB for the
 * default pipe-max-size of 1 MiB, whole 1 MiB requests from 2 MiB on.
 */
uint32_t limg_fs_max_read_for_pipe(uint32_t request, uint64_t pipe_size);

/*
 * INIT: what every mount asks of the kernel, from the init handler:
 * splice, requests of @max_read bytes (the max_read mount option), more
 * background requests than the kernel's default of 12. Also used by
 * tests/tools/floor-fuse.c, so that the benchmarks' floor asks the same.
 */
void limg_fs_tune_conn(struct fuse_conn_info *conn, uint32_t max_read);

/*
 * Set the readahead of the mount at @mountpoint to @kb KiB, but at least
 * one request of @max_read bytes, once the kernel has the INIT reply
 * (from a request handler). Best effort.
 */
void limg_fs_set_readahead(const char *mountpoint, unsigned kb, uint32_t max_read);

/* Takes ownership of @images. */
LimgFs *limg_fs_new(LimgImages *images, const LimgFsOptions *opts);
void limg_fs_free(LimgFs *fs);

/* The low-level operations; pass @fs as userdata to fuse_session_new(). */
const struct fuse_lowlevel_ops *limg_fs_ops(void);

/*
 * Where the file system is mounted, and the kernel readahead (KiB) to set
 * on its backing device once the kernel has initialised it (0: leave).
 */
void limg_fs_set_mountpoint(LimgFs *fs, const char *mountpoint, unsigned readahead_kb);

/* The session, needed for kernel cache invalidation. Borrowed. */
void limg_fs_set_session(LimgFs *fs, struct fuse_session *se);

/*
 * The kernel has the INIT reply: do what waits for it (the mount's
 * readahead) now rather than at the first request. Once; without a call
 * the first request does it.
 */
void limg_fs_after_init(LimgFs *fs);

/* A worker of keeper @keeper, its @start-th (keeper.h): shown in .stats. */
void limg_fs_set_keeper(LimgFs *fs, pid_t keeper, unsigned start);

#endif /* LIMG_FS_H */
