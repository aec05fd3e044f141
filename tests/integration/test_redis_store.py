"""The Redis store (issue 6): two vane instances sharing one real
redis-server, started on a free loopback port and stopped by its PID.

A response cached by one instance is a hit on the other; a purge (by URL,
by tag) on one is seen by the other; Vary variants live side by side in
Redis; when Redis is stopped (SIGSTOP: slow) or killed (SIGKILL: down)
every request still succeeds, within the Redis timeout plus the backend's
time, with Cache-Status detail=store-unavailable; when Redis comes back,
caching resumes without restarting vane.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

from conftest import free_port, stop_pid, wait_port
from httpraw import RawConn, request

TIMEOUT = 10
REDIS_TIMEOUT_MS = 100

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server not installed")


def resp_cmd(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def resp_read(f):
    line = f.readline()
    assert line.endswith(b"\r\n"), line
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise AssertionError("bad RESP reply %r" % line)


class Redis:
    def __init__(self, tmpdir, port=None, args=()):
        self.port = port or free_port()
        self.tmpdir = tmpdir
        self.args = list(args)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", str(self.tmpdir)] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        assert wait_port(self.port, 10.0, self.proc), "redis did not start"

    def signal(self, sig):
        self.proc.send_signal(sig)

    def cmd(self, *args, auth=None):
        """One command over RESP; the reply as Python values. auth: the
        AUTH arguments sent first, if any."""
        if auth:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=TIMEOUT) as s:
                s.sendall(resp_cmd(("AUTH",) + tuple(auth)) +
                          resp_cmd(args))
                f = s.makefile("rb")
                assert resp_read(f) == "OK"
                return resp_read(f)
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=TIMEOUT) as s:
            s.sendall(resp_cmd(args))
            f = s.makefile("rb")
            return resp_read(f)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            stop_pid(self.proc, signal.SIGKILL)
        self.proc = None


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path)
    yield r
    r.kill()


def enc(s):
    return urllib.parse.quote(s, safe="")


def redis_vane(vane_factory, backend, redis, workers=1, redis_extra="",
               timeout_ms=REDIS_TIMEOUT_MS):
    admin = free_port()
    v = vane_factory(
        [backend.address], workers=workers,
        extra='cache = { store = "redis"; redis = { address = '
              '"127.0.0.1:%d"; prefix = "it:"; timeout = "%dms"; '
              'connect_timeout = "500ms"; %s }; };\n'
              'admin = { address = "127.0.0.1:%d"; };\n'
              % (redis.port, timeout_ms, redis_extra, admin))
    v.admin_port = admin
    return v


@pytest.fixture
def pair(vane_factory, backend, redis):
    """Two instances on one Redis, each up (its Redis connection ready)."""
    a = redis_vane(vane_factory, backend, redis)
    b = redis_vane(vane_factory, backend, redis, workers=2)
    assert caching_works(a, b)
    assert caching_works(b, a)
    return a, b


def backend_calls(backend, name):
    return backend.stats()["cache_calls"].get(name, {}).get("GET", 0)


def cache_status(r):
    return r.headers.get("Cache-Status", "")


def is_hit(r):
    return [p.strip() for p in cache_status(r).split(";")] == ["vane", "hit"]


HOST = "shared.example"


def get(v, path, headers=None):
    """GET with the Host every instance is reached by behind a load
    balancer: the cache key names the site, so instances share entries
    only for one Host."""
    h = {"Host": HOST}
    h.update(headers or {})
    r = requests.get(v.url + path, headers=h, timeout=TIMEOUT)
    assert r.status_code == 200, r
    return r


def purge_post(v, query):
    with RawConn(v.admin_port, timeout=TIMEOUT) as c:
        c.send(request("POST", "/purge?" + query, host="admin",
                       headers=[("Content-Length", "0")]))
        r = c.read_response()
    assert r.status == 200, r.body
    return json.loads(r.body)


def stored_then_hit(a, b, path):
    """Store path through a; True if b then answers it from the cache
    (the insert is written after the response: give it a moment)."""
    get(a, path)
    time.sleep(0.3)
    return is_hit(get(b, path))


def caching_works(a, b, within=15.0):
    """True once a response stored through a is a hit on b (the Redis
    connections may still be coming up): fresh URLs, bounded."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        path = "/cache/w-%s?cc=max-age%%3D600" % uuid.uuid4().hex[:8]
        if stored_then_hit(a, b, path):
            return True
        time.sleep(0.2)
    return False


