"""Active health checks (backends.health): a server whose check fails
`fall` times is taken out, one that passes `rise` times comes back, the
state changes are logged with their reason, and a request meets no server
that is down. Asserted on the backends' own counters and vane's stderr."""
import os
import signal
import socket
import time

import requests

from conftest import UvicornBackend, h_bad_status, h_never, h_reset, \
    read_request, wait_for

INTERVAL = 0.2
RISE = 2
FALL = 2
HEALTH = ('health = { path = "/hc"; interval = "200ms"; timeout = "500ms"; '
          'rise = %d; fall = %d; %%s};' % (RISE, FALL))
# How long detection may take: interval x fall, plus the second the issue
# allows.
DETECT = INTERVAL * FALL + 1.0


def health_opts(extra="", more=""):
    return (HEALTH % extra) + " " + more


def set_health(b, code):
    requests.post(b.url + "/control/health/%d" % code,
                  timeout=5).raise_for_status()


def wait_log(v, text, timeout):
    return wait_for(lambda: text in v.stderr(), timeout)


def get_n(v, n, path="/echo"):
    """n GETs on one keep-alive connection; the statuses."""
    out = []
    with requests.Session() as s:
        for i in range(n):
            try:
                out.append(s.get(v.url + path + "?i=%d" % i,
                                 timeout=5).status_code)
            except requests.RequestException as e:
                out.append(repr(e))
    return out


def counts(bs):
    return [b.stats()["requests"] for b in bs]


def test_failing_check_takes_server_out_and_rise_brings_it_back(
        vane_factory, backends):
    b1, b2 = backends
    for b in backends:
        b.reset()
    v = vane_factory([b.address for b in backends],
                     backend_opts=health_opts())
    assert get_n(v, 20) == [200] * 20
    assert counts(backends) == [10, 10]

    set_health(b2, 503)
    t0 = time.monotonic()
    assert wait_log(v, "backend %s is down: status 503 (%d failed checks)"
                    % (b2.address, FALL), DETECT), v.stderr()[-2000:]
    time.sleep(max(0.0, DETECT - (time.monotonic() - t0)))
    before = counts(backends)
    assert get_n(v, 50) == [200] * 50
    after = counts(backends)
    assert after[1] == before[1], (before, after)
    assert after[0] == before[0] + 50, (before, after)
    assert "backend %s is down" % b1.address not in v.stderr()

    set_health(b2, 200)
    assert wait_log(v, "backend %s is up again (%d checks passed)"
                    % (b2.address, RISE), INTERVAL * RISE + 1.0), \
        v.stderr()[-2000:]
    before = counts(backends)
    assert get_n(v, 50) == [200] * 50
    after = counts(backends)
    assert [a - b for a, b in zip(after, before)] == [25, 25], \
        (before, after)
    # The checks themselves are not requests: /hc is not counted, and the
    # backend saw them.
    assert b2.stats()["health_checks"] >= FALL + RISE


def test_fall_and_rise_count_consecutive_checks(vane_factory, backends):
    """fall = rise = 5 at 100 ms: five checks are at least 400 ms apart
    from first to last, so neither change may come within 300 ms."""
    b1 = backends[0]
    b1.reset()
    v = vane_factory([b1.address], backend_opts=(
        'health = { path = "/hc"; interval = "100ms"; timeout = "500ms"; '
        'rise = 5; fall = 5; };'))
    try:
        for code, line in ((503, "is down: status 503 (5 failed checks)"),
                           (200, "is up again (5 checks passed)")):
            set_health(b1, code)
            t0 = time.monotonic()
            time.sleep(0.3)
            assert line not in v.stderr(), (time.monotonic() - t0,
                                            v.stderr()[-2000:])
            assert wait_log(v, "backend %s %s" % (b1.address, line), 1.5), \
                v.stderr()[-2000:]
    finally:
        set_health(b1, 200)


def test_sigkilled_backend_detected_then_no_failed_request(
        vane_factory, backends, tmp_path):
    b1 = backends[0]
    b1.reset()
    victim = UvicornBackend("victim", tmp_path)
    try:
        victim.wait_ready()
        victim.reset()
        # Passive checks off: the active ones alone must find it.
        v = vane_factory([b1.address, victim.address],
                         backend_opts=health_opts(more="max_fails = 0;"))
        assert get_n(v, 10) == [200] * 10
        assert victim.stats()["requests"] == 5
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(timeout=5)
        assert wait_log(v, "backend %s is down: connect refused (%d failed "
                        "checks)" % (victim.address, FALL), DETECT), \
            v.stderr()[-2000:]
        before = b1.stats()["requests"]
        statuses = get_n(v, 50)
        assert statuses == [200] * 50, statuses
        assert b1.stats()["requests"] == before + 50
    finally:
        victim.stop()


