/*
 * testdata/unit/test_wire.c - dns/wire.c and dns/msg.c: query parsing
 * and every error path, hostile names and counts, replies (EDNS,
 * padding, truncation), upstream queries and replies, min TTL, cached
 * messages and their aging, name/type helpers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "dns/wire.h"

static const struct dns_reply_opts udp512 =
    { .max_len = 512, .edns_udp = 1232, .pad = false };
static const struct dns_reply_opts stream =
    { .max_len = 65535, .edns_udp = 1232, .pad = false };
static const struct dns_reply_opts padded =
    { .max_len = 65535, .edns_udp = 1232, .pad = true };

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* header + question for 'name' (presentation, case kept) */
static size_t
mkhdr(uint8_t *b, uint16_t id, uint16_t flags, const char *name,
    uint16_t qtype)
{
	size_t n = 12, i, lab;

	memset(b, 0, 12);
	put16(b, id);
	put16(b + 2, flags);
	put16(b + 4, 1);
	/* simple dotted names without escapes, case kept */
	lab = n++;
	for (i = 0; name[i] != '\0'; i++) {
		if (name[i] == '.') {
			b[lab] = (uint8_t)(n - lab - 1);
			lab = n++;
		} else {
			b[n++] = (uint8_t)name[i];
		}
	}
	b[lab] = (uint8_t)(n - lab - 1);
	if (b[lab] != 0)
		b[n++] = 0;
	put16(b + n, qtype);
	put16(b + n + 2, DNS_C_IN);
	return n + 4;
}

/* append an OPT RR (to ARCOUNT) with the given rdata */
static size_t
addopt(uint8_t *b, size_t n, uint16_t udp, uint32_t ttl, const uint8_t *rd,
    uint16_t rdlen)
{
	b[n] = 0;
	put16(b + n + 1, DNS_T_OPT);
	put16(b + n + 3, udp);
	b[n + 5] = (uint8_t)(ttl >> 24);
	b[n + 6] = (uint8_t)(ttl >> 16);
	b[n + 7] = (uint8_t)(ttl >> 8);
	b[n + 8] = (uint8_t)ttl;
	put16(b + n + 9, rdlen);
	if (rdlen > 0)
		memcpy(b + n + 11, rd, rdlen);
	put16(b + 10, (uint16_t)(get16(b + 10) + 1));
	return n + 11 + rdlen;
}

static void
test_parse_basic(void **st)
{
	uint8_t b[512], qn[DNS_MAX_NAME];
	struct dns_query q;
	size_t n, qnl;

	(void)st;
	qnl = dns_name_from_text("WWW.Example.com", qn);
	assert_int_equal(qnl, 17);
	n = dns_query_build(b, sizeof(b), 0x1234, qn, qnl, DNS_T_AAAA,
	    DNS_C_IN, true, true, 1400);
	assert_int_equal(n, 12 + 17 + 4 + 11);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.flags & DNS_RD);
	assert_true(q.flags & DNS_CD);
	assert_int_equal(q.qtype, DNS_T_AAAA);
	assert_int_equal(q.qclass, DNS_C_IN);
	assert_int_equal(q.qname_len, 17);
	assert_memory_equal(q.qname, "\3www\7example\3com", 17);
	assert_int_equal(q.question_end, 12 + 17 + 4);
	assert_true(q.edns);
	assert_true(q.edns_do);
	assert_int_equal(q.edns_udp, 1400);
	assert_false(q.edns_padding);
	assert_false(q.ecs);
	/* too small a buffer */
	assert_int_equal(dns_query_build(b, 40, 1, qn, qnl, 1, 1, false,
	    false, 1232), 0);
	/* not a valid wire name */
	assert_int_equal(dns_query_build(b, sizeof(b), 1, (const uint8_t *)
	    "\5ab", 3, 1, 1, false, false, 1232), 0);
}

static void
test_parse_case_and_reply_case(void **st)
{
	uint8_t b[512], out[512];
	struct dns_query q;
	struct dns_buf rb = { out, 0, sizeof(out), false };
	size_t n;

	(void)st;
	n = mkhdr(b, 7, DNS_RD, "WwW.ExAmple.COM.", DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_memory_equal(q.qname, "\3www\7example\3com", 17);
	assert_false(q.edns);
	assert_int_equal(q.edns_udp, 512);
	dns_reply_start(&rb, &q, DNS_RCODE_NOERROR, DNS_AA);
	dns_reply_add_rr(&rb, 1, q.qname, q.qname_len, DNS_T_A, DNS_C_IN,
	    300, (const uint8_t *)"\xc0\x00\x02\x01", 4);
	n = dns_reply_finish(&rb, &q, &udp512);
	/* header, question as sent, answer with a pointer to the question */
	assert_int_equal(n, q.question_end + 2 + 10 + 4);
	assert_memory_equal(out + 12, b + 12, q.question_end - 12);
	assert_int_equal(get16(out), 7);
	assert_int_equal(get16(out + 2), DNS_QR | DNS_AA | DNS_RD | DNS_RA);
	assert_int_equal(get16(out + 4), 1);
	assert_int_equal(get16(out + 6), 1);
	assert_int_equal(get16(out + q.question_end), 0xc00c);
	assert_true(dns_reply_matches(out, n, 7, q.qname, q.qname_len,
	    DNS_T_A, DNS_C_IN));
	assert_int_equal(dns_reply_min_ttl(out, n), 300);
}

static void
test_parse_short(void **st)
{
	uint8_t b[12] = { 0 };
	struct dns_query q;

	(void)st;
	assert_int_equal(dns_query_parse(&q, b, 11), -1);
	assert_int_equal(dns_query_parse(&q, NULL, 0), -1);
	/* a bare header: QDCOUNT 0 */
	assert_int_equal(dns_query_parse(&q, b, 12), DNS_RCODE_FORMERR);
}

static void
test_parse_formerr(void **st)
{
	uint8_t b[512], out[512];
	struct dns_query q;
	size_t n, m;

	(void)st;
	/* QR set */
	n = mkhdr(b, 1, DNS_QR, "a.example.", DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* QDCOUNT 2 */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	put16(b + 4, 2);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	assert_int_equal(q.id, 1);
	m = dns_reply_error(out, sizeof(out), &q, DNS_RCODE_FORMERR, &udp512);
	assert_int_equal(m, 12);	/* no question to echo */
	assert_int_equal(DNS_RCODE(get16(out + 2)), DNS_RCODE_FORMERR);
	assert_int_equal(get16(out + 4), 0);
	/* QDCOUNT 0 */
	put16(b + 4, 0);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* question cut short */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n - 1), DNS_RCODE_FORMERR);
	assert_int_equal(dns_query_parse(&q, b, 14), DNS_RCODE_FORMERR);
	/* compressed question name */
	memcpy(b + 12, "\1a\xc0\x0c\0\1\0\1", 8);
	assert_int_equal(dns_query_parse(&q, b, 20), DNS_RCODE_FORMERR);
	/* ANCOUNT claims a record that is not there */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	put16(b + 6, 1);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* the question parsed: a FORMERR reply echoes it */
	m = dns_reply_error(out, sizeof(out), &q, DNS_RCODE_FORMERR, &udp512);
	assert_int_equal(m, n);
	assert_int_equal(get16(out + 4), 1);
	/* label type 0x40 in the question */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	b[12] = 0x41;
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
}

