"""TLS termination (issue 7): real clients (Python ssl, openssl s_client,
curl) against a vane with a TLS listener, certificates made by the
openssl CLI into a temporary directory.

Versions (1.2 and 1.3 accepted, 1.0 and 1.1 refused), SNI over several
certificates (exact, wildcard, default), RSA and ECDSA side by side for
one name, resumption (tickets, and session IDs with tickets off), ALPN,
what reaches the backend, the cache under https, large bodies, garbage
and plain HTTP on the TLS port beside a working client, the handshake
timeout, the counters, and certificate errors at `vane -t`.
"""
import json
import socket
import ssl
import subprocess
import time

import pytest

from conftest import admin_stats, free_port, openssl, vane_bin
from httpraw import RawConn, recv_all, request

TIMEOUT = 10


def make_cert(d, name, cn, sans, kind="rsa", days=2):
    """A self-signed certificate NAME.pem with key NAME.key in d."""
    key = ["-newkey", "rsa:2048"] if kind == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    openssl("req", "-x509", *key, "-keyout", name + ".key", "-out",
            name + ".pem", "-days", str(days), "-nodes", "-subj",
            "/CN=" + cn, "-addext",
            "subjectAltName=" + ",".join("DNS:" + s for s in sans), cwd=d)
    return str(d / (name + ".pem")), str(d / (name + ".key"))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    return {
        "a": make_cert(d, "a", "a.test", ["a.test", "*.a.test"]),
        "b": make_cert(d, "b", "b.test", ["b.test"], kind="ec"),
        "c-rsa": make_cert(d, "c-rsa", "c.test", ["c.test"]),
        "c-ec": make_cert(d, "c-ec", "c.test", ["c.test"], kind="ec"),
        "dir": d,
    }


def tls_conf(certs, names=("a", "b", "c-rsa", "c-ec"), extra=""):
    return ("tls = { certificates = ( %s ); %s };\n" % (", ".join(
        '{ cert = "%s"; key = "%s"; }' % certs[n] for n in names), extra))


class TlsVane:
    def __init__(self, vane_factory, backend, certs, tls_extra="",
                 timeouts=None, extra="", names=("a", "b", "c-rsa", "c-ec"),
                 tls_listen="", redirect=False):
        self.tls_port = free_port()
        self.admin_port = free_port()
        self.redirect_port = free_port()
        more = [("127.0.0.1:%d" % self.tls_port, "tls = true; " + tls_listen)]
        if redirect:
            more.append(("127.0.0.1:%d" % self.redirect_port,
                         "redirect_https = true;"))
        self.v = vane_factory(
            [backend.address], timeouts=timeouts, more_listen=more,
            extra=tls_conf(certs, names, extra=tls_extra) +
            'admin = { address = "127.0.0.1:%d"; };\n' % self.admin_port +
            extra)

    def stats(self):
        return admin_stats(self.admin_port, timeout=TIMEOUT)

    def tls(self):
        return self.stats()["tls"]


@pytest.fixture
def tv(vane_factory, backend, certs):
    return TlsVane(vane_factory, backend, certs)


def client_ctx(minv=None, maxv=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minv is not None:
        ctx.minimum_version = minv
    if maxv is not None:
        ctx.maximum_version = maxv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_get(port, path, ctx=None, sni="a.test", session=None,
            extra_headers=b""):
    """One GET over a new TLS connection: (status, headers dict, body,
    the ssl socket's facts)."""
    ctx = ctx or client_ctx()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        with ctx.wrap_socket(s, server_hostname=sni,
                             session=session) as t:
            t.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s"
                      b"Connection: close\r\n\r\n"
                      % (path.encode(), sni.encode(), extra_headers))
            data = recv_all(t)
            facts = {"version": t.version(), "cipher": t.cipher(),
                     "alpn": t.selected_alpn_protocol(),
                     "cert": t.getpeercert(binary_form=True),
                     "session": t.session, "reused": t.session_reused}
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body, facts


def cert_cn(der):
    """The CN of a DER certificate, via openssl x509."""
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                          "-subject"], input=der, capture_output=True,
                         timeout=30, check=True).stdout.decode()
    return out.strip().split("CN", 1)[1].lstrip(" =")


