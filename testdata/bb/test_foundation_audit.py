"""
testdata/bb/test_foundation_audit.py - behaviours of the foundation issue
(#2) that no other black-box test pinned down, found by the audit of
2026-12-06:

- the forwarder accepts an answer only from the address and port it sent
  the query to, and only for the question it asked (a reply with the
  right ID from elsewhere, or with the right ID and another question, is
  ignored);
- the EDNS buffer size in upstream queries is edns-buffer-size (1232 by
  default);
- SIGHUP re-opens the logfile (log rotation);
- with no forward-zone for ".", "." goes to the nameservers of
  /etc/resolv.conf (shown by list_forwards; nothing is sent to them);
- do-udp, do-tcp and do-ip4 switch the listeners off.
"""

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import dns.message
import dns.rcode
import dns.flags
import dns.opcode
import dns.rrset

import pytest

import harness
from harness import SLOW, make_query


class ScriptedUdpUpstream:
    """A UDP upstream on 127.0.0.1:port whose answer to each query is
    made by script(query, client_addr) -> list of (bind_addr, wire):
    each wire is sent to the client from a socket bound to bind_addr
    ("127.0.0.1" is the upstream's own socket; any other address gets a
    socket of its own bound to (addr, port) - the same port, so only
    the address differs).  self.queries: every query received."""

    def __init__(self, script):
        self.script = script
        self.queries = []
        self.stop_ev = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = None
        for _ in range(20):
            port = harness.free_port()
            try:
                self.sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            self.port = port
            break
        assert self.port is not None, "no port for the upstream"
        self.sock.settimeout(0.1)
        self.others = {}
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _from(self, addr):
        if addr == "127.0.0.1":
            return self.sock
        s = self.others.get(addr)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((addr, self.port))
            self.others[addr] = s
        return s

    def _loop(self):
        for _ in range(10**7):
            if self.stop_ev.is_set():
                return
            try:
                data, client = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            self.queries.append(q)
            for bind_addr, wire in self.script(q, client):
                try:
                    self._from(bind_addr).sendto(wire, client)
                except OSError:
                    pass
                time.sleep(0.02)

    def close(self):
        self.stop_ev.set()
        self.t.join(2)
        self.sock.close()
        for s in self.others.values():
            s.close()


def answer(q, addr, qname=None, rdtype="A"):
    """A response to q with one A record; qname/rdtype change the
    question section (and the record) to another question."""
    r = dns.message.make_response(q)
    if qname is not None or rdtype != "A":
        name = dns.name.from_text(qname) if qname else q.question[0].name
        r.question = [dns.rrset.RRset(name, dns.rdataclass.IN,
                                      dns.rdatatype.from_text(rdtype))]
    name = r.question[0].name
    if r.question[0].rdtype == dns.rdatatype.A:
        r.answer.append(dns.rrset.from_text(name, 300, "IN", "A", addr))
    return r.to_wire()


import dns.name            # noqa: E402  (used by answer())
import dns.rdataclass      # noqa: E402
import dns.rdatatype       # noqa: E402


def test_reply_from_another_address_is_ignored(make_cairnd):
    """An answer with the right ID and question, sent from 127.0.0.2 on
    the upstream's port (so only the source address is wrong), and one
    from the right address but another port, are not taken: the client
    gets the answer from the upstream's own address and port."""
    ups = ScriptedUdpUpstream(lambda q, c: [
        ("127.0.0.2", answer(q, "198.51.100.66")),
        ("127.0.0.1:other", answer(q, "198.51.100.67")),
        ("127.0.0.1", answer(q, "192.0.2.7"))])
    # the second entry: from 127.0.0.1 but another port
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    ups.others["127.0.0.1:other"] = other
    try:
        d = make_cairnd(upstream=ups.port)
        m = d.udp("spoof.lab.")
        assert m is not None, "no answer"
        assert harness.a_addrs(m) == {"192.0.2.7"}, m
        assert len(ups.queries) == 1
        # from the cache: still the genuine one
        assert harness.a_addrs(d.udp("spoof.lab.")) == {"192.0.2.7"}
        # the upstream sockets are not connected (sendto() binds the
        # port): both are read, checked against the upstream's address
        # and port, and counted
        assert harness.stat(d.stats(), "unwanted.replies") == 2
    finally:
        ups.close()


def test_reply_for_another_question_is_ignored(make_cairnd):
    """Right source, right ID, but another name, then another type:
    both ignored, the matching answer is taken."""
    ups = ScriptedUdpUpstream(lambda q, c: [
        ("127.0.0.1", answer(q, "198.51.100.1", qname="other.lab.")),
        ("127.0.0.1", answer(q, "198.51.100.2", rdtype="AAAA")),
        ("127.0.0.1", answer(q, "192.0.2.8"))])
    try:
        d = make_cairnd(upstream=ups.port)
        m = d.udp("question.lab.")
        assert m is not None, "no answer"
        assert harness.a_addrs(m) == {"192.0.2.8"}, m
        assert str(m.question[0].name) == "question.lab."
        assert len(ups.queries) == 1
        st = d.stats()
        assert harness.stat(st, "unwanted.replies") == 2
        assert harness.stat(st, "num.query.udpout") == 1
        assert harness.stat(st, "num.query.tcpout") == 0
    finally:
        ups.close()


