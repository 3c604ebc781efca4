/*
 * daemon/remote.c - the control server: listeners on the control
 * interfaces, one bounded connection per command, TLS with mutual
 * certificate authentication on TCP, and the command table.
 *
 * A connection goes through three states on the main event loop: read
 * the request line (the TLS handshake happens inside the first
 * SSL_read), run the command into a memory buffer, write the buffer and
 * close.  Bounds: REMOTE_MAX_LINE bytes of request, REMOTE_TIMEOUT_SEC
 * from accept to close, REMOTE_MAX_CONNS at once (the listeners stop
 * accepting while that many are open).
 *
 * load_cache adds a fourth state between the line and the run: its data
 * follows the line, up to an "EOF" line or the end of the client's
 * stream, at most REMOTE_MAX_LOAD bytes.
 *
 * This file does not print statistics, reload the config, or edit local
 * zones, the cache or forwarders itself: it calls daemon/daemon.h and the
 * res_shared_* control functions of resolver/resolver.h.  It does not read the config file.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon/daemon.h"
#include "daemon/remote.h"
#include "dns/wire.h"
#include "resolver/resolver.h"
#include "util/config.h"
#include "util/log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* resolver.h has res_shared_forward_list/_add/_remove (branch upstream
 * merged): the forward commands call them. */
#define HAVE_RES_FORWARD_CTL 1

struct remote;

struct remote_listener {
	struct remote_listener *next;
	struct remote *rc;
	int fd;
	struct event *ev;
	bool tls;		/* TCP with control-use-cert */
	bool loopback_only;	/* TCP without certificates */
	char *path;		/* Unix socket file to remove on stop */
	char name[128];		/* for logs */
};

enum remote_state {
	REMOTE_READ,		/* handshake and request line */
	REMOTE_BODY,		/* load_cache: the data after the line */
	REMOTE_WRITE,		/* reply */
	REMOTE_DONE
};

/* What to do once the reply is written. */
enum remote_after {
	REMOTE_AFTER_NOTHING,
	REMOTE_AFTER_STOP
};

struct remote_conn {
	struct remote_conn *next, *prev;
	struct remote *rc;
	struct remote_listener *ls;
	int fd;
	SSL *ssl;		/* NULL on plain TCP and Unix sockets */
	struct event *ev;	/* read or write readiness, re-armed */
	struct event *timer;	/* REMOTE_TIMEOUT_SEC from accept */
	enum remote_state state;
	enum remote_after after;
	bool too_long;		/* no "\n" in the first REMOTE_MAX_LINE */
	bool has_nul;		/* a NUL byte before the "\n" */
	char line[REMOTE_MAX_LINE + 1];
	size_t line_len;
	size_t line_end;	/* offset of the "\n" once the line is in */
	char *body;		/* load_cache data, malloc'ed */
	size_t body_len, body_cap;
	bool body_done;		/* "EOF" line seen, or end of stream */
	char *out;		/* reply, malloc'ed by open_memstream */
	size_t out_len, out_pos;
	char peer[INET6_ADDRSTRLEN + 8];
};

struct remote {
	struct daemon *d;
	struct event_base *base;
	SSL_CTX *ctx;
	struct remote_listener *listeners;
	struct remote_conn *conns;
	int nconns;
	bool paused;		/* listeners off: REMOTE_MAX_CONNS open */
};

/* ------------------------------------------------------------ commands */

typedef void (*remote_cmd_fn)(struct remote_conn *c, int argc, char **argv,
    FILE *out);

struct remote_cmd {
	const char *name;
	int min_args, max_args;
	remote_cmd_fn run;
};

#define REMOTE_CMD_DECL(name, min, max) \
	static void remote_cmd_##name(struct remote_conn *c, int argc, \
	    char **argv, FILE *out);
REMOTE_COMMANDS(REMOTE_CMD_DECL)
#undef REMOTE_CMD_DECL

static const struct remote_cmd remote_cmds[] = {
#define REMOTE_CMD_ENTRY(name, min, max) { #name, min, max, remote_cmd_##name },
	REMOTE_COMMANDS(REMOTE_CMD_ENTRY)
#undef REMOTE_CMD_ENTRY
};

static void
remote_cmd_status(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	struct daemon *d = c->rc->d;

	fprintf(out, "version: %s\n", PACKAGE_VERSION);
	fprintf(out, "verbosity: %d\n", log_verbosity);
	fprintf(out, "threads: %d\n", daemon_num_threads(d));
	fprintf(out, "uptime: %lld seconds\n", (long long)daemon_uptime(d));
	fprintf(out, "options: control(%s)\n", c->ls->path ? "unix" :
	    c->ssl ? "ssl" : "plain");
	fprintf(out, "cairnd (pid %ld) is %s...\n", (long)getpid(),
	    daemon_is_running(d) ? "running" : "stopping");
}

static void
remote_cmd_stats(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	daemon_stats_print(c->rc->d, true, out);
}

static void
remote_cmd_stats_noreset(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	daemon_stats_print(c->rc->d, false, out);
}

