/*
 * resolver/resolver.c - one query from bytes to answer: parse, access
 * control, local zones, message cache, forwarding with identical
 * questions joined, statistics.
 *
 * Order for a query (as Unbound's worker does it):
 *   1. dns_query_parse: not even a header -> drop.
 *   2. access-control: deny -> drop, refuse -> REFUSED (both count
 *      unwanted.queries and not num.queries, as Unbound).
 *   3. num.queries and the query counters; FORMERR/NOTIMPL/BADVERS;
 *      AXFR/IXFR REFUSED, meta types (OPT, 128-254 but ANY) FORMERR.
 *   4. local zones (counted as cache hits, as Unbound).
 *   5. deny_non_local -> drop, refuse_non_local -> REFUSED; RD=0 is
 *      REFUSED unless allow_snoop (which may read the cache, and gets
 *      REFUSED on a miss: we do not resolve non-recursive queries).
 *   6. cache -> hit; else miss: join the in-flight upstream query for the
 *      same key, or start one (FWD_MAX_PENDING per worker, lowered to
 *      RLIMIT_NOFILE / 2 / num-threads if that is smaller, at least 64;
 *      over it SERVFAIL and requestlist.exceeded).
 *   With send-client-subnet (RFC 7871; off when not configured, and
 *   then none of this runs): step 6 on a miss also looks for an answer
 *   cached for the client's subnet, at each scope the cache holds, from
 *   the longest; the client's own ECS option, cut to
 *   max-client-subnet-ipv4/6, or else its address cut so, is what goes
 *   upstream (forward.c decides per upstream address) and what
 *   identical questions must share to be joined.  With
 *   client-subnet-always-forward a query with its own option skips the
 *   shared cache and is sent with ECS to any upstream.  An upstream
 *   answer with SCOPE > 0 is cached for address/scope only (scope cut to
 *   the source prefix sent), others in the shared cache.  A client that
 *   sent ECS gets it back with the answer's scope; others never.
 * Answers are written into a per-resolver scratch buffer: a hit does not
 * allocate.  This file does not know the client's transport beyond
 * struct res_client.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dns/wire.h"
#include "dns/wire_int.h"
#include "resolver/cache.h"
#include "resolver/forward.h"
#include "resolver/localzone.h"
#include "resolver/outsrc.h"
#include "resolver/resolver.h"
#include "resolver/upstream.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "util/netblock.h"
#include "util/stats.h"

#define RES_INFLIGHT_BUCKETS 1024	/* power of two */
#define RES_SCRATCH 65536
/* Finished waiters and in-flight entries kept per worker for reuse (with
 * a hundred queries in flight, glibc's per-thread cache of 7 chunks a
 * size overflows and each malloc and free takes its slow path); a kept
 * waiter holds a query of up to RES_REQ_PKT bytes. */
#define RES_SPARE 256
#define RES_REQ_PKT 256

struct res_shared {
	struct msg_cache *cache;
	struct local_zones *lz;
	struct netblock_set acl;
	struct fwd_zones *fwd;
	/* client subnet: ecs_on when send-client-subnet is configured */
	bool ecs_on;
	bool ecs_always;		/* client-subnet-always-forward */
	unsigned ecs_max4, ecs_max6;	/* max-client-subnet-ipv4/6 */
	struct netblock_set ecs_ups;	/* send-client-subnet */
};

struct inflight;

struct res_req {
	struct resolver *r;
	struct inflight *inf;
	struct res_req *prev, *next;	/* waiters of inf */
	res_done_cb done;
	void *arg;
	uint64_t start_usec;
	struct dns_query q;		/* q.pkt points to pkt below */
	struct dns_reply_opts o;
	size_t cap;			/* bytes at pkt */
	uint8_t pkt[];
};

struct inflight {
	struct resolver *r;
	struct inflight *hnext;		/* hash chain */
	struct inflight *prev, *next;	/* all in-flight */
	uint64_t hash;
	struct cache_key key;
	struct fwd_query *fq;
	bool no_cache;			/* forward-no-cache of the zone */
	struct res_req *waiters;
};

struct resolver {
	struct res_shared *sh;
	struct event_base *base;
	struct stats *st;
	struct outside *out;
	struct out_src src;		/* outgoing-interface */
	bool prefetch;			/* prefetch: yes */
	/* CH TXT answers (res_chaos): a TXT rdata each (length byte and
	 * text), rdlen 0 when hidden */
	uint8_t identity[256], version[256];
	size_t identity_len, version_len;
	uint16_t edns_udp;
	uint32_t min_ttl, max_ttl, max_neg_ttl;
	struct inflight *tab[RES_INFLIGHT_BUCKETS];
	struct inflight *all;
	size_t ninflight;
	size_t max_pending;	/* FWD_MAX_PENDING, less if fds are few */
	struct res_req *spare_req;	/* RES_SPARE each, chained by next */
	size_t nspare_req;
	struct inflight *spare_inf;
	size_t nspare_inf;
	bool tailored;		/* the answer being handed over has an ECS
				   scope > 0 (res_answer_tailored) */
	int64_t ans_ttl;	/* its dns_reply_min_ttl when known without
				   parsing it, else RES_TTL_UNKNOWN */
	uint8_t scratch[RES_SCRATCH];
};

static struct stats res_stats_sink;	/* when the caller gives none */

/* ans_ttl when res_answer_min_ttl must parse the answer */
#define RES_TTL_UNKNOWN INT64_MIN

