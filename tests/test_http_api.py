"""The native handler API: routes with parameters, the lazy request
fields, response forms, deferred answers kept in order, WSGI on threads."""

from __future__ import annotations

import json
import threading
import time

import sluice
from sluice.http.wsgi import WSGIHandler

from httpclient import Conn, ThreadServer, get


def make_app() -> sluice.App:
    app = sluice.App()

    @app.route("/users/{uid}/posts/{pid}")
    def post(req, uid, pid):
        return {"uid": uid, "pid": pid, "params": req.path_params}

    @app.route("/q")
    def q(req):
        return {"query": req.query, "raw": req.query_string}

    @app.route("/h")
    def h(req):
        hs = req.headers
        return {"x": hs["X-Thing"], "all": hs.getall("x-thing"), "has": "x-THING" in hs, "client": req.client[0]}

    @app.route("/dict-headers")
    def dh(req):
        return sluice.Response("ok", status=202, headers={"X-One": "1", "Content-Type": "text/x-test"})

    @app.route("/later/{ms}")
    def later(req, ms):
        d = req.defer()
        threading.Timer(int(ms) / 1000, d.resolve, args=(f"late {ms}",)).start()
        return d

    @app.route("/now")
    def now(req):
        return "now"

    return app


def test_path_parameters_reach_the_handler_as_keywords_and_path_params():
    with ThreadServer(make_app()) as s, Conn(s.port) as c:
        c.send(get("/users/7/posts/abc") + get("/users/7/posts"))
        assert json.loads(c.reply().body) == {"uid": "7", "pid": "abc", "params": {"uid": "7", "pid": "abc"}}
        assert c.reply().status == 404


def test_query_headers_and_client_are_parsed_on_use():
    with ThreadServer(make_app()) as s, Conn(s.port) as c:
        c.send(get("/q?a=1&b=x%20y&a=2&empty=") + get("/h", extra="X-Thing: one\r\nx-thing: two\r\n"))
        assert json.loads(c.reply().body) == {
            "query": {"a": "1", "b": "x y", "empty": ""},
            "raw": "a=1&b=x%20y&a=2&empty=",
        }
        assert json.loads(c.reply().body) == {
            "x": "one, two",
            "all": ["one", "two"],
            "has": True,
            "client": "127.0.0.1",
        }


def test_response_headers_as_a_dict():
    with ThreadServer(make_app()) as s, Conn(s.port) as c:
        c.send(get("/dict-headers"))
        r = c.reply()
        assert (r.status, r.headers["x-one"], r.headers["content-type"], r.body) == (202, "1", "text/x-test", b"ok")


def test_deferred_answers_keep_the_pipelined_order():
    with ThreadServer(make_app()) as s, Conn(s.port) as c:
        c.send(get("/later/300") + get("/now") + get("/later/50") + get("/now"))
        bodies = [c.reply().body for _ in range(4)]
        assert bodies == [b"late 300", b"now", b"late 50", b"now"]
        c.send(get("/now"))  # the connection goes on afterwards
        assert c.reply().body == b"now"


def test_a_slow_deferred_answer_is_not_cut_by_the_keepalive_timeout():
    with ThreadServer(make_app(), keepalive=1) as s, Conn(s.port) as c:
        c.send(get("/later/2500"))
        assert c.reply().body == b"late 2500"


def slow_wsgi(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.0)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode(), b" ", str(environ["wsgi.multithread"]).encode()]


def test_wsgi_on_threads_keeps_serving_while_the_app_blocks():
    with ThreadServer(WSGIHandler(slow_wsgi, threads=4)) as s, Conn(s.port) as slow, Conn(s.port) as fast:
        slow.send(get("/slow"))
        time.sleep(0.1)
        t0 = time.monotonic()
        fast.send(get("/fast"))
        assert fast.reply().body == b"/fast True"
        assert time.monotonic() - t0 < 0.8  # not behind the blocked request
        assert slow.reply().body == b"/slow True"


def test_a_hundred_pipelined_requests_in_one_write_and_behind_a_deferred_one():
    with ThreadServer(make_app()) as s, Conn(s.port) as c:
        c.send(b"".join(get(f"/q?n={i}") for i in range(100)))
        for i in range(100):
            assert json.loads(c.reply().body)["query"] == {"n": str(i)}
        # more than a turn's batch (256): the rest is framed in the next turns
        c.send(b"".join(get(f"/q?n={i}") for i in range(700)))
        for i in range(700):
            assert json.loads(c.reply().body)["query"] == {"n": str(i)}
        # behind a slow deferred answer the connection stops reading at 64 queued, then goes on
        c.send(get("/later/500") + b"".join(get(f"/q?n={i}") for i in range(100)))
        assert c.reply().body == b"late 500"
        for i in range(100):
            assert json.loads(c.reply().body)["query"] == {"n": str(i)}


def test_a_status_that_is_no_final_answer_gets_a_500_and_the_connection_goes_on():
    """1xx are interim (a client sent one as the answer waits on for the
    real one) and nothing is past 5xx: C renders neither, the handler's
    request is a 500, and the next request on the connection is served."""
    app = sluice.App()

    @app.route("/s/{code}")
    def status(req, code):
        return sluice.Response("body", status=int(code))

    @app.route("/stream/{code}")
    def streamed(req, code):  # an iterable body: the head goes before the blocks, from StreamedAnswer
        return sluice.Response(iter([b"a", b"b"]), status=int(code))

    with ThreadServer(app) as s, Conn(s.port) as c:
        for code, want in [(100, 500), (101, 500), (199, 500), (200, 200), (599, 599), (600, 500), (999, 500)]:
            for path in (f"/s/{code}", f"/stream/{code}"):
                c.send(get(path))
                r = c.reply()
                assert r.status == want, path
                if want == 500:
                    assert r.body == b"internal server error\n", path
        for path in ("/s/100", "/stream/600"):  # a HEAD's 500 has no body either
            c.send(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            r = c.reply(head_only=True)
            assert r.status == 500 and r.body == b"", path
        c.send(get("/s/200"))
        assert c.reply().status == 200  # the connection went on
