"""DNS over HTTPS on HTTP/1.1: ALPN "http/1.1" on the HTTPS port (curl
--http1.1 GET, POST and keep-alive; raw sockets for pipelining, every
status code, chunked bodies, Connection: close, HTTP/1.0), the clear-text
port of http-notls-downstream (HTTP/1.1 and h2c prior knowledge), and
http-trusted-proxy (X-Forwarded-For / Forwarded / X-Real-IP decide the
client address for access-control only from a trusted peer, over HTTP/1.1
and HTTP/2).  Every test ends with mem.http.* at 0 and num.query.https
equal to the queries resolved."""

import socket
import ssl
import time

import dns.message
import dns.rcode
import pytest

import harness
from harness import H2Client, b64url, make_query

LOCAL = """
local-data: "a.h1.lab. 300 IN A 192.0.2.1"
local-data: "b.h1.lab. 200 IN A 192.0.2.2"
local-data: "c.h1.lab. 100 IN A 192.0.2.3"
"""


class H1:
    """A raw HTTP/1.1 client: over TLS with ALPN when cafile is given,
    else clear text.  Sends exactly the bytes it is told and parses
    responses with Content-Length bodies."""

    def __init__(self, port, cafile=None, src="127.0.0.1",
                 alpn=("http/1.1",), timeout=5.0):
        self.timeout = timeout * harness.SLOW
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(self.timeout)
        raw.bind((src, 0))
        raw.connect(("127.0.0.1", port))
        self.alpn = None
        if cafile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cafile)
            if alpn:
                ctx.set_alpn_protocols(list(alpn))
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
            self.alpn = raw.selected_alpn_protocol()
        self.sock = raw
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed by cairnd")
        self.buf += d

    def response(self):
        """(status, {lower-case name: value}, body) of the next
        response."""
        for _ in range(10000):
            if b"\r\n\r\n" in self.buf:
                break
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        for _ in range(10000):
            if len(self.buf) >= n:
                break
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def closed(self, timeout=3.0):
        """True when cairnd closes the connection within timeout."""
        self.sock.settimeout(timeout * harness.SLOW)
        try:
            for _ in range(100):
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True
        finally:
            self.sock.settimeout(self.timeout)
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def wire(name="a.h1.lab.", qid=0):
    return make_query(name, "A", qid=qid).to_wire()


def get_req(w, path="/dns-query", version="HTTP/1.1", host=True, extra=""):
    return ("GET %s?dns=%s %s\r\n%s%s\r\n" % (
        path, b64url(w), version, "Host: localhost\r\n" if host else "",
        extra)).encode()


def post_req(body, ct="application/dns-message", extra="", cl=None):
    h = "POST /dns-query HTTP/1.1\r\nHost: localhost\r\n"
    if ct is not None:
        h += "Content-Type: %s\r\n" % ct
    h += "Content-Length: %d\r\n" % (len(body) if cl is None else cl)
    return (h + extra + "\r\n").encode() + body


def chunked_req(chunks, extra="", trailer="", ct="application/dns-message"):
    out = (b"POST /dns-query HTTP/1.1\r\nHost: localhost\r\n"
           b"Content-Type: " + ct.encode() + b"\r\n"
           b"Transfer-Encoding: chunked\r\n" + extra.encode() + b"\r\n")
    for c in chunks:
        out += b"%x;ext=1\r\n" % len(c) + c + b"\r\n"
    return out + b"0\r\n" + trailer.encode() + b"\r\n"


def answer(d, status, hdrs, body):
    assert status == 200, (status, hdrs)
    assert hdrs["content-type"] == "application/dns-message"
    assert int(hdrs["content-length"]) == len(body)
    d.expected_https += 1
    return dns.message.from_wire(body)


@pytest.fixture
def d(make_cairnd):
    return make_cairnd(doh=True, server_lines=LOCAL)


def h1(d, certs, **kw):
    return H1(d.https_port, certs["ca"], **kw)


