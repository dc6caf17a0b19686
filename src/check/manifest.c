/*
 * manifest.c - the manifest model: entries, link groups, comparison and
 * printing. See manifest.h for the meaning of each field and quirk.
 *
 * The comparison is a merge of two path-sorted lists. Each difference is
 * one line "PATH: FIELD: expected X, actual Y" with PATH and byte values
 * escaped (\xNN for anything but printable ASCII other than space and
 * backslash), so reports are plain ASCII and one line per difference
 * whatever the names contain.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "check/manifest.h"
#include "util/escape.h"

G_DEFINE_QUARK(limg-manifest-error-quark, limg_manifest_error)

static void xattr_free(gpointer p)
{
	LimgXattr *x = p;

	g_free(x->name);
	g_bytes_unref(x->value);
	g_free(x);
}

static void entry_free(gpointer p)
{
	LimgManifestEntry *e = p;

	g_free(e->path);
	g_free(e->sha256);
	g_free(e->target);
	g_free(e->link_key);
	g_free(e->link_group);
	if (e->xattrs)
		g_ptr_array_unref(e->xattrs);
	g_free(e);
}

LimgManifest *limg_manifest_new(void)
{
	LimgManifest *m = g_new0(LimgManifest, 1);

	m->entries = g_ptr_array_new_with_free_func(entry_free);
	m->notes = g_ptr_array_new_with_free_func(g_free);
	m->dropped = g_ptr_array_new_with_free_func(g_free);
	return m;
}

void limg_manifest_free(LimgManifest *m)
{
	if (!m)
		return;
	g_ptr_array_unref(m->entries);
	g_ptr_array_unref(m->notes);
	g_ptr_array_unref(m->dropped);
	g_free(m);
}

LimgManifestEntry *limg_manifest_add(LimgManifest *m, const char *path,
				     LimgEntryType type)
{
	LimgManifestEntry *e = g_new0(LimgManifestEntry, 1);

	e->path = g_strdup(path);
	e->type = type;
	g_ptr_array_add(m->entries, e);
	return e;
}

void limg_manifest_entry_add_xattr(LimgManifestEntry *e, const char *name,
				   const void *value, gsize len)
{
	LimgXattr *x = g_new0(LimgXattr, 1);

	x->name = g_strdup(name);
	x->value = g_bytes_new(value, len);
	if (!e->xattrs)
		e->xattrs = g_ptr_array_new_with_free_func(xattr_free);
	g_ptr_array_add(e->xattrs, x);
}

void limg_manifest_add_dropped(LimgManifest *m, const char *path)
{
	while (*path == '/')
		path++;
	g_ptr_array_add(m->dropped, g_strdup(*path ? path : "."));
}

void limg_manifest_add_note(LimgManifest *m, const char *fmt, ...)
{
	g_autofree char *raw = NULL;
	GString *note;
	va_list ap;

	va_start(ap, fmt);
	raw = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* Notes quote names: keep them one printable line. */
	note = g_string_new(NULL);
	limg_escape_append(note, raw, strlen(raw), 0);
	g_ptr_array_add(m->notes, g_string_free(note, FALSE));
}

static gint cmp_entry(gconstpointer a, gconstpointer b)
{
	const LimgManifestEntry *ea = *(LimgManifestEntry *const *)a;
	const LimgManifestEntry *eb = *(LimgManifestEntry *const *)b;

	return strcmp(ea->path, eb->path);
}

static gint cmp_xattr(gconstpointer a, gconstpointer b)
{
	const LimgXattr *xa = *(LimgXattr *const *)a;
	const LimgXattr *xb = *(LimgXattr *const *)b;

	return strcmp(xa->name, xb->name);
}

void limg_manifest_sort(LimgManifest *m)
{
	g_ptr_array_sort(m->entries, cmp_entry);
	for (guint i = 0; i < m->entries->len; i++) {
		LimgManifestEntry *e = m->entries->pdata[i];

		if (e->xattrs)
			g_ptr_array_sort(e->xattrs, cmp_xattr);
	}
}

