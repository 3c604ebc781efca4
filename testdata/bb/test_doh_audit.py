"""Issue 3 audit: the sentences of the DoH issue and of Unbound's DoH
document that no other black-box test showed.

- http-query-buffer-size and http-response-buffer-size hold for all
  workers together (num-threads: 2, one connection on each worker), with
  mem.http.* exact and RST_STREAM(REFUSED_STREAM) for the stream over;
- the cap on header fields a request (HPACK abuse), at its boundary;
- 413 at the default msg-buffer-size (65552) and, with
  harden-large-queries, for a first DATA frame over 512 bytes when there
  is no content-length;
- a GET that carries content-type: application/dns-message (as Unbound's
  dohclient sends it) is served;
- TLS 1.2 and 1.3 only; tls-ciphers and tls-ciphersuites apply;
- only an interface given with the https-port serves DoH;
- one connection flooding frames that need no answer does not starve
  another connection on the same worker (work per read event bounded);
- http-nodelay sets TCP_NODELAY on DoH connections (read on cairnd's
  own socket through pidfd_getfd);
- the GET size limit that HTTP/2's header list adds (cairn.conf.5).
Each test ends with mem.http.* at 0.
"""

import socket
import ssl
import threading
import time

import pytest
from hyperframe import frame as hf

import harness
from harness import SLOW, H2Client, make_query, padded_query, parse_answer

REFUSED_STREAM = 7
ENHANCE_YOUR_CALM = 11


def client(d, certs, **kw):
    return H2Client(d.https_port, certs["ca"], **kw)


def answered(d, st):
    m = parse_answer(st)
    d.expected_https += 1
    return m


def mem(d, which):
    return harness.stat(d.stats(), "mem.http.%s_buffer" % which)


def _https_by_thread(d):
    st = d.stats()
    return {t: harness.stat(st, "thread%d.num.queries" % t)
            for t in (0, 1)}


def one_connection_per_worker(d, certs):
    """Open DoH connections until one has been served by each of the two
    workers (learnt from threadN.num.queries).  Returns
    ({0: conn, 1: conn}, [other connections to close])."""
    found, spare = {}, []
    for _ in range(40):
        c = client(d, certs)
        before = _https_by_thread(d)
        answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
        after = _https_by_thread(d)
        t = [k for k in (0, 1) if after[k] != before[k]]
        assert len(t) == 1, (before, after)
        if t[0] in found:
            spare.append(c)
        else:
            found[t[0]] = c
        if len(found) == 2:
            return found, spare
    for c in list(found.values()) + spare:
        c.close()
    pytest.skip("40 connections all went to one worker")


def _open_partial(c, q, sent=100):
    sid = c.request("POST", body=None, end=False,
                    extra=[("content-length", str(len(q)))])
    c.send_data(sid, q[:sent])
    return sid


# ------------------------------------------------------------ budgets

def test_query_buffer_budget_across_workers(make_cairnd, certs, fake):
    """Two 250-byte partial queries, one on each worker, hold exactly 500
    of the 600 bytes; a third stream on either worker would pass 600
    (as it would not with a budget per worker) and is refused."""
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="num-threads: 2\n"
                                 "http-query-buffer-size: 600")
    q = padded_query("qb.doh.lab.", 250)
    conns, spare = one_connection_per_worker(d, certs)
    try:
        a, b = conns[0], conns[1]
        sa = _open_partial(a, q)
        assert harness.wait_until(lambda: mem(d, "query") == 250,
                                  3 * SLOW, step=0.1, what="250 held")
        sb = _open_partial(b, q)
        assert harness.wait_until(lambda: mem(d, "query") == 500,
                                  3 * SLOW, step=0.1, what="500 held")
        for c in (a, b):
            sid = _open_partial(c, q)
            st = c.wait(sid, timeout=3 * SLOW)
            assert st.rst == REFUSED_STREAM, st
        assert mem(d, "query") == 500
        for c, sid in ((a, sa), (b, sb)):
            c.send_data(sid, q[100:], end_stream=True)
            answered(d, c.wait(sid))
        # the budget is back: one stream of each worker fits again
        for c in (a, b):
            answered(d, c.wait(c.post(q)))
    finally:
        for c in list(conns.values()) + spare:
            c.close()
    d.check_doh_counters()


