/*
 * bench/doh-floor.c - the floor under a DoH server's CPU per query: the
 * least a server pays that speaks DoH with OpenSSL and nghttp2 (the
 * libraries cairn is built on) and does no DNS work at all.
 *
 *     cc -O2 -I. -o doh-floor bench/doh-floor.c BUILD/libcairn.a \
 *         -lssl -lcrypto -lnghttp2
 *
 * (BUILD: a cairn build directory; only dns/base64url.o is taken from
 * its libcairn.a, so that ?dns= is decoded as cairnd decodes it.)
 *     ./doh-floor CERT KEY DOH_PORT UDP_PORT [UPSTREAM_PORT]
 *
 * One thread, one epoll set, level-triggered.  DoH on 127.0.0.1:DOH_PORT
 * (TLS with ALPN h2, OpenSSL's defaults plus read-ahead; nghttp2 with
 * SETTINGS max-concurrent-streams 100): every GET ?dns= or POST is
 * answered 200 with the headers cairnd sends (content-type,
 * content-length, cache-control).  The answer is the query itself with
 * QR and RA set and one A record appended (a pointer to the question
 * name, 192.0.2.1, TTL 300): no parse beyond the header, no cache, no
 * allocation per query but nghttp2's own.  Each readable connection is
 * read while OpenSSL holds bytes (no read() that only says EAGAIN), fed
 * to nghttp2, and whatever nghttp2 has to send goes out in one
 * SSL_write.
 *
 * With UPSTREAM_PORT, the floor is a forwarder instead: every DoH query
 * leaves, under a new ID, on one connected UDP socket to
 * 127.0.0.1:UPSTREAM_PORT (as dnsdist's backend socket), and the answer
 * goes back unchanged but for the ID.  No cache, no retry, no source-port
 * randomisation: less than any resolver does.
 *
 * UDP on 127.0.0.1:UDP_PORT is answered locally, always: up to 64
 * datagrams a recvmmsg, their answers in one sendmmsg (as cairnd does).
 * Upstream answers are read the same way, and each connection they
 * touched is flushed once after the batch.
 *
 * bench/run starts it as the column "floor"; it is never a competitor
 * ("best other" leaves it out).  A target below the floor's own figure is
 * out of reach for any server built on these libraries and syscalls.
 * Not a server: no limits, no timeouts, no checks beyond what keeps it
 * from crashing under the benchmark's clients.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "dns/base64url.h"

#define MAXQ	512		/* longest query accepted */
#define MAXFD	65536
#define OBUF	65536		/* one connection's pending output */
#define NPEND	65536		/* upstream IDs */
#define BATCH	64		/* datagrams a recvmmsg */

struct conn {
	struct conn *next_dead;	/* on the dead list */
	struct conn *next_flush;	/* on upstream_read's flush list */
	int fd, dead, dirty;
	unsigned serial;
	SSL *ssl;
	nghttp2_session *sess;
	int want_out;		/* EPOLLOUT registered */
	size_t olen, ooff;
	uint8_t obuf[OBUF];
};

struct strm {
	int32_t id;
	size_t qlen, rlen, roff;
	int post, bad;
	char clen[8];		/* sent by nghttp2 after respond() returns */
	uint8_t q[MAXQ + 16];
};

struct pend {
	int fd;
	unsigned serial;
	int32_t sid;
	uint16_t qid;
};

static int ep, lfd, ufd, upfd = -1;
static SSL_CTX *ctx;
static nghttp2_session_callbacks *cbs;
static struct conn *conns[MAXFD];
static struct conn *dead;	/* closed in this epoll batch, freed after */
static unsigned serial;
static struct pend pend[NPEND];
static uint16_t next_id;

static void
die(const char *m)
{
	perror(m);
	exit(1);
}

/* ------------------------------------------------------------ answers */

static const uint8_t arec[16] = {
	0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1
};

/* q (n bytes) becomes its own answer in place; returns the new length,
 * or 0 if it is not a query. */
static size_t
answer(uint8_t *q, size_t n)
{
	size_t e = 12;

	if (n < 12 || n > MAXQ || (q[2] & 0x80) || q[4] != 0 || q[5] != 1)
		return 0;
	while (e < n && q[e] != 0 && q[e] < 64)		/* the name */
		e += 1 + (size_t)q[e];
	if (e + 5 > n || q[e] != 0)
		return 0;
	n = e + 5;		/* the question; an OPT record is dropped */
	q[2] = (uint8_t)(0x80 | (q[2] & 0x79));		/* QR, keep RD */
	q[3] = 0x80;					/* RA, NOERROR */
	q[6] = 0;
	q[7] = 1;					/* ANCOUNT 1 */
	q[8] = q[9] = q[10] = q[11] = 0;
	memcpy(q + n, arec, sizeof(arec));
	return n + sizeof(arec);
}