def test_cached_by_one_hit_on_other(pair, backend):
    a, b = pair
    name = "s-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s&size=20000" % (name, enc("max-age=600"))
    assert stored_then_hit(a, b, path)
    for v in (a, b, a, b):
        r = get(v, path)
        assert is_hit(r), cache_status(r)
    assert backend_calls(backend, name) == 1
    assert len(r.content) == 20000
    assert json.loads(r.content)["name"] == name


def test_vary_variants_in_redis(pair, backend):
    a, b = pair
    name = "v-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s&vary=Accept-Language" % (name,
                                                     enc("max-age=600"))
    for lang in ("en", "fr"):
        get(a, path, {"Accept-Language": lang})
    time.sleep(0.3)
    for lang in ("fr", "en"):
        r = get(b, path, {"Accept-Language": lang})
        assert is_hit(r), cache_status(r)
        assert json.loads(r.content)["lang"] == lang
    assert backend_calls(backend, name) == 2
    r = get(b, path, {"Accept-Language": "de"})
    assert not is_hit(r)


def test_purge_on_one_seen_by_other(pair, backend):
    a, b = pair
    name = "p-" + uuid.uuid4().hex[:8]
    cc = enc("max-age=600")
    url = "/cache/%s?cc=%s" % (name, cc)
    tagged = "/cache/%s?cc=%s&tag=%s" % (name, cc, enc("grp:1"))
    assert stored_then_hit(a, b, url)
    assert stored_then_hit(a, b, tagged)
    body = purge_post(a, "url=" + enc("http://%s%s" % (HOST, url)))
    assert body["purged"] == 1, body
    assert not is_hit(get(b, url))
    assert is_hit(get(b, tagged))
    body = purge_post(b, "tag=" + enc("grp:1"))
    assert body["purged"] == 1, body
    assert not is_hit(get(a, tagged))


def stats(v):
    with RawConn(v.admin_port, timeout=TIMEOUT) as c:
        c.send(request("GET", "/stats", host="admin"))
        r = c.read_response()
    assert r.status == 200
    return json.loads(r.body)


def test_redis_counters_in_stats(pair):
    a, b = pair
    for v, workers in ((a, 1), (b, 2)):
        s = stats(v)
        assert s["cache"]["store"] == "redis"
        # What only a scan of Redis could say is left out, not shown as 0.
        for k in ("objects", "markers", "bytes", "budget"):
            assert k not in s["cache"], s["cache"]
        assert isinstance(s["cache"]["inserts"], int), s["cache"]
        with RawConn(v.admin_port, timeout=TIMEOUT) as c:
            c.send(request("GET", "/metrics", host="admin"))
            m = c.read_response().body.decode()
        assert 'vane_cache_store_evictions_total{store="redis"}' in m
        assert "vane_cache_store_objects" not in m
        red = s["redis"]
        # Each worker's connection counts into its worker's counters.
        assert red["connected"] == workers, red
        assert red["commands"] > 0 and red["replies"] > 0, red
        assert red["rtt_us"] > 0 and red["errors"] == 0, red


def timed_get(v, path):
    t0 = time.monotonic()
    r = get(v, path)
    return r, time.monotonic() - t0


