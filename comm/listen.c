/*
 * comm/listen.c - open the listening sockets the config asks for
 * (interface, port, do-ip4/6, do-udp/tcp, tls-port, https-port,
 * so-reuseport, incoming-num-tcp) and close them; a port whose number
 * is a proxy-protocol-port is marked so (comm_port.proxy).
 *
 * Each socket is nonblocking and close-on-exec; IPv6 sockets are
 * IPV6_V6ONLY; stream sockets listen with a backlog of COMM_BACKLOG;
 * with ip-freebind, IP_FREEBIND (an address the host does not have yet
 * may be bound).
 * Without interface lines: 127.0.0.1 and ::1, or with
 * interface-automatic 0.0.0.0 and :: (udp.c answers each query there
 * from the address it was sent to).
 * Sockets systemd passed (LISTEN_FDS) are used for the addresses they
 * are bound to, as they are.
 * It does not serve the sockets (base.c, udp.c do).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm_int.h"
#include "util/config.h"
#include "util/ifaddr.h"
#include "util/log.h"

#define COMM_BACKLOG 256

/* "addr", "addr@port", "name" or "name@port": 0 with the address in
 * 'ss', 1 with an interface name in 'ifname' (IFNAMSIZ bytes) and the
 * port in '*portp', -1 if neither. */
static int
iface_parse(const char *s, int defport, struct sockaddr_storage *ss,
    socklen_t *len, char *ifname, int *portp)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *at = strrchr(s, '@');
	size_t alen = at != NULL ? (size_t)(at - s) : strlen(s);
	int port = defport;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = 0;
	if (at != NULL) {
		char *end;
		long p = strtol(at + 1, &end, 10);
		if (at[1] == 0 || *end != 0 || p <= 0 || p > 65535)
			return -1;
		port = (int)p;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	if (ifaddr_name_ok(buf)) {	/* shorter than IFNAMSIZ */
		memcpy(ifname, buf, alen + 1);
		*portp = port;
		return 1;
	}
	return -1;
}

static int
sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/*
 * so-rcvbuf / so-sndbuf on a UDP port: SO_RCVBUFFORCE (root, or
 * CAP_NET_ADMIN: past net.core.rmem_max) else SO_RCVBUF; what the kernel
 * granted is read back, and less than asked is said at verbosity 1 with
 * the way out, as Unbound does (Linux reports twice the size set).
 */
static void
port_bufsize(int fd, const char *name, size_t want, bool rcv)
{
	int v = want > INT_MAX / 2 ? INT_MAX / 2 : (int)want, got = 0;
	socklen_t len = sizeof(got);
	const char *opt = rcv ? "so-rcvbuf" : "so-sndbuf";

#if defined(SO_RCVBUFFORCE) && defined(SO_SNDBUFFORCE)
	if (setsockopt(fd, SOL_SOCKET, rcv ? SO_RCVBUFFORCE : SO_SNDBUFFORCE,
	    &v, sizeof(v)) < 0)
#endif
		(void)setsockopt(fd, SOL_SOCKET, rcv ? SO_RCVBUF : SO_SNDBUF,
		    &v, sizeof(v));
	if (getsockopt(fd, SOL_SOCKET, rcv ? SO_RCVBUF : SO_SNDBUF, &got,
	    &len) == 0 && got / 2 < v)
		log_warn("%s %zu was not granted on %s (udp): got %d; start "
		    "cairnd as root, or raise sysctl net.core.%s", opt, want,
		    name, got / 2, rcv ? "rmem_max" : "wmem_max");
}

/* so-rcvbuf and so-sndbuf on a UDP socket, new or taken over. */
static void
port_bufsizes(const struct config *cfg, int fd,
    const struct sockaddr_storage *ss)
{
	char name[80];

	if (cfg->so_rcvbuf == 0 && cfg->so_sndbuf == 0)
		return;
	comm_addr_str((const struct sockaddr *)ss, name, sizeof(name));
	if (cfg->so_rcvbuf > 0)
		port_bufsize(fd, name, cfg->so_rcvbuf, true);
	if (cfg->so_sndbuf > 0)
		port_bufsize(fd, name, cfg->so_sndbuf, false);
}

/* Is 'port' listed as a proxy-protocol-port? */
static bool
port_is_proxy(const struct config *cfg, int port)
{
	const struct cfg_strlist *s;

	for (s = cfg->proxy_protocol_ports; s != NULL; s = s->next)
		if (s->str != NULL && atoi(s->str) == port)
			return true;
	return false;
}

/* comm_ports_reopen: sockets that may be taken over (main thread only). */
static struct comm_port **ports_reuse;

