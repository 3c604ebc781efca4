/*
 * testdata/unit/test_localzone.c - local-zone types and local-data with
 * Unbound's semantics: every zone type, the default zones, nodefault and
 * overriding zones, implicit transparent zones, CNAME, SOA in negative
 * answers, empty non-terminals, and "file:line" error messages.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns/wire.h"
#include "resolver/localzone.h"
#include "util/config.h"

static struct config *cfg;
static struct cfg_str2list **zone_tail;
static struct cfg_strlist **data_tail;

static void
cfg_begin(void)
{
	cfg = config_new();
	assert_non_null(cfg);
	zone_tail = &cfg->local_zones;
	data_tail = &cfg->local_data;
}

static void
zone(const char *name, const char *type, int line)
{
	struct cfg_str2list *z = calloc(1, sizeof(*z));

	z->str = strdup(name);
	z->str2 = strdup(type);
	z->file = "test.conf";
	z->line = line;
	*zone_tail = z;
	zone_tail = &z->next;
}

static void
data(const char *rr, int line)
{
	struct cfg_strlist *d = calloc(1, sizeof(*d));

	d->str = strdup(rr);
	d->file = "test.conf";
	d->line = line;
	*data_tail = d;
	data_tail = &d->next;
}

struct ans {
	int res;
	size_t len;
	uint8_t buf[4096];
	int rcode, an, ns;
	int ztype;
	bool aa;
};

static void
ask(const struct local_zones *lz, const char *name, uint16_t type,
    struct ans *a)
{
	uint8_t q[512], wire[DNS_MAX_NAME];
	size_t wl = dns_name_from_text(name, wire), ql;
	struct dns_query dq;
	struct dns_reply_opts o =
	    { .max_len = 65535, .edns_udp = 1232, .pad = false };

	assert_true(wl > 0);
	ql = dns_query_build(q, sizeof(q), 0xbeef, wire, wl, type, DNS_C_IN,
	    false, false, 1232);
	assert_int_equal(dns_query_parse(&dq, q, ql), 0);
	memset(a, 0, sizeof(*a));
	a->res = localzone_answer(lz, &dq, &o, a->buf, sizeof(a->buf),
	    &a->len, &a->ztype);
	if (a->res == LZ_RES_ANSWER) {
		assert_true(a->len >= DNS_HDR_LEN);
		assert_int_equal(a->buf[0], 0xbe);
		a->rcode = a->buf[3] & 0xf;
		a->aa = (a->buf[2] & (DNS_AA >> 8)) != 0;
		a->an = (a->buf[6] << 8) | a->buf[7];
		a->ns = (a->buf[8] << 8) | a->buf[9];
	}
}

/* The rdata of the first answer RR (owner a pointer or the qname). */
static const uint8_t *
first_rdata(const struct ans *a, size_t *rdlen)
{
	size_t off = DNS_HDR_LEN;

	while (a->buf[off] != 0)
		off += 1u + a->buf[off];
	off += 1 + 4;			/* root, qtype, qclass */
	if ((a->buf[off] & 0xc0) == 0xc0)
		off += 2;
	else {
		while (a->buf[off] != 0)
			off += 1u + a->buf[off];
		off++;
	}
	*rdlen = (size_t)((a->buf[off + 8] << 8) | a->buf[off + 9]);
	return a->buf + off + 10;
}

static uint16_t
first_type(const struct ans *a)
{
	size_t rl;
	const uint8_t *rd = first_rdata(a, &rl);

	return (uint16_t)((rd[-10] << 8) | rd[-9]);
}

static uint32_t
first_ttl(const struct ans *a)
{
	size_t rl;
	const uint8_t *rd = first_rdata(a, &rl);

	return ((uint32_t)rd[-6] << 24) | ((uint32_t)rd[-5] << 16) |
	    ((uint32_t)rd[-4] << 8) | rd[-3];
}

