/*
 * testdata/unit/test_base64url.c - dns/base64url.c: RFC 4648 test
 * vectors in the URL-safe alphabet, padding accepted, bad input refused,
 * buffer limits, and a round trip over every byte value.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "dns/base64url.h"

static long
dec(const char *s, uint8_t *out, size_t cap)
{
	return base64url_decode(s, strlen(s), out, cap);
}

static void
test_rfc4648_vectors(void **st)
{
	/* RFC 4648 section 10, unpadded */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob",
	    "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
	    "Zm9vYmE", "Zm9vYmFy" };
	static const char *const padded[] = { "", "Zg==", "Zm8=", "Zm9v",
	    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char e[32];
	uint8_t d[32];
	size_t i;

	(void)st;
	for (i = 0; i < 7; i++) {
		long n = base64url_encode((const uint8_t *)plain[i],
		    strlen(plain[i]), e, sizeof(e));

		assert_int_equal(n, strlen(enc[i]));
		assert_string_equal(e, enc[i]);
		assert_int_equal(dec(enc[i], d, sizeof(d)), strlen(plain[i]));
		assert_memory_equal(d, plain[i], strlen(plain[i]));
		assert_int_equal(dec(padded[i], d, sizeof(d)),
		    strlen(plain[i]));
		assert_memory_equal(d, plain[i], strlen(plain[i]));
	}
}

static void
test_url_alphabet(void **st)
{
	static const uint8_t raw[] = { 0xfb, 0xff, 0xbf };
	char e[8];
	uint8_t d[8];

	(void)st;
	assert_int_equal(base64url_encode(raw, 3, e, sizeof(e)), 4);
	assert_string_equal(e, "-_-_");
	assert_int_equal(dec("-_-_", d, sizeof(d)), 3);
	assert_memory_equal(d, raw, 3);
	/* the standard alphabet's + and / are not base64url */
	assert_int_equal(dec("+/+/", d, sizeof(d)), -1);
	assert_int_equal(dec("ab/c", d, sizeof(d)), -1);
	assert_int_equal(dec("ab+c", d, sizeof(d)), -1);
}

static void
test_invalid(void **st)
{
	uint8_t d[64];

	(void)st;
	assert_int_equal(dec("Zm9v Yg", d, sizeof(d)), -1);
	assert_int_equal(dec("Zm9v\nYg", d, sizeof(d)), -1);
	assert_int_equal(dec(" Zm9v", d, sizeof(d)), -1);
	assert_int_equal(dec("Z", d, sizeof(d)), -1);		/* 1 mod 4 */
	assert_int_equal(dec("Zm9vY", d, sizeof(d)), -1);
	assert_int_equal(dec("Zm=v", d, sizeof(d)), -1);	/* '=' inside */
	assert_int_equal(dec("Zg=", d, sizeof(d)), -1);		/* short pad */
	assert_int_equal(dec("Zg===", d, sizeof(d)), -1);
	assert_int_equal(dec("Zm9v=", d, sizeof(d)), -1);
	assert_int_equal(dec("Zm9v====", d, sizeof(d)), -1);
	assert_int_equal(dec("=", d, sizeof(d)), -1);
	assert_int_equal(dec("Zm8==", d, sizeof(d)), -1);
	assert_int_equal(base64url_decode("Zm9v\0Yg", 7, d, sizeof(d)), -1);
	assert_int_equal(dec("Zm9v\x80", d, sizeof(d)), -1);
	/* every byte value at every place of whole groups and of the
	 * tail: accepted exactly when it is of the alphabet */
	{
		static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_";
		char in[16];
		unsigned v;
		size_t pos;

		for (v = 1; v < 256; v++)
			for (pos = 0; pos < 11; pos++) {
				memcpy(in, "QUJDREVGR0g", 11);	/* 11 chars */
				in[pos] = (char)v;
				if (strchr(ok, (int)v) != NULL)
					assert_true(base64url_decode(in, 11,
					    d, sizeof(d)) == 8);
				else
					assert_int_equal(base64url_decode(in,
					    11, d, sizeof(d)), -1);
			}
	}
}

static void
test_limits(void **st)
{
	uint8_t d[8];
	char e[8];

	(void)st;
	assert_int_equal(dec("Zm9vYmFy", d, 6), 6);
	assert_int_equal(dec("Zm9vYmFy", d, 5), -1);
	assert_int_equal(dec("Zm9vYmE", d, 5), 5);
	assert_int_equal(dec("Zm9vYmE", d, 4), -1);
	/* encode needs room for the NUL */
	assert_int_equal(base64url_encode((const uint8_t *)"foo", 3, e, 4),
	    -1);
	assert_int_equal(base64url_encode((const uint8_t *)"foo", 3, e, 5),
	    4);
	assert_true(BASE64URL_DECODED_MAX(8) >= 6);
	assert_true(BASE64URL_DECODED_MAX(7) >= 5);
}

static void
test_roundtrip(void **st)
{
	uint8_t raw[256], d[BASE64URL_DECODED_MAX(344)];
	char e[345];
	size_t len;

	(void)st;
	for (len = 0; len < 256; len++)
		raw[len] = (uint8_t)(255 - len);
	for (len = 0; len <= 256; len++) {
		long n = base64url_encode(raw, len, e, sizeof(e));

		assert_true(n >= 0);
		assert_int_equal(strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"), (size_t)n);
		assert_true(BASE64URL_DECODED_MAX((size_t)n) >= len);
		assert_int_equal(base64url_decode(e, (size_t)n, d, sizeof(d)),
		    len);
		assert_memory_equal(d, raw, len);
	}
}

int
main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(t, NULL, NULL);
}
