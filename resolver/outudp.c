/*
 * resolver/outudp.c - shared UDP sockets to upstream servers (see
 * outudp.h).
 *
 * Sockets are on one of three lists: open (new queries may go on them),
 * retired (they only wait for their last query) and idle (no port, kept
 * for the next query).  A socket with no query is released as soon as
 * it is retired, except while its own read callback runs (busy): then at
 * the callback's end.  Released, it goes idle, or is closed when it saw
 * an error or the idle list is full.
 *
 * connect(AF_UNSPEC) on a UDP socket whose port the kernel chose (no
 * bind(), or an outgoing-interface address bound with port 0, which the
 * socket keeps) takes the port back: the socket leaves the kernel's
 * tables, and the next sendto() binds a new random port, as a new
 * socket's would.  Datagrams already queued stay: an idle socket's
 * callback reads and counts them; one read after the socket is reused
 * fails the source or ID check here or the question check of the
 * caller.  Late replies and ICMP errors for the old port find no
 * socket.
 *
 * The sockets are never connected: connect() to the address and the
 * disconnect would be two system calls per query where sendto() alone
 * binds the port.  So the source of every datagram is checked here, and
 * IP_RECVERR (IPV6_RECVERR) makes the kernel report the address's ICMP
 * errors (ECONNREFUSED) to the next recv() or sendto(), as it does for
 * a connected socket.  They also stay on the socket's error queue, and
 * with it readable: a socket that saw an error is closed, never kept.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "resolver/outsrc.h"
#include "resolver/outudp.h"
#include "util/stats.h"

struct outudp_sock {
	struct outudp *u;
	struct outudp_sock *prev, *next;	/* on u->open or u->retired */
	int fd;
	struct event ev;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	uint64_t born;			/* monotonic msec */
	unsigned uses;			/* queries sent */
	bool retired;
	bool idle;			/* on u->idle: disconnected */
	bool busy;			/* in its read callback */
	bool broken;			/* saw an error: not reused */
	int src_idx;			/* outgoing-interface address, or -1 */
	int err;			/* a send error not yet told */
	struct outudp_req *reqs;	/* registered, waiting */
};

struct outudp {
	struct event_base *base;
	struct stats *st;
	unsigned max_uses;		/* queries per socket (port) */
	struct out_src *src;		/* outgoing-interface, or NULL */
	struct outudp_sock *open, *retired, *idle;
	unsigned nidle;
	uint8_t rbuf[65536];
};

void
outudp_set_src(struct outudp *u, struct out_src *src)
{
	u->src = src;
}

struct outudp *
outudp_new(struct event_base *base, struct stats *st, unsigned max_uses)
{
	struct outudp *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	u->base = base;
	u->st = st;
	u->max_uses = max_uses > 0 ? max_uses : 1;
	return u;
}

static void
list_unlink(struct outudp_sock **head, struct outudp_sock *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void
list_push(struct outudp_sock **head, struct outudp_sock *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head != NULL)
		(*head)->prev = s;
	*head = s;
}

static struct outudp_sock **
sock_list(struct outudp_sock *s)
{
	if (s->idle)
		return &s->u->idle;
	return s->retired ? &s->u->retired : &s->u->open;
}

static void
sock_close(struct outudp_sock *s)
{
	struct outudp *u = s->u;

	list_unlink(sock_list(s), s);
	if (s->idle)
		u->nidle--;
	event_del(&s->ev);
	close(s->fd);
	free(s);
}

/* A socket nothing waits on any more: idle (its port given back) if it
 * may be reused and there is room, else closed. */
static void
sock_release(struct outudp_sock *s)
{
	struct outudp *u = s->u;
	struct sockaddr unspec;

	if (s->broken || u->nidle >= OUTUDP_IDLE_MAX) {
		sock_close(s);
		return;
	}
	memset(&unspec, 0, sizeof(unspec));
	unspec.sa_family = AF_UNSPEC;
	if (connect(s->fd, &unspec, sizeof(unspec)) < 0) {
		sock_close(s);
		return;
	}
	list_unlink(sock_list(s), s);
	s->retired = false;
	s->idle = true;
	list_push(&u->idle, s);
	u->nidle++;
}

/* No new query goes on s. */
static void
sock_set_retired(struct outudp_sock *s)
{
	if (!s->retired) {
		list_unlink(&s->u->open, s);
		list_push(&s->u->retired, s);
		s->retired = true;
	}
}

