/*
 * read.c - FUSE read: the read planner's pieces as one fuse_bufvec.
 *
 * Metadata pieces point into cached blocks, file data pieces are fd
 * buffers that libfuse splices from the layer's files, zeros come from a
 * static buffer.
 *
 * How the pieces reach the kernel. libfuse sends a vector that holds an fd
 * buffer through a pipe, with one write() per memory piece into it: a
 * first read of an image (the kernel's 128 KiB: the zero system area and
 * 48 metadata blocks of 2 KiB) paid 49 writes, a splice and a second copy. So a reply of memory pieces only goes out as
 * one writev() of them (fuse_reply_iov: the kernel copies each piece once,
 * straight into the reader's pages); in a reply with file data, each run
 * of small memory pieces is first copied into one buffer (a memcpy of a
 * few KiB costs less than a system call) and the large ones (zeros) stay
 * as they are.
 *
 * The reply releases the reader, whose close() may drop
 * the open file on another thread while this one is still returning from
 * fuse_reply_data(): the read holds its own references to the generation,
 * to every block and every fd handle the reply points into, until after
 * the reply.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "cache/gen-read.h"
#include "fuse/fs-internal.h"
#include "util/log.h"

#define ZERO_CHUNK (256 * 1024)

static const uint8_t zeros[ZERO_CHUNK];

typedef struct {
	struct fuse_bufvec *v;
	size_t cap;
	GPtrArray *blocks;      /* GBytes * the reply points into */
	GPtrArray *handles;     /* LimgHandle * whose fds the reply reads */
} Reply;

static struct fuse_buf *
reply_add(Reply *r)
{
	if (r->v->count == r->cap) {
		r->cap *= 2;
		r->v = g_realloc(r->v, sizeof(struct fuse_bufvec) +
		                 (r->cap - 1) * sizeof(struct fuse_buf));
	}
	memset(&r->v->buf[r->v->count], 0, sizeof(struct fuse_buf));
	return &r->v->buf[r->v->count++];
}

static int
reply_meta(void *ctx, GBytes *block, size_t off, size_t len)
{
	Reply *r = ctx;
	struct fuse_buf *b = reply_add(r);

	/* Held until the reply is sent, even if evicted meanwhile. */
	g_ptr_array_add(r->blocks, block);
	b->size = len;
	b->mem = (uint8_t *)g_bytes_get_data(block, NULL) + off;
	return 0;
}

static int
reply_data(void *ctx, LimgHandle *handle, uint64_t pos, uint64_t len)
{
	Reply *r = ctx;
	struct fuse_buf *b = reply_add(r);

	g_ptr_array_add(r->handles, handle);
	b->size = (size_t)len;
	b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
	b->fd = limg_handle_content(handle)->fd;
	b->pos = (off_t)pos;
	return 0;
}

static int
reply_zero(void *ctx, uint64_t len)
{
	Reply *r = ctx;

	while (len) {
		struct fuse_buf *b = reply_add(r);

		b->size = (size_t)MIN(len, (uint64_t)ZERO_CHUNK);
		b->mem = (void *)zeros;
		len -= b->size;
	}
	return 0;
}

static const LimgReadSink reply_sink = { reply_meta, reply_data, reply_zero };

/* Most pieces of one writev(): the kernel's UIO_MAXIOV, less the header. */
#define REPLY_MAX_IOV 1023
/* Memory pieces up to this size are merged into runs in a spliced reply. */
#define MERGE_MAX (16 * 1024)

/* A reply without file data: one writev(). 0, or -errno from libfuse. */
static int
send_mem(fuse_req_t req, const struct fuse_bufvec *v)
{
	struct iovec stack[64] = { { 0 } };
	struct iovec *iov = v->count <= G_N_ELEMENTS(stack) ? stack
	                    : g_new(struct iovec, v->count);
	int ret;

	for (size_t i = 0; i < v->count; i++) {
		iov[i].iov_base = v->buf[i].mem;
		iov[i].iov_len = v->buf[i].size;
	}
	ret = fuse_reply_iov(req, iov, (int)v->count);
	if (iov != stack)
		g_free(iov);
	return ret;
}

