"""EDNS Client Subnet (RFC 7871) with send-client-subnet: the option goes
only to the configured upstream addresses (or, with
client-subnet-always-forward, to any upstream when the client sent its
own), carries the client's address or its own option cut to
max-client-subnet-ipv4/6, answers are cached by their scope, the option
is echoed only to clients that sent one, a tailored DoH answer is
cache-control: private, a malformed client option gets FORMERR, and
without send-client-subnet nothing of this happens.

The upstream here is a small dnspython server (UDP and TCP) that records
the ECS option of every query and answers with a scope chosen per name
and an address that changes with every query it answers, so that a
cache hit can be told from a second upstream query."""

import os
import socket
import threading

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

import harness
from harness import SLOW, H2Client, make_query, parse_answer


class EcsUpstream(harness.DnsServer):
    """DNS on host@port (UDP and TCP).  self.seen: (proto, qname, ecs)
    with ecs None or (family, source, address text).  Per name in
    self.scope: the SCOPE to answer with (default 0), None to answer
    without an ECS option, "mismatch" to echo another address.  Per name
    in self.delay: seconds to wait before a UDP answer."""

    def __init__(self, host="127.0.0.1"):
        self.seen = []
        self.scope = {}
        self.delay = {}
        self.n = 0
        harness.DnsServer.__init__(self, host)

    def queries(self, name):
        with self.lock:
            return [e for p, n, e in self.seen if n == name]

    def _handle(self, data, proto, send):
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return
        qname = q.question[0].name.to_text().lower()
        ecs = None
        for o in q.options:
            if isinstance(o, dns.edns.ECSOption):
                ecs = (o.family, o.srclen, o.address)
        with self.lock:
            self.seen.append((proto, qname, ecs))
            self.n += 1
            n = self.n
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        r.answer.append(dns.rrset.from_text(
            qname, 300, "IN", "A", "10.9.%d.%d" % (n // 256, n % 256)))
        scope = self.scope.get(qname, 0)
        opts = []
        if ecs is not None and scope is not None:
            if scope == "mismatch":
                opts = [dns.edns.ECSOption("192.0.2.0", ecs[1], 0)]
            else:
                o = dns.edns.ECSOption(ecs[2], ecs[1], scope)
                opts = [o]
        r.use_edns(0, 0, 1232, options=opts)
        out = r.to_wire()
        delay = self.delay.get(qname, 0) if proto == "udp" else 0
        try:
            if delay:
                self.later(delay, send, out)
            else:
                send(out)
        except OSError:
            return


@pytest.fixture
def ups():
    """Two upstreams: 127.0.0.1 (in send-client-subnet) for ecs.lab and
    127.0.0.2 (not in it) for plain.lab."""
    a, b = EcsUpstream("127.0.0.1"), EcsUpstream("127.0.0.2")
    yield a, b
    a.close()
    b.close()


def zones(a, b):
    return ("forward-zone:\n    name: \"ecs.lab.\"\n"
            "    forward-addr: 127.0.0.1@%d\n"
            "forward-zone:\n    name: \"plain.lab.\"\n"
            "    forward-addr: 127.0.0.2@%d\n"
            "forward-zone:\n    name: \".\"\n"
            "    forward-addr: 127.0.0.1@9\n" % (a.port, b.port))


ECS_LINES = "send-client-subnet: 127.0.0.1/32\n"


def ask(d, name, src="127.0.0.1", ecs=None, tcp=False, opts=None):
    """Query d from src, optionally with an ECS option; parsed answer."""
    options = list(opts or [])
    if ecs is not None:
        options.append(dns.edns.ECSOption(*ecs))
    q = make_query(name, "A", options=options)
    f = harness.tcp_msg if tcp else harness.udp_msg
    m = f(q, d.port, timeout=5 * SLOW, src=src)
    assert m is not None, "no answer for %s from %s" % (name, src)
    return m


def answer_ecs(m):
    found = [o for o in m.options if o.otype == dns.edns.ECS]
    assert len(found) <= 1
    return found[0] if found else None


def test_sent_only_to_configured_upstreams(make_cairnd, ups):
    a, b = ups
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b))
    m = ask(d, "www.ecs.lab.", src="127.0.0.77")
    assert m.rcode() == dns.rcode.NOERROR and m.answer
    assert a.queries("www.ecs.lab.") == [(1, 24, "127.0.0.0")]
    assert answer_ecs(m) is None, "ECS returned to a client without it"
    m = ask(d, "www.plain.lab.", src="127.0.0.77")
    assert m.rcode() == dns.rcode.NOERROR and m.answer
    assert b.queries("www.plain.lab.") == [None]
    # a client's own option does not go to plain.lab either (always-
    # forward is off), but comes back to the client with scope 0
    m = ask(d, "own.plain.lab.", ecs=("198.51.100.0", 24))
    assert b.queries("own.plain.lab.") == [None]
    e = answer_ecs(m)
    assert e is not None and (e.address, e.srclen, e.scopelen) == \
        ("198.51.100.0", 24, 0)


def test_client_option_honoured_and_cut(make_cairnd, ups):
    a, b = ups
    a.scope["cut.ecs.lab."] = 32
    a.scope["short.ecs.lab."] = 20
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b))
    m = ask(d, "cut.ecs.lab.", ecs=("198.51.100.77", 32))
    assert a.queries("cut.ecs.lab.") == [(1, 24, "198.51.100.0")]
    e = answer_ecs(m)
    # echoed as the client sent it; the scope never beyond what we sent
    assert (e.family, e.address, e.srclen, e.scopelen) == \
        (1, "198.51.100.77", 32, 24)
    m = ask(d, "short.ecs.lab.", ecs=("203.0.112.0", 20), tcp=True)
    assert a.queries("short.ecs.lab.") == [(1, 20, "203.0.112.0")]
    e = answer_ecs(m)
    assert (e.address, e.srclen, e.scopelen) == ("203.0.112.0", 20, 20)
    # IPv6: cut to 56 bits
    m = ask(d, "six.ecs.lab.", ecs=("2001:db8:1:2ff::", 64))
    assert a.queries("six.ecs.lab.") == [(2, 56, "2001:db8:1:200::")]
    e = answer_ecs(m)
    assert (e.family, e.srclen, e.scopelen) == (2, 64, 0)
    # source 0: the option is sent with no address
    ask(d, "zero.ecs.lab.", ecs=("0.0.0.0", 0))
    assert a.queries("zero.ecs.lab.") == [(1, 0, "0.0.0.0")]


