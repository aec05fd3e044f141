"""Process life: graceful stop under load, and the command line
(-t, -V, -x sample)."""
import os
import re
import signal
import subprocess
import threading
import time

from conftest import free_port, make_conf, sanitizer_report, vane_bin
from httpraw import RawConn, request


def run(args, timeout=10):
    p = subprocess.run([vane_bin()] + args, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert not sanitizer_report(out), out
    assert p.returncode >= 0, "vane %s died of signal %d" % (args, -p.returncode)
    return p.returncode, out


# 14 -----------------------------------------------------------------------

def test_sigterm_drains_in_flight(vane_factory, backend):
    v = vane_factory([backend.address])
    result = {}

    def slow():
        try:
            with RawConn(v.port, timeout=10) as c:
                c.send(request("GET", "/slow/1500"))
                result["r"] = c.read_response()
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.4)
    os.kill(v.proc.pid, signal.SIGTERM)
    t.join(timeout=10)
    assert not t.is_alive()
    assert "e" not in result, result
    r = result["r"]
    assert r.status == 200 and r.complete, r
    assert b'"slept_ms":1500' in r.body
    rc = v.proc.wait(timeout=8)
    assert rc == 0, (rc, v.stderr()[-2000:])


def test_sigterm_idle_exits_promptly(vane_factory, backend):
    v = vane_factory([backend.address])
    c = RawConn(v.port)      # an idle keep-alive client must not hold it up
    c.send(request("GET", "/health"))
    assert c.read_response().status == 200
    t0 = time.monotonic()
    os.kill(v.proc.pid, signal.SIGTERM)
    rc = v.proc.wait(timeout=8)
    c.close()
    assert rc == 0
    assert time.monotonic() - t0 < 3.5


def test_sigterm_stops_accepting(vane_factory, backend):
    v = vane_factory([backend.address])
    os.kill(v.proc.pid, signal.SIGTERM)
    v.proc.wait(timeout=8)
    try:
        RawConn(v.port, timeout=1).close()
        accepted = True
    except OSError:
        accepted = False
    assert not accepted


# 15 -----------------------------------------------------------------------

def test_config_test_ok(tmp_path):
    f = tmp_path / "good.conf"
    f.write_text(make_conf(free_port(), ["127.0.0.1:%d" % free_port()]))
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 0, out
    assert re.search(r"configuration file .*%s.* test is successful"
                     % re.escape(f.name), out), out


def test_config_unknown_option(tmp_path):
    f = tmp_path / "bad.conf"
    f.write_text('workers = 1;\n'
                 'listen = ( { address = "127.0.0.1:%d"; } );\n'
                 'backends = { servers = ( { address = "127.0.0.1:1"; } ); };\n'
                 'no_such_option = 5;\n' % free_port())
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 1, (rc, out)
    assert "%s:4:" % f in out, out


def test_config_unknown_nested_option(tmp_path):
    f = tmp_path / "bad.conf"
    f.write_text('listen = ( { address = "127.0.0.1:%d"; } );\n'
                 'backends = { servers = ( { address = "127.0.0.1:1"; } );\n'
                 '  bogus = 3; };\n' % free_port())
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 1, (rc, out)
    assert "%s:3:" % f in out, out


def test_config_duplicate_listen(tmp_path):
    p = free_port()
    f = tmp_path / "dup.conf"
    f.write_text('workers = 1;\n'
                 'listen = (\n'
                 '  { address = "127.0.0.1:%d"; },\n'
                 '  { address = "127.0.0.1:%d"; }\n'
                 ');\n'
                 'backends = { servers = ( { address = "127.0.0.1:1"; } ); };\n'
                 % (p, p))
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 1, (rc, out)
    assert re.search(r"%s:[34]:" % re.escape(str(f)), out), out


def test_config_syntax_error(tmp_path):
    f = tmp_path / "syn.conf"
    f.write_text('workers = 1;\nlisten = ( { address = "127.0.0.1:1" } \n')
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 1, (rc, out)
    assert re.search(r"%s:\d+:" % re.escape(str(f)), out), out


def test_config_bad_run_exits_1(tmp_path):
    """Running (not -t) with a bad config fails at startup, no crash."""
    f = tmp_path / "bad.conf"
    f.write_text('listen = ( { address = "127.0.0.1:%d"; } );\n'
                 'backends = { servers = ( ); };\n'
                 'timeouts = { client_header = "ten seconds"; };\n'
                 % free_port())
    rc, out = run(["-c", str(f)])
    assert rc == 1, (rc, out)
    assert str(f) in out, out


def test_version():
    rc, out = run(["-V"])
    assert rc == 0, out
    assert "vane" in out.lower() and re.search(r"\d+\.\d+\.\d+", out), out


def test_sample_config_passes_check(tmp_path):
    rc, out = run(["-x", "sample"])
    assert rc == 0, out
    assert "listen" in out and "backends" in out, out[:500]
    p = subprocess.run([vane_bin(), "-x", "sample"], capture_output=True,
                       timeout=10)
    f = tmp_path / "sample.conf"
    f.write_bytes(p.stdout)
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 0, out
    assert "test is successful" in out, out


def test_sample_config_matches_etc(tmp_path):
    """etc/vane.conf is the generated sample (make check also guards it)."""
    from conftest import REPO
    p = subprocess.run([vane_bin(), "-x", "sample"], capture_output=True,
                       timeout=10)
    assert p.returncode == 0
    assert b"listen" in p.stdout
    assert p.stdout == (REPO / "etc" / "vane.conf").read_bytes()


# vane -t: admin.address, files, summary (issue 8) ----------------------

