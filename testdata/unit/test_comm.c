/*
 * testdata/unit/test_comm.c - the comm-point layer and the plain DNS
 * module over real loopback sockets, with the event loop run by the test
 * between client actions (one thread, deterministic).
 *
 * The resolver is a fake defined here (res_submit/res_cancel) that
 * answers at once or later, on the test's command, by echoing the query
 * with QR set.  Access-control and tcp-connection-limit tables are the
 * real util/netblock ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "comm/comm.h"
#include "dns/wire.h"
#include "module/dns/dns_stream.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "util/netblock.h"
#include "util/stats.h"

/* ------------------------------------------------ fake resolver */

struct res_req {
	struct res_req *next;
	res_done_cb done;
	void *arg;
	uint8_t q[512];
	size_t len;
};

static struct res_req *fake_pending;
static int fake_submits, fake_cancels, fake_npending;
static bool fake_sync;
static bool fake_last_stream, fake_last_encrypted;

static void
fake_reply(const uint8_t *q, size_t len, res_done_cb done, void *arg)
{
	uint8_t ans[512];

	memcpy(ans, q, len);
	if (len > 2)
		ans[2] |= 0x80;		/* QR */
	done(arg, ans, len);
}

struct res_req *
res_submit(struct resolver *r, const uint8_t *query, size_t len,
    const struct res_client *client, res_done_cb done, void *arg)
{
	struct res_req *req;

	(void)r;
	fake_submits++;
	fake_last_stream = client->stream;
	fake_last_encrypted = client->encrypted;
	if (len > sizeof(req->q))
		len = sizeof(req->q);
	if (fake_sync) {
		fake_reply(query, len, done, arg);
		return NULL;
	}
	req = calloc(1, sizeof(*req));
	assert_non_null(req);
	memcpy(req->q, query, len);
	req->len = len;
	req->done = done;
	req->arg = arg;
	req->next = fake_pending;	/* newest first: answers reversed */
	fake_pending = req;
	fake_npending++;
	return req;
}

static void
fake_unlink(struct res_req *req)
{
	struct res_req **pp;

	for (pp = &fake_pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == req) {
			*pp = req->next;
			fake_npending--;
			return;
		}
	fail_msg("request %p is not pending (use after free?)", (void *)req);
}

void
res_cancel(struct res_req *req)
{
	fake_cancels++;
	fake_unlink(req);
	free(req);
}

#include "testdata/fake_resolver.h"

/* Answer every pending request, newest first. */
static int
fake_answer_all(void)
{
	int n = 0;

	while (fake_pending != NULL) {
		struct res_req *req = fake_pending;

		fake_unlink(req);
		fake_reply(req->q, req->len, req->done, req->arg);
		free(req);
		n++;
	}
	return n;
}

/* ------------------------------------------------ harness */

static struct event_base *eb;
static struct comm_base *cbase;
static struct stats st;
static struct comm_limits lim;
static struct config cfg;
static struct module_env menv;
static int lfd = -1, lport;
static char tmpdir[64];
static char certfile[128], keyfile[128], otherkey[128];

static void
loop_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(eb, &tv);
	event_base_dispatch(eb);
}

