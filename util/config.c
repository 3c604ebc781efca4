/*
 * util/config.c - the unbound.conf-style parser behind struct config.
 *
 * One static table, opts[], lists every option cairn has: its name, the
 * clause it belongs to, its type, its default (as text, applied through
 * the same code that reads a file), its bounds and where it is stored.
 * That table drives reading (config_read, config_set), the defaults
 * (config_new), printing (config_print_option) and the list of names
 * (config_option_name).  An option that is not in the table is an error:
 * an Unbound key that cairn does not have is never silently accepted.
 *
 * Syntax: "key: value" a line (a clause header may be followed by one
 * statement on the same line), values bare, "double" or 'single' quoted,
 * '#' starts a comment where a word could start, CRLF tolerated,
 * include: "glob" anywhere (files read in glob order, nested up to
 * INCLUDE_DEPTH_MAX).  Every error reads "file:line: key: value: why".
 *
 * This file does not open sockets, does not know DNS wire format and does
 * not check local-data records beyond their shape (cairn-checkconf does
 * that with the resolver's parser).  It is not thread-safe: a config is
 * built on one thread and read-only afterwards.
 */
#include <config.h>	/* autoconf's (HAVE_NGHTTP2); util/config.h is ours */

#include "util/config.h"
#include "util/ifaddr.h"
#include "util/netblock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define INCLUDE_DEPTH_MAX 16
#define NO_MAX LLONG_MAX

enum opt_type {
	OPT_INT,	/* int, with bounds */
	OPT_BOOL,	/* int, yes/no */
	OPT_SIZE,	/* size_t, with k/m/g suffix, with bounds */
	OPT_STR,	/* char *, replaced when set again */
	OPT_LIST,	/* struct cfg_strlist *, appended (repeatable) */
	OPT_LIST2	/* struct cfg_str2list *, two words, appended */
};

/* Clauses, as bits so an option could belong to more than one. */
#define CL_NONE		0
#define CL_SERVER	1
#define CL_FORWARD	2
#define CL_REMOTE	4
#define CL_UNKNOWN	8	/* inside a clause cairn does not know */

/*
 * A check for a string or list value: returns NULL when 'a' (and 'b' for
 * two-word options) are fine, else a sentence saying what is allowed.
 */
typedef const char *(*opt_check_fn)(const char *a, const char *b);

struct opt {
	const char *name;
	int clause;
	enum opt_type type;
	const char *def;	/* default as text; NULL = empty / none */
	long long min, max;	/* OPT_INT, OPT_SIZE */
	size_t off;		/* in struct config, or cfg_forward */
	opt_check_fn check;	/* OPT_STR, OPT_LIST, OPT_LIST2; may be NULL */
	const char *args;	/* OPT_LIST2: the two words, for messages */
};

/* Where an option was last set (for config_check's messages). */
struct cfg_pos {
	const char *file;
	int line;
};

struct cfg_priv {
	struct cfg_strlist *files;	/* interned file names */
	struct cfg_pos *pos;		/* one per opts[] entry */
};

/* ------------------------------------------------------------ checks */

static bool
is_number(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* "53" -> 53; -1 if not a port number 1..65535. */
static int
port_parse(const char *s)
{
	long v;

	if (!is_number(s) || strlen(s) > 5)
		return -1;
	v = strtol(s, NULL, 10);
	return v >= 1 && v <= 65535 ? (int)v : -1;
}

static bool
ip_ok(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

/* A domain name as written: "." or labels of 1..63 characters. */
static bool
dname_ok(const char *s)
{
	size_t len = strlen(s), lab = 0, i;

	if (strcmp(s, ".") == 0)
		return true;
	if (len == 0 || s[0] == '.')
		return false;
	if (len - (s[len - 1] == '.') > 253)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (c <= ' ' || c >= 0x7f)
			return false;
		if (++lab > 63)
			return false;
	}
	return true;
}

/* "addr[@port]" into addr (bufsize 64) and port (0 if absent). */
static int
addr_port_split(const char *s, char *addr, size_t addrlen, int *port)
{
	const char *at = strrchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);

	if (n == 0 || n >= addrlen)
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	*port = 0;
	if (at && (*port = port_parse(at + 1)) < 0)
		return -1;
	return 0;
}

static const char *
check_interface(const char *a, const char *b)
{
	const char *at = strrchr(a, '@');
	char addr[64];
	int port;

	if (at != NULL && port_parse(at + 1) < 0)
		return "the port after @ must be a number from 1 to 65535";
	if (addr_port_split(a, addr, sizeof(addr), &port) < 0 ||
	    (!ip_ok(addr) && !ifaddr_name_ok(addr)))
		return "must be an IPv4 or IPv6 address or an interface name, "
		    "optionally with @port (e.g. 127.0.0.1, ::1@5353, eth0)";
	return NULL;
}

/* identity, version: one TXT character-string */
static const char *
check_txt_string(const char *a, const char *b)
{
	if (strlen(a) <= 255)
		return NULL;
	return "longer than 255 bytes (one TXT string)";
}

static const char *
check_outgoing_interface(const char *a, const char *b)
{
	if (ip_ok(a))
		return NULL;
	return "must be an IPv4 or IPv6 address (without a port)";
}

static const char *
check_ctrl_interface(const char *a, const char *b)
{
	if (a[0] == '/' || ip_ok(a))
		return NULL;
	return "must be an IPv4 or IPv6 address, or the absolute path of a "
	    "Unix socket";
}

static const char *
check_fwd_common(const char *a, bool host)
{
	char buf[300];
	const char *hash = strchr(a, '#');
	size_t n = hash ? (size_t)(hash - a) : strlen(a);
	int port;

	if (hash && !dname_ok(hash + 1))
		return "";
	if (n == 0 || n >= sizeof(buf))
		return "";
	memcpy(buf, a, n);
	buf[n] = '\0';
	{
		char addr[256];
		if (addr_port_split(buf, addr, sizeof(addr), &port) < 0)
			return "";
		if (host ? !dname_ok(addr) : !ip_ok(addr))
			return "";
	}
	return NULL;
}

static const char *
check_fwd_addr(const char *a, const char *b)
{
	if (check_fwd_common(a, false))
		return "must be an IP address, optionally with @port and "
		    "#tls-auth-name (e.g. 192.0.2.1@853#dns.example.net)";
	return NULL;
}

static const char *
check_fwd_host(const char *a, const char *b)
{
	if (check_fwd_common(a, true))
		return "must be a host name, optionally with @port and "
		    "#tls-auth-name (e.g. dns.example.net@853)";
	return NULL;
}

static const char *
check_dname(const char *a, const char *b)
{
	if (!dname_ok(a))
		return "must be a domain name (e.g. \".\" or example.com)";
	return NULL;
}

static const char *
check_netblock(const char *a, const char *b)
{
	int family, prefix;
	unsigned char addr[16];

	if (netblock_parse(a, &family, addr, &prefix) < 0)
		return "must be an address or netblock (e.g. 192.0.2.0/24, "
		    "2001:db8::/32)";
	return NULL;
}