def test_config_admin_off_loopback_needs_token(tmp_path):
    f = tmp_path / "admin.conf"
    base = make_conf(free_port(), ["127.0.0.1:%d" % free_port()])
    for addr in ("*:%d", "0.0.0.0:%d", "[::]:%d"):
        a = addr % free_port()
        f.write_text(base + 'admin = {\n  address = "%s";\n};\n' % a)
        line = base.count("\n") + 2
        rc, out = run(["-t", "-c", str(f)])
        assert rc == 1, out
        assert "%s:%d: admin.address: %s is not loopback: set admin.token" \
            % (f, line, a) in out, out
        f.write_text(base + 'admin = {\n  address = "%s";\n'
                     '  token = "0123456789abcdef";\n};\n' % a)
        rc, out = run(["-t", "-c", str(f)])
        assert rc == 0, out
        assert "admin: %s, token required" % a in out, out
        assert "0123456789abcdef" not in out


def test_config_admin_on_a_listen_port(tmp_path):
    p = free_port()
    f = tmp_path / "admin.conf"
    f.write_text(make_conf(p, ["127.0.0.1:%d" % free_port()]) +
                 'admin = { address = "127.0.0.1:%d"; };\n' % p)
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 1, out
    assert re.search(r"%s:\d+: admin.address: 127.0.0.1:%d takes the port "
                     r"of listen address 127.0.0.1:%d" % (re.escape(str(f)),
                                                          p, p), out), out


def test_config_missing_certificate(tmp_path):
    """A certificate is checked even with no TLS listener to use it."""
    f = tmp_path / "cert.conf"
    base = make_conf(free_port(), ["127.0.0.1:%d" % free_port()])
    f.write_text(base + 'tls = {\n  certificates = (\n'
                 '    { cert = "%s/none.pem"; key = "%s/none.key"; }\n'
                 '  );\n};\n' % (tmp_path, tmp_path))
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 1, out
    assert "%s:%d: tls.certificates[].cert: cannot read certificate " \
        "%s/none.pem: No such file or directory" % (
            f, base.count("\n") + 3, tmp_path) in out, out


def _insert_at(text, line, what):
    """text with what inserted as its line number line (1-based)."""
    lines = text.splitlines(True)
    return "".join(lines[:line - 1]) + what + "".join(lines[line - 1:])


def test_config_log_dir_not_writable(tmp_path):
    f = tmp_path / "log.conf"
    base = make_conf(free_port(), ["127.0.0.1:%d" % free_port()])
    logline = 'log = { level = "info"; };\n'
    assert logline in base
    line = base[:base.index(logline)].count("\n") + 1
    base = base.replace(logline, "")
    line2 = base.count("\n") + 1
    (tmp_path / "file").write_text("")
    for path, why in (
            ("%s/no/such/error.log" % tmp_path,
             "cannot create %s/no/such/error.log: directory %s/no/such: "
             "No such file or directory" % (tmp_path, tmp_path)),
            ("%s/file/error.log" % tmp_path,
             "cannot write %s/file/error.log: Not a directory" % tmp_path),
            (str(tmp_path), "cannot write %s: Is a directory" % tmp_path)):
        f.write_text(_insert_at(base, line, 'log = { error = "%s"; };\n'
                                % path))
        rc, out = run(["-t", "-c", str(f)])
        assert rc == 1, out
        assert "%s:%d: log.error: %s" % (f, line, why) in out, out
    if os.geteuid() != 0:       # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        f.write_text(_insert_at(base, line, 'log = { error = "%s/e.log"; };\n'
                                % ro))
        rc, out = run(["-t", "-c", str(f)])
        assert rc == 1 and "%s:%d: log.error: cannot create %s/e.log: " \
            "directory %s: Permission denied" % (f, line, ro, ro) in out, out
    f.write_text(base + 'pidfile = "%s/none/vane.pid";\n' % tmp_path)
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 1 and "%s:%d: pidfile: cannot create" % (f, line2) in out, \
        out
    # Writable: fine, and -t created nothing.
    f.write_text(base + 'log = { error = "%s/e.log"; access = "%s/a.log"; '
                 '};\npidfile = "%s/vane.pid";\n' % ((tmp_path,) * 3))
    rc, out = run(["-t", "-c", str(f)])
    assert rc == 0, out
    assert not any((tmp_path / n).exists()
                   for n in ("e.log", "a.log", "vane.pid"))
    assert "log: error to %s/e.log, access to %s/a.log, level info" % (
        tmp_path, tmp_path) in out, out


def test_config_test_prints_a_summary(tmp_path):
    f = tmp_path / "sum.conf"
    lp, b1, b2, ap = free_port(), free_port(), free_port(), free_port()
    f.write_text(make_conf(lp, ["127.0.0.1:%d" % b1, "127.0.0.1:%d" % b2],
                           workers=2,
                           server_opts={"127.0.0.1:%d" % b2: {"weight": 3}},
                           extra='admin = { address = "127.0.0.1:%d"; };\n'
                           'cache = { size = "64M"; };\n' % ap))
    p = subprocess.run([vane_bin(), "-t", "-c", str(f)],
                       capture_output=True, timeout=30, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "configuration file %s test is successful" % f
    assert len(lines) <= 24     # one screen
    want = ["listen:",
            "  %-24s plain" % ("127.0.0.1:%d" % lp),
            "backends: round_robin, 1 retry, no active health checks",
            "  %-24s weight 1" % ("127.0.0.1:%d" % b1),
            "  %-24s weight 3" % ("127.0.0.1:%d" % b2),
            "cache: memory, 64M, objects up to 8M",
            "admin: 127.0.0.1:%d, no token" % ap,
            "workers: 2"]
    assert lines[1:1 + len(want)] == want, p.stdout
