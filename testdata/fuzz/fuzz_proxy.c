/*
 * testdata/fuzz/fuzz_proxy.c - libFuzzer target for comm/proxy.c: the
 * input is the start of a stream (or a datagram) given to proxy_parse
 * with v1 and v2 allowed, with v2 only (UDP) and with v1 only.  It checks
 * with __builtin_trap what comm/tcp.c relies on:
 *   - a complete header is at most PROXY_MAX bytes (v1: PROXY_V1_MAX) and
 *     no longer than the input; a proxied source is AF_INET/AF_INET6
 *     with the matching length;
 *   - the answer depends on the header's bytes only: the header alone
 *     gives the same result, one byte less asks for more (so a reader
 *     that consumes "need more" bytes never swallows what follows);
 *   - "need more" means every byte belongs to the header (the input is
 *     shorter than PROXY_MAX) and one byte less asks for more too;
 *   - "invalid" stays invalid when more bytes come.
 *
 * Build (from the top of a configured tree, config.h in BUILDDIR):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -IBUILDDIR \
 *     testdata/fuzz/fuzz_proxy.c comm/proxy.c -o fuzz_proxy
 *   ./fuzz_proxy -max_total_time=60 testdata/fuzz/corpus/proxy
 * Without clang's fuzzer, -DFUZZ_STANDALONE adds a main() that runs the
 * files named on the command line once each (a corpus regression run).
 */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)

static void
check_one(const uint8_t *data, size_t size, unsigned versions)
{
	struct proxy_hdr h, h2;
	enum proxy_status r, r2;

	r = proxy_parse(data, size, versions, &h);
	switch (r) {
	case PROXY_DONE:
		CHECK(h.len > 0 && h.len <= size && h.len <= PROXY_MAX);
		CHECK(h.version == 1 || h.version == 2);
		CHECK(h.version != 1 || h.len <= PROXY_V1_MAX);
		CHECK(h.version != 2 || h.len >= PROXY_V2_HDR_LEN);
		if (!h.local) {
			CHECK((h.src.ss_family == AF_INET &&
			    h.srclen == sizeof(struct sockaddr_in)) ||
			    (h.src.ss_family == AF_INET6 &&
			    h.srclen == sizeof(struct sockaddr_in6)));
		}
		/* the same header alone: the same answer */
		r2 = proxy_parse(data, h.len, versions, &h2);
		CHECK(r2 == PROXY_DONE && h2.len == h.len &&
		    h2.local == h.local && h2.srclen == h.srclen &&
		    memcmp(&h2.src, &h.src, sizeof(h.src)) == 0);
		/* one byte less is not complete yet */
		r2 = proxy_parse(data, h.len - 1, versions, &h2);
		CHECK(r2 == PROXY_NEED_MORE);
		break;
	case PROXY_NEED_MORE:
		CHECK(size < PROXY_MAX);
		if (size > 0) {
			r2 = proxy_parse(data, size - 1, versions, &h2);
			CHECK(r2 == PROXY_NEED_MORE);
		}
		break;
	case PROXY_INVALID:
		CHECK(h.why != NULL);
		break;
	default:
		CHECK(0);
	}
	/* invalid at some length means invalid at every longer one */
	if (size > 1 && r != PROXY_INVALID) {
		r2 = proxy_parse(data, size / 2, versions, &h2);
		CHECK(r2 != PROXY_INVALID);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_one(data, size, PROXY_ALLOW_V1 | PROXY_ALLOW_V2);
	check_one(data, size, PROXY_ALLOW_V2);
	check_one(data, size, PROXY_ALLOW_V1);
	return 0;
}

#define FUZZ_INPUT_MAX (1 << 16)
#include "testdata/fuzz/standalone.h"
