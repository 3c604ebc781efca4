"""
testdata/bb/harness.py - the black-box harness for cairnd.

What it does: finds the built programs (CAIRN_BUILDDIR, default the
repository root), allocates free ports on 127.0.0.1, writes configs and
runs cairnd in the foreground with its stderr in a file, runs a real
upstream (NSD) and a scriptable fake upstream, makes test certificates,
speaks HTTP/2 frame by frame for DoH, and reads counters through
cairn-control.  What it does not do: decide what is right; the test_*.py
files assert behaviour.

Every wait here is bounded in time and every loop in count.
"""

import re
import base64
import os
import random
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

import hpack
from hyperframe import frame as hf

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.path.abspath(os.environ.get("CAIRN_BUILDDIR", REPO))
ASAN = os.environ.get("CAIRN_ASAN", "") not in ("", "0", "no")
# sanitizer builds are slower: scale the waits, not the assertions on order
SLOW = 3.0 if ASAN else 1.0

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "LeakSanitizer", "ERROR: UndefinedBehaviorSanitizer",
                   "AddressSanitizer:DEADLYSIGNAL")


class HarnessError(AssertionError):
    pass


# ------------------------------------------------------------ programs

def program(name):
    """Path of a built program; fails (never skips) when it is missing."""
    for d in (BUILDDIR, os.path.join(BUILDDIR, "tools"),
              os.path.join(BUILDDIR, "daemon")):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise HarnessError("program %s not built in %s (set CAIRN_BUILDDIR)"
                       % (name, BUILDDIR))


def have_tool(name):
    return shutil.which(name) is not None


# ------------------------------------------------------------ ports

_used_ports = set()
_port_lock = threading.Lock()


def _port_range():
    """The ports free_port() draws from: outside the kernel's ephemeral
    range (ip_local_port_range), which every connect() and every socket
    that sends without bind() takes its port from (cairnd's random
    upstream ports among them), so that no socket of the run can take a
    port between free_port() and the bind() of the daemon it was meant
    for.  The larger side of the range: 10000 up to it here (32768)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    below = (min(10000, max(lo - 1000, 1024)), lo)
    above = (hi + 1, 65536)
    return max(below, above, key=lambda r: r[1] - r[0])


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1, outside the
    ephemeral range and not handed out before in this run."""
    lo, hi = _port_range()
    with _port_lock:
        for _ in range(200):
            port = random.randrange(lo, hi)
            if port in _used_ports:
                continue
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                t.bind(("127.0.0.1", port))
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                t.close()
                u.close()
            _used_ports.add(port)
            return port
    raise HarnessError("no free port after 200 tries")


# ------------------------------------------------------------ DNS helpers

def make_query(name, rdtype="A", rd=True, edns=True, payload=1232,
               options=None, qid=None):
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False,
                               payload=payload, options=options or [])
    if not rd:
        q.flags &= ~dns.flags.RD
    if qid is not None:
        q.id = qid
    return q


def _client_socket(kind, src, host, port):
    """A socket bound to (src, a port the kernel picks) that is not
    (host, port) itself: a client given the very port it sends to would
    talk to itself (its own query read back as the answer, a TCP
    connection to itself), and a server still starting would look
    ready."""
    for _ in range(10):
        s = socket.socket(socket.AF_INET, kind)
        s.bind((src, 0))
        if (src, s.getsockname()[1]) != (host, port):
            return s
        s.close()
    raise HarnessError("no client port other than %s:%d" % (host, port))


def udp(wire_or_msg, port, timeout=3.0, src="127.0.0.1", host="127.0.0.1"):
    """Send one UDP datagram, return the parsed answer or None on timeout.
    Answers with another ID are skipped (bounded by the timeout)."""
    wire = wire_or_msg if isinstance(wire_or_msg, bytes) else \
        wire_or_msg.to_wire()
    qid = struct.unpack("!H", wire[:2])[0] if len(wire) >= 2 else None
    s = _client_socket(socket.SOCK_DGRAM, src, host, port)
    try:
        s.sendto(wire, (host, port))
        end = time.monotonic() + timeout
        for _ in range(100):
            left = end - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            try:
                data, _addr = s.recvfrom(65535)
            except socket.timeout:
                return None
            if qid is not None and data[:2] != wire[:2]:
                continue
            return data
        return None
    finally:
        s.close()


def udp_msg(q, port, timeout=3.0, src="127.0.0.1"):
    data = udp(q, port, timeout=timeout, src=src)
    return None if data is None else dns.message.from_wire(data)


def recv_exact(s, n, timeout):
    """Read exactly n bytes; returns fewer only if the peer closed."""
    buf = b""
    end = time.monotonic() + timeout
    while len(buf) < n:
        left = end - time.monotonic()
        if left <= 0:
            raise socket.timeout("recv_exact timed out")
        s.settimeout(left)
        chunk = s.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