static void
test_parse_answer_rrs_allowed(void **st)
{
	uint8_t b[512];
	struct dns_query q;
	size_t n;

	(void)st;
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	/* one answer RR with a compressed owner, one authority RR */
	memcpy(b + n, "\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\1\2\3\4", 16);
	n += 16;
	memcpy(b + n, "\0\0\x10\0\1\0\0\0\0\0\1\0", 12);
	n += 12;
	put16(b + 6, 1);
	put16(b + 8, 1);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	/* OPT in the answer section is not allowed */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	n = addopt(b, n, 1232, 0, NULL, 0);
	put16(b + 10, 0);
	put16(b + 6, 1);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
}

static void
test_parse_notimpl(void **st)
{
	uint8_t b[64], out[512];
	struct dns_query q;
	size_t n;

	(void)st;
	memset(b, 0xff, sizeof(b));
	put16(b, 9);
	put16(b + 2, 2 << 11);		/* STATUS, junk after the header */
	assert_int_equal(dns_query_parse(&q, b, sizeof(b)), DNS_RCODE_NOTIMPL);
	n = dns_reply_error(out, sizeof(out), &q, DNS_RCODE_NOTIMPL, &udp512);
	assert_int_equal(n, 12);
	assert_int_equal(get16(out), 9);
	assert_int_equal(get16(out + 2), DNS_QR | DNS_RA | (2 << 11) |
	    DNS_RCODE_NOTIMPL);
	/* NOTIFY with a good question: echoed */
	n = mkhdr(b, 9, 4 << 11, "a.example.", DNS_T_SOA);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_NOTIMPL);
	assert_int_equal(dns_reply_error(out, sizeof(out), &q,
	    DNS_RCODE_NOTIMPL, &udp512), n);
	/* QR beats the opcode */
	put16(b + 2, DNS_QR | (4 << 11));
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
}

static void
test_parse_edns(void **st)
{
	uint8_t b[512];
	struct dns_query q;
	size_t n, m;

	(void)st;
	/* small payload size read as 512 */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	n = addopt(b, n, 100, 0, NULL, 0);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp, 512);
	assert_false(q.edns_do);
	/* two OPT RRs */
	n = addopt(b, n, 1232, 0, NULL, 0);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	assert_false(q.edns);
	/* OPT owner not the root */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	m = addopt(b, n, 1232, 0, NULL, 0);
	memmove(b + n + 2, b + n, m - n);
	memcpy(b + n, "\1x", 2);
	b[n + 2] = 0;
	assert_int_equal(dns_query_parse(&q, b, m + 2), DNS_RCODE_FORMERR);
	/* option longer than the rdata */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	m = addopt(b, n, 1232, 0, (const uint8_t *)"\0\x0c\0\5\0\0", 6);
	assert_int_equal(dns_query_parse(&q, b, m), DNS_RCODE_FORMERR);
	/* rdata of 3 bytes: not even an option header */
	m = addopt(b, n, 1232, 0, (const uint8_t *)"\0\x0c\0", 3);
	put16(b + 10, 1);
	assert_int_equal(dns_query_parse(&q, b, m), DNS_RCODE_FORMERR);
	/* padding option and an unknown one */
	m = addopt(b, n, 1232, DNS_EDNS_DO,
	    (const uint8_t *)"\0\x0c\0\2\0\0\xfd\xe9\0\0", 10);
	put16(b + 10, 1);
	assert_int_equal(dns_query_parse(&q, b, m), 0);
	assert_true(q.edns_padding);
	assert_true(q.edns_do);
}

static void
test_parse_badvers(void **st)
{
	uint8_t b[512], out[512];
	struct dns_query q;
	size_t n;

	(void)st;
	n = mkhdr(b, 5, DNS_RD, "a.example.", DNS_T_A);
	n = addopt(b, n, 1232, 0x00018000, NULL, 0);	/* version 1, DO */
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_BADVERS);
	assert_int_equal(q.edns_version, 1);
	n = dns_reply_error(out, sizeof(out), &q, DNS_RCODE_BADVERS, &udp512);
	assert_int_equal(n, q.question_end + 11);
	assert_int_equal(DNS_RCODE(get16(out + 2)), 0);
	assert_int_equal(get16(out + 10), 1);
	/* OPT: extended rcode 1 (16 >> 4), version 0, DO echoed */
	assert_int_equal(get16(out + q.question_end + 1), DNS_T_OPT);
	assert_int_equal(get16(out + q.question_end + 3), 1232);
	assert_int_equal(get32(out + q.question_end + 5), 0x01008000);
}

static size_t
ecs_query(uint8_t *b, const uint8_t *opt, uint16_t olen)
{
	size_t n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);

	return addopt(b, n, 1232, 0, opt, olen);
}

static void
test_parse_ecs(void **st)
{
	uint8_t b[512];
	struct dns_query q;
	size_t n;

	(void)st;
	/* 192.0.2.0/24 */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\7\0\1\x18\0\xc0\0\2", 11);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_true(q.ecs);
	assert_int_equal(q.ecs_family, 1);
	assert_int_equal(q.ecs_source, 24);
	assert_memory_equal(q.ecs_addr, "\xc0\0\2\0", 4);
	/* 2001:db8::/32 */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\x08\0\2\x20\0\x20\1\x0d\xb8",
	    12);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_int_equal(q.ecs_family, 2);
	assert_int_equal(q.ecs_source, 32);
	/* /0: no address bytes */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\4\0\1\0\0", 8);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_int_equal(q.ecs_source, 0);
	/* unknown family */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\7\0\3\x18\0\xc0\0\2", 11);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* prefix 33 for IPv4 */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\x09\0\1\x21\0\1\2\3\4\0",
	    13);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* address longer than the prefix needs */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\x08\0\1\x18\0\xc0\0\2\0",
	    12);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* bits set past the prefix (/23 with .2.x) */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\7\0\1\x17\0\xc0\0\3", 11);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* shorter than family + prefixes */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\3\0\1\x18", 7);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* RFC 7871 7.1.1: a non-zero scope in a query */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\7\0\1\x18\x10\xc0\0\2", 11);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	assert_false(q.ecs);
	/* two ECS options */
	n = ecs_query(b, (const uint8_t *)
	    "\0\x08\0\4\0\1\0\0\0\x08\0\4\0\1\0\0", 16);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
}