def _upstream_payload(make_cairnd, server_lines):
    ups = ScriptedUdpUpstream(lambda q, c: [
        ("127.0.0.1", answer(q, "192.0.2.9"))])
    try:
        d = make_cairnd(upstream=ups.port, server_lines=server_lines)
        # the client's own EDNS size must not leak upstream
        m = d.udp("edns.lab.", payload=4000)
        assert harness.a_addrs(m) == {"192.0.2.9"}
        assert len(ups.queries) == 1
        q = ups.queries[0]
        assert q.edns == 0, "upstream query without EDNS"
        # the size cairnd advertises to its clients is the same
        assert m.edns == 0 and m.payload == q.payload, m.payload
        return q.payload
    finally:
        ups.close()


def test_edns_buffer_size_default_upstream(make_cairnd):
    assert _upstream_payload(make_cairnd, "") == 1232


def test_edns_buffer_size_configured_upstream(make_cairnd):
    assert _upstream_payload(make_cairnd, "edns-buffer-size: 1400") == 1400


def test_sighup_reopens_the_logfile(make_cairnd):
    """Log rotation: the logfile is renamed, SIGHUP makes cairnd write to
    a new file of the configured name (and not to the renamed one)."""
    workdir = harness.make_workdir("cairn-log-")
    log = os.path.join(workdir, "cairnd.log")
    try:
        d = make_cairnd(server_lines='logfile: "%s"\nverbosity: 1' % log)
        # the harness config says logfile: "" first; ours comes later
        harness.wait_until(lambda: os.path.exists(log), 5 * SLOW,
                           what="logfile created")
        harness.wait_until(lambda: os.path.getsize(log) > 0, 5 * SLOW,
                           what="logfile written")
        os.rename(log, log + ".1")
        size_old = os.path.getsize(log + ".1")
        d.signal(signal.SIGHUP)
        harness.wait_until(lambda: os.path.exists(log), 5 * SLOW,
                           what="logfile re-created after SIGHUP")
        harness.wait_until(lambda: os.path.getsize(log) > 0, 5 * SLOW,
                           what="new logfile written after SIGHUP")
        assert d.udp("localhost.") is not None
        # lines after the re-open go to the new file only: stop writes
        # its exit line there
        assert d.stop() == 0
        with open(log) as f:
            text = f.read()
        assert "exit status 0" in text, text
        assert "exit status" not in open(log + ".1").read()
        assert os.path.getsize(log + ".1") >= size_old
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _resolv_conf_nameservers():
    out = []
    with open("/etc/resolv.conf") as f:
        for line in f:
            w = line.split()
            if len(w) >= 2 and w[0] == "nameserver":
                a = w[1].split("%")[0]
                try:
                    out.append(str(ipaddress.ip_address(a)))
                except ValueError:
                    pass
    return out


def test_no_root_forward_zone_uses_resolv_conf(make_cairnd):
    """No forward-zone for ".": list_forwards shows "." going to the
    nameservers of /etc/resolv.conf, in order.  Only localhost (a local
    zone) is queried, so nothing is sent to them."""
    ctl = tempfile.mkdtemp(prefix="cairn-rc-", dir="/tmp")
    try:
        sock = os.path.join(ctl, "ctl.sock")
        raw = ("server:\n    interface: 127.0.0.1@@PORT@\n"
               "    use-syslog: no\n    logfile: \"\"\n    pidfile: \"\"\n"
               "    username: \"\"\n    do-ip6: no\n"
               "forward-zone:\n    name: \"only.lab.\"\n"
               "    forward-addr: 127.0.0.1@9\n"
               "remote-control:\n    control-enable: yes\n"
               "    control-interface: \"%s\"\n" % sock)
        d = make_cairnd(raw_config=raw, control=False)
        r = harness.run([harness.program("cairn-control"), "-c", d.conf,
                         "list_forwards"])
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert "only.lab. IN forward 127.0.0.1@9" in lines, lines
        root = [ln for ln in lines if ln.startswith(". ")]
        want = _resolv_conf_nameservers()
        if not want:
            assert root == [], root
            return
        assert len(root) == 1, lines
        got = root[0].split()[3:]
        got = [a[:-3] if a.endswith("@53") else a for a in got]
        assert got == want, (root, want)
    finally:
        shutil.rmtree(ctl, ignore_errors=True)


def _tcp_answers(port, host="127.0.0.1"):
    try:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(2 * SLOW)
        s.connect((host, port))
    except OSError:
        return False
    try:
        wire = make_query("localhost.").to_wire()
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        return len(harness.recv_exact(s, 2, 2 * SLOW)) == 2
    except OSError:
        return False
    finally:
        s.close()


def test_do_udp_no(make_cairnd):
    d = make_cairnd(server_lines="do-udp: no", ready="tcp")
    assert _tcp_answers(d.port)
    assert harness.udp(make_query("localhost."), d.port,
                       timeout=1.5 * SLOW) is None


