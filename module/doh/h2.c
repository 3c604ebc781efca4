/*
 * module/doh/h2.c - DNS over HTTPS on HTTP/2: doh_h2_proto, the comm
 * proto table that glues nghttp2 to the request rules (request.c), the
 * resolver (res_submit/res_cancel) and the buffer budgets (doh.h).
 *
 * One nghttp2 server session per connection, created in open(); one
 * struct doh_stream per request, the owner of its query and response
 * buffers (reserved from the budgets before allocation, released by the
 * stored size).  This file does not open sockets, parse DNS (max-age
 * is the resolver's res_answer_min_ttl) or decide HTTP statuses itself:
 * nghttp2's own HTTP messaging checks are off, request.c's rules apply
 * (so a body past its content-length gets 413, not PROTOCOL_ERROR).
 * An error status is sent when the client has ended its request; the
 * rest of such a request's body is read and dropped.
 *
 * Limits chosen here (see also request.h):
 *   SETTINGS_MAX_CONCURRENT_STREAMS = http-max-streams; a HEADERS frame
 *     that opens a stream over it gets RST_STREAM(REFUSED_STREAM), before
 *     and after the peer acknowledged the SETTINGS, and the connection
 *     goes on (see doh_settings_patch for how nghttp2 is kept from
 *     making that a connection error).
 *   SETTINGS_MAX_HEADER_LIST_SIZE = DOH_HEADER_LIST_BASE (8 KiB) plus
 *     room for the longest GET :path the query limit allows ("endpoint?
 *     dns=" and the base64url of max_query bytes), at most 64 KiB:
 *     8893 bytes with harden-large-queries, 65536 with msg-buffer-size
 *     65552; and at most DOH_MAX_HEADERS (32) fields a request.  A :path
 *     that passes the list size gets 414 (so with the defaults a dns= of
 *     about 57-64 KiB, a query of 43-48 KiB, gets 414 although smaller
 *     than msg-buffer-size: nghttp2 cannot take a header field over
 *     64 KiB at all and ends the connection with COMPRESSION_ERROR);
 *     any other excess resets the stream with ENHANCE_YOUR_CALM.
 *   Rapid reset: nghttp2's stream reset rate limit (burst 1000, 33/s)
 *     when available, else 1000 RST_STREAMs received a connection; both
 *     end in GOAWAY.  SETTINGS/PING floods: nghttp2's outbound ACK limit.
 *   Busy (comm_conn_set_busy) while a query is with the resolver; a
 *     stream that waits for the client (unfinished request, closed
 *     flow-control window) does not keep the connection from idling
 *     out: tcp-idle-timeout then sends GOAWAY(NO_ERROR) and closes.
 *     Only request and response frames restart that timer: a peer
 *     that sends PINGs, SETTINGS or WINDOW_UPDATEs alone idles out.
 *   A query is counted in num.query.https, num.query.tcp and, over TLS,
 *     num.query.tls (as Unbound); every RST_STREAM and GOAWAY we send in
 *     num.http.rst.sent / num.http.goaway.sent, every RST_STREAM received
 *     in num.http.rst.received, every response in num.http.status.NNN
 *     when its HEADERS frame is sent.
 *   From a peer in http-trusted-proxy, Forwarded / X-Forwarded-For /
 *     X-Real-IP give the client address handed to the resolver
 *     (doh_fwd_client in request.c); from others they are ignored.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "comm/comm.h"
#include "dns/wire.h"
#include "module/doh/doh.h"
#include "module/doh/h2mem.h"
#include "module/doh/request.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/budget.h"
#include "util/log.h"
#include "util/stats.h"

#define DOH_HEADER_LIST_BASE	8192	/* header list without the dns= */
#define DOH_HEADER_LIST_MAX	65536	/* nghttp2 refuses longer fields */
#define DOH_MAX_HEADERS		32	/* header fields a request */
#define DOH_HEADER_OVERHEAD	32	/* RFC 9113 6.5.2 per-field cost */
#define DOH_RST_BURST		1000	/* RST_STREAMs received: burst */
#define DOH_RST_RATE		33	/* ... and refill a second */
#define DOH_RST_MAX_CONN	1000	/* fallback: a connection's total */
#define DOH_MAX_OUTBOUND_ACK	1000	/* queued SETTINGS/PING ACKs */
#define DOH_MAX_SETTINGS	32	/* entries in one SETTINGS frame */
#define DOH_DEFLATE_TABLE	4096	/* our HPACK encoder table */

struct doh_conn;

/* One request. Owned by its connection's list; freed by doh_stream_free. */
struct doh_stream {
	struct doh_conn *conn;
	struct doh_stream *prev, *next;
	int32_t id;

