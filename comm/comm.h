/*
 * comm/comm.h - the comm-point layer: listening sockets, UDP and stream
 * (TCP, TLS) connections, connection limits and timeouts.
 *
 * Glossary
 *   port      a listening socket of one kind (UDP, TCP, TLS, HTTPS, HTTP),
 *             opened from the config by comm_ports_open.
 *   base      one worker's comm state: its event loop, its TCP slot count
 *             (incoming-num-tcp), the access-control and
 *             tcp-connection-limit tables it applies at accept.
 *   conn      one accepted stream connection.  comm/ owns its descriptor,
 *             its SSL*, its timers and its output buffer.
 *   proto     the table of callbacks of the module that speaks on a conn
 *             (plain DNS-over-TCP framing, DoT, DoH): it sees bytes in and
 *             writes bytes out, never the socket.  ALPN picks it on TLS.
 *   env       an opaque pointer given with a listener and handed to the
 *             module (the worker's struct module_env).
 *
 * comm/ does not parse DNS or HTTP.  Callbacks run on the worker's
 * thread.  A close asked for inside a callback is carried out after the
 * callback returns; the proto's close callback is always called exactly
 * once for a conn whose open was called (even if open failed), and the
 * conn (and its state) is freed right after it.  A TLS conn that fails
 * its handshake never had a proto opened and gets no callback.
 *
 * Limits and timeouts (see comm_int.h for the numbers):
 *   incoming-num-tcp  slots per worker shared by all its stream ports;
 *                     over it a new conn is accepted and closed at once
 *                     (num.tcp.refused.limit); 0 = no stream service.
 *   tcp-connection-limit  per netblock, counted at accept, given back
 *                     when the conn is freed; over it: closed at once
 *                     (num.tcp.refused.limit).
 *   access-control    deny closes the conn at accept.
 *   proxy-protocol-port  a port opened with COMM_LISTEN_PROXY: each conn
 *                     must start with a PROXY v1 or v2 header (before
 *                     TLS), each datagram with a v2 header (comm/proxy.h).
 *                     The sender's own address must be access-control
 *                     allow or allow_snoop (else: closed / dropped); the
 *                     header's source address then replaces the peer's
 *                     (comm_conn_peer, logs, access-control deny,
 *                     tcp-connection-limit, which is counted only once
 *                     the header is read); LOCAL keeps the real peer.
 *                     No valid header within tcp-idle-timeout: closed
 *                     (datagrams: dropped, unwanted.queries).
 *   tcp-idle-timeout  restarted by every read and write (or, after
 *                     comm_conn_own_activity, when the module says);
 *                     cut to 1/100
 *                     when more than 50% of the worker's slots are used,
 *                     1/500 above 65%, 0 above 80%, never below
 *                     COMM_TCP_TIMEOUT_MIN_MSEC; not applied while the
 *                     module says busy; the TLS handshake must finish
 *                     within one timeout; a graceful close gets one more.
 *   quiet point      COMM_QUIET_MSEC after the last read or write (when
 *                     the idle timeout is over twice that): proto->quiet
 *                     gives memory back; the idle timeout is unchanged.
 *                     A conn keeps no output buffer once it is drained.
 *   A peer that half-closes while the module is busy gets its answers:
 *   the conn closes (COMM_CLOSE_EOF) once the module is no longer busy.
 */
#ifndef CAIRN_COMM_COMM_H
#define CAIRN_COMM_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct event_base;
struct config;
struct stats;
struct netblock_set;
struct comm_base;
struct comm_conn;
struct comm_udp;
typedef struct ssl_ctx_st SSL_CTX;

/* Output above this many bytes: stop reading the peer, and modules stop
 * producing (nghttp2's send callback returns WOULDBLOCK). */
#define COMM_OUT_MARK		(64 * 1024)
/* Output is never allowed past this: comm_conn_write fails. */
#define COMM_OUT_MAX		(1024 * 1024)
/* Unbound's floor for the shortened TCP timeout. */
#define COMM_TCP_TIMEOUT_MIN_MSEC 200
/* A connection without reads or writes this long is quiet: comm frees
 * its empty output buffer and calls proto->quiet (memory back while it
 * idles; the idle timeout still runs from the last activity). */
#define COMM_QUIET_MSEC		250

enum comm_close_why {
	COMM_CLOSE_EOF = 1,	/* the peer closed */
	COMM_CLOSE_ERROR,	/* read/write/TLS error */
	COMM_CLOSE_TIMEOUT,	/* idle or handshake timeout */
	COMM_CLOSE_MODULE,	/* the module asked (comm_conn_close) */
	COMM_CLOSE_SHUTDOWN	/* the worker is stopping */
};

