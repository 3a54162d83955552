"""WSGI (PEP 3333) on Sluice's HTTP server, checked by the standard
library's own validator (wsgiref.validate), which raises inside the app on
any environ or server behaviour PEP 3333 forbids."""

from __future__ import annotations

import json
from wsgiref.validate import validator

from sluice.http.wsgi import WSGIHandler

from httpclient import Conn, ThreadServer, get


def env_app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    keys = ["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL", "CONTENT_LENGTH", "CONTENT_TYPE"]
    out = {k: environ.get(k) for k in keys}
    out["HTTP_X_FOO"] = environ.get("HTTP_X_FOO")
    out["REMOTE_ADDR"] = environ["REMOTE_ADDR"]
    out["body"] = body.decode()
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def chunks_app(environ, start_response):
    write = start_response("202 Accepted", [("Content-Type", "text/plain"), ("Connection", "keep-alive")])
    write(b"early ")
    blocks = [b"a", b"b", b"c"]
    return blocks if environ["PATH_INFO"] == "/list" else iter(blocks)


def failing_app(environ, start_response):
    raise ValueError("the app failed on purpose")


def test_the_environ_under_the_standard_validator():
    with ThreadServer(WSGIHandler(validator(env_app)), keepalive=30) as s, Conn(s.port) as c:
        c.send(
            b"POST /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: t\r\nX-Foo: one\r\nX-Foo: two\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        )
        r = c.reply()
        assert r.status == 200, r.body
        env = json.loads(r.body)
        assert env["REQUEST_METHOD"] == "POST"
        assert env["PATH_INFO"] == "/a b/c" and env["QUERY_STRING"] == "x=1&y=%41"
        assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
        assert env["CONTENT_LENGTH"] == "5" and env["CONTENT_TYPE"] == "text/plain"
        assert env["HTTP_X_FOO"] == "one,two"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["body"] == "hello"
        c.send(get("/again"))  # keep-alive goes on
        assert json.loads(c.reply().body)["PATH_INFO"] == "/again"


def test_a_chunked_request_body_is_given_with_its_length():
    with ThreadServer(WSGIHandler(validator(env_app))) as s, Conn(s.port) as c:
        c.send(b"PUT /u HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n")
        env = json.loads(c.reply().body)
        assert env["body"] == "wiki" and env["CONTENT_LENGTH"] == "4"


def test_write_and_iterable_bodies_are_joined_and_hop_by_hop_headers_dropped():
    with ThreadServer(WSGIHandler(chunks_app)) as s, Conn(s.port) as c:
        c.send(get("/list"))  # a list: collected, one write with its length
        r = c.reply()
        assert (r.status, r.body) == (202, b"early abc")
        assert r.headers["content-length"] == "9" and "connection" not in r.headers
        c.send(get("/iter"))  # an iterator of unknown length: streamed in chunks
        r = c.reply()
        assert (r.status, r.body) == (202, b"early abc")
        assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
        assert "connection" not in r.headers


def test_a_failing_app_answers_500_and_the_server_goes_on():
    with ThreadServer(WSGIHandler(failing_app)) as s, Conn(s.port) as c:
        c.send(get("/") + get("/"))
        assert c.reply().status == 500
        assert c.reply().status == 500


def start_response_app(environ, start_response):
    """start_response's rules by path: twice, an error page before the head
    went, an error after it went (a streamed body)."""
    path = environ["PATH_INFO"]
    if path == "/twice":
        start_response("200 OK", [])
        start_response("200 OK", [])  # without exc_info: an error of the app's
        return [b"never"]
    if path == "/error-page":
        start_response("200 OK", [("X-Kind", "first")])
        try:
            raise KeyError("a failure before any byte went")
        except KeyError:
            import sys

            start_response("503 Service Unavailable", [("X-Kind", "error")], sys.exc_info())
        return [b"sorry"]

    def late_failure():
        yield b"part one"
        try:
            raise KeyError("a failure after the head went")
        except KeyError:
            import sys

            start_response("500 Internal Server Error", [], sys.exc_info())  # re-raises: the head went
        yield b"never"

    start_response("200 OK", [("Content-Type", "text/plain")])
    return late_failure()


def test_start_response_twice_an_error_page_and_an_error_after_the_head_went():
    with ThreadServer(WSGIHandler(start_response_app)) as s:
        with Conn(s.port) as c:
            c.send(get("/twice"))
            assert c.reply().status == 500
            c.send(get("/error-page"))  # the head had not gone: exc_info replaces it
            r = c.reply()
            assert (r.status, r.headers["x-kind"], r.body) == (503, "error", b"sorry")
        with Conn(s.port) as c:
            c.send(get("/late"))  # the head went with the first block: the error ends the stream
            r = c.head()
            assert r.status == 200 and r.headers["transfer-encoding"] == "chunked"
            assert c.chunk() == b"part one"
            assert c.at_eof()  # closed without the last chunk: the client cannot take it for whole
            assert b"never" not in c.buf and b"0\r\n\r\n" not in c.buf


HEADER_LISTS = {
    "/a": [("Content-Type", "text/plain"), ("X-Which", "a")],
    "/b": [("Content-Type", "text/plain"), ("X-Which", "b")],
    "/lists": [["Content-Type", "text/plain"], ["X-Which", "lists"]],  # not hashable: rendered each time
}
MUTATED = [("X-Which", "before")]  # one list object, its content changed between requests


def headers_app(environ, start_response):
    path = environ["PATH_INFO"]
    start_response("200 OK", MUTATED if path == "/mutated" else HEADER_LISTS[path])
    return [path.encode()]


def test_each_answer_has_its_own_headers_however_the_lists_are_kept():
    with ThreadServer(WSGIHandler(headers_app)) as s, Conn(s.port) as c:
        for path in ["/a", "/b", "/a", "/lists", "/b", "/lists"]:
            c.send(get(path))
            r = c.reply()
            assert (r.status, r.body, r.headers["x-which"]) == (200, path.encode(), path[1:])
        for which in ["before", "before", "after", "after", "again"]:
            MUTATED[0] = ("X-Which", which)
            c.send(get("/mutated"))
            assert c.reply().headers["x-which"] == which
