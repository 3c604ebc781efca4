/*
 * testdata/unit/test_config.c - unit tests for util/config.c.
 *
 * Each test writes config files into a fresh temporary directory, reads
 * them with config_read() and checks the struct and, for bad files, the
 * exact error text.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/config.h"
#include "util/ifaddr.h"

static char tmpdir[256];

static int
setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write 'text' to tmpdir/name; returns the path (static buffer). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Read text as a file named 'name'; returns errors, *msg the messages
 * with tmpdir/ removed from them (caller frees). */
static int
read_text(struct config *cfg, const char *name, const char *text, char **msg)
{
	char *buf = NULL, *p;
	size_t len = 0, dl;
	FILE *err = open_memstream(&buf, &len);
	int n;

	assert_non_null(err);
	n = config_read(cfg, write_file(name, text), err);
	fclose(err);
	dl = strlen(tmpdir);
	while ((p = strstr(buf, tmpdir)) != NULL)
		memmove(p, p + dl + 1, strlen(p + dl + 1) + 1);
	if (msg)
		*msg = buf;
	else
		free(buf);
	return n;
}

/* The error text of reading 'text' (must fail). */
static void
expect_error(const char *text, const char *want)
{
	struct config *cfg = config_new();
	char *msg;

	assert_non_null(cfg);
	assert_int_not_equal(read_text(cfg, "cairn.conf", text, &msg), 0);
	assert_string_equal(msg, want);
	free(msg);
	config_free(cfg);
}

static void
expect_check_error(const char *text, const char *want)
{
	struct config *cfg = config_new();
	char *msg, *buf = NULL;
	size_t len = 0;
	FILE *err;

	assert_non_null(cfg);
	assert_int_equal(read_text(cfg, "cairn.conf", text, &msg), 0);
	assert_string_equal(msg, "");
	free(msg);
	err = open_memstream(&buf, &len);
	assert_int_not_equal(config_check(cfg, err), 0);
	fclose(err);
	/* strip the directory */
	{
		char *p;
		size_t dl = strlen(tmpdir);
		while ((p = strstr(buf, tmpdir)) != NULL)
			memmove(p, p + dl + 1, strlen(p + dl + 1) + 1);
	}
	assert_string_equal(buf, want);
	free(buf);
	config_free(cfg);
}

static char *
print_opt(const struct config *cfg, const char *key)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(config_print_option(cfg, key, out), 0);
	fclose(out);
	return buf;
}

static void
assert_print(const struct config *cfg, const char *key, const char *want)
{
	char *got = print_opt(cfg, key);

	assert_string_equal(got, want);
	free(got);
}

static void
test_defaults(void **state)
{
	struct config *cfg = config_new();

	assert_non_null(cfg);
	assert_null(cfg->file);
	assert_null(cfg->interfaces);
	assert_int_equal(cfg->port, 53);
	assert_true(cfg->do_ip4 && cfg->do_ip6 && cfg->do_udp && cfg->do_tcp);
	assert_int_equal(cfg->num_threads, 1);
	assert_int_equal(cfg->verbosity, 1);
	assert_string_equal(cfg->logfile, "");
	assert_int_equal(cfg->use_syslog, 1);
	assert_int_equal(cfg->log_queries, 0);
	assert_string_equal(cfg->pidfile, "/run/cairnd.pid");
	assert_string_equal(cfg->username, "");
	assert_string_equal(cfg->chroot, "");
	assert_string_equal(cfg->directory, "");
	assert_int_equal(cfg->incoming_num_tcp, 10);
	assert_int_equal(cfg->tcp_idle_timeout, 30000);
	assert_null(cfg->tcp_connection_limits);
	assert_null(cfg->access_controls);
	assert_int_equal(cfg->msg_buffer_size, 65552);
	assert_int_equal(cfg->msg_cache_size, 4 * 1024 * 1024);
	assert_int_equal(cfg->cache_max_ttl, 86400);
	assert_int_equal(cfg->cache_min_ttl, 0);
	assert_int_equal(cfg->cache_max_negative_ttl, 3600);
	assert_int_equal(cfg->edns_buffer_size, 1232);
	assert_null(cfg->local_zones);
	assert_null(cfg->local_data);
	assert_int_equal(cfg->so_reuseport, 1);
	assert_int_equal(cfg->harden_large_queries, 0);
	assert_string_equal(cfg->tls_service_key, "");
	assert_string_equal(cfg->tls_service_pem, "");
	assert_int_equal(cfg->tls_port, 853);
	assert_int_equal(cfg->https_port, 443);
	assert_string_equal(cfg->tls_ciphers, "");
	assert_string_equal(cfg->tls_ciphersuites, "");
	assert_null(cfg->tls_session_ticket_keys);
	assert_string_equal(cfg->tls_cert_bundle, "");
	assert_string_equal(cfg->http_endpoint, "/dns-query");
	assert_int_equal(cfg->http_max_streams, 100);
	assert_int_equal(cfg->http_query_buffer_size, 4 * 1024 * 1024);
	assert_int_equal(cfg->http_response_buffer_size, 4 * 1024 * 1024);
	assert_int_equal(cfg->http_nodelay, 1);
	assert_int_equal(cfg->http_notls_downstream, 0);
	assert_int_equal(cfg->max_client_subnet_ipv4, 24);
	assert_int_equal(cfg->max_client_subnet_ipv6, 56);
	assert_int_equal(cfg->client_subnet_always_forward, 0);
	assert_null(cfg->forwards);
	assert_int_equal(cfg->control_enable, 0);
	assert_null(cfg->control_interfaces);
	assert_int_equal(cfg->control_port, 8953);
	assert_int_equal(cfg->control_use_cert, 1);
	assert_string_equal(cfg->server_key_file,
	    SYSCONFDIR "/cairn/cairn_server.key");
	assert_string_equal(cfg->control_cert_file,
	    SYSCONFDIR "/cairn/cairn_control.pem");
	/* the built-in default passes the whole-config checks */
	assert_int_equal(config_check(cfg, stderr), 0);
	config_free(cfg);
}

