/*
 * bench/nodelay.c - LD_PRELOAD shim for dnsperf 2.10's DoH mode (-m doh).
 * It is meant for dnsperf only; bench/run builds it with
 *   cc -O2 -Wall -Wextra -Werror -shared -fPIC -o nodelay.so nodelay.c -ldl
 * and fixes two dnsperf bugs that make every server that batches its
 * writes (cairnd, dnsdist) look like it loses 70-99% of DoH queries.
 *
 * 1. No TCP_NODELAY: every small HTTP/2 write waits on Nagle plus delayed
 *    ACK and any server looks like ~3,000 qps at 30-40 ms.  connect() below
 *    sets TCP_NODELAY on every IPv4/IPv6 stream socket first.
 *
 * 2. Responses after the first of one read are dropped.  dnsperf's
 *    perf__doh_recv() does one SSL_read() into recvbuf, hands the whole
 *    buffer to nghttp2_session_mem_recv() and returns at most one DNS
 *    message per call.  Its on_data_chunk_recv callback returns
 *    NGHTTP2_ERR_PAUSE when a DATA chunk arrives while it still holds a
 *    complete message.  nghttp2 counts a paused chunk as consumed (its
 *    return value includes it; the application must keep the bytes), but
 *    dnsperf memmove()s the rest of recvbuf over them and never looks at
 *    them again.  The next call's END_STREAM then "completes" an empty
 *    message, perf__doh_recv() returns 0, dnsperf's receive loop takes
 *    that for EAGAIN, and the query stays outstanding until its timeout
 *    (-t): lost.  The next response's chunk is paused the same way, so
 *    every response after the first of a batch is lost.  Servers that
 *    write one response per TLS record (Unbound, kresd) never show it,
 *    because SSL_read() returns one record at a time.
 *
 *    nghttp2_session_mem_recv() below hands nghttp2 the input only up to
 *    the end of the first DATA frame that carries END_STREAM (the frame
 *    that completes a response) and returns that length.  dnsperf keeps
 *    the rest in recvbuf (it handles a short count) and processes it on
 *    its next call, which it makes without waiting on poll() because
 *    recv_at > 0.  So there is at most one complete response per call,
 *    the callback never pauses and nothing is dropped.  To know where
 *    frames end, the shim follows the 9-byte HTTP/2 frame headers of each
 *    session's input from its first byte (a server sends no preface but
 *    frames); nghttp2_session_del() drops that state.
 *
 *    Left alone: a cut frame that gives dnsperf no message (a non-2xx or
 *    non-DNS response, a stream nghttp2 ignores) makes that call return
 *    EAGAIN with bytes still in recvbuf; dnsperf then polls and takes them
 *    with the socket's next data or after its 100 ms poll timeout.  No
 *    server in bench/run answers a hit or a miss that way.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef ssize_t (*mem_recv_fn)(nghttp2_session *, const uint8_t *, size_t);
typedef void (*session_del_fn)(nghttp2_session *);

int connect(int fd, const struct sockaddr *sa, socklen_t len);
ssize_t nghttp2_session_mem_recv(nghttp2_session *s, const uint8_t *in,
    size_t inlen);
void nghttp2_session_del(nghttp2_session *s);

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

/*
 * Where one session's inbound byte stream stands: inside a frame header
 * (hlen < 9 bytes of it seen) or inside a payload (hlen == 9, left bytes
 * of it to come; es: the frame is DATA with END_STREAM).
 */
struct frame_pos {
	const nghttp2_session *s;	/* NULL: free, TOMB: deleted */
	size_t left;
	uint8_t hdr[9];
	uint8_t hlen;
	uint8_t es;
};

#define TOMB ((const nghttp2_session *)&pos_table)
#define NPOS 4096		/* dnsperf: at most 256 sockets per thread */

static struct frame_pos pos_table[NPOS];
static pthread_mutex_t pos_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The slot of session s, made if add and s has none; NULL if none (or the
 * table is full: that session then keeps dnsperf's own behaviour).  The
 * slot stays put until nghttp2_session_del(s); only s's owner touches its
 * fields (dnsperf calls mem_recv and session_del under the socket's lock).
 */
static struct frame_pos *
pos_find(const nghttp2_session *s, int add)
{
	size_t i, h = ((uintptr_t)s >> 4) % NPOS, n;
	struct frame_pos *p = NULL, *tomb = NULL;

	pthread_mutex_lock(&pos_lock);
	for (n = 0; n < NPOS; n++) {
		i = (h + n) % NPOS;
		if (pos_table[i].s == s) {
			p = &pos_table[i];
			break;
		}
		if (pos_table[i].s == TOMB && tomb == NULL)
			tomb = &pos_table[i];
		if (pos_table[i].s == NULL) {
			if (tomb == NULL)
				tomb = &pos_table[i];
			break;
		}
	}
	if (p == NULL && add && tomb != NULL) {
		p = tomb;
		p->s = s;
		p->left = 0;
		p->hlen = 0;
		p->es = 0;
	}
	pthread_mutex_unlock(&pos_lock);
	return p;
}

/*
 * Advance p over up to len bytes of in.  With stop, stop right after the
 * first frame that is DATA with END_STREAM.  Returns the bytes passed.
 */
static size_t
pos_walk(struct frame_pos *p, const uint8_t *in, size_t len, int stop)
{
	size_t i = 0, n;
	int es;

	while (i < len) {
		if (p->hlen < sizeof(p->hdr)) {
			p->hdr[p->hlen++] = in[i++];
			if (p->hlen < sizeof(p->hdr))
				continue;
			p->left = (size_t)p->hdr[0] << 16 |
			    (size_t)p->hdr[1] << 8 | p->hdr[2];
			p->es = p->hdr[3] == NGHTTP2_DATA &&
			    (p->hdr[4] & NGHTTP2_FLAG_END_STREAM);
		} else {
			n = len - i < p->left ? len - i : p->left;
			i += n;
			p->left -= n;
		}
		if (p->left == 0) {	/* that frame is complete */
			es = p->es;
			p->hlen = 0;
			p->es = 0;
			if (es && stop)
				break;
		}
	}
	return i;
}

ssize_t
nghttp2_session_mem_recv(nghttp2_session *s, const uint8_t *in,
    size_t inlen)
{
	static mem_recv_fn real;
	struct frame_pos *p, before;
	size_t cut;
	ssize_t r;

	if (real == NULL)
		real = (mem_recv_fn)dlsym(RTLD_NEXT,
		    "nghttp2_session_mem_recv");
	if (real == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if ((p = pos_find(s, 1)) == NULL)
		return real(s, in, inlen);
	before = *p;
	cut = pos_walk(p, in, inlen, 1);
	r = real(s, in, cut);
	if (r >= 0 && (size_t)r != cut) {
		/* nghttp2 took less (a pause after all): follow what it took */
		*p = before;
		(void)pos_walk(p, in, (size_t)r, 0);
	}
	return r;
}

void
nghttp2_session_del(nghttp2_session *s)
{
	static session_del_fn real;
	struct frame_pos *p;

	if (real == NULL)
		real = (session_del_fn)dlsym(RTLD_NEXT, "nghttp2_session_del");
	if (s != NULL && (p = pos_find(s, 0)) != NULL) {
		pthread_mutex_lock(&pos_lock);
		p->s = TOMB;
		pthread_mutex_unlock(&pos_lock);
	}
	if (real != NULL)
		real(s);
}
