/*
 * testdata/fuzz/fuzz_upstream.c - libFuzzer target for what cairnd does
 * with an upstream's answer: resolver/forward.c's checks (ID, question,
 * QR, TC -> TCP, framing over TCP), the DoT framing and ID matching of
 * resolver/upstream_tls.c, the DoH client of resolver/upstream_h2.c
 * (status, body, stream close), resolver/resolver.c's joined waiters,
 * relayed uncacheable answers (relay_reply), dns_msg_new and the cache
 * insert, and the cache hit that follows.
 *
 * The real resolver runs on a libevent loop, forwarding "." to a fake
 * upstream in this process: a UDP socket and a TCP listener on one
 * loopback port (Do53), or a TLS listener (DoT, DoH with ALPN h2) whose
 * certificate is made at start and signed by a CA given to the resolver
 * as tls-cert-bundle.  Every query is answered with bytes from the
 * input.  Nothing but loopback is used.
 *
 * Input: byte 0 flags:
 *   bit 0  put the ID of the upstream query into the UDP answer
 *   bit 1  the client asks the question of the UDP answer (else
 *          "example.com. A"), so that the answer can match
 *   bit 2  the client sets DO (EDNS)
 *   bit 3  a second client asks the same question (no EDNS, UDP)
 *   bit 4  put the ID of the query into the first TCP/DoT message
 *   bit 5  ask again once answered (a cache hit when it was stored)
 *   bit 6  the client sets CD
 *   bit 7  the client came over TCP (answers up to 65535 bytes)
 * byte 1: bits 0-5 the client's EDNS size (0: no EDNS unless DO, else
 * 512 + n * 64); bits 6-7 the upstream: 0-1 Do53, 2 DoT, 3 DoH.
 * Bytes 2-3: length of the UDP answer that follows (also the question
 * for bit 1); the rest is the stream answer: written as is to each TCP
 * or DoT connection for each framed query that arrived (the 2-byte
 * framing is the input's; a TCP connection is then closed), or to a DoH
 * connection once the client's preface arrived (HTTP/2 frames, the
 * server's SETTINGS first; the DNS ID of DoH is 0).
 *
 * Checked (__builtin_trap): every client gets exactly one answer; it
 * parses, has QR, the client's ID and question, and fits the client's
 * size (512 without EDNS); a cache hit obeys the same; a flush of the
 * cache removes every entry a dump lists, and leaves none.
 *
 * Build: make fuzz; run: make fuzz-run, or
 *   ./fuzz_upstream -dict=testdata/fuzz/upstream.dict \
 *     testdata/fuzz/corpus/upstream
 * -DFUZZ_STANDALONE adds a main() that runs the files named once each.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dns/wire.h"
#include "dns/wire_int.h"
#include "resolver/resolver.h"
#include "util/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)
#define MAX_CONNS	8
#define ROUNDS		200
#define IDLE_MAX	8

enum { T_DO53, T_DOT, T_DOH, T_COUNT };

/* The fake upstreams and the resolver's shared state, made once. */
static struct {
	struct event_base *base;
	struct config *cfg[T_COUNT];	/* "." to each fake upstream */
	struct res_shared *sh[T_COUNT];
	FILE *devnull;		/* for cache dumps */
	int udp, lst;		/* Do53: UDP and TCP on one port */
	int tls_lst;		/* DoT and DoH */
	uint16_t port, tls_port;
	SSL_CTX *tls;		/* the fake upstream's server side */
	char bundle[64];	/* its CA, the resolver's tls-cert-bundle */
} env;

/* One input's run. */
struct client {
	uint8_t q[600];
	size_t qlen;
	uint16_t id;
	size_t max_len;		/* what the answer may take */
	struct res_req *req;
	bool answered;
	bool got;		/* a non-empty answer */
	uint8_t ans[65536];
	size_t anslen;
};

