/*
 * persist.c - on-disk cache of laid-out layers; see persist.h.
 *
 * File layout (host byte order: the cache never leaves the host; the
 * node size is recorded so a build with another LimgNode is rejected):
 *
 *   header   magic "LIMGTREE", version, node size, lengths, counts, a
 *            32-byte checksum field: XXH3-128 of the whole file with this
 *            field zeroed (canonical, big-endian), then 16 zero bytes
 *   key      the source key (key_len bytes)
 *   print    the source fingerprint (print_len bytes)
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
	uint8_t sum[32];        /* XXH3-128, then 16 zero bytes */
} Header;

/* Longest key and fingerprint a file may carry. */
#define MAX_KEY 65536
#define MAX_PRINT 4096

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
 * that loading a cached layer costs little more than reading it.
 */
static int
digest(const Header *h, const void *key, const void *print, const void *nodes, size_t nodes_len,
       const void *strings, size_t strings_len, const void *layout, uint8_t out[32])
{
	XXH3_state_t *s = XXH3_createState();
	Header z = *h;

	if (!s)
		return -ENOMEM;
	memset(z.sum, 0, sizeof(z.sum));
	XXH3_128bits_reset(s);
	XXH3_128bits_update(s, &z, sizeof(z));
	XXH3_128bits_update(s, key, h->key_len);
	XXH3_128bits_update(s, print, h->print_len);
	if (nodes_len)
		XXH3_128bits_update(s, nodes, nodes_len);
	if (strings_len)
		XXH3_128bits_update(s, strings, strings_len);
	if (h->layout_len)
		XXH3_128bits_update(s, layout, h->layout_len);
	memset(out, 0, 32);
	XXH128_canonicalFromHash((XXH128_canonical_t *)(void *)out, XXH3_128bits_digest(s));
	XXH3_freeState(s);
	return 0;
}

int
limg_persist_save(const char *dir, const LimgSourceId *id, const LimgTree *tree,
                  uint64_t *bytes_written)
{
	return limg_persist_save_layout(dir, id, tree, NULL, bytes_written);
}

int
limg_persist_save_layout(const char *dir, const LimgSourceId *id, const LimgTree *tree,
                         GBytes *layout, uint64_t *bytes_written)
{
	g_autofree char *file = file_for(dir, id->key);
	g_autofree char *tmp = g_strdup_printf("%s.tmp.XXXXXX", file);
	size_t nodes_len = (size_t)tree->n_nodes * sizeof(LimgNode);
	gsize print_len;
	const void *print = g_bytes_get_data(id->fingerprint, &print_len);
	gsize layout_len = 0;
	const void *lay = layout ? g_bytes_get_data(layout, &layout_len) : NULL;
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
	ret = digest(&h, id->key, print, tree->nodes, nodes_len, tree->strings.buf,
	             tree->strings.len, lay, h.sum);
	if (ret < 0)
		return ret;

	fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = limg_write_all(fd, &h, sizeof(h));
	if (ret == 0)
		ret = limg_write_all(fd, id->key, h.key_len);
	if (ret == 0)
		ret = limg_write_all(fd, print, h.print_len);
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
		*bytes_written = sizeof(h) + h.key_len + h.print_len + nodes_len + tree->strings.len +
		                 h.layout_len;
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

int
limg_persist_load(const char *dir, const LimgSourceId *id, LimgTree **out)
{
	return limg_persist_load_layout(dir, id, out, NULL);
}

int
limg_persist_load_layout(const char *dir, const LimgSourceId *id, LimgTree **out,
                         GBytes **layout)
{
	g_autofree char *file = file_for(dir, id->key);
	g_autofree char *key = NULL, *print = NULL;
	g_autofree uint8_t *lay = NULL;
	g_autoptr(LimgTree) t = NULL;
	gsize want_print_len;
	const void *want_print = g_bytes_get_data(id->fingerprint, &want_print_len);
	uint64_t off;
	size_t nodes_len;
	uint8_t sum[32];
	struct stat st;
	Header h;
	int fd, ret = -EBADMSG;

	*out = NULL;
	if (layout)
		*layout = NULL;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -EIO;
	if (fstat(fd, &st) < 0 || !read_exact(fd, &h, sizeof(h), 0))
		goto out_close;
	if (memcmp(h.magic, magic, sizeof(magic)) != 0 || h.version != LIMG_PERSIST_VERSION ||
	    h.node_size != sizeof(LimgNode) || h.key_len > MAX_KEY || h.print_len > MAX_PRINT)
		goto out_close;
	nodes_len = (size_t)h.n_nodes * sizeof(LimgNode);
	if ((uint64_t)st.st_size != sizeof(h) + (uint64_t)h.key_len + h.print_len + nodes_len +
	                            h.strings_len + h.layout_len)
		goto out_close;
	/* Read straight into the tree's own arrays: one copy, no staging buffer. */
	key = g_malloc(h.key_len + 1);
	print = g_malloc(h.print_len + 1);
	t = limg_tree_new();
	t->nodes = malloc(nodes_len ? nodes_len : 1);
	t->strings.buf = malloc(h.strings_len ? (size_t)h.strings_len : 1);
	lay = malloc(h.layout_len ? h.layout_len : 1);
	if (!t->nodes || !t->strings.buf || !lay) {
		ret = -ENOMEM;
		goto out_close;
	}
	prefault(t->nodes, nodes_len);
	prefault(t->strings.buf, (size_t)h.strings_len);
	prefault(lay, h.layout_len);
	t->n_nodes = t->cap = h.n_nodes;
	t->strings.len = t->strings.cap = (size_t)h.strings_len;
	off = sizeof(h);
	if (!read_exact(fd, key, h.key_len, (off_t)off) ||
	    !read_exact(fd, print, h.print_len, (off_t)(off + h.key_len)) ||
	    !read_exact(fd, t->nodes, nodes_len, (off_t)(off + h.key_len + h.print_len)) ||
	    !read_exact(fd, t->strings.buf, t->strings.len,
	                (off_t)(off + h.key_len + h.print_len + nodes_len)) ||
	    !read_exact(fd, lay, h.layout_len,
	                (off_t)(off + h.key_len + h.print_len + nodes_len + t->strings.len)))
		goto out_close;
	if (digest(&h, key, print, t->nodes, nodes_len, t->strings.buf, t->strings.len, lay,
	           sum) < 0) {
		ret = -ENOMEM;
		goto out_close;
	}
	if (memcmp(sum, h.sum, sizeof(sum)) != 0)
		goto out_close;
	if (h.key_len != strlen(id->key) || memcmp(key, id->key, h.key_len) != 0 ||
	    h.print_len != want_print_len || memcmp(print, want_print, h.print_len) != 0) {
		ret = -ESTALE;
		goto out_close;
	}
	if (!tree_valid(t))
		goto out_close;
	/* The layout counts the data again. */
	t->data_bytes = 0;
	/* Used now: the budget evicts the least recently used (budget.h). */
	limg_touch(fd);
	ret = 0;
	*out = g_steal_pointer(&t);
	if (layout && h.layout_len)
		*layout = g_bytes_new_take(g_steal_pointer(&lay), h.layout_len);
out_close:
	close(fd);
	/* Stale and bad files are removed so they are rebuilt, never reused. */
	if (ret == -ESTALE || ret == -EBADMSG)
		unlink(file);
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
