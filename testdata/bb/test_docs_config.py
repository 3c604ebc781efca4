"""Black-box: the config options cairn knows are documented, and
cairn-checkconf reports errors as file:line: key: value: why.

Runs $CAIRN_BUILDDIR/cairn-checkconf (default: the repository root, two
levels up from this file).  Needs no network and no daemon.
"""
import os
import re
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("CAIRN_BUILDDIR", SRCDIR)
CHECKCONF = os.path.join(BUILDDIR, "cairn-checkconf")
MANPAGE = os.path.join(SRCDIR, "doc", "cairn.conf.5")
EXAMPLE = os.path.join(SRCDIR, "doc", "example.conf")


def run(*args):
    return subprocess.run([CHECKCONF, *args], capture_output=True,
                          text=True, timeout=30)


@pytest.fixture(scope="module")
def option_names():
    if not os.access(CHECKCONF, os.X_OK):
        pytest.fail("%s is not built (make cairn-checkconf)" % CHECKCONF)
    r = run("-l")
    assert r.returncode == 0, r.stderr
    names = r.stdout.split()
    assert len(names) > 50
    assert len(names) == len(set(names)), "an option is listed twice"
    return names


def man_text():
    with open(MANPAGE, encoding="utf-8") as f:
        # man(7) escapes the hyphens: "\-" is "-"
        return f.read().replace("\\-", "-")


def test_every_option_in_man_page(option_names):
    text = man_text()
    missing = [n for n in option_names
               if not re.search(r"^\.B %s:(\s|$)" % re.escape(n), text,
                                re.M)]
    assert missing == [], "not documented in cairn.conf.5: %s" % missing


def test_man_page_has_no_unknown_options(option_names):
    """Every '.B key:' item in the option lists is an option cairn knows
    (or a clause name, or include)."""
    known = set(option_names) | {"server", "forward-zone",
                                 "remote-control", "include"}
    documented = re.findall(r"^\.B ([a-z0-9-]+):", man_text(), re.M)
    assert documented, "no options found in cairn.conf.5"
    unknown = sorted(set(documented) - known)
    assert unknown == [], "documented but not parsed: %s" % unknown


def test_good_file(tmp_path):
    conf = tmp_path / "good.conf"
    conf.write_text(
        "server:\n"
        "\tinterface: 127.0.0.1@5353\n"
        "\tnum-threads: 2\n"
        "\taccess-control: 10.0.0.0/8 allow\n"
        "\tlocal-zone: \"example.com.\" static\n"
        "\tlocal-data: 'example.com. TXT \"hello world\"'\n"
        "forward-zone:\n"
        "\tname: \".\"\n"
        "\tforward-addr: 192.0.2.1@53\n")
    r = run(str(conf))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "cairn-checkconf: no errors in %s\n" % conf
    assert r.stderr == ""
    r = run("-o", "num-threads", str(conf))
    assert (r.returncode, r.stdout) == (0, "2\n")
    r = run("-o", "msg-cache-size", str(conf))
    assert (r.returncode, r.stdout) == (0, "4194304\n")
    r = run("-o", "do-tcp", str(conf))
    assert (r.returncode, r.stdout) == (0, "yes\n")


def test_example_conf():
    r = run(EXAMPLE)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("body,line,message", [
    ("server:\n\tverbosity: 2\n\tnum-threads: 0\n", 3,
     "num-threads: 0: must be a number from 1 to 1024"),
    ("server:\n\tno-such-option: yes\n", 2,
     "no-such-option: yes: unknown option"),
    ("server:\nstub-zone:\n\tname: x\n", 2,
     "stub-zone: unknown clause (expected server:, forward-zone: or "
     "remote-control:)"),
    ("server:\n\tdo-udp: perhaps\n", 2, "do-udp: perhaps: must be yes or no"),
    ("server:\n\tinterface: nosuch0@5353\n", 2, "interface: nosuch0@5353: "
     "no network interface nosuch0 on this host (nor is it an IP address)"),
    ("server:\n\tinterface: eth/0\n", 2, "interface: eth/0: must be an IPv4 "
     "or IPv6 address or an interface name, optionally with @port"),
    ("forward-zone:\n\tname: \"example.\"\n", 1,
     "forward-zone: example.: has no forward-addr or forward-host"),
])
def test_bad_file(tmp_path, body, line, message):
    conf = tmp_path / "bad.conf"
    conf.write_text(body)
    r = run(str(conf))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("%s:%d: %s" % (conf, line, message)), \
        r.stderr


def test_missing_file(tmp_path):
    r = run(str(tmp_path / "nonexistent.conf"))
    assert r.returncode == 1
    assert "cannot open" in r.stderr


def test_unknown_print_option(tmp_path):
    conf = tmp_path / "empty.conf"
    conf.write_text("server:\n")
    r = run("-o", "no-such-option", str(conf))
    assert r.returncode == 1
