"""DoH error statuses and limits: 413, 414, 415, 400, 501; http-max-streams
(SETTINGS and REFUSED_STREAM); http-query-buffer-size; tcp-idle-timeout
(GOAWAY); access-control; incoming-num-tcp; a client reset while the
query is upstream; floods (rapid reset, CONTINUATION, SETTINGS, PING)
bounded in count and time while another client is still served.
Each test ends with mem.http.* at 0."""

import socket
import ssl
import time

import dns.message
import dns.rcode
import pytest
from hyperframe import frame as hf

import harness
from harness import SLOW, H2Client, make_query, padded_query, parse_answer

REFUSED_STREAM = 7


@pytest.fixture
def d(make_cairnd, fake):
    return make_cairnd(upstream=fake.port, doh=True)


def client(d, certs, **kw):
    return H2Client(d.https_port, certs["ca"], **kw)


def answered(d, st):
    m = parse_answer(st)
    d.expected_https += 1
    return m


def refused_body(st, status=413):
    """413 as the seed says, or RST_STREAM, which it allows for a body
    too large; never a 200."""
    assert st.status == status or (st.status is None and
                                   st.rst is not None), st


def still_serves(d, certs):
    with client(d, certs) as c:
        m = answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
        assert harness.a_addrs(m) == {"127.0.0.1"}


# ------------------------------------------------------------ 413

def test_413_body_larger_than_content_length(d, certs):
    q = make_query("www.doh.lab.").to_wire()
    with client(d, certs) as c:
        refused_body(c.wait(c.post(q, content_length=len(q) - 5)))
        still_serves(d, certs)
    d.check_doh_counters()


def test_413_harden_large_queries(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="harden-large-queries: yes")
    with client(d, certs) as c:
        refused_body(c.wait(c.post(padded_query("big.doh.lab.", 513))))
        answered(d, c.wait(c.post(padded_query("big.doh.lab.", 512))))
    d.check_doh_counters()


def test_600_byte_query_fine_without_harden(d, certs):
    with client(d, certs) as c:
        answered(d, c.wait(c.post(padded_query("big.doh.lab.", 600))))
        answered(d, c.wait(c.get(padded_query("big.doh.lab.", 600))))
    d.check_doh_counters()


def test_413_over_msg_buffer_size(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="msg-buffer-size: 4096")
    with client(d, certs) as c:
        refused_body(c.wait(c.post(padded_query("big.doh.lab.", 4097),
                                   chunks=[2000, 2000])))
        answered(d, c.wait(c.post(padded_query("big.doh.lab.", 4000))))
    d.check_doh_counters()


def test_413_no_content_length_body_over_first_frame(d, certs):
    q = padded_query("www.doh.lab.", 120)
    with client(d, certs) as c:
        refused_body(c.wait(c.post(q, content_length=False,
                                   chunks=[60, 60])))
        # one DATA frame without content-length is fine
        answered(d, c.wait(c.post(q, content_length=False)))
    d.check_doh_counters()


# ------------------------------------------------------------ 414

def test_414_long_get_harden(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="harden-large-queries: yes")
    with client(d, certs) as c:
        st = c.wait(c.get(padded_query("big.doh.lab.", 513)))
        assert st.status == 414, st
        answered(d, c.wait(c.get(padded_query("big.doh.lab.", 512))))
    d.check_doh_counters()


def test_414_long_get_msg_buffer_size(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="msg-buffer-size: 4096")
    with client(d, certs) as c:
        st = c.wait(c.get(padded_query("big.doh.lab.", 4200)))
        assert st.status == 414, st
        still_serves(d, certs)
    d.check_doh_counters()


# ------------------------------------------------------------ 415, 400, 501

@pytest.mark.parametrize("ctype", ["text/plain", "application/json",
                                   "application/dns-json",
                                   "application/oblivious-dns-message"])
