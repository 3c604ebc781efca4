/*
 * tools/client_net.c - cairn-client's transports: UDP, TCP, DNS over TLS,
 * DNS over HTTPS with HTTP/2 (nghttp2) or HTTP/1.1.
 *
 * Blocking sockets with SO_RCVTIMEO/SO_SNDTIMEO and a deadline per query:
 * this is a one-shot command-line client, not the daemon's event loop.
 * TLS checks the server's certificate against the system bundle or
 * --cafile and against --tls-name (an IP address is checked against the
 * certificate's IP SANs); --insecure turns the checks off.  Every read is
 * bounded: an answer larger than 65535 bytes or headers larger than 16 KiB
 * are errors.  This file does not parse DNS beyond the 2-byte ID.
 */
#include "config.h"

#include "tools/client.h"
#include "dns/base64url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#ifdef HAVE_NGHTTP2
#include <nghttp2/nghttp2.h>
#endif

#define H1_HEAD_MAX	16384

struct client_conn {
	const struct client_opts *o;
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	/* HTTP/2 */
#ifdef HAVE_NGHTTP2
	nghttp2_session *h2;
#endif
	int32_t sid;		/* the stream of the current query */
	bool done;		/* that stream closed */
	int status;		/* its :status */
	char ctype[128];	/* its content-type */
	uint8_t *body;		/* its response body (CLIENT_MAX_MSG bytes) */
	size_t blen;
	bool too_big;
	uint32_t rst_code;	/* RST_STREAM error code, if any */
	bool goaway;
	const uint8_t *req;	/* POST body being sent */
	size_t reqlen, reqoff;
	bool io_error;		/* send or receive failed */
	char io_why[CLIENT_ERR_LEN];
	/* HTTP/1.1 read buffer */
	uint8_t rbuf[H1_HEAD_MAX];
	size_t rlen;
	bool h1_closed;		/* server said Connection: close */
	struct timespec deadline;
};

static void
deadline_set(struct client_conn *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += c->o->timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(c->o->timeout_ms % 1000) * 1000000L;
	if (c->deadline.tv_nsec >= 1000000000L) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left before the deadline (0 when past). */
static int
deadline_left(const struct client_conn *c)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (c->deadline.tv_sec - now.tv_sec) * 1000L +
	    (c->deadline.tv_nsec - now.tv_nsec) / 1000000L;
	return ms > 0 ? (int)ms : 0;
}