	/* headers, borrowed from nghttp2's buffers while we hold a ref */
	struct doh_req req;
	nghttp2_rcbuf *rc_path, *rc_ctype, *rc_clen;
	/* Forwarded / X-Forwarded-For / X-Real-IP, kept only when the
	 * peer is a trusted proxy; fwd points into these */
	struct doh_fwd fwd;
	nghttp2_rcbuf *rc_fwd[DOH_FWD_KINDS][DOH_FWD_MAX];
	/* the client address given to the resolver (the peer, or the
	 * forwarded one from a trusted proxy) */
	struct sockaddr_storage client;
	socklen_t clientlen;
	unsigned nheaders;
	size_t header_bytes;
	struct doh_req_plan plan;

	/* query buffer: qbuf_n bytes reserved from the query budget */
	uint8_t *qbuf;
	size_t qbuf_n;
	size_t qlen;
	/* response buffer: rbuf_n bytes reserved from the response budget */
	uint8_t *rbuf;
	size_t rbuf_n;
	size_t rpos;

	struct res_req *res;	/* pending resolver request, or NULL */
	int status;		/* status submitted, 0 = none yet */
	int fail_status;	/* error status to send at END_STREAM */
	bool status_counted;
	bool headers_done;
	bool remote_closed;	/* the client sent END_STREAM */
	bool submitted;		/* handed to the resolver */
	bool answered;		/* the resolver called back */
	bool dead;		/* reset or answered: ignore more input */
};

/* The per-connection state (comm allocates it zeroed). */
struct doh_conn {
	struct comm_conn *c;
	struct module_env *env;
	struct doh_shared *sh;
	struct stats *st;
	nghttp2_session *sess;
	struct doh_h2_mem_rec mrec;	/* the session's frame buffer */
	struct doh_stream *streams;
	struct doh_stream *last;	/* the stream doh_stream_get found
					   last (callbacks come in runs for
					   one stream), or NULL */
	unsigned nstreams;
	unsigned nresolving;	/* streams with a resolver request */
	unsigned rst_recv;
	uint32_t max_header_list;	/* SETTINGS_MAX_HEADER_LIST_SIZE */
	bool peer_trusted;	/* the peer is an http-trusted-proxy */
	bool settings_sent;	/* our first SETTINGS frame went out */
	bool in_recv;		/* inside nghttp2_session_mem_recv */
	bool close_asked;
	bool closing;		/* in the close callback */
};

/* ------------------------------------------------------------ buffers */

/*
 * The one way a stream gets a counted buffer: reserve n from 'b', then
 * allocate; *stored gets n, which doh_buf_free gives back.  NULL (nothing
 * reserved) when the budget is full or memory is short.
 */
static uint8_t *
doh_buf_new(struct doh_conn *conn, struct budget *b, size_t n,
    size_t *stored)
{
	uint8_t *p;

	if (budget_reserve(b, n) != 0)
		return NULL;
	p = doh_h2_mem_alloc(&conn->mrec, n ? n : 1);
	if (p == NULL) {
		budget_release(b, n);
		return NULL;
	}
	*stored = n;
	return p;
}

static void
doh_buf_free(struct doh_conn *conn, struct budget *b, uint8_t **p,
    size_t *stored)
{
	if (*p == NULL)
		return;
	doh_h2_mem_free(&conn->mrec, *p);
	budget_release(b, *stored);
	*p = NULL;
	*stored = 0;
}

static void
doh_stream_free_query(struct doh_stream *s)
{
	doh_buf_free(s->conn, &s->conn->sh->query_budget, &s->qbuf,
	    &s->qbuf_n);
	s->qlen = 0;
}

static void
doh_stream_drop_fwd(struct doh_stream *s)
{
	int k;
	unsigned i;

	for (k = 0; k < DOH_FWD_KINDS; k++) {
		for (i = 0; i < s->fwd.n[k]; i++)
			nghttp2_rcbuf_decref(s->rc_fwd[k][i]);
		s->fwd.n[k] = 0;
	}
}

static void
doh_stream_drop_headers(struct doh_stream *s)
{
	if (s->rc_path)
		nghttp2_rcbuf_decref(s->rc_path);
	if (s->rc_ctype)
		nghttp2_rcbuf_decref(s->rc_ctype);
	if (s->rc_clen)
		nghttp2_rcbuf_decref(s->rc_clen);
	s->rc_path = s->rc_ctype = s->rc_clen = NULL;
	doh_stream_drop_fwd(s);
	s->req.path = s->req.content_type = s->req.content_length = NULL;
	s->req.has_path = false;
	s->plan.dns = NULL;
}

/*
 * The connection is busy (the idle timer waits) while a query of it is
 * being resolved: that is our work.  Streams waiting for the client (a
 * request not finished, a response the client's flow-control window
 * holds back) do not keep it open, so a stalled peer is closed by
 * tcp-idle-timeout like any idle one.
 */
static void
doh_conn_update_busy(struct doh_conn *conn)
{
	if (!conn->closing)
		comm_conn_set_busy(conn->c, conn->nresolving > 0);
}

/* Forget the stream's resolver request; cancel it if 'cancel'. */
static void
doh_stream_clear_res(struct doh_stream *s, bool cancel)
{
	if (s->res == NULL)
		return;
	if (cancel)
		res_cancel(s->res);
	s->res = NULL;
	s->conn->nresolving--;
	doh_conn_update_busy(s->conn);
}

