"""Plain DNS (UDP and TCP): answers through a real upstream (NSD) with
dnspython, dig and kdig; pipelined TCP answered out of order; malformed
queries (FORMERR, NOTIMPL, dropped) and the daemon answering afterwards."""

import struct
import time

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

import harness
from harness import SLOW, TcpConn, make_query, udp, udp_msg


@pytest.fixture
def d(make_cairnd, nsd):
    return make_cairnd(upstream=nsd.port)


def test_localhost_builtin_over_udp_and_tcp(make_cairnd):
    d = make_cairnd()
    for m in (d.udp("localhost.", "A"), d.tcp("localhost.", "A")):
        assert m is not None
        assert m.rcode() == dns.rcode.NOERROR
        assert harness.a_addrs(m) == {"127.0.0.1"}
    m = d.udp("localhost.", "AAAA")
    assert harness.a_addrs(m) == {"::1"}


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_forwarded_records_dnspython(d, proto):
    q = getattr(d, proto)
    m = q("www.example.lab.", "A")
    assert m.rcode() == dns.rcode.NOERROR
    assert m.flags & dns.flags.QR and m.flags & dns.flags.RA
    assert harness.a_addrs(m) == {"192.0.2.1"}
    m = q("www.example.lab.", "AAAA")
    assert harness.a_addrs(m) == {"2001:db8::1"}
    m = q("txt.example.lab.", "TXT")
    txt = [r for rr in m.answer for r in rr]
    assert len(txt) == 1
    assert txt[0].strings == (b"hello world", b"second string")
    m = q("mx.example.lab.", "MX")
    mx = [r for rr in m.answer for r in rr]
    assert [(r.preference, r.exchange.to_text()) for r in mx] == \
        [(10, "mail.example.lab.")]
    m = q("alias.example.lab.", "A")
    types = {rr.rdtype for rr in m.answer}
    assert dns.rdatatype.CNAME in types
    assert harness.a_addrs(m) == {"192.0.2.1"}


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_negative_answers_carry_soa(d, proto):
    q = getattr(d, proto)
    m = q("nx.example.lab.", "A")
    assert m.rcode() == dns.rcode.NXDOMAIN
    assert [rr.rdtype for rr in m.authority] == [dns.rdatatype.SOA]
    m = q("www.example.lab.", "TXT")
    assert m.rcode() == dns.rcode.NOERROR and not m.answer
    assert [rr.rdtype for rr in m.authority] == [dns.rdatatype.SOA]


def test_id_and_question_echoed(d):
    for qid in (0, 1, 0x1234, 0xFFFF):
        q = make_query("www.example.lab.", "A", qid=qid)
        m = udp_msg(q, d.port, timeout=3 * SLOW)
        assert m.id == qid
        assert m.question == q.question


def test_large_answer_over_tcp_complete(d):
    m = d.tcp("big.example.lab.", "TXT")
    strings = sorted(b"".join(r.strings).decode()
                     for rr in m.answer for r in rr)
    assert strings == sorted(harness.big_txt_strings())


def test_large_answer_over_udp_truncated_for_small_buffer(d):
    # 512-byte client without EDNS: the 4 KB RRset cannot fit
    q = make_query("big.example.lab.", "TXT", edns=False)
    data = udp(q, d.port, timeout=5 * SLOW)
    assert data is not None and len(data) <= 512
    m = dns.message.from_wire(data)
    assert m.flags & dns.flags.TC


@pytest.mark.skipif(not harness.have_tool("dig"), reason="dig missing")
@pytest.mark.parametrize("tcp", [False, True])
def test_dig(d, tcp):
    cmd = ["dig", "@127.0.0.1", "-p", str(d.port), "+short", "+time=3",
           "+tries=1", "www.example.lab", "A"]
    if tcp:
        cmd.append("+tcp")
    r = harness.run(cmd)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["192.0.2.1"]


@pytest.mark.skipif(not harness.have_tool("kdig"), reason="kdig missing")
@pytest.mark.parametrize("tcp", [False, True])
def test_kdig(d, tcp):
    cmd = ["kdig", "@127.0.0.1", "-p", str(d.port), "+short", "+time=3",
           "+retry=0", "mx.example.lab", "MX"]
    if tcp:
        cmd.append("+tcp")
    r = harness.run(cmd)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["10", "mail.example.lab."]


