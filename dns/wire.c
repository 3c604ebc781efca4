/*
 * dns/wire.c - DNS wire format: parse and check client queries, build
 * replies and upstream queries, check upstream replies, names and type
 * names.  Cacheable messages (dns_msg_*) are in dns/msg.c, presentation
 * format in dns/rrtext.c.
 *
 * Nothing here allocates: all work is on caller-owned buffers.  Every
 * read of peer bytes is bounds-checked; malformed input yields an error
 * code, never a read past the end, never an assert.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/wire.h"
#include "dns/wire_int.h"

#define OPT_RR_LEN	11	/* root owner, type, class, ttl, rdlen */

static inline uint8_t
lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* ------------------------------------------------------------ readers */

int
dns_pkt_name(const uint8_t *pkt, size_t len, size_t off, uint8_t *out,
    size_t *outlen, size_t *next)
{
	return dns_pkt_name_ex(pkt, len, off, out, outlen, next, NULL);
}

/* Any bit of map[a..b] (offsets, a <= b) set?  A byte at a time. */
static inline bool
bits_any(const uint8_t *map, size_t a, size_t b)
{
	size_t i = a >> 3, j = b >> 3;
	unsigned lo = (0xffu << (a & 7)) & 0xffu, hi = 0xffu >> (7 - (b & 7));

	if (i == j)
		return (map[i] & lo & hi) != 0;
	if (map[i] & lo)
		return true;
	for (i++; i < j; i++)
		if (map[i] != 0)
			return true;
	return (map[j] & hi) != 0;
}

/* The offset past the root label of the question name whose label
 * starts qlab marks (dns_question_labels): its highest bit. */
static inline size_t
qname_end(const uint64_t *qlab)
{
	int w = 3;

	while (w > 0 && qlab[w] == 0)
		w--;
	return DNS_HDR_LEN + (size_t)w * 64 +
	    (size_t)(63 - __builtin_clzll(qlab[w])) + 1;
}

/* dns_pkt_name_ex; qlab (or NULL) as for dns_pkt_rr_at: a pointer to a
 * label of the question name takes the rest of it as it is. */
static int
name_walk(const uint8_t *pkt, size_t len, size_t off, uint8_t *out,
    size_t *outlen, size_t *next, const uint8_t *forbid, const uint64_t *qlab)
{
	size_t pos = off, seg = off, nlen = 0, end = 0;
	int hops = 0;
	bool jumped = false;
	uint8_t c;

	/* the bytes read from seg on are contiguous up to the pointer or
	 * the root label that ends the segment: forbid is checked over
	 * that run once, when it ends (the result is the same as a check
	 * per byte: any forbidden byte read fails the name) */
	for (;;) {
		if (pos >= len)
			return -1;
		c = pkt[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t t;

			if (pos + 1 >= len)
				return -1;
			if (forbid != NULL && bits_any(forbid, seg, pos + 1))
				return -1;
			t = ((size_t)(c & 0x3f) << 8) | pkt[pos + 1];
			/* strictly backwards from the segment start: a walk
			 * can never revisit a byte, so it always ends */
			if (t >= seg || t < DNS_HDR_LEN || ++hops > DNS_PTR_HOPS)
				return -1;
			if (!jumped) {
				end = pos + 2;
				jumped = true;
			}
			if (qlab != NULL && t - DNS_HDR_LEN < 256 &&
			    (qlab[(t - DNS_HDR_LEN) / 64] &
			    (1ULL << ((t - DNS_HDR_LEN) % 64)))) {
				/* what the walk would read: labels without
				 * pointers, in bounds, up to the root; it
				 * fails only on the length or a forbidden
				 * byte */
				size_t qe = qname_end(qlab);

				if (nlen + (qe - t) > DNS_MAX_NAME ||
				    (forbid != NULL &&
				    bits_any(forbid, t, qe - 1)))
					return -1;
				if (out != NULL)
					memcpy(out + nlen, pkt + t, qe - t);
				nlen += qe - t;
				goto done;
			}
			pos = seg = t;
			continue;
		}
		if (c & 0xc0)
			return -1;	/* 0x40, 0x80: obsolete label types */
		if (nlen + 1 + c > DNS_MAX_NAME || pos + 1 + c > len)
			return -1;
		if (out != NULL)
			memcpy(out + nlen, pkt + pos, 1 + (size_t)c);
		nlen += 1 + (size_t)c;
		pos += 1 + (size_t)c;
		if (c == 0)
			break;
	}
	if (forbid != NULL && bits_any(forbid, seg, pos - 1))
		return -1;
	if (!jumped)
		end = pos;
done:
	if (outlen != NULL)
		*outlen = nlen;
	if (next != NULL)
		*next = end;
	return 0;
}

int
dns_pkt_name_ex(const uint8_t *pkt, size_t len, size_t off, uint8_t *out,
    size_t *outlen, size_t *next, const uint8_t *forbid)
{
	return name_walk(pkt, len, off, out, outlen, next, forbid, NULL);
}

int
dns_pkt_name_at(const uint8_t *pkt, size_t len, size_t off, size_t *next,
    const uint8_t *forbid, const uint64_t *qlab)
{
	return name_walk(pkt, len, off, NULL, NULL, next, forbid, qlab);
}

