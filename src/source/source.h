/*
 * source.h - layer sources: the interface between a layer as it is
 * stored (a directory tree today; tar blobs and stacks of layers next)
 * and the image service.
 *
 * A source answers four questions about one layer:
 *
 *   scan       what is in it: the node tree (names and metadata, no data);
 *   identity   what the disk cache files that tree under (a key naming the
 *              layer and a fingerprint that changes when the layer may
 *              have), and verify: is a cached tree still this layer's;
 *   open       where the bytes of regular-file node N are: an fd and the
 *              offset of the file's byte 0 in it, checked to be the
 *              content that was scanned; check: is an fd opened earlier
 *              still that content;
 *   present    is the layer still there at all.
 *
 * Everything a source holds (root fds, directory fds, a tar file) is its
 * own: callers get file descriptors only through open(), and never
 * another source's.
 *
 * A layer is untrusted input (it came from a registry). Every source
 * therefore never follows a symlink of the layer, never opens a FIFO,
 * socket or device of it, opens content only beneath the layer root, and
 * checks after opening that it got what was scanned (-ESTALE otherwise).
 * See source-dir.h for how the directory source does it.
 *
 * Errors are -errno: -ESTALE means "the layer changed since the scan";
 * -ENOENT from present() means "the layer is gone".
 *
 * Thread model: scan() runs on one thread per call; identity(), verify(),
 * open(), check() and present() may be called from any number of threads
 * at once. A source is freed by its one owner (an image generation).
 */
#ifndef LIMG_SOURCE_H
#define LIMG_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "tree/tree.h"
#include "util/report.h"

typedef struct LimgSource LimgSource;

typedef struct {
	bool xattrs;          /* record extended attributes */
	uint32_t max_depth;   /* 0: default (2048 levels) */
	unsigned threads;     /* > 1: stat entries on that many threads; the
	                       * tree is identical to a single-threaded walk */
} LimgScanOptions;

/*
 * The identity of a layer, as the disk cache knows it. @key names the
 * layer (the directory source: the layer directory's path); a cached
 * tree is used only while @fingerprint is byte for byte the same (the
 * directory source: device, inode, mtime and ctime of the layer
 * directory).
 */
typedef struct {
	char *key;
	GBytes *fingerprint;
} LimgSourceId;

void limg_source_id_clear(LimgSourceId *id);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(LimgSourceId, limg_source_id_clear)

/* Where a node's bytes are. */
typedef struct {
	int fd;               /* readable; pread(fd, buf, n, base + off) */
	uint64_t base;        /* offset of the file's byte 0 in @fd */
	bool owned;           /* true: the caller closes @fd; false: the source's
	                       * own, valid as long as the source lives */
} LimgContent;

typedef struct {
	const char *kind;     /* "dir", ... */
	/*
	 * Build the layer's tree. Entries that cannot be read are left out,
	 * each with a warning naming it in @report, and counted in *skipped
	 * (may be NULL). 0 and a new tree (caller owns) in *out, or -errno
	 * when the layer itself cannot be read or memory runs out.
	 */
	int (*scan)(LimgSource *src, const LimgScanOptions *opts, LimgReport *report,
	            LimgTree **out, uint64_t *skipped);
	/* 0 and @id filled (caller clears), or -errno. */
	int (*identity)(LimgSource *src, LimgSourceId *id);
	/*
	 * Is @tree (scanned from this layer earlier, e.g. loaded from the
	 * disk cache) still what a scan would give, as far as the source can
	 * tell cheaply? 0, or -ESTALE.
	 */
	int (*verify)(LimgSource *src, const LimgTree *tree);
	/*
	 * true: verify() only finds what open()'s check of each file cannot
	 * see (entries added, removed or renamed), needs nothing of the
	 * source set up for reads, and may be given the tree as laid out
	 * (overlay.h's normalisation applied): a tree from the disk cache may
	 * then be served at once and verified while it is (images.h). false:
	 * verify() must pass before the first byte is served.
	 */
	bool verify_later;
	/* Open regular-file node @node of @tree (scanned from this source). */
	int (*open)(LimgSource *src, const LimgTree *tree, uint32_t node, LimgContent *out);
	/* Is @c, opened earlier for @node, still that content? 0 or -ESTALE. */
	int (*check)(LimgSource *src, const LimgTree *tree, uint32_t node, const LimgContent *c);
	/* 0 while the layer exists; -ENOENT once it was removed. */
	int (*present)(LimgSource *src);
	void (*free)(LimgSource *src);
} LimgSourceOps;

struct LimgSource {
	const LimgSourceOps *ops;
};

static inline int
limg_source_scan(LimgSource *src, const LimgScanOptions *opts, LimgReport *report,
                 LimgTree **out, uint64_t *skipped)
{
	return src->ops->scan(src, opts, report, out, skipped);
}

static inline int
limg_source_identity(LimgSource *src, LimgSourceId *id)
{
	return src->ops->identity(src, id);
}

static inline int
limg_source_verify(LimgSource *src, const LimgTree *tree)
{
	return src->ops->verify(src, tree);
}

static inline bool
limg_source_verify_later(const LimgSource *src)
{
	return src->ops->verify_later;
}