def test_tcp_pipelined_answered_out_of_order(make_cairnd, fake):
    fake.set("slow.lab.", "answer", delay=0.5, addrs=["192.0.2.50"])
    fake.set("fast.lab.", "answer", addrs=["192.0.2.51"])
    d = make_cairnd(upstream=fake.port)
    c = TcpConn(d.port, timeout=10 * SLOW)
    try:
        qs = make_query("slow.lab.", "A", qid=1111)
        qf = make_query("fast.lab.", "A", qid=2222)
        c.send(qs)
        c.send(qf)
        first = c.recv_msg()
        second = c.recv_msg()
    finally:
        c.close()
    assert first.id == 2222, "the fast answer must come first"
    assert harness.a_addrs(first) == {"192.0.2.51"}
    assert second.id == 1111
    assert harness.a_addrs(second) == {"192.0.2.50"}


def test_tcp_many_pipelined_in_one_write(d):
    names = ["www", "mail", "ns1", "alias"] * 5
    qs = [make_query("%s.example.lab." % n, "A", qid=100 + i)
          for i, n in enumerate(names)]
    c = TcpConn(d.port, timeout=10 * SLOW)
    try:
        blob = b"".join(struct.pack("!H", len(w)) + w
                        for w in (q.to_wire() for q in qs))
        c.s.sendall(blob)
        got = {}
        for _ in range(len(qs)):
            m = c.recv_msg()
            assert m is not None
            got[m.id] = m
    finally:
        c.close()
    assert sorted(got) == [q.id for q in qs]
    for q in qs:
        assert got[q.id].question == q.question
        assert got[q.id].rcode() == dns.rcode.NOERROR


def header(qid=0x4242, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


QUESTION = (b"\x03www\x07example\x03lab\x00" +
            struct.pack("!HH", 1, 1))


def still_answers(d):
    m = d.udp("localhost.", "A")
    assert m is not None and harness.a_addrs(m) == {"127.0.0.1"}
    m = d.tcp("localhost.", "A")
    assert m is not None and harness.a_addrs(m) == {"127.0.0.1"}


def rcode_of(data):
    assert data is not None, "no answer"
    assert len(data) >= 12
    return struct.unpack("!H", data[2:4])[0] & 0xF


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_formerr_truncated_question(make_cairnd, proto):
    d = make_cairnd()
    wire = header(qid=0x1111) + b"\x03www\x07exa"
    data = send_raw(d, wire, proto)
    assert data[:2] == b"\x11\x11"
    assert data[2] & 0x80, "QR set"
    assert rcode_of(data) == dns.rcode.FORMERR
    still_answers(d)


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_formerr_qdcount_two(make_cairnd, proto):
    d = make_cairnd()
    wire = header(qid=0x2222, qd=2) + QUESTION + QUESTION
    data = send_raw(d, wire, proto)
    assert data[:2] == b"\x22\x22"
    assert rcode_of(data) == dns.rcode.FORMERR
    still_answers(d)


def test_formerr_qdcount_zero(make_cairnd):
    d = make_cairnd()
    data = send_raw(d, header(qid=0x2323, qd=0), "udp")
    assert rcode_of(data) == dns.rcode.FORMERR
    still_answers(d)


@pytest.mark.parametrize("opcode", [1, 2, 5, 15])
def test_notimpl_for_other_opcodes(make_cairnd, opcode):
    d = make_cairnd()
    wire = header(qid=0x3333, flags=(opcode << 11) | 0x0100) + QUESTION
    data = send_raw(d, wire, "udp")
    assert data[:2] == b"\x33\x33"
    assert rcode_of(data) == dns.rcode.NOTIMP
    still_answers(d)


@pytest.mark.parametrize("n", [0, 1, 2, 11])
def test_short_datagram_dropped(make_cairnd, n):
    d = make_cairnd()
    assert udp(b"\x44\x44\x01\x00\x00\x01\x00\x00\x00\x00\x00"[:n], d.port,
               timeout=1.0) is None
    still_answers(d)


def test_hostile_inputs_do_not_kill_daemon(make_cairnd):
    d = make_cairnd()
    import random
    rnd = random.Random(1234)
    evil = [
        header(qd=1) + b"\xc0\x0c" + struct.pack("!HH", 1, 1),  # self loop
        header(qd=1) + b"\xc0\xff",                             # far pointer
        header(qd=1) + b"\x3f" + b"a" * 63 * 5,                 # name too long
        header(qd=1, ar=1) + QUESTION + b"\x00\x00\x29\x10\x00\x00\x00"
        b"\x00\x00\xff\xff",                                    # OPT rdlen
        header(qd=1, an=100) + QUESTION,                        # counts lie
        header(flags=0x8100) + QUESTION,                        # QR=1
    ] + [header(qid=i, qd=rnd.randint(0, 3), an=rnd.randint(0, 3))
         + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 80)))
         for i in range(150)]
    for w in evil:
        udp(w, d.port, timeout=0.05)
    c = TcpConn(d.port, timeout=3 * SLOW)
    try:
        for w in evil[:20]:
            c.send(w)
    except (BrokenPipeError, ConnectionResetError):
        pass            # closing a connection that sent junk is fine
    c.close()
    time.sleep(0.2)
    assert d.alive()
    still_answers(d)


