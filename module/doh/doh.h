/*
 * module/doh/doh.h - DNS over HTTPS (RFC 8484) as a comm-point module.
 *
 * doh_h2_proto speaks HTTP/2 through nghttp2 (one session a connection,
 * one struct doh_stream a request).  The request rules (method, path,
 * ?dns=, content-type, content-length, the status to answer) are pure
 * functions in request.h, shared with HTTP/1.1.  Query and response
 * buffers are counted in the two budgets of struct doh_shared
 * (http-query-buffer-size, http-response-buffer-size), which all workers
 * share: mem.http.query_buffer and mem.http.response_buffer.
 * doh_h1_proto speaks HTTP/1.1 on the same rules (h1.c), doh_detect_proto
 * picks one of the two on a clear-text port.
 */
#ifndef CAIRN_MODULE_DOH_DOH_H
#define CAIRN_MODULE_DOH_DOH_H

#include <stddef.h>
#include "comm/comm.h"
#include "util/budget.h"
#include "util/netblock.h"

struct config;

struct doh_shared {
	struct budget query_budget;	/* http-query-buffer-size */
	struct budget response_budget;	/* http-response-buffer-size */
	char *endpoint;			/* http-endpoint */
	size_t max_query;		/* 512 with harden-large-queries,
					   else msg-buffer-size */
	unsigned max_streams;		/* http-max-streams */
	int idle_timeout_msec;		/* tcp-idle-timeout */
	struct netblock_set trusted;	/* http-trusted-proxy (may be
					   empty) */
};

struct doh_shared *doh_shared_new(const struct config *cfg);
void doh_shared_free(struct doh_shared *d);

/* HTTP/2 over TLS (ALPN "h2") or clear text with prior knowledge. */
extern const struct comm_proto doh_h2_proto;

/* HTTP/1.1 (and 1.0) over TLS (ALPN "http/1.1") or clear text (h1.c). */
extern const struct comm_proto doh_h1_proto;

/*
 * Clear text (http-notls-downstream) or TLS without ALPN: reads the
 * first bytes and hands the connection to doh_h2_proto when they are
 * the HTTP/2 preface (prior knowledge), else to doh_h1_proto (h1.c).
 */
extern const struct comm_proto doh_detect_proto;

#endif
