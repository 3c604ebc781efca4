"""proxy-protocol-port: PROXY v1 and v2 headers written by hand (over
TCP, DoT, DoH over TLS, clear-text DoH and UDP) and a real HAProxy
(send-proxy-v2, contrib/haproxy-doh.cfg) in front of cairnd.

What is checked: the proxied address is the one access-control (allow,
refuse, deny) and tcp-connection-limit apply to, and the one in the log;
LOCAL and UNKNOWN keep the real peer; the sender itself must be allowed;
a connection without a valid header (none, garbage, too long, too slow)
is closed and others are not disturbed; the header's deadline is one
tcp-idle-timeout that bytes do not extend; such closes are logged at
verbosity 1 at most once a minute; UDP needs a v2 header in each
datagram and the answer goes back to the sender without one; counters
(num.tcp.refused.limit, unwanted.queries, tcpusage) count exactly.

Addresses: 127.0.0.0/8 is allowed (Unbound's default) except 127.0.0.9
(refuse: it may not send PROXY headers); proxied clients come from
203.0.113.0/24 (allow), 192.0.2.0/24 (refuse), 198.51.100.0/24 (deny),
2001:db8:1::/48 (allow)."""

import os
import shutil
import socket
import ssl
import struct
import time

import dns.message
import dns.rcode
import pytest

import harness
from harness import SLOW, H2Client, TcpConn, b64url, make_query

NAME = "www.proxy.lab."
ADDR = "192.0.2.80"

ACL = """
local-data: "www.proxy.lab. 300 IN A 192.0.2.80"
access-control: 127.0.0.9/32 refuse
access-control: 203.0.113.0/24 allow
access-control: 192.0.2.0/24 refuse
access-control: 198.51.100.0/24 deny
access-control: 2001:db8:1::/48 allow
"""

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


# ------------------------------------------------------------ headers

def v1(src, sport=40000, dst="127.0.0.1", dport=53):
    fam = "TCP6" if ":" in src else "TCP4"
    if fam == "TCP6" and ":" not in dst:
        dst = "::1"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)) \
        .encode()


def v2(src, sport=40000, dst="127.0.0.1", dport=53, dgram=False,
       tlvs=b""):
    """A PROXY v2 header with command PROXY for src:sport."""
    t = 2 if dgram else 1
    if ":" in src:
        if ":" not in dst:
            dst = "::1"
        body = socket.inet_pton(socket.AF_INET6, src) + \
            socket.inet_pton(socket.AF_INET6, dst)
        fam = 0x20 | t
    else:
        body = socket.inet_pton(socket.AF_INET, src) + \
            socket.inet_pton(socket.AF_INET, dst)
        fam = 0x10 | t
    body += struct.pack("!HH", sport, dport) + tlvs
    return SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def v2_local():
    return SIG + bytes([0x20, 0x00, 0x00, 0x00])


# ------------------------------------------------------------ cairnd

def start(make_cairnd, certs, lines="", udp_ready=True):
    """cairnd with its usual (non-proxy) port for UDP/TCP, plus proxy
    ports: d.pp (UDP+TCP), d.ptls (DoT), d.phttps (DoH over TLS)."""
    pp, ptls, phttps = (harness.free_port() for _ in range(3))
    text = ACL + """
        tls-service-key: "%s"
        tls-service-pem: "%s"
        interface: 127.0.0.1@%d
        interface: 127.0.0.1@%d
        tls-port: %d
        interface: 127.0.0.1@%d
        https-port: %d
        proxy-protocol-port: %d
        proxy-protocol-port: %d
        proxy-protocol-port: %d
        """ % (certs["key"], certs["cert"], pp, ptls, ptls, phttps, phttps,
               pp, ptls, phttps) + lines
    d = make_cairnd(server_lines=text)
    d.pp, d.ptls, d.phttps = pp, ptls, phttps
    return d


def query(qid=0x1234):
    return make_query(NAME, "A", qid=qid)


def tcp_ask(port, pre, src="127.0.0.1", tls=None, split=False):
    """Send header 'pre' and one framed query on a new connection.
    Returns the answer, or None when cairnd closed it without one."""
    c = TcpConn(port, src=src, timeout=3 * SLOW, tls=tls,
                pre=b"" if split else pre)
    try:
        if split:     # header and query in one segment
            w = query().to_wire()
            c.s.sendall(pre + struct.pack("!H", len(w)) + w)
            return c.recv_msg()
        try:
            return c.query(query())
        except (ConnectionResetError, BrokenPipeError):
            return None
    finally:
        c.close()


