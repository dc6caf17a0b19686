/*
 * source-tar-open.c - the tar source object (source.h): reading the
 * blob (libarchive's read callbacks, the digest thread), the spool,
 * opening contents, verification of a cached tree, identity and
 * checks. The scan that builds the tree is source-tar.c, which says
 * where a node's bytes are.
 *
 * The spool (<spool_dir>/<sha256 of the key>.spool): a 4 KiB header
 * (magic, version, the blob's fingerprint, the data length, a SHA-256
 * of the header) and the data. Written under a temporary name and
 * renamed into place when complete. A tree loaded from the disk cache
 * is used only if its spool is there with the same fingerprint and
 * enough data.
 *
 * The blob is read with pread(), never mapped: a blob truncated under us
 * is a short read, not a SIGBUS.
 */
#include <config.h>

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "source/source-tar-internal.h"
#include "util/fdio.h"
#include "util/sha256.h"
#include "util/touch.h"

#define SPOOL_VERSION 1
#define SPOOL_BUF (1U << 20)

static const char spool_magic[8] = { 'L', 'I', 'M', 'G', 'S', 'P', 'O', 'L' };

/* ------------------------------------------------------------ digest */

gpointer
limg_tar_hash_thread(gpointer p)
{
	LimgTarHasher *h = p;
	g_autofree uint8_t *buf = g_malloc(SPOOL_BUF);
	g_auto(LimgSha256) sum = { 0 };
	g_autofree char *hex = NULL;
	uint64_t done = 0;

	limg_sha256_begin(&sum);
	while (done < h->length && !g_atomic_int_get(&h->stop)) {
		size_t want = (size_t)MIN((uint64_t)SPOOL_BUF, h->length - done);
		ssize_t n = pread(h->fd, buf, want, (off_t)(h->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			h->err = n < 0 ? -errno : -EBADMSG;   /* shorter than it was */
			return NULL;
		}
		limg_sha256_update(&sum, buf, (size_t)n);
		done += (uint64_t)n;
	}
	hex = limg_sha256_hex(&sum);
	g_strlcpy(h->hex, hex, sizeof(h->hex));
	return NULL;
}

/* ------------------------------------------------------------ reading */

la_ssize_t
limg_tar_reader_read(struct archive *a, void *p, const void **out)
{
	LimgTarReader *r = p;
	size_t want;
	ssize_t n;

	*out = r->buf;
	if (r->pos >= r->length)
		return 0;
	want = (size_t)MIN((uint64_t)r->block, r->length - r->pos);
	do
		n = pread(r->fd, r->buf, want, (off_t)(r->offset + r->pos));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = -errno;
		archive_set_error(a, errno, "read error at byte %" G_GUINT64_FORMAT, r->pos);
		return -1;
	}
	r->pos += (uint64_t)n;
	return n;
}

/* Plain tars: data is never read here, only stepped over. */
la_int64_t
limg_tar_reader_skip(struct archive *a, void *p, la_int64_t request)
{
	LimgTarReader *r = p;
	uint64_t left = r->length - r->pos;
	uint64_t n = request < 0 ? 0 : MIN((uint64_t)request, left);

	r->pos += n;
	return (la_int64_t)n;
}

/* ------------------------------------------------------------ spool */

int
limg_tar_spool_create(LimgTarSpool *s, const char *dir)
{
	if (dir) {
		s->tmp = g_strdup_printf("%s/.spool.tmp.XXXXXX", dir);
		s->fd = g_mkstemp_full(s->tmp, O_RDWR | O_CLOEXEC, 0600);
		if (s->fd >= 0)
			goto ok;
		g_clear_pointer(&s->tmp, g_free);
	}
	/* No disk cache (or it refused): a file that vanishes with us. */
	s->fd = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		g_autofree char *t = g_build_filename(g_get_tmp_dir(), "limg-spool.XXXXXX", NULL);

		s->fd = g_mkstemp_full(t, O_RDWR | O_CLOEXEC, 0600);
		if (s->fd < 0)
			return -errno;
		unlink(t);
	}
ok:
	s->buf = g_malloc(SPOOL_BUF);
	return 0;
}

