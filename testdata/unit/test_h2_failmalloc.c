/*
 * testdata/unit/test_h2_failmalloc.c - failure injection for the DoH
 * module: a DoH session (GET and POST answered at once, answered later,
 * reset by the client while upstream, then the idle GOAWAY) is run again
 * and again, with allocation N failing in run N, for every allocation the
 * server side makes: h2.c's own malloc/calloc/realloc (the link wraps
 * them: -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc) and nghttp2's
 * server session (--wrap=nghttp2_session_server_new3 builds the session
 * with an nghttp2_mem that counts instead of h2mem.c's).
 *
 * Each run checks: no crash; every request ends with a status, an
 * RST_STREAM, or the connection closes (GOAWAY or close); after the
 * module's close the two budgets are 0 and no fake resolver request is
 * left (answered or cancelled).  Leaks are LeakSanitizer's to find: run
 * it in an --enable-asan build.  The test's own allocations and the
 * client's (libnghttp2's default allocator, not wrapped) never fail.
 *
 * The fake comm and resolver are trimmed copies of test_h2.c's.
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
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "comm/comm.h"
#include "dns/base64url.h"
#include "dns/wire.h"
#include "module/doh/doh.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/budget.h"
#include "util/config.h"
#include "util/stats.h"

/* ------------------------------------------------------------ allocator */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
int __real_nghttp2_session_server_new3(nghttp2_session **sess,
    const nghttp2_session_callbacks *cbs, void *user, const nghttp2_option *o,
    nghttp2_mem *mem);
int __wrap_nghttp2_session_server_new3(nghttp2_session **sess,
    const nghttp2_session_callbacks *cbs, void *user, const nghttp2_option *o,
    nghttp2_mem *mem);

static struct {
	bool armed;		/* count (and fail) allocations */
	unsigned long count;	/* allocations seen since armed */
	unsigned long fail_at;	/* 1-based; 0: none fails */
	unsigned long failed;	/* how many were failed */
} fm;

/* Does this allocation fail? */
static bool
fm_fail(void)
{
	if (!fm.armed)
		return false;
	fm.count++;
	if (fm.fail_at != 0 && fm.count == fm.fail_at) {
		fm.failed++;
		return true;
	}
	return false;
}

void *
__wrap_malloc(size_t n)
{
	return fm_fail() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return fm_fail() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return fm_fail() ? NULL : __real_realloc(p, n);
}

static void *
fm_mem_malloc(size_t n, void *ud)
{
	(void)ud;
	return __wrap_malloc(n);
}

static void
fm_mem_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

static void *
fm_mem_calloc(size_t n, size_t m, void *ud)
{
	(void)ud;
	return __wrap_calloc(n, m);
}

static void *
fm_mem_realloc(void *p, size_t n, void *ud)
{
	(void)ud;
	return __wrap_realloc(p, n);
}

static nghttp2_mem fm_mem = {
	NULL, fm_mem_malloc, fm_mem_free, fm_mem_calloc, fm_mem_realloc
};

/* h2.c's own allocator (h2mem.c) is replaced by the counting one */
int
__wrap_nghttp2_session_server_new3(nghttp2_session **sess,
    const nghttp2_session_callbacks *cbs, void *user, const nghttp2_option *o,
    nghttp2_mem *mem)
{
	(void)mem;
	return __real_nghttp2_session_server_new3(sess, cbs, user, o, &fm_mem);
}

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
			uint8_t *p = __real_realloc(c->out, cap);

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

#define NREQ 16

struct res_req {
	bool used;
	res_done_cb cb;
	void *arg;
	uint8_t q[512];
	size_t qlen;
};

static struct {
	bool later;		/* hold requests (else answer at once) */
	struct res_req reqs[NREQ];
	int submitted, cancelled;
} fres;