def test_response_buffer_budget_across_workers(make_cairnd, certs, fake):
    """Answers held for clients whose stream windows are 1 byte: one on
    each worker hold exactly twice the answer size; a third answer on
    either worker would pass http-response-buffer-size and its stream
    is reset (REFUSED_STREAM)."""
    # one TXT record of 250 bytes: an answer of about 300 bytes
    fake.set("fat.doh.lab.", "answer", txt=['"%s"' % ("y" * 250)])
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="num-threads: 2\n"
                                 "http-response-buffer-size: 750")
    conns, spare = one_connection_per_worker(d, certs)
    try:
        for c in conns.values():
            # new streams get a 1-byte window, never opened further
            c.auto_window = False
            c.send_frame(hf.SettingsFrame(0, settings={4: 1}))
            c.wait_for(lambda c=c: c.settings_acked >= 2, 3 * SLOW)
        a, b = conns[0], conns[1]
        held = []
        for i, c in enumerate((a, b)):
            sid = c.post(make_query("fat.doh.lab.", "TXT", qid=i).to_wire())
            c.wait_for(lambda c=c, sid=sid: c.streams[sid].headers
                       is not None, 5 * SLOW)
            st = c.streams[sid]
            assert st.status == 200 and not st.ended, st
            d.expected_https += 1
            held.append(int(st.header("content-length")))
        size = held[0]
        assert held == [size, size] and 2 * size <= 750 < 3 * size, held
        assert mem(d, "response") == 2 * size
        for i, c in enumerate((a, b)):
            sid = c.post(make_query("fat.doh.lab.", "TXT",
                                    qid=10 + i).to_wire())
            st = c.wait(sid, timeout=5 * SLOW)
            d.expected_https += 1
            assert st.rst == REFUSED_STREAM and st.status is None, st
        assert mem(d, "response") == 2 * size
    finally:
        for c in list(conns.values()) + spare:
            c.close()
    d.check_doh_counters()


# ------------------------------------------------------------ streams

def test_max_streams_enforced_before_settings_ack(make_cairnd, certs, fake):
    """http-max-streams holds also for a client that has not (yet)
    acknowledged the server's SETTINGS: the stream over it is refused
    (REFUSED_STREAM), the others are served."""
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="http-max-streams: 3")
    q = make_query("localhost.").to_wire()
    c = client(d, certs, auto_ack=False)
    try:
        c.handshake()
        assert c.server_settings.get(3) == 3
        sids = [c.request("POST", body=None, end=False,
                          extra=[("content-length", str(len(q)))])
                for _ in range(3)]
        st = c.wait(c.request("POST", body=None, end=False,
                              extra=[("content-length", str(len(q)))]),
                    timeout=3 * SLOW)
        assert st.rst == REFUSED_STREAM, st
        for sid in sids:
            c.send_data(sid, q, end_stream=True)
        for sid in sids:
            answered(d, c.wait(sid))
    finally:
        c.close()
    d.check_doh_counters()


# ------------------------------------------------------------ headers

@pytest.fixture
def d(make_cairnd, fake):
    fake.set("www.doh.lab.", "answer", addrs=["192.0.2.80"])
    return make_cairnd(upstream=fake.port, doh=True)


def test_header_field_cap(d, certs):
    """A request of 32 header fields (4 pseudo, accept, 27 others, a few
    hundred bytes in all) is served; one of 33 is reset with
    ENHANCE_YOUR_CALM; the connection goes on."""
    q = make_query("www.doh.lab.").to_wire()
    with client(d, certs) as c:
        extra = [("x-f%02d" % i, "v") for i in range(27)]
        answered(d, c.wait(c.get(q, extra=extra)))
        st = c.wait(c.get(q, extra=extra + [("x-one-more", "v")]))
        assert st.rst == ENHANCE_YOUR_CALM and st.status is None, st
        answered(d, c.wait(c.get(q)))
    d.check_doh_counters()


def test_get_with_content_type_served(d, certs):
    """Unbound's dohclient sends content-type: application/dns-message
    on a GET."""
    q = make_query("www.doh.lab.", qid=0).to_wire()
    with client(d, certs) as c:
        m = answered(d, c.wait(c.get(
            q, content_type="application/dns-message")))
        assert harness.a_addrs(m) == {"192.0.2.80"}
        st = c.wait(c.get(q, content_type="text/plain"))
        assert st.status == 415, st
    d.check_doh_counters()


# ------------------------------------------------------------ sizes

