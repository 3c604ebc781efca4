/*
 * testdata/unit/test_stats.c - daemon/stats.c: counter names, HTTP status
 * counting, snapshots and baselines, the histogram layout, and the
 * printer's names, order and completeness.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/stats.h"

static void
test_counter_names(void **state)
{
	int i;

	assert_string_equal(stats_counter_name(0), "num.queries");
	assert_string_equal(stats_counter_name(STAT_QUERY_HTTPS),
	    "num.query.https");
	assert_string_equal(stats_counter_name(STAT_COUNT - 1),
	    "num.query.dropped");
	assert_null(stats_counter_name(STAT_COUNT));
	assert_null(stats_counter_name(-1));
	for (i = 0; i < STAT_COUNT; i++)
		assert_non_null(stats_counter_name(i));
}

static void
test_http_status(void **state)
{
	struct stats st;
	uint64_t sum = 0;
	int i;

	memset(&st, 0, sizeof(st));
	stats_http_status(&st, 200);
	stats_http_status(&st, 200);
	stats_http_status(&st, 413);
	stats_http_status(&st, 505);
	stats_http_status(&st, 999);	/* not listed: ignored */
	stats_http_status(&st, 0);
	assert_int_equal(st.http_status[STAT_HTTP_200], 2);
	assert_int_equal(st.http_status[STAT_HTTP_413], 1);
	assert_int_equal(st.http_status[STAT_HTTP_505], 1);
	for (i = 0; i < STAT_HTTP_COUNT; i++)
		sum += st.http_status[i];
	assert_int_equal(sum, 4);
}

static void
test_hist_layout(void **state)
{
	uint64_t lo, hi, prev_hi = 0;
	int i;

	assert_int_equal(stats_hist_bucket(0), 0);
	assert_int_equal(stats_hist_bucket(1), 1);
	assert_int_equal(stats_hist_bucket(2), 2);
	assert_int_equal(stats_hist_bucket(3), 2);
	assert_int_equal(stats_hist_bucket(524287), 19);
	assert_int_equal(stats_hist_bucket(524288), 20);
	assert_int_equal(stats_hist_bucket(999999), 20);
	assert_int_equal(stats_hist_bucket(1000000), 21);
	assert_int_equal(stats_hist_bucket(UINT64_MAX), STATS_HIST_BUCKETS - 1);
	/* contiguous, each bucket maps to itself */
	for (i = 0; i < STATS_HIST_BUCKETS; i++) {
		stats_hist_bounds(i, &lo, &hi);
		assert_int_equal(lo, prev_hi);
		assert_true(hi > lo);
		assert_int_equal(stats_hist_bucket(lo), i);
		prev_hi = hi;
	}
	stats_hist_bounds(STATS_HIST_BUCKETS - 1, &lo, &hi);
	assert_int_equal(lo, 262144ULL * 1000000ULL);
	assert_int_equal(hi, 524288ULL * 1000000ULL);
}

static void
test_hist_median(void **state)
{
	struct stats st;

	memset(&st, 0, sizeof(st));
	assert_true(stats_hist_median(&st) == 0.0);
	st.hist[10] = 2;		/* [512, 1024) usec */
	assert_true(stats_hist_median(&st) > 0.000767 &&
	    stats_hist_median(&st) < 0.000769);
	st.hist[0] = 1;
	st.hist[30] = 1;		/* the middle stays in bucket 10 */
	assert_true(stats_hist_median(&st) >= 0.000512 &&
	    stats_hist_median(&st) < 0.001024);
}

static void
test_load_sub_add(void **state)
{
	struct stats a, b, cur, sum;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&sum, 0, sizeof(sum));
	STAT_ADD(&a, NUM_QUERIES, 10);
	a.qtype[1] = 7;
	a.hist[3] = 2;
	a.requestlist_max = 9;
	a.http_status[STAT_HTTP_404] = 4;
	stats_load(&cur, &a);
	assert_memory_equal(&cur, &a, sizeof(a));

	b = a;			/* baseline taken at a reset */
	STAT_INC(&a, NUM_QUERIES);
	a.qtype[1] += 2;
	stats_load(&cur, &a);
	stats_sub(&cur, &b);
	assert_int_equal(cur.c[STAT_NUM_QUERIES], 1);
	assert_int_equal(cur.qtype[1], 2);
	assert_int_equal(cur.hist[3], 0);
	assert_int_equal(cur.http_status[STAT_HTTP_404], 0);
	assert_int_equal(cur.requestlist_max, 9);	/* a max, kept */

	stats_add(&sum, &a);
	b.requestlist_max = 12;
	stats_add(&sum, &b);
	assert_int_equal(sum.c[STAT_NUM_QUERIES], 21);
	assert_int_equal(sum.requestlist_max, 12);
}

