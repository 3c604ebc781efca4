/*
 * testdata/fuzz/fuzz_request.c - libFuzzer target for the DoH request
 * rules of module/doh/request.c, called the way h2.c and h1.c call
 * them: the headers of one request, then its body in pieces, then the
 * forwarded-for headers of a request from a proxy.
 *
 * Input: byte 0 holds flags (bit 0 :path present, 1 content-type
 * present, 2 content-length present, 3 malformed, 4 uri_too_long, 5
 * peer is a trusted proxy, 6-7 the endpoint); byte 1 the largest query
 * (max_query = 12 + byte * 17, so the 413/414 bounds are met); the rest
 * is fields separated by '\n': :method, :path, content-type,
 * content-length, then the sizes of the body's DATA frames (one byte
 * each, in a field of their own), then header lines "name: value" for
 * Forwarded, X-Forwarded-For and X-Real-IP.
 *
 * Checked: the status is one the rules may give and in the documented
 * order of checks (an independent re-statement of request.h), the plan
 * never promises more than max_query, the GET value lies inside :path
 * and decodes into a buffer of exactly plan.query_size, a body is never
 * let past its buffer, and doh_fwd_client returns an address from the
 * headers only for a trusted peer.  Every field is a malloc'ed copy of
 * exactly its length, so a read past it is an ASan report.
 *
 * Build: make fuzz; run: make fuzz-run, or
 *   ./fuzz_request -dict=testdata/fuzz/request.dict \
 *     testdata/fuzz/corpus/request
 * -DFUZZ_STANDALONE adds a main() that runs the files named once each.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/base64url.h"
#include "module/doh/request.h"
#include "util/netblock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)
#define NFIELDS		6
#define NHDRS		24

static const char *const endpoints[4] = {
	"/dns-query", "/", "/q", "/dns-query/x"
};

static struct netblock_set trusted;

static void
trusted_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	if (netblock_add(&trusted, "127.0.0.0/8", 1) != 0 ||
	    netblock_add(&trusted, "10.0.0.0/8", 1) != 0 ||
	    netblock_add(&trusted, "2001:db8::/32", 1) != 0)
		abort();
	netblock_finish(&trusted);
}

/* An exact-size heap copy of a field ("" is a 1-byte allocation). */
static char *
dup_exact(const uint8_t *p, size_t n)
{
	char *s = malloc(n > 0 ? n : 1);

	if (s != NULL && n > 0)
		memcpy(s, p, n);
	return s;
}

/* content-type rule, restated: media type before ';', blanks trimmed,
 * "application/dns-message" without case. */
static bool
ref_ct_ok(const char *s, size_t n)
{
	static const char want[] = "application/dns-message";
	size_t b = 0, e = 0, i;

	while (e < n && s[e] != ';')
		e++;
	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (e - b != sizeof(want) - 1)
		return false;
	for (i = 0; i < e - b; i++) {
		char c = s[b + i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != want[i])
			return false;
	}
	return true;
}

/* content-length: digits only, saturating. */
static int
ref_length(const char *s, size_t n, size_t *out)
{
	unsigned __int128 v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > SIZE_MAX)
			v = (unsigned __int128)SIZE_MAX + 1;
	}
	*out = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
	return 0;
}

/* The body of a POST in DATA frames, as h2.c collects it. */
static void
fuzz_body(const struct doh_req_plan *plan, size_t max_query,
    const uint8_t *frames, size_t nframes)
{
	size_t cap = plan->has_content_length ? plan->query_size : 0;
	size_t have = 0, i;
	uint8_t *buf = NULL;
	int st = 0;

	for (i = 0; i < nframes && st == 0; i++) {
		size_t add = (size_t)frames[i] * 3;

		if (buf == NULL && !plan->has_content_length) {
			st = doh_req_first_frame(add, max_query);
			if (st != 0) {
				CHECK(st == 413 && add > max_query);
				break;
			}
			cap = add;
		}
		if (buf == NULL) {
			buf = malloc(cap > 0 ? cap : 1);
			if (buf == NULL)
				return;
		}
		st = doh_req_body_data(have, cap, add);
		if (st != 0) {
			CHECK(st == 413 && have + add > cap);
			break;
		}
		CHECK(have + add <= cap);
		memset(buf + have, 0xa5, add);	/* ASan checks the bound */
		have += add;
	}
	if (st == 0) {
		st = doh_req_body_final(have, plan->has_content_length,
		    plan->query_size);
		if (plan->has_content_length && have != plan->query_size)
			CHECK(st == (have > plan->query_size ? 413 : 400));
		else
			CHECK(st == (have < DOH_MIN_QUERY ? 400 : 0));
	}
	CHECK(have <= max_query);
	free(buf);
}

