/* comm/tls.c - not written yet */
