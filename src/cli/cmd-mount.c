/*
 * cmd-mount.c - `fuse-layerimg [OPTIONS] SOURCE MOUNTPOINT`: the mount.
 *
 * Option handling is libfuse's (so -f, -d, -s, -o allow_other and
 * mount.fuse3 / fstab lines work as for any FUSE file system), plus our
 * own -o layer=NAME:PATH and -o noxattrs.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <glib.h>

#include "cache/budget.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "fuse/fs.h"
#include "fuse/keeper.h"
#include "util/log.h"

#define PROG "fuse-layerimg"

static const char mount_usage[] =
	"Usage: fuse-layerimg [OPTIONS] SOURCE MOUNTPOINT\n"
	"       fuse-layerimg [OPTIONS] -o layer=NAME:PATH MOUNTPOINT\n"
	"\n"
	"Mount a read-only file system in which every layer of the store SOURCE\n"
	"appears as MOUNTPOINT/<layer>.iso, an ISO 9660 + Rock Ridge image whose\n"
	"metadata is rendered on demand and whose file data is read straight from\n"
	"the layer's files. MOUNTPOINT/.stats shows counters.\n"
	"\n"
	"SOURCE is a directory of layer directories. A layer directory with a diff/\n"
	"subdirectory (Docker overlay2: /var/lib/docker/overlay2/<id>/diff) is\n"
	"served from diff/; in such a store, directories without diff/ (like l/)\n"
	"are not layers. Otherwise each directory is a layer. A layer directory\n"
	"that is a symlink is never served (logged once). SOURCE may also be a\n"
	"Docker or containers-storage root (layers named by their metadata), or\n"
	"an OCI image layout directory, a containerd root or a docker-archive or\n"
	"oci-archive tar file, whose layer tar blobs are served in place, named by\n"
	"their digests (see the manual).\n"
	"\n"
	"Options:\n"
	"  -o store=KIND          how to read SOURCE: auto (the default: told by what\n"
	"                         SOURCE holds), plain, overlay2, docker, containers,\n"
	"                         oci, archive (SOURCE is a tar file), containerd\n"
	"  -o layer=NAME:PATH     also serve PATH as NAME.iso: a layer directory or a\n"
	"                         layer tar blob, plain, gzip or zstd (repeatable)\n"
	"  -o tar_max=SIZE        refuse a compressed layer blob that decompresses to\n"
	"                         more than SIZE (a gzip bomb; default 64G)\n"
	"  -o noxattrs            do not carry extended attributes into images\n"
	"  -o attr_timeout=SECS   how long the kernel caches image attributes (1)\n"
	"  -o workers=N           background layout threads (default: half the\n"
	"                         cores, at least 1; 0: lay out on first use only)\n"
	"  -o settle=MS           a new layer is laid out once nothing in it changed\n"
	"                         for MS milliseconds (default 2000)\n"
	"  -o cache_mem=SIZE      memory for rendered metadata blocks, all images\n"
	"                         together, LRU (default 256M; K, M, G suffixes)\n"
	"  -o open_files=N        layer files kept open for reads, all images together,\n"
	"                         LRU (default: a quarter of the open-file limit,\n"
	"                         256 to 16384; a file not kept is opened and its\n"
	"                         identity checked again at its next read)\n"
	"  -o cache_dir=DIR       persistent layouts (default /var/cache/fuse-layerimg\n"
	"                         for root, else $XDG_CACHE_HOME/fuse-layerimg)\n"
	"  -o cache_size=SIZE     most disk space the cache directory may take,\n"
	"                         layouts and decompressed layers together; the\n"
	"                         least recently used go first (default: 10% of\n"
	"                         its file system, at most 8G; 0: no limit;\n"
	"                         K, M, G, T suffixes)\n"
	"  -o nocache_dir         keep layouts in memory only\n"
	"  -o readahead_kb=N      kernel readahead of the mount (default 1024; 0:\n"
	"                         leave the kernel's default)\n"
	"  -o verify=open|walk    after a restart, how a cached layout is trusted:\n"
	"                         open (default): reuse it while the layer directory\n"
	"                         is unchanged, and check every file when it is\n"
	"                         opened; walk: walk every layer again\n"
	"  -o image_uid=USER      owner of the images, a name or a number (default:\n"
	"                         the user running fuse-layerimg)\n"
	"  -o image_gid=GROUP     group of the images, a name or a number (default:\n"
	"                         that user's group)\n"
	"  -o image_mode=MODE     permission bits of the images, octal, without\n"
	"                         write, setuid, setgid or sticky bits (default 0400)\n"
	"  -o nokeeper            one process, no keeper: if it dies, the mount\n"
	"                         fails (ENOTCONN) until unmounted (see below)\n"
	"  -f                     stay in the foreground (log to stderr, not syslog)\n"
	"  -d                     debug: foreground, log every FUSE request\n"
	"  -s                     single-threaded\n"
	"  -o allow_other         let other users see the mount: the listing and\n"
	"                         .stats, and the images as far as image_uid,\n"
	"                         image_gid and image_mode allow (needs root or\n"
	"                         user_allow_other in /etc/fuse.conf)\n"
	"  -h, --help             this help, then libfuse's options\n"
	"  -V, --version          version\n"
	"\n"
	"Images are read-only: opening one read-write succeeds for root, as VM\n"
	"runtimes do, but any write, truncation or change fails with EROFS.\n"
	"Layers hold secrets (/etc/shadow, keys): only the images' owner may read\n"
	"them (0400) unless image_gid and image_mode grant more, and the kernel\n"
	"enforces it (default_permissions is always on). No one else gets a write\n"
	"bit, so other users open images read-only (QEMU: readonly=on).\n"
	"Unmount with 'fusermount3 -u MOUNTPOINT' or by sending SIGTERM.\n"
	"\n"
	"The process that mounts is a keeper: it holds the mount's /dev/fuse file\n"
	"and runs a worker (fuse-layerimg-worker) that serves it. A worker that\n"
	"dies (a crash, kill -9) is restarted and takes over open files, so guests\n"
	"reading images see a pause, not errors; 'fuse-layerimg upgrade MOUNTPOINT'\n"
	"(or SIGHUP to the keeper) hands the mount over to the binary now on disk.\n"
	"A worker that fails 5 times in a row is not restarted: requests then fail\n"
	"with EIO until SIGHUP tries again. .stats shows keeper_pid and worker_pid.\n"
	"\n"
	"From /etc/fstab, the images readable by root and group kvm (QEMU) only:\n"
	"  fuse-layerimg#/var/lib/docker /run/layerimg fuse allow_other,image_gid=kvm,"
	"image_mode=0440 0 0\n"
	"\n"
	"Other commands: fuse-layerimg render --help, fuse-layerimg check --help.\n";

typedef struct {
	char *source;
	GPtrArray *layers;      /* "NAME:PATH" */
	int noxattrs;
	double attr_timeout;
	int nonopt;
	int workers;
	unsigned settle;
	char *cache_mem;
	unsigned open_files;
	char *tar_max;
	char *cache_dir;
	char *cache_size;
	int nocache_dir;
	char *verify;
	char *store;
	unsigned readahead_kb;
	uid_t image_uid;        /* (uid_t)-1: the daemon's */
	gid_t image_gid;        /* (gid_t)-1: the daemon's */
	mode_t image_mode;
	/*
	 * The first bad image_* value, parsed (names looked up) as the option
	 * is seen; reported with the other option errors. Borrowed: owned by
	 * limg_cmd_mount(), so it is freed on every way out.
	 */
	GError **image_error;
	int nokeeper;
	char *worker_mount;     /* a worker: "/dev/fd/N" replaces the mount point */
} MountConf;

