/*
 * source.h - layer sources: a layer on disk -> node tree, and safe access
 * to a node's content.
 *
 * A layer is untrusted input (it came from a registry). The directory
 * source therefore:
 *  - walks with openat()/fstatat() relative to directory fds, never by
 *    path, and never follows a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW);
 *  - opens nothing but directories during the walk (no file data is read,
 *    no FIFO, socket or device is ever opened);
 *  - opens a regular file's content only beneath the layer root
 *    (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, falling back to
 *    O_NOFOLLOW per component), with O_NONBLOCK so a FIFO swapped in
 *    cannot hang us, and re-checks type and identity after open.
 *
 * Thread model: scan is single-threaded per call and keeps no global
 * state; limg_source_open_node() is reentrant.
 */
#ifndef LIMG_SOURCE_H
#define LIMG_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "tree/tree.h"
#include "util/report.h"

typedef struct {
	bool xattrs;          /* record extended attributes */
	uint32_t max_depth;   /* 0: default (2048 levels) */
	unsigned threads;     /* > 1: stat entries on that many threads; the
	                       * tree is identical to a single-threaded walk */
} LimgScanOptions;

/*
 * Walk the layer whose root directory is open as @root_fd (borrowed) and
 * build its tree. Entries that cannot be read are left out, each with a
 * warning naming it in @report, and counted in *skipped (may be NULL).
 * Returns 0 and a new tree (caller owns) in *out, or -errno when the root
 * itself cannot be read or memory runs out.
 */
int limg_source_dir_scan(int root_fd, const LimgScanOptions *opts, LimgReport *report,
                         LimgTree **out, uint64_t *skipped);

/*
 * Open the content of regular-file node @node of @tree, a tree scanned
 * from @root_fd, read-only. The file must still be the one scanned: same
 * type, inode, device, size, mtime and ctime.
 * Returns an fd (caller closes), -ESTALE when it changed or was replaced
 * (by a symlink, FIFO, ...), or another -errno.
 */
int limg_source_open_node(int root_fd, const LimgTree *tree, uint32_t node);

/*
 * Open directory node @node (beneath @root_fd, no symlink followed) and
 * check it is still the directory scanned. Returns an fd or -ESTALE /
 * -errno. With limg_source_open_node_at() this opens many files of one
 * directory without resolving their whole paths each time.
 */
int limg_source_open_dir(int root_fd, const LimgTree *tree, uint32_t node);

/*
 * Like limg_source_open_node(), relative to @dir_fd, an fd of the node's
 * parent from limg_source_open_dir(): one O_NOFOLLOW component.
 */
int limg_source_open_node_at(int dir_fd, const LimgTree *tree, uint32_t node);

/*
 * Check that every directory of @tree (scanned earlier from @root_fd's
 * layer, e.g. loaded from a cache) still has its inode, mtime and ctime:
 * then no entry was added, removed or renamed anywhere. Costs one stat
 * per directory, no file is opened. 0, or -ESTALE.
 */
int limg_source_verify_dirs(int root_fd, const LimgTree *tree);

#endif /* LIMG_SOURCE_H */
