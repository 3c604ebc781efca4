"""DNS over HTTPS (HTTP/2), the well-formed side: GET (padded and
unpadded base64url, dns anywhere in the query string), POST, response
headers (status, content-type, content-length, cache-control max-age),
the DNS ID echoed, DNS errors inside a 200, 404 for other paths, many
streams on one connection, EDNS padding.  Every test ends with
mem.http.* at 0 and num.query.https equal to the queries answered."""

import time

import dns.edns
import dns.message
import dns.rcode
import pytest

import harness
from harness import H2Client, make_query, parse_answer


@pytest.fixture
def d(make_cairnd, fake):
    fake.set("www.doh.lab.", "answer", addrs=["192.0.2.80"], ttl=300)
    return make_cairnd(upstream=fake.port, doh=True)


def client(d, certs, **kw):
    return H2Client(d.https_port, certs["ca"], **kw)


def answered(d, st):
    m = parse_answer(st)
    d.expected_https += 1
    return m


def max_age(st):
    cc = st.header("cache-control")
    assert cc is not None, "no cache-control header: %r" % st.headers
    for part in cc.split(","):
        part = part.strip()
        if part.startswith("max-age="):
            return int(part[len("max-age="):])
    raise AssertionError("no max-age in %r" % cc)


def test_alpn_h2_and_settings(d, certs):
    with client(d, certs) as c:
        assert c.alpn == "h2"
        c.handshake()
        # SETTINGS_MAX_CONCURRENT_STREAMS (3) = http-max-streams default
        assert c.server_settings.get(3) == 100
    d.check_doh_counters(0)


@pytest.mark.parametrize("pad", [False, True])
def test_get(d, certs, pad):
    q = make_query("www.doh.lab.", "A", qid=0).to_wire()
    with client(d, certs) as c:
        st = c.wait(c.get(q, pad=pad))
        m = answered(d, st)
    assert m.rcode() == dns.rcode.NOERROR
    assert harness.a_addrs(m) == {"192.0.2.80"}
    d.check_doh_counters()


def test_get_dns_not_first_parameter(d, certs):
    q = make_query("www.doh.lab.", "A", qid=0).to_wire()
    with client(d, certs) as c:
        st = c.wait(c.get(q, params="ct=application/dns-message&{dns}&x=1"))
        m = answered(d, st)
    assert harness.a_addrs(m) == {"192.0.2.80"}
    d.check_doh_counters()


def test_post(d, certs):
    q = make_query("www.doh.lab.", "A", qid=0).to_wire()
    with client(d, certs) as c:
        st = c.wait(c.post(q))
        m = answered(d, st)
    assert harness.a_addrs(m) == {"192.0.2.80"}
    d.check_doh_counters()


def test_post_split_data_frames(d, certs):
    q = harness.padded_query("www.doh.lab.", 200)
    with client(d, certs) as c:
        st = c.wait(c.post(q, chunks=[1, 11, 50, 100]))
        m = answered(d, st)
    assert harness.a_addrs(m) == {"192.0.2.80"}
    d.check_doh_counters()


def test_post_without_content_type_accepted(d, certs):
    q = make_query("www.doh.lab.", "A").to_wire()
    with client(d, certs) as c:
        st = c.wait(c.post(q, content_type=None))
        answered(d, st)
    d.check_doh_counters()


def test_response_headers(d, certs, fake):
    fake.set("ttl.doh.lab.", "answer", ttl=123)
    q = make_query("ttl.doh.lab.", "A", qid=0).to_wire()
    with client(d, certs) as c:
        st = c.wait(c.post(q))
        m = answered(d, st)
        assert st.status == 200
        assert st.header("content-type") == "application/dns-message"
        assert int(st.header("content-length")) == len(st.data)
        assert max_age(st) == harness.min_ttl(m) == 123
        time.sleep(1.2)
        st = c.wait(c.get(q))
        m = answered(d, st)
        assert harness.min_ttl(m) <= 122
        assert max_age(st) == harness.min_ttl(m)
    d.check_doh_counters()


