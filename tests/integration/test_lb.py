"""Load balancing (issue 2): smooth weighted round-robin, retries, passive
checks, all servers down, max_conns with its queue, least_conn, slow start.

Every count that matters is the backends' own: uvicorn backends count in
/stats (reset by /reset), raw backends record each request they read.
Active health checks and the admin listener are tested elsewhere.
"""
import signal
import socket
import struct
import threading
import time

import pytest

from conftest import (UvicornBackend, free_port, ok_response, read_request,
                      respond_with, start_backends, stop_pid)
from httpraw import request


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """Four uvicorn backends for the module; tests reset them first."""
    bs = start_backends(["lb1", "lb2", "lb3", "lb4"],
                        tmp_path_factory.mktemp("uv"))
    yield bs
    for b in bs:
        b.stop()


def reset(bs):
    for b in bs:
        b.reset()


def counts(bs):
    return [b.stats()["requests"] for b in bs]


def get(v, path="/health", method="GET", body=b"", timeout=10.0):
    """One request on its own client connection."""
    with v.conn(timeout=timeout) as c:
        c.send(request(method, path, body=body))
        return c.read_response(method=method)


def refused():
    """An address nothing listens on: connects to it are refused."""
    return "127.0.0.1:%d" % free_port()


def h_reset_after_read(c, srv):
    """Reads one request, records it, then closes with RST: the request
    was sent, no response byte came back."""
    raw, _ = read_request(c)
    if raw is not None:
        srv.record(raw)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def targets(srv):
    """Request targets a raw server read, in order."""
    with srv.lock:
        return [r.split(b"\r\n", 1)[0].split(b" ")[1].decode()
                for r in srv.requests]


def run_concurrent(v, paths, budget=30.0):
    """One client connection per path, all connected first, then each
    sends its GET at once (barrier). Returns [(response, t_sent, t_done)]
    in path order; a client that failed has (exception, t_sent, None)."""
    n = len(paths)
    out = [None] * n
    barrier = threading.Barrier(n)

    def client(i):
        t0 = None
        try:
            with v.conn(timeout=budget) as c:
                barrier.wait(timeout=10)
                t0 = time.monotonic()
                c.send(request("GET", paths[i]))
                r = c.read_response()
                out[i] = (r, t0, time.monotonic())
        except Exception as e:  # noqa: BLE001 - asserted by the caller
            out[i] = (e, t0, None)

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + budget
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "clients still running"
    for i, o in enumerate(out):
        assert o is not None and o[2] is not None, (i, o)
    return out


