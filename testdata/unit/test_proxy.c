/*
 * testdata/unit/test_proxy.c - unit tests for comm/proxy.c: PROXY v1 and
 * v2 headers that parse (addresses, ports, LOCAL/UNKNOWN/UNSPEC, TLVs
 * skipped, bytes after the header untouched), every prefix of a valid
 * header asking for more, the exact limits (107 bytes for v1, 16 +
 * PROXY_V2_MAX_LEN for v2) and the headers that must be refused, as
 * early as the first byte that cannot belong to one.  Then the same
 * through comm/ over loopback sockets (COMM_LISTEN_PROXY): the header
 * consumed exactly, the proto opened after it with the proxied peer,
 * access-control and tcp-connection-limit by that peer, the header
 * deadline, and UDP.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "comm/comm.h"
#include "comm/proxy.h"
#include "util/netblock.h"
#include "util/stats.h"

#define BOTH	(PROXY_ALLOW_V1 | PROXY_ALLOW_V2)

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* "a.b.c.d port N" of a parsed source, for easy comparison. */
static const char *
src_str(const struct proxy_hdr *h)
{
	static char out[80];
	char a[INET6_ADDRSTRLEN];

	if (h->src.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&h->src;
		assert_int_equal(h->srclen, sizeof(*s4));
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, sizeof(out), "%s port %d", a,
		    ntohs(s4->sin_port));
	} else if (h->src.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&h->src;
		assert_int_equal(h->srclen, sizeof(*s6));
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, sizeof(out), "%s port %d", a,
		    ntohs(s6->sin6_port));
	} else
		snprintf(out, sizeof(out), "family %d", h->src.ss_family);
	return out;
}

/* Every strict prefix of buf[0..hlen) must ask for more. */
static void
all_prefixes_need_more(const uint8_t *buf, size_t hlen, unsigned versions)
{
	struct proxy_hdr h;
	size_t i;

	for (i = 0; i < hlen; i++) {
		enum proxy_status r = proxy_parse(buf, i, versions, &h);

		if (r != PROXY_NEED_MORE)
			fail_msg("prefix of %zu of %zu bytes: %d (%s)", i, hlen,
			    (int)r, h.why ? h.why : "");
	}
}

static enum proxy_status
parse_str(const char *s, struct proxy_hdr *h)
{
	return proxy_parse((const uint8_t *)s, strlen(s), BOTH, h);
}

/* ------------------------------------------------ v1 */

static void
test_v1_tcp4(void **state)
{
	const char *line = "PROXY TCP4 192.0.2.1 198.51.100.2 5353 53\r\n";
	char buf[128];
	struct proxy_hdr h;

	(void)state;
	/* what follows the header is not part of it */
	snprintf(buf, sizeof(buf), "%s%s", line, "\x16\x03\x01 rest");
	assert_int_equal(parse_str(buf, &h), PROXY_DONE);
	assert_int_equal(h.len, strlen(line));
	assert_int_equal(h.version, 1);
	assert_false(h.local);
	assert_string_equal(src_str(&h), "192.0.2.1 port 5353");
	all_prefixes_need_more((const uint8_t *)line, strlen(line), BOTH);
	all_prefixes_need_more((const uint8_t *)line, strlen(line),
	    PROXY_ALLOW_V1);
	/* port 0 and 65535 are ports */
	assert_int_equal(parse_str("PROXY TCP4 10.0.0.1 10.0.0.2 0 65535\r\n",
	    &h), PROXY_DONE);
	assert_string_equal(src_str(&h), "10.0.0.1 port 0");
}

