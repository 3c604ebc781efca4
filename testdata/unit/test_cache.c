/*
 * testdata/unit/test_cache.c - the sharded message cache: hits, misses,
 * TTL ageing and expiry on a test clock, negative answers, LRU eviction
 * under the byte bound, flush by name/type/subtree, DO/CD keys, client
 * subnet keys and their scope counts, and two threads using one cache.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dns/wire.h"
#include "resolver/cache.h"

static uint64_t test_now = 1000;

static uint64_t
test_clock(void *arg)
{
	(void)arg;
	return test_now;
}

struct tq {
	uint8_t pkt[512];
	size_t len;
	struct dns_query q;
	struct cache_key k;
};

static void
make_query(struct tq *t, const char *name, uint16_t type, bool dnssec_ok,
    bool cd)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t wl = dns_name_from_text(name, wire);

	assert_true(wl > 0);
	t->len = dns_query_build(t->pkt, sizeof(t->pkt), 0x1234, wire, wl,
	    type, DNS_C_IN, cd, dnssec_ok, 1232);
	assert_true(t->len > 0);
	assert_int_equal(dns_query_parse(&t->q, t->pkt, t->len), 0);
	cache_key_from_query(&t->k, &t->q);
}

static const struct dns_reply_opts opts =
    { .max_len = 65535, .edns_udp = 1232, .pad = false };

/* An upstream reply to t: A records with 'ttl', or NXDOMAIN with SOA. */
static struct dns_msg *
make_msg(const struct tq *t, uint32_t ttl, int rcode)
{
	uint8_t buf[1024];
	struct dns_buf b = { buf, 0, sizeof(buf), false };
	static const uint8_t a[4] = { 192, 0, 2, 1 };
	uint8_t soa[64], *p = soa;
	size_t n;

	dns_reply_start(&b, &t->q, rcode, 0);
	if (rcode == DNS_RCODE_NOERROR && ttl > 0) {
		dns_reply_add_rr(&b, 1, t->q.qname, t->q.qname_len, DNS_T_A,
		    DNS_C_IN, ttl, a, 4);
	} else {
		static const uint8_t ns[] = { 2, 'n', 's', 0 };
		uint32_t v[5] = { 1, 3600, 600, 86400, 60 };
		int i;

		memcpy(p, ns, sizeof(ns));
		p += sizeof(ns);
		memcpy(p, ns, sizeof(ns));
		p += sizeof(ns);
		for (i = 0; i < 5; i++) {
			*p++ = (uint8_t)(v[i] >> 24);
			*p++ = (uint8_t)(v[i] >> 16);
			*p++ = (uint8_t)(v[i] >> 8);
			*p++ = (uint8_t)v[i];
		}
		dns_reply_add_rr(&b, 2, t->q.qname, t->q.qname_len, DNS_T_SOA,
		    DNS_C_IN, ttl, soa, (size_t)(p - soa));
	}
	n = dns_reply_finish(&b, &t->q, &opts);
	assert_true(n > 0);
	return dns_msg_new(buf, n, 0, 86400, 3600, NULL);
}

/* TTL of the first answer RR of a reply to an A query with one RR. */
static uint32_t
first_ttl(const uint8_t *p, size_t len, const struct tq *t)
{
	size_t off = t->q.question_end;

	assert_true(len > off + 12);
	/* owner is a 2-byte pointer to the question */
	assert_int_equal(p[off] & 0xc0, 0xc0);
	off += 2 + 4;
	return ((uint32_t)p[off] << 24) | ((uint32_t)p[off + 1] << 16) |
	    ((uint32_t)p[off + 2] << 8) | p[off + 3];
}

/* prefetch: said once an entry, on the first hit in the last tenth of
 * its TTL; never for a TTL under 10 s; a new entry starts afresh. */