/* ------------------------------------------------------------ histogram */

/*
 * Unbound's 40 buckets: [0,1us), then doubling from 1us to 524288us
 * (buckets 1..20, the last one ending at 1s), then doubling seconds from
 * [1s,2s) (bucket 21) to [262144s,524288s) (bucket 39); larger times go
 * to the last bucket.
 */
int
res_hist_bucket(uint64_t usec)
{
	int b = 0;
	uint64_t sec;

	if (usec < 1000000) {
		while (usec > 0 && b < 20) {
			usec >>= 1;
			b++;
		}
		return b;
	}
	sec = usec / 1000000;
	b = 21;
	while (sec > 1 && b < STATS_HIST_BUCKETS - 1) {
		sec >>= 1;
		b++;
	}
	return b;
}

void
res_hist_bounds(int i, uint64_t *lo_usec, uint64_t *hi_usec)
{
	if (i <= 0) {
		*lo_usec = 0;
		*hi_usec = 1;
	} else if (i <= 20) {
		*lo_usec = (uint64_t)1 << (i - 1);
		*hi_usec = i == 20 ? 1000000 : (uint64_t)1 << i;
	} else {
		*lo_usec = ((uint64_t)1 << (i - 21)) * 1000000;
		*hi_usec = ((uint64_t)1 << (i - 20)) * 1000000;
	}
}

/* ------------------------------------------------------------ shared */

struct res_shared *
res_shared_new(const struct config *cfg)
{
	struct res_shared *sh = calloc(1, sizeof(*sh));

	if (sh == NULL) {
		log_err("resolver: out of memory");
		return NULL;
	}
	sh->cache = msg_cache_new(cfg->msg_cache_size);
	if (sh->cache == NULL) {
		log_err("resolver: cannot allocate the message cache");
		goto fail;
	}
	sh->lz = localzone_new(cfg, NULL);
	if (sh->lz == NULL)
		goto fail;
	if (acl_build(&sh->acl, cfg) < 0) {
		log_err("resolver: bad access-control");
		goto fail;
	}
	sh->fwd = fwd_zones_new(cfg, NULL);
	if (sh->fwd == NULL)
		goto fail;
	if (cfg->send_client_subnets != NULL) {
		const struct cfg_strlist *e;

		for (e = cfg->send_client_subnets; e != NULL; e = e->next)
			if (netblock_add(&sh->ecs_ups, e->str, 1) < 0) {
				log_err("resolver: bad send-client-subnet %s",
				    e->str);
				goto fail;
			}
		netblock_finish(&sh->ecs_ups);
		sh->ecs_on = true;
		sh->ecs_always = cfg->client_subnet_always_forward != 0;
		sh->ecs_max4 = (unsigned)cfg->max_client_subnet_ipv4;
		sh->ecs_max6 = (unsigned)cfg->max_client_subnet_ipv6;
	}
	return sh;
fail:
	res_shared_free(sh);
	return NULL;
}

void
res_shared_free(struct res_shared *sh)
{
	if (sh == NULL)
		return;
	msg_cache_free(sh->cache);
	localzone_free(sh->lz);
	netblock_clear(&sh->acl);
	netblock_clear(&sh->ecs_ups);
	fwd_zones_free(sh->fwd);
	free(sh);
}

size_t
res_shared_flush(struct res_shared *sh, const uint8_t *name, size_t name_len,
    uint16_t type, bool subtree)
{
	uint8_t lc[DNS_MAX_NAME];

	if (name == NULL || name_len == 0 || name_len > DNS_MAX_NAME)
		return msg_cache_flush(sh->cache, NULL, 0, type, false);
	dns_name_lower(lc, name, name_len);
	return msg_cache_flush(sh->cache, lc, name_len, type, subtree);
}

int
res_shared_forward_list(struct res_shared *sh, FILE *out)
{
	return fwd_zones_list(sh->fwd, out);
}

int
res_shared_forward_add(struct res_shared *sh, const char *zone,
    const char *addrs, bool tls, bool https, char *err, size_t errlen)
{
	return fwd_zones_add(sh->fwd, zone, addrs, https ? FWD_DOH : tls ?
	    FWD_DOT : FWD_DO53, err, errlen);
}

int
res_shared_forward_remove(struct res_shared *sh, const char *zone, char *err,
    size_t errlen)
{
	return fwd_zones_remove(sh->fwd, zone, err, errlen);
}

int
res_shared_edits_reset(struct res_shared *sh, const struct config *cfg)
{
	int rc = 0;

	if (localzone_reset(sh->lz, cfg) < 0) {
		log_err("reload: the local zones stay as they were");
		rc = -1;
	}
	if (fwd_zones_reset(sh->fwd, cfg, NULL) < 0) {
		log_err("reload: the forward zones stay as they were");
		rc = -1;
	}
	return rc;
}

size_t
res_shared_cache_mem(struct res_shared *sh)
{
	return msg_cache_mem(sh->cache);
}

size_t
res_upstream_http_mem(void)
{
	return ups_http_mem_used();
}

/* ------------------------------------------------------------ control */

void
res_shared_local_zones_list(struct res_shared *sh, FILE *out)
{
	localzone_list_zones(sh->lz, out);
}

int
res_shared_local_data_list(struct res_shared *sh, FILE *out)
{
	return localzone_list_data(sh->lz, out);
}