def s_client(port, *args, data=b"", timeout=20):
    p = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port] + list(args),
                       input=data, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("latin-1") + \
        p.stderr.decode("latin-1")


# ----------------------------------------------------------- versions

@pytest.mark.parametrize("ver", [ssl.TLSVersion.TLSv1_2,
                                 ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_succeed(tv, ver):
    st, h, body, f = tls_get(tv.tls_port, "/echo",
                             client_ctx(minv=ver, maxv=ver))
    assert st == 200
    assert f["version"] == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                            ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[ver]
    # AEAD with forward secrecy only.
    name = f["cipher"][0]
    assert "GCM" in name or "CHACHA20" in name, name
    if ver == ssl.TLSVersion.TLSv1_2:
        assert name.startswith("ECDHE-"), name
    key = "tls_v12" if ver == ssl.TLSVersion.TLSv1_2 else "tls_v13"
    assert tv.tls()[key.split("_")[1]] >= 1


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_versions_refused(tv, flag):
    before = tv.tls()["fail_protocol"]
    # SECLEVEL=0 so that the client itself would allow them: the refusal
    # must come from vane.
    rc, out = s_client(tv.tls_port, flag, "-cipher", "DEFAULT@SECLEVEL=0",
                       "-servername", "a.test")
    assert rc != 0, out
    assert "Cipher is (NONE)" in out or "no protocols available" in out \
        or "alert" in out, out
    deadline = time.monotonic() + 5
    while tv.tls()["fail_protocol"] <= before and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert tv.tls()["fail_protocol"] == before + 1
    # The listener goes on.
    assert tls_get(tv.tls_port, "/echo")[0] == 200


# ---------------------------------------------------------------- SNI

@pytest.mark.parametrize("sni,cn", [
    ("a.test", "a.test"),
    ("www.a.test", "a.test"),      # wildcard
    ("b.test", "b.test"),
    ("B.TEST", "b.test"),          # case does not matter
    ("x.y.a.test", "a.test"),      # no match: the default (first)
    ("unknown.example", "a.test"),
])
def test_sni_picks_certificate(tv, sni, cn):
    st, _, _, f = tls_get(tv.tls_port, "/echo", sni=sni)
    assert st == 200
    assert cert_cn(f["cert"]) == cn


def test_no_sni_gets_default(tv):
    rc, out = s_client(tv.tls_port, "-noservername", data=b"Q\n")
    assert "subject=CN = a.test" in out, out


@pytest.mark.parametrize("cipher,keytype", [
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDSA"),
    ("ECDHE-RSA-AES128-GCM-SHA256", "RSA"),
])
def test_rsa_and_ecdsa_side_by_side(tv, cipher, keytype):
    rc, out = s_client(tv.tls_port, "-tls1_2", "-servername", "c.test",
                       "-cipher", cipher, data=b"Q\n")
    assert "subject=CN = c.test" in out, out
    assert ("Cipher is " + cipher) in out, out
    bits = "256 bit" if keytype == "ECDSA" else "2048 bit"
    assert "Server public key is " + bits in out, out


# --------------------------------------------------------- resumption

def test_resumption_tls13_ticket(tv):
    ctx = client_ctx(minv=ssl.TLSVersion.TLSv1_3)
    _, _, _, f1 = tls_get(tv.tls_port, "/echo", ctx)
    assert not f1["reused"] and f1["session"] is not None
    before = tv.tls()["resumed"]
    _, _, _, f2 = tls_get(tv.tls_port, "/echo", ctx, session=f1["session"])
    assert f2["reused"]
    assert tv.tls()["resumed"] == before + 1


def test_resumption_tls13_new_ticket_each_time(tv, tmp_path):
    """Each TLS 1.3 resumption brings a new ticket (clients use a ticket
    once, RFC 8446 §C.4): a chain of s_client runs, each with the session
    the previous one saved, resumes every time."""
    req = b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
    prev = None
    for i in range(4):
        out = tmp_path / ("s%d.pem" % i)
        args = ["-tls1_3", "-servername", "a.test", "-ign_eof",
                "-sess_out", str(out)]
        if prev is not None:
            args += ["-sess_in", str(prev)]
        rc, text = s_client(tv.tls_port, *args, data=req)
        assert ("Reused, TLSv1.3" if i else "New, TLSv1.3") in text, text
        assert "Post-Handshake New Session Ticket arrived" in text, text
        prev = out


def test_resumption_tls12_reconnect(tv):
    rc, out = s_client(tv.tls_port, "-tls1_2", "-servername", "a.test",
                       "-reconnect", data=b"")
    assert out.count("Reused, TLSv1.2") >= 5, out


def test_resumption_tls12_session_id_without_tickets(vane_factory, backend,
                                                     certs):
    tv = TlsVane(vane_factory, backend, certs,
                 tls_extra="session_tickets = false;")
    rc, out = s_client(tv.tls_port, "-tls1_2", "-servername", "a.test",
                       "-reconnect", data=b"")
    assert out.count("Reused, TLSv1.2") >= 5, out
    assert "TLS session ticket:" not in out


# --------------------------------------------------------------- ALPN

def test_alpn_http11(tv):
    _, _, _, f = tls_get(tv.tls_port, "/echo",
                         client_ctx(alpn=["h2", "http/1.1"]))
    assert f["alpn"] == "http/1.1"
    # A client offering only h2 gets no ALPN answer, and may go on.
    st, _, _, f = tls_get(tv.tls_port, "/echo", client_ctx(alpn=["h2"]))
    assert st == 200 and f["alpn"] is None


# ------------------------------------------------ what the backend sees

def test_backend_told_https(tv):
    st, _, body, _ = tls_get(tv.tls_port, "/echo",
                             extra_headers=b"X-Forwarded-Proto: http\r\n")
    assert st == 200
    hdrs = json.loads(body)["headers"]
    xfp = [v for k, v in hdrs if k.lower() == "x-forwarded-proto"]
    fwd = [v for k, v in hdrs if k.lower() == "forwarded"]
    assert xfp == ["https"], hdrs    # the client's own is replaced
    assert len(fwd) == 1 and "proto=https" in fwd[0], hdrs
    # The plain listener still says http.
    with RawConn(tv.v.port, timeout=TIMEOUT) as c:
        c.send(request("GET", "/echo", host="a.test"))
        r = c.read_response()
    hdrs = json.loads(r.body)["headers"]
    assert [v for k, v in hdrs if k.lower() == "x-forwarded-proto"] == \
        ["http"]


def test_cache_over_tls(tv):
    path = "/cache/tls-%d?cc=max-age%%3D600" % time.monotonic_ns()
    st, h1, b1, _ = tls_get(tv.tls_port, path)
    st2, h2, b2, _ = tls_get(tv.tls_port, path)
    assert st == st2 == 200 and b1 == b2
    assert "fwd=uri-miss" in h1.get("cache-status", ""), h1
    assert h2.get("cache-status") == "vane; hit", h2
    # https and http are two keys (the scheme is part of it).
    with RawConn(tv.v.port, timeout=TIMEOUT) as c:
        c.send(request("GET", path, host="a.test"))
        r = c.read_response()
    assert "fwd=uri-miss" in (r.header("cache-status") or ""), r.headers


@pytest.mark.parametrize("size", [1, 16383, 16385, 300000, 2000000])
def test_bodies_whole(tv, size):
    st, h, body, _ = tls_get(tv.tls_port, "/bytes/%d" % size)
    assert st == 200 and len(body) == size
    assert int(h["content-length"]) == size


def test_keepalive_many_requests(tv):
    ctx = client_ctx()
    with socket.create_connection(("127.0.0.1", tv.tls_port),
                                  timeout=TIMEOUT) as s:
        with ctx.wrap_socket(s, server_hostname="a.test") as t:
            f = t.makefile("rb")
            for i in range(50):
                t.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: a.test\r\n\r\n"
                          % (100 + i))
                status = f.readline()
                assert b" 200 " in status
                n = None
                while True:
                    ln = f.readline()
                    if ln in (b"\r\n", b""):
                        break
                    k, _, v = ln.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v)
                assert f.read(n) and n == 100 + i
    assert tv.tls()["handshakes"] >= 1