/*
 * Free a stream: cancel its resolver request, release both buffers by
 * their stored sizes, drop header references, unlink it.
 */
static void
doh_stream_free(struct doh_conn *conn, struct doh_stream *s)
{
	if (conn->last == s)
		conn->last = NULL;
	doh_stream_clear_res(s, true);
	doh_stream_free_query(s);
	doh_buf_free(conn, &conn->sh->response_budget, &s->rbuf, &s->rbuf_n);
	doh_stream_drop_headers(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		conn->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	conn->nstreams--;
	doh_h2_mem_free(&conn->mrec, s);
}

/* ------------------------------------------------------------ output */

/*
 * num.http.status.NNN, through the list in stats.h.  (Not
 * stats_http_status: that lives in daemon/stats.c, which would drag the
 * daemon into every program that links this module.)
 */
static void
doh_count_status(struct stats *st, int code)
{
	switch (code) {
#define DOH_STATUS_CASE(n) \
	case n: \
		STAT_ADD_FIELD(st->http_status[STAT_HTTP_##n], 1); \
		break;
	STATS_HTTP_STATUSES(DOH_STATUS_CASE)
#undef DOH_STATUS_CASE
	default:
		break;
	}
}

/*
 * Our first frame is the SETTINGS frame doh_h2_open submitted:
 * MAX_CONCURRENT_STREAMS = DOH_NGHTTP2_STREAMS, MAX_HEADER_LIST_SIZE.
 * nghttp2 turns a stream over an acknowledged MAX_CONCURRENT_STREAMS
 * into a connection error (GOAWAY PROTOCOL_ERROR); the seed wants that
 * one stream refused (RST_STREAM REFUSED_STREAM, which RFC 9113 5.1.2
 * also allows) and the others served.  So nghttp2 is given no limit,
 * http-max-streams is written into the frame as it leaves, and
 * doh_begin_headers_cb enforces it.  Returns true if 'f' (the first
 * DOH_SETTINGS_LEN bytes sent) was that frame and was patched.
 */
#define DOH_SETTINGS_LEN	(9 + 2 * 6)
#define DOH_NGHTTP2_STREAMS	0xffffffffu

static bool
doh_settings_patch(uint8_t *f, uint32_t max_streams, uint32_t max_hlist)
{
	const uint8_t want[DOH_SETTINGS_LEN] = {
		0, 0, 12, NGHTTP2_SETTINGS, 0, 0, 0, 0, 0,
		0, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
		0xff, 0xff, 0xff, 0xff,
		0, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		(uint8_t)(max_hlist >> 24), (uint8_t)(max_hlist >> 16),
		(uint8_t)(max_hlist >> 8), (uint8_t)max_hlist
	};

	if (memcmp(f, want, DOH_SETTINGS_LEN) != 0)
		return false;
	f[11] = (uint8_t)(max_streams >> 24);
	f[12] = (uint8_t)(max_streams >> 16);
	f[13] = (uint8_t)(max_streams >> 8);
	f[14] = (uint8_t)max_streams;
	return true;
}

static ssize_t
doh_send_cb(nghttp2_session *sess, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct doh_conn *conn = arg;
	struct iovec iov[2];
	uint8_t first[DOH_SETTINGS_LEN];
	const uint8_t *orig = data;
	int rv, n = 0;

	(void)sess;
	(void)flags;
	if (comm_conn_pending(conn->c) > COMM_OUT_MARK) {
		comm_conn_want_writable(conn->c);
		return NGHTTP2_ERR_WOULDBLOCK;
	}
	if (!conn->settings_sent) {
		if (len >= DOH_SETTINGS_LEN) {
			memcpy(first, data, DOH_SETTINGS_LEN);
			if (doh_settings_patch(first, conn->sh->max_streams,
			    conn->max_header_list)) {
				iov[n].iov_base = first;
				iov[n++].iov_len = DOH_SETTINGS_LEN;
				data += DOH_SETTINGS_LEN;
				len -= DOH_SETTINGS_LEN;
			}
		}
		if (n == 0)	/* cannot happen with nghttp2 as we use it */
			log_err("doh: first frame is not our SETTINGS: "
			    "http-max-streams not advertised");
	}
	if (len > 0 || n == 0) {
		iov[n].iov_base = (void *)(uintptr_t)data;
		iov[n++].iov_len = len;
	}
	rv = comm_conn_write(conn->c, iov, n);
	if (rv == -ENOBUFS) {
		comm_conn_want_writable(conn->c);
		return NGHTTP2_ERR_WOULDBLOCK;
	}
	if (rv < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	conn->settings_sent = true;
	return (ssize_t)(len + (data != orig ? DOH_SETTINGS_LEN : 0));
}

static void
doh_conn_close(struct doh_conn *conn, bool graceful)
{
	if (conn->close_asked)
		return;
	conn->close_asked = true;
	comm_conn_close(conn->c, graceful);
}

/*
 * Let nghttp2 write what it has; close when the session is done (both
 * sides said GOAWAY or a fatal error).  Never called inside nghttp2.
 */
static int
doh_conn_flush(struct doh_conn *conn)
{
	int rv;

	if (conn->sess == NULL || conn->in_recv || conn->closing)
		return 0;
	rv = nghttp2_session_send(conn->sess);
	if (rv != 0) {
		verbose(VERB_QUERY, "doh: %s: send: %s",
		    comm_conn_peer_str(conn->c), nghttp2_strerror(rv));
		doh_conn_close(conn, false);
		return 0;
	}
	if (!nghttp2_session_want_read(conn->sess) &&
	    !nghttp2_session_want_write(conn->sess))
		doh_conn_close(conn, true);
	return 0;
}

static void
doh_stream_reset(struct doh_conn *conn, struct doh_stream *s, uint32_t code)
{
	doh_stream_clear_res(s, true);
	s->dead = true;
	doh_stream_free_query(s);
	nghttp2_submit_rst_stream(conn->sess, NGHTTP2_FLAG_NONE, s->id, code);
}

#define DOH_NV(n, v, vlen) { (uint8_t *)(uintptr_t)(n), \
	(uint8_t *)(uintptr_t)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE }

/* Send the error status decided earlier: empty body, END_STREAM on
 * the HEADERS. */
static void
doh_stream_send_error(struct doh_conn *conn, struct doh_stream *s)
{
	char code[8];
	int n = snprintf(code, sizeof(code), "%d", s->fail_status);
	nghttp2_nv nva[2] = {
		DOH_NV(":status", code, (size_t)n),
		DOH_NV("content-length", "0", 1),
	};

	s->status = s->fail_status;
	if (nghttp2_submit_response(conn->sess, s->id, nva, 2, NULL) != 0)
		doh_stream_reset(conn, s, NGHTTP2_INTERNAL_ERROR);
}

/*
 * The request earns an error status.  Its query buffer goes now and the
 * rest of its body is read and dropped; the status is sent once the
 * client has ended the request (as Unbound does), because a client that
 * gets a complete response while it uploads may stop sending and wait
 * (curl 7.88), while RST_STREAM(NO_ERROR) after the response makes it
 * report an error instead of the status.  A client that never ends the
 * request holds no resolver work: tcp-idle-timeout ends it.
 */
static void
doh_stream_fail(struct doh_conn *conn, struct doh_stream *s, int status)
{
	verbose(VERB_QUERY, "doh: %s: stream %d: %d %s",
	    comm_conn_peer_str(conn->c), (int)s->id, status,
	    doh_req_status_text(status));
	s->dead = true;
	s->fail_status = status;
	doh_stream_free_query(s);
	if (s->remote_closed)
		doh_stream_send_error(conn, s);
}

static ssize_t
doh_read_cb(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct doh_stream *s = src->ptr;
	size_t left = s->rbuf_n - s->rpos;

	(void)sess;
	(void)id;
	(void)arg;
	if (len > left)
		len = left;
	if (len > 0)
		memcpy(buf, s->rbuf + s->rpos, len);
	s->rpos += len;
	if (s->rpos == s->rbuf_n)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)len;
}

/* Decimal digits of 'v' into 'out' (room for 20, no NUL); returns the
 * length.  snprintf cost more than the rest of a cached answer. */
static size_t
doh_fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* The resolver's answer (or ans_len 0: drop). */
static void
doh_answer_cb(void *arg, const uint8_t *ans, size_t ans_len)
{
	struct doh_stream *s = arg;
	struct doh_conn *conn = s->conn;
	char clen[24], cc[48];
	size_t ccn;
	bool tailored = res_answer_tailored(conn->env->res);
	int64_t min_ttl = res_answer_min_ttl(conn->env->res, ans, ans_len);
	nghttp2_nv nva[4] = {
		DOH_NV(":status", "200", 3),
		DOH_NV("content-type", "application/dns-message", 23),
	};
	size_t nv = 2;
	nghttp2_data_provider prd;

	doh_stream_clear_res(s, false);
	s->answered = true;
	if (s->dead)
		goto out;
	if (ans_len == 0) {
		doh_stream_reset(conn, s, NGHTTP2_REFUSED_STREAM);
		goto out;
	}
	s->rbuf = doh_buf_new(conn, &conn->sh->response_budget, ans_len,
	    &s->rbuf_n);
	if (s->rbuf == NULL) {
		verbose(VERB_QUERY, "doh: %s: stream %d: response buffer "
		    "limit reached", comm_conn_peer_str(conn->c), (int)s->id);
		doh_stream_reset(conn, s, NGHTTP2_REFUSED_STREAM);
		goto out;
	}
	memcpy(s->rbuf, ans, ans_len);
	s->rpos = 0;
	doh_stream_free_query(s);
	s->dead = true;		/* nothing more to read for this stream */
	s->status = 200;

	nva[nv++] = (nghttp2_nv)DOH_NV("content-length", clen,
	    doh_fmt_u64(clen, (uint64_t)ans_len));
	ccn = doh_req_cache_control(cc, sizeof(cc), min_ttl, tailored);
	if (ccn > 0)
		nva[nv++] = (nghttp2_nv)DOH_NV("cache-control", cc, ccn);
	prd.source.ptr = s;
	prd.read_callback = doh_read_cb;
	if (nghttp2_submit_response(conn->sess, s->id, nva, nv, &prd) != 0)
		doh_stream_reset(conn, s, NGHTTP2_INTERNAL_ERROR);
out:
	doh_conn_flush(conn);	/* no-op inside mem_recv */
}

/* ------------------------------------------------------------ input */

static void
doh_stream_submit(struct doh_conn *conn, struct doh_stream *s)
{
	struct res_client client;
	struct res_req *req;
	bool tls = comm_conn_is_tls(conn->c);

	STAT_INC(conn->st, QUERY_HTTPS);
	STAT_INC(conn->st, QUERY_TCP);
	if (tls)
		STAT_INC(conn->st, QUERY_TLS);
	memset(&client, 0, sizeof(client));
	client.addr = (const struct sockaddr *)&s->client;
	client.addrlen = s->clientlen;
	client.stream = true;
	client.encrypted = tls;
	s->submitted = true;
	req = res_submit(conn->env->res, s->qbuf, s->qlen, &client,
	    doh_answer_cb, s);
	if (s->answered)
		return;		/* answered at once; s may hold the answer */
	if (req == NULL) {
		doh_stream_reset(conn, s, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	s->res = req;
	conn->nresolving++;
	doh_conn_update_busy(conn);
}

/* All request headers are in: apply the header rules, size the buffer. */
static void
doh_stream_headers_done(struct doh_conn *conn, struct doh_stream *s)
{
	struct doh_shared *sh = conn->sh;
	int rv;

	s->headers_done = true;
	{
		socklen_t plen = 0;
		const struct sockaddr *peer = comm_conn_peer(conn->c, &plen);

		if (doh_fwd_client(&sh->trusted, peer, plen, &s->fwd,
		    &s->client, &s->clientlen))
			verbose(VERB_ALGO, "doh: %s: stream %d: forwarded "
			    "client address used", comm_conn_peer_str(conn->c),
			    (int)s->id);
	}
	rv = doh_req_check_headers(&s->req, sh->endpoint, sh->max_query,
	    &s->plan);
	if (rv != 0) {
		doh_stream_drop_headers(s);
		doh_stream_fail(conn, s, rv);
		return;
	}
	if (s->req.method == DOH_METHOD_GET) {
		s->qbuf = doh_buf_new(conn, &sh->query_budget,
		    s->plan.query_size, &s->qbuf_n);
		if (s->qbuf == NULL) {
			doh_stream_drop_headers(s);
			doh_stream_reset(conn, s, NGHTTP2_REFUSED_STREAM);
			return;
		}
		rv = doh_req_decode_get(&s->plan, s->qbuf, s->qbuf_n);
		doh_stream_drop_headers(s);
		if (rv != 0) {
			doh_stream_fail(conn, s, rv);
			return;
		}
		s->qlen = s->qbuf_n;
		return;
	}
	doh_stream_drop_headers(s);
	if (s->plan.has_content_length) {
		if (s->plan.query_size == 0) {
			doh_stream_fail(conn, s, 400);
			return;
		}
		s->qbuf = doh_buf_new(conn, &sh->query_budget,
		    s->plan.query_size, &s->qbuf_n);
		if (s->qbuf == NULL)
			doh_stream_reset(conn, s, NGHTTP2_REFUSED_STREAM);
	}
}

/* The client finished its request (END_STREAM). */
static void
doh_stream_end(struct doh_conn *conn, struct doh_stream *s)
{
	int rv;

	s->remote_closed = true;
	if (s->fail_status != 0 && s->status == 0) {
		doh_stream_send_error(conn, s);
		return;
	}
	if (s->dead || s->submitted)
		return;
	if (s->req.method == DOH_METHOD_POST) {
		rv = doh_req_body_final(s->qbuf ? s->qlen : 0,
		    s->plan.has_content_length, s->plan.query_size);
		if (rv != 0) {
			doh_stream_fail(conn, s, rv);
			return;
		}
	}
	if (s->qbuf == NULL) {	/* cannot happen: GET sized at headers */
		doh_stream_fail(conn, s, 400);
		return;
	}
	doh_stream_submit(conn, s);
}

static struct doh_stream *
doh_stream_get(struct doh_conn *conn, int32_t id)
{
	struct doh_stream *s;

	if (conn->last != NULL && conn->last->id == id)
		return conn->last;
	s = nghttp2_session_get_stream_user_data(conn->sess, id);
	if (s != NULL)
		conn->last = s;
	return s;
}

static int
doh_begin_headers_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    void *arg)
{
	struct doh_conn *conn = arg;
	struct doh_stream *s;
	int32_t id = frame->hd.stream_id;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (conn->nstreams >= conn->sh->max_streams ||
	    (s = doh_h2_mem_zalloc(&conn->mrec, sizeof(*s))) == NULL) {
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id,
		    NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	s->conn = conn;
	s->id = id;
	s->next = conn->streams;
	if (conn->streams)
		conn->streams->prev = s;
	conn->streams = s;
	conn->nstreams++;
	nghttp2_session_set_stream_user_data(sess, id, s);
	return 0;
}

/* Keep one reference to a header value; the first one wins. */
static void
doh_keep(nghttp2_rcbuf **slot, nghttp2_rcbuf *v, const char **p, size_t *len)
{
	nghttp2_vec vec;

	if (*slot != NULL)
		nghttp2_rcbuf_decref(*slot);
	nghttp2_rcbuf_incref(v);
	*slot = v;
	vec = nghttp2_rcbuf_get_buf(v);
	*p = (const char *)vec.base;
	*len = vec.len;
}

/* Keep a forwarding header value (only from a trusted proxy). */
static void
doh_keep_fwd(struct doh_stream *s, int k, nghttp2_rcbuf *v)
{
	nghttp2_vec vec = nghttp2_rcbuf_get_buf(v);

	if (s->fwd.n[k] == DOH_FWD_MAX) {	/* doh_fwd_add drops [0] */
		nghttp2_rcbuf_decref(s->rc_fwd[k][0]);
		memmove(&s->rc_fwd[k][0], &s->rc_fwd[k][1],
		    (DOH_FWD_MAX - 1) * sizeof(s->rc_fwd[k][0]));
	}
	nghttp2_rcbuf_incref(v);
	doh_fwd_add(&s->fwd, k, (const char *)vec.base, vec.len);
	s->rc_fwd[k][s->fwd.n[k] - 1] = v;
}

static bool
doh_name_is(nghttp2_vec n, const char *want)
{
	size_t l = strlen(want);

	return n.len == l && memcmp(n.base, want, l) == 0;
}

static int
doh_header_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    nghttp2_rcbuf *name, nghttp2_rcbuf *value, uint8_t flags, void *arg)
{
	struct doh_conn *conn = arg;
	struct doh_stream *s;
	nghttp2_vec n = nghttp2_rcbuf_get_buf(name);
	nghttp2_vec v = nghttp2_rcbuf_get_buf(value);

	(void)sess;
	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	s = doh_stream_get(conn, frame->hd.stream_id);
	if (s == NULL || s->dead)
		return 0;
	s->nheaders++;
	s->header_bytes += n.len + v.len + DOH_HEADER_OVERHEAD;
	if (s->header_bytes > conn->max_header_list && !s->headers_done &&
	    doh_name_is(n, ":path")) {
		/* the URI is what is too long: 414, not a reset */
		s->header_bytes -= n.len + v.len + DOH_HEADER_OVERHEAD;
		s->req.uri_too_long = true;
		s->req.has_path = true;
		return 0;
	}
	if (s->nheaders > DOH_MAX_HEADERS ||
	    s->header_bytes > conn->max_header_list) {
		verbose(VERB_QUERY, "doh: %s: stream %d: too many headers",
		    comm_conn_peer_str(conn->c), (int)s->id);
		doh_stream_drop_headers(s);
		doh_stream_reset(conn, s, NGHTTP2_ENHANCE_YOUR_CALM);
		return 0;
	}
	if (s->headers_done)
		return 0;	/* trailers: counted, not used */
	/* HTTP messaging is ours (see doh_h2_open): a repeated pseudo
	 * header or content-length makes the request malformed (400) */
	if (doh_name_is(n, ":method")) {
		if (s->req.method != DOH_METHOD_NONE)
			s->req.malformed = true;
		s->req.method = doh_req_method((const char *)v.base, v.len);
	} else if (doh_name_is(n, ":path")) {
		if (s->req.has_path)
			s->req.malformed = true;
		doh_keep(&s->rc_path, value, &s->req.path, &s->req.path_len);
		s->req.has_path = true;
	} else if (doh_name_is(n, "content-type")) {
		/* a wrong one among several decides (415) */
		if (s->rc_ctype == NULL || doh_req_content_type_ok(
		    s->req.content_type, s->req.content_type_len))
			doh_keep(&s->rc_ctype, value, &s->req.content_type,
			    &s->req.content_type_len);
	} else if (doh_name_is(n, "content-length")) {
		if (s->rc_clen != NULL)
			s->req.malformed = true;
		doh_keep(&s->rc_clen, value, &s->req.content_length,
		    &s->req.content_length_len);
	} else if (conn->peer_trusted) {
		int k = doh_fwd_kind_of((const char *)n.base, n.len, false);

		if (k >= 0)
			doh_keep_fwd(s, k, value);
	}
	return 0;
}

static int
doh_begin_frame_cb(nghttp2_session *sess, const nghttp2_frame_hd *hd,
    void *arg)
{
	struct doh_conn *conn = arg;
	struct doh_stream *s;
	int rv;

	(void)sess;
	if (hd->type != NGHTTP2_DATA)
		return 0;
	s = doh_stream_get(conn, hd->stream_id);
	if (s == NULL || s->dead || !s->headers_done ||
	    s->req.method != DOH_METHOD_POST)
		return 0;
	if (s->plan.has_content_length || s->qbuf != NULL)
		return 0;	/* sized already */
	/* POST without content-length: the first DATA frame sizes it */
	rv = doh_req_first_frame(hd->length, conn->sh->max_query);
	if (rv != 0) {
		doh_stream_fail(conn, s, rv);
		return 0;
	}
	s->qbuf = doh_buf_new(conn, &conn->sh->query_budget, hd->length,
	    &s->qbuf_n);
	if (s->qbuf == NULL)
		doh_stream_reset(conn, s, NGHTTP2_REFUSED_STREAM);
	return 0;
}

static int
doh_data_chunk_cb(nghttp2_session *sess, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct doh_conn *conn = arg;
	struct doh_stream *s;
	int rv;

	(void)sess;
	(void)flags;
	s = doh_stream_get(conn, id);
	if (s == NULL || s->dead || s->req.method != DOH_METHOD_POST ||
	    s->qbuf == NULL)
		return 0;
	rv = doh_req_body_data(s->qlen, s->qbuf_n, len);
	if (rv != 0) {
		doh_stream_fail(conn, s, rv);
		return 0;
	}
	memcpy(s->qbuf + s->qlen, data, len);
	s->qlen += len;
	return 0;
}

static int
doh_frame_recv_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    void *arg)
{
	struct doh_conn *conn = arg;
	struct doh_stream *s;

	switch (frame->hd.type) {
	case NGHTTP2_RST_STREAM:
		STAT_INC(conn->st, HTTP_RST_RECEIVED);
		conn->rst_recv++;
#ifndef HAVE_NGHTTP2_OPTION_SET_STREAM_RESET_RATE_LIMIT
		if (conn->rst_recv > DOH_RST_MAX_CONN)
			nghttp2_session_terminate_session(sess,
			    NGHTTP2_ENHANCE_YOUR_CALM);
#endif
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		comm_conn_activity(conn->c);	/* a request: not idle */
		break;
	default:
		return 0;
	}
	s = doh_stream_get(conn, frame->hd.stream_id);
	if (s == NULL)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && !s->headers_done &&
	    !s->dead)
		doh_stream_headers_done(conn, s);
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
		doh_stream_end(conn, s);
	return 0;
}

static int
doh_frame_send_cb(nghttp2_session *sess, const nghttp2_frame *frame,
    void *arg)
{
	struct doh_conn *conn = arg;
	struct doh_stream *s;

	switch (frame->hd.type) {
	case NGHTTP2_RST_STREAM:
		STAT_INC(conn->st, HTTP_RST_SENT);
		return 0;
	case NGHTTP2_GOAWAY:
		STAT_INC(conn->st, HTTP_GOAWAY_SENT);
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
			comm_conn_activity(conn->c);	/* a response */
		break;
	default:
		return 0;
	}
	s = doh_stream_get(conn, frame->hd.stream_id);
	if (s == NULL)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && s->status != 0 &&
	    !s->status_counted) {
		s->status_counted = true;
		doh_count_status(conn->st, s->status);
	}
	return 0;
}

