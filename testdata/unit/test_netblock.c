/*
 * testdata/unit/test_netblock.c - unit tests for util/netblock.c:
 * parsing, longest-prefix lookup for IPv4, IPv6 and IPv4-mapped IPv6,
 * and the access-control table with Unbound's defaults.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "util/config.h"
#include "util/netblock.h"

/* A sockaddr for a textual address (static storage). */
static const struct sockaddr *
sa(const char *s)
{
	static struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &in->sin_addr), 1);
	}
	return (const struct sockaddr *)&ss;
}

static void
test_parse(void **state)
{
	int family, prefix;
	unsigned char a[16];
	static const unsigned char v4[16] = { 192, 0, 2, 0 };

	assert_int_equal(netblock_parse("192.0.2.0/24", &family, a, &prefix),
	    0);
	assert_int_equal(family, AF_INET);
	assert_int_equal(prefix, 24);
	assert_memory_equal(a, v4, 16);
	/* host bits are cleared */
	assert_int_equal(netblock_parse("192.0.2.77/24", &family, a, &prefix),
	    0);
	assert_memory_equal(a, v4, 16);
	assert_int_equal(netblock_parse("10.1.2.3", &family, a, &prefix), 0);
	assert_int_equal(prefix, 32);
	assert_int_equal(netblock_parse("2001:db8::/32", &family, a, &prefix),
	    0);
	assert_int_equal(family, AF_INET6);
	assert_int_equal(prefix, 32);
	assert_int_equal(netblock_parse("::1", &family, a, &prefix), 0);
	assert_int_equal(prefix, 128);
	assert_int_equal(netblock_parse("::/0", &family, a, &prefix), 0);
	assert_int_equal(prefix, 0);
	/* IPv4-mapped becomes IPv4 */
	assert_int_equal(netblock_parse("::ffff:192.0.2.0/120", &family, a,
	    &prefix), 0);
	assert_int_equal(family, AF_INET);
	assert_int_equal(prefix, 24);
	assert_memory_equal(a, v4, 16);

	assert_int_equal(netblock_parse("192.0.2.0/33", &family, a, &prefix),
	    -1);
	assert_int_equal(netblock_parse("2001:db8::/129", &family, a,
	    &prefix), -1);
	assert_int_equal(netblock_parse("192.0.2.0/", &family, a, &prefix),
	    -1);
	assert_int_equal(netblock_parse("192.0.2.0/x", &family, a, &prefix),
	    -1);
	assert_int_equal(netblock_parse("example.com", &family, a, &prefix),
	    -1);
	assert_int_equal(netblock_parse("", &family, a, &prefix), -1);
	assert_int_equal(netblock_parse("/8", &family, a, &prefix), -1);
}

static void
test_lookup(void **state)
{
	struct netblock_set set = { NULL, 0 };
	struct netblock_entry *e;

	assert_int_equal(netblock_add(&set, "0.0.0.0/0", 1), 0);
	assert_int_equal(netblock_add(&set, "10.0.0.0/8", 2), 0);
	assert_int_equal(netblock_add(&set, "10.1.0.0/16", 3), 0);
	assert_int_equal(netblock_add(&set, "10.1.2.3", 4), 0);
	assert_int_equal(netblock_add(&set, "10.1.2.0/23", 5), 0);
	assert_int_equal(netblock_add(&set, "2001:db8::/32", 6), 0);
	assert_int_equal(netblock_add(&set, "2001:db8:1::/48", 7), 0);
	assert_int_equal(netblock_add(&set, "bad", 8), -1);
	/* the same block again replaces its value */
	assert_int_equal(netblock_add(&set, "10.0.0.0/8", 9), 0);
	assert_int_equal(set.n, 7);
	netblock_finish(&set);

	assert_int_equal(netblock_lookup(&set, sa("192.0.2.1"))->value, 1);
	assert_int_equal(netblock_lookup(&set, sa("10.200.0.1"))->value, 9);
	assert_int_equal(netblock_lookup(&set, sa("10.1.200.1"))->value, 3);
	assert_int_equal(netblock_lookup(&set, sa("10.1.2.3"))->value, 4);
	assert_int_equal(netblock_lookup(&set, sa("10.1.3.255"))->value, 5);
	assert_int_equal(netblock_lookup(&set, sa("10.1.4.0"))->value, 3);
	/* mapped IPv6 is matched as IPv4 */
	assert_int_equal(netblock_lookup(&set, sa("::ffff:10.1.2.3"))->value,
	    4);
	assert_int_equal(netblock_lookup(&set, sa("::ffff:8.8.8.8"))->value,
	    1);
	assert_int_equal(netblock_lookup(&set, sa("2001:db8:1:2::1"))->value,
	    7);
	assert_int_equal(netblock_lookup(&set, sa("2001:db8:2::1"))->value,
	    6);
	/* no IPv6 default in this set */
	assert_null(netblock_lookup(&set, sa("2001:db9::1")));
	e = netblock_lookup(&set, sa("10.1.2.3"));
	assert_int_equal(e->prefix, 32);
	assert_int_equal(e->family, AF_INET);
	netblock_clear(&set);
	assert_int_equal(set.n, 0);
	assert_null(netblock_lookup(&set, sa("10.1.2.3")));
}

