/*
 * log.c - the daemon's log; see log.h.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "util/log.h"

static bool use_syslog;
static bool debug;
static const char *program = "fuse-layerimg";

void
limg_log_set_program(const char *name)
{
	program = name;
}

void
limg_log_use_syslog(bool on)
{
	if (on && !use_syslog)
		openlog("fuse-layerimg", LOG_PID, LOG_DAEMON);
	use_syslog = on;
}

void
limg_log_set_debug(bool on)
{
	debug = on;
}

void
limg_log(LimgLogLevel level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	g_autofree char *msg = NULL;
	va_list ap;

	if (level == LIMG_LOG_DEBUG && !debug)
		return;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (use_syslog)
		syslog(prio[level], "%s", msg);
	else
		fprintf(stderr, "%s: %s: %s\n", program, names[level], msg);
}