def test_redis_stopped_killed_restarted(pair, backend, redis):
    a, b = pair
    name = "f-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s" % (name, enc("max-age=600"))
    assert stored_then_hit(a, b, path)
    # Slow: every request still answered, at worst after the Redis
    # timeout plus the backend's time.
    redis.signal(signal.SIGSTOP)
    try:
        for i in range(6):
            for v in (a, b):
                r, took = timed_get(v, "%s&i=%d" % (path, i))
                # The lookup waits at most the Redis timeout; the
                # backend answers at once.
                assert took < REDIS_TIMEOUT_MS / 1000.0 + 0.9, took
                assert "detail=store-unavailable" in cache_status(r), \
                    cache_status(r)
        # Even what was stored: Redis cannot say so in time.
        r, took = timed_get(b, path)
        assert not is_hit(r) and took < 1.0, (cache_status(r), took)
    finally:
        redis.signal(signal.SIGCONT)
    # Down: a miss at once, with the reason in Cache-Status.
    port = redis.port
    redis.kill()
    for i in range(6):
        for v in (a, b):
            r, took = timed_get(v, "%s&k=%d" % (path, i))
            assert took < 1.0, took
            assert "detail=store-unavailable" in cache_status(r), \
                cache_status(r)
    red = stats(a)["redis"]
    assert red["connected"] == 0 and red["errors"] > 0, red
    # Back: caching resumes, no restart of vane.
    redis.port = port
    redis.start()
    assert caching_works(a, b)
    assert caching_works(b, a)
    red = stats(b)["redis"]
    assert red["connected"] == 2 and red["reconnects"] > 0, red


def test_client_gone_while_lookup_pending(pair, backend, redis):
    """Clients that close while their lookup waits on a stopped Redis
    cancel it: no late callback on a freed client (ASan would say so),
    and the instance serves on."""
    a, b = pair
    name = "g-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s" % (name, enc("max-age=600"))
    redis.signal(signal.SIGSTOP)
    try:
        for v in (a, b):
            conns = []
            for i in range(20):
                c = v.conn(timeout=TIMEOUT)
                c.send(request("GET", "%s&i=%d" % (path, i), host=HOST))
                conns.append(c)
            time.sleep(0.02)  # sent, lookups pending
            for c in conns:
                c.close()
        time.sleep(REDIS_TIMEOUT_MS / 1000.0 * 3)
    finally:
        redis.signal(signal.SIGCONT)
    for v in (a, b):
        r, took = timed_get(v, path)
        assert took < 1.0
    assert caching_works(a, b)


def test_cold_url_on_two_instances_reaches_backend_once(vane_factory, backend,
                                                        redis):
    """100 concurrent requests for one cold URL, spread over both
    instances: each instance collapses its own into one fetch (the lookup
    answered by Redis, then the coalescing of its workers), and the two
    fetchers take turns on the URL's lock in Redis, so the backend sees
    one request, and every client gets the whole answer.

    Redis gets 2 s per command here, not REDIS_TIMEOUT_MS: a command that
    times out is a miss by design, so on a loaded machine (the sanitizer
    build beside other work) a 100 ms bound turned a lookup into a second
    fetch, which is not what this test is about."""
    import concurrent.futures
    a = redis_vane(vane_factory, backend, redis, timeout_ms=2000)
    b = redis_vane(vane_factory, backend, redis, workers=2, timeout_ms=2000)
    assert caching_works(a, b) and caching_works(b, a)
    name = "cold-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s&delay_ms=400&size=5000" % (name,
                                                       enc("max-age=600"))

    def one(i):
        return get(a if i % 2 else b, path)

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as ex:
        rs = list(ex.map(one, range(100)))
    for r in rs:
        assert len(r.content) == 5000, cache_status(r)
        assert json.loads(r.content)["name"] == name
    assert backend_calls(backend, name) == 1, backend_calls(backend, name)
    # One instance fetched under the lock, the other waited for it.
    sa, sb = stats(a)["cache"], stats(b)["cache"]
    assert sa["locks"] + sb["locks"] >= 1, (sa, sb)
    assert sa["lock_waits"] + sb["lock_waits"] >= 1, (sa, sb)


def lock_keys(redis):
    return redis.cmd("KEYS", "it:l:*")


