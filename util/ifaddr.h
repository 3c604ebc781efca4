/*
 * util/ifaddr.h - the addresses of a network interface given by its
 * name ("interface: eth0", as Unbound takes it): every IPv4 and IPv6
 * address getifaddrs() lists for exactly that name, at the time of the
 * call (start-up, or a reload whose interface lines changed).
 */
#ifndef CAIRN_UTIL_IFADDR_H
#define CAIRN_UTIL_IFADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/* At most this many addresses an interface (more: E2BIG). */
#define IFADDR_MAX 64

/*
 * Is 's' written as an interface name rather than an address: 1 to
 * IFNAMSIZ - 1 characters, printable, none of '/', '@', ':' nor a space
 * (what Linux allows), and not "." or ".."?  Whether the interface exists
 * is ifaddr_get's question.
 */
bool ifaddr_name_ok(const char *s);

/*
 * The IPv4 and IPv6 addresses of interface 'name', with 'port', into
 * out[0..max-1] (IPv6 link-local ones with their scope id) and their
 * lengths into lens[], in getifaddrs() order.  Returns how many (0: the
 * interface has none), or -1 with errno ENODEV (no such interface),
 * E2BIG (more than max) or getifaddrs()'s error.
 */
int ifaddr_get(const char *name, int port, struct sockaddr_storage *out,
    socklen_t *lens, int max);

#endif
