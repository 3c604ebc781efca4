/*
 * bench/nodelay.c - LD_PRELOAD shim for the benchmark's load generator.
 *
 * dnsperf 2.10 in DoH mode never sets TCP_NODELAY, so every small HTTP/2
 * write waits on Nagle plus delayed ACK and any server looks like ~3,000
 * qps at 30-40 ms.  This shim wraps connect(): before the real call it
 * sets TCP_NODELAY on every IPv4/IPv6 stream socket.  It does nothing
 * else (it does not fix dnsperf dropping DoH responses that share one
 * TLS record).  Built by bench/run:
 *   cc -O2 -shared -fPIC -o nodelay.so nodelay.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *sa, socklen_t len);

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static connect_fn real;
	int type = 0, one = 1, saved = errno;
	socklen_t tl = sizeof(type);

	if (real == NULL)
		real = (connect_fn)dlsym(RTLD_NEXT, "connect");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (sa != NULL && (sa->sa_family == AF_INET ||
	    sa->sa_family == AF_INET6) &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
	    type == SOCK_STREAM)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	errno = saved;
	return real(fd, sa, len);
}