# --------------------------------------------------- bad input, timeout

def test_garbage_and_plain_http_close_only_themselves(tv):
    ctx = client_ctx()
    s = socket.create_connection(("127.0.0.1", tv.tls_port), timeout=TIMEOUT)
    t = ctx.wrap_socket(s, server_hostname="a.test")
    try:
        before = tv.tls()["fail_not_tls"]
        for junk in (b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
                     bytes(range(256)) * 4, b"\x16\x03\x01\x00\x05hello"):
            with socket.create_connection(("127.0.0.1", tv.tls_port),
                                          timeout=TIMEOUT) as g:
                g.sendall(junk)
                g.settimeout(5)
                try:
                    while g.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
            # The established client is served meanwhile.
            t.sendall(b"GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\n")
            got = t.recv(65536)
            assert got.startswith(b"HTTP/1.1 200 "), got
            # Drain the rest of this response.
            head, _, body = got.partition(b"\r\n\r\n")
            n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                     if ln.lower().startswith(b"content-length")][0])
            while len(body) < n:
                body += t.recv(65536)
        deadline = time.monotonic() + 5
        while tv.tls()["fail_not_tls"] < before + 2 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert tv.tls()["fail_not_tls"] >= before + 2
    finally:
        t.close()
    err = tv.v.stderr()
    assert "TLS handshake failed" in err and "[info]" in err