static int
doh_stream_close_cb(nghttp2_session *sess, int32_t id, uint32_t code,
    void *arg)
{
	struct doh_conn *conn = arg;
	struct doh_stream *s = doh_stream_get(conn, id);

	(void)sess;
	(void)code;
	if (s != NULL) {
		nghttp2_session_set_stream_user_data(conn->sess, id, NULL);
		doh_stream_free(conn, s);
	}
	return 0;
}

/* ------------------------------------------------------------ proto */

static int
doh_h2_open(struct comm_conn *c, void *state)
{
	struct doh_conn *conn = state;
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_mem mem;
	nghttp2_settings_entry iv[2];
	int rv;

	conn->c = c;
	conn->env = comm_conn_env(c);
	if (conn->env == NULL || conn->env->doh == NULL)
		return -EINVAL;
	conn->sh = conn->env->doh;
	conn->st = comm_conn_stats(c);
	/* PING, SETTINGS, WINDOW_UPDATE do not keep a connection open */
	comm_conn_own_activity(c);
	{
		socklen_t plen = 0;
		const struct sockaddr *peer = comm_conn_peer(c, &plen);

		conn->peer_trusted = peer != NULL && conn->sh->trusted.n > 0 &&
		    netblock_lookup(&conn->sh->trusted, peer) != NULL;
	}
	{
		size_t hl = DOH_HEADER_LIST_BASE + strlen(conn->sh->endpoint) +
		    sizeof("?dns=") + 2 +
		    doh_req_b64_max_len(conn->sh->max_query);

		conn->max_header_list = hl > DOH_HEADER_LIST_MAX ?
		    DOH_HEADER_LIST_MAX : (uint32_t)hl;
	}
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_send_callback(cbs, doh_send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
	    doh_begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback2(cbs, doh_header_cb);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs,
	    doh_begin_frame_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    doh_data_chunk_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
	    doh_frame_recv_cb);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs,
	    doh_frame_send_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    doh_stream_close_cb);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return -ENOMEM;
	}
	/*
	 * nghttp2's HTTP messaging checks would reset a stream whose body
	 * passes its content-length (PROTOCOL_ERROR) before we see the
	 * data; the seed answers that with 413.  So the request rules,
	 * content-length included, are ours (request.c).
	 */
	nghttp2_option_set_no_http_messaging(opt, 1);
	/*
	 * nghttp2 keeps closed streams for the RFC 7540 priority tree, up
	 * to the local MAX_CONCURRENT_STREAMS, which it believes unlimited
	 * (doh_settings_patch): without this a long connection would keep
	 * ~200 bytes for every stream it ever had.
	 */
	nghttp2_option_set_no_closed_streams(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, DOH_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, DOH_MAX_SETTINGS);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt,
	    DOH_DEFLATE_TABLE);