def test_415_content_type(d, certs, ctype):
    with client(d, certs) as c:
        st = c.wait(c.post(make_query("www.doh.lab.").to_wire(),
                           content_type=ctype))
        assert st.status == 415, st
    d.check_doh_counters(0)


@pytest.mark.parametrize("what", ["bad_base64", "short_get", "no_dns_param",
                                  "empty_dns_param", "empty_body",
                                  "short_body"])
def test_400(d, certs, what):
    with client(d, certs) as c:
        if what == "bad_base64":
            sid = c.request("GET", "/dns-query?dns=AA!!*AAA%%AAAAAAAAAAA",
                            content_type=None)
        elif what == "short_get":
            sid = c.get(b"\x00\x01\x01\x00\x00")
        elif what == "no_dns_param":
            sid = c.request("GET", "/dns-query?name=example.lab&type=A",
                            content_type=None)
        elif what == "empty_dns_param":
            sid = c.request("GET", "/dns-query?dns=", content_type=None)
        elif what == "empty_body":
            sid = c.request("POST", body=b"", content_length=0)
        else:
            sid = c.post(b"\x12\x34\x01\x00\x00\x01\x00")
        st = c.wait(sid)
        assert st.status == 400, st
    d.check_doh_counters(0)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_501_method(d, certs, method):
    with client(d, certs) as c:
        st = c.wait(c.request(method,
                              body=make_query("www.doh.lab.").to_wire()))
        assert st.status == 501, st
    d.check_doh_counters(0)


def test_error_statuses_counted(d, certs):
    with client(d, certs) as c:
        c.wait(c.request("PUT", body=make_query("x.lab.").to_wire()))
        c.wait(c.post(make_query("x.lab.").to_wire(), path="/nope"))
        c.wait(c.post(make_query("x.lab.").to_wire(),
                      content_type="text/plain"))
        answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
    st = d.check_doh_counters()
    for code, n in ((501, 1), (404, 1), (415, 1), (200, 1), (400, 0)):
        assert harness.stat(st, "num.http.status.%d" % code) == n, code


# ------------------------------------------------------------ streams

def test_max_streams_setting_and_refused_stream(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="http-max-streams: 5")
    q = make_query("www.doh.lab.").to_wire()
    with client(d, certs) as c:
        c.handshake()
        assert c.server_settings.get(3) == 5
        c.wait_for(lambda: False, 0.3)       # our ACK reaches the server
        open_sids = []
        for _ in range(5):
            sid = c.request("POST", body=None, end=False,
                            extra=[("content-length", str(len(q)))])
            open_sids.append(sid)
        extra = c.request("POST", body=None, end=False,
                          extra=[("content-length", str(len(q)))])
        st = c.wait(extra, timeout=3 * SLOW)
        assert st.rst == REFUSED_STREAM, st
        for sid in open_sids:
            c.send_data(sid, q, end_stream=True)
        for sid in open_sids:
            answered(d, c.wait(sid))
        # slots are free again
        answered(d, c.wait(c.post(q)))
    d.check_doh_counters()


def test_query_buffer_limit_rst(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="http-query-buffer-size: 600")
    q = padded_query("qb.doh.lab.", 250)
    with client(d, certs) as c:
        sids = []
        for _ in range(3):
            sid = c.request("POST", body=None, end=False,
                            extra=[("content-length", str(len(q)))])
            c.send_data(sid, q[:100])
            sids.append(sid)
        c.wait_for(lambda: any(c.streams[s].rst is not None for s in sids),
                   2 * SLOW)
        held = harness.stat(d.stats(), "mem.http.query_buffer")
        assert 0 < held <= 600, held
        reset = [s for s in sids if c.streams[s].rst is not None]
        assert reset == [sids[2]], [c.streams[s] for s in sids]
        for s in sids[:2]:
            c.send_data(s, q[100:], end_stream=True)
        for s in sids[:2]:
            answered(d, c.wait(s))
        # budget given back: three more fit one after the other
        for _ in range(3):
            answered(d, c.wait(c.post(q)))
    d.check_doh_counters()


