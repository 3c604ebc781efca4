/* resolver/forward.c - not written yet */
