/*
 * resolver/backoff.c - which upstream addresses are down (see backoff.h).
 *
 * A small array searched linearly: it holds only addresses that failed
 * and have not answered since.  No sockets, no timers, no clock.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "resolver/backoff.h"

struct backoff_entry {
	struct sockaddr_storage ss;
	socklen_t len;
	int t;
	uint64_t interval;	/* msec it is down for after its last failure */
	uint64_t last_fail;
	uint64_t down_until;
	uint64_t probe_until;	/* a try runs until then (backoff_probe) */
};

struct backoff {
	struct backoff_entry *v;
	size_t n, cap;
};

struct backoff *
backoff_new(void)
{
	return calloc(1, sizeof(struct backoff));
}

void
backoff_free(struct backoff *b)
{
	if (b == NULL)
		return;
	free(b->v);
	free(b);
}

static struct backoff_entry *
find(const struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct backoff_entry *e = &b->v[i];

		if (e->t == t && e->len == len && memcmp(&e->ss, ss, len) == 0)
			return e;
	}
	return NULL;
}

void
backoff_fail(struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t, uint64_t now)
{
	struct backoff_entry *e;

	if (b == NULL || len > sizeof(*ss))
		return;
	e = find(b, ss, len, t);
	if (e != NULL) {
		if (now < e->down_until)
			return;		/* still down: the same failure */
		e->interval *= 2;
		if (e->interval > BACKOFF_MAX_MSEC)
			e->interval = BACKOFF_MAX_MSEC;
	} else {
		if (b->n == b->cap && b->cap < BACKOFF_MAX_ENTRIES) {
			size_t cap = b->cap ? b->cap * 2 : 8;
			struct backoff_entry *v = realloc(b->v,
			    cap * sizeof(*v));

			if (v != NULL) {
				b->v = v;
				b->cap = cap;
			}
		}
		if (b->n < b->cap) {
			e = &b->v[b->n++];
		} else {
			/* full: the one that failed longest ago goes */
			size_t i;

			if (b->n == 0)
				return;
			e = &b->v[0];
			for (i = 1; i < b->n; i++)
				if (b->v[i].last_fail < e->last_fail)
					e = &b->v[i];
		}
		memset(e, 0, sizeof(*e));
		memcpy(&e->ss, ss, len);
		e->len = len;
		e->t = t;
		e->interval = BACKOFF_MIN_MSEC;
	}
	e->last_fail = now;
	e->down_until = now + e->interval;
	e->probe_until = 0;
}

bool
backoff_probe(struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t, uint64_t now, uint64_t window)
{
	struct backoff_entry *e;

	if (b == NULL || b->n == 0)
		return true;
	e = find(b, ss, len, t);
	if (e == NULL)
		return true;
	if (now < e->probe_until)
		return false;
	e->probe_until = now + window;
	return true;
}

void
backoff_ok(struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t)
{
	struct backoff_entry *e;

	if (b == NULL || b->n == 0)
		return;
	e = find(b, ss, len, t);
	if (e == NULL)
		return;
	*e = b->v[--b->n];
}

uint64_t
backoff_down_until(const struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t, uint64_t now, uint64_t *last_fail)
{
	const struct backoff_entry *e;

	if (last_fail != NULL)
		*last_fail = 0;
	if (b == NULL || b->n == 0)
		return 0;
	e = find(b, ss, len, t);
	if (e == NULL)
		return 0;
	if (last_fail != NULL)
		*last_fail = e->last_fail;
	return now < e->down_until ? e->down_until : 0;
}

uint64_t
backoff_interval(const struct backoff *b, const struct sockaddr_storage *ss,
    socklen_t len, int t)
{
	const struct backoff_entry *e = b != NULL ? find(b, ss, len, t) : NULL;

	return e != NULL ? e->interval : 0;
}