static void
remote_cmd_flush_stats(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	daemon_stats_reset(c->rc->d);
	fputs("ok\n", out);
}

/* Reload; the daemon writes the reasons of a failure to 'errs'. */
static void
remote_reload(struct remote_conn *c, bool keep_cache, FILE *out)
{
	char *errs = NULL;
	size_t errs_len = 0;
	FILE *ef = open_memstream(&errs, &errs_len);
	int r;

	if (ef == NULL) {
		fputs("error out of memory\n", out);
		return;
	}
	r = daemon_reload(c->rc->d, keep_cache, ef);
	fclose(ef);
	if (r == 0) {
		fputs("ok\n", out);
	} else {
		fputs("error reload failed, the old config stays in force\n",
		    out);
		if (errs_len > 0) {
			fputs(errs, out);
			if (errs[errs_len - 1] != '\n')
				fputc('\n', out);
		}
	}
	free(errs);
}

static void
remote_cmd_reload(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	remote_reload(c, false, out);
}

static void
remote_cmd_reload_keep_cache(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	remote_reload(c, true, out);
}

static void
remote_cmd_stop(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	/* daemon_stop is called once "ok" is on its way (remote_conn_done) */
	c->after = REMOTE_AFTER_STOP;
	fputs("ok\n", out);
}

static void
remote_cmd_verbosity(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(argv[0], &end, 10);
	if (errno != 0 || end == argv[0] || *end != '\0' || v < 0 || v > 5) {
		fprintf(out, "error verbosity must be a number from 0 to 5, "
		    "not '%s'\n", argv[0]);
		return;
	}
	log_verbosity = (int)v;
	verbose(VERB_OPS, "verbosity set to %ld by control command", v);
	fputs("ok\n", out);
}

/* Flush 'name' (text) for 'type' (0 all), or the zone below it. */
static void
remote_flush(struct remote_conn *c, const char *name, uint16_t type,
    bool subtree, FILE *out)
{
	struct res_shared *sh = daemon_res_shared(c->rc->d);
	uint8_t wire[DNS_MAX_NAME];
	size_t len = dns_name_from_text(name, wire);
	size_t n;

	if (len == 0) {
		fprintf(out, "error '%s' is not a valid domain name\n", name);
		return;
	}
	if (sh == NULL) {
		fputs("error the resolver has no cache\n", out);
		return;
	}
	n = res_shared_flush(sh, wire, len, type, subtree);
	if (subtree)
		fprintf(out, "ok removed %zu messages\n", n);
	else
		fputs("ok\n", out);
}

static void
remote_cmd_flush(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	remote_flush(c, argv[0], 0, false, out);
}

static void
remote_cmd_flush_type(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	int type = dns_type_from_text(argv[1]);

	if (type <= 0 || type > 65535) {
		fprintf(out, "error '%s' is not a DNS type\n", argv[1]);
		return;
	}
	remote_flush(c, argv[0], (uint16_t)type, false, out);
}

static void
remote_cmd_flush_zone(struct remote_conn *c, int argc, char **argv, FILE *out)
{
	remote_flush(c, argv[0], 0, true, out);
}

/* The shared resolver state, or NULL with an error reply written. */
static struct res_shared *
remote_sh(struct remote_conn *c, FILE *out)
{
	struct res_shared *sh = daemon_res_shared(c->rc->d);

	if (sh == NULL)
		fputs("error the resolver is not running\n", out);
	return sh;
}

static void
remote_cmd_list_local_zones(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);

	if (sh != NULL)
		res_shared_local_zones_list(sh, out);
}

static void
remote_cmd_list_local_data(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);

	if (sh != NULL && res_shared_local_data_list(sh, out) < 0)
		fputs("error out of memory\n", out);
}

/* "ok", or the error of a res_shared_local_* call. */
static void
remote_result(int r, const char *err, FILE *out)
{
	if (r < 0)
		fprintf(out, "error %s\n", err);
	else
		fputs("ok\n", out);
}

static void
remote_cmd_local_zone(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);
	char err[256];

	if (sh != NULL)
		remote_result(res_shared_local_zone_add(sh, argv[0], argv[1],
		    err, sizeof(err)), err, out);
}

static void
remote_cmd_local_zone_remove(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);
	char err[256];

	/* no such zone is "ok" too, as unbound-control says */
	if (sh != NULL)
		remote_result(res_shared_local_zone_remove(sh, argv[0], err,
		    sizeof(err)), err, out);
}

static void
remote_cmd_local_data(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);
	char rr[REMOTE_MAX_LINE + 1], err[REMOTE_MAX_LINE + 128];
	size_t len = 0;
	int i;

	if (sh == NULL)
		return;
	/* the RR came as words: join them again with single spaces */
	rr[0] = '\0';
	for (i = 0; i < argc; i++) {
		int n = snprintf(rr + len, sizeof(rr) - len, "%s%s",
		    i > 0 ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(rr) - len) {
			fputs("error resource record too long\n", out);
			return;
		}
		len += (size_t)n;
	}
	remote_result(res_shared_local_data_add(sh, rr, err, sizeof(err)),
	    err, out);
}

