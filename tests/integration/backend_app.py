"""The FastAPI test backend that the integration suite runs under uvicorn.

Each instance knows its name (BACKEND_NAME) and counts what it serves, so the
tests can assert on what actually reached a backend rather than on what vane
says about itself.
"""
import asyncio
import email.utils
import hashlib
import importlib
import itertools
import json
import os
import time

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.middleware.gzip import GZipMiddleware

NAME = os.environ.get("BACKEND_NAME", "backend")
app = FastAPI()

# Counters. /stats and /reset are not counted: the tests read them directly.
# inflight/max_inflight: requests being handled at once (for max_conns).
# health: the status /health answers with, set by POST /control/health/N.
_stats = {"requests": 0, "clients": set(), "inflight": 0, "max_inflight": 0,
          "health": 200, "health_checks": 0, "health_hosts": []}
# /cache/{name}: calls per name and method, {name: {"GET": n, ...}}.
_cache_calls = {}
# /hc is the path health checks are configured with in the tests: not
# counted in requests, so checks never skew a balance count.
_UNCOUNTED = ("/stats", "/reset", "/hc")

# A TCP connection is known by its peer (host, port), but a port can come
# back for a later connection (after a close on our side, Linux may reuse it
# at once). So each accepted connection gets a serial number, and a request
# counts toward the serial of the connection its peer address has now.
_serials = itertools.count(1)
_conn_serial = {}


def _count_connections(cls):
    orig = cls.connection_made

    def connection_made(self, transport):
        orig(self, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            _conn_serial[(peer[0], peer[1])] = next(_serials)
    cls.connection_made = connection_made


for _mod, _cls in (("uvicorn.protocols.http.h11_impl", "H11Protocol"),
                   ("uvicorn.protocols.http.httptools_impl",
                    "HttpToolsProtocol")):
    try:
        _count_connections(getattr(importlib.import_module(_mod), _cls))
    except (ImportError, AttributeError):
        pass


@app.middleware("http")
async def count(request: Request, call_next):
    if request.url.path not in _UNCOUNTED:
        _stats["requests"] += 1
        if request.client is not None:
            peer = (request.client.host, request.client.port)
            _stats["clients"].add(_conn_serial.get(peer, peer))
    _stats["inflight"] += 1
    _stats["max_inflight"] = max(_stats["max_inflight"], _stats["inflight"])
    try:
        response = await call_next(request)
    finally:
        _stats["inflight"] -= 1
    response.headers["x-backend"] = NAME
    return response


def pattern(n: int) -> bytes:
    """n bytes of deterministic content (the same for /bytes and /stream)."""
    block = bytes(range(256)) * 256  # 64 KiB
    reps, rest = divmod(n, len(block))
    return block * reps + block[:rest]


@app.get("/health")
async def health():
    return {"status": "ok", "backend": NAME}


@app.get("/hc")
async def health_check(request: Request):
    """Counted in health_checks, with the Host each check sent; answers
    with the status set by POST /control/health/N (200 at first)."""
    _stats["health_checks"] += 1
    _stats["health_hosts"] = (_stats["health_hosts"] +
                              [request.headers.get("host", "")])[-10:]
    code = _stats["health"]
    return JSONResponse({"status": "ok" if code < 400 else "failing",
                         "backend": NAME}, status_code=code)


@app.post("/control/health/{code}")
async def set_health(code: int):
    _stats["health"] = code
    return {"backend": NAME, "health": code}


@app.api_route("/echo", methods=["GET", "HEAD", "POST", "PUT", "DELETE",
                                 "PATCH", "OPTIONS"])
@app.api_route("/echo/{rest:path}", methods=["GET", "HEAD", "POST", "PUT",
                                             "DELETE", "PATCH", "OPTIONS"])
async def echo(request: Request, rest: str = ""):
    body = await request.body()
    return {
        "backend": NAME,
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                    for k, v in request.headers.raw],
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "client": list(request.client) if request.client else None,
    }


# /gate/{name}: per name, {"calls": n, "sent": chunks the first call sent,
# "done": the first call sent its last chunk}; its release events.
_gates = {}
_gate_events = {}


def gate_chunk(name: str, n: int, i: int, size: int) -> bytes:
    """Chunk i of call n of /gate/{name}: distinct per name, call and
    chunk, so a test can tell whose bytes it got (tests compute it too)."""
    tag = ("%s:%d:%d:" % (name, n, i)).encode()
    return (tag + pattern(size))[:size]


