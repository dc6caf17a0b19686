/*
 * keeper.h - a mount that outlives its daemon: the keeper process, which
 * holds the session's /dev/fuse file and runs workers, and the worker's
 * side of the hand-over.
 *
 * The kernel keeps a FUSE connection for as long as any process holds its
 * /dev/fuse file. `fuse-layerimg` starts as the keeper: it mounts, reads
 * the kernel's INIT request, and from then on only holds the file and
 * runs one worker at a time: this program executed again (argv[0]
 * "fuse-layerimg-worker"), which serves the session from the inherited
 * descriptor. A worker that dies (a crash, kill -9) is replaced; SIGHUP
 * starts the binary now on disk and retires the old worker once the new
 * one serves (an upgrade: `fuse-layerimg upgrade MOUNTPOINT`).
 *
 * The INIT a worker never sees: the keeper gives every worker the INIT
 * request it read, and the worker has libfuse process it as if it came
 * from the kernel. The first worker's reply completes the kernel's INIT.
 * A successor's reply carries the same request id, which the kernel no
 * longer knows: it drops the reply (ENOENT, which libfuse ignores), and
 * the successor is initialised with the same parameters without the
 * kernel seeing a second INIT.
 *
 * Requests a dead worker had read but not answered stay the kernel's:
 * once the successor serves, the keeper asks for them again
 * (FUSE_NOTIFY_RESEND, Linux 6.9+, announced by FUSE_HAS_RESEND in
 * INIT). Without it they are never answered: their callers wait until
 * the mount is stopped. Workers therefore read the keeper's own file,
 * never a clone (-o clone_fd): the kernel aborts a clone's requests
 * when it is closed.
 *
 * What a successor gets from the kernel must not depend on the old
 * worker's memory: node ids are hashes of paths (root.c) and file
 * handles name what they show (openfiles.c).
 *
 * Workers that keep dying before they serve (5 in a row, restarted with
 * backoff) are given up: the keeper answers every request with EIO
 * itself, never with zeros, until a SIGHUP tries a worker again or the
 * mount is stopped. SIGTERM, SIGINT: stop the worker, unmount, exit.
 */
#ifndef LIMG_KEEPER_H
#define LIMG_KEEPER_H

#include "fuse/fs.h"

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#define LIMG_WORKER_ARGV0 "fuse-layerimg-worker"

/* What a worker got from its keeper. */
typedef struct {
	int fuse_fd;            /* the session's /dev/fuse file */
	int init_fd;            /* the kernel's INIT request (a memfd) */
	int ready_fd;           /* written once the worker serves */
	pid_t keeper;
	unsigned start;         /* 1 for the first worker, then 2, 3, ... */
	char *mountpoint;       /* as the keeper resolved it */
} LimgHandoff;

/*
 * In a worker: the hand-over its keeper left in the environment (removed
 * from it). 1: a worker; 0: not one; -1: a broken hand-over (@error).
 */
int limg_handoff_get(LimgHandoff *h, GError **error);
void limg_handoff_clear(LimgHandoff *h);

/* What to give fuse_session_mount(): "/dev/fd/N". Caller frees. */
char *limg_handoff_mount_arg(const LimgHandoff *h);

/*
 * Initialise @se from the keeper's INIT request (before the session
 * loop; after fuse_session_mount() of limg_handoff_mount_arg()).
 */
gboolean limg_handoff_init(const LimgHandoff *h, struct fuse_session *se, GError **error);

/* Tell the keeper the worker serves now. */
void limg_handoff_ready(LimgHandoff *h);

/*
 * The keeper: @se is mounted on @mountpoint, the process daemonized if
 * it should be. Runs workers ("LIMG_WORKER_ARGV0 mount @args...", the
 * mount command's arguments, NULL-terminated, started in directory @cwd
 * so that relative paths in them mean what they meant to the command; a
 * worker serves /dev/fd/N in place of the mount point) until the file system is
 * unmounted or the keeper is stopped (it then unmounts). The exit
 * status.
 */
int limg_keeper_run(struct fuse_session *se, const char *mountpoint, const char *cwd,
                    char **args);

/*
 * Where the keeper of @mountpoint (canonical) leaves its pid while it
 * runs: $XDG_RUNTIME_DIR/fuse-layerimg/, /run/fuse-layerimg/ for root,
 * named by a digest of the mount point. Found by `upgrade` when .stats
 * cannot answer (no worker serves). Caller frees.
 */
char *limg_keeper_pid_path(const char *mountpoint);

#endif /* LIMG_KEEPER_H */