static const char good_conf[] =
    "# a comment line\n"
    "\n"
    "server:\n"
    "\tinterface: 127.0.0.1@5353   # trailing comment\n"
    "\tinterface: \"::1\"\n"
    "\tport:5300\n"
    "\tnum-threads: 4\n"
    "\tverbosity: 3\n"
    "\tdo-ip6: no\n"
    "\tlogfile: \"/var/log/cairn # not a comment.log\"\n"
    "\tmsg-cache-size: 16m\n"
    "\thttp-query-buffer-size: 512k\n"
    "\thttp-response-buffer-size: 1G\n"
    "\tmsg-buffer-size: 4096\n"
    "\taccess-control: 10.0.0.0/8 allow\n"
    "\taccess-control: 192.0.2.0/24 refuse\n"
    "\ttcp-connection-limit: 192.0.2.0/24 5\n"
    "\tlocal-zone: \"example.com.\" static\n"
    "\tlocal-data: 'example.com. TXT \"hello # world\" \"x\"'\n"
    "\tlocal-data: \"www.example.com. A 192.0.2.1\"\n"
    "\thttp-endpoint: '/q'\n"
    "forward-zone:\n"
    "\tname: \".\"\n"
    "\tforward-addr: 192.0.2.53@853#dns.example.net\n"
    "\tforward-addr: 2001:db8::1\n"
    "\tforward-tls-upstream: yes\n"
    "forward-zone: name: example.org\n"
    "\tforward-host: ns.example.org@5353\n"
    "\tforward-first: yes\n"
    "remote-control:\r\n"
    "\tcontrol-enable: yes\r\n"
    "\tcontrol-interface: /run/cairn.ctl\r\n"
    "\tcontrol-port: 8954\r\n";

