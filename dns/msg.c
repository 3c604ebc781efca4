/* dns/msg.c - not written yet */
