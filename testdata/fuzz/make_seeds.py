#!/usr/bin/python3
"""Write the seed corpora of fuzz_config, fuzz_base64url, fuzz_request
and fuzz_upstream (testdata/fuzz/corpus/<what>/), from the shipped
configs and dnspython-built messages.  Run from anywhere:

    /usr/bin/python3 testdata/fuzz/make_seeds.py

The files it writes are committed; running it again rewrites the same
files (names are the seeds' purposes, not hashes).  Inputs the fuzzers
found later are committed next to them as they are.
"""
import base64
import glob
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def put(what, name, data):
    d = os.path.join(HERE, "corpus", what)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------ config
def config_seeds():
    for path in [os.path.join(TOP, "doc", "example.conf")] + \
            sorted(glob.glob(os.path.join(TOP, "contrib", "*.conf"))):
        with open(path) as f:
            text = f.read()
        put("config", os.path.basename(path).replace(".", "_"), text)
    put("config", "all_server", """server:
\tinterface: 127.0.0.1@5353
\tinterface: ::1
\tinterface: 127.0.0.1@853
\tinterface: 127.0.0.1@443
\tport: 5353
\tdo-ip4: yes
\tdo-ip6: no
\tnum-threads: 2
\tverbosity: 3
\tlogfile: ""
\tuse-syslog: no
\tpidfile: "/run/cairn/cairnd.pid"
\tusername: "cairn"
\tchroot: "/var/lib/cairn"
\tincoming-num-tcp: 100
\ttcp-idle-timeout: 10000
\ttcp-connection-limit: 192.0.2.0/24 10
\taccess-control: 10.0.0.0/8 allow_snoop
\taccess-control: ::0/0 refuse
\tmsg-buffer-size: 65552
\tmsg-cache-size: 16m
\tcache-max-ttl: 3600
\tcache-min-ttl: 5
\tcache-max-negative-ttl: 60
\tedns-buffer-size: 1232
\tlocal-zone: "example.lan." static
\tlocal-zone: "ads.example." always_nxdomain
\tlocal-data: "router.example.lan. 300 IN A 192.0.2.1"
\tlocal-data: 'example.lan. TXT "home network"'
\tlocal-data: "example.lan. MX 10 mail.example.lan."
\tso-reuseport: yes
\tharden-large-queries: yes
\ttls-service-key: "/var/lib/cairn/key.pem"
\ttls-service-pem: "/var/lib/cairn/cert.pem"
\ttls-port: 853
\thttps-port: 443
\ttls-ciphers: "ECDHE-RSA-AES128-GCM-SHA256"
\ttls-ciphersuites: "TLS_AES_128_GCM_SHA256"
\ttls-session-ticket-keys: "/var/lib/cairn/ticket.key"
\thttp-endpoint: "/dns-query"
\thttp-max-streams: 100
\thttp-query-buffer-size: 4m
\thttp-response-buffer-size: 4m
\thttp-nodelay: yes
\thttp-notls-downstream: no
\tproxy-protocol-port: 8443
\thttp-trusted-proxy: 127.0.0.1
\tsend-client-subnet: 192.0.2.1
\tmax-client-subnet-ipv4: 24
\tmax-client-subnet-ipv6: 56
\tclient-subnet-always-forward: no
""")
    put("config", "forward_remote", """forward-zone:
\tname: "."
\tforward-addr: 192.0.2.53
\tforward-addr: 2001:db8::53@853#dns.example.net
\tforward-tls-upstream: yes
\tforward-first: no
\tforward-no-cache: no
forward-zone:
\tname: "example.org"
\tforward-addr: 198.51.100.1@443#doh.example.org
\tforward-https-upstream: yes
\tforward-http-endpoint: "/q"
forward-zone: name: "example.net." forward-host: dns.example.net
remote-control:
\tcontrol-enable: yes
\tcontrol-interface: 127.0.0.1
\tcontrol-interface: /run/cairn.ctl
\tcontrol-port: 8953
\tcontrol-use-cert: no
\tserver-key-file: "cairn_server.key"
\tserver-cert-file: "cairn_server.pem"
\tcontrol-key-file: "cairn_control.key"
\tcontrol-cert-file: "cairn_control.pem"
""")
    put("config", "errors", """server:
\tport: 0
\tverbosity: 9
\tfoo: bar
\tlocal-data: "example.com."
\tlogfile: "/tmp/x
\tinclude: "/nonexistent/*.conf"
stub-zone:
\tname: x
server: chroot: "rel/dir"
forward-zone:
\tforward-tls-upstream: yes
\tforward-https-upstream: yes
\tmsg-cache-size: 12q
""")
    put("config", "crlf_quotes", "server:\r\n\tinterface: '127.0.0.1'\r\n"
        "\taccess-control: \"10.0.0.0/8\" 'deny'\r\n"
        "\tlocal-data: \"a.example. TXT 'x y'\"\r\n# comment\r\n"
        "server:port:53\r\n")


