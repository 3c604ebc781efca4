/*
 * dns/wire.h - DNS wire format: parse a query, check an upstream reply,
 * build replies, queries and cacheable messages.
 *
 * Everything here works on caller-owned buffers: nothing allocates on the
 * query path (dns_msg_new, used when an upstream answer is cached, is the
 * one allocating call).  Every read is bounds-checked: hostile input gives
 * an error code, never a read past the end.  Names are handled in wire
 * form; "lc" names are lowercased, uncompressed wire names.
 */
#ifndef CAIRN_DNS_WIRE_H
#define CAIRN_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_HDR_LEN		12
#define DNS_MAX_NAME		255
#define DNS_MAX_UDP_NOEDNS	512
#define DNS_PAD_BLOCK		468	/* RFC 8467 block padding, responses */

/* header flag bits (in the 16-bit flags word) */
#define DNS_QR	0x8000
#define DNS_AA	0x0400
#define DNS_TC	0x0200
#define DNS_RD	0x0100
#define DNS_RA	0x0080
#define DNS_Z	0x0040
#define DNS_AD	0x0020
#define DNS_CD	0x0010
#define DNS_OPCODE(f)	(((f) >> 11) & 0xf)
#define DNS_RCODE(f)	((f) & 0xf)

enum dns_rcode {
	DNS_RCODE_NOERROR = 0, DNS_RCODE_FORMERR = 1, DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3, DNS_RCODE_NOTIMPL = 4, DNS_RCODE_REFUSED = 5,
	DNS_RCODE_BADVERS = 16	/* extended, needs OPT */
};

enum dns_type {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6,
	DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28,
	DNS_T_SRV = 33, DNS_T_DS = 43, DNS_T_RRSIG = 46, DNS_T_NSEC = 47,
	DNS_T_DNSKEY = 48, DNS_T_NSEC3 = 50, DNS_T_SVCB = 64,
	DNS_T_HTTPS = 65, DNS_T_OPT = 41, DNS_T_AXFR = 252, DNS_T_IXFR = 251,
	DNS_T_ANY = 255, DNS_T_CAA = 257,
	DNS_T_SIG = 24, DNS_T_TSIG = 250	/* dropped when caching */
};
#define DNS_C_IN	1
#define DNS_C_CH	3
#define DNS_EDNS_DO	0x8000
#define DNS_OPT_ECS	8
#define DNS_OPT_PADDING	12

/* A client query, parsed in place; pointers refer to the packet. */
struct dns_query {
	const uint8_t *pkt;
	size_t len;
	uint16_t id;
	uint16_t flags;		/* the header's flag word */
	uint16_t qtype;
	uint16_t qclass;
	uint8_t qname[DNS_MAX_NAME];	/* lowercased wire name */
	size_t qname_len;
	size_t question_end;	/* offset just past the question */
	bool edns;		/* an OPT RR was present */
	uint16_t edns_udp;	/* requestor's payload size (>= 512) */
	uint8_t edns_version;
	bool edns_do;
	bool edns_padding;	/* the padding option was present */
	bool ecs;		/* client subnet option present (valid:
				   RFC 7871 7.1.1, else FORMERR) */
	uint16_t ecs_family;	/* 1 IPv4, 2 IPv6 */
	uint8_t ecs_source;	/* source prefix length */
	uint8_t ecs_addr[16];	/* bits past ecs_source are zero */
};

/*
 * Parse a query. Returns:
 *   0 a well-formed QUERY with one question;
 *   -1 not even a header (drop it);
 *   DNS_RCODE_FORMERR (malformed, QR set, QDCOUNT != 1, bad OPT),
 *   DNS_RCODE_NOTIMPL (opcode other than QUERY),
 *   DNS_RCODE_BADVERS (EDNS version > 0).
 * On a non-zero return the fields that could be read are filled in
 * (id, flags always when >= 12 bytes; the question when it parsed).
 */
int dns_query_parse(struct dns_query *q, const uint8_t *pkt, size_t len);

/* A bounded output buffer; 'overflow' is set instead of writing past cap. */
struct dns_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool overflow;
};

/* How a reply is finished for one client. */
struct dns_reply_opts {
	size_t max_len;		/* UDP: client's size (512 without EDNS);
				   stream transports: 65535 */
	uint16_t edns_udp;	/* our payload size in the OPT (edns-buffer-size) */
	bool pad;		/* pad to DNS_PAD_BLOCK if the query asked
				   (encrypted transports only) */
	bool ecs;		/* echo the query's client subnet option
				   (when it had one) with SCOPE ecs_scope */
	uint8_t ecs_scope;
};

/*
 * Start a reply to 'q' in 'b': header (id, opcode, RD and CD copied from
 * the query, QR and RA set, 'rcode' low bits, 'flags' OR-ed in, e.g. AA)
 * and the question as the client sent it (its letter case).  Counts are
 * zero; dns_reply_add_rr increments them.
 */
