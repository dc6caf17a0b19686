/*
 * log.h - the daemon's log: standard error in the foreground, syslog
 * (daemon facility) once daemonized. Used by the mount, never by the
 * engine (which reports through return codes and LimgReport).
 *
 * Thread model: thread-safe.
 */
#ifndef LIMG_LOG_H
#define LIMG_LOG_H

#include <stdbool.h>

#include <glib.h>

typedef enum { LIMG_LOG_ERR, LIMG_LOG_WARN, LIMG_LOG_INFO, LIMG_LOG_DEBUG } LimgLogLevel;

/* The name messages start with on stderr (default "fuse-layerimg"). */
void limg_log_set_program(const char *name);

/* Switch to syslog (after daemonizing). */
void limg_log_use_syslog(bool on);
void limg_log_set_debug(bool on);
void limg_log(LimgLogLevel level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#endif /* LIMG_LOG_H */
