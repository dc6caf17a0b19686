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
 * Largest read request for a given /proc/sys/fs/pipe-max-size. libfuse
 * splices a reply only when 4096 * (buffers + 2) + length fits its pipe,
 * and an unprivileged pipe stops at pipe-max-size (1 MiB by default); a
 * reply that does not fit is copied through a fresh malloc per request.
 * 512 KiB leaves room for ~120 segments (small files) in a 1 MiB pipe;
 * with a pipe of 2 MiB or more, whole 1 MiB requests splice.
 */
uint32_t limg_fs_max_read_for_pipe(uint64_t pipe_max);


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
	uint32_t max_read;     /* bytes; must match the max_read mount option */
} LimgFsOptions;

/* Takes ownership of @store. */
LimgFs *limg_fs_new(LimgStore *store, const LimgFsOptions *opts);
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

#endif /* LIMG_FS_H */