def test_handshake_timeout(vane_factory, backend, certs):
    tv = TlsVane(vane_factory, backend, certs,
                 timeouts={"client_header": "500ms"})
    with socket.create_connection(("127.0.0.1", tv.tls_port),
                                  timeout=TIMEOUT) as s:
        t0 = time.monotonic()
        s.settimeout(5)
        assert s.recv(100) == b""   # closed by vane, nothing sent
        took = time.monotonic() - t0
    assert 0.4 < took < 2.0, took
    assert tv.tls()["fail_timeout"] == 1
    assert tls_get(tv.tls_port, "/echo")[0] == 200


# --------------------------------------------------- redirect and HSTS

def raw(port, data, timeout=TIMEOUT):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return out


def test_redirect_https(vane_factory, backend, certs):
    tv = TlsVane(vane_factory, backend, certs, redirect=True)
    backend.reset()
    p = tv.redirect_port
    port = ":%d" % tv.tls_port
    cases = [
        (b"GET /a/b?x=1&y=%2F HTTP/1.1\r\nHost: shop.test:8080\r\n"
         b"Connection: close\r\n\r\n",
         301, "https://shop.test%s/a/b?x=1&y=%%2F" % port),
        (b"HEAD / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n"
         b"\r\n", 301, "https://shop.test%s/" % port),
        (b"POST /form HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 3"
         b"\r\n\r\nabc", 308, "https://shop.test%s/form" % port),
        (b"GET http://other.test/abs?q HTTP/1.1\r\nHost: other.test\r\n"
         b"Connection: close\r\n\r\n", 301,
         "https://other.test%s/abs?q" % port),
        (b"GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close"
         b"\r\n\r\n", 301, "https://[::1]%s/v6" % port),
    ]
    for req, status, loc in cases:
        out = raw(p, req)
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 %d " % status), out
        assert "Location: " + loc in lines, lines
        if req.startswith(b"HEAD"):
            assert body == b""
    # HTTP/1.0 without Host: no URL to redirect to.
    out = raw(p, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out
    # Nothing reached the backend.
    assert backend.stats()["requests"] == 0, backend.stats()


def test_hsts_on_every_tls_response(vane_factory, backend, certs):
    value = "max-age=63072000; includeSubDomains"
    tv = TlsVane(vane_factory, backend, certs,
                 tls_listen='hsts = "%s";' % value)
    path = "/cache/hsts-%d?cc=max-age%%3D600" % time.monotonic_ns()
    for p in ("/echo", path, path, "/status/404"):
        st, h, _, _ = tls_get(tv.tls_port, p)
        assert h.get("strict-transport-security") == value, (p, st, h)
    assert h["strict-transport-security"] and st == 404
    # One vane makes itself: a request it refuses.
    ctx = client_ctx()
    with socket.create_connection(("127.0.0.1", tv.tls_port),
                                  timeout=TIMEOUT) as s:
        with ctx.wrap_socket(s, server_hostname="a.test") as t:
            t.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            got = t.recv(65536)
    assert got.startswith(b"HTTP/1.1 400 "), got
    assert ("Strict-Transport-Security: " + value).encode() in got, got
    # And the answers vane gives as the final recipient (Max-Forwards: 0).
    for method, target in ((b"OPTIONS", b"*"), (b"TRACE", b"/t")):
        with socket.create_connection(("127.0.0.1", tv.tls_port),
                                      timeout=TIMEOUT) as s:
            with ctx.wrap_socket(s, server_hostname="a.test") as t:
                t.sendall(b"%s %s HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0"
                          b"\r\nConnection: close\r\n\r\n" % (method, target))
                got = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    got += chunk
        assert got.startswith(b"HTTP/1.1 200 "), got
        assert ("Strict-Transport-Security: " + value).encode() in got, got
    # Never over plain HTTP.
    with RawConn(tv.v.port, timeout=TIMEOUT) as c:
        c.send(request("GET", "/echo", host="a.test"))
        r = c.read_response()
    assert r.header("strict-transport-security") is None


# ------------------------------------------------------- mutual TLS

@pytest.fixture(scope="module")
def client_pki(tmp_path_factory):
    """A client CA, a client certificate it signed, and one from another
    CA."""
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-keyout",
                ca + ".key", "-out", ca + ".pem", "-days", "2", "-nodes",
                "-subj", "/CN=%s" % ca, cwd=d)
    for name, ca in (("alice", "ca"), ("mallory", "other-ca")):
        openssl("req", "-newkey", "rsa:2048", "-keyout", name + ".key",
                "-out", name + ".csr", "-nodes", "-subj",
                "/O=Example Org/CN=%s" % name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
                "-CAkey", ca + ".key", "-CAcreateserial", "-out",
                name + ".pem", "-days", "2", cwd=d)
    return d