class TcpConn:
    """One TCP (or TLS) connection speaking 2-byte framed DNS."""

    def __init__(self, port, src="127.0.0.1", timeout=3.0, tls=None,
                 alpn=None, host="127.0.0.1", pre=b""):
        raw = _client_socket(socket.SOCK_STREAM, src, host, port)
        raw.settimeout(timeout)
        raw.connect((host, port))
        if pre:     # bytes before TLS/DNS (a PROXY protocol header)
            raw.sendall(pre)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(tls)
            if alpn:
                ctx.set_alpn_protocols(alpn)
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
        self.s = raw
        self.timeout = timeout

    def send(self, q):
        wire = q if isinstance(q, bytes) else q.to_wire()
        self.s.sendall(struct.pack("!H", len(wire)) + wire)

    def recv(self, timeout=None):
        """One framed message, or None if the peer closed."""
        timeout = self.timeout if timeout is None else timeout
        hdr = recv_exact(self.s, 2, timeout)
        if len(hdr) < 2:
            return None
        n = struct.unpack("!H", hdr)[0]
        body = recv_exact(self.s, n, timeout)
        if len(body) < n:
            return None
        return body

    def recv_msg(self, timeout=None):
        data = self.recv(timeout)
        return None if data is None else dns.message.from_wire(data)

    def query(self, q, timeout=None):
        self.send(q)
        return self.recv_msg(timeout)

    def closed_by_peer(self, timeout):
        """True if the peer closes (EOF or reset) within timeout seconds
        without sending anything; False if still open at the end."""
        end = time.monotonic() + timeout
        for _ in range(1000):
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                data = self.s.recv(4096)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                return True
            if not data:
                return True
            raise HarnessError("unexpected %d bytes from peer" % len(data))
        return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def tcp_msg(q, port, timeout=3.0, src="127.0.0.1"):
    c = TcpConn(port, src=src, timeout=timeout)
    try:
        return c.query(q, timeout)
    finally:
        c.close()


def a_addrs(msg, name=None):
    """Set of A/AAAA addresses in the answer section."""
    out = set()
    for rrset in msg.answer:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            if name is None or rrset.name == dns.name.from_text(name):
                out.update(r.address for r in rrset)
    return out


def min_ttl(msg):
    ttls = [rr.ttl for rr in msg.answer]
    return min(ttls) if ttls else None


def wait_until(pred, timeout, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / step) + 2):
        last = pred()
        if last:
            return last
        if time.monotonic() >= end:
            break
        time.sleep(step)
    raise HarnessError("timed out after %.1fs waiting for %s (last: %r)"
                       % (timeout, what, last))


# ------------------------------------------------------------ certificates

