/*
 * testdata/unit/test_outudp.c - upstream UDP sockets (resolver/outudp.c)
 * against a plain UDP socket on 127.0.0.1 playing the upstream, on one
 * event loop: a finished query's socket is kept without its port and
 * reused with a new one; a duplicate still queued in it is read and
 * counted, never given to the next query; a late reply to the old port
 * finds nothing; a socket that saw an error is closed; at most
 * OUTUDP_IDLE_MAX are kept; a kept socket of the other family gives way;
 * a send error on a shared socket (outgoing-queries-per-port > 1) is
 * returned to its query and told once, from the socket's callback, to
 * every query still waiting there, and the socket is not used again.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "resolver/outudp.h"
#include "util/stats.h"

struct up {
	int fd;
	struct sockaddr_storage addr;	/* where it listens */
	socklen_t addrlen;
};

struct got {
	int calls;
	int err;
	uint8_t pkt[512];
	size_t len;
	struct outudp_req *r;
};

static struct event_base *base;
static struct stats st;

/* A fake upstream bound to sa (port 0: any); up->addr is where. */
static int
up_open_at(struct up *up, const struct sockaddr_storage *sa,
    socklen_t salen)
{
	memset(up, 0, sizeof(*up));
	up->fd = socket(sa->ss_family, SOCK_DGRAM, 0);
	if (up->fd < 0)
		return -1;
	up->addr = *sa;
	up->addrlen = salen;
	if (bind(up->fd, (struct sockaddr *)&up->addr, up->addrlen) < 0 ||
	    getsockname(up->fd, (struct sockaddr *)&up->addr,
	    &up->addrlen) < 0) {
		close(up->fd);
		return -1;
	}
	return 0;
}

/* A fake upstream on the loopback address of 'family', any port. */
static int
up_open(struct up *up, int family)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return up_open_at(up, &ss, sizeof(*a));
	}
	a6->sin6_family = AF_INET6;
	a6->sin6_addr = in6addr_loopback;
	return up_open_at(up, &ss, sizeof(*a6));
}

/* The next query the upstream got: its ID; *from its source. */
static uint16_t
up_recv(struct up *up, struct sockaddr_storage *from, socklen_t *fromlen)
{
	uint8_t b[512];
	ssize_t n;

	*fromlen = sizeof(*from);
	n = recvfrom(up->fd, b, sizeof(b), 0, (struct sockaddr *)from,
	    fromlen);
	assert_true(n >= 12);
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void
up_reply(struct up *up, uint16_t id, uint8_t mark,
    const struct sockaddr_storage *to, socklen_t tolen)
{
	uint8_t b[12] = { (uint8_t)(id >> 8), (uint8_t)id, 0x81, 0x80 };

	b[11] = mark;		/* tells the copies apart */
	assert_int_equal(sendto(up->fd, b, sizeof(b), 0,
	    (const struct sockaddr *)to, tolen), (ssize_t)sizeof(b));
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void
got_cb(void *arg, int err, const uint8_t *pkt, size_t len)
{
	struct got *g = arg;

	g->calls++;
	g->err = err;
	if (pkt != NULL) {
		g->len = len < sizeof(g->pkt) ? len : sizeof(g->pkt);
		memcpy(g->pkt, pkt, g->len);
		outudp_cancel(g->r);	/* done, as the caller does */
	}
}

static void
ask(struct outudp *u, struct outudp_req *r, struct got *g,
    const struct up *up, uint16_t id)
{
	uint8_t q[12] = { (uint8_t)(id >> 8), (uint8_t)id, 0x01, 0x00 };

	memset(g, 0, sizeof(*g));
	g->r = r;
	assert_int_equal(outudp_send(u, r, (const struct sockaddr *)&up->addr,
	    up->addrlen, q, sizeof(q), 0, got_cb, g), 0);
}

/*
 * Runs the loop 10 times, one pass each.  EVLOOP_NONBLOCK alone would
 * keep passing while any event is ready, and never return if a socket
 * stayed readable for good (the bug some tests here look for): they
 * fail on their assertions instead of hanging.
 */
static void
spin(void)
{
	int i;

	for (i = 0; i < 10; i++) {
		usleep(2000);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
}

/*
 * The process's UDP sockets other than 'skip' (-1: none) of 'family':
 * *kept those without a port (disconnected), returns those with one.
 */
static int
udp_sockets(int family, int skip, int *kept)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int bound = 0, dfd;

	assert_non_null(d);
	dfd = dirfd(d);
	*kept = 0;
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct stat sb;
		int fd = atoi(e->d_name), type;
		socklen_t tl = sizeof(type);

		if (e->d_name[0] == '.' || fd == dfd || fd == skip)
			continue;
		if (fstat(fd, &sb) < 0 || !S_ISSOCK(sb.st_mode))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		    type != SOCK_DGRAM)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    ss.ss_family != family)
			continue;
		if (port_of(&ss) == 0)
			(*kept)++;
		else
			bound++;
	}
	closedir(d);
	return bound;
}

