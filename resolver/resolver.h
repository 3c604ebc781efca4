/*
 * resolver/resolver.h - answer a DNS query: access control, local zones,
 * message cache, forwarding to upstreams.
 *
 * One struct resolver per worker thread (its upstream sockets and its
 * in-flight table live on that worker's event loop); the cache, local
 * zones and access-control table are shared by all workers (struct
 * res_shared).  Callers (the UDP, TCP, DoT and DoH front ends) see only
 * res_submit/res_cancel: they never hand the resolver a pointer into
 * their own structures other than the callback argument, and the
 * resolver never knows the transport beyond struct res_client.
 */
#ifndef CAIRN_RESOLVER_RESOLVER_H
#define CAIRN_RESOLVER_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct event_base;
struct config;
struct stats;
struct res_shared;
struct resolver;
struct res_req;

/* Who asked, as far as the resolver may know. */
struct res_client {
	const struct sockaddr *addr;	/* borrowed for the call only */
	socklen_t addrlen;
	bool stream;		/* TCP/TLS/HTTPS: answers up to 65535 bytes;
				   else UDP: client's EDNS size or 512 */
	bool encrypted;		/* pad answers to padded queries */
};

/*
 * The answer.  'ans' is borrowed for the duration of the call (copy it);
 * ans_len 0 means "no answer: drop" (access-control deny, or a query too
 * broken to answer).  The request handle is dead once this runs.
 * 'ans' points into the resolver's scratch buffer: copy it before calling
 * res_submit again from inside the callback.  res_cancel of other
 * requests is allowed inside the callback; res_free is not.
 */
typedef void (*res_done_cb)(void *arg, const uint8_t *ans, size_t ans_len);

/*
 * Shared state from the config: cache (msg-cache-size), local zones,
 * access control, forward zones.  Returns NULL with the reason logged.
 */
struct res_shared *res_shared_new(const struct config *cfg);
void res_shared_free(struct res_shared *sh);
/* Flush the whole cache, or one name/type (flush, flush_type), or a zone.
 * type 0 = all types. Returns the number of entries removed. */
size_t res_shared_flush(struct res_shared *sh, const uint8_t *name,
    size_t name_len, uint16_t type, bool subtree);
/* Bytes held by the message cache (mem.cache.message). */
size_t res_shared_cache_mem(struct res_shared *sh);
/* mem.http.upstream: bytes buffered by the DoH upstream connections of
 * every worker (resolver/upstream.h says what counts). */
size_t res_upstream_http_mem(void);

/* A worker's resolver on 'base', counting into 'st'. */
struct resolver *res_new(struct res_shared *sh, struct event_base *base,
    const struct config *cfg, struct stats *st);
/* Cancels every pending request (callbacks are not called) and frees. */
void res_free(struct resolver *r);
/*
 * Distinct questions waiting for an upstream answer on this worker
 * (requestlist.current.all, Unbound's mesh states): joined identical
 * questions count once; a question whose clients all cancelled counts
 * until its upstream answer (which is still cached) or failure.
 */
size_t res_pending(const struct resolver *r);

/*
 * Forward zones at run time (cairn-control list_forwards, forward_add,
 * forward_remove); safe while workers run (the table is copy-on-write:
 * queries already sent finish with the zone they started with).
 * res_shared_forward_list writes one line per zone,
 * "NAME IN forward [+t|+h] ADDR ..." (as unbound-control list_forwards;
 * +t DoT, +h DoH; ADDR is IP[@port][#name], the port shown when not
 * the transport's default).  res_shared_forward_add adds a zone or
 * replaces one of the same name: 'addrs' is space separated
 * IP[@port][#name], 'tls' makes it DoT (port 853 by default, the
 * certificate checked for #name or the IP), 'https' DoH (port 443 by
 * default, POST to /dns-query, the certificate checked the same way).  res_shared_forward_remove
 * removes a zone (queries below it then go to the closest enclosing
 * zone, or get SERVFAIL).  Return 0, or -1 with a sentence in 'err'.
 */
int res_shared_forward_list(struct res_shared *sh, FILE *out);
int res_shared_forward_add(struct res_shared *sh, const char *zone,
    const char *addrs, bool tls, bool https, char *err, size_t errlen);
