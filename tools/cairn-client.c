/*
 * tools/cairn-client.c - send one DNS query over DoH, DoT, TCP or UDP and
 * print the answer, for testing a DoH server (as doh-client and Unbound's
 * dohclient do).
 *
 *	cairn-client [options] NAME [TYPE] [CLASS]
 *
 * This file parses the options, builds the query (RD, EDNS with DO and
 * ECS on request) and prints the answer: header, EDNS, then the sections
 * in presentation format through dns/rrtext.  The transports live in
 * client_net.c.  Exit status: 0 when an answer arrived (any rcode), 1 on
 * a transport, TLS or HTTP error (named on stderr), 2 on a usage error.
 * It does not retry, follow referrals or validate DNSSEC.
 */
#include "config.h"

#include "tools/client.h"
#include "dns/rrtext.h"
#include "dns/wire.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#define EDNS_PAYLOAD	1232

/* The query as asked on the command line. */
struct client_query {
	uint8_t qname[DNS_MAX_NAME];
	size_t qname_len;
	uint16_t qtype;
	uint16_t qclass;
	bool dnssec;
	bool ecs;
	uint16_t ecs_family;	/* 1 IPv4, 2 IPv6 */
	uint8_t ecs_prefix;
	uint8_t ecs_addr[16];
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "cairn-client " PACKAGE_VERSION "\n"
	    "usage: cairn-client [options] NAME [TYPE] [CLASS]\n"
	    "  -s, --server HOST   server address (default 127.0.0.1)\n"
	    "  -p, --port N        port (default 443 DoH, 853 --tls, "
	    "53 --tcp/--udp)\n"
	    "      --path PATH     DoH path (default /dns-query)\n"
	    "      --post          DoH with POST (default GET)\n"
	    "      --http1.1       DoH over HTTP/1.1 (default HTTP/2)\n"
	    "      --tls           DNS over TLS\n"
	    "      --tcp           DNS over TCP\n"
	    "      --udp           DNS over UDP\n"
	    "      --dnssec        set the DO bit\n"
	    "      --ecs ADDR/LEN  add an EDNS client subnet option\n"
	    "      --cafile FILE   trust the CAs in FILE (default: system "
	    "bundle)\n"
	    "      --insecure      do not check the certificate (unsafe)\n"
	    "      --tls-name NAME name for SNI and the certificate check\n"
	    "                      (default: the server)\n"
	    "      --timeout SEC   per query (default 5)\n"
	    "      --repeat N      N queries over one connection, timed\n"
	    "  -v, --verbose       print request and response headers\n"
	    "  -h, --help          this help\n");
}

/* "192.0.2.0/24" or "2001:db8::/48"; the address is cut to its prefix. */
static int
parse_ecs(const char *s, struct client_query *cq)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash, *end;
	long len;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = 0;
	memset(cq->ecs_addr, 0, sizeof(cq->ecs_addr));
	if (inet_pton(AF_INET, buf, cq->ecs_addr) == 1) {
		cq->ecs_family = 1;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, cq->ecs_addr) == 1) {
		cq->ecs_family = 2;
		max = 128;
	} else
		return -1;
	if (slash == NULL)
		len = max;
	else {
		len = strtol(slash, &end, 10);
		if (*slash == 0 || *end != 0 || len < 0 || len > max)
			return -1;
	}
	cq->ecs_prefix = (uint8_t)len;
	for (int i = 0; i < 16; i++) {
		int bits = (int)len - i * 8;

		if (bits <= 0)
			cq->ecs_addr[i] = 0;
		else if (bits < 8)
			cq->ecs_addr[i] &= (uint8_t)(0xff << (8 - bits));
	}
	cq->ecs = true;
	return 0;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Build the query in out (cap >= 512): header with RD, the question, an
 * OPT RR (payload 1232, DO on --dnssec, ECS on --ecs).  Returns length.
 */