@app.get("/gate/{name}")
async def gate(request: Request, name: str):
    """A cacheable body streamed in `chunks` chunks of `size` bytes,
    `delay_ms` apart, chunked unless cl=1 (then with Content-Length).

    hold=1: the first call for `name` sends its first chunk, then waits
    (at most 30 s) for POST /gate/{name}/release before the rest, so a
    test knows the backend is mid-body while it holds. die=1: after the
    release that first call fails instead (uvicorn closes the connection
    short of the framing). Later calls neither hold nor die. cc= sets
    Cache-Control (default max-age=60), etag= the ETag. Counted in /stats
    under gates.
    """
    q = request.query_params
    g = _gates.setdefault(name, {"calls": 0, "sent": 0, "done": False})
    g["calls"] += 1
    n = g["calls"]
    chunks = int(q.get("chunks", 4))
    size = int(q.get("size", 1000))
    delay = int(q.get("delay_ms", 0)) / 1000.0
    hold = q.get("hold") == "1" and n == 1
    die = q.get("die") == "1" and n == 1
    ev = _gate_events.setdefault(name, asyncio.Event())
    headers = {"Cache-Control": q.get("cc", "max-age=60")}
    if "etag" in q:
        headers["ETag"] = q["etag"]
    if q.get("cl") == "1":
        headers["Content-Length"] = str(chunks * size)

    async def gen():
        for i in range(chunks):
            if i == 1 and hold:
                await asyncio.wait_for(ev.wait(), 30)
                if die:
                    raise RuntimeError("gate %s: dying mid-body" % name)
            yield gate_chunk(name, n, i, size)
            if n == 1:
                g["sent"] = i + 1
            await asyncio.sleep(delay)
        if n == 1:
            g["done"] = True

    return StreamingResponse(gen(), headers=headers,
                             media_type="application/octet-stream")


@app.post("/gate/{name}/release")
async def gate_release(name: str):
    _gate_events.setdefault(name, asyncio.Event()).set()
    return {"backend": NAME, "released": name}


@app.get("/stats")
async def stats():
    return {"backend": NAME, "requests": _stats["requests"],
            "gates": _gates,
            "connections": len(_stats["clients"]),
            "inflight": _stats["inflight"] - 1,
            "max_inflight": _stats["max_inflight"],
            "health_checks": _stats["health_checks"],
            "health_hosts": _stats["health_hosts"],
            "websockets": _stats.get("websockets", 0),
            "cache_calls": _cache_calls}


@app.websocket("/ws")
async def ws_echo(ws: WebSocket):
    """WebSocket echo. Text "headers": the handshake's request fields as
    JSON; "bulk:N": N bytes back in one message; "close": the server
    closes (1000); anything else comes back as "NAME:text". Binary
    messages come back as they are."""
    await ws.accept()
    _stats["websockets"] = _stats.get("websockets", 0) + 1
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            text = msg.get("text")
            if text is None:
                await ws.send_bytes(msg.get("bytes") or b"")
            elif text == "headers":
                await ws.send_text(json.dumps(
                    [[k.decode("latin-1"), v.decode("latin-1")]
                     for k, v in ws.scope["headers"]]))
            elif text.startswith("bulk:"):
                await ws.send_bytes(pattern(int(text[5:])))
            elif text == "close":
                await ws.close(code=1000)
                return
            else:
                await ws.send_text(NAME + ":" + text)
    except WebSocketDisconnect:
        return


@app.api_route("/reset", methods=["GET", "POST"])
async def reset():
    _stats["requests"] = 0
    _stats["clients"] = set()
    _stats["max_inflight"] = 0
    _stats["health_checks"] = 0
    _stats["health_hosts"] = []
    _stats["health"] = 200
    _cache_calls.clear()
    return {"backend": NAME, "reset": True}


@app.api_route("/bytes/{n}", methods=["GET", "HEAD"])
async def nbytes(n: int):
    return Response(content=pattern(n), media_type="application/octet-stream")


