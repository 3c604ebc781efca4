"""
testdata/bb/test_upstream_ops.py - running encrypted upstreams (issue 5):
the mem.http.upstream gauge, forward zones to DoT/DoH upstreams added at
run time (cairn-control forward_add +t / +h), forward-host names looked
up at start-up and reload, and the backoff of upstreams that fail.

The upstreams are a second cairnd serving local-data over DoH or DoT on
loopback (as in test_upstream_encrypted.py), FakeDoH from that file
where a test needs an upstream that misbehaves on purpose, and plain
listening sockets that count the connections made to them.
"""

import concurrent.futures
import socket
import threading
import time

import dns.message
import dns.rcode

import harness
from harness import SLOW
from test_control import _ctl, _ctl_input
from test_upstream_encrypted import (a_of, fake_doh, local_lines,  # noqa: F401
                                     make_stub, many_queries,
                                     upstream_cairnd)

PADDED = 128        # every DoT/DoH query is padded to 128 bytes (RFC 8467)


def mem_upstream(d):
    return harness.stat(d.stats(), "mem.http.upstream")


def wait_mem(d, want, timeout):
    seen = []

    def ok():
        seen.append(mem_upstream(d))
        return seen[-1] == want
    try:
        harness.wait_until(ok, timeout, step=0.1,
                           what="mem.http.upstream == %d" % want)
    except harness.HarnessError:
        raise AssertionError("mem.http.upstream %r, expected %d"
                             % (seen[-5:], want))


# ------------------------------------------------------------ mem.http.upstream

def test_mem_http_upstream_exact_while_stalled(make_cairnd, certs, fake_doh):
    """An upstream that sends the headers and 40 bytes of each answer and
    then stalls: while the queries wait, mem.http.upstream is exactly
    their padded queries plus the 40 bytes received on each stream; when
    they have been given up (SERVFAIL) it is 0 again."""
    f = fake_doh(stall_body=40)
    stub = make_stub(make_cairnd, certs, f.port)
    assert mem_upstream(stub) == 0
    n = 10
    names = ["st%d.enc.lab." % i for i in range(n)]
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(many_queries, stub, names, n, 12.0)
        wait_mem(stub, n * (PADDED + 40), 3 * SLOW)
        res = fut.result(timeout=30 * SLOW)
    for r in res:
        assert isinstance(r, dns.message.Message), r
        assert r.rcode() == dns.rcode.SERVFAIL
    wait_mem(stub, 0, 3 * SLOW)
    assert len(f.bodies) == n


def test_mem_http_upstream_burst_back_to_zero(make_cairnd, certs):
    """A burst of 300 queries to a DoH upstream: the gauge is read while
    they run, all are answered, and it is 0 afterwards without waiting
    for the connection to close."""
    up = upstream_cairnd(make_cairnd)
    stub = make_stub(make_cairnd, certs, up.https_port)
    names = ["h%d.enc.lab." % (i % 200) for i in range(300)]
    seen = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            seen.append(mem_upstream(stub))
    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        res = many_queries(stub, names, workers=48)
    finally:
        stop.set()
        t.join(10)
    bad = [(n, r) for n, r in zip(names, res)
           if not isinstance(r, dns.message.Message)
           or r.rcode() != dns.rcode.NOERROR]
    assert not bad, bad[:3]
    assert seen, "the gauge was never read"
    # never more than 300 queries and their answers could hold
    assert max(seen) < 300 * (PADDED + 512) + 256 * 1024, max(seen)
    print("mem.http.upstream during the burst: max %d over %d reads"
          % (max(seen), len(seen)))
    # the connection stays open (idle timeout 10 s) and holds nothing
    assert mem_upstream(stub) == 0
    st = stub.stats()
    assert harness.stat(st, "num.query.httpsout") <= 300
    up.expected_https = False


# ------------------------------------------------------------ forward_add

def stub_without_zone(make_cairnd, certs):
    return make_cairnd(server_lines='tls-cert-bundle: "%s"' % certs["ca"])