static void
set_timeouts(int fd, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Socket connected to the server (TCP or UDP), or -1 with err set. */
static int
net_connect(const struct client_opts *o, int socktype, char *err)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	int fd, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);
	struct pollfd p;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype;
	snprintf(port, sizeof(port), "%d", o->port);
	rc = getaddrinfo(o->server, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, CLIENT_ERR_LEN, "cannot resolve server %s: %s",
		    o->server, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd < 0) {
		snprintf(err, CLIENT_ERR_LEN, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc < 0 && errno == EINPROGRESS) {
		p.fd = fd;
		p.events = POLLOUT;
		rc = poll(&p, 1, o->timeout_ms);
		if (rc == 0) {
			snprintf(err, CLIENT_ERR_LEN, "connect to %s port %d: "
			    "timeout after %d ms", o->server, o->port,
			    o->timeout_ms);
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		rc = soerr ? -1 : 0;
		errno = soerr;
	}
	if (rc < 0) {
		if (errno == ECONNREFUSED)
			snprintf(err, CLIENT_ERR_LEN, "connection refused by "
			    "%s port %d", o->server, o->port);
		else
			snprintf(err, CLIENT_ERR_LEN, "connect to %s port %d: "
			    "%s", o->server, o->port, strerror(errno));
		close(fd);
		return -1;
	}
	(void)fcntl(fd, F_SETFL, 0);
	if (socktype == SOCK_STREAM) {
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	set_timeouts(fd, o->timeout_ms);
	return fd;
}

static bool
is_ip(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

static const char *
tls_name(const struct client_opts *o)
{
	return o->tls_name ? o->tls_name : o->server;
}

/* Describe the last TLS failure in err. */
static void
tls_error(struct client_conn *c, const char *what, int ret, char *err)
{
	long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();
	int se = c->ssl ? SSL_get_error(c->ssl, ret) : 0;

	if (vr != X509_V_OK && !c->o->insecure)
		snprintf(err, CLIENT_ERR_LEN, "%s: certificate verify failed "
		    "(%s) for %s", what, X509_verify_cert_error_string(vr),
		    tls_name(c->o));
	else if (e != 0)
		snprintf(err, CLIENT_ERR_LEN, "%s: %s", what,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
		    "TLS error");
	else if (se == SSL_ERROR_SYSCALL && (errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		snprintf(err, CLIENT_ERR_LEN, "%s: timeout after %d ms", what,
		    c->o->timeout_ms);
	else if (se == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(err, CLIENT_ERR_LEN, "%s: %s", what, strerror(errno));
	else if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
		snprintf(err, CLIENT_ERR_LEN, "%s: timeout after %d ms", what,
		    c->o->timeout_ms);
	else
		snprintf(err, CLIENT_ERR_LEN, "%s: connection closed by the "
		    "server", what);
	ERR_clear_error();
}

static int
tls_open(struct client_conn *c, char *err)
{
	const struct client_opts *o = c->o;
	const char *name = tls_name(o);
	static const unsigned char alpn_h2[] = "\x02h2";
	static const unsigned char alpn_h1[] = "\x08http/1.1";
	static const unsigned char alpn_dot[] = "\x03" "dot";
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;
	int rc;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL) {
		snprintf(err, CLIENT_ERR_LEN, "SSL_CTX_new failed");
		return -1;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (o->insecure) {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
		if (o->cafile) {
			if (SSL_CTX_load_verify_locations(c->ctx, o->cafile,
			    NULL) != 1) {
				snprintf(err, CLIENT_ERR_LEN, "cannot load "
				    "--cafile %s", o->cafile);
				return -1;
			}
		} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
			snprintf(err, CLIENT_ERR_LEN, "cannot load the system "
			    "certificate bundle");
			return -1;
		}
	}
	if (o->transport == CLIENT_DOH2) {
		alpn = alpn_h2;
		alen = sizeof(alpn_h2) - 1;
	} else if (o->transport == CLIENT_DOH1) {
		alpn = alpn_h1;
		alen = sizeof(alpn_h1) - 1;
	} else {
		alpn = alpn_dot;
		alen = sizeof(alpn_dot) - 1;
	}
	SSL_CTX_set_alpn_protos(c->ctx, alpn, alen);
	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL) {
		snprintf(err, CLIENT_ERR_LEN, "SSL_new failed");
		return -1;
	}
	if (!is_ip(name))
		SSL_set_tlsext_host_name(c->ssl, name);
	if (!o->insecure) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);

		if (is_ip(name))
			rc = X509_VERIFY_PARAM_set1_ip_asc(vp, name);
		else
			rc = X509_VERIFY_PARAM_set1_host(vp, name, 0);
		if (rc != 1) {
			snprintf(err, CLIENT_ERR_LEN, "bad --tls-name %s",
			    name);
			return -1;
		}
	}
	SSL_set_fd(c->ssl, c->fd);
	ERR_clear_error();
	errno = 0;
	rc = SSL_connect(c->ssl);
	if (rc != 1) {
		tls_error(c, "TLS handshake failed", rc, err);
		if (strstr(err, "no application protocol") != NULL) {
			size_t n = strlen(err);

			snprintf(err + n, CLIENT_ERR_LEN - n, " (the server "
			    "refused ALPN %.*s)", (int)alpn[0],
			    (const char *)alpn + 1);
		}
		return -1;
	}
	if (o->transport == CLIENT_DOH2) {
		const unsigned char *sel = NULL;
		unsigned int slen = 0;

		SSL_get0_alpn_selected(c->ssl, &sel, &slen);
		if (slen != 2 || memcmp(sel, "h2", 2) != 0) {
			snprintf(err, CLIENT_ERR_LEN, "the server did not "
			    "agree to HTTP/2 (ALPN %.*s); try --http1.1",
			    (int)slen, slen ? (const char *)sel : "none");
			return -1;
		}
	}
	if (o->verbose)
		printf(";; TLS %s, %s, certificate %s\n",
		    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
		    o->insecure ? "NOT CHECKED (--insecure)" : "verified");
	return 0;
}

/* Write all of buf over TLS or TCP; 0 or -1 with err set. */
static int
conn_write(struct client_conn *c, const void *buf, size_t len, char *err)
{
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < len) {
		long n;

		if (c->ssl) {
			ERR_clear_error();
			errno = 0;
			n = SSL_write(c->ssl, p + off, (int)(len - off));
			if (n <= 0) {
				tls_error(c, "TLS write failed", (int)n, err);
				return -1;
			}
		} else {
			n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				snprintf(err, CLIENT_ERR_LEN, "send: %s",
				    errno == EAGAIN ? "timeout" :
				    strerror(errno));
				return -1;
			}
		}
		off += (size_t)n;
	}
	return 0;
}

