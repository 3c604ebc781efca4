/*
 * testdata/fuzz/fuzz_dns.c - libFuzzer target for dns/: the input is a
 * client query and, at the same time, an upstream reply, an RR in text
 * and a base64url string.  It drives dns_query_parse, dns_reply_error,
 * the reply builder, dns_reply_min_ttl, dns_reply_matches, dns_msg_new,
 * dns_msg_reply, dns_rr_to_text, dns_rr_from_text and base64url, and
 * checks invariants (what we write parses again and stays within the
 * client's size; base64url round trips) with __builtin_trap.
 *
 * Build (from the top of a configured tree, config.h in BUILDDIR):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -IBUILDDIR \
 *     testdata/fuzz/fuzz_dns.c dns/wire.c dns/msg.c dns/rrtext.c \
 *     dns/base64url.c -o fuzz_dns
 *   ./fuzz_dns -max_total_time=60 -max_len=4096 testdata/fuzz/corpus/dns
 * Without clang's fuzzer, -DFUZZ_STANDALONE adds a main() that runs the
 * files named on the command line once each (a corpus regression run):
 *   cc -DFUZZ_STANDALONE -I. -IBUILDDIR testdata/fuzz/fuzz_dns.c dns/... 
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/base64url.h"
#include "dns/rrtext.h"
#include "dns/wire.h"
#include "dns/wire_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[65535 + 512];
static char text[70000];
static struct dns_rr rr;

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)

/* a reply we wrote must parse and respect the size limit */
static void
check_reply(const uint8_t *p, size_t len, const struct dns_reply_opts *o)
{
	struct dns_scan s;
	struct dns_ecs e;

	if (len == 0)
		return;
	CHECK(len <= o->max_len && len <= sizeof(out));
	CHECK(dns_pkt_scan(p, len, &s) == 0);
	CHECK(s.end == len);
	CHECK(dns_rd16(p + 2) & DNS_QR);
	/* an echoed client subnet option is well formed */
	CHECK(dns_reply_ecs(p, len, &e) >= 0);
}

static void
fuzz_replies(const uint8_t *data, size_t size, struct dns_query *q, int rc)
{
	struct dns_reply_opts o;
	struct dns_buf b;
	size_t len;

	o.edns_udp = 1232;
	o.max_len = size > 0 ? 512 + data[0] * 4 : 512;
	o.pad = size > 1 && (data[1] & 1);
	o.ecs = size > 1 && (data[1] & 2);
	o.ecs_scope = size > 2 ? data[2] & 0x7f : 0;
	len = dns_reply_error(out, sizeof(out), q, rc > 0 ? rc :
	    DNS_RCODE_SERVFAIL, &o);
	check_reply(out, len, &o);
	if (rc != 0)
		return;
	/* an answer of 0..15 copies of a TXT made from the input */
	b.p = out;
	b.len = 0;
	b.cap = sizeof(out);
	b.overflow = false;
	dns_reply_start(&b, q, 0, DNS_AA);
	{
		size_t i, n = size > 2 ? data[2] & 15 : 1;

		for (i = 0; i < n; i++)
			dns_reply_add_rr(&b, 1 + (int)(i % 3), q->qname,
			    q->qname_len, DNS_T_TXT, DNS_C_IN, 60, data,
			    size > 255 ? 255 : size);
	}
	len = dns_reply_finish(&b, q, &o);
	check_reply(out, len, &o);
	/* padded to the block unless the size limit stopped it */
	if (len > 0 && o.pad && q->edns_padding)
		CHECK(len % DNS_PAD_BLOCK == 0 || len + 4 > o.max_len);
}

static void
fuzz_msg(const uint8_t *data, size_t size)
{
	struct dns_msg *m;
	struct dns_query q;
	struct dns_reply_opts o =
	    { .max_len = 1232, .edns_udp = 1232, .pad = true };
	const char *why;
	uint8_t qbuf[512];
	size_t ql, len;

	m = dns_msg_new(data, size, 0, 86400, 3600, &why);
	if (m == NULL) {
		CHECK(why != NULL);
		return;
	}
	CHECK(m->len <= size && m->qend <= m->len);
	CHECK(dns_msg_size(m) >= m->len);
	/* a client asks the cached question, with padding and DO */
	ql = dns_query_build(qbuf, sizeof(qbuf), 7, m->wire + 12,
	    m->qend - 16, dns_rd16(m->wire + m->qend - 4),
	    dns_rd16(m->wire + m->qend - 2), false, true, 4096);
	CHECK(ql > 0);
	/* add the padding option to the OPT we just built */
	memcpy(qbuf + ql, "\0\x0c\0\0", 4);
	dns_wr16(qbuf + ql - 2, 4);
	ql += 4;
	CHECK(dns_query_parse(&q, qbuf, ql) == 0);
	{
		uint32_t el = size > 0 ? data[0] : 0;

		len = dns_msg_reply(m, el, &q, &o, out, sizeof(out));
		CHECK(len > 0);
		check_reply(out, len, &o);
		CHECK(dns_reply_min_ttl(out, len) != -1 || m->negative ||
		    (dns_rd16(out + 2) & DNS_TC));
		/* the max-age of a hit, told without parsing the reply */
		CHECK(dns_msg_reply_ttl(m, el, out, len) ==
		    dns_reply_min_ttl(out, len));
		o.max_len = 512;
		o.pad = false;
		len = dns_msg_reply(m, 0, &q, &o, out, sizeof(out));
		check_reply(out, len, &o);
		CHECK(dns_msg_reply_ttl(m, 0, out, len) ==
		    dns_reply_min_ttl(out, len));
	}
	dns_msg_free(m);
}