static void
test_defaults(void **state)
{
	struct local_zones *lz;
	struct ans a;
	size_t rl;
	const uint8_t *rd;
	uint8_t w[DNS_MAX_NAME];

	(void)state;
	cfg_begin();
	lz = localzone_new(cfg, stderr);
	assert_non_null(lz);

	ask(lz, "localhost.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);
	assert_true(a.aa);
	assert_int_equal(a.an, 1);
	rd = first_rdata(&a, &rl);
	assert_int_equal(rl, 4);
	assert_memory_equal(rd, "\x7f\x00\x00\x01", 4);
	/* redirect: every name below gets the apex data */
	ask(lz, "www.localhost.", DNS_T_AAAA, &a);
	assert_int_equal(a.an, 1);
	rd = first_rdata(&a, &rl);
	assert_int_equal(rl, 16);
	assert_int_equal(rd[15], 1);
	ask(lz, "localhost.", DNS_T_MX, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(a.an, 0);
	assert_int_equal(a.ns, 1);	/* SOA */

	ask(lz, "1.0.0.127.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.an, 1);
	rd = first_rdata(&a, &rl);
	assert_int_equal(rl, dns_name_from_text("localhost.", w));
	assert_memory_equal(rd, w, rl);
	ask(lz, "2.0.0.127.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	/* empty non-terminal of static 127.in-addr.arpa: NODATA */
	ask(lz, "0.127.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(a.an, 0);
	ask(lz, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.ip6.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.an, 1);

	ask(lz, "foo.onion.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(a.ns, 1);
	ask(lz, "x.test.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "x.invalid.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "printer.home.arpa.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	/* AS112: RFC 1918 and RFC 6303 */
	ask(lz, "4.3.2.10.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	assert_true(a.aa);
	ask(lz, "1.1.168.192.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "1.0.20.172.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "1.1.254.169.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "x.d.f.ip6.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	/* 172.32/16 is public: not a local zone */
	ask(lz, "1.0.32.172.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	ask(lz, "www.example.com.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	localzone_free(lz);
	config_free(cfg);
}

static void
test_nodefault_and_override(void **state)
{
	struct local_zones *lz;
	struct ans a;
	uint8_t w[DNS_MAX_NAME];

	(void)state;
	cfg_begin();
	zone("10.in-addr.arpa.", "nodefault", 1);
	zone("168.192.in-addr.arpa.", "transparent", 2);
	zone("onion.", "refuse", 3);
	zone("ip6.arpa.", "nodefault", 4);	/* above: removes all below */
	lz = localzone_new(cfg, stderr);
	assert_non_null(lz);
	ask(lz, "4.3.2.10.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	assert_int_equal(localzone_type_of(lz, w,
	    dns_name_from_text("10.in-addr.arpa.", w)), -1);
	ask(lz, "1.1.168.192.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.res, LZ_RES_NONE);	/* transparent, no data */
	ask(lz, "x.onion.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_REFUSED);
	ask(lz, "x.d.f.ip6.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	ask(lz, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.ip6.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	/* others stay */
	ask(lz, "1.16.172.in-addr.arpa.", DNS_T_PTR, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	localzone_free(lz);
	config_free(cfg);
}

static void
test_zone_types(void **state)
{
	struct local_zones *lz;
	struct ans a;

	(void)state;
	cfg_begin();
	zone("static.example.", "static", 1);
	zone("transp.example.", "transparent", 2);
	zone("tt.example.", "typetransparent", 3);
	zone("refuse.example.", "refuse", 4);
	zone("deny.example.", "deny", 5);
	zone("nx.example.", "always_nxdomain", 6);
	zone("ar.example.", "always_refuse", 7);
	zone("nd.example.", "always_nodata", 8);
	zone("redir.example.", "redirect", 9);
	zone("inform.example.", "inform", 10);
	data("static.example. 600 IN SOA ns.static.example. h.static.example. "
	    "1 3600 600 86400 120", 11);
	data("www.static.example. A 192.0.2.1", 12);
	data("www.transp.example. A 192.0.2.2", 13);
	data("www.tt.example. A 192.0.2.3", 14);
	data("www.refuse.example. A 192.0.2.4", 15);
	data("www.deny.example. A 192.0.2.5", 16);
	data("www.nx.example. A 192.0.2.6", 17);
	data("redir.example. A 192.0.2.7", 18);
	data("www.inform.example. A 192.0.2.8", 19);
	lz = localzone_new(cfg, stderr);
	assert_non_null(lz);

	/* static: data, NODATA, NXDOMAIN with the SOA (TTL = minimum) */
	ask(lz, "www.static.example.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	assert_true(a.aa);
	assert_int_equal(first_ttl(&a), 3600);	/* default TTL */
	ask(lz, "www.static.example.", DNS_T_AAAA, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(a.an, 0);
	assert_int_equal(a.ns, 1);
	ask(lz, "nope.static.example.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(a.ns, 1);

	/* transparent: data, NODATA at a data name, else resolve */
	ask(lz, "www.transp.example.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	ask(lz, "www.transp.example.", DNS_T_AAAA, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.an, 0);
	ask(lz, "other.transp.example.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);

	/* typetransparent: other types resolve */
	ask(lz, "www.tt.example.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	ask(lz, "www.tt.example.", DNS_T_AAAA, &a);
	assert_int_equal(a.res, LZ_RES_NONE);

	/* refuse / deny answer their data, else REFUSED / drop */
	ask(lz, "www.refuse.example.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	ask(lz, "x.refuse.example.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_REFUSED);
	ask(lz, "www.deny.example.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	ask(lz, "x.deny.example.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_DROP);

	/* always_*: data ignored */
	ask(lz, "www.nx.example.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "x.ar.example.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_REFUSED);
	ask(lz, "x.nd.example.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(a.an, 0);

	/* redirect: apex data for every name below */
	ask(lz, "a.b.redir.example.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	ask(lz, "a.b.redir.example.", DNS_T_AAAA, &a);
	assert_int_equal(a.an, 0);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);

	/* inform: as transparent */
	ask(lz, "www.inform.example.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	assert_int_equal(a.ztype, LZ_INFORM);
	ask(lz, "x.inform.example.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	localzone_free(lz);
	config_free(cfg);
}

static void
test_soa_negative_ttl(void **state)
{
	struct local_zones *lz;
	struct ans a;
	size_t off;
	uint32_t ttl;

	(void)state;
	cfg_begin();
	zone("z.example.", "static", 1);
	data("z.example. 600 IN SOA ns.z.example. h.z.example. 1 3600 600 "
	    "86400 120", 2);
	lz = localzone_new(cfg, stderr);
	assert_non_null(lz);
	ask(lz, "nope.z.example.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(a.ns, 1);
	/* question, then the SOA: owner (name or pointer), type, class, TTL */
	off = DNS_HDR_LEN;
	while (a.buf[off] != 0)
		off += 1u + a.buf[off];
	off += 5;
	if ((a.buf[off] & 0xc0) == 0xc0)
		off += 2;
	else {
		while (a.buf[off] != 0)
			off += 1u + a.buf[off];
		off++;
	}
	assert_int_equal((a.buf[off] << 8) | a.buf[off + 1], DNS_T_SOA);
	ttl = ((uint32_t)a.buf[off + 4] << 24) | ((uint32_t)a.buf[off + 5] <<
	    16) | ((uint32_t)a.buf[off + 6] << 8) | a.buf[off + 7];
	assert_int_equal(ttl, 120);
	localzone_free(lz);
	config_free(cfg);
}

static void
test_implicit_transparent_and_cname(void **state)
{
	struct local_zones *lz;
	struct ans a;
	uint8_t w[DNS_MAX_NAME];

	(void)state;
	cfg_begin();
	data("www.example.com. 300 IN A 192.0.2.10", 1);
	data("alias.example.net. CNAME www.example.com.", 2);
	data("www.test. A 192.0.2.11", 3);	/* inside default static test. */
	lz = localzone_new(cfg, stderr);
	assert_non_null(lz);
	assert_int_equal(localzone_type_of(lz, w,
	    dns_name_from_text("www.example.com.", w)), LZ_TRANSPARENT);
	ask(lz, "www.example.com.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	assert_int_equal(first_ttl(&a), 300);
	ask(lz, "www.example.com.", DNS_T_AAAA, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.an, 0);
	ask(lz, "example.com.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	ask(lz, "sub.www.example.com.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	/* a CNAME answers any type, not followed */
	ask(lz, "alias.example.net.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	assert_int_equal(first_type(&a), DNS_T_CNAME);
	ask(lz, "alias.example.net.", DNS_T_CNAME, &a);
	assert_int_equal(a.an, 1);
	/* data in a default zone */
	ask(lz, "www.test.", DNS_T_A, &a);
	assert_int_equal(a.an, 1);
	ask(lz, "x.test.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	/* ANY: everything at the name */
	ask(lz, "www.example.com.", DNS_T_ANY, &a);
	assert_int_equal(a.an, 1);
	localzone_free(lz);
	config_free(cfg);
}

static void
test_errors(void **state)
{
	char *text = NULL;
	size_t tl = 0;
	FILE *err;
	int n;

	(void)state;
	cfg_begin();
	zone("ok.example.", "static", 1);
	zone("bad.example.", "no_such_type", 2);
	data("www.ok.example. A 192.0.2.1", 3);
	data("broken.ok.example. A not-an-address", 4);
	data("c.ok.example. CNAME www.ok.example.", 5);
	data("c.ok.example. A 192.0.2.2", 6);
	err = open_memstream(&text, &tl);
	n = localzone_check(cfg, err);
	fclose(err);
	assert_int_equal(n, 3);
	assert_non_null(strstr(text, "test.conf:2: local-zone: bad.example. "
	    "no_such_type: "));
	assert_non_null(strstr(text, "test.conf:4: local-data: broken.ok."
	    "example. A not-an-address: "));
	assert_non_null(strstr(text, "test.conf:6: local-data: c.ok.example. "
	    "A 192.0.2.2: CNAME and other data at the same name"));
	assert_null(strstr(text, "test.conf:3:"));
	free(text);
	/* and localzone_new refuses the config */
	err = fopen("/dev/null", "w");
	assert_null(localzone_new(cfg, err));
	fclose(err);
	config_free(cfg);
}

/* Names under no zone skip the lock and the walk (the top-level label
 * filter); zones and data added at run time under new top-level labels,
 * the root included, are answered at once, and a removed zone's label
 * does no harm. */
static void
test_tld_filter_follows_edits(void **state)
{
	struct local_zones *lz;
	struct ans a;
	char err[128];

	(void)state;
	cfg_begin();
	lz = localzone_new(cfg, stderr);
	assert_non_null(lz);
	ask(lz, "www.example.org.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	assert_int_equal(localzone_zone_add(lz, "blocked.org.",
	    "always_nxdomain", err, sizeof(err)), 0);
	ask(lz, "www.blocked.org.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "www.example.org.", DNS_T_A, &a);	/* same label, no zone */
	assert_int_equal(a.res, LZ_RES_NONE);
	assert_int_equal(localzone_data_add(lz, "h.newtld. A 192.0.2.9",
	    err, sizeof(err)), 0);
	ask(lz, "h.NEWTLD.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.an, 1);
	assert_int_equal(localzone_zone_remove(lz, "blocked.org.", err,
	    sizeof(err)), 0);
	ask(lz, "www.blocked.org.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	ask(lz, "a.b.unseen.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	assert_int_equal(localzone_zone_add(lz, ".", "refuse", err,
	    sizeof(err)), 0);
	ask(lz, "a.b.unseen.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.rcode, DNS_RCODE_REFUSED);
	localzone_free(lz);
	config_free(cfg);
}

/* localzone_reset: run-time edits go, the config's zones and data are
 * back, and a config with errors leaves the table as it was. */
static void
test_reset_drops_edits(void **state)
{
	struct local_zones *lz;
	struct config *good;
	struct ans a;
	char err[128];

	(void)state;
	cfg_begin();
	zone("conf.lab.", "static", 1);
	data("a.conf.lab. A 192.0.2.1", 2);
	good = cfg;
	lz = localzone_new(good, stderr);
	assert_non_null(lz);
	assert_int_equal(localzone_data_add(lz, "b.conf.lab. A 192.0.2.2",
	    err, sizeof(err)), 0);
	assert_int_equal(localzone_data_remove(lz, "a.conf.lab.", err,
	    sizeof(err)), 0);
	assert_int_equal(localzone_zone_add(lz, "x.lab.", "refuse", err,
	    sizeof(err)), 0);
	ask(lz, "a.conf.lab.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "w.x.lab.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_REFUSED);

	/* a config with errors: -1, the edited table stays */
	cfg_begin();
	zone("bad.lab.", "no_such_type", 1);
	assert_int_equal(localzone_reset(lz, cfg), -1);
	config_free(cfg);
	ask(lz, "b.conf.lab.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.an, 1);

	assert_int_equal(localzone_reset(lz, good), 0);
	ask(lz, "a.conf.lab.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_ANSWER);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(a.an, 1);
	ask(lz, "b.conf.lab.", DNS_T_A, &a);
	assert_int_equal(a.rcode, DNS_RCODE_NXDOMAIN);
	ask(lz, "w.x.lab.", DNS_T_A, &a);
	assert_int_equal(a.res, LZ_RES_NONE);
	assert_int_equal(localzone_type_of(lz, (const uint8_t *)
	    "\x09localhost", 11), LZ_REDIRECT);
	localzone_free(lz);
	config_free(good);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tld_filter_follows_edits),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_nodefault_and_override),
		cmocka_unit_test(test_zone_types),
		cmocka_unit_test(test_soa_negative_ttl),
		cmocka_unit_test(test_implicit_transparent_and_cname),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_reset_drops_edits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