def make_certs(outdir):
    """Test CA and a leaf (CA:FALSE, SAN IP:127.0.0.1, DNS:localhost)
    made by testdata/certs/gen.sh.  Returns dict of paths."""
    script = os.path.join(REPO, "testdata", "certs", "gen.sh")
    os.makedirs(outdir, exist_ok=True)
    r = subprocess.run(["bash", script, outdir], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise HarnessError("gen.sh failed: %s %s" % (r.stdout, r.stderr))
    paths = {k: os.path.join(outdir, f) for k, f in (
        ("ca", "ca.pem"), ("ca_key", "ca.key"), ("cert", "server.pem"),
        ("key", "server.key"), ("other_key", "other.key"))}
    for p in paths.values():
        if not os.path.isfile(p):
            raise HarnessError("gen.sh did not make %s" % p)
    return paths


# ------------------------------------------------------------ cairnd

class Cairnd:
    """One cairnd process on a config written from the arguments.

    server_lines / extra: config text added to server: / after it.
    upstream: port of the forward target for "." (None: no forward-zone).
    doh/dot: also serve DoH / DoT on their own ports (needs certs).
    ready: 'udp' (default: a UDP query for localhost is answered),
    'tcp', 'port' (TCP connect works), or None (do not wait).
    wrap: a command cairnd runs under that execs it (the PID stays
    cairnd's), e.g. ["ip", "netns", "exec", NAME].
    """

    def __init__(self, workdir, server_lines="", extra="", upstream=None,
                 upstreams=None, doh=False, dot=False, certs=None,
                 ready="udp", control=True, raw_config=None, args=(),
                 wrap=()):
        self.dir = workdir
        self.port = free_port()
        self.https_port = free_port() if doh else None
        self.tls_port = free_port() if dot else None
        self.certs = certs
        self.conf = os.path.join(self.dir, "cairn.conf")
        self.stderr_path = os.path.join(self.dir, "cairnd.stderr")
        self.stdout_path = os.path.join(self.dir, "cairnd.stdout")
        self.control_sock = os.path.join(self.dir, "ctl.sock")
        self.proc = None
        self.expected_https = 0
        self.upstreams = list(upstreams or ([upstream] if upstream else []))
        self.control = control
        self.args = list(args)
        self.wrap = list(wrap)
        if raw_config is not None:
            text = raw_config.replace("@PORT@", str(self.port))
        else:
            text = self.config_text(server_lines, extra)
        self.write_config(text)
        self.start(ready)

    def config_text(self, server_lines="", extra=""):
        L = ["server:",
             "    interface: 127.0.0.1@%d" % self.port,
             "    port: %d" % self.port,
             "    use-syslog: no",
             '    logfile: ""',
             '    pidfile: ""',
             '    username: ""',
             '    chroot: ""',
             "    num-threads: 1",
             "    verbosity: 1",
             "    do-ip6: no"]
        if self.https_port or self.tls_port:
            L.append('    tls-service-key: "%s"' % self.certs["key"])
            L.append('    tls-service-pem: "%s"' % self.certs["cert"])
        if self.https_port:
            L.append("    interface: 127.0.0.1@%d" % self.https_port)
            L.append("    https-port: %d" % self.https_port)
        if self.tls_port:
            L.append("    interface: 127.0.0.1@%d" % self.tls_port)
            L.append("    tls-port: %d" % self.tls_port)
        for line in server_lines.strip("\n").split("\n"):
            if line.strip():
                L.append("    " + line.strip())
        if self.upstreams:
            L += ["forward-zone:", '    name: "."']
            for u in self.upstreams:
                L.append("    forward-addr: 127.0.0.1@%d" % u)
        elif not re.search(r'^\s*name:\s*["\']?\.["\']?\s*$', extra or "",
                           re.M):
            # Without a forward-zone for "." cairnd would forward to the
            # servers in /etc/resolv.conf: tests send traffic to loopback
            # only, so "." goes to a closed loopback port (fails at once).
            L += ["forward-zone:", '    name: "."',
                  "    forward-addr: 127.0.0.1@9"]
        if self.control:
            L += ["remote-control:", "    control-enable: yes",
                  '    control-interface: "%s"' % self.control_sock]
        if extra:
            L.append(extra.strip("\n"))
        return "\n".join(L) + "\n"

    def write_config(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, ready="udp"):
        cmd = self.wrap + [program("cairnd"), "-d", "-c", self.conf] + \
            self.args
        self.err_f = open(self.stderr_path, "ab")
        self.out_f = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.out_f, stderr=self.err_f,
                                     cwd=self.dir)
        if ready:
            try:
                self.wait_ready(ready)
            except BaseException:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(5)
                self.close_files()
                raise

    def wait_ready(self, how="udp", timeout=None):
        timeout = timeout or 10.0 * SLOW
        end = time.monotonic() + timeout
        q = make_query("localhost.", "A")
        for _ in range(400):
            if self.proc.poll() is not None:
                raise HarnessError("cairnd exited with %s at start-up:\n%s"
                                   % (self.proc.returncode, self.stderr()))
            try:
                if how == "udp":
                    if udp(q, self.port, timeout=0.2) is not None:
                        return
                elif how == "tcp":
                    if tcp_msg(q, self.port, timeout=0.5) is not None:
                        return
                elif how == "port":
                    p = self.https_port or self.tls_port or self.port
                    socket.create_connection(("127.0.0.1", p), 0.2).close()
                    return
                else:
                    raise HarnessError("bad ready mode %r" % how)
            except (OSError, socket.timeout):
                pass
            if time.monotonic() > end:
                break
            time.sleep(0.05)
        raise HarnessError("cairnd not ready (%s) after %.1fs:\n%s"
                           % (how, timeout, self.stderr()))

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def sanitizer_report(self):
        text = self.stderr()
        for m in SANITIZER_MARKS:
            if m in text:
                return text
        return None

    def stop(self, timeout=None):
        """SIGTERM by PID, wait bounded; returns the exit status."""
        timeout = timeout or 10.0 * SLOW
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self.close_files()
                raise HarnessError("cairnd did not exit within %.0fs of "
                                   "SIGTERM:\n%s" % (timeout, self.stderr()))
        self.close_files()
        return self.proc.returncode

    def close_files(self):
        for f in (getattr(self, "err_f", None), getattr(self, "out_f", None)):
            if f:
                f.close()

    def check_stop(self):
        """Stop and assert a clean exit (status 0, no sanitizer report)."""
        rc = self.stop()
        rep = self.sanitizer_report()
        if rep:
            raise HarnessError("sanitizer report in cairnd stderr:\n" + rep)
        if rc != 0:
            raise HarnessError("cairnd exit status %r after SIGTERM:\n%s"
                               % (rc, self.stderr()))

    # ---- queries
    def udp(self, name, rdtype="A", **kw):
        timeout = kw.pop("timeout", 3.0 * SLOW)
        src = kw.pop("src", "127.0.0.1")
        return udp_msg(make_query(name, rdtype, **kw), self.port,
                       timeout=timeout, src=src)

    def tcp(self, name, rdtype="A", **kw):
        timeout = kw.pop("timeout", 3.0 * SLOW)
        src = kw.pop("src", "127.0.0.1")
        return tcp_msg(make_query(name, rdtype, **kw), self.port,
                       timeout=timeout, src=src)

    # ---- statistics
    def stats(self):
        return control_stats(self.conf)

    def check_doh_counters(self, expected_https=None, timeout=None):
        """mem.http.* back to 0 (bounded wait: connections close
        asynchronously) and num.query.https equal to the queries sent."""
        timeout = timeout or 5.0 * SLOW
        if expected_https is None:
            expected_https = self.expected_https
        st = {}

        def zero():
            nonlocal st
            st = self.stats()
            return (st.get("mem.http.query_buffer") == 0 and
                    st.get("mem.http.response_buffer") == 0 and
                    st.get("mem.http.upstream", 0) == 0)
        try:
            wait_until(zero, timeout, step=0.2, what="mem.http.* == 0")
        except HarnessError:
            raise HarnessError("mem.http.* not 0: query_buffer=%r "
                               "response_buffer=%r" % (
                                   st.get("mem.http.query_buffer"),
                                   st.get("mem.http.response_buffer")))
        if expected_https is False:
            return st
        got = st.get("total.num.query.https", st.get("num.query.https"))
        assert got == expected_https, \
            "num.query.https=%r, expected %d" % (got, expected_https)
        return st