@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_curl_http11_get_post_keepalive(d, certs, tmp_path):
    base = ["curl", "-sS", "-v", "--http1.1", "--cacert", certs["ca"],
            "--max-time", "10"]
    url = "https://127.0.0.1:%d/dns-query?dns=" % d.https_port
    outs = [str(tmp_path / ("o%d" % i)) for i in range(3)]
    # two GETs on one connection (curl reuses it for the second URL)
    r = harness.run(base + ["-o", outs[0], url + b64url(wire("a.h1.lab.")),
                            "-o", outs[1], url + b64url(wire("b.h1.lab."))])
    assert r.returncode == 0, r.stderr
    assert "ALPN: server accepted http/1.1" in r.stderr or \
        "ALPN, server accepted to use http/1.1" in r.stderr, r.stderr
    assert "Re-using existing connection" in r.stderr, r.stderr
    assert r.stderr.count("< HTTP/1.1 200 OK") == 2
    assert "cache-control: max-age=300" in r.stderr.lower()
    for o, addr in ((outs[0], "192.0.2.1"), (outs[1], "192.0.2.2")):
        m = dns.message.from_wire(open(o, "rb").read())
        assert harness.a_addrs(m) == {addr}
    qf = tmp_path / "q.bin"
    qf.write_bytes(wire("c.h1.lab."))
    r = harness.run(base + ["-o", outs[2], "-H",
                            "content-type: application/dns-message",
                            "--data-binary", "@%s" % qf,
                            "https://127.0.0.1:%d/dns-query" % d.https_port])
    assert r.returncode == 0, r.stderr
    m = dns.message.from_wire(open(outs[2], "rb").read())
    assert harness.a_addrs(m) == {"192.0.2.3"}
    d.expected_https += 3
    st = d.check_doh_counters()
    assert harness.stat(st, "num.http.status.200") == 3
    assert harness.stat(st, "num.query.tls") == 3


def test_pipelining_in_order(d, certs):
    with h1(d, certs) as c:
        assert c.alpn == "http/1.1"
        c.send(get_req(wire("a.h1.lab.", 1)) +
               post_req(wire("b.h1.lab.", 2)) +
               get_req(wire("c.h1.lab.", 3)))
        got = []
        for _ in range(3):
            m = answer(d, *c.response())
            got.append((m.id, sorted(harness.a_addrs(m))))
        assert got == [(1, ["192.0.2.1"]), (2, ["192.0.2.2"]),
                       (3, ["192.0.2.3"])]
        assert not c.closed(0.3)
    d.check_doh_counters()


def test_pipeline_beyond_depth(d, certs):
    """40 requests in one write: more than the 16 held at once; all are
    answered, in order, on the one connection."""
    names = ["a.h1.lab.", "b.h1.lab.", "c.h1.lab."]
    with h1(d, certs) as c:
        c.send(b"".join(get_req(wire(names[i % 3], i)) for i in range(40)))
        for i in range(40):
            m = answer(d, *c.response())
            assert m.id == i
    d.check_doh_counters()


def bad_dns():
    return "GET /dns-query?dns=A%%%% HTTP/1.1\r\nHost: x\r\n\r\n".encode()


