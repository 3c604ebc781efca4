/*
 * testdata/fuzz/fuzz_doh.c - libFuzzer target: arbitrary bytes through
 * doh_h2_proto.input with a fake comm_conn (output kept in memory and
 * drained now and then, so the send path meets WOULDBLOCK too) and a
 * fake resolver.  No socket, no event loop.
 *
 * Input: byte 0 picks the resolver (bits 0-1: answer at once, answer
 * after the input, never, drop) and the size of the pieces the rest is
 * fed in (bits 2-7: 0 = all at once, else n * 7 bytes).  The rest is
 * what a client sends after the connection preface, which the target
 * adds.  At the end the connection is closed and both budgets must be 0.
 *
 * Build (from the top of the tree, after ./configure):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *     testdata/fuzz/fuzz_doh.c module/doh/h2.c module/doh/request.c \
 *     module/doh/doh.c util/budget.c util/log.c dns/base64url.c \
 *     dns/wire.c -lnghttp2 -o fuzz_doh
 *   ./fuzz_doh -max_total_time=60 testdata/fuzz/corpus/doh
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "dns/wire.h"
#include "module/doh/doh.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/budget.h"
#include "util/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct comm_conn {
	struct module_env *env;
	size_t pending;
	bool closed;
	struct sockaddr_in peer;
};

int
comm_conn_write(struct comm_conn *c, const struct iovec *iov, int iovcnt)
{
	int i;

	if (c->closed)
		return -EPIPE;
	for (i = 0; i < iovcnt; i++) {
		if (c->pending + iov[i].iov_len > COMM_OUT_MAX)
			return -ENOBUFS;
		c->pending += iov[i].iov_len;
	}
	return 0;
}

size_t
comm_conn_pending(const struct comm_conn *c)
{
	return c->pending;
}

void
comm_conn_want_writable(struct comm_conn *c)
{
	(void)c;
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
	(void)graceful;
	c->closed = true;
}

void
comm_conn_set_busy(struct comm_conn *c, bool busy)
{
	(void)c;
	(void)busy;
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
	return "fuzz";
}

bool
comm_conn_is_tls(const struct comm_conn *c)
{
	(void)c;
	return true;
}

struct stats *
comm_conn_stats(const struct comm_conn *c)
{
	return c->env->stats;
}

/* ------------------------------------------------------------ resolver */

#define NREQ 256

struct res_req {
	bool used;
	res_done_cb cb;
	void *arg;
	uint8_t ans[600];
	size_t len;
};

static struct res_req reqs[NREQ];
static int res_mode;

static size_t
echo(const uint8_t *q, size_t len, uint8_t *out, size_t cap)
{
	if (len > cap)
		len = cap;
	memcpy(out, q, len);
	if (len > 2)
		out[2] |= 0x80;
	return len;
}

struct res_req *
res_submit(struct resolver *r, const uint8_t *query, size_t len,
    const struct res_client *client, res_done_cb done, void *arg)
{
	uint8_t ans[600];
	int i;

	(void)r;
	(void)client;
	if (res_mode == 0) {
		done(arg, ans, echo(query, len, ans, sizeof(ans)));
		return NULL;
	}
	if (res_mode == 3) {
		done(arg, NULL, 0);
		return NULL;
	}
	for (i = 0; i < NREQ; i++) {
		if (!reqs[i].used) {
			reqs[i].used = true;
			reqs[i].cb = done;
			reqs[i].arg = arg;
			reqs[i].len = echo(query, len, reqs[i].ans,
			    sizeof(reqs[i].ans));
			return &reqs[i];
		}
	}
	done(arg, NULL, 0);
	return NULL;
}

void
res_cancel(struct res_req *req)
{
	if (!req->used)
		abort();
	req->used = false;
}

#include "testdata/fake_resolver.h"