int
res_shared_local_zone_add(struct res_shared *sh, const char *name,
    const char *type, char *err, size_t errlen)
{
	return localzone_zone_add(sh->lz, name, type, err, errlen);
}

int
res_shared_local_zone_remove(struct res_shared *sh, const char *name,
    char *err, size_t errlen)
{
	return localzone_zone_remove(sh->lz, name, err, errlen);
}

int
res_shared_local_data_add(struct res_shared *sh, const char *rr, char *err,
    size_t errlen)
{
	return localzone_data_add(sh->lz, rr, err, errlen);
}

int
res_shared_local_data_remove(struct res_shared *sh, const char *name,
    char *err, size_t errlen)
{
	return localzone_data_remove(sh->lz, name, err, errlen);
}

size_t
res_shared_cache_dump(struct res_shared *sh, FILE *out)
{
	return msg_cache_dump(sh->cache, out);
}

int
res_shared_cache_load(struct res_shared *sh, FILE *in, size_t *loaded,
    char *err, size_t errlen)
{
	return msg_cache_load(sh->cache, in, loaded, err, errlen);
}

/* ------------------------------------------------------------ worker */

/*
 * Each pending upstream question holds one socket: cap them per worker at
 * FWD_MAX_PENDING, or at half of RLIMIT_NOFILE shared by the workers when
 * that is lower (the other half is for clients), but at least 64.
 */
static size_t
res_max_pending(int num_threads)
{
	struct rlimit rl;
	size_t cap = FWD_MAX_PENDING, n = num_threads > 0 ?
	    (size_t)num_threads : 1;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 / n < cap)
		cap = (size_t)(rl.rlim_cur / 2 / n);
	if (cap < 64)
		cap = 64;
	return cap;
}

/* One TXT character-string (at most 255 bytes of 's') into out[256]. */
static size_t
txt_rdata(uint8_t *out, const char *s)
{
	size_t n = strlen(s);

	if (n > 255)
		n = 255;
	out[0] = (uint8_t)n;
	memcpy(out + 1, s, n);
	return n + 1;
}

struct resolver *
res_new(struct res_shared *sh, struct event_base *base,
    const struct config *cfg, struct stats *st)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->sh = sh;
	r->base = base;
	r->st = st != NULL ? st : &res_stats_sink;
	r->ans_ttl = RES_TTL_UNKNOWN;
	r->edns_udp = (uint16_t)cfg->edns_buffer_size;
	r->min_ttl = cfg->cache_min_ttl > 0 ? (uint32_t)cfg->cache_min_ttl : 0;
	r->max_ttl = cfg->cache_max_ttl > 0 ? (uint32_t)cfg->cache_max_ttl : 0;
	r->max_neg_ttl = cfg->cache_max_negative_ttl > 0 ?
	    (uint32_t)cfg->cache_max_negative_ttl : 0;
	r->max_pending = res_max_pending(cfg->num_threads);
	r->out = outside_new(base, r->st, r->edns_udp,
	    (unsigned)cfg->outgoing_queries_per_port);
	if (r->out == NULL) {
		free(r);
		return NULL;
	}
	if (cfg->outgoing_interfaces != NULL) {
		out_src_init(&r->src, cfg->outgoing_interfaces);
		outside_set_src(r->out, &r->src);
	}
	if (!cfg->hide_identity) {
		char host[256] = "";
		const char *id = cfg->identity != NULL ? cfg->identity : "";

		if (id[0] == '\0' && gethostname(host, sizeof(host) - 1) == 0)
			id = host;
		r->identity_len = txt_rdata(r->identity, id);
	}
	r->prefetch = cfg->prefetch != 0;
	if (!cfg->hide_version)
		r->version_len = txt_rdata(r->version, cfg->version != NULL &&
		    cfg->version[0] != '\0' ? cfg->version : PACKAGE_STRING);
	return r;
}

static void
inflight_unlink(struct resolver *r, struct inflight *inf)
{
	struct inflight **pp = &r->tab[inf->hash & (RES_INFLIGHT_BUCKETS - 1)];

	while (*pp != NULL && *pp != inf)
		pp = &(*pp)->hnext;
	if (*pp == inf)
		*pp = inf->hnext;
	if (inf->prev != NULL)
		inf->prev->next = inf->next;
	else
		r->all = inf->next;
	if (inf->next != NULL)
		inf->next->prev = inf->prev;
	r->ninflight--;
}

/* A waiter for a query of len bytes (a kept one if it fits), or NULL. */
static struct res_req *
req_get(struct resolver *r, size_t len)
{
	struct res_req *w;
	size_t cap = len > RES_REQ_PKT ? len : RES_REQ_PKT;

	if (len <= RES_REQ_PKT && r->spare_req != NULL) {
		w = r->spare_req;
		r->spare_req = w->next;
		r->nspare_req--;
		return w;
	}
	w = malloc(sizeof(*w) + cap);
	if (w != NULL)
		w->cap = cap;
	return w;
}

static void
req_put(struct resolver *r, struct res_req *w)
{
	if (w->cap == RES_REQ_PKT && r->nspare_req < RES_SPARE) {
		w->next = r->spare_req;
		r->spare_req = w;
		r->nspare_req++;
	} else {
		free(w);
	}
}

static struct inflight *
inf_get(struct resolver *r)
{
	struct inflight *inf = r->spare_inf;

	if (inf == NULL)
		return malloc(sizeof(*inf));
	r->spare_inf = inf->next;
	r->nspare_inf--;
	return inf;
}