static void
test_prefetch_due(void **state)
{
	struct msg_cache *c = msg_cache_new(1 << 20);
	struct tq t, s;
	uint8_t out[1024];
	bool pf;

	(void)state;
	test_now = 1000;
	msg_cache_set_clock(c, test_clock, NULL);
	make_query(&t, "pf.example.com.", DNS_T_A, false, false);
	make_query(&s, "short.example.com.", DNS_T_A, false, false);
	assert_true(msg_cache_insert(c, &t.k, make_msg(&t, 100,
	    DNS_RCODE_NOERROR)));
	assert_true(msg_cache_insert(c, &s.k, make_msg(&s, 9,
	    DNS_RCODE_NOERROR)));
	test_now += 89;
	pf = false;
	assert_true(msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out),
	    NULL, &pf) > 0);
	assert_false(pf);
	test_now += 1;			/* 90 of 100 s */
	assert_true(msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out),
	    NULL, NULL) > 0);		/* not asked: not used up */
	assert_true(msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out),
	    NULL, &pf) > 0);
	assert_true(pf);
	pf = false;
	assert_true(msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out),
	    NULL, &pf) > 0);
	assert_false(pf);		/* once */
	/* the refreshed answer replaces the entry: due again at its 90% */
	assert_true(msg_cache_insert(c, &t.k, make_msg(&t, 100,
	    DNS_RCODE_NOERROR)));
	test_now += 90;
	assert_true(msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out),
	    NULL, &pf) > 0);
	assert_true(pf);
	/* TTL 9: the last tenth is under a second, never said */
	test_now = 1008;
	pf = false;
	assert_true(msg_cache_reply(c, &s.k, &s.q, &opts, out, sizeof(out),
	    NULL, &pf) > 0);
	assert_false(pf);
	msg_cache_free(c);
}

static void
test_hit_miss_and_ageing(void **state)
{
	struct msg_cache *c = msg_cache_new(1 << 20);
	struct tq t, other;
	uint8_t out[1024];
	int64_t mt;
	size_t n;

	(void)state;
	test_now = 1000;
	msg_cache_set_clock(c, test_clock, NULL);
	make_query(&t, "www.Example.com.", DNS_T_A, false, false);
	make_query(&other, "www.example.org.", DNS_T_A, false, false);
	assert_int_equal(msg_cache_reply(c, &t.k, &t.q, &opts, out,
	    sizeof(out), NULL, NULL), 0);
	assert_true(msg_cache_insert(c, &t.k, make_msg(&t, 300,
	    DNS_RCODE_NOERROR)));
	assert_int_equal(msg_cache_count(c), 1);
	assert_true(msg_cache_mem(c) > 0);

	n = msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out), NULL, NULL);
	assert_true(n > 0);
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[1], 0x34);
	assert_int_equal(first_ttl(out, n, &t), 300);
	assert_int_equal(msg_cache_reply(c, &other.k, &other.q, &opts, out,
	    sizeof(out), NULL, NULL), 0);

	test_now += 100;
	n = msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out), &mt, NULL);
	assert_int_equal(first_ttl(out, n, &t), 200);
	/* the reply's smallest TTL, aged, told without parsing it */
	assert_int_equal(mt, 200);
	assert_int_equal(mt, dns_reply_min_ttl(out, n));

	/* expired: a miss, and the entry is gone */
	test_now += 200;
	assert_int_equal(msg_cache_reply(c, &t.k, &t.q, &opts, out,
	    sizeof(out), NULL, NULL), 0);
	assert_int_equal(msg_cache_count(c), 0);
	msg_cache_free(c);
}

static void
test_negative(void **state)
{
	struct msg_cache *c = msg_cache_new(1 << 20);
	struct tq t;
	uint8_t out[1024];
	size_t n;
	struct dns_msg *m;

	(void)state;
	test_now = 5000;
	msg_cache_set_clock(c, test_clock, NULL);
	make_query(&t, "nx.example.com.", DNS_T_A, false, false);
	m = make_msg(&t, 3600, DNS_RCODE_NXDOMAIN);
	assert_non_null(m);
	assert_true(m->negative);
	/* RFC 2308: min(SOA TTL, SOA MINIMUM) = 60 */
	assert_int_equal(m->ttl, 60);
	assert_true(msg_cache_insert(c, &t.k, m));
	n = msg_cache_reply(c, &t.k, &t.q, &opts, out, sizeof(out), NULL, NULL);
	assert_true(n > 0);
	assert_int_equal(out[3] & 0xf, DNS_RCODE_NXDOMAIN);
	test_now += 59;
	assert_true(msg_cache_has(c, &t.k));
	test_now += 1;
	assert_false(msg_cache_has(c, &t.k));
	msg_cache_free(c);
}

