/*
 * cmd-check.c - `fuse-layerimg check`: does an image hold exactly a tree?
 *
 * Reads IMAGE with an independent reader (libisofs or libarchive, never
 * our own engine), walks DIR, and compares the two manifests under the
 * reader's documented quirks (see src/check/manifest.h, READERS.md).
 * Prints one line per difference and a summary to stdout.
 *
 * Exit status: 0 equal, 1 different or unreadable input, 2 bad usage.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "check/manifest.h"
#include "cli/cli.h"
#include "iso/layout.h"
#include "source/source.h"

#define PROG "fuse-layerimg check"

static const char check_description[] =
	"Compare what an independent reader sees in IMAGE with the directory\n"
	"tree DIR: paths, types, permission bits (with setuid, setgid, sticky),\n"
	"owners, sizes, SHA-256 of contents, symlink targets, device numbers,\n"
	"mtimes, hard-link groups and xattrs. Each difference is printed on\n"
	"its own line, then a summary line.\n"
	"\n"
	"DIR is taken as a layer: what is expected is what the image format\n"
	"makes of it (the root directory 0755, owner 0:0, time T = the newest\n"
	"mtime of any other entry; whiteouts mode 0000, 0:0, time T, never hard\n"
	"links; no trusted.overlay.* xattr but trusted.overlay.opaque). With\n"
	"--as-is, DIR is compared as it is (e.g. against another writer's image).\n"
	"\n"
	"Readers and what they cannot see (those cases are not compared):\n"
	"  libisofs    (default; the library under xorriso) reads Rock Ridge,\n"
	"              AAIP xattrs of all namespaces and hard links of every\n"
	"              type. It treats two links as one inode only when PX\n"
	"              serial numbers, modes, owners, times and xattrs agree.\n"
	"              It drops symlinks whose target has 1024 bytes or more\n"
	"              (\"Error when adding file\") and reads '//' in a target\n"
	"              as '/'.\n"
	"  libarchive  (bsdtar) reads no xattrs, shows sockets as empty\n"
	"              regular files, sees hard links only between regular\n"
	"              files with data, may drop a '/' where a long symlink\n"
	"              target continues in the next SL entry, reads mtime -1\n"
	"              as 0, may not list the root directory, and hides a\n"
	"              top-level directory named rr_moved (not its contents).\n"
	"\n"
	"Exit status: 0 equal, 1 different or IMAGE/DIR unreadable, 2 usage.";

/*
 * The layer's compatibility report (what some target reader will not see
 * in DIR), on stderr as render prints it. It comes from our own walk and
 * layout, which play no part in the comparison.
 */
static void
print_compat(const char *dir, gboolean xattrs)
{
	LimgScanOptions sopts = { .xattrs = xattrs, .threads = 1 };
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(LimgSource) src = NULL;
	LimgLayout *layout = NULL;
	LimgTree *tree = NULL;
	LimgReport report;

	if (limg_dir_source_new(dir, NULL, &src) < 0)
		return;
	limg_report_init(&report);
	if (limg_source_scan(src, &sopts, &report, &tree, NULL) == 0 &&
	    limg_layout_build(tree, NULL, &report, &layout) == 0) {
		limg_report_format_compat(&report, out);
		fputs(out->str, stderr);
		limg_layout_unref(layout);
	}
	limg_report_release(&report);
}