static bool
mergeable(const struct fuse_buf *b)
{
	return !(b->flags & FUSE_BUF_IS_FD) && b->size <= MERGE_MAX;
}

/*
 * Merge each run of two or more small memory pieces of @v into one
 * buffer, in place. The buffers go into *@keep (made on the first one;
 * the caller frees it after the reply): a read of file data alone
 * allocates nothing here.
 */
static void
merge_runs(struct fuse_bufvec *v, GPtrArray **keep)
{
	size_t out = 0;

	for (size_t i = 0; i < v->count;) {
		size_t j = i, len = 0;

		while (j < v->count && mergeable(&v->buf[j]))
			len += v->buf[j++].size;
		if (j - i >= 2) {
			uint8_t *m = g_malloc(len), *p = m;

			for (size_t k = i; k < j; k++) {
				memcpy(p, v->buf[k].mem, v->buf[k].size);
				p += v->buf[k].size;
			}
			if (!*keep)
				*keep = g_ptr_array_new_with_free_func(g_free);
			g_ptr_array_add(*keep, m);
			memset(&v->buf[out], 0, sizeof(v->buf[out]));
			v->buf[out].mem = m;
			v->buf[out++].size = len;
			i = j;
		} else {
			v->buf[out++] = v->buf[i++];
		}
	}
	v->count = out;
}

/*
 * Valid replies: fuse_reply_data, fuse_reply_buf, fuse_reply_err.
 * EIO when the layer was removed or a source file changed since the
 * layout (the image is then laid out again for the next open).
 */
static void
do_read(fuse_req_t req, LimgGen *g, size_t size, off_t off)
{
	Reply r = { .cap = 16 };
	int ret;

	if ((uint64_t)off >= limg_gen_size(g) || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	r.v = g_malloc(sizeof(struct fuse_bufvec) + (r.cap - 1) * sizeof(struct fuse_buf));
	r.v->count = 0;
	r.v->idx = 0;
	r.v->off = 0;
	r.blocks = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	r.handles = g_ptr_array_new_with_free_func((GDestroyNotify)limg_handle_unref);
	ret = limg_gen_read(g, (uint64_t)off, size, &reply_sink, &r);
	if (ret < 0) {
		fuse_reply_err(req, EIO);
	} else {
		g_autoptr(GPtrArray) merged = NULL;

		if (r.handles->len == 0 && r.v->count <= REPLY_MAX_IOV) {
			ret = send_mem(req, r.v);
		} else {
			if (r.handles->len)
				merge_runs(r.v, &merged);
			ret = fuse_reply_data(req, r.v, FUSE_BUF_SPLICE_MOVE);
		}
		if (ret < 0 && ret != -ENOENT)
			limg_log(LIMG_LOG_WARN, "reply to read: %s", g_strerror(-ret));
	}
	g_ptr_array_free(r.handles, TRUE);
	g_ptr_array_free(r.blocks, TRUE);
	g_free(r.v);
	/*
	 * A restarted image's first read came from its cache file's head:
	 * lay it out now, after the reply, for the reads that follow.
	 */
	limg_gen_prepare(g);
}

/* The reply of a text read points into the snapshot: hold it (see above). */
static void
read_text(fuse_req_t req, LimgOpenFile *of, size_t size, off_t off)
{
	GBytes *b = g_bytes_ref(of->text);
	gsize len;
	const char *text = g_bytes_get_data(b, &len);

	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, text + off, MIN(size, len - (size_t)off));
	g_bytes_unref(b);
}

/* Valid replies: fuse_reply_data, fuse_reply_buf, fuse_reply_err */
void
limg_fuse_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                  struct fuse_file_info *fi)
{
	g_auto(LimgOpenFile) of = { 0 };
	int ret = limg_open_files_get(LIMG_FS(req), ino, fi->fh, &of);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (of.text) {
		read_text(req, &of, size, off);
		return;
	}
	do_read(req, of.gen, size, off);
}