/*
 * The fixed fields of a record whose owner name ends at p (type, class,
 * TTL, rdlength) and the bounds of its rdata; dns_pkt_rr and the
 * fast paths of dns_pkt_rr_at share it.  Returns 0 or -1.
 */
static inline int
rr_fixed(const uint8_t *pkt, size_t len, size_t p, struct dns_rrinfo *rr,
    size_t *next)
{
	if (p + 10 > len)
		return -1;
	rr->type = dns_rd16(pkt + p);
	rr->rclass = dns_rd16(pkt + p + 2);
	rr->ttl_off = p + 4;
	rr->ttl = dns_rd32(pkt + p + 4);
	rr->rdlen = dns_rd16(pkt + p + 8);
	rr->rdata_off = p + 10;
	if (rr->rdata_off + rr->rdlen > len)
		return -1;
	*next = rr->rdata_off + rr->rdlen;
	return 0;
}

int
dns_pkt_rr_at(const uint8_t *pkt, size_t len, size_t off, const uint64_t *qlab,
    struct dns_rrinfo *rr, size_t *next, const uint8_t *forbid)
{
	size_t p;

	rr->owner_off = off;
	if (off + 1 < len && (pkt[off] & 0xc0) == 0xc0) {
		size_t t = ((size_t)(pkt[off] & 0x3f) << 8 | pkt[off + 1]) -
		    DNS_HDR_LEN;

		/* a pointer back to a label of the question name: no
		 * walk (off may be in the question itself) */
		if (qlab != NULL && t < 256 && t + DNS_HDR_LEN < off &&
		    (qlab[t / 64] & (1ULL << (t % 64))) &&
		    (forbid == NULL || !bits_any(forbid, off, off + 1)))
			return rr_fixed(pkt, len, off + 2, rr, next);
	} else if (off < len && pkt[off] == 0 &&
	    (forbid == NULL || !bits_any(forbid, off, off))) {
		/* the root (OPT records): what the walk would find */
		return rr_fixed(pkt, len, off + 1, rr, next);
	}
	if (name_walk(pkt, len, off, NULL, NULL, &p, forbid, qlab) != 0)
		return -1;
	return rr_fixed(pkt, len, p, rr, next);
}

int
dns_pkt_rr(const uint8_t *pkt, size_t len, size_t off, struct dns_rrinfo *rr,
    size_t *next)
{
	return dns_pkt_rr_at(pkt, len, off, NULL, rr, next, NULL);
}

int
dns_pkt_question(const uint8_t *pkt, size_t len, size_t *qend)
{
	uint16_t qd;
	size_t nl;

	if (len < DNS_HDR_LEN)
		return -1;
	qd = dns_rd16(pkt + 4);
	if (qd > 1)
		return -1;
	if (qd == 0) {
		*qend = DNS_HDR_LEN;
		return 0;
	}
	nl = dns_name_len(pkt + DNS_HDR_LEN, len - DNS_HDR_LEN);
	if (nl == 0 || DNS_HDR_LEN + nl + 4 > len)
		return -1;
	*qend = DNS_HDR_LEN + nl + 4;
	return 0;
}

bool
dns_name_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	if (memcmp(a, b, alen) == 0)
		return true;	/* the usual case: the same letter case */
	for (i = 0; i < alen; i++)
		if (lc(a[i]) != lc(b[i]))
			return false;
	return true;
}

/* SOA rdata at rr: min(TTL, MINIMUM) in *neg.  Returns 0 or -1. */
static int
soa_negative_ttl(const uint8_t *pkt, size_t len, const struct dns_rrinfo *rr,
    uint32_t *neg)
{
	size_t p, rend = rr->rdata_off + rr->rdlen;
	uint32_t min;

	if (dns_pkt_name(pkt, len, rr->rdata_off, NULL, NULL, &p) != 0 ||
	    p > rend)
		return -1;
	if (dns_pkt_name(pkt, len, p, NULL, NULL, &p) != 0 || p + 20 != rend)
		return -1;
	min = dns_ttl_sane(dns_rd32(pkt + p + 16));
	*neg = dns_ttl_sane(rr->ttl);
	if (min < *neg)
		*neg = min;
	return 0;
}

void
dns_question_labels(const uint8_t *pkt, uint64_t qlab[4])
{
	size_t q = DNS_HDR_LEN;

	for (;;) {
		qlab[(q - DNS_HDR_LEN) / 64] |= 1ULL << ((q - DNS_HDR_LEN) % 64);
		if (pkt[q] == 0)
			break;
		q += 1 + (size_t)pkt[q];
	}
}

/* The two fast paths of dns_pkt_rr_at, inlined into dns_pkt_scan (the
 * call per RR costs more than they do); the rest to dns_pkt_rr_at. */
static inline int
scan_rr(const uint8_t *pkt, size_t len, size_t off, const uint64_t *qlab,
    struct dns_rrinfo *rr, size_t *next)
{
	size_t t;