/* The ?dns= parameter of path into s->q, decoded as cairnd decodes it
 * (dns/base64url.c). */
static void
get_query(struct strm *s, const uint8_t *p, size_t n)
{
	const uint8_t *e = p + n, *v = NULL, *end;
	long len;

	for (; p + 5 <= e; p++)
		if ((p[0] == '?' || p[0] == '&') && memcmp(p + 1, "dns=", 4) == 0) {
			v = p + 5;
			break;
		}
	if (v == NULL) {
		s->bad = 1;
		return;
	}
	end = memchr(v, '&', (size_t)(e - v));
	len = base64url_decode((const char *)v, (size_t)((end ? end : e) - v),
	    s->q, MAXQ);
	if (len < 0)
		s->bad = 1;
	else
		s->qlen = (size_t)len;
}

/* ------------------------------------------------------------ output */

static void
conn_close(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	conns[c->fd] = NULL;
	if (c->sess != NULL)
		nghttp2_session_del(c->sess);
	SSL_free(c->ssl);
	close(c->fd);
	c->dead = 1;
	c->next_dead = dead;
	dead = c;
}

static void
want_out(struct conn *c, int on)
{
	struct epoll_event ev;

	if (c->want_out == on)
		return;
	c->want_out = on;
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Everything nghttp2 has to send, in one SSL_write; returns -1 if the
 * connection is gone (closed here). */
static int
flush(struct conn *c)
{
	for (;;) {
		const uint8_t *d;
		ssize_t n;
		int w;

		while (c->ooff == c->olen) {
			c->ooff = c->olen = 0;
			while (c->olen < OBUF &&
			    (n = nghttp2_session_mem_send(c->sess, &d)) > 0) {
				if ((size_t)n > OBUF - c->olen) {
					fprintf(stderr, "output overflow\n");
					conn_close(c);
					return -1;
				}
				memcpy(c->obuf + c->olen, d, (size_t)n);
				c->olen += (size_t)n;
				if (c->olen > OBUF - 16384)
					break;
			}
			if (c->olen == 0) {
				want_out(c, 0);
				if (!nghttp2_session_want_read(c->sess) &&
				    !nghttp2_session_want_write(c->sess)) {
					conn_close(c);
					return -1;
				}
				return 0;
			}
		}
		w = SSL_write(c->ssl, c->obuf + c->ooff,
		    (int)(c->olen - c->ooff));
		if (w > 0) {
			c->ooff += (size_t)w;
			continue;
		}
		switch (SSL_get_error(c->ssl, w)) {
		case SSL_ERROR_WANT_WRITE:
			want_out(c, 1);
			return 0;
		case SSL_ERROR_WANT_READ:
			return 0;
		default:
			conn_close(c);
			return -1;
		}
	}
}

static ssize_t
read_cb(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *u)
{
	struct strm *s = src->ptr;
	size_t n = s->rlen - s->roff;

	(void)sess;
	(void)id;
	(void)u;
	if (n > len)
		n = len;
	memcpy(buf, s->q + s->roff, n);
	s->roff += n;
	if (s->roff == s->rlen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v, vl) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, \
	(vl), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE }

static void
respond(nghttp2_session *sess, struct strm *s)
{
	int cl;
	nghttp2_data_provider prd;

	if (s->bad || s->rlen == 0) {
		nghttp2_nv e[2] = { NV(":status", "400", 3),
		    NV("content-length", "0", 1) };

		nghttp2_submit_response(sess, s->id, e, 2, NULL);
		return;
	}
	cl = snprintf(s->clen, sizeof(s->clen), "%zu", s->rlen);
	{
		nghttp2_nv nva[4] = {
			NV(":status", "200", 3),
			NV("content-type", "application/dns-message", 23),
			NV("content-length", s->clen, (size_t)cl),
			NV("cache-control", "max-age=300", 11),
		};

		s->roff = 0;
		prd.source.ptr = s;
		prd.read_callback = read_cb;
		nghttp2_submit_response(sess, s->id, nva, 4, &prd);
	}
}

/* ------------------------------------------------------------ upstream */

static void
forward(struct conn *c, struct strm *s)
{
	struct pend *p;
	uint16_t id = next_id++;

	if (s->qlen < 12) {
		s->bad = 1;
		respond(c->sess, s);
		return;
	}
	p = &pend[id];
	p->fd = c->fd;
	p->serial = c->serial;
	p->sid = s->id;
	p->qid = (uint16_t)(s->q[0] << 8 | s->q[1]);
	s->q[0] = (uint8_t)(id >> 8);
	s->q[1] = (uint8_t)id;
	if (send(upfd, s->q, s->qlen, 0) < 0)
		perror("upstream send");
}

static uint8_t ubuf[BATCH][MAXQ + 16];
static struct iovec uiov[BATCH];
static struct mmsghdr umsg[BATCH];
static struct sockaddr_storage ufrom[BATCH];

/* Up to BATCH datagrams from fd into ubuf; returns how many. */
static int
recv_batch(int fd, int named)
{
	int i, n;

	for (i = 0; i < BATCH; i++) {
		uiov[i].iov_base = ubuf[i];
		uiov[i].iov_len = MAXQ;
		memset(&umsg[i].msg_hdr, 0, sizeof(umsg[i].msg_hdr));
		umsg[i].msg_hdr.msg_iov = &uiov[i];
		umsg[i].msg_hdr.msg_iovlen = 1;
		if (named) {
			umsg[i].msg_hdr.msg_name = &ufrom[i];
			umsg[i].msg_hdr.msg_namelen = sizeof(ufrom[i]);
		}
	}
	n = recvmmsg(fd, umsg, BATCH, MSG_DONTWAIT, NULL);
	return n < 0 ? 0 : n;
}

static void
upstream_read(void)
{
	struct conn *todo = NULL;
	int i, got;

	do {
		got = recv_batch(upfd, 0);
		for (i = 0; i < got; i++) {
			uint8_t *buf = ubuf[i];
			size_t n = umsg[i].msg_len;
			struct pend *p;
			struct conn *c;
			struct strm *s;

			if (n < 12)
				continue;
			p = &pend[buf[0] << 8 | buf[1]];
			c = p->fd >= 0 ? conns[p->fd] : NULL;
			if (c == NULL || c->serial != p->serial ||
			    c->sess == NULL)
				continue;
			s = nghttp2_session_get_stream_user_data(c->sess,
			    p->sid);
			if (s == NULL)
				continue;
			p->fd = -1;
			memcpy(s->q, buf, n);
			s->q[0] = (uint8_t)(p->qid >> 8);
			s->q[1] = (uint8_t)p->qid;
			s->rlen = n;
			respond(c->sess, s);
			if (!c->dirty) {
				c->dirty = 1;
				c->next_flush = todo;
				todo = c;
			}
		}
	} while (got == BATCH);
	while (todo != NULL) {
		struct conn *c = todo;

		todo = c->next_flush;
		c->dirty = 0;
		flush(c);	/* may close c: it goes on the dead list */
	}
}

/* ------------------------------------------------------------ nghttp2 */

static int
begin_headers_cb(nghttp2_session *sess, const nghttp2_frame *f, void *u)
{
	struct strm *s;

	(void)u;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = malloc(sizeof(*s));
	if (s == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->id = f->hd.stream_id;
	s->qlen = s->rlen = s->roff = 0;
	s->post = s->bad = 0;
	nghttp2_session_set_stream_user_data(sess, s->id, s);
	return 0;
}

static int
header_cb(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *n,
    size_t nl, const uint8_t *v, size_t vl, uint8_t fl, void *u)
{
	struct strm *s;

	(void)fl;
	(void)u;
	s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (s == NULL)
		return 0;
	if (nl == 7 && memcmp(n, ":method", 7) == 0)
		s->post = vl == 4 && memcmp(v, "POST", 4) == 0;
	else if (nl == 5 && memcmp(n, ":path", 5) == 0 && !s->post)
		get_query(s, v, vl);
	return 0;
}

static int
data_cb(nghttp2_session *sess, uint8_t fl, int32_t id, const uint8_t *d,
    size_t len, void *u)
{
	struct strm *s = nghttp2_session_get_stream_user_data(sess, id);

	(void)fl;
	(void)u;
	if (s == NULL)
		return 0;
	if (len > MAXQ - s->qlen) {
		s->bad = 1;
		return 0;
	}
	memcpy(s->q + s->qlen, d, len);
	s->qlen += len;
	return 0;
}

static int
frame_cb(nghttp2_session *sess, const nghttp2_frame *f, void *u)
{
	struct conn *c = u;
	struct strm *s;

	if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
		return 0;
	s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (s == NULL)
		return 0;
	if (upfd >= 0 && !s->bad) {
		forward(c, s);
		return 0;
	}
	if (!s->bad)
		s->rlen = answer(s->q, s->qlen);
	respond(sess, s);
	return 0;
}

static int
close_cb(nghttp2_session *sess, int32_t id, uint32_t err, void *u)
{
	(void)err;
	(void)u;
	free(nghttp2_session_get_stream_user_data(sess, id));
	nghttp2_session_set_stream_user_data(sess, id, NULL);
	return 0;
}

/* ------------------------------------------------------------ TLS */

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	if (nghttp2_select_next_protocol((unsigned char **)out, outlen, in,
	    inlen) != 1)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

static void
conn_read(struct conn *c)
{
	uint8_t buf[16384];
	int n;

	if (c->sess == NULL) {
		nghttp2_settings_entry iv[1] = {
			{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 } };
		int r = SSL_do_handshake(c->ssl);

		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);

			if (e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				conn_close(c);
			return;
		}
		if (nghttp2_session_server_new(&c->sess, cbs, c) != 0)
			die("nghttp2_session_server_new");
		nghttp2_submit_settings(c->sess, NGHTTP2_FLAG_NONE, iv, 1);
	}
	for (;;) {
		n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (nghttp2_session_mem_recv(c->sess, buf, (size_t)n) < 0) {
			conn_close(c);
			return;
		}
		if (!SSL_pending(c->ssl) && !SSL_has_pending(c->ssl)) {
			/* drained: no read() for EAGAIN (level-triggered
			 * epoll wakes us for more), as cairnd does */
			flush(c);
			return;
		}
	}
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		flush(c);
		return;
	default:
		conn_close(c);
	}
}