/* Retired, and released now when nothing needs it any more. */
static void
sock_retire(struct outudp_sock *s)
{
	sock_set_retired(s);
	if (s->reqs == NULL && !s->busy)
		sock_release(s);
}

static void
req_unlink(struct outudp_req *r)
{
	struct outudp_sock *s = r->s;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		s->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->s = NULL;
}

/* Every waiting request learns the socket's error; none is left. */
static void
sock_fail(struct outudp_sock *s, int err)
{
	struct outudp_req *r;

	s->broken = true;
	sock_set_retired(s);
	while ((r = s->reqs) != NULL) {
		req_unlink(r);
		r->cb(r->arg, err, NULL, 0);
	}
}

static struct outudp_req *
req_find(struct outudp_sock *s, uint16_t id)
{
	struct outudp_req *r;

	for (r = s->reqs; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static bool
same_peer(const struct outudp_sock *s, const struct sockaddr *sa,
    socklen_t salen)
{
	if (s->peer.ss_family != sa->sa_family)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&s->peer,
		    *b = (const void *)sa;

		return a->sin_port == b->sin_port &&
		    a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&s->peer,
		    *b = (const void *)sa;

		return a->sin6_port == b->sin6_port &&
		    a->sin6_scope_id == b->sin6_scope_id &&
		    memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
	}
	return s->peer_len == salen && memcmp(&s->peer, sa, salen) == 0;
}

/* Datagrams that were queued when the socket went idle: read, counted,
 * dropped.  An error closes the socket. */
static void
idle_read(struct outudp_sock *s)
{
	struct outudp *u = s->u;
	int i;

	for (i = 0; i < OUTUDP_READS; i++) {
		if (recv(s->fd, u->rbuf, sizeof(u->rbuf), 0) < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				sock_close(s);
			return;
		}
		if (u->st != NULL)
			STAT_INC(u->st, UNWANTED_REPLIES);
	}
}

static void
sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outudp_sock *s = arg;
	struct outudp *u = s->u;
	int i;

	(void)what;
	if (s->idle) {
		idle_read(s);
		return;
	}
	s->busy = true;
	if (s->err != 0) {
		sock_fail(s, s->err);
		s->err = 0;
	}
	/*
	 * Bounded: other sockets and clients get their turn.  A datagram
	 * nobody waits for is read too (counted), or the event would fire
	 * again at once.
	 */
	for (i = 0; i < OUTUDP_READS && !(s->retired && s->reqs == NULL); i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, u->rbuf, sizeof(u->rbuf), 0,
		    (struct sockaddr *)&from, &fl);
		struct outudp_req *r;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				break;
			sock_fail(s, errno);
			break;
		}
		/* not connected: the kernel takes datagrams from anyone */
		r = n >= 2 && same_peer(s, (struct sockaddr *)&from, fl) ?
		    req_find(s, (uint16_t)(u->rbuf[0] << 8 | u->rbuf[1])) :
		    NULL;
		if (r == NULL) {
			if (u->st != NULL)
				STAT_INC(u->st, UNWANTED_REPLIES);
			continue;
		}
		r->cb(r->arg, 0, u->rbuf, (size_t)n);
	}
	s->busy = false;
	if (s->retired && s->reqs == NULL)
		sock_release(s);
}

/* A socket for sa that may carry a query with this ID; else NULL. */
static struct outudp_sock *
sock_find(struct outudp *u, const struct sockaddr *sa, socklen_t salen,
    uint16_t id, uint64_t now)
{
	struct outudp_sock *s, *next;

	for (s = u->open; s != NULL; s = next) {
		next = s->next;
		if (!same_peer(s, sa, salen))
			continue;
		if (now - s->born >= OUTUDP_MAX_AGE_MSEC ||
		    s->uses >= u->max_uses) {
			sock_retire(s);
			continue;
		}
		if (req_find(s, id) != NULL) {
			/* IDs are unique on a socket: a new one for this */
			sock_retire(s);
			continue;
		}
		return s;
	}
	return NULL;
}

/*
 * A new socket of this family, registered, with no port yet: its first
 * sendto() binds one at random.  It asks for the ICMP errors of its
 * datagrams (IP_RECVERR): without that, a socket that is not connected
 * never hears that the address refused.  NULL when one could not be had
 * here (EMFILE under load, memory): never the address's fault.
 */