static void
inf_put(struct resolver *r, struct inflight *inf)
{
	if (r->nspare_inf < RES_SPARE) {
		inf->next = r->spare_inf;
		r->spare_inf = inf;
		r->nspare_inf++;
	} else {
		free(inf);
	}
}

void
res_free(struct resolver *r)
{
	if (r == NULL)
		return;
	while (r->all != NULL) {
		struct inflight *inf = r->all;

		while (inf->waiters != NULL) {
			struct res_req *w = inf->waiters;

			inf->waiters = w->next;
			free(w);
		}
		inflight_unlink(r, inf);
		free(inf);
	}
	while (r->spare_req != NULL) {
		struct res_req *w = r->spare_req;

		r->spare_req = w->next;
		free(w);
	}
	while (r->spare_inf != NULL) {
		struct inflight *inf = r->spare_inf;

		r->spare_inf = inf->next;
		free(inf);
	}
	outside_free(r->out);	/* frees the fwd_queries, no callbacks */
	free(r);
}

size_t
res_pending(const struct resolver *r)
{
	return r->ninflight;
}

bool
res_answer_tailored(const struct resolver *r)
{
	return r != NULL && r->tailored;
}

int64_t
res_answer_min_ttl(const struct resolver *r, const uint8_t *ans, size_t len)
{
	if (r != NULL && r->ans_ttl != RES_TTL_UNKNOWN)
		return r->ans_ttl;
	return dns_reply_min_ttl(ans, len);
}

/* Count an answer and hand it over (n == 0: drop); ttl: what
 * res_answer_min_ttl tells meanwhile (RES_TTL_UNKNOWN: parse it). */
static void
res_reply_ttl(struct resolver *r, res_done_cb done, void *arg,
    const uint8_t *ans, size_t n, int64_t ttl)
{
	if (n >= DNS_HDR_LEN) {
		int rcode = ans[3] & 0xf;

		STAT_ADD_FIELD(r->st->rcode[rcode], 1);
		if (rcode == DNS_RCODE_NOERROR && ans[6] == 0 && ans[7] == 0 &&
		    !(ans[2] & (DNS_TC >> 8)))
			STAT_INC(r->st, ANSWER_NODATA);
		r->ans_ttl = ttl;
		done(arg, ans, n);
		r->ans_ttl = RES_TTL_UNKNOWN;
	} else {
		done(arg, NULL, 0);
	}
}

static void
res_reply(struct resolver *r, res_done_cb done, void *arg,
    const uint8_t *ans, size_t n)
{
	res_reply_ttl(r, done, arg, ans, n, RES_TTL_UNKNOWN);
}

static void
res_reply_error(struct resolver *r, const struct dns_query *q,
    const struct dns_reply_opts *o, int rcode, res_done_cb done, void *arg)
{
	size_t n = dns_reply_error(r->scratch, sizeof(r->scratch), q, rcode, o);

	res_reply(r, done, arg, r->scratch, n);
}

static void
count_query(struct resolver *r, const struct dns_query *q, int rc,
    const struct res_client *client)
{
	struct stats *st = r->st;
	uint16_t f = q->flags;

	STAT_INC(st, NUM_QUERIES);
	if (client->addr != NULL && client->addr->sa_family == AF_INET6)
		STAT_INC(st, QUERY_IPV6);
	STAT_ADD_FIELD(st->opcode[DNS_OPCODE(f)], 1);
	if (f & DNS_QR) STAT_INC(st, FLAG_QR);
	if (f & DNS_AA) STAT_INC(st, FLAG_AA);
	if (f & DNS_TC) STAT_INC(st, FLAG_TC);
	if (f & DNS_RD) STAT_INC(st, FLAG_RD);
	if (f & DNS_RA) STAT_INC(st, FLAG_RA);
	if (f & DNS_Z) STAT_INC(st, FLAG_Z);
	if (f & DNS_AD) STAT_INC(st, FLAG_AD);
	if (f & DNS_CD) STAT_INC(st, FLAG_CD);
	if (rc != 0 && rc != DNS_RCODE_BADVERS)
		return;		/* the question may not have parsed */
	if (q->qtype < 256)
		STAT_ADD_FIELD(st->qtype[q->qtype], 1);
	else
		STAT_ADD_FIELD(st->qtype_other, 1);
	if (q->qclass < 256)
		STAT_ADD_FIELD(st->qclass[q->qclass], 1);
	else
		STAT_ADD_FIELD(st->qclass_other, 1);
	if (q->edns) {
		STAT_INC(st, EDNS_PRESENT);
		if (q->edns_do)
			STAT_INC(st, EDNS_DO);
	}
}

static void
count_recursive(struct resolver *r, uint64_t start)
{
	uint64_t now = mono_usec(), d = now > start ? now - start : 0;

	STAT_INC(r->st, NUM_RECURSIVEREPLIES);
	STAT_ADD_FIELD(r->st->rec_time_usec, d);
	STAT_ADD_FIELD(r->st->hist[res_hist_bucket(d)], 1);
}

/* ------------------------------------------------------------ relaying */

