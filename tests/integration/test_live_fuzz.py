"""Bounded, seeded mutation runs against a live vane: mangled requests from
clients and mangled responses from a backend, sent in random pieces with
random early closes. vane must stay up, keep serving, and (under the
sanitizer build) report nothing. Each run is capped in count and time."""
import random
import socket
import time

from conftest import free_port, read_request
from httpraw import chunked, request

SEED = 20261126
ITERATIONS = 400
TIME_CAP = 15.0

BASES = [
    request("GET", "/a?b=c"),
    request("HEAD", "/h"),
    request("POST", "/p", body=b"0123456789" * 20),
    request("POST", "/c", headers=[("Transfer-Encoding", "chunked")]) +
    chunked(b"abcdefghij" * 30, 37),
    request("GET", "/1") + request("GET", "/2") + request("POST", "/3",
                                                           body=b"xyz"),
    request("GET", "/e", headers=[("Expect", "100-continue"),
                                  ("Content-Length", "4")]) + b"body",
    request("GET", "/v", version="HTTP/1.0"),
    b"GET http://h.example/abs HTTP/1.1\r\nHost: h.example\r\n\r\n",
    # A protocol switch, then bytes for the tunnel (the backend echoes).
    request("GET", "/ws", headers=[("Connection", "upgrade"),
                                   ("Upgrade", "websocket")]) +
    b"\x81\x05hello" * 3,
]

TOKENS = [b"\r\n", b"\n", b"\r", b" ", b":", b"\x00", b"\t", b"\r\n\r\n",
          b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n",
          b"0\r\n\r\n", b"ffffffff\r\n", b"HTTP/1.1", b"Host: y\r\n",
          b"Connection: close\r\n", b"Expect: 100-continue\r\n", b"\xff",
          b"Connection: upgrade\r\n", b"Upgrade: websocket\r\n"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and data:
            del data[pos:pos + rng.randint(1, 8)]
        elif op == 3:
            data = data[:pos]
        else:
            j = rng.randrange(len(data) + 1)
            data[pos:pos] = data[min(pos, j):max(pos, j)][:64]
    return bytes(data)


def send_in_pieces(rng, s, data):
    i = 0
    while i < len(data):
        n = rng.choice([1, 2, 7, 64, 1000, len(data)])
        s.sendall(data[i:i + n])
        i += n
        if rng.random() < 0.1:
            time.sleep(0.002)


def drain(s, seconds):
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass


def healthy(v):
    with v.conn(timeout=5) as c:
        c.send(request("GET", "/ok"))
        r = c.read_response(timeout=5)
    return r.status == 200


def good_backend(c, srv):
    """200 "ok" to each request; a request vane passed an Upgrade on gets
    a 101, then its bytes echoed until either side closes (and is
    recorded: the fuzz run checks that tunnels were made)."""
    buf = b""
    while True:
        raw, buf = read_request(c, buf, timeout=3)
        if raw is None:
            return
        if b"\r\nupgrade:" not in raw.lower():
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            continue
        srv.record(raw)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                  b"Upgrade: websocket\r\nConnection: upgrade\r\n\r\n" +
                  buf)
        c.settimeout(3)
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)


def test_fuzz_requests(vane_factory, raw_backend):
    srv = raw_backend(good_backend)
    v = vane_factory([srv.address],
                     timeouts={"client_header": "1s", "client_body": "1s",
                               "client_idle": "1s"},
                     limits={"header_size": "2K", "body_size": "4K"})
    rng = random.Random(SEED)
    t0 = time.monotonic()
    n = 0
    while n < ITERATIONS and time.monotonic() - t0 < TIME_CAP:
        n += 1
        data = mutate(rng, rng.choice(BASES))
        try:
            s = socket.create_connection(("127.0.0.1", v.port), timeout=2)
            send_in_pieces(rng, s, data)
            r = rng.random()
            if r < 0.3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
            elif r < 0.5:
                s.shutdown(socket.SHUT_WR)
                drain(s, 0.2)
            else:
                drain(s, 0.02)
            s.close()
        except OSError:
            pass
        assert v.proc.poll() is None, "vane exited during request %d" % n
    assert n >= 100, "only %d iterations in the time cap" % n
    assert len(srv.requests) >= 5, "only %d tunnels" % len(srv.requests)
    assert healthy(v)


