"""Malformed and oversized requests get the right 4xx/5xx and never reach a
backend (a raw recorder counts every complete request it receives)."""
import pytest

from conftest import ok_response, respond_with
from httpraw import request

LONG = "a" * 20000

CASES = [
    ("bare_lf", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  more\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
     400),
    ("cl_and_te", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("two_cls", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Content-Length: 6\r\n\r\nhello!", 400),
    ("bad_cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\n"
     b"hello", 400),
    ("bad_chunk_size", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("te_gzip_chunked", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("http_2_0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("no_host_11", b"GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("nul_in_header", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
     400),
    ("header_too_large", b"GET / HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-Big-%d: %s\r\n" % (i, b"b" * 2000) for i in range(10)) +
     b"\r\n", 431),
    ("too_many_headers", b"GET / HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-H-%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431),
    ("uri_too_long", ("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % LONG).encode(),
     414),
    ("body_too_large_cl", b"POST / HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 2000000\r\n\r\n", 413),
]


@pytest.fixture(scope="module")
def recorder():
    from conftest import RawServer
    srv = RawServer(respond_with(ok_response()))
    yield srv
    srv.stop()


@pytest.fixture
def strict_vane(vane_factory, recorder):
    return vane_factory([recorder.address], limits={"body_size": "1M"},
                        timeouts={"client_header": "3s", "client_body": "3s"})


def test_recorder_sees_a_good_request(strict_vane, recorder):
    """The control case: a valid request does reach the recorder."""
    before = len(recorder.requests)
    with strict_vane.conn() as c:
        c.send(request("POST", "/ok", body=b"x" * 1000))
        r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r
    assert len(recorder.requests) == before + 1


@pytest.mark.parametrize("name,raw,status", CASES, ids=[c[0] for c in CASES])
def test_malformed_rejected(strict_vane, recorder, name, raw, status):
    before = len(recorder.requests)
    with strict_vane.conn(timeout=6) as c:
        c.send(raw)
        r = c.read_response(timeout=6)
        assert r.status == status, (name, r, r.raw_head[:200])
        assert r.complete, r
    assert len(recorder.requests) == before, \
        "backend received %r" % recorder.requests[before:]


def test_body_too_large_chunked(strict_vane, recorder):
    """A chunked body over body_size: 413 (or the connection closed), and
    the backend never gets a complete request."""
    before = len(recorder.requests)
    with strict_vane.conn(timeout=6) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
               b"\r\n\r\n")
        try:
            for _ in range(40):   # 40 x 64K = 2.5M > 1M
                c.send(b"10000\r\n" + b"q" * 0x10000 + b"\r\n")
            c.send(b"0\r\n\r\n")
        except OSError:
            pass
        r = c.read_response(timeout=6)
    assert r.status == 413 or (r.status is None and r.eof), r
    assert len(recorder.requests) == before


def test_error_then_connection_closed(strict_vane):
    """After a framing error vane closes the connection (RFC 9112 §9.6)."""
    with strict_vane.conn(timeout=6) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               b"Content-Length: 6\r\n\r\nhello!")
        r = c.read_response(timeout=6)
        assert r.status == 400, r
        assert c.closed_within(2)
