/* resolver/resolver.c - not written yet */
