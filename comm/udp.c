/*
 * comm/udp.c - UDP ports: receive datagrams in batches (recvmmsg, up to
 * COMM_UDP_BATCH per event) and hand each to the port's handler; send
 * replies with sendto from the same socket.  Replies made while a batch
 * of several datagrams is handled (cache hits, answered at once) are
 * queued and leave together in one sendmmsg after the batch: one system
 * call for up to COMM_UDP_BATCH answers instead of one each.
 *
 * Datagrams that were truncated (larger than COMM_UDP_MAX) are ignored.
 * On a proxy port each datagram must start with a PROXY v2 header from a
 * sender access-control allows; the reply goes to the sender without a
 * header, as Unbound does.
 * A reply the socket cannot take now (EAGAIN) is dropped, as a busy
 * UDP server must.  It does not parse DNS.
 *
 * On a port bound to 0.0.0.0 or :: (comm_listen_udp sees it with
 * getsockname and turns the option on) each datagram comes with its
 * destination address (IP_PKTINFO, IPV6_PKTINFO), which
 * the handler gets as a struct comm_udp_dst and the reply names as its
 * source: the kernel would otherwise pick the address of its route to
 * the client, and a client that asked another address of the host
 * drops the answer.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "comm/comm_int.h"
#include "comm/proxy.h"
#include "util/log.h"
#include "util/stats.h"

#define SLOT (COMM_UDP_MAX + 1)	/* one more byte shows truncation */
#define OUT_SLOT 2048		/* replies up to this size are queued */

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message. */
union udp_ctl {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

/* The destination address in a received datagram's control messages;
 * NULL when there is none. */
static const struct comm_udp_dst *
udp_dst_get(struct msghdr *mh, struct comm_udp_dst *d)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP &&
		    c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			/* the local address of the datagram: its
			 * destination, for a broadcast the interface's */
			d->family = AF_INET;
			d->ifindex = 0;
			d->addr.v4 = pi.ipi_spec_dst;
			return d;
		}
		if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			d->family = AF_INET6;
			/* a link-local address needs its interface; a
			 * global one goes where the routes say */
			d->ifindex = IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) ?
			    (int)pi.ipi6_ifindex : 0;
			d->addr.v6 = pi.ipi6_addr;
			return d;
		}
	}
	return NULL;
}

/* Is the reply's source known ('dst' from a wildcard port)? */
#define DST_KNOWN(d)	((d) != NULL && (d)->family != 0)

/* The control message that sends a reply from 'd' (DST_KNOWN) into
 * 'mh', whose control fields are zero. */
static void
udp_dst_put(struct msghdr *mh, union udp_ctl *ctl,
    const struct comm_udp_dst *d)
{
	struct cmsghdr *c = (struct cmsghdr *)ctl->buf;
	struct in_pktinfo p4;
	struct in6_pktinfo p6;
	const void *data = &p6;
	size_t dlen = sizeof(p6);

	memset(ctl, 0, sizeof(*ctl));
	memset(&p4, 0, sizeof(p4));
	memset(&p6, 0, sizeof(p6));
	c->cmsg_level = d->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
	c->cmsg_type = d->family == AF_INET ? IP_PKTINFO : IPV6_PKTINFO;
	if (d->family == AF_INET) {
		/* ifindex 0: an index would replace the source with the
		 * interface's first address (ip(7)) */
		p4.ipi_spec_dst = d->addr.v4;
		data = &p4;
		dlen = sizeof(p4);
	} else {
		p6.ipi6_addr = d->addr.v6;
		p6.ipi6_ifindex = (unsigned)d->ifindex;
	}
	c->cmsg_len = CMSG_LEN(dlen);
	memcpy(CMSG_DATA(c), data, dlen);
	mh->msg_control = ctl->buf;
	mh->msg_controllen = CMSG_SPACE(dlen);
}

#if defined(HAVE_RECVMMSG) && defined(HAVE_SENDMMSG)
#define UDP_OUT_BATCH 1
/* Replies queued during one batch of one port (one per worker). */
struct comm_udp_out {
	struct comm_udp *u;	/* whose batch runs; NULL = none */
	int n;
	struct mmsghdr msg[COMM_UDP_BATCH];
	struct iovec iov[COMM_UDP_BATCH];
	struct sockaddr_storage to[COMM_UDP_BATCH];
	union udp_ctl ctl[COMM_UDP_BATCH];
	uint8_t buf[COMM_UDP_BATCH][OUT_SLOT];
};

/* Send the queued replies; one that the socket refuses is dropped (as
 * sendto's would be) and the rest still go. */
static void
udp_out_flush(struct comm_udp_out *o)
{
	int done = 0;

	while (done < o->n) {
		int r = sendmmsg(o->u->fd, o->msg + done,
		    (unsigned)(o->n - done), MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (VERBOSE_ON(VERB_QUERY)) {
				char peer[64];

				comm_addr_str((struct sockaddr *)&o->to[done],
				    peer, sizeof(peer));
				verbose(VERB_QUERY, "comm: udp reply to %s "
				    "dropped: %s", peer, strerror(errno));
			}
			done++;
			continue;
		}
		done += r;
	}
	o->n = 0;
}
#endif