static size_t
query_build(const struct client_query *cq, uint16_t id, uint8_t *out)
{
	size_t n = 0, rdstart;

	memset(out, 0, DNS_HDR_LEN);
	put16(out, id);
	put16(out + 2, DNS_RD);
	put16(out + 4, 1);	/* QDCOUNT */
	put16(out + 10, 1);	/* ARCOUNT: the OPT */
	n = DNS_HDR_LEN;
	memcpy(out + n, cq->qname, cq->qname_len);
	n += cq->qname_len;
	put16(out + n, cq->qtype);
	put16(out + n + 2, cq->qclass);
	n += 4;
	out[n++] = 0;		/* root owner */
	put16(out + n, DNS_T_OPT);
	put16(out + n + 2, EDNS_PAYLOAD);
	out[n + 4] = 0;		/* extended rcode */
	out[n + 5] = 0;		/* version */
	put16(out + n + 6, cq->dnssec ? DNS_EDNS_DO : 0);
	n += 8;
	rdstart = n;
	n += 2;
	if (cq->ecs) {
		size_t alen = ((size_t)cq->ecs_prefix + 7) / 8;

		put16(out + n, DNS_OPT_ECS);
		put16(out + n + 2, (uint16_t)(4 + alen));
		put16(out + n + 4, cq->ecs_family);
		out[n + 6] = cq->ecs_prefix;
		out[n + 7] = 0;	/* scope */
		memcpy(out + n + 8, cq->ecs_addr, alen);
		n += 8 + alen;
	}
	put16(out + rdstart, (uint16_t)(n - rdstart - 2));
	return n;
}

/*
 * Read a possibly compressed name at *off into text; *off moves past
 * it.  Returns 0 or -1 when it does not parse (loops are bounded).
 */
static int
name_read(const uint8_t *pkt, size_t len, size_t *off, char *out, size_t cap)
{
	size_t p = *off, o = 0, end = 0;
	int jumps = 0;

	for (int labels = 0; labels < 128; labels++) {
		uint8_t l;

		if (p >= len)
			return -1;
		l = pkt[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++jumps > 64)
				return -1;
			if (end == 0)
				end = p + 2;
			p = (size_t)(l & 0x3f) << 8 | pkt[p + 1];
			continue;
		}
		if (l & 0xc0)
			return -1;
		if (l == 0) {
			if (end == 0)
				end = p + 1;
			if (o == 0) {
				if (cap < 2)
					return -1;
				out[o++] = '.';
			}
			out[o] = 0;
			*off = end;
			return 0;
		}
		if (p + 1 + l > len)
			return -1;
		for (size_t i = 0; i < l; i++) {
			uint8_t ch = pkt[p + 1 + i];

			if (o + 5 >= cap)
				return -1;
			if (ch == '.' || ch == '\\' || ch == '"' ||
			    ch == '(' || ch == ')' || ch == ';') {
				out[o++] = '\\';
				out[o++] = (char)ch;
			} else if (ch <= 0x20 || ch >= 0x7f) {
				o += (size_t)snprintf(out + o, cap - o,
				    "\\%03u", ch);
			} else
				out[o++] = (char)ch;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = '.';
		p += 1 + l;
	}
	return -1;
}

static void
print_flags(uint16_t f)
{
	static const struct { uint16_t bit; const char *name; } fl[] = {
		{ DNS_QR, "QR" }, { DNS_AA, "AA" }, { DNS_TC, "TC" },
		{ DNS_RD, "RD" }, { DNS_RA, "RA" }, { DNS_AD, "AD" },
		{ DNS_CD, "CD" }
	};
	const char *sep = "";

	printf("flags ");
	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
		if (f & fl[i].bit) {
			printf("%s%s", sep, fl[i].name);
			sep = " ";
		}
	printf("\n");
}

static const char *
opcode_text(int op)
{
	static const char *names[] = { "QUERY", "IQUERY", "STATUS", "3",
	    "NOTIFY", "UPDATE", "DSO" };

	return op < 7 ? names[op] : "?";
}

static void
rcode_text(int rcode, char *buf, size_t cap)
{
	const char *t = dns_rcode_to_text(rcode);

	if (t != NULL)
		snprintf(buf, cap, "%s", t);
	else if (rcode == 6)
		snprintf(buf, cap, "YXDOMAIN");
	else if (rcode == 9)
		snprintf(buf, cap, "NOTAUTH");
	else
		snprintf(buf, cap, "RCODE%d", rcode);
}

