"""chroot: and username: (issue 8), as Unbound does them.

cairnd reads its config, keys and certificates, opens its log and binds
its ports, then chroots to the directory and drops to the user.  Checked
from outside: /proc/PID/root is the directory, the process runs as the
user, it answers (local data, a forwarded query over UDP and TCP, DoT),
and a reload (SIGHUP and cairn-control) reads the config, and the
certificate, again from their names inside the chroot.  A config file
outside the chroot, or a chroot that does not exist, stops start-up
with the file and the value named.

The first test needs root (chroot(2), setuid(2)) and the user "nobody";
it is skipped with the reason otherwise.
"""

import os
import pwd
import shutil
import signal
import ssl

import pytest

import harness
from harness import SLOW, make_query


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to drop to")


def _status_ids(pid):
    """(real, effective uid), (real, effective gid), groups of pid."""
    uid = gid = groups = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Uid":
                uid = tuple(int(x) for x in v.split()[:2])
            elif k == "Gid":
                gid = tuple(int(x) for x in v.split()[:2])
            elif k == "Groups":
                groups = sorted(int(x) for x in v.split())
    return uid, gid, groups


def _dot_query(port, ca, q):
    """A DoT query (certificate checked against the test CA); returns
    the answer and the DER of the certificate the server showed."""
    c = harness.TcpConn(port, timeout=3.0 * SLOW, tls=ca, alpn=["dot"])
    try:
        return c.query(q), c.s.getpeercert(binary_form=True)
    finally:
        c.close()


