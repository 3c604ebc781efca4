/*
 * module/dns/dns_stream.c - plain DNS on the comm-point layer: UDP
 * datagrams (dns_udp_input) and the 2-byte length framing of DNS over
 * TCP and DNS over TLS (dns_stream_proto).
 *
 * Counts num.query.udp; num.query.tcp for every stream query, and
 * num.query.tls (and num.query.tls.resume on a resumed session) too
 * when the connection is TLS.
 *
 * Stream: queries are pipelined and answered out of order.  Each query
 * given to the resolver is a struct dns_q on its connection's list,
 * holding the resolver handle; the connection's close cancels every one
 * (res_cancel), so an answer can never reach a freed connection.  At
 * most DNS_STREAM_MAX_PENDING are in flight; past that the connection is
 * not read, and bytes already read wait in the connection's input
 * buffer.  A frame of length 0 or longer than msg-buffer-size closes the
 * connection.
 *
 * UDP: each query waiting for the resolver is a struct dns_uq on its
 * port's list (comm_udp_set_data), cancelled when the port is closed.
 *
 * This file does not parse DNS beyond the frame length: the resolver
 * checks the message.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "module/dns/dns_stream.h"
#include "module/module.h"
#include "resolver/resolver.h"
#include "util/config.h"
#include "util/log.h"
#include "util/stats.h"

/* Used when there is no config to read msg-buffer-size from. */
#define DNS_STREAM_DEFAULT_MAX 65535

struct dns_stream;

/* One stream query waiting for the resolver. */
struct dns_q {
	struct dns_q *prev, *next;
	struct dns_stream *s;
	struct res_req *h;	/* valid until answered or cancelled */
	bool in_submit;		/* inside res_submit */
	bool answered;		/* answered inside res_submit */
};

struct dns_stream {
	struct comm_conn *c;
	struct module_env *env;
	struct dns_q *pending;
	int npending;
	/* bytes read but not consumed: a partial frame, or frames held
	 * back while DNS_STREAM_MAX_PENDING queries are in flight */
	uint8_t *in;
	size_t in_len, in_cap;
	bool held;		/* reading paused for MAX_PENDING */
};

static size_t
frame_max(const struct dns_stream *s)
{
	const struct config *cfg = s->env != NULL ? s->env->cfg : NULL;
	size_t m = cfg != NULL ? cfg->msg_buffer_size : 0;

	if (m == 0 || m > 65535)
		m = 65535;	/* the 2-byte length field allows no more */
	return m;
}

static void
q_unlink(struct dns_stream *s, struct dns_q *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		s->pending = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	s->npending--;
	comm_conn_set_busy(s->c, s->npending > 0);
}

static void
stream_answer(struct dns_stream *s, const uint8_t *ans, size_t len)
{
	uint8_t hdr[2];
	struct iovec iov[2];
	int r;

	if (len == 0)
		return;		/* the resolver drops this one */
	if (len > 65535) {
		verbose(VERB_QUERY, "dns: answer of %zu bytes for %s does not "
		    "fit a TCP frame", len, comm_conn_peer_str(s->c));
		return;
	}
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	iov[0].iov_base = hdr;
	iov[0].iov_len = 2;
	iov[1].iov_base = (void *)ans;
	iov[1].iov_len = len;
	r = comm_conn_write(s->c, iov, 2);
	if (r == -ENOBUFS || r == -ENOMEM) {
		/* the peer does not read its answers */
		verbose(VERB_QUERY, "dns: %s does not read its answers: "
		    "closing", comm_conn_peer_str(s->c));
		comm_conn_close(s->c, false);
	}
}

static void
stream_done_cb(void *arg, const uint8_t *ans, size_t len)
{
	struct dns_q *q = arg;
	struct dns_stream *s = q->s;

	stream_answer(s, ans, len);
	if (q->in_submit) {
		q->answered = true;	/* the submitter frees it */
		return;
	}
	q_unlink(s, q);
	free(q);
	if (s->held && s->npending < DNS_STREAM_MAX_PENDING)
		comm_conn_want_writable(s->c);	/* go on in writable() */
}

