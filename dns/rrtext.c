/* dns/rrtext.c - not written yet */
