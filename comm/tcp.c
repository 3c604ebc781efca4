/* comm/tcp.c - not written yet */
