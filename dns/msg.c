/*
 * dns/msg.c - replies as kept in the message cache (struct dns_msg) and
 * the fast path that answers a client from one.
 *
 * dns_msg_new is the one allocating call of dns/: one block holds the
 * struct, the TTL offsets and the wire copy.  Answering from the cache
 * (dns_msg_reply) is a memcpy plus a patch of the header, the question
 * and each TTL; it does not parse anything.  This file does not decide
 * what goes into the cache or for how long it stays there beyond
 * reporting m->ttl; resolver/cache.c does.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dns/wire.h"
#include "dns/wire_int.h"

/* MINIMUM field of the SOA rr in p (already checked by dns_pkt_scan). */
static uint32_t
soa_minimum(const uint8_t *p, size_t len, const struct dns_rrinfo *rr)
{
	size_t o;

	if (dns_pkt_name(p, len, rr->rdata_off, NULL, NULL, &o) != 0 ||
	    dns_pkt_name(p, len, o, NULL, NULL, &o) != 0 ||
	    o + 20 > rr->rdata_off + rr->rdlen)
		return 0;
	return dns_ttl_sane(dns_rd32(p + o + 16));
}

/*
 * A hostile upstream can point a name into TTL bytes; the name would
 * then change as dns_msg_reply ages the copy, and the reply would stop
 * parsing.  It can also point a name forward, past the OPT record that
 * the copy leaves out, so the copy would hold a pointer out of itself.
 * Check, in the copy, every owner name and every name in the rdata of
 * the types whose names may be compressed (RFC 3597 section 4: NS,
 * CNAME, SOA, PTR, MX, plus DNAME and SRV which some servers compress):
 * none reads a TTL byte or leaves the copy.  Returns 0 if none does.
 */
static int
names_read_ttls(const struct dns_msg *m, const uint64_t *qlab)
{
	uint8_t forbid[65536 / 8];
	struct dns_rrinfo rr;
	size_t off, o, skip;
	uint16_t i;

	memset(forbid, 0, (m->len >> 3) + 1);
	for (i = 0; i < m->nttl; i++) {
		/* the 4 bits from ttl_off[i]: in one byte or two (the TTL
		 * ends inside the copy, so the second byte is cleared) */
		size_t k = m->ttl_off[i];
		unsigned v = 0xfu << (k & 7);

		forbid[k >> 3] |= (uint8_t)v;
		if (v > 0xff)
			forbid[(k >> 3) + 1] |= (uint8_t)(v >> 8);
	}
	off = m->qend;
	for (i = 0; i < m->nttl; i++) {
		if (dns_pkt_rr_at(m->wire, m->len, off, qlab, &rr, &off,
		    forbid) != 0)
			return -1;
		switch (rr.type) {
		case DNS_T_NS:
		case DNS_T_CNAME:
		case DNS_T_PTR:
		case 39:	/* DNAME */
			skip = 0;
			break;
		case DNS_T_MX:
			skip = 2;
			break;
		case DNS_T_SRV:
			skip = 6;
			break;
		case DNS_T_SOA:
			if (dns_pkt_name_at(m->wire, m->len, rr.rdata_off,
			    &o, forbid, qlab) != 0 ||
			    dns_pkt_name_at(m->wire, m->len, o, NULL, forbid,
			    qlab) != 0)
				return -1;
			continue;
		default:
			continue;
		}
		if (rr.rdlen < skip + 1 || dns_pkt_name_at(m->wire, m->len,
		    rr.rdata_off + skip, NULL, forbid, qlab) != 0)
			return -1;
	}
	return 0;
}

