/*
 * dns/base64url.h - base64url (RFC 4648 section 5) for DoH's ?dns=.
 */
#ifndef CAIRN_DNS_BASE64URL_H
#define CAIRN_DNS_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to decode 'inlen' characters (an upper bound). */
#define BASE64URL_DECODED_MAX(inlen) (((inlen) / 4) * 3 + 3)

/*
 * Decode base64url; padding '=' at the end is accepted, other characters
 * ('+', '/', spaces, '=' inside) are errors.  Returns the decoded length
 * or -1 when the input is invalid or 'cap' too small.
 */
long base64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);
/* Encode without padding; returns length written (cap must hold it and a
 * NUL), or -1. */
long base64url_encode(const uint8_t *in, size_t inlen, char *out, size_t cap);

#endif