struct comm_proto {
	const char *name;	/* "dnstcp", "doh-h2", ... for logs */
	size_t state_size;	/* comm allocates it zeroed, frees after close */
	/* Connection ready (TLS done).  Return 0, or -errno to close. */
	int (*open)(struct comm_conn *c, void *st);
	/* Bytes from the peer (borrowed for the call).  Return 0, or
	 * -errno and comm closes the connection. */
	int (*input)(struct comm_conn *c, void *st, const uint8_t *data,
	    size_t len);
	/* The output buffer went below COMM_OUT_MARK again after having
	 * been above it (or comm_conn_want_writable was called).  May be
	 * NULL. Return 0 or -errno. */
	int (*writable)(struct comm_conn *c, void *st);
	/* The idle timeout fired.  Return 0 if the module handles it (e.g.
	 * sends GOAWAY and calls comm_conn_close(c, true)), non-zero to let
	 * comm close at once.  May be NULL (= close at once). */
	int (*idle)(struct comm_conn *c, void *st);
	/* Last call for this connection; cancel pending work here. */
	void (*close)(struct comm_conn *c, void *st, enum comm_close_why why);
	/* The connection has been quiet COMM_QUIET_MSEC (and its idle
	 * timeout is longer): give back memory it can do without.  May be
	 * NULL; must not write or close. */
	void (*quiet)(struct comm_conn *c, void *st);
};

/*
 * Protocols offered by ALPN, in server preference order: the first of
 * these the client offers is chosen and its proto opened after the
 * handshake.  A client that offers ALPN with none of these fails the
 * handshake (no_application_protocol alert); a client that offers no
 * ALPN gets comm_stream_spec.proto (none: the conn is closed).
 */
struct comm_alpn {
	const char *name;		/* "h2", "http/1.1", "dot" */
	const struct comm_proto *proto;
};

/* How a stream listener serves its connections. */
struct comm_stream_spec {
	const struct comm_proto *proto;	/* clear text, or TLS without ALPN */
	const struct comm_alpn *alpn;	/* TLS: NULL-name-terminated list;
					   NULL = ALPN not used */
	SSL_CTX *ssl_ctx;		/* NULL = clear text */
	bool nodelay;			/* TCP_NODELAY on accepted sockets */
};

enum comm_port_kind {
	COMM_PORT_UDP,
	COMM_PORT_TCP,		/* DNS over TCP */
	COMM_PORT_TLS,		/* DNS over TLS (tls-port) */
	COMM_PORT_HTTPS,	/* DoH over TLS (https-port) */
	COMM_PORT_HTTP		/* DoH clear text (http-notls-downstream) */
};

