/* resolver/upstream_h2.c - DNS over HTTPS/2 upstreams (see upstream.h). */
#include "config.h"
