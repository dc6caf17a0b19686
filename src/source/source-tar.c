/*
 * source-tar.c - a layer that is a tar blob (source.h): the one-pass scan
 * that builds its tree. The source object, reading the blob and the spool
 * are in source-tar-open.c (source-tar-internal.h).
 *
 * One pass over the archive (libarchive, tar formats only: ustar, GNU,
 * PAX, with long and PAX names, PAX times to the nanosecond, PAX xattrs
 * SCHILY.xattr.* and LIBARCHIVE.xattr.*) builds the tree through the
 * tree builder (tree/builder.h: later entries win, as extraction does).
 *
 * Where a regular file's bytes are, in the node (never rendered):
 *   dev 1, ino = offset   a plain tar: the member's data is bytes
 *                         [offset, offset + size) of the blob file;
 *   dev 2, ino = offset   the spool: bytes [offset, offset + size) of the
 *                         spool's data (after its header).
 * A compressed blob is decompressed once, here, and every regular file's
 * bytes are written to the spool, packed end to end; a sparse member (of
 * any blob) is written to the spool at a 4 KiB boundary with its holes
 * left as holes. Other nodes get inode numbers from a counter above
 * 2^62, so (dev, ino) are unique in the tree but for hard links, which
 * share their target's.
 *
 * What becomes of entries, as container runtimes extract layers:
 *   - paths are cleaned (builder.h): "./" and empty components dropped,
 *     ".." resolved, never above the root; an absolute path is taken
 *     relative to the root. A path that had to be clamped is kept, with
 *     a warning naming it;
 *   - ".wh.<name>" becomes an overlay whiteout: a character device 0:0
 *     <name>; ".wh..wh..opq" makes its directory opaque (the xattr
 *     trusted.overlay.opaque = "y"); other ".wh..wh.*" names (aufs's own
 *     files) are left out;
 *   - a hard link takes its target's node; a link whose target is not
 *     (yet) in the archive, or is a directory, is left out with a warning;
 *   - an entry under a non-directory is left out with a warning;
 *   - a truncated or damaged archive, a member reaching past the end of
 *     the blob, a compressed blob larger than max_size decompressed, or
 *     a digest mismatch refuse the layer (-EBADMSG / -EFBIG), naming the
 *     blob and the last entry read.
 *
 * The digest of a blob is computed while it is indexed, on a thread of
 * its own reading the blob beside the parser (OpenSSL's SHA-256 uses the
 * CPU's SHA instructions: about 4x glib's here).
 *
 * The blob is read with pread(), never mapped: a blob truncated under us
 * is a short read, not a SIGBUS.
 */
#include <config.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/source-tar-internal.h"
#include "tree/builder.h"
#include "util/escape.h"
#include "util/fdio.h"
#include "util/log.h"

#define OTHER_INO_BASE (1ULL << 62)

#define SPARSE_ALIGN 4096

/* Block sizes handed to libarchive: headers only (plain) or a stream. */
#define READ_PLAIN (64U << 10)
#define READ_STREAM (1U << 20)

LimgTarKind
limg_tar_kind(const uint8_t *head, size_t len)
{
	if (len >= 2 && head[0] == 0x1f && head[1] == 0x8b)
		return LIMG_TAR_GZIP;
	if (len >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd)
		return LIMG_TAR_ZSTD;
	/* xz, bzip2: not layer media types */
	if ((len >= 6 && memcmp(head, "\xfd" "7zXZ\0", 6) == 0) ||
	    (len >= 3 && memcmp(head, "BZh", 3) == 0))
		return LIMG_TAR_UNKNOWN;
	return LIMG_TAR_PLAIN;
}

static const char *
kind_name(LimgTarKind k)
{
	switch (k) {
	case LIMG_TAR_PLAIN: return "tar";
	case LIMG_TAR_GZIP: return "gzip";
	case LIMG_TAR_ZSTD: return "zstd";
	case LIMG_TAR_UNKNOWN: break;
	}
	return "unknown";
}

/* ------------------------------------------------------------ the scan */