def test_do_tcp_no(make_cairnd):
    d = make_cairnd(server_lines="do-tcp: no")
    assert d.udp("localhost.") is not None
    assert not _tcp_answers(d.port)


def test_do_ip4_no(make_cairnd):
    """do-ip4: no drops the IPv4 interface; the IPv6 one serves."""
    raw = ("server:\n    interface: 127.0.0.1@@PORT@\n"
           "    interface: ::1@@PORT@\n    do-ip4: no\n    do-ip6: yes\n"
           "    use-syslog: no\n    logfile: \"\"\n    pidfile: \"\"\n"
           "    username: \"\"\n"
           "forward-zone:\n    name: \".\"\n    forward-addr: 127.0.0.1@9\n")
    d = make_cairnd(raw_config=raw, control=False, ready=None)
    harness.wait_until(lambda: _tcp_answers(d.port, "::1"), 5 * SLOW,
                       what="::1 served")
    assert not _tcp_answers(d.port, "127.0.0.1")
    assert harness.udp(make_query("localhost."), d.port,
                       timeout=1.0 * SLOW) is None


# ------------------------------------------------------------ forward-first

def _first_cairnd(make_cairnd, zone_addr, root_port, first):
    """forward-zone ff.lab. to zone_addr (forward-first as given), "." to
    the upstream on root_port."""
    return make_cairnd(upstream=root_port, extra=(
        "forward-zone:\n    name: \"ff.lab.\"\n"
        "    forward-addr: %s\n    forward-first: %s\n"
        % (zone_addr, "yes" if first else "no")))


def test_forward_first_servfail_goes_to_parent_zone(make_cairnd, fake):
    """ff.lab.'s upstream says SERVFAIL: with forward-first the query goes
    on to the zone of the parent ("."); without, the client gets the
    SERVFAIL."""
    zone = harness.FakeUpstream()
    try:
        zone.set("a.ff.lab.", "servfail")
        fake.set("a.ff.lab.", "answer", addrs=["192.0.2.77"])
        d = _first_cairnd(make_cairnd, "127.0.0.1@%d" % zone.port,
                          fake.port, True)
        m = d.udp("a.ff.lab.")
        assert m is not None and m.rcode() == dns.rcode.NOERROR, m
        assert harness.a_addrs(m) == {"192.0.2.77"}
        assert zone.count("a.ff.lab.") == 1
        assert fake.count("a.ff.lab.") == 1
        d.check_stop()

        d = _first_cairnd(make_cairnd, "127.0.0.1@%d" % zone.port,
                          fake.port, False)
        m = d.udp("a.ff.lab.")
        assert m is not None and m.rcode() == dns.rcode.SERVFAIL, m
        assert zone.count("a.ff.lab.") == 2
        assert fake.count("a.ff.lab.") == 1
    finally:
        zone.close()


def test_forward_first_unreachable_goes_to_parent_zone(make_cairnd, fake):
    """ff.lab.'s only upstream refuses (ICMP port unreachable): with
    forward-first the answer comes from "."'s upstream, at once."""
    fake.set("b.ff.lab.", "answer", addrs=["192.0.2.78"])
    d = _first_cairnd(make_cairnd, "127.0.0.1@%d" % harness.closed_port(),
                      fake.port, True)
    t = time.monotonic()
    m = d.udp("b.ff.lab.")
    assert m is not None and m.rcode() == dns.rcode.NOERROR, m
    assert harness.a_addrs(m) == {"192.0.2.78"}
    assert time.monotonic() - t < 1.0 * SLOW
    d.check_stop()
    d = _first_cairnd(make_cairnd, "127.0.0.1@%d" % harness.closed_port(),
                      fake.port, False)
    m = d.udp("c.ff.lab.")
    assert m is not None and m.rcode() == dns.rcode.SERVFAIL, m
    assert fake.count("c.ff.lab.") == 0


# ------------------------------------------------------------ more options

def test_cache_max_negative_ttl(make_cairnd, fake):
    """A negative answer whose SOA says 3600 s is kept at most
    cache-max-negative-ttl (2 s): the TTL shown is <= 2 and the upstream
    is asked again after it."""
    fake.set("negmax.lab.", "nxdomain", soa_ttl=3600, soa_min=3600)
    d = make_cairnd(upstream=fake.port,
                    server_lines="cache-max-negative-ttl: 2")
    m = d.udp("negmax.lab.")
    assert m.rcode() == dns.rcode.NXDOMAIN
    m = d.udp("negmax.lab.")
    assert m.rcode() == dns.rcode.NXDOMAIN
    assert m.authority and m.authority[0].ttl <= 2, m
    assert fake.count("negmax.lab.") == 1, "negative answer not cached"
    time.sleep(3.0)
    assert d.udp("negmax.lab.").rcode() == dns.rcode.NXDOMAIN
    assert fake.count("negmax.lab.") == 2, \
        "negative entry kept longer than cache-max-negative-ttl"


