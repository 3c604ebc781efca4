/*
 * resolver/upstream_tls.c - TLS client connections to upstreams and DNS
 * over TLS on them (see upstream.h); HTTP/2 framing is in upstream_h2.c.
 *
 * This file does not choose upstreams, time queries out or retry: the
 * caller (forward.c) does.
 */
#include "config.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "resolver/upstream.h"
#include "resolver/upstream_int.h"
#include "util/log.h"

void *
ups_tls_ctx_new(const char *bundle)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		log_err("upstream TLS: SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (bundle != NULL && bundle[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, bundle, NULL) != 1) {
			log_err("upstream TLS: cannot load tls-cert-bundle %s",
			    bundle);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		log_err("upstream TLS: cannot load the system certificates");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
ups_tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}
