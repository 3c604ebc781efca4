/*
 * util/netblock.h - longest-prefix match of IPv4/IPv6 netblocks to a value.
 *
 * Used for access-control (value = enum acl_action) and
 * tcp-connection-limit (value = limit, with a shared atomic counter per
 * entry).  Built once at start-up or reload, read-only afterwards and
 * safe to use from every worker thread.
 */
#ifndef CAIRN_UTIL_NETBLOCK_H
#define CAIRN_UTIL_NETBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum acl_action {
	ACL_DENY = 0,		/* drop the query / close the connection */
	ACL_REFUSE,		/* answer REFUSED */
	ACL_ALLOW,		/* recursive access; RD=0 only to local data */
	ACL_ALLOW_SNOOP,	/* also non-recursive access to the cache */
	ACL_DENY_NON_LOCAL,	/* only local data, else drop */
	ACL_REFUSE_NON_LOCAL	/* only local data, else REFUSED */
};

struct netblock_entry {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
	long value;		/* acl action or connection limit */
	long count;		/* tcp-connection-limit: open connections (atomic) */
};

struct netblock_set {
	struct netblock_entry *v;	/* sorted so lookup finds the longest */
	size_t n;
};

/*
 * Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (full prefix).
 * Returns 0 or -1.
 */
int netblock_parse(const char *s, int *family, unsigned char addr[16],
    int *prefix);
/* Add one block; a later add of the same block replaces the value. */
int netblock_add(struct netblock_set *set, const char *block, long value);
/* Sort for lookup; call once after the last add. */
void netblock_finish(struct netblock_set *set);
void netblock_clear(struct netblock_set *set);
/* The most specific entry containing 'sa', or NULL. IPv4-mapped IPv6 is
 * matched as IPv4. */
struct netblock_entry *netblock_lookup(const struct netblock_set *set,
    const struct sockaddr *sa);

/* "allow", "deny", ... to the action; -1 if unknown. */
int acl_action_parse(const char *s);
const char *acl_action_name(int action);

/*
 * The access-control table: Unbound's defaults (allow 127.0.0.0/8, ::1,
 * ::ffff:127.0.0.1; refuse 0.0.0.0/0 and ::0/0) then the configured
 * entries.  Returns 0 or -1 on a bad entry (config was checked before).
 */
struct config;
int acl_build(struct netblock_set *set, const struct config *cfg);
/* The action for a client address. */
enum acl_action acl_lookup(const struct netblock_set *set,
    const struct sockaddr *sa);

#endif