static void
test_actions(void **state)
{
	assert_int_equal(acl_action_parse("allow"), ACL_ALLOW);
	assert_int_equal(acl_action_parse("deny"), ACL_DENY);
	assert_int_equal(acl_action_parse("refuse"), ACL_REFUSE);
	assert_int_equal(acl_action_parse("allow_snoop"), ACL_ALLOW_SNOOP);
	assert_int_equal(acl_action_parse("deny_non_local"),
	    ACL_DENY_NON_LOCAL);
	assert_int_equal(acl_action_parse("refuse_non_local"),
	    ACL_REFUSE_NON_LOCAL);
	assert_int_equal(acl_action_parse("allow_setrd"), ACL_ALLOW);
	assert_int_equal(acl_action_parse("allow_cookie"), ACL_ALLOW);
	assert_int_equal(acl_action_parse("permit"), -1);
	assert_int_equal(acl_action_parse(""), -1);
	assert_string_equal(acl_action_name(ACL_ALLOW), "allow");
	assert_string_equal(acl_action_name(ACL_REFUSE_NON_LOCAL),
	    "refuse_non_local");
}

static void
test_acl_build(void **state)
{
	struct netblock_set set = { NULL, 0 };
	struct config *cfg = config_new();

	/* Unbound's defaults */
	assert_int_equal(acl_build(&set, cfg), 0);
	assert_int_equal(acl_lookup(&set, sa("127.0.0.1")), ACL_ALLOW);
	assert_int_equal(acl_lookup(&set, sa("127.9.9.9")), ACL_ALLOW);
	assert_int_equal(acl_lookup(&set, sa("::1")), ACL_ALLOW);
	assert_int_equal(acl_lookup(&set, sa("::ffff:127.0.0.1")), ACL_ALLOW);
	assert_int_equal(acl_lookup(&set, sa("192.0.2.1")), ACL_REFUSE);
	assert_int_equal(acl_lookup(&set, sa("2001:db8::1")), ACL_REFUSE);
	assert_int_equal(acl_lookup(&set, sa("::2")), ACL_REFUSE);
	netblock_clear(&set);

	/* configured entries override the defaults */
	assert_int_equal(config_set(cfg, "server", "access-control",
	    "127.0.0.0/8 deny", NULL, 0, NULL), 0);
	assert_int_equal(config_set(cfg, "server", "access-control",
	    "127.0.0.2 allow_snoop", NULL, 0, NULL), 0);
	assert_int_equal(config_set(cfg, "server", "access-control",
	    "0.0.0.0/0 allow", NULL, 0, NULL), 0);
	assert_int_equal(config_set(cfg, "server", "access-control",
	    "2001:db8::/32 refuse_non_local", NULL, 0, NULL), 0);
	assert_int_equal(acl_build(&set, cfg), 0);
	assert_int_equal(acl_lookup(&set, sa("127.0.0.1")), ACL_DENY);
	assert_int_equal(acl_lookup(&set, sa("127.0.0.2")), ACL_ALLOW_SNOOP);
	assert_int_equal(acl_lookup(&set, sa("::ffff:127.0.0.2")),
	    ACL_ALLOW_SNOOP);
	assert_int_equal(acl_lookup(&set, sa("192.0.2.1")), ACL_ALLOW);
	assert_int_equal(acl_lookup(&set, sa("::1")), ACL_ALLOW);
	assert_int_equal(acl_lookup(&set, sa("2001:db8::5")),
	    ACL_REFUSE_NON_LOCAL);
	assert_int_equal(acl_lookup(&set, sa("2001:db9::5")), ACL_REFUSE);
	netblock_clear(&set);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_acl_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
