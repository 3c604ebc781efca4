/*
 * resolver/upstream_tls.c - TLS client connections to upstreams and DNS
 * over TLS on them (see upstream.h); HTTP/2 framing is in upstream_h2.c.
 *
 * This file does not choose upstreams, time queries out or retry: the
 * caller (forward.c) does.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "resolver/backoff.h"
#include "resolver/outsrc.h"
#include "resolver/upstream.h"
#include "resolver/upstream_int.h"
#include "util/budget.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/stats.h"

struct budget ups_http_mem;	/* limit 0: counted, bounded elsewhere */

size_t
ups_http_mem_used(void)
{
	return budget_used(&ups_http_mem);
}

void *
ups_tls_ctx_new(const char *bundle)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		log_err("upstream TLS: SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (bundle != NULL && bundle[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, bundle, NULL) != 1) {
			log_err("upstream TLS: cannot load tls-cert-bundle %s",
			    bundle);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		log_err("upstream TLS: cannot load the system certificates");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
ups_tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

/* ------------------------------------------------------------ helpers */

static void
set_timer(struct ups_conn *c, unsigned msec)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(msec / 1000);
	tv.tv_usec = (suseconds_t)((msec % 1000) * 1000);
	evtimer_add(c->timer, &tv);
}

int
ups_conn_out_append(struct ups_conn *c, const uint8_t *p, size_t n)
{
	size_t live = c->out_len - c->out_off;

	/* the bound is checked before a frame: one frame may pass it */
	if (live >= UPS_MAX_OUTBUF)
		return -1;
	if (c->out_off > 0 && c->out_len + n > c->out_cap) {
		memmove(c->out, c->out + c->out_off, live);
		c->out_len = live;
		c->out_off = 0;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *q;

		while (cap < c->out_len + n)
			cap *= 2;
		q = realloc(c->out, cap);
		if (q == NULL)
			return -1;
		if (c->t == FWD_DOH)
			(void)budget_reserve(&ups_http_mem, cap - c->out_cap);
		c->out = q;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

static void
req_unlink(struct ups_req *r)
{
	struct ups_conn *c = r->c;

	if (c == NULL)
		return;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	c->nreqs--;
	r->c = NULL;
	r->prev = r->next = NULL;
}

/* Free the output buffer (all written, or the connection is going). */
static void
out_free(struct ups_conn *c)
{
	if (c->t == FWD_DOH && c->out_cap > 0)
		budget_release(&ups_http_mem, c->out_cap);
	free(c->out);
	c->out = NULL;
	c->out_cap = c->out_len = c->out_off = 0;
}

static void
req_free(struct ups_req *r)
{
	if (r->mem + r->ans_len > 0)
		budget_release(&ups_http_mem, r->mem + r->ans_len);
	free(r->ans);
	free(r);
}

void
ups_req_finish(struct ups_req *r, enum ups_result res, const uint8_t *pkt,
    size_t len)
{
	ups_done_cb cb = r->cb;
	void *arg = r->arg;

	req_unlink(r);
	req_free(r);
	cb(arg, res, pkt, len);
}

/* The session slot for (ss, auth), or NULL. */
static struct ups_sess *
sess_find(struct ups_pool *p, const struct fwd_addr *a)
{
	size_t i;

	for (i = 0; i < UPS_MAX_SESS; i++) {
		struct ups_sess *e = &p->sess[i];

		if (e->sess != NULL && e->len == a->len &&
		    memcmp(&e->ss, &a->ss, a->len) == 0 &&
		    strcmp(e->auth, a->auth) == 0)
			return e;
	}
	return NULL;
}

/*
 * Keep the session of a connection that completed its handshake (and
 * so checked the certificate for this address and name), for the next
 * connection to the same upstream.  TLS 1.3 tickets come after the
 * handshake: this runs when the first data is read, and again when the
 * connection is freed (if the session is still resumable then).
 */
static void
sess_save(struct ups_conn *c)
{
	struct ups_pool *p = c->pool;
	SSL_SESSION *s;
	struct ups_sess *e;

	if (!c->opened || c->ssl == NULL)
		return;
	s = SSL_get0_session(c->ssl);
	if (s == NULL || !SSL_SESSION_is_resumable(s))
		return;
	/* a copy: a later fatal error on c marks c's own session
	 * unresumable (an upstream closing without close_notify) */
	s = SSL_SESSION_dup(s);
	if (s == NULL)
		return;
	e = sess_find(p, &c->addr);
	if (e == NULL) {
		e = &p->sess[p->sess_next];
		p->sess_next = (p->sess_next + 1) % UPS_MAX_SESS;
	}
	if (e->sess != NULL)
		SSL_SESSION_free(e->sess);
	e->ss = c->addr.ss;
	e->len = c->addr.len;
	memcpy(e->auth, c->addr.auth, sizeof(e->auth));
	e->sess = s;
}

/* Close the socket and free c; requests still on it get no callback. */
static void
conn_free(struct ups_conn *c)
{
	struct ups_pool *p = c->pool;

	while (c->reqs != NULL) {
		struct ups_req *r = c->reqs;

		req_unlink(r);
		req_free(r);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (p->conns == c)
		p->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->t == FWD_DOH)
		ups_h2_free(c);
	sess_save(c);
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	out_free(c);
	free(c->frame);
	free(c);
}

/*
 * Fail every request of a dead connection and free it.  A request that
 * went out on a connection that had already answered others gets
 * UPS_RETRY (the upstream may just have closed an idle connection);
 * the rest UPS_FAIL.
 */
static void
conn_reap(struct ups_conn *c)
{
	while (c->reqs != NULL) {
		struct ups_req *r = c->reqs;

		ups_req_finish(r, c->answered ? UPS_RETRY : UPS_FAIL, NULL, 0);
	}
	conn_free(c);
}

static void
conn_fail(struct ups_conn *c, const char *why, bool logged)
{
	if (c->state != UPS_C_DEAD && !logged)
		verbose(c->answered ? VERB_ALGO : VERB_DETAIL,
		    "upstream %s (%s): %s", c->addr.text, c->t == FWD_DOH ?
		    "https" : "tls", why);
	/* a connection that never answered: the address is down for a
	 * while (a working one that drops is retried by the caller) */
	if (c->state != UPS_C_DEAD && !c->answered)
		backoff_fail(c->pool->bo, &c->addr.ss, c->addr.len, c->t,
		    mono_msec());
	c->state = UPS_C_DEAD;
	c->reusable = false;
	if (c->busy == 0)
		conn_reap(c);
}

void
ups_conn_fail(struct ups_conn *c, const char *why)
{
	conn_fail(c, why, false);
}

/* ------------------------------------------------------------ DoT */

/* Frame the queued DoT queries into the output. */
static int
dot_submit(struct ups_conn *c)
{
	struct ups_req *r;

	for (r = c->reqs; r != NULL; r = r->next) {
		uint8_t len[2];

		if (r->sent)
			continue;
		len[0] = (uint8_t)(r->qlen >> 8);
		len[1] = (uint8_t)r->qlen;
		if (ups_conn_out_append(c, len, 2) < 0 ||
		    ups_conn_out_append(c, r->q, r->qlen) < 0)
			return -1;
		r->sent = true;
	}
	return 0;
}

/* One whole DoT message arrived: give it to the query with its ID. */
static void
dot_message(struct ups_conn *c, const uint8_t *m, size_t n)
{
	struct ups_req *r;
	uint16_t id;

	if (n < 12) {
		ups_conn_fail(c, "short DNS message");
		return;
	}
	id = (uint16_t)((m[0] << 8) | m[1]);
	for (r = c->reqs; r != NULL; r = r->next)
		if (r->sent && r->id == id)
			break;
	if (r == NULL) {
		if (c->pool->st != NULL)
			STAT_INC(c->pool->st, UNWANTED_REPLIES);
		verbose(VERB_ALGO, "upstream %s: answer with unknown ID %u "
		    "ignored", c->addr.text, id);
		return;
	}
	c->answered = true;
	c->answers++;
	ups_req_finish(r, UPS_OK, m, n);
}

static int
dot_recv(struct ups_conn *c, const uint8_t *p, size_t n)
{
	while (n > 0 && c->state != UPS_C_DEAD) {
		if (c->frame_have < 2) {
			c->lenbuf[c->frame_have++] = *p++;
			n--;
			if (c->frame_have == 2)
				c->frame_len = ((size_t)c->lenbuf[0] << 8) |
				    c->lenbuf[1];
			continue;
		} else {
			size_t want = c->frame_len - (c->frame_have - 2);
			size_t k = n < want ? n : want;

			memcpy(c->frame + (c->frame_have - 2), p, k);
			c->frame_have += k;
			p += k;
			n -= k;
		}
		if (c->frame_have == c->frame_len + 2) {
			c->frame_have = 0;
			dot_message(c, c->frame, c->frame_len);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ I/O */

static int
proto_submit(struct ups_conn *c)
{
	if (c->t == FWD_DOH)
		return ups_h2_submit(c);
	return dot_submit(c);
}

/* Handshake done: check ALPN for DoH, start the protocol. */
static int
conn_opened(struct ups_conn *c)
{
	c->state = UPS_C_OPEN;
	c->opened = true;
	if (c->t == FWD_DOH) {
		const unsigned char *alpn = NULL;
		unsigned int alen = 0;

		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
			ups_conn_fail(c, "the server did not select ALPN h2");
			return -1;
		}
		if (ups_h2_start(c) < 0) {
			ups_conn_fail(c, "cannot start the HTTP/2 session");
			return -1;
		}
	} else {
		c->frame = malloc(UPS_MAX_ANSWER);
		if (c->frame == NULL) {
			ups_conn_fail(c, "out of memory");
			return -1;
		}
	}
	evtimer_del(c->timer);
	verbose(VERB_ALGO, "upstream %s: %s connection open%s", c->addr.text,
	    c->t == FWD_DOH ? "https" : "tls", SSL_session_reused(c->ssl) ?
	    " (TLS session resumed)" : "");
	if (proto_submit(c) < 0) {
		ups_conn_fail(c, "output buffer full");
		return -1;
	}
	return 0;
}

static void
ssl_fail(struct ups_conn *c, int err, const char *what)
{
	char buf[300];
	long vr = c->ssl != NULL ? SSL_get_verify_result(c->ssl) : X509_V_OK;

	if (vr != X509_V_OK)
		snprintf(buf, sizeof(buf), "%s: certificate check failed: %s",
		    what, X509_verify_cert_error_string(vr));
	else if (err == SSL_ERROR_SSL)
		snprintf(buf, sizeof(buf), "%s: %s", what,
		    ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) : "TLS error");
	else if (err == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, sizeof(buf), "%s: closed by the server", what);
	else
		snprintf(buf, sizeof(buf), "%s: %s", what, errno ?
		    strerror(errno) : "connection closed");
	ERR_clear_error();
	/* a certificate that does not check is the operator's business:
	 * a warning, at most one per UPS_WARN_SEC per worker */
	if (vr != X509_V_OK) {
		time_t now = time(NULL);

		if (now - c->pool->last_warn >= UPS_WARN_SEC) {
			c->pool->last_warn = now;
			log_warn("upstream %s: %s", c->addr.text, buf);
		} else {
			verbose(VERB_DETAIL, "upstream %s: %s", c->addr.text,
			    buf);
		}
	}
	conn_fail(c, buf, vr != X509_V_OK);
}

/* Read what is there (bounded), feed the protocol.  -1: failed. */
static int
conn_read(struct ups_conn *c)
{
	uint8_t buf[16384];
	int i;

	for (i = 0; i < 64 && c->state == UPS_C_OPEN; i++) {
		int n, err;

		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n > 0 && !c->sess_saved) {
			/* TLS 1.3 tickets precede the first data; a close
			 * without close_notify would make it unresumable */
			c->sess_saved = true;
			sess_save(c);
		}
		if (n > 0) {
			int rc = c->t == FWD_DOH ? ups_h2_recv(c, buf,
			    (size_t)n) : dot_recv(c, buf, (size_t)n);

			if (rc < 0) {
				ups_conn_fail(c, "protocol error");
				return -1;
			}
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return 0;
		ssl_fail(c, err, "read");
		return -1;
	}
	return c->state == UPS_C_OPEN ? 0 : -1;
}

/* Write out what can go.  -1: failed. */
static int
conn_write(struct ups_conn *c)
{
	int i;

	for (i = 0; i < 64; i++) {
		int n, err;

		if (c->t == FWD_DOH && ups_h2_send(c) < 0) {
			ups_conn_fail(c, "HTTP/2 send error");
			return -1;
		}
		if (c->out_off == c->out_len) {
			/* all written: an idle connection holds no buffer */
			out_free(c);
			return 0;
		}
		ERR_clear_error();
		errno = 0;
		n = SSL_write(c->ssl, c->out + c->out_off,
		    (int)(c->out_len - c->out_off));
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return 0;
		ssl_fail(c, err, "write");
		return -1;
	}
	return 0;
}

static void
conn_arm(struct ups_conn *c, bool want_write)
{
	if (want_write)
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
}

/* Whether the connection should go: idle past the timer, or GOAWAY
 * done. */
static void
conn_check_idle(struct ups_conn *c)
{
	if (c->state != UPS_C_OPEN)
		return;
	if (c->t == FWD_DOH && ups_h2_finished(c)) {
		c->state = UPS_C_DEAD;
		c->reusable = false;
		return;
	}
	if (c->nreqs == 0 && !c->reusable) {
		c->state = UPS_C_DEAD;
		return;
	}
	if (c->nreqs == 0 && !evtimer_pending(c->timer, NULL))
		set_timer(c, UPS_IDLE_MSEC);
	else if (c->nreqs > 0)
		evtimer_del(c->timer);
}

/* The I/O loop: connect, handshake, read, write; then re-arm. */
static void
conn_io(struct ups_conn *c)
{
	bool want_write = false;

	c->busy++;
	if (c->state == UPS_C_CONNECT) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ||
		    err != 0) {
			errno = err;
			ssl_fail(c, SSL_ERROR_SYSCALL, "connect");
			goto out;
		}
		c->state = UPS_C_HANDSHAKE;
	}
	if (c->state == UPS_C_HANDSHAKE) {
		int n, err;

		ERR_clear_error();
		errno = 0;
		n = SSL_connect(c->ssl);
		if (n != 1) {
			err = SSL_get_error(c->ssl, n);
			if (err == SSL_ERROR_WANT_WRITE)
				want_write = true;
			else if (err != SSL_ERROR_WANT_READ)
				ssl_fail(c, err, "TLS handshake");
			goto out;
		}
		if (conn_opened(c) < 0)
			goto out;
	}
	if (c->state == UPS_C_OPEN && conn_read(c) == 0 &&
	    c->state == UPS_C_OPEN && conn_write(c) == 0)
		want_write = c->out_off < c->out_len;
out:
	c->busy--;
	if (c->state == UPS_C_OPEN)
		conn_check_idle(c);
	if (c->state == UPS_C_DEAD) {
		if (c->busy == 0)
			conn_reap(c);
		return;
	}
	conn_arm(c, want_write || c->state == UPS_C_CONNECT);
}

static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_io(arg);
}

