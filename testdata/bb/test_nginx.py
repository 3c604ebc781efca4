"""A real nginx (Debian's nginx-light or nginx) on loopback in front of
cairnd, running contrib/nginx-doh.conf with its ports and paths
replaced: nginx terminates TLS (HTTP/2 to the clients) and proxies
HTTP/1.1 to cairnd's clear-text port (http-notls-downstream) with
X-Forwarded-For.  Queries through nginx work (curl --http2 and the
suite's HTTP/2 client); access-control sees the X-Forwarded-For address
only when nginx's address is an http-trusted-proxy.

The access-control table makes the two cases differ: 127.0.0.0/8 is
refused, 127.0.0.5 allowed.  nginx (127.0.0.1) connects to cairnd; the
clients connect to nginx from 127.0.0.5 or 127.0.0.3."""

import os
import shutil

import dns.message
import dns.rcode
import pytest

import harness
from harness import H2Client, b64url, make_query

NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx missing "
                                "(apt-get install nginx-light)")

CONTRIB = os.path.join(harness.REPO, "contrib", "nginx-doh.conf")

LOCAL = """
local-data: "www.nginx.lab. 300 IN A 192.0.2.44"
access-control: 127.0.0.0/8 refuse
access-control: 127.0.0.5/32 allow
"""


class Nginx(harness.ForegroundServer):
    """nginx in the foreground (daemon off, one process) on 'port' with
    TLS from 'certs', proxying to cairnd's clear-text 'backend' port, its
    pid file, logs and temp files in 'workdir'.  Stopped by PID."""

    def __init__(self, workdir, port, backend, certs):
        super().__init__(workdir, "nginx")
        self.port = port
        text = open(CONTRIB).read()
        for old, new in (
                ("listen 443 ssl http2;",
                 "listen 127.0.0.1:%d ssl http2;" % port),
                ("server 127.0.0.1:8053;", "server 127.0.0.1:%d;" % backend),
                ("/etc/ssl/doh/fullchain.pem", certs["cert"]),
                ("/etc/ssl/doh/privkey.pem", certs["key"])):
            assert old in text, "contrib/nginx-doh.conf lost %r" % old
            text = text.replace(old, new)
        with open(os.path.join(workdir, "doh.conf"), "w") as f:
            f.write(text)
        main = """
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/doh.conf;
}}
""".format(d=workdir)
        self.conf = os.path.join(workdir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(main)
        r = harness.run([NGINX, "-t", "-p", workdir, "-c", self.conf])
        assert r.returncode == 0, "nginx -t: %s %s" % (r.stdout, r.stderr)
        self.start([NGINX, "-p", workdir, "-c", self.conf], (port,),
                   logs=("error.log",))


@pytest.fixture
def start_nginx(certs):
    servers = harness.ServerSet("cairn-nginx-")

    def factory(backend):
        return servers.start(Nginx, harness.free_port(), backend, certs)
    yield factory
    servers.stop_all()


def backend(make_cairnd, trusted):
    port = harness.free_port()
    lines = LOCAL + """
        interface: 127.0.0.1@%d
        https-port: %d
        http-notls-downstream: yes
        """ % (port, port)
    if trusted:
        lines += "http-trusted-proxy: 127.0.0.1/32\n"
    d = make_cairnd(server_lines=lines)
    d.http_port = port
    return d


def wire(qid=0):
    return make_query("www.nginx.lab.", "A", qid=qid).to_wire()


def h2_query(n, certs, src, extra=()):
    with H2Client(n.port, certs["ca"], src=src) as c:
        assert c.alpn == "h2"
        st = c.wait(c.get(wire(), extra=list(extra)))
        return harness.parse_answer(st)


def curl(n, certs, src, tmp_path, post=False):
    out = str(tmp_path / "out")
    cmd = ["curl", "-sS", "-v", "--http2", "--cacert", certs["ca"],
           "--interface", src, "--max-time", "10", "-o", out]
    url = "https://127.0.0.1:%d/dns-query" % n.port
    if post:
        qf = tmp_path / "q"
        qf.write_bytes(wire())
        cmd += ["-H", "content-type: application/dns-message",
                "--data-binary", "@%s" % qf, url]
    else:
        cmd += [url + "?dns=" + b64url(wire())]
    r = harness.run(cmd)
    assert r.returncode == 0, r.stderr
    assert "< HTTP/2 200" in r.stderr, r.stderr
    m = dns.message.from_wire(open(out, "rb").read())
    if m.rcode() == dns.rcode.NOERROR:
        # cairnd's max-age passes through nginx
        assert "cache-control: max-age=300" in r.stderr.lower(), r.stderr
    return m


@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_nginx_trusted(make_cairnd, start_nginx, certs, tmp_path):
    d = backend(make_cairnd, trusted=True)
    n = start_nginx(d.http_port)
    # from 127.0.0.5 (allowed) through nginx: X-Forwarded-For counts
    for post in (False, True):
        m = curl(n, certs, "127.0.0.5", tmp_path, post=post)
        assert m.rcode() == dns.rcode.NOERROR, n.log()
        assert harness.a_addrs(m) == {"192.0.2.44"}
    m = h2_query(n, certs, "127.0.0.5")
    assert m.rcode() == dns.rcode.NOERROR
    # from 127.0.0.3 (refused): its own address is the client's
    m = h2_query(n, certs, "127.0.0.3")
    assert m.rcode() == dns.rcode.REFUSED
    # 127.0.0.3 claiming to be 127.0.0.5: nginx appends 127.0.0.3, the
    # right-most untrusted hop, so the claim is not believed
    m = h2_query(n, certs, "127.0.0.3",
                 extra=[("x-forwarded-for", "127.0.0.5")])
    assert m.rcode() == dns.rcode.REFUSED
    st = d.check_doh_counters(5)
    assert harness.stat(st, "num.http.status.200") == 5
    assert harness.stat(st, "num.query.tls") == 0


@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_nginx_not_trusted(make_cairnd, start_nginx, certs, tmp_path):
    """Without http-trusted-proxy cairnd sees nginx's own address
    (127.0.0.1: refused) whatever X-Forwarded-For says."""
    d = backend(make_cairnd, trusted=False)
    n = start_nginx(d.http_port)
    m = curl(n, certs, "127.0.0.5", tmp_path)
    assert m.rcode() == dns.rcode.REFUSED
    m = h2_query(n, certs, "127.0.0.5")
    assert m.rcode() == dns.rcode.REFUSED
    d.check_doh_counters(2)
