/*
 * fs.h - the FUSE file system: every layer of a store as <layer>.iso.
 *
 * The only module that includes <fuse_lowlevel.h>. It owns the image
 * table (one LimgFsImage per layer name ever looked up, each with its
 * current generation: a layout, the layer's root fd and the rendered
 * metadata blocks), a bounded cache of open source fds, and the counters
 * behind MOUNT/.stats.
 *
 * Reads are answered segment by segment (layout.h): metadata blocks from
 * the rendered-block cache, file data as fd-backed buffers that libfuse
 * splices from the source file, padding from a static zero buffer.
 *
 * Thread model: handlers run on libfuse's worker threads. Locks: fs->lock
 * (image table) before img->lock (one image); fds->lock is a leaf. No lock
 * is held across a layout build, file I/O or a fuse_reply_*().
 */
#ifndef LIMG_FS_H
#define LIMG_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <stdbool.h>

#include "store/store.h"

typedef struct LimgFs LimgFs;

/*
 * Largest read request: 1 MiB - 4 KiB. libfuse splices only when a whole
 * reply fits its pipe, and unprivileged pipes stop at
 * /proc/sys/fs/pipe-max-size (1 MiB by default).
 */
#define LIMG_FS_MAX_READ 1044480
#define LIMG_FS_MAX_READ_OPT "-omax_read=1044480"


#define LIMG_FS_DEFAULT_CACHE_MEM (256u * 1024 * 1024)

typedef struct {
	bool xattrs;           /* record extended attributes (default on) */
	double attr_timeout;   /* seconds the kernel may cache attributes */
	size_t cache_mem;      /* rendered-block budget; 0: default 256 MiB */
	const char *cache_dir; /* persistent layouts; NULL: memory only */
	bool verify_walk;      /* re-walk every layer; never trust the disk cache */
	unsigned workers;      /* background layout threads; 0: none */
	uint32_t settle_ms;    /* quiet time before a new layer is laid out */
	bool foreground;       /* print precompute progress */
} LimgFsOptions;

/* Takes ownership of @store. */
LimgFs *limg_fs_new(LimgStore *store, const LimgFsOptions *opts);
void limg_fs_free(LimgFs *fs);

/* The low-level operations; pass @fs as userdata to fuse_session_new(). */
const struct fuse_lowlevel_ops *limg_fs_ops(void);

/* The session, needed for kernel cache invalidation. Borrowed. */
void limg_fs_set_session(LimgFs *fs, struct fuse_session *se);

#endif /* LIMG_FS_H */