#ifdef HAVE_NGHTTP2_OPTION_SET_STREAM_RESET_RATE_LIMIT
	nghttp2_option_set_stream_reset_rate_limit(opt, DOH_RST_BURST,
	    DOH_RST_RATE);
#endif
	/* large blocks mapped, so idle connections keep little (h2mem.c) */
	doh_h2_mem_init(&mem, &conn->mrec);
	conn->mrec.creating = true;
	rv = nghttp2_session_server_new3(&conn->sess, cbs, conn, opt, &mem);
	conn->mrec.creating = false;
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0) {
		conn->sess = NULL;
		doh_h2_mem_release(&conn->mrec);
		return -ENOMEM;
	}
	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = DOH_NGHTTP2_STREAMS;	/* see doh_settings_patch */
	iv[1].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	iv[1].value = conn->max_header_list;
	rv = nghttp2_submit_settings(conn->sess, NGHTTP2_FLAG_NONE, iv, 2);
	if (rv != 0)
		return -ENOMEM;
	return doh_conn_flush(conn);
}

static int
doh_h2_input(struct comm_conn *c, void *state, const uint8_t *data,
    size_t len)
{
	struct doh_conn *conn = state;
	ssize_t rv;

	(void)c;
	if (conn->sess == NULL || conn->close_asked)
		return 0;
	conn->in_recv = true;
	rv = nghttp2_session_mem_recv(conn->sess, data, len);
	conn->in_recv = false;
	if (rv < 0) {
		verbose(VERB_QUERY, "doh: %s: %s", comm_conn_peer_str(c),
		    nghttp2_strerror((int)rv));
		nghttp2_session_terminate_session(conn->sess,
		    rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM :
		    NGHTTP2_PROTOCOL_ERROR);
		doh_conn_flush(conn);
		doh_conn_close(conn, true);
		return 0;
	}
	return doh_conn_flush(conn);
}

