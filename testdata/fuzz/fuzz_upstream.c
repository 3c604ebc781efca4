/*
 * testdata/fuzz/fuzz_upstream.c - libFuzzer target for what cairnd does
 * with an upstream's answer: resolver/forward.c's checks (ID, question,
 * QR, TC -> TCP, framing over TCP), resolver/resolver.c's joined
 * waiters, relayed uncacheable answers (relay_reply), dns_msg_new and
 * the cache insert, and the cache hit that follows.
 *
 * The real resolver runs on a libevent loop, forwarding "." to a fake
 * upstream on 127.0.0.1 (a UDP socket and a TCP listener on the same
 * port, both in this process) that answers every query with bytes from
 * the input.  Nothing but loopback is used.
 *
 * Input: byte 0 flags:
 *   bit 0  put the ID of the upstream query into the UDP answer
 *   bit 1  the client asks the question of the UDP answer (else
 *          "example.com. A"), so that the answer can match
 *   bit 2  the client sets DO (EDNS)
 *   bit 3  a second client asks the same question (no EDNS, UDP)
 *   bit 4  put the ID of the query into the first TCP message
 *   bit 5  ask again once answered (a cache hit when it was stored)
 *   bit 6  the client sets CD
 *   bit 7  the client came over TCP (answers up to 65535 bytes)
 * byte 1: the client's EDNS size (0: no EDNS unless DO, else 512 +
 * byte * 64); bytes 2-3: length of the UDP answer that follows; the
 * rest is written as is to each TCP connection (the 2-byte framing is
 * the input's) after the query arrived, then the connection is closed.
 *
 * Checked (__builtin_trap): every client gets exactly one answer; it
 * parses, has QR, the client's ID and question, and fits the client's
 * size (512 without EDNS); a cache hit obeys the same; a flush of the
 * cache removes every entry a dump lists, and leaves none.
 *
 * Build: make fuzz; run: make fuzz-run, or
 *   ./fuzz_upstream -dict=testdata/fuzz/dns.dict testdata/fuzz/corpus/upstream
 * -DFUZZ_STANDALONE adds a main() that runs the files named once each.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns/wire.h"
#include "dns/wire_int.h"
#include "resolver/resolver.h"
#include "util/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)
#define MAX_CONNS	8
#define ROUNDS		60
#define IDLE_MAX	6

/* The fake upstream and the resolver, made once. */
static struct {
	struct event_base *base;
	struct config *cfg;
	struct res_shared *sh;
	FILE *devnull;		/* for cache dumps */
	int udp, lst;
	uint16_t port;
} env;

/* One input's run. */
struct client {
	uint8_t q[600];
	size_t qlen;
	uint16_t id;
	size_t max_len;		/* what the answer may take */
	struct res_req *req;
	bool answered;
	bool got;		/* a non-empty answer */
	uint8_t ans[65536];
	size_t anslen;
};

struct tcp_peer {
	int fd;
	uint8_t in[600];
	size_t have;
	bool replied;
};

static struct {
	uint8_t flags;
	const uint8_t *udp_ans;
	size_t udp_len;
	const uint8_t *tcp_ans;
	size_t tcp_len;
	struct tcp_peer conns[MAX_CONNS];
	int nconns;
	int activity;
} run;

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* UDP and TCP on one free loopback port. */
static int
fake_open(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int tries, on = 1;

	for (tries = 0; tries < 50; tries++) {
		env.udp = socket(AF_INET, SOCK_DGRAM, 0);
		env.lst = socket(AF_INET, SOCK_STREAM, 0);
		if (env.udp < 0 || env.lst < 0)
			return -1;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(env.udp, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
		    getsockname(env.udp, (struct sockaddr *)&sin, &sl) != 0)
			return -1;
		(void)setsockopt(env.lst, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on));
		if (bind(env.lst, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    listen(env.lst, 16) == 0) {
			env.port = ntohs(sin.sin_port);
			return nonblock(env.udp) || nonblock(env.lst) ? -1 : 0;
		}
		close(env.udp);
		close(env.lst);
	}
	return -1;
}

