"""A short soak (testdata/soak/soak.py): SOAK_SECONDS, default 30 here
(the long one is bench/soak, 600 s).  Mixed UDP, TCP, DoT, DoH GET/POST,
resets, reconnects and two reloads; no error, cairnd alive, RSS flat,
exit 0 without a sanitizer report."""

import os
import subprocess

import pytest

import harness

SECONDS = int(os.environ.get("SOAK_SECONDS", "30"))
SOAK = os.path.join(harness.REPO, "testdata", "soak", "soak.py")


@pytest.mark.timeout(SECONDS + 90)
def test_soak():
    r = subprocess.run(["/usr/bin/python3", SOAK, str(SECONDS)],
                       capture_output=True, text=True,
                       timeout=(SECONDS + 80) * harness.SLOW,
                       stdin=subprocess.DEVNULL)
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "soak: OK" in r.stdout
