/*
 * tools/cairn-control.c - send one command to a running cairnd and print
 * its reply, as unbound-control does.
 *
 *   cairn-control [-c config] [-s server[@port]] [-q] command [args]
 *
 * The config file (default CONFIG_DEFAULT_FILE; built-in defaults when
 * that default file does not exist) says where the control server is
 * (the first control-interface, control-port) and which keys to use.
 * Over TCP with control-use-cert the channel is TLS: this tool shows
 * the control key and certificate and checks the server certificate
 * against server-cert-file.  The protocol is in doc/control-protocol.md.
 * Exit status 0 when the command worked, 1 otherwise with a sentence on
 * stderr.  This file does not know what the commands do: the server
 * checks them (the list comes from daemon/remote.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "daemon/remote.h"
#include "util/config.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* How long to wait for the connection and for the whole reply. */
#define CONTROL_CONNECT_TIMEOUT_SEC	10
#define CONTROL_REPLY_TIMEOUT_SEC	30
/* Most reply bytes kept (stats of many threads is a few hundred KiB). */
#define CONTROL_MAX_REPLY		(64u * 1024 * 1024)
/* The name in the server certificate cairn-control-setup makes. */
#define CONTROL_SERVER_NAME		"cairn"

static const char *const control_commands[] = {
#define CONTROL_CMD_NAME(name, min, max) #name,
	REMOTE_COMMANDS(CONTROL_CMD_NAME)
#undef CONTROL_CMD_NAME
};

static void
control_usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: cairn-control [-c config] [-s server[@port]] "
	    "[-q] command [args]\n"
	    "  -c file    config file (default %s)\n"
	    "  -s server  IP address[@port] or absolute path of a Unix "
	    "socket\n"
	    "  -q         quiet: print nothing when the command works\n"
	    "  -h         this help\n"
	    "commands:", CONFIG_DEFAULT_FILE);
	for (i = 0; i < sizeof(control_commands) / sizeof(control_commands[0]);
	    i++)
		fprintf(out, "%s%s", i % 6 == 0 ? "\n  " : " ",
		    control_commands[i]);
	fprintf(out, "\nSee cairn-control(8).\n");
}

/* Where to connect. */
struct control_target {
	bool is_unix;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_storage ss;
	socklen_t sl;
	char name[INET6_ADDRSTRLEN + 16];	/* "127.0.0.1 port 8953" */
};

/*
 * As the server does: relative key names are taken relative to the
 * directory of the config file 'cfgfile' (SYSCONFDIR/cairn when none was
 * read).  Returns 0 or -1 when unset or too long.
 */
static int
control_file_path(const char *cfgfile, const char *name, char *out,
    size_t cap)
{
	const char *slash;
	int n;

	if (name == NULL || name[0] == '\0')
		return -1;
	if (name[0] == '/')
		n = snprintf(out, cap, "%s", name);
	else if (cfgfile != NULL && (slash = strrchr(cfgfile, '/')) != NULL)
		n = snprintf(out, cap, "%.*s/%s", (int)(slash - cfgfile),
		    cfgfile, name);
	else if (cfgfile != NULL)
		n = snprintf(out, cap, "%s", name);
	else
		n = snprintf(out, cap, "%s/cairn/%s", SYSCONFDIR, name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/*
 * "IP", "IP@port" or "/path" into 't'.  A wildcard address means this
 * host's loopback.  Returns 0 or -1 after printing why.
 */
static int
control_target_parse(const char *s, int port, struct control_target *t)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *at;
	size_t hl;

	memset(t, 0, sizeof(*t));
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(t->path)) {
			fprintf(stderr, "cairn-control: socket path %s is too "
			    "long\n", s);
			return -1;
		}
		t->is_unix = true;
		snprintf(t->path, sizeof(t->path), "%s", s);
		snprintf(t->name, sizeof(t->name), "%.*s",
		    (int)sizeof(t->name) - 1, s);
		return 0;
	}
	at = strchr(s, '@');
	hl = at != NULL ? (size_t)(at - s) : strlen(s);
	if (at != NULL) {
		char *end;
		long p = strtol(at + 1, &end, 10);
		if (*end != '\0' || end == at + 1 || p <= 0 || p > 65535) {
			fprintf(stderr, "cairn-control: %s: bad port\n", s);
			return -1;
		}
		port = (int)p;
	}
	if (hl >= sizeof(host)) {
		fprintf(stderr, "cairn-control: %s is not an IP address or an "
		    "absolute path\n", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (strcmp(host, "::") == 0 || strcmp(host, "::0") == 0)
		snprintf(host, sizeof(host), "::1");
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&t->ss)->sin_addr)
	    == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		t->sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)&t->ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		t->sl = sizeof(*s6);
	} else {
		fprintf(stderr, "cairn-control: %s is not an IP address or an "
		    "absolute path\n", host);
		return -1;
	}
	snprintf(t->name, sizeof(t->name), "%s port %d", host, port);
	return 0;
}