	if (off + 1 >= len)
		return dns_pkt_rr_at(pkt, len, off, qlab, rr, next, NULL);
	if (pkt[off] == 0) {
		rr->owner_off = off;
		return rr_fixed(pkt, len, off + 1, rr, next);
	}
	if (qlab == NULL || (pkt[off] & 0xc0) != 0xc0)
		return dns_pkt_rr_at(pkt, len, off, qlab, rr, next, NULL);
	/* off is past the question: the target is before it */
	t = ((size_t)(pkt[off] & 0x3f) << 8 | pkt[off + 1]) - DNS_HDR_LEN;
	if (t >= 256 || !(qlab[t / 64] & (1ULL << (t % 64))))
		return dns_pkt_rr_at(pkt, len, off, qlab, rr, next, NULL);
	rr->owner_off = off;
	return rr_fixed(pkt, len, off + 2, rr, next);
}

int
dns_pkt_scan(const uint8_t *pkt, size_t len, struct dns_scan *s)
{
	struct dns_rrinfo rr;
	uint64_t qlab[4] = { 0, 0, 0, 0 };
	size_t off;
	unsigned i, total;
	bool match = false, cut = false;

	memset(s, 0, sizeof(*s));
	s->min_ttl = UINT32_MAX;
	s->min_an_ttl = UINT32_MAX;
	if (dns_pkt_question(pkt, len, &s->qend) != 0)
		return -1;
	if (s->qend > DNS_HDR_LEN)
		s->qtype = dns_rd16(pkt + s->qend - 4);
	s->rcode = DNS_RCODE(dns_rd16(pkt + 2));
	s->an = dns_rd16(pkt + 6);
	s->ns = dns_rd16(pkt + 8);
	s->ar = dns_rd16(pkt + 10);
	total = (unsigned)s->an + s->ns + s->ar;
	if (s->qend > DNS_HDR_LEN)
		dns_question_labels(pkt, qlab);
	off = s->qend;
	for (i = 0; i < total; i++) {
		uint32_t t;

		if (i == (unsigned)s->an + s->ns)
			s->ar_off = off;
		if (scan_rr(pkt, len, off, s->qend > DNS_HDR_LEN ? qlab : NULL,
		    &rr, &off) != 0)
			return -1;
		if (i >= (unsigned)s->an + s->ns) {
			if (!cut && (rr.type == DNS_T_OPT ||
			    rr.type == DNS_T_TSIG || rr.type == DNS_T_SIG)) {
				cut = true;
				s->cut_off = rr.owner_off;
			}
			if (!cut)
				s->ar_kept++;
			continue;
		}
		if (rr.type == DNS_T_OPT) {
			s->opt_misplaced = true;
			continue;
		}
		t = dns_ttl_sane(rr.ttl);
		if (t < s->min_ttl)
			s->min_ttl = t;
		if (i < s->an) {
			if (t < s->min_an_ttl)
				s->min_an_ttl = t;
			if (rr.type == s->qtype || s->qtype == DNS_T_ANY)
				match = true;
		} else if (rr.type == DNS_T_SOA && !s->has_soa) {
			if (soa_negative_ttl(pkt, len, &rr, &s->soa_neg) != 0)
				return -1;
			s->has_soa = true;
		}
	}
	if (total == (unsigned)s->an + s->ns)
		s->ar_off = off;
	s->end = off;
	if (!cut)
		s->cut_off = off;
	s->negative = s->rcode == DNS_RCODE_NXDOMAIN ||
	    (s->rcode == DNS_RCODE_NOERROR && !match &&
	    (s->an == 0 || s->has_soa));
	return 0;
}

/* ------------------------------------------------------------ queries */

/* ECS option (RFC 7871 6) into q; returns 0 or -1 (FORMERR). */
static int
parse_ecs(struct dns_query *q, const uint8_t *d, size_t n)
{
	struct dns_ecs e;

	if (q->ecs || dns_ecs_parse(&e, d, n, true) != 0)
		return -1;
	q->ecs = true;
	q->ecs_family = e.family;
	q->ecs_source = e.source;
	memcpy(q->ecs_addr, e.addr, sizeof(q->ecs_addr));
	return 0;
}

/* The OPT RR of a query; returns 0 or -1 (FORMERR). */
static int
parse_opt(struct dns_query *q, const uint8_t *pkt, const struct dns_rrinfo *rr)
{
	const uint8_t *d = pkt + rr->rdata_off;
	size_t n = rr->rdlen;

	if (q->edns || pkt[rr->owner_off] != 0)
		return -1;	/* a second OPT, or owner not the root */
	q->edns = true;
	q->edns_udp = rr->rclass < DNS_MAX_UDP_NOEDNS ? DNS_MAX_UDP_NOEDNS :
	    rr->rclass;
	q->edns_version = (uint8_t)(rr->ttl >> 16);
	q->edns_do = (rr->ttl & DNS_EDNS_DO) != 0;
	while (n > 0) {
		uint16_t code, olen;

		if (n < 4)
			return -1;
		code = dns_rd16(d);
		olen = dns_rd16(d + 2);
		if ((size_t)olen > n - 4)
			return -1;
		if (code == DNS_OPT_PADDING)
			q->edns_padding = true;
		else if (code == DNS_OPT_ECS && parse_ecs(q, d + 4, olen) != 0)
			return -1;
		d += 4 + (size_t)olen;
		n -= 4 + (size_t)olen;
	}
	return 0;
}