LimgManifestEntry *limg_manifest_lookup(const LimgManifest *m,
					const char *path)
{
	guint lo = 0, hi = m->entries->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		LimgManifestEntry *e = m->entries->pdata[mid];
		int c = strcmp(path, e->path);

		if (c == 0)
			return e;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static gboolean is_whiteout(const LimgManifestEntry *e)
{
	return e->type == LIMG_ENTRY_CHR && e->rdev_major == 0 && e->rdev_minor == 0;
}

void limg_manifest_apply_layer_rule(LimgManifest *m)
{
	static const char prefix[] = "trusted.overlay.";
	gint64 newest = 0;
	gboolean any = FALSE;

	for (guint i = 0; i < m->entries->len; i++) {
		const LimgManifestEntry *e = m->entries->pdata[i];

		if (strcmp(e->path, ".") == 0 || is_whiteout(e))
			continue;
		if (!any || e->mtime > newest)
			newest = e->mtime;
		any = TRUE;
	}
	for (guint i = 0; i < m->entries->len; i++) {
		LimgManifestEntry *e = m->entries->pdata[i];
		gboolean root = strcmp(e->path, ".") == 0;

		if (root || is_whiteout(e)) {
			e->perm = root ? 0755 : 0;
			e->uid = e->gid = 0;
			e->mtime = newest;
			g_clear_pointer(&e->link_key, g_free);
			if (e->xattrs)
				g_ptr_array_set_size(e->xattrs, 0);
			continue;
		}
		for (guint k = 0; e->xattrs && k < e->xattrs->len;) {
			const LimgXattr *x = e->xattrs->pdata[k];

			if (strncmp(x->name, prefix, strlen(prefix)) == 0 &&
			    strcmp(x->name, "trusted.overlay.opaque") != 0)
				g_ptr_array_remove_index(e->xattrs, k);
			else
				k++;
		}
	}
}

void limg_manifest_group_links(LimgManifest *m)
{
	g_autoptr(GHashTable) groups = g_hash_table_new_full(
		g_str_hash, g_str_equal, NULL,
		(GDestroyNotify)g_ptr_array_unref);
	GHashTableIter it;
	gpointer key, val;

	for (guint i = 0; i < m->entries->len; i++) {
		LimgManifestEntry *e = m->entries->pdata[i];
		GPtrArray *members;

		if (!e->link_key)
			continue;
		members = g_hash_table_lookup(groups, e->link_key);
		if (!members) {
			members = g_ptr_array_new();
			g_hash_table_insert(groups, e->link_key, members);
		}
		g_ptr_array_add(members, e);
	}

	g_hash_table_iter_init(&it, groups);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		GPtrArray *members = val;
		const char *smallest;

		if (members->len < 2)
			continue;
		smallest = ((LimgManifestEntry *)members->pdata[0])->path;
		for (guint i = 1; i < members->len; i++) {
			LimgManifestEntry *e = members->pdata[i];

			if (strcmp(e->path, smallest) < 0)
				smallest = e->path;
		}
		for (guint i = 0; i < members->len; i++) {
			LimgManifestEntry *e = members->pdata[i];

			g_free(e->link_group);
			e->link_group = g_strdup(smallest);
		}
	}
	limg_manifest_sort(m);
}

const char *limg_entry_type_name(LimgEntryType type)
{
	switch (type) {
	case LIMG_ENTRY_REG:
		return "reg";
	case LIMG_ENTRY_DIR:
		return "dir";
	case LIMG_ENTRY_SYMLINK:
		return "symlink";
	case LIMG_ENTRY_CHR:
		return "chr";
	case LIMG_ENTRY_BLK:
		return "blk";
	case LIMG_ENTRY_FIFO:
		return "fifo";
	case LIMG_ENTRY_SOCK:
		return "sock";
	}
	return "?";
}

static void escape_str(GString *out, const char *s)
{
	if (!s)
		g_string_append(out, "(none)");
	else
		limg_escape_append(out, s, strlen(s), LIMG_ESCAPE_SPACE);
}

static void escape_bytes(GString *out, GBytes *b)
{
	gsize len;
	const char *p = g_bytes_get_data(b, &len);

	limg_escape_append(out, p, len, LIMG_ESCAPE_SPACE);
}

