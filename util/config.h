/*
 * util/config.h - the configuration: unbound.conf syntax, Unbound's
 * option names and defaults.
 *
 * One table in config.c describes every option (name, clause, type,
 * default, bounds, field).  config_read() parses a file (with include:
 * and globs) into a struct config; errors are reported as
 * "file:line: key: value: why" and fail the whole read.  This file does
 * not know sockets, DNS wire format or threads.
 */
#ifndef CAIRN_UTIL_CONFIG_H
#define CAIRN_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_DEFAULT_FILE SYSCONFDIR "/cairn/cairn.conf"

/* outgoing-interface: at most this many addresses of one family. */
#define CFG_OUTGOING_MAX 16

struct cfg_strlist {
	struct cfg_strlist *next;
	char *str;
	const char *file;	/* where it was read (for later errors) */
	int line;
};

/* Two-word values: access-control, local-zone, tcp-connection-limit. */
struct cfg_str2list {
	struct cfg_str2list *next;
	char *str;	/* netblock or zone name */
	char *str2;	/* action, type or limit, checked when read */
	const char *file;
	int line;
};

/* One forward-zone: clause. */
struct cfg_forward {
	struct cfg_forward *next;
	char *name;			/* "." or a domain, as written */
	struct cfg_strlist *addrs;	/* forward-addr: "IP[@port][#authname]" */
	struct cfg_strlist *hosts;	/* forward-host: "host[@port][#name]" */
	int first;			/* forward-first */
	int tls_upstream;		/* forward-tls-upstream */
	int https_upstream;		/* forward-https-upstream (cairn) */
	char *http_endpoint;		/* forward-http-endpoint, "/dns-query" */
	int no_cache;			/* forward-no-cache */
	const char *file;		/* where "forward-zone:" was read */
	int line;
	const char *name_file;		/* where name: was read (NULL if none) */
	int name_line;
	struct cfg_pos *pos;		/* private to config.c */
};

struct config {
	char *file;		/* the file read, or NULL for built-in default */

	/* server: */
	struct cfg_strlist *interfaces;	/* "addr[@port]" */
	int interface_automatic;	/* no: without interface lines
					   0.0.0.0 and :: (else the
					   loopback addresses) */
	int port;			/* 53 */
	int do_ip4, do_ip6, do_udp, do_tcp;
	int num_threads;		/* 1 */
	int verbosity;			/* 1 */
	char *logfile;			/* "" */
	int use_syslog;			/* yes */
	int log_queries;		/* no */
	char *pidfile;			/* "/run/cairnd.pid" */
	char *username;			/* "" (no privilege drop) */
	char *chroot;			/* "" */
	char *directory;		/* "" */
	int incoming_num_tcp;		/* 10 */
	int tcp_idle_timeout;		/* 30000 msec */
	struct cfg_str2list *tcp_connection_limits; /* netblock, limit */
	struct cfg_str2list *access_controls;	/* netblock, action */
	size_t msg_buffer_size;		/* 65552 */
	size_t msg_cache_size;		/* 4m */
	int cache_max_ttl;		/* 86400 */
	int cache_min_ttl;		/* 0 */
	int cache_max_negative_ttl;	/* 3600 */
	int edns_buffer_size;		/* 1232 */
	int outgoing_queries_per_port;	/* 1: a new UDP port per query */
	struct cfg_strlist *outgoing_interfaces; /* source addresses of
					 * upstream queries (none: routes),
					 * CFG_OUTGOING_MAX a family */
	int batch_wait_usec;		/* 100 (0: no pause between passes) */
	struct cfg_str2list *local_zones;	/* name, type */
	struct cfg_strlist *local_data;		/* "RR in presentation format" */
	int so_reuseport;		/* yes */
	size_t so_rcvbuf, so_sndbuf;	/* 0: the system's */
	int ip_freebind;		/* no */
	int harden_large_queries;	/* no */
	int prefetch;			/* no */
	int hide_identity;		/* no */
	int hide_version;		/* no */
	char *identity;			/* "": the host name */
	char *version;			/* "": "cairn VERSION" */

	/* TLS and HTTPS service */
	char *tls_service_key;		/* "" */
	char *tls_service_pem;		/* "" */
	int tls_port;			/* 853 */
	int https_port;			/* 443 */
	char *tls_ciphers;		/* "" = OpenSSL default */
	char *tls_ciphersuites;		/* "" */
	struct cfg_strlist *tls_session_ticket_keys;
	char *tls_cert_bundle;		/* "" = system bundle */
	char *http_endpoint;		/* "/dns-query" */
	int http_max_streams;		/* 100 */
	size_t http_query_buffer_size;	/* 4m */
	size_t http_response_buffer_size; /* 4m */
	int http_nodelay;		/* yes */
	int http_notls_downstream;	/* no */
	struct cfg_strlist *proxy_protocol_ports; /* ports, as strings */
	struct cfg_strlist *http_trusted_proxies; /* http-trusted-proxy:
					 * netblocks (cairn's own key) */