/* Question at offset 12 into q.  Returns 0 or -1. */
static int
parse_question(struct dns_query *q, const uint8_t *pkt, size_t len)
{
	size_t nl = dns_name_len(pkt + DNS_HDR_LEN, len - DNS_HDR_LEN);

	/* dns_name_len refuses pointers: nothing precedes the question
	 * that a pointer could usefully refer to */
	if (nl == 0 || DNS_HDR_LEN + nl + 4 > len)
		return -1;
	dns_name_lower(q->qname, pkt + DNS_HDR_LEN, nl);
	q->qname_len = nl;
	q->qtype = dns_rd16(pkt + DNS_HDR_LEN + nl);
	q->qclass = dns_rd16(pkt + DNS_HDR_LEN + nl + 2);
	q->question_end = DNS_HDR_LEN + nl + 4;
	return 0;
}

int
dns_query_parse(struct dns_query *q, const uint8_t *pkt, size_t len)
{
	struct dns_rrinfo rr;
	unsigned i, anns, ar;
	size_t off;

	q->pkt = pkt;
	q->len = len;
	q->id = 0;
	q->flags = 0;
	q->qtype = 0;
	q->qclass = 0;
	q->qname_len = 0;
	q->question_end = 0;
	q->edns = false;
	q->edns_udp = DNS_MAX_UDP_NOEDNS;
	q->edns_version = 0;
	q->edns_do = false;
	q->edns_padding = false;
	q->ecs = false;
	q->ecs_family = 0;
	q->ecs_source = 0;
	if (pkt == NULL || len < DNS_HDR_LEN)
		return -1;
	q->id = dns_rd16(pkt);
	q->flags = dns_rd16(pkt + 2);
	if (q->flags & DNS_QR)
		return DNS_RCODE_FORMERR;
	if (DNS_OPCODE(q->flags) != 0) {
		/* echo the question when there is one that reads */
		if (dns_rd16(pkt + 4) == 1)
			(void)parse_question(q, pkt, len);
		return DNS_RCODE_NOTIMPL;
	}
	if (dns_rd16(pkt + 4) != 1)
		return DNS_RCODE_FORMERR;
	if (parse_question(q, pkt, len) != 0)
		return DNS_RCODE_FORMERR;
	anns = (unsigned)dns_rd16(pkt + 6) + dns_rd16(pkt + 8);
	ar = dns_rd16(pkt + 10);
	off = q->question_end;
	for (i = 0; i < anns + ar; i++) {
		if (dns_pkt_rr(pkt, len, off, &rr, &off) != 0)
			goto formerr;
		if (rr.type != DNS_T_OPT)
			continue;
		if (i < anns || parse_opt(q, pkt, &rr) != 0)
			goto formerr;
	}
	if (q->edns && q->edns_version > 0)
		return DNS_RCODE_BADVERS;
	return 0;
formerr:
	/* no OPT in a reply to a query whose OPT we could not read */
	q->edns = false;
	q->edns_padding = false;
	q->ecs = false;
	return DNS_RCODE_FORMERR;
}

/* ------------------------------------------------------------ replies */

void
dns_reply_start(struct dns_buf *b, const struct dns_query *q, int rcode,
    uint16_t flags)
{
	size_t qlen = 0;
	uint16_t f;

	b->len = 0;
	b->overflow = false;
	if (b->cap < DNS_HDR_LEN) {
		b->overflow = true;
		return;
	}
	if (q->question_end > DNS_HDR_LEN && q->question_end <= q->len)
		qlen = q->question_end - DNS_HDR_LEN;
	f = (uint16_t)(DNS_QR | DNS_RA | (q->flags & (DNS_RD | DNS_CD | 0x7800)) |
	    (rcode & 0xf) | flags);
	dns_wr16(b->p, q->id);
	dns_wr16(b->p + 2, f);
	memset(b->p + 4, 0, 8);
	b->len = DNS_HDR_LEN;
	if (qlen > 0) {
		if (DNS_HDR_LEN + qlen > b->cap) {
			b->overflow = true;
			return;
		}
		memcpy(b->p + DNS_HDR_LEN, q->pkt + DNS_HDR_LEN, qlen);
		dns_wr16(b->p + 4, 1);
		b->len += qlen;
	}
}

void
dns_reply_add_rr(struct dns_buf *b, int section, const uint8_t *owner,
    size_t owner_len, uint16_t type, uint16_t rclass, uint32_t ttl,
    const uint8_t *rdata, size_t rdlen)
{
	size_t need, on = owner_len, cnt_off;
	bool ptr = false;
	uint16_t cnt;

	if (b->overflow || b->len < DNS_HDR_LEN || section < 1 || section > 3 ||
	    rdlen > 65535 || owner_len == 0 || owner_len > DNS_MAX_NAME) {
		b->overflow = true;
		return;
	}
	cnt_off = 4 + 2 * (size_t)section;
	cnt = dns_rd16(b->p + cnt_off);
	if (cnt == 0xffff) {
		b->overflow = true;
		return;
	}
	/* the owner is most often the question name: point at it */
	if (dns_rd16(b->p + 4) == 1 && b->len > DNS_HDR_LEN) {
		size_t qn = dns_name_len(b->p + DNS_HDR_LEN,
		    b->len - DNS_HDR_LEN);

		if (qn != 0 && dns_name_equal(owner, owner_len,
		    b->p + DNS_HDR_LEN, qn)) {
			ptr = true;
			on = 2;
		}
	}
	need = on + 10 + rdlen;
	if (b->len + need > b->cap || b->len + need > 65535) {
		b->overflow = true;
		return;
	}
	if (ptr)
		dns_wr16(b->p + b->len, 0xc000 | DNS_HDR_LEN);
	else
		memcpy(b->p + b->len, owner, owner_len);
	b->len += on;
	dns_wr16(b->p + b->len, type);
	dns_wr16(b->p + b->len + 2, rclass);
	dns_wr32(b->p + b->len + 4, ttl);
	dns_wr16(b->p + b->len + 8, (uint16_t)rdlen);
	b->len += 10;
	if (rdlen > 0)
		memcpy(b->p + b->len, rdata, rdlen);
	b->len += rdlen;
	dns_wr16(b->p + cnt_off, (uint16_t)(cnt + 1));
}

