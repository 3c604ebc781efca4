/*
 * daemon/worker.c - one worker thread: its event loop, its listeners,
 * its resolver, its counters.
 *
 * Everything is built and freed on the main thread; the thread itself
 * only runs event_base_loop (with batch-wait-usec, one pass at a time
 * with a sleep between).  Stopping goes through an event made
 * active from the main thread (libevent is set up for threads with
 * evthread_use_pthreads, so event_active wakes the loop), which calls
 * event_base_loopbreak on the worker's own thread: a loopbreak issued
 * before the loop started would be forgotten, an active event is not.
 * This file does not parse DNS or HTTP and does not open sockets.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <event2/event.h>

#include "daemon/worker.h"
#include "module/dns/dns_stream.h"
#include "resolver/resolver.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#ifdef HAVE_NGHTTP2
#include "module/doh/doh.h"
#endif

static void
worker_stop_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;

	event_base_loopbreak(w->base);
}

/* On the worker's thread: publish the gauges for worker_poll. */
static void
worker_poll_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;
	uint64_t pending = w->res ? res_pending(w->res) : 0;
	uint64_t tcp = w->comm ? (uint64_t)comm_base_conn_count(w->comm) : 0;

	pthread_mutex_lock(&w->mu);
	w->gauge_pending = pending;
	w->gauge_tcp = tcp;
	if (w->poll_reset_max) {
		/* this thread writes its own counter: no race with the
		 * resolver, which runs on this thread too */
		__atomic_store_n(&w->stats.requestlist_max, 0,
		    __ATOMIC_RELAXED);
		w->poll_reset_max = false;
	}
	w->poll_done = w->poll_asked;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Serve one listening port on this worker. */
static int
worker_listen(struct worker *w, const struct comm_port *p)
{
	const struct comm_stream_spec *spec;
	unsigned flags = p->proxy ? COMM_LISTEN_PROXY : 0;

	if (p->kind == COMM_PORT_UDP)
		return comm_listen_udp(w->comm, p->fd, dns_udp_input, &w->env,
		    flags);
	spec = &w->daemon->spec[p->kind];
	if (spec->proto == NULL) {
		/* HTTPS/HTTP port in a build without DoH (config_check
		 * should have said so already) */
		if (w->index == 0)
			log_warn("port kind %d not served: built without "
			    "DNS-over-HTTPS", (int)p->kind);
		return 0;
	}
	return comm_listen_stream(w->comm, p->fd, spec, &w->env, flags);
}

struct worker *
worker_new(struct daemon *d, int index, struct comm_port *ports)
{
	const struct config *cfg = d->cfg;
	struct comm_limits lim;
	struct comm_port *p;
	struct worker *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		log_err("worker %d: out of memory", index);
		return NULL;
	}
	w->index = index;
	w->daemon = d;
	w->ports = ports;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);

	w->base = event_base_new();
	if (w->base == NULL) {
		log_err("worker %d: could not create an event base", index);
		goto fail;
	}
	w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
	w->poll_ev = event_new(w->base, -1, 0, worker_poll_cb, w);
	if (w->stop_ev == NULL || w->poll_ev == NULL) {
		log_err("worker %d: out of memory", index);
		goto fail;
	}
	w->res = res_new(d->sh, w->base, cfg, &w->stats);
	if (w->res == NULL) {
		log_err("worker %d: could not create its resolver", index);
		goto fail;
	}
	w->env.cfg = cfg;
	w->env.res = w->res;
	w->env.stats = &w->stats;
	w->env.doh = d->doh;
	w->env.worker = index;

	memset(&lim, 0, sizeof(lim));
	lim.incoming_num_tcp = cfg->incoming_num_tcp;
	lim.tcp_idle_timeout_msec = cfg->tcp_idle_timeout;
	lim.acl = &d->acl;
	lim.tcl = &d->tcl;
	w->comm = comm_base_new(w->base, &lim, &w->stats);
	if (w->comm == NULL) {
		log_err("worker %d: could not create its comm base", index);
		goto fail;
	}
	for (p = ports; p != NULL; p = p->next) {
		r = worker_listen(w, p);
		if (r < 0) {
			log_err("worker %d: could not listen on port fd %d: %s",
			    index, p->fd, strerror(-r));
			goto fail;
		}
	}
	return w;
fail:
	worker_free(w);
	return NULL;
}

