/*
 * resolver/forward.c - forward zones and upstream queries (see forward.h).
 *
 * One struct fwd_query per upstream question: a place on a shared UDP
 * socket to the current forward-addr (outudp.h), or a TCP socket of its
 * own with a read/write event, and one timer.  Every attempt gets a new
 * random ID.  This file does not cache or answer clients.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "dns/wire.h"
#include "dns/wire_int.h"
#include "resolver/backoff.h"
#include "resolver/forward.h"
#include "resolver/outsrc.h"
#include "resolver/outudp.h"
#include "resolver/upstream.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/log.h"
#include "util/netblock.h"
#include "util/stats.h"

struct outside {
	struct event_base *base;
	struct stats *st;
	uint16_t edns_udp;
	struct fwd_query *queries;	/* all in progress */
	size_t nqueries;
	struct fwd_query *spare;	/* finished ones kept for reuse */
	size_t nspare;			/* at most FWD_SPARE */
	/* new queries wait here (FIFO) for start_ev, made active when the
	 * first one comes: one event for all started in a loop turn */
	struct fwd_query *start_head, *start_tail;
	struct event start_ev;
	/*
	 * UDP attempts waiting their FWD_UDP_TIMEOUT_MSEC: all wait as
	 * long, so the order they were sent in is the order they expire in
	 * (a FIFO, linked by tprev/tnext).  One timer, udp_ev, armed for
	 * the head when it is not pending; an attempt that gets its reply
	 * only leaves the list (no timer heap work per query).
	 */
	struct fwd_query *udp_head, *udp_tail;
	struct event udp_ev;
	bool udp_armed;			/* udp_ev pending */
	uint8_t rnd[256];		/* buffered getrandom output */
	size_t rnd_pos;
	struct ups_pool *pool;		/* DoT/DoH connections */
	struct out_src *src;		/* outgoing-interface, or NULL */
	struct backoff *bo;		/* upstream addresses that are down */
	struct outudp *udp;		/* Do53 UDP sockets */
};

/* Finished queries kept per worker for the next ones (a fwd_query is
 * over a kilobyte: past glibc's per-thread cache, each malloc and free
 * of one takes the slow path). */
#define FWD_SPARE	256

enum fwd_state { FWD_START, FWD_UDP, FWD_TCP_CONNECT, FWD_TCP_WRITE, FWD_TCP_READ,
	FWD_UPS };	/* FWD_UPS: sent over an encrypted upstream connection */

struct fwd_query {
	struct outside *o;
	struct fwd_query *prev, *next;
	struct fwd_query *sprev, *snext;	/* o->start_head list */
	bool queued;			/* on that list */
	struct fwd_query *tprev, *tnext;	/* o->udp_head list */
	uint64_t tdeadline;		/* on it: expires then (msec) */
	bool tlisted;			/* on it */
	bool timer_on;			/* timer added (and not fired) */
	struct fwd_table *tab;		/* reference: zone lives in it */
	const struct fwd_zone *zone;
	size_t addr_idx;
	uint64_t tried;		/* bit i: zone->addrs[i] asked (FWD_MAX_ADDRS) */
	enum fwd_state state;
	int fd;			/* TCP */
	struct event *ev;
	struct outudp_req udp;	/* UDP; kept waiting during the TCP retry */
	struct event *timer;	/* &timer_ev */
	struct event timer_ev;
	uint64_t deadline;	/* monotonic msec */
	uint16_t id;
	size_t qname_len;
	uint16_t qtype, qclass;
	bool cd, dnssec_ok;
	bool ecs_on;		/* fwd_ecs given */
	bool ecs_sent;		/* the current attempt carries it */
	int ecs_scope;		/* of the reply that matched */
	struct fwd_ecs ecs;
	size_t qlen;
	size_t tcp_done;	/* bytes written, then read */
	uint8_t lenbuf[2];
	uint8_t *tcp_rbuf;
	size_t tcp_rlen;
	struct ups_req *ureq;	/* FWD_UPS: the request on the connection */
	int ups_retries;	/* resent after UPS_RETRY, this address */
	fwd_done_cb cb;
	void *arg;
	struct dns_scan scan;	/* of the last reply that passed reply_ok */
	/* the buffers last: a new query zeroes only what is above them */
	uint8_t qname[DNS_MAX_NAME];
	uint8_t qbuf[2 + 512];	/* 2-byte TCP length, then the query */
};

/* ------------------------------------------------------------ zones */

struct fwd_zones {
	pthread_mutex_t lock;		/* guards cur and tls_ctx */
	struct fwd_table *cur;		/* the live version */
	char *bundle;			/* tls-cert-bundle, "" = system */
	void *tls_ctx;			/* made when a zone first needs it */
};

/* Parse with 'defport' when no "@port" is given. */
static int
addr_parse_port(const char *s, struct fwd_addr *a, long defport)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *at, *hash, *end;
	size_t hl;
	long port = defport;

	memset(a, 0, sizeof(*a));
	hash = strchr(s, '#');
	end = hash ? hash : s + strlen(s);
	at = memchr(s, '@', (size_t)(end - s));
	hl = (size_t)((at ? at : end) - s);
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (at != NULL) {
		char pbuf[8], *ep;
		size_t pl = (size_t)(end - at - 1);

		if (pl == 0 || pl >= sizeof(pbuf))
			return -1;
		memcpy(pbuf, at + 1, pl);
		pbuf[pl] = '\0';
		port = strtol(pbuf, &ep, 10);
		if (*ep != '\0' || port <= 0 || port > 65535)
			return -1;
	}
	if (hash != NULL) {
		size_t nl = strlen(hash + 1);

		if (nl == 0 || nl >= sizeof(a->auth))
			return -1;
		memcpy(a->auth, hash + 1, nl + 1);
	}
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof(*sin);
	}
	snprintf(a->text, sizeof(a->text), "%s@%ld", host, port);
	return 0;
}

int
fwd_addr_parse(const char *s, struct fwd_addr *a)
{
	return addr_parse_port(s, a, FWD_DEFAULT_PORT);
}

static long
transport_port(enum fwd_transport t)
{
	return t == FWD_DOT ? FWD_DOT_PORT : t == FWD_DOH ? FWD_DOH_PORT :
	    FWD_DEFAULT_PORT;
}

