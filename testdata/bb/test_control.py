"""
testdata/bb/test_control.py - black-box tests of the control channel:
cairn-control against a running cairnd, over TLS (certificates made by
cairn-control-setup) and over a Unix socket.

Each test starts its own cairnd on random ports (ControlDaemon below),
with local data for "a.test." so that answers do not need an upstream.
Every wait is bounded in time and every loop in count.  Programs are
found in CAIRN_BUILDDIR (default: the repository root).
"""

import os
import re
import signal
import socket
import ssl
import stat
import shutil
import subprocess
import tempfile
import threading
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from harness import SLOW, free_port, program

NAME = "a.test."
# gauges that need not be 0 on an idle daemon
GAUGES_NOT_ZERO = ("mem.cache.message",)
ADDR = "192.0.2.1"


def make_keys(d):
    """cairn_server.key/.pem and cairn_control.key/.pem in d."""
    r = subprocess.run(["sh", program("cairn-control-setup"), "-d", d],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return {k: os.path.join(d, "cairn_%s" % k) for k in (
        "server.key", "server.pem", "control.key", "control.pem")}


def query(port, name=NAME, rdtype="A", timeout=2.0):
    q = dns.message.make_query(name, rdtype, use_edns=False)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)


def parse_stats(text):
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        assert sep == "=", "not name=value: %r" % line
        assert k not in out, "%s printed twice" % k
        out[k] = float(v)
    return out