size_t
dns_reply_finish_raw(uint8_t *p, size_t len, size_t qend, size_t cap,
    bool force_tc, const struct dns_query *q, const struct dns_reply_opts *o)
{
	size_t max = o->max_len, optlen = q->edns ? OPT_RR_LEN : 0, opt_off;
	bool ecs = o->ecs && q->ecs;
	uint8_t ext = 0;
	uint16_t flags;

	if (ecs && q->edns)
		optlen += 8 + ((size_t)q->ecs_source + 7) / 8;

	if (max > cap)
		max = cap;
	if (max > 65535)
		max = 65535;
	if (len < DNS_HDR_LEN || qend < DNS_HDR_LEN || qend > len)
		return 0;
	if (force_tc || len + optlen > max) {
		/* RFC 1035 4.2.1 / RFC 2181 9: cut to the question, TC */
		len = qend;
		memset(p + 6, 0, 6);
		dns_wr16(p + 2, dns_rd16(p + 2) | DNS_TC);
		if (len + optlen > max)
			return 0;
	}
	if (!q->edns)
		return len;
	flags = dns_rd16(p + 2);
	if (q->edns_version > 0 && DNS_RCODE(flags) == 0)
		ext = DNS_RCODE_BADVERS >> 4;
	opt_off = len;
	p[len] = 0;			/* root owner */
	dns_wr16(p + len + 1, DNS_T_OPT);
	dns_wr16(p + len + 3, o->edns_udp < DNS_MAX_UDP_NOEDNS ?
	    DNS_MAX_UDP_NOEDNS : o->edns_udp);
	dns_wr32(p + len + 5, ((uint32_t)ext << 24) |
	    (q->edns_do ? DNS_EDNS_DO : 0));
	dns_wr16(p + len + 9, 0);
	len += OPT_RR_LEN;
	if (ecs) {
		/* RFC 7871 7.2.2: family, source and address as the client
		 * sent them; the scope of the answer */
		struct dns_ecs e;

		e.family = q->ecs_family;
		e.source = q->ecs_source;
		e.scope = o->ecs_scope;
		memcpy(e.addr, q->ecs_addr, sizeof(e.addr));
		len += dns_ecs_write(p + len, max - len, &e);
		dns_wr16(p + opt_off + 9, (uint16_t)(len - opt_off -
		    OPT_RR_LEN));
	}
	if (o->pad && q->edns_padding && len + 4 <= max) {
		/* RFC 8467 4.1: whole message a multiple of the block */
		size_t base = len + 4, pad;

		pad = (DNS_PAD_BLOCK - base % DNS_PAD_BLOCK) % DNS_PAD_BLOCK;
		if (base + pad > max)
			pad = max - base;
		dns_wr16(p + len, DNS_OPT_PADDING);
		dns_wr16(p + len + 2, (uint16_t)pad);
		memset(p + len + 4, 0, pad);
		len = base + pad;
		dns_wr16(p + opt_off + 9, (uint16_t)(len - opt_off -
		    OPT_RR_LEN));
	}
	dns_wr16(p + 10, (uint16_t)(dns_rd16(p + 10) + 1));
	return len;
}

size_t
dns_reply_finish(struct dns_buf *b, const struct dns_query *q,
    const struct dns_reply_opts *o)
{
	size_t qend = DNS_HDR_LEN;

	if (b->len < DNS_HDR_LEN)
		return 0;
	if (dns_rd16(b->p + 4) == 1 && q->question_end > DNS_HDR_LEN)
		qend = q->question_end;
	if (qend > b->len) {
		/* the question itself did not fit */
		return 0;
	}
	b->len = dns_reply_finish_raw(b->p, b->len, qend, b->cap, b->overflow,
	    q, o);
	b->overflow = false;
	return b->len;
}

size_t
dns_reply_error(uint8_t *out, size_t cap, const struct dns_query *q,
    int rcode, const struct dns_reply_opts *o)
{
	struct dns_buf b;

	if (q->pkt == NULL || q->len < DNS_HDR_LEN)
		return 0;
	b.p = out;
	b.len = 0;
	b.cap = cap;
	b.overflow = false;
	dns_reply_start(&b, q, rcode & 0xf, 0);
	if (b.overflow)
		return 0;
	return dns_reply_finish(&b, q, o);
}

