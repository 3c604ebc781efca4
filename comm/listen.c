/* comm/listen.c - not written yet */
