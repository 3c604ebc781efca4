/*
 * comm/tcp.c - stream connections (TCP, and TLS through tls.c): reading
 * into the worker's buffer and handing bytes to the proto, the output
 * buffer and its flushing, back-pressure, the idle timer, and closing.
 *
 * Rules kept here:
 * - every comm callback runs with c->depth raised; writes made inside
 *   are flushed and closes carried out by comm_conn_settle() once the
 *   depth is back to 0 (Redis CONN_FLAG_CLOSE_SCHEDULED);
 * - writes made outside comm callbacks (resolver answers) activate the
 *   write event once, so all answers of one loop turn leave in one
 *   write (or as few SSL_write calls as possible);
 * - one read event does at most COMM_READS_PER_EVENT reads and
 *   COMM_BYTES_PER_EVENT bytes, then yields (event_active) so other
 *   connections get their turn;
 * - output above COMM_OUT_MARK stops reading; below it again reading
 *   resumes and proto->writable runs;
 * - on a proxy port the PROXY header is read first, before TLS, with
 *   no byte of what follows (proxy_read).
 *
 * It does not accept or count connections (base.c) nor speak TLS
 * itself (tls.c) nor parse the PROXY header (proxy.c).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "comm/comm_int.h"
#include "comm/proxy.h"
#include "util/clock.h"
#include "util/log.h"

static size_t
out_pending(const struct comm_conn *c)
{
	return c->out_len - c->out_off;
}

static void
schedule_flush(struct comm_conn *c)
{
	if (!c->flush_scheduled) {
		c->flush_scheduled = true;
		event_active(c->wev, EV_WRITE, 1);
	}
}

static void
request_close(struct comm_conn *c, enum comm_close_why why, bool graceful)
{
	if (c->close_req) {
		if (!graceful)
			c->close_graceful = false;
		return;
	}
	c->close_req = true;
	c->close_graceful = graceful;
	c->why = why;
}

static bool
reading_wanted(const struct comm_conn *c)
{
	return !c->close_req && !c->pause_mod && !c->pause_mark && !c->eof &&
	    !c->handshaking;
}

/* Add or remove the read and write events to match the state. */
void
comm_conn_update_events(struct comm_conn *c)
{
	bool rd;

	if (c->handshaking)
		return;
	rd = reading_wanted(c);
	if (rd || c->ssl_write_wants_read) {
		if (!c->rev_on) {
			event_add(c->rev, NULL);
			c->rev_on = true;
			/* TLS may hold decrypted bytes the fd will not
			 * announce again. */
			if (rd && c->ssl != NULL)
				event_active(c->rev, EV_READ, 1);
		}
	} else if (c->rev_on) {
		event_del(c->rev);
		c->rev_on = false;
	}
	/* an SSL_write that waits for a read must not spin on a writable
	 * socket: it goes on from the read event */
	if ((out_pending(c) > 0 && !c->ssl_write_wants_read) ||
	    c->ssl_read_wants_write)
		event_add(c->wev, NULL);
}

/*
 * The output buffer is drained: no connection keeps one while it has
 * nothing to send (idle connections would hold 4 KiB each).  The worker
 * keeps one drained buffer of the usual size for the next write, so a
 * busy worker does not malloc and free one per answer.
 */
static void
out_release(struct comm_conn *c)
{
	struct comm_base *cb = c->base;

	if (c->out == NULL)
		return;
	if (cb->spare_out == NULL && c->out_cap <= COMM_READ_BUF) {
		cb->spare_out = c->out;
		cb->spare_cap = c->out_cap;
	} else
		free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
}