def test_all_servers_down_fast_503_with_retry_after(vane_factory, backends):
    for b in backends:
        b.reset()
    v = vane_factory([b.address for b in backends],
                     backend_opts=health_opts())
    assert get_n(v, 2) == [200, 200]
    for b in backends:
        set_health(b, 503)
    try:
        for b in backends:
            assert wait_log(v, "backend %s is down: status 503"
                            % b.address, DETECT), v.stderr()[-2000:]
        before = counts(backends)
        t0 = time.monotonic()
        r = requests.get(v.url + "/echo", timeout=5)
        elapsed = time.monotonic() - t0
        assert r.status_code == 503, r
        assert elapsed < 0.5, elapsed
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
        assert counts(backends) == before
        # One comes back: it is used again at once.
        set_health(backends[0], 200)
        assert wait_log(v, "backend %s is up again" % backends[0].address,
                        INTERVAL * RISE + 1.0), v.stderr()[-2000:]
        assert get_n(v, 4) == [200] * 4
    finally:
        for b in backends:
            set_health(b, 200)


def test_health_host_and_default_host(vane_factory, backends):
    b1, b2 = backends
    for b in backends:
        b.reset()
    v1 = vane_factory([b1.address], backend_opts=health_opts())
    assert wait_for(lambda: b1.address in b1.stats()["health_hosts"],
                    2.0), b1.stats()
    v1.stop()
    v2 = vane_factory([b2.address],
                      backend_opts=health_opts('host = "api.example.test"; '))
    assert wait_for(lambda: "api.example.test" in b2.stats()["health_hosts"],
                    2.0), b2.stats()
    assert set(b2.stats()["health_hosts"]) == {"api.example.test"}
    # The client's requests keep their own Host.
    r = requests.get(v2.url + "/echo", timeout=5)
    host = [val for k, val in r.json()["headers"] if k == "host"]
    assert host == ["127.0.0.1:%d" % v2.port], host


def test_status_set(vane_factory, backends):
    b1 = backends[0]
    b1.reset()
    set_health(b1, 418)
    try:
        ok = vane_factory([b1.address],
                          backend_opts=health_opts('status = "200,418"; '))
        strict = vane_factory([b1.address],
                              backend_opts=health_opts('status = "200"; '))
        assert wait_log(strict, "backend %s is down: status 418"
                        % b1.address, DETECT), strict.stderr()[-2000:]
        assert requests.get(strict.url + "/echo", timeout=5).status_code \
            == 503
        # By now the lenient one has run as many checks: all passed.
        assert "is down" not in ok.stderr(), ok.stderr()[-2000:]
        assert get_n(ok, 5) == [200] * 5
    finally:
        set_health(b1, 200)


def h_close_after_request(c, srv):
    raw, _ = read_request(c)
    if raw is not None:
        srv.record(raw)
    c.shutdown(socket.SHUT_WR)
    time.sleep(0.1)


def test_failure_reasons_of_raw_backends(vane_factory, raw_backend):
    """Timeout (accepts, never answers), invalid response, reset and
    close, each with its exact reason."""
    never = raw_backend(h_never)
    bad = raw_backend(h_bad_status)
    reset = raw_backend(h_reset)
    closed = raw_backend(h_close_after_request)
    servers = [never, bad, reset, closed]
    v = vane_factory([s.address for s in servers],
                     backend_opts=health_opts())
    reasons = ["timeout", "invalid response", "connection reset",
               "connection closed"]
    # A timed-out check takes the whole timeout (0.5 s), twice.
    for s, why in zip(servers, reasons):
        line = "backend %s is down: %s (%d failed checks)" % (
            s.address, why, FALL)
        assert wait_log(v, line, 0.5 * FALL + DETECT), v.stderr()[-2000:]
    r = requests.get(v.url + "/echo", timeout=5)
    assert r.status_code == 503, r
    # What a check sends (the raw backends that read it recorded it).
    raw = never.requests[0]
    assert raw.startswith(b"GET /hc HTTP/1.1\r\n"), raw
    head = raw.lower()
    assert b"\r\nhost: %s\r\n" % never.address.encode() in head, raw
    assert b"\r\nuser-agent: vane-health/" in head, raw
    assert b"\r\nconnection: close\r\n" in head, raw
    assert b"\r\naccept: */*\r\n" in head, raw
