/*
 * resolver/forward.h - the "outside network": forward zones and upstream
 * queries over UDP with TCP fallback, or over TLS / HTTPS (upstream.h).
 *
 * struct fwd_zones is built from the config (forward-zone clauses;
 * "." from /etc/resolv.conf when no forward zone covers the root); the
 * control API replaces its table copy-on-write (fwd_zones_add/remove)
 * while workers read it.  struct outside is one per worker, on its
 * event_base; it sends one upstream query per fwd_query_start and calls
 * back once with the reply (or NULL when every upstream failed).
 *
 * The forward-addrs of a zone are asked one after the other: first those
 * that are up, in the zone's order, then those that are down (backoff.h:
 * an address that was refused, failed TLS or did not answer in time is
 * down for 1 s, doubling to 120 s at each further failure, until it
 * answers), the least recently failed first, so that a query is never
 * failed without asking.  When an address's time is over one query tries
 * it while the others keep away from it.
 *
 * Per upstream query, for each forward-addr in turn:
 *   - UDP: a socket connected to the upstream (outudp.h: the kernel
 *     picks a random source port; a fresh one per query unless
 *     outgoing-queries-per-port lets up to N queries share it), a random
 *     query ID (getrandom).  A reply that fails dns_reply_matches counts
 *     unwanted.replies and is ignored (we keep waiting).  ECONNREFUSED
 *     (ICMP port unreachable) fails this upstream at once, for every
 *     query on the socket: next forward-addr, no TCP.
 *   - TC=1 or FWD_UDP_TIMEOUT_MSEC without a reply: the same upstream
 *     over TCP (2-byte length framing), FWD_TCP_TIMEOUT_MSEC for connect,
 *     write and read together.  After a UDP timeout the query stays
 *     registered on its UDP socket during the TCP attempt and a late
 *     matching UDP reply is taken too (whichever comes first).  Refused, reset, timed out or a reply
 *     that does not match: next forward-addr.
 *   - forward-tls-upstream / forward-https-upstream zones: the query goes
 *     on the worker's shared connection to the address (upstream.h),
 *     FWD_UPS_TIMEOUT_MSEC per attempt including connection setup.  A
 *     failed connection or certificate check: next forward-addr.  A
 *     query handed back (UPS_RETRY: a reused connection dropped, or a
 *     stream refused after GOAWAY) is resent to the same address up to
 *     FWD_UPS_MAX_RETRY times.  Never clear text.  These queries carry
 *     an EDNS padding option to a multiple of FWD_PAD_BLOCK bytes.
 *   - Client subnet (send-client-subnet): a query given a struct
 *     fwd_ecs carries that ECS option to the addresses in its
 *     'upstreams' set (to every address when 'always'), decided per
 *     address.  A reply from such an address whose ECS option is
 *     malformed or does not echo the family, source prefix and address
 *     sent is unwanted (RFC 7871 7.3); its scope goes to the callback.
 *   - No query is outstanding longer than FWD_QUERY_DEADLINE_MSEC: each
 *     attempt's timeout is cut to what is left; past it the query fails.
 * This file does not cache, join identical queries or build client
 * replies: the resolver does.
 */
#ifndef CAIRN_RESOLVER_FORWARD_H
#define CAIRN_RESOLVER_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include "dns/wire.h"

#define FWD_UDP_TIMEOUT_MSEC	1000	/* wait for a UDP reply */
#define FWD_TCP_TIMEOUT_MSEC	2000	/* one TCP attempt, connect to reply */
#define FWD_UPS_TIMEOUT_MSEC	4000	/* one DoT/DoH attempt, including
					   the connection setup */
#define FWD_UPS_MAX_RETRY	5	/* resends to one DoT/DoH address after
					   a drop or GOAWAY (upstream.h) */
#define FWD_QUERY_DEADLINE_MSEC	10000	/* whole query, all upstreams */
#define FWD_MAX_PENDING		4096	/* upstream queries per worker */
#define FWD_DEFAULT_PORT	53
#define FWD_DOT_PORT		853	/* forward-tls-upstream default */
#define FWD_DOH_PORT		443	/* forward-https-upstream default */
#define FWD_HTTP_ENDPOINT	"/dns-query"
#define FWD_MAX_ADDRS		64	/* forward-addr per zone */
#define FWD_PAD_BLOCK		128	/* DoT/DoH queries padded (RFC 8467) */
#define FWD_RESOLV_CONF		"/etc/resolv.conf"

struct event_base;
struct config;
struct stats;

enum fwd_transport {
	FWD_DO53 = 0,		/* UDP, TCP on TC=1 or timeout */
	FWD_DOT,		/* forward-tls-upstream: DNS over TLS */
	FWD_DOH			/* forward-https-upstream: DNS over HTTPS/2 */
};

struct fwd_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[80];		/* "IP@port" for logs */
	char auth[256];		/* "#name": certificate name, "" = the IP */
};

struct fwd_zone {
	uint8_t name[DNS_MAX_NAME];	/* lc wire */
	size_t name_len;
	struct fwd_addr *addrs;
	size_t naddrs;
	bool no_cache;			/* forward-no-cache: answers not cached */
	bool first;			/* forward-first: SERVFAIL or all
					 * failed: on to the parent's zone */
	enum fwd_transport transport;
	char endpoint[256];		/* forward-http-endpoint (DoH) */
};

/*
 * One version of the forward zone table.  Immutable once published:
 * the control API builds a new one and swaps it in (copy-on-write);
 * queries hold a reference to the version they started with.
 */
