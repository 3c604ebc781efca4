/*
 * util/log.h - logging for cairnd and its tools.
 *
 * Messages go to stderr until log_open() is called, then to the configured
 * logfile or syslog.  Levels follow Unbound's verbosity: 0 errors only,
 * 1 operational (VERB_OPS), 2 detailed (VERB_DETAIL), 3 per query
 * (VERB_QUERY), 4 algorithm (VERB_ALGO), 5 client (VERB_CLIENT).
 * Client-caused events are logged at VERB_QUERY or above only.
 * This file does not know DNS, HTTP or sockets.
 */
#ifndef CAIRN_UTIL_LOG_H
#define CAIRN_UTIL_LOG_H

#include <stdarg.h>

enum verbosity {
	VERB_OPS = 1,
	VERB_DETAIL = 2,
	VERB_QUERY = 3,
	VERB_ALGO = 4,
	VERB_CLIENT = 5
};

/* Current verbosity; read on every verbose() call, set by config/-v. */
extern int log_verbosity;

/*
 * Send logs to 'file' (NULL or "" for stderr) or to syslog when
 * use_syslog.  'ident' is the program name.  Returns 0 or -errno
 * (the old destination stays in use on failure).
 */
int log_open(const char *ident, const char *file, int use_syslog);
/* Close the log file or syslog; later messages go to stderr. */
void log_close(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As log_err, with ": strerror(errno)" appended. */
void log_err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void verbose(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when a message at 'level' would be written. */
#define VERBOSE_ON(level) (log_verbosity >= (level))

#endif