/* A name from the archive, printable. Caller frees. */
static char *
esc(const char *name)
{
	return limg_escape(name, strlen(name));
}

typedef struct {
	LimgTarSource *t;
	const LimgScanOptions *opts;
	LimgReport *report;
	uint64_t *skipped;
	LimgTarKind kind;
	struct archive *a;
	LimgTarReader r;
	LimgTreeBuilder *b;
	LimgTarSpool spool;
	uint64_t next_ino;
	char *last;             /* the last entry read, escaped, for messages */
	GPtrArray *opaque;      /* char *: directories made opaque by a marker */
} Scan;

static void
skip_entry(Scan *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
skip_entry(Scan *s, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	limg_report_warn(s->report, "%s: %s", s->t->path, msg);
	if (s->skipped)
		(*s->skipped)++;
}

/* The node of entry @e: everything but where its bytes are. */
static void
entry_proto(Scan *s, struct archive_entry *e, LimgNode *n)
{
	memset(n, 0, sizeof(*n));
	n->mode = (uint32_t)archive_entry_mode(e);
	n->uid = (uint32_t)archive_entry_uid(e);
	n->gid = (uint32_t)archive_entry_gid(e);
	n->nlink = 1;
	n->mtime.sec = archive_entry_mtime(e);
	n->mtime.nsec = archive_entry_mtime_is_set(e) ? (uint32_t)archive_entry_mtime_nsec(e) : 0;
	if (n->mtime.nsec >= 1000000000u)
		n->mtime.nsec = 0;
	n->ctime = n->mtime;
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
		n->rdev_major = (uint32_t)archive_entry_rdevmajor(e);
		n->rdev_minor = (uint32_t)archive_entry_rdevminor(e);
	}
	n->dev = 0;
	n->ino = s->next_ino++;
}

static void
entry_xattrs(Scan *s, struct archive_entry *e, LimgBuilderEntry *be)
{
	const char *name;
	const void *value;
	size_t size;

	if (!s->opts->xattrs || archive_entry_xattr_reset(e) == 0)
		return;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || !*name || strlen(name) > 255 || size > 64 * 1024) {
			limg_report_warn(s->report, "%s: entry '%s': an extended attribute %s; "
			                 "left out", s->t->path, s->last,
			                 !name || !*name ? "without a name" : "too large");
			continue;
		}
		limg_builder_entry_set_xattr(be, name, value, (uint32_t)size);
	}
}

/* Read member data into the spool at @at (sparse: blocks at their offsets). */
static int
copy_data(Scan *s, uint64_t at, uint64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(s->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return -EBADMSG;
		if (off < 0 || (uint64_t)off > size || len > size - (uint64_t)off)
			return -EBADMSG;
		if (len && (r = limg_tar_spool_put(&s->spool, at + (uint64_t)off, buf, len)) < 0)
			return r;
		if (s->kind != LIMG_TAR_PLAIN && (uint64_t)archive_filter_bytes(s->a, 0) > s->t->max_size)
			return -EFBIG;
	}
}

/* A regular file's bytes: where they are, or copied to the spool. */
static int
regular_data(Scan *s, struct archive_entry *e, LimgNode *n)
{
	uint64_t size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0 ?
	                (uint64_t)archive_entry_size(e) : 0;
	bool sparse = archive_entry_sparse_count(e) > 0;
	uint64_t at;
	int ret;

	n->size = size;
	if (size == 0)
		return 0;       /* no bytes anywhere: its own inode (entry_proto) */
	if (s->kind == LIMG_TAR_PLAIN && !sparse) {
		uint64_t pos = (uint64_t)archive_filter_bytes(s->a, -1);

		if (pos > s->r.length || size > s->r.length - pos)
			return -ERANGE;
		n->dev = LIMG_TAR_DEV_BLOB;
		n->ino = s->r.offset + pos;
		return 0;
	}
	/*
	 * The spool is one file: its end must stay an off_t, whatever size a
	 * header says (a sparse member may claim 2^63 bytes of holes).
	 */
	if (size > (uint64_t)INT64_MAX - LIMG_TAR_SPOOL_HEADER - 2 * SPARSE_ALIGN ||
	    s->spool.end > (uint64_t)INT64_MAX - LIMG_TAR_SPOOL_HEADER - 2 * SPARSE_ALIGN - size)
		return -EOVERFLOW;
	if (s->spool.fd < 0 && (ret = limg_tar_spool_create(&s->spool, s->t->spool_dir)) < 0)
		return ret;
	at = s->spool.end;
	if (sparse)
		at = (at + SPARSE_ALIGN - 1) / SPARSE_ALIGN * SPARSE_ALIGN;
	if ((ret = copy_data(s, at, size)) < 0)
		return ret;
	n->dev = LIMG_TAR_DEV_SPOOL;
	n->ino = at;
	s->spool.end = at + size;
	if (sparse)
		s->spool.end = (s->spool.end + SPARSE_ALIGN - 1) / SPARSE_ALIGN * SPARSE_ALIGN;
	return 0;
}

