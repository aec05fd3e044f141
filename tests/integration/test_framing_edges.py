"""Response framing edge cases (RFC 9112 §6.3) and heads that arrive in
pieces, from raw backends; each checks the connection stays in sync."""
import time

import pytest

from conftest import ok_response, read_request, respond_with
from httpraw import request


def scripted(responses):
    """Handler answering the i-th request on a connection with
    responses[i % len] (bytes, or a list of bytes sent with pauses)."""
    def handler(c, srv):
        buf = b""
        i = 0
        while True:
            raw, buf = read_request(c, buf)
            if raw is None:
                return
            srv.record(raw)
            resp = responses[i % len(responses)]
            i += 1
            if isinstance(resp, list):
                for piece in resp:
                    c.sendall(piece)
                    time.sleep(0.005)
            else:
                c.sendall(resp)
    return handler


def run_sequence(v, reqs):
    """Send each (method, target, version) on one connection, return the
    responses."""
    out = []
    with v.conn() as c:
        for method, target, version in reqs:
            c.send(request(method, target, version=version))
            out.append(c.read_response(method=method))
    return out


def test_head_with_chunked_header_no_body(vane_factory, raw_backend):
    srv = raw_backend(scripted([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        ok_response(b"next")]))
    v = vane_factory([srv.address])
    r1, r2 = run_sequence(v, [("HEAD", "/", "HTTP/1.1"),
                              ("GET", "/", "HTTP/1.1")])
    assert r1.status == 200, r1
    assert r2.status == 200 and r2.body == b"next", r2


def test_head_with_content_length_no_body(vane_factory, raw_backend):
    srv = raw_backend(scripted([
        b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n",
        ok_response(b"next")]))
    v = vane_factory([srv.address])
    r1, r2 = run_sequence(v, [("HEAD", "/", "HTTP/1.1"),
                              ("GET", "/", "HTTP/1.1")])
    assert r1.status == 200 and r1.header("content-length") == "12345", r1
    assert r2.status == 200 and r2.body == b"next", r2


def test_304_with_content_length_no_body(vane_factory, raw_backend):
    srv = raw_backend(scripted([
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n"
        b"ETag: \"x\"\r\n\r\n",
        ok_response(b"next")]))
    v = vane_factory([srv.address])
    r1, r2 = run_sequence(v, [("GET", "/", "HTTP/1.1"),
                              ("GET", "/", "HTTP/1.1")])
    assert r1.status == 304 and r1.header("etag") == '"x"', r1
    assert r2.status == 200 and r2.body == b"next", r2


def test_204_http10_client(vane_factory, raw_backend):
    srv = raw_backend(scripted([b"HTTP/1.1 204 No Content\r\n\r\n"]))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 204, r
        assert c.closed_within(2)
        assert c.buf == b"", c.buf


def test_no_1xx_to_http10_client(vane_factory, raw_backend):
    """RFC 9110 §15.2: a proxy MUST NOT forward a 1xx to an HTTP/1.0 client."""
    srv = raw_backend(scripted([
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" +
        ok_response(b"final")]))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/", version="HTTP/1.0"))
        r = c.read_response(skip_1xx=False)
    assert r.status == 200 and r.body == b"final", r


def test_unsolicited_101_is_502(vane_factory, raw_backend):
    srv = raw_backend(scripted([
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
        b"Connection: upgrade\r\n\r\nraw-bytes"]))
    v = vane_factory([srv.address])
    with v.conn(timeout=6) as c:
        c.send(request("GET", "/"))
        r = c.read_response(skip_1xx=False, timeout=5)
    assert r.status == 502, r


def test_upgrade_declined_by_the_backend(vane_factory, raw_backend):
    """A websocket handshake goes to the backend with its Upgrade
    (tunnel.c); a backend that answers it with a plain response is relayed
    as one, and the connection goes on as HTTP."""
    srv = raw_backend(respond_with(ok_response(b"plain")))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/ws", headers=[
            ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        assert r.status == 200 and r.body == b"plain", r
        c.send(request("GET", "/after"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"plain", r
    raw = srv.requests[0].lower()
    assert b"\r\nupgrade: websocket\r\n" in raw, raw
    assert b"\r\nconnection: upgrade\r\n" in raw, raw
    assert b"upgrade" not in srv.requests[1].lower(), srv.requests[1]


def test_response_head_dripped(vane_factory, raw_backend):
    head = (b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 6\r\n"
            b"X-B: 2\r\n\r\n")
    pieces = [head[i:i + 1] for i in range(len(head))] + [b"dri", b"ppe"]
    srv = raw_backend(scripted([pieces]))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"drippe", (r, r.body)


def test_request_head_dripped(vane_factory, raw_backend):
    srv = raw_backend(scripted([ok_response(b"ok")]))
    v = vane_factory([srv.address])
    raw = request("POST", "/d", headers=[("X-Long", "v" * 50)], body=b"12345")
    with v.conn() as c:
        for i in range(len(raw)):
            c.send(raw[i:i + 1])
            if i % 10 == 0:
                time.sleep(0.002)
        r = c.read_response()
    assert r.status == 200, r
    assert srv.requests[0].endswith(b"\r\n\r\n12345")


@pytest.mark.parametrize("split", [b"\r", b"\r\n", b"\r\n\r"])
def test_response_split_at_crlf(vane_factory, raw_backend, split):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    cut = head.index(b"\r\n\r\n") + len(split)
    srv = raw_backend(scripted([[head[:cut], head[cut:] + b"ok"]]))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r


def test_large_response_head_forwarded(vane_factory, raw_backend):
    """A 40 KB response head (under the 64 KB response limit) passes."""
    big = b"".join(b"X-H%d: %s\r\n" % (i, b"h" * 990) for i in range(40))
    srv = raw_backend(scripted([b"HTTP/1.1 200 OK\r\n" + big +
                                b"Content-Length: 2\r\n\r\nok"]))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r
    assert r.header("x-h39") == "h" * 990


def test_get_with_body_forwarded(vane_factory, raw_backend):
    srv = raw_backend(scripted([ok_response()]))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/", body=b"query-body"))
        assert c.read_response().status == 200
        c.send(request("GET", "/2"))
        assert c.read_response().status == 200
    assert srv.requests[0].endswith(b"\r\n\r\nquery-body")
    assert srv.requests[1].startswith(b"GET /2 ")


def test_chunked_trailers_to_http10(vane_factory, raw_backend):
    srv = raw_backend(scripted([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"]))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/", version="HTTP/1.0"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"abc", (r, r.body)
