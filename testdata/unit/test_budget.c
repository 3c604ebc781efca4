/*
 * testdata/unit/test_budget.c - unit tests for util/budget.c: the limit
 * holds, accounting is exact, and two threads reserving and releasing at
 * once end at zero without 'used' ever passing the limit.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>

#include "util/budget.h"

static void
test_limit(void **state)
{
	struct budget b;

	budget_init(&b, 1000);
	assert_int_equal(budget_used(&b), 0);
	assert_int_equal(budget_reserve(&b, 600), 0);
	assert_int_equal(budget_used(&b), 600);
	assert_int_equal(budget_reserve(&b, 401), -ENOBUFS);
	assert_int_equal(budget_used(&b), 600);	/* a refusal costs nothing */
	assert_int_equal(budget_reserve(&b, 400), 0);
	assert_int_equal(budget_used(&b), 1000);
	assert_int_equal(budget_reserve(&b, 1), -ENOBUFS);
	assert_int_equal(budget_reserve(&b, 0), 0);
	budget_release(&b, 600);
	assert_int_equal(budget_used(&b), 400);
	assert_int_equal(budget_reserve(&b, 600), 0);
	budget_release(&b, 600);
	budget_release(&b, 400);
	assert_int_equal(budget_used(&b), 0);
	/* one reservation larger than the whole budget */
	assert_int_equal(budget_reserve(&b, 1001), -ENOBUFS);
	assert_int_equal(budget_reserve(&b, SIZE_MAX), -ENOBUFS);
	assert_int_equal(budget_used(&b), 0);
}

static void
test_unlimited(void **state)
{
	struct budget b;

	budget_init(&b, 0);
	assert_int_equal(budget_reserve(&b, 1u << 30), 0);
	assert_int_equal(budget_reserve(&b, 1u << 30), 0);
	assert_int_equal(budget_used(&b), 2u << 30);
	/* still no overflow */
	assert_int_equal(budget_reserve(&b, SIZE_MAX), -ENOBUFS);
	budget_release(&b, 2u << 30);
	assert_int_equal(budget_used(&b), 0);
}

#define ROUNDS 200000
#define LIMIT 1000

struct worker_arg {
	struct budget *b;
	unsigned seed;
	long refused;
	long over;	/* times 'used' was seen above the limit */
};

static void *
worker(void *p)
{
	struct worker_arg *a = p;
	size_t held[8] = { 0 };
	int i, k;

	for (i = 0; i < ROUNDS; i++) {
		size_t n;
		k = i & 7;
		if (held[k]) {
			budget_release(a->b, held[k]);
			held[k] = 0;
		}
		a->seed = a->seed * 1103515245u + 12345u;
		n = 1 + (a->seed >> 16) % 200;
		if (budget_reserve(a->b, n) == 0)
			held[k] = n;
		else
			a->refused++;
		if (budget_used(a->b) > LIMIT)
			a->over++;
	}
	for (k = 0; k < 8; k++)
		if (held[k])
			budget_release(a->b, held[k]);
	return NULL;
}

static void
test_threads(void **state)
{
	struct budget b;
	struct worker_arg a1 = { &b, 1, 0, 0 }, a2 = { &b, 2, 0, 0 };
	pthread_t t1, t2;

	budget_init(&b, LIMIT);
	assert_int_equal(pthread_create(&t1, NULL, worker, &a1), 0);
	assert_int_equal(pthread_create(&t2, NULL, worker, &a2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(budget_used(&b), 0);
	assert_int_equal(a1.over + a2.over, 0);
	/* 16 slots of up to 200 bytes against 1000: the limit was hit */
	assert_true(a1.refused + a2.refused > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
