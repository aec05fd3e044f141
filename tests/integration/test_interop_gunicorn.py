"""vane in front of gunicorn (sync workers, Flask): a backend that closes
after every response and reads chunked uploads its own way."""
import hashlib
import json
import os
import subprocess
import threading
import time

import pytest
import requests

from conftest import HERE, PYTHON, free_port, stop_pid
from httpraw import chunked, request


def run_gunicorn(tmp_path_factory, workers, name):
    """gunicorn with `workers` sync workers serving flask_app: yields its
    address, stopped by PID at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp(name) / "gunicorn.log"
    with open(log, "wb") as lf:
        proc = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--chdir", str(HERE), "-w",
             str(workers), "-b", "127.0.0.1:%d" % port,
             "--graceful-timeout", "2", "flask_app:app"],
            stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
            env=dict(os.environ, BACKEND_NAME=name))
    url = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_pid(proc)
            pytest.fail("gunicorn did not start:\n" + log.read_text())
        time.sleep(0.1)
    yield "127.0.0.1:%d" % port
    stop_pid(proc, timeout=5)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    yield from run_gunicorn(tmp_path_factory, 2, "gunicorn")


def test_keepalive_client_over_closing_backend(vane_factory, gunicorn):
    """gunicorn's sync worker closes after each response; the client's
    keep-alive connection through vane must not notice."""
    v = vane_factory([gunicorn])
    with v.conn() as c:
        for i in range(40):
            c.send(request("GET", "/health"))
            r = c.read_response()
            assert r.status == 200 and r.complete, (i, r)


def test_post_and_chunked_upload(vane_factory, gunicorn):
    v = vane_factory([gunicorn])
    body = os.urandom(512 * 1024)
    sha = hashlib.sha256(body).hexdigest()
    with v.conn(timeout=20) as c:
        c.send(request("POST", "/echo", body=body))
        e = json.loads(c.read_response().body)
        assert e["body_length"] == len(body) and e["body_sha256"] == sha
    with v.conn(timeout=20) as c:
        c.send(request("POST", "/echo",
                       headers=[("Transfer-Encoding", "chunked")]) +
               chunked(body, 4096))
        r = c.read_response()
        assert r.status == 200, (r, r.body[:200])
        e = json.loads(r.body)
        assert e["body_length"] == len(body) and e["body_sha256"] == sha


def test_downloads(vane_factory, gunicorn):
    v = vane_factory([gunicorn])
    with v.conn(timeout=20) as c:
        c.send(request("GET", "/bytes/3000000"))
        r = c.read_response()
        assert r.status == 200 and len(r.body) == 3000000, r
        c.send(request("GET", "/stream/1000000"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"s" * 1000000, r


def test_forwarding_headers_seen_by_wsgi(vane_factory, gunicorn):
    v = vane_factory([gunicorn])
    with v.conn() as c:
        c.send(request("GET", "/echo", host="api.example"))
        e = json.loads(c.read_response().body)
    h = {k.lower(): val for k, val in e["headers"]}
    assert h["host"] == "api.example"
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert "vane" in h["via"]


@pytest.fixture(scope="module")
def gunicorn_one(tmp_path_factory):
    """A single sync worker: one request at a time."""
    yield from run_gunicorn(tmp_path_factory, 1, "gunicorn1")


@pytest.mark.parametrize("buffer", ["128K", "0"])
def test_slow_upload_and_the_sync_worker(vane_factory, gunicorn_one, buffer):
    """What backends.request_buffer is for: a client uploading 30 KB over
    2 s. Read whole by vane first (the default), it leaves the only sync
    worker free for a quick request meanwhile; streamed (0), the worker
    is stuck reading it and the quick request waits for the upload."""
    v = vane_factory([gunicorn_one],
                     backend_opts='request_buffer = "%s"; ' % buffer)
    done = {}

    def upload():
        with v.conn(timeout=20) as c:
            c.send(request("POST", "/echo", headers=[
                ("Content-Length", "30000")]))
            for _ in range(5):
                time.sleep(0.4)
                c.send(b"u" * 6000)
            r = c.read_response()
            done["upload"] = (r.status, json.loads(r.body)["body_length"])
    t = threading.Thread(target=upload)
    t.start()
    try:
        time.sleep(0.3)                 # the upload has begun
        t0 = time.monotonic()
        r = requests.get(v.url + "/health", timeout=10)
        took = time.monotonic() - t0
        assert r.status_code == 200
    finally:
        t.join(20)
    assert done["upload"] == (200, 30000), done
    if buffer == "0":
        assert took > 1.0, took
    else:
        assert took < 1.0, took