static void
test_good_file(void **state)
{
	struct config *cfg = config_new();
	char *msg;
	struct cfg_forward *f;

	assert_int_equal(read_text(cfg, "good.conf", good_conf, &msg), 0);
	assert_string_equal(msg, "");
	free(msg);
	assert_int_equal(config_check(cfg, stderr), 0);

	assert_string_equal(cfg->interfaces->str, "127.0.0.1@5353");
	assert_int_equal(cfg->interfaces->line, 4);
	assert_non_null(strstr(cfg->interfaces->file, "good.conf"));
	assert_string_equal(cfg->interfaces->next->str, "::1");
	assert_null(cfg->interfaces->next->next);
	assert_int_equal(cfg->port, 5300);
	assert_int_equal(cfg->num_threads, 4);
	assert_int_equal(cfg->verbosity, 3);
	assert_int_equal(cfg->do_ip6, 0);
	assert_string_equal(cfg->logfile, "/var/log/cairn # not a comment.log");
	assert_int_equal(cfg->msg_cache_size, 16 * 1024 * 1024);
	assert_int_equal(cfg->http_query_buffer_size, 512 * 1024);
	assert_int_equal(cfg->http_response_buffer_size, 1024 * 1024 * 1024);
	assert_int_equal(cfg->msg_buffer_size, 4096);
	assert_string_equal(cfg->access_controls->str, "10.0.0.0/8");
	assert_string_equal(cfg->access_controls->str2, "allow");
	assert_int_equal(cfg->access_controls->line, 15);
	assert_string_equal(cfg->access_controls->next->str2, "refuse");
	assert_string_equal(cfg->tcp_connection_limits->str2, "5");
	assert_string_equal(cfg->local_zones->str, "example.com.");
	assert_string_equal(cfg->local_zones->str2, "static");
	assert_string_equal(cfg->local_data->str,
	    "example.com. TXT \"hello # world\" \"x\"");
	assert_int_equal(cfg->local_data->line, 19);
	assert_string_equal(cfg->local_data->next->str,
	    "www.example.com. A 192.0.2.1");
	assert_string_equal(cfg->http_endpoint, "/q");

	f = cfg->forwards;
	assert_non_null(f);
	assert_string_equal(f->name, ".");
	assert_int_equal(f->line, 22);
	assert_int_equal(f->name_line, 23);
	assert_string_equal(f->addrs->str, "192.0.2.53@853#dns.example.net");
	assert_string_equal(f->addrs->next->str, "2001:db8::1");
	assert_int_equal(f->tls_upstream, 1);
	assert_int_equal(f->first, 0);
	assert_string_equal(f->http_endpoint, "/dns-query");
	f = f->next;
	assert_non_null(f);
	assert_string_equal(f->name, "example.org");
	assert_string_equal(f->hosts->str, "ns.example.org@5353");
	assert_int_equal(f->first, 1);
	assert_null(f->next);

	assert_int_equal(cfg->control_enable, 1);
	assert_string_equal(cfg->control_interfaces->str, "/run/cairn.ctl");
	assert_int_equal(cfg->control_port, 8954);

	/* -o output */
	assert_print(cfg, "port", "5300\n");
	assert_print(cfg, "do-ip6", "no\n");
	assert_print(cfg, "so-reuseport", "yes\n");
	assert_print(cfg, "msg-cache-size", "16777216\n");
	assert_print(cfg, "interface", "127.0.0.1@5353\n::1\n");
	assert_print(cfg, "access-control",
	    "10.0.0.0/8 allow\n192.0.2.0/24 refuse\n");
	assert_print(cfg, "name", ".\nexample.org\n");
	assert_print(cfg, "username", "\n");
	assert_int_equal(config_print_option(cfg, "no-such-option", stdout),
	    -1);
	config_free(cfg);
}

