/*
 * module/dns/dns_stream.h - plain DNS on the comm-point layer: UDP
 * datagrams, and the 2-byte length framing used by DNS over TCP and DNS
 * over TLS (RFC 1035 4.2.2, RFC 7766, RFC 7858).
 *
 * Stream queries are pipelined and answered out of order as the resolver
 * finishes them; each pending query holds a resolver handle that is
 * cancelled when the connection closes.  Counts num.query.udp, .tcp and
 * .tls (TLS queries count in .tcp too, as in Unbound).
 */
#ifndef CAIRN_MODULE_DNS_STREAM_H
#define CAIRN_MODULE_DNS_STREAM_H

#include "comm/comm.h"

/* Most queries one stream connection may have in flight; past it the
 * connection is no longer read until answers go out. */
#define DNS_STREAM_MAX_PENDING 64

extern const struct comm_proto dns_stream_proto;

/* comm_udp_cb for UDP ports; env is a struct module_env.  The answer
 * goes to 'from'; the resolver sees 'client' (a PROXY header's). */
void dns_udp_input(struct comm_udp *u, void *env, const uint8_t *pkt,
    size_t len, const struct sockaddr *from, socklen_t fromlen,
    const struct sockaddr *client, socklen_t clientlen,
    const struct comm_udp_dst *dst);

#endif