/* The descriptor of the one UDP socket of ours (other than up's) that
 * holds a port: an outudp socket that has sent.  -1 when there is none. */
static int
sock_to(const struct up *up)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1, n = 0, dfd;

	assert_non_null(d);
	dfd = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = atoi(e->d_name), type;
		socklen_t tl = sizeof(type);

		if (e->d_name[0] == '.' || fd == dfd || fd == up->fd)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		    type != SOCK_DGRAM)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    ss.ss_family != up->addr.ss_family || port_of(&ss) == 0)
			continue;
		found = fd;
		n++;
	}
	closedir(d);
	assert_true(n <= 1);
	return found;
}

static int
setup(void **state)
{
	(void)state;
	base = event_base_new();
	memset(&st, 0, sizeof(st));
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	event_base_free(base);
	return 0;
}

static void
test_kept_socket_gets_a_new_port(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct got g;
	struct up up;
	struct sockaddr_storage from[3];
	socklen_t fl;
	int i, kept;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 3; i++) {
		uint16_t id = (uint16_t)(0x1000 + i);

		ask(u, &r, &g, &up, id);
		assert_int_equal(up_recv(&up, &from[i], &fl), id);
		up_reply(&up, id, 1, &from[i], fl);
		spin();
		assert_int_equal(g.calls, 1);
		assert_int_equal(g.err, 0);
		assert_int_equal(g.pkt[11], 1);
		/* one socket, kept, its port given back */
		assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), 0);
		assert_int_equal(kept, 1);
	}
	/* a new random port each time (three equal: one in ~10^9) */
	assert_false(port_of(&from[0]) == port_of(&from[1]) &&
	    port_of(&from[1]) == port_of(&from[2]));
	outudp_free(u);
	assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), 0);
	assert_int_equal(kept, 0);
	close(up.fd);
}

/*
 * The sockets are not connected (the first sendto() binds the port), so
 * the kernel hands them datagrams from anyone: a reply with the right ID
 * from another port of the upstream's address, or from another address
 * (127.0.0.2), is read, counted as unwanted and not given; the
 * upstream's own is.
 */
static void
test_reply_from_elsewhere_is_unwanted(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct sockaddr_storage from, far_a;
	struct got g;
	struct up up, other, far;
	socklen_t fl;
	int kept;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	assert_int_equal(up_open(&other, AF_INET), 0);
	/* a third socket on 127.0.0.2, at the upstream's port */
	far_a = up.addr;
	((struct sockaddr_in *)&far_a)->sin_addr.s_addr =
	    htonl(INADDR_LOOPBACK + 1);
	assert_int_equal(up_open_at(&far, &far_a, up.addrlen), 0);
	memset(&r, 0, sizeof(r));
	ask(u, &r, &g, &up, 0x4242);
	assert_int_equal(up_recv(&up, &from, &fl), 0x4242);
	up_reply(&other, 0x4242, 7, &from, fl);
	up_reply(&far, 0x4242, 8, &from, fl);
	spin();
	assert_int_equal(g.calls, 0);
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], 2);
	assert_non_null(r.s);
	up_reply(&up, 0x4242, 1, &from, fl);
	spin();
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.err, 0);
	assert_int_equal(g.pkt[11], 1);
	assert_int_equal(udp_sockets(AF_INET, -1, &kept), 3);
	assert_int_equal(kept, 1);
	outudp_free(u);
	close(up.fd);
	close(other.fd);
	close(far.fd);
}

