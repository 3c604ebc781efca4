/*
 * tools/cairn-checkconf.c - check a cairn.conf and say what is wrong, where.
 *
 *	cairn-checkconf [-h] [-o option] [-l] [file]
 *
 * Reads the file (default CONFIG_DEFAULT_FILE) with the daemon's own
 * parser (util/config.c), runs the whole-config checks and the checks
 * that need the resolver (checkconf_extra).  Errors go to stderr as
 * "file:line: key: value: why" and the exit status is 1; a clean file
 * prints "cairn-checkconf: no errors in FILE" and exits 0.  -o prints one
 * option's effective value (as unbound-checkconf -o), -l lists every
 * option name, one a line.  This tool does not open sockets or read keys.
 */
#include "config.h"

#include "util/config.h"
#include "resolver/localzone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Checks that need resolver code: each local-data record parsed with
 * dns/rrtext and checked against its zones, as cairnd does at start-up.
 * Writes "file:line: key: value: why" lines to 'err'; returns the number
 * of errors.
 */
static int
checkconf_extra(const struct config *cfg, FILE *err)
{
	return localzone_check(cfg, err);
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "cairn-checkconf " PACKAGE_VERSION "\n"
	    "usage: cairn-checkconf [-h] [-o option] [-l] [file]\n"
	    "  checks the config file (default %s)\n"
	    "  -o option  print the effective value of one option\n"
	    "  -l         list every option name, one a line\n"
	    "  -h         show this help\n", CONFIG_DEFAULT_FILE);
}

int
main(int argc, char **argv)
{
	const char *file = CONFIG_DEFAULT_FILE, *option = NULL;
	struct config *cfg;
	int c, errors;

	while ((c = getopt(argc, argv, "ho:l")) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'o':
			option = optarg;
			break;
		case 'l': {
			const char *name;
			size_t i;
			for (i = 0; (name = config_option_name(i)) != NULL;
			    i++)
				printf("%s\n", name);
			return 0;
		}
		default:
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return 1;
	}
	if (optind < argc)
		file = argv[optind];

	cfg = config_new();
	if (!cfg) {
		fprintf(stderr, "cairn-checkconf: out of memory\n");
		return 1;
	}
	errors = config_read(cfg, file, stderr);
	if (errors == 0)
		errors = config_check(cfg, stderr);
	if (errors == 0)
		errors = checkconf_extra(cfg, stderr);
	if (errors) {
		config_free(cfg);
		return 1;
	}
	if (option) {
		if (config_print_option(cfg, option, stdout) < 0) {
			fprintf(stderr, "cairn-checkconf: %s: unknown option "
			    "(cairn-checkconf -l lists them)\n", option);
			config_free(cfg);
			return 1;
		}
	} else
		printf("cairn-checkconf: no errors in %s\n", file);
	config_free(cfg);
	return 0;
}