static const char *
check_port(const char *a, const char *b)
{
	if (port_parse(a) < 0)
		return "must be a port number from 1 to 65535";
	return NULL;
}

static const char *
check_acl(const char *a, const char *b)
{
	const char *why = check_netblock(a, NULL);

	if (why)
		return why;
	if (acl_action_parse(b) < 0)
		return "the action must be allow, deny, refuse, allow_snoop, "
		    "deny_non_local, refuse_non_local, allow_setrd or "
		    "allow_cookie";
	return NULL;
}

static const char *
check_tcl(const char *a, const char *b)
{
	const char *why = check_netblock(a, NULL);

	if (why)
		return why;
	if (!is_number(b) || strlen(b) > 9)
		return "the limit must be a number from 0 to 999999999";
	return NULL;
}

/* The local-zone types cairn implements (resolver/localzone.c). */
static const char *const local_zone_types[] = {
	"static", "transparent", "typetransparent", "refuse", "deny",
	"always_nxdomain", "always_refuse", "always_nodata",
	"always_transparent", "redirect", "inform", "inform_deny",
	"nodefault", NULL
};

static const char *
check_local_zone(const char *a, const char *b)
{
	size_t i;

	if (!dname_ok(a))
		return "the zone must be a domain name (e.g. example.com.)";
	for (i = 0; local_zone_types[i]; i++)
		if (strcmp(b, local_zone_types[i]) == 0)
			return NULL;
	return "the type must be static, transparent, refuse, deny, "
	    "always_nxdomain or redirect";
}

static const char *
check_local_data(const char *a, const char *b)
{
	int words = 0;
	bool in = false;

	for (; *a; a++) {
		if (isspace((unsigned char)*a))
			in = false;
		else if (!in) {
			in = true;
			words++;
		}
	}
	if (words < 3)
		return "must be a resource record in zone file format "
		    "(e.g. \"www.example.com. A 192.0.2.1\")";
	return NULL;
}

static const char *
check_endpoint(const char *a, const char *b)
{
	if (a[0] != '/')
		return "must be a path starting with / (e.g. /dns-query)";
	return NULL;
}

static const char *
check_chroot(const char *a, const char *b)
{
	if (a[0] != '\0' && a[0] != '/')
		return "must be an absolute directory name (e.g. "
		    "/var/lib/cairn), or \"\" for no chroot";
	return NULL;
}

static const char *
check_nonempty(const char *a, const char *b)
{
	if (a[0] == '\0')
		return "must not be empty";
	return NULL;
}

/* ------------------------------------------------------------ the table */

#define S(f) offsetof(struct config, f)
#define F(f) offsetof(struct cfg_forward, f)

