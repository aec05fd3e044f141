"""Round-robin, upstream connection reuse and a concurrent burst, asserted
on the backends' own counters."""
import threading
import time

import requests

from httpraw import request


def test_round_robin_even(vane, backends):
    for b in backends:
        b.reset()
    with requests.Session() as s:
        for i in range(100):
            r = s.get(vane.url + "/echo?i=%d" % i, timeout=10)
            assert r.status_code == 200
    counts = [b.stats()["requests"] for b in backends]
    assert sum(counts) == 100, counts
    assert all(49 <= n <= 51 for n in counts), counts


def test_round_robin_across_client_connections(vane, backends):
    for b in backends:
        b.reset()
    for i in range(40):
        with vane.conn() as c:
            c.send(request("GET", "/health"))
            assert c.read_response().status == 200
    counts = [b.stats()["requests"] for b in backends]
    assert sum(counts) == 40 and all(19 <= n <= 21 for n in counts), counts


def test_upstream_reuse_one_client_connection(vane, backends):
    for b in backends:
        b.reset()
    with vane.conn() as c:
        for i in range(200):
            c.send(request("GET", "/health"))
            assert c.read_response().status == 200
    st = [b.stats() for b in backends]
    assert sum(s["requests"] for s in st) == 200, st
    assert all(s["connections"] <= 4 for s in st), st


def test_upstream_reuse_new_client_connections(vane, backends):
    """Upstream keep-alive does not depend on the client's: 200 requests
    each on its own client connection still share pooled upstream ones."""
    for b in backends:
        b.reset()
    for i in range(200):
        with vane.conn() as c:
            c.send(request("GET", "/health", headers=[("Connection", "close")]))
            r = c.read_response()
            assert r.status == 200 and r.complete, r
    st = [b.stats() for b in backends]
    assert sum(s["requests"] for s in st) == 200, st
    assert all(s["connections"] <= 4 for s in st), st


def test_burst_50_clients_20_requests(vane, backends):
    for b in backends:
        b.reset()
    ok = [0] * 50
    errors = []
    deadline = time.monotonic() + 60

    def client(i):
        try:
            with vane.conn(timeout=20) as c:
                for j in range(20):
                    if time.monotonic() > deadline:
                        errors.append("client %d: out of time" % i)
                        return
                    c.send(request("GET", "/echo?c=%d&r=%d" % (i, j)))
                    r = c.read_response()
                    if r.status == 200 and r.complete and \
                            b'"query":"c=%d&r=%d"' % (i, j) in r.body:
                        ok[i] += 1
                    else:
                        errors.append("client %d req %d: %r" % (i, j, r))
                        return
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "clients still running"
    assert sum(ok) == 1000, errors[:5]
    counts = [b.stats()["requests"] for b in backends]
    assert sum(counts) == 1000, counts