def test_413_default_msg_buffer_size(d, certs):
    """Defaults: harden-large-queries no, msg-buffer-size 65552.  A
    content-length of 65553 is too large (413); 65552 is not (the short
    body then earns 400, not 413)."""
    q = make_query("www.doh.lab.").to_wire()
    with client(d, certs) as c:
        st = c.wait(c.post(q, content_length=65553))
        assert st.status == 413, st
        st = c.wait(c.post(q, content_length=65552))
        assert st.status == 400, st
        answered(d, c.wait(c.post(q)))
    d.check_doh_counters()


def test_413_harden_first_frame_without_content_length(make_cairnd, certs,
                                                       fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines="harden-large-queries: yes")
    with client(d, certs) as c:
        st = c.wait(c.post(padded_query("big.doh.lab.", 513),
                           content_length=False))
        assert st.status == 413, st
        answered(d, c.wait(c.post(padded_query("big.doh.lab.", 512),
                                  content_length=False)))
    d.check_doh_counters()


# ------------------------------------------------------------ TLS

def _tls_version(port, certs, version, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs["ca"])
    # let this client offer old versions: the server must refuse them
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), 3 * SLOW) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.version(), t.cipher()[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_1_2_and_later_only(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True, dot=True)
    for port, alpn in ((d.https_port, ["h2"]), (d.tls_port, ["dot"])):
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with pytest.raises(ssl.SSLError):
                _tls_version(port, certs, v, alpn)
        assert _tls_version(port, certs, ssl.TLSVersion.TLSv1_2,
                            alpn)[0] == "TLSv1.2"
        assert _tls_version(port, certs, ssl.TLSVersion.TLSv1_3,
                            alpn)[0] == "TLSv1.3"
    d.check_doh_counters(0)


def test_tls_ciphers_and_ciphersuites_apply(make_cairnd, certs, fake):
    """Each option picks the one cipher the server takes (the client
    offers OpenSSL's defaults, in which both are not first)."""
    d = make_cairnd(upstream=fake.port, doh=True, dot=True, server_lines=(
        "tls-ciphers: ECDHE-ECDSA-AES128-GCM-SHA256:"
        "ECDHE-RSA-AES128-GCM-SHA256\n"
        "tls-ciphersuites: TLS_CHACHA20_POLY1305_SHA256"))
    for port in (d.https_port, d.tls_port):
        assert _tls_version(port, certs, ssl.TLSVersion.TLSv1_2) == \
            ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
        assert _tls_version(port, certs, ssl.TLSVersion.TLSv1_3) == \
            ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")
    # and a client that offers none of them gets no connection
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs["ca"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", d.https_port),
                                      3 * SLOW) as s:
            ctx.wrap_socket(s, server_hostname="localhost").close()
    d.check_doh_counters(0)


def test_only_interfaces_with_https_port_serve_doh(make_cairnd, certs,
                                                   fake):
    """https-port and tls-port set, but the only interfaces are the
    plain port and another port: nothing listens on the https-port or
    the tls-port and neither interface speaks TLS; both answer plain DNS
    over TCP."""
    hp, tp, other = (harness.free_port(), harness.free_port(),
                     harness.free_port())
    d = make_cairnd(upstream=fake.port, certs=certs, server_lines=(
        'https-port: %d\ntls-port: %d\ntls-service-key: "%s"\n'
        'tls-service-pem: "%s"\ninterface: 127.0.0.1@%d'
        % (hp, tp, certs["key"], certs["cert"], other)))
    for port in (hp, tp):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), 2).close()
    for port in (d.port, other):
        assert harness.tcp_msg(make_query("localhost."), port,
                               timeout=3 * SLOW) is not None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(certs["ca"])
        with pytest.raises((ssl.SSLError, OSError)):
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.settimeout(1.0)
                ctx.wrap_socket(s, server_hostname="localhost").close()
    d.check_doh_counters(0)


# ------------------------------------------------------------ starvation

