"""Config errors stop cairnd and cairn-checkconf with exit status 1 and
"file:line: key: why"; a good file passes; -o prints one option."""

import os
import shutil
import tempfile

import pytest

import harness

GOOD_HEAD = """# a comment
server:
    use-syslog: no
    logfile: ""
    pidfile: ""
    interface: 127.0.0.1@%d
"""

# (name, text after GOOD_HEAD, line number of the error, key in message)
CASES = [
    ("unknown_key", "    bogus-key: 1\n", 7, "bogus-key"),
    ("bad_number", "    num-threads: many\n", 7, "num-threads"),
    ("bad_bool", "    do-udp: perhaps\n", 7, "do-udp"),
    ("port_range", "    port: 70000\n", 7, "port"),
    ("negative", "    tcp-idle-timeout: -5\n", 7, "tcp-idle-timeout"),
    ("bad_size", "    msg-cache-size: 12q\n", 7, "msg-cache-size"),
    ("bad_acl_action", "    access-control: 10.0.0.0/8 permit\n", 7,
     "access-control"),
    ("bad_netblock", "    access-control: 10.0.0.0/99 allow\n", 7,
     "access-control"),
    ("bad_zone_type", '    local-zone: "x.lab." sometimes\n', 7,
     "local-zone"),
    ("bad_local_data", '    local-data: "x.lab. A not-an-address"\n', 7,
     "local-data"),
    ("unknown_clause", "\nbogus-clause:\n    name: x\n", 8,
     "bogus-clause"),
    ("forward_key_in_server", "    forward-addr: 127.0.0.1\n", 7,
     "forward-addr"),
    ("bad_forward_addr", 'forward-zone:\n    name: "."\n'
     "    forward-addr: 999.1.1.1\n", 9, "forward-addr"),
]


