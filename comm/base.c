/*
 * comm/base.c - one worker's comm state: stream listeners, accepting
 * connections under the limits (incoming-num-tcp slots,
 * tcp-connection-limit, access-control deny; on a proxy-protocol-port
 * the same limits for the address a PROXY header names), the idle
 * timeout rule, and freeing a connection.
 *
 * It does not read or write connections (tcp.c), speak TLS (tls.c) or
 * open sockets (listen.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "comm/comm_int.h"
#include "comm/proxy.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/netblock.h"
#include "util/stats.h"

void
comm_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int port = 0;

	a[0] = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
	} else
		snprintf(a, sizeof(a), "(family %d)", sa->sa_family);
	snprintf(buf, len, "%s port %d", a, port);
}

/*
 * Create the comm state of one worker on 'base'.  'lim' is copied; its
 * tables are borrowed and must outlive the comm base.  'st' is the
 * worker's counters (borrowed).  Returns NULL when out of memory.
 */
struct comm_base *
comm_base_new(struct event_base *base, const struct comm_limits *lim,
    struct stats *st)
{
	struct comm_base *cb = calloc(1, sizeof(*cb));

	if (cb == NULL)
		return NULL;
	cb->eb = base;
	cb->lim = *lim;
	if (cb->lim.incoming_num_tcp < 0)
		cb->lim.incoming_num_tcp = 0;
	if (cb->lim.tcp_idle_timeout_msec < 0)
		cb->lim.tcp_idle_timeout_msec = 0;
	cb->st = st;
	cb->accepting = true;
	return cb;
}

void
comm_base_free(struct comm_base *cb)
{
	struct comm_listener *l, *ln;
	struct comm_udp *u, *un;

	if (cb == NULL)
		return;
	cb->freeing = true;
	while (cb->conns != NULL)
		comm_conn_free(cb->conns, COMM_CLOSE_SHUTDOWN);
	for (l = cb->listeners; l != NULL; l = ln) {
		ln = l->next;
		event_free(l->ev);
		event_free(l->slow);
		free(l);
	}
	for (u = cb->udps; u != NULL; u = un) {
		un = u->next;
		if (u->data_free != NULL)
			u->data_free(u, u->data);
		event_free(u->ev);
		free(u);
	}
	free(cb->udpbuf);
	free(cb->spare_out);
	free(cb->udpout);
	free(cb);
}

int
comm_base_conn_count(const struct comm_base *cb)
{
	return cb->nconn;
}

void
comm_base_stop_accept(struct comm_base *cb)
{
	struct comm_listener *l;

	cb->accepting = false;
	for (l = cb->listeners; l != NULL; l = l->next) {
		event_del(l->ev);
		event_del(l->slow);
	}
}

/*
 * The idle timeout of a connection right now, Unbound's rule: the
 * configured tcp-idle-timeout, cut to 1/100 when more than 50% of the
 * worker's slots are used, to 1/500 above 65%, to 0 above 80%, and never
 * below COMM_TCP_TIMEOUT_MIN_MSEC.  Evaluated each time the timer is
 * (re)started, so idle connections are cut short when the worker fills.
 */
int
comm_conn_timeout_msec(const struct comm_conn *c)
{
	const struct comm_base *cb = c->base;
	int t = cb->lim.tcp_idle_timeout_msec;
	int max = cb->lim.incoming_num_tcp;
	int usage = max > 0 ? (int)((long)cb->nconn * 100 / max) : 100;

	if (usage > 80)
		t = 0;
	else if (usage > 65)
		t /= 500;
	else if (usage > 50)
		t /= 100;
	if (t < COMM_TCP_TIMEOUT_MIN_MSEC)
		t = COMM_TCP_TIMEOUT_MIN_MSEC;
	return t;
}

void
comm_conn_arm(struct comm_conn *c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_add(c->tev, &tv);
}

