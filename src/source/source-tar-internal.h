/*
 * source-tar-internal.h - the tar source's parts, shared by source-tar.c
 * (the one-pass scan that builds the tree) and source-tar-open.c (the
 * source object: reading the blob, the digest thread, the spool, opening
 * contents, verification of a cached tree). Not for other modules: they
 * use source.h.
 *
 * Thread model: a source is scanned by one thread at a time (with its
 * digest thread beside it); the spool fields of LimgTarSource are
 * protected by its lock, everything else is set at open and then only
 * read.
 */
#ifndef LIMG_SOURCE_TAR_INTERNAL_H
#define LIMG_SOURCE_TAR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <archive.h>
#include <glib.h>

#include "source/source.h"

/* Where a regular file's bytes are, in its node's dev (source-tar.c). */
#define LIMG_TAR_DEV_BLOB 1
#define LIMG_TAR_DEV_SPOOL 2

/* The spool file's header; its data follows. */
#define LIMG_TAR_SPOOL_HEADER 4096

typedef struct {
	LimgSource base;
	char *path;
	char *key;
	int fd;                 /* the blob file */
	struct stat st;         /* of @fd at open */
	uint64_t offset;
	uint64_t length;
	char *digest;           /* "sha256:<hex>" or NULL */
	char *spool_dir;
	uint64_t max_size;
	GBytes *fingerprint;
	GMutex lock;
	/* protected by lock; set by scan or verify */
	int spool_fd;           /* -1: none */
	char *spool_path;       /* NULL: an unlinked temporary file */
	uint64_t spooled;       /* bytes the last scan put in the spool dir */
} LimgTarSource;

#define LIMG_TAR_SOURCE(s) ((LimgTarSource *)(s))

/* LimgSourceOps.scan of the tar source (source-tar.c). */
int limg_tar_scan(LimgSource *src, const LimgScanOptions *opts, LimgReport *report,
                  LimgTree **out, uint64_t *skipped);

/* libarchive's view of bytes [offset, offset + length) of @fd, @block at a time. */
typedef struct {
	int fd;
	uint64_t offset, length;
	uint64_t pos;           /* bytes of the blob handed out or skipped */
	size_t block;
	uint8_t *buf;
	int err;                /* -errno of the last failed read */
} LimgTarReader;

/* archive_read_set_read_callback(): @p is a LimgTarReader (borrowed). */
la_ssize_t limg_tar_reader_read(struct archive *a, void *p, const void **out);

/* archive_read_set_skip_callback(), plain tars only: data is stepped over, never read. */
la_int64_t limg_tar_reader_skip(struct archive *a, void *p, la_int64_t request);

/* The digest of bytes [offset, offset + length) of @fd, on a thread of its own. */
typedef struct {
	int fd;
	uint64_t offset, length;
	gint stop;              /* atomic: the scan failed, give up */
	int err;                /* 0, or -errno of a read */
	char hex[65];
} LimgTarHasher;

/* The thread's function: @p is a LimgTarHasher (borrowed); hex or err set when done. */
gpointer limg_tar_hash_thread(gpointer p);

/* The spool being written by a scan. */
typedef struct {
	int fd;                 /* -1: no spool yet */
	char *tmp;              /* its temporary name, or NULL (O_TMPFILE) */
	uint64_t end;           /* data bytes used */
	uint8_t *buf;           /* pending bytes at [buf_at, buf_at + fill) */
	uint64_t buf_at;
	size_t fill;
} LimgTarSpool;

/*
 * A new spool in @dir under a temporary name, or (@dir NULL, or it
 * refused) an unlinked temporary file: 0 or -errno.
 */
int limg_tar_spool_create(LimgTarSpool *s, const char *dir);

/* Put @len bytes at data offset @at: 0 or -errno. */
int limg_tar_spool_put(LimgTarSpool *s, uint64_t at, const void *data, size_t len);

/*
 * Complete the spool of @t: header, into place (*@final: its path, caller
 * frees; NULL for an unlinked one). Its fd stays open for reading.
 */
int limg_tar_spool_finish(LimgTarSource *t, LimgTarSpool *s, char **final);

/*
 * Close @s's fd (if any), remove its temporary name (if any), free its
 * buffer; @s is left empty (fd -1).
 */
void limg_tar_spool_discard(LimgTarSpool *s);

#endif /* LIMG_SOURCE_TAR_INTERNAL_H */