static void
fuzz_rrtext(const uint8_t *data, size_t size)
{
	size_t qend, off, next;
	unsigned i, total;

	if (dns_pkt_question(data, size, &qend) != 0)
		return;
	total = (unsigned)dns_rd16(data + 6) + dns_rd16(data + 8) +
	    dns_rd16(data + 10);
	off = qend;
	for (i = 0; i < total && i < 200; i++) {
		if (dns_rr_to_text(data, size, off, &next, text,
		    sizeof(text)) != 0)
			break;
		CHECK(next > off && next <= size);
		CHECK(strlen(text) < sizeof(text));
		off = next;
	}
	/* a small buffer must fail cleanly, never overflow */
	(void)dns_rr_to_text(data, size, qend, &next, text, 24);
}

static void
fuzz_text(const uint8_t *data, size_t size)
{
	const char *why;
	size_t n = size < 4096 ? size : 4096;
	long d, e;
	uint8_t dec[4096];
	char enc[5500];

	memcpy(text, data, n);
	text[n] = '\0';
	if (dns_rr_from_text(text, 300, &rr, &why) == 0) {
		/* what we parsed prints */
		size_t w = 12, next;

		memset(out, 0, 12);
		out[7] = 1;
		memcpy(out + w, rr.owner, rr.owner_len);
		w += rr.owner_len;
		dns_wr16(out + w, rr.type);
		dns_wr16(out + w + 2, rr.rclass);
		dns_wr32(out + w + 4, rr.ttl);
		dns_wr16(out + w + 8, rr.rdlen);
		memcpy(out + w + 10, rr.rdata, rr.rdlen);
		w += 10 + rr.rdlen;
		CHECK(dns_rr_to_text(out, w, 12, &next, text,
		    sizeof(text)) == 0);
		CHECK(next == w);
	} else {
		CHECK(why != NULL);
	}
	d = base64url_decode((const char *)data, n, dec, sizeof(dec));
	if (d >= 0) {
		uint8_t again[4096];

		e = base64url_encode(dec, (size_t)d, enc, sizeof(enc));
		CHECK(e >= 0);
		CHECK(base64url_decode(enc, (size_t)e, again,
		    sizeof(again)) == d);
		CHECK(memcmp(again, dec, (size_t)d) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query q;
	struct dns_ecs e;
	int rc;

	rc = dns_query_parse(&q, data, size);
	CHECK(rc == -1 || rc == 0 || rc == DNS_RCODE_FORMERR ||
	    rc == DNS_RCODE_NOTIMPL || rc == DNS_RCODE_BADVERS);
	if (rc >= 0)
		fuzz_replies(data, size, &q, rc);
	if (rc == 0)
		CHECK(q.qname_len > 0 && q.question_end <= size);
	(void)dns_reply_min_ttl(data, size);
	rc = dns_reply_ecs(data, size, &e);
	CHECK(rc != 1 || (dns_ecs_family_bits(e.family) >= e.source &&
	    dns_ecs_family_bits(e.family) >= e.scope));
	if (size >= 12 && dns_pkt_question(data, size, &(size_t){0}) == 0 &&
	    dns_rd16(data + 4) == 1) {
		size_t nl = dns_name_len(data + 12, size - 12);

		if (nl > 0 && 12 + nl + 4 <= size)
			(void)dns_reply_matches(data, size, dns_rd16(data),
			    data + 12, nl, dns_rd16(data + 12 + nl),
			    dns_rd16(data + 14 + nl));
	}
	fuzz_msg(data, size);
	fuzz_rrtext(data, size);
	fuzz_text(data, size);
	return 0;
}

#define FUZZ_INPUT_MAX (1 << 20)
#include "testdata/fuzz/standalone.h"