static void
fuzz_headers(const uint8_t *data, size_t size, const uint8_t *f[NFIELDS],
    const size_t flen[NFIELDS])
{
	struct doh_req r;
	struct doh_req_plan plan;
	const char *endpoint = endpoints[(data[0] >> 6) & 3];
	size_t max_query = 12 + (size_t)data[1] * 17, path_len, qlen, vlen;
	char *method, *path, *ct, *cl;
	const char *query, *v;
	int st, want;

	method = dup_exact(f[0], flen[0]);
	path = dup_exact(f[1], flen[1]);
	ct = dup_exact(f[2], flen[2]);
	cl = dup_exact(f[3], flen[3]);
	if (method == NULL || path == NULL || ct == NULL || cl == NULL)
		goto out;
	memset(&r, 0, sizeof(r));
	r.method = flen[0] > 0 ? doh_req_method(method, flen[0]) :
	    DOH_METHOD_NONE;
	r.has_path = data[0] & 1;
	r.path = r.has_path ? path : NULL;
	r.path_len = r.has_path ? flen[1] : 0;
	if (data[0] & 2) {
		r.content_type = ct;
		r.content_type_len = flen[2];
	}
	if (data[0] & 4) {
		r.content_length = cl;
		r.content_length_len = flen[3];
	}
	r.malformed = data[0] & 8;
	r.uri_too_long = data[0] & 16;

	st = doh_req_check_headers(&r, endpoint, max_query, &plan);

	/* the order of request.h */
	if (r.method == DOH_METHOD_OTHER)
		want = 501;
	else if (r.uri_too_long)
		want = 414;
	else if (r.method == DOH_METHOD_NONE || !r.has_path || r.malformed)
		want = 400;
	else
		want = -1;	/* depends on the path: checked below */
	if (want != -1) {
		CHECK(st == want);
		goto out;
	}
	doh_req_split_path(path, flen[1], &path_len, &query, &qlen);
	CHECK(path_len <= flen[1] && query >= path &&
	    query + qlen == path + flen[1]);
	if (path_len != strlen(endpoint) ||
	    memcmp(path, endpoint, path_len) != 0) {
		CHECK(st == 404);
		goto out;
	}
	CHECK(doh_req_content_type_ok(ct, flen[2]) == ref_ct_ok(ct, flen[2]));
	if ((data[0] & 2) && !ref_ct_ok(ct, flen[2])) {
		CHECK(st == 415);
		goto out;
	}
	if (r.method == DOH_METHOD_GET) {
		uint8_t *q, *ref;
		long n;

		if (!doh_req_find_dns(query, qlen, &v, &vlen)) {
			CHECK(st == 400);
			goto out;
		}
		CHECK(v >= query && v + vlen <= query + qlen);
		CHECK(v == query || v[-1] == '=');
		if (st != 0) {
			CHECK(st == 400 || st == 414);
			goto out;
		}
		CHECK(plan.dns >= v && plan.dns + plan.dns_len <= v + vlen);
		CHECK(plan.query_size >= DOH_MIN_QUERY);
		CHECK(plan.query_size <= max_query);
		/* the buffer h2.c allocates: exactly query_size */
		q = malloc(plan.query_size);
		ref = malloc(plan.query_size + 3);
		if (q == NULL || ref == NULL) {
			free(q);
			free(ref);
			goto out;
		}
		st = doh_req_decode_get(&plan, q, plan.query_size);
		n = base64url_decode(plan.dns, plan.dns_len, ref,
		    plan.query_size + 3);
		if (st == 0) {
			CHECK(n == (long)plan.query_size);
			CHECK(memcmp(q, ref, plan.query_size) == 0);
		} else {
			CHECK(st == 400 && n != (long)plan.query_size);
		}
		free(q);
		free(ref);
		goto out;
	}
	/* POST */
	if (data[0] & 4) {
		size_t len, got;

		CHECK((doh_req_parse_length(cl, flen[3], &got) == 0) ==
		    (ref_length(cl, flen[3], &len) == 0));
		if (ref_length(cl, flen[3], &len) != 0) {
			CHECK(st == 400);
			goto out;
		}
		CHECK(got == len);
		if (len > max_query) {
			CHECK(st == 413);
			goto out;
		}
		CHECK(st == 0 && plan.has_content_length &&
		    plan.query_size == len);
	} else {
		CHECK(st == 0 && !plan.has_content_length);
	}
	fuzz_body(&plan, max_query, f[4], flen[4]);
out:
	free(method);
	free(path);
	free(ct);
	free(cl);
	(void)size;
}

