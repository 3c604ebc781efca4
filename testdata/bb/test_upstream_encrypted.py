"""
testdata/bb/test_upstream_encrypted.py - cairnd as a stub resolver that
forwards over DNS over HTTPS (forward-https-upstream) and DNS over TLS
(forward-tls-upstream), issue 5.

The chains: dnspython -> cairnd (stub, Do53) -> DoH or DoT -> an upstream
(cairnd serving local-data over DoH/DoT, or Debian's unbound serving
local-data over DoH) -> the answer.  Failures: a certificate for another
name, an untrusted CA, an upstream that is down, an upstream restarted
while queries are in flight (each gets an answer or SERVFAIL, none is
lost).  Also: many concurrent queries share one upstream connection (the
upstream's num.tcp.accepted), UDP clients get TC=1 for a large answer
and the full one over TCP, and the encrypted-out counters.
GOAWAY mid-flight and an upstream that accepts TLS but never answers use
FakeDoH, a scriptable DoH server (python3-h2) in this file.
"""

import concurrent.futures
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import h2.config
import h2.connection
import h2.exceptions
import h2.events
import pytest

import harness
from harness import SLOW

BIG_N = 12      # TXT records of 200 bytes: more than 512, less than 65535


def local_lines(prefix=""):
    L = ['local-zone: "enc.lab." static',
         'local-data: "www.enc.lab. 300 IN A 192.0.2.53"',
         'local-data: "v6.enc.lab. 300 IN AAAA 2001:db8::53"']
    for i in range(BIG_N):
        L.append('local-data: \'big.enc.lab. 300 IN TXT "%02d%s"\''
                 % (i, chr(ord("a") + i) * 198))
    for i in range(200):
        L.append('local-data: "h%d.enc.lab. 300 IN A 192.0.2.%d"'
                 % (i, i % 250 + 1))
    return "\n".join(prefix + x for x in L)


def stub_extra(port, https, auth="localhost", more=""):
    kind = "forward-https-upstream" if https else "forward-tls-upstream"
    addr = "127.0.0.1@%d" % port + ("#" + auth if auth else "")
    return ("forward-zone:\n"
            '    name: "."\n'
            "    %s: yes\n"
            "    forward-addr: %s\n%s" % (kind, addr, more))


def make_stub(make_cairnd, certs, port, https=True, auth="localhost",
              more="", bundle=None):
    return make_cairnd(
        server_lines='tls-cert-bundle: "%s"' % (bundle or certs["ca"]),
        extra=stub_extra(port, https, auth, more))


def upstream_cairnd(make_cairnd, dot=False):
    if dot:
        return make_cairnd(dot=True, server_lines=local_lines())
    return make_cairnd(doh=True, server_lines=local_lines())


def a_of(msg):
    return sorted(rd.address for rr in msg.answer for rd in rr
                  if rr.rdtype == dns.rdatatype.A)


