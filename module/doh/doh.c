/*
 * module/doh/doh.c - the DoH state all workers share: the two buffer
 * budgets (http-query-buffer-size, http-response-buffer-size), the
 * endpoint, the http-trusted-proxy netblocks and the limits read from
 * the config.  The protocols are in h2.c and h1.c (with the clear-text
 * dispatcher doh_detect_proto); the request rules in request.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "module/doh/doh.h"
#include "module/doh/request.h"
#include "util/config.h"
#include "util/log.h"

/*
 * Build the shared DoH state from 'cfg' (borrowed for the call).
 * max_query is 512 with harden-large-queries, else msg-buffer-size.
 * Returns NULL on allocation failure.  Free with doh_shared_free once no
 * connection uses it.
 */
struct doh_shared *
doh_shared_new(const struct config *cfg)
{
	struct doh_shared *d = calloc(1, sizeof(*d));
	const char *ep = cfg->http_endpoint && cfg->http_endpoint[0] ?
	    cfg->http_endpoint : "/dns-query";
	const struct cfg_strlist *sl;

	if (d == NULL) {
		log_err("doh: out of memory");
		return NULL;
	}
	d->endpoint = strdup(ep);
	if (d->endpoint == NULL) {
		log_err("doh: out of memory");
		free(d);
		return NULL;
	}
	budget_init(&d->query_budget, cfg->http_query_buffer_size);
	budget_init(&d->response_budget, cfg->http_response_buffer_size);
	d->max_query = cfg->harden_large_queries ? DOH_HARDENED_MAX_QUERY :
	    cfg->msg_buffer_size;
	d->max_streams = cfg->http_max_streams > 0 ?
	    (unsigned)cfg->http_max_streams : 1;
	d->idle_timeout_msec = cfg->tcp_idle_timeout;
	for (sl = cfg->http_trusted_proxies; sl != NULL; sl = sl->next) {
		if (netblock_add(&d->trusted, sl->str, 1) != 0) {
			log_err("doh: bad http-trusted-proxy: %s", sl->str);
			doh_shared_free(d);
			return NULL;
		}
	}
	netblock_finish(&d->trusted);
	return d;
}

/* Free what doh_shared_new made (NULL is fine). */
void
doh_shared_free(struct doh_shared *d)
{
	if (d == NULL)
		return;
	free(d->endpoint);
	netblock_clear(&d->trusted);
	free(d);
}
