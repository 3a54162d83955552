"""Streamed request bodies: a route made with stream=True is called once the
head is in and reads the body as it arrives (request.stream); WSGI with
threads reads wsgi.input the same way. Buffered routes beside it keep their
limits, 100-continue and keep-alive."""

from __future__ import annotations

import hashlib
import threading
import time
import wsgiref.validate

import pytest

import sluice
from sluice.http.wsgi import WSGIHandler

from httpclient import Conn, ThreadServer, get

H = "Host: t\r\n"


def post(path: str, length: int | None = None, extra: str = "") -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"POST {path} HTTP/1.1\r\n{H}{framing}{extra}\r\n".encode()


def chunked(data: bytes, size: int = 65536) -> bytes:
    out = [b"%x\r\n%s\r\n" % (len(data[k : k + size]), data[k : k + size]) for k in range(0, len(data), size)]
    return b"".join(out) + b"0\r\n\r\n"


def blob(n: int) -> bytes:
    return (hashlib.sha256(b"seed").digest() * (n // 32 + 1))[:n]


class Upload:
    """A streaming app: /up reads the body on a thread and answers its
    length and sha256; /sub takes the pieces on the loop (subscribe); /early
    answers before the body; /loop reads on the loop's thread (an error);
    /buffered is an ordinary route."""

    def __init__(self):
        self.app = sluice.App()
        self.events: dict[str, threading.Event] = {"first": threading.Event(), "go": threading.Event()}
        self.seen: dict[str, object] = {}
        self.gate = False  # /up waits for events["go"] after its first read
        app = self.app

        @app.route("/up", methods=["POST"], stream=True)
        def up(req):
            self.seen["received_at_call"] = req.stream.received
            d = req.defer()
            threading.Thread(target=self._read, args=(req, d), daemon=True).start()
            return d

        @app.route("/sub", methods=["POST", "PUT"], stream=True)
        def sub(req):
            d = req.defer()
            h, pieces = hashlib.sha256(), []

            def on_data(piece):
                pieces.append(len(piece))
                h.update(piece)

            def on_end(error):
                d.resolve(f"{sum(pieces)} {h.hexdigest()} {len(pieces)} {error is None}")

            req.stream.subscribe(on_data, on_end)
            return d

        @app.route("/early", methods=["POST"], stream=True)
        def early(req):
            return sluice.Response("no thanks\n", status=403)

        @app.route("/loop", methods=["POST"], stream=True)
        def on_loop(req):
            return req.stream.read()

        @app.route("/buffered", methods=["POST"])
        def buffered(req):
            return f"{len(req.body)} {hashlib.sha256(req.body).hexdigest()}"

    def _read(self, req, d):
        h, n = hashlib.sha256(), 0
        try:
            first = req.stream.read1()
            self.events["first"].set()
            h.update(first)
            n += len(first)
            if self.gate:
                self.events["go"].wait(20)
            for piece in req.stream.chunks():
                h.update(piece)
                n += len(piece)
            d.resolve(f"{n} {h.hexdigest()}")
        except ConnectionError as exc:
            self.seen["error"] = exc
            d.resolve(sluice.Response("cut\n", status=400))


@pytest.fixture
def upload():
    u = Upload()
    with ThreadServer(u.app, header_timeout=30) as srv:
        srv.upload = u
        yield srv


def answer(data: bytes) -> str:
    return data.decode().strip()


def test_the_handler_runs_before_the_body_has_come_and_reads_it_as_it_arrives(upload):
    u = upload.upload
    u.gate = True
    body = blob(300_000)
    with Conn(upload.port) as c:
        c.send(post("/up", len(body)) + body[:1000])
        assert u.events["first"].wait(10), "the handler did not get the first piece before the rest was sent"
        assert u.seen["received_at_call"] < len(body)
        c.send(body[1000:])
        u.events["go"].set()
        r = c.reply()
        assert r.status == 200
        assert answer(r.body) == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
        c.send(get("/missing"))  # keep-alive: the connection goes on after a streamed body
        assert c.reply().status == 404


def test_a_chunked_body_streams_past_max_body_and_a_buffered_route_refuses_it(upload):
    body = blob(5 << 20)  # 5 MiB; max_body is 1 MiB
    digest = hashlib.sha256(body).hexdigest()
    with Conn(upload.port) as c:
        c.send(post("/sub") + chunked(body, 100_000))
        r = c.reply()
        n, h, pieces, clean = answer(r.body).split()
        assert (int(n), h, clean) == (len(body), digest, "True")
        assert int(pieces) > 1  # it came in several pieces, not as one buffered body
    with Conn(upload.port) as c:
        c.send(post("/up", len(body)) + body)
        assert answer(c.reply().body) == f"{len(body)} {digest}"
    with Conn(upload.port) as c:  # the same size on a buffered route: 413 before the handler
        c.send(post("/buffered", len(body)))
        r = c.reply()
        assert r.status == 413
        assert c.at_eof()
    with Conn(upload.port) as c:  # chunked on a buffered route: 413 once it grows past max_body
        c.send(post("/buffered"))
        try:
            c.send(chunked(body, 100_000))
        except OSError:
            pass  # the server may close while we still send
        assert c.reply().status == 413


def test_buffered_routes_beside_streamed_ones_keep_100_continue_and_bodies(upload):
    body = blob(200_000)
    with Conn(upload.port) as c:
        c.send(post("/buffered", len(body), "Expect: 100-continue\r\n"))
        assert c.reply().status == 100
        c.send(body)
        r = c.reply()
        assert answer(r.body) == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
        c.send(post("/buffered", 3) + b"abc")  # small: whole in one read, no announcement
        assert answer(c.reply().body).startswith("3 ")
    with Conn(upload.port) as c:  # 100-continue on a streamed route
        c.send(post("/up", len(body), "Expect: 100-continue\r\n"))
        assert c.reply().status == 100
        c.send(body)
        assert answer(c.reply().body).startswith(f"{len(body)} ")


def test_an_answer_before_the_body_drops_the_rest_and_keeps_the_connection(upload):
    body = blob(3 << 20)
    with Conn(upload.port) as c:
        c.send(post("/early", len(body)) + body[:10])
        r = c.reply()
        assert (r.status, r.body) == (403, b"no thanks\n")
        c.send(body[10:] + get("/missing"))  # the rest of the body is read and dropped
        assert c.reply().status == 404


def test_a_client_gone_mid_body_cuts_the_stream_and_others_are_served(upload):
    u = upload.upload
    with Conn(upload.port) as c:
        c.send(post("/up", 1_000_000) + blob(5000))
        assert u.events["first"].wait(10)
    deadline = time.monotonic() + 10
    while "error" not in u.seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert isinstance(u.seen.get("error"), ConnectionError)
    with Conn(upload.port) as c:
        c.send(post("/buffered", 2) + b"ok")
        assert answer(c.reply().body).startswith("2 ")


def test_reading_on_the_loops_thread_is_a_500_not_a_hang(upload):
    with Conn(upload.port) as c:
        c.send(post("/loop", 100_000) + b"x" * 10)
        assert c.reply().status == 500


def test_a_reader_behind_stops_the_client_and_nothing_is_lost():
    u = Upload()
    u.gate = True
    total = 48 << 20
    sent = [0]
    body = blob(1 << 20)
    with ThreadServer(u.app, header_timeout=60) as srv, Conn(srv.port, timeout=60) as c:

        def send():
            c.send(post("/up", total))
            for _ in range(total // len(body)):
                c.send(body)
                sent[0] += len(body)

        t = threading.Thread(target=send, daemon=True)
        t.start()
        assert u.events["first"].wait(10)
        time.sleep(1.0)  # the reader waits: the server holds about 1 MiB, the kernel a few
        held_back = total - sent[0]
        u.events["go"].set()
        t.join(60)
        r = c.reply()
    assert held_back > 24 << 20, f"only {held_back} bytes were held back: reading did not stop"
    assert answer(r.body) == f"{total} {hashlib.sha256(body * (total // len(body))).hexdigest()}"


def test_a_stalled_streamed_body_is_408_and_the_reader_is_told():
    u = Upload()
    with ThreadServer(u.app, header_timeout=0.5) as srv, Conn(srv.port) as c:
        c.send(post("/up", 10_000) + b"x" * 100)
        r = c.reply()
        assert r.status == 408
        deadline = time.monotonic() + 10
        while "error" not in u.seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert isinstance(u.seen.get("error"), ConnectionError)


def test_max_stream_body_bounds_a_streamed_body():
    u = Upload()
    with pytest.raises(ValueError, match="max_stream_body"):
        sluice.http.HTTPServer(None, u.app, limits={"max_body": 100, "max_stream_body": 99})
    with ThreadServer(u.app, limits={"max_body": 1000, "max_stream_body": 4096}) as srv:
        with Conn(srv.port) as c:
            c.send(post("/up", 4097))
            assert c.reply().status == 413
        with Conn(srv.port) as c:
            c.send(post("/sub") + chunked(b"y" * 5000, 1000))
            assert c.reply().status == 413
        with Conn(srv.port) as c:
            c.send(post("/up", 4096) + b"z" * 4096)
            assert answer(c.reply().body).startswith("4096 ")


def test_the_whole_body_is_a_stream_too_on_ordinary_routes():
    app = sluice.App()

    @app.route("/lines", methods=["POST"])
    def lines(req):
        return b"|".join(line.rstrip(b"\n") for line in req.stream)

    with ThreadServer(app) as srv, Conn(srv.port) as c:
        c.send(post("/lines", 8) + b"a\nbb\nccc")
        assert c.reply().body == b"a|bb|ccc"


def wsgi_upload(environ, start_response):
    inp = environ["wsgi.input"]
    h, n = hashlib.sha256(), 0
    first = inp.readline()
    h.update(first)
    n += len(first)
    while True:
        block = inp.read(65536)
        if not block:
            break
        h.update(block)
        n += len(block)
    out = f"{n} {h.hexdigest()} {type(getattr(inp, 'input', inp)).__name__}".encode()  # under the validator
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


@pytest.mark.parametrize("threads", [0, 2])
def test_wsgi_input_streams_with_threads_and_is_whole_without(threads):
    handler = WSGIHandler(wsgiref.validate.validator(wsgi_upload), threads=threads)
    small = b"line one\n" + blob(500_000)
    with ThreadServer(handler) as srv:
        with Conn(srv.port) as c:
            c.send(post("/", len(small)) + small[:100])
            time.sleep(0.05)
            c.send(small[100:])
            n, h, kind = answer(c.reply().body).split()
            assert (int(n), h) == (len(small), hashlib.sha256(small).hexdigest())
            assert kind == ("BodyStream" if threads else "BytesIO")
            big = b"x\n" + blob(3 << 20)  # over max_body: only a streaming app takes it
            c.send(post("/") + chunked(big))
            r = c.reply()
            if threads:
                assert answer(r.body).split()[:2] == [str(len(big)), hashlib.sha256(big).hexdigest()]
            else:
                assert r.status == 413


def test_a_body_announced_with_the_input_full_goes_on():
    # max_body 1000 makes the connection's input small (about 83 KB): the head
    # and as much body as fits arrive in one read, the input is full when
    # Python decides to stream, and the next read must not take that for a
    # request that can never end (it closed as "input limit" once).
    u = Upload()
    body = blob(2 << 20)
    with ThreadServer(u.app, limits={"max_body": 1000}) as srv, Conn(srv.port, timeout=30) as c:
        for _ in range(3):
            c.send(post("/up", len(body)) + body)
            assert answer(c.reply().body) == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