enum { KEY_LAYER, KEY_IMAGE_UID, KEY_IMAGE_GID, KEY_IMAGE_MODE, KEY_HELP, KEY_VERSION };

static const struct fuse_opt mount_opts[] = {
	FUSE_OPT_KEY("layer=", KEY_LAYER),
	{ "noxattrs", offsetof(MountConf, noxattrs), 1 },
	{ "attr_timeout=%lf", offsetof(MountConf, attr_timeout), 0 },
	{ "workers=%d", offsetof(MountConf, workers), 0 },
	{ "settle=%u", offsetof(MountConf, settle), 0 },
	{ "cache_mem=%s", offsetof(MountConf, cache_mem), 0 },
	{ "open_files=%u", offsetof(MountConf, open_files), 0 },
	{ "tar_max=%s", offsetof(MountConf, tar_max), 0 },
	{ "cache_dir=%s", offsetof(MountConf, cache_dir), 0 },
	{ "cache_size=%s", offsetof(MountConf, cache_size), 0 },
	{ "nocache_dir", offsetof(MountConf, nocache_dir), 1 },
	{ "verify=%s", offsetof(MountConf, verify), 0 },
	{ "store=%s", offsetof(MountConf, store), 0 },
	{ "readahead_kb=%u", offsetof(MountConf, readahead_kb), 0 },
	{ "nokeeper", offsetof(MountConf, nokeeper), 1 },
	FUSE_OPT_KEY("image_uid=", KEY_IMAGE_UID),
	FUSE_OPT_KEY("image_gid=", KEY_IMAGE_GID),
	FUSE_OPT_KEY("image_mode=", KEY_IMAGE_MODE),
	FUSE_OPT_END
};