def test_pidfile_written_and_removed(make_cairnd):
    workdir = harness.make_workdir("cairn-pid-")
    pidfile = os.path.join(workdir, "cairnd.pid")
    try:
        d = make_cairnd(server_lines='pidfile: "%s"' % pidfile)
        with open(pidfile) as f:
            assert int(f.read().strip()) == d.proc.pid
        assert d.stop() == 0
        assert not os.path.exists(pidfile), "pidfile left after exit"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_username_drops_privileges(make_cairnd):
    """Started as root with username: nobody, cairnd runs as nobody
    (its ports were bound before) and serves."""
    import pwd
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root to change user")
    nobody = pwd.getpwnam("nobody")
    d = make_cairnd(server_lines='username: "nobody"', control=False)
    assert d.udp("localhost.") is not None
    assert d.tcp("localhost.") is not None
    with open("/proc/%d/status" % d.proc.pid) as f:
        ids = {ln.split(":")[0]: ln.split()[1:] for ln in f
               if ln.startswith(("Uid:", "Gid:"))}
    assert ids["Uid"] == [str(nobody.pw_uid)] * 4, ids
    assert ids["Gid"] == [str(nobody.pw_gid)] * 4, ids


# ------------------------------------------------------------ control (#4)

def test_control_refused_certificate_exit_1():
    """cairn-control with a well-formed key pair of another setup (not
    signed by this server's control CA): the server refuses the
    handshake; cairn-control prints an error on stderr, nothing on
    stdout, exit 1."""
    from test_control import ControlDaemon, make_keys, program
    d = ControlDaemon(threads=1)
    other = tempfile.mkdtemp(prefix="cairn-other-")
    try:
        keys = make_keys(other)
        with open(d.conf) as f:
            text = f.read()
        text = text.replace(d.keys["control.key"], keys["control.key"])
        text = text.replace(d.keys["control.pem"], keys["control.pem"])
        conf2 = os.path.join(d.dir, "foreign.conf")
        with open(conf2, "w") as f:
            f.write(text)
        r = subprocess.run([program("cairn-control"), "-c", conf2,
                            "-s", "127.0.0.1@%d" % d.cport, "status"],
                           capture_output=True, text=True, timeout=30 * SLOW,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert r.stdout == ""
        assert r.stderr.strip() != ""
        # and the server is fine
        assert "is running" in d.ok("status")
    finally:
        shutil.rmtree(other, ignore_errors=True)
        assert d.close() in (None, 0)


def _connect_as(path, uid, gid):
    """Connect to the Unix socket at path as uid/gid (a child process);
    returns 'ok', or the errno name of the failure."""
    code = ("import os, socket, sys\n"
            "os.setgroups([]); os.setgid(%d); os.setuid(%d)\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "s.settimeout(5)\n"
            "try:\n"
            "    s.connect(%r)\n"
            "    s.sendall(b'CAIRNCTL1 status\\n')\n"
            "    print('ok' if b'running' in s.recv(4096) else 'no reply')\n"
            "except OSError as e:\n"
            "    import errno; print(errno.errorcode.get(e.errno, e))\n"
            % (gid, uid, path))
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True,
                       text=True, timeout=30 * SLOW, stdin=subprocess.DEVNULL)
    return r.stdout.strip() or r.stderr.strip()


def test_control_unix_socket_stranger_gets_nothing():
    """Mode 0660: another user outside the socket's group cannot
    connect (EACCES); the same user in the socket's group can."""
    import pwd
    import pytest
    from test_control import ControlDaemon
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    nobody = pwd.getpwnam("nobody")
    d = ControlDaemon(threads=1)
    try:
        os.chmod(d.dir, 0o755)      # the directory is not the barrier
        st = os.stat(d.sock)
        assert st.st_gid != nobody.pw_gid
        assert _connect_as(d.sock, nobody.pw_uid, nobody.pw_gid) == "EACCES"
        assert _connect_as(d.sock, nobody.pw_uid, st.st_gid) == "ok"
    finally:
        assert d.close() in (None, 0)


# ------------------------------------------------------------ make install

def test_make_install(tmp_path):
    """make install (into DESTDIR) puts the programs, the four man pages
    of the foundation and control issues and the example config in
    place; the installed cairn-checkconf accepts the installed example."""
    mk = os.path.join(harness.BUILDDIR, "Makefile")
    assert os.path.exists(mk), "no Makefile in %s" % harness.BUILDDIR
    dest = tmp_path / "dest"
    r = harness.run(["make", "-s", "-C", harness.BUILDDIR, "install",
                     "DESTDIR=%s" % dest], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    found = {}
    for root, _dirs, files in os.walk(dest):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), dest)
            found.setdefault(f, []).append(rel)

    def one(name, where):
        assert name in found, "%s not installed: %s" % (name, found)
        paths = [p for p in found[name] if where in p]
        assert paths, "%s not under %s: %s" % (name, where, found[name])
        return os.path.join(dest, paths[0])
    for prog in ("cairnd", "cairn-checkconf", "cairn-control"):
        p = one(prog, "bin/")
        assert os.access(p, os.X_OK), p
    for page, sect in (("cairnd.8", "man8"), ("cairn.conf.5", "man5"),
                       ("cairn-checkconf.8", "man8"),
                       ("cairn-control.8", "man8")):
        with open(one(page, "man/" + sect + "/")) as f:
            assert f.read().startswith((".TH", ".\\\"")), page
    example = one("example.conf", "etc/cairn/")
    r = harness.run([one("cairn-checkconf", "bin/"), example])
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------ forward-addr

