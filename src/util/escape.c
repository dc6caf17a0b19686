/*
 * escape.c - quoting of raw names; see escape.h.
 */
#include <config.h>

#include <stdbool.h>

#include "util/escape.h"

void
limg_escape_append(GString *out, const char *s, size_t len, LimgEscapeFlags flags)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = c > 0x20 && c < 0x7f && c != '\\';

		if (plain || (c == ' ' && !(flags & LIMG_ESCAPE_SPACE)))
			g_string_append_c(out, (char)c);
		else
			g_string_append_printf(out, "\\x%02x", c);
	}
}

char *
limg_escape(const char *s, size_t len)
{
	GString *g = g_string_sized_new(len + 8);

	limg_escape_append(g, s, len, 0);
	return g_string_free(g, FALSE);
}
