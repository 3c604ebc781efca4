"""
testdata/bb/test_interface.py - listening on every address of the host:
an interface of 0.0.0.0 or :: answers each UDP query from the address the
query was sent to (IP_PKTINFO, IPV6_PKTINFO), and interface-automatic
(Unbound's option) listens on 0.0.0.0 and :: when no interface is given.

Before, a UDP socket on 0.0.0.0 answered from the address of the kernel's
route to the client: a query to 127.0.0.2 got its answer from 127.0.0.1,
which dig and dnspython drop ("reply from unexpected source"), so a host
with several addresses answered on one of them only.  The IPv6 test runs
in a network namespace it makes (two addresses on its loopback).
"""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys

import dns.message
import dns.rcode
import dns.rdatatype

import harness
from harness import SLOW

RAW = """server:
    {iface}
    port: @PORT@
    use-syslog: no
    logfile: ""
    pidfile: ""
    username: ""
    chroot: ""
    num-threads: 1
    do-ip6: {ip6}
    access-control: 127.0.0.0/8 allow
    access-control: ::1 allow
    local-data: "here.test. 300 IN A 192.0.2.7"
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{up}
"""


def ask(addr, port, name, qid, timeout=3.0 * SLOW):
    """One UDP query to addr; returns (answer message, the address it
    came from) or (None, None).  The socket is not connected, so an
    answer from any address is seen."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        q = dns.message.make_query(name, "A")
        q.id = qid
        s.sendto(q.to_wire(), (addr, port))
        s.settimeout(timeout)
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            return None, None
        return dns.message.from_wire(data), src[0]
    finally:
        s.close()


def tcp_here(addr, port):
    c = harness.TcpConn(port, host=addr, timeout=3.0 * SLOW)
    try:
        m = c.query(dns.message.make_query("here.test.", "A"))
    finally:
        c.close()
    assert m is not None, "no TCP answer from %s" % addr
    return m


def test_wildcard_udp_answers_from_the_address_asked(make_cairnd, fake):
    """interface: 0.0.0.0: a local-data answer (at once, in the read's
    batch) and a forwarded one (later, from the upstream's callback)
    leave from the address each query was sent to; TCP works there too."""
    fake.set("late.example.", "answer", delay=0.2)
    d = make_cairnd(raw_config=RAW.format(iface="interface: 0.0.0.0@@PORT@",
                                          ip6="no", up=fake.port),
                    control=False)
    for i, addr in enumerate(("127.0.0.1", "127.0.0.2", "127.0.0.53")):
        m, src = ask(addr, d.port, "here.test.", 100 + i)
        assert m is not None, "no answer from %s" % addr
        assert src == addr, (addr, src)
        assert harness.a_addrs(m) == {"192.0.2.7"}
        m, src = ask(addr, d.port, "late.example.", 200 + i)
        assert m is not None, "no forwarded answer from %s" % addr
        assert src == addr, (addr, src)
        assert m.rcode() == dns.rcode.NOERROR and harness.a_addrs(m), m
        assert harness.a_addrs(tcp_here(addr, d.port)) == {
        "192.0.2.7"}


def test_wildcard_udp_batch_answers_from_each_address(make_cairnd):
    """Queries to two addresses sent back to back, read in batches by
    one recvmmsg() and answered by one sendmmsg(): each answer leaves
    from the address its own query was sent to."""
    d = make_cairnd(raw_config=RAW.format(iface="interface: 0.0.0.0@@PORT@",
                                          ip6="no", up=9),
                    control=False)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("127.0.0.1", 0))
    sent = {}
    for i in range(200):
        addr = "127.0.0.2" if i % 2 else "127.0.0.3"
        q = dns.message.make_query("here.test.", "A")
        q.id = 1000 + i
        sent[q.id] = addr
        s.sendto(q.to_wire(), (addr, d.port))
    got = {}
    s.settimeout(3.0 * SLOW)
    try:
        while len(got) < len(sent):
            data, src = s.recvfrom(65535)
            m = dns.message.from_wire(data)
            got[m.id] = src[0]
    except socket.timeout:
        pass
    finally:
        s.close()
    assert len(got) == len(sent), "%d of %d answered" % (len(got),
                                                         len(sent))
    wrong = {k: (sent[k], v) for k, v in got.items() if v != sent[k]}
    assert not wrong, list(wrong.items())[:5]


def test_interface_automatic_listens_on_every_address(make_cairnd):
    """interface-automatic: yes with no interface line: 0.0.0.0 and ::
    at 'port', UDP and TCP; UDP answers from the address asked."""
    d = make_cairnd(raw_config=RAW.format(iface="interface-automatic: yes",
                                          ip6="yes", up=9),
                    control=False)
    for addr in ("127.0.0.1", "127.0.0.4", "::1"):
        m, src = ask(addr, d.port, "here.test.", 7)
        assert m is not None, "no answer from %s" % addr
        assert src == addr, (addr, src)
    fams = {}
    with open("/proc/%d/net/udp" % d.proc.pid) as f:
        fams["udp"] = [ln.split()[1] for ln in f.readlines()[1:]]
    with open("/proc/%d/net/udp6" % d.proc.pid) as f:
        fams["udp6"] = [ln.split()[1] for ln in f.readlines()[1:]]
    port = "%04X" % d.port
    assert "00000000:" + port in fams["udp"], fams["udp"]
    assert "0" * 32 + ":" + port in fams["udp6"], fams["udp6"]
    assert harness.a_addrs(tcp_here("127.0.0.4", d.port)) == {
        "192.0.2.7"}


def test_interface_automatic_no_keeps_the_loopback_default(make_cairnd):
    """interface-automatic: no (the default) with no interface line:
    127.0.0.1 only (do-ip6: no) -- 127.0.0.5 gets nothing."""
    d = make_cairnd(raw_config=RAW.format(iface="interface-automatic: no",
                                          ip6="no", up=9),
                    control=False)
    m, src = ask("127.0.0.1", d.port, "here.test.", 8)
    assert m is not None and src == "127.0.0.1"
    m, _ = ask("127.0.0.5", d.port, "here.test.", 9, timeout=0.5)
    assert m is None


def test_reload_turns_interface_automatic_on(make_cairnd):
    """A reload (SIGHUP) that sets interface-automatic: yes opens 0.0.0.0
    (the interfaces the config gives are the same: none)."""
    raw = RAW.format(iface="interface-automatic: no", ip6="no", up=9)
    d = make_cairnd(raw_config=raw, control=False)
    m, _ = ask("127.0.0.6", d.port, "here.test.", 10, timeout=0.5)
    assert m is None
    d.write_config(raw.replace("interface-automatic: no",
                               "interface-automatic: yes").replace(
                                   "@PORT@", str(d.port)))
    d.signal(signal.SIGHUP)
    harness.wait_until(
        lambda: ask("127.0.0.6", d.port, "here.test.", 11,
                    timeout=0.3)[1] == "127.0.0.6",
        5 * SLOW, step=0.1, what="0.0.0.0 after the reload")
    m, src = ask("127.0.0.1", d.port, "here.test.", 12)
    assert m is not None and src == "127.0.0.1"


CLIENT = r"""
import json, socket, sys, time
import dns.message
port, addrs, limit = int(sys.argv[1]), sys.argv[2:], time.monotonic() + %f
out = {}
for i, a in enumerate(addrs):
    while True:
        # from loopback: from 'a' itself, the route back would pick 'a' too
        v6 = ":" in a
        s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET,
                          socket.SOCK_DGRAM)
        s.bind(("::1" if v6 else "127.0.0.1", 0))
        s.settimeout(0.5)
        q = dns.message.make_query("here.test.", "A")
        q.id = 300 + i
        s.sendto(q.to_wire(), (a, port))
        try:
            data, src = s.recvfrom(65535)
            out[a] = [src[0], dns.message.from_wire(data).id]
            break
        except (socket.timeout, ConnectionRefusedError):
            if time.monotonic() > limit:
                out[a] = None
                break
            time.sleep(0.1)
        finally:
            s.close()