def wait_inflight(b, n, timeout=5.0):
    """Until uvicorn backend b has n requests in flight (its own count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if b.stats()["inflight"] >= n:
            return
        time.sleep(0.02)
    raise AssertionError("backend %s never had %d in flight" % (b.name, n))


# --------------------------------------------------------------------------
# 1. even split

@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("mode", ["keepalive", "new"])
def test_even_split(vane_factory, four, n, mode):
    """200 requests over n equal servers: 200/n each, within 10%, counted
    by the backends, over one client connection or one per request."""
    bs = four[:n]
    v = vane_factory([b.address for b in bs])
    reset(bs)
    if mode == "keepalive":
        with v.conn() as c:
            for i in range(200):
                c.send(request("GET", "/echo?i=%d" % i))
                r = c.read_response()
                assert r.status == 200 and r.complete, (i, r)
    else:
        for i in range(200):
            r = get(v, "/echo?i=%d" % i)
            assert r.status == 200 and r.complete, (i, r)
    got = counts(bs)
    share = 200 / n
    assert sum(got) == 200, got
    assert all(abs(g - share) <= 0.1 * share for g in got), got


# --------------------------------------------------------------------------
# 2. weights

def test_weights_3_to_1(vane_factory, four):
    a, b = four[:2]
    v = vane_factory([a.address, b.address],
                     server_opts={a.address: {"weight": 3}})
    reset([a, b])
    with v.conn() as c:
        for i in range(200):
            c.send(request("GET", "/echo?i=%d" % i))
            assert c.read_response().status == 200
    na, nb = counts([a, b])
    assert na + nb == 200, (na, nb)
    assert abs(na - 150) <= 15 and abs(nb - 50) <= 5, (na, nb)


def test_weights_5_1_1_interleave(vane_factory, raw_backend):
    """Smooth weighted round-robin: 5,1,1 is a a b a c a a, over and over
    (nginx's order), never five of a in a row. One worker, one client
    connection, fresh balancer state: the order is exact."""
    order = []
    lock = threading.Lock()

    def answer(name):
        def resp(raw):
            with lock:
                order.append(name)
            return ok_response(name.encode())
        return resp

    srvs = {n: raw_backend(respond_with(answer(n))) for n in "abc"}
    v = vane_factory([srvs[n].address for n in "abc"],
                     server_opts={srvs["a"].address: {"weight": 5}})
    bodies = []
    with v.conn() as c:
        for i in range(70):
            c.send(request("GET", "/w?i=%d" % i))
            r = c.read_response()
            assert r.status == 200 and r.complete, (i, r)
            bodies.append(r.body.decode())
    seq = "".join(order)
    assert "".join(bodies) == seq      # vane answered each from its server
    assert "aaaaa" not in seq, seq
    for k in range(0, 70, 7):
        w = seq[k:k + 7]
        assert (w.count("a"), w.count("b"), w.count("c")) == (5, 1, 1), seq
    assert seq == "aabacaa" * 10, seq


# --------------------------------------------------------------------------
# 3. retries and passive checks

def _warm_and_kill(v, victim, survivor):
    """Requests until vane has pooled connections to both, then SIGKILL
    the victim by its PID."""
    with v.conn() as c:
        for i in range(20):
            c.send(request("GET", "/echo?warm=%d" % i))
            assert c.read_response().status == 200
    st = victim.stats()
    assert st["requests"] >= 5 and st["connections"] >= 1, st
    survivor.reset()
    stop_pid(victim.proc, signal.SIGKILL)
    assert victim.proc.returncode == -signal.SIGKILL


def test_sigkill_with_retries_no_failure(vane_factory, four, tmp_path):
    """retries = 1 (the default): a backend killed under pooled connections
    costs no idempotent request, not even the first one after the kill."""
    survivor = four[0]
    victim = UvicornBackend("victim", tmp_path)
    try:
        victim.wait_ready()
        v = vane_factory([victim.address, survivor.address])
        _warm_and_kill(v, victim, survivor)
        statuses = []
        with v.conn() as c:
            for i in range(100):
                c.send(request("GET", "/echo?after=%d" % i))
                statuses.append(c.read_response().status)
        assert statuses == [200] * 100, statuses
        assert survivor.stats()["requests"] == 100
    finally:
        victim.stop()


def test_sigkill_without_retries_then_left_out(vane_factory, four, tmp_path):
    """retries = 0: the one request that meets the dead server fails (502,
    nothing else saw it); max_fails = 1 then leaves the server out for
    fail_timeout and the other 99 go to the survivor."""
    survivor = four[0]
    victim = UvicornBackend("victim0", tmp_path)
    try:
        victim.wait_ready()
        v = vane_factory([victim.address, survivor.address],
                         backend_opts="retries = 0; ")
        _warm_and_kill(v, victim, survivor)
        statuses = []
        t0 = time.monotonic()
        for i in range(100):
            statuses.append(get(v, "/echo?after=%d" % i).status)
        assert time.monotonic() - t0 < 8, "slower than fail_timeout (10s)"
        bad = [(i, s) for i, s in enumerate(statuses) if s != 200]
        assert len(bad) == 1 and bad[0][1] == 502 and bad[0][0] <= 1, bad
        assert survivor.stats()["requests"] == 99
    finally:
        victim.stop()


def test_sent_post_not_retried_get_retried(vane_factory, raw_backend):
    """A server that reads the request and resets: a POST that reached it
    is not sent again (502, the other server never saw it); a GET is
    retried on the other server. max_fails = 0 keeps it in rotation."""
    bad = raw_backend(h_reset_after_read)
    good = raw_backend(respond_with(ok_response(b"good")))
    v = vane_factory([bad.address, good.address],
                     backend_opts="max_fails = 0; ")
    status = {}
    for i in range(16):
        method = "POST" if i % 4 < 2 else "GET"
        path = "/%s/%d" % (method.lower(), i)
        r = get(v, path, method=method,
                body=b"body %d" % i if method == "POST" else b"")
        status[path] = r.status
    at_bad, at_good = targets(bad), targets(good)
    assert any(p.startswith("/post/") for p in at_bad), at_bad
    assert any(p.startswith("/get/") for p in at_bad), at_bad
    for path, st in status.items():
        if path.startswith("/post/"):
            if path in at_bad:
                assert st == 502 and path not in at_good, (path, st)
            else:
                assert st == 200 and at_good.count(path) == 1, (path, st)
        else:
            assert st == 200 and at_good.count(path) == 1, (path, st)
    assert sorted(set(at_good)) == sorted(at_good), at_good


def test_post_connect_refused_goes_to_other(vane_factory, raw_backend):
    """Nothing was sent when the connect is refused: a POST goes to the
    other server, exactly once, body intact. max_fails = 0 keeps the
    refusing server in rotation, so about half the POSTs meet it."""
    good = raw_backend(respond_with(ok_response(b"good")))
    v = vane_factory([refused(), good.address],
                     backend_opts="max_fails = 0; ")
    for i in range(10):
        r = get(v, "/p/%d" % i, method="POST", body=b"payload-%d" % i)
        assert r.status == 200 and r.body == b"good", (i, r)
    with good.lock:
        reqs = list(good.requests)
    assert len(reqs) == 10, len(reqs)
    for i, raw in enumerate(reqs):
        assert raw.startswith(b"POST /p/%d " % i), raw[:40]
        assert raw.endswith(b"\r\n\r\npayload-%d" % i), raw[-40:]


@pytest.mark.parametrize("retries,max_fails,fails", [
    (1, 1, "some"), (3, 1, "none"), (1, 0, "some"), (2, 0, "some"),
    (3, 0, "none")])
def test_retries_bound(vane_factory, raw_backend, retries, max_fails, fails):
    """Three refusing servers and one good: each request tries at most
    1 + retries distinct servers. retries = 1 leaves some requests without
    the good one (502); retries = 3 always reaches it."""
    good = raw_backend(respond_with(ok_response(b"good")))
    v = vane_factory([refused(), refused(), refused(), good.address],
                     backend_opts="retries = %d; max_fails = %d; " %
                     (retries, max_fails))
    statuses = [get(v, "/r/%d" % i).status for i in range(12)]
    assert set(statuses) <= {200, 502}, statuses
    if fails == "none":
        assert statuses == [200] * 12, statuses
    else:
        assert 502 in statuses, statuses
        if max_fails == 1:
            # the passive checks learn: once all three are out, no more 502
            assert statuses[-8:] == [200] * 8, statuses
    ok = [i for i, s in enumerate(statuses) if s == 200]
    assert targets(good) == ["/r/%d" % i for i in ok]


# --------------------------------------------------------------------------
# 4. all servers down

def test_all_down_503_retry_after(vane_factory):
    """Two refusing servers: the first request tries both (502) and the
    passive checks leave both out; from then on 503 with Retry-After (the
    fail_timeout, in seconds) at once."""
    v = vane_factory([refused(), refused()],
                     backend_opts='fail_timeout = "3s"; ')
    for i in range(6):
        t0 = time.monotonic()
        r = get(v, "/down/%d" % i)
        took = time.monotonic() - t0
        assert r.complete and took < 0.5, (i, r, took)
        if i == 0:
            assert r.status == 502, r
        else:
            assert r.status == 503, (i, r)
            assert r.header("retry-after") == "3", r.headers
            assert r.body, r


def test_all_down_max_fails_0_never_left_out(vane_factory):
    v = vane_factory([refused(), refused()], backend_opts="max_fails = 0; ")
    for i in range(5):
        t0 = time.monotonic()
        r = get(v, "/down/%d" % i)
        assert r.status == 502 and time.monotonic() - t0 < 0.5, (i, r)
        assert r.header("retry-after") is None, r.headers


def test_single_server_never_left_out(vane_factory):
    """One server: there is nothing to send its requests to instead, so
    max_fails does not apply; each request tries it again (502)."""
    v = vane_factory([refused()])
    for i in range(4):
        t0 = time.monotonic()
        r = get(v, "/one/%d" % i)
        assert r.status == 502 and time.monotonic() - t0 < 0.5, (i, r)


def test_left_out_server_back_after_fail_timeout(vane_factory, raw_backend):
    """Both servers refuse and are left out (fail_timeout = 1s): 503. One
    starts listening: still 503 while it is left out, then used at once."""
    p1, p2 = refused(), refused()
    v = vane_factory([p1, p2], backend_opts='fail_timeout = "1s"; ')
    t_out = time.monotonic()
    assert get(v, "/x").status == 502
    assert get(v, "/x").status == 503
    srv = raw_backend(respond_with(ok_response(b"back")),
                      port=int(p1.rsplit(":", 1)[1]))
    if time.monotonic() - t_out < 0.7:
        r = get(v, "/early")
        assert r.status == 503, r
    time.sleep(max(0.0, t_out + 1.15 - time.monotonic()))
    for i in range(5):
        r = get(v, "/late/%d" % i)
        assert r.status == 200 and r.body == b"back", (i, r)
    assert targets(srv) == ["/late/%d" % i for i in range(5)]


# --------------------------------------------------------------------------
# 5. max_conns and the queue

@pytest.mark.parametrize("workers", [1, 2])
def test_max_conns_queue_all_complete(vane_factory, four, workers):
    """max_conns = 2, 20 concurrent clients on /slow/300: all complete, the
    backend never had more than 2 at once (its own count), and had 2."""
    b = four[0]
    v = vane_factory([b.address], workers=workers,
                     server_opts={b.address: {"max_conns": 2}})
    b.reset()
    t0 = time.monotonic()
    out = run_concurrent(v, ["/slow/300?c=%d" % i for i in range(20)])
    took = time.monotonic() - t0
    assert [r.status for r, _, _ in out] == [200] * 20, out
    st = b.stats()
    assert st["requests"] == 20, st
    assert st["max_inflight"] == 2, st
    assert took >= 10 * 0.3 * 0.9, took   # ten waves of two


def test_queue_overflow(vane_factory, four):
    """max_conns = 1, queue.size = 3. One request is in flight at the
    backend; nine more arrive together: three wait in the queue, six get
    503 with Retry-After at once. Exactly 1 + 3 reach the backend, one
    at a time."""
    b = four[0]
    v = vane_factory([b.address], server_opts={b.address: {"max_conns": 1}},
                     backend_opts='queue = { size = 3; timeout = "5s"; }; ')
    b.reset()
    first = {}

    def first_client():
        with v.conn(timeout=20) as c:
            c.send(request("GET", "/slow/1000?first"))
            first["r"] = c.read_response()
            first["t"] = time.monotonic()

    t = threading.Thread(target=first_client, daemon=True)
    t.start()
    try:
        wait_inflight(b, 1)
        # /stats counts itself in max_inflight: start the count afresh.
        b.reset()
        out = run_concurrent(v, ["/slow/200?c=%d" % i for i in range(9)])
    finally:
        t.join(timeout=20)
    assert not t.is_alive() and first["r"].status == 200, first
    # What the count below relies on: all nine were sent while the first
    # still held the slot.
    assert max(t0 for _, t0, _ in out) < first["t"], "the nine came late"
    ok = [o for o in out if o[0].status == 200]
    full = [o for o in out if o[0].status == 503]
    assert len(ok) == 3 and len(full) == 6, [o[0] for o in out]
    for r, t0, t1 in full:
        assert r.header("retry-after") is not None, r.headers
        assert t1 - t0 < 0.5, t1 - t0
    for r, t0, t1 in ok:
        assert t1 > first["t"], "a queued request ran beside the first"
    st = b.stats()
    assert st["requests"] == 3 and st["max_inflight"] == 1, st


def test_queue_fifo(vane_factory, raw_backend):
    """max_conns = 1: waiting requests reach the backend in the order they
    arrived (clients start 30 ms apart; the backend takes 100 ms each)."""
    def slow_ok(raw):
        time.sleep(0.1)
        return ok_response(b"q")

    srv = raw_backend(respond_with(slow_ok))
    v = vane_factory([srv.address],
                     server_opts={srv.address: {"max_conns": 1}})
    res = {}

    def client(i):
        with v.conn(timeout=20) as c:
            c.send(request("GET", "/q/%d" % i))
            res[i] = c.read_response().status

    threads = []
    for i in range(6):
        t = threading.Thread(target=client, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(0.03)
    for t in threads:
        t.join(timeout=10)
    assert res == {i: 200 for i in range(6)}, res
    assert targets(srv) == ["/q/%d" % i for i in range(6)], targets(srv)


def test_queue_timeout(vane_factory, four):
    """max_conns = 1, queue.timeout = 300ms: a request waiting behind a
    /slow/1500 gets 503 with Retry-After after about 0.3 s; the first one
    completes; the second never reached the backend."""
    b = four[0]
    v = vane_factory([b.address], server_opts={b.address: {"max_conns": 1}},
                     backend_opts='queue = { timeout = "300ms"; }; ')
    b.reset()
    first = {}

    def first_client():
        with v.conn(timeout=20) as c:
            c.send(request("GET", "/slow/1500?first"))
            first["r"] = c.read_response()

    t = threading.Thread(target=first_client, daemon=True)
    t.start()
    try:
        wait_inflight(b, 1)
        t0 = time.monotonic()
        r = get(v, "/slow/1500?second")
        took = time.monotonic() - t0
    finally:
        t.join(timeout=20)
    assert r.status == 503 and r.header("retry-after") is not None, r
    assert 0.25 <= took <= 0.8, took
    assert not t.is_alive() and first["r"].status == 200, first
    assert b.stats()["requests"] == 1


def test_queued_client_that_leaves_frees_its_place(vane_factory, four):
    """max_conns = 1: a client queued behind a /slow/1000 closes its
    connection; its request is dropped from the queue and never reaches
    the backend, and a client queued after it is served next."""
    b = four[0]
    v = vane_factory([b.address], server_opts={b.address: {"max_conns": 1}},
                     backend_opts='queue = { timeout = "10s"; }; ')
    b.reset()
    results = {}

    def client(name, path):
        with v.conn(timeout=20) as c:
            c.send(request("GET", path))
            results[name] = c.read_response()

    t1 = threading.Thread(target=client, args=("first", "/slow/1000?first"),
                          daemon=True)
    t1.start()
    wait_inflight(b, 1)
    leaver = v.conn(timeout=5)
    leaver.send(request("GET", "/echo?leaver"))
    time.sleep(0.2)
    leaver.close()
    time.sleep(0.2)
    t3 = threading.Thread(target=client, args=("third", "/echo?third"),
                          daemon=True)
    t3.start()
    t1.join(timeout=20)
    t3.join(timeout=20)
    assert results["first"].status == 200, results
    assert results["third"].status == 200, results
    st = b.stats()
    # first and third only: the leaver's request was never sent.
    assert st["requests"] == 2, st


# --------------------------------------------------------------------------
# 6. least_conn

def test_least_conn_avoids_busy_server(vane_factory, four):
    a, b = four[:2]
    v = vane_factory([a.address, b.address],
                     backend_opts='balance = "least_conn"; ')
    reset([a, b])
    slow = {}

    def hang():
        with v.conn(timeout=20) as c:
            c.send(request("GET", "/slow/2000"))
            slow["r"] = c.read_response()

    t = threading.Thread(target=hang, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 5
        busy = None
        while busy is None and time.monotonic() < deadline:
            for x in (a, b):
                if x.stats()["inflight"] >= 1:
                    busy = x
            time.sleep(0.02)
        assert busy is not None, "the slow request reached no backend"
        idle = b if busy is a else a
        names = []
        with v.conn() as c:
            for i in range(10):
                c.send(request("GET", "/echo?q=%d" % i))
                r = c.read_response()
                assert r.status == 200, r
                names.append(r.header("x-backend"))
        assert names == [idle.name] * 10, names
        assert busy.stats()["inflight"] == 1   # still hanging meanwhile
    finally:
        t.join(timeout=10)
    assert slow["r"].status == 200
    assert counts([busy, idle]) == [1, 10]


# --------------------------------------------------------------------------
# 7. slow start

def test_slow_start_after_passive_leave_out(vane_factory, raw_backend):
    """B fails once (max_fails = 1): left out for fail_timeout = 1s, then
    back with its weight ramped over slow_start = 2s. Equal weights give B
    half the requests; in the first half second after its return it gets
    clearly less, and half again after the ramp."""
    state = {"failed": False, "t_fail": None}
    lock = threading.Lock()

    def h_b(c, srv):
        buf = b""
        while not srv.stopping.is_set():
            raw, buf = read_request(c, buf)
            if raw is None:
                return
            srv.record(raw)
            with lock:
                fail = not state["failed"]
                state["failed"] = True
            if fail:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
                c.close()
                return
            c.sendall(ok_response(b"B"))

    a = raw_backend(respond_with(ok_response(b"A")))
    b = raw_backend(h_b)
    v = vane_factory([a.address, b.address],
                     backend_opts='fail_timeout = "1s"; slow_start = "2s"; ')

    with v.conn() as c:
        def one(i):
            c.send(request("GET", "/s/%d" % i))
            r = c.read_response()
            assert r.status == 200, (i, r)
            return r.body.decode()

        # The first or second request meets B, which resets: retried on A.
        t_sent = time.monotonic()
        one(0)
        if not state["failed"]:
            t_sent = time.monotonic()
            one(1)
        assert state["failed"]
        back = t_sent + 1.0          # B's down_until, at the latest

        def window(start, end, cap=3000):
            got = []
            while time.monotonic() < start:
                time.sleep(0.005)
            while time.monotonic() < end and len(got) < cap:
                got.append(one(len(got) + 10))
            return got

        out = window(0, back - 0.1)
        assert out and set(out) == {"A"}, out[-5:]
        ramp = window(back + 0.05, back + 0.5)
        full = window(back + 2.2, back + 2.7)
    nb = ramp.count("B")
    assert len(ramp) >= 40, len(ramp)
    assert 0 < nb < 0.25 * len(ramp), (nb, len(ramp))
    assert len(full) >= 40, len(full)
    assert abs(full.count("B") - len(full) / 2) <= 2, (full.count("B"),
                                                       len(full))


def test_queue_fair_across_workers(vane_factory, four):
    """workers = 2, max_conns = 1: the queue is first in first out over
    all workers. Eight keep-alive clients (spread over both workers by
    SO_REUSEPORT) each send /slow/20 in a loop: every request waits for at
    most the seven others ahead of it, never for queue.timeout (503)."""
    b = four[0]
    v = vane_factory([b.address], workers=2,
                     server_opts={b.address: {"max_conns": 1}},
                     backend_opts='queue = { timeout = "2s"; }; ')
    b.reset()
    stop_at = time.monotonic() + 2.5
    res = [[] for _ in range(8)]
    errors = []

    def client(i):
        try:
            with v.conn(timeout=10) as c:
                j = 0
                while time.monotonic() < stop_at and j < 500:
                    t0 = time.monotonic()
                    c.send(request("GET", "/slow/20?c=%d&j=%d" % (i, j)))
                    r = c.read_response()
                    res[i].append((r.status, time.monotonic() - t0))
                    j += 1
        except Exception as e:  # noqa: BLE001 - asserted below
            errors.append((i, e))

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, stop_at + 15 - time.monotonic()))
    assert not any(t.is_alive() for t in threads) and not errors, errors
    flat = [x for r in res for x in r]
    statuses = [s for s, _ in flat]
    assert statuses.count(200) == len(flat), (
        "%d of %d not 200 (%r)" % (len(flat) - statuses.count(200),
                                   len(flat), set(statuses)))
    worst = max(d for _, d in flat)
    assert worst < 1.0, "a request waited %.2f s in the queue" % worst
    assert all(len(r) >= 5 for r in res), [len(r) for r in res]
    st = b.stats()
    assert st["requests"] == len(flat) and st["max_inflight"] == 1, st
