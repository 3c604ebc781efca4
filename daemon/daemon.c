/*
 * daemon/daemon.c - the daemon's main-thread state: configuration,
 * listening ports, shared tables, workers, signals, reload and the
 * statistics the control server prints (the functions of daemon.h).
 *
 * Reload: the new file is read and checked at once (errors go to the
 * caller and the log, the old config stays); the swap runs from an
 * event on the main loop.  New shared state is built before the workers
 * stop, so a failure leaves the old daemon serving.  Listening sockets
 * are kept when the options that shape them did not change (queries
 * arriving meanwhile wait in the socket buffers); the message cache is
 * kept when keep_cache is asked and the resolver's options (cache size,
 * TTL bounds, local zones and data, forwards, access control) did not
 * change.  Counters start again from zero with the new workers, as in
 * Unbound.
 *
 * Certificate rotation: when the re-read config is the same as the one
 * in force (every option prints the same), the workers and their
 * connections are kept: only the TLS context is built again from
 * tls-service-key/tls-service-pem and swapped into the listeners' specs,
 * so new connections get the new certificate while open ones go on with
 * the old (each SSL holds a reference to its SSL_CTX).  The cache is
 * flushed (unless keep_cache), the local and forward zones built again
 * from the config (dropping run-time edits), the counters reset and the
 * log reopened, as a full reload would.  A new key or certificate that
 * cannot be read or does not match keeps the old context, and the reason
 * is logged.
 *
 * This file does not parse DNS or HTTP, and opens sockets only through
 * comm_ports_open.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "comm/comm.h"
#include "daemon/daemon.h"
#include "daemon/remote.h"
#include "daemon/stats.h"
#include "daemon/worker.h"
#include "module/dns/dns_stream.h"
#include "resolver/resolver.h"
#include "util/config.h"
#include "util/log.h"
#include "util/netblock.h"
#ifdef HAVE_NGHTTP2
#include "module/doh/doh.h"
#endif

/* Longest a reload waits for requests in progress (workers_drain). */
#define RELOAD_DRAIN_MSEC 1000

/*
 * TLS contexts replaced while the workers ran (certificate-only reload).
 * A worker may have loaded the old pointer from its spec and be about to
 * SSL_new() it, so they are freed only once the workers are stopped
 * (full reload, daemon_free).  When TLS_RETIRED_MAX rotations happen
 * without a full reload the oldest is freed: it was replaced that many
 * reloads ago, far longer than the few instructions of that window.
 * File scope: there is one daemon per process, and daemon.h is not ours
 * to extend.
 */
#define TLS_RETIRED_MAX 32
static SSL_CTX *tls_retired[TLS_RETIRED_MAX];
static int tls_nretired;

/* The directory cairnd chrooted to (daemon_chrooted), or NULL.  File
 * scope for the same reason as tls_retired. */
static char *chroot_dir;

static const struct comm_alpn alpn_dot[] = {
	{ "dot", &dns_stream_proto },
	{ NULL, NULL }
};
#ifdef HAVE_NGHTTP2
static const struct comm_alpn alpn_h2[] = {
	{ "h2", &doh_h2_proto },
	{ "http/1.1", &doh_h1_proto },
	{ NULL, NULL }
};
#endif

/* ------------------------------------------------------------ helpers */

static bool
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
strlist_same(const struct cfg_strlist *a, const struct cfg_strlist *b)
{
	for (; a && b; a = a->next, b = b->next)
		if (!str_same(a->str, b->str))
			return false;
	return a == NULL && b == NULL;
}

static bool
str2list_same(const struct cfg_str2list *a, const struct cfg_str2list *b)
{
	for (; a && b; a = a->next, b = b->next)
		if (!str_same(a->str, b->str) || !str_same(a->str2, b->str2))
			return false;
	return a == NULL && b == NULL;
}

static bool
forwards_same(const struct cfg_forward *a, const struct cfg_forward *b)
{
	for (; a && b; a = a->next, b = b->next)
		if (!str_same(a->name, b->name) ||
		    !strlist_same(a->addrs, b->addrs) ||
		    !strlist_same(a->hosts, b->hosts) ||
		    a->first != b->first || a->tls_upstream != b->tls_upstream ||
		    a->https_upstream != b->https_upstream ||
		    !str_same(a->http_endpoint, b->http_endpoint) ||
		    a->no_cache != b->no_cache)
			return false;
	return a == NULL && b == NULL;
}

static int
threads_of(const struct config *cfg)
{
	return cfg->num_threads > 0 ? cfg->num_threads : 1;
}