static void
test_v1_tcp6_longest(void **state)
{
	/* the longest TCP6 line: 104 bytes */
	const char *line = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct proxy_hdr h;

	(void)state;
	assert_int_equal(strlen(line), 104);
	assert_int_equal(parse_str(line, &h), PROXY_DONE);
	assert_int_equal(h.len, 104);
	assert_string_equal(src_str(&h),
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff port 65535");
	assert_int_equal(parse_str("PROXY TCP6 2001:db8::7 ::1 40000 443\r\n",
	    &h), PROXY_DONE);
	assert_string_equal(src_str(&h), "2001:db8::7 port 40000");
	all_prefixes_need_more((const uint8_t *)line, strlen(line), BOTH);
}

static void
test_v1_unknown(void **state)
{
	struct proxy_hdr h;

	(void)state;
	assert_int_equal(parse_str("PROXY UNKNOWN\r\nxx", &h), PROXY_DONE);
	assert_int_equal(h.len, 15);
	assert_true(h.local);
	assert_int_equal(parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
	    &h), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(parse_str("PROXY UNKNOWNX\r\n", &h), PROXY_INVALID);
}

static void
test_v1_limit_107(void **state)
{
	char buf[200];
	struct proxy_hdr h;

	(void)state;
	/* "PROXY UNKNOWN " + filler + CRLF = exactly 107 bytes: valid */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memcpy(buf + 105, "\r\n", 2);
	assert_int_equal(proxy_parse((uint8_t *)buf, 107, BOTH, &h),
	    PROXY_DONE);
	assert_int_equal(h.len, 107);
	assert_int_equal(proxy_parse((uint8_t *)buf, sizeof(buf), BOTH, &h),
	    PROXY_DONE);
	assert_int_equal(h.len, 107);
	/* 108 bytes: invalid, and known to be once 107 are there */
	memset(buf + 14, 'x', sizeof(buf) - 14);
	memcpy(buf + 106, "\r\n", 2);
	assert_int_equal(proxy_parse((uint8_t *)buf, 106, BOTH, &h),
	    PROXY_NEED_MORE);
	assert_int_equal(proxy_parse((uint8_t *)buf, 107, BOTH, &h),
	    PROXY_INVALID);
	assert_int_equal(proxy_parse((uint8_t *)buf, 108, BOTH, &h),
	    PROXY_INVALID);
	/* no CRLF at all */
	memset(buf + 14, 'x', sizeof(buf) - 14);
	assert_int_equal(proxy_parse((uint8_t *)buf, 106, BOTH, &h),
	    PROXY_NEED_MORE);
	assert_int_equal(proxy_parse((uint8_t *)buf, 107, BOTH, &h),
	    PROXY_INVALID);
	assert_int_equal(proxy_parse((uint8_t *)buf, sizeof(buf), BOTH, &h),
	    PROXY_INVALID);
}

static void
test_v1_invalid(void **state)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.1 192.0.2.2 5353 53\n",	/* LF only */
		"PROXY TCP4 192.0.2.1 192.0.2.2 5353 53\rX\n",	/* CR alone */
		"PROXY TCP4 192.0.2.1 192.0.2.2 5353\r\n",	/* 3 fields */
		"PROXY TCP4 192.0.2.1 192.0.2.2 5353 53 1\r\n",	/* 5 */
		"PROXY TCP4 192.0.2.1 192.0.2.2 5353 53 \r\n",	/* 5, empty */
		"PROXY TCP4 192.0.2.1  192.0.2.2 5353 53\r\n",	/* 2 spaces */
		"PROXY TCP4 192.0.2.1 192.0.2.2 65536 53\r\n",	/* port */
		"PROXY TCP4 192.0.2.1 192.0.2.2 5353 -1\r\n",
		"PROXY TCP4 192.0.2.1 192.0.2.2 12a 53\r\n",
		"PROXY TCP4 192.0.2.1 192.0.2.2 000053 53\r\n",	/* 6 digits */
		"PROXY TCP4 2001:db8::1 192.0.2.2 5353 53\r\n",	/* family */
		"PROXY TCP6 192.0.2.1 ::1 5353 53\r\n",
		"PROXY TCP4 192.0.2.256 192.0.2.2 5353 53\r\n",
		"PROXY TCP4 192.0.2.1 bad 5353 53\r\n",
		"PROXY TCP5 192.0.2.1 192.0.2.2 5353 53\r\n",
		"PROXY UDP4 192.0.2.1 192.0.2.2 5353 53\r\n",
		"PROXY \r\n",
		"PROXY TCP\r\n",
		"PROXY  TCP4 192.0.2.1 192.0.2.2 5353 53\r\n",
		"proxy TCP4 192.0.2.1 192.0.2.2 5353 53\r\n",
		"PROXY\r\n",
	};
	struct proxy_hdr h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_str(bad[i], &h) != PROXY_INVALID)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(h.why);
	}
	/* a NUL or other control byte inside the line */
	{
		static const char nul[] =
		    "PROXY TCP4 192.0.2.1\0x 192.0.2.2 5353 53\r\n";
		assert_int_equal(proxy_parse((const uint8_t *)nul,
		    sizeof(nul) - 1, BOTH, &h), PROXY_INVALID);
		assert_int_equal(proxy_parse((const uint8_t *)"PROXY \t",
		    7, BOTH, &h), PROXY_INVALID);
	}
}