# ------------------------------------------------------------ base64url
def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def base64url_seeds():
    q = dns.message.make_query("www.example.com", "A")
    q.id = 0
    wire = q.to_wire()
    put("base64url", "rfc8484_query", b64u(wire))
    put("base64url", "padded", base64.urlsafe_b64encode(wire[:13]))
    put("base64url", "pad1", b"AAE=")
    put("base64url", "pad2", b"AA==")
    put("base64url", "bad_pad", b"A===")
    put("base64url", "bad_len", b"AAAAA")
    put("base64url", "bad_chars", b"ab+/cd")
    put("base64url", "inner_pad", b"AA==AAAA")
    put("base64url", "trailing_bits", b"AB")
    put("base64url", "all_chars", b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
        b"opqrstuvwxyz0123456789-_")
    put("base64url", "binary", bytes(range(256)))


# ------------------------------------------------------------ request
def req(flags, maxq, method, path, ct=b"", cl=b"", frames=b"", fwd=b""):
    return bytes([flags, maxq]) + method + b"\n" + path + b"\n" + ct + \
        b"\n" + cl + b"\n" + frames + b"\n" + fwd


def request_seeds():
    q = dns.message.make_query("www.example.com", "AAAA")
    q.id = 0
    v = b64u(q.to_wire())
    ct = b"application/dns-message"
    put("request", "get_ok", req(1, 30, b"GET", b"/dns-query?dns=" + v))
    put("request", "get_padded", req(1, 30, b"GET",
        b"/dns-query?ct&dns=" + base64.urlsafe_b64encode(q.to_wire())))
    put("request", "get_other_params", req(3, 30, b"GET",
        b"/dns-query?a=b&dns=" + v + b"&x=y", ct))
    put("request", "get_no_dns", req(1, 30, b"GET", b"/dns-query?x=1"))
    put("request", "get_bad_b64", req(1, 30, b"GET", b"/dns-query?dns=AA*A"))
    put("request", "get_too_long", req(1, 0, b"GET", b"/dns-query?dns=" +
        b"A" * 100))
    put("request", "get_short", req(1, 30, b"GET", b"/dns-query?dns=AAAA"))
    put("request", "get_404", req(1 | 64, 30, b"GET", b"/dns-query?dns=" + v))
    put("request", "root_endpoint", req(1 | 64, 30, b"GET", b"/?dns=" + v))
    put("request", "post_cl", req(7, 30, b"POST", b"/dns-query", ct, b"33",
        bytes([11])))
    put("request", "post_no_cl", req(3, 30, b"POST", b"/dns-query",
        ct + b"; charset=x", b"", bytes([10, 1, 1])))
    put("request", "post_cl_big", req(7, 1, b"POST", b"/dns-query", ct,
        b"99999999999999999999999999"))
    put("request", "post_cl_bad", req(7, 30, b"POST", b"/dns-query", ct,
        b"1e3"))
    put("request", "post_415", req(3, 30, b"POST", b"/dns-query",
        b"text/plain"))
    put("request", "post_ct_case", req(3, 30, b"POST", b"/dns-query",
        b" Application/DNS-Message \t; q=1", b"", bytes([4, 4])))
    put("request", "head_501", req(1, 30, b"HEAD", b"/dns-query"))
    put("request", "no_method", req(1, 30, b"", b"/dns-query"))
    put("request", "malformed", req(9, 30, b"GET", b"/dns-query?dns=" + v))
    put("request", "uri_too_long", req(17, 30, b"GET", b"/x"))
    put("request", "fwd_xff", req(1 | 32, 30, b"GET", b"/dns-query?dns=" + v,
        fwd=b"X-Forwarded-For: 192.0.2.1, 10.0.0.1\n"
        b"x-forwarded-for: 10.1.2.3"))
    put("request", "fwd_forwarded", req(1 | 32, 30, b"GET",
        b"/dns-query?dns=" + v,
        fwd=b'Forwarded: for="[2001:db8::1]:443";proto=https, '
        b'for=10.0.0.2\nForwarded: for=unknown'))
    put("request", "fwd_realip", req(1 | 32, 30, b"POST", b"/dns-query", ct,
        b"", bytes([12]), fwd=b"X-Real-IP: 198.51.100.7:53\n"
        b"X-Real-IP: _hidden"))
    put("request", "fwd_untrusted", req(1, 30, b"GET", b"/dns-query?dns=" + v,
        fwd=b"X-Forwarded-For: 192.0.2.9"))


