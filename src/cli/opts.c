/*
 * opts.c - argument parsing shared by the subcommands; see opts.h.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
