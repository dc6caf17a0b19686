/*
 * test-names.c - ISO 9660 identifiers (names.h) against ECMA-119 7.5, 7.6
 * and 9.3.
 */
#include <config.h>

#include "iso/names.h"
#include "lib/testlib.h"

static char out[LIMG_ISO_NAME_MAX];
static char key[LIMG_ISO_NAME_MAX];

/* Identifier of @name; also checks the returned length. */
static const char *
file_id(const char *name, unsigned sfx)
{
	size_t n;

	memset(out, 0x7f, sizeof(out));
	memset(key, 0x7f, sizeof(key));
	n = limg_iso_name(name, strlen(name), false, sfx, out, key);
	cr_assert_lt(n, LIMG_ISO_NAME_MAX);
	cr_expect_eq(n, strlen(out), "returned length %zu, string length %zu", n, strlen(out));
	return out;
}

static const char *
dir_id(const char *name, unsigned sfx)
{
	size_t n;

	memset(out, 0x7f, sizeof(out));
	memset(key, 0x7f, sizeof(key));
	n = limg_iso_name(name, strlen(name), true, sfx, out, key);
	cr_assert_lt(n, LIMG_ISO_NAME_MAX);
	cr_expect_eq(n, strlen(out), "returned length %zu, string length %zu", n, strlen(out));
	return out;
}

static bool
is_d_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * 7.5.1 file identifier: d-characters, SEPARATOR 1 '.', d-characters,
 * SEPARATOR 2 ';', version "1"; name + extension at most 30 and not both
 * empty.
 */
static void
expect_valid_file_id(const char *id)
{
	const char *dot = strchr(id, '.');
	const char *semi = strchr(id, ';');

	cr_assert(dot && semi && dot < semi, "%s: no NAME.EXT;VERSION form", id);
	cr_expect_str_eq(semi, ";1", "%s: version", id);
	for (const char *p = id; p < semi; p++)
		if (p != dot)
			cr_expect(is_d_char(*p), "%s: byte 0x%02x is not a d-character", id,
			          (unsigned char)*p);
	cr_expect_leq((size_t)(semi - id) - 1, 30, "%s: name + extension over 30", id);
	cr_expect_gt((size_t)(semi - id) - 1, 0, "%s: empty name and extension", id);
}

/* 7.6.1 directory identifier: d-characters only, 1..31 of them. */
static void
expect_valid_dir_id(const char *id)
{
	size_t n = strlen(id);

	cr_expect(n >= 1 && n <= 31, "%s: %zu characters", id, n);
	for (size_t i = 0; i < n; i++)
		cr_expect(is_d_char(id[i]), "%s: byte 0x%02x is not a d-character", id,
		          (unsigned char)id[i]);
}

/* ------------------------------------------------------------ mapping */

Test(names, lower_case_becomes_upper_case)
{
	cr_expect_str_eq(file_id("readme.txt", 0), "README.TXT;1");
	cr_expect_str_eq(dir_id("usr", 0), "USR");
}

Test(names, d_characters_are_kept)
{
	cr_expect_str_eq(file_id("ABC_019.XYZ", 0), "ABC_019.XYZ;1");
	cr_expect_str_eq(dir_id("A_Z_0_9", 0), "A_Z_0_9");
}

Test(names, other_bytes_become_underscore)
{
	cr_expect_str_eq(file_id("lib-foo+bar.so", 0), "LIB_FOO_BAR.SO;1");
	cr_expect_str_eq(file_id("a b~c", 0), "A_B_C.;1");
	/* UTF-8 "café": each byte of the two-byte é is mapped on its own. */
	cr_expect_str_eq(file_id("caf\xc3\xa9", 0), "CAF__.;1");
	cr_expect_str_eq(dir_id("x86_64-linux-gnu", 0), "X86_64_LINUX_GNU");
	cr_expect_str_eq(dir_id("\x01\xff", 0), "__");
}

Test(names, directory_dots_become_underscore)
{
	/* 7.6.1: a directory identifier has no separator. */
	cr_expect_str_eq(dir_id("python3.11", 0), "PYTHON3_11");
	cr_expect_str_eq(dir_id(".git", 0), "_GIT");
}

