"""TLS to backend servers (issue 7, "Backend TLS"): vane in front of a
uvicorn that serves https with a certificate from a test CA made by the
openssl CLI (subjectAltName DNS:backend.test and IP:127.0.0.1).

Verified requests (by tls_server_name and by the address's IP), pooled
reuse (the backend counts its connections), session resumption when
every request needs a new connection, and the failures, each a connect
failure of that server with one log line giving the reason: a CA that
did not sign the certificate, a wrong name, a server that speaks plain
HTTP. tls_verify = false against an unknown CA; vane -t with a missing
or empty tls_ca; a retry from a failing TLS server to a good one; health
checks over TLS.
"""
import hashlib
import json
import re
import socket
import ssl
import subprocess
import time

import pytest
import requests

from conftest import (UvicornBackend, admin_stats, free_port, openssl,
                      vane_bin)
from httpraw import request

TIMEOUT = 10


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            name + ".key", "-out", name + ".pem", "-days", "2", "-subj",
            "/CN=" + name, cwd=d)
    return str(d / (name + ".pem"))


def make_leaf(d, name, ca, sans):
    """A certificate NAME.pem (key NAME.key) signed by CA."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
            name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
            cwd=d)
    (d / (name + ".ext")).write_text("subjectAltName=%s\n" % sans)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
            "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".pem",
            "-days", "2", "-extfile", name + ".ext", cwd=d)
    return str(d / (name + ".pem")), str(d / (name + ".key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d, "ca")
    other = make_ca(d, "other")
    cert, key = make_leaf(d, "backend", "ca",
                          "DNS:backend.test,IP:127.0.0.1")
    (d / "empty.pem").write_text("no certificate here\n")
    return {"ca": ca, "other": other, "cert": cert, "key": key, "dir": d,
            "empty": str(d / "empty.pem")}


@pytest.fixture(scope="module")
def tls_backend(pki, tmp_path_factory):
    b = UvicornBackend("tls", tmp_path_factory.mktemp("uvtls"),
                       tls=(pki["cert"], pki["key"], pki["ca"]))
    try:
        b.wait_ready()
    except Exception:
        b.stop()
        raise
    yield b
    b.stop()


class TV:
    """A vane with an admin listener, in front of the given servers."""

    def __init__(self, vane_factory, servers, server_opts, backend_opts="",
                 extra="", **kw):
        self.admin_port = free_port()
        self.v = vane_factory(
            servers, server_opts=server_opts, backend_opts=backend_opts,
            extra='admin = { address = "127.0.0.1:%d"; };\n'
            % self.admin_port + extra, **kw)

    def get(self, path="/echo", timeout=TIMEOUT):
        with self.v.conn(timeout=timeout) as c:
            c.send(request("GET", path))
            return c.read_response()

    def stats(self):
        return admin_stats(self.admin_port, timeout=TIMEOUT)

    def backend(self):
        return self.stats()["backend"]

    def wait_log(self, pattern, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.v.stderr())
            if m:
                return m
            time.sleep(0.05)
        pytest.fail("no log line matching %r in:\n%s" %
                    (pattern, self.v.stderr()[-3000:]))


def opts(pki, **kw):
    o = {"tls": True, "tls_ca": pki["ca"]}
    o.update(kw)
    return o


# ------------------------------------------------------------ success

def test_verified_by_name_and_pooled(vane_factory, tls_backend, pki):
    tls_backend.reset()
    tv = TV(vane_factory, [tls_backend.address],
            {tls_backend.address: opts(pki,
                                       tls_server_name="backend.test")})
    for i in range(30):
        r = tv.get("/echo/%d" % i)
        assert r.status == 200, r.body
        assert r.header("x-backend") == "tls"
        echo = json.loads(r.body)
        assert echo["path"] == "/echo/%d" % i
    # Pooled and reused like plain connections: one worker, sequential
    # requests, so one connection carries them all.
    assert tls_backend.stats()["connections"] == 1
    b = tv.backend()
    assert b["tls_handshakes"] == 1
    assert b["reused"] == 29
    assert b["errors"] == 0 and b["tls_failures"] == 0


def test_default_name_is_the_address_ip(vane_factory, tls_backend, pki):
    # No tls_server_name: 127.0.0.1 is checked against the iPAddress
    # subjectAltName (and no SNI is sent for an address).
    tv = TV(vane_factory, [tls_backend.address],
            {tls_backend.address: opts(pki)})
    assert tv.get().status == 200
    assert tv.backend()["tls_handshakes"] == 1


def test_reconnects_resume_the_session(vane_factory, tls_backend, pki):
    # keepalive = 0: every request opens a connection; all but the first
    # resume the session the server gave the one before.
    tv = TV(vane_factory, [tls_backend.address],
            {tls_backend.address: opts(pki,
                                       tls_server_name="backend.test")},
            keepalive=0)
    for _ in range(6):
        assert tv.get().status == 200
    b = tv.backend()
    assert b["connects"] == 6
    assert b["tls_handshakes"] == 6
    assert b["tls_resumed"] >= 4, b


def test_verify_false_accepts_an_unknown_ca(vane_factory, tls_backend, pki):
    tv = TV(vane_factory, [tls_backend.address],
            {tls_backend.address: opts(pki, tls_ca=pki["other"],
                                       tls_server_name="wrong.test",
                                       tls_verify=False)})
    assert tv.get().status == 200


def test_post_body_over_tls(vane_factory, tls_backend, pki):
    tv = TV(vane_factory, [tls_backend.address],
            {tls_backend.address: opts(pki)})
    body = bytes(range(256)) * 1024
    with tv.v.conn() as c:
        c.send(request("POST", "/echo", body=body))
        r = c.read_response()
    assert r.status == 200
    echo = json.loads(r.body)
    assert echo["body_length"] == len(body)
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()


# ----------------------------------------------------------- failures

def failing(vane_factory, tls_backend, pki, **o):
    return TV(vane_factory, [tls_backend.address],
              {tls_backend.address: opts(pki, **o)},
              backend_opts="retries = 0; ",
              timeouts={"backend_connect": "5s"})


def test_wrong_ca_is_502_with_the_reason(vane_factory, tls_backend, pki):
    tv = failing(vane_factory, tls_backend, pki, tls_ca=pki["other"])
    t0 = time.monotonic()
    r = tv.get()
    assert r.status == 502
    assert time.monotonic() - t0 < 2
    line = tv.wait_log(r"backend 127\.0\.0\.1:%d: TLS handshake: "
                       r"certificate verify failed: ([^\n]*)" %
                       tls_backend.port).group(0)
    assert "unable to get local issuer certificate" in line
    b = tv.backend()
    assert b["errors"] == 1 and b["tls_failures"] == 1
    assert b["tls_handshakes"] == 0
    # One line per failure, not one per step.
    assert tv.v.stderr().count("TLS handshake: certificate verify") == 1


def test_wrong_server_name_is_502(vane_factory, tls_backend, pki):
    tv = failing(vane_factory, tls_backend, pki,
                 tls_server_name="other.test")
    r = tv.get()
    assert r.status == 502
    tv.wait_log(r"TLS handshake: certificate verify failed: hostname "
                r"mismatch")
    assert tv.backend()["tls_failures"] == 1


def test_plain_http_backend_is_502_not_a_hang(vane_factory, backend, pki):
    tv = TV(vane_factory, [backend.address],
            {backend.address: opts(pki)}, backend_opts="retries = 0; ",
            timeouts={"backend_connect": "5s"})
    t0 = time.monotonic()
    r = tv.get(timeout=8)
    assert r.status == 502
    assert time.monotonic() - t0 < 3
    tv.wait_log(r"backend 127\.0\.0\.1:%d: TLS handshake: " % backend.port)
    assert tv.backend()["tls_failures"] == 1


def tls_handler(pki, response, close_notify):
    """A raw TLS server's handler: one request, one close-delimited
    response, then a close with or without close_notify."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["cert"], pki["key"])

    def handler(c, srv):
        c.settimeout(TIMEOUT)
        t = ctx.wrap_socket(c, server_side=True)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = t.recv(65536)
            if not chunk:
                return
            buf += chunk
        srv.record(buf)
        t.sendall(response)
        if close_notify:
            t.unwrap()
        else:
            t.shutdown(socket.SHUT_RDWR)    # a FIN, no close_notify
    return handler


