/*
 * daemon/stats.c - the counters: their names, snapshots, sums and the
 * printer in unbound-control's names and order.
 *
 * Also holds stats_http_status() and stats_counter_name() declared in
 * util/stats.h (used by modules and tools).  Nothing here writes a
 * counter another thread owns, except stats_http_status, which the
 * owning worker calls.  No sockets, no workers, no config.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "daemon/stats.h"
#include "dns/wire.h"

static const char *const counter_names[STAT_COUNT] = {
#define STAT_NAME(id, name) name,
	STATS_COUNTERS(STAT_NAME)
#undef STAT_NAME
};

const char *
stats_counter_name(int i)
{
	if (i < 0 || i >= STAT_COUNT)
		return NULL;
	return counter_names[i];
}

void
stats_http_status(struct stats *st, int code)
{
	int i;

	switch (code) {
#define STAT_HTTP_CASE(c) case c: i = STAT_HTTP_##c; break;
	STATS_HTTP_STATUSES(STAT_HTTP_CASE)
#undef STAT_HTTP_CASE
	default:
		return;
	}
	STAT_ADD_FIELD(st->http_status[i], 1);
}

static const int http_codes[STAT_HTTP_COUNT] = {
#define STAT_HTTP_CODE(c) c,
	STATS_HTTP_STATUSES(STAT_HTTP_CODE)
#undef STAT_HTTP_CODE
};

/*
 * Apply OP(field) to every counter of struct stats except
 * requestlist_max, which is a maximum and is handled by each caller.
 * Listing the fields keeps a new field from being forgotten silently:
 * the static assert below breaks when the struct grows.
 */
#define ARR(a) (sizeof(a) / sizeof((a)[0]))
#define STATS_EACH(OP, d, s) do { \
	size_t i_; \
	for (i_ = 0; i_ < ARR((d)->c); i_++) OP((d)->c[i_], (s)->c[i_]); \
	for (i_ = 0; i_ < ARR((d)->qtype); i_++) \
		OP((d)->qtype[i_], (s)->qtype[i_]); \
	OP((d)->qtype_other, (s)->qtype_other); \
	for (i_ = 0; i_ < ARR((d)->qclass); i_++) \
		OP((d)->qclass[i_], (s)->qclass[i_]); \
	OP((d)->qclass_other, (s)->qclass_other); \
	for (i_ = 0; i_ < ARR((d)->opcode); i_++) \
		OP((d)->opcode[i_], (s)->opcode[i_]); \
	for (i_ = 0; i_ < ARR((d)->rcode); i_++) \
		OP((d)->rcode[i_], (s)->rcode[i_]); \
	for (i_ = 0; i_ < ARR((d)->http_status); i_++) \
		OP((d)->http_status[i_], (s)->http_status[i_]); \
	for (i_ = 0; i_ < ARR((d)->hist); i_++) \
		OP((d)->hist[i_], (s)->hist[i_]); \
	OP((d)->rec_time_usec, (s)->rec_time_usec); \
	OP((d)->requestlist_sum, (s)->requestlist_sum); \
} while (0)

_Static_assert(sizeof(struct stats) == sizeof(uint64_t) * (STAT_COUNT +
    256 + 1 + 256 + 1 + 16 + 16 + STAT_HTTP_COUNT + STATS_HIST_BUCKETS + 3),
    "struct stats changed: update STATS_EACH");

#define OP_LOAD(d, s)	((d) = STAT_LOAD(s))
#define OP_SUB(d, s)	((d) = (d) >= (s) ? (d) - (s) : 0)
#define OP_ADD(d, s)	((d) += (s))

void
stats_load(struct stats *dst, const struct stats *src)
{
	STATS_EACH(OP_LOAD, dst, src);
	dst->requestlist_max = STAT_LOAD(src->requestlist_max);
}

void
stats_sub(struct stats *dst, const struct stats *base)
{
	STATS_EACH(OP_SUB, dst, base);
}