	/* client subnet (issue 6) */
	struct cfg_strlist *send_client_subnets;
	int max_client_subnet_ipv4;	/* 24 */
	int max_client_subnet_ipv6;	/* 56 */
	int client_subnet_always_forward; /* no */

	/* forward-zone: */
	struct cfg_forward *forwards;

	/* remote-control: */
	int control_enable;		/* no */
	struct cfg_strlist *control_interfaces; /* 127.0.0.1 and ::1 */
	int control_port;		/* 8953 */
	int control_use_cert;		/* yes */
	char *server_key_file;		/* cairn_server.key (config dir) */
	char *server_cert_file;		/* cairn_server.pem */
	char *control_key_file;		/* cairn_control.key */
	char *control_cert_file;	/* cairn_control.pem */

	/* private to config.c: file names read (the file/line pointers in
	 * the lists point into it) and where each option was last set. */
	struct cfg_priv *priv;
};

/* A config holding every default (no interfaces, no forwards, no acls). */
struct config *config_new(void);
void config_free(struct config *cfg);

/*
 * Read 'file' into 'cfg' (which holds the defaults).  On error writes
 * "file:line: key: value: why" lines to 'err' (may be NULL) and returns
 * the number of errors; 0 on success.
 */
int config_read(struct config *cfg, const char *file, FILE *err);

/*
 * As config_read, for a daemon chrooted to 'root' (Unbound's way): the
 * file, and the files include: names, are opened with 'root' stripped
 * from the front of their names when they are inside it; errors and
 * cfg->file keep the names as written.  root NULL or "" = config_read.
 */
int config_read_in_root(struct config *cfg, const char *file,
    const char *root, FILE *err);

/*
 * As config_read, from 'len' bytes of 'text' (need not end in NUL)
 * named 'name' in errors and cfg->file.  include: is reported as an
 * error and not followed (no file is opened).  For tests and fuzzing.
 */
int config_read_mem(struct config *cfg, const char *name, const char *text,
    size_t len, FILE *err);

/*
 * The name of 'path' seen from inside 'root': path without the root
 * prefix when path is root or below it ("/var/cairn/k.pem" in
 * "/var/cairn" is "/k.pem"), else path itself (returned unchanged, so
 * callers may compare the pointers).  A root of NULL, "" or "/" changes
 * nothing.  Returns a pointer into path (or the literal "/").
 */
const char *config_path_in_root(const char *path, const char *root);
/* Is 'path' inside 'root' (always true for NULL, "" or "/")? */
bool config_path_is_in_root(const char *path, const char *root);

/*
 * After chroot(root): rewrite the options that name files (logfile,
 * pidfile, tls-service-key/-pem, tls-cert-bundle,
 * tls-session-ticket-keys, control-interface sockets and the
 * remote-control keys) and cfg->file to their names inside 'root',
 * where they are inside it; others are left (and will not be found).
 * Returns 0, or -1 when out of memory (cfg then partly rewritten).
 */
int config_strip_root(struct config *cfg, const char *root);

/*
 * Set one option from text, as if "key: value" were read from file:line
 * inside 'clause' ("server", "forward-zone" or "remote-control", with or
 * without the colon; NULL means the option's own clause).  The value of a one-value
 * option is taken verbatim (no quotes needed, spaces kept: a local-data
 * RR can be passed as is); a two-word option (access-control,
 * local-zone, tcp-connection-limit) is split at white space, each word
 * optionally quoted.  A forward-zone option applies to the last
 * forward-zone (one is made if there is none).  'file' is copied and
 * may be NULL.  Returns 0 or -1 after writing the reason to 'err'.
 */
int config_set(struct config *cfg, const char *clause, const char *key,
    const char *value, const char *file, int line, FILE *err);

/*
 * Print the effective value of option 'key' as cairn-checkconf -o does:
 * numbers in decimal, sizes in bytes, booleans yes/no, lists one item a
 * line (two-word items as "word1 word2"), forward-zone options once per
 * forward-zone in file order.  Returns 0, or -1 if the option is unknown.
 */
int config_print_option(const struct config *cfg, const char *key, FILE *out);

/*
 * Checks that need the whole file (e.g. https-port without nghttp2,
 * tls-service-key without tls-service-pem, an interface on tls-port or
 * https-port without both, a forward-zone without name or upstream, a
 * forward-zone name given twice).  Same error reporting as config_read,
 * with the line where the offending option was set.  Returns the number
 * of errors.
 */
int config_check(const struct config *cfg, FILE *err);

/*
 * Iterate over the option names of every clause (for -l and the man page
 * test); NULL at the end.  Besides the fields above there is no other
 * key, except the include: directive, which is not an option.
 */
const char *config_option_name(size_t i);

/* Parse "4m", "512k", "1g" or plain bytes. Returns 0 or -1. */
int config_parse_size(const char *s, size_t *out);

#endif
