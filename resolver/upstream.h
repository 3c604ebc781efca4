/*
 * resolver/upstream.h - private to resolver/: encrypted upstream
 * connections for forward.c (DNS over TLS, DNS over HTTPS/2).
 *
 * A struct ups_pool is one per worker (inside struct outside), on the
 * worker's event_base.  It keeps at most one connection per upstream
 * (address, port, auth name, transport) and sends many queries over it:
 * DoT pipelines them with 2-byte framing and matches answers by ID;
 * DoH opens one HTTP/2 stream per query (POST application/dns-message),
 * at most the server's SETTINGS_MAX_CONCURRENT_STREAMS at once, queueing
 * the rest.  A connection is made when first needed, kept while it works
 * and closed after UPS_IDLE_MSEC without queries, after GOAWAY (once its
 * streams are done) or on any error.  A connection that fails before it
 * answered anything (refused, TLS or certificate failure, set-up timed
 * out) marks the address down in the worker's backoff table
 * (backoff.h); a new connection to an address that is down is not made
 * before its time is over: the queries wait for it on the connection
 * (state UPS_C_WAIT), so a dead upstream gets one connection attempt
 * per back-off interval, not one per query.
 *
 * Bounds (per connection): UPS_MAX_QUEUED queries waiting or in flight,
 * UPS_MAX_OUTBUF bytes of unsent output.  Past them ups_query fails at
 * once and the caller tries its next upstream.
 *
 * Certificates are checked against tls-cert-bundle (or the system
 * bundle) and the auth name (or the IP when no #name): a failed check is
 * a failed connection.  There is never a fallback to clear text.
 * This file does not time queries out: the caller does (ups_req_cancel).
 */
#ifndef CAIRN_RESOLVER_UPSTREAM_H
#define CAIRN_RESOLVER_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include "resolver/forward.h"

#define UPS_IDLE_MSEC		10000	/* close an unused connection */
#define UPS_MAX_QUEUED		1024	/* queries per connection */
#define UPS_MAX_OUTBUF		(256 * 1024)	/* unsent bytes per connection */

struct backoff;
struct event_base;
struct stats;
struct ups_pool;
struct ups_req;

enum ups_result {
	UPS_OK = 0,		/* pkt, len: the answer */
	UPS_FAIL,		/* this upstream failed: try the next */
	UPS_RETRY		/* a reused connection dropped before the
				   answer, or the server refused the stream
				   (GOAWAY): the same upstream may be tried
				   again on a new connection (forward.c: at
				   most FWD_UPS_MAX_RETRY times) */
};

/*
 * Called once per ups_query unless cancelled; pkt is borrowed for the
 * call.  The request is gone when this runs.
 */
typedef void (*ups_done_cb)(void *arg, enum ups_result res,
    const uint8_t *pkt, size_t len);

/* An SSL_CTX (as void *) verifying against 'bundle' ("" or NULL: the
 * system's default paths), TLS 1.2 or later.  NULL with the reason
 * logged. */
void *ups_tls_ctx_new(const char *bundle);
void ups_tls_ctx_free(void *ctx);

/* 'bo' (borrowed, outlives the pool) is the worker's backoff table. */
struct ups_pool *ups_pool_new(struct event_base *base, struct stats *st,
    struct backoff *bo);
/* Closes every connection; no callback is called. */
void ups_pool_free(struct ups_pool *p);
/* New connections are bound to an address of 'src' (outgoing-interface;
 * borrowed, outlives p). */
struct out_src;
void ups_pool_set_src(struct ups_pool *p, struct out_src *src);

/*
 * Send 'query' (qlen bytes, a full DNS message) to 'a' over 't' (FWD_DOT
 * or FWD_DOH, 'endpoint' the HTTP path).  The message ID is written into
 * query[0..1] first (a free ID on the DoT connection, 0 for DoH): the
 * answer matches that ID.  Returns the request, or NULL (no callback)
 * when the connection cannot be made or its queue is full.
 */
struct ups_req *ups_query(struct ups_pool *p, void *tls_ctx,
    const struct fwd_addr *a, enum fwd_transport t, const char *endpoint,
    uint8_t *query, size_t qlen, ups_done_cb cb, void *arg);
/* Forget a request: no callback. */
void ups_req_cancel(struct ups_req *r);

/*
 * mem.http.upstream: bytes buffered right now by all DoH upstream
 * connections of all workers: the query of each DoH request from when it
 * is queued until it is answered, failed or cancelled; the response
 * body being assembled on each stream; and the connection's output
 * buffer (HTTP/2 frames taken from nghttp2 and not yet written to TLS;
 * freed when it has all been written).  nghttp2's and OpenSSL's own
 * session memory is not in it.  0 when no DoH query is in progress.
 */
size_t ups_http_mem_used(void);

#endif
