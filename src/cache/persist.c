/*
 * persist.c - on-disk cache of laid-out layers; see persist.h.
 *
 * File layout (host byte order: the cache never leaves the host; the
 * node size is recorded so a build with another LimgNode is rejected):
 *
 *   header   magic "LIMGTREE", version, node size, identity, fingerprint,
 *            counts, SHA-256 of the whole file with this field zeroed
 *   path     the layer path (path_len bytes)
 *   nodes    n_nodes * node_size bytes
 *   strings  strings_len bytes (names, targets, xattr blobs)
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "cache/persist.h"
#include "util/fdio.h"

typedef struct {
	char magic[8];
	uint32_t version;
	uint32_t node_size;
	uint64_t dev;
	uint64_t ino;
	int64_t mtime_sec;
	int64_t ctime_sec;
	uint32_t mtime_nsec;
	uint32_t ctime_nsec;
	uint32_t n_nodes;
	uint32_t path_len;
	uint64_t strings_len;
	uint64_t data_bytes;
	uint8_t sha256[32];
} Header;

static const char magic[8] = { 'L', 'I', 'M', 'G', 'T', 'R', 'E', 'E' };

static char *
file_for(const char *dir, const char *path)
{
	g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, path, -1);

	return g_strdup_printf("%s/%s.tree", dir, h);
}

int
limg_persist_key_from_fd(LimgPersistKey *key, const char *path, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	key->path = path;
	key->dev = st.st_dev;
	key->ino = st.st_ino;
	key->mtime_sec = st.st_mtim.tv_sec;
	key->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	key->ctime_sec = st.st_ctim.tv_sec;
	key->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	return 0;
}

static void
digest(const Header *h, const void *path, const void *nodes, size_t nodes_len,
       const void *strings, size_t strings_len, uint8_t out[32])
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
	Header z = *h;
	gsize len = 32;

	memset(z.sha256, 0, sizeof(z.sha256));
	g_checksum_update(c, (const guchar *)&z, sizeof(z));
	g_checksum_update(c, path, h->path_len);
	if (nodes_len)
		g_checksum_update(c, nodes, nodes_len);
	if (strings_len)
		g_checksum_update(c, strings, strings_len);
	g_checksum_get_digest(c, out, &len);
	g_checksum_free(c);
}

int
limg_persist_save(const char *dir, const LimgPersistKey *key, const LimgTree *tree,
                  uint64_t *bytes_written)
{
	g_autofree char *file = file_for(dir, key->path);
	g_autofree char *tmp = g_strdup_printf("%s.tmp.XXXXXX", file);
	size_t nodes_len = (size_t)tree->n_nodes * sizeof(LimgNode);
	Header h = { 0 };
	int fd, ret;

	memcpy(h.magic, magic, sizeof(magic));
	h.version = LIMG_PERSIST_VERSION;
	h.node_size = sizeof(LimgNode);
	h.dev = key->dev;
	h.ino = key->ino;
	h.mtime_sec = key->mtime_sec;
	h.mtime_nsec = key->mtime_nsec;
	h.ctime_sec = key->ctime_sec;
	h.ctime_nsec = key->ctime_nsec;
	h.n_nodes = tree->n_nodes;
	h.path_len = (uint32_t)strlen(key->path);
	h.strings_len = tree->strings.len;
	h.data_bytes = tree->data_bytes;
	digest(&h, key->path, tree->nodes, nodes_len, tree->strings.buf, tree->strings.len,
	       h.sha256);

	fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = limg_write_all(fd, &h, sizeof(h));
	if (ret == 0)
		ret = limg_write_all(fd, key->path, h.path_len);
	if (ret == 0 && nodes_len)
		ret = limg_write_all(fd, tree->nodes, nodes_len);
	if (ret == 0 && tree->strings.len)
		ret = limg_write_all(fd, tree->strings.buf, tree->strings.len);
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
		*bytes_written = sizeof(h) + h.path_len + nodes_len + tree->strings.len;
	return 0;
}

/* Structural sanity of a loaded tree, beyond the checksum. */
static bool
tree_valid(const LimgTree *t)
{
	size_t sl = t->strings.len;

	if (t->n_nodes == 0 || !S_ISDIR(t->nodes[0].mode) || sl == 0 || t->strings.buf[sl - 1] != 0)
		return false;
	for (uint32_t i = 0; i < t->n_nodes; i++) {
		const LimgNode *n = &t->nodes[i];

		if (n->parent >= t->n_nodes || n->name >= sl || (size_t)n->name + n->name_len >= sl ||
		    (n->target != LIMG_NONE && n->target >= sl) ||
		    (n->xattrs != LIMG_NONE && n->xattrs >= sl) ||
		    (uint64_t)n->first_child + n->nchildren > t->n_nodes)
			return false;
		if (n->target != LIMG_NONE && (size_t)n->target + n->size >= sl)
			return false;
	}
	return true;
}

int
limg_persist_load(const char *dir, const LimgPersistKey *key, LimgTree **out)
{
	g_autofree char *file = file_for(dir, key->path);
	g_autofree char *buf = NULL;
	gsize len = 0;
	Header h;
	uint8_t sum[32];
	size_t nodes_len;
	const char *p;
	LimgTree *t;

	*out = NULL;
	if (!g_file_get_contents(file, &buf, &len, NULL))
		return access(file, F_OK) == 0 ? -EIO : -ENOENT;
	if (len < sizeof(h))
		goto bad;
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, magic, sizeof(magic)) != 0 || h.version != LIMG_PERSIST_VERSION ||
	    h.node_size != sizeof(LimgNode))
		goto bad;
	nodes_len = (size_t)h.n_nodes * sizeof(LimgNode);
	if ((uint64_t)len != sizeof(h) + (uint64_t)h.path_len + nodes_len + h.strings_len)
		goto bad;
	p = buf + sizeof(h);
	digest(&h, p, p + h.path_len, nodes_len, p + h.path_len + nodes_len,
	       (size_t)h.strings_len, sum);
	if (memcmp(sum, h.sha256, sizeof(sum)) != 0)
		goto bad;
	if (h.path_len != strlen(key->path) || memcmp(p, key->path, h.path_len) != 0 ||
	    h.dev != key->dev || h.ino != key->ino || h.mtime_sec != key->mtime_sec ||
	    h.mtime_nsec != key->mtime_nsec || h.ctime_sec != key->ctime_sec ||
	    h.ctime_nsec != key->ctime_nsec) {
		unlink(file);
		return -ESTALE;
	}
	t = limg_tree_new();
	t->n_nodes = t->cap = h.n_nodes;
	t->nodes = malloc(nodes_len ? nodes_len : 1);
	t->strings.buf = malloc(h.strings_len ? (size_t)h.strings_len : 1);
	if (!t->nodes || !t->strings.buf) {
		limg_tree_free(t);
		return -ENOMEM;
	}
	memcpy(t->nodes, p + h.path_len, nodes_len);
	memcpy(t->strings.buf, p + h.path_len + nodes_len, (size_t)h.strings_len);
	t->strings.len = t->strings.cap = (size_t)h.strings_len;
	t->data_bytes = 0;
	if (!tree_valid(t)) {
		limg_tree_free(t);
		goto bad;
	}
	*out = t;
	return 0;
bad:
	unlink(file);
	return -EBADMSG;
}

void
limg_persist_remove(const char *dir, const char *path)
{
	g_autofree char *file = file_for(dir, path);

	unlink(file);
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
