"""Backend failures: the client gets 502/504 with a short body, and a
response that ends early is never framed as complete."""
import time

from conftest import (free_port, h_bad_status, h_close_delimited,
                      h_cut_chunked, h_cut_length, h_never, h_reset,
                      ok_response, respond_with)
from httpraw import request


def get(v, path="/", timeout=10):
    with v.conn(timeout=timeout) as c:
        c.send(request("GET", path))
        return c.read_response()


def assert_short_error(r, status):
    assert r.status == status, r
    assert r.complete, r
    assert len(r.body) < 1024, r.body[:200]


# 8 ------------------------------------------------------------------------

def test_502_nothing_listening(vane_factory):
    v = vane_factory(["127.0.0.1:%d" % free_port()])
    assert_short_error(get(v), 502)


def test_502_backend_resets(vane_factory, raw_backend):
    srv = raw_backend(h_reset)
    v = vane_factory([srv.address])
    assert_short_error(get(v), 502)
    assert srv.accepts >= 1


def test_502_malformed_status_line(vane_factory, raw_backend):
    srv = raw_backend(h_bad_status)
    v = vane_factory([srv.address])
    r = get(v)
    assert_short_error(r, 502)
    assert b"ok" != r.body
    assert len(srv.requests) >= 1


def test_504_backend_silent(vane_factory, raw_backend):
    srv = raw_backend(h_never)
    v = vane_factory([srv.address], timeouts={"backend_response": "1s"})
    t0 = time.monotonic()
    r = get(v, timeout=8)
    took = time.monotonic() - t0
    assert_short_error(r, 504)
    assert 0.8 <= took <= 3.0, took


def test_vane_survives_backend_errors(vane_factory, raw_backend):
    """After a failure, the same vane serves the next request normally."""
    bad = raw_backend(h_reset)
    good = raw_backend(respond_with(ok_response(b"fine")))
    v = vane_factory([bad.address, good.address])
    statuses = []
    for _ in range(6):
        r = get(v)
        statuses.append(r.status)
        assert r.status in (200, 502), r
    assert 200 in statuses, statuses
    assert good.requests, "the healthy server got nothing"


# 9 ------------------------------------------------------------------------

def test_cut_content_length_not_complete(vane_factory, raw_backend):
    srv = raw_backend(h_cut_length)
    v = vane_factory([srv.address])
    r = get(v, timeout=8)
    assert not r.timed_out, "vane kept the client connection open: %r" % r
    if r.status == 200:
        assert not r.complete, r
        assert r.eof and len(r.body) < 100000, r
    else:
        assert r.status == 502, r


def test_cut_chunked_not_complete(vane_factory, raw_backend):
    srv = raw_backend(h_cut_chunked)
    v = vane_factory([srv.address])
    r = get(v, timeout=8)
    assert not r.timed_out, "vane kept the client connection open: %r" % r
    if r.status == 200:
        assert not r.complete, "terminating 0-chunk sent for a cut body"
        assert r.eof
    else:
        assert r.status == 502, r


def test_close_delimited_response_relayed(vane_factory, raw_backend):
    srv = raw_backend(h_close_delimited)
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
        assert r.status == 200 and r.complete, r
        assert len(r.body) == 10000, len(r.body)
        assert r.body.startswith(b"0000c") and b"0009c" in r.body
        if r.framing == "chunked":
            # re-framed: the client connection may stay open
            c.send(request("GET", "/"))
            r2 = c.read_response()
            assert r2.status == 200 and len(r2.body) == 10000, r2


def test_close_delimited_response_http10(vane_factory, raw_backend):
    srv = raw_backend(h_close_delimited)
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/", version="HTTP/1.0"))
        r = c.read_response()
    assert r.status == 200 and r.complete, r
    assert not r.header_all("transfer-encoding")
    assert len(r.body) == 10000


def test_connect_refused_tries_next_server(vane_factory, raw_backend):
    """One of two servers is down (nothing listening). A refused connect
    sent nothing, so trying the other server is safe for any method
    (DESIGN: the balancer takes the tried-set so a retry never picks the
    same server twice). No client should see a 502 while a server is up."""
    good = raw_backend(respond_with(ok_response(b"up")))
    v = vane_factory(["127.0.0.1:%d" % free_port(), good.address])
    statuses = []
    for i in range(10):
        with v.conn() as c:
            c.send(request("POST" if i % 2 else "GET", "/%d" % i,
                           body=b"b" if i % 2 else b""))
            statuses.append(c.read_response().status)
    assert statuses == [200] * 10, statuses


def test_all_servers_refuse_502_then_503_quickly(vane_factory):
    """The first request tries two of the three refusing servers (one
    retry) and gets 502; the passive checks (max_fails = 1) left them out,
    so the third is tried by the next request; after that none is up and
    the answer is 503 with Retry-After, at once."""
    v = vane_factory(["127.0.0.1:%d" % free_port() for _ in range(3)])
    statuses = []
    for _ in range(4):
        t0 = time.monotonic()
        r = get(v)
        statuses.append(r.status)
        assert r.complete and len(r.body) < 1024, r
        assert time.monotonic() - t0 < 1.5
        if r.status == 503:
            assert int(r.header("retry-after")) >= 1, r.headers
    assert statuses == [502, 502, 503, 503], statuses


def test_backend_restart_with_pooled_connections(vane_factory, tmp_path):
    """The backend restarts on the same port while vane holds idle pooled
    connections to it: the next GET and POST both succeed."""
    from conftest import UvicornBackend
    b = UvicornBackend("restart", tmp_path)
    b.wait_ready()
    try:
        v = vane_factory([b.address])
        with v.conn() as c:
            for _ in range(3):
                c.send(request("GET", "/health"))
                assert c.read_response().status == 200
        b.stop()
        b2 = UvicornBackend("restart2", tmp_path, port=b.port)
        b2.wait_ready()
        try:
            with v.conn() as c:
                c.send(request("GET", "/health"))
                r = c.read_response()
                assert r.status == 200 and r.header("x-backend") == "restart2", r
                c.send(request("POST", "/echo", body=b"after restart"))
                r = c.read_response()
                assert r.status == 200, r
        finally:
            b2.stop()
    finally:
        b.stop()
