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
