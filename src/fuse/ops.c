/*
 * ops.c - the FUSE operations on the namespace: lookup, forget, getattr,
 * open, release, directories, statfs. Each handler ends in exactly one
 * fuse_reply_*(); "Valid replies" above each says which.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fuse/fs-internal.h"

/* -errno from the namespace or the image service -> the errno to reply. */
static int
reply_errno(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -EISDIR:
		return -err;
	default:
		return EIO;     /* a build failed: logged where it happened */
	}
}

/* The kernel's first readahead of an image: 256 KiB (2 KiB blocks). */
#define LOOKUP_PRERENDER 128

/* Valid replies: fuse_reply_entry, fuse_reply_err */
void
limg_fuse_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	LimgFs *fs = LIMG_FS(req);
	struct fuse_entry_param e;
	LimgGen *g = NULL;
	int ret;

	limg_tune_after_init(fs);
	ret = limg_root_lookup(fs, parent, name, &e, &g);
	if (ret < 0) {
		fuse_reply_err(req, reply_errno(ret));
		return;
	}
	fuse_reply_entry(req, &e);
	/*
	 * An image laid out for this lookup (no precomputation, or not yet)
	 * has nothing rendered: its first read, one round trip away, would
	 * render the blocks a guest reads first. Render them now, after the
	 * reply, while the kernel and the reader go on to the open (once
	 * per generation; a precomputed one has them already).
	 */
	if (g) {
		limg_gen_prerender(g, LOOKUP_PRERENDER);
		limg_gen_unref(g);
	}
}

/* Valid replies: fuse_reply_none */
void
limg_fuse_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	limg_root_forget(LIMG_FS(req), ino, nlookup);
	fuse_reply_none(req);
}

/* Valid replies: fuse_reply_none */
void
limg_fuse_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		limg_root_forget(LIMG_FS(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err */
void
limg_fuse_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	LimgFs *fs = LIMG_FS(req);
	g_auto(LimgOpenFile) of = { 0 };
	struct stat st;
	int ret;

	/* An open file keeps the generation it opened. */
	if (fi && fi->fh)
		(void)limg_open_files_get(fs, ino, fi->fh, &of);
	ret = limg_root_attr(fs, ino, of.gen, &st);
	if (ret < 0)
		fuse_reply_err(req, reply_errno(ret));
	else
		fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

/*
 * Runtimes open disks read-write even when they never write (solo5's
 * tender does): such opens succeed; writes then fail with EROFS.
 * Valid replies: fuse_reply_open, fuse_reply_err
 */
void
limg_fuse_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	LimgFs *fs = LIMG_FS(req);
	g_auto(LimgNsEntry) e = { 0 };
	LimgOpenFile of = { 0 };
	int ret;

	ret = limg_root_entry(fs, ino, &e);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (e.kind == LIMG_NODE_DIR || e.kind == LIMG_NODE_LINK) {
		fuse_reply_err(req, e.kind == LIMG_NODE_DIR ? EISDIR : ELOOP);
		return;
	}
	if (fi->flags & O_TRUNC) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (e.kind == LIMG_NODE_STATS || e.kind == LIMG_NODE_TEXT) {
		char *text = e.kind == LIMG_NODE_STATS ? limg_stats_text(fs) : g_steal_pointer(&e.text);

		of.text = g_bytes_new_take(text, strlen(text));
		fi->direct_io = 1;
	} else {
		ret = limg_images_get(fs->images, e.image, &of.gen);
		if (ret < 0) {
			fuse_reply_err(req, reply_errno(ret));
			return;
		}
		/* Images are immutable per generation: keep the page cache. */
		fi->keep_cache = 1;
		fi->noflush = 1;
	}
	/* A handle naming what it shows, never a pointer (openfiles.c). */
	fi->fh = limg_open_files_add(fs, ino, &of);
	fuse_reply_open(req, fi);
}

/* Valid replies: fuse_reply_readlink, fuse_reply_err */
void
limg_fuse_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	g_auto(LimgNsEntry) e = { 0 };
	int ret = limg_root_entry(LIMG_FS(req), ino, &e);

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (e.kind != LIMG_NODE_LINK)
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_readlink(req, e.target);
}

/* Valid replies: fuse_reply_err */
void
limg_fuse_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	limg_open_files_release(LIMG_FS(req), fi->fh);
	fuse_reply_err(req, 0);
}

/* Valid replies: fuse_reply_err */
void
limg_fuse_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Valid replies: fuse_reply_err */
void
limg_fuse_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Valid replies: fuse_reply_open, fuse_reply_err */
void
limg_fuse_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	GPtrArray *entries;
	int ret = limg_root_list(LIMG_FS(req), ino, &entries);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* A snapshot: readdir pages through it by index. */
	fi->fh = limg_open_files_add_dir(LIMG_FS(req), ino, entries);
	fuse_reply_open(req, fi);
}

/* Valid replies: fuse_reply_buf, fuse_reply_err */
void
limg_fuse_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	g_autoptr(GPtrArray) entries = NULL;
	g_autofree char *buf = NULL;
	size_t used = 0;
	int ret = limg_open_files_get_dir(LIMG_FS(req), ino, fi->fh, &entries);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	buf = g_malloc(size);
	for (guint i = (guint)off; i < entries->len; i++) {
		const LimgDirEntry *d = entries->pdata[i];
		struct stat st = { 0 };
		size_t need;

		st.st_ino = d->ino;
		st.st_mode = d->kind == LIMG_NODE_DIR ? S_IFDIR :
		             d->kind == LIMG_NODE_LINK ? S_IFLNK : S_IFREG;
		need = fuse_add_direntry(req, buf + used, size - used, d->name, &st, (off_t)i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

/* Valid replies: fuse_reply_err */
void
limg_fuse_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	limg_open_files_release(LIMG_FS(req), fi->fh);
	fuse_reply_err(req, 0);
}

/* Valid replies: fuse_reply_statfs, fuse_reply_err */
void
limg_fuse_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	LimgFs *fs = LIMG_FS(req);
	struct statvfs sv = { 0 };

	sv.f_bsize = limg_images_block_size(fs->images);
	sv.f_frsize = sv.f_bsize;
	sv.f_files = limg_root_count(fs);
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}
