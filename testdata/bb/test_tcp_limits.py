"""TCP limits: incoming-num-tcp, tcp-idle-timeout (and the shorter timeout
when more than half of the slots are in use), tcp-connection-limit per
netblock with the slot given back however the connection closes."""

import socket
import time

import pytest

import harness
from harness import SLOW, TcpConn, make_query


def open_answered(port, src="127.0.0.1", timeout=3.0):
    """A TCP connection that has been answered once (so it was accepted
    and is being served)."""
    c = TcpConn(port, src=src, timeout=timeout * SLOW)
    m = c.query(make_query("localhost.", "A"))
    assert m is not None, "connection from %s not served" % src
    return c


def refused_at_once(port, src="127.0.0.1"):
    """True if a new connection is closed without an answer within 2 s."""
    try:
        c = TcpConn(port, src=src, timeout=2 * SLOW)
    except ConnectionRefusedError:
        return True
    try:
        try:
            c.send(make_query("localhost.", "A"))
        except (BrokenPipeError, ConnectionResetError):
            return True
        try:
            return c.recv(timeout=2 * SLOW) is None
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
    finally:
        c.close()


def test_incoming_num_tcp_limit(make_cairnd):
    d = make_cairnd(server_lines="incoming-num-tcp: 3")
    held = [open_answered(d.port) for _ in range(3)]
    try:
        t = time.monotonic()
        assert refused_at_once(d.port), "4th connection must be closed"
        assert time.monotonic() - t < 2 * SLOW
        # the held ones still work
        for c in held:
            assert c.query(make_query("localhost.", "A")) is not None
        st = d.stats()
        assert harness.stat(st, "num.tcp.refused.limit") == 1
        # UDP is not affected
        assert d.udp("localhost.") is not None
        held.pop().close()
        # the slot comes back (bounded retry: the close is asynchronous)
        ok = harness.wait_until(
            lambda: _try_answer(d.port), 3 * SLOW, step=0.1,
            what="slot given back")
        ok.close()
    finally:
        for c in held:
            c.close()


def _try_answer(port, src="127.0.0.1"):
    try:
        c = TcpConn(port, src=src, timeout=1 * SLOW)
        if c.query(make_query("localhost.", "A")) is not None:
            return c
        c.close()
    except (OSError, socket.timeout):
        pass
    return None


def test_incoming_num_tcp_zero_no_tcp(make_cairnd):
    d = make_cairnd(server_lines="incoming-num-tcp: 0")
    assert d.udp("localhost.") is not None
    assert refused_at_once(d.port)
    assert refused_at_once(d.port)


@pytest.mark.timeout(60)
def test_tcp_idle_timeout_closes_idle_connection(make_cairnd):
    d = make_cairnd(server_lines="tcp-idle-timeout: 1000")
    c = TcpConn(d.port, timeout=5 * SLOW)
    try:
        t = time.monotonic()
        assert c.closed_by_peer(6 * SLOW), "idle connection not closed"
        took = time.monotonic() - t
        assert 0.8 <= took <= 3.0 * SLOW, "closed after %.2fs" % took
    finally:
        c.close()


def test_tcp_idle_timer_restarts_on_query(make_cairnd):
    d = make_cairnd(server_lines="tcp-idle-timeout: 1500")
    c = TcpConn(d.port, timeout=5 * SLOW)
    try:
        for _ in range(4):
            time.sleep(0.7)
            assert c.query(make_query("localhost.", "A")) is not None
        # 2.8 s after connect: still open because it was busy
        assert c.closed_by_peer(4 * SLOW)
    finally:
        c.close()


def test_tcp_idle_timeout_shortened_when_over_half_used(make_cairnd):
    d = make_cairnd(server_lines="incoming-num-tcp: 10\n"
                                 "tcp-idle-timeout: 20000")
    early = [open_answered(d.port) for _ in range(2)]
    late = []
    try:
        for _ in range(5):                       # slots 3..7: > 50 %
            late.append(TcpConn(d.port, timeout=5 * SLOW))
        t = time.monotonic()
        assert late[-1].closed_by_peer(3 * SLOW), \
            "connection opened with > 50% slots used keeps a long timeout"
        assert time.monotonic() - t < 3 * SLOW
        # the early ones (opened at 10-20 % usage) keep the long timeout
        for c in early:
            assert c.query(make_query("localhost.", "A")) is not None
    finally:
        for c in early + late:
            c.close()


def test_tcp_connection_limit_per_netblock(make_cairnd):
    d = make_cairnd(server_lines="tcp-connection-limit: 127.0.0.2/32 2")
    held = [open_answered(d.port, src="127.0.0.2") for _ in range(2)]
    try:
        assert refused_at_once(d.port, src="127.0.0.2")
        # another address is not limited
        others = [open_answered(d.port, src="127.0.0.1") for _ in range(3)]
        for c in others:
            c.close()
        held.pop().close()
        c = harness.wait_until(lambda: _try_answer(d.port, "127.0.0.2"),
                               3 * SLOW, step=0.1, what="slot back")
        held.append(c)
        assert refused_at_once(d.port, src="127.0.0.2")
    finally:
        for c in held:
            c.close()


@pytest.mark.timeout(60)
def test_tcp_connection_limit_slot_back_after_idle_close(make_cairnd):
    d = make_cairnd(server_lines="tcp-connection-limit: 127.0.0.2/32 1\n"
                                 "tcp-idle-timeout: 800")
    for _ in range(3):
        c = harness.wait_until(lambda: _try_answer(d.port, "127.0.0.2"),
                               3 * SLOW, step=0.1, what="slot back")
        assert c.closed_by_peer(5 * SLOW), "idle close"
        c.close()
    assert harness.wait_until(lambda: _ok_close(d.port), 3 * SLOW,
                              step=0.1, what="slot back after idle close")


def test_tcp_connection_limit_slot_back_after_reset(make_cairnd):
    import struct
    d = make_cairnd(server_lines="tcp-connection-limit: 127.0.0.2/32 1")
    for _ in range(5):
        c = harness.wait_until(lambda: _try_answer(d.port, "127.0.0.2"),
                               3 * SLOW, step=0.1, what="slot back")
        # abortive close: RST instead of FIN
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                       struct.pack("ii", 1, 0))
        c.close()
        harness.wait_until(lambda: _ok_close(d.port), 3 * SLOW, step=0.1,
                           what="slot back after RST")


def _ok_close(port):
    c = _try_answer(port, "127.0.0.2")
    if c:
        c.close()
        return True
    return False