PP_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP_BASES = [
    b"PROXY TCP4 192.0.2.1 127.0.0.1 1000 80\r\n",
    b"PROXY TCP6 2001:db8::1 ::1 1000 80\r\n",
    b"PROXY UNKNOWN\r\n",
    PP_SIG + b"\x21\x11\x00\x0f\xc0\x00\x02\x01\x7f\x00\x00\x01"
    b"\x03\xe8\x00\x50\x04\x00\x00",
    PP_SIG + b"\x20\x00\x00\x00",
]


def test_fuzz_proxy_protocol(vane_factory, raw_backend):
    """Mangled PROXY headers (v1 and v2) before requests, on a listener
    that takes them: closed or served, never a crash or a hang; the
    unmangled ones get through, for the client they name."""
    srv = raw_backend(good_backend)
    pp = free_port()
    v = vane_factory([srv.address], timeouts={"client_header": "1s"},
                     more_listen=[("127.0.0.1:%d" % pp,
                                   "proxy_protocol = true;")])
    rng = random.Random(SEED + 2)
    t0 = time.monotonic()
    n = served = 0
    while n < ITERATIONS and time.monotonic() - t0 < 8.0:
        n += 1
        head = rng.choice(PP_BASES)
        if rng.random() < 0.8:
            head = mutate(rng, head)
        data = head + request("GET", "/pp%d" % n)
        try:
            s = socket.create_connection(("127.0.0.1", pp), timeout=2)
            send_in_pieces(rng, s, data)
            if rng.random() < 0.3:
                s.shutdown(socket.SHUT_WR)
            s.settimeout(0.3)
            try:
                served += s.recv(12).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
            s.close()
        except OSError:
            pass
        assert v.proc.poll() is None, "vane exited during header %d" % n
    assert n >= 50, "only %d iterations in the time cap" % n
    assert served >= 10, "only %d of %d served" % (served, n)
    assert healthy(v)


RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 103 Early\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\n\r\nclose-delimited",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
]


def test_fuzz_responses(vane_factory, raw_backend):
    rng = random.Random(SEED + 1)
    plan = [mutate(rng, rng.choice(RESPONSES)) for _ in range(ITERATIONS)]
    counter = [0]

    def bad_backend(c, srv):
        buf = b""
        while True:
            raw, buf = read_request(c, buf, timeout=3)
            if raw is None:
                return
            with srv.lock:
                i = counter[0]
                counter[0] += 1
            resp = plan[i % len(plan)]
            if i % 5 == 0:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                continue
            try:
                c.sendall(resp)
            except OSError:
                return
            if i % 3 == 0:
                return          # close after it
    srv = raw_backend(bad_backend)
    v = vane_factory([srv.address], timeouts={"backend_response": "300ms"})
    t0 = time.monotonic()
    n = 0
    while n < 150 and time.monotonic() - t0 < 8.0:
        n += 1
        try:
            with v.conn(timeout=3) as c:
                for _ in range(rng.randint(1, 3)):
                    m = rng.choice(["GET", "HEAD"])
                    c.send(request(m, "/f%d" % n))
                    r = c.read_response(method=m, timeout=0.6)
                    if r.status is None or c.eof:
                        break
        except (OSError, ValueError):
            pass
        assert v.proc.poll() is None, "vane exited during exchange %d" % n
    assert n >= 30, "only %d exchanges in the time cap" % n
    # a normal backend after all that: vane still serves
    counter[0] = 0
    plan[:] = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    for _ in range(3):
        with v.conn(timeout=5) as c:
            c.send(request("GET", "/ok"))
            r = c.read_response(timeout=3)
            if r.status == 200:
                break
    assert r.status == 200, r
