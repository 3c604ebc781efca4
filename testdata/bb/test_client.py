"""cairn-client against cairnd (DoH GET/POST over HTTP/2, DoT, TCP, UDP),
against Debian's unbound serving local data over DoH, and against a small
Python HTTP/1.1 DoH server defined here (cairnd's DoH speaks HTTP/2 only).
Checks the printed answer, the error it names and its exit status."""

import base64
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.edns
import dns.message
import dns.rrset
import pytest

import harness

LOCAL = """local-zone: "t.lab." static
local-data: "a.t.lab. 300 IN A 192.0.2.7"
local-data: "a.t.lab. 300 IN AAAA 2001:db8::7"
local-data: "t.lab. 300 IN MX 5 mail.t.lab."
local-data: 'txt.t.lab. 300 IN TXT "hello world"'
"""
A_LINE = "a.t.lab. 300 IN A 192.0.2.7"


def client(*args, timeout=20.0):
    r = harness.run([harness.program("cairn-client")] +
                    [str(a) for a in args], timeout=timeout)
    for m in harness.SANITIZER_MARKS:
        assert m not in r.stderr, r.stderr
    return r


def ok(r, line=A_LINE, rcode="NOERROR"):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert "rcode " + rcode in lines, r.stdout
    if line:
        assert line in lines, r.stdout
    return lines


def eflags(lines):
    f = [x for x in lines if x.startswith("eflags")]
    assert len(f) == 1, lines
    return f[0].split()[1:]


@pytest.fixture
def d(make_cairnd):
    return make_cairnd(doh=True, dot=True, server_lines=LOCAL)


# ------------------------------------------------------------ cairnd

@pytest.mark.parametrize("method", ["get", "post"])
def test_doh_h2(d, certs, method):
    extra = ["--post"] if method == "post" else []
    r = client("-p", d.https_port, "--cafile", certs["ca"], *extra,
               "a.t.lab")
    lines = ok(r)
    assert "id 0" in lines          # RFC 8484 4.1: ID 0 over DoH
    assert "flags QR AA RD RA" in lines
    assert lines[lines.index(";QUESTION") + 1] == "a.t.lab. IN A"
    d.check_doh_counters(1)


def test_doh_types(d, certs):
    r = client("-p", d.https_port, "--cafile", certs["ca"], "t.lab", "MX")
    ok(r, "t.lab. 300 IN MX 5 mail.t.lab.")
    r = client("-p", d.https_port, "--cafile", certs["ca"], "--post",
               "txt.t.lab", "TXT", "IN")
    ok(r, 'txt.t.lab. 300 IN TXT "hello world"')
    r = client("-p", d.https_port, "--cafile", certs["ca"], "a.t.lab",
               "AAAA")
    ok(r, "a.t.lab. 300 IN AAAA 2001:db8::7")


def test_nxdomain_exits_0(d, certs):
    r = client("-p", d.https_port, "--cafile", certs["ca"], "nx.t.lab")
    lines = ok(r, None, rcode="NXDOMAIN")
    assert lines[lines.index(";ANSWER") + 1] == ";AUTHORITY"


def test_dot(d, certs):
    r = client("--tls", "-p", d.tls_port, "--cafile", certs["ca"],
               "a.t.lab")
    ok(r)


@pytest.mark.parametrize("mode", ["--udp", "--tcp"])
def test_plain(d, mode):
    r = client(mode, "-p", d.port, "a.t.lab", "AAAA")
    lines = ok(r, "a.t.lab. 300 IN AAAA 2001:db8::7")
    assert "payload" in " ".join(lines)


def test_verbose_headers(d, certs):
    r = client("-v", "-p", d.https_port, "--cafile", certs["ca"], "a.t.lab")
    lines = ok(r)
    assert ":method: GET" in lines
    assert any(x.startswith(":path: /dns-query?dns=") for x in lines)
    assert ":status 200" in lines
    assert "content-type application/dns-message" in lines


def test_http_404(d, certs):
    r = client("-p", d.https_port, "--cafile", certs["ca"], "--path",
               "/other", "a.t.lab")
    assert r.returncode == 1, r.stdout
    assert "HTTP status 404" in r.stderr
    assert r.stdout == ""


def test_untrusted_ca(d, certs, tmp_path):
    other = harness.make_certs(str(tmp_path / "other"))
    for extra in (["--cafile", other["ca"]], []):   # [] = system bundle
        r = client("-p", d.https_port, *extra, "a.t.lab")
        assert r.returncode == 1, r.stdout
        assert "TLS handshake failed: certificate verify failed" \
            in r.stderr, r.stderr
    r = client("--tls", "-p", d.tls_port, "--cafile", other["ca"],
               "a.t.lab")
    assert r.returncode == 1 and "certificate verify failed" in r.stderr