def test_forward_add_https_zone(make_cairnd, certs):
    """forward_add +h makes a DoH forward zone at run time: the queries
    below it go over HTTPS to a second cairnd serving local-data."""
    up = upstream_cairnd(make_cairnd)
    stub = stub_without_zone(make_cairnd, certs)
    r = stub.udp("www.enc.lab.", "A")
    assert r.rcode() == dns.rcode.SERVFAIL     # "." goes to a closed port
    addr = "127.0.0.1@%d#localhost" % up.https_port
    assert _ctl(stub.conf, "forward_add", "+h", "enc.lab.", addr) == "ok\n"
    lines = _ctl(stub.conf, "list_forwards").splitlines()
    assert "enc.lab. IN forward +h %s" % addr in lines, lines
    r = stub.udp("www.enc.lab.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert a_of(r) == ["192.0.2.53"]
    r = stub.tcp("v6.enc.lab.", "AAAA")
    assert [rd.address for rr in r.answer for rd in rr] == ["2001:db8::53"]
    st = stub.stats()
    assert harness.stat(st, "num.query.httpsout") == 2
    assert harness.stat(st, "num.query.tlsout") == 0
    assert harness.stat(up.stats(), "num.query.https") == 2
    up.expected_https = 2
    stub.check_doh_counters(expected_https=False)


def test_forward_add_https_wrong_name_fails(make_cairnd, certs):
    """+h checks the certificate: a name it is not for fails (SERVFAIL),
    nothing reaches the upstream."""
    up = upstream_cairnd(make_cairnd)
    stub = stub_without_zone(make_cairnd, certs)
    assert _ctl(stub.conf, "forward_add", "+h", "enc.lab.",
                "127.0.0.1@%d#wrong.example" % up.https_port) == "ok\n"
    r = stub.udp("www.enc.lab.", "A", timeout=8 * SLOW)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert harness.stat(up.stats(), "num.query.https") == 0


def test_forward_add_tls_flags_as_unbound(make_cairnd, certs):
    """unbound-control's forms: "+i +t" and "+it" both make a DoT zone
    (+i changes nothing: cairn does not validate)."""
    up = upstream_cairnd(make_cairnd, dot=True)
    stub = stub_without_zone(make_cairnd, certs)
    addr = "127.0.0.1@%d#localhost" % up.tls_port
    assert _ctl(stub.conf, "forward_add", "+i", "+t", "enc.lab.",
                addr) == "ok\n"
    assert "enc.lab. IN forward +t %s" % addr in \
        _ctl(stub.conf, "list_forwards").splitlines()
    assert a_of(stub.udp("www.enc.lab.", "A")) == ["192.0.2.53"]
    assert _ctl(stub.conf, "forward_add", "+it", "enc.lab.", addr) == "ok\n"
    assert _ctl(stub.conf, "flush_zone", "enc.lab.").startswith("ok")
    assert a_of(stub.udp("www.enc.lab.", "A")) == ["192.0.2.53"]
    assert harness.stat(stub.stats(), "num.query.tlsout") == 2
    assert harness.stat(up.stats(), "num.query.tls") == 2
    # +i alone: plain DNS
    assert _ctl(stub.conf, "forward_add", "+i", "plain.lab.",
                "127.0.0.1@%d" % up.port) == "ok\n"
    assert "plain.lab. IN forward 127.0.0.1@%d" % up.port in \
        _ctl(stub.conf, "list_forwards").splitlines()


def test_forward_add_flag_errors(make_cairnd, certs):
    stub = stub_without_zone(make_cairnd, certs)
    for args, word in ((["+th", "x.lab.", "127.0.0.1"], "exclude"),
                       (["+t", "+h", "x.lab.", "127.0.0.1"], "exclude"),
                       (["+x", "x.lab.", "127.0.0.1"], "unknown flag"),
                       (["+h", "x.lab."], "takes"),
                       (["+h", "x.lab.", "dns.example"], "not an")):
        r = _ctl_input(stub.conf, ["forward_add"] + args, "")
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("error") and word in r.stderr, \
            (args, r.stderr)
    assert "x.lab." not in _ctl(stub.conf, "list_forwards")


# ------------------------------------------------------------ forward-host

def host_zone(port, more=""):
    return ("forward-zone:\n"
            '    name: "."\n'
            "    forward-host: localhost@%d\n%s" % (port, more))


def test_forward_host_localhost(make_cairnd):
    """forward-host: localhost@PORT is looked up in /etc/hosts: the
    queries go to 127.0.0.1@PORT, a cairnd serving local-data."""
    up = make_cairnd(server_lines=local_lines())
    stub = make_cairnd(extra=host_zone(up.port))
    r = stub.udp("www.enc.lab.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert a_of(r) == ["192.0.2.53"]
    assert ". IN forward 127.0.0.1@%d" % up.port in \
        _ctl(stub.conf, "list_forwards").splitlines()
    assert "forward-host localhost@%d: 127.0.0.1@%d" % (up.port, up.port) \
        in stub.stderr()
    assert harness.stat(stub.stats(), "num.query.udpout") == 1


def test_forward_host_https_checks_the_host_name(make_cairnd, certs):
    """Over HTTPS without #name the certificate is checked for the host
    name (the test certificate is for localhost)."""
    up = upstream_cairnd(make_cairnd)
    stub = make_cairnd(server_lines='tls-cert-bundle: "%s"' % certs["ca"],
                       extra=host_zone(up.https_port,
                                       "    forward-https-upstream: yes\n"))
    assert a_of(stub.udp("www.enc.lab.", "A")) == ["192.0.2.53"]
    assert ". IN forward +h 127.0.0.1@%d#localhost" % up.https_port in \
        _ctl(stub.conf, "list_forwards").splitlines()
    assert harness.stat(stub.stats(), "num.query.httpsout") == 1
    up.expected_https = 1


def test_forward_host_no_usable_address_stops_startup(tmp_path):
    """localhost has only 127.0.0.1 in /etc/hosts: with do-ip4: no it has
    no usable address, and cairnd says where (file, line, value).  (A
    name that is not in /etc/hosts is not tried: it would be asked of the
    network.)"""
    conf = tmp_path / "cairn.conf"
    port = harness.free_port()
    conf.write_text("server:\n"
                    "    interface: ::1@%d\n"
                    "    do-ip4: no\n"
                    "    use-syslog: no\n"
                    '    logfile: ""\n'
                    '    pidfile: ""\n'
                    "forward-zone:\n"
                    '    name: "."\n'
                    "    forward-addr: ::1@9\n"
                    "    forward-host: localhost@5353\n" % port)
    r = harness.run([harness.program("cairnd"), "-d", "-c", str(conf)],
                    timeout=20)
    assert r.returncode == 1, (r.returncode, r.stderr)
    want = "%s:10: forward-host: localhost@5353: localhost has no IPv6" \
        % conf
    assert want in r.stderr, r.stderr


def test_forward_host_looked_up_again_on_reload(make_cairnd):
    """reload looks forward-host up again, also when the file did not
    change (a zone added at run time is then gone, as the file says);
    a changed port takes effect."""
    up1 = make_cairnd(server_lines=local_lines())
    up2 = make_cairnd(server_lines='local-zone: "enc.lab." static\n'
                      'local-data: "www.enc.lab. 300 IN A 192.0.2.54"')
    stub = make_cairnd(extra=host_zone(up1.port))
    line = "forward-host localhost@%d: 127.0.0.1@%d" % (up1.port, up1.port)
    assert stub.stderr().count(line) == 1
    assert a_of(stub.udp("www.enc.lab.", "A")) == ["192.0.2.53"]
    assert _ctl(stub.conf, "forward_add", "x.lab.", "127.0.0.1@9") == "ok\n"
    assert _ctl(stub.conf, "reload") == "ok\n"
    harness.wait_until(lambda: stub.stderr().count(line) == 2, 10 * SLOW,
                       what="forward-host looked up again")
    harness.wait_until(lambda: "x.lab." not in
                       _ctl(stub.conf, "list_forwards"), 10 * SLOW,
                       what="the run-time zone gone")
    with open(stub.conf) as f:
        text = f.read()
    with open(stub.conf, "w") as f:
        f.write(text.replace("localhost@%d" % up1.port,
                             "localhost@%d" % up2.port))
    assert _ctl(stub.conf, "reload") == "ok\n"

    def moved():
        r = stub.udp("www.enc.lab.", "A", timeout=1)
        return r is not None and a_of(r) == ["192.0.2.54"]
    harness.wait_until(moved, 10 * SLOW, step=0.2, what="the new upstream")


# ------------------------------------------------------------ backoff

class CountingListener:
    """A TCP port on 127.0.0.1 that accepts, counts and closes at once
    (a TLS handshake with it fails): a dead DoT/DoH upstream whose
    connection attempts can be counted.  Bounded by stop_at."""

    def __init__(self):
        self.accepts = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.done = False
        self.stop_at = time.monotonic() + 120
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.done and time.monotonic() < self.stop_at:
            try:
                s, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.accepts += 1
            s.close()

    def close(self):
        self.done = True
        self.t.join(3)
        self.sock.close()


class CountingUdp:
    """A UDP port on 127.0.0.1 that counts datagrams and never answers
    (an upstream that times out)."""

    def __init__(self):
        self.count = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.done = False
        self.stop_at = time.monotonic() + 120
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.done and time.monotonic() < self.stop_at:
            try:
                self.sock.recv(65536)
            except (socket.timeout, OSError):
                continue
            self.count += 1

    def close(self):
        self.done = True
        self.t.join(3)
        self.sock.close()


def paced(stub, names, gap, timeout=8.0):
    """One query every 'gap' seconds, each in its own thread; returns
    [(message or exception, seconds taken)]."""
    def one(n):
        t0 = time.monotonic()
        try:
            r = harness.udp_msg(harness.make_query(n, "A"), stub.port,
                                timeout=timeout * SLOW)
        except Exception as e:     # noqa: BLE001 - reported by the caller
            r = e
        return r, time.monotonic() - t0
    futs = []
    with concurrent.futures.ThreadPoolExecutor(len(names)) as ex:
        for n in names:
            futs.append(ex.submit(one, n))
            time.sleep(gap)
        return [f.result() for f in futs]


def test_backoff_doh_dead_address_not_tried_each_query(make_cairnd, certs):
    """A DoH zone whose first address accepts and closes (TLS fails) and
    whose second is a working cairnd: every answer comes at once from the
    second, and the first gets a connection attempt per back-off interval
    (1 s, then 2 s), not one per query."""
    dead = CountingListener()
    try:
        up = upstream_cairnd(make_cairnd)
        stub = make_stub(make_cairnd, certs, dead.port,
                         more="    forward-addr: 127.0.0.1@%d#localhost\n"
                         % up.https_port)
        names = ["h%d.enc.lab." % i for i in range(20)]
        res = paced(stub, names, 0.12)
        for n, (r, took) in zip(names, res):
            assert isinstance(r, dns.message.Message), (n, r)
            assert r.rcode() == dns.rcode.NOERROR, n
            assert took < 1.0 * SLOW, "%s took %.2fs" % (n, took)
        # 20 queries over ~2.4 s: attempts at 0 s and ~1 s (then 2 s on)
        print("connection attempts to the dead address: %d" % dead.accepts)
        assert 1 <= dead.accepts <= 3, dead.accepts
        assert harness.stat(up.stats(), "num.query.https") == 20
        up.expected_https = 20
    finally:
        dead.close()


def test_backoff_doh_all_down_still_tried(make_cairnd, certs):
    """The only DoH address is dead: each query is still sent to it (and
    gets SERVFAIL, none is lost), but queries made while it is down wait
    for the one connection attempt at the end of its back-off instead of
    each making one."""
    dead = CountingListener()
    try:
        stub = make_stub(make_cairnd, certs, dead.port)
        names = ["d%d.enc.lab." % i for i in range(10)]
        res = paced(stub, names, 0.1)
        for n, (r, took) in zip(names, res):
            assert isinstance(r, dns.message.Message), (n, r)
            assert r.rcode() == dns.rcode.SERVFAIL, n
            assert took < 5.0 * SLOW, "%s took %.2fs" % (n, took)
        print("connection attempts: %d for 10 queries" % dead.accepts)
        assert 1 <= dead.accepts <= 3, dead.accepts
        stub.check_doh_counters(expected_https=False)
    finally:
        dead.close()


def test_backoff_do53_refused_address_skipped(make_cairnd):
    """Plain DNS: the first address refuses (ICMP port unreachable), the
    second answers.  Without backoff each query would go to both
    (num.query.udpout = 2 per query); with it the refusing one is asked
    about once a second."""
    up = make_cairnd(server_lines=local_lines())
    dead = harness.closed_port()
    stub = make_cairnd(upstreams=[dead, up.port])
    names = ["h%d.enc.lab." % i for i in range(20)]
    res = paced(stub, names, 0.1)
    for n, (r, took) in zip(names, res):
        assert isinstance(r, dns.message.Message), (n, r)
        assert a_of(r), n
        assert took < 0.5 * SLOW, "%s took %.2fs" % (n, took)
    out = harness.stat(stub.stats(), "num.query.udpout")
    print("num.query.udpout %d for 20 queries" % out)
    assert 21 <= out <= 23, out


def test_backoff_do53_silent_address_skipped(make_cairnd):
    """Plain DNS: the first address never answers (UDP timeout, then TCP
    refused).  The first query waits for it once; the following ones go
    to the second address at once while the first is down, and the first
    sees a query only about once per back-off interval."""
    up = make_cairnd(server_lines=local_lines())
    dead = CountingUdp()
    try:
        stub = make_cairnd(upstreams=[dead.port, up.port])
        r = stub.udp("h0.enc.lab.", "A", timeout=8 * SLOW)
        assert a_of(r) == ["192.0.2.1"]
        names = ["h%d.enc.lab." % i for i in range(1, 13)]
        res = paced(stub, names, 0.1)
        slow = [(n, took) for n, (r, took) in zip(names, res)
                if not isinstance(r, dns.message.Message) or not a_of(r)
                or took > 0.5 * SLOW]
        # the query that tries it again after 1 s waits its UDP timeout
        assert len(slow) <= 1, slow
        print("datagrams to the silent address: %d for 13 queries"
              % dead.count)
        assert 1 <= dead.count <= 3, dead.count
    finally:
        dead.close()
