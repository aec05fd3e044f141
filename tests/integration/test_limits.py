"""Limits at their exact boundaries, upstream pool settings, and smaller
facts about what vane itself answers."""
import time

import pytest

from conftest import ok_response, read_request, respond_with, free_port
from httpraw import RawConn, request

HEAD_LIMIT = 4096


def head_of_size(n, target="/"):
    """A GET head of exactly n bytes (final CRLF included)."""
    base = b"GET %s HTTP/1.1\r\nHost: x\r\nX-Pad: " % target.encode()
    pad = n - len(base) - 4
    assert pad >= 0
    return base + b"p" * pad + b"\r\n\r\n"


@pytest.fixture
def lim_vane(vane_factory, backend):
    return vane_factory([backend.address],
                        limits={"header_size": "4K", "header_count": 20,
                                "body_size": "64K"})


def status_of(v, raw, timeout=5):
    with v.conn(timeout=timeout) as c:
        c.send(raw)
        return c.read_response(timeout=timeout).status


def test_head_exactly_at_limit_accepted(lim_vane):
    assert status_of(lim_vane, head_of_size(HEAD_LIMIT, "/health")) == 200


def test_head_one_over_limit_rejected(lim_vane):
    assert status_of(lim_vane, head_of_size(HEAD_LIMIT + 1, "/health")) == 431


def fields(n):
    """A GET with exactly n header fields, Host included."""
    return (b"GET /health HTTP/1.1\r\nHost: x\r\n" +
            b"".join(b"X-F%d: v\r\n" % i for i in range(n - 1)) + b"\r\n")


def test_header_count_at_limit_accepted(lim_vane):
    assert status_of(lim_vane, fields(20)) == 200


def test_header_count_over_limit_rejected(lim_vane):
    assert status_of(lim_vane, fields(21)) == 431


def test_body_at_limit_accepted(lim_vane):
    body = b"b" * 65536
    with lim_vane.conn() as c:
        c.send(request("POST", "/echo", body=body))
        r = c.read_response()
    assert r.status == 200 and b'"body_length":65536' in r.body, r


def test_body_one_over_limit_rejected(lim_vane):
    assert status_of(lim_vane, request("POST", "/echo",
                                       body=b"b" * 65537)) == 413


def test_chunked_body_at_limit_accepted(lim_vane):
    from httpraw import chunked
    body = b"c" * 65536
    with lim_vane.conn() as c:
        c.send(request("POST", "/echo",
                       headers=[("Transfer-Encoding", "chunked")]) +
               chunked(body, 1000))
        r = c.read_response()
    assert r.status == 200 and b'"body_length":65536' in r.body, r


def test_chunked_body_one_over_limit_rejected(lim_vane):
    from httpraw import chunked
    with lim_vane.conn() as c:
        c.send(request("POST", "/echo",
                       headers=[("Transfer-Encoding", "chunked")]) +
               chunked(b"c" * 65537, 1000))
        r = c.read_response()
    assert r.status == 413 or (r.status is None and r.eof), r


def test_many_pipelined_requests(vane_factory, backend):
    v = vane_factory([backend.address])
    n = 100
    with v.conn(timeout=20) as c:
        c.send(b"".join(request("GET", "/echo?p=%d" % i) for i in range(n)))
        rs = [c.read_response() for _ in range(n)]
    assert all(r.status == 200 for r in rs), [r for r in rs if r.status != 200][:3]
    assert [r.body.split(b'"query":"')[1].split(b'"')[0] for r in rs] == \
        [b"p=%d" % i for i in range(n)]


def test_keepalive_zero_no_reuse(vane_factory, backend):
    v = vane_factory([backend.address], keepalive=0)
    backend.reset()
    with v.conn() as c:
        for _ in range(10):
            c.send(request("GET", "/health"))
            assert c.read_response().status == 200
    st = backend.stats()
    assert st["requests"] == 10 and st["connections"] == 10, st