static int
tcp_listener(int *port, int sndbuf)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), on = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
cli_connect(int port, int rcvbuf)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void
cli_send(int fd, const void *p, size_t len)
{
	assert_int_equal(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Receive up to 'want' bytes, running the loop; stops at EOF/error.
 * *closed (may be NULL) tells whether the peer closed. */
static size_t
cli_recv(int fd, uint8_t *buf, size_t want, int max_ms, bool *closed)
{
	size_t got = 0;
	int waited = 0;

	if (closed != NULL)
		*closed = false;
	while (got < want && waited <= max_ms) {
		ssize_t n = recv(fd, buf + got, want - got, 0);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			if (closed != NULL)
				*closed = true;
			break;
		}
		loop_for(5);
		waited += 5;
	}
	return got;
}

/* True if the server closed the connection within max_ms. */
static bool
cli_closed(int fd, int max_ms)
{
	uint8_t b[256];
	bool closed;

	cli_recv(fd, b, sizeof(b), max_ms, &closed);
	return closed;
}

/* A DNS-ish query: 12-byte header with id, plus 'extra' bytes. */
static size_t
mkquery(uint8_t *buf, uint16_t id, size_t extra)
{
	size_t len = 12 + extra, i;

	buf[0] = 0;
	buf[1] = (uint8_t)len;
	buf[2] = (uint8_t)(id >> 8);
	buf[3] = (uint8_t)id;
	for (i = 4; i < 2 + len; i++)
		buf[i] = (uint8_t)i;
	buf[4] = 0x01;		/* flags: RD, QR clear */
	return len + 2;
}

/* ---- the echo proto: what comm hands up and how closes happen ---- */

enum echo_mode { MODE_ECHO, MODE_CLOSE_IN_INPUT, MODE_BYE, MODE_BUSY,
    MODE_FLOOD, MODE_IDLE_GRACEFUL, MODE_BIG };
static enum echo_mode echo_mode;
static int echo_opens, echo_closes, echo_writables, echo_idles, echo_quiets;
static size_t echo_in_bytes, echo_in_calls;
static enum comm_close_why echo_why;
static struct comm_conn *echo_conn;
static const char *echo_opened_as;

struct echo_st {
	int magic;
};

static int
echo_open_named(struct comm_conn *c, void *stp, const char *name)
{
	struct echo_st *s = stp;

	assert_int_equal(s->magic, 0);	/* zeroed by comm */
	s->magic = 42;
	echo_opens++;
	echo_conn = c;
	echo_opened_as = name;
	if (echo_mode == MODE_BUSY)
		comm_conn_set_busy(c, true);
	return 0;
}

static int
echo_open(struct comm_conn *c, void *s)
{
	return echo_open_named(c, s, "echo");
}

static int
echo_open_h2(struct comm_conn *c, void *s)
{
	return echo_open_named(c, s, "h2");
}

static int
echo_open_dot(struct comm_conn *c, void *s)
{
	return echo_open_named(c, s, "dot");
}

static uint8_t flood[32 * 1024];

static int
echo_input(struct comm_conn *c, void *stp, const uint8_t *d, size_t len)
{
	struct echo_st *s = stp;
	struct iovec iov;
	int closes;

	assert_int_equal(s->magic, 42);
	echo_in_bytes += len;
	echo_in_calls++;
	iov.iov_base = (void *)d;
	iov.iov_len = len;
	switch (echo_mode) {
	case MODE_ECHO:
	case MODE_BUSY:
	case MODE_IDLE_GRACEFUL:
		return comm_conn_write(c, &iov, 1);
	case MODE_CLOSE_IN_INPUT:
		closes = echo_closes;
		comm_conn_close(c, false);
		/* still usable inside the callback, closed after it */
		assert_int_equal(echo_closes, closes);
		assert_non_null(comm_conn_peer_str(c));
		assert_int_equal(comm_conn_write(c, &iov, 1), -EPIPE);
		comm_conn_close(c, true);	/* twice is harmless */
		assert_int_equal(echo_closes, closes);
		return 0;
	case MODE_BYE:
		iov.iov_base = (void *)"bye";
		iov.iov_len = 3;
		assert_int_equal(comm_conn_write(c, &iov, 1), 0);
		comm_conn_close(c, true);
		return 0;
	case MODE_BIG:
		/* 3 x 32 KiB in one callback: above the mark, even if the
		 * flush right after takes it all */
		iov.iov_base = flood;
		iov.iov_len = sizeof(flood);
		for (closes = 0; closes < 3; closes++)
			assert_int_equal(comm_conn_write(c, &iov, 1), 0);
		assert_true(comm_conn_pending(c) > COMM_OUT_MARK);
		return 0;
	case MODE_FLOOD:
		iov.iov_base = flood;
		iov.iov_len = sizeof(flood);
		/* reading stops above the mark, so this stays bounded */
		assert_int_equal(comm_conn_write(c, &iov, 1), 0);
		return 0;
	}
	return 0;
}

static int
echo_writable(struct comm_conn *c, void *s)
{
	(void)c;
	(void)s;
	echo_writables++;
	return 0;
}

static int
echo_idle(struct comm_conn *c, void *s)
{
	struct iovec iov = { (void *)"goaway", 6 };

	(void)s;
	echo_idles++;
	if (echo_mode != MODE_IDLE_GRACEFUL)
		return 1;
	assert_int_equal(comm_conn_write(c, &iov, 1), 0);
	comm_conn_close(c, true);
	return 0;
}

static void
echo_quiet(struct comm_conn *c, void *s)
{
	(void)c;
	(void)s;
	echo_quiets++;
}

static void
echo_close(struct comm_conn *c, void *stp, enum comm_close_why why)
{
	struct echo_st *s = stp;

	(void)c;
	assert_int_equal(s->magic, 42);
	s->magic = 0;
	echo_closes++;
	echo_why = why;
	if (c == echo_conn)
		echo_conn = NULL;
}

static const struct comm_proto echo_proto = {
	"echo", sizeof(struct echo_st), echo_open, echo_input, echo_writable,
	echo_idle, echo_close, echo_quiet
};
static const struct comm_proto h2_proto = {
	"h2", sizeof(struct echo_st), echo_open_h2, echo_input, NULL, NULL,
	echo_close, NULL
};
static const struct comm_proto dot_proto = {
	"dot", sizeof(struct echo_st), echo_open_dot, echo_input, NULL, NULL,
	echo_close, NULL
};

static struct comm_stream_spec echo_spec = { &echo_proto, NULL, NULL, true };
static struct comm_stream_spec dns_spec = { &dns_stream_proto, NULL, NULL,
    true };

static int
setup(void **state)
{
	(void)state;
	eb = event_base_new();
	assert_non_null(eb);
	memset(&st, 0, sizeof(st));
	memset(&lim, 0, sizeof(lim));
	lim.incoming_num_tcp = 10;
	lim.tcp_idle_timeout_msec = 30000;
	memset(&cfg, 0, sizeof(cfg));
	cfg.msg_buffer_size = 65552;
	menv.cfg = &cfg;
	menv.res = (struct resolver *)&menv;	/* never dereferenced */
	menv.stats = &st;
	echo_mode = MODE_ECHO;
	echo_opens = echo_closes = echo_writables = echo_idles = 0;
	echo_quiets = 0;
	echo_in_bytes = echo_in_calls = 0;
	echo_why = 0;
	echo_conn = NULL;
	echo_opened_as = NULL;
	fake_submits = fake_cancels = 0;
	fake_sync = false;
	lfd = -1;
	return 0;
}

/* comm base with the current 'lim', listening with 'spec'. */
static void
start(const struct comm_stream_spec *spec, void *env, int sndbuf)
{
	cbase = comm_base_new(eb, &lim, &st);
	assert_non_null(cbase);
	lfd = tcp_listener(&lport, sndbuf);
	assert_int_equal(comm_listen_stream(cbase, lfd, spec, env, 0), 0);
}

static int
teardown(void **state)
{
	(void)state;
	if (cbase != NULL)
		comm_base_free(cbase);
	cbase = NULL;
	if (lfd >= 0)
		close(lfd);
	event_base_free(eb);
	/* whatever the resolver still holds belongs to freed conns */
	assert_int_equal(fake_npending, 0);
	return 0;
}

/* ------------------------------------------------ TCP tests */

static void
test_echo_and_close_once(void **state)
{
	uint8_t buf[64];
	int fd;

	(void)state;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	cli_send(fd, "hello", 5);
	assert_int_equal(cli_recv(fd, buf, 5, 1000, NULL), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(echo_opens, 1);
	assert_int_equal(comm_base_conn_count(cbase), 1);
	assert_int_equal(STAT_LOAD(st.c[STAT_TCP_ACCEPTED]), 1);
	close(fd);
	loop_for(50);
	assert_int_equal(echo_closes, 1);
	assert_int_equal(echo_why, COMM_CLOSE_EOF);
	assert_int_equal(comm_base_conn_count(cbase), 0);
}

static void
test_incoming_num_tcp(void **state)
{
	int fds[3], i;
	uint8_t b[8];

	(void)state;
	lim.incoming_num_tcp = 2;
	start(&echo_spec, NULL, 0);
	for (i = 0; i < 3; i++) {
		fds[i] = cli_connect(lport, 0);
		loop_for(20);
	}
	assert_int_equal(comm_base_conn_count(cbase), 2);
	assert_int_equal(STAT_LOAD(st.c[STAT_TCP_REFUSED_LIMIT]), 1);
	assert_true(cli_closed(fds[2], 500));
	/* the first two still work */
	cli_send(fds[1], "x", 1);
	assert_int_equal(cli_recv(fds[1], b, 1, 500, NULL), 1);
	/* a slot given back is usable again */
	close(fds[0]);
	loop_for(30);
	assert_int_equal(comm_base_conn_count(cbase), 1);
	fds[0] = cli_connect(lport, 0);
	loop_for(30);
	assert_int_equal(comm_base_conn_count(cbase), 2);
	assert_int_equal(STAT_LOAD(st.c[STAT_TCP_REFUSED_LIMIT]), 1);
	for (i = 0; i < 3; i++)
		close(fds[i]);
}

static void
test_no_stream_service(void **state)
{
	int fd;

	(void)state;
	lim.incoming_num_tcp = 0;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	assert_true(cli_closed(fd, 500));
	assert_int_equal(echo_opens, 0);
	close(fd);
}

static void
test_tcp_connection_limit(void **state)
{
	struct netblock_set set = { NULL, 0 };
	struct netblock_entry *ep;
	struct sockaddr_in lo;
	int a, b;

	(void)state;
	assert_int_equal(netblock_add(&set, "10.0.0.0/8", 5), 0);
	assert_int_equal(netblock_add(&set, "127.0.0.0/8", 1), 0);
	netblock_finish(&set);
	memset(&lo, 0, sizeof(lo));
	lo.sin_family = AF_INET;
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ep = netblock_lookup(&set, (struct sockaddr *)&lo);
	assert_non_null(ep);
	lim.tcl = &set;
	start(&echo_spec, NULL, 0);
	a = cli_connect(lport, 0);
	loop_for(20);
	assert_int_equal(ep->count, 1);
	b = cli_connect(lport, 0);
	assert_true(cli_closed(b, 500));
	close(b);
	assert_int_equal(STAT_LOAD(st.c[STAT_TCP_REFUSED_LIMIT]), 1);
	assert_int_equal(ep->count, 1);
	/* closed by the server this time (deferred close): slot back */
	echo_mode = MODE_CLOSE_IN_INPUT;
	cli_send(a, "q", 1);
	assert_true(cli_closed(a, 500));
	close(a);
	assert_int_equal(ep->count, 0);
	assert_int_equal(echo_closes, 1);
	b = cli_connect(lport, 0);
	loop_for(20);
	assert_int_equal(ep->count, 1);
	assert_int_equal(comm_base_conn_count(cbase), 1);
	close(b);
	loop_for(20);
	assert_int_equal(ep->count, 0);
	comm_base_free(cbase);
	cbase = NULL;
	netblock_clear(&set);
}

static long
cpu_msec(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void
test_accept_emfile(void **state)
{
	struct rlimit old, low;
	long cpu;
	int fd, probe, i;

	(void)state;
	start(&echo_spec, NULL, 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	probe = dup(0);
	close(probe);
	/* room for the client's socket, none for the server's accept */
	low = old;
	low.rlim_cur = (rlim_t)probe + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	fd = cli_connect(lport, 0);
	cpu = cpu_msec();
	loop_for(300);
	cpu = cpu_msec() - cpu;
	assert_int_equal(comm_base_conn_count(cbase), 0);
	/* accepting paused instead of spinning on the ready listener */
	assert_true(cpu < 150);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (i = 0; i < 60 && comm_base_conn_count(cbase) == 0; i++)
		loop_for(50);
	assert_int_equal(comm_base_conn_count(cbase), 1);
	close(fd);
}

static void
test_acl_deny(void **state)
{
	struct netblock_set set = { NULL, 0 };
	int fd;

	(void)state;
	assert_int_equal(netblock_add(&set, "0.0.0.0/0", ACL_ALLOW), 0);
	assert_int_equal(netblock_add(&set, "127.0.0.0/8", ACL_DENY), 0);
	netblock_finish(&set);
	lim.acl = &set;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	assert_true(cli_closed(fd, 500));
	assert_int_equal(echo_opens, 0);
	assert_int_equal(comm_base_conn_count(cbase), 0);
	close(fd);
	/* refuse is answered per query, not at accept */
	assert_int_equal(netblock_add(&set, "127.0.0.0/8", ACL_REFUSE), 0);
	fd = cli_connect(lport, 0);
	loop_for(30);
	assert_int_equal(echo_opens, 1);
	close(fd);
	loop_for(20);
	comm_base_free(cbase);
	cbase = NULL;
	netblock_clear(&set);
}

static void
test_deferred_close(void **state)
{
	int fd;

	(void)state;
	echo_mode = MODE_CLOSE_IN_INPUT;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	cli_send(fd, "abc", 3);
	assert_true(cli_closed(fd, 500));
	assert_int_equal(echo_closes, 1);
	assert_int_equal(echo_why, COMM_CLOSE_MODULE);
	assert_int_equal(comm_base_conn_count(cbase), 0);
	close(fd);
}

static void
test_graceful_close_flushes(void **state)
{
	uint8_t buf[16];
	bool closed;
	int fd;

	(void)state;
	echo_mode = MODE_BYE;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	cli_send(fd, "x", 1);
	assert_int_equal(cli_recv(fd, buf, sizeof(buf), 500, &closed), 3);
	assert_memory_equal(buf, "bye", 3);
	assert_true(closed || cli_closed(fd, 500));
	assert_int_equal(echo_closes, 1);
	close(fd);
}

/* fd is closed by the server for idleness (once), within wait_ms, and
 * at least min_ms after 'since' (mono_msec). */
static void
assert_idle_closed(int fd, uint64_t since, long min_ms, int wait_ms)
{
	assert_true(cli_closed(fd, wait_ms));
	assert_true((long)(mono_msec() - since) >= min_ms);
	assert_int_equal(echo_idles, 1);
	assert_int_equal(echo_why, COMM_CLOSE_TIMEOUT);
	close(fd);
}

static void
test_idle_timeout(void **state)
{
	uint64_t t0;
	int fd;

	(void)state;
	lim.tcp_idle_timeout_msec = 600;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	t0 = mono_msec();
	loop_for(350);
	cli_send(fd, "k", 1);	/* activity restarts the timer */
	loop_for(350);
	assert_int_equal(echo_closes, 0);
	assert_idle_closed(fd, t0, 940, 2000);
}

/* Quiet after COMM_QUIET_MSEC without activity, once per silence; the
 * idle timeout still counts from the last activity. */
static void
test_quiet_then_idle(void **state)
{
	uint64_t t0;
	int fd;

	(void)state;
	lim.tcp_idle_timeout_msec = 1500;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	loop_for(COMM_QUIET_MSEC / 2);
	assert_int_equal(echo_opens, 1);
	assert_int_equal(echo_quiets, 0);
	loop_for(COMM_QUIET_MSEC + 150);
	assert_int_equal(echo_quiets, 1);
	cli_send(fd, "k", 1);	/* activity: quiet again later */
	t0 = mono_msec();
	loop_for(COMM_QUIET_MSEC / 2);
	assert_int_equal(echo_quiets, 1);
	loop_for(COMM_QUIET_MSEC + 150);
	assert_int_equal(echo_quiets, 2);
	assert_int_equal(echo_closes, 0);
	assert_int_equal(echo_idles, 0);
	assert_idle_closed(fd, t0, 1450, 3000);
	assert_int_equal(echo_quiets, 2);
}

/* Activity while the quiet-point timer runs (comm_conn_touch only notes
 * its time then) moves the quiet point, and the idle timeout, with it. */
static void
test_quiet_moves_with_activity(void **state)
{
	uint64_t t0 = 0;
	int fd, i;

	(void)state;
	lim.tcp_idle_timeout_msec = 1500;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	loop_for(COMM_QUIET_MSEC / 2);
	assert_int_equal(echo_opens, 1);
	/* activity every half quiet period: never quiet, never idle */
	for (i = 0; i < 6; i++) {
		cli_send(fd, "k", 1);
		t0 = mono_msec();
		loop_for(COMM_QUIET_MSEC / 2);
		assert_int_equal(echo_quiets, 0);
	}
	loop_for(COMM_QUIET_MSEC / 2 + 150);
	assert_int_equal(echo_quiets, 1);
	assert_int_equal(echo_idles, 0);
	assert_int_equal(echo_closes, 0);
	assert_idle_closed(fd, t0, 1450, 3000);
	assert_int_equal(echo_quiets, 1);
}

static void
test_idle_busy(void **state)
{
	int fd;

	(void)state;
	lim.tcp_idle_timeout_msec = 200;
	echo_mode = MODE_BUSY;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	loop_for(600);
	assert_int_equal(echo_closes, 0);
	assert_int_equal(echo_idles, 0);
	/* a timeout this short has no quiet point */
	assert_int_equal(echo_quiets, 0);
	assert_non_null(echo_conn);
	comm_conn_set_busy(echo_conn, false);
	assert_true(cli_closed(fd, 1000));
	assert_int_equal(echo_why, COMM_CLOSE_TIMEOUT);
	close(fd);
}

static void
test_idle_graceful_by_module(void **state)
{
	uint8_t buf[16];
	bool closed;
	int fd;

	(void)state;
	lim.tcp_idle_timeout_msec = 200;
	echo_mode = MODE_IDLE_GRACEFUL;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	assert_int_equal(cli_recv(fd, buf, sizeof(buf), 1000, &closed), 6);
	assert_memory_equal(buf, "goaway", 6);
	assert_true(closed || cli_closed(fd, 500));
	assert_int_equal(echo_idles, 1);
	assert_int_equal(echo_why, COMM_CLOSE_TIMEOUT);
	close(fd);
}

static void
test_idle_shortened_when_full(void **state)
{
	int a, b;

	(void)state;
	/* 2 of 2 slots used: > 80%, so the 60 s timeout becomes the
	 * 200 ms floor */
	lim.incoming_num_tcp = 2;
	lim.tcp_idle_timeout_msec = 60000;
	start(&echo_spec, NULL, 0);
	a = cli_connect(lport, 0);
	loop_for(20);
	b = cli_connect(lport, 0);
	assert_true(cli_closed(b, 1000));
	assert_int_equal(echo_closes, 1);
	assert_int_equal(echo_why, COMM_CLOSE_TIMEOUT);
	close(a);
	close(b);
}

/* The quiet point re-reads the idle timeout: slots filled since the
 * connection went idle cut its wait short (to nothing left here). */
static void
test_idle_shortened_at_quiet_point(void **state)
{
	uint64_t t0;
	int a, o[3], i;

	(void)state;
	/* 1 of 4 slots: 1.5 s, so a waits for the quiet point first; then
	 * 4 of 4: the 200 ms floor, less than a has been idle by then */
	lim.incoming_num_tcp = 4;
	lim.tcp_idle_timeout_msec = 1500;
	start(&echo_spec, NULL, 0);
	a = cli_connect(lport, 0);
	t0 = mono_msec();
	loop_for(150);	/* the others' 200 ms end after a's quiet point */
	for (i = 0; i < 3; i++)
		o[i] = cli_connect(lport, 0);
	assert_true(cli_closed(a, 1000));
	assert_true(mono_msec() - t0 < 700);	/* not 1.5 s */
	assert_true(mono_msec() - t0 >= COMM_QUIET_MSEC);
	assert_int_equal(echo_why, COMM_CLOSE_TIMEOUT);
	assert_true(echo_quiets >= 1);		/* a's quiet point ran */
	close(a);
	for (i = 0; i < 3; i++)
		close(o[i]);
}

static void
test_back_pressure(void **state)
{
	uint8_t *sink;
	size_t in_before, got;
	int fd, i, n;

	(void)state;
	echo_mode = MODE_FLOOD;
	start(&echo_spec, NULL, 4096);
	fd = cli_connect(lport, 4096);
	/* the client sends and never reads */
	for (i = 0; i < 200 && (echo_conn == NULL ||
	    comm_conn_pending(echo_conn) <= COMM_OUT_MARK); i++) {
		(void)send(fd, "z", 1, MSG_NOSIGNAL);
		loop_for(2);
	}
	assert_non_null(echo_conn);
	assert_true(comm_conn_pending(echo_conn) > COMM_OUT_MARK);
	in_before = echo_in_bytes;
	for (i = 0; i < 50; i++) {
		(void)send(fd, "zzzz", 4, MSG_NOSIGNAL);
		loop_for(2);
	}
	/* not read any more: input and memory stay where they were */
	assert_int_equal(echo_in_bytes, in_before);
	assert_true(comm_conn_pending(echo_conn) <= COMM_OUT_MARK +
	    sizeof(flood));
	assert_int_equal(echo_writables, 0);
	/* the client reads: output drains, writable runs, reading resumes */
	sink = malloc(1 << 20);
	assert_non_null(sink);
	got = 0;
	for (i = 0; i < 400 && echo_writables == 0; i++) {
		n = (int)recv(fd, sink, 1 << 20, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		loop_for(2);
	}
	assert_true(echo_writables >= 1);
	assert_true(got > 0);
	assert_true(echo_in_bytes > in_before);
	free(sink);
	close(fd);
	loop_for(20);
	assert_int_equal(echo_closes, 1);
}

static void
test_writable_after_mark(void **state)
{
	static uint8_t sink[3 * sizeof(flood)];
	int fd;

	(void)state;
	echo_mode = MODE_BIG;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	cli_send(fd, "b", 1);
	assert_int_equal(cli_recv(fd, sink, sizeof(sink), 2000, NULL),
	    sizeof(sink));
	loop_for(20);
	assert_int_equal(echo_writables, 1);
	assert_int_equal(comm_conn_pending(echo_conn), 0);
	/* reading went on after it */
	cli_send(fd, "c", 1);
	assert_int_equal(cli_recv(fd, sink, sizeof(sink), 2000, NULL),
	    sizeof(sink));
	assert_int_equal(echo_in_bytes, 2);
	close(fd);
}

static void
test_write_limit(void **state)
{
	static uint8_t big[COMM_OUT_MAX];
	struct iovec iov = { big, sizeof(big) };
	int fd;

	(void)state;
	start(&echo_spec, NULL, 0);
	fd = cli_connect(lport, 0);
	loop_for(20);
	assert_non_null(echo_conn);
	iov.iov_len = COMM_OUT_MAX + 1;
	assert_int_equal(comm_conn_write(echo_conn, &iov, 1), -ENOBUFS);
	close(fd);
}

/* ------------------------------------------------ plain DNS module */

static void
test_dns_framing_split(void **state)
{
	uint8_t q[64], a[64];
	size_t len;
	int fd;

	(void)state;
	fake_sync = true;
	start(&dns_spec, &menv, 0);
	fd = cli_connect(lport, 0);
	len = mkquery(q, 0x1234, 17);
	cli_send(fd, q, 1);		/* half of the length */
	loop_for(20);
	cli_send(fd, q + 1, 6);
	loop_for(20);
	assert_int_equal(fake_submits, 0);
	cli_send(fd, q + 7, len - 7);
	assert_int_equal(cli_recv(fd, a, len, 1000, NULL), len);
	assert_int_equal(fake_submits, 1);
	assert_true(fake_last_stream);
	assert_false(fake_last_encrypted);
	assert_memory_equal(a, q, 4);
	assert_true(a[4] & 0x80);
	assert_int_equal(STAT_LOAD(st.c[STAT_QUERY_TCP]), 1);
	assert_int_equal(STAT_LOAD(st.c[STAT_QUERY_TLS]), 0);
	close(fd);
}

static void
test_dns_pipelined_out_of_order(void **state)
{
	uint8_t q[256], a[256];
	size_t l1, l2, l3;
	int fd;

	(void)state;
	start(&dns_spec, &menv, 0);
	fd = cli_connect(lport, 0);
	l1 = mkquery(q, 1, 10);
	l2 = mkquery(q + l1, 2, 20);
	l3 = mkquery(q + l1 + l2, 3, 30);
	cli_send(fd, q, l1 + l2 + l3);	/* one write, three queries */
	loop_for(30);
	assert_int_equal(fake_submits, 3);
	assert_int_equal(fake_npending, 3);
	assert_int_equal(fake_answer_all(), 3);	/* newest first: 3, 2, 1 */
	assert_int_equal(cli_recv(fd, a, l1 + l2 + l3, 1000, NULL),
	    l1 + l2 + l3);
	/* answers of one loop turn went out, out of order */
	assert_int_equal(a[3], 3);
	assert_int_equal(a[l3 + 3], 2);
	assert_int_equal(a[l3 + l2 + 3], 1);
	assert_int_equal(STAT_LOAD(st.c[STAT_QUERY_TCP]), 3);
	close(fd);
}

static void
test_dns_close_cancels_pending(void **state)
{
	uint8_t q[256];
	size_t l;
	int fd, i;

	(void)state;
	start(&dns_spec, &menv, 0);
	fd = cli_connect(lport, 0);
	for (i = 0; i < 5; i++) {
		l = mkquery(q, (uint16_t)i, 8);
		cli_send(fd, q, l);
	}
	loop_for(30);
	assert_int_equal(fake_npending, 5);
	/* the client goes away while all five are being resolved: the
	 * conn stays while busy (a half-close may still want answers)...
	 * but a reset must cancel them all */
	{
		struct linger lg = { 1, 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
	loop_for(50);
	assert_int_equal(comm_base_conn_count(cbase), 0);
	assert_int_equal(fake_cancels, 5);
	assert_int_equal(fake_npending, 0);
}

static void
test_dns_half_close_gets_answers(void **state)
{
	uint8_t q[64], a[64];
	size_t l;
	int fd;

	(void)state;
	start(&dns_spec, &menv, 0);
	fd = cli_connect(lport, 0);
	l = mkquery(q, 7, 8);
	cli_send(fd, q, l);
	shutdown(fd, SHUT_WR);
	loop_for(30);
	assert_int_equal(fake_npending, 1);
	assert_int_equal(comm_base_conn_count(cbase), 1);
	fake_answer_all();
	assert_int_equal(cli_recv(fd, a, l, 1000, NULL), l);
	assert_true(cli_closed(fd, 500));
	assert_int_equal(fake_cancels, 0);
	close(fd);
}

static void
test_dns_shutdown_cancels(void **state)
{
	uint8_t q[64];
	size_t l;
	int fd;

	(void)state;
	start(&dns_spec, &menv, 0);
	fd = cli_connect(lport, 0);
	l = mkquery(q, 9, 8);
	cli_send(fd, q, l);
	cli_send(fd, q, l);
	loop_for(30);
	assert_int_equal(fake_npending, 2);
	comm_base_free(cbase);
	cbase = NULL;
	assert_int_equal(fake_cancels, 2);
	close(fd);
}

static void
test_dns_bad_frames(void **state)
{
	uint8_t z[2] = { 0, 0 }, big[2] = { 0xff, 0xff };
	int fd;

	(void)state;
	cfg.msg_buffer_size = 512;
	start(&dns_spec, &menv, 0);
	fd = cli_connect(lport, 0);
	cli_send(fd, z, 2);
	assert_true(cli_closed(fd, 500));
	close(fd);
	fd = cli_connect(lport, 0);
	big[0] = 0x02;		/* 513 > msg-buffer-size 512 */
	big[1] = 0x01;
	cli_send(fd, big, 2);
	assert_true(cli_closed(fd, 500));
	close(fd);
	assert_int_equal(fake_submits, 0);
}

static void
test_dns_max_pending(void **state)
{
	uint8_t q[64];
	uint8_t *a;
	size_t l, total = 0;
	int fd, i, n = DNS_STREAM_MAX_PENDING + 10;

	(void)state;
	start(&dns_spec, &menv, 0);
	fd = cli_connect(lport, 0);
	for (i = 0; i < n; i++) {
		l = mkquery(q, (uint16_t)i, 4);
		cli_send(fd, q, l);
		total += l;
	}
	loop_for(50);
	assert_int_equal(fake_npending, DNS_STREAM_MAX_PENDING);
	fake_answer_all();
	loop_for(50);
	assert_int_equal(fake_npending, 10);
	fake_answer_all();
	a = malloc(total);
	assert_int_equal(cli_recv(fd, a, total, 1000, NULL), total);
	assert_int_equal(fake_submits, n);
	free(a);
	close(fd);
}

/* ------------------------------------------------ UDP */

/* A new comm base (cbase) with a DNS UDP listener on 127.0.0.1 and an
 * ephemeral port, answered through the fake resolver; *sin gets its
 * address.  Returns the listener's descriptor. */
static int
udp_listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd;

	cbase = comm_base_new(eb, &lim, &st);
	assert_non_null(cbase);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	assert_int_equal(comm_listen_udp(cbase, fd, dns_udp_input, &menv, 0),
	    0);
	return fd;
}

static void
test_udp(void **state)
{
	struct sockaddr_in sin;
	uint8_t q[64], a[64];
	size_t l;
	int ufd, cfd, i;
	ssize_t n = -1;

	(void)state;
	ufd = udp_listener(&sin);
	cfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	l = mkquery(q, 0x4242, 10);
	/* answered later */
	sendto(cfd, q + 2, l - 2, 0, (struct sockaddr *)&sin, sizeof(sin));
	sendto(cfd, q + 2, l - 2, 0, (struct sockaddr *)&sin, sizeof(sin));
	loop_for(30);
	assert_int_equal(fake_npending, 2);
	assert_false(fake_last_stream);
	assert_int_equal(STAT_LOAD(st.c[STAT_QUERY_UDP]), 2);
	assert_int_equal(fake_answer_all(), 1 + 1);
	for (i = 0; i < 100 && n < 0; i++) {
		n = recv(cfd, a, sizeof(a), 0);
		loop_for(5);
	}
	assert_int_equal(n, l - 2);
	assert_true(a[2] & 0x80);
	/* one left pending at shutdown: cancelled, not leaked */
	sendto(cfd, q + 2, l - 2, 0, (struct sockaddr *)&sin, sizeof(sin));
	loop_for(30);
	assert_int_equal(fake_npending, 1);
	comm_base_free(cbase);
	cbase = NULL;
	assert_int_equal(fake_cancels, 1);
	close(ufd);
	close(cfd);
}

/* Answers made at once while a batch of datagrams is handled leave
 * together (sendmmsg): each to its own sender, none lost or repeated. */
static void
test_udp_batch_replies(void **state)
{
	struct sockaddr_in sin;
	uint8_t q[64], a[64];
	size_t l;
	int ufd, cfd[2], i, k, got[2] = { 0, 0 };
	bool seen[2][10];

	(void)state;
	memset(seen, 0, sizeof(seen));
	fake_sync = true;
	ufd = udp_listener(&sin);
	for (k = 0; k < 2; k++)
		cfd[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	/* all queued before the loop runs: one recvmmsg takes them */
	for (i = 0; i < 10; i++)
		for (k = 0; k < 2; k++) {
			l = mkquery(q, (uint16_t)(0x100 * (k + 1) + i), 10);
			assert_int_equal(sendto(cfd[k], q + 2, l - 2, 0,
			    (struct sockaddr *)&sin, sizeof(sin)),
			    (ssize_t)(l - 2));
		}
	loop_for(50);
	assert_int_equal(fake_submits, 20);
	for (k = 0; k < 2; k++) {
		ssize_t n;

		while ((n = recv(cfd[k], a, sizeof(a), 0)) > 0) {
			int id = a[0] << 8 | a[1];

			assert_int_equal(n, (ssize_t)(l - 2));
			assert_true(a[2] & 0x80);
			assert_int_equal(id >> 8, k + 1);
			assert_true((id & 0xff) < 10);
			assert_false(seen[k][id & 0xff]);
			seen[k][id & 0xff] = true;
			got[k]++;
		}
	}
	assert_int_equal(got[0], 10);
	assert_int_equal(got[1], 10);
	/* and a single datagram is answered on its own */
	l = mkquery(q, 0x4242, 10);
	sendto(cfd[0], q + 2, l - 2, 0, (struct sockaddr *)&sin, sizeof(sin));
	loop_for(30);
	assert_int_equal(recv(cfd[0], a, sizeof(a), 0), (ssize_t)(l - 2));
	assert_int_equal(a[0] << 8 | a[1], 0x4242);
	comm_base_free(cbase);
	cbase = NULL;
	close(ufd);
	for (k = 0; k < 2; k++)
		close(cfd[k]);
}

/* ------------------------------------------------ listeners */

static void
test_ports_open(void **state)
{
	struct cfg_strlist i1, i2;
	struct comm_port *ports, *p, *again;
	char err[256], ifs[2][64];
	int port, nudp = 0, ntcp = 0, ntls = 0, fd, attempt;

	(void)state;
	/*
	 * A port found free for TCP may still be taken for UDP, or port+1 by
	 * someone else, between the probe and the bind: try a few ports.
	 */
	ports = NULL;
	for (attempt = 0; attempt < 20 && ports == NULL; attempt++) {
		fd = tcp_listener(&port, 0);	/* find a free port */
		close(fd);
		cfg.do_ip4 = cfg.do_ip6 = cfg.do_udp = cfg.do_tcp = 1;
		cfg.incoming_num_tcp = 10;
		cfg.port = port;
		cfg.tls_port = port + 1 > 65535 ? port - 1 : port + 1;
		cfg.https_port = 443;
		cfg.so_reuseport = 0;
		snprintf(ifs[0], sizeof(ifs[0]), "127.0.0.1");
		snprintf(ifs[1], sizeof(ifs[1]), "127.0.0.1@%d", cfg.tls_port);
		memset(&i1, 0, sizeof(i1));
		memset(&i2, 0, sizeof(i2));
		i1.str = ifs[0];
		i1.next = &i2;
		i2.str = ifs[1];
		cfg.interfaces = &i1;
		ports = comm_ports_open(&cfg, err, sizeof(err));
	}
	if (ports == NULL)
		fail_msg("comm_ports_open: %s", err);
	for (p = ports; p != NULL; p = p->next) {
		nudp += p->kind == COMM_PORT_UDP;
		ntcp += p->kind == COMM_PORT_TCP;
		ntls += p->kind == COMM_PORT_TLS;
		assert_true(fcntl(p->fd, F_GETFL) & O_NONBLOCK);
	}
	assert_int_equal(nudp, 1);
	assert_int_equal(ntcp, 1);
	assert_int_equal(ntls, 1);
	/* the same again without SO_REUSEPORT: a sentence with the port */
	again = comm_ports_open(&cfg, err, sizeof(err));
	assert_null(again);
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_non_null(strstr(err, "could not bind"));
	{
		char ps[16];
		snprintf(ps, sizeof(ps), "port %d", port);
		assert_non_null(strstr(err, ps));
	}
	comm_ports_close(ports);
	/* no TCP when incoming-num-tcp is 0; do-ip4 no filters */
	cfg.incoming_num_tcp = 0;
	cfg.interfaces = &i1;
	i1.next = NULL;
	ports = comm_ports_open(&cfg, err, sizeof(err));
	assert_non_null(ports);
	assert_int_equal(ports->kind, COMM_PORT_UDP);
	assert_null(ports->next);
	comm_ports_close(ports);
	cfg.do_ip4 = 0;
	ports = comm_ports_open(&cfg, err, sizeof(err));
	assert_null(ports);
	/* no interface: 127.0.0.1 and ::1 (the latter when the host
	 * has IPv6), UDP and TCP each */
	cfg.interfaces = NULL;
	cfg.incoming_num_tcp = 10;
	cfg.do_ip4 = 1;
	ports = comm_ports_open(&cfg, err, sizeof(err));
	assert_non_null(ports);
	nudp = ntcp = 0;
	for (p = ports; p != NULL; p = p->next) {
		if (p->addr.ss_family == AF_INET) {
			nudp += p->kind == COMM_PORT_UDP;
			ntcp += p->kind == COMM_PORT_TCP;
		} else {
			int v6only = 0;
			socklen_t vl = sizeof(v6only);
			assert_int_equal(getsockopt(p->fd, IPPROTO_IPV6,
			    IPV6_V6ONLY, &v6only, &vl), 0);
			assert_int_equal(v6only, 1);
		}
	}
	assert_int_equal(nudp, 1);
	assert_int_equal(ntcp, 1);
	comm_ports_close(ports);
	cfg.interfaces = &i1;
	/* a bad interface is named */
	cfg.do_ip4 = 1;
	i1.str = (char *)"not-an-address";
	assert_null(comm_ports_open(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "not-an-address"));
}

/* ------------------------------------------------ TLS */

static SSL_CTX *srv_ctx;
static const struct comm_alpn test_alpn[] = {
	{ "h2", &h2_proto },
	{ "dot", &dot_proto },
	{ NULL, NULL }
};
static struct comm_stream_spec tls_spec = { &dot_proto, test_alpn, NULL,
    true };
static struct comm_stream_spec dot_spec = { &dns_stream_proto, NULL, NULL,
    true };

static int
tls_group_setup(void **state)
{
	char cmd[1024];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_comm.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(certfile, sizeof(certfile), "%s/cert.pem", tmpdir);
	snprintf(keyfile, sizeof(keyfile), "%s/key.pem", tmpdir);
	snprintf(otherkey, sizeof(otherkey), "%s/other.pem", tmpdir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s -days 2 "
	    "-subj /CN=localhost >/dev/null 2>&1 && openssl genpkey "
	    "-algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out %s "
	    ">/dev/null 2>&1", keyfile, certfile, otherkey);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

static int
tls_group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
tls_cfg(void)
{
	cfg.tls_service_pem = certfile;
	cfg.tls_service_key = keyfile;
}

static void
test_tls_ctx_errors(void **state)
{
	char err[512];
	SSL_CTX *ctx;

	(void)state;
	tls_cfg();
	cfg.tls_service_key = (char *)"/nonexistent/key.pem";
	assert_null(comm_tls_ctx_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "tls-service-key /nonexistent/key.pem"));
	assert_non_null(strstr(err, "No such file"));
	tls_cfg();
	cfg.tls_service_pem = (char *)"/nonexistent/cert.pem";
	assert_null(comm_tls_ctx_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "tls-service-pem /nonexistent/cert.pem"));
	tls_cfg();
	cfg.tls_service_key = otherkey;
	assert_null(comm_tls_ctx_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "does not match"));
	assert_non_null(strstr(err, otherkey));
	tls_cfg();
	cfg.tls_ciphers = (char *)"NO-SUCH-CIPHER";
	assert_null(comm_tls_ctx_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "tls-ciphers"));
	cfg.tls_ciphers = NULL;
	ctx = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(ctx);
	comm_tls_ctx_free(ctx);
}

static int tls_rcvbuf;

/* Connect a TLS client offering 'alpn' (wire format, may be NULL).
 * Returns the SSL, or NULL when the handshake failed (reason in why). */
static SSL *
tls_connect_sess(const unsigned char *alpn, unsigned alen, int *fdp,
    char *why, size_t whylen, SSL_SESSION *sess)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd, i, r = 0;

	assert_non_null(cctx);
	if (alpn != NULL)
		assert_int_equal(SSL_CTX_set_alpn_protos(cctx, alpn, alen), 0);
	fd = cli_connect(lport, tls_rcvbuf);
	ssl = SSL_new(cctx);
	SSL_CTX_free(cctx);	/* the SSL keeps a reference */
	SSL_set_fd(ssl, fd);
	SSL_set_connect_state(ssl);
	if (sess != NULL)
		assert_int_equal(SSL_set_session(ssl, sess), 1);
	why[0] = 0;
	for (i = 0; i < 400; i++) {
		int e;

		ERR_clear_error();
		r = SSL_connect(ssl);
		if (r == 1)
			break;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			ERR_error_string_n(ERR_get_error(), why, whylen);
			break;
		}
		loop_for(5);
	}
	*fdp = fd;
	if (r != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

static SSL *
tls_connect(const unsigned char *alpn, unsigned alen, int *fdp,
    char *why, size_t whylen)
{
	return tls_connect_sess(alpn, alen, fdp, why, whylen, NULL);
}

/* Write all and read 'len' back through TLS while running the loop. */
static size_t
tls_roundtrip(SSL *ssl, const uint8_t *out, size_t len, uint8_t *in)
{
	size_t sent = 0, got = 0;
	int i;

	for (i = 0; i < 2000 && got < len; i++) {
		int n;

		if (sent < len) {
			n = SSL_write(ssl, out + sent, (int)(len - sent));
			if (n > 0)
				sent += (size_t)n;
		}
		n = SSL_read(ssl, in + got, (int)(len - got));
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ &&
		    SSL_get_error(ssl, n) != SSL_ERROR_WANT_WRITE)
			break;
		loop_for(2);
	}
	return got;
}

static void
test_tls_alpn(void **state)
{
	static const unsigned char h2_first[] = "\x08http/1.1\x02h2\x03" "dot";
	static const unsigned char dot_only[] = "\x03" "dot";
	static const unsigned char h1_only[] = "\x08http/1.1";
	const unsigned char *sel;
	unsigned sl;
	char err[512], why[256];
	uint8_t big[100000], back[100000];
	SSL *ssl;
	int fd;
	size_t i;

	(void)state;
	tls_cfg();
	srv_ctx = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(srv_ctx);
	tls_spec.ssl_ctx = srv_ctx;
	start(&tls_spec, NULL, 0);

	/* server preference: h2 although the client lists it second */
	ssl = tls_connect(h2_first, sizeof(h2_first) - 1, &fd, why,
	    sizeof(why));
	assert_non_null(ssl);
	SSL_get0_alpn_selected(ssl, &sel, &sl);
	assert_int_equal(sl, 2);
	assert_memory_equal(sel, "h2", 2);
	loop_for(20);
	assert_string_equal(echo_opened_as, "h2");
	/* bytes go both ways, more than one record and more than one
	 * read event's worth */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(tls_roundtrip(ssl, big, sizeof(big), back),
	    sizeof(big));
	assert_memory_equal(big, back, sizeof(big));
	assert_true(comm_conn_is_tls(echo_conn));
	SSL_free(ssl);
	close(fd);
	loop_for(20);

	ssl = tls_connect(dot_only, sizeof(dot_only) - 1, &fd, why,
	    sizeof(why));
	assert_non_null(ssl);
	loop_for(20);
	assert_string_equal(echo_opened_as, "dot");
	SSL_free(ssl);
	close(fd);

	/* no ALPN: the listener's default proto, no ALPN answer */
	echo_opened_as = NULL;
	ssl = tls_connect(NULL, 0, &fd, why, sizeof(why));
	assert_non_null(ssl);
	SSL_get0_alpn_selected(ssl, &sel, &sl);
	assert_int_equal(sl, 0);
	loop_for(20);
	assert_string_equal(echo_opened_as, "dot");
	SSL_free(ssl);
	close(fd);

	/* ALPN offered, nothing in common: no_application_protocol */
	echo_opened_as = NULL;
	ssl = tls_connect(h1_only, sizeof(h1_only) - 1, &fd, why,
	    sizeof(why));
	assert_null(ssl);
	assert_non_null(strstr(why, "no application protocol"));
	loop_for(20);
	assert_null(echo_opened_as);
	loop_for(20);
	assert_int_equal(comm_base_conn_count(cbase), 0);
	assert_int_equal(echo_opens, echo_closes);

	comm_base_free(cbase);
	cbase = NULL;
	comm_tls_ctx_free(srv_ctx);
}

static void
write_file(const char *path, size_t len)
{
	FILE *f = fopen(path, "wb");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < len; i++)
		fputc(rand() & 0xff, f);
	fclose(f);
}

/* One TLS session: connect (resuming 'sess' if given), echo a byte so
 * the TLS 1.3 ticket arrives, return the session; *reused tells. */
static SSL_SESSION *
tls_session(SSL_SESSION *sess, bool *reused)
{
	char why[256];
	uint8_t b;
	SSL_SESSION *out;
	SSL *ssl;
	int fd;

	ssl = tls_connect_sess(NULL, 0, &fd, why, sizeof(why), sess);
	assert_non_null(ssl);
	assert_int_equal(tls_roundtrip(ssl, (const uint8_t *)"t", 1, &b), 1);
	*reused = SSL_session_reused(ssl) == 1;
	assert_non_null(echo_conn);
	assert_int_equal(comm_conn_tls_resumed(echo_conn), *reused);
	out = SSL_get1_session(ssl);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	loop_for(10);
	return out;
}

static void
test_tls_session_tickets(void **state)
{
	char err[512], kf[160], bad[160], other[160];
	struct cfg_strlist k, kb, ko;
	SSL_SESSION *s1, *s2;
	SSL_CTX *ctx2;
	bool reused;

	(void)state;
	snprintf(kf, sizeof(kf), "%s/ticket.key", tmpdir);
	snprintf(bad, sizeof(bad), "%s/short.key", tmpdir);
	snprintf(other, sizeof(other), "%s/other.key", tmpdir);
	write_file(kf, 80);
	write_file(bad, 40);
	write_file(other, 80);
	memset(&k, 0, sizeof(k));
	memset(&kb, 0, sizeof(kb));
	memset(&ko, 0, sizeof(ko));
	k.str = kf;
	kb.str = bad;
	ko.str = other;
	tls_cfg();
	cfg.tls_session_ticket_keys = &kb;
	assert_null(comm_tls_ctx_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, bad));
	assert_non_null(strstr(err, "80 bytes"));

	cfg.tls_session_ticket_keys = &k;
	srv_ctx = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(srv_ctx);
	tls_spec.ssl_ctx = srv_ctx;
	start(&tls_spec, NULL, 0);
	s1 = tls_session(NULL, &reused);
	assert_false(reused);
	assert_non_null(s1);
	comm_base_free(cbase);
	close(lfd);

	/* another context from the same key file (another worker, or
	 * after a restart) accepts the ticket */
	ctx2 = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(ctx2);
	tls_spec.ssl_ctx = ctx2;
	start(&tls_spec, NULL, 0);
	s2 = tls_session(s1, &reused);
	assert_true(reused);
	SSL_SESSION_free(s2);
	comm_base_free(cbase);
	close(lfd);
	comm_tls_ctx_free(ctx2);

	/* a context with another key does not */
	cfg.tls_session_ticket_keys = &ko;
	ctx2 = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(ctx2);
	tls_spec.ssl_ctx = ctx2;
	start(&tls_spec, NULL, 0);
	s2 = tls_session(s1, &reused);
	assert_false(reused);
	SSL_SESSION_free(s2);
	SSL_SESSION_free(s1);
	comm_base_free(cbase);
	cbase = NULL;
	comm_tls_ctx_free(ctx2);
	comm_tls_ctx_free(srv_ctx);
	cfg.tls_session_ticket_keys = NULL;
}

static void
test_tls_slow_reader(void **state)
{
	char err[512], why[256];
	uint8_t *in;
	size_t got = 0, i, cap = 8 * 3 * sizeof(flood);
	int fd, idle = 0, n;
	SSL *ssl;

	(void)state;
	for (i = 0; i < sizeof(flood); i++)
		flood[i] = (uint8_t)(i * 7 + (i >> 8));
	tls_cfg();
	srv_ctx = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(srv_ctx);
	tls_spec.ssl_ctx = srv_ctx;
	echo_mode = MODE_BIG;
	start(&tls_spec, NULL, 4096);
	tls_rcvbuf = 4096;
	ssl = tls_connect(NULL, 0, &fd, why, sizeof(why));
	tls_rcvbuf = 0;
	assert_non_null(ssl);
	/* 96 KiB answered to each byte; the client does not read yet, so
	 * SSL_write meets a full socket and is retried with a buffer that
	 * grows and moves */
	assert_int_equal(SSL_write(ssl, "b", 1), 1);
	loop_for(100);
	assert_non_null(echo_conn);
	assert_true(comm_conn_pending(echo_conn) > 0);
	assert_int_equal(SSL_write(ssl, "bb", 2), 2);
	loop_for(50);
	in = malloc(cap);
	assert_non_null(in);
	while (idle < 60 && got < cap) {
		n = SSL_read(ssl, in + got, (int)(cap - got));
		if (n > 0) {
			got += (size_t)n;
			idle = 0;
			continue;
		}
		loop_for(5);
		idle++;
	}
	assert_int_equal(echo_in_bytes, 3);
	assert_true(echo_in_calls >= 2);
	assert_int_equal(got, echo_in_calls * 3 * sizeof(flood));
	for (i = 0; i < got; i++)
		if (in[i] != flood[i % sizeof(flood)])
			fail_msg("byte %zu differs", i);
	free(in);
	SSL_free(ssl);
	close(fd);
	comm_base_free(cbase);
	cbase = NULL;
	comm_tls_ctx_free(srv_ctx);
}

static void
test_tls_handshake_timeout(void **state)
{
	char err[512];
	int fd;

	(void)state;
	tls_cfg();
	lim.tcp_idle_timeout_msec = 300;
	srv_ctx = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(srv_ctx);
	tls_spec.ssl_ctx = srv_ctx;
	start(&tls_spec, NULL, 0);
	fd = cli_connect(lport, 0);	/* never says hello */
	loop_for(50);
	assert_int_equal(comm_base_conn_count(cbase), 1);
	assert_true(cli_closed(fd, 1500));
	assert_int_equal(comm_base_conn_count(cbase), 0);
	assert_int_equal(echo_opens, 0);
	close(fd);
	comm_base_free(cbase);
	cbase = NULL;
	comm_tls_ctx_free(srv_ctx);
}

static void
test_dot_queries(void **state)
{
	static const unsigned char dot_only[] = "\x03" "dot";
	char err[512], why[256];
	uint8_t q[128], a[128];
	size_t l1, l2;
	SSL *ssl;
	int fd, i, n;

	(void)state;
	tls_cfg();
	srv_ctx = comm_tls_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(srv_ctx);
	dot_spec.ssl_ctx = srv_ctx;
	start(&dot_spec, &menv, 0);
	ssl = tls_connect(dot_only, sizeof(dot_only) - 1, &fd, why,
	    sizeof(why));
	assert_non_null(ssl);
	l1 = mkquery(q, 0x11, 5);
	l2 = mkquery(q + l1, 0x22, 9);
	assert_int_equal(SSL_write(ssl, q, (int)(l1 + l2)), (int)(l1 + l2));
	loop_for(30);
	assert_int_equal(fake_npending, 2);
	assert_true(fake_last_encrypted);
	assert_int_equal(STAT_LOAD(st.c[STAT_QUERY_TCP]), 2);
	assert_int_equal(STAT_LOAD(st.c[STAT_QUERY_TLS]), 2);
	assert_int_equal(STAT_LOAD(st.c[STAT_QUERY_TLS_RESUME]), 0);
	fake_answer_all();
	n = 0;
	for (i = 0; i < 200 && (size_t)n < l1 + l2; i++) {
		int r = SSL_read(ssl, a + n, (int)(sizeof(a) - (size_t)n));
		if (r > 0)
			n += r;
		else
			loop_for(5);
	}
	assert_int_equal(n, (int)(l1 + l2));
	assert_int_equal(a[3], 0x22);	/* newest answered first */
	/* a close with one pending cancels it */
	l1 = mkquery(q, 0x33, 5);
	assert_int_equal(SSL_write(ssl, q, (int)l1), (int)l1);
	loop_for(30);
	assert_int_equal(fake_npending, 1);
	comm_base_free(cbase);
	cbase = NULL;
	assert_int_equal(fake_cancels, 1);
	SSL_free(ssl);
	close(fd);
	comm_tls_ctx_free(srv_ctx);
}

int
main(void)
{
	const struct CMUnitTest tcp_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_echo_and_close_once),
		T(test_incoming_num_tcp),
		T(test_no_stream_service),
		T(test_tcp_connection_limit),
		T(test_accept_emfile),
		T(test_acl_deny),
		T(test_deferred_close),
		T(test_graceful_close_flushes),
		T(test_idle_timeout),
		T(test_quiet_then_idle),
		T(test_quiet_moves_with_activity),
		T(test_idle_busy),
		T(test_idle_graceful_by_module),
		T(test_idle_shortened_when_full),
		T(test_idle_shortened_at_quiet_point),
		T(test_back_pressure),
		T(test_writable_after_mark),
		T(test_write_limit),
		T(test_dns_framing_split),
		T(test_dns_pipelined_out_of_order),
		T(test_dns_close_cancels_pending),
		T(test_dns_half_close_gets_answers),
		T(test_dns_shutdown_cancels),
		T(test_dns_bad_frames),
		T(test_dns_max_pending),
		T(test_udp),
		T(test_udp_batch_replies),
		T(test_ports_open),
	};
	const struct CMUnitTest tls_tests[] = {
		T(test_tls_ctx_errors),
		T(test_tls_alpn),
		T(test_tls_session_tickets),
		T(test_tls_slow_reader),
		T(test_tls_handshake_timeout),
		T(test_dot_queries),
#undef T
	};
	int fails;

	signal(SIGPIPE, SIG_IGN);
	fails = cmocka_run_group_tests_name("comm", tcp_tests, NULL, NULL);
	fails += cmocka_run_group_tests_name("comm-tls", tls_tests,
	    tls_group_setup, tls_group_teardown);
	return fails;
}
