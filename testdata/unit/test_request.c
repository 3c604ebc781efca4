/*
 * testdata/unit/test_request.c - the DoH request rules (request.c):
 * method, path split, dns= lookup, content-type, content-length, the
 * base64url length limits and the status each request earns; the
 * forwarded client address of http-trusted-proxy (doh_fwd_*).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "module/doh/request.h"
#include "util/netblock.h"

static void
test_method(void **unused)
{
	(void)unused;
	assert_int_equal(doh_req_method("GET", 3), DOH_METHOD_GET);
	assert_int_equal(doh_req_method("POST", 4), DOH_METHOD_POST);
	assert_int_equal(doh_req_method("HEAD", 4), DOH_METHOD_OTHER);
	assert_int_equal(doh_req_method("get", 3), DOH_METHOD_OTHER);
	assert_int_equal(doh_req_method("GETX", 4), DOH_METHOD_OTHER);
	assert_int_equal(doh_req_method("", 0), DOH_METHOD_OTHER);
}

static void
test_split(void **unused)
{
	const char *q;
	size_t pl, ql;

	(void)unused;
	doh_req_split_path("/dns-query?dns=AA", 17, &pl, &q, &ql);
	assert_int_equal(pl, 10);
	assert_int_equal(ql, 6);
	assert_memory_equal(q, "dns=AA", 6);
	doh_req_split_path("/dns-query", 10, &pl, &q, &ql);
	assert_int_equal(pl, 10);
	assert_int_equal(ql, 0);
	doh_req_split_path("/a?", 3, &pl, &q, &ql);
	assert_int_equal(pl, 2);
	assert_int_equal(ql, 0);
}

static void
test_find_dns(void **unused)
{
	const char *v;
	size_t vl;

	(void)unused;
	assert_true(doh_req_find_dns("dns=abc", 7, &v, &vl));
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "abc", 3);
	assert_true(doh_req_find_dns("a=1&dns=xy&b=2", 14, &v, &vl));
	assert_int_equal(vl, 2);
	assert_memory_equal(v, "xy", 2);
	assert_true(doh_req_find_dns("a=1&&dns=", 9, &v, &vl));
	assert_int_equal(vl, 0);
	assert_false(doh_req_find_dns("xdns=abc", 8, &v, &vl));
	assert_false(doh_req_find_dns("dn=abc&dnsx=1", 13, &v, &vl));
	assert_false(doh_req_find_dns("", 0, &v, &vl));
	/* the first one wins */
	assert_true(doh_req_find_dns("dns=1&dns=22", 12, &v, &vl));
	assert_int_equal(vl, 1);
}

static void
test_content_type(void **unused)
{
	(void)unused;
#define CT(s) doh_req_content_type_ok(s, strlen(s))
	assert_true(CT("application/dns-message"));
	assert_true(CT("Application/DNS-Message"));
	assert_true(CT("application/dns-message; charset=utf-8"));
	assert_true(CT(" application/dns-message ;x"));
	assert_false(CT("application/dns-messages"));
	assert_false(CT("application/dns"));
	assert_false(CT("text/plain"));
	assert_false(CT(""));
	assert_false(CT("application/json; application/dns-message"));
#undef CT
}

static void
test_length(void **unused)
{
	size_t v;

	(void)unused;
	assert_int_equal(doh_req_parse_length("0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(doh_req_parse_length("512", 3, &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(doh_req_parse_length("99999999999999999999999", 23,
	    &v), 0);
	assert_true(v == SIZE_MAX);
	assert_int_equal(doh_req_parse_length("", 0, &v), -1);
	assert_int_equal(doh_req_parse_length("-1", 2, &v), -1);
	assert_int_equal(doh_req_parse_length("1 ", 2, &v), -1);
	assert_int_equal(doh_req_parse_length("0x10", 4, &v), -1);
}

static void
test_b64_lengths(void **unused)
{
	(void)unused;
	assert_int_equal(doh_req_b64_max_len(512), 683);
	assert_int_equal(doh_req_b64_max_len(3), 4);
	assert_int_equal(doh_req_b64_max_len(4), 6);
	assert_int_equal(doh_req_b64_max_len(5), 7);
	assert_int_equal(doh_req_b64_max_len(65552), 87403);
	assert_int_equal(doh_req_b64_decoded_len(683), 512);
	assert_int_equal(doh_req_b64_decoded_len(684), 513);
	assert_int_equal(doh_req_b64_decoded_len(16), 12);
	assert_int_equal(doh_req_b64_decoded_len(39), 29);
	assert_true(doh_req_b64_decoded_len(17) == (size_t)-1);
}