/*
 * Restart the idle timer (activity), unless a harder deadline runs:
 * the handshake bound or a graceful close.  When the idle timeout is
 * longer than COMM_QUIET_MSEC the timer first stops at the quiet point
 * (comm_conn_timer_cb).  While that quiet-point timer runs, activity
 * only notes the time: the timer, when it fires, waits out the rest
 * from the last activity.  A busy connection touches it twice a query,
 * and moving a libevent timer costs more than the rest of a cached
 * answer's DoH framing.
 */
void
comm_conn_touch(struct comm_conn *c)
{
	int ms;

	if (c->handshaking || c->closing || c->proxy_wait)
		return;
	ms = comm_conn_timeout_msec(c);
	c->active_msec = mono_msec();
	if (c->quiet_wait && ms > 2 * COMM_QUIET_MSEC)
		return;		/* the quiet-point timer runs */
	c->quiet_wait = ms > 2 * COMM_QUIET_MSEC;
	comm_conn_arm(c, c->quiet_wait ? COMM_QUIET_MSEC : ms);
}

/*
 * Free a connection now: the proto's close (once, if it was opened),
 * SSL, descriptor, events, slots and the tcp-connection-limit count.
 * Never call it with callbacks of this conn on the stack.
 */
void
comm_conn_free(struct comm_conn *c, enum comm_close_why why)
{
	struct comm_base *cb = c->base;

	if (c->opened && c->proto != NULL && c->proto->close != NULL) {
		c->depth++;	/* closes and writes from close() are moot */
		c->close_req = true;
		c->proto->close(c, c->st, why);
	}
	verbose(VERB_ALGO, "comm: close %s (%d)", c->peerstr, (int)why);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		cb->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	cb->nconn--;
	if (c->tcl != NULL)
		__atomic_sub_fetch(&c->tcl->count, 1, __ATOMIC_RELAXED);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tev);
	if (c->ssl != NULL)
		comm_tls_free(c);
	close(c->fd);
	free(c->pbuf);
	free(c->out);
	free(c->st);
	free(c);
}

bool
comm_proxy_sender_allowed(const struct comm_base *cb,
    const struct sockaddr *sa)
{
	enum acl_action a;

	if (cb->lim.acl == NULL)
		return true;
	a = acl_lookup(cb->lim.acl, sa);
	return a == ACL_ALLOW || a == ACL_ALLOW_SNOOP;
}

void
comm_proxy_log_bad(struct comm_base *cb, const char *peer, const char *why)
{
	time_t now = time(NULL);

	cb->proxy_bad++;
	if (cb->proxy_log_at == 0 ||
	    now - cb->proxy_log_at >= COMM_PROXY_LOG_SEC) {
		verbose(VERB_OPS, "comm: %s: no valid PROXY header (%s); "
		    "%lu such peer(s) since the last report", peer, why,
		    cb->proxy_bad);
		cb->proxy_log_at = now;
		cb->proxy_bad = 0;
		return;
	}
	verbose(VERB_QUERY, "comm: %s: no valid PROXY header (%s)", peer,
	    why);
}

/* Count a conn from 'sa' against tcp-connection-limit; false = over. */
static bool
tcl_take(struct comm_base *cb, const struct sockaddr *sa,
    struct netblock_entry **tcl, const char *peer)
{
	*tcl = NULL;
	if (cb->lim.tcl != NULL) {
		struct netblock_entry *e = netblock_lookup(cb->lim.tcl, sa);
		if (e != NULL) {
			long n = __atomic_add_fetch(&e->count, 1,
			    __ATOMIC_RELAXED);
			if (n > e->value) {
				__atomic_sub_fetch(&e->count, 1,
				    __ATOMIC_RELAXED);
				STAT_INC(cb->st, TCP_REFUSED_LIMIT);
				verbose(VERB_QUERY, "comm: %s refused: "
				    "tcp-connection-limit %ld", peer,
				    e->value);
				return false;
			}
			*tcl = e;
		}
	}
	return true;
}

/*
 * Take one accepted descriptor through the limits; false = refused.  On
 * a proxy port the sender must be allowed and tcp-connection-limit waits
 * for the header (comm_conn_proxied).
 */