static inline int
limg_source_open(LimgSource *src, const LimgTree *tree, uint32_t node, LimgContent *out)
{
	return src->ops->open(src, tree, node, out);
}

static inline int
limg_source_check(LimgSource *src, const LimgTree *tree, uint32_t node, const LimgContent *c)
{
	return src->ops->check(src, tree, node, c);
}

static inline int
limg_source_present(LimgSource *src)
{
	return src->ops->present(src);
}

void limg_source_free(LimgSource *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimgSource, limg_source_free)

/* Close @c if it is owned; @c is emptied. */
void limg_content_release(LimgContent *c);

/* ------------------------------------------------------------ directory */

/*
 * A layer that is a directory tree: @root, and below it @rel (NULL or ""
 * for @root itself). @root is opened as given (following symlinks: it is
 * the operator's path); every component of @rel must be a real directory,
 * never a symlink, so a store cannot be made to serve a directory outside
 * itself. The identity key is "@root/@rel".
 * 0 and a new source in *out, or -errno (-ENOTDIR, -ELOOP for a symlink in
 * @rel, -ENOENT, ...).
 */
int limg_dir_source_new(const char *root, const char *rel, LimgSource **out);

/* ------------------------------------------------------------ stack */

/* One part of a stack: a source and the tree it gave. Borrowed. */
typedef struct {
	LimgSource *source;
	const LimgTree *tree;
	bool files_only;      /* puts files on top only (tree/overlay.h) */
} LimgStackPart;

/*
 * A stack of @n parts, lowest first: scan() gives their merged tree
 * (tree/overlay.h: as overlayfs shows them), open() reads a node from the
 * part it came from. The parts are borrowed: @release(@hold) is called
 * when the stack is freed, to let go of what keeps them alive. The stack
 * has no disk-cache identity (its key is NULL). 0 or -EINVAL (no part).
 */
int limg_stack_source_new(const LimgStackPart *parts, size_t n, GDestroyNotify release,
                          gpointer hold, LimgSource **out);

/*
 * Where node @node of the stack's merged tree comes from: 0, the part's
 * index in *part and the node in that part's tree in *part_node; or
 * -EINVAL (not a stack, not scanned, no such node).
 */
int limg_stack_source_origin(LimgSource *src, uint32_t node, size_t *part, uint32_t *part_node);

/* ------------------------------------------------------------ files */

/*
 * Files of directory @dir put at fixed paths: @map holds "DEST=NAME"
 * pairs (DEST a relative path in the image, NAME a file name in @dir,
 * NULL-terminated), e.g. "etc/hosts=hosts". Files that are missing are
 * left out of the tree; no symlink is followed. No disk-cache identity.
 * 0, -EINVAL (a bad pair), or the -errno of opening @dir.
 */
int limg_files_source_new(const char *dir, const char *const *map, LimgSource **out);

/* ------------------------------------------------------------ tar */

/*
 * A layer that is a tar blob: plain, gzip or zstd (told by its first
 * bytes, never by its name). See source-tar.c for what becomes of each
 * kind of entry.
 *
 * A plain tar is read in place: a regular file's bytes are served from
 * the blob itself. A compressed blob is decompressed once, at scan time,
 * into a spool file of its regular files' bytes (in @spool_dir, the disk
 * cache, as <hash of the key>.spool; without a spool directory an
 * unlinked temporary file in $TMPDIR). Sparse members of a plain tar go
 * to the spool too, holes kept.
 */
typedef struct {
	const char *digest;     /* "sha256:<hex>" the blob's bytes must hash to:
	                         * checked during the scan (-EBADMSG); NULL: none */
	uint64_t offset;        /* the blob is bytes [offset, offset + length) */
	uint64_t length;        /*   of the file; 0: to its end */
	const char *spool_dir;  /* NULL: temporary spool files only */
	uint64_t max_size;      /* most bytes the blob may decompress to (a
	                         * gzip bomb is refused: -EFBIG); 0: default,
	                         * LIMG_TAR_DEFAULT_MAX */
} LimgTarOptions;

#define LIMG_TAR_DEFAULT_MAX (64ULL << 30)

/*
 * A tar source for the file @path (opened now: the blob is the one that
 * was there at this call; no symlink in the last component is followed
 * unless @path is the operator's own, see @follow). The identity key is
 * "tar:@path@@offset+length".
 * 0 and a new source in *out, or -errno (-EINVAL: @offset/@length beyond
 * the file or a bad digest string; the open's -errno).
 */
int limg_tar_source_new(const char *path, bool follow, const LimgTarOptions *opts,
                        LimgSource **out);

/*
 * Bytes the last scan of tar source @src put into its spool directory (a
 * new <hash>.spool, header included): for the disk cache's budget. 0 when
 * it wrote none there (a plain blob without sparse members, a temporary
 * spool), or @src is not a tar source.
 */
uint64_t limg_tar_source_spooled(LimgSource *src);

/* What a blob's first bytes say it is. */
typedef enum {
	LIMG_TAR_PLAIN,
	LIMG_TAR_GZIP,
	LIMG_TAR_ZSTD,
	LIMG_TAR_UNKNOWN,       /* none of these (maybe another compression) */
} LimgTarKind;

LimgTarKind limg_tar_kind(const uint8_t *head, size_t len);

#endif /* LIMG_SOURCE_H */
