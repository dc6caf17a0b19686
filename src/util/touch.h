/*
 * touch.h - "last used" times of cache files.
 *
 * A cache file's mtime is when it was last used: whoever uses one (the
 * disk cache's loader, the tar source's spool opener) touches it, and
 * the disk cache's budget (cache/budget.h) evicts the least recently
 * used first. A touch writes only when the mtime is LIMG_TOUCH_SEC or
 * more away from now, so using a file often costs one fstat, not an
 * inode update each time. Cache files are immutable once in place, so
 * their mtime means nothing else: never judge their validity by it.
 *
 * Only the mtime is set (the atime is left to the mount's atime policy).
 * The file's owner may touch it through a read-only descriptor.
 *
 * Thread model: reentrant.
 */
#ifndef LIMG_TOUCH_H
#define LIMG_TOUCH_H

/* A touch leaves an mtime this close to now (seconds, either way) alone. */
#define LIMG_TOUCH_SEC 60

/*
 * The regular file open at @fd was used now. 0 or -errno (-EINVAL: not a
 * regular file). Callers may ignore failure: a file that cannot be
 * touched is only evicted sooner.
 */
int limg_touch(int fd);

/* The same for the file @name (no '/') of @dir; a symlink is not followed. */
int limg_touch_path(const char *dir, const char *name);

#endif /* LIMG_TOUCH_H */