# (name, request bytes, status, does cairnd close the connection after)
STATUS_CASES = [
    ("404", lambda: get_req(wire(), path="/other"), 404, False),
    ("415", lambda: post_req(wire(), ct="text/plain"), 415, False),
    ("415-chunked", lambda: chunked_req([wire()[:7], wire()[7:]],
                                        ct="text/plain"), 415, False),
    ("413", lambda: post_req(b"x" * 100, cl=100000), 413, True),
    ("400-no-dns", lambda: b"GET /dns-query?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
     400, False),
    ("400-bad-base64", bad_dns, 400, False),
    ("400-short-post", lambda: post_req(b"abc"), 400, False),
    ("400-garbage", lambda: b"HELLO\r\n\r\n", 400, True),
    ("400-no-colon", lambda: get_req(wire(), extra="Broken header\r\n"),
     400, True),
    ("400-no-host", lambda: get_req(wire(), host=False), 400, True),
    ("400-cl-and-te", lambda: post_req(
        wire(), extra="Transfer-Encoding: chunked\r\n"), 400, True),
    ("501-put", lambda: b"PUT /dns-query HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 3\r\n\r\nabc", 501, False),
    ("501-te-gzip", lambda: b"POST /dns-query HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip\r\n\r\n", 501, True),
    ("505", lambda: get_req(wire(), version="HTTP/1.2"), 505, True),
    ("505-h3", lambda: get_req(wire(), version="HTTP/3.0"), 505, True),
    ("431", lambda: get_req(wire(), extra="X-Big: %s\r\n" % ("y" * 9000)),
     431, True),
    ("431-fields", lambda: get_req(wire(), extra="".join(
        "X-F%d: 1\r\n" % i for i in range(80))), 431, True),
    ("414", lambda: b"GET /dns-query?dns=" + b"A" * 70000 +
     b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, True),
]


@pytest.mark.parametrize("name,req,status,closes", STATUS_CASES,
                         ids=[c[0] for c in STATUS_CASES])
def test_status(d, certs, name, req, status, closes):
    with h1(d, certs) as c:
        c.send(req())
        got, hdrs, body = c.response()
        assert got == status, (got, hdrs)
        assert hdrs.get("content-length") == "0"
        if closes:
            assert hdrs.get("connection") == "close"
            assert c.closed(), "connection not closed after %d" % status
        else:
            # keep-alive: the next request on the same connection works
            assert "connection" not in hdrs
            c.send(get_req(wire("b.h1.lab.", 9)))
            m = answer(d, *c.response())
            assert m.id == 9
    st = d.check_doh_counters()
    assert harness.stat(st, "num.http.status.%d" % status) == 1


def test_chunked_post(d, certs):
    w = wire("c.h1.lab.", 77)
    with h1(d, certs) as c:
        # three chunks, chunk extensions, a trailer field
        c.send(chunked_req([w[:5], w[5:20], w[20:]],
                           trailer="X-Trailer: 1\r\n"))
        m = answer(d, *c.response())
        assert m.id == 77 and harness.a_addrs(m) == {"192.0.2.3"}
        # then the same in pieces of 7 bytes
        data = chunked_req([w[:10], w[10:]])
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
            time.sleep(0.005)
        m = answer(d, *c.response())
        assert m.id == 77
    d.check_doh_counters()


def test_expect_100_continue(d, certs):
    w = wire("a.h1.lab.", 5)
    with h1(d, certs) as c:
        req = post_req(w, extra="Expect: 100-continue\r\n")
        head = req[:len(req) - len(w)]
        c.send(head)
        status, hdrs, body = c.response()
        assert status == 100 and body == b""
        c.send(w)
        assert answer(d, *c.response()).id == 5
        # an error status instead of 100: the connection closes
        c.send(post_req(w, ct="text/plain",
                        extra="Expect: 100-continue\r\n")[:-len(w)])
        status, hdrs, body = c.response()
        assert status == 415 and hdrs.get("connection") == "close"
        assert c.closed()
    d.check_doh_counters()


def test_chunked_post_too_large(d, certs):
    with h1(d, certs) as c:
        c.send(b"POST /dns-query HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/dns-message\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n20000\r\n" + b"x" * 100)
        status, hdrs, _ = c.response()
        assert status == 413
        assert c.closed()
    d.check_doh_counters(0)


