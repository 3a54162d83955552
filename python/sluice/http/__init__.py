"""HTTP/1.1 for Sluice: the native handler API, the server, WSGI.

A handler is a function of the request; ``App`` routes to them::

    app = sluice.App()

    @app.route("/users/{id}")
    def user(request, id):
        return {"id": id}
"""

from .app import App
from .request import Deferred, FileResponse, Headers, Request, Response
from .server import HTTPConnection, HTTPServer, http_builder

__all__ = [
    "App", "Deferred", "FileResponse", "Headers", "HTTPConnection", "HTTPServer", "Request", "Response", "http_builder",
]  # fmt: skip
