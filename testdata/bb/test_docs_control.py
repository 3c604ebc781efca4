"""
testdata/bb/test_docs_control.py - doc/cairn-control.8 names every
control command and every statistic.

Sources of truth: the command table (REMOTE_COMMANDS in daemon/remote.h,
printed by the hidden `cairn-control --list-commands`), the counter list
(STATS_COUNTERS and STATS_HTTP_STATUSES in util/stats.h), and what a
live cairnd prints for stats_noreset after a few queries.  Names with a
variable part are looked up in their general form: threadN./total.
prefixes are dropped, num.query.type.TYPE, num.query.class.CLASS,
num.query.opcode.OPCODE, num.answer.rcode.RCODE, num.http.status.NNN,
histogram.SEC.USEC.to.SEC.USEC.
"""

import os
import re
import subprocess

import dns.message
import dns.query

from harness import REPO, program
from test_control import ControlDaemon, query

MAN = os.path.join(REPO, "doc", "cairn-control.8")


def man_text():
    with open(MAN) as f:
        t = f.read()
    # roff to plain words: escapes and font changes
    t = t.replace("\\-", "-").replace("\\&", "").replace("\\(em", " ")
    t = re.sub(r"\\f[BIRP]", "", t)
    return t


def in_man(name, text):
    return re.search(r"(?<![\w.])%s(?![\w])" % re.escape(name), text) \
        is not None


def header_names(path, pattern):
    with open(os.path.join(REPO, path)) as f:
        return re.findall(pattern, f.read())


def commands_from_header():
    with open(os.path.join(REPO, "daemon", "remote.h")) as f:
        text = f.read()
    block = text.split("#define REMOTE_COMMANDS(X)", 1)[1]
    block = block.split("\n\n", 1)[0]
    return re.findall(r"X\((\w+),", block)


def general(name):
    """The form a statistic has in the man page."""
    name = re.sub(r"^(thread\d+|total)\.", "", name)
    rules = [
        (r"^num\.query\.type\.(?!other$).+$", "num.query.type.TYPE"),
        (r"^num\.query\.class\.(?!other$).+$", "num.query.class.CLASS"),
        (r"^num\.query\.opcode\..+$", "num.query.opcode.OPCODE"),
        (r"^num\.answer\.rcode\.(?!nodata$).+$", "num.answer.rcode.RCODE"),
        (r"^num\.http\.status\.\d+$", "num.http.status.NNN"),
        (r"^histogram\.\d+\.\d+\.to\.\d+\.\d+$",
         "histogram.SEC.USEC.to.SEC.USEC"),
    ]
    for pat, repl in rules:
        if re.match(pat, name):
            return repl
    return name


def test_every_command_is_documented():
    text = man_text()
    cmds = commands_from_header()
    assert len(cmds) >= 20, cmds
    missing = [c for c in cmds if not in_man(c, text)]
    assert missing == [], "not in doc/cairn-control.8: %s" % missing


def test_list_commands_is_the_dispatch_table():
    r = subprocess.run([program("cairn-control"), "--list-commands"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    listed = r.stdout.split()
    assert listed == commands_from_header()
    text = man_text()
    assert [c for c in listed if not in_man(c, text)] == []


def test_every_counter_of_stats_h_is_documented():
    text = man_text()
    names = header_names(os.path.join("util", "stats.h"),
                         r'X\(\s*\w+,\s*"([^"]+)"\)')
    assert "num.queries" in names and len(names) > 30
    missing = [n for n in names if not in_man(n, text)]
    assert missing == [], "not in doc/cairn-control.8: %s" % missing
    with open(os.path.join(REPO, "util", "stats.h")) as f:
        block = f.read().split("#define STATS_HTTP_STATUSES(X)", 1)[1]
    codes = re.findall(r"X\((\d+)\)", block.split("\n\n", 1)[0])
    assert codes and in_man("num.http.status.NNN", text)
    # the man page lists the statuses that are counted
    for code in codes:
        assert code in text, "HTTP status %s not in the man page" % code


def test_every_printed_statistic_is_documented():
    text = man_text()
    d = ControlDaemon(threads=2)
    try:
        # make the names with a variable part appear
        for name, t in (("a.test.", "A"), ("a.test.", "AAAA"),
                        ("nx.test.", "TXT"), ("a.test.", "MX")):
            q = dns.message.make_query(name, t, use_edns=0)
            try:
                dns.query.udp(q, "127.0.0.1", port=d.port, timeout=2)
            except Exception:  # noqa: B902 - only the names matter
                pass
        query(d.port)
        out = d.ok("stats_noreset")
    finally:
        d.close()
    printed = [line.split("=", 1)[0] for line in out.splitlines()]
    assert "total.num.queries" in printed and "thread1.num.queries" in \
        printed
    missing = sorted({general(n) for n in printed
                      if not in_man(general(n), text)})
    assert missing == [], "printed but not in doc/cairn-control.8: %s" % \
        missing