/* Write as much pending output as the socket takes. 0 or -1 (error). */
static int
conn_flush(struct comm_conn *c)
{
	while (out_pending(c) > 0) {
		ssize_t n;

		if (c->ssl != NULL) {
			n = comm_tls_write(c, c->out + c->out_off,
			    out_pending(c));
			if (n < 0)
				return -1;
			if (n == 0)
				return 0;
		} else {
			n = send(c->fd, c->out + c->out_off, out_pending(c),
			    MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				verbose(VERB_QUERY, "comm: write to %s: %s",
				    c->peerstr, strerror(errno));
				return -1;
			}
		}
		c->out_off += (size_t)n;
		if (!c->own_activity)
			comm_conn_touch(c);
	}
	c->out_off = c->out_len = 0;
	out_release(c);
	return 0;
}

/*
 * After callbacks: carry out a requested close, flush output, apply
 * back-pressure and call proto->writable.  Returns false when the conn
 * was freed.  Does nothing while callbacks are on the stack.
 */
bool
comm_conn_settle(struct comm_conn *c)
{
	int round;

	if (c->depth > 0)
		return true;
	for (round = 0; round < COMM_SETTLE_ROUNDS; round++) {
		bool fire = false;

		if (c->eof && !c->busy && !c->close_req)
			request_close(c, COMM_CLOSE_EOF, true);
		if (c->close_req && !c->close_graceful) {
			comm_conn_free(c, c->why);
			return false;
		}
		if (out_pending(c) > 0 && !c->handshaking &&
		    conn_flush(c) < 0) {
			comm_conn_free(c, c->close_req ? c->why :
			    COMM_CLOSE_ERROR);
			return false;
		}
		if (c->close_req) {
			if (out_pending(c) == 0) {
				if (c->ssl != NULL)
					comm_tls_shutdown(c);
				comm_conn_free(c, c->why);
				return false;
			}
			if (!c->closing) {
				/* a graceful close gets one more timeout */
				c->closing = true;
				comm_conn_arm(c, comm_conn_timeout_msec(c));
			}
			break;
		}
		if (out_pending(c) > COMM_OUT_MARK)
			c->pause_mark = true;
		else if (c->pause_mark) {
			c->pause_mark = false;
			fire = true;
		}
		if (out_pending(c) <= COMM_OUT_MARK &&
		    (fire || c->want_writable)) {
			c->want_writable = false;
			if (c->opened && c->proto->writable != NULL) {
				int r;

				c->depth++;
				r = c->proto->writable(c, c->st);
				c->depth--;
				if (r < 0)
					request_close(c, COMM_CLOSE_MODULE,
					    false);
				continue;
			}
		}
		break;
	}
	if (round == COMM_SETTLE_ROUNDS)
		schedule_flush(c);	/* finish on the next turn */
	comm_conn_update_events(c);
	return true;
}

/* The proto is known (clear text, or TLS done): allocate its state and
 * open it.  Returns false when the conn was freed. */
static bool
conn_open(struct comm_conn *c)
{
	int r;

	if (c->proto == NULL)
		c->proto = c->lst->spec->proto;
	if (c->proto == NULL) {
		verbose(VERB_QUERY, "comm: %s: no protocol to speak",
		    c->peerstr);
		comm_conn_free(c, COMM_CLOSE_ERROR);
		return false;
	}
	c->st = calloc(1, c->proto->state_size ? c->proto->state_size : 1);
	if (c->st == NULL) {
		log_err("comm: %s: out of memory", c->peerstr);
		comm_conn_free(c, COMM_CLOSE_ERROR);
		return false;
	}
	c->opened = true;
	comm_conn_touch(c);
	c->depth++;
	r = c->proto->open(c, c->st);
	c->depth--;
	if (r < 0)
		request_close(c, COMM_CLOSE_MODULE, false);
	return comm_conn_settle(c);
}

static void
handshake_step(struct comm_conn *c)
{
	int r = comm_tls_handshake(c);

	if (r < 0) {
		comm_conn_free(c, COMM_CLOSE_ERROR);
		return;
	}
	if (r == 2) {
		event_add(c->wev, NULL);
		return;
	}
	if (r == 0)
		return;		/* rev is on */
	c->handshaking = false;
	if (conn_open(c) && reading_wanted(c))
		event_active(c->rev, EV_READ, 1); /* data after Finished */
}