def test_lock_released_when_not_storable(pair, backend, redis):
    """The fetcher's response cannot be stored: the other instance does
    not wait out the lock, it goes to the backend itself as soon as the
    fetch is over, and no lock is left behind."""
    a, b = pair
    name = "ns-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s&delay_ms=300&size=2000" % (name, enc("no-store"))
    out = {}

    def first():
        out["a"] = get(a, path)

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.1)  # a holds the lock, its backend still thinking
    r, took = timed_get(b, path)
    t.join(TIMEOUT)
    assert len(r.content) == 2000 and len(out["a"].content) == 2000
    # Waited for a's fetch, then fetched: not the 5 s lock_timeout.
    assert took < 2.0, took
    assert backend_calls(backend, name) == 2
    assert lock_keys(redis) == []


def test_redis_stopped_while_waiting_for_lock(pair, backend, redis):
    """Redis stops answering while an instance waits for another's
    fetch: the next poll times out and the request goes to the backend
    at once, instead of waiting out the 5 s lock."""
    a, b = pair
    name = "ws-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s&delay_ms=1500" % (name, enc("max-age=600"))
    out = {}

    def first():
        out["a"] = get(a, path)

    t = threading.Thread(target=first)
    t.start()
    deadline = time.monotonic() + 2.0
    while not lock_keys(redis) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        out["b"] = None

        def second():
            out["b"] = timed_get(b, path)

        t2 = threading.Thread(target=second)
        t2.start()
        time.sleep(0.3)  # b polls the lock a holds
        redis.signal(signal.SIGSTOP)
        t2.join(TIMEOUT)
        t.join(TIMEOUT)
    finally:
        redis.signal(signal.SIGCONT)
    r, took = out["b"]
    # 0.3 s of waiting, one poll's timeout, then b's own 1.5 s fetch.
    assert took < 0.3 + REDIS_TIMEOUT_MS / 1000.0 + 1.5 + 1.0, took
    assert "detail=store-unavailable" in cache_status(r), cache_status(r)
    assert out["a"].status_code == 200


def test_lock_holder_gone(vane_factory, backend, redis):
    """The instance holding a URL's lock dies mid-fetch: the other waits
    at most lock_timeout, then fetches the URL itself and stores it."""
    a = redis_vane(vane_factory, backend, redis,
                   redis_extra='lock_timeout = "1s";')
    b = redis_vane(vane_factory, backend, redis,
                   redis_extra='lock_timeout = "1s";')
    assert caching_works(a, b)
    name = "hg-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s&delay_ms=3000" % (name, enc("max-age=600"))
    conn = a.conn(timeout=TIMEOUT)
    conn.send(request("GET", path, host=HOST))
    deadline = time.monotonic() + 2.0
    while not lock_keys(redis) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(lock_keys(redis)) == 1
    stop_pid(a.proc, signal.SIGKILL)
    a.rc = 0  # killed on purpose: not a teardown problem
    conn.close()
    r, took = timed_get(b, path)
    # The lock outlives a by up to 1 s; then b's own 3 s fetch.
    assert 3.0 <= took < 1.0 + 3.0 + 1.5, took
    assert stats(b)["cache"]["lock_waits"] >= 1
    assert is_hit(get(b, path))
    assert lock_keys(redis) == []


