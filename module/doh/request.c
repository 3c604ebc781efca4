/*
 * module/doh/request.c - the DoH request rules as pure functions: which
 * HTTP status a request gets from its method, :path, dns= parameter,
 * content-type, content-length and body size; and which address is the
 * client's when a trusted proxy forwarded the request (doh_fwd_*).  No
 * allocation, no I/O, no nghttp2: see request.h for the contract and the
 * order of checks.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dns/base64url.h"
#include "module/doh/request.h"
#include "util/netblock.h"

enum doh_method
doh_req_method(const char *s, size_t len)
{
	if (len == 3 && memcmp(s, "GET", 3) == 0)
		return DOH_METHOD_GET;
	if (len == 4 && memcmp(s, "POST", 4) == 0)
		return DOH_METHOD_POST;
	return DOH_METHOD_OTHER;
}

void
doh_req_split_path(const char *p, size_t len, size_t *path_len,
    const char **query, size_t *query_len)
{
	const char *q = memchr(p, '?', len);

	if (q == NULL) {
		*path_len = len;
		*query = p + len;
		*query_len = 0;
		return;
	}
	*path_len = (size_t)(q - p);
	*query = q + 1;
	*query_len = len - *path_len - 1;
}

bool
doh_req_find_dns(const char *q, size_t qlen, const char **val,
    size_t *val_len)
{
	size_t i = 0;

	while (i <= qlen) {
		const char *amp = memchr(q + i, '&', qlen - i);
		size_t end = amp ? (size_t)(amp - q) : qlen;

		if (end - i >= 4 && memcmp(q + i, "dns=", 4) == 0) {
			*val = q + i + 4;
			*val_len = end - i - 4;
			return true;
		}
		if (amp == NULL)
			break;
		i = end + 1;
	}
	return false;
}

static int
lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

bool
doh_req_content_type_ok(const char *ct, size_t len)
{
	static const char want[] = "application/dns-message";
	const size_t wlen = sizeof(want) - 1;
	const char *semi = memchr(ct, ';', len);
	size_t b = 0, e = semi ? (size_t)(semi - ct) : len;
	size_t i;

	while (b < e && (ct[b] == ' ' || ct[b] == '\t'))
		b++;
	while (e > b && (ct[e - 1] == ' ' || ct[e - 1] == '\t'))
		e--;
	if (e - b != wlen)
		return false;
	for (i = 0; i < wlen; i++)
		if (lower((unsigned char)ct[b + i]) != want[i])
			return false;
	return true;
}

int
doh_req_parse_length(const char *s, size_t len, size_t *out)
{
	size_t v = 0, i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (SIZE_MAX - d) / 10)
			v = SIZE_MAX;	/* saturate: surely too large */
		else
			v = v * 10 + d;
	}
	*out = v;
	return 0;
}

size_t
doh_req_b64_max_len(size_t max)
{
	/* 3 bytes -> 4 characters; a tail of 1 or 2 bytes -> 2 or 3. */
	return (max / 3) * 4 + (max % 3 ? max % 3 + 1 : 0);
}

size_t
doh_req_b64_decoded_len(size_t len)
{
	switch (len % 4) {
	case 0:
		return len / 4 * 3;
	case 2:
		return len / 4 * 3 + 1;
	case 3:
		return len / 4 * 3 + 2;
	default:
		return (size_t)-1;
	}
}

