"""Fixtures for vane's integration suite: real processes on loopback.

- free loopback ports;
- FastAPI backends (backend_app.py) under real uvicorn, one process each;
- raw-socket backends in threads, for what uvicorn cannot produce (cut
  bodies, bad status lines, silence, resets, exact request bytes);
- vane itself, started from a generated config, stopped by PID with SIGTERM,
  and failed on a crash or a sanitizer report in its stderr.

Run only with Debian's interpreter: /usr/bin/python3 -m pytest tests/integration
Every wait here is bounded; every process is stopped by its own PID.
"""
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTHON = "/usr/bin/python3"

sys.path.insert(0, str(HERE))
from httpraw import RawConn, request  # noqa: E402

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "LeakSanitizer", "ERROR: ThreadSanitizer",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def vane_bin():
    b = os.environ.get("VANE_BIN")
    if not b:
        return str(REPO / "src" / "vane")
    p = Path(b)
    return str(p if p.is_absolute() else REPO / p)


def openssl(*args, cwd):
    """Run the openssl CLI in cwd (certificates for the TLS tests)."""
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


_recent_ports = collections.deque(maxlen=256)


def free_port():
    """A loopback port nobody listens on, and none this process handed
    out lately: the kernel may offer a port again as soon as the probe
    closes, and a test that asks for two (a listener and an admin
    address) must not get the same one twice."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _recent_ports:
            _recent_ports.append(port)
            return port
    raise RuntimeError("no fresh loopback port in 100 tries")


def admin_stats(port, timeout=10.0):
    """GET /stats on the admin listener at port, parsed."""
    with RawConn(port, timeout=timeout) as c:
        c.send(request("GET", "/stats", host="admin"))
        r = c.read_response()
    assert r.status == 200, r
    return json.loads(r.body)


def wait_port(port, timeout, proc=None):
    """True once 127.0.0.1:port accepts; False on timeout or if proc died.

    The probe half-closes and waits (at most 2 s) for the server to close
    too: then the server has accepted it and let it go, so a test that
    counts connections from its first /stats on never sees the probe
    arrive late."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        except OSError:
            time.sleep(0.05)
            continue
        with s:
            try:
                s.shutdown(socket.SHUT_WR)
                s.settimeout(2)
                while s.recv(4096):
                    pass
            except OSError:
                pass
        return True
    return False


def wait_for(pred, timeout, step=0.05):
    """Poll pred() until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def stop_pid(proc, sig=signal.SIGTERM, timeout=5.0):
    """Signal one process we started and reap it. Returns (rc, killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=5), True


# --------------------------------------------------------------------------
# uvicorn backends

class UvicornBackend:
    """tls: (certfile, keyfile, cafile) to serve https; the tests reach
    it verified by cafile."""

    def __init__(self, name, tmpdir, port=None, tls=None):
        self.name = name
        self.port = port or free_port()
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http",
                                          self.port)
        self.address = "127.0.0.1:%d" % self.port
        self.verify = tls[2] if tls else True
        tls_args = ["--ssl-certfile", tls[0], "--ssl-keyfile", tls[1]] \
            if tls else []
        self.log = Path(tmpdir) / ("uvicorn-%s.log" % name)
        env = dict(os.environ, BACKEND_NAME=name)
        with open(self.log, "wb") as lf:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "uvicorn", "--app-dir", str(HERE),
                 "backend_app:app", "--host", "127.0.0.1",
                 "--port", str(self.port), "--no-access-log",
                 # request.client must be the TCP peer (vane), not what
                 # X-Forwarded-For says: /stats counts connections by it.
                 "--no-proxy-headers",
                 "--timeout-keep-alive", "30"] + tls_args,
                stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                env=env)

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                r = requests.get(self.url + "/health", timeout=1,
                                 verify=self.verify)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        stop_pid(self.proc)
        raise RuntimeError("uvicorn backend %s did not start:\n%s" %
                           (self.name, self.log.read_text(errors="replace")))

    def stats(self):
        return requests.get(self.url + "/stats", timeout=5,
                            verify=self.verify).json()

    def reset(self):
        requests.post(self.url + "/reset", timeout=5,
                      verify=self.verify).raise_for_status()

    def stop(self):
        stop_pid(self.proc, timeout=5.0)


def start_backends(names, tmpdir):
    bs = [UvicornBackend(n, tmpdir) for n in names]
    try:
        for b in bs:
            b.wait_ready()
    except Exception:
        for b in bs:
            b.stop()
        raise
    return bs


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    """Two uvicorn backends, b1 and b2, for the whole test module."""
    bs = start_backends(["b1", "b2"], tmp_path_factory.mktemp("uv"))
    yield bs
    for b in bs:
        b.stop()


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """One uvicorn backend for the whole test module."""
    bs = start_backends(["solo"], tmp_path_factory.mktemp("uv"))
    yield bs[0]
    bs[0].stop()


# --------------------------------------------------------------------------
# raw-socket backends

