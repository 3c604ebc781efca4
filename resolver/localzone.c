/* resolver/localzone.c - not written yet */