void dns_reply_start(struct dns_buf *b, const struct dns_query *q, int rcode,
    uint16_t flags);
/*
 * section: 1 answer, 2 authority, 3 additional. owner is a wire name.
 * Add the RRs section by section (answers first).  An owner equal to the
 * question name is written as a pointer to it.  When the RR does not
 * fit in b->cap, b->overflow is set and nothing is written; the finish
 * then truncates with TC.
 */
void dns_reply_add_rr(struct dns_buf *b, int section, const uint8_t *owner,
    size_t owner_len, uint16_t type, uint16_t rclass, uint32_t ttl,
    const uint8_t *rdata, size_t rdlen);
/*
 * Finish: add an OPT RR if the query had EDNS (extended rcode bits for
 * BADVERS, DO echoed, the query's client subnet option with SCOPE
 * o->ecs_scope if o->ecs and the query had one, padding if o->pad and
 * the query had padding), and
 * if the reply exceeds o->max_len, cut it to header + question (+ OPT)
 * with TC set.  Returns the final length, or 0 if even that does not fit.
 * The OPT carries o->edns_udp (at least 512), DO as the query had it,
 * version 0, and extended rcode 1 (BADVERS) when the query's EDNS
 * version was > 0 and the header rcode is 0.  Padding (RFC 8467) makes
 * the whole message a multiple of DNS_PAD_BLOCK, or stops at max_len.
 */
size_t dns_reply_finish(struct dns_buf *b, const struct dns_query *q,
    const struct dns_reply_opts *o);

/* An error reply (FORMERR, SERVFAIL, REFUSED, NOTIMPL, BADVERS) to q.
 * Works with a partly parsed query (no question: header only). */
size_t dns_reply_error(uint8_t *out, size_t cap, const struct dns_query *q,
    int rcode, const struct dns_reply_opts *o);

/*
 * Build an upstream query: RD set (and CD if cd), a question, an OPT with
 * 'edns_udp' and DO if 'dnssec_ok'.  Returns length or 0 if cap too small.
 */
size_t dns_query_build(uint8_t *out, size_t cap, uint16_t id,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t qclass,
    bool cd, bool dnssec_ok, uint16_t edns_udp);

/*
 * EDNS Client Subnet (RFC 7871): the option's fields, the address
 * always with the bits past 'source' zero.
 */
struct dns_ecs {
	uint16_t family;	/* 1 IPv4, 2 IPv6 */
	uint8_t source;		/* SOURCE PREFIX-LENGTH */
	uint8_t scope;		/* SCOPE PREFIX-LENGTH */
	uint8_t addr[16];
};

/* Address bits of a family: 32, 128, or 0 for an unknown family. */
unsigned dns_ecs_family_bits(uint16_t family);
/* Zero every bit of addr[16] past the first 'bits'. */
void dns_ecs_mask(uint8_t addr[16], unsigned bits);
/*
 * Parse the data of an ECS option (n bytes at d, after code and
 * length) into *e.  Refused (-1) as RFC 7871 7.1.1 says a server
 * answers FORMERR: a family other than 1 or 2, a source or scope
 * prefix longer than the address, an address of other than
 * ceil(source / 8) octets, non-zero bits past the source prefix, and in
 * a query ('query' true) a non-zero scope.  Returns 0 or -1.
 */
int dns_ecs_parse(struct dns_ecs *e, const uint8_t *d, size_t n, bool query);
/*
 * Write e as a whole option (code 8, length, family, source, scope,
 * ceil(source / 8) address octets) into out[cap].  Returns the bytes
 * written, 0 if cap is too small or the family is unknown.
 */
size_t dns_ecs_write(uint8_t *out, size_t cap, const struct dns_ecs *e);
/*
 * The ECS a resolver sends for a client at 'sa': its address cut to
 * max4 (IPv4, also IPv4-mapped IPv6) or max6 bits, scope 0.  Returns
 * false (e untouched) for another address family or NULL.
 */
bool dns_ecs_from_addr(struct dns_ecs *e, const struct sockaddr *sa,
    unsigned max4, unsigned max6);
/*
 * The ECS option of a reply's OPT RR.  Returns 1 (found, valid, in *e),
 * 0 (no OPT or no ECS option) or -1 (the message or the option is
 * malformed).
 */
int dns_reply_ecs(const uint8_t *pkt, size_t len, struct dns_ecs *e);

/*
 * Check that an upstream reply answers our query: length >= header,
 * QR set, same id, one question equal (case-insensitively) to qname,
 * qtype, qclass, and the whole message parses.  Returns true if so.
 */
bool dns_reply_matches(const uint8_t *pkt, size_t len, uint16_t id,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t qclass);

