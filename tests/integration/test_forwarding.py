"""What vane forwards, both ways: added and stripped headers, bodies in every
framing, keep-alive and pipelining, HEAD/204/304, Expect: 100-continue."""
import functools
import hashlib
import json
import os
import re

import requests

from conftest import ok_response, read_request, respond_with, wait_for
from httpraw import chunked, request


def echo(resp):
    assert resp.status == 200, resp
    assert resp.complete, resp
    return json.loads(resp.body)


def hdrs(echoed, name):
    """All values of one request header as the backend saw it."""
    return [v for k, v in echoed["headers"] if k.lower() == name.lower()]


def forwarded_params(value):
    """Parameters of the last element of a Forwarded value (RFC 7239)."""
    last = value.split(",")[-1]
    out = {}
    for p in last.split(";"):
        k, _, v = p.strip().partition("=")
        out[k.lower()] = v.strip('"')
    return out


# 1 ------------------------------------------------------------------------

def test_get_returns_backend_response(vane, backends):
    r = requests.get(vane.url + "/echo/a/b?x=1&y=2", timeout=10)
    assert r.status_code == 200
    e = r.json()
    assert e["backend"] in ("b1", "b2")
    assert e["method"] == "GET"
    assert e["path"] == "/echo/a/b"
    assert e["query"] == "x=1&y=2"
    assert r.headers.get("x-backend") == e["backend"]


def test_request_via_and_xff_added(vane):
    with vane.conn() as c:
        c.send(request("GET", "/echo"))
        e = echo(c.read_response())
    via = hdrs(e, "via")
    assert via and "vane" in via[-1], via
    assert "1.1" in via[-1], via
    assert hdrs(e, "x-forwarded-for") == ["127.0.0.1"]
    assert hdrs(e, "x-forwarded-proto") == ["http"]


def test_response_has_via(vane):
    r = requests.get(vane.url + "/health", timeout=10)
    assert r.status_code == 200
    assert "vane" in r.headers.get("via", ""), dict(r.headers)


def test_xff_appended(vane):
    with vane.conn() as c:
        c.send(request("GET", "/echo",
                       headers=[("X-Forwarded-For", "1.2.3.4")]))
        e = echo(c.read_response())
    xff = ", ".join(hdrs(e, "x-forwarded-for"))
    assert xff == "1.2.3.4, 127.0.0.1", e["headers"]


def test_xfp_replaced(vane):
    with vane.conn() as c:
        c.send(request("GET", "/echo",
                       headers=[("X-Forwarded-Proto", "https")]))
        e = echo(c.read_response())
    assert hdrs(e, "x-forwarded-proto") == ["http"], e["headers"]


def test_forwarded_added(vane):
    with vane.conn() as c:
        c.send(request("GET", "/echo"))
        e = echo(c.read_response())
    fwd = hdrs(e, "forwarded")
    assert fwd, e["headers"]
    p = forwarded_params(", ".join(fwd))
    assert p.get("for") == "127.0.0.1" and p.get("proto") == "http", fwd


def test_forwarded_appended(vane):
    with vane.conn() as c:
        c.send(request("GET", "/echo",
                       headers=[("Forwarded", "for=192.0.2.60;proto=https")]))
        e = echo(c.read_response())
    fwd = ", ".join(hdrs(e, "forwarded"))
    assert fwd.startswith("for=192.0.2.60;proto=https"), fwd
    p = forwarded_params(fwd)
    assert p.get("for") == "127.0.0.1" and p.get("proto") == "http", fwd


def test_host_and_target_exact(vane_factory, raw_backend):
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/p/a%20th?q=1&r=%2F", host="Example.COM:8080"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r
    assert len(srv.requests) == 1
    head = srv.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"GET /p/a%20th?q=1&r=%2F HTTP/1.1", head[0]
    hosts = [ln for ln in head[1:] if ln.lower().startswith(b"host:")]
    assert hosts == [b"Host: Example.COM:8080"] or \
        [h.split(b":", 1)[1].strip() for h in hosts] == [b"Example.COM:8080"], hosts


