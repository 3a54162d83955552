"""Streamed response bodies: a native Response over an iterable and a WSGI
iterable of unknown length go out block by block (chunked on HTTP/1.1,
close-delimited on HTTP/1.0, as-is with a declared length), unbuffered, in
order with pipelined answers, held back by a slow client, and closed when
the client goes or the producer fails."""

from __future__ import annotations

import hashlib
import threading
import time

import sluice
from sluice.http.wsgi import WSGIHandler

from httpclient import Conn, ThreadServer, get

BLOCK = b"x" * 65536


class Produced:
    """An iterator of n blocks that records how far it got and whether it was closed."""

    def __init__(self, n: int, block: bytes = BLOCK, gate: threading.Event | None = None):
        self.n, self.block, self.gate = n, block, gate
        self.made = 0
        self.closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self.made == self.n or self.closed.is_set():
            raise StopIteration
        if self.made == 1 and self.gate is not None:
            assert self.gate.wait(20), "the test never let the body go on"
        self.made += 1
        return self.block

    def close(self) -> None:
        self.closed.set()


def native_app(state: dict) -> sluice.App:
    app = sluice.App()

    @app.route("/gen")
    def gen(req):
        return sluice.Response((b"block %d\n" % k for k in range(3)), headers={"Content-Type": "text/plain"})

    @app.route("/big")
    def big(req):
        state["big"] = p = Produced(state.get("n", 1024))  # 64 MiB
        return sluice.Response(p)

    @app.route("/short")
    def short(req):
        return sluice.Response(iter([b"abc"]), headers=[("Content-Length", "10")])

    @app.route("/exact")
    def exact(req):
        return sluice.Response(iter([b"ab", b"cd"]), headers=[("Content-Length", "4")])

    @app.route("/fails")
    def fails(req):
        def body():
            yield b"first\n"
            raise RuntimeError("the body failed on purpose")

        return sluice.Response(body())

    @app.route("/plain")
    def plain(req):
        return "plain\n"

    return app


def test_an_iterable_body_goes_out_in_chunks_in_order_with_pipelined_answers():
    with ThreadServer(native_app({})) as srv, Conn(srv.port) as c:
        c.send(get("/gen") + get("/plain") + get("/gen"))
        r = c.head()
        assert r.status == 200 and r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
        assert [c.chunk(), c.chunk(), c.chunk(), c.chunk()] == [b"block 0\n", b"block 1\n", b"block 2\n", b""]
        assert c.reply().body == b"plain\n"  # the pipelined answer comes after the streamed one
        assert c.reply().body == b"block 0\nblock 1\nblock 2\n"


def test_http10_gets_the_body_up_to_a_close():
    with ThreadServer(native_app({})) as srv, Conn(srv.port) as c:
        c.send(b"GET /gen HTTP/1.0\r\n\r\n")
        r = c.head()
        assert r.headers.get("connection") == "close" and "transfer-encoding" not in r.headers
        assert c.at_eof()
        assert bytes(c.buf) == b"block 0\nblock 1\nblock 2\n"


def test_a_declared_length_is_kept_and_a_short_body_closes_the_connection():
    with ThreadServer(native_app({})) as srv:
        with Conn(srv.port) as c:
            c.send(get("/exact") + get("/plain"))
            r = c.reply()
            assert (r.headers["content-length"], r.body) == ("4", b"abcd") and "transfer-encoding" not in r.headers
            assert c.reply().body == b"plain\n"  # a whole body keeps the connection
        with Conn(srv.port) as c:
            c.send(get("/short"))
            r = c.head()
            assert r.headers["content-length"] == "10"
            assert c.at_eof()  # 3 bytes of 10, then the close: the client knows it is short
            assert bytes(c.buf) == b"abc"


def test_a_body_that_fails_midway_closes_without_the_last_chunk_and_the_server_goes_on():
    with ThreadServer(native_app({})) as srv:
        with Conn(srv.port) as c:
            c.send(get("/fails"))
            c.head()
            assert c.chunk() == b"first\n"
            assert c.at_eof()
            assert b"0\r\n\r\n" not in bytes(c.buf)
        with Conn(srv.port) as c:
            c.send(get("/plain"))
            assert c.reply().body == b"plain\n"


def test_head_sends_the_head_only_and_closes_the_body():
    state = {"n": 4}
    with ThreadServer(native_app(state)) as srv, Conn(srv.port) as c:
        c.send(b"HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n" + get("/plain"))
        r = c.reply(head_only=True)
        assert r.status == 200 and r.body == b""
        assert c.reply().body == b"plain\n"
        assert state["big"].closed.wait(5) and state["big"].made == 0


