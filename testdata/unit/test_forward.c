/*
 * testdata/unit/test_forward.c - the resolver end to end (res_submit)
 * against a fake upstream on 127.0.0.1 served on the same event loop:
 * answers, joined identical questions, cache hits, UDP timeout -> TCP,
 * TC -> TCP, refused port -> next upstream at once, wrong-ID replies
 * ignored, all upstreams failing -> SERVFAIL, SERVFAIL relayed,
 * access control, RD=0, FORMERR, local data, cancel.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "dns/wire.h"
#include "resolver/resolver.h"
#include "util/config.h"
#include "util/stats.h"

enum fake_mode {
	FAKE_OK, FAKE_UDP_SILENT, FAKE_TC, FAKE_GARBAGE_FIRST, FAKE_SERVFAIL,
	FAKE_ALL_SILENT, FAKE_UDP_LATE
};

struct fake {
	struct event_base *base;
	int udp, tcp;
	uint16_t port;
	struct event *ev_udp, *ev_tcp;
	enum fake_mode mode;
	int udp_queries, tcp_queries;
	/* FAKE_UDP_LATE: the reply, sent from a timer 1300 ms later */
	struct event *late;
	uint8_t late_buf[1024];
	size_t late_len;
	struct sockaddr_storage late_to;
	socklen_t late_tolen;
};

static struct fake fk;

/* Answer query q in buf: A 192.0.2.7 TTL 300 (or SERVFAIL, or TC). */
static size_t
fake_answer(const uint8_t *qp, size_t ql, uint8_t *out, size_t cap,
    bool tc)
{
	struct dns_query q;
	struct dns_buf b = { out, 0, cap, false };
	struct dns_reply_opts o =
	    { .max_len = 65535, .edns_udp = 1232, .pad = false };
	static const uint8_t a[4] = { 192, 0, 2, 7 };
	size_t n;

	if (dns_query_parse(&q, qp, ql) != 0)
		return 0;
	if (fk.mode == FAKE_SERVFAIL) {
		dns_reply_start(&b, &q, DNS_RCODE_SERVFAIL, 0);
		return dns_reply_finish(&b, &q, &o);
	}
	dns_reply_start(&b, &q, DNS_RCODE_NOERROR, 0);
	if (!tc)
		dns_reply_add_rr(&b, 1, q.qname, q.qname_len, DNS_T_A,
		    DNS_C_IN, 300, a, 4);
	n = dns_reply_finish(&b, &q, &o);
	if (tc && n > 2)
		out[2] |= DNS_TC >> 8;
	return n;
}

static void
fake_late_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sendto(fk.udp, fk.late_buf, fk.late_len, 0,
	    (struct sockaddr *)&fk.late_to, fk.late_tolen);
}

static void
fake_udp_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[512], out[1024];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n;
	size_t an;

	(void)what;
	(void)arg;
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&ss, &sl);
	if (n <= 0)
		return;
	fk.udp_queries++;
	if (fk.mode == FAKE_UDP_SILENT || fk.mode == FAKE_ALL_SILENT)
		return;
	an = fake_answer(q, (size_t)n, out, sizeof(out), fk.mode == FAKE_TC);
	if (an == 0)
		return;
	if (fk.mode == FAKE_UDP_LATE) {
		struct timeval tv = { 1, 300000 };

		memcpy(fk.late_buf, out, an);
		fk.late_len = an;
		memcpy(&fk.late_to, &ss, sl);
		fk.late_tolen = sl;
		fk.late = evtimer_new(fk.base, fake_late_cb, NULL);
		evtimer_add(fk.late, &tv);
		return;
	}
	if (fk.mode == FAKE_GARBAGE_FIRST) {
		uint8_t bad[1024];

		memcpy(bad, out, an);
		bad[0] ^= 0x55;	/* wrong ID */
		sendto(fd, bad, an, 0, (struct sockaddr *)&ss, sl);
		sendto(fd, "junk", 4, 0, (struct sockaddr *)&ss, sl);
	}
	sendto(fd, out, an, 0, (struct sockaddr *)&ss, sl);
}

/* TCP: one nonblocking connection state per accepted client, one query
 * per connection (the loop is shared with the resolver under test). */