def test_absolute_form_becomes_origin_form(vane_factory, raw_backend):
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(b"GET http://api.example:81/x?y=1 HTTP/1.1\r\n"
               b"Host: api.example:81\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    assert len(srv.requests) == 1
    line = srv.requests[0].split(b"\r\n")[0]
    assert line == b"GET /x?y=1 HTTP/1.1", line


# 2 ------------------------------------------------------------------------

BODY_1M = os.urandom(1 << 20)
SHA_1M = hashlib.sha256(BODY_1M).hexdigest()


def test_post_1m_content_length(vane):
    r = requests.post(vane.url + "/echo", data=BODY_1M, timeout=30)
    assert r.status_code == 200
    e = r.json()
    assert e["body_length"] == len(BODY_1M)
    assert e["body_sha256"] == SHA_1M


def test_post_1m_chunked(vane):
    data = chunked(BODY_1M, 7001)
    with vane.conn(timeout=30) as c:
        c.send(request("POST", "/echo",
                       headers=[("Transfer-Encoding", "chunked")]))
        for i in range(0, len(data), 50000):   # many writes
            c.send(data[i:i + 50000])
        e = echo(c.read_response())
    assert e["body_length"] == len(BODY_1M)
    assert e["body_sha256"] == SHA_1M
    # the backend got a well-framed body, not the client's chunk boundaries
    assert not hdrs(e, "content-length") or \
        hdrs(e, "content-length") == [str(len(BODY_1M))]


def test_put_empty_body(vane):
    r = requests.put(vane.url + "/echo", data=b"", timeout=10)
    assert r.status_code == 200
    assert r.json()["body_length"] == 0


# 3 ------------------------------------------------------------------------

N8M = 8 * 1000 * 1000


@functools.lru_cache(maxsize=None)
def pattern_sha(n):
    from backend_app import pattern
    return hashlib.sha256(pattern(n)).hexdigest()


def test_large_response_http11(vane):
    with vane.conn(timeout=30) as c:
        c.send(request("GET", "/bytes/%d" % N8M))
        r = c.read_response()
    assert r.status == 200 and r.complete, r
    assert len(r.body) == N8M
    assert hashlib.sha256(r.body).hexdigest() == pattern_sha(N8M)


def test_stream_response_http11(vane):
    with vane.conn(timeout=30) as c:
        c.send(request("GET", "/stream/%d" % N8M))
        r = c.read_response()
        assert r.status == 200 and r.complete, r
        assert r.framing == "chunked", r.headers
        assert hashlib.sha256(r.body).hexdigest() == pattern_sha(N8M)
        # the connection is still usable
        c.send(request("GET", "/health"))
        assert c.read_response().status == 200


def test_large_response_http10(vane):
    with vane.conn(timeout=30) as c:
        c.send(request("GET", "/bytes/%d" % N8M, version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200 and r.complete, r
        assert r.version in ("HTTP/1.0", "HTTP/1.1")
        assert hashlib.sha256(r.body).hexdigest() == pattern_sha(N8M)
        assert c.closed_within(3), "HTTP/1.0 connection not closed"


def test_stream_response_http10(vane):
    with vane.conn(timeout=30) as c:
        c.send(request("GET", "/stream/%d" % N8M, version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200, r
        assert not r.header_all("transfer-encoding"), r.headers
        assert r.framing in ("close", "length"), r.headers
        assert r.complete, r
        assert hashlib.sha256(r.body).hexdigest() == pattern_sha(N8M)
        assert c.closed_within(3), "HTTP/1.0 connection not closed"


# 4 ------------------------------------------------------------------------

def test_keepalive_many_requests(vane):
    with vane.conn() as c:
        for i in range(60):
            c.send(request("GET", "/echo?i=%d" % i))
            e = echo(c.read_response())
            assert e["query"] == "i=%d" % i
        assert not c.eof


def test_pipelining_in_order(vane):
    with vane.conn() as c:
        c.send(b"".join(request("GET", "/echo?n=%d" % i) for i in range(5)))
        got = [echo(c.read_response())["query"] for _ in range(5)]
    assert got == ["n=%d" % i for i in range(5)]


def test_pipelining_mixed_sizes(vane):
    paths = ["/bytes/100000", "/health", "/stream/300000", "/echo?z=1",
             "/bytes/0"]
    with vane.conn(timeout=20) as c:
        c.send(b"".join(request("GET", p) for p in paths))
        rs = [c.read_response() for _ in paths]
    assert all(r.status == 200 and r.complete for r in rs), rs
    assert len(rs[0].body) == 100000 and len(rs[2].body) == 300000
    assert json.loads(rs[3].body)["query"] == "z=1"
    assert rs[4].body == b""


# 5 ------------------------------------------------------------------------

def test_request_hop_by_hop_stripped(vane_factory, raw_backend):
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/hop", headers=[
            ("Connection", "close, X-Secret"), ("X-Secret", "1"),
            ("Keep-Alive", "timeout=99"), ("TE", "gzip"),
            ("Upgrade", "foo/2"), ("Proxy-Connection", "keep-alive"),
            ("X-Kept", "yes")]))
        r = c.read_response()
    assert r.status == 200, r
    assert len(srv.requests) == 1
    head = srv.requests[0].split(b"\r\n\r\n")[0].lower()
    fields = dict()
    for ln in head.split(b"\r\n")[1:]:
        k, _, val = ln.partition(b":")
        fields.setdefault(k.strip(), []).append(val.strip())
    assert b"x-kept" in fields, head
    for name in (b"x-secret", b"keep-alive", b"upgrade", b"proxy-connection"):
        assert name not in fields, (name, head)
    assert all(b"gzip" not in t for t in fields.get(b"te", [])), head
    assert all(b"x-secret" not in t for t in fields.get(b"connection", [])), head


def test_response_hop_by_hop_stripped(vane_factory, raw_backend):
    srv = raw_backend(respond_with(ok_response(
        extra=b"Connection: X-Internal\r\nX-Internal: 1\r\n"
              b"Keep-Alive: timeout=5\r\nX-Public: 1\r\n")))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r
    assert r.header("x-public") == "1", r.headers
    assert not r.has("x-internal"), r.headers
    assert "timeout=5" not in r.header_all("keep-alive"), r.headers
    assert all("x-internal" not in v_.lower()
               for v_ in r.header_all("connection")), r.headers


# 12 -----------------------------------------------------------------------

def test_expect_100_continue(vane):
    body = b"e" * 5000
    with vane.conn() as c:
        c.send(request("POST", "/echo", headers=[
            ("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
        interim = c.read_response(timeout=3, skip_1xx=False)
        assert interim.status == 100, interim
        c.send(body)
        e = echo(c.read_response())
    assert e["body_length"] == len(body)
    assert e["body_sha256"] == hashlib.sha256(body).hexdigest()


# 13 -----------------------------------------------------------------------

def test_head_has_no_body(vane):
    with vane.conn() as c:
        c.send(request("HEAD", "/bytes/5000"))
        r = c.read_response(method="HEAD")
        assert r.status == 200, r
        assert r.header("content-length") in (None, "5000"), r.headers
        # any body bytes would be parsed as the next response and fail here
        c.send(request("GET", "/echo?after=head"))
        assert echo(c.read_response())["query"] == "after=head"


def test_204_and_304_no_body_connection_usable(vane):
    with vane.conn() as c:
        for code in (204, 304, 204):
            c.send(request("GET", "/status/%d" % code))
            r = c.read_response()
            assert r.status == code, r
            assert not r.header_all("transfer-encoding"), r.headers
            assert r.header("content-length") in (None, "0"), r.headers
        c.send(request("GET", "/echo?after=204"))
        assert echo(c.read_response())["query"] == "after=204"
        assert c.buf == b""


def test_error_statuses_relayed(vane):
    with vane.conn() as c:
        for code in (404, 500, 503):
            c.send(request("GET", "/status/%d" % code))
            r = c.read_response()
            assert r.status == code and r.complete, r
            assert json.loads(r.body)["status"] == code


# Field-level details -------------------------------------------------------

def forwarded_head(vane_factory, raw_backend, raw):
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(raw)
        r = c.read_response()
    assert r.status == 200, (r, r.raw_head)
    assert len(srv.requests) == 1
    head = srv.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    return head, srv.requests[0]


def names(head):
    return [ln.split(b":", 1)[0].lower() for ln in head[1:]]


def test_connection_tokens_case_insensitive_and_repeated(vane_factory,
                                                          raw_backend):
    head, _ = forwarded_head(vane_factory, raw_backend, request("GET", "/", headers=[
        ("Connection", "X-SECRET"), ("connection", "x-other"),
        ("x-secret", "1"), ("X-Other", "2"), ("X-Stay", "3")]))
    n = names(head)
    assert b"x-secret" not in n and b"x-other" not in n, head
    assert b"x-stay" in n


def test_content_length_leading_zeros(vane_factory, raw_backend):
    head, raw = forwarded_head(vane_factory, raw_backend,
                               b"POST / HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 0005\r\n\r\nhello")
    assert raw.endswith(b"\r\n\r\nhello")
    cls = [ln for ln in head if ln.lower().startswith(b"content-length")]
    assert len(cls) == 1 and int(cls[0].split(b":")[1]) == 5, cls


def test_unusual_valid_field_names_and_values(vane_factory, raw_backend):
    head, _ = forwarded_head(vane_factory, raw_backend,
                             b"GET / HTTP/1.1\r\nHost: x\r\n"
                             b"X-!#$%&'*+-.^_`|~: tchar\r\n"
                             b"X-Empty:\r\n"
                             b"X-Trail: v  \t\r\n\r\n")
    assert b"X-!#$%&'*+-.^_`|~: tchar" in head, head
    assert any(ln.lower().startswith(b"x-empty:") for ln in head), head
    assert b"X-Trail: v" in head, head


def test_obs_text_in_value_forwarded(vane_factory, raw_backend):
    """obs-text (0x80-0xFF) is valid in a field value (RFC 9110 §5.5) and
    is passed on as opaque bytes."""
    head, _ = forwarded_head(vane_factory, raw_backend,
                             b"GET / HTTP/1.1\r\nHost: x\r\n"
                             b"X-Name: caf\xe9 \xc3\xa9\r\n\r\n")
    assert b"X-Name: caf\xe9 \xc3\xa9" in head, head


def test_via_on_response_from_http10_backend(vane_factory, raw_backend):
    def handler(c, srv):
        raw, _ = read_request(c)
        if raw is None:
            return
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    srv = raw_backend(handler)
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
    assert r.status == 200 and r.version == "HTTP/1.1", r
    assert "vane" in (r.header("via") or ""), r.headers


def test_http10_without_host_gets_a_host(vane, vane_factory, raw_backend):
    """HTTP/1.0 allows a request without Host (old tools and health
    checkers send one). Forwarded as HTTP/1.1 it MUST carry a Host field
    (RFC 9112 §3.2), else an HTTP/1.1 backend rightly answers 400."""
    with vane.conn() as c:
        c.send(b"GET /echo HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, (r, r.body[:100])
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(b"GET /x HTTP/1.0\r\n\r\n")
        assert c.read_response().status == 200
    head = srv.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    hosts = [ln for ln in head[1:] if ln.lower().startswith(b"host:")]
    assert len(hosts) == 1, head


def test_response_single_date_and_via(vane):
    with vane.conn() as c:
        c.send(request("GET", "/health"))
        r = c.read_response()
    assert r.status == 200, r
    assert len(r.header_all("date")) == 1, r.headers
    assert len(r.header_all("via")) == 1, r.headers
    assert r.header("server") == "uvicorn", r.headers


def test_ipv6_backend(vane_factory):
    import socket
    import threading
    try:
        ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls.bind(("::1", 0))
    except OSError:
        import pytest
        pytest.skip("no IPv6 loopback here")
    ls.listen(8)
    ls.settimeout(5)
    port = ls.getsockname()[1]
    got = []

    def serve():
        try:
            c, _ = ls.accept()
        except OSError:
            return
        raw, _ = read_request(c)
        got.append(raw)
        c.sendall(ok_response(b"v6"))
        c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    v = vane_factory(["[::1]:%d" % port])
    try:
        with v.conn() as c:
            c.send(request("GET", "/six"))
            r = c.read_response()
    finally:
        t.join(timeout=5)
        ls.close()
    assert r.status == 200 and r.body == b"v6", r
    assert got and got[0].startswith(b"GET /six HTTP/1.1\r\n")


def test_request_id(vane_factory, backend, tmp_path):
    """backends.request_id: a new ID per request when the client sends
    none, the client's own when well-formed, a new one in place of a
    malformed or repeated one; the backend and the access log see the same
    value, cache hits are logged with theirs. Unset: nothing added."""
    log = tmp_path / "access.log"
    v = vane_factory([backend.address], access_log=str(log),
                     access_format="$request_uri $request_id $cache_status",
                     backend_opts='request_id = "X-Request-ID"; ')

    def ids(r):
        return [val for k, val in json.loads(r.body)["headers"]
                if k.lower() == "x-request-id"]
    sent = []
    with v.conn() as c:
        for hdrs in ([], [], [("X-Request-ID", "trace-1.a_b~c+d/e=")],
                     [("X-Request-ID", "bad id")],
                     [("x-request-id", "one"), ("X-Request-Id", "two")],
                     [("X-Request-ID", "x" * 65)]):
            c.send(request("GET", "/echo?n=%d" % len(sent), headers=hdrs))
            r = c.read_response()
            assert r.status == 200, r
            got = ids(r)
            assert len(got) == 1, got
            sent.append(got[0])
        path = "/cache/rid-%d?cc=max-age%%3D600" % v.port
        for _ in range(2):
            c.send(request("GET", path))
            assert c.read_response().status == 200
    fresh = re.compile(r"[0-9a-f]{32}")
    assert fresh.fullmatch(sent[0]) and fresh.fullmatch(sent[1]), sent
    assert sent[0] != sent[1]
    assert sent[2] == "trace-1.a_b~c+d/e="
    for s in sent[3:]:
        assert fresh.fullmatch(s), sent
    assert wait_for(lambda: log.exists() and
                    len(log.read_text().splitlines()) == 8, 3)
    lines = [ln.split(" ") for ln in log.read_text().splitlines()]
    assert [ln[1] for ln in lines[:6]] == sent, lines
    assert lines[7][2] == "hit" and fresh.fullmatch(lines[7][1]), lines
    assert lines[6][1] != lines[7][1]
    # Unset: the client's field passes as any other, none is added.
    v2 = vane_factory([backend.address])
    with v2.conn() as c:
        c.send(request("GET", "/echo"))
        assert ids(c.read_response()) == []
        c.send(request("GET", "/echo", headers=[("X-Request-ID", "a b")]))
        assert ids(c.read_response()) == ["a b"]
