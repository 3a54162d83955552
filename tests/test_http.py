"""HTTP/1.1 on the C parser through the Python layer: keep-alive,
pipelining, bodies, refusals with a lingering close, timeouts, handlers."""

from __future__ import annotations

import time

import pytest

from sluice.http import App, Response

from httpclient import Conn, ThreadServer, get


def make_app() -> App:
    app = App()

    @app.route("/")
    def root(req):
        return "hello\n"

    @app.route("/echo", methods=["POST", "PUT"])
    def echo(req):
        return Response(req.body, headers=[("X-Len", str(len(req.body)))])

    @app.route("/info")
    def info(req):
        return {"method": req.method, "path": req.path, "query": req.query_string, "ua": req.header("user-agent")}

    @app.route("/boom")
    def boom(req):
        raise RuntimeError("the handler failed on purpose")

    @app.route("/status")
    def status(req):
        return 201, [("X-A", "b")], b"made"

    return app


@pytest.fixture
def server():
    with ThreadServer(make_app(), keepalive=30, header_timeout=30) as s:
        yield s


def test_get_and_keep_alive_on_one_connection(server):
    with Conn(server.port) as c:
        for _ in range(3):
            c.send(get("/"))
            r = c.reply()
            assert (r.status, r.body) == (200, b"hello\n")
            assert "connection" not in r.headers  # HTTP/1.1 keeps alive
            assert r.headers["server"] == "sluice" and r.headers["date"].endswith("GMT")
    assert server.server.requests == 3


def test_pipelined_requests_are_answered_in_order(server):
    with Conn(server.port) as c:
        c.send(b"".join(get(f"/info?n={i}") for i in range(16)))
        for i in range(16):
            r = c.reply()
            assert r.status == 200 and f'"query": "n={i}"'.encode() in r.body


def test_a_request_fed_one_byte_at_a_time(server):
    raw = get("/info?x=1", extra="User-Agent: drip\r\n")
    with Conn(server.port) as c:
        for b in raw:
            c.send(bytes([b]))
            time.sleep(0.002)
        r = c.reply()
    assert r.status == 200 and b'"ua": "drip"' in r.body


def test_head_has_the_length_and_no_body(server):
    with Conn(server.port) as c:
        c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + get("/"))
        r = c.reply(head_only=True)
        assert r.status == 200 and r.headers["content-length"] == "6" and r.body == b""
        assert c.reply().body == b"hello\n"  # the next response follows at once


def test_content_length_and_chunked_bodies_reach_the_handler(server):
    with Conn(server.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        r = c.reply()
        assert r.body == b"hello" and r.headers["x-len"] == "5"
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n"
        )
        r = c.reply()
        assert r.body == b"abcde"


def test_a_large_body_split_over_many_reads(server):
    body = bytes(range(256)) * 2048  # 512 KiB
    with Conn(server.port) as c:
        c.send(f"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for k in range(0, len(body), 10000):
            c.send(body[k : k + 10000])
        r = c.reply()
    assert r.status == 200 and r.body == body


def test_expect_100_continue_gets_100_before_the_body(server):
    with Conn(server.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        r = c.reply()
        assert r.status == 100
        c.send(b"abc")
        assert c.reply().body == b"abc"


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 9000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(101)) + b"\r\n", 431),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n", 417),
    ],
)
def test_bad_requests_get_their_status_then_a_lingering_close(server, raw, status):
    with Conn(server.port) as c:
        c.send(raw)
        r = c.reply()
        assert r.status == status, r
        assert r.headers["connection"] == "close"
        assert c.at_eof(), "the server should close after its answer"
    with Conn(server.port) as other:  # the server keeps serving
        other.send(get("/"))
        assert other.reply().status == 200


BAD = b"GET /info HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"


def test_a_refused_request_behind_pipelined_ones_is_answered_after_them(server):
    """The answers of the requests before a refused one go first, in order
    (RFC 9112 §9.3), then the refusal, then the close."""
    with Conn(server.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + get("/info?n=2") + BAD)
        first, second, third = c.reply(), c.reply(), c.reply()
        assert (first.status, first.body) == (200, b"abc")
        assert second.status == 200 and b'"query": "n=2"' in second.body
        assert third.status == 400 and third.headers["connection"] == "close"
        assert b"differing Content-Lengths" in third.body
        assert c.at_eof() and c.buf == b""
    assert server.server.refused == 1


def test_a_refusal_waits_for_a_deferred_answer_before_it():
    import select
    import threading

    app = make_app()
    pending: list = []

    @app.route("/later")
    def later(req):
        d = req.defer()
        pending.append(d)
        return d

    with ThreadServer(app, keepalive=30, header_timeout=30) as s:
        with Conn(s.port) as c:
            c.send(get("/later") + BAD)
            deadline = time.monotonic() + 10
            while not pending and time.monotonic() < deadline:
                time.sleep(0.01)
            assert pending, "the handler did not run"
            assert select.select([c.sock], [], [], 0.3)[0] == [], "nothing may go before the deferred answer"
            threading.Thread(target=pending[0].resolve, args=("late\n",)).start()
            first, second = c.reply(), c.reply()
            assert (first.status, first.body) == (200, b"late\n")
            assert second.status == 400
            assert c.at_eof()


