"""Protocol switches (RFC 9110 §7.8) relayed as tunnels: WebSocket to a
real FastAPI endpoint under uvicorn through vane, over plain TCP and TLS,
with a real client implementation (wsproto); and raw backends for what a
FastAPI app will not do on purpose (half-close, a 101 without Upgrade,
resets)."""
import json
import re
import socket
import ssl
import threading
import time

import pytest
import requests

from conftest import free_port, read_request, wait_for
from httpraw import recv_all, request
from wsclient import Rejected, WsClient

TIMEOUT = 10


def admin_stats(port):
    return requests.get("http://127.0.0.1:%d/stats" % port,
                        timeout=TIMEOUT).json()


def tunnels(v):
    """The "tunnels" section of v's /stats: total, active."""
    return admin_stats(v.admin_port)["tunnels"]


def with_admin(vane_factory, address, extra="", **kw):
    """vane in front of the server at address, with an admin listener
    (v.admin_port) for /stats."""
    port = free_port()
    v = vane_factory([address], extra=extra +
                     'admin = { address = "127.0.0.1:%d"; };\n' % port, **kw)
    v.admin_port = port
    return v


def test_websocket_echo_through_vane(vane_factory, backend, tmp_path):
    log = tmp_path / "access.log"
    v = with_admin(vane_factory, backend.address, access_log=str(log),
                   access_format="$status $request $bytes_sent "
                   "$request_length $cache_status")
    before = backend.stats()["websockets"]
    with WsClient(v.port, "/ws?room=1") as ws:
        h = {k.decode().lower(): val.decode()
             for k, val in ws.accept.extra_headers}
        assert h["via"] == "1.1 vane", h
        assert h["cache-status"] == "vane; fwd=bypass; detail=upgrade", h
        assert "connection" not in h and "upgrade" not in h, \
            "wsproto hides the handshake fields it checked"
        ws.send_text("hello")
        assert ws.recv() == "solo:hello"
        # What reached the backend: the handshake's own fields, and the
        # forwarding fields vane adds to every request.
        ws.send_text("headers")
        got = {}
        for k, val in json.loads(ws.recv()):
            got.setdefault(k, []).append(val)
        assert [u.lower() for u in got["upgrade"]] == ["websocket"], got
        assert got["connection"] == ["upgrade"], got
        assert "sec-websocket-key" in got and \
            got["sec-websocket-version"] == ["13"], got
        assert got["x-forwarded-for"] == ["127.0.0.1"], got
        assert got["via"] == ["1.1 vane"], got
        # Messages larger than any buffer, both ways, byte for byte.
        big = bytes(range(256)) * 4096 * 3          # 3 MiB
        ws.send_bytes(big)
        assert ws.recv() == big
        ws.send_text("bulk:%d" % (5 << 20))
        assert len(ws.recv()) == 5 << 20
        st = tunnels(v)
        assert st == {"total": 1, "active": 1}, st
        assert ws.close() == 1000
    assert backend.stats()["websockets"] == before + 1
    # Both sides closed: the tunnel is over, and logged with what it
    # relayed.
    assert wait_for(lambda: tunnels(v)["active"] == 0, 5)
    assert wait_for(lambda: log.exists() and "101" in log.read_text(), 3)
    line = log.read_text().strip().splitlines()[-1]
    m = re.fullmatch(r"101 GET /ws\?room=1 HTTP/1\.1 (\d+) (\d+) bypass",
                     line)
    assert m, line
    assert int(m.group(1)) > (5 << 20) + (3 << 20), line
    assert int(m.group(2)) > 3 << 20, line


def test_websocket_the_server_closes(vane_factory, backend):
    v = vane_factory([backend.address])
    with WsClient(v.port) as ws:
        ws.send_text("close")
        with pytest.raises(EOFError):
            ws.recv()
        assert ws.closed.code == 1000
        # uvicorn closes the TCP connection; vane passes that on.
        assert ws.read_eof(5)


def test_upgrade_is_not_cached_nor_coalesced(vane_factory, backend):
    """Two handshakes for one URL at once are two tunnels to the
    backend: a GET that switches protocols must never wait for another
    one's fetch nor be answered from the cache."""
    v = vane_factory([backend.address])
    before = backend.stats()["websockets"]
    a = WsClient(v.port, "/ws")
    b = WsClient(v.port, "/ws")
    try:
        a.send_text("a")
        b.send_text("b")
        assert b.recv() == "solo:b" and a.recv() == "solo:a"
    finally:
        a.close()
        b.close()
    assert backend.stats()["websockets"] == before + 2