def read_request(sock, buf=b"", timeout=10.0):
    """Read one request (head + CL or chunked body) from sock.

    Returns (raw_request_bytes, leftover) or (None, buf) on EOF/timeout.
    Minimal framing on purpose: it only has to follow what vane sends.
    """
    sock.settimeout(timeout)
    try:
        while b"\r\n\r\n" not in buf:
            d = sock.recv(65536)
            if not d:
                return None, buf
            buf += d
        end = buf.index(b"\r\n\r\n") + 4
        head = buf[:end]
        lower = head.lower()
        cl = None
        chunked = False
        for line in lower.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                cl = int(line.split(b":", 1)[1].strip())
            elif line.startswith(b"transfer-encoding:") and b"chunked" in line:
                chunked = True
        if chunked:
            pos = end
            while True:
                while b"\r\n" not in buf[pos:]:
                    d = sock.recv(65536)
                    if not d:
                        return None, buf
                    buf += d
                le = buf.index(b"\r\n", pos)
                size = int(buf[pos:le].split(b";")[0], 16)  # ValueError: bad
                if size == 0:
                    # trailers until an empty line
                    while b"\r\n\r\n" not in buf[le:]:
                        d = sock.recv(65536)
                        if not d:
                            return None, buf
                        buf += d
                    pos = buf.index(b"\r\n\r\n", le) + 4
                    break
                need = le + 2 + size + 2
                while len(buf) < need:
                    d = sock.recv(65536)
                    if not d:
                        return None, buf
                    buf += d
                pos = need
            return buf[:pos], buf[pos:]
        n = cl or 0
        while len(buf) < end + n:
            d = sock.recv(65536)
            if not d:
                return None, buf
            buf += d
        return buf[:end + n], buf[end + n:]
    except (socket.timeout, OSError, ValueError):
        # Only complete, well-framed requests count as "seen".
        return None, buf


class RawServer:
    """A TCP server on 127.0.0.1 whose connections run `handler(conn, srv)`
    in threads. `srv.requests` collects what handlers record."""

    def __init__(self, handler, port=0):
        self.handler = handler
        self.requests = []
        self.accepts = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.conns = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepts += 1
                self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(c, self)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def record(self, raw):
        with self.lock:
            self.requests.append(raw)

    def stop(self):
        self.stopping.set()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(timeout=2)


def respond_with(response):
    """Handler: keep-alive loop that records each request and answers
    `response` (bytes, or a function raw_request -> bytes)."""
    def handler(c, srv):
        buf = b""
        while not srv.stopping.is_set():
            raw, buf = read_request(c, buf)
            if raw is None:
                return
            srv.record(raw)
            c.sendall(response(raw) if callable(response) else response)
    return handler


def ok_response(body=b"ok", extra=b""):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def h_cut_length(c, srv):
    """Content-Length: 100000, sends 30000 bytes, closes."""
    raw, _ = read_request(c)
    if raw is None:
        return
    srv.record(raw)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" +
              b"x" * 30000)
    time.sleep(0.1)


def h_cut_chunked(c, srv):
    """Two chunks, then close without the last chunk."""
    raw, _ = read_request(c)
    if raw is None:
        return
    srv.record(raw)
    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"1000\r\n" + b"y" * 4096 + b"\r\n"
              b"10\r\n" + b"z" * 16 + b"\r\n")
    time.sleep(0.1)


def h_close_delimited(c, srv):
    """A body delimited by the connection close (no CL, no chunked)."""
    raw, _ = read_request(c)
    if raw is None:
        return
    srv.record(raw)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
              b"Connection: close\r\n\r\n")
    for i in range(10):
        c.sendall(b"%04d" % i + b"c" * 996)
        time.sleep(0.01)
    c.shutdown(socket.SHUT_WR)


def h_bad_status(c, srv):
    raw, _ = read_request(c)
    if raw is None:
        return
    srv.record(raw)
    c.sendall(b"HTTP/1.1 2OO Okay\r\nContent-Length: 2\r\n\r\nok")
    time.sleep(0.2)


def h_never(c, srv):
    """Reads the request, then says nothing until the server stops."""
    raw, _ = read_request(c)
    if raw is not None:
        srv.record(raw)
    srv.stopping.wait(30)


def h_reset(c, srv):
    """Closes with RST right after accept."""
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()


@pytest.fixture
def raw_backend():
    """Factory: raw_backend(handler, port=0) -> RawServer, stopped at
    teardown. A port: listen there (a server that was down comes up)."""
    servers = []

    def make(handler, port=0):
        s = RawServer(handler, port)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


# --------------------------------------------------------------------------
# vane

DEFAULT_TIMEOUTS = {
    "client_header": "10s", "client_body": "60s", "client_idle": "60s",
    "client_send": "60s", "backend_connect": "2s",
    "backend_response": "30s", "shutdown": "3s",
}
DEFAULT_LIMITS = {
    "header_size": "16K", "header_count": 100, "body_size": "16M",
    "connections": 10000,
}


def _val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, int) else '"%s"' % v