def test_a_slow_client_holds_the_body_back_on_the_loop_and_gets_all_of_it():
    state: dict = {}
    with ThreadServer(native_app(state)) as srv, Conn(srv.port, timeout=60) as c:
        c.send(get("/big"))
        time.sleep(1.0)  # not reading: the loop stops pulling once the output is over its high-water mark
        made = state["big"].made
        assert made < 400, f"{made} blocks of 64 KiB were made for a client that read none"
        c.head()
        h, n = hashlib.sha256(), 0
        while (data := c.chunk()) != b"":
            h.update(data)
            n += len(data)
        assert n == 1024 * len(BLOCK)
        assert h.hexdigest() == hashlib.sha256(BLOCK * 1024).hexdigest()


def test_a_client_gone_mid_body_closes_the_generator():
    state: dict = {}
    with ThreadServer(native_app(state)) as srv:
        with Conn(srv.port) as c:
            c.send(get("/big"))
            c.head()
            c.chunk()
        assert state["big"].closed.wait(10)
        assert state["big"].made < 1024
        with Conn(srv.port) as c:
            c.send(get("/plain"))
            assert c.reply().body == b"plain\n"


# ---- WSGI ------------------------------------------------------------------


class WsgiApp:
    def __init__(self):
        self.gate = threading.Event()
        self.produced: Produced | None = None

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        if path == "/events":  # the second event waits for the test: the first must have gone already
            self.produced = Produced(3, b"data: tick\n\n", self.gate)
        elif path == "/big":
            self.produced = Produced(1024)
        elif path == "/fails":
            return self._fails()
        else:
            return [b"plain\n"]
        return self.produced

    @staticmethod
    def _fails():
        yield b"first\n"
        raise RuntimeError("the WSGI body failed on purpose")


def test_wsgi_events_leave_as_they_are_yielded_with_threads():
    app = WsgiApp()
    with ThreadServer(WSGIHandler(app, threads=2)) as srv, Conn(srv.port) as c:
        c.send(get("/events"))
        r = c.head()
        assert r.headers["transfer-encoding"] == "chunked"
        assert c.chunk() == b"data: tick\n\n"  # while the app still waits for the gate
        app.gate.set()
        assert [c.chunk(), c.chunk(), c.chunk()] == [b"data: tick\n\n", b"data: tick\n\n", b""]
        c.send(get("/plain"))
        assert c.reply().body == b"plain\n"


def test_wsgi_threads_a_slow_client_holds_the_app_back_and_a_gone_one_stops_it():
    app = WsgiApp()
    with ThreadServer(WSGIHandler(app, threads=2)) as srv:
        with Conn(srv.port, timeout=60) as c:
            c.send(get("/big"))
            time.sleep(1.0)
            assert app.produced.made < 400, f"{app.produced.made} blocks made for a client that read none"
            c.head()
            n = 0
            while (data := c.chunk()) != b"":
                n += len(data)
            assert n == 1024 * len(BLOCK)
        with Conn(srv.port) as c:
            c.send(get("/big"))
            c.head()
            c.chunk()
        assert app.produced.closed.wait(10) and app.produced.made < 1024
        with Conn(srv.port) as c:
            c.send(get("/fails"))
            c.head()
            assert c.chunk() == b"first\n"
            assert c.at_eof()


def test_wsgi_on_the_loop_streams_too():
    app = WsgiApp()
    with ThreadServer(WSGIHandler(app)) as srv, Conn(srv.port, timeout=60) as c:
        c.send(get("/big") + get("/plain"))
        c.head()
        n = 0
        while (data := c.chunk()) != b"":
            n += len(data)
        assert n == 1024 * len(BLOCK)
        assert c.reply().body == b"plain\n"


def test_a_producer_pushing_after_the_loop_closed_is_told_to_stop():
    """Once the loop is closed nothing will send what a producer thread
    pushes: push() says False (no more is wanted) instead of True, so a
    WSGI app's thread ends instead of filling the backlog and then waiting
    on it for ever."""
    import types

    from sluice import Loop
    from sluice.http.streaming import StreamedAnswer

    loop = Loop()
    loop.close()
    answer = StreamedAnswer(200, b"")
    answer._conn = types.SimpleNamespace(_loop=loop)  # started, then its loop closed
    assert answer.push(b"block") is False
    assert answer.push(b"more") is False
