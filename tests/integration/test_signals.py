"""Operating vane: the access log and SIGUSR1, SIGHUP, the pidfile and
vane -s, the shutdown bound, start-up failures, several listeners."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import (Vane, free_port, make_conf, vane_bin, wait_for,
                      wait_port)
from httpraw import RawConn, get_raw, request


def test_access_log_and_reopen(vane_factory, backend, tmp_path):
    log = tmp_path / "access.log"
    v = vane_factory([backend.address], access_log=str(log))
    for p in ("/health", "/status/404", "/echo?q=1"):
        get_raw(v.port, p)
    assert wait_for(lambda: log.exists() and
                    len(log.read_text().splitlines()) >= 3, 3), \
        log.read_text() if log.exists() else "no access log"
    lines = log.read_text().splitlines()
    assert len(lines) == 3, lines
    assert "/health" in lines[0] and " 200 " in lines[0] + " ", lines[0]
    assert "/status/404" in lines[1] and "404" in lines[1], lines[1]
    # rotate: rename, SIGUSR1, the next line goes to a new file
    os.rename(log, tmp_path / "access.log.1")
    os.kill(v.proc.pid, signal.SIGUSR1)
    time.sleep(0.3)
    get_raw(v.port, "/health?after-rotate")
    assert wait_for(lambda: log.exists() and
                    "after-rotate" in log.read_text(), 3), "not reopened"
    assert "after-rotate" not in (tmp_path / "access.log.1").read_text()


ACCESS_LINE = re.compile(
    r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
    r'"((?:[^"\\]|\\x[0-9a-f]{2})*)" (\d{3}) (\d+) '
    r'"((?:[^"\\]|\\x[0-9a-f]{2})*)" "((?:[^"\\]|\\x[0-9a-f]{2})*)" '
    r'upstream=(\S+) ut=(\d+\.\d{3}) rt=(\d+\.\d{3}) cache=(\S+)$')


def test_access_log_combined_with_cache(vane_factory, backend, tmp_path):
    """The documented line: combined format, then upstream, its time, the
    total time and the cache's part; Referer and User-Agent escaped."""
    log = tmp_path / "access.log"
    v = vane_factory([backend.address], access_log=str(log))
    path = "/cache/al-%d?cc=max-age%%3D600" % time.monotonic_ns()
    for ua in ('tester/1.0 "quoted"', "tester/2.0"):
        with RawConn(v.port) as c:
            c.send(request("GET", path, headers=[
                ("Referer", "https://example.test/from"),
                ("User-Agent", ua)]))
            assert c.read_response().status == 200
    with RawConn(v.port) as c:
        c.send(request("GET", "/status/404"))
        assert c.read_response().status == 404
    assert wait_for(lambda: log.exists() and
                    len(log.read_text().splitlines()) >= 3, 3)
    lines = log.read_text().splitlines()
    ms = [ACCESS_LINE.match(ln) for ln in lines]
    assert all(ms), lines
    (m1, m2, m3) = ms
    assert m1.group(3) == "GET %s HTTP/1.1" % path
    assert m1.group(6) == "https://example.test/from"
    assert m1.group(7) == "tester/1.0 \\x22quoted\\x22", m1.group(7)
    assert m1.group(8) == backend.address and m1.group(11) == "uri-miss"
    assert m2.group(7) == "tester/2.0"
    assert m2.group(8) == "-" and m2.group(11) == "hit"
    assert int(m2.group(5)) > 0
    assert m3.group(4) == "404" and m3.group(6) == "-" and \
        m3.group(7) == "-", lines[2]


def test_access_format_custom(vane_factory, backend, tmp_path):
    """log.access_format: exactly the line its variables say, for a miss
    then a hit of the same URL on one connection."""
    log = tmp_path / "access.log"
    fmt = ('$remote_addr $request_method $request_uri $server_protocol '
           '$status $cache_status $upstream_addr $scheme "$host" '
           '"$http_x_custom" ${connection_requests}th len=$request_length '
           '$$5 c$connection')
    v = vane_factory([backend.address], access_log=str(log),
                     access_format=fmt)
    path = "/cache/af-%d?cc=max-age%%3D600" % time.monotonic_ns()
    first = request("GET", path, host="h.test",
                    headers=[("X-Custom", 'a "b"\\c')])
    with RawConn(v.port) as c:
        c.send(first)
        assert c.read_response().status == 200
        c.send(request("GET", path, host="h.test"))
        assert c.read_response().status == 200
    assert wait_for(lambda: log.exists() and
                    len(log.read_text().splitlines()) >= 2, 3)
    lines = log.read_text().splitlines()
    conn = lines[0].rsplit(" c", 1)[-1]
    assert conn.isdigit() and int(conn) > 0, lines[0]
    assert lines == [
        '127.0.0.1 GET %s HTTP/1.1 200 uri-miss %s http "h.test" '
        '"a \\x22b\\x22\\x5cc" 1th len=%d $5 c%s'
        % (path, backend.address, len(first), conn),
        '127.0.0.1 GET %s HTTP/1.1 200 hit - http "h.test" "-" 2th '
        'len=%d $5 c%s' % (path, len(request("GET", path, host="h.test")),
                           conn),
    ]


