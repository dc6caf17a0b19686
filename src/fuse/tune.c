/*
 * tune.c - what the mount asks of the kernel: splice, request sizes,
 * background requests and readahead.
 *
 * tests/tools/floor-fuse.c (the benchmarks' smallest possible daemon)
 * links this file, so that the floor asks the kernel exactly what we do.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuse/fs-internal.h"
#include "util/log.h"

/*
 * libfuse 3.14 reads /dev/fuse into a buffer of FUSE_MAX_MAX_PAGES (256)
 * pages plus a 4 KiB header and answers INIT with max_pages = max_write /
 * page size, max_write being at most that buffer. A larger max_write
 * cannot be asked for: the kernel refuses every read of /dev/fuse into a
 * buffer smaller than max_write plus the headers (EINVAL), which would end
 * the session. (From libfuse 3.17 on, a file system may raise max_write
 * at INIT and libfuse reallocates its buffer to match.)
 */
#define LIBFUSE_MAX_PAGES 256u

/*
 * Background requests (readahead, asynchronous direct I/O) the kernel
 * keeps in flight before readers wait, and from how many on it stops
 * adding async readahead. Its default, 12 and 9, is less than one VM's
 * queue of O_DIRECT reads or the readahead of a few concurrent readers;
 * requests beyond the worker threads wait in /dev/fuse, where an idle
 * worker takes them at once. libfuse's 3/4 for the threshold.
 */
#define MAX_BACKGROUND 64u
#define CONGESTION_THRESHOLD 48u

/* The kernel's request size without FUSE_MAX_PAGES (32 pages). */
#define MIN_READ (128u * 1024)

uint32_t
limg_fs_max_read_for_pipe(uint32_t request, uint64_t pipe_size)
{
	uint64_t r = MIN((uint64_t)request, pipe_size / 2);

	r -= r % 4096;
	return (uint32_t)MAX(r, MIN((uint64_t)MIN_READ, (uint64_t)request));
}

/* A decimal number from a /proc file, or @fallback. */
static uint64_t
proc_uint(const char *path, uint64_t fallback)
{
	g_autofree char *text = NULL;
	char *end;
	guint64 v;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return fallback;
	v = g_ascii_strtoull(text, &end, 10);
	return end == text || v == 0 ? fallback : v;
}

/*
 * Whether a pipe of this process can grow to @size bytes: past
 * /proc/sys/fs/pipe-max-size only with CAP_SYS_RESOURCE (root, unless a
 * container's bounding set drops it). Tried on a pipe of its own, the way
 * libfuse grows its pipes (F_SETPIPE_SZ).
 */
static bool
pipe_can_grow_to(uint64_t size)
{
	int p[2];
	bool ok;

	if (size > G_MAXINT || pipe2(p, O_CLOEXEC) < 0)
		return false;
	ok = fcntl(p[0], F_SETPIPE_SZ, (int)size) >= (int)size;
	close(p[0]);
	close(p[1]);
	return ok;
}

uint32_t
limg_fs_max_read(void)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t limit = proc_uint("/proc/sys/fs/fuse/max_pages_limit", LIBFUSE_MAX_PAGES);
	uint32_t request = (uint32_t)(MIN(limit, (uint64_t)LIBFUSE_MAX_PAGES) * page);
	uint64_t pipe_size = proc_uint("/proc/sys/fs/pipe-max-size", 1024 * 1024);

	/*
	 * Each libfuse worker grows its own pipe on demand, to page *
	 * (pieces + 2) + reply bytes for each reply (or, when a grow fails,
	 * once to pipe-max-size; a reply that does not fit then is copied).
	 * Twice the request leaves room for one piece per page.
	 */
	if (pipe_size < 2 * (uint64_t)request && pipe_can_grow_to(2 * (uint64_t)request))
		pipe_size = 2 * (uint64_t)request;
	return limg_fs_max_read_for_pipe(request, pipe_size);
}

void
limg_fs_tune_conn(struct fuse_conn_info *conn, uint32_t max_read)
{
	/*
	 * Splice file data from the source fd, but never move: with
	 * SPLICE_MOVE the kernel steals every whole page it can out of the
	 * layer file's page cache into the image's (remove_mapping() and
	 * replace_page_cache_folio() per page), which costs more than the
	 * copy it saves and leaves the layer's own readers (its containers,
	 * other images with the same file) to read it from disk again.
	 */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;   /* images are immutable */
	/*
	 * The kernel sets the mount's readahead to the smaller of its default
	 * and this; limg_fs_set_readahead() raises it after INIT.
	 */
	conn->max_readahead = MAX(max_read, 1024u * 1024);
	/* Must match the max_read mount option; max_write stays libfuse's. */
	conn->max_read = max_read;
	conn->max_background = MAX_BACKGROUND;
	conn->congestion_threshold = CONGESTION_THRESHOLD;
}

void
limg_tune_init(LimgFs *fs, struct fuse_conn_info *conn)
{
	limg_fs_tune_conn(conn, fs->opts.max_read);
}

/*
 * Kernel readahead of this mount's own backing device (bdi): sequential
 * buffered readers then send large requests. Found through mountinfo,
 * since a stat() of the mount point from the daemon could wait on
 * itself. The kernel sets the bdi's readahead when it gets our INIT
 * reply, so this runs at the first request after it. Best effort.
 */
void
limg_fs_set_readahead(const char *mountpoint, unsigned kb, uint32_t max_read)
{
	g_autofree char *info = NULL;
	g_auto(GStrv) lines = NULL;

	/* Readahead goes out in requests of its own size: never below one. */
	kb = MAX(kb, max_read / 1024);
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
			limg_fs_set_readahead(fs->mountpoint, fs->readahead_kb, fs->opts.max_read);
		g_once_init_leave(&fs->after_init, 1);
	}
}

void
limg_fs_after_init(LimgFs *fs)
{
	limg_tune_after_init(fs);
}
