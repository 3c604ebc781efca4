"""One read event of a TLS connection is bounded (comm/tcp.c conn_read):
at most COMM_TLS_RECORDS_PER_EVENT (256) records or COMM_BYTES_PER_EVENT
(64 KiB) of plaintext, then it yields.  With read-ahead on, OpenSSL may
by then hold the rest of a burst that the socket will not announce
again, so conn_read triggers itself once more while anything is left
there.  These tests send such bursts on a DoH connection, every TLS
record written with its own SSL_write and the whole burst handed to the
kernel in one send(), then send nothing more and expect every reply.

The records are written through memory BIOs (RecordSock) so that they
are separate records and arrive together; an SSLSocket would send each
with its own send() and the server could read them one by one.

nghttp2's outbound ACK limit (DOH_MAX_OUTBOUND_ACK, 1000 queued
SETTINGS/PING ACKs) does not come into it: cairn lets nghttp2 write
after every record it is given (doh_h2_input), so at most one PING ACK
is queued there at a time.  Frames of an unknown type are ignored by
HTTP/2 (RFC 9113 4.1) and carry the bulk of the 64 KiB burst."""

import contextlib
import ssl
import struct

import pytest
from hyperframe import frame as hf

import harness
from harness import H2Client, HarnessError, SLOW, make_query, parse_answer

NAME = "burst.lab."
ADDR = "192.0.2.61"
RECORDS_PER_EVENT = 256         # COMM_TLS_RECORDS_PER_EVENT
BYTES_PER_EVENT = 64 * 1024     # COMM_BYTES_PER_EVENT
MAX_RECORD = 16384              # TLS plaintext of one record
# OpenSSL 3.0 (Debian 12) with read-ahead, as strace shows: when it
# starts a record with less than its header buffered it read()s up to
# this much; the rest of a record whose header it has it read()s alone,
# and then its buffer is empty and conn_read waits for the socket again
READ_AHEAD = 16709
# every reply is there within milliseconds; without the re-trigger the
# rest of the burst waits for bytes that never come
WAIT = 3.0 * SLOW


class RecordSock:
    """A TLS client over memory BIOs with what H2Client uses of an
    SSLSocket.  sendall() writes its bytes as one record (as an
    SSLSocket does for up to 16 KiB); burst() writes each chunk as its
    own record and sends all of them in one send().  writes counts the
    send()s, so a test can show it sent nothing while it waited;
    overhead is what TLS added to the last sendall()."""

    def __init__(self, ctx, raw):
        self.raw = raw
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out,
                                server_hostname="localhost")
        self.writes = 0
        self.overhead = None    # of the last sendall()'s record
        for _ in range(50):
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        else:
            raise HarnessError("TLS handshake did not finish")
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.raw.sendall(data)
            self.writes += 1

    def _fill(self):
        data = self.raw.recv(65536)
        if data:
            self.inc.write(data)
        else:
            self.inc.write_eof()

    def selected_alpn_protocol(self):
        return self.obj.selected_alpn_protocol()

    def sendall(self, data):
        self.obj.write(data)
        out = self.out.read()
        self.overhead = len(out) - len(data)
        self.raw.sendall(out)
        self.writes += 1

    def burst(self, chunks):
        """Each chunk its own record, all in one send(); returns the
        records."""
        recs = []
        for c in chunks:
            assert len(c) <= MAX_RECORD
            self.obj.write(c)
            recs.append(self.out.read())
        self.raw.sendall(b"".join(recs))
        self.writes += 1
        return recs

    def pending(self):
        return self.obj.pending() > 0 or self.inc.pending > 0

    def recv(self, n):
        for _ in range(1000):
            try:
                data = self.obj.read(n)
                self._flush()
                return data
            except ssl.SSLWantReadError:
                self._fill()
            except ssl.SSLZeroReturnError:
                return b""
        raise HarnessError("no TLS record complete after 1000 reads")

    def settimeout(self, t):
        self.raw.settimeout(t)

    def fileno(self):
        return self.raw.fileno()

    def close(self):
        self.raw.close()


def one_record(rec):
    """rec is exactly one TLS application data record (TLS 1.3 sends
    every record as type 23)."""
    return (len(rec) > 5 and rec[0] == 23 and
            struct.unpack("!H", rec[3:5])[0] == len(rec) - 5)


@pytest.fixture
def d(make_cairnd):
    return make_cairnd(doh=True,
                       server_lines='local-data: "%s 300 IN A %s"'
                       % (NAME, ADDR))


def client(d, certs):
    c = H2Client(d.https_port, certs["ca"], auto_window=False,
                 wrap=RecordSock)
    try:
        # both SETTINGS exchanged: nothing more is owed either way
        c.handshake()
        if not c.wait_for(lambda: c.settings_acked > 0):
            raise HarnessError("our SETTINGS not acknowledged")
    except BaseException:
        c.close()
        raise
    return c


def ping(i):
    return hf.PingFrame(0, opaque_data=struct.pack("!Q", i)).serialize()