/*
 * systemd socket activation (contrib/cairnd.socket): when LISTEN_PID is
 * our pid, the LISTEN_FDS descriptors from 3 on are sockets opened for
 * us.  Returns a copy (close-on-exec, nonblocking) of the one of 'type'
 * bound to 'ss', or -1 when there is none.  The inherited descriptors
 * stay open for the life of the process, so a reload that opens the
 * ports again finds them again (after the privileges were dropped).
 */
static int
port_inherited(const struct sockaddr_storage *ss, socklen_t len, int type)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	struct sockaddr_storage a;
	socklen_t al, tl;
	long n;
	int fd, t;

	if (pid == NULL || nfds == NULL || atol(pid) != (long)getpid())
		return -1;
	n = atol(nfds);
	for (fd = 3; n > 0 && fd < 3 + n && fd < 3 + 1024; fd++) {
		tl = sizeof(t);
		al = sizeof(a);
		memset(&a, 0, sizeof(a));
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &tl) != 0 ||
		    t != type || getsockname(fd, (struct sockaddr *)&a,
		    &al) != 0 || al != len || memcmp(&a, ss, len) != 0)
			continue;
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) |
		    O_NONBLOCK) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
	return -1;
}

/* Open one socket; NULL with err set (and errno kept). */
static struct comm_port *
port_open(const struct config *cfg, const struct sockaddr_storage *ss,
    socklen_t len, enum comm_port_kind kind, char *err, size_t errlen)
{
	int stream = kind != COMM_PORT_UDP;
	struct comm_port *p, **pp;
	char name[80];
	int fd, on = 1;
	const char *what;

	for (pp = ports_reuse; pp != NULL && *pp != NULL; pp = &(*pp)->next) {
		p = *pp;
		if (p->kind == kind && p->addrlen == len &&
		    memcmp(&p->addr, ss, len) == 0) {
			*pp = p->next;		/* taken over, as it is */
			p->next = NULL;
			if (!stream)	/* with this config's buffers */
				port_bufsizes(cfg, p->fd, ss);
			return p;
		}
	}
	comm_addr_str((const struct sockaddr *)ss, name, sizeof(name));
	fd = port_inherited(ss, len, stream ? SOCK_STREAM : SOCK_DGRAM);
	if (fd >= 0) {
		verbose(VERB_OPS, "comm: %s%s: socket from systemd", name,
		    stream ? " (tcp)" : " (udp)");
		goto made;
	}
	fd = socket(ss->ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		what = "could not create a socket for";
		goto fail;
	}
	if (stream && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof(on)) < 0) {
		what = "could not set SO_REUSEADDR on";
		goto fail;
	}
#ifdef SO_REUSEPORT
	if (cfg->so_reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT,
	    &on, sizeof(on)) < 0) {
		what = "could not set SO_REUSEPORT on";
		goto fail;
	}
#endif
	if (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) < 0) {
		what = "could not set IPV6_V6ONLY on";
		goto fail;
	}
#ifdef IP_FREEBIND
	/* (Linux: for IPv6 sockets too) */
	if (cfg->ip_freebind && setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &on,
	    sizeof(on)) < 0) {
		what = "could not set IP_FREEBIND on";
		goto fail;
	}
#endif
	if (bind(fd, (const struct sockaddr *)ss, len) < 0) {
		what = "could not bind";
		goto fail;
	}
	if (stream && listen(fd, COMM_BACKLOG) < 0) {
		what = "could not listen on";
		goto fail;
	}
made:
	if (!stream)
		port_bufsizes(cfg, fd, ss);
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		what = "out of memory for";
		errno = ENOMEM;
		goto fail;
	}
	p->fd = fd;
	p->kind = kind;
	memcpy(&p->addr, ss, len);
	p->addrlen = len;
	return p;
fail:
	{
		int e = errno;

		snprintf(err, errlen, "%s %s%s: %s", what, name,
		    stream ? " (tcp)" : " (udp)", strerror(e));
		if (fd >= 0)
			close(fd);
		errno = e;
	}
	return NULL;
}

/*
 * Open the ports of one address.  'optional' (the built-in default
 * interfaces): an address family or address the host does not have
 * (no IPv6) is skipped instead of failing.
 */