def make_conf(port, servers, timeouts=None, limits=None, keepalive=64,
              level="info", extra="", workers=1, more_listen=(),
              access_log=None, backend_opts="", server_opts=None,
              access_format=None, access_escape=None):
    """server_opts: {address: {"weight": 3, "max_conns": 2}}, options of
    single servers in backends.servers (the others get none). more_listen:
    addresses, or (address, 'tls = true; ...') for listeners with
    options. access_format: log.access_format, quoted here."""
    t = dict(DEFAULT_TIMEOUTS, **(timeouts or {}))
    lim = dict(DEFAULT_LIMITS, **(limits or {}))
    server_opts = server_opts or {}
    unknown = set(server_opts) - set(servers)
    assert not unknown, "server_opts for no server: %r" % unknown
    srv = ", ".join(
        '{ address = "%s";%s }' % (s, "".join(
            " %s = %s;" % (k, _val(v))
            for k, v in server_opts.get(s, {}).items()))
        for s in servers)
    return (
        "workers = %d;\n" % workers +
        "listen = ( %s );\n" % ", ".join(
            '{ address = "%s"; }' % a if isinstance(a, str) else
            '{ address = "%s"; %s }' % a
            for a in ["127.0.0.1:%d" % port] + list(more_listen)) +
        "backends = { servers = ( %s ); keepalive = %d; %s};\n" % (
            srv, keepalive, backend_opts) +
        "timeouts = { %s };\n" % " ".join("%s = %s;" % (k, _val(v))
                                          for k, v in t.items()) +
        "limits = { %s };\n" % " ".join("%s = %s;" % (k, _val(v))
                                        for k, v in lim.items()) +
        'log = { level = "%s";%s%s%s };\n' % (
            level, ' access = "%s";' % access_log if access_log else "",
            ' access_format = "%s";' % access_format.replace(
                "\\", "\\\\").replace('"', '\\"')
            if access_format is not None else "",
            ' access_escape = "%s";' % access_escape
            if access_escape else "") +
        extra)


def sanitizer_report(text):
    return any(m in text for m in SANITIZER_MARKS)


class Vane:
    """One running vane. `port`, `url`, `stderr()`, `conn()`, `stop()`."""

    def __init__(self, tmpdir, servers, **kw):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.tmpdir = Path(tmpdir)
        n = len(list(self.tmpdir.glob("vane-*.conf")))
        self.conf = self.tmpdir / ("vane-%d.conf" % n)
        self.conf.write_text(make_conf(self.port, servers, **kw))
        self.errfile = self.tmpdir / ("vane-%d.stderr" % n)
        self.outfile = self.tmpdir / ("vane-%d.stdout" % n)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        with open(self.errfile, "wb") as ef, open(self.outfile, "wb") as of:
            self.proc = subprocess.Popen(
                [vane_bin(), "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                stdout=of, stderr=ef, env=env)
        self.rc = None
        self.killed = False
        if not wait_port(self.port, 10.0, self.proc):
            rc, _ = stop_pid(self.proc, signal.SIGKILL)
            raise RuntimeError(
                "vane did not accept on %d (exit %s); config:\n%s\nstderr:\n%s"
                % (self.port, rc, self.conf.read_text(), self.stderr()))

    def stderr(self):
        try:
            return self.errfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def conn(self, timeout=10.0):
        return RawConn(self.port, timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=8.0):
        """Stop by PID; returns the exit status (negative: killed by signal)."""
        if self.rc is None:
            self.rc, self.killed = stop_pid(self.proc, sig, timeout)
        return self.rc

    def problems(self):
        """What teardown must fail the test for (empty list: none)."""
        out = []
        err = self.stderr()
        if sanitizer_report(err):
            out.append("sanitizer report in vane's stderr")
        if self.killed:
            out.append("vane did not exit within the bound after SIGTERM "
                       "(killed)")
        elif self.rc is not None and self.rc < 0 and \
                self.rc not in (-signal.SIGTERM, -signal.SIGKILL):
            out.append("vane died of signal %d" % -self.rc)
        elif self.rc is not None and self.rc < 0:
            out.append("vane was killed by signal %d instead of exiting"
                       % -self.rc)
        elif self.rc not in (None, 0):
            out.append("vane exited with status %d after SIGTERM" % self.rc)
        if out:
            out.append("stderr tail:\n" + err[-4000:])
        return out


@pytest.fixture
def vane_factory(tmp_path):
    """Factory: vane_factory([addresses], timeouts={}, limits={}, ...) ->
    a running Vane. Each is stopped with SIGTERM at teardown; the test fails
    on a crash, a hang at shutdown or a sanitizer report."""
    started = []

    def make(servers, **kw):
        v = Vane(tmp_path, servers, **kw)
        started.append(v)
        return v
    yield make
    problems = []
    for v in started:
        v.stop()
        problems += v.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def vane(vane_factory, backends):
    """vane in front of the module's two uvicorn backends."""
    return vane_factory([b.address for b in backends])
