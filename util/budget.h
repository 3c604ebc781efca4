/*
 * util/budget.h - a byte budget shared by all worker threads.
 *
 * Used for http-query-buffer-size and http-response-buffer-size: whoever
 * holds the bytes reserves them before allocating and releases exactly the
 * reserved amount when freeing.  'used' is the statistic
 * (mem.http.query_buffer, ...): it is exact at every moment.
 */
#ifndef CAIRN_UTIL_BUDGET_H
#define CAIRN_UTIL_BUDGET_H

#include <stddef.h>

struct budget {
	size_t limit;	/* 0 = unlimited */
	size_t used;	/* accessed with __atomic builtins only */
};

void budget_init(struct budget *b, size_t limit);
/* Reserve n bytes. Returns 0, or -ENOBUFS when used + n > limit. */
int budget_reserve(struct budget *b, size_t n);
/* Give back n bytes that were reserved earlier. */
void budget_release(struct budget *b, size_t n);
/* Bytes reserved right now. */
size_t budget_used(const struct budget *b);

#endif