static void
test_include_glob(void **state)
{
	struct config *cfg = config_new();
	char sub[PATH_MAX + 8], text[3 * PATH_MAX], *msg;

	snprintf(sub, sizeof(sub), "%s/conf.d", tmpdir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file("conf.d/10-a.conf", "server:\n\tverbosity: 2\n"
	    "\taccess-control: 10.0.0.0/8 allow\n");
	write_file("conf.d/20-b.conf", "\taccess-control: 10.1.0.0/16 deny\n"
	    "include: \"" "NESTED" "\"\n");
	/* fix the nested include to an absolute path */
	snprintf(text, sizeof(text), "\taccess-control: 10.1.0.0/16 deny\n"
	    "include: \"%s/nested.conf\"\n", tmpdir);
	write_file("conf.d/20-b.conf", text);
	write_file("conf.d/skip.txt", "this is not read\n");
	write_file("nested.conf", "\tverbosity: 4\n");
	snprintf(text, sizeof(text), "server:\n\tport: 5353\n"
	    "include: \"%s/conf.d/*.conf\"\n"
	    "\tnum-threads: 2\n"
	    "include: %s/conf.d/none-*.conf\n", tmpdir, tmpdir);
	assert_int_equal(read_text(cfg, "main.conf", text, &msg), 0);
	assert_string_equal(msg, "");
	free(msg);
	assert_int_equal(cfg->port, 5353);
	assert_int_equal(cfg->verbosity, 4);	/* nested, read last */
	assert_int_equal(cfg->num_threads, 2);
	assert_string_equal(cfg->access_controls->str, "10.0.0.0/8");
	assert_string_equal(cfg->access_controls->next->str, "10.1.0.0/16");
	assert_non_null(strstr(cfg->access_controls->next->file,
	    "conf.d/20-b.conf"));
	assert_int_equal(cfg->access_controls->next->line, 1);
	config_free(cfg);

	/* an error in an included file names that file and its line */
	cfg = config_new();
	write_file("bad-inc.conf", "server:\n\n\tport: 0\n");
	snprintf(text, sizeof(text), "server:\ninclude: \"%s/bad-inc.conf\"\n",
	    tmpdir);
	assert_int_equal(read_text(cfg, "main.conf", text, &msg), 1);
	assert_string_equal(msg, "bad-inc.conf:3: port: 0: must be a number "
	    "from 1 to 65535\n");
	free(msg);
	config_free(cfg);

	/* a plain include name that does not exist */
	cfg = config_new();
	snprintf(text, sizeof(text), "server:\ninclude: \"%s/missing.conf\"\n",
	    tmpdir);
	assert_int_equal(read_text(cfg, "main.conf", text, &msg), 1);
	assert_non_null(strstr(msg, "main.conf:2: include: "));
	assert_non_null(strstr(msg, "missing.conf: cannot open: No such file "
	    "or directory\n"));
	free(msg);
	config_free(cfg);

	/* an include loop stops */
	cfg = config_new();
	snprintf(text, sizeof(text), "include: \"%s/loop.conf\"\n", tmpdir);
	write_file("loop.conf", text);
	assert_int_not_equal(read_text(cfg, "main.conf", text, &msg), 0);
	assert_non_null(strstr(msg, "includes nested more than 16 deep"));
	free(msg);
	config_free(cfg);
}

static void
test_errors(void **state)
{
	expect_error("server:\n\tnum-threads: 0\n",
	    "cairn.conf:2: num-threads: 0: must be a number from 1 to 1024\n");
	expect_error("server:\n\tnum-threads: 1025\n",
	    "cairn.conf:2: num-threads: 1025: must be a number from 1 to "
	    "1024\n");
	expect_error("server:\n\tport: 5x\n",
	    "cairn.conf:2: port: 5x: must be a number from 1 to 65535\n");
	expect_error("server:\n\tverbosity: -1\n",
	    "cairn.conf:2: verbosity: -1: must be a number from 0 to 5\n");
	expect_error("server:\n\tdo-udp: maybe\n",
	    "cairn.conf:2: do-udp: maybe: must be yes or no\n");
	expect_error("server:\n\tmsg-cache-size: 4q\n",
	    "cairn.conf:2: msg-cache-size: 4q: must be a size of at least 0 "
	    "bytes (a number of bytes, or with k, m or g)\n");
	expect_error("server:\n\tmsg-buffer-size: 1m\n",
	    "cairn.conf:2: msg-buffer-size: 1m: must be a size from 512 to "
	    "65552 bytes (a number of bytes, or with k, m or g)\n");
	expect_error("server:\n\tmax-client-subnet-ipv6: 129\n",
	    "cairn.conf:2: max-client-subnet-ipv6: 129: must be a number "
	    "from 0 to 128\n");
	/* unknown key: Unbound's, but not cairn's */
	expect_error("server:\n\tdo-not-query-localhost: no\n",
	    "cairn.conf:2: do-not-query-localhost: no: unknown option: cairn "
	    "does not have it (cairn.conf(5) lists the options)\n");
	expect_error("stub-zone:\n\tname: x\n",
	    "cairn.conf:1: stub-zone: unknown clause (expected server:, "
	    "forward-zone: or remote-control:)\n");
	expect_error("server:\n\tforward-addr: 192.0.2.1\n",
	    "cairn.conf:2: forward-addr: 192.0.2.1: not allowed in server: "
	    "(it belongs in forward-zone:)\n");
	expect_error("forward-zone:\n\tport: 53\n",
	    "cairn.conf:2: port: 53: not allowed in forward-zone: (it "
	    "belongs in server:)\n");
	expect_error("port: 53\n",
	    "cairn.conf:1: port: 53: must be inside a clause: put it after "
	    "server:\n");
	expect_error("remote-control:\n\tcontrol-interface: eth0\n",
	    "cairn.conf:2: control-interface: eth0: must be an IPv4 or IPv6 "
	    "address, or the absolute path of a Unix socket\n");
	expect_error("server:\n\tinterface: 127.0.0.1@0\n",
	    "cairn.conf:2: interface: 127.0.0.1@0: the port after @ must be a "
	    "number from 1 to 65535\n");
	expect_error("server:\n\tinterface: 127.0.0.1/8\n",
	    "cairn.conf:2: interface: 127.0.0.1/8: must be an IPv4 or IPv6 "
	    "address or an interface name, optionally with @port (e.g. "
	    "127.0.0.1, ::1@5353, eth0)\n");
	expect_error("server:\n\taccess-control: 10.0.0.0/8 permit\n",
	    "cairn.conf:2: access-control: 10.0.0.0/8 permit: the action must "
	    "be allow, deny, refuse, allow_snoop, deny_non_local, "
	    "refuse_non_local, allow_setrd or allow_cookie\n");
	expect_error("server:\n\taccess-control: 10.0.0.0/33 allow\n",
	    "cairn.conf:2: access-control: 10.0.0.0/33 allow: must be an "
	    "address or netblock (e.g. 192.0.2.0/24, 2001:db8::/32)\n");
	expect_error("server:\n\taccess-control: 10.0.0.0/8\n",
	    "cairn.conf:2: access-control: 10.0.0.0/8: expected two values: "
	    "NETBLOCK ACTION\n");
	expect_error("server:\n\ttcp-connection-limit: ::1 many\n",
	    "cairn.conf:2: tcp-connection-limit: ::1 many: the limit must be "
	    "a number from 0 to 999999999\n");
	expect_error("server:\n\tlocal-zone: example.com. stub\n",
	    "cairn.conf:2: local-zone: example.com. stub: the type must be "
	    "static, transparent, refuse, deny, always_nxdomain or "
	    "redirect\n");
	expect_error("server:\n\tlocal-zone: bad..name static\n",
	    "cairn.conf:2: local-zone: bad..name static: the zone must be a "
	    "domain name (e.g. example.com.)\n");
	expect_error("server:\n\tlocal-data: \"example.com.\"\n",
	    "cairn.conf:2: local-data: example.com.: must be a resource "
	    "record in zone file format (e.g. \"www.example.com. A "
	    "192.0.2.1\")\n");
	expect_error("server:\n\tlocal-data: www.example.com. A 192.0.2.1\n",
	    "cairn.conf:2: local-data: www.example.com. A: expected one "
	    "value (put it in quotes if it contains spaces)\n");
	expect_error("server:\n\tlogfile: \"/tmp/x\n",
	    "cairn.conf:2: unterminated quote: a quoted value must end on the "
	    "same line\n");
	expect_error("server:\n\tlogfile:\n",
	    "cairn.conf:2: logfile: : a value is needed (write \"\" for an "
	    "empty one)\n");
	expect_error("server:\n\thttp-endpoint: dns-query\n",
	    "cairn.conf:2: http-endpoint: dns-query: must be a path starting "
	    "with / (e.g. /dns-query)\n");
	expect_error("server:\n\tchroot: var/lib/cairn\n",
	    "cairn.conf:2: chroot: var/lib/cairn: must be an absolute "
	    "directory name (e.g. /var/lib/cairn), or \"\" for no chroot\n");
	expect_error("forward-zone:\n\tname: x\n\tforward-addr: "
	    "dns.example.net\n",
	    "cairn.conf:3: forward-addr: dns.example.net: must be an IP "
	    "address, optionally with @port and #tls-auth-name (e.g. "
	    "192.0.2.1@853#dns.example.net)\n");
	expect_error("server\n",
	    "cairn.conf:1: server: expected \"key: value\" (a key ends with "
	    "a colon)\n");
	/* the keys of an unknown clause are not reported again */
	expect_error("stub-zone:\n\tname: x\n\tstub-addr: 192.0.2.1\n"
	    "server:\n\tport: 0\n",
	    "cairn.conf:1: stub-zone: unknown clause (expected server:, "
	    "forward-zone: or remote-control:)\n"
	    "cairn.conf:5: port: 0: must be a number from 1 to 65535\n");
	/* several errors: all reported, counted */
	{
		struct config *cfg = config_new();
		char *msg;
		assert_int_equal(read_text(cfg, "cairn.conf", "server:\n"
		    "\tport: 0\n\tverbosity: 9\n\tfoo: bar\n", &msg), 3);
		free(msg);
		config_free(cfg);
	}
}

/* chroot: names inside the root, the config file must be there, a
 * reload inside the root reads the file and its includes */
static void
test_chroot(void **state)
{
	struct config *cfg;
	char root[256], text[2048], *msg;
	const char *path;

	(void)state;
	assert_string_equal(config_path_in_root("/var/c/k.pem", "/var/c"),
	    "/k.pem");
	assert_string_equal(config_path_in_root("/var/c/k.pem", "/var/c/"),
	    "/k.pem");
	assert_string_equal(config_path_in_root("/var/c", "/var/c"), "/");
	path = "/var/cx/k.pem";
	assert_ptr_equal(config_path_in_root(path, "/var/c"), path);
	assert_ptr_equal(config_path_in_root(path, ""), path);
	assert_ptr_equal(config_path_in_root(path, NULL), path);
	assert_ptr_equal(config_path_in_root(path, "/"), path);
	assert_true(config_path_is_in_root("/var/c/x", "/var/c"));
	assert_false(config_path_is_in_root("/var/cx", "/var/c"));
	assert_false(config_path_is_in_root("/etc/x", "/var/c"));
	assert_true(config_path_is_in_root("/etc/x", "/"));
	assert_true(config_path_is_in_root("/etc/x", ""));

	/* the config file outside the chroot: refused, naming both */
	cfg = config_new();
	assert_int_equal(read_text(cfg, "cairn.conf",
	    "server:\n\tchroot: /nonexistent/jail\n", &msg), 0);
	free(msg);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *err = open_memstream(&buf, &len);
		char want[2048];

		assert_int_equal(config_check(cfg, err), 1);
		fclose(err);
		snprintf(want, sizeof(want), "%s/cairn.conf:2: chroot: "
		    "/nonexistent/jail: the config file %s/cairn.conf is not "
		    "inside it: put it (and what it includes) under "
		    "/nonexistent/jail, a reload reads it from there\n",
		    tmpdir, tmpdir);
		assert_string_equal(buf, want);
		free(buf);
	}
	config_free(cfg);

	/* inside: accepted; the file names stripped to the root */
	snprintf(root, sizeof(root), "%s", tmpdir);
	write_file("inc.conf", "server:\n\tverbosity: 3\n");
	snprintf(text, sizeof(text), "server:\n\tchroot: \"%s\"\n"
	    "\ttls-service-key: \"%s/k.pem\"\n"
	    "\ttls-service-pem: \"/etc/c.pem\"\n"
	    "\tlogfile: \"%s/log/cairnd.log\"\n"
	    "include: \"%s/inc.conf\"\n"
	    "remote-control:\n\tcontrol-interface: \"%s/ctl\"\n"
	    "\tcontrol-interface: 127.0.0.1\n", root, root, root, root,
	    root);
	cfg = config_new();
	assert_int_equal(read_text(cfg, "cairn.conf", text, &msg), 0);
	free(msg);
	assert_int_equal(config_check(cfg, NULL), 0);
	assert_int_equal(cfg->verbosity, 3);
	assert_int_equal(config_strip_root(cfg, root), 0);
	assert_string_equal(cfg->file, "/cairn.conf");
	assert_string_equal(cfg->tls_service_key, "/k.pem");
	assert_string_equal(cfg->tls_service_pem, "/etc/c.pem");
	assert_string_equal(cfg->logfile, "/log/cairnd.log");
	assert_string_equal(cfg->control_interfaces->str, "/ctl");
	assert_string_equal(cfg->control_interfaces->next->str,
	    "127.0.0.1");
	config_free(cfg);

	/* a daemon chrooted to "/jail" reads "/jail" + tmpdir: simulated
	 * with the made-up root "/jail", so that the stripped names are
	 * the files of tmpdir; the include is named from outside too */
	snprintf(text, sizeof(text), "server:\n\tchroot: \"/jail\"\n"
	    "include: \"/jail%s/inc.conf\"\n", root);
	write_file("jail.conf", text);
	snprintf(text, sizeof(text), "/jail%s/jail.conf", root);
	cfg = config_new();
	assert_int_equal(config_read_in_root(cfg, text, "/jail", NULL), 0);
	assert_string_equal(cfg->file, text);	/* as written */
	assert_int_equal(cfg->verbosity, 3);	/* the include was read */
	assert_int_equal(config_check(cfg, NULL), 0);
	config_free(cfg);
	/* not found inside the root: the error names the file as given */
	cfg = config_new();
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *err = open_memstream(&buf, &len);

		snprintf(text, sizeof(text), "%s/cairn.conf", tmpdir);
		assert_int_equal(config_read_in_root(cfg, text, tmpdir, err),
		    1);
		fclose(err);
		assert_non_null(strstr(buf, text));
		assert_non_null(strstr(buf, "cannot open"));
		free(buf);
	}
	config_free(cfg);
}

