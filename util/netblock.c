/*
 * util/netblock.c - netblocks, longest-prefix lookup, access-control.
 *
 * A set is a plain array.  netblock_finish() sorts it by prefix length,
 * longest first, so the first entry that contains an address is the most
 * specific one; lookups scan it (access-control lists are short).  IPv4
 * blocks written as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n) are stored as
 * IPv4, and mapped client addresses are looked up as IPv4, so one entry
 * covers both forms.  Host bits after the prefix are cleared.
 *
 * After netblock_finish() a set is read-only (except each entry's atomic
 * 'count', which tcp-connection-limit users update) and may be shared by
 * threads.  This file does not open sockets and does not log.
 */
#include <config.h>

#include "util/netblock.h"
#include "util/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const unsigned char mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static void
mask_host_bits(unsigned char addr[16], int len, int prefix)
{
	int i;

	for (i = 0; i < len; i++) {
		int bits = prefix - i * 8;
		if (bits >= 8)
			continue;
		addr[i] &= bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
	}
}

int
netblock_parse(const char *s, int *family, unsigned char addr[16],
    int *prefix)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max, p;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		max = 128;
	} else
		return -1;
	if (slash) {
		const char *d = slash + 1;
		if (*d == '\0' || strlen(d) > 3)
			return -1;
		for (p = 0; *d; d++) {
			if (!isdigit((unsigned char)*d))
				return -1;
			p = p * 10 + (*d - '0');
		}
		if (p > max)
			return -1;
	} else
		p = max;
	/* an IPv4-mapped block is an IPv4 block */
	if (*family == AF_INET6 && p >= 96 &&
	    memcmp(addr, mapped_prefix, 12) == 0) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
		p -= 96;
		max = 32;
	}
	mask_host_bits(addr, max / 8, p);
	*prefix = p;
	return 0;
}

int
netblock_add(struct netblock_set *set, const char *block, long value)
{
	struct netblock_entry e, *v;
	size_t i;

	memset(&e, 0, sizeof(e));
	if (netblock_parse(block, &e.family, e.addr, &e.prefix) < 0)
		return -1;
	e.value = value;
	for (i = 0; i < set->n; i++) {
		v = &set->v[i];
		if (v->family == e.family && v->prefix == e.prefix &&
		    memcmp(v->addr, e.addr, 16) == 0) {
			v->value = value;
			return 0;
		}
	}
	v = realloc(set->v, (set->n + 1) * sizeof(*v));
	if (!v)
		return -1;
	set->v = v;
	set->v[set->n++] = e;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct netblock_entry *x = a, *y = b;

	if (x->prefix != y->prefix)
		return x->prefix > y->prefix ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

void
netblock_finish(struct netblock_set *set)
{
	if (set->n > 1)
		qsort(set->v, set->n, sizeof(*set->v), entry_cmp);
}

void
netblock_clear(struct netblock_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

/* Does the first 'prefix' bits of a and b agree? */
static bool
prefix_match(const unsigned char *a, const unsigned char *b, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

struct netblock_entry *
netblock_lookup(const struct netblock_set *set, const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family;
	size_t i;

	if (!sa)
		return NULL;
	memset(addr, 0, sizeof(addr));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(addr, &in->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;
		if (memcmp(&in6->sin6_addr, mapped_prefix, 12) == 0) {
			memcpy(addr, (const unsigned char *)&in6->sin6_addr +
			    12, 4);
			family = AF_INET;
		} else {
			memcpy(addr, &in6->sin6_addr, 16);
			family = AF_INET6;
		}
	} else
		return NULL;
	for (i = 0; i < set->n; i++) {
		struct netblock_entry *e = &set->v[i];
		if (e->family == family && prefix_match(e->addr, addr,
		    e->prefix))
			return e;
	}
	return NULL;
}

/* ------------------------------------------------------------ acl */

static const struct {
	const char *name;
	enum acl_action action;
} acl_names[] = {
	{ "deny", ACL_DENY },
	{ "refuse", ACL_REFUSE },
	{ "allow", ACL_ALLOW },
	{ "allow_snoop", ACL_ALLOW_SNOOP },
	{ "deny_non_local", ACL_DENY_NON_LOCAL },
	{ "refuse_non_local", ACL_REFUSE_NON_LOCAL },
	/* Unbound's variants of allow that cairn treats as allow */
	{ "allow_setrd", ACL_ALLOW },
	{ "allow_cookie", ACL_ALLOW },
};

int
acl_action_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(acl_names) / sizeof(acl_names[0]); i++)
		if (strcasecmp(s, acl_names[i].name) == 0)
			return (int)acl_names[i].action;
	return -1;
}

const char *
acl_action_name(int action)
{
	size_t i;

	/* the first name of an action is its canonical one */
	for (i = 0; i < sizeof(acl_names) / sizeof(acl_names[0]); i++)
		if ((int)acl_names[i].action == action)
			return acl_names[i].name;
	return "unknown";
}

int
acl_build(struct netblock_set *set, const struct config *cfg)
{
	static const struct {
		const char *block;
		enum acl_action action;
	} defaults[] = {
		{ "0.0.0.0/0", ACL_REFUSE },
		{ "::/0", ACL_REFUSE },
		{ "127.0.0.0/8", ACL_ALLOW },
		{ "::1", ACL_ALLOW },
		/*
		 * Unbound also allows ::ffff:127.0.0.1.  Here mapped
		 * clients are looked up as IPv4, so 127.0.0.0/8 already
		 * covers it; adding it (as 127.0.0.1/32) would wrongly
		 * outrank a configured "127.0.0.0/8 deny".
		 */
	};
	const struct cfg_str2list *a;
	size_t i;

	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (netblock_add(set, defaults[i].block,
		    defaults[i].action) < 0)
			goto fail;
	for (a = cfg ? cfg->access_controls : NULL; a; a = a->next) {
		int act = acl_action_parse(a->str2);
		if (act < 0 || netblock_add(set, a->str, act) < 0)
			goto fail;
	}
	netblock_finish(set);
	return 0;
fail:
	netblock_clear(set);
	return -1;
}

enum acl_action
acl_lookup(const struct netblock_set *set, const struct sockaddr *sa)
{
	const struct netblock_entry *e = netblock_lookup(set, sa);

	return e ? (enum acl_action)e->value : ACL_REFUSE;
}
