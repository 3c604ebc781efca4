/* resolver/cache.c - not written yet */
