/*
 * testdata/unit/test_proxy.c - unit tests for comm/proxy.c: PROXY v1 and
 * v2 headers that parse (addresses, ports, LOCAL/UNKNOWN/UNSPEC, TLVs
 * skipped, bytes after the header untouched), every prefix of a valid
 * header asking for more, the exact limits (107 bytes for v1, 16 +
 * PROXY_V2_MAX_LEN for v2) and the headers that must be refused, as
 * early as the first byte that cannot belong to one.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "comm/proxy.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