class ControlDaemon:
    """cairnd with control on TCP 127.0.0.1 (TLS) and on a Unix socket."""

    def __init__(self, threads=2, use_cert=True, extra_server=""):
        # short path: a Unix socket path has to fit in 108 bytes
        self.dir = tempfile.mkdtemp(prefix="cairn-ctl-")
        self.keys = make_keys(self.dir)
        self.port = free_port()
        self.cport = free_port()
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.conf = os.path.join(self.dir, "cairn.conf")
        self.err_path = os.path.join(self.dir, "cairnd.stderr")
        self.threads = threads
        lines = [
            "server:",
            "    interface: 127.0.0.1",
            "    port: %d" % self.port,
            "    use-syslog: no",
            '    logfile: ""',
            '    pidfile: ""',
            "    num-threads: %d" % threads,
            "    verbosity: 1",
            "    do-ip6: no",
            '    local-zone: "test." static',
            '    local-data: "%s 3600 IN A %s"' % (NAME, ADDR),
        ]
        lines += ["    " + x.strip() for x in extra_server.splitlines()
                  if x.strip()]
        # "." to a closed loopback port: never the system's nameservers
        lines += ["forward-zone:", '    name: "."',
                  "    forward-addr: 127.0.0.1@9"]
        lines += [
            "remote-control:",
            "    control-enable: yes",
            "    control-interface: 127.0.0.1",
            '    control-interface: "%s"' % self.sock,
            "    control-port: %d" % self.cport,
            "    control-use-cert: %s" % ("yes" if use_cert else "no"),
            '    server-key-file: "%s"' % self.keys["server.key"],
            '    server-cert-file: "%s"' % self.keys["server.pem"],
            '    control-key-file: "%s"' % self.keys["control.key"],
            '    control-cert-file: "%s"' % self.keys["control.pem"],
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.err_f = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [program("cairnd"), "-d", "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=self.err_f, stderr=self.err_f,
            cwd=self.dir)
        self.wait_ready()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self):
        end = time.monotonic() + 10 * SLOW
        for _ in range(400):
            if self.proc.poll() is not None:
                raise AssertionError("cairnd exited with %s:\n%s"
                                     % (self.proc.returncode, self.stderr()))
            # ready when the control server answers (it starts after the
            # listeners); no DNS query, so that every counter stays 0
            if os.path.exists(self.sock):
                try:
                    if b"is running" in _raw_unix(self.sock,
                                                  b"CAIRNCTL1 status\n", 1.0):
                        return
                except OSError:
                    pass
            if time.monotonic() > end:
                break
            time.sleep(0.05)
        raise AssertionError("cairnd not ready:\n" + self.stderr())

    def ctl(self, *args, server=None, timeout=30):
        cmd = [program("cairn-control"), "-c", self.conf]
        if server:
            cmd += ["-s", server]
        cmd += list(args)
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout * SLOW,
                              stdin=subprocess.DEVNULL)

    def ok(self, *args, **kw):
        r = self.ctl(*args, **kw)
        assert r.returncode == 0, "%s: rc %d\nstdout: %s\nstderr: %s" % (
            args, r.returncode, r.stdout, r.stderr)
        return r.stdout

    def stats(self, reset=False, **kw):
        return parse_stats(self.ok("stats" if reset else "stats_noreset",
                                   **kw))

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait_exit()
            if rc is None:
                self.proc.kill()
                self.proc.wait(5)
        self.err_f.close()
        text = self.stderr()
        if not os.environ.get("CAIRN_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        for mark in ("Sanitizer", "runtime error:"):
            assert mark not in text, "cairnd stderr:\n" + text[-6000:]
        return rc


@pytest.fixture
def cairnd():
    d = ControlDaemon()
    yield d
    text = d.stderr()
    rc = d.close()
    assert rc in (None, 0), "cairnd exit %s:\n%s" % (rc, text)


def sum_threads(st, name, n):
    return sum(st["thread%d.%s" % (i, name)] for i in range(n))


# ---------------------------------------------------------------- tests

def test_status_over_tls_and_unix(cairnd):
    for server in (None, cairnd.sock):
        out = cairnd.ok("status", server=server)
        assert re.search(r"^version: \d+\.\d+", out, re.M), out
        assert re.search(r"^threads: 2$", out, re.M), out
        assert re.search(r"^uptime: \d+ seconds$", out, re.M), out
        assert re.search(r"^cairnd \(pid %d\) is running\.\.\.$"
                         % cairnd.proc.pid, out, re.M), out
        assert out.endswith("\n")


def test_stats_noreset_exact_counts(cairnd):
    st = cairnd.stats()
    # a fresh daemon: every counter is 0 (time.* is the clock;
    # mem.cache.message is a gauge that includes the empty cache's table)
    nonzero = {k: v for k, v in st.items() if v != 0 and
               not k.startswith("time.") and k not in GAUGES_NOT_ZERO}
    assert nonzero == {}, nonzero
    assert 0 <= st["mem.cache.message"] <= 4 * 1024 * 1024

    n = 5
    for _ in range(n):
        r = query(cairnd.port)
        assert r.rcode() == dns.rcode.NOERROR
        assert r.answer and r.answer[0][0].address == ADDR
    st = cairnd.stats()
    expected = {
        "total.num.queries": n,
        "total.num.cachehits": n,	# local data counts as a hit
        "num.query.udp": n,
        "num.query.type.A": n,
        "num.query.class.IN": n,
        "num.query.opcode.QUERY": n,
        "num.query.flags.RD": n,
        "num.answer.rcode.NOERROR": n,
    }
    for k, v in expected.items():
        assert st.get(k) == v, "%s=%s, expected %s" % (k, st.get(k), v)
    assert sum_threads(st, "num.queries", 2) == n
    assert sum_threads(st, "num.cachehits", 2) == n
    # every other counter is 0 (per-thread lines are covered by total.)
    for k, v in st.items():
        if k.startswith("time.") or k in expected or k in GAUGES_NOT_ZERO:
            continue
        if k.startswith("thread"):
            continue
        assert v == 0, "%s=%s, expected 0" % (k, v)


def test_stats_resets(cairnd):
    for _ in range(3):
        query(cairnd.port)
    st = cairnd.stats(reset=True)
    assert st["total.num.queries"] == 3
    st = cairnd.stats(reset=True)
    assert st["total.num.queries"] == 0
    assert st["num.query.udp"] == 0
    assert st["time.elapsed"] < 10 * SLOW
    query(cairnd.port)
    assert cairnd.stats()["total.num.queries"] == 1


def test_flush_stats(cairnd):
    for _ in range(2):
        query(cairnd.port)
    assert cairnd.stats()["total.num.queries"] == 2
    assert cairnd.ok("flush_stats") == "ok\n"
    st = cairnd.stats()
    assert st["total.num.queries"] == 0
    assert sum_threads(st, "num.queries", 2) == 0


def test_verbosity(cairnd):
    assert cairnd.ok("verbosity", "3") == "ok\n"
    assert re.search(r"^verbosity: 3$", cairnd.ok("status"), re.M)
    for bad in ("x", "9", "-1"):
        r = cairnd.ctl("verbosity", bad)
        assert r.returncode == 1
        assert r.stderr.startswith("error"), r.stderr
        assert r.stdout == ""
    r = cairnd.ctl("verbosity")
    assert r.returncode == 1 and r.stderr.startswith("error")
    assert re.search(r"^verbosity: 3$", cairnd.ok("status"), re.M)


def test_flush_commands(cairnd):
    query(cairnd.port)
    assert cairnd.ok("flush", NAME) == "ok\n"
    assert cairnd.ok("flush_type", NAME, "A") == "ok\n"
    assert cairnd.ok("flush_zone", "test.").startswith("ok removed ")
    r = cairnd.ctl("flush_type", NAME, "NOSUCHTYPE")
    assert r.returncode == 1 and r.stderr.startswith("error")
    r = cairnd.ctl("flush", "a..b")
    assert r.returncode == 1 and r.stderr.startswith("error")
    # local data is not cache: still answered
    assert query(cairnd.port).answer[0][0].address == ADDR


def test_reload_keeps_serving(cairnd):
    errors = []
    answered = [0]
    stop = threading.Event()

    def loop():
        end = time.monotonic() + 30 * SLOW
        for _ in range(20000):
            if stop.is_set() or time.monotonic() > end:
                return
            try:
                r = query(cairnd.port, timeout=2.0 * SLOW)
                if r.rcode() != dns.rcode.NOERROR or not r.answer:
                    errors.append("rcode %s" % dns.rcode.to_text(r.rcode()))
                else:
                    answered[0] += 1
            except Exception as e:  # noqa: B902 - any failure counts
                errors.append(repr(e))
            time.sleep(0.005)

    t = threading.Thread(target=loop)
    t.start()
    try:
        time.sleep(0.2)
        for cmd in ("reload", "reload_keep_cache", "reload"):
            assert cairnd.ok(cmd) == "ok\n"
            time.sleep(0.3)
    finally:
        stop.set()
        t.join(40 * SLOW)
    assert not t.is_alive()
    assert errors == [], errors[:5]
    assert answered[0] > 10
    assert cairnd.proc.poll() is None
    assert "is running" in cairnd.ok("status")


def test_reload_with_a_broken_config_keeps_the_old(cairnd):
    with open(cairnd.conf) as f:
        good = f.read()
    # cairn-control reads its own copy: the broken file is cairnd's
    client_conf = os.path.join(cairnd.dir, "client.conf")
    with open(client_conf, "w") as f:
        f.write(good)
    with open(cairnd.conf, "a") as f:
        f.write("server:\n    no-such-option: 1\n")
    r = subprocess.run([program("cairn-control"), "-c", client_conf,
                        "reload"], capture_output=True, text=True,
                       timeout=30 * SLOW)
    assert r.returncode == 1
    assert r.stderr.startswith("error"), r.stderr
    assert "no-such-option" in r.stderr
    with open(cairnd.conf, "w") as f:
        f.write(good)
    assert query(cairnd.port).rcode() == dns.rcode.NOERROR
    assert cairnd.ok("status")


def test_unix_socket_mode(cairnd):
    st = os.lstat(cairnd.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660


def _tls_try(port, cert=None, key=None, timeout=5.0):
    """Connect with TLS (maybe without a client certificate), send a
    status request and return the bytes received (b"" when refused)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout)
    got = b""
    try:
        s = ctx.wrap_socket(raw)
        s.sendall(b"CAIRNCTL1 status\n")
        for _ in range(100):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ssl.SSLError, OSError):
        pass
    finally:
        raw.close()
    return got


def test_tls_client_without_the_right_certificate_gets_nothing(cairnd):
    # sanity: with the right certificate the same code gets a reply
    right = _tls_try(cairnd.cport, cairnd.keys["control.pem"],
                     cairnd.keys["control.key"])
    assert b"is running" in right
    assert _tls_try(cairnd.cport) == b""
    other = tempfile.mkdtemp(prefix="cairn-other-")
    try:
        ok = make_keys(other)
        assert _tls_try(cairnd.cport, ok["control.pem"],
                        ok["control.key"]) == b""
        # the server's own key pair is not a client certificate either
        # of another CA: a self-signed cert of another setup
        assert _tls_try(cairnd.cport, ok["server.pem"],
                        ok["server.key"]) == b""
    finally:
        shutil.rmtree(other, ignore_errors=True)
    # plain text on the TLS port gets no reply text
    s = socket.create_connection(("127.0.0.1", cairnd.cport), 5)
    try:
        s.sendall(b"CAIRNCTL1 status\n")
        s.settimeout(5)
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        assert b"running" not in data
    finally:
        s.close()
    # cairn-control with the wrong client key: exit 1, OpenSSL's reason
    conf2 = os.path.join(cairnd.dir, "wrong.conf")
    with open(cairnd.conf) as f:
        text = f.read()
    text = text.replace(cairnd.keys["control.key"], "/nonexistent.key")
    with open(conf2, "w") as f:
        f.write(text)
    r = subprocess.run([program("cairn-control"), "-c", conf2, "status"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "/nonexistent.key" in r.stderr
    assert r.stdout == ""


def test_unknown_command(cairnd):
    r = cairnd.ctl("bogus")
    assert r.returncode == 1
    assert r.stderr.strip() == "error unknown command 'bogus'"
    assert r.stdout == ""
    r = cairnd.ctl("status", "extra")
    assert r.returncode == 1 and r.stderr.startswith("error")


def _raw_unix(path, data, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    got = b""
    try:
        s.sendall(data)
        for _ in range(100):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


def test_bad_requests(cairnd):
    assert _raw_unix(cairnd.sock, b"UBCT1 status\n").startswith(b"error")
    assert _raw_unix(cairnd.sock, b"CAIRNCTL1\n").startswith(b"error")
    assert _raw_unix(cairnd.sock, b"CAIRNCTL1 st\x01atus\n") \
        .startswith(b"error")
    assert _raw_unix(cairnd.sock, b"CAIRNCTL1 status\0stop\n") == \
        b"error control characters are not allowed in a request\n"
    assert _raw_unix(cairnd.sock, b"x" * 5000) == \
        b"error request longer than 4096 bytes\n"
    assert b"is running" in _raw_unix(cairnd.sock, b"CAIRNCTL1 status\n")


def test_connection_limit_and_timeout(cairnd):
    """16 idle connections: the 17th waits, is served when one closes;
    an idle connection is closed after 10 seconds."""
    idle = []
    try:
        for _ in range(16):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(cairnd.sock)
            idle.append(s)
        time.sleep(0.3)
        t0 = time.monotonic()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(15 * SLOW)
        s.connect(cairnd.sock)
        s.sendall(b"CAIRNCTL1 status\n")
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(100)
        idle.pop(0).close()
        s.settimeout(5 * SLOW)
        assert b"version" in s.recv(4096)
        s.close()
        idle[0].settimeout(15 * SLOW)
        assert idle[0].recv(10) == b""
        waited = time.monotonic() - t0
        assert 8 <= waited <= 12 * SLOW, waited
    finally:
        for s in idle:
            s.close()


def test_not_connected_message():
    port = free_port()
    d = tempfile.mkdtemp(prefix="cairn-ctl-")
    try:
        conf = os.path.join(d, "cairn.conf")
        with open(conf, "w") as f:
            f.write("remote-control:\n    control-enable: yes\n"
                    "    control-use-cert: no\n"
                    "    control-port: %d\n" % port)
        r = subprocess.run([program("cairn-control"), "-c", conf, "status"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1
        assert r.stderr.strip() == ("could not connect to 127.0.0.1 port "
                                    "%d: Connection refused" % port)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_plain_tcp_without_certificates():
    d = ControlDaemon(threads=1, use_cert=False)
    try:
        out = d.ok("status")
        assert "control(plain)" in out
        assert d.ok("stop") == "ok\n"
        assert d.wait_exit() == 0
    finally:
        d.close()


def test_stop_exits_cleanly():
    d = ControlDaemon(threads=2)
    try:
        assert d.ok("stop") == "ok\n"
        rc = d.wait_exit()
        assert rc == 0, "cairnd exit %s:\n%s" % (rc, d.stderr())
        assert not os.path.exists(d.sock), "stale control socket left"
        text = d.stderr()
        assert "Sanitizer" not in text and "runtime error" not in text
    finally:
        d.close()


# ------------------------------------------------- local zones and data

def test_list_local_zones_has_the_configured_and_default_zones(cairnd):
    out = cairnd.ok("list_local_zones")
    lines = out.splitlines()
    assert "test. static" in lines, out
    # Unbound's default zones are listed too
    for z in ("localhost. redirect", "127.in-addr.arpa. static",
              "onion. static", "10.in-addr.arpa. static"):
        assert z in lines, z
    for line in lines:
        assert re.match(r"^\S+\. [a-z_]+$", line), line


def test_list_local_data(cairnd):
    lines = cairnd.ok("list_local_data").splitlines()
    assert "a.test. 3600 IN A 192.0.2.1" in lines, lines
    assert "localhost. 10800 IN A 127.0.0.1" in lines
    assert any(x.startswith("localhost. 10800 IN SOA localhost. "
                            "nobody.invalid. 1 3600 1200 604800 10800")
               for x in lines), lines


def test_local_data_add_and_remove_are_seen_at_once(cairnd):
    r = query(cairnd.port, "new.test.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert cairnd.ok("local_data", "new.test.", "60", "IN", "A",
                     "192.0.2.7") == "ok\n"
    # the RR may also come as one argument, as unbound-control takes it
    assert cairnd.ok("local_data", 'new.test. 60 TXT "two words"') == "ok\n"
    r = query(cairnd.port, "new.test.")
    assert r.rcode() == dns.rcode.NOERROR
    assert [x.address for x in r.answer[0]] == ["192.0.2.7"]
    assert r.answer[0].ttl == 60
    r = query(cairnd.port, "new.test.", "TXT")
    assert r.answer[0][0].strings == (b"two words",)
    lines = cairnd.ok("list_local_data").splitlines()
    assert "new.test. 60 IN A 192.0.2.7" in lines
    assert 'new.test. 60 IN TXT "two words"' in lines
    # a name between the data and the zone apex is an empty non-terminal
    cairnd.ok("local_data", "x.y.deep.test. A 192.0.2.8")
    assert query(cairnd.port, "y.deep.test.").rcode() == dns.rcode.NOERROR

    assert cairnd.ok("local_data_remove", "new.test.") == "ok\n"
    r = query(cairnd.port, "new.test.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert "new.test." not in cairnd.ok("list_local_data")
    # the zone stays: other data is untouched
    assert query(cairnd.port).answer[0][0].address == ADDR
    cairnd.ok("local_data_remove", "x.y.deep.test.")
    assert query(cairnd.port, "y.deep.test.").rcode() == dns.rcode.NXDOMAIN


def test_local_data_errors(cairnd):
    r = cairnd.ctl("local_data", "bad..name", "A", "192.0.2.1")
    assert r.returncode == 1 and r.stderr.startswith("error"), r.stderr
    r = cairnd.ctl("local_data", "x.test.", "A", "not-an-address")
    assert r.returncode == 1 and r.stderr.startswith("error"), r.stderr
    r = cairnd.ctl("local_data", "a.test.", "CNAME", "b.test.")
    assert r.returncode == 1 and "CNAME" in r.stderr, r.stderr
    r = cairnd.ctl("local_zone", "x.", "nonsense")
    assert r.returncode == 1 and "nonsense" in r.stderr, r.stderr
    r = cairnd.ctl("local_data_remove", "bad..name")
    assert r.returncode == 1
    # nothing changed
    assert query(cairnd.port).answer[0][0].address == ADDR


def test_local_zone_add_and_remove(cairnd):
    # no zone: local data without one gets a transparent zone (Unbound)
    assert cairnd.ok("local_data", "host.lan. A 192.0.2.9") == "ok\n"
    assert "lan. transparent" not in \
        cairnd.ok("list_local_zones").splitlines()
    assert "host.lan. transparent" in \
        cairnd.ok("list_local_zones").splitlines()
    assert cairnd.ok("local_zone", "blocked.example.", "always_nxdomain") \
        == "ok\n"
    assert "blocked.example. always_nxdomain" in \
        cairnd.ok("list_local_zones").splitlines()
    r = query(cairnd.port, "www.blocked.example.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert cairnd.ok("local_zone", "ref.example.", "always_refuse") == "ok\n"
    assert query(cairnd.port, "ref.example.").rcode() == dns.rcode.REFUSED
    # the type of an existing zone changes
    assert cairnd.ok("local_zone", "ref.example.", "always_nxdomain") == \
        "ok\n"
    assert query(cairnd.port, "ref.example.").rcode() == dns.rcode.NXDOMAIN
    # a new zone below takes the data at and below its name
    assert cairnd.ok("local_zone", "a.test.", "static") == "ok\n"
    r = query(cairnd.port)
    assert r.answer[0][0].address == ADDR
    assert query(cairnd.port, "b.a.test.").rcode() == dns.rcode.NXDOMAIN

    # without an upstream a name outside the local zones gets this
    base = query(cairnd.port, "www.unrelated.example.").rcode()
    assert base != dns.rcode.REFUSED
    assert cairnd.ok("local_zone", "blocked.example.", "always_refuse") \
        == "ok\n"
    assert query(cairnd.port, "www.blocked.example.").rcode() == \
        dns.rcode.REFUSED
    assert cairnd.ok("local_zone_remove", "blocked.example.") == "ok\n"
    assert "blocked.example." not in cairnd.ok("list_local_zones")
    assert query(cairnd.port, "www.blocked.example.").rcode() == base
    # removing a zone removes its data
    assert cairnd.ok("local_zone_remove", "a.test.") == "ok\n"
    assert cairnd.ok("local_zone_remove", "test.") == "ok\n"
    assert "a.test." not in cairnd.ok("list_local_data")
    assert "test. static" not in cairnd.ok("list_local_zones").splitlines()
    r = query(cairnd.port)
    assert not r.answer and r.rcode() == base
    # a zone that is not there: ok, as unbound-control
    assert cairnd.ok("local_zone_remove", "nothere.example.") == "ok\n"


def test_local_data_changes_while_queries_run(cairnd):
    """Edits under load: every answer is complete, cairnd survives."""
    stop = threading.Event()
    errors = []

    def loop():
        for _ in range(2000):
            if stop.is_set():
                return
            try:
                r = query(cairnd.port, timeout=2.0 * SLOW)
                if r.rcode() != dns.rcode.NOERROR or \
                        r.answer[0][0].address != ADDR:
                    errors.append(r.to_text())
            except Exception as e:	# noqa: BLE001 - reported below
                errors.append(repr(e))
    threads = [threading.Thread(target=loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            cairnd.ok("local_data", "n%d.test. A 192.0.2.%d" % (i, i + 1))
            cairnd.ok("local_zone", "z%d.example." % i, "static")
            cairnd.ok("local_data_remove", "n%d.test." % i)
            cairnd.ok("local_zone_remove", "z%d.example." % i)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == [], errors[:3]
    assert cairnd.proc.poll() is None


@pytest.mark.parametrize("cmd", ["reload", "reload_keep_cache"])
def test_reload_unchanged_drops_edits_keeps_connections(make_cairnd, nsd,
                                                        cmd):
    """A reload with an unchanged config drops the run-time local zones,
    local data and forward zones (as Unbound's does), without a full
    reload: a client's TCP connection opened before it goes on, and
    reload_keep_cache keeps the cache (reload empties it)."""
    import harness
    d = make_cairnd(upstream=nsd.port)
    assert d.udp("www.example.lab.").rcode() == dns.rcode.NOERROR
    assert _ctl(d.conf, "local_data", "gone.test. A 192.0.2.10") == "ok\n"
    assert _ctl(d.conf, "local_zone", "edit.example.lab.", "refuse") == "ok\n"
    assert _ctl(d.conf, "forward_add", "fwd.example.", "127.0.0.1@9") == \
        "ok\n"
    assert "gone.test." in _ctl(d.conf, "list_local_data")
    assert "edit.example.lab. refuse" in _ctl(d.conf, "list_local_zones")
    assert "fwd.example." in _ctl(d.conf, "list_forwards")
    c = harness.TcpConn(d.port, timeout=3.0 * SLOW)
    try:
        r = c.query(harness.make_query("gone.test."))
        assert r.answer[0][0].address == "192.0.2.10"
        r = c.query(harness.make_query("x.edit.example.lab."))
        assert r.rcode() == dns.rcode.REFUSED
        done = d.stderr().count("reload done")
        assert _ctl(d.conf, cmd) == "ok\n"
        harness.wait_until(lambda: d.stderr().count("reload done") > done,
                           10 * SLOW, what="reload done")
        assert "configuration unchanged, connections kept" in d.stderr()
        # the same connection, now without the run-time data
        r = c.query(harness.make_query("gone.test."))
        assert r is not None, "connection closed by the reload"
        assert r.rcode() == dns.rcode.NXDOMAIN
        r = c.query(harness.make_query("x.edit.example.lab."))
        assert r.rcode() == dns.rcode.NXDOMAIN	# from the upstream
    finally:
        c.close()
    assert "gone.test." not in _ctl(d.conf, "list_local_data")
    assert "edit.example.lab." not in _ctl(d.conf, "list_local_zones")
    assert "fwd.example." not in _ctl(d.conf, "list_forwards")
    # the built-in zones are there again
    assert "localhost. " in _ctl(d.conf, "list_local_zones")
    before = harness.control_stats(d.conf)
    assert d.udp("www.example.lab.").rcode() == dns.rcode.NOERROR
    after = harness.control_stats(d.conf)
    hits = after["total.num.cachehits"] - before["total.num.cachehits"]
    miss = after["total.num.cachemiss"] - before["total.num.cachemiss"]
    assert (hits, miss) == ((1, 0) if cmd == "reload_keep_cache" else (0, 1))


def test_reload_keep_cache_that_fails_keeps_the_edits(make_cairnd, nsd):
    """reload_keep_cache with a config whose resolver options are the same
    (the cache is kept) but with an interface on a port another socket
    holds: the reload fails once the workers are stopped, so the old
    configuration stays, and with it the run-time edits (they used to
    be dropped before the ports were tried)."""
    import harness
    held_u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held_t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        held_u.bind(("127.0.0.1", 0))
        busy = held_u.getsockname()[1]
        held_t.bind(("127.0.0.1", busy))
        held_t.listen(1)
        d = make_cairnd(upstream=nsd.port, server_lines=(
            'local-data: "old.test. A 192.0.2.1"\n'))
        assert d.udp("www.example.lab.").rcode() == dns.rcode.NOERROR
        assert _ctl(d.conf, "local_data", "edit.test. A 192.0.2.10") == \
            "ok\n"
        d.write_config(d.config_text(
            'local-data: "old.test. A 192.0.2.1"\n'
            "    interface: 127.0.0.1@%d\n" % busy))
        failed = d.stderr().count("reload failed")
        assert _ctl(d.conf, "reload_keep_cache") == "ok\n"
        harness.wait_until(
            lambda: d.stderr().count("reload failed") > failed,
            10 * SLOW, what="the reload to fail")
        harness.wait_until(lambda: d.udp("old.test.", timeout=0.5)
                           is not None, 10 * SLOW, what="workers back")
        r = d.udp("edit.test.")
        assert r.rcode() == dns.rcode.NOERROR
        assert r.answer[0][0].address == "192.0.2.10"
        assert "edit.test." in _ctl(d.conf, "list_local_data")
        # the cache was kept too
        before = harness.control_stats(d.conf)
        assert d.udp("www.example.lab.").rcode() == dns.rcode.NOERROR
        after = harness.control_stats(d.conf)
        assert after["total.num.cachehits"] - \
            before["total.num.cachehits"] == 1
    finally:
        held_u.close()
        held_t.close()


# ----------------------------------------------------- dump and load

def _ctl_input(conf, args, data, server=None):
    cmd = [program("cairn-control"), "-c", conf]
    if server:
        cmd += ["-s", server]
    return subprocess.run(cmd + list(args), input=data, capture_output=True,
                          text=True, timeout=30 * SLOW)


def _ctl(conf, *args):
    r = _ctl_input(conf, args, "")
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def test_dump_flush_load_is_a_cache_hit(make_cairnd, nsd):
    import harness
    d = make_cairnd(upstream=nsd.port)
    for name, t in (("www.example.lab.", "A"), ("www.example.lab.", "AAAA"),
                    ("txt.example.lab.", "TXT"),
                    ("nope.example.lab.", "A")):
        d.udp(name, t)
    st = harness.control_stats(d.conf)
    assert st["total.num.cachemiss"] == 4
    dump = _ctl(d.conf, "dump_cache")
    lines = dump.splitlines()
    assert lines[-1] == "EOF"
    keys = [x for x in lines if x.startswith("msg ")]
    assert len(keys) == 4, dump
    assert any(re.match(r"^msg www\.example\.lab\. AAAA IN - \d+$", k)
               for k in keys), keys
    assert any(k.startswith("msg nope.example.lab. A IN - ") for k in keys)
    for i, x in enumerate(lines[:-1]):
        if i % 2 == 1:
            assert re.match(r"^[0-9a-f]+$", x), x

    assert _ctl(d.conf, "flush_zone", "example.lab.") == \
        "ok removed 4 messages\n"
    assert _ctl(d.conf, "dump_cache") == "EOF\n"
    for server in (None, d.control_sock):
        r = _ctl_input(d.conf, ["load_cache"], dump, server=server)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "ok loaded 4 messages\n"
    harness.control_stats(d.conf, reset=True)
    nsd.stop()	# anything not from the cache would fail now
    r = d.udp("www.example.lab.", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer[0][0].address == "2001:db8::1"
    assert 0 < r.answer[0].ttl <= 300
    r = d.udp("nope.example.lab.", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    r = d.udp("txt.example.lab.", "TXT")
    assert r.answer[0][0].strings == (b"hello world", b"second string")
    st = harness.control_stats(d.conf)
    assert st["total.num.cachehits"] == 3
    assert st["total.num.cachemiss"] == 0
    assert st["num.query.udpout"] == 0 if "num.query.udpout" in st else True
    # the dump after the load is the same set of keys
    keys2 = [x for x in _ctl(d.conf, "dump_cache").splitlines()
             if x.startswith("msg ")]
    assert sorted(k.rsplit(" ", 1)[0] for k in keys2) == \
        sorted(k.rsplit(" ", 1)[0] for k in keys)


def test_load_cache_over_tls_and_errors(cairnd):
    good = ("msg x.example. A IN - 100\n"
            # id 0, QR RD RA, 1 question, 1 answer: x.example. A 192.0.2.44
            "000081800001000100000000"
            "0178076578616d706c650000010001"
            "c00c000100010000012c0004c000022c\n"
            "EOF\n")
    r = _ctl_input(cairnd.conf, ["load_cache"], good)
    assert r.returncode == 0 and r.stdout == "ok loaded 1 messages\n", \
        r.stderr
    dump = cairnd.ok("dump_cache")
    assert re.search(r"^msg x\.example\. A IN - (\d+)$", dump, re.M), dump
    ttl = int(re.search(r"^msg x\.example\. A IN - (\d+)$", dump,
                        re.M).group(1))
    assert 98 <= ttl <= 100
    # served from the cache with the TTL it had left (no upstream here)
    r = query(cairnd.port, "x.example.")
    assert r.answer[0][0].address == "192.0.2.44"
    assert 98 <= r.answer[0].ttl <= 100

    bad = {
        "msg x.example. A IN - 100\nzz\nEOF\n": "line 2",
        "msg x.example. A\n": "line 1",
        "msg y.example. A IN - 100\n" + good.splitlines()[1] + "\nEOF\n":
            "question differs",
        "msg x.example. A IN xx 100\n": "flags",
    }
    for text, why in bad.items():
        r = _ctl_input(cairnd.conf, ["load_cache"], text + (
            "" if text.endswith("EOF\n") else "EOF\n"))
        assert r.returncode == 1 and why in r.stderr, (text, r.stderr)
    # the client wants the final EOF line, as dump_cache writes it
    r = _ctl_input(cairnd.conf, ["load_cache"], "msg x. A IN - 1\n")
    assert r.returncode == 1 and "EOF" in r.stderr
    # a raw client that shuts down its write side without "EOF"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5 * SLOW)
    s.connect(cairnd.sock)
    s.sendall(b"CAIRNCTL1 load_cache\n" + good.replace("EOF\n", "")
              .encode())
    s.shutdown(socket.SHUT_WR)
    got = s.recv(4096)
    s.close()
    assert got.startswith(b"error load_cache line 3: input ends"), got


def test_forward_add_list_remove(make_cairnd, nsd, fake):
    import harness
    d = make_cairnd(upstream=fake.port)
    lines = _ctl(d.conf, "list_forwards").splitlines()
    assert lines == [". IN forward 127.0.0.1@%d" % fake.port], lines

    assert _ctl(d.conf, "forward_add", "example.lab.",
                "127.0.0.1@%d" % nsd.port) == "ok\n"
    lines = _ctl(d.conf, "list_forwards").splitlines()
    assert "example.lab. IN forward 127.0.0.1@%d" % nsd.port in lines, lines
    assert ". IN forward 127.0.0.1@%d" % fake.port in lines, lines
    r = d.udp("www.example.lab.")
    assert harness.a_addrs(r) == {"192.0.2.1"}, r
    assert fake.count("www.example.lab.") == 0

    # DoT flag as unbound-control writes it
    assert _ctl(d.conf, "forward_add", "+t", "dot.lab.",
                "127.0.0.1@8853#dns.example") == "ok\n"
    assert any(x.startswith("dot.lab. IN forward +t 127.0.0.1@8853")
               for x in _ctl(d.conf, "list_forwards").splitlines())

    assert _ctl(d.conf, "forward_remove", "example.lab.") == "ok\n"
    assert _ctl(d.conf, "forward_remove", "dot.lab.") == "ok\n"
    lines = _ctl(d.conf, "list_forwards").splitlines()
    assert lines == [". IN forward 127.0.0.1@%d" % fake.port], lines
    _ctl(d.conf, "flush_zone", "example.lab.")
    d.udp("www.example.lab.")
    assert fake.count("www.example.lab.") == 1

    for args in (["forward_add", "bad..zone.", "127.0.0.1"],
                 ["forward_add", "x.lab.", "not-an-ip"],
                 ["forward_add", "+t", "x.lab."],
                 ["forward_remove", "bad..zone."]):
        r = _ctl_input(d.conf, args, "")
        assert r.returncode == 1 and r.stderr.startswith("error"), \
            (args, r.stderr)