def test_configured_maxima(make_cairnd, ups):
    a, b = ups
    d = make_cairnd(server_lines=ECS_LINES + "max-client-subnet-ipv4: 12\n"
                    "max-client-subnet-ipv6: 40\n", extra=zones(a, b))
    ask(d, "m.ecs.lab.", src="127.0.0.77")
    assert a.queries("m.ecs.lab.") == [(1, 12, "127.0.0.0")]
    ask(d, "m4.ecs.lab.", ecs=("198.51.100.77", 32))
    assert a.queries("m4.ecs.lab.") == [(1, 12, "198.48.0.0")]
    ask(d, "m6.ecs.lab.", ecs=("2001:db8:1:2ff::", 64))
    assert a.queries("m6.ecs.lab.") == [(2, 40, "2001:db8::")]


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no ::1")
def test_ipv6_client_address_cut_to_56(make_cairnd, ups):
    a, b = ups
    conf = ("server:\n    interface: 127.0.0.1@@PORT@\n"
            "    interface: ::1@@PORT@\n    port: @PORT@\n"
            "    use-syslog: no\n    logfile: \"\"\n    pidfile: \"\"\n"
            "    username: \"\"\n    chroot: \"\"\n    num-threads: 1\n"
            "    do-ip6: yes\n    " + ECS_LINES + zones(a, b))
    d = make_cairnd(raw_config=conf, control=False)
    q = make_query("v6.ecs.lab.", "A")
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.settimeout(5 * SLOW)
        s.sendto(q.to_wire(), ("::1", d.port))
        m = dns.message.from_wire(s.recv(65535))
    finally:
        s.close()
    assert m.rcode() == dns.rcode.NOERROR and m.answer
    assert answer_ecs(m) is None
    assert a.queries("v6.ecs.lab.") == [(2, 56, "::")]