static int
spool_flush(LimgTarSpool *s)
{
	int ret;

	if (!s->fill)
		return 0;
	ret = limg_pwrite_full(s->fd, s->buf, s->fill, (off_t)(LIMG_TAR_SPOOL_HEADER + s->buf_at));
	s->fill = 0;
	return ret;
}

/* Put @len bytes at data offset @at. */
int
limg_tar_spool_put(LimgTarSpool *s, uint64_t at, const void *data, size_t len)
{
	int ret;

	if (s->fill && at == s->buf_at + s->fill && s->fill + len <= SPOOL_BUF) {
		memcpy(s->buf + s->fill, data, len);
		s->fill += len;
		return 0;
	}
	if ((ret = spool_flush(s)) < 0)
		return ret;
	if (len >= SPOOL_BUF)
		return limg_pwrite_full(s->fd, data, len, (off_t)(LIMG_TAR_SPOOL_HEADER + at));
	memcpy(s->buf, data, len);
	s->buf_at = at;
	s->fill = len;
	return 0;
}

void
limg_tar_spool_discard(LimgTarSpool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->tmp)
		unlink(s->tmp);
	g_free(s->tmp);
	g_free(s->buf);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/* The header: magic, version, fingerprint length, data length, fingerprint, SHA-256. */
static void
spool_header(uint8_t *h, GBytes *fingerprint, uint64_t data_len)
{
	gsize flen;
	const uint8_t *f = g_bytes_get_data(fingerprint, &flen);
	uint32_t version = SPOOL_VERSION, fl = (uint32_t)flen;
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
	gsize dlen = 32;

	memset(h, 0, LIMG_TAR_SPOOL_HEADER);
	memcpy(h, spool_magic, 8);
	memcpy(h + 8, &version, 4);
	memcpy(h + 12, &fl, 4);
	memcpy(h + 16, &data_len, 8);
	memcpy(h + 24, f, flen);
	g_checksum_update(c, h, LIMG_TAR_SPOOL_HEADER - 32);
	g_checksum_get_digest(c, h + LIMG_TAR_SPOOL_HEADER - 32, &dlen);
	g_checksum_free(c);
}

static char *
spool_name(const LimgTarSource *t)
{
	g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, t->key, -1);

	return g_strdup_printf("%s/%s.spool", t->spool_dir, h);
}

/* Complete the spool: header, into place. Its fd stays open for reading. */
int
limg_tar_spool_finish(LimgTarSource *t, LimgTarSpool *s, char **final)
{
	uint8_t *h;
	int ret;

	*final = NULL;
	if ((ret = spool_flush(s)) < 0)
		return ret;
	if (ftruncate(s->fd, (off_t)(LIMG_TAR_SPOOL_HEADER + s->end)) < 0)
		return -errno;
	h = g_malloc(LIMG_TAR_SPOOL_HEADER);
	spool_header(h, t->fingerprint, s->end);
	ret = limg_pwrite_full(s->fd, h, LIMG_TAR_SPOOL_HEADER, 0);
	g_free(h);
	if (ret < 0)
		return ret;
	if (s->tmp) {
		g_autofree char *name = spool_name(t);

		if (rename(s->tmp, name) < 0)
			return -errno;
		g_clear_pointer(&s->tmp, g_free);
		*final = g_steal_pointer(&name);
	}
	return 0;
}

/*
 * Open the spool of this blob in the spool directory: 0 and the fd if its
 * header holds this blob's fingerprint and at least @need data bytes.
 */