/* Start the TLS handshake or open the proto.  -1 = c was freed. */
static int
conn_begin(struct comm_conn *c)
{
	if (c->ssl != NULL) {
		/* the handshake must finish within one idle timeout */
		c->handshaking = true;
		comm_conn_arm(c, comm_conn_timeout_msec(c));
		event_add(c->rev, NULL);
		c->rev_on = true;
		handshake_step(c);
		return 0;
	}
	event_add(c->rev, NULL);
	c->rev_on = true;
	return conn_open(c) ? 0 : -1;
}

/* No valid PROXY header: log (rate-limited) and free c. */
static void
proxy_fail(struct comm_conn *c, const char *why, enum comm_close_why cw)
{
	comm_proxy_log_bad(c->base, c->peerstr, why);
	comm_conn_free(c, cw);
}

/*
 * Read the PROXY header, and not one byte more: what follows it (a TLS
 * ClientHello, DNS or HTTP) stays in the socket for TLS or the proto.
 * The bytes there are peeked at; as long as proxy_parse needs more they
 * all belong to the header and are consumed (so a slow sender does not
 * wake us again for the same bytes); once it is complete exactly its
 * length is consumed.
 */
static void
proxy_read(struct comm_conn *c)
{
	struct proxy_hdr h;
	enum proxy_status r;
	size_t take;
	ssize_t n;

	if (c->pbuf == NULL) {
		c->pbuf = malloc(PROXY_MAX);
		if (c->pbuf == NULL) {
			log_err("comm: %s: out of memory", c->peerstr);
			comm_conn_free(c, COMM_CLOSE_ERROR);
			return;
		}
	}
	if (c->plen >= PROXY_MAX) {
		/* proxy_parse never asks for more than PROXY_MAX */
		proxy_fail(c, "header too long", COMM_CLOSE_ERROR);
		return;
	}
	n = recv(c->fd, c->pbuf + c->plen, PROXY_MAX - c->plen, MSG_PEEK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		proxy_fail(c, strerror(errno), COMM_CLOSE_ERROR);
		return;
	}
	if (n == 0) {
		proxy_fail(c, "closed before the header ended",
		    COMM_CLOSE_EOF);
		return;
	}
	r = proxy_parse(c->pbuf, c->plen + (size_t)n,
	    PROXY_ALLOW_V1 | PROXY_ALLOW_V2, &h);
	if (r == PROXY_INVALID) {
		proxy_fail(c, h.why, COMM_CLOSE_ERROR);
		return;
	}
	take = r == PROXY_DONE ? h.len - c->plen : (size_t)n;
	do
		n = recv(c->fd, c->pbuf + c->plen, take, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)take) {
		/* the peeked bytes are queued: only an error gets here */
		proxy_fail(c, n < 0 ? strerror(errno) : "short read",
		    COMM_CLOSE_ERROR);
		return;
	}
	c->plen += take;
	if (r == PROXY_NEED_MORE)
		return;
	free(c->pbuf);
	c->pbuf = NULL;
	c->proxy_wait = false;
	event_del(c->tev);
	if (!comm_conn_proxied(c, &h)) {
		comm_conn_free(c, COMM_CLOSE_ERROR);
		return;
	}
	(void)conn_begin(c);
}

/*
 * Start a freshly accepted connection: on a proxy port wait for the
 * PROXY header first (within one idle timeout, not restarted by reads),
 * then the TLS handshake or open.
 */
int
comm_conn_start(struct comm_conn *c)
{
	if (c->lst->proxy) {
		c->proxy_wait = true;
		comm_conn_arm(c, comm_conn_timeout_msec(c));
		event_add(c->rev, NULL);
		c->rev_on = true;
		return 0;
	}
	return conn_begin(c);
}