/* Connect with a timeout; returns a blocking socket or -1 after a message. */
static int
control_connect(const struct control_target *t)
{
	struct timeval tv = { CONTROL_REPLY_TIMEOUT_SEC, 0 };
	struct sockaddr_un sun;
	const struct sockaddr *sa;
	socklen_t sl;
	int fd, r, e;

	if (t->is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, t->path, strlen(t->path));
		sa = (const struct sockaddr *)&sun;
		sl = sizeof(sun);
	} else {
		sa = (const struct sockaddr *)&t->ss;
		sl = t->sl;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0) {
		fprintf(stderr, "could not connect to %s: %s\n", t->name,
		    strerror(errno));
		return -1;
	}
	r = connect(fd, sa, sl);
	if (r != 0 && errno == EINPROGRESS) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		socklen_t el = sizeof(e);

		r = poll(&pfd, 1, CONTROL_CONNECT_TIMEOUT_SEC * 1000);
		if (r == 0) {
			errno = ETIMEDOUT;
			r = -1;
		} else if (r > 0) {
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
				e = errno;
			errno = e;
			r = e == 0 ? 0 : -1;
		}
	}
	if (r != 0) {
		e = errno;
		fprintf(stderr, "could not connect to %s: %s\n", t->name,
		    strerror(e));
		close(fd);
		return -1;
	}
	/* blocking from here, each read and write bounded by the timeout */
	r = fcntl(fd, F_GETFL);
	if (r >= 0)
		fcntl(fd, F_SETFL, r & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* OpenSSL's reason for the last failure on 'ssl' (may be NULL). */
static void
control_tls_reason(SSL *ssl, int saved_errno, char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

#ifdef ERR_SYSTEM_ERROR
	if (e != 0 && ERR_SYSTEM_ERROR(ERR_peek_error())) {	/* unreadable */
		snprintf(buf, cap, "%s",
		    strerror(ERR_GET_REASON(ERR_peek_error())));
		ERR_clear_error();
		return;
	}
#endif
	if (v != X509_V_OK)
		snprintf(buf, cap, "%s (%s)", r != NULL ? r :
		    "certificate verify failed",
		    X509_verify_cert_error_string(v));
	else if (r != NULL)
		snprintf(buf, cap, "%s", r);
	else if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)
		snprintf(buf, cap, "no answer within %d seconds",
		    CONTROL_REPLY_TIMEOUT_SEC);
	else if (saved_errno != 0)
		snprintf(buf, cap, "%s", strerror(saved_errno));
	else
		snprintf(buf, cap, "the server closed the connection");
	ERR_clear_error();
}