static void
remote_cmd_local_data_remove(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);
	char err[256];

	if (sh != NULL)
		remote_result(res_shared_local_data_remove(sh, argv[0], err,
		    sizeof(err)), err, out);
}

static void
remote_cmd_dump_cache(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);

	if (sh != NULL)
		(void)res_shared_cache_dump(sh, out);
}

static void
remote_cmd_load_cache(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);
	char err[256];
	size_t loaded = 0;
	FILE *in;

	if (sh == NULL)
		return;
	if (c->body_len > REMOTE_MAX_LOAD) {
		fprintf(out, "error load_cache data longer than %d bytes\n",
		    REMOTE_MAX_LOAD);
		return;
	}
	if (c->body_len == 0) {
		fputs("error load_cache: no data (the dump_cache text "
		    "follows the command line)\n", out);
		return;
	}
	in = fmemopen(c->body, c->body_len, "r");
	if (in == NULL) {
		fputs("error out of memory\n", out);
		return;
	}
	if (res_shared_cache_load(sh, in, &loaded, err, sizeof(err)) < 0)
		fprintf(out, "error load_cache %s (%zu messages loaded "
		    "before it)\n", err, loaded);
	else
		fprintf(out, "ok loaded %zu messages\n", loaded);
	fclose(in);
}

/*
 * forward_add, forward_remove and list_forwards act on the forward
 * zones of resolver/forward.c; without HAVE_RES_FORWARD_CTL (the
 * resolver does not offer them yet) they answer "not implemented".
 */
#ifdef HAVE_RES_FORWARD_CTL
static void
remote_cmd_list_forwards(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);

	if (sh != NULL && res_shared_forward_list(sh, out) < 0)
		fputs("error out of memory\n", out);
}

static void
remote_cmd_forward_add(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);
	char addrs[REMOTE_MAX_LINE + 1], err[512];
	size_t len = 0;
	bool tls = false, https = false;
	int i;

	if (sh == NULL)
		return;
	/* Unbound's flags, "+i +t" or "+it": +i (insecure: cairn does
	 * not validate, so nothing to turn off), +t TLS, +h (cairn) HTTPS */
	while (argc > 0 && argv[0][0] == '+') {
		const char *f;

		for (f = argv[0] + 1; *f != '\0'; f++) {
			if (*f == 't') {
				tls = true;
			} else if (*f == 'h') {
				https = true;
			} else if (*f != 'i') {
				fprintf(out, "error forward_add: unknown flag "
				    "'+%c' (+i, +t or +h)\n", *f);
				return;
			}
		}
		argv++;
		argc--;
	}
	if (tls && https) {
		fputs("error forward_add: +t and +h exclude each other\n", out);
		return;
	}
	if (argc < 2) {
		fputs("error forward_add takes [+i] [+t|+h] ZONE ADDR...\n",
		    out);
		return;
	}
	addrs[0] = '\0';
	for (i = 1; i < argc; i++) {
		int n = snprintf(addrs + len, sizeof(addrs) - len, "%s%s",
		    i > 1 ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(addrs) - len) {
			fputs("error address list too long\n", out);
			return;
		}
		len += (size_t)n;
	}
	remote_result(res_shared_forward_add(sh, argv[0], addrs, tls, https,
	    err, sizeof(err)), err, out);
}

static void
remote_cmd_forward_remove(struct remote_conn *c, int argc, char **argv,
    FILE *out)
{
	struct res_shared *sh = remote_sh(c, out);
	char err[512];

	if (sh != NULL)
		remote_result(res_shared_forward_remove(sh, argv[0], err,
		    sizeof(err)), err, out);
}
#else
static void
remote_not_implemented(FILE *out)
{
	fputs("error: not implemented yet\n", out);
}

#define REMOTE_CMD_TODO(name) \
static void \
remote_cmd_##name(struct remote_conn *c, int argc, char **argv, FILE *out) \
{ \
	remote_not_implemented(out); \
}
REMOTE_CMD_TODO(list_forwards)
REMOTE_CMD_TODO(forward_add)
REMOTE_CMD_TODO(forward_remove)
#undef REMOTE_CMD_TODO
#endif

static const struct remote_cmd *
remote_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(remote_cmds) / sizeof(remote_cmds[0]); i++)
		if (strcmp(remote_cmds[i].name, name) == 0)
			return &remote_cmds[i];
	return NULL;
}

/*
 * Check and run one request line (without its "\n"), writing the reply
 * to 'out'.  Peer input: every problem becomes an "error ..." reply.
 */