static int
zone_add_addr(struct fwd_zone *z, const struct fwd_addr *a)
{
	struct fwd_addr *v;

	if (z->naddrs >= FWD_MAX_ADDRS)
		return -1;
	v = realloc(z->addrs, (z->naddrs + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	z->addrs = v;
	z->addrs[z->naddrs++] = *a;
	return 0;
}

static struct fwd_zone *
zones_add(struct fwd_table *zs, const uint8_t *name, size_t len)
{
	struct fwd_zone *v;
	size_t i;

	for (i = 0; i < zs->n; i++)
		if (zs->v[i].name_len == len &&
		    memcmp(zs->v[i].name, name, len) == 0)
			return &zs->v[i];
	v = realloc(zs->v, (zs->n + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	zs->v = v;
	v = &zs->v[zs->n++];
	memset(v, 0, sizeof(*v));
	memcpy(v->name, name, len);
	v->name_len = len;
	snprintf(v->endpoint, sizeof(v->endpoint), "%s", FWD_HTTP_ENDPOINT);
	return v;
}

/* "nameserver IP" lines of a resolv.conf into zone z. */
static void
zone_from_resolv_conf(struct fwd_zone *z, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int nlines = 0;

	if (f == NULL) {
		log_warn("forward: cannot open %s: no upstream for '.'", path);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL && nlines++ < 10000) {
		char kw[32], addr[256];
		struct fwd_addr a;
		char *pct;

		if (sscanf(line, "%31s %255s", kw, addr) != 2 ||
		    strcmp(kw, "nameserver") != 0)
			continue;
		pct = strchr(addr, '%');	/* scope id: not supported */
		if (pct != NULL)
			*pct = '\0';
		if (fwd_addr_parse(addr, &a) < 0) {
			log_warn("forward: %s: bad nameserver '%s'", path, addr);
			continue;
		}
		if (zone_add_addr(z, &a) == 0)
			verbose(VERB_OPS, "forward: '.' to %s (from %s)",
			    a.text, path);
	}
	fclose(f);
	if (z->naddrs == 0)
		log_warn("forward: no nameserver in %s: no upstream for '.'",
		    path);
}

static void
table_free(struct fwd_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->v[i].addrs);
	free(t->v);
	free(t);
}

void
fwd_table_release(struct fwd_table *t)
{
	if (t != NULL && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
		table_free(t);
}

struct fwd_table *
fwd_zones_acquire(struct fwd_zones *zs)
{
	struct fwd_table *t;

	pthread_mutex_lock(&zs->lock);
	t = zs->cur;
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&zs->lock);
	return t;
}

void
fwd_zones_free(struct fwd_zones *zs)
{
	if (zs == NULL)
		return;
	fwd_table_release(zs->cur);
	ups_tls_ctx_free(zs->tls_ctx);
	free(zs->bundle);
	pthread_mutex_destroy(&zs->lock);
	free(zs);
}

/* The TLS context, made on first need (called with the lock held or
 * before the table is shared).  Returns it or NULL. */
static void *
zones_tls_ctx(struct fwd_zones *zs)
{
	if (zs->tls_ctx == NULL)
		zs->tls_ctx = ups_tls_ctx_new(zs->bundle);
	return zs->tls_ctx;
}

/*
 * Add the addresses of forward-host 's' ("host[@port][#name]") to z:
 * every address getaddrinfo gives (the files in /etc/nsswitch.conf
 * first, so /etc/hosts), those of a family turned off with do-ip4 /
 * do-ip6 left out.  Without #name a DoT/DoH certificate is checked for
 * the host name.  Returns 0, or -1 with the error logged as
 * "file:line: forward-host: value: why".
 */
static int
zone_add_host(struct fwd_zone *z, const struct cfg_strlist *s,
    const struct config *cfg)
{
	char host[256], auth[256] = "";
	const char *hash = strchr(s->str, '#'), *at, *end;
	const char *file = s->file ? s->file : "-";
	long port = transport_port(z->transport);
	struct addrinfo hints, *res = NULL, *ai;
	size_t hl, added = 0;
	int rc;

	end = hash ? hash : s->str + strlen(s->str);
	at = memchr(s->str, '@', (size_t)(end - s->str));
	hl = (size_t)((at ? at : end) - s->str);
	if (hl == 0 || hl >= sizeof(host) || (hash != NULL &&
	    (hash[1] == '\0' || strlen(hash + 1) >= sizeof(auth)))) {
		log_err("%s:%d: forward-host: %s: not a host[@port][#name]",
		    file, s->line, s->str);
		return -1;
	}
	memcpy(host, s->str, hl);
	host[hl] = '\0';
	if (at != NULL) {
		char *ep;

		port = strtol(at + 1, &ep, 10);
		if (ep != end || port <= 0 || port > 65535) {
			log_err("%s:%d: forward-host: %s: bad port", file,
			    s->line, s->str);
			return -1;
		}
	}
	if (hash != NULL)
		snprintf(auth, sizeof(auth), "%s", hash + 1);
	else if (z->transport != FWD_DO53)
		snprintf(auth, sizeof(auth), "%s", host);
	memset(&hints, 0, sizeof(hints));
	/* both families in one look-up: /etc/hosts then answers it even
	 * when it has only one of them (no DNS query for the other) */
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		log_err("%s:%d: forward-host: %s: cannot resolve %s: %s", file,
		    s->line, s->str, host, rc == EAI_SYSTEM ? strerror(errno) :
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct fwd_addr a;
		char ip[INET6_ADDRSTRLEN];
		size_t j;

		if (ai->ai_family == AF_INET ? !cfg->do_ip4 :
		    ai->ai_family == AF_INET6 ? !cfg->do_ip6 : true)
			continue;
		if (ai->ai_addrlen > sizeof(a.ss))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
		a.len = (socklen_t)ai->ai_addrlen;
		if (ai->ai_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;

			s6->sin6_port = htons((uint16_t)port);
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;

			s4->sin_port = htons((uint16_t)port);
			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		}
		memcpy(a.auth, auth, sizeof(a.auth));
		snprintf(a.text, sizeof(a.text), "%s@%ld", ip, port);
		for (j = 0; j < z->naddrs; j++)
			if (z->addrs[j].len == a.len && memcmp(&z->addrs[j].ss,
			    &a.ss, a.len) == 0 && strcmp(z->addrs[j].auth,
			    a.auth) == 0)
				break;
		if (j < z->naddrs)
			continue;		/* given twice */
		if (zone_add_addr(z, &a) < 0) {
			log_warn("%s:%d: forward-host: %s: more than %d "
			    "addresses in the zone: %s left out", file, s->line,
			    s->str, FWD_MAX_ADDRS, a.text);
			continue;
		}
		added++;
		verbose(VERB_OPS, "forward-host %s: %s", s->str, a.text);
	}
	freeaddrinfo(res);
	if (added == 0 && z->naddrs < FWD_MAX_ADDRS) {
		log_err("%s:%d: forward-host: %s: %s has no %s address", file,
		    s->line, s->str, host, !cfg->do_ip4 ? "IPv6 (do-ip4: no)" :
		    !cfg->do_ip6 ? "IPv4 (do-ip6: no)" : "usable");
		return -1;
	}
	return 0;
}

/*
 * A new table (refs 1) from the forward-zone clauses of cfg, forward-host
 * names looked up now; "." from resolv_conf when no clause is for it.
 * Errors are logged; NULL on a bad forward-addr, a forward-host that
 * does not resolve, a TLS context that cannot be made or no memory.
 */
static struct fwd_table *
table_from_config(struct fwd_zones *zs, const struct config *cfg,
    const char *resolv_conf)
{
	struct fwd_table *t;
	const struct cfg_forward *f;
	const struct cfg_strlist *s;
	uint8_t root[1] = { 0 };
	bool have_root = false;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->refs = 1;
	for (f = cfg->forwards; f != NULL; f = f->next) {
		uint8_t name[DNS_MAX_NAME];
		size_t len = dns_name_from_text(f->name ? f->name : "", name);
		struct fwd_zone *z;

		if (len == 0) {
			log_err("forward-zone: name: %s: bad domain name",
			    f->name ? f->name : "");
			goto fail;
		}
		dns_name_lower(name, name, len);
		z = zones_add(t, name, len);
		if (z == NULL)
			goto fail;
		z->transport = f->https_upstream ? FWD_DOH : f->tls_upstream ?
		    FWD_DOT : FWD_DO53;
		if (f->http_endpoint != NULL && f->http_endpoint[0] != '\0')
			snprintf(z->endpoint, sizeof(z->endpoint), "%s",
			    f->http_endpoint);
		for (s = f->addrs; s != NULL; s = s->next) {
			struct fwd_addr a;

			if (addr_parse_port(s->str, &a,
			    transport_port(z->transport)) < 0) {
				log_err("%s:%d: forward-addr: %s: not an "
				    "IP[@port][#name]", s->file ? s->file : "-",
				    s->line, s->str);
				goto fail;
			}
			if (zone_add_addr(z, &a) < 0)
				goto fail;
		}
		for (s = f->hosts; s != NULL; s = s->next)
			if (zone_add_host(z, s, cfg) < 0)
				goto fail;
		z->no_cache = f->no_cache != 0;
		z->first = f->first != 0;
#ifndef HAVE_NGHTTP2
		if (z->transport == FWD_DOH) {
			log_err("forward-zone %s: forward-https-upstream needs "
			    "cairnd built with nghttp2", f->name);
			goto fail;
		}
#endif
		if (z->transport != FWD_DO53 && zones_tls_ctx(zs) == NULL) {
			log_err("forward-zone %s: cannot set up TLS "
			    "(tls-cert-bundle: %s)", f->name,
			    zs->bundle[0] ? zs->bundle : "system default");
			goto fail;
		}
		if (z->naddrs == 0)
			log_warn("forward-zone %s: no forward-addr: its "
			    "queries get SERVFAIL", f->name);
	}
	for (i = 0; i < t->n; i++)
		if (t->v[i].name_len == 1)
			have_root = true;
	if (!have_root) {
		struct fwd_zone *z = zones_add(t, root, 1);

		if (z == NULL)
			goto fail;
		zone_from_resolv_conf(z, resolv_conf ? resolv_conf :
		    FWD_RESOLV_CONF);
	}
	t->tls_ctx = zs->tls_ctx;
	return t;
fail:
	table_free(t);
	return NULL;
}

struct fwd_zones *
fwd_zones_new(const struct config *cfg, const char *resolv_conf)
{
	struct fwd_zones *zs = calloc(1, sizeof(*zs));

	if (zs == NULL)
		return NULL;
	pthread_mutex_init(&zs->lock, NULL);
	zs->bundle = strdup(cfg->tls_cert_bundle ? cfg->tls_cert_bundle : "");
	if (zs->bundle == NULL)
		goto fail;
	zs->cur = table_from_config(zs, cfg, resolv_conf);
	if (zs->cur == NULL)
		goto fail;
	return zs;
fail:
	fwd_zones_free(zs);
	return NULL;
}

static void table_swap(struct fwd_zones *zs, struct fwd_table *c);

int
fwd_zones_reset(struct fwd_zones *zs, const struct config *cfg,
    const char *resolv_conf)
{
	const struct cfg_forward *f;
	struct fwd_table *t;
	bool tls = false;

	for (f = cfg->forwards; f != NULL; f = f->next)
		if (f->tls_upstream || f->https_upstream)
			tls = true;
	/* the TLS context under the lock (forward_add may make it too);
	 * the look-ups without it, so that workers go on meanwhile */
	pthread_mutex_lock(&zs->lock);
	if (tls && zones_tls_ctx(zs) == NULL) {
		pthread_mutex_unlock(&zs->lock);
		log_err("forward zones: cannot set up TLS (tls-cert-bundle)");
		return -1;
	}
	pthread_mutex_unlock(&zs->lock);
	t = table_from_config(zs, cfg, resolv_conf);
	if (t == NULL)
		return -1;
	pthread_mutex_lock(&zs->lock);
	table_swap(zs, t);
	pthread_mutex_unlock(&zs->lock);
	return 0;
}

const struct fwd_zone *
fwd_table_lookup(const struct fwd_table *zs, const uint8_t *qname,
    size_t qname_len)
{
	const struct fwd_zone *best = NULL;
	size_t i;

	for (i = 0; i < zs->n; i++) {
		const struct fwd_zone *z = &zs->v[i];

		if ((best == NULL || z->name_len > best->name_len) &&
		    dns_name_subdomain(qname, qname_len, z->name, z->name_len))
			best = z;
	}
	return best;
}

/* ------------------------------------------------------------ control */

int
fwd_zones_list(struct fwd_zones *zs, FILE *out)
{
	struct fwd_table *t = fwd_zones_acquire(zs);
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		const struct fwd_zone *z = &t->v[i];
		char name[DNS_MAX_NAME * 4 + 2];

		if (dns_name_to_text(z->name, z->name_len, name,
		    sizeof(name)) < 0)
			continue;
		fprintf(out, "%s IN forward", name);
		if (z->transport == FWD_DOT)
			fprintf(out, " +t");
		else if (z->transport == FWD_DOH)
			fprintf(out, " +h");
		for (j = 0; j < z->naddrs; j++) {
			const struct fwd_addr *a = &z->addrs[j];
			char ip[INET6_ADDRSTRLEN];
			uint16_t port;

			if (a->ss.ss_family == AF_INET6) {
				const struct sockaddr_in6 *s6 =
				    (const struct sockaddr_in6 *)&a->ss;

				inet_ntop(AF_INET6, &s6->sin6_addr, ip,
				    sizeof(ip));
				port = ntohs(s6->sin6_port);
			} else {
				const struct sockaddr_in *s4 =
				    (const struct sockaddr_in *)&a->ss;

				inet_ntop(AF_INET, &s4->sin_addr, ip,
				    sizeof(ip));
				port = ntohs(s4->sin_port);
			}
			fprintf(out, " %s", ip);
			if (port != transport_port(z->transport))
				fprintf(out, "@%u", port);
			if (a->auth[0] != '\0')
				fprintf(out, "#%s", a->auth);
		}
		fprintf(out, "\n");
	}
	fwd_table_release(t);
	return ferror(out) ? -1 : 0;
}

/* A deep copy of t (refs 1), without the zone 'skip' (or NULL). */
static struct fwd_table *
table_copy(const struct fwd_table *t, const struct fwd_zone *skip)
{
	struct fwd_table *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return NULL;
	c->refs = 1;
	c->tls_ctx = t->tls_ctx;
	c->v = calloc(t->n + 1, sizeof(*c->v));
	if (c->v == NULL) {
		free(c);
		return NULL;
	}
	for (i = 0; i < t->n; i++) {
		struct fwd_zone *z;

		if (&t->v[i] == skip)
			continue;
		z = &c->v[c->n++];
		*z = t->v[i];
		z->addrs = NULL;
		if (t->v[i].naddrs > 0) {
			z->addrs = malloc(t->v[i].naddrs * sizeof(*z->addrs));
			if (z->addrs == NULL) {
				z->naddrs = 0;
				table_free(c);
				return NULL;
			}
			memcpy(z->addrs, t->v[i].addrs,
			    t->v[i].naddrs * sizeof(*z->addrs));
		}
	}
	return c;
}

/* Publish 'c' as the live table (lock held); the old one is released. */
static void
table_swap(struct fwd_zones *zs, struct fwd_table *c)
{
	struct fwd_table *old = zs->cur;

	zs->cur = c;
	fwd_table_release(old);
}

int
fwd_zones_add(struct fwd_zones *zs, const char *zone, const char *addrs,
    enum fwd_transport tr, char *err, size_t errlen)
{
	uint8_t name[DNS_MAX_NAME];
	size_t len = dns_name_from_text(zone ? zone : "", name);
	struct fwd_table *c;
	struct fwd_zone *z;
	const char *p = addrs ? addrs : "";
	size_t i, found = 0;

	if (len == 0) {
		snprintf(err, errlen, "'%s' is not a domain name.",
		    zone ? zone : "");
		return -1;
	}
	dns_name_lower(name, name, len);
#ifndef HAVE_NGHTTP2
	if (tr == FWD_DOH) {
		snprintf(err, errlen, "+h needs cairnd built with nghttp2.");
		return -1;
	}
#endif
	pthread_mutex_lock(&zs->lock);
	if (tr != FWD_DO53 && zones_tls_ctx(zs) == NULL) {
		pthread_mutex_unlock(&zs->lock);
		snprintf(err, errlen, "cannot set up TLS (tls-cert-bundle).");
		return -1;
	}
	for (i = 0; i < zs->cur->n; i++)
		if (zs->cur->v[i].name_len == len &&
		    memcmp(zs->cur->v[i].name, name, len) == 0)
			break;
	/* a zone given again is replaced, as unbound-control does */
	c = table_copy(zs->cur, i < zs->cur->n ? &zs->cur->v[i] : NULL);
	if (c == NULL) {
		pthread_mutex_unlock(&zs->lock);
		snprintf(err, errlen, "out of memory.");
		return -1;
	}
	c->tls_ctx = zs->tls_ctx;
	z = zones_add(c, name, len);	/* room was kept by table_copy */
	if (z == NULL)
		goto oom;
	z->transport = tr;
	while (*p != '\0') {
		char word[INET6_ADDRSTRLEN + 8 + 256];
		size_t wl;
		struct fwd_addr a;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		wl = strcspn(p, " \t");
		if (wl >= sizeof(word)) {
			snprintf(err, errlen, "forward address too long.");
			goto bad;
		}
		memcpy(word, p, wl);
		word[wl] = '\0';
		p += wl;
		if (addr_parse_port(word, &a, transport_port(tr)) < 0) {
			snprintf(err, errlen, "'%s' is not an "
			    "IP[@port][#name].", word);
			goto bad;
		}
		if (zone_add_addr(z, &a) < 0) {
			snprintf(err, errlen, "too many forward addresses "
			    "(at most %d).", FWD_MAX_ADDRS);
			goto bad;
		}
		found++;
	}
	if (found == 0) {
		snprintf(err, errlen, "no forward address given.");
		goto bad;
	}
	table_swap(zs, c);
	pthread_mutex_unlock(&zs->lock);
	return 0;
oom:
	snprintf(err, errlen, "out of memory.");
bad:
	pthread_mutex_unlock(&zs->lock);
	table_free(c);
	return -1;
}

int
fwd_zones_remove(struct fwd_zones *zs, const char *zone, char *err,
    size_t errlen)
{
	uint8_t name[DNS_MAX_NAME];
	size_t len = dns_name_from_text(zone ? zone : "", name);
	struct fwd_table *c;
	size_t i;

	if (len == 0) {
		snprintf(err, errlen, "'%s' is not a domain name.",
		    zone ? zone : "");
		return -1;
	}
	dns_name_lower(name, name, len);
	pthread_mutex_lock(&zs->lock);
	for (i = 0; i < zs->cur->n; i++)
		if (zs->cur->v[i].name_len == len &&
		    memcmp(zs->cur->v[i].name, name, len) == 0)
			break;
	if (i == zs->cur->n) {
		pthread_mutex_unlock(&zs->lock);
		snprintf(err, errlen, "no forward zone '%s'.", zone);
		return -1;
	}
	c = table_copy(zs->cur, &zs->cur->v[i]);
	if (c == NULL) {
		pthread_mutex_unlock(&zs->lock);
		snprintf(err, errlen, "out of memory.");
		return -1;
	}
	table_swap(zs, c);
	pthread_mutex_unlock(&zs->lock);
	return 0;
}

/* ------------------------------------------------------------ queries */

static void start_cb(evutil_socket_t fd, short what, void *arg);
static void udp_timeout_cb(evutil_socket_t fd, short what, void *arg);

struct outside *
outside_new(struct event_base *base, struct stats *st, uint16_t edns_udp,
    unsigned queries_per_port)
{
	struct outside *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->base = base;
	o->st = st;
	o->edns_udp = edns_udp;
	o->rnd_pos = sizeof(o->rnd);
	event_assign(&o->start_ev, base, -1, 0, start_cb, o);
	evtimer_assign(&o->udp_ev, base, udp_timeout_cb, o);
	o->bo = backoff_new();
	o->pool = o->bo != NULL ? ups_pool_new(base, st, o->bo) : NULL;
	o->udp = outudp_new(base, st, queries_per_port);
	if (o->pool == NULL || o->udp == NULL) {
		outudp_free(o->udp);
		ups_pool_free(o->pool);
		backoff_free(o->bo);
		free(o);
		return NULL;
	}
	return o;
}

void
outside_set_src(struct outside *o, struct out_src *src)
{
	o->src = src;
	outudp_set_src(o->udp, src);
	ups_pool_set_src(o->pool, src);
}

size_t
outside_pending(const struct outside *o)
{
	return o->nqueries;
}

static uint16_t
random_id(struct outside *o)
{
	uint16_t id;

	if (o->rnd_pos + 2 > sizeof(o->rnd)) {
		ssize_t n = getrandom(o->rnd, sizeof(o->rnd), 0);

		if (n != (ssize_t)sizeof(o->rnd)) {
			/* not expected on Linux >= 3.17; still unpredictable
			 * enough for a fallback, never a constant */
			size_t i;
			uint64_t x = mono_msec() ^ (uint64_t)(uintptr_t)o;

			for (i = 0; i < sizeof(o->rnd); i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				o->rnd[i] = (uint8_t)x;
			}
		}
		o->rnd_pos = 0;
	}
	memcpy(&id, o->rnd + o->rnd_pos, 2);
	o->rnd_pos += 2;
	return id;
}

static void
udp_keep_close(struct fwd_query *fq)
{
	outudp_cancel(&fq->udp);
}

/* The attempt's timeout off: its timer, or its place in the UDP list. */
static void
timer_stop(struct fwd_query *fq)
{
	struct outside *o = fq->o;

	if (fq->tlisted) {
		if (fq->tprev != NULL)
			fq->tprev->tnext = fq->tnext;
		else
			o->udp_head = fq->tnext;
		if (fq->tnext != NULL)
			fq->tnext->tprev = fq->tprev;
		else
			o->udp_tail = fq->tprev;
		fq->tprev = fq->tnext = NULL;
		fq->tlisted = false;
	}
	if (fq->timer_on) {
		evtimer_del(fq->timer);
		fq->timer_on = false;
	}
}

static void
attempt_close(struct fwd_query *fq)
{
	if (fq->ureq != NULL) {
		ups_req_cancel(fq->ureq);
		fq->ureq = NULL;
	}
	udp_keep_close(fq);
	if (fq->ev != NULL) {
		event_free(fq->ev);
		fq->ev = NULL;
	}
	timer_stop(fq);
	if (fq->fd >= 0) {
		close(fq->fd);
		fq->fd = -1;
	}
	free(fq->tcp_rbuf);
	fq->tcp_rbuf = NULL;
	fq->tcp_done = 0;
	fq->tcp_rlen = 0;
}

/* Off the list of queries waiting for their first attempt. */
static void
start_unlink(struct outside *o, struct fwd_query *fq)
{
	if (fq->sprev != NULL)
		fq->sprev->snext = fq->snext;
	else
		o->start_head = fq->snext;
	if (fq->snext != NULL)
		fq->snext->sprev = fq->sprev;
	else
		o->start_tail = fq->sprev;
	fq->sprev = fq->snext = NULL;
	fq->queued = false;
}

static void
query_unlink_free(struct fwd_query *fq)
{
	struct outside *o = fq->o;

	if (fq->queued)
		start_unlink(o, fq);
	attempt_close(fq);
	/* attempt_close took the timer off (pending and active) */
	fwd_table_release(fq->tab);
	if (fq->prev != NULL)
		fq->prev->next = fq->next;
	else
		o->queries = fq->next;
	if (fq->next != NULL)
		fq->next->prev = fq->prev;
	o->nqueries--;
	if (o->nspare < FWD_SPARE) {
		fq->next = o->spare;
		o->spare = fq;
		o->nspare++;
	} else {
		free(fq);
	}
}

void
fwd_query_cancel(struct fwd_query *fq)
{
	if (fq != NULL)
		query_unlink_free(fq);
}

void
outside_free(struct outside *o)
{
	if (o == NULL)
		return;
	while (o->queries != NULL)
		query_unlink_free(o->queries);
	event_del(&o->start_ev);
	event_del(&o->udp_ev);
	while (o->spare != NULL) {
		struct fwd_query *fq = o->spare;

		o->spare = fq->next;
		free(fq);
	}
	ups_pool_free(o->pool);
	outudp_free(o->udp);
	backoff_free(o->bo);
	free(o);
}

static void start_next(struct fwd_query *fq);

/*
 * forward-first: the zone's upstreams all failed or one said SERVFAIL;
 * go on with the forward zone of the zone's parent name (cairn does no
 * recursion of its own to fall back to), within the query's deadline.
 * Returns true when a new attempt was started.
 */
static bool
zone_fall_back(struct fwd_query *fq)
{
	const struct fwd_zone *z = fq->zone, *up;
	size_t lab;

	if (!z->first || z->name_len <= 1 || mono_msec() >= fq->deadline)
		return false;
	lab = 1 + (size_t)z->name[0];
	up = fwd_table_lookup(fq->tab, z->name + lab, z->name_len - lab);
	if (up == NULL || up->naddrs == 0)
		return false;
	verbose(VERB_ALGO, "forward: forward-first: on to the parent's zone");
	attempt_close(fq);
	fq->zone = up;
	fq->tried = 0;
	start_next(fq);
	return true;
}

/* Finish: free the query, then call back (it may start new queries).
 * An answer (pkt) came from the current address: it is up. */
static void
query_done(struct fwd_query *fq, const uint8_t *pkt, size_t len)
{
	fwd_done_cb cb = fq->cb;
	void *arg = fq->arg;
	int scope = pkt != NULL && fq->ecs_sent ? fq->ecs_scope : -1;
	struct dns_scan scan;

	if (pkt != NULL && fq->state != FWD_START) {
		const struct fwd_addr *a = &fq->zone->addrs[fq->addr_idx];

		backoff_ok(fq->o->bo, &a->ss, a->len, fq->zone->transport);
	}
	if (fq->zone->first && (pkt == NULL || (len >= 4 &&
	    (pkt[3] & 0x0f) == DNS_RCODE_SERVFAIL)) && zone_fall_back(fq))
		return;
	if (pkt != NULL)
		scan = fq->scan;	/* pkt passed reply_ok just now */
	query_unlink_free(fq);
	cb(arg, pkt, len, scope, pkt != NULL ? &scan : NULL);
}

static void try_attempt(struct fwd_query *fq);

/*
 * The next address to ask, or -1 when every one was asked: the first
 * (in the zone's order) that is not down, else the one that failed
 * longest ago - a query is never failed without asking.
 */
static int
pick_addr(struct fwd_query *fq)
{
	const struct fwd_zone *z = fq->zone;
	uint64_t now = mono_msec(), oldest = UINT64_MAX;
	int down = -1;
	size_t i;

	for (i = 0; i < z->naddrs && i < 64; i++) {
		uint64_t last;

		if (fq->tried & ((uint64_t)1 << i))
			continue;
		/* up; or its time is over and no other query tries it now */
		if (backoff_down_until(fq->o->bo, &z->addrs[i].ss,
		    z->addrs[i].len, z->transport, now, &last) == 0 &&
		    (last == 0 || backoff_probe(fq->o->bo, &z->addrs[i].ss,
		    z->addrs[i].len, z->transport, now, z->transport ==
		    FWD_DO53 ? FWD_UDP_TIMEOUT_MSEC + FWD_TCP_TIMEOUT_MSEC :
		    FWD_UPS_TIMEOUT_MSEC)))
			return (int)i;
		if (down < 0 || last < oldest) {
			down = (int)i;
			oldest = last;
		}
	}
	if (down >= 0)
		verbose(VERB_ALGO, "forward: %s is down, asked as the last "
		    "one left", z->addrs[down].text);
	return down;
}

/* Ask the next address (see pick_addr), or fail the query. */
static void
start_next(struct fwd_query *fq)
{
	int i = pick_addr(fq);

	if (i < 0 || mono_msec() >= fq->deadline) {
		verbose(VERB_ALGO, "forward: all upstreams failed");
		query_done(fq, NULL, 0);
		return;
	}
	fq->addr_idx = (size_t)i;
	fq->tried |= (uint64_t)1 << i;
	fq->ups_retries = 0;
	try_attempt(fq);
}

static void
next_addr(struct fwd_query *fq)
{
	attempt_close(fq);
	start_next(fq);
}

/* The current address failed (refused, reset, no answer in time): down
 * for a while (backoff.h), then the next one. */
static void
addr_failed(struct fwd_query *fq)
{
	const struct fwd_addr *a = &fq->zone->addrs[fq->addr_idx];

	backoff_fail(fq->o->bo, &a->ss, a->len, fq->zone->transport,
	    mono_msec());
	next_addr(fq);
}

/* Arm udp_ev for the head of the UDP list (if any) at 'now'. */
static void
udp_arm(struct outside *o, uint64_t now)
{
	uint64_t msec;
	struct timeval tv;

	if (o->udp_head == NULL)
		return;
	msec = o->udp_head->tdeadline > now ? o->udp_head->tdeadline - now : 0;
	tv.tv_sec = (time_t)(msec / 1000);
	tv.tv_usec = (suseconds_t)((msec % 1000) * 1000);
	if (evtimer_add(&o->udp_ev, &tv) == 0)
		o->udp_armed = true;
}

/* The attempt's timeout in msec (at most what is left of the query's
 * deadline); replaces one set before.  A full UDP wait joins the UDP
 * list, any other gets the query's own timer. */
static void
timer_arm(struct fwd_query *fq, uint64_t msec)
{
	struct outside *o = fq->o;
	uint64_t now = mono_msec(), left;
	struct timeval tv;

	timer_stop(fq);
	left = fq->deadline > now ? fq->deadline - now : 0;
	if (msec > left)
		msec = left;
	if (msec == FWD_UDP_TIMEOUT_MSEC) {
		fq->tdeadline = now + msec;
		fq->tprev = o->udp_tail;
		fq->tnext = NULL;
		if (o->udp_tail != NULL)
			o->udp_tail->tnext = fq;
		else
			o->udp_head = fq;
		o->udp_tail = fq;
		fq->tlisted = true;
		if (!o->udp_armed)
			udp_arm(o, now);
		return;
	}
	tv.tv_sec = (time_t)(msec / 1000);
	tv.tv_usec = (suseconds_t)((msec % 1000) * 1000);
	evtimer_add(fq->timer, &tv);
	fq->timer_on = true;
}

/* Grow the 16-bit RDLENGTH at p by n. */
static void
opt_rdlen_add(uint8_t *p, size_t n)
{
	size_t v = ((size_t)p[0] << 8 | p[1]) + n;

	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* New ID, rebuild the query into qbuf + 2. Returns 0 or -1. */
static int
query_build(struct fwd_query *fq)
{
	size_t rdlen_off;

	fq->id = random_id(fq->o);
	fq->qlen = dns_query_build(fq->qbuf + 2, sizeof(fq->qbuf) - 2, fq->id,
	    fq->qname, fq->qname_len, fq->qtype, fq->qclass, fq->cd,
	    fq->dnssec_ok, fq->o->edns_udp);
	if (fq->qlen == 0)
		return -1;
	/* the OPT RR is last: its RDLENGTH is the last two bytes for now */
	rdlen_off = fq->qlen - 2;
	fq->ecs_sent = fq->ecs_on && (fq->ecs.always ||
	    netblock_lookup(fq->ecs.upstreams, (const struct sockaddr *)
	    &fq->zone->addrs[fq->addr_idx].ss) != NULL);
	if (fq->ecs_sent) {
		uint8_t *p = fq->qbuf + 2;
		size_t n = dns_ecs_write(p + fq->qlen, sizeof(fq->qbuf) - 2 -
		    fq->qlen, &fq->ecs.ecs);

		fq->qlen += n;
		opt_rdlen_add(p + rdlen_off, n);
	}
	if (fq->zone->transport != FWD_DO53) {
		/*
		 * RFC 8467 block padding for encrypted transports: a padding
		 * option makes the query a multiple of FWD_PAD_BLOCK bytes.
		 */
		uint8_t *p = fq->qbuf + 2;
		size_t n = fq->qlen, total = (n + 4 + FWD_PAD_BLOCK - 1) /
		    FWD_PAD_BLOCK * FWD_PAD_BLOCK, plen = total - n - 4;

		if (total <= sizeof(fq->qbuf) - 2) {
			opt_rdlen_add(p + rdlen_off, 4 + plen);
			p[n] = 0;
			p[n + 1] = 12;		/* EDNS option Padding */
			p[n + 2] = (uint8_t)(plen >> 8);
			p[n + 3] = (uint8_t)plen;
			memset(p + n + 4, 0, plen);
			fq->qlen = total;
		}
	}
	fq->qbuf[0] = (uint8_t)(fq->qlen >> 8);
	fq->qbuf[1] = (uint8_t)fq->qlen;
	return 0;
}

/*
 * The ECS option of a reply to a query that carried one: none (scope
 * 0), or the family, source prefix and address sent (RFC 7871 7.3).
 * Sets fq->ecs_scope.  Returns false for a malformed or other option.
 */
static bool
reply_ecs_ok(struct fwd_query *fq, const uint8_t *p, size_t n)
{
	const struct dns_ecs *sent = &fq->ecs.ecs;
	struct dns_ecs e;
	int rc = dns_reply_ecs(p, n, &e);

	fq->ecs_scope = 0;
	if (rc == 0)
		return true;
	if (rc < 0 || e.family != sent->family || e.source != sent->source ||
	    memcmp(e.addr, sent->addr, ((size_t)e.source + 7) / 8) != 0) {
		verbose(VERB_ALGO, "forward: %s: client subnet option in the "
		    "reply does not match the query",
		    fq->zone->addrs[fq->addr_idx].text);
		return false;
	}
	fq->ecs_scope = e.scope;
	return true;
}

static bool
reply_ok(struct fwd_query *fq, uint16_t id, const uint8_t *p, size_t n)
{
	if (dns_reply_matches_scan(p, n, id, fq->qname, fq->qname_len,
	    fq->qtype, fq->qclass, &fq->scan) && (!fq->ecs_sent ||
	    reply_ecs_ok(fq, p, n)))
		return true;
	if (fq->o->st != NULL)
		STAT_INC(fq->o->st, UNWANTED_REPLIES);
	verbose(VERB_ALGO, "forward: unwanted reply from %s ignored",
	    fq->zone->addrs[fq->addr_idx].text);
	return false;
}

static void try_tcp(struct fwd_query *fq, bool keep_udp);

/*
 * A reply to the UDP query (or its socket's error): the current
 * attempt's (state FWD_UDP), or a late one while TCP is tried after a
 * timeout (then a truncated reply or an error only ends the wait).
 */
static void
udp_reply_cb(void *arg, int err, const uint8_t *pkt, size_t n)
{
	struct fwd_query *fq = arg;
	bool late = fq->state != FWD_UDP;

	if (err != 0) {
		if (late)
			return;
		/* ECONNREFUSED: ICMP port unreachable; fail now */
		verbose(VERB_ALGO, "forward: %s: %s",
		    fq->zone->addrs[fq->addr_idx].text, strerror(err));
		addr_failed(fq);
		return;
	}
	if (!reply_ok(fq, fq->udp.id, pkt, n))
		return;
	if (pkt[2] & (DNS_TC >> 8)) {
		if (late)
			udp_keep_close(fq);
		else
			try_tcp(fq, false);
		return;
	}
	query_done(fq, pkt, n);
}

/* The first attempt of each query queued by fwd_query_start, in order
 * (those queued meanwhile too; a cancelled one has left the queue). */
static void
start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outside *o = arg;

	(void)fd;
	(void)what;
	while (o->start_head != NULL) {
		struct fwd_query *fq = o->start_head;

		start_unlink(o, fq);
		start_next(fq);
	}
}

/* The attempt's time is over. */
static void
attempt_timeout(struct fwd_query *fq)
{
	if (fq->state == FWD_START) {
		start_next(fq);
		return;
	}
	if (fq->state == FWD_UDP && mono_msec() < fq->deadline) {
		verbose(VERB_ALGO, "forward: %s: UDP timeout, trying TCP",
		    fq->zone->addrs[fq->addr_idx].text);
		try_tcp(fq, true);
		return;
	}
	verbose(VERB_ALGO, "forward: %s: timeout",
	    fq->zone->addrs[fq->addr_idx].text);
	addr_failed(fq);
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_query *fq = arg;

	(void)fd;
	(void)what;
	fq->timer_on = false;
	attempt_timeout(fq);
}

/* udp_ev: every UDP attempt whose wait is over, oldest first (those the
 * handling adds go to the tail, not yet due); then the timer again for
 * the new head. */
static void
udp_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outside *o = arg;
	uint64_t now = mono_msec();

	(void)fd;
	(void)what;
	o->udp_armed = false;
	while (o->udp_head != NULL && o->udp_head->tdeadline <= now) {
		struct fwd_query *fq = o->udp_head;

		timer_stop(fq);
		attempt_timeout(fq);
	}
	if (!o->udp_armed)
		udp_arm(o, now);
}

/* A socket bound to an outgoing-interface address if there is one. */
static int
socket_open(struct outside *o, int family, int type)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd >= 0 && out_src_bind(o->src, fd, family,
	    out_src_pick(o->src, family)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
try_udp(struct fwd_query *fq)
{
	const struct fwd_addr *a = &fq->zone->addrs[fq->addr_idx];

	int err;

	fq->state = FWD_UDP;
	if (query_build(fq) < 0) {
		next_addr(fq);
		return;
	}
	err = outudp_send(fq->o->udp, &fq->udp,
	    (const struct sockaddr *)&a->ss, a->len, fq->qbuf + 2, fq->qlen,
	    mono_msec(), udp_reply_cb, fq);
	if (err < 0) {
		/* EMFILE under load: not worth a line per query */
		verbose(VERB_DETAIL, "forward: no UDP socket for %s", a->text);
		next_addr(fq);
		return;
	}
	if (err > 0) {
		verbose(VERB_ALGO, "forward: %s: %s", a->text, strerror(err));
		addr_failed(fq);
		return;
	}
	if (fq->o->st != NULL)
		STAT_INC(fq->o->st, QUERY_UDPOUT);
	timer_arm(fq, FWD_UDP_TIMEOUT_MSEC);
}

/* The TCP state machine: connect, write, read length, read message. */
static void
tcp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_query *fq = arg;
	ssize_t n;
	int i;

	(void)what;
	if (fq->state == FWD_TCP_CONNECT) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ||
		    err != 0) {
			verbose(VERB_ALGO, "forward: %s: TCP connect: %s",
			    fq->zone->addrs[fq->addr_idx].text,
			    strerror(err ? err : errno));
			addr_failed(fq);
			return;
		}
		fq->state = FWD_TCP_WRITE;
		fq->tcp_done = 0;
	}
	if (fq->state == FWD_TCP_WRITE) {
		n = send(fd, fq->qbuf + fq->tcp_done, fq->qlen + 2 -
		    fq->tcp_done, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			addr_failed(fq);
			return;
		}
		fq->tcp_done += (size_t)n;
		if (fq->tcp_done < fq->qlen + 2)
			return;
		/* switch the event to reading */
		event_free(fq->ev);
		fq->ev = event_new(fq->o->base, fd, EV_READ | EV_PERSIST,
		    tcp_cb, fq);
		if (fq->ev == NULL || event_add(fq->ev, NULL) < 0) {
			next_addr(fq);
			return;
		}
		fq->state = FWD_TCP_READ;
		fq->tcp_done = 0;
		return;
	}
	/* FWD_TCP_READ; bounded loop, the rest on the next event */
	for (i = 0; i < 64; i++) {
		uint8_t *dst;
		size_t want;

		if (fq->tcp_done < 2) {
			dst = fq->lenbuf + fq->tcp_done;
			want = 2 - fq->tcp_done;
		} else {
			dst = fq->tcp_rbuf + (fq->tcp_done - 2);
			want = fq->tcp_rlen - (fq->tcp_done - 2);
		}
		n = recv(fd, dst, want, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return;
		if (n <= 0) {
			verbose(VERB_ALGO, "forward: %s: TCP read: %s",
			    fq->zone->addrs[fq->addr_idx].text,
			    n == 0 ? "closed" : strerror(errno));
			addr_failed(fq);
			return;
		}
		fq->tcp_done += (size_t)n;
		if (fq->tcp_done == 2) {
			fq->tcp_rlen = ((size_t)fq->lenbuf[0] << 8) |
			    fq->lenbuf[1];
			if (fq->tcp_rlen < DNS_HDR_LEN) {
				next_addr(fq);
				return;
			}
			fq->tcp_rbuf = malloc(fq->tcp_rlen);
			if (fq->tcp_rbuf == NULL) {
				next_addr(fq);
				return;
			}
		}
		if (fq->tcp_done >= 2 && fq->tcp_done - 2 == fq->tcp_rlen) {
			if (!reply_ok(fq, fq->id, fq->tcp_rbuf, fq->tcp_rlen)) {
				next_addr(fq);
				return;
			}
			/* query_done frees tcp_rbuf: hand over a copy */
			{
				uint8_t *p = fq->tcp_rbuf;
				size_t l = fq->tcp_rlen;

				fq->tcp_rbuf = NULL;
				query_done(fq, p, l);
				free(p);
			}
			return;
		}
	}
}

