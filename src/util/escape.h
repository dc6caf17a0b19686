/*
 * escape.h - the one way names and paths from layers are quoted in
 * messages, reports and manifests.
 *
 * Layer names are arbitrary bytes (no NUL, no '/'): control characters,
 * invalid UTF-8, terminal escape sequences. Anything we print of them is
 * escaped: printable ASCII stays as it is, a backslash and every other
 * byte become \xNN, so the output is one printable line and the original
 * bytes can be recovered.
 *
 * Thread model: reentrant.
 */
#ifndef LIMG_ESCAPE_H
#define LIMG_ESCAPE_H

#include <stddef.h>

#include <glib.h>

typedef enum {
	LIMG_ESCAPE_SPACE = 1 << 0,   /* also escape ' ' (for space-separated fields) */
} LimgEscapeFlags;

/* Append the escaped form of @len bytes at @s to @out. */
void limg_escape_append(GString *out, const char *s, size_t len, LimgEscapeFlags flags);

/* The escaped form of @len bytes at @s, spaces kept. Caller frees. */
char *limg_escape(const char *s, size_t len);

#endif /* LIMG_ESCAPE_H */