def closed_without_answer(port, pre, src="127.0.0.1", send_query=True):
    c = socket.create_connection(("127.0.0.1", port), 3 * SLOW,
                                 source_address=(src, 0))
    try:
        try:
            if pre:
                c.sendall(pre)
            if send_query:
                w = query().to_wire()
                c.sendall(struct.pack("!H", len(w)) + w)
        except (BrokenPipeError, ConnectionResetError):
            return True
        c.settimeout(3 * SLOW)
        try:
            data = c.recv(4096)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        assert data == b"", "got %r" % data
        return True
    finally:
        c.close()


def udp_ask(port, payload, src="127.0.0.1", timeout=1.5):
    """Send one datagram; the answer (parsed) or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.sendto(payload, ("127.0.0.1", port))
        s.settimeout(timeout * SLOW)
        try:
            data, frm = s.recvfrom(65535)
        except socket.timeout:
            return None
        assert frm == ("127.0.0.1", port)
        return dns.message.from_wire(data)   # no PROXY header in front
    finally:
        s.close()


def noerror(m):
    return m is not None and m.rcode() == dns.rcode.NOERROR and \
        harness.a_addrs(m) == {ADDR}


def refused(m):
    return m is not None and m.rcode() == dns.rcode.REFUSED


def wait_tcpusage_zero(d):
    harness.wait_until(lambda: harness.stat(d.stats(), "tcpusage") == 0,
                       5 * SLOW, step=0.1, what="tcpusage back to 0")


# ------------------------------------------------------------ TCP

def test_tcp_v1_v2_proxied_address_decides(make_cairnd, certs):
    d = start(make_cairnd, certs, "verbosity: 4")
    for hdr in (v1, v2):
        assert noerror(tcp_ask(d.pp, hdr("203.0.113.5")))
        assert refused(tcp_ask(d.pp, hdr("192.0.2.5")))
        # deny: closed as at accept
        assert tcp_ask(d.pp, hdr("198.51.100.5")) is None
        assert noerror(tcp_ask(d.pp, hdr("2001:db8:1::5")))
        # IPv6 outside the allowed /48: Unbound's default refuse
        assert refused(tcp_ask(d.pp, hdr("2001:db8:2::5")))
        # header and query in one segment: not a byte too many is read
        assert noerror(tcp_ask(d.pp, hdr("203.0.113.6"), split=True))
        assert refused(tcp_ask(d.pp, hdr("192.0.2.6"), split=True))
    # v2 with TLVs (ALPN, NOOP): skipped
    tl = b"\x01\x00\x02h2" + b"\x04\x00\x03\x00\x00\x00"
    assert refused(tcp_ask(d.pp, v2("192.0.2.7", tlvs=tl)))
    assert noerror(tcp_ask(d.pp, v2("203.0.113.7", tlvs=tl), split=True))
    # LOCAL and UNKNOWN: the real peer (127.0.0.1, allowed) stands
    assert noerror(tcp_ask(d.pp, v2_local()))
    assert noerror(tcp_ask(d.pp, b"PROXY UNKNOWN\r\n"))
    # the plain port is no proxy port: served without a header
    assert noerror(tcp_ask(d.port, b""))
    # the log names the proxied client and the proxy
    err = d.stderr()
    assert "203.0.113.5 port 40000: PROXY v2 header from 127.0.0.1" in err
    assert "198.51.100.5 port 40000 (via 127.0.0.1 port" in err
    wait_tcpusage_zero(d)
    st = d.stats()
    assert harness.stat(st, "num.tcp.refused.limit") == 0
    assert harness.stat(st, "unwanted.queries") == 7   # the refused ones


def test_tcp_header_dripped_byte_by_byte(make_cairnd, certs):
    d = start(make_cairnd, certs)
    for hdr in (v1("192.0.2.8"), v2("192.0.2.8")):
        c = socket.create_connection(("127.0.0.1", d.pp), 3 * SLOW)
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(hdr)):
                c.sendall(hdr[i:i + 1])
                time.sleep(0.005)
            w = query().to_wire()
            c.sendall(struct.pack("!H", len(w)) + w)
            c.settimeout(3 * SLOW)
            n = struct.unpack("!H", harness.recv_exact(c, 2, 3 * SLOW))[0]
            m = dns.message.from_wire(harness.recv_exact(c, n, 3 * SLOW))
            assert refused(m)
        finally:
            c.close()


@pytest.mark.timeout(90)
def test_no_or_bad_header_closed_others_unaffected(make_cairnd, certs):
    d = start(make_cairnd, certs, "tcp-idle-timeout: 1500")
    # a client that is being served on the proxy port and one on the
    # plain port stay served throughout
    good = TcpConn(d.pp, timeout=3 * SLOW, pre=v2("203.0.113.10"))
    plain = TcpConn(d.port, timeout=3 * SLOW)
    try:
        assert noerror(good.query(query()))
        # a DNS query without a header, HTTP, TLS, a v1 line without CRLF
        # past 107 bytes, a v2 header too long, bare LF
        bad = [b"", b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
               b"PROXY UNKNOWN " + b"x" * 100,
               SIG + b"\x21\x11\x04\x01" + b"\x00" * 40,
               b"PROXY TCP4 203.0.113.5 127.0.0.1 1 53\n"]
        for pre in bad:
            t = time.monotonic()
            assert closed_without_answer(d.pp, pre), pre
            assert time.monotonic() - t < 1.2 * SLOW, \
                "not closed at once: %r" % pre
        assert noerror(good.query(query()))
        assert noerror(plain.query(query()))
        good.close()
        plain.close()
        # nothing at all: closed after one tcp-idle-timeout
        c = socket.create_connection(("127.0.0.1", d.pp), 3 * SLOW)
        t = time.monotonic()
        c.settimeout(6 * SLOW)
        assert c.recv(10) == b""
        took = time.monotonic() - t
        c.close()
        assert 1.3 <= took <= 3.0 * SLOW, "closed after %.2fs" % took
        # a header dripped too slowly: bytes do not restart the timer
        c = socket.create_connection(("127.0.0.1", d.pp), 3 * SLOW)
        t = time.monotonic()
        closed_at = None
        for ch in b"PROXY TCP4 203.0.113.5 127.0.0.1 1 53":
            try:
                c.sendall(bytes([ch]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            c.settimeout(0.2)
            try:
                if c.recv(10) == b"":
                    closed_at = time.monotonic()
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_at = time.monotonic()
                break
        c.close()
        assert closed_at is not None, "slow header never cut"
        assert 1.3 <= closed_at - t <= 3.0 * SLOW
        # (the idle ones above would have timed out by now: new ones)
        assert noerror(tcp_ask(d.pp, v1("203.0.113.11")))
        assert noerror(tcp_ask(d.port, b""))
    finally:
        good.close()
        plain.close()
    # verbosity 1: one line for all those peers (at most one a minute)
    lines = [x for x in d.stderr().splitlines()
             if "no valid PROXY header" in x]
    assert len(lines) == 1, lines
    wait_tcpusage_zero(d)
    assert harness.stat(d.stats(), "num.tcp.refused.limit") == 0


def test_sender_must_be_allowed(make_cairnd, certs):
    d = start(make_cairnd, certs, "verbosity: 3")
    # 127.0.0.9 is refused: it may not name an allowed client
    assert tcp_ask(d.pp, v2("203.0.113.5"), src="127.0.0.9") is None
    assert udp_ask(d.pp, v2("203.0.113.5", dgram=True) +
                   query().to_wire(), src="127.0.0.9") is None
    # without PROXY, on the plain port, it is answered REFUSED as usual
    assert refused(tcp_ask(d.port, b"", src="127.0.0.9"))
    # from 127.0.0.2 (allowed) the same header works
    assert noerror(tcp_ask(d.pp, v2("203.0.113.5"), src="127.0.0.2"))
    assert "a PROXY protocol sender must be allowed" in d.stderr()
    st = d.stats()
    # the UDP one is unwanted; so is the plain-port REFUSED one
    assert harness.stat(st, "unwanted.queries") == 2


def test_tcp_connection_limit_by_proxied_address(make_cairnd, certs):
    # the proxy's own 127.0.0.0/8 has a limit of 1: it must not count
    # proxied connections, only those that keep its address (LOCAL)
    d = start(make_cairnd, certs, "tcp-connection-limit: 203.0.113.7/32 2\n"
              "tcp-connection-limit: 127.0.0.0/8 1")
    held = []
    try:
        for _ in range(2):
            c = TcpConn(d.pp, timeout=3 * SLOW, pre=v2("203.0.113.7"))
            assert noerror(c.query(query()))
            held.append(c)
        assert tcp_ask(d.pp, v1("203.0.113.7")) is None
        assert harness.stat(d.stats(), "num.tcp.refused.limit") == 1
        # another proxied address is not limited
        for _ in range(3):
            assert noerror(tcp_ask(d.pp, v2("203.0.113.8")))
        # LOCAL counts against the real peer (limit 1)
        loc = TcpConn(d.pp, timeout=3 * SLOW, pre=v2_local())
        held.append(loc)
        assert noerror(loc.query(query()))
        assert tcp_ask(d.pp, v2_local()) is None
        assert harness.stat(d.stats(), "num.tcp.refused.limit") == 2
        # a slot given back is usable again
        held.pop(0).close()
        c = harness.wait_until(
            lambda: _answered_conn(d.pp, v2("203.0.113.7")), 3 * SLOW,
            step=0.1, what="slot for 203.0.113.7 back")
        held.append(c)
        assert tcp_ask(d.pp, v2("203.0.113.7")) is None
        assert harness.stat(d.stats(), "num.tcp.refused.limit") == 3
    finally:
        for c in held:
            c.close()
    wait_tcpusage_zero(d)
    # every count was given back: two fresh ones fit again
    again = [_answered_conn(d.pp, v2("203.0.113.7")) for _ in range(2)]
    assert all(again)
    for c in again:
        c.close()


def _answered_conn(port, pre):
    try:
        c = TcpConn(port, timeout=2 * SLOW, pre=pre)
        if noerror(c.query(query())):
            return c
        c.close()
    except (OSError, socket.timeout):
        pass
    return None


# ------------------------------------------------------------ TLS, DoH

def test_dot_header_before_tls(make_cairnd, certs):
    d = start(make_cairnd, certs)
    assert noerror(tcp_ask(d.ptls, v2("203.0.113.5"), tls=certs["ca"]))
    assert refused(tcp_ask(d.ptls, v1("192.0.2.5"), tls=certs["ca"]))
    assert noerror(tcp_ask(d.ptls, v2_local(), tls=certs["ca"]))
    # TLS without a header: the ClientHello is not a header
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        tcp_ask(d.ptls, b"", tls=certs["ca"])
    st = d.stats()
    assert harness.stat(st, "num.query.tls") == 3


def test_doh_header_before_tls(make_cairnd, certs):
    d = start(make_cairnd, certs)
    wire = query(0).to_wire()
    for pre, ok in ((v2("203.0.113.5"), True), (v1("192.0.2.5"), False),
                    (v2("2001:db8:1::9"), True)):
        with H2Client(d.phttps, certs["ca"], pre=pre) as c:
            assert c.alpn == "h2"
            m = harness.parse_answer(c.query(wire))
            assert noerror(m) if ok else refused(m), m
    # HTTP/1.1 by ALPN too
    with H2Client(d.phttps, certs["ca"], pre=v2("192.0.2.6"),
                  alpn=("http/1.1",), preface=False) as c:
        assert c.alpn == "http/1.1"
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError,
                        harness.HarnessError)):
        with H2Client(d.phttps, certs["ca"]) as c:
            c.query(wire)
    d.check_doh_counters(3)


def _h1_get(port, pre, src="127.0.0.1"):
    """A clear-text HTTP/1.1 GET after 'pre': (status, DNS answer)."""
    c = socket.create_connection(("127.0.0.1", port), 3 * SLOW,
                                 source_address=(src, 0))
    try:
        req = ("GET /dns-query?dns=%s HTTP/1.1\r\nHost: localhost\r\n"
               "Accept: application/dns-message\r\n\r\n"
               % b64url(query(0).to_wire())).encode()
        c.sendall(pre + req)
        buf = b""
        c.settimeout(3 * SLOW)
        for _ in range(1000):
            if b"\r\n\r\n" in buf:
                head, body = buf.split(b"\r\n\r\n", 1)
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    k, v = line.split(b":", 1)
                    if k.strip().lower() == b"content-length":
                        n = int(v)
                if len(body) >= n:
                    status = int(head.split()[1])
                    return status, dns.message.from_wire(body[:n])
            try:
                d = c.recv(65536)
            except ConnectionResetError:
                return None, None
            if not d:
                return None, None
            buf += d
        return None, None
    finally:
        c.close()


def test_cleartext_http_port(make_cairnd, certs):
    port = harness.free_port()
    d = make_cairnd(server_lines=ACL + """
        interface: 127.0.0.1@%d
        https-port: %d
        http-notls-downstream: yes
        proxy-protocol-port: %d
        """ % (port, port, port))
    st, m = _h1_get(port, v1("203.0.113.5"))
    assert st == 200 and noerror(m)
    st, m = _h1_get(port, v2("192.0.2.5"))
    assert st == 200 and refused(m)
    # no header: closed without an answer
    assert _h1_get(port, b"") == (None, None)
    d.check_doh_counters(2)


# ------------------------------------------------------------ UDP

def test_udp_v2_each_datagram(make_cairnd, certs):
    d = start(make_cairnd, certs)
    w = query().to_wire()
    assert noerror(udp_ask(d.pp, v2("203.0.113.5", dgram=True) + w))
    assert refused(udp_ask(d.pp, v2("192.0.2.5", dgram=True) + w))
    assert udp_ask(d.pp, v2("198.51.100.5", dgram=True) + w) is None
    assert noerror(udp_ask(d.pp, v2("2001:db8:1::5", dgram=True) + w))
    assert noerror(udp_ask(d.pp, v2_local() + w))
    unwanted = harness.stat(d.stats(), "unwanted.queries")
    assert unwanted == 2    # refuse and deny, by the proxied address
    # no header, a v1 header (not for UDP), a header alone, a truncated
    # header: dropped and counted
    for bad in (w, v1("203.0.113.5") + w, v2("203.0.113.5", dgram=True),
                v2("203.0.113.5", dgram=True)[:20]):
        assert udp_ask(d.pp, bad, timeout=0.5) is None
    assert harness.stat(d.stats(), "unwanted.queries") == unwanted + 4
    # the plain port still answers plain queries
    assert noerror(udp_ask(d.port, w))


# ------------------------------------------------------------ HAProxy

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
CONTRIB = os.path.join(harness.REPO, "contrib", "haproxy-doh.cfg")


class Haproxy(harness.ForegroundServer):
    """HAProxy in the foreground (-db) running contrib/haproxy-doh.cfg
    with its ports replaced; with 'crt' (a PEM with certificate and key)
    the DoH frontend terminates TLS instead, as the file's comment says.
    Stopped by PID."""

    def __init__(self, workdir, doh_backend, dot_backend, crt=None):
        super().__init__(workdir, "haproxy")
        self.doh = harness.free_port()
        self.dot = harness.free_port()
        text = open(CONTRIB).read()
        bind = "bind 127.0.0.1:%d" % self.doh
        if crt:
            bind += " ssl crt %s alpn h2,http/1.1" % crt
        for old, new in (("bind :443", bind),
                         ("bind :853", "bind 127.0.0.1:%d" % self.dot),
                         ("127.0.0.1:8443", "127.0.0.1:%d" % doh_backend),
                         ("127.0.0.1:8853", "127.0.0.1:%d" % dot_backend)):
            assert old in text, "contrib/haproxy-doh.cfg lost %r" % old
            text = text.replace(old, new)
        self.conf = os.path.join(workdir, "haproxy.cfg")
        with open(self.conf, "w") as f:
            f.write(text)
        r = harness.run([HAPROXY, "-c", "-f", self.conf])
        assert r.returncode == 0, "haproxy -c: %s %s" % (r.stdout, r.stderr)
        self.start([HAPROXY, "-db", "-f", self.conf], (self.doh, self.dot))


@pytest.fixture
def start_haproxy():
    servers = harness.ServerSet("cairn-haproxy-")

    def factory(doh_backend, dot_backend, crt=None):
        return servers.start(Haproxy, doh_backend, dot_backend, crt)
    yield factory
    servers.stop_all()


@pytest.mark.skipif(HAPROXY is None, reason="haproxy binary absent "
                    "(apt-get install haproxy)")
def test_haproxy_send_proxy_v2(make_cairnd, certs, start_haproxy):
    """HAProxy on 127.0.0.1 connects to cairnd for every client; the
    clients come from 127.0.0.5, .6 and .7.  Only the PROXY v2 header
    tells cairnd which: 127.0.0.6 is refused, 127.0.0.7 may hold one
    connection, 127.0.0.5 is served."""
    d = start(make_cairnd, certs, "verbosity: 4\n"
              "access-control: 127.0.0.6/32 refuse\n"
              "tcp-connection-limit: 127.0.0.7/32 1")
    h = start_haproxy(d.phttps, d.ptls)
    wire = query(0).to_wire()
    # DoH (TLS passed through to cairnd)
    with H2Client(h.doh, certs["ca"], src="127.0.0.5") as c:
        assert c.alpn == "h2"
        assert noerror(harness.parse_answer(c.query(wire)))
        assert noerror(harness.parse_answer(c.query(wire, method="GET")))
    with H2Client(h.doh, certs["ca"], src="127.0.0.6") as c:
        assert refused(harness.parse_answer(c.query(wire)))
    # DoT
    assert noerror(tcp_ask(h.dot, b"", src="127.0.0.5", tls=certs["ca"]))
    assert refused(tcp_ask(h.dot, b"", src="127.0.0.6", tls=certs["ca"]))
    # tcp-connection-limit by the client's address, through HAProxy
    held = H2Client(h.doh, certs["ca"], src="127.0.0.7")
    try:
        assert noerror(harness.parse_answer(held.query(wire)))
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError,
                            harness.HarnessError)):
            with H2Client(h.doh, certs["ca"], src="127.0.0.7",
                          timeout=3) as c:
                c.query(wire)
        # the limit is not HAProxy's: another client still gets in
        with H2Client(h.doh, certs["ca"], src="127.0.0.5") as c:
            assert noerror(harness.parse_answer(c.query(wire)))
        assert noerror(harness.parse_answer(held.query(wire)))
    finally:
        held.close()
    st = d.stats()
    assert harness.stat(st, "num.tcp.refused.limit") == 1
    # DoT and DoH are both TLS to cairnd (Unbound counts DoH there too)
    assert harness.stat(st, "num.query.tls") == 2 + 6
    lines = d.stderr().splitlines()
    for client in ("127.0.0.5", "127.0.0.6", "127.0.0.7"):
        assert any("comm: %s port" % client in x and
                   "PROXY v2 header from 127.0.0.1 port" in x
                   for x in lines), client
    wait_tcpusage_zero(d)
    d.check_doh_counters(6)


@pytest.mark.skipif(HAPROXY is None, reason="haproxy binary absent "
                    "(apt-get install haproxy)")
@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_haproxy_tls_termination(make_cairnd, certs, start_haproxy,
                                 tmp_path):
    """The alternative in contrib/haproxy-doh.cfg's comment: HAProxy
    terminates TLS (ALPN h2 or http/1.1) and sends PROXY v2 and clear
    text to cairnd's http-notls-downstream port, which tells h2c from
    HTTP/1.1 by itself."""
    port = harness.free_port()
    d = make_cairnd(server_lines=ACL + """
        access-control: 127.0.0.6/32 refuse
        interface: 127.0.0.1@%d
        https-port: %d
        http-notls-downstream: yes
        proxy-protocol-port: %d
        """ % (port, port, port))
    crt = str(tmp_path / "haproxy.pem")
    with open(crt, "w") as f:
        f.write(open(certs["cert"]).read() + open(certs["key"]).read())
    h = start_haproxy(port, harness.free_port(), crt=crt)
    wire = query(0).to_wire()
    with H2Client(h.doh, certs["ca"], src="127.0.0.5") as c:
        assert c.alpn == "h2"
        assert noerror(harness.parse_answer(c.query(wire)))
    with H2Client(h.doh, certs["ca"], src="127.0.0.6") as c:
        assert refused(harness.parse_answer(c.query(wire)))
    for src, check in (("127.0.0.5", noerror), ("127.0.0.6", refused)):
        out = str(tmp_path / "out")
        r = harness.run(["curl", "-sS", "-v", "--http1.1", "--cacert",
                         certs["ca"], "--interface", src, "--max-time",
                         "10", "-o", out,
                         "https://127.0.0.1:%d/dns-query?dns=%s"
                         % (h.doh, b64url(wire))])
        assert r.returncode == 0, r.stderr
        assert "< HTTP/1.1 200" in r.stderr, r.stderr
        assert check(dns.message.from_wire(open(out, "rb").read()))
    wait_tcpusage_zero(d)
    d.check_doh_counters(4)