def test_upstream_keepalive_timeout(vane_factory, raw_backend):
    """An idle pooled connection is closed after backends.keepalive_timeout."""
    closed_after = []

    def handler(c, srv):
        buf = b""
        raw, buf = read_request(c, buf)
        if raw is None:
            return
        c.sendall(ok_response())
        t0 = time.monotonic()
        c.settimeout(6)
        try:
            d = c.recv(100)
        except OSError:
            return
        if not d:
            closed_after.append(time.monotonic() - t0)
    srv = raw_backend(handler)
    v = vane_factory([srv.address], backend_opts='keepalive_timeout = "1s"; ')
    with RawConn(v.port) as c:
        c.send(request("GET", "/"))
        assert c.read_response().status == 200
    deadline = time.monotonic() + 4
    while not closed_after and time.monotonic() < deadline:
        time.sleep(0.05)
    assert closed_after, "pooled connection not closed within 4 s"
    assert 0.7 <= closed_after[0] <= 2.5, closed_after


def test_head_error_has_no_body(vane_factory):
    v = vane_factory(["127.0.0.1:%d" % free_port()])
    with v.conn() as c:
        c.send(request("HEAD", "/"))
        r = c.read_response(method="HEAD")
        assert r.status == 502, r
        if not c.closed_within(0.3):
            c.send(request("GET", "/"))
            r2 = c.read_response()
            assert r2.status == 502 and r2.body, r2
        else:
            assert c.buf == b"", "body bytes after a HEAD error: %r" % c.buf


def test_error_response_shape(vane_factory):
    v = vane_factory(["127.0.0.1:%d" % free_port()])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
    assert r.status == 502 and r.reason == "Bad Gateway", r
    assert r.has("date") and r.header("content-type", ) is not None, r.headers
    assert int(r.header("content-length")) == len(r.body) > 0


def test_date_added_when_missing(vane_factory, raw_backend):
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
    assert r.status == 200 and r.has("date"), r.headers


def test_target_not_normalised(vane_factory, raw_backend):
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    targets = ["/a/../b", "//double//slash", "/%2e%2E/x?y=%00&z", "/~u/;p=1"]
    with v.conn() as c:
        for t in targets:
            c.send(request("GET", t))
            assert c.read_response().status == 200
    got = [r.split(b" ")[1].decode() for r in srv.requests]
    assert got == targets, got


def test_options_asterisk(vane_factory, raw_backend):
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    assert srv.requests[0].startswith(b"OPTIONS * HTTP/1.1\r\n")


def test_backend_answers_before_body(vane_factory, raw_backend):
    """A backend that rejects an upload before reading it (413, close):
    the client gets that answer, not a 502 or a hang."""
    def handler(c, srv):
        c.settimeout(5)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
                  b"Content-Length: 4\r\n\r\nbig!")
        time.sleep(0.2)
    srv = raw_backend(handler)
    v = vane_factory([srv.address])
    with v.conn(timeout=8) as c:
        c.send(request("POST", "/up", headers=[("Content-Length", "2000000")]))
        try:
            for _ in range(10):
                c.send(b"u" * 100000)
                time.sleep(0.02)
        except OSError:
            pass
        r = c.read_response(timeout=6)
    assert r.status == 413 and r.body == b"big!", r


def test_connection_limit_queues_in_backlog(vane_factory, backend):
    """limits.connections = 2: a third client is not served (nor reset)
    while two are open; it waits in the listen backlog and is answered as
    soon as one of the two closes, like HAProxy's maxconn."""
    v = vane_factory([backend.address], limits={"connections": 2})
    first, second = v.conn(timeout=5), v.conn(timeout=5)
    for c in (first, second):
        c.send(request("GET", "/health"))
        assert c.read_response(timeout=5).status == 200
    third = v.conn(timeout=5)
    try:
        third.send(request("GET", "/health"))
        r = third.read_response(timeout=0.8)
        assert r.status is None and r.timed_out and not r.eof, r
        first.close()
        r = third.read_response(timeout=5)
        assert r.status == 200, r
        assert "limits.connections (2) reached" in v.stderr()
    finally:
        second.close()
        third.close()