static const struct opt opts[] = {
	/* server: */
	{ "interface", CL_SERVER, OPT_LIST, NULL, 0, 0, S(interfaces),
	    check_interface, NULL },
	{ "port", CL_SERVER, OPT_INT, "53", 1, 65535, S(port), NULL, NULL },
	{ "do-ip4", CL_SERVER, OPT_BOOL, "yes", 0, 1, S(do_ip4), NULL, NULL },
	{ "do-ip6", CL_SERVER, OPT_BOOL, "yes", 0, 1, S(do_ip6), NULL, NULL },
	{ "do-udp", CL_SERVER, OPT_BOOL, "yes", 0, 1, S(do_udp), NULL, NULL },
	{ "do-tcp", CL_SERVER, OPT_BOOL, "yes", 0, 1, S(do_tcp), NULL, NULL },
	{ "num-threads", CL_SERVER, OPT_INT, "1", 1, 1024, S(num_threads),
	    NULL, NULL },
	{ "verbosity", CL_SERVER, OPT_INT, "1", 0, 5, S(verbosity), NULL,
	    NULL },
	{ "logfile", CL_SERVER, OPT_STR, "", 0, 0, S(logfile), NULL, NULL },
	{ "use-syslog", CL_SERVER, OPT_BOOL, "yes", 0, 1, S(use_syslog), NULL,
	    NULL },
	{ "log-queries", CL_SERVER, OPT_BOOL, "no", 0, 1, S(log_queries),
	    NULL, NULL },
	{ "pidfile", CL_SERVER, OPT_STR, "/run/cairnd.pid", 0, 0, S(pidfile),
	    NULL, NULL },
	{ "username", CL_SERVER, OPT_STR, "", 0, 0, S(username), NULL, NULL },
	{ "chroot", CL_SERVER, OPT_STR, "", 0, 0, S(chroot), check_chroot,
	    NULL },
	{ "directory", CL_SERVER, OPT_STR, "", 0, 0, S(directory), NULL,
	    NULL },
	{ "incoming-num-tcp", CL_SERVER, OPT_INT, "10", 0, 100000,
	    S(incoming_num_tcp), NULL, NULL },
	{ "tcp-idle-timeout", CL_SERVER, OPT_INT, "30000", 1, 86400000,
	    S(tcp_idle_timeout), NULL, NULL },
	{ "tcp-connection-limit", CL_SERVER, OPT_LIST2, NULL, 0, 0,
	    S(tcp_connection_limits), check_tcl, "NETBLOCK LIMIT" },
	{ "access-control", CL_SERVER, OPT_LIST2, NULL, 0, 0,
	    S(access_controls), check_acl, "NETBLOCK ACTION" },
	{ "msg-buffer-size", CL_SERVER, OPT_SIZE, "65552", 512, 65552,
	    S(msg_buffer_size), NULL, NULL },
	{ "msg-cache-size", CL_SERVER, OPT_SIZE, "4m", 0, NO_MAX,
	    S(msg_cache_size), NULL, NULL },
	{ "cache-max-ttl", CL_SERVER, OPT_INT, "86400", 0, INT_MAX,
	    S(cache_max_ttl), NULL, NULL },
	{ "cache-min-ttl", CL_SERVER, OPT_INT, "0", 0, INT_MAX,
	    S(cache_min_ttl), NULL, NULL },
	{ "cache-max-negative-ttl", CL_SERVER, OPT_INT, "3600", 0, INT_MAX,
	    S(cache_max_negative_ttl), NULL, NULL },
	{ "edns-buffer-size", CL_SERVER, OPT_INT, "1232", 512, 65535,
	    S(edns_buffer_size), NULL, NULL },
	{ "outgoing-interface", CL_SERVER, OPT_LIST, NULL, 0, 0,
	    S(outgoing_interfaces), check_outgoing_interface, NULL },
	{ "outgoing-queries-per-port", CL_SERVER, OPT_INT, "1", 1,
	    64, S(outgoing_queries_per_port), NULL, NULL },	/* OUTUDP_MAX_USES */
	{ "batch-wait-usec", CL_SERVER, OPT_INT, "100", 0, 1000,
	    S(batch_wait_usec), NULL, NULL },
	{ "local-zone", CL_SERVER, OPT_LIST2, NULL, 0, 0, S(local_zones),
	    check_local_zone, "NAME TYPE" },
	{ "local-data", CL_SERVER, OPT_LIST, NULL, 0, 0, S(local_data),
	    check_local_data, NULL },
	{ "so-reuseport", CL_SERVER, OPT_BOOL, "yes", 0, 1, S(so_reuseport),
	    NULL, NULL },
	{ "interface-automatic", CL_SERVER, OPT_BOOL, "no", 0, 1,
	    S(interface_automatic), NULL, NULL },
	{ "ip-freebind", CL_SERVER, OPT_BOOL, "no", 0, 1, S(ip_freebind),
	    NULL, NULL },
	{ "so-rcvbuf", CL_SERVER, OPT_SIZE, "0", 0, 1LL << 30, S(so_rcvbuf),
	    NULL, NULL },
	{ "so-sndbuf", CL_SERVER, OPT_SIZE, "0", 0, 1LL << 30, S(so_sndbuf),
	    NULL, NULL },
	{ "harden-large-queries", CL_SERVER, OPT_BOOL, "no", 0, 1,
	    S(harden_large_queries), NULL, NULL },
	{ "prefetch", CL_SERVER, OPT_BOOL, "no", 0, 1, S(prefetch), NULL,
	    NULL },
	{ "hide-identity", CL_SERVER, OPT_BOOL, "no", 0, 1, S(hide_identity),
	    NULL, NULL },
	{ "hide-version", CL_SERVER, OPT_BOOL, "no", 0, 1, S(hide_version),
	    NULL, NULL },
	{ "identity", CL_SERVER, OPT_STR, "", 0, 0, S(identity),
	    check_txt_string, NULL },
	{ "version", CL_SERVER, OPT_STR, "", 0, 0, S(version),
	    check_txt_string, NULL },

	/* server: TLS and HTTPS service */
	{ "tls-service-key", CL_SERVER, OPT_STR, "", 0, 0,
	    S(tls_service_key), NULL, NULL },
	{ "tls-service-pem", CL_SERVER, OPT_STR, "", 0, 0,
	    S(tls_service_pem), NULL, NULL },
	{ "tls-port", CL_SERVER, OPT_INT, "853", 1, 65535, S(tls_port), NULL,
	    NULL },
	{ "https-port", CL_SERVER, OPT_INT, "443", 1, 65535, S(https_port),
	    NULL, NULL },
	{ "tls-ciphers", CL_SERVER, OPT_STR, "", 0, 0, S(tls_ciphers), NULL,
	    NULL },
	{ "tls-ciphersuites", CL_SERVER, OPT_STR, "", 0, 0,
	    S(tls_ciphersuites), NULL, NULL },
	{ "tls-session-ticket-keys", CL_SERVER, OPT_LIST, NULL, 0, 0,
	    S(tls_session_ticket_keys), check_nonempty, NULL },
	{ "tls-cert-bundle", CL_SERVER, OPT_STR, "", 0, 0,
	    S(tls_cert_bundle), NULL, NULL },
	{ "http-endpoint", CL_SERVER, OPT_STR, "/dns-query", 0, 0,
	    S(http_endpoint), check_endpoint, NULL },
	{ "http-max-streams", CL_SERVER, OPT_INT, "100", 1, 1000000,
	    S(http_max_streams), NULL, NULL },
	{ "http-query-buffer-size", CL_SERVER, OPT_SIZE, "4m", 1, NO_MAX,
	    S(http_query_buffer_size), NULL, NULL },
	{ "http-response-buffer-size", CL_SERVER, OPT_SIZE, "4m", 1, NO_MAX,
	    S(http_response_buffer_size), NULL, NULL },
	{ "http-nodelay", CL_SERVER, OPT_BOOL, "yes", 0, 1, S(http_nodelay),
	    NULL, NULL },
	{ "http-notls-downstream", CL_SERVER, OPT_BOOL, "no", 0, 1,
	    S(http_notls_downstream), NULL, NULL },
	{ "proxy-protocol-port", CL_SERVER, OPT_LIST, NULL, 0, 0,
	    S(proxy_protocol_ports), check_port, NULL },
	{ "http-trusted-proxy", CL_SERVER, OPT_LIST, NULL, 0, 0,
	    S(http_trusted_proxies), check_netblock, NULL },

	/* server: client subnet */
	{ "send-client-subnet", CL_SERVER, OPT_LIST, NULL, 0, 0,
	    S(send_client_subnets), check_netblock, NULL },
	{ "max-client-subnet-ipv4", CL_SERVER, OPT_INT, "24", 0, 32,
	    S(max_client_subnet_ipv4), NULL, NULL },
	{ "max-client-subnet-ipv6", CL_SERVER, OPT_INT, "56", 0, 128,
	    S(max_client_subnet_ipv6), NULL, NULL },
	{ "client-subnet-always-forward", CL_SERVER, OPT_BOOL, "no", 0, 1,
	    S(client_subnet_always_forward), NULL, NULL },

	/* forward-zone: */
	{ "name", CL_FORWARD, OPT_STR, NULL, 0, 0, F(name), check_dname,
	    NULL },
	{ "forward-addr", CL_FORWARD, OPT_LIST, NULL, 0, 0, F(addrs),
	    check_fwd_addr, NULL },
	{ "forward-host", CL_FORWARD, OPT_LIST, NULL, 0, 0, F(hosts),
	    check_fwd_host, NULL },
	{ "forward-first", CL_FORWARD, OPT_BOOL, "no", 0, 1, F(first), NULL,
	    NULL },
	{ "forward-tls-upstream", CL_FORWARD, OPT_BOOL, "no", 0, 1,
	    F(tls_upstream), NULL, NULL },
	{ "forward-https-upstream", CL_FORWARD, OPT_BOOL, "no", 0, 1,
	    F(https_upstream), NULL, NULL },
	{ "forward-http-endpoint", CL_FORWARD, OPT_STR, "/dns-query", 0, 0,
	    F(http_endpoint), check_endpoint, NULL },
	{ "forward-no-cache", CL_FORWARD, OPT_BOOL, "no", 0, 1, F(no_cache),
	    NULL, NULL },

	/* remote-control: */
	{ "control-enable", CL_REMOTE, OPT_BOOL, "no", 0, 1,
	    S(control_enable), NULL, NULL },
	{ "control-interface", CL_REMOTE, OPT_LIST, NULL, 0, 0,
	    S(control_interfaces), check_ctrl_interface, NULL },
	{ "control-port", CL_REMOTE, OPT_INT, "8953", 1, 65535,
	    S(control_port), NULL, NULL },
	{ "control-use-cert", CL_REMOTE, OPT_BOOL, "yes", 0, 1,
	    S(control_use_cert), NULL, NULL },
	{ "server-key-file", CL_REMOTE, OPT_STR,
	    SYSCONFDIR "/cairn/cairn_server.key", 0, 0, S(server_key_file),
	    NULL, NULL },
	{ "server-cert-file", CL_REMOTE, OPT_STR,
	    SYSCONFDIR "/cairn/cairn_server.pem", 0, 0, S(server_cert_file),
	    NULL, NULL },
	{ "control-key-file", CL_REMOTE, OPT_STR,
	    SYSCONFDIR "/cairn/cairn_control.key", 0, 0, S(control_key_file),
	    NULL, NULL },
	{ "control-cert-file", CL_REMOTE, OPT_STR,
	    SYSCONFDIR "/cairn/cairn_control.pem", 0, 0, S(control_cert_file),
	    NULL, NULL },
};