static int
ports_add_addr(struct comm_port **head, const struct config *cfg,
    const struct sockaddr_storage *ss, socklen_t len, bool optional,
    char *err, size_t errlen)
{
	enum comm_port_kind kinds[2];
	int nk = 0, i, port;
	bool proxy, tcp_ok = cfg->do_tcp && cfg->incoming_num_tcp > 0;

	if ((ss->ss_family == AF_INET && !cfg->do_ip4) ||
	    (ss->ss_family == AF_INET6 && !cfg->do_ip6))
		return 0;
	port = sa_port(ss);
	proxy = port_is_proxy(cfg, port);
	if (port == cfg->https_port) {
		if (tcp_ok)
			kinds[nk++] = cfg->http_notls_downstream ?
			    COMM_PORT_HTTP : COMM_PORT_HTTPS;
	} else if (port == cfg->tls_port) {
		if (tcp_ok)
			kinds[nk++] = COMM_PORT_TLS;
	} else {
		if (cfg->do_udp)
			kinds[nk++] = COMM_PORT_UDP;
		if (tcp_ok)
			kinds[nk++] = COMM_PORT_TCP;
	}
	for (i = 0; i < nk; i++) {
		struct comm_port *p = port_open(cfg, ss, len, kinds[i], err,
		    errlen);
		struct comm_port **tail = head;

		if (p == NULL) {
			if (optional && (errno == EAFNOSUPPORT ||
			    errno == EADDRNOTAVAIL)) {
				verbose(VERB_OPS, "comm: %s: skipped", err);
				err[0] = 0;
				return 0;
			}
			return -1;
		}
		p->proxy = proxy;
		while (*tail != NULL)
			tail = &(*tail)->next;
		*tail = p;	/* keep the config's order */
	}
	return 0;
}

/*
 * Open the ports of one interface line: an address, or every address
 * of the network interface it names (looked up now, as Unbound does at
 * start-up; a reload with the same interface lines keeps the sockets).
 */
static int
ports_add(struct comm_port **head, const struct config *cfg,
    const char *iface, bool optional, char *err, size_t errlen)
{
	struct sockaddr_storage ss, *all;
	socklen_t len, *lens;
	char ifname[IFNAMSIZ];
	int r, n, i, port;

	r = iface_parse(iface, cfg->port, &ss, &len, ifname, &port);
	if (r < 0) {
		snprintf(err, errlen, "interface %s: not an IP address or "
		    "interface name (addr, addr@port, name@port)", iface);
		return -1;
	}
	if (r == 0)
		return ports_add_addr(head, cfg, &ss, len, optional, err,
		    errlen);
	all = calloc(IFADDR_MAX, sizeof(*all));
	lens = calloc(IFADDR_MAX, sizeof(*lens));
	if (all == NULL || lens == NULL) {
		errno = ENOMEM;
		n = -1;
	} else {
		n = ifaddr_get(ifname, port, all, lens, IFADDR_MAX);
	}
	if (n <= 0) {
		snprintf(err, errlen, "interface %s: %s", iface, n == 0 ?
		    "the network interface has no IPv4 or IPv6 address" :
		    errno == ENODEV ? "no such network interface" :
		    errno == E2BIG ? "more addresses than cairn takes" :
		    strerror(errno));
		r = -1;
	} else {
		for (i = 0, r = 0; i < n && r == 0; i++)
			r = ports_add_addr(head, cfg, &all[i], lens[i],
			    optional, err, errlen);
	}
	free(all);
	free(lens);
	return r;
}

/*
 * Open every listening socket of the config (see comm.h).  Returns the
 * list (caller closes with comm_ports_close), or NULL with a sentence in
 * 'err' (also when the config leaves nothing to listen on).
 */
struct comm_port *
comm_ports_open(const struct config *cfg, char *err, size_t errlen)
{
	static const char *const local[] = { "127.0.0.1", "::1" };
	static const char *const all[] = { "0.0.0.0", "::" };
	const char *const *defaults = cfg->interface_automatic ? all : local;
	struct comm_port *head = NULL;
	const struct cfg_strlist *s;
	size_t i;

	if (cfg->interfaces == NULL) {
		for (i = 0; i < sizeof(local) / sizeof(local[0]); i++)
			if (ports_add(&head, cfg, defaults[i], true, err,
			    errlen) < 0)
				goto fail;
	} else {
		for (s = cfg->interfaces; s != NULL; s = s->next)
			if (ports_add(&head, cfg, s->str, false, err,
			    errlen) < 0)
				goto fail;
	}
	if (head == NULL) {
		snprintf(err, errlen, "no listening sockets: check interface, "
		    "do-ip4, do-ip6, do-udp, do-tcp and incoming-num-tcp");
		return NULL;
	}
	return head;
fail:
	comm_ports_close(head);
	return NULL;
}

struct comm_port *
comm_ports_reopen(const struct config *cfg, struct comm_port **old,
    char *err, size_t errlen)
{
	struct comm_port *head;

	ports_reuse = old;
	head = comm_ports_open(cfg, err, errlen);
	ports_reuse = NULL;
	if (head == NULL) {
		/* a socket left in *old may hold an address the new config
		 * wants (another kind on the same port): all afresh */
		comm_ports_close(*old);
		*old = NULL;
		head = comm_ports_open(cfg, err, errlen);
	}
	return head;
}

void
comm_ports_close(struct comm_port *ports)
{
	struct comm_port *p, *n;

	for (p = ports; p != NULL; p = n) {
		n = p->next;
		close(p->fd);
		free(p);
	}
}