/* A connection to a fake upstream (TCP, or TLS when ssl is set). */
struct peer {
	int fd;
	SSL *ssl;
	bool open;		/* TLS handshake done (or plain TCP) */
	uint8_t in[8192];
	size_t have;
	bool replied;		/* DoH: the input was written once */
};

static struct {
	uint8_t flags;
	int t;			/* T_* */
	const uint8_t *udp_ans;
	size_t udp_len;
	const uint8_t *tcp_ans;
	size_t tcp_len;
	struct peer conns[MAX_CONNS];
	int nconns;
	int activity;
} run;

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* UDP and TCP on one free loopback port. */
static int
fake_open(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int tries, on = 1;

	for (tries = 0; tries < 50; tries++) {
		env.udp = socket(AF_INET, SOCK_DGRAM, 0);
		env.lst = socket(AF_INET, SOCK_STREAM, 0);
		if (env.udp < 0 || env.lst < 0)
			return -1;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(env.udp, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
		    getsockname(env.udp, (struct sockaddr *)&sin, &sl) != 0)
			return -1;
		(void)setsockopt(env.lst, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on));
		if (bind(env.lst, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    listen(env.lst, 16) == 0) {
			env.port = ntohs(sin.sin_port);
			break;
		}
		close(env.udp);
		close(env.lst);
	}
	if (env.port == 0)
		return -1;
	/* the TLS port: any free one */
	env.tls_lst = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = 0;
	sl = sizeof(sin);
	if (env.tls_lst < 0 || bind(env.tls_lst, (struct sockaddr *)&sin,
	    sizeof(sin)) != 0 || listen(env.tls_lst, 16) != 0 ||
	    getsockname(env.tls_lst, (struct sockaddr *)&sin, &sl) != 0)
		return -1;
	env.tls_port = ntohs(sin.sin_port);
	return nonblock(env.udp) || nonblock(env.lst) ||
	    nonblock(env.tls_lst) ? -1 : 0;
}

/* ------------------------------------------------ the TLS upstream */

static void
ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (e == NULL || X509_add_ext(x, e, -1) != 1)
		abort();
	X509_EXTENSION_free(e);
}

/* A certificate for 'key', signed by 'ca' with 'ca_key' (NULL: itself). */
static X509 *
cert_make(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n;

	if (x == NULL || X509_set_version(x, 2) != 1)
		abort();
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 2 : 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n);
	if (ca == NULL) {
		ext_add(x, x, NID_basic_constraints, "critical,CA:TRUE");
		ext_add(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		ext_add(x, ca, NID_basic_constraints, "CA:FALSE");
		ext_add(x, ca, NID_subject_alt_name, "IP:127.0.0.1");
	}
	if (X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) == 0)
		abort();
	return x;
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i;

	(void)ssl;
	(void)arg;
	for (i = 0; i + 3 <= inlen; i += 1u + in[i])
		if (in[i] == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
	return SSL_TLSEXT_ERR_NOACK;
}

static void
bundle_remove(void)
{
	(void)unlink(env.bundle);
}

/* A CA (written to env.bundle) and the server's certificate. */
static void
tls_init(void)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	X509 *ca, *leaf;
	FILE *f;
	int fd;

	if (ca_key == NULL || key == NULL)
		abort();
	ca = cert_make(ca_key, NULL, NULL, "fuzz CA");
	leaf = cert_make(key, ca, ca_key, "127.0.0.1");
	snprintf(env.bundle, sizeof(env.bundle), "/tmp/fuzz-upstream-XXXXXX");
	fd = mkstemp(env.bundle);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL ||
	    PEM_write_X509(f, ca) != 1 || fclose(f) != 0)
		abort();
	atexit(bundle_remove);
	env.tls = SSL_CTX_new(TLS_server_method());
	if (env.tls == NULL ||
	    SSL_CTX_use_certificate(env.tls, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(env.tls, key) != 1)
		abort();
	SSL_CTX_set_alpn_select_cb(env.tls, alpn_cb, NULL);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
}

