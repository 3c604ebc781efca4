"""Certificate rotation without restart (issue 8).

SIGHUP and `cairn-control reload` read tls-service-key/tls-service-pem
again: new DoT and DoH connections get the new certificate, connections
opened before go on (on the old one), and a key that cannot be read or
does not match the certificate keeps the old context, with the reason in
the log, while the daemon keeps serving.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess

import harness
from harness import SLOW, H2Client, make_query


def _cert_set(base, name):
    d = os.path.join(base, name)
    return harness.make_certs(d)


def _install(src, live):
    """Replace the live key and certificate files atomically (as a
    certificate manager would)."""
    for k in ("key", "cert"):
        tmp = live[k] + ".new"
        shutil.copyfile(src[k], tmp)
        os.replace(tmp, live[k])


def _peer_cert(port, alpn):
    """DER of the certificate a new TLS connection is given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    raw = socket.create_connection(("127.0.0.1", port), 3.0 * SLOW)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        try:
            return s.getpeercert(binary_form=True)
        finally:
            s.close()
    finally:
        raw.close()


def _der(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def _h2_ok(c):
    st = c.query(make_query("localhost.").to_wire())
    msg = harness.parse_answer(st)
    return harness.a_addrs(msg) == {"127.0.0.1"}


def _setup(make_cairnd, server_lines=""):
    base = harness.make_workdir("cairn-cert-")
    a = _cert_set(base, "a")
    b = _cert_set(base, "b")
    live_dir = os.path.join(base, "live")
    os.makedirs(live_dir)
    live = dict(a)
    live["key"] = os.path.join(live_dir, "server.key")
    live["cert"] = os.path.join(live_dir, "server.pem")
    _install(a, live)
    d = make_cairnd(doh=True, dot=True, certs=live,
                    server_lines=server_lines)
    return base, a, b, live, d


def _log_has(d, text):
    return text in d.stderr()


def test_sighup_rotates_certificate_and_keeps_connections(make_cairnd):
    base, a, b, live, d = _setup(make_cairnd)
    try:
        assert _peer_cert(d.https_port, "h2") == _der(a["cert"])
        assert _peer_cert(d.tls_port, "dot") == _der(a["cert"])
        old = H2Client(d.https_port, a["ca"])
        dot_old = harness.TcpConn(d.tls_port, tls=a["ca"], alpn=["dot"],
                                  timeout=3.0 * SLOW)
        try:
            assert _h2_ok(old)
            assert dot_old.query(make_query("localhost.")) is not None
            pid = d.proc.pid
            _install(b, live)
            d.signal(signal.SIGHUP)
            harness.wait_until(
                lambda: _peer_cert(d.https_port, "h2") == _der(b["cert"]),
                5 * SLOW, step=0.1, what="new certificate on DoH")
            assert _peer_cert(d.tls_port, "dot") == _der(b["cert"])
            # the connections opened before go on, on certificate A
            assert _der(a["cert"]) == old.sock.getpeercert(binary_form=True)
            for _ in range(3):
                assert _h2_ok(old)
            assert dot_old.query(make_query("localhost.")) is not None
            # a client trusting only B's CA gets through now
            with H2Client(d.https_port, b["ca"]) as c:
                assert _h2_ok(c)
            assert d.alive() and d.proc.pid == pid

            # break the key: the daemon keeps B and says why
            with open(live["key"], "w") as f:
                f.write("-----BEGIN PRIVATE KEY-----\nbroken\n"
                        "-----END PRIVATE KEY-----\n")
            d.signal(signal.SIGHUP)
            harness.wait_until(
                lambda: _log_has(d, "the old certificate stays"),
                5 * SLOW, step=0.1, what="log of the unusable key")
            assert d.alive()
            assert _peer_cert(d.https_port, "h2") == _der(b["cert"])
            with H2Client(d.https_port, b["ca"]) as c:
                assert _h2_ok(c)
            assert _h2_ok(old)
            assert harness.a_addrs(d.udp("localhost.")) == {"127.0.0.1"}
        finally:
            old.close()
            dot_old.close()
        d.check_doh_counters(expected_https=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_reload_with_mismatched_or_missing_key_keeps_old(make_cairnd):
    base, a, b, live, d = _setup(make_cairnd)
    ctl = [harness.program("cairn-control"), "-c", d.conf, "reload"]
    try:
        # B's certificate with A's key: a mismatch
        shutil.copyfile(b["cert"], live["cert"])
        r = subprocess.run(ctl, capture_output=True, text=True,
                           timeout=20 * SLOW)
        assert r.returncode == 0, r.stderr
        harness.wait_until(
            lambda: _log_has(d, "the old certificate stays"),
            5 * SLOW, step=0.1, what="log of the mismatched key")
        assert _peer_cert(d.https_port, "h2") == _der(a["cert"])
        with H2Client(d.https_port, a["ca"]) as c:
            assert _h2_ok(c)
        # the key file gone entirely
        n = d.stderr().count("the old certificate stays")
        os.unlink(live["key"])
        r = subprocess.run(ctl, capture_output=True, text=True,
                           timeout=20 * SLOW)
        assert r.returncode == 0, r.stderr
        harness.wait_until(
            lambda: d.stderr().count("the old certificate stays") > n,
            5 * SLOW, step=0.1, what="log of the missing key")
        assert _peer_cert(d.tls_port, "dot") == _der(a["cert"])
        assert d.alive()
        # fixed: B is taken
        _install(b, live)
        r = subprocess.run(ctl, capture_output=True, text=True,
                           timeout=20 * SLOW)
        assert r.returncode == 0, r.stderr
        harness.wait_until(
            lambda: _peer_cert(d.https_port, "h2") == _der(b["cert"]),
            5 * SLOW, step=0.1, what="certificate B after the fix")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_config_change_with_broken_key_applies_config_keeps_cert(
        make_cairnd):
    base, a, b, live, d = _setup(
        make_cairnd, server_lines='local-data: "rot.lab. A 192.0.2.1"')
    try:
        assert harness.a_addrs(d.udp("rot.lab.")) == {"192.0.2.1"}
        with open(live["key"], "w") as f:
            f.write("not a key\n")
        d.write_config(d.config_text('local-data: "rot.lab. A 192.0.2.2"'))
        d.signal(signal.SIGHUP)
        harness.wait_until(
            lambda: harness.a_addrs(d.udp("rot.lab.", timeout=0.5) or
                                    _empty()) == {"192.0.2.2"},
            5 * SLOW, step=0.1, what="new local-data")
        assert _log_has(d, "the old certificate stays")
        assert _peer_cert(d.https_port, "h2") == _der(a["cert"])
        with H2Client(d.https_port, a["ca"]) as c:
            assert _h2_ok(c)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _empty():
    import dns.message
    return dns.message.make_response(make_query("x."))
