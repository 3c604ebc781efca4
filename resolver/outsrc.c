/*
 * resolver/outsrc.c - source addresses of upstream queries (see
 * outsrc.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "resolver/outsrc.h"

void
out_src_init(struct out_src *s, const struct cfg_strlist *list)
{
	const struct cfg_strlist *l;

	memset(s, 0, sizeof(*s));
	for (l = list; l != NULL; l = l->next) {
		struct sockaddr_in *a4 = &s->v4[s->n4];
		struct sockaddr_in6 *a6 = &s->v6[s->n6];

		if (s->n4 < OUT_SRC_MAX &&
		    inet_pton(AF_INET, l->str, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			s->n4++;
		} else if (s->n6 < OUT_SRC_MAX &&
		    inet_pton(AF_INET6, l->str, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			s->n6++;
		}
	}
	/* which address of several: not a secret (the port and the ID
	 * are the kernel's and getrandom()'s), only spread */
	if (getrandom(&s->rnd, sizeof(s->rnd), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(s->rnd))
		s->rnd = (uint32_t)time(NULL);
	if (s->rnd == 0)
		s->rnd = 1;
}

int
out_src_pick(struct out_src *s, int family)
{
	unsigned n;

	if (s == NULL)
		return -1;
	n = family == AF_INET ? s->n4 : family == AF_INET6 ? s->n6 : 0;
	if (n <= 1)
		return n == 1 ? 0 : -1;
	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 17;
	s->rnd ^= s->rnd << 5;
	return (int)(s->rnd % n);
}

int
out_src_bind(const struct out_src *s, int fd, int family, int idx)
{
	if (s == NULL || idx < 0)
		return 0;
	if (family == AF_INET && (unsigned)idx < s->n4)
		return bind(fd, (const struct sockaddr *)&s->v4[idx],
		    sizeof(struct sockaddr_in));
	if (family == AF_INET6 && (unsigned)idx < s->n6)
		return bind(fd, (const struct sockaddr *)&s->v6[idx],
		    sizeof(struct sockaddr_in6));
	return 0;
}
