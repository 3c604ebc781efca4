/* comm/udp.c - not written yet */
