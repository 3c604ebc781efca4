"""access-control: deny drops, refuse answers REFUSED, allow serves
recursion only (RD=0 refused), allow_snoop also answers RD=0 from cache.
Clients use different loopback source addresses (127.0.0.0/8)."""

import socket

import dns.rcode
import pytest

import harness
from harness import SLOW, TcpConn, make_query

ACL = """access-control: 127.0.0.1/32 allow
access-control: 127.0.0.2/32 deny
access-control: 127.0.0.3/32 refuse
access-control: 127.0.0.4/32 allow
access-control: 127.0.0.5/32 allow_snoop
access-control: 127.0.0.6/31 refuse
access-control: 127.0.0.7/32 allow"""


@pytest.fixture
def d(make_cairnd, fake):
    return make_cairnd(upstream=fake.port, server_lines=ACL)


def test_deny_udp_no_answer(d):
    assert d.udp("www.acl.lab.", src="127.0.0.2", timeout=1.5) is None
    assert d.udp("localhost.", src="127.0.0.2", timeout=1.0) is None


def test_deny_tcp_no_answer(d):
    try:
        c = TcpConn(d.port, src="127.0.0.2", timeout=2 * SLOW)
    except ConnectionRefusedError:
        return
    try:
        c.send(make_query("localhost.", "A"))
        try:
            assert c.recv(timeout=2 * SLOW) is None
        except (ConnectionResetError, socket.timeout):
            pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        c.close()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_refuse(d, proto, fake):
    m = getattr(d, proto)("www.acl.lab.", src="127.0.0.3")
    assert m is not None and m.rcode() == dns.rcode.REFUSED
    assert not m.answer
    assert fake.count("www.acl.lab.") == 0


def test_longest_prefix_wins(d):
    # 127.0.0.6/31 refuse covers .6 and .7; the /32 allow for .7 wins
    m = d.udp("lp.acl.lab.", src="127.0.0.6")
    assert m.rcode() == dns.rcode.REFUSED
    m = d.udp("lp.acl.lab.", src="127.0.0.7")
    assert m.rcode() == dns.rcode.NOERROR


def test_allow(d):
    m = d.udp("www.acl.lab.", src="127.0.0.4")
    assert m.rcode() == dns.rcode.NOERROR
    assert harness.a_addrs(m) == {"192.0.2.1"}


def test_rd0_refused_for_allow_answered_for_snoop(d, fake):
    # prime the cache
    assert d.udp("snoop.acl.lab.").rcode() == dns.rcode.NOERROR
    m = d.udp("snoop.acl.lab.", src="127.0.0.4", rd=False)
    assert m.rcode() == dns.rcode.REFUSED
    m = d.udp("snoop.acl.lab.", src="127.0.0.5", rd=False)
    assert m.rcode() == dns.rcode.NOERROR
    assert harness.a_addrs(m) == {"192.0.2.1"}
    assert fake.count("snoop.acl.lab.") == 1


def test_refuse_applies_to_local_data(d):
    m = d.udp("localhost.", src="127.0.0.3")
    assert m.rcode() == dns.rcode.REFUSED


def test_counters_unaffected_by_denied(d):
    st0 = d.stats()
    for _ in range(3):
        d.udp("localhost.", src="127.0.0.2", timeout=0.3)
    d.udp("localhost.")
    st1 = d.stats()
    assert harness.stat(st1, "num.queries") - \
        harness.stat(st0, "num.queries") == 1
    assert harness.stat(st1, "unwanted.queries") - \
        harness.stat(st0, "unwanted.queries") == 3