def test_scope_keyed_cache(make_cairnd, ups):
    a, b = ups
    a.scope["s24.ecs.lab."] = 24
    a.scope["s16.ecs.lab."] = 16
    a.scope["s0.ecs.lab."] = 0
    a.scope["none.ecs.lab."] = None
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b))

    def addr(name, src, **kw):
        return harness.a_addrs(ask(d, name, src=src, **kw))

    # scope 24: two clients in one /24 share one upstream answer
    x = addr("s24.ecs.lab.", "127.0.0.2")
    assert addr("s24.ecs.lab.", "127.0.0.3") == x
    assert len(a.queries("s24.ecs.lab.")) == 1
    # another /24: a second upstream query and another answer
    y = addr("s24.ecs.lab.", "127.0.1.2")
    assert y != x
    assert a.queries("s24.ecs.lab.") == [(1, 24, "127.0.0.0"),
                                         (1, 24, "127.0.1.0")]
    assert addr("s24.ecs.lab.", "127.0.1.9") == y
    assert addr("s24.ecs.lab.", "127.0.0.9") == x
    assert len(a.queries("s24.ecs.lab.")) == 2
    # scope 16: the /24 sent is cached for its /16
    z = addr("s16.ecs.lab.", "127.0.0.2")
    assert addr("s16.ecs.lab.", "127.0.200.2") == z
    assert len(a.queries("s16.ecs.lab.")) == 1
    assert addr("s16.ecs.lab.", "127.1.0.2") != z
    assert len(a.queries("s16.ecs.lab.")) == 2
    # a client's own option counts like its address
    assert addr("s24.ecs.lab.", "127.0.0.1",
                ecs=("127.0.1.0", 24)) == y
    assert len(a.queries("s24.ecs.lab.")) == 2
    # scope 0 and no option in the answer: shared by everyone
    for name in ("s0.ecs.lab.", "none.ecs.lab."):
        w = addr(name, "127.0.0.2")
        assert addr(name, "127.5.6.7") == w
        assert addr(name, "127.0.0.1", ecs=("198.51.100.0", 24)) == w
        assert len(a.queries(name)) == 1
    # echo on a cache hit: the stored scope; on a shared hit: 0
    e = answer_ecs(ask(d, "s24.ecs.lab.", ecs=("127.0.1.200", 32)))
    assert (e.srclen, e.scopelen) == (32, 24)
    e = answer_ecs(ask(d, "s0.ecs.lab.", ecs=("127.0.1.200", 32)))
    assert (e.srclen, e.scopelen) == (32, 0)
    # every answer above came without ECS unless the client sent it
    assert answer_ecs(ask(d, "s24.ecs.lab.", src="127.0.0.4")) is None
    st = d.stats()
    assert harness.stat(st, "num.cachehits") >= 10
    # from upstream: s24 x2, s16 x2; from the subnet cache: s24 x6,
    # s16 x1 (the s0 and none hits are from the shared cache)
    assert harness.stat(st, "num.query.subnet") == 4
    assert harness.stat(st, "num.query.subnet_cache") == 7
    # flushing the name removes the tailored entries too
    r = harness.run([harness.program("cairn-control"), "-c", d.conf,
                     "flush", "s24.ecs.lab."])
    assert r.returncode == 0, r.stderr
    addr("s24.ecs.lab.", "127.0.0.2")
    assert len(a.queries("s24.ecs.lab.")) == 3