/*
 * The TTL a cache may keep a reply for: the smallest TTL of the answer
 * and authority sections (OPT excluded); for NXDOMAIN and NODATA replies,
 * min(SOA TTL, SOA MINIMUM) of the authority SOA (RFC 2308), or -1 when
 * there is no SOA.  Also what DoH puts in cache-control max-age.
 * Returns -1 for a message that does not parse.
 */
int64_t dns_reply_min_ttl(const uint8_t *pkt, size_t len);

/*
 * A reply as kept in the cache: the upstream message without its OPT RR
 * (ARCOUNT adjusted), with the offset of every TTL so that a copy can be
 * aged quickly.  One allocation holds it all.
 */
struct dns_msg {
	size_t len;		/* bytes in wire */
	uint16_t nttl;		/* entries in ttl_off */
	uint16_t rcode;		/* low 4 bits of the upstream rcode */
	uint32_t ttl;		/* cache lifetime chosen (after min/max clamps) */
	uint32_t reply_ttl;	/* dns_reply_min_ttl of a whole reply made
				   from it with nothing elapsed */
	bool negative;		/* NXDOMAIN or NODATA */
	uint16_t *ttl_off;	/* points into this allocation */
	uint8_t *wire;		/* points into this allocation */
	size_t qend;		/* offset past the question in wire */
};

/*
 * Make a cacheable message from an upstream reply that passed
 * dns_reply_matches.  TTLs are clamped to [min_ttl, max_ttl] (and
 * negative answers to max_neg_ttl) in the stored copy.  Returns NULL on
 * allocation failure or when the reply must not be cached (e.g. SERVFAIL,
 * TC set, negative without SOA); *why gets a short reason (may be NULL).
 * Also refused: rcodes other than NOERROR/NXDOMAIN, QR clear, OPT in the
 * answer or authority section, a name made of TTL bytes.  The OPT,
 * TSIG and SIG(0) RRs and whatever follows them are not stored.
 * Positive: every TTL clamped to [min_ttl, max_ttl], m->ttl the
 * smallest answer/authority TTL.  Negative: TTLs capped at
 * min(max_neg_ttl, max_ttl), the authority SOA's TTL lowered to its
 * MINIMUM (RFC 2308 5), m->ttl the smallest answer/authority TTL.
 */
struct dns_msg *dns_msg_new(const uint8_t *pkt, size_t len, uint32_t min_ttl,
    uint32_t max_ttl, uint32_t max_neg_ttl, const char **why);
void dns_msg_free(struct dns_msg *m);
/* Bytes of memory the message holds (for msg-cache-size accounting). */
size_t dns_msg_size(const struct dns_msg *m);

/*
 * Write the cached message as the reply to 'q': id, RD, CD from q, the
 * question as q wrote it, every TTL reduced by 'elapsed' seconds, then
 * finished as dns_reply_finish does.  Returns the length, 0 on failure
 * (q's question is not as long as the stored one, cap too small).
 * Flags: opcode and rcode as stored, QR RA set, AA and TC cleared, RD CD
 * from q, AD as stored but only when q had DO or AD (RFC 6840 5.8).
 * The caller checks that q asks the cached question; this does not.
 */
size_t dns_msg_reply(const struct dns_msg *m, uint32_t elapsed,
    const struct dns_query *q, const struct dns_reply_opts *o,
    uint8_t *out, size_t cap);
/*
 * What dns_reply_min_ttl(out, len) returns for the reply that
 * dns_msg_reply(m, elapsed, ...) just wrote into out[0..len), found
 * without walking it: the stored smallest TTL aged by 'elapsed', or -1
 * when the reply was cut to its question (TC).  The DoH max-age of a
 * cache hit, so that the answer is not parsed once more to learn it.
 */
int64_t dns_msg_reply_ttl(const struct dns_msg *m, uint32_t elapsed,
    const uint8_t *out, size_t len);

/* Name helpers (wire format). */
/* Length of an uncompressed wire name at p (<= max), or 0 if invalid. */
size_t dns_name_len(const uint8_t *p, size_t max);
/* Lowercase copy of a wire name. */
void dns_name_lower(uint8_t *dst, const uint8_t *src, size_t len);
/* True if 'name' equals 'zone' or is below it (both lc wire names). */
bool dns_name_subdomain(const uint8_t *name, size_t name_len,
    const uint8_t *zone, size_t zone_len);
/*
 * Presentation "www.Example.com." (or without the final dot) to lc wire.
 * Returns the wire length or 0 if invalid.
 */
size_t dns_name_from_text(const char *s, uint8_t out[DNS_MAX_NAME]);
/* Wire name to presentation (with final dot). Returns 0 or -1. */
int dns_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap);

/* Type and class names: "A" <-> 1, "TYPE65534" for unknown. */
int dns_type_from_text(const char *s);	/* -1 if unknown */
const char *dns_type_to_text(uint16_t type, char buf[16]);
int dns_class_from_text(const char *s);	/* -1 if unknown */
const char *dns_rcode_to_text(int rcode);	/* "NOERROR", ..., NULL */

#endif