static void
conn_read(struct comm_conn *c)
{
	uint8_t *buf = c->base->rbuf;
	size_t total = 0;
	int i;

	for (i = 0; i < (c->ssl != NULL ? COMM_TLS_RECORDS_PER_EVENT :
	    COMM_READS_PER_EVENT); i++) {
		ssize_t n;

		if (!reading_wanted(c))
			return;
		if (c->ssl != NULL) {
			if (i > 0 && !comm_tls_pending(c))
				return;	/* drained (read-ahead took what
					   the socket had); the fd wakes us
					   for more, no read() for EAGAIN */
			n = comm_tls_read(c, buf, COMM_READ_BUF);
			if (n == 0)
				return;
			if (n == -1) {
				request_close(c, COMM_CLOSE_ERROR, false);
				return;
			}
			if (n == -2) {
				c->eof = true;
				return;
			}
		} else {
			n = recv(c->fd, buf, COMM_READ_BUF, 0);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK ||
				    errno == EINTR)
					return;
				verbose(VERB_QUERY, "comm: read from %s: %s",
				    c->peerstr, strerror(errno));
				request_close(c, COMM_CLOSE_ERROR, false);
				return;
			}
			if (n == 0) {
				c->eof = true;
				return;
			}
		}
		if (!c->own_activity)
			comm_conn_touch(c);
		if (c->proto->input(c, c->st, buf, (size_t)n) < 0) {
			request_close(c, COMM_CLOSE_MODULE, false);
			return;
		}
		total += (size_t)n;
		if (total >= COMM_BYTES_PER_EVENT)
			break;
		if (c->ssl == NULL && (size_t)n < COMM_READ_BUF)
			return;	/* drained; the fd wakes us for more */
	}
	/* Bounds reached: yield.  Clear text wakes again by itself; TLS
	 * may hold bytes the fd will not announce. */
	if (c->ssl != NULL && reading_wanted(c) && comm_tls_pending(c))
		event_active(c->rev, EV_READ, 1);
}

void
comm_conn_read_cb(int fd, short what, void *arg)
{
	struct comm_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->proxy_wait) {
		proxy_read(c);
		return;
	}
	if (c->handshaking) {
		handshake_step(c);
		return;
	}
	c->depth++;
	if (c->ssl_write_wants_read) {
		/* the pending SSL_write may go on now */
		c->ssl_write_wants_read = false;
	}
	conn_read(c);
	c->depth--;
	comm_conn_settle(c);
}

void
comm_conn_write_cb(int fd, short what, void *arg)
{
	struct comm_conn *c = arg;

	c->flush_scheduled = false;
	if (c->proxy_wait)
		return;		/* nothing to write before the header */
	if (c->handshaking) {
		handshake_step(c);
		return;
	}
	if (c->ssl_read_wants_write) {
		/* an SSL_read waited for the socket to take bytes */
		c->ssl_read_wants_write = false;
		comm_conn_read_cb(fd, what, c);
		return;
	}
	comm_conn_settle(c);
}