/* The client TLS context: our key and certificate, the server's to trust. */
static SSL_CTX *
control_tls_ctx_new(const struct config *cfg, const char *cfgfile)
{
	char key[PATH_MAX], cert[PATH_MAX], scert[PATH_MAX], why[256];
	SSL_CTX *ctx;

	if (control_file_path(cfgfile, cfg->control_key_file, key,
	    sizeof(key)) < 0 ||
	    control_file_path(cfgfile, cfg->control_cert_file, cert,
	    sizeof(cert)) < 0 ||
	    control_file_path(cfgfile, cfg->server_cert_file, scert,
	    sizeof(scert)) < 0) {
		fprintf(stderr, "control-key-file, control-cert-file and "
		    "server-cert-file must be set when control-use-cert is "
		    "yes\n");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		control_tls_reason(NULL, 0, why, sizeof(why));
		fprintf(stderr, "cannot make a TLS context: %s\n", why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		control_tls_reason(NULL, errno, why, sizeof(why));
		fprintf(stderr, "cannot load control-cert-file %s: %s (run "
		    "cairn-control-setup)\n", cert, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		control_tls_reason(NULL, errno, why, sizeof(why));
		fprintf(stderr, "cannot load control-key-file %s: %s\n", key,
		    why);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, scert, NULL) != 1) {
		control_tls_reason(NULL, errno, why, sizeof(why));
		fprintf(stderr, "cannot load server-cert-file %s: %s\n", scert,
		    why);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Send all of buf.  Returns 0 or -1 after a message. */
static int
control_send(int fd, SSL *ssl, const char *buf, size_t len,
    const struct control_target *t)
{
	char why[256];

	while (len > 0) {
		ssize_t w;

		if (ssl != NULL) {
			int r = SSL_write(ssl, buf, (int)len);
			if (r <= 0) {
				control_tls_reason(ssl, errno, why,
				    sizeof(why));
				fprintf(stderr, "TLS with %s failed: %s\n",
				    t->name, why);
				return -1;
			}
			w = r;
		} else {
			w = send(fd, buf, len, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "could not send to %s: %s\n",
				    t->name, strerror(errno));
				return -1;
			}
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

struct control_reply {
	char *buf;
	size_t len, cap;
};

/*
 * Read the reply to its end (TLS close_notify, or EOF on a Unix or
 * plain socket).  Returns 0, or -1 after a message.
 */
static int
control_recv(int fd, SSL *ssl, struct control_reply *rep,
    const struct control_target *t)
{
	char why[256];

	for (;;) {
		ssize_t n;

		if (rep->cap - rep->len < 4096) {
			size_t ncap = rep->cap == 0 ? 16384 : rep->cap * 2;
			char *nb;

			if (ncap > CONTROL_MAX_REPLY) {
				fprintf(stderr, "the reply from %s is longer "
				    "than %u bytes\n", t->name,
				    CONTROL_MAX_REPLY);
				return -1;
			}
			nb = realloc(rep->buf, ncap);
			if (nb == NULL) {
				fprintf(stderr, "out of memory\n");
				return -1;
			}
			rep->buf = nb;
			rep->cap = ncap;
		}
		if (ssl != NULL) {
			int r = SSL_read(ssl, rep->buf + rep->len,
			    (int)(rep->cap - rep->len));
			if (r <= 0) {
				int e = SSL_get_error(ssl, r);
				int se = errno;

				if (e == SSL_ERROR_ZERO_RETURN)
					return 0;
				control_tls_reason(ssl, se, why, sizeof(why));
				if (rep->len == 0)
					fprintf(stderr, "TLS with %s failed: "
					    "%s\n", t->name, why);
				else
					fprintf(stderr, "the reply from %s "
					    "was cut short: %s\n", t->name,
					    why);
				return -1;
			}
			n = r;
		} else {
			n = recv(fd, rep->buf + rep->len, rep->cap - rep->len,
			    0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				fprintf(stderr, "could not read the reply "
				    "from %s: %s\n", t->name,
				    errno == EAGAIN || errno == EWOULDBLOCK ?
				    "no answer in time" : strerror(errno));
				return -1;
			}
			if (n == 0)
				return 0;
		}
		rep->len += (size_t)n;
	}
}

/*
 * load_cache: all of standard input (the dump_cache format), which must
 * end with its "EOF" line: the server reads up to that line.  Returns
 * the malloc'ed data with its length in *len, or NULL after a message.
 */
static char *
control_read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (buf == NULL) {
		fprintf(stderr, "out of memory\n");
		return NULL;
	}
	for (;;) {
		size_t r;

		if (n == cap) {
			char *nb;

			if (cap >= REMOTE_MAX_LOAD) {
				fprintf(stderr, "load_cache: the input is "
				    "longer than %d bytes\n", REMOTE_MAX_LOAD);
				free(buf);
				return NULL;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				fprintf(stderr, "out of memory\n");
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, stdin);
		n += r;
		if (r == 0) {
			if (ferror(stdin)) {
				fprintf(stderr, "load_cache: cannot read the "
				    "standard input: %s\n", strerror(errno));
				free(buf);
				return NULL;
			}
			break;
		}
	}
	/* the last line must be "EOF" */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < 3 || memcmp(buf + n - 3, "EOF", 3) != 0 ||
	    (n > 3 && buf[n - 4] != '\n')) {
		fprintf(stderr, "load_cache: the input must end with an "
		    "\"EOF\" line, as dump_cache writes it\n");
		free(buf);
		return NULL;
	}
	if (n + 1 > cap) {
		char *nb = realloc(buf, n + 1);

		if (nb == NULL) {
			free(buf);
			return NULL;
		}
		buf = nb;
	}
	buf[n++] = '\n';
	*len = n;
	return buf;
}

/* "CAIRNCTL1 cmd args\n" into buf.  Returns its length or 0 (message). */
static size_t
control_request(int argc, char **argv, char *buf, size_t cap)
{
	size_t len = (size_t)snprintf(buf, cap, "%s", REMOTE_PROTO_MAGIC);
	int i;

	for (i = 0; i < argc; i++) {
		size_t al = strlen(argv[i]);
		const char *p;

		for (p = argv[i]; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 && *p != '\t') {
				fprintf(stderr, "argument %d contains a "
				    "control character\n", i + 1);
				return 0;
			}
		}
		if (len + 1 + al + 1 > cap - 1) {
			fprintf(stderr, "the command is longer than %d "
			    "bytes\n", REMOTE_MAX_LINE);
			return 0;
		}
		buf[len++] = ' ';
		memcpy(buf + len, argv[i], al);
		len += al;
	}
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

int
main(int argc, char **argv)
{
	const char *cfgfile = NULL, *server = NULL;
	struct control_target t;
	struct control_reply rep = { NULL, 0, 0 };
	char req[REMOTE_MAX_LINE + 1];
	struct config *cfg;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	size_t reqlen, bodylen = 0;
	char *body = NULL;
	bool quiet = false;
	int ch, fd, ret = 1;

	if (argc == 2 && strcmp(argv[1], "--list-commands") == 0) {
		size_t i;
		for (i = 0; i < sizeof(control_commands) /
		    sizeof(control_commands[0]); i++)
			printf("%s\n", control_commands[i]);
		return 0;
	}
	while ((ch = getopt(argc, argv, "+c:s:qh")) != -1) {
		switch (ch) {
		case 'c':
			cfgfile = optarg;
			break;
		case 's':
			server = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			control_usage(stdout);
			return 0;
		default:
			control_usage(stderr);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		control_usage(stderr);
		return 1;
	}
	reqlen = control_request(argc, argv, req, sizeof(req));
	if (reqlen == 0)
		return 1;
	/* read before connecting: the server gives a connection 10 s */
	if (strcmp(argv[0], "load_cache") == 0 &&
	    (body = control_read_stdin(&bodylen)) == NULL)
		return 1;

	cfg = config_new();
	if (cfg == NULL) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	/* a missing default file means the built-in defaults */
	if (cfgfile == NULL && access(CONFIG_DEFAULT_FILE, F_OK) == 0)
		cfgfile = CONFIG_DEFAULT_FILE;
	if (cfgfile != NULL && config_read(cfg, cfgfile, stderr) != 0) {
		fprintf(stderr, "could not read the config file %s\n",
		    cfgfile);
		goto out;
	}
	if (server == NULL)
		server = cfg->control_interfaces != NULL ?
		    cfg->control_interfaces->str : "127.0.0.1";
	if (control_target_parse(server, cfg->control_port, &t) != 0)
		goto out;
	if (!t.is_unix && cfg->control_use_cert) {
		ctx = control_tls_ctx_new(cfg, cfgfile);
		if (ctx == NULL)
			goto out;
	}
	fd = control_connect(&t);
	if (fd < 0)
		goto out;
	if (ctx != NULL) {
		ssl = SSL_new(ctx);
		if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
		    !SSL_set1_host(ssl, CONTROL_SERVER_NAME)) {
			fprintf(stderr, "cannot start TLS: out of memory\n");
			goto out_close;
		}
		if (SSL_connect(ssl) != 1) {
			char why[256];
			control_tls_reason(ssl, errno, why, sizeof(why));
			fprintf(stderr, "TLS handshake with %s failed: %s\n",
			    t.name, why);
			goto out_close;
		}
	}
	if (control_send(fd, ssl, req, reqlen, &t) != 0 ||
	    (body != NULL && control_send(fd, ssl, body, bodylen, &t) != 0))
		goto out_close;
	/* load_cache data ends here; TLS has no half close, the server
	 * stops at the "EOF" line there */
	if (body != NULL && ssl == NULL)
		shutdown(fd, SHUT_WR);
	if (control_recv(fd, ssl, &rep, &t) != 0)
		goto out_close;
	if (rep.len == 0) {
		fprintf(stderr, "%s closed the connection without a reply\n",
		    t.name);
		goto out_close;
	}
	if (rep.len >= 5 && memcmp(rep.buf, "error", 5) == 0) {
		fwrite(rep.buf, 1, rep.len, stderr);
		if (rep.buf[rep.len - 1] != '\n')
			fputc('\n', stderr);
		goto out_close;
	}
	if (!quiet)
		fwrite(rep.buf, 1, rep.len, stdout);
	if (rep.buf[rep.len - 1] != '\n') {
		fprintf(stderr, "the reply from %s was cut short\n", t.name);
		goto out_close;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "cannot write the reply: %s\n",
		    strerror(errno));
		goto out_close;
	}
	ret = 0;
out_close:
	if (ssl != NULL) {
		if (ret == 0)
			SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
out:
	SSL_CTX_free(ctx);
	free(body);
	free(rep.buf);
	config_free(cfg);
	return ret;
}