def test_in_flight_joined_per_subnet(make_cairnd, ups):
    a, b = ups
    a.scope["slow.ecs.lab."] = 24
    # under the 1 s after which cairnd retries over TCP, also under ASan
    a.delay["slow.ecs.lab."] = 0.4
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b))
    got = {}

    def one(src):
        got[src] = harness.a_addrs(ask(d, "slow.ecs.lab.", src=src))
    ts = [threading.Thread(target=one, args=(src,))
          for src in ("127.0.0.2", "127.0.0.3", "127.0.1.2", "127.0.1.3")]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10 * SLOW)
    assert len(got) == 4
    # one upstream query per /24, each answer to its own subnet only
    assert sorted(a.queries("slow.ecs.lab.")) == [(1, 24, "127.0.0.0"),
                                                  (1, 24, "127.0.1.0")]
    assert got["127.0.0.2"] == got["127.0.0.3"]
    assert got["127.0.1.2"] == got["127.0.1.3"]
    assert got["127.0.0.2"] != got["127.0.1.2"]


def test_mismatched_echo_not_taken(make_cairnd, ups):
    a, b = ups
    a.scope["bad.ecs.lab."] = "mismatch"
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b))
    m = ask(d, "bad.ecs.lab.", src="127.0.0.2")
    assert m.rcode() == dns.rcode.SERVFAIL
    assert len(a.queries("bad.ecs.lab.")) >= 2   # UDP, then TCP
    st = d.stats()
    assert harness.stat(st, "unwanted.replies") >= 1


def test_always_forward(make_cairnd, ups):
    a, b = ups
    d = make_cairnd(server_lines=ECS_LINES +
                    "client-subnet-always-forward: yes\n",
                    extra=zones(a, b))
    ask(d, "x.plain.lab.", src="127.0.0.2")
    assert b.queries("x.plain.lab.") == [None]
    ask(d, "y.plain.lab.", ecs=("198.51.100.77", 32))
    assert b.queries("y.plain.lab.") == [(1, 24, "198.51.100.0")]
    # the shared cache is skipped for a query with its own option
    ask(d, "x.plain.lab.", ecs=("198.51.100.77", 32))
    assert b.queries("x.plain.lab.") == [None, (1, 24, "198.51.100.0")]


BAD_OPTIONS = {
    "family 3": b"\x00\x03\x18\x00\xc0\x00\x02",
    "prefix longer than IPv4": b"\x00\x01\x21\x00\x01\x02\x03\x04\x05",
    "bits past the prefix": b"\x00\x01\x17\x00\xc0\x00\x03",
    "scope in a query": b"\x00\x01\x18\x10\xc0\x00\x02",
    "address too long": b"\x00\x01\x10\x00\xc0\x00\x02",
    "family 2, prefix 129": b"\x00\x02\x81\x00" + b"\x00" * 17,
}


@pytest.mark.parametrize("why", sorted(BAD_OPTIONS))
def test_malformed_client_option_formerr(make_cairnd, ups, why):
    a, b = ups
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b))
    opt = dns.edns.GenericOption(dns.edns.ECS, BAD_OPTIONS[why])
    q = make_query("www.ecs.lab.", "A", options=[opt]).to_wire()
    data = harness.udp(q, d.port, timeout=5 * SLOW)
    assert data is not None
    assert data[3] & 0xF == dns.rcode.FORMERR
    assert answer_ecs(dns.message.from_wire(data)) is None
    assert a.queries("www.ecs.lab.") == []


def test_doh_tailored_answer_is_private(make_cairnd, ups, certs):
    a, b = ups
    a.scope["t.ecs.lab."] = 24
    a.scope["g.ecs.lab."] = 0
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b), doh=True)
    with H2Client(d.https_port, certs["ca"]) as c:
        for _ in range(2):      # from upstream, then from the cache
            st = c.query(make_query("t.ecs.lab.", "A", qid=0).to_wire())
            m = parse_answer(st)
            d.expected_https += 1
            assert m.answer and answer_ecs(m) is None
            cc = [p.strip() for p in st.header("cache-control").split(",")]
            assert cc[0] == "private", cc
            assert cc[1].startswith("max-age=")
        st = c.query(make_query("g.ecs.lab.", "A", qid=0).to_wire())
        parse_answer(st)
        d.expected_https += 1
        assert "private" not in st.header("cache-control")
    assert len(a.queries("t.ecs.lab.")) == 1
    d.check_doh_counters()