def test_access_log_bytes_sent(vane_factory, backend, tmp_path):
    """$bytes_sent is every byte of the answer, head included;
    $body_bytes_sent the body's data alone (the combined format's field):
    misses, hits, HEAD, a chunked body, the backend's errors and vane's
    own, checked against what the client read."""
    log = tmp_path / "access.log"
    v = vane_factory([backend.address], access_log=str(log),
                     access_format="$request_method $status $bytes_sent "
                     "$body_bytes_sent", timeouts={"client_header": "1s"})
    path = "/cache/bs-%d?cc=max-age%%3D600" % time.monotonic_ns()
    got = []
    with RawConn(v.port) as c:
        for method, target in (("GET", path), ("GET", path),
                               ("HEAD", path), ("GET", "/status/404"),
                               ("GET", "/stream/70000")):
            c.send(request(method, target))
            r = c.read_response(method=method)
            assert r.status in (200, 404) and r.complete, r
            got.append((method, r))
        chunked_body = got[-1][1]
        assert chunked_body.framing == "chunked", chunked_body
        # After a HEAD, vane's own 408 still carries its body.
        c.send(request("HEAD", path))
        got.append(("HEAD", c.read_response(method="HEAD")))
        c.send(b"GET / HTTP/1.1\r\n")
        r = c.read_response()
        assert r.status == 408 and r.body == b"408 Request Timeout\n", r
        got.append(("-", r))
    with RawConn(v.port) as c:
        c.send(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 400 and r.body == b"400 Bad Request\n", r
        got.append(("-", r))
    assert wait_for(lambda: log.exists() and
                    len(log.read_text().splitlines()) >= len(got), 3)
    lines = log.read_text().splitlines()
    assert len(lines) == len(got), lines
    for (method, r), line in zip(got, lines):
        want = [str(r.status), str(len(r.raw_head) + len(r.body)),
                str(len(r.body))]
        assert line.split()[1:] == want, (line, r, r.raw_head)
    assert lines[2].split()[3] == "0" and lines[4].split()[3] == "70000"


def test_access_log_json(vane_factory, backend, tmp_path):
    """log.access_escape = "json": a JSON format stays valid JSON whatever
    the request held (quotes, backslashes, tabs, bytes above 0x7f), and
    each value reads back as sent, byte for code point."""
    log = tmp_path / "access.log"
    v = vane_factory([backend.address], access_log=str(log),
                     access_escape="json",
                     access_format='{"r":"$request","ua":"$http_user_agent",'
                     '"ref":"$http_referer","s":$status,'
                     '"b":$body_bytes_sent,"rt":$request_time}')
    ua = b'a "quoted" \\path\\ \ttab caf\xc3\xa9 \xff'
    target = b'/status/404?q="x"\\y'
    with RawConn(v.port) as c:
        c.send(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n"
               b"User-Agent: " + ua + b"\r\n\r\n")
        r = c.read_response()
    if r.status == 400:
        target = b"/status/404"     # a '"' in the target may be refused
        with RawConn(v.port) as c:
            c.send(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n"
                   b"User-Agent: " + ua + b"\r\n\r\n")
            r = c.read_response()
    assert r.status == 404
    assert wait_for(lambda: log.exists() and
                    log.read_text().endswith("\n"), 3)
    line = log.read_text().splitlines()[-1]
    doc = json.loads(line)
    assert doc["ua"] == ua.decode("latin-1"), (line, doc["ua"])
    assert doc["r"] == "GET %s HTTP/1.1" % target.decode("latin-1")
    assert doc["ref"] == "-" and doc["s"] == 404
    assert doc["b"] == len(r.body) and doc["rt"] >= 0
    assert "\\u0009" in line and "\\u00ff" in line and '\\"' in line


def test_access_format_times(vane_factory, backend, tmp_path):
    log = tmp_path / "access.log"
    v = vane_factory([backend.address], access_log=str(log),
                     access_format="$time_iso8601|$msec|$time_local|"
                     "$remote_port|$request|$bytes_sent")
    with RawConn(v.port) as c:
        port = c.sock.getsockname()[1]
        c.send(request("GET", "/status/404", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 404
    before = time.time()
    assert wait_for(lambda: log.exists() and log.read_text(), 3)
    iso, msec, local, rport, req, sent = \
        log.read_text().rstrip("\n").split("|")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", iso), iso
    assert re.fullmatch(r"\d+\.\d{3}", msec), msec
    assert abs(float(msec) - before) < 5, (msec, before)
    assert time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                         time.gmtime(int(float(msec)))) == iso
    assert time.strftime("%d/%b/%Y:%H:%M:%S +0000",
                         time.gmtime(int(float(msec)))) == local
    assert int(rport) == port
    assert req == "GET /status/404 HTTP/1.0"
    assert int(sent) > 0


def test_access_format_long_values(vane_factory, backend, tmp_path):
    """Every variable at once, with values past their caps: fields cut at
    156 bytes then "...", the target at 256, escapes counted in; run under
    the sanitizers this is the bounds check of the line builder."""
    log = tmp_path / "access.log"
    names = ("remote_addr remote_port time_local time_iso8601 msec request "
             "request_method request_uri server_protocol scheme status "
             "bytes_sent request_length upstream_addr upstream_response_time "
             "request_time cache_status connection_requests connection host "
             "http_user_agent http_referer http_x_a").split()
    v = vane_factory([backend.address], access_log=str(log),
                     access_format="|".join("$" + n for n in names))
    ua = 'U"' * 200
    target = "/status/404?" + "q" * 400
    with RawConn(v.port) as c:
        c.send(request("GET", target, headers=[
            ("X-A", ""), ("User-Agent", ua), ("Referer", "r" * 155)]))
        assert c.read_response().status == 404
    assert wait_for(lambda: log.exists() and log.read_text(), 3)
    got = dict(zip(names, log.read_text().rstrip("\n").split("|")))
    assert len(got) == len(names), got
    assert got["http_user_agent"] == ("U\\x22" * 31 + "U")[:156] + "...", \
        got["http_user_agent"]
    # The fields share 320 bytes, in the order of the request: Host took
    # 9, X-A none (present, empty: not "-"), User-Agent 159, so the
    # Referer has 152 (148 and "...").
    assert got["http_referer"] == "r" * 148 + "...", got["http_referer"]
    assert got["http_x_a"] == ""
    assert got["request"] == "GET %s... HTTP/1.1" % target[:256]
    assert got["request_uri"] == target[:256] + "..."
    assert got["request_method"] == "GET"
    assert got["server_protocol"] == "HTTP/1.1"
    assert got["status"] == "404" and got["scheme"] == "http"
    assert got["host"] == "127.0.0.1"
    assert got["connection_requests"] == "1"
    assert int(got["connection"]) >= 1


def test_access_log_off(vane_factory, backend, tmp_path):
    """log.access = "off": no access log, no file named off."""
    cwd = os.getcwd()
    assert not os.path.exists(os.path.join(cwd, "off"))
    v = vane_factory([backend.address], access_log="off")
    assert get_raw(v.port).status == 200
    time.sleep(0.3)     # past a flush
    v.stop()
    assert not os.path.exists(os.path.join(cwd, "off"))
    assert not os.path.exists(str(tmp_path / "off"))


def test_access_format_unknown_variable(tmp_path, backend):
    conf = tmp_path / "bad.conf"
    conf.write_text(make_conf(free_port(), [backend.address],
                              access_format="$status $foo"))
    p = subprocess.run([vane_bin(), "-t", "-c", str(conf)],
                       capture_output=True, timeout=20)
    assert p.returncode == 1
    line = [n for n, t in enumerate(conf.read_text().splitlines(), 1)
            if "access_format" in t][0]
    assert ("%s:%d: option 'log.access_format' has an unknown variable "
            "$foo" % (conf, line)) in p.stderr.decode(), p.stderr


def test_sighup_keeps_serving(vane_factory, backend):
    v = vane_factory([backend.address])
    os.kill(v.proc.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert v.proc.poll() is None
    assert get_raw(v.port).status == 200


def test_sighup_bad_config_keeps_running(vane_factory, backend):
    v = vane_factory([backend.address])
    good = v.conf.read_text()
    v.conf.write_text(good + "this is not libconfig\n")
    os.kill(v.proc.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert v.proc.poll() is None
    assert get_raw(v.port).status == 200
    assert str(v.conf) in v.stderr(), v.stderr()[-1000:]
    v.conf.write_text(good)


def test_pidfile_and_s_stop(tmp_path, backend):
    pidfile = tmp_path / "vane.pid"
    v = Vane(tmp_path, [backend.address],
             extra='pidfile = "%s";\n' % pidfile)
    try:
        assert wait_for(pidfile.exists, 3)
        assert int(pidfile.read_text()) == v.proc.pid
        # Reap vane as soon as it exits, as init would: a zombie still
        # answers kill(pid, 0), and vane -s stop waits for it to vanish.
        reaper = threading.Thread(target=v.proc.wait, daemon=True)
        reaper.start()
        p = subprocess.run([vane_bin(), "-s", "stop", "-c", str(v.conf)],
                           capture_output=True, timeout=20)
        assert p.returncode == 0, p.stderr
        assert v.proc.wait(timeout=5) == 0
        assert not pidfile.exists()
    finally:
        v.stop()
    assert not v.problems(), v.problems()


def test_s_stop_without_instance(tmp_path):
    f = tmp_path / "v.conf"
    f.write_text(make_conf(free_port(), ["127.0.0.1:1"]) +
                 'pidfile = "%s";\n' % (tmp_path / "none.pid"))
    p = subprocess.run([vane_bin(), "-s", "stop", "-c", str(f)],
                       capture_output=True, timeout=10)
    assert p.returncode == 1
    assert p.stderr.strip()


def test_shutdown_bound(vane_factory, backend):
    """A request longer than timeouts.shutdown does not hold vane up."""
    v = vane_factory([backend.address], timeouts={"shutdown": "1s"})
    res = {}

    def slow():
        with RawConn(v.port, timeout=10) as c:
            c.send(request("GET", "/slow/3000"))
            res["r"] = c.read_response(timeout=9)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    os.kill(v.proc.pid, signal.SIGTERM)
    rc = v.proc.wait(timeout=6)
    took = time.monotonic() - t0
    t.join(timeout=10)
    assert took < 2.5, took
    assert rc == 0, rc
    r = res["r"]
    assert not r.timed_out and not r.complete, r


def test_address_in_use_fails_start(tmp_path, backend):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        f = tmp_path / "busy.conf"
        f.write_text(make_conf(port, [backend.address]))
        p = subprocess.run([vane_bin(), "-c", str(f)], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
    finally:
        s.close()
    assert p.returncode == 1, p
    err = p.stderr.decode()
    assert "127.0.0.1:%d" % port in err, err
    assert len(err.strip().splitlines()) <= 3, err


def test_two_listeners(vane_factory, backend):
    p2 = free_port()
    v = vane_factory([backend.address], more_listen=["127.0.0.1:%d" % p2])
    assert wait_port(p2, 3)
    assert get_raw(v.port).status == 200
    assert get_raw(p2).status == 200


def test_ipv6_listener(vane_factory, backend):
    import socket
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    p6 = free_port()
    v = vane_factory([backend.address], more_listen=["[::1]:%d" % p6])
    deadline = time.monotonic() + 3
    while True:
        try:
            c = socket.create_connection(("::1", p6), timeout=2)
            break
        except OSError:
            assert time.monotonic() < deadline, "[::1] listener not up"
            time.sleep(0.05)
    c.sendall(request("GET", "/echo", host="[::1]:%d" % p6))
    data = b""
    c.settimeout(5)
    while b'"client"' not in data:
        d = c.recv(65536)
        if not d:
            break
        data += d
    c.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    assert b'["x-forwarded-for","::1"]' in data, data
    assert v.proc.poll() is None


def test_dash_T_prints_the_effective_configuration(tmp_path):
    """vane -T: the test, then every option in effect (defaults too), in a
    form vane reads back to the same values."""
    conf = tmp_path / "t.conf"
    conf.write_text('listen = ( { address = "127.0.0.1:1"; } );\n'
                    'backends = { servers = ( { address = "127.0.0.1:2"; '
                    'weight = 3; } ); };\ncache = { size = "64M"; };\n')
    p = subprocess.run([vane_bin(), "-T", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    first, _, dump = out.partition("\n")
    assert first == "configuration file %s test is successful" % conf
    assert 'size = "64M";' in dump and "weight = 3;" in dump
    assert "timeouts" in dump and "client_header" in dump   # defaults too
    again = tmp_path / "again.conf"
    again.write_text(dump)
    p2 = subprocess.run([vane_bin(), "-T", "-c", str(again)],
                        capture_output=True, timeout=30)
    assert p2.returncode == 0, p2.stderr
    assert p2.stdout.decode().partition("\n")[2].replace(
        str(again), str(conf)) == dump
    # A broken file: FILE:LINE, exit 1, nothing dumped.
    conf.write_text("listen = ( { address = \"127.0.0.1:1\"; } )\n")
    p3 = subprocess.run([vane_bin(), "-T", "-c", str(conf)],
                        capture_output=True, timeout=30)
    assert p3.returncode == 1 and p3.stdout == b""
    assert p3.stderr.decode().startswith("%s:" % conf)
