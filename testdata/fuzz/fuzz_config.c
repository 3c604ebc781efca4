/*
 * testdata/fuzz/fuzz_config.c - libFuzzer target for util/config.c: the
 * input is a cairn.conf read by config_read_mem (include: is refused
 * there, so no file is opened), then taken where the daemon and
 * cairn-checkconf take it: config_check, every option printed as
 * cairn-checkconf -o does, the local zones checked and built
 * (resolver/localzone.c), the access-control and tcp-connection-limit
 * tables built as daemon.c does, config_strip_root as after a chroot.
 *
 * Checked (__builtin_trap): an input read without error builds the
 * tables the daemon builds from it (what the parser accepts, the daemon
 * must not refuse at start-up); every error line reads "name:line: ..."
 * with the line inside the input; a second read of the same input says
 * exactly the same; printing never fails for a listed option.
 *
 * Build: make fuzz; run: make fuzz-run, or
 *   ./fuzz_config -dict=testdata/fuzz/config.dict testdata/fuzz/corpus/config
 * -DFUZZ_STANDALONE adds a main() that runs the files named once each.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/localzone.h"
#include "util/config.h"
#include "util/log.h"
#include "util/netblock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)

/* Read 'data' as "fuzz.conf"; the errors text in *msg (caller frees). */
static struct config *
read_input(const uint8_t *data, size_t size, int *errors, char **msg)
{
	struct config *cfg = config_new();
	size_t len = 0;
	FILE *err;

	*msg = NULL;
	if (cfg == NULL)
		return NULL;
	err = open_memstream(msg, &len);
	if (err == NULL) {
		config_free(cfg);
		return NULL;
	}
	*errors = config_read_mem(cfg, "fuzz.conf", (const char *)data, size,
	    err);
	fclose(err);
	return cfg;
}

/* Every error line names the input and a line of it. */
static void
check_messages(const char *msg, int errors, size_t nlines)
{
	const char *p = msg;
	int n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		long line;
		char *end;

		CHECK(nl != NULL);
		CHECK(strncmp(p, "fuzz.conf:", 10) == 0);
		errno = 0;
		line = strtol(p + 10, &end, 10);
		CHECK(errno == 0 && *end == ':');
		CHECK(line >= 1 && (size_t)line <= nlines);
		n++;
		p = nl + 1;
	}
	/* one line per error (an option may not report twice) */
	CHECK(n == errors);
}

/* What daemon.c tables_build does with a config that read clean. */
static void
check_tables(const struct config *cfg)
{
	const struct cfg_str2list *l;
	struct netblock_set acl, tcl;
	char *end;
	long limit;

	memset(&acl, 0, sizeof(acl));
	memset(&tcl, 0, sizeof(tcl));
	CHECK(acl_build(&acl, cfg) == 0);
	for (l = cfg->tcp_connection_limits; l; l = l->next) {
		errno = 0;
		limit = strtol(l->str2, &end, 10);
		CHECK(errno == 0 && *end == '\0' && limit >= 0);
		CHECK(netblock_add(&tcl, l->str, limit) == 0);
	}
	netblock_finish(&tcl);
	netblock_clear(&acl);
	netblock_clear(&tcl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg, *again;
	char *msg, *msg2, *out = NULL;
	size_t outlen = 0, nlines = 1, i;
	const char *name;
	int errors, errors2;
	FILE *f;

	log_verbosity = 0;
	if (size > 16384)
		return 0;
	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			nlines++;
	cfg = read_input(data, size, &errors, &msg);
	if (cfg == NULL)
		return 0;
	CHECK(errors >= 0);
	if (msg != NULL) {
		check_messages(msg, errors, nlines);
		/* the same input reads the same */
		again = read_input(data, size, &errors2, &msg2);
		if (again != NULL) {
			CHECK(errors2 == errors);
			CHECK(msg2 != NULL && strcmp(msg, msg2) == 0);
			free(msg2);
			config_free(again);
		}
	}
	free(msg);

	f = open_memstream(&out, &outlen);
	if (f != NULL) {
		if (errors == 0) {
			(void)config_check(cfg, f);
			(void)localzone_check(cfg, f);
			check_tables(cfg);
		}
		for (i = 0; (name = config_option_name(i)) != NULL; i++)
			CHECK(config_print_option(cfg, name, f) == 0);
		CHECK(config_print_option(cfg, "no-such-option", f) == -1);
		if (errors == 0)
			localzone_free(localzone_new(cfg, f));
		fclose(f);
		free(out);
	}
	/* as cairnd after chroot: names inside the configured root */
	if (cfg->chroot != NULL && cfg->chroot[0] == '/')
		CHECK(config_strip_root(cfg, cfg->chroot) == 0);
	config_free(cfg);
	return 0;
}

#define FUZZ_INPUT_MAX (16384)
#include "testdata/fuzz/standalone.h"