static int conn_start(struct ups_conn *c);

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ups_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == UPS_C_WAIT) {
		/* the address's back-off is over: connect now */
		if (conn_start(c) < 0)
			ups_conn_fail(c, "connect failed");
		return;
	}
	if (c->state != UPS_C_OPEN) {
		ups_conn_fail(c, "connect or TLS handshake timed out");
		return;
	}
	if (c->nreqs == 0) {
		verbose(VERB_ALGO, "upstream %s: idle, closed", c->addr.text);
		conn_free(c);
	}
}

/* ------------------------------------------------------------ pool */

void
ups_pool_set_src(struct ups_pool *p, struct out_src *src)
{
	p->src = src;
}

struct ups_pool *
ups_pool_new(struct event_base *base, struct stats *st, struct backoff *bo)
{
	struct ups_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->base = base;
	p->st = st;
	p->bo = bo;
	return p;
}

void
ups_pool_free(struct ups_pool *p)
{
	size_t i;

	if (p == NULL)
		return;
	while (p->conns != NULL)
		conn_free(p->conns);
	for (i = 0; i < UPS_MAX_SESS; i++)
		if (p->sess[i].sess != NULL)
			SSL_SESSION_free(p->sess[i].sess);
	free(p);
}

static bool
conn_matches(const struct ups_conn *c, const struct fwd_addr *a,
    enum fwd_transport t, const char *endpoint)
{
	return c->reusable && c->t == t && c->addr.len == a->len &&
	    memcmp(&c->addr.ss, &a->ss, a->len) == 0 &&
	    strcmp(c->addr.auth, a->auth) == 0 &&
	    (t != FWD_DOH || strcmp(c->endpoint, endpoint) == 0);
}