/*
 * Datagrams from elsewhere queued before the answer: the socket's
 * callback reads OUTUDP_READS of them a turn (other sockets and clients
 * get theirs), each counted; the answer comes on a later turn.
 */
static void
test_reads_per_turn_are_bounded(void **state)
{
	enum { JUNK = OUTUDP_READS + 8 };
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct sockaddr_storage from;
	struct got g;
	struct up up, other;
	socklen_t fl;
	int i;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	assert_int_equal(up_open(&other, AF_INET), 0);
	memset(&r, 0, sizeof(r));
	ask(u, &r, &g, &up, 0x4343);
	assert_int_equal(up_recv(&up, &from, &fl), 0x4343);
	for (i = 0; i < JUNK; i++)
		up_reply(&other, 0x4343, 9, &from, fl);
	up_reply(&up, 0x4343, 1, &from, fl);
	usleep(2000);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], OUTUDP_READS);
	assert_int_equal(g.calls, 0);
	spin();
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], JUNK);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.pkt[11], 1);
	outudp_free(u);
	close(up.fd);
	close(other.fd);
}

/*
 * Query id; the upstream sends the answer (mark 1) and then a copy (mark
 * 2), both queued before the loop runs once: the answer is given, the
 * socket kept with the copy still in it.
 */
static void
answer_twice(struct outudp *u, struct outudp_req *r, struct got *g,
    struct up *up, uint16_t id)
{
	struct sockaddr_storage from;
	socklen_t fl;

	ask(u, r, g, up, id);
	assert_int_equal(up_recv(up, &from, &fl), id);
	up_reply(up, id, 1, &from, fl);
	up_reply(up, id, 2, &from, fl);
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(g->calls, 1);
	assert_int_equal(g->pkt[11], 1);
}

static void
test_queued_duplicate_is_counted_not_given(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct got g;
	struct up up;
	struct sockaddr_storage from;
	socklen_t fl;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	memset(&r, 0, sizeof(r));
	answer_twice(u, &r, &g, &up, 0x2000);
	/* kept with the copy in it: the copy is read and counted */
	spin();
	assert_int_equal(g.calls, 1);
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], 1);
	/* the next query with the same ID on the same socket gets the
	 * upstream's new answer, not the old copy */
	ask(u, &r, &g, &up, 0x2000);
	assert_int_equal(up_recv(&up, &from, &fl), 0x2000);
	up_reply(&up, 0x2000, 3, &from, fl);
	spin();
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.pkt[11], 3);
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], 1);
	outudp_free(u);
	close(up.fd);
}

static void
test_queued_duplicate_read_after_reuse(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct got g;
	struct up up;
	struct sockaddr_storage from;
	socklen_t fl;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	memset(&r, 0, sizeof(r));
	answer_twice(u, &r, &g, &up, 0x3000);
	/* reused before its callback read the copy: the copy's ID is not
	 * the new query's, so it is counted and the query waits on */
	ask(u, &r, &g, &up, 0x3001);
	assert_int_equal(up_recv(&up, &from, &fl), 0x3001);
	spin();
	assert_int_equal(g.calls, 0);
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], 1);
	up_reply(&up, 0x3001, 3, &from, fl);
	spin();
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.pkt[11], 3);
	outudp_free(u);
	close(up.fd);
}

static void
test_late_reply_to_old_port_finds_nothing(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct got g;
	struct up up;
	struct sockaddr_storage from;
	socklen_t fl;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	memset(&r, 0, sizeof(r));
	ask(u, &r, &g, &up, 0x4000);
	assert_int_equal(up_recv(&up, &from, &fl), 0x4000);
	outudp_cancel(&r);		/* given up (a timeout) */
	up_reply(&up, 0x4000, 1, &from, fl);
	spin();
	assert_int_equal(g.calls, 0);
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], 0);
	outudp_free(u);
	close(up.fd);
}

/* Nobody listens at the address: its ICMP refusal reaches the query
 * (IP_RECVERR, IPV6_RECVERR: the socket is not connected), the socket
 * is closed.  0, or -1 when the family has no loopback here. */