static size_t
make_answer(const uint8_t *q, size_t qlen, uint8_t *out, size_t cap)
{
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0,
		0, 4, 192, 0, 2, 1 };

	assert_true(qlen + sizeof(rr) <= cap);
	memcpy(out, q, qlen);
	out[2] |= 0x80;
	out[3] |= 0x80;
	out[7] = 1;
	memcpy(out + qlen, rr, sizeof(rr));
	return qlen + sizeof(rr);
}

struct res_req *
res_submit(struct resolver *r, const uint8_t *query, size_t len,
    const struct res_client *client, res_done_cb done, void *arg)
{
	uint8_t ans[1200];
	int i;

	(void)r;
	(void)client;
	fres.submitted++;
	assert_true(len <= sizeof(fres.reqs[0].q));
	if (!fres.later) {
		done(arg, ans, make_answer(query, len, ans, sizeof(ans)));
		return NULL;
	}
	for (i = 0; i < NREQ; i++)
		if (!fres.reqs[i].used) {
			struct res_req *q = &fres.reqs[i];

			q->used = true;
			q->cb = done;
			q->arg = arg;
			q->qlen = len;
			memcpy(q->q, query, len);
			return q;
		}
	fail_msg("fake resolver full");
	return NULL;
}

void
res_cancel(struct res_req *req)
{
	assert_true(req->used);
	req->used = false;
	fres.cancelled++;
}

#include "testdata/fake_resolver.h"

static int
fres_pending(void)
{
	int i, n = 0;

	for (i = 0; i < NREQ; i++)
		n += fres.reqs[i].used;
	return n;
}

/* ------------------------------------------------------------ client */

#define MAXS 16

struct cstream {
	int status;
	size_t bodylen;
	bool closed, rst;
	const uint8_t *req;
	size_t reqlen, reqpos;
};

struct h2t {
	struct doh_shared sh;
	struct stats st;
	struct module_env env;
	struct comm_conn conn;
	void *state;
	bool opened;
	nghttp2_session *cli;
	uint8_t c2s[64 * 1024];
	size_t c2slen;
	struct cstream s[MAXS];
	bool goaway;
};

static struct h2t *T;
static unsigned long N;		/* the run: allocation N fails */

#define CHECK(cond) do { if (!(cond)) fail_msg("allocation %lu failing: " \
	"%s (%s:%d)", N, #cond, __FILE__, __LINE__); } while (0)

static struct cstream *
cs(int32_t id)
{
	CHECK(id > 0 && id / 2 < MAXS);
	return &T->s[id / 2];
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
	(void)s;
	(void)flags;
	(void)arg;
	(void)vl;
	if (nl == 7 && memcmp(n, ":status", 7) == 0)
		cs(f->hd.stream_id)->status = atoi((const char *)v);
	return 0;
}

static int
cli_data_cb(nghttp2_session *s, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	(void)s;
	(void)flags;
	(void)arg;
	(void)data;
	cs(id)->bodylen += len;
	return 0;
}

static int
cli_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	(void)s;
	(void)arg;
	if (f->hd.type == NGHTTP2_RST_STREAM)
		cs(f->hd.stream_id)->rst = true;
	else if (f->hd.type == NGHTTP2_GOAWAY)
		T->goaway = true;
	return 0;
}