def test_auth_password_and_acl_user(vane_factory, backend, tmp_path):
    """AUTH: the default user's password, an ACL user with its own, and a
    wrong password, which is a miss with the reason in Cache-Status and
    in one log line, never a failed request."""
    redis = Redis(tmp_path, args=["--requirepass", "s3cret",
                                  "--user", "alice", "on", ">pw", "~*",
                                  "&*", "+@all"])
    try:
        a = redis_vane(vane_factory, backend, redis,
                       redis_extra='password = "s3cret";')
        b = redis_vane(vane_factory, backend, redis,
                       redis_extra='username = "alice"; password = "pw";')
        assert caching_works(a, b)
        assert caching_works(b, a)
        # What they stored is there for an authenticated client only.
        assert redis.cmd("DBSIZE", auth=("s3cret",)) > 0
        with pytest.raises(RuntimeError, match="NOAUTH"):
            redis.cmd("DBSIZE")
        bad = redis_vane(vane_factory, backend, redis,
                         redis_extra='username = "alice"; '
                                     'password = "wrong";')
        for i in range(3):
            r, took = timed_get(bad, "/cache/auth-%d?cc=%s" % (
                i, enc("max-age=600")))
            assert "detail=store-unavailable" in cache_status(r), \
                cache_status(r)
            assert took < 1.0, took
        assert stats(bad)["redis"]["connected"] == 0
        time.sleep(1.0)  # several reconnect attempts, backoff 100 ms up
        err = bad.stderr()
        lines = [ln for ln in err.splitlines()
                 if "WRONGPASS" in ln and "[warn]" in ln]
        # Logged once per state change (for all the connections), not
        # once per attempt or per connection.
        assert len(lines) == 1, err[-2000:]
    finally:
        redis.kill()


def test_allkeys_lru_evicts_without_errors(vane_factory, backend, tmp_path):
    """A Redis whose maxmemory is much smaller than what vane stores, with
    maxmemory-policy allkeys-lru: Redis evicts records, variants and tag
    sets as it pleases; every request still succeeds, no command fails,
    and what was stored last is still a hit."""
    redis = Redis(tmp_path, args=["--maxmemory", "3mb",
                                  "--maxmemory-policy", "allkeys-lru"])
    try:
        a = redis_vane(vane_factory, backend, redis)
        b = redis_vane(vane_factory, backend, redis)
        assert caching_works(a, b)
        run = uuid.uuid4().hex[:6]
        for i in range(200):  # ~4 MB of 20 kB bodies: over maxmemory
            r = get(a if i % 2 else b, "/cache/lru-%s-%d?cc=%s&size=20000"
                    % (run, i, enc("max-age=600")))
            assert len(r.content) == 20000
        assert int(dict(line.split(":", 1) for line in
                        redis.cmd("INFO", "stats").decode().split("\r\n")
                        if ":" in line)["evicted_keys"]) > 0
        time.sleep(0.3)
        last = "/cache/lru-%s-199?cc=%s&size=20000" % (run, enc("max-age=600"))
        assert is_hit(get(b, last))
        # Early ones were evicted: misses, answered whole.
        r = get(b, "/cache/lru-%s-0?cc=%s&size=20000" % (run,
                                                           enc("max-age=600")))
        assert len(r.content) == 20000
        for v in (a, b):
            red = stats(v)["redis"]
            assert red["errors"] == 0 and red["timeouts"] == 0, red
    finally:
        redis.kill()


def test_reload_max_object_size_reaches_the_redis_store(vane_factory,
                                                        backend, redis):
    """cache.max_object_size is reloadable: raised by a reload, a body
    over the bound vane started with is stored in Redis and read back
    (the store's own bound follows, not only what the cache tees)."""
    v = vane_factory(
        [backend.address],
        extra='cache = { store = "redis"; max_object_size = "16K"; '
              'redis = { address = "127.0.0.1:%d"; prefix = "mo:"; }; };\n'
              % redis.port)
    assert caching_works(v, v)
    big = "/cache/big-%s?cc=max-age%%3D600&size=40000" % uuid.uuid4().hex[:8]
    get(v, big)
    time.sleep(0.3)
    assert not is_hit(get(v, big))      # over 16K: passed through
    v.conf.write_text(v.conf.read_text().replace('max_object_size = "16K";',
                                                 'max_object_size = "1M";'))
    os.kill(v.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "reload: generation" not in v.stderr() and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert "reload: generation" in v.stderr(), v.stderr()[-1000:]
    assert caching_works(v, v)
    big2 = "/cache/big-%s?cc=max-age%%3D600&size=40000" % uuid.uuid4().hex[:8]
    get(v, big2)
    time.sleep(0.3)
    r = get(v, big2)
    assert is_hit(r) and len(r.content) == 40000
