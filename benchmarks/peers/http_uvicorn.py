"""The ASGI hello for uvicorn:

    cd benchmarks/peers && uvicorn http_uvicorn:app --loop uvloop --http httptools --port PORT

13-byte body, Content-Type and Content-Length, as every hello peer.
``SLUICE_BENCH_ALLOCS=DIR`` in the environment counts Python's allocations
(peers/_allocs.py).
"""

import _allocs

_allocs.maybe_start()

BODY = b"Hello, World!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")],
}
END = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(START)
    await send(END)
