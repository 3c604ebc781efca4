/* dns/wire.c - not written yet */