static void
test_not_proxy_fails_early(void **state)
{
	struct proxy_hdr h;

	(void)state;
	/* the first byte of a TLS ClientHello, of HTTP, of a DNS frame */
	assert_int_equal(proxy_parse((const uint8_t *)"\x16", 1, BOTH, &h),
	    PROXY_INVALID);
	assert_int_equal(proxy_parse((const uint8_t *)"G", 1, BOTH, &h),
	    PROXY_INVALID);
	assert_int_equal(proxy_parse((const uint8_t *)"\x00\x1d", 2, BOTH,
	    &h), PROXY_INVALID);
	/* "PRI * HTTP/2.0": the h2 preface differs at its third byte */
	assert_int_equal(proxy_parse((const uint8_t *)"PR", 2, BOTH, &h),
	    PROXY_NEED_MORE);
	assert_int_equal(proxy_parse((const uint8_t *)"PRI", 3, BOTH, &h),
	    PROXY_INVALID);
	assert_int_equal(proxy_parse((const uint8_t *)"PROXX", 5, BOTH, &h),
	    PROXY_INVALID);
	/* "\r\n\r\n" then not the v2 signature (an HTTP/1 oddity) */
	assert_int_equal(proxy_parse((const uint8_t *)"\r\n\r\nG", 5, BOTH,
	    &h), PROXY_INVALID);
	assert_int_equal(proxy_parse(NULL, 0, BOTH, &h), PROXY_NEED_MORE);
}

/* ------------------------------------------------ v2 */

/* A v2 header into buf: ver_cmd, fam, then 'alen' bytes of 'a'. */
static size_t
v2(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const uint8_t *a,
    size_t alen)
{
	memcpy(buf, sig, 12);
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(alen >> 8);
	buf[15] = (uint8_t)alen;
	if (alen > 0)
		memcpy(buf + 16, a, alen);
	return 16 + alen;
}

static void
test_v2_inet(void **state)
{
	/* src 192.0.2.9, dst 198.51.100.1, sport 40000, dport 853, then a
	 * TLV (PP2_TYPE_ALPN "h2") and a NOOP TLV, which are skipped */
	static const uint8_t a[] = {
		192, 0, 2, 9, 198, 51, 100, 1, 0x9c, 0x40, 0x03, 0x55,
		0x01, 0x00, 0x02, 'h', '2',
		0x04, 0x00, 0x03, 0, 0, 0
	};
	uint8_t buf[256];
	struct proxy_hdr h;
	size_t n;

	(void)state;
	n = v2(buf, 0x21, 0x11, a, sizeof(a));
	memcpy(buf + n, "\x16\x03\x01", 3);	/* a ClientHello follows */
	assert_int_equal(proxy_parse(buf, n + 3, BOTH, &h), PROXY_DONE);
	assert_int_equal(h.len, n);
	assert_int_equal(h.version, 2);
	assert_false(h.local);
	assert_string_equal(src_str(&h), "192.0.2.9 port 40000");
	all_prefixes_need_more(buf, n, BOTH);
	all_prefixes_need_more(buf, n, PROXY_ALLOW_V2);
	/* DGRAM is fine too (UDP) */
	n = v2(buf, 0x21, 0x12, a, 12);
	assert_int_equal(proxy_parse(buf, n, PROXY_ALLOW_V2, &h), PROXY_DONE);
	assert_string_equal(src_str(&h), "192.0.2.9 port 40000");
}