#undef S
#undef F

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt *
opt_find(const char *name)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static const char *
clause_name(int clause)
{
	if (clause & CL_SERVER)
		return "server:";
	if (clause & CL_FORWARD)
		return "forward-zone:";
	if (clause & CL_REMOTE)
		return "remote-control:";
	return "no clause";
}

/* ------------------------------------------------------------ errors */

/* Write "file:line: key: value: why\n" (file "" if unknown). */
static void __attribute__((format(printf, 6, 7)))
cfg_error(FILE *err, const char *file, int line, const char *key,
    const char *value, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	if (file)
		fprintf(err, "%s:%d: ", file, line);
	if (key)
		fprintf(err, "%s: ", key);
	if (value)
		fprintf(err, "%s: ", value);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
}

/* ------------------------------------------------------------ storage */

/* A copy of 'file' owned by cfg (one per distinct name). */
static const char *
file_intern(struct config *cfg, const char *file)
{
	struct cfg_strlist *f;

	if (!file)
		return NULL;
	for (f = cfg->priv->files; f; f = f->next)
		if (strcmp(f->str, file) == 0)
			return f->str;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->str = strdup(file))) {
		free(f);
		return NULL;
	}
	f->next = cfg->priv->files;
	cfg->priv->files = f;
	return f->str;
}

static int
list_append(struct cfg_strlist **head, const char *s, const char *file,
    int line)
{
	struct cfg_strlist *n = calloc(1, sizeof(*n)), **p;

	if (!n || !(n->str = strdup(s))) {
		free(n);
		return -1;
	}
	n->file = file;
	n->line = line;
	for (p = head; *p; p = &(*p)->next)
		;
	*p = n;
	return 0;
}

static int
list2_append(struct cfg_str2list **head, const char *a, const char *b,
    const char *file, int line)
{
	struct cfg_str2list *n = calloc(1, sizeof(*n)), **p;

	if (!n)
		return -1;
	n->str = strdup(a);
	n->str2 = strdup(b);
	if (!n->str || !n->str2) {
		free(n->str);
		free(n->str2);
		free(n);
		return -1;
	}
	n->file = file;
	n->line = line;
	for (p = head; *p; p = &(*p)->next)
		;
	*p = n;
	return 0;
}

static void
list_free(struct cfg_strlist *l)
{
	while (l) {
		struct cfg_strlist *n = l->next;
		free(l->str);
		free(l);
		l = n;
	}
}

static void
list2_free(struct cfg_str2list *l)
{
	while (l) {
		struct cfg_str2list *n = l->next;
		free(l->str);
		free(l->str2);
		free(l);
		l = n;
	}
}

int
config_parse_size(const char *s, size_t *out)
{
	unsigned long long v = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	switch (tolower((unsigned char)*p)) {
	case 'k': mult = 1024ULL; p++; break;
	case 'm': mult = 1024ULL * 1024; p++; break;
	case 'g': mult = 1024ULL * 1024 * 1024; p++; break;
	default: break;
	}
	if (mult != 1 && tolower((unsigned char)*p) == 'b')
		p++;
	if (*p != '\0')
		return -1;
	if (v > (unsigned long long)SIZE_MAX / mult)
		return -1;
	*out = (size_t)(v * mult);
	return 0;
}

static struct cfg_forward *
forward_new(struct config *cfg, const char *file, int line);

/*
 * Set option 'o' to a (and b for OPT_LIST2).  'fwd' is the forward-zone
 * being read for CL_FORWARD options.  Returns 0, or -1 after writing
 * the error for 'file:line'.
 */
static int
opt_set(struct config *cfg, struct cfg_forward *fwd, const struct opt *o,
    const char *a, const char *b, const char *file, int line, FILE *err)
{
	char *base = o->clause == CL_FORWARD ? (char *)fwd : (char *)cfg;
	void *p = base + o->off;
	const char *why = NULL;
	char shown[600];

	if (o->type == OPT_LIST2)
		snprintf(shown, sizeof(shown), "%s %s", a, b);
	else
		snprintf(shown, sizeof(shown), "%s", a);

	switch (o->type) {
	case OPT_INT: {
		long long v;
		if (!is_number(a) || strlen(a) > 18 ||
		    (v = strtoll(a, NULL, 10)) < o->min || v > o->max) {
			if (o->max == NO_MAX)
				cfg_error(err, file, line, o->name, shown,
				    "must be a number of at least %lld",
				    o->min);
			else
				cfg_error(err, file, line, o->name, shown,
				    "must be a number from %lld to %lld",
				    o->min, o->max);
			return -1;
		}
		*(int *)p = (int)v;
		break;
	}
	case OPT_BOOL:
		if (strcasecmp(a, "yes") == 0)
			*(int *)p = 1;
		else if (strcasecmp(a, "no") == 0)
			*(int *)p = 0;
		else {
			cfg_error(err, file, line, o->name, shown,
			    "must be yes or no");
			return -1;
		}
		break;
	case OPT_SIZE: {
		size_t v;
		if (config_parse_size(a, &v) < 0 ||
		    (unsigned long long)v < (unsigned long long)o->min ||
		    (o->max != NO_MAX &&
		    (unsigned long long)v > (unsigned long long)o->max)) {
			if (o->max == NO_MAX)
				cfg_error(err, file, line, o->name, shown,
				    "must be a size of at least %lld bytes "
				    "(a number of bytes, or with k, m or g)",
				    o->min);
			else
				cfg_error(err, file, line, o->name, shown,
				    "must be a size from %lld to %lld bytes "
				    "(a number of bytes, or with k, m or g)",
				    o->min, o->max);
			return -1;
		}
		*(size_t *)p = v;
		break;
	}
	case OPT_STR:
	case OPT_LIST:
	case OPT_LIST2:
		if (o->check && (why = o->check(a, b)) != NULL) {
			cfg_error(err, file, line, o->name, shown, "%s", why);
			return -1;
		}
		if (o->type == OPT_STR) {
			char *dup = strdup(a);
			if (!dup)
				goto oom;
			free(*(char **)p);
			*(char **)p = dup;
		} else if (o->type == OPT_LIST) {
			if (list_append(p, a, file, line) < 0)
				goto oom;
		} else if (list2_append(p, a, b, file, line) < 0)
			goto oom;
		break;
	}
	if (o->clause == CL_FORWARD) {
		fwd->pos[o - opts].file = file;
		fwd->pos[o - opts].line = line;
	} else if (cfg->priv) {
		cfg->priv->pos[o - opts].file = file;
		cfg->priv->pos[o - opts].line = line;
	}
	if (o->clause == CL_FORWARD && strcmp(o->name, "name") == 0) {
		fwd->name_file = file;
		fwd->name_line = line;
	}
	return 0;
oom:
	cfg_error(err, file, line, o->name, shown, "out of memory");
	return -1;
}