static void
env_init(void)
{
	static const char *const how[T_COUNT] = {
		NULL, "forward-tls-upstream", "forward-https-upstream"
	};
	char addr[64];
	int t;

	if (env.base != NULL)
		return;
	/* FUZZ_VERBOSE=4 shows what the resolver does (debugging) */
	log_verbosity = getenv("FUZZ_VERBOSE") ? atoi(getenv("FUZZ_VERBOSE")) :
	    0;
	signal(SIGPIPE, SIG_IGN);	/* as cairnd: a closed peer is EPIPE */
	env.base = event_base_new();
	if (env.base == NULL || fake_open() != 0)
		abort();
	tls_init();
	for (t = 0; t < T_COUNT; t++) {
		struct config *cfg = config_new();

		snprintf(addr, sizeof(addr), "127.0.0.1@%u",
		    t == T_DO53 ? env.port : env.tls_port);
		if (cfg == NULL ||
		    config_set(cfg, "server", "tls-cert-bundle", env.bundle,
		    NULL, 0, stderr) != 0 ||
		    config_set(cfg, "forward-zone", "name", ".", NULL, 0,
		    stderr) != 0 ||
		    config_set(cfg, "forward-zone", "forward-addr", addr, NULL,
		    0, stderr) != 0 ||
		    (how[t] != NULL && config_set(cfg, "forward-zone", how[t],
		    "yes", NULL, 0, stderr) != 0))
			abort();
		env.cfg[t] = cfg;
		env.sh[t] = res_shared_new(cfg);
		if (env.sh[t] == NULL)
			abort();
	}
	env.devnull = fopen("/dev/null", "w");
	if (env.devnull == NULL)
		abort();
}

/* The UDP answer, its ID set to the query's when asked. */
static void
send_udp(const uint8_t *qry, size_t qn, const struct sockaddr *to,
    socklen_t tolen)
{
	static uint8_t out[65536];
	size_t n = run.udp_len;

	memcpy(out, run.udp_ans, n);
	if ((run.flags & 1) && n >= 2 && qn >= 2)
		memcpy(out, qry, 2);
	(void)sendto(env.udp, out, n, 0, to, tolen);
}

/* Write all of p (as far as the socket takes it). */
static void
peer_write(struct peer *c, const uint8_t *p, size_t len)
{
	size_t off = 0;
	int n;

	while (off < len) {
		if (c->ssl != NULL) {
			n = SSL_write(c->ssl, p + off, (int)(len - off));
		} else {
			ssize_t w = write(c->fd, p + off, len - off);

			n = w > INT32_MAX ? INT32_MAX : (int)w;
		}
		if (n <= 0)
			break;	/* full or gone: the rest is lost */
		off += (size_t)n;
	}
	ERR_clear_error();
}

static void
peer_close(struct peer *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	ERR_clear_error();
}

