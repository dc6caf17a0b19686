/*
 * tune.c - what the mount asks of the kernel: splice, request sizes and
 * readahead.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuse/fs-internal.h"
#include "util/log.h"

uint32_t
limg_fs_max_read_for_pipe(uint64_t pipe_max)
{
	return pipe_max >= 2 * 1024 * 1024 ? 1024 * 1024 : 512 * 1024;
}

void
limg_tune_init(LimgFs *fs, struct fuse_conn_info *conn)
{
	/* Splice file data from the source fd; large requests. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;   /* images are immutable */
	conn->max_readahead = 1024 * 1024;
	/* Must match the max_read mount option (cmd-mount.c). */
	conn->max_read = fs->opts.max_read;
}

/*
 * Kernel readahead of this mount's own backing device (bdi): sequential
 * buffered readers then send large requests. Found through mountinfo,
 * since a stat() of the mount point from the daemon could wait on
 * itself. The kernel sets the bdi's readahead when it gets our INIT
 * reply, so this runs at the first request after it. Best effort.
 */
static void
set_readahead(const char *mountpoint, unsigned kb)
{
	g_autofree char *info = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/self/mountinfo", &info, NULL, NULL))
		return;
	lines = g_strsplit(info, "\n", -1);
	for (guint i = g_strv_length(lines); i > 0; i--) {
		g_auto(GStrv) f = g_strsplit(lines[i - 1], " ", 6);
		g_autofree char *path = NULL, *val = NULL;
		int fd;

		if (g_strv_length(f) < 5 || strcmp(f[4], mountpoint) != 0)
			continue;
		path = g_strdup_printf("/sys/class/bdi/%s/read_ahead_kb", f[2]);
		val = g_strdup_printf("%u", kb);
		/* sysfs: write in place (g_file_set_contents renames). */
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, val, strlen(val)) < 0)
			limg_log(LIMG_LOG_DEBUG, "cannot set %s: %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
}

void
limg_tune_after_init(LimgFs *fs)
{
	if (g_once_init_enter(&fs->after_init)) {
		if (fs->readahead_kb && fs->mountpoint)
			set_readahead(fs->mountpoint, fs->readahead_kb);
		g_once_init_leave(&fs->after_init, 1);
	}
}