int
doh_req_check_headers(const struct doh_req *r, const char *endpoint,
    size_t max_query, struct doh_req_plan *plan)
{
	const char *query;
	size_t path_len, query_len;

	memset(plan, 0, sizeof(*plan));
	if (r->method == DOH_METHOD_OTHER)
		return 501;
	if (r->uri_too_long)
		return 414;
	if (r->method == DOH_METHOD_NONE || !r->has_path || r->malformed)
		return 400;	/* nghttp2 refuses these first; HTTP/1.1 */
	doh_req_split_path(r->path, r->path_len, &path_len, &query,
	    &query_len);
	if (path_len != strlen(endpoint) ||
	    memcmp(r->path, endpoint, path_len) != 0)
		return 404;
	if (r->content_type != NULL &&
	    !doh_req_content_type_ok(r->content_type, r->content_type_len))
		return 415;

	if (r->method == DOH_METHOD_GET) {
		const char *v;
		size_t vlen, n;

		if (!doh_req_find_dns(query, query_len, &v, &vlen))
			return 400;
		/* padding is optional: at most two '=' at the end */
		if (vlen > 0 && v[vlen - 1] == '=')
			vlen--;
		if (vlen > 0 && v[vlen - 1] == '=')
			vlen--;
		if (vlen > doh_req_b64_max_len(max_query))
			return 414;
		n = doh_req_b64_decoded_len(vlen);
		if (n == (size_t)-1 || n < DOH_MIN_QUERY)
			return 400;
		plan->dns = v;
		plan->dns_len = vlen;
		plan->query_size = n;
		return 0;
	}

	/* POST */
	if (r->content_length != NULL) {
		size_t cl;

		if (doh_req_parse_length(r->content_length,
		    r->content_length_len, &cl) != 0)
			return 400;
		if (cl > max_query)
			return 413;
		plan->query_size = cl;
		plan->has_content_length = true;
	}
	return 0;
}

int
doh_req_decode_get(const struct doh_req_plan *plan, uint8_t *out, size_t cap)
{
	long n;

	if (cap < plan->query_size)
		return 400;
	n = base64url_decode(plan->dns, plan->dns_len, out, cap);
	if (n < 0 || (size_t)n != plan->query_size)
		return 400;
	return 0;
}

int
doh_req_first_frame(size_t frame_len, size_t max_query)
{
	return frame_len > max_query ? 413 : 0;
}

int
doh_req_body_data(size_t have, size_t cap, size_t add)
{
	return (have > cap || add > cap - have) ? 413 : 0;
}

int
doh_req_check_query(size_t len)
{
	return len < DOH_MIN_QUERY ? 400 : 0;
}

int
doh_req_body_final(size_t len, bool has_content_length, size_t content_length)
{
	if (has_content_length && len != content_length)
		return len > content_length ? 413 : 400;
	return doh_req_check_query(len);
}

const char *
doh_req_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* ------------------------------------------------------------ forwarded */

static bool
eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t i, blen = strlen(b);

	if (alen != blen)
		return false;
	for (i = 0; i < blen; i++)
		if (lower((unsigned char)a[i]) != b[i])
			return false;
	return true;
}

int
doh_fwd_kind_of(const char *name, size_t len, bool nocase)
{
	static const char *const names[DOH_FWD_KINDS] = {
		"forwarded", "x-forwarded-for", "x-real-ip"
	};
	int k;

	for (k = 0; k < DOH_FWD_KINDS; k++) {
		if (nocase ? eq_nocase(name, len, names[k]) :
		    (len == strlen(names[k]) &&
		    memcmp(name, names[k], len) == 0))
			return k;
	}
	return -1;
}

void
doh_fwd_add(struct doh_fwd *f, int kind, const char *v, size_t len)
{
	unsigned n;

	if (kind < 0 || kind >= DOH_FWD_KINDS)
		return;
	n = f->n[kind];
	if (n == DOH_FWD_MAX) {
		/* keep the right-most fields: drop the oldest */
		memmove(&f->v[kind][0], &f->v[kind][1],
		    (DOH_FWD_MAX - 1) * sizeof(f->v[kind][0]));
		memmove(&f->len[kind][0], &f->len[kind][1],
		    (DOH_FWD_MAX - 1) * sizeof(f->len[kind][0]));
		n--;
	}
	f->v[kind][n] = v;
	f->len[kind][n] = len;
	f->n[kind] = n + 1;
}

static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/*
 * One hop: "192.0.2.1", "192.0.2.1:80", "2001:db8::1", "[2001:db8::1]",
 * "[2001:db8::1]:80", optionally in double quotes.  Returns false for
 * anything else ("unknown", "_hidden", a zone index, garbage).
 */
