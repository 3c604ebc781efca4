/*
 * module/doh/h1.c - DNS over HTTPS on HTTP/1.1 (and 1.0): doh_h1_proto,
 * and doh_detect_proto, the dispatcher of a clear-text DoH port
 * (http-notls-downstream) or a TLS connection without ALPN, which hands
 * the connection to doh_h2_proto when it starts with the HTTP/2 preface
 * and to doh_h1_proto otherwise.
 *
 * The request rules (method, path, dns=, content-type, content-length,
 * the status a request earns) are request.c's, shared with HTTP/2; this
 * file only parses HTTP/1.x framing: the request line, the header
 * fields, Content-Length and chunked bodies, keep-alive and pipelining.
 * It does not open sockets or parse DNS (max-age is the resolver's
 * res_answer_min_ttl).
 *
 * Rules and limits chosen here:
 *   Request line: at most the longest GET the query limit allows (as
 *     HTTP/2's header list: 8 KiB plus "endpoint?dns=" and the base64url
 *     of max_query bytes, at most 64 KiB); longer gets 414 (501 for a
 *     method other than GET/POST).  A version other than HTTP/1.0 and
 *     HTTP/1.1 gets 505; a malformed request line or header field (bare
 *     name, space before the colon, obs-fold, a second Host or
 *     Content-Length, both Content-Length and Transfer-Encoding, no Host
 *     in HTTP/1.1) gets 400.
 *   Header fields: at most H1_HEADER_MAX (8 KiB) bytes and H1_MAX_FIELDS
 *     fields after the request line, else 431.
 *   Bodies: Content-Length, or Transfer-Encoding: chunked (other
 *     codings: 501); a POST body over max_query gets 413, like HTTP/2.
 *     The body of a request that earned an error status is read and
 *     dropped when its size is known and at most H1_DISCARD_MAX, so the
 *     connection goes on, and the status is sent once the body has
 *     ended (as on HTTP/2); otherwise the status goes at once, with
 *     Connection: close, and nothing more is read.
 *   Pipelining: up to H1_PIPELINE_MAX requests are held at once; their
 *     responses go out in request order (an answer waits for the earlier
 *     ones).  At the limit reading stops until a response went out.
 *   Expect: 100-continue gets "100 Continue" when the request is the
 *     oldest one held (an interim response must not overtake earlier
 *     responses); after an error status the connection closes instead.
 *   Keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
 *     "Connection: keep-alive".  After an error that leaves the framing
 *     unknown (400, 414/431 of an unread head, 505) the connection is
 *     closed once the response is written.
 *   Busy (comm_conn_set_busy) while a query is with the resolver;
 *     tcp-idle-timeout closes an idle connection.
 *   Budgets: the query buffer (decoded GET, POST body; a chunked body
 *     grows chunk by chunk within max_query) is reserved from the query
 *     budget, the answer from the response budget until it is written;
 *     a full budget gets 500.  A query the resolver drops (ans_len 0:
 *     access-control deny) closes the connection at its turn.
 *   Counters: num.query.https, num.query.tcp and, over TLS,
 *     num.query.tls a query; num.http.status.NNN a response.
 *   From a peer in http-trusted-proxy, Forwarded / X-Forwarded-For /
 *     X-Real-IP give the client address handed to the resolver
 *     (doh_fwd_client in request.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "dns/wire.h"
#include "module/doh/doh.h"
#include "module/doh/request.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/budget.h"
#include "util/log.h"
#include "util/netblock.h"
#include "util/stats.h"

#define H1_HEADER_MAX		8192	/* header fields after the line */
#define H1_MAX_FIELDS		64	/* header fields a request */
#define H1_LINE_BASE		8192	/* request line without the dns= */
#define H1_LINE_CAP		65536	/* request line at most */
#define H1_PIPELINE_MAX		16	/* requests held a connection */
#define H1_CHUNK_LINE_MAX	256	/* chunk-size line with extensions */
#define H1_DISCARD_MAX		(64 * 1024)	/* error body still read */
#define H1_IN_MAX		(1024 * 1024)	/* input held, hard cap */

struct h1_conn;

/* One request, in the connection's FIFO until its response is written. */
struct h1_req {
	struct h1_req *next;
	struct h1_conn *conn;
	bool post;
	/* query buffer: qbuf_n bytes reserved from the query budget */
	uint8_t *qbuf;
	size_t qbuf_n;
	size_t qlen;
	bool has_cl;
	size_t cl;
	/* answer: rbuf_n bytes reserved from the response budget */
	uint8_t *rbuf;
	size_t rbuf_n;
	struct res_req *res;
	int status;		/* 200 or the error status, once ready */
	bool ready;		/* the response is decided */
	bool drop;		/* resolver said drop: close at our turn */
	bool close_after;	/* Connection: close */
	bool keep_alive10;	/* HTTP/1.0 keep-alive: say so */
	bool tailored;		/* ECS-tailored: cache-control private */
	int64_t min_ttl;	/* for max-age (res_answer_min_ttl) */
	struct sockaddr_storage client;
	socklen_t clientlen;
};

enum h1_state {
	H1_HEAD = 0,		/* reading a request line and its fields */
	H1_BODY,		/* Content-Length bytes still to come */
	H1_CHUNK_SIZE,		/* a chunk-size line */
	H1_CHUNK_DATA,		/* chunk bytes */
	H1_CHUNK_END,		/* the CRLF after chunk data */
	H1_TRAILER		/* trailer fields up to the empty line */
};