@pytest.mark.parametrize("close_notify", [True, False])
def test_close_delimited_body_over_tls(vane_factory, raw_backend, pki,
                                       close_notify):
    # A body that ends with the connection: over TLS the end is the
    # close_notify, or, from many servers, the FIN alone. Both end it
    # (HTTP framing, not TLS, tells a cut body where there is one).
    body = b"x" * 50000
    srv = raw_backend(tls_handler(
        pki, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body,
        close_notify))
    tv = TV(vane_factory, [srv.address], {srv.address: opts(pki)},
            backend_opts="retries = 0; ")
    r = tv.get()
    assert r.status == 200
    assert r.body == body
    assert tv.stats()["responses"]["aborted"] == 0


def test_silent_server_is_a_handshake_timeout(vane_factory, raw_backend,
                                              pki):
    # A server that accepts and never answers the ClientHello: the
    # connect deadline covers the handshake.
    from conftest import h_never
    srv = raw_backend(h_never)
    addr = "127.0.0.1:%d" % srv.port
    tv = TV(vane_factory, [addr], {addr: opts(pki)},
            backend_opts="retries = 0; ",
            timeouts={"backend_connect": "400ms"})
    t0 = time.monotonic()
    r = tv.get()
    assert r.status == 504
    assert 0.3 < time.monotonic() - t0 < 3
    tv.wait_log(r"backend %s: TLS handshake: timeout" % re.escape(addr))
    assert tv.backend()["timeouts"] == 1