/* Read some bytes; returns count, 0 on a clean close, -1 with err set. */
static long
conn_read(struct client_conn *c, void *buf, size_t cap, char *err)
{
	long n;

	if (deadline_left(c) == 0) {
		snprintf(err, CLIENT_ERR_LEN, "timeout after %d ms",
		    c->o->timeout_ms);
		return -1;
	}
	set_timeouts(c->fd, deadline_left(c) + 1);
	if (c->ssl) {
		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, buf, (int)cap);
		if (n <= 0) {
			int se = SSL_get_error(c->ssl, (int)n);

			if (se == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (se == SSL_ERROR_SYSCALL && errno == 0 &&
			    ERR_peek_error() == 0)
				return 0;
			tls_error(c, "TLS read failed", (int)n, err);
			return -1;
		}
		return n;
	}
	for (int i = 0; i < 100; i++) {
		n = recv(c->fd, buf, cap, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			snprintf(err, CLIENT_ERR_LEN, "timeout after %d ms",
			    c->o->timeout_ms);
			return -1;
		}
		if (n < 0) {
			snprintf(err, CLIENT_ERR_LEN, "recv: %s",
			    strerror(errno));
			return -1;
		}
		return n;
	}
	snprintf(err, CLIENT_ERR_LEN, "recv interrupted");
	return -1;
}

/* Read exactly len bytes; -1 with err on failure or early close. */
static int
conn_read_all(struct client_conn *c, uint8_t *buf, size_t len, char *err)
{
	size_t off = 0;

	while (off < len) {
		long n = conn_read(c, buf + off, len - off, err);

		if (n < 0)
			return -1;
		if (n == 0) {
			snprintf(err, CLIENT_ERR_LEN, "connection closed by "
			    "the server before the answer");
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* ---------------------------------------------------------- HTTP/2 */
#ifdef HAVE_NGHTTP2

static ssize_t
h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	struct client_conn *c = arg;

	(void)s;
	(void)flags;
	if (conn_write(c, data, len, c->io_why) < 0) {
		c->io_error = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return (ssize_t)len;
}

static int
h2_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
    void *arg)
{
	struct client_conn *c = arg;

	(void)s;
	(void)flags;
	if (f->hd.stream_id != c->sid)
		return 0;
	if (c->o->verbose)
		printf("%.*s %.*s\n", (int)namelen, (const char *)name,
		    (int)valuelen, (const char *)value);
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		char tmp[8];

		if (valuelen < sizeof(tmp)) {
			memcpy(tmp, value, valuelen);
			tmp[valuelen] = 0;
			c->status = atoi(tmp);
		}
	} else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
		size_t n = valuelen < sizeof(c->ctype) - 1 ? valuelen :
		    sizeof(c->ctype) - 1;

		memcpy(c->ctype, value, n);
		c->ctype[n] = 0;
	}
	return 0;
}