static struct outudp_sock *
sock_new(struct outudp *u, int family, int src_idx)
{
	struct outudp_sock *s = calloc(1, sizeof(*s));
	int on = 1, r;

	if (s == NULL)
		return NULL;
	s->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	if (family == AF_INET6)
		r = setsockopt(s->fd, IPPROTO_IPV6, IPV6_RECVERR, &on,
		    sizeof(on));
	else
		r = setsockopt(s->fd, IPPROTO_IP, IP_RECVERR, &on,
		    sizeof(on));
	/* outgoing-interface: the address now, the port at random; a
	 * disconnect (sock_release) gives the port back and keeps it */
	if (r == 0)
		r = out_src_bind(u->src, s->fd, family, src_idx);
	if (r < 0 || event_assign(&s->ev, u->base, s->fd,
	    EV_READ | EV_PERSIST, sock_read_cb, s) < 0 ||
	    event_add(&s->ev, NULL) < 0) {
		close(s->fd);
		free(s);
		return NULL;
	}
	s->u = u;
	s->src_idx = src_idx;
	return s;
}

/* An idle socket (no port) of this family and source address, NULL when
 * there is none. */
static struct outudp_sock *
sock_reuse(struct outudp *u, int family, int src_idx)
{
	struct outudp_sock *s;

	for (s = u->idle; s != NULL; s = s->next)
		if (s->peer.ss_family == family && s->src_idx == src_idx)
			break;
	if (s == NULL)
		return NULL;
	list_unlink(&u->idle, s);
	u->nidle--;
	s->idle = false;
	return s;
}

/* Returns the socket, or NULL with *err -1 (local) or EINVAL. */
static struct outudp_sock *
sock_open(struct outudp *u, const struct sockaddr *sa, socklen_t salen,
    uint64_t now, int *err)
{
	struct outudp_sock *s;
	int src_idx = out_src_pick(u->src, sa->sa_family);

	if (salen > sizeof(s->peer)) {
		*err = EINVAL;
		return NULL;
	}
	s = sock_reuse(u, sa->sa_family, src_idx);
	if (s == NULL) {
		/*
		 * Idle sockets of the other family (or source address) give
		 * way: sockets in use plus idle ones never outnumber the
		 * most ever in use.
		 */
		if (u->idle != NULL)
			sock_close(u->idle);
		if ((s = sock_new(u, sa->sa_family, src_idx)) == NULL) {
			*err = -1;
			return NULL;
		}
	}
	memcpy(&s->peer, sa, salen);
	s->peer_len = salen;
	s->born = now;
	s->uses = 0;
	list_push(&u->open, s);
	return s;
}

int
outudp_send(struct outudp *u, struct outudp_req *r,
    const struct sockaddr *sa, socklen_t salen, const uint8_t *pkt,
    size_t len, uint64_t now, outudp_cb cb, void *arg)
{
	struct outudp_sock *s;
	uint16_t id;
	int err = 0;

	outudp_cancel(r);
	if (len < 2)
		return EINVAL;
	id = (uint16_t)(pkt[0] << 8 | pkt[1]);
	s = sock_find(u, sa, salen, id, now);
	if (s == NULL && (s = sock_open(u, sa, salen, now, &err)) == NULL)
		return err;
	s->uses++;
	/* one system call: a socket without a port gets a random one */
	if (sendto(s->fd, pkt, len, 0, (const struct sockaddr *)&s->peer,
	    s->peer_len) < 0) {
		/*
		 * The error may be an earlier query's ICMP error, reported
		 * once: every query on the socket hears of it, from the
		 * socket's callback (not from inside this call).
		 */
		err = errno;
		s->broken = true;
		if (s->reqs != NULL) {
			s->err = err;
			event_active(&s->ev, EV_READ, 0);
		}
		sock_retire(s);
		return err;
	}
	r->s = s;
	r->id = id;
	r->cb = cb;
	r->arg = arg;
	r->prev = NULL;
	r->next = s->reqs;
	if (s->reqs != NULL)
		s->reqs->prev = r;
	s->reqs = r;
	if (s->uses >= u->max_uses)
		sock_retire(s);
	return 0;
}

void
outudp_cancel(struct outudp_req *r)
{
	struct outudp_sock *s = r->s;

	if (s == NULL)
		return;
	req_unlink(r);
	if (s->retired && s->reqs == NULL && !s->busy)
		sock_release(s);
}

void
outudp_free(struct outudp *u)
{
	if (u == NULL)
		return;
	while (u->open != NULL)
		sock_close(u->open);
	while (u->retired != NULL)
		sock_close(u->retired);
	while (u->idle != NULL)
		sock_close(u->idle);
	free(u);
}
