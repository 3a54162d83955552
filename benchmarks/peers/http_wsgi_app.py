"""The WSGI hello of benchmarks/compare, the same app for every WSGI server:

    sluice serve http_wsgi_app:app --interface wsgi --workers 0 --bind 127.0.0.1:PORT
    gunicorn http_wsgi_app:app -k gthread --threads 8 -w 1 -b 127.0.0.1:PORT
    granian --interface wsgi --workers 1 --port PORT http_wsgi_app:app
    python http_bjoern.py PORT

13-byte body, Content-Type and Content-Length, as every hello peer.
``SLUICE_BENCH_ALLOCS=DIR`` in the environment counts Python's allocations
(peers/_allocs.py).
"""

import _allocs

_allocs.maybe_start()

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
