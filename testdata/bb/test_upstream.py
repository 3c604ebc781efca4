"""The forwarder against a faulty upstream: TCP after a UDP timeout or a
truncated answer, SERVFAIL relayed, garbage ignored, a wrong ID ignored,
a refusing upstream skipped at once, SERVFAIL when all fail, identical
queries in flight joined."""

import threading
import time

import dns.flags
import dns.rcode
import pytest

import harness
from harness import SLOW


def timed(f, *a, **kw):
    t = time.monotonic()
    r = f(*a, **kw)
    return r, time.monotonic() - t


def test_udp_timeout_then_tcp(make_cairnd, fake):
    fake.set("udpdead.lab.", "udp_timeout", addrs=["192.0.2.61"])
    d = make_cairnd(upstream=fake.port)
    m = d.udp("udpdead.lab.", timeout=20 * SLOW)
    assert m is not None, "no answer: TCP fallback after UDP timeout missing"
    assert harness.a_addrs(m) == {"192.0.2.61"}
    protos = fake.protos("udpdead.lab.")
    assert "udp" in protos and "tcp" in protos
    assert protos.index("udp") < protos.index("tcp")


@pytest.mark.parametrize("client", ["udp", "tcp"])
def test_truncated_then_tcp(make_cairnd, fake, client):
    fake.set("tc.lab.", "truncate", addrs=["192.0.2.62"])
    d = make_cairnd(upstream=fake.port)
    m, took = timed(getattr(d, client), "tc.lab.", timeout=10 * SLOW)
    assert m is not None
    assert harness.a_addrs(m) == {"192.0.2.62"}
    assert not m.flags & dns.flags.TC
    assert fake.protos("tc.lab.")[:2] == ["udp", "tcp"]
    assert took < 3 * SLOW, "TC must trigger TCP at once, not a timeout"


def test_truncated_from_nsd_full_answer_over_tcp(make_cairnd, nsd):
    d = make_cairnd(upstream=nsd.port)
    m = d.tcp("big.example.lab.", "TXT", timeout=10 * SLOW)
    assert sum(len(rr) for rr in m.answer) == harness.BIG_TXT_COUNT


def test_servfail_relayed(make_cairnd, fake):
    fake.set("sf.lab.", "servfail")
    d = make_cairnd(upstream=fake.port)
    m = d.udp("sf.lab.", timeout=20 * SLOW)
    assert m is not None and m.rcode() == dns.rcode.SERVFAIL
    # and the daemon is fine
    assert harness.a_addrs(d.udp("ok.lab.")) == {"192.0.2.1"}


@pytest.mark.timeout(90)
def test_garbage_ignored_then_servfail_bounded(make_cairnd, fake):
    fake.set("junk.lab.", "garbage")
    d = make_cairnd(upstream=fake.port)
    m, took = timed(d.udp, "junk.lab.", timeout=30 * SLOW)
    assert m is not None, "no SERVFAIL within 30 s"
    assert m.rcode() == dns.rcode.SERVFAIL
    assert fake.count("junk.lab.") >= 1
    assert took < 30 * SLOW
    assert harness.a_addrs(d.udp("ok.lab.")) == {"192.0.2.1"}


@pytest.mark.timeout(90)
def test_no_answer_at_all_servfail_bounded(make_cairnd, fake):
    fake.set("dead.lab.", "timeout")
    d = make_cairnd(upstream=fake.port)
    m, took = timed(d.udp, "dead.lab.", timeout=30 * SLOW)
    assert m is not None and m.rcode() == dns.rcode.SERVFAIL
    assert "tcp" in fake.protos("dead.lab."), "TCP tried after UDP timeout"


def test_wrong_id_ignored_right_one_taken(make_cairnd, fake):
    fake.set("wid.lab.", "wrongid", addrs=["192.0.2.63"])
    d = make_cairnd(upstream=fake.port)
    m, took = timed(d.udp, "wid.lab.", timeout=10 * SLOW)
    assert m is not None
    assert m.rcode() == dns.rcode.NOERROR
    assert harness.a_addrs(m) == {"192.0.2.63"}
    assert took < 2 * SLOW, "the right answer follows 50 ms after the wrong"
    st = d.stats()
    assert harness.stat(st, "unwanted.replies") >= 1


