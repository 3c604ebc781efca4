/*
 * testdata/unit/test_rrtext.c - dns/rrtext.c: each type parsed from text
 * to the exact rdata and printed back, TTL/class in either order, the
 * RFC 3597 form, printing of DNSSEC and SVCB types, compressed names in
 * rdata, and the errors.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "dns/rrtext.h"
#include "dns/wire.h"

static struct dns_rr rr;

/* a message holding rr as its only answer; returns its length */
static size_t
wrap(uint8_t *b)
{
	size_t n = 12;

	memset(b, 0, 12);
	b[7] = 1;
	memcpy(b + n, rr.owner, rr.owner_len);
	n += rr.owner_len;
	b[n++] = (uint8_t)(rr.type >> 8);
	b[n++] = (uint8_t)rr.type;
	b[n++] = (uint8_t)(rr.rclass >> 8);
	b[n++] = (uint8_t)rr.rclass;
	b[n++] = (uint8_t)(rr.ttl >> 24);
	b[n++] = (uint8_t)(rr.ttl >> 16);
	b[n++] = (uint8_t)(rr.ttl >> 8);
	b[n++] = (uint8_t)rr.ttl;
	b[n++] = (uint8_t)(rr.rdlen >> 8);
	b[n++] = (uint8_t)rr.rdlen;
	memcpy(b + n, rr.rdata, rr.rdlen);
	return n + rr.rdlen;
}

/* parse 'in', print it, compare with 'want' */
static void
roundtrip(const char *in, const char *want)
{
	static uint8_t b[70000];
	static char out[8192];
	const char *why = "unset";
	size_t n, next = 0;

	if (dns_rr_from_text(in, 300, &rr, &why) != 0)
		fail_msg("parse failed: %s: %s", in, why);
	assert_null(why);
	n = wrap(b);
	assert_int_equal(dns_rr_to_text(b, n, 12, &next, out, sizeof(out)), 0);
	assert_int_equal(next, n);
	assert_string_equal(out, want);
}

static void
test_basic_types(void **st)
{
	(void)st;
	roundtrip("www.Example.com. 3600 IN A 192.0.2.1",
	    "www.example.com. 3600 IN A 192.0.2.1");
	assert_int_equal(rr.rdlen, 4);
	assert_memory_equal(rr.rdata, "\xc0\0\2\1", 4);
	assert_int_equal(rr.owner_len, 17);
	roundtrip("x AAAA 2001:db8::1", "x. 300 IN AAAA 2001:db8::1");
	assert_int_equal(rr.rdlen, 16);
	roundtrip("x. NS ns1.example.", "x. 300 IN NS ns1.example.");
	roundtrip("x CNAME y.example", "x. 300 IN CNAME y.example.");
	roundtrip("1.2.0.192.in-addr.arpa. PTR h.example.",
	    "1.2.0.192.in-addr.arpa. 300 IN PTR h.example.");
	roundtrip("x MX 10 mail.example.", "x. 300 IN MX 10 mail.example.");
	assert_memory_equal(rr.rdata, "\0\x0a\4mail\7example\0", 16);
	roundtrip("x SRV 1 2 443 t.x.", "x. 300 IN SRV 1 2 443 t.x.");
	assert_int_equal(rr.rdlen, 6 + 5);
	roundtrip("x CAA 0 issue \"letsencrypt.org\"",
	    "x. 300 IN CAA 0 issue \"letsencrypt.org\"");
	assert_memory_equal(rr.rdata, "\0\5issueletsencrypt.org", 22);
	roundtrip("x CAA 128 tbs unquoted", "x. 300 IN CAA 128 tbs \"unquoted\"");
}

static void
test_txt(void **st)
{
	(void)st;
	roundtrip("x TXT \"a b\" \"c\\\"d\" e\\032f \"\\255\\\\\"",
	    "x. 300 IN TXT \"a b\" \"c\\\"d\" \"e f\" \"\\255\\\\\"");
	assert_int_equal(rr.rdlen, 4 + 4 + 4 + 3);
	assert_memory_equal(rr.rdata, "\3a b\3c\"d\3e f\2\xff\\", 15);
	roundtrip("x TXT \"\"", "x. 300 IN TXT \"\"");
	assert_int_equal(rr.rdlen, 1);
	roundtrip("x TXT \"v=spf1 -all\" ; a comment",
	    "x. 300 IN TXT \"v=spf1 -all\"");
	roundtrip("x TXT \"tab\\009\"", "x. 300 IN TXT \"tab\\009\"");
}

