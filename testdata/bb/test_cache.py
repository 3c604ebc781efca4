"""The message cache: hits, TTL decrement, negative caching with the
SOA-based TTL (RFC 2308), cache-max-ttl / cache-min-ttl, msg-cache-size."""

import time

import dns.rcode
import dns.rdatatype
import pytest

import harness
from harness import SLOW


def test_second_query_is_a_cache_hit(make_cairnd, fake):
    d = make_cairnd(upstream=fake.port)
    st0 = d.stats()
    m1 = d.udp("hit.lab.")
    m2 = d.tcp("hit.lab.")
    assert harness.a_addrs(m1) == harness.a_addrs(m2) == {"192.0.2.1"}
    assert fake.count("hit.lab.") == 1
    st1 = d.stats()
    assert harness.stat(st1, "num.cachehits") - \
        harness.stat(st0, "num.cachehits") == 1
    assert harness.stat(st1, "num.cachemiss") - \
        harness.stat(st0, "num.cachemiss") == 1


def test_cache_key_includes_type(make_cairnd, fake):
    d = make_cairnd(upstream=fake.port)
    d.udp("types.lab.", "A")
    m = d.udp("types.lab.", "AAAA")
    assert harness.a_addrs(m) == {"2001:db8::1"}
    assert fake.count("types.lab.") == 2


def test_case_insensitive_hit(make_cairnd, fake):
    d = make_cairnd(upstream=fake.port)
    d.udp("case.lab.")
    m = d.udp("CaSe.LaB.")
    assert m.rcode() == dns.rcode.NOERROR
    assert m.question[0].name.to_text() == "CaSe.LaB."
    assert fake.count("case.lab.") == 1


def test_ttl_decremented(make_cairnd, fake):
    fake.set("ttl.lab.", "answer", ttl=300)
    d = make_cairnd(upstream=fake.port)
    t1 = harness.min_ttl(d.udp("ttl.lab."))
    assert 298 <= t1 <= 300
    time.sleep(2.2)
    t2 = harness.min_ttl(d.udp("ttl.lab."))
    assert t1 - 4 <= t2 <= t1 - 2, (t1, t2)
    assert fake.count("ttl.lab.") == 1


def test_expired_entry_refetched(make_cairnd, fake):
    fake.set("short.lab.", "answer", ttl=1)
    d = make_cairnd(upstream=fake.port)
    d.udp("short.lab.")
    d.udp("short.lab.")
    assert fake.count("short.lab.") == 1
    time.sleep(2.2)
    m = d.udp("short.lab.")
    assert harness.a_addrs(m) == {"192.0.2.1"}
    assert fake.count("short.lab.") == 2


@pytest.mark.parametrize("soa_ttl,soa_min", [(2, 3600), (3600, 2)])
def test_negative_cached_with_soa_ttl(make_cairnd, fake, soa_ttl, soa_min):
    """negative TTL = min(SOA TTL, SOA MINIMUM): 2 s in both cases."""
    fake.set("neg.lab.", "nxdomain", soa_ttl=soa_ttl, soa_min=soa_min)
    d = make_cairnd(upstream=fake.port)
    m1 = d.udp("neg.lab.")
    assert m1.rcode() == dns.rcode.NXDOMAIN
    m2 = d.udp("neg.lab.")
    assert m2.rcode() == dns.rcode.NXDOMAIN
    assert [rr.rdtype for rr in m2.authority] == [dns.rdatatype.SOA]
    assert m2.authority[0].ttl <= 2
    assert fake.count("neg.lab.") == 1, "negative answer not cached"
    time.sleep(3.0)
    assert d.udp("neg.lab.").rcode() == dns.rcode.NXDOMAIN
    assert fake.count("neg.lab.") == 2, "negative entry outlived its TTL"


def test_nodata_cached(make_cairnd, fake):
    fake.set("nod.lab.", "nodata", soa_ttl=60, soa_min=60)
    d = make_cairnd(upstream=fake.port)
    for _ in range(3):
        m = d.udp("nod.lab.")
        assert m.rcode() == dns.rcode.NOERROR and not m.answer
    assert fake.count("nod.lab.") == 1


