"""Coalesced waiters are served while the response still streams.

Concurrent misses for one URL wait for the one fetch in flight; once its
head is storable they get that head and then the body as the backend sends
it, not after the whole transfer. Driven with the backend's /gate/{name}
endpoint: its first call sends one chunk and then holds until the test
releases it, so "the backend is mid-body" is a fact the test controls (and
reads back from /stats), never a timing guess.

The first client's request is at the backend before the others are sent,
so it is the fetcher; the others are waiters, on two workers.
"""
import signal
import socket
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

from httpraw import RawConn, request as raw_request

TIMEOUT = 10


def pattern(n):
    block = bytes(range(256)) * 256
    reps, rest = divmod(n, len(block))
    return block * reps + block[:rest]


def gate_chunk(name, n, i, size):
    """The backend's chunk i of call n (backend_app.gate_chunk)."""
    tag = ("%s:%d:%d:" % (name, n, i)).encode()
    return (tag + pattern(size))[:size]


def expected(name, n, chunks, size):
    return b"".join(gate_chunk(name, n, i, size) for i in range(chunks))


def gate_path(name, **params):
    return "/gate/%s?%s" % (name, urllib.parse.urlencode(params))


def gate_stats(backend, name):
    return backend.stats()["gates"].get(
        name, {"calls": 0, "sent": 0, "done": False})


def release(backend, name):
    requests.post(backend.url + "/gate/%s/release" % name,
                  timeout=5).raise_for_status()


def wait_for(pred, what, timeout=TIMEOUT):
    """Poll pred (bounded); fail with `what` if it never holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    pytest.fail("timed out waiting for %s" % what)


def read_until(conn, needle, timeout=TIMEOUT):
    """Read into conn.buf until needle is in it; False on EOF/deadline."""
    deadline = time.monotonic() + timeout
    try:
        while needle not in conn.buf:
            if not conn._fill(deadline):
                return False
    except socket.timeout:
        return False
    return True


def cache_status(r):
    """{param: value or True} of vane's Cache-Status member."""
    v = ", ".join(r.header_all("cache-status"))
    for member in v.split(","):
        parts = [p.strip() for p in member.split(";")]
        if parts[0] != "vane":
            continue
        out = {}
        for p in parts[1:]:
            k, eq, val = p.partition("=")
            out[k.lower()] = val if eq else True
        return out
    raise AssertionError("no vane Cache-Status in %r" % r.headers)


@pytest.fixture
def name(request):
    return "%s-%s" % (request.node.name.replace("[", "-").replace("]", ""),
                      uuid.uuid4().hex[:8])


