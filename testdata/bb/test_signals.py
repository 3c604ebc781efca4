"""SIGHUP re-reads the config (local-data changes take effect, the same
process keeps serving); SIGTERM and SIGINT stop with exit status 0, also
with connections open and queries in flight; a bad config on SIGHUP keeps
the old one."""

import signal
import time

import pytest

import harness
from harness import SLOW, TcpConn, make_query


def test_sighup_reload_changes_local_data(make_cairnd):
    d = make_cairnd(server_lines='local-data: "reload.lab. A 192.0.2.1"')
    assert harness.a_addrs(d.udp("reload.lab.")) == {"192.0.2.1"}
    pid = d.proc.pid
    d.write_config(d.config_text(
        'local-data: "reload.lab. A 192.0.2.2"\n'
        'local-data: "added.lab. A 192.0.2.3"'))
    d.signal(signal.SIGHUP)
    harness.wait_until(
        lambda: harness.a_addrs(d.udp("reload.lab.", timeout=0.5) or
                                _empty()) == {"192.0.2.2"},
        5 * SLOW, step=0.1, what="new local-data after SIGHUP")
    assert harness.a_addrs(d.udp("added.lab.")) == {"192.0.2.3"}
    assert d.alive() and d.proc.pid == pid
    # TCP listener is still there too
    assert harness.a_addrs(d.tcp("reload.lab.")) == {"192.0.2.2"}


def _empty():
    import dns.message
    return dns.message.make_response(make_query("x."))


def test_sighup_with_bad_config_keeps_old(make_cairnd):
    d = make_cairnd(server_lines='local-data: "keep.lab. A 192.0.2.9"')
    good = open(d.conf).read()
    with open(d.conf, "a") as f:
        f.write("server:\n    bogus-option: 1\n")
    d.signal(signal.SIGHUP)
    time.sleep(1.0 * SLOW)
    assert d.alive()
    assert harness.a_addrs(d.udp("keep.lab.")) == {"192.0.2.9"}
    d.write_config(good)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_exits_zero(make_cairnd, sig):
    d = make_cairnd()
    assert d.udp("localhost.") is not None
    d.signal(sig)
    d.proc.wait(10 * SLOW)
    assert d.proc.returncode == 0
    assert d.sanitizer_report() is None


def test_sigterm_with_open_connections_and_queries_in_flight(make_cairnd,
                                                              fake):
    fake.set("never.lab.", "timeout")
    d = make_cairnd(upstream=fake.port)
    conns = [TcpConn(d.port, timeout=5 * SLOW) for _ in range(3)]
    try:
        for c in conns:
            c.send(make_query("never.lab.", "A"))
        harness.udp(make_query("never.lab.", "AAAA"), d.port, timeout=0.3)
        harness.wait_until(lambda: fake.count("never.lab.") >= 1, 5 * SLOW,
                           what="query upstream")
        t = time.monotonic()
        d.signal(signal.SIGTERM)
        d.proc.wait(10 * SLOW)
        assert d.proc.returncode == 0
        assert time.monotonic() - t < 5 * SLOW
        assert d.sanitizer_report() is None
    finally:
        for c in conns:
            c.close()


def test_listeners_closed_after_stop(make_cairnd):
    d = make_cairnd()
    port = d.port
    d.check_stop()
    assert harness.udp(make_query("localhost."), port, timeout=0.3) is None
    import socket
    s = socket.socket()
    try:
        s.settimeout(1)
        with pytest.raises(OSError):
            s.connect(("127.0.0.1", port))
    finally:
        s.close()
