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
#include <sys/types.h>

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

/*
 * A user or group of the mount's -o image_uid= / image_gid=: all digits
 * is a number (not (uid_t)-1, which chown(2) reads as "unchanged"),
 * anything else a name looked up now (getpwnam_r / getgrnam_r). FALSE
 * with @error (G_OPTION_ERROR_BAD_VALUE) for a bad number or an unknown
 * name, or G_FILE_ERROR for a failed lookup; the message does not name the
 * option.
 */
gboolean limg_parse_uid(const char *s, uid_t *uid, GError **error);
gboolean limg_parse_gid(const char *s, gid_t *gid, GError **error);

/*
 * The mount's -o image_mode=: octal permission bits ("0440", "440"), at
 * most 0777, with no write bit (images are read-only) and no setuid,
 * setgid or sticky bit. FALSE with @error (G_OPTION_ERROR_BAD_VALUE)
 * saying which rule it breaks; the message does not name the option.
 */
gboolean limg_parse_image_mode(const char *s, mode_t *mode, GError **error);

#endif /* LIMG_CLI_OPTS_H */
