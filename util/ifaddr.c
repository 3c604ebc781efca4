/*
 * util/ifaddr.c - the addresses of a network interface by name (see
 * ifaddr.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include "util/ifaddr.h"

bool
ifaddr_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == '@' || c == ':')
			return false;
	}
	return true;
}

int
ifaddr_get(const char *name, int port, struct sockaddr_storage *out,
    socklen_t *lens, int max)
{
	struct ifaddrs *all, *a;
	int n = 0;

	if (if_nametoindex(name) == 0) {
		errno = ENODEV;
		return -1;
	}
	if (getifaddrs(&all) != 0)
		return -1;
	for (a = all; a != NULL; a = a->ifa_next) {
		int fam;

		if (a->ifa_addr == NULL || strcmp(a->ifa_name, name) != 0)
			continue;
		fam = a->ifa_addr->sa_family;
		if (fam != AF_INET && fam != AF_INET6)
			continue;
		if (n == max) {
			freeifaddrs(all);
			errno = E2BIG;
			return -1;
		}
		memset(&out[n], 0, sizeof(out[n]));
		if (fam == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n];

			memcpy(s4, a->ifa_addr, sizeof(*s4));
			s4->sin_port = htons((uint16_t)port);
			lens[n] = sizeof(*s4);
		} else {
			struct sockaddr_in6 *s6 =
			    (struct sockaddr_in6 *)&out[n];

			/* sin6_scope_id as listed: the interface, for
			 * link-local addresses */
			memcpy(s6, a->ifa_addr, sizeof(*s6));
			s6->sin6_port = htons((uint16_t)port);
			s6->sin6_flowinfo = 0;
			lens[n] = sizeof(*s6);
		}
		n++;
	}
	freeifaddrs(all);
	return n;
}
