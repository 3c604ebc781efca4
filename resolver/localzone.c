/*
 * resolver/localzone.c - local zones and local data (see localzone.h).
 *
 * Storage: every zone and every data name ("node") is in one open
 * addressing hash of lowercased wire names.  A node belongs to the most
 * specific zone holding it; names between a node and its zone apex are
 * entered as empty non-terminals (nodes without records) so that static
 * zones answer NODATA rather than NXDOMAIN for them.  Everything is
 * allocated at build time; answering only reads.
 * This file does not decide access control, caching or forwarding.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dns/rrtext.h"
#include "dns/wire.h"
#include "resolver/localzone.h"
#include "util/config.h"
#include "util/log.h"

struct lz_rr {
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t *rdata;
};

struct lz_zone;

struct lz_node {
	uint8_t name[DNS_MAX_NAME];
	size_t name_len;
	struct lz_zone *zone;
	struct lz_rr *rrs;
	size_t nrr, cap;
};

struct lz_zone {
	uint8_t name[DNS_MAX_NAME];
	size_t name_len;
	int type;
	bool is_default;
	struct lz_node *apex;	/* node at the apex, or NULL */
	bool has_soa;
	struct lz_rr soa;	/* negative-answer SOA: ttl = min(ttl, minimum) */
};

/* A slot of the name hash: a zone and/or a node with that name. */
struct lz_slot {
	const uint8_t *name;	/* points into the zone or node */
	size_t name_len;
	uint64_t hash;
	struct lz_zone *zone;
	struct lz_node *node;
};

#define LZ_TLD_WORDS	4	/* 256 bits */

struct local_zones {
	struct lz_slot *slots;
	size_t nslots;		/* power of two */
	size_t used;
	struct lz_zone **zones;
	size_t nzones, zcap;
	struct lz_node **nodes;
	size_t nnodes, ncap;
	pthread_rwlock_t lock;	/* read: answering; write: control edits */
	bool lock_init;
	/* Fast negative check before the lock and the walk up the name
	 * (localzone_answer): a bit for the top-level label of every zone
	 * ever added (removed zones leave theirs: a superset is still
	 * right), and whether "." is among them.  Most query names are
	 * under no zone at all. */
	uint64_t tld_bits[LZ_TLD_WORDS];
	bool any_root;
};

static const char *const lz_type_names[] = {
	[LZ_STATIC] = "static",
	[LZ_TRANSPARENT] = "transparent",
	[LZ_TYPETRANSPARENT] = "typetransparent",
	[LZ_REFUSE] = "refuse",
	[LZ_DENY] = "deny",
	[LZ_ALWAYS_NXDOMAIN] = "always_nxdomain",
	[LZ_ALWAYS_REFUSE] = "always_refuse",
	[LZ_ALWAYS_NODATA] = "always_nodata",
	[LZ_ALWAYS_TRANSPARENT] = "always_transparent",
	[LZ_REDIRECT] = "redirect",
	[LZ_INFORM] = "inform",
	[LZ_INFORM_DENY] = "inform_deny",
	[LZ_NODEFAULT] = "nodefault",
};

