/*
 * comm/proxy.c - parse a PROXY protocol header, version 1 (text) or 2
 * (binary), from the bytes received so far (see proxy.h).
 *
 * Rules kept here:
 * - v1 is "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN
 *   ...\r\n", printable ASCII, single spaces, at most PROXY_V1_MAX bytes;
 *   a bare LF, a CR without LF, or no CRLF within the limit is invalid;
 * - v2 is the 12-byte signature, version 2, command LOCAL or PROXY, for
 *   PROXY a family/transport byte the specification lists (UNSPEC, or
 *   INET/INET6/UNIX with STREAM/DGRAM), and a length of at most
 *   PROXY_V2_MAX_LEN; INET and INET6 need their whole address block;
 *   TLVs after it are skipped unread;
 * - a prefix that already differs from what a header must start with is
 *   invalid without waiting for more.
 * It keeps no state, allocates nothing and does no I/O.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "comm/proxy.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN	(sizeof(v1_sig) - 1)

/* v2 byte 12 and 13 */
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x0
#define V2_FAM_INET	0x1
#define V2_FAM_INET6	0x2
#define V2_FAM_UNIX	0x3
#define V2_TRANS_MAX	0x2	/* UNSPEC, STREAM, DGRAM */
#define V2_INET_LEN	12	/* 2 x 4 address + 2 x 2 port */
#define V2_INET6_LEN	36	/* 2 x 16 address + 2 x 2 port */

static enum proxy_status
invalid(struct proxy_hdr *h, const char *why)
{
	h->why = why;
	return PROXY_INVALID;
}

/* A v1 port: 1 to 5 digits, at most 65535.  -1 if not. */
static long
v1_port(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

/* A v1 address of 'family' into 'addr' (in_addr or in6_addr). */
static bool
v1_addr(int family, const char *s, size_t n, void *addr)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	return inet_pton(family, tmp, addr) == 1;
}

/* The line without CRLF: "PROXY " already checked, 'n' printable bytes. */
static enum proxy_status
v1_line(const char *line, size_t n, struct proxy_hdr *h)
{
	const char *p = line + V1_SIG_LEN, *end = line + n;
	const char *tok[5];
	size_t tlen[5];
	int family, ntok = 0;
	long sport;

	if ((size_t)(end - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0 &&
	    (end - p == 7 || p[7] == ' ')) {
		/* the proxy does not know the client: keep the peer */
		h->local = true;
		return PROXY_DONE;
	}
	if ((size_t)(end - p) < 5)
		return invalid(h, "v1: no protocol");
	if (memcmp(p, "TCP4 ", 5) == 0)
		family = AF_INET;
	else if (memcmp(p, "TCP6 ", 5) == 0)
		family = AF_INET6;
	else
		return invalid(h, "v1: unknown protocol");
	p += 5;
	/* exactly four fields separated by single spaces */
	while (ntok < 5) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *e = sp != NULL ? sp : end;

		tok[ntok] = p;
		tlen[ntok] = (size_t)(e - p);
		ntok++;
		if (sp == NULL)
			break;
		p = sp + 1;
	}
	if (ntok != 4)
		return invalid(h, "v1: not four fields");
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&h->src;
		struct in_addr dst;

		if (!v1_addr(AF_INET, tok[0], tlen[0], &s4->sin_addr) ||
		    !v1_addr(AF_INET, tok[1], tlen[1], &dst))
			return invalid(h, "v1: bad IPv4 address");
		s4->sin_family = AF_INET;
		h->srclen = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->src;
		struct in6_addr dst;

		if (!v1_addr(AF_INET6, tok[0], tlen[0], &s6->sin6_addr) ||
		    !v1_addr(AF_INET6, tok[1], tlen[1], &dst))
			return invalid(h, "v1: bad IPv6 address");
		s6->sin6_family = AF_INET6;
		h->srclen = sizeof(*s6);
	}
	sport = v1_port(tok[2], tlen[2]);
	if (sport < 0 || v1_port(tok[3], tlen[3]) < 0)
		return invalid(h, "v1: bad port");
	if (family == AF_INET)
		((struct sockaddr_in *)&h->src)->sin_port =
		    htons((uint16_t)sport);
	else
		((struct sockaddr_in6 *)&h->src)->sin6_port =
		    htons((uint16_t)sport);
	return PROXY_DONE;
}