static int
h2_data_cb(nghttp2_session *s, uint8_t flags, int32_t sid,
    const uint8_t *data, size_t len, void *arg)
{
	struct client_conn *c = arg;

	(void)s;
	(void)flags;
	if (sid != c->sid)
		return 0;
	if (len > CLIENT_MAX_MSG - c->blen) {
		c->too_big = true;
		return 0;
	}
	memcpy(c->body + c->blen, data, len);
	c->blen += len;
	return 0;
}

static int
h2_close_cb(nghttp2_session *s, int32_t sid, uint32_t code, void *arg)
{
	struct client_conn *c = arg;

	(void)s;
	if (sid == c->sid) {
		c->done = true;
		c->rst_code = code;
	}
	return 0;
}

static int
h2_frame_cb(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct client_conn *c = arg;

	(void)s;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		c->goaway = true;
		if (c->o->verbose)
			printf(";; GOAWAY received (error code %u)\n",
			    f->goaway.error_code);
	}
	return 0;
}

static ssize_t
h2_body_cb(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct client_conn *c = arg;
	size_t n = c->reqlen - c->reqoff;

	(void)s;
	(void)sid;
	(void)src;
	if (n > len)
		n = len;
	memcpy(buf, c->req + c->reqoff, n);
	c->reqoff += n;
	if (c->reqoff == c->reqlen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int
h2_open(struct client_conn *c, char *err)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry set[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 }
	};
	int rc;

	if (nghttp2_session_callbacks_new(&cb) != 0) {
		snprintf(err, CLIENT_ERR_LEN, "out of memory");
		return -1;
	}
	nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h2_data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2_close_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_frame_cb);
	rc = nghttp2_session_client_new(&c->h2, cb, c);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0) {
		snprintf(err, CLIENT_ERR_LEN, "nghttp2: %s",
		    nghttp2_strerror(rc));
		return -1;
	}
	rc = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, set,
	    sizeof(set) / sizeof(set[0]));
	if (rc != 0) {
		snprintf(err, CLIENT_ERR_LEN, "nghttp2: %s",
		    nghttp2_strerror(rc));
		return -1;
	}
	return 0;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, \
	strlen(v), NGHTTP2_NV_FLAG_NONE }
#endif /* HAVE_NGHTTP2 */

/* The :authority: the TLS name, [v6], with the port when not 443. */
static void
authority(const struct client_opts *o, char *out, size_t cap)
{
	const char *n = tls_name(o);
	bool v6 = strchr(n, ':') != NULL;

	if (o->port == 443)
		snprintf(out, cap, v6 ? "[%s]" : "%s", n);
	else
		snprintf(out, cap, v6 ? "[%s]:%d" : "%s:%d", n, o->port);
}

/* The request path: path?dns=... for GET (or &dns= if path has a ?). */
static int
request_path(const struct client_opts *o, const uint8_t *q, size_t qlen,
    char *out, size_t cap)
{
	size_t n;
	long e;

	if (o->post) {
		snprintf(out, cap, "%s", o->path);
		return 0;
	}
	n = (size_t)snprintf(out, cap, "%s%cdns=", o->path,
	    strchr(o->path, '?') ? '&' : '?');
	if (n >= cap)
		return -1;
	e = base64url_encode(q, qlen, out + n, cap - n);
	return e < 0 ? -1 : 0;
}