static void
try_tcp(struct fwd_query *fq, bool keep_udp)
{
	const struct fwd_addr *a = &fq->zone->addrs[fq->addr_idx];

	if (keep_udp && fq->udp.s != NULL) {
		/* a slow UDP reply may still come: wait for it while TCP
		 * runs (fq->udp keeps its ID) */
		if (fq->ev != NULL) {
			event_free(fq->ev);
			fq->ev = NULL;
		}
		if (fq->fd >= 0) {
			close(fq->fd);
			fq->fd = -1;
		}
		timer_stop(fq);
		free(fq->tcp_rbuf);
		fq->tcp_rbuf = NULL;
		fq->tcp_done = 0;
		fq->tcp_rlen = 0;
	} else {
		attempt_close(fq);
	}
	if (query_build(fq) < 0) {
		next_addr(fq);
		return;
	}
	fq->fd = socket_open(fq->o, a->ss.ss_family, SOCK_STREAM);
	if (fq->fd < 0) {
		verbose(VERB_DETAIL, "forward: socket: %s", strerror(errno));
		next_addr(fq);
		return;
	}
	if (connect(fq->fd, (const struct sockaddr *)&a->ss, a->len) < 0 &&
	    errno != EINPROGRESS) {
		verbose(VERB_ALGO, "forward: %s: TCP connect: %s", a->text,
		    strerror(errno));
		addr_failed(fq);
		return;
	}
	if (fq->o->st != NULL)
		STAT_INC(fq->o->st, QUERY_TCPOUT);
	fq->state = FWD_TCP_CONNECT;
	fq->ev = event_new(fq->o->base, fq->fd, EV_WRITE | EV_PERSIST, tcp_cb,
	    fq);
	if (fq->ev == NULL || event_add(fq->ev, NULL) < 0) {
		next_addr(fq);
		return;
	}
	timer_arm(fq, FWD_TCP_TIMEOUT_MSEC);
}

