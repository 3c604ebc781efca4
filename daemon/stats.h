/*
 * daemon/stats.h - reading, summing and printing the workers' counters.
 *
 * Workers own their struct stats (util/stats.h) and are its only
 * writers.  The main thread takes snapshots with relaxed atomic loads
 * (stats_load), subtracts a baseline it keeps itself (so "stats" resets
 * without writing to worker-owned memory), sums the threads and prints
 * everything in unbound-control's names and order (stats_print).
 *
 * This file does not know workers, sockets or the config: the caller
 * gathers the numbers (struct stats_thread, struct stats_global).
 *
 * The recursion time histogram has Unbound's 40 buckets: bucket 0 is
 * [0, 1 usec), bucket i in 1..19 is [2^(i-1), 2^i) usec, bucket 20 is
 * [0.524288, 1) sec, bucket i in 21..39 is [2^(i-21), 2^(i-20)) sec;
 * stats_hist_bucket() maps a duration to its bucket for the writers.
 */
#ifndef CAIRN_DAEMON_STATS_H
#define CAIRN_DAEMON_STATS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include "util/stats.h"

/* One thread's numbers as printed. */
struct stats_thread {
	struct stats st;		/* since the last reset */
	uint64_t requestlist_current;	/* requests waiting upstream now */
	uint64_t tcpusage;		/* stream connections open now */
};

/* Numbers that belong to no thread. */
struct stats_global {
	struct timeval now;		/* time.now */
	struct timeval up;		/* time.up: since start */
	struct timeval elapsed;		/* time.elapsed: since last reset */
	uint64_t mem_cache_message;
	uint64_t mem_http_query_buffer;
	uint64_t mem_http_response_buffer;
	uint64_t mem_http_upstream;	/* DoH upstream connections */
};

/* Copy 'src' (written by another thread) into 'dst' with atomic loads. */
void stats_load(struct stats *dst, const struct stats *src);
/* dst -= base for every counter (requestlist_max is kept: it is a max). */
void stats_sub(struct stats *dst, const struct stats *base);
/* dst += src for every counter; requestlist_max becomes the larger. */
void stats_add(struct stats *dst, const struct stats *src);

/* Bucket of a duration in usec (0..STATS_HIST_BUCKETS-1). */
int stats_hist_bucket(uint64_t usec);
/* Bounds of bucket i in usec: [*lo, *hi). */
void stats_hist_bounds(int i, uint64_t *lo, uint64_t *hi);
/* Median of the histogram in seconds, interpolated in its bucket
 * (recursion.time.median); 0 when empty. */
double stats_hist_median(const struct stats *st);

/*
 * Print every statistic as "name=value\n" lines: thread0..N-1, total,
 * time, mem, histogram, num.query.*, num.answer.*, unwanted.*, then
 * cairn's own counters.  'th' holds n threads (already reduced by their
 * baselines).
 */
void stats_print(FILE *out, const struct stats_thread *th, int n,
    const struct stats_global *g);

#endif
