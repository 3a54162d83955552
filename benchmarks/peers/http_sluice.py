"""Sluice's native hello for benchmarks/compare: a sluice.App with one route.

    cd benchmarks/peers && sluice serve http_sluice:app --workers 0 --bind 127.0.0.1:PORT

The handler returns a str: Sluice sends it as UTF-8 with
``Content-Type: text/plain; charset=utf-8`` and a Content-Length, rendered in
C. Every peer of the hello case sends the same 13-byte body and that header.
``SLUICE_BENCH_ALLOCS=DIR`` in the environment counts Python's allocations
(peers/_allocs.py).
"""

import _allocs

import sluice

_allocs.maybe_start()

app = sluice.App()


@app.route("/")
def hello(request):
    return "Hello, World!"
