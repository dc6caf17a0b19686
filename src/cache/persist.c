/*
 * persist.c - on-disk cache of laid-out layers; see persist.h.
 *
 * File layout (host byte order: the cache never leaves the host; the
 * node size is recorded so a build with another LimgNode is rejected):
 *
 *   header   magic "LIMGTREE", version, node size, lengths, counts, the
 *            checksum: XXH3-128 of the whole file with these 16 bytes
 *            zeroed (canonical, big-endian), then the head's stored and
 *            raw lengths and its own checksum (XXH3-64 of the key, the
 *            print, the raw length and the stored head); a file without
 *            a head has lengths 0 and checksum 1 (HEAD_NONE), or all
 *            zeros if written before heads (such files load as they did)
 *   key      the source key (key_len bytes)
 *   print    the source fingerprint (print_len bytes)
 *   head     head_len bytes: the head, LZ4-compressed, opaque here
 *   nodes    n_nodes * node_size bytes
 *   strings  strings_len bytes (names, targets, xattr blobs)
 *   layout   layout_len bytes: the layout's hints (iso/layout.h), opaque
 *            here; a file without them still gives its tree
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <xxhash.h>
#include <lz4.h>

#include "cache/persist.h"
#include "util/fdio.h"
#include "util/touch.h"

typedef struct {
	char magic[8];
	uint32_t version;
	uint32_t node_size;
	uint32_t key_len;
	uint32_t print_len;
	uint32_t n_nodes;
	uint32_t layout_len;    /* 0: none (format 3 wrote 0 here too) */
	uint64_t strings_len;
	uint8_t sum[16];        /* XXH3-128 of the file, this field zeroed */
	uint32_t head_len;      /* stored (compressed) bytes; 0: no head */
	uint32_t head_raw_len;
	uint64_t head_sum;      /* XXH3-64 of key, print, head_raw_len, head;
	                         * no head: HEAD_NONE, or 0 from a writer that
	                         * kept none (before heads) */
} Header;

#define HEAD_NONE 1

G_STATIC_ASSERT(sizeof(Header) == 72);

/* Longest key and fingerprint a file may carry, and the largest head. */
#define MAX_KEY 65536
#define MAX_PRINT 4096
#define MAX_HEAD (4u << 20)

struct LimgPersistFile {
	int fd;
	char *file;
	Header h;
	uint64_t size;
	XXH3_state_t *sum;      /* the file's checksum, up to the head's end */
};

static const char magic[8] = { 'L', 'I', 'M', 'G', 'T', 'R', 'E', 'E' };

static char *
file_for(const char *dir, const char *path)
{
	g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, path, -1);

	return g_strdup_printf("%s/%s.tree", dir, h);
}

/*
 * The checksum of a file: XXH3-128 (it guards against torn and damaged
 * files, not against someone who can write the cache directory: that is
 * tree_valid()'s job), about 20x faster than the SHA-256 it replaces, so
 * that loading a cached layer costs little more than reading it. Fed in
 * file order: the header with the checksum zeroed, then every part.
 */
static XXH3_state_t *
digest_begin(const Header *h)
{
	XXH3_state_t *s = XXH3_createState();
	Header z = *h;

	if (!s)
		return NULL;
	memset(z.sum, 0, sizeof(z.sum));
	XXH3_128bits_reset(s);
	XXH3_128bits_update(s, &z, sizeof(z));
	return s;
}

static void
digest_add(XXH3_state_t *s, const void *p, size_t len)
{
	if (len)
		XXH3_128bits_update(s, p, len);
}

static void
digest_end(XXH3_state_t *s, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s));
	memcpy(out, &c, 16);
	XXH3_freeState(s);
}

