"""systemd socket activation (contrib/cairnd.socket).

The test plays systemd: it binds the sockets (UDP and TCP on a port,
without SO_REUSEPORT, so that cairnd could not bind the same address
itself), passes them as descriptors 3 and 4 with LISTEN_PID and
LISTEN_FDS, and checks that cairnd serves on them (the very sockets:
their inodes are among cairnd's descriptors), also after a reload that
opens the ports again.  Without LISTEN_PID naming cairnd, the sockets
are not taken and cairnd cannot bind the busy port.
"""

import os
import signal
import socket
import subprocess

import harness
from harness import SLOW


def _sockets(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", port))
    t.listen(16)
    return u, t


def _start(d, socks, listen_pid_is_cairnd=True):
    """Start d's cairnd with socks as descriptors 3, 4, ..."""
    fds = [s.fileno() for s in socks]

    def child():
        # move the sockets to 3, 4, ... (dup2 clears close-on-exec)
        tmp = [os.dup(f) for f in fds]
        for i, f in enumerate(tmp):
            os.dup2(f, 3 + i)
            os.close(f)
    pid_expr = "$$" if listen_pid_is_cairnd else "1"
    cmd = ["/bin/sh", "-c",
           'LISTEN_PID=%s LISTEN_FDS=%d exec "$0" "$@"'
           % (pid_expr, len(fds)),
           harness.program("cairnd"), "-d", "-c", d.conf]
    d.err_f = open(d.stderr_path, "ab")
    d.out_f = open(d.stdout_path, "ab")
    # keep 3, 4, ... open too: the child closes the others after
    # preexec_fn ran
    keep = fds + [3 + i for i in range(len(fds))]
    d.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                              stdout=d.out_f, stderr=d.err_f, cwd=d.dir,
                              preexec_fn=child, pass_fds=keep)


def _fd_inodes(pid):
    return {int(i) for i in harness.socket_inodes(pid)}


def test_sockets_from_systemd(make_cairnd):
    d = make_cairnd(ready=None)
    d.stop()
    u, t = _sockets(d.port)
    try:
        _start(d, [u, t])
        d.wait_ready("udp")
        inodes = _fd_inodes(d.proc.pid)
        assert os.fstat(u.fileno()).st_ino in inodes
        assert os.fstat(t.fileno()).st_ino in inodes
        assert harness.a_addrs(d.udp("localhost.")) == {"127.0.0.1"}
        assert harness.a_addrs(d.tcp("localhost.")) == {"127.0.0.1"}
        assert "socket from systemd" in d.stderr()
        # a reload that opens the ports again (num-threads changed)
        # takes the same sockets again
        d.write_config(d.config_text("num-threads: 2"))
        d.signal(signal.SIGHUP)
        harness.wait_until(lambda: "reload done" in d.stderr(), 10 * SLOW,
                           what="reload done")
        assert harness.a_addrs(d.udp("localhost.")) == {"127.0.0.1"}
        assert harness.a_addrs(d.tcp("localhost.")) == {"127.0.0.1"}
        assert "could not bind" not in d.stderr()
        inodes = _fd_inodes(d.proc.pid)
        assert os.fstat(u.fileno()).st_ino in inodes
    finally:
        d.check_stop()
        u.close()
        t.close()


def test_sockets_not_for_us_are_ignored(make_cairnd):
    d = make_cairnd(ready=None)
    d.stop()
    u, t = _sockets(d.port)
    try:
        _start(d, [u, t], listen_pid_is_cairnd=False)
        rc = d.proc.wait(10 * SLOW)
        d.close_files()
        assert rc == 1
        assert "could not bind" in d.stderr()
        assert "Address already in use" in d.stderr()
    finally:
        u.close()
        t.close()
    # the port free again: a plain start binds it (stopped by the fixture)
    d.start(ready="udp")