static void
test_ecs_option(void **st)
{
	struct dns_ecs e, f;
	uint8_t out[64], a[16];

	(void)st;
	/* a reply may carry a scope, a query may not */
	assert_int_equal(dns_ecs_parse(&e,
	    (const uint8_t *)"\0\1\x18\x10\xc0\0\2", 7, false), 0);
	assert_int_equal(e.family, 1);
	assert_int_equal(e.source, 24);
	assert_int_equal(e.scope, 16);
	assert_memory_equal(e.addr, "\xc0\0\2\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(dns_ecs_parse(&e,
	    (const uint8_t *)"\0\1\x18\x10\xc0\0\2", 7, true), -1);
	/* scope longer than the address, in a reply */
	assert_int_equal(dns_ecs_parse(&e,
	    (const uint8_t *)"\0\1\x18\x21\xc0\0\2", 7, false), -1);
	assert_int_equal(dns_ecs_parse(&e,
	    (const uint8_t *)"\0\2\x80\0", 4, false), -1);
	assert_int_equal(dns_ecs_parse(&e, (const uint8_t *)"\0\1\0", 3,
	    false), -1);
	assert_int_equal(dns_ecs_family_bits(1), 32);
	assert_int_equal(dns_ecs_family_bits(2), 128);
	assert_int_equal(dns_ecs_family_bits(3), 0);

	/* mask */
	memset(a, 0xff, sizeof(a));
	dns_ecs_mask(a, 13);
	assert_memory_equal(a, "\xff\xf8\0\0", 4);
	memset(a, 0xff, sizeof(a));
	dns_ecs_mask(a, 128);
	assert_int_equal(a[15], 0xff);
	dns_ecs_mask(a, 0);
	assert_int_equal(a[0], 0);

	/* write: the address cut to ceil(source / 8) octets, masked */
	memset(&e, 0, sizeof(e));
	e.family = 1;
	e.source = 20;
	e.scope = 0;
	memcpy(e.addr, "\xcb\0\x71\x55", 4);
	assert_int_equal(dns_ecs_write(out, sizeof(out), &e), 11);
	assert_memory_equal(out, "\0\x08\0\x07\0\1\x14\0\xcb\0\x70", 11);
	assert_int_equal(dns_ecs_parse(&f, out + 4, 7, true), 0);
	assert_int_equal(f.source, 20);
	assert_memory_equal(f.addr, "\xcb\0\x70\0", 4);
	assert_int_equal(dns_ecs_write(out, 10, &e), 0);
	e.source = 0;
	assert_int_equal(dns_ecs_write(out, sizeof(out), &e), 8);
	assert_memory_equal(out, "\0\x08\0\x04\0\1\0\0", 8);
	e.family = 3;
	assert_int_equal(dns_ecs_write(out, sizeof(out), &e), 0);
	e.family = 2;
	e.source = 129;
	assert_int_equal(dns_ecs_write(out, sizeof(out), &e), 0);
}

static void
test_ecs_from_addr(void **st)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	struct sockaddr sa;
	struct dns_ecs e;

	(void)st;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.77", &s4.sin_addr);
	assert_true(dns_ecs_from_addr(&e, (struct sockaddr *)&s4, 24, 56));
	assert_int_equal(e.family, 1);
	assert_int_equal(e.source, 24);
	assert_int_equal(e.scope, 0);
	assert_memory_equal(e.addr, "\xc6\x33\x64\0", 4);
	assert_true(dns_ecs_from_addr(&e, (struct sockaddr *)&s4, 40, 56));
	assert_int_equal(e.source, 32);
	assert_memory_equal(e.addr, "\xc6\x33\x64\x4d", 4);

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1:2ff::1", &s6.sin6_addr);
	assert_true(dns_ecs_from_addr(&e, (struct sockaddr *)&s6, 24, 56));
	assert_int_equal(e.family, 2);
	assert_int_equal(e.source, 56);
	assert_memory_equal(e.addr,
	    "\x20\x01\x0d\xb8\0\x01\x02\0\0\0\0\0\0\0\0\0", 16);
	/* IPv4-mapped IPv6 is an IPv4 client */
	inet_pton(AF_INET6, "::ffff:192.0.2.200", &s6.sin6_addr);
	assert_true(dns_ecs_from_addr(&e, (struct sockaddr *)&s6, 24, 56));
	assert_int_equal(e.family, 1);
	assert_int_equal(e.source, 24);
	assert_memory_equal(e.addr, "\xc0\0\2\0", 4);

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_false(dns_ecs_from_addr(&e, &sa, 24, 56));
	assert_false(dns_ecs_from_addr(&e, NULL, 24, 56));
}

/* An upstream-style reply to a.example. A with one answer and an OPT
 * carrying 'opt' (olen bytes). */
static size_t
ecs_reply(uint8_t *b, const uint8_t *opt, uint16_t olen)
{
	size_t n = mkhdr(b, 1, DNS_QR | DNS_RD | DNS_RA, "a.example.",
	    DNS_T_A);

	put16(b + 6, 1);
	memcpy(b + n, "\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\xc0\0\2\1", 16);
	n += 16;
	return addopt(b, n, 1232, 0, opt, olen);
}

static void
test_reply_ecs(void **st)
{
	uint8_t b[512];
	struct dns_ecs e;
	size_t n;

	(void)st;
	n = ecs_reply(b, (const uint8_t *)
	    "\0\x0c\0\0\0\x08\0\7\0\1\x18\x10\xc0\0\2", 15);
	assert_int_equal(dns_reply_ecs(b, n, &e), 1);
	assert_int_equal(e.family, 1);
	assert_int_equal(e.source, 24);
	assert_int_equal(e.scope, 16);
	/* no option, no OPT */
	n = ecs_reply(b, NULL, 0);
	assert_int_equal(dns_reply_ecs(b, n, &e), 0);
	/* ARCOUNT still says 1 */
	assert_int_equal(dns_reply_ecs(b, n - 11, &e), -1);
	put16(b + 10, 0);
	assert_int_equal(dns_reply_ecs(b, n - 11, &e), 0);
	/* malformed option, option running past the OPT */
	n = ecs_reply(b, (const uint8_t *)"\0\x08\0\7\0\3\x18\0\xc0\0\2", 11);
	assert_int_equal(dns_reply_ecs(b, n, &e), -1);
	n = ecs_reply(b, (const uint8_t *)"\0\x08\0\x09\0\1\x18\0\xc0\0\2", 11);
	assert_int_equal(dns_reply_ecs(b, n, &e), -1);
	assert_int_equal(dns_reply_ecs(NULL, 0, &e), -1);
}

/* a reply-ish message for hostile name tests: question + one answer
 * whose owner is 'owner' (raw bytes) */
static size_t
hostile(uint8_t *b, const uint8_t *owner, size_t olen)
{
	size_t n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);

	memcpy(b + n, owner, olen);
	n += olen;
	memcpy(b + n, "\0\1\0\1\0\0\0\x3c\0\4\1\2\3\4", 14);
	put16(b + 6, 1);
	return n + 14;
}

