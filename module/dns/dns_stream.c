/* module/dns/dns_stream.c - not written yet */