static int
check(const char *method, const char *path, const char *ct, const char *cl,
    size_t max, struct doh_req_plan *plan)
{
	struct doh_req r;

	memset(&r, 0, sizeof(r));
	r.method = method ? doh_req_method(method, strlen(method)) :
	    DOH_METHOD_NONE;
	if (path) {
		r.path = path;
		r.path_len = strlen(path);
		r.has_path = true;
	}
	if (ct) {
		r.content_type = ct;
		r.content_type_len = strlen(ct);
	}
	if (cl) {
		r.content_length = cl;
		r.content_length_len = strlen(cl);
	}
	return doh_req_check_headers(&r, "/dns-query", max, plan);
}

static void
test_check_headers(void **unused)
{
	struct doh_req_plan p;
	char path[1024];
	/* 16 characters: a 12-byte header */
	const char *q16 = "/dns-query?dns=AAABAAAAAAAAAAAA";

	(void)unused;
	/* 501 first, whatever else is wrong */
	assert_int_equal(check("HEAD", "/x", "text/plain", NULL, 512, &p),
	    501);
	assert_int_equal(check("PUT", "/dns-query", NULL, NULL, 512, &p),
	    501);
	assert_int_equal(check(NULL, "/dns-query", NULL, NULL, 512, &p),
	    400);
	assert_int_equal(check("GET", NULL, NULL, NULL, 512, &p), 400);
	{
		struct doh_req r;

		memset(&r, 0, sizeof(r));
		r.method = DOH_METHOD_GET;
		r.path = "/dns-query?dns=AAABAAAAAAAAAAAA";
		r.path_len = strlen(r.path);
		r.has_path = true;
		assert_int_equal(doh_req_check_headers(&r, "/dns-query", 512,
		    &p), 0);
		r.uri_too_long = true;
		assert_int_equal(doh_req_check_headers(&r, "/dns-query", 512,
		    &p), 414);
		r.uri_too_long = false;
		r.malformed = true;
		assert_int_equal(doh_req_check_headers(&r, "/dns-query", 512,
		    &p), 400);
		r.method = DOH_METHOD_OTHER;
		assert_int_equal(doh_req_check_headers(&r, "/dns-query", 512,
		    &p), 501);
	}
	/* 404 before 415 */
	assert_int_equal(check("GET", "/other?dns=AAAA", "text/plain", NULL,
	    512, &p), 404);
	assert_int_equal(check("GET", "/dns-query/", NULL, NULL, 512, &p),
	    404);
	assert_int_equal(check("GET", "/dns", NULL, NULL, 512, &p), 404);
	/* 415 for GET too, as Unbound */
	assert_int_equal(check("GET", q16, "text/plain", NULL, 512, &p), 415);
	assert_int_equal(check("POST", "/dns-query", "text/plain", "29", 512,
	    &p), 415);
	/* GET */
	assert_int_equal(check("GET", q16, NULL, NULL, 512, &p), 0);
	assert_int_equal(p.query_size, 12);
	assert_int_equal(p.dns_len, 16);
	assert_int_equal(check("GET", "/dns-query?a=b&dns=AAABAAAAAAAAAAAA==&c",
	    "application/dns-message", NULL, 512, &p), 0);
	assert_int_equal(p.dns_len, 16);
	assert_int_equal(check("GET", "/dns-query", NULL, NULL, 512, &p), 400);
	assert_int_equal(check("GET", "/dns-query?dns=", NULL, NULL, 512, &p),
	    400);
	assert_int_equal(check("GET", "/dns-query?dns=AAAAAAAAAAAAAAA", NULL,
	    NULL, 512, &p), 400);	/* 11 bytes */
	assert_int_equal(check("GET", "/dns-query?dns=AAAAAAAAAAAAAAAAA",
	    NULL, NULL, 512, &p), 400);	/* 17 chars: impossible */
	/* 414: exactly 683 characters pass, 684 do not */
	memcpy(path, "/dns-query?dns=", 15);
	memset(path + 15, 'A', 683);
	path[15 + 683] = 0;
	assert_int_equal(check("GET", path, NULL, NULL, 512, &p), 0);
	assert_int_equal(p.query_size, 512);
	path[15 + 683] = 'A';
	path[15 + 684] = 0;
	assert_int_equal(check("GET", path, NULL, NULL, 512, &p), 414);
	assert_int_equal(check("GET", path, NULL, NULL, 65552, &p), 0);
	/* POST */
	assert_int_equal(check("POST", "/dns-query", NULL, NULL, 512, &p), 0);
	assert_false(p.has_content_length);
	assert_int_equal(check("POST", "/dns-query?dns=x", NULL, "512", 512,
	    &p), 0);
	assert_true(p.has_content_length);
	assert_int_equal(p.query_size, 512);
	assert_int_equal(check("POST", "/dns-query", NULL, "513", 512, &p),
	    413);
	assert_int_equal(check("POST", "/dns-query", NULL, "abc", 512, &p),
	    400);
	assert_int_equal(check("POST", "/dns-query", NULL, "0", 512, &p), 0);
	assert_int_equal(p.query_size, 0);
}