/* A datagram on a proxy port from a sender that may not send one, or
 * without a valid PROXY v2 header: dropped, counted as unwanted. */
static void
udp_proxy_drop(struct comm_udp *u, const struct sockaddr *from,
    const char *why, bool bad_header)
{
	char peer[64];

	STAT_INC(u->base->st, UNWANTED_QUERIES);
	if (!bad_header && !VERBOSE_ON(VERB_QUERY))
		return;
	comm_addr_str(from, peer, sizeof(peer));
	if (bad_header)
		comm_proxy_log_bad(u->base, peer, why);
	else
		verbose(VERB_QUERY, "comm: udp from %s dropped: %s", peer,
		    why);
}

static void
udp_deliver(struct comm_udp *u, const uint8_t *pkt, size_t len, int flags,
    const struct sockaddr_storage *from, socklen_t fromlen,
    const struct comm_udp_dst *dst)
{
	const struct sockaddr *sa = (const struct sockaddr *)from;
	struct proxy_hdr h;

	if ((flags & MSG_TRUNC) || len > COMM_UDP_MAX || len == 0)
		return;
	if (!u->proxy) {
		u->handler(u, u->env, pkt, len, sa, fromlen, sa, fromlen,
		    dst);
		return;
	}
	/* Unbound's rule: every datagram starts with a v2 header */
	if (!comm_proxy_sender_allowed(u->base, sa)) {
		udp_proxy_drop(u, sa, "a PROXY protocol sender must be "
		    "allowed by access-control", false);
		return;
	}
	if (proxy_parse(pkt, len, PROXY_ALLOW_V2, &h) != PROXY_DONE) {
		udp_proxy_drop(u, sa, h.why != NULL ? h.why :
		    "datagram shorter than its header", true);
		return;
	}
	if (h.len == len) {
		udp_proxy_drop(u, sa, "nothing after the header", true);
		return;
	}
	if (h.local)
		u->handler(u, u->env, pkt + h.len, len - h.len, sa, fromlen,
		    sa, fromlen, dst);
	else
		u->handler(u, u->env, pkt + h.len, len - h.len, sa, fromlen,
		    (const struct sockaddr *)&h.src, h.srclen, dst);
}

static void
udp_read_cb(int fd, short what, void *arg)
{
	struct comm_udp *u = arg;
	uint8_t *buf = u->base->udpbuf;
	struct sockaddr_storage from[COMM_UDP_BATCH];
	struct iovec iov[COMM_UDP_BATCH];
	union udp_ctl ctl[COMM_UDP_BATCH];
	struct comm_udp_dst dst;
	int i;

	(void)what;
#ifdef HAVE_RECVMMSG
	{
		struct mmsghdr msgs[COMM_UDP_BATCH];
		int n;

		memset(msgs, 0, sizeof(msgs));
		for (i = 0; i < COMM_UDP_BATCH; i++) {
			iov[i].iov_base = buf + (size_t)i * SLOT;
			iov[i].iov_len = SLOT;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		for (i = 0; u->pktinfo && i < COMM_UDP_BATCH; i++) {
			msgs[i].msg_hdr.msg_control = ctl[i].buf;
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		n = recvmmsg(fd, msgs, COMM_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				verbose(VERB_OPS, "comm: udp recvmmsg: %s",
				    strerror(errno));
			return;
		}
#ifdef UDP_OUT_BATCH
		if (n > 1 && u->base->udpout == NULL)
			u->base->udpout = malloc(sizeof(struct comm_udp_out));
		if (n > 1 && u->base->udpout != NULL) {
			struct comm_udp_out *o = u->base->udpout;

			o->u = u;
			o->n = 0;
			for (i = 0; i < n; i++)
				udp_deliver(u, iov[i].iov_base,
				    msgs[i].msg_len,
				    msgs[i].msg_hdr.msg_flags, &from[i],
				    msgs[i].msg_hdr.msg_namelen, u->pktinfo ?
				    udp_dst_get(&msgs[i].msg_hdr, &dst) :
				    NULL);
			if (o->n > 0)
				udp_out_flush(o);
			o->u = NULL;
			return;
		}
#endif
		for (i = 0; i < n; i++)
			udp_deliver(u, iov[i].iov_base, msgs[i].msg_len,
			    msgs[i].msg_hdr.msg_flags, &from[i],
			    msgs[i].msg_hdr.msg_namelen, u->pktinfo ?
			    udp_dst_get(&msgs[i].msg_hdr, &dst) : NULL);
	}
#else
	for (i = 0; i < COMM_UDP_BATCH; i++) {
		struct msghdr mh;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		iov[0].iov_base = buf;
		iov[0].iov_len = SLOT;
		mh.msg_iov = &iov[0];
		mh.msg_iovlen = 1;
		mh.msg_name = &from[0];
		mh.msg_namelen = sizeof(from[0]);
		if (u->pktinfo) {
			mh.msg_control = ctl[0].buf;
			mh.msg_controllen = sizeof(ctl[0]);
		}
		n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				verbose(VERB_OPS, "comm: udp recvmsg: %s",
				    strerror(errno));
			return;
		}
		udp_deliver(u, buf, (size_t)n, mh.msg_flags, &from[0],
		    mh.msg_namelen, u->pktinfo ? udp_dst_get(&mh, &dst) :
		    NULL);
	}
#endif
}

/*
 * Is 'fd' bound to 0.0.0.0 or ::?  Then IP_PKTINFO (IPV6_RECVPKTINFO)
 * is turned on, *r its setsockopt's result: every datagram then tells
 * its destination, which the reply names as its source.  Idempotent (a
 * socket shared by the workers gets it from each).
 */
static bool
udp_wildcard(int fd, int *r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;

	*r = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->
	    sin_addr.s_addr == htonl(INADDR_ANY))
		*r = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	else if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
	    &((struct sockaddr_in6 *)&ss)->sin6_addr))
		*r = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
		    sizeof(one));
	else
		return false;
	return true;
}

