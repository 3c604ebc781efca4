/*
 * tools/client.h - shared declarations of cairn-client's files.
 *
 * cairn-client.c parses options, builds the query and prints answers;
 * client_net.c opens the connection (TCP, TLS with checks) and carries
 * queries over UDP, TCP, DoT, DoH/2 and DoH/1.1.  Nothing here is part of
 * libcairn: these are the client's own internal interfaces.
 */
#ifndef CAIRN_TOOLS_CLIENT_H
#define CAIRN_TOOLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum client_transport {
	CLIENT_DOH2, CLIENT_DOH1, CLIENT_DOT, CLIENT_TCP, CLIENT_UDP
};

/* What the user asked for on the command line. */
struct client_opts {
	enum client_transport transport;
	const char *server;	/* address (or host name) to connect to */
	int port;
	const char *path;	/* DoH path, e.g. "/dns-query" */
	bool post;
	const char *cafile;	/* NULL: the system bundle */
	bool insecure;
	const char *tls_name;	/* SNI and the name checked */
	bool verbose;
	int timeout_ms;
};

#define CLIENT_MAX_MSG	65535
#define CLIENT_ERR_LEN	256

struct client_conn;

/*
 * Connect to the server over o->transport (TCP connect, TLS handshake
 * with certificate checks, HTTP/2 preface and SETTINGS).  Returns NULL
 * with a human-readable reason in err ("connection refused", "TLS
 * handshake failed: certificate verify failed (...)").  The connection
 * keeps a pointer to o.
 */
struct client_conn *client_conn_open(const struct client_opts *o,
    char err[CLIENT_ERR_LEN]);

/*
 * Send one DNS message and wait for the answer to it (matched by ID for
 * UDP and TCP).  The answer is copied to ans (CLIENT_MAX_MSG bytes);
 * returns its length, or -1 with a reason in err ("HTTP status 404",
 * "timeout after 5000 ms", ...).
 */
long client_conn_query(struct client_conn *c, const uint8_t *q, size_t qlen,
    uint8_t *ans, char err[CLIENT_ERR_LEN]);

/* Close and free (NULL is fine). */
void client_conn_close(struct client_conn *c);

#endif