static void
test_ttl_zero_not_stored(void **state)
{
	struct msg_cache *c = msg_cache_new(1 << 20);
	struct tq t;

	(void)state;
	make_query(&t, "zero.example.", DNS_T_A, false, false);
	assert_false(msg_cache_insert(c, &t.k, make_msg(&t, 0,
	    DNS_RCODE_NOERROR)));
	assert_int_equal(msg_cache_count(c), 0);
	msg_cache_free(c);
}

static void
test_lru_eviction(void **state)
{
	/* room for a few entries per shard */
	size_t limit = CACHE_SHARDS * 1500;
	struct msg_cache *c = msg_cache_new(limit);
	struct tq keep, t;
	uint8_t out[1024];
	char name[64];
	int i;

	(void)state;
	test_now = 100;
	msg_cache_set_clock(c, test_clock, NULL);
	make_query(&keep, "keep.example.", DNS_T_A, false, false);
	assert_true(msg_cache_insert(c, &keep.k, make_msg(&keep, 3600,
	    DNS_RCODE_NOERROR)));
	for (i = 0; i < 400; i++) {
		snprintf(name, sizeof(name), "n%d.example.", i);
		make_query(&t, name, DNS_T_A, false, false);
		msg_cache_insert(c, &t.k, make_msg(&t, 3600,
		    DNS_RCODE_NOERROR));
		/* used between every insert: the LRU must keep it */
		assert_true(msg_cache_reply(c, &keep.k, &keep.q, &opts, out,
		    sizeof(out), NULL, NULL) > 0);
		assert_true(msg_cache_mem(c) <= limit);
	}
	assert_true(msg_cache_count(c) < 400);
	assert_true(msg_cache_has(c, &keep.k));
	/* the first ones went first */
	make_query(&t, "n0.example.", DNS_T_A, false, false);
	assert_false(msg_cache_has(c, &t.k));
	make_query(&t, "n399.example.", DNS_T_A, false, false);
	assert_true(msg_cache_has(c, &t.k));
	msg_cache_free(c);
}

static void
test_flush(void **state)
{
	struct msg_cache *c = msg_cache_new(1 << 20);
	const char *names[] = { "example.com.", "www.example.com.",
	    "a.b.example.com.", "example.org.", "notexample.com." };
	uint16_t types[] = { DNS_T_A, DNS_T_AAAA };
	struct tq t;
	uint8_t zone[DNS_MAX_NAME];
	size_t zl, i, j;

	(void)state;
	for (i = 0; i < 5; i++)
		for (j = 0; j < 2; j++) {
			make_query(&t, names[i], types[j], false, false);
			assert_true(msg_cache_insert(c, &t.k, make_msg(&t, 600,
			    DNS_RCODE_NOERROR)));
		}
	assert_int_equal(msg_cache_count(c), 10);
	/* one name, one type */
	zl = dns_name_from_text("www.example.com.", zone);
	assert_int_equal(msg_cache_flush(c, zone, zl, DNS_T_AAAA, false), 1);
	make_query(&t, "www.example.com.", DNS_T_A, false, false);
	assert_true(msg_cache_has(c, &t.k));
	/* one name, all types */
	assert_int_equal(msg_cache_flush(c, zone, zl, 0, false), 1);
	assert_false(msg_cache_has(c, &t.k));
	/* subtree: example.com and a.b.example.com, not notexample.com */
	zl = dns_name_from_text("example.com.", zone);
	assert_int_equal(msg_cache_flush(c, zone, zl, 0, true), 4);
	make_query(&t, "notexample.com.", DNS_T_A, false, false);
	assert_true(msg_cache_has(c, &t.k));
	/* everything */
	assert_int_equal(msg_cache_flush(c, NULL, 0, 0, false), 4);
	assert_int_equal(msg_cache_count(c), 0);
	msg_cache_free(c);
}