struct fake_conn {
	int fd;
	struct event *ev;
	uint8_t buf[2 + 512];
	size_t got, want;
};

static struct fake_conn *fake_conns[64];	/* open ones, for fake_stop */

static void
fake_conn_close(struct fake_conn *fc)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (fake_conns[i] == fc)
			fake_conns[i] = NULL;
	event_free(fc->ev);
	close(fc->fd);
	free(fc);
}

static void
fake_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_conn *fc = arg;
	uint8_t out[2 + 1024];
	ssize_t n;
	size_t an;

	(void)what;
	n = recv(fd, fc->buf + fc->got, fc->want - fc->got, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fake_conn_close(fc);
		return;
	}
	fc->got += (size_t)n;
	if (fc->got == 2) {
		fc->want = 2 + (size_t)((fc->buf[0] << 8) | fc->buf[1]);
		if (fc->want > sizeof(fc->buf)) {
			fake_conn_close(fc);
			return;
		}
	}
	if (fc->got < fc->want)
		return;
	fk.tcp_queries++;
	if (fk.mode == FAKE_ALL_SILENT || fk.mode == FAKE_UDP_LATE)
		return;	/* keep the connection, never answer */
	an = fake_answer(fc->buf + 2, fc->want - 2, out + 2, sizeof(out) - 2,
	    false);
	out[0] = (uint8_t)(an >> 8);
	out[1] = (uint8_t)an;
	if (send(fd, out, an + 2, 0) < 0)
		fprintf(stderr, "fake: send: %s\n", strerror(errno));
	fake_conn_close(fc);
}

static void
fake_tcp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_conn *fc;
	int c;

	(void)what;
	(void)arg;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
	if (c < 0)
		return;
	fc = calloc(1, sizeof(*fc));
	fc->fd = c;
	fc->want = 2;
	fc->ev = event_new(fk.base, c, EV_READ | EV_PERSIST, fake_conn_cb, fc);
	event_add(fc->ev, NULL);
	{
		size_t i;

		for (i = 0; i < 64 && fake_conns[i] != NULL; i++)
			;
		if (i < 64)
			fake_conns[i] = fc;
	}
}

static uint16_t
bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	getsockname(fd, (struct sockaddr *)&sin, &sl);
	return ntohs(sin.sin_port);
}

/* A port with nothing listening (UDP and TCP refused). */
static uint16_t
closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	uint16_t p;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	p = bound_port(fd);
	close(fd);
	return p;
}

static void
fake_start(struct event_base *base)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int one = 1;

	memset(&fk, 0, sizeof(fk));
	fk.base = base;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fk.tcp = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fk.tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fk.tcp, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(fk.tcp, 16), 0);
	fk.port = bound_port(fk.tcp);
	fk.udp = socket(AF_INET, SOCK_DGRAM, 0);
	sin.sin_port = htons(fk.port);
	assert_int_equal(bind(fk.udp, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	fk.ev_udp = event_new(base, fk.udp, EV_READ | EV_PERSIST, fake_udp_cb,
	    NULL);
	fk.ev_tcp = event_new(base, fk.tcp, EV_READ | EV_PERSIST, fake_tcp_cb,
	    NULL);
	event_add(fk.ev_udp, NULL);
	event_add(fk.ev_tcp, NULL);
}

static void
fake_stop(void)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (fake_conns[i] != NULL)
			fake_conn_close(fake_conns[i]);
	if (fk.late != NULL)
		event_free(fk.late);
	event_free(fk.ev_udp);
	event_free(fk.ev_tcp);
	close(fk.udp);
	close(fk.tcp);
}

/* ------------------------------------------------------------ harness */

struct answer {
	bool called;
	uint8_t buf[4096];
	size_t len;
};

static void
done_cb(void *arg, const uint8_t *ans, size_t len)
{
	struct answer *a = arg;

	assert_false(a->called);
	a->called = true;
	a->len = len;
	if (len > 0)
		memcpy(a->buf, ans, len < sizeof(a->buf) ? len : sizeof(a->buf));
}

struct env {
	struct event_base *base;
	struct config *cfg;
	struct res_shared *sh;
	struct resolver *r;
	struct stats st;
	char path[64];
};

static struct env E;

