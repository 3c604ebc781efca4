"""batch-wait-usec: a busy worker sleeps that long after each pass of
its event loop, so that the next pass takes more work at once
(daemon/worker.c worker_loop_batched).  The default is 100; "plain"
servers here set 0, the loop without sleeps."""
import concurrent.futures
import os
import signal
import statistics
import time

import dns.message
import dns.rcode

import harness
from harness import SLOW, H2Client, make_query, parse_answer

PLAIN = "batch-wait-usec: 0\n"


def miss_latencies(d, tag, n=15, gap=0.0):
    """Seconds each of n UDP queries for new names took, one at a time,
    gap seconds apart (every one a cache miss, answered by the
    upstream)."""
    took = []
    for i in range(n):
        time.sleep(gap)
        t = time.monotonic()
        m = d.udp("%s%d.batch.lab." % (tag, i), timeout=5 * SLOW)
        took.append(time.monotonic() - t)
        assert m is not None and m.rcode() == dns.rcode.NOERROR, m
        assert harness.a_addrs(m) == {"192.0.2.1"}
    return took


def test_a_busy_worker_makes_a_miss_wait(make_cairnd, fake):
    """Each query sent as soon as the previous answer came: every pass
    follows the one before by less than the wait, so the worker sleeps
    after each, and a miss (answered in a later pass than the one that
    sent it upstream) takes about 1 ms longer with 1000 us than with the
    plain loop (0.87-1.2 ms under ASan here; 0 without the sleep).  The
    servers take turns in blocks of 5 back-to-back queries, so that a
    slow spell of the machine falls on both (under ASan a plain median
    moved from 0.9 to 1.6 ms between two such spells); the margin is
    0.5 ms between the medians.  A name asked again is a hit: the
    upstream saw it once."""
    plain = make_cairnd(upstream=fake.port, server_lines=PLAIN)
    batch = make_cairnd(upstream=fake.port,
                        server_lines="batch-wait-usec: 1000\n")
    took = {"p": [], "b": []}
    for r in range(5):
        for tag, d in (("p", plain), ("b", batch))[::1 if r % 2 else -1]:
            took[tag] += miss_latencies(d, "%s%d-" % (tag, r), n=5)
    a, b = statistics.median(took["p"]), statistics.median(took["b"])
    assert b - a >= 0.0005, "median %.2f ms plain, %.2f ms batched" % (
        a * 1e3, b * 1e3)
    assert harness.a_addrs(batch.udp("b0-0.batch.lab.")) == {"192.0.2.1"}
    assert fake.count("b0-0.batch.lab.") == 1     # that was a hit


def test_an_idle_worker_does_not_wait(make_cairnd, fake):
    """Queries 5 ms apart, longer than the 1000 us wait: the pass that
    reads a query comes after an idle loop and is not followed by a
    sleep, so its upstream answer is taken at once and a miss takes
    about as long as with the plain loop (the medians within 0.4 ms;
    sleeping after every pass adds 1 ms)."""
    plain = make_cairnd(upstream=fake.port, server_lines=PLAIN)
    batch = make_cairnd(upstream=fake.port,
                        server_lines="batch-wait-usec: 1000\n")
    a = statistics.median(miss_latencies(plain, "ip", gap=0.005))
    b = statistics.median(miss_latencies(batch, "ib", gap=0.005))
    assert b - a < 0.0004, "median %.2f ms plain, %.2f ms batched" % (
        a * 1e3, b * 1e3)


def timer_slacks(pid):
    """The timer slack (ns) of each thread of process pid."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%s/timerslack_ns" % tid) as f:
            out.append(int(f.read()))
    return out


def test_workers_sleep_with_1us_timer_slack(make_cairnd, fake):
    """Linux adds a thread's timer slack (50 us by default) to every
    sleep: each worker that batches (the default, 100) sets its own to
    1 us; with the option off no thread changes it."""
    d = make_cairnd(upstream=fake.port, server_lines="num-threads: 2\n")
    slacks = timer_slacks(d.proc.pid)
    assert slacks.count(1000) == 2, slacks
    plain = make_cairnd(upstream=fake.port,
                        server_lines="num-threads: 2\n" + PLAIN)
    slacks = timer_slacks(plain.proc.pid)
    assert 1000 not in slacks, slacks


def test_load_answered_reload_and_stop(make_cairnd, fake, certs):
    """With 200 us: 200 UDP queries from 20 threads and 40 DoH streams on
    one connection are all answered; a reload to another value keeps
    answering; SIGTERM stops the workers (make_cairnd checks the exit)."""
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="batch-wait-usec: 200\n")
    names = ["l%d.batch.lab." % (i % 50) for i in range(200)]
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        got = list(ex.map(lambda nm: d.udp(nm, timeout=5 * SLOW), names))
    for m in got:
        assert m is not None and m.rcode() == dns.rcode.NOERROR, m
    with H2Client(d.https_port, certs["ca"]) as c:
        sids = [c.post(make_query("h%d.batch.lab." % i, qid=0).to_wire())
                for i in range(40)]
        for sid in sids:
            m = parse_answer(c.wait(sid))
            d.expected_https += 1
            assert harness.a_addrs(m) == {"192.0.2.1"}
    d.check_doh_counters()
    d.expected_https = 0        # the reload starts the counters again
    # a changed option rebuilds the workers; the local-data shows when
    d.write_config(d.config_text(
        'batch-wait-usec: 1000\n'
        'local-data: "reloaded.batch.lab. A 192.0.2.7"\n'))
    d.signal(signal.SIGHUP)
    harness.wait_until(
        lambda: harness.a_addrs(d.udp("reloaded.batch.lab.", timeout=0.5)
                                or dns.message.make_query("x.", "A"))
        == {"192.0.2.7"},
        5 * SLOW, step=0.1, what="the new config after SIGHUP")
    m = d.udp("after.batch.lab.", timeout=5 * SLOW)
    assert harness.a_addrs(m) == {"192.0.2.1"}


def test_option_bounds(tmp_path):
    """-1 and 1001 are refused with the file, line and value named; 0 and
    1000 are taken."""
    for v, ok in (("-1", False), ("1001", False), ("0", True),
                  ("1000", True)):
        conf = tmp_path / ("c%s.conf" % v)
        conf.write_text("server:\n    batch-wait-usec: %s\n" % v)
        r = harness.run([harness.program("cairn-checkconf"), str(conf)])
        if ok:
            assert r.returncode == 0, r.stderr
            continue
        assert r.returncode != 0
        assert str(conf) in r.stderr and ":2" in r.stderr, r.stderr
        assert v in r.stderr, r.stderr