static void
accept_all(void)
{
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		struct conn *c;
		struct epoll_event ev;

		if (fd >= MAXFD) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (c == NULL)
			die("malloc");
		c->fd = fd;
		c->dead = c->dirty = 0;
		c->serial = ++serial;
		c->sess = NULL;
		c->want_out = 0;
		c->olen = c->ooff = 0;
		c->ssl = SSL_new(ctx);
		if (c->ssl == NULL)
			die("SSL_new");
		SSL_set_fd(c->ssl, fd);
		SSL_set_accept_state(c->ssl);
		conns[fd] = c;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

static void
udp_read(void)
{
	int i, j, got;

	while ((got = recv_batch(ufd, 1)) > 0) {
		for (i = j = 0; i < got; i++) {
			size_t a = answer(ubuf[i], umsg[i].msg_len);

			if (a == 0)
				continue;
			uiov[i].iov_len = a;
			if (j != i) {
				umsg[j] = umsg[i];
				umsg[j].msg_hdr.msg_iov = &uiov[i];
			}
			j++;
		}
		if (j > 0)
			sendmmsg(ufd, umsg, (unsigned)j, 0);
		if (got < BATCH)
			return;
	}
}

static int
bound(int type, int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("bind");
	return fd;
}

int
main(int argc, char **argv)
{
	static int lmark, umark, upmark;
	struct epoll_event ev, evs[64];
	int i, n;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: doh-floor CERT KEY DOH_PORT UDP_PORT "
		    "[UPSTREAM_PORT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		die("nghttp2_session_callbacks_new");
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
	    begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, close_cb);

	lfd = bound(SOCK_STREAM, atoi(argv[3]));
	if (listen(lfd, 4096) != 0)
		die("listen");
	ufd = bound(SOCK_DGRAM, atoi(argv[4]));
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.ptr = &lmark;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &umark;
	epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);
	if (argc == 6) {
		struct sockaddr_in sa;

		upfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)atoi(argv[5]));
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (upfd < 0 ||
		    connect(upfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			die("upstream");
		for (i = 0; i < NPEND; i++)
			pend[i].fd = -1;
		ev.data.ptr = &upmark;
		epoll_ctl(ep, EPOLL_CTL_ADD, upfd, &ev);
	}
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			struct conn *c = p;

			if (p == &lmark)
				accept_all();
			else if (p == &umark)
				udp_read();
			else if (p == &upmark)
				upstream_read();
			else if (c->dead)
				continue;
			else if (evs[i].events & EPOLLIN)
				conn_read(c);
			else if (evs[i].events & (EPOLLERR | EPOLLHUP))
				conn_close(c);
			else if (c->sess != NULL)
				flush(c);
		}
		while (dead != NULL) {
			struct conn *c = dead;

			dead = c->next_dead;
			free(c);
		}
	}
}
