/*
 * dns/wire_int.h - helpers shared by the dns/ sources only (wire.c,
 * msg.c, rrtext.c): reading names and RRs of a received message with
 * every bound checked.  Not a contract: other areas use dns/wire.h.
 *
 * Compression rules enforced by all readers: a pointer must point
 * strictly before the start of the name segment that contains it (so
 * pointers only go backwards and a walk always ends), at or after the
 * header, with at most DNS_PTR_HOPS jumps; the expanded name is at most
 * 255 octets and each label at most 63.
 */
#ifndef CAIRN_DNS_WIRE_INT_H
#define CAIRN_DNS_WIRE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_PTR_HOPS	127

static inline uint16_t
dns_rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
dns_rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void
dns_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
dns_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One resource record as found in a message. */
struct dns_rrinfo {
	size_t owner_off;	/* where the owner name starts */
	size_t ttl_off;		/* offset of the 32-bit TTL */
	size_t rdata_off;
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	uint16_t rdlen;
};

/*
 * Read the (possibly compressed) name at 'off' of pkt[0..len).  If 'out'
 * is not NULL the expanded wire name is written there (at most
 * DNS_MAX_NAME bytes, letter case kept) and its length in *outlen.
 * *next gets the offset just past the name as it sits at 'off'.
 * Returns 0, or -1 if the name is malformed or runs past the end.
 */
int dns_pkt_name(const uint8_t *pkt, size_t len, size_t off, uint8_t *out,
    size_t *outlen, size_t *next);

/* The same, refusing to read any byte whose bit is set in 'forbid' (a
 * bitmap over offsets, NULL for none): dns_msg_new uses it so that no
 * name is made of TTL bytes, which change as the message ages. */
int dns_pkt_name_ex(const uint8_t *pkt, size_t len, size_t off, uint8_t *out,
    size_t *outlen, size_t *next, const uint8_t *forbid);

/* dns_pkt_name_ex without the name itself, for a caller that knows
 * where the labels of the question name start (qlab as for
 * dns_pkt_rr_at, or NULL): a pointer to one of them is not followed
 * label by label; same result. */
int dns_pkt_name_at(const uint8_t *pkt, size_t len, size_t off, size_t *next,
    const uint8_t *forbid, const uint64_t *qlab);

/* Read the RR at 'off' into *rr (rdata bounds checked); *next past it.
 * Returns 0 or -1. */
int dns_pkt_rr(const uint8_t *pkt, size_t len, size_t off,
    struct dns_rrinfo *rr, size_t *next);

/*
 * dns_pkt_rr for a caller that knows where the labels of the question
 * name start (qlab from dns_question_labels, or NULL): an owner name that is
 * just a pointer back to one of them (c0 0c and the like, nearly every
 * record of an answer) needs no walk, nor does the root (OPT), nor
 * the rest of a name once it points at one (dns_pkt_name_at).  Each is
 * accepted exactly as the walk would: the target is backwards, at
 * least a header's length in, one hop, and the question name was
 * checked as a name of at most DNS_MAX_NAME bytes without pointers.
 * forbid as for dns_pkt_name_ex (it must not cover the question).
 */
int dns_pkt_rr_at(const uint8_t *pkt, size_t len, size_t off,
    const uint64_t *qlab, struct dns_rrinfo *rr, size_t *next,
    const uint8_t *forbid);

/* Set bit i of qlab (zeroed by the caller) for each label of the
 * question name that starts at DNS_HDR_LEN + i.  Only for a message
 * whose question dns_pkt_question (or dns_pkt_scan) accepted, with a
 * question (QDCOUNT 1). */
void dns_question_labels(const uint8_t *pkt, uint64_t qlab[4]);

/*
 * Check the header and question of a message: at least a header, QDCOUNT
 * 0 or 1, an uncompressed question name.  *qend gets the offset past
 * the question (12 when QDCOUNT is 0).  Returns 0 or -1.
 */
int dns_pkt_question(const uint8_t *pkt, size_t len, size_t *qend);

/* Case-insensitive equality of two uncompressed wire names. */
bool dns_name_equal(const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen);

/* TTL as a cache must read it: RFC 2181 8, a value with the top bit set
 * counts as 0. */
static inline uint32_t
dns_ttl_sane(uint32_t t)
{
	return (t & 0x80000000u) ? 0 : t;
}

/*
 * Finish a reply held in p[0..len) (question ends at qend, header
 * counts right), with room up to 'cap': truncate when it exceeds
 * o->max_len, add the OPT and padding.  The workhorse of
 * dns_reply_finish and dns_msg_reply.  Returns the length or 0.
 */
struct dns_query;
struct dns_reply_opts;
size_t dns_reply_finish_raw(uint8_t *p, size_t len, size_t qend, size_t cap,
    bool force_tc, const struct dns_query *q,
    const struct dns_reply_opts *o);

/* What a full walk over an upstream reply found (dns_pkt_scan). */
struct dns_scan {
	size_t qend;		/* offset past the question */
	size_t ar_off;		/* where the additional section starts */
	size_t cut_off;		/* first OPT/TSIG/SIG in additional, or end */
	size_t end;		/* offset past the last RR */
	uint16_t qtype;
	uint16_t rcode;		/* low 4 bits */
	uint16_t an, ns, ar;
	uint16_t ar_kept;	/* additional RRs before cut_off */
	bool negative;		/* NXDOMAIN or NODATA (RFC 2308) */
	bool has_soa;		/* an SOA in the authority section */
	bool opt_misplaced;	/* OPT in answer or authority */
	uint32_t soa_neg;	/* min(SOA TTL, SOA MINIMUM) */
	uint32_t min_ttl;	/* smallest TTL of answer+authority, OPT
				   excluded; UINT32_MAX if none */
	uint32_t min_an_ttl;	/* the same over the answer section only */
};

/*
 * Walk a whole message (header, question, all sections) with every
 * bound checked, and classify it.  Returns 0, or -1 if it does not
 * parse (counts claiming more RRs than present included).
 */
int dns_pkt_scan(const uint8_t *pkt, size_t len, struct dns_scan *s);

/* dns_reply_matches that leaves the scan of the reply in *s (for
 * dns_msg_new_scanned; not meaningful when it returns false). */
bool dns_reply_matches_scan(const uint8_t *pkt, size_t len, uint16_t id,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t qclass,
    struct dns_scan *s);

/* dns_msg_new for a reply whose dns_pkt_scan is at hand (s: of exactly
 * pkt[0..len), e.g. from dns_reply_matches_scan); the same result
 * without scanning it again. */
struct dns_msg;
struct dns_msg *dns_msg_new_scanned(const uint8_t *pkt, size_t len,
    const struct dns_scan *s, uint32_t min_ttl, uint32_t max_ttl,
    uint32_t max_neg_ttl, const char **why);

#endif
