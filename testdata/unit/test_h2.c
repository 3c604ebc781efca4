/*
 * testdata/unit/test_h2.c - doh_h2_proto driven by an in-process nghttp2
 * CLIENT session through a fake comm_conn (bytes in memory) and a fake
 * resolver (answers at once, later, never, or drops).  Checks headers,
 * status codes, stream limits, budgets (exact while streams live, 0
 * after close) and counters.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "comm/comm.h"
#include "dns/base64url.h"
#include "dns/wire.h"
#include "module/doh/doh.h"
#include "module/doh/h2mem.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/budget.h"
#include "util/config.h"
#include "util/stats.h"

/* ------------------------------------------------------------ fake comm */

struct comm_conn {
	struct module_env *env;
	uint8_t *out;		/* written by the module, not yet read */
	size_t outlen;
	size_t outcap;
	bool busy;
	bool closed;
	bool graceful;
	bool tls;
	int want_writable;
	struct sockaddr_in peer;
};

int
comm_conn_write(struct comm_conn *c, const struct iovec *iov, int iovcnt)
{
	int i;

	if (c->closed)
		return -EPIPE;
	for (i = 0; i < iovcnt; i++) {
		if (c->outlen + iov[i].iov_len > COMM_OUT_MAX)
			return -ENOBUFS;
		if (c->outlen + iov[i].iov_len > c->outcap) {
			size_t cap = (c->outlen + iov[i].iov_len) * 2;
			uint8_t *p = realloc(c->out, cap);

			assert_non_null(p);
			c->out = p;
			c->outcap = cap;
		}
		memcpy(c->out + c->outlen, iov[i].iov_base, iov[i].iov_len);
		c->outlen += iov[i].iov_len;
	}
	return 0;
}

size_t
comm_conn_pending(const struct comm_conn *c)
{
	return c->outlen;
}

void
comm_conn_want_writable(struct comm_conn *c)
{
	c->want_writable++;
}

void
comm_conn_pause_read(struct comm_conn *c, int pause)
{
	(void)c;
	(void)pause;
}

void
comm_conn_close(struct comm_conn *c, bool graceful)
{
	c->closed = true;
	c->graceful = graceful;
}

void
comm_conn_set_busy(struct comm_conn *c, bool busy)
{
	c->busy = busy;
}

void
comm_conn_own_activity(struct comm_conn *c)
{
	(void)c;
}

void
comm_conn_activity(struct comm_conn *c)
{
	(void)c;
}

void *
comm_conn_env(const struct comm_conn *c)
{
	return c->env;
}

const struct sockaddr *
comm_conn_peer(const struct comm_conn *c, socklen_t *len)
{
	*len = sizeof(c->peer);
	return (const struct sockaddr *)&c->peer;
}

const char *
comm_conn_peer_str(const struct comm_conn *c)
{
	(void)c;
	return "192.0.2.9 port 4242";
}

bool
comm_conn_is_tls(const struct comm_conn *c)
{
	return c->tls;
}

struct stats *
comm_conn_stats(const struct comm_conn *c)
{
	return c->env->stats;
}

/* ------------------------------------------------------------ fake resolver */

enum res_mode { RES_NOW, RES_LATER, RES_NEVER, RES_DROP };

struct res_req {
	bool used;
	bool cancelled;
	bool done;
	res_done_cb cb;
	void *arg;
	uint8_t q[1024];
	size_t qlen;
};

static struct {
	enum res_mode mode;
	struct res_req reqs[16];
	int submitted;
	int cancelled;
	bool last_stream, last_encrypted;
	uint32_t ttl;
	bool tailored;		/* res_answer_tailored says */
} fres;

/* The answer to q: QR, RA, one A record with fres.ttl. */
static size_t
make_answer(const uint8_t *q, size_t qlen, uint8_t *out, size_t cap)
{
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0,
		0, 4, 192, 0, 2, 1 };

	assert_true(qlen + sizeof(rr) <= cap);
	memcpy(out, q, qlen);
	out[2] |= 0x80;
	out[3] |= 0x80;
	out[7] = 1;	/* ANCOUNT */
	memcpy(out + qlen, rr, sizeof(rr));
	out[qlen + 6] = (uint8_t)(fres.ttl >> 24);
	out[qlen + 7] = (uint8_t)(fres.ttl >> 16);
	out[qlen + 8] = (uint8_t)(fres.ttl >> 8);
	out[qlen + 9] = (uint8_t)fres.ttl;
	return qlen + sizeof(rr);
}

struct res_req *
res_submit(struct resolver *r, const uint8_t *query, size_t len,
    const struct res_client *client, res_done_cb done, void *arg)
{
	struct res_req *q = NULL;
	uint8_t ans[1200];
	int i;

	(void)r;
	fres.submitted++;
	fres.last_stream = client->stream;
	fres.last_encrypted = client->encrypted;
	assert_non_null(client->addr);
	if (fres.mode == RES_NOW) {
		done(arg, ans, make_answer(query, len, ans, sizeof(ans)));
		return NULL;
	}
	if (fres.mode == RES_DROP) {
		done(arg, NULL, 0);
		return NULL;
	}
	for (i = 0; i < 16; i++)
		if (!fres.reqs[i].used) {
			q = &fres.reqs[i];
			break;
		}
	assert_non_null(q);
	memset(q, 0, sizeof(*q));
	q->used = true;
	q->cb = done;
	q->arg = arg;
	if (fres.mode == RES_LATER)
		assert_true(len <= sizeof(q->q));
	q->qlen = len < sizeof(q->q) ? len : sizeof(q->q);
	memcpy(q->q, query, q->qlen);
	return q;
}

void
res_cancel(struct res_req *req)
{
	assert_true(req->used);
	assert_false(req->done);
	assert_false(req->cancelled);
	req->cancelled = true;
	req->used = false;
	fres.cancelled++;
}

