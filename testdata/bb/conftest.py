"""
testdata/bb/conftest.py - fixtures for the black-box suite.

Fixtures: certs (a test CA and a server certificate, once per run),
nsd (a real authoritative upstream for example.lab), fake (a scriptable
upstream), make_cairnd (a factory: every cairnd it starts is stopped with
SIGTERM at the end of the test, and the test fails if it does not exit 0
or its stderr holds a sanitizer report).

Each test phase (setup, call, teardown) has a time limit enforced here
with SIGALRM (CAIRN_TEST_TIMEOUT seconds, default 60, tripled under
CAIRN_ASAN), so a hung daemon fails a test instead of hanging CI.
"""

import os
import shutil
import signal

import pytest

import harness

DEFAULT_TIMEOUT = int(os.environ.get("CAIRN_TEST_TIMEOUT", "60"))


class PhaseTimeout(Exception):
    pass


def _limit(item):
    m = item.get_closest_marker("timeout")
    t = int(m.args[0]) if m else DEFAULT_TIMEOUT
    return int(t * harness.SLOW)


def _alarm(item, phase):
    limit = _limit(item)

    def on_alarm(signum, frame):
        raise PhaseTimeout("%s of %s took longer than %ds"
                           % (phase, item.nodeid, limit))
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    return old


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    old = _alarm(item, "setup")
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = _alarm(item, "call")
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    old = _alarm(item, "teardown")
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "timeout(seconds): per-phase time limit")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the stderr of every cairnd of a failed test to its report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, d in enumerate(getattr(item, "_cairnds", [])):
            text = d.stderr()
            rep.sections.append(("cairnd %d stderr (%s)" % (i, d.dir),
                                 text[-6000:]))


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return harness.make_certs(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture
def nsd():
    d = harness.make_workdir("cairn-nsd-")
    n = harness.Nsd(d)
    yield n
    n.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake():
    f = harness.FakeUpstream()
    yield f
    f.close()


@pytest.fixture
def make_cairnd(request, certs):
    """make_cairnd(**kw) -> harness.Cairnd; stopped and checked at the
    end of the test."""
    started = []
    request.node._cairnds = started

    def factory(**kw):
        if kw.get("doh") or kw.get("dot"):
            kw.setdefault("certs", certs)
        d = harness.Cairnd(harness.make_workdir(), **kw)
        started.append(d)
        return d
    yield factory
    errors = []
    for d in started:
        try:
            d.check_stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)
    if not os.environ.get("CAIRN_KEEP"):
        for d in started:
            shutil.rmtree(d.dir, ignore_errors=True)
