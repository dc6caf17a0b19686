/*
 * opts.c - argument parsing shared by the subcommands; see opts.h.
 */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/opts.h"

int
limg_cli_usage_error(const LimgCliSpec *spec, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "fuse-layerimg %s: %s\n", spec->cmd, msg);
	fprintf(stderr, "Usage: fuse-layerimg %s %s\n", spec->cmd, spec->params);
	fprintf(stderr, "Try 'fuse-layerimg %s --help'.\n", spec->cmd);
	return 2;
}

void
limg_cli_error(const LimgCliSpec *spec, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "fuse-layerimg %s: %s\n", spec->cmd, msg);
}

int
limg_cli_parse(const LimgCliSpec *spec, const GOptionEntry *entries, int *argc, char ***argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GArray) all = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));
	g_autoptr(GError) error = NULL;
	gboolean help = FALSE;
	GOptionEntry help_entry = { "help", 'h', 0, G_OPTION_ARG_NONE, &help,
	                            "Show this help and exit", NULL };

	for (const GOptionEntry *e = entries; e->long_name; e++)
		g_array_append_val(all, *e);
	g_array_append_val(all, help_entry);
	g_option_context_set_help_enabled(ctx, FALSE);
	if (spec->summary)
		g_option_context_set_summary(ctx, spec->summary);
	if (spec->description)
		g_option_context_set_description(ctx, spec->description);
	g_option_context_add_main_entries(ctx, (GOptionEntry *)(void *)all->data, NULL);
	if (!g_option_context_parse(ctx, argc, argv, &error))
		return limg_cli_usage_error(spec, "%s", error->message);
	if (help) {
		g_autofree char *text = g_option_context_get_help(ctx, TRUE, NULL);
		/* Our own usage line: glib's names the program, not the command. */
		const char *body = strstr(text, "\n\n");

		printf("Usage: fuse-layerimg %s %s\n", spec->cmd, spec->params);
		fputs(body ? body + 1 : text, stdout);
		return 0;
	}
	return -1;
}

uint64_t
limg_parse_size(const char *s)
{
	char *end;
	double v = g_ascii_strtod(s, &end);

	if (end == s || !(v > 0) || v > 1e19)
		return 0;
	switch (*end) {
	case 'k': case 'K': v *= 1024.0; end++; break;
	case 'm': case 'M': v *= 1024.0 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': v *= 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end || v >= 18446744073709551615.0)
		return 0;
	return (uint64_t)v;
}

/* @s is a non-empty string of decimal digits, at most 10 of them. */
static gboolean
id_number(const char *s, guint32 *out)
{
	guint64 v;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return FALSE;
	v = g_ascii_strtoull(s, NULL, 10);
	if (v >= G_MAXUINT32)   /* (uid_t)-1 and beyond */
		return FALSE;
	*out = (guint32)v;
	return TRUE;
}

/* The getpw*_r / getgr*_r buffer: what sysconf() suggests, doubled on ERANGE. */
static size_t
id_buffer_size(int name)
{
	long n = sysconf(name);

	return n > 0 && n < 1024 * 1024 ? (size_t)n : 16384;
}

gboolean
limg_parse_uid(const char *s, uid_t *uid, GError **error)
{
	size_t size = id_buffer_size(_SC_GETPW_R_SIZE_MAX);
	guint32 n;

	if (id_number(s, &n)) {
		*uid = (uid_t)n;
		return TRUE;
	}
	if (strspn(s, "0123456789") == strlen(s)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "expected a user name or a uid below 4294967295");
		return FALSE;
	}
	for (;;) {
		g_autofree char *buf = g_malloc(size);
		struct passwd pw, *res = NULL;
		int ret = getpwnam_r(s, &pw, buf, size, &res);

		if (ret == ERANGE && size < 16 * 1024 * 1024) {
			size *= 2;
			continue;
		}
		if (ret != 0) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(ret),
			            "looking the user up failed: %s", g_strerror(ret));
			return FALSE;
		}
		if (!res) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			            "no such user");
			return FALSE;
		}
		*uid = res->pw_uid;
		return TRUE;
	}
}

gboolean
limg_parse_gid(const char *s, gid_t *gid, GError **error)
{
	size_t size = id_buffer_size(_SC_GETGR_R_SIZE_MAX);
	guint32 n;

	if (id_number(s, &n)) {
		*gid = (gid_t)n;
		return TRUE;
	}
	if (strspn(s, "0123456789") == strlen(s)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "expected a group name or a gid below 4294967295");
		return FALSE;
	}
	for (;;) {
		g_autofree char *buf = g_malloc(size);
		struct group gr, *res = NULL;
		int ret = getgrnam_r(s, &gr, buf, size, &res);

		/* Groups with many members need more than sysconf() says. */
		if (ret == ERANGE && size < 16 * 1024 * 1024) {
			size *= 2;
			continue;
		}
		if (ret != 0) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(ret),
			            "looking the group up failed: %s", g_strerror(ret));
			return FALSE;
		}
		if (!res) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			            "no such group");
			return FALSE;
		}
		*gid = res->gr_gid;
		return TRUE;
	}
}

gboolean
limg_parse_image_mode(const char *s, mode_t *mode, GError **error)
{
	guint64 v;

	/* Octal digits only: no sign, no "0x", no symbolic "u+r". */
	if (!*s || strspn(s, "01234567") != strlen(s) || strlen(s) > 8) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "expected octal permission bits like 0440");
		return FALSE;
	}
	v = g_ascii_strtoull(s, NULL, 8);
	if (v > 07777) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "more than 0777: expected permission bits like 0440");
		return FALSE;
	}
	if (v & 07000) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "setuid, setgid and sticky bits are not allowed "
		            "(permission bits only, like 0440)");
		return FALSE;
	}
	if (v & 0222) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		            "write bits are not allowed: images are read-only "
		            "(like 0440)");
		return FALSE;
	}
	*mode = (mode_t)v;
	return TRUE;
}
