"""Bodies are streamed, not stored and forwarded (but for request bodies up
to backends.request_buffer, read whole before a backend is chosen); stalls
on either side are bounded by the configured timeouts; retries never repeat
a non-idempotent request."""
import socket
import time

import pytest

from conftest import ok_response, read_request, respond_with
from httpraw import RawConn, request


def test_response_streamed_not_buffered(vane_factory, raw_backend):
    """The first chunk reaches the client long before the backend ends."""
    def handler(c, srv):
        raw, _ = read_request(c)
        if raw is None:
            return
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nfirst\r\n")
        srv.stopping.wait(1.5)
        c.sendall(b"4\r\nlast\r\n0\r\n\r\n")
    srv = raw_backend(handler)
    v = vane_factory([srv.address])
    with v.conn() as c:
        t0 = time.monotonic()
        c.send(request("GET", "/"))
        while b"first" not in c.buf:
            assert c._fill(t0 + 5), "closed before the first chunk"
        first = time.monotonic() - t0
        r = c.read_response()
        total = time.monotonic() - t0
    assert first < 0.8, "first chunk after %.2fs: buffered" % first
    assert r.status == 200 and r.body == b"firstlast", r
    assert total >= 1.4


def test_request_body_streamed(vane_factory, raw_backend):
    """The backend sees the start of a slowly sent body before its end."""
    seen = {}

    def handler(c, srv):
        c.settimeout(10)
        buf = b""
        t0 = time.monotonic()
        while len(buf) < 200 or b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        seen["first"] = time.monotonic() - t0
        while len(buf) - buf.index(b"\r\n\r\n") - 4 < 200000:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        seen["all"] = time.monotonic() - t0
        c.sendall(ok_response())
    srv = raw_backend(handler)
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("POST", "/up", headers=[("Content-Length", "200000")]))
        c.send(b"a" * 100000)
        time.sleep(1.2)
        c.send(b"b" * 100000)
        r = c.read_response()
    assert r.status == 200, r
    assert seen["all"] - seen["first"] >= 0.9, seen


def test_backend_stalls_mid_body(vane_factory, raw_backend):
    """A backend that stops in the middle of a body: the client connection
    is closed (incomplete) after backend_response, not left hanging."""
    def handler(c, srv):
        raw, _ = read_request(c)
        if raw is None:
            return
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" +
                  b"s" * 100)
        srv.stopping.wait(20)
    srv = raw_backend(handler)
    v = vane_factory([srv.address], timeouts={"backend_response": "1s"})
    with v.conn(timeout=8) as c:
        t0 = time.monotonic()
        c.send(request("GET", "/"))
        r = c.read_response(timeout=6)
        took = time.monotonic() - t0
    assert not r.timed_out, "client still waiting after 6 s: %r" % r
    assert r.status == 200 and not r.complete and r.eof, r
    assert took <= 3.0, took