def test_silent_first_forward_addr_then_second_answers(make_cairnd, fake):
    """The first forward-addr never answers (UDP nor TCP): after its
    timeouts the second is asked and its answer reaches the client."""
    fake2 = harness.FakeUpstream()
    try:
        fake.set("turn.lab.", "timeout")
        fake2.set("turn.lab.", "answer", addrs=["192.0.2.99"])
        d = make_cairnd(upstreams=[fake.port, fake2.port])
        t = time.monotonic()
        m = d.udp("turn.lab.", timeout=30 * SLOW)
        took = time.monotonic() - t
        assert m is not None and m.rcode() == dns.rcode.NOERROR, m
        assert harness.a_addrs(m) == {"192.0.2.99"}
        assert fake.count("turn.lab.") >= 1
        assert fake2.count("turn.lab.") >= 1
        assert took < 15 * SLOW, "took %.1fs" % took
    finally:
        fake2.close()


def test_upstream_source_ports_differ(make_cairnd):
    """Each upstream query leaves from its own source port (not one
    socket for all)."""
    ports = []
    ups = ScriptedUdpUpstream(lambda q, c: (ports.append(c[1]) or
                                           [("127.0.0.1",
                                             answer(q, "192.0.2.5"))]))
    try:
        d = make_cairnd(upstream=ups.port)
        for i in range(20):
            assert d.udp("port%d.lab." % i) is not None
        assert len(ports) == 20
        assert len(set(ports)) >= 18, ports
        steps = {(b - a) & 0xffff for a, b in zip(ports, ports[1:])}
        assert len(steps) > 3, "source ports count up: %r" % ports
    finally:
        ups.close()


# ------------------------------------------------------------ requestlist

def test_requestlist_counters_exact(make_cairnd, fake):
    """Five different misses in flight at once (the upstream holds each
    answer 0.6 s): requestlist.current.all is 5 while they wait; as in
    Unbound the list size is sampled before each new entry, so
    requestlist.max is 4 and requestlist.avg (0+1+2+3+4)/5 = 2; the five
    recursion times land in the histogram; current.all goes back to 0."""
    names = ["rl%d.lab." % i for i in range(5)]
    for n in names:
        fake.set(n, "answer", delay=0.6 * SLOW, addrs=["192.0.2.31"])
    d = make_cairnd(upstream=fake.port)
    harness.control_stats(d.conf, reset=True)   # the readiness probe
    socks = []
    try:
        for n in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(10 * SLOW)
            s.sendto(make_query(n).to_wire(), ("127.0.0.1", d.port))
            socks.append(s)
        harness.wait_until(lambda: fake.count(names[-1]) == 1, 5 * SLOW,
                           what="all five upstream")
        st = d.stats()
        assert harness.stat(st, "requestlist.current.all") == 5, st
        for s in socks:
            m = dns.message.from_wire(s.recvfrom(65535)[0])
            assert harness.a_addrs(m) == {"192.0.2.31"}
    finally:
        for s in socks:
            s.close()
    st = d.stats()
    assert harness.stat(st, "num.cachemiss") == 5
    assert harness.stat(st, "requestlist.max") == 4
    assert harness.stat(st, "requestlist.avg") == 2
    assert harness.stat(st, "requestlist.current.all") == 0
    assert harness.stat(st, "requestlist.exceeded") == 0
    assert harness.stat(st, "num.recursivereplies") == 5
    assert sum(v for k, v in st.items() if k.startswith("histogram.")) == 5
    assert 0.5 <= harness.stat(st, "recursion.time.avg") < 5 * SLOW
    assert 0.5 <= harness.stat(st, "recursion.time.median") < 5 * SLOW
    # stats resets them (requestlist.max too: it is per interval)
    harness.control_stats(d.conf, reset=True)
    st = d.stats()
    for k in ("requestlist.max", "requestlist.avg", "num.recursivereplies",
              "recursion.time.avg", "recursion.time.median"):
        assert harness.stat(st, k) == 0, k


# ------------------------------------------------------------ configure

