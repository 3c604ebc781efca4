"""outgoing-queries-per-port: upstream UDP queries sharing a source port
(resolver/outudp.c).  The default (one random port per query) is
test_foundation_audit.py::test_upstream_source_ports_differ."""
import collections
import concurrent.futures
import os
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


# ------------------------------------------------- sockets kept for reuse

def udp_ports_of(pid):
    """(sockets, ports): how many socket descriptors process pid holds,
    and the local ports of those of them that hold a UDP port (a socket
    that gave its port back is in no table of /proc/net/udp*)."""
    inodes = harness.socket_inodes(pid)
    ports = []
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[9] in inodes:
                    ports.append(int(p[1].split(":")[1], 16))
    return len(inodes), ports


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_kept_sockets_give_their_port_back_and_are_bounded(make_cairnd):
    """With one query per port (the default), a finished query's socket
    is kept for the next one without its port: after 40 sequential and
    then 24 concurrent misses, cairnd holds no UDP port but its listening
    one, at most 24 more sockets than before (the most in use at once),
    and the 64 queries still left from 64 different random ports."""
    ports = []
    ups = ScriptedUdpUpstream(lambda q, c: (ports.append(c[1]) or
                                           [("127.0.0.1",
                                             answer(q, "192.0.2.5"))]))
    try:
        d = make_cairnd(upstream=ups.port)
        pid = d.proc.pid
        before, _ = udp_ports_of(pid)
        for i in range(40):
            m = d.udp("k%d.lab." % i, timeout=5 * SLOW)
            assert m is not None and harness.a_addrs(m) == {"192.0.2.5"}
        # the port goes back when the reply's callback ends, just after
        # the answer left for the client: wait for it
        harness.wait_until(lambda: set(udp_ports_of(pid)[1]) == {d.port},
                           5 * SLOW, what="the upstream ports given back")
        n, _ = udp_ports_of(pid)
        assert n <= before + 1, (before, n)
        with concurrent.futures.ThreadPoolExecutor(24) as ex:
            got = list(ex.map(lambda i: d.udp("kc%d.lab." % i,
                                              timeout=5 * SLOW), range(24)))
        for m in got:
            assert m is not None and harness.a_addrs(m) == {"192.0.2.5"}
        harness.wait_until(lambda: set(udp_ports_of(pid)[1]) == {d.port},
                           5 * SLOW, what="the upstream ports given back")
        n, _ = udp_ports_of(pid)
        assert n <= before + 24, (before, n)
        assert len(ports) == 64
        assert len(set(ports)) >= 60, ports
    finally:
        ups.close()


def test_duplicate_reply_left_in_a_kept_socket(make_cairnd):
    """An upstream that sends every answer twice, the second time with
    another address.  A copy that is still queued when the socket is
    kept for the next query is read and counted in unwanted.replies (one
    that comes after finds no port); none is taken as an answer, and a
    kept socket does not keep the daemon busy.  (Which copies are queued
    depends on timing: testdata/unit/test_outudp.c covers both orders
    exactly.)"""
    def script(q, c):
        dup = dns.message.from_wire(answer(q, "192.0.2.66"))
        return [("127.0.0.1", answer(q, "192.0.2.5")),
                ("127.0.0.1", dup.to_wire())]
    ups = ScriptedUdpUpstream(script)
    try:
        d = make_cairnd(upstream=ups.port)
        for i in range(20):
            m = d.udp("dup%d.lab." % i, timeout=5 * SLOW)
            assert m is not None and harness.a_addrs(m) == {"192.0.2.5"}, m
        time.sleep(0.2)
        assert d.stats().get("unwanted.replies", 0) <= 20
        for i in range(20):     # the cached answers are the first copies
            m = d.udp("dup%d.lab." % i, timeout=5 * SLOW)
            assert m is not None and harness.a_addrs(m) == {"192.0.2.5"}, m
        cpu = cpu_seconds(d.proc.pid)
        time.sleep(1.0)
        assert cpu_seconds(d.proc.pid) - cpu < 0.3, "busy while idle"
    finally:
        ups.close()
