/*
 * resolver/cache.h - the message cache shared by all worker threads.
 *
 * Keys are (lowercased qname, qtype, qclass, DO bit, CD bit); values are
 * struct dns_msg (an upstream reply without its OPT) plus the monotonic
 * second it was stored.  An entry whose lifetime (dns_msg.ttl) has passed
 * is a miss and is removed when found.  The table is split in
 * CACHE_SHARDS shards, each with its own mutex, hash table and LRU list,
 * and each bounded by an equal share of msg-cache-size: inserting over
 * the share evicts the least recently used entries of that shard.
 *
 * Entries keyed with a client subnet (cache_key.ecs_family) live in the
 * same shards under the same bound; the cache counts how many it holds
 * per (family, scope) so that a lookup only tries the scopes present
 * (msg_cache_has_scope).  dump_cache skips them: they are for some
 * clients only.
 *
 * A hit is written out (dns_msg_reply) while the shard lock is held, so
 * no thread ever sees a message another thread is freeing.
 * This file does not know the config, sockets or statistics.
 */
#ifndef CAIRN_RESOLVER_CACHE_H
#define CAIRN_RESOLVER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "dns/wire.h"

#define CACHE_SHARDS 16

struct msg_cache;

struct cache_key {
	size_t name_len;
	uint16_t qtype;
	uint16_t qclass;
	bool dnssec_ok;		/* the query's EDNS DO bit */
	bool cd;		/* the query's CD bit */
	/*
	 * Client subnet (send-client-subnet; RFC 7871).  ecs_family 0: an
	 * answer for every client (the other ecs_ fields are ignored).
	 * Else an answer for the clients in ecs_addr/ecs_scope only
	 * (ecs_addr masked to ecs_scope); in the resolver's in-flight
	 * table ecs_scope is the source prefix sent and ecs_forced that
	 * it goes to every upstream (client-subnet-always-forward).
	 */
	uint8_t ecs_family;	/* 0, 1 IPv4, 2 IPv6 */
	uint8_t ecs_scope;
	bool ecs_forced;
	uint8_t ecs_addr[16];
	/* last: a cache entry keeps only name_len bytes of it */
	uint8_t name[DNS_MAX_NAME];	/* lowercased wire name */
};

/* Fill a key from a parsed query. */
void cache_key_from_query(struct cache_key *k, const struct dns_query *q);
/* Same key? */
bool cache_key_equal(const struct cache_key *a, const struct cache_key *b);
/* Hash of a key (also used by the resolver's in-flight table). */
uint64_t cache_key_hash(const struct cache_key *k);

/*
 * A cache holding at most 'max_bytes' (entry overhead and name included)
 * in total.  Returns NULL on allocation failure.
 */
struct msg_cache *msg_cache_new(size_t max_bytes);
/* Frees every entry and the cache. No other thread may use it. */
void msg_cache_free(struct msg_cache *c);

/*
 * Test hook: 'now' replaces the monotonic clock (seconds).  NULL restores
 * the real clock.  Not for use while other threads use the cache.
 */
void msg_cache_set_clock(struct msg_cache *c, uint64_t (*now)(void *),
    void *arg);

/*
 * Look 'k' up and, on a hit, write the reply to 'q' into out[cap] with
 * TTLs aged (dns_msg_reply).  Returns the reply length, or 0 on a miss
 * (absent, expired, or the reply could not be written).  On a hit,
 * *min_ttl (when not NULL) gets the reply's dns_reply_min_ttl, found
 * without parsing it (dns_msg_reply_ttl).  With 'prefetch' not NULL,
 * *prefetch is set to true (and is left as it was otherwise) on the
 * first hit in the last tenth of the entry's TTL: the caller should ask
 * upstream again now, so that the name does not expire (prefetch: yes).
 */
size_t msg_cache_reply(struct msg_cache *c, const struct cache_key *k,
    const struct dns_query *q, const struct dns_reply_opts *o, uint8_t *out,
    size_t cap, int64_t *min_ttl, bool *prefetch);

/* True if 'k' is present and not expired (no reply written). */
bool msg_cache_has(struct msg_cache *c, const struct cache_key *k);

/*
 * Store 'm' under 'k' (replacing an older entry).  The cache takes 'm'
 * in every case: it is freed at once when it cannot be stored (ttl 0, or
 * larger than a shard's share).  Returns true if stored.
 */
bool msg_cache_insert(struct msg_cache *c, const struct cache_key *k,
    struct dns_msg *m);

/*
 * Remove entries: name_len 0 = all; else entries for 'name' (lowercase
 * wire), or below it too when 'subtree'; qtype 0 = every type.
 * Returns the number of entries removed.
 */
size_t msg_cache_flush(struct msg_cache *c, const uint8_t *name,
    size_t name_len, uint16_t qtype, bool subtree);

/*
 * True if entries for clients in a /scope of 'family' (1 IPv4, 2 IPv6)
 * may be in the cache (a count kept on insert and removal; read
 * without a lock, so only a hint).
 */
bool msg_cache_has_scope(struct msg_cache *c, unsigned family,
    unsigned scope);

/* Bytes held right now (mem.cache.message). */
size_t msg_cache_mem(struct msg_cache *c);
/* Entries held right now. */
size_t msg_cache_count(struct msg_cache *c);

/*
 * Write every live entry in the dump_cache text format (see
 * doc/control-protocol.md): "msg NAME TYPE CLASS FLAGS TTL" then the
 * message in hex with its TTLs aged, one line each, and "EOF" at the
 * end.  Each shard is locked while it is written.  Returns the number
 * of entries written.
 */
size_t msg_cache_dump(struct msg_cache *c, FILE *out);
/*
 * Read that format from 'in' and insert each entry with the TTL it had
 * left (entries with none left are skipped).  Stops at the first bad
 * entry: returns -1 with "line N: why" in err (entries before it stay
 * loaded), else 0.  *loaded gets the number inserted.
 */
int msg_cache_load(struct msg_cache *c, FILE *in, size_t *loaded, char *err,
    size_t errlen);

#endif
