"""
testdata/bb/test_stat_values.py - exact statistics after a known mix of
queries, the way Unbound's stat_values test checks unbound-control.

One cairnd with a static local zone, NSD as the upstream, DoT and DoH
on; a fixed list of queries over UDP, TCP, DoT and DoH (hits, misses,
local answers, NXDOMAIN, NODATA, REFUSED by access-control, FORMERR,
several types, with and without EDNS and DO); then
`cairn-control stats_noreset`: every counter listed below has exactly
its value, every other counter printed is 0 (except the clock, the
cache's memory gauge and the recursion time, whose histogram must add
up to num.recursivereplies).  Then `stats` resets: the next
stats_noreset shows 0 for every counter.
"""

import struct

import dns.flags
import dns.rcode

import harness
from harness import H2Client, TcpConn, make_query, parse_answer

LOCAL = "h.loc.lab."
LOCAL_ADDR = "192.0.2.50"
SERVER = """
local-zone: "loc.lab." static
local-data: "%s 300 IN A %s"
access-control: 127.0.0.2/32 refuse
""" % (LOCAL, LOCAL_ADDR)

# Values that are not counters: the clock, a memory gauge, and the
# recursion time (checked against the histogram below).
NOT_COUNTERS_PREFIX = ("time.", "histogram.")
NOT_COUNTERS = ("mem.cache.message", "recursion.time.avg",
                "recursion.time.median")


def formerr_query():
    """A header with QDCOUNT 0: FORMERR (it has RD set)."""
    return struct.pack("!HHHHHH", 0x4242, 0x0100, 0, 0, 0, 0)


def by_total(st):
    """total.X and the unprefixed names; threadN.* are checked apart."""
    return {k[len("total."):] if k.startswith("total.") else k: v
            for k, v in st.items() if not k.startswith("thread")}