static void try_stream(struct fwd_query *fq);

/* The encrypted connection answered (or failed) this query. */
static void
fwd_ups_done_cb(void *arg, enum ups_result res, const uint8_t *pkt, size_t len)
{
	struct fwd_query *fq = arg;

	fq->ureq = NULL;
	if (res == UPS_OK) {
		if (reply_ok(fq, fq->id, pkt, len)) {
			query_done(fq, pkt, len);
			return;
		}
		next_addr(fq);
		return;
	}
	if (res == UPS_RETRY && fq->ups_retries < FWD_UPS_MAX_RETRY &&
	    mono_msec() < fq->deadline) {
		/* a reused connection went away, or the server refused the
		 * stream unprocessed (GOAWAY): again, on a new connection */
		fq->ups_retries++;
		attempt_close(fq);
		try_stream(fq);
		return;
	}
	next_addr(fq);
}

/* DoT or DoH: hand the query to the worker's connection for the
 * address (made if needed); the answer comes to ups_done_cb. */
static void
try_stream(struct fwd_query *fq)
{
	const struct fwd_addr *a = &fq->zone->addrs[fq->addr_idx];

	fq->state = FWD_UPS;
	if (query_build(fq) < 0) {
		next_addr(fq);
		return;
	}
	fq->ureq = ups_query(fq->o->pool, fq->tab->tls_ctx, a,
	    fq->zone->transport, fq->zone->endpoint, fq->qbuf + 2, fq->qlen,
	    fwd_ups_done_cb, fq);
	if (fq->ureq == NULL) {
		verbose(VERB_ALGO, "forward: %s: no connection", a->text);
		next_addr(fq);
		return;
	}
	/* the connection chose the ID on the wire (0 for DoH) */
	fq->id = (uint16_t)((fq->qbuf[2] << 8) | fq->qbuf[3]);
	timer_arm(fq, FWD_UPS_TIMEOUT_MSEC);
}

