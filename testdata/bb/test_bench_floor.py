"""bench/doh-floor.c, the floor column of bench/run: a figure of the
benchmark is only as good as the device that makes it.  Built here with
-Wall -Wextra -Werror (and the build's sanitizers), then asked as
bench/run asks it: DoH GET and POST (answered with the query, QR set and
one A record), 400 for a request without a query or with one that is not
base64url, UDP in batches, and forwarding (floor-fwd) to an upstream
with the client's ID restored on every answer."""

import os
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

import harness
from harness import H2Client, make_query, parse_answer

SRC = os.path.join(harness.REPO, "bench", "doh-floor.c")


@pytest.fixture(scope="module")
def floor_exe(tmp_path_factory):
    exe = str(tmp_path_factory.mktemp("floor") / "doh-floor")
    # linked with the build's libcairn.a (its base64url decoder), and
    # so with the build's sanitizers when it has them
    lib = os.path.join(harness.BUILDDIR, "libcairn.a")
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
           "-fno-omit-frame-pointer"] if harness.ASAN else []
    r = subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror"] + san +
                       ["-I", harness.REPO, "-o", exe, SRC, lib, "-lssl",
                        "-lcrypto", "-lnghttp2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return exe


class Floor:
    def __init__(self, exe, certs, upstream=None):
        self.h = harness.free_port()
        self.u = harness.free_port()
        cmd = [exe, certs["cert"], certs["key"], str(self.h), str(self.u)]
        if upstream is not None:
            cmd.append(str(upstream))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        harness.wait_until(self._up, 10.0, what="doh-floor listening")

    def _up(self):
        assert self.proc.poll() is None, self.proc.stderr.read()
        try:
            socket.create_connection(("127.0.0.1", self.h), 0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stderr.close()


@pytest.fixture
def floor(floor_exe, certs):
    f = Floor(floor_exe, certs)
    yield f
    assert f.proc.poll() is None, "doh-floor died"
    f.stop()


def fixed_answer(m, q):
    assert m.id == q.id
    assert m.flags & dns.flags.QR
    assert m.rcode() == dns.rcode.NOERROR
    assert m.question == q.question
    assert harness.a_addrs(m) == {"192.0.2.1"}
    assert harness.min_ttl(m) == 300


def test_doh_get_and_post(floor, certs):
    with H2Client(floor.h, certs["ca"]) as c:
        assert c.alpn == "h2"
        q1 = make_query("get.floor.lab.", "A", qid=0)
        q2 = make_query("post.floor.lab.", "A", qid=4242)
        s1 = c.get(q1.to_wire())
        s2 = c.post(q2.to_wire())
        st1, st2 = c.wait(s1), c.wait(s2)
        fixed_answer(parse_answer(st1), q1)
        fixed_answer(parse_answer(st2), q2)
        for st in (st1, st2):
            assert st.header("content-type") == "application/dns-message"
            assert st.header("content-length") == str(len(st.data))
            assert st.header("cache-control") == "max-age=300"


def test_doh_many_streams(floor, certs):
    with H2Client(floor.h, certs["ca"]) as c:
        qs = {}
        for i in range(100):
            q = make_query("s%d.floor.lab." % i, "A", qid=i + 1)
            qs[c.get(q.to_wire())] = q
        for sid, q in qs.items():
            fixed_answer(parse_answer(c.wait(sid)), q)


def test_doh_no_query_is_400(floor, certs):
    with H2Client(floor.h, certs["ca"]) as c:
        st = c.wait(c.request("GET", "/dns-query?x=1", content_type=None))
        assert st.status == 400
        # not base64url (cairn's decoder refuses '+'), and a value that
        # ends right after "dns=" at the end of the path
        for path in ("/dns-query?dns=AA+A", "/dns-query?dns="):
            st = c.wait(c.request("GET", path, content_type=None))
            assert st.status == 400, path


def test_udp_batch(floor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3.0)
    try:
        qs = {}
        for i in range(200):
            q = make_query("u%d.floor.lab." % i, "A", qid=i + 1)
            qs[q.id] = q
            s.sendto(q.to_wire(), ("127.0.0.1", floor.u))
        got = {}
        while len(got) < len(qs):
            m = dns.message.from_wire(s.recv(4096))
            got[m.id] = m
    finally:
        s.close()
    for qid, q in qs.items():
        fixed_answer(got[qid], q)


def test_forwarding_restores_ids(floor_exe, certs, fake):
    fake.set("fwd.floor.lab.", "answer", addrs=["192.0.2.80"], ttl=60)
    f = Floor(floor_exe, certs, upstream=fake.port)
    try:
        with H2Client(f.h, certs["ca"]) as c:
            qs = {}
            for i in range(50):
                q = make_query("fwd.floor.lab.", "A", qid=1000 + i)
                qs[c.post(q.to_wire())] = q
            for sid, q in qs.items():
                m = parse_answer(c.wait(sid))
                assert m.id == q.id
                assert harness.a_addrs(m) == {"192.0.2.80"}
        assert fake.count("fwd.floor.lab.", "udp") == 50
        time.sleep(0.1)
        assert f.proc.poll() is None, "doh-floor died"
    finally:
        f.stop()
