"""The cairnd configs of bench/run (cairnd, cairnd-qpp16, cairnd-bw200):
a column of the benchmark is only what its config says.  Each is
written as bench/run writes it, checked with cairn-checkconf (the
option that makes the variant has its value), and served: a miss over
UDP and one over DoH are answered through the upstream it names."""
import importlib.machinery
import importlib.util
import os

import dns.rcode
import pytest

import harness
from harness import H2Client, make_query, parse_answer


def bench_run():
    path = os.path.join(harness.REPO, "bench", "run")
    ld = importlib.machinery.SourceFileLoader("bench_run", path)
    spec = importlib.util.spec_from_loader("bench_run", ld)
    mod = importlib.util.module_from_spec(spec)
    ld.exec_module(mod)     # defines only: main() runs under __main__
    return mod


@pytest.mark.parametrize("name,option,value", [
    ("cairnd", "batch-wait-usec", "100"),
    ("cairnd-bw0", "batch-wait-usec", "0"),
    ("cairnd-qpp16", "outgoing-queries-per-port", "16"),
    ("cairnd-bw200", "batch-wait-usec", "200"),
])
def test_bench_config_serves(make_cairnd, fake, certs, name, option,
                             value):
    br = bench_run()
    https = harness.free_port()
    # "@PORT@": the harness puts its UDP port there
    text = br.CONFS[name](None, dict(
        u="@PORT@", h=https, key=certs["key"], pem=certs["cert"],
        nsd=fake.port, tcp=100))
    d = make_cairnd(raw_config=text, control=False)
    r = harness.run([harness.program("cairn-checkconf"), "-o", option,
                     d.conf])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == value
    m = d.udp("udp.bench-config.lab.")
    assert m is not None and m.rcode() == dns.rcode.NOERROR, m
    assert harness.a_addrs(m) == {"192.0.2.1"}
    with H2Client(https, certs["ca"]) as c:
        st = c.wait(c.post(make_query("doh.bench-config.lab.",
                                      qid=0).to_wire()))
        assert harness.a_addrs(parse_answer(st)) == {"192.0.2.1"}
    assert fake.count("udp.bench-config.lab.") == 1
    assert fake.count("doh.bench-config.lab.") == 1