/* dns_msg_new; sp: the scan of pkt, or NULL to make it here */
static struct dns_msg *
msg_new(const uint8_t *pkt, size_t len, const struct dns_scan *sp,
    uint32_t min_ttl, uint32_t max_ttl, uint32_t max_neg_ttl,
    const char **why)
{
	struct dns_scan scan;
	struct dns_msg *m;
	struct dns_rrinfo rr;
	uint64_t qlab[4] = { 0, 0, 0, 0 };
	const char *dummy;
	uint16_t flags, i, nttl;
	uint32_t life = UINT32_MAX, negcap;
	uint32_t an_min = UINT32_MAX, soa = UINT32_MAX;
	bool have_soa = false;
	size_t off;

	if (why == NULL)
		why = &dummy;
	if (pkt == NULL || len < DNS_HDR_LEN) {
		*why = "shorter than a header";
		return NULL;
	}
	if (len > 65535) {	/* TTL offsets are 16 bits */
		*why = "longer than a DNS message can be";
		return NULL;
	}
	flags = dns_rd16(pkt + 2);
	if (!(flags & DNS_QR)) {
		*why = "not a reply";
		return NULL;
	}
	if (flags & DNS_TC) {
		*why = "truncated (TC)";
		return NULL;
	}
	if (DNS_RCODE(flags) != DNS_RCODE_NOERROR &&
	    DNS_RCODE(flags) != DNS_RCODE_NXDOMAIN) {
		*why = "rcode is not cacheable";
		return NULL;
	}
	if (sp == NULL) {
		if (dns_pkt_scan(pkt, len, &scan) != 0) {
			*why = "malformed";
			return NULL;
		}
		sp = &scan;
	}
	if (sp->qend == DNS_HDR_LEN) {
		*why = "no question";
		return NULL;
	}
	if (sp->opt_misplaced) {
		*why = "OPT outside the additional section";
		return NULL;
	}
	if (sp->negative && !sp->has_soa) {
		*why = "negative answer without SOA";
		return NULL;
	}
	nttl = (uint16_t)(sp->an + sp->ns + sp->ar_kept);
	/* the OPT (and TSIG/SIG(0)) and all after it are left out; pointers
	 * only go backwards, so what is kept never refers to them */
	m = malloc(sizeof(*m) + (size_t)nttl * sizeof(uint16_t) + sp->cut_off);
	if (m == NULL) {
		*why = "out of memory";
		return NULL;
	}
	m->ttl_off = (uint16_t *)(m + 1);
	m->wire = (uint8_t *)(m->ttl_off + nttl);
	m->len = sp->cut_off;
	m->nttl = nttl;
	m->qend = sp->qend;
	m->rcode = sp->rcode;
	m->negative = sp->negative;
	memcpy(m->wire, pkt, m->len);
	dns_wr16(m->wire + 10, sp->ar_kept);
	negcap = max_neg_ttl < max_ttl ? max_neg_ttl : max_ttl;
	dns_question_labels(m->wire, qlab);
	off = sp->qend;
	for (i = 0; i < nttl; i++) {
		uint32_t t;

		if (dns_pkt_rr_at(m->wire, m->len, off, qlab, &rr,
		    &off, NULL) != 0) {
			/* cannot happen: the same bytes passed the scan */
			free(m);
			*why = "malformed";
			return NULL;
		}
		t = dns_ttl_sane(rr.ttl);
		if (sp->negative) {
			if (rr.type == DNS_T_SOA && i >= sp->an &&
			    i < sp->an + sp->ns) {
				uint32_t mn = soa_minimum(m->wire, m->len, &rr);

				if (mn < t)	/* RFC 2308 5 */
					t = mn;
			}
			if (t > negcap)
				t = negcap;
		} else {
			if (t < min_ttl)
				t = min_ttl;
			if (t > max_ttl)
				t = max_ttl;
		}
		dns_wr32(m->wire + rr.ttl_off, t);
		m->ttl_off[i] = (uint16_t)rr.ttl_off;
		if (i < sp->an + sp->ns && t < life)
			life = t;
		if (i < sp->an && t < an_min)
			an_min = t;
		if (!have_soa && rr.type == DNS_T_SOA && i >= sp->an &&
		    i < sp->an + sp->ns) {
			have_soa = true;
			soa = t;
		}
	}
	if (names_read_ttls(m, qlab) != 0) {
		free(m);
		*why = "a name points into a TTL";
		return NULL;
	}
	/*
	 * dns_reply_min_ttl's rules, on the stored TTLs: a negative answer
	 * takes its first authority SOA's TTL, already no more than the
	 * SOA's MINIMUM (so aging it keeps it so), and the answer section's
	 * smallest; a positive one the smallest of answer and authority,
	 * 0 when there is none.  TTLs are at most INT_MAX (the options'
	 * bound), so none reads as 0 by RFC 2181 8.
	 */
	if (sp->negative)
		m->reply_ttl = soa < an_min ? soa : an_min;
	else
		m->reply_ttl = life == UINT32_MAX ? 0 : life;
	if (life == UINT32_MAX)
		life = sp->negative ? 0 : min_ttl;
	m->ttl = life;
	*why = NULL;
	return m;
}

