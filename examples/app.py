"""A small example API to put behind vane (see demo.sh).

Run one instance per port:
    /usr/bin/python3 -m uvicorn --app-dir examples app:app --port 8001
"""
import os
import time

from fastapi import (FastAPI, HTTPException, Response, WebSocket,
                     WebSocketDisconnect)

app = FastAPI(title="vane example API")
INSTANCE = os.environ.get("INSTANCE", str(os.getpid()))

ITEMS = {
    1: {"id": 1, "name": "hammer", "price": 12.5},
    2: {"id": 2, "name": "screwdriver", "price": 4.0},
    3: {"id": 3, "name": "wrench", "price": 9.75},
}


@app.middleware("http")
async def tag_instance(request, call_next):
    response = await call_next(request)
    # Shows which backend answered: watch it alternate through vane.
    response.headers["X-Instance"] = INSTANCE
    return response


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.get("/items")
async def list_items():
    return list(ITEMS.values())


@app.get("/items/{item_id}")
async def get_item(item_id: int):
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="no such item")
    return ITEMS[item_id]


@app.get("/time")
async def cached_time(response: Response):
    # Cacheable for 10 s (a caching proxy may serve it without asking us).
    response.headers["Cache-Control"] = "max-age=10"
    return {"time": time.time(), "instance": INSTANCE}


@app.get("/now")
async def uncached_time(response: Response):
    # Never stored by a cache.
    response.headers["Cache-Control"] = "no-store"
    return {"time": time.time(), "instance": INSTANCE}


@app.websocket("/echo")
async def echo(ws: WebSocket):
    # A WebSocket through vane: each text message comes back, tagged.
    await ws.accept()
    try:
        while True:
            text = await ws.receive_text()
            await ws.send_text("%s: %s" % (INSTANCE, text))
    except WebSocketDisconnect:
        pass