static int
refused_closes(int family)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct got g;
	struct up up;
	int kept;

	if (up_open(&up, family) != 0) {
		outudp_free(u);
		return -1;
	}
	close(up.fd);			/* nobody listens: ICMP refusal */
	memset(&r, 0, sizeof(r));
	ask(u, &r, &g, &up, 0x5000);
	spin();
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.err, ECONNREFUSED);
	assert_null(r.s);
	assert_int_equal(udp_sockets(family, -1, &kept), 0);
	assert_int_equal(kept, 0);
	outudp_free(u);
	return 0;
}

static void
test_socket_with_error_is_closed(void **state)
{
	(void)state;
	assert_int_equal(refused_closes(AF_INET), 0);
}

static void
test_socket_with_error_is_closed6(void **state)
{
	(void)state;
	if (refused_closes(AF_INET6) != 0)
		skip();			/* no ::1 here */
}

/*
 * The refusal arrives, but the query is given up (a timeout) before the
 * loop reads it: the socket is released and kept without a port, with
 * the error still pending and on its error queue (IP_RECVERR), which
 * keeps it readable for good.  Its callback must close it, or the loop
 * would wake for it on every turn.
 */
static void
test_error_after_give_up_closes_kept_socket(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct pollfd pfd;
	struct got g;
	struct up up;
	int kept;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	close(up.fd);			/* nobody listens: ICMP refusal */
	up.fd = -1;
	memset(&r, 0, sizeof(r));
	ask(u, &r, &g, &up, 0x5100);
	pfd.fd = sock_to(&up);
	assert_true(pfd.fd >= 0);
	pfd.events = POLLIN;
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_true(pfd.revents & POLLERR);
	outudp_cancel(&r);		/* given up before the loop ran */
	assert_int_equal(udp_sockets(AF_INET, -1, &kept), 0);
	assert_int_equal(kept, 1);	/* kept, no port, error pending */
	spin();
	assert_int_equal(g.calls, 0);
	assert_int_equal(udp_sockets(AF_INET, -1, &kept), 0);
	assert_int_equal(kept, 0);	/* closed by its callback */
	outudp_free(u);
}

static void
test_at_most_idle_max_kept(void **state)
{
	enum { N = OUTUDP_IDLE_MAX + 20 };
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req *r = calloc(N, sizeof(*r));
	struct got *g = calloc(N, sizeof(*g));
	struct sockaddr_storage from;
	socklen_t fl;
	struct up up;
	int i, kept, answered = 0;

	(void)state;
	assert_non_null(r);
	assert_non_null(g);
	assert_int_equal(up_open(&up, AF_INET), 0);
	/* all in flight, each reply queued in its own socket */
	for (i = 0; i < N; i++) {
		ask(u, &r[i], &g[i], &up, (uint16_t)i);
		assert_int_equal(up_recv(&up, &from, &fl), i);
		up_reply(&up, (uint16_t)i, 1, &from, fl);
	}
	assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), N);
	spin();
	for (i = 0; i < N; i++)
		answered += g[i].calls;
	assert_int_equal(answered, N);
	assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), 0);
	assert_int_equal(kept, OUTUDP_IDLE_MAX);
	outudp_free(u);
	assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), 0);
	assert_int_equal(kept, 0);
	close(up.fd);
	free(r);
	free(g);
}

/*
 * No descriptor for a new socket (EMFILE): outudp_send returns -1, the
 * local failure that is not the upstream's fault (forward.c does not
 * hold it against the address), registers nothing, and works again
 * once descriptors are back.
 */
static void
test_no_descriptor_is_a_local_failure(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	uint8_t q[12] = { 0x51, 0x51, 0x01, 0x00 };
	struct outudp_req r;
	struct rlimit old, low;
	struct got g;
	struct up up;
	int next, rv;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	memset(&r, 0, sizeof(r));
	memset(&g, 0, sizeof(g));
	g.r = &r;
	/* the lowest free descriptor becomes the limit */
	next = dup(0);
	assert_true(next >= 0);
	close(next);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)next;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	rv = outudp_send(u, &r, (const struct sockaddr *)&up.addr,
	    up.addrlen, q, sizeof(q), 0, got_cb, &g);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rv, -1);
	assert_null(r.s);
	spin();
	assert_int_equal(g.calls, 0);
	ask(u, &r, &g, &up, 0x5252);
	assert_non_null(r.s);
	outudp_free(u);
	close(up.fd);
}

