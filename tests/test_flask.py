"""A real Flask app on `sluice serve` (WSGI detected): routes, a form POST,
a JSON body and a streamed response, end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="flask is a test dependency: pip install '.[test]'")

from httpclient import Conn, get  # noqa: E402
from servers import ServerProcess  # noqa: E402

TESTS = Path(__file__).resolve().parent


def test_a_flask_app_end_to_end():
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    with ServerProcess(["serve", "apps.flaskapp:app"], "--workers", "1", env=env) as s, Conn(s.port) as c:
        c.send(get("/"))
        assert c.reply().body == b"flask on sluice"
        c.send(get("/users/42"))
        r = c.reply()
        assert r.headers["content-type"] == "application/json"
        assert json.loads(r.body) == {"id": 42, "name": "user42"}
        form = b"name=Ada&age=36"
        c.send(
            b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(form), form)
        )
        assert c.reply().body == b"Ada is 36"
        body = json.dumps({"numbers": [1, 2, 3, 4]}).encode()
        c.send(
            b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )
        assert json.loads(c.reply().body) == {"sum": 10, "n": 4}
        c.send(get("/stream"))
        r = c.reply()
        assert r.body == b"".join(b"part %d\n" % i for i in range(5))
        assert r.headers["transfer-encoding"] == "chunked"  # streamed as Flask yields it, not collected
        c.send(get("/missing"))
        assert c.reply().status == 404
        s.stop()