gboolean limg_manifest_probe_iso(const char *image, GError **error)
{
	char magic[6];
	ssize_t n;
	int fd;

	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "%s: %s", image, g_strerror(err));
		return FALSE;
	}
	/* Block 16 holds the first volume descriptor: type byte, "CD001". */
	n = pread(fd, magic, sizeof(magic), 16 * 2048);
	if (n < 0) {
		int err = errno;

		close(fd);
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
			    "%s: %s", image, g_strerror(err));
		return FALSE;
	}
	close(fd);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic + 1, "CD001", 5) != 0) {
		g_set_error(error, LIMG_MANIFEST_ERROR,
			    LIMG_MANIFEST_ERROR_NOT_ISO,
			    "%s: not an ISO 9660 image", image);
		return FALSE;
	}
	return TRUE;
}

/* ---------------------------------------------------------- comparison */

typedef struct {
	GString *report;
	unsigned count;
} Diff;

static void diff_line(Diff *d, const char *path, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static void diff_line(Diff *d, const char *path, const char *fmt, ...)
{
	va_list ap;

	d->count++;
	if (!d->report)
		return;
	escape_str(d->report, path);
	g_string_append(d->report, ": ");
	va_start(ap, fmt);
	g_string_append_vprintf(d->report, fmt, ap);
	va_end(ap);
	g_string_append_c(d->report, '\n');
}

/* A difference whose values are raw byte strings, escaped. */
static void diff_bytes(Diff *d, const char *path, const char *what,
		       const char *exp, const char *act)
{
	g_autoptr(GString) e = g_string_new(NULL);
	g_autoptr(GString) a = g_string_new(NULL);

	escape_str(e, exp);
	escape_str(a, act);
	diff_line(d, path, "%s: expected %s, actual %s", what, e->str, a->str);
}

/*
 * LIMG_QUIRK_SL_SLASH_DROPPED: @act is @exp with zero or more '/' bytes
 * deleted (and nothing else changed).
 */
static gboolean slash_dropped(const char *exp, const char *act)
{
	if (strlen(exp) <= 200)
		return FALSE;
	while (*exp) {
		if (*exp == *act) {
			exp++;
			act++;
		} else if (*exp == '/') {
			exp++;
		} else {
			return FALSE;
		}
	}
	return *act == '\0';
}

/* LIMG_QUIRK_SL_SLASHES_COLLAPSED: @act is @exp with '/' runs collapsed. */
static gboolean slashes_collapsed(const char *exp, const char *act)
{
	if (!strstr(exp, "//"))
		return FALSE;
	while (*exp) {
		if (*exp == '/' && exp[1] == '/') {
			exp++;
			continue;
		}
		if (*exp++ != *act++)
			return FALSE;
	}
	return *act == '\0';
}

/* May the reader have dropped @e under @quirks? */
static gboolean drop_excused(const LimgManifestEntry *e,
			     LimgReaderQuirks quirks)
{
	return (quirks & LIMG_QUIRK_LONG_SYMLINKS_DROPPED) &&
		e->type == LIMG_ENTRY_SYMLINK && e->target &&
		strlen(e->target) >= 1024;
}

static void compare_xattrs(Diff *d, const LimgManifestEntry *e,
			   const LimgManifestEntry *a)
{
	guint ne = e->xattrs ? e->xattrs->len : 0;
	guint na = a->xattrs ? a->xattrs->len : 0;
	guint i = 0, j = 0;

	while (i < ne || j < na) {
		LimgXattr *xe = i < ne ? e->xattrs->pdata[i] : NULL;
		LimgXattr *xa = j < na ? a->xattrs->pdata[j] : NULL;
		int c = !xe ? 1 : !xa ? -1 : strcmp(xe->name, xa->name);
		g_autoptr(GString) v1 = g_string_new(NULL);
		g_autoptr(GString) v2 = g_string_new(NULL);

		if (c < 0) {
			escape_bytes(v1, xe->value);
			diff_line(d, e->path, "xattr %s: expected \"%s\", actual (none)",
				  xe->name, v1->str);
			i++;
		} else if (c > 0) {
			escape_bytes(v2, xa->value);
			diff_line(d, e->path, "xattr %s: expected (none), actual \"%s\"",
				  xa->name, v2->str);
			j++;
		} else {
			if (!g_bytes_equal(xe->value, xa->value)) {
				escape_bytes(v1, xe->value);
				escape_bytes(v2, xa->value);
				diff_line(d, e->path,
					  "xattr %s: expected \"%s\", actual \"%s\"",
					  xe->name, v1->str, v2->str);
			}
			i++;
			j++;
		}
	}
}

static void compare_entry(Diff *d, const LimgManifestEntry *e,
			  const LimgManifestEntry *a, LimgReaderQuirks quirks,
			  gboolean cmp_xattrs)
{
	const char *p = e->path;
	gboolean same_type = e->type == a->type;

	if (!same_type && e->type == LIMG_ENTRY_SOCK &&
	    a->type == LIMG_ENTRY_REG && a->size == 0 &&
	    (quirks & LIMG_QUIRK_SOCKET_AS_REG)) {
		/* Type-specific fields of a socket: none; nothing to skip. */
	} else if (!same_type) {
		diff_line(d, p, "type: expected %s, actual %s",
			  limg_entry_type_name(e->type),
			  limg_entry_type_name(a->type));
	}

	if (e->perm != a->perm)
		diff_line(d, p, "mode: expected %04o, actual %04o",
			  e->perm, a->perm);
	if (e->uid != a->uid)
		diff_line(d, p, "uid: expected %u, actual %u", e->uid, a->uid);
	if (e->gid != a->gid)
		diff_line(d, p, "gid: expected %u, actual %u", e->gid, a->gid);
	if (e->mtime != a->mtime &&
	    !(e->mtime == -1 && a->mtime == 0 &&
	      (quirks & LIMG_QUIRK_MTIME_MINUS1)))
		diff_line(d, p, "mtime: expected %" G_GINT64_FORMAT
			  ", actual %" G_GINT64_FORMAT, e->mtime, a->mtime);

	if (same_type) {
		switch (e->type) {
		case LIMG_ENTRY_REG:
			if (e->size != a->size)
				diff_line(d, p, "size: expected %" G_GUINT64_FORMAT
					  ", actual %" G_GUINT64_FORMAT,
					  e->size, a->size);
			if (g_strcmp0(e->sha256, a->sha256) != 0)
				diff_line(d, p, "content sha256: expected %s, actual %s",
					  e->sha256 ? e->sha256 : "(none)",
					  a->sha256 ? a->sha256 : "(none)");
			break;
		case LIMG_ENTRY_SYMLINK:
			if (g_strcmp0(e->target, a->target) != 0 &&
			    !(e->target && a->target &&
			      (((quirks & LIMG_QUIRK_SL_SLASH_DROPPED) &&
				slash_dropped(e->target, a->target)) ||
			       ((quirks & LIMG_QUIRK_SL_SLASHES_COLLAPSED) &&
				slashes_collapsed(e->target, a->target)))))
				diff_bytes(d, p, "symlink target", e->target,
					   a->target);
			break;
		case LIMG_ENTRY_CHR:
		case LIMG_ENTRY_BLK:
			if (e->rdev_major != a->rdev_major ||
			    e->rdev_minor != a->rdev_minor)
				diff_line(d, p, "rdev: expected %u:%u, actual %u:%u",
					  e->rdev_major, e->rdev_minor,
					  a->rdev_major, a->rdev_minor);
			break;
		default:
			break;
		}
	}

	if (g_strcmp0(e->link_group, a->link_group) != 0) {
		gboolean invisible = e->link_group && !a->link_group &&
			(quirks & LIMG_QUIRK_LINKS_DATA_ONLY) &&
			!(e->type == LIMG_ENTRY_REG && e->size > 0);

		if (!invisible)
			diff_bytes(d, p, "hard-link group", e->link_group,
				   a->link_group);
	}

	if (cmp_xattrs)
		compare_xattrs(d, e, a);
}

static void report_duplicates(Diff *d, const LimgManifest *m,
			      const char *which)
{
	for (guint i = 1; i < m->entries->len; i++) {
		LimgManifestEntry *prev = m->entries->pdata[i - 1];
		LimgManifestEntry *e = m->entries->pdata[i];

		if (strcmp(prev->path, e->path) == 0)
			diff_line(d, e->path, "path appears more than once in %s",
				  which);
	}
}

unsigned limg_manifest_compare(const LimgManifest *expected,
			       const LimgManifest *actual,
			       LimgReaderQuirks quirks, GString *report)
{
	Diff d = { report, 0 };
	g_autoptr(GHashTable) dropped = NULL;
	guint ne = expected->entries->len, na = actual->entries->len;
	guint i = 0, j = 0;
	gboolean cmp_xattrs = expected->has_xattrs && actual->has_xattrs &&
		!(quirks & LIMG_QUIRK_NO_XATTRS);

	for (guint k = 0; k < actual->notes->len; k++) {
		d.count++;
		if (report)
			g_string_append_printf(report, "(image): reader: %s\n",
					       (char *)actual->notes->pdata[k]);
	}
	report_duplicates(&d, expected, "the source");
	report_duplicates(&d, actual, "the image");

	dropped = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint k = 0; k < actual->dropped->len; k++) {
		const char *p = actual->dropped->pdata[k];

		g_hash_table_add(dropped, (gpointer)p);
		if (!limg_manifest_lookup(expected, p))
			diff_line(&d, p, "the reader refused to load it, and "
				  "it is not in the source");
	}

	while (i < ne || j < na) {
		LimgManifestEntry *e = i < ne ? expected->entries->pdata[i] : NULL;
		LimgManifestEntry *a = j < na ? actual->entries->pdata[j] : NULL;
		int c = !e ? 1 : !a ? -1 : strcmp(e->path, a->path);

		if (c < 0) {
			gboolean excused =
				(strcmp(e->path, ".") == 0 &&
				 (quirks & LIMG_QUIRK_ROOT_OPTIONAL)) ||
				(strcmp(e->path, "rr_moved") == 0 &&
				 e->type == LIMG_ENTRY_DIR &&
				 (quirks & LIMG_QUIRK_RR_MOVED_HIDDEN));

			if (g_hash_table_contains(dropped, e->path)) {
				if (!drop_excused(e, quirks))
					diff_line(&d, e->path, "the reader refused "
						  "to load it (expected %s)",
						  limg_entry_type_name(e->type));
			} else if (!excused) {
				diff_line(&d, e->path, "missing from image (expected %s)",
					  limg_entry_type_name(e->type));
			}
			i++;
		} else if (c > 0) {
			diff_line(&d, a->path, "not in source (image has %s)",
				  limg_entry_type_name(a->type));
			j++;
		} else {
			compare_entry(&d, e, a, quirks, cmp_xattrs);
			i++;
			j++;
		}
	}
	return d.count;
}