static void
test_soa_ds(void **st)
{
	(void)st;
	roundtrip("example. 86400 IN SOA ns.example. host.example. "
	    "2024010101 7200 3600 1209600 300",
	    "example. 86400 IN SOA ns.example. host.example. "
	    "2024010101 7200 3600 1209600 300");
	roundtrip("example. SOA ns.example. host.example. ( 1 2h 1h 2w 5m )",
	    "example. 300 IN SOA ns.example. host.example. "
	    "1 7200 3600 1209600 300");
	roundtrip("x DS 12345 8 2 49fd46e6c4b45c55d4ac "
	    "69cbd3cd34ac1afe51de",
	    "x. 300 IN DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE");
	assert_int_equal(rr.rdlen, 4 + 20);
}

static void
test_ttl_class_order(void **st)
{
	(void)st;
	assert_int_equal(dns_rr_from_text("x 60 IN A 1.2.3.4", 9, &rr, NULL),
	    0);
	assert_int_equal(rr.ttl, 60);
	assert_int_equal(rr.rclass, DNS_C_IN);
	assert_int_equal(dns_rr_from_text("x IN 60 A 1.2.3.4", 9, &rr, NULL),
	    0);
	assert_int_equal(rr.ttl, 60);
	assert_int_equal(dns_rr_from_text("x CH TXT \"v\"", 9, &rr, NULL), 0);
	assert_int_equal(rr.ttl, 9);
	assert_int_equal(rr.rclass, DNS_C_CH);
	assert_int_equal(dns_rr_from_text("x 1h A 1.2.3.4", 9, &rr, NULL), 0);
	assert_int_equal(rr.ttl, 3600);
	assert_int_equal(dns_rr_from_text("  x\ta\t1.2.3.4  ", 9, &rr, NULL),
	    0);
	assert_int_equal(rr.type, DNS_T_A);
	assert_int_equal(rr.ttl, 9);
	roundtrip("x CLASS7 TYPE1 1.2.3.4", "x. 300 CLASS7 A 1.2.3.4");
}

static void
test_generic(void **st)
{
	(void)st;
	roundtrip("x TYPE65000 \\# 3 abcdef", "x. 300 IN TYPE65000 \\# 3 ABCDEF");
	roundtrip("x TYPE65000 \\# 0", "x. 300 IN TYPE65000 \\# 0");
	assert_int_equal(rr.rdlen, 0);
	roundtrip("x A \\# 4 c0 00 02 01", "x. 300 IN A 192.0.2.1");
	/* A with the wrong length prints generically */
	roundtrip("x A \\# 3 c00002", "x. 300 IN A \\# 3 C00002");
	roundtrip("x TXT \\# 2 0141", "x. 300 IN TXT \"A\"");
	roundtrip("x NAPTR \\# 1 00", "x. 300 IN NAPTR \\# 1 00");
}

static void
test_print_dnssec(void **st)
{
	(void)st;
	roundtrip("x DNSKEY \\# 7 01010308010203",
	    "x. 300 IN DNSKEY 257 3 8 AQID");
	roundtrip("x RRSIG \\# 24 0001080200000e106553f10064bb5440303901780001"
	    "0203", "x. 300 IN RRSIG A 8 2 3600 20231114221320 "
	    "20230722040000 12345 x. AQID");
	roundtrip("x NSEC \\# 13 01790178000006400000000003",
	    "x. 300 IN NSEC y.x. A RRSIG NSEC");
	roundtrip("x NSEC3 \\# 36 0100000a02aabb1400443214c74254b635cf8465"
	    "3a56d7c675be77df0006400000000002",
	    "x. 300 IN NSEC3 1 0 10 AABB 0123456789abcdefghijklmnopqrstuv "
	    "A RRSIG");
	/* bad bitmap (window length 0): generic */
	roundtrip("x NSEC \\# 5 0179000000",
	    "x. 300 IN NSEC \\# 5 0179000000");
}