static int
cli_close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	(void)s;
	(void)arg;
	(void)code;
	cs(id)->closed = true;
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
	if (n > len)
		n = len;
	memcpy(buf, c->req + c->reqpos, n);
	c->reqpos += n;
	if (c->reqpos == c->reqlen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* What comm does when the module asks to close or fails: stop reading. */
static bool
server_gone(void)
{
	return T->conn.closed;
}

/* Move bytes both ways until nothing moves (bounded). */
static void
pump(void)
{
	int i;

	for (i = 0; i < 200; i++) {
		bool moved = false;

		if (nghttp2_session_want_write(T->cli))
			CHECK(nghttp2_session_send(T->cli) == 0);
		if (T->c2slen > 0 && !server_gone()) {
			size_t n = T->c2slen;

			T->c2slen = 0;
			if (doh_h2_proto.input(&T->conn, T->state, T->c2s,
			    n) < 0)
				T->conn.closed = true;	/* comm closes */
			moved = true;
		} else {
			T->c2slen = 0;
		}
		if (T->conn.outlen > 0) {
			size_t n = T->conn.outlen;
			ssize_t rv;

			T->conn.outlen = 0;
			rv = nghttp2_session_mem_recv(T->cli, T->conn.out, n);
			/* the server's bytes are valid HTTP/2, always */
			CHECK(rv == (ssize_t)n);
			moved = true;
			if (!server_gone() && doh_h2_proto.writable(&T->conn,
			    T->state) < 0)
				T->conn.closed = true;
		}
		if (!moved)
			return;
	}
	fail_msg("allocation %lu failing: pump did not settle", N);
}

static void
h2t_start(void)
{
	nghttp2_session_callbacks *cb;

	T = __real_calloc(1, sizeof(*T));
	assert_non_null(T);
	budget_init(&T->sh.query_budget, 65536);
	budget_init(&T->sh.response_budget, 65536);
	T->sh.endpoint = (char *)(uintptr_t)"/dns-query";
	T->sh.max_query = 4096;
	T->sh.max_streams = 8;
	T->sh.idle_timeout_msec = 30000;
	T->env.stats = &T->st;
	T->env.doh = &T->sh;
	T->conn.env = &T->env;
	T->conn.tls = true;
	T->conn.peer.sin_family = AF_INET;
	T->conn.peer.sin_port = htons(4242);
	inet_pton(AF_INET, "192.0.2.9", &T->conn.peer.sin_addr);
	memset(&fres, 0, sizeof(fres));
	T->state = __real_calloc(1, doh_h2_proto.state_size);
	assert_non_null(T->state);

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

static void
h2t_end(void)
{
	nghttp2_session_del(T->cli);
	free(T->state);
	free(T->conn.out);
	free(T);
	T = NULL;
}

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

static uint8_t post_body[MAXS][64];

static int32_t
submit_post(uint16_t qid)
{
	nghttp2_nv nva[] = {
		NV(":method", "POST"), NV(":scheme", "https"),
		NV(":authority", "localhost"), NV(":path", "/dns-query"),
		NV("content-type", "application/dns-message"),
		NV("content-length", "29"),
	};
	nghttp2_data_provider prd;
	int32_t id;
	size_t n;

	prd.read_callback = cli_read_cb;
	prd.source.ptr = NULL;
	id = nghttp2_submit_request(T->cli, NULL, nva, 6, &prd, NULL);
	CHECK(id > 0);
	memset(cs(id), 0, sizeof(struct cstream));
	n = make_query(post_body[id / 2], qid);
	cs(id)->req = post_body[id / 2];
	cs(id)->reqlen = n;
	return id;
}

static int32_t
submit_get(uint16_t qid)
{
	uint8_t q[64];
	char b64[128], path[256];
	size_t n = make_query(q, qid);
	nghttp2_nv nva[] = {
		NV(":method", "GET"), NV(":scheme", "https"),
		NV(":authority", "localhost"), NV(":path", "/dns-query"),
		NV("accept", "application/dns-message"),
	};
	int32_t id;

	CHECK(base64url_encode(q, n, b64, sizeof(b64)) > 0);
	snprintf(path, sizeof(path), "/dns-query?dns=%s", b64);
	nva[3].value = (uint8_t *)path;
	nva[3].valuelen = strlen(path);
	id = nghttp2_submit_request(T->cli, NULL, nva, 5, NULL, NULL);
	CHECK(id > 0);
	memset(cs(id), 0, sizeof(struct cstream));
	return id;
}

/* Did stream 'id' end one of the allowed ways (or the connection)? */
static bool
stream_ended(int32_t id)
{
	struct cstream *c = cs(id);

	if (server_gone() || T->goaway)
		return true;
	return c->closed && (c->rst || c->status >= 200);
}

static bool
stream_ok(int32_t id)
{
	struct cstream *c = cs(id);

	return c->closed && !c->rst && c->status == 200 && c->bodylen == 45;
}

/*
 * One DoH session with allocation 'fail_at' failing (0: none).  Returns
 * true when every request was answered 200 (no failure hit a request).
 */
static bool
session_run(unsigned long fail_at)
{
	int32_t ids[6];
	bool all_ok = true;
	int i;

	N = fail_at;
	h2t_start();
	fm.count = 0;
	fm.fail_at = fail_at;
	fm.armed = true;
	if (doh_h2_proto.open(&T->conn, T->state) < 0)
		T->conn.closed = true;	/* comm closes, calls close() */

	/* answered at once */
	ids[0] = submit_get(1);
	ids[1] = submit_post(2);
	pump();
	/* answered later */
	fres.later = true;
	ids[2] = submit_post(3);
	ids[3] = submit_get(4);
	pump();
	for (i = 0; i < NREQ; i++)
		if (fres.reqs[i].used && !server_gone()) {
			struct res_req *q = &fres.reqs[i];
			uint8_t ans[1200];
			size_t n = make_answer(q->q, q->qlen, ans, sizeof(ans));

			q->used = false;
			q->cb(q->arg, ans, n);
		}
	pump();
	/* reset by the client while upstream: the server cancels */
	ids[4] = submit_post(5);
	pump();
	if (!server_gone() && !T->goaway) {
		CHECK(nghttp2_submit_rst_stream(T->cli, NGHTTP2_FLAG_NONE,
		    ids[4], NGHTTP2_CANCEL) == 0);
		pump();
		if (!server_gone())
			CHECK(fres_pending() == 0);
	}
	/* and one more, answered, after the reset */
	fres.later = false;
	if (!T->goaway)
		ids[5] = submit_get(6);
	else
		ids[5] = 0;
	pump();

	for (i = 0; i < 6; i++) {
		if (i == 4 || ids[i] == 0)
			continue;
		CHECK(stream_ended(ids[i]));
		if (!stream_ok(ids[i]))
			all_ok = false;
	}
	if (server_gone() || T->goaway)
		all_ok = false;

	/* the idle timer: GOAWAY and close */
	if (!server_gone()) {
		if (doh_h2_proto.idle(&T->conn, T->state) != 0)
			T->conn.closed = true;
		pump();
	}
	/* comm always calls close() once open() was called */
	doh_h2_proto.close(&T->conn, T->state, COMM_CLOSE_EOF);
	fm.armed = false;
	CHECK(budget_used(&T->sh.query_budget) == 0);
	CHECK(budget_used(&T->sh.response_budget) == 0);
	CHECK(fres_pending() == 0);
	h2t_end();
	return all_ok;
}

/* ------------------------------------------------------------ tests */

/* Without failures the session works, and it allocates. */
static void
test_no_failure(void **unused)
{
	(void)unused;
	fm.failed = 0;
	assert_true(session_run(0));
	assert_int_equal(fm.failed, 0);
	assert_true(fm.count > 10);
}

/* Fail each allocation in turn, up to the first run that passes them
 * all (N past the last allocation). */
static void
test_each_allocation_fails(void **unused)
{
	unsigned long n, total, hit = 0, degraded = 0;

	(void)unused;
	fm.failed = 0;
	(void)session_run(0);
	total = fm.count;
	for (n = 1; n <= total + 1 && n <= 20000; n++) {
		unsigned long before = fm.failed;
		bool ok = session_run(n);

		if (fm.failed > before)
			hit++;
		if (!ok)
			degraded++;
	}
	print_message("%lu allocations in a session; %lu runs with a failed "
	    "allocation, %lu of them with a request refused or the "
	    "connection closed\n", total, hit, degraded);
	assert_true(hit >= total);
	/* past the last one nothing fails and everything is answered */
	fm.failed = 0;
	assert_true(session_run(total + 1));
	assert_int_equal(fm.failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_failure),
		cmocka_unit_test(test_each_allocation_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