static int
spool_open(LimgTarSource *t, uint64_t need, int *fd_out, char **path_out)
{
	g_autofree char *name = NULL;
	g_autofree uint8_t *want = NULL, *got = NULL;
	struct stat st;
	uint64_t len;
	int fd, ret;

	if (!t->spool_dir)
		return -ESTALE;
	name = spool_name(t);
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	got = g_malloc(LIMG_TAR_SPOOL_HEADER);
	want = g_malloc(LIMG_TAR_SPOOL_HEADER);
	ret = limg_pread_full(fd, got, LIMG_TAR_SPOOL_HEADER, 0);
	if (ret == 0 && fstat(fd, &st) < 0)
		ret = -errno;
	if (ret == 0) {
		memcpy(&len, got + 16, 8);
		spool_header(want, t->fingerprint, len);
		if (!S_ISREG(st.st_mode) || memcmp(got, want, LIMG_TAR_SPOOL_HEADER) != 0 ||
		    len < need || (uint64_t)st.st_size < LIMG_TAR_SPOOL_HEADER + len)
			ret = -ESTALE;
	}
	if (ret < 0) {
		close(fd);
		return ret == -EIO || ret == -ENODATA ? -ESTALE : ret;
	}
	*fd_out = fd;
	*path_out = g_steal_pointer(&name);
	return 0;
}

/* ------------------------------------------------------------ the rest */

static GBytes *
make_fingerprint(const LimgTarSource *t)
{
	GByteArray *b = g_byte_array_new();
	uint64_t f[8] = {
		(uint64_t)t->st.st_dev, (uint64_t)t->st.st_ino, (uint64_t)t->st.st_size,
		(uint64_t)t->st.st_mtim.tv_sec, (uint64_t)t->st.st_mtim.tv_nsec,
		(uint64_t)t->st.st_ctim.tv_sec, (uint64_t)t->st.st_ctim.tv_nsec, t->offset,
	};

	g_byte_array_append(b, (const guint8 *)f, sizeof(f));
	g_byte_array_append(b, (const guint8 *)&t->length, sizeof(t->length));
	if (t->digest)
		g_byte_array_append(b, (const guint8 *)t->digest, (guint)strlen(t->digest));
	return g_byte_array_free_to_bytes(b);
}

static int
tar_identity(LimgSource *src, LimgSourceId *id)
{
	LimgTarSource *t = LIMG_TAR_SOURCE(src);

	id->key = g_strdup(t->key);
	id->fingerprint = g_bytes_ref(t->fingerprint);
	return 0;
}

/* A tree from the disk cache: the key and fingerprint matched; its spool? */
static int
tar_verify(LimgSource *src, const LimgTree *tree)
{
	LimgTarSource *t = LIMG_TAR_SOURCE(src);
	uint64_t need = 0;
	bool spooled = false;
	g_autofree char *path = NULL;
	int fd = -1, ret;

	for (uint32_t i = 0; i < tree->n_nodes; i++) {
		const LimgNode *n = &tree->nodes[i];

		if (!S_ISREG(n->mode) || n->size == 0)
			continue;
		if (n->dev == LIMG_TAR_DEV_SPOOL) {
			spooled = true;
			need = MAX(need, n->ino + n->size);
		} else if (n->dev != LIMG_TAR_DEV_BLOB || n->ino < t->offset ||
		           n->ino - t->offset > t->length || n->size > t->length - (n->ino - t->offset)) {
			return -ESTALE;
		}
	}
	if (!spooled)
		return 0;
	ret = spool_open(t, need, &fd, &path);
	if (ret < 0)
		return -ESTALE;
	g_mutex_lock(&t->lock);
	if (t->spool_fd >= 0)
		close(t->spool_fd);
	g_free(t->spool_path);
	t->spool_fd = fd;
	t->spool_path = g_steal_pointer(&path);
	g_mutex_unlock(&t->lock);
	/* used again: the disk cache's budget evicts the least recently used */
	limg_touch(fd);
	return 0;
}

static int
tar_open(LimgSource *src, const LimgTree *tree, uint32_t node, LimgContent *out)
{
	LimgTarSource *t = LIMG_TAR_SOURCE(src);
	const LimgNode *n;

	if (node >= tree->n_nodes || !S_ISREG(tree->nodes[node].mode))
		return -EINVAL;
	n = &tree->nodes[node];
	out->owned = false;
	if (n->dev == LIMG_TAR_DEV_BLOB || n->size == 0) {
		out->fd = t->fd;
		out->base = n->size ? n->ino : 0;     /* nothing is read of an empty file */
		return 0;
	}
	if (n->dev != LIMG_TAR_DEV_SPOOL)
		return -ESTALE;
	g_mutex_lock(&t->lock);
	out->fd = t->spool_fd;
	g_mutex_unlock(&t->lock);
	if (out->fd < 0)
		return -ESTALE;
	out->base = LIMG_TAR_SPOOL_HEADER + n->ino;
	return 0;
}