static void
test_v2_inet6(void **state)
{
	uint8_t a[36];
	uint8_t buf[64];
	struct proxy_hdr h;
	size_t n;

	(void)state;
	memset(a, 0, sizeof(a));
	inet_pton(AF_INET6, "2001:db8::42", a);
	inet_pton(AF_INET6, "2001:db8::1", a + 16);
	a[32] = 0x12;
	a[33] = 0x34;
	a[34] = 0x01;
	a[35] = 0xbb;
	n = v2(buf, 0x21, 0x21, a, sizeof(a));
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_DONE);
	assert_int_equal(h.len, 52);
	assert_string_equal(src_str(&h), "2001:db8::42 port 4660");
	/* an address block one byte short of its family */
	n = v2(buf, 0x21, 0x21, a, 35);
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_INVALID);
	n = v2(buf, 0x21, 0x11, a, 11);
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_INVALID);
}

static void
test_v2_local_unspec_unix(void **state)
{
	static const uint8_t a[216] = { 1, 2, 3 };
	uint8_t buf[300];
	struct proxy_hdr h;
	size_t n;

	(void)state;
	/* LOCAL (a health check): the real peer stands */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	assert_int_equal(n, 16);
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(h.len, 16);
	/* LOCAL ignores the family byte and skips its block */
	n = v2(buf, 0x20, 0xff, a, 12);
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(h.len, 28);
	/* LOCAL with INET and a short block: still only skipped */
	n = v2(buf, 0x20, 0x11, a, 3);
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_DONE);
	assert_true(h.local);
	/* PROXY with UNSPEC or UNIX: the real peer stands too */
	n = v2(buf, 0x21, 0x00, a, 5);
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(h.len, 21);
	n = v2(buf, 0x21, 0x31, a, sizeof(a));
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_DONE);
	assert_true(h.local);
	assert_int_equal(h.len, 16 + sizeof(a));
}

static void
test_v2_limit(void **state)
{
	static uint8_t buf[PROXY_MAX + 64];
	static const uint8_t zero[PROXY_V2_MAX_LEN];
	struct proxy_hdr h;
	size_t n;

	(void)state;
	memset(buf, 0, sizeof(buf));
	/* exactly PROXY_V2_MAX_LEN: accepted */
	n = v2(buf, 0x21, 0x11, zero, PROXY_V2_MAX_LEN);
	assert_int_equal(n, PROXY_MAX);
	buf[16] = 10;		/* src 10.0.0.0 */
	assert_int_equal(proxy_parse(buf, n - 1, BOTH, &h), PROXY_NEED_MORE);
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_DONE);
	assert_int_equal(h.len, PROXY_MAX);
	assert_int_equal(proxy_parse(buf, sizeof(buf), BOTH, &h),
	    PROXY_DONE);
	assert_int_equal(h.len, PROXY_MAX);
	/* one more: refused as soon as the length is read */
	buf[14] = (uint8_t)((PROXY_V2_MAX_LEN + 1) >> 8);
	buf[15] = (uint8_t)(PROXY_V2_MAX_LEN + 1);
	assert_int_equal(proxy_parse(buf, 15, BOTH, &h), PROXY_NEED_MORE);
	assert_int_equal(proxy_parse(buf, 16, BOTH, &h), PROXY_INVALID);
	buf[14] = buf[15] = 0xff;
	assert_int_equal(proxy_parse(buf, 16, BOTH, &h), PROXY_INVALID);
}