/* ------------------------------------------------------------ file form */

Test(names, file_extension_is_after_the_last_dot)
{
	cr_expect_str_eq(file_id("archive.tar.gz", 0), "ARCHIVE_TAR.GZ;1");
}

Test(names, file_without_extension_gets_empty_extension)
{
	cr_expect_str_eq(file_id("Makefile", 0), "MAKEFILE.;1");
	cr_expect_str_eq(key, "MAKEFILE.");
}

Test(names, trailing_dot_gives_empty_extension)
{
	cr_expect_str_eq(file_id("foo.", 0), "FOO.;1");
}

Test(names, leading_dot_name_is_an_extension_only)
{
	cr_expect_str_eq(file_id(".bashrc", 0), ".BASHRC;1");
	cr_expect_str_eq(key, ".BASHRC");
}

Test(names, file_key_is_identifier_without_version)
{
	cr_expect_str_eq(file_id("a.b", 0), "A.B;1");
	cr_expect_str_eq(key, "A.B");
}

Test(names, directory_key_ends_with_dot_to_collide_with_files)
{
	cr_expect_str_eq(dir_id("foo", 0), "FOO");
	cr_expect_str_eq(key, "FOO.");
	file_id("foo", 0);
	cr_expect_str_eq(key, "FOO.", "a file FOO and a directory FOO share a key");
}

Test(names, file_name_and_extension_fit_30_characters)
{
	char name[64];

	memset(name, 'a', 40);
	strcpy(name + 40, ".txt");
	/* 30 - 3 (extension) = 27 name characters. */
	cr_expect_str_eq(file_id(name, 0), "AAAAAAAAAAAAAAAAAAAAAAAAAAA.TXT;1");
	expect_valid_file_id(out);

	memset(name, 'b', 40);
	name[40] = 0;
	cr_expect_str_eq(file_id(name, 0), "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB.;1");
	expect_valid_file_id(out);
}

