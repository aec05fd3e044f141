"""Reload (SIGHUP, vane -s reload): a new generation takes over with zero
failed requests; a broken configuration keeps the running one."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import requests

from conftest import free_port, stop_pid, vane_bin, wait_for, wait_port
from httpraw import RawConn, get_raw, request


def admin_stats(port):
    with RawConn(port) as c:
        c.send(request("GET", "/stats"))
        return json.loads(c.read_response().body)


def reloaded(v, n=1):
    return v.stderr().count("reload: generation") >= n


def test_reload_under_load_switches_backends(vane_factory, backends):
    """Issue 8: 2 client threads send 500 requests each while the backend
    list changes: no request fails and the new backend gets the traffic.
    Each thread keeps its keep-alive connection (moved to the new
    generation) and opens a new one every 50 requests."""
    b1, b2 = backends
    v = vane_factory([b1.address], workers=2)
    results = [[], []]
    errors = []
    progress = [0, 0]

    def client(k):
        conn = None
        try:
            for i in range(500):
                if conn is None or i % 50 == 0:
                    if conn is not None:
                        conn.close()
                    conn = RawConn(v.port)
                conn.send(request("GET", "/health"))
                r = conn.read_response()
                if r.status != 200:
                    errors.append("thread %d request %d: %d" % (k, i,
                                                                r.status))
                results[k].append(r.header("x-backend"))
                progress[k] = i + 1
        except Exception as e:  # noqa: BLE001 - any failure counts
            errors.append("thread %d after %d: %r" % (k, progress[k], e))
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    assert wait_for(lambda: min(progress) >= 100 or errors, 30), progress
    v.conf.write_text(v.conf.read_text().replace(b1.address, b2.address))
    os.kill(v.proc.pid, signal.SIGHUP)
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), progress
    assert not errors, errors[:5]
    assert reloaded(v), v.stderr()[-2000:]
    for k in (0, 1):
        assert len(results[k]) == 500
        assert results[k][0] == "b1"
        # The last requests, well after the reload, all reach b2, on
        # connections opened before it too.
        assert set(results[k][-40:]) == {"b2"}, results[k][-40:]
    assert "reload: generation 2 serves" in v.stderr()
    # The old generation finished and was freed.
    assert wait_for(lambda: "generation 1: all connections gone" in
                    v.stderr(), 10), v.stderr()[-2000:]


def test_idle_keepalive_connection_moves_to_new_generation(vane_factory,
                                                           backends):
    b1, b2 = backends
    v = vane_factory([b1.address])
    with RawConn(v.port) as c:
        c.send(request("GET", "/health"))
        assert c.read_response().header("x-backend") == "b1"
        v.conf.write_text(v.conf.read_text().replace(b1.address,
                                                     b2.address))
        os.kill(v.proc.pid, signal.SIGHUP)
        assert wait_for(lambda: reloaded(v), 5), v.stderr()[-1000:]
        # Same connection, not closed: answered by the new generation.
        c.send(request("GET", "/health"))
        r = c.read_response()
        assert r.status == 200
        assert r.header("x-backend") == "b2"
    assert wait_for(lambda: "generation 1: all connections gone" in
                    v.stderr(), 5), v.stderr()[-1000:]


def test_in_flight_request_finishes_on_old_generation(vane_factory,
                                                      backends):
    """A response streaming when the reload lands finishes from the old
    generation's server; the connection then goes on with the new one.
    The backend holds the body (/gate) until the reload is done, so the
    order does not depend on timing."""
    b1, b2 = backends
    v = vane_factory([b1.address], timeouts={"backend_response": "10s"})
    name = "reload-%d" % v.port
    out = {}

    def slow():
        with RawConn(v.port) as c:
            c.send(request("GET", "/gate/%s?hold=1&cc=no-store" % name))
            r = c.read_response(timeout=15)
            out["status"] = r.status
            out["backend"] = r.header("x-backend")
            out["length"] = len(r.body)
            # The connection goes on, now with the new generation.
            c.send(request("GET", "/health"))
            out["next"] = c.read_response().header("x-backend")

    t = threading.Thread(target=slow)
    t.start()
    try:
        assert wait_for(lambda: b1.stats()["gates"].get(name, {}).get(
            "sent", 0) >= 1, 5), "the gated response did not start"
        v.conf.write_text(v.conf.read_text().replace(b1.address,
                                                     b2.address))
        os.kill(v.proc.pid, signal.SIGHUP)
        assert wait_for(lambda: reloaded(v), 5)
        assert "status" not in out, out
    finally:
        requests.post(b1.url + "/gate/%s/release" % name,
                      timeout=5).raise_for_status()
        t.join(15)
    assert out == {"status": 200, "backend": "b1", "length": 4000,
                   "next": "b2"}, out


def test_reload_adds_and_removes_listeners(vane_factory, backend):
    v = vane_factory([backend.address])
    p2 = free_port()
    old = "127.0.0.1:%d" % v.port
    v.conf.write_text(v.conf.read_text().replace(
        '{ address = "%s"; }' % old,
        '{ address = "127.0.0.1:%d"; }' % p2))
    os.kill(v.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: reloaded(v), 5), v.stderr()[-1000:]
    assert get_raw(p2).status == 200
    # The removed address is closed once the old generation is gone.
    assert wait_for(lambda: "generation 1: all connections gone" in
                    v.stderr(), 5)
    s = socket.socket()
    try:
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", v.port))
            refused = False
        except ConnectionRefusedError:
            refused = True
    finally:
        s.close()
    assert refused


def test_reload_keeps_listener_sockets(vane_factory, backend):
    """An address in both configurations keeps its socket: no moment in
    which connections are refused (a probe loop across the reload)."""
    v = vane_factory([backend.address], workers=2)
    stop = threading.Event()
    failures = []
    count = [0]

    def probe():
        while not stop.is_set() and count[0] < 3000:
            try:
                r = get_raw(v.port)
                if r.status != 200:
                    failures.append(r.status)
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))
            count[0] += 1

    t = threading.Thread(target=probe)
    t.start()
    for _ in range(3):
        time.sleep(0.3)
        os.kill(v.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: reloaded(v, 3), 10), v.stderr()[-1000:]
    time.sleep(0.3)
    stop.set()
    t.join(30)
    assert count[0] > 20
    assert not failures, failures[:5]


def test_reload_bad_config_keeps_running_generation(vane_factory, backends):
    """Valid syntax, but a TLS listener whose certificate does not exist:
    the new generation cannot be built, the running one goes on."""
    b1, b2 = backends
    v = vane_factory([b1.address])
    good = v.conf.read_text()
    bad = good.replace(b1.address, b2.address).replace(
        "listen = ( ", 'listen = ( { address = "127.0.0.1:%d"; tls = true; }, '
        % free_port())
    bad += ('tls = { certificates = ( { cert = "/nonexistent.pem"; '
            'key = "/nonexistent.key"; } ); };\n')
    v.conf.write_text(bad)
    os.kill(v.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: "keeping the running configuration" in
                    v.stderr(), 5), v.stderr()[-1000:]
    assert "/nonexistent.pem" in v.stderr()
    assert not reloaded(v)
    for _ in range(3):
        assert get_raw(v.port).header("x-backend") == "b1"
    v.conf.write_text(good)


def test_s_reload_broken_config_exits_1_with_file_line(tmp_path, backend):
    pidfile = tmp_path / "vane.pid"
    port = free_port()
    conf = tmp_path / "vane.conf"
    text = ('workers = 1;\npidfile = "%s";\n'
            'listen = ( { address = "127.0.0.1:%d"; } );\n'
            'backends = { servers = ( { address = "%s"; } ); };\n'
            % (pidfile, port, backend.address))
    conf.write_text(text)
    proc = subprocess.Popen([vane_bin(), "-c", str(conf)],
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert wait_port(port, 10, proc)
        conf.write_text(text + "workers = 2;\n")  # duplicate setting
        r = subprocess.run([vane_bin(), "-c", str(conf), "-s", "reload"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1
        assert "%s:5:" % conf in r.stderr, r.stderr
        assert get_raw(port).status == 200
        conf.write_text(text + 'timeouts = { client_idle = "7s"; };\n')
        r = subprocess.run([vane_bin(), "-c", str(conf), "-s", "reload"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert get_raw(port).status == 200
    finally:
        stop_pid(proc, timeout=10)
    assert proc.returncode == 0


def test_reload_restart_only_option_is_reported_and_kept(vane_factory,
                                                         backend):
    v = vane_factory([backend.address], workers=1)
    v.conf.write_text(v.conf.read_text().replace("workers = 1;",
                                                 "workers = 3;"))
    os.kill(v.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: reloaded(v), 5), v.stderr()[-1000:]
    assert "reload: workers changed: that needs a restart" in v.stderr()
    assert get_raw(v.port).status == 200


def test_reload_keeps_cache_server_state_and_counters(vane_factory,
                                                      backends):
    b1, b2 = backends
    admin = free_port()
    v = vane_factory([b1.address, b2.address],
                     extra='admin = { address = "127.0.0.1:%d"; };\n'
                     'cache = { store = "memory"; };\n' % admin)
    wait_port(admin, 5)
    r1 = get_raw(v.port, "/cache/reload-kept?cc=max-age%3D60")
    assert r1.status == 200
    assert "hit" in get_raw(v.port, "/cache/reload-kept?cc=max-age%3D60"
                        ).header("cache-status")
    with RawConn(admin) as c:
        c.send(request("POST", "/backends/%s/drain" % b2.address))
        assert c.read_response().status == 200
    before = admin_stats(admin)
    os.kill(v.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: reloaded(v), 5)
    # The cache is the process's: still a hit.
    assert "hit" in get_raw(v.port, "/cache/reload-kept?cc=max-age%3D60"
                        ).header("cache-status")
    # The drained server stays drained: every request goes to b1.
    for _ in range(4):
        assert get_raw(v.port).header("x-backend") == "b1"
    assert wait_for(lambda: "generation 1: all connections gone" in
                    v.stderr(), 5)
    after = admin_stats(admin)
    assert after["requests"]["total"] >= before["requests"]["total"] + 5, \
        (before["requests"], after["requests"])
    srv = {s["name"]: s for s in after["backends"]}
    assert srv[b2.address]["state"] == "drain"
    # The listener's counters too (its address is in both files).
    assert after["listeners"][0]["requests"] == \
        before["listeners"][0]["requests"] + 5
    # Its counters went on from where they were.
    old = {s["name"]: s for s in before["backends"]}
    assert srv[b1.address]["requests"] >= old[b1.address]["requests"] + 4


def test_reload_smaller_cache_size_evicts(vane_factory, backend):
    admin = free_port()
    v = vane_factory([backend.address],
                     extra='admin = { address = "127.0.0.1:%d"; };\n'
                     'cache = { store = "memory"; size = "4M"; };\n' % admin)
    wait_port(admin, 5)
    for i in range(10):
        r = get_raw(v.port, "/cache/shrink-%d?cc=max-age%%3D60&size=300000" % i)
        assert r.status == 200
    c = admin_stats(admin)["cache"]
    assert c["objects"] == 10 and c["budget"] == 4 << 20, c
    v.conf.write_text(v.conf.read_text().replace('size = "4M"',
                                                 'size = "1M"'))
    os.kill(v.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: reloaded(v), 5), v.stderr()[-1000:]
    c = admin_stats(admin)["cache"]
    assert c["budget"] == 1 << 20, c
    assert c["bytes"] <= 1 << 20 and c["objects"] <= 3, c
    assert c["evictions"] >= 7, c
    # What stayed is served from the cache (only-if-cached: a miss is a
    # 504, and stores nothing that could evict another).
    statuses = []
    for i in range(10):
        with RawConn(v.port) as conn:
            conn.send(request("GET", "/cache/shrink-%d?cc=max-age%%3D60&"
                              "size=300000" % i,
                              headers=[("Cache-Control", "only-if-cached")]))
            statuses.append(conn.read_response().status)
    assert statuses.count(200) == c["objects"] >= 1, statuses
    assert statuses.count(504) == 10 - c["objects"], statuses


def test_reload_rotates_the_admin_token(vane_factory, backend):
    admin = free_port()
    old, new = "old-token-0123456789", "new-token-9876543210"
    v = vane_factory([backend.address],
                     extra='admin = { address = "127.0.0.1:%d"; '
                     'token = "%s"; };\n' % (admin, old))
    wait_port(admin, 5)

    def stats_status(token):
        with RawConn(admin) as c:
            c.send(request("GET", "/stats", headers=[
                ("Authorization", "Bearer " + token)]))
            return c.read_response().status

    assert stats_status(old) == 200 and stats_status(new) == 401
    v.conf.write_text(v.conf.read_text().replace(old, new))
    os.kill(v.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: reloaded(v), 5), v.stderr()[-1000:]
    assert stats_status(old) == 401 and stats_status(new) == 200


def test_reload_turns_the_access_log_on_changes_its_format_and_off(
        vane_factory, backend, tmp_path):
    log = tmp_path / "access.log"
    v = vane_factory([backend.address])
    base = v.conf.read_text()
    assert get_raw(v.port).status == 200
    assert not log.exists()

    def reload_with(group):
        n = v.stderr().count("reload: generation")
        v.conf.write_text("\n".join(
            group if line.startswith("log = {") else line
            for line in base.split("\n")))
        os.kill(v.proc.pid, signal.SIGHUP)
        assert wait_for(lambda: reloaded(v, n + 1), 5), v.stderr()[-1000:]

    reload_with('log = { access = "%s"; access_format = '
                '"$request_method $status $upstream_addr"; };' % log)
    assert get_raw(v.port).status == 200
    assert wait_for(lambda: log.exists() and log.read_text() ==
                    "GET 200 %s\n" % backend.address, 3), \
        log.read_text() if log.exists() else "no file"
    reload_with('log = { access = "%s"; access_format = "$status"; };'
                % log)
    assert get_raw(v.port).status == 200
    assert wait_for(lambda: log.read_text().endswith("\n200\n"), 3), \
        log.read_text()
    reload_with('log = { access = "off"; };')
    assert get_raw(v.port).status == 200
    time.sleep(0.5)
    assert log.read_text() == "GET 200 %s\n200\n" % backend.address
    assert not (tmp_path / "off").exists()


def test_s_reload_waits_for_the_outcome(tmp_path, backend):
    """With an admin listener, vane -s reload tells what only the
    instance can find (here a new address already in use): exit 1 with
    the reason; and exit 0 once a good file is applied."""
    pidfile = tmp_path / "vane.pid"
    port, admin = free_port(), free_port()
    conf = tmp_path / "vane.conf"
    text = ('workers = 1;\npidfile = "%s";\n'
            'admin = { address = "127.0.0.1:%d"; };\n'
            'listen = ( { address = "127.0.0.1:%d"; } );\n'
            'backends = { servers = ( { address = "%s"; } ); };\n'
            % (pidfile, admin, port, backend.address))
    conf.write_text(text)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    proc = subprocess.Popen([vane_bin(), "-c", str(conf)],
                            stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        assert wait_port(port, 10, proc) and wait_port(admin, 5)
        assert json.loads(get_raw(admin, "/reload").body) == {
            "generation": 1, "failures": 0, "error": ""}
        conf.write_text(text.replace(
            "listen = ( ", 'listen = ( { address = "127.0.0.1:%d"; }, '
            % busy.getsockname()[1]))
        r = subprocess.run([vane_bin(), "-c", str(conf), "-s", "reload"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r.stderr
        assert "reload failed:" in r.stderr and "cannot listen on" in \
            r.stderr, r.stderr
        st = json.loads(get_raw(admin, "/reload").body)
        assert st["generation"] == 1 and st["failures"] == 1
        assert "cannot listen on" in st["error"]
        assert get_raw(port).status == 200
        conf.write_text(text + 'timeouts = { client_idle = "7s"; };\n')
        r = subprocess.run([vane_bin(), "-c", str(conf), "-s", "reload"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert json.loads(get_raw(admin, "/reload").body) == {
            "generation": 2, "failures": 1, "error": ""}
    finally:
        busy.close()
        stop_pid(proc, timeout=10)
    assert proc.returncode == 0