/*
 * ".wh..wh..opq" in @dir: the directory is opaque. Applied once every
 * entry is in (apply_opaque()): the marker may come before its
 * directory's own entry, which would otherwise replace its xattrs.
 */
static void
opaque_dir(Scan *s, const char *dir, size_t len)
{
	if (!limg_tree_builder_dir(s->b, dir, len)) {
		skip_entry(s, "opaque marker '%s' in a non-directory: left out", s->last);
		return;
	}
	g_ptr_array_add(s->opaque, g_strndup(dir, len));
}

static void
apply_opaque(Scan *s)
{
	for (guint i = 0; i < s->opaque->len; i++) {
		const char *dir = s->opaque->pdata[i];
		LimgBuilderEntry *d = limg_tree_builder_find(s->b, dir, strlen(dir));

		/* A later entry may have replaced the directory: then it is gone. */
		if (d && S_ISDIR(limg_builder_entry_node(d)->mode))
			limg_builder_entry_set_xattr(d, "trusted.overlay.opaque", "y", 1);
	}
}

/* aufs keeps its own files in ".wh..wh.*" at the layer's root (moby skips them). */
static bool
in_aufs_meta(const char *path)
{
	return g_str_has_prefix(path, ".wh..wh.") && strcmp(path, ".wh..wh..opq") != 0;
}

static int
put_entry(Scan *s, const char *path, size_t len, const LimgNode *n, const char *target,
          struct archive_entry *e)
{
	LimgBuilderEntry *be;
	int ret = limg_tree_builder_put(s->b, path, len, n, target, target ? strlen(target) : 0,
	                                &be);

	if (ret == -ENOTDIR || ret == -EINVAL) {
		skip_entry(s, "entry '%s': %s: left out", s->last,
		           ret == -ENOTDIR ? "a parent is not a directory" :
		           "not a directory, at the root");
		return 0;
	}
	if (ret < 0)
		return ret;
	if (e)
		entry_xattrs(s, e, be);
	return 0;
}

