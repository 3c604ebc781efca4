/*
 * bench/tls-floor.c - OpenSSL's floor for an idle TLS connection: the
 * heap bytes one server-side SSL keeps after a handshake and one small
 * record each way, with the SSL_CTX settings cairnd uses (comm/tls.c:
 * TLS 1.2 minimum, the same options and modes, read-ahead, ALPN "h2").
 *
 *     cc -O2 -o tls-floor bench/tls-floor.c -lssl -lcrypto
 *     ./tls-floor CERT.pem KEY.pem [N] [1.2|1.3]
 *
 * N (default 500) connections over socketpairs; each client SSL is freed
 * once its exchange is done, so what stays on the heap is the N server
 * SSLs (and the server session cache, if the version fills it).  Every
 * OpenSSL allocation goes through CRYPTO_set_mem_functions and is
 * counted (bytes asked for, and malloc_usable_size + 8, the glibc chunk
 * they take).  Printed per connection: the live bytes after the
 * exchange, after SSL_free_buffers, and with the session cache off.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static long long live_req, live_chunk, nallocs;

/* Every block carries the size asked for in front of it. */
#define HDR 16

static void *
cnt_malloc(size_t n, const char *f, int l)
{
	unsigned char *p;

	(void)f;
	(void)l;
	p = malloc(n + HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	live_req += (long long)n;
	live_chunk += (long long)malloc_usable_size(p) + 8;
	nallocs++;
	return p + HDR;
}

static void
cnt_free(void *q, const char *f, int l)
{
	unsigned char *p = q;
	size_t n;

	(void)f;
	(void)l;
	if (p == NULL)
		return;
	p -= HDR;
	memcpy(&n, p, sizeof(n));
	live_req -= (long long)n;
	live_chunk -= (long long)malloc_usable_size(p) + 8;
	nallocs--;
	free(p);
}

static void *
cnt_realloc(void *q, size_t n, const char *f, int l)
{
	unsigned char *p;
	size_t old;

	if (q == NULL)
		return cnt_malloc(n, f, l);
	p = (unsigned char *)q - HDR;
	memcpy(&old, p, sizeof(old));
	live_req -= (long long)old;
	live_chunk -= (long long)malloc_usable_size(p) + 8;
	p = realloc(p, n + HDR);
	if (p == NULL) {
		p = (unsigned char *)q - HDR;
		live_req += (long long)old;
		live_chunk += (long long)malloc_usable_size(p) + 8;
		return NULL;
	}
	memcpy(p, &n, sizeof(n));
	live_req += (long long)n;
	live_chunk += (long long)malloc_usable_size(p) + 8;
	return p + HDR;
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	if (inlen >= 3 && in[0] == 2 && memcmp(in + 1, "h2", 2) == 0) {
		*out = in + 1;
		*outlen = 2;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *
server_ctx(const char *pem, const char *key, int cache)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	/* as comm_tls_ctx_new */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (!cache)
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, pem) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	return ctx;
}

/* Drive both ends until the handshake is done and one record went each
 * way; the client is freed.  0 on success. */
static int
one_conn(SSL_CTX *sctx, SSL_CTX *cctx, SSL **out)
{
	int sv[2], i, sdone = 0, cdone = 0;
	unsigned char buf[512];
	SSL *s, *c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_alpn_protos(c, (const unsigned char *)"\2h2", 3);
	for (i = 0; i < 100 && !(sdone && cdone); i++) {
		if (!cdone)
			cdone = SSL_do_handshake(c) == 1;
		if (!sdone)
			sdone = SSL_do_handshake(s) == 1;
	}
	if (!sdone || !cdone)
		return -1;
	/* a request and an answer (the server sends its tickets first) */
	memset(buf, 'q', 100);
	if (SSL_write(c, buf, 100) != 100)
		return -1;
	for (i = 0; i < 100 && SSL_read(s, buf, sizeof(buf)) <= 0; i++)
		;
	if (SSL_write(s, buf, 100) != 100)
		return -1;
	for (i = 0; i < 100 && SSL_read(c, buf, sizeof(buf)) <= 0; i++)
		;
	SSL_free(c);
	close(sv[1]);
	*out = s;
	return 0;
}

static void
run(const char *pem, const char *key, int n, int ver, int cache)
{
	long long r0, c0, a0;
	SSL_CTX *sctx, *cctx;
	SSL **ss;
	int i;

	sctx = server_ctx(pem, key, cache);
	cctx = SSL_CTX_new(TLS_client_method());
	if (sctx == NULL || cctx == NULL)
		exit(1);
	SSL_CTX_set_min_proto_version(cctx, ver);
	SSL_CTX_set_max_proto_version(cctx, ver);
	ss = calloc((size_t)n, sizeof(*ss));
	/* warm: lazily built tables, fetched algorithms */
	for (i = 0; i < 20; i++) {
		SSL *s;

		if (one_conn(sctx, cctx, &s) != 0) {
			ERR_print_errors_fp(stderr);
			exit(1);
		}
		SSL_free(s);
	}
	SSL_CTX_flush_sessions(sctx, 0x7fffffff);
	if (ver == TLS1_3_VERSION && cache) {
		/* the SSL object alone, before any handshake */
		r0 = live_req;
		c0 = live_chunk;
		for (i = 0; i < n; i++)
			ss[i] = SSL_new(sctx);
		printf("SSL_new alone: %.0f B asked, %.0f B in malloc chunks\n",
		    (double)(live_req - r0) / n, (double)(live_chunk - c0) / n);
		for (i = 0; i < n; i++)
			SSL_free(ss[i]);
	}
	r0 = live_req;
	c0 = live_chunk;
	a0 = nallocs;
	for (i = 0; i < n; i++)
		if (one_conn(sctx, cctx, &ss[i]) != 0) {
			ERR_print_errors_fp(stderr);
			exit(1);
		}
	printf("TLS %s, session cache %s: per connection %.0f B asked, "
	    "%.0f B in malloc chunks, %.1f blocks",
	    ver == TLS1_3_VERSION ? "1.3" : "1.2", cache ? "on " : "off",
	    (double)(live_req - r0) / n, (double)(live_chunk - c0) / n,
	    (double)(nallocs - a0) / n);
	for (i = 0; i < n; i++)
		SSL_free_buffers(ss[i]);
	printf("; after SSL_free_buffers %.0f B asked, %.0f B chunks (%.2f "
	    "KiB)\n", (double)(live_req - r0) / n,
	    (double)(live_chunk - c0) / n,
	    (double)(live_chunk - c0) / n / 1024);
	for (i = 0; i < n; i++)
		SSL_free(ss[i]);
	free(ss);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

int
main(int argc, char **argv)
{
	int n;

	if (argc < 3) {
		fprintf(stderr, "usage: tls-floor CERT KEY [N]\n");
		return 2;
	}
	if (!CRYPTO_set_mem_functions(cnt_malloc, cnt_realloc, cnt_free)) {
		fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
		return 1;
	}
	n = argc > 3 ? atoi(argv[3]) : 500;
	if (n <= 0)
		n = 500;
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	run(argv[1], argv[2], n, TLS1_3_VERSION, 1);
	run(argv[1], argv[2], n, TLS1_3_VERSION, 0);
	run(argv[1], argv[2], n, TLS1_2_VERSION, 1);
	run(argv[1], argv[2], n, TLS1_2_VERSION, 0);
	return 0;
}