/* The per-connection state (comm allocates it zeroed). */
struct h1_conn {
	struct comm_conn *c;
	struct module_env *env;
	struct doh_shared *sh;
	struct stats *st;
	/* input not parsed yet */
	uint8_t *in;
	size_t in_len, in_cap;
	/* head scanning: where the current (incomplete) line starts, the
	 * end of the request line (0: not seen yet) */
	size_t line_start;
	size_t reqline_end;
	size_t skip_lead;	/* empty lines before the request line */
	enum h1_state state;
	struct h1_req *cur;	/* request whose body is being read */
	bool discard;		/* cur earned an error: drop its body */
	size_t body_left;	/* of Content-Length or the chunk */
	size_t body_total;	/* chunked: bytes so far */
	size_t trailer_bytes;
	struct h1_req *head, *tail;
	unsigned nreq;
	unsigned nresolving;
	size_t line_max;
	unsigned nrequests;	/* requests seen (for the first-line log) */
	bool peer_trusted;
	bool no_more;		/* a request ends the connection: no input */
	bool paused;
	bool in_input;
	bool close_asked;
	bool closing;
};

/* ------------------------------------------------------------ helpers */

static void
h1_count_status(struct stats *st, int code)
{
	switch (code) {
#define H1_STATUS_CASE(n) \
	case n: \
		STAT_ADD_FIELD(st->http_status[STAT_HTTP_##n], 1); \
		break;
	STATS_HTTP_STATUSES(H1_STATUS_CASE)
#undef H1_STATUS_CASE
	default:
		break;
	}
}

static int
h1_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

static bool
h1_eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t i, blen = strlen(b);

	if (alen != blen)
		return false;
	for (i = 0; i < blen; i++)
		if (h1_lower((unsigned char)a[i]) != b[i])
			return false;
	return true;
}

/* RFC 9110 tchar */
static bool
h1_tchar(int ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static void
h1_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* Does a comma-separated list value hold 'tok' (without case)? */
static bool
h1_list_has(const char *v, size_t len, const char *tok)
{
	size_t i = 0;

	while (i <= len) {
		const char *comma = memchr(v + i, ',', len - i);
		size_t end = comma ? (size_t)(comma - v) : len;
		const char *e = v + i;
		size_t elen = end - i;

		h1_trim(&e, &elen);
		if (h1_eq_nocase(e, elen, tok))
			return true;
		if (comma == NULL)
			break;
		i = end + 1;
	}
	return false;
}

static void
h1_conn_update_busy(struct h1_conn *conn)
{
	if (!conn->closing)
		comm_conn_set_busy(conn->c, conn->nresolving > 0);
}

static void
h1_conn_close(struct h1_conn *conn, bool graceful)
{
	if (conn->close_asked)
		return;
	conn->close_asked = true;
	comm_conn_close(conn->c, graceful);
}

static void
h1_req_free_query(struct h1_req *r)
{
	if (r->qbuf == NULL)
		return;
	free(r->qbuf);
	budget_release(&r->conn->sh->query_budget, r->qbuf_n);
	r->qbuf = NULL;
	r->qbuf_n = 0;
	r->qlen = 0;
}

static void
h1_req_free_answer(struct h1_req *r)
{
	if (r->rbuf == NULL)
		return;
	free(r->rbuf);
	budget_release(&r->conn->sh->response_budget, r->rbuf_n);
	r->rbuf = NULL;
	r->rbuf_n = 0;
}

static void
h1_req_clear_res(struct h1_req *r, bool cancel)
{
	if (r->res == NULL)
		return;
	if (cancel)
		res_cancel(r->res);
	r->res = NULL;
	r->conn->nresolving--;
	h1_conn_update_busy(r->conn);
}

static void
h1_req_free(struct h1_req *r)
{
	h1_req_clear_res(r, true);
	h1_req_free_query(r);
	h1_req_free_answer(r);
	free(r);
}

/*
 * Grow r's query buffer by 'add' bytes, reserving them first.  Returns
 * 0 or -ENOBUFS (budget full or no memory; nothing changed).
 */
static int
h1_req_grow(struct h1_req *r, size_t add)
{
	struct budget *b = &r->conn->sh->query_budget;
	uint8_t *p;

	if (add == 0)
		return 0;
	if (budget_reserve(b, add) != 0)
		return -ENOBUFS;
	p = realloc(r->qbuf, r->qbuf_n + add);
	if (p == NULL) {
		budget_release(b, add);
		return -ENOBUFS;
	}
	r->qbuf = p;
	r->qbuf_n += add;
	return 0;
}

/* ------------------------------------------------------------ output */

static void h1_conn_parse(struct h1_conn *conn);

/* Write r's response.  Returns 0 or -errno (output full). */
static int
h1_req_write(struct h1_conn *conn, struct h1_req *r)
{
	char hdr[320];
	struct iovec iov[2];
	int n, iovcnt = 1, rv;
	const char *conn_hdr = r->close_after ? "Connection: close\r\n" :
	    r->keep_alive10 ? "Connection: keep-alive\r\n" : "";

	if (r->status == 200) {
		char cc[80] = "", v[48];

		if (doh_req_cache_control(v, sizeof(v), r->min_ttl,
		    r->tailored) > 0)
			snprintf(cc, sizeof(cc), "Cache-Control: %s\r\n", v);
		n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/dns-message\r\n"
		    "Content-Length: %zu\r\n%s%s\r\n", r->rbuf_n, cc,
		    conn_hdr);
		iov[1].iov_base = r->rbuf;
		iov[1].iov_len = r->rbuf_n;
		iovcnt = 2;
	} else {
		n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\n"
		    "Content-Length: 0\r\n%s\r\n", r->status,
		    doh_req_status_text(r->status), conn_hdr);
	}
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -EINVAL;
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)n;
	rv = comm_conn_write(conn->c, iov, iovcnt);
	if (rv < 0)
		return rv;
	h1_count_status(conn->st, r->status);
	return 0;
}