/* Would comm_ports_open open the same sockets for both configs? */
static bool
ports_same(const struct config *a, const struct config *b)
{
	return strlist_same(a->interfaces, b->interfaces) &&
	    a->interface_automatic == b->interface_automatic &&
	    a->ip_freebind == b->ip_freebind &&
	    a->so_rcvbuf == b->so_rcvbuf && a->so_sndbuf == b->so_sndbuf &&
	    a->port == b->port && a->tls_port == b->tls_port &&
	    a->https_port == b->https_port && a->do_ip4 == b->do_ip4 &&
	    a->do_ip6 == b->do_ip6 && a->do_udp == b->do_udp &&
	    a->do_tcp == b->do_tcp &&
	    (a->incoming_num_tcp > 0) == (b->incoming_num_tcp > 0) &&
	    a->so_reuseport == b->so_reuseport &&
	    (!a->so_reuseport || threads_of(a) == threads_of(b)) &&
	    a->http_notls_downstream == b->http_notls_downstream &&
	    strlist_same(a->proxy_protocol_ports, b->proxy_protocol_ports);
}

/* May the resolver's shared state built from 'a' serve config 'b'? */
static bool
resolver_same(const struct config *a, const struct config *b)
{
	return a->msg_cache_size == b->msg_cache_size &&
	    a->cache_max_ttl == b->cache_max_ttl &&
	    a->cache_min_ttl == b->cache_min_ttl &&
	    a->cache_max_negative_ttl == b->cache_max_negative_ttl &&
	    a->edns_buffer_size == b->edns_buffer_size &&
	    a->outgoing_queries_per_port == b->outgoing_queries_per_port &&
	    strlist_same(a->outgoing_interfaces, b->outgoing_interfaces) &&
	    a->msg_buffer_size == b->msg_buffer_size &&
	    str2list_same(a->local_zones, b->local_zones) &&
	    strlist_same(a->local_data, b->local_data) &&
	    str2list_same(a->access_controls, b->access_controls) &&
	    forwards_same(a->forwards, b->forwards) &&
	    strlist_same(a->send_client_subnets, b->send_client_subnets) &&
	    a->max_client_subnet_ipv4 == b->max_client_subnet_ipv4 &&
	    a->max_client_subnet_ipv6 == b->max_client_subnet_ipv6 &&
	    a->client_subnet_always_forward ==
	    b->client_subnet_always_forward &&
	    str_same(a->tls_cert_bundle, b->tls_cert_bundle);
}

/* Does the control server have to be restarted for config 'b'? */
static bool
remote_same(const struct config *a, const struct config *b)
{
	return a->control_enable == b->control_enable &&
	    strlist_same(a->control_interfaces, b->control_interfaces) &&
	    a->control_port == b->control_port &&
	    a->control_use_cert == b->control_use_cert &&
	    str_same(a->server_key_file, b->server_key_file) &&
	    str_same(a->server_cert_file, b->server_cert_file) &&
	    str_same(a->control_key_file, b->control_key_file) &&
	    str_same(a->control_cert_file, b->control_cert_file);
}

static void
ports_close_all(struct comm_port **ports, int n)
{
	int i;

	if (ports == NULL)
		return;
	for (i = 0; i < n; i++)
		comm_ports_close(ports[i]);
	free(ports);
}

/*
 * Open the listening sockets of 'cfg': one set per worker with
 * so-reuseport, else one set shared by the workers.  Returns 0, or -1
 * with the reason in 'err'.
 */
static int
ports_open_all(const struct config *cfg, struct comm_port ***out, int *nout,
    char *err, size_t errlen)
{
	int n = cfg->so_reuseport ? threads_of(cfg) : 1, i;
	struct comm_port **ports;

	ports = calloc((size_t)n, sizeof(*ports));
	if (ports == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		err[0] = 0;
		ports[i] = comm_ports_open(cfg, err, errlen);
		if (ports[i] == NULL) {
			if (err[0] == 0)
				snprintf(err, errlen, "no listening port "
				    "could be opened");
			ports_close_all(ports, i);
			return -1;
		}
	}
	*out = ports;
	*nout = n;
	return 0;
}

/*
 * Reload with other ports: open the sets of 'cfg', taking over each
 * socket of d's sets that stays configured (so no query to it is lost);
 * d's other sockets are closed.  When the sets do not pair up (another
 * so-reuseport or thread count) or taking over fails, everything is
 * closed and opened afresh.  d->ports is empty afterwards.  Returns 0,
 * or -1 with the reason in 'err'.
 */
