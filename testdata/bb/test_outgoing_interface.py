"""
testdata/bb/test_outgoing_interface.py - outgoing-interface (Unbound's
option): the source address of upstream queries.  Every UDP query and
TCP connection to an upstream leaves from one of the addresses given for
its family, picked at random per query, with a random port still; a
reload that changes the list takes the new one; an address the host
cannot send from is a configuration error.  (DoT and DoH connections:
test_upstream_encrypted.py::test_upstream_connection_from_outgoing_interface.)
"""

import collections
import signal

import dns.rcode

import harness
from harness import SLOW


def ask_names(d, prefix, n):
    for i in range(n):
        m = d.udp("%s%d.example." % (prefix, i), timeout=5 * SLOW)
        assert m is not None and m.rcode() == dns.rcode.NOERROR, m


def test_udp_from_the_outgoing_interface(make_cairnd, fake):
    """outgoing-interface: 127.0.0.9: 30 queries (every one a miss) reach
    the upstream from 127.0.0.9, each from its own random port."""
    d = make_cairnd(upstream=fake.port,
                    server_lines="outgoing-interface: 127.0.0.9")
    ask_names(d, "o", 30)
    udp = [p for p in fake.peers if p[0] == "udp"]
    assert len(udp) == 30, fake.peers
    assert {a for _, a, _ in udp} == {"127.0.0.9"}, udp
    assert len({port for _, _, port in udp}) >= 25, udp


def test_tcp_from_the_outgoing_interface(make_cairnd, fake):
    """A truncated answer: the TCP retry comes from 127.0.0.9 too."""
    fake.set("tc.example.", "truncate")
    d = make_cairnd(upstream=fake.port,
                    server_lines="outgoing-interface: 127.0.0.9")
    m = d.udp("tc.example.", timeout=5 * SLOW)
    assert m is not None and m.rcode() == dns.rcode.NOERROR, m
    tcp = [p for p in fake.peers if p[0] == "tcp"]
    assert tcp and {a for _, a, _ in tcp} == {"127.0.0.9"}, fake.peers


def test_two_outgoing_interfaces_both_used(make_cairnd, fake):
    """Two addresses: 60 queries one after the other leave from both
    (picked per query, not per kept socket), from nowhere else."""
    d = make_cairnd(upstream=fake.port,
                    server_lines="outgoing-interface: 127.0.0.9\n"
                    "outgoing-interface: 127.0.0.10")
    ask_names(d, "t", 60)
    srcs = collections.Counter(a for p, a, _ in fake.peers if p == "udp")
    assert set(srcs) == {"127.0.0.9", "127.0.0.10"}, srcs
    assert min(srcs.values()) >= 10, srcs


def test_without_it_the_route_picks(make_cairnd, fake):
    """No outgoing-interface: from 127.0.0.1 (the route to 127.0.0.1)."""
    d = make_cairnd(upstream=fake.port)
    ask_names(d, "n", 5)
    assert {a for p, a, _ in fake.peers if p == "udp"} == {"127.0.0.1"}


def test_reload_takes_the_new_address(make_cairnd, fake):
    """SIGHUP with outgoing-interface 127.0.0.10 instead of .9: the
    queries after it leave from .10."""
    d = make_cairnd(upstream=fake.port,
                    server_lines="outgoing-interface: 127.0.0.9")
    ask_names(d, "r", 3)
    d.write_config(d.config_text("outgoing-interface: 127.0.0.10"))
    d.signal(signal.SIGHUP)

    def moved():
        before = len(fake.peers)
        m = d.udp("r%d.example." % before, timeout=1.0 * SLOW)
        return m is not None and fake.peers[-1][1] == "127.0.0.10"
    harness.wait_until(moved, 5 * SLOW, step=0.1,
                       what="queries from 127.0.0.10 after the reload")
    ask_names(d, "after", 5)
    assert {a for _, a, _ in fake.peers[-5:]} == {"127.0.0.10"}


def test_at_most_16_addresses_of_a_family(tmp_path):
    """CFG_OUTGOING_MAX: 16 IPv4 addresses are taken, the 17th is an
    error on its own line."""
    conf = tmp_path / "out.conf"
    lines = ["    outgoing-interface: 127.0.1.%d" % i for i in range(1, 18)]
    conf.write_text("server:\n" + "\n".join(lines[:16]) + "\n")
    r = harness.run([harness.program("cairn-checkconf"), str(conf)])
    assert r.returncode == 0, r.stderr
    conf.write_text("server:\n" + "\n".join(lines) + "\n")
    r = harness.run([harness.program("cairn-checkconf"), str(conf)])
    assert r.returncode == 1
    assert r.stderr.startswith("%s:18: outgoing-interface: 127.0.1.17: more "
                               "than 16 addresses of one family" % conf), \
        r.stderr


def test_config_errors(tmp_path):
    """An address the host does not have, and an address with a port:
    cairn-checkconf names the file, the line, the value and why."""
    conf = tmp_path / "out.conf"
    for line, why in (
            ("outgoing-interface: 192.0.2.1",
             "cannot send from this address: Cannot assign requested "
             "address"),
            ("outgoing-interface: 127.0.0.1@53",
             "must be an IPv4 or IPv6 address (without a port)")):
        conf.write_text("server:\n    %s\n" % line)
        r = harness.run([harness.program("cairn-checkconf"), str(conf)])
        assert r.returncode == 1
        assert r.stderr.startswith("%s:2: %s: %s" % (conf, line, why)), \
            r.stderr