void
stats_add(struct stats *dst, const struct stats *src)
{
	STATS_EACH(OP_ADD, dst, src);
	if (src->requestlist_max > dst->requestlist_max)
		dst->requestlist_max = src->requestlist_max;
}

/* ------------------------------------------------------------ histogram */

#define USEC ((uint64_t)1000000)
/* Bucket 20 starts at 2^19 usec and ends at one second; above that the
 * bounds double in whole seconds (Unbound's timehist layout). */
#define HIST_USEC_BUCKETS 20

void
stats_hist_bounds(int i, uint64_t *lo, uint64_t *hi)
{
	if (i <= 0) {
		*lo = 0;
		*hi = 1;
	} else if (i < HIST_USEC_BUCKETS) {
		*lo = 1ULL << (i - 1);
		*hi = 1ULL << i;
	} else if (i == HIST_USEC_BUCKETS) {
		*lo = 1ULL << (HIST_USEC_BUCKETS - 1);
		*hi = USEC;
	} else {
		*lo = (1ULL << (i - HIST_USEC_BUCKETS - 1)) * USEC;
		*hi = (1ULL << (i - HIST_USEC_BUCKETS)) * USEC;
	}
}

int
stats_hist_bucket(uint64_t usec)
{
	int i;
	uint64_t lo, hi;

	for (i = 0; i < STATS_HIST_BUCKETS - 1; i++) {
		stats_hist_bounds(i, &lo, &hi);
		if (usec < hi)
			return i;
	}
	return STATS_HIST_BUCKETS - 1;
}

double
stats_hist_median(const struct stats *st)
{
	uint64_t total = 0, passed = 0, lo, hi;
	double want;
	int i;

	for (i = 0; i < STATS_HIST_BUCKETS; i++)
		total += st->hist[i];
	if (total == 0)
		return 0.0;
	want = (double)total / 2.0;
	for (i = 0; i < STATS_HIST_BUCKETS - 1; i++) {
		if ((double)(passed + st->hist[i]) >= want && st->hist[i] > 0)
			break;
		passed += st->hist[i];
	}
	stats_hist_bounds(i, &lo, &hi);
	if (st->hist[i] == 0)
		return (double)lo / (double)USEC;
	return ((double)lo + (want - (double)passed) /
	    (double)st->hist[i] * (double)(hi - lo)) / (double)USEC;
}

/* -------------------------------------------------------------- printer */

static void
print_u(FILE *out, const char *pre, const char *name, uint64_t v)
{
	fprintf(out, "%s%s=%" PRIu64 "\n", pre, name, v);
}

static void
print_tv(FILE *out, const char *name, const struct timeval *tv)
{
	fprintf(out, "%s=%lld.%06d\n", name, (long long)tv->tv_sec,
	    (int)tv->tv_usec);
}

/* The counters printed per thread (and as total.), in Unbound's order. */
static const int thread_ids[] = {
	STAT_NUM_QUERIES, STAT_NUM_QUERIES_IP_RATELIMITED,
	STAT_NUM_CACHEHITS, STAT_NUM_CACHEMISS, STAT_NUM_PREFETCH,
	STAT_NUM_EXPIRED, STAT_NUM_RECURSIVEREPLIES
};

