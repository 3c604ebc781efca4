/*
 * resolver/upstream_int.h - private to upstream_tls.c and upstream_h2.c:
 * the connection and request structures and the calls between the TLS
 * layer (upstream_tls.c: sockets, handshake, certificate checks, DoT
 * framing) and the HTTP/2 layer (upstream_h2.c: nghttp2 client session).
 * Nothing outside those two files includes this.
 */
#ifndef CAIRN_RESOLVER_UPSTREAM_INT_H
#define CAIRN_RESOLVER_UPSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/ssl.h>

#include "resolver/upstream.h"
#include "util/budget.h"

#define UPS_CONNECT_MSEC	5000	/* TCP connect + TLS handshake */
#define UPS_MAX_ANSWER		65535	/* DoH body / DoT message */
#define UPS_WARN_SEC		10	/* certificate warnings, per worker */
#define UPS_MAX_SESS		16	/* TLS sessions kept for resumption */

/* A TLS session to resume with the same upstream (address, auth name). */
struct ups_sess {
	struct sockaddr_storage ss;
	socklen_t len;
	char auth[256];
	SSL_SESSION *sess;		/* NULL: free slot */
};

struct event;
struct ups_conn;

struct ups_req {
	struct ups_conn *c;
	struct ups_req *prev, *next;	/* c->reqs, in order of arrival */
	ups_done_cb cb;
	void *arg;
	uint16_t id;			/* DoT: the ID on the wire */
	bool sent;			/* DoT: framed into the output;
					   DoH: its stream was submitted */
	int32_t stream_id;		/* DoH, once sent */
	int status;			/* DoH: HTTP :status */
	size_t q_off;			/* DoH: body bytes handed to nghttp2 */
	uint64_t answers;		/* c->answers when it was queued */
	uint8_t *ans;			/* DoH: response body so far */
	size_t ans_len;			/* its size, charged to ups_http_mem */
	size_t mem;			/* DoH: qlen, charged to ups_http_mem */
	size_t qlen;
	uint8_t q[];			/* the query */
};

enum ups_conn_state {
	UPS_C_WAIT,			/* the address is down: no socket
					   yet, the timer starts the connect */
	UPS_C_CONNECT,			/* TCP connect in progress */
	UPS_C_HANDSHAKE,		/* TLS handshake */
	UPS_C_OPEN,
	UPS_C_DEAD			/* failed or closing; freed later */
};

struct ups_pool {
	struct event_base *base;
	struct stats *st;
	struct backoff *bo;		/* borrowed: forward.c's */
	struct out_src *src;		/* borrowed: outgoing-interface */
	struct ups_conn *conns;
	time_t last_warn;		/* last certificate warning */
	struct ups_sess sess[UPS_MAX_SESS];
	size_t sess_next;		/* slot replaced next */
};

struct ups_conn {
	struct ups_pool *pool;
	struct ups_conn *prev, *next;	/* pool->conns */
	SSL_CTX *ctx;			/* borrowed (the table's) */
	struct fwd_addr addr;
	enum fwd_transport t;
	char endpoint[256];
	char authority[300];		/* auth name or IP ([IPv6]) */
	enum ups_conn_state state;
	bool reusable;			/* new queries may be sent on it */
	bool answered;			/* at least one answer arrived */
	bool opened;			/* the handshake completed */
	bool sess_saved;		/* session kept after the first read */
	int busy;			/* inside conn_io: no free, no flush */
	uint64_t answers;		/* answers delivered on it */
	int fd;
	SSL *ssl;
	struct event *ev_read, *ev_write, *timer;
	struct ups_req *reqs;		/* queued and in flight */
	size_t nreqs;
	uint8_t *out;			/* unsent output (bounded) */
	size_t out_len, out_cap, out_off;
	/* DoT: the message being read */
	uint8_t lenbuf[2];
	size_t frame_len, frame_have;	/* have counts the length bytes */
	uint8_t *frame;			/* UPS_MAX_ANSWER bytes, once open */
	/* DoH */
	void *h2;			/* nghttp2_session */
	size_t h2_streams;		/* streams open */
	bool goaway;
};

/*
 * mem.http.upstream: bytes held by the DoH upstream connections of all
 * workers (see ups_http_mem_used in upstream.h).  Charged with
 * budget_reserve (no limit: the bounds are per connection) where the
 * bytes are allocated, released with the stored size where freed.
 */
extern struct budget ups_http_mem;

/* Append to the connection's output; -1 past UPS_MAX_OUTBUF. */
int ups_conn_out_append(struct ups_conn *c, const uint8_t *p, size_t n);
/* Take r off its connection, call back with (res, pkt, len), free it. */
void ups_req_finish(struct ups_req *r, enum ups_result res,
    const uint8_t *pkt, size_t len);
/* Mark c failed: not reused; closed and its requests failed by the I/O
 * loop (or now when not inside it). */
void ups_conn_fail(struct ups_conn *c, const char *why);

/* upstream_h2.c; all return 0 or -1 (the connection is then failed). */
int ups_h2_start(struct ups_conn *c);		/* session, SETTINGS */
void ups_h2_free(struct ups_conn *c);
int ups_h2_submit(struct ups_conn *c);		/* queued -> streams */
int ups_h2_recv(struct ups_conn *c, const uint8_t *p, size_t n);
int ups_h2_send(struct ups_conn *c);		/* frames -> c->out */
void ups_h2_cancel(struct ups_conn *c, struct ups_req *r);
/* Nothing left to do on the session (GOAWAY done, no streams). */
bool ups_h2_finished(struct ups_conn *c);

#endif