static void
env_teardown(void)
{
	res_free(E.r);
	res_shared_free(E.sh);
	config_free(E.cfg);
	fake_stop();
	event_base_free(E.base);
	unlink(E.path);
}

static size_t
make_query(uint8_t *buf, size_t cap, uint16_t id, const char *name,
    uint16_t type, bool rd)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t wl = dns_name_from_text(name, wire), n;

	n = dns_query_build(buf, cap, id, wire, wl, type, DNS_C_IN, false,
	    false, 1232);
	assert_true(n > 0);
	if (!rd)
		buf[2] &= (uint8_t)~(DNS_RD >> 8);
	/* the letter case of 'name' (dns_name_from_text lowercases) */
	{
		size_t off = DNS_HDR_LEN, k = 0;

		while (buf[off] != 0 && name[k] != '\0') {
			memcpy(buf + off + 1, name + k, buf[off]);
			k += buf[off] + 1u;
			off += 1u + buf[off];
		}
	}
	return n;
}

static struct res_req *
submit(struct answer *a, uint16_t id, const char *name, uint16_t type,
    const char *client_ip, bool rd)
{
	uint8_t q[512];
	size_t n = make_query(q, sizeof(q), id, name, type, rd);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct res_client cl;

	inet_pton(AF_INET, client_ip, &sin.sin_addr);
	cl.addr = (struct sockaddr *)&sin;
	cl.addrlen = sizeof(sin);
	cl.stream = false;
	cl.encrypted = false;
	memset(a, 0, sizeof(*a));
	return res_submit(E.r, q, n, &cl, done_cb, a);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run the loop until a->called (bounded by 'ms'). Returns elapsed ms. */
static uint64_t
run_until(struct answer *a, uint64_t ms)
{
	uint64_t start = now_ms();
	int i;

	for (i = 0; i < 100000 && !a->called && now_ms() - start < ms; i++)
		event_base_loop(E.base, EVLOOP_ONCE);
	return now_ms() - start;
}

static int
rcode_of(const struct answer *a)
{
	return a->buf[3] & 0xf;
}

static int
ancount_of(const struct answer *a)
{
	return (a->buf[6] << 8) | a->buf[7];
}

static uint16_t
id_of(const struct answer *a)
{
	return (uint16_t)((a->buf[0] << 8) | a->buf[1]);
}

/* ------------------------------------------------------------ tests */

static const char *fwd_extra = "";

/* Start env with the fake's own port known: fake first, then config. */
static void
env_with_fake(const char *extra_server, bool closed_first, bool closed_all)
{
	char addrs[256];
	uint16_t p1 = closed_port(), p2 = closed_port();

	memset(&E, 0, sizeof(E));
	E.base = event_base_new();
	fake_start(E.base);
	if (closed_all)
		snprintf(addrs, sizeof(addrs), " forward-addr: 127.0.0.1@%u\n"
		    " forward-addr: 127.0.0.1@%u\n", p1, p2);
	else if (closed_first)
		snprintf(addrs, sizeof(addrs), " forward-addr: 127.0.0.1@%u\n"
		    " forward-addr: 127.0.0.1@%u\n", p1, fk.port);
	else
		snprintf(addrs, sizeof(addrs), " forward-addr: 127.0.0.1@%u\n",
		    fk.port);
	{
		FILE *f;
		int fd;

		snprintf(E.path, sizeof(E.path), "/tmp/cairn-test-fwd-XXXXXX");
		fd = mkstemp(E.path);
		assert_true(fd >= 0);
		f = fdopen(fd, "w");
		fprintf(f, "server:\n%s\nforward-zone:\n name: \".\"\n%s%s\n",
		    extra_server ? extra_server : "", addrs, fwd_extra);
		fclose(f);
	}
	E.cfg = config_new();
	assert_int_equal(config_read(E.cfg, E.path, stderr), 0);
	E.sh = res_shared_new(E.cfg);
	assert_non_null(E.sh);
	E.r = res_new(E.sh, E.base, E.cfg, &E.st);
	assert_non_null(E.r);
}

static void
test_join_and_cache(void **state)
{
	struct answer a1, a2, a3;
	struct res_req *r1, *r2;

	(void)state;
	env_with_fake(NULL, false, false);
	r1 = submit(&a1, 0x1111, "www.example.com.", DNS_T_A, "127.0.0.1",
	    true);
	r2 = submit(&a2, 0x2222, "WWW.example.COM.", DNS_T_A, "127.0.0.1",
	    true);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_int_equal(res_pending(E.r), 1);
	run_until(&a1, 3000);
	run_until(&a2, 3000);
	assert_true(a1.called && a2.called);
	assert_int_equal(fk.udp_queries, 1);	/* joined */
	assert_int_equal(id_of(&a1), 0x1111);
	assert_int_equal(id_of(&a2), 0x2222);
	assert_int_equal(rcode_of(&a1), DNS_RCODE_NOERROR);
	assert_int_equal(ancount_of(&a1), 1);
	assert_int_equal(ancount_of(&a2), 1);
	/* the client's letter case in the question */
	assert_memory_equal(a2.buf + 13, "WWW", 3);
	/* now from the cache, answered before res_submit returns */
	assert_null(submit(&a3, 0x3333, "www.example.com.", DNS_T_A,
	    "127.0.0.1", true));
	assert_true(a3.called);
	assert_int_equal(ancount_of(&a3), 1);
	assert_int_equal(fk.udp_queries, 1);
	assert_int_equal(E.st.c[STAT_NUM_QUERIES], 3);
	assert_int_equal(E.st.c[STAT_NUM_CACHEMISS], 2);
	assert_int_equal(E.st.c[STAT_NUM_CACHEHITS], 1);
	assert_int_equal(E.st.c[STAT_NUM_RECURSIVEREPLIES], 2);
	assert_int_equal(E.st.c[STAT_QUERY_UDPOUT], 1);
	assert_int_equal(E.st.rcode[0], 3);
	assert_int_equal(E.st.qtype[DNS_T_A], 3);
	assert_int_equal(res_pending(E.r), 0);
	assert_true(res_shared_cache_mem(E.sh) > 0);
	env_teardown();
}

static void
test_udp_timeout_then_tcp(void **state)
{
	struct answer a;
	uint64_t ms;

	(void)state;
	env_with_fake(NULL, false, false);
	fk.mode = FAKE_UDP_SILENT;
	assert_non_null(submit(&a, 7, "slow.example.", DNS_T_A, "127.0.0.1",
	    true));
	ms = run_until(&a, 5000);
	assert_true(a.called);
	assert_int_equal(rcode_of(&a), DNS_RCODE_NOERROR);
	assert_int_equal(ancount_of(&a), 1);
	assert_int_equal(fk.tcp_queries, 1);
	assert_true(ms >= 900);
	assert_int_equal(E.st.c[STAT_QUERY_TCPOUT], 1);
	env_teardown();
}

static void
test_udp_and_tcp_timeout(void **state)
{
	struct answer a;
	uint64_t ms;

	(void)state;
	env_with_fake(NULL, false, false);
	fk.mode = FAKE_ALL_SILENT;
	assert_non_null(submit(&a, 7, "silent.example.", DNS_T_A,
	    "127.0.0.1", true));
	ms = run_until(&a, 8000);
	assert_true(a.called);
	assert_int_equal(rcode_of(&a), DNS_RCODE_SERVFAIL);
	assert_int_equal(fk.tcp_queries, 1);
	/* 1000 ms UDP then 2000 ms TCP, one upstream */
	assert_true(ms >= 2900 && ms < 4500);
	env_teardown();
}

/* UDP reply after the UDP timeout, TCP silent: the late reply is used. */
static void
test_late_udp_reply_taken(void **state)
{
	struct answer a;
	uint64_t ms;

	(void)state;
	env_with_fake(NULL, false, false);
	fk.mode = FAKE_UDP_LATE;
	assert_non_null(submit(&a, 0x5151, "late.example.", DNS_T_A,
	    "127.0.0.1", true));
	ms = run_until(&a, 5000);
	assert_true(a.called);
	assert_int_equal(rcode_of(&a), DNS_RCODE_NOERROR);
	assert_int_equal(ancount_of(&a), 1);
	assert_int_equal(id_of(&a), 0x5151);
	assert_int_equal(fk.tcp_queries, 1);
	assert_true(ms >= 1200 && ms < 2500);
	env_teardown();
}

static void
test_tc_then_tcp(void **state)
{
	struct answer a;
	uint64_t ms;

	(void)state;
	env_with_fake(NULL, false, false);
	fk.mode = FAKE_TC;
	assert_non_null(submit(&a, 7, "big.example.", DNS_T_A, "127.0.0.1",
	    true));
	ms = run_until(&a, 5000);
	assert_true(a.called);
	assert_int_equal(ancount_of(&a), 1);
	assert_int_equal(fk.udp_queries, 1);
	assert_int_equal(fk.tcp_queries, 1);
	assert_true(ms < 900);
	env_teardown();
}

static void
test_refused_port_next_upstream(void **state)
{
	struct answer a;
	uint64_t ms;

	(void)state;
	env_with_fake(NULL, true, false);
	assert_non_null(submit(&a, 9, "next.example.", DNS_T_A, "127.0.0.1",
	    true));
	ms = run_until(&a, 5000);
	assert_true(a.called);
	assert_int_equal(ancount_of(&a), 1);
	assert_true(ms < 900);	/* no timeout waited */
	env_teardown();
}

static void
test_garbage_ignored(void **state)
{
	struct answer a;

	(void)state;
	env_with_fake(NULL, false, false);
	fk.mode = FAKE_GARBAGE_FIRST;
	assert_non_null(submit(&a, 9, "g.example.", DNS_T_A, "127.0.0.1",
	    true));
	run_until(&a, 3000);
	assert_true(a.called);
	assert_int_equal(ancount_of(&a), 1);
	assert_int_equal(E.st.c[STAT_UNWANTED_REPLIES], 2);
	assert_int_equal(fk.tcp_queries, 0);
	env_teardown();
}

static void
test_all_fail_servfail(void **state)
{
	struct answer a;
	uint64_t ms;

	(void)state;
	env_with_fake(NULL, false, true);
	assert_non_null(submit(&a, 9, "dead.example.", DNS_T_A, "127.0.0.1",
	    true));
	ms = run_until(&a, 12000);
	assert_true(a.called);
	assert_int_equal(rcode_of(&a), DNS_RCODE_SERVFAIL);
	assert_int_equal(id_of(&a), 9);
	assert_true(ms < 900);
	assert_int_equal(E.st.rcode[DNS_RCODE_SERVFAIL], 1);
	env_teardown();
}

static void
test_servfail_relayed(void **state)
{
	struct answer a, b;

	(void)state;
	env_with_fake(NULL, false, false);
	fk.mode = FAKE_SERVFAIL;
	assert_non_null(submit(&a, 0x4242, "sf.example.", DNS_T_A, "127.0.0.1",
	    true));
	run_until(&a, 3000);
	assert_true(a.called);
	assert_int_equal(rcode_of(&a), DNS_RCODE_SERVFAIL);
	assert_int_equal(id_of(&a), 0x4242);
	/* not cached: asked again upstream */
	assert_non_null(submit(&b, 0x4343, "sf.example.", DNS_T_A, "127.0.0.1",
	    true));
	run_until(&b, 3000);
	assert_int_equal(fk.udp_queries, 2);
	env_teardown();
}

static void
test_acl_rd_formerr_local(void **state)
{
	struct answer a;
	uint8_t q[64];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct res_client cl = { (struct sockaddr *)&sin, sizeof(sin), false,
	    false };

	(void)state;
	env_with_fake("access-control: 192.0.2.0/24 deny\n"
	    "access-control: 198.51.100.0/24 allow_snoop\n", false, false);
	/* default refuse for non-local clients */
	assert_null(submit(&a, 1, "x.example.", DNS_T_A, "10.1.2.3", true));
	assert_true(a.called);
	assert_int_equal(rcode_of(&a), DNS_RCODE_REFUSED);
	/* deny: dropped */
	assert_null(submit(&a, 1, "x.example.", DNS_T_A, "192.0.2.9", true));
	assert_true(a.called);
	assert_int_equal(a.len, 0);
	assert_int_equal(E.st.c[STAT_UNWANTED_QUERIES], 2);
	assert_int_equal(E.st.c[STAT_NUM_QUERIES], 0);
	/* RD=0 from an allowed client: REFUSED, but local data answers */
	assert_null(submit(&a, 2, "x.example.", DNS_T_A, "127.0.0.1", false));
	assert_int_equal(rcode_of(&a), DNS_RCODE_REFUSED);
	assert_null(submit(&a, 3, "localhost.", DNS_T_A, "127.0.0.1", false));
	assert_int_equal(rcode_of(&a), DNS_RCODE_NOERROR);
	assert_int_equal(ancount_of(&a), 1);
	assert_true(a.buf[2] & (DNS_AA >> 8));
	/* allow_snoop, RD=0, not cached: REFUSED, nothing sent upstream */
	assert_null(submit(&a, 4, "x.example.", DNS_T_A, "198.51.100.1",
	    false));
	assert_int_equal(rcode_of(&a), DNS_RCODE_REFUSED);
	assert_int_equal(fk.udp_queries, 0);
	/* a static default zone: NXDOMAIN */
	assert_null(submit(&a, 5, "foo.test.", DNS_T_A, "127.0.0.1", true));
	assert_int_equal(rcode_of(&a), DNS_RCODE_NXDOMAIN);
	/* FORMERR: QDCOUNT 2 */
	make_query(q, sizeof(q), 6, "x.example.", DNS_T_A, true);
	q[5] = 2;
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	memset(&a, 0, sizeof(a));
	assert_null(res_submit(E.r, q, 30, &cl, done_cb, &a));
	assert_true(a.called);
	assert_int_equal(rcode_of(&a), DNS_RCODE_FORMERR);
	/* zone transfer: REFUSED; meta type: FORMERR */
	assert_null(submit(&a, 7, "x.example.", DNS_T_AXFR, "127.0.0.1", true));
	assert_int_equal(rcode_of(&a), DNS_RCODE_REFUSED);
	assert_null(submit(&a, 8, "x.example.", DNS_T_OPT, "127.0.0.1", true));
	assert_int_equal(rcode_of(&a), DNS_RCODE_FORMERR);
	assert_null(submit(&a, 9, "x.example.", 250, "127.0.0.1", true));
	assert_int_equal(rcode_of(&a), DNS_RCODE_FORMERR);
	assert_int_equal(fk.udp_queries, 0);
	/* too short: dropped */
	memset(&a, 0, sizeof(a));
	assert_null(res_submit(E.r, q, 5, &cl, done_cb, &a));
	assert_true(a.called);
	assert_int_equal(a.len, 0);
	env_teardown();
}

static void
test_acl_non_local(void **state)
{
	struct answer a;

	(void)state;
	env_with_fake("access-control: 192.0.2.0/24 refuse_non_local\n"
	    "access-control: 198.51.100.0/24 deny_non_local\n"
	    "local-data: \"www.example.org. A 192.0.2.99\"\n", false, false);
	assert_null(submit(&a, 1, "www.example.org.", DNS_T_A, "192.0.2.1",
	    true));
	assert_int_equal(rcode_of(&a), DNS_RCODE_NOERROR);
	assert_int_equal(ancount_of(&a), 1);
	assert_null(submit(&a, 2, "x.example.", DNS_T_A, "192.0.2.1", true));
	assert_int_equal(rcode_of(&a), DNS_RCODE_REFUSED);
	assert_null(submit(&a, 3, "www.example.org.", DNS_T_A,
	    "198.51.100.1", true));
	assert_int_equal(ancount_of(&a), 1);
	assert_null(submit(&a, 4, "x.example.", DNS_T_A, "198.51.100.1",
	    true));
	assert_true(a.called);
	assert_int_equal(a.len, 0);
	assert_int_equal(fk.udp_queries, 0);
	assert_int_equal(E.st.c[STAT_NUM_QUERIES], 4);
	assert_int_equal(E.st.c[STAT_NUM_CACHEHITS], 2);
	env_teardown();
}

/* Over the pending cap (RLIMIT_NOFILE 400 -> 200): SERVFAIL at once. */
static void
test_requestlist_exceeded(void **state)
{
	static struct answer a[201];
	struct rlimit old, low;
	char name[64];
	int i;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 400;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	env_with_fake(NULL, false, false);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	fk.mode = FAKE_ALL_SILENT;
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "q%d.example.", i);
		assert_non_null(submit(&a[i], (uint16_t)i, name, DNS_T_A,
		    "127.0.0.1", true));
	}
	assert_int_equal(res_pending(E.r), 200);
	assert_null(submit(&a[200], 200, "one-more.example.", DNS_T_A,
	    "127.0.0.1", true));
	assert_true(a[200].called);
	assert_int_equal(rcode_of(&a[200]), DNS_RCODE_SERVFAIL);
	assert_int_equal(E.st.c[STAT_REQUESTLIST_EXCEEDED], 1);
	/* joining an existing question is not over the cap */
	{
		struct answer j;

		assert_non_null(submit(&j, 7, "q7.example.", DNS_T_A,
		    "127.0.0.1", true));
	}
	assert_int_equal(E.st.requestlist_max, 200);
	env_teardown();
	for (i = 0; i < 200; i++)
		assert_false(a[i].called);
}

