/*
 * resolver/cache.c - the sharded message cache (see cache.h).
 *
 * Each shard: a mutex, a chained hash table that doubles when it holds
 * more entries than buckets (while the bucket array stays within a
 * quarter of the shard's share), a doubly linked LRU list (head = most
 * recent) and a byte count bounded by max_bytes / CACHE_SHARDS; the
 * count includes entries, their messages and the bucket array, so
 * mem.cache.message never exceeds msg-cache-size (for sizes of at least
 * CACHE_SHARDS * 128 bytes).  An entry
 * is one allocation (struct + name) plus its dns_msg.  Reads take the
 * shard lock too (a hit moves the entry to the LRU head), so a message is
 * only ever freed by a thread holding its shard's lock.
 * msg_cache_dump/msg_cache_load write and read the text format of
 * dump_cache/load_cache (doc/control-protocol.md).
 * This file does not parse DNS messages: dns_msg_reply and dns_msg_new do.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include "resolver/cache.h"
#include "util/clock.h"

struct cache_entry {
	struct cache_entry *hnext;	/* hash chain */
	struct cache_entry *lprev, *lnext;	/* LRU list */
	uint64_t hash;
	uint64_t stored;	/* monotonic seconds */
	uint32_t size;		/* bytes charged (an entry < 128 KiB) */
	bool prefetching;	/* msg_cache_reply said prefetch once */
	struct dns_msg *msg;
	struct cache_key key;	/* last: allocated up to its name_len */
};

/*
 * An entry's bytes: the key's name is its last member, and only its
 * name_len bytes of it are allocated (most names are far shorter than
 * DNS_MAX_NAME, which would otherwise be two thirds of a small entry).
 * Nothing reads past name_len, and a key is never copied out whole.
 */
#define KEY_BYTES(name_len) (offsetof(struct cache_key, name) + (name_len))
#define ENTRY_BYTES(name_len) \
	(offsetof(struct cache_entry, key) + KEY_BYTES(name_len))

struct cache_shard {
	pthread_mutex_t lock;
	struct cache_entry **buckets;
	size_t nbuckets;	/* power of two */
	size_t count;
	size_t bytes;
	size_t max_bytes;
	struct cache_entry *lru_head, *lru_tail;
};

struct msg_cache {
	struct cache_shard shard[CACHE_SHARDS];
	/* entries per client subnet scope: [family - 1][scope] (atomic) */
	unsigned long ecs_scopes[2][129];
	uint64_t (*now)(void *);
	void *now_arg;
};

#define CACHE_INIT_BUCKETS 64

void
cache_key_from_query(struct cache_key *k, const struct dns_query *q)
{
	memcpy(k->name, q->qname, q->qname_len);
	k->name_len = q->qname_len;
	k->qtype = q->qtype;
	k->qclass = q->qclass;
	k->dnssec_ok = q->edns && q->edns_do;
	k->cd = (q->flags & DNS_CD) != 0;
	k->ecs_family = 0;
}

bool
cache_key_equal(const struct cache_key *a, const struct cache_key *b)
{
	return a->name_len == b->name_len && a->qtype == b->qtype &&
	    a->qclass == b->qclass && a->dnssec_ok == b->dnssec_ok &&
	    a->cd == b->cd && a->ecs_family == b->ecs_family &&
	    memcmp(a->name, b->name, a->name_len) == 0 &&
	    (a->ecs_family == 0 || (a->ecs_scope == b->ecs_scope &&
	    a->ecs_forced == b->ecs_forced &&
	    memcmp(a->ecs_addr, b->ecs_addr, sizeof(a->ecs_addr)) == 0));
}

