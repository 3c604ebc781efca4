/* module/doh/h2.c - not written yet */
