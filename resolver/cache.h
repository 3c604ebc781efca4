/* resolver/cache.h - not written yet */
#ifndef CAIRN_RESOLVER_CACHE_H
#define CAIRN_RESOLVER_CACHE_H
#endif