static void
test_hostile_names(void **st)
{
	uint8_t b[2048], big[300];
	struct dns_query q;
	size_t n, i;

	(void)st;
	/* pointer to itself (offset 27 is where the owner starts) */
	n = hostile(b, (const uint8_t *)"\xc0\x1b", 2);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	assert_int_equal(dns_reply_min_ttl(b, n), -1);
	/* pointer forward */
	n = hostile(b, (const uint8_t *)"\xc0\x30", 2);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* pointer past the end */
	n = hostile(b, (const uint8_t *)"\xcf\xff", 2);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* pointer into the header */
	n = hostile(b, (const uint8_t *)"\xc0\x02", 2);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* loop: label then a pointer back to the label */
	n = hostile(b, (const uint8_t *)"\1x\xc0\x1b", 4);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* backwards pointer to the question: fine */
	n = hostile(b, (const uint8_t *)"\1x\xc0\x0c", 4);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	/* reserved label type 0x80 */
	n = hostile(b, (const uint8_t *)"\x81x\0", 3);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	/* a label claiming 63 bytes that are not there */
	n = hostile(b, (const uint8_t *)"\x3fxyz", 4);
	assert_int_equal(dns_query_parse(&q, b, n - 14), DNS_RCODE_FORMERR);
	/* name > 255 octets uncompressed */
	for (i = 0; i < 4 * 64; i += 64) {
		big[i] = 63;
		memset(big + i + 1, 'a', 63);
	}
	big[256] = 0;
	n = hostile(b, big, 257);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	assert_int_equal(dns_name_len(big, sizeof(big)), 0);
	/* name > 255 through backward pointers:
	 * RR1 owner = L63 L63 0 (129 octets),
	 * RR2 owner = L63 ptr->RR1 (193), RR3 owner = L63 ptr->RR2 (257) */
	n = mkhdr(b, 1, 0, "a.example.", DNS_T_A);
	{
		size_t r1 = n, r2;

		b[n++] = 63; memset(b + n, 'c', 63); n += 63;
		b[n++] = 63; memset(b + n, 'c', 63); n += 63;
		b[n++] = 0;
		memcpy(b + n, "\0\1\0\1\0\0\0\x3c\0\0", 10); n += 10;
		r2 = n;
		b[n++] = 63; memset(b + n, 'd', 63); n += 63;
		put16(b + n, (uint16_t)(0xc000 | r1)); n += 2;
		memcpy(b + n, "\0\1\0\1\0\0\0\x3c\0\0", 10); n += 10;
		put16(b + 6, 2);
		assert_int_equal(dns_query_parse(&q, b, n), 0);
		b[n++] = 63; memset(b + n, 'e', 63); n += 63;
		put16(b + n, (uint16_t)(0xc000 | r2)); n += 2;
		memcpy(b + n, "\0\1\0\1\0\0\0\x3c\0\0", 10); n += 10;
		put16(b + 6, 3);
		assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	}
}

static void
test_hostile_counts(void **st)
{
	uint8_t b[512];
	struct dns_query q;
	size_t n;

	(void)st;
	n = hostile(b, (const uint8_t *)"\xc0\x0c", 2);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	/* truncated RR: every shorter length fails */
	for (size_t k = n - 1; k > n - 16; k--)
		assert_int_equal(dns_query_parse(&q, b, k), DNS_RCODE_FORMERR);
	/* rdlength past the end */
	put16(b + n - 6, 5);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	put16(b + n - 6, 4);
	/* huge counts */
	put16(b + 6, 0xffff);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	put16(b + 6, 1);
	put16(b + 10, 0xffff);
	assert_int_equal(dns_query_parse(&q, b, n), DNS_RCODE_FORMERR);
	assert_int_equal(dns_reply_min_ttl(b, n), -1);
}

/* a query with the padding option */
static size_t
pad_query(uint8_t *b)
{
	size_t n = mkhdr(b, 3, DNS_RD, "a.example.", DNS_T_TXT);

	return addopt(b, n, 1232, 0, (const uint8_t *)"\0\x0c\0\0", 4);
}

static size_t
reply_with_txt(uint8_t *out, size_t cap, const struct dns_query *q,
    size_t rdlen, int count, const struct dns_reply_opts *o)
{
	struct dns_buf rb = { out, 0, cap, false };
	uint8_t rd[256];
	int i;

	memset(rd, 'x', sizeof(rd));
	rd[0] = (uint8_t)(rdlen - 1);
	dns_reply_start(&rb, q, 0, 0);
	for (i = 0; i < count; i++)
		dns_reply_add_rr(&rb, 1, q->qname, q->qname_len, DNS_T_TXT,
		    DNS_C_IN, 60, rd, rdlen);
	return dns_reply_finish(&rb, q, o);
}

static void
test_padding(void **st)
{
	uint8_t b[512], out[4096];
	struct dns_query q;
	struct dns_reply_opts o = padded;
	size_t n, len;
	int count;

	(void)st;
	n = pad_query(b);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_true(q.edns_padding);
	for (count = 0; count < 12; count++) {
		len = reply_with_txt(out, sizeof(out), &q, 100, count, &o);
		assert_true(len > 0);
		assert_int_equal(len % DNS_PAD_BLOCK, 0);
		assert_int_equal(dns_reply_min_ttl(out, len), count ? 60 : -1);
	}
	/* never beyond max_len: pad up to it */
	o.max_len = 600;
	len = reply_with_txt(out, sizeof(out), &q, 100, 4, &o);
	assert_int_equal(len, 600);
	assert_int_equal(get16(out + 2) & DNS_TC, 0);
	/* no padding without the option in the query, or without o->pad */
	n = mkhdr(b, 3, DNS_RD, "a.example.", DNS_T_TXT);
	n = addopt(b, n, 1232, 0, NULL, 0);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	len = reply_with_txt(out, sizeof(out), &q, 100, 1, &padded);
	assert_int_equal(len, q.question_end + 2 + 10 + 100 + 11);
	n = pad_query(b);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	len = reply_with_txt(out, sizeof(out), &q, 100, 1, &stream);
	assert_int_equal(len, q.question_end + 2 + 10 + 100 + 11);
	/* error replies are padded too */
	len = dns_reply_error(out, sizeof(out), &q, DNS_RCODE_SERVFAIL,
	    &padded);
	assert_int_equal(len, DNS_PAD_BLOCK);
}

static void
test_truncation(void **st)
{
	uint8_t b[512], out[4096];
	struct dns_query q;
	size_t n, len;

	(void)st;
	n = mkhdr(b, 3, DNS_RD, "a.example.", DNS_T_TXT);
	n = addopt(b, n, 1232, 0, NULL, 0);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	/* 5 x 112 bytes > 512 */
	len = reply_with_txt(out, sizeof(out), &q, 100, 5, &udp512);
	assert_int_equal(len, q.question_end + 11);
	assert_true(get16(out + 2) & DNS_TC);
	assert_int_equal(get16(out + 4), 1);
	assert_int_equal(get16(out + 6), 0);
	assert_int_equal(get16(out + 10), 1);
	assert_int_equal(get16(out + q.question_end + 1), DNS_T_OPT);
	/* 3 fit */
	len = reply_with_txt(out, sizeof(out), &q, 100, 3, &udp512);
	assert_int_equal(get16(out + 2) & DNS_TC, 0);
	assert_int_equal(get16(out + 6), 3);
	assert_true(len <= 512);
	/* out of buffer space while adding: TC as well */
	len = reply_with_txt(out, 300, &q, 100, 5, &stream);
	assert_int_equal(len, q.question_end + 11);
	assert_true(get16(out + 2) & DNS_TC);
	/* not even the question fits */
	assert_int_equal(reply_with_txt(out, 20, &q, 100, 1, &stream), 0);
}