/* The IP of a as text (for the certificate check and :authority). */
static void
addr_ip(const struct fwd_addr *a, char *buf, size_t len)
{
	if (a->ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    &a->ss)->sin6_addr, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    &a->ss)->sin_addr, buf, (socklen_t)len);
}

/*
 * Open the socket, start the TCP connect and set up TLS for c (state
 * UPS_C_CONNECT, the set-up timer running).  Returns 0, or -1 (c has
 * no socket events then; the caller fails or frees it).
 */
static int
conn_start(struct ups_conn *c)
{
	struct ups_pool *p = c->pool;
	const struct fwd_addr *a = &c->addr;
	X509_VERIFY_PARAM *vp;
	char ip[INET6_ADDRSTRLEN];

	c->state = UPS_C_CONNECT;
	addr_ip(a, ip, sizeof(ip));
	c->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	if (out_src_bind(p->src, c->fd, a->ss.ss_family,
	    out_src_pick(p->src, a->ss.ss_family)) < 0) {
		verbose(VERB_ALGO, "upstream %s: bind to an "
		    "outgoing-interface: %s", a->text, strerror(errno));
		goto fail;
	}
	/* queries are small writes on a long connection: Nagle would hold
	 * one behind the delayed ACK of the last (40 ms) */
	{
		int one = 1;

		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	if (connect(c->fd, (const struct sockaddr *)&a->ss, a->len) < 0 &&
	    errno != EINPROGRESS) {
		verbose(VERB_ALGO, "upstream %s: connect: %s", a->text,
		    strerror(errno));
		goto fail;
	}
	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	SSL_set_connect_state(c->ssl);
	vp = SSL_get0_param(c->ssl);
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (a->auth[0] != '\0') {
		if (SSL_set_tlsext_host_name(c->ssl, a->auth) != 1 ||
		    X509_VERIFY_PARAM_set1_host(vp, a->auth, 0) != 1)
			goto fail;
	} else if (X509_VERIFY_PARAM_set1_ip_asc(vp, ip) != 1) {
		goto fail;
	}
	if (c->t == FWD_DOH && SSL_set_alpn_protos(c->ssl,
	    (const unsigned char *)"\x02h2", 3) != 0)
		goto fail;
	{
		struct ups_sess *e = sess_find(p, a);

		/* resume: the certificate was checked for this name */
		if (e != NULL)
			(void)SSL_set_session(c->ssl, e->sess);
	}
	c->ev_read = event_new(p->base, c->fd, EV_READ | EV_PERSIST,
	    conn_io_cb, c);
	c->ev_write = event_new(p->base, c->fd, EV_WRITE | EV_PERSIST,
	    conn_io_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL ||
	    event_add(c->ev_read, NULL) < 0 || event_add(c->ev_write, NULL) < 0)
		goto fail;
	set_timer(c, UPS_CONNECT_MSEC);
	return 0;
fail:
	ERR_clear_error();
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
	return -1;
}

/*
 * A connection to a for 't', in the pool.  While the address is down
 * (backoff.h) it waits (UPS_C_WAIT) and connects when the time is over;
 * else it connects now.  NULL when it cannot be made (the address is
 * then marked down if the connect itself failed).
 */
static struct ups_conn *
conn_new(struct ups_pool *p, SSL_CTX *ctx, const struct fwd_addr *a,
    enum fwd_transport t, const char *endpoint)
{
	struct ups_conn *c = calloc(1, sizeof(*c));
	char ip[INET6_ADDRSTRLEN];
	uint64_t now = mono_msec(), until;

	if (c == NULL)
		return NULL;
	c->fd = -1;
	c->pool = p;
	c->ctx = ctx;
	c->addr = *a;
	c->t = t;
	snprintf(c->endpoint, sizeof(c->endpoint), "%s", endpoint ? endpoint :
	    FWD_HTTP_ENDPOINT);
	addr_ip(a, ip, sizeof(ip));
	if (a->auth[0] != '\0')
		snprintf(c->authority, sizeof(c->authority), "%s", a->auth);
	else if (a->ss.ss_family == AF_INET6)
		snprintf(c->authority, sizeof(c->authority), "[%s]", ip);
	else
		snprintf(c->authority, sizeof(c->authority), "%s", ip);
	c->state = UPS_C_WAIT;
	c->reusable = true;
	/* in the pool from here on: conn_free unlinks it */
	c->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = c;
	p->conns = c;
	c->timer = evtimer_new(p->base, conn_timer_cb, c);
	if (c->timer == NULL) {
		conn_free(c);
		return NULL;
	}
	until = backoff_down_until(p->bo, &a->ss, a->len, t, now, NULL);
	if (until > now) {
		verbose(VERB_ALGO, "upstream %s: down, next connect in %llu "
		    "ms", a->text, (unsigned long long)(until - now));
		set_timer(c, (unsigned)(until - now));
		return c;
	}
	if (conn_start(c) < 0) {
		backoff_fail(p->bo, &a->ss, a->len, t, now);
		conn_free(c);
		return NULL;
	}
	return c;
}

/* A DoT ID no other query in flight on c uses, near 'want'. */
static uint16_t
dot_free_id(const struct ups_conn *c, uint16_t want)
{
	int i;

	for (i = 0; i < 65536; i++) {
		const struct ups_req *r;
		uint16_t id = (uint16_t)(want + (uint16_t)i * 7919u);

		for (r = c->reqs; r != NULL; r = r->next)
			if (r->id == id)
				break;
		if (r == NULL)
			return id;
	}
	return want;	/* not reached: at most UPS_MAX_QUEUED queries */
}

struct ups_req *
ups_query(struct ups_pool *p, void *tls_ctx, const struct fwd_addr *a,
    enum fwd_transport t, const char *endpoint, uint8_t *query,
    size_t qlen, ups_done_cb cb, void *arg)
{
	struct ups_conn *c;
	struct ups_req *r, *last;

	if (tls_ctx == NULL || qlen < 12 || qlen > 65535 ||
	    (t != FWD_DOT && t != FWD_DOH))
		return NULL;
#ifndef HAVE_NGHTTP2
	if (t == FWD_DOH)
		return NULL;
#endif
	for (c = p->conns; c != NULL; c = c->next)
		if (conn_matches(c, a, t, endpoint))
			break;
	if (c == NULL && (c = conn_new(p, tls_ctx, a, t, endpoint)) == NULL)
		return NULL;
	if (c->nreqs >= UPS_MAX_QUEUED || c->out_len - c->out_off >=
	    UPS_MAX_OUTBUF) {
		verbose(VERB_DETAIL, "upstream %s: queue full", a->text);
		return NULL;
	}
	r = calloc(1, sizeof(*r) + qlen);
	if (r == NULL)
		return NULL;
	if (t == FWD_DOT) {
		r->id = dot_free_id(c, (uint16_t)((query[0] << 8) | query[1]));
		query[0] = (uint8_t)(r->id >> 8);
		query[1] = (uint8_t)r->id;
	} else {
		query[0] = query[1] = 0;	/* RFC 8484 4.1 */
	}
	memcpy(r->q, query, qlen);
	r->qlen = qlen;
	if (t == FWD_DOH) {
		(void)budget_reserve(&ups_http_mem, qlen);
		r->mem = qlen;
	}
	r->cb = cb;
	r->arg = arg;
	r->stream_id = -1;
	r->answers = c->answers;
	r->c = c;
	/* append: queued queries go out in order */
	for (last = c->reqs; last != NULL && last->next != NULL;
	    last = last->next)
		;
	if (last != NULL) {
		last->next = r;
		r->prev = last;
	} else {
		c->reqs = r;
	}
	c->nreqs++;
	if (c->state == UPS_C_OPEN)
		evtimer_del(c->timer);	/* the idle timer; the connect
					   timer is not moved by queries */
	if (c->state == UPS_C_OPEN && c->busy == 0) {
		if (proto_submit(c) < 0) {
			req_unlink(r);
			req_free(r);
			return NULL;
		}
		conn_arm(c, true);
	} else if (c->state == UPS_C_OPEN) {
		/* inside conn_io (a callback): sent when it returns */
		(void)proto_submit(c);
	}
	if (p->st != NULL) {
		if (t == FWD_DOT)
			STAT_INC(p->st, QUERY_TLSOUT);
		else
			STAT_INC(p->st, QUERY_HTTPSOUT);
	}
	return r;
}

void
ups_req_cancel(struct ups_req *r)
{
	struct ups_conn *c;

	if (r == NULL)
		return;
	c = r->c;
	if (c != NULL && c->t == FWD_DOH && r->sent)
		ups_h2_cancel(c, r);
	/*
	 * Given up on (the caller timed out) and no answer at all came on
	 * the connection since it was queued: the connection looks stuck.  New
	 * queries go to a new connection; this one closes when its last
	 * query is gone.
	 */
	if (c != NULL && c->answers == r->answers && c->reusable &&
	    c->state != UPS_C_WAIT) {
		verbose(VERB_ALGO, "upstream %s: no answer since a query was "
		    "sent: not reused", c->addr.text);
		c->reusable = false;
	}
	req_unlink(r);
	req_free(r);
	if (c != NULL && c->state == UPS_C_WAIT && c->nreqs == 0) {
		conn_free(c);		/* nobody waits for the connect */
		return;
	}
	if (c != NULL && c->state == UPS_C_OPEN && c->busy == 0) {
		if (c->t == FWD_DOH)
			conn_arm(c, true);	/* RST_STREAM to send */
		conn_check_idle(c);
		if (c->state == UPS_C_DEAD)
			conn_free(c);
	}
}
