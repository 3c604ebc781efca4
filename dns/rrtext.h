/*
 * dns/rrtext.h - resource records in presentation format (zone file
 * syntax), for local-data and for the client's printing.
 *
 * Parses and prints A, AAAA, NS, CNAME, PTR, MX, TXT, SOA, SRV, CAA,
 * DS, and RFC 3597 generic "\# len hex" for any type; prints also
 * DNSKEY, RRSIG, NSEC, NSEC3, SVCB/HTTPS (the client needs them).
 */
#ifndef CAIRN_DNS_RRTEXT_H
#define CAIRN_DNS_RRTEXT_H

#include <stddef.h>
#include <stdint.h>
#include "dns/wire.h"

struct dns_rr {
	uint8_t owner[DNS_MAX_NAME];	/* lowercased wire name */
	size_t owner_len;
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t rdata[65535];
};

/*
 * Parse one RR: "owner [TTL] [CLASS] TYPE rdata", e.g.
 * "www.example.com. 3600 IN A 192.0.2.1" or 'x TXT "a b" "c"'.
 * A missing TTL is 'default_ttl'; a missing class IN.  Names without a
 * final dot are taken as absolute.  Returns 0, or -1 with a short reason
 * in *why.
 */
int dns_rr_from_text(const char *s, uint32_t default_ttl, struct dns_rr *rr,
    const char **why);

/*
 * Print the RR at rr_off of message pkt (name compression resolved) in
 * presentation format, "name. TTL IN TYPE rdata", no newline.
 * *next gets the offset after it.  Returns 0 or -1 if it does not parse.
 */
int dns_rr_to_text(const uint8_t *pkt, size_t len, size_t rr_off,
    size_t *next, char *out, size_t cap);

#endif
