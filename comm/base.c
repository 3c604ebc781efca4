/* comm/base.c - not written yet */
