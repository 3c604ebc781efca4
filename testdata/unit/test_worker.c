/*
 * testdata/unit/test_worker.c - daemon/worker.c: the rule by which a
 * worker with batch-wait-usec sleeps after a pass (worker_batch_busy).
 * The black-box side (test_batch_wait.py) shows that idle traffic is
 * not held back and back-to-back traffic is; this pins the arithmetic,
 * the pass after a sleep above all, which a test over sockets cannot
 * time.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/worker.h"

/* A pass that ends sooner than the wait after the last one: busy,
 * whatever the CPU says. */
static void
test_quick_pass_is_busy(void **state)
{
	(void)state;
	assert_true(worker_batch_busy(0, 0, 200, false));
	assert_true(worker_batch_busy(199, 0, 200, false));
	assert_true(worker_batch_busy(199, 199, 200, true));
	assert_false(worker_batch_busy(200, 0, 200, false));
}

/* Without a sleep before it, a long pass is an idle loop that found
 * work: no sleep, even if it was all CPU (a burst ends like that too,
 * and then the next pass is quick). */
static void
test_long_pass_without_sleep_is_idle(void **state)
{
	(void)state;
	assert_false(worker_batch_busy(5000, 0, 200, false));
	assert_false(worker_batch_busy(5000, 5000, 200, false));
}

/* After a sleep, a long pass ran the batch the sleep gathered when its
 * time off the CPU is under the wait; it waited when it is not. */
static void
test_long_pass_after_sleep(void **state)
{
	(void)state;
	assert_true(worker_batch_busy(350, 300, 200, true));	/* 50 off */
	assert_true(worker_batch_busy(350, 151, 200, true));	/* 199 off */
	assert_false(worker_batch_busy(350, 150, 200, true));	/* 200 off */
	assert_false(worker_batch_busy(5000, 30, 200, true));
	/* the CPU clock read after the wall clock: more CPU than wall
	 * time is no wait at all, not an overflow */
	assert_true(worker_batch_busy(300, 320, 200, true));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quick_pass_is_busy),
		cmocka_unit_test(test_long_pass_without_sleep_is_idle),
		cmocka_unit_test(test_long_pass_after_sleep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