static struct cfg_forward *
forward_new(struct config *cfg, const char *file, int line)
{
	struct cfg_forward *f = calloc(1, sizeof(*f)), **p;
	size_t i;

	if (!f)
		return NULL;
	if (!(f->pos = calloc(NOPTS, sizeof(*f->pos)))) {
		free(f);
		return NULL;
	}
	for (i = 0; i < NOPTS; i++)
		if (opts[i].clause == CL_FORWARD && opts[i].def &&
		    opt_set(cfg, f, &opts[i], opts[i].def, NULL, NULL, 0,
		    NULL) < 0) {
			free(f->http_endpoint);
			free(f->pos);
			free(f);
			return NULL;
		}
	f->file = file;
	f->line = line;
	for (p = &cfg->forwards; *p; p = &(*p)->next)
		;
	*p = f;
	return f;
}

static void
forward_free(struct cfg_forward *f)
{
	free(f->name);
	list_free(f->addrs);
	list_free(f->hosts);
	free(f->http_endpoint);
	free(f->pos);
	free(f);
}

struct config *
config_new(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	size_t i;

	if (!cfg)
		return NULL;
	cfg->priv = calloc(1, sizeof(*cfg->priv));
	if (!cfg->priv || !(cfg->priv->pos = calloc(NOPTS,
	    sizeof(*cfg->priv->pos)))) {
		config_free(cfg);
		return NULL;
	}
	for (i = 0; i < NOPTS; i++) {
		if (opts[i].clause == CL_FORWARD || !opts[i].def)
			continue;
		if (opt_set(cfg, NULL, &opts[i], opts[i].def, NULL, NULL, 0,
		    NULL) < 0) {
			config_free(cfg);
			return NULL;
		}
		cfg->priv->pos[i].file = NULL;
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < NOPTS; i++) {
		void *p = (char *)cfg + opts[i].off;
		if (opts[i].clause == CL_FORWARD)
			continue;
		if (opts[i].type == OPT_STR)
			free(*(char **)p);
		else if (opts[i].type == OPT_LIST)
			list_free(*(struct cfg_strlist **)p);
		else if (opts[i].type == OPT_LIST2)
			list2_free(*(struct cfg_str2list **)p);
	}
	while (cfg->forwards) {
		struct cfg_forward *n = cfg->forwards->next;
		forward_free(cfg->forwards);
		cfg->forwards = n;
	}
	if (cfg->priv) {
		list_free(cfg->priv->files);
		free(cfg->priv->pos);
		free(cfg->priv);
	}
	free(cfg->file);
	free(cfg);
}

/* ------------------------------------------------------------ reading */

struct parse {
	struct config *cfg;
	FILE *err;
	int clause;		/* CL_* we are in */
	struct cfg_forward *fwd;	/* the forward-zone being read */
	int errors;
	int depth;		/* include nesting */
	const char *root;	/* chroot: stripped from names opened, or NULL */
	bool mem;		/* read from memory: include: not followed */
};

#define WORDS_MAX 8

/*
 * Split 'line' in place into at most WORDS_MAX words: bare words end at
 * white space, quoted ones at their closing quote (the quotes removed,
 * the inside kept verbatim, so '...' may hold "..." and the reverse).
 * A '#' where a word would start begins a comment.  Returns the number
 * of words, or -1 for an unterminated quote, -2 for too many words.
 */
static int
words_split(char *line, char **w)
{
	char *s = line;
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			return n;
		if (n == WORDS_MAX)
			return -2;
		if (*s == '"' || *s == '\'') {
			char q = *s++, *end = strchr(s, q);
			if (!end)
				return -1;
			*end = '\0';
			w[n++] = s;
			s = end + 1;
		} else {
			w[n++] = s;
			while (*s && *s != ' ' && *s != '\t')
				s++;
			if (*s)
				*s++ = '\0';
		}
	}
}

static bool
is_clause(const char *k, int *clause)
{
	if (strcmp(k, "server") == 0)
		*clause = CL_SERVER;
	else if (strcmp(k, "forward-zone") == 0)
		*clause = CL_FORWARD;
	else if (strcmp(k, "remote-control") == 0)
		*clause = CL_REMOTE;
	else
		return false;
	return true;
}

static int read_file(struct parse *ps, const char *file, const char *from,
    int fromline);
static void read_stream(struct parse *ps, FILE *in, const char *file);

static void
do_include(struct parse *ps, const char *pattern, const char *file,
    int line)
{
	glob_t g;
	int r;
	size_t i;

	if (ps->depth >= INCLUDE_DEPTH_MAX) {
		cfg_error(ps->err, file, line, "include", pattern,
		    "includes nested more than %d deep (an include loop?)",
		    INCLUDE_DEPTH_MAX);
		ps->errors++;
		return;
	}
	if (ps->mem) {
		cfg_error(ps->err, file, line, "include", pattern,
		    "not followed in a configuration given in memory");
		ps->errors++;
		return;
	}
	memset(&g, 0, sizeof(g));
	r = glob(config_path_in_root(pattern, ps->root), GLOB_ERR, NULL, &g);
	if (r == GLOB_NOMATCH) {
		/* a pattern may match nothing; a plain name must exist */
		if (strpbrk(pattern, "*?[") == NULL) {
			cfg_error(ps->err, file, line, "include", pattern,
			    "cannot open: %s", strerror(ENOENT));
			ps->errors++;
		}
		globfree(&g);
		return;
	}
	if (r != 0) {
		cfg_error(ps->err, file, line, "include", pattern,
		    "cannot read the files it names (%s)",
		    r == GLOB_NOSPACE ? "out of memory" : "read error");
		ps->errors++;
		globfree(&g);
		return;
	}
	ps->depth++;
	for (i = 0; i < g.gl_pathc; i++)
		read_file(ps, g.gl_pathv[i], file, line);
	ps->depth--;
	globfree(&g);
}

