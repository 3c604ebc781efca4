"""The DoH quick start of README.md: contrib/quickstart.sh makes the
certificates, starts cairnd on contrib/quickstart.conf and asks it with
kdig (DoH), curl (DoH) and dig (plain DNS).  Uses the fixed ports of
that config (8443, 5353)."""

import os
import signal
import time

import pytest

import harness


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not all(harness.have_tool(t)
                            for t in ("kdig", "curl", "dig", "openssl")),
                    reason="quick start tools missing")
@pytest.mark.timeout(90)
def test_quickstart_script():
    script = os.path.join(harness.REPO, "contrib", "quickstart.sh")
    pidfile = "/tmp/cairn-quickstart/cairnd.pid"
    r = harness.run(["bash", script, harness.BUILDDIR], timeout=60)
    pid = None
    try:
        if os.path.exists(pidfile):
            pid = int(open(pidfile).read().strip())
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        assert "(status: 200)" in out                     # kdig +https
        assert "localhost." in out and "127.0.0.1" in out
        assert "HTTP/2 200" in out                        # curl
        assert "content-type: application/dns-message" in out
        assert "192.0.2.53" in out                        # dig, port 5353
        assert pid is not None and _pid_alive(pid)
    finally:
        if pid is not None and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + 10 * harness.SLOW
            while _pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.1)
            assert not _pid_alive(pid), "quick start cairnd did not stop"
    log = open("/tmp/cairn-quickstart/cairnd.log").read()
    for m in harness.SANITIZER_MARKS:
        assert m not in log, log