def control_stats(conf, reset=False, timeout=10.0):
    """cairn-control -c CONF stats_noreset, parsed to {name: number}.
    A missing binary or a failed command fails the test."""
    cmd = [program("cairn-control"), "-c", conf,
           "stats" if reset else "stats_noreset"]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout * SLOW, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise HarnessError("cairn-control failed (%d): %s %s"
                           % (r.returncode, r.stdout, r.stderr))
    out = {}
    for line in r.stdout.splitlines():
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        try:
            out[k.strip()] = int(v.strip())
        except ValueError:
            try:
                out[k.strip()] = float(v.strip())
            except ValueError:
                out[k.strip()] = v.strip()
    if not out:
        raise HarnessError("cairn-control printed no name=value: %r"
                           % r.stdout)
    return out


def stat(st, name):
    """total.NAME if present, else NAME; missing counters fail."""
    for k in ("total." + name, name):
        if k in st:
            return st[k]
    raise HarnessError("counter %s not printed by cairn-control" % name)


def run(cmd, timeout=20.0, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout * SLOW, stdin=subprocess.DEVNULL,
                          **kw)


# ------------------------------------------------------------ NSD upstream

ZONE = """$ORIGIN example.lab.
$TTL 300
@       IN SOA ns1 hostmaster 1 3600 900 604800 60
@       IN NS  ns1
ns1     IN A   127.0.0.1
www     IN A   192.0.2.1
www     IN AAAA 2001:db8::1
txt     IN TXT "hello world" "second string"
mx      IN MX  10 mail
mail    IN A   192.0.2.25
alias   IN CNAME www
ttl5    5 IN A 192.0.2.5
"""
BIG_TXT_COUNT = 20
BIG_TXT_LEN = 200


def big_txt_strings():
    return ["%02d" % i + chr(ord("a") + i % 26) * (BIG_TXT_LEN - 2)
            for i in range(BIG_TXT_COUNT)]