/* Handle one line; 'raw' is modified. */
static void
parse_line(struct parse *ps, char *raw, const char *file, int line)
{
	char *w[WORDS_MAX + 1];
	int n, i = 0, nclause;
	const struct opt *o;

	n = words_split(raw, w);
	if (n == -1) {
		cfg_error(ps->err, file, line, NULL, NULL,
		    "unterminated quote: a quoted value must end on the "
		    "same line");
		ps->errors++;
		return;
	}
	if (n == -2) {
		cfg_error(ps->err, file, line, NULL, NULL,
		    "too many words: expected \"key: value\"");
		ps->errors++;
		return;
	}
again:
	if (i >= n)
		return;
	{
		char *key = w[i], *colon = strchr(key, ':');
		const char *vals[2] = { NULL, NULL };
		int nvals, need;
		char shown[600];

		if (!colon || colon == key) {
			cfg_error(ps->err, file, line, key, NULL,
			    "expected \"key: value\" (a key ends with a "
			    "colon)");
			ps->errors++;
			return;
		}
		*colon = '\0';
		if (colon[1] != '\0') {
			/* "key:value" written without a space */
			w[i] = colon + 1;
		} else
			i++;
		if (is_clause(key, &nclause)) {
			ps->clause = nclause;
			ps->fwd = NULL;
			if (nclause == CL_FORWARD) {
				ps->fwd = forward_new(ps->cfg, file, line);
				if (!ps->fwd) {
					cfg_error(ps->err, file, line, key,
					    NULL, "out of memory");
					ps->errors++;
					return;
				}
			}
			goto again;
		}
		nvals = n - i;
		if (nvals > 2)
			nvals = 3;	/* "too many" */
		for (int k = 0; k < nvals && k < 2; k++)
			vals[k] = w[i + k];
		if (nvals == 0)
			shown[0] = '\0';
		else if (nvals == 1)
			snprintf(shown, sizeof(shown), "%s", vals[0]);
		else
			snprintf(shown, sizeof(shown), "%s %s", vals[0],
			    vals[1]);

		if (ps->clause == CL_UNKNOWN)
			return;	/* its clause was reported already */
		if (strcmp(key, "include") == 0) {
			if (nvals != 1) {
				cfg_error(ps->err, file, line, key, shown,
				    "expected one file name or glob pattern "
				    "(quote it if it contains spaces)");
				ps->errors++;
				return;
			}
			do_include(ps, vals[0], file, line);
			return;
		}
		o = opt_find(key);
		if (!o) {
			if (nvals == 0)
				cfg_error(ps->err, file, line, key, NULL,
				    "unknown clause (expected server:, "
				    "forward-zone: or remote-control:)");
			else
				cfg_error(ps->err, file, line, key, shown,
				    "unknown option: cairn does not have it "
				    "(cairn.conf(5) lists the options)");
			ps->errors++;
			if (nvals == 0)
				ps->clause = CL_UNKNOWN;
			return;
		}
		if (!(o->clause & ps->clause)) {
			if (ps->clause == CL_NONE)
				cfg_error(ps->err, file, line, key, shown,
				    "must be inside a clause: put it after "
				    "%s", clause_name(o->clause));
			else
				cfg_error(ps->err, file, line, key, shown,
				    "not allowed in %s (it belongs in %s)",
				    clause_name(ps->clause),
				    clause_name(o->clause));
			ps->errors++;
			return;
		}
		need = o->type == OPT_LIST2 ? 2 : 1;
		if (nvals != need) {
			if (need == 2)
				cfg_error(ps->err, file, line, key, shown,
				    "expected two values: %s", o->args);
			else if (nvals == 0)
				cfg_error(ps->err, file, line, key, shown,
				    "a value is needed (write \"\" for an "
				    "empty one)");
			else
				cfg_error(ps->err, file, line, key, shown,
				    "expected one value (put it in quotes "
				    "if it contains spaces)");
			ps->errors++;
			return;
		}
		if (opt_set(ps->cfg, ps->fwd, o, vals[0], vals[1], file, line,
		    ps->err) < 0)
			ps->errors++;
	}
}

/*
 * Read one file into ps.  'from'/'fromline' is the include: that named
 * it (NULL for the top file).  Returns 0, or -1 if it could not be read.
 */
static int
read_file(struct parse *ps, const char *path, const char *from,
    int fromline)
{
	FILE *in;
	const char *file;

	file = file_intern(ps->cfg, path);
	if (!file) {
		cfg_error(ps->err, from, fromline, NULL, path,
		    "out of memory");
		ps->errors++;
		return -1;
	}
	in = fopen(config_path_in_root(path, ps->root), "r");
	if (!in) {
		int e = errno;
		if (from)
			cfg_error(ps->err, from, fromline, "include", path,
			    "cannot open: %s", strerror(e));
		else
			cfg_error(ps->err, NULL, 0, NULL, path,
			    "cannot open: %s", strerror(e));
		ps->errors++;
		return -1;
	}
	read_stream(ps, in, file);
	fclose(in);
	return 0;
}

/* Read the lines of 'in' (named 'file', interned) into ps. */
static void
read_stream(struct parse *ps, FILE *in, const char *file)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	int line = 0;

	while ((len = getline(&buf, &cap, in)) >= 0) {
		line++;
		while (len > 0 && (buf[len - 1] == '\n' ||
		    buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (strlen(buf) != (size_t)len) {
			cfg_error(ps->err, file, line, NULL, NULL,
			    "contains a NUL byte: is this a text file?");
			ps->errors++;
			continue;
		}
		parse_line(ps, buf, file, line);
	}
	if (ferror(in)) {
		cfg_error(ps->err, file, line, NULL, NULL, "read error: %s",
		    strerror(errno));
		ps->errors++;
	}
	free(buf);
}

int
config_read(struct config *cfg, const char *file, FILE *err)
{
	return config_read_in_root(cfg, file, NULL, err);
}

int
config_read_in_root(struct config *cfg, const char *file, const char *root,
    FILE *err)
{
	struct parse ps;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.err = err;
	ps.clause = CL_NONE;
	ps.root = root;
	free(cfg->file);
	cfg->file = strdup(file);
	if (!cfg->file) {
		cfg_error(err, NULL, 0, NULL, file, "out of memory");
		return 1;
	}
	read_file(&ps, file, NULL, 0);
	return ps.errors;
}

int
config_read_mem(struct config *cfg, const char *name, const char *text,
    size_t len, FILE *err)
{
	struct parse ps;
	const char *file;
	FILE *in;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.err = err;
	ps.clause = CL_NONE;
	ps.mem = true;
	free(cfg->file);
	cfg->file = strdup(name);
	file = file_intern(cfg, name);
	if (!cfg->file || !file) {
		cfg_error(err, NULL, 0, NULL, name, "out of memory");
		return 1;
	}
	if (len == 0)
		return 0;	/* fmemopen may refuse a size of 0 */
	in = fmemopen((void *)text, len, "r");
	if (!in) {
		cfg_error(err, NULL, 0, NULL, name, "cannot read: %s",
		    strerror(errno));
		return 1;
	}
	read_stream(&ps, in, file);
	fclose(in);
	return ps.errors;
}

const char *
config_path_in_root(const char *path, const char *root)
{
	size_t n;

	if (path == NULL || root == NULL || root[0] != '/')
		return path;
	n = strlen(root);
	while (n > 0 && root[n - 1] == '/')
		n--;	/* "/var/cairn/" is "/var/cairn"; "/" is "" */
	if (n == 0 || strncmp(path, root, n) != 0)
		return path;
	if (path[n] == '\0')
		return "/";
	if (path[n] != '/')
		return path;	/* "/var/cairnx" is not inside */
	return path + n;
}

bool
config_path_is_in_root(const char *path, const char *root)
{
	return root == NULL || root[0] == '\0' ||
	    config_path_in_root(path, root) != path ||
	    strspn(root, "/") == strlen(root);
}

/* Replace *s by its name inside 'root'.  Returns 0 or -1. */
static int
str_strip_root(char **s, const char *root)
{
	const char *in = config_path_in_root(*s, root);
	char *copy;

	if (in == *s)
		return 0;
	copy = strdup(in);
	if (copy == NULL)
		return -1;
	free(*s);
	*s = copy;
	return 0;
}

int
config_strip_root(struct config *cfg, const char *root)
{
	static const char *const names[] = {
		"logfile", "pidfile", "tls-service-key", "tls-service-pem",
		"tls-cert-bundle", "tls-session-ticket-keys",
		"control-interface", "server-key-file", "server-cert-file",
		"control-key-file", "control-cert-file"
	};
	size_t i;

	if (root == NULL || root[0] == '\0')
		return 0;
	if (cfg->file && str_strip_root(&cfg->file, root) != 0)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct opt *o = opt_find(names[i]);
		void *p = (char *)cfg + o->off;

		if (o->type == OPT_STR) {
			if (*(char **)p && str_strip_root((char **)p,
			    root) != 0)
				return -1;
		} else {
			struct cfg_strlist *l;

			for (l = *(struct cfg_strlist **)p; l; l = l->next)
				if (l->str[0] == '/' &&
				    str_strip_root(&l->str, root) != 0)
					return -1;
		}
	}
	return 0;
}