static void
print_thread(FILE *out, const char *pre, const struct stats *st,
    uint64_t current, uint64_t tcpusage)
{
	uint64_t missed, replies, avg_usec;
	size_t i;

	for (i = 0; i < ARR(thread_ids); i++)
		print_u(out, pre, counter_names[thread_ids[i]],
		    st->c[thread_ids[i]]);
	/* average requests in the list when a new one was added */
	missed = st->c[STAT_NUM_CACHEMISS] + st->c[STAT_NUM_PREFETCH];
	fprintf(out, "%srequestlist.avg=%g\n", pre, missed ?
	    (double)st->requestlist_sum / (double)missed : 0.0);
	print_u(out, pre, "requestlist.max", st->requestlist_max);
	print_u(out, pre, counter_names[STAT_REQUESTLIST_OVERWRITTEN],
	    st->c[STAT_REQUESTLIST_OVERWRITTEN]);
	print_u(out, pre, counter_names[STAT_REQUESTLIST_EXCEEDED],
	    st->c[STAT_REQUESTLIST_EXCEEDED]);
	print_u(out, pre, "requestlist.current.all", current);
	/* cairn makes no internal queries: every request has a client */
	print_u(out, pre, "requestlist.current.user", current);
	replies = st->c[STAT_NUM_RECURSIVEREPLIES];
	avg_usec = replies ? st->rec_time_usec / replies : 0;
	fprintf(out, "%srecursion.time.avg=%" PRIu64 ".%06" PRIu64 "\n", pre,
	    avg_usec / USEC, avg_usec % USEC);
	fprintf(out, "%srecursion.time.median=%g\n", pre,
	    stats_hist_median(st));
	print_u(out, pre, "tcpusage", tcpusage);
}

static const char *
class_name(int c, char buf[16])
{
	switch (c) {
	case 1: return "IN";
	case 3: return "CH";
	case 4: return "HS";
	case 254: return "NONE";
	case 255: return "ANY";
	}
	snprintf(buf, 16, "CLASS%d", c);
	return buf;
}

static const char *
opcode_name(int op, char buf[16])
{
	static const char *const names[] = { "QUERY", "IQUERY", "STATUS",
	    NULL, "NOTIFY", "UPDATE" };

	if (op >= 0 && op < (int)ARR(names) && names[op])
		return names[op];
	snprintf(buf, 16, "OPCODE%d", op);
	return buf;
}

static const char *
rcode_name(int rc, char buf[16])
{
	const char *s = dns_rcode_to_text(rc);

	if (s)
		return s;
	snprintf(buf, 16, "RCODE%d", rc);
	return buf;
}

/* The extended statistics, global, in Unbound's order; marks what it
 * printed so that the cairn section can print the rest. */
static void
print_ext(FILE *out, const struct stats *s, bool printed[STAT_COUNT])
{
	static const int mid[] = {
		STAT_QUERY_TCP, STAT_QUERY_TCPOUT, STAT_QUERY_UDPOUT,
		STAT_QUERY_TLS, STAT_QUERY_TLS_RESUME, STAT_QUERY_HTTPS,
		STAT_QUERY_IPV6,
		STAT_FLAG_QR, STAT_FLAG_AA, STAT_FLAG_TC, STAT_FLAG_RD,
		STAT_FLAG_RA, STAT_FLAG_Z, STAT_FLAG_AD, STAT_FLAG_CD,
		STAT_EDNS_PRESENT, STAT_EDNS_DO
	};
	static const int tail[] = {
		STAT_ANSWER_NODATA, STAT_ANSWER_SECURE, STAT_ANSWER_BOGUS,
		STAT_UNWANTED_QUERIES, STAT_UNWANTED_REPLIES
	};
	char buf[16], name[64];
	size_t i;

	for (i = 0; i < ARR(s->qtype); i++) {
		if (s->qtype[i] == 0)
			continue;
		/* Unbound prints type 255 as ANY */
		snprintf(name, sizeof(name), "num.query.type.%s", i == 255 ?
		    "ANY" : dns_type_to_text((uint16_t)i, buf));
		print_u(out, "", name, s->qtype[i]);
	}
	if (s->qtype_other)
		print_u(out, "", "num.query.type.other", s->qtype_other);
	for (i = 0; i < ARR(s->qclass); i++) {
		if (s->qclass[i] == 0)
			continue;
		snprintf(name, sizeof(name), "num.query.class.%s",
		    class_name((int)i, buf));
		print_u(out, "", name, s->qclass[i]);
	}
	if (s->qclass_other)
		print_u(out, "", "num.query.class.other", s->qclass_other);
	for (i = 0; i < ARR(s->opcode); i++) {
		if (s->opcode[i] == 0)
			continue;
		snprintf(name, sizeof(name), "num.query.opcode.%s",
		    opcode_name((int)i, buf));
		print_u(out, "", name, s->opcode[i]);
	}
	for (i = 0; i < ARR(mid); i++) {
		print_u(out, "", counter_names[mid[i]], s->c[mid[i]]);
		printed[mid[i]] = true;
	}
	for (i = 0; i < ARR(s->rcode); i++) {
		/* NOERROR..REFUSED always, the others when seen */
		if (s->rcode[i] == 0 && i > 5)
			continue;
		snprintf(name, sizeof(name), "num.answer.rcode.%s",
		    rcode_name((int)i, buf));
		print_u(out, "", name, s->rcode[i]);
	}
	for (i = 0; i < ARR(tail); i++) {
		print_u(out, "", counter_names[tail[i]], s->c[tail[i]]);
		printed[tail[i]] = true;
	}
}