static void
test_v2_invalid(void **state)
{
	static const uint8_t a[12] = { 192, 0, 2, 1 };
	static const uint8_t bad_fam[] = {
		0x10, 0x20, 0x30, 0x01, 0x02, 0x13, 0x41, 0xf1, 0x1f
	};
	uint8_t buf[64], good[64];
	struct proxy_hdr h;
	size_t n, i;

	(void)state;
	n = v2(good, 0x21, 0x11, a, sizeof(a));
	/* each signature byte changed: refused at that byte */
	for (i = 0; i < 12; i++) {
		memcpy(buf, good, n);
		buf[i] ^= 0x40;
		if (i == 0)
			continue;	/* no longer starts like v2 */
		assert_int_equal(proxy_parse(buf, i + 1, BOTH, &h),
		    PROXY_INVALID);
	}
	/* version 1 in a binary header, version 3; command 2..15 */
	memcpy(buf, good, n);
	buf[12] = 0x11;
	assert_int_equal(proxy_parse(buf, 13, BOTH, &h), PROXY_INVALID);
	buf[12] = 0x31;
	assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_INVALID);
	for (i = 2; i < 16; i++) {
		buf[12] = (uint8_t)(0x20 | i);
		assert_int_equal(proxy_parse(buf, n, BOTH, &h), PROXY_INVALID);
	}
	/* family/transport pairs the specification does not list */
	for (i = 0; i < sizeof(bad_fam); i++) {
		memcpy(buf, good, n);
		buf[13] = bad_fam[i];
		if (proxy_parse(buf, 14, BOTH, &h) != PROXY_INVALID)
			fail_msg("family byte 0x%02x accepted", bad_fam[i]);
	}
	/* versions not asked for */
	assert_int_equal(proxy_parse(good, n, PROXY_ALLOW_V1, &h),
	    PROXY_INVALID);
	assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &h), PROXY_DONE);
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15,
	    PROXY_ALLOW_V2, &h), PROXY_INVALID);
}

/* ------------------------------------------------ through comm/ */

/*
 * A listener with COMM_LISTEN_PROXY on loopback, the event loop run by
 * the test between client actions, and a proto that records what it is
 * handed: the header must be consumed exactly, the proto opened only
 * after it, with the proxied peer, and the limits applied to that peer.
 */
static struct event_base *eb;
static struct comm_base *cbase;
static struct stats st;
static struct comm_limits lim;
static struct netblock_set acl, tcl;
static int lfd = -1, lport;
static int rec_opens, rec_closes;
static uint8_t rec_in[256];
static size_t rec_len;
static char rec_peer[64];

static int
rec_open(struct comm_conn *c, void *s)
{
	(void)s;
	rec_opens++;
	snprintf(rec_peer, sizeof(rec_peer), "%s", comm_conn_peer_str(c));
	return 0;
}

static int
rec_input(struct comm_conn *c, void *s, const uint8_t *d, size_t len)
{
	(void)c;
	(void)s;
	if (rec_len + len <= sizeof(rec_in)) {
		memcpy(rec_in + rec_len, d, len);
		rec_len += len;
	}
	return 0;
}

static void
rec_close(struct comm_conn *c, void *s, enum comm_close_why why)
{
	(void)c;
	(void)s;
	(void)why;
	rec_closes++;
}

static const struct comm_proto rec_proto = {
	.name = "rec",
	.state_size = 8,
	.open = rec_open,
	.input = rec_input,
	.close = rec_close,
};
static const struct comm_stream_spec rec_spec = { &rec_proto, NULL, NULL,
    false };