/*
 * Write the responses that are ready, in request order, while the
 * output has room; close after one that says so; read more input once
 * the pipeline has room again.  Not called inside input parsing (the
 * input callback calls it when done).
 */
static void
h1_conn_output(struct h1_conn *conn)
{
	struct h1_req *r;

	for (;;) {
		if (conn->close_asked || conn->closing)
			return;
		/* a request whose body is still being read (and dropped)
		 * waits for its end, as on HTTP/2 */
		while ((r = conn->head) != NULL && r->ready &&
		    r != conn->cur) {
			if (!r->drop &&
			    comm_conn_pending(conn->c) > COMM_OUT_MARK) {
				comm_conn_want_writable(conn->c);
				return;
			}
			conn->head = r->next;
			if (conn->head == NULL)
				conn->tail = NULL;
			conn->nreq--;
			if (r->drop) {
				verbose(VERB_QUERY, "doh: %s: query dropped: "
				    "closing", comm_conn_peer_str(conn->c));
				h1_req_free(r);
				h1_conn_close(conn, true);
				return;
			}
			if (h1_req_write(conn, r) != 0) {
				h1_req_free(r);
				h1_conn_close(conn, false);
				return;
			}
			if (r->close_after) {
				h1_req_free(r);
				h1_conn_close(conn, true);
				return;
			}
			h1_req_free(r);
		}
		if (conn->no_more && conn->head == NULL) {
			h1_conn_close(conn, true);
			return;
		}
		if (!conn->paused || conn->nreq >= H1_PIPELINE_MAX ||
		    conn->no_more)
			return;
		/* room again: resume reading, parse what is buffered */
		conn->paused = false;
		comm_conn_pause_read(conn->c, 0);
		conn->in_input = true;
		h1_conn_parse(conn);
		conn->in_input = false;
		if (!(conn->head != NULL && conn->head->ready &&
		    conn->head != conn->cur) &&
		    !(conn->no_more && conn->head == NULL))
			return;
	}
}

/* r's response is decided: an error status.  Its query buffer goes. */
static void
h1_req_fail(struct h1_conn *conn, struct h1_req *r, int status, bool close)
{
	verbose(VERB_QUERY, "doh: %s: HTTP/1.1: %d %s",
	    comm_conn_peer_str(conn->c), status, doh_req_status_text(status));
	h1_req_clear_res(r, true);
	h1_req_free_query(r);
	r->status = status;
	r->ready = true;
	if (close) {
		r->close_after = true;
		conn->no_more = true;
	}
}

/* The resolver's answer (or ans_len 0: drop). */
static void
h1_answer_cb(void *arg, const uint8_t *ans, size_t ans_len)
{
	struct h1_req *r = arg;
	struct h1_conn *conn = r->conn;

	r->tailored = res_answer_tailored(conn->env->res);
	r->min_ttl = res_answer_min_ttl(conn->env->res, ans, ans_len);
	h1_req_clear_res(r, false);
	h1_req_free_query(r);
	r->ready = true;
	if (ans_len == 0) {
		r->drop = true;
	} else if (budget_reserve(&conn->sh->response_budget, ans_len) != 0) {
		verbose(VERB_QUERY, "doh: %s: response buffer limit reached",
		    comm_conn_peer_str(conn->c));
		r->status = 500;
	} else if ((r->rbuf = malloc(ans_len)) == NULL) {
		budget_release(&conn->sh->response_budget, ans_len);
		r->status = 500;
	} else {
		memcpy(r->rbuf, ans, ans_len);
		r->rbuf_n = ans_len;
		r->status = 200;
	}
	if (!conn->in_input)
		h1_conn_output(conn);
}

/* ------------------------------------------------------------ requests */

static void
h1_req_submit(struct h1_conn *conn, struct h1_req *r)
{
	struct res_client client;
	struct res_req *req;
	bool tls = comm_conn_is_tls(conn->c);

	STAT_INC(conn->st, QUERY_HTTPS);
	STAT_INC(conn->st, QUERY_TCP);
	if (tls)
		STAT_INC(conn->st, QUERY_TLS);
	memset(&client, 0, sizeof(client));
	client.addr = r->clientlen ? (const struct sockaddr *)&r->client :
	    NULL;
	client.addrlen = r->clientlen;
	client.stream = true;
	client.encrypted = tls;
	req = res_submit(conn->env->res, r->qbuf, r->qlen, &client,
	    h1_answer_cb, r);
	if (r->ready)
		return;		/* answered at once */
	if (req == NULL) {
		h1_req_fail(conn, r, 500, false);
		return;
	}
	r->res = req;
	conn->nresolving++;
	h1_conn_update_busy(conn);
}

/* The body of conn->cur is complete (or dropped). */
static void
h1_body_done(struct h1_conn *conn)
{
	struct h1_req *r = conn->cur;
	int rv;

	conn->cur = NULL;
	conn->state = H1_HEAD;
	conn->discard = false;
	if (r->ready)
		return;		/* an error status, or dropped body */
	if (r->post) {
		rv = doh_req_body_final(r->qlen, r->has_cl, r->cl);
		if (rv != 0) {
			h1_req_fail(conn, r, rv, false);
			return;
		}
	}
	h1_req_submit(conn, r);
}