def test_tls_name(d, certs):
    r = client("-p", d.https_port, "--cafile", certs["ca"], "--tls-name",
               "wrong.example", "a.t.lab")
    assert r.returncode == 1
    assert "hostname mismatch" in r.stderr, r.stderr
    r = client("-p", d.https_port, "--cafile", certs["ca"], "--tls-name",
               "localhost", "a.t.lab")
    ok(r)


def test_insecure_works_and_warns(d):
    r = client("-p", d.https_port, "--insecure", "a.t.lab")
    ok(r)
    assert "WARNING" in r.stderr and "NOT checked" in r.stderr
    r = client("--tls", "-p", d.tls_port, "--insecure", "a.t.lab")
    ok(r)
    assert "WARNING" in r.stderr


@pytest.mark.parametrize("method", ["get", "post"])
def test_repeat(d, certs, method):
    extra = ["--post"] if method == "post" else []
    r = client("-p", d.https_port, "--cafile", certs["ca"], "--repeat", 10,
               *extra, "a.t.lab")
    lines = ok(r)
    assert any(x.startswith("10 queries in ") and x.endswith(" ms")
               for x in lines), lines
    d.check_doh_counters(10)


def test_repeat_dot_tcp(d, certs):
    r = client("--tls", "-p", d.tls_port, "--cafile", certs["ca"],
               "--repeat", 5, "a.t.lab")
    assert "5 queries in " in ok(r)[-1]
    r = client("--tcp", "-p", d.port, "--repeat", 5, "a.t.lab")
    assert "5 queries in " in ok(r)[-1]


def test_dnssec_sets_do(d, certs):
    r = client("-p", d.https_port, "--cafile", certs["ca"], "--dnssec",
               "a.t.lab")
    assert "DO" in eflags(ok(r))
    r = client("-p", d.https_port, "--cafile", certs["ca"], "a.t.lab")
    assert "DO" not in eflags(ok(r))


def test_connection_refused():
    port = harness.free_port()
    for mode in ("--tcp", "--tls", "--http1.1"):
        r = client(mode, "-p", port, "a.t.lab")
        assert r.returncode == 1
        assert "connection refused" in r.stderr, r.stderr


def test_udp_timeout():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        t0 = time.monotonic()
        r = client("--udp", "-p", s.getsockname()[1], "--timeout", 1,
                   "a.t.lab")
        assert r.returncode == 1
        assert "timeout" in r.stderr
        assert time.monotonic() - t0 < 5
    finally:
        s.close()


def test_usage_errors():
    for args in ([], ["--ecs", "300.1.2.3/8", "x"], ["x", "NOSUCHTYPE"],
                 ["--tcp", "--udp", "x"], ["-p", "0", "x"]):
        r = client(*args)
        assert r.returncode == 2, args


# ------------------------------------------------------------ ECS

