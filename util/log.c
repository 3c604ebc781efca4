/*
 * util/log.c - logging to stderr, a log file or syslog.
 *
 * Each message is formatted into one buffer and written with a single
 * call while a mutex is held, so lines from worker threads never
 * interleave, and log_open/log_close may run while workers log.  A line
 * looks like Unbound's:
 *	[1700000000] cairnd[1234:0] info: message
 * (epoch seconds, ident, pid, a small per-thread number, level).  Syslog
 * gets only the message; it adds time and pid itself.
 *
 * This file does not rate-limit (callers decide what is worth a line)
 * and does not know DNS, HTTP or sockets.
 */
#include <config.h>

#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

int log_verbosity = VERB_OPS;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;		/* NULL: stderr */
static bool log_syslog;
static char log_ident[64];

static int log_next_tid;
static __thread int log_tid = -1;

/* A small number per thread, in order of their first message. */
static int
log_thread_num(void)
{
	if (log_tid < 0)
		log_tid = __atomic_fetch_add(&log_next_tid, 1,
		    __ATOMIC_RELAXED);
	return log_tid;
}

static const char *
log_ident_get(void)
{
	if (log_ident[0])
		return log_ident;
#ifdef _GNU_SOURCE
	return program_invocation_short_name;
#else
	return "cairn";
#endif
}

int
log_open(const char *ident, const char *file, int use_syslog)
{
	FILE *f = NULL;

	if (!use_syslog && file && file[0]) {
		f = fopen(file, "a");
		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	if (log_syslog)
		closelog();
	log_file = f;
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "");
	log_syslog = use_syslog != 0;
	if (log_syslog)
		openlog(log_ident_get(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void
log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	if (log_syslog)
		closelog();
	log_syslog = false;
	pthread_mutex_unlock(&log_lock);
}

/* Format and write one line; 'err' >= 0 appends ": strerror(err)". */
static void
log_vmsg(int prio, const char *level, int err, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unprintable log message)");
	if (err >= 0) {
		size_t len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(err));
	}
	pthread_mutex_lock(&log_lock);
	if (log_syslog)
		syslog(prio, "%s: %s", level, msg);
	else
		fprintf(log_file ? log_file : stderr, "[%lld] %s[%d:%x] %s: "
		    "%s\n", (long long)time(NULL), log_ident_get(),
		    (int)getpid(), log_thread_num(), level, msg);
	pthread_mutex_unlock(&log_lock);
}

void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, "error", -1, fmt, ap);
	va_end(ap);
}

void
log_err_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, "error", e, fmt, ap);
	va_end(ap);
	errno = e;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_WARNING, "warning", -1, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_INFO, "info", -1, fmt, ap);
	va_end(ap);
}

void
verbose(int level, const char *fmt, ...)
{
	va_list ap;

	if (log_verbosity < level)
		return;
	va_start(ap, fmt);
	/* as Unbound: operational messages are notices, the rest debug */
	if (level <= VERB_OPS)
		log_vmsg(LOG_NOTICE, "notice", -1, fmt, ap);
	else if (level == VERB_DETAIL)
		log_vmsg(LOG_INFO, "info", -1, fmt, ap);
	else
		log_vmsg(LOG_DEBUG, "debug", -1, fmt, ap);
	va_end(ap);
}