static void
test_cancel_then_cached(void **state)
{
	struct answer a, b;
	struct res_req *r;
	int i;

	(void)state;
	env_with_fake(NULL, false, false);
	r = submit(&a, 1, "c.example.", DNS_T_A, "127.0.0.1", true);
	assert_non_null(r);
	res_cancel(r);
	for (i = 0; i < 50 && res_pending(E.r) > 0; i++)
		event_base_loop(E.base, EVLOOP_ONCE);
	assert_false(a.called);
	assert_int_equal(res_pending(E.r), 0);
	/* the upstream answer was cached anyway */
	assert_null(submit(&b, 2, "c.example.", DNS_T_A, "127.0.0.1", true));
	assert_true(b.called);
	assert_int_equal(ancount_of(&b), 1);
	/* pending at free: no callback, no leak (ASan) */
	assert_non_null(submit(&a, 3, "d.example.", DNS_T_A, "127.0.0.1",
	    true));
	env_teardown();
	assert_false(a.called);
}

static void
test_forward_no_cache(void **state)
{
	struct answer a, b;

	(void)state;
	fwd_extra = " forward-no-cache: yes\n";
	env_with_fake(NULL, false, false);
	fwd_extra = "";
	assert_non_null(submit(&a, 1, "nc.example.", DNS_T_A, "127.0.0.1",
	    true));
	run_until(&a, 3000);
	assert_int_equal(ancount_of(&a), 1);
	assert_non_null(submit(&b, 2, "nc.example.", DNS_T_A, "127.0.0.1",
	    true));
	run_until(&b, 3000);
	assert_int_equal(ancount_of(&b), 1);
	assert_int_equal(fk.udp_queries, 2);
	env_teardown();
}