int limg_cmd_check(int argc, char **argv)
{
	g_autofree char *reader = NULL;
	gboolean no_xattrs = FALSE, quiet = FALSE, print = FALSE, help = FALSE, as_is = FALSE;
	GOptionEntry options[] = {
		{ "reader", 'r', 0, G_OPTION_ARG_STRING, &reader,
		  "Read IMAGE with R: libisofs (default) or libarchive", "R" },
		{ "no-xattrs", 0, 0, G_OPTION_ARG_NONE, &no_xattrs,
		  "Do not read or compare extended attributes", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
		  "Print nothing; only the exit status tells", NULL },
		{ "as-is", 0, 0, G_OPTION_ARG_NONE, &as_is,
		  "Compare with DIR as it is, not with what the image format makes of "
		  "a layer (root and whiteout attributes, overlay xattrs)", NULL },
		{ "print", 0, 0, G_OPTION_ARG_NONE, &print,
		  "Print the manifest of IMAGE (or of a directory given in its "
		  "place) and exit", NULL },
		{ "help", 'h', 0, G_OPTION_ARG_NONE, &help,
		  "Show this help and exit", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("IMAGE DIR");
	g_autoptr(GError) error = NULL;
	g_autoptr(LimgManifest) actual = NULL;
	g_autoptr(LimgManifest) expected = NULL;
	g_autoptr(GString) report = NULL;
	LimgManifestFlags flags = 0;
	LimgReaderQuirks quirks;
	gboolean use_archive = FALSE;
	const char *image, *dir = NULL;
	struct stat st;
	unsigned ndiff;

	g_option_context_set_help_enabled(ctx, FALSE);
	g_option_context_set_summary(ctx,
		"Check that an ISO 9660 + Rock Ridge image holds exactly the "
		"tree DIR.\n"
		"  fuse-layerimg check [--reader=R] [--no-xattrs] [--quiet] IMAGE DIR\n"
		"  fuse-layerimg check --print [--reader=R] [--no-xattrs] IMAGE|DIR");
	g_option_context_set_description(ctx, check_description);
	g_option_context_add_main_entries(ctx, options, NULL);

	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, PROG ": %s\n", error->message);
		fprintf(stderr, "Try 'fuse-layerimg check --help'.\n");
		return 2;
	}
	if (help) {
		g_autofree char *text = g_option_context_get_help(ctx, TRUE, NULL);
		/* Our own usage line: glib's names the program, not "check". */
		const char *body = strstr(text, "\n\n");

		fputs("Usage: fuse-layerimg check [OPTION...] IMAGE DIR\n", stdout);
		fputs(body ? body + 1 : text, stdout);
		return 0;
	}
	if (print ? (argc < 2 || argc > 3) : argc != 3) {
		fprintf(stderr, PROG ": %s\n",
			argc < 2 ? "missing IMAGE and DIR" :
			argc < 3 ? "missing DIR" : "too many arguments");
		fprintf(stderr, "Usage: fuse-layerimg check [--reader=libisofs|libarchive] "
			"[--no-xattrs] [--quiet] IMAGE DIR\n"
			"Try 'fuse-layerimg check --help'.\n");
		return 2;
	}
	image = argv[1];
	if (!print)
		dir = argv[2];

	if (!reader || strcmp(reader, "libisofs") == 0) {
		quirks = LIMG_QUIRKS_LIBISOFS;
	} else if (strcmp(reader, "libarchive") == 0) {
		quirks = LIMG_QUIRKS_LIBARCHIVE;
		use_archive = TRUE;
		no_xattrs = TRUE;
	} else {
		fprintf(stderr, PROG ": unknown reader '%s' "
			"(use libisofs or libarchive)\n", reader);
		return 2;
	}
	if (!no_xattrs)
		flags |= LIMG_MANIFEST_XATTRS;
	if (!as_is)
		flags |= LIMG_MANIFEST_LAYER;

	if (print && g_file_test(image, G_FILE_TEST_IS_DIR)) {
		/* --print of a directory: the expected side, for diffing. */
		g_autoptr(GString) out = g_string_new(NULL);

		expected = limg_manifest_from_dir(image, flags, &error);
		if (!expected) {
			fprintf(stderr, PROG ": %s\n", error->message);
			return 1;
		}
		limg_manifest_print(expected, out);
		fwrite(out->str, 1, out->len, stdout);
		return 0;
	}
	if (!limg_manifest_probe_iso(image, &error)) {
		fprintf(stderr, PROG ": %s\n", error->message);
		return 1;
	}
	if (use_archive)
		actual = limg_manifest_from_archive(image, flags, &error);
	else
		actual = limg_manifest_from_isofs(image, flags, &error);
	limg_manifest_readers_finish();
	if (!actual) {
		fprintf(stderr, PROG ": %s\n", error->message);
		return 1;
	}
	if (print) {
		g_autoptr(GString) out = g_string_new(NULL);

		limg_manifest_print(actual, out);
		fwrite(out->str, 1, out->len, stdout);
		return actual->notes->len ? 1 : 0;
	}

	expected = limg_manifest_from_dir(dir, flags, &error);
	if (!expected) {
		fprintf(stderr, PROG ": %s\n", error->message);
		return 1;
	}

	report = g_string_new(NULL);
	ndiff = limg_manifest_compare(expected, actual, quirks, report);

	/* Image-level sanity: the volume must fit in the file. */
	if (actual->image_blocks && stat(image, &st) == 0 &&
	    (guint64)st.st_size < actual->image_blocks * 2048) {
		ndiff++;
		g_string_append_printf(report, "(image): volume space size %"
				       G_GUINT64_FORMAT " blocks, but the file "
				       "has only %jd bytes\n",
				       actual->image_blocks,
				       (intmax_t)st.st_size);
	}

	if (!quiet)
		print_compat(dir, !no_xattrs);
	if (!quiet) {
		fwrite(report->str, 1, report->len, stdout);
		if (ndiff == 0)
			printf("%s: equal to %s (%u entries, reader %s)\n",
			       image, dir, expected->entries->len,
			       reader ? reader : "libisofs");
		else
			printf("%s: %u difference%s from %s (reader %s)\n",
			       image, ndiff, ndiff == 1 ? "" : "s", dir,
			       reader ? reader : "libisofs");
	}
	return ndiff ? 1 : 0;
}
