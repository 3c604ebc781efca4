"""
testdata/bb/test_chaos.py - CH-class queries, answered as Unbound
answers them: id.server and hostname.bind give the identity (the host
name, or 'identity'), version.server and version.bind the version
("cairn VERSION", or 'version'), CH TXT with TTL 0 and without AA;
hide-identity and hide-version make them REFUSED, and so is every other
CH query (before, CH queries were forwarded like IN ones).  Over UDP,
TCP and DoH alike (one resolver path).
"""

import socket

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

import harness


def ch(d, name, rdtype="TXT", tcp=False):
    q = dns.message.make_query(name, rdtype, rdclass="CH")
    m = harness.tcp_msg(q, d.port) if tcp else harness.udp_msg(q, d.port)
    assert m is not None, "no answer to %s CH %s" % (name, rdtype)
    return m


def txt_of(m):
    assert m.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(m.rcode())
    assert not m.flags & dns.flags.AA
    assert len(m.answer) == 1
    rr = m.answer[0]
    assert (rr.rdclass, rr.rdtype, rr.ttl) == \
        (dns.rdataclass.CH, dns.rdatatype.TXT, 0)
    return b"".join(rr[0].strings).decode()


def version():
    r = harness.run([harness.program("cairnd"), "-V"])
    return "cairn " + r.stdout.split()[1]      # "cairnd 0.1.0 ..."


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_defaults(make_cairnd, tcp):
    d = make_cairnd()
    for name in ("id.server.", "hostname.bind.", "ID.Server."):
        assert txt_of(ch(d, name, tcp=tcp)) == socket.gethostname()
    for name in ("version.server.", "version.bind."):
        assert txt_of(ch(d, name, tcp=tcp)) == version()
    assert txt_of(ch(d, "id.server.", "ANY", tcp=tcp)) == \
        socket.gethostname()


def test_identity_and_version_set(make_cairnd):
    d = make_cairnd(server_lines='identity: "ns1.example.net"\n'
                    'version: "not telling"')
    assert txt_of(ch(d, "hostname.bind.")) == "ns1.example.net"
    assert txt_of(ch(d, "version.bind.")) == "not telling"


def test_hidden_are_refused(make_cairnd):
    d = make_cairnd(server_lines="hide-identity: yes\nhide-version: yes")
    for name in ("id.server.", "hostname.bind.", "version.server.",
                 "version.bind."):
        assert ch(d, name).rcode() == dns.rcode.REFUSED, name


def test_other_ch_queries_refused_not_forwarded(make_cairnd, fake):
    """Another CH name, or another type: REFUSED, and nothing reaches
    the upstream; the same name in class IN is forwarded as ever."""
    d = make_cairnd(upstream=fake.port)
    assert ch(d, "foo.bind.").rcode() == dns.rcode.REFUSED
    assert ch(d, "id.server.", "A").rcode() == dns.rcode.REFUSED
    assert ch(d, "www.example.", "A").rcode() == dns.rcode.REFUSED
    assert fake.peers == []
    m = d.udp("www.example.")
    assert m.rcode() == dns.rcode.NOERROR and len(fake.peers) == 1


def test_doh(make_cairnd):
    """The same answer over DoH (cache-control max-age=0: TTL 0)."""
    d = make_cairnd(doh=True, server_lines='version: "v-doh"')
    c = harness.H2Client(d.https_port, d.certs["ca"])
    try:
        q = dns.message.make_query("version.bind.", "TXT", rdclass="CH")
        r = c.query(q.to_wire(), method="GET")
    finally:
        c.close()
    assert r.status == 200, r
    assert txt_of(dns.message.from_wire(bytes(r.data))) == "v-doh"
    assert r.header("cache-control") == "max-age=0"
    d.expected_https = 1


def test_long_string_is_a_config_error(tmp_path):
    conf = tmp_path / "id.conf"
    conf.write_text('server:\n    identity: "%s"\n' % ("x" * 256))
    r = harness.run([harness.program("cairn-checkconf"), str(conf)])
    assert r.returncode == 1
    assert ("%s:2: identity: " % conf) in r.stderr and \
        "longer than 255 bytes (one TXT string)" in r.stderr, r.stderr