static void
remote_run_line(struct remote_conn *c, char *line, FILE *out)
{
	char *argv[REMOTE_MAX_ARGS + 3];
	const struct remote_cmd *cmd;
	int argc = 0;
	char *p, *save = NULL;
	size_t i, n = strlen(line);

	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 && ch != '\t') {
			fputs("error control characters are not allowed in "
			    "a request\n", out);
			return;
		}
	}
	for (p = strtok_r(line, " \t", &save); p != NULL;
	    p = strtok_r(NULL, " \t", &save)) {
		if (argc == (int)(sizeof(argv) / sizeof(argv[0]))) {
			fprintf(out, "error too many arguments (at most %d)\n",
			    REMOTE_MAX_ARGS);
			return;
		}
		argv[argc++] = p;
	}
	if (argc == 0 || strcmp(argv[0], REMOTE_PROTO_MAGIC) != 0) {
		fputs("error bad request: expected \"" REMOTE_PROTO_MAGIC
		    " command [args]\"\n", out);
		return;
	}
	if (argc < 2) {
		fputs("error no command given\n", out);
		return;
	}
	cmd = remote_cmd_find(argv[1]);
	if (cmd == NULL) {
		fprintf(out, "error unknown command '%.64s'\n", argv[1]);
		return;
	}
	argc -= 2;
	if (argc < cmd->min_args || argc > cmd->max_args) {
		if (cmd->min_args == cmd->max_args)
			fprintf(out, "error %s takes %d argument%s, not %d\n",
			    cmd->name, cmd->min_args,
			    cmd->min_args == 1 ? "" : "s", argc);
		else
			fprintf(out, "error %s takes %d to %d arguments, "
			    "not %d\n", cmd->name, cmd->min_args,
			    cmd->max_args, argc);
		return;
	}
	verbose(VERB_DETAIL, "control command %s from %s", cmd->name, c->peer);
	cmd->run(c, argc, argv + 2, out);
}

/* --------------------------------------------------------- connections */

static void remote_conn_cb(evutil_socket_t fd, short what, void *arg);
static void remote_conn_drain(struct remote_conn *c);
static void remote_listeners_pause(struct remote *rc, bool pause);

static void
remote_conn_free(struct remote_conn *c)
{
	struct remote *rc = c->rc;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		rc->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	rc->nconns--;
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	free(c->body);
	free(c->out);
	free(c);
	if (rc->paused && rc->nconns < REMOTE_MAX_CONNS)
		remote_listeners_pause(rc, false);
}

/* Wait for 'what' (EV_READ or EV_WRITE) on the connection. */
static void
remote_conn_want(struct remote_conn *c, short what)
{
	event_del(c->ev);
	event_assign(c->ev, c->rc->base, c->fd, what, remote_conn_cb, c);
	event_add(c->ev, NULL);
}

/* The reply is sent (or can no longer be): close, then do what it said. */
static void
remote_conn_done(struct remote_conn *c)
{
	struct remote *rc = c->rc;
	enum remote_after after = c->after;
	bool sent = c->out_pos == c->out_len && c->state == REMOTE_WRITE;

	if (c->ssl != NULL && sent) {
		/* close_notify tells the client the reply is complete */
		SSL_shutdown(c->ssl);
	}
	/* unread bytes (past the "\n", or a too long line) would turn the
	 * close into a reset that can destroy the reply at the client */
	remote_conn_drain(c);
	remote_conn_free(c);
	if (after == REMOTE_AFTER_STOP) {
		log_info("stop requested by control command");
		daemon_stop(rc->d);
	}
}

/*
 * Write what is left of the reply.  Returns 1 when all is written, 0
 * when the socket is full (the caller waits; *want says for what), -1 on
 * an error (the peer went away).
 */
static int
remote_conn_write(struct remote_conn *c, short *want)
{
	while (c->out_pos < c->out_len) {
		size_t left = c->out_len - c->out_pos;
		ssize_t w;

		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, c->out + c->out_pos,
			    left > INT_MAX ? INT_MAX : (int)left);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_WRITE) {
					*want = EV_WRITE;
					return 0;
				}
				if (e == SSL_ERROR_WANT_READ) {
					*want = EV_READ;
					return 0;
				}
				return -1;
			}
			w = r;
		} else {
			w = send(c->fd, c->out + c->out_pos, left,
			    MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK ||
				    errno == EINTR) {
					*want = EV_WRITE;
					return 0;
				}
				return -1;
			}
		}
		c->out_pos += (size_t)w;
	}
	return 1;
}

/* Run the request line and start writing the reply. */
static void
remote_conn_run(struct remote_conn *c)
{
	FILE *out = open_memstream(&c->out, &c->out_len);
	short want = EV_WRITE;
	int r;

	if (out == NULL) {
		log_err_errno("control: open_memstream");
		remote_conn_free(c);
		return;
	}
	if (c->too_long)
		fprintf(out, "error request longer than %d bytes\n",
		    REMOTE_MAX_LINE);
	else if (c->has_nul)
		fputs("error control characters are not allowed in a "
		    "request\n", out);
	else
		remote_run_line(c, c->line, out);
	if (fclose(out) != 0 || c->out == NULL) {
		log_err("control: out of memory for the reply to %s", c->peer);
		remote_conn_free(c);
		return;
	}
	c->state = REMOTE_WRITE;
	c->out_pos = 0;
	/* try at once: a reload or stop may end this loop after the event */
	r = remote_conn_write(c, &want);
	if (r != 0) {
		remote_conn_done(c);
		return;
	}
	remote_conn_want(c, want);
}

