/*
 * comm/comm_int.h - the comm-point layer's private structures, shared by
 * base.c (worker state, accept, limits), listen.c (opening sockets),
 * udp.c, tcp.c (stream connections: I/O, timers, closing) and tls.c
 * (TLS contexts, handshake, ALPN).
 *
 * Nothing outside comm/ includes this file; modules see comm.h only.
 */
#ifndef CAIRN_COMM_COMM_INT_H
#define CAIRN_COMM_COMM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "comm/comm.h"

struct event;
struct netblock_entry;
struct comm_udp_out;
typedef struct ssl_st SSL;

/* One read into the per-worker buffer is at most this many bytes. */
#define COMM_READ_BUF		(16 * 1024)
/*
 * Work bounds per read event: reads, and bytes handed to the module.  A
 * TLS read (SSL_read) returns one record, and a client such as dnsperf
 * sends one or two records per query: the bound for TLS is in records,
 * enough for a read-ahead buffer full of small ones, so that their
 * answers leave in one write (output is flushed once per event).
 */
#define COMM_READS_PER_EVENT	4
#define COMM_TLS_RECORDS_PER_EVENT	256
#define COMM_BYTES_PER_EVENT	(64 * 1024)
/* Connections accepted per listener event at most. */
#define COMM_ACCEPTS_PER_EVENT	16
/* Out of descriptors (EMFILE...): stop accepting for this long. */
#define COMM_SLOW_ACCEPT_MSEC	1000
/* Datagrams received per UDP event at most (one recvmmsg batch). */
#define COMM_UDP_BATCH		32
/* Largest datagram accepted. */
#define COMM_UDP_MAX		65535
/* Rounds of flush/writable/close settling after one callback. */
#define COMM_SETTLE_ROUNDS	8
/* At most one VERB_OPS line a worker per this many seconds about peers
 * without a valid PROXY header (each one is at VERB_QUERY). */
#define COMM_PROXY_LOG_SEC	60

struct comm_listener {
	struct comm_listener *next;
	struct comm_base *base;
	int fd;				/* borrowed from the caller */
	struct event *ev;
	struct event *slow;		/* re-enables accept after EMFILE */
	const struct comm_stream_spec *spec;
	void *env;
	bool proxy;			/* COMM_LISTEN_PROXY */
};

struct comm_udp {
	struct comm_udp *next;
	struct comm_base *base;
	int fd;				/* borrowed from the caller */
	struct event *ev;
	comm_udp_cb handler;
	void *env;
	void *data;			/* module data (comm_udp_set_data) */
	void (*data_free)(struct comm_udp *u, void *data);
	bool proxy;			/* COMM_LISTEN_PROXY */
	bool pktinfo;			/* bound to 0.0.0.0 or :: */
};

struct comm_base {
	struct event_base *eb;
	struct comm_limits lim;
	struct stats *st;
	int nconn;			/* stream conns open (slots used) */
	struct comm_conn *conns;	/* all open stream conns */
	struct comm_listener *listeners;
	struct comm_udp *udps;
	bool accepting;
	bool freeing;
	/* peers without a valid PROXY header: reported at VERB_OPS at
	 * most once per COMM_PROXY_LOG_SEC with the count in between */
	time_t proxy_log_at;
	unsigned long proxy_bad;
	uint8_t rbuf[COMM_READ_BUF];	/* shared read buffer */
	uint8_t *udpbuf;		/* COMM_UDP_BATCH * (COMM_UDP_MAX+1) */
	struct comm_udp_out *udpout;	/* replies queued while a UDP batch
					   is handled (udp.c) */
	uint8_t *spare_out;		/* one drained output buffer kept for
					   the next conn that writes */
	size_t spare_cap;
};