Test(names, exactly_30_characters_are_kept)
{
	/* 26 + 4 = 30: nothing to cut. */
	cr_expect_str_eq(file_id("abcdefghijklmnopqrstuvwxyz.html", 0),
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ.HTML;1");
}

Test(names, directory_fits_31_characters)
{
	char name[64];

	memset(name, 'd', 50);
	name[50] = 0;
	cr_expect_str_eq(dir_id(name, 0), "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD");
	cr_expect_eq(strlen(out), 31);
	/* 31 exactly: kept whole. */
	name[31] = 0;
	cr_expect_str_eq(dir_id(name, 0), "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD");
}

Test(names, odd_names_give_valid_identifiers)
{
	static const char *const names[] = {
		"...", "..x", ".", "a..", ".a.b.c.d", "x.averyveryveryverylongextension",
		".averyveryveryveryveryveryveryverylongdotfilename",
		"\xff\xfe\xfd.\x80", "a;1", "A.B;2", "name with spaces and ; and .dots.",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		expect_valid_file_id(file_id(names[i], 0));
		expect_valid_file_id(file_id(names[i], 7));
		expect_valid_dir_id(dir_id(names[i], 0));
		expect_valid_dir_id(dir_id(names[i], 123));
	}
}

/* ------------------------------------------------------------ collisions */

Test(names, collision_suffix_goes_before_extension)
{
	cr_expect_str_eq(file_id("foo.txt", 1), "FOO_1.TXT;1");
	cr_expect_str_eq(key, "FOO_1.TXT");
	cr_expect_str_eq(file_id("foo", 2), "FOO_2.;1");
	cr_expect_str_eq(file_id(".bashrc", 3), "_3.BASHRC;1");
	cr_expect_str_eq(dir_id("etc", 12), "ETC_12");
	cr_expect_str_eq(key, "ETC_12.");
}

Test(names, collision_suffix_shortens_long_names)
{
	char name[64];

	memset(name, 'a', 40);
	strcpy(name + 40, ".txt");
	/* 30 - 3 (".TXT" extension) - 3 ("_12") = 24 name characters. */
	cr_expect_str_eq(file_id(name, 12), "AAAAAAAAAAAAAAAAAAAAAAAA_12.TXT;1");
	expect_valid_file_id(out);

	memset(name, 'd', 40);
	name[40] = 0;
	/* 31 - 2 ("_3") = 29. */
	cr_expect_str_eq(dir_id(name, 3), "DDDDDDDDDDDDDDDDDDDDDDDDDDDDD_3");
}

Test(names, suffixes_give_distinct_keys)
{
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	char name[64];

	memset(name, 'q', 45);
	strcpy(name + 45, ".conf");
	for (unsigned s = 0; s < 300; s++) {
		file_id(name, s);
		cr_expect(!g_hash_table_contains(seen, key), "suffix %u repeats key %s", s, key);
		g_hash_table_add(seen, g_strdup(key));
	}
	g_hash_table_destroy(seen);
}

/* ------------------------------------------------------------ 9.3 order */

static int
cmp(const char *a, const char *b)
{
	int r = limg_iso_name_cmp(a, strlen(a), b, strlen(b));

	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

Test(names, cmp_pads_name_with_spaces)
{
	/* "A " < "A_" because 0x20 < 0x5F. */
	cr_expect_eq(cmp("A.;1", "A_.;1"), -1);
	cr_expect_eq(cmp("A_.;1", "A.;1"), 1);
	cr_expect_eq(cmp("A.;1", "AB.;1"), -1);
	cr_expect_eq(cmp("AB.;1", "A_.;1"), -1);
}

Test(names, cmp_directory_identifiers)
{
	cr_expect_eq(cmp("AB", "AB_"), -1);
	cr_expect_eq(cmp("AB_", "AB"), 1);
	cr_expect_eq(cmp("AB", "AC"), -1);
	cr_expect_eq(cmp("B", "AB"), 1);
}

Test(names, cmp_extension_after_name)
{
	cr_expect_eq(cmp("A.;1", "A.B;1"), -1);
	cr_expect_eq(cmp("A.B;1", "A.;1"), 1);
	/* Name part decides before the extension: "A " < "AB". */
	cr_expect_eq(cmp("A.Z;1", "AB.A;1"), -1);
}

Test(names, cmp_pads_extension_with_spaces)
{
	/* "Z " < "Z1" (0x20 < 0x31), though ';' (0x3B) > '1' bytewise. */
	cr_expect_eq(cmp("A.Z;1", "A.Z1;1"), -1);
	cr_expect_eq(cmp("A.Z1;1", "A.Z;1"), 1);
}

Test(names, cmp_versions_descend)
{
	cr_expect_eq(cmp("A.B;2", "A.B;1"), -1);
	cr_expect_eq(cmp("A.B;1", "A.B;2"), 1);
	cr_expect_eq(cmp("A.B;10", "A.B;9"), -1);
}

Test(names, cmp_equal_identifiers)
{
	cr_expect_eq(cmp("A.B;1", "A.B;1"), 0);
	cr_expect_eq(cmp("DIR", "DIR"), 0);
}

Test(names, cmp_is_antisymmetric_and_transitive)
{
	static const char *const ids[] = {
		"A.;1", "A_.;1", "AB.;1", "A.B;1", "A.Z;1", "A.Z1;1", "A0.;1", "_.;1",
		"Z.;1", ".A;1", "A.B;2", "AB", "AB_", "A", "_A.;1", "0.;1",
	};
	size_t n = G_N_ELEMENTS(ids);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			cr_expect_eq(cmp(ids[i], ids[j]), -cmp(ids[j], ids[i]), "%s vs %s", ids[i], ids[j]);
			for (size_t k = 0; k < n; k++)
				if (cmp(ids[i], ids[j]) < 0 && cmp(ids[j], ids[k]) < 0)
					cr_expect_eq(cmp(ids[i], ids[k]), -1, "%s < %s < %s", ids[i], ids[j],
					             ids[k]);
		}
}