static int
ports_reopen_all(struct daemon *d, const struct config *cfg,
    struct comm_port ***out, int *nout, char *err, size_t errlen)
{
	int n = cfg->so_reuseport ? threads_of(cfg) : 1, i = 0;
	struct comm_port **ports = NULL;

	if (d->ports != NULL && d->cfg->so_reuseport == cfg->so_reuseport &&
	    n == d->nports)
		ports = calloc((size_t)n, sizeof(*ports));
	for (; ports != NULL && i < n; i++) {
		ports[i] = comm_ports_reopen(cfg, &d->ports[i], err, errlen);
		if (ports[i] == NULL)
			break;
	}
	ports_close_all(d->ports, d->nports);
	d->ports = NULL;
	d->nports = 0;
	if (ports != NULL && i == n) {
		*out = ports;
		*nout = n;
		return 0;
	}
	ports_close_all(ports, i);
	return ports_open_all(cfg, out, nout, err, errlen);
}

static bool
ports_need_tls(struct comm_port **ports, int n)
{
	struct comm_port *p;
	int i;

	for (i = 0; i < n; i++)
		for (p = ports[i]; p; p = p->next)
			if (p->kind == COMM_PORT_TLS ||
			    p->kind == COMM_PORT_HTTPS)
				return true;
	return false;
}

static bool
cfg_has_tls_keys(const struct config *cfg)
{
	return cfg->tls_service_key && cfg->tls_service_key[0] &&
	    cfg->tls_service_pem && cfg->tls_service_pem[0];
}

/* access-control and tcp-connection-limit tables.  Returns 0 or -1. */
static int
tables_build(const struct config *cfg, struct netblock_set *acl,
    struct netblock_set *tcl)
{
	const struct cfg_str2list *l;
	char *end;
	long limit;

	memset(acl, 0, sizeof(*acl));
	memset(tcl, 0, sizeof(*tcl));
	if (acl_build(acl, cfg) != 0) {
		log_err("could not build the access-control table");
		goto fail;
	}
	for (l = cfg->tcp_connection_limits; l; l = l->next) {
		errno = 0;
		limit = strtol(l->str2, &end, 10);
		if (errno || *end || limit < 0 ||
		    netblock_add(tcl, l->str, limit) != 0) {
			log_err("%s:%d: tcp-connection-limit: %s %s: bad entry",
			    l->file ? l->file : "config", l->line, l->str,
			    l->str2);
			goto fail;
		}
	}
	netblock_finish(tcl);
	return 0;
fail:
	netblock_clear(acl);
	netblock_clear(tcl);
	return -1;
}

static void
specs_set(struct daemon *d)
{
	memset(d->spec, 0, sizeof(d->spec));
	d->spec[COMM_PORT_TCP].proto = &dns_stream_proto;
	d->spec[COMM_PORT_TLS].proto = &dns_stream_proto;
	d->spec[COMM_PORT_TLS].alpn = alpn_dot;
	d->spec[COMM_PORT_TLS].ssl_ctx = d->tls;
#ifdef HAVE_NGHTTP2
	/* without ALPN: the HTTP/2 preface or HTTP/1.x decides */
	d->spec[COMM_PORT_HTTPS].proto = &doh_detect_proto;
	d->spec[COMM_PORT_HTTPS].alpn = alpn_h2;
	d->spec[COMM_PORT_HTTPS].ssl_ctx = d->tls;
	d->spec[COMM_PORT_HTTPS].nodelay = d->cfg->http_nodelay;
	d->spec[COMM_PORT_HTTP].proto = &doh_detect_proto;
	d->spec[COMM_PORT_HTTP].nodelay = d->cfg->http_nodelay;
#endif
}

/* Read and check the config file (or the built-in default), apply the
 * command line.  NULL with the errors written to 'err'. */
static struct config *
config_load(struct daemon *d, FILE *err)
{
	struct config *cfg = config_new();

	if (cfg == NULL) {
		if (err)
			fprintf(err, "out of memory\n");
		return NULL;
	}
	if ((d->cfgfile && config_read_in_root(cfg, d->cfgfile, chroot_dir,
	    err) != 0) || config_check(cfg, err) != 0) {
		config_free(cfg);
		return NULL;
	}
	if (chroot_dir != NULL) {
		/* as Unbound: the chroot of the start stays */
		if (strcmp(cfg->chroot, chroot_dir) != 0)
			log_warn("chroot: %s: cairnd stays in %s until it is "
			    "restarted", cfg->chroot[0] ? cfg->chroot : "\"\"",
			    chroot_dir);
		if (config_strip_root(cfg, chroot_dir) != 0) {
			if (err)
				fprintf(err, "out of memory\n");
			config_free(cfg);
			return NULL;
		}
	}
	if (d->cmd_port)
		cfg->port = d->cmd_port;
	return cfg;
}