def mtls_get(port, path, cert=None, extra_headers=b""):
    ctx = client_ctx()
    if cert is not None:
        ctx.load_cert_chain(str(cert) + ".pem", str(cert) + ".key")
    return tls_get(port, path, ctx, extra_headers=extra_headers)


def test_mtls(vane_factory, backend, certs, client_pki):
    tv = TlsVane(vane_factory, backend, certs,
                 tls_listen='client_ca = "%s";' % (client_pki / "ca.pem"))
    st, _, body, _ = mtls_get(tv.tls_port, "/echo", client_pki / "alice",
                              extra_headers=b"X-Client-Subject: CN=admin\r\n")
    assert st == 200
    hdrs = json.loads(body)["headers"]
    subj = [v for k, v in hdrs if k.lower() == "x-client-subject"]
    assert subj == ["CN=alice,O=Example Org"], hdrs
    before = tv.tls()["fail_client_cert"]
    # No certificate, or one another CA signed: refused in the handshake
    # (TLS 1.3 reports it after the client's Finished: at the first read).
    for who in (None, client_pki / "mallory"):
        with pytest.raises((ssl.SSLError, ConnectionResetError,
                            BrokenPipeError, ValueError, IndexError)):
            mtls_get(tv.tls_port, "/echo", who)
    deadline = time.monotonic() + 5
    while tv.tls()["fail_client_cert"] < before + 2 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert tv.tls()["fail_client_cert"] == before + 2
    # A forged subject from a client of a plain listener never passes.
    with RawConn(tv.v.port, timeout=TIMEOUT) as c:
        c.send(request("GET", "/echo", host="a.test",
                       headers=[("X-Client-Subject", "CN=admin")]))
        r = c.read_response()
    hdrs = json.loads(r.body)["headers"]
    assert not [v for k, v in hdrs if k.lower() == "x-client-subject"], hdrs


