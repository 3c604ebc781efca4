/*
 * comm/proxy.h - the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * version 1 text and version 2 binary) that a load balancer puts in front
 * of a connection or datagram to name the client it forwards.
 *
 * proxy_parse is pure and bounded: it looks at the bytes received so far
 * and says whether a complete, valid header is there (and how long it is
 * and which source address it carries), whether more bytes are needed, or
 * whether this cannot become a valid header.  It never reads past the
 * header nor more than PROXY_MAX bytes, does not allocate and keeps no
 * state between calls.  It does not do I/O, apply access-control or
 * decide what a connection without a header gets (comm/base.c, tcp.c,
 * udp.c do).
 */
#ifndef CAIRN_COMM_PROXY_H
#define CAIRN_COMM_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Version 1: one line "PROXY ...\r\n" of at most 107 bytes with CRLF. */
#define PROXY_V1_MAX		107
/* Version 2: a 16-byte fixed part, then 'len' bytes of addresses and
 * TLVs.  A longer address block than this is refused: HAProxy's own
 * headers (addresses, a few TLVs) stay far below it. */
#define PROXY_V2_HDR_LEN	16
#define PROXY_V2_MAX_LEN	1024
/* The longest header proxy_parse accepts (either version). */
#define PROXY_MAX		(PROXY_V2_HDR_LEN + PROXY_V2_MAX_LEN)

/* Versions a caller accepts (bit mask for proxy_parse). */
#define PROXY_ALLOW_V1		0x1
#define PROXY_ALLOW_V2		0x2

enum proxy_status {
	PROXY_INVALID = -1,	/* not a valid header: h->why says why */
	PROXY_NEED_MORE = 0,	/* every byte given is part of a header
				   that is not complete yet */
	PROXY_DONE = 1		/* h->len bytes are a complete header */
};

struct proxy_hdr {
	size_t len;		/* PROXY_DONE: bytes the header takes */
	int version;		/* 1 or 2 (once known) */
	/* The connection's own addresses stand: v2 LOCAL (the proxy's
	 * health check), v2 UNSPEC or UNIX family, v1 UNKNOWN. */
	bool local;
	struct sockaddr_storage src;	/* !local: the client, with port */
	socklen_t srclen;
	const char *why;	/* PROXY_INVALID: a few words for the log */
};

/*
 * Look at the first 'len' bytes of a stream (or a whole datagram) for a
 * PROXY header of a version in 'versions' (PROXY_ALLOW_*).  A byte that
 * cannot start or continue a header makes it PROXY_INVALID at once, so a
 * peer that sends none is told apart without waiting.  PROXY_NEED_MORE
 * promises that all 'len' bytes belong to the header, so a reader may
 * consume them.  'h' is filled (zeroed first); nothing is kept.
 */
enum proxy_status proxy_parse(const uint8_t *buf, size_t len,
    unsigned versions, struct proxy_hdr *h);

#endif