static void
verbosity_apply(struct daemon *d)
{
	log_verbosity = d->cfg->verbosity + d->cmd_verbose;
}

/* Send each line of 'text' to the log as an error. */
static void
log_lines(const char *text)
{
	const char *p = text, *nl;

	while (p && *p) {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			log_err("%s", p);
			break;
		}
		if (nl > p)
			log_err("%.*s", (int)(nl - p), p);
		p = nl + 1;
	}
}

static void stats_collect(struct daemon *d, bool reset,
    struct stats_thread *th);

/* ------------------------------------------------------------ workers */

static void
workers_stop(struct daemon *d)
{
	int i;

	/* wake them all first, then join: they stop in parallel */
	for (i = 0; i < d->nworkers; i++)
		if (d->workers[i] && d->workers[i]->started)
			event_active(d->workers[i]->stop_ev, 0, 0);
	for (i = 0; i < d->nworkers; i++)
		worker_free(d->workers[i]);
	free(d->workers);
	d->workers = NULL;
	free(d->baseline);
	d->baseline = NULL;
	d->nworkers = 0;
}

/*
 * Before a reload stops the workers: give the requests waiting for an
 * upstream up to 'msec' to be answered, so that a client querying
 * through a reload is not left without its answer.  The workers keep
 * serving meanwhile; this only waits (bounded), it does not refuse.
 */
static void
workers_drain(struct daemon *d, int msec)
{
	uint64_t pending;
	int waited, i;

	for (waited = 0; waited < msec; waited += 20) {
		worker_poll(d->workers, d->nworkers, false);
		pending = 0;
		for (i = 0; i < d->nworkers; i++) {
			pthread_mutex_lock(&d->workers[i]->mu);
			pending += d->workers[i]->gauge_pending;
			pthread_mutex_unlock(&d->workers[i]->mu);
		}
		if (pending == 0)
			return;
		if (waited == 0)
			verbose(VERB_DETAIL, "reload: waiting for %llu "
			    "requests in progress", (unsigned long long)pending);
		usleep(20 * 1000);
	}
	verbose(VERB_DETAIL, "reload: requests still in progress are dropped");
}

static int
workers_start(struct daemon *d)
{
	int n = threads_of(d->cfg), i;

	d->workers = calloc((size_t)n, sizeof(*d->workers));
	d->baseline = calloc((size_t)n, sizeof(*d->baseline));
	if (d->workers == NULL || d->baseline == NULL) {
		log_err("out of memory starting the workers");
		goto fail;
	}
	d->nworkers = n;
	for (i = 0; i < n; i++) {
		d->workers[i] = worker_new(d, i,
		    d->ports[d->nports > 1 ? i : 0]);
		if (d->workers[i] == NULL)
			goto fail;
	}
	for (i = 0; i < n; i++)
		if (worker_start(d->workers[i]) != 0)
			goto fail;
	gettimeofday(&d->reset_time, NULL);
	verbose(VERB_OPS, "%d worker thread%s started", n, n > 1 ? "s" : "");
	return 0;
fail:
	workers_stop(d);
	return -1;
}

/* ------------------------------------------------------------- reload */

/* Free the contexts retired by certificate-only reloads: call only when
 * no worker runs. */
static void
tls_retired_free(void)
{
	int i;

	for (i = 0; i < tls_nretired; i++)
		comm_tls_ctx_free(tls_retired[i]);
	tls_nretired = 0;
}

/* Make 'ctx' the context of new TLS connections while the workers run;
 * the old one is retired (see tls_retired). */
static void
tls_swap(struct daemon *d, SSL_CTX *ctx)
{
	SSL_CTX *old = d->tls;
	int k;

	d->tls = ctx;
	for (k = 0; k < (int)(sizeof(d->spec) / sizeof(d->spec[0])); k++)
		if (d->spec[k].ssl_ctx != NULL)
			__atomic_store_n(&d->spec[k].ssl_ctx, ctx,
			    __ATOMIC_RELEASE);
	if (old == NULL)
		return;
	if (tls_nretired == TLS_RETIRED_MAX) {
		comm_tls_ctx_free(tls_retired[0]);
		memmove(tls_retired, tls_retired + 1,
		    (TLS_RETIRED_MAX - 1) * sizeof(tls_retired[0]));
		tls_nretired--;
	}
	tls_retired[tls_nretired++] = old;
}

