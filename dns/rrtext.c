/*
 * dns/rrtext.c - resource records in presentation (zone file) format:
 * parse one RR for local-data, print an RR of a received message for
 * the client and the logs.
 *
 * Parsing knows A, AAAA, NS, CNAME, PTR, MX, TXT, SOA, SRV, CAA, DS and
 * the RFC 3597 "\# len hex" form for any type.  Printing also knows
 * DNSKEY, RRSIG, NSEC, NSEC3, SVCB and HTTPS; anything else, or rdata
 * that does not fit its type, prints in the "\#" form.  There is no
 * $ORIGIN, no '@' and no relative name: every name is absolute.  No
 * allocation: the caller's struct dns_rr or text buffer is the output.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dns/rrtext.h"
#include "dns/wire.h"
#include "dns/wire_int.h"

#define TOKEN_MAX	4096	/* longest token we copy out (names, hex) */

/* ------------------------------------------------------------ tokens */

struct tokenizer {
	const char *p;
};

struct token {
	const char *s;		/* raw text, escapes unprocessed */
	size_t len;
	bool quoted;
};

/*
 * Next token: whitespace and unquoted parentheses separate, ';' starts
 * a comment to the end, "..." is one token (backslash escapes kept
 * inside it).  Returns 1, 0 at the end, -1 for an unclosed quote.
 */
static int
token_next(struct tokenizer *tz, struct token *t)
{
	const char *p = tz->p;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' ||
	    *p == '(' || *p == ')')
		p++;
	if (*p == '\0' || *p == ';') {
		tz->p = p;
		return 0;
	}
	if (*p == '"') {
		const char *q = ++p;

		while (*q != '"') {
			if (*q == '\0')
				return -1;
			if (*q == '\\' && q[1] != '\0')
				q++;
			q++;
		}
		t->s = p;
		t->len = (size_t)(q - p);
		t->quoted = true;
		tz->p = q + 1;
		return 1;
	}
	t->s = p;
	while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' &&
	    *p != '\n' && *p != '(' && *p != ')' && *p != ';' && *p != '"') {
		if (*p == '\\' && p[1] != '\0')
			p++;
		p++;
	}
	t->len = (size_t)(p - t->s);
	t->quoted = false;
	tz->p = p;
	return 1;
}

/* NUL-terminated copy of a token; false if too long. */
static bool
token_str(const struct token *t, char *buf, size_t cap)
{
	if (t->len + 1 > cap)
		return false;
	memcpy(buf, t->s, t->len);
	buf[t->len] = '\0';
	return true;
}