/* The head's own checksum: checked before the head is used, the rest later. */
static uint64_t
head_digest(const void *key, uint32_t key_len, const void *print, uint32_t print_len,
            uint32_t raw_len, const void *head, uint32_t head_len)
{
	XXH3_state_t *s = XXH3_createState();
	uint64_t v;

	if (!s)
		return 0;
	XXH3_64bits_reset(s);
	XXH3_64bits_update(s, key, key_len);
	XXH3_64bits_update(s, print, print_len);
	XXH3_64bits_update(s, &raw_len, sizeof(raw_len));
	XXH3_64bits_update(s, head, head_len);
	v = XXH3_64bits_digest(s);
	XXH3_freeState(s);
	return v;
}

int
limg_persist_save(const char *dir, const LimgSourceId *id, const LimgTree *tree,
                  uint64_t *bytes_written)
{
	return limg_persist_save_layout(dir, id, tree, NULL, NULL, bytes_written);
}

/*
 * @head compressed, or NULL: too large, it does not compress, or it would
 * take more than an eighth of the @rest of the file (a small layer, whose
 * tree loads fast anyway, would pay more disk than the head saves time).
 * LZ4: it is decompressed on a restart's first request, where LZ4 took
 * a third of zstd's time (no context to set up, 10 GB/s), for 60% more
 * bytes (a Debian base layer's 96 KiB head, mostly directory records,
 * stores in 25 KiB: 2.5% of its cache file); its fast compressor (3 GB/s,
 * where HC's 100 MB/s added a millisecond to every save).
 */
static void *
head_compress(GBytes *head, uint64_t rest, uint32_t *stored, uint32_t *raw)
{
	gsize len = 0;
	const void *p = head ? g_bytes_get_data(head, &len) : NULL;
	int bound, n;
	void *out;

	if (!p || len == 0 || len > MAX_HEAD)
		return NULL;
	bound = LZ4_compressBound((int)len);
	out = g_malloc((size_t)bound);
	n = LZ4_compress_default(p, out, (int)len, bound);
	if (n <= 0 || (size_t)n >= len || (uint64_t)n > rest / 8) {
		g_free(out);
		return NULL;
	}
	*stored = (uint32_t)n;
	*raw = (uint32_t)len;
	return out;
}

int
limg_persist_save_layout(const char *dir, const LimgSourceId *id, const LimgTree *tree,
                         GBytes *layout, GBytes *head, uint64_t *bytes_written)
{
	g_autofree char *file = file_for(dir, id->key);
	g_autofree char *tmp = g_strdup_printf("%s.tmp.XXXXXX", file);
	size_t nodes_len = (size_t)tree->n_nodes * sizeof(LimgNode);
	gsize print_len;
	const void *print = g_bytes_get_data(id->fingerprint, &print_len);
	gsize layout_len = 0;
	const void *lay = layout ? g_bytes_get_data(layout, &layout_len) : NULL;
	g_autofree void *stored = NULL;
	XXH3_state_t *sum;
	Header h = { 0 };
	int fd, ret;

	if (strlen(id->key) > MAX_KEY || print_len > MAX_PRINT)
		return -ENAMETOOLONG;
	/* Hints of more than 4 GiB are left out: the tree alone is enough. */
	if (layout_len > UINT32_MAX)
		layout_len = 0;
	memcpy(h.magic, magic, sizeof(magic));
	h.version = LIMG_PERSIST_VERSION;
	h.node_size = sizeof(LimgNode);
	h.key_len = (uint32_t)strlen(id->key);
	h.print_len = (uint32_t)print_len;
	h.n_nodes = tree->n_nodes;
	h.strings_len = tree->strings.len;
	h.layout_len = (uint32_t)layout_len;
	/* A head that cannot be kept is left out: the file still loads. */
	stored = head_compress(head, sizeof(h) + h.key_len + h.print_len + nodes_len +
	                       tree->strings.len + h.layout_len, &h.head_len, &h.head_raw_len);
	h.head_sum = stored ? head_digest(id->key, h.key_len, print, h.print_len, h.head_raw_len,
	                                  stored, h.head_len) : HEAD_NONE;
	sum = digest_begin(&h);
	if (!sum)
		return -ENOMEM;
	digest_add(sum, id->key, h.key_len);
	digest_add(sum, print, h.print_len);
	digest_add(sum, stored, h.head_len);
	digest_add(sum, tree->nodes, nodes_len);
	digest_add(sum, tree->strings.buf, tree->strings.len);
	digest_add(sum, lay, h.layout_len);
	digest_end(sum, h.sum);

	fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = limg_write_all(fd, &h, sizeof(h));
	if (ret == 0)
		ret = limg_write_all(fd, id->key, h.key_len);
	if (ret == 0)
		ret = limg_write_all(fd, print, h.print_len);
	if (ret == 0 && h.head_len)
		ret = limg_write_all(fd, stored, h.head_len);
	if (ret == 0 && nodes_len)
		ret = limg_write_all(fd, tree->nodes, nodes_len);
	if (ret == 0 && tree->strings.len)
		ret = limg_write_all(fd, tree->strings.buf, tree->strings.len);
	if (ret == 0 && h.layout_len)
		ret = limg_write_all(fd, lay, h.layout_len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, file) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return ret;
	}
	if (bytes_written)
		*bytes_written = sizeof(h) + h.key_len + h.print_len + h.head_len + nodes_len +
		                 tree->strings.len + h.layout_len;
	return 0;
}

