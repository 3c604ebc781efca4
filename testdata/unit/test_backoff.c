/*
 * testdata/unit/test_backoff.c - unit tests for resolver/backoff.c: the
 * down time doubles from BACKOFF_MIN_MSEC to BACKOFF_MAX_MSEC, failures
 * while down count once, an answer forgets, addresses and transports are
 * told apart, and a full table makes room for a new failure.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "resolver/backoff.h"

static socklen_t
addr(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	return sizeof(*s4);
}

static void
test_doubling(void **state)
{
	struct backoff *b = backoff_new();
	struct sockaddr_storage a;
	socklen_t len = addr(&a, "192.0.2.1", 53);
	uint64_t now = 1000000, last, want = BACKOFF_MIN_MSEC;
	int i;

	(void)state;
	assert_non_null(b);
	assert_int_equal(backoff_down_until(b, &a, len, 0, now, &last), 0);
	assert_int_equal(last, 0);
	for (i = 0; i < 12; i++) {
		backoff_fail(b, &a, len, 0, now);
		assert_int_equal(backoff_interval(b, &a, len, 0), want);
		assert_int_equal(backoff_down_until(b, &a, len, 0, now, &last),
		    now + want);
		assert_int_equal(last, now);
		/* up again once the time is over */
		assert_int_equal(backoff_down_until(b, &a, len, 0, now + want,
		    NULL), 0);
		now += want;
		want = want * 2 > BACKOFF_MAX_MSEC ? BACKOFF_MAX_MSEC :
		    want * 2;
	}
	assert_int_equal(backoff_interval(b, &a, len, 0), BACKOFF_MAX_MSEC);
	backoff_ok(b, &a, len, 0);
	assert_int_equal(backoff_interval(b, &a, len, 0), 0);
	assert_int_equal(backoff_down_until(b, &a, len, 0, now, NULL), 0);
	backoff_fail(b, &a, len, 0, now);
	assert_int_equal(backoff_interval(b, &a, len, 0), BACKOFF_MIN_MSEC);
	backoff_free(b);
}

static void
test_failures_while_down_count_once(void **state)
{
	struct backoff *b = backoff_new();
	struct sockaddr_storage a;
	socklen_t len = addr(&a, "192.0.2.1", 853);

	(void)state;
	backoff_fail(b, &a, len, 1, 5000);
	backoff_fail(b, &a, len, 1, 5001);
	backoff_fail(b, &a, len, 1, 5999);
	assert_int_equal(backoff_interval(b, &a, len, 1), BACKOFF_MIN_MSEC);
	assert_int_equal(backoff_down_until(b, &a, len, 1, 5999, NULL), 6000);
	backoff_fail(b, &a, len, 1, 6000);
	assert_int_equal(backoff_interval(b, &a, len, 1),
	    2 * BACKOFF_MIN_MSEC);
	backoff_free(b);
}

static void
test_one_probe_at_a_time(void **state)
{
	struct backoff *b = backoff_new();
	struct sockaddr_storage a, other;
	socklen_t len = addr(&a, "192.0.2.1", 53);
	uint64_t last;

	(void)state;
	addr(&other, "192.0.2.9", 53);
	assert_true(backoff_probe(b, &other, len, 0, 0, 500));	/* unknown */
	backoff_fail(b, &a, len, 0, 1000);
	assert_int_equal(backoff_down_until(b, &a, len, 0, 2000, &last), 0);
	assert_int_equal(last, 1000);
	assert_true(backoff_probe(b, &a, len, 0, 2000, 500));
	assert_false(backoff_probe(b, &a, len, 0, 2100, 500));
	assert_false(backoff_probe(b, &a, len, 0, 2499, 500));
	/* the try failed: doubled, and the next try is after that */
	backoff_fail(b, &a, len, 0, 2200);
	assert_int_equal(backoff_interval(b, &a, len, 0),
	    2 * BACKOFF_MIN_MSEC);
	assert_int_equal(backoff_down_until(b, &a, len, 0, 2300, NULL),
	    2200 + 2 * BACKOFF_MIN_MSEC);
	assert_true(backoff_probe(b, &a, len, 0, 4200, 500));
	/* a try that never ended (its query was given up) runs out */
	assert_true(backoff_probe(b, &a, len, 0, 4700, 500));
	backoff_free(b);
}

static void
test_addresses_and_transports_apart(void **state)
{
	struct backoff *b = backoff_new();
	struct sockaddr_storage a, a2, a3;
	socklen_t len = addr(&a, "192.0.2.1", 443);

	(void)state;
	addr(&a2, "192.0.2.2", 443);
	addr(&a3, "192.0.2.1", 444);
	backoff_fail(b, &a, len, 2, 100);
	assert_int_not_equal(backoff_down_until(b, &a, len, 2, 100, NULL), 0);
	assert_int_equal(backoff_down_until(b, &a, len, 1, 100, NULL), 0);
	assert_int_equal(backoff_down_until(b, &a2, len, 2, 100, NULL), 0);
	assert_int_equal(backoff_down_until(b, &a3, len, 2, 100, NULL), 0);
	backoff_ok(b, &a2, len, 2);		/* not there: no change */
	assert_int_not_equal(backoff_down_until(b, &a, len, 2, 100, NULL), 0);
	backoff_free(b);
}

static void
test_full_table_makes_room(void **state)
{
	struct backoff *b = backoff_new();
	struct sockaddr_storage a;
	socklen_t len = 0;
	int i;

	(void)state;
	for (i = 0; i < BACKOFF_MAX_ENTRIES + 1; i++) {
		len = addr(&a, "192.0.2.1", 1000 + i);
		backoff_fail(b, &a, len, 0, 10 + (uint64_t)i);
	}
	/* the newest is in, the oldest (port 1000) made room */
	assert_int_equal(backoff_interval(b, &a, len, 0), BACKOFF_MIN_MSEC);
	addr(&a, "192.0.2.1", 1000);
	assert_int_equal(backoff_interval(b, &a, len, 0), 0);
	addr(&a, "192.0.2.1", 1001);
	assert_int_equal(backoff_interval(b, &a, len, 0), BACKOFF_MIN_MSEC);
	backoff_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling),
		cmocka_unit_test(test_failures_while_down_count_once),
		cmocka_unit_test(test_one_probe_at_a_time),
		cmocka_unit_test(test_addresses_and_transports_apart),
		cmocka_unit_test(test_full_table_makes_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