/* Print two threads and return the text (caller frees). */
static char *
print_two(void)
{
	struct stats_thread th[2];
	struct stats_global g;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	memset(th, 0, sizeof(th));
	memset(&g, 0, sizeof(g));
	STAT_ADD(&th[0].st, NUM_QUERIES, 5);
	STAT_ADD(&th[1].st, NUM_QUERIES, 3);
	STAT_ADD(&th[0].st, NUM_CACHEMISS, 2);
	STAT_ADD(&th[0].st, NUM_RECURSIVEREPLIES, 2);
	th[0].st.rec_time_usec = 3000000;	/* 1.5 s average */
	th[0].st.requestlist_sum = 3;
	th[0].st.hist[21] = 2;
	th[1].st.qtype[1] = 2;
	th[1].st.qtype[255] = 1;
	th[1].st.qtype[28] = 1;
	th[0].st.qclass[1] = 4;
	th[0].st.opcode[0] = 4;
	th[0].st.rcode[3] = 1;
	th[0].st.http_status[STAT_HTTP_400] = 6;
	STAT_ADD(&th[1].st, QUERY_HTTPS, 6);
	STAT_ADD(&th[1].st, TCP_REFUSED_LIMIT, 1);
	th[1].tcpusage = 2;
	th[0].requestlist_current = 1;
	g.now.tv_sec = 1700000000;
	g.now.tv_usec = 42;
	g.up.tv_sec = 10;
	g.elapsed.tv_usec = 500000;
	g.mem_cache_message = 4096;
	g.mem_http_query_buffer = 0;
	g.mem_http_response_buffer = 77;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	stats_print(f, th, 2, &g);
	fclose(f);
	return text;
}

/* Position of line "name=value" in text, or -1. */
static long
line_at(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return p - text;
		p++;
	}
	return -1;
}

static void
test_print_values(void **state)
{
	char *t = print_two();

	assert_true(line_at(t, "thread0.num.queries=5") >= 0);
	assert_true(line_at(t, "thread1.num.queries=3") >= 0);
	assert_true(line_at(t, "total.num.queries=8") >= 0);
	assert_true(line_at(t, "thread0.requestlist.avg=1.5") >= 0);
	assert_true(line_at(t, "thread0.requestlist.current.all=1") >= 0);
	assert_true(line_at(t, "total.recursion.time.avg=1.500000") >= 0);
	assert_true(line_at(t, "thread1.tcpusage=2") >= 0);
	assert_true(line_at(t, "total.tcpusage=2") >= 0);
	assert_true(line_at(t, "time.now=1700000000.000042") >= 0);
	assert_true(line_at(t, "time.up=10.000000") >= 0);
	assert_true(line_at(t, "time.elapsed=0.500000") >= 0);
	assert_true(line_at(t, "mem.cache.message=4096") >= 0);
	assert_true(line_at(t, "mem.http.query_buffer=0") >= 0);
	assert_true(line_at(t, "mem.http.response_buffer=77") >= 0);
	assert_true(line_at(t,
	    "histogram.000000.000000.to.000000.000001=0") >= 0);
	assert_true(line_at(t,
	    "histogram.000000.524288.to.000001.000000=0") >= 0);
	assert_true(line_at(t,
	    "histogram.000001.000000.to.000002.000000=2") >= 0);
	assert_true(line_at(t,
	    "histogram.262144.000000.to.524288.000000=0") >= 0);
	assert_true(line_at(t, "num.query.type.A=2") >= 0);
	assert_true(line_at(t, "num.query.type.AAAA=1") >= 0);
	assert_true(line_at(t, "num.query.type.ANY=1") >= 0);
	assert_true(line_at(t, "num.query.type.MX=0") < 0);	/* zero: absent */
	assert_true(line_at(t, "num.query.class.IN=4") >= 0);
	assert_true(line_at(t, "num.query.opcode.QUERY=4") >= 0);
	assert_true(line_at(t, "num.query.https=6") >= 0);
	assert_true(line_at(t, "num.answer.rcode.NOERROR=0") >= 0);
	assert_true(line_at(t, "num.answer.rcode.NXDOMAIN=1") >= 0);
	assert_true(line_at(t, "num.answer.rcode.REFUSED=0") >= 0);
	assert_true(line_at(t, "num.answer.rcode.NOTAUTH=0") < 0);
	assert_true(line_at(t, "num.query.flags.CD=0") >= 0);
	assert_true(line_at(t, "num.http.status.400=6") >= 0);
	assert_true(line_at(t, "num.http.status.200=0") >= 0);
	assert_true(line_at(t, "num.tcp.refused.limit=1") >= 0);
	free(t);
}