/* Is [off, off + len] (the NUL after it included) inside @sl bytes of strings? */
static bool
in_strings(const LimgTree *t, uint64_t off, uint64_t len)
{
	return off < t->strings.len && len < t->strings.len - off &&
	       t->strings.buf[off + len] == 0;
}

/* Does the xattr blob at @off lie wholly inside the strings? */
static bool
xattrs_valid(const LimgTree *t, uint32_t off)
{
	uint64_t sl = t->strings.len, p = off;
	uint32_t count;

	if (p + 4 > sl)
		return false;
	memcpy(&count, t->strings.buf + p, 4);
	p += 4;
	if (count == 0 || count > 65536)
		return false;
	for (uint32_t i = 0; i < count; i++) {
		uint16_t nl;
		uint32_t vl;

		if (p + 6 > sl)
			return false;
		memcpy(&nl, t->strings.buf + p, 2);
		memcpy(&vl, t->strings.buf + p + 2, 4);
		p += 6;
		if (nl == 0 || memchr(t->strings.buf + p, 0, MIN((uint64_t)nl, sl - p)) ||
		    p + nl + (uint64_t)vl > sl)
			return false;
		p += nl + (uint64_t)vl;
	}
	return true;
}

/*
 * A name's bytes hold neither '/' nor NUL: one pass, no call per name
 * (two memchr() calls per node were a tenth of a restart's first load).
 */
static bool
name_bytes_valid(const char *name, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '/' || name[i] == 0)
			return false;
	}
	return true;
}