static void
env_init(void)
{
	char addr[64];

	if (env.base != NULL)
		return;
	log_verbosity = 0;
	env.base = event_base_new();
	if (env.base == NULL || fake_open() != 0)
		abort();
	env.cfg = config_new();
	snprintf(addr, sizeof(addr), "127.0.0.1@%u", env.port);
	if (env.cfg == NULL ||
	    config_set(env.cfg, "forward-zone", "name", ".", NULL, 0,
	    stderr) != 0 ||
	    config_set(env.cfg, "forward-zone", "forward-addr", addr, NULL, 0,
	    stderr) != 0)
		abort();
	env.sh = res_shared_new(env.cfg);
	env.devnull = fopen("/dev/null", "w");
	if (env.sh == NULL || env.devnull == NULL)
		abort();
}

/* The message 'p' of 'n' bytes with its ID replaced, into out. */
static void
send_udp(const uint8_t *qry, size_t qn, const struct sockaddr *to,
    socklen_t tolen)
{
	static uint8_t out[65536];
	size_t n = run.udp_len;

	memcpy(out, run.udp_ans, n);
	if ((run.flags & 1) && n >= 2 && qn >= 2)
		memcpy(out, qry, 2);
	(void)sendto(env.udp, out, n, 0, to, tolen);
}

/* Serve what arrived at the fake upstream; counts activity. */
static void
fake_poll(void)
{
	uint8_t buf[2048];
	struct sockaddr_storage from;
	socklen_t fl;
	ssize_t n;
	int i, fd;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(env.udp, buf, sizeof(buf), 0,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		run.activity++;
		send_udp(buf, (size_t)n, (struct sockaddr *)&from, fl);
	}
	while (run.nconns < MAX_CONNS &&
	    (fd = accept(env.lst, NULL, NULL)) >= 0) {
		run.activity++;
		if (nonblock(fd) != 0) {
			close(fd);
			continue;
		}
		memset(&run.conns[run.nconns], 0, sizeof(run.conns[0]));
		run.conns[run.nconns++].fd = fd;
	}
	for (i = 0; i < run.nconns; i++) {
		struct tcp_peer *c = &run.conns[i];
		size_t want;

		if (c->fd < 0 || c->replied)
			continue;
		n = read(c->fd, c->in + c->have, sizeof(c->in) - c->have);
		if (n > 0) {
			c->have += (size_t)n;
			run.activity++;
		} else if (n == 0) {
			close(c->fd);
			c->fd = -1;
			continue;
		}
		if (c->have < 2)
			continue;
		want = 2 + (size_t)dns_rd16(c->in);
		if (c->have < want && c->have < sizeof(c->in))
			continue;
		/* the whole query: the input goes back, then EOF */
		{
			static uint8_t out[65536 + 2];
			size_t len = run.tcp_len, off = 0;

			memcpy(out, run.tcp_ans, len);
			if ((run.flags & 16) && len >= 4 && c->have >= 4)
				memcpy(out + 2, c->in + 2, 2);
			while (off < len) {
				n = write(c->fd, out + off, len - off);
				if (n <= 0)
					break;	/* full: the rest is lost */
				off += (size_t)n;
			}
		}
		c->replied = true;
		(void)shutdown(c->fd, SHUT_WR);
		run.activity++;
	}
}

static void
fake_reset(void)
{
	uint8_t buf[2048];
	int i;

	for (i = 0; i < run.nconns; i++)
		if (run.conns[i].fd >= 0)
			close(run.conns[i].fd);
	run.nconns = 0;
	while (recv(env.udp, buf, sizeof(buf), 0) >= 0)
		;
}

