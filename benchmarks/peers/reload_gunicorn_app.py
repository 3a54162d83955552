"""The WSGI "hello" app for gunicorn in benchmarks/reload.py:

    cd benchmarks/peers && gunicorn reload_gunicorn_app:app -k gthread --threads 8 --keep-alive 5 ...

The same 5-byte body and Content-Type as benchmarks/peers/reload_sluice_http.py.
"""

BODY = b"hello"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
