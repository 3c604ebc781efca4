/*
 * util/budget.c - a byte budget shared by all worker threads.
 *
 * budget_reserve() adds n to 'used' with a compare-and-swap loop that
 * refuses the add when it would pass 'limit', so 'used' never exceeds
 * the limit, not even for a moment, however many threads reserve at
 * once.  budget_release() subtracts.  No locks; no allocation.  This
 * file does not know what the bytes are for.
 */
#include <config.h>

#include "util/budget.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

void
budget_init(struct budget *b, size_t limit)
{
	b->limit = limit;
	__atomic_store_n(&b->used, 0, __ATOMIC_RELAXED);
}

int
budget_reserve(struct budget *b, size_t n)
{
	size_t old = __atomic_load_n(&b->used, __ATOMIC_RELAXED), want;

	do {
		if (n > SIZE_MAX - old)
			return -ENOBUFS;
		want = old + n;
		if (b->limit != 0 && want > b->limit)
			return -ENOBUFS;
	} while (!__atomic_compare_exchange_n(&b->used, &old, want, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return 0;
}

void
budget_release(struct budget *b, size_t n)
{
	size_t old = __atomic_fetch_sub(&b->used, n, __ATOMIC_RELAXED);

	/* our own caller's bookkeeping, never a peer's input */
	assert(old >= n);
	(void)old;
}

size_t
budget_used(const struct budget *b)
{
	return __atomic_load_n(&b->used, __ATOMIC_RELAXED);
}