/* Every option of 'cfg' as text (NULL: out of memory); free() it. */
static char *
config_text(const struct config *cfg)
{
	const char *name;
	char *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	for (i = 0; (name = config_option_name(i)) != NULL; i++) {
		fprintf(f, "%s\n", name);
		(void)config_print_option(cfg, name, f);
	}
	fprintf(f, "%s%s\n", cfg->file ? "" : "-", cfg->file ? cfg->file : "");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Do 'a' and 'b' set every option the same (false when unsure)? */
static bool
config_same(const struct config *a, const struct config *b)
{
	char *ta = config_text(a), *tb = config_text(b);
	bool same = ta && tb && a->port == b->port && strcmp(ta, tb) == 0;

	free(ta);
	free(tb);
	return same;
}

static void
log_reopen(struct daemon *d)
{
	if (d->debug < 2) {
		log_close();
		if (log_open("cairnd", d->cfg->logfile, d->cfg->use_syslog) < 0)
			log_err_errno("could not open the log %s",
			    d->cfg->logfile);
	}
}

/*
 * Reload with an unchanged config: keep the workers and connections,
 * read the certificate and key again, build the local and forward zones
 * again from the config (run-time edits go, as in Unbound).  Takes 'cfg'
 * (freed: the one in force is the same).
 */
static void
reload_same(struct daemon *d, struct config *cfg, bool keep_cache)
{
	char err[512];
	SSL_CTX *ctx;

	config_free(cfg);
	log_info("reloading: configuration unchanged, connections kept");
	if (d->tls != NULL || cfg_has_tls_keys(d->cfg)) {
		err[0] = 0;
		ctx = comm_tls_ctx_new(d->cfg, err, sizeof(err));
		if (ctx == NULL) {
			log_err("reload: %s; the old certificate stays in use",
			    err[0] ? err : "could not set up TLS");
		} else {
			tls_swap(d, ctx);
			verbose(VERB_OPS, "reload: TLS certificate and key "
			    "read again from %s and %s",
			    d->cfg->tls_service_pem, d->cfg->tls_service_key);
		}
	}
	if (!keep_cache && d->sh)
		(void)res_shared_flush(d->sh, NULL, 0, 0, false);
	/* local and forward zones from the file again: run-time edits go */
	if (d->sh)
		(void)res_shared_edits_reset(d->sh, d->cfg);
	stats_collect(d, true, NULL);
	gettimeofday(&d->reset_time, NULL);
	verbosity_apply(d);
	log_reopen(d);
	log_info("reload done");
}

struct parts {
	struct config *cfg;
	struct res_shared *sh;		/* NULL: keep the old one */
	struct netblock_set acl, tcl;
	struct doh_shared *doh;
	SSL_CTX *tls;
	struct comm_port **ports;	/* NULL: keep the old ones */
	int nports;
	bool keep_tls;			/* new key unusable: keep d->tls */
	bool keep_sh;			/* d->sh kept: its edits reset at
					   the commit */
};

static void
parts_free(struct parts *p)
{
	if (p->sh)
		res_shared_free(p->sh);
	netblock_clear(&p->acl);
	netblock_clear(&p->tcl);
#ifdef HAVE_NGHTTP2
	if (p->doh)
		doh_shared_free(p->doh);
#endif
	if (p->tls)
		comm_tls_ctx_free(p->tls);
	ports_close_all(p->ports, p->nports);
	if (p->cfg)
		config_free(p->cfg);
	memset(p, 0, sizeof(*p));
}

/* Build what does not depend on the workers being stopped. */
static int
parts_build(struct daemon *d, struct parts *p, bool keep_cache)
{
	char err[512];

	if (tables_build(p->cfg, &p->acl, &p->tcl) != 0)
		return -1;
#ifdef HAVE_NGHTTP2
	p->doh = doh_shared_new(p->cfg);
	if (p->doh == NULL) {
		log_err("could not set up DNS-over-HTTPS");
		return -1;
	}
#endif
	if (keep_cache && d->sh && resolver_same(d->sh_cfg, p->cfg)) {
		verbose(VERB_DETAIL, "reload: message cache kept");
		p->keep_sh = true;
	} else {
		if (keep_cache)
			log_info("reload: resolver options changed, the "
			    "message cache starts empty");
		p->sh = res_shared_new(p->cfg);
		if (p->sh == NULL) {
			log_err("could not set up the resolver");
			return -1;
		}
	}
	if (cfg_has_tls_keys(p->cfg) ||
	    (ports_same(d->cfg, p->cfg) && d->tls)) {
		p->tls = comm_tls_ctx_new(p->cfg, err, sizeof(err));
		if (p->tls == NULL && d->tls && ports_same(d->cfg, p->cfg)) {
			/* the listeners stay: they go on with the old
			 * certificate, the rest of the config is applied */
			log_err("reload: %s; the old certificate stays in use",
			    err);
			p->keep_tls = true;
		} else if (p->tls == NULL) {
			log_err("%s", err);
			return -1;
		}
	}
	return 0;
}

static void
reload_now(struct daemon *d, struct config *cfg, bool keep_cache)
{
	struct parts p;
	char err[512];
	bool new_ports, new_remote, failed = false;

	if (d->cfg && config_same(d->cfg, cfg)) {
		reload_same(d, cfg, keep_cache);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	log_info("reloading the configuration%s", d->cfgfile ? "" :
	    " (built-in default)");
	if (parts_build(d, &p, keep_cache) != 0) {
		log_err("reload failed: the old configuration stays");
		parts_free(&p);
		return;
	}
	new_ports = !ports_same(d->cfg, p.cfg);
	new_remote = !remote_same(d->cfg, p.cfg);

	workers_drain(d, RELOAD_DRAIN_MSEC);
	workers_stop(d);
	tls_retired_free();
	if (new_remote) {
		/* its options changed: it listens again below, on the new
		 * config (it answers a pending "reload" before closing) */
		remote_stop(d->remote);
		d->remote = NULL;
	}

	if (new_ports) {
		/* the sockets that stay configured are taken over, the
		 * others closed (they may hold addresses the new ones want) */
		if (ports_reopen_all(d, p.cfg, &p.ports, &p.nports, err,
		    sizeof(err)) != 0 || (ports_need_tls(p.ports, p.nports) &&
		    p.tls == NULL)) {
			if (p.ports)
				log_err("reload: a TLS or HTTPS port needs "
				    "tls-service-key and tls-service-pem");
			else
				log_err("reload: %s", err);
			log_err("reload failed: the old configuration stays");
			parts_free(&p);
			if (ports_open_all(d->cfg, &d->ports, &d->nports, err,
			    sizeof(err)) != 0) {
				log_err("could not reopen the old ports: %s; "
				    "stopping", err);
				d->nports = 0;
				d->exit_code = 1;
				daemon_stop(d);
				return;
			}
			failed = true;
			goto restart;
		}
	}

	/* commit: swap in the new parts, free the old ones */
	{
		struct parts old;

		memset(&old, 0, sizeof(old));
		old.acl = d->acl;
		old.tcl = d->tcl;
		old.doh = d->doh;
		d->acl = p.acl;
		d->tcl = p.tcl;
		d->doh = p.doh;
		if (!p.keep_tls) {
			old.tls = d->tls;
			d->tls = p.tls;
		}
		if (new_ports) {
			d->ports = p.ports;
			d->nports = p.nports;
		}
		if (p.keep_sh) {
			/* zones of the new file; run-time edits go all the
			 * same (not before: a reload that fails keeps them) */
			(void)res_shared_edits_reset(d->sh, p.cfg);
		}
		if (p.sh) {
			old.sh = d->sh;
			if (d->sh_cfg != d->cfg)
				config_free(d->sh_cfg);
			d->sh = p.sh;
			d->sh_cfg = p.cfg;
		}
		/* the old config goes, unless the kept resolver state was
		 * built from it (then it goes with that state) */
		if (d->sh_cfg != d->cfg)
			old.cfg = d->cfg;
		d->cfg = p.cfg;
		parts_free(&old);
		memset(&p, 0, sizeof(p));
	}
	specs_set(d);
	verbosity_apply(d);
	log_reopen(d);
restart:
	if (d->remote == NULL) {
		d->remote = remote_start(d, err, sizeof(err));
		if (d->remote == NULL)
			log_err("reload: control server: %s; running without "
			    "it", err);
	}
	if (workers_start(d) != 0) {
		log_err("could not restart the workers; stopping");
		d->exit_code = 1;
		daemon_stop(d);
		return;
	}
	if (!failed)
		log_info("reload done");
}

static void
reload_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	struct config *cfg = d->pending_cfg;

	d->pending_cfg = NULL;
	if (cfg && d->running)
		reload_now(d, cfg, d->pending_keep_cache);
	else if (cfg)
		config_free(cfg);
}

int
daemon_reload(struct daemon *d, bool keep_cache, FILE *err)
{
	struct config *cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	/* catch the errors, to send them both to 'err' and to the log */
	mem = open_memstream(&text, &len);
	cfg = config_load(d, mem ? mem : err);
	if (mem) {
		fclose(mem);
		if (cfg == NULL) {
			log_err("reload: %s has errors; the old "
			    "configuration stays", d->cfgfile ? d->cfgfile :
			    "the built-in default");
			log_lines(text);
			if (err && text)
				fputs(text, err);
		}
		free(text);
	}
	if (cfg == NULL)
		return -1;
	if (d->pending_cfg)
		config_free(d->pending_cfg);
	d->pending_cfg = cfg;
	d->pending_keep_cache = keep_cache;
	event_active(d->reload_ev, 0, 0);
	return 0;
}

/* ------------------------------------------------------------ signals */

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct daemon *d = arg;

	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		/* like Unbound's reload: the cache is not kept */
		(void)daemon_reload(d, false, NULL);
		break;
	default:
		log_info("signal %d: stopping", (int)sig);
		daemon_stop(d);
		break;
	}
}

