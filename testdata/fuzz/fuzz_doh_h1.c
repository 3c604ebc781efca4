/*
 * testdata/fuzz/fuzz_doh_h1.c - libFuzzer target: arbitrary bytes
 * through doh_detect_proto (the clear-text dispatcher, then HTTP/1.1 or
 * HTTP/2) with a fake comm_conn and a fake resolver, as fuzz_doh.c does
 * for HTTP/2 alone.  No socket, no event loop.
 *
 * Input: byte 0 picks the resolver (bits 0-1: answer at once, answer
 * after the input, never, drop), whether the peer is an
 * http-trusted-proxy (bit 2) and the size of the pieces the rest is fed
 * in (bits 3-7: 0 = all at once, else n * 5 bytes).  The rest is what a
 * client sends.  At the end the connection is closed and both budgets
 * must be 0.  Seeds: testdata/fuzz/corpus/doh_h1/ (HTTP/1.1 requests
 * after a control byte).
 *
 *   make fuzz_doh_h1 && ./fuzz_doh_h1 -max_total_time=60 \
 *     testdata/fuzz/corpus/doh_h1
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
#include "util/netblock.h"
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct doh_shared sh;
	static struct stats st;
	static struct module_env env;
	const struct comm_proto *p = &doh_detect_proto;
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
	if (data[0] & 4) {
		if (netblock_add(&sh.trusted, "0.0.0.0/0", 1) != 0)
			return 0;
		netblock_finish(&sh.trusted);
	}
	env.stats = &st;
	env.doh = &sh;
	memset(&conn, 0, sizeof(conn));
	conn.env = &env;
	conn.peer.sin_family = AF_INET;
	memset(reqs, 0, sizeof(reqs));
	res_mode = data[0] & 3;
	piece = (size_t)(data[0] >> 3) * 5;
	data++;
	size--;

	state = calloc(1, p->state_size);
	if (state == NULL)
		goto out_nb;
	if (p->open(&conn, state) != 0)
		goto out;
	for (off = 0; off < size && !conn.closed; ) {
		size_t n = piece && size - off > piece ? piece : size - off;

		if (p->input(&conn, state, data + off, n) != 0)
			break;
		off += n;
		/* the peer reads what we wrote */
		if (conn.pending > COMM_OUT_MARK) {
			conn.pending = 0;
			p->writable(&conn, state);
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
		p->writable(&conn, state);
		if (!conn.closed)
			p->idle(&conn, state);
	}
out:
	p->close(&conn, state, COMM_CLOSE_EOF);
	free(state);
	if (budget_used(&sh.query_budget) != 0 ||
	    budget_used(&sh.response_budget) != 0)
		abort();
	for (i = 0; i < NREQ; i++)
		if (reqs[i].used)
			abort();	/* a request neither answered nor
					   cancelled */
out_nb:
	netblock_clear(&sh.trusted);
	return 0;
}