# ------------------------------------------------------------ TCP options

@pytest.mark.timeout(60)
def test_idle_timeout_goaway(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="tcp-idle-timeout: 1000")
    with client(d, certs) as c:
        answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
        t = time.monotonic()
        c.wait_for(lambda: c.goaway is not None or c.closed, 6 * SLOW)
        took = time.monotonic() - t
        assert c.goaway is not None, "closed without GOAWAY"
        assert 0.7 <= took <= 4 * SLOW, took
        assert c.wait_closed(3 * SLOW)
    d.check_doh_counters()


@pytest.mark.timeout(60)
def test_ping_only_client_idles_out(make_cairnd, certs, fake):
    """PINGs (and SETTINGS, WINDOW_UPDATE) are not activity: a client
    that sends only those is closed after tcp-idle-timeout, while one
    that queries more often than that keeps its connection."""
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="tcp-idle-timeout: 1000")
    with client(d, certs) as pinger, client(d, certs) as asker:
        answered(d, pinger.wait(pinger.post(make_query("localhost.").to_wire())))
        t = time.monotonic()
        n = 0
        while time.monotonic() - t < 5 * SLOW:
            if asker.goaway is not None or asker.closed:
                break
            pinger.send_frame(hf.PingFrame(0, b"cairn%03d" % n))
            n += 1
            if n % 3 == 0:
                answered(d, asker.wait(asker.post(
                    make_query("localhost.").to_wire())))
            pinger.pump(0.05)
            time.sleep(0.2)
            pinger.pump(0.0)
            if pinger.goaway is not None or pinger.closed:
                break
        took = time.monotonic() - t
        assert pinger.goaway is not None, \
            "a client sending only PINGs for %.1f s was not closed" % took
        assert 0.7 <= took <= 4 * SLOW, took
        assert n >= 3          # it did ping after its last request
        # the client with requests every ~0.75 s is still served
        assert asker.goaway is None and not asker.closed
        answered(d, asker.wait(asker.post(make_query("localhost.").to_wire())))
    d.check_doh_counters()


@pytest.mark.timeout(60)
def test_idle_timer_not_running_with_open_stream(make_cairnd, certs, fake):
    fake.set("slow.doh.lab.", "udp_timeout", delay=0.5)
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="tcp-idle-timeout: 1000")
    with client(d, certs, timeout=10) as c:
        t = time.monotonic()
        m = answered(d, c.wait(c.post(make_query("slow.doh.lab.").to_wire())))
        assert harness.a_addrs(m) == {"192.0.2.1"}
        # UDP dropped, TCP answered 0.5 s later: longer than the idle time
        assert time.monotonic() - t > 1.2
    d.check_doh_counters()


def test_access_control_refuse_inside_200(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="access-control: 127.0.0.3/32 refuse\n"
                                 "access-control: 127.0.0.2/32 deny")
    with client(d, certs, src="127.0.0.3") as c:
        st = c.wait(c.post(make_query("www.doh.lab.").to_wire()))
        assert st.status == 200
        assert _rcode(st) == dns.rcode.REFUSED
    assert fake.count("www.doh.lab.") == 0
    with pytest.raises((OSError, ssl.SSLError, harness.HarnessError)):
        with client(d, certs, src="127.0.0.2", timeout=2) as c:
            st = c.wait(c.post(make_query("www.doh.lab.").to_wire()),
                        timeout=2)
            if st.status is None:
                raise OSError("closed")
    # whether a refused query counts in num.query.https is not specified
    d.check_doh_counters(False)


def _rcode(st):
    return dns.message.from_wire(st.data).rcode()


