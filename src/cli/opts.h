/*
 * opts.h - the one way subcommands (render, check, stack) parse their
 * arguments: GOption, with our usage line, our --help and our errors;
 * and the one way any command (the mount's -o options too) reads a size.
 *
 * Thread model: single-threaded (the command line).
 */
#ifndef LIMG_CLI_OPTS_H
#define LIMG_CLI_OPTS_H

#include <stdint.h>

#include <glib.h>

typedef struct {
	const char *cmd;          /* "render" */
	const char *params;       /* "[OPTION...] DIR" */
	const char *summary;      /* shown between the usage line and the options */
	const char *description;  /* shown after the options */
} LimgCliSpec;

/*
 * Parse @argc/@argv (argv[0] is the subcommand) against @entries, which
 * must not hold -h/--help (added here). On return @argv holds the
 * positional arguments (argv[0] still the subcommand).
 * Returns -1 to go on, or the exit status to return now: 0 after --help
 * (on stdout), 2 after a usage error (on stderr, with a hint).
 */
int limg_cli_parse(const LimgCliSpec *spec, const GOptionEntry *entries, int *argc, char ***argv);

/* Print "fuse-layerimg CMD: MESSAGE" and the --help hint on stderr; returns 2. */
int limg_cli_usage_error(const LimgCliSpec *spec, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Print "fuse-layerimg CMD: MESSAGE" on stderr. */
void limg_cli_error(const LimgCliSpec *spec, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/*
 * A size: "256M", "8G", "1.5T", "4096" (bytes); K, M, G, T are powers of
 * 1024, optionally followed by "i" and/or "B". 0 for a bad or zero value.
 */
uint64_t limg_parse_size(const char *s);

#endif /* LIMG_CLI_OPTS_H */