static void
loop_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(eb, &tv);
	event_base_dispatch(eb);
}

static int
comm_setup(void **state)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int on = 1;

	(void)state;
	eb = event_base_new();
	assert_non_null(eb);
	memset(&st, 0, sizeof(st));
	memset(&acl, 0, sizeof(acl));
	memset(&tcl, 0, sizeof(tcl));
	/* 127.0.0.9 may not send headers; 192.0.2.0/24 is denied */
	assert_int_equal(netblock_add(&acl, "127.0.0.0/8", ACL_ALLOW), 0);
	assert_int_equal(netblock_add(&acl, "127.0.0.9/32", ACL_REFUSE), 0);
	assert_int_equal(netblock_add(&acl, "0.0.0.0/0", ACL_ALLOW), 0);
	assert_int_equal(netblock_add(&acl, "192.0.2.0/24", ACL_DENY), 0);
	netblock_finish(&acl);
	assert_int_equal(netblock_add(&tcl, "203.0.113.0/24", 1), 0);
	assert_int_equal(netblock_add(&tcl, "127.0.0.0/8", 1), 0);
	netblock_finish(&tcl);
	memset(&lim, 0, sizeof(lim));
	lim.incoming_num_tcp = 10;
	lim.tcp_idle_timeout_msec = 400;
	lim.acl = &acl;
	lim.tcl = &tcl;
	cbase = comm_base_new(eb, &lim, &st);
	assert_non_null(cbase);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	lport = ntohs(sin.sin_port);
	assert_int_equal(comm_listen_stream(cbase, lfd, &rec_spec, NULL,
	    COMM_LISTEN_PROXY), 0);
	rec_opens = rec_closes = 0;
	rec_len = 0;
	rec_peer[0] = 0;
	return 0;
}

static int
comm_teardown(void **state)
{
	(void)state;
	comm_base_free(cbase);
	close(lfd);
	event_base_free(eb);
	/* every tcp-connection-limit count was given back */
	assert_int_equal(tcl.v[0].count + tcl.v[1].count, 0);
	netblock_clear(&acl);
	netblock_clear(&tcl);
	return 0;
}

/* A client from 'src' (127.0.0.x), nonblocking once connected. */
static int
cli(const char *src)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;

	assert_true(fd >= 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sin.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sin.sin_port = htons((uint16_t)lport);
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

/* Did the server close fd within max_ms (running the loop)? */
static bool
cli_closed(int fd, int max_ms)
{
	int waited;

	for (waited = 0; waited <= max_ms; waited += 10) {
		uint8_t b[16];
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN &&
		    errno != EWOULDBLOCK))
			return true;
		loop_for(10);
	}
	return false;
}

static long
tcl_count(const char *block)
{
	size_t i;
	int fam, prefix;
	unsigned char a[16];

	assert_int_equal(netblock_parse(block, &fam, a, &prefix), 0);
	for (i = 0; i < tcl.n; i++)
		if (tcl.v[i].prefix == prefix &&
		    memcmp(tcl.v[i].addr, a, 16) == 0)
			return tcl.v[i].count;
	fail_msg("no entry %s", block);
	return -1;
}

