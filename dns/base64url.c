/*
 * dns/base64url.c - base64url (RFC 4648 section 5) for DoH's ?dns=
 * parameter.  Decoding accepts the unpadded form RFC 8484 asks for and
 * also trailing '=' padding; anything else outside the URL-safe
 * alphabet is an error.  No allocation; the caller gives the buffer.
 */
#include "config.h"

#include "dns/base64url.h"

static const char enc_tab[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* value of a base64url character, or -1 */
static int
dec_char(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long
base64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	size_t i, n = 0, len = inlen, npad = 0;
	uint32_t acc = 0;
	int bits = 0;

	/* padding only at the end, at most two, and only to a multiple
	 * of four */
	while (len > 0 && in[len - 1] == '=') {
		len--;
		npad++;
	}
	if (npad > 2 || (npad > 0 && inlen % 4 != 0))
		return -1;
	if (len % 4 == 1)
		return -1;	/* 6 bits cannot make a byte */
	if (npad > 0 && (len % 4) + npad != 4)
		return -1;
	for (i = 0; i < len; i++) {
		int v = dec_char((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* non-zero bits left over are ignored (RFC 4648 3.5 allows both;
	 * being lenient costs nothing here) */
	return (long)n;
}

long
base64url_encode(const uint8_t *in, size_t inlen, char *out, size_t cap)
{
	size_t i, n = 0, need = (inlen / 3) * 4 + ((inlen % 3) ? inlen % 3 + 1
	    : 0);

	if (need + 1 > cap)
		return -1;
	for (i = 0; i + 2 < inlen; i += 3) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8)
		    | in[i + 2];

		out[n++] = enc_tab[(v >> 18) & 63];
		out[n++] = enc_tab[(v >> 12) & 63];
		out[n++] = enc_tab[(v >> 6) & 63];
		out[n++] = enc_tab[v & 63];
	}
	if (inlen - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[n++] = enc_tab[(v >> 18) & 63];
		out[n++] = enc_tab[(v >> 12) & 63];
	} else if (inlen - i == 2) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);

		out[n++] = enc_tab[(v >> 18) & 63];
		out[n++] = enc_tab[(v >> 12) & 63];
		out[n++] = enc_tab[(v >> 6) & 63];
	}
	out[n] = '\0';
	return (long)n;
}
