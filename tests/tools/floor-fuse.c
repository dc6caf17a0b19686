#include <config.h>
/*
 * floor-fuse - the smallest libfuse daemon that serves one file: the
 * floor of every read figure of scripts/bench-read.
 *
 * Usage: floor-fuse [-f] [-d] [-s] [--max-read BYTES] [--readahead-kb N]
 *                   FILE MOUNTPOINT
 *
 * Serves the regular file FILE, read only, as MOUNTPOINT/<basename of
 * FILE> and nothing else. A READ is one fd buffer (FUSE_BUF_IS_FD |
 * FUSE_BUF_FD_SEEK) over FILE, which libfuse splices into /dev/fuse: no
 * lookup tables, no planning, no per-request allocation. What it shares
 * with fuse-layerimg, so that the difference is our own work per request:
 *
 *   - the INIT tuning, by the same code (src/fuse/tune.c:
 *     limg_fs_tune_conn(), max_read from limg_fs_max_read() unless
 *     --max-read), and the mount's readahead set after INIT at the first
 *     lookup (limg_fs_set_readahead(); --readahead-kb, default 1024 as
 *     -o readahead_kb; 0 leaves the kernel's);
 *   - the reply flags (FUSE_BUF_SPLICE_MOVE, inert since the tuning
 *     does not want SPLICE_MOVE), keep_cache and noflush on open,
 *     attribute and entry timeouts of 1 s;
 *   - libfuse's multi-threaded loop with the defaults fuse-layerimg gets
 *     from fuse_parse_cmdline() (at most 10 workers, idle ones kept, no
 *     clone_fd), or -s: one thread;
 *   - it forks once the mount is up (fuse_daemonize), unless -f or -d;
 *     the mount point is the last argument (tests/lib/mount.sh finds the
 *     daemon by it).
 *
 * Not shared, as it costs no request: default_permissions (the kernel
 * checks modes from the attributes it caches) and fuse-layerimg's keeper
 * process (keeper.h), which only holds /dev/fuse while a worker serves.
 *
 * Exit status 0 after an unmount, 1 on an error (message on stderr), 2 on
 * a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuse/fs.h"

#define FILE_INO 2
#define TIMEOUT 1.0

static struct {
	int fd;
	struct stat st;         /* FILE's; served read only */
	const char *name;       /* its basename, the one entry of the root */
	char mountpoint[PATH_MAX];
	uint32_t max_read;
	unsigned readahead_kb;
	gsize after_init;       /* g_once: readahead set */
} floor_fs;

static void
file_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = floor_fs.st.st_size;
		st->st_blocks = floor_fs.st.st_blocks;
		st->st_mtim = floor_fs.st.st_mtim;
	}
}

static void
floor_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	limg_fs_tune_conn(conn, floor_fs.max_read);
}

/* Valid replies: fuse_reply_entry, fuse_reply_err */
static void
floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { 0 };

	if (g_once_init_enter(&floor_fs.after_init)) {
		if (floor_fs.readahead_kb)
			limg_fs_set_readahead(floor_fs.mountpoint, floor_fs.readahead_kb,
			                      floor_fs.max_read);
		g_once_init_leave(&floor_fs.after_init, 1);
	}
	if (parent != FUSE_ROOT_ID || strcmp(name, floor_fs.name) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = FILE_INO;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	file_attr(FILE_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err */
static void
floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != FILE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	file_attr(ino, &st);
	fuse_reply_attr(req, &st, TIMEOUT);
}

/* Valid replies: fuse_reply_open, fuse_reply_err */
static void
floor_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FILE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->keep_cache = 1;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

/* Valid replies: fuse_reply_data, fuse_reply_buf, fuse_reply_err */
static void
floor_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
	struct fuse_bufvec v = FUSE_BUFVEC_INIT(0);
	int ret;

	(void)ino;
	(void)fi;
	if (off >= floor_fs.st.st_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	v.buf[0].size = MIN(size, (size_t)(floor_fs.st.st_size - off));
	v.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	v.buf[0].fd = floor_fs.fd;
	v.buf[0].pos = off;
	ret = fuse_reply_data(req, &v, FUSE_BUF_SPLICE_MOVE);
	if (ret < 0 && ret != -ENOENT)
		fprintf(stderr, "floor-fuse: reply to read: %s\n", strerror(-ret));
}

static const struct fuse_lowlevel_ops floor_ops = {
	.init = floor_init,
	.lookup = floor_lookup,
	.getattr = floor_getattr,
	.open = floor_open,
	.read = floor_read,
};

static int
usage(void)
{
	fprintf(stderr, "usage: floor-fuse [-f] [-d] [-s] [--max-read BYTES] "
	        "[--readahead-kb N] FILE MOUNTPOINT\n");
	return 2;
}

/* A decimal number of at most @max into @out; false if it is not one. */
static bool
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' && *out <= max;
}