/* One entry: a node of the tree, or a whiteout, or left out. */
static int
scan_entry(Scan *s, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e);
	const char *hl = archive_entry_hardlink(e);
	g_autofree char *path = NULL;
	const char *base;
	size_t len;
	bool changed = false;
	LimgNode n;
	int ret;

	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	if (!raw) {
		skip_entry(s, "an entry without a usable name (after '%s'): left out",
		           s->last ? s->last : "the start");
		return archive_read_data_skip(s->a) < ARCHIVE_WARN ? -EBADMSG : 0;
	}
	g_free(s->last);
	s->last = esc(raw);
	path = limg_tree_clean_path(raw, strlen(raw), &changed);
	if (!path) {
		g_autofree char *p = esc(raw);

		skip_entry(s, "entry '%s': a name longer than 255 bytes: left out", p);
		return 0;
	}
	if (changed) {
		g_autofree char *p = esc(raw), *q = esc(path);

		limg_report_warn(s->report, "%s: entry '%s' points outside the layer: put at '/%s'",
		                 s->t->path, p, q);
	}
	/* aufs's own files (.wh..wh.plnk/..., .wh..wh.aufs): not the layer's */
	if (in_aufs_meta(path))
		return 0;
	len = strlen(path);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;

	if (g_str_has_prefix(base, ".wh.")) {
		size_t dlen = base > path ? (size_t)(base - path - 1) : 0;

		if (strcmp(base, ".wh..wh..opq") == 0) {
			opaque_dir(s, path, dlen);
			return 0;
		}
		if (!base[4] || g_str_has_prefix(base, ".wh..wh.")) {
			/* names nothing, or aufs's: left out, its directory made */
			if (dlen)
				limg_tree_builder_dir(s->b, path, dlen);
			return 0;
		}
		entry_proto(s, e, &n);
		n.mode = S_IFCHR;
		n.rdev_major = n.rdev_minor = 0;
		n.size = 0;
		/* "<dir>/.wh.<name>" -> "<dir>/<name>" */
		memmove((char *)base, base + 4, strlen(base + 4) + 1);
		return put_entry(s, path, strlen(path), &n, NULL, NULL);
	}

	if (hl) {
		g_autofree char *tp = NULL;
		LimgBuilderEntry *be;
		bool tchanged;

		tp = limg_tree_clean_path(hl, strlen(hl), &tchanged);
		ret = tp ? limg_tree_builder_link(s->b, path, len, tp, strlen(tp), &be) : -ENOENT;
		if (ret == -ENOENT || ret == -EISDIR) {
			g_autofree char *p = esc(raw), *q = esc(hl);

			skip_entry(s, "entry '%s': a hard link to '%s', which is %s: left out", p, q,
			           ret == -EISDIR ? "a directory" : "not in the layer before it");
			return 0;
		}
		if (ret == -ENOTDIR || ret == -EINVAL) {
			g_autofree char *p = esc(raw);

			skip_entry(s, "entry '%s': a parent is not a directory: left out", p);
			return 0;
		}
		return ret;
	}

	entry_proto(s, e, &n);
	switch (n.mode & S_IFMT) {
	case S_IFREG:
		ret = regular_data(s, e, &n);
		if (ret == -ERANGE || ret == -EOVERFLOW) {
			g_autofree char *p = esc(raw);

			limg_report_error(s->report, "%s: entry '%s' (%" G_GINT64_FORMAT " bytes) %s",
			                  s->t->path, p, (gint64)archive_entry_size(e),
			                  ret == -ERANGE ? "reaches past the end of the archive: truncated" :
			                  "is larger than a file can be: refused");
			return ret == -ERANGE ? -EBADMSG : -EFBIG;
		}
		if (ret < 0)
			return ret;
		break;
	case S_IFDIR:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
		break;
	case S_IFLNK: {
		const char *target = archive_entry_symlink(e);

		if (!target)
			target = archive_entry_symlink_utf8(e);
		if (!target || !*target || strlen(target) > PATH_MAX) {
			g_autofree char *p = esc(raw);

			skip_entry(s, "entry '%s': a symlink without a usable target: left out", p);
			return 0;
		}
		n.size = strlen(target);
		return put_entry(s, path, len, &n, target, e);
	}
	default: {
		g_autofree char *p = esc(raw);

		skip_entry(s, "entry '%s': a file of unknown type 0%o: left out", p,
		           n.mode & S_IFMT);
		return 0;
	}
	}
	return put_entry(s, path, len, &n, NULL, e);
}

/* Hard links: nlink is how many names share a (dev, ino). */
typedef struct {
	uint64_t dev, ino;
} DevIno;

static guint
devino_hash(gconstpointer p)
{
	const DevIno *k = p;

	return g_int64_hash(&k->ino) ^ (guint)k->dev;
}

static gboolean
devino_equal(gconstpointer a, gconstpointer b)
{
	const DevIno *x = a, *y = b;

	return x->dev == y->dev && x->ino == y->ino;
}

