/*
 * testdata/fuzz/fuzz_base64url.c - libFuzzer target for dns/base64url.c
 * and the length arithmetic of module/doh/request.c that sizes the GET
 * buffer from the length of ?dns= before decoding it.
 *
 * The input is taken as a base64url string (decoded with output buffers
 * of exactly the size claimed, one byte less and the upper bound) and
 * as bytes to encode (with every output size from too small to enough).
 * Each result is compared with a reference decoder written here the
 * plain way (alphabet lookup with strchr, padding rules spelled out),
 * and checked to round-trip.  A broken invariant is __builtin_trap;
 * buffers are malloc'ed at their exact size so ASan sees an overrun.
 *
 * Build: make fuzz (Makefile.am); run: make fuzz-run, or
 *   ./fuzz_base64url -dict=testdata/fuzz/base64url.dict \
 *     testdata/fuzz/corpus/base64url
 * -DFUZZ_STANDALONE adds a main() that runs the files named once each.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/base64url.h"
#include "module/doh/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)
#define MAX_IN		8192

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * The reference: RFC 4648 section 5 as dns/base64url.h promises it.
 * Returns the decoded length or -1; writes at most 'cap' bytes.
 */
static long
ref_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t pad = 0, body, i, n = 0;
	unsigned long group = 0;
	int got = 0;

	while (pad < len && in[len - 1 - pad] == '=')
		pad++;
	body = len - pad;
	if (pad > 2)
		return -1;
	if (pad > 0 && len % 4 != 0)
		return -1;		/* padding only to a full group */
	if (body % 4 == 1)
		return -1;
	for (i = 0; i < body; i++) {
		const char *p;

		if (in[i] == '\0' || (p = strchr(alphabet, in[i])) == NULL)
			return -1;
		group = group * 64 + (unsigned long)(p - alphabet);
		got++;
		if (got == 4) {
			if (n + 3 > cap)
				return -1;
			out[n++] = (uint8_t)(group >> 16);
			out[n++] = (uint8_t)(group >> 8);
			out[n++] = (uint8_t)group;
			group = 0;
			got = 0;
		}
	}
	if (got == 2) {
		if (n + 1 > cap)
			return -1;
		out[n++] = (uint8_t)(group >> 4);
	} else if (got == 3) {
		if (n + 2 > cap)
			return -1;
		out[n++] = (uint8_t)(group >> 10);
		out[n++] = (uint8_t)(group >> 2);
	}
	return (long)n;
}

/* Decode into a malloc'ed buffer of exactly 'cap' bytes. */
static long
decode_exact(const char *in, size_t len, size_t cap, uint8_t *copy)
{
	uint8_t *buf = malloc(cap > 0 ? cap : 1);
	long n;

	if (buf == NULL)
		return -2;
	n = base64url_decode(in, len, buf, cap);
	if (n > 0 && copy != NULL)
		memcpy(copy, buf, (size_t)n);
	free(buf);
	return n;
}

static void
fuzz_decode(const char *in, size_t len)
{
	static uint8_t got[MAX_IN], want[MAX_IN];
	size_t bound = BASE64URL_DECODED_MAX(len), unpadded = len;
	long n, r;

	r = ref_decode(in, len, want, sizeof(want));
	n = decode_exact(in, len, bound, got);
	if (n == -2)
		return;
	/* the same verdict and bytes as the reference */
	CHECK(n == r);
	if (n < 0)
		return;
	CHECK((size_t)n <= bound);
	CHECK(memcmp(got, want, (size_t)n) == 0);
	/* exactly n bytes of room is enough, one less is not */
	CHECK(decode_exact(in, len, (size_t)n, NULL) == n);
	if (n > 0)
		CHECK(decode_exact(in, len, (size_t)n - 1, NULL) == -1);
	/* request.c sizes the GET buffer from the unpadded length */
	while (unpadded > 0 && in[unpadded - 1] == '=')
		unpadded--;
	CHECK(doh_req_b64_decoded_len(unpadded) == (size_t)n);
	CHECK(unpadded <= doh_req_b64_max_len((size_t)n));
	/* what we decoded encodes to the unpadded input, up to the bits
	 * of a last character that do not make a byte */
	{
		char *enc = malloc(unpadded + 1);
		long e;

		if (enc == NULL)
			return;
		e = base64url_encode(got, (size_t)n, enc, unpadded + 1);
		CHECK(e == (long)unpadded);
		CHECK(enc[e] == '\0');
		if (unpadded > 0)
			CHECK(memcmp(enc, in, unpadded - 1) == 0);
		free(enc);
	}
}

static void
fuzz_encode(const uint8_t *in, size_t len)
{
	static uint8_t back[MAX_IN];
	size_t need = doh_req_b64_max_len(len), cap;
	char *enc;
	long e;

	/* too small by one (the NUL) and by a character or so: refused */
	for (cap = need > 3 ? need - 3 : 0; cap <= need; cap++) {
		enc = malloc(cap > 0 ? cap : 1);
		if (enc == NULL)
			return;
		CHECK(base64url_encode(in, len, enc, cap) == -1);
		free(enc);
	}
	enc = malloc(need + 1);
	if (enc == NULL)
		return;
	e = base64url_encode(in, len, enc, need + 1);
	CHECK(e == (long)need);
	CHECK(strlen(enc) == need);
	CHECK(strspn(enc, alphabet) == need);
	CHECK(doh_req_b64_decoded_len(need) == len);
	CHECK(base64url_decode(enc, need, back, sizeof(back)) == (long)len);
	CHECK(memcmp(back, in, len) == 0);
	CHECK(ref_decode(enc, need, back, sizeof(back)) == (long)len);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_IN / 2)
		return 0;
	fuzz_decode((const char *)data, size);
	fuzz_encode(data, size);
	return 0;
}

#define FUZZ_INPUT_MAX (MAX_IN)
#include "testdata/fuzz/standalone.h"