/* upstream reply builder: answer section of A records or a negative
 * answer with an SOA (ttl, minimum) */
static size_t
upstream(uint8_t *out, size_t cap, int rcode, int nanswers,
    uint32_t ttl, bool soa, uint32_t soa_ttl, uint32_t soa_min, bool opt)
{
	uint8_t b[512], soard[64];
	struct dns_query q;
	struct dns_buf rb = { out, 0, cap, false };
	size_t n;
	int i;

	n = mkhdr(b, 0x4242, DNS_RD, "a.example.", DNS_T_A);
	if (opt)
		n = addopt(b, n, 1232, 0, NULL, 0);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	dns_reply_start(&rb, &q, rcode, DNS_AA | DNS_AD);
	for (i = 0; i < nanswers; i++) {
		uint8_t a[4] = { 192, 0, 2, (uint8_t)i };

		dns_reply_add_rr(&rb, 1, q.qname, q.qname_len, DNS_T_A,
		    DNS_C_IN, ttl + (uint32_t)i, a, 4);
	}
	if (soa) {
		memcpy(soard, "\2ns\7example\0\4host\7example\0"
		    "\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4", 26 + 16);
		soard[42] = (uint8_t)(soa_min >> 24);
		soard[43] = (uint8_t)(soa_min >> 16);
		soard[44] = (uint8_t)(soa_min >> 8);
		soard[45] = (uint8_t)soa_min;
		dns_reply_add_rr(&rb, 2, (const uint8_t *)"\7example", 9,
		    DNS_T_SOA, DNS_C_IN, soa_ttl, soard, 46);
	}
	dns_reply_add_rr(&rb, 3, (const uint8_t *)"\2ns\7example", 12,
	    DNS_T_A, DNS_C_IN, 5, (const uint8_t *)"\1\2\3\4", 4);
	assert_false(rb.overflow);
	return dns_reply_finish(&rb, &q, &stream);
}

static void
test_reply_echoes_ecs(void **st)
{
	uint8_t b[512], out[4096];
	struct dns_query q;
	struct dns_reply_opts o = stream;
	struct dns_ecs e;
	size_t n, len, opt;

	(void)st;
	/* 198.51.100.77/32 and padding */
	n = mkhdr(b, 5, DNS_RD, "a.example.", DNS_T_TXT);
	n = addopt(b, n, 1232, 0, (const uint8_t *)
	    "\0\x08\0\x08\0\1\x20\0\xc6\x33\x64\x4d\0\x0c\0\0", 16);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_true(q.ecs);
	/* not asked to: no ECS, as for every client before */
	len = reply_with_txt(out, sizeof(out), &q, 100, 1, &o);
	opt = q.question_end + 2 + 10 + 100;
	assert_int_equal(len, opt + 11);
	assert_int_equal(dns_reply_ecs(out, len, &e), 0);
	/* asked to: the client's option with the scope */
	o.ecs = true;
	o.ecs_scope = 24;
	len = reply_with_txt(out, sizeof(out), &q, 100, 1, &o);
	assert_int_equal(len, opt + 11 + 12);
	assert_int_equal(get16(out + opt + 9), 12);
	assert_int_equal(dns_reply_ecs(out, len, &e), 1);
	assert_int_equal(e.family, 1);
	assert_int_equal(e.source, 32);
	assert_int_equal(e.scope, 24);
	assert_memory_equal(e.addr, "\xc6\x33\x64\x4d", 4);
	assert_int_equal(dns_reply_min_ttl(out, len), 60);
	/* with padding: RDLENGTH covers both options */
	o.pad = true;
	len = reply_with_txt(out, sizeof(out), &q, 100, 1, &o);
	assert_int_equal(len % DNS_PAD_BLOCK, 0);
	assert_int_equal(get16(out + opt + 9), len - opt - 11);
	assert_int_equal(dns_reply_ecs(out, len, &e), 1);
	assert_int_equal(e.scope, 24);
	/* truncation counts the option: header, question, OPT with ECS */
	o.pad = false;
	o.max_len = opt + 11 + 11;
	len = reply_with_txt(out, sizeof(out), &q, 100, 1, &o);
	assert_int_equal(len, q.question_end + 11 + 12);
	assert_true(get16(out + 2) & DNS_TC);
	assert_int_equal(dns_reply_ecs(out, len, &e), 1);
	/* a query without ECS never gets one */
	n = pad_query(b);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	o.max_len = 65535;
	len = reply_with_txt(out, sizeof(out), &q, 100, 1, &o);
	assert_int_equal(dns_reply_ecs(out, len, &e), 0);
	/* error replies echo too */
	n = ecs_query(b, (const uint8_t *)"\0\x08\0\4\0\1\0\0", 8);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	o.ecs_scope = 0;
	len = dns_reply_error(out, sizeof(out), &q, DNS_RCODE_REFUSED, &o);
	assert_int_equal(dns_reply_ecs(out, len, &e), 1);
	assert_int_equal(e.source, 0);
}

static void
test_min_ttl(void **st)
{
	uint8_t out[1024];
	size_t n;

	(void)st;
	/* positive: min over answer (additional's 5 ignored) */
	n = upstream(out, sizeof(out), 0, 3, 100, false, 0, 0, true);
	assert_int_equal(dns_reply_min_ttl(out, n), 100);
	/* authority counts */
	n = upstream(out, sizeof(out), 0, 3, 100, true, 50, 10, true);
	assert_int_equal(dns_reply_min_ttl(out, n), 50);
	/* NXDOMAIN: min(SOA TTL, MINIMUM) */
	n = upstream(out, sizeof(out), 3, 0, 0, true, 300, 60, true);
	assert_int_equal(dns_reply_min_ttl(out, n), 60);
	n = upstream(out, sizeof(out), 3, 0, 0, true, 30, 600, false);
	assert_int_equal(dns_reply_min_ttl(out, n), 30);
	/* NODATA */
	n = upstream(out, sizeof(out), 0, 0, 0, true, 300, 120, true);
	assert_int_equal(dns_reply_min_ttl(out, n), 120);
	/* negative without SOA */
	n = upstream(out, sizeof(out), 3, 0, 0, false, 0, 0, true);
	assert_int_equal(dns_reply_min_ttl(out, n), -1);
	/* RFC 2181: a TTL with the top bit set is 0 */
	n = upstream(out, sizeof(out), 0, 1, 0x80000000u, false, 0, 0, false);
	assert_int_equal(dns_reply_min_ttl(out, n), 0);
	/* truncated message */
	n = upstream(out, sizeof(out), 0, 3, 100, false, 0, 0, true);
	assert_int_equal(dns_reply_min_ttl(out, n - 1), -1);
}

