/*
 * fs-internal.h - the FUSE glue's shared state and handlers, for the
 * files of src/fuse/ (see fs.h for who does what). Not for other modules.
 */
#ifndef LIMG_FS_INTERNAL_H
#define LIMG_FS_INTERNAL_H

#include "fuse/fs.h"

#define LIMG_ROOT_INO   FUSE_ROOT_ID
#define LIMG_STATS_INO  2
#define LIMG_STATS_NAME ".stats"
#define LIMG_ISO_SUFFIX ".iso"

typedef struct LimgNotify LimgNotify;
typedef struct LimgRoot LimgRoot;
typedef struct LimgOpenFiles LimgOpenFiles;

struct LimgFs {
	LimgImages *images;
	LimgFsOptions opts;
	struct fuse_session *se;
	LimgRoot *root;         /* the namespace (root.c) */
	LimgNotify *notify;     /* kernel invalidations (notify.c) */
	char *mountpoint;
	unsigned readahead_kb;
	gsize after_init;       /* g_once: work after the kernel's INIT */
	LimgOpenFiles *files;   /* what file handles mean (openfiles.c) */
	pid_t keeper;           /* 0: no keeper (-o nokeeper) */
	unsigned worker_start;
};

#define LIMG_FS(req) ((LimgFs *)fuse_req_userdata(req))

/* What an open file shows: one of the two (see openfiles.c). */
typedef struct {
	LimgGen *gen;           /* images: the generation it opened */
	GBytes *text;           /* .stats, layers: the text taken at open */
} LimgOpenFile;

void limg_open_file_clear(LimgOpenFile *of);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(LimgOpenFile, limg_open_file_clear)

/* ------------------------------------------------------------ namespace.c */

typedef enum {
	LIMG_NODE_DIR,
	LIMG_NODE_STATS,
	LIMG_NODE_IMAGE,        /* an image of the image service */
	LIMG_NODE_LINK,         /* a symlink to another path of the mount */
	LIMG_NODE_TEXT,         /* a small generated text file */
} LimgNodeKind;

/* What one path of the mount is now. */
typedef struct {
	LimgNodeKind kind;
	char *image;            /* IMAGE: the image name */
	char *target;           /* LINK: relative target */
	char *text;             /* TEXT: its content */
} LimgNsEntry;

void limg_ns_entry_clear(LimgNsEntry *e);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(LimgNsEntry, limg_ns_entry_clear)

/* A name in a directory listing. */
typedef struct {
	char *name;
	LimgNodeKind kind;
} LimgNsName;

/*
 * Resolve @path ("" is the root; no leading '/'). 0 or -ENOENT. An image
 * entry is a name only: limg_images_get() says whether its layer is there.
 */
int limg_ns_resolve(LimgFs *fs, const char *path, LimgNsEntry *e);
/* The names in directory @path (LimgNsName *, without "." and ".."). */
int limg_ns_list(LimgFs *fs, const char *path, GPtrArray **out);
/* Append a name (taken) to a listing. */
void limg_ns_add(GPtrArray *out, char *name, LimgNodeKind kind);

/* ------------------------------------------------------------ root.c */

/* One directory entry of a listing, with its node id. */
typedef struct {
	char *name;
	uint64_t ino;
	LimgNodeKind kind;
} LimgDirEntry;

LimgRoot *limg_root_new(void);
void limg_root_free(LimgRoot *r);

/*
 * Look @name up in directory @parent: fills @e (attributes, ino) and
 * counts one kernel reference; *gen (when not NULL) is the image's
 * generation for an image, else NULL (a reference: the caller's).
 * 0 or -errno (-ENOENT, -ENOTDIR, -EIO).
 */
int limg_root_lookup(LimgFs *fs, fuse_ino_t parent, const char *name,
                     struct fuse_entry_param *e, LimgGen **gen);

/* The kernel dropped @n references to @ino. */
void limg_root_forget(LimgFs *fs, fuse_ino_t ino, uint64_t n);

/* What node @ino is now (clear @e after). 0 or -ENOENT. */
int limg_root_entry(LimgFs *fs, fuse_ino_t ino, LimgNsEntry *e);

