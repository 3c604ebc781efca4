"""
testdata/bb/test_prefetch.py - prefetch (Unbound's option, default no):
a cache hit in the last tenth of the answer's TTL sends the query
upstream again in the background, once, so a name clients keep asking
for does not expire from the cache; num.prefetch counts those queries.
When it is due, and that it is said once an entry and never for a TTL
under 10 s: testdata/unit/test_cache.c test_prefetch_due.
"""

import time

import harness
from harness import SLOW, stat


def ttl_of(m):
    return min(rr.ttl for rr in m.answer)


def test_prefetch_keeps_a_popular_name(make_cairnd):
    """Two cairnds, prefetch yes and no, each with its own upstream
    answering pf.example. with TTL 20.  At 0 s both miss; at 18.5 s (a
    hit in the last tenth) the one with prefetch asks upstream again in
    the background; at 21.5 s it still answers from its cache (TTL
    about 17), the other one misses and asks upstream."""
    ups = [harness.FakeUpstream(ttl=20), harness.FakeUpstream(ttl=20)]
    try:
        on = make_cairnd(upstream=ups[0].port, server_lines="prefetch: yes")
        off = make_cairnd(upstream=ups[1].port)
        t0 = time.monotonic()
        for d in (on, off):
            assert ttl_of(d.udp("pf.example.")) == 20
        time.sleep(max(0.0, t0 + 18.5 - time.monotonic()))
        for d in (on, off):
            m = d.udp("pf.example.")
            assert m is not None and 0 < ttl_of(m) <= 2, m
        harness.wait_until(lambda: ups[0].count("pf.example.") == 2,
                           2 * SLOW, what="the prefetch query upstream")
        assert ups[1].count("pf.example.") == 1
        assert stat(on.stats(), "num.prefetch") == 1
        assert stat(off.stats(), "num.prefetch") == 0
        time.sleep(max(0.0, t0 + 21.5 - time.monotonic()))
        m = on.udp("pf.example.")
        assert m is not None and 14 <= ttl_of(m) <= 18, m
        assert ups[0].count("pf.example.") == 2
        m = off.udp("pf.example.")
        assert m is not None and ttl_of(m) == 20
        assert ups[1].count("pf.example.") == 2
        # (one more hit each: the harness's localhost probe at start)
        st_on, st_off = on.stats(), off.stats()
        assert (stat(st_on, "num.cachehits"),
                stat(st_on, "num.cachemiss")) == (1 + 2, 1)
        assert (stat(st_off, "num.cachehits"),
                stat(st_off, "num.cachemiss")) == (1 + 1, 2)
        assert stat(st_on, "num.prefetch") == 1
    finally:
        for u in ups:
            u.close()