/*
 * Serve the UDP port 'fd' (borrowed): each datagram goes to 'handler'
 * with 'env'; with COMM_LISTEN_PROXY in 'flags' without its PROXY v2
 * header, and for the client it names.  Returns 0 or -errno.
 */
int
comm_listen_udp(struct comm_base *cb, int fd, comm_udp_cb handler,
    void *env, unsigned flags)
{
	struct comm_udp *u;
	int r;

	if (handler == NULL)
		return -EINVAL;
	if (cb->udpbuf == NULL) {
		/* pages are only touched as datagrams arrive */
		cb->udpbuf = malloc((size_t)COMM_UDP_BATCH * SLOT);
		if (cb->udpbuf == NULL)
			return -ENOMEM;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	u->base = cb;
	u->fd = fd;
	u->handler = handler;
	u->env = env;
	u->proxy = (flags & COMM_LISTEN_PROXY) != 0;
	u->pktinfo = udp_wildcard(fd, &r);
	if (r < 0) {
		r = -errno;
		free(u);
		return r;
	}
	u->ev = event_new(cb->eb, fd, EV_READ | EV_PERSIST, udp_read_cb, u);
	if (u->ev == NULL) {
		free(u);
		return -ENOMEM;
	}
	if (event_add(u->ev, NULL) != 0) {
		event_free(u->ev);
		free(u);
		return -EIO;
	}
	u->next = cb->udps;
	cb->udps = u;
	return 0;
}

int
comm_udp_send(struct comm_udp *u, const uint8_t *pkt, size_t len,
    const struct sockaddr *to, socklen_t tolen,
    const struct comm_udp_dst *dst)
{
	struct msghdr mh;
	struct iovec iov;
	union udp_ctl ctl;
	ssize_t n;

#ifdef UDP_OUT_BATCH
	struct comm_udp_out *o = u->base->udpout;

	if (o != NULL && o->u == u && len <= OUT_SLOT &&
	    tolen <= sizeof(o->to[0])) {
		int i;

		if (o->n == COMM_UDP_BATCH)
			udp_out_flush(o);
		i = o->n++;
		memcpy(o->buf[i], pkt, len);
		memcpy(&o->to[i], to, tolen);
		o->iov[i].iov_base = o->buf[i];
		o->iov[i].iov_len = len;
		memset(&o->msg[i], 0, sizeof(o->msg[i]));
		o->msg[i].msg_hdr.msg_name = &o->to[i];
		o->msg[i].msg_hdr.msg_namelen = tolen;
		o->msg[i].msg_hdr.msg_iov = &o->iov[i];
		o->msg[i].msg_hdr.msg_iovlen = 1;
		if (DST_KNOWN(dst))
			udp_dst_put(&o->msg[i].msg_hdr, &o->ctl[i], dst);
		return 0;
	}
#endif
	if (DST_KNOWN(dst)) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = (void *)pkt;
		iov.iov_len = len;
		mh.msg_name = (void *)to;
		mh.msg_namelen = tolen;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		udp_dst_put(&mh, &ctl, dst);
		do
			n = sendmsg(u->fd, &mh, MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
	} else {
		do
			n = sendto(u->fd, pkt, len, MSG_DONTWAIT, to, tolen);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0) {
		int e = errno;
		char peer[64];

		if (VERBOSE_ON(VERB_QUERY)) {
			comm_addr_str(to, peer, sizeof(peer));
			verbose(VERB_QUERY, "comm: udp reply to %s dropped: %s",
			    peer, strerror(e));
		}
		return -e;
	}
	return 0;
}

void
comm_udp_set_data(struct comm_udp *u, void *data,
    void (*data_free)(struct comm_udp *u, void *data))
{
	u->data = data;
	u->data_free = data_free;
}

void *
comm_udp_get_data(const struct comm_udp *u)
{
	return u->data;
}