/* -o image_uid=, image_gid=, image_mode= (@arg is "image_uid=VALUE"). */
static void
image_opt(MountConf *c, const char *arg, int key)
{
	g_autoptr(GError) error = NULL;
	const char *value = strchr(arg, '=') + 1;
	gboolean ok;

	if (key == KEY_IMAGE_UID)
		ok = limg_parse_uid(value, &c->image_uid, &error);
	else if (key == KEY_IMAGE_GID)
		ok = limg_parse_gid(value, &c->image_gid, &error);
	else
		ok = limg_parse_image_mode(value, &c->image_mode, &error);
	if (!ok && !*c->image_error)
		g_propagate_prefixed_error(c->image_error, g_steal_pointer(&error), "%s: ", arg);
}

static int
opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	MountConf *c = data;

	if (key == KEY_LAYER) {
		g_ptr_array_add(c->layers, g_strdup(arg + strlen("layer=")));
		return 0;
	}
	if (key == KEY_IMAGE_UID || key == KEY_IMAGE_GID || key == KEY_IMAGE_MODE) {
		image_opt(c, arg, key);
		return 0;
	}
	/* x-* options are for the tools around mount (x-systemd.after=...): not ours. */
	if (key == FUSE_OPT_KEY_OPT && g_str_has_prefix(arg, "x-"))
		return 0;
	if (key == FUSE_OPT_KEY_NONOPT) {
		/* SOURCE MOUNTPOINT, or just MOUNTPOINT with -o layer=. */
		if (c->nonopt++ == 0 && !c->source) {
			c->source = g_strdup(arg);
			return 0;
		}
		/* A worker serves its keeper's session, never mounts (keeper.h). */
		if (c->worker_mount)
			return fuse_opt_add_arg(outargs, c->worker_mount);
		return 1;
	}
	return 1;
}

/* The cache directory to use, created if needed; NULL: memory only. */
static char *
cache_dir_for(const MountConf *c)
{
	g_autofree char *dir = NULL;

	if (c->nocache_dir)
		return NULL;
	if (c->cache_dir)
		dir = g_strdup(c->cache_dir);
	else if (geteuid() == 0)
		dir = g_strdup("/var/cache/fuse-layerimg");
	else
		dir = g_build_filename(g_get_user_cache_dir(), "fuse-layerimg", NULL);
	if (g_mkdir_with_parents(dir, 0700) < 0 || access(dir, W_OK) < 0) {
		fprintf(stderr, PROG ": warning: cache directory %s: %s; keeping layouts in "
		        "memory only\n", dir, g_strerror(errno));
		return NULL;
	}
	return g_canonicalize_filename(dir, NULL);
}