/* The blob may have been rewritten in place: its fd would show it. */
static int
tar_check(LimgSource *src, const LimgTree *tree, uint32_t node, const LimgContent *c)
{
	LimgTarSource *t = LIMG_TAR_SOURCE(src);
	struct stat st;

	if (fstat(t->fd, &st) < 0)
		return -ESTALE;
	if (st.st_size != t->st.st_size || st.st_mtim.tv_sec != t->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != t->st.st_mtim.tv_nsec ||
	    st.st_ctim.tv_sec != t->st.st_ctim.tv_sec ||
	    st.st_ctim.tv_nsec != t->st.st_ctim.tv_nsec)
		return -ESTALE;
	return 0;
}

static int
tar_present(LimgSource *src)
{
	LimgTarSource *t = LIMG_TAR_SOURCE(src);
	struct stat st;

	if (lstat(t->path, &st) < 0 || st.st_ino != t->st.st_ino || st.st_dev != t->st.st_dev)
		return -ENOENT;
	return 0;
}

static void
tar_free(LimgSource *src)
{
	LimgTarSource *t = LIMG_TAR_SOURCE(src);

	if (t->fd >= 0)
		close(t->fd);
	if (t->spool_fd >= 0)
		close(t->spool_fd);
	g_free(t->spool_path);
	g_free(t->path);
	g_free(t->key);
	g_free(t->digest);
	g_free(t->spool_dir);
	if (t->fingerprint)
		g_bytes_unref(t->fingerprint);
	g_mutex_clear(&t->lock);
	g_free(t);
}

static const LimgSourceOps tar_ops;

uint64_t
limg_tar_source_spooled(LimgSource *src)
{
	uint64_t n;

	if (src->ops != &tar_ops)
		return 0;
	g_mutex_lock(&LIMG_TAR_SOURCE(src)->lock);
	n = LIMG_TAR_SOURCE(src)->spooled;
	g_mutex_unlock(&LIMG_TAR_SOURCE(src)->lock);
	return n;
}

static const LimgSourceOps tar_ops = {
	.kind = "tar",
	.scan = limg_tar_scan,
	.identity = tar_identity,
	.verify = tar_verify,
	.open = tar_open,
	.check = tar_check,
	.present = tar_present,
	.free = tar_free,
};

static bool
valid_digest(const char *d)
{
	if (!g_str_has_prefix(d, "sha256:") || strlen(d) != 7 + 64)
		return false;
	for (const char *p = d + 7; *p; p++) {
		if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
			return false;
	}
	return true;
}

int
limg_tar_source_new(const char *path, bool follow, const LimgTarOptions *opts,
                    LimgSource **out)
{
	static const LimgTarOptions none = { 0 };
	LimgTarSource *t;
	struct stat st;
	int fd;

	*out = NULL;
	if (!opts)
		opts = &none;
	if (opts->digest && !valid_digest(opts->digest))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (opts->offset > (uint64_t)st.st_size ||
	    opts->length > (uint64_t)st.st_size - opts->offset) {
		close(fd);
		return -EINVAL;
	}
	t = g_new0(LimgTarSource, 1);
	t->base.ops = &tar_ops;
	t->fd = fd;
	t->st = st;
	t->path = g_strdup(path);
	t->offset = opts->offset;
	t->length = opts->length ? opts->length : (uint64_t)st.st_size - opts->offset;
	t->digest = g_strdup(opts->digest);
	t->spool_dir = g_strdup(opts->spool_dir);
	t->max_size = opts->max_size ? opts->max_size : LIMG_TAR_DEFAULT_MAX;
	t->spool_fd = -1;
	g_mutex_init(&t->lock);
	t->key = g_strdup_printf("tar:%s@%" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT, path,
	                         t->offset, t->length);
	t->fingerprint = make_fingerprint(t);
	*out = &t->base;
	return 0;
}