def test_mtls_session_not_resumed_elsewhere(vane_factory, backend, certs,
                                            client_pki):
    """A session from a listener that asks no certificate does not
    resume on one that does (that would skip the client's certificate):
    the handshake there is a full one, and without a certificate it
    fails."""
    open_port, mtls_port = free_port(), free_port()
    vane_factory([backend.address], more_listen=[
        ("127.0.0.1:%d" % open_port, "tls = true;"),
        ("127.0.0.1:%d" % mtls_port,
         'tls = true; client_ca = "%s";' % (client_pki / "ca.pem"))],
        extra=tls_conf(certs))
    ctx = client_ctx(minv=ssl.TLSVersion.TLSv1_3)
    _, _, _, f1 = tls_get(open_port, "/echo", ctx)
    assert f1["session"] is not None
    _, _, _, f2 = tls_get(open_port, "/echo", ctx, session=f1["session"])
    assert f2["reused"]     # it does resume where it came from
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError,
                        ValueError, IndexError)):
        tls_get(mtls_port, "/echo", ctx, session=f2["session"])


# ------------------------------------------------------- OCSP stapling

@pytest.fixture(scope="module")
def ocsp_pki(tmp_path_factory):
    """A CA, a server certificate it signed (chain file: leaf then CA), and
    OCSP responses made by the CA for it: good, and revoked."""
    d = tmp_path_factory.mktemp("ocsp")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-nodes", "-subj", "/CN=ocsp-ca",
            cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-keyout", "srv.key", "-out",
            "srv.csr", "-nodes", "-subj", "/CN=ocsp.test", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:ocsp.test\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-set_serial", "4660", "-out", "srv.pem", "-days", "2",
            "-extfile", "ext.cnf", cwd=d)
    (d / "chain.pem").write_bytes((d / "srv.pem").read_bytes() +
                                  (d / "ca.pem").read_bytes())
    openssl("ocsp", "-issuer", "ca.pem", "-cert", "srv.pem", "-reqout",
            "req.der", cwd=d)
    subject = "/CN=ocsp.test"
    for name, state in (("good", "V"), ("revoked", "R")):
        revoked = "991231235959Z" if state == "R" else ""
        (d / ("index-%s.txt" % name)).write_text(
            "%s\t301231235959Z\t%s\t1234\tunknown\t%s\n"
            % (state, revoked, subject))
        openssl("ocsp", "-index", "index-%s.txt" % name, "-rsigner",
                "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-reqin",
                "req.der", "-respout", "%s.der" % name, "-ndays", "1",
                cwd=d)
    return d


def test_ocsp_stapled(vane_factory, backend, certs, ocsp_pki):
    d = ocsp_pki
    port = free_port()
    vane_factory([backend.address],
                 more_listen=[("127.0.0.1:%d" % port, "tls = true;")],
                 extra='tls = { certificates = ( %s, { cert = "%s"; '
                       'key = "%s"; ocsp = "%s"; } ); };\n'
                       % ('{ cert = "%s"; key = "%s"; }' % certs["a"],
                          d / "chain.pem", d / "srv.key", d / "good.der"))
    rc, out = s_client(port, "-servername", "ocsp.test", "-status",
                       data=b"Q\n")
    assert "OCSP Response Status: successful" in out, out
    assert "Cert Status: good" in out, out
    # The other certificate has none: nothing stapled.
    rc, out = s_client(port, "-servername", "a.test", "-status",
                       data=b"Q\n")
    assert "OCSP response: no response sent" in out, out