def unknown_frame(size):
    """A frame of an unknown type (ignored by HTTP/2), size bytes in all
    with its header."""
    assert 9 <= size <= MAX_RECORD
    return struct.pack("!I", size - 9)[1:] + bytes([0xfa, 0]) + \
        struct.pack("!I", 0) + b"\x00" * (size - 9)


def post_frames(c, wire):
    """A DoH POST as two frames (HEADERS, DATA) on a new stream."""
    sid = c.new_sid()
    h = hf.HeadersFrame(sid)
    h.data = c.header_block([
        (":method", "POST"), (":scheme", "https"),
        (":authority", "localhost"), (":path", "/dns-query"),
        ("content-type", "application/dns-message"),
        ("accept", "application/dns-message"),
        ("content-length", str(len(wire)))])
    h.flags.add("END_HEADERS")
    b = hf.DataFrame(sid)
    b.data = wire
    b.flags.add("END_STREAM")
    return sid, [h.serialize(), b.serialize()]


def acks(c):
    return [struct.unpack("!Q", bytes(f.opaque_data))[0] for f in c.frames
            if isinstance(f, hf.PingFrame) and "ACK" in f.flags]


def burst_then_wait(d, c, head, npings):
    """Send head (frames, each its own record), npings PINGs and a DoH
    query in one burst; then, sending nothing, every PING ACK and the
    answer.  Returns the records sent."""
    frames = list(head) + [ping(i) for i in range(npings)]
    sid, qf = post_frames(c, make_query(NAME, "A", qid=0).to_wire())
    recs = c.sock.burst(frames + qf)
    assert len(recs) == len(frames) + 2
    assert all(one_record(r) for r in recs), "not one record a frame"
    writes = c.sock.writes
    done = c.wait_for(lambda: len(acks(c)) >= npings and
                      c.streams[sid].done, WAIT)
    assert c.sock.writes == writes, "the client sent while it waited"
    assert done, ("%d records, %d bytes in one burst: %d of %d PING ACKs "
                  "and %r within %.0fs (closed: %r)"
                  % (len(recs), sum(map(len, recs)), len(acks(c)), npings,
                     c.streams[sid], WAIT, c.closed))
    assert sorted(acks(c)) == list(range(npings))
    m = parse_answer(c.streams[sid])
    d.expected_https += 1
    assert harness.a_addrs(m) == {ADDR}
    return recs


def still_answers(d, c):
    m = parse_answer(c.query(make_query(NAME, "A", qid=0).to_wire()))
    d.expected_https += 1
    assert harness.a_addrs(m) == {ADDR}


@contextlib.contextmanager
def session(d, certs):
    """A client for one test's bursts; after them the connection still
    answers, cairnd is alive and its DoH counters are back to 0."""
    c = client(d, certs)
    try:
        yield c
        still_answers(d, c)
    finally:
        c.close()
    assert d.alive()
    d.check_doh_counters()


@pytest.mark.timeout(30)
def test_more_records_than_one_read_event_takes(d, certs):
    """400 PING records (about 16 KiB: OpenSSL's read-ahead takes them
    all in one read()) and a query: 256 are read in the first event, the
    rest only because conn_read triggers itself again."""
    with session(d, certs) as c:
        recs = burst_then_wait(d, c, [], 400)
        assert len(recs) > RECORDS_PER_EVENT


@pytest.mark.timeout(30)
def test_more_bytes_than_one_read_event_takes(d, certs):
    """Eight records, 64 KiB of plaintext in all, then 20 PINGs and a
    query, three times on one connection.  The records are laid out so
    that every read-ahead read() of the server ends inside a record
    header (two records and 3 bytes of the next): its buffer never runs
    dry, so the first event goes on to the byte bound, reached with the
    eighth record, when the last read() has taken the PINGs and the
    query as well.  With an OpenSSL that reads ahead another amount the
    bound is not reached and the test only shows a large burst served."""
    with session(d, certs) as c:
        ov = c.sock.overhead
        w = (READ_AHEAD - 2) // 2
        sizes = [w - ov] * 7
        sizes.append(BYTES_PER_EVENT - sum(sizes))
        for _ in range(3):
            c.frames.clear()
            recs = burst_then_wait(d, c, [unknown_frame(n) for n in sizes],
                                   20)
            assert [len(r) for r in recs[:7]] == [w] * 7
            assert sum(len(r) - ov for r in recs[:8]) == BYTES_PER_EVENT
            # the PINGs and the query fit in the read of the eighth record
            assert w + sum(map(len, recs[7:])) <= READ_AHEAD


@pytest.mark.timeout(30)
def test_bursts_on_many_events(d, certs):
    """Bursts one after another on one connection: three of 700 PING
    records (the record bound more than once each) and one of 20 full
    records (320 KiB)."""
    with session(d, certs) as c:
        for _ in range(3):
            c.frames.clear()
            burst_then_wait(d, c, [], 700)
        c.frames.clear()
        burst_then_wait(d, c, [unknown_frame(MAX_RECORD)
                               for _ in range(20)], 10)