/* Body bytes for conn->cur (stored, or dropped when discarding). */
static void
h1_body_bytes(struct h1_conn *conn, const uint8_t *p, size_t n)
{
	struct h1_req *r = conn->cur;

	if (conn->discard || r->ready || !r->post || r->qbuf == NULL)
		return;
	if (doh_req_body_data(r->qlen, r->qbuf_n, n) != 0) {
		/* cannot happen: sized before */
		h1_req_fail(conn, r, 413, true);
		conn->discard = true;
		return;
	}
	memcpy(r->qbuf + r->qlen, p, n);
	r->qlen += n;
}

struct h1_head {
	struct doh_req req;
	struct doh_fwd fwd;
	bool http10;
	bool conn_close, conn_keep_alive;
	bool has_host;
	bool chunked;
	bool expect_continue;	/* Expect: 100-continue */
	bool te_other;		/* a coding other than chunked: 501 */
	bool bad_framing;	/* 400 and close */
	int version_status;	/* 505 */
	unsigned nfields;
	bool too_large;		/* 431 */
};

/* Parse "HTTP/x.y": 0 (1.0/1.1), 505 or 400. */
static int
h1_version(const char *v, size_t len, bool *http10)
{
	if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
	    v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
		return 400;
	if (v[5] == '1' && (v[7] == '0' || v[7] == '1')) {
		*http10 = v[7] == '0';
		return 0;
	}
	return 505;
}

/*
 * The request line "METHOD SP target SP HTTP/x.y" (without its line
 * end).  Fills h->req.method/path.  Returns 0 or 400/505.
 */