static int
doh_h2_writable(struct comm_conn *c, void *state)
{
	(void)c;
	return doh_conn_flush(state);
}

/* Idle: say GOAWAY(NO_ERROR), write it, close gracefully. */
static int
doh_h2_idle(struct comm_conn *c, void *state)
{
	struct doh_conn *conn = state;

	(void)c;
	if (conn->sess == NULL)
		return 1;
	nghttp2_session_terminate_session(conn->sess, NGHTTP2_NO_ERROR);
	doh_conn_flush(conn);
	doh_conn_close(conn, true);
	return 0;
}

/* Quiet for a while: nghttp2's frame buffer pages go back (h2mem.c). */
static void
doh_h2_quiet(struct comm_conn *c, void *state)
{
	struct doh_conn *conn = state;

	(void)c;
	if (conn->sess != NULL && !conn->closing &&
	    !nghttp2_session_want_write(conn->sess))
		doh_h2_mem_trim(&conn->mrec);
}

static void
doh_h2_close(struct comm_conn *c, void *state, enum comm_close_why why)
{
	struct doh_conn *conn = state;

	(void)c;
	(void)why;
	conn->closing = true;
	while (conn->streams != NULL) {
		if (conn->sess)
			nghttp2_session_set_stream_user_data(conn->sess,
			    conn->streams->id, NULL);
		doh_stream_free(conn, conn->streams);
	}
	if (conn->sess != NULL) {
		nghttp2_session_del(conn->sess);
		conn->sess = NULL;
	}
	doh_h2_mem_release(&conn->mrec);
}

const struct comm_proto doh_h2_proto = {
	.name = "doh-h2",
	.state_size = sizeof(struct doh_conn),
	.open = doh_h2_open,
	.input = doh_h2_input,
	.writable = doh_h2_writable,
	.idle = doh_h2_idle,
	.close = doh_h2_close,
	.quiet = doh_h2_quiet,
};