def test_failed_server_retried_and_left_out(vane_factory, tls_backend,
                                            backend, pki):
    # Server 1: the plain uvicorn, spoken to in TLS (fails); server 2:
    # the TLS one, verified. Every request succeeds through the retry,
    # and passive checks leave the failing server out.
    tv = TV(vane_factory, [backend.address, tls_backend.address],
            {backend.address: opts(pki),
             tls_backend.address: opts(pki)},
            backend_opts="retries = 1; max_fails = 1; ")
    for _ in range(6):
        r = tv.get()
        assert r.status == 200
        assert r.header("x-backend") == "tls"
    tv.wait_log(r"backend 127\.0\.0\.1:%d is left out for \d+ ms after "
                r"1 failure\(s\): " % backend.port)
    b = tv.backend()
    assert b["errors"] == 1 and b["retries"] == 1


# ------------------------------------------------------ health checks

def test_health_checks_speak_tls(vane_factory, tls_backend, backend, pki):
    # The TLS server stays up (its checks pass over TLS); the plain one,
    # spoken to in TLS, is taken down with the TLS reason.
    tls_backend.reset()
    tv = TV(vane_factory, [tls_backend.address, backend.address],
            {tls_backend.address: opts(pki),
             backend.address: opts(pki)},
            backend_opts='max_fails = 0; health = { path = "/hc"; '
            'interval = "200ms"; timeout = "1s"; rise = 1; fall = 1; }; ')
    tv.wait_log(r"backend 127\.0\.0\.1:%d is down: TLS: " % backend.port)
    deadline = time.monotonic() + 5
    while tls_backend.stats()["health_checks"] < 2 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert tls_backend.stats()["health_checks"] >= 2
    assert "127.0.0.1:%d is down" % tls_backend.port not in tv.v.stderr()
    for _ in range(4):
        r = tv.get()
        assert r.status == 200 and r.header("x-backend") == "tls"


# ------------------------------------------------------------- vane -t

@pytest.mark.parametrize("which,reason", [
    ("missing", "No such file or directory"),
    ("empty", "no certificate or crl found"),
])
def test_vane_t_rejects_a_bad_tls_ca(tmp_path, pki, which, reason):
    path = str(pki["dir"] / "nope.pem") if which == "missing" \
        else pki["empty"]
    conf = tmp_path / "t.conf"
    conf.write_text(
        'listen = ( { address = "127.0.0.1:%d"; } );\n'
        'backends = { servers = (\n'
        '  { address = "127.0.0.1:1"; },\n'
        '  { address = "127.0.0.1:2"; tls = true;\n'
        '    tls_ca = "%s"; } ); };\n' % (free_port(), path))
    p = subprocess.run([vane_bin(), "-t", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "%s:4: " % conf in err, err
    assert path in err and reason in err, err


def test_vane_t_accepts_a_good_tls_ca(tmp_path, pki):
    conf = tmp_path / "t.conf"
    conf.write_text(
        'listen = ( { address = "127.0.0.1:%d"; } );\n'
        'backends = { servers = ( { address = "127.0.0.1:2"; tls = true; '
        'tls_ca = "%s"; tls_server_name = "backend.test"; } ); };\n'
        % (free_port(), pki["ca"]))
    p = subprocess.run([vane_bin(), "-t", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()


def test_vane_t_warns_of_tls_options_without_tls(tmp_path, pki):
    conf = tmp_path / "t.conf"
    conf.write_text(
        'listen = ( { address = "127.0.0.1:%d"; } );\n'
        'backends = { servers = (\n'
        '  { address = "127.0.0.1:2"; tls_ca = "%s"; } ); };\n'
        % (free_port(), pki["ca"]))
    p = subprocess.run([vane_bin(), "-t", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert "%s:3: backend server 127.0.0.1:2: tls_ca, tls_server_name " \
        "and tls_verify have no effect without tls = true" % conf \
        in p.stderr.decode()


def test_backend_fixture_still_plain(backend):
    # The shared fixture is untouched by the TLS option of conftest.
    assert backend.url.startswith("http://")
    assert requests.get(backend.url + "/health", timeout=5).status_code \
        == 200