void
stats_print(FILE *out, const struct stats_thread *th, int n,
    const struct stats_global *g)
{
	static const int cairn_first[] = {
		STAT_QUERY_UDP, STAT_QUERY_TLSOUT, STAT_QUERY_HTTPSOUT
	};
	struct stats total;
	bool printed[STAT_COUNT];
	uint64_t current = 0, tcpusage = 0, lo, hi;
	char pre[32], name[64];
	size_t k;
	int i;

	memset(&total, 0, sizeof(total));
	memset(printed, 0, sizeof(printed));
	for (i = 0; i < n; i++) {
		snprintf(pre, sizeof(pre), "thread%d.", i);
		print_thread(out, pre, &th[i].st, th[i].requestlist_current,
		    th[i].tcpusage);
		stats_add(&total, &th[i].st);
		current += th[i].requestlist_current;
		tcpusage += th[i].tcpusage;
	}
	print_thread(out, "total.", &total, current, tcpusage);
	for (k = 0; k < ARR(thread_ids); k++)
		printed[thread_ids[k]] = true;
	printed[STAT_REQUESTLIST_OVERWRITTEN] = true;
	printed[STAT_REQUESTLIST_EXCEEDED] = true;

	print_tv(out, "time.now", &g->now);
	print_tv(out, "time.up", &g->up);
	print_tv(out, "time.elapsed", &g->elapsed);
	print_u(out, "", "mem.cache.message", g->mem_cache_message);
	print_u(out, "", "mem.http.query_buffer", g->mem_http_query_buffer);
	print_u(out, "", "mem.http.response_buffer",
	    g->mem_http_response_buffer);
	print_u(out, "", "mem.http.upstream", g->mem_http_upstream);

	for (i = 0; i < STATS_HIST_BUCKETS; i++) {
		stats_hist_bounds(i, &lo, &hi);
		snprintf(name, sizeof(name),
		    "histogram.%06" PRIu64 ".%06" PRIu64 ".to.%06" PRIu64
		    ".%06" PRIu64, lo / USEC, lo % USEC, hi / USEC, hi % USEC);
		print_u(out, "", name, total.hist[i]);
	}

	print_ext(out, &total, printed);

	/* cairn's own, named in the same style */
	for (k = 0; k < ARR(cairn_first); k++) {
		print_u(out, "", counter_names[cairn_first[k]],
		    total.c[cairn_first[k]]);
		printed[cairn_first[k]] = true;
	}
	for (i = 0; i < STAT_HTTP_COUNT; i++) {
		snprintf(name, sizeof(name), "num.http.status.%d",
		    http_codes[i]);
		print_u(out, "", name, total.http_status[i]);
	}
	for (i = 0; i < STAT_COUNT; i++)
		if (!printed[i])
			print_u(out, "", counter_names[i], total.c[i]);
}