int
config_set(struct config *cfg, const char *clause, const char *key,
    const char *value, const char *file, int line, FILE *err)
{
	const struct opt *o = opt_find(key);
	int cl = CL_SERVER;
	struct cfg_forward *fwd = NULL;
	const char *f = file_intern(cfg, file);
	char *copy = NULL, *w[WORDS_MAX + 1];
	int r;

	if (file && !f) {
		cfg_error(err, file, line, key, value, "out of memory");
		return -1;
	}
	if (clause) {
		char name[32];
		size_t n = strlen(clause);
		if (n && clause[n - 1] == ':')
			n--;
		if (n >= sizeof(name)) {
			cfg_error(err, f, line, clause, NULL, "unknown clause "
			    "(expected server:, forward-zone: or "
			    "remote-control:)");
			return -1;
		}
		memcpy(name, clause, n);
		name[n] = '\0';
		if (!is_clause(name, &cl)) {
			cfg_error(err, f, line, clause, NULL, "unknown clause "
			    "(expected server:, forward-zone: or "
			    "remote-control:)");
			return -1;
		}
	}
	if (!o) {
		cfg_error(err, f, line, key, value, "unknown option: cairn "
		    "does not have it (cairn.conf(5) lists the options)");
		return -1;
	}
	if (!clause)
		cl = o->clause;
	if (!(o->clause & cl)) {
		cfg_error(err, f, line, key, value, "not allowed in %s "
		    "(it belongs in %s)", clause_name(cl),
		    clause_name(o->clause));
		return -1;
	}
	if (cl == CL_FORWARD) {
		for (fwd = cfg->forwards; fwd && fwd->next; fwd = fwd->next)
			;
		if (!fwd && !(fwd = forward_new(cfg, f, line))) {
			cfg_error(err, f, line, key, value, "out of memory");
			return -1;
		}
	}
	if (o->type != OPT_LIST2)
		return opt_set(cfg, fwd, o, value, NULL, f, line, err);
	/* two words, each may be quoted */
	copy = strdup(value);
	if (!copy) {
		cfg_error(err, f, line, key, value, "out of memory");
		return -1;
	}
	r = words_split(copy, w);
	if (r != 2) {
		cfg_error(err, f, line, key, value, "expected two values: %s",
		    o->args);
		free(copy);
		return -1;
	}
	r = opt_set(cfg, fwd, o, w[0], w[1], f, line, err);
	free(copy);
	return r;
}

/* ------------------------------------------------------------ printing */

static void
opt_print(const struct opt *o, const void *base, FILE *out)
{
	const void *p = (const char *)base + o->off;
	const struct cfg_strlist *l;
	const struct cfg_str2list *l2;

	switch (o->type) {
	case OPT_INT:
		fprintf(out, "%d\n", *(const int *)p);
		break;
	case OPT_BOOL:
		fprintf(out, "%s\n", *(const int *)p ? "yes" : "no");
		break;
	case OPT_SIZE:
		fprintf(out, "%zu\n", *(const size_t *)p);
		break;
	case OPT_STR:
		fprintf(out, "%s\n", *(char *const *)p ?
		    *(char *const *)p : "");
		break;
	case OPT_LIST:
		for (l = *(struct cfg_strlist *const *)p; l; l = l->next)
			fprintf(out, "%s\n", l->str);
		break;
	case OPT_LIST2:
		for (l2 = *(struct cfg_str2list *const *)p; l2;
		    l2 = l2->next)
			fprintf(out, "%s %s\n", l2->str, l2->str2);
		break;
	}
}

int
config_print_option(const struct config *cfg, const char *key, FILE *out)
{
	const struct opt *o = opt_find(key);
	const struct cfg_forward *f;

	if (!o)
		return -1;
	if (o->clause == CL_FORWARD) {
		/* one value (or list) per forward-zone, in file order */
		for (f = cfg->forwards; f; f = f->next)
			opt_print(o, f, out);
	} else
		opt_print(o, cfg, out);
	return 0;
}

const char *
config_option_name(size_t i)
{
	return i < NOPTS ? opts[i].name : NULL;
}

/* ------------------------------------------------------------ checks */

static const struct cfg_pos *
pos_of(const struct config *cfg, const char *name)
{
	const struct opt *o = opt_find(name);

	if (!o || !cfg->priv || !cfg->priv->pos[o - opts].file)
		return NULL;
	return &cfg->priv->pos[o - opts];
}

/* Position of 'name', or the config file when it was not set. */
static void
pos_or_file(const struct config *cfg, const char *name, const char **file,
    int *line)
{
	const struct cfg_pos *p = pos_of(cfg, name);

	*file = p ? p->file : (cfg->file ? cfg->file : "(default)");
	*line = p ? p->line : 0;
}

/* Normalised comparison of two domain names ("a.b" == "A.B."). */
static bool
dname_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static int
check_service_port(const struct config *cfg, FILE *err, const char *file,
    int line, const char *key, const char *value, int port)
{
	int errors = 0;
	bool tls = cfg->tls_service_key[0] && cfg->tls_service_pem[0];

	if (port == cfg->https_port) {
#ifndef HAVE_NGHTTP2
		cfg_error(err, file, line, key, value, "this is the "
		    "https-port, but cairnd was built without "
		    "DNS-over-HTTPS: rebuild with ./configure "
		    "--with-libnghttp2");
		errors++;
#endif
		if (!tls && !cfg->http_notls_downstream) {
			cfg_error(err, file, line, key, value, "this is the "
			    "https-port (%d), which needs tls-service-key and "
			    "tls-service-pem (or http-notls-downstream: yes "
			    "to serve DoH without TLS)", port);
			errors++;
		}
	} else if (port == cfg->tls_port && !tls) {
		cfg_error(err, file, line, key, value, "this is the tls-port "
		    "(%d), which needs tls-service-key and tls-service-pem",
		    port);
		errors++;
	}
	return errors;
}

/* An interface given by name must exist and have an address now (it
 * is looked up again when the ports are opened). */
