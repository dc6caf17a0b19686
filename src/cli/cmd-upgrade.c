/*
 * cmd-upgrade.c - `fuse-layerimg upgrade MOUNTPOINT`: hand a running
 * mount over to the binary now on disk, without unmounting (keeper.h).
 *
 * Finds the mount's keeper in MOUNTPOINT/.stats, sends it SIGHUP and
 * waits until .stats shows a new worker serving.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cli/cli.h"
#include "fuse/keeper.h"

#define PROG "fuse-layerimg upgrade"

static const char upgrade_usage[] =
	"Usage: fuse-layerimg upgrade [--timeout SECS] MOUNTPOINT\n"
	"\n"
	"Hand a running mount over to the fuse-layerimg binary now on disk (after\n"
	"a package upgrade) without unmounting it: the mount's keeper starts the\n"
	"new binary as a worker, the old worker serves until the new one does,\n"
	"and open images stay open (running guests see at most a pause). Waits\n"
	"until the new worker serves, then prints its pid.\n"
	"\n"
	"The same as sending SIGHUP to the keeper (MOUNTPOINT/.stats: keeper_pid).\n"
	"A mount made with -o nokeeper cannot be handed over.\n"
	"\n"
	"Options:\n"
	"  --timeout SECS   give up after SECS seconds (default 60); the old\n"
	"                   worker then keeps serving\n"
	"  -h, --help       this help\n"
	"\n"
	"Exit status: 0 handed over, 1 not (the reason on stderr), 2 bad usage.\n";

typedef struct {
	long keeper;
	long worker;
	long start;
} Serving;

static gboolean
read_serving(const char *mnt, Serving *s, GError **error)
{
	g_autofree char *path = g_build_filename(mnt, ".stats", NULL);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;

	s->keeper = s->worker = s->start = -1;
	if (!g_file_get_contents(path, &text, NULL, error))
		return FALSE;
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		long v;

		if (sscanf(*l, "keeper_pid %ld", &v) == 1)
			s->keeper = v;
		else if (sscanf(*l, "worker_pid %ld", &v) == 1)
			s->worker = v;
		else if (sscanf(*l, "worker_start %ld", &v) == 1)
			s->start = v;
	}
	if (s->keeper < 0 || s->worker < 0 || s->start < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		            "%s: not a fuse-layerimg mount with a keeper (no keeper_pid)", path);
		return FALSE;
	}
	return TRUE;
}

int
limg_cmd_upgrade(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	const char *mnt = NULL;
	double timeout = 60;
	Serving was, now;
	gint64 deadline;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(upgrade_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;

			timeout = g_ascii_strtod(argv[++i], &end);
			if (*end || timeout <= 0) {
				fprintf(stderr, PROG ": --timeout %s: expected seconds\n", argv[i]);
				return 2;
			}
		} else if (argv[i][0] == '-' || mnt) {
			fprintf(stderr, PROG ": unexpected argument %s\n\n%s", argv[i], upgrade_usage);
			return 2;
		} else {
			mnt = argv[i];
		}
	}
	if (!mnt) {
		fprintf(stderr, PROG ": expected MOUNTPOINT\n\n%s", upgrade_usage);
		return 2;
	}
	if (!read_serving(mnt, &was, &error)) {
		/* No worker serves (given up): the keeper's pid file. */
		g_autofree char *pid_path = limg_keeper_pid_path(mnt);
		g_autofree char *text = NULL;

		if (!g_file_get_contents(pid_path, &text, NULL, NULL) ||
		    sscanf(text, "%ld", &was.keeper) != 1 || was.keeper <= 1) {
			fprintf(stderr, PROG ": %s\n", error->message);
			return 1;
		}
		fprintf(stderr, PROG ": %s; its keeper %ld (%s) is asked to try again\n",
		        error->message, was.keeper, pid_path);
		was.worker = 0;
		was.start = 0;
	}
	if (was.keeper == 0) {
		fprintf(stderr, PROG ": %s is served without a keeper (-o nokeeper): it can only "
		        "be unmounted and mounted again\n", mnt);
		return 1;
	}
	if (kill((pid_t)was.keeper, SIGHUP) < 0) {
		fprintf(stderr, PROG ": cannot signal the keeper %ld of %s: %s\n", was.keeper, mnt,
		        g_strerror(errno));
		return 1;
	}
	deadline = g_get_monotonic_time() + (gint64)(timeout * G_USEC_PER_SEC);
	while (g_get_monotonic_time() < deadline) {
		g_usleep(50 * 1000);
		g_clear_error(&error);
		if (!read_serving(mnt, &now, &error))
			continue;       /* EIO while no worker serves: wait */
		if (now.start > was.start && now.worker != was.worker) {
			printf("%s: served by worker %ld (start %ld; was worker %ld)\n", mnt, now.worker,
			       now.start, was.worker);
			return 0;
		}
		if (kill((pid_t)was.keeper, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, PROG ": the keeper %ld of %s is gone\n", was.keeper, mnt);
			return 1;
		}
	}
	fprintf(stderr, PROG ": %s: no new worker served within %g s; the old worker %ld keeps "
	        "serving (the keeper's log says why)\n", mnt, timeout, was.worker);
	return 1;
}