static void
count_links(LimgTree *tree)
{
	g_autoptr(GHashTable) count = g_hash_table_new_full(devino_hash, devino_equal, g_free, NULL);

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < tree->n_nodes; i++) {
			LimgNode *n = &tree->nodes[i];
			DevIno k = { n->dev, n->ino };
			guint c;

			if (S_ISDIR(n->mode)) {
				n->nlink = 2;
				continue;
			}
			c = GPOINTER_TO_UINT(g_hash_table_lookup(count, &k));
			if (pass == 0)
				g_hash_table_replace(count, g_memdup2(&k, sizeof(k)),
				                     GUINT_TO_POINTER(c + 1));
			else
				n->nlink = c;
		}
	}
}

static int
open_archive(Scan *s)
{
	int r;

	s->a = archive_read_new();
	if (!s->a)
		return -ENOMEM;
	archive_read_support_format_tar(s->a);
	switch (s->kind) {
	case LIMG_TAR_GZIP:
		r = archive_read_support_filter_gzip(s->a);
		break;
	case LIMG_TAR_ZSTD:
		r = archive_read_support_filter_zstd(s->a);
		break;
	default:
		r = ARCHIVE_OK;
		break;
	}
	if (r != ARCHIVE_OK)
		return -ENOTSUP;
	s->r.block = s->kind == LIMG_TAR_PLAIN ? READ_PLAIN : READ_STREAM;
	s->r.buf = g_malloc(s->r.block);
	archive_read_set_callback_data(s->a, &s->r);
	archive_read_set_read_callback(s->a, limg_tar_reader_read);
	if (s->kind == LIMG_TAR_PLAIN)
		archive_read_set_skip_callback(s->a, limg_tar_reader_skip);
	if (archive_read_open1(s->a) != ARCHIVE_OK)
		return -EBADMSG;
	return 0;
}

/* The archive's complaint, for a message. */
static const char *
archive_why(Scan *s)
{
	const char *m = s->a ? archive_error_string(s->a) : NULL;

	return m ? m : "not a tar archive";
}

static int
scan_entries(Scan *s)
{
	struct archive_entry *e;
	int r, ret;

	for (;;) {
		r = archive_read_next_header(s->a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r == ARCHIVE_WARN) {
			const char *name = archive_entry_pathname(e);
			g_autofree char *p = name ? esc(name) : g_strdup("?");

			limg_report_warn(s->report, "%s: entry '%s': %s", s->t->path, p,
			                 archive_why(s));
		} else if (r != ARCHIVE_OK) {
			if (s->r.err)
				return s->r.err;
			if (s->last)
				limg_report_error(s->report, "%s: after entry '%s': %s", s->t->path,
				                  s->last, archive_why(s));
			else
				limg_report_error(s->report, "%s: at the start: %s", s->t->path,
				                  archive_why(s));
			return -EBADMSG;
		}
		if (s->kind != LIMG_TAR_PLAIN &&
		    (uint64_t)archive_filter_bytes(s->a, 0) > s->t->max_size)
			return -EFBIG;
		if ((ret = scan_entry(s, e)) < 0) {
			if (ret == -EBADMSG && s->r.err)
				return s->r.err;
			if (ret == -EBADMSG && !s->report->errors->len)
				limg_report_error(s->report, "%s: entry '%s': %s", s->t->path,
				                  s->last, archive_why(s));
			return ret;
		}
	}
}

