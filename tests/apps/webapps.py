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


def wsgi_environ(environ, start_response):
    """The environ's server fields, as JSON."""
    import json

    keys = ("SERVER_NAME", "SERVER_PORT", "wsgi.multiprocess", "wsgi.multithread")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({k: environ[k] for k in keys}).encode()]


def wsgi_own_date(environ, start_response):
    """An application that sets its own Date and Server."""
    start_response("200 OK", [("Date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("server", "mine/1")])
    return [b"dated"]