/* Hand one query to the resolver. 0, or -errno to close. */
static int
stream_query(struct dns_stream *s, const uint8_t *msg, size_t len)
{
	struct res_client client;
	struct dns_q *q;
	struct res_req *h;
	socklen_t alen;

	STAT_INC(comm_conn_stats(s->c), QUERY_TCP);
	if (comm_conn_is_tls(s->c)) {
		STAT_INC(comm_conn_stats(s->c), QUERY_TLS);
		if (comm_conn_tls_resumed(s->c))
			STAT_INC(comm_conn_stats(s->c), QUERY_TLS_RESUME);
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->s = s;
	q->next = s->pending;
	if (s->pending != NULL)
		s->pending->prev = q;
	s->pending = q;
	s->npending++;
	comm_conn_set_busy(s->c, true);

	client.addr = comm_conn_peer(s->c, &alen);
	client.addrlen = alen;
	client.stream = true;
	client.encrypted = comm_conn_is_tls(s->c);
	q->in_submit = true;
	h = res_submit(s->env->res, msg, len, &client, stream_done_cb, q);
	q->in_submit = false;
	if (q->answered || h == NULL) {
		q_unlink(s, q);
		free(q);
		return 0;
	}
	q->h = h;
	return 0;
}

/*
 * Consume whole frames from data while fewer than MAX_PENDING queries
 * are in flight.  Returns the bytes consumed, or -errno to close.
 */
static long
stream_frames(struct dns_stream *s, const uint8_t *data, size_t len)
{
	size_t off = 0, max = frame_max(s);

	while (len - off >= 2 && s->npending < DNS_STREAM_MAX_PENDING) {
		size_t flen = ((size_t)data[off] << 8) | data[off + 1];
		int r;

		if (flen == 0 || flen > max) {
			verbose(VERB_QUERY, "dns: %s sent a frame of %zu "
			    "bytes: closing", comm_conn_peer_str(s->c), flen);
			return -EPROTO;
		}
		if (len - off - 2 < flen)
			break;
		r = stream_query(s, data + off + 2, flen);
		if (r < 0)
			return r;
		off += 2 + flen;
	}
	if (len - off >= 2 && s->npending >= DNS_STREAM_MAX_PENDING) {
		s->held = true;
		comm_conn_pause_read(s->c, 1);
	}
	return (long)off;
}

static int
in_keep(struct dns_stream *s, const uint8_t *data, size_t len)
{
	if (s->in_len + len > s->in_cap) {
		size_t cap = s->in_cap ? s->in_cap : 512;
		uint8_t *p;

		while (cap < s->in_len + len)
			cap *= 2;
		p = realloc(s->in, cap);
		if (p == NULL)
			return -ENOMEM;
		s->in = p;
		s->in_cap = cap;
	}
	memmove(s->in + s->in_len, data, len);
	s->in_len += len;
	return 0;
}

/* Run the frames held in s->in. */
static int
stream_backlog(struct dns_stream *s)
{
	long n;

	if (s->in_len == 0)
		return 0;
	n = stream_frames(s, s->in, s->in_len);
	if (n < 0)
		return (int)n;
	if (n > 0) {
		memmove(s->in, s->in + n, s->in_len - (size_t)n);
		s->in_len -= (size_t)n;
	}
	if (s->in_len == 0 && s->in_cap > 4096) {
		free(s->in);
		s->in = NULL;
		s->in_cap = 0;
	}
	return 0;
}

static int
stream_open(struct comm_conn *c, void *st)
{
	struct dns_stream *s = st;

	s->c = c;
	s->env = comm_conn_env(c);
	if (s->env == NULL || s->env->res == NULL)
		return -EINVAL;
	return 0;
}

static int
stream_input(struct comm_conn *c, void *st, const uint8_t *data,
    size_t len)
{
	struct dns_stream *s = st;
	long n;
	int r;

	(void)c;
	if (s->in_len > 0 || s->held) {
		/* continue what is held; keeps the bytes in order */
		r = in_keep(s, data, len);
		if (r < 0)
			return r;
		return stream_backlog(s);
	}
	n = stream_frames(s, data, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n < len)
		return in_keep(s, data + n, len - (size_t)n);
	return 0;
}

/* Called when answers made room under DNS_STREAM_MAX_PENDING (through
 * comm_conn_want_writable, so never from inside the resolver). */
static int
stream_writable(struct comm_conn *c, void *st)
{
	struct dns_stream *s = st;
	int r;

	if (!s->held || s->npending >= DNS_STREAM_MAX_PENDING)
		return 0;
	s->held = false;
	r = stream_backlog(s);
	if (r < 0)
		return r;
	if (!s->held)
		comm_conn_pause_read(c, 0);
	return 0;
}

static void
stream_close(struct comm_conn *c, void *st, enum comm_close_why why)
{
	struct dns_stream *s = st;
	struct dns_q *q, *n;

	(void)c;
	(void)why;
	for (q = s->pending; q != NULL; q = n) {
		n = q->next;
		res_cancel(q->h);
		free(q);
	}
	s->pending = NULL;
	s->npending = 0;
	free(s->in);
	s->in = NULL;
}

const struct comm_proto dns_stream_proto = {
	.name = "dnstcp",
	.state_size = sizeof(struct dns_stream),
	.open = stream_open,
	.input = stream_input,
	.writable = stream_writable,
	.idle = NULL,
	.close = stream_close,
};

/* ---------------------------------------------------------------- UDP */

/* One UDP query waiting for the resolver. */
struct dns_uq {
	struct dns_uq *prev, *next;
	struct dns_udp_port *port;
	struct res_req *h;
	bool in_submit;
	bool answered;
	socklen_t fromlen;
	struct sockaddr_storage from;
	struct comm_udp_dst dst;	/* family 0: not known */
};

/* Per UDP port: the queries waiting (comm_udp_set_data). */
struct dns_udp_port {
	struct comm_udp *u;
	struct dns_uq *pending;
	struct dns_uq *spare;	/* one freed record, for the next query:
				   a cache hit then allocates nothing */
};

static struct dns_uq *
uq_get(struct dns_udp_port *p)
{
	struct dns_uq *q = p->spare;

	if (q == NULL)
		return malloc(sizeof(*q));
	p->spare = NULL;
	return q;
}

static void
uq_put(struct dns_udp_port *p, struct dns_uq *q)
{
	if (p->spare == NULL)
		p->spare = q;
	else
		free(q);
}

static void
uq_unlink(struct dns_udp_port *p, struct dns_uq *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		p->pending = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
}

static void
udp_done_cb(void *arg, const uint8_t *ans, size_t len)
{
	struct dns_uq *q = arg;

	if (len > 0)
		(void)comm_udp_send(q->port->u, ans, len,
		    (struct sockaddr *)&q->from, q->fromlen, &q->dst);
	if (q->in_submit) {
		q->answered = true;
		return;
	}
	uq_unlink(q->port, q);
	uq_put(q->port, q);
}

static void
udp_port_free_cb(struct comm_udp *u, void *data)
{
	struct dns_udp_port *p = data;
	struct dns_uq *q, *n;

	(void)u;
	for (q = p->pending; q != NULL; q = n) {
		n = q->next;
		res_cancel(q->h);
		free(q);
	}
	free(p->spare);
	free(p);
}

/*
 * comm_udp_cb of UDP ports (env is the worker's struct module_env):
 * counts num.query.udp and hands the datagram to the resolver; the
 * answer goes back from the same socket to the sender, now or later.
 */
void
dns_udp_input(struct comm_udp *u, void *envp, const uint8_t *pkt,
    size_t len, const struct sockaddr *from, socklen_t fromlen,
    const struct sockaddr *src, socklen_t srclen,
    const struct comm_udp_dst *dst)
{
	struct module_env *env = envp;
	struct dns_udp_port *p = comm_udp_get_data(u);
	struct res_client client;
	struct dns_uq *q;
	struct res_req *h;

	if (env == NULL || env->res == NULL || fromlen > sizeof(q->from))
		return;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return;
		p->u = u;
		comm_udp_set_data(u, p, udp_port_free_cb);
	}
	if (env->stats != NULL)
		STAT_INC(env->stats, QUERY_UDP);
	q = uq_get(p);
	if (q == NULL)
		return;
	q->prev = NULL;
	q->h = NULL;
	q->answered = false;
	q->port = p;
	memcpy(&q->from, from, fromlen);
	q->fromlen = fromlen;
	if (dst != NULL)
		q->dst = *dst;
	else
		q->dst.family = 0;
	q->next = p->pending;
	if (p->pending != NULL)
		p->pending->prev = q;
	p->pending = q;

	client.addr = src;	/* the PROXY header's client, or 'from' */
	client.addrlen = srclen;
	client.stream = false;
	client.encrypted = false;
	q->in_submit = true;
	h = res_submit(env->res, pkt, len, &client, udp_done_cb, q);
	q->in_submit = false;
	if (q->answered || h == NULL) {
		uq_unlink(p, q);
		uq_put(p, q);
		return;
	}
	q->h = h;
}