def test_max_age_smallest_ttl(d, certs, nsd, make_cairnd):
    d2 = make_cairnd(upstream=nsd.port, doh=True)
    # alias CNAME www (300) + www A (300); ttl5 A (5)
    with client(d2, certs) as c:
        st = c.wait(c.post(make_query("ttl5.example.lab.").to_wire()))
        m = answered(d2, st)
        assert max_age(st) == harness.min_ttl(m) <= 5
        st = c.wait(c.post(make_query("alias.example.lab.").to_wire()))
        m = answered(d2, st)
        assert max_age(st) == harness.min_ttl(m)
    d2.check_doh_counters()
    d.check_doh_counters(0)


@pytest.mark.parametrize("soa_ttl,soa_min,want", [(100, 40, 40),
                                                  (30, 3600, 30)])
def test_negative_max_age(d, certs, fake, soa_ttl, soa_min, want):
    fake.set("neg.doh.lab.", "nxdomain", soa_ttl=soa_ttl, soa_min=soa_min)
    q = make_query("neg.doh.lab.").to_wire()
    with client(d, certs) as c:
        st = c.wait(c.post(q))
        m = answered(d, st)
        assert m.rcode() == dns.rcode.NXDOMAIN
        assert max_age(st) == want
        # from the cache, aged: the SOA's TTL as the answer carries it
        time.sleep(1.2)
        hits = d.stats()["total.num.cachehits"]
        st = c.wait(c.get(q))
        m = answered(d, st)
        assert d.stats()["total.num.cachehits"] == hits + 1
        soa = [rr.ttl for rr in m.authority if rr.rdtype == dns.rdatatype.SOA]
        assert soa and soa[0] < want
        assert max_age(st) == soa[0]
    d.check_doh_counters()


@pytest.mark.parametrize("qid", [0, 1, 0xABCD, 0xFFFF])
def test_id_echoed(d, certs, qid):
    q = make_query("www.doh.lab.", "A", qid=qid).to_wire()
    with client(d, certs) as c:
        m1 = answered(d, c.wait(c.post(q)))
        m2 = answered(d, c.wait(c.get(q)))
    assert m1.id == m2.id == qid
    d.check_doh_counters()


def test_dns_errors_inside_200(d, certs, fake):
    fake.set("sf.doh.lab.", "servfail")
    fake.set("nx.doh.lab.", "nxdomain")
    with client(d, certs, timeout=30) as c:
        m = answered(d, c.wait(c.post(make_query("sf.doh.lab.").to_wire())))
        assert m.rcode() == dns.rcode.SERVFAIL
        m = answered(d, c.wait(c.post(make_query("nx.doh.lab.").to_wire())))
        assert m.rcode() == dns.rcode.NXDOMAIN
        # a FORMERR: QDCOUNT=2, well-formed otherwise
        q = make_query("www.doh.lab.").to_wire()
        bad = q[:4] + b"\x00\x02" + q[6:12] + q[12:12 + 17] + q[12:]
        st = c.wait(c.post(bad))
        assert st.status == 200
        assert dns.rcode.from_flags(st.data[3], 0) == dns.rcode.FORMERR
    d.check_doh_counters(False)


@pytest.mark.parametrize("path", ["/", "/other", "/dns-query/x",
                                  "/dns-queryx", "/DNS-QUERY"])
def test_404_other_path(d, certs, path):
    q = make_query("www.doh.lab.").to_wire()
    with client(d, certs) as c:
        st = c.wait(c.post(q, path=path))
        assert st.status == 404, st
        st = c.wait(c.get(q, path=path))
        assert st.status == 404, st
        # the connection still serves the right path
        answered(d, c.wait(c.post(q)))
    d.check_doh_counters()


def test_http_endpoint_option(make_cairnd, certs, fake):
    d = make_cairnd(upstream=fake.port, doh=True,
                    server_lines='http-endpoint: "/custom/path"')
    q = make_query("www.doh.lab.").to_wire()
    with client(d, certs) as c:
        assert c.wait(c.post(q)).status == 404
        answered(d, c.wait(c.post(q, path="/custom/path")))
        answered(d, c.wait(c.get(q, path="/custom/path")))
    d.check_doh_counters()