static void
test_reply_matches(void **st)
{
	uint8_t out[1024], qn[DNS_MAX_NAME];
	size_t n, qnl;

	(void)st;
	qnl = dns_name_from_text("A.EXAMPLE.", qn);
	n = upstream(out, sizeof(out), 0, 2, 100, false, 0, 0, true);
	assert_true(dns_reply_matches(out, n, 0x4242, qn, qnl, DNS_T_A,
	    DNS_C_IN));
	assert_false(dns_reply_matches(out, n, 0x4243, qn, qnl, DNS_T_A,
	    DNS_C_IN));
	assert_false(dns_reply_matches(out, n, 0x4242, qn, qnl, DNS_T_AAAA,
	    DNS_C_IN));
	assert_false(dns_reply_matches(out, n, 0x4242, qn, qnl, DNS_T_A,
	    DNS_C_CH));
	assert_false(dns_reply_matches(out, n, 0x4242,
	    (const uint8_t *)"\1b\7example", 11, DNS_T_A, DNS_C_IN));
	assert_false(dns_reply_matches(out, n - 1, 0x4242, qn, qnl, DNS_T_A,
	    DNS_C_IN));
	assert_false(dns_reply_matches(out, 11, 0x4242, qn, qnl, DNS_T_A,
	    DNS_C_IN));
	out[2] &= 0x7f;		/* QR cleared */
	assert_false(dns_reply_matches(out, n, 0x4242, qn, qnl, DNS_T_A,
	    DNS_C_IN));
}

