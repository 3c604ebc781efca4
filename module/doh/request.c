/* module/doh/request.c - not written yet */