print(json.dumps(out))
""" % (10.0 * SLOW)


class Netns:
    """A network namespace for one test, its loopback up with 'addrs'
    added (lo_up=False: left down, without addresses); deleted at the
    end.  run(*cmd) runs a command in it."""

    def __init__(self, addrs=(), lo_up=True):
        self.name = "cairn-t%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            if lo_up:
                self.run("ip", "link", "set", "lo", "up")
            for a in addrs:
                self.run("ip", "addr", "add",
                         a + ("/128" if ":" in a else "/32"), "dev", "lo")
        except BaseException:
            self.close()
            raise

    def run(self, *cmd, check=True):
        return subprocess.run(["ip", "netns", "exec", self.name] +
                              list(cmd), check=check, capture_output=True,
                              text=True, timeout=60 * SLOW)

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def answers_in(ns, d, addrs):
    """Each of 'addrs' asked once (from loopback) inside 'ns': asserts
    every answer came from the address asked."""
    r = ns.run(sys.executable, "-c", CLIENT, str(d.port), *addrs,
               check=False)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    for i, a in enumerate(addrs):
        assert got[a] is not None, ("no answer from %s" % a, d.stderr())
        assert got[a] == [a, 300 + i], (a, got[a])


def test_wildcard_ipv6_answers_from_the_address_asked(make_cairnd):
    """interface: :: in a network namespace with ::1, fd00:ca1::2 and
    fd00:ca1::3 on its loopback: each answer leaves from the address
    asked."""
    with Netns(["fd00:ca1::2", "fd00:ca1::3"]) as ns:
        raw = RAW.format(iface="interface: ::@@PORT@", ip6="yes", up=9)
        raw = raw.replace("    access-control: ::1 allow\n",
                          "    access-control: ::/0 allow\n")
        d = make_cairnd(raw_config=raw, control=False, ready=None,
                        wrap=["ip", "netns", "exec", ns.name])
        answers_in(ns, d, ["::1", "fd00:ca1::2", "fd00:ca1::3"])
        d.check_stop()


def listening(pid, port):
    """The addresses (hex, as /proc/net lists them) with a UDP or TCP
    socket of 'pid' at 'port'."""
    out = set()
    for f in ("udp", "udp6", "tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, f)) as fh:
            for ln in fh.readlines()[1:]:
                local = ln.split()[1]
                if local.endswith(":%04X" % port):
                    out.add((f, local.split(":")[0]))
    return out


def test_interface_by_name(make_cairnd):
    """interface: lo@PORT: the addresses of lo, each bound by itself
    (127.0.0.1 and ::1, not 0.0.0.0), UDP and TCP."""
    d = make_cairnd(raw_config=RAW.format(iface="interface: lo@@PORT@",
                                          ip6="yes", up=9),
                    control=False)
    assert listening(d.proc.pid, d.port) == {
        ("udp", "0100007F"), ("tcp", "0100007F"),
        ("udp6", "00000000000000000000000001000000"),
        ("tcp6", "00000000000000000000000001000000")}
    for addr in ("127.0.0.1", "::1"):
        m, src = ask(addr, d.port, "here.test.", 20)
        assert m is not None and src == addr, (addr, src)
    assert harness.a_addrs(tcp_here("127.0.0.1", d.port)) == {
        "192.0.2.7"}


def test_interface_by_name_takes_every_address(make_cairnd):
    """In a network namespace whose lo has 10.9.0.1 and fd00:ca1::9 too:
    interface: lo listens on all four addresses."""
    addrs = ["127.0.0.1", "10.9.0.1", "::1", "fd00:ca1::9"]
    with Netns(["10.9.0.1", "fd00:ca1::9"]) as ns:
        raw = RAW.format(iface="interface: lo@@PORT@", ip6="yes", up=9)
        raw = raw.replace("    access-control: 127.0.0.0/8 allow\n",
                          "    access-control: 0.0.0.0/0 allow\n"
                          "    access-control: ::/0 allow\n")
        d = make_cairnd(raw_config=raw, control=False, ready=None,
                        wrap=["ip", "netns", "exec", ns.name])
        answers_in(ns, d, addrs)
        d.check_stop()


def test_interface_by_name_without_an_address(tmp_path):
    """An interface that has no address (a new namespace's lo, still
    down): cairn-checkconf and cairnd say so, with the file and line."""
    conf = tmp_path / "lo.conf"
    conf.write_text("server:\n    interface: lo@5353\n")
    want = "%s:2: interface: lo@5353: network interface lo has no IPv4 " \
        "or IPv6 address" % conf
    with Netns(lo_up=False) as ns:
        r = ns.run(harness.program("cairn-checkconf"), str(conf),
                   check=False)
        assert r.returncode == 1 and want in r.stderr, r.stderr
        r = ns.run(harness.program("cairnd"), "-d", "-c", str(conf),
                   check=False)
        assert r.returncode != 0 and want in r.stderr, r.stderr


def test_interface_automatic_is_checked(tmp_path):
    """A value that is not yes or no: cairn-checkconf names the file,
    the line and the value, and says what it must be."""
    conf = tmp_path / "bad.conf"
    conf.write_text("server:\n    interface-automatic: maybe\n")
    r = harness.run([harness.program("cairn-checkconf"), str(conf)])
    assert r.returncode != 0
    out = r.stderr + r.stdout
    assert "%s:2: interface-automatic: maybe: must be yes or no" % conf \
        in out, out


def test_ip_freebind_binds_an_address_the_host_has_not_yet(make_cairnd,
                                                           tmp_path):
    """interface: 10.9.0.7, an address the namespace does not have: an
    error at start-up (file, address, reason); with ip-freebind: yes
    cairnd starts, and answers there once the address is added."""
    with Netns() as ns:
        port = harness.free_port()
        raw = RAW.format(iface="interface: 10.9.0.7@@PORT@\n"
                         "    interface: 127.0.0.1@@PORT@", ip6="no", up=9)
        raw = raw.replace("    access-control: 127.0.0.0/8 allow\n",
                          "    access-control: 0.0.0.0/0 allow\n")
        conf = tmp_path / "nofb.conf"
        conf.write_text(raw.replace("@PORT@", str(port)))
        r = ns.run(harness.program("cairnd"), "-d", "-c", str(conf),
                   check=False)
        assert r.returncode != 0
        assert "could not bind 10.9.0.7" in r.stderr and \
            "Cannot assign requested address" in r.stderr, r.stderr
        d = make_cairnd(raw_config=raw.replace(
            "    interface: 127.0.0.1", "    ip-freebind: yes\n"
            "    interface: 127.0.0.1"), control=False, ready=None,
            wrap=["ip", "netns", "exec", ns.name])
        answers_in(ns, d, ["127.0.0.1"])
        ns.run("ip", "addr", "add", "10.9.0.7/32", "dev", "lo")
        answers_in(ns, d, ["10.9.0.7"])
        d.check_stop()


def skmem(port):
    """(rb, tb) of the UDP socket listening at 'port' (ss -m)."""
    r = subprocess.run(["ss", "-H", "-u", "-l", "-m", "-n",
                        "sport = :%d" % port], capture_output=True,
                       text=True, check=True)
    mem = r.stdout.split("skmem:(")[1].split(")")[0].split(",")
    f = {x.rstrip("0123456789"): int(x.lstrip("abcdefghijklmnopqrstuvwxyz"))
         for x in mem}
    return f["rb"], f["tb"]


def test_so_rcvbuf_and_so_sndbuf(make_cairnd):
    """so-rcvbuf: 3m, so-sndbuf: 1m on the UDP port: the kernel holds
    those (twice, as Linux counts), past net.core.rmem_max since cairnd
    runs as root here (SO_RCVBUFFORCE)."""
    d = make_cairnd(server_lines="so-rcvbuf: 3m\nso-sndbuf: 1m")
    assert skmem(d.port) == (2 * 3 * 2**20, 2 * 2**20)


def test_reload_sets_new_buffer_sizes_on_kept_sockets(make_cairnd):
    """A reload that changes so-rcvbuf keeps the UDP socket (same inode:
    taken over, not reopened) and gives it the new size."""
    d = make_cairnd(server_lines="so-rcvbuf: 1m")
    assert skmem(d.port)[0] == 2 * 2**20
    inode = listening_inode(d.proc.pid, d.port)
    d.write_config(d.config_text("so-rcvbuf: 3m"))
    d.signal(signal.SIGHUP)
    harness.wait_until(lambda: skmem(d.port)[0] == 2 * 3 * 2**20, 5 * SLOW,
                       what="the new so-rcvbuf after the reload")
    assert listening_inode(d.proc.pid, d.port) == inode


def listening_inode(pid, port):
    with open("/proc/%d/net/udp" % pid) as f:
        for ln in f.readlines()[1:]:
            p = ln.split()
            if p[1].endswith(":%04X" % port):
                return p[9]
    return None


def test_so_rcvbuf_not_granted_is_said():
    """As an unprivileged user, twice net.core.rmem_max: cairnd starts
    and says what it got and how to get more."""
    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    port = harness.free_port()
    d = pathlib.Path(harness.make_workdir())   # /tmp/..., for nobody
    d.chmod(0o755)
    conf = d / "buf.conf"
    conf.write_text(RAW.format(iface="interface: 127.0.0.1@@PORT@\n"
                               "    so-rcvbuf: %d" % (2 * rmem_max),
                               ip6="no", up=9).replace("@PORT@", str(port)))
    conf.chmod(0o644)
    err = d / "err"
    with open(err, "wb") as ef:
        p = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534",
                              "--clear-groups", harness.program("cairnd"),
                              "-d", "-c", str(conf)],
                             stdout=subprocess.DEVNULL, stderr=ef)
    try:
        harness.wait_until(lambda: "started" in err.read_text() or
                           p.poll() is not None, 10 * SLOW,
                           what="cairnd started as nobody")
        text = err.read_text()
        assert p.poll() is None, text
        assert ("so-rcvbuf %d was not granted on 127.0.0.1 port %d (udp): "
                "got %d; start cairnd as root, or raise sysctl "
                "net.core.rmem_max" % (2 * rmem_max, port, rmem_max)) \
            in text, text
        assert skmem(port)[0] == 2 * rmem_max
        p.terminate()
        assert p.wait(10 * SLOW) == 0
        text = err.read_text()
        assert not any(m in text for m in harness.SANITIZER_MARKS), text
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)
