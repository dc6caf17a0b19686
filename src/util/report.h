/*
 * report.h - what a layout had to say about a layer.
 *
 * Two kinds of findings:
 *  - messages: warnings (an entry was skipped, and why) and errors (the
 *    image is refused), each naming the entry's path;
 *  - compatibility notes: things a particular target reader will not see
 *    or will see differently (READERS.md), counted per kind with the first
 *    path as an example, so `render` and `check` can print a short
 *    per-layer compatibility report.
 *
 * Thread model: one report per layout build; caller serialises.
 */
#ifndef LIMG_REPORT_H
#define LIMG_REPORT_H

#include <stdint.h>

#include <glib.h>

typedef enum {
	LIMG_COMPAT_BIG_FILE,      /* >= 4 GiB: multi-extent */
	LIMG_COMPAT_LONG_NAME,     /* >= 254 bytes */
	LIMG_COMPAT_TIME_32BIT,    /* outside 1901-12-13 .. 2038-01-19 */
	LIMG_COMPAT_TIME_CLAMPED,  /* outside 1900 .. 2155: 7-byte form clamps */
	LIMG_COMPAT_DEV_WIDE,      /* major or minor >= 256 */
	LIMG_COMPAT_XATTR,         /* extended attributes (AAIP) */
	LIMG_COMPAT_SOCKET,
	LIMG_COMPAT_SPECIAL_LINK,  /* hard link between non-regular or empty files */
	LIMG_COMPAT_MANY_DIRS,     /* > 65535 directories: path table parent overflow */
	LIMG_COMPAT_LONG_TARGET,   /* symlink target of 1024 bytes or more */
	LIMG_COMPAT_N
} LimgCompat;

typedef struct {
	GPtrArray *warnings;       /* char *, one line each */
	GPtrArray *errors;         /* char *, one line each */
	uint64_t compat_count[LIMG_COMPAT_N];
	char *compat_example[LIMG_COMPAT_N];
} LimgReport;

void limg_report_init(LimgReport *r);
void limg_report_release(LimgReport *r);

void limg_report_warn(LimgReport *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void limg_report_error(LimgReport *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Count one finding; @path (borrowed) is kept if it is the first. */
void limg_report_compat(LimgReport *r, LimgCompat what, const char *path);

/* Append the compatibility report, one line per reader-visible issue. */
void limg_report_format_compat(const LimgReport *r, GString *out);

#endif /* LIMG_REPORT_H */
