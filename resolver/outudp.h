/*
 * resolver/outudp.h - shared UDP sockets to upstream servers.
 *
 * Every socket sends to one upstream address at a time (sendto(), not
 * connected), from a port the kernel picks at random when the socket
 * has none, and is registered with the event base once.  By default
 * (max_uses 1, config outgoing-queries-per-port) it carries one query: a
 * new random source port for every upstream query, as Unbound does.
 * With max_uses n > 1 the socket carries up to n queries to that
 * address started within OUTUDP_MAX_AGE_MSEC of its opening, as dnsdist
 * does with its backends; then it is retired: no new query goes on it,
 * and it is released when its last query is answered or cancelled.  An
 * idle socket keeps its port until the next query finds it too old.
 *
 * A released socket gives its port back to the kernel (connect() with
 * AF_UNSPEC) and is kept, still registered, for the next query, whose
 * sendto() binds a new random port.  That trades socket(), connect(),
 * two epoll_ctl() and close() for nothing: 3 system calls per query
 * (sendto, recvfrom, connect) instead of 7.  At most OUTUDP_IDLE_MAX are
 * kept per worker; a socket that saw an error is closed.  Open sockets,
 * in use or kept, never outnumber the most that were ever in use at
 * once.
 *
 * Spoofing: an answer must come from the address and port the query
 * went to (checked here: the kernel, the socket not being connected,
 * hands over datagrams from anyone), hit the socket's random port and
 * carry the query's random ID; the caller checks the question too.  The
 * ICMP errors of the address reach the socket through IP_RECVERR (a
 * socket that is not connected hears of none otherwise).  With n > 1 an
 * attacker who learns one port can aim at n queries, so it is meant for
 * an upstream on a trusted path (loopback, the same LAN).
 *
 * Not thread safe: one struct outudp per worker, on its event base.
 */
#ifndef CAIRN_RESOLVER_OUTUDP_H
#define CAIRN_RESOLVER_OUTUDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct stats;
struct outudp;
struct outudp_sock;

#define OUTUDP_MAX_USES		64	/* most queries sent on one socket */
#define OUTUDP_MAX_AGE_MSEC	1000	/* new queries on a socket this long */
#define OUTUDP_IDLE_MAX		256	/* disconnected sockets kept for reuse */
#define OUTUDP_READS		32	/* datagrams a socket's callback reads */

/*
 * A reply whose ID is the request's: err 0, pkt/len the datagram (valid
 * during the call only); the request stays registered: the caller
 * cancels it once it is done with it (a reply that fails the caller's
 * checks leaves it waiting).  A socket error (the ICMP error of the
 * address, e.g. ECONNREFUSED): err the errno, pkt NULL, and the request
 * is no longer registered.
 */
typedef void (*outudp_cb)(void *arg, int err, const uint8_t *pkt,
    size_t len);

/* One query on a socket; the caller's memory (embed it). Zero it first. */
struct outudp_req {
	struct outudp_sock *s;		/* NULL: not registered */
	struct outudp_req *prev, *next;
	uint16_t id;			/* the query's ID, from its packet */
	outudp_cb cb;
	void *arg;
};

/* The sockets of a worker on 'base'; replies with an unknown ID count in
 * unwanted.replies of 'st' (may be NULL).  NULL on allocation failure. */
struct outudp *outudp_new(struct event_base *base, struct stats *st,
    unsigned max_uses);

/* Closes every socket, kept ones too.  No request may be registered any
 * more. */
void outudp_free(struct outudp *u);
/* New sockets are bound to a source address of 'src' (borrowed, outlives
 * u; NULL: none, the default). */
struct out_src;
void outudp_set_src(struct outudp *u, struct out_src *src);

/*
 * Send the DNS message pkt/len (its first two bytes the ID) to sa and
 * register r for the reply; now: the caller's monotonic clock in msec.
 * Returns 0; -1 when no socket could be had here (out of descriptors or
 * memory: not the address's fault); or the errno of sendto() (the
 * address's).
 */
int outudp_send(struct outudp *u, struct outudp_req *r,
    const struct sockaddr *sa, socklen_t salen, const uint8_t *pkt,
    size_t len, uint64_t now, outudp_cb cb, void *arg);

/* Unregister r (nothing when it is not registered). */
void outudp_cancel(struct outudp_req *r);

#endif /* CAIRN_RESOLVER_OUTUDP_H */
