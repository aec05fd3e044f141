"""listen.proxy_protocol: a load balancer in front sends a PROXY protocol
header (v1 text or v2 binary) before anything else, naming the client;
vane takes that address as the client's. Raw sockets write the headers
byte for byte; curl (--haproxy-protocol) is the real v1 sender, in plain
HTTP and before a TLS handshake."""
import json
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import admin_stats, free_port, openssl
from httpraw import RawConn, recv_all, request

TIMEOUT = 10
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, sport, dst="127.0.0.1", dport=80, proto="TCP4"):
    return b"PROXY %s %s %s %d %d\r\n" % (proto.encode(), src.encode(),
                                          dst.encode(), sport, dport)


def v2(src=None, sport=0, dst=None, dport=0, tlvs=b"", local=False):
    """A v2 header: PROXY over TCP for src/dst (IPv4 or IPv6 by form),
    LOCAL when local."""
    if local:
        return SIG + b"\x20\x00" + struct.pack("!H", len(tlvs)) + tlvs
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    block = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) +
             struct.pack("!HH", sport, dport))
    return (SIG + b"\x21" + (b"\x21" if fam == socket.AF_INET6 else b"\x11")
            + struct.pack("!H", len(block) + len(tlvs)) + block + tlvs)


class PPVane:
    """vane with a plain and a TLS listener that take PROXY headers, an
    ordinary listener (the fixture's), an admin listener and an access
    log of the client address and port."""

    def __init__(self, vane_factory, backend, tmp_path, certs=None,
                 timeouts=None):
        self.pp_port = free_port()
        self.tls_port = free_port()
        self.admin_port = free_port()
        self.log = tmp_path / "access.log"
        more = [("127.0.0.1:%d" % self.pp_port, "proxy_protocol = true;")]
        extra = 'admin = { address = "127.0.0.1:%d"; };\n' % self.admin_port
        if certs:
            more.append(("127.0.0.1:%d" % self.tls_port,
                         "tls = true; proxy_protocol = true;"))
            extra += ('tls = { certificates = ( { cert = "%s"; '
                      'key = "%s"; } ); };\n' % certs)
        self.v = vane_factory([backend.address], more_listen=more,
                              extra=extra, timeouts=timeouts,
                              access_log=str(self.log),
                              access_format="$remote_addr $remote_port "
                              "$request_uri $status")
        self.port = self.pp_port

    def stats(self):
        return admin_stats(self.admin_port, timeout=TIMEOUT)

    def log_line(self, uri):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self.log.exists():
                for ln in self.log.read_text().splitlines():
                    if ln.split()[2] == uri:
                        return ln.split()
            time.sleep(0.05)
        raise AssertionError("no access log line for %s" % uri)


@pytest.fixture
def pv(vane_factory, backend, tmp_path):
    return PPVane(vane_factory, backend, tmp_path,
                  timeouts={"client_header": "1s"})


def echo_via(port, header, uri, split=None):
    """Send header then a GET of /echo?uri on one connection; the echoed
    request (JSON) and the response."""
    with RawConn(port, timeout=TIMEOUT) as c:
        data = header + request("GET", "/echo?" + uri)
        if split:
            for i in range(0, len(data), split):
                c.send(data[i:i + split])
                time.sleep(0.01)
        else:
            c.send(data)
        r = c.read_response()
    assert r.status == 200, r
    return json.loads(r.body), r


def field(echoed, name):
    return [v for k, v in echoed["headers"] if k.lower() == name.lower()]


def test_v1_address_is_the_clients(pv):
    e, _ = echo_via(pv.port, v1("192.0.2.7", 5555, dport=pv.port), "v1")
    assert field(e, "X-Forwarded-For") == ["192.0.2.7"]
    assert field(e, "Forwarded")[0].startswith("for=192.0.2.7;")
    assert pv.log_line("/echo?v1")[:2] == ["192.0.2.7", "5555"]


def test_v2_ipv6_with_tlvs_split_in_small_writes(pv):
    hdr = v2("2001:db8::7", 40000, "::1", 443,
             tlvs=b"\x04\x00\x00" + b"\x02\x00\x05a.com")
    e, _ = echo_via(pv.port, hdr, "v2", split=5)
    assert field(e, "X-Forwarded-For") == ["2001:db8::7"]
    assert field(e, "Forwarded")[0].startswith('for="[2001:db8::7]"')
    assert pv.log_line("/echo?v2")[:2] == ["2001:db8::7", "40000"]


def test_v2_local_and_v1_unknown_keep_the_peer(pv):
    for hdr, uri in ((v2(local=True), "local"),
                     (b"PROXY UNKNOWN\r\n", "unknown")):
        e, _ = echo_via(pv.port, hdr, uri)
        assert field(e, "X-Forwarded-For") == ["127.0.0.1"], uri
        assert pv.log_line("/echo?" + uri)[0] == "127.0.0.1"