static void
test_do_cd_keys(void **state)
{
	struct msg_cache *c = msg_cache_new(1 << 20);
	struct tq plain, dnssec, cd, upper;

	(void)state;
	make_query(&plain, "k.example.", DNS_T_A, false, false);
	make_query(&dnssec, "k.example.", DNS_T_A, true, false);
	make_query(&cd, "k.example.", DNS_T_A, false, true);
	make_query(&upper, "K.EXAMPLE.", DNS_T_A, false, false);
	assert_true(msg_cache_insert(c, &plain.k, make_msg(&plain, 600,
	    DNS_RCODE_NOERROR)));
	assert_true(msg_cache_has(c, &plain.k));
	assert_true(msg_cache_has(c, &upper.k));	/* case-insensitive */
	assert_false(msg_cache_has(c, &dnssec.k));
	assert_false(msg_cache_has(c, &cd.k));
	assert_true(msg_cache_insert(c, &dnssec.k, make_msg(&dnssec, 600,
	    DNS_RCODE_NOERROR)));
	assert_true(msg_cache_has(c, &dnssec.k));
	assert_false(msg_cache_has(c, &cd.k));
	assert_int_equal(msg_cache_count(c), 2);
	msg_cache_free(c);
}

struct thr_arg {
	struct msg_cache *c;
	int seed;
	int hits;
};

static void *
thread_main(void *p)
{
	struct thr_arg *a = p;
	struct tq t;
	uint8_t out[1024];
	char name[64];
	int i;

	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "t%d.example.", (i * 7 + a->seed) %
		    60);
		make_query(&t, name, DNS_T_A, false, false);
		if (msg_cache_reply(a->c, &t.k, &t.q, &opts, out,
		    sizeof(out), NULL, NULL) > 0) {
			if (out[0] != 0x12 || out[1] != 0x34)
				return NULL;
			a->hits++;
		} else {
			msg_cache_insert(a->c, &t.k, make_msg(&t, 600,
			    DNS_RCODE_NOERROR));
		}
		if (i % 5000 == 0)
			msg_cache_flush(a->c, NULL, 0, DNS_T_AAAA, false);
	}
	return NULL;
}

/* The key of t for clients in addr/scope (IPv4). */
static struct cache_key
ecs_key(const struct tq *t, const char *addr4, unsigned scope)
{
	struct cache_key k = t->k;

	k.ecs_family = 1;
	k.ecs_scope = (uint8_t)scope;
	k.ecs_forced = false;
	memset(k.ecs_addr, 0, sizeof(k.ecs_addr));
	memcpy(k.ecs_addr, addr4, 4);
	dns_ecs_mask(k.ecs_addr, scope);
	return k;
}

static void
test_ecs_keys(void **state)
{
	struct msg_cache *c = msg_cache_new(1 << 20);
	struct tq t;
	struct cache_key a, b, other;
	uint8_t out[1024];
	FILE *f;
	char buf[4096];
	size_t mem0 = msg_cache_mem(c);

	(void)state;
	test_now = 1000;
	msg_cache_set_clock(c, test_clock, NULL);
	make_query(&t, "ecs.example.", DNS_T_A, false, false);
	a = ecs_key(&t, "\xc6\x33\x64\x4d", 24);
	b = ecs_key(&t, "\xc6\x33\x64\x01", 24);	/* same /24 */
	other = ecs_key(&t, "\xc6\x33\x65\x01", 24);
	assert_true(cache_key_equal(&a, &b));
	assert_int_equal(cache_key_hash(&a), cache_key_hash(&b));
	assert_false(cache_key_equal(&a, &other));
	assert_false(cache_key_equal(&a, &t.k));
	assert_false(msg_cache_has_scope(c, 1, 24));

	assert_true(msg_cache_insert(c, &a, make_msg(&t, 60, 0)));
	assert_true(msg_cache_has_scope(c, 1, 24));
	assert_false(msg_cache_has_scope(c, 1, 16));
	assert_false(msg_cache_has_scope(c, 2, 24));
	assert_false(msg_cache_has_scope(c, 3, 24));
	/* only for that subnet: not for the shared key, not the next /24 */
	assert_true(msg_cache_reply(c, &b, &t.q, &opts, out, sizeof(out),
	    NULL, NULL) > 0);
	assert_int_equal(msg_cache_reply(c, &t.k, &t.q, &opts, out,
	    sizeof(out), NULL, NULL), 0);
	assert_int_equal(msg_cache_reply(c, &other, &t.q, &opts, out,
	    sizeof(out), NULL, NULL), 0);
	/* a shared entry beside it; dump_cache shows only that one */
	assert_true(msg_cache_insert(c, &t.k, make_msg(&t, 60, 0)));
	f = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(f);
	assert_int_equal(msg_cache_dump(c, f), 1);
	fclose(f);
	/* replacing keeps one count; expiry and flush take it back to 0 */
	assert_true(msg_cache_insert(c, &b, make_msg(&t, 60, 0)));
	assert_true(msg_cache_insert(c, &other, make_msg(&t, 30, 0)));
	assert_int_equal(msg_cache_count(c), 3);
	test_now += 30;
	assert_int_equal(msg_cache_reply(c, &other, &t.q, &opts, out,
	    sizeof(out), NULL, NULL), 0);
	assert_true(msg_cache_has_scope(c, 1, 24));
	assert_int_equal(msg_cache_flush(c, t.k.name, t.k.name_len, 0, false),
	    2);
	assert_false(msg_cache_has_scope(c, 1, 24));
	assert_int_equal(msg_cache_mem(c), mem0);
	msg_cache_free(c);
}