static enum proxy_status
v1_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
	size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	size_t i;

	h->version = 1;
	if (memcmp(buf, v1_sig, n < V1_SIG_LEN ? n : V1_SIG_LEN) != 0)
		return invalid(h, "v1: no PROXY signature");
	for (i = 0; i < n; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == n)
				break;	/* the LF may come next */
			if (buf[i + 1] != '\n')
				return invalid(h, "v1: CR without LF");
			h->len = i + 2;
			return v1_line((const char *)buf, i, h);
		}
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return invalid(h, buf[i] == '\n' ?
			    "v1: LF without CR" : "v1: not printable");
	}
	if (len >= PROXY_V1_MAX)
		return invalid(h, "v1: line longer than 107 bytes");
	return PROXY_NEED_MORE;
}

static enum proxy_status
v2_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
	size_t alen;
	unsigned cmd, fam;
	const uint8_t *a;

	h->version = 2;
	if (memcmp(buf, v2_sig, len < sizeof(v2_sig) ? len :
	    sizeof(v2_sig)) != 0)
		return invalid(h, "v2: bad signature");
	if (len > 12 && (buf[12] >> 4) != 2)
		return invalid(h, "v2: version is not 2");
	if (len > 12 && (buf[12] & 0xf) > V2_CMD_PROXY)
		return invalid(h, "v2: unknown command");
	/* LOCAL ignores the family byte; PROXY takes only the pairs the
	 * specification lists (UNSPEC alone, or a family with a transport) */
	if (len > 13 && (buf[12] & 0xf) == V2_CMD_PROXY && buf[13] != 0 &&
	    ((buf[13] >> 4) == V2_FAM_UNSPEC || (buf[13] >> 4) > V2_FAM_UNIX ||
	    (buf[13] & 0xf) == 0 || (buf[13] & 0xf) > V2_TRANS_MAX))
		return invalid(h, "v2: unknown family or transport");
	if (len < PROXY_V2_HDR_LEN)
		return PROXY_NEED_MORE;
	alen = ((size_t)buf[14] << 8) | buf[15];
	if (alen > PROXY_V2_MAX_LEN)
		return invalid(h, "v2: header too long");
	if (len < PROXY_V2_HDR_LEN + alen)
		return PROXY_NEED_MORE;
	h->len = PROXY_V2_HDR_LEN + alen;
	cmd = buf[12] & 0xf;
	fam = buf[13] >> 4;
	a = buf + PROXY_V2_HDR_LEN;
	if (cmd == V2_CMD_LOCAL || fam == V2_FAM_UNSPEC ||
	    fam == V2_FAM_UNIX) {
		/* health check, or an address we cannot use: the
		 * connection's own addresses stand (and TLVs are skipped) */
		h->local = true;
		return PROXY_DONE;
	}
	if (fam == V2_FAM_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&h->src;

		if (alen < V2_INET_LEN)
			return invalid(h, "v2: short IPv4 address block");
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&s4->sin_port, a + 8, 2);	/* network order */
		h->srclen = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->src;

		if (alen < V2_INET6_LEN)
			return invalid(h, "v2: short IPv6 address block");
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		h->srclen = sizeof(*s6);
	}
	return PROXY_DONE;
}

enum proxy_status
proxy_parse(const uint8_t *buf, size_t len, unsigned versions,
    struct proxy_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (len == 0)
		return PROXY_NEED_MORE;
	if (buf[0] == v2_sig[0] && (versions & PROXY_ALLOW_V2))
		return v2_parse(buf, len, h);
	if (buf[0] == (uint8_t)v1_sig[0] && (versions & PROXY_ALLOW_V1))
		return v1_parse(buf, len, h);
	return invalid(h, "no PROXY header");
}
