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

/* value of each base64url character; -1 for every other byte */
static const int8_t dec_tab[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

long
base64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t i = 0, n = 0, len = inlen, npad = 0;
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
	/* four characters, three bytes at a time (one invalid character
	 * makes the OR of the four values negative) */
	for (; i + 4 <= len; i += 4) {
		int32_t a = dec_tab[u[i]], b = dec_tab[u[i + 1]];
		int32_t c = dec_tab[u[i + 2]], d = dec_tab[u[i + 3]];
		uint32_t v;

		if ((a | b | c | d) < 0 || n + 3 > cap)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
		    (uint32_t)d;
		out[n] = (uint8_t)(v >> 16);
		out[n + 1] = (uint8_t)(v >> 8);
		out[n + 2] = (uint8_t)v;
		n += 3;
	}
	for (; i < len; i++) {
		int v = dec_tab[u[i]];

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