# ------------------------------------------------------------ upstream
def up(flags, edns, udp, tcp=b""):
    return bytes([flags, edns]) + struct.pack(">H", len(udp)) + udp + tcp


def answer(name, rdtype, rcode=0, records=(), auth=(), add=(), tc=False,
           edns=False, aa=False, cd=False):
    q = dns.message.make_query(name, rdtype, use_edns=edns)
    q.id = 0x4d60  # fixed: the seeds are the same at every run
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    if aa:
        r.flags |= dns.flags.AA
    for sect, rrs in ((r.answer, records), (r.authority, auth),
                      (r.additional, add)):
        for text in rrs:
            sect.append(dns.rrset.from_text(*text))
    return r.to_wire()


def upstream_seeds():
    ok = 1 | 2	# ID patched, client asks the answer's question
    a = answer("example.com.", "A", records=[("example.com.", 300, "IN", "A",
               "192.0.2.1", "192.0.2.2")])
    put("upstream", "a_positive", up(ok, 0, a))
    put("upstream", "a_positive_again", up(ok | 32, 0, a))
    put("upstream", "a_joined", up(ok | 8 | 32, 0, a))
    put("upstream", "a_dnssec_cd", up(ok | 4 | 64 | 32, 8, a))
    put("upstream", "a_stream_client", up(ok | 128 | 32, 0, a))
    put("upstream", "wrong_id", up(2, 0, a))
    put("upstream", "wrong_question", up(1, 0, answer("example.org.", "A")))
    big = answer("big.example.", "TXT", records=[
        ("big.example.", 60, "IN", "TXT", '"%s"' % ("x" * 200))] * 1 + [
        ("big.example.", 60, "IN", "TXT", '"%d %s"' % (i, "y" * 100))
        for i in range(30)])
    put("upstream", "big_to_udp512", up(ok | 8, 0, big))
    put("upstream", "big_to_edns", up(ok | 32, 20, big))
    nx = answer("nope.example.", "A", rcode=3, auth=[
        ("example.", 3600, "IN", "SOA", "ns.example. host.example. 1 7200 "
         "900 1209600 300")], aa=True)
    put("upstream", "nxdomain_soa", up(ok | 32, 0, nx))
    put("upstream", "nxdomain_no_soa", up(ok | 32, 0,
        answer("nope.example.", "A", rcode=3)))
    put("upstream", "nodata", up(ok | 32, 0, answer("example.com.", "AAAA",
        auth=[("example.com.", 300, "IN", "SOA", "ns.example.com. h. 1 2 3 "
               "4 60")])))
    put("upstream", "servfail_relayed", up(ok | 8 | 4, 0,
        answer("example.com.", "A", rcode=2, edns=True)))
    put("upstream", "refused_relayed", up(ok | 8, 0,
        answer("example.com.", "MX", rcode=5)))
    put("upstream", "cname_chain", up(ok | 32, 0, answer("www.example.com.",
        "A", records=[("www.example.com.", 300, "IN", "CNAME",
                       "web.example.net."),
                      ("web.example.net.", 30, "IN", "A", "192.0.2.80")],
        add=[("ns.example.net.", 300, "IN", "A", "192.0.2.53")], edns=True)))
    put("upstream", "ttl_zero", up(ok | 32, 0, answer("example.com.", "A",
        records=[("example.com.", 0, "IN", "A", "192.0.2.1")])))
    # TC over UDP, then the full answer over TCP (framed)
    tcq = answer("example.com.", "A", tc=True)
    full = answer("example.com.", "A", records=[("example.com.", 300, "IN",
                  "A", "192.0.2.9")])
    put("upstream", "tc_then_tcp", up(ok | 16 | 32, 0, tcq,
        struct.pack(">H", len(full)) + full))
    put("upstream", "tc_then_tcp_big", up(ok | 16 | 8, 0,
        answer("big.example.", "TXT", tc=True),
        struct.pack(">H", len(big)) + big))
    put("upstream", "tc_then_tcp_short", up(ok | 16, 0, tcq,
        struct.pack(">H", len(full) + 10) + full))
    put("upstream", "tc_then_tcp_wrong_id", up(ok, 0, tcq,
        struct.pack(">H", len(full)) + full))
    put("upstream", "tc_then_tcp_two", up(ok | 16, 0, tcq,
        (struct.pack(">H", len(full)) + full) * 2))
    # the question in upper case, compression into the question
    put("upstream", "case_and_pointers", up(ok | 32, 0,
        answer("WwW.ExAmPlE.cOm.", "A", records=[("www.example.com.", 300,
               "IN", "A", "192.0.2.3")])))
    put("upstream", "opt_in_answer", up(ok, 0, a[:6] + b"\x00\x03" + a[8:] +
        b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"))
    put("upstream", "localhost_question", up(ok, 0, answer("localhost.", "A")))


def h2_answer(wire, status=b"200", ctype=b"application/dns-message",
              split=False, extra=b""):
    """The server's side of one DoH exchange on stream 1, as frames."""
    from hpack import Encoder
    from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame
    out = SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS:
                                     100}).serialize()
    out += SettingsFrame(0, flags=["ACK"]).serialize()
    hdrs = [(b":status", status)]
    if ctype:
        hdrs.append((b"content-type", ctype))
    hdrs.append((b"content-length", str(len(wire)).encode()))
    h = HeadersFrame(1, Encoder().encode(hdrs), flags=["END_HEADERS"])
    out += h.serialize() + extra
    if split:
        d1 = DataFrame(1, wire[:5])
        d2 = DataFrame(1, wire[5:], flags=["END_STREAM"])
        out += d1.serialize() + d2.serialize()
    else:
        out += DataFrame(1, wire, flags=["END_STREAM"]).serialize()
    return out