int
lz_type_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(lz_type_names) / sizeof(lz_type_names[0]); i++)
		if (lz_type_names[i] != NULL &&
		    strcmp(s, lz_type_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
lz_type_name(int t)
{
	if (t < 0 || (size_t)t >= sizeof(lz_type_names) / sizeof(lz_type_names[0]))
		return "unknown";
	return lz_type_names[t];
}

/* ------------------------------------------------------------ name hash */

static uint64_t
name_hash(const uint8_t *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= name[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	return h;
}

static struct lz_slot *
slot_find(const struct local_zones *lz, const uint8_t *name, size_t len,
    uint64_t h)
{
	size_t i, mask = lz->nslots - 1;

	if (lz->nslots == 0)
		return NULL;
	for (i = h & mask;; i = (i + 1) & mask) {
		struct lz_slot *s = &lz->slots[i];

		if (s->name == NULL)
			return NULL;
		if (s->hash == h && s->name_len == len &&
		    memcmp(s->name, name, len) == 0)
			return s;
	}
}

static int
slots_grow(struct local_zones *lz)
{
	size_t n = lz->nslots ? lz->nslots * 2 : 64, i, j;
	struct lz_slot *ns;

	ns = calloc(n, sizeof(*ns));
	if (ns == NULL)
		return -1;
	for (i = 0; i < lz->nslots; i++) {
		if (lz->slots[i].name == NULL)
			continue;
		for (j = lz->slots[i].hash & (n - 1); ns[j].name != NULL;
		    j = (j + 1) & (n - 1))
			;
		ns[j] = lz->slots[i];
	}
	free(lz->slots);
	lz->slots = ns;
	lz->nslots = n;
	return 0;
}

/* The slot for 'name', created if absent; NULL on allocation failure.
 * 'name' must stay valid (it points into a zone or node). */
static struct lz_slot *
slot_get(struct local_zones *lz, const uint8_t *name, size_t len)
{
	uint64_t h = name_hash(name, len);
	struct lz_slot *s = slot_find(lz, name, len, h);
	size_t i;

	if (s != NULL)
		return s;
	if ((lz->used + 1) * 2 > lz->nslots && slots_grow(lz) < 0)
		return NULL;
	for (i = h & (lz->nslots - 1); lz->slots[i].name != NULL;
	    i = (i + 1) & (lz->nslots - 1))
		;
	s = &lz->slots[i];
	s->name = name;
	s->name_len = len;
	s->hash = h;
	lz->used++;
	return s;
}

/* ------------------------------------------------------------ building */

static struct lz_zone *
zone_find(const struct local_zones *lz, const uint8_t *name, size_t len)
{
	struct lz_slot *s = slot_find(lz, name, len, name_hash(name, len));

	return s != NULL ? s->zone : NULL;
}

/* The bit of tld_bits for the last label before the root of wire name
 * 'name' (lower case), from its length, first and last bytes; -1 for
 * the root itself or a malformed name. */
static int
tld_bit(const uint8_t *name, size_t len)
{
	size_t off = 0, last = 0;
	uint32_t x;

	while (off < len && name[off] != 0) {
		last = off;
		off += 1 + (size_t)name[off];
	}
	if (off == 0 || off >= len)
		return -1;
	x = (uint32_t)name[last] | (uint32_t)name[last + 1] << 8 |
	    (uint32_t)name[last + name[last]] << 16;
	return (int)((x * 0x9e3779b1u) >> 24);
}

static void
tld_note(struct local_zones *lz, const uint8_t *name, size_t len)
{
	int b = tld_bit(name, len);

	/* atomic: localzone_answer reads these without the lock */
	if (b < 0)
		__atomic_store_n(&lz->any_root, true, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or(&lz->tld_bits[b / 64], 1ULL << (b % 64),
		    __ATOMIC_RELAXED);
}

/* false: no zone can hold 'name' (its top-level label is no zone's). */
static bool
tld_maybe(const struct local_zones *lz, const uint8_t *name, size_t len)
{
	int b;

	if (__atomic_load_n(&lz->any_root, __ATOMIC_RELAXED))
		return true;
	b = tld_bit(name, len);
	return b >= 0 && (__atomic_load_n(&lz->tld_bits[b / 64],
	    __ATOMIC_RELAXED) & (1ULL << (b % 64))) != 0;
}

/* Longest zone at or above 'name'. */
static struct lz_zone *
zone_lookup(const struct local_zones *lz, const uint8_t *name, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct lz_zone *z = zone_find(lz, name + off, len - off);

		if (z != NULL)
			return z;
		if (name[off] == 0)
			break;
		off += 1 + name[off];
	}
	return NULL;
}

static struct lz_zone *
zone_add(struct local_zones *lz, const uint8_t *name, size_t len, int type,
    bool is_default)
{
	struct lz_zone *z = zone_find(lz, name, len);
	struct lz_slot *s;

	if (z != NULL) {
		z->type = type;	/* a later local-zone for the name wins */
		z->is_default = is_default;
		return z;
	}
	if (lz->nzones == lz->zcap) {
		size_t n = lz->zcap ? lz->zcap * 2 : 32;
		struct lz_zone **v = realloc(lz->zones, n * sizeof(*v));

		if (v == NULL)
			return NULL;
		lz->zones = v;
		lz->zcap = n;
	}
	z = calloc(1, sizeof(*z));
	if (z == NULL)
		return NULL;
	memcpy(z->name, name, len);
	z->name_len = len;
	z->type = type;
	z->is_default = is_default;
	tld_note(lz, z->name, z->name_len);
	s = slot_get(lz, z->name, z->name_len);
	if (s == NULL) {
		free(z);
		return NULL;
	}
	s->zone = z;
	if (s->node != NULL && s->node->zone == NULL)
		s->node->zone = z;
	lz->zones[lz->nzones++] = z;
	return z;
}

static struct lz_node *
node_find(const struct local_zones *lz, const uint8_t *name, size_t len)
{
	struct lz_slot *s = slot_find(lz, name, len, name_hash(name, len));

	return s != NULL ? s->node : NULL;
}

static struct lz_node *
node_get(struct local_zones *lz, const uint8_t *name, size_t len,
    struct lz_zone *z)
{
	struct lz_node *n = node_find(lz, name, len);
	struct lz_slot *s;

	if (n != NULL)
		return n;
	if (lz->nnodes == lz->ncap) {
		size_t c = lz->ncap ? lz->ncap * 2 : 32;
		struct lz_node **v = realloc(lz->nodes, c * sizeof(*v));

		if (v == NULL)
			return NULL;
		lz->nodes = v;
		lz->ncap = c;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	memcpy(n->name, name, len);
	n->name_len = len;
	n->zone = z;
	s = slot_get(lz, n->name, n->name_len);
	if (s == NULL) {
		free(n);
		return NULL;
	}
	s->node = n;
	if (z->name_len == len)
		z->apex = n;
	lz->nodes[lz->nnodes++] = n;
	return n;
}

static void
lz_report(FILE *err, const char *file, int line, const char *key,
    const char *value, const char *why)
{
	if (err != NULL)
		fprintf(err, "%s:%d: %s: %s: %s\n", file ? file : "-", line,
		    key, value, why);
	else
		log_err("%s:%d: %s: %s: %s", file ? file : "-", line, key,
		    value, why);
}

static uint32_t
soa_minimum(const struct lz_rr *rr)
{
	const uint8_t *p;

	if (rr->rdlen < 20)
		return rr->ttl;
	p = rr->rdata + rr->rdlen - 4;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

/*
 * Enter one RR.  Returns 0, 1 if it duplicates one already present
 * (ignored), -1 on allocation failure, or -2 with *why set.
 */
static int
rr_enter(struct local_zones *lz, const struct dns_rr *rr, const char **why)
{
	struct lz_zone *z;
	struct lz_node *n;
	struct lz_rr *e;
	size_t i;

	z = zone_lookup(lz, rr->owner, rr->owner_len);
	if (z == NULL) {
		/* Unbound: local-data without local-zone is transparent */
		z = zone_add(lz, rr->owner, rr->owner_len, LZ_TRANSPARENT,
		    false);
		if (z == NULL)
			return -1;
	}
	n = node_get(lz, rr->owner, rr->owner_len, z);
	if (n == NULL)
		return -1;
	for (i = 0; i < n->nrr; i++) {
		e = &n->rrs[i];
		if ((rr->type == DNS_T_CNAME) != (e->type == DNS_T_CNAME)) {
			*why = "CNAME and other data at the same name";
			return -2;
		}
		if (e->type == DNS_T_CNAME && rr->type == DNS_T_CNAME &&
		    (e->rdlen != rr->rdlen ||
		    memcmp(e->rdata, rr->rdata, rr->rdlen) != 0)) {
			*why = "more than one CNAME at the same name";
			return -2;
		}
		if (e->type == rr->type && e->rclass == rr->rclass &&
		    e->rdlen == rr->rdlen &&
		    memcmp(e->rdata, rr->rdata, rr->rdlen) == 0)
			return 1;
	}
	if (n->nrr == n->cap) {
		size_t c = n->cap ? n->cap * 2 : 4;
		struct lz_rr *v = realloc(n->rrs, c * sizeof(*v));

		if (v == NULL)
			return -1;
		n->rrs = v;
		n->cap = c;
	}
	e = &n->rrs[n->nrr];
	e->rdata = malloc(rr->rdlen ? rr->rdlen : 1);
	if (e->rdata == NULL)
		return -1;
	memcpy(e->rdata, rr->rdata, rr->rdlen);
	e->rdlen = rr->rdlen;
	e->type = rr->type;
	e->rclass = rr->rclass;
	e->ttl = rr->ttl;
	n->nrr++;
	if (rr->type == DNS_T_SOA && n == z->apex) {
		uint32_t min = soa_minimum(e);

		z->soa = *e;
		z->soa.ttl = min < e->ttl ? min : e->ttl;
		z->has_soa = true;
	}
	return 0;
}

/* Enter empty non-terminals between every node and its zone apex. */
static int
ents_enter(struct local_zones *lz)
{
	size_t i, nn = lz->nnodes;

	for (i = 0; i < nn; i++) {
		struct lz_node *n = lz->nodes[i];
		struct lz_zone *z = n->zone;
		size_t off = 0;

		if (z == NULL)
			continue;
		while (n->name_len - off > z->name_len) {
			off += 1 + n->name[off];
			if (n->name_len - off <= z->name_len)
				break;
			if (node_get(lz, n->name + off, n->name_len - off, z) ==
			    NULL)
				return -1;
		}
	}
	return 0;
}

/* Unbound's default local zones. */
#define LZ_DEF_SOA " 10800 IN SOA localhost. nobody.invalid. 1 3600 1200 604800 10800"
#define LZ_DEF_NS " 10800 IN NS localhost."

static const char *const lz_as112[] = {
	"10.in-addr.arpa.", "16.172.in-addr.arpa.", "17.172.in-addr.arpa.",
	"18.172.in-addr.arpa.", "19.172.in-addr.arpa.",
	"20.172.in-addr.arpa.", "21.172.in-addr.arpa.",
	"22.172.in-addr.arpa.", "23.172.in-addr.arpa.",
	"24.172.in-addr.arpa.", "25.172.in-addr.arpa.",
	"26.172.in-addr.arpa.", "27.172.in-addr.arpa.",
	"28.172.in-addr.arpa.", "29.172.in-addr.arpa.",
	"30.172.in-addr.arpa.", "31.172.in-addr.arpa.",
	"168.192.in-addr.arpa.", "0.in-addr.arpa.",
	"64.100.in-addr.arpa.", "65.100.in-addr.arpa.",
	"66.100.in-addr.arpa.", "67.100.in-addr.arpa.",
	"68.100.in-addr.arpa.", "69.100.in-addr.arpa.",
	"70.100.in-addr.arpa.", "71.100.in-addr.arpa.",
	"72.100.in-addr.arpa.", "73.100.in-addr.arpa.",
	"74.100.in-addr.arpa.", "75.100.in-addr.arpa.",
	"76.100.in-addr.arpa.", "77.100.in-addr.arpa.",
	"78.100.in-addr.arpa.", "79.100.in-addr.arpa.",
	"80.100.in-addr.arpa.", "81.100.in-addr.arpa.",
	"82.100.in-addr.arpa.", "83.100.in-addr.arpa.",
	"84.100.in-addr.arpa.", "85.100.in-addr.arpa.",
	"86.100.in-addr.arpa.", "87.100.in-addr.arpa.",
	"88.100.in-addr.arpa.", "89.100.in-addr.arpa.",
	"90.100.in-addr.arpa.", "91.100.in-addr.arpa.",
	"92.100.in-addr.arpa.", "93.100.in-addr.arpa.",
	"94.100.in-addr.arpa.", "95.100.in-addr.arpa.",
	"96.100.in-addr.arpa.", "97.100.in-addr.arpa.",
	"98.100.in-addr.arpa.", "99.100.in-addr.arpa.",
	"100.100.in-addr.arpa.", "101.100.in-addr.arpa.",
	"102.100.in-addr.arpa.", "103.100.in-addr.arpa.",
	"104.100.in-addr.arpa.", "105.100.in-addr.arpa.",
	"106.100.in-addr.arpa.", "107.100.in-addr.arpa.",
	"108.100.in-addr.arpa.", "109.100.in-addr.arpa.",
	"110.100.in-addr.arpa.", "111.100.in-addr.arpa.",
	"112.100.in-addr.arpa.", "113.100.in-addr.arpa.",
	"114.100.in-addr.arpa.", "115.100.in-addr.arpa.",
	"116.100.in-addr.arpa.", "117.100.in-addr.arpa.",
	"118.100.in-addr.arpa.", "119.100.in-addr.arpa.",
	"120.100.in-addr.arpa.", "121.100.in-addr.arpa.",
	"122.100.in-addr.arpa.", "123.100.in-addr.arpa.",
	"124.100.in-addr.arpa.", "125.100.in-addr.arpa.",
	"126.100.in-addr.arpa.", "127.100.in-addr.arpa.",
	"254.169.in-addr.arpa.", "2.0.192.in-addr.arpa.",
	"100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
	"255.255.255.255.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.",
	"a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
	"8.b.d.0.1.0.0.2.ip6.arpa.",
	NULL
};

#define LZ_IP6_LOOPBACK \
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa."

struct lz_default {
	const char *name;
	int type;
	const char *extra[3];	/* data besides NS and SOA at the apex */
};

static const struct lz_default lz_defaults[] = {
	{ "localhost.", LZ_REDIRECT,
	    { "localhost. 10800 IN A 127.0.0.1",
	      "localhost. 10800 IN AAAA ::1", NULL } },
	{ "127.in-addr.arpa.", LZ_STATIC,
	    { "1.0.0.127.in-addr.arpa. 10800 IN PTR localhost.", NULL, NULL } },
	{ LZ_IP6_LOOPBACK, LZ_STATIC,
	    { LZ_IP6_LOOPBACK " 10800 IN PTR localhost.", NULL, NULL } },
	{ "onion.", LZ_STATIC, { NULL, NULL, NULL } },
	{ "test.", LZ_STATIC, { NULL, NULL, NULL } },
	{ "invalid.", LZ_STATIC, { NULL, NULL, NULL } },
	{ "home.arpa.", LZ_STATIC, { NULL, NULL, NULL } },
};

/* Configured zone names, parsed once, to decide which defaults stay. */
struct lz_cfgname {
	uint8_t name[DNS_MAX_NAME];
	size_t len;
};

static bool
default_removed(const struct lz_cfgname *cn, size_t ncn, const uint8_t *name,
    size_t len)
{
	size_t i;

	for (i = 0; i < ncn; i++)
		if (dns_name_subdomain(name, len, cn[i].name, cn[i].len))
			return true;
	return false;
}

static int
default_enter(struct local_zones *lz, const char *zname, int type,
    const char *const *extra, size_t nextra, struct dns_rr *rr)
{
	char line[512];
	const char *why = NULL;
	struct lz_zone *z;
	size_t i;
	int rc;

	if (dns_name_from_text(zname, rr->owner) == 0)
		return -1;
	z = zone_add(lz, rr->owner, dns_name_len(rr->owner, DNS_MAX_NAME),
	    type, true);
	if (z == NULL)
		return -1;
	for (i = 0; i < 2 + nextra; i++) {
		const char *text;

		if (i == 0) {
			snprintf(line, sizeof(line), "%s" LZ_DEF_NS, zname);
			text = line;
		} else if (i == 1) {
			snprintf(line, sizeof(line), "%s" LZ_DEF_SOA, zname);
			text = line;
		} else {
			text = extra[i - 2];
			if (text == NULL)
				break;
		}
		if (dns_rr_from_text(text, LZ_DEFAULT_TTL, rr, &why) < 0)
			return -1;
		rc = rr_enter(lz, rr, &why);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void
localzone_free(struct local_zones *lz)
{
	size_t i, j;

	if (lz == NULL)
		return;
	for (i = 0; i < lz->nnodes; i++) {
		for (j = 0; j < lz->nodes[i]->nrr; j++)
			free(lz->nodes[i]->rrs[j].rdata);
		free(lz->nodes[i]->rrs);
		free(lz->nodes[i]);
	}
	for (i = 0; i < lz->nzones; i++)
		free(lz->zones[i]);
	free(lz->nodes);
	free(lz->zones);
	free(lz->slots);
	if (lz->lock_init)
		pthread_rwlock_destroy(&lz->lock);
	free(lz);
}

/*
 * Build; returns the number of errors (reported), with *out the zones
 * (NULL on any error or allocation failure; -1 for the latter).
 */
static int
localzone_build(const struct config *cfg, FILE *err,
    struct local_zones **out)
{
	struct local_zones *lz;
	const struct cfg_str2list *zc;
	const struct cfg_strlist *dc;
	struct lz_cfgname *cn = NULL;
	size_t ncn = 0, nz = 0, i;
	struct dns_rr *rr;
	int nerr = 0;
	char value[600];

	*out = NULL;
	lz = calloc(1, sizeof(*lz));
	rr = malloc(sizeof(*rr));
	for (zc = cfg->local_zones; zc != NULL; zc = zc->next)
		nz++;
	cn = calloc(nz ? nz : 1, sizeof(*cn));
	if (lz == NULL || rr == NULL || cn == NULL)
		goto oom;
	if (pthread_rwlock_init(&lz->lock, NULL) != 0)
		goto oom;
	lz->lock_init = true;

	/* 1. configured zones */
	for (zc = cfg->local_zones; zc != NULL; zc = zc->next) {
		uint8_t name[DNS_MAX_NAME];
		size_t len;
		int t;

		snprintf(value, sizeof(value), "%s %s", zc->str,
		    zc->str2 ? zc->str2 : "");
		len = dns_name_from_text(zc->str, name);
		if (len == 0) {
			lz_report(err, zc->file, zc->line, "local-zone", value,
			    "bad zone name");
			nerr++;
			continue;
		}
		t = zc->str2 ? lz_type_parse(zc->str2) : -1;
		if (t < 0) {
			lz_report(err, zc->file, zc->line, "local-zone", value,
			    "unknown zone type");
			nerr++;
			continue;
		}
		memcpy(cn[ncn].name, name, len);
		cn[ncn++].len = len;
		if (t == LZ_NODEFAULT)
			continue;
		if (zone_add(lz, name, len, t, false) == NULL)
			goto oom;
	}

	/* 2. defaults not overridden */
	for (i = 0; i < sizeof(lz_defaults) / sizeof(lz_defaults[0]); i++) {
		uint8_t name[DNS_MAX_NAME];
		size_t len = dns_name_from_text(lz_defaults[i].name, name);

		if (len == 0 || default_removed(cn, ncn, name, len))
			continue;
		if (default_enter(lz, lz_defaults[i].name, lz_defaults[i].type,
		    lz_defaults[i].extra, 3, rr) < 0)
			goto oom;
	}
	for (i = 0; lz_as112[i] != NULL; i++) {
		uint8_t name[DNS_MAX_NAME];
		size_t len = dns_name_from_text(lz_as112[i], name);

		if (len == 0 || default_removed(cn, ncn, name, len))
			continue;
		if (default_enter(lz, lz_as112[i], LZ_STATIC, NULL, 0, rr) < 0)
			goto oom;
	}

	/* 3. local-data */
	for (dc = cfg->local_data; dc != NULL; dc = dc->next) {
		const char *why = "cannot parse";
		int rc;

		if (dns_rr_from_text(dc->str, LZ_DEFAULT_TTL, rr, &why) < 0) {
			lz_report(err, dc->file, dc->line, "local-data", dc->str,
			    why ? why : "cannot parse");
			nerr++;
			continue;
		}
		if (rr->type == DNS_T_OPT || rr->type == DNS_T_ANY ||
		    rr->type == DNS_T_AXFR || rr->type == DNS_T_IXFR) {
			lz_report(err, dc->file, dc->line, "local-data", dc->str,
			    "this type cannot be local data");
			nerr++;
			continue;
		}
		rc = rr_enter(lz, rr, &why);
		if (rc == -1)
			goto oom;
		if (rc == -2) {
			lz_report(err, dc->file, dc->line, "local-data", dc->str,
			    why);
			nerr++;
		}
	}
	if (ents_enter(lz) < 0)
		goto oom;
	free(rr);
	free(cn);
	if (nerr > 0) {
		localzone_free(lz);
		return nerr;
	}
	*out = lz;
	return 0;
oom:
	log_err("local zones: out of memory");
	free(rr);
	free(cn);
	localzone_free(lz);
	return -1;
}

struct local_zones *
localzone_new(const struct config *cfg, FILE *err)
{
	struct local_zones *lz;

	(void)localzone_build(cfg, err, &lz);
	return lz;
}

int
localzone_check(const struct config *cfg, FILE *err)
{
	struct local_zones *lz;
	int n = localzone_build(cfg, err, &lz);

	localzone_free(lz);
	if (n < 0) {
		if (err != NULL)
			fprintf(err, "local zones: out of memory\n");
		return 1;
	}
	return n;
}

int
localzone_reset(struct local_zones *lz, const struct config *cfg)
{
	struct local_zones *n;
	size_t i;

	if (localzone_build(cfg, NULL, &n) != 0 || n == NULL)
		return -1;
	pthread_rwlock_wrlock(&lz->lock);
#define LZ_SWAP(f) do {							\
		__typeof__(lz->f) tmp_ = lz->f;				\
		lz->f = n->f;						\
		n->f = tmp_;						\
	} while (0)
	LZ_SWAP(slots);
	LZ_SWAP(nslots);
	LZ_SWAP(used);
	LZ_SWAP(zones);
	LZ_SWAP(nzones);
	LZ_SWAP(zcap);
	LZ_SWAP(nodes);
	LZ_SWAP(nnodes);
	LZ_SWAP(ncap);
#undef LZ_SWAP
	/* tld_bits only grow (a superset is still right, and readers
	 * look at them without the lock): add the new table's */
	for (i = 0; i < LZ_TLD_WORDS; i++)
		__atomic_fetch_or(&lz->tld_bits[i], n->tld_bits[i],
		    __ATOMIC_RELAXED);
	if (n->any_root)
		__atomic_store_n(&lz->any_root, true, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&lz->lock);
	localzone_free(n);	/* now holds the old zones */
	return 0;
}

/* The lock is not part of the table's value: lock through const. */
static void
lz_rdlock(const struct local_zones *lz)
{
	pthread_rwlock_rdlock((pthread_rwlock_t *)&lz->lock);
}

static void
lz_unlock(const struct local_zones *lz)
{
	pthread_rwlock_unlock((pthread_rwlock_t *)&lz->lock);
}

size_t
localzone_count(const struct local_zones *lz)
{
	size_t n;

	lz_rdlock(lz);
	n = lz->nzones;
	lz_unlock(lz);
	return n;
}

int
localzone_type_of(const struct local_zones *lz, const uint8_t *name,
    size_t name_len)
{
	struct lz_zone *z;
	int t;

	lz_rdlock(lz);
	z = zone_find(lz, name, name_len);
	t = z != NULL ? z->type : -1;
	lz_unlock(lz);
	return t;
}

/* ------------------------------------------------------------ answering */

struct lz_out {
	struct dns_buf b;
	const struct dns_query *q;
	const struct dns_reply_opts *o;
};

static void
answer_soa(struct lz_out *w, const struct lz_zone *z)
{
	if (z->has_soa)
		dns_reply_add_rr(&w->b, 2, z->name, z->name_len, DNS_T_SOA,
		    z->soa.rclass, z->soa.ttl, z->soa.rdata, z->soa.rdlen);
}

static size_t
answer_negative(struct lz_out *w, const struct lz_zone *z, int rcode)
{
	dns_reply_start(&w->b, w->q, rcode, DNS_AA);
	answer_soa(w, z);
	return dns_reply_finish(&w->b, w->q, w->o);
}

static size_t
answer_rcode(struct lz_out *w, int rcode)
{
	dns_reply_start(&w->b, w->q, rcode, DNS_AA);
	return dns_reply_finish(&w->b, w->q, w->o);
}

/*
 * Answer from the records of node 'n' (owner written as the query name).
 * Returns the length, 0 if the node has nothing for the type (nothing
 * written), or (size_t)-1 if writing failed.
 */
static size_t
answer_data(struct lz_out *w, const struct lz_node *n)
{
	const struct dns_query *q = w->q;
	size_t i, match = 0, len;
	uint16_t want = q->qtype;

	if (n == NULL || n->nrr == 0)
		return 0;
	for (i = 0; i < n->nrr; i++)
		if (want == DNS_T_ANY || n->rrs[i].type == want)
			match++;
	if (match == 0) {
		/* Unbound: a CNAME answers any type (not followed) */
		for (i = 0; i < n->nrr; i++)
			if (n->rrs[i].type == DNS_T_CNAME)
				break;
		if (i == n->nrr)
			return 0;
		want = DNS_T_CNAME;
	}
	dns_reply_start(&w->b, q, DNS_RCODE_NOERROR, DNS_AA);
	for (i = 0; i < n->nrr; i++) {
		const struct lz_rr *r = &n->rrs[i];

		if (want == DNS_T_ANY || r->type == want)
			dns_reply_add_rr(&w->b, 1, q->qname, q->qname_len,
			    r->type, r->rclass, r->ttl, r->rdata, r->rdlen);
	}
	len = dns_reply_finish(&w->b, q, w->o);
	return len ? len : (size_t)-1;
}

static int
lz_answer_locked(const struct local_zones *lz, const struct dns_query *q,
    const struct dns_reply_opts *o, uint8_t *out, size_t cap, size_t *len,
    int *zone_type)
{
	const struct lz_zone *z;
	const struct lz_node *n;
	struct lz_out w;
	size_t r;

	z = zone_lookup(lz, q->qname, q->qname_len);
	if (z == NULL)
		return LZ_RES_NONE;
	if (zone_type != NULL)
		*zone_type = z->type;
	n = node_find(lz, q->qname, q->qname_len);
	if (n != NULL && n->zone != z)
		n = NULL;
	w.b.p = out;
	w.b.len = 0;
	w.b.cap = cap;
	w.b.overflow = false;
	w.q = q;
	w.o = o;

	switch (z->type) {
	case LZ_ALWAYS_TRANSPARENT:
	case LZ_NODEFAULT:
		return LZ_RES_NONE;
	case LZ_ALWAYS_REFUSE:
		*len = answer_rcode(&w, DNS_RCODE_REFUSED);
		return LZ_RES_ANSWER;
	case LZ_ALWAYS_NXDOMAIN:
		*len = answer_negative(&w, z, DNS_RCODE_NXDOMAIN);
		return LZ_RES_ANSWER;
	case LZ_ALWAYS_NODATA:
		*len = answer_negative(&w, z, DNS_RCODE_NOERROR);
		return LZ_RES_ANSWER;
	case LZ_REDIRECT:
		r = answer_data(&w, z->apex);
		if (r == 0)
			r = answer_negative(&w, z, DNS_RCODE_NOERROR);
		*len = r == (size_t)-1 ? 0 : r;
		return LZ_RES_ANSWER;
	default:
		break;
	}

	/* the types that answer matching local data first */
	r = answer_data(&w, n);
	if (r != 0) {
		*len = r == (size_t)-1 ? 0 : r;
		return LZ_RES_ANSWER;
	}
	switch (z->type) {
	case LZ_DENY:
	case LZ_INFORM_DENY:
		return LZ_RES_DROP;
	case LZ_REFUSE:
		*len = answer_rcode(&w, DNS_RCODE_REFUSED);
		return LZ_RES_ANSWER;
	case LZ_STATIC:
		*len = answer_negative(&w, z, n != NULL ? DNS_RCODE_NOERROR :
		    DNS_RCODE_NXDOMAIN);
		return LZ_RES_ANSWER;
	case LZ_TRANSPARENT:
	case LZ_INFORM:
		/* the name has data, not of this type: NODATA */
		if (n != NULL && n->nrr > 0) {
			*len = answer_negative(&w, z, DNS_RCODE_NOERROR);
			return LZ_RES_ANSWER;
		}
		return LZ_RES_NONE;
	case LZ_TYPETRANSPARENT:
	default:
		return LZ_RES_NONE;
	}
}

int
localzone_answer(const struct local_zones *lz, const struct dns_query *q,
    const struct dns_reply_opts *o, uint8_t *out, size_t cap, size_t *len,
    int *zone_type)
{
	int r;

	*len = 0;
	if (zone_type != NULL)
		*zone_type = -1;
	if (lz == NULL || (q->qclass != DNS_C_IN && q->qclass != DNS_T_ANY))
		return LZ_RES_NONE;
	/* most names are under no local zone: no lock for those (a zone
	 * being added meanwhile answers from the next query on) */
	if (!tld_maybe(lz, q->qname, q->qname_len))
		return LZ_RES_NONE;
	lz_rdlock(lz);
	r = lz_answer_locked(lz, q, o, out, cap, len, zone_type);
	lz_unlock(lz);
	return r;
}

/* ------------------------------------------------------------ run time */

static void
node_free(struct lz_node *n)
{
	size_t j;

	for (j = 0; j < n->nrr; j++)
		free(n->rrs[j].rdata);
	free(n->rrs);
	free(n);
}

/*
 * Rebuild what derives from the zone and node lists after an edit:
 * empty nodes dropped (empty non-terminals are entered again), each node
 * in its most specific zone, apex and SOA of each zone, the hash.
 * Write lock held.  Returns 0, or -1 on allocation failure (the table
 * then answers as if the missing names were absent).
 */
static int
lz_reindex(struct local_zones *lz)
{
	size_t i, j, k;

	free(lz->slots);
	lz->slots = NULL;
	lz->nslots = 0;
	lz->used = 0;
	for (i = 0, k = 0; i < lz->nnodes; i++) {
		if (lz->nodes[i]->nrr == 0)
			node_free(lz->nodes[i]);
		else
			lz->nodes[k++] = lz->nodes[i];
	}
	lz->nnodes = k;
	for (i = 0; i < lz->nzones; i++) {
		struct lz_zone *z = lz->zones[i];
		struct lz_slot *s = slot_get(lz, z->name, z->name_len);

		if (s == NULL)
			return -1;
		s->zone = z;
		z->apex = NULL;
		z->has_soa = false;
	}
	for (i = 0; i < lz->nnodes; i++) {
		struct lz_node *n = lz->nodes[i];
		struct lz_slot *s;

		n->zone = zone_lookup(lz, n->name, n->name_len);
		s = slot_get(lz, n->name, n->name_len);
		if (s == NULL)
			return -1;
		s->node = n;
		if (n->zone == NULL)
			continue;	/* its zone was removed */
		if (n->zone->name_len != n->name_len)
			continue;
		n->zone->apex = n;
		for (j = 0; j < n->nrr; j++) {
			if (n->rrs[j].type == DNS_T_SOA) {
				uint32_t min = soa_minimum(&n->rrs[j]);

				n->zone->soa = n->rrs[j];
				if (min < n->zone->soa.ttl)
					n->zone->soa.ttl = min;
				n->zone->has_soa = true;
				break;
			}
		}
	}
	return ents_enter(lz);
}

/* Remove the nodes whose owner is 'name' (all) or in zone 'z'. */
static void
nodes_clear(struct local_zones *lz, const uint8_t *name, size_t len,
    const struct lz_zone *z)
{
	size_t i, j;

	for (i = 0; i < lz->nnodes; i++) {
		struct lz_node *n = lz->nodes[i];

		if ((name != NULL && n->name_len == len &&
		    memcmp(n->name, name, len) == 0) ||
		    (z != NULL && n->zone == z)) {
			for (j = 0; j < n->nrr; j++)
				free(n->rrs[j].rdata);
			n->nrr = 0;	/* lz_reindex frees it */
		}
	}
}

int
localzone_zone_add(struct local_zones *lz, const char *name,
    const char *type, char *err, size_t errlen)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t len = dns_name_from_text(name, wire);
	int t = lz_type_parse(type), rc = 0;

	if (len == 0) {
		snprintf(err, errlen, "'%s' is not a valid domain name", name);
		return -1;
	}
	if (t < 0) {
		snprintf(err, errlen, "'%s' is not a local-zone type", type);
		return -1;
	}
	pthread_rwlock_wrlock(&lz->lock);
	if (zone_add(lz, wire, len, t, false) == NULL || lz_reindex(lz) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	pthread_rwlock_unlock(&lz->lock);
	return rc;
}

int
localzone_zone_remove(struct local_zones *lz, const char *name, char *err,
    size_t errlen)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t len = dns_name_from_text(name, wire), i;
	struct lz_zone *z;
	int rc = 1;

	if (len == 0) {
		snprintf(err, errlen, "'%s' is not a valid domain name", name);
		return -1;
	}
	pthread_rwlock_wrlock(&lz->lock);
	z = zone_find(lz, wire, len);
	if (z != NULL) {
		/* the zone goes with its data (as Unbound) */
		nodes_clear(lz, NULL, 0, z);
		for (i = 0; i < lz->nzones; i++)
			if (lz->zones[i] == z)
				break;
		memmove(&lz->zones[i], &lz->zones[i + 1],
		    (lz->nzones - i - 1) * sizeof(lz->zones[0]));
		lz->nzones--;
		free(z);
		rc = 0;
		if (lz_reindex(lz) < 0) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
	}
	pthread_rwlock_unlock(&lz->lock);
	return rc;
}

int
localzone_data_add(struct local_zones *lz, const char *text, char *err,
    size_t errlen)
{
	struct dns_rr *rr = malloc(sizeof(*rr));
	const char *why = "cannot parse";
	int rc;

	if (rr == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (dns_rr_from_text(text, LZ_DEFAULT_TTL, rr, &why) < 0) {
		snprintf(err, errlen, "'%s': %s", text, why ? why :
		    "cannot parse");
		free(rr);
		return -1;
	}
	if (rr->type == DNS_T_OPT || rr->type == DNS_T_ANY ||
	    rr->type == DNS_T_AXFR || rr->type == DNS_T_IXFR) {
		snprintf(err, errlen, "'%s': this type cannot be local data",
		    text);
		free(rr);
		return -1;
	}
	pthread_rwlock_wrlock(&lz->lock);
	rc = rr_enter(lz, rr, &why);
	if (rc == -2)
		snprintf(err, errlen, "'%s': %s", text, why);
	else if (rc == -1 || lz_reindex(lz) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	pthread_rwlock_unlock(&lz->lock);
	free(rr);
	return rc < 0 ? -1 : 0;
}

int
localzone_data_remove(struct local_zones *lz, const char *name, char *err,
    size_t errlen)
{
	uint8_t wire[DNS_MAX_NAME];
	size_t len = dns_name_from_text(name, wire);
	int rc = 0;

	if (len == 0) {
		snprintf(err, errlen, "'%s' is not a valid domain name", name);
		return -1;
	}
	pthread_rwlock_wrlock(&lz->lock);
	nodes_clear(lz, wire, len, NULL);
	if (lz_reindex(lz) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	pthread_rwlock_unlock(&lz->lock);
	return rc;
}

void
localzone_list_zones(struct local_zones *lz, FILE *out)
{
	char name[DNS_MAX_NAME * 4 + 2];
	size_t i;

	pthread_rwlock_rdlock(&lz->lock);
	for (i = 0; i < lz->nzones; i++) {
		const struct lz_zone *z = lz->zones[i];

		if (dns_name_to_text(z->name, z->name_len, name,
		    sizeof(name)) == 0)
			fprintf(out, "%s %s\n", name, lz_type_name(z->type));
	}
	pthread_rwlock_unlock(&lz->lock);
}

int
localzone_list_data(struct local_zones *lz, FILE *out)
{
	/* one RR as a message fragment: owner, fixed part, rdata */
	uint8_t *wire = malloc(DNS_MAX_NAME + 10 + 65535);
	size_t tcap = 4 * 65535 + 1024, i, j;
	char *text = malloc(tcap);

	if (wire == NULL || text == NULL) {
		free(wire);
		free(text);
		return -1;
	}
	pthread_rwlock_rdlock(&lz->lock);
	for (i = 0; i < lz->nnodes; i++) {
		const struct lz_node *n = lz->nodes[i];

		for (j = 0; j < n->nrr; j++) {
			const struct lz_rr *r = &n->rrs[j];
			uint8_t *p = wire + n->name_len;
			size_t next;

			memcpy(wire, n->name, n->name_len);
			p[0] = (uint8_t)(r->type >> 8);
			p[1] = (uint8_t)r->type;
			p[2] = (uint8_t)(r->rclass >> 8);
			p[3] = (uint8_t)r->rclass;
			p[4] = (uint8_t)(r->ttl >> 24);
			p[5] = (uint8_t)(r->ttl >> 16);
			p[6] = (uint8_t)(r->ttl >> 8);
			p[7] = (uint8_t)r->ttl;
			p[8] = (uint8_t)(r->rdlen >> 8);
			p[9] = (uint8_t)r->rdlen;
			memcpy(p + 10, r->rdata, r->rdlen);
			if (dns_rr_to_text(wire, n->name_len + 10 + r->rdlen,
			    0, &next, text, tcap) == 0)
				fprintf(out, "%s\n", text);
		}
	}
	pthread_rwlock_unlock(&lz->lock);
	free(wire);
	free(text);
	return 0;
}