def test_slow_reader_cut_at_client_send(vane_factory, raw_backend):
    """A client that reads nothing: vane gives up after client_send and the
    next client is served."""
    def handler(c, srv):
        buf = b""
        while True:
            raw, buf = read_request(c, buf)
            if raw is None:
                return
            if raw.startswith(b"GET /big"):
                n = 50 * 1000 * 1000
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
                c.settimeout(0.5)
                sent = 0
                deadline = time.monotonic() + 8
                while sent < n and time.monotonic() < deadline:
                    try:
                        sent += c.send(b"q" * 65536)
                    except socket.timeout:
                        continue
                    except OSError:
                        return
                return
            c.sendall(ok_response())
    srv = raw_backend(handler)
    v = vane_factory([srv.address], timeouts={"client_send": "1s"})
    s = socket.create_connection(("127.0.0.1", v.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.sendall(request("GET", "/big"))
    time.sleep(3.5)
    # vane must have closed it by now: draining ends in EOF quickly
    s.settimeout(0.5)
    got = 0
    closed = False
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 5:
            d = s.recv(1 << 20)
            if not d:
                closed = True
                break
            got += len(d)
    except socket.timeout:
        pass
    except OSError:
        closed = True
    s.close()
    assert closed, "slow reader still connected (read %d bytes)" % got
    with v.conn() as c:
        c.send(request("GET", "/after"))
        assert c.read_response().status == 200


def dying_pooled_backend():
    """Connection 1 answers one request, then reads the next one and closes
    without answering; every later connection answers everything."""
    def handler(c, srv):
        with srv.lock:
            first = srv.accepts == 1
        buf = b""
        n = 0
        while True:
            raw, buf = read_request(c, buf)
            if raw is None:
                return
            srv.record(raw)
            n += 1
            if first and n == 2:
                return
            c.sendall(ok_response())
    return handler


def test_idempotent_retried_on_dead_pooled(vane_factory, raw_backend):
    srv = raw_backend(dying_pooled_backend())
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/1"))
        assert c.read_response().status == 200
        c.send(request("GET", "/2"))
        r = c.read_response()
    assert r.status == 200, r
    assert [g.split(b" ")[1] for g in srv.requests] == [b"/1", b"/2", b"/2"]


def test_post_not_retried(vane_factory, raw_backend):
    """A POST the backend may have acted on is never sent twice."""
    srv = raw_backend(dying_pooled_backend())
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/1"))
        assert c.read_response().status == 200
        c.send(request("POST", "/charge", body=b"once"))
        r = c.read_response()
    time.sleep(0.2)
    posts = [g for g in srv.requests if g.startswith(b"POST")]
    assert len(posts) == 1, srv.requests
    assert r.status == 502, r


def test_expect_100_body_sent_anyway(vane):
    """curl-style: Expect: 100-continue, but the body follows at once."""
    body = b"w" * 3000
    with vane.conn() as c:
        c.send(request("POST", "/echo", headers=[
            ("Expect", "100-continue"),
            ("Content-Length", str(len(body)))]) + body)
        r = c.read_response()
        assert r.status == 200, r
        assert b'"body_length":3000' in r.body
        c.send(request("GET", "/echo?next"))
        assert b'"query":"next"' in c.read_response().body


def test_expect_100_over_limit_gets_413_not_100(vane_factory, backend):
    v = vane_factory([backend.address], limits={"body_size": "1K"})
    with v.conn() as c:
        c.send(request("POST", "/echo", headers=[
            ("Expect", "100-continue"), ("Content-Length", "5000")]))
        r = c.read_response(skip_1xx=False, timeout=3)
    assert r.status == 413, r


def test_two_workers(vane_factory, backends):
    for b in backends:
        b.reset()
    v = vane_factory([b.address for b in backends])
    v2 = vane_factory([b.address for b in backends], workers=2)
    for vv in (v, v2):
        for i in range(60):
            with RawConn(vv.port) as c:
                c.send(request("GET", "/health"))
                assert c.read_response().status == 200
    assert sum(b.stats()["requests"] for b in backends) == 120


def test_slow_upload_not_cut_by_backend_response(vane_factory, backend):
    """backend_response bounds the wait for the backend's answer, not the
    client's upload: a body that takes 3 s to arrive (a piece every 0.6 s)
    with backend_response = 1s must still get the backend's 200."""
    v = vane_factory([backend.address],
                     timeouts={"backend_response": "1s", "client_body": "10s"})
    with v.conn(timeout=10) as c:
        c.send(request("POST", "/echo", headers=[("Content-Length", "50000")]))
        for _ in range(5):
            c.send(b"u" * 10000)
            time.sleep(0.6)
        r = c.read_response()
    assert r.status == 200, (r, r.body)
    assert b'"body_length":50000' in r.body


def slow_post(v, size, pieces=3, pause=0.4):
    """POST a size-byte body in pieces with pauses; returns (response,
    when the last piece was sent)."""
    with v.conn() as c:
        c.send(request("POST", "/up", headers=[("Content-Length",
                                                str(size))]))
        for i in range(pieces):
            time.sleep(pause)
            c.send(b"%d" % i * (size // pieces) if i < pieces - 1 else
                   b"%d" % i * (size - (pieces - 1) * (size // pieces)))
        last = time.monotonic()
        return c.read_response(), last


def slow_post_through(vane_factory, raw_backend, buffer):
    """slow_post of 30000 bytes through vane with request_buffer = buffer
    to a raw backend; returns (response, when the last piece was sent,
    when the backend accepted vane's connection, the backend)."""
    seen = {}

    def handler(c, srv):
        seen.setdefault("accept", time.monotonic())
        raw, _ = read_request(c)
        if raw is not None:
            srv.record(raw)
            c.sendall(ok_response())
    srv = raw_backend(handler)
    v = vane_factory([srv.address],
                     backend_opts='request_buffer = "%s"; ' % buffer)
    r, last = slow_post(v, 30000)
    assert r.status == 200, r
    return r, last, seen["accept"], srv


@pytest.mark.parametrize("buffer", ["128K", "0"])
def test_small_body_read_whole_before_the_backend(vane_factory, raw_backend,
                                                  buffer):
    """backends.request_buffer: a slow client's small body is read whole
    before vane connects to a backend, so a one-request-at-a-time worker
    (gunicorn sync) is not held while it uploads; 0 streams it."""
    r, last, accept, srv = slow_post_through(vane_factory, raw_backend,
                                             buffer)
    assert srv.requests[0].endswith(b"2" * 10000), srv.requests[0][-20:]
    if buffer == "0":
        assert accept < last - 0.5, (accept, last)
    else:
        assert accept >= last - 0.05, (accept, last)


def test_body_over_request_buffer_is_streamed(vane_factory, raw_backend):
    r, last, accept, srv = slow_post_through(vane_factory, raw_backend,
                                             "16K")
    assert accept < last - 0.5, (accept, last)


def test_buffered_body_expect_100_and_client_gone(vane_factory, raw_backend):
    """A client that waits for 100-continue gets it from vane at once
    (no backend involved yet); one that leaves mid-body never reaches a
    backend."""
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("POST", "/up", headers=[
            ("Expect", "100-continue"), ("Content-Length", "5000")]))
        r = c.read_response(skip_1xx=False, timeout=3)
        assert r.status == 100, r
        assert srv.accepts == 0
        c.send(b"e" * 5000)
        r = c.read_response()
        assert r.status == 200, r
    assert srv.requests[0].endswith(b"e" * 5000)
    with v.conn() as c:
        c.send(request("POST", "/gone", headers=[("Content-Length",
                                                  "5000")]) + b"x" * 100)
        time.sleep(0.2)
    time.sleep(0.3)
    assert [q for q in srv.requests if b"/gone" in q] == []