int
main(int argc, char **argv)
{
	bool foreground = false, debug = false, single = false;
	const char *file = NULL, *mnt = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	char opt[64];
	unsigned long v;
	int i, ret, status = 1;

	floor_fs.readahead_kb = 1024;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0) {
			foreground = true;
		} else if (strcmp(argv[i], "-d") == 0) {
			foreground = debug = true;
		} else if (strcmp(argv[i], "-s") == 0) {
			single = true;
		} else if (strcmp(argv[i], "--max-read") == 0 && i + 1 < argc) {
			if (!parse_uint(argv[++i], UINT32_MAX, &v) || v < 4096)
				return usage();
			floor_fs.max_read = (uint32_t)v;
		} else if (strcmp(argv[i], "--readahead-kb") == 0 && i + 1 < argc) {
			if (!parse_uint(argv[++i], UINT_MAX, &v))
				return usage();
			floor_fs.readahead_kb = (unsigned)v;
		} else if (argv[i][0] == '-') {
			return usage();
		} else if (!file) {
			file = argv[i];
		} else if (!mnt) {
			mnt = argv[i];
		} else {
			return usage();
		}
	}
	if (!file || !mnt)
		return usage();
	floor_fs.fd = open(file, O_RDONLY | O_CLOEXEC);
	if (floor_fs.fd < 0 || fstat(floor_fs.fd, &floor_fs.st) < 0) {
		fprintf(stderr, "floor-fuse: %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (!S_ISREG(floor_fs.st.st_mode)) {
		fprintf(stderr, "floor-fuse: %s: not a regular file\n", file);
		return 1;
	}
	floor_fs.name = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	if (!*floor_fs.name) {
		fprintf(stderr, "floor-fuse: %s: no file name\n", file);
		return 1;
	}
	/* mountinfo names the mount point by its canonical path. */
	if (!realpath(mnt, floor_fs.mountpoint)) {
		fprintf(stderr, "floor-fuse: %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	if (!floor_fs.max_read)
		floor_fs.max_read = limg_fs_max_read();

	snprintf(opt, sizeof(opt), "-omax_read=%u", floor_fs.max_read);
	if (fuse_opt_add_arg(&args, argv[0]) < 0 || fuse_opt_add_arg(&args, opt) < 0 ||
	    fuse_opt_add_arg(&args, "-ofsname=floor-fuse") < 0 ||
	    (debug && fuse_opt_add_arg(&args, "-d") < 0)) {
		fprintf(stderr, "floor-fuse: out of memory\n");
		goto out_args;
	}
	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, floor_fs.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(foreground) != 0)
		goto out_unmount;
	if (single) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		if (!cfg) {
			fprintf(stderr, "floor-fuse: out of memory\n");
			goto out_unmount;
		}
		/* What fuse_parse_cmdline() gives fuse-layerimg. */
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		fuse_loop_cfg_set_max_threads(cfg, 10);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	status = ret == 0 ? 0 : 1;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	close(floor_fs.fd);
	return status;
}
