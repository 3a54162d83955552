"""The application benchmarks/endure serves: hello, an upload that answers
its length, a route that hangs its worker (the heartbeat fault), and a pool
limit taken from the environment (the pool fault)."""

from __future__ import annotations

import os
import time

import sluice

if os.environ.get("ENDURE_POOL_LIMIT"):
    sluice.pool_set_limit(int(os.environ["ENDURE_POOL_LIMIT"]))

app = sluice.App()


@app.route("/")
def hello(req):
    return "hello, world\n"


@app.route("/upload", methods=["POST"])
def upload(req):
    return str(len(req.body))


@app.route("/hang")
def hang(req):
    while True:  # blocks this worker's loop: the master must notice
        time.sleep(1)