/* 64x64 -> 128 bit multiply, folded: the mixing step of the key hash. */
static inline uint64_t
hash_mix(uint64_t a, uint64_t b)
{
	__extension__ typedef unsigned __int128 u128;
	u128 r = (u128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * Eight name bytes at a time, the rest in one word, then qtype, qclass
 * and the two flags in one word: about a tenth of the instructions of the byte-wise FNV-1a it
 * replaces, with every bit of the result usable (shard_of takes the
 * high ones, the buckets the low ones).
 */
uint64_t
cache_key_hash(const struct cache_key *k)
{
	const uint8_t *p = k->name;
	size_t n = k->name_len;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = hash_mix(h ^ w, 0xa0761d6478bd642fULL);
	}
	w = 0;
	if (n > 0 && k->name_len >= 8)
		memcpy(&w, k->name + k->name_len - 8, 8); /* the last eight,
							     overlapping */
	else
		while (n > 0) {
			n--;
			w = (w << 8) | p[n];
		}
	h = hash_mix(h ^ w, 0xe7037ed1a0b428dbULL);
	w = (uint64_t)k->qtype | (uint64_t)k->qclass << 16 |
	    (uint64_t)((k->dnssec_ok ? 1 : 0) | (k->cd ? 2 : 0)) << 32;
	h = hash_mix(h ^ w, 0x8ebc6af09c88c6e3ULL);
	if (k->ecs_family != 0) {	/* a subnet-scoped entry */
		uint64_t a0, a1;

		memcpy(&a0, k->ecs_addr, 8);
		memcpy(&a1, k->ecs_addr + 8, 8);
		w = (uint64_t)k->ecs_family << 16 |
		    (uint64_t)k->ecs_scope << 8 | (k->ecs_forced ? 1 : 0);
		h = hash_mix(h ^ w, 0xa0761d6478bd642fULL);
		h = hash_mix(h ^ a0, 0xe7037ed1a0b428dbULL);
		h = hash_mix(h ^ a1, 0x8ebc6af09c88c6e3ULL);
	}
	return h;
}

static uint64_t
cache_clock_real(void *arg)
{
	(void)arg;
	return mono_sec();
}

struct msg_cache *
msg_cache_new(size_t max_bytes)
{
	struct msg_cache *c;
	size_t i;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->now = cache_clock_real;
	for (i = 0; i < CACHE_SHARDS; i++) {
		struct cache_shard *s = &c->shard[i];

		pthread_mutex_init(&s->lock, NULL);
		s->max_bytes = max_bytes / CACHE_SHARDS;
		s->nbuckets = CACHE_INIT_BUCKETS;
		while (s->nbuckets > 4 &&
		    s->nbuckets * sizeof(*s->buckets) > s->max_bytes / 4)
			s->nbuckets /= 2;
		s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
		if (s->buckets == NULL) {
			msg_cache_free(c);
			return NULL;
		}
		/* the bucket array counts against the bound too */
		s->bytes = s->nbuckets * sizeof(*s->buckets);
	}
	return c;
}

static void
entry_free(struct cache_entry *e)
{
	dns_msg_free(e->msg);
	free(e);
}

void
msg_cache_free(struct msg_cache *c)
{
	size_t i;
	struct cache_entry *e, *next;

	if (c == NULL)
		return;
	for (i = 0; i < CACHE_SHARDS; i++) {
		struct cache_shard *s = &c->shard[i];

		for (e = s->lru_head; e != NULL; e = next) {
			next = e->lnext;
			entry_free(e);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(c);
}

void
msg_cache_set_clock(struct msg_cache *c, uint64_t (*now)(void *), void *arg)
{
	c->now = now != NULL ? now : cache_clock_real;
	c->now_arg = arg;
}

static struct cache_shard *
shard_of(struct msg_cache *c, uint64_t hash)
{
	/* high bits pick the shard, low bits the bucket */
	return &c->shard[(hash >> 60) % CACHE_SHARDS];
}

static void
lru_unlink(struct cache_shard *s, struct cache_entry *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else
		s->lru_head = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else
		s->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
lru_push_head(struct cache_shard *s, struct cache_entry *e)
{
	e->lprev = NULL;
	e->lnext = s->lru_head;
	if (s->lru_head != NULL)
		s->lru_head->lprev = e;
	s->lru_head = e;
	if (s->lru_tail == NULL)
		s->lru_tail = e;
}

/* Count an entry with a client subnet key in or out (delta +1, -1). */
static void
ecs_count(struct msg_cache *c, const struct cache_key *k, long delta)
{
	if (k->ecs_family == 1 || k->ecs_family == 2)
		__atomic_add_fetch(&c->ecs_scopes[k->ecs_family - 1]
		    [k->ecs_scope <= 128 ? k->ecs_scope : 128],
		    (unsigned long)delta, __ATOMIC_RELAXED);
}

bool
msg_cache_has_scope(struct msg_cache *c, unsigned family, unsigned scope)
{
	if ((family != 1 && family != 2) || scope > 128)
		return false;
	return __atomic_load_n(&c->ecs_scopes[family - 1][scope],
	    __ATOMIC_RELAXED) != 0;
}

/* Unlink from hash and LRU, uncharge, free.  Lock held. */
static void
shard_remove(struct msg_cache *c, struct cache_shard *s,
    struct cache_entry *e)
{
	struct cache_entry **pp;

	pp = &s->buckets[e->hash & (s->nbuckets - 1)];
	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(s, e);
	s->count--;
	s->bytes -= e->size;
	ecs_count(c, &e->key, -1);
	entry_free(e);
}

static struct cache_entry *
shard_find(struct cache_shard *s, const struct cache_key *k, uint64_t hash)
{
	struct cache_entry *e;

	for (e = s->buckets[hash & (s->nbuckets - 1)]; e != NULL;
	    e = e->hnext)
		if (e->hash == hash && cache_key_equal(&e->key, k))
			return e;
	return NULL;
}

/* Double the bucket array; on allocation failure keep the old one. */
static void
shard_grow(struct cache_shard *s)
{
	size_t n = s->nbuckets * 2, i;
	struct cache_entry **b, *e, *next;

	b = calloc(n, sizeof(*b));
	if (b == NULL)
		return;
	for (i = 0; i < s->nbuckets; i++) {
		for (e = s->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->bytes += (n - s->nbuckets) * sizeof(*b);
	s->nbuckets = n;
}

/* Find a live entry; an expired one is removed.  Lock held. */
static struct cache_entry *
shard_lookup_live(struct msg_cache *c, struct cache_shard *s,
    const struct cache_key *k, uint64_t hash, uint64_t now)
{
	struct cache_entry *e = shard_find(s, k, hash);

	if (e == NULL)
		return NULL;
	if (now < e->stored || now - e->stored >= e->msg->ttl) {
		shard_remove(c, s, e);
		return NULL;
	}
	return e;
}

size_t
msg_cache_reply(struct msg_cache *c, const struct cache_key *k,
    const struct dns_query *q, const struct dns_reply_opts *o, uint8_t *out,
    size_t cap, int64_t *min_ttl, bool *prefetch)
{
	uint64_t hash = cache_key_hash(k), now = c->now(c->now_arg);
	struct cache_shard *s = shard_of(c, hash);
	struct cache_entry *e;
	uint32_t elapsed;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	e = shard_lookup_live(c, s, k, hash, now);
	if (e != NULL) {
		lru_unlink(s, e);
		lru_push_head(s, e);
		elapsed = (uint32_t)(now - e->stored);
		n = dns_msg_reply(e->msg, elapsed, q, o, out, cap);
		if (min_ttl != NULL)
			*min_ttl = dns_msg_reply_ttl(e->msg, elapsed, out, n);
		/* Unbound's rule: in the last tenth of the TTL (so never
		 * for one under 10 s), once an entry */
		if (prefetch != NULL && n > 0 && !e->prefetching &&
		    elapsed >= e->msg->ttl - e->msg->ttl / 10) {
			e->prefetching = true;
			*prefetch = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool
msg_cache_has(struct msg_cache *c, const struct cache_key *k)
{
	uint64_t hash = cache_key_hash(k), now = c->now(c->now_arg);
	struct cache_shard *s = shard_of(c, hash);
	bool found;

	pthread_mutex_lock(&s->lock);
	found = shard_lookup_live(c, s, k, hash, now) != NULL;
	pthread_mutex_unlock(&s->lock);
	return found;
}

bool
msg_cache_insert(struct msg_cache *c, const struct cache_key *k,
    struct dns_msg *m)
{
	uint64_t hash = cache_key_hash(k);
	struct cache_shard *s = shard_of(c, hash);
	struct cache_entry *e, *old;
	size_t ebytes = ENTRY_BYTES(k->name_len), size;

	if (m == NULL)
		return false;
	size = ebytes + dns_msg_size(m);
	if (m->ttl == 0 ||
	    size + s->nbuckets * sizeof(*s->buckets) > s->max_bytes) {
		dns_msg_free(m);
		return false;
	}
	/* malloc, not calloc (which skips glibc's per-thread cache): every
	 * field is set here or by lru_push_head below */
	e = malloc(ebytes);
	if (e == NULL) {
		dns_msg_free(m);
		return false;
	}
	e->hnext = NULL;
	e->hash = hash;
	e->msg = m;
	e->size = (uint32_t)size;
	e->prefetching = false;
	memcpy(&e->key, k, KEY_BYTES(k->name_len));
	e->stored = c->now(c->now_arg);

	pthread_mutex_lock(&s->lock);
	old = shard_find(s, k, hash);
	if (old != NULL)
		shard_remove(c, s, old);
	/* more buckets while they stay within a quarter of the share */
	if (s->count + 1 > s->nbuckets && s->nbuckets * 2 *
	    sizeof(*s->buckets) <= s->max_bytes / 4)
		shard_grow(s);
	while (s->bytes + size > s->max_bytes && s->lru_tail != NULL)
		shard_remove(c, s, s->lru_tail);
	e->hnext = s->buckets[hash & (s->nbuckets - 1)];
	s->buckets[hash & (s->nbuckets - 1)] = e;
	lru_push_head(s, e);
	s->count++;
	s->bytes += size;
	ecs_count(c, k, 1);
	pthread_mutex_unlock(&s->lock);
	return true;
}

static bool
flush_match(const struct cache_entry *e, const uint8_t *name,
    size_t name_len, uint16_t qtype, bool subtree)
{
	if (qtype != 0 && e->key.qtype != qtype)
		return false;
	if (name_len == 0)
		return true;
	if (subtree)
		return dns_name_subdomain(e->key.name, e->key.name_len, name,
		    name_len);
	return e->key.name_len == name_len &&
	    memcmp(e->key.name, name, name_len) == 0;
}

size_t
msg_cache_flush(struct msg_cache *c, const uint8_t *name, size_t name_len,
    uint16_t qtype, bool subtree)
{
	size_t i, removed = 0;
	struct cache_entry *e, *next;

	for (i = 0; i < CACHE_SHARDS; i++) {
		struct cache_shard *s = &c->shard[i];

		pthread_mutex_lock(&s->lock);
		for (e = s->lru_head; e != NULL; e = next) {
			next = e->lnext;
			if (flush_match(e, name, name_len, qtype, subtree)) {
				shard_remove(c, s, e);
				removed++;
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	return removed;
}

size_t
msg_cache_mem(struct msg_cache *c)
{
	size_t i, total = 0;

	for (i = 0; i < CACHE_SHARDS; i++) {
		pthread_mutex_lock(&c->shard[i].lock);
		total += c->shard[i].bytes;
		pthread_mutex_unlock(&c->shard[i].lock);
	}
	return total;
}

size_t
msg_cache_count(struct msg_cache *c)
{
	size_t i, total = 0;

	for (i = 0; i < CACHE_SHARDS; i++) {
		pthread_mutex_lock(&c->shard[i].lock);
		total += c->shard[i].count;
		pthread_mutex_unlock(&c->shard[i].lock);
	}
	return total;
}

/* ------------------------------------------------------------ dump/load */

/*
 * The text format (doc/control-protocol.md):
 *   msg NAME TYPE CLASS FLAGS TTL
 *   HEX
 *   ...
 *   EOF
 * NAME in presentation with the final dot, TYPE and CLASS mnemonics (or
 * TYPEn, CLASSn), FLAGS "-", "do", "cd" or "do,cd" (the key's DO and CD
 * bits), TTL the seconds the entry has left; HEX the stored message
 * (no OPT) with every TTL already aged, in lowercase hex on one line.
 */

static void
dump_class(uint16_t c, char *buf, size_t cap)
{
	if (c == DNS_C_IN)
		snprintf(buf, cap, "IN");
	else if (c == DNS_C_CH)
		snprintf(buf, cap, "CH");
	else if (c == 4)
		snprintf(buf, cap, "HS");
	else
		snprintf(buf, cap, "CLASS%u", (unsigned)c);
}

/* Write one entry; lock held.  Returns 0, or -1 on an output error. */
static int
dump_entry(const struct cache_entry *e, uint64_t now, FILE *out,
    uint8_t *tmp)
{
	static const char hex[] = "0123456789abcdef";
	const struct dns_msg *m = e->msg;
	uint32_t elapsed = (uint32_t)(now - e->stored);
	char name[DNS_MAX_NAME * 4 + 2], tb[16], cb[16];
	size_t i;

	if (dns_name_to_text(e->key.name, e->key.name_len, name,
	    sizeof(name)) != 0)
		return 0;	/* cannot be: keys are checked names */
	memcpy(tmp, m->wire, m->len);
	for (i = 0; i < m->nttl; i++) {
		uint8_t *p = tmp + m->ttl_off[i];
		uint32_t t = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
		    ((uint32_t)p[2] << 8) | p[3];

		t = t > elapsed ? t - elapsed : 0;
		p[0] = (uint8_t)(t >> 24);
		p[1] = (uint8_t)(t >> 16);
		p[2] = (uint8_t)(t >> 8);
		p[3] = (uint8_t)t;
	}
	dump_class(e->key.qclass, cb, sizeof(cb));
	fprintf(out, "msg %s %s %s %s %u\n", name,
	    dns_type_to_text(e->key.qtype, tb), cb,
	    e->key.dnssec_ok ? (e->key.cd ? "do,cd" : "do") :
	    (e->key.cd ? "cd" : "-"), m->ttl - elapsed);
	for (i = 0; i < m->len; i++) {
		putc(hex[tmp[i] >> 4], out);
		putc(hex[tmp[i] & 0xf], out);
	}
	if (putc('\n', out) == EOF)
		return -1;
	return 0;
}

size_t
msg_cache_dump(struct msg_cache *c, FILE *out)
{
	uint8_t *tmp = malloc(65536);
	uint64_t now = c->now(c->now_arg);
	size_t i, n = 0;
	struct cache_entry *e;

	if (tmp == NULL)
		return 0;
	for (i = 0; i < CACHE_SHARDS; i++) {
		struct cache_shard *s = &c->shard[i];

		pthread_mutex_lock(&s->lock);
		for (e = s->lru_head; e != NULL; e = e->lnext) {
			if (now < e->stored || now - e->stored >= e->msg->ttl)
				continue;	/* expired */
			if (e->key.ecs_family != 0)
				continue;	/* for some clients only */
			if (dump_entry(e, now, out, tmp) == 0)
				n++;
		}
		pthread_mutex_unlock(&s->lock);
	}
	free(tmp);
	fputs("EOF\n", out);
	return n;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "TYPE"/"TYPEn" or "IN"/"CLASSn" to a number, -1 if neither. */
static long
parse_code(const char *s, bool is_type)
{
	const char *pfx = is_type ? "TYPE" : "CLASS";
	size_t pl = strlen(pfx);
	char *end;
	long v;
	int r;

	r = is_type ? dns_type_from_text(s) : dns_class_from_text(s);
	if (r >= 0)
		return r;
	if (strncasecmp(s, pfx, pl) != 0 || s[pl] == '\0')
		return -1;
	errno = 0;
	v = strtol(s + pl, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 65535)
		return -1;
	return v;
}

/* Parse a key line into k and *ttl.  Returns NULL or why not. */
static const char *
load_key_line(char *line, struct cache_key *k, uint32_t *ttl)
{
	char *w[7], *save = NULL, *p, *end;
	int n = 0;
	long t, c;
	unsigned long tl;

	for (p = strtok_r(line, " \t", &save); p != NULL && n < 7;
	    p = strtok_r(NULL, " \t", &save))
		w[n++] = p;
	if (n != 6 || strcmp(w[0], "msg") != 0)
		return "expected \"msg NAME TYPE CLASS FLAGS TTL\"";
	memset(k, 0, sizeof(*k));
	k->name_len = dns_name_from_text(w[1], k->name);
	if (k->name_len == 0)
		return "bad name";
	t = parse_code(w[2], true);
	c = parse_code(w[3], false);
	if (t < 0 || c < 0)
		return "bad type or class";
	k->qtype = (uint16_t)t;
	k->qclass = (uint16_t)c;
	if (strcmp(w[4], "-") == 0)
		;
	else if (strcmp(w[4], "do") == 0)
		k->dnssec_ok = true;
	else if (strcmp(w[4], "cd") == 0)
		k->cd = true;
	else if (strcmp(w[4], "do,cd") == 0)
		k->dnssec_ok = k->cd = true;
	else
		return "flags must be -, do, cd or do,cd";
	errno = 0;
	tl = strtoul(w[5], &end, 10);
	if (errno != 0 || *end != '\0' || w[5][0] == '-' || tl > 0x7fffffffUL)
		return "bad TTL";
	*ttl = (uint32_t)tl;
	return NULL;
}

/* The message's question must be the key's. */
static bool
load_question_matches(const struct dns_msg *m, const struct cache_key *k)
{
	uint8_t lc[DNS_MAX_NAME];
	size_t nl;
	const uint8_t *p;

	if (m->len < DNS_HDR_LEN + 5 || m->wire[4] != 0 || m->wire[5] != 1)
		return false;
	nl = dns_name_len(m->wire + DNS_HDR_LEN, m->len - DNS_HDR_LEN);
	if (nl == 0 || nl != k->name_len || DNS_HDR_LEN + nl + 4 > m->len)
		return false;
	dns_name_lower(lc, m->wire + DNS_HDR_LEN, nl);
	if (memcmp(lc, k->name, nl) != 0)
		return false;
	p = m->wire + DNS_HDR_LEN + nl;
	return ((p[0] << 8) | p[1]) == k->qtype &&
	    ((p[2] << 8) | p[3]) == k->qclass;
}

int
msg_cache_load(struct msg_cache *c, FILE *in, size_t *loaded, char *err,
    size_t errlen)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	uint8_t *wire = malloc(65536);
	struct cache_key k;
	uint32_t ttl = 0;
	bool have_key = false, eof = false;
	int rc = 0;

	*loaded = 0;
	if (wire == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while ((len = getline(&line, &cap, in)) > 0) {
		const char *why = NULL;
		struct dns_msg *m;
		size_t i, wl;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!have_key) {
			if (len == 0 || line[0] == '#')
				continue;
			if (strcmp(line, "EOF") == 0) {
				eof = true;
				break;
			}
			why = load_key_line(line, &k, &ttl);
			if (why != NULL)
				goto bad;
			have_key = true;
			continue;
		}
		have_key = false;
		if (len % 2 != 0 || len / 2 > 65535 || len < 2 * DNS_HDR_LEN) {
			why = "message: bad hex length";
			goto bad;
		}
		wl = (size_t)len / 2;
		for (i = 0; i < wl; i++) {
			int hi = hexval((unsigned char)line[2 * i]);
			int lo = hexval((unsigned char)line[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				why = "message: not hex";
				goto bad;
			}
			wire[i] = (uint8_t)(hi << 4 | lo);
		}
		/* no TTL may outlive the entry: clamp them to its TTL */
		m = dns_msg_new(wire, wl, 0, ttl, ttl, &why);
		if (m == NULL)
			goto bad;
		if (!load_question_matches(m, &k)) {
			dns_msg_free(m);
			why = "message: question differs from the key";
			goto bad;
		}
		if (ttl < m->ttl)
			m->ttl = ttl;
		if (m->ttl == 0) {
			dns_msg_free(m);	/* expired: skipped */
			continue;
		}
		if (msg_cache_insert(c, &k, m))
			(*loaded)++;
		continue;
bad:
		snprintf(err, errlen, "line %zu: %s", lineno,
		    why ? why : "cannot be loaded");
		rc = -1;
		break;
	}
	if (rc == 0 && !eof) {
		snprintf(err, errlen, "line %zu: %s", lineno + 1, have_key ?
		    "message missing after its key line" :
		    "input ends without \"EOF\"");
		rc = -1;
	}
	free(line);
	free(wire);
	return rc;
}
