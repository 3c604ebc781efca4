/*
 * testdata/fake_resolver.h - the resolver's answer accessors for test
 * programs that fake res_submit (unit tests and fuzz targets of the
 * client modules).  Include it once, in the file with the fake.
 *
 * A faked answer is never made from a cached message, so, as the real
 * resolver does for such an answer, the lowest TTL is the answer parsed.
 * It is not tailored (ECS) unless the including file defines
 * FAKE_RES_TAILORED(r) first.
 */
#ifndef CAIRN_TESTDATA_FAKE_RESOLVER_H
#define CAIRN_TESTDATA_FAKE_RESOLVER_H

#include "dns/wire.h"
#include "resolver/resolver.h"

#ifndef FAKE_RES_TAILORED
#define FAKE_RES_TAILORED(r) ((void)(r), false)
#endif

bool
res_answer_tailored(const struct resolver *r)
{
	return FAKE_RES_TAILORED(r);
}

int64_t
res_answer_min_ttl(const struct resolver *r, const uint8_t *ans, size_t len)
{
	(void)r;
	return dns_reply_min_ttl(ans, len);
}

#endif