def _configure(tmp_path, pcdir, *args):
    conf = os.path.join(harness.REPO, "configure")
    if not os.path.exists(conf):
        import pytest
        pytest.skip("no generated configure in %s (run autoreconf -fi)"
                    % harness.REPO)
    if os.path.exists(os.path.join(harness.REPO, "config.status")):
        import pytest
        pytest.skip("the source tree is configured in place: configure "
                    "refuses a build elsewhere")
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(pcdir),
               PKG_CONFIG_PATH="")
    b = tmp_path / "b"
    b.mkdir()
    return subprocess.run([conf] + list(args), cwd=str(b), env=env,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_configure_without_libevent_fails_clearly(tmp_path):
    empty = tmp_path / "pc"
    empty.mkdir()
    r = _configure(tmp_path, empty)
    assert r.returncode != 0
    assert "install libevent-dev" in r.stdout + r.stderr, r.stderr[-2000:]


def test_configure_without_openssl_fails_clearly(tmp_path):
    """libevent found, OpenSSL not: the OpenSSL message."""
    pc = tmp_path / "pc"
    pc.mkdir()
    for mod in ("libevent", "libevent_pthreads"):
        r = subprocess.run(["pkg-config", "--variable=pcfiledir", mod],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, "pkg-config does not know %s" % mod
        src = os.path.join(r.stdout.strip(), mod + ".pc")
        os.symlink(src, pc / (mod + ".pc"))
    r = _configure(tmp_path, pc)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "libevent >= 2.1 libevent_pthreads >= 2.1... yes" in out, out
    assert "install libssl-dev" in out, out[-2000:]


# ------------------------------------------------------------ so-reuseport

def _sockets_on(port):
    """(UDP sockets, listening TCP sockets) bound to 127.0.0.1:port."""
    local = "0100007F:%04X" % port
    n = {}
    for proto in ("udp", "tcp"):
        with open("/proc/net/" + proto) as f:
            rows = [ln.split() for ln in f.readlines()[1:]]
        n[proto] = sum(1 for r in rows if r[1] == local and
                       (proto == "udp" or r[3] == "0A"))   # 0A: LISTEN
    return n["udp"], n["tcp"]


def test_so_reuseport_one_listener_set_per_thread(make_cairnd):
    d = make_cairnd(server_lines="num-threads: 3\nso-reuseport: yes")
    assert _sockets_on(d.port) == (3, 3)
    for i in range(10):
        assert d.udp("localhost.") is not None
        assert d.tcp("localhost.") is not None


def test_so_reuseport_no_one_shared_listener_set(make_cairnd):
    d = make_cairnd(server_lines="num-threads: 3\nso-reuseport: no")
    assert _sockets_on(d.port) == (1, 1)
    for i in range(10):
        assert d.udp("localhost.") is not None
        assert d.tcp("localhost.") is not None
    st = d.stats()
    assert harness.stat(st, "num.queries") >= 20


# ------------------------------------------------------------ stat values 2

def test_stat_values_flags_classes_opcodes_ipv6_tcpout(make_cairnd, fake):
    """Counters test_stat_values.py leaves at 0, each driven once with an
    exact expected value, every other counter 0: num.query.ipv6 (a
    query over ::1), num.query.tcpout (a truncated upstream answer
    retried over TCP), num.answer.rcode.SERVFAIL, num.query.opcode.NOTIFY
    with num.answer.rcode.NOTIMPL, num.query.class.CH,
    num.query.type.other (type 1000), num.query.flags.CD/AD."""
    fake.set("tc.lab.", "truncate")
    fake.set("sf.lab.", "servfail")
    ctl = tempfile.mkdtemp(prefix="cairn-sv-", dir="/tmp")
    try:
        raw = ("server:\n    interface: 127.0.0.1@@PORT@\n"
               "    interface: ::1@@PORT@\n"
               "    use-syslog: no\n    logfile: \"\"\n    pidfile: \"\"\n"
               "    username: \"\"\n"
               "    local-zone: \"loc.lab.\" static\n"
               "    local-data: \"a.loc.lab. A 192.0.2.3\"\n"
               "forward-zone:\n    name: \".\"\n"
               "    forward-addr: 127.0.0.1@%d\n"
               "remote-control:\n    control-enable: yes\n"
               "    control-interface: \"%s/ctl.sock\"\n" % (fake.port, ctl))
        d = make_cairnd(raw_config=raw, control=False)
        harness.control_stats(d.conf, reset=True)   # readiness probe

        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.settimeout(3 * SLOW)
            s.sendto(make_query("a.loc.lab.").to_wire(), ("::1", d.port))
            m = dns.message.from_wire(s.recv(65535))
        finally:
            s.close()
        assert harness.a_addrs(m) == {"192.0.2.3"}            # hit, ipv6
        m = d.udp("tc.lab.")                                   # miss
        assert m.rcode() == dns.rcode.NOERROR and m.answer
        assert fake.protos("tc.lab.") == ["udp", "tcp"]
        assert d.udp("sf.lab.").rcode() == dns.rcode.SERVFAIL  # miss
        q = make_query("a.loc.lab.")
        q.set_opcode(dns.opcode.NOTIFY)
        assert harness.udp_msg(q, d.port).rcode() == dns.rcode.NOTIMP
        # (a CH-class query would be answered or refused by cairnd
        # itself, test_chaos.py; HS is forwarded like IN)
        q = dns.message.make_query("a.loc.lab.", "A", rdclass="HS")
        assert harness.udp_msg(q, d.port) is not None          # miss
        q = make_query("a.loc.lab.", "TYPE1000")               # hit
        m = harness.udp_msg(q, d.port)
        assert m.rcode() == dns.rcode.NOERROR and not m.answer
        q = make_query("a.loc.lab.")                           # hit
        q.flags |= dns.flags.CD | dns.flags.AD
        assert harness.udp_msg(q, d.port).answer

        st = d.stats()
        expected = {
            "num.queries": 7, "num.cachehits": 3, "num.cachemiss": 3,
            "num.recursivereplies": 3,
            "num.query.udp": 7, "num.query.ipv6": 1,
            "num.query.udpout": 3, "num.query.tcpout": 1,
            "num.query.type.A": 5, "num.query.type.other": 1,
            "num.query.class.IN": 5, "num.query.class.HS": 1,
            "num.query.opcode.QUERY": 6, "num.query.opcode.NOTIFY": 1,
            "num.query.flags.RD": 7, "num.query.flags.CD": 1,
            "num.query.flags.AD": 1,
            # every query had EDNS but the HS one; the NOTIFY is turned
            # away before its EDNS is read
            "num.query.edns.present": 5,
            "num.answer.rcode.NOERROR": 5, "num.answer.rcode.SERVFAIL": 1,
            "num.answer.rcode.NOTIMPL": 1, "num.answer.rcode.nodata": 1,
        }
        tot = {k[len("total."):] if k.startswith("total.") else k: v
               for k, v in st.items() if not k.startswith("thread")}
        wrong = {k: (tot.get(k), v) for k, v in expected.items()
                 if tot.get(k) != v}
        assert wrong == {}, "name: (got, expected): %r" % wrong
        others = {k: v for k, v in tot.items()
                  if k not in expected and v != 0 and
                  not k.startswith(("time.", "histogram.",
                                    "recursion.time.")) and
                  k != "mem.cache.message"}
        assert others == {}, "should be 0: %r" % others
        assert sum(v for k, v in st.items()
                   if k.startswith("histogram.")) == 3
    finally:
        shutil.rmtree(ctl, ignore_errors=True)


# ------------------------------------------------------------ reload

def _listener_inodes(pid, port):
    """Inodes of cairnd's UDP and listening TCP sockets on port."""
    local = "0100007F:%04X" % port
    mine = harness.socket_inodes(pid)
    out = set()
    for proto in ("udp", "tcp"):
        with open("/proc/net/" + proto) as f:
            for r in (ln.split() for ln in f.readlines()[1:]):
                if r[1] == local and (proto == "udp" or r[3] == "0A") \
                        and r[9] in mine:
                    out.add((proto, r[9]))
    return out


def test_reload_keeps_the_listening_sockets(make_cairnd):
    """cairn-control reload with a changed config (new local data) whose
    ports are the same: the very same listening sockets (inodes) serve
    on, and the new data is answered."""
    d = make_cairnd(server_lines='local-data: "r1.lab. A 192.0.2.11"')
    before = _listener_inodes(d.proc.pid, d.port)
    assert {p for p, _ in before} == {"udp", "tcp"}, before
    d.write_config(d.config_text('local-data: "r1.lab. A 192.0.2.11"\n'
                                 'local-data: "r2.lab. A 192.0.2.12"'))
    r = harness.run([harness.program("cairn-control"), "-c", d.conf,
                     "reload"])
    assert r.returncode == 0 and r.stdout == "ok\n", r.stdout + r.stderr
    harness.wait_until(lambda: harness.a_addrs(
        d.udp("r2.lab.", timeout=0.5) or dns.message.Message()) ==
        {"192.0.2.12"}, 5 * SLOW, what="new local data after reload")
    assert _listener_inodes(d.proc.pid, d.port) == before
    assert harness.a_addrs(d.tcp("r1.lab.")) == {"192.0.2.11"}


def _reload(d):
    r = harness.run([harness.program("cairn-control"), "-c", d.conf,
                     "reload"])
    assert r.returncode == 0 and r.stdout == "ok\n", r.stdout + r.stderr


def test_reload_with_an_added_interface_keeps_the_others(make_cairnd):
    """A reload that adds an interface opens it and keeps the sockets of
    the interface that stays (before, every socket was closed and
    reopened: a query in between got ICMP port unreachable); removing
    it again closes only its sockets."""
    d = make_cairnd()
    before = _listener_inodes(d.proc.pid, d.port)
    assert len(before) == 2
    p2 = harness.free_port()
    base = d.config_text()
    d.write_config(d.config_text("interface: 127.0.0.1@%d" % p2))
    _reload(d)
    harness.wait_until(lambda: harness.udp(make_query("localhost."), p2,
                                           timeout=0.3) is not None,
                       5 * SLOW, what="added interface served")
    assert _listener_inodes(d.proc.pid, d.port) == before
    assert len(_listener_inodes(d.proc.pid, p2)) == 2
    d.write_config(base)
    _reload(d)
    harness.wait_until(lambda: not _listener_inodes(d.proc.pid, p2),
                       5 * SLOW, what="removed interface closed")
    assert _listener_inodes(d.proc.pid, d.port) == before
    assert d.udp("localhost.") is not None


@pytest.mark.parametrize("reuseport", ["yes", "no"])
def test_reload_swapping_port_kinds(make_cairnd, certs, reuseport):
    """The plain port becomes the tls-port and the other way round: the
    sockets of another kind on the same address cannot be taken over;
    with so-reuseport no the new ones cannot bind next to them either,
    so all are opened afresh.  Either way both ports serve their new
    kind after the reload."""
    d = make_cairnd(dot=True, server_lines="so-reuseport: %s" % reuseport,
                    ready="port")
    d.wait_ready("udp")
    text = d.config_text("so-reuseport: %s" % reuseport)
    assert "tls-port: %d" % d.tls_port in text
    d.write_config(text.replace("tls-port: %d" % d.tls_port,
                                "tls-port: %d" % d.port))
    _reload(d)

    def dot_on(port):
        try:
            c = harness.TcpConn(port, tls=certs["ca"], alpn=["dot"],
                                timeout=1 * SLOW)
        except OSError:
            return False
        try:
            return c.query(make_query("localhost.")) is not None
        except OSError:
            return False
        finally:
            c.close()
    harness.wait_until(lambda: dot_on(d.port), 5 * SLOW,
                       what="DoT on the former plain port")
    assert harness.udp(make_query("localhost."), d.tls_port,
                       timeout=2 * SLOW) is not None
    assert harness.udp(make_query("localhost."), d.port,
                       timeout=1 * SLOW) is None
    assert "reload done" in d.stderr()
    assert "reload failed" not in d.stderr()


# ------------------------------------------------------------ flush (#4)

def _ctl(d, *args):
    r = harness.run([harness.program("cairn-control"), "-c", d.conf] +
                    list(args))
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def test_flush_and_flush_type_remove_from_the_cache(make_cairnd, fake):
    """flush_type NAME A drops only the A answer (AAAA and other names
    stay cached); flush NAME drops every type of that name, nothing
    else; flush_zone drops the names below a zone."""
    d = make_cairnd(upstream=fake.port)
    names = ("f.lab.", "g.lab.", "h.f.lab.")

    def ask_all():
        for n in names:
            for t in ("A", "AAAA"):
                assert d.udp(n, t).answer, (n, t)

    def counts():
        return {(n, t): sum(1 for _p, qn, qt in fake.seen
                            if qn == n and qt == t)
                for n in names for t in ("A", "AAAA")}
    ask_all()
    ask_all()
    c0 = counts()
    assert set(c0.values()) == {1}, c0         # second round: all hits

    assert _ctl(d, "flush_type", "f.lab.", "A") == "ok\n"
    ask_all()
    c1 = counts()
    assert c1[("f.lab.", "A")] == 2
    assert {k: v for k, v in c1.items() if k != ("f.lab.", "A")} == \
        {k: 1 for k in c1 if k != ("f.lab.", "A")}, c1

    assert _ctl(d, "flush", "f.lab.") == "ok\n"
    ask_all()
    c2 = counts()
    assert c2[("f.lab.", "A")] == 3 and c2[("f.lab.", "AAAA")] == 2
    assert all(c2[(n, t)] == 1 for n in ("g.lab.", "h.f.lab.")
               for t in ("A", "AAAA")), c2

    assert _ctl(d, "flush_zone", "f.lab.").startswith("ok removed ")
    ask_all()
    c3 = counts()
    assert c3[("h.f.lab.", "A")] == 2 and c3[("h.f.lab.", "AAAA")] == 2
    assert c3[("f.lab.", "A")] == 4
    assert c3[("g.lab.", "A")] == 1 and c3[("g.lab.", "AAAA")] == 1, c3


# ------------------------------------------------------------ idle tiers

@pytest.mark.timeout(120)
def test_tcp_idle_timeout_tiers_under_load(make_cairnd):
    """Unbound's tiers for a new connection, with incoming-num-tcp 20 and
    tcp-idle-timeout 100 s, usage counting the new connection: <= 50 %
    the full timeout, > 50 % a hundredth (1 s), > 65 % a five-hundredth
    (0.2 s), > 80 % none, raised to the 200 ms minimum."""
    d = make_cairnd(server_lines="incoming-num-tcp: 20\n"
                                 "tcp-idle-timeout: 100000")
    # (connections held, lower and upper bound of the probe's life)
    for held_n, lo, hi in ((9, 2.5, None), (10, 0.8, 1.6), (12, 0.8, 1.6),
                           (13, 0.1, 0.6), (16, 0.1, 0.6)):
        held = []
        try:
            for _ in range(held_n):
                c = harness.TcpConn(d.port, timeout=5 * SLOW)
                assert c.query(make_query("localhost.")) is not None
                held.append(c)
            t = time.monotonic()
            p = harness.TcpConn(d.port, timeout=5 * SLOW)
            try:
                closed = p.closed_by_peer(2.5 if hi is None else 5 * SLOW)
                took = time.monotonic() - t
            finally:
                p.close()
            usage = (held_n + 1) * 100 // 20
            if hi is None:
                assert not closed, "closed at %d %% usage" % usage
            else:
                assert closed and lo <= took <= hi * SLOW, \
                    "%d %% usage: closed %s after %.2fs" % (usage, closed,
                                                            took)
        finally:
            for c in held:
                c.close()
        harness.wait_until(lambda: harness.stat(d.stats(), "tcpusage") == 0,
                           5 * SLOW, step=0.1, what="slots back")
