/*
 * readonly.c - everything that would change the mount fails with EROFS.
 *
 * Runtimes open disks read-write even when they never write (solo5's
 * tender does): such opens succeed (ops.c); writes, truncation and every
 * change to the namespace then fail here.
 * Valid replies of every handler: fuse_reply_err.
 */
#include <config.h>

#include "fuse/fs-internal.h"

static void
ro_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
           struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
          const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
             struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
            size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void
ro_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
             struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

void
limg_fuse_readonly_ops(struct fuse_lowlevel_ops *ops)
{
	ops->setattr = ro_setattr;
	ops->mknod = ro_mknod;
	ops->mkdir = ro_mkdir;
	ops->unlink = ro_unlink;
	ops->rmdir = ro_unlink;
	ops->symlink = ro_symlink;
	ops->rename = ro_rename;
	ops->link = ro_link;
	ops->create = ro_create;
	ops->write_buf = ro_write_buf;
	ops->setxattr = ro_setxattr;
	ops->removexattr = ro_removexattr;
	ops->fallocate = ro_fallocate;
}
