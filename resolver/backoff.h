/*
 * resolver/backoff.h - which upstream addresses are down, per worker.
 *
 * An upstream address (socket address and transport) that fails -
 * connection refused, TLS or certificate failure, no answer in time -
 * is down for BACKOFF_MIN_MSEC; each further failure doubles that, up
 * to BACKOFF_MAX_MSEC.  An answer from it forgets it.  A failure while
 * it is still down does not count again: the queries that were in flight
 * to it together fail together, and that is one failure.  Once its time
 * is over it is up again for one try (backoff_probe): while that try
 * runs the others keep away; failing it doubles the time.
 *
 * Used by forward.c to ask the addresses that are up first (the down
 * ones last, the least recently failed first) and by upstream_tls.c to
 * wait before a new DoT/DoH connection to an address that is down.
 *
 * Only failed addresses are kept, at most BACKOFF_MAX_ENTRIES (then the
 * one that failed longest ago makes room), so with every upstream
 * working a look-up tests an empty table.  Not thread safe: each worker
 * has its own.  Times are monotonic milliseconds given by the caller.
 */
#ifndef CAIRN_RESOLVER_BACKOFF_H
#define CAIRN_RESOLVER_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define BACKOFF_MIN_MSEC	1000
#define BACKOFF_MAX_MSEC	120000
#define BACKOFF_MAX_ENTRIES	256

struct backoff;

/* NULL when out of memory. */
struct backoff *backoff_new(void);
void backoff_free(struct backoff *b);

/* (ss, len) over transport t (enum fwd_transport) failed at 'now'. */
void backoff_fail(struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t, uint64_t now);
/* It answered: forget its failures. */
void backoff_ok(struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t);
/*
 * 0 when the address is up (never failed, answered since, or its time is
 * over), else the time until which it is down.  *last_fail (if not NULL)
 * gets the time of its last counted failure, 0 if none.
 */
uint64_t backoff_down_until(const struct backoff *b,
    const struct sockaddr_storage *ss, socklen_t len, int t, uint64_t now,
    uint64_t *last_fail);
/*
 * An address whose time is over (down_until 0 but *last_fail set) is to
 * be tried: true if this caller is the one to try it (no other try
 * started in the last 'window' msec; it is then kept for this one),
 * false if another try runs (take it as down).
 */
bool backoff_probe(struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t, uint64_t now, uint64_t window);
/* The current back-off of the address in msec, 0 if none (for tests). */
uint64_t backoff_interval(const struct backoff *b,
    const struct sockaddr_storage *ss, socklen_t len, int t);

#endif