struct fwd_table {
	struct fwd_zone *v;
	size_t n;
	unsigned refs;		/* atomic: the live pointer + each query */
	void *tls_ctx;		/* SSL_CTX for DoT/DoH upstreams, or NULL */
};

/*
 * The live forward zones: shared by every worker, changed at run time
 * by the control API (res_shared_forward_add/remove).
 */
struct fwd_zones;

/*
 * Parse "IP[@port][#name]" into 'a' (port 53 when not given).
 * Returns 0 or -1.
 */
int fwd_addr_parse(const char *s, struct fwd_addr *a);

/*
 * Forward zones from cfg->forwards; if none is for ".", "." gets the
 * nameservers of 'resolv_conf' (FWD_RESOLV_CONF when NULL; logged at
 * VERB_OPS).  forward-host names are looked up here with getaddrinfo
 * (blocking; /etc/hosts first), every address of an enabled family
 * (do-ip4, do-ip6) added, logged at VERB_OPS.  Errors are logged;
 * returns NULL on a bad forward-addr, a forward-host that does not
 * resolve ("file:line: forward-host: value: why"), a TLS context that
 * cannot be made (tls-cert-bundle unreadable) or allocation failure.
 */
struct fwd_zones *fwd_zones_new(const struct config *cfg,
    const char *resolv_conf);
/*
 * Build the table again from cfg (forward-host names looked up again)
 * and make it the live one; zones added or removed at run time are
 * gone.  Thread safe against running workers.  Returns 0, or -1 (logged;
 * the old table stays).
 */
int fwd_zones_reset(struct fwd_zones *z, const struct config *cfg,
    const char *resolv_conf);
/* Only once no worker uses it any more. */
void fwd_zones_free(struct fwd_zones *z);
/* The current table, with a reference taken (thread safe). */
struct fwd_table *fwd_zones_acquire(struct fwd_zones *z);
/* Drop a reference from fwd_zones_acquire / a query. */
void fwd_table_release(struct fwd_table *t);
/* The zone with the longest name at or above 'qname', or NULL. */
const struct fwd_zone *fwd_table_lookup(const struct fwd_table *t,
    const uint8_t *qname, size_t qname_len);

/*
 * Control: print "NAME IN forward [+t|+h] ADDR ..." lines; add (or
 * replace) a zone with space separated IP[@port][#name] addresses over
 * transport 't' (DoH: endpoint FWD_HTTP_ENDPOINT); remove a zone.  Thread safe against running workers
 * (copy-on-write).  Return 0, or -1 with a sentence in err.
 */
int fwd_zones_list(struct fwd_zones *z, FILE *out);
int fwd_zones_add(struct fwd_zones *z, const char *zone, const char *addrs,
    enum fwd_transport t, char *err, size_t errlen);
int fwd_zones_remove(struct fwd_zones *z, const char *zone, char *err,
    size_t errlen);

struct outside;
struct fwd_query;
struct netblock_set;

/* The client subnet option for one upstream query. */
struct fwd_ecs {
	struct dns_ecs ecs;		/* sent as is (scope 0) */
	const struct netblock_set *upstreams;	/* send-client-subnet;
					   borrowed, outlives the query */
	bool always;			/* to every upstream address */
};

/*
 * Called once per fwd_query_start: 'pkt' is the upstream reply (it
 * passed dns_reply_matches; borrowed for the call), or NULL when every
 * upstream failed or the deadline passed.  'ecs_scope' is -1 when the
 * query that got this reply carried no ECS option, else the reply's
 * SCOPE PREFIX-LENGTH (0 when the reply had no ECS option).  'scan'
 * is dns_pkt_scan's of pkt (dns/wire_int.h; NULL with pkt), so that it
 * is not walked again.  The fwd_query is gone when this runs.
 */
struct dns_scan;
typedef void (*fwd_done_cb)(void *arg, const uint8_t *pkt, size_t len,
    int ecs_scope, const struct dns_scan *scan);

/* A worker's outside network on 'base'; counts num.query.udpout/tcpout
 * and unwanted.replies in 'st' (may be NULL).  queries_per_port: how
 * many UDP queries may leave from one source port (outudp.h; 1: a new
 * random port for each). */
struct outside *outside_new(struct event_base *base, struct stats *st,
    uint16_t edns_udp, unsigned queries_per_port);
/* Closes every socket; callbacks are not called. */
void outside_free(struct outside *o);
/* Upstream sockets made from now on are bound to an address of 'src'
 * (outgoing-interface; borrowed, outlives o). */
struct out_src;
void outside_set_src(struct outside *o, struct out_src *src);
/* Upstream queries in progress. */
size_t outside_pending(const struct outside *o);

/*
 * Ask the forward zone of 'qname' in the current table of 'zones' for
 * (qname, qtype, qclass) with the CD and DO bits given, and 'ecs'
 * (copied; NULL for none) as described above; *no_cache is
 * set from the zone's forward-no-cache.  Returns the query, or NULL
 * (nothing will be called back) when no zone covers qname or it has no
 * address, FWD_MAX_PENDING is reached or on allocation
 * failure.
 */
struct fwd_query *fwd_query_start(struct outside *o,
    struct fwd_zones *zones, const uint8_t *qname, size_t qname_len,
    uint16_t qtype, uint16_t qclass, bool cd, bool dnssec_ok,
    const struct fwd_ecs *ecs, bool *no_cache, fwd_done_cb cb, void *arg);
/* Stop a query: sockets closed, no callback. */
void fwd_query_cancel(struct fwd_query *fq);

#endif
