"""The admin listener (admin.address): GET /health and /stats, POST
/servers/NAME/drain and /enable (and their deprecated names
/backends/NAME/drain and /ready), admin.token, its HTTP error answers, vane
-s drain:/enable:/stats, and a port already taken at start-up. Traffic is counted at the uvicorn backends, not
only in what vane says about itself."""
import json
import re
import socket
import subprocess
import threading
import time

import requests

from conftest import REPO, free_port, make_conf, vane_bin
from httpraw import RawConn, request

N = 20


TOKEN = "Zm9vYmFy-0123456789abcdef_~+/=="


def with_admin(vane_factory, backends, token=None, token_file=None, **kw):
    port = free_port()
    v = vane_factory([b.address for b in backends],
                     extra='admin = { address = "127.0.0.1:%d";%s%s };\n' % (
                         port, ' token = "%s";' % token if token else "",
                         ' token_file = "%s";' % token_file
                         if token_file else ""),
                     **kw)
    v.admin = "http://127.0.0.1:%d" % port
    v.admin_port = port
    return v


def stats(v):
    r = requests.get(v.admin + "/stats", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def server(st, b):
    return next(s for s in st["backends"] if s["name"] == b.address)


def admin_raw(v, data, method="GET", timeout=10.0):
    with RawConn(v.admin_port, timeout=timeout) as c:
        c.send(data)
        return c.read_response(method=method)


def stats_def_counters():
    text = (REPO / "src" / "stats.def").read_text()
    return re.findall(r"^STAT\((\w+),", text, re.M)


def test_stats_shape(vane_factory, backends):
    v = with_admin(vane_factory, backends, workers=2)
    r = admin_raw(v, request("GET", "/stats"))
    assert r.status == 200 and r.complete, r
    assert r.header("Content-Type") == "application/json"
    assert int(r.header("Content-Length")) == len(r.body)
    assert r.header("Connection") == "close"
    st = json.loads(r.body)
    assert st["version"] and st["workers"] == 2
    assert isinstance(st["uptime_seconds"], int)
    # Every counter of stats.def, under its section ("requests" alone is
    # requests.total).
    for name in stats_def_counters():
        sec, _, key = name.partition("_")
        assert isinstance(st[sec][key or "total"], int), name
    for k in ("active", "accepted", "refused"):
        assert k in st["connections"]
    for k in ("2xx", "3xx", "4xx", "5xx", "aborted"):
        assert k in st["responses"]
    assert st["backend"]["queue_waiting"] == 0
    assert [s["name"] for s in st["backends"]] == [b.address for b in backends]
    for s in st["backends"]:
        assert set(s) == {"name", "state", "weight", "max_conns", "active",
                          "idle", "requests", "failures", "checks",
                          "checks_failed", "check_ms", "check_reason"}
        assert s["state"] == "up" and s["weight"] == 1
    # HEAD: the same head, no body; a query string is ignored.
    h = admin_raw(v, request("HEAD", "/stats?x=1"), method="HEAD")
    assert h.status == 200 and h.body == b""
    assert h.header("Content-Type") == "application/json"
    assert int(h.header("Content-Length")) > 100


def test_stats_counters_move(vane_factory, backends):
    v = with_admin(vane_factory, backends)
    before = stats(v)
    for b in backends:
        b.reset()
    with requests.Session() as s:
        for i in range(N):
            assert s.get(v.url + "/echo?i=%d" % i, timeout=10).status_code \
                == 200
    after = stats(v)
    assert after["requests"]["total"] - before["requests"]["total"] == N
    assert after["responses"]["2xx"] - before["responses"]["2xx"] == N
    assert after["connections"]["accepted"] - \
        before["connections"]["accepted"] >= 1
    got = [server(after, b)["requests"] - server(before, b)["requests"]
           for b in backends]
    assert got == [b.stats()["requests"] for b in backends], got
    # Per listener: the one address, its connection (the session's one,
    # open still) and its requests.
    [l0], [l1] = before["listeners"], after["listeners"]
    assert l1["address"] == "127.0.0.1:%d" % v.port and l1["tls"] is False
    assert l1["requests"] - l0["requests"] == N
    assert l1["accepted"] - l0["accepted"] == 1
    # The session closed its connection: vane sees it within moments.
    deadline = time.monotonic() + 3
    while stats(v)["listeners"][0]["active"] != 0 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats(v)["listeners"][0]["active"] == 0
    assert sum(got) == N and all(n == N // 2 for n in got), got
    for b in backends:
        s = server(after, b)
        # At rest: nothing in flight, the pooled connections kept.
        assert s["active"] == 0 and 1 <= s["idle"] <= 2, s
    # One request in flight shows as active on its server.
    t = threading.Thread(target=requests.get,
                         args=(v.url + "/slow/800",), kwargs={"timeout": 10})
    t.start()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            act = [s["active"] for s in stats(v)["backends"]]
            if sum(act) == 1:
                break
            time.sleep(0.05)
        assert sorted(act) == [0, 1], act
    finally:
        t.join(10)
    assert stats(v)["connections"]["active"] >= 0


def drain(v, name, what="drain", prefix="servers", headers=None):
    return requests.post("%s/%s/%s/%s" % (v.admin, prefix, name, what),
                         headers=headers, timeout=5)


def test_drain_in_flight_finishes_and_no_new_requests(vane_factory, backends):
    v = with_admin(vane_factory, backends)
    slow = {}

    def run():
        slow["r"] = requests.get(v.url + "/slow/1500", timeout=10)
    t = threading.Thread(target=run)
    t.start()
    try:
        busy = None
        deadline = time.monotonic() + 3
        while busy is None and time.monotonic() < deadline:
            busy = next((s["name"] for s in stats(v)["backends"]
                         if s["active"] == 1), None)
            time.sleep(0.02)
        assert busy is not None
        bk = next(b for b in backends if b.address == busy)
        other = next(b for b in backends if b is not bk)
        r = drain(v, busy)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"name": busy, "state": "drain"}
        assert "backend %s set to drain by the admin listener" % busy in \
            v.stderr()
        for b in backends:
            b.reset()
        with requests.Session() as s:
            for i in range(N):
                r = s.get(v.url + "/echo?d=%d" % i, timeout=10)
                assert r.status_code == 200
                assert r.headers["x-backend"] == other.name
        assert bk.stats()["requests"] == 0
        assert other.stats()["requests"] == N
        st = server(stats(v), bk)
        assert st["state"] == "drain" and st["active"] == 1, st
    finally:
        t.join(10)
    assert slow["r"].status_code == 200, slow
    assert slow["r"].json()["backend"] == bk.name
    # Enabled again: traffic comes back at once.
    r = drain(v, busy, "enable")
    assert r.status_code == 200 and r.json() == {"name": busy, "state": "up"}
    assert "backend %s set to ready by the admin listener" % busy in \
        v.stderr()
    for b in backends:
        b.reset()
    with requests.Session() as s:
        for i in range(N):
            assert s.get(v.url + "/echo?r=%d" % i, timeout=10).status_code \
                == 200
    assert [b.stats()["requests"] for b in backends] == [N // 2, N // 2]


def test_drain_every_server_answers_503_at_once(vane_factory, backends):
    v = with_admin(vane_factory, backends)
    for b in backends:
        assert drain(v, b.address).status_code == 200
    assert {s["state"] for s in stats(v)["backends"]} == {"drain"}
    for b in backends:
        b.reset()
    t0 = time.monotonic()
    r = requests.get(v.url + "/echo", timeout=10)
    assert time.monotonic() - t0 < 1.0
    assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
    assert [b.stats()["requests"] for b in backends] == [0, 0]
    assert stats(v)["backend"]["unavailable"] == 1
    for b in backends:
        assert drain(v, b.address, "enable").status_code == 200
    assert requests.get(v.url + "/echo", timeout=10).status_code == 200


def test_drain_kicks_queued_requests(vane_factory, backends, monkeypatch):
    """A request waiting for a slot (max_conns) when the last server is
    drained is answered 503 at once, not at the queue timeout."""
    import conftest
    b = backends[0]
    make_conf = conftest.make_conf
    # max_conns is per server, which make_conf does not write.
    monkeypatch.setattr(conftest, "make_conf", lambda *a, **kw: make_conf(
        *a, **kw).replace('{ address = "%s"; }' % b.address,
                          '{ address = "%s"; max_conns = 1; }' % b.address))
    v = with_admin(vane_factory, [b],
                   backend_opts='queue = { timeout = "8s"; }; ')
    assert "max_conns = 1" in v.conf.read_text()
    res = {}

    def get(key, path):
        try:
            res[key] = requests.get(v.url + path, timeout=10)
        except requests.RequestException as e:
            res[key] = e
    t1 = threading.Thread(target=get, args=("slow", "/slow/1500"))
    t1.start()
    deadline = time.monotonic() + 3
    while stats(v)["backends"][0]["active"] != 1 and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    t2 = threading.Thread(target=get, args=("queued", "/echo"))
    t2.start()
    while stats(v)["backend"]["queue_waiting"] != 1 and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    assert stats(v)["backend"]["queue_waiting"] == 1
    t0 = time.monotonic()
    assert drain(v, b.address).status_code == 200
    t2.join(10)
    assert res["queued"].status_code == 503
    assert time.monotonic() - t0 < 1.0
    t1.join(10)
    assert res["slow"].status_code == 200
    assert drain(v, b.address, "enable").status_code == 200


def test_errors(vane_factory, backends):
    v = with_admin(vane_factory, backends)
    r = drain(v, "127.0.0.1:1")
    assert r.status_code == 404 and r.json()["name"] == "127.0.0.1:1"
    assert r.headers["Content-Type"] == "application/json"
    assert requests.get(v.admin + "/nope", timeout=5).status_code == 404
    assert requests.get(v.admin + "/backends/x", timeout=5).status_code == 404
    r = requests.post(v.admin + "/stats", timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    r = requests.get(v.admin + "/backends/%s/drain" % backends[0].address,
                     timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert server(stats(v), backends[0])["state"] == "up"
    r = requests.delete(v.admin + "/stats", timeout=5)
    assert r.status_code == 405
    # Malformed: no Host in HTTP/1.1, a bare LF, a body, an oversized head.
    assert admin_raw(v, b"GET /stats HTTP/1.1\r\n\r\n").status == 400
    assert admin_raw(v, b"GET /stats HTTP/1.1\nHost: x\n\n").status == 400
    r = admin_raw(v, request("GET", "/stats", body=b"hello"))
    assert r.status == 400 and b"no body" in r.body
    r = admin_raw(v, request("POST", "/backends/%s/drain" % backends[0].address,
                             body=b"x"))
    assert r.status == 400
    assert server(stats(v), backends[0])["state"] == "up"
    r = admin_raw(v, request("GET", "/stats",
                             headers=[("X-Big", "a" * 9000)]))
    assert r.status == 431
    for r in (admin_raw(v, b"BREW /stats HTTP/1.1\r\nHost: x\r\n\r\n"),):
        assert r.status == 405 and r.header("Connection") == "close"
    # HTTP/1.0 without Host is fine.
    r = admin_raw(v, b"GET /stats HTTP/1.0\r\n\r\n")
    assert r.status == 200 and json.loads(r.body)["backends"]
    # The proxy side never saw any of this.
    assert stats(v)["requests"]["total"] == 0


def test_head_timeout_408(vane_factory, backends):
    v = with_admin(vane_factory, backends)
    with RawConn(v.admin_port, timeout=10) as c:
        c.send(b"GET /stats HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        r = c.read_response(timeout=9)
        assert r.status == 408, r
        assert 4.0 <= time.monotonic() - t0 < 7.0
        assert c.closed_within(2)


def test_cli_drain_ready_stats(vane_factory, backends):
    v6 = "[::1]:%d" % free_port()     # never up; drained without traffic
    port = free_port()
    v = vane_factory([b.address for b in backends] + [v6],
                     extra='admin = { address = "127.0.0.1:%d"; };\n' % port)

    def cli(cmd):
        return subprocess.run([vane_bin(), "-c", str(v.conf), "-s", cmd],
                              capture_output=True, timeout=10, text=True)
    p = cli("drain:" + v6)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"name": v6, "state": "drain"}
    p = cli("stats")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["backends"][2]["state"] == "drain"
    p = cli("enable:" + v6)
    assert p.returncode == 0 and json.loads(p.stdout)["state"] == "up"
    # ready: is the old name of enable:.
    assert cli("drain:" + v6).returncode == 0
    p = cli("ready:" + v6)
    assert p.returncode == 0 and json.loads(p.stdout)["state"] == "up"
    p = cli("drain:127.0.0.1:1")
    assert p.returncode == 1 and "404" in p.stderr
    p = cli("bogus")
    assert p.returncode == 2 and "drain:SERVER" in p.stderr


def test_cli_without_admin_address(vane_factory, backends):
    v = vane_factory([b.address for b in backends])
    p = subprocess.run([vane_bin(), "-c", str(v.conf), "-s", "stats"],
                       capture_output=True, timeout=10, text=True)
    assert p.returncode == 1 and "admin.address" in p.stderr


def test_admin_port_taken_exits_1(tmp_path, backends):
    hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hold.bind(("127.0.0.1", 0))
    hold.listen(1)
    try:
        aport = hold.getsockname()[1]
        conf = tmp_path / "taken.conf"
        conf.write_text(make_conf(
            free_port(), [b.address for b in backends],
            extra='admin = { address = "127.0.0.1:%d"; };\n' % aport))
        p = subprocess.run([vane_bin(), "-c", str(conf)],
                           capture_output=True, timeout=10, text=True)
    finally:
        hold.close()
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert "127.0.0.1:%d" % aport in lines[0]
    assert "admin.address" in lines[0]
    assert "Address already in use" in lines[0]


# ------------------------------------------------------------ /metrics

PROM_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
PROM_SAMPLE = re.compile(
    r"^(%s)(\{(%s=\"(?:[^\"\\\n]|\\[\\\"n])*\"(?:,%s=\"(?:[^\"\\\n]|"
    r"\\[\\\"n])*\")*)\})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)$"
    % (PROM_NAME, PROM_NAME, PROM_NAME))


def parse_metrics(text):
    """The Prometheus text format, checked line by line: every family has
    one HELP then one TYPE before its samples, counters end in _total, no
    family comes twice. Returns {(name, labels): value}."""
    assert text.endswith("\n")
    families, samples, current = {}, {}, None
    lines = text.split("\n")[:-1]
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = re.match(r"^# HELP (%s) (.*)$" % PROM_NAME, ln)
        if m:
            name = m.group(1)
            assert name not in families, "family twice: " + name
            t = re.match(r"^# TYPE (%s) (counter|gauge)$" % PROM_NAME,
                         lines[i + 1])
            assert t and t.group(1) == name, (ln, lines[i + 1])
            families[name] = t.group(2)
            if t.group(2) == "counter":
                assert name.endswith("_total"), name
            current = name
            i += 2
            continue
        m = PROM_SAMPLE.match(ln)
        assert m, "not a sample line: %r" % ln
        assert m.group(1) == current, (m.group(1), current)
        key = (m.group(1), m.group(3) or "")
        assert key not in samples, key
        samples[key] = float(m.group(4))
        i += 1
    for name in families:
        assert any(k[0] == name for k in samples), "no sample: " + name
    return samples


def metrics(v):
    r = admin_raw(v, request("GET", "/metrics"))
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    return parse_metrics(r.body.decode("utf-8"))


def test_metrics_grammar_and_counters(vane_factory, backends):
    v = with_admin(vane_factory, backends, workers=2)
    m0 = metrics(v)
    for name in stats_def_counters():
        assert (("vane_%s_total" % name, "") in m0 or
                ("vane_%s" % name, "") in m0 or
                ("vane_%s_total" % name, 'store="memory"') in m0 or
                ("vane_%s" % name, 'store="memory"') in m0), name
    for i in range(N):
        r = requests.get(v.url + "/echo?i=%d" % i, timeout=5)
        assert r.status_code == 200
    r = requests.get(v.url + "/status/404", timeout=5)
    assert r.status_code == 404
    m1 = metrics(v)

    def delta(name, labels=""):
        return m1[(name, labels)] - m0.get((name, labels), 0)

    assert delta("vane_requests_total") == N + 1
    assert delta("vane_responses_2xx_total") == N
    assert delta("vane_responses_4xx_total") == 1
    assert delta("vane_cache_misses_total", 'store="memory"') == N + 1
    per_server = sum(delta("vane_backend_server_requests_total",
                           'server="%s"' % b.address) for b in backends)
    assert per_server == N + 1
    lis = 'listener="127.0.0.1:%d"' % v.port
    assert delta("vane_listener_requests_total", lis) == N + 1
    assert delta("vane_listener_connections_total", lis) == N + 1
    assert m1[("vane_listener_connections_active", lis)] <= 1
    for b in backends:
        assert m1[("vane_backend_up", 'server="%s"' % b.address)] == 1
    assert m1[("vane_workers", "")] == 2
    # The same counters as /stats.
    st = stats(v)
    m2 = metrics(v)
    assert m2[("vane_requests_total", "")] == st["requests"]["total"]
    assert m2[("vane_responses_2xx_total", "")] == st["responses"]["2xx"]
    # Draining shows in vane_backend_up.
    b = backends[0]
    drain(v, b.address)
    assert metrics(v)[("vane_backend_up", 'server="%s"' % b.address)] == 0
    drain(v, b.address, "enable")


# ---------------------------------------------------------- /health, token

def test_health_answers(vane_factory, backends):
    v = with_admin(vane_factory, backends)
    r = requests.get(v.admin + "/health", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = requests.head(v.admin + "/health", timeout=5)
    assert r.status_code == 200 and r.content == b""
    r = requests.post(v.admin + "/health", timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"


def test_old_route_names_still_work(vane_factory, backends):
    """/backends/NAME/drain and /ready, the names before /servers/, are
    kept as deprecated aliases."""
    v = with_admin(vane_factory, backends)
    b = backends[0]
    r = drain(v, b.address, prefix="backends")
    assert r.status_code == 200
    assert r.json() == {"name": b.address, "state": "drain"}
    r = drain(v, b.address, "ready", prefix="backends")
    assert r.status_code == 200
    assert r.json() == {"name": b.address, "state": "up"}
    # The new names do not take the old verbs, nor the old ones the new.
    assert drain(v, b.address, "ready").status_code == 404
    assert drain(v, b.address, "enable", prefix="backends").status_code \
        == 404


def bearer(token):
    return {"Authorization": "Bearer " + token}


def test_token_required(vane_factory, backends):
    v = with_admin(vane_factory, backends, token=TOKEN)
    b = backends[0]
    wrong = (None, {"Authorization": "Bearer"},
             bearer(""), bearer("x"), bearer(TOKEN[:-1]), bearer(TOKEN + "x"),
             bearer(TOKEN.upper()), {"Authorization": "Basic " + TOKEN},
             {"Authorization": TOKEN})
    for h in wrong:
        for method, path in (("GET", "/stats"), ("GET", "/metrics"),
                             ("POST", "/servers/%s/drain" % b.address),
                             ("POST", "/backends/%s/drain" % b.address),
                             ("POST", "/purge?url=http://x/"),
                             ("GET", "/nope"), ("DELETE", "/stats")):
            r = requests.request(method, v.admin + path, headers=h,
                                 timeout=5)
            assert r.status_code == 401, (h, method, path, r.text)
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="vane"'
            assert r.headers["Content-Type"] == "application/json"
        r = admin_raw(v, request("PURGE", "http://127.0.0.1/x",
                                 headers=list((h or {}).items())))
        assert r.status == 401, (h, r)
    # Nothing was drained by all that.
    assert server(stats_t(v), b)["state"] == "up"
    # The right token, with the scheme in any case and more spaces.
    for h in (bearer(TOKEN), {"Authorization": "bearer " + TOKEN},
              {"Authorization": "BEARER   " + TOKEN}):
        r = requests.get(v.admin + "/stats", headers=h, timeout=5)
        assert r.status_code == 200, (h, r.text)
        assert "WWW-Authenticate" not in r.headers
    # Two Authorization fields, one of them right: refused.
    r = admin_raw(v, request("GET", "/stats", headers=[
        ("Authorization", "Bearer " + TOKEN),
        ("Authorization", "Bearer x")]))
    assert r.status == 401
    # The token opens the routing: 404 and 405 as usual.
    assert requests.get(v.admin + "/nope", headers=bearer(TOKEN),
                        timeout=5).status_code == 404
    assert requests.delete(v.admin + "/stats", headers=bearer(TOKEN),
                           timeout=5).status_code == 405
    # /health stays open, for liveness probes.
    r = requests.get(v.admin + "/health", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    # The token is never echoed back in an answer.
    r = requests.get(v.admin + "/stats", headers=bearer(TOKEN + "x"),
                     timeout=5)
    assert TOKEN not in r.text


def stats_t(v):
    r = requests.get(v.admin + "/stats", headers=bearer(TOKEN), timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def test_drain_enable_with_token_moves_traffic(vane_factory, backends):
    """POST /servers/NAME/drain sends every request to the other server,
    /enable brings it back; with admin.token set, only with the token."""
    v = with_admin(vane_factory, backends, token=TOKEN)
    bk, other = backends
    assert drain(v, bk.address).status_code == 401
    r = drain(v, bk.address, headers=bearer(TOKEN))
    assert r.status_code == 200
    assert r.json() == {"name": bk.address, "state": "drain"}
    # The error log keeps who asked what: the refusal and the change.
    path = re.escape("/servers/%s/drain" % bk.address)
    assert re.search(r"admin: POST %s from 127\.0\.0\.1:\d+ refused: "
                     r"no valid token" % path, v.stderr()), v.stderr()
    assert re.search(r"admin: POST %s from 127\.0\.0\.1:\d+: 200" % path,
                     v.stderr()), v.stderr()
    for b in backends:
        b.reset()
    with requests.Session() as s:
        for i in range(N):
            r = s.get(v.url + "/echo?d=%d" % i, timeout=10)
            assert r.status_code == 200
            assert r.headers["x-backend"] == other.name
    assert [bk.stats()["requests"], other.stats()["requests"]] == [0, N]
    # Reads are not logged.
    assert "admin: GET" not in v.stderr()
    assert drain(v, bk.address, "enable").status_code == 401
    r = drain(v, bk.address, "enable", headers=bearer(TOKEN))
    assert r.status_code == 200
    assert r.json() == {"name": bk.address, "state": "up"}
    for b in backends:
        b.reset()
    with requests.Session() as s:
        for i in range(N):
            assert s.get(v.url + "/echo?e=%d" % i, timeout=10).status_code \
                == 200
    assert [b.stats()["requests"] for b in backends] == [N // 2, N // 2]


def test_cli_sends_the_token(vane_factory, backends, tmp_path):
    v = with_admin(vane_factory, backends, token=TOKEN)
    b = backends[0]

    def cli(conf, cmd):
        return subprocess.run([vane_bin(), "-c", str(conf), "-s", cmd],
                              capture_output=True, timeout=10, text=True)
    p = cli(v.conf, "stats")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["backends"][0]["name"] == b.address
    p = cli(v.conf, "drain:" + b.address)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"name": b.address, "state": "drain"}
    p = cli(v.conf, "enable:" + b.address)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"name": b.address, "state": "up"}
    # A file with another token (or none) is refused, and says so.
    for tok in ("other", None):
        conf = tmp_path / ("cli-%s.conf" % tok)
        conf.write_text(v.conf.read_text().replace(
            ' token = "%s";' % TOKEN, ' token = "%s";' % tok if tok else ""))
        assert (TOKEN in conf.read_text()) is False
        p = cli(conf, "stats")
        assert p.returncode == 1 and "401" in p.stderr, p.stderr


def test_token_file(vane_factory, backends, tmp_path):
    """admin.token_file: its first line is the token, for the listener and
    for vane -s alike; the configuration file does not hold it."""
    tf = tmp_path / "admin.token"
    tf.write_text(TOKEN + "\n")
    tf.chmod(0o600)
    v = with_admin(vane_factory, backends, token_file=tf)
    assert TOKEN not in v.conf.read_text()
    assert requests.get(v.admin + "/stats", timeout=5).status_code == 401
    assert requests.get(v.admin + "/stats", headers=bearer(TOKEN),
                        timeout=5).status_code == 200
    p = subprocess.run([vane_bin(), "-c", str(v.conf), "-s", "stats"],
                       capture_output=True, timeout=10, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["backends"]
    # vane -t never prints the token, only that there is one.
    p = subprocess.run([vane_bin(), "-t", "-c", str(v.conf)],
                       capture_output=True, timeout=10, text=True)
    assert p.returncode == 0, p.stderr
    assert "token required" in p.stdout and TOKEN not in p.stdout