def test_incoming_num_tcp_applies_to_doh(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="incoming-num-tcp: 2")
    held = [client(d, certs) for _ in range(2)]
    try:
        for c in held:
            answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
        refused = False
        try:
            c3 = client(d, certs, timeout=2)
            try:
                st = c3.wait(c3.post(make_query("localhost.").to_wire()),
                             timeout=2 * SLOW)
                refused = st.status is None
            except harness.HarnessError:
                refused = True
            finally:
                c3.close()
        except (OSError, ssl.SSLError, harness.HarnessError):
            refused = True
        assert refused, "third DoH connection served over the limit"
        held.pop().close()
        c4 = harness.wait_until(lambda: _served(d, certs), 3 * SLOW,
                                step=0.2, what="slot back")
        assert c4
    finally:
        for c in held:
            c.close()
    d.check_doh_counters()


def _served(d, certs):
    try:
        with client(d, certs, timeout=1) as c:
            st = c.wait(c.post(make_query("localhost.").to_wire()),
                        timeout=1 * SLOW)
            if st.status == 200:
                d.expected_https += 1
                return True
    except (OSError, ssl.SSLError, harness.HarnessError):
        pass
    return False


# ------------------------------------------------------------ cancel

def test_client_reset_while_query_upstream(d, certs, fake):
    fake.set("never.doh.lab.", "timeout")
    with client(d, certs) as c:
        sid = c.post(make_query("never.doh.lab.").to_wire())
        harness.wait_until(lambda: fake.count("never.doh.lab.") >= 1,
                           5 * SLOW, what="query upstream")
        d.expected_https += 1
        c.send_rst(sid, 8)                    # CANCEL
        c.wait_for(lambda: False, 0.3)
        assert c.streams[sid].status is None
        # the connection still works
        answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
    d.check_doh_counters()
    assert harness.stat(d.stats(), "num.http.rst.received") >= 1


def test_client_closes_connection_while_query_upstream(d, certs, fake):
    fake.set("never2.doh.lab.", "timeout")
    c = client(d, certs)
    for i in range(5):
        c.post(make_query("never2.doh.lab.", qid=i).to_wire())
    harness.wait_until(lambda: fake.count("never2.doh.lab.") >= 1,
                       5 * SLOW, what="query upstream")
    d.expected_https += 5
    c.sock.close()
    still_serves(d, certs)
    d.check_doh_counters()


def test_peer_never_reads_answers(make_cairnd, certs, fake):
    """A client that opens a tiny flow-control window and never reads:
    the response buffer stays bounded and is freed when it goes."""
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="http-response-buffer-size: 20000")
    fake.set("fat.doh.lab.", "answer", txt=['"%s"' % ("y" * 250)] * 4)
    # stream windows of 1 byte, never opened further
    c = client(d, certs, settings={4: 1}, auto_ack=True, auto_window=False)
    try:
        for i in range(100):
            c.post(make_query("fat.doh.lab.", "TXT", qid=i).to_wire())
        seen = []

        def holding():
            c._safe_pump(0.1)
            seen.append(harness.stat(d.stats(), "mem.http.response_buffer"))
            return seen[-1] > 0
        harness.wait_until(holding, 10 * SLOW, step=0.2,
                           what="answers held for the stalled client")
        c.wait_for(lambda: False, 1.0)
        holding()
        assert max(seen) <= 20000, seen
    finally:
        c.sock.close()
    still_serves(d, certs)
    d.check_doh_counters(False)


# ------------------------------------------------------------ floods

def _get_headers(c, wire):
    return [(":method", "GET"), (":scheme", "https"),
            (":authority", "localhost"),
            (":path", "/dns-query?dns=" + harness.b64url(wire))]


def _flood(c, frames_fn, count, seconds):
    """Send up to count frame batches within seconds; stop when the
    server closes or sends GOAWAY."""
    end = time.monotonic() + seconds
    sent = 0
    for i in range(count):
        if time.monotonic() > end or c.goaway or c.closed:
            break
        try:
            c.send_raw(frames_fn(i))
        except harness.HarnessError:
            break
        sent += 1
        if i % 50 == 0:
            c._safe_pump(0)
    return sent


def _ended_badly(c, timeout):
    c.wait_for(lambda: c.goaway is not None or c.closed, timeout)
    return c.goaway is not None or c.closed


