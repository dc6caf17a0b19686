/*
 * cmd-mount.c - `fuse-layerimg [OPTIONS] SOURCE MOUNTPOINT`: the mount.
 *
 * Option handling is libfuse's (so -f, -d, -s, -o allow_other and
 * mount.fuse3 / fstab lines work as for any FUSE file system), plus our
 * own -o layer=NAME:PATH and -o noxattrs.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "cli/cli.h"
#include "fuse/fs.h"
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
	"are not layers. Otherwise each directory is a layer.\n"
	"\n"
	"Options:\n"
	"  -o layer=NAME:PATH     also serve directory PATH as NAME.iso (repeatable)\n"
	"  -o noxattrs            do not carry extended attributes into images\n"
	"  -o attr_timeout=SECS   how long the kernel caches image attributes (1)\n"
	"  -f                     stay in the foreground (log to stderr, not syslog)\n"
	"  -d                     debug: foreground, log every FUSE request\n"
	"  -s                     single-threaded\n"
	"  -o allow_other         let other users read the images (needs root or\n"
	"                         user_allow_other in /etc/fuse.conf)\n"
	"  -h, --help             this help, then libfuse's options\n"
	"  -V, --version          version\n"
	"\n"
	"Images are read-only (0444): opening one read-write succeeds, as VM\n"
	"runtimes do, but any write, truncation or change fails with EROFS.\n"
	"Unmount with 'fusermount3 -u MOUNTPOINT' or by sending SIGTERM.\n"
	"\n"
	"From /etc/fstab:\n"
	"  fuse-layerimg#/var/lib/docker/overlay2 /run/layerimg fuse allow_other 0 0\n"
	"\n"
	"Other commands: fuse-layerimg render --help, fuse-layerimg check --help.\n";

typedef struct {
	char *source;
	GPtrArray *layers;      /* "NAME:PATH" */
	int noxattrs;
	double attr_timeout;
	int nonopt;
} MountConf;

enum { KEY_LAYER, KEY_HELP, KEY_VERSION };

static const struct fuse_opt mount_opts[] = {
	FUSE_OPT_KEY("layer=", KEY_LAYER),
	{ "noxattrs", offsetof(MountConf, noxattrs), 1 },
	{ "attr_timeout=%lf", offsetof(MountConf, attr_timeout), 0 },
	FUSE_OPT_END
};

static int
opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	MountConf *c = data;

	if (key == KEY_LAYER) {
		g_ptr_array_add(c->layers, g_strdup(arg + strlen("layer=")));
		return 0;
	}
	if (key == FUSE_OPT_KEY_NONOPT) {
		/* SOURCE MOUNTPOINT, or just MOUNTPOINT with -o layer=. */
		if (c->nonopt++ == 0 && !c->source) {
			c->source = g_strdup(arg);
			return 0;
		}
		return 1;
	}
	return 1;
}

int
limg_cmd_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	MountConf conf = { .attr_timeout = 1.0 };
	LimgFsOptions fsopts = { 0 };
	g_autoptr(GError) error = NULL;
	struct fuse_session *se = NULL;
	LimgStore *store = NULL;
	LimgFs *fs = NULL;
	int status = 1, ret;

	conf.layers = g_ptr_array_new_with_free_func(g_free);
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
		opts.mountpoint = g_steal_pointer(&conf.source);
	}
	if (!opts.mountpoint || (!conf.source && conf.layers->len == 0)) {
		fprintf(stderr, PROG ": expected SOURCE and MOUNTPOINT\n\n%s", mount_usage);
		status = 2;
		goto out_args;
	}
	limg_log_set_debug(opts.debug);
	store = limg_store_new(conf.source, &error);
	if (!store) {
		fprintf(stderr, PROG ": %s\n", error->message);
		goto out_args;
	}
	for (guint i = 0; i < conf.layers->len; i++) {
		if (!limg_store_add_spec(store, conf.layers->pdata[i], &error)) {
			fprintf(stderr, PROG ": %s\n", error->message);
			limg_store_free(store);
			goto out_args;
		}
	}
	fsopts.xattrs = !conf.noxattrs;
	fsopts.attr_timeout = conf.attr_timeout;
	fs = limg_fs_new(store, &fsopts);

	fuse_opt_add_arg(&args, LIMG_FS_MAX_READ_OPT);
	fuse_opt_add_arg(&args, "-ofsname=fuse-layerimg");
	se = fuse_session_new(&args, limg_fs_ops(), sizeof(struct fuse_lowlevel_ops), fs);
	if (!se)
		goto out_fs;
	limg_fs_set_session(fs, se);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(opts.foreground) != 0)
		goto out_unmount;
	if (!opts.foreground)
		limg_log_use_syslog(true);
	limg_log(LIMG_LOG_INFO, "serving %s%s%u extra layer(s) at %s",
	         conf.source ? conf.source : "", conf.source ? " and " : "",
	         conf.layers->len, opts.mountpoint);
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
	limg_fs_free(fs);   /* frees the store */
out_args:
	free(opts.mountpoint);
	g_free(conf.source);
	g_ptr_array_free(conf.layers, TRUE);
	fuse_opt_free_args(&args);
	return status;
}
