/*
 * resolver/outsrc.h - the source addresses of upstream queries
 * (outgoing-interface, as Unbound's): each new upstream socket of a
 * family (UDP, TCP, TLS, HTTPS) is bound to one of that family's
 * addresses, picked at random, with port 0, so the kernel still picks
 * the port at random.  A family with none: the kernel picks the address
 * by its routes, as without the option.
 *
 * One per worker (its resolver's), read and written by that thread only.
 */
#ifndef CAIRN_RESOLVER_OUTSRC_H
#define CAIRN_RESOLVER_OUTSRC_H

#include <netinet/in.h>
#include <stdint.h>

#include "util/config.h"

struct cfg_strlist;

/* At most this many addresses a family (config_check says so). */
#define OUT_SRC_MAX CFG_OUTGOING_MAX

struct out_src {
	unsigned n4, n6;
	struct sockaddr_in v4[OUT_SRC_MAX];
	struct sockaddr_in6 v6[OUT_SRC_MAX];
	uint32_t rnd;			/* xorshift state for the pick */
};

/* From the outgoing-interface lines (IP addresses, checked when read);
 * an empty list leaves both families to the kernel. */
void out_src_init(struct out_src *s, const struct cfg_strlist *list);
/* The source address a new upstream query or connection of 'family'
 * goes from, at random: an index for out_src_bind, or -1 when 's' is
 * NULL or has none of the family (the kernel picks). */
int out_src_pick(struct out_src *s, int family);
/* Bind 'fd' (of 'family') to source address 'idx' (out_src_pick's; -1:
 * nothing to do).  Returns 0, or -1 with errno from bind(). */
int out_src_bind(const struct out_src *s, int fd, int family, int idx);

#endif