static void
test_hist_bucket(void **state)
{
	uint64_t lo, hi;
	int i;

	(void)state;
	assert_int_equal(res_hist_bucket(0), 0);
	assert_int_equal(res_hist_bucket(1), 1);
	assert_int_equal(res_hist_bucket(3), 2);
	assert_int_equal(res_hist_bucket(524288), 20);
	assert_int_equal(res_hist_bucket(999999), 20);
	assert_int_equal(res_hist_bucket(1000000), 21);
	assert_int_equal(res_hist_bucket(3500000), 22);
	assert_int_equal(res_hist_bucket((uint64_t)1 << 62), 39);
	for (i = 0; i < STATS_HIST_BUCKETS; i++) {
		res_hist_bounds(i, &lo, &hi);
		assert_int_equal(res_hist_bucket(lo), i);
		if (i < STATS_HIST_BUCKETS - 1)
			assert_int_equal(res_hist_bucket(hi), i + 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_bucket),
		cmocka_unit_test(test_join_and_cache),
		cmocka_unit_test(test_udp_timeout_then_tcp),
		cmocka_unit_test(test_udp_and_tcp_timeout),
		cmocka_unit_test(test_late_udp_reply_taken),
		cmocka_unit_test(test_tc_then_tcp),
		cmocka_unit_test(test_refused_port_next_upstream),
		cmocka_unit_test(test_garbage_ignored),
		cmocka_unit_test(test_all_fail_servfail),
		cmocka_unit_test(test_servfail_relayed),
		cmocka_unit_test(test_acl_rd_formerr_local),
		cmocka_unit_test(test_acl_non_local),
		cmocka_unit_test(test_requestlist_exceeded),
		cmocka_unit_test(test_cancel_then_cached),
		cmocka_unit_test(test_forward_no_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