static void
test_other_family_gives_way(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct got g;
	struct up up4, up6;
	struct sockaddr_storage from;
	socklen_t fl;
	int kept4, kept6;

	(void)state;
	if (up_open(&up6, AF_INET6) != 0)
		skip();			/* no ::1 here */
	assert_int_equal(up_open(&up4, AF_INET), 0);
	memset(&r, 0, sizeof(r));
	ask(u, &r, &g, &up4, 0x6000);
	assert_int_equal(up_recv(&up4, &from, &fl), 0x6000);
	up_reply(&up4, 0x6000, 1, &from, fl);
	spin();
	(void)udp_sockets(AF_INET, up4.fd, &kept4);
	assert_int_equal(kept4, 1);
	ask(u, &r, &g, &up6, 0x6001);
	(void)udp_sockets(AF_INET, up4.fd, &kept4);
	assert_int_equal(kept4, 0);	/* closed for the new IPv6 one */
	assert_int_equal(up_recv(&up6, &from, &fl), 0x6001);
	up_reply(&up6, 0x6001, 1, &from, fl);
	spin();
	assert_int_equal(g.calls, 1);
	(void)udp_sockets(AF_INET6, up6.fd, &kept6);
	assert_int_equal(kept6, 1);
	outudp_free(u);
	close(up4.fd);
	close(up6.fd);
}

/*
 * A shared socket (max_uses > 1) with n queries waiting and an ICMP
 * error pending: n - 1 queries reach the upstream (one socket), the
 * upstream goes away (up->fd closed, -1), the n-th query's datagram is
 * refused.  Returns the socket's descriptor; *first its port.
 */
static int
refused_on_shared(struct outudp *u, struct up *up, struct outudp_req *r,
    struct got *g, int n, struct sockaddr_storage *first)
{
	struct sockaddr_storage from;
	struct pollfd pfd;
	socklen_t fl, firstlen = 0;
	int i, fd;

	assert_int_equal(up_open(up, AF_INET), 0);
	memset(r, 0, (size_t)n * sizeof(*r));
	for (i = 0; i < n - 1; i++) {
		ask(u, &r[i], &g[i], up, (uint16_t)(0x7000 + i));
		assert_int_equal(up_recv(up, &from, &fl), 0x7000 + i);
		if (i == 0) {
			*first = from;
			firstlen = fl;
		}
		assert_int_equal(fl, firstlen);
		assert_memory_equal(&from, first, fl);
	}
	close(up->fd);
	up->fd = -1;
	ask(u, &r[n - 1], &g[n - 1], up, (uint16_t)(0x7000 + n - 1));
	fd = sock_to(up);
	assert_true(fd >= 0);
	/* the error is pending on the socket: poll does not take it, and
	 * the loop must not run now, or the read path would report it */
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_true(pfd.revents & POLLERR);
	return fd;
}

/* The next query on u to up: its send fails with ECONNREFUSED, and it
 * is not registered and never called back. */
static void
ask_refused(struct outudp *u, struct outudp_req *r, struct got *g,
    const struct up *up)
{
	uint8_t q[12] = { 0x70, 0x10, 0x01, 0x00 };

	memset(r, 0, sizeof(*r));
	memset(g, 0, sizeof(*g));
	g->r = r;
	assert_int_equal(outudp_send(u, r, (const struct sockaddr *)&up->addr,
	    up->addrlen, q, sizeof(q), 0, got_cb, g), ECONNREFUSED);
	assert_null(r->s);
}

/*
 * The n-th query's datagram on a shared socket brought back an ICMP
 * port unreachable, so the next query's send() on that connected socket
 * fails with ECONNREFUSED.  That query gets the error returned; the n
 * waiting ones hear of it from the socket's callback, each exactly once,
 * and not from inside outudp_send (the caller may be in the middle of
 * its own bookkeeping there).  The socket is retired at once: the next
 * query to the same address gets a socket of its own, and the broken
 * one is closed, not kept, when the error has been told.
 */