void
comm_conn_timer_cb(int fd, short what, void *arg)
{
	struct comm_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->close_req && !c->closing) {
		comm_conn_settle(c);	/* a close is on its way */
		return;
	}
	if (c->proxy_wait) {
		proxy_fail(c, "none within tcp-idle-timeout",
		    COMM_CLOSE_TIMEOUT);
		return;
	}
	if (c->closing || c->handshaking) {
		/* graceful close or handshake over its deadline */
		comm_conn_free(c, c->closing ? c->why : COMM_CLOSE_TIMEOUT);
		return;
	}
	if (c->quiet_wait) {
		/* quiet: memory back, then wait out the idle timeout */
		int ms = comm_conn_timeout_msec(c) - COMM_QUIET_MSEC;
		uint64_t idle = mono_msec() - c->active_msec;

		if (idle < COMM_QUIET_MSEC) {
			/* activity since the timer was set (comm_conn_touch
			 * only noted it): the quiet point moves with it */
			comm_conn_arm(c, COMM_QUIET_MSEC - (int)idle);
			return;
		}
		c->quiet_wait = false;
		if (c->opened && c->proto->quiet != NULL) {
			c->depth++;
			c->proto->quiet(c, c->st);
			c->depth--;
		}
		/* the timeout may have shrunk meanwhile (slots filling up):
		 * then this connection has been idle long enough already */
		comm_conn_arm(c, ms > 0 ? ms : 0);
		return;
	}
	if (c->busy) {
		comm_conn_touch(c);
		return;
	}
	verbose(VERB_ALGO, "comm: %s idle for %d msec", c->peerstr,
	    comm_conn_timeout_msec(c));
	if (c->proto->idle != NULL) {
		int r;

		c->depth++;
		c->in_idle = true;
		r = c->proto->idle(c, c->st);
		c->in_idle = false;
		c->depth--;
		if (r != 0)
			request_close(c, COMM_CLOSE_TIMEOUT, false);
		else if (!c->close_req)
			comm_conn_touch(c);	/* the module keeps it */
	} else
		request_close(c, COMM_CLOSE_TIMEOUT, false);
	comm_conn_settle(c);
}

/*
 * Queue bytes for the peer (copied).  Sent when the current comm
 * callback returns, or on the next loop turn when called from elsewhere.
 * Returns 0, -ENOBUFS past COMM_OUT_MAX, -EPIPE once closing.
 */
int
comm_conn_write(struct comm_conn *c, const struct iovec *iov, int iovcnt)
{
	size_t total = 0, need;
	int i;

	if (c->close_req)
		return -EPIPE;
	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total == 0)
		return 0;
	if (total > COMM_OUT_MAX || out_pending(c) + total > COMM_OUT_MAX)
		return -ENOBUFS;
	need = c->out_len + total;
	if (need > c->out_cap && c->out_off > 0) {
		/* SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows this */
		memmove(c->out, c->out + c->out_off, out_pending(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
		need = c->out_len + total;
	}
	if (c->out == NULL && c->base->spare_out != NULL &&
	    c->base->spare_cap >= need) {
		c->out = c->base->spare_out;
		c->out_cap = c->base->spare_cap;
		c->base->spare_out = NULL;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (p == NULL)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		memcpy(c->out + c->out_len, iov[i].iov_base, iov[i].iov_len);
		c->out_len += iov[i].iov_len;
	}
	/* Remember having been above the mark even if the flush that
	 * follows empties the buffer at once: a module that stopped
	 * producing here (nghttp2 WOULDBLOCK) waits for writable. */
	if (out_pending(c) > COMM_OUT_MARK)
		c->pause_mark = true;
	if (c->depth == 0)
		schedule_flush(c);
	return 0;
}

size_t
comm_conn_pending(const struct comm_conn *c)
{
	return out_pending(c);
}

void
comm_conn_want_writable(struct comm_conn *c)
{
	c->want_writable = true;
	if (c->depth == 0)
		schedule_flush(c);
}

void
comm_conn_pause_read(struct comm_conn *c, int pause)
{
	c->pause_mod = pause != 0;
	comm_conn_update_events(c);
}

void
comm_conn_close(struct comm_conn *c, bool graceful)
{
	request_close(c, c->in_idle ? COMM_CLOSE_TIMEOUT : COMM_CLOSE_MODULE,
	    graceful);
	if (c->depth == 0)
		schedule_flush(c);	/* never free under the caller */
}

void
comm_conn_own_activity(struct comm_conn *c)
{
	c->own_activity = true;
}

void
comm_conn_activity(struct comm_conn *c)
{
	if (!c->busy)
		comm_conn_touch(c);
}

void
comm_conn_set_busy(struct comm_conn *c, bool busy)
{
	bool was = c->busy;

	c->busy = busy;
	if (was && !busy) {
		comm_conn_touch(c);
		if (c->eof && c->depth == 0)
			schedule_flush(c);	/* settle closes it */
	}
}