struct comm_port {
	struct comm_port *next;
	int fd;
	enum comm_port_kind kind;
	bool proxy;		/* its port number is a proxy-protocol-port */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/*
 * Open every listening socket the config asks for: for each interface
 * (default 127.0.0.1 and ::1, with interface-automatic 0.0.0.0 and ::;
 * a name stands for every address of that network interface) at its
 * port (addr@port, else 'port'): the https-port gets an HTTPS (or HTTP)
 * port, the tls-port a TLS port, others UDP (do-udp) and TCP (do-tcp,
 * incoming-num-tcp > 0); do-ip4 and do-ip6 filter.  SO_REUSEPORT when
 * so-reuseport, so each worker may call this for its own set;
 * IP_FREEBIND with ip-freebind; UDP buffers with so-rcvbuf, so-sndbuf.
 * Returns NULL with *err set to a sentence on failure ("could not bind 127.0.0.1 port 53: Address in use").
 */
struct comm_port *comm_ports_open(const struct config *cfg, char *err,
    size_t errlen);
/*
 * Reload: as comm_ports_open, but a socket of '*old' with the same
 * address, port and kind is taken over (removed from *old, not reopened:
 * no query to it is lost).  What stays in *old is the caller's to close.
 * When opening fails (e.g. an old socket holds an address), *old is
 * closed (and set to NULL) and everything is opened afresh once more.
 * Main thread only.  Needs the same so-reuseport for old and new.
 */
struct comm_port *comm_ports_reopen(const struct config *cfg,
    struct comm_port **old, char *err, size_t errlen);
void comm_ports_close(struct comm_port *ports);

/* TLS server context from tls-service-key/pem and tls-* options.
 * NULL with the file name and OpenSSL's reason in err. */
SSL_CTX *comm_tls_ctx_new(const struct config *cfg, char *err, size_t errlen);
void comm_tls_ctx_free(SSL_CTX *ctx);

/* Limits a worker applies; tables are shared and read-only. */
struct comm_limits {
	int incoming_num_tcp;		/* stream slots of this worker */
	int tcp_idle_timeout_msec;
	const struct netblock_set *acl;		/* deny = close at accept */
	struct netblock_set *tcl;		/* tcp-connection-limit */
};

struct comm_base *comm_base_new(struct event_base *base,
    const struct comm_limits *lim, struct stats *st);
/* Closes every connection (close callbacks with COMM_CLOSE_SHUTDOWN) and
 * listener of this base, then frees it. */
void comm_base_free(struct comm_base *cb);
/* Stream connections open now (tcpusage). */
int comm_base_conn_count(const struct comm_base *cb);
/* Stop accepting (listeners off) without closing connections. */
void comm_base_stop_accept(struct comm_base *cb);

/* comm_listen_* flags: the port expects PROXY headers (see above). */
#define COMM_LISTEN_PROXY	0x1

/*
 * The local address a datagram was sent to, on a UDP port bound to
 * 0.0.0.0 or :: (comm_listen_udp turns IP_PKTINFO on there): the
 * reply must leave from it, else a host with several addresses answers
 * from the one its route picks and the client drops the answer as from
 * an unexpected source.  Copy it with the sender's address for a reply
 * made later.  family 0: not known (the reply leaves as the kernel
 * routes it).
 */
struct comm_udp_dst {
	sa_family_t family;		/* AF_INET, AF_INET6 or 0 */
	int ifindex;			/* IPv6 link-local only, else 0 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/*
 * Datagram handler: a query arrived on a UDP port.  The reply goes to
 * 'from' (the sender), from 'dst' (NULL when the port does not know);
 * 'client' is who the query is for (the address a PROXY header named,
 * else 'from' itself): access-control and logs use it.  All are borrowed
 * for the call.
 */
typedef void (*comm_udp_cb)(struct comm_udp *u, void *env, const uint8_t *pkt,
    size_t len, const struct sockaddr *from, socklen_t fromlen,
    const struct sockaddr *client, socklen_t clientlen,
    const struct comm_udp_dst *dst);

/* Serve a UDP port (fd borrowed, not closed by comm); 'flags'
 * COMM_LISTEN_*.  On 0.0.0.0 or :: it sets IP_PKTINFO
 * (IPV6_RECVPKTINFO) and the handler gets each datagram's 'dst'.
 * Returns 0/-errno. */
int comm_listen_udp(struct comm_base *cb, int fd, comm_udp_cb handler,
    void *env, unsigned flags);
/* Send a datagram reply from the same socket, from the address 'dst'
 * (the handler's; NULL or family 0: as routed). Returns 0 or -errno.
 * Inside the port's handler (a batch of datagrams) the reply is queued
 * and sent with the batch's others after it (0; a failure is logged). */
int comm_udp_send(struct comm_udp *u, const uint8_t *pkt, size_t len,
    const struct sockaddr *to, socklen_t tolen,
    const struct comm_udp_dst *dst);
/*
 * Module data kept with a UDP port (e.g. the list of queries waiting for
 * the resolver).  'data_free' (may be NULL) runs when comm_base_free
 * closes the port, so a module can cancel its pending work there: free
 * the comm base before the resolver.
 */
void comm_udp_set_data(struct comm_udp *u, void *data,
    void (*data_free)(struct comm_udp *u, void *data));
void *comm_udp_get_data(const struct comm_udp *u);

/* Serve a stream port (fd borrowed). 'spec' must outlive the base;
 * 'flags' COMM_LISTEN_*. */
int comm_listen_stream(struct comm_base *cb, int fd,
    const struct comm_stream_spec *spec, void *env, unsigned flags);

/*
 * Queue bytes for the peer (copied).  They are sent when the current
 * callback returns or, from a resolver callback, on the next loop turn
 * (all answers of one turn go out in one write).  Returns 0, or -ENOBUFS
 * when the output would exceed COMM_OUT_MAX, -EPIPE when closing.
 */
int comm_conn_write(struct comm_conn *c, const struct iovec *iov, int iovcnt);
/* Bytes queued and not yet written. */
size_t comm_conn_pending(const struct comm_conn *c);
/* Ask for the writable callback once the output is below the mark. */
void comm_conn_want_writable(struct comm_conn *c);
/* Stop (1) or resume (0) reading from the peer. */
void comm_conn_pause_read(struct comm_conn *c, int pause);
/*
 * Close: graceful = write what is queued first (bounded by the idle
 * timeout), then shut down TLS and close.  Safe inside callbacks.
 */
void comm_conn_close(struct comm_conn *c, bool graceful);
/*
 * The module has work in progress (queries being resolved, streams
 * open): while busy the idle timer does not close the connection.
 */
void comm_conn_set_busy(struct comm_conn *c, bool busy);
/*
 * From now on reads and writes do not restart the idle timer: the
 * module says what is activity with comm_conn_activity (HTTP/2: a
 * request or a response, not a PING or SETTINGS, so a peer that only
 * keeps the connection warm is closed after tcp-idle-timeout).
 */
void comm_conn_own_activity(struct comm_conn *c);
void comm_conn_activity(struct comm_conn *c);
void *comm_conn_env(const struct comm_conn *c);
/* The client: the TCP peer, or the source a PROXY header named. */
const struct sockaddr *comm_conn_peer(const struct comm_conn *c,
    socklen_t *len);
/* "192.0.2.1 port 5353" for log lines (the same address). */
const char *comm_conn_peer_str(const struct comm_conn *c);
bool comm_conn_is_tls(const struct comm_conn *c);
/* TLS and the session was resumed (a ticket): num.query.tls.resume
 * counts the queries of such connections, as Unbound does. */
bool comm_conn_tls_resumed(const struct comm_conn *c);
/* The worker's counters. */
struct stats *comm_conn_stats(const struct comm_conn *c);

#endif