class EchoUdp:
    """A UDP DNS server that answers with the query's EDNS options."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        for _ in range(2000):
            if self.stop.is_set():
                return
            try:
                data, addr = self.s.recvfrom(65535)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data)
            a = dns.message.make_response(q)
            a.use_edns(0, q.ednsflags, 1232, options=q.options)
            a.answer.append(dns.rrset.from_text(q.question[0].name, 60,
                                                "IN", "A", "192.0.2.99"))
            self.s.sendto(a.to_wire(), addr)

    def close(self):
        self.stop.set()
        self.t.join(2)
        self.s.close()


def test_ecs_option_sent_and_printed():
    e = EchoUdp()
    try:
        r = client("--udp", "-p", e.port, "--ecs", "192.0.2.77/24",
                   "--dnssec", "q.example", "A")
        lines = ok(r, "q.example. 60 IN A 192.0.2.99")
        assert "option ECS 192.0.2.0/24 scope 0" in lines, lines
        assert "DO" in eflags(lines)
        r = client("--udp", "-p", e.port, "--ecs", "2001:db8:1:2::/48",
                   "q.example")
        assert "option ECS 2001:db8:1::/48 scope 0" in ok(r, None)
    finally:
        e.close()


# ------------------------------------------------------------ HTTP/1.1

def answer_for(wire):
    q = dns.message.from_wire(wire)
    a = dns.message.make_response(q)
    a.answer.append(dns.rrset.from_text(q.question[0].name, 30, "IN", "A",
                                        "192.0.2.11"))
    return a.to_wire()


class H1Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/dns-message"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path != "/dns-query" or not query.startswith("dns="):
            return self.reply(404, b"not found\n", "text/plain")
        b = query[4:]
        wire = base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))
        self.seen.append(("GET", self.headers.get("accept")))
        self.reply(200, answer_for(wire))

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        wire = self.rfile.read(n)
        if self.path != "/dns-query" or \
                self.headers.get("content-type") != "application/dns-message":
            return self.reply(415, b"", "text/plain")
        self.seen.append(("POST", self.headers.get("accept")))
        self.reply(200, answer_for(wire))


@pytest.fixture
def h1(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["cert"], certs["key"])
    ctx.set_alpn_protocols(["http/1.1"])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H1Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    H1Handler.seen = []
    t = threading.Thread(target=srv.serve_forever, kwargs={
        "poll_interval": 0.1}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(5)


@pytest.mark.parametrize("method", ["get", "post"])
def test_http11(h1, certs, method):
    port = h1.server_address[1]
    extra = ["--post"] if method == "post" else []
    r = client("--http1.1", "-p", port, "--cafile", certs["ca"], "-v",
               "--repeat", 3, *extra, "www.h1.lab")
    lines = ok(r, "www.h1.lab. 30 IN A 192.0.2.11")
    assert "HTTP/1.1 200 OK" in lines
    assert lines[-1].startswith("3 queries in ")
    assert H1Handler.seen == [(method.upper(),
                               "application/dns-message")] * 3


def test_http11_404(h1, certs):
    r = client("--http1.1", "-p", h1.server_address[1], "--cafile",
               certs["ca"], "--path", "/other", "x.lab")
    assert r.returncode == 1 and "HTTP status 404" in r.stderr


# ------------------------------------------------------------ unbound

@pytest.fixture
def unbound(certs):
    if not harness.have_tool("unbound"):
        pytest.skip("unbound not installed")
    d = harness.make_workdir("cairn-ub-")
    port = harness.free_port()
    conf = os.path.join(d, "unbound.conf")
    with open(conf, "w") as f:
        f.write("""server:
    interface: 127.0.0.1@%d
    https-port: %d
    tls-service-key: "%s"
    tls-service-pem: "%s"
    do-daemonize: no
    use-syslog: no
    logfile: ""
    chroot: ""
    username: ""
    pidfile: ""
    directory: "%s"
    do-ip6: no
    module-config: "iterator"
    verbosity: 1
    local-zone: "u.lab." static
    local-data: "a.u.lab. 300 IN A 192.0.2.9"
    local-data: "u.lab. 300 IN MX 10 mx.u.lab."
remote-control:
    control-enable: no
""" % (port, port, certs["key"], certs["cert"], d))
    log = open(os.path.join(d, "unbound.log"), "ab")
    p = subprocess.Popen(["unbound", "-d", "-c", conf],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def up():
        if p.poll() is not None:
            raise harness.HarnessError("unbound exited: %s" % open(
                os.path.join(d, "unbound.log")).read())
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    try:
        harness.wait_until(up, 10, what="unbound DoH port")
        yield port
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("method", ["get", "post"])
def test_unbound_doh(unbound, certs, method):
    extra = ["--post"] if method == "post" else []
    r = client("-p", unbound, "--cafile", certs["ca"], *extra, "a.u.lab")
    lines = ok(r, "a.u.lab. 300 IN A 192.0.2.9")
    assert "id 0" in lines
    r = client("-p", unbound, "--cafile", certs["ca"], "-v", "--repeat", 4,
               *extra, "u.lab", "MX")
    lines = ok(r, "u.lab. 300 IN MX 10 mx.u.lab.")
    assert ":status 200" in lines
    assert lines[-1].startswith("4 queries in ")


# ------------------------------------------------------------ docs

def test_man_page_names_every_option():
    import re
    r = client("--help")
    assert r.returncode == 0
    opts = set(re.findall(r"--[a-z][a-z0-9.-]*", r.stdout))
    assert len(opts) >= 15, opts
    with open(os.path.join(harness.REPO, "doc", "cairn-client.1")) as f:
        man = f.read().replace("\\-", "-")
    missing = sorted(o for o in opts if o not in man)
    assert missing == [], "not in doc/cairn-client.1: %s" % missing


def test_http11_against_cairnd(d, certs):
    """cairnd's HTTP/1.1 DoH is another helper's work in progress: until
    it lands the TLS handshake fails on ALPN, which is skipped here."""
    r = client("--http1.1", "-p", d.https_port, "--cafile", certs["ca"],
               "a.t.lab")
    if r.returncode == 1 and "no application protocol" in r.stderr:
        pytest.skip("cairnd does not serve DoH over HTTP/1.1 yet")
    ok(r)
    r = client("--http1.1", "--post", "-p", d.https_port, "--cafile",
               certs["ca"], "--repeat", 3, "a.t.lab")
    assert ok(r)[-1].startswith("3 queries in ")