/* The client's question as it sent it (for the answer check). */
static void
check_answer(const struct client *c)
{
	struct dns_scan s;
	size_t qend_q, qend_a;

	if (!c->got)
		return;		/* dropped: e.g. a local zone said so */
	CHECK(c->anslen >= DNS_HDR_LEN && c->anslen <= c->max_len);
	CHECK(dns_rd16(c->ans) == c->id);
	CHECK(dns_rd16(c->ans + 2) & DNS_QR);
	CHECK(dns_pkt_scan(c->ans, c->anslen, &s) == 0);
	CHECK(s.end <= c->anslen);
	if (dns_rd16(c->ans + 4) == 0) {
		/* an error about the question need not repeat it */
		CHECK(DNS_RCODE(dns_rd16(c->ans + 2)) != DNS_RCODE_NOERROR);
		return;
	}
	/* the client's question, letter for letter */
	CHECK(dns_pkt_question(c->q, c->qlen, &qend_q) == 0);
	CHECK(dns_pkt_question(c->ans, c->anslen, &qend_a) == 0);
	CHECK(qend_a == qend_q);
	CHECK(memcmp(c->ans + DNS_HDR_LEN, c->q + DNS_HDR_LEN,
	    qend_q - DNS_HDR_LEN) == 0);
}

static void
done_cb(void *arg, const uint8_t *ans, size_t len)
{
	struct client *c = arg;

	CHECK(!c->answered);
	c->answered = true;
	c->req = NULL;
	c->got = ans != NULL && len > 0;
	if (c->got) {
		CHECK(len <= sizeof(c->ans));
		memcpy(c->ans, ans, len);
		c->anslen = len;
	}
}

/*
 * A query for 'qname' (wire, uncompressed) in c->q: RD, CD when asked,
 * an OPT with 'edns' bytes (0: none) and DO when asked.
 */
static void
client_query(struct client *c, uint16_t id, const uint8_t *qname,
    size_t qlen, uint16_t qtype, uint16_t qclass, bool cd, bool dnssec,
    uint16_t edns, bool stream)
{
	uint8_t *p = c->q;

	memset(c, 0, offsetof(struct client, ans));
	c->id = id;
	dns_wr16(p, id);
	dns_wr16(p + 2, (uint16_t)(DNS_RD | (cd ? DNS_CD : 0)));
	dns_wr16(p + 4, 1);
	dns_wr16(p + 6, 0);
	dns_wr16(p + 8, 0);
	dns_wr16(p + 10, edns ? 1 : 0);
	memcpy(p + 12, qname, qlen);
	c->qlen = 12 + qlen;
	dns_wr16(p + c->qlen, qtype);
	dns_wr16(p + c->qlen + 2, qclass);
	c->qlen += 4;
	if (edns) {
		p += c->qlen;
		p[0] = 0;			/* root owner */
		dns_wr16(p + 1, DNS_T_OPT);
		dns_wr16(p + 3, edns);
		dns_wr32(p + 5, dnssec ? DNS_EDNS_DO : 0);
		dns_wr16(p + 9, 0);
		c->qlen += 11;
	}
	if (stream)
		c->max_len = 65535;
	else
		c->max_len = edns > DNS_MAX_UDP_NOEDNS ? edns :
		    DNS_MAX_UDP_NOEDNS;
}

static void
submit(struct resolver *r, struct client *c, bool stream)
{
	struct sockaddr_in sin;
	struct res_client rc;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(40000);
	rc.addr = (struct sockaddr *)&sin;
	rc.addrlen = sizeof(sin);
	rc.stream = stream;
	rc.encrypted = false;
	c->req = res_submit(r, c->q, c->qlen, &rc, done_cb, c);
	/* answered at once, or a handle: never both, never neither */
	CHECK((c->req == NULL) == c->answered);
}

/*
 * Turn the loop and the fake upstream until the clients are answered
 * and nothing moved in the last round, or nothing moved for IDLE_MAX
 * rounds (an answer that did not match: forward.c waits for its timer,
 * which we do not wait for).
 */