def test_refused_port_skipped_quickly(make_cairnd, fake):
    dead = harness.closed_port()
    d = make_cairnd(upstreams=[dead, fake.port])
    for i in range(6):
        name = "skip%d.lab." % i
        m, took = timed(d.udp, name, timeout=10 * SLOW)
        assert m is not None and m.rcode() == dns.rcode.NOERROR, name
        assert harness.a_addrs(m) == {"192.0.2.1"}
        assert took < 1.5 * SLOW, "%s took %.2fs: refusal must fail at " \
            "once, not after a timeout" % (name, took)


def test_all_upstreams_refuse_servfail_quickly(make_cairnd):
    d = make_cairnd(upstreams=[harness.closed_port(), harness.closed_port()])
    m, took = timed(d.udp, "nowhere.lab.", timeout=15 * SLOW)
    assert m is not None and m.rcode() == dns.rcode.SERVFAIL
    assert took < 3 * SLOW, "took %.2fs" % took


def test_all_upstreams_silent_servfail(make_cairnd, fake):
    fake2 = harness.FakeUpstream()
    try:
        fake.set("gone.lab.", "timeout")
        fake2.set("gone.lab.", "timeout")
        d = make_cairnd(upstreams=[fake.port, fake2.port])
        m = d.udp("gone.lab.", timeout=40 * SLOW)
        assert m is not None and m.rcode() == dns.rcode.SERVFAIL
        assert fake.count("gone.lab.") >= 1
        assert fake2.count("gone.lab.") >= 1, "second forward-addr tried"
    finally:
        fake2.close()


def test_identical_queries_in_flight_joined(make_cairnd, fake):
    fake.set("join.lab.", "answer", delay=0.4, addrs=["192.0.2.64"])
    d = make_cairnd(upstream=fake.port)
    results = [None] * 5

    def ask(i):
        results[i] = d.udp("join.lab.", timeout=10 * SLOW)
    ts = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(15 * SLOW)
    for m in results:
        assert m is not None and harness.a_addrs(m) == {"192.0.2.64"}
    assert fake.count("join.lab.") == 1


def test_upstream_query_id_and_port_random(make_cairnd, fake):
    """Different queries leave with different IDs (random, not counting
    up from a fixed value)."""
    d = make_cairnd(upstream=fake.port)
    ids = set()
    orig = fake._handle

    def spy(data, proto, send):
        ids.add(data[:2])
        return orig(data, proto, send)
    fake._handle = spy
    for i in range(20):
        assert d.udp("rnd%d.lab." % i) is not None
    assert len(ids) >= 18


def test_concurrent_udp_timeouts_fire_only_for_the_silent(make_cairnd, fake):
    """Ten queries in flight at once, answered over UDP in another order
    than they were sent (delays 0.5 s down to 0.1 s) or never (the odd
    ones, which the fake answers over TCP only): each silent one waits
    its 1 s and goes on over TCP; no answered one's timeout fires later
    (no TCP for it, even after the wait is long over)."""
    names = ["ut%d.lab." % i for i in range(10)]
    for i, n in enumerate(names):
        if i % 2:
            fake.set(n, "udp_timeout", addrs=["192.0.2.%d" % (100 + i)])
        else:
            fake.set(n, "answer", delay=0.5 - 0.04 * i,
                     addrs=["192.0.2.%d" % (100 + i)])
    d = make_cairnd(upstream=fake.port)
    results = [None] * 10

    def ask(i):
        results[i] = timed(d.udp, names[i], timeout=20 * SLOW)
    ts = [threading.Thread(target=ask, args=(i,)) for i in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30 * SLOW)
    for i, (m, took) in enumerate(results):
        assert m is not None, names[i]
        assert harness.a_addrs(m) == {"192.0.2.%d" % (100 + i)}
        if i % 2:
            assert took >= 0.9, "%s: TCP before the UDP wait" % names[i]
            p = fake.protos(names[i])
            assert "udp" in p and "tcp" in p
            assert p.index("udp") < p.index("tcp")
    time.sleep(1.5)
    for i in range(0, 10, 2):
        assert fake.protos(names[i]) == ["udp"], names[i]