def test_declined_upgrade_is_a_plain_response(vane_factory, backend):
    """A backend that does not switch answers as usual, and the client
    connection goes on as HTTP."""
    v = vane_factory([backend.address])
    with pytest.raises(Rejected) as e:
        WsClient(v.port, "/no-such-socket")
    assert e.value.status == 403, e.value.status
    # The same handshake on /echo, a plain route: uvicorn still sees a
    # WebSocket request (no route for it: 403), keep-alive after it.
    with v.conn() as c:
        c.send(request("GET", "/echo", headers=[
            ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        assert r.status == 403, r
        c.send(request("GET", "/echo"))
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["path"] == "/echo"


def test_h2c_upgrade_is_dropped(vane_factory, backend):
    """HTTP/2 over cleartext is not a tunnel vane relays: the request goes
    on as plain HTTP/1.1, without Upgrade."""
    v = vane_factory([backend.address])
    with v.conn() as c:
        c.send(request("GET", "/echo", headers=[
            ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]))
        r = c.read_response()
    assert r.status == 200, r
    names = {k.lower() for k, _ in json.loads(r.body)["headers"]}
    assert "upgrade" not in names and "http2-settings" not in names, names


def test_tunnel_idle_timeout(vane_factory, backend):
    v = with_admin(vane_factory, backend.address, timeouts={"tunnel": "1s"})
    with WsClient(v.port) as ws:
        ws.send_text("x")
        assert ws.recv() == "solo:x"
        t0 = time.monotonic()
        # Nothing either way: vane closes after timeouts.tunnel.
        assert ws.read_eof(5)
        assert 0.8 < time.monotonic() - t0 < 4
    assert wait_for(lambda: tunnels(v) == {"total": 1, "active": 0}, 3), \
        tunnels(v)


def test_websocket_over_tls(vane_factory, backend, tmp_path):
    from test_tls import make_cert
    cert = make_cert(tmp_path, "a", "a.test", ["a.test"])
    tls_port = free_port()
    vane_factory(
        [backend.address],
        more_listen=[("127.0.0.1:%d" % tls_port, "tls = true;")],
        extra='tls = { certificates = ( { cert = "%s"; key = "%s"; } ); };\n'
        % cert)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with WsClient(tls_port, ctx=ctx) as ws:
        ws.send_text("headers")
        got = dict((k, val) for k, val in json.loads(ws.recv()))
        assert got["x-forwarded-proto"] == "https", got
        big = bytes(range(256)) * 4096               # 1 MiB
        ws.send_bytes(big)
        assert ws.recv() == big
        assert ws.close() == 1000


def scripted_101(after, first=b""):
    """A raw backend: reads the handshake, answers 101 with the tunnel's
    first bytes in the same write, then runs after(conn, srv)."""
    def handler(c, srv):
        raw, _ = read_request(c)
        if raw is None:
            return
        srv.record(raw)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                  b"Upgrade: x-raw\r\nConnection: Upgrade\r\n\r\n" + first)
        after(c, srv)
    return handler


def raw_handshake(port, proto=b"x-raw"):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"GET /raw HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
              b"Upgrade: " + proto + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        assert d, head
        head += d
    return s, head


def test_half_close_passes_both_ways(vane_factory, raw_backend):
    """Any protocol, not only WebSocket. The client's FIN reaches the
    backend as EOF after the bytes before it; the backend still answers,
    and its FIN ends the client's reading."""
    def after(c, srv):
        got = recv_all(c)                   # until vane passes the FIN
        c.sendall(b"got %d bytes" % len(got))
        c.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
    srv = raw_backend(scripted_101(after))
    v = vane_factory([srv.address])
    s, head = raw_handshake(v.port)
    with s:
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"\r\nUpgrade: x-raw\r\n" in head, head
        assert b"\r\nConnection: upgrade\r\n" in head, head
        s.sendall(b"z" * 300000)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"got 300000 bytes"
    raw = srv.requests[0].lower()
    assert b"\r\nupgrade: x-raw\r\n" in raw and \
        b"\r\nconnection: upgrade\r\n" in raw, raw


def test_bytes_and_close_right_after_the_101(vane_factory, raw_backend):
    """The backend's first bytes and its FIN may come with the 101 in one
    read: the client still gets the bytes, then the close, and the
    tunnel is counted and gone."""
    def after(c, srv):
        c.shutdown(socket.SHUT_WR)
        recv_all(c)
    srv = raw_backend(scripted_101(after, b"hello"))
    v = with_admin(vane_factory, srv.address)
    s, head = raw_handshake(v.port)
    with s:
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert recv_all(s) == b"hello"
    assert wait_for(lambda: tunnels(v) == {"total": 1, "active": 0}, 3), \
        tunnels(v)


def test_silent_tunnel_times_out(vane_factory, raw_backend):
    """Not a byte after the 101, either way: timeouts.tunnel still ends
    it."""
    srv = raw_backend(scripted_101(lambda c, srv: recv_all(c)))
    v = vane_factory([srv.address], timeouts={"tunnel": "1s"})
    s, head = raw_handshake(v.port)
    with s:
        assert head.startswith(b"HTTP/1.1 101 "), head
        t0 = time.monotonic()
        s.settimeout(5)
        assert recv_all(s) == b""
        assert 0.8 < time.monotonic() - t0 < 4


def test_half_closed_tunnel_bounded_by_client_idle(vane_factory,
                                                   raw_backend):
    """Once one side has closed, a peer that never closes its own side
    holds the tunnel for timeouts.client_idle, not timeouts.tunnel."""
    def after(c, srv):
        c.shutdown(socket.SHUT_WR)          # the backend is done talking
        recv_all(c)                          # ... and waits for our FIN
    srv = raw_backend(scripted_101(after))
    v = with_admin(vane_factory, srv.address,
                   timeouts={"tunnel": "1h", "client_idle": "1s"})
    s, head = raw_handshake(v.port)
    with s:
        assert head.startswith(b"HTTP/1.1 101 "), head
        s.settimeout(5)
        assert s.recv(100) == b""           # the backend's FIN, passed on
        t0 = time.monotonic()
        # We never close our side: vane gives up after client_idle.
        assert tunnels(v)["active"] == 1
        assert wait_for(lambda: tunnels(v)["active"] == 0, 5)
        assert 0.7 < time.monotonic() - t0 < 4


def test_backend_reset_closes_the_client(vane_factory, raw_backend):
    def after(c, srv):
        c.recv(100)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    srv = raw_backend(scripted_101(after))
    v = with_admin(vane_factory, srv.address)
    s, head = raw_handshake(v.port)
    with s:
        s.sendall(b"ping")
        s.settimeout(5)
        try:
            rest = recv_all(s)
        except ConnectionResetError:
            rest = b""
        assert rest == b""
    assert wait_for(lambda: tunnels(v)["active"] == 0, 3)


def test_101_without_upgrade_is_502(vane_factory, raw_backend):
    """§15.2.2: a 101 names the protocol it switches to."""
    def handler(c, srv):
        raw, _ = read_request(c)
        if raw is None:
            return
        srv.record(raw)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\n\r\nraw")
        time.sleep(0.3)
    srv = raw_backend(handler)
    v = vane_factory([srv.address], backend_opts="retries = 0; ")
    s, head = raw_handshake(v.port)
    with s:
        assert head.startswith(b"HTTP/1.1 502 "), head


def test_tunnel_survives_a_reload(vane_factory, backend):
    """A reload leaves an open tunnel to its end (bounded by
    timeouts.shutdown), and new handshakes go to the new generation."""
    v = vane_factory([backend.address], timeouts={"shutdown": "20s"})
    with WsClient(v.port) as ws:
        ws.send_text("before")
        assert ws.recv() == "solo:before"
        v.proc.send_signal(1)               # SIGHUP
        assert wait_for(lambda: "reload" in v.stderr().lower(), 5)
        for i in range(3):
            ws.send_text("after%d" % i)
            assert ws.recv() == "solo:after%d" % i
            time.sleep(0.2)
        with WsClient(v.port) as ws2:
            ws2.send_text("new")
            assert ws2.recv() == "solo:new"
            assert ws2.close() == 1000
        assert ws.close() == 1000


def test_many_tunnels_at_once(vane_factory, backend):
    """Tunnels are independent: 20 at once, each its own echo."""
    v = vane_factory([backend.address], workers=2)
    errors = []

    def one(i):
        try:
            with WsClient(v.port) as ws:
                for j in range(5):
                    ws.send_text("%d-%d" % (i, j))
                    if ws.recv() != "solo:%d-%d" % (i, j):
                        errors.append((i, j))
                ws.close()
        except Exception as e:          # noqa: BLE001 (reported below)
            errors.append((i, repr(e)))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errors, errors
