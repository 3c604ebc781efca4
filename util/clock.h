/*
 * util/clock.h - the monotonic clock, in the units the callers keep
 * (forward.c, upstream_tls.c, backoff.h and comm's idle timer count
 * msec; the recursion histogram usec; the message cache seconds).
 */
#ifndef CAIRN_UTIL_CLOCK_H
#define CAIRN_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static inline uint64_t
mono_msec(void)
{
	return mono_usec() / 1000;
}

static inline uint64_t
mono_sec(void)
{
	return mono_usec() / 1000000;
}

#endif /* CAIRN_UTIL_CLOCK_H */