size_t
dns_query_build(uint8_t *out, size_t cap, uint16_t id, const uint8_t *qname,
    size_t qname_len, uint16_t qtype, uint16_t qclass, bool cd,
    bool dnssec_ok, uint16_t edns_udp)
{
	size_t len = DNS_HDR_LEN + qname_len + 4 + OPT_RR_LEN;

	if (qname_len == 0 || dns_name_len(qname, qname_len) != qname_len ||
	    len > cap)
		return 0;
	dns_wr16(out, id);
	dns_wr16(out + 2, (uint16_t)(DNS_RD | (cd ? DNS_CD : 0)));
	dns_wr16(out + 4, 1);
	dns_wr16(out + 6, 0);
	dns_wr16(out + 8, 0);
	dns_wr16(out + 10, 1);
	memcpy(out + DNS_HDR_LEN, qname, qname_len);
	len = DNS_HDR_LEN + qname_len;
	dns_wr16(out + len, qtype);
	dns_wr16(out + len + 2, qclass);
	len += 4;
	out[len] = 0;
	dns_wr16(out + len + 1, DNS_T_OPT);
	dns_wr16(out + len + 3, edns_udp < DNS_MAX_UDP_NOEDNS ?
	    DNS_MAX_UDP_NOEDNS : edns_udp);
	dns_wr32(out + len + 5, dnssec_ok ? DNS_EDNS_DO : 0);
	dns_wr16(out + len + 9, 0);
	return len + OPT_RR_LEN;
}

bool
dns_reply_matches_scan(const uint8_t *pkt, size_t len, uint16_t id,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t qclass,
    struct dns_scan *s)
{
	size_t nl;

	if (pkt == NULL || len < DNS_HDR_LEN || dns_rd16(pkt) != id ||
	    !(dns_rd16(pkt + 2) & DNS_QR) || DNS_OPCODE(dns_rd16(pkt + 2)) != 0 ||
	    dns_rd16(pkt + 4) != 1)
		return false;
	if (dns_pkt_scan(pkt, len, s) != 0)
		return false;
	nl = s->qend - 4 - DNS_HDR_LEN;
	if (!dns_name_equal(pkt + DNS_HDR_LEN, nl, qname, qname_len))
		return false;
	return dns_rd16(pkt + s->qend - 4) == qtype &&
	    dns_rd16(pkt + s->qend - 2) == qclass;
}

bool
dns_reply_matches(const uint8_t *pkt, size_t len, uint16_t id,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t qclass)
{
	struct dns_scan s;

	return dns_reply_matches_scan(pkt, len, id, qname, qname_len, qtype,
	    qclass, &s);
}

int64_t
dns_reply_min_ttl(const uint8_t *pkt, size_t len)
{
	struct dns_scan s;

	if (pkt == NULL || dns_pkt_scan(pkt, len, &s) != 0)
		return -1;
	if (s.negative) {
		uint32_t t;

		if (!s.has_soa)
			return -1;
		t = s.soa_neg;
		if (s.min_an_ttl < t)
			t = s.min_an_ttl;
		return t;
	}
	if (s.min_ttl == UINT32_MAX)
		return 0;	/* e.g. SERVFAIL with no records */
	return s.min_ttl;
}

/* ------------------------------------------------------------ client subnet */

unsigned
dns_ecs_family_bits(uint16_t family)
{
	return family == 1 ? 32 : family == 2 ? 128 : 0;
}

void
dns_ecs_mask(uint8_t addr[16], unsigned bits)
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff00u >> bits);
		bits = 0;
	}
}

int
dns_ecs_parse(struct dns_ecs *e, const uint8_t *d, size_t n, bool query)
{
	unsigned maxbits;
	size_t alen;
	uint8_t src;

	if (n < 4)
		return -1;
	maxbits = dns_ecs_family_bits(dns_rd16(d));
	src = d[2];
	if (maxbits == 0 || src > maxbits || d[3] > maxbits)
		return -1;
	if (query && d[3] != 0)
		return -1;	/* SCOPE must be 0 in queries */
	alen = ((size_t)src + 7) / 8;
	if (n - 4 != alen)
		return -1;
	/* bits past the source prefix must be zero */
	if (alen > 0 && (src % 8) != 0 &&
	    (d[4 + alen - 1] & (0xff >> (src % 8))) != 0)
		return -1;
	e->family = dns_rd16(d);
	e->source = src;
	e->scope = d[3];
	memset(e->addr, 0, sizeof(e->addr));
	memcpy(e->addr, d + 4, alen);
	return 0;
}

size_t
dns_ecs_write(uint8_t *out, size_t cap, const struct dns_ecs *e)
{
	unsigned maxbits = dns_ecs_family_bits(e->family);
	size_t alen = ((size_t)e->source + 7) / 8;
	uint8_t a[16];

	if (maxbits == 0 || e->source > maxbits || e->scope > maxbits ||
	    8 + alen > cap)
		return 0;
	memcpy(a, e->addr, sizeof(a));
	dns_ecs_mask(a, e->source);
	dns_wr16(out, DNS_OPT_ECS);
	dns_wr16(out + 2, (uint16_t)(4 + alen));
	dns_wr16(out + 4, e->family);
	out[6] = e->source;
	out[7] = e->scope;
	memcpy(out + 8, a, alen);
	return 8 + alen;
}

