"""A plain WSGI app serving the files of one folder (issue 15's gunicorn peer):

    STATIC_ROOT=DIR gunicorn static_wsgi:app -k gthread --threads 8 -w 1 -b 127.0.0.1:PORT

GET /NAME answers DIR/NAME with Content-Type application/octet-stream and its
Content-Length, through the server's wsgi.file_wrapper when there is one
(gunicorn's sends it with sendfile), else read in 64 KiB blocks. 404 for
anything else.
"""

import os

ROOT = os.path.realpath(os.environ.get("STATIC_ROOT", "."))


def app(environ, start_response):
    path = os.path.realpath(os.path.join(ROOT, environ.get("PATH_INFO", "/").lstrip("/")))
    if not path.startswith(ROOT + os.sep) or not os.path.isfile(path):
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    f = open(path, "rb")  # noqa: SIM115 - closed by the server through the iterable's close()
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, 65536)
    return _blocks(f)


def _blocks(f):
    with f:
        while block := f.read(65536):
            yield block