static bool
parse_hop(const char *s, size_t len, struct sockaddr_storage *out,
    socklen_t *outlen)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t i, ncolon = 0;

	trim(&s, &len);
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		size_t rest;

		if (rb == NULL)
			return false;
		rest = len - (size_t)(rb - s) - 1;
		if (rest != 0 && rb[1] != ':')
			return false;
		len = (size_t)(rb - s) - 1;
		s++;
		ncolon = 2;	/* IPv6 */
	} else {
		for (i = 0; i < len; i++)
			if (s[i] == ':')
				ncolon++;
		if (ncolon == 1) {	/* IPv4 with a port */
			colon = memchr(s, ':', len);
			len = (size_t)(colon - s);
		}
	}
	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = 0;
	memset(out, 0, sizeof(*out));
	if (ncolon < 2) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, tmp, &sin->sin_addr) != 1)
			return false;
		sin->sin_family = AF_INET;
		*outlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) != 1)
			return false;
		sin6->sin6_family = AF_INET6;
		*outlen = sizeof(*sin6);
	}
	return true;
}

/* The for= value of one Forwarded element ("for=x;proto=https"). */
static bool
forwarded_for(const char *s, size_t len, const char **v, size_t *vlen)
{
	size_t i = 0;

	while (i < len) {
		const char *semi = memchr(s + i, ';', len - i);
		size_t end = semi ? (size_t)(semi - s) : len;
		const char *p = s + i;
		size_t plen = end - i;

		trim(&p, &plen);
		if (plen >= 4 && eq_nocase(p, 4, "for=")) {
			*v = p + 4;
			*vlen = plen - 4;
			return true;
		}
		i = end + 1;
	}
	return false;
}

bool
doh_fwd_client(const struct netblock_set *trusted,
    const struct sockaddr *peer, socklen_t peerlen, const struct doh_fwd *f,
    struct sockaddr_storage *out, socklen_t *outlen)
{
	struct sockaddr_storage hop;
	socklen_t hoplen;
	bool have = false, stop = false;
	int k;
	unsigned i;

	for (k = 0; k < DOH_FWD_KINDS; k++)
		if (f != NULL && f->n[k] > 0)
			break;
	if (trusted == NULL || trusted->n == 0 || peer == NULL ||
	    k == DOH_FWD_KINDS || netblock_lookup(trusted, peer) == NULL)
		goto use_peer;

	/* the fields right to left, the hops of each right to left */
	for (i = f->n[k]; i > 0 && !stop; i--) {
		const char *s = f->v[k][i - 1];
		size_t end = f->len[k][i - 1];

		while (!stop) {
			size_t b = end;
			const char *h;
			size_t hlen;

			while (b > 0 && s[b - 1] != ',')
				b--;
			h = s + b;
			hlen = end - b;
			trim(&h, &hlen);
			if (hlen > 0) {
				if (k == DOH_FWD_FORWARDED &&
				    !forwarded_for(h, hlen, &h, &hlen)) {
					stop = true;
					break;
				}
				if (!parse_hop(h, hlen, &hop, &hoplen)) {
					stop = true;
					break;
				}
				memcpy(out, &hop, sizeof(hop));
				*outlen = hoplen;
				have = true;
				if (netblock_lookup(trusted,
				    (const struct sockaddr *)&hop) == NULL)
					stop = true;
			}
			if (b == 0)
				break;
			end = b - 1;
		}
	}
	if (have)
		return true;
use_peer:
	memset(out, 0, sizeof(*out));
	if (peer != NULL && peerlen <= (socklen_t)sizeof(*out)) {
		memcpy(out, peer, (size_t)peerlen);
		*outlen = peerlen;
	} else {
		*outlen = 0;
	}
	return false;
}

size_t
doh_req_cache_control(char *buf, size_t cap, int64_t ttl, bool private_answer)
{
	char tmp[48], dig[20];
	size_t n = 0, d = 0;
	uint64_t v;

	/* by hand: snprintf cost more than the rest of a cached answer */
	if (private_answer) {
		memcpy(tmp, "private", 7);
		n = 7;
		if (ttl >= 0) {
			memcpy(tmp + n, ", ", 2);
			n += 2;
		}
	}
	if (ttl >= 0) {
		memcpy(tmp + n, "max-age=", 8);
		n += 8;
		v = (uint64_t)ttl;
		do {
			dig[d++] = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0);
		while (d > 0)
			tmp[n++] = dig[--d];
	}
	if (n == 0 || n >= cap) {
		if (cap > 0)
			buf[0] = '\0';
		return 0;
	}
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return n;
}
