/*
 * module/doh/request.h - the DoH request rules (RFC 8484 as Unbound
 * applies them) as pure functions, shared by HTTP/2 and HTTP/1.1.
 *
 * These functions look at the method, the :path, the content-type and
 * content-length headers and the body length, and say which HTTP status
 * a request earns: 0 (go on) or 400, 404, 413, 414, 415, 501.  They do
 * not allocate, do not touch nghttp2, sockets or budgets, and keep no
 * state: the caller (h2.c) collects the headers and the body.
 *
 * The order of checks when several apply: 501 (method), 414 (a :path
 * too long to be kept, flagged by the caller), 400 (no
 * method or path, or malformed), 404 (path), 415 (content-type), then for GET 414 (dns= too long), 400 (no dns=,
 * bad base64url, shorter than a DNS header) and for POST 413
 * (content-length above max_query), 400 (bad content-length).
 */
#ifndef CAIRN_MODULE_DOH_REQUEST_H
#define CAIRN_MODULE_DOH_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct netblock_set;

/* The smallest DNS message: a header. */
#define DOH_MIN_QUERY		12
/* Query size with harden-large-queries: yes. */
#define DOH_HARDENED_MAX_QUERY	512

enum doh_method {
	DOH_METHOD_NONE = 0,	/* no :method seen */
	DOH_METHOD_GET,
	DOH_METHOD_POST,
	DOH_METHOD_OTHER	/* HEAD, PUT, ...: 501 */
};

/* What a request said in its headers; strings are borrowed. */
struct doh_req {
	enum doh_method method;
	const char *path;		/* :path, with its query string */
	size_t path_len;
	bool has_path;
	const char *content_type;	/* NULL = absent (accepted) */
	size_t content_type_len;
	const char *content_length;	/* NULL = absent */
	size_t content_length_len;
	bool malformed;			/* e.g. a repeated :path: 400 */
	bool uri_too_long;		/* :path over the header list: 414 */
};

/* The outcome of doh_req_check_headers. */
struct doh_req_plan {
	/* GET: the dns= value (padding stripped) and its decoded size. */
	const char *dns;
	size_t dns_len;
	/* GET: exact decoded size; POST: content-length, or 0 when
	 * there is none (then the first DATA frame sets the size). */
	size_t query_size;
	bool has_content_length;
};

/* Method name (not NUL-terminated) to enum; case-sensitive (RFC 9110). */
enum doh_method doh_req_method(const char *s, size_t len);

/*
 * Split a :path at the first '?': *path_len is the length of the path
 * part; *query points just after '?' (or at the end) with *query_len.
 */
void doh_req_split_path(const char *p, size_t len, size_t *path_len,
    const char **query, size_t *query_len);

/*
 * Find the first "dns=" parameter among the '&'-separated parameters of
 * a query string.  Returns true and sets *val, *val_len (may be 0) if
 * there is one.
 */
bool doh_req_find_dns(const char *q, size_t qlen, const char **val,
    size_t *val_len);

/*
 * True when a content-type value is application/dns-message: the media
 * type before any ';' parameters, spaces trimmed, compared without case.
 */
bool doh_req_content_type_ok(const char *ct, size_t len);

/*
 * Parse a content-length value: decimal digits only.  Returns 0 and sets
 * *out (saturated at SIZE_MAX), or -1 when malformed.
 */
int doh_req_parse_length(const char *s, size_t len, size_t *out);

/* Largest unpadded base64url length that decodes to <= max bytes. */
size_t doh_req_b64_max_len(size_t max);
/* Bytes that an unpadded base64url string of 'len' decodes to, or
 * (size_t)-1 when no string of that length is valid (len % 4 == 1). */
size_t doh_req_b64_decoded_len(size_t len);

/*
 * The checks that need only the headers (see the order at the top).
 * 'endpoint' is http-endpoint, 'max_query' the largest query accepted.
 * Returns 0 and fills 'plan', or the HTTP status to answer.
 */
int doh_req_check_headers(const struct doh_req *r, const char *endpoint,
    size_t max_query, struct doh_req_plan *plan);