/* Bytes from c into c->in: >0 read, 0 nothing now, -1 closed. */
static int
peer_read(struct peer *c)
{
	size_t room = sizeof(c->in) - c->have;
	int n;

	if (room == 0)
		c->have = 0;	/* DoH: what the client sends is dropped */
	room = sizeof(c->in) - c->have;
	if (c->ssl == NULL) {
		ssize_t r = read(c->fd, c->in + c->have, room);

		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		if (r == 0)
			return -1;
		c->have += (size_t)r;
		return 1;
	}
	n = SSL_read(c->ssl, c->in + c->have, (int)room);
	if (n > 0) {
		c->have += (size_t)n;
		return 1;
	}
	n = SSL_get_error(c->ssl, n);
	ERR_clear_error();
	return n == SSL_ERROR_WANT_READ || n == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* The stream answer to the framed query at c->in, its first message's
 * ID set to the query's when asked. */
static void
reply_framed(struct peer *c)
{
	static uint8_t out[70000];
	size_t len = run.tcp_len;

	memcpy(out, run.tcp_ans, len);
	if ((run.flags & 16) && len >= 4 && c->have >= 4)
		memcpy(out + 2, c->in + 2, 2);
	peer_write(c, out, len);
}

static void
serve(struct peer *c)
{
	uint8_t b;
	int r;

	if (c->fd < 0)
		return;
	if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		run.activity++;		/* the client said something */
	if (!c->open) {
		r = SSL_do_handshake(c->ssl);
		if (r == 1) {
			c->open = true;
		} else {
			r = SSL_get_error(c->ssl, r);
			ERR_clear_error();
			if (r != SSL_ERROR_WANT_READ &&
			    r != SSL_ERROR_WANT_WRITE)
				peer_close(c);
			return;
		}
	}
	while ((r = peer_read(c)) > 0)
		;
	if (r < 0) {
		peer_close(c);
		return;
	}
	if (run.t == T_DOH) {
		/* after the client's preface and request: the input, as
		 * HTTP/2 frames (the server's preface first), once */
		if (!c->replied && c->have >= 24) {
			peer_write(c, run.tcp_ans, run.tcp_len);
			c->replied = true;
			run.activity++;
		}
		return;
	}
	/* TCP and DoT: each whole framed query gets the input */
	while (c->have >= 2 && c->have >= 2 + (size_t)dns_rd16(c->in)) {
		size_t n = 2 + (size_t)dns_rd16(c->in);

		reply_framed(c);
		run.activity++;
		memmove(c->in, c->in + n, c->have - n);
		c->have -= n;
		if (run.t == T_DO53) {
			/* forward.c: one query a connection, EOF ends it */
			(void)shutdown(c->fd, SHUT_WR);
			break;
		}
	}
}

/* Serve what arrived at the fake upstreams; counts activity. */
static void
fake_poll(void)
{
	uint8_t buf[2048];
	struct sockaddr_storage from;
	socklen_t fl;
	ssize_t n;
	int i, fd, lst = run.t == T_DO53 ? env.lst : env.tls_lst;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(env.udp, buf, sizeof(buf), 0,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		run.activity++;
		send_udp(buf, (size_t)n, (struct sockaddr *)&from, fl);
	}
	while (run.nconns < MAX_CONNS && (fd = accept(lst, NULL, NULL)) >= 0) {
		struct peer *c = &run.conns[run.nconns];

		run.activity++;
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		/* no Nagle: the answer after the session tickets would wait
		 * for the resolver's delayed ACK (40 ms) */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
		c->open = run.t == T_DO53;
		if (nonblock(fd) != 0 || (!c->open &&
		    ((c->ssl = SSL_new(env.tls)) == NULL ||
		    SSL_set_fd(c->ssl, fd) != 1))) {
			peer_close(c);
			continue;
		}
		if (c->ssl != NULL)
			SSL_set_accept_state(c->ssl);
		run.nconns++;
	}
	for (i = 0; i < run.nconns; i++)
		serve(&run.conns[i]);
}

static void
fake_reset(void)
{
	uint8_t buf[2048];
	int i;

	for (i = 0; i < run.nconns; i++)
		peer_close(&run.conns[i]);
	run.nconns = 0;
	while (recv(env.udp, buf, sizeof(buf), 0) >= 0)
		;
}

/* The client's question as it sent it (for the answer check). */
static void
check_answer(const struct client *c)
{
	struct dns_scan s;
	size_t qend_q, qend_a;

	if (!c->got)
		return;		/* dropped: e.g. a local zone said so */
	CHECK(c->anslen >= DNS_HDR_LEN && c->anslen <= c->max_len);
	CHECK(dns_rd16(c->ans) == c->id);
	CHECK(dns_rd16(c->ans + 2) & DNS_QR);
	CHECK(dns_pkt_scan(c->ans, c->anslen, &s) == 0);
	CHECK(s.end <= c->anslen);
	if (dns_rd16(c->ans + 4) == 0) {
		/* an error about the question need not repeat it */
		CHECK(DNS_RCODE(dns_rd16(c->ans + 2)) != DNS_RCODE_NOERROR);
		return;
	}
	/* the client's question, letter for letter */
	CHECK(dns_pkt_question(c->q, c->qlen, &qend_q) == 0);
	CHECK(dns_pkt_question(c->ans, c->anslen, &qend_a) == 0);
	CHECK(qend_a == qend_q);
	CHECK(memcmp(c->ans + DNS_HDR_LEN, c->q + DNS_HDR_LEN,
	    qend_q - DNS_HDR_LEN) == 0);
}

static void
done_cb(void *arg, const uint8_t *ans, size_t len)
{
	struct client *c = arg;

	CHECK(!c->answered);
	c->answered = true;
	c->req = NULL;
	c->got = ans != NULL && len > 0;
	if (c->got) {
		CHECK(len <= sizeof(c->ans));
		memcpy(c->ans, ans, len);
		c->anslen = len;
	}
}

/*
 * A query for 'qname' (wire, uncompressed) in c->q: RD, CD when asked,
 * an OPT with 'edns' bytes (0: none) and DO when asked.
 */
static void
client_query(struct client *c, uint16_t id, const uint8_t *qname,
    size_t qlen, uint16_t qtype, uint16_t qclass, bool cd, bool dnssec,
    uint16_t edns, bool stream)
{
	uint8_t *p = c->q;

	memset(c, 0, offsetof(struct client, ans));
	c->id = id;
	dns_wr16(p, id);
	dns_wr16(p + 2, (uint16_t)(DNS_RD | (cd ? DNS_CD : 0)));
	dns_wr16(p + 4, 1);
	dns_wr16(p + 6, 0);
	dns_wr16(p + 8, 0);
	dns_wr16(p + 10, edns ? 1 : 0);
	memcpy(p + 12, qname, qlen);
	c->qlen = 12 + qlen;
	dns_wr16(p + c->qlen, qtype);
	dns_wr16(p + c->qlen + 2, qclass);
	c->qlen += 4;
	if (edns) {
		p += c->qlen;
		p[0] = 0;			/* root owner */
		dns_wr16(p + 1, DNS_T_OPT);
		dns_wr16(p + 3, edns);
		dns_wr32(p + 5, dnssec ? DNS_EDNS_DO : 0);
		dns_wr16(p + 9, 0);
		c->qlen += 11;
	}
	if (stream)
		c->max_len = 65535;
	else
		c->max_len = edns > DNS_MAX_UDP_NOEDNS ? edns :
		    DNS_MAX_UDP_NOEDNS;
}

static void
submit(struct resolver *r, struct client *c, bool stream)
{
	struct sockaddr_in sin;
	struct res_client rc;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(40000);
	rc.addr = (struct sockaddr *)&sin;
	rc.addrlen = sizeof(sin);
	rc.stream = stream;
	rc.encrypted = false;
	c->req = res_submit(r, c->q, c->qlen, &rc, done_cb, c);
	/* answered at once, or a handle: never both, never neither */
	CHECK((c->req == NULL) == c->answered);
}

/*
 * Turn the loop and the fake upstream until the clients are answered
 * and nothing moved in the last round, or nothing moved for IDLE_MAX
 * rounds (an answer that did not match: forward.c waits for its timer,
 * which we do not wait for).  Before giving up, one round waits up to a
 * millisecond for the resolver's sockets, in case loopback was slow to
 * hand data over on a loaded machine.
 */
static void
spin(struct client **cs, int n)
{
	struct timeval tick = { 0, 1000 };
	int i, idle = 0, round;
	bool all, waited = false;

	for (round = 0; round < ROUNDS; round++) {
		int before = run.activity;

		if (idle < IDLE_MAX) {
			event_base_loop(env.base, EVLOOP_NONBLOCK);
		} else {
			event_base_loopexit(env.base, &tick);
			event_base_loop(env.base, EVLOOP_ONCE);
			waited = true;
		}
		fake_poll();
		for (all = true, i = 0; i < n; i++)
			if (!cs[i]->answered)
				all = false;
		idle = run.activity == before ? idle + 1 : 0;
		if (all && idle > 0)
			break;
		if (idle > IDLE_MAX && waited)
			break;
		if (idle == 0)
			waited = false;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct client c1, c2, c3;
	struct client *cs[2];
	struct resolver *r;
	const uint8_t *qname = (const uint8_t *)"\7example\3com";
	size_t qlen = 13, ulen;
	uint16_t qtype = DNS_T_A, qclass = DNS_C_IN, edns;
	bool stream, dnssec, cd;
	int n = 1;

	if (size < 4 || size > 65536)
		return 0;
	env_init();
	memset(&run, 0, sizeof(run));
	run.flags = data[0];
	ulen = dns_rd16(data + 2);
	if (ulen > size - 4)
		ulen = size - 4;
	run.udp_ans = data + 4;
	run.udp_len = ulen;
	run.tcp_ans = data + 4 + ulen;
	run.tcp_len = size - 4 - ulen;

	/* the question of the answer, if it has a plain one */
	if ((run.flags & 2) && ulen > DNS_HDR_LEN) {
		size_t nl = dns_name_len(run.udp_ans + DNS_HDR_LEN,
		    ulen - DNS_HDR_LEN);

		if (nl > 0 && DNS_HDR_LEN + nl + 4 <= ulen) {
			qname = run.udp_ans + DNS_HDR_LEN;
			qlen = nl;
			qtype = dns_rd16(qname + nl);
			qclass = dns_rd16(qname + nl + 2);
		}
	}
	dnssec = run.flags & 4;
	cd = run.flags & 64;
	stream = run.flags & 128;
	edns = (data[1] & 63) ? (uint16_t)(512 + (data[1] & 63) * 64) :
	    (dnssec ? 1232 : 0);
	run.t = data[1] >> 6 == 2 ? T_DOT : data[1] >> 6 == 3 ? T_DOH : T_DO53;

	r = res_new(env.sh[run.t], env.base, env.cfg[run.t], NULL);
	if (r == NULL)
		return 0;
	client_query(&c1, 0x1234, qname, qlen, qtype, qclass, cd, dnssec,
	    edns, stream);
	cs[0] = &c1;
	submit(r, &c1, stream);
	if (run.flags & 8) {
		client_query(&c2, 0x4321, qname, qlen, qtype, qclass, cd,
		    false, 0, false);
		cs[n++] = &c2;
		submit(r, &c2, false);
	}
	spin(cs, n);
	check_answer(&c1);
	if (n > 1)
		check_answer(&c2);

	if ((run.flags & 32) && c1.answered && c1.got) {
		/* again: from the cache when it was stored */
		client_query(&c3, 0x5678, qname, qlen, qtype, qclass, cd,
		    dnssec, edns, stream);
		submit(r, &c3, stream);
		if (c3.answered)
			check_answer(&c3);
	}
	/* whoever is still waiting is cancelled: no callback after */
	if (c1.req != NULL)
		res_cancel(c1.req);
	if (n > 1 && c2.req != NULL)
		res_cancel(c2.req);
	if (c3.req != NULL)
		res_cancel(c3.req);
	c3.req = NULL;
	c3.answered = false;
	res_free(r);
	fake_reset();
	/* the flush removes what a dump lists; then nothing is left */
	{
		struct res_shared *sh = env.sh[run.t];
		size_t dumped = res_shared_cache_dump(sh, env.devnull);

		CHECK(res_shared_flush(sh, NULL, 0, 0, false) == dumped);
		CHECK(res_shared_cache_dump(sh, env.devnull) == 0);
	}
	return 0;
}

#define FUZZ_INPUT_MAX (70000)
#include "testdata/fuzz/standalone.h"