/* Print the EDNS options of an OPT RR's rdata. */
static void
print_edns_options(const uint8_t *p, size_t len)
{
	size_t o = 0;

	while (o + 4 <= len) {
		uint16_t code = get16(p + o), olen = get16(p + o + 2);
		const uint8_t *v = p + o + 4;

		if (o + 4 + olen > len) {
			printf("option malformed\n");
			return;
		}
		if (code == DNS_OPT_ECS && olen >= 4) {
			uint16_t fam = get16(v);
			uint8_t a[16] = { 0 };
			char txt[INET6_ADDRSTRLEN];
			size_t alen = olen - 4u;

			if ((fam == 1 && alen <= 4) || (fam == 2 && alen <= 16)) {
				memcpy(a, v + 4, alen);
				inet_ntop(fam == 1 ? AF_INET : AF_INET6, a, txt,
				    sizeof(txt));
				printf("option ECS %s/%u scope %u\n", txt, v[2],
				    v[3]);
			} else
				printf("option ECS family %u (malformed)\n",
				    fam);
		} else if (code == DNS_OPT_PADDING) {
			printf("option PADDING %u bytes\n", olen);
		} else if (code == 10) {
			printf("option COOKIE ");
			for (size_t i = 0; i < olen; i++)
				printf("%02x", v[i]);
			printf("\n");
		} else if (code == 15 && olen >= 2) {
			printf("option EDE %u %.*s\n", get16(v),
			    (int)(olen - 2), (const char *)v + 2);
		} else {
			printf("option %u ", code);
			for (size_t i = 0; i < olen; i++)
				printf("%02x", v[i]);
			printf("\n");
		}
		o += 4u + olen;
	}
}

static char rrbuf[300000];

/*
 * Print a DNS message as doh-client does: id, opcode, rcode, flags,
 * EDNS, then the sections.  Returns 0 or -1 if it does not parse.
 */
static int
print_message(const uint8_t *pkt, size_t len)
{
	uint16_t flags, count[4];
	size_t off = DNS_HDR_LEN, opt_off = 0;
	char name[1100], tbuf[16], rc[32];
	int ext_rcode = 0;
	static const char *sect[4] = { ";QUESTION", ";ANSWER", ";AUTHORITY",
	    ";ADDITIONAL" };

	if (len < DNS_HDR_LEN)
		return -1;
	flags = get16(pkt + 2);
	for (int i = 0; i < 4; i++)
		count[i] = get16(pkt + 4 + 2 * i);
	/* find the OPT first: it changes the rcode */
	{
		size_t o = off;

		for (unsigned i = 0; i < count[0]; i++) {
			if (name_read(pkt, len, &o, name, sizeof(name)) < 0 ||
			    o + 4 > len)
				return -1;
			o += 4;
		}
		for (unsigned i = 0; i < (unsigned)count[1] + count[2] +
		    count[3]; i++) {
			size_t start = o;

			if (name_read(pkt, len, &o, name, sizeof(name)) < 0 ||
			    o + 10 > len)
				return -1;
			if (get16(pkt + o) == DNS_T_OPT &&
			    i >= (unsigned)count[1] + count[2])
				opt_off = start;
			o += 10u + get16(pkt + o + 8);
			if (o > len)
				return -1;
		}
	}
	if (opt_off) {
		size_t o = opt_off;

		(void)name_read(pkt, len, &o, name, sizeof(name));
		ext_rcode = pkt[o + 4];
	}
	printf("id %u\n", get16(pkt));
	printf("opcode %s\n", opcode_text(DNS_OPCODE(flags)));
	rcode_text(ext_rcode << 4 | DNS_RCODE(flags), rc, sizeof(rc));
	printf("rcode %s\n", rc);
	print_flags(flags);
	if (opt_off) {
		size_t o = opt_off;
		uint16_t ef;

		(void)name_read(pkt, len, &o, name, sizeof(name));
		ef = get16(pkt + o + 6);
		printf("edns %u\n", pkt[o + 5]);
		printf("eflags%s", ef & DNS_EDNS_DO ? " DO" : "");
		if (ef & 0x7fff)
			printf(" 0x%04x", ef & 0x7fff);
		printf("\n");
		printf("payload %u\n", get16(pkt + o + 2));
		print_edns_options(pkt + o + 10, get16(pkt + o + 8));
	}
	printf("%s\n", sect[0]);
	for (unsigned i = 0; i < count[0]; i++) {
		uint16_t t, c;
		char cb[16];

		if (name_read(pkt, len, &off, name, sizeof(name)) < 0)
			return -1;
		t = get16(pkt + off);
		c = get16(pkt + off + 2);
		off += 4;
		if (c == DNS_C_IN)
			snprintf(cb, sizeof(cb), "IN");
		else if (c == DNS_C_CH)
			snprintf(cb, sizeof(cb), "CH");
		else
			snprintf(cb, sizeof(cb), "CLASS%u", c);
		printf("%s %s %s\n", name, cb, dns_type_to_text(t, tbuf));
	}
	for (int s = 1; s < 4; s++) {
		printf("%s\n", sect[s]);
		for (unsigned i = 0; i < count[s]; i++) {
			size_t next;

			if (off == opt_off) {
				size_t o = off;

				(void)name_read(pkt, len, &o, name,
				    sizeof(name));
				off = o + 10u + get16(pkt + o + 8);
				continue;
			}
			if (dns_rr_to_text(pkt, len, off, &next, rrbuf,
			    sizeof(rrbuf)) < 0)
				return -1;
			printf("%s\n", rrbuf);
			off = next;
		}
	}
	return 0;
}