def test_negative_from_nsd(make_cairnd, nsd):
    d = make_cairnd(upstream=nsd.port)
    m1 = d.udp("nx.example.lab.")
    time.sleep(1.1)
    m2 = d.udp("nx.example.lab.")
    assert m2.rcode() == dns.rcode.NXDOMAIN
    # zone: SOA TTL 300, MINIMUM 60
    assert m1.authority[0].ttl <= 60
    assert m2.authority[0].ttl < m1.authority[0].ttl


def test_servfail_not_cached_long(make_cairnd, fake):
    fake.set("flaky.lab.", "servfail")
    d = make_cairnd(upstream=fake.port)
    assert d.udp("flaky.lab.", timeout=20 * SLOW).rcode() == \
        dns.rcode.SERVFAIL
    fake.set("flaky.lab.", "answer", addrs=["192.0.2.70"])
    m = harness.wait_until(
        lambda: (lambda r: r if r and r.answer else None)(
            d.udp("flaky.lab.", timeout=10 * SLOW)),
        10 * SLOW, step=0.5, what="answer after SERVFAIL")
    assert harness.a_addrs(m) == {"192.0.2.70"}


def test_cache_max_ttl(make_cairnd, fake):
    fake.set("max.lab.", "answer", ttl=3000)
    d = make_cairnd(upstream=fake.port, server_lines="cache-max-ttl: 10")
    assert harness.min_ttl(d.udp("max.lab.")) <= 10
    assert harness.min_ttl(d.udp("max.lab.")) <= 10


def test_cache_min_ttl(make_cairnd, fake):
    fake.set("min.lab.", "answer", ttl=1)
    d = make_cairnd(upstream=fake.port, server_lines="cache-min-ttl: 60")
    d.udp("min.lab.")
    time.sleep(1.5)
    m = d.udp("min.lab.")
    assert harness.min_ttl(m) >= 57
    assert fake.count("min.lab.") == 1


@pytest.mark.timeout(120)
def test_msg_cache_size_honoured(make_cairnd, fake):
    limit = 64 * 1024
    d = make_cairnd(upstream=fake.port,
                    server_lines="msg-cache-size: %d" % limit)
    names = ["c%03d.size.lab." % i for i in range(400)]
    txt = ['"%s"' % ("x" * 200)]
    for n in names:
        fake.set(n, "answer", txt=txt)
    for n in names:
        m = d.udp(n, "TXT")
        assert m is not None and m.answer, n
    st = d.stats()
    mem = harness.stat(st, "mem.cache.message")
    assert 0 < mem <= limit, "mem.cache.message=%d over %d" % (mem, limit)
    # 400 answers of ~250 bytes cannot all be there: the oldest went
    for n in names:
        d.udp(n, "TXT")
    refetched = sum(1 for n in names if fake.count(n) == 2)
    assert refetched >= 100, "only %d of 400 refetched" % refetched
    assert harness.stat(d.stats(), "mem.cache.message") <= limit


def test_cached_answer_bytes(make_cairnd, fake):
    """cairn.conf(5): an answer of one A record for a 20-byte name takes
    217 bytes of msg-cache-size (the default holds about 19,000).  An
    entry that carried a whole name buffer again would take over 450."""
    n = 1000
    d = make_cairnd(upstream=fake.port, server_lines="msg-cache-size: 64m")
    names = ["w%05d.example.com." % i for i in range(n)]
    for name in names:
        fake.set(name, "answer")
    mem0 = harness.stat(d.stats(), "mem.cache.message")
    for name in names:
        m = d.udp(name)
        assert m is not None and harness.a_addrs(m) == {"192.0.2.1"}, name
    per = (harness.stat(d.stats(), "mem.cache.message") - mem0) / n
    assert 150 < per < 240, "%.1f bytes per cached answer" % per


def test_two_threads_share_cache_and_count(make_cairnd, fake):
    d = make_cairnd(upstream=fake.port, server_lines="num-threads: 2")
    for i in range(40):
        m = d.udp("mt.lab.")                 # new source port each time
        assert harness.a_addrs(m) == {"192.0.2.1"}
        m = d.tcp("mt%d.lab." % (i % 4))
        assert harness.a_addrs(m) == {"192.0.2.1"}
    assert fake.count("mt.lab.") == 1, "the cache is shared by workers"
    st = d.stats()
    total = harness.stat(st, "num.queries")
    per = [st.get("thread%d.num.queries" % i) for i in range(2)]
    assert None not in per, sorted(k for k in st if k.startswith("thread"))
    assert sum(per) == total
    assert total >= 80