static int
h1_parse_request_line(const char *s, size_t len, struct h1_head *h)
{
	const char *sp1 = memchr(s, ' ', len), *sp2, *t;
	size_t i, tlen;
	int rv;

	if (sp1 == NULL || sp1 == s)
		return 400;
	for (i = 0; s + i < sp1; i++)
		if (!h1_tchar((unsigned char)s[i]))
			return 400;
	sp2 = NULL;
	for (i = len; i > (size_t)(sp1 - s) + 1; i--) {
		if (s[i - 1] == ' ') {
			sp2 = s + i - 1;
			break;
		}
	}
	if (sp2 == NULL || sp2 == sp1 + 1)
		return 400;
	rv = h1_version(sp2 + 1, len - (size_t)(sp2 + 1 - s), &h->http10);
	if (rv != 0)
		return rv;
	h->req.method = doh_req_method(s, (size_t)(sp1 - s));
	t = sp1 + 1;
	tlen = (size_t)(sp2 - t);
	for (i = 0; i < tlen; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
			return 400;
	/* absolute-form: keep the path and query */
	if ((tlen > 7 && h1_eq_nocase(t, 7, "http://")) ||
	    (tlen > 8 && h1_eq_nocase(t, 8, "https://"))) {
		const char *auth = (const char *)memchr(t, '/', tlen) + 2;
		const char *p = memchr(auth, '/', tlen - (size_t)(auth - t));

		if (p == NULL) {
			t = "/";
			tlen = 1;
		} else {
			tlen -= (size_t)(p - t);
			t = p;
		}
	}
	h->req.path = t;
	h->req.path_len = tlen;
	h->req.has_path = true;
	return 0;
}

/*
 * One header field line (without its line end).  Returns 0 or 400
 * (malformed).
 */
static int
h1_parse_field(struct h1_conn *conn, const char *s, size_t len,
    struct h1_head *h)
{
	const char *colon, *v;
	size_t nlen, vlen, i;
	int k;

	if (len > 0 && (s[0] == ' ' || s[0] == '\t'))
		return 400;	/* obs-fold */
	colon = memchr(s, ':', len);
	if (colon == NULL || colon == s)
		return 400;
	nlen = (size_t)(colon - s);
	for (i = 0; i < nlen; i++)
		if (!h1_tchar((unsigned char)s[i]))
			return 400;
	v = colon + 1;
	vlen = len - nlen - 1;
	h1_trim(&v, &vlen);
	for (i = 0; i < vlen; i++)
		if (((unsigned char)v[i] < ' ' && v[i] != '\t') ||
		    v[i] == 0x7f)
			return 400;
	if (++h->nfields > H1_MAX_FIELDS) {
		h->too_large = true;
		return 0;
	}
	if (h1_eq_nocase(s, nlen, "host")) {
		if (h->has_host)
			return 400;
		h->has_host = true;
	} else if (h1_eq_nocase(s, nlen, "content-type")) {
		/* as HTTP/2: a wrong one among several decides (415) */
		if (h->req.content_type == NULL || doh_req_content_type_ok(
		    h->req.content_type, h->req.content_type_len)) {
			h->req.content_type = v;
			h->req.content_type_len = vlen;
		}
	} else if (h1_eq_nocase(s, nlen, "content-length")) {
		if (h->req.content_length != NULL)
			return 400;
		h->req.content_length = v;
		h->req.content_length_len = vlen;
	} else if (h1_eq_nocase(s, nlen, "transfer-encoding")) {
		size_t j = 0;

		/* only "chunked", once, is understood */
		while (j <= vlen) {
			const char *comma = memchr(v + j, ',', vlen - j);
			size_t end = comma ? (size_t)(comma - v) : vlen;
			const char *e = v + j;
			size_t elen = end - j;

			h1_trim(&e, &elen);
			if (h1_eq_nocase(e, elen, "chunked") && !h->chunked)
				h->chunked = true;
			else if (elen > 0)
				h->te_other = true;
			if (comma == NULL)
				break;
			j = end + 1;
		}
	} else if (h1_eq_nocase(s, nlen, "expect")) {
		if (h1_eq_nocase(v, vlen, "100-continue"))
			h->expect_continue = true;
	} else if (h1_eq_nocase(s, nlen, "connection")) {
		if (h1_list_has(v, vlen, "close"))
			h->conn_close = true;
		if (h1_list_has(v, vlen, "keep-alive"))
			h->conn_keep_alive = true;
	} else if (conn->peer_trusted &&
	    (k = doh_fwd_kind_of(s, nlen, true)) >= 0) {
		doh_fwd_add(&h->fwd, k, v, vlen);
	}
	return 0;
}

static struct h1_req *
h1_req_new(struct h1_conn *conn)
{
	struct h1_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->conn = conn;
	if (conn->tail)
		conn->tail->next = r;
	else
		conn->head = r;
	conn->tail = r;
	conn->nreq++;
	conn->nrequests++;
	return r;
}

static void
h1_log_not_http(struct h1_conn *conn)
{
	if (conn->nrequests == 1)
		verbose(VERB_QUERY, "doh: %s: the peer speaks neither "
		    "HTTP/1.x nor HTTP/2: 400 and closed",
		    comm_conn_peer_str(conn->c));
}

/*
 * The head is complete: bytes [0, end) of the input hold the request
 * line (ending at conn->reqline_end, after the skipped empty lines) and
 * the fields.  Decides the request and how its body is read.
 */
static void
h1_head_done(struct h1_conn *conn, size_t end)
{
	struct doh_shared *sh = conn->sh;
	struct h1_head h;
	struct h1_req *r;
	const char *base = (const char *)conn->in;
	size_t pos, lend;
	int rv;
	struct doh_req_plan plan;
	socklen_t plen = 0;
	const struct sockaddr *peer;
	bool body_known = true;
	size_t body_len = 0;

	memset(&h, 0, sizeof(h));
	r = h1_req_new(conn);
	if (r == NULL) {
		log_err("doh: out of memory");
		h1_conn_close(conn, false);
		conn->no_more = true;
		return;
	}
	/* request line */
	lend = conn->reqline_end;
	pos = conn->skip_lead;
	{
		size_t l = lend - pos;

		if (l > 0 && base[pos + l - 1] == '\r')
			l--;
		rv = h1_parse_request_line(base + pos, l, &h);
	}
	if (rv != 0) {
		if (rv == 400)
			h1_log_not_http(conn);
		h1_req_fail(conn, r, rv, true);
		return;
	}
	/* fields */
	pos = lend + 1;
	while (pos < end) {
		const char *nl = memchr(base + pos, '\n', end - pos);
		size_t l = (size_t)(nl - (base + pos));

		if (l > 0 && base[pos + l - 1] == '\r')
			l--;
		if (l == 0)
			break;	/* the empty line */
		rv = h1_parse_field(conn, base + pos, l, &h);
		if (rv != 0) {
			h1_req_fail(conn, r, rv, true);
			return;
		}
		pos = (size_t)(nl - base) + 1;
	}
	if (h.too_large) {
		h1_req_fail(conn, r, 431, true);
		return;
	}
	if ((!h.http10 && !h.has_host) ||
	    (h.chunked && h.req.content_length != NULL)) {
		h1_req_fail(conn, r, 400, true);
		return;
	}
	if (h.te_other) {
		h1_req_fail(conn, r, 501, true);
		return;
	}
	if (h.conn_close || (h.http10 && !h.conn_keep_alive)) {
		r->close_after = true;
		conn->no_more = true;
	}
	r->keep_alive10 = h.http10 && !r->close_after;

	/* the body's framing */
	if (h.req.content_length != NULL) {
		if (doh_req_parse_length(h.req.content_length,
		    h.req.content_length_len, &body_len) != 0) {
			h1_req_fail(conn, r, 400, true);
			return;
		}
	} else if (h.chunked) {
		body_known = false;
	}

	/* the client address */
	peer = comm_conn_peer(conn->c, &plen);
	if (doh_fwd_client(&sh->trusted, peer, plen, &h.fwd, &r->client,
	    &r->clientlen))
		verbose(VERB_ALGO, "doh: %s: forwarded client address used",
		    comm_conn_peer_str(conn->c));

	/* chunked POST: the rules see no content-length */
	rv = doh_req_check_headers(&h.req, sh->endpoint, sh->max_query,
	    &plan);
	r->post = h.req.method == DOH_METHOD_POST;
	if (rv == 0 && h.req.method == DOH_METHOD_GET) {
		if (h1_req_grow(r, plan.query_size) != 0) {
			rv = 500;
		} else {
			rv = doh_req_decode_get(&plan, r->qbuf, r->qbuf_n);
			r->qlen = r->qbuf_n;
		}
	} else if (rv == 0 && r->post && plan.has_content_length) {
		r->has_cl = true;
		r->cl = plan.query_size;
		if (r->cl == 0)
			rv = 400;
		else if (h1_req_grow(r, r->cl) != 0)
			rv = 500;
	}
	if (rv != 0) {
		/* the body is still read (and dropped) when it is small; a
		 * chunked one up to H1_DISCARD_MAX (h1_chunk_start) */
		bool close = body_known && body_len > H1_DISCARD_MAX;

		/* a client waiting for 100 Continue may not send the body
		 * after an error status: its framing is unknown */
		if (h.expect_continue && (h.chunked || body_len > 0))
			close = true;
		h1_req_fail(conn, r, rv, close);
		if (close)
			return;		/* nothing more is read */
	} else if (h.expect_continue && !h.http10 &&
	    (h.chunked || body_len > 0) && conn->head == r) {
		/* only the oldest request may get an interim response */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		struct iovec iov = { (void *)(uintptr_t)cont,
		    sizeof(cont) - 1 };

		(void)comm_conn_write(conn->c, &iov, 1);
	}
	conn->cur = r;
	conn->discard = r->ready || !r->post;
	if (h.chunked) {
		conn->state = H1_CHUNK_SIZE;
		conn->body_total = 0;
	} else if (body_len > 0) {
		conn->state = H1_BODY;
		conn->body_left = body_len;
	} else {
		h1_body_done(conn);
	}
}

/* Drop the first n bytes of the input. */
static void
h1_consume(struct h1_conn *conn, size_t n)
{
	if (n >= conn->in_len) {
		conn->in_len = 0;
	} else {
		memmove(conn->in, conn->in + n, conn->in_len - n);
		conn->in_len -= n;
	}
}

/*
 * Scan the input for the end of a head.  Returns the length of the
 * head (through its empty line) or 0 when it is not complete; on a head
 * over the limits the request is failed and conn->no_more set.
 */
static size_t
h1_scan_head(struct h1_conn *conn)
{
	const char *base = (const char *)conn->in;

	for (;;) {
		const char *nl;
		size_t l;

		if (conn->line_start >= conn->in_len)
			break;
		nl = memchr(base + conn->line_start, '\n',
		    conn->in_len - conn->line_start);
		if (nl == NULL)
			break;
		l = (size_t)(nl - (base + conn->line_start));
		if (l > 0 && base[conn->line_start + l - 1] == '\r')
			l--;
		if (conn->reqline_end == 0 && l == 0 &&
		    conn->skip_lead < 4) {
			/* RFC 9112 2.2: empty lines before the request */
			conn->line_start = (size_t)(nl - base) + 1;
			conn->skip_lead = conn->line_start;
			continue;
		}
		if (conn->reqline_end == 0) {
			conn->reqline_end = (size_t)(nl - base);
			if (conn->reqline_end - conn->skip_lead >
			    conn->line_max)
				goto line_too_long;
			conn->line_start = conn->reqline_end + 1;
			continue;
		}
		conn->line_start = (size_t)(nl - base) + 1;
		if (l == 0)
			return conn->line_start;
		if (conn->line_start - conn->reqline_end > H1_HEADER_MAX)
			goto fields_too_large;
	}
	if (conn->reqline_end == 0) {
		if (conn->in_len - conn->skip_lead > conn->line_max)
			goto line_too_long;
	} else if (conn->in_len - conn->reqline_end > H1_HEADER_MAX) {
		goto fields_too_large;
	}
	return 0;

line_too_long: {
		struct h1_req *r = h1_req_new(conn);
		struct doh_req req;
		struct doh_req_plan plan;
		const char *s = base + conn->skip_lead;
		const char *sp = memchr(s, ' ', conn->in_len - conn->skip_lead);
		int rv;

		if (r == NULL) {
			h1_conn_close(conn, false);
			conn->no_more = true;
			return 0;
		}
		memset(&req, 0, sizeof(req));
		if (sp == NULL) {
			h1_log_not_http(conn);
			h1_req_fail(conn, r, 400, true);
			return 0;
		}
		req.method = doh_req_method(s, (size_t)(sp - s));
		req.uri_too_long = true;
		req.has_path = true;
		rv = doh_req_check_headers(&req, conn->sh->endpoint,
		    conn->sh->max_query, &plan);
		h1_req_fail(conn, r, rv ? rv : 414, true);
		return 0;
	}
fields_too_large: {
		struct h1_req *r = h1_req_new(conn);

		if (r == NULL) {
			h1_conn_close(conn, false);
			conn->no_more = true;
			return 0;
		}
		h1_req_fail(conn, r, 431, true);
		return 0;
	}
}

/*
 * A chunk of 'size' bytes follows.  A POST being stored grows its
 * buffer by it (413 past max_query, 500 when the budget is full); past
 * H1_DISCARD_MAX in all, a body being dropped ends the connection.
 */
static void
h1_chunk_start(struct h1_conn *conn, size_t size)
{
	struct h1_req *r = conn->cur;
	size_t max = conn->discard ? H1_DISCARD_MAX : conn->sh->max_query;

	conn->state = H1_CHUNK_DATA;
	conn->body_left = size;
	if (size > max || conn->body_total > max - size) {
		if (!conn->discard) {
			h1_req_fail(conn, r, 413, true);
			conn->discard = true;
		} else {
			r->close_after = true;
			conn->no_more = true;
		}
		/* nothing more is read: the response ends it */
		conn->cur = NULL;
		conn->state = H1_HEAD;
		return;
	}
	conn->body_total += size;
	if (conn->discard)
		return;
	if (h1_req_grow(r, size) != 0) {
		h1_req_fail(conn, r, 500, true);
		conn->discard = true;
		conn->cur = NULL;
		conn->state = H1_HEAD;
	}
}

/* Parse a chunk-size line: 0 and *size, or -1. */
static int
h1_chunk_size(const char *s, size_t len, size_t *size)
{
	size_t i, v = 0;

	for (i = 0; i < len; i++) {
		int ch = s[i], d;

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			break;
		if (v > (SIZE_MAX >> 4))
			v = SIZE_MAX;	/* surely too large */
		else
			v = (v << 4) | (size_t)d;
	}
	if (i == 0)
		return -1;
	/* then optional whitespace and ";extensions" */
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < len && s[i] != ';')
		return -1;
	*size = v;
	return 0;
}