static const char *
transport_name(enum client_transport t)
{
	switch (t) {
	case CLIENT_DOH2:
		return "DoH (HTTP/2)";
	case CLIENT_DOH1:
		return "DoH (HTTP/1.1)";
	case CLIENT_DOT:
		return "DoT";
	case CLIENT_TCP:
		return "TCP";
	case CLIENT_UDP:
		return "UDP";
	}
	return "?";
}

enum {
	OPT_PATH = 256, OPT_POST, OPT_HTTP11, OPT_TLS, OPT_TCP, OPT_UDP,
	OPT_DNSSEC, OPT_ECS, OPT_CAFILE, OPT_INSECURE, OPT_TLSNAME,
	OPT_REPEAT, OPT_TIMEOUT
};

static const struct option longopts[] = {
	{ "server", required_argument, NULL, 's' },
	{ "port", required_argument, NULL, 'p' },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "post", no_argument, NULL, OPT_POST },
	{ "http1.1", no_argument, NULL, OPT_HTTP11 },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "tcp", no_argument, NULL, OPT_TCP },
	{ "udp", no_argument, NULL, OPT_UDP },
	{ "dnssec", no_argument, NULL, OPT_DNSSEC },
	{ "ecs", required_argument, NULL, OPT_ECS },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "tls-name", required_argument, NULL, OPT_TLSNAME },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static long