@pytest.mark.timeout(90)
def test_rapid_reset_flood(d, certs):
    wire = make_query("localhost.", qid=0).to_wire()
    other = client(d, certs)
    with client(d, certs) as c:
        c.handshake()

        def batch(i):
            sid = c.next_sid
            c.next_sid += 2
            h = hf.HeadersFrame(sid)
            h.data = c.header_block(_get_headers(c, wire))
            h.flags.add("END_HEADERS")
            h.flags.add("END_STREAM")
            return h.serialize() + hf.RstStreamFrame(
                sid, error_code=8).serialize()
        _flood(c, batch, 2000, 15 * SLOW)
        assert _ended_badly(c, 5 * SLOW), \
            "2000 rapid resets neither GOAWAY nor close"
        # another client is served
        m = parse_answer(other.wait(other.post(wire)))
        assert harness.a_addrs(m) == {"127.0.0.1"}
    other.close()
    assert d.alive()
    d.check_doh_counters(False)
    st = d.stats()
    assert harness.stat(st, "num.http.rst.received") >= 1


@pytest.mark.timeout(90)
def test_continuation_flood(d, certs):
    other = client(d, certs)
    with client(d, certs) as c:
        c.handshake()
        sid = c.new_sid()
        h = hf.HeadersFrame(sid)
        h.data = c.header_block(_get_headers(
            c, make_query("localhost.").to_wire()))
        c.send_frame(h)                      # no END_HEADERS

        def cont(i):
            f = hf.ContinuationFrame(sid)
            f.data = c.header_block([("x-flood-%d" % i, "v" * 100)])
            return f.serialize()
        _flood(c, cont, 10000, 15 * SLOW)
        assert _ended_badly(c, 5 * SLOW), \
            "CONTINUATION flood neither GOAWAY nor close"
        m = parse_answer(other.wait(other.post(
            make_query("localhost.").to_wire())))
        assert m.rcode() == dns.rcode.NOERROR
    other.close()
    assert d.alive()
    d.check_doh_counters(False)


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["settings", "ping"])
def test_settings_ping_flood(make_cairnd, fake, certs, kind):
    """A peer that floods SETTINGS or PING and never reads the ACKs: the
    connection ends (GOAWAY, or closed at the latest by the idle timeout
    once the daemon stops reading it), memory stays bounded and another
    client is served meanwhile."""
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="tcp-idle-timeout: 2000")
    rss0 = _rss_kb(d.proc.pid)
    other = client(d, certs)
    c = client(d, certs, auto_ack=False)
    try:
        c.handshake()
        c.send_frame(hf.SettingsFrame(0, flags=["ACK"]))
        if kind == "settings":
            one = hf.SettingsFrame(0, settings={4: 65535}).serialize()
        else:
            one = hf.PingFrame(0, opaque_data=b"12345678").serialize()
        blob = one * 1000
        c.sock.settimeout(0.5)
        sent = 0
        end = time.monotonic() + 10 * SLOW
        for _ in range(300):                 # at most 300000 frames
            if time.monotonic() > end:
                break
            try:
                c.sock.sendall(blob)
                sent += 1000
            except (socket.timeout, OSError, ssl.SSLError):
                break
        m = parse_answer(other.wait(other.post(
            make_query("localhost.").to_wire())))
        assert m.rcode() == dns.rcode.NOERROR
        grown = _rss_kb(d.proc.pid) - rss0
        # ASan's quarantine and shadow memory make RSS grow by themselves
        limit = (512 if harness.ASAN else 64) * 1024
        assert grown < limit, "RSS grew %d kB during the flood" % grown
        c.sock.settimeout(0.2)
        # read and discard until the end (EOF or reset) of the connection
        t_end = time.monotonic() + 8 * SLOW
        ended = False
        for _ in range(200000):
            if time.monotonic() > t_end:
                break
            try:
                data = c.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                ended = True
                break
            if not data:
                ended = True
                break
        assert ended, "%d %s frames: connection still open" % (sent, kind)
    finally:
        c.close()
        other.close()
    assert d.alive()
    d.check_doh_counters(False)