def test_keepalive_and_pipelining_after_the_header(pv):
    """The header is once per connection: the requests after it, sent in
    the same write, are all answered, all for the proxied client."""
    with RawConn(pv.port, timeout=TIMEOUT) as c:
        c.send(v1("198.51.100.9", 1234) + request("GET", "/echo?p1") +
               request("GET", "/echo?p2"))
        bodies = [json.loads(c.read_response().body) for _ in range(2)]
        c.send(request("GET", "/echo?p3"))
        bodies.append(json.loads(c.read_response().body))
    assert [b["query"] for b in bodies] == ["p1", "p2", "p3"]
    assert all(field(b, "X-Forwarded-For") == ["198.51.100.9"]
               for b in bodies)


@pytest.mark.parametrize("data", [
    b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",      # no header at all
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n" + request("GET", "/echo"),
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + request("GET", "/echo"),
    SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12 + request("GET", "/echo"),
    b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
])
def test_no_valid_header_closes_unanswered(pv, backend, data):
    """Whatever is not a valid header closes the connection with no
    answer: an HTTP error would speak to a balancer that did not speak
    HTTP; the backend hears nothing, the counter moves."""
    before = pv.stats()["connections"]["proxy_bad"]
    backend.reset()
    with RawConn(pv.port, timeout=TIMEOUT) as c:
        c.send(data)
        assert c.closed_within(3)
        assert c.buf == b""
    assert pv.stats()["connections"]["proxy_bad"] == before + 1
    assert backend.stats()["requests"] == 0


def test_header_not_finished_in_time(pv):
    before = pv.stats()["connections"]["proxy_bad"]
    with RawConn(pv.port, timeout=TIMEOUT) as c:
        c.send(b"PROXY TCP4 192.0.2.1")
        t0 = time.monotonic()
        assert c.closed_within(4)
        assert 0.7 <= time.monotonic() - t0 < 3.5
        assert c.buf == b""
    assert pv.stats()["connections"]["proxy_bad"] == before + 1


def test_closed_mid_header_and_right_after_it(pv):
    """A half-closed connection with half a header, and one that closes
    right after a whole header: closed, vane goes on serving."""
    for data in (b"PROXY TCP4 192.0.2.1", v1("192.0.2.1", 1)):
        s = socket.create_connection(("127.0.0.1", pv.port),
                                     timeout=TIMEOUT)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            # Closed with the half header unread: the kernel resets.
            assert not data.endswith(b"\r\n")
        s.close()
    e, _ = echo_via(pv.port, v1("192.0.2.2", 2), "after")
    assert field(e, "X-Forwarded-For") == ["192.0.2.2"]


def test_ordinary_listener_takes_no_header(pv):
    """proxy_protocol is per listener: the fixture's own address serves
    plain HTTP, and a PROXY line there is a bad request."""
    with RawConn(pv.v.port, timeout=TIMEOUT) as c:
        c.send(request("GET", "/echo?plain"))
        r = c.read_response()
        assert r.status == 200
        assert field(json.loads(r.body), "X-Forwarded-For") == ["127.0.0.1"]
    with RawConn(pv.v.port, timeout=TIMEOUT) as c:
        c.send(v1("192.0.2.1", 1) + request("GET", "/echo"))
        assert c.read_response().status == 400


# --------------------------------------------------------------------------
# TLS: the header comes before the handshake

@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("ppcert")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-keyout", "k.key",
            "-out", "c.pem", "-days", "2", "-nodes", "-subj",
            "/CN=pp.test", "-addext", "subjectAltName=DNS:pp.test", cwd=d)
    return str(d / "c.pem"), str(d / "k.key")


def test_tls_after_the_header(vane_factory, backend, tmp_path, cert):
    pv = PPVane(vane_factory, backend, tmp_path, certs=cert)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", pv.tls_port),
                                  timeout=TIMEOUT) as s:
        s.sendall(v2("203.0.113.5", 6000, "127.0.0.1", pv.tls_port))
        with ctx.wrap_socket(s, server_hostname="pp.test") as t:
            t.sendall(request("GET", "/echo?tls",
                              headers=[("Connection", "close")]))
            data = recv_all(t)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    e = json.loads(body)
    assert field(e, "X-Forwarded-For") == ["203.0.113.5"]
    assert field(e, "X-Forwarded-Proto") == ["https"]
    # curl is the real sender of v1 (its own addresses: loopback).
    p = subprocess.run(
        ["curl", "-sk", "--max-time", "10", "--haproxy-protocol",
         "-o", "-", "-w", "\n%{http_code}",
         "https://127.0.0.1:%d/echo?curl" % pv.tls_port],
        capture_output=True, timeout=20, text=True)
    body, _, code = p.stdout.rpartition("\n")
    assert code == "200", (p.stdout, p.stderr)
    assert field(json.loads(body), "X-Forwarded-Proto") == ["https"]
    line = pv.log_line("/echo?curl")
    assert line[0] == "127.0.0.1" and int(line[1]) > 0
    # A TLS ClientHello without the header first is refused unanswered.
    before = pv.stats()["connections"]["proxy_bad"]
    with socket.create_connection(("127.0.0.1", pv.tls_port),
                                  timeout=TIMEOUT) as s:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            ctx.wrap_socket(s, server_hostname="pp.test")
    assert pv.stats()["connections"]["proxy_bad"] == before + 1
