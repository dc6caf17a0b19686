/*
 * names.h - ISO 9660 file identifiers for Rock Ridge images.
 *
 * Real names travel in Rock Ridge NM entries; the ECMA-119 identifiers are
 * placeholders that must only be valid, unique within their directory and
 * sorted as ECMA-119 9.3 requires. We still make them resemble the real
 * name (upper-cased d-characters, extension kept) so a listing without
 * Rock Ridge (isoinfo without -R) stays readable.
 *
 *   files:        NAME.EXT;1   NAME+EXT at most 30 d-characters (7.5.1)
 *   directories:  NAME         at most 31 d-characters (7.6.3)
 *
 * d-characters are A-Z 0-9 _ ; every other byte becomes '_'. A name that
 * collides with an earlier sibling gets "_<n>" before its extension, n
 * counting up from 1; siblings are processed in byte order of their real
 * names, so the result is deterministic.
 *
 * Pure functions; thread-safe.
 */
#ifndef LIMG_NAMES_H
#define LIMG_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 30 characters + '.' + ";1" + NUL, rounded up. */
#define LIMG_ISO_NAME_MAX 36

/*
 * Write the identifier for real name @name/@len into @out (NUL-terminated)
 * and return its length. @suffix 0 gives the plain form; n > 0 gives the
 * n-th collision form. The uniqueness key (identifier without ";1", and
 * "NAME." for directories so that a directory FOO and a file FOO. collide)
 * is written to @key when non-NULL.
 */
size_t limg_iso_name(const char *name, size_t len, bool is_dir, unsigned suffix,
                     char out[LIMG_ISO_NAME_MAX], char key[LIMG_ISO_NAME_MAX]);

/*
 * Compare two identifiers in ECMA-119 9.3 order: name parts padded with
 * spaces, then extensions padded with spaces, then versions descending.
 * Returns <0, 0, >0.
 */
int limg_iso_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* The same, by the letter of 9.3 for any identifiers (slower). */
int limg_iso_name_cmp_full(const char *a, size_t alen, const char *b, size_t blen);

#endif /* LIMG_NAMES_H */