/*
 * The keeper (keeper.h): mount with libfuse's options in @args, daemonize
 * unless told not to, then hold the session while workers serve it.
 */
static int
keep(struct fuse_args *args, const struct fuse_cmdline_opts *opts, char **worker_args)
{
	static const struct fuse_lowlevel_ops none;
	struct fuse_session *se = fuse_session_new(args, &none, sizeof(none), NULL);
	g_autofree char *cwd = g_get_current_dir();     /* daemonizing goes to / */
	int status = 1;

	if (!se)
		return 1;
	if (fuse_session_mount(se, opts->mountpoint) != 0)
		goto out;
	if (fuse_daemonize(opts->foreground) != 0) {
		fuse_session_unmount(se);
		goto out;
	}
	if (!opts->foreground)
		limg_log_use_syslog(true);
	status = limg_keeper_run(se, opts->mountpoint, cwd, worker_args);
	/* Frees libfuse's copy of the mount point; nothing if it is gone. */
	fuse_session_unmount(se);
out:
	fuse_session_destroy(se);
	return status;
}

/*
 * Layer files kept open: a reader at random over a base layer's 5,000
 * files pays an open, an identity check (fstat) and a close for every
 * read the cache misses, which doubled a QD1 4 KiB read's time with 256
 * kept. A quarter of the open-file limit (main() raised it to the hard
 * limit) leaves the rest to layer directories, FUSE and spools.
 */
static unsigned
default_open_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 16384;
	return (unsigned)CLAMP(rl.rlim_cur / 4, 256, 16384);
}

/*
 * Grow the fd table now to hold @files more, while this process has one
 * thread: the kernel grows it by doubling as fds are opened, and in a
 * process of several threads each growth waits for an RCU grace period
 * (expand_fdtable(): synchronize_rcu()). Six of them, from 256 to 16384
 * fds, took about 50 ms from the first read of a base layer's image,
 * 1.2 GB/s against 1.6 with 256 files kept. A dup2() to the last fd it
 * needs (at most 65536: 512 KiB of table) grows it once; the table never
 * shrinks.
 */
static void
reserve_fd_table(unsigned files)
{
	struct rlimit rl;
	/* A larger -o open_files grows past this later, as before. */
	long want = MIN((long)files + 1024, 65536L);
	int src, fd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)want >= rl.rlim_cur)
		want = (long)rl.rlim_cur - 1;
	if (want <= 1024)
		return;
	src = fcntl(STDERR_FILENO, F_GETFD) >= 0 ? STDERR_FILENO :
	      open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return;
	fd = dup2(src, (int)want);
	if (fd >= 0)
		close(fd);
	if (src != STDERR_FILENO)
		close(src);
}