static void
test_comm_header_then_data(void **state)
{
	static const char v1[] = "PROXY TCP4 203.0.113.5 127.0.0.1 4000 53\r\n";
	uint8_t buf[128];
	int a, b, c;

	(void)state;
	/* header and data in one segment: the proto gets only the data */
	memcpy(buf, v1, sizeof(v1) - 1);
	memcpy(buf + sizeof(v1) - 1, "hello", 5);
	a = cli("127.0.0.1");
	cli_send(a, buf, sizeof(v1) - 1 + 5);
	loop_for(50);
	assert_int_equal(rec_opens, 1);
	assert_int_equal(rec_len, 5);
	assert_memory_equal(rec_in, "hello", 5);
	assert_string_equal(rec_peer, "203.0.113.5 port 4000");
	/* counted for the proxied address only, not for the proxy's */
	assert_int_equal(tcl_count("203.0.113.0/24"), 1);
	assert_int_equal(tcl_count("127.0.0.0/8"), 0);
	/* the same client again: over its limit of 1 */
	b = cli("127.0.0.1");
	cli_send(b, v1, sizeof(v1) - 1);
	assert_true(cli_closed(b, 300));
	assert_int_equal(STAT_LOAD(st.c[STAT_TCP_REFUSED_LIMIT]), 1);
	assert_int_equal(rec_opens, 1);
	/* LOCAL: the proxy's own address, counted for it */
	c = cli("127.0.0.2");
	cli_send(c, sig, 12);
	cli_send(c, "\x20\x00\x00\x00", 4);
	loop_for(50);
	assert_int_equal(rec_opens, 2);
	assert_true(strncmp(rec_peer, "127.0.0.2 port ", 15) == 0);
	assert_int_equal(tcl_count("127.0.0.0/8"), 1);
	close(a);
	close(b);
	close(c);
	loop_for(50);
	assert_int_equal(rec_closes, 2);
	assert_int_equal(comm_base_conn_count(cbase), 0);
}

static void
test_comm_dripped_and_refused(void **state)
{
	static const char v1[] = "PROXY TCP4 198.51.100.7 127.0.0.1 9 53\r\n";
	static const char deny[] = "PROXY TCP4 192.0.2.7 127.0.0.1 9 53\r\n";
	size_t i;
	int a, b, c, d;

	(void)state;
	a = cli("127.0.0.1");
	for (i = 0; i < sizeof(v1) - 1; i++) {
		assert_int_equal(rec_opens, 0);	/* not before the end */
		cli_send(a, v1 + i, 1);
		loop_for(5);
	}
	cli_send(a, "x", 1);
	loop_for(30);
	assert_int_equal(rec_opens, 1);
	assert_string_equal(rec_peer, "198.51.100.7 port 9");
	assert_int_equal(rec_len, 1);
	/* access-control deny by the proxied address */
	b = cli("127.0.0.1");
	cli_send(b, deny, sizeof(deny) - 1);
	assert_true(cli_closed(b, 300));
	/* a sender that is not allowed: closed at accept */
	c = cli("127.0.0.9");
	assert_true(cli_closed(c, 300));
	/* no header */
	d = cli("127.0.0.1");
	cli_send(d, "\x00\x1d", 2);
	assert_true(cli_closed(d, 300));
	assert_int_equal(rec_opens, 1);
	assert_int_equal(STAT_LOAD(st.c[STAT_TCP_REFUSED_LIMIT]), 0);
	close(a);
	close(b);
	close(c);
	close(d);
	loop_for(30);
	assert_int_equal(comm_base_conn_count(cbase), 0);
}

static void
test_comm_header_deadline(void **state)
{
	static const char part[] = "PROXY TCP4 198.51.100.7 ";
	struct timeval t0, t1;
	long ms;
	size_t i;
	int a;

	(void)state;
	/* bytes keep coming, but the header is not done: cut at 400 ms */
	a = cli("127.0.0.1");
	gettimeofday(&t0, NULL);
	for (i = 0; i < sizeof(part) - 1; i++) {
		if (send(a, part + i, 1, MSG_NOSIGNAL) != 1 || cli_closed(a, 60))
			break;
	}
	gettimeofday(&t1, NULL);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	assert_true(i < sizeof(part) - 1);
	assert_true(ms >= 350 && ms < 1000);
	assert_int_equal(rec_opens, 0);
	close(a);
	loop_for(20);
	assert_int_equal(comm_base_conn_count(cbase), 0);
}

/* UDP: the handler gets the payload after the header, the sender for the
 * reply and the proxied client. */
