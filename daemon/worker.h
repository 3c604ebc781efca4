/*
 * daemon/worker.h - worker threads and the daemon's private state.
 *
 * A worker is one thread with its own event_base, comm_base (listeners
 * and connections), resolver, module_env and counters.  The main thread
 * builds a worker completely (worker_new), then starts its thread
 * (worker_start), which only runs the event loop; it stops it with
 * worker_stop (thread-safe wake-up, then join) and frees it on the main
 * thread (worker_free).  Between start and stop the main thread touches
 * nothing of the worker but its counters (atomic loads) and
 * worker_poll.
 *
 * struct daemon is defined here for the daemon/ files only; the control
 * server sees it through daemon/daemon.h.  This file does not parse DNS or
 * HTTP and opens no sockets itself (comm_ports_open does).
 */
#ifndef CAIRN_DAEMON_WORKER_H
#define CAIRN_DAEMON_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>

#include "comm/comm.h"
#include "module/module.h"
#include "util/netblock.h"
#include "util/stats.h"

struct event;
struct event_base;
struct config;
struct res_shared;
struct resolver;
struct daemon;
struct remote;

struct worker {
	int index;
	struct daemon *daemon;
	pthread_t thread;
	bool started;			/* thread created, not joined */
	struct event_base *base;
	struct comm_base *comm;
	struct resolver *res;
	struct comm_port *ports;	/* borrowed from the daemon */
	struct module_env env;
	struct stats stats;		/* written by this worker only */
	struct event *stop_ev;		/* made active by worker_stop */
	struct event *poll_ev;		/* made active by worker_poll */

	/* worker_poll: the main thread asks, the worker answers */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned poll_asked, poll_done;
	bool poll_reset_max;
	uint64_t gauge_pending;		/* res_pending at the last poll */
	uint64_t gauge_tcp;		/* comm_base_conn_count likewise */
};

/* Number of listening-port kinds (enum comm_port_kind). */
#define DAEMON_PORT_KINDS (COMM_PORT_HTTP + 1)

struct daemon {
	/* from the command line, applied again at every reload */
	char *cfgfile;		/* absolute path, NULL = built-in default */
	int cmd_port;		/* -p, 0 if not given */
	int cmd_verbose;	/* number of -v */
	int debug;		/* number of -d */

	struct config *cfg;	/* in force */
	/* the resolver's shared state and the config it was built from
	 * (kept alive with it: it may point into that config) */
	struct res_shared *sh;
	struct config *sh_cfg;
	struct netblock_set acl;	/* access-control */
	struct netblock_set tcl;	/* tcp-connection-limit */
	struct doh_shared *doh;		/* NULL without DoH */
	SSL_CTX *tls;			/* NULL when no TLS/HTTPS port */
	/* listening ports: one list per worker with so-reuseport, else one
	 * list shared by all workers */
	struct comm_port **ports;
	int nports;
	/* how each stream port kind is served; must outlive the workers */
	struct comm_stream_spec spec[DAEMON_PORT_KINDS];

	struct event_base *base;	/* main thread: signals, control */
	struct remote *remote;		/* the control server */
	struct event *sig_ev[4];	/* TERM, INT, HUP, QUIT */
	struct event *reload_ev;	/* runs a scheduled reload */
	struct config *pending_cfg;	/* checked config waiting for it */
	bool pending_keep_cache;

	struct worker **workers;
	int nworkers;
	struct stats *baseline;		/* per worker, main thread only */
	struct timeval start_time;
	struct timeval reset_time;	/* last stats reset */
	bool running;			/* main loop runs, not stopping */
	int exit_code;			/* daemon_run's result */
};

/*
 * Build worker 'index' of 'd' on 'ports' (borrowed): event base,
 * resolver, comm base and a listener per port.  Returns NULL with the
 * reason logged.
 */
struct worker *worker_new(struct daemon *d, int index,
    struct comm_port *ports);
/* Start the thread (signals blocked in it). Returns 0 or -errno. */
int worker_start(struct worker *w);
/* Wake the loop up to leave, and join.  No-op if not started. */
void worker_stop(struct worker *w);
/* Free a stopped (or never started) worker: connections are closed
 * (modules cancel their requests), then the resolver, then the loop. */
void worker_free(struct worker *w);
/*
 * Ask each running worker to publish its gauges (requests pending, TCP
 * connections) and, with reset_max, to zero its requestlist.max; wait
 * up to a second in all.  Workers that do not answer in time keep the
 * gauges of their last answer.
 */
void worker_poll(struct worker **w, int n, bool reset_max);
/*
 * batch-wait-usec's rule (worker.c): is a worker busy, so that it
 * sleeps 'wait' usec after this pass?  'took': usec from the end of the
 * last pass (or of the sleep after it) to the end of this one; 'cpu':
 * the thread's CPU time over that span; 'slept': a sleep came before
 * this pass.  Busy when the pass ended sooner than 'wait' after the
 * last, or, after a sleep, when its time off the CPU (what it waited
 * for its work) was less than 'wait'.
 */
bool worker_batch_busy(uint64_t took, uint64_t cpu, uint64_t wait,
    bool slept);

/*
 * The daemon's life, for cairnd.c (daemon/daemon.c).  In order:
 * daemon_new, daemon_prepare (config, ports, TLS, shared state: all
 * before a fork, so errors reach stderr), daemon_start (after the fork:
 * event loops, signals, workers), daemon_run (until a stop), then
 * daemon_free.
 */
struct daemon *daemon_new(const char *cfgfile, int cmd_port,
    int cmd_verbose, int debug);
/* Returns 0, or -1 with the reason written to 'err'. */
int daemon_prepare(struct daemon *d, FILE *err);
/* Returns 0, or -1 with the reason logged. */
int daemon_start(struct daemon *d);
/* Runs the main loop; returns the exit status (0, or 1 after a fatal
 * error such as failing to restart the workers on reload). */
int daemon_run(struct daemon *d);
/* Stops the workers and frees everything (ports closed). */
void daemon_free(struct daemon *d);

#endif
