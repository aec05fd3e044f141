"""The process side of operations: daemon mode and its start-up handshake,
the pidfile, systemd's readiness protocol, the privilege drop, and the
shipped systemd unit.

The daemon is an orphan by design; this machine's PID 1 does not reap
orphans, so the tests that start one make this process a child subreaper
for the while and reap the daemon themselves, as init would (a zombie
still answers kill(pid, 0), and vane -s stop waits for the pid to go).
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (REPO, free_port, make_conf, openssl, sanitizer_report,
                      vane_bin)
from httpraw import get_raw

PR_SET_CHILD_SUBREAPER = 36


def alive(pid):
    """Running, and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def subreaper():
    """Orphans of our children come to us while the test runs; reap(pid)
    waits for one of them in a thread. Daemons still alive at the end are
    stopped by their PID."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) failed")
    pids = []

    def reap(pid):
        pids.append(pid)

        def wait():
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        threading.Thread(target=wait, daemon=True).start()
    yield reap
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def daemon_conf(tmp_path, port, backend_address, extra=""):
    conf = tmp_path / "daemon.conf"
    text = make_conf(port, [backend_address])
    log = 'log = { level = "info"; };'
    assert log in text
    conf.write_text(text.replace(log, 'log = { level = "info"; error = '
                                 '"%s"; };' % (tmp_path / "error.log")) +
                    'daemon = true;\npidfile = "%s";\n'
                    % (tmp_path / "vane.pid") + extra)
    return conf


def start(conf, tmp_path, name="start"):
    """vane -c conf with its output in files (a pipe held by a daemon
    would keep a reader waiting). Returns (exit status, stderr)."""
    err = tmp_path / (name + ".stderr")
    # The daemon's stderr is /dev/null once it serves: a sanitizer
    # report at its exit goes to a file instead (sanitized builds only).
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:log_path=%s"
               % (tmp_path / "asan"), UBSAN_OPTIONS="print_stacktrace=1:"
               "log_path=%s" % (tmp_path / "ubsan"))
    with open(err, "wb") as ef, open(tmp_path / (name + ".stdout"),
                                     "wb") as of:
        rc = subprocess.run([vane_bin(), "-c", str(conf)], env=env,
                            stdin=subprocess.DEVNULL, stdout=of, stderr=ef,
                            timeout=30).returncode
    return rc, err.read_text(errors="replace")


def test_daemon_ready_on_exit_pidfile_and_s_stop(tmp_path, backend,
                                                 subreaper):
    port = free_port()
    conf = daemon_conf(tmp_path, port, backend.address)
    pidfile = tmp_path / "vane.pid"
    rc, err = start(conf, tmp_path)
    assert rc == 0, err
    # Ready means ready: no waiting for the port.
    assert get_raw(port).status == 200
    pid = int(pidfile.read_text())
    subreaper(pid)
    assert alive(pid)
    assert os.getsid(pid) != os.getsid(0), "still in our session"
    assert not list(tmp_path.glob("vane.pid.*")), "temporary pidfile left"

    # A second start with the same pidfile: refused, about the pidfile,
    # before any port is bound.
    rc2, err2 = start(conf, tmp_path, "second")
    assert rc2 == 1, err2
    assert str(pidfile) in err2 and str(pid) in err2, err2
    assert "in use" not in err2, err2
    assert int(pidfile.read_text()) == pid and alive(pid)

    # Log rotation as logrotate.d/vane does it without systemd.
    os.rename(tmp_path / "error.log", tmp_path / "error.log.1")
    p = subprocess.run([vane_bin(), "-s", "reopen", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    deadline = time.monotonic() + 5
    while not (tmp_path / "error.log").exists() and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert "reopened" in (tmp_path / "error.log").read_text()

    p = subprocess.run([vane_bin(), "-s", "stop", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert not alive(pid)
    assert not pidfile.exists()
    log = (tmp_path / "error.log").read_text(errors="replace")
    assert "stopped" in log and not sanitizer_report(log), log[-2000:]
    old = (tmp_path / "error.log.1").read_text(errors="replace")
    assert "started" in old and not sanitizer_report(old), old[-2000:]
    reports = list(tmp_path.glob("asan*")) + list(tmp_path.glob("ubsan*"))
    assert not reports, [r.read_text() for r in reports]


def test_dash_f_stays_in_foreground(tmp_path, backend):
    """-f, as the systemd unit runs vane: daemon = true is overridden."""
    port = free_port()
    conf = daemon_conf(tmp_path, port, backend.address)
    pidfile = tmp_path / "vane.pid"
    proc = subprocess.Popen([vane_bin(), "-f", "-c", str(conf)],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline and \
                proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None
        assert int(pidfile.read_text()) == proc.pid
        assert get_raw(port).status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not pidfile.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_daemon_port_taken_fails_on_terminal(tmp_path, backend):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    conf = tmp_path / "busy.conf"
    conf.write_text(make_conf(port, [backend.address]) +
                    'daemon = true;\npidfile = "%s";\n'
                    % (tmp_path / "vane.pid"))
    try:
        # The detached process dies before it is ready: every copy of
        # the pipes closes, so capturing them is safe here.
        p = subprocess.run([vane_bin(), "-c", str(conf)],
                           capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    finally:
        s.close()
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert "127.0.0.1:%d" % port in err, err
    assert not (tmp_path / "vane.pid").exists()


def test_daemon_failure_points_at_error_log(tmp_path, backend):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    conf = daemon_conf(tmp_path, port, backend.address)
    try:
        rc, err = start(conf, tmp_path)
    finally:
        s.close()
    assert rc == 1, err
    log = tmp_path / "error.log"
    assert str(log) in err, err
    assert "127.0.0.1:%d" % port in log.read_text(), log.read_text()


def test_stale_pidfile_does_not_block(tmp_path, backend):
    """A pidfile left by a crash, naming a process that is not vane (or
    none), is no reason to refuse the start."""
    pidfile = tmp_path / "vane.pid"
    port = free_port()
    conf = tmp_path / "stale.conf"
    conf.write_text(make_conf(port, [backend.address]) +
                    'pidfile = "%s";\n' % pidfile)
    for stale in (str(os.getpid()), "999999999", "garbage"):
        pidfile.write_text(stale + "\n")
        proc = subprocess.Popen([vane_bin(), "-c", str(conf)],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                if pidfile.read_text().strip() == str(proc.pid):
                    break
                time.sleep(0.05)
            assert proc.poll() is None, proc.stderr.read()
            assert get_raw(port).status == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert not pidfile.exists()


def notify_socket(tmp_path, abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "vane-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        s.bind("\0" + name)
        return s, "@" + name
    path = str(tmp_path / "notify.sock")
    s.bind(path)
    return s, path


def recv_state(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(4096).decode()
    except socket.timeout:
        return None


@pytest.mark.parametrize("abstract", [False, True],
                         ids=["path", "abstract"])
def test_sd_notify_ready_and_stopping(tmp_path, backend, abstract):
    s, addr = notify_socket(tmp_path, abstract)
    port = free_port()
    conf = tmp_path / "notify.conf"
    conf.write_text(make_conf(port, [backend.address]))
    env = dict(os.environ, NOTIFY_SOCKET=addr)
    errf = tmp_path / "notify.stderr"
    with open(errf, "wb") as ef:
        proc = subprocess.Popen([vane_bin(), "-c", str(conf)], env=env,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=ef)
    try:
        msg = recv_state(s, 10)
        assert msg is not None and "READY=1" in msg.split("\n"), \
            (msg, errf.read_text())
        # READY=1 means serving, with no wait for the port.
        assert get_raw(port).status == 200
        # A reload is framed by RELOADING=1 and READY=1, whatever its
        # outcome (this one keeps the file as it is).
        proc.send_signal(signal.SIGHUP)
        msg = recv_state(s, 10)
        assert msg is not None and "RELOADING=1" in msg.split("\n"), msg
        msg = recv_state(s, 10)
        assert msg is not None and "READY=1" in msg.split("\n"), msg
        assert get_raw(port).status == 200
        proc.send_signal(signal.SIGTERM)
        msg = recv_state(s, 10)
        assert msg is not None and "STOPPING=1" in msg.split("\n"), msg
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        s.close()
    assert not sanitizer_report(errf.read_text())


def free_low_port():
    for port in range(1000, 1024):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


def test_privilege_drop_after_binding_and_reading_keys(tmp_path, backend):
    if os.geteuid() != 0:
        pytest.skip("needs root: binds a port below 1024 and switches to "
                    "nobody")
    port = free_low_port()
    if port is None:
        pytest.skip("no free port in 1000-1023 on 127.0.0.1")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-keyout", "k.key",
            "-out", "c.pem", "-days", "2", "-nodes", "-subj", "/CN=priv.test",
            "-addext", "subjectAltName=DNS:priv.test", cwd=tmp_path)
    key, cert = tmp_path / "k.key", tmp_path / "c.pem"
    os.chown(key, 0, 0)
    os.chmod(key, 0o600)
    conf = tmp_path / "priv.conf"
    # The first listener (a plain one on a free port) is make_conf's; the
    # low port speaks TLS.
    conf.write_text(
        make_conf(free_port(), [backend.address],
                  more_listen=[("127.0.0.1:%d" % port, "tls = true;")]) +
        'user = "nobody";\n'
        'tls = { certificates = ( { cert = "%s"; key = "%s"; } ); };\n'
        % (cert, key))
    errf = tmp_path / "priv.stderr"
    with open(errf, "wb") as ef:
        proc = subprocess.Popen([vane_bin(), "-c", str(conf)],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=ef)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 10
        data = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port),
                                              timeout=5) as c, \
                        ctx.wrap_socket(c, server_hostname="priv.test") as t:
                    t.sendall(b"GET /health HTTP/1.1\r\nHost: priv.test\r\n"
                              b"Connection: close\r\n\r\n")
                    while True:
                        d = t.recv(65536)
                        if not d:
                            break
                        data += d
                break
            except (ConnectionRefusedError, ssl.SSLError):
                time.sleep(0.1)
        assert data.startswith(b"HTTP/1.1 200"), (data[:200],
                                                 errf.read_text())
        ids = {}
        for line in Path("/proc/%d/status" % proc.pid).read_text() \
                .splitlines():
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                ids[k] = v.split()
        assert ids["Uid"] == ["65534"] * 4, ids
        assert ids["Gid"] == ["65534"] * 4, ids
        assert ids.get("Groups", []) in ([], ["65534"]), ids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, errf.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert not sanitizer_report(errf.read_text())


def subst(src, dst, **paths):
    text = src.read_text()
    for k, v in paths.items():
        text = text.replace("@%s@" % k, v)
    assert not re.search(r"@[a-z_]+@", text), text
    dst.write_text(text)
    return text


def test_systemd_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / "vane.service"
    # The unit runs $sbindir/vane: whatever the binary under test is
    # called, it is that there.
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "vane").symlink_to(Path(vane_bin()).resolve())
    bindir = str(sbin)
    text = subst(REPO / "etc" / "vane.service.in", unit, sbindir=bindir,
                 sysconfdir=str(tmp_path), localstatedir="/var",
                 runstatedir="/run")
    assert "Type=notify" in text
    # --man=no: the pages are not installed where this runs.
    cmd = ["systemd-analyze", "verify", "--man=no"]
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="warning")
    p = subprocess.run(cmd + [str(unit)], capture_output=True, timeout=60,
                       env=env)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0 and "vane.service" not in out, out
    # The check can fail: an unknown setting is reported.
    bad = tmp_path / "bad" / "vane.service"
    bad.parent.mkdir()
    bad.write_text(text.replace("Type=notify", "Type=notify\nKillSignl=TERM"))
    p = subprocess.run(cmd + [str(bad)], capture_output=True, timeout=60,
                       env=env)
    assert "KillSignl" in (p.stdout + p.stderr).decode()
