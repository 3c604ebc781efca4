/*
 * module/doh/h2.c - DNS over HTTPS on HTTP/2: doh_h2_proto, the comm
 * proto table that glues nghttp2 to the request rules (request.c), the
 * resolver (res_submit/res_cancel) and the buffer budgets (doh.h).
 *
 * One nghttp2 server session per connection, created in open(); one
 * struct doh_stream per request, the owner of its query and response
 * buffers (reserved from the budgets before allocation, released by the
 * stored size).  This file does not open sockets, parse DNS (beyond
 * asking dns_reply_min_ttl for max-age) or decide HTTP statuses itself.
 *
 * Limits chosen here (see also request.h):
 *   SETTINGS_MAX_CONCURRENT_STREAMS = http-max-streams; a HEADERS frame
 *     that opens a stream over it gets RST_STREAM(REFUSED_STREAM) (ours,
 *     or nghttp2's before the SETTINGS ACK; after the ACK nghttp2 itself
 *     ends the connection with GOAWAY(PROTOCOL_ERROR), which RFC 9113
 *     5.1.2 allows as well).
 *   SETTINGS_MAX_HEADER_LIST_SIZE = DOH_MAX_HEADER_LIST (8 KiB), and at
 *     most DOH_MAX_HEADERS (32) fields a request: beyond either, the
 *     stream is reset with ENHANCE_YOUR_CALM.
 *   Rapid reset: nghttp2's stream reset rate limit (burst 1000, 33/s)
 *     when available, else 1000 RST_STREAMs received a connection; both
 *     end in GOAWAY.  SETTINGS/PING floods: nghttp2's outbound ACK limit.
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
#include "module/doh/request.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/budget.h"
#include "util/log.h"
#include "util/stats.h"

#define DOH_MAX_HEADER_LIST	8192	/* SETTINGS_MAX_HEADER_LIST_SIZE */
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
	struct doh_stream *streams;
	unsigned nstreams;
	unsigned rst_recv;
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
doh_buf_new(struct budget *b, size_t n, size_t *stored)
{
	uint8_t *p;

	if (budget_reserve(b, n) != 0)
		return NULL;
	p = malloc(n ? n : 1);
	if (p == NULL) {
		budget_release(b, n);
		return NULL;
	}
	*stored = n;
	return p;
}

static void
doh_buf_free(struct budget *b, uint8_t **p, size_t *stored)
{
	if (*p == NULL)
		return;
	free(*p);
	budget_release(b, *stored);
	*p = NULL;
	*stored = 0;
}

static void
doh_stream_free_query(struct doh_stream *s)
{
	doh_buf_free(&s->conn->sh->query_budget, &s->qbuf, &s->qbuf_n);
	s->qlen = 0;
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
	s->req.path = s->req.content_type = s->req.content_length = NULL;
	s->req.has_path = false;
	s->plan.dns = NULL;
}

/*
 * Free a stream: cancel its resolver request, release both buffers by
 * their stored sizes, drop header references, unlink it.
 */