/*
 * An upstream reply that is not cached (SERVFAIL, REFUSED, ...) made into
 * the reply to one waiter: its ID, RD and CD bits, its question (letter
 * case), the answer and authority sections as they came, the additional
 * section up to its first OPT, TSIG or SIG (what follows is cut, as
 * dns_msg_new does, so that no compression pointer is moved), and the
 * waiter's OPT written by dns_reply_finish.  A reply with an OPT in the
 * answer or authority section is not relayed (the counts could not be
 * kept right), nor one whose names need the bytes that were cut.
 * Returns the length, or 0 (the caller sends SERVFAIL).
 */
static size_t
relay_reply(const uint8_t *pkt, size_t len, const struct res_req *w,
    uint8_t *out, size_t cap)
{
	const struct dns_query *q = &w->q;
	struct dns_scan s, chk;
	uint16_t flags;
	struct dns_buf b;

	if (len < DNS_HDR_LEN || len > cap || dns_pkt_scan(pkt, len, &s) != 0)
		return 0;
	if (s.opt_misplaced || s.qend != q->question_end)
		return 0;	/* same question, so same length */
	memcpy(out, pkt, DNS_HDR_LEN);
	out[0] = (uint8_t)(q->id >> 8);
	out[1] = (uint8_t)q->id;
	flags = (uint16_t)((pkt[2] << 8) | pkt[3]);
	flags = (uint16_t)((flags & ~(DNS_RD | DNS_CD)) |
	    (q->flags & (DNS_RD | DNS_CD)));
	out[2] = (uint8_t)(flags >> 8);
	out[3] = (uint8_t)flags;
	memcpy(out + DNS_HDR_LEN, q->pkt + DNS_HDR_LEN, s.qend - DNS_HDR_LEN);
	memcpy(out + s.qend, pkt + s.qend, s.cut_off - s.qend);
	out[10] = (uint8_t)(s.ar_kept >> 8);
	out[11] = (uint8_t)s.ar_kept;
	/* a name may point back at one that runs on into what was cut
	 * (trailing bytes, the OPT): what we send must parse by itself */
	if (dns_pkt_scan(out, s.cut_off, &chk) != 0)
		return 0;
	b.p = out;
	b.len = s.cut_off;
	b.cap = cap;
	b.overflow = false;
	return dns_reply_finish(&b, q, &w->o);
}

/* ------------------------------------------------------------ in flight */

static struct inflight *
inflight_find(struct resolver *r, const struct cache_key *k, uint64_t hash)
{
	struct inflight *inf;

	for (inf = r->tab[hash & (RES_INFLIGHT_BUCKETS - 1)]; inf != NULL;
	    inf = inf->hnext)
		if (inf->hash == hash && cache_key_equal(&inf->key, k))
			return inf;
	return NULL;
}

static void
inflight_done_cb(void *arg, const uint8_t *pkt, size_t len, int ecs_scope,
    const struct dns_scan *scan)
{
	struct inflight *inf = arg;
	struct resolver *r = inf->r;
	struct dns_msg *msg = NULL;
	const char *why = NULL;
	unsigned scope = 0;

	inf->fq = NULL;
	/*
	 * The answer is for the clients in the subnet sent, cut to its
	 * scope (RFC 7871 7.3.1: never longer than the source prefix):
	 * the key it is cached under.  Scope 0, or no ECS sent: for all.
	 */
	if (ecs_scope > 0 && inf->key.ecs_family != 0) {
		scope = (unsigned)ecs_scope < inf->key.ecs_scope ?
		    (unsigned)ecs_scope : inf->key.ecs_scope;
	}
	if (scope > 0) {
		inf->key.ecs_scope = (uint8_t)scope;
		inf->key.ecs_forced = false;
		dns_ecs_mask(inf->key.ecs_addr, scope);
	} else {
		inf->key.ecs_family = 0;
	}
	inflight_unlink(r, inf);	/* new queries start a new one */
	if (pkt != NULL)
		msg = dns_msg_new_scanned(pkt, len, scan, r->min_ttl,
		    r->max_ttl, r->max_neg_ttl, &why);
	if (pkt != NULL && msg == NULL)
		verbose(VERB_ALGO, "resolver: reply not cached: %s",
		    why ? why : "?");
	while (inf->waiters != NULL) {
		struct res_req *w = inf->waiters;
		res_done_cb done = w->done;
		void *darg = w->arg;
		size_t n = 0;
		int64_t ttl = RES_TTL_UNKNOWN;

		inf->waiters = w->next;
		if (inf->waiters != NULL)
			inf->waiters->prev = NULL;
		w->o.ecs_scope = (uint8_t)scope;
		if (msg != NULL) {
			n = dns_msg_reply(msg, 0, &w->q, &w->o, r->scratch,
			    sizeof(r->scratch));
			if (n > 0)
				ttl = dns_msg_reply_ttl(msg, 0, r->scratch, n);
		} else if (pkt != NULL)
			n = relay_reply(pkt, len, w, r->scratch,
			    sizeof(r->scratch));
		if (n == 0)
			n = dns_reply_error(r->scratch, sizeof(r->scratch),
			    &w->q, DNS_RCODE_SERVFAIL, &w->o);
		count_recursive(r, w->start_usec);
		req_put(r, w);
		/* the callback may cancel other waiters of inf: still valid */
		r->tailored = scope > 0;
		if (scope > 0)
			STAT_INC(r->st, QUERY_SUBNET);
		res_reply_ttl(r, done, darg, r->scratch, n, ttl);
		r->tailored = false;
	}
	if (msg != NULL && !inf->no_cache)
		msg_cache_insert(r->sh->cache, &inf->key, msg);
	else
		dns_msg_free(msg);
	inf_put(r, inf);
}