static void
spin(struct client **cs, int n)
{
	int i, idle = 0, round;
	bool all;

	for (round = 0; round < ROUNDS; round++) {
		int before = run.activity;

		event_base_loop(env.base, EVLOOP_NONBLOCK);
		fake_poll();
		for (all = true, i = 0; i < n; i++)
			if (!cs[i]->answered)
				all = false;
		idle = run.activity == before ? idle + 1 : 0;
		if ((all && idle > 0) || idle >= IDLE_MAX)
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct client c1, c2, c3;
	struct client *cs[2];
	struct resolver *r;
	const uint8_t *qname = (const uint8_t *)"\7example\3com";
	size_t qlen = 13, ulen;
	uint16_t qtype = DNS_T_A, qclass = DNS_C_IN, edns;
	bool stream, dnssec, cd;
	int n = 1;

	if (size < 4 || size > 70000)
		return 0;
	env_init();
	memset(&run, 0, sizeof(run));
	run.flags = data[0];
	ulen = dns_rd16(data + 2);
	if (ulen > size - 4)
		ulen = size - 4;
	run.udp_ans = data + 4;
	run.udp_len = ulen;
	run.tcp_ans = data + 4 + ulen;
	run.tcp_len = size - 4 - ulen;

	/* the question of the answer, if it has a plain one */
	if ((run.flags & 2) && ulen > DNS_HDR_LEN) {
		size_t nl = dns_name_len(run.udp_ans + DNS_HDR_LEN,
		    ulen - DNS_HDR_LEN);

		if (nl > 0 && DNS_HDR_LEN + nl + 4 <= ulen) {
			qname = run.udp_ans + DNS_HDR_LEN;
			qlen = nl;
			qtype = dns_rd16(qname + nl);
			qclass = dns_rd16(qname + nl + 2);
		}
	}
	dnssec = run.flags & 4;
	cd = run.flags & 64;
	stream = run.flags & 128;
	edns = data[1] ? (uint16_t)(512 + data[1] * 64) : (dnssec ? 1232 : 0);

	r = res_new(env.sh, env.base, env.cfg, NULL);
	if (r == NULL)
		return 0;
	client_query(&c1, 0x1234, qname, qlen, qtype, qclass, cd, dnssec,
	    edns, stream);
	cs[0] = &c1;
	submit(r, &c1, stream);
	if (run.flags & 8) {
		client_query(&c2, 0x4321, qname, qlen, qtype, qclass, cd,
		    false, 0, false);
		cs[n++] = &c2;
		submit(r, &c2, false);
	}
	spin(cs, n);
	check_answer(&c1);
	if (n > 1)
		check_answer(&c2);

	if ((run.flags & 32) && c1.answered && c1.got) {
		/* again: from the cache when it was stored */
		client_query(&c3, 0x5678, qname, qlen, qtype, qclass, cd,
		    dnssec, edns, stream);
		submit(r, &c3, stream);
		if (c3.answered)
			check_answer(&c3);
	}
	/* whoever is still waiting is cancelled: no callback after */
	if (c1.req != NULL)
		res_cancel(c1.req);
	if (n > 1 && c2.req != NULL)
		res_cancel(c2.req);
	if (c3.req != NULL)
		res_cancel(c3.req);
	c3.req = NULL;
	c3.answered = false;
	res_free(r);
	fake_reset();
	/* the flush removes what a dump lists; then nothing is left */
	{
		size_t dumped = res_shared_cache_dump(env.sh, env.devnull);

		CHECK(res_shared_flush(env.sh, NULL, 0, 0, false) == dumped);
		CHECK(res_shared_cache_dump(env.sh, env.devnull) == 0);
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
int
main(int argc, char **argv)
{
	static uint8_t buf[70000];
	int i;

	for (i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		size_t n;

		if (fp == NULL) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return 0;
}
#endif
