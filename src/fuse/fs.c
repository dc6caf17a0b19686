/*
 * fs.c - the file system object, its operations table, INIT and DESTROY;
 * see fs.h.
 */
#include <config.h>

#include <errno.h>
#include <sys/stat.h>

#include "fuse/fs-internal.h"
#include "util/log.h"

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	LimgFs *fs = userdata;
	g_autoptr(GError) error = NULL;

	limg_tune_init(fs, conn);
	/* After daemonizing: threads do not survive fork(). */
	if (!limg_images_start(fs->images, &error))
		limg_log(LIMG_LOG_WARN, "background precomputation off: %s", error->message);
}

static void
op_destroy(void *userdata)
{
	LimgFs *fs = userdata;

	limg_images_stop(fs->images);
}

static struct fuse_lowlevel_ops ops;
static gsize ops_ready;

const struct fuse_lowlevel_ops *
limg_fs_ops(void)
{
	if (g_once_init_enter(&ops_ready)) {
		ops.init = op_init;
		ops.destroy = op_destroy;
		ops.lookup = limg_fuse_op_lookup;
		ops.forget = limg_fuse_op_forget;
		ops.forget_multi = limg_fuse_op_forget_multi;
		ops.getattr = limg_fuse_op_getattr;
		ops.open = limg_fuse_op_open;
		ops.read = limg_fuse_op_read;
		ops.readlink = limg_fuse_op_readlink;
		ops.flush = limg_fuse_op_flush;
		ops.release = limg_fuse_op_release;
		ops.fsync = limg_fuse_op_fsync;
		ops.opendir = limg_fuse_op_opendir;
		ops.readdir = limg_fuse_op_readdir;
		ops.releasedir = limg_fuse_op_releasedir;
		ops.statfs = limg_fuse_op_statfs;
		limg_fuse_readonly_ops(&ops);
		g_once_init_leave(&ops_ready, 1);
	}
	return &ops;
}

LimgFs *
limg_fs_new(LimgImages *images, const LimgFsOptions *opts)
{
	LimgFs *fs = g_new0(LimgFs, 1);

	fs->images = images;
	fs->opts = *opts;
	fs->root = limg_root_new();
	fs->notify = limg_notify_new();
	fs->files = limg_open_files_new();
	limg_images_set_notify(images, limg_fs_on_image_event, fs);
	return fs;
}

void
limg_fs_set_mountpoint(LimgFs *fs, const char *mountpoint, unsigned readahead_kb)
{
	g_free(fs->mountpoint);
	fs->mountpoint = g_canonicalize_filename(mountpoint, NULL);
	fs->readahead_kb = readahead_kb;
}

void
limg_fs_set_session(LimgFs *fs, struct fuse_session *se)
{
	fs->se = se;
	limg_notify_set_session(fs->notify, se);
}

void
limg_fs_set_keeper(LimgFs *fs, pid_t keeper, unsigned start)
{
	fs->keeper = keeper;
	fs->worker_start = start;
}

void
limg_fs_free(LimgFs *fs)
{
	if (!fs)
		return;
	/* No more events once the workers are gone; then the notifier. */
	limg_images_stop(fs->images);
	limg_images_set_notify(fs->images, NULL, NULL);
	limg_notify_free(fs->notify);
	/* Files the kernel never released hold generations: drop them first. */
	limg_open_files_free(fs->files);
	limg_images_free(fs->images);
	limg_root_free(fs->root);
	g_free(fs->mountpoint);
	g_free(fs);
}
