"""Smaller protocol obligations of a proxy: Max-Forwards (RFC 9110 §7.6.2)
and an access log whose lines cannot be forged by a request."""
import re
import time

import pytest

from conftest import ok_response, respond_with
from httpraw import request


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS"])
def test_max_forwards_zero_not_forwarded(vane_factory, raw_backend, method):
    """RFC 9110 §7.6.2: with Max-Forwards: 0 a proxy MUST NOT forward a
    TRACE or OPTIONS request; it answers as the final recipient."""
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request(method, "/", headers=[("Max-Forwards", "0")]))
        r = c.read_response()
    assert r.status is not None and r.complete, r
    time.sleep(0.1)
    assert srv.requests == [], srv.requests


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS"])
def test_max_forwards_decremented(vane_factory, raw_backend, method):
    """RFC 9110 §7.6.2: a forwarded TRACE/OPTIONS carries Max-Forwards
    decremented by one."""
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address])
    with v.conn() as c:
        c.send(request(method, "/", headers=[("Max-Forwards", "5")]))
        r = c.read_response()
    assert r.status == 200, r
    mf = [ln for ln in srv.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
          if ln.lower().startswith(b"max-forwards:")]
    assert mf == [b"Max-Forwards: 4"], mf


def test_access_log_request_field_not_forgeable(vane_factory, raw_backend,
                                                tmp_path):
    """A target holding '"' (accepted by the parser) must not end the
    quoted request field early: each line keeps one parseable shape."""
    log = tmp_path / "access.log"
    srv = raw_backend(respond_with(ok_response()))
    v = vane_factory([srv.address], access_log=str(log))
    with v.conn() as c:
        c.send(b'GET /a"_200_1_upstream=forged HTTP/1.1\r\nHost: x\r\n\r\n')
        r = c.read_response()
    if r.status == 400:
        return          # rejecting the target is fine too
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and \
            (not log.exists() or not log.read_text()):
        time.sleep(0.05)
    line = log.read_text().splitlines()[0]
    m = re.fullmatch(r'\S+ - - \[[^\]]+\] "((?:[^"\\]|\\.)*)" (\d{3}) \d+ .*',
                     line)
    assert m, "unparseable access log line: %r" % line
    assert m.group(1).startswith("GET /a") and m.group(2) == "200", line