int res_shared_forward_remove(struct res_shared *sh, const char *zone,
    char *err, size_t errlen);
/*
 * Reload that keeps this shared state (same resolver options): the local
 * zones, local data and forward zones of cfg again, so that run-time
 * edits (the functions above and below) are dropped as in Unbound, and
 * forward-host names are looked up anew.  Each table is swapped in whole
 * while workers answer.  0, or -1 (logged; that table unchanged).
 */
int res_shared_edits_reset(struct res_shared *sh, const struct config *cfg);

/*
 * Resolve 'query' (borrowed for the call) for 'client'; 'done' is called
 * once with the answer, on this worker's thread.  If the answer is known
 * at once (cache hit, local data, error, refused) 'done' runs before
 * res_submit returns and NULL is returned.  Otherwise returns a handle
 * valid until 'done' runs or res_cancel is called.
 * Counts num.queries, cache hits/misses, query types, rcodes... in 'st'.
 */
struct res_req *res_submit(struct resolver *r, const uint8_t *query,
    size_t len, const struct res_client *client, res_done_cb done,
    void *arg);

/*
 * Inside a res_done_cb only: true if the answer being handed over is
 * tailored to the client's subnet (EDNS Client Subnet scope > 0, from
 * the cache or upstream), so that shared caches must not keep it (DoH
 * says cache-control: private).  Read it before anything that may
 * answer another query.
 */
bool res_answer_tailored(const struct resolver *r);

/*
 * Inside a res_done_cb only, of the answer being handed over: what
 * dns_reply_min_ttl(ans, len) returns (the DoH max-age), without
 * parsing the answer when the resolver made it from a cached message
 * (a hit, or a miss answered from the message just cached); r may be
 * NULL.  Read it before anything that may answer another query.
 */
int64_t res_answer_min_ttl(const struct resolver *r, const uint8_t *ans,
    size_t len);

/* Forget a request: its callback will not be called. */
void res_cancel(struct res_req *req);

/*
 * The recursion time histogram (Unbound's 40 buckets, num.histogram.*):
 * bucket 0 is [0, 1us); buckets 1..20 double from 1us, bucket 20 being
 * [524288us, 1s); buckets 21..39 double from [1s, 2s) to
 * [262144s, 524288s); longer times count in bucket 39.
 */
int res_hist_bucket(uint64_t usec);
/* Bounds of bucket i in microseconds: [*lo_usec, *hi_usec). */
void res_hist_bounds(int i, uint64_t *lo_usec, uint64_t *hi_usec);

/*
 * Run-time control of the shared state (cairn-control; daemon/remote.c).
 * Safe while workers answer: local zones take a write lock, the cache
 * its shard locks.  Edits last until the next reload, which rebuilds
 * the shared state or resets them (res_shared_edits_reset).  Functions
 * returning int give 0, or -1 with the reason in err[errlen].
 */
/* list_local_zones: "NAME TYPE" lines; list_local_data: RR lines. */
void res_shared_local_zones_list(struct res_shared *sh, FILE *out);
int res_shared_local_data_list(struct res_shared *sh, FILE *out);
/* local_zone NAME TYPE; local_zone_remove NAME (1: there was none). */
int res_shared_local_zone_add(struct res_shared *sh, const char *name,
    const char *type, char *err, size_t errlen);
int res_shared_local_zone_remove(struct res_shared *sh, const char *name,
    char *err, size_t errlen);
/* local_data "RR text"; local_data_remove NAME. */
int res_shared_local_data_add(struct res_shared *sh, const char *rr,
    char *err, size_t errlen);
int res_shared_local_data_remove(struct res_shared *sh, const char *name,
    char *err, size_t errlen);
/* dump_cache: the text format of doc/control-protocol.md, "EOF" last.
 * Returns the number of messages written. */
size_t res_shared_cache_dump(struct res_shared *sh, FILE *out);
/* load_cache: read that format; *loaded gets the messages inserted. */
int res_shared_cache_load(struct res_shared *sh, FILE *in, size_t *loaded,
    char *err, size_t errlen);

#endif