static void
test_shared_socket_send_error(void **state)
{
	enum { WAITING = 3 };
	struct outudp *u = outudp_new(base, &st, 8);
	struct outudp_req r[WAITING], rf, rn;
	struct got g[WAITING], gf, gn;
	struct sockaddr_storage from, first;
	socklen_t fl;
	struct up up;
	int i, fd, nfd, one = 1, kept;

	(void)state;
	memset(&rn, 0, sizeof(rn));
	fd = refused_on_shared(u, &up, r, g, WAITING, &first);
	ask_refused(u, &rf, &gf, &up);
	for (i = 0; i < WAITING; i++) {
		assert_int_equal(g[i].calls, 0);	/* not from inside */
		assert_non_null(r[i].s);
	}
	/* a listener on the same port again: the next query goes on a new
	 * socket (on the broken one it would get the error too) */
	up.fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(up.fd >= 0);
	assert_int_equal(setsockopt(up.fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)), 0);
	assert_int_equal(bind(up.fd, (struct sockaddr *)&up.addr,
	    up.addrlen), 0);
	ask(u, &rn, &gn, &up, 0x7100);
	assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), 2);
	assert_int_equal(up_recv(&up, &from, &fl), 0x7100);
	assert_false(port_of(&from) == port_of(&first));
	up_reply(&up, 0x7100, 5, &from, fl);
	spin();
	for (i = 0; i < WAITING; i++) {
		assert_int_equal(g[i].calls, 1);
		assert_int_equal(g[i].err, ECONNREFUSED);
		assert_null(r[i].s);
	}
	assert_int_equal(gf.calls, 0);
	assert_int_equal(gn.calls, 1);
	assert_int_equal(gn.err, 0);
	assert_int_equal(gn.pkt[11], 5);
	/* the broken socket is closed, not kept; the new one is open */
	assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), 1);
	assert_int_equal(kept, 0);
	nfd = sock_to(&up);
	assert_true(nfd >= 0 && nfd != fd);
	/* told once: nothing more on further turns of the loop */
	spin();
	for (i = 0; i < WAITING; i++)
		assert_int_equal(g[i].calls, 1);
	assert_int_equal(gf.calls, 0);
	assert_int_equal(st.c[STAT_UNWANTED_REPLIES], 0);
	outudp_free(u);
	assert_int_equal(udp_sockets(AF_INET, up.fd, &kept), 0);
	assert_int_equal(kept, 0);
	close(up.fd);
}

/*
 * The same, but every waiting query is given up (timed out) before the
 * loop runs: the socket is closed with the last of them, its callback
 * already scheduled never runs (ASan would see it touch freed memory),
 * and nobody is told anything.
 */
static void
test_shared_socket_send_error_all_cancelled(void **state)
{
	enum { WAITING = 2 };
	struct outudp *u = outudp_new(base, &st, 8);
	struct outudp_req r[WAITING], rf;
	struct got g[WAITING], gf;
	struct sockaddr_storage first;
	struct up up;
	int i, kept;

	(void)state;
	(void)refused_on_shared(u, &up, r, g, WAITING, &first);
	ask_refused(u, &rf, &gf, &up);
	for (i = 0; i < WAITING; i++) {
		assert_int_equal(udp_sockets(AF_INET, -1, &kept), 1);
		outudp_cancel(&r[i]);
		assert_null(r[i].s);
	}
	assert_int_equal(udp_sockets(AF_INET, -1, &kept), 0);
	assert_int_equal(kept, 0);
	spin();
	for (i = 0; i < WAITING; i++)
		assert_int_equal(g[i].calls, 0);
	assert_int_equal(gf.calls, 0);
	outudp_free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kept_socket_gets_a_new_port,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reply_from_elsewhere_is_unwanted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_per_turn_are_bounded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queued_duplicate_is_counted_not_given, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queued_duplicate_read_after_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_late_reply_to_old_port_finds_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_with_error_is_closed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_socket_with_error_is_closed6, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_error_after_give_up_closes_kept_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_at_most_idle_max_kept,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_family_gives_way,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_descriptor_is_a_local_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_socket_send_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shared_socket_send_error_all_cancelled, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