/*
 * Before closing a failed TLS connection, read what the client already
 * sent (bounded): closing with unread data sends a TCP reset, which can
 * make the client lose the alert that says why it was refused.
 */
static void
remote_conn_drain(struct remote_conn *c)
{
	char buf[4096];
	int i;

	for (i = 0; i < 16; i++)
		if (recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	shutdown(c->fd, SHUT_WR);
}

/*
 * Read more of the request line.  Returns 1 when a whole line is in,
 * 0 to wait (*want set), -1 to close.
 */
static int
remote_conn_read(struct remote_conn *c, short *want)
{
	for (;;) {
		size_t room = REMOTE_MAX_LINE - c->line_len;
		char *nl;
		ssize_t n;

		if (room == 0) {
			verbose(VERB_QUERY, "control: request from %s longer "
			    "than %d bytes", c->peer, REMOTE_MAX_LINE);
			/* answer it, so the client knows why */
			c->too_long = true;
			return 1;
		}
		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, c->line + c->line_len,
			    (int)room);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ) {
					*want = EV_READ;
					return 0;
				}
				if (e == SSL_ERROR_WANT_WRITE) {
					*want = EV_WRITE;
					return 0;
				}
				if (e == SSL_ERROR_SSL && VERBOSE_ON(VERB_QUERY)) {
					char buf[256];
					ERR_error_string_n(ERR_peek_error(),
					    buf, sizeof(buf));
					verbose(VERB_QUERY, "control: TLS "
					    "with %s failed: %s", c->peer,
					    buf);
				}
				ERR_clear_error();
				remote_conn_drain(c);
				return -1;
			}
			n = r;
		} else {
			n = recv(c->fd, c->line + c->line_len, room, 0);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK ||
				    errno == EINTR) {
					*want = EV_READ;
					return 0;
				}
				return -1;
			}
			if (n == 0)
				return -1;
		}
		nl = memchr(c->line + c->line_len, '\n', (size_t)n);
		c->line_len += (size_t)n;
		if (nl != NULL) {
			c->line_end = (size_t)(nl - c->line);
			*nl = '\0';
			/* a NUL would hide the rest of the line from the
			 * checks in remote_run_line: refuse it here */
			if (memchr(c->line, '\0', (size_t)(nl - c->line)))
				c->has_nul = true;
			return 1;
		}
	}
}

/* Does the request line (NUL-terminated) ask for load_cache? */
static bool
remote_line_has_body(const char *line)
{
	size_t ml = strlen(REMOTE_PROTO_MAGIC);
	const char *p = line;

	if (strncmp(p, REMOTE_PROTO_MAGIC, ml) != 0 ||
	    (p[ml] != ' ' && p[ml] != '\t'))
		return false;
	p += ml;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "load_cache", 10) != 0)
		return false;
	p += 10;
	return *p == '\0' || *p == ' ' || *p == '\t' || *p == '\r';
}

/* Has the body got its final "EOF" line?  Checks the bytes from 'from'. */
static bool
remote_body_complete(const struct remote_conn *c, size_t from)
{
	size_t i;

	if (from > 4)
		from -= 4;
	else
		from = 0;
	for (i = from; i + 4 <= c->body_len; i++) {
		if ((i == 0 || c->body[i - 1] == '\n') &&
		    memcmp(c->body + i, "EOF", 3) == 0 &&
		    (c->body[i + 3] == '\n' || (c->body[i + 3] == '\r' &&
		    i + 5 <= c->body_len && c->body[i + 4] == '\n')))
			return true;
	}
	return false;
}

static int
remote_body_append(struct remote_conn *c, const char *p, size_t n)
{
	size_t old = c->body_len;

	if (c->body_len + n > REMOTE_MAX_LOAD) {
		/* too much: stop reading, the command says so */
		c->body_len = REMOTE_MAX_LOAD + 1;
		c->body_done = true;
		return 0;
	}
	if (c->body_len + n > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 65536;
		char *b;

		while (cap < c->body_len + n)
			cap *= 2;
		if (cap > REMOTE_MAX_LOAD)
			cap = REMOTE_MAX_LOAD;
		b = realloc(c->body, cap);
		if (b == NULL)
			return -1;
		c->body = b;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, p, n);
	c->body_len += n;
	if (remote_body_complete(c, old))
		c->body_done = true;
	return 0;
}

/*
 * Read the load_cache data up to its "EOF" line or the end of the
 * stream.  Returns 1 when it is in, 0 to wait (*want set), -1 to close.
 */