@pytest.fixture
def tmpdir_short():
    d = tempfile.mkdtemp(prefix="cairn-cfg-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write(d, name, text):
    p = os.path.join(d, name + ".conf")
    with open(p, "w") as f:
        f.write(text)
    return p


def check_error(r, path, line, key):
    assert r.returncode == 1, "exit %r\n%s%s" % (r.returncode, r.stdout,
                                                 r.stderr)
    want = "%s:%d: %s:" % (path, line, key)
    assert want in r.stderr, "%r not in stderr:\n%s" % (want, r.stderr)


@pytest.mark.parametrize("name,tail,line,key", CASES,
                         ids=[c[0] for c in CASES])
def test_checkconf_rejects(tmpdir_short, name, tail, line, key):
    p = write(tmpdir_short, name, GOOD_HEAD % harness.free_port() + tail)
    r = harness.run([harness.program("cairn-checkconf"), p])
    check_error(r, p, line, key)


@pytest.mark.parametrize("name,tail,line,key", CASES,
                         ids=[c[0] for c in CASES])
def test_cairnd_refuses_to_start(tmpdir_short, name, tail, line, key):
    port = harness.free_port()
    p = write(tmpdir_short, name, GOOD_HEAD % port + tail)
    r = harness.run([harness.program("cairnd"), "-d", "-c", p], timeout=15)
    check_error(r, p, line, key)
    # and nothing listens
    assert harness.udp(harness.make_query("localhost."), port,
                       timeout=0.3) is None


def test_error_in_included_file_names_that_file(tmpdir_short):
    inc = write(tmpdir_short, "inc", "server:\n    verbosity: 1\n"
                "    no-such-option: yes\n")
    p = write(tmpdir_short, "main", GOOD_HEAD % harness.free_port() +
              '    include: "%s"\n' % inc)
    r = harness.run([harness.program("cairn-checkconf"), p])
    check_error(r, inc, 3, "no-such-option")


def test_missing_file(tmpdir_short):
    p = os.path.join(tmpdir_short, "nope.conf")
    r = harness.run([harness.program("cairn-checkconf"), p])
    assert r.returncode == 1
    assert p in r.stderr
    r = harness.run([harness.program("cairnd"), "-d", "-c", p], timeout=15)
    assert r.returncode == 1
    assert p in r.stderr


def test_good_file_passes(tmpdir_short):
    p = write(tmpdir_short, "good", GOOD_HEAD % harness.free_port() + """
    port: 5353
    num-threads: 2
    msg-cache-size: 8m
    access-control: 10.0.0.0/8 allow
    local-zone: "x.lab." static
    local-data: 'x.lab. TXT "a \\"quoted\\" word" "b"'
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@53
    forward-addr: ::1
""")
    r = harness.run([harness.program("cairn-checkconf"), p])
    assert r.returncode == 0, r.stderr + r.stdout


@pytest.mark.parametrize("key,value,want", [
    ("port", "5353", "5353"),
    ("num-threads", "2", "2"),
    ("msg-cache-size", "8m", str(8 * 1024 * 1024)),
    ("http-endpoint", '"/dns-query"', "/dns-query"),
])
def test_checkconf_o_prints_value(tmpdir_short, key, value, want):
    p = write(tmpdir_short, "o", "server:\n    %s: %s\n" % (key, value))
    r = harness.run([harness.program("cairn-checkconf"), "-o", key, p])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == want


def test_checkconf_o_default(tmpdir_short):
    p = write(tmpdir_short, "o", "server:\n    verbosity: 1\n")
    for key, want in (("http-max-streams", "100"),
                      ("incoming-num-tcp", "10"),
                      ("tcp-idle-timeout", "30000"),
                      ("edns-buffer-size", "1232"),
                      ("msg-buffer-size", "65552")):
        r = harness.run([harness.program("cairn-checkconf"), "-o", key, p])
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == want, key


def test_checkconf_o_unknown(tmpdir_short):
    p = write(tmpdir_short, "o", "server:\n    verbosity: 1\n")
    r = harness.run([harness.program("cairn-checkconf"), "-o", "nope", p])
    assert r.returncode == 1


def test_cairnd_V(tmpdir_short):
    r = harness.run([harness.program("cairnd"), "-V"])
    assert r.returncode == 0
    out = r.stdout + r.stderr
    assert "0.1" in out
    assert "libevent" in out.lower() and "openssl" in out.lower()
    assert "doh" in out.lower()


def _tls_conf(d, certs, key, pem):
    port = harness.free_port()
    return write(d, "tls", GOOD_HEAD % harness.free_port() + """
    interface: 127.0.0.1@%d
    https-port: %d
    tls-service-key: "%s"
    tls-service-pem: "%s"
""" % (port, port, key, pem))


@pytest.mark.parametrize("which,reason", [
    ("mismatch", "key values mismatch"),
    ("missing_key", "No such file or directory"),
    ("missing_pem", "No such file or directory"),
    ("garbage_key", "could not read: "),
    ("garbage_pem", "could not read: ")])
def test_bad_tls_key_or_cert_stops_start(tmpdir_short, certs, which,
                                         reason):
    """The file name and OpenSSL's reason ("key values mismatch", the
    system error, or the decoder's complaint) are on stderr."""
    key, pem = certs["key"], certs["cert"]
    if which == "mismatch":
        key = certs["other_key"]
        named = key
    elif which.endswith("_key"):
        key = os.path.join(tmpdir_short, "nokey.pem")
        named = key
    else:
        pem = os.path.join(tmpdir_short, "nocert.pem")
        named = pem
    if which.startswith("garbage"):
        with open(named, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n"
                    "-----END PRIVATE KEY-----\n")
    p = _tls_conf(tmpdir_short, certs, key, pem)
    r = harness.run([harness.program("cairnd"), "-d", "-c", p], timeout=15)
    assert r.returncode == 1, r.stderr
    line = [x for x in r.stderr.splitlines() if named in x]
    assert line, r.stderr
    assert reason in line[0], r.stderr
    # OpenSSL's words follow, not only ours
    assert line[0].split(reason, 1)[1].strip() or \
        not reason.endswith(": "), r.stderr
