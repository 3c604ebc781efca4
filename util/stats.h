/*
 * util/stats.h - the counters, defined once.
 *
 * Each worker owns one struct stats and is its only writer (STAT_INC and
 * STAT_ADD are relaxed atomic stores, so the control thread may read
 * while workers run).  The list below is used by the daemon, by the
 * printer in daemon/stats.c (thread%d. and total. lines in Unbound's
 * names) and by the test that checks doc/cairn-control.8.  Gauges that
 * are not counters (mem.*, requestlist.current.all, tcpusage) are read
 * from their owners when printing.
 */
#ifndef CAIRN_UTIL_STATS_H
#define CAIRN_UTIL_STATS_H

#include <stdint.h>

/* X(ID, "name") - plain counters, printed as threadN.name and total.name */
#define STATS_COUNTERS(X) \
	X(NUM_QUERIES,		"num.queries") \
	X(NUM_QUERIES_IP_RATELIMITED, "num.queries_ip_ratelimited") \
	X(NUM_CACHEHITS,	"num.cachehits") \
	X(NUM_CACHEMISS,	"num.cachemiss") \
	X(NUM_PREFETCH,		"num.prefetch") \
	X(NUM_EXPIRED,		"num.expired") \
	X(NUM_RECURSIVEREPLIES,	"num.recursivereplies") \
	X(REQUESTLIST_OVERWRITTEN, "requestlist.overwritten") \
	X(REQUESTLIST_EXCEEDED,	"requestlist.exceeded") \
	X(QUERY_UDP,		"num.query.udp") \
	X(QUERY_TCP,		"num.query.tcp") \
	X(QUERY_TLS,		"num.query.tls") \
	X(QUERY_TLS_RESUME,	"num.query.tls.resume") \
	X(QUERY_HTTPS,		"num.query.https") \
	X(QUERY_IPV6,		"num.query.ipv6") \
	X(QUERY_TCPOUT,		"num.query.tcpout") \
	X(QUERY_UDPOUT,		"num.query.udpout") \
	X(QUERY_TLSOUT,		"num.query.tlsout") \
	X(QUERY_HTTPSOUT,	"num.query.httpsout") \
	X(QUERY_SUBNET,		"num.query.subnet") \
	X(QUERY_SUBNET_CACHE,	"num.query.subnet_cache") \
	X(FLAG_QR,		"num.query.flags.QR") \
	X(FLAG_AA,		"num.query.flags.AA") \
	X(FLAG_TC,		"num.query.flags.TC") \
	X(FLAG_RD,		"num.query.flags.RD") \
	X(FLAG_RA,		"num.query.flags.RA") \
	X(FLAG_Z,		"num.query.flags.Z") \
	X(FLAG_AD,		"num.query.flags.AD") \
	X(FLAG_CD,		"num.query.flags.CD") \
	X(EDNS_PRESENT,		"num.query.edns.present") \
	X(EDNS_DO,		"num.query.edns.DO") \
	X(ANSWER_NODATA,	"num.answer.rcode.nodata") \
	X(ANSWER_SECURE,	"num.answer.secure") \
	X(ANSWER_BOGUS,		"num.answer.bogus") \
	X(UNWANTED_QUERIES,	"unwanted.queries") \
	X(UNWANTED_REPLIES,	"unwanted.replies") \
	X(TCP_REFUSED_LIMIT,	"num.tcp.refused.limit") \
	X(TCP_ACCEPTED,		"num.tcp.accepted") \
	X(HTTP_RST_RECEIVED,	"num.http.rst.received") \
	X(HTTP_RST_SENT,	"num.http.rst.sent") \
	X(HTTP_GOAWAY_SENT,	"num.http.goaway.sent") \
	X(QUERY_DROPPED,	"num.query.dropped")

/* X(code) - HTTP statuses counted as num.http.status.NNN */
#define STATS_HTTP_STATUSES(X) \
	X(200) X(400) X(404) X(405) X(413) X(414) X(415) X(431) X(500) \
	X(501) X(505)

enum stat_id {
#define STAT_ENUM(id, name) STAT_##id,
	STATS_COUNTERS(STAT_ENUM)
#undef STAT_ENUM
	STAT_COUNT
};

enum stat_http_status {
#define STAT_HTTP_ENUM(code) STAT_HTTP_##code,
	STATS_HTTP_STATUSES(STAT_HTTP_ENUM)
#undef STAT_HTTP_ENUM
	STAT_HTTP_COUNT
};

#define STATS_HIST_BUCKETS 40	/* Unbound's recursion time histogram */

struct stats {
	uint64_t c[STAT_COUNT];
	uint64_t qtype[256];		/* types 0..255 */
	uint64_t qtype_other;		/* types >= 256 */
	uint64_t qclass[256];
	uint64_t qclass_other;
	uint64_t opcode[16];
	uint64_t rcode[16];		/* answer rcodes (low 4 bits) */
	uint64_t http_status[STAT_HTTP_COUNT];
	uint64_t hist[STATS_HIST_BUCKETS];
	uint64_t rec_time_usec;		/* sum over recursive replies */
	uint64_t requestlist_sum;	/* for requestlist.avg */
	uint64_t requestlist_max;
};

#define STAT_ADD_FIELD(f, n) \
	__atomic_store_n(&(f), (f) + (uint64_t)(n), __ATOMIC_RELAXED)
#define STAT_INC(st, id)	STAT_ADD_FIELD((st)->c[STAT_##id], 1)
#define STAT_ADD(st, id, n)	STAT_ADD_FIELD((st)->c[STAT_##id], n)
#define STAT_LOAD(f)		__atomic_load_n(&(f), __ATOMIC_RELAXED)

/* Count one answer with HTTP status 'code' (ignored if not listed). */
void stats_http_status(struct stats *st, int code);
/* Name of counter i ("num.queries"); NULL past the end. */
const char *stats_counter_name(int i);

#endif