static void
test_cache_control(void **unused)
{
	char b[48];

	(void)unused;
	assert_int_equal(doh_req_cache_control(b, sizeof(b), 300, false), 11);
	assert_string_equal(b, "max-age=300");
	assert_int_equal(doh_req_cache_control(b, sizeof(b), 0, true), 18);
	assert_string_equal(b, "private, max-age=0");
	/* no TTL to give (e.g. a negative answer without SOA) */
	assert_int_equal(doh_req_cache_control(b, sizeof(b), -1, false), 0);
	assert_string_equal(b, "");
	assert_int_equal(doh_req_cache_control(b, sizeof(b), -1, true), 7);
	assert_string_equal(b, "private");
	/* does not fit: nothing rather than a cut header */
	assert_int_equal(doh_req_cache_control(b, 8, 2147483647, false), 0);
	assert_string_equal(b, "");
}

static void
test_body(void **unused)
{
	(void)unused;
	assert_int_equal(doh_req_first_frame(512, 512), 0);
	assert_int_equal(doh_req_first_frame(513, 512), 413);
	assert_int_equal(doh_req_body_data(0, 29, 29), 0);
	assert_int_equal(doh_req_body_data(20, 29, 9), 0);
	assert_int_equal(doh_req_body_data(20, 29, 10), 413);
	assert_int_equal(doh_req_body_data(0, 0, 1), 413);
	assert_int_equal(doh_req_body_data(0, 0, 0), 0);
	assert_int_equal(doh_req_check_query(0), 400);
	assert_int_equal(doh_req_check_query(11), 400);
	assert_int_equal(doh_req_check_query(12), 0);
	assert_int_equal(doh_req_body_final(29, true, 29), 0);
	assert_int_equal(doh_req_body_final(30, true, 29), 413);
	assert_int_equal(doh_req_body_final(28, true, 29), 400);
	assert_int_equal(doh_req_body_final(8, true, 8), 400);
	assert_int_equal(doh_req_body_final(0, false, 0), 400);
	assert_int_equal(doh_req_body_final(12, false, 0), 0);
	assert_string_equal(doh_req_status_text(414), "URI Too Long");
	assert_string_equal(doh_req_status_text(501), "Not Implemented");
}

static struct sockaddr_in
sin4(const char *a)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

/* The client doh_fwd_client picks, as text ("peer" when not forwarded). */
static const char *
fwd_pick(const struct netblock_set *trusted, const char *peer, int kind,
    const char *const *vals, size_t n)
{
	static char out[INET6_ADDRSTRLEN];
	struct sockaddr_in p = sin4(peer);
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct doh_fwd f;
	size_t i;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < n; i++)
		doh_fwd_add(&f, kind, vals[i], strlen(vals[i]));
	if (!doh_fwd_client(trusted, (struct sockaddr *)&p, sizeof(p), &f,
	    &ss, &len)) {
		assert_int_equal(len, sizeof(p));
		assert_memory_equal(&ss, &p, sizeof(p));
		return "peer";
	}
	if (ss.ss_family == AF_INET) {
		assert_int_equal(len, sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
		    sizeof(out));
	} else {
		assert_int_equal(ss.ss_family, AF_INET6);
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    out, sizeof(out));
	}
	return out;
}

