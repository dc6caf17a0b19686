/*
 * test-opts.c - the mount's access options as cli/opts.h reads them:
 * image_mode= takes octal permission bits and refuses what would make an
 * image writable or set-id (and anything that is not octal bits);
 * image_uid= and image_gid= take numbers, or names looked up now, and
 * refuse unknown names and (uid_t)-1.
 */
#include <config.h>

#include <grp.h>
#include <pwd.h>
#include <string.h>

#include <criterion/criterion.h>
#include <glib.h>

#include "cli/opts.h"

/* @s as image_mode=: the mode, or -1 with the message checked for @word. */
static long
mode_of(const char *s, const char *word)
{
	g_autoptr(GError) error = NULL;
	mode_t mode = 07777;

	if (limg_parse_image_mode(s, &mode, &error)) {
		cr_expect_null(error);
		return (long)mode;
	}
	cr_assert_not_null(error, "%s: FALSE without an error", s);
	cr_assert_not_null(word, "%s refused: %s", s, error->message);
	cr_expect(g_error_matches(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE), "%s", s);
	cr_expect(strstr(error->message, word) != NULL, "%s: \"%s\" does not say %s",
	          s, error->message, word);
	cr_expect_eq(mode, 07777, "%s: the mode was written on failure", s);
	return -1;
}

Test(opts, image_mode_takes_read_and_execute_bits)
{
	cr_expect_eq(mode_of("0400", NULL), 0400);
	cr_expect_eq(mode_of("400", NULL), 0400);
	cr_expect_eq(mode_of("0440", NULL), 0440);
	cr_expect_eq(mode_of("0555", NULL), 0555);
	cr_expect_eq(mode_of("0", NULL), 0);
	cr_expect_eq(mode_of("00000444", NULL), 0444);
}

Test(opts, image_mode_refuses_write_bits)
{
	cr_expect_eq(mode_of("0644", "write"), -1);
	cr_expect_eq(mode_of("0600", "write"), -1);
	cr_expect_eq(mode_of("0420", "write"), -1);
	cr_expect_eq(mode_of("0402", "write"), -1);
	cr_expect_eq(mode_of("0777", "write"), -1);
}

Test(opts, image_mode_refuses_setid_and_sticky_bits)
{
	cr_expect_eq(mode_of("4400", "setuid"), -1);
	cr_expect_eq(mode_of("2440", "setgid"), -1);
	cr_expect_eq(mode_of("1444", "sticky"), -1);
	cr_expect_eq(mode_of("7555", "setuid"), -1);
}

Test(opts, image_mode_refuses_what_is_not_octal_bits)
{
	cr_expect_eq(mode_of("10000", "0777"), -1);
	cr_expect_eq(mode_of("077777777", "octal"), -1);
	cr_expect_eq(mode_of("", "octal"), -1);
	cr_expect_eq(mode_of("abc", "octal"), -1);
	cr_expect_eq(mode_of("0448", "octal"), -1);
	cr_expect_eq(mode_of("-400", "octal"), -1);
	cr_expect_eq(mode_of("+400", "octal"), -1);
	cr_expect_eq(mode_of(" 400", "octal"), -1);
	cr_expect_eq(mode_of("400 ", "octal"), -1);
	cr_expect_eq(mode_of("0x100", "octal"), -1);
	cr_expect_eq(mode_of("u+r", "octal"), -1);
}

Test(opts, uid_and_gid_numbers)
{
	g_autoptr(GError) error = NULL;
	uid_t uid = 1;
	gid_t gid = 1;

	cr_expect(limg_parse_uid("0", &uid, &error));
	cr_expect_eq(uid, 0);
	cr_expect(limg_parse_uid("4294967294", &uid, &error));
	cr_expect_eq(uid, 4294967294u);
	cr_expect(limg_parse_gid("107", &gid, &error));
	cr_expect_eq(gid, 107);
	cr_expect_null(error);
	/* (uid_t)-1 means "unchanged" to chown(2); beyond it is no id at all. */
	cr_expect_not(limg_parse_uid("4294967295", &uid, &error));
	cr_expect(g_error_matches(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE));
	g_clear_error(&error);
	cr_expect_not(limg_parse_gid("99999999999", &gid, &error));
	cr_expect(g_error_matches(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE));
	g_clear_error(&error);
	cr_expect_eq(uid, 4294967294u, "a refused value was written");
	cr_expect_eq(gid, 107, "a refused value was written");
}

Test(opts, uid_and_gid_names)
{
	g_autoptr(GError) error = NULL;
	struct passwd *pw = getpwuid(0);
	struct group *gr = getgrgid(0);
	uid_t uid = 1;
	gid_t gid = 1;

	cr_assert_not_null(pw, "uid 0 has no name here");
	cr_assert_not_null(gr, "gid 0 has no name here");
	cr_expect(limg_parse_uid(pw->pw_name, &uid, &error));
	cr_expect_eq(uid, 0);
	cr_expect(limg_parse_gid(gr->gr_name, &gid, &error));
	cr_expect_eq(gid, 0);
	cr_expect_null(error);
	uid = 1;
	gid = 1;
	cr_expect_not(limg_parse_uid("no-such-user-limg", &uid, &error));
	cr_expect(g_error_matches(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE));
	cr_expect(strstr(error->message, "no such user") != NULL, "%s", error->message);
	g_clear_error(&error);
	cr_expect_not(limg_parse_gid("no-such-group-limg", &gid, &error));
	cr_expect(g_error_matches(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE));
	cr_expect(strstr(error->message, "no such group") != NULL, "%s", error->message);
	g_clear_error(&error);
	cr_expect_not(limg_parse_uid("", &uid, &error));
	g_clear_error(&error);
	cr_expect_eq(uid, 1);
	cr_expect_eq(gid, 1);
}