/* The bytes an insert of t's answer charges, and its message's size. */
static size_t
charge_of(struct msg_cache *c, struct tq *t, size_t *msg_bytes)
{
	struct dns_msg *m = make_msg(t, 600, DNS_RCODE_NOERROR);
	size_t before = msg_cache_mem(c);

	assert_non_null(m);
	*msg_bytes = dns_msg_size(m);
	assert_true(msg_cache_insert(c, &t->k, m));
	return msg_cache_mem(c) - before;
}

static void
test_entry_bytes(void **state)
{
	/* 4 labels of 60 and example.: a 253-byte wire name */
	char longname[256], *p = longname;
	struct msg_cache *c = msg_cache_new(1 << 20);
	struct tq s, l;
	size_t short_msg, long_msg, short_fixed, long_fixed;
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		memset(p, 'a' + i, 60);
		p[60] = '.';
		p += 61;
	}
	strcpy(p, "example.");
	make_query(&s, "a.example.", DNS_T_A, false, false);
	make_query(&l, longname, DNS_T_A, false, false);
	assert_int_equal(l.k.name_len, 253);
	short_fixed = charge_of(c, &s, &short_msg) - short_msg;
	long_fixed = charge_of(c, &l, &long_msg) - long_msg;
	/* an entry holds its name's bytes, not a DNS_MAX_NAME buffer: the
	 * part outside the message grows with the name, byte for byte */
	assert_int_equal(long_fixed - short_fixed, l.k.name_len -
	    s.k.name_len);
	assert_true(short_fixed - s.k.name_len < 128);
	msg_cache_free(c);
}

static void
test_entry_over_a_shard(void **state)
{
	/* a shard's share of 160 bytes less its table (4 buckets, the
	 * fewest: 32 bytes) leaves 128, less than the bookkeeping of an
	 * entry and its message alone: refused, nothing charged */
	struct msg_cache *c = msg_cache_new(CACHE_SHARDS * 160);
	size_t mem0 = msg_cache_mem(c);
	struct tq t;

	(void)state;
	make_query(&t, "a.example.", DNS_T_A, false, false);
	assert_false(msg_cache_insert(c, &t.k, make_msg(&t, 600,
	    DNS_RCODE_NOERROR)));
	assert_int_equal(msg_cache_count(c), 0);
	assert_int_equal(msg_cache_mem(c), mem0);
	msg_cache_free(c);
}

static void
test_two_threads(void **state)
{
	/* small (about 7 entries a shard for 60 names): lookups race with
	 * evictions and flushes in the other thread */
	struct msg_cache *c = msg_cache_new(CACHE_SHARDS * 2000);
	struct thr_arg a1 = { c, 0, 0 }, a2 = { c, 1, 0 };
	pthread_t t1, t2;

	(void)state;
	assert_int_equal(pthread_create(&t1, NULL, thread_main, &a1), 0);
	assert_int_equal(pthread_create(&t2, NULL, thread_main, &a2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_true(a1.hits > 0);
	assert_true(a2.hits > 0);
	assert_true(msg_cache_mem(c) <= CACHE_SHARDS * 2000);
	msg_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_miss_and_ageing),
		cmocka_unit_test(test_prefetch_due),
		cmocka_unit_test(test_negative),
		cmocka_unit_test(test_ttl_zero_not_stored),
		cmocka_unit_test(test_lru_eviction),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_do_cd_keys),
		cmocka_unit_test(test_ecs_keys),
		cmocka_unit_test(test_entry_bytes),
		cmocka_unit_test(test_entry_over_a_shard),
		cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