@pytest.mark.skipif(not harness.have_tool("curl"), reason="curl missing")
def test_doh_http11_tailored_answer_is_private(make_cairnd, ups, certs):
    a, b = ups
    a.scope["h1.ecs.lab."] = 24
    a.scope["h1g.ecs.lab."] = 0
    d = make_cairnd(server_lines=ECS_LINES, extra=zones(a, b), doh=True)
    url = "https://localhost:%d/dns-query" % d.https_port
    heads = []
    for name in ("h1.ecs.lab.", "h1.ecs.lab.", "h1g.ecs.lab."):
        qf = os.path.join(d.dir, "q.bin")
        with open(qf, "wb") as f:
            f.write(make_query(name, "A", qid=0).to_wire())
        r = harness.run(["curl", "-sS", "--http1.1", "--cacert", certs["ca"],
                         "--resolve", "localhost:%d:127.0.0.1" % d.https_port,
                         "-H", "content-type: application/dns-message",
                         "--data-binary", "@" + qf, "-D", "-", "-o",
                         os.devnull, "--max-time", "10", url])
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("HTTP/1.1 200"), r.stdout
        heads.append(r.stdout.lower())
        d.expected_https += 1
    assert "cache-control: private, max-age=" in heads[0]
    assert "cache-control: private, max-age=" in heads[1]
    assert "cache-control: max-age=" in heads[2]
    assert "private" not in heads[2]
    assert len(a.queries("h1.ecs.lab.")) == 1
    d.check_doh_counters()


def test_off_without_send_client_subnet(make_cairnd, ups):
    a, b = ups
    a.scope["www.ecs.lab."] = 24
    d = make_cairnd(extra=zones(a, b),
                    server_lines="client-subnet-always-forward: yes\n")
    m = ask(d, "www.ecs.lab.", src="127.0.0.2")
    assert a.queries("www.ecs.lab.") == [None]
    m = ask(d, "www.ecs.lab.", src="127.0.1.2", ecs=("198.51.100.0", 24))
    assert answer_ecs(m) is None
    assert len(a.queries("www.ecs.lab.")) == 1


def test_proxied_client_address_is_the_ecs_source(make_cairnd, ups):
    """Behind a load balancer (proxy-protocol-port), ECS carries the
    client address of the PROXY header, not the balancer's: over TCP
    (v1 and v2) and over UDP (v2 in the datagram)."""
    import test_proxy
    a, b = ups
    pp = harness.free_port()
    make_cairnd(server_lines=ECS_LINES +
                    "interface: 127.0.0.1@%d\nproxy-protocol-port: %d\n"
                    "access-control: 0.0.0.0/0 allow\n" % (pp, pp),
                    extra=zones(a, b))
    q = make_query("tcp1.ecs.lab.", "A")
    c = harness.TcpConn(pp, timeout=5 * SLOW,
                        pre=test_proxy.v1("198.51.100.77", dport=pp))
    try:
        m = c.query(q)
    finally:
        c.close()
    assert m.rcode() == dns.rcode.NOERROR and m.answer
    assert a.queries("tcp1.ecs.lab.") == [(1, 24, "198.51.100.0")]
    q = make_query("tcp2.ecs.lab.", "A")
    c = harness.TcpConn(pp, timeout=5 * SLOW,
                        pre=test_proxy.v2("203.0.113.9", dport=pp))
    try:
        m = c.query(q)
    finally:
        c.close()
    assert m.rcode() == dns.rcode.NOERROR and m.answer
    assert a.queries("tcp2.ecs.lab.") == [(1, 24, "203.0.113.0")]
    q = make_query("udp.ecs.lab.", "A")
    m = test_proxy.udp_ask(pp, test_proxy.v2("192.0.2.200", dport=pp,
                                             dgram=True) + q.to_wire())
    assert m is not None and m.rcode() == dns.rcode.NOERROR and m.answer
    assert a.queries("udp.ecs.lab.") == [(1, 24, "192.0.2.0")]
    assert answer_ecs(m) is None