static void
try_attempt(struct fwd_query *fq)
{
	if (fq->zone->transport == FWD_DO53)
		try_udp(fq);
	else
		try_stream(fq);
}

struct fwd_query *
fwd_query_start(struct outside *o, struct fwd_zones *zones,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t qclass,
    bool cd, bool dnssec_ok, const struct fwd_ecs *ecs, bool *no_cache,
    fwd_done_cb cb, void *arg)
{
	struct fwd_query *fq;
	struct fwd_table *tab;
	const struct fwd_zone *zone;

	if (o->nqueries >= FWD_MAX_PENDING || qname_len > DNS_MAX_NAME)
		return NULL;
	tab = fwd_zones_acquire(zones);
	zone = fwd_table_lookup(tab, qname, qname_len);
	if (zone == NULL || zone->naddrs == 0) {
		fwd_table_release(tab);
		return NULL;
	}
	if (no_cache != NULL)
		*no_cache = zone->no_cache;
	if (o->spare != NULL) {
		fq = o->spare;
		o->spare = fq->next;
		o->nspare--;
	} else {
		fq = malloc(sizeof(*fq));
		if (fq == NULL) {
			fwd_table_release(tab);
			return NULL;
		}
	}
	/* all but qname and qbuf, which are written before they are read */
	memset(fq, 0, offsetof(struct fwd_query, qname));
	fq->o = o;
	fq->tab = tab;
	fq->zone = zone;
	fq->fd = -1;
	fq->deadline = mono_msec() + FWD_QUERY_DEADLINE_MSEC;
	memcpy(fq->qname, qname, qname_len);
	fq->qname_len = qname_len;
	fq->qtype = qtype;
	fq->qclass = qclass;
	fq->cd = cd;
	fq->dnssec_ok = dnssec_ok;
	if (ecs != NULL) {
		fq->ecs_on = true;
		fq->ecs = *ecs;
	}
	fq->cb = cb;
	fq->arg = arg;
	fq->timer = &fq->timer_ev;
	evtimer_assign(fq->timer, o->base, timeout_cb, fq);
	fq->next = o->queries;
	if (o->queries != NULL)
		o->queries->prev = fq;
	o->queries = fq;
	o->nqueries++;
	/*
	 * The first attempt may fail at once (e.g. no route to the address);
	 * the callback must not run before we return, so the first attempt
	 * starts from the event loop, as a timer at 0 ms would: queued for
	 * start_ev (made active for the first in the queue), in order.
	 */
	fq->state = FWD_START;
	fq->queued = true;
	fq->sprev = o->start_tail;
	if (o->start_tail != NULL)
		o->start_tail->snext = fq;
	else
		o->start_head = fq;
	o->start_tail = fq;
	if (fq->sprev == NULL)
		event_active(&o->start_ev, EV_TIMEOUT, 1);
	return fq;
}
