/* daemon/stats.c - not written yet */