/*
 * Parse what the input holds: heads, bodies, chunks.  Stops at the
 * pipeline limit (and pauses reading), when a request ends the
 * connection, or when more bytes are needed.
 */
static void
h1_conn_parse(struct h1_conn *conn)
{
	unsigned rounds;

	/* each round consumes input or stops; the bound is a safety net */
	for (rounds = 0; rounds < 1000000; rounds++) {
		if (conn->close_asked || (conn->no_more && conn->cur == NULL))
			break;
		switch (conn->state) {
		case H1_HEAD: {
			size_t end;

			if (conn->nreq >= H1_PIPELINE_MAX) {
				if (!conn->paused) {
					conn->paused = true;
					comm_conn_pause_read(conn->c, 1);
				}
				return;
			}
			if (conn->in_len == 0)
				return;
			end = h1_scan_head(conn);
			if (end == 0)
				return;	/* more needed, or failed */
			h1_head_done(conn, end);
			h1_consume(conn, end);
			conn->line_start = 0;
			conn->reqline_end = 0;
			conn->skip_lead = 0;
			break;
		}
		case H1_BODY: {
			size_t n = conn->in_len < conn->body_left ?
			    conn->in_len : conn->body_left;

			if (n == 0)
				return;
			h1_body_bytes(conn, conn->in, n);
			h1_consume(conn, n);
			conn->body_left -= n;
			if (conn->body_left == 0)
				h1_body_done(conn);
			break;
		}
		case H1_CHUNK_SIZE:
		case H1_CHUNK_END:
		case H1_TRAILER: {
			const uint8_t *nl = memchr(conn->in, '\n',
			    conn->in_len);
			size_t l, size = 0;
			bool empty;

			if (nl == NULL) {
				if (conn->in_len > H1_CHUNK_LINE_MAX)
					goto bad_chunk;
				return;
			}
			l = (size_t)(nl - conn->in);
			if (l > H1_CHUNK_LINE_MAX)
				goto bad_chunk;
			empty = l == 0 || (l == 1 && conn->in[0] == '\r');
			if (conn->state == H1_CHUNK_END) {
				/* only the line end after the data */
				if (!empty)
					goto bad_chunk;
				h1_consume(conn, l + 1);
				conn->state = H1_CHUNK_SIZE;
				break;
			}
			if (conn->state == H1_TRAILER) {
				h1_consume(conn, l + 1);
				conn->trailer_bytes += l + 1;
				if (empty)
					h1_body_done(conn);
				else if (conn->trailer_bytes > H1_HEADER_MAX)
					goto bad_chunk;
				break;
			}
			if (l > 0 && conn->in[l - 1] == '\r')
				l--;
			if (h1_chunk_size((const char *)conn->in, l,
			    &size) != 0)
				goto bad_chunk;
			h1_consume(conn, (size_t)(nl - conn->in) + 1);
			if (size == 0) {
				conn->state = H1_TRAILER;
				conn->trailer_bytes = 0;
				break;
			}
			h1_chunk_start(conn, size);
			break;
		}
		case H1_CHUNK_DATA: {
			size_t n = conn->in_len < conn->body_left ?
			    conn->in_len : conn->body_left;

			if (n == 0)
				return;
			h1_body_bytes(conn, conn->in, n);
			h1_consume(conn, n);
			conn->body_left -= n;
			if (conn->body_left == 0)
				conn->state = H1_CHUNK_END;
			break;
		}
		}
	}
	return;
bad_chunk:
	if (conn->cur != NULL) {
		struct h1_req *r = conn->cur;

		conn->cur = NULL;
		conn->state = H1_HEAD;
		if (!r->ready)
			h1_req_fail(conn, r, 400, true);
		else {
			r->close_after = true;
			conn->no_more = true;
		}
	}
}