def test_ocsp_config_errors(certs, ocsp_pki, tmp_path):
    d = ocsp_pki
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"not der at all")
    for resp, want in ((junk, "not a DER OCSP response"),
                       (d / "revoked.der", "the certificate is revoked"),
                       (tmp_path / "missing.der", "No such file")):
        conf = tmp_path / "o.conf"
        conf.write_text(base_conf(
            'tls = {\n certificates = (\n  { cert = "%s"; key = "%s"; '
            'ocsp = "%s"; }\n );\n};\n' % (d / "chain.pem", d / "srv.key",
                                              resp)))
        p = run_t(conf)
        err = p.stderr.decode()
        assert p.returncode == 1, err
        assert err.startswith("%s:5: ocsp %s" % (conf, resp)), err
        assert want in err, err
    # A response about another certificate (a.test's chain has no issuer,
    # so use the good one with a different leaf from the same CA).
    openssl("req", "-newkey", "rsa:2048", "-keyout", "o2.key", "-out",
            "o2.csr", "-nodes", "-subj", "/CN=other.test", cwd=tmp_path)
    openssl("x509", "-req", "-in", "o2.csr", "-CA", str(d / "ca.pem"),
            "-CAkey", str(d / "ca.key"), "-set_serial", "77", "-out",
            "o2.pem", "-days", "2", cwd=tmp_path)
    (tmp_path / "o2chain.pem").write_bytes(
        (tmp_path / "o2.pem").read_bytes() + (d / "ca.pem").read_bytes())
    conf = tmp_path / "o.conf"
    conf.write_text(base_conf(
        'tls = {\n certificates = (\n  { cert = "%s"; key = "%s"; '
        'ocsp = "%s"; }\n );\n};\n' % (tmp_path / "o2chain.pem",
                                          tmp_path / "o2.key",
                                          d / "good.der")))
    p = run_t(conf)
    assert p.returncode == 1 and b"about another certificate" in p.stderr, \
        p.stderr


# ------------------------------------------------------------- reload

def test_certificate_reload(vane_factory, backend, certs, tmp_path):
    """SIGHUP reads the certificates again: new handshakes get the new
    one, a connection made before goes on; a broken new one keeps the
    running certificate, with the reason in the log."""
    import shutil
    import signal
    d = tmp_path
    make_cert(d, "v1", "v1.test", ["r.test"])
    make_cert(d, "v2", "v2.test", ["r.test"])
    shutil.copy(d / "v1.pem", d / "r.pem")
    shutil.copy(d / "v1.key", d / "r.key")
    mine = dict(certs, r=(str(d / "r.pem"), str(d / "r.key")))
    tv = TlsVane(vane_factory, backend, mine, names=("r",))
    assert cert_cn(tls_get(tv.tls_port, "/echo", sni="r.test")[3]["cert"]) \
        == "v1.test"
    ctx = client_ctx()
    old = ctx.wrap_socket(socket.create_connection(
        ("127.0.0.1", tv.tls_port), timeout=TIMEOUT), server_hostname="r.test")
    f = old.makefile("rb")

    def old_get():
        old.sendall(b"GET /bytes/10 HTTP/1.1\r\nHost: r.test\r\n\r\n")
        assert b" 200 " in f.readline()
        while f.readline() not in (b"\r\n", b""):
            pass
        assert len(f.read(10)) == 10

    try:
        old_get()
        shutil.copy(d / "v2.pem", d / "r.pem")
        shutil.copy(d / "v2.key", d / "r.key")
        tv.v.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            cn = cert_cn(tls_get(tv.tls_port, "/echo", sni="r.test")[3][
                "cert"])
            if cn == "v2.test":
                break
            time.sleep(0.1)
        assert cn == "v2.test"
        old_get()   # made before the reload: moved to the new generation
        # A key that does not match: the running certificate stays.
        shutil.copy(d / "v1.key", d / "r.key")
        tv.v.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "keeping the running configuration" not in tv.v.stderr() and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert "does not match certificate %s" % (d / "r.pem") in \
            tv.v.stderr()
        assert cert_cn(tls_get(tv.tls_port, "/echo", sni="r.test")[3][
            "cert"]) == "v2.test"
        old_get()
    finally:
        old.close()


# -------------------------------------------------- configuration errors

def run_t(conf):
    return subprocess.run([vane_bin(), "-t", "-c", str(conf)],
                          capture_output=True, timeout=30)


def base_conf(certs_block, extra=""):
    return ('listen = ( { address = "127.0.0.1:1"; tls = true; } );\n'
            'backends = { servers = ( { address = "127.0.0.1:2"; } ); };\n'
            + certs_block + extra)


def test_config_good(certs, tmp_path):
    conf = tmp_path / "v.conf"
    conf.write_text(base_conf(tls_conf(certs)))
    p = run_t(conf)
    assert p.returncode == 0, p.stderr
    assert b"test is successful" in p.stdout


