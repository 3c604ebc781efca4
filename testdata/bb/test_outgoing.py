"""outgoing-queries-per-port: upstream UDP queries sharing a source port
(resolver/outudp.c).  The default (one random port per query) is
test_foundation_audit.py::test_upstream_source_ports_differ."""
import collections
import concurrent.futures
import socket
import time

import dns.message
import dns.rcode

import harness
from harness import SLOW
from test_foundation_audit import ScriptedUdpUpstream, answer


def ports_of(make_cairnd, per_port, n, workers=1):
    """n queries for distinct names through an upstream that records
    the source port of each; returns (ports, cairnd)."""
    ports = []
    ups = ScriptedUdpUpstream(lambda q, c: (ports.append(c[1]) or
                                           [("127.0.0.1",
                                             answer(q, "192.0.2.5"))]))
    try:
        d = make_cairnd(upstream=ups.port, server_lines=(
            "outgoing-queries-per-port: %d\n" % per_port))
        names = ["p%d.lab." % i for i in range(n)]
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            got = list(ex.map(lambda nm: d.udp(nm, timeout=5 * SLOW),
                              names))
        for m in got:
            assert m is not None and m.rcode() == dns.rcode.NOERROR, m
            assert harness.a_addrs(m) == {"192.0.2.5"}
        assert len(ports) == n
        return ports, d
    finally:
        ups.close()


def test_ports_shared_at_most_n_times(make_cairnd):
    """With 4, no source port carries more than 4 queries, and ports are
    shared (20 quick queries do not need 20 ports)."""
    ports, _ = ports_of(make_cairnd, 4, 20)
    uses = collections.Counter(ports)
    assert max(uses.values()) <= 4, uses
    assert len(uses) < 20, uses


def test_concurrent_queries_share_ports_within_limit(make_cairnd):
    """48 queries in flight at once with 16 per port: every one answered,
    no port over 16."""
    ports, d = ports_of(make_cairnd, 16, 48, workers=16)
    uses = collections.Counter(ports)
    assert max(uses.values()) <= 16, uses
    assert len(uses) < 48, uses
    st = d.stats()
    assert st.get("num.query.udpout", 0) >= 48, st


def test_port_not_taken_for_new_queries_after_a_second(make_cairnd):
    """With 64 per port, two queries close together share a port; a query
    started more than OUTUDP_MAX_AGE_MSEC (1 s) after the socket opened
    gets a new one."""
    ports = []
    ups = ScriptedUdpUpstream(lambda q, c: (ports.append(c[1]) or
                                           [("127.0.0.1",
                                             answer(q, "192.0.2.5"))]))
    try:
        d = make_cairnd(upstream=ups.port,
                        server_lines="outgoing-queries-per-port: 64\n")
        for name in ("a1.lab.", "a2.lab."):
            assert d.udp(name, timeout=5 * SLOW) is not None
        time.sleep(1.3)
        assert d.udp("a3.lab.", timeout=5 * SLOW) is not None
    finally:
        ups.close()
    assert len(ports) == 3
    assert ports[0] == ports[1], ports
    assert ports[2] != ports[0], ports


def test_wrong_id_on_shared_port_is_unwanted(make_cairnd):
    """A reply with an ID nobody waits for, on a shared port, is counted
    in unwanted.replies and the right reply still gets through."""
    def script(q, c):
        bad = dns.message.from_wire(answer(q, "192.0.2.66"))
        bad.id = (q.id + 1) & 0xffff
        return [("127.0.0.1", bad.to_wire()),
                ("127.0.0.1", answer(q, "192.0.2.5"))]
    ups = ScriptedUdpUpstream(script)
    try:
        d = make_cairnd(upstream=ups.port,
                        server_lines="outgoing-queries-per-port: 8\n")
        for i in range(3):
            m = d.udp("w%d.lab." % i, timeout=5 * SLOW)
            assert m is not None and harness.a_addrs(m) == {"192.0.2.5"}
        assert d.stats().get("unwanted.replies", 0) >= 3
    finally:
        ups.close()


def test_refusing_upstream_fails_fast_when_shared(make_cairnd):
    """An upstream port with nobody listening (ICMP port unreachable):
    several queries on the shared socket all get SERVFAIL at once, not
    after the UDP and TCP timeouts."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    d = make_cairnd(upstream=dead,
                    server_lines="outgoing-queries-per-port: 16\n")
    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(lambda i: d.udp("r%d.lab." % i,
                                          timeout=10 * SLOW), range(8)))
    took = time.monotonic() - t
    for m in got:
        assert m is not None and m.rcode() == dns.rcode.SERVFAIL, m
    assert took < 0.9 * SLOW, "took %.2fs" % took


def test_option_bounds(tmp_path):
    """0 and 65 are refused with the file, line and value named."""
    for bad in ("0", "65"):
        conf = tmp_path / ("c%s.conf" % bad)
        conf.write_text("server:\n    outgoing-queries-per-port: %s\n" % bad)
        r = harness.run([harness.program("cairn-checkconf"), str(conf)])
        assert r.returncode != 0
        assert str(conf) in r.stderr and ":2" in r.stderr, r.stderr
        assert bad in r.stderr, r.stderr
