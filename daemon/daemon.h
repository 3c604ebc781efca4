/*
 * daemon/daemon.h - the daemon as the control server sees it.
 *
 * The main thread owns struct daemon: the config, the shared resolver
 * state, the workers.  It runs its own event loop for signals and the
 * control server (daemon/remote.c); workers each run theirs.  Functions
 * here are called on the main thread only.
 */
#ifndef CAIRN_DAEMON_DAEMON_H
#define CAIRN_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

struct daemon;
struct config;
struct res_shared;
struct event_base;

/* The config in force (replaced by a reload). */
const struct config *daemon_config(const struct daemon *d);
/* Shared resolver state: cache, local zones (flush, local data). */
struct res_shared *daemon_res_shared(struct daemon *d);
struct event_base *daemon_main_base(struct daemon *d);

/*
 * Write every statistic as "name=value\n" lines (thread%d.*, total.*,
 * time.*, mem.*, num.query.*, ... in Unbound's names) to 'out'; with
 * 'reset' the counters start again from zero afterwards (the way
 * unbound-control stats does).
 */
void daemon_stats_print(struct daemon *d, bool reset, FILE *out);
/* Counters back to zero without printing (flush_stats). */
void daemon_stats_reset(struct daemon *d);

/*
 * Re-read the config file (as SIGHUP does) after the current event
 * returns; keep_cache keeps the message cache.  Returns 0, or -1 if the
 * new file has errors (written to 'err'; the old config stays).
 */
int daemon_reload(struct daemon *d, bool keep_cache, FILE *err);
/*
 * The process has chrooted to 'dir' (cairnd.c, before daemon_start): the
 * file names of the config in force, and of every config a reload reads
 * (the file itself, its includes, keys, logfile), are taken inside it
 * from now on (config_strip_root).  Returns 0, or -1 out of memory.
 */
int daemon_chrooted(struct daemon *d, const char *dir);
/* Stop cleanly after the current event returns. */
void daemon_stop(struct daemon *d);
/* Seconds since start, and uptime text for "status". */
double daemon_uptime(const struct daemon *d);
int daemon_num_threads(const struct daemon *d);
bool daemon_is_running(const struct daemon *d);

#endif
