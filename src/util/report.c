/*
 * report.c - layout findings and the compatibility report; see report.h.
 */
#include <config.h>

#include <stdarg.h>
#include <string.h>

#include "util/escape.h"
#include "util/report.h"

/* Which reader is affected and how, for each compatibility finding. */
static const struct {
	const char *readers;
	const char *what;
} compat_text[LIMG_COMPAT_N] = {
	[LIMG_COMPAT_BIG_FILE] = { "NetBSD cd9660 (Rumprun)",
		"file(s) of 4 GiB or more, stored as multi-extent files, are not readable" },
	[LIMG_COMPAT_LONG_NAME] = { "Linux isofs",
		"name(s) of 254 bytes or more are cut short" },
	[LIMG_COMPAT_TIME_32BIT] = { "Linux isofs",
		"time(s) outside 1901-12-13..2038-01-19 read back wrong (32-bit)" },
	[LIMG_COMPAT_TIME_CLAMPED] = { "all readers",
		"time(s) outside 1900..2155 were clamped (7-byte time form)" },
	[LIMG_COMPAT_DEV_WIDE] = { "Linux isofs",
		"device number(s) with major or minor >= 256 are misread" },
	[LIMG_COMPAT_XATTR] = { "Linux isofs, libarchive",
		"extended attribute(s) are not visible (only libisofs reads AAIP)" },
	[LIMG_COMPAT_SOCKET] = { "libarchive (bsdtar)",
		"socket(s) are extracted as regular files" },
	[LIMG_COMPAT_SPECIAL_LINK] = { "Linux isofs, libarchive",
		"hard link(s) between non-regular or empty files show as separate files" },
	[LIMG_COMPAT_LONG_TARGET] = { "libisofs (xorriso)",
		"symlink target(s) of 1024 bytes or more: libisofs refuses to load such an image "
		"unless told to skip them (xorriso -error_behavior image_loading best_effort)" },
	[LIMG_COMPAT_MANY_DIRS] = { "path-table readers",
		"more than 65535 directories: path table parent numbers saturate" },
};

void
limg_report_init(LimgReport *r)
{
	memset(r, 0, sizeof(*r));
	r->warnings = g_ptr_array_new_with_free_func(g_free);
	r->errors = g_ptr_array_new_with_free_func(g_free);
}

void
limg_report_release(LimgReport *r)
{
	if (r->warnings)
		g_ptr_array_free(r->warnings, TRUE);
	if (r->errors)
		g_ptr_array_free(r->errors, TRUE);
	for (int i = 0; i < LIMG_COMPAT_N; i++)
		g_free(r->compat_example[i]);
	memset(r, 0, sizeof(*r));
}

void
limg_report_warn(LimgReport *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(r->warnings, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

void
limg_report_error(LimgReport *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(r->errors, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

void
limg_report_compat(LimgReport *r, LimgCompat what, const char *path)
{
	g_return_if_fail(what < LIMG_COMPAT_N);
	if (r->compat_count[what]++ == 0)
		r->compat_example[what] = limg_escape(path, strlen(path));
}

void
limg_report_format_compat(const LimgReport *r, GString *out)
{
	gboolean any = FALSE;

	for (int i = 0; i < LIMG_COMPAT_N; i++) {
		if (!r->compat_count[i])
			continue;
		any = TRUE;
		g_string_append_printf(out, "compat: %s: %" G_GUINT64_FORMAT " %s (first: /%s)\n",
		                       compat_text[i].readers, r->compat_count[i],
		                       compat_text[i].what, r->compat_example[i]);
	}
	if (!any)
		g_string_append(out, "compat: every target reader (Linux isofs, NetBSD cd9660, "
		                     "libarchive, libisofs) sees this layer completely\n");
}