def test_connection_close_and_http10(d, certs):
    with h1(d, certs) as c:
        c.send(get_req(wire(), extra="Connection: close\r\n"))
        status, hdrs, body = c.response()
        answer(d, status, hdrs, body)
        assert hdrs.get("connection") == "close"
        assert c.closed()
    with h1(d, certs) as c:
        c.send(get_req(wire(), version="HTTP/1.0", host=False))
        status, hdrs, body = c.response()
        answer(d, status, hdrs, body)
        assert c.closed()
    with h1(d, certs) as c:
        c.send(get_req(wire(), version="HTTP/1.0",
                       extra="Connection: keep-alive\r\n") * 2)
        for _ in range(2):
            status, hdrs, body = c.response()
            answer(d, status, hdrs, body)
            assert hdrs.get("connection") == "keep-alive"
        assert not c.closed(0.3)
    d.check_doh_counters()


def test_idle_timeout(make_cairnd, certs):
    d = make_cairnd(doh=True, server_lines=LOCAL + "tcp-idle-timeout: 500")
    with h1(d, certs) as c:
        c.send(get_req(wire()))
        answer(d, *c.response())
        t0 = time.monotonic()
        assert c.closed(5.0)
        assert time.monotonic() - t0 < 4.0 * harness.SLOW
    with h1(d, certs) as c:
        c.send(b"GET /dns-query?dns=")   # an unfinished request
        assert c.closed(5.0)
    d.check_doh_counters()


# ------------------------------------------------------------ clear text

def notls_cairnd(make_cairnd, extra=""):
    port = harness.free_port()
    d = make_cairnd(server_lines=LOCAL + """
        interface: 127.0.0.1@%d
        https-port: %d
        http-notls-downstream: yes
        verbosity: 3
        """ % (port, port) + extra)
    d.http_port = port
    return d


@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_notls_http11_and_h2c(make_cairnd, tmp_path):
    d = notls_cairnd(make_cairnd)
    url = "http://127.0.0.1:%d/dns-query?dns=%s" % (d.http_port,
                                                     b64url(wire()))
    for mode, proto in (("--http1.1", "HTTP/1.1"),
                        ("--http2-prior-knowledge", "HTTP/2")):
        out = str(tmp_path / "o")
        r = harness.run(["curl", "-sS", "-v", mode, "--max-time", "10",
                         "-o", out, url])
        assert r.returncode == 0, r.stderr
        assert "< %s 200" % proto in r.stderr, r.stderr
        m = dns.message.from_wire(open(out, "rb").read())
        assert harness.a_addrs(m) == {"192.0.2.1"}
        d.expected_https += 1
    # raw HTTP/1.1 with pipelining over clear text
    with H1(d.http_port) as c:
        c.send(get_req(wire("a.h1.lab.", 1)) + post_req(wire("b.h1.lab.", 2)))
        assert answer(d, *c.response()).id == 1
        assert answer(d, *c.response()).id == 2
    # a TLS client on the clear-text port, and something else entirely
    for junk, what in ((b"\x16\x03\x01\x00\x05hello", "TLS handshake"),
                       (b"\x00\x1d\x12\x34binary dns", "neither HTTP/2")):
        with socket.create_connection(("127.0.0.1", d.http_port), 5) as s:
            s.sendall(junk)
            s.settimeout(5)
            assert s.recv(100) == b""
        harness.wait_until(lambda: what in d.stderr(), 5.0, what=what)
    st = d.check_doh_counters()
    assert harness.stat(st, "num.query.tls") == 0


def test_notls_h2c_client(make_cairnd):
    """The suite's HTTP/2 client, over clear text (prior knowledge)."""
    d = notls_cairnd(make_cairnd)
    c = H2cClient(d.http_port)
    try:
        st = c.wait(c.get(wire("b.h1.lab.")))
        assert st.status == 200
        m = harness.parse_answer(st)
        assert harness.a_addrs(m) == {"192.0.2.2"}
        d.expected_https += 1
    finally:
        c.close()
    d.check_doh_counters()


class _Plain:
    """A clear-text socket with the pending() H2Client asks TLS for."""

    def __init__(self, s):
        self._s = s

    def pending(self):
        return 0

    def __getattr__(self, name):
        return getattr(self._s, name)