static int
remote_conn_read_body(struct remote_conn *c, short *want)
{
	char buf[16384];
	int i;

	/* bounded per event; the connection timer bounds the total */
	for (i = 0; i < 64 && !c->body_done; i++) {
		ssize_t n;

		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, buf, (int)sizeof(buf));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_READ) {
					*want = EV_READ;
					return 0;
				}
				if (e == SSL_ERROR_WANT_WRITE) {
					*want = EV_WRITE;
					return 0;
				}
				if (e == SSL_ERROR_ZERO_RETURN)
					break;
				return -1;
			}
			n = r;
		} else {
			n = recv(c->fd, buf, sizeof(buf), 0);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK ||
				    errno == EINTR) {
					*want = EV_READ;
					return 0;
				}
				return -1;
			}
			if (n == 0)
				break;	/* the client shut its write side */
		}
		if (remote_body_append(c, buf, (size_t)n) < 0)
			return -1;
	}
	if (!c->body_done && i == 64) {
		*want = EV_READ;
		return 0;
	}
	c->body_done = true;
	return 1;
}

/* The line is in: read the body for load_cache, else run at once. */
static void
remote_conn_line_done(struct remote_conn *c)
{
	short want = EV_READ;
	int r;

	if (c->state == REMOTE_READ) {
		if (c->too_long || c->has_nul || !remote_line_has_body(c->line)) {
			remote_conn_run(c);
			return;
		}
		c->state = REMOTE_BODY;
		/* what came with the line */
		if (c->line_len > c->line_end + 1 &&
		    remote_body_append(c, c->line + c->line_end + 1,
		    c->line_len - c->line_end - 1) < 0) {
			remote_conn_free(c);
			return;
		}
	}
	r = c->body_done ? 1 : remote_conn_read_body(c, &want);
	if (r < 0) {
		remote_conn_free(c);
		return;
	}
	if (r == 0) {
		remote_conn_want(c, want);
		return;
	}
	remote_conn_run(c);
}

static void
remote_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote_conn *c = arg;
	short want = EV_READ;
	int r;

	if (c->state == REMOTE_READ) {
		r = remote_conn_read(c, &want);
		if (r < 0) {
			remote_conn_free(c);
			return;
		}
		if (r == 0) {
			remote_conn_want(c, want);
			return;
		}
		remote_conn_line_done(c);
		return;
	}
	if (c->state == REMOTE_BODY) {
		remote_conn_line_done(c);
		return;
	}
	want = EV_WRITE;
	r = remote_conn_write(c, &want);
	if (r == 0) {
		remote_conn_want(c, want);
		return;
	}
	remote_conn_done(c);
}

static void
remote_conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct remote_conn *c = arg;

	verbose(VERB_QUERY, "control: connection from %s timed out after "
	    "%d seconds", c->peer, REMOTE_TIMEOUT_SEC);
	if (c->after == REMOTE_AFTER_STOP) {
		/* the command ran; its client just does not read */
		c->out_pos = c->out_len;
		remote_conn_done(c);
		return;
	}
	remote_conn_free(c);
}

static bool
remote_addr_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void
remote_addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(out, cap, "%s port %u", a, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, cap, "%s port %u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(out, cap, "unix socket");
	}
}

/* Take one accepted socket on; closes it on failure. */
static void
remote_conn_new(struct remote_listener *ls, int fd,
    const struct sockaddr_storage *ss)
{
	struct remote *rc = ls->rc;
	struct remote_conn *c;
	struct timeval tv = { REMOTE_TIMEOUT_SEC, 0 };

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->rc = rc;
	c->ls = ls;
	c->fd = fd;
	c->state = REMOTE_READ;
	remote_addr_text(ss, c->peer, sizeof(c->peer));
	c->next = rc->conns;
	if (rc->conns != NULL)
		rc->conns->prev = c;
	rc->conns = c;
	rc->nconns++;
	if (ls->tls) {
		c->ssl = SSL_new(rc->ctx);
		if (c->ssl == NULL || !SSL_set_fd(c->ssl, fd)) {
			log_err("control: cannot start TLS for %s", c->peer);
			ERR_clear_error();
			remote_conn_free(c);
			return;
		}
		SSL_set_accept_state(c->ssl);
	}
	c->ev = event_new(rc->base, fd, EV_READ, remote_conn_cb, c);
	c->timer = evtimer_new(rc->base, remote_conn_timeout_cb, c);
	if (c->ev == NULL || c->timer == NULL || event_add(c->ev, NULL) != 0 ||
	    evtimer_add(c->timer, &tv) != 0) {
		log_err("control: out of memory for a connection from %s",
		    c->peer);
		remote_conn_free(c);
		return;
	}
}

static void
remote_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct remote_listener *ls = arg;
	struct remote *rc = ls->rc;
	int i;

	/* bounded: at most the free connection slots per event */
	for (i = 0; i < REMOTE_MAX_CONNS; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd;

		if (rc->nconns >= REMOTE_MAX_CONNS) {
			remote_listeners_pause(rc, true);
			return;
		}
		memset(&ss, 0, sizeof(ss));
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_err_errno("control: accept on %s",
				    ls->name);
			return;
		}
		if (ls->path != NULL)
			ss.ss_family = AF_UNIX;
		if (ls->loopback_only && !remote_addr_loopback(&ss)) {
			char a[INET6_ADDRSTRLEN + 8];
			remote_addr_text(&ss, a, sizeof(a));
			verbose(VERB_QUERY, "control: refused %s: plain "
			    "control connections are taken from loopback "
			    "only (set control-use-cert: yes)", a);
			close(fd);
			continue;
		}
		remote_conn_new(ls, fd, &ss);
	}
}