class Nsd:
    """NSD serving example.lab on 127.0.0.1@port, in the foreground."""

    def __init__(self, workdir):
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        zone = ZONE + "".join('big     IN TXT "%s"\n' % s
                              for s in big_txt_strings())
        with open(os.path.join(self.dir, "example.lab.zone"), "w") as f:
            f.write(zone)
        conf = os.path.join(self.dir, "nsd.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write("""server:
    ip-address: 127.0.0.1@%d
    username: ""
    chroot: ""
    zonesdir: "%s"
    pidfile: "%s/nsd.pid"
    database: ""
    xfrdfile: "%s/xfrd.state"
    xfrdir: "%s"
    zonelistfile: "%s/zone.list"
    logfile: "%s/nsd.log"
    server-count: 1
    verbosity: 1
    do-ip6: no
remote-control:
    control-enable: no
zone:
    name: "example.lab"
    zonefile: "example.lab.zone"
""" % (self.port, d, d, d, d, d, d))
        self.log = open(os.path.join(self.dir, "nsd.stderr"), "ab")
        self.proc = subprocess.Popen(["nsd", "-d", "-c", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        q = make_query("www.example.lab.", "A")
        end = time.monotonic() + 10
        for _ in range(200):
            if self.proc.poll() is not None:
                raise HarnessError("nsd exited: see %s" % self.dir)
            if udp(q, self.port, timeout=0.2) is not None:
                return
            if time.monotonic() > end:
                break
            time.sleep(0.05)
        self.stop()
        raise HarnessError("nsd did not answer within 10s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# ------------------------------------------------------------ fake upstream

class DnsServer:
    """DNS on host@port, UDP and TCP (same port), one thread each and one
    per TCP connection (2-byte framed, queries may be pipelined).  A
    subclass sets its own state, then calls DnsServer.__init__, and
    answers in _handle(data, proto, send): proto "udp" or "tcp", send(m)
    sends one message back to the sender (framed over TCP).
    later(delay, fn, *args) runs fn after delay seconds on a timer that
    close() cancels.  Every loop is bounded; close() stops them all.
    self.peers: (proto, address, port) of every datagram and connection
    received, in arrival order."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.lock = threading.Lock()
        self.peers = []
        self.stop_ev = threading.Event()
        self.timers = []
        for _ in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind((host, 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise HarnessError("DNS server on %s: no port" % host)
        self.tcp.listen(64)
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def _handle(self, data, proto, send):
        raise NotImplementedError

    def later(self, delay, fn, *args):
        t = threading.Timer(delay, fn, args)
        t.daemon = True
        self.timers.append(t)
        t.start()

    def _udp_loop(self):
        for _ in range(10**7):
            if self.stop_ev.is_set():
                return
            try:
                data, addr = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.peers.append(("udp", addr[0], addr[1]))
            self._handle(data, "udp",
                        lambda m, a=addr: self.udp.sendto(m, a))

    def _tcp_loop(self):
        for _ in range(10**7):
            if self.stop_ev.is_set():
                return
            try:
                c, addr = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.peers.append(("tcp", addr[0], addr[1]))
            threading.Thread(target=self._tcp_conn, args=(c,),
                             daemon=True).start()

    def _tcp_conn(self, c):
        lock = threading.Lock()
        c.settimeout(0.2)

        def send(m):
            with lock:
                c.sendall(struct.pack("!H", len(m)) + m)
        buf = b""
        try:
            for _ in range(10**6):
                if self.stop_ev.is_set():
                    return
                try:
                    chunk = c.recv(65535)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2:
                    n = struct.unpack("!H", buf[:2])[0]
                    if len(buf) < 2 + n:
                        break
                    msg, buf = buf[2:2 + n], buf[2 + n:]
                    self._handle(msg, "tcp", send)
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.stop_ev.set()
        for t in self.timers:
            t.cancel()
        for t in self.threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()


class FakeUpstream(DnsServer):
    """A scriptable DNS server on 127.0.0.1@port, UDP and TCP.

    Behaviour per query name (rules[name] = (mode, options)); modes:
      answer    A/AAAA/TXT records (options: ttl, addrs, txt)
      nxdomain  NXDOMAIN with SOA (soa_ttl, soa_min)
      nodata    NOERROR, no answer, SOA
      servfail  SERVFAIL
      timeout   never answer (UDP nor TCP)
      udp_timeout  no answer over UDP, answer over TCP
      truncate  TC=1 and no records over UDP, full answer over TCP
      garbage   random bytes (UDP) / a framed random message (TCP)
      wrongid   an answer with a wrong ID, then the right one
    Any mode takes delay=seconds (the answer is sent later, others go on).
    self.seen: list of (proto, qname, qtype name) in arrival order.
    """

    def __init__(self, ttl=300):
        self.ttl = ttl
        self.rules = {}
        self.seen = []
        DnsServer.__init__(self)

    def set(self, name, mode, **opts):
        name = name.lower()
        if not name.endswith("."):
            name += "."
        self.rules[name] = (mode, opts)

    def count(self, name, proto=None):
        name = name.lower()
        if not name.endswith("."):
            name += "."
        with self.lock:
            return sum(1 for p, n, _t in self.seen
                       if n == name and (proto is None or p == proto))

    def protos(self, name):
        name = name.lower().rstrip(".") + "."
        with self.lock:
            return [p for p, n, _t in self.seen if n == name]

    def _response(self, q, proto):
        """bytes to send (list, each a message) for query q over proto."""
        qname = q.question[0].name.to_text().lower()
        qtype = q.question[0].rdtype
        mode, o = self.rules.get(qname, ("answer", {}))
        if mode == "timeout":
            return []
        if mode == "udp_timeout" and proto == "udp":
            return []
        if mode == "garbage":
            return [os.urandom(random.randint(3, 40))]
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        soa_ttl = o.get("soa_ttl", 300)
        soa = dns.rrset.from_text(
            q.question[0].name.parent() if len(q.question[0].name) > 2
            else q.question[0].name, soa_ttl, "IN", "SOA",
            "ns.fake. host.fake. 1 3600 900 604800 %d" % o.get("soa_min", 60))
        if mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif mode == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(soa)
        elif mode == "nodata":
            r.authority.append(soa)
        elif mode == "truncate" and proto == "udp":
            r.flags |= dns.flags.TC
        else:
            ttl = o.get("ttl", self.ttl)
            if qtype == dns.rdatatype.A:
                addrs = o.get("addrs", ["192.0.2.1"])
                r.answer.append(dns.rrset.from_text(
                    qname, ttl, "IN", "A", *addrs))
            elif qtype == dns.rdatatype.AAAA:
                r.answer.append(dns.rrset.from_text(
                    qname, ttl, "IN", "AAAA", "2001:db8::1"))
            elif qtype == dns.rdatatype.TXT:
                txt = o.get("txt", ['"fake"'])
                r.answer.append(dns.rrset.from_text(
                    qname, ttl, "IN", "TXT", *txt))
            else:
                r.authority.append(soa)
        wire = r.to_wire(max_size=65535)
        out = []
        if mode == "wrongid":
            out.append(struct.pack("!H", (q.id + 1) & 0xFFFF) + wire[2:])
        out.append(wire)
        return out

    def _handle(self, data, proto, send):
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return
        if not q.question:
            return
        qname = q.question[0].name.to_text().lower()
        with self.lock:
            self.seen.append((proto, qname,
                              dns.rdatatype.to_text(q.question[0].rdtype)))
        msgs = self._response(q, proto)
        mode, o = self.rules.get(qname, ("answer", {}))
        delay = o.get("delay", 0)

        def go():
            for i, m in enumerate(msgs):
                if self.stop_ev.is_set():
                    return
                try:
                    send(m)
                except OSError:
                    return
                if i + 1 < len(msgs):
                    time.sleep(0.05)
        if delay:
            self.later(delay, go)
        else:
            go()


class ForegroundServer:
    """Base of a third-party server run in the foreground for a test
    (haproxy, nginx): a subclass writes its config in self.dir, then
    calls start().  Its stdout and stderr go to DIR/NAME.stderr; it is
    ready when every port in 'ports' on 127.0.0.1 accepts a TCP
    connection; log() is the end of that file and of the files named in
    'logs' (in DIR); stop() is SIGTERM by PID, then SIGKILL."""

    def __init__(self, workdir, name):
        self.dir = workdir
        self.name = name
        self.proc = None
        self.err = None
        self.ports = ()
        self.logs = (name + ".stderr",)

    def start(self, argv, ports, logs=()):
        self.ports = tuple(ports)
        self.logs = (self.name + ".stderr",) + tuple(logs)
        self.err = open(os.path.join(self.dir, self.name + ".stderr"), "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err)
        try:
            wait_until(self._listening, 10.0 * SLOW,
                       what="%s listening" % self.name)
        except BaseException:
            self.stop()
            raise

    def _listening(self):
        if self.proc.poll() is not None:
            raise HarnessError("%s exited: %s" % (self.name, self.log()))
        try:
            for p in self.ports:
                socket.create_connection(("127.0.0.1", p), 0.2).close()
            return True
        except OSError:
            return False

    def log(self):
        out = ""
        for n in self.logs:
            try:
                with open(os.path.join(self.dir, n), errors="replace") as f:
                    out += f.read()[-3000:]
            except OSError:
                pass
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.err is not None:
            self.err.close()
            self.err = None


class ServerSet:
    """The servers a fixture started (each in its own work directory
    named PREFIX...): stop_all() stops them and, unless CAIRN_KEEP is
    set, removes the directories."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.started = []

    def start(self, cls, *args, **kw):
        srv = cls(make_workdir(self.prefix), *args, **kw)
        self.started.append(srv)
        return srv

    def stop_all(self):
        for srv in self.started:
            srv.stop()
            if not os.environ.get("CAIRN_KEEP"):
                shutil.rmtree(srv.dir, ignore_errors=True)


def closed_port():
    """A port on 127.0.0.1 where nothing listens (UDP gets ICMP port
    unreachable, TCP gets RST)."""
    return free_port()


PIDFD_GETFD = 438      # syscall number, the same on x86-64 and arm64


def socket_inodes(pid):
    """The inodes (strings, as in /proc/net/*) of the sockets process pid
    holds."""
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out


def tcp_sockopt_of(pid, port, opt, level=socket.IPPROTO_TCP, remote=False):
    """getsockopt(level, opt) of each established TCP socket of process
    pid whose local port (remote=True: peer port) is 'port', read on a
    duplicate of its descriptor (pidfd_getfd: the test started the
    process, so it may).  Skips the test where pidfd_getfd is refused."""
    import ctypes
    import errno
    import pytest
    libc = ctypes.CDLL(None, use_errno=True)
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            addr = p[2] if remote else p[1]
            if int(addr.split(":")[1], 16) == port and p[3] == "01":
                inodes.add(p[9])
    pidfd = os.pidfd_open(pid)
    out = []
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if not (link.startswith("socket:[") and link[8:-1] in inodes):
                continue
            n = libc.syscall(PIDFD_GETFD, pidfd, int(fd), 0)
            if n < 0:
                e = ctypes.get_errno()
                if e in (errno.EPERM, errno.ENOSYS):
                    pytest.skip("pidfd_getfd: %s" % os.strerror(e))
                raise OSError(e, "pidfd_getfd")
            s = socket.socket(fileno=n)
            try:
                out.append(s.getsockopt(level, opt))
            finally:
                s.close()
    finally:
        os.close(pidfd)
    return out


# ------------------------------------------------------------ DoH (HTTP/2)

def b64url(wire, pad=False):
    s = base64.urlsafe_b64encode(wire).decode()
    return s if pad else s.rstrip("=")


class H2Stream:
    def __init__(self, sid):
        self.sid = sid
        self.headers = None
        self.trailers = None
        self.data = b""
        self.ended = False
        self.rst = None

    @property
    def status(self):
        if self.headers is None:
            return None
        for k, v in self.headers:
            if k == ":status":
                return int(v)
        return None

    def header(self, name):
        for k, v in self.headers or []:
            if k == name:
                return v
        return None

    @property
    def done(self):
        return self.ended or self.rst is not None

    def __repr__(self):
        return "<stream %d status=%r rst=%r ended=%r len=%d>" % (
            self.sid, self.status, self.rst, self.ended, len(self.data))


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2Client:
    """An HTTP/2 client over TLS that sends exactly the frames it is told
    (hyperframe for frames, hpack for header blocks, both of the h2
    project), answers SETTINGS and PING, opens flow-control windows as
    data arrives, and records everything the server sent."""

    def __init__(self, port, cafile, host="127.0.0.1", src="127.0.0.1",
                 timeout=5.0, alpn=("h2",), settings=None, auto_ack=True,
                 preface=True, auto_window=True, pre=b"", wrap=None):
        self.timeout = timeout * SLOW
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        raw = _client_socket(socket.SOCK_STREAM, src, host, port)
        raw.settimeout(self.timeout)
        # frames go out as written: Nagle would hold a small frame
        # behind an unacknowledged one (40 ms of delayed ACK per test)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.connect((host, port))
        if pre:     # bytes before TLS (a PROXY protocol header)
            raw.sendall(pre)
        if wrap is not None:    # a test's own TLS socket: wrap(ctx, raw)
            self.sock = wrap(ctx, raw)
        else:
            self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.alpn = self.sock.selected_alpn_protocol()
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.buf = b""
        self.streams = {}
        self.server_settings = {}
        self.settings_seen = 0
        self.settings_acked = 0
        self.goaway = None
        self.closed = False
        self.frames = []
        self.next_sid = 1
        self.auto_ack = auto_ack
        self.auto_window = auto_window
        self._hblock = None
        if preface:
            self.sock.sendall(PREFACE)
            sf = hf.SettingsFrame(0)
            for k, v in (settings or {}).items():
                sf.settings[k] = v
            self.send_frame(sf)

    # ---- sending
    def send_frame(self, f):
        self.send_raw(f.serialize())

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                socket.timeout) as e:
            self.closed = True
            raise HarnessError("send failed: %r" % e)

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        self.streams[sid] = H2Stream(sid)
        return sid

    def header_block(self, headers):
        return self.enc.encode(headers)

    def send_headers(self, headers, end_stream=True, sid=None,
                     end_headers=True):
        sid = sid or self.new_sid()
        f = hf.HeadersFrame(sid)
        f.data = self.header_block(headers)
        if end_stream:
            f.flags.add("END_STREAM")
        if end_headers:
            f.flags.add("END_HEADERS")
        self.send_frame(f)
        return sid

    def send_data(self, sid, data, end_stream=False):
        f = hf.DataFrame(sid)
        f.data = data
        if end_stream:
            f.flags.add("END_STREAM")
        self.send_frame(f)

    def send_rst(self, sid, code=8):
        self.send_frame(hf.RstStreamFrame(sid, error_code=code))

    def request(self, method="POST", path="/dns-query", body=None,
                content_type="application/dns-message", content_length=True,
                extra=(), chunks=None, end=True, authority="localhost"):
        """Send one request.  content_length: True (the body's), False
        (none) or an int to send.  chunks: split the body in DATA frames
        of these sizes.  Returns the stream id."""
        h = [(":method", method), (":scheme", "https"),
             (":authority", authority), (":path", path)]
        if content_type is not None:
            h.append(("content-type", content_type))
        if method == "GET" or content_type is not None:
            h.append(("accept", "application/dns-message"))
        if body is not None and content_length is not False:
            n = len(body) if content_length is True else content_length
            h.append(("content-length", str(n)))
        h += list(extra)
        if body is None:
            return self.send_headers(h, end_stream=end)
        sid = self.send_headers(h, end_stream=False)
        parts = []
        if chunks:
            off = 0
            for c in chunks:
                parts.append(body[off:off + c])
                off += c
            if off < len(body):
                parts.append(body[off:])
        else:
            parts = [body]
        for i, p in enumerate(parts):
            self.send_data(sid, p, end_stream=end and i == len(parts) - 1)
        return sid

    def get(self, wire, path="/dns-query", pad=False, params=None, **kw):
        q = "dns=" + b64url(wire, pad)
        if params:
            q = params.replace("{dns}", q)
        kw.setdefault("content_type", None)
        return self.request("GET", "%s?%s" % (path, q), **kw)

    def post(self, wire, **kw):
        return self.request("POST", body=wire, **kw)

    # ---- receiving
    def pump(self, timeout=0.2):
        """Read what is there (waiting at most timeout) and handle every
        complete frame.  Returns False once the connection is closed."""
        if self.closed:
            return False
        try:
            if not self.sock.pending():
                r, _, _ = select.select([self.sock], [], [], timeout)
                if not r:
                    return True
            self.sock.settimeout(timeout)
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError,
                OSError):
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        self.buf += data
        self._parse()
        return not self.closed

    def _parse(self):
        for _ in range(100000):
            if len(self.buf) < 9:
                return
            f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self._on_frame(f)

    def _stream(self, sid):
        if sid not in self.streams:
            self.streams[sid] = H2Stream(sid)
        return self.streams[sid]

    def _on_frame(self, f):
        self.frames.append(f)
        if isinstance(f, hf.SettingsFrame):
            if "ACK" in f.flags:
                self.settings_acked += 1
            else:
                self.settings_seen += 1
                self.server_settings.update(f.settings)
                if self.auto_ack:
                    self.send_frame(hf.SettingsFrame(0, flags=["ACK"]))
        elif isinstance(f, hf.PingFrame):
            if "ACK" not in f.flags and self.auto_ack:
                self.send_frame(hf.PingFrame(0, flags=["ACK"],
                                             opaque_data=f.opaque_data))
        elif isinstance(f, (hf.HeadersFrame, hf.ContinuationFrame)):
            if isinstance(f, hf.HeadersFrame):
                self._hblock = (f.stream_id, bytes(f.data),
                                "END_STREAM" in f.flags)
            elif self._hblock:
                sid, blk, es = self._hblock
                self._hblock = (sid, blk + bytes(f.data), es)
            if "END_HEADERS" in f.flags and self._hblock:
                sid, blk, es = self._hblock
                self._hblock = None
                hdrs = [(k.decode() if isinstance(k, bytes) else k,
                         v.decode() if isinstance(v, bytes) else v)
                        for k, v in self.dec.decode(blk, raw=True)]
                st = self._stream(sid)
                if st.headers is None:
                    st.headers = hdrs
                else:
                    st.trailers = hdrs
                if es:
                    st.ended = True
        elif isinstance(f, hf.DataFrame):
            st = self._stream(f.stream_id)
            st.data += bytes(f.data)
            n = f.flow_controlled_length
            if n and self.auto_window:
                self.send_frame(hf.WindowUpdateFrame(0, window_increment=n))
                if "END_STREAM" not in f.flags:
                    self.send_frame(hf.WindowUpdateFrame(
                        f.stream_id, window_increment=n))
            if "END_STREAM" in f.flags:
                st.ended = True
        elif isinstance(f, hf.RstStreamFrame):
            self._stream(f.stream_id).rst = f.error_code
        elif isinstance(f, hf.GoAwayFrame):
            self.goaway = (f.last_stream_id, f.error_code)

    def _safe_pump(self, timeout):
        try:
            return self.pump(timeout)
        except HarnessError:
            self.closed = True
            return False

    def wait(self, sid, timeout=None):
        """Until stream sid ends or is reset, or the connection closes."""
        timeout = timeout or self.timeout
        end = time.monotonic() + timeout
        st = self._stream(sid)
        for _ in range(100000):
            if st.done or self.closed:
                return st
            left = end - time.monotonic()
            if left <= 0:
                raise HarnessError("stream %d: no end within %.1fs (%r)"
                                   % (sid, timeout, st))
            if not self._safe_pump(min(left, 0.2)):
                return st
        return st

    def wait_for(self, pred, timeout=None):
        timeout = timeout or self.timeout
        end = time.monotonic() + timeout
        for _ in range(100000):
            if pred():
                return True
            if self.closed or time.monotonic() >= end:
                return pred()
            self._safe_pump(min(0.2, max(0.0, end - time.monotonic())))
        return pred()

    def wait_closed(self, timeout):
        """True when the server closed the connection within timeout."""
        return self.wait_for(lambda: self.closed, timeout)

    def handshake(self, timeout=None):
        """Wait for the server's SETTINGS."""
        if not self.wait_for(lambda: self.settings_seen > 0, timeout):
            raise HarnessError("no SETTINGS from server")

    def query(self, wire, method="POST", **kw):
        sid = self.post(wire, **kw) if method == "POST" else \
            self.get(wire, **kw)
        return self.wait(sid)

    def close(self):
        try:
            if not self.closed:
                self.send_frame(hf.GoAwayFrame(0, last_stream_id=0,
                                               error_code=0))
        except (HarnessError, OSError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def padded_query(name, total, rdtype="A", qid=0):
    """A well-formed query of exactly 'total' bytes (EDNS padding)."""
    base = make_query(name, rdtype, qid=qid).to_wire()
    pad = total - len(base) - 4
    if pad < 0:
        raise HarnessError("query for %s is longer than %d" % (name, total))
    q = make_query(name, rdtype, qid=qid,
                   options=[dns.edns.GenericOption(12, b"\x00" * pad)])
    wire = q.to_wire(max_size=65535)
    assert len(wire) == total, (len(wire), total)
    return wire


def parse_answer(st):
    assert st.status == 200, "status %r (rst %r)" % (st.status, st.rst)
    return dns.message.from_wire(st.data)


# ------------------------------------------------------------ misc

def make_workdir(prefix="cairn-bb-"):
    # short: the control socket path must fit in sun_path
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")