static void
test_msg_cache(void **st)
{
	uint8_t up[1024], b[512], out[1024];
	struct dns_query q;
	struct dns_msg *m;
	const char *why;
	size_t n, len;

	(void)st;
	n = upstream(up, sizeof(up), 0, 2, 100, true, 3000, 10, true);
	m = dns_msg_new(up, n, 0, 86400, 3600, &why);
	assert_non_null(m);
	assert_null(why);
	assert_int_equal(m->len, n - 11);		/* OPT gone */
	assert_int_equal(get16(m->wire + 10), 1);	/* ARCOUNT */
	assert_int_equal(m->nttl, 4);
	assert_int_equal(m->ttl, 100);
	assert_false(m->negative);
	assert_int_equal(m->rcode, 0);
	assert_true(dns_msg_size(m) >= m->len);

	/* a client asks in its own case, with another id, no RD */
	n = mkhdr(b, 0x9999, DNS_CD, "A.eXample.", DNS_T_A);
	n = addopt(b, n, 4096, DNS_EDNS_DO, NULL, 0);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	len = dns_msg_reply(m, 30, &q, &stream, out, sizeof(out));
	assert_int_equal(len, m->len + 11);
	assert_int_equal(get16(out), 0x9999);
	assert_int_equal(get16(out + 2), DNS_QR | DNS_RA | DNS_CD | DNS_AD);
	assert_memory_equal(out + 12, b + 12, q.question_end - 12);
	assert_int_equal(dns_reply_min_ttl(out, len), 70);
	assert_int_equal(dns_msg_reply_ttl(m, 30, out, len), 70);
	assert_int_equal(get16(out + 10), 2);		/* ours OPT added */
	/* aging floors at 0 */
	len = dns_msg_reply(m, 5000, &q, &stream, out, sizeof(out));
	assert_int_equal(dns_reply_min_ttl(out, len), 0);
	assert_int_equal(dns_msg_reply_ttl(m, 5000, out, len), 0);
	/* AD not shown to a client without DO or AD */
	n = mkhdr(b, 0x9999, DNS_RD, "a.example.", DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	len = dns_msg_reply(m, 0, &q, &udp512, out, sizeof(out));
	assert_int_equal(get16(out + 2), DNS_QR | DNS_RA | DNS_RD);
	assert_int_equal(len, m->len);
	/* a question of another length is refused */
	n = mkhdr(b, 1, DNS_RD, "ab.example.", DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	assert_int_equal(dns_msg_reply(m, 0, &q, &udp512, out, sizeof(out)),
	    0);
	/* too big for the client: TC */
	n = mkhdr(b, 1, DNS_RD, "a.example.", DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	{
		struct dns_reply_opts tiny =
		    { .max_len = 60, .edns_udp = 1232, .pad = false };

		len = dns_msg_reply(m, 0, &q, &tiny, out, sizeof(out));
		assert_int_equal(len, q.question_end);
		assert_true(get16(out + 2) & DNS_TC);
		assert_int_equal(get16(out + 6), 0);
		assert_int_equal(dns_reply_min_ttl(out, len), -1);
		assert_int_equal(dns_msg_reply_ttl(m, 0, out, len), -1);
	}
	/* padded */
	n = pad_query(b);
	put16(b + 12 + 11, DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	len = dns_msg_reply(m, 0, &q, &padded, out, sizeof(out));
	assert_int_equal(len, DNS_PAD_BLOCK);
	dns_msg_free(m);

	/* clamps */
	n = upstream(up, sizeof(up), 0, 1, 100, false, 0, 0, true);
	m = dns_msg_new(up, n, 200, 86400, 3600, NULL);
	assert_non_null(m);
	assert_int_equal(m->ttl, 200);
	dns_msg_free(m);
	m = dns_msg_new(up, n, 0, 50, 3600, NULL);
	assert_non_null(m);
	assert_int_equal(m->ttl, 50);
	n = mkhdr(b, 1, DNS_RD, "a.example.", DNS_T_A);
	assert_int_equal(dns_query_parse(&q, b, n), 0);
	len = dns_msg_reply(m, 0, &q, &stream, out, sizeof(out));
	assert_int_equal(dns_reply_min_ttl(out, len), 50);
	/* the additional A (TTL 5) is below the clamp and kept as is */
	assert_int_equal(get32(out + len - 4 - 6), 5);
	dns_msg_free(m);
}

static void
test_msg_negative(void **st)
{
	uint8_t up[1024];
	struct dns_msg *m;
	const char *why;
	size_t n;

	(void)st;
	n = upstream(up, sizeof(up), 3, 0, 0, true, 7200, 900, true);
	m = dns_msg_new(up, n, 0, 86400, 3600, &why);
	assert_non_null(m);
	assert_true(m->negative);
	assert_int_equal(m->rcode, 3);
	assert_int_equal(m->ttl, 900);
	/* the reply's smallest TTL: the SOA's, lowered to MINIMUM, aged */
	{
		static const uint32_t el[] = { 0, 100, 899, 900, 5000 };
		struct dns_query q;
		uint8_t b[512], out[1024];
		size_t i, qn, len;

		qn = mkhdr(b, 1, DNS_RD, "a.example.", DNS_T_A);
		assert_int_equal(dns_query_parse(&q, b, qn), 0);
		for (i = 0; i < sizeof(el) / sizeof(el[0]); i++) {
			len = dns_msg_reply(m, el[i], &q, &stream, out,
			    sizeof(out));
			assert_int_equal(dns_msg_reply_ttl(m, el[i], out, len),
			    el[i] < 900 ? 900 - el[i] : 0);
			assert_int_equal(dns_msg_reply_ttl(m, el[i], out, len),
			    dns_reply_min_ttl(out, len));
		}
	}
	dns_msg_free(m);
	m = dns_msg_new(up, n, 0, 86400, 300, &why);
	assert_non_null(m);
	assert_int_equal(m->ttl, 300);
	dns_msg_free(m);
	/* NODATA */
	n = upstream(up, sizeof(up), 0, 0, 0, true, 100, 900, false);
	m = dns_msg_new(up, n, 0, 86400, 3600, &why);
	assert_non_null(m);
	assert_true(m->negative);
	assert_int_equal(m->ttl, 100);
	dns_msg_free(m);
	/* refusals */
	n = upstream(up, sizeof(up), 3, 0, 0, false, 0, 0, true);
	assert_null(dns_msg_new(up, n, 0, 86400, 3600, &why));
	assert_string_equal(why, "negative answer without SOA");
	n = upstream(up, sizeof(up), 2, 0, 0, false, 0, 0, true);
	assert_null(dns_msg_new(up, n, 0, 86400, 3600, &why));
	assert_non_null(why);
	n = upstream(up, sizeof(up), 5, 1, 10, false, 0, 0, true);
	assert_null(dns_msg_new(up, n, 0, 86400, 3600, &why));
	n = upstream(up, sizeof(up), 0, 1, 10, false, 0, 0, true);
	up[2] |= DNS_TC >> 8;
	assert_null(dns_msg_new(up, n, 0, 86400, 3600, &why));
	up[2] &= (uint8_t)~(DNS_TC >> 8);
	assert_null(dns_msg_new(up, n - 1, 0, 86400, 3600, &why));
	assert_null(dns_msg_new(up, 5, 0, 86400, 3600, NULL));
	m = dns_msg_new(up, n, 0, 86400, 3600, NULL);
	assert_non_null(m);
	dns_msg_free(m);
}

static void
test_msg_strip_tsig(void **st)
{
	uint8_t up[1024];
	struct dns_msg *m;
	size_t n, k;

	(void)st;
	n = upstream(up, sizeof(up), 0, 1, 10, false, 0, 0, false);
	/* append a TSIG-typed RR and an A after it */
	k = n;
	memcpy(up + n, "\0\0\xfa\0\xff\0\0\0\0\0\0", 11);
	n += 11;
	memcpy(up + n, "\xc0\x0c\0\1\0\1\0\0\0\1\0\4\1\1\1\1", 16);
	n += 16;
	put16(up + 10, (uint16_t)(get16(up + 10) + 2));
	m = dns_msg_new(up, n, 0, 86400, 3600, NULL);
	assert_non_null(m);
	assert_int_equal(m->len, k);
	assert_int_equal(get16(m->wire + 10), 1);
	dns_msg_free(m);
}

static void
test_msg_pointer_into_ttl(void **st)
{
	uint8_t up[1024];
	struct dns_msg *m;
	const char *why;
	size_t n, qend = 12 + 11 + 4;

	(void)st;
	/* answer TTL 0: its last byte reads as the root name */
	n = upstream(up, sizeof(up), 0, 1, 0, false, 0, 0, false);
	assert_int_equal(get16(up + qend), 0xc00c);
	put16(up + n, (uint16_t)(0xc000 | (qend + 2 + 4 + 3)));
	memcpy(up + n + 2, "\0\1\0\1\0\0\0\1\0\4\1\1\1\1", 14);
	n += 16;
	put16(up + 10, 2);
	assert_int_equal(dns_reply_min_ttl(up, n), 0);	/* it parses */
	m = dns_msg_new(up, n, 0, 86400, 3600, &why);
	assert_null(m);
	assert_string_equal(why, "a name points into a TTL");
	/* at the type's first byte (0: the root) it is odd but stable */
	put16(up + n - 16, (uint16_t)(0xc000 | (qend + 2)));
	m = dns_msg_new(up, n, 0, 86400, 3600, &why);
	assert_non_null(m);
	dns_msg_free(m);
}

static void
test_names(void **st)
{
	uint8_t w[DNS_MAX_NAME], z[DNS_MAX_NAME];
	char t[1100], lab[300];
	size_t n, zl;

	(void)st;
	assert_int_equal(dns_name_from_text(".", w), 1);
	assert_int_equal(w[0], 0);
	n = dns_name_from_text("Example.COM", w);
	assert_int_equal(n, 13);
	assert_memory_equal(w, "\7example\3com", 13);
	assert_int_equal(dns_name_from_text("example.com.", w), 13);
	assert_int_equal(dns_name_from_text("", w), 0);
	assert_int_equal(dns_name_from_text("a..b", w), 0);
	assert_int_equal(dns_name_from_text("..", w), 0);
	assert_int_equal(dns_name_from_text(".a", w), 0);
	assert_int_equal(dns_name_from_text("a\\", w), 0);
	assert_int_equal(dns_name_from_text("a\\25", w), 0);
	assert_int_equal(dns_name_from_text("a\\256", w), 0);
	n = dns_name_from_text("a\\.b\\032c\\\\.d", w);
	assert_int_equal(n, 1 + 6 + 1 + 1 + 1);
	assert_memory_equal(w, "\6a.b c\\\1d", 10);
	assert_int_equal(dns_name_to_text(w, n, t, sizeof(t)), 0);
	assert_string_equal(t, "a\\.b\\032c\\\\.d.");
	/* 63 ok, 64 too long */
	memset(lab, 'a', 64);
	lab[63] = '\0';
	assert_int_equal(dns_name_from_text(lab, w), 65);
	lab[63] = 'a';
	lab[64] = '\0';
	assert_int_equal(dns_name_from_text(lab, w), 0);
	/* 255 ok (4 labels: 63+63+63+61 + 5), 256 not */
	memset(t, 'a', sizeof(t));
	t[63] = t[127] = t[191] = '.';
	t[253] = '\0';
	assert_int_equal(dns_name_from_text(t, w), 255);
	t[253] = 'a';
	t[254] = '\0';
	assert_int_equal(dns_name_from_text(t, w), 0);
	assert_int_equal(dns_name_to_text(w, 0, t, sizeof(t)), -1);
	n = dns_name_from_text("a.b", w);
	assert_int_equal(dns_name_to_text(w, n, t, 4), -1);
	assert_int_equal(dns_name_to_text(w, n, t, 5), 0);
	assert_string_equal(t, "a.b.");
	assert_int_equal(dns_name_to_text((const uint8_t *)"", 1, t, 2), 0);
	assert_string_equal(t, ".");
	/* subdomain */
	n = dns_name_from_text("www.example.com", w);
	zl = dns_name_from_text("example.com", z);
	assert_true(dns_name_subdomain(w, n, z, zl));
	assert_true(dns_name_subdomain(z, zl, z, zl));
	assert_false(dns_name_subdomain(z, zl, w, n));
	assert_true(dns_name_subdomain(w, n, (const uint8_t *)"", 1));
	zl = dns_name_from_text("ample.com", z);
	assert_false(dns_name_subdomain(w, n, z, zl));
	/* dns_name_len */
	assert_int_equal(dns_name_len((const uint8_t *)"\1a\0", 3), 3);
	assert_int_equal(dns_name_len((const uint8_t *)"\1a\0", 2), 0);
	assert_int_equal(dns_name_len((const uint8_t *)"\xc0\x0c", 2), 0);
	dns_name_lower(w, (const uint8_t *)"\3AbC\0", 5);
	assert_memory_equal(w, "\3abc\0", 5);
	/* every byte value at every length and offset of the word-wise
	 * path: only 'A'..'Z' change, by 0x20 (not 0xc1..0xda) */
	{
		uint8_t src[64], dst[64], in[64];
		size_t len, off, i;
		unsigned v;

		for (v = 0; v < 256; v++)
			for (len = 1; len <= 24; len++)
				for (off = 0; off < len; off++) {
					for (i = 0; i < len; i++)
						src[i] = (uint8_t)('A' + i);
					src[off] = (uint8_t)v;
					memset(dst, 0xee, sizeof(dst));
					dns_name_lower(dst, src, len);
					for (i = 0; i < len; i++) {
						uint8_t c = src[i];
						uint8_t e = (c >= 'A' && c <= 'Z') ?
						    (uint8_t)(c + 32) : c;

						assert_int_equal(dst[i], e);
					}
					assert_int_equal(dst[len], 0xee);
					memcpy(in, src, len);
					dns_name_lower(in, in, len); /* in place */
					assert_memory_equal(in, dst, len);
				}
	}
}

static void
test_tables(void **st)
{
	char buf[16];

	(void)st;
	assert_int_equal(dns_type_from_text("A"), 1);
	assert_int_equal(dns_type_from_text("aaaa"), 28);
	assert_int_equal(dns_type_from_text("HTTPS"), 65);
	assert_int_equal(dns_type_from_text("CAA"), 257);
	assert_int_equal(dns_type_from_text("TYPE65534"), 65534);
	assert_int_equal(dns_type_from_text("type1"), 1);
	assert_int_equal(dns_type_from_text("TYPE65536"), -1);
	assert_int_equal(dns_type_from_text("TYPE"), -1);
	assert_int_equal(dns_type_from_text("TYPE1x"), -1);
	assert_int_equal(dns_type_from_text("BOGUS"), -1);
	{
		static const int all[] = { DNS_T_A, DNS_T_NS, DNS_T_CNAME,
		    DNS_T_SOA, DNS_T_PTR, DNS_T_MX, DNS_T_TXT, DNS_T_AAAA,
		    DNS_T_SRV, DNS_T_DS, DNS_T_RRSIG, DNS_T_NSEC,
		    DNS_T_DNSKEY, DNS_T_NSEC3, DNS_T_SVCB, DNS_T_HTTPS,
		    DNS_T_OPT, DNS_T_AXFR, DNS_T_IXFR, DNS_T_ANY, DNS_T_CAA };
		size_t i;

		for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			const char *s = dns_type_to_text((uint16_t)all[i],
			    buf);

			assert_true(strncmp(s, "TYPE", 4) != 0);
			assert_int_equal(dns_type_from_text(s), all[i]);
		}
	}
	assert_string_equal(dns_type_to_text(65534, buf), "TYPE65534");
	assert_string_equal(dns_type_to_text(1, buf), "A");
	assert_int_equal(dns_class_from_text("IN"), 1);
	assert_int_equal(dns_class_from_text("ch"), 3);
	assert_int_equal(dns_class_from_text("CLASS7"), 7);
	assert_int_equal(dns_class_from_text("XX"), -1);
	assert_string_equal(dns_rcode_to_text(0), "NOERROR");
	assert_string_equal(dns_rcode_to_text(4), "NOTIMPL");
	assert_string_equal(dns_rcode_to_text(10), "NOTZONE");
	assert_string_equal(dns_rcode_to_text(16), "BADVERS");
	assert_null(dns_rcode_to_text(11));
	assert_null(dns_rcode_to_text(-1));
}


/* A name in rdata that points forward into the OPT record (left out of
 * the cached copy) or into a TTL is refused; one pointing back is kept. */
static void
test_msg_rdata_pointer_checked(void **st)
{
	uint8_t p[128];
	size_t n = 0, cname_rd, opt_off;
	struct dns_msg *m;
	const char *why = NULL;
	static const uint8_t q[] = { 1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l',
	    'e', 0, 0, 1, 0, 1 };

	(void)st;
	memset(p, 0, sizeof(p));
	p[0] = 0x12; p[1] = 0x34; p[2] = 0x81; p[3] = 0x80;	/* QR RD RA */
	p[5] = 1; p[7] = 1; p[11] = 1;		/* QD 1, AN 1, AR 1 */
	n = 12;
	memcpy(p + n, q, sizeof(q));
	n += sizeof(q);
	/* answer: a.example. CNAME <pointer> */
	p[n++] = 0xc0; p[n++] = 12;
	p[n++] = 0; p[n++] = 5; p[n++] = 0; p[n++] = 1;
	p[n++] = 0; p[n++] = 0; p[n++] = 0x0e; p[n++] = 0x10;	/* 3600 */
	p[n++] = 0; p[n++] = 2;
	cname_rd = n;
	n += 2;
	/* OPT */
	opt_off = n;
	p[n++] = 0; p[n++] = 0; p[n++] = 41; p[n++] = 0x10; p[n++] = 0;
	n += 4;
	p[n++] = 0; p[n++] = 0;

	p[cname_rd] = 0xc0;			/* into the OPT: refused */
	p[cname_rd + 1] = (uint8_t)opt_off;
	assert_null(dns_msg_new(p, n, 0, 86400, 3600, &why));
	p[cname_rd + 1] = (uint8_t)(cname_rd - 4);	/* into the TTL */
	assert_null(dns_msg_new(p, n, 0, 86400, 3600, &why));
	p[cname_rd + 1] = 12 + 2;		/* back, to "example." */
	why = NULL;
	m = dns_msg_new(p, n, 0, 86400, 3600, &why);
	assert_non_null(m);
	assert_int_equal(m->len, opt_off);
	dns_msg_free(m);
}

int
main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_msg_rdata_pointer_checked),
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_parse_case_and_reply_case),
		cmocka_unit_test(test_parse_short),
		cmocka_unit_test(test_parse_formerr),
		cmocka_unit_test(test_parse_answer_rrs_allowed),
		cmocka_unit_test(test_parse_notimpl),
		cmocka_unit_test(test_parse_edns),
		cmocka_unit_test(test_parse_badvers),
		cmocka_unit_test(test_parse_ecs),
		cmocka_unit_test(test_ecs_option),
		cmocka_unit_test(test_ecs_from_addr),
		cmocka_unit_test(test_reply_ecs),
		cmocka_unit_test(test_reply_echoes_ecs),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_hostile_counts),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_min_ttl),
		cmocka_unit_test(test_reply_matches),
		cmocka_unit_test(test_msg_cache),
		cmocka_unit_test(test_msg_negative),
		cmocka_unit_test(test_msg_strip_tsig),
		cmocka_unit_test(test_msg_pointer_into_ttl),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(t, NULL, NULL);
}