/* Unsigned decimal token <= max into *v. */
static bool
token_uint(const struct token *t, unsigned long max, unsigned long *v)
{
	size_t i;
	unsigned long x = 0;

	if (t->len == 0 || t->len > 10 || t->quoted)
		return false;
	for (i = 0; i < t->len; i++) {
		if (!isdigit((unsigned char)t->s[i]))
			return false;
		x = x * 10 + (unsigned long)(t->s[i] - '0');
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

/* TTL: digits, or BIND-style units "1h30m" (s m h d w). */
static bool
token_ttl(const struct token *t, uint32_t *ttl)
{
	unsigned long long total = 0, cur = 0;
	bool digits = false, any = false;
	size_t i;

	if (t->quoted || t->len == 0 || t->len > 20)
		return false;
	if (!isdigit((unsigned char)t->s[0]))
		return false;
	for (i = 0; i < t->len; i++) {
		char c = (char)tolower((unsigned char)t->s[i]);
		unsigned long long mul;

		if (isdigit((unsigned char)c)) {
			cur = cur * 10 + (unsigned long long)(c - '0');
			if (cur > 0xffffffffULL)
				return false;
			digits = true;
			continue;
		}
		switch (c) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 604800; break;
		default: return false;
		}
		if (!digits)
			return false;
		total += cur * mul;
		cur = 0;
		digits = false;
		any = true;
	}
	if (digits && any)
		return false;	/* "1h5": a number after units */
	total += cur;
	if (total > 0x7fffffffULL)
		return false;
	*ttl = (uint32_t)total;
	return true;
}

/* ------------------------------------------------------------ rdata out */

struct rdbuf {
	uint8_t *p;
	size_t len;
	bool overflow;
};

static void
rd_put(struct rdbuf *r, const void *d, size_t n)
{
	if (r->overflow || r->len + n > 65535) {
		r->overflow = true;
		return;
	}
	memcpy(r->p + r->len, d, n);
	r->len += n;
}

static void
rd_u8(struct rdbuf *r, unsigned long v)
{
	uint8_t b = (uint8_t)v;

	rd_put(r, &b, 1);
}

static void
rd_u16(struct rdbuf *r, unsigned long v)
{
	uint8_t b[2];

	dns_wr16(b, (uint16_t)v);
	rd_put(r, b, 2);
}

static void
rd_u32(struct rdbuf *r, unsigned long v)
{
	uint8_t b[4];

	dns_wr32(b, (uint32_t)v);
	rd_put(r, b, 4);
}

/*
 * Decode a token's escapes (\X and \DDD) into dst (at most cap bytes).
 * Returns the length or -1.
 */
static long
unescape(const struct token *t, uint8_t *dst, size_t cap)
{
	size_t i = 0, n = 0;

	while (i < t->len) {
		int c = (unsigned char)t->s[i++];

		if (c == '\\') {
			if (i >= t->len)
				return -1;
			if (isdigit((unsigned char)t->s[i])) {
				if (i + 2 >= t->len ||
				    !isdigit((unsigned char)t->s[i + 1]) ||
				    !isdigit((unsigned char)t->s[i + 2]))
					return -1;
				c = (t->s[i] - '0') * 100 + (t->s[i + 1] - '0') *
				    10 + (t->s[i + 2] - '0');
				if (c > 255)
					return -1;
				i += 3;
			} else {
				c = (unsigned char)t->s[i++];
			}
		}
		if (n >= cap)
			return -1;
		dst[n++] = (uint8_t)c;
	}
	return (long)n;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex digits of a token appended to r; an odd count leaves a nibble in
 * *half (-1 when none).  Returns 0 or -1. */
static int
rd_hex(struct rdbuf *r, const struct token *t, int *half)
{
	size_t i;

	for (i = 0; i < t->len; i++) {
		int v = hexval((unsigned char)t->s[i]);

		if (v < 0 || t->quoted)
			return -1;
		if (*half < 0) {
			*half = v;
		} else {
			rd_u8(r, (unsigned long)((*half << 4) | v));
			*half = -1;
		}
	}
	return 0;
}

static int
rd_name(struct rdbuf *r, const struct token *t)
{
	char buf[TOKEN_MAX];
	uint8_t w[DNS_MAX_NAME];
	size_t n;

	if (t->quoted || !token_str(t, buf, sizeof(buf)))
		return -1;
	n = dns_name_from_text(buf, w);
	if (n == 0)
		return -1;
	rd_put(r, w, n);
	return 0;
}

/* one <character-string> (RFC 1035 3.3) from a token */
static int
rd_charstr(struct rdbuf *r, const struct token *t)
{
	uint8_t s[256];
	long n = unescape(t, s + 1, 255);

	if (n < 0)
		return -1;
	s[0] = (uint8_t)n;
	rd_put(r, s, (size_t)n + 1);
	return 0;
}

/* ------------------------------------------------------------ parse */

/* Parse the rdata of 'type' from the tokens left in tz.  Returns 0, or
 * -1 with *why set. */
static int
parse_rdata(struct tokenizer *tz, uint16_t type, struct rdbuf *r,
    const char **why)
{
	struct token t;
	unsigned long v[5];
	char buf[TOKEN_MAX];
	int k, i;

	k = token_next(tz, &t);
	if (k < 0) {
		*why = "unclosed quote";
		return -1;
	}
	if (k == 0) {
		*why = "missing rdata";
		return -1;
	}
	if (t.len == 2 && memcmp(t.s, "\\#", 2) == 0 && !t.quoted) {
		/* RFC 3597 generic form */
		int half = -1;

		if (token_next(tz, &t) != 1 || !token_uint(&t, 65535, &v[0])) {
			*why = "\\# needs a length";
			return -1;
		}
		while ((k = token_next(tz, &t)) == 1)
			if (rd_hex(r, &t, &half) != 0) {
				*why = "bad hex in \\# rdata";
				return -1;
			}
		if (k < 0 || half >= 0 || r->overflow || r->len != v[0]) {
			*why = "\\# length does not match the hex data";
			return -1;
		}
		return 0;
	}
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA: {
		uint8_t a[16];

		if (t.quoted || !token_str(&t, buf, sizeof(buf)) ||
		    inet_pton(type == DNS_T_A ? AF_INET : AF_INET6, buf,
		    a) != 1) {
			*why = type == DNS_T_A ? "bad IPv4 address" :
			    "bad IPv6 address";
			return -1;
		}
		rd_put(r, a, type == DNS_T_A ? 4 : 16);
		break;
	}
	case DNS_T_NS:
	case DNS_T_CNAME:
	case DNS_T_PTR:
		if (rd_name(r, &t) != 0) {
			*why = "bad domain name";
			return -1;
		}
		break;
	case DNS_T_MX:
		if (!token_uint(&t, 65535, &v[0])) {
			*why = "bad MX preference";
			return -1;
		}
		rd_u16(r, v[0]);
		if (token_next(tz, &t) != 1 || rd_name(r, &t) != 0) {
			*why = "bad MX exchange name";
			return -1;
		}
		break;
	case DNS_T_TXT:
		do {
			if (rd_charstr(r, &t) != 0) {
				*why = "bad TXT string (longer than 255 "
				    "or bad escape)";
				return -1;
			}
		} while ((k = token_next(tz, &t)) == 1);
		if (k < 0) {
			*why = "unclosed quote";
			return -1;
		}
		return r->overflow ? (*why = "rdata too long", -1) : 0;
	case DNS_T_SOA:
		if (rd_name(r, &t) != 0 || token_next(tz, &t) != 1 ||
		    rd_name(r, &t) != 0) {
			*why = "bad SOA name";
			return -1;
		}
		for (i = 0; i < 5; i++) {
			uint32_t x = 0;
			bool ok;

			ok = token_next(tz, &t) == 1;
			if (ok && i == 0)	/* serial: a plain number */
				ok = token_uint(&t, 0xffffffffUL, &v[0]);
			else if (ok)		/* timers may have units */
				ok = token_ttl(&t, &x) && ((v[i] = x), true);
			if (!ok) {
				*why = "SOA needs serial refresh retry "
				    "expire minimum";
				return -1;
			}
			rd_u32(r, v[i]);
		}
		break;
	case DNS_T_SRV:
		for (i = 0; i < 3; i++) {
			if ((i > 0 && token_next(tz, &t) != 1) ||
			    !token_uint(&t, 65535, &v[i])) {
				*why = "SRV needs priority weight port target";
				return -1;
			}
			rd_u16(r, v[i]);
		}
		if (token_next(tz, &t) != 1 || rd_name(r, &t) != 0) {
			*why = "bad SRV target";
			return -1;
		}
		break;
	case DNS_T_CAA: {
		uint8_t val[1024];
		long n;
		size_t j;

		if (!token_uint(&t, 255, &v[0])) {
			*why = "bad CAA flags";
			return -1;
		}
		rd_u8(r, v[0]);
		if (token_next(tz, &t) != 1 || t.quoted || t.len == 0 ||
		    t.len > 255) {
			*why = "bad CAA tag";
			return -1;
		}
		for (j = 0; j < t.len; j++)
			if (!isalnum((unsigned char)t.s[j])) {
				*why = "bad CAA tag";
				return -1;
			}
		rd_u8(r, t.len);
		rd_put(r, t.s, t.len);
		if (token_next(tz, &t) != 1 ||
		    (n = unescape(&t, val, sizeof(val))) < 0) {
			*why = "bad CAA value";
			return -1;
		}
		rd_put(r, val, (size_t)n);
		break;
	}
	case DNS_T_DS: {
		int half = -1;
		size_t start;

		if (!token_uint(&t, 65535, &v[0]) || token_next(tz, &t) != 1 ||
		    !token_uint(&t, 255, &v[1]) || token_next(tz, &t) != 1 ||
		    !token_uint(&t, 255, &v[2])) {
			*why = "DS needs key tag, algorithm, digest type";
			return -1;
		}
		rd_u16(r, v[0]);
		rd_u8(r, v[1]);
		rd_u8(r, v[2]);
		start = r->len;
		while ((k = token_next(tz, &t)) == 1)
			if (rd_hex(r, &t, &half) != 0) {
				*why = "bad DS digest hex";
				return -1;
			}
		if (k < 0 || half >= 0 || r->len == start) {
			*why = "bad DS digest hex";
			return -1;
		}
		return r->overflow ? (*why = "rdata too long", -1) : 0;
	}
	default:
		*why = "type not supported in text, use the \\# form";
		return -1;
	}
	if (r->overflow) {
		*why = "rdata too long";
		return -1;
	}
	if ((k = token_next(tz, &t)) != 0) {
		*why = k < 0 ? "unclosed quote" : "trailing data after rdata";
		return -1;
	}
	return 0;
}

int
dns_rr_from_text(const char *s, uint32_t default_ttl, struct dns_rr *rr,
    const char **why)
{
	struct tokenizer tz = { s };
	struct token t;
	struct rdbuf r;
	char buf[TOKEN_MAX];
	const char *dummy;
	bool have_ttl = false, have_class = false;
	int type = -1, k;

	if (why == NULL)
		why = &dummy;
	if (s == NULL || rr == NULL) {
		*why = "no input";
		return -1;
	}
	if (token_next(&tz, &t) != 1 || t.quoted ||
	    !token_str(&t, buf, sizeof(buf)) ||
	    (rr->owner_len = dns_name_from_text(buf, rr->owner)) == 0) {
		*why = "bad owner name";
		return -1;
	}
	rr->ttl = default_ttl;
	rr->rclass = DNS_C_IN;
	/* [TTL] [CLASS] in either order, then the type */
	while ((k = token_next(&tz, &t)) == 1) {
		int c;

		if (t.quoted || !token_str(&t, buf, sizeof(buf)))
			break;
		if (!have_ttl && token_ttl(&t, &rr->ttl)) {
			have_ttl = true;
			continue;
		}
		if (!have_class && (strcasecmp(buf, "IN") == 0 ||
		    strcasecmp(buf, "CH") == 0 || strcasecmp(buf, "HS") == 0 ||
		    strncasecmp(buf, "CLASS", 5) == 0) &&
		    (c = dns_class_from_text(buf)) >= 0) {
			rr->rclass = (uint16_t)c;
			have_class = true;
			continue;
		}
		type = dns_type_from_text(buf);
		break;
	}
	if (type < 0) {
		*why = k == 1 ? "unknown type" : "missing type";
		return -1;
	}
	if (type == DNS_T_OPT) {
		*why = "OPT is not a record type for data";
		return -1;
	}
	rr->type = (uint16_t)type;
	r.p = rr->rdata;
	r.len = 0;
	r.overflow = false;
	if (parse_rdata(&tz, rr->type, &r, why) != 0)
		return -1;
	rr->rdlen = (uint16_t)r.len;
	*why = NULL;
	return 0;
}

/* ------------------------------------------------------------ print */

struct txt {
	char *p;
	size_t len;
	size_t cap;
	bool overflow;
};

static void
tx_printf(struct txt *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tx_printf(struct txt *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		o->p[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

static void
tx_char(struct txt *o, char c)
{
	if (o->overflow || o->len + 2 > o->cap) {
		o->overflow = true;
		return;
	}
	o->p[o->len++] = c;
	o->p[o->len] = '\0';
}

/* a (possibly compressed) name at *off in pkt, not past 'end' */
static int
tx_name(struct txt *o, const uint8_t *pkt, size_t len, size_t *off,
    size_t end)
{
	uint8_t w[DNS_MAX_NAME];
	char s[DNS_MAX_NAME * 4 + 2];
	size_t wl, next;

	if (dns_pkt_name(pkt, len, *off, w, &wl, &next) != 0 || next > end ||
	    dns_name_to_text(w, wl, s, sizeof(s)) != 0)
		return -1;
	tx_printf(o, "%s", s);
	*off = next;
	return 0;
}

static void
tx_hex(struct txt *o, const uint8_t *d, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		tx_char(o, hx[d[i] >> 4]);
		tx_char(o, hx[d[i] & 15]);
	}
}

static void
tx_base64(struct txt *o, const uint8_t *d, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		tx_char(o, b64[(v >> 18) & 63]);
		tx_char(o, b64[(v >> 12) & 63]);
		tx_char(o, i + 1 < n ? b64[(v >> 6) & 63] : '=');
		tx_char(o, i + 2 < n ? b64[v & 63] : '=');
	}
}

/* RFC 4648 base32hex, no padding (NSEC3 next hashed owner) */
static void
tx_base32hex(struct txt *o, const uint8_t *d, size_t n)
{
	static const char b32[] = "0123456789abcdefghijklmnopqrstuv";
	uint32_t acc = 0;
	int bits = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		acc = (acc << 8) | d[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			tx_char(o, b32[(acc >> bits) & 31]);
		}
	}
	if (bits > 0)
		tx_char(o, b32[(acc << (5 - bits)) & 31]);
}

/* a character-string's bytes in quotes, escaped */
static void
tx_quoted(struct txt *o, const uint8_t *d, size_t n)
{
	size_t i;

	tx_char(o, '"');
	for (i = 0; i < n; i++) {
		if (d[i] == '"' || d[i] == '\\') {
			tx_char(o, '\\');
			tx_char(o, (char)d[i]);
		} else if (d[i] < ' ' || d[i] >= 0x7f) {
			tx_printf(o, "\\%03u", d[i]);
		} else {
			tx_char(o, (char)d[i]);
		}
	}
	tx_char(o, '"');
}

static void
tx_type(struct txt *o, uint16_t type)
{
	char b[16];

	tx_printf(o, "%s", dns_type_to_text(type, b));
}

/* NSEC/NSEC3 type bitmap (RFC 4034 4.1.2) */
static int
tx_bitmap(struct txt *o, const uint8_t *d, size_t n)
{
	size_t i = 0;
	int last = -1;

	while (i < n) {
		unsigned win, blen, j, b;

		if (i + 2 > n)
			return -1;
		win = d[i];
		blen = d[i + 1];
		if ((int)win <= last || blen == 0 || blen > 32 ||
		    i + 2 + blen > n)
			return -1;
		last = (int)win;
		for (j = 0; j < blen; j++)
			for (b = 0; b < 8; b++)
				if (d[i + 2 + j] & (0x80 >> b)) {
					tx_char(o, ' ');
					tx_type(o, (uint16_t)(win * 256 +
					    j * 8 + b));
				}
		i += 2 + blen;
	}
	return 0;
}

static void
tx_time(struct txt *o, uint32_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		tx_printf(o, "%u", (unsigned)t);
		return;
	}
	tx_printf(o, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* SVCB/HTTPS SvcParams (RFC 9460 7) */
static int
tx_svcparams(struct txt *o, const uint8_t *d, size_t n)
{
	static const char *const keys[] = { "mandatory", "alpn",
	    "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint" };
	size_t i = 0;
	long last = -1;

	while (i < n) {
		uint16_t key, vl;
		const uint8_t *v;
		size_t j;

		if (i + 4 > n)
			return -1;
		key = dns_rd16(d + i);
		vl = dns_rd16(d + i + 2);
		if ((long)key <= last || i + 4 + vl > n)
			return -1;
		last = key;
		v = d + i + 4;
		i += 4 + (size_t)vl;
		tx_char(o, ' ');
		if (key < 7)
			tx_printf(o, "%s", keys[key]);
		else
			tx_printf(o, "key%u", (unsigned)key);
		switch (key) {
		case 0:		/* mandatory: key list */
			if (vl == 0 || vl % 2)
				return -1;
			for (j = 0; j < vl; j += 2) {
				uint16_t k = dns_rd16(v + j);

				tx_char(o, j ? ',' : '=');
				if (k < 7)
					tx_printf(o, "%s", keys[k]);
				else
					tx_printf(o, "key%u", (unsigned)k);
			}
			break;
		case 1:		/* alpn: length-prefixed ids */
			if (vl == 0)
				return -1;
			tx_char(o, '=');
			tx_char(o, '"');
			for (j = 0; j < vl;) {
				size_t l = v[j], m;

				if (l == 0 || j + 1 + l > vl)
					return -1;
				if (j)
					tx_char(o, ',');
				for (m = 0; m < l; m++) {
					uint8_t c = v[j + 1 + m];

					if (c == ',' || c == '\\') {
						/* RFC 9460 A.1: doubly escaped */
						tx_printf(o, "\\\\%c", c);
					} else if (c == '"') {
						tx_printf(o, "\\\"");
					} else if (c < ' ' || c >= 0x7f) {
						tx_printf(o, "\\%03u", c);
					} else {
						tx_char(o, (char)c);
					}
				}
				j += 1 + l;
			}
			tx_char(o, '"');
			break;
		case 2:		/* no-default-alpn: no value */
			if (vl != 0)
				return -1;
			break;
		case 3:
			if (vl != 2)
				return -1;
			tx_printf(o, "=%u", (unsigned)dns_rd16(v));
			break;
		case 4:
		case 6: {
			size_t al = key == 4 ? 4 : 16;
			char a[INET6_ADDRSTRLEN];

			if (vl == 0 || vl % al)
				return -1;
			for (j = 0; j < vl; j += al) {
				if (inet_ntop(key == 4 ? AF_INET : AF_INET6,
				    v + j, a, sizeof(a)) == NULL)
					return -1;
				tx_char(o, j ? ',' : '=');
				tx_printf(o, "%s", a);
			}
			break;
		}
		case 5:
			tx_char(o, '=');
			tx_base64(o, v, vl);
			break;
		default:
			if (vl > 0) {
				tx_char(o, '=');
				tx_quoted(o, v, vl);
			}
			break;
		}
	}
	return 0;
}

/* The rdata of a known type; -1 when it does not fit the type (the
 * caller then prints the generic form). */
static int
tx_rdata(struct txt *o, const uint8_t *pkt, size_t len,
    const struct dns_rrinfo *rr)
{
	const uint8_t *d = pkt + rr->rdata_off;
	size_t n = rr->rdlen, off = rr->rdata_off, end = off + n;
	char a[INET6_ADDRSTRLEN];

	switch (rr->type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (n != (rr->type == DNS_T_A ? 4u : 16u) ||
		    inet_ntop(rr->type == DNS_T_A ? AF_INET : AF_INET6, d, a,
		    sizeof(a)) == NULL)
			return -1;
		tx_printf(o, "%s", a);
		return 0;
	case DNS_T_NS:
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case 39:	/* DNAME */
		if (tx_name(o, pkt, len, &off, end) != 0 || off != end)
			return -1;
		return 0;
	case DNS_T_MX:
		if (n < 3)
			return -1;
		tx_printf(o, "%u ", (unsigned)dns_rd16(d));
		off += 2;
		if (tx_name(o, pkt, len, &off, end) != 0 || off != end)
			return -1;
		return 0;
	case DNS_T_TXT: {
		size_t i = 0;

		if (n == 0)
			return -1;
		while (i < n) {
			if (i + 1 + d[i] > n)
				return -1;
			if (i)
				tx_char(o, ' ');
			tx_quoted(o, d + i + 1, d[i]);
			i += 1 + (size_t)d[i];
		}
		return 0;
	}
	case DNS_T_SOA:
		if (tx_name(o, pkt, len, &off, end) != 0)
			return -1;
		tx_char(o, ' ');
		if (tx_name(o, pkt, len, &off, end) != 0 || off + 20 != end)
			return -1;
		tx_printf(o, " %u %u %u %u %u", dns_rd32(pkt + off),
		    dns_rd32(pkt + off + 4), dns_rd32(pkt + off + 8),
		    dns_rd32(pkt + off + 12), dns_rd32(pkt + off + 16));
		return 0;
	case DNS_T_SRV:
		if (n < 7)
			return -1;
		tx_printf(o, "%u %u %u ", (unsigned)dns_rd16(d),
		    (unsigned)dns_rd16(d + 2), (unsigned)dns_rd16(d + 4));
		off += 6;
		if (tx_name(o, pkt, len, &off, end) != 0 || off != end)
			return -1;
		return 0;
	case DNS_T_CAA:
		if (n < 2 || d[1] == 0 || 2 + (size_t)d[1] > n)
			return -1;
		tx_printf(o, "%u %.*s ", d[0], (int)d[1], (const char *)d + 2);
		tx_quoted(o, d + 2 + d[1], n - 2 - d[1]);
		return 0;
	case DNS_T_DS:
	case 59:	/* CDS */
		if (n < 5)
			return -1;
		tx_printf(o, "%u %u %u ", (unsigned)dns_rd16(d), d[2], d[3]);
		tx_hex(o, d + 4, n - 4);
		return 0;
	case DNS_T_DNSKEY:
	case 60:	/* CDNSKEY */
		if (n < 5)
			return -1;
		tx_printf(o, "%u %u %u ", (unsigned)dns_rd16(d), d[2], d[3]);
		tx_base64(o, d + 4, n - 4);
		return 0;
	case DNS_T_RRSIG:
		if (n < 19)
			return -1;
		tx_type(o, dns_rd16(d));
		tx_printf(o, " %u %u %u ", d[2], d[3], dns_rd32(d + 4));
		tx_time(o, dns_rd32(d + 8));
		tx_char(o, ' ');
		tx_time(o, dns_rd32(d + 12));
		tx_printf(o, " %u ", (unsigned)dns_rd16(d + 16));
		off += 18;
		/* the signer's name is not compressed (RFC 4034 3.1.7) */
		{
			size_t sl = dns_name_len(pkt + off, end - off);
			char s[DNS_MAX_NAME * 4 + 2];

			if (sl == 0 || dns_name_to_text(pkt + off, sl, s,
			    sizeof(s)) != 0)
				return -1;
			tx_printf(o, "%s ", s);
			off += sl;
		}
		if (off >= end)
			return -1;
		tx_base64(o, pkt + off, end - off);
		return 0;
	case DNS_T_NSEC: {
		size_t sl = dns_name_len(d, n);
		char s[DNS_MAX_NAME * 4 + 2];

		if (sl == 0 || dns_name_to_text(d, sl, s, sizeof(s)) != 0)
			return -1;
		tx_printf(o, "%s", s);
		return tx_bitmap(o, d + sl, n - sl);
	}
	case DNS_T_NSEC3: {
		size_t i, sl, hl;

		if (n < 5)
			return -1;
		sl = d[4];
		if (5 + sl + 1 > n)
			return -1;
		hl = d[5 + sl];
		if (hl == 0 || 6 + sl + hl > n)
			return -1;
		tx_printf(o, "%u %u %u ", d[0], d[1],
		    (unsigned)dns_rd16(d + 2));
		if (sl == 0)
			tx_char(o, '-');
		else
			tx_hex(o, d + 5, sl);
		tx_char(o, ' ');
		i = 6 + sl;
		tx_base32hex(o, d + i, hl);
		return tx_bitmap(o, d + i + hl, n - i - hl);
	}
	case DNS_T_SVCB:
	case DNS_T_HTTPS: {
		size_t tl;
		char s[DNS_MAX_NAME * 4 + 2];

		if (n < 3)
			return -1;
		/* TargetName is uncompressed (RFC 9460 2.2) */
		tl = dns_name_len(d + 2, n - 2);
		if (tl == 0 || dns_name_to_text(d + 2, tl, s, sizeof(s)) != 0)
			return -1;
		tx_printf(o, "%u %s", (unsigned)dns_rd16(d), s);
		return tx_svcparams(o, d + 2 + tl, n - 2 - tl);
	}
	default:
		return -1;
	}
}

int
dns_rr_to_text(const uint8_t *pkt, size_t len, size_t rr_off, size_t *next,
    char *out, size_t cap)
{
	struct dns_rrinfo rr;
	struct txt o;
	size_t nx, off, mark;
	char b[16];

	if (pkt == NULL || out == NULL || cap == 0)
		return -1;
	out[0] = '\0';
	if (dns_pkt_rr(pkt, len, rr_off, &rr, &nx) != 0)
		return -1;
	o.p = out;
	o.len = 0;
	o.cap = cap;
	o.overflow = false;
	off = rr_off;
	if (tx_name(&o, pkt, len, &off, rr.ttl_off - 4) != 0)
		return -1;
	tx_printf(&o, " %u ", rr.ttl);
	if (rr.rclass == DNS_C_IN)
		tx_printf(&o, "IN ");
	else if (rr.rclass == DNS_C_CH)
		tx_printf(&o, "CH ");
	else if (rr.rclass == 4)
		tx_printf(&o, "HS ");
	else
		tx_printf(&o, "CLASS%u ", (unsigned)rr.rclass);
	tx_printf(&o, "%s ", dns_type_to_text(rr.type, b));
	mark = o.len;
	if (o.overflow)
		return -1;
	if (tx_rdata(&o, pkt, len, &rr) != 0 || o.overflow) {
		/* RFC 3597 generic form */
		o.len = mark;
		o.overflow = false;
		out[mark] = '\0';
		tx_printf(&o, "\\# %u", (unsigned)rr.rdlen);
		if (rr.rdlen > 0)
			tx_char(&o, ' ');
		tx_hex(&o, pkt + rr.rdata_off, rr.rdlen);
	}
	if (o.overflow)
		return -1;
	if (next != NULL)
		*next = nx;
	return 0;
}