@app.get("/stream/{n}")
async def stream(n: int):
    data = pattern(n)
    step = max(1, min(65536, (n + 7) // 8))

    async def gen():
        for i in range(0, n, step):
            yield data[i:i + step]
            await asyncio.sleep(0)

    return StreamingResponse(gen(), media_type="application/octet-stream")


@app.get("/slow/{ms}")
async def slow(ms: int):
    await asyncio.sleep(ms / 1000.0)
    return {"backend": NAME, "slept_ms": ms}


@app.api_route("/status/{code}", methods=["GET", "HEAD", "POST"])
async def status(code: int):
    if code in (204, 304) or code < 200:
        return Response(status_code=code)
    return JSONResponse({"backend": NAME, "status": code}, status_code=code)


# Response fields /cache/{name} sets from its query parameters.
_CACHE_FIELDS = (("cc", "Cache-Control"), ("expires", "Expires"),
                 ("lm", "Last-Modified"), ("etag", "ETag"), ("vary", "Vary"),
                 ("cookie", "Set-Cookie"), ("vcc", "Vane-Cache-Control"),
                 ("cdncc", "CDN-Cache-Control"), ("tag", "Cache-Tag"),
                 ("loc", "Location"), ("cloc", "Content-Location"))


@app.api_route("/cache/{name}", methods=["GET", "HEAD", "POST", "PUT",
                                         "DELETE", "PATCH"])
async def cache_endpoint(request: Request, name: str):
    """A response whose caching fields the test chooses, for the cache tests.

    Query parameters: cc, expires, lm, etag, vary, cookie, vcc, cdncc, tag,
    loc, cloc (the raw values of Cache-Control, Expires, Last-Modified,
    ETag, Vary, Set-Cookie, Vane-Cache-Control, CDN-Cache-Control,
    Cache-Tag, Location, Content-Location);
    exp_in=N (Expires N seconds from now, may be negative); status=N;
    size=N (pad the JSON body to N bytes); stream=1 (chunked, no
    Content-Length); cond=1 (answer 304 to a matching If-None-Match, else
    conditionals are ignored; cond=bare: the same 304 without any of the
    fields above, no ETag, as some origins send it); delay_ms=N (answer
    after N ms, counted on arrival), delay_from=K (only calls from the K-th
    on are delayed, so a test can store quickly and have a later fetch, e.g.
    a background refresh, still sleeping); calln=1 (X-Call-N: the call
    number, on every answer, 304s included). The request field
    X-Want-Status overrides
    status (so an unsafe request can fail on the GET's URL).

    The body is JSON with the per-name call number `n` (every method
    counts), so two answers of the backend never have the same bytes; the
    calls are counted in /stats under cache_calls[name][method].
    """
    calls = _cache_calls.setdefault(name, {})
    calls[request.method] = calls.get(request.method, 0) + 1
    n = sum(calls.values())
    q = request.query_params
    if "delay_ms" in q and n >= int(q.get("delay_from", 1)):
        await asyncio.sleep(int(q["delay_ms"]) / 1000.0)
    headers = {}
    if q.get("calln") == "1":
        headers["X-Call-N"] = str(n)
    for param, field in _CACHE_FIELDS:
        if param in q:
            headers[field] = q[param]
    if "exp_in" in q:
        headers["Expires"] = email.utils.formatdate(
            time.time() + int(q["exp_in"]), usegmt=True)
    code = int(request.headers.get("x-want-status") or q.get("status", 200))
    if q.get("cond") in ("1", "bare") and "etag" in q:
        inm = request.headers.get("if-none-match")
        if inm is not None and q["etag"] in [t.strip()
                                             for t in inm.split(",")]:
            return Response(status_code=304, headers=(
                headers if q["cond"] == "1" else {}))
    doc = {"backend": NAME, "name": name, "n": n, "method": request.method,
           "lang": request.headers.get("accept-language"),
           "time": time.time()}
    body = json.dumps(doc).encode()
    size = int(q.get("size", 0))
    if size > len(body):
        doc["pad"] = ""
        pad = size - len(json.dumps(doc).encode())
        doc["pad"] = "x" * max(0, pad)
        body = json.dumps(doc).encode()
    if q.get("stream") == "1":
        step = max(1, len(body) // 8)

        async def gen():
            for i in range(0, len(body), step):
                yield body[i:i + step]
                await asyncio.sleep(0)
        return StreamingResponse(gen(), status_code=code, headers=headers,
                                 media_type="application/json")
    return Response(content=body, status_code=code, headers=headers,
                    media_type="application/json")


# /gz/{name}: a sub-application behind Starlette's own GZipMiddleware, as
# apps use it: gzip when the request's Accept-Encoding names it, and
# "Vary: Accept-Encoding" on every answer. The body (over its 16-byte
# threshold) tells the call number and the Accept-Encoding received.
gz = FastAPI()
gz.add_middleware(GZipMiddleware, minimum_size=16)
_gz_calls = {}


@gz.get("/{name}")
async def gz_endpoint(request: Request, name: str):
    _gz_calls[name] = _gz_calls.get(name, 0) + 1
    return JSONResponse({"name": name, "n": _gz_calls[name],
                         "ae": request.headers.get("accept-encoding")},
                        headers={"Cache-Control": "max-age=60"})


app.mount("/gz", gz)
