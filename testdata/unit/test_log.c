/*
 * testdata/unit/test_log.c - unit tests for util/log.c: the line format,
 * the errno variant, verbosity filtering, switching destinations, and
 * whole lines when two threads log at once.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static char path[64];

static int
setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/cairn-test-log-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	log_close();
	unlink(path);
	return 0;
}

/* The whole log file (caller frees). */
static char *
slurp(void)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void
test_format(void **state)
{
	char *text, want[128];
	regex_t re;
	regmatch_t m[1];

	assert_int_equal(log_open("cairnd", path, 0), 0);
	log_verbosity = 1;
	log_info("hello %d", 42);
	errno = ENOENT;
	log_err_errno("open %s", "x.conf");
	assert_int_equal(errno, ENOENT);	/* kept for the caller */
	log_warn("careful");
	verbose(VERB_OPS, "ops");
	verbose(VERB_QUERY, "not shown at verbosity 1");
	log_verbosity = VERB_QUERY;
	verbose(VERB_QUERY, "query");
	verbose(VERB_ALGO, "not shown at verbosity 3");
	log_close();
	log_verbosity = 1;

	text = slurp();
	snprintf(want, sizeof(want), "^\\[[0-9]+\\] cairnd\\[%d:[0-9a-f]+\\] "
	    "info: hello 42\n", (int)getpid());
	assert_int_equal(regcomp(&re, want, REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, text, 1, m, 0), 0);
	regfree(&re);
	assert_non_null(strstr(text, "] error: open x.conf: No such file or "
	    "directory\n"));
	assert_non_null(strstr(text, "] warning: careful\n"));
	assert_non_null(strstr(text, "] notice: ops\n"));
	assert_non_null(strstr(text, "] debug: query\n"));
	assert_null(strstr(text, "not shown"));
	free(text);
}

static void
test_open_fails(void **state)
{
	assert_int_equal(log_open("cairnd", path, 0), 0);
	/* a bad path fails and the old destination stays */
	assert_int_equal(log_open("cairnd", "/nonexistent/dir/x.log", 0),
	    -ENOENT);
	log_info("still here");
	log_close();
	{
		char *text = slurp();
		assert_non_null(strstr(text, "info: still here\n"));
		free(text);
	}
}

#define LINES 2000

static void *
writer(void *arg)
{
	int i;

	for (i = 0; i < LINES; i++)
		log_info("%s line %d %s", (const char *)arg, i,
		    "padding-padding-padding-padding-padding-padding");
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t t1, t2;
	char *text, *line, *save = NULL;
	int n = 0;

	assert_int_equal(log_open("cairnd", path, 0), 0);
	pthread_create(&t1, NULL, writer, "aaaa");
	pthread_create(&t2, NULL, writer, "bbbb");
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	log_close();
	text = slurp();
	for (line = strtok_r(text, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		/* every line whole: one prefix, one message */
		assert_non_null(strstr(line, "] info: "));
		assert_true(strstr(line, "aaaa line ") ||
		    strstr(line, "bbbb line "));
		assert_non_null(strstr(line, "padding-padding\0"));
		assert_int_equal(strlen(strstr(line, " padding")),
		    strlen(" padding-padding-padding-padding-padding-padding"));
		n++;
	}
	assert_int_equal(n, 2 * LINES);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