/* -------------------------------------------------------- lifecycle */

struct daemon *
daemon_new(const char *cfgfile, int cmd_port, int cmd_verbose, int debug)
{
	struct daemon *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if (cfgfile && (d->cfgfile = strdup(cfgfile)) == NULL) {
		free(d);
		return NULL;
	}
	d->cmd_port = cmd_port;
	d->cmd_verbose = cmd_verbose;
	d->debug = debug;
	gettimeofday(&d->start_time, NULL);
	d->reset_time = d->start_time;
	return d;
}

int
daemon_prepare(struct daemon *d, FILE *err)
{
	char msg[512];

	d->cfg = config_load(d, err);
	if (d->cfg == NULL)
		return -1;
	d->sh_cfg = d->cfg;
	verbosity_apply(d);
	if (ports_open_all(d->cfg, &d->ports, &d->nports, msg,
	    sizeof(msg)) != 0) {
		fprintf(err, "%s\n", msg);
		return -1;
	}
	if (ports_need_tls(d->ports, d->nports) || cfg_has_tls_keys(d->cfg)) {
		d->tls = comm_tls_ctx_new(d->cfg, msg, sizeof(msg));
		if (d->tls == NULL) {
			fprintf(err, "%s\n", msg);
			return -1;
		}
	}
	if (tables_build(d->cfg, &d->acl, &d->tcl) != 0) {
		fprintf(err, "bad access-control or tcp-connection-limit\n");
		return -1;
	}
	d->sh = res_shared_new(d->cfg);
	if (d->sh == NULL) {
		fprintf(err, "could not set up the resolver\n");
		return -1;
	}
#ifdef HAVE_NGHTTP2
	d->doh = doh_shared_new(d->cfg);
	if (d->doh == NULL) {
		fprintf(err, "could not set up DNS-over-HTTPS\n");
		return -1;
	}
#endif
	specs_set(d);
	return 0;
}