int
limg_tar_scan(LimgSource *src, const LimgScanOptions *opts, LimgReport *report,
              LimgTree **out, uint64_t *skipped)
{
	LimgTarSource *t = LIMG_TAR_SOURCE(src);
	static const LimgScanOptions defaults = { .xattrs = true };
	LimgNode root = { .mode = S_IFDIR | 0755, .nlink = 2 };
	LimgNode parent = { .mode = S_IFDIR | 0755, .nlink = 2 };
	Scan s = { .t = t, .opts = opts ? opts : &defaults, .report = report,
	           .skipped = skipped, .next_ino = OTHER_INO_BASE };
	LimgTarHasher h = { .fd = t->fd, .offset = t->offset, .length = t->length };
	GThread *hasher = NULL;
	g_autofree char *spool_path = NULL;
	uint8_t head[8] = { 0 };
	locale_t utf8, old_locale = (locale_t)0;
	LimgTree *tree = NULL;
	int ret;

	*out = NULL;
	if (skipped)
		*skipped = 0;
	s.spool.fd = -1;
	s.r.fd = t->fd;
	s.r.offset = t->offset;
	s.r.length = t->length;
	if (t->length && (ret = limg_pread_full(t->fd, head, MIN(t->length, sizeof(head)),
	                                        (off_t)t->offset)) < 0 && ret != -ENODATA)
		return ret;
	s.kind = limg_tar_kind(head, MIN(t->length, sizeof(head)));
	if (s.kind == LIMG_TAR_UNKNOWN) {
		limg_report_error(report, "%s: compressed, but neither gzip nor zstd", t->path);
		return -EBADMSG;
	}
	if (t->digest)
		hasher = g_thread_new("limg-hash", limg_tar_hash_thread, &h);

	/*
	 * PAX names are UTF-8; libarchive converts them to the locale's
	 * charset, and warns about each non-ASCII one in the C locale. On
	 * this thread, during the scan, the locale is C.UTF-8: names pass as
	 * they are (raw header bytes stay raw bytes either way).
	 */
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8)
		old_locale = uselocale(utf8);
	s.b = limg_tree_builder_new(&root, &parent);
	s.opaque = g_ptr_array_new_with_free_func(g_free);
	ret = open_archive(&s);
	if (ret == 0)
		ret = scan_entries(&s);
	else if (ret == -EBADMSG)
		limg_report_error(report, "%s: %s", t->path, archive_why(&s));
	/* -EFBIG with no error said yet: the decompressed bound (an entry's own says so). */
	if (ret == -EFBIG && !report->errors->len)
		limg_report_error(report, "%s: decompresses to more than %" G_GUINT64_FORMAT
		                  " bytes (the bound set by tar_max= or --tar-max): refused", t->path, t->max_size);
	if (ret == 0) {
		apply_opaque(&s);
		ret = limg_tree_builder_build(s.b, &tree);
	}
	if (ret < 0 && !report->errors->len)
		limg_report_error(report, "%s: %s", t->path, g_strerror(-ret));
	if (ret == 0 && s.spool.fd >= 0)
		ret = limg_tar_spool_finish(t, &s.spool, &spool_path);

	if (hasher) {
		if (ret < 0)
			g_atomic_int_set(&h.stop, 1);
		g_thread_join(hasher);
		if (ret == 0 && h.err) {
			ret = h.err;
			limg_report_error(report, "%s: cannot hash it: %s", t->path, g_strerror(-ret));
		} else if (ret == 0 && strcmp(h.hex, t->digest + 7) != 0) {
			limg_report_error(report, "%s: its digest is sha256:%s, not %s as it is "
			                  "named: refused", t->path, h.hex, t->digest);
			ret = -EBADMSG;
		}
	}
	if (s.a)
		archive_read_free(s.a);
	if (utf8) {
		uselocale(old_locale);
		freelocale(utf8);
	}
	limg_tree_builder_free(s.b);
	g_ptr_array_free(s.opaque, TRUE);
	g_free(s.r.buf);
	g_free(s.last);
	if (ret < 0) {
		if (spool_path)
			unlink(spool_path);
		limg_tar_spool_discard(&s.spool);
		limg_tree_free(tree);
		return ret;
	}
	count_links(tree);
	g_mutex_lock(&t->lock);
	if (t->spool_fd >= 0)
		close(t->spool_fd);
	g_free(t->spool_path);
	t->spool_fd = s.spool.fd;
	t->spooled = spool_path ? LIMG_TAR_SPOOL_HEADER + s.spool.end : 0;
	t->spool_path = g_steal_pointer(&spool_path);
	g_mutex_unlock(&t->lock);
	s.spool.fd = -1;
	limg_tar_spool_discard(&s.spool);
	limg_log(LIMG_LOG_DEBUG, "%s: %s blob, %u entries", t->path, kind_name(s.kind),
	         tree->n_nodes);
	*out = tree;
	return 0;
}