/*
 * Attributes of node @ino; an image's from @gen when given (an open file
 * keeps its generation), else from its current one. 0 or -errno.
 */
int limg_root_attr(LimgFs *fs, fuse_ino_t ino, LimgGen *gen, struct stat *st);

/* Attributes of an image generation, as node @ino (owner and mode: fs->opts). */
void limg_root_image_attr(LimgFs *fs, LimgGen *gen, fuse_ino_t ino, struct stat *st);

/* The entries of directory @ino ("." and ".." first): LimgDirEntry *. */
int limg_root_list(LimgFs *fs, fuse_ino_t ino, GPtrArray **out);

/* How many nodes the kernel knows now (statfs). */
unsigned limg_root_count(LimgFs *fs);

/* ------------------------------------------------------------ openfiles.c */

/*
 * File handles (fi->fh) name what an open file shows, so that they mean
 * the same to every worker of a keeper (keeper.h): an image's handle is
 * a digest of its generation's layout, a text's a digest of the text; a
 * directory's a random id. A worker that meets a handle it did not hand
 * out finds what it names again (adopts it) or fails it with EIO.
 */

LimgOpenFiles *limg_open_files_new(void);
void limg_open_files_free(LimgOpenFiles *t);

/* A handle for opening node @ino as @of (taken). */
uint64_t limg_open_files_add(LimgFs *fs, fuse_ino_t ino, LimgOpenFile *of);
/*
 * What handle @fh of node @ino shows (references in @of): 0, or -EIO
 * when it names what is no longer there (an image changed meanwhile).
 */
int limg_open_files_get(LimgFs *fs, fuse_ino_t ino, uint64_t fh, LimgOpenFile *of);
void limg_open_files_release(LimgFs *fs, uint64_t fh);

/* Directory listings (LimgDirEntry *): a handle for @entries (taken). */
uint64_t limg_open_files_add_dir(LimgFs *fs, fuse_ino_t ino, GPtrArray *entries);
/* The listing of handle @fh of directory @ino (a reference), listed again if unknown. */
int limg_open_files_get_dir(LimgFs *fs, fuse_ino_t ino, uint64_t fh, GPtrArray **out);

/* ------------------------------------------------------------ stats.c */

/* The text of .stats now. Caller frees. */
char *limg_stats_text(LimgFs *fs);

/* ------------------------------------------------------------ notify.c */

LimgNotify *limg_notify_new(void);
void limg_notify_free(LimgNotify *n);
void limg_notify_set_session(LimgNotify *n, struct fuse_session *se);
/* Queue: the kernel must drop its cached data of @ino. */
void limg_notify_inode(LimgNotify *n, fuse_ino_t ino);
/* Queue: the kernel must forget entry @name of directory @parent. */
void limg_notify_entry(LimgNotify *n, fuse_ino_t parent, const char *name);

/* The image service's listener (images.h): turns events into the above. */
void limg_fs_on_image_event(void *ctx, const char *name, LimgImageEvent event);

/* ------------------------------------------------------------ tune.c */

/* INIT: splice, request sizes, readahead; what the kernel can do. */
void limg_tune_init(LimgFs *fs, struct fuse_conn_info *conn);
/* Work due after INIT (the kernel's bdi exists): once, at the first request. */
void limg_tune_after_init(LimgFs *fs);

/* ------------------------------------------------------------ handlers */

void limg_fuse_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void limg_fuse_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void limg_fuse_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void limg_fuse_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void limg_fuse_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void limg_fuse_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void limg_fuse_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void limg_fuse_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void limg_fuse_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void limg_fuse_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi);
void limg_fuse_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void limg_fuse_op_statfs(fuse_req_t req, fuse_ino_t ino);
void limg_fuse_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi);
void limg_fuse_op_readlink(fuse_req_t req, fuse_ino_t ino);

/* readonly.c: every operation that would change the mount. */
void limg_fuse_readonly_ops(struct fuse_lowlevel_ops *ops);

#endif /* LIMG_FS_INTERNAL_H */