static void
test_print_svcb(void **st)
{
	(void)st;
	roundtrip("x HTTPS \\# 27 000100000100060268320268330003000201bb0004"
	    "0004c0000201",
	    "x. 300 IN HTTPS 1 . alpn=\"h2,h3\" port=443 ipv4hint=192.0.2.1");
	roundtrip("x SVCB \\# 15 000003737663076578616d706c6500",
	    "x. 300 IN SVCB 0 svc.example.");
	roundtrip("x HTTPS \\# 61 00010000000004000100030001000302683200020"
	    "0000003000220fb000500030102030006001020010db80000000000000000"
	    "00000001fde800026162",
	    "x. 300 IN HTTPS 1 . mandatory=alpn,port alpn=\"h2\" "
	    "no-default-alpn port=8443 ech=AQID ipv6hint=2001:db8::1 "
	    "key65000=\"ab\"");
	/* keys out of order: generic */
	roundtrip("x HTTPS \\# 11 0001000003000201bb0001",
	    "x. 300 IN HTTPS \\# 11 0001000003000201BB0001");
}

static void
test_compressed_rdata(void **st)
{
	/* answer: owner ptr to question, MX 5 mail.<ptr to question> */
	static const uint8_t m[] = {
		0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 15, 0, 1,
		0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 9,
		0, 5, 4, 'm', 'a', 'i', 'l', 0xc0, 12,
	};
	char out[256];
	size_t next;

	(void)st;
	assert_int_equal(dns_rr_to_text(m, sizeof(m), 25, &next, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "example. 60 IN MX 5 mail.example.");
	assert_int_equal(next, sizeof(m));
	/* truncated */
	assert_int_equal(dns_rr_to_text(m, sizeof(m) - 1, 25, &next, out,
	    sizeof(out)), -1);
	/* output too small */
	assert_int_equal(dns_rr_to_text(m, sizeof(m), 25, &next, out, 20),
	    -1);
	/* offset out of range */
	assert_int_equal(dns_rr_to_text(m, sizeof(m), 500, &next, out,
	    sizeof(out)), -1);
}

static void
test_errors(void **st)
{
	static const struct {
		const char *in;
	} bad[] = {
		{ "" }, { "x" }, { "x 300" }, { "x 300 IN" },
		{ "x BOGUS 1" }, { "x A" }, { "x A 1.2.3" },
		{ "x A 1.2.3.4 5.6.7.8" }, { "x AAAA 1.2.3.4" },
		{ "x NS" }, { "x NS a..b" }, { "x MX mail.x." },
		{ "x MX 10" }, { "x MX 70000 m." }, { "x TXT \"open" },
		{ "x SOA a. b. 1 2 3 4" }, { "x SOA a. b. 1 2 3 4 x" },
		{ "x SRV 1 2 t." }, { "x CAA 0 \"is\" v" }, { "x CAA 0 is-sue v" },
		{ "x DS 1 8 2" }, { "x DS 1 8 2 abc" }, { "x DS 1 8 2 zz" },
		{ "x TYPE9 \\# 2 ab" }, { "x TYPE9 \\# 1 abcd" },
		{ "x TYPE9 \\# x" }, { "x DNSKEY 257 3 8 AQID" },
		{ "x OPT \\# 0" }, { "a..b A 1.2.3.4" }, { "\"x\" A 1.2.3.4" },
		{ "x TXT \"\\25\"" }, { "x TXT \"\\300\"" },
		{ "x 1h5 A 1.2.3.4" },
	};
	char big[400];
	const char *why;
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (dns_rr_from_text(bad[i].in, 1, &rr, &why) != -1)
			fail_msg("accepted: %s", bad[i].in);
		assert_non_null(why);
	}
	/* a TXT string of 256 characters */
	memset(big, 'a', sizeof(big));
	memcpy(big, "x TXT ", 6);
	big[6 + 256] = '\0';
	assert_int_equal(dns_rr_from_text(big, 1, &rr, &why), -1);
	big[6 + 255] = '\0';
	assert_int_equal(dns_rr_from_text(big, 1, &rr, &why), 0);
	assert_int_equal(rr.rdlen, 256);
	assert_int_equal(dns_rr_from_text(NULL, 1, &rr, &why), -1);
	assert_int_equal(dns_rr_from_text("x A 1.2.3.4", 1, &rr, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_basic_types),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_soa_ds),
		cmocka_unit_test(test_ttl_class_order),
		cmocka_unit_test(test_generic),
		cmocka_unit_test(test_print_dnssec),
		cmocka_unit_test(test_print_svcb),
		cmocka_unit_test(test_compressed_rdata),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(t, NULL, NULL);
}
