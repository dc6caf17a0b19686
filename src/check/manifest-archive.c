/*
 * manifest-archive.c - what libarchive (bsdtar's library) sees in an ISO
 * 9660 + Rock Ridge image.
 *
 * Only the iso9660 format reader is enabled, so nothing else is guessed.
 * Entries are read in the order libarchive returns them (data location
 * order, not tree order); names are normalised ("./" prefix and trailing
 * '/' removed; "" and "." are the root, which libarchive may not report).
 *
 * Hard links: libarchive reports the second and later links of an inode
 * (same PX serial number, regular files with data only) as entries whose
 * archive_entry_hardlink() names an earlier path, and gives them no data.
 * Such an entry joins its target's link group and takes the target's
 * type, size and digest: that is what a reader extracting the image gets.
 *
 * libarchive reads no AAIP, so the manifest never has xattrs.
 *
 * The image is fed to libarchive as a plain stream (read callback only,
 * no seek or skip), as `cat IMAGE | bsdtar -tf -` would: libarchive then
 * cannot go back, and any file whose data lies before a directory record
 * it has already passed is skipped with "Ignoring out-of-order file",
 * which we record as a note (a difference). So this reader also checks
 * that the layout can be read in one sequential pass.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib.h>

#include "check/manifest.h"
#include "util/sha256.h"
#include "util/escape.h"

#define READ_CHUNK (1024 * 1024)

typedef struct {
	int fd;
	guchar *buf;
} Stream;

#define STREAM_CHUNK (64 * 1024)

static la_ssize_t stream_read(struct archive *a, void *data,
			      const void **block)
{
	Stream *st = data;
	ssize_t n;

	do
		n = read(st->fd, st->buf, STREAM_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", g_strerror(errno));
		return -1;
	}
	*block = st->buf;
	return n;
}

static char *normalise(const char *name)
{
	gsize len;

	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (name[0] == '/')
		name++;
	len = strlen(name);
	while (len > 0 && name[len - 1] == '/')
		len--;
	if (len == 0 || (len == 1 && name[0] == '.'))
		return g_strdup(".");
	return g_strndup(name, len);
}

static LimgEntryType type_of(mode_t filetype, gboolean *known)
{
	*known = TRUE;
	switch (filetype) {
	case AE_IFDIR:
		return LIMG_ENTRY_DIR;
	case AE_IFLNK:
		return LIMG_ENTRY_SYMLINK;
	case AE_IFCHR:
		return LIMG_ENTRY_CHR;
	case AE_IFBLK:
		return LIMG_ENTRY_BLK;
	case AE_IFIFO:
		return LIMG_ENTRY_FIFO;
	case AE_IFSOCK:
		return LIMG_ENTRY_SOCK;
	case AE_IFREG:
		return LIMG_ENTRY_REG;
	default:
		*known = FALSE;
		return LIMG_ENTRY_REG;
	}
}

static void set_archive_error(GError **error, const char *image,
			      struct archive *a, const char *path)
{
	g_autoptr(GString) p = g_string_new(NULL);
	const char *msg = archive_error_string(a);

	if (path) {
		limg_escape_append(p, path, strlen(path), LIMG_ESCAPE_SPACE);
		g_string_append(p, ": ");
	}
	g_set_error(error, LIMG_MANIFEST_ERROR, LIMG_MANIFEST_ERROR_READER,
		    "%s: libarchive: %s%s", image, p->str,
		    msg ? msg : "unknown error");
}

static gboolean read_data(struct archive *a, const char *image,
			  LimgManifestEntry *e, guchar *buf, GError **error)
{
	g_auto(LimgSha256) sum = { 0 };
	guint64 total = 0;

	limg_sha256_begin(&sum);
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, READ_CHUNK);

		if (n < 0) {
			set_archive_error(error, image, a, e->path);
			return FALSE;
		}
		if (n == 0)
			break;
		limg_sha256_update(&sum, buf, n);
		total += (guint64)n;
	}
	e->sha256 = limg_sha256_hex(&sum);
	e->size = total;
	return TRUE;
}

LimgManifest *limg_manifest_from_archive(const char *image,
					 LimgManifestFlags flags,
					 GError **error)
{
	g_autoptr(LimgManifest) m = limg_manifest_new();
	g_autofree guchar *buf = NULL;
	g_autofree guchar *sbuf = NULL;
	Stream stream;
	/* path -> hardlink target path, both normalised */
	g_autoptr(GHashTable) links = g_hash_table_new_full(g_str_hash,
							    g_str_equal,
							    g_free, g_free);
	g_autoptr(GHashTable) by_path = g_hash_table_new(g_str_hash,
							 g_str_equal);
	struct archive_entry *ae;
	struct archive *a;
	GHashTableIter it;
	gpointer k, v;
	int ret;

	if (!limg_manifest_probe_iso(image, error))
		return NULL;

	stream.fd = open(image, O_RDONLY | O_CLOEXEC);
	if (stream.fd < 0) {
		int err = errno;

		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "%s: %s", image, g_strerror(err));
		return NULL;
	}
	stream.buf = sbuf = g_malloc(STREAM_CHUNK);
	a = archive_read_new();
	archive_read_support_format_iso9660(a);
	if (archive_read_open(a, &stream, NULL, stream_read, NULL) !=
	    ARCHIVE_OK) {
		set_archive_error(error, image, a, NULL);
		archive_read_free(a);
		close(stream.fd);
		return NULL;
	}
	buf = g_malloc(READ_CHUNK);

	for (;;) {
		g_autofree char *path = NULL;
		LimgManifestEntry *e;
		const char *raw, *hl, *sl;
		gboolean known;
		LimgEntryType type;

		ret = archive_read_next_header(a, &ae);
		if (ret == ARCHIVE_EOF)
			break;
		if (ret == ARCHIVE_WARN) {
			limg_manifest_add_note(m, "libarchive warning: %s",
					       archive_error_string(a));
		} else if (ret != ARCHIVE_OK) {
			set_archive_error(error, image, a, NULL);
			archive_read_free(a);
			close(stream.fd);
			return NULL;
		}
		raw = archive_entry_pathname(ae);
		if (!raw)
			raw = archive_entry_pathname_utf8(ae);
		if (!raw) {
			/*
			 * No name libarchive can give (one it cannot convert,
			 * in a damaged or hostile image): a difference, not a
			 * path. Its data is skipped by the next header.
			 */
			limg_manifest_add_note(m, "an entry without a usable name: left out");
			continue;
		}
		path = normalise(raw);
		type = type_of(archive_entry_filetype(ae), &known);
		e = limg_manifest_add(m, path, type);
		e->perm = archive_entry_perm(ae) & 07777;
		e->uid = (guint32)archive_entry_uid(ae);
		e->gid = (guint32)archive_entry_gid(ae);
		e->mtime = archive_entry_mtime(ae);
		g_hash_table_insert(by_path, e->path, e);

		hl = archive_entry_hardlink(ae);
		if (hl) {
			g_hash_table_insert(links, g_strdup(path),
					    normalise(hl));
			continue;
		}
		if (!known)
			limg_manifest_add_note(m, "%s: unknown file type 0%o",
					       path,
					       (unsigned)archive_entry_filetype(ae));
		switch (type) {
		case LIMG_ENTRY_REG:
			if (!read_data(a, image, e, buf, error)) {
				archive_read_free(a);
				close(stream.fd);
				return NULL;
			}
			if (e->size != (guint64)archive_entry_size(ae))
				limg_manifest_add_note(m, "%s: header size %jd but %"
						       G_GUINT64_FORMAT " bytes read",
						       path,
						       (intmax_t)archive_entry_size(ae),
						       e->size);
			break;
		case LIMG_ENTRY_SYMLINK:
			sl = archive_entry_symlink(ae);
			e->target = g_strdup(sl ? sl : "");
			break;
		case LIMG_ENTRY_CHR:
		case LIMG_ENTRY_BLK:
			e->rdev_major = archive_entry_rdevmajor(ae);
			e->rdev_minor = archive_entry_rdevminor(ae);
			break;
		default:
			break;
		}
	}
	archive_read_free(a);
	close(stream.fd);

	/* Resolve hard links (targets may chain) into link keys. */
	g_hash_table_iter_init(&it, links);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		LimgManifestEntry *e = g_hash_table_lookup(by_path, k);
		const char *root = v;
		LimgManifestEntry *t;
		int hops = 0;

		while (g_hash_table_contains(links, root) && hops++ < 1000)
			root = g_hash_table_lookup(links, root);
		t = g_hash_table_lookup(by_path, root);
		if (!t) {
			limg_manifest_add_note(m, "%s: hard link to missing %s",
					       (char *)k, root);
			continue;
		}
		/*
		 * A path met twice (a hostile image: "a", "a" linked to it,
		 * another "a") can link to itself: nothing to take, and
		 * copying e's own strings into e would read freed ones.
		 */
		if (t == e)
			continue;
		e->type = t->type;
		e->size = t->size;
		g_free(e->sha256);
		e->sha256 = g_strdup(t->sha256);
		g_free(e->target);
		e->target = g_strdup(t->target);
		e->rdev_major = t->rdev_major;
		e->rdev_minor = t->rdev_minor;
		g_free(e->link_key);
		e->link_key = g_strdup(t->path);
		if (!t->link_key)
			t->link_key = g_strdup(t->path);
	}
	limg_manifest_group_links(m);
	return g_steal_pointer(&m);
}
