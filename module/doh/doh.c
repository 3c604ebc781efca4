/* module/doh/doh.c - not written yet */