/* config_read_mem: the same parser on a buffer, without includes */
static void
test_read_mem(void **state)
{
	static const char text[] = "server:\n\tport: 5353\n"
	    "include: /etc/passwd\n\tverbosity: 4";
	struct config *cfg = config_new();
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);

	(void)state;
	/* not NUL-terminated: the last line ends at len */
	assert_int_equal(config_read_mem(cfg, "mem", text, sizeof(text) - 1,
	    err), 1);
	fclose(err);
	assert_string_equal(buf, "mem:3: include: /etc/passwd: not followed "
	    "in a configuration given in memory\n");
	free(buf);
	assert_int_equal(cfg->port, 5353);
	assert_int_equal(cfg->verbosity, 4);
	assert_string_equal(cfg->file, "mem");
	assert_int_equal(config_read_mem(cfg, "empty", "", 0, NULL), 0);
	config_free(cfg);
}

static void
test_check(void **state)
{
#ifndef HAVE_NGHTTP2
	expect_check_error("server:\n\thttps-port: 8443\n",
	    "cairn.conf:2: https-port: 8443: cairnd was built without "
	    "DNS-over-HTTPS: rebuild with ./configure --with-libnghttp2\n");
	expect_check_error("server:\n\tinterface: 127.0.0.1@443\n"
	    "\thttp-notls-downstream: yes\n",
	    "cairn.conf:2: interface: 127.0.0.1@443: this is the https-port, "
	    "but cairnd was built without DNS-over-HTTPS: rebuild with "
	    "./configure --with-libnghttp2\n");
	expect_check_error("forward-zone:\n\tname: .\n"
	    "\tforward-addr: 192.0.2.1\n\tforward-https-upstream: yes\n",
	    "cairn.conf:4: forward-https-upstream: yes: cairnd was built "
	    "without DNS-over-HTTPS: rebuild with ./configure "
	    "--with-libnghttp2\n");
#else
	expect_check_error("server:\n\tinterface: 127.0.0.1@443\n",
	    "cairn.conf:2: interface: 127.0.0.1@443: this is the https-port "
	    "(443), which needs tls-service-key and tls-service-pem (or "
	    "http-notls-downstream: yes to serve DoH without TLS)\n");
	{
		/* with http-notls-downstream the https port needs no TLS */
		struct config *cfg = config_new();
		assert_int_equal(read_text(cfg, "c.conf", "server:\n"
		    "\tinterface: 127.0.0.1@8443\n\thttps-port: 8443\n"
		    "\thttp-notls-downstream: yes\n", NULL), 0);
		assert_int_equal(config_check(cfg, stderr), 0);
		config_free(cfg);
	}
#endif
	expect_check_error("server:\n\tinterface: 127.0.0.1\n"
	    "\tinterface: ::1@853\n",
	    "cairn.conf:3: interface: ::1@853: this is the tls-port (853), "
	    "which needs tls-service-key and tls-service-pem\n");
	expect_check_error("server:\n\tport: 853\n",
	    "cairn.conf:2: port: 853: this is the tls-port (853), which needs "
	    "tls-service-key and tls-service-pem\n");
	expect_check_error("server:\n\ttls-service-key: k.pem\n",
	    "cairn.conf:2: tls-service-key: k.pem: tls-service-pem is not "
	    "set: give both the key and its certificate\n");
	expect_check_error("forward-zone:\n\tforward-addr: 192.0.2.1\n",
	    "cairn.conf:1: forward-zone: has no name: add name: \".\" or the "
	    "zone's domain name\n");
	expect_check_error("server:\nforward-zone:\n\tname: example.com\n",
	    "cairn.conf:2: forward-zone: example.com: has no forward-addr or "
	    "forward-host: give at least one upstream\n");
	expect_check_error("forward-zone:\n\tname: Example.com\n"
	    "\tforward-addr: 192.0.2.1\n"
	    "forward-zone:\n\tname: example.COM.\n"
	    "\tforward-addr: 192.0.2.2\n",
	    "cairn.conf:5: name: example.COM.: duplicate forward-zone: the "
	    "same zone is already at cairn.conf:2\n");
	{
		/* TLS service configured: DoT interface fine */
		struct config *cfg = config_new();
		assert_int_equal(read_text(cfg, "c.conf", "server:\n"
		    "\tinterface: 127.0.0.1@853\n\ttls-service-key: k\n"
		    "\ttls-service-pem: p\n", NULL), 0);
		assert_int_equal(config_check(cfg, stderr), 0);
		config_free(cfg);
	}
}

