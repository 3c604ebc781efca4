"""local-zone types (static, transparent, refuse, deny, always_nxdomain,
redirect) and local-data, answered before the cache and the upstream."""

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

import harness

LOCAL = """local-zone: "static.lab." static
local-data: "a.static.lab. 3600 IN A 192.0.2.10"
local-data: "a.static.lab. 3600 IN A 192.0.2.11"
local-data: 'txt.static.lab. 600 IN TXT "hello world" "two"'
local-data: "mx.static.lab. IN MX 5 mail.static.lab."
local-zone: "trans.lab." transparent
local-data: "here.trans.lab. 300 IN A 192.0.2.12"
local-zone: "refuse.lab." refuse
local-zone: "deny.lab." deny
local-zone: "nx.lab." always_nxdomain
local-data: "a.nx.lab. A 192.0.2.13"
local-zone: "redir.lab." redirect
local-data: "redir.lab. 300 IN A 192.0.2.14"
local-data: "implicit.lab. 120 IN A 192.0.2.15"
"""


@pytest.fixture
def d(make_cairnd, fake):
    return make_cairnd(upstream=fake.port, server_lines=LOCAL)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_static_data(d, fake, proto):
    q = getattr(d, proto)
    m = q("a.static.lab.")
    assert m.rcode() == dns.rcode.NOERROR
    assert m.flags & dns.flags.AA
    assert harness.a_addrs(m) == {"192.0.2.10", "192.0.2.11"}
    assert harness.min_ttl(m) == 3600
    m = q("txt.static.lab.", "TXT")
    assert [r.strings for rr in m.answer for r in rr] == \
        [(b"hello world", b"two")]
    m = q("mx.static.lab.", "MX")
    assert [(r.preference, r.exchange.to_text())
            for rr in m.answer for r in rr] == [(5, "mail.static.lab.")]
    assert fake.count("a.static.lab.") == 0


def test_static_nxdomain_and_nodata(d, fake):
    m = d.udp("b.static.lab.")
    assert m.rcode() == dns.rcode.NXDOMAIN and not m.answer
    m = d.udp("a.static.lab.", "AAAA")
    assert m.rcode() == dns.rcode.NOERROR and not m.answer
    assert fake.count("b.static.lab.") == 0


def test_transparent(d, fake):
    m = d.udp("here.trans.lab.")
    assert harness.a_addrs(m) == {"192.0.2.12"}
    m = d.udp("here.trans.lab.", "AAAA")
    assert m.rcode() == dns.rcode.NOERROR and not m.answer
    assert fake.count("here.trans.lab.") == 0
    m = d.udp("elsewhere.trans.lab.")
    assert harness.a_addrs(m) == {"192.0.2.1"}
    assert fake.count("elsewhere.trans.lab.") == 1


def test_refuse_zone(d, fake):
    m = d.udp("x.refuse.lab.")
    assert m.rcode() == dns.rcode.REFUSED
    assert fake.count("x.refuse.lab.") == 0


def test_deny_zone(d, fake):
    assert d.udp("x.deny.lab.", timeout=1.5) is None
    assert fake.count("x.deny.lab.") == 0
    assert d.udp("localhost.") is not None


def test_always_nxdomain(d, fake):
    for name in ("a.nx.lab.", "b.nx.lab.", "nx.lab."):
        m = d.udp(name)
        assert m.rcode() == dns.rcode.NXDOMAIN, name
        assert not m.answer
    assert fake.count("a.nx.lab.") == 0


def test_redirect(d, fake):
    for name in ("redir.lab.", "www.redir.lab.", "a.b.c.redir.lab."):
        m = d.udp(name)
        assert m.rcode() == dns.rcode.NOERROR
        assert harness.a_addrs(m, name) == {"192.0.2.14"}, name
    assert fake.count("www.redir.lab.") == 0


def test_local_data_without_zone(d, fake):
    m = d.udp("implicit.lab.")
    assert harness.a_addrs(m) == {"192.0.2.15"}
    assert harness.min_ttl(m) == 120
    assert fake.count("implicit.lab.") == 0
    # the zone made for it is transparent (Unbound): another type of the
    # same name is NODATA, a name below it goes upstream
    m = d.udp("implicit.lab.", "AAAA")
    assert m.rcode() == dns.rcode.NOERROR and not m.answer
    assert fake.count("implicit.lab.") == 0
    m = d.udp("below.implicit.lab.")
    assert harness.a_addrs(m) == {"192.0.2.1"}
    assert fake.count("below.implicit.lab.") == 1


def test_default_localhost_zone(make_cairnd):
    d = make_cairnd()
    assert harness.a_addrs(d.udp("localhost.")) == {"127.0.0.1"}
    assert harness.a_addrs(d.udp("localhost.", "AAAA")) == {"::1"}
    m = d.udp("foo.localhost.")
    assert m.rcode() in (dns.rcode.NXDOMAIN, dns.rcode.NOERROR)


def test_local_data_ttl_not_decremented(d):
    import time
    m1 = d.udp("a.static.lab.")
    time.sleep(1.2)
    m2 = d.udp("a.static.lab.")
    assert harness.min_ttl(m1) == harness.min_ttl(m2) == 3600


def test_include_glob(make_cairnd, tmp_path):
    import os
    inc = tmp_path / "conf.d"
    inc.mkdir()
    (inc / "a.conf").write_text('server:\n    local-data: "a.inc.lab. A '
                                '192.0.2.31"\n')
    (inc / "b.conf").write_text("server:\n    local-data: 'b.inc.lab. TXT "
                                '"from b"\'\n')
    (inc / "c.txt").write_text("server:\n    bogus: 1\n")   # not matched
    d = make_cairnd(extra='include: "%s"' % os.path.join(str(inc),
                                                           "*.conf"))
    assert harness.a_addrs(d.udp("a.inc.lab.")) == {"192.0.2.31"}
    m = d.udp("b.inc.lab.", "TXT")
    assert [r.strings for rr in m.answer for r in rr] == [(b"from b",)]