@pytest.mark.timeout(90)
def test_flooding_connections_do_not_starve_worker(make_cairnd, certs,
                                                   fake):
    """Two connections send WINDOW_UPDATE frames (valid, no answer, not
    activity) as fast as TLS carries them; another connection on the
    same (only) worker is answered meanwhile, each query within a
    second.  (Reading each connection until it has nothing left, these
    40 queries see stalls of seconds.)"""
    d = make_cairnd(upstream=fake.port, doh=True)
    blob = hf.WindowUpdateFrame(0, window_increment=1).serialize() * 1200
    stop = threading.Event()
    sent = [0, 0]
    flooders = [client(d, certs) for _ in range(2)]

    def flood(k):
        end = time.monotonic() + 20 * SLOW
        flooders[k].sock.settimeout(2.0)
        while not stop.is_set() and time.monotonic() < end:
            try:
                flooders[k].sock.sendall(blob)
            except (OSError, ssl.SSLError):
                break
            sent[k] += 1200
    threads = [threading.Thread(target=flood, args=(k,), daemon=True)
               for k in range(2)]
    lat = []
    with client(d, certs) as good:
        good.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        good.handshake()
        for f in flooders:
            f.handshake()
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            for i in range(40):
                q = make_query("localhost.", qid=i).to_wire()
                s = time.monotonic()
                answered(d, good.wait(good.post(q), timeout=3 * SLOW))
                lat.append(time.monotonic() - s)
            flooding = all(t.is_alive() for t in threads)
        finally:
            stop.set()
            for t in threads:
                t.join(10 * SLOW)
            for f in flooders:
                f.close()
    lat.sort()
    print("flood: %r WINDOW_UPDATE frames; 40 queries, latency p50 %.1f "
          "ms, max %.1f ms" % (sent, lat[20] * 1e3, lat[-1] * 1e3))
    assert flooding, "a flood ended before the queries did"
    assert min(sent) >= 100000, sent
    assert lat[-1] < 1.0 * SLOW, lat
    d.check_doh_counters()


# ------------------------------------------------------------ http-nodelay

def _tcp_nodelay_of(pid, port):
    return harness.tcp_sockopt_of(pid, port, socket.TCP_NODELAY)


@pytest.mark.parametrize("value,want", [(None, 1), ("yes", 1), ("no", 0)])
def test_http_nodelay(make_cairnd, certs, fake, value, want):
    """http-nodelay (default yes) sets TCP_NODELAY on DoH connections
    only: cairnd's own socket of a DoH connection has it as configured;
    those of DoT and plain TCP connections do not."""
    d = make_cairnd(upstream=fake.port, doh=True, dot=True,
                    server_lines="http-nodelay: %s" % value if value
                    else "")
    with client(d, certs) as c:
        answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
        assert _tcp_nodelay_of(d.proc.pid, d.https_port) == [want]
        for port, tls in ((d.tls_port, certs["ca"]), (d.port, None)):
            t = harness.TcpConn(port, tls=tls, timeout=5 * SLOW)
            try:
                assert t.query(make_query("localhost.")) is not None
                assert _tcp_nodelay_of(d.proc.pid, port) == [0]
            finally:
                t.close()
    d.check_doh_counters()


# ------------------------------------------------------------ long GET

def _long_get(c, wire, huffman=True):
    """A GET whose header block is split in CONTINUATION frames."""
    h = [(":method", "GET"), (":scheme", "https"),
         (":authority", "localhost"),
         (":path", "/dns-query?dns=" + harness.b64url(wire))]
    blk = c.enc.encode(h, huffman=huffman)
    sid = c.new_sid()
    parts = [blk[i:i + 16000] for i in range(0, len(blk), 16000)]
    for i, p in enumerate(parts):
        f = hf.HeadersFrame(sid) if i == 0 else hf.ContinuationFrame(sid)
        if i == 0:
            f.flags.add("END_STREAM")
        f.data = p
        if i == len(parts) - 1:
            f.flags.add("END_HEADERS")
        c.send_frame(f)
    return sid


@pytest.mark.timeout(60)
def test_get_limited_by_header_list(d, certs):
    """As cairn.conf.5 says under harden-large-queries: with the default
    msg-buffer-size a GET of a 45000-byte query is served, one of 50000
    bytes gets 414 (its :path is over the 64 KiB header list) while the
    same query by POST is served, and a :path over 64 KiB as encoded
    ends the connection, not the daemon."""
    with client(d, certs) as c:
        c.handshake()
        answered(d, c.wait(_long_get(c, padded_query("www.doh.lab.",
                                                     45000))))
        big = padded_query("www.doh.lab.", 50000)
        st = c.wait(_long_get(c, big))
        assert st.status == 414, st
        answered(d, c.wait(c.post(big, chunks=[16000] * 3)))
    with client(d, certs) as c:
        c.handshake()
        try:
            _long_get(c, padded_query("www.doh.lab.", 65535),
                      huffman=False)
        except harness.HarnessError:
            pass
        assert c.wait_closed(5 * SLOW)
    with client(d, certs) as c:
        answered(d, c.wait(c.post(make_query("www.doh.lab.").to_wire())))
    d.check_doh_counters()
