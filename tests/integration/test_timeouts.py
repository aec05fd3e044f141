"""Client-side timeouts, each checked against a short configured value:
client_header bounds the whole head phase, client_idle closes idle
keep-alive connections, client_body bounds a stalled body."""
import socket
import time

import pytest

from httpraw import request

T = {"client_header": "1s", "client_idle": "1s", "client_body": "1s",
     "client_send": "5s"}


@pytest.fixture
def tvane(vane_factory, backend):
    return vane_factory([backend.address], timeouts=T)


def closed_or_408(c, within):
    """True if the peer closed within `within` s (a 408 before is fine)."""
    closed = c.closed_within(within)
    if c.buf:
        assert c.buf.startswith(b"HTTP/1.1 408") or \
            c.buf.startswith(b"HTTP/1.0 408"), c.buf[:100]
    return closed


def test_partial_head_times_out(tvane):
    with tvane.conn() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        assert closed_or_408(c, 3.0), "not closed within client_header+2s"
        took = time.monotonic() - t0
    assert 0.7 <= took <= 2.0, took


def test_no_bytes_at_all_times_out(tvane):
    with tvane.conn() as c:
        t0 = time.monotonic()
        assert c.closed_within(3.0)
        took = time.monotonic() - t0
    assert took <= 2.0, took


def test_slow_header_drip_bounded_as_a_whole(tvane):
    """One byte every 0.3 s: each read resets no timer; the head phase as a
    whole ends at client_header."""
    s = socket.create_connection(("127.0.0.1", tvane.port), timeout=5)
    try:
        drip = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        t0 = time.monotonic()
        closed_at = None
        for b in drip:
            if time.monotonic() - t0 > 5:
                break
            try:
                s.send(bytes([b]))
            except OSError:
                closed_at = time.monotonic() - t0
                break
            time.sleep(0.3)
            s.setblocking(False)
            try:
                d = s.recv(4096)
                if d == b"" or d.startswith(b"HTTP/1.1 408"):
                    closed_at = time.monotonic() - t0
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed_at = time.monotonic() - t0
                break
            finally:
                s.setblocking(True)
    finally:
        s.close()
    assert closed_at is not None, "drip connection still open after 5 s"
    assert closed_at <= 2.0, closed_at


def test_idle_keepalive_closed(tvane):
    with tvane.conn() as c:
        c.send(request("GET", "/health"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.closed_within(3.0), "idle connection not closed"
        took = time.monotonic() - t0
    assert 0.7 <= took <= 2.0, took


def test_active_keepalive_not_closed_early(tvane):
    """Requests 0.5 s apart (under client_idle) keep one connection alive
    for longer than client_header + client_idle."""
    with tvane.conn() as c:
        for i in range(6):
            c.send(request("GET", "/health"))
            r = c.read_response()
            assert r.status == 200 and r.complete, (i, r)
            time.sleep(0.5)


def test_stalled_body_times_out(tvane):
    with tvane.conn() as c:
        c.send(request("POST", "/echo",
                       headers=[("Content-Length", "100")]) + b"x" * 10)
        t0 = time.monotonic()
        closed = c.closed_within(4.0)
        took = time.monotonic() - t0
        if c.buf:
            assert c.buf.split(b" ")[1] in (b"408", b"400"), c.buf[:80]
    assert closed and took <= 2.5, took


def test_client_body_bounds_the_whole_body(vane_factory, backend):
    """vane.conf(5): client_body bounds the whole body phase, not each read,
    so a body that keeps trickling (a piece every 0.3 s) is cut at
    client_body (1 s) with a 408 or a close."""
    v = vane_factory([backend.address],
                     timeouts={"client_body": "1s", "client_header": "5s"})
    with v.conn(timeout=10) as c:
        c.send(request("POST", "/echo", headers=[("Content-Length", "20000")]))
        t0 = time.monotonic()
        cut = None
        for _ in range(20):
            try:
                c.send(b"p" * 1000)
            except OSError:
                cut = time.monotonic() - t0
                break
            if c.closed_within(0.3) or c.buf:
                cut = time.monotonic() - t0
                break
        if c.buf:
            assert c.buf.split(b" ")[1] == b"408", c.buf[:80]
    assert cut is not None, "a 6 s trickle was never cut"
    assert 0.7 <= cut <= 2.0, cut
