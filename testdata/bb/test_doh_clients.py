"""Real DoH clients against cairnd: kdig +https, dig +https (POST and
GET), curl --http2 (GET and POST, response headers) and nghttp."""

import os

import dns.message
import pytest

import harness
from harness import make_query


@pytest.fixture
def d(make_cairnd, nsd):
    return make_cairnd(upstream=nsd.port, doh=True)


@pytest.mark.skipif(not harness.have_tool("kdig"), reason="kdig missing")
@pytest.mark.parametrize("get", [False, True])
def test_kdig_https(d, certs, get):
    https = "+https-get" if get else "+https"
    r = harness.run(["kdig", "@127.0.0.1", "-p", str(d.https_port), https,
                     "+tls-ca=%s" % certs["ca"], "+tls-hostname=localhost",
                     "+short", "+time=5", "+retry=0",
                     "www.example.lab", "AAAA"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2001:db8::1"]
    d.check_doh_counters(1)


@pytest.mark.skipif(not harness.have_tool("dig"), reason="dig missing")
@pytest.mark.parametrize("mode", ["+https", "+https-get"])
def test_dig_https(d, certs, mode):
    r = harness.run(["dig", "@127.0.0.1", "-p", str(d.https_port), mode,
                     "+tls-ca=%s" % certs["ca"], "+tls-hostname=localhost",
                     "+short", "+time=5", "+tries=1", "mx.example.lab",
                     "MX"])
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout.split() == ["10", "mail.example.lab."]
    d.check_doh_counters(1)


@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_curl_get_and_post(d, certs):
    q = make_query("www.example.lab.", qid=0).to_wire()
    qf = os.path.join(d.dir, "q.bin")
    with open(qf, "wb") as f:
        f.write(q)
    url = "https://localhost:%d/dns-query" % d.https_port
    base = ["curl", "-sS", "--http2", "--cacert", certs["ca"],
            "--resolve", "localhost:%d:127.0.0.1" % d.https_port,
            "-H", "accept: application/dns-message", "-D", "-",
            "--max-time", "10"]
    for extra in (["%s?dns=%s" % (url, harness.b64url(q))],
                  ["-H", "content-type: application/dns-message",
                   "--data-binary", "@" + qf, url]):
        out = os.path.join(d.dir, "a.bin")
        r = harness.run(base + ["-o", out] + extra)
        assert r.returncode == 0, r.stderr
        head = r.stdout.lower()
        assert head.startswith("http/2 200"), r.stdout
        assert "content-type: application/dns-message" in head
        assert "cache-control: max-age=" in head
        with open(out, "rb") as f:
            body = f.read()
        assert "content-length: %d" % len(body) in head
        m = dns.message.from_wire(body)
        assert harness.a_addrs(m) == {"192.0.2.1"}
    d.check_doh_counters(2)


@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_curl_error_statuses(d, certs):
    base = ["curl", "-sS", "--http2", "--cacert", certs["ca"],
            "--resolve", "localhost:%d:127.0.0.1" % d.https_port,
            "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"]
    url = "https://localhost:%d" % d.https_port
    cases = [([url + "/other"], "404"),
             ([url + "/dns-query?dns=!!!"], "400"),
             (["-X", "PUT", "--data-binary", "x", url + "/dns-query"], "501"),
             (["-H", "content-type: text/plain", "--data-binary",
               "abcdefghijklmnop", url + "/dns-query"], "415")]
    for extra, want in cases:
        r = harness.run(base + extra)
        assert r.stdout == want, (extra, r.stdout, r.stderr)
    d.check_doh_counters(0)


@pytest.mark.skipif(not harness.have_tool("nghttp"), reason="nghttp missing")
def test_nghttp(d, certs):
    q = make_query("txt.example.lab.", "TXT", qid=0).to_wire()
    r = _nghttp(d, q)
    assert r.returncode == 0, r.stderr
    m = dns.message.from_wire(r.stdout)
    assert [r_.strings for rr in m.answer for r_ in rr] == \
        [(b"hello world", b"second string")]
    d.check_doh_counters(1)


def _nghttp(d, q):
    import subprocess
    return subprocess.run(
        ["nghttp", "-t", "10", "-H", "accept: application/dns-message",
         "https://127.0.0.1:%d/dns-query?dns=%s"
         % (d.https_port, harness.b64url(q))],
        capture_output=True, timeout=20 * harness.SLOW,
        stdin=subprocess.DEVNULL)
