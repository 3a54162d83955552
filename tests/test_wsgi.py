"""WSGI (PEP 3333) on Sluice's HTTP server, checked by the standard
library's own validator (wsgiref.validate), which raises inside the app on
any environ or server behaviour PEP 3333 forbids."""

from __future__ import annotations

import hashlib
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


# ---- found by a PEP 3333 review ---------------------------------------------


def read_all_app(environ, start_response):
    data = environ["wsgi.input"].read()  # the whole body, with no size: waits for all of it
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())]


def test_a_threaded_app_reads_a_body_much_larger_than_the_buffer_with_read():
    """Before, read() of a body over HIGH_WATER (1 MiB) waited for ever: the
    connection stopped reading until the reader took bytes, and the reader
    took none until the end came."""
    body = bytes(range(256)) * (3 * 4096)  # 3 MiB
    handler = WSGIHandler(read_all_app, threads=2)
    limits = {"max_body": 1 << 20, "max_stream_body": 8 << 20}
    with ThreadServer(handler, limits=limits) as s, Conn(s.port, timeout=30) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
        c.send(body)
        r = c.reply()
        assert r.body == b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())


def mixed_app(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])

    def blocks():
        yield b"A;"
        write(b"W;")  # between two blocks: sent in its place
        yield b"B;"
        if environ["PATH_INFO"] == "/str":
            yield "not bytes"

    return blocks() if environ["PATH_INFO"] != "/list" else [b"A;", b"B;"]


def test_write_while_the_iterable_runs_keeps_its_place():
    for threads in (0, 2):
        with ThreadServer(WSGIHandler(mixed_app, threads=threads)) as s, Conn(s.port) as c:
            c.send(get("/gen"))
            assert c.reply().body == b"A;W;B;", threads


def test_a_str_block_in_a_streamed_body_cuts_the_connection():
    """Not bytes after the head went: the client must not take the body for
    a whole one (no final chunk) and must not wait for ever."""
    for threads in (0, 2):
        with ThreadServer(WSGIHandler(mixed_app, threads=threads)) as s, Conn(s.port) as c:
            c.send(get("/str"))
            head = c.head()
            assert head.status == 200 and head.headers["transfer-encoding"] == "chunked"
            assert c.at_eof(timeout=10), threads
            assert not c.buf.endswith(b"0\r\n\r\n"), (threads, bytes(c.buf))


def status_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/304":
        start_response("304 Not Modified", [("ETag", '"x"')])
        return [b"must not be sent"]
    if path == "/204":
        start_response("204 No Content", [])
        return [b""]
    if path == "/head":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "1234")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"h" * 1234]
    if path == "/short":
        start_response("200 OK", [("Content-Length", "5")])
        return [b"0123456789"]
    start_response("200 OK", [("Content-Type", "text/plain"), (environ["QUERY_STRING"], "v")])
    return [b"bad header"]


def test_no_body_and_no_length_on_304_and_204():
    with ThreadServer(WSGIHandler(status_app)) as s, Conn(s.port) as c:
        c.send(get("/304") + get("/204") + get("/short"))
        r = c.reply(head_only=True)
        assert r.status == 304 and "content-length" not in r.headers
        r = c.reply(head_only=True)
        assert r.status == 204 and "content-length" not in r.headers
        r = c.reply()  # the next answer starts right after the heads: nothing was sent between
        assert (r.status, r.body) == (200, b"01234"), r  # and no more than its Content-Length


def test_head_keeps_the_applications_content_length():
    with ThreadServer(WSGIHandler(status_app)) as s, Conn(s.port) as c:
        c.send(b"HEAD /head HTTP/1.1\r\nHost: t\r\n\r\n" + get("/head"))
        r = c.reply(head_only=True)
        assert r.status == 200 and r.headers["content-length"] == "1234"
        assert c.reply().body == b"h" * 1234


def test_a_bad_header_name_gets_a_500_and_the_connection_goes_on():
    with ThreadServer(WSGIHandler(status_app)) as s, Conn(s.port) as c:
        for bad in ("X:Colon", "X(paren)", ""):
            c.send(get(f"/bad?{bad}"))
            assert c.reply().status == 500, bad
        c.send(get("/head"))
        assert c.reply().status == 200


def test_a_header_name_with_an_underscore_does_not_reach_the_environ():
    """X_Foo would be HTTP_X_FOO, like X-Foo: a header a proxy filters by
    its name could get past it."""
    with ThreadServer(WSGIHandler(env_app)) as s, Conn(s.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nX_Foo: spoofed\r\n\r\n")
        assert json.loads(c.reply().body)["HTTP_X_FOO"] is None
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nX_Foo: spoofed\r\nX-Foo: real\r\n\r\n")
        assert json.loads(c.reply().body)["HTTP_X_FOO"] == "real"


def test_a_status_line_is_checked_each_time_and_a_bad_one_gets_a_500(caplog):
    """The numbers of status lines are kept once checked; a bad one, or one
    C cannot render, is a 500 every time and the connection goes on."""

    def app(environ, start_response):
        status = environ["QUERY_STRING"].replace("+", " ")
        start_response(status, [("Content-Type", "text/plain")])
        return [b"x"]

    with ThreadServer(WSGIHandler(app)) as s, Conn(s.port) as c:
        for _ in range(2):  # the second time from what was kept
            for status, want in [
                ("201+Made", 201),
                ("200OK", 500),
                ("2x0+No", 500),
                ("099+Low", 500),
                ("299+Odd", 299),
                ("599+Top", 599),
                ("100+Continue", 500),  # an interim status is no answer: the client would wait for one
                ("101+Switching", 500),
                ("600+Past", 500),  # no sixth class (RFC 9110 §15)
                ("999+Far", 500),
            ]:
                c.send(get(f"/?{status}"))
                r = c.reply()
                assert (r.status, r.body) == (want, b"x" if want != 500 else b"internal server error\n"), status
    assert any("cannot render status 99" in rec.getMessage() for rec in caplog.records)


def test_a_streamed_answer_with_a_status_that_is_no_final_answer_gets_a_500():
    """No Content-Length and several blocks: the answer is streamed, its
    head rendered when its turn comes; a 1xx or 600+ there is a 500 too
    (nothing was sent yet), and the connection goes on."""

    def app(environ, start_response):
        start_response(environ["QUERY_STRING"].replace("+", " "), [("Content-Type", "text/plain")])
        return iter([b"x" * 10, b"y"])

    with ThreadServer(WSGIHandler(app)) as s, Conn(s.port) as c:
        for status, want in [("100+Continue", 500), ("600+Past", 500), ("200+OK", 200)]:
            c.send(get(f"/?{status}"))
            r = c.reply()
            assert (r.status, r.body) == (want, b"internal server error\n" if want == 500 else b"x" * 10 + b"y"), status