/*
 * A new upstream query for 'k' (hash 'hash'), in flight with no waiter
 * yet; its answer is cached when it comes (inflight_done_cb).  NULL when
 * it could not start (max_pending queries in flight: counted in
 * requestlist.exceeded).
 */
static struct inflight *
inflight_start(struct resolver *r, const struct dns_query *q,
    const struct cache_key *k, uint64_t hash)
{
	struct fwd_ecs fe, *fep = NULL;
	struct inflight *inf;

	if (k->ecs_family != 0) {
		fe.ecs.family = k->ecs_family;
		fe.ecs.source = k->ecs_scope;
		fe.ecs.scope = 0;
		memcpy(fe.ecs.addr, k->ecs_addr, sizeof(fe.ecs.addr));
		fe.upstreams = &r->sh->ecs_ups;
		fe.always = k->ecs_forced;
		fep = &fe;
	}
	if (r->ninflight >= r->max_pending) {
		STAT_INC(r->st, REQUESTLIST_EXCEEDED);
		return NULL;
	}
	inf = inf_get(r);
	if (inf == NULL)
		return NULL;
	inf->r = r;
	inf->hnext = NULL;
	inf->prev = NULL;
	inf->next = NULL;
	inf->key = *k;
	inf->hash = hash;
	inf->no_cache = false;
	inf->waiters = NULL;
	inf->fq = fwd_query_start(r->out, r->sh->fwd, q->qname, q->qname_len,
	    q->qtype, q->qclass, k->cd, k->dnssec_ok, fep, &inf->no_cache,
	    inflight_done_cb, inf);
	if (inf->fq == NULL) {
		inf_put(r, inf);
		return NULL;
	}
	inf->hnext = r->tab[hash & (RES_INFLIGHT_BUCKETS - 1)];
	r->tab[hash & (RES_INFLIGHT_BUCKETS - 1)] = inf;
	inf->next = r->all;
	if (r->all != NULL)
		r->all->prev = inf;
	r->all = inf;
	r->ninflight++;
	return inf;
}

/* requestlist.avg and .max: 'n' were in flight when a query was added
 * (a miss, or a prefetch that started). */
static void
count_requestlist(struct resolver *r, size_t n)
{
	STAT_ADD_FIELD(r->st->requestlist_sum, n);
	if (n > STAT_LOAD(r->st->requestlist_max))
		__atomic_store_n(&r->st->requestlist_max, (uint64_t)n,
		    __ATOMIC_RELAXED);
}

/*
 * prefetch: yes and a hit in the last tenth of its TTL: ask upstream
 * again now, with no client waiting; the answer replaces the entry
 * (num.prefetch).  Nothing when the name is already in flight or the
 * worker is at max_pending.
 */
static void
res_prefetch(struct resolver *r, const struct dns_query *q,
    const struct cache_key *k)
{
	uint64_t hash = cache_key_hash(k);
	size_t before = r->ninflight;

	if (inflight_find(r, k, hash) == NULL &&
	    inflight_start(r, q, k, hash) != NULL) {
		STAT_INC(r->st, NUM_PREFETCH);
		count_requestlist(r, before);
	}
}

static struct res_req *
res_forward(struct resolver *r, const struct dns_query *q,
    const struct dns_reply_opts *o, const struct cache_key *k,
    res_done_cb done, void *arg)
{
	uint64_t hash = cache_key_hash(k);
	struct inflight *inf = inflight_find(r, k, hash);
	struct res_req *w;

	if (inf == NULL) {
		inf = inflight_start(r, q, k, hash);
		if (inf == NULL)
			goto servfail;
	}
	w = req_get(r, q->len);
	if (w == NULL) {
		/* the upstream query, if new, still runs and gets cached */
		goto servfail;
	}
	w->r = r;
	w->inf = inf;
	w->prev = NULL;
	w->done = done;
	w->arg = arg;
	w->start_usec = mono_usec();
	w->q = *q;
	memcpy(w->pkt, q->pkt, q->len);
	w->q.pkt = w->pkt;
	w->o = *o;
	w->next = inf->waiters;
	if (inf->waiters != NULL)
		inf->waiters->prev = w;
	inf->waiters = w;
	return w;
servfail:
	res_reply_error(r, q, o, DNS_RCODE_SERVFAIL, done, arg);
	return NULL;
}

void
res_cancel(struct res_req *req)
{
	struct inflight *inf;

	if (req == NULL)
		return;
	inf = req->inf;
	if (req->prev != NULL)
		req->prev->next = req->next;
	else if (inf != NULL && inf->waiters == req)
		inf->waiters = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	/* the upstream query goes on: its answer will be cached */
	req_put(req->r, req);
}

/* ------------------------------------------------------------ submit */

/*
 * Question types a resolver does not answer (as Unbound): zone transfers
 * are REFUSED; OPT, TKEY, TSIG, MAILA, MAILB and the other meta types
 * (128-254 except ANY) are FORMERR.  Returns 0 or the rcode.
 */
static int
res_qtype_check(uint16_t qtype)
{
	if (qtype == DNS_T_AXFR || qtype == DNS_T_IXFR)
		return DNS_RCODE_REFUSED;
	if (qtype == DNS_T_OPT || (qtype >= 128 && qtype <= 254))
		return DNS_RCODE_FORMERR;
	return 0;
}