num_arg(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end != 0 || v < lo || v > hi) {
		fprintf(stderr, "cairn-client: bad %s '%s' (%ld..%ld)\n", what,
		    s, lo, hi);
		exit(2);
	}
	return v;
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1000.0 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int
main(int argc, char **argv)
{
	struct client_opts o;
	struct client_query cq;
	struct client_conn *c;
	static uint8_t q[600], ans[CLIENT_MAX_MSG];
	char err[CLIENT_ERR_LEN];
	struct timespec t0;
	long repeat = 1, alen = 0;
	double elapsed;
	int ch, modes = 0, port = 0;

	memset(&o, 0, sizeof(o));
	memset(&cq, 0, sizeof(cq));
	o.transport = CLIENT_DOH2;
	o.server = "127.0.0.1";
	o.path = "/dns-query";
	o.timeout_ms = 5000;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((ch = getopt_long(argc, argv, "s:p:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o.server = optarg;
			break;
		case 'p':
			port = (int)num_arg(optarg, 1, 65535, "port");
			break;
		case OPT_PATH:
			if (optarg[0] != '/') {
				fprintf(stderr, "cairn-client: --path must "
				    "start with /\n");
				return 2;
			}
			o.path = optarg;
			break;
		case OPT_POST:
			o.post = true;
			break;
		case OPT_HTTP11:
			o.transport = CLIENT_DOH1;
			break;
		case OPT_TLS:
			o.transport = CLIENT_DOT;
			modes++;
			break;
		case OPT_TCP:
			o.transport = CLIENT_TCP;
			modes++;
			break;
		case OPT_UDP:
			o.transport = CLIENT_UDP;
			modes++;
			break;
		case OPT_DNSSEC:
			cq.dnssec = true;
			break;
		case OPT_ECS:
			if (parse_ecs(optarg, &cq) < 0) {
				fprintf(stderr, "cairn-client: bad --ecs '%s' "
				    "(ADDR/PREFIX)\n", optarg);
				return 2;
			}
			break;
		case OPT_CAFILE:
			o.cafile = optarg;
			break;
		case OPT_INSECURE:
			o.insecure = true;
			break;
		case OPT_TLSNAME:
			o.tls_name = optarg;
			break;
		case OPT_REPEAT:
			repeat = num_arg(optarg, 1, 100000, "--repeat");
			break;
		case OPT_TIMEOUT:
			o.timeout_ms = (int)num_arg(optarg, 1, 3600,
			    "--timeout") * 1000;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (modes > 1 || (modes == 1 && o.transport == CLIENT_DOH1)) {
		fprintf(stderr, "cairn-client: choose one of --tls, --tcp, "
		    "--udp, --http1.1\n");
		return 2;
	}
	if (optind >= argc || argc - optind > 3) {
		usage(stderr);
		return 2;
	}
	cq.qname_len = dns_name_from_text(argv[optind], cq.qname);
	if (cq.qname_len == 0) {
		fprintf(stderr, "cairn-client: bad name '%s'\n", argv[optind]);
		return 2;
	}
	cq.qtype = DNS_T_A;
	cq.qclass = DNS_C_IN;
	if (argc - optind >= 2) {
		int t = dns_type_from_text(argv[optind + 1]);

		if (t < 0 && strncasecmp(argv[optind + 1], "TYPE", 4) == 0)
			t = (int)num_arg(argv[optind + 1] + 4, 0, 65535,
			    "type");
		if (t < 0) {
			fprintf(stderr, "cairn-client: unknown type '%s'\n",
			    argv[optind + 1]);
			return 2;
		}
		cq.qtype = (uint16_t)t;
	}
	if (argc - optind >= 3) {
		int k = dns_class_from_text(argv[optind + 2]);

		if (k < 0) {
			fprintf(stderr, "cairn-client: unknown class '%s'\n",
			    argv[optind + 2]);
			return 2;
		}
		cq.qclass = (uint16_t)k;
	}
	if (port == 0)
		port = o.transport == CLIENT_DOT ? 853 :
		    (o.transport == CLIENT_TCP || o.transport == CLIENT_UDP) ?
		    53 : 443;
	o.port = port;
	if (o.insecure && (o.transport == CLIENT_DOH2 ||
	    o.transport == CLIENT_DOH1 || o.transport == CLIENT_DOT))
		fprintf(stderr, "cairn-client: WARNING: --insecure: the "
		    "server's certificate is NOT checked; anyone on the path "
		    "can read and change these answers\n");
	if (o.verbose)
		printf(";; %s to %s port %d\n", transport_name(o.transport),
		    o.server, o.port);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = client_conn_open(&o, err);
	if (c == NULL) {
		fprintf(stderr, "cairn-client: %s\n", err);
		return 1;
	}
	for (long i = 0; i < repeat; i++) {
		uint16_t id = 0;
		size_t qlen;

		/* DoH uses ID 0 so that GET answers can be cached (RFC 8484
		 * 4.1); the others a random ID to match the answer */
		if (o.transport != CLIENT_DOH2 && o.transport != CLIENT_DOH1 &&
		    RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
			id = (uint16_t)(rand() ^ getpid());
		qlen = query_build(&cq, id, q);
		alen = client_conn_query(c, q, qlen, ans, err);
		if (alen < 0) {
			if (repeat > 1)
				fprintf(stderr, "cairn-client: query %ld of "
				    "%ld: %s\n", i + 1, repeat, err);
			else
				fprintf(stderr, "cairn-client: %s\n", err);
			client_conn_close(c);
			return 1;
		}
		if (alen < DNS_HDR_LEN || get16(ans) != id ||
		    !(get16(ans + 2) & DNS_QR)) {
			fprintf(stderr, "cairn-client: the reply is not an "
			    "answer to the query (%ld bytes)\n", alen);
			client_conn_close(c);
			return 1;
		}
	}
	elapsed = ms_since(&t0);
	client_conn_close(c);
	if (print_message(ans, (size_t)alen) < 0) {
		fflush(stdout);
		fprintf(stderr, "cairn-client: malformed answer (%ld bytes)\n",
		    alen);
		return 1;
	}
	if (repeat > 1)
		printf("%ld queries in %.1f ms\n", repeat, elapsed);
	return 0;
}