#ifdef HAVE_NGHTTP2
static long
h2_query(struct client_conn *c, const uint8_t *q, size_t qlen, uint8_t *ans,
    char *err)
{
	char path[90000], auth[300], clen[16];
	nghttp2_nv nv[7];
	size_t nnv = 0;
	nghttp2_data_provider dp;
	uint8_t buf[16384];
	int rc;

	if (request_path(c->o, q, qlen, path, sizeof(path)) < 0) {
		snprintf(err, CLIENT_ERR_LEN, "path too long");
		return -1;
	}
	authority(c->o, auth, sizeof(auth));
	snprintf(clen, sizeof(clen), "%zu", qlen);
	nv[nnv++] = (nghttp2_nv)NV(":method", c->o->post ? "POST" : "GET");
	nv[nnv++] = (nghttp2_nv)NV(":scheme", "https");
	nv[nnv++] = (nghttp2_nv)NV(":authority", auth);
	nv[nnv++] = (nghttp2_nv)NV(":path", path);
	nv[nnv++] = (nghttp2_nv)NV("accept", "application/dns-message");
	if (c->o->post) {
		nv[nnv++] = (nghttp2_nv)NV("content-type",
		    "application/dns-message");
		nv[nnv++] = (nghttp2_nv)NV("content-length", clen);
	}
	if (c->o->verbose) {
		printf(";; request headers\n");
		for (size_t i = 0; i < nnv; i++)
			printf("%s: %s\n", (const char *)nv[i].name,
			    (const char *)nv[i].value);
	}
	c->req = q;
	c->reqlen = qlen;
	c->reqoff = 0;
	dp.source.ptr = NULL;
	dp.read_callback = h2_body_cb;
	c->done = false;
	c->status = 0;
	c->ctype[0] = 0;
	c->blen = 0;
	c->too_big = false;
	c->rst_code = 0;
	c->sid = nghttp2_submit_request(c->h2, NULL, nv, nnv,
	    c->o->post ? &dp : NULL, NULL);
	if (c->sid < 0) {
		snprintf(err, CLIENT_ERR_LEN, "nghttp2: %s",
		    nghttp2_strerror(c->sid));
		return -1;
	}
	if (c->o->verbose)
		printf(";; response headers (stream %d)\n", c->sid);
	for (int loops = 0; !c->done && loops < 100000; loops++) {
		long n;

		rc = nghttp2_session_send(c->h2);
		if (rc != 0) {
			snprintf(err, CLIENT_ERR_LEN, "%s", c->io_error ?
			    c->io_why : nghttp2_strerror(rc));
			return -1;
		}
		if (c->done)
			break;
		if (!nghttp2_session_want_read(c->h2) &&
		    !nghttp2_session_want_write(c->h2)) {
			snprintf(err, CLIENT_ERR_LEN, "HTTP/2 session ended "
			    "before the answer%s", c->goaway ?
			    " (GOAWAY)" : "");
			return -1;
		}
		n = conn_read(c, buf, sizeof(buf), err);
		if (n < 0)
			return -1;
		if (n == 0) {
			snprintf(err, CLIENT_ERR_LEN, "connection closed by "
			    "the server before the answer%s", c->goaway ?
			    " (GOAWAY)" : "");
			return -1;
		}
		rc = (int)nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		if (rc < 0) {
			snprintf(err, CLIENT_ERR_LEN, "HTTP/2 error: %s",
			    nghttp2_strerror(rc));
			return -1;
		}
	}
	(void)nghttp2_session_send(c->h2);
	if (!c->done) {
		snprintf(err, CLIENT_ERR_LEN, "no answer");
		return -1;
	}
	if (c->status == 0) {
		snprintf(err, CLIENT_ERR_LEN, "stream reset by the server "
		    "(%s) before a response", nghttp2_http2_strerror(
		    c->rst_code));
		return -1;
	}
	if (c->status != 200) {
		snprintf(err, CLIENT_ERR_LEN, "HTTP status %d", c->status);
		return -1;
	}
	if (c->rst_code != 0) {
		snprintf(err, CLIENT_ERR_LEN, "stream reset by the server "
		    "(%s)", nghttp2_http2_strerror(c->rst_code));
		return -1;
	}
	if (c->too_big) {
		snprintf(err, CLIENT_ERR_LEN, "response body larger than "
		    "65535 bytes");
		return -1;
	}
	if (strncasecmp(c->ctype, "application/dns-message", 23) != 0) {
		snprintf(err, CLIENT_ERR_LEN, "HTTP response content-type is "
		    "'%s', not application/dns-message", c->ctype);
		return -1;
	}
	memcpy(ans, c->body, c->blen);
	return (long)c->blen;
}