@pytest.mark.timeout(60)
def test_garbage_after_preface(d, certs):
    import os
    for _ in range(5):
        c = client(d, certs)
        try:
            c.send_raw(os.urandom(2000))
        except harness.HarnessError:
            pass
        assert _ended_badly(c, 5 * SLOW)
        c.close()
    still_serves(d, certs)
    d.check_doh_counters()


def test_no_preface_http1_garbage(d, certs):
    c = client(d, certs, preface=False)
    try:
        c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    except harness.HarnessError:
        pass
    assert _ended_badly(c, 5 * SLOW)
    c.close()
    still_serves(d, certs)
    d.check_doh_counters()


def test_max_header_list_size_advertised(d, certs):
    with client(d, certs) as c:
        c.handshake()
        # SETTINGS_MAX_HEADER_LIST_SIZE (6): small, as the issue asks
        assert 0 < c.server_settings.get(6, 1 << 30) <= 65536, \
            c.server_settings
    d.check_doh_counters(0)


@pytest.mark.timeout(60)
def test_hpack_bomb(d, certs):
    """One 4000-byte header put in the dynamic table, then referenced by
    index 2000 times (8 MB decoded from 2 KB): refused by reset, an error
    status or GOAWAY, never answered; others still served."""
    with client(d, certs) as c:
        c.handshake()
        big = ("x-bomb", "b" * 4000)
        sid = c.request("POST", body=make_query("localhost.").to_wire(),
                        extra=[big])
        st = c.wait(sid)
        first_ok = st.status in (200, 431) or st.rst is not None
        assert first_ok, st
        if st.status == 200:
            d.expected_https += 1
        h = [(":method", "POST"), (":scheme", "https"),
             (":authority", "localhost"), (":path", "/dns-query"),
             ("content-type", "application/dns-message")] + [big] * 2000
        block = c.header_block(h)
        assert len(block) < 10000, len(block)
        sid = c.new_sid()
        f = hf.HeadersFrame(sid)
        f.data = block
        f.flags.add("END_HEADERS")
        if len(block) <= 16384:
            c.send_frame(f)
        st = c.wait(sid, timeout=5 * SLOW)
        assert st.status != 200, st
        assert st.status == 431 or st.rst is not None or c.goaway \
            or c.closed, st
    still_serves(d, certs)
    d.check_doh_counters()


def test_tcp_connection_limit_applies_to_doh(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="tcp-connection-limit: 127.0.0.2/32 1")
    first = client(d, certs, src="127.0.0.2")
    try:
        answered(d, first.wait(first.post(make_query("localhost.").to_wire())))
        refused = False
        try:
            c2 = client(d, certs, src="127.0.0.2", timeout=2)
            try:
                st = c2.wait(c2.post(make_query("localhost.").to_wire()),
                             timeout=2 * SLOW)
                refused = st.status is None
            except harness.HarnessError:
                refused = True
            finally:
                c2.close()
        except (OSError, ssl.SSLError, harness.HarnessError):
            refused = True
        assert refused, "second DoH connection from 127.0.0.2 served"
        # another address is not limited
        with client(d, certs, src="127.0.0.1") as c:
            answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
    finally:
        first.close()
    # the slot comes back
    assert harness.wait_until(lambda: _served_from(d, certs, "127.0.0.2"),
                              3 * SLOW, step=0.2, what="slot back")
    d.check_doh_counters()


def _served_from(d, certs, src):
    try:
        with client(d, certs, src=src, timeout=1) as c:
            st = c.wait(c.post(make_query("localhost.").to_wire()),
                        timeout=1 * SLOW)
            if st.status == 200:
                d.expected_https += 1
                return True
    except (OSError, ssl.SSLError, harness.HarnessError):
        pass
    return False