static bool
accept_allowed(struct comm_base *cb, const struct sockaddr *sa,
    struct netblock_entry **tcl, const char *peer, bool proxy)
{
	*tcl = NULL;
	if (cb->lim.acl != NULL && acl_lookup(cb->lim.acl, sa) == ACL_DENY) {
		verbose(VERB_QUERY, "comm: %s denied by access-control",
		    peer);
		return false;
	}
	if (proxy && !comm_proxy_sender_allowed(cb, sa)) {
		verbose(VERB_QUERY, "comm: %s denied: a PROXY protocol sender "
		    "must be allowed by access-control", peer);
		return false;
	}
	if (cb->nconn >= cb->lim.incoming_num_tcp) {
		STAT_INC(cb->st, TCP_REFUSED_LIMIT);
		verbose(VERB_QUERY, "comm: %s refused: incoming-num-tcp %d "
		    "reached", peer, cb->lim.incoming_num_tcp);
		return false;
	}
	return proxy || tcl_take(cb, sa, tcl, peer);
}

/*
 * The PROXY header of 'c' was read (proxy_wait is over): the client it
 * names becomes the conn's peer (unless LOCAL), then access-control deny
 * and tcp-connection-limit apply to that address as they would at
 * accept.  Returns false when refused; the caller frees 'c'.
 */
bool
comm_conn_proxied(struct comm_conn *c, const struct proxy_hdr *h)
{
	struct comm_base *cb = c->base;
	char via[64];

	memcpy(via, c->peerstr, sizeof(via));
	if (!h->local) {
		memcpy(&c->peer, &h->src, h->srclen);
		c->peerlen = h->srclen;
		comm_addr_str((struct sockaddr *)&c->peer, c->peerstr,
		    sizeof(c->peerstr));
	}
	verbose(VERB_ALGO, "comm: %s: PROXY v%d header from %s%s",
	    c->peerstr, h->version, via, h->local ? " (LOCAL)" : "");
	if (!h->local && cb->lim.acl != NULL &&
	    acl_lookup(cb->lim.acl, (struct sockaddr *)&c->peer) == ACL_DENY) {
		verbose(VERB_QUERY, "comm: %s (via %s) denied by "
		    "access-control", c->peerstr, via);
		return false;
	}
	return tcl_take(cb, (struct sockaddr *)&c->peer, &c->tcl, c->peerstr);
}

static void
conn_accept(struct comm_listener *l, int fd, struct sockaddr_storage *ss,
    socklen_t sslen)
{
	struct comm_base *cb = l->base;
	const struct comm_stream_spec *spec = l->spec;
	struct netblock_entry *tcl;
	struct comm_conn *c;
	SSL_CTX *ssl_ctx;
	char peer[64];

	comm_addr_str((struct sockaddr *)ss, peer, sizeof(peer));
	if (!accept_allowed(cb, (struct sockaddr *)ss, &tcl, peer,
	    l->proxy)) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->base = cb;
	c->lst = l;
	c->fd = fd;
	c->tcl = tcl;
	memcpy(&c->peer, ss, sslen);
	c->peerlen = sslen;
	memcpy(c->peerstr, peer, sizeof(peer));
	c->rev = event_new(cb->eb, fd, EV_READ | EV_PERSIST,
	    comm_conn_read_cb, c);
	c->wev = event_new(cb->eb, fd, EV_WRITE, comm_conn_write_cb, c);
	c->tev = evtimer_new(cb->eb, comm_conn_timer_cb, c);
	if (c->rev == NULL || c->wev == NULL || c->tev == NULL)
		goto fail;
	if (spec->nodelay) {
		int on = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
		    sizeof(on));
	}
	/* Linked and counted from here: comm_conn_free undoes it all. */
	c->next = cb->conns;
	if (cb->conns != NULL)
		cb->conns->prev = c;
	cb->conns = c;
	cb->nconn++;
	STAT_INC(cb->st, TCP_ACCEPTED);
	verbose(VERB_ALGO, "comm: accept %s (%d open)", peer, cb->nconn);
	/* a certificate reload swaps the context with an atomic store
	 * (daemon.c tls_swap): load it once, atomically */
	ssl_ctx = __atomic_load_n(&spec->ssl_ctx, __ATOMIC_ACQUIRE);
	if (ssl_ctx != NULL && comm_tls_conn_new(c, ssl_ctx) < 0) {
		log_err("comm: %s: cannot create TLS state", peer);
		comm_conn_free(c, COMM_CLOSE_ERROR);
		return;
	}
	(void)comm_conn_start(c);
	return;