/* local-zone inform: the operator asked for these lines (as Unbound). */
static void
log_inform(const struct dns_query *q, const struct res_client *client)
{
	char name[DNS_MAX_NAME * 4 + 2], addr[INET6_ADDRSTRLEN], tbuf[16];
	uint16_t port = 0;

	if (dns_name_to_text(q->qname, q->qname_len, name, sizeof(name)) < 0)
		snprintf(name, sizeof(name), "?");
	addr[0] = '\0';
	if (client->addr != NULL && client->addr->sa_family == AF_INET) {
		const struct sockaddr_in *s =
		    (const struct sockaddr_in *)client->addr;

		inet_ntop(AF_INET, &s->sin_addr, addr, sizeof(addr));
		port = ntohs(s->sin_port);
	} else if (client->addr != NULL &&
	    client->addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s =
		    (const struct sockaddr_in6 *)client->addr;

		inet_ntop(AF_INET6, &s->sin6_addr, addr, sizeof(addr));
		port = ntohs(s->sin6_port);
	}
	log_info("%s@%u %s %s IN", addr[0] ? addr : "-", port, name,
	    dns_type_to_text(q->qtype, tbuf));
}

/* Not in the cache: count it and go upstream. */
static struct res_req *
res_miss(struct resolver *r, const struct dns_query *q,
    const struct dns_reply_opts *o, const struct cache_key *k,
    res_done_cb done, void *arg)
{
	STAT_INC(r->st, NUM_CACHEMISS);
	count_requestlist(r, r->ninflight);
	return res_forward(r, q, o, k, done, arg);
}

/*
 * Step 6 with send-client-subnet: the shared cache (unless the query
 * carries its own ECS and client-subnet-always-forward), then the
 * answers cached for the client's subnet, longest scope first; on a
 * miss go upstream with the subnet in the key (see the top).
 */
static struct res_req *
res_submit_ecs(struct resolver *r, const struct dns_query *q,
    struct dns_reply_opts *o, struct cache_key *k,
    const struct res_client *client, res_done_cb done, void *arg)
{
	const struct res_shared *sh = r->sh;
	struct dns_ecs want;
	bool have = false, forced = false;
	size_t n;
	int64_t ttl;
	int s;

	if (q->ecs) {
		unsigned max = q->ecs_family == 1 ? sh->ecs_max4 :
		    sh->ecs_max6;

		want.family = q->ecs_family;
		want.source = q->ecs_source < max ? q->ecs_source :
		    (uint8_t)max;
		memcpy(want.addr, q->ecs_addr, sizeof(want.addr));
		dns_ecs_mask(want.addr, want.source);
		have = true;
		forced = sh->ecs_always;
	} else {
		have = dns_ecs_from_addr(&want, client->addr, sh->ecs_max4,
		    sh->ecs_max6);
	}
	if (!forced) {
		n = msg_cache_reply(sh->cache, k, q, o, r->scratch,
		    sizeof(r->scratch), &ttl, NULL);
		if (n > 0) {
			STAT_INC(r->st, NUM_CACHEHITS);
			res_reply_ttl(r, done, arg, r->scratch, n, ttl);
			return NULL;
		}
	}
	if (have) {
		struct cache_key ek = *k;

		ek.ecs_family = (uint8_t)want.family;
		ek.ecs_forced = false;
		for (s = want.source; s > 0; s--) {
			if (!msg_cache_has_scope(sh->cache, want.family,
			    (unsigned)s))
				continue;
			ek.ecs_scope = (uint8_t)s;
			memcpy(ek.ecs_addr, want.addr, sizeof(ek.ecs_addr));
			dns_ecs_mask(ek.ecs_addr, (unsigned)s);
			o->ecs_scope = (uint8_t)s;
			n = msg_cache_reply(sh->cache, &ek, q, o, r->scratch,
			    sizeof(r->scratch), &ttl, NULL);
			if (n > 0) {
				STAT_INC(r->st, NUM_CACHEHITS);
				STAT_INC(r->st, QUERY_SUBNET_CACHE);
				r->tailored = true;
				res_reply_ttl(r, done, arg, r->scratch, n, ttl);
				r->tailored = false;
				return NULL;
			}
		}
		o->ecs_scope = 0;
	}
	if (!(q->flags & DNS_RD)) {
		res_reply_error(r, q, o, DNS_RCODE_REFUSED, done, arg);
		return NULL;
	}
	if (have) {
		k->ecs_family = (uint8_t)want.family;
		k->ecs_scope = want.source;
		k->ecs_forced = forced;
		memcpy(k->ecs_addr, want.addr, sizeof(k->ecs_addr));
	}
	return res_miss(r, q, o, k, done, arg);
}

/*
 * A CH-class query, answered as Unbound does: TXT (or ANY) for
 * id.server and hostname.bind gives the identity (the host name unless
 * 'identity' is set), for version.server and version.bind the version
 * ("cairn VERSION" unless 'version' is set), TTL 0, without AA; with
 * hide-identity or hide-version, and for every other CH query: REFUSED
 * (never forwarded).
 */