def check_chain(stub):
    r = stub.udp("www.enc.lab.", "A")
    assert r is not None, "no answer from the stub"
    assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
    assert a_of(r) == ["192.0.2.53"]
    r = stub.tcp("v6.enc.lab.", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert [rd.address for rr in r.answer for rd in rr] == ["2001:db8::53"]
    r = stub.udp("nothere.enc.lab.", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN


def servfail_within(stub, name, limit):
    t0 = time.monotonic()
    r = stub.udp(name, "A", timeout=limit + 2)
    took = time.monotonic() - t0
    assert r is not None, "no answer at all (expected SERVFAIL)"
    assert r.rcode() == dns.rcode.SERVFAIL, dns.rcode.to_text(r.rcode())
    assert took < limit, "SERVFAIL took %.1fs" % took
    return r


# ------------------------------------------------------------ chains

def test_doh_chain_cairnd(make_cairnd, certs):
    up = upstream_cairnd(make_cairnd)
    stub = make_stub(make_cairnd, certs, up.https_port)
    check_chain(stub)
    st = stub.stats()
    assert harness.stat(st, "num.query.httpsout") == 3
    assert harness.stat(st, "num.query.udpout") == 0
    assert harness.stat(st, "num.query.tcpout") == 0
    assert harness.stat(up.stats(), "num.query.https") == 3
    up.expected_https = 3


def test_dot_chain_cairnd(make_cairnd, certs):
    up = upstream_cairnd(make_cairnd, dot=True)
    stub = make_stub(make_cairnd, certs, up.tls_port, https=False)
    check_chain(stub)
    st = stub.stats()
    assert harness.stat(st, "num.query.tlsout") == 3
    assert harness.stat(st, "num.query.udpout") == 0
    assert harness.stat(up.stats(), "num.query.tls") == 3
    # three queries, one TLS connection
    assert harness.stat(up.stats(), "num.tcp.accepted") == 1


def test_doh_endpoint(make_cairnd, certs):
    """forward-http-endpoint is the path POSTed to: the right one
    answers, another one (404 from the server) is a failed upstream."""
    up = make_cairnd(doh=True, server_lines=local_lines() +
                     '\nhttp-endpoint: "/custom/q"')
    stub = make_stub(make_cairnd, certs, up.https_port,
                     more='    forward-http-endpoint: "/custom/q"\n')
    assert a_of(stub.udp("www.enc.lab.", "A")) == ["192.0.2.53"]
    stub2 = make_stub(make_cairnd, certs, up.https_port)
    servfail_within(stub2, "v6.enc.lab.", 3 * SLOW)
    st = up.stats()
    assert harness.stat(st, "num.http.status.404") >= 1
    assert harness.stat(st, "num.query.https") == 1


@pytest.mark.parametrize("https", [False, True], ids=["dot", "doh"])
def test_upstream_connection_has_nodelay(make_cairnd, certs, https):
    """cairnd's own socket of a DoT or DoH upstream connection has
    TCP_NODELAY (queries are small writes on a long connection: Nagle
    would hold one behind the delayed ACK of the last), read with
    getsockopt on a duplicate of that descriptor."""
    up = upstream_cairnd(make_cairnd, dot=not https)
    port = up.https_port if https else up.tls_port
    stub = make_stub(make_cairnd, certs, port, https=https)
    r = stub.udp("www.enc.lab.", "A")
    assert r is not None and a_of(r) == ["192.0.2.53"]
    assert harness.stat(stub.stats(), "num.query.httpsout" if https
                        else "num.query.tlsout") == 1
    assert harness.tcp_sockopt_of(stub.proc.pid, port, socket.TCP_NODELAY,
                                  remote=True) == [1]
    if https:
        up.expected_https = 1


@pytest.mark.parametrize("https", [False, True], ids=["dot", "doh"])
def test_upstream_connection_from_outgoing_interface(make_cairnd, certs,
                                                     https):
    """outgoing-interface: 127.0.0.9 on the stub: its DoT or DoH
    connection to the upstream leaves from 127.0.0.9 (/proc/net/tcp:
    every connection whose far end is the upstream's port)."""
    up = upstream_cairnd(make_cairnd, dot=not https)
    port = up.https_port if https else up.tls_port
    stub = make_cairnd(
        server_lines='tls-cert-bundle: "%s"\noutgoing-interface: 127.0.0.9'
        % certs["ca"], extra=stub_extra(port, https))
    r = stub.udp("www.enc.lab.", "A")
    assert r is not None and a_of(r) == ["192.0.2.53"]
    local = []
    with open("/proc/%d/net/tcp" % stub.proc.pid) as f:
        for ln in f.readlines()[1:]:
            fields = ln.split()
            if fields[2] == "0100007F:%04X" % port:
                local.append(fields[1].split(":")[0])
    assert local and set(local) == {"0900007F"}, local
    if https:
        up.expected_https = 1


def test_dot_reconnect_resumes_session(make_cairnd, certs):
    """The upstream closes idle connections after 300 ms: the stub's next
    query opens a new connection that resumes the TLS session."""
    up = make_cairnd(dot=True, server_lines=local_lines() +
                     "\ntcp-idle-timeout: 300")
    stub = make_stub(make_cairnd, certs, up.tls_port, https=False)
    for i in range(3):
        r = stub.udp("h%d.enc.lab." % i, "A", timeout=8 * SLOW)
        assert a_of(r) == ["192.0.2.%d" % (i + 1)]
        time.sleep(0.8)
    st = up.stats()
    assert harness.stat(st, "num.tcp.accepted") == 3
    assert harness.stat(st, "num.query.tls.resume") >= 1


def test_dot_auth_name_is_the_ip(make_cairnd, certs):
    """Without #name the certificate must be for the address itself (the
    test certificate has IP:127.0.0.1)."""
    up = upstream_cairnd(make_cairnd, dot=True)
    stub = make_stub(make_cairnd, certs, up.tls_port, https=False, auth="")
    r = stub.udp("www.enc.lab.", "A")
    assert a_of(r) == ["192.0.2.53"]


class Unbound:
    """Debian's unbound serving local-data over DoH on 127.0.0.1."""

    def __init__(self, workdir, certs):
        self.dir = workdir
        self.port = harness.free_port()
        self.conf = os.path.join(workdir, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write("server:\n"
                    "    interface: 127.0.0.1@%d\n"
                    "    https-port: %d\n"
                    "    port: %d\n"
                    '    tls-service-key: "%s"\n'
                    '    tls-service-pem: "%s"\n'
                    "    do-daemonize: no\n"
                    "    use-syslog: no\n"
                    '    chroot: ""\n'
                    '    username: ""\n'
                    '    pidfile: ""\n'
                    '    directory: "%s"\n'
                    "    do-ip6: no\n"
                    "    verbosity: 1\n"
                    "%s\n"
                    % (self.port, self.port, self.port, certs["key"],
                       certs["cert"], workdir, local_lines("    ")))
        self.log = open(os.path.join(workdir, "unbound.log"), "ab")
        self.proc = subprocess.Popen(["unbound", "-d", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        end = time.monotonic() + 10 * SLOW
        for _ in range(400):
            if self.proc.poll() is not None:
                self.log.close()
                with open(os.path.join(workdir, "unbound.log")) as f:
                    raise harness.HarnessError("unbound exited: " + f.read())
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         0.2).close()
                return
            except OSError:
                pass
            if time.monotonic() > end:
                break
            time.sleep(0.05)
        self.stop()
        raise harness.HarnessError("unbound not listening within 10s")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def unbound_doh(certs):
    if not harness.have_tool("unbound"):
        pytest.fail("unbound is not installed (Debian package unbound)")
    d = harness.make_workdir("cairn-unbound-")
    u = Unbound(d, certs)
    yield u
    u.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_doh_chain_unbound(make_cairnd, certs, unbound_doh):
    stub = make_stub(make_cairnd, certs, unbound_doh.port)
    check_chain(stub)
    assert harness.stat(stub.stats(), "num.query.httpsout") == 3


# ------------------------------------------------------------ failures

def test_wrong_name_servfail(make_cairnd, certs):
    up = upstream_cairnd(make_cairnd)
    stub = make_stub(make_cairnd, certs, up.https_port,
                     auth="dns.wrong.example")
    servfail_within(stub, "www.enc.lab.", 5 * SLOW)
    # nothing reached the upstream, in clear text or otherwise (its one
    # query is the harness's UDP readiness probe)
    assert harness.stat(up.stats(), "num.query.https") == 0
    assert harness.stat(up.stats(), "num.queries") == 1
    assert "certificate" in stub.stderr()


def test_dot_wrong_name_servfail(make_cairnd, certs):
    up = upstream_cairnd(make_cairnd, dot=True)
    stub = make_stub(make_cairnd, certs, up.tls_port, https=False,
                     auth="dns.wrong.example")
    servfail_within(stub, "www.enc.lab.", 5 * SLOW)
    assert harness.stat(up.stats(), "num.query.tls") == 0
    assert harness.stat(up.stats(), "num.queries") == 1


def test_untrusted_ca_servfail(make_cairnd, certs, tmp_path):
    other = harness.make_certs(str(tmp_path / "otherca"))
    up = upstream_cairnd(make_cairnd)
    # the stub trusts only a CA that did not sign the upstream's cert
    stub = make_stub(make_cairnd, certs, up.https_port, bundle=other["ca"])
    servfail_within(stub, "www.enc.lab.", 5 * SLOW)
    assert harness.stat(up.stats(), "num.query.https") == 0
    assert harness.stat(up.stats(), "num.queries") == 1


def test_second_addr_after_bad_certificate(make_cairnd, certs, tmp_path):
    """A failed check is a failed upstream: the next forward-addr answers."""
    other = harness.make_certs(str(tmp_path / "otherca"))
    bad = make_cairnd(doh=True, certs=other, server_lines=local_lines())
    good = upstream_cairnd(make_cairnd)
    stub = make_stub(make_cairnd, certs, bad.https_port,
                     more="    forward-addr: 127.0.0.1@%d#localhost\n"
                     % good.https_port)
    r = stub.udp("www.enc.lab.", "A", timeout=8 * SLOW)
    assert a_of(r) == ["192.0.2.53"]
    assert harness.stat(bad.stats(), "num.query.https") == 0
    assert harness.stat(good.stats(), "num.query.https") == 1


def test_upstream_down_servfail_quickly(make_cairnd, certs):
    port = harness.closed_port()
    stub = make_stub(make_cairnd, certs, port)
    servfail_within(stub, "www.enc.lab.", 2 * SLOW)
    stub2 = make_stub(make_cairnd, certs, port, https=False)
    servfail_within(stub2, "www.enc.lab.", 2 * SLOW)


# ------------------------------------------------------------ truncation

def test_large_answer_tc_then_tcp(make_cairnd, certs):
    up = upstream_cairnd(make_cairnd)
    stub = make_stub(make_cairnd, certs, up.https_port)
    q = harness.make_query("big.enc.lab.", "TXT", edns=False)
    r = harness.udp_msg(q, stub.port, timeout=5 * SLOW)
    assert r.flags & dns.flags.TC, "no TC over UDP without EDNS"
    assert len(r.to_wire()) <= 512
    q = harness.make_query("big.enc.lab.", "TXT", payload=1232)
    r = harness.udp_msg(q, stub.port, timeout=5 * SLOW)
    assert r.flags & dns.flags.TC, "no TC over UDP, EDNS 1232"
    assert len(r.to_wire()) <= 1232
    r = stub.tcp("big.enc.lab.", "TXT")
    assert not (r.flags & dns.flags.TC)
    assert sum(len(rr) for rr in r.answer) == BIG_N
    r = harness.udp_msg(harness.make_query("big.enc.lab.", "TXT",
                                           payload=4096), stub.port)
    assert not (r.flags & dns.flags.TC)
    assert sum(len(rr) for rr in r.answer) == BIG_N


# ------------------------------------------------------------ connections

def many_queries(stub, names, workers=32, timeout=8.0):
    def one(n):
        try:
            return harness.udp_msg(harness.make_query(n, "A"), stub.port,
                                   timeout=timeout * SLOW)
        except Exception as e:     # noqa: BLE001 - reported below
            return e
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, names))


@pytest.mark.parametrize("https", [True, False], ids=["doh", "dot"])
def test_concurrent_queries_one_connection(make_cairnd, certs, https):
    up = upstream_cairnd(make_cairnd, dot=not https)
    stub = make_stub(make_cairnd, certs,
                     up.https_port if https else up.tls_port, https=https)
    names = ["h%d.enc.lab." % i for i in range(200)]
    res = many_queries(stub, names)
    for n, r in zip(names, res):
        assert isinstance(r, dns.message.Message), "%s: %r" % (n, r)
        assert r.rcode() == dns.rcode.NOERROR, n
        i = int(n[1:n.index(".")])
        assert a_of(r) == ["192.0.2.%d" % (i % 250 + 1)], n
    assert harness.stat(up.stats(), "num.tcp.accepted") == 1
    out = "num.query.httpsout" if https else "num.query.tlsout"
    assert harness.stat(stub.stats(), out) == 200
    if https:
        up.expected_https = 200


def test_doh_max_concurrent_streams_respected(make_cairnd, certs):
    """The upstream allows 4 streams at once: more queries wait in the
    stub's queue and all are answered on one connection."""
    up = make_cairnd(doh=True, server_lines=local_lines() +
                     "\nhttp-max-streams: 4")
    stub = make_stub(make_cairnd, certs, up.https_port)
    names = ["h%d.enc.lab." % i for i in range(60)]
    res = many_queries(stub, names)
    bad = [(n, r) for n, r in zip(names, res)
           if not isinstance(r, dns.message.Message)
           or r.rcode() != dns.rcode.NOERROR]
    assert not bad, bad[:3]
    assert harness.stat(up.stats(), "num.tcp.accepted") == 1
    up.expected_https = 60


@pytest.mark.parametrize("https", [True, False], ids=["doh", "dot"])
def test_upstream_restarted_mid_flight(make_cairnd, certs, https):
    up = upstream_cairnd(make_cairnd, dot=not https)
    port = up.https_port if https else up.tls_port
    stub = make_stub(make_cairnd, certs, port, https=https)
    assert a_of(stub.udp("www.enc.lab.", "A")) == ["192.0.2.53"]
    names = ["h%d.enc.lab." % i for i in range(150)]
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(many_queries, stub, names, 16, 12.0)
        time.sleep(0.05)
        up.stop()
        up.start(ready="port")
        res = fut.result(timeout=60)
    lost = [n for n, r in zip(names, res)
            if not isinstance(r, dns.message.Message)]
    assert not lost, "no answer for %d queries: %s" % (len(lost), lost[:5])
    for r in res:
        assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.SERVFAIL)
    # and the stub uses the restarted upstream afterwards
    r = stub.udp("h199.enc.lab.", "A", timeout=8 * SLOW)
    assert a_of(r) == ["192.0.2.200"]
    up.expected_https = False
    # nothing left buffered for the dropped connection (mem.http.upstream)
    stub.check_doh_counters(expected_https=False)


# ------------------------------------------------------------ fake DoH

class FakeDoH:
    """A DoH server on 127.0.0.1 (TLS with the test certificate, ALPN
    h2) answering every POSTed query with A 192.0.2.99.

    goaway_after=N: on each connection, after N answered streams the
    next request gets GOAWAY (last stream = the last answered one) and
    the connection is closed shortly after; the streams after it are
    left unprocessed (the client must resend them elsewhere).
    silent=True: complete TLS and HTTP/2 set-up, never answer.
    stall_body=K: answer each request with its headers and the first K
    bytes of the body, never the rest.
    self.conns: connections accepted; self.answered: streams answered.
    Every loop is bounded by self.stop_at.
    """

    def __init__(self, certs, goaway_after=None, silent=False,
                 stall_body=None):
        self.goaway_after = goaway_after
        self.silent = silent
        self.stall_body = stall_body
        self.conns = 0
        self.answered = 0
        self.bodies = []
        self.lock = threading.Lock()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs["cert"], certs["key"])
        self.ctx.set_alpn_protocols(["h2"])
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.stop_at = time.monotonic() + 120
        self.done = False
        self.threads = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self.done and time.monotonic() < self.stop_at:
            try:
                s, _ = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.conns += 1
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _answer(self, body):
        q = dns.message.from_wire(body)
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN",
                                            "A", "192.0.2.99"))
        return r.to_wire()

    def _serve(self, raw):
        try:
            raw.settimeout(5)
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        bodies = {}
        served = 0
        last_ok = 0
        closing_at = None
        s.setblocking(False)
        try:
            while not self.done and time.monotonic() < self.stop_at:
                if closing_at is not None and time.monotonic() > closing_at:
                    break
                r, _, _ = select.select([s], [], [], 0.05)
                if not r and s.pending() == 0:
                    continue
                try:
                    data = s.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not data:
                    break
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        bodies[ev.stream_id] = b""
                    elif isinstance(ev, h2.events.DataReceived):
                        bodies[ev.stream_id] = (bodies.get(ev.stream_id, b"")
                                                + ev.data)
                        conn.acknowledge_received_data(
                            ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        sid = ev.stream_id
                        if self.silent or closing_at is not None:
                            continue
                        if (self.goaway_after is not None and
                                served >= self.goaway_after):
                            conn.close_connection(last_stream_id=last_ok)
                            closing_at = time.monotonic() + 0.3
                            continue
                        with self.lock:
                            self.bodies.append(bodies[sid])
                        body = self._answer(bodies.pop(sid))
                        conn.send_headers(sid, [
                            (":status", "200"),
                            ("content-type", "application/dns-message"),
                            ("content-length", str(len(body)))])
                        if self.stall_body is not None:
                            conn.send_data(sid, body[:self.stall_body])
                            continue
                        conn.send_data(sid, body, end_stream=True)
                        served += 1
                        last_ok = max(last_ok, sid)
                        with self.lock:
                            self.answered += 1
                out = conn.data_to_send()
                if out:
                    s.setblocking(True)
                    s.sendall(out)
                    s.setblocking(False)
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.done = True
        self.lsock.close()
        for t in self.threads:
            t.join(3)


@pytest.fixture
def fake_doh(certs):
    made = []

    def factory(**kw):
        f = FakeDoH(certs, **kw)
        made.append(f)
        return f
    yield factory
    for f in made:
        f.close()


def test_goaway_sequential_all_answered(make_cairnd, certs, fake_doh):
    f = fake_doh(goaway_after=3)
    stub = make_stub(make_cairnd, certs, f.port)
    for i in range(10):
        r = stub.udp("g%d.enc.lab." % i, "A", timeout=8 * SLOW)
        assert r.rcode() == dns.rcode.NOERROR, i
        assert a_of(r) == ["192.0.2.99"]
    # three answers per connection
    assert f.conns >= 4
    assert f.answered == 10
    # RFC 8484 4.1: ID 0; RFC 8467: padded to a multiple of 128 bytes
    for b in f.bodies:
        assert b[:2] == b"\0\0"
        assert len(b) % 128 == 0, len(b)
        q = dns.message.from_wire(b)
        assert any(o.otype == 12 for o in q.options), q.options


def test_goaway_mid_flight_none_lost(make_cairnd, certs, fake_doh):
    f = fake_doh(goaway_after=15)
    stub = make_stub(make_cairnd, certs, f.port)
    names = ["m%d.enc.lab." % i for i in range(60)]
    res = many_queries(stub, names, workers=20, timeout=12.0)
    lost = [n for n, r in zip(names, res)
            if not isinstance(r, dns.message.Message)]
    assert not lost, lost[:5]
    ok = sum(1 for r in res if r.rcode() == dns.rcode.NOERROR)
    assert all(r.rcode() in (dns.rcode.NOERROR, dns.rcode.SERVFAIL)
               for r in res)
    # refused streams are resent on new connections: most are answered
    # (a slow machine may time some out: SERVFAIL, still not lost)
    assert ok >= 40, "only %d of 60 answered" % ok
    assert f.conns >= 2
    stub.check_doh_counters(expected_https=False)


def test_silent_upstream_not_reused(make_cairnd, certs, fake_doh):
    """A connection that never answers: the query gets SERVFAIL after the
    attempt timeout, and the next query does not wait on the same
    connection."""
    f = fake_doh(silent=True)
    stub = make_stub(make_cairnd, certs, f.port)
    t0 = time.monotonic()
    r = stub.udp("s1.enc.lab.", "A", timeout=12 * SLOW)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - t0 < 8 * SLOW
    assert f.conns == 1
    r = stub.udp("s2.enc.lab.", "A", timeout=12 * SLOW)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert f.conns == 2, "the stuck connection was used again"


# ------------------------------------------------------------ config

def test_stub_conf_checks(tmp_path):
    conf = os.path.join(harness.REPO, "contrib", "stub.conf")
    r = harness.run([harness.program("cairn-checkconf"), conf])
    assert r.returncode == 0, r.stdout + r.stderr