class H2cClient(H2Client):
    """harness.H2Client over a clear-text socket."""

    def __init__(self, port, src="127.0.0.1", timeout=5.0):
        import hpack
        import hyperframe.frame as hf
        self.timeout = timeout * harness.SLOW
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(self.timeout)
        raw.bind((src, 0))
        raw.connect(("127.0.0.1", port))
        self.sock = _Plain(raw)
        self.alpn = None
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.buf = b""
        self.streams = {}
        self.server_settings = {}
        self.settings_seen = 0
        self.settings_acked = 0
        self.goaway = None
        self.closed = False
        self.frames = []
        self.next_sid = 1
        self.auto_ack = True
        self.auto_window = True
        self._hblock = None
        self.sock.sendall(harness.PREFACE)
        self.send_frame(hf.SettingsFrame(0))


# ------------------------------------------------------------ trusted proxy

ACL = """
access-control: 127.0.0.0/8 refuse
access-control: 127.0.0.5/32 allow
"""


@pytest.mark.parametrize("header", [
    "X-Forwarded-For: 127.0.0.9, 127.0.0.5",
    "X-Forwarded-For: 127.0.0.5, 127.0.0.1",
    "Forwarded: for=127.0.0.9, for=\"127.0.0.5:4711\";proto=https",
    "X-Real-IP: 127.0.0.5",
])
def test_trusted_proxy_h1(make_cairnd, certs, header):
    """From 127.0.0.1 (trusted) the right-most untrusted hop is the
    client (127.0.0.5: allowed); from 127.0.0.2 (not trusted) the header
    is ignored and the peer is refused."""
    d = make_cairnd(doh=True, server_lines=LOCAL + ACL +
                    "http-trusted-proxy: 127.0.0.1/32")
    for src, rcode in (("127.0.0.1", dns.rcode.NOERROR),
                       ("127.0.0.2", dns.rcode.REFUSED)):
        with h1(d, certs, src=src) as c:
            c.send(get_req(wire(), extra=header + "\r\n"))
            m = answer(d, *c.response())
            assert m.rcode() == rcode, (src, header)
    d.check_doh_counters()


def test_trusted_proxy_spoof_and_untrusted_config(make_cairnd, certs):
    d = make_cairnd(doh=True, server_lines=LOCAL + ACL +
                    "http-trusted-proxy: 127.0.0.1/32")
    with h1(d, certs) as c:
        # the right-most hop is untrusted: an address to its left (what
        # the client itself claimed) does not count
        c.send(get_req(wire(), extra="X-Forwarded-For: 127.0.0.5, "
                       "127.0.0.7\r\n"))
        assert answer(d, *c.response()).rcode() == dns.rcode.REFUSED
        # not an address: the walk stops, the trusted peer stays
        c.send(get_req(wire(), extra="X-Forwarded-For: 127.0.0.5, "
                       "unknown\r\n"))
        assert answer(d, *c.response()).rcode() == dns.rcode.REFUSED
    d2 = make_cairnd(doh=True, server_lines=LOCAL + ACL)
    with h1(d2, certs) as c:
        c.send(get_req(wire(), extra="X-Forwarded-For: 127.0.0.5\r\n"))
        assert answer(d2, *c.response()).rcode() == dns.rcode.REFUSED
    d.check_doh_counters()
    d2.check_doh_counters()


def test_trusted_proxy_h2(make_cairnd, certs):
    d = make_cairnd(doh=True, server_lines=LOCAL + ACL +
                    "http-trusted-proxy: 127.0.0.1/32")
    for src, rcode in (("127.0.0.1", dns.rcode.NOERROR),
                       ("127.0.0.2", dns.rcode.REFUSED)):
        with H2Client(d.https_port, certs["ca"], src=src) as c:
            st = c.wait(c.get(wire(), extra=[
                ("x-forwarded-for", "127.0.0.9"),
                ("x-forwarded-for", "127.0.0.5")]))
            m = harness.parse_answer(st)
            d.expected_https += 1
            assert m.rcode() == rcode, src
    d.check_doh_counters()