/* ------------------------------------------------------------ proto */

static int
doh_h1_open(struct comm_conn *c, void *state)
{
	struct h1_conn *conn = state;
	socklen_t plen = 0;
	const struct sockaddr *peer;
	size_t lm;

	conn->c = c;
	conn->env = comm_conn_env(c);
	if (conn->env == NULL || conn->env->doh == NULL)
		return -EINVAL;
	conn->sh = conn->env->doh;
	conn->st = comm_conn_stats(c);
	/* as HTTP/2's header list: room for the longest GET allowed */
	lm = H1_LINE_BASE + strlen(conn->sh->endpoint) + sizeof("?dns=") +
	    2 + doh_req_b64_max_len(conn->sh->max_query);
	conn->line_max = lm > H1_LINE_CAP ? H1_LINE_CAP : lm;
	peer = comm_conn_peer(c, &plen);
	conn->peer_trusted = peer != NULL && conn->sh->trusted.n > 0 &&
	    netblock_lookup(&conn->sh->trusted, peer) != NULL;
	return 0;
}

static int
doh_h1_input(struct comm_conn *c, void *state, const uint8_t *data,
    size_t len)
{
	struct h1_conn *conn = state;

	(void)c;
	if (conn->close_asked || (conn->no_more && conn->cur == NULL))
		return 0;	/* a request ended the connection */
	if (len > H1_IN_MAX - conn->in_len) {
		verbose(VERB_QUERY, "doh: %s: HTTP/1.1 input over %d bytes",
		    comm_conn_peer_str(c), H1_IN_MAX);
		return -ENOBUFS;
	}
	if (conn->in_len + len > conn->in_cap) {
		size_t cap = conn->in_cap ? conn->in_cap : 4096;
		uint8_t *p;

		while (cap < conn->in_len + len)
			cap *= 2;
		p = realloc(conn->in, cap);
		if (p == NULL)
			return -ENOMEM;
		conn->in = p;
		conn->in_cap = cap;
	}
	memcpy(conn->in + conn->in_len, data, len);
	conn->in_len += len;
	conn->in_input = true;
	h1_conn_parse(conn);
	conn->in_input = false;
	h1_conn_output(conn);
	return 0;
}