static int
check_interface_name(FILE *err, const struct cfg_strlist *s,
    const char *name)
{
	struct sockaddr_storage a[IFADDR_MAX];
	socklen_t len[IFADDR_MAX];
	int n;

	if (ip_ok(name))
		return 0;
	n = ifaddr_get(name, 0, a, len, IFADDR_MAX);
	if (n > 0)
		return 0;
	if (n == 0)
		cfg_error(err, s->file, s->line, "interface", s->str,
		    "network interface %s has no IPv4 or IPv6 address",
		    name);
	else if (errno == ENODEV)
		cfg_error(err, s->file, s->line, "interface", s->str,
		    "no network interface %s on this host (nor is it an IP "
		    "address)", name);
	else if (errno == E2BIG)
		cfg_error(err, s->file, s->line, "interface", s->str,
		    "network interface %s has more than %d addresses: give "
		    "them as addresses", name, IFADDR_MAX);
	else
		cfg_error(err, s->file, s->line, "interface", s->str,
		    "cannot list the addresses of %s: %s", name,
		    strerror(errno));
	return 1;
}

/*
 * outgoing-interface: at most CFG_OUTGOING_MAX addresses a family, each
 * one the host can send from now (a test bind with port 0).
 */
static int
check_outgoing(const struct config *cfg, FILE *err)
{
	const struct cfg_strlist *s;
	int n4 = 0, n6 = 0, errors = 0;

	for (s = cfg->outgoing_interfaces; s != NULL; s = s->next) {
		struct sockaddr_storage ss;
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		socklen_t len;
		int fd, n;

		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, s->str, &a4->sin_addr) == 1) {
			ss.ss_family = AF_INET;
			len = sizeof(*a4);
			n = ++n4;
		} else if (inet_pton(AF_INET6, s->str, &a6->sin6_addr) == 1) {
			ss.ss_family = AF_INET6;
			len = sizeof(*a6);
			n = ++n6;
		} else {
			continue;	/* said when read */
		}
		if (n > CFG_OUTGOING_MAX) {
			cfg_error(err, s->file, s->line, "outgoing-interface",
			    s->str, "more than %d addresses of one family",
			    CFG_OUTGOING_MAX);
			errors++;
			continue;
		}
		fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0) {
			cfg_error(err, s->file, s->line, "outgoing-interface",
			    s->str, "cannot send from this address: %s",
			    strerror(errno));
			errors++;
		}
		if (fd >= 0)
			close(fd);
	}
	return errors;
}

int
config_check(const struct config *cfg, FILE *err)
{
	const struct cfg_strlist *s;
	const struct cfg_forward *f, *g;
	const char *file;
	int line, errors = 0;

#ifndef HAVE_NGHTTP2
	const struct cfg_pos *p;

	if ((p = pos_of(cfg, "https-port")) != NULL) {
		char v[16];
		snprintf(v, sizeof(v), "%d", cfg->https_port);
		cfg_error(err, p->file, p->line, "https-port", v,
		    "cairnd was built without DNS-over-HTTPS: rebuild with "
		    "./configure --with-libnghttp2");
		errors++;
	}
	for (f = cfg->forwards; f; f = f->next)
		if (f->https_upstream) {
			const struct cfg_pos *fp =
			    &f->pos[opt_find("forward-https-upstream") - opts];
			cfg_error(err, fp->file ? fp->file : f->file,
			    fp->file ? fp->line : f->line,
			    "forward-https-upstream", "yes",
			    "cairnd was built without DNS-over-HTTPS: "
			    "rebuild with ./configure --with-libnghttp2");
			errors++;
		}
#endif
	/* the service ports of each interface */
	for (s = cfg->interfaces; s; s = s->next) {
		char addr[64];
		int port;
		if (addr_port_split(s->str, addr, sizeof(addr), &port) < 0)
			continue;	/* checked when read */
		if (port == 0)
			port = cfg->port;
		errors += check_service_port(cfg, err, s->file, s->line,
		    "interface", s->str, port);
		errors += check_interface_name(err, s, addr);
	}
	errors += check_outgoing(cfg, err);
	if (!cfg->interfaces &&
	    (cfg->port == cfg->https_port || cfg->port == cfg->tls_port)) {
		char v[16];
		snprintf(v, sizeof(v), "%d", cfg->port);
		pos_or_file(cfg, "port", &file, &line);
		errors += check_service_port(cfg, err, file, line, "port", v,
		    cfg->port);
	}
#ifndef IP_FREEBIND
	if (cfg->ip_freebind) {
		pos_or_file(cfg, "ip-freebind", &file, &line);
		cfg_error(err, file, line, "ip-freebind", "yes", "this system "
		    "has no IP_FREEBIND");
		errors++;
	}
#endif
	if (cfg->tls_service_key[0] && !cfg->tls_service_pem[0]) {
		pos_or_file(cfg, "tls-service-key", &file, &line);
		cfg_error(err, file, line, "tls-service-key",
		    cfg->tls_service_key, "tls-service-pem is not set: give "
		    "both the key and its certificate");
		errors++;
	}
	if (cfg->tls_service_pem[0] && !cfg->tls_service_key[0]) {
		pos_or_file(cfg, "tls-service-pem", &file, &line);
		cfg_error(err, file, line, "tls-service-pem",
		    cfg->tls_service_pem, "tls-service-key is not set: give "
		    "both the key and its certificate");
		errors++;
	}
	/* a chroot must hold the config file: a reload reads it there */
	if (cfg->chroot && cfg->chroot[0] && cfg->file) {
		char abs[PATH_MAX];
		const char *cf = cfg->file;

		/* cairnd reads an absolute name; cairn-checkconf may not */
		if (cf[0] != '/' && realpath(cf, abs) != NULL)
			cf = abs;
		if (!config_path_is_in_root(cf, cfg->chroot)) {
			pos_or_file(cfg, "chroot", &file, &line);
			cfg_error(err, file, line, "chroot", cfg->chroot,
			    "the config file %s is not inside it: put it "
			    "(and what it includes) under %s, a reload reads "
			    "it from there", cf, cfg->chroot);
			errors++;
		}
	}
	/* forward zones */
	for (f = cfg->forwards; f; f = f->next) {
		if (!f->name) {
			cfg_error(err, f->file, f->line, "forward-zone", NULL,
			    "has no name: add name: \".\" or the zone's "
			    "domain name");
			errors++;
			continue;
		}
		if (!f->addrs && !f->hosts) {
			cfg_error(err, f->file, f->line, "forward-zone",
			    f->name, "has no forward-addr or forward-host: "
			    "give at least one upstream");
			errors++;
		}
		if (f->tls_upstream && f->https_upstream) {
			cfg_error(err, f->file, f->line, "forward-zone",
			    f->name, "forward-tls-upstream and "
			    "forward-https-upstream are both yes: choose one");
			errors++;
		}
		for (g = cfg->forwards; g != f; g = g->next)
			if (g->name && dname_equal(g->name, f->name))
				break;
		if (g != f) {
			cfg_error(err, f->name_file, f->name_line, "name",
			    f->name, "duplicate forward-zone: the same zone "
			    "is already at %s:%d", g->name_file ?
			    g->name_file : "?", g->name_line);
			errors++;
		}
	}
	return errors;
}