static void
res_chaos(struct resolver *r, const struct dns_query *q,
    const struct dns_reply_opts *o, res_done_cb done, void *arg)
{
	static const uint8_t id_server[] = "\002id\006server",
	    hostname_bind[] = "\010hostname\004bind",
	    version_server[] = "\007version\006server",
	    version_bind[] = "\007version\004bind";
	const uint8_t *rdata = NULL;
	size_t rdlen = 0, n;
	struct dns_buf b = { .p = r->scratch, .cap = sizeof(r->scratch) };

#define NAME_IS(w) (q->qname_len == sizeof(w) && \
	memcmp(q->qname, (w), sizeof(w)) == 0)
	if (q->qtype == DNS_T_TXT || q->qtype == DNS_T_ANY) {
		if (NAME_IS(id_server) || NAME_IS(hostname_bind)) {
			rdata = r->identity;
			rdlen = r->identity_len;
		} else if (NAME_IS(version_server) || NAME_IS(version_bind)) {
			rdata = r->version;
			rdlen = r->version_len;
		}
	}
#undef NAME_IS
	if (rdlen == 0) {
		res_reply_error(r, q, o, DNS_RCODE_REFUSED, done, arg);
		return;
	}
	STAT_INC(r->st, NUM_CACHEHITS);
	dns_reply_start(&b, q, DNS_RCODE_NOERROR, 0);
	dns_reply_add_rr(&b, 1, q->qname, q->qname_len, DNS_T_TXT, DNS_C_CH,
	    0, rdata, rdlen);
	n = dns_reply_finish(&b, q, o);
	if (n == 0) {
		res_reply_error(r, q, o, DNS_RCODE_SERVFAIL, done, arg);
		return;
	}
	res_reply(r, done, arg, r->scratch, n);
}

struct res_req *
res_submit(struct resolver *r, const uint8_t *query, size_t len,
    const struct res_client *client, res_done_cb done, void *arg)
{
	struct dns_query q;
	struct dns_reply_opts o;
	struct cache_key k;
	int rc, acl, lzr, ztype;
	size_t n;
	int64_t ttl;
	bool pf = false;

	rc = dns_query_parse(&q, query, len);
	if (rc == -1 || len < DNS_HDR_LEN) {
		verbose(VERB_CLIENT, "resolver: dropped a query without header");
		done(arg, NULL, 0);
		return NULL;
	}
	acl = client->addr != NULL ? (int)acl_lookup(&r->sh->acl, client->addr) :
	    ACL_ALLOW;

	o.max_len = 65535;
	if (!client->stream)
		o.max_len = (rc == 0 && q.edns && q.edns_udp > DNS_MAX_UDP_NOEDNS)
		    ? q.edns_udp : DNS_MAX_UDP_NOEDNS;
	o.edns_udp = r->edns_udp;
	o.pad = client->encrypted;
	/* RFC 7871 7.2.2: ECS back to a client that sent it, never else */
	o.ecs = r->sh->ecs_on && q.ecs;
	o.ecs_scope = 0;

	if (acl == ACL_DENY) {
		STAT_INC(r->st, UNWANTED_QUERIES);
		done(arg, NULL, 0);
		return NULL;
	}
	if (acl == ACL_REFUSE) {
		STAT_INC(r->st, UNWANTED_QUERIES);
		res_reply_error(r, &q, &o, DNS_RCODE_REFUSED, done, arg);
		return NULL;
	}
	count_query(r, &q, rc, client);
	if (rc == 0)
		rc = res_qtype_check(q.qtype);
	if (rc != 0) {
		res_reply_error(r, &q, &o, rc, done, arg);
		return NULL;
	}

	if (q.qclass == DNS_C_CH) {
		res_chaos(r, &q, &o, done, arg);
		return NULL;
	}
	lzr = localzone_answer(r->sh->lz, &q, &o, r->scratch,
	    sizeof(r->scratch), &n, &ztype);
	if (ztype == LZ_INFORM || ztype == LZ_INFORM_DENY)
		log_inform(&q, client);
	if (lzr == LZ_RES_DROP) {
		done(arg, NULL, 0);
		return NULL;
	}
	if (lzr == LZ_RES_ANSWER) {
		STAT_INC(r->st, NUM_CACHEHITS);
		if (n == 0) {
			res_reply_error(r, &q, &o, DNS_RCODE_SERVFAIL, done,
			    arg);
			return NULL;
		}
		res_reply(r, done, arg, r->scratch, n);
		return NULL;
	}

	if (acl == ACL_DENY_NON_LOCAL) {
		done(arg, NULL, 0);
		return NULL;
	}
	if (acl == ACL_REFUSE_NON_LOCAL ||
	    (!(q.flags & DNS_RD) && acl != ACL_ALLOW_SNOOP)) {
		res_reply_error(r, &q, &o, DNS_RCODE_REFUSED, done, arg);
		return NULL;
	}

	cache_key_from_query(&k, &q);
	if (r->sh->ecs_on)
		return res_submit_ecs(r, &q, &o, &k, client, done, arg);
	n = msg_cache_reply(r->sh->cache, &k, &q, &o, r->scratch,
	    sizeof(r->scratch), &ttl, r->prefetch ? &pf : NULL);
	if (n > 0) {
		STAT_INC(r->st, NUM_CACHEHITS);
		res_reply_ttl(r, done, arg, r->scratch, n, ttl);
		if (pf)
			res_prefetch(r, &q, &k);
		return NULL;
	}
	if (!(q.flags & DNS_RD)) {
		/* allow_snoop, not in the cache: we do not recurse for it */
		res_reply_error(r, &q, &o, DNS_RCODE_REFUSED, done, arg);
		return NULL;
	}

	return res_miss(r, &q, &o, &k, done, arg);
}