int
daemon_start(struct daemon *d)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	char err[512];
	int i;

	d->base = event_base_new();
	if (d->base == NULL) {
		log_err("could not create the main event base");
		return -1;
	}
	for (i = 0; i < 4; i++) {
		d->sig_ev[i] = evsignal_new(d->base, sigs[i], signal_cb, d);
		if (d->sig_ev[i] == NULL || event_add(d->sig_ev[i], NULL)) {
			log_err("could not set up signal %d", sigs[i]);
			return -1;
		}
	}
	d->reload_ev = event_new(d->base, -1, 0, reload_cb, d);
	if (d->reload_ev == NULL) {
		log_err("out of memory");
		return -1;
	}
	/* the control server runs on this thread's loop (daemon/remote.c);
	 * it listens before the workers answer, so that whoever sees DNS
	 * answers can also reach the control socket */
	err[0] = 0;
	d->remote = remote_start(d, err, sizeof(err));
	if (d->remote == NULL) {
		log_err("control server: %s", err);
		return -1;
	}
	if (workers_start(d) != 0)
		return -1;
	d->running = true;
	return 0;
}

int
daemon_run(struct daemon *d)
{
	log_info("cairnd " PACKAGE_VERSION " started");
	event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
	d->running = false;
	log_info("cairnd stopping");
	return d->exit_code;
}