struct comm_conn {
	struct comm_conn *prev, *next;	/* in base->conns */
	struct comm_base *base;
	struct comm_listener *lst;
	int fd;
	SSL *ssl;			/* NULL for clear text */
	const struct comm_proto *proto;	/* NULL until chosen (ALPN) */
	void *st;			/* proto state, proto->state_size */
	struct event *rev;		/* EV_READ|EV_PERSIST */
	struct event *wev;		/* EV_WRITE, added when output waits;
					   also activated by hand to flush */
	struct event *tev;		/* idle / handshake / close deadline */
	struct netblock_entry *tcl;	/* tcp-connection-limit entry held */
	struct sockaddr_storage peer;	/* the client (PROXY: proxied) */
	socklen_t peerlen;
	char peerstr[64];
	uint8_t *pbuf;			/* PROXY header read so far */
	size_t plen;

	uint8_t *out;			/* output buffer */
	size_t out_off, out_len, out_cap; /* pending = out_len - out_off */

	int depth;			/* comm callbacks on the stack */
	enum comm_close_why why;	/* reason of a requested close */
	bool proxy_wait;		/* PROXY header not read yet */
	bool handshaking;		/* TLS handshake not done */
	bool opened;			/* proto->open was called */
	bool close_req;			/* a close was asked for */
	bool close_graceful;		/* ... and may flush first */
	bool closing;			/* graceful close in progress */
	bool pause_mod;			/* module paused reading */
	bool pause_mark;		/* output above COMM_OUT_MARK */
	bool want_writable;		/* module asked for writable */
	bool busy;			/* module has work in progress */
	bool eof;			/* peer finished sending */
	bool in_idle;			/* inside proto->idle */
	bool own_activity;		/* module restarts the idle timer */
	bool ssl_read_wants_write;	/* SSL_read returned WANT_WRITE */
	bool ssl_write_wants_read;	/* SSL_write returned WANT_READ */
	bool flush_scheduled;		/* wev activated by hand */
	bool rev_on;			/* rev is added */
	bool quiet_wait;		/* tev runs to the quiet point */
	uint64_t active_msec;		/* last activity (mono_msec) */
};

/* base.c */
/* "192.0.2.1 port 53" */
void comm_addr_str(const struct sockaddr *sa, char *buf, size_t len);
void comm_conn_free(struct comm_conn *c, enum comm_close_why why);
int comm_conn_timeout_msec(const struct comm_conn *c);
void comm_conn_touch(struct comm_conn *c);
/* (Re)arm the conn's timer (tev) to fire in ms milliseconds. */
void comm_conn_arm(struct comm_conn *c, int ms);
struct proxy_hdr;
/* The PROXY header of c is read: take its client address and apply
 * access-control deny and tcp-connection-limit to it.  false = refused
 * (the caller frees c). */
bool comm_conn_proxied(struct comm_conn *c, const struct proxy_hdr *h);
/* A peer sent no valid PROXY header: log it without flooding. */
void comm_proxy_log_bad(struct comm_base *cb, const char *peer,
    const char *why);
/* May 'sa' send PROXY headers (access-control allow or allow_snoop)? */
bool comm_proxy_sender_allowed(const struct comm_base *cb,
    const struct sockaddr *sa);

/* tcp.c */
void comm_conn_read_cb(int fd, short what, void *arg);
void comm_conn_write_cb(int fd, short what, void *arg);
void comm_conn_timer_cb(int fd, short what, void *arg);
void comm_conn_update_events(struct comm_conn *c);
bool comm_conn_settle(struct comm_conn *c);
int comm_conn_start(struct comm_conn *c);

/* tls.c */
/* One handshake step: 1 done, 0 wants read, 2 wants write, -1 failed. */
int comm_tls_handshake(struct comm_conn *c);
/* Read into buf: >0 bytes, 0 = would block, -1 error, -2 EOF. */
ssize_t comm_tls_read(struct comm_conn *c, uint8_t *buf, size_t len);
/* Write: >0 bytes, 0 = would block, -1 error. */
ssize_t comm_tls_write(struct comm_conn *c, const uint8_t *buf, size_t len);
bool comm_tls_pending(const struct comm_conn *c);
void comm_tls_shutdown(struct comm_conn *c);
int comm_tls_conn_new(struct comm_conn *c, SSL_CTX *ctx);
void comm_tls_free(struct comm_conn *c);

#endif