/* Forwarded / X-Forwarded-For / X-Real-IP lines of field 5 on. */
static void
fuzz_forwarded(const uint8_t *data, const uint8_t *p, size_t n)
{
	struct doh_fwd fw;
	struct sockaddr_in peer;
	struct sockaddr_storage out;
	socklen_t outlen = 0;
	char *vals[NHDRS];
	int nv = 0, i;
	bool used;

	memset(&fw, 0, sizeof(fw));
	while (n > 0 && nv < NHDRS) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;
		const uint8_t *colon = memchr(p, ':', len);

		if (colon != NULL) {
			size_t nlen = (size_t)(colon - p);
			int kind = doh_fwd_kind_of((const char *)p, nlen, true);
			size_t vl = len - nlen - 1;

			vals[nv] = dup_exact(colon + 1, vl);
			if (vals[nv] == NULL)
				break;
			doh_fwd_add(&fw, kind, vals[nv], vl);
			nv++;
		}
		if (nl == NULL)
			break;
		n -= len + 1;
		p += len + 1;
	}
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_addr.s_addr = htonl((data[0] & 32) ? 0x7f000001 :
	    0xc0000201);
	for (i = 0; i < 3; i++)
		CHECK(fw.n[i] <= DOH_FWD_MAX);
	used = doh_fwd_client(&trusted, (struct sockaddr *)&peer,
	    sizeof(peer), &fw, &out, &outlen);
	if (used) {
		CHECK(data[0] & 32);
		CHECK((out.ss_family == AF_INET &&
		    outlen == sizeof(struct sockaddr_in)) ||
		    (out.ss_family == AF_INET6 &&
		    outlen == sizeof(struct sockaddr_in6)));
	} else {
		CHECK(outlen == sizeof(peer));
		CHECK(memcmp(&out, &peer, sizeof(peer)) == 0);
	}
	for (i = 0; i < nv; i++)
		free(vals[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *f[NFIELDS], *p;
	size_t flen[NFIELDS], n;
	int i;

	if (size < 2 || size > 65536)
		return 0;
	trusted_init();
	p = data + 2;
	n = size - 2;
	for (i = 0; i < NFIELDS; i++) {
		const uint8_t *nl = i < NFIELDS - 1 ? memchr(p, '\n', n) : NULL;
		size_t len = nl ? (size_t)(nl - p) : n;

		f[i] = p;
		flen[i] = len;
		p += len;
		n -= len;
		if (nl != NULL) {
			p++;
			n--;
		}
	}
	fuzz_headers(data, size, f, flen);
	fuzz_forwarded(data, f[5], flen[5]);
	/* the status line text exists for every status we send */
	CHECK(doh_req_status_text(data[1] + 300)[0] != '\0');
	return 0;
}

#define FUZZ_INPUT_MAX (65536)
#include "testdata/fuzz/standalone.h"