struct dns_msg *
dns_msg_new(const uint8_t *pkt, size_t len, uint32_t min_ttl, uint32_t max_ttl,
    uint32_t max_neg_ttl, const char **why)
{
	return msg_new(pkt, len, NULL, min_ttl, max_ttl, max_neg_ttl, why);
}

struct dns_msg *
dns_msg_new_scanned(const uint8_t *pkt, size_t len, const struct dns_scan *s,
    uint32_t min_ttl, uint32_t max_ttl, uint32_t max_neg_ttl,
    const char **why)
{
	return msg_new(pkt, len, s, min_ttl, max_ttl, max_neg_ttl, why);
}

void
dns_msg_free(struct dns_msg *m)
{
	free(m);
}

size_t
dns_msg_size(const struct dns_msg *m)
{
	if (m == NULL)
		return 0;
	return sizeof(*m) + (size_t)m->nttl * sizeof(uint16_t) + m->len;
}

size_t
dns_msg_reply(const struct dns_msg *m, uint32_t elapsed,
    const struct dns_query *q, const struct dns_reply_opts *o, uint8_t *out,
    size_t cap)
{
	size_t max = o->max_len, optlen = q->edns ? 11 : 0, len;
	uint16_t sf, f;
	bool tc = false;

	if (m == NULL || q->pkt == NULL || q->question_end != m->qend ||
	    q->question_end > q->len)
		return 0;
	if (max > cap)
		max = cap;
	sf = dns_rd16(m->wire + 2);
	/* keep opcode and rcode; QR RA set; AA cleared (we are a cache);
	 * TC never stored; RD CD from the client; AD only to a client that
	 * can read it (RFC 6840 5.8: DO or AD in the query) */
	f = (uint16_t)((sf & (0x7800 | 0x000f)) | DNS_QR | DNS_RA |
	    (q->flags & (DNS_RD | DNS_CD)));
	if ((sf & DNS_AD) && (q->edns_do || (q->flags & DNS_AD)))
		f |= DNS_AD;
	if (m->len + optlen <= max) {
		uint16_t i;

		memcpy(out, m->wire, m->len);
		len = m->len;
		for (i = 0; i < m->nttl; i++) {
			uint8_t *t = out + m->ttl_off[i];
			uint32_t v = dns_rd32(t);

			dns_wr32(t, v > elapsed ? v - elapsed : 0);
		}
	} else {
		if (m->qend > cap)
			return 0;
		memcpy(out, m->wire, m->qend);
		len = m->qend;
		tc = true;
	}
	dns_wr16(out, q->id);
	dns_wr16(out + 2, f);
	/* the question in the client's letter case (same length) */
	memcpy(out + DNS_HDR_LEN, q->pkt + DNS_HDR_LEN,
	    m->qend - DNS_HDR_LEN);
	return dns_reply_finish_raw(out, len, m->qend, cap, tc, q, o);
}

int64_t
dns_msg_reply_ttl(const struct dns_msg *m, uint32_t elapsed,
    const uint8_t *out, size_t len)
{
	/* cut to the question: no record, and negative without an SOA */
	if (len < DNS_HDR_LEN || (dns_rd16(out + 2) & DNS_TC))
		return -1;
	return m->reply_ttl > elapsed ? m->reply_ttl - elapsed : 0;
}
