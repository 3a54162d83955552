"""HTTP applications of the tests' own, for `sluice serve` in subprocesses."""

from __future__ import annotations

import os

import sluice

app = sluice.App()


@app.route("/")
def root(req):
    return "native hello\n"


@app.route("/pid")
def pid(req):
    return str(os.getpid())


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi hello ", environ["PATH_INFO"].encode()]