static void
test_forwarded(void **unused)
{
	struct netblock_set t, empty;
	const char *xff1[] = { "192.0.2.9, 198.51.100.7, 10.0.0.2" };
	const char *xff2[] = { "192.0.2.9", "198.51.100.7 ,10.0.0.3" };
	const char *alltr[] = { "10.0.0.4, 10.0.0.3" };
	const char *unk[] = { "198.51.100.7, unknown, 10.0.0.3" };
	const char *ports[] = { "[2001:db8::1]:80, 198.51.100.7:4711" };
	const char *v6[] = { "2001:db8::5" };
	const char *fwd[] = { "for=192.0.2.1;proto=https, "
	    "For=\"[2001:db8::7]:99\";by=10.0.0.1" };
	const char *fwdbad[] = { "for=192.0.2.1, proto=https" };
	const char *rip[] = { "203.0.113.8" };
	const char *junk[] = { "" , " , ,", "300.1.1.1" };

	(void)unused;
	memset(&t, 0, sizeof(t));
	memset(&empty, 0, sizeof(empty));
	assert_int_equal(netblock_add(&t, "10.0.0.0/8", 1), 0);
	netblock_finish(&t);

	assert_int_equal(doh_fwd_kind_of("x-forwarded-for", 15, false),
	    DOH_FWD_XFF);
	assert_int_equal(doh_fwd_kind_of("X-Real-IP", 9, true),
	    DOH_FWD_XREALIP);
	assert_int_equal(doh_fwd_kind_of("X-Real-IP", 9, false), -1);
	assert_int_equal(doh_fwd_kind_of("Forwarded", 9, true),
	    DOH_FWD_FORWARDED);

	/* right-most untrusted hop, over one or several fields */
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, xff1, 1),
	    "198.51.100.7");
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, xff2, 2),
	    "198.51.100.7");
	/* all trusted: the left-most */
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, alltr, 1),
	    "10.0.0.4");
	/* "unknown" stops the walk at the trusted hop right of it */
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, unk, 1),
	    "10.0.0.3");
	/* ports, brackets, IPv6 */
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, ports, 1),
	    "198.51.100.7");
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, v6, 1),
	    "2001:db8::5");
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_FORWARDED, fwd,
	    1), "2001:db8::7");
	/* an element without for= ends the walk: nothing usable */
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_FORWARDED,
	    fwdbad, 1), "peer");
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XREALIP, rip,
	    1), "203.0.113.8");
	/* the last field is garbage: the peer */
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, junk, 3),
	    "peer");
	/* an untrusted peer, or no trusted netblocks: headers ignored */
	assert_string_equal(fwd_pick(&t, "192.0.2.200", DOH_FWD_XFF, xff1,
	    1), "peer");
	assert_string_equal(fwd_pick(&empty, "10.0.0.1", DOH_FWD_XFF, xff1,
	    1), "peer");
	assert_string_equal(fwd_pick(NULL, "10.0.0.1", DOH_FWD_XFF, xff1,
	    1), "peer");
	netblock_clear(&t);
}

static void
test_forwarded_many_fields(void **unused)
{
	struct netblock_set t;
	const char *v[DOH_FWD_MAX + 3];
	size_t i;

	(void)unused;
	memset(&t, 0, sizeof(t));
	assert_int_equal(netblock_add(&t, "10.0.0.0/8", 1), 0);
	netblock_finish(&t);
	/* more fields than kept: the right-most ones are (all trusted here,
	 * so the left-most kept one is the answer) */
	v[0] = "192.0.2.1";
	for (i = 1; i < DOH_FWD_MAX + 3; i++)
		v[i] = (i == 3) ? "10.0.0.33" : "10.0.0.9";
	assert_string_equal(fwd_pick(&t, "10.0.0.1", DOH_FWD_XFF, v,
	    DOH_FWD_MAX + 3), "10.0.0.33");
	netblock_clear(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_find_dns),
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_b64_lengths),
		cmocka_unit_test(test_check_headers),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_cache_control),
		cmocka_unit_test(test_forwarded),
		cmocka_unit_test(test_forwarded_many_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