static bool
type_valid(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK:
	case S_IFIFO: case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

/*
 * The tree invariant of tree.h, checked in full: a file that passes the
 * checksum was still written by someone, and the layout, the walk of
 * paths and the opening of files by name trust every field below.
 *  - node 0 is a directory; every other node's parent is a directory of
 *    a lower index (so there is no cycle) that lists it among its
 *    children; a directory's children are a range of higher indices,
 *    sorted by name without duplicates; other nodes have none;
 *  - names are 1..255 bytes inside the strings, NUL-terminated, without
 *    '/' or NUL, never "." or ".." (they are opened with openat());
 *  - symlinks, and only they, have a target inside the strings;
 *  - an xattr blob lies wholly inside the strings.
 */
static bool
tree_valid(const LimgTree *t)
{
	if (t->n_nodes == 0 || !S_ISDIR(t->nodes[0].mode) || t->strings.len == 0 ||
	    t->strings.buf[t->strings.len - 1] != 0)
		return false;
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];
		const char *name = (const char *)t->strings.buf + n->name;

		if (!type_valid(n->mode) || !in_strings(t, n->name, n->name_len))
			return false;
		if (i == 0 ? n->name_len != 0 || n->parent != 0 :
		    n->name_len == 0 || n->name_len > 255 || n->parent >= i ||
		    !name_bytes_valid(name, n->name_len) ||
		    (n->name_len == 1 && name[0] == '.') ||
		    (n->name_len == 2 && name[0] == '.' && name[1] == '.'))
			return false;
		if (S_ISLNK(n->mode) != (n->target != LIMG_NONE) ||
		    (n->target != LIMG_NONE && !in_strings(t, n->target, n->size)))
			return false;
		if (n->xattrs != LIMG_NONE && !xattrs_valid(t, n->xattrs))
			return false;
		if (!S_ISDIR(n->mode)) {
			if (n->nchildren != 0)
				return false;
			continue;
		}
		if (n->nchildren &&
		    (n->first_child <= i || (uint64_t)n->first_child + n->nchildren > t->n_nodes))
			return false;
		for (uint32_t c = n->first_child; c < n->first_child + n->nchildren; c++) {
			const LimgNode *cn = &t->nodes[c];

			/* children are checked on their own later: not yet here */
			if (cn->parent != i || !in_strings(t, cn->name, cn->name_len))
				return false;
			if (c > n->first_child) {
				const LimgNode *pn = &t->nodes[c - 1];
				size_t k = MIN(pn->name_len, cn->name_len);
				int r = memcmp(t->strings.buf + pn->name, t->strings.buf + cn->name, k);

				if (r > 0 || (r == 0 && pn->name_len >= cn->name_len))
					return false;
			}
		}
	}
	/* Every node is listed by its parent: ranges checked above, counts here. */
	{
		uint64_t listed = 0;

		for (uint32_t i = 0; i < t->n_nodes; i++)
			listed += S_ISDIR(t->nodes[i].mode) ? t->nodes[i].nchildren : 0;
		if (listed != (uint64_t)t->n_nodes - 1)
			return false;
	}
	return true;
}

/*
 * Map the pages of a fresh buffer of @len bytes in one call rather than
 * one fault each as the read fills it: a restarted daemon's first load
 * is into memory the process never touched (a Debian base layer: about
 * 250 pages, 0.3 ms of faults here). Advice only: errors are ignored
 * (kernels before 5.14 have no MADV_POPULATE_WRITE).
 */
static void
prefault(void *buf, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)buf + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)buf + len) & ~(page - 1);

	if (len >= 16 * page && hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

/* Read exactly @len bytes at @off; false on error or short file. */
static bool
read_exact(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
		off += r;
	}
	return true;
}

bool
limg_persist_headless_writer(const LimgPersistFile *pf)
{
	return pf->h.head_len == 0 && pf->h.head_sum == 0;
}

void
limg_persist_close(LimgPersistFile *pf)
{
	if (!pf)
		return;
	if (pf->sum)
		XXH3_freeState(pf->sum);
	close(pf->fd);
	g_free(pf->file);
	g_free(pf);
}

/*
 * Remove the file @pf read, found stale or bad, so that it is rebuilt,
 * never reused: unless a save replaced it meanwhile (then the name is
 * another file's).
 */