def send_raw(d, wire, proto):
    if proto == "udp":
        return udp(wire, d.port, timeout=3 * SLOW)
    c = TcpConn(d.port, timeout=3 * SLOW)
    try:
        c.send(wire)
        return c.recv()
    finally:
        c.close()


def test_builtin_default_with_p(tmp_path):
    """No -c and no default config file: 127.0.0.1 (and ::1) on the port
    given with -p, with the built-in localhost zone."""
    import os
    import signal
    import subprocess
    default = "/usr/local/etc/cairn/cairn.conf"
    if os.path.exists(default):
        pytest.skip("a default config file exists: %s" % default)
    port = harness.free_port()
    err = open(tmp_path / "stderr", "wb")
    p = subprocess.Popen([harness.program("cairnd"), "-d", "-p", str(port)],
                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                         cwd=str(tmp_path))
    try:
        m = harness.wait_until(
            lambda: udp_msg(make_query("localhost."), port, timeout=0.2),
            10 * SLOW, step=0.1, what="built-in default answering")
        assert harness.a_addrs(m) == {"127.0.0.1"}
        m = harness.tcp_msg(make_query("localhost.", "AAAA"), port,
                            timeout=3 * SLOW)
        assert harness.a_addrs(m) == {"::1"}
        import socket
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.settimeout(3 * SLOW)
            s.sendto(make_query("localhost.").to_wire(), ("::1", port))
            data, _ = s.recvfrom(65535)
            assert harness.a_addrs(dns.message.from_wire(data)) == \
                {"127.0.0.1"}
        finally:
            s.close()
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(10 * SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            rc = "hung"
        err.close()
    text = open(tmp_path / "stderr").read()
    assert rc == 0, text
    for mark in harness.SANITIZER_MARKS:
        assert mark not in text, text


@pytest.mark.timeout(90)
def test_client_not_reading_is_bounded(make_cairnd):
    """A TCP client that pipelines many queries for a large answer and
    never reads: cairnd stops reading it (bounded memory) and keeps
    serving others; the connection's memory goes when it closes."""
    txt = " ".join('"%s"' % ("z" * 200) for _ in range(5))
    d = make_cairnd(server_lines="local-data: 'fat.lab. 60 IN TXT %s'" % txt)

    def rss():
        with open("/proc/%d/status" % d.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0
    r0 = rss()
    c = TcpConn(d.port, timeout=0.5)
    # 512-byte queries: 20 MB in all, more than socket buffers hold
    q = harness.padded_query("fat.lab.", 512, "TXT")
    frame = struct.pack("!H", len(q)) + q
    c.s.setsockopt(__import__("socket").SOL_SOCKET,
                   __import__("socket").SO_RCVBUF, 4096)
    sent = 0
    end = time.monotonic() + 10 * SLOW
    try:
        for _ in range(400):                 # at most 400 * 100 queries
            if time.monotonic() > end:
                break
            try:
                c.s.sendall(frame * 100)
                sent += 100
            except (OSError, TimeoutError):
                break
        assert sent < 400 * 100, "cairnd read 40000 queries (20 MB) " \
            "whose answers (40 MB) nobody read"
        still_answers(d)
        grown = rss() - r0
        limit = (512 if harness.ASAN else 64) * 1024
        assert grown < limit, "RSS grew %d kB" % grown
    finally:
        c.close()
    still_answers(d)