static void
test_print_order(void **state)
{
	char *t = print_two();

	/* Unbound's order: threads, total, time, mem, histogram, types,
	 * classes, opcodes, transports, flags, rcodes, unwanted; then ours */
	assert_true(line_at(t, "thread0.num.queries=5") <
	    line_at(t, "thread1.num.queries=3"));
	assert_true(line_at(t, "thread1.tcpusage=2") <
	    line_at(t, "total.num.queries=8"));
	assert_true(line_at(t, "total.tcpusage=2") <
	    line_at(t, "time.now=1700000000.000042"));
	assert_true(line_at(t, "mem.http.response_buffer=77") <
	    line_at(t, "histogram.000000.000000.to.000000.000001=0"));
	assert_true(line_at(t, "histogram.262144.000000.to.524288.000000=0") <
	    line_at(t, "num.query.type.A=2"));
	assert_true(line_at(t, "num.query.type.A=2") <
	    line_at(t, "num.query.type.AAAA=1"));
	assert_true(line_at(t, "num.query.type.ANY=1") <
	    line_at(t, "num.query.class.IN=4"));
	assert_true(line_at(t, "num.query.opcode.QUERY=4") <
	    line_at(t, "num.query.tcp=0"));
	assert_true(line_at(t, "num.query.edns.DO=0") <
	    line_at(t, "num.answer.rcode.NOERROR=0"));
	assert_true(line_at(t, "num.answer.rcode.nodata=0") <
	    line_at(t, "unwanted.replies=0"));
	assert_true(line_at(t, "unwanted.replies=0") <
	    line_at(t, "num.query.udp=0"));
	free(t);
}

static void
test_print_complete(void **state)
{
	char *t = print_two(), *line, *save = NULL, *eq;
	static char names[512][128];
	int i, j, lines = 0, hist = 0;

	/* every counter appears exactly once (bare or as total.) */
	for (i = 0; i < STAT_COUNT; i++) {
		const char *n = stats_counter_name(i);
		char *p, bare[128], tot[128];
		int found = 0;

		snprintf(bare, sizeof(bare), "\n%s=", n);
		snprintf(tot, sizeof(tot), "\ntotal.%s=", n);
		for (p = t; (p = strstr(p, bare)) != NULL; p++)
			found++;
		for (p = t; (p = strstr(p, tot)) != NULL; p++)
			found++;
		if (found != 1)
			fail_msg("counter %s printed %d times", n, found);
	}
	/* every line is name=number, no name twice */
	for (line = strtok_r(t, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		assert_non_null(eq);
		assert_true(eq[1] >= '0' && eq[1] <= '9');
		assert_true(lines < 512);
		snprintf(names[lines], sizeof(names[lines]), "%.*s",
		    (int)(eq - line), line);
		for (j = 0; j < lines; j++)
			if (strcmp(names[j], names[lines]) == 0)
				fail_msg("%s printed twice", names[j]);
		if (strncmp(names[lines], "histogram.", 10) == 0)
			hist++;
		lines++;
	}
	assert_int_equal(hist, STATS_HIST_BUCKETS);
	assert_true(lines > 100);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_names),
		cmocka_unit_test(test_http_status),
		cmocka_unit_test(test_hist_layout),
		cmocka_unit_test(test_hist_median),
		cmocka_unit_test(test_load_sub_add),
		cmocka_unit_test(test_print_values),
		cmocka_unit_test(test_print_order),
		cmocka_unit_test(test_print_complete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