fail:
	log_err("comm: %s: out of memory", peer);
	if (c != NULL) {
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		if (c->tev)
			event_free(c->tev);
		free(c);
	}
	if (tcl != NULL)
		__atomic_sub_fetch(&tcl->count, 1, __ATOMIC_RELAXED);
	close(fd);
}

static void
listener_cb(int lfd, short what, void *arg)
{
	struct comm_listener *l = arg;
	int i;

	(void)what;
	for (i = 0; i < COMM_ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd;

#ifdef HAVE_ACCEPT4
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
		fd = accept(lfd, (struct sockaddr *)&ss, &sslen);
		if (fd >= 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
#endif
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending
			 * connection would wake us at once again, so pause
			 * accepting for a while instead of spinning */
			log_err("comm: accept: %s: not accepting for %d msec",
			    strerror(errno), COMM_SLOW_ACCEPT_MSEC);
			if (l->slow != NULL) {
				struct timeval tv = {
				    COMM_SLOW_ACCEPT_MSEC / 1000,
				    (COMM_SLOW_ACCEPT_MSEC % 1000) * 1000 };
				event_del(l->ev);
				event_add(l->slow, &tv);
			}
			return;
		}
		conn_accept(l, fd, &ss, sslen);
	}
}

static void
slow_accept_cb(int fd, short what, void *arg)
{
	struct comm_listener *l = arg;

	(void)fd;
	(void)what;
	if (l->base->accepting)
		event_add(l->ev, NULL);
}

/*
 * Serve the stream port 'fd' (borrowed, not closed by comm) with 'spec'
 * (borrowed; must outlive the base), handing 'env' to the modules.
 * Returns 0 or -errno.
 */
int
comm_listen_stream(struct comm_base *cb, int fd,
    const struct comm_stream_spec *spec, void *env, unsigned flags)
{
	struct comm_listener *l;

	if (spec == NULL || (spec->proto == NULL && spec->alpn == NULL))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->base = cb;
	l->fd = fd;
	l->spec = spec;
	l->env = env;
	l->proxy = (flags & COMM_LISTEN_PROXY) != 0;
	l->ev = event_new(cb->eb, fd, EV_READ | EV_PERSIST, listener_cb, l);
	l->slow = evtimer_new(cb->eb, slow_accept_cb, l);
	if (l->ev == NULL || l->slow == NULL ||
	    (cb->accepting && event_add(l->ev, NULL) != 0)) {
		if (l->ev != NULL)
			event_free(l->ev);
		if (l->slow != NULL)
			event_free(l->slow);
		free(l);
		return -ENOMEM;
	}
	l->next = cb->listeners;
	cb->listeners = l;
	return 0;
}

void *
comm_conn_env(const struct comm_conn *c)
{
	return c->lst->env;
}

const struct sockaddr *
comm_conn_peer(const struct comm_conn *c, socklen_t *len)
{
	if (len != NULL)
		*len = c->peerlen;
	return (const struct sockaddr *)&c->peer;
}

const char *
comm_conn_peer_str(const struct comm_conn *c)
{
	return c->peerstr;
}

bool
comm_conn_is_tls(const struct comm_conn *c)
{
	return c->ssl != NULL;
}

struct stats *
comm_conn_stats(const struct comm_conn *c)
{
	return c->base->st;
}
