"""DNS over TLS on tls-port: ALPN "dot" or none, 2-byte framing,
pipelined queries answered out of order, kdig +tls, padding, counters,
and the TCP limits applied to DoT connections."""

import ssl

import dns.edns
import dns.rcode
import pytest

import harness
from harness import SLOW, TcpConn, make_query


@pytest.fixture
def d(make_cairnd, fake):
    return make_cairnd(upstream=fake.port, dot=True)


@pytest.mark.parametrize("alpn", [["dot"], None])
def test_dot_query(d, certs, alpn):
    c = TcpConn(d.tls_port, tls=certs["ca"], alpn=alpn, timeout=5 * SLOW)
    try:
        if alpn:
            assert c.s.selected_alpn_protocol() == "dot"
        assert c.s.version() in ("TLSv1.2", "TLSv1.3")
        m = c.query(make_query("www.dot.lab.", qid=7))
        assert m.id == 7 and harness.a_addrs(m) == {"192.0.2.1"}
    finally:
        c.close()
    st = d.stats()
    assert harness.stat(st, "num.query.tls") == 1
    assert harness.stat(st, "num.query.https") == 0


def test_dot_pipelined_out_of_order(d, certs, fake):
    fake.set("slow.dot.lab.", "answer", delay=0.5, addrs=["192.0.2.90"])
    c = TcpConn(d.tls_port, tls=certs["ca"], alpn=["dot"], timeout=10 * SLOW)
    try:
        c.send(make_query("slow.dot.lab.", qid=1))
        for i in range(2, 7):
            c.send(make_query("f%d.dot.lab." % i, qid=i))
        ids = [c.recv_msg().id for _ in range(6)]
    finally:
        c.close()
    assert sorted(ids) == [1, 2, 3, 4, 5, 6]
    assert ids[-1] == 1, "slow answer must not block the others: %r" % ids
    assert harness.stat(d.stats(), "num.query.tls") == 6


def test_dot_padding(d, certs):
    q = make_query("www.dot.lab.", qid=0)
    base = len(q.to_wire()) + 4
    q = make_query("www.dot.lab.", qid=0, options=[
        dns.edns.GenericOption(12, b"\x00" * ((-base) % 128))])
    c = TcpConn(d.tls_port, tls=certs["ca"], alpn=["dot"], timeout=5 * SLOW)
    try:
        c.send(q)
        data = c.recv()
        assert len(data) % 468 == 0, len(data)
        c.send(make_query("www.dot.lab."))
        m = c.recv_msg()
        assert all(o.otype != 12 for o in m.options)
    finally:
        c.close()


def test_plain_tcp_on_tls_port_fails(d, certs):
    c = TcpConn(d.tls_port, timeout=2 * SLOW)
    try:
        c.send(make_query("localhost."))
        try:
            assert c.recv(timeout=2 * SLOW) is None
        except (ConnectionResetError, OSError):
            pass
    finally:
        c.close()
    assert d.udp("localhost.") is not None


def test_untrusted_client_view(d, certs):
    """The certificate is the leaf made by gen.sh: verifies against the
    test CA for 127.0.0.1 and localhost."""
    ctx = ssl.create_default_context(cafile=certs["ca"])
    import socket
    with socket.create_connection(("127.0.0.1", d.tls_port), 5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            cert = t.getpeercert()
            assert ("DNS", "localhost") in cert["subjectAltName"]


@pytest.mark.skipif(not harness.have_tool("kdig"), reason="kdig missing")
def test_kdig_tls(d, certs):
    r = harness.run(["kdig", "@127.0.0.1", "-p", str(d.tls_port), "+tls",
                     "+tls-ca=%s" % certs["ca"], "+tls-hostname=localhost",
                     "+short", "+time=5", "+retry=0", "www.dot.lab", "A"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["192.0.2.1"]


def test_dot_idle_timeout(make_cairnd, fake, certs):
    d = make_cairnd(upstream=fake.port, dot=True,
                    server_lines="tcp-idle-timeout: 1000")
    c = TcpConn(d.tls_port, tls=certs["ca"], alpn=["dot"], timeout=5 * SLOW)
    try:
        assert c.query(make_query("localhost.")) is not None
        assert c.closed_by_peer(5 * SLOW)
    finally:
        c.close()


def test_dot_refuse_acl(make_cairnd, fake, certs):
    d = make_cairnd(upstream=fake.port, dot=True,
                    server_lines="access-control: 127.0.0.3/32 refuse")
    c = TcpConn(d.tls_port, tls=certs["ca"], src="127.0.0.3",
                timeout=5 * SLOW)
    try:
        m = c.query(make_query("www.dot.lab."))
        assert m.rcode() == dns.rcode.REFUSED
    finally:
        c.close()


def test_dot_incoming_num_tcp(make_cairnd, fake, certs):
    d = make_cairnd(upstream=fake.port, dot=True,
                    server_lines="incoming-num-tcp: 2")
    held = [TcpConn(d.tls_port, tls=certs["ca"], alpn=["dot"],
                    timeout=5 * SLOW) for _ in range(2)]
    try:
        for c in held:
            assert c.query(make_query("localhost.")) is not None
        try:
            c3 = TcpConn(d.tls_port, tls=certs["ca"], alpn=["dot"],
                         timeout=2 * SLOW)
            try:
                c3.send(make_query("localhost."))
                got = c3.recv(timeout=2 * SLOW)
            except (OSError, ssl.SSLError):
                got = None
            finally:
                c3.close()
        except (OSError, ssl.SSLError):
            got = None
        assert got is None, "third DoT connection served over the limit"
    finally:
        for c in held:
            c.close()