static void
remote_listeners_pause(struct remote *rc, bool pause)
{
	struct remote_listener *ls;

	for (ls = rc->listeners; ls != NULL; ls = ls->next) {
		if (pause)
			event_del(ls->ev);
		else
			event_add(ls->ev, NULL);
	}
	rc->paused = pause;
}

/* ----------------------------------------------------------- listeners */

/*
 * A key or certificate file name from the config: relative names are
 * taken relative to the config file's directory (SYSCONFDIR/cairn when
 * no file was read).  Writes into 'out'; returns 0 or -1 if too long.
 */
static int
remote_file_path(const struct config *cfg, const char *name, char *out,
    size_t cap)
{
	const char *slash;
	int n;

	if (name == NULL || name[0] == '\0')
		return -1;
	if (name[0] == '/')
		n = snprintf(out, cap, "%s", name);
	else if (cfg->file != NULL && (slash = strrchr(cfg->file, '/')) != NULL)
		n = snprintf(out, cap, "%.*s/%s", (int)(slash - cfg->file),
		    cfg->file, name);
	else if (cfg->file != NULL)
		n = snprintf(out, cap, "%s", name);
	else
		n = snprintf(out, cap, "%s/cairn/%s", SYSCONFDIR, name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void
remote_ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, cap, "unknown TLS error");
#ifdef ERR_SYSTEM_ERROR
	else if (ERR_SYSTEM_ERROR(ERR_peek_error()))	/* unreadable file */
		snprintf(buf, cap, "%s",
		    strerror(ERR_GET_REASON(ERR_peek_error())));
#endif
	else
		ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
}

static SSL_CTX *
remote_tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	char key[PATH_MAX], cert[PATH_MAX], why[256];
	STACK_OF(X509_NAME) *cas;
	SSL_CTX *ctx;

	if (remote_file_path(cfg, cfg->server_key_file, key, sizeof(key)) < 0 ||
	    remote_file_path(cfg, cfg->server_cert_file, cert,
	    sizeof(cert)) < 0) {
		snprintf(err, errlen, "remote-control: server-key-file and "
		    "server-cert-file must be set when control-use-cert is "
		    "yes");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		remote_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "remote-control: cannot make a TLS "
		    "context: %s", why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		remote_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "remote-control: server-cert-file %s: "
		    "%s (run cairn-control-setup)", cert, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		remote_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "remote-control: server-key-file %s: "
		    "%s", key, why);
		goto fail;
	}
	/* clients must hold a certificate signed by the server's key
	 * (the self-signed CA that cairn-control-setup makes) */
	if (SSL_CTX_load_verify_locations(ctx, cert, NULL) != 1) {
		remote_ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "remote-control: server-cert-file %s: "
		    "cannot use it to verify clients: %s", cert, why);
		goto fail;
	}
	cas = SSL_load_client_CA_file(cert);
	if (cas != NULL)
		SSL_CTX_set_client_CA_list(ctx, cas);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int
remote_listener_add(struct remote *rc, int fd, const char *name,
    const char *path, bool tls, bool loopback_only, char *err,
    size_t errlen)
{
	struct remote_listener *ls = calloc(1, sizeof(*ls));

	if (ls == NULL || (path != NULL && (ls->path = strdup(path)) == NULL)) {
		free(ls);
		close(fd);
		snprintf(err, errlen, "remote-control: out of memory");
		return -1;
	}
	ls->rc = rc;
	ls->fd = fd;
	ls->tls = tls;
	ls->loopback_only = loopback_only;
	snprintf(ls->name, sizeof(ls->name), "%s", name);
	ls->next = rc->listeners;
	rc->listeners = ls;
	ls->ev = event_new(rc->base, fd, EV_READ | EV_PERSIST,
	    remote_accept_cb, ls);
	if (ls->ev == NULL || event_add(ls->ev, NULL) != 0) {
		snprintf(err, errlen, "remote-control: out of memory");
		return -1;
	}
	verbose(VERB_OPS, "control: listening on %s%s", name,
	    tls ? " (TLS)" : "");
	return 0;
}

static int
remote_open_unix(struct remote *rc, const char *path, char *err,
    size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "remote-control: control-interface %s: "
		    "path longer than %zu bytes", path,
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	/* a socket left by an earlier run is stale: remove it; never
	 * remove anything that is not a socket */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "remote-control: "
			    "control-interface %s: exists and is not a "
			    "socket", path);
			return -1;
		}
		if (unlink(path) != 0) {
			snprintf(err, errlen, "remote-control: "
			    "control-interface %s: cannot remove the old "
			    "socket: %s", path, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "remote-control: socket(AF_UNIX): %s",
		    strerror(errno));
		return -1;
	}
	/* created 0660 from the start: no moment where others may connect */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		umask(old);
		close(fd);
		snprintf(err, errlen, "remote-control: control-interface %s: "
		    "bind: %s", path, strerror(e));
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) != 0 || listen(fd, REMOTE_MAX_CONNS) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		snprintf(err, errlen, "remote-control: control-interface %s: "
		    "%s", path, strerror(e));
		return -1;
	}
	return remote_listener_add(rc, fd, path, path, false, false, err,
	    errlen);
}

