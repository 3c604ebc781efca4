/*
 * comm/tls.c - TLS for stream connections: the server SSL_CTX built from
 * the tls-* options (certificate chain, key, ciphers, session ticket
 * keys), ALPN selection against a listener's comm_alpn list, and the
 * nonblocking handshake/read/write/shutdown steps tcp.c drives.
 *
 * The conn is stored in its SSL with SSL_set_app_data so the ALPN
 * callback sees the listener's protocol list.  It does not schedule
 * events or buffer output (tcp.c does).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "comm/comm_int.h"
#include "util/config.h"
#include "util/log.h"

/* tls-session-ticket-keys: Unbound's 80-byte key files. */
#define TICKET_KEY_FILE_LEN 80
struct ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};
struct ticket_keys {
	size_t n;		/* the first one encrypts */
	struct ticket_key k[];
};

static int ticket_ex_idx = -1;

/* OpenSSL's reason for the earliest queued error, then clear the queue.
 * Returns true when a key/certificate mismatch was among the errors. */
static bool
ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error(), more;
	bool mismatch = false;
	const char *r;
	int i;

	if (e == 0) {
		snprintf(buf, len, "unknown error");
		return false;
	}
	r = ERR_reason_error_string(e);
	if (r != NULL)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len);
	for (more = e, i = 0; more != 0 && i < 32; more = ERR_get_error(), i++)
		if (ERR_GET_LIB(more) == ERR_LIB_X509 &&
		    (ERR_GET_REASON(more) == X509_R_KEY_VALUES_MISMATCH ||
		    ERR_GET_REASON(more) == X509_R_KEY_TYPE_MISMATCH))
			mismatch = true;
	ERR_clear_error();
	return mismatch;
}

static int
alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct comm_conn *c = SSL_get_app_data(ssl);
	const struct comm_alpn *a;

	(void)arg;
	if (c == NULL || c->lst->spec->alpn == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	/* server preference order: first of ours the client offers */
	for (a = c->lst->spec->alpn; a->name != NULL; a++) {
		size_t nl = strlen(a->name);
		unsigned int i = 0;

		while (i < inlen) {
			unsigned int l = in[i];

			if (i + 1 + l > inlen)
				break;	/* malformed list: stop here */
			if (l == nl && memcmp(in + i + 1, a->name, l) == 0) {
				*out = in + i + 1;
				*outlen = (unsigned char)l;
				c->proto = a->proto;
				return SSL_TLSEXT_ERR_OK;
			}
			i += 1 + l;
		}
	}
	verbose(VERB_QUERY, "comm: %s: no ALPN protocol in common",
	    c->peerstr);
	/* fatal: OpenSSL sends the no_application_protocol alert */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int
ticket_key_cb(SSL *ssl, unsigned char key_name[16],
    unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_keys *tk = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    ticket_ex_idx);
	const struct ticket_key *k = NULL;
	OSSL_PARAM params[3];
	size_t i;

	if (tk == NULL || tk->n == 0)
		return -1;
	if (enc) {
		k = &tk->k[0];
		memcpy(key_name, k->name, 16);
		if (RAND_bytes(iv, 16) != 1)
			return -1;
		if (EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes,
		    iv) != 1)
			return -1;
	} else {
		for (i = 0; i < tk->n; i++)
			if (memcmp(key_name, tk->k[i].name, 16) == 0) {
				k = &tk->k[i];
				break;
			}
		if (k == NULL)
			return 0;	/* unknown key: full handshake */
		if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes,
		    iv) != 1)
			return -1;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, sizeof(k->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	/* decrypted with an older key: issue a new ticket */
	return (!enc && k != &tk->k[0]) ? 2 : 1;
}

static void
ticket_keys_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL) {
		OPENSSL_cleanse(ptr, sizeof(struct ticket_keys) +
		    ((struct ticket_keys *)ptr)->n * sizeof(struct ticket_key));
		free(ptr);
	}
}

static int
ticket_keys_load(SSL_CTX *ctx, const struct config *cfg, char *err,
    size_t errlen)
{
	const struct cfg_strlist *s;
	struct ticket_keys *tk;
	size_t n = 0;

	for (s = cfg->tls_session_ticket_keys; s != NULL; s = s->next)
		if (s->str != NULL && s->str[0] != 0)
			n++;
	if (n == 0)
		return 0;	/* OpenSSL's own random ticket keys */
	if (ticket_ex_idx < 0) {
		/* set up before the workers start (single-threaded) */
		ticket_ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    ticket_keys_free_cb);
		if (ticket_ex_idx < 0) {
			snprintf(err, errlen, "tls-session-ticket-keys: "
			    "out of memory");
			return -1;
		}
	}
	tk = calloc(1, sizeof(*tk) + n * sizeof(struct ticket_key));
	if (tk == NULL) {
		snprintf(err, errlen, "tls-session-ticket-keys: out of memory");
		return -1;
	}
	for (s = cfg->tls_session_ticket_keys; s != NULL; s = s->next) {
		unsigned char data[TICKET_KEY_FILE_LEN];
		struct ticket_key *k;
		FILE *f;
		size_t got;

		if (s->str == NULL || s->str[0] == 0)
			continue;
		f = fopen(s->str, "rb");
		if (f == NULL) {
			snprintf(err, errlen, "tls-session-ticket-keys %s: "
			    "could not read: %s", s->str, strerror(errno));
			goto fail;
		}
		got = fread(data, 1, sizeof(data), f);
		fclose(f);
		if (got != sizeof(data)) {
			snprintf(err, errlen, "tls-session-ticket-keys %s: "
			    "the file must hold %d bytes of random data",
			    s->str, TICKET_KEY_FILE_LEN);
			goto fail;
		}
		k = &tk->k[tk->n++];
		memcpy(k->name, data, 16);
		memcpy(k->hmac, data + 16, 32);
		memcpy(k->aes, data + 48, 32);
		OPENSSL_cleanse(data, sizeof(data));
	}
	if (SSL_CTX_set_ex_data(ctx, ticket_ex_idx, tk) != 1) {
		snprintf(err, errlen, "tls-session-ticket-keys: out of memory");
		goto fail;
	}
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
	return 0;