#define FAKE_RES_TAILORED(r) ((void)(r), fres.tailored)
#include "testdata/fake_resolver.h"

/* Answer pending request i now (RES_LATER). */
static void
fres_answer(int i)
{
	struct res_req *q = &fres.reqs[i];
	uint8_t ans[1200];
	size_t n;

	assert_true(q->used);
	q->done = true;
	q->used = false;
	n = make_answer(q->q, q->qlen, ans, sizeof(ans));
	q->cb(q->arg, ans, n);
}

/* ------------------------------------------------------------ client */

#define MAXS 64

struct cstream {
	int status;
	char ctype[64];
	char clen[24];
	char cc[64];
	bool has_cc;
	uint8_t body[2048];
	size_t bodylen;
	bool closed;
	uint32_t close_code;
	bool rst;
	uint32_t rst_code;
	/* request body provider */
	const uint8_t *req;
	size_t reqlen;
	size_t reqpos;
	size_t chunk;	/* bytes a DATA frame, 0 = all */
	bool defer;	/* hold the body back (request never ends) */
};

struct h2t {
	struct doh_shared sh;
	struct stats st;
	struct module_env env;
	struct comm_conn conn;
	void *state;
	nghttp2_session *cli;
	uint8_t c2s[256 * 1024];
	size_t c2slen;
	struct cstream s[MAXS];
	bool goaway;
	uint32_t goaway_code;
	bool raw;		/* test writes raw bytes itself */
	bool hide_limit;	/* the client does not see max streams */
	bool srv_seen;		/* the server's first bytes went by */
};

static struct h2t *T;

static struct cstream *
cs(int32_t id)
{
	assert_true(id > 0);
	return &T->s[(id / 2) % MAXS];	/* submit() clears a reused slot */
}

static ssize_t
cli_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	(void)s;
	(void)flags;
	(void)arg;
	if (T->c2slen + len > sizeof(T->c2s))
		return NGHTTP2_ERR_WOULDBLOCK;
	memcpy(T->c2s + T->c2slen, data, len);
	T->c2slen += len;
	return (ssize_t)len;
}

static int
cli_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n,
    size_t nl, const uint8_t *v, size_t vl, uint8_t flags, void *arg)
{
	struct cstream *c = cs(f->hd.stream_id);

	(void)s;
	(void)flags;
	(void)arg;
	if (nl == 7 && memcmp(n, ":status", 7) == 0)
		c->status = atoi((const char *)v);
	else if (nl == 12 && memcmp(n, "content-type", 12) == 0)
		snprintf(c->ctype, sizeof(c->ctype), "%.*s", (int)vl, v);
	else if (nl == 14 && memcmp(n, "content-length", 14) == 0)
		snprintf(c->clen, sizeof(c->clen), "%.*s", (int)vl, v);
	else if (nl == 13 && memcmp(n, "cache-control", 13) == 0) {
		snprintf(c->cc, sizeof(c->cc), "%.*s", (int)vl, v);
		c->has_cc = true;
	}
	return 0;
}

static int
cli_data_cb(nghttp2_session *s, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct cstream *c = cs(id);

	(void)s;
	(void)flags;
	(void)arg;
	assert_true(c->bodylen + len <= sizeof(c->body));
	memcpy(c->body + c->bodylen, data, len);
	c->bodylen += len;
	return 0;
}

static int
cli_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	(void)s;
	(void)arg;
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		cs(f->hd.stream_id)->rst = true;
		cs(f->hd.stream_id)->rst_code = f->rst_stream.error_code;
	} else if (f->hd.type == NGHTTP2_GOAWAY) {
		T->goaway = true;
		T->goaway_code = f->goaway.error_code;
	}
	return 0;
}

static int
cli_close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	(void)s;
	(void)arg;
	cs(id)->closed = true;
	cs(id)->close_code = code;
	return 0;
}