/*
 * Open a TCP listener on 'addr' ("IP" or "IP@port").  Returns 0, -1 on
 * error, or 1 when 'optional' and the address family is not available.
 */
static int
remote_open_tcp(struct remote *rc, const char *addr, int port, bool optional,
    char *err, size_t errlen)
{
	const struct config *cfg = daemon_config(rc->d);
	struct sockaddr_storage ss;
	socklen_t sl;
	char host[INET6_ADDRSTRLEN + 1], name[128];
	const char *at = strchr(addr, '@');
	size_t hl = at != NULL ? (size_t)(at - addr) : strlen(addr);
	int fd, on = 1;

	if (at != NULL) {
		char *end;
		long p = strtol(at + 1, &end, 10);
		if (*end != '\0' || end == at + 1 || p <= 0 || p > 65535) {
			snprintf(err, errlen, "remote-control: "
			    "control-interface %s: bad port", addr);
			return -1;
		}
		port = (int)p;
	}
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "remote-control: control-interface %s: "
		    "not an IP address or absolute path", addr);
		return -1;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		snprintf(err, errlen, "remote-control: control-interface %s: "
		    "not an IP address or absolute path", addr);
		return -1;
	}
	snprintf(name, sizeof(name), "%s port %d", host, port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		int e = errno;
		if (optional && (e == EAFNOSUPPORT || e == EPROTONOSUPPORT))
			return 1;
		snprintf(err, errlen, "remote-control: %s: socket: %s", name,
		    strerror(e));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    listen(fd, REMOTE_MAX_CONNS) != 0) {
		int e = errno;
		close(fd);
		if (optional && e == EADDRNOTAVAIL)
			return 1;
		snprintf(err, errlen, "remote-control: cannot listen on %s: "
		    "%s", name, strerror(e));
		return -1;
	}
	return remote_listener_add(rc, fd, name, NULL, cfg->control_use_cert != 0,
	    cfg->control_use_cert == 0, err, errlen);
}

struct remote *
remote_start(struct daemon *d, char *err, size_t errlen)
{
	const struct config *cfg = daemon_config(d);
	static const char *const defaults[] = { "127.0.0.1", "::1" };
	const struct cfg_strlist *s;
	struct sigaction sa;
	struct remote *rc;
	bool need_tls = false;
	size_t i;
	int r;

	rc = calloc(1, sizeof(*rc));
	if (rc == NULL) {
		snprintf(err, errlen, "remote-control: out of memory");
		return NULL;
	}
	rc->d = d;
	rc->base = daemon_main_base(d);
	if (cfg == NULL || !cfg->control_enable)
		return rc;

	/* a client that hangs up mid-reply must not kill the daemon (TLS
	 * writes through write(2)); keep a handler the daemon set */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);

	for (s = cfg->control_interfaces; s != NULL; s = s->next)
		if (s->str[0] != '/')
			need_tls = true;
	if (cfg->control_interfaces == NULL)
		need_tls = true;
	if (need_tls && cfg->control_use_cert) {
		rc->ctx = remote_tls_ctx_new(cfg, err, errlen);
		if (rc->ctx == NULL)
			goto fail;
	}
	if (cfg->control_interfaces == NULL) {
		for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
			/* ::1 may be missing (no IPv6): then 127.0.0.1 only */
			r = remote_open_tcp(rc, defaults[i], cfg->control_port,
			    i > 0, err, errlen);
			if (r < 0)
				goto fail;
			if (r > 0)
				verbose(VERB_OPS, "control: %s is not "
				    "available, not listening there",
				    defaults[i]);
		}
	}
	for (s = cfg->control_interfaces; s != NULL; s = s->next) {
		if (s->str[0] == '/')
			r = remote_open_unix(rc, s->str, err, errlen);
		else
			r = remote_open_tcp(rc, s->str, cfg->control_port,
			    false, err, errlen);
		if (r < 0)
			goto fail;
	}
	return rc;
fail:
	remote_stop(rc);
	return NULL;
}

void
remote_stop(struct remote *rc)
{
	struct remote_listener *ls;

	if (rc == NULL)
		return;
	while (rc->conns != NULL) {
		struct remote_conn *c = rc->conns;
		if (c->state == REMOTE_WRITE) {
			short want;
			(void)remote_conn_write(c, &want);
		}
		/* the daemon is already stopping or restarting us */
		c->after = REMOTE_AFTER_NOTHING;
		remote_conn_done(c);
	}
	while ((ls = rc->listeners) != NULL) {
		rc->listeners = ls->next;
		if (ls->ev != NULL)
			event_free(ls->ev);
		close(ls->fd);
		if (ls->path != NULL) {
			unlink(ls->path);
			free(ls->path);
		}
		free(ls);
	}
	SSL_CTX_free(rc->ctx);
	free(rc);
}
