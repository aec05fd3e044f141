"""A raw HTTP/1.x client over one TCP connection, for tests that must see
exact framing: pipelining, chunked bodies, HTTP/1.0, cut bodies, 1xx.

Responses are parsed by their framing (RFC 9112 §6.3) with bounded waits; a
response that ends early is returned with complete=False instead of raising.
"""
import socket
import time


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []       # [(name, value)] as received
        self.body = b""
        self.framing = None     # "none" | "length" | "chunked" | "close"
        self.complete = False   # framing says the whole body arrived
        self.eof = False        # the peer closed while we read
        self.timed_out = False
        self.raw_head = b""

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    def __repr__(self):
        return "<Response %s %s %s framing=%s complete=%s len=%d>" % (
            self.version, self.status, self.reason, self.framing,
            self.complete, len(self.body))


class RawConn:
    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read more into buf. False on EOF or deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(262144)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _need(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                return False
        return True

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            if not self._fill(deadline):
                return None
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def read_response(self, method="GET", timeout=None, skip_1xx=True):
        """Read one response. For HEAD pass method="HEAD"."""
        deadline = time.monotonic() + (timeout or self.timeout)
        r = Response()
        try:
            while True:
                r = self._read_one(method, deadline)
                if not skip_1xx or r.status is None or \
                        not (100 <= r.status < 200) or r.status == 101:
                    return r
        except socket.timeout:
            r.timed_out = True
            r.eof = self.eof
            return r

    def _read_one(self, method, deadline):
        r = Response()
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                r.eof = True
                r.raw_head = self.buf
                return r
        i = self.buf.index(b"\r\n\r\n")
        head, self.buf = self.buf[:i + 4], self.buf[i + 4:]
        r.raw_head = head
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        r.version = parts[0]
        r.status = int(parts[1])
        r.reason = parts[2] if len(parts) > 2 else ""
        for ln in lines[1:]:
            k, _, v = ln.decode("latin-1").partition(":")
            r.headers.append((k, v.strip(" \t")))
        if 100 <= r.status < 200 or r.status in (204, 304) or method == "HEAD":
            r.framing = "none"
            r.complete = True
            return r
        te = ",".join(r.header_all("transfer-encoding")).lower()
        cl = r.header("content-length")
        if "chunked" in te:
            r.framing = "chunked"
            self._read_chunked(r, deadline)
        elif cl is not None:
            r.framing = "length"
            n = int(cl)
            if self._need(n, deadline):
                r.body, self.buf = self.buf[:n], self.buf[n:]
                r.complete = True
            else:
                r.body, self.buf = self.buf, b""
                r.eof = True
        else:
            r.framing = "close"
            while self._fill(deadline):
                pass
            r.body, self.buf = self.buf, b""
            r.eof = True
            r.complete = True
        return r

    def _read_chunked(self, r, deadline):
        body = []
        while True:
            line = self._line(deadline)
            if line is None:
                break
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    t = self._line(deadline)
                    if t is None:
                        r.body = b"".join(body)
                        r.eof = True
                        return
                    if t == b"":
                        break
                r.body = b"".join(body)
                r.complete = True
                return
            if not self._need(size + 2, deadline):
                body.append(self.buf)
                self.buf = b""
                break
            body.append(self.buf[:size])
            if self.buf[size:size + 2] != b"\r\n":
                raise ValueError("bad chunk terminator")
            self.buf = self.buf[size + 2:]
        r.body = b"".join(body)
        r.eof = True

    def closed_within(self, seconds):
        """True if the peer closes (EOF or RST) within `seconds`; any data
        that arrives meanwhile is kept in self.buf."""
        deadline = time.monotonic() + seconds
        try:
            while self._fill(deadline):
                pass
            return True
        except socket.timeout:
            return False
        except OSError:
            return True


def request(method, target, host="127.0.0.1", headers=(), body=b"",
            version="HTTP/1.1"):
    """Build request bytes. Adds Content-Length when body is non-empty and
    no framing header was given."""
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s %s" % (method, target, version)]
    names = [h[0].lower() for h in headers]
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    lines += ["%s: %s" % (k, v) for k, v in headers]
    if body and "content-length" not in names and \
            "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body, size):
    """Encode body with chunked transfer coding, chunks of `size` bytes."""
    out = []
    for i in range(0, len(body), size):
        c = body[i:i + size]
        out.append(b"%x\r\n" % len(c) + c + b"\r\n")
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def recv_all(sock):
    """Everything sock (a socket or an ssl socket) reads until the peer
    closes."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def get_raw(port, path="/health"):
    """One GET on a fresh connection to 127.0.0.1:port."""
    with RawConn(port) as c:
        c.send(request("GET", path))
        return c.read_response()
