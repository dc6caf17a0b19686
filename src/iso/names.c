/*
 * names.c - ISO 9660 identifiers; see names.h.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "iso/names.h"

#define FILE_ID_MAX 30  /* 7.5.1: name + extension, levels 2 and 3 */
#define DIR_ID_MAX  31  /* 7.6.3 */
#define EXT_MAX     8   /* our choice: keeps room for the name part */

static char
d_char(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return (char)(c - 'a' + 'A');
	if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
		return (char)c;
	return '_';
}

static size_t
map_chars(char *out, const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = d_char((unsigned char)in[i]);
	return len;
}

size_t
limg_iso_name(const char *name, size_t len, bool is_dir, unsigned suffix,
              char out[LIMG_ISO_NAME_MAX], char key[LIMG_ISO_NAME_MAX])
{
	char sfx[16] = "";
	size_t sfx_len = 0, base_len, ext_len = 0, n = 0;
	const char *ext = NULL;

	if (suffix)
		sfx_len = (size_t)snprintf(sfx, sizeof(sfx), "_%u", suffix);

	if (is_dir) {
		base_len = len;
		if (base_len + sfx_len > DIR_ID_MAX)
			base_len = DIR_ID_MAX - sfx_len;
		n = map_chars(out, name, base_len);
		memcpy(out + n, sfx, sfx_len);
		n += sfx_len;
		out[n] = 0;
		if (key) {
			memcpy(key, out, n);
			key[n] = '.';
			key[n + 1] = 0;
		}
		return n;
	}

	/* Split at the last dot; a leading dot leaves an empty name part. */
	for (size_t i = len; i > 0; i--) {
		if (name[i - 1] == '.') {
			ext = name + i;
			ext_len = len - i;
			len = i - 1;
			break;
		}
	}
	if (ext_len > EXT_MAX)
		ext_len = EXT_MAX;
	base_len = len;
	if (base_len + sfx_len + ext_len > FILE_ID_MAX)
		base_len = FILE_ID_MAX - sfx_len - ext_len;
	n = map_chars(out, name, base_len);
	memcpy(out + n, sfx, sfx_len);
	n += sfx_len;
	if (n == 0 && ext_len == 0)
		out[n++] = '_';  /* 7.5.1: name or extension must be non-empty */
	out[n++] = '.';
	n += map_chars(out + n, ext ? ext : "", ext_len);
	if (key) {
		memcpy(key, out, n);
		key[n] = 0;
	}
	out[n++] = ';';
	out[n++] = '1';
	out[n] = 0;
	return n;
}

/* Split an identifier into name, extension and version parts. */
static void
split_id(const char *s, size_t len, size_t *name_len, const char **ext,
         size_t *ext_len, unsigned *version)
{
	size_t i = 0, j;

	while (i < len && s[i] != '.' && s[i] != ';')
		i++;
	*name_len = i;
	*ext = s + i;
	*ext_len = 0;
	*version = 0;
	if (i < len && s[i] == '.') {
		j = ++i;
		while (j < len && s[j] != ';')
			j++;
		*ext = s + i;
		*ext_len = j - i;
		i = j;
	}
	if (i < len && s[i] == ';') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			*version = *version * 10 + (unsigned)(s[i] - '0');
	}
}

/* Compare as if the shorter string were padded with spaces (9.3 b, c). */
static int
cmp_padded(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen > blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		unsigned char ca = i < alen ? (unsigned char)a[i] : ' ';
		unsigned char cb = i < blen ? (unsigned char)b[i] : ' ';

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return 0;
}

/*
 * The same order, fast, for identifiers this module made: their name and
 * extension parts hold only d-characters (all above a space), so padding
 * with spaces orders like ending the part early. Map '.' to 0x01 and end
 * at ';' (every version is 1), then compare bytes.
 */
int
limg_iso_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0;

	for (;; i++) {
		int ca = i < alen && a[i] != ';' ? (a[i] == '.' ? 1 : (unsigned char)a[i]) : 0;
		int cb = i < blen && b[i] != ';' ? (b[i] == '.' ? 1 : (unsigned char)b[i]) : 0;

		if (ca != cb || ca == 0) {
			if (ca != cb)
				return ca < cb ? -1 : 1;
			break;
		}
	}
	return limg_iso_name_cmp_full(a, alen, b, blen);
}

int
limg_iso_name_cmp_full(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t an, bn, ae, be;
	const char *ax, *bx;
	unsigned av, bv;
	int r;

	split_id(a, alen, &an, &ax, &ae, &av);
	split_id(b, blen, &bn, &bx, &be, &bv);
	r = cmp_padded(a, an, b, bn);
	if (r)
		return r;
	r = cmp_padded(ax, ae, bx, be);
	if (r)
		return r;
	/* 9.3 d: higher version numbers first. */
	if (av != bv)
		return av > bv ? -1 : 1;
	return 0;
}