/* ------------------------------------------------------------ target */

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct doh_shared sh;
	static struct stats st;
	static struct module_env env;
	struct comm_conn conn;
	void *state;
	size_t piece, off;
	int i;

	if (size < 1)
		return 0;
	memset(&sh, 0, sizeof(sh));
	budget_init(&sh.query_budget, 4096);
	budget_init(&sh.response_budget, 4096);
	sh.endpoint = (char *)"/dns-query";
	sh.max_query = 512;
	sh.max_streams = 8;
	sh.idle_timeout_msec = 1000;
	env.stats = &st;
	env.doh = &sh;
	memset(&conn, 0, sizeof(conn));
	conn.env = &env;
	conn.peer.sin_family = AF_INET;
	memset(reqs, 0, sizeof(reqs));
	res_mode = data[0] & 3;
	piece = (size_t)(data[0] >> 2) * 7;
	data++;
	size--;

	state = calloc(1, doh_h2_proto.state_size);
	if (state == NULL)
		return 0;
	if (doh_h2_proto.open(&conn, state) != 0)
		goto out;
	doh_h2_proto.input(&conn, state, preface, sizeof(preface) - 1);
	for (off = 0; off < size && !conn.closed; ) {
		size_t n = piece && size - off > piece ? piece : size - off;

		if (doh_h2_proto.input(&conn, state, data + off, n) != 0)
			break;
		off += n;
		/* the peer reads what we wrote */
		if (conn.pending > COMM_OUT_MARK) {
			conn.pending = 0;
			doh_h2_proto.writable(&conn, state);
		}
	}
	if (res_mode == 1) {
		for (i = 0; i < NREQ && !conn.closed; i++) {
			if (reqs[i].used) {
				reqs[i].used = false;
				reqs[i].cb(reqs[i].arg, reqs[i].ans,
				    reqs[i].len);
			}
		}
	}
	if (!conn.closed) {
		conn.pending = 0;
		doh_h2_proto.writable(&conn, state);
		if (!conn.closed)
			doh_h2_proto.idle(&conn, state);
	}
out:
	doh_h2_proto.close(&conn, state, COMM_CLOSE_EOF);
	free(state);
	if (budget_used(&sh.query_budget) != 0 ||
	    budget_used(&sh.response_budget) != 0)
		abort();
	for (i = 0; i < NREQ; i++)
		if (reqs[i].used)
			abort();	/* a request neither answered nor
					   cancelled */
	return 0;
}

/*
 * The seed corpus (testdata/fuzz/corpus/doh/) was made with Debian's
 * python3-h2 by this script (run in the corpus directory with
 * /usr/bin/python3); each file is the control byte then the frames.
 *
 *   import base64, h2.connection, h2.config, h2.events
 *   PREF=b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
 *   def q(i=0x1234):
 *       return bytes([i>>8,i&255,1,0,0,1,0,0,0,0,0,0,7])+b"example"+bytes([3])+b"com"+bytes([0,0,1,0,1])
 *   def conn():
 *       c=h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
 *       c.initiate_connection(); return c
 *   def out(name, c, ctl=0):
 *       d=c.data_to_send()
 *       assert d.startswith(PREF)
 *       open(name,'wb').write(bytes([ctl])+d[len(PREF):])
 *   def hdr(m,p,extra=()):
 *       return [(':method',m),(':scheme','https'),(':authority','x'),(':path',p)]+list(extra)
 *   b64=base64.urlsafe_b64encode(q()).decode().rstrip('=')
 *   c=conn(); c.send_headers(1,hdr('GET','/dns-query?dns='+b64),end_stream=True); out('get',c)
 *   c=conn(); c.send_headers(1,hdr('GET','/dns-query?a=1&dns='+b64+'=&b'),end_stream=True); out('get_later',c,1)
 *   c=conn(); c.send_headers(1,hdr('POST','/dns-query',[('content-type','application/dns-message'),('content-length','29')])); c.send_data(1,q(),end_stream=True); out('post',c)
 *   c=conn(); c.send_headers(1,hdr('POST','/dns-query')); c.send_data(1,q()[:10]); c.send_data(1,q()[10:],end_stream=True); out('post_nocl_split',c, 2|(3<<2))
 *   c=conn(); c.send_headers(1,hdr('PUT','/dns-query'),end_stream=True); c.send_headers(3,hdr('GET','/x'),end_stream=True); c.send_headers(5,hdr('GET','/dns-query?dns=AAAA'),end_stream=True); out('errors',c)
 *   c=conn()
 *   for i in range(1,40,2): c.send_headers(i,hdr('GET','/dns-query?dns='+b64),end_stream=True)
 *   out('many_never',c,2)
 *   c=conn()
 *   for i in range(1,20,2):
 *       c.send_headers(i,hdr('GET','/dns-query?dns='+b64)); c.reset_stream(i)
 *   out('rapid_reset',c,1)
 *   c=conn(); c.ping(b'12345678'); c.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:10}); c.increment_flow_control_window(1000); out('ping_settings',c)
 *   c=conn(); c.send_headers(1,hdr('POST','/dns-query',[('content-length','600')])); out('post_413',c,3)
 */