int
limg_cmd_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	g_autoptr(GError) image_error = NULL;
	MountConf conf = { .attr_timeout = 1.0, .workers = -1, .settle = 2000,
	                   .readahead_kb = 1024, .image_uid = (uid_t)-1,
	                   .image_gid = (gid_t)-1, .image_mode = 0400,
	                   .image_error = &image_error };
	g_autofree char *cache_dir = NULL;
	LimgImagesOptions iopts = { 0 };
	LimgFsOptions fsopts = { 0 };
	g_autoptr(GError) error = NULL;
	struct fuse_session *se = NULL;
	LimgStore *store = NULL;
	LimgFs *fs = NULL;
	LimgHandoff handoff;
	int status = 1, ret, worker;

	conf.layers = g_ptr_array_new_with_free_func(g_free);
	worker = limg_handoff_get(&handoff, &error);
	if (worker < 0) {
		fprintf(stderr, PROG ": %s\n", error->message);
		goto out_args;
	}
	if (worker)
		conf.worker_mount = limg_handoff_mount_arg(&handoff);
	if (fuse_opt_parse(&args, &conf, mount_opts, opt_proc) < 0)
		goto out_args;
	if (fuse_parse_cmdline(&args, &opts) < 0)
		goto out_args;
	if (opts.show_help) {
		fputs(mount_usage, stdout);
		printf("\nlibfuse options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		status = 0;
		goto out_args;
	}
	if (opts.show_version) {
		printf("%s %s (libfuse %s)\n", PACKAGE_NAME, PACKAGE_VERSION, fuse_pkgversion());
		status = 0;
		goto out_args;
	}
	/* With only -o layer= given, the one positional argument is the mountpoint. */
	if (!opts.mountpoint && conf.source && conf.layers->len) {
		if (conf.worker_mount) {
			g_clear_pointer(&conf.source, g_free);
			opts.mountpoint = strdup(conf.worker_mount);
		} else {
			/* As fuse_parse_cmdline() gives a mount point: absolute. */
			opts.mountpoint = realpath(conf.source, NULL);
			if (!opts.mountpoint) {
				fprintf(stderr, PROG ": bad mount point %s: %s\n", conf.source,
				        g_strerror(errno));
				status = 2;
				goto out_args;
			}
			/* It was the mount point, not a SOURCE. */
			g_clear_pointer(&conf.source, g_free);
		}
	}
	if (!opts.mountpoint || (!conf.source && conf.layers->len == 0)) {
		fprintf(stderr, PROG ": expected SOURCE and MOUNTPOINT\n\n%s", mount_usage);
		status = 2;
		goto out_args;
	}
	limg_log_set_debug(opts.debug);
	store = limg_store_new(conf.source, conf.store, &error);
	if (!store) {
		fprintf(stderr, PROG ": %s\n", error->message);
		status = error->domain == G_OPTION_ERROR ? 2 : 1;
		goto out_args;
	}
	for (guint i = 0; i < conf.layers->len; i++) {
		if (!limg_store_add_spec(store, conf.layers->pdata[i], &error)) {
			fprintf(stderr, PROG ": %s\n", error->message);
			limg_store_free(store);
			goto out_args;
		}
	}
	iopts.xattrs = !conf.noxattrs;
	iopts.workers = conf.workers >= 0 ? (unsigned)conf.workers :
	                MAX(1u, g_get_num_processors() / 2);
	iopts.settle_ms = conf.settle;
	iopts.progress = opts.foreground;
	iopts.handles = conf.open_files ? conf.open_files : default_open_files();
	reserve_fd_table(iopts.handles);
	if (conf.cache_mem && !(iopts.cache_mem = limg_parse_size(conf.cache_mem))) {
		fprintf(stderr, PROG ": cache_mem=%s: expected a size like 64M\n", conf.cache_mem);
		limg_store_free(store);
		status = 2;
		goto out_args;
	}
	if (conf.tar_max && !(iopts.tar_max = limg_parse_size(conf.tar_max))) {
		fprintf(stderr, PROG ": tar_max=%s: expected a size like 8G\n", conf.tar_max);
		limg_store_free(store);
		status = 2;
		goto out_args;
	}
	/* 0 is no limit (limg_parse_size() gives 0 for a bad value too). */
	if (conf.cache_size && strcmp(conf.cache_size, "0") != 0 &&
	    !(iopts.cache_size = limg_parse_size(conf.cache_size))) {
		fprintf(stderr, PROG ": cache_size=%s: expected a size like 8G, or 0 for no "
		        "limit\n", conf.cache_size);
		limg_store_free(store);
		status = 2;
		goto out_args;
	}
	if (conf.verify && strcmp(conf.verify, "open") != 0 && strcmp(conf.verify, "walk") != 0) {
		fprintf(stderr, PROG ": verify=%s: expected open or walk\n", conf.verify);
		limg_store_free(store);
		status = 2;
		goto out_args;
	}
	if (image_error) {
		fprintf(stderr, PROG ": %s\n", image_error->message);
		limg_store_free(store);
		status = 2;
		goto out_args;
	}
	iopts.verify_walk = conf.verify && strcmp(conf.verify, "walk") == 0;
	cache_dir = cache_dir_for(&conf);
	iopts.cache_dir = cache_dir;
	if (cache_dir && !conf.cache_size)
		iopts.cache_size = limg_budget_default(cache_dir);
	fsopts.attr_timeout = conf.attr_timeout;
	fsopts.uid = geteuid();
	fsopts.gid = getegid();
	fsopts.image_uid = conf.image_uid != (uid_t)-1 ? conf.image_uid : fsopts.uid;
	fsopts.image_gid = conf.image_gid != (gid_t)-1 ? conf.image_gid : fsopts.gid;
	fsopts.image_mode = conf.image_mode;
	{
		g_autofree char *opt = NULL;

		fsopts.max_read = limg_fs_max_read();
		opt = g_strdup_printf("-omax_read=%u", fsopts.max_read);
		fuse_opt_add_arg(&args, opt);
	}
	/*
	 * libfuse copies replies it cannot splice through a malloc of the
	 * request size; keep such buffers off mmap/munmap per request.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);

	/* The kernel checks the modes: the images' 0400 is what keeps them private. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	fuse_opt_add_arg(&args, "-ofsname=fuse-layerimg");
	if (!worker && !conf.nokeeper) {
		/* The options are good: the keeper mounts, workers serve (keeper.h). */
		limg_store_free(store);
		status = keep(&args, &opts, argv + 1);
		goto out_args;
	}
	if (worker && opts.clone_fd) {
		limg_log(LIMG_LOG_WARN, "-o clone_fd ignored: a worker reads its keeper's "
		         "/dev/fuse file (a clone's requests die with it)");
		opts.clone_fd = 0;
	}
	fs = limg_fs_new(limg_images_new(store, &iopts), &fsopts);
	if (worker)
		limg_fs_set_keeper(fs, handoff.keeper, handoff.start);
	se = fuse_session_new(&args, limg_fs_ops(), sizeof(struct fuse_lowlevel_ops), fs);
	if (!se)
		goto out_fs;
	limg_fs_set_session(fs, se);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	limg_fs_set_mountpoint(fs, worker ? handoff.mountpoint : opts.mountpoint,
	                       conf.readahead_kb);
	if (!worker && fuse_daemonize(opts.foreground) != 0)
		goto out_unmount;
	if (!opts.foreground)
		limg_log_use_syslog(true);
	if (worker) {
		if (!limg_handoff_init(&handoff, se, &error)) {
			limg_log(LIMG_LOG_ERR, "%s", error->message);
			goto out_unmount;
		}
		/* The INIT reply is written: off the first request's path. */
		limg_fs_after_init(fs);
		/* Started where the command ran (relative paths): now as a daemon. */
		if (chdir("/") < 0)
			limg_log(LIMG_LOG_WARN, "chdir /: %s", g_strerror(errno));
		limg_handoff_ready(&handoff);
	}
	if (!worker || handoff.start == 1)
		limg_log(LIMG_LOG_INFO, "serving %s%s%u extra layer(s) at %s",
		         conf.source ? conf.source : "", conf.source ? " and " : "",
		         conf.layers->len, worker ? handoff.mountpoint : opts.mountpoint);
	if (opts.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(cfg, (unsigned)opts.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, opts.max_threads ? opts.max_threads : 16);
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
out_fs:
	limg_fs_free(fs);   /* frees the image service and the store */
out_args:
	free(opts.mountpoint);
	g_free(conf.source);
	g_free(conf.cache_mem);
	g_free(conf.tar_max);
	g_free(conf.cache_dir);
	g_free(conf.cache_size);
	g_free(conf.verify);
	g_free(conf.store);
	g_ptr_array_free(conf.layers, TRUE);
	g_free(conf.worker_mount);
	limg_handoff_clear(&handoff);
	fuse_opt_free_args(&args);
	return status;
}
