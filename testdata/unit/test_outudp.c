/*
 * testdata/unit/test_outudp.c - upstream UDP sockets (resolver/outudp.c)
 * against a plain UDP socket on 127.0.0.1 playing the upstream, on one
 * event loop: a finished query's socket is kept without its port and
 * reused with a new one; a duplicate still queued in it is read and
 * counted, never given to the next query; a late reply to the old port
 * finds nothing; a socket that saw an error is closed; at most
 * OUTUDP_IDLE_MAX are kept; a kept socket of the other family gives way.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

static int
up_open(struct up *up, int family)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&up->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&up->addr;

	memset(up, 0, sizeof(*up));
	up->fd = socket(family, SOCK_DGRAM, 0);
	if (up->fd < 0)
		return -1;
	if (family == AF_INET) {
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		up->addrlen = sizeof(*a);
	} else {
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_loopback;
		up->addrlen = sizeof(*a6);
	}
	if (bind(up->fd, (struct sockaddr *)&up->addr, up->addrlen) < 0 ||
	    getsockname(up->fd, (struct sockaddr *)&up->addr,
	    &up->addrlen) < 0) {
		close(up->fd);
		return -1;
	}
	return 0;
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

/* Runs the loop until nothing is ready. */
static void
spin(void)
{
	int i;

	for (i = 0; i < 10; i++) {
		usleep(2000);
		event_base_loop(base, EVLOOP_NONBLOCK);
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

static void
test_socket_with_error_is_closed(void **state)
{
	struct outudp *u = outudp_new(base, &st, 1);
	struct outudp_req r;
	struct got g;
	struct up up;
	int kept;

	(void)state;
	assert_int_equal(up_open(&up, AF_INET), 0);
	close(up.fd);			/* nobody listens: ICMP refusal */
	memset(&r, 0, sizeof(r));
	ask(u, &r, &g, &up, 0x5000);
	spin();
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.err, ECONNREFUSED);
	assert_int_equal(udp_sockets(AF_INET, -1, &kept), 0);
	assert_int_equal(kept, 0);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kept_socket_gets_a_new_port,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queued_duplicate_is_counted_not_given, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queued_duplicate_read_after_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_late_reply_to_old_port_finds_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_with_error_is_closed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_at_most_idle_max_kept,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_family_gives_way,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