bool
dns_ecs_from_addr(struct dns_ecs *e, const struct sockaddr *sa,
    unsigned max4, unsigned max6)
{
	memset(e->addr, 0, sizeof(e->addr));
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		e->family = 1;
		e->source = (uint8_t)(max4 > 32 ? 32 : max4);
		memcpy(e->addr, &s4->sin_addr, 4);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			e->family = 1;
			e->source = (uint8_t)(max4 > 32 ? 32 : max4);
			memcpy(e->addr, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			e->family = 2;
			e->source = (uint8_t)(max6 > 128 ? 128 : max6);
			memcpy(e->addr, &s6->sin6_addr, 16);
		}
	} else {
		return false;
	}
	e->scope = 0;
	dns_ecs_mask(e->addr, e->source);
	return true;
}

int
dns_reply_ecs(const uint8_t *pkt, size_t len, struct dns_ecs *e)
{
	struct dns_scan s;
	struct dns_rrinfo rr;
	size_t off;
	unsigned i;

	if (pkt == NULL || dns_pkt_scan(pkt, len, &s) != 0)
		return -1;
	off = s.ar_off;
	for (i = 0; i < s.ar; i++) {
		const uint8_t *d;
		size_t n;

		if (dns_pkt_rr(pkt, len, off, &rr, &off) != 0)
			return -1;
		if (rr.type != DNS_T_OPT)
			continue;
		d = pkt + rr.rdata_off;
		n = rr.rdlen;
		while (n > 0) {
			uint16_t code, olen;

			if (n < 4)
				return -1;
			code = dns_rd16(d);
			olen = dns_rd16(d + 2);
			if ((size_t)olen > n - 4)
				return -1;
			if (code == DNS_OPT_ECS)
				return dns_ecs_parse(e, d + 4, olen,
				    false) == 0 ? 1 : -1;
			d += 4 + (size_t)olen;
			n -= 4 + (size_t)olen;
		}
		return 0;	/* the first OPT is the one that counts */
	}
	return 0;
}

/* ------------------------------------------------------------ names */

size_t
dns_name_len(const uint8_t *p, size_t max)
{
	size_t n = 0;

	if (max > DNS_MAX_NAME)
		max = DNS_MAX_NAME;
	while (n < max) {
		uint8_t c = p[n];

		if (c & 0xc0)
			return 0;	/* pointer or reserved label type */
		if (n + 1 + c > max)
			return 0;
		n += 1 + (size_t)c;
		if (c == 0)
			return n;
	}
	return 0;
}

/* ASCII upper case to lower case in the eight bytes of 'w' at once: a
 * byte gets 0x20 when its low seven bits are 'A'..'Z' and its high bit
 * is clear (no carry crosses a byte: 127 + 63 < 256). */
static inline uint64_t
lower8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t high = 0x8080808080808080ULL;
	uint64_t x = w & ~high;
	uint64_t ge_a = x + (0x80 - 'A') * ones;
	uint64_t gt_z = x + (0x80 - 'Z' - 1) * ones;

	return w | ((ge_a & ~gt_z & ~w & high) >> 2);
}

void
dns_name_lower(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t i;
	uint64_t w;

	if (len < 8) {
		for (i = 0; i < len; i++)
			dst[i] = lc(src[i]);
		return;
	}
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, src + i, 8);
		w = lower8(w);
		memcpy(dst + i, &w, 8);
	}
	if (i < len) {
		/* the last eight again: lower case is idempotent */
		memcpy(&w, src + len - 8, 8);
		w = lower8(w);
		memcpy(dst + len - 8, &w, 8);
	}
}

bool
dns_name_subdomain(const uint8_t *name, size_t name_len, const uint8_t *zone,
    size_t zone_len)
{
	size_t off = 0;

	if (zone_len == 0 || name_len < zone_len)
		return false;
	while (name_len - off > zone_len) {
		uint8_t c = name[off];

		if (c == 0 || c > 63)
			return false;
		off += 1 + (size_t)c;
	}
	return name_len - off == zone_len &&
	    memcmp(name + off, zone, zone_len) == 0;
}

size_t
dns_name_from_text(const char *s, uint8_t out[DNS_MAX_NAME])
{
	size_t n, lab = 0, llen = 0;	/* lab: offset of the length byte */
	const char *c = s;

	if (s == NULL || *s == '\0')
		return 0;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	out[0] = 0;
	n = 1;
	while (*c != '\0') {
		int ch = (unsigned char)*c;

		if (ch == '.') {
			if (llen == 0)
				return 0;	/* empty label */
			out[lab] = (uint8_t)llen;
			c++;
			if (*c == '\0')
				goto done;	/* final dot */
			if (n + 1 >= DNS_MAX_NAME)
				return 0;
			lab = n;
			out[n++] = 0;
			llen = 0;
			continue;
		}
		c++;
		if (ch == '\\') {
			if (isdigit((unsigned char)c[0])) {
				if (!isdigit((unsigned char)c[1]) ||
				    !isdigit((unsigned char)c[2]))
					return 0;
				ch = (c[0] - '0') * 100 + (c[1] - '0') * 10 +
				    (c[2] - '0');
				if (ch > 255)
					return 0;
				c += 3;
			} else if (*c == '\0') {
				return 0;
			} else {
				ch = (unsigned char)*c++;
			}
		}
		if (llen >= 63 || n + 1 >= DNS_MAX_NAME)
			return 0;
		out[n++] = lc((uint8_t)ch);
		llen++;
	}
	out[lab] = (uint8_t)llen;	/* no final dot: close the label */
done:
	if (n + 1 > DNS_MAX_NAME)
		return 0;
	out[n++] = 0;
	return n;
}