#endif /* HAVE_NGHTTP2 */

/* ---------------------------------------------------------- HTTP/1.1 */

/* Fill rbuf with more bytes; -1 on error (err set), 0 on close. */
static long
h1_fill(struct client_conn *c, char *err)
{
	long n;

	if (c->rlen >= sizeof(c->rbuf)) {
		snprintf(err, CLIENT_ERR_LEN, "HTTP response headers larger "
		    "than %d bytes", H1_HEAD_MAX);
		return -1;
	}
	n = conn_read(c, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, err);
	if (n > 0)
		c->rlen += (size_t)n;
	return n;
}

static void
h1_consume(struct client_conn *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/* Read one CRLF-terminated line into out (without CRLF); -1 on error. */
static int
h1_line(struct client_conn *c, char *out, size_t cap, char *err)
{
	for (int i = 0; i < 1000; i++) {
		uint8_t *e = memchr(c->rbuf, '\n', c->rlen);

		if (e != NULL) {
			size_t n = (size_t)(e - c->rbuf);
			size_t k = n;

			if (k > 0 && c->rbuf[k - 1] == '\r')
				k--;
			if (k >= cap) {
				snprintf(err, CLIENT_ERR_LEN, "HTTP header "
				    "line too long");
				return -1;
			}
			memcpy(out, c->rbuf, k);
			out[k] = 0;
			h1_consume(c, n + 1);
			return 0;
		}
		long r = h1_fill(c, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			snprintf(err, CLIENT_ERR_LEN, "connection closed by "
			    "the server before the answer");
			return -1;
		}
	}
	snprintf(err, CLIENT_ERR_LEN, "HTTP response too slow");
	return -1;
}

/* Copy n body bytes (from rbuf, then the connection) to out. */
static int
h1_body(struct client_conn *c, uint8_t *out, size_t n, char *err)
{
	size_t have = c->rlen < n ? c->rlen : n;

	memcpy(out, c->rbuf, have);
	h1_consume(c, have);
	return conn_read_all(c, out + have, n - have, err);
}

static long
h1_query(struct client_conn *c, const uint8_t *q, size_t qlen, uint8_t *ans,
    char *err)
{
	char path[90000], auth[300], line[H1_HEAD_MAX];
	static char req[100000];
	int n, status = 0;
	long clen = -1;
	bool chunked = false;
	size_t blen = 0;

	if (c->h1_closed) {
		snprintf(err, CLIENT_ERR_LEN, "the server closed the HTTP/1.1 "
		    "connection (Connection: close)");
		return -1;
	}
	if (request_path(c->o, q, qlen, path, sizeof(path)) < 0) {
		snprintf(err, CLIENT_ERR_LEN, "path too long");
		return -1;
	}
	authority(c->o, auth, sizeof(auth));
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "Accept: application/dns-message\r\nUser-Agent: cairn-client/"
	    PACKAGE_VERSION "\r\n", c->o->post ? "POST" : "GET", path, auth);
	if (c->o->post)
		n += snprintf(req + n, sizeof(req) - (size_t)n,
		    "Content-Type: application/dns-message\r\n"
		    "Content-Length: %zu\r\n", qlen);
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	if (c->o->verbose)
		printf(";; request headers\n%.*s", n, req);
	if (conn_write(c, req, (size_t)n, err) < 0)
		return -1;
	if (c->o->post && conn_write(c, q, qlen, err) < 0)
		return -1;
	if (h1_line(c, line, sizeof(line), err) < 0)
		return -1;
	if (c->o->verbose)
		printf(";; response headers\n%s\n", line);
	if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12) {
		snprintf(err, CLIENT_ERR_LEN, "not an HTTP/1.x response");
		return -1;
	}
	status = atoi(line + 9);
	c->ctype[0] = 0;
	for (int i = 0; i < 200; i++) {
		char *v;

		if (h1_line(c, line, sizeof(line), err) < 0)
			return -1;
		if (line[0] == 0)
			break;
		if (c->o->verbose)
			printf("%s\n", line);
		v = strchr(line, ':');
		if (v == NULL)
			continue;
		*v++ = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcasecmp(line, "content-length") == 0)
			clen = strtol(v, NULL, 10);
		else if (strcasecmp(line, "transfer-encoding") == 0 &&
		    strcasestr(v, "chunked"))
			chunked = true;
		else if (strcasecmp(line, "content-type") == 0)
			snprintf(c->ctype, sizeof(c->ctype), "%s", v);
		else if (strcasecmp(line, "connection") == 0 &&
		    strcasestr(v, "close"))
			c->h1_closed = true;
	}
	if (chunked) {
		for (int i = 0; i < 10000; i++) {
			long sz;

			if (h1_line(c, line, sizeof(line), err) < 0)
				return -1;
			sz = strtol(line, NULL, 16);
			if (sz < 0 || (size_t)sz > CLIENT_MAX_MSG - blen) {
				snprintf(err, CLIENT_ERR_LEN, "response body "
				    "larger than 65535 bytes");
				return -1;
			}
			if (sz == 0) {
				/* trailers up to the empty line */
				for (int k = 0; k < 100; k++) {
					if (h1_line(c, line, sizeof(line),
					    err) < 0)
						return -1;
					if (line[0] == 0)
						break;
				}
				break;
			}
			if (h1_body(c, ans + blen, (size_t)sz, err) < 0 ||
			    h1_line(c, line, sizeof(line), err) < 0)
				return -1;
			blen += (size_t)sz;
		}
	} else if (clen >= 0) {
		if (clen > CLIENT_MAX_MSG) {
			snprintf(err, CLIENT_ERR_LEN, "response body larger "
			    "than 65535 bytes");
			return -1;
		}
		if (h1_body(c, ans, (size_t)clen, err) < 0)
			return -1;
		blen = (size_t)clen;
	} else {
		/* body up to the end of the connection */
		c->h1_closed = true;
		for (int i = 0; i < 100000; i++) {
			long r;

			if (c->rlen > 0) {
				size_t k = c->rlen;

				if (k > CLIENT_MAX_MSG - blen) {
					snprintf(err, CLIENT_ERR_LEN, "response"
					    " body larger than 65535 bytes");
					return -1;
				}
				memcpy(ans + blen, c->rbuf, k);
				blen += k;
				c->rlen = 0;
			}
			r = h1_fill(c, err);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
		}
	}
	if (status != 200) {
		snprintf(err, CLIENT_ERR_LEN, "HTTP status %d", status);
		return -1;
	}
	if (strncasecmp(c->ctype, "application/dns-message", 23) != 0) {
		snprintf(err, CLIENT_ERR_LEN, "HTTP response content-type is "
		    "'%s', not application/dns-message", c->ctype);
		return -1;
	}
	return (long)blen;
}