def upstream_encrypted_seeds():
    ok = 1 | 2
    a = answer("example.com.", "A", records=[("example.com.", 300, "IN", "A",
               "192.0.2.1")])
    framed = struct.pack(">H", len(a)) + a
    dot, doh = 0x80, 0xc0
    put("upstream", "dot_answer", up(ok | 16 | 32, dot, a, framed))
    put("upstream", "dot_joined", up(ok | 16 | 8, dot, a, framed))
    put("upstream", "dot_two_messages", up(ok | 16, dot, a, framed * 2))
    put("upstream", "dot_wrong_id", up(ok, dot, a, framed))
    put("upstream", "dot_short_frame", up(ok | 16, dot, a,
        struct.pack(">H", len(a) + 40) + a))
    nx = answer("nope.example.", "A", rcode=3, auth=[
        ("example.", 3600, "IN", "SOA", "ns.example. host.example. 1 7200 "
         "900 1209600 300")])
    put("upstream", "dot_nxdomain", up(ok | 16 | 32, dot + 8, nx,
        struct.pack(">H", len(nx)) + nx))
    # DoH: the DNS ID on the wire is 0
    a0 = bytes(2) + a[2:]
    put("upstream", "doh_answer", up(2 | 32, doh, a0, h2_answer(a0)))
    put("upstream", "doh_split_data", up(2 | 8, doh, a0,
        h2_answer(a0, split=True)))
    put("upstream", "doh_status_404", up(2, doh, a0,
        h2_answer(a0, status=b"404")))
    put("upstream", "doh_no_ctype", up(2, doh, a0, h2_answer(a0, ctype=None)))
    sf = bytes(2) + answer("example.com.", "A", rcode=2)[2:]
    put("upstream", "doh_servfail", up(2 | 8, doh, sf, h2_answer(sf)))
    from hyperframe.frame import GoAwayFrame, RstStreamFrame
    put("upstream", "doh_goaway", up(2, doh, a0,
        h2_answer(a0, extra=GoAwayFrame(0, last_stream_id=0,
                                       error_code=0).serialize())))
    put("upstream", "doh_rst", up(2, doh, a0,
        h2_answer(a0)[:-len(a0) - 9] +
        RstStreamFrame(1, error_code=7).serialize()))


config_seeds()
base64url_seeds()
request_seeds()
upstream_seeds()
upstream_encrypted_seeds()