void
daemon_free(struct daemon *d)
{
	int i;

	if (d == NULL)
		return;
	/* the control server first: its commands reach into the rest */
	remote_stop(d->remote);
	d->remote = NULL;
	workers_stop(d);
	tls_retired_free();
	for (i = 0; i < 4; i++)
		if (d->sig_ev[i])
			event_free(d->sig_ev[i]);
	if (d->reload_ev)
		event_free(d->reload_ev);
	if (d->base)
		event_base_free(d->base);
	if (d->pending_cfg)
		config_free(d->pending_cfg);
	if (d->sh)
		res_shared_free(d->sh);
#ifdef HAVE_NGHTTP2
	if (d->doh)
		doh_shared_free(d->doh);
#endif
	if (d->tls)
		comm_tls_ctx_free(d->tls);
	netblock_clear(&d->acl);
	netblock_clear(&d->tcl);
	ports_close_all(d->ports, d->nports);
	if (d->sh_cfg && d->sh_cfg != d->cfg)
		config_free(d->sh_cfg);
	if (d->cfg)
		config_free(d->cfg);
	free(d->cfgfile);
	free(d);
	free(chroot_dir);
	chroot_dir = NULL;
}

/* ------------------------------------------------- daemon.h contract */

int
daemon_chrooted(struct daemon *d, const char *dir)
{
	free(chroot_dir);
	chroot_dir = strdup(dir);
	if (chroot_dir == NULL)
		return -1;
	/* d->sh_cfg is d->cfg before the first reload */
	return config_strip_root(d->cfg, chroot_dir);
}

const struct config *
daemon_config(const struct daemon *d)
{
	return d->cfg;
}

struct res_shared *
daemon_res_shared(struct daemon *d)
{
	return d->sh;
}

struct event_base *
daemon_main_base(struct daemon *d)
{
	return d->base;
}

void
daemon_stop(struct daemon *d)
{
	d->running = false;
	if (d->base)
		event_base_loopbreak(d->base);
}

double
daemon_uptime(const struct daemon *d)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - d->start_time.tv_sec) +
	    (double)(now.tv_usec - d->start_time.tv_usec) / 1e6;
}

int
daemon_num_threads(const struct daemon *d)
{
	return d->nworkers;
}

bool
daemon_is_running(const struct daemon *d)
{
	return d->running;
}

/* Take a snapshot of every worker; with reset, make it the baseline. */
static void
stats_collect(struct daemon *d, bool reset, struct stats_thread *th)
{
	struct stats cur;
	int i;

	worker_poll(d->workers, d->nworkers, reset);
	for (i = 0; i < d->nworkers; i++) {
		struct worker *w = d->workers[i];

		stats_load(&cur, &w->stats);
		if (th) {
			th[i].st = cur;
			stats_sub(&th[i].st, &d->baseline[i]);
			pthread_mutex_lock(&w->mu);
			th[i].requestlist_current = w->gauge_pending;
			th[i].tcpusage = w->gauge_tcp;
			pthread_mutex_unlock(&w->mu);
		}
		if (reset)
			d->baseline[i] = cur;
	}
}

void
daemon_stats_print(struct daemon *d, bool reset, FILE *out)
{
	struct stats_thread *th;
	struct stats_global g;

	th = calloc(d->nworkers > 0 ? (size_t)d->nworkers : 1, sizeof(*th));
	if (th == NULL) {
		log_err("out of memory printing statistics");
		return;
	}
	memset(&g, 0, sizeof(g));
	gettimeofday(&g.now, NULL);
	stats_collect(d, reset, th);
	timersub(&g.now, &d->start_time, &g.up);
	timersub(&g.now, &d->reset_time, &g.elapsed);
	g.mem_cache_message = d->sh ? res_shared_cache_mem(d->sh) : 0;
	g.mem_http_upstream = res_upstream_http_mem();
#ifdef HAVE_NGHTTP2
	if (d->doh) {
		g.mem_http_query_buffer = budget_used(&d->doh->query_budget);
		g.mem_http_response_buffer =
		    budget_used(&d->doh->response_budget);
	}
#endif
	stats_print(out, th, d->nworkers, &g);
	if (reset)
		d->reset_time = g.now;
	free(th);
}

void
daemon_stats_reset(struct daemon *d)
{
	stats_collect(d, true, NULL);
	gettimeofday(&d->reset_time, NULL);
}