static int
doh_h1_writable(struct comm_conn *c, void *state)
{
	(void)c;
	h1_conn_output(state);
	return 0;
}

/* Idle (nothing with the resolver): close at once. */
static int
doh_h1_idle(struct comm_conn *c, void *state)
{
	(void)c;
	(void)state;
	return 1;
}

static void
doh_h1_close(struct comm_conn *c, void *state, enum comm_close_why why)
{
	struct h1_conn *conn = state;
	struct h1_req *r;

	(void)c;
	(void)why;
	conn->closing = true;
	while ((r = conn->head) != NULL) {
		conn->head = r->next;
		if (conn->sh != NULL)
			h1_req_free(r);
		else
			free(r);
	}
	conn->tail = NULL;
	conn->cur = NULL;
	free(conn->in);
	conn->in = NULL;
}

const struct comm_proto doh_h1_proto = {
	.name = "doh-h1",
	.state_size = sizeof(struct h1_conn),
	.open = doh_h1_open,
	.input = doh_h1_input,
	.writable = doh_h1_writable,
	.idle = doh_h1_idle,
	.close = doh_h1_close,
};

/* ------------------------------------------------------------ detect */

static const uint8_t h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN	(sizeof(h2_preface) - 1)

struct doh_detect {
	const struct comm_proto *p;	/* chosen, NULL until decided */
	void *st;			/* its state */
	bool opened;			/* its open was called */
	uint8_t buf[H2_PREFACE_LEN];
	size_t n;
};

static int
doh_detect_open(struct comm_conn *c, void *state)
{
	(void)c;
	(void)state;
	return 0;	/* the first bytes decide */
}

static int
doh_detect_input(struct comm_conn *c, void *state, const uint8_t *data,
    size_t len)
{
	struct doh_detect *d = state;
	size_t take;
	int rv;
	uint8_t b0;

	if (d->p != NULL)
		return d->p->input(c, d->st, data, len);
	take = H2_PREFACE_LEN - d->n;
	if (take > len)
		take = len;
	memcpy(d->buf + d->n, data, take);
	d->n += take;
	if (d->n == 0)
		return 0;
	b0 = d->buf[0];
	if (b0 == 0x16) {
		verbose(VERB_QUERY, "doh: %s: a TLS handshake on a clear-text "
		    "DoH port (http-notls-downstream: yes): closed",
		    comm_conn_peer_str(c));
		return -EPROTO;
	}
	if (!((b0 >= 'A' && b0 <= 'Z') || b0 == '\r' || b0 == '\n')) {
		verbose(VERB_QUERY, "doh: %s: the peer speaks neither HTTP/2 "
		    "(prior knowledge) nor HTTP/1.x: closed",
		    comm_conn_peer_str(c));
		return -EPROTO;
	}
	if (memcmp(d->buf, h2_preface, d->n) == 0 && d->n < H2_PREFACE_LEN)
		return 0;	/* maybe the preface: wait for more */
	d->p = (d->n == H2_PREFACE_LEN &&
	    memcmp(d->buf, h2_preface, H2_PREFACE_LEN) == 0) ?
	    &doh_h2_proto : &doh_h1_proto;
	verbose(VERB_ALGO, "doh: %s: %s", comm_conn_peer_str(c), d->p->name);
	d->st = calloc(1, d->p->state_size);
	if (d->st == NULL) {
		d->p = NULL;
		return -ENOMEM;
	}
	d->opened = true;
	rv = d->p->open(c, d->st);
	if (rv != 0)
		return rv;
	rv = d->p->input(c, d->st, d->buf, d->n);
	if (rv != 0 || take == len)
		return rv;
	return d->p->input(c, d->st, data + take, len - take);
}

static int
doh_detect_writable(struct comm_conn *c, void *state)
{
	struct doh_detect *d = state;

	if (d->p == NULL || d->p->writable == NULL)
		return 0;
	return d->p->writable(c, d->st);
}

static int
doh_detect_idle(struct comm_conn *c, void *state)
{
	struct doh_detect *d = state;

	if (d->p == NULL || d->p->idle == NULL)
		return 1;
	return d->p->idle(c, d->st);
}

static void
doh_detect_close(struct comm_conn *c, void *state, enum comm_close_why why)
{
	struct doh_detect *d = state;

	if (d->p != NULL && d->opened)
		d->p->close(c, d->st, why);
	free(d->st);
	d->st = NULL;
	d->p = NULL;
}

const struct comm_proto doh_detect_proto = {
	.name = "doh-detect",
	.state_size = sizeof(struct doh_detect),
	.open = doh_detect_open,
	.input = doh_detect_input,
	.writable = doh_detect_writable,
	.idle = doh_detect_idle,
	.close = doh_detect_close,
};