static void
test_sizes(void **state)
{
	size_t v;

	assert_int_equal(config_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_size("1234", &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(config_parse_size("4k", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("4m", &v), 0);
	assert_int_equal(v, 4194304);
	assert_int_equal(config_parse_size("4M", &v), 0);
	assert_int_equal(v, 4194304);
	assert_int_equal(config_parse_size("2g", &v), 0);
	assert_int_equal(v, 2147483648ULL);
	assert_int_equal(config_parse_size("10mb", &v), 0);
	assert_int_equal(v, 10485760);
	assert_int_equal(config_parse_size("", &v), -1);
	assert_int_equal(config_parse_size("k", &v), -1);
	assert_int_equal(config_parse_size("-1", &v), -1);
	assert_int_equal(config_parse_size("4x", &v), -1);
	assert_int_equal(config_parse_size("4 m", &v), -1);
	assert_int_equal(config_parse_size("99999999999999999999", &v), -1);
	assert_int_equal(config_parse_size("99999999999999g", &v), -1);
}

static void
test_set_and_names(void **state)
{
	struct config *cfg = config_new();
	const char *name;
	size_t i, n = 0;
	bool seen_port = false, seen_name = false, seen_ctl = false;

	assert_int_equal(config_set(cfg, "server", "port", "5353", NULL, 0,
	    NULL), 0);
	assert_int_equal(cfg->port, 5353);
	assert_int_equal(config_set(cfg, "server:", "local-data",
	    "www.example. A 192.0.2.1", "control", 0, NULL), 0);
	assert_string_equal(cfg->local_data->str, "www.example. A 192.0.2.1");
	assert_string_equal(cfg->local_data->file, "control");
	assert_int_equal(config_set(cfg, "server", "local-zone",
	    "\"example.\" static", NULL, 0, NULL), 0);
	assert_string_equal(cfg->local_zones->str, "example.");
	assert_int_equal(config_set(cfg, "server", "port", "0", "cmdline", 1,
	    NULL), -1);
	assert_int_equal(cfg->port, 5353);
	assert_int_equal(config_set(cfg, "server", "name", ".", NULL, 0,
	    NULL), -1);
	assert_null(cfg->forwards);
	assert_int_equal(config_set(cfg, NULL, "control-port", "1234", NULL,
	    0, NULL), 0);
	assert_int_equal(cfg->control_port, 1234);
	assert_int_equal(config_set(cfg, "bogus", "port", "53", NULL, 0,
	    NULL), -1);
	assert_int_equal(config_set(cfg, "forward-zone", "name", ".", NULL, 0,
	    NULL), 0);
	assert_non_null(cfg->forwards);
	assert_string_equal(cfg->forwards->name, ".");
	config_free(cfg);

	for (i = 0; (name = config_option_name(i)) != NULL; i++) {
		n++;
		seen_port |= strcmp(name, "port") == 0;
		seen_name |= strcmp(name, "forward-addr") == 0;
		seen_ctl |= strcmp(name, "control-cert-file") == 0;
	}
	assert_true(n > 50);
	assert_true(seen_port && seen_name && seen_ctl);
}

/* util/ifaddr: which strings are names, and lo's addresses. */
static void
test_ifaddr(void **state)
{
	struct sockaddr_storage a[IFADDR_MAX];
	socklen_t len[IFADDR_MAX];
	bool v4 = false;
	int n, i;

	(void)state;
	assert_true(ifaddr_name_ok("eth0"));
	assert_true(ifaddr_name_ok("enp0s31f6"));
	assert_true(ifaddr_name_ok("abcdefghijklmno"));		/* 15 */
	assert_false(ifaddr_name_ok("abcdefghijklmnop"));	/* 16 */
	assert_false(ifaddr_name_ok(""));
	assert_false(ifaddr_name_ok("."));
	assert_false(ifaddr_name_ok(".."));
	assert_false(ifaddr_name_ok("a/b"));
	assert_false(ifaddr_name_ok("a b"));
	assert_false(ifaddr_name_ok("eth0:1"));
	assert_false(ifaddr_name_ok("eth0@53"));

	n = ifaddr_get("lo", 5353, a, len, IFADDR_MAX);
	assert_true(n >= 1);
	for (i = 0; i < n; i++) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a[i];

		if (a[i].ss_family == AF_INET) {
			assert_int_equal(len[i], sizeof(*s4));
			assert_int_equal(ntohs(s4->sin_port), 5353);
			if (s4->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
				v4 = true;
		} else {
			assert_int_equal(a[i].ss_family, AF_INET6);
			assert_int_equal(len[i], sizeof(struct sockaddr_in6));
		}
	}
	assert_true(v4);
	errno = 0;
	assert_int_equal(ifaddr_get("lo", 53, a, len, 0), -1);
	assert_int_equal(errno, E2BIG);
	errno = 0;
	assert_int_equal(ifaddr_get("nosuch0", 53, a, len, IFADDR_MAX), -1);
	assert_int_equal(errno, ENODEV);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_include_glob, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chroot, setup, teardown),
		cmocka_unit_test(test_read_mem),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_set_and_names),
		cmocka_unit_test(test_ifaddr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