static void
remove_read(const LimgPersistFile *pf)
{
	struct stat a, b;

	if (fstat(pf->fd, &a) == 0 && stat(pf->file, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		unlink(pf->file);
}

static int
reject(LimgPersistFile *pf, int ret)
{
	if (ret == -ESTALE || ret == -EBADMSG)
		remove_read(pf);
	limg_persist_close(pf);
	return ret;
}

/* The @len stored bytes of a head, decompressed: exactly @raw_len bytes, or NULL. */
static GBytes *
head_decompress(const void *stored, uint32_t len, uint32_t raw_len)
{
	void *raw = malloc(raw_len);
	int n;

	if (!raw)
		return NULL;
	prefault(raw, raw_len);
	n = LZ4_decompress_safe(stored, raw, (int)len, (int)raw_len);
	if (n < 0 || (uint32_t)n != raw_len) {
		free(raw);
		return NULL;
	}
	return g_bytes_new_with_free_func(raw, raw_len, free, raw);
}

/*
 * Whether the whole file's checksum holds, @first (its bytes after the
 * header) read already: to tell a damaged file from a stale one.
 */
static bool
whole_sum_ok(const LimgPersistFile *pf, const uint8_t *first, size_t first_len)
{
	XXH3_state_t *sum = digest_begin(&pf->h);
	g_autofree uint8_t *buf = g_malloc(65536);
	uint64_t off = sizeof(pf->h) + first_len;
	uint8_t got[16];

	if (!sum)
		return false;
	digest_add(sum, first, first_len);
	while (off < pf->size) {
		size_t n = (size_t)MIN((uint64_t)65536, pf->size - off);

		if (!read_exact(pf->fd, buf, n, (off_t)off)) {
			XXH3_freeState(sum);
			return false;
		}
		digest_add(sum, buf, n);
		off += n;
	}
	digest_end(sum, got);
	return memcmp(got, pf->h.sum, sizeof(got)) == 0;
}

int
limg_persist_open(const char *dir, const LimgSourceId *id, LimgPersistFile **out,
                  GBytes **head)
{
	LimgPersistFile *pf = g_new0(LimgPersistFile, 1);
	g_autofree uint8_t *first = NULL;
	gsize want_print_len;
	const void *want_print = g_bytes_get_data(id->fingerprint, &want_print_len);
	const Header *h = &pf->h;
	uint64_t want;
	size_t first_len;
	struct stat st;

	*out = NULL;
	if (head)
		*head = NULL;
	pf->file = file_for(dir, id->key);
	pf->fd = open(pf->file, O_RDONLY | O_CLOEXEC);
	if (pf->fd < 0) {
		int err = errno == ENOENT || errno == ENOTDIR ? -ENOENT : -EIO;

		g_free(pf->file);
		g_free(pf);
		return err;
	}
	if (fstat(pf->fd, &st) < 0 || !read_exact(pf->fd, &pf->h, sizeof(pf->h), 0))
		return reject(pf, -EBADMSG);
	if (memcmp(h->magic, magic, sizeof(magic)) != 0 || h->version != LIMG_PERSIST_VERSION ||
	    h->node_size != sizeof(LimgNode) || h->key_len > MAX_KEY || h->print_len > MAX_PRINT ||
	    h->head_len > MAX_HEAD || h->head_raw_len > MAX_HEAD ||
	    (h->head_len == 0) != (h->head_raw_len == 0) ||
	    (h->head_len == 0 && h->head_sum != 0 && h->head_sum != HEAD_NONE))
		return reject(pf, -EBADMSG);
	want = sizeof(*h) + (uint64_t)h->key_len + h->print_len + h->head_len +
	       (uint64_t)h->n_nodes * sizeof(LimgNode) + h->strings_len + h->layout_len;
	if ((uint64_t)st.st_size != want)
		return reject(pf, -EBADMSG);
	pf->size = want;
	/* The identity and the head: one read, the only one before the first byte. */
	first_len = (size_t)h->key_len + h->print_len + h->head_len;
	first = g_malloc(first_len ? first_len : 1);
	if (!read_exact(pf->fd, first, first_len, sizeof(*h)))
		return reject(pf, -EBADMSG);
	/* The head's checksum covers the identity too: damage is told from staleness. */
	if (h->head_len && head_digest(first, h->key_len, first + h->key_len, h->print_len,
	                               h->head_raw_len, first + h->key_len + h->print_len,
	                               h->head_len) != h->head_sum)
		return reject(pf, -EBADMSG);
	if (h->key_len != strlen(id->key) || memcmp(first, id->key, h->key_len) != 0 ||
	    h->print_len != want_print_len ||
	    memcmp(first + h->key_len, want_print, h->print_len) != 0)
		return reject(pf, whole_sum_ok(pf, first, first_len) ? -ESTALE : -EBADMSG);
	if (h->head_len && head &&
	    !(*head = head_decompress(first + h->key_len + h->print_len, h->head_len,
	                              h->head_raw_len)))
		return reject(pf, -EBADMSG);
	pf->sum = digest_begin(h);
	if (!pf->sum) {
		if (head)
			g_clear_pointer(head, g_bytes_unref);
		return reject(pf, -ENOMEM);
	}
	digest_add(pf->sum, first, first_len);
	*out = pf;
	return 0;
}

int
limg_persist_read_tree(LimgPersistFile *pf, LimgTree **out, GBytes **layout)
{
	const Header *h = &pf->h;
	g_autofree uint8_t *lay = NULL;
	g_autoptr(LimgTree) t = NULL;
	size_t nodes_len = (size_t)h->n_nodes * sizeof(LimgNode);
	uint64_t off = sizeof(*h) + (uint64_t)h->key_len + h->print_len + h->head_len;
	uint8_t sum[16];
	int ret = -EBADMSG;

	*out = NULL;
	if (layout)
		*layout = NULL;
	if (!pf->sum)
		return -EINVAL;   /* read once */
	/* Read straight into the tree's own arrays: one copy, no staging buffer. */
	t = limg_tree_new();
	t->nodes = malloc(nodes_len ? nodes_len : 1);
	t->strings.buf = malloc(h->strings_len ? (size_t)h->strings_len : 1);
	lay = malloc(h->layout_len ? h->layout_len : 1);
	if (!t->nodes || !t->strings.buf || !lay) {
		ret = -ENOMEM;
		goto out;
	}
	prefault(t->nodes, nodes_len);
	prefault(t->strings.buf, (size_t)h->strings_len);
	prefault(lay, h->layout_len);
	t->n_nodes = t->cap = h->n_nodes;
	t->strings.len = t->strings.cap = (size_t)h->strings_len;
	if (!read_exact(pf->fd, t->nodes, nodes_len, (off_t)off) ||
	    !read_exact(pf->fd, t->strings.buf, t->strings.len, (off_t)(off + nodes_len)) ||
	    !read_exact(pf->fd, lay, h->layout_len, (off_t)(off + nodes_len + t->strings.len)))
		goto out;
	digest_add(pf->sum, t->nodes, nodes_len);
	digest_add(pf->sum, t->strings.buf, t->strings.len);
	digest_add(pf->sum, lay, h->layout_len);
	digest_end(g_steal_pointer(&pf->sum), sum);
	if (memcmp(sum, h->sum, sizeof(sum)) != 0 || !tree_valid(t))
		goto out;
	/* The layout counts the data again. */
	t->data_bytes = 0;
	/* Used now: the budget evicts the least recently used (budget.h). */
	limg_touch(pf->fd);
	ret = 0;
	*out = g_steal_pointer(&t);
	if (layout && h->layout_len)
		*layout = g_bytes_new_take(g_steal_pointer(&lay), h->layout_len);
out:
	if (pf->sum) {
		XXH3_freeState(pf->sum);
		pf->sum = NULL;
	}
	if (ret == -EBADMSG)
		remove_read(pf);
	return ret;
}

int
limg_persist_load(const char *dir, const LimgSourceId *id, LimgTree **out)
{
	return limg_persist_load_layout(dir, id, out, NULL);
}

int
limg_persist_load_layout(const char *dir, const LimgSourceId *id, LimgTree **out,
                         GBytes **layout)
{
	LimgPersistFile *pf;
	int ret;

	*out = NULL;
	if (layout)
		*layout = NULL;
	ret = limg_persist_open(dir, id, &pf, NULL);
	if (ret < 0)
		return ret;
	ret = limg_persist_read_tree(pf, out, layout);
	limg_persist_close(pf);
	return ret;
}

void
limg_persist_remove(const char *dir, const char *key)
{
	g_autofree char *file = file_for(dir, key);
	g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, key, -1);
	g_autofree char *spool = g_strdup_printf("%s/%s.spool", dir, h);

	unlink(file);
	/* A tar source's decompressed copy goes with its tree (source.h). */
	unlink(spool);
}

uint64_t
limg_persist_dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (g_str_has_suffix(de->d_name, ".tree") &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}
