"""A blocking WebSocket client for the tests, on wsproto (the RFC 6455
implementation uvicorn itself uses, a dependency of Debian's
python3-uvicorn): the handshake, messages and the closing handshake are
checked by a real implementation, not by the test's own framing code."""
import socket

from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection,
                            RejectConnection, RejectData, Request,
                            TextMessage)


class Rejected(Exception):
    def __init__(self, status, headers, body):
        super().__init__("handshake rejected: %d" % status)
        self.status = status
        self.headers = headers
        self.body = body


class WsClient:
    """ws://127.0.0.1:port/target, or wss:// with an ssl context."""

    def __init__(self, port, target="/ws", host="127.0.0.1", ctx=None,
                 timeout=10.0, extra_headers=()):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="a.test")
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending = []
        self.closed = None          # the peer's CloseConnection
        self.eof = False
        self.accept = None
        self.sock.sendall(self.ws.send(Request(
            host=host, target=target,
            extra_headers=[(k.encode(), v.encode())
                           for k, v in extra_headers])))
        body = b""
        while True:
            ev = self._next()
            if isinstance(ev, AcceptConnection):
                self.accept = ev
                return
            if isinstance(ev, RejectConnection):
                status, headers = ev.status_code, ev.headers
                while ev.has_body:
                    ev = self._next()
                    if isinstance(ev, RejectData):
                        body += ev.data
                        if ev.body_finished:
                            break
                self.sock.close()
                raise Rejected(status, headers, body)

    def _next(self):
        """The next wsproto event; reads the socket as needed."""
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                self.eof = True
                self.ws.receive_data(None)
            else:
                self.ws.receive_data(data)
            self.pending.extend(self.ws.events())
            if self.eof and not self.pending:
                raise EOFError("connection closed")
        return self.pending.pop(0)

    def send_text(self, s):
        self.sock.sendall(self.ws.send(TextMessage(data=s)))

    def send_bytes(self, b):
        self.sock.sendall(self.ws.send(BytesMessage(data=b)))

    def recv(self):
        """One whole message (str or bytes); a close from the peer is
        answered and raises EOFError."""
        parts = []
        while True:
            ev = self._next()
            if isinstance(ev, (TextMessage, BytesMessage)):
                parts.append(ev.data)
                if ev.message_finished:
                    return ("" if isinstance(ev, TextMessage)
                            else b"").join(parts)
            elif isinstance(ev, CloseConnection):
                self.closed = ev
                self.sock.sendall(self.ws.send(ev.response()))
                raise EOFError("closed by the peer: %d" % ev.code)

    def close(self, code=1000):
        """The closing handshake from our side, then the TCP close.
        Returns the peer's close code."""
        self.sock.sendall(self.ws.send(CloseConnection(code=code)))
        while self.closed is None:
            ev = self._next()
            if isinstance(ev, CloseConnection):
                self.closed = ev
        self.sock.close()
        return self.closed.code

    def read_eof(self, timeout):
        """True once the server closed the TCP connection (within
        timeout); data before it is discarded."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except (socket.timeout, ConnectionError):
            return False

    def abort(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        try:
            self.sock.close()
        except OSError:
            pass
