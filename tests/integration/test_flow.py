"""Flow control end to end: readers and writers that pause and resume, on
both sides. A proxy that stops reading under backpressure must resume by
itself when the other side drains (the classic edge-triggered stall)."""
import hashlib
import socket
import threading
import time

from conftest import read_request
from httpraw import RawConn, request


def pattern_sha(n):
    from backend_app import pattern
    return hashlib.sha256(pattern(n)).hexdigest()


def slow_read_response(port, target, pause_every, pause, deadline_s):
    """GET target and read the whole response in 64 KiB reads, pausing
    `pause` seconds every `pause_every` bytes. Returns (head, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(request("GET", target))
    deadline = time.monotonic() + deadline_s
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, "closed before the head"
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    cl = None
    for ln in head.split(b"\r\n"):
        if ln.lower().startswith(b"content-length:"):
            cl = int(ln.split(b":")[1])
    assert cl is not None, head
    got = [body]
    n = len(body)
    since = 0
    while n < cl:
        assert time.monotonic() < deadline, \
            "stalled at %d of %d bytes" % (n, cl)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            raise AssertionError("stalled at %d of %d bytes" % (n, cl))
        assert d, "closed at %d of %d bytes" % (n, cl)
        got.append(d)
        n += len(d)
        since += len(d)
        if since >= pause_every:
            since = 0
            time.sleep(pause)
    s.close()
    return head, b"".join(got)


def test_paused_reader_resumes(vane_factory, backend):
    n = 16 * 1000 * 1000
    v = vane_factory([backend.address])
    head, body = slow_read_response(v.port, "/bytes/%d" % n,
                                    pause_every=2 * 1000 * 1000, pause=0.4,
                                    deadline_s=40)
    assert len(body) == n
    assert hashlib.sha256(body).hexdigest() == pattern_sha(n)


def test_long_pause_under_client_send(vane_factory, backend):
    """One 1.5 s pause (client_send = 3s) in the middle of a download."""
    n = 8 * 1000 * 1000
    v = vane_factory([backend.address], timeouts={"client_send": "3s"})
    head, body = slow_read_response(v.port, "/bytes/%d" % n,
                                    pause_every=3 * 1000 * 1000, pause=1.5,
                                    deadline_s=30)
    assert hashlib.sha256(body).hexdigest() == pattern_sha(n)


def test_slow_reading_backend_upload(vane_factory, raw_backend):
    """The backend reads an 8 MB upload slowly, with pauses: vane must keep
    feeding it as it drains, and every byte must arrive."""
    n = 8 * 1000 * 1000
    body = bytes(range(256)) * (n // 256)
    result = {}

    def handler(c, srv):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        h = hashlib.sha256(rest)
        got = len(rest)
        i = 0
        while got < n:
            d = c.recv(16384)
            if not d:
                break
            h.update(d)
            got += len(d)
            i += 1
            if i % 64 == 0:
                time.sleep(0.2)
        result["got"] = got
        result["sha"] = h.hexdigest()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    srv = raw_backend(handler)
    v = vane_factory([srv.address])
    with v.conn(timeout=40) as c:
        c.send(request("POST", "/up", headers=[("Content-Length", str(n))]))
        c.send(body)
        r = c.read_response(timeout=40)
    assert r.status == 200, (r, result)
    assert result.get("got") == n
    assert result["sha"] == hashlib.sha256(body).hexdigest()


def test_concurrent_large_downloads(vane_factory, backends):
    n = 4 * 1000 * 1000
    v = vane_factory([b.address for b in backends])
    want = pattern_sha(n)
    res = []

    def one():
        try:
            with RawConn(v.port, timeout=30) as c:
                c.send(request("GET", "/bytes/%d" % n))
                r = c.read_response(timeout=30)
                res.append(r.status == 200 and
                           hashlib.sha256(r.body).hexdigest() == want)
        except OSError as e:
            res.append(repr(e))
    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    assert res == [True] * 10, res


def test_upload_and_download_same_connection_repeated(vane, backends):
    """Alternate 2 MB uploads and 2 MB downloads on one connection."""
    up = b"u" * (2 * 1000 * 1000)
    with vane.conn(timeout=30) as c:
        for i in range(4):
            c.send(request("POST", "/echo", body=up))
            r = c.read_response()
            assert r.status == 200 and b'"body_length":2000000' in r.body, r
            c.send(request("GET", "/stream/2000000"))
            r = c.read_response()
            assert r.status == 200 and len(r.body) == 2000000, r


def test_pipeline_behind_a_large_response(vane, backends):
    """Requests queued behind an 8 MB response are answered after it with
    no new bytes from the client (no edge left to wake vane up)."""
    with vane.conn(timeout=30) as c:
        c.send(request("GET", "/bytes/8000000") + request("GET", "/echo?x=2") +
               request("GET", "/echo?x=3"))
        r1 = c.read_response()
        r2 = c.read_response(timeout=5)
        r3 = c.read_response(timeout=5)
    assert r1.status == 200 and len(r1.body) == 8000000, r1
    assert r2.status == 200 and b'"query":"x=2"' in r2.body, r2
    assert r3.status == 200 and b'"query":"x=3"' in r3.body, r3


def test_backend_sends_in_bursts(vane_factory, raw_backend):
    """Backend writes 1 MB bursts with gaps while the client reads slowly."""
    n = 6 * 1000 * 1000

    def handler(c, srv):
        raw, _ = read_request(c)
        if raw is None:
            return
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
        blk = b"k" * 1000000
        for _ in range(6):
            c.sendall(blk)
            time.sleep(0.15)
        time.sleep(1)
    srv = raw_backend(handler)
    v = vane_factory([srv.address])
    head, body = slow_read_response(v.port, "/", pause_every=500000,
                                    pause=0.05, deadline_s=20)
    assert body == b"k" * n


def test_pipelined_requests_arriving_during_a_response(vane, backends):
    """Requests 2 and 3 arrive while 1 is in flight, in separate writes."""
    with vane.conn(timeout=10) as c:
        c.send(request("GET", "/slow/300"))
        time.sleep(0.1)
        c.send(request("GET", "/echo?x=2"))
        time.sleep(0.1)
        c.send(request("GET", "/echo?x=3"))
        rs = [c.read_response(timeout=5) for _ in range(3)]
    assert [r.status for r in rs] == [200, 200, 200], rs
    assert b'"query":"x=3"' in rs[2].body