def test_bytes_after_a_request_without_keep_alive_are_not_parsed(server):
    """What follows `Connection: close` (or an HTTP/1.0 request without
    keep-alive) is no request: it is dropped, and its garbage does not
    replace the real answer with a 400."""
    for first in (get("/", extra="Connection: close\r\n"), b"GET / HTTP/1.0\r\n\r\n"):
        with Conn(server.port) as c:
            c.send(first + b"NOT HTTP AT ALL\r\n\r\n")
            r = c.reply()
            assert (r.status, r.body) == (200, b"hello\n")
            assert r.headers["connection"] == "close"
            assert c.at_eof() and c.buf == b""
    assert server.server.refused == 0


def test_a_100_continue_behind_a_pipelined_request_comes_after_its_answer(server):
    with Conn(server.port) as c:
        c.send(
            get("/info?n=1") + b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        first, second = c.reply(), c.reply()
        assert first.status == 200 and b'"query": "n=1"' in first.body
        assert second.status == 100
        c.send(b"abc")
        assert c.reply().body == b"abc"


def test_chunked_not_the_final_coding_is_400(server):
    with Conn(server.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
        r = c.reply()
        assert r.status == 400 and b"chunked is not the final Transfer-Encoding" in r.body


def test_an_absolute_form_target_without_a_path_is_slash(server):
    with Conn(server.port) as c:
        c.send(b"GET http://t HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.reply()
        assert (r.status, r.body) == (200, b"hello\n")
        c.send(b"GET http://t?a=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.reply().status == 200


def test_a_huge_request_line_is_414_even_before_its_end(server):
    with Conn(server.port) as c:
        c.send(b"GET /" + b"a" * 20000)  # no CRLF yet
        assert c.reply().status == 414


def test_http10_closes_unless_keep_alive(server):
    with Conn(server.port) as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        r = c.reply()
        assert r.status == 200 and r.headers["connection"] == "close" and c.at_eof()
    with Conn(server.port) as c:
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert c.reply().headers["connection"] == "keep-alive"
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert c.reply().status == 200


def test_connection_close_is_honoured(server):
    with Conn(server.port) as c:
        c.send(get("/", extra="Connection: close\r\n") + get("/"))  # the second is never answered
        r = c.reply()
        assert r.headers["connection"] == "close"
        assert c.at_eof() and c.buf == b""


def test_a_handler_that_raises_gets_500_and_the_connection_goes_on(server):
    with Conn(server.port) as c:
        c.send(get("/boom") + get("/"))
        assert c.reply().status == 500
        assert c.reply().status == 200


def test_routes_statuses_and_json(server):
    with Conn(server.port) as c:
        c.send(get("/nowhere") + b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n" + get("/status") + get("/info?q=%41"))
        assert c.reply().status == 404
        r = c.reply()
        assert r.status == 405 and r.headers["allow"] == "GET, HEAD"
        r = c.reply()
        assert (r.status, r.reason, r.headers["x-a"], r.body) == (201, "Created", "b", b"made")
        r = c.reply()
        assert r.headers["content-type"] == "application/json" and b'"query": "q=%41"' in r.body


def test_slowloris_gets_408_after_the_header_timeout():
    with ThreadServer(make_app(), keepalive=1, header_timeout=1) as s, Conn(s.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
        t0 = time.monotonic()
        for _ in range(40):  # keeps dripping: activity must not extend the head's time
            try:
                c.send(b"X: y\r\n")
            except OSError:
                break
            time.sleep(0.1)
            if b"408" in c.buf or (c.sock.settimeout(0.01) or _peek(c)):
                break
        c.sock.settimeout(10)
        r = c.reply()
        assert r.status == 408 and time.monotonic() - t0 < 6
        assert s.server.requests == 0


def _peek(c: Conn) -> bool:
    try:
        chunk = c.sock.recv(65536)
    except (TimeoutError, BlockingIOError):
        return False
    c.buf += chunk
    return b"408" in c.buf


def test_an_idle_keepalive_connection_is_closed_after_the_keepalive_time():
    with ThreadServer(make_app(), keepalive=1, header_timeout=5) as s, Conn(s.port) as c:
        c.send(get("/"))
        assert c.reply().status == 200
        t0 = time.monotonic()
        assert c.at_eof(timeout=10)
        assert 0.5 < time.monotonic() - t0 < 5


def test_drain_answers_with_connection_close(server):
    with Conn(server.port) as c:
        c.send(get("/"))
        assert "connection" not in c.reply().headers
        server.call(server.server.request_stop)
        time.sleep(0.2)
        c.send(get("/"))
        r = c.reply()
        assert r.status == 200 and r.headers["connection"] == "close"
        assert c.at_eof()


def test_a_lingering_close_ends_after_the_linger_time_even_if_the_client_stays(server):
    with Conn(server.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n")
        assert c.reply().status == 400
        assert c.at_eof()  # the server shut its side at once...
        t0 = time.monotonic()
        c.send(b"more bytes the server reads and drops")
        while server.server.transports and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        lingered = time.monotonic() - t0
        assert not server.server.transports  # ...and closed after lingering
        assert 1.0 < lingered < 6  # linger 2 s (keepalive is 30 s here)


def test_an_invalid_host_is_400_and_the_server_goes_on(server):
    with Conn(server.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a b/c@d\r\n\r\n")
        r = c.reply()
        assert r.status == 400 and b"invalid Host" in r.body
    with Conn(server.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")
        assert c.reply().status == 200