/* ---------------------------------------------------------- DNS */

static long
udp_query(struct client_conn *c, const uint8_t *q, size_t qlen, uint8_t *ans,
    char *err)
{
	for (int i = 0; i < 1000; i++) {
		long n;

		if (i == 0 && send(c->fd, q, qlen, 0) < 0) {
			snprintf(err, CLIENT_ERR_LEN, "send: %s",
			    strerror(errno));
			return -1;
		}
		if (deadline_left(c) == 0)
			break;
		set_timeouts(c->fd, deadline_left(c) + 1);
		n = recv(c->fd, ans, CLIENT_MAX_MSG, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			snprintf(err, CLIENT_ERR_LEN, "%s", errno ==
			    ECONNREFUSED ? "connection refused (ICMP port "
			    "unreachable)" : strerror(errno));
			return -1;
		}
		if (n >= 2 && memcmp(ans, q, 2) == 0)
			return n;
		if (c->o->verbose)
			printf(";; ignored a %ld-byte datagram with another "
			    "ID\n", n);
	}
	snprintf(err, CLIENT_ERR_LEN, "timeout after %d ms", c->o->timeout_ms);
	return -1;
}

/* TCP and DoT: 2-byte length prefix (RFC 7766). */
static long
stream_query(struct client_conn *c, const uint8_t *q, size_t qlen,
    uint8_t *ans, char *err)
{
	uint8_t hdr[2];

	hdr[0] = (uint8_t)(qlen >> 8);
	hdr[1] = (uint8_t)qlen;
	if (conn_write(c, hdr, 2, err) < 0 || conn_write(c, q, qlen, err) < 0)
		return -1;
	for (int i = 0; i < 100; i++) {
		size_t n;

		if (conn_read_all(c, hdr, 2, err) < 0)
			return -1;
		n = (size_t)hdr[0] << 8 | hdr[1];
		if (conn_read_all(c, ans, n, err) < 0)
			return -1;
		if (n >= 2 && memcmp(ans, q, 2) == 0)
			return (long)n;
	}
	snprintf(err, CLIENT_ERR_LEN, "no answer with our ID");
	return -1;
}

