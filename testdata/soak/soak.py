#!/usr/bin/python3
"""testdata/soak/soak.py - a mixed load against a cairnd it starts.

    CAIRN_BUILDDIR=b /usr/bin/python3 testdata/soak/soak.py [SECONDS]

SECONDS (else $SOAK_SECONDS, else 600) of: UDP, TCP (a new connection now
and then), DoT, DoH POST and GET on kept connections that are reopened
every few hundred queries, DoH streams reset by the client while their
query is upstream, and in the middle a `cairn-control reload` (config
unchanged: connections kept) and a SIGHUP with a changed config (the
workers restart: clients reconnect).  Names come from a fixed set, so the
cache fills during warm-up and stays.

Checks: every query is answered (a failed one is retried once on a new
connection, as a client would after a reload closed it; failing twice is
an error), cairnd stays alive, its RSS (sampled every 2 s) is flat after
warm-up (the last third's maximum <= 1.2 x the first third's, skipped
under CAIRN_ASAN), mem.http.* are 0 at the end, and cairnd exits 0 on
SIGTERM with no sanitizer report.  Exit status 0 when all hold.

Uses testdata/bb/harness.py (Cairnd, FakeUpstream, H2Client, certs).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bb"))

import harness  # noqa: E402
from harness import H2Client, TcpConn, make_query  # noqa: E402

NAMES = 400             # distinct upstream names (cache fills, stays)
RSS_STEP = 2.0          # seconds between RSS samples


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Load(threading.Thread):
    """One kind of client, looping until 'stop'."""

    def __init__(self, kind, d, certs, stop, pause):
        super().__init__(daemon=True, name=kind)
        self.kind = kind
        self.d = d
        self.certs = certs
        self.stop_ev = stop
        self.pause = pause
        self.ok = 0
        self.retried = 0
        self.errors = []
        self.conn = None
        self.uses = 0

    def qname_of(self, i):
        return "n%d.soak.lab." % (i % NAMES)

    def _close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _query(self, i):
        d = self.d
        q = make_query(self.qname_of(i), "A" if i % 3 else "AAAA")
        t = 3.0 * harness.SLOW
        if self.kind == "udp":
            return harness.udp_msg(q, d.port, timeout=t)
        if self.kind == "tcp":
            if self.conn is None or self.uses >= 50:
                self._close()
                self.conn = TcpConn(d.port, timeout=t)
                self.uses = 0
            self.uses += 1
            m = self.conn.query(q)
            if m is None:
                raise harness.HarnessError("TCP closed")
            return m
        if self.kind == "dot":
            if self.conn is None or self.uses >= 200:
                self._close()
                self.conn = TcpConn(d.tls_port, timeout=t,
                                    tls=self.certs["ca"], alpn=["dot"],
                                    host="127.0.0.1")
                self.uses = 0
            self.uses += 1
            m = self.conn.query(q)
            if m is None:
                raise harness.HarnessError("DoT closed")
            return m
        # doh-post, doh-get, doh-reset
        if self.conn is None or self.conn.closed or self.conn.goaway or \
                self.uses >= 300:
            self._close()
            self.conn = H2Client(d.https_port, self.certs["ca"], timeout=3)
            # Nagle off, as a real DoH client has it (else ~40 ms a query)
            self.conn.sock.setsockopt(socket.IPPROTO_TCP,
                                      socket.TCP_NODELAY, 1)
            self.uses = 0
        self.uses += 1
        c = self.conn
        if self.kind == "doh-reset" and i % 2 == 0:
            # a stream reset while its query is upstream (slow name)
            sid = c.post(make_query("slow%d.soak.lab." % (i % 50)).to_wire())
            c.wait_for(lambda: False, 0.02)
            c.send_rst(sid, 8)
            return "reset"
        wire = q.to_wire()
        st = c.wait(c.get(wire) if self.kind == "doh-get" else c.post(wire))
        return harness.parse_answer(st)

    def run(self):
        for i in range(10 ** 8):
            if self.stop_ev.is_set():
                break
            for attempt in (0, 1):
                try:
                    m = self._query(i)
                    if m != "reset" and (m is None or m.rcode() != 0):
                        raise harness.HarnessError("bad answer %r" % (m,))
                    self.ok += 1
                    break
                except Exception as e:  # noqa: B902 - all count
                    self._close()
                    if attempt == 0:
                        self.retried += 1
                        time.sleep(0.05)
                        continue
                    self.errors.append("%s #%d: %r" % (self.kind, i, e))
            time.sleep(self.pause)
        self._close()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else \
        float(os.environ.get("SOAK_SECONDS", "600"))
    work = harness.make_workdir("cairn-soak-")
    certs = harness.make_certs(os.path.join(work, "certs"))
    fake = harness.FakeUpstream()
    for k in range(50):
        fake.set("slow%d.soak.lab." % k, "answer", delay=0.3)
    lines = ("incoming-num-tcp: 200\n"
             "tcp-idle-timeout: 10000\n"
             "msg-cache-size: 4m\n")
    os.makedirs(os.path.join(work, "d"))
    d = harness.Cairnd(os.path.join(work, "d"), upstream=fake.port,
                       doh=True, dot=True, certs=certs, server_lines=lines)
    pid = d.proc.pid
    stop = threading.Event()
    loads = [Load(k, d, certs, stop, p) for k, p in (
        ("udp", 0.002), ("tcp", 0.005), ("dot", 0.005),
        ("doh-post", 0.005), ("doh-get", 0.005), ("doh-reset", 0.01))]
    rss = []
    problems = []
    t0 = time.monotonic()
    reloaded = sighup = False
    for t in loads:
        t.start()
    try:
        for _ in range(int(seconds / RSS_STEP) + 100):
            el = time.monotonic() - t0
            if el >= seconds:
                break
            if not d.alive():
                problems.append("cairnd died: %s" % d.proc.returncode)
                break
            rss.append((round(el, 1), rss_kb(pid)))
            if not reloaded and el >= seconds / 2:
                reloaded = True
                r = subprocess.run([harness.program("cairn-control"), "-c",
                                    d.conf, "reload"], capture_output=True,
                                   text=True, timeout=30)
                if r.returncode != 0:
                    problems.append("reload: %s" % r.stderr)
            if not sighup and el >= seconds * 0.6:
                sighup = True
                d.write_config(d.config_text(
                    lines + 'local-data: "soak.local. A 192.0.2.7"'))
                d.signal(signal.SIGHUP)
            time.sleep(min(RSS_STEP, max(0.0, seconds - el)))
    finally:
        stop.set()
        for t in loads:
            t.join(30)
    if d.alive():
        if harness.a_addrs(d.udp("soak.local.")) != {"192.0.2.7"}:
            problems.append("the SIGHUP reload was not applied")
        try:
            d.check_doh_counters(expected_https=False, timeout=10)
        except AssertionError as e:
            problems.append(str(e))
    rc = d.stop(30)
    rep = d.sanitizer_report()
    fake.close()

    total = sum(t.ok for t in loads)
    print("soak: %.0f s, %d queries answered (%s)" % (
        seconds, total, ", ".join("%s %d" % (t.kind, t.ok) for t in loads)))
    print("soak: retried once after a closed connection: %s" % ", ".join(
        "%s %d" % (t.kind, t.retried) for t in loads))
    print("soak: RSS kB (s, kB): %s" % " ".join(
        "%s:%d" % x for x in rss))
    for t in loads:
        if t.errors:
            problems.append("%d %s errors, first: %s" % (
                len(t.errors), t.kind, t.errors[:3]))
        if t.ok == 0:
            problems.append("%s: nothing answered" % t.kind)
    if rss and len(rss) >= 6:
        n = len(rss)
        first = max(k for _s, k in rss[:n // 3])
        last = max(k for _s, k in rss[-(n // 3):])
        print("soak: RSS first-third max %d kB, last-third max %d kB "
              "(%.2fx)" % (first, last, last / first if first else 0))
        if not harness.ASAN and last > 1.2 * first:
            problems.append("RSS grew: %d -> %d kB" % (first, last))
    if rc != 0:
        problems.append("cairnd exit status %r" % rc)
    if rep:
        problems.append("sanitizer report:\n" + rep[-4000:])
    if problems:
        print("soak: FAILED\n  " + "\n  ".join(problems))
        print("soak: cairnd stderr kept in %s" % d.stderr_path)
        return 1
    print("soak: OK")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
