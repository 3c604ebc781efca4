/*
 * bench/hitpath.c - the resolver's hit path in one process, for callgrind.
 *
 * Builds a res_shared + resolver from a small in-memory config on an
 * event_base, then answers one name N times through res_submit:
 *   mode "cache": the name is first resolved once through a fake upstream
 *     (a UDP socket of this process, answered from the event loop), so
 *     every measured query is parse -> message-cache lookup -> answer;
 *   mode "local": the name is local-data, so every measured query is
 *     parse -> local-zone lookup -> answer.
 * Only the N measured queries are collected (CALLGRIND_TOGGLE_COLLECT), so
 * `valgrind --tool=callgrind --collect-atstart=no` counts instructions
 * for them alone; bench/callgrind-hit divides by N.
 * What it does not cover: the transports (UDP, TLS, HTTP/2 framing).
 *
 * usage: hitpath cache|local N
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include "resolver/resolver.h"
#include "util/config.h"
#include "util/stats.h"

static size_t answers, bad;

static void
done_cb(void *arg, const uint8_t *ans, size_t len)
{
	(void)arg;
	if (len >= 12 && (ans[3] & 0x0f) == 0 && (ans[6] | ans[7]) != 0)
		answers++;
	else
		bad++;
}

/* The fake upstream: answer any A query with one A record. */
static void
upstream_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t buf[600];
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 1, 0x51,
	    0x80, 0, 4, 192, 0, 2, 1 };
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	size_t qend;

	(void)what;
	(void)arg;
	n = recvfrom(fd, buf, sizeof(buf) - sizeof(rr), 0,
	    (struct sockaddr *)&from, &fl);
	if (n < 17)
		return;
	/* end of the question: name, type, class */
	qend = 12;
	while (qend < (size_t)n && buf[qend] != 0)
		qend += buf[qend] + 1u;
	qend += 5;
	if (qend > (size_t)n)
		return;
	buf[2] = 0x81;		/* QR RD */
	buf[3] = 0x80;		/* RA, NOERROR */
	buf[6] = 0;
	buf[7] = 1;		/* ANCOUNT 1 */
	buf[8] = buf[9] = buf[10] = buf[11] = 0;
	memcpy(buf + qend, rr, sizeof(rr));
	(void)sendto(fd, buf, qend + sizeof(rr), 0, (struct sockaddr *)&from,
	    fl);
}

static size_t
make_query(uint8_t *q, const char *name)
{
	size_t len = 12;
	const char *p = name;

	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01;		/* RD */
	q[5] = 1;		/* QDCOUNT */
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		q[len++] = (uint8_t)l;
		memcpy(q + len, p, l);
		len += l;
		p += l + (dot ? 1 : 0);
	}
	q[len++] = 0;
	q[len++] = 0;
	q[len++] = 1;		/* A */
	q[len++] = 0;
	q[len++] = 1;		/* IN */
	return len;
}

int
main(int argc, char **argv)
{
	struct config *cfg;
	struct res_shared *sh;
	struct resolver *r;
	struct event_base *base;
	struct event *ev = NULL;
	struct stats *st;
	struct sockaddr_in cli, up;
	struct res_client client;
	socklen_t ul = sizeof(up);
	uint8_t q[300];
	size_t qlen, i, n;
	int fd = -1, cache;
	char addr[64];

	if (argc != 3 || (strcmp(argv[1], "cache") != 0 &&
	    strcmp(argv[1], "local") != 0)) {
		fprintf(stderr, "usage: %s cache|local N\n", argv[0]);
		return 2;
	}
	cache = strcmp(argv[1], "cache") == 0;
	n = strtoul(argv[2], NULL, 10);
	cfg = config_new();
	if (cfg == NULL)
		return 1;
	if (config_set(cfg, "server", "access-control", "127.0.0.0/8 allow",
	    NULL, 0, stderr) != 0)
		return 1;
	if (cache) {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		memset(&up, 0, sizeof(up));
		up.sin_family = AF_INET;
		up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&up, sizeof(up)) != 0 ||
		    getsockname(fd, (struct sockaddr *)&up, &ul) != 0) {
			perror("upstream socket");
			return 1;
		}
		snprintf(addr, sizeof(addr), "127.0.0.1@%u",
		    (unsigned)ntohs(up.sin_port));
		if (config_set(cfg, "forward-zone", "name", ".", NULL, 0,
		    stderr) != 0 || config_set(cfg, "forward-zone",
		    "forward-addr", addr, NULL, 0, stderr) != 0)
			return 1;
	} else if (config_set(cfg, "server", "local-data",
	    "www.bench.lab. 86400 IN A 192.0.2.1", NULL, 0, stderr) != 0 ||
	    config_set(cfg, "forward-zone", "name", ".", NULL, 0,
	    stderr) != 0 || config_set(cfg, "forward-zone", "forward-addr",
	    "127.0.0.1@9", NULL, 0, stderr) != 0)
		return 1;	/* (no traffic leaves loopback, none is sent) */
	base = event_base_new();
	st = calloc(1, sizeof(*st));
	sh = res_shared_new(cfg);
	if (base == NULL || st == NULL || sh == NULL)
		return 1;
	r = res_new(sh, base, cfg, st);
	if (r == NULL)
		return 1;
	memset(&cli, 0, sizeof(cli));
	cli.sin_family = AF_INET;
	cli.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cli.sin_port = htons(5353);
	client.addr = (struct sockaddr *)&cli;
	client.addrlen = sizeof(cli);
	client.stream = true;
	client.encrypted = true;
	qlen = make_query(q, "www.bench.lab");

	/* warm: one query (through the fake upstream in cache mode) */
	if (cache) {
		ev = event_new(base, fd, EV_READ | EV_PERSIST, upstream_cb, NULL);
		event_add(ev, NULL);
	}
	if (res_submit(r, q, qlen, &client, done_cb, NULL) != NULL) {
		struct timeval tv = { 5, 0 };

		event_base_loopexit(base, &tv);
		while (answers + bad == 0 &&
		    event_base_loop(base, EVLOOP_ONCE) == 0)
			;
	}
	if (answers != 1) {
		fprintf(stderr, "warm-up query not answered\n");
		return 1;
	}
	/* a second warm query: the first hit may set up lazily */
	if (res_submit(r, q, qlen, &client, done_cb, NULL) != NULL) {
		fprintf(stderr, "not a hit after warm-up\n");
		return 1;
	}
	answers = 0;
	CALLGRIND_TOGGLE_COLLECT;
	for (i = 0; i < n; i++) {
		q[1] = (uint8_t)i;	/* a new query id each time */
		if (res_submit(r, q, qlen, &client, done_cb, NULL) != NULL)
			break;
	}
	CALLGRIND_TOGGLE_COLLECT;
	printf("mode %s queries %zu answered %zu bad %zu\n", argv[1], n,
	    answers, bad);
	if (ev)
		event_free(ev);
	res_free(r);
	res_shared_free(sh);
	event_base_free(base);
	free(st);
	config_free(cfg);
	if (fd >= 0)
		close(fd);
	return answers == n ? 0 : 1;
}