def test_many_streams_one_connection(d, certs, fake):
    names = ["s%02d.doh.lab." % i for i in range(30)]
    for i, n in enumerate(names):
        fake.set(n, "answer", addrs=["192.0.2.%d" % (100 + i)],
                 delay=0.2 if i % 3 == 0 else 0)
    with client(d, certs) as c:
        sids = []
        for i, n in enumerate(names):
            q = make_query(n, qid=i).to_wire()
            sids.append(c.post(q) if i % 2 else c.get(q))
        for i, sid in enumerate(sids):
            m = answered(d, c.wait(sid))
            assert m.id == i
            assert harness.a_addrs(m) == {"192.0.2.%d" % (100 + i)}
    d.check_doh_counters()


def test_streams_answered_out_of_order(d, certs, fake):
    fake.set("slow.doh.lab.", "answer", delay=0.5)
    with client(d, certs) as c:
        s1 = c.post(make_query("slow.doh.lab.").to_wire())
        s2 = c.post(make_query("fast.doh.lab.").to_wire())
        c.wait(s2)
        assert c.streams[s2].status == 200
        assert not c.streams[s1].done, "slow stream must not block"
        answered(d, c.streams[s2])
        answered(d, c.wait(s1))
    d.check_doh_counters()


def test_several_connections(d, certs):
    q = make_query("www.doh.lab.").to_wire()
    cs = [client(d, certs) for _ in range(5)]
    try:
        for c in cs:
            answered(d, c.wait(c.post(q)))
    finally:
        for c in cs:
            c.close()
    d.check_doh_counters()


def padding_opt(m):
    for o in m.options:
        if o.otype == 12:
            return o
    return None


def test_padded_query_padded_answer(d, certs):
    q = make_query("www.doh.lab.", qid=0)
    base = len(q.to_wire()) + 4
    q = make_query("www.doh.lab.", qid=0, options=[
        dns.edns.GenericOption(12, b"\x00" * ((-base) % 128))])
    wire = q.to_wire()
    assert len(wire) % 128 == 0
    with client(d, certs) as c:
        st = c.wait(c.post(wire))
        m = answered(d, st)
        assert len(st.data) % 468 == 0, len(st.data)
        assert padding_opt(m) is not None
        st = c.wait(c.get(wire))
        answered(d, st)
        assert len(st.data) % 468 == 0
    d.check_doh_counters()


def test_unpadded_query_unpadded_answer(d, certs):
    with client(d, certs) as c:
        st = c.wait(c.post(make_query("www.doh.lab.").to_wire()))
        m = answered(d, st)
        assert padding_opt(m) is None
    d.check_doh_counters()


def test_query_counters(d, certs):
    """num.query.https counts DoH queries only; the plain UDP readiness
    query is not one of them."""
    st0 = d.stats()
    with client(d, certs) as c:
        for i in range(7):
            answered(d, c.wait(c.post(make_query("localhost.").to_wire())))
    st1 = d.check_doh_counters(7)
    assert harness.stat(st1, "num.queries") - \
        harness.stat(st0, "num.queries") == 7
    assert harness.stat(st1, "num.query.udp") == \
        harness.stat(st0, "num.query.udp")


def test_h2_library_client(d, certs):
    """The h2 state machine as a client (a well-behaved peer)."""
    import socket
    import ssl

    import h2.config
    import h2.connection
    import h2.events
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs["ca"])
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(socket.create_connection(
        ("127.0.0.1", d.https_port), 5), server_hostname="localhost")
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    q = make_query("www.doh.lab.", qid=0).to_wire()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                            (":authority", "localhost"),
                            (":path", "/dns-query?dns=" + harness.b64url(q)),
                            ("accept", "application/dns-message")],
                      end_stream=True)
    s.sendall(conn.data_to_send())
    status, body, done = None, b"", False
    end = time.monotonic() + 5 * harness.SLOW
    while not done and time.monotonic() < end:
        s.settimeout(max(0.1, end - time.monotonic()))
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers)[b":status"]
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length,
                                               ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done = True
        s.sendall(conn.data_to_send())
    conn.close_connection()
    s.sendall(conn.data_to_send())
    s.close()
    assert status == b"200" and done
    d.expected_https += 1
    assert harness.a_addrs(dns.message.from_wire(body)) == {"192.0.2.80"}
    d.check_doh_counters()

