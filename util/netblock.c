/* util/netblock.c - not written yet */