def small_conn(port):
    """A RawConn whose receive buffer is small from the start (set before
    connect: shrinking it later upsets TCP's window and stalls the peer in
    retransmission backoff)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = RawConn.__new__(RawConn)
    c.sock, c.timeout, c.buf, c.eof = s, TIMEOUT, b"", False
    return c


def start_clients(v, backend, name, p, n, versions=None, headers=(),
                  small=()):
    """n connections GET p: the first reaches the backend (the fetcher)
    before the others (with `headers`) are sent; those whose index is in
    `small` have a small receive buffer. Returns the connections."""
    host = "127.0.0.1:%d" % v.port
    versions = versions or ["HTTP/1.1"] * n
    conns = []
    c = v.conn()
    c.send(raw_request("GET", p, host=host, version=versions[0]))
    conns.append(c)
    wait_for(lambda: gate_stats(backend, name)["calls"] == 1,
             "the first request to reach the backend")
    for i in range(1, n):
        c = small_conn(v.port) if i in small else v.conn()
        c.send(raw_request("GET", p, host=host, version=versions[i],
                           headers=headers))
        conns.append(c)
    return conns


def all_got_first_chunk(conns, first):
    for i, c in enumerate(conns):
        assert read_until(c, first), \
            "client %d got no body byte while the backend held" % i


def close_all(conns):
    for c in conns:
        c.close()


@pytest.mark.parametrize("cl", [True, False], ids=["length", "chunked"])
def test_waiters_stream_while_backend_mid_body(vane_factory, backend, name,
                                                cl):
    """Twelve clients on a cold URL over two workers: one backend request;
    every client has the head and the first chunk while the backend still
    holds the rest; after the release all get the same whole body."""
    v = vane_factory([backend.address], workers=2)
    chunks, size = 4, 20000
    p = gate_path(name, hold=1, chunks=chunks, size=size, cl=int(cl))
    conns = start_clients(v, backend, name, p, 12)
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size))
        st = gate_stats(backend, name)
        assert st["calls"] == 1 and st["sent"] == 1 and not st["done"], st
        release(backend, name)
        rs = [c.read_response() for c in conns]
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for i, r in enumerate(rs):
        assert r.status == 200 and r.complete, (i, r)
        assert r.body == want, "client %d got other bytes" % i
        assert r.framing == ("length" if cl else "chunked"), (i, r)
    assert cache_status(rs[0]).get("stored") is True, rs[0].headers
    for r in rs[1:]:
        cs = cache_status(r)
        assert cs.get("fwd") == "uri-miss" and cs.get("collapsed") is True, cs
        assert "stored" not in cs and "hit" not in cs, cs
        assert r.header("age") is not None
    assert gate_stats(backend, name)["calls"] == 1
    # Stored whole: the next one is a hit with the same bytes.
    r = requests.get(v.url + p, timeout=TIMEOUT)
    assert r.content == want
    assert cache_status_requests(r).get("hit") is True
    assert gate_stats(backend, name)["calls"] == 1


def cache_status_requests(r):
    class R:
        def header_all(self, n):
            return [r.headers.get(n, "")]
        headers = r.headers
    return cache_status(R())


@pytest.mark.parametrize("cl", [True, False], ids=["length", "chunked"])
def test_backend_dies_mid_body_waiters_cut(vane_factory, backend, name, cl):
    """The fetch fails after a first chunk reached every client: each
    connection is closed short of its framing (no last chunk, fewer bytes
    than Content-Length), nothing is stored, the next request goes to the
    backend and gets a whole answer."""
    v = vane_factory([backend.address], workers=2)
    chunks, size = 4, 20000
    p = gate_path(name, hold=1, die=1, chunks=chunks, size=size, cl=int(cl))
    conns = start_clients(v, backend, name, p, 6)
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size))
        release(backend, name)
        rs = [c.read_response() for c in conns]
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for i, r in enumerate(rs):
        assert r.status == 200, (i, r)
        assert not r.complete and not r.timed_out, (i, r)
        assert want.startswith(r.body) and len(r.body) < len(want), (i, r)
    assert gate_stats(backend, name)["calls"] == 1
    r = requests.get(v.url + p, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == expected(name, 2, chunks,
                                                          size)
    cs = cache_status_requests(r)
    assert cs.get("fwd") == "uri-miss" and cs.get("stored") is True, cs
    assert gate_stats(backend, name)["calls"] == 2


def test_waiter_closing_mid_stream_others_complete(vane_factory, backend,
                                                   name):
    v = vane_factory([backend.address], workers=2)
    chunks, size = 8, 65536
    p = gate_path(name, hold=1, chunks=chunks, size=size, delay_ms=20)
    conns = start_clients(v, backend, name, p, 6)
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size)[:1000])
        conns[2].close()
        conns[4].sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conns[4].close()        # a reset, this one
        release(backend, name)
        rs = [c.read_response() for i, c in enumerate(conns)
              if i not in (2, 4)]
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for r in rs:
        assert r.status == 200 and r.complete and r.body == want, r
    assert gate_stats(backend, name)["calls"] == 1
    r = requests.get(v.url + p, timeout=TIMEOUT)
    assert r.content == want


@pytest.mark.parametrize("how", ["reset", "close"])
def test_fetcher_gone_mid_stream_fetch_goes_on(vane_factory, backend, name,
                                               how):
    """The client whose request fetches the response leaves mid-body (a
    reset, or a close noticed at the next write): the fetch goes on without
    it, every waiter gets the whole body and the response is stored,
    instead of all of them being cut off with it."""
    v = vane_factory([backend.address], workers=2)
    chunks, size = 8, 65536
    p = gate_path(name, hold=1, chunks=chunks, size=size, delay_ms=20)
    conns = start_clients(v, backend, name, p, 5)
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size)[:1000])
        if how == "reset":
            conns[0].sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conns[0].close()
        release(backend, name)
        rs = [c.read_response() for c in conns[1:]]
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for r in rs:
        assert r.status == 200 and r.complete and r.body == want, r
    wait_for(lambda: gate_stats(backend, name)["done"],
             "the backend to finish sending")
    r = requests.get(v.url + p, timeout=TIMEOUT)
    assert r.content == want
    assert r.headers["cache-status"] == "vane; hit", r.headers
    assert gate_stats(backend, name)["calls"] == 1


@pytest.mark.parametrize("cl", [True, False], ids=["length", "chunked"])
def test_http10_waiter_framing(vane_factory, backend, name, cl):
    """An HTTP/1.0 waiter gets Content-Length when the backend gave one,
    else a close-delimited body; either way the whole body."""
    v = vane_factory([backend.address], workers=2)
    chunks, size = 4, 10000
    p = gate_path(name, hold=1, chunks=chunks, size=size, cl=int(cl))
    conns = start_clients(v, backend, name, p, 3,
                          versions=["HTTP/1.1", "HTTP/1.0", "HTTP/1.0"])
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size))
        release(backend, name)
        rs = [c.read_response() for c in conns]
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for r in rs[1:]:
        assert r.status == 200 and r.complete and r.body == want, r
        assert cache_status(r).get("collapsed") is True
        assert r.framing == ("length" if cl else "close"), r
        assert r.header("transfer-encoding") is None
    assert rs[0].complete and rs[0].body == want
    assert gate_stats(backend, name)["calls"] == 1


def test_conditional_waiter_gets_304_from_the_head(vane_factory, backend,
                                                  name):
    """A waiter whose If-None-Match matches the fetch's ETag gets its 304
    from the head alone, while the backend still holds the body."""
    v = vane_factory([backend.address], workers=2)
    chunks, size = 4, 10000
    p = gate_path(name, hold=1, chunks=chunks, size=size, etag='"v1"')
    conns = start_clients(v, backend, name, p, 3,
                          headers=[("If-None-Match", '"v1"')])
    try:
        rs = [c.read_response() for c in conns[1:]]
        assert not gate_stats(backend, name)["done"]
        release(backend, name)
        r0 = conns[0].read_response()
    finally:
        close_all(conns)
    for r in rs:
        assert r.status == 304 and r.complete, r
        assert r.header("etag") == '"v1"'
        assert cache_status(r).get("collapsed") is True
    assert r0.status == 200 and r0.body == expected(name, 1, chunks, size)
    assert gate_stats(backend, name)["calls"] == 1


@pytest.mark.parametrize("cl", [True, False], ids=["length", "chunked"])
def test_slow_waiter_gets_large_body_whole(vane_factory, backend, name, cl):
    """4 MB streamed; one waiter reads nothing more until the others are
    done (vane holds at most its usual output window for it and refills it
    as it drains), then gets every byte."""
    v = vane_factory([backend.address], workers=2)
    chunks, size = 16, 262144
    p = gate_path(name, hold=1, chunks=chunks, size=size, cl=int(cl))
    conns = start_clients(v, backend, name, p, 4, small=(1,))
    slow = conns[1]
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size)[:1000])
        release(backend, name)
        rs = [c.read_response(timeout=30) for i, c in enumerate(conns)
              if i != 1]
        wait_for(lambda: gate_stats(backend, name)["done"], "the backend")
        r_slow = slow.read_response(timeout=30)
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for r in rs + [r_slow]:
        assert r.status == 200 and r.complete and r.body == want, r
    assert cache_status(r_slow).get("collapsed") is True
    assert gate_stats(backend, name)["calls"] == 1


def test_over_max_object_size_while_streaming(vane_factory, backend, name):
    """A chunked body grows past cache.max_object_size while waiters stream
    it: they still get all of it; it is not stored."""
    v = vane_factory([backend.address], workers=2,
                     extra='cache = { max_object_size = "64K"; };')
    chunks, size = 8, 32768
    p = gate_path(name, hold=1, chunks=chunks, size=size)
    conns = start_clients(v, backend, name, p, 4)
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size))
        release(backend, name)
        rs = [c.read_response() for c in conns]
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for r in rs:
        assert r.status == 200 and r.complete and r.body == want, r
    assert gate_stats(backend, name)["calls"] == 1
    r = requests.get(v.url + p, timeout=TIMEOUT)
    assert r.content == expected(name, 2, chunks, size)
    assert gate_stats(backend, name)["calls"] == 2


def test_detached_fetch_dropped_once_wanted_by_no_one(vane_factory, backend,
                                                     name):
    """The fetcher leaves with nobody streaming from it, and the chunked
    body then grows past cache.max_object_size: it will not be stored and
    no one reads it, so the detached fetch stops instead of downloading
    the rest for nothing; vane goes on serving."""
    v = vane_factory([backend.address], level="debug",
                     extra='cache = { max_object_size = "64K"; };')
    chunks, size = 8, 32768
    p = gate_path(name, hold=1, chunks=chunks, size=size)
    conns = start_clients(v, backend, name, p, 1)
    try:
        assert read_until(conns[0], gate_chunk(name, 1, 0, size)[:1000])
        conns[0].sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conns[0].close()
        wait_for(lambda: "the fetch goes on" in v.stderr(),
                 "the fetch to be detached")
        release(backend, name)
        wait_for(lambda: "detached fetch no longer wanted" in v.stderr(),
                 "the detached fetch to stop")
    finally:
        close_all(conns)
    r = requests.get(v.url + p, timeout=TIMEOUT)
    assert r.content == expected(name, 2, chunks, size)
    assert gate_stats(backend, name)["calls"] == 2


def test_graceful_stop_while_waiters_stream(vane_factory, backend, name):
    """SIGTERM while waiters stream: the transfers in flight finish, then
    vane exits cleanly (the fixture fails on a crash or sanitizer report)."""
    v = vane_factory([backend.address], workers=2)
    chunks, size = 4, 20000
    p = gate_path(name, hold=1, chunks=chunks, size=size)
    conns = start_clients(v, backend, name, p, 6)
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size))
        v.proc.send_signal(signal.SIGTERM)
        release(backend, name)
        rs = [c.read_response() for c in conns]
    finally:
        close_all(conns)
    want = expected(name, 1, chunks, size)
    for r in rs:
        assert r.status == 200 and r.complete and r.body == want, r
    # It exits by itself once they are done (a second SIGTERM from the
    # fixture would not be graceful).
    assert v.proc.wait(timeout=10) == 0


def test_over_max_object_size_paced_by_slowest_waiter(vane_factory, backend,
                                                      name):
    """Past cache.max_object_size the stream is not stored, so vane does not
    buffer the whole body for a waiter that reads nothing: the backend is
    held (it cannot finish 24 MB, more than every socket buffer on the way
    holds) until that waiter reads, then everyone gets every byte."""
    v = vane_factory([backend.address], workers=2,
                     extra='cache = { max_object_size = "1M"; };')
    chunks, size = 96, 262144
    p = gate_path(name, hold=1, chunks=chunks, size=size)
    conns = start_clients(v, backend, name, p, 4, small=(1,))
    slow = conns[1]
    results = {}

    def read(i):
        results[i] = conns[i].read_response(timeout=60)
    threads = [threading.Thread(target=read, args=(i,)) for i in (0, 2, 3)]
    try:
        all_got_first_chunk(conns, gate_chunk(name, 1, 0, size)[:1000])
        release(backend, name)
        for t in threads:
            t.start()
        # The others read all they are offered; the backend must still not
        # get its 24 MB out while the slow waiter reads nothing.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert not gate_stats(backend, name)["done"], \
                "the whole body was buffered for a waiter reading nothing"
            time.sleep(0.1)
        r_slow = slow.read_response(timeout=60)
        for t in threads:
            t.join(timeout=70)
    finally:
        close_all(conns)
    assert not any(t.is_alive() for t in threads)
    want = expected(name, 1, chunks, size)
    for r in [results[0], results[2], results[3], r_slow]:
        assert r.status == 200 and r.complete and r.body == want, r
    assert cache_status(r_slow).get("collapsed") is True
    assert gate_stats(backend, name)["calls"] == 1