/*
 * Decode the GET dns= value of 'plan' into out (cap must be
 * plan->query_size).  Returns 0, or 400 when it is not valid base64url.
 */
int doh_req_decode_get(const struct doh_req_plan *plan, uint8_t *out,
    size_t cap);

/*
 * POST without content-length: the first DATA frame of 'frame_len'
 * bytes sets the buffer size.  Returns 0, or 413 above max_query.
 */
int doh_req_first_frame(size_t frame_len, size_t max_query);

/*
 * POST body: 'add' more bytes arrive when 'have' of 'cap' are held.
 * Returns 0, or 413 when they do not fit (more than content-length, or
 * more than the first DATA frame without content-length).
 */
int doh_req_body_data(size_t have, size_t cap, size_t add);

/*
 * The request is complete with a query of 'len' bytes: 0, or 400 when
 * it is empty or shorter than a DNS header.
 */
int doh_req_check_query(size_t len);

/*
 * The POST body ended with 'len' bytes: 413 when more than the
 * content-length, 400 when fewer, or as doh_req_check_query.
 */
int doh_req_body_final(size_t len, bool has_content_length,
    size_t content_length);

/* Reason phrase for a status this module sends ("Not Found"). */
const char *doh_req_status_text(int status);

/*
 * The cache-control value of a 200 answer: "max-age=TTL" ('ttl' the
 * answer's dns_reply_min_ttl; nothing when it is < 0), preceded by
 * "private" when the answer is tailored to the client's subnet
 * (res_answer_tailored: shared caches must not keep it).  Written
 * NUL-terminated into buf[cap]; returns its length, 0 for no header.
 */
size_t doh_req_cache_control(char *buf, size_t cap, int64_t ttl,
    bool private_answer);

/*
 * Forwarded client addresses (http-trusted-proxy), shared by HTTP/2 and
 * HTTP/1.1.  The caller adds the values of every Forwarded,
 * X-Forwarded-For and X-Real-IP header field of a request in the order
 * they came (values borrowed: they must stay valid until
 * doh_fwd_client); doh_fwd_client then picks the client address.
 * Only the last DOH_FWD_MAX fields of each kind are kept (the right-most
 * hops, the ones the trusted proxies wrote).
 */
#define DOH_FWD_MAX	8

enum doh_fwd_kind {
	DOH_FWD_FORWARDED = 0,	/* RFC 7239 Forwarded: for= */
	DOH_FWD_XFF,		/* X-Forwarded-For */
	DOH_FWD_XREALIP,	/* X-Real-IP */
	DOH_FWD_KINDS
};

struct doh_fwd {
	const char *v[DOH_FWD_KINDS][DOH_FWD_MAX];
	size_t len[DOH_FWD_KINDS][DOH_FWD_MAX];
	unsigned n[DOH_FWD_KINDS];
};

/* The kind of a header name (lower case, as HTTP/2 sends it; HTTP/1.1
 * callers compare without case), or -1 when it is none of the three. */
int doh_fwd_kind_of(const char *name, size_t len, bool nocase);

/* Add one header field value of 'kind' (a DOH_FWD_* value). */
void doh_fwd_add(struct doh_fwd *f, int kind, const char *v, size_t len);

/*
 * The client address of a request that came from 'peer'.  When 'trusted'
 * (may be NULL or empty) holds the peer, the hops of the first kind
 * present (Forwarded, then X-Forwarded-For, then X-Real-IP) are walked
 * from the right: the result is the right-most hop that is not itself
 * in 'trusted' (or the left-most hop when all are trusted); a hop that
 * is not an IP address ("unknown", "_hidden", garbage) ends the walk
 * with the hop before it.  Otherwise (peer not trusted, no header) the
 * result is the peer.  Writes the address (port 0 for a forwarded one)
 * to *out, *outlen.  Returns true when a forwarded address was used.
 */
bool doh_fwd_client(const struct netblock_set *trusted,
    const struct sockaddr *peer, socklen_t peerlen, const struct doh_fwd *f,
    struct sockaddr_storage *out, socklen_t *outlen);

#endif