int
dns_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	if (cap < 2 || len == 0 || dns_name_len(name, len) != len)
		return -1;
	if (name[0] == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 0;
	}
	while (name[i] != 0) {
		size_t l = name[i++], j;

		for (j = 0; j < l; j++, i++) {
			uint8_t ch = name[i];
			bool esc = ch == '.' || ch == '\\' || ch == '"' ||
			    ch == ';' || ch == '(' || ch == ')' || ch == '@' ||
			    ch == '$';
			bool dec = ch <= ' ' || ch >= 0x7f;
			size_t k = dec ? 4 : esc ? 2 : 1;

			/* room for this, a final dot and the NUL */
			if (o + k + 2 > cap)
				return -1;
			if (dec) {
				snprintf(out + o, cap - o, "\\%03u", ch);
			} else if (esc) {
				out[o] = '\\';
				out[o + 1] = (char)ch;
			} else {
				out[o] = (char)ch;
			}
			o += k;
		}
		if (o + 2 > cap)
			return -1;
		out[o++] = '.';
	}
	out[o] = '\0';
	return 0;
}

/* ------------------------------------------------------------ tables */

static const struct {
	const char *name;
	uint16_t type;
} type_names[] = {
	{ "A", 1 }, { "NS", 2 }, { "MD", 3 }, { "MF", 4 }, { "CNAME", 5 },
	{ "SOA", 6 }, { "MB", 7 }, { "MG", 8 }, { "MR", 9 }, { "NULL", 10 },
	{ "WKS", 11 }, { "PTR", 12 }, { "HINFO", 13 }, { "MINFO", 14 },
	{ "MX", 15 }, { "TXT", 16 }, { "RP", 17 }, { "AFSDB", 18 },
	{ "SIG", 24 }, { "KEY", 25 }, { "AAAA", 28 }, { "LOC", 29 },
	{ "SRV", 33 }, { "NAPTR", 35 }, { "KX", 36 }, { "CERT", 37 },
	{ "DNAME", 39 }, { "OPT", 41 }, { "APL", 42 }, { "DS", 43 },
	{ "SSHFP", 44 }, { "IPSECKEY", 45 }, { "RRSIG", 46 }, { "NSEC", 47 },
	{ "DNSKEY", 48 }, { "DHCID", 49 }, { "NSEC3", 50 },
	{ "NSEC3PARAM", 51 }, { "TLSA", 52 }, { "SMIMEA", 53 }, { "HIP", 55 },
	{ "CDS", 59 }, { "CDNSKEY", 60 }, { "OPENPGPKEY", 61 },
	{ "CSYNC", 62 }, { "ZONEMD", 63 }, { "SVCB", 64 }, { "HTTPS", 65 },
	{ "SPF", 99 }, { "EUI48", 108 }, { "EUI64", 109 }, { "TKEY", 249 },
	{ "TSIG", 250 }, { "IXFR", 251 }, { "AXFR", 252 }, { "ANY", 255 },
	{ "URI", 256 }, { "CAA", 257 },
};

/* "PREFIXnnn" with nnn in 0..65535; returns the number or -1. */
static int
prefixed_number(const char *s, const char *prefix)
{
	size_t pl = strlen(prefix);
	unsigned long v = 0;
	const char *c;

	if (strncasecmp(s, prefix, pl) != 0 || s[pl] == '\0')
		return -1;
	for (c = s + pl; *c != '\0'; c++) {
		if (!isdigit((unsigned char)*c) || c - (s + pl) >= 5)
			return -1;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	return v > 65535 ? -1 : (int)v;
}

int
dns_type_from_text(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(s, type_names[i].name) == 0)
			return type_names[i].type;
	return prefixed_number(s, "TYPE");
}

const char *
dns_type_to_text(uint16_t type, char buf[16])
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	snprintf(buf, 16, "TYPE%u", (unsigned)type);
	return buf;
}

int
dns_class_from_text(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcasecmp(s, "IN") == 0)
		return DNS_C_IN;
	if (strcasecmp(s, "CH") == 0 || strcasecmp(s, "CHAOS") == 0)
		return DNS_C_CH;
	if (strcasecmp(s, "HS") == 0)
		return 4;
	if (strcasecmp(s, "NONE") == 0)
		return 254;
	if (strcasecmp(s, "ANY") == 0)
		return 255;
	return prefixed_number(s, "CLASS");
}

const char *
dns_rcode_to_text(int rcode)
{
	/* Unbound's names, as in its num.answer.rcode.* counters */
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMPL",
		"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
		"NOTZONE"
	};

	if (rcode >= 0 && rcode <= 10)
		return names[rcode];
	if (rcode == DNS_RCODE_BADVERS)
		return "BADVERS";
	return NULL;
}