static void
doh_stream_free(struct doh_conn *conn, struct doh_stream *s)
{
	if (s->res != NULL) {
		res_cancel(s->res);
		s->res = NULL;
	}
	doh_stream_free_query(s);
	doh_buf_free(&conn->sh->response_budget, &s->rbuf, &s->rbuf_n);
	doh_stream_drop_headers(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		conn->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	conn->nstreams--;
	if (!conn->closing)
		comm_conn_set_busy(conn->c, conn->nstreams > 0);
	free(s);
}

/* ------------------------------------------------------------ output */

static ssize_t
doh_send_cb(nghttp2_session *sess, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct doh_conn *conn = arg;
	struct iovec iov;
	int rv;

	(void)sess;
	(void)flags;
	if (comm_conn_pending(conn->c) > COMM_OUT_MARK) {
		comm_conn_want_writable(conn->c);
		return NGHTTP2_ERR_WOULDBLOCK;
	}
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	rv = comm_conn_write(conn->c, &iov, 1);
	if (rv == -ENOBUFS) {
		comm_conn_want_writable(conn->c);
		return NGHTTP2_ERR_WOULDBLOCK;
	}
	if (rv < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
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
	if (s->res != NULL) {
		res_cancel(s->res);
		s->res = NULL;
	}
	s->dead = true;
	doh_stream_free_query(s);
	nghttp2_submit_rst_stream(conn->sess, NGHTTP2_FLAG_NONE, s->id, code);
}

#define DOH_NV(n, v, vlen) { (uint8_t *)(uintptr_t)(n), \
	(uint8_t *)(uintptr_t)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE }

/* An error status with an empty body; END_STREAM on the HEADERS. */
static void
doh_stream_respond_error(struct doh_conn *conn, struct doh_stream *s,
    int status)
{
	char code[8];
	int n = snprintf(code, sizeof(code), "%d", status);
	nghttp2_nv nva[2] = {
		DOH_NV(":status", code, (size_t)n),
		DOH_NV("content-length", "0", 1),
	};

	verbose(VERB_QUERY, "doh: %s: stream %d: %d %s",
	    comm_conn_peer_str(conn->c), (int)s->id, status,
	    doh_req_status_text(status));
	s->dead = true;
	s->status = status;
	doh_stream_free_query(s);
	if (nghttp2_submit_response(conn->sess, s->id, nva, 2, NULL) != 0)
		doh_stream_reset(conn, s, NGHTTP2_INTERNAL_ERROR);
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

/* The resolver's answer (or ans_len 0: drop). */
static void
doh_answer_cb(void *arg, const uint8_t *ans, size_t ans_len)
{
	struct doh_stream *s = arg;
	struct doh_conn *conn = s->conn;
	char clen[24], cc[32];
	int64_t ttl;
	nghttp2_nv nva[4] = {
		DOH_NV(":status", "200", 3),
		DOH_NV("content-type", "application/dns-message", 23),
	};
	size_t nv = 2;
	nghttp2_data_provider prd;

	s->res = NULL;
	s->answered = true;
	if (s->dead)
		goto out;
	if (ans_len == 0) {
		doh_stream_reset(conn, s, NGHTTP2_REFUSED_STREAM);
		goto out;
	}
	s->rbuf = doh_buf_new(&conn->sh->response_budget, ans_len,
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

	snprintf(clen, sizeof(clen), "%zu", ans_len);
	nva[nv++] = (nghttp2_nv)DOH_NV("content-length", clen, strlen(clen));
	ttl = dns_reply_min_ttl(ans, ans_len);
	if (ttl >= 0) {
		snprintf(cc, sizeof(cc), "max-age=%" PRId64, ttl);
		nva[nv++] = (nghttp2_nv)DOH_NV("cache-control", cc,
		    strlen(cc));
	}
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
	client.addr = comm_conn_peer(conn->c, &client.addrlen);
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
}

/* All request headers are in: apply the header rules, size the buffer. */
static void
doh_stream_headers_done(struct doh_conn *conn, struct doh_stream *s)
{
	struct doh_shared *sh = conn->sh;
	int rv;

	s->headers_done = true;
	rv = doh_req_check_headers(&s->req, sh->endpoint, sh->max_query,
	    &s->plan);
	if (rv != 0) {
		doh_stream_drop_headers(s);
		doh_stream_respond_error(conn, s, rv);
		return;
	}
	if (s->req.method == DOH_METHOD_GET) {
		s->qbuf = doh_buf_new(&sh->query_budget, s->plan.query_size,
		    &s->qbuf_n);
		if (s->qbuf == NULL) {
			doh_stream_drop_headers(s);
			doh_stream_reset(conn, s, NGHTTP2_REFUSED_STREAM);
			return;
		}
		rv = doh_req_decode_get(&s->plan, s->qbuf, s->qbuf_n);
		doh_stream_drop_headers(s);
		if (rv != 0) {
			doh_stream_respond_error(conn, s, rv);
			return;
		}
		s->qlen = s->qbuf_n;
		return;
	}
	doh_stream_drop_headers(s);
	if (s->plan.has_content_length) {
		if (s->plan.query_size == 0) {
			doh_stream_respond_error(conn, s, 400);
			return;
		}
		s->qbuf = doh_buf_new(&sh->query_budget, s->plan.query_size,
		    &s->qbuf_n);
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
	if (s->dead || s->submitted)
		return;
	if (s->req.method == DOH_METHOD_POST) {
		rv = doh_req_check_query(s->qbuf ? s->qlen : 0);
		if (rv != 0) {
			doh_stream_respond_error(conn, s, rv);
			return;
		}
	}
	if (s->qbuf == NULL) {	/* cannot happen: GET sized at headers */
		doh_stream_respond_error(conn, s, 400);
		return;
	}
	doh_stream_submit(conn, s);
}

static struct doh_stream *
doh_stream_get(struct doh_conn *conn, int32_t id)
{
	return nghttp2_session_get_stream_user_data(conn->sess, id);
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
	    (s = calloc(1, sizeof(*s))) == NULL) {
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
	comm_conn_set_busy(conn->c, true);
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
	if (s->nheaders > DOH_MAX_HEADERS ||
	    s->header_bytes > DOH_MAX_HEADER_LIST) {
		verbose(VERB_QUERY, "doh: %s: stream %d: too many headers",
		    comm_conn_peer_str(conn->c), (int)s->id);
		doh_stream_drop_headers(s);
		doh_stream_reset(conn, s, NGHTTP2_ENHANCE_YOUR_CALM);
		return 0;
	}
	if (s->headers_done)
		return 0;	/* trailers: counted, not used */
	if (doh_name_is(n, ":method")) {
		s->req.method = doh_req_method((const char *)v.base, v.len);
	} else if (doh_name_is(n, ":path")) {
		doh_keep(&s->rc_path, value, &s->req.path, &s->req.path_len);
		s->req.has_path = true;
	} else if (doh_name_is(n, "content-type")) {
		/* a wrong one among several decides (415) */
		if (s->rc_ctype == NULL || doh_req_content_type_ok(
		    s->req.content_type, s->req.content_type_len))
			doh_keep(&s->rc_ctype, value, &s->req.content_type,
			    &s->req.content_type_len);
	} else if (doh_name_is(n, "content-length")) {
		doh_keep(&s->rc_clen, value, &s->req.content_length,
		    &s->req.content_length_len);
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
	if (s == NULL || s->dead || !s->headers_done || s->qbuf != NULL ||
	    s->req.method != DOH_METHOD_POST)
		return 0;
	/* POST without content-length: the first DATA frame sizes it */
	rv = doh_req_first_frame(hd->length, conn->sh->max_query);
	if (rv != 0) {
		doh_stream_respond_error(conn, s, rv);
		return 0;
	}
	s->qbuf = doh_buf_new(&conn->sh->query_budget, hd->length,
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
		doh_stream_respond_error(conn, s, rv);
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
		stats_http_status(conn->st, s->status);
	}
	/* A response sent before the request ended: tell the client to
	 * stop sending (RFC 9113 8.1). */
	if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->remote_closed)
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_NO_ERROR);
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
	nghttp2_settings_entry iv[2];
	int rv;

	conn->c = c;
	conn->env = comm_conn_env(c);
	if (conn->env == NULL || conn->env->doh == NULL)
		return -EINVAL;
	conn->sh = conn->env->doh;
	conn->st = comm_conn_stats(c);
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
	nghttp2_option_set_max_outbound_ack(opt, DOH_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, DOH_MAX_SETTINGS);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt,
	    DOH_DEFLATE_TABLE);
#ifdef HAVE_NGHTTP2_OPTION_SET_STREAM_RESET_RATE_LIMIT
	nghttp2_option_set_stream_reset_rate_limit(opt, DOH_RST_BURST,
	    DOH_RST_RATE);
#endif
	rv = nghttp2_session_server_new2(&conn->sess, cbs, conn, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0) {
		conn->sess = NULL;
		return -ENOMEM;
	}
	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = conn->sh->max_streams;
	iv[1].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	iv[1].value = DOH_MAX_HEADER_LIST;
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
}

const struct comm_proto doh_h2_proto = {
	.name = "doh-h2",
	.state_size = sizeof(struct doh_conn),
	.open = doh_h2_open,
	.input = doh_h2_input,
	.writable = doh_h2_writable,
	.idle = doh_h2_idle,
	.close = doh_h2_close,
};
