/* util/log.c - not written yet */