def test_config_errors(certs, tmp_path):
    d = certs["dir"]
    a_pem, a_key = certs["a"]
    b_key = certs["b"][1]
    c_key = certs["c-rsa"][1]
    cases = [
        ('{ cert = "%s"; key = "%s"; }' % (a_pem, b_key),
         "does not match certificate " + a_pem),
        ('{ cert = "%s"; key = "%s"; }' % (a_pem, c_key),
         "key %s does not match certificate %s" % (c_key, a_pem)),
        ('{ cert = "%s/missing.pem"; key = "%s"; }' % (d, a_key),
         "certificate %s/missing.pem" % d),
        ('{ cert = "%s"; key = "%s"; }' % (a_key, a_key),
         "certificate " + a_key),
    ]
    for i, (entry, want) in enumerate(cases):
        conf = tmp_path / ("v%d.conf" % i)
        conf.write_text(base_conf(
            "tls = {\n certificates = (\n  %s\n );\n};\n" % entry))
        p = run_t(conf)
        err = p.stderr.decode()
        assert p.returncode == 1, err
        assert err.startswith("%s:5: " % conf), err
        assert want in err, err
    conf = tmp_path / "ciphers.conf"
    conf.write_text(base_conf(
        'tls = { certificates = ( { cert = "%s"; key = "%s"; } );\n'
        '  ciphers = "NO-SUCH-CIPHER"; };\n' % (a_pem, a_key)))
    p = run_t(conf)
    err = p.stderr.decode()
    assert p.returncode == 1 and err.startswith("%s:4: tls.ciphers: "
                                                 % conf), err


def test_config_listener_options(certs, tmp_path):
    for listen, want in (
            ('{ address = "127.0.0.1:1"; hsts = "max-age=1"; }',
             "hsts needs tls = true"),
            ('{ address = "127.0.0.1:1"; tls = true; redirect_https = true; }',
             "redirect_https is for a plain listener"),
            ('{ address = "127.0.0.1:1"; tls = true; hsts = "1 year"; }',
             "must start with max-age=")):
        conf = tmp_path / "l.conf"
        conf.write_text("listen = (\n  %s\n);\n"
                        'backends = { servers = ( { address = '
                        '"127.0.0.1:2"; } ); };\n' % listen + tls_conf(certs))
        p = run_t(conf)
        err = p.stderr.decode()
        assert p.returncode == 1 and err.startswith("%s:2: " % conf), err
        assert want in err, err


def test_config_tls_without_certificates(tmp_path):
    conf = tmp_path / "n.conf"
    conf.write_text(base_conf(""))
    p = run_t(conf)
    err = p.stderr.decode()
    assert p.returncode == 1 and err.startswith(
        "%s:1: listen 127.0.0.1:1: tls = true needs a certificate" % conf), \
        err


def test_resumption_across_workers(vane_factory, backend, certs):
    """Four workers share the ticket keys: a session made on one resumes
    on whichever worker the next connection reaches."""
    port, admin = free_port(), free_port()
    vane_factory([backend.address], workers=4,
                 more_listen=[("127.0.0.1:%d" % port, "tls = true;")],
                 extra=tls_conf(certs) +
                 'admin = { address = "127.0.0.1:%d"; };\n' % admin)
    ctx = client_ctx(minv=ssl.TLSVersion.TLSv1_3)
    _, _, _, f = tls_get(port, "/echo", ctx)
    for i in range(20):
        _, _, _, f = tls_get(port, "/echo", ctx, session=f["session"])
        assert f["reused"], i


def test_config_expired_certificate(certs, tmp_path):
    """A certificate whose notAfter has passed: made with the Python
    cryptography package (the openssl CLI of Debian 12 cannot back-date)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(days=10))
            .not_valid_after(now - datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem, kp = tmp_path / "old.pem", tmp_path / "old.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    conf = tmp_path / "v.conf"
    conf.write_text(base_conf(
        "tls = {\n certificates = (\n  { cert = \"%s\"; key = \"%s\"; }\n"
        " );\n};\n" % (pem, kp)))
    p = run_t(conf)
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert err.startswith("%s:5: certificate %s expired on " % (conf, pem)), \
        err