/* ------------------------------------------------------------ printing */

void limg_manifest_print(const LimgManifest *m, GString *out)
{
	for (guint i = 0; i < m->entries->len; i++) {
		LimgManifestEntry *e = m->entries->pdata[i];

		escape_str(out, e->path);
		g_string_append_printf(out, " %s mode=%04o uid=%u gid=%u mtime=%"
				       G_GINT64_FORMAT,
				       limg_entry_type_name(e->type), e->perm,
				       e->uid, e->gid, e->mtime);
		switch (e->type) {
		case LIMG_ENTRY_REG:
			g_string_append_printf(out, " size=%" G_GUINT64_FORMAT
					       " sha256=%s", e->size,
					       e->sha256 ? e->sha256 : "(none)");
			break;
		case LIMG_ENTRY_SYMLINK:
			g_string_append(out, " target=");
			escape_str(out, e->target);
			break;
		case LIMG_ENTRY_CHR:
		case LIMG_ENTRY_BLK:
			g_string_append_printf(out, " rdev=%u:%u", e->rdev_major,
					       e->rdev_minor);
			break;
		default:
			break;
		}
		if (e->link_group) {
			g_string_append(out, " link=");
			escape_str(out, e->link_group);
		}
		for (guint k = 0; e->xattrs && k < e->xattrs->len; k++) {
			LimgXattr *x = e->xattrs->pdata[k];

			g_string_append(out, " xattr:");
			escape_str(out, x->name);
			g_string_append_c(out, '=');
			escape_bytes(out, x->value);
		}
		g_string_append_c(out, '\n');
	}
	for (guint k = 0; k < m->dropped->len; k++) {
		g_string_append(out, "# dropped by the reader: ");
		escape_str(out, m->dropped->pdata[k]);
		g_string_append_c(out, '\n');
	}
	for (guint k = 0; k < m->notes->len; k++)
		g_string_append_printf(out, "# note: %s\n",
				       (char *)m->notes->pdata[k]);
}
