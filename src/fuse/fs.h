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
 * Largest read request for a given /proc/sys/fs/pipe-max-size. libfuse
 * splices a reply only when 4096 * (buffers + 2) + length fits its pipe,
 * and an unprivileged pipe stops at pipe-max-size (1 MiB by default); a
 * reply that does not fit is copied through a fresh malloc per request.
 * 512 KiB leaves room for ~120 segments (small files) in a 1 MiB pipe;
 * with a pipe of 2 MiB or more, whole 1 MiB requests splice.
 */
uint32_t limg_fs_max_read_for_pipe(uint64_t pipe_max);

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

/* A worker of keeper @keeper, its @start-th (keeper.h): shown in .stats. */
void limg_fs_set_keeper(LimgFs *fs, pid_t keeper, unsigned start);

#endif /* LIMG_FS_H */
