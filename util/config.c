/* util/config.c - not written yet */
