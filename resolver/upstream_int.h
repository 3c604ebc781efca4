/* resolver/upstream_int.h - placeholder */
