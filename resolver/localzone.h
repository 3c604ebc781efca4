/*
 * resolver/localzone.h - local-zone and local-data, with Unbound's
 * semantics and Unbound's default zones.
 *
 * Built from the config and shared by every worker thread; answering
 * takes a read lock, the run-time edits of the control commands
 * (localzone_zone_add ... localzone_data_remove) a write lock.  Zone types: static, transparent, typetransparent,
 * refuse, deny, always_nxdomain, always_refuse, always_nodata,
 * always_transparent, redirect, inform (answered as transparent),
 * inform_deny (as deny), nodefault (only removes a default zone).
 * Default zones (localhost., the loopback reverse zones, onion., test.,
 * invalid., home.arpa. and the AS112 reverse zones of RFC 1918 and
 * RFC 6303) are left out when a configured local-zone (any type,
 * nodefault included) is at or above their name.  local-data whose owner
 * has no enclosing zone gets a transparent zone at the owner name.
 * Lookup walks up the query name through a hash of zone names: no
 * allocation on the query path.  This file does not know sockets, the
 * cache or access control.
 */
#ifndef CAIRN_RESOLVER_LOCALZONE_H
#define CAIRN_RESOLVER_LOCALZONE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "dns/wire.h"

struct config;
struct local_zones;

#define LZ_DEFAULT_TTL 3600	/* local-data without a TTL (as Unbound) */

enum lz_type {
	LZ_STATIC, LZ_TRANSPARENT, LZ_TYPETRANSPARENT, LZ_REFUSE, LZ_DENY,
	LZ_ALWAYS_NXDOMAIN, LZ_ALWAYS_REFUSE, LZ_ALWAYS_NODATA,
	LZ_ALWAYS_TRANSPARENT, LZ_REDIRECT, LZ_INFORM, LZ_INFORM_DENY,
	LZ_NODEFAULT
};

/* "static" -> LZ_STATIC ...; -1 if unknown. */
int lz_type_parse(const char *s);
const char *lz_type_name(int t);

/*
 * Build the zones from cfg->local_zones and cfg->local_data plus the
 * defaults.  Errors are written as "FILE:LINE: local-data: VALUE: why"
 * (or local-zone) to 'err', or logged with log_err when err is NULL.
 * Returns NULL if there was any error (or on allocation failure).
 */
struct local_zones *localzone_new(const struct config *cfg, FILE *err);
void localzone_free(struct local_zones *lz);
/*
 * Rebuild lz from cfg (reload: run-time edits go, as in Unbound) and swap
 * the tables in under the write lock, so that queries go on meanwhile.
 * Errors are logged; 0, or -1 with lz unchanged.
 */
int localzone_reset(struct local_zones *lz, const struct config *cfg);

/*
 * Check cfg's local-zone and local-data as localzone_new does (for
 * cairn-checkconf).  Returns the number of errors written to 'err'.
 */
int localzone_check(const struct config *cfg, FILE *err);

enum lz_result {
	LZ_RES_NONE = 0,	/* not answered here: go on (cache, forward) */
	LZ_RES_ANSWER,		/* *len bytes written to out (0: failed) */
	LZ_RES_DROP		/* deny: send nothing */
};

/*
 * Answer 'q' from the local zones into out[cap], finished with 'o'.
 * *zone_type (if not NULL) gets the type of the zone that matched, or -1
 * (the caller logs the client for inform and inform_deny zones).
 * Returns an enum lz_result.  Thread-safe (read only).
 */
int localzone_answer(const struct local_zones *lz, const struct dns_query *q,
    const struct dns_reply_opts *o, uint8_t *out, size_t cap, size_t *len,
    int *zone_type);

/* Number of zones (for tests and logs). */
size_t localzone_count(const struct local_zones *lz);
/* Type of the zone named 'name' (lc wire), or -1 if there is none. */
int localzone_type_of(const struct local_zones *lz, const uint8_t *name,
    size_t name_len);

/*
 * Run-time edits (cairn-control local_zone, local_zone_remove,
 * local_data, local_data_remove), safe while other threads answer.
 * Names and types are text as an operator writes them.  Each returns 0,
 * or -1 with the reason in err[errlen]; zone_remove returns 1 when there
 * is no zone of that name (nothing done).
 * zone_add: add the zone or change its type; data at and below it moves
 *   to it.  zone_remove: the zone and its data go.
 * data_add: one RR in zone file syntax ("name [TTL] [IN] TYPE rdata");
 *   without an enclosing zone it gets a transparent zone at its owner.
 * data_remove: every RR owned by the name (its zone stays).
 */
int localzone_zone_add(struct local_zones *lz, const char *name,
    const char *type, char *err, size_t errlen);
int localzone_zone_remove(struct local_zones *lz, const char *name, char *err,
    size_t errlen);
int localzone_data_add(struct local_zones *lz, const char *text, char *err,
    size_t errlen);
int localzone_data_remove(struct local_zones *lz, const char *name, char *err,
    size_t errlen);
/* "NAME TYPE\n" per zone, default zones included (list_local_zones). */
void localzone_list_zones(struct local_zones *lz, FILE *out);
/* Every RR in presentation format, one a line (list_local_data).
 * Returns 0 or -1 on allocation failure. */
int localzone_list_data(struct local_zones *lz, FILE *out);

#endif