static ssize_t
cli_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct cstream *c = cs(id);
	size_t n = c->reqlen - c->reqpos;

	(void)s;
	(void)src;
	(void)arg;
	if (c->defer)
		return NGHTTP2_ERR_DEFERRED;
	if (c->chunk && n > c->chunk)
		n = c->chunk;
	if (n > len)
		n = len;
	memcpy(buf, c->req + c->reqpos, n);
	c->reqpos += n;
	if (c->reqpos == c->reqlen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Move bytes both ways until nothing moves (bounded). */
static void
pump(void)
{
	int i;

	for (i = 0; i < 100; i++) {
		bool moved = false;

		if (!T->raw)
			assert_int_equal(nghttp2_session_send(T->cli), 0);
		if (T->c2slen > 0 && !T->conn.closed) {
			size_t n = T->c2slen;

			T->c2slen = 0;
			assert_int_equal(doh_h2_proto.input(&T->conn, T->state,
			    T->c2s, n), 0);
			moved = true;
		} else {
			T->c2slen = 0;
		}
		if (T->conn.outlen > 0) {
			size_t n = T->conn.outlen;
			bool was_over = n > COMM_OUT_MARK;
			ssize_t rv;

			T->conn.outlen = 0;
			if (!T->srv_seen && T->hide_limit) {
				/* our SETTINGS: MAX_CONCURRENT_STREAMS first */
				assert_true(n >= 15);
				assert_int_equal(T->conn.out[3], NGHTTP2_SETTINGS);
				assert_int_equal(T->conn.out[10],
				    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
				T->conn.out[13] = 0x03;	/* 1000 */
				T->conn.out[14] = 0xe8;
			}
			T->srv_seen = true;
			rv = nghttp2_session_mem_recv(T->cli, T->conn.out, n);
			assert_int_equal(rv, (ssize_t)n);
			moved = true;
			if (was_over && !T->conn.closed)
				doh_h2_proto.writable(&T->conn, T->state);
		}
		if (!moved)
			return;
	}
	fail_msg("pump did not settle");
}

static void
h2t_start(size_t qlimit, size_t rlimit, size_t max_query, unsigned streams)
{
	nghttp2_session_callbacks *cb;

	T = calloc(1, sizeof(*T));
	assert_non_null(T);
	budget_init(&T->sh.query_budget, qlimit);
	budget_init(&T->sh.response_budget, rlimit);
	T->sh.endpoint = strdup("/dns-query");
	T->sh.max_query = max_query;
	T->sh.max_streams = streams;
	T->sh.idle_timeout_msec = 30000;
	T->env.stats = &T->st;
	T->env.doh = &T->sh;
	T->conn.env = &T->env;
	T->conn.tls = true;
	T->conn.peer.sin_family = AF_INET;
	T->conn.peer.sin_port = htons(4242);
	inet_pton(AF_INET, "192.0.2.9", &T->conn.peer.sin_addr);
	memset(&fres, 0, sizeof(fres));
	fres.ttl = 300;
	T->state = calloc(1, doh_h2_proto.state_size);
	assert_non_null(T->state);
	assert_int_equal(doh_h2_proto.open(&T->conn, T->state), 0);

	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_send_callback(cb, cli_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, cli_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    cli_data_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    cli_frame_recv_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    cli_close_cb);
	assert_int_equal(nghttp2_session_client_new(&T->cli, cb, NULL), 0);
	nghttp2_session_callbacks_del(cb);
	assert_int_equal(nghttp2_submit_settings(T->cli, NGHTTP2_FLAG_NONE,
	    NULL, 0), 0);
}

/* Close the server side (as comm does), then check nothing is held. */
static void
h2t_end(void)
{
	doh_h2_proto.close(&T->conn, T->state, COMM_CLOSE_EOF);
	assert_int_equal(budget_used(&T->sh.query_budget), 0);
	assert_int_equal(budget_used(&T->sh.response_budget), 0);
	nghttp2_session_del(T->cli);
	free(T->state);
	free(T->conn.out);
	free(T->sh.endpoint);
	free(T);
	T = NULL;
}

/* A query for example.com A with id 'id', 29 bytes. */
static size_t
make_query(uint8_t *q, uint16_t id)
{
	static const uint8_t tmpl[] = { 0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0,
		0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm',
		0, 0, 1, 0, 1 };

	memcpy(q, tmpl, sizeof(tmpl));
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	return sizeof(tmpl);
}

#define NV(n, v) { (uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), \
	strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

static int32_t
submit(const char *method, const char *path, const char *ctype,
    const char *clen, const uint8_t *body, size_t bodylen, size_t chunk)
{
	nghttp2_nv nva[8] = {
		NV(":method", method), NV(":scheme", "https"),
		NV(":authority", "localhost"), NV(":path", path),
	};
	size_t n = 4;
	nghttp2_data_provider prd;
	int32_t id;

	if (ctype)
		nva[n++] = (nghttp2_nv)NV("content-type", ctype);
	if (clen)
		nva[n++] = (nghttp2_nv)NV("content-length", clen);
	prd.read_callback = cli_read_cb;
	prd.source.ptr = NULL;
	id = nghttp2_submit_request(T->cli, NULL, nva, n, body ? &prd : NULL,
	    NULL);
	assert_true(id > 0);
	memset(cs(id), 0, sizeof(struct cstream));
	if (body) {
		cs(id)->req = body;
		cs(id)->reqlen = bodylen;
		cs(id)->chunk = chunk;
	}
	return id;
}

static int32_t
submit_get(uint16_t id, const char *extra_before, const char *extra_after)
{
	uint8_t q[64];
	char b64[128], path[512];
	size_t n = make_query(q, id);

	assert_true(base64url_encode(q, n, b64, sizeof(b64)) > 0);
	snprintf(path, sizeof(path), "/dns-query?%s%sdns=%s%s%s",
	    extra_before ? extra_before : "", extra_before ? "&" : "", b64,
	    extra_after ? "&" : "", extra_after ? extra_after : "");
	return submit("GET", path, NULL, NULL, NULL, 0, 0);
}

static uint64_t
http_status_count(int code)
{
	switch (code) {
#define C(n) case n: return T->st.http_status[STAT_HTTP_##n];
	STATS_HTTP_STATUSES(C)
#undef C
	}
	return 0;
}

static void
check_200(int32_t id, uint16_t qid, const char *maxage)
{
	struct cstream *c = cs(id);
	char len[16];

	assert_int_equal(c->status, 200);
	assert_string_equal(c->ctype, "application/dns-message");
	snprintf(len, sizeof(len), "%zu", c->bodylen);
	assert_string_equal(c->clen, len);
	assert_int_equal(c->bodylen, 29 + 16);
	if (maxage) {
		assert_true(c->has_cc);
		assert_string_equal(c->cc, maxage);
	} else {
		assert_false(c->has_cc);
	}
	assert_int_equal(c->body[0], qid >> 8);
	assert_int_equal(c->body[1], qid & 0xff);
	assert_true(c->body[2] & 0x80);
	assert_true(c->closed);
	assert_int_equal(c->close_code, NGHTTP2_NO_ERROR);
}

/* ------------------------------------------------------------ tests */

static void
test_get_ok(void **unused)
{
	int32_t id;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	id = submit_get(0x1234, "ct=x", "other=1");
	pump();
	check_200(id, 0x1234, "max-age=300");
	assert_int_equal(fres.submitted, 1);
	assert_true(fres.last_stream);
	assert_true(fres.last_encrypted);
	assert_int_equal(T->st.c[STAT_QUERY_HTTPS], 1);
	assert_int_equal(T->st.c[STAT_QUERY_TCP], 1);
	assert_int_equal(T->st.c[STAT_QUERY_TLS], 1);
	assert_int_equal(http_status_count(200), 1);
	/* the server advertised its limits */
	assert_int_equal(nghttp2_session_get_remote_settings(T->cli,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100);
	/* 8192 + "/dns-query" + "?dns=" NUL + "==" + 87403, capped */
	assert_int_equal(nghttp2_session_get_remote_settings(T->cli,
	    NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 65536);
	assert_false(T->conn.busy);
	assert_int_equal(budget_used(&T->sh.query_budget), 0);
	assert_int_equal(budget_used(&T->sh.response_budget), 0);
	h2t_end();
}

static void
test_tailored_answer_private(void **unused)
{
	int32_t id;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	fres.tailored = true;
	id = submit_get(0x1234, NULL, NULL);
	pump();
	check_200(id, 0x1234, "private, max-age=300");
	fres.tailored = false;
	fres.mode = RES_LATER;
	id = submit_get(0x1235, NULL, NULL);
	pump();
	fres.tailored = true;
	fres_answer(0);
	pump();
	check_200(id, 0x1235, "private, max-age=300");
	h2t_end();
}

static void
test_get_padded_and_ttl(void **unused)
{
	uint8_t q[64];
	char b64[128], path[256];
	size_t n;
	int32_t id;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	fres.ttl = 17;
	T->conn.tls = false;
	n = make_query(q, 7);
	assert_true(base64url_encode(q, n, b64, sizeof(b64)) > 0);
	/* 29 bytes -> 39 characters + one '=' of padding */
	snprintf(path, sizeof(path), "/dns-query?dns=%s=", b64);
	id = submit("GET", path, "Application/DNS-Message", NULL, NULL, 0,
	    0);
	pump();
	check_200(id, 7, "max-age=17");
	assert_int_equal(T->st.c[STAT_QUERY_TLS], 0);
	assert_false(fres.last_encrypted);
	h2t_end();
}

static void
test_post_ok(void **unused)
{
	uint8_t q[64];
	size_t n;
	int32_t a, b;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	n = make_query(q, 0xbeef);
	a = submit("POST", "/dns-query", "application/dns-message", "29", q,
	    n, 0);
	/* no content-length, body in one DATA frame */
	b = submit("POST", "/dns-query", NULL, NULL, q, n, 0);
	pump();
	check_200(a, 0xbeef, "max-age=300");
	check_200(b, 0xbeef, "max-age=300");
	assert_int_equal(http_status_count(200), 2);
	assert_int_equal(T->st.c[STAT_QUERY_HTTPS], 2);
	h2t_end();
}

static void
test_answer_later(void **unused)
{
	int32_t id;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	fres.mode = RES_LATER;
	id = submit_get(0x4242, NULL, NULL);
	pump();
	assert_int_equal(cs(id)->status, 0);
	assert_true(T->conn.busy);
	/* the decoded query is held while it is resolved, exactly */
	assert_int_equal(budget_used(&T->sh.query_budget), 29);
	fres_answer(0);
	/* answered outside nghttp2: the module wrote at once; the query
	 * buffer went when the answer came, the response is held until
	 * sent */
	assert_int_equal(budget_used(&T->sh.query_budget), 0);
	assert_true(T->conn.outlen > 0);
	pump();
	check_200(id, 0x4242, "max-age=300");
	assert_int_equal(budget_used(&T->sh.response_budget), 0);
	assert_false(T->conn.busy);
	h2t_end();
}

static void
expect_status(int32_t id, int status)
{
	assert_int_equal(cs(id)->status, status);
	assert_string_equal(cs(id)->clen, "0");
	assert_int_equal(cs(id)->bodylen, 0);
}

static void
test_statuses(void **unused)
{
	static uint8_t big[600], small[8];
	char longpath[1024];
	int32_t i404, i501, i415, i414, i400a, i400b, i400c, i400d, i413a,
	    i413b, i400e, i415g;

	(void)unused;
	h2t_start(0, 0, 512, 100);
	memset(big, 0, sizeof(big));
	i404 = submit("GET", "/other?dns=AAAA", NULL, NULL, NULL, 0, 0);
	i501 = submit("PUT", "/dns-query", NULL, NULL, NULL, 0, 0);
	i415 = submit("POST", "/dns-query", "text/plain", "29", big, 29, 0);
	i415g = submit_get(1, NULL, NULL);
	/* 512 bytes need 683 characters; 684 is one too many */
	memcpy(longpath, "/dns-query?dns=", 15);
	memset(longpath + 15, 'A', 684);
	longpath[15 + 684] = 0;
	i414 = submit("GET", longpath, NULL, NULL, NULL, 0, 0);
	i400a = submit("GET", "/dns-query?xdns=AAAA", NULL, NULL, NULL, 0, 0);
	i400b = submit("GET", "/dns-query?dns=AAAA*AAAAAAAAAAAAAAA", NULL,
	    NULL, NULL, 0, 0);
	i400c = submit("GET", "/dns-query?dns=AAAAAAAA", NULL, NULL, NULL, 0,
	    0);
	i400d = submit("POST", "/dns-query", NULL, NULL, NULL, 0, 0);
	i413a = submit("POST", "/dns-query", NULL, "600", big, 600, 0);
	/* no content-length: first DATA frame of 20, then more */
	i413b = submit("POST", "/dns-query", NULL, NULL, big, 40, 20);
	i400e = submit("POST", "/dns-query", NULL, NULL, small, 8, 0);
	pump();
	expect_status(i404, 404);
	expect_status(i501, 501);
	expect_status(i415, 415);
	assert_int_equal(cs(i415g)->status, 200);
	expect_status(i414, 414);
	expect_status(i400a, 400);
	expect_status(i400b, 400);
	expect_status(i400c, 400);
	expect_status(i400d, 400);
	expect_status(i413a, 413);
	expect_status(i413b, 413);
	expect_status(i400e, 400);
	assert_int_equal(http_status_count(404), 1);
	assert_int_equal(http_status_count(501), 1);
	assert_int_equal(http_status_count(415), 1);
	assert_int_equal(http_status_count(414), 1);
	assert_int_equal(http_status_count(400), 5);
	assert_int_equal(http_status_count(413), 2);
	assert_int_equal(http_status_count(200), 1);
	assert_int_equal(fres.submitted, 1);
	assert_int_equal(T->st.c[STAT_QUERY_HTTPS], 1);
	h2t_end();
}

static void
test_get_content_type_415(void **unused)
{
	int32_t id;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	id = submit("GET", "/dns-query?dns=AAABAAABAAAAAAAAB2V4YW1wbGUDY29tAAABAAE",
	    "application/json", NULL, NULL, 0, 0);
	pump();
	expect_status(id, 415);
	h2t_end();
}

/* The longest URIs: within the header list -> the size rules decide;
 * past it -> 414 from the :path itself. */
/* An error status waits for the end of the request, then is sent. */
static void
test_error_waits_for_end(void **unused)
{
	static uint8_t big[70000];
	int32_t a;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	a = submit("POST", "/dns-query", NULL, "70000", big, sizeof(big), 0);
	cs(a)->defer = true;
	pump();
	assert_int_equal(cs(a)->status, 0);
	assert_int_equal(budget_used(&T->sh.query_budget), 0);
	/* more than the stream window: nghttp2 gives it back as we drop */
	cs(a)->defer = false;
	assert_int_equal(nghttp2_session_resume_data(T->cli, a), 0);
	pump();
	expect_status(a, 413);
	assert_true(cs(a)->closed);
	assert_int_equal(cs(a)->close_code, NGHTTP2_NO_ERROR);
	assert_int_equal(T->st.c[STAT_HTTP_RST_SENT], 0);
	assert_int_equal(http_status_count(413), 1);
	h2t_end();
}

static void
test_long_uri(void **unused)
{
	static char path[70000];
	int32_t a, b, c;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	fres.mode = RES_NEVER;
	/* 20000 characters: a 15000-byte query, under msg-buffer-size */
	memcpy(path, "/dns-query?dns=", 15);
	memset(path + 15, 'A', 20000);
	path[15 + 20000] = 0;
	a = submit("GET", path, NULL, NULL, NULL, 0, 0);
	pump();
	assert_false(cs(a)->closed);
	assert_int_equal(fres.submitted, 1);
	assert_int_equal(budget_used(&T->sh.query_budget), 15000);
	h2t_end();

	h2t_start(0, 0, 512, 100);
	pump();
	assert_int_equal(nghttp2_session_get_remote_settings(T->cli,
	    NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 8192 + 10 + 6 + 2 + 683);
	/* past the header list: 414, the connection goes on */
	b = submit("GET", path, NULL, NULL, NULL, 0, 0);
	pump();
	expect_status(b, 414);
	c = submit_get(6, NULL, NULL);
	pump();
	check_200(c, 6, "max-age=300");
	assert_int_equal(http_status_count(414), 1);
	h2t_end();
}

static void
test_body_over_content_length(void **unused)
{
	static uint8_t big[64];
	int32_t id, id2, id3;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	/* 413, then RST_STREAM(NO_ERROR) as the client is still sending */
	id = submit("POST", "/dns-query", NULL, "29", big, 40, 0);
	/* body in two frames, the second crosses content-length */
	id2 = submit("POST", "/dns-query", NULL, "29", big, 40, 20);
	/* END_STREAM short of content-length: 400 */
	id3 = submit("POST", "/dns-query", NULL, "29", big, 20, 0);
	pump();
	expect_status(id, 413);
	expect_status(id2, 413);
	expect_status(id3, 400);
	{
		/* two content-length headers: malformed */
		nghttp2_nv nva[] = {
			NV(":method", "POST"), NV(":scheme", "https"),
			NV(":authority", "x"), NV(":path", "/dns-query"),
			NV("content-length", "29"), NV("content-length", "29"),
		};
		int32_t id4 = nghttp2_submit_request(T->cli, NULL, nva, 6,
		    NULL, NULL);

		pump();
		expect_status(id4, 400);
	}
	assert_int_equal(http_status_count(413), 2);
	assert_int_equal(http_status_count(400), 2);
	assert_int_equal(fres.submitted, 0);
	h2t_end();
}

static void
test_max_streams(void **unused)
{
	int32_t a, b, c;

	(void)unused;
	h2t_start(0, 0, 65552, 2);
	fres.mode = RES_NEVER;
	/* all three leave before the client sees our SETTINGS */
	a = submit_get(1, NULL, NULL);
	b = submit_get(2, NULL, NULL);
	c = submit_get(3, NULL, NULL);
	pump();
	assert_int_equal(nghttp2_session_get_remote_settings(T->cli,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 2);
	assert_false(cs(a)->closed);
	assert_false(cs(b)->closed);
	assert_true(cs(c)->rst);
	assert_int_equal(cs(c)->rst_code, NGHTTP2_REFUSED_STREAM);
	assert_int_equal(T->st.c[STAT_HTTP_RST_SENT], 1);
	assert_int_equal(fres.submitted, 2);
	assert_int_equal(budget_used(&T->sh.query_budget), 58);
	/* connection close with pending streams: both cancelled */
	h2t_end();
	assert_int_equal(fres.cancelled, 2);
}

/*
 * After the SETTINGS are acknowledged, a client that ignores the limit
 * gets REFUSED_STREAM for the extra stream only; the connection goes on.
 */
static void
test_max_streams_after_ack(void **unused)
{
	int32_t a, b, c, d;

	(void)unused;
	h2t_start(0, 0, 65552, 2);
	T->hide_limit = true;
	pump();		/* SETTINGS both ways, ACKs both ways */
	assert_int_equal(nghttp2_session_get_remote_settings(T->cli,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 1000);
	fres.mode = RES_LATER;
	a = submit_get(1, NULL, NULL);
	b = submit_get(2, NULL, NULL);
	c = submit_get(3, NULL, NULL);
	pump();
	assert_true(cs(c)->rst);
	assert_int_equal(cs(c)->rst_code, NGHTTP2_REFUSED_STREAM);
	assert_false(T->goaway);
	assert_false(T->conn.closed);
	assert_int_equal(fres.submitted, 2);
	assert_int_equal(T->st.c[STAT_HTTP_RST_SENT], 1);
	fres_answer(0);
	pump();
	check_200(a, 1, "max-age=300");
	/* a slot is free again */
	d = submit_get(4, NULL, NULL);
	pump();
	fres_answer(1);
	fres_answer(0);
	pump();
	check_200(b, 2, "max-age=300");
	check_200(d, 4, "max-age=300");
	h2t_end();
	assert_int_equal(fres.cancelled, 0);
}

static void
test_query_budget(void **unused)
{
	int32_t a, b;
	uint8_t q[64];
	size_t n;

	(void)unused;
	h2t_start(40, 0, 65552, 100);
	fres.mode = RES_NEVER;
	n = make_query(q, 9);
	a = submit_get(1, NULL, NULL);
	b = submit("POST", "/dns-query", NULL, "29", q, n, 0);
	pump();
	assert_false(cs(a)->closed);
	assert_true(cs(b)->rst);
	assert_int_equal(cs(b)->rst_code, NGHTTP2_REFUSED_STREAM);
	assert_int_equal(budget_used(&T->sh.query_budget), 29);
	assert_int_equal(fres.submitted, 1);
	h2t_end();
	assert_int_equal(fres.cancelled, 1);
}

static void
test_response_budget(void **unused)
{
	int32_t a;

	(void)unused;
	h2t_start(0, 40, 65552, 100);
	a = submit_get(1, NULL, NULL);
	pump();
	assert_true(cs(a)->rst);
	assert_int_equal(cs(a)->rst_code, NGHTTP2_REFUSED_STREAM);
	assert_int_equal(cs(a)->status, 0);
	assert_int_equal(T->st.c[STAT_HTTP_RST_SENT], 1);
	assert_int_equal(budget_used(&T->sh.query_budget), 0);
	assert_int_equal(budget_used(&T->sh.response_budget), 0);
	h2t_end();
}

static void
test_drop_answer(void **unused)
{
	int32_t a;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	fres.mode = RES_DROP;
	a = submit_get(1, NULL, NULL);
	pump();
	assert_true(cs(a)->rst);
	assert_int_equal(cs(a)->rst_code, NGHTTP2_REFUSED_STREAM);
	h2t_end();
}

static void
test_client_reset_cancels(void **unused)
{
	int32_t a, b;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	fres.mode = RES_LATER;
	a = submit_get(1, NULL, NULL);
	b = submit_get(2, NULL, NULL);
	pump();
	assert_int_equal(budget_used(&T->sh.query_budget), 58);
	assert_int_equal(nghttp2_submit_rst_stream(T->cli, NGHTTP2_FLAG_NONE,
	    a, NGHTTP2_CANCEL), 0);
	pump();
	assert_int_equal(fres.cancelled, 1);
	assert_true(fres.reqs[0].cancelled);
	assert_int_equal(T->st.c[STAT_HTTP_RST_RECEIVED], 1);
	assert_int_equal(budget_used(&T->sh.query_budget), 29);
	assert_true(T->conn.busy);
	fres_answer(1);
	pump();
	check_200(b, 2, "max-age=300");
	assert_false(T->conn.busy);
	h2t_end();
	assert_int_equal(fres.cancelled, 1);
}

static void
test_idle_goaway(void **unused)
{
	int32_t a;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	a = submit_get(1, NULL, NULL);
	pump();
	check_200(a, 1, "max-age=300");
	assert_int_equal(doh_h2_proto.idle(&T->conn, T->state), 0);
	assert_true(T->conn.closed);
	assert_true(T->conn.graceful);
	pump();
	assert_true(T->goaway);
	assert_int_equal(T->goaway_code, NGHTTP2_NO_ERROR);
	assert_int_equal(T->st.c[STAT_HTTP_GOAWAY_SENT], 1);
	h2t_end();
}

/* A quiet connection gives its nghttp2 pages back (h2mem.c) and goes
 * on as before: same HPACK state, same stream table. */
static void
test_quiet_keeps_session(void **unused)
{
	int32_t a;
	int i;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	for (i = 0; i < 3; i++) {
		a = submit_get((uint16_t)(10 + i), "ct=x", "other=1");
		pump();
		check_200(a, (uint16_t)(10 + i), "max-age=300");
		doh_h2_proto.quiet(&T->conn, T->state);
		doh_h2_proto.quiet(&T->conn, T->state);
	}
	assert_false(T->conn.closed);
	assert_int_equal(http_status_count(200), 3);
	assert_int_equal(budget_used(&T->sh.query_budget), 0);
	assert_int_equal(budget_used(&T->sh.response_budget), 0);
	h2t_end();
}

/* The allocator maps the frame buffer and the stream table of a new
 * session, and trim gives back at least the frame buffer. */
static void
test_h2mem_maps_and_trims(void **unused)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *sess;
	struct doh_h2_mem_rec rec;
	nghttp2_mem mem;
	int i, mapped = 0, fb = 0;

	(void)unused;
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	doh_h2_mem_init(&mem, &rec);
	rec.creating = true;
	assert_int_equal(nghttp2_session_server_new3(&sess, cbs, NULL, NULL,
	    &mem), 0);
	rec.creating = false;
	for (i = 0; i < DOH_MEM_BLOCKS; i++) {
		if (rec.blk[i].p == NULL)
			continue;
		mapped++;
		if (rec.blk[i].framebuf) {
			fb++;
			assert_true(rec.blk[i].size >= 16384);
		}
	}
	assert_true(rec.have_framebuf);
	assert_int_equal(fb, 1);
	assert_true(mapped >= 1);
	assert_true(doh_h2_mem_trim(&rec) >= 16384);
	/* the session still works: a SETTINGS frame goes out */
	assert_int_equal(nghttp2_submit_settings(sess, NGHTTP2_FLAG_NONE,
	    NULL, 0), 0);
	{
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(sess, &data);

		assert_int_equal(n, 9);
		assert_int_equal(data[3], NGHTTP2_SETTINGS);
	}
	nghttp2_session_del(sess);
	for (i = 0; i < DOH_MEM_BLOCKS; i++)
		assert_null(rec.blk[i].p);	/* every mapping unmapped */
	doh_h2_mem_release(&rec);	/* the blocks nghttp2 freed last */
	nghttp2_session_callbacks_del(cbs);
}

/* realloc of a mapped block (nghttp2 1.52 does not, the allocator
 * allows it): the contents move to the heap, as much as fits, and the
 * mapping is given back. */
static void
test_h2mem_realloc_mapped(void **unused)
{
	struct doh_h2_mem_rec rec;
	nghttp2_mem mem;
	static const size_t sizes[] = { DOH_MEM_MAP_MIN + 100, 10 };
	uint8_t *m, *p;
	size_t k, n;
	int i;

	(void)unused;
	doh_h2_mem_init(&mem, &rec);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		n = sizes[k];
		rec.creating = true;
		m = mem.malloc(DOH_MEM_MAP_MIN, mem.mem_user_data);
		rec.creating = false;
		assert_non_null(m);
		assert_ptr_equal(rec.blk[0].p, m);	/* mapped */
		for (i = 0; i < DOH_MEM_MAP_MIN; i++)
			m[i] = (uint8_t)(i * 13);
		p = mem.realloc(m, n, mem.mem_user_data);
		assert_non_null(p);
		assert_ptr_not_equal(p, m);
		for (i = 0; i < DOH_MEM_BLOCKS; i++)
			assert_null(rec.blk[i].p);	/* unmapped */
		for (i = 0; i < (int)n && i < DOH_MEM_MAP_MIN; i++)
			assert_int_equal(p[i], (uint8_t)(i * 13));
		mem.free(p, mem.mem_user_data);
	}
	doh_h2_mem_release(&rec);
}

/* Freed small blocks come back for the next allocation of their size
 * class, up to DOH_MEM_POOL_MAX a class; larger ones go to free();
 * realloc keeps a block that still fits; trim and release empty the
 * pool (LeakSanitizer checks that nothing stays behind). */
static void
test_h2mem_pool(void **unused)
{
#ifdef HAVE_MALLOC_USABLE_SIZE
	static void *held[DOH_MEM_POOL_MAX + 8];
	struct doh_h2_mem_rec rec;
	nghttp2_mem mem;
	uint8_t *a, *b, *c;
	unsigned i, n40;

	(void)unused;
	doh_h2_mem_init(&mem, &rec);
	a = mem.malloc(100, mem.mem_user_data);
	assert_non_null(a);
	memset(a, 0xab, 100);
	mem.free(a, mem.mem_user_data);
	assert_int_equal(doh_h2_mem_pooled(&rec), 1);
	/* 97-104 bytes are one malloc size: the same block, zeroed */
	b = mem.calloc(1, 104, mem.mem_user_data);
	assert_ptr_equal(b, a);
	for (i = 0; i < 104; i++)
		assert_int_equal(b[i], 0);
	assert_int_equal(doh_h2_mem_pooled(&rec), 0);
	/* another size: not that block */
	c = mem.malloc(120, mem.mem_user_data);
	assert_ptr_not_equal(c, b);
	mem.free(c, mem.mem_user_data);
	/* realloc within the block stays; past it moves, contents kept */
	memset(b, 0x5a, 104);
	c = mem.realloc(b, 100, mem.mem_user_data);
	assert_ptr_equal(c, b);
	c = mem.realloc(c, 700, mem.mem_user_data);
	assert_non_null(c);
	for (i = 0; i < 100; i++)
		assert_int_equal(c[i], 0x5a);
	assert_int_equal(doh_h2_mem_pooled(&rec), 2);	/* 120, old 104 */
	mem.free(c, mem.mem_user_data);
	assert_int_equal(doh_h2_mem_pooled(&rec), 3);
	/* a block over DOH_MEM_POOL_BIG is not kept */
	c = doh_h2_mem_alloc(&rec, DOH_MEM_POOL_BIG + 100);
	assert_non_null(c);
	doh_h2_mem_free(&rec, c);
	assert_int_equal(doh_h2_mem_pooled(&rec), 3);
	/* the bound of a class */
	for (i = 0; i < DOH_MEM_POOL_MAX + 8; i++) {
		held[i] = doh_h2_mem_zalloc(&rec, 40);
		assert_non_null(held[i]);
	}
	/* malloc may hand out a larger chunk now and then (a remainder too
	 * small to keep): such a block is kept in its own class */
	for (i = 0, n40 = 0; i < DOH_MEM_POOL_MAX + 8; i++)
		if (malloc_usable_size(held[i]) == 40)
			n40++;
	for (i = 0; i < DOH_MEM_POOL_MAX + 8; i++)
		doh_h2_mem_free(&rec, held[i]);
	assert_int_equal(doh_h2_mem_pooled(&rec), 3 +
	    (n40 < DOH_MEM_POOL_MAX ? n40 : DOH_MEM_POOL_MAX) +
	    (DOH_MEM_POOL_MAX + 8 - n40));
	assert_int_equal(doh_h2_mem_trim(&rec), 0);	/* nothing mapped */
	assert_int_equal(doh_h2_mem_pooled(&rec), 0);
	assert_null(rec.pool);
	a = doh_h2_mem_alloc(&rec, 10);
	doh_h2_mem_free(&rec, a);
	doh_h2_mem_free(&rec, NULL);
	assert_int_equal(doh_h2_mem_pooled(&rec), 1);
	doh_h2_mem_release(&rec);
	assert_int_equal(doh_h2_mem_pooled(&rec), 0);
	assert_null(rec.pool);
#else
	(void)unused;
	skip();
#endif
}

static void
test_bad_preface(void **unused)
{
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	assert_int_equal(doh_h2_proto.input(&T->conn, T->state,
	    (const uint8_t *)junk, sizeof(junk) - 1), 0);
	assert_true(T->conn.closed);
	assert_true(T->conn.graceful);
	h2t_end();
}

static void
test_too_many_headers(void **unused)
{
	nghttp2_nv nva[48];
	char names[48][16];
	int32_t id;
	int i;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	nva[0] = (nghttp2_nv)NV(":method", "GET");
	nva[1] = (nghttp2_nv)NV(":scheme", "https");
	nva[2] = (nghttp2_nv)NV(":authority", "x");
	nva[3] = (nghttp2_nv)NV(":path",
	    "/dns-query?dns=AAABAAABAAAAAAAAB2V4YW1wbGUDY29tAAABAAE");
	for (i = 4; i < 48; i++) {
		snprintf(names[i], sizeof(names[i]), "x-h%d", i);
		nva[i] = (nghttp2_nv)NV(names[i], "v");
	}
	id = nghttp2_submit_request(T->cli, NULL, nva, 48, NULL, NULL);
	assert_true(id > 0);
	pump();
	assert_true(cs(id)->rst);
	assert_int_equal(cs(id)->rst_code, NGHTTP2_ENHANCE_YOUR_CALM);
	assert_int_equal(fres.submitted, 0);
	/* the connection still works */
	id = submit_get(5, NULL, NULL);
	pump();
	check_200(id, 5, "max-age=300");
	h2t_end();
}

/*
 * A request the client never finishes holds no resolver work: the
 * connection is not busy (the idle timer may end it), and the query
 * buffer sized from content-length is held, exactly, until close.
 */
static void
test_stalled_request_not_busy(void **unused)
{
	uint8_t q[64];
	size_t n;
	int32_t a, b;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	fres.mode = RES_NEVER;
	n = make_query(q, 3);
	a = submit("POST", "/dns-query", NULL, "29", q, n, 0);
	cs(a)->defer = true;
	pump();
	assert_int_equal(budget_used(&T->sh.query_budget), 29);
	assert_false(T->conn.busy);
	b = submit_get(4, NULL, NULL);
	pump();
	assert_true(T->conn.busy);
	assert_int_equal(budget_used(&T->sh.query_budget), 58);
	/* idle: GOAWAY, graceful close; close cancels the pending one */
	assert_int_equal(doh_h2_proto.idle(&T->conn, T->state), 0);
	pump();
	assert_true(T->goaway);
	assert_false(cs(b)->closed);
	h2t_end();
	assert_int_equal(fres.cancelled, 1);
}

/*
 * Many streams, one after the other, on one connection: the heap does
 * not grow with them (nghttp2 must not keep closed streams).
 */
static void
test_many_streams_flat(void **unused)
{
	size_t before, after;
	int i;

	(void)unused;
	h2t_start(0, 0, 65552, 100);
	for (i = 0; i < 100; i++) {
		submit_get((uint16_t)i, NULL, NULL);
		pump();
	}
	before = mallinfo2().uordblks;
	for (i = 0; i < 2000; i++) {
		int32_t id = submit_get((uint16_t)i, NULL, NULL);

		pump();
		assert_int_equal(cs(id)->status, 200);
	}
	after = mallinfo2().uordblks;
	/* ~200 bytes a stream (400 KB here) when closed streams are kept */
	assert_true(after < before + 32 * 1024);
	h2t_end();
}

static void
test_shared_new(void **unused)
{
	struct config cfg;
	struct doh_shared *d;

	(void)unused;
	memset(&cfg, 0, sizeof(cfg));
	cfg.http_endpoint = (char *)"/q";
	cfg.http_query_buffer_size = 1000;
	cfg.http_response_buffer_size = 2000;
	cfg.http_max_streams = 7;
	cfg.msg_buffer_size = 65552;
	cfg.tcp_idle_timeout = 1234;
	d = doh_shared_new(&cfg);
	assert_non_null(d);
	assert_string_equal(d->endpoint, "/q");
	assert_int_equal(d->query_budget.limit, 1000);
	assert_int_equal(d->response_budget.limit, 2000);
	assert_int_equal(d->max_streams, 7);
	assert_int_equal(d->max_query, 65552);
	assert_int_equal(d->idle_timeout_msec, 1234);
	doh_shared_free(d);
	cfg.harden_large_queries = 1;
	d = doh_shared_new(&cfg);
	assert_non_null(d);
	assert_int_equal(d->max_query, 512);
	doh_shared_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_new),
		cmocka_unit_test(test_get_ok),
		cmocka_unit_test(test_tailored_answer_private),
		cmocka_unit_test(test_get_padded_and_ttl),
		cmocka_unit_test(test_post_ok),
		cmocka_unit_test(test_answer_later),
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_get_content_type_415),
		cmocka_unit_test(test_body_over_content_length),
		cmocka_unit_test(test_long_uri),
		cmocka_unit_test(test_error_waits_for_end),
		cmocka_unit_test(test_max_streams),
		cmocka_unit_test(test_max_streams_after_ack),
		cmocka_unit_test(test_query_budget),
		cmocka_unit_test(test_response_budget),
		cmocka_unit_test(test_drop_answer),
		cmocka_unit_test(test_client_reset_cancels),
		cmocka_unit_test(test_idle_goaway),
		cmocka_unit_test(test_quiet_keeps_session),
		cmocka_unit_test(test_h2mem_maps_and_trims),
		cmocka_unit_test(test_h2mem_realloc_mapped),
		cmocka_unit_test(test_h2mem_pool),
		cmocka_unit_test(test_bad_preface),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_stalled_request_not_busy),
		cmocka_unit_test(test_many_streams_flat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