static int udp_calls;
static char udp_from[64], udp_client[64];
static uint8_t udp_pkt[64];
static size_t udp_len;

static void
udp_rec(struct comm_udp *u, void *env, const uint8_t *pkt, size_t len,
    const struct sockaddr *from, socklen_t fromlen,
    const struct sockaddr *client, socklen_t clientlen,
    const struct comm_udp_dst *dst)
{
	char a[INET6_ADDRSTRLEN];

	(void)u;
	(void)env;
	(void)dst;
	(void)fromlen;
	(void)clientlen;
	udp_calls++;
	inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, a,
	    sizeof(a));
	snprintf(udp_from, sizeof(udp_from), "%s", a);
	inet_ntop(client->sa_family, client->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)client)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)client)->sin6_addr,
	    a, sizeof(a));
	snprintf(udp_client, sizeof(udp_client), "%s", a);
	udp_len = len < sizeof(udp_pkt) ? len : sizeof(udp_pkt);
	memcpy(udp_pkt, pkt, udp_len);
}

static void
test_comm_udp(void **state)
{
	static const uint8_t a4[12] = { 203, 0, 113, 9, 127, 0, 0, 1, 0, 9,
	    0, 53 };
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint8_t buf[128];
	int ufd, cfd;
	size_t n;

	(void)state;
	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ufd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(ufd, (struct sockaddr *)&sin, &len);
	assert_int_equal(comm_listen_udp(cbase, ufd, udp_rec, NULL,
	    COMM_LISTEN_PROXY), 0);
	cfd = socket(AF_INET, SOCK_DGRAM, 0);
	udp_calls = 0;
	n = v2(buf, 0x21, 0x12, a4, sizeof(a4));
	memcpy(buf + n, "query", 5);
	sendto(cfd, buf, n + 5, 0, (struct sockaddr *)&sin, sizeof(sin));
	loop_for(30);
	assert_int_equal(udp_calls, 1);
	assert_int_equal(udp_len, 5);
	assert_memory_equal(udp_pkt, "query", 5);
	assert_string_equal(udp_from, "127.0.0.1");
	assert_string_equal(udp_client, "203.0.113.9");
	/* LOCAL: the sender is the client */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	memcpy(buf + n, "q2", 2);
	sendto(cfd, buf, n + 2, 0, (struct sockaddr *)&sin, sizeof(sin));
	loop_for(30);
	assert_int_equal(udp_calls, 2);
	assert_string_equal(udp_client, "127.0.0.1");
	/* no header, v1, header alone: dropped and counted */
	sendto(cfd, "query", 5, 0, (struct sockaddr *)&sin, sizeof(sin));
	sendto(cfd, "PROXY UNKNOWN\r\nq", 16, 0, (struct sockaddr *)&sin,
	    sizeof(sin));
	sendto(cfd, buf, n, 0, (struct sockaddr *)&sin, sizeof(sin));
	loop_for(30);
	assert_int_equal(udp_calls, 2);
	assert_int_equal(STAT_LOAD(st.c[STAT_UNWANTED_QUERIES]), 3);
	close(cfd);
	comm_base_free(cbase);	/* before its fd goes */
	cbase = comm_base_new(eb, &lim, &st);
	close(ufd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6_longest),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_limit_107),
		cmocka_unit_test(test_v1_invalid),
		cmocka_unit_test(test_not_proxy_fails_early),
		cmocka_unit_test(test_v2_inet),
		cmocka_unit_test(test_v2_inet6),
		cmocka_unit_test(test_v2_local_unspec_unix),
		cmocka_unit_test(test_v2_limit),
		cmocka_unit_test(test_v2_invalid),
#define T(f) cmocka_unit_test_setup_teardown(f, comm_setup, comm_teardown)
		T(test_comm_header_then_data),
		T(test_comm_dripped_and_refused),
		T(test_comm_header_deadline),
		T(test_comm_udp),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