/* CPU time this thread has used, in usec */
static uint64_t
thread_cpu_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * batch-wait-usec: run the work that is ready (one pass of the loop),
 * then, when the worker is busy, sleep that long before looking again.
 * What arrives meanwhile is taken in the next pass at once: several
 * queries read from a connection in one read(), their answers in one
 * TLS record and one write(), so fewer system calls, records and TCP
 * segments (and the pure ACKs the kernel sends when a read finds two
 * small segments) per query.
 *
 * Busy: the pass waited less than the wait for its work.  A pass that
 * ends sooner than that after the one before surely did; a longer one
 * after a sleep may have run the batch the sleep gathered, so its time
 * not on the CPU (CLOCK_THREAD_CPUTIME_ID, one system call a batch, and
 * only while busy) is what it waited.  A worker that was idle longer
 * than the wait does not sleep: light traffic, a miss's upstream answer
 * included, waits for nothing; under load a miss's answer (a second
 * pass) may wait up to the sleep more.  The timer slack goes down to
 * 1 us, or Linux's default 50 us would be added to every sleep.  Stops
 * when worker_stop_cb broke the loop.
 */
bool
worker_batch_busy(uint64_t took, uint64_t cpu, uint64_t wait, bool slept)
{
	if (took < wait)
		return true;
	if (!slept)
		return false;
	/* its time off the CPU: what it waited (the CPU clock of a thread
	 * and the wall clock are not read at the same instant) */
	return took - (cpu < took ? cpu : took) < wait;
}

static void
worker_loop_batched(struct worker *w)
{
	uint64_t wait = (uint64_t)w->env.cfg->batch_wait_usec;
	uint64_t prev_end = mono_usec(), cpu_prev = 0;
	bool slept = false;
	struct timespec nap;

	nap.tv_sec = 0;
	nap.tv_nsec = (long)wait * 1000;
#ifdef PR_SET_TIMERSLACK
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
	for (;;) {
		uint64_t end, took, cpu;
		bool busy = false;

		if (event_base_loop(w->base,
		    EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0) {
			log_err("worker %d: event loop failed", w->index);
			break;
		}
		if (event_base_got_break(w->base))
			break;
		end = mono_usec();
		took = end - prev_end;
		if (took < wait || slept) {
			/* cpu_prev: at the end of the pass before the sleep */
			cpu = thread_cpu_usec();
			busy = worker_batch_busy(took, cpu - cpu_prev, wait,
			    slept);
			cpu_prev = cpu;
		}
		slept = busy;
		/* signals are blocked in workers: no EINTR to resume */
		if (busy) {
			(void)nanosleep(&nap, NULL);
			end = mono_usec();
		}
		prev_end = end;
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	verbose(VERB_ALGO, "worker %d: start", w->index);
	if (w->env.cfg->batch_wait_usec > 0)
		worker_loop_batched(w);
	else	/* keep running while no events are pending (e.g. no ports) */
		event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	verbose(VERB_ALGO, "worker %d: stop", w->index);
	return NULL;
}

int
worker_start(struct worker *w)
{
	sigset_t all, old;
	int r;

	/* signals are for the main thread's event loop only */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		log_err("worker %d: could not start thread: %s", w->index,
		    strerror(r));
		return -r;
	}
	w->started = true;
	return 0;
}

void
worker_stop(struct worker *w)
{
	if (w == NULL || !w->started)
		return;
	event_active(w->stop_ev, 0, 0);
	pthread_join(w->thread, NULL);
	w->started = false;
	/* a poller waiting on this worker gives up at its deadline */
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	worker_stop(w);
	/* connections first: their close callbacks cancel resolver
	 * requests, so the resolver must still exist */
	if (w->comm)
		comm_base_free(w->comm);
	if (w->res)
		res_free(w->res);
	if (w->poll_ev)
		event_free(w->poll_ev);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->base)
		event_base_free(w->base);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

void
worker_poll(struct worker **ws, int n, bool reset_max)
{
	struct timespec deadline;
	int i;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	for (i = 0; i < n; i++) {
		struct worker *w = ws[i];

		if (w == NULL || !w->started)
			continue;
		pthread_mutex_lock(&w->mu);
		w->poll_asked++;
		if (reset_max)
			w->poll_reset_max = true;
		pthread_mutex_unlock(&w->mu);
		event_active(w->poll_ev, 0, 0);
	}
	for (i = 0; i < n; i++) {
		struct worker *w = ws[i];

		if (w == NULL || !w->started)
			continue;
		pthread_mutex_lock(&w->mu);
		while (w->poll_done != w->poll_asked) {
			if (pthread_cond_timedwait(&w->cv, &w->mu,
			    &deadline) == ETIMEDOUT) {
				log_warn("worker %d did not answer the "
				    "statistics poll in time", w->index);
				break;
			}
		}
		pthread_mutex_unlock(&w->mu);
	}
}