def test_stat_values(make_cairnd, nsd, certs):
    d = make_cairnd(upstream=nsd.port, doh=True, dot=True,
                    server_lines=SERVER, ready="port")
    d.wait_ready("udp")
    # the readiness probe (localhost A) counted: start from zero
    harness.control_stats(d.conf, reset=True)

    def u(name, rdtype="A", rcode=dns.rcode.NOERROR, **kw):
        r = d.udp(name, rdtype, **kw)
        assert r is not None and r.rcode() == rcode, (name, rdtype, r)
        return r

    # ---- UDP: 11 answered from 127.0.0.1, 1 refused from 127.0.0.2
    u("www.example.lab.")                       # miss
    u("www.example.lab.")                       # hit
    u("www.example.lab.", "AAAA")               # miss
    u("txt.example.lab.", "TXT")                # miss
    u("txt.example.lab.", "TXT", edns=False)    # hit (no EDNS)
    u("nope.example.lab.", rcode=dns.rcode.NXDOMAIN)    # miss
    u("nope.example.lab.", rcode=dns.rcode.NXDOMAIN)    # hit
    r = u(LOCAL)                                # local: hit
    assert r.answer[0][0].address == LOCAL_ADDR
    r = u(LOCAL, "AAAA")                        # local NODATA: hit
    assert not r.answer
    q = make_query("www.example.lab.", "A")
    q.want_dnssec(True)                         # other key (DO): miss
    r = harness.udp_msg(q, d.port)
    assert r.rcode() == dns.rcode.NOERROR
    raw = harness.udp(formerr_query(), d.port)  # FORMERR
    assert raw is not None and raw[3] & 0xf == dns.rcode.FORMERR
    u("www.example.lab.", src="127.0.0.2", rcode=dns.rcode.REFUSED)

    # ---- TCP: 3 queries on one connection
    c = TcpConn(d.port, timeout=5 * harness.SLOW)
    try:
        assert c.query(make_query("www.example.lab.")).rcode() == 0  # hit
        assert c.query(make_query("mx.example.lab.", "MX")) \
            .rcode() == 0                                           # miss
        assert c.query(make_query(LOCAL)).rcode() == 0              # hit
    finally:
        c.close()

    # ---- DoT: 2 queries
    c = TcpConn(d.tls_port, tls=certs["ca"], alpn=["dot"],
                timeout=5 * harness.SLOW)
    try:
        assert c.query(make_query("www.example.lab.", "AAAA")) \
            .rcode() == 0                                           # hit
        assert c.query(make_query("ns1.example.lab.")).rcode() == 0  # miss
    finally:
        c.close()

    # ---- DoH: 2 queries (POST, GET)
    with H2Client(d.https_port, certs["ca"]) as h:
        h.handshake()
        m = parse_answer(h.query(make_query("www.example.lab.",
                                            qid=0).to_wire()))    # hit
        assert m.rcode() == 0
        m = parse_answer(h.query(make_query("mail.example.lab.",
                                            qid=0).to_wire(),
                                 method="GET"))                   # miss
        assert m.rcode() == 0

    # connections close asynchronously: wait (bounded) for the gauges
    d.check_doh_counters(expected_https=2)
    st = {}

    def idle():
        nonlocal st
        st = harness.control_stats(d.conf)
        return st.get("total.tcpusage") == 0
    harness.wait_until(idle, 5 * harness.SLOW, step=0.1,
                       what="total.tcpusage == 0")

    udp_n, tcp_n, dot_n, doh_n = 12, 3, 2, 2
    refused = 1                     # from 127.0.0.2: not a num.queries
    queries = udp_n - refused + tcp_n + dot_n + doh_n
    formerr = 1                     # counted, but neither hit nor miss
    misses = 5 + 1 + 1 + 1          # UDP, TCP, DoT, DoH
    hits = 5 + 2 + 1 + 1
    assert hits + misses + formerr == queries
    expected = {
        "num.queries": queries,
        "num.cachehits": hits,
        "num.cachemiss": misses,
        "num.recursivereplies": misses,
        "num.query.udp": udp_n,
        # stream transports all count as tcp, the encrypted ones as tls
        "num.query.tcp": tcp_n + dot_n + doh_n,
        "num.query.tls": dot_n + doh_n,
        "num.query.https": doh_n,
        "num.query.udpout": misses,     # NSD answers every miss over UDP
        "num.tcp.accepted": 3,          # one TCP, one DoT, one DoH
        "num.http.status.200": doh_n,
        "num.query.type.A": 6 + 2 + 1 + 2,
        "num.query.type.AAAA": 2 + 1,
        "num.query.type.TXT": 2,
        "num.query.type.MX": 1,
        "num.query.class.IN": queries - formerr,
        "num.query.opcode.QUERY": queries,
        "num.query.flags.RD": queries,
        "num.query.edns.present": queries - formerr - 1,
        "num.query.edns.DO": 1,
        "num.answer.rcode.NOERROR": queries + refused - formerr - 2 - 1,
        "num.answer.rcode.NXDOMAIN": 2,
        "num.answer.rcode.FORMERR": formerr,
        "num.answer.rcode.REFUSED": refused,
        "num.answer.rcode.nodata": 1,   # the local AAAA
        "unwanted.queries": refused,
        "mem.http.query_buffer": 0,
        "mem.http.response_buffer": 0,
    }
    tot = by_total(st)
    wrong = {k: (tot.get(k), v) for k, v in expected.items()
             if tot.get(k) != v}
    assert wrong == {}, "name: (got, expected): %r" % wrong
    others = {k: v for k, v in tot.items()
              if k not in expected and v != 0 and
              not k.startswith(NOT_COUNTERS_PREFIX) and
              k not in NOT_COUNTERS}
    assert others == {}, "should be 0: %r" % others
    # one thread: its lines are the totals
    for k, v in st.items():
        if k.startswith("thread0."):
            assert st["total." + k[len("thread0."):]] == v, k
        else:
            assert not k.startswith("thread"), k
    hist = sum(v for k, v in st.items() if k.startswith("histogram."))
    assert hist == expected["num.recursivereplies"]
    assert 0 < tot["recursion.time.avg"] < 5
    assert st["mem.cache.message"] > 0

    # stats prints the same and resets
    st2 = harness.control_stats(d.conf, reset=True)
    assert st2["total.num.queries"] == queries
    st3 = harness.control_stats(d.conf)
    left = {k: v for k, v in st3.items() if v != 0 and
            not k.startswith("time.") and k != "mem.cache.message"}
    assert left == {}, left
