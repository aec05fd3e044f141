"""vane in front of gunicorn (sync workers, Flask): a backend that closes
after every response and reads chunked uploads its own way."""
import hashlib
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import HERE, PYTHON, free_port, stop_pid
from httpraw import chunked, request


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with open(log, "wb") as lf:
        proc = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--chdir", str(HERE), "-w", "2",
             "-b", "127.0.0.1:%d" % port, "--graceful-timeout", "2",
             "flask_app:app"],
            stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
            env=dict(os.environ, BACKEND_NAME="gunicorn"))
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