/* ---------------------------------------------------------- API */

struct client_conn *
client_conn_open(const struct client_opts *o, char err[CLIENT_ERR_LEN])
{
	struct client_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, CLIENT_ERR_LEN, "out of memory");
		return NULL;
	}
	c->o = o;
	c->fd = net_connect(o, o->transport == CLIENT_UDP ? SOCK_DGRAM :
	    SOCK_STREAM, err);
	if (c->fd < 0)
		goto fail;
	if (o->transport == CLIENT_UDP || o->transport == CLIENT_TCP)
		return c;
	deadline_set(c);
	if (tls_open(c, err) < 0)
		goto fail;
#ifndef HAVE_NGHTTP2
	if (o->transport == CLIENT_DOH2) {
		snprintf(err, CLIENT_ERR_LEN, "built without libnghttp2: no "
		    "HTTP/2; use --http1.1");
		goto fail;
	}
#else
	if (o->transport == CLIENT_DOH2) {
		c->body = malloc(CLIENT_MAX_MSG);
		if (c->body == NULL) {
			snprintf(err, CLIENT_ERR_LEN, "out of memory");
			goto fail;
		}
		if (h2_open(c, err) < 0)
			goto fail;
	}
#endif
	return c;
fail:
	client_conn_close(c);
	return NULL;
}

long
client_conn_query(struct client_conn *c, const uint8_t *q, size_t qlen,
    uint8_t *ans, char err[CLIENT_ERR_LEN])
{
	deadline_set(c);
	switch (c->o->transport) {
	case CLIENT_DOH2:
#ifdef HAVE_NGHTTP2
		return h2_query(c, q, qlen, ans, err);
#else
		break;
#endif
	case CLIENT_DOH1:
		return h1_query(c, q, qlen, ans, err);
	case CLIENT_UDP:
		return udp_query(c, q, qlen, ans, err);
	case CLIENT_DOT:
	case CLIENT_TCP:
		return stream_query(c, q, qlen, ans, err);
	}
	snprintf(err, CLIENT_ERR_LEN, "no transport");
	return -1;
}

void
client_conn_close(struct client_conn *c)
{
	if (c == NULL)
		return;
#ifdef HAVE_NGHTTP2
	if (c->h2) {
		if (!c->io_error) {
			(void)nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
			    nghttp2_session_get_last_proc_stream_id(c->h2),
			    NGHTTP2_NO_ERROR, NULL, 0);
			(void)nghttp2_session_send(c->h2);
		}
		nghttp2_session_del(c->h2);
	}
#endif
	if (c->ssl) {
		set_timeouts(c->fd, 200);
		if (!c->io_error && SSL_is_init_finished(c->ssl))
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c->body);
	free(c);
}