def _der(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def _conf(jail, port, dot_port, upstream, extra_local=""):
    return "\n".join([
        "server:",
        "    interface: 127.0.0.1@%d" % port,
        "    interface: 127.0.0.1@%d" % dot_port,
        "    port: %d" % port,
        "    tls-port: %d" % dot_port,
        '    tls-service-key: "%s/tls/server.key"' % jail,
        '    tls-service-pem: "%s/tls/server.pem"' % jail,
        "    use-syslog: no",
        '    logfile: "%s/log/cairnd.log"' % jail,
        '    pidfile: ""',
        '    username: "nobody"',
        '    chroot: "%s"' % jail,
        "    num-threads: 1",
        "    do-ip6: no",
        '    local-data: "jail.test. A 192.0.2.77"',
        extra_local,
        "forward-zone:",
        '    name: "."',
        "    forward-addr: 127.0.0.1@%d" % upstream,
        "remote-control:",
        "    control-enable: yes",
        '    control-interface: "%s/run/ctl.sock"' % jail,
        ""])


@pytest.fixture
def jail(certs):
    """A chroot directory owned by root (0755) holding the config (read
    again by nobody on reload), the certificate and key (readable by
    nobody, as a reload reads them inside the chroot) and run/ where
    nobody creates the control socket."""
    if os.geteuid() != 0:
        pytest.skip("chroot: and username: need root (running as uid %d)"
                    % os.geteuid())
    pw = _nobody()
    base = harness.make_workdir("cairn-jail-")
    os.chmod(base, 0o755)
    j = os.path.join(base, "jail")
    os.mkdir(j, 0o755)
    os.mkdir(os.path.join(j, "tls"), 0o755)
    os.mkdir(os.path.join(j, "run"), 0o755)
    os.mkdir(os.path.join(j, "log"), 0o755)
    os.chown(os.path.join(j, "run"), pw.pw_uid, pw.pw_gid)
    for k, name in (("key", "server.key"), ("cert", "server.pem")):
        dst = os.path.join(j, "tls", name)
        shutil.copyfile(certs[k], dst)
        os.chmod(dst, 0o640)
        os.chown(dst, 0, pw.pw_gid)
    mounted = None
    if harness.ASAN:
        # LeakSanitizer reads /proc/PID/task at exit: an ASan build in a
        # chroot needs /proc inside it (a production build does not)
        mounted = os.path.join(j, "proc")
        os.mkdir(mounted, 0o555)
        r = harness.run(["mount", "--bind", "/proc", mounted])
        if r.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("ASan build: LeakSanitizer needs /proc in the "
                        "chroot, and mount --bind failed: %s" % r.stderr)
    try:
        yield j, pw
    finally:
        if mounted and harness.run(["umount", "-l", mounted]).returncode:
            base = None  # never rmtree a tree with /proc mounted in it
        if base and not os.environ.get("CAIRN_KEEP"):
            shutil.rmtree(base, ignore_errors=True)


def _log(j):
    try:
        with open(os.path.join(j, "log", "cairnd.log")) as f:
            return f.read()
    except OSError:
        return ""


def test_chroot_username_answers_and_reloads(jail, fake, certs):
    j, pw = jail
    port, dot_port = harness.free_port(), harness.free_port()
    fake.set("fwd.example.", "answer", addrs=["192.0.2.55"])
    d = harness.Cairnd(j, raw_config=_conf(j, port, dot_port, fake.port),
                       ready=None)
    d.port = port
    try:
        d.wait_ready("udp")
        pid = d.proc.pid
        # in the jail, as nobody, with nobody's groups only
        assert os.readlink("/proc/%d/root" % pid) == j
        uid, gid, groups = _status_ids(pid)
        assert uid == (pw.pw_uid, pw.pw_uid)
        assert gid == (pw.pw_gid, pw.pw_gid)
        assert 0 not in groups
        # answers: local data, forwarded over UDP and TCP, DoT
        assert harness.a_addrs(d.udp("jail.test.")) == {"192.0.2.77"}
        assert harness.a_addrs(d.udp("fwd.example.")) == {"192.0.2.55"}
        assert harness.a_addrs(d.tcp("fwd.example.", "A")) == \
            {"192.0.2.55"}
        ans, der = _dot_query(dot_port, certs["ca"], make_query("jail.test."))
        assert harness.a_addrs(ans) == {"192.0.2.77"}
        assert der == _der(certs["cert"])

        # a changed config: reloaded from its name inside the jail
        with open(d.conf, "w") as f:
            f.write(_conf(j, port, dot_port, fake.port,
                          '    local-data: "new.test. A 192.0.2.88"'))
        d.signal(signal.SIGHUP)
        harness.wait_until(
            lambda: harness.udp_msg(make_query("new.test."), port) is not
            None and harness.a_addrs(harness.udp_msg(
                make_query("new.test."), port)) == {"192.0.2.88"},
            10 * SLOW, what="the reloaded local-data answered")
        # the log file (opened as root, given to nobody) is reopened by
        # the reload inside the jail, so it still gets the lines
        harness.wait_until(lambda: "reload done" in _log(j), 10 * SLOW,
                           what="'reload done' in the log file")
        # the key and certificate were read again inside the jail
        assert "old certificate stays" not in _log(j), _log(j)
        assert "has errors" not in _log(j), _log(j)
        assert "could not open the log" not in d.stderr() + _log(j)
        assert os.readlink("/proc/%d/root" % pid) == j
        assert d.proc.pid == pid and d.alive()

        # cairn-control (outside, full socket path) reaches the control
        # socket nobody made inside the jail; its reload reads the file
        # inside the jail as well
        with open(d.conf, "w") as f:
            f.write(_conf(j, port, dot_port, fake.port,
                          '    local-data: "ctl.test. A 192.0.2.99"'))
        r = harness.run([harness.program("cairn-control"), "-c", d.conf,
                         "reload"])
        assert r.returncode == 0, r.stdout + r.stderr
        harness.wait_until(
            lambda: harness.a_addrs(harness.udp_msg(
                make_query("ctl.test."), port)) == {"192.0.2.99"},
            10 * SLOW, what="the local-data of the control reload")
        assert harness.a_addrs(d.udp("fwd.example.")) == {"192.0.2.55"}
        ans, der = _dot_query(dot_port, certs["ca"], make_query("ctl.test."))
        assert harness.a_addrs(ans) == {"192.0.2.99"}

        # an unreadable config inside the jail: the old one stays
        os.chmod(d.conf, 0o600)
        d.signal(signal.SIGHUP)
        harness.wait_until(lambda: "has errors" in _log(j), 10 * SLOW,
                           what="the reload error in the log")
        assert "cannot open: Permission denied" in _log(j)
        assert harness.a_addrs(d.udp("ctl.test.")) == {"192.0.2.99"}
    finally:
        d.check_stop()


def _start_fails(tmp, text):
    conf = os.path.join(tmp, "cairn.conf")
    with open(conf, "w") as f:
        f.write(text)
    r = harness.run([harness.program("cairnd"), "-d", "-c", conf])
    return r.returncode, r.stderr, conf


def test_chroot_config_outside_refused():
    """Needs no root: checked before anything is opened."""
    tmp = harness.make_workdir("cairn-jail-")
    try:
        jail = os.path.join(tmp, "jail")
        os.mkdir(jail)
        rc, err, conf = _start_fails(tmp, "server:\n"
                                     "    port: %d\n"
                                     '    chroot: "%s"\n'
                                     'forward-zone:\n    name: "."\n'
                                     "    forward-addr: 127.0.0.1@9\n"
                                     % (harness.free_port(), jail))
        assert rc == 1
        assert ("%s:3: chroot: %s: the config file %s is not inside it"
                % (conf, jail, conf)) in err, err
        # the same from cairn-checkconf
        r = harness.run([harness.program("cairn-checkconf"), conf])
        assert r.returncode != 0
        assert "is not inside it" in r.stdout + r.stderr

        # inside, but not a directory: the config file itself
        rc, err, conf = _start_fails(tmp, "server:\n"
                                     "    port: %d\n"
                                     '    chroot: "%s"\n'
                                     'forward-zone:\n    name: "."\n'
                                     "    forward-addr: 127.0.0.1@9\n"
                                     % (harness.free_port(), conf))
        assert rc == 1
        assert "cairnd: chroot: %s: not a directory" % conf in err, err

        # not an absolute name
        rc, err, conf = _start_fails(tmp, "server:\n"
                                     "    port: %d\n"
                                     '    chroot: "%s"\n'
                                     % (harness.free_port(), "rel/dir"))
        assert rc == 1
        assert "chroot: rel/dir: must be an absolute directory name" in err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