fail:
	ticket_keys_free_cb(NULL, tk, NULL, 0, 0, NULL);
	return -1;
}

/*
 * The TLS server context from tls-service-pem (certificate chain),
 * tls-service-key, tls-ciphers (TLS 1.2), tls-ciphersuites (TLS 1.3)
 * and tls-session-ticket-keys; TLS 1.2 and newer; ALPN answered from
 * each listener's comm_alpn list.  Returns NULL with a sentence naming
 * the option, the file and OpenSSL's reason in 'err'.  Caller frees
 * with comm_tls_ctx_free (after every base using it is freed).
 */
SSL_CTX *
comm_tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	const char *pem = cfg->tls_service_pem, *key = cfg->tls_service_key;
	char why[256];
	SSL_CTX *ctx;

	ERR_clear_error();
	if (pem == NULL || pem[0] == 0) {
		snprintf(err, errlen, "tls-service-pem is not set: a "
		    "certificate is needed for TLS service");
		return NULL;
	}
	if (key == NULL || key[0] == 0) {
		snprintf(err, errlen, "tls-service-key is not set: a private "
		    "key is needed for TLS service");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "could not create a TLS context: %s",
		    why);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto ssl_fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* one read() takes every record that is there, instead of one
	 * read() for a record's header and one for its body */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, pem) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls-service-pem %s: could not read: %s",
		    pem, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ssl_reason(why, sizeof(why))) {
			/* OpenSSL checks the pair while loading the key */
			snprintf(err, errlen, "tls-service-key %s: key does not "
			    "match certificate %s: %s", key, pem, why);
			goto fail;
		}
		snprintf(err, errlen, "tls-service-key %s: could not read: %s",
		    key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls-service-key %s: key does not match "
		    "certificate %s: %s", key, pem, why);
		goto fail;
	}
	if (cfg->tls_ciphers != NULL && cfg->tls_ciphers[0] != 0 &&
	    SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls-ciphers \"%s\": %s",
		    cfg->tls_ciphers, why);
		goto fail;
	}
	if (cfg->tls_ciphersuites != NULL && cfg->tls_ciphersuites[0] != 0 &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls-ciphersuites \"%s\": %s",
		    cfg->tls_ciphersuites, why);
		goto fail;
	}
	if (ticket_keys_load(ctx, cfg, err, errlen) < 0)
		goto fail;
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, NULL);
	return ctx;
ssl_fail:
	ssl_reason(why, sizeof(why));
	snprintf(err, errlen, "could not set up the TLS context: %s", why);
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
comm_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

int
comm_tls_conn_new(struct comm_conn *c, SSL_CTX *ctx)
{
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL) {
		ERR_clear_error();
		return -ENOMEM;
	}
	SSL_set_app_data(c->ssl, c);
	SSL_set_accept_state(c->ssl);
	if (SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -ENOMEM;
	}
	return 0;
}

void
comm_tls_free(struct comm_conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
}

/* Log a TLS failure caused by the peer (VERB_QUERY: client-caused). */
static void
tls_log_fail(struct comm_conn *c, const char *what, int e)
{
	char why[256];

	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (errno != 0)
			verbose(VERB_QUERY, "comm: TLS %s %s: %s", what,
			    c->peerstr, strerror(errno));
		ERR_clear_error();
		return;
	}
	ssl_reason(why, sizeof(why));
	verbose(VERB_QUERY, "comm: TLS %s %s: %s", what, c->peerstr, why);
}

int
comm_tls_handshake(struct comm_conn *c)
{
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1)
		return 1;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE)
		return 2;
	tls_log_fail(c, "handshake with", e);
	return -1;
}

/*
 * SSL_get_error needs the thread's error queue empty before the call.
 * ERR_clear_error wipes all 16 slots every time (about 600 instructions
 * in OpenSSL 3.0, two or three times per query); the queue is nearly
 * always empty already.
 */
static void
err_queue_empty(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

ssize_t
comm_tls_read(struct comm_conn *c, uint8_t *buf, size_t len)
{
	int n, e;

	err_queue_empty();
	errno = 0;
	n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->ssl_read_wants_write = true;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -2;
	default:
		tls_log_fail(c, "read from", e);
		return -1;
	}
}

ssize_t
comm_tls_write(struct comm_conn *c, const uint8_t *buf, size_t len)
{
	int n, e;

	err_queue_empty();
	errno = 0;
	n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_WANT_READ:
		c->ssl_write_wants_read = true;
		return 0;
	default:
		tls_log_fail(c, "write to", e);
		return -1;
	}
}

bool
comm_conn_tls_resumed(const struct comm_conn *c)
{
	return c->ssl != NULL && !c->handshaking &&
	    SSL_session_reused(c->ssl) == 1;
}

bool
comm_tls_pending(const struct comm_conn *c)
{
	return SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl);
}

/* One try at close_notify; a peer that is gone or slow is not waited
 * for. */
void
comm_tls_shutdown(struct comm_conn *c)
{
	ERR_clear_error();
	if (!SSL_in_init(c->ssl))
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}
