"""Exact routes matched in C (SL_HTTP_R_ROUTE): the server calls their
handlers itself, and every answer is the one App.__call__ would give."""

from __future__ import annotations

import threading

import sluice
from sluice.http.server import HTTPServer
from sluice.serve import ServeHandler
from sluice.static import StaticFiles

from httpclient import Conn, ThreadServer, get


class CountingApp(sluice.App):
    """An App that counts the requests it routes itself (in Python)."""

    def __init__(self) -> None:
        super().__init__()
        self.routed_in_python = 0

    def __call__(self, request):
        self.routed_in_python += 1
        return super().__call__(request)


def make_app() -> CountingApp:
    app = CountingApp()

    @app.route("/hello")
    def hello(req):
        return f"hello {req.method} {req.path} {req.query_string}"

    @app.route("/form", methods=["POST"])
    def form(req):
        return b"got " + req.body

    @app.route("/users/{uid}")
    def user(req, uid):
        return f"user {uid}"

    return app


def request(port: int, raw: bytes):
    with Conn(port) as c:
        c.send(raw)
        return c.reply()


def test_an_exact_path_is_matched_in_c_and_answered_as_app_would():
    app = make_app()
    with ThreadServer(app) as s, Conn(s.port) as c:
        c.send(get("/hello") + get("/hello?a=1&b=%41") + b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.reply().body == b"hello GET /hello "
        assert c.reply().body == b"hello GET /hello a=1&b=%41"
        head = c.reply(head_only=True)
        assert head.status == 200 and head.headers["content-length"] == str(len("hello HEAD /hello "))
        c.send(b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        assert c.reply().body == b"got abc"
        assert app.routed_in_python == 0  # every one of these went by C's route number


def test_what_c_does_not_match_is_routed_by_the_app_with_the_same_answers():
    app = make_app()
    with ThreadServer(app) as s, Conn(s.port) as c:
        c.send(get("/hell%6F") + get("/users/7") + get("/nowhere") + b"POST /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.reply().body == b"hello GET /hello "  # percent-decoded by Python, same handler
        assert c.reply().body == b"user 7"
        assert c.reply().status == 404
        r = c.reply()
        assert r.status == 405 and r.headers["allow"] == "GET, HEAD"  # the path matched, the method did not
        c.send(b"GET http://t/hello?x HTTP/1.1\r\nHost: t\r\n\r\n")  # absolute-form: C matches its path
        assert c.reply().body == b"hello GET /hello x"
        assert app.routed_in_python == 4


def test_routes_made_or_replaced_after_the_start_are_served():
    app = make_app()
    with ThreadServer(app) as s:

        @app.route("/late")
        def late(req):
            return "late"

        @app.route("/hello")
        def replaced(req):
            return "replaced"

        assert request(s.port, get("/late")).body == b"late"  # a new path: the app routes it
        assert request(s.port, get("/hello")).body == b"replaced"  # C's number leads to the live table


def test_two_servers_on_one_loop_keep_their_own_routes():
    one, two = sluice.App(), sluice.App()
    one.route("/x")(lambda req: "one x")
    two.route("/y")(lambda req: "two y")
    two.route("/x")(lambda req: "two x")
    ready, ports, loop_box = threading.Event(), [], []

    def run():
        with sluice.Loop() as loop:
            loop_box.append(loop)
            servers = [HTTPServer(loop, app, "127.0.0.1", 0) for app in (one, two)]
            ports.extend(srv.port for srv in servers)
            ready.set()
            loop.run()
            for srv in servers:
                srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        p1, p2 = ports
        assert request(p1, get("/x")).body == b"one x"
        assert request(p2, get("/x")).body == b"two x"
        assert request(p2, get("/y")).body == b"two y"
        assert request(p1, get("/y")).status == 404  # /y is C's route 2 on this loop, but not server one's
    finally:
        loop_box[0].call_soon_threadsafe(loop_box[0].stop)
        t.join(10)


def test_serve_keeps_status_and_static_mounts_before_the_apps_exact_routes(tmp_path):
    (tmp_path / "a.txt").write_text("static a\n")
    app = make_app()
    app.route("/status")(lambda req: "the app's status")
    app.route("/files/a.txt")(lambda req: "the app's file")
    handler = ServeHandler(app, mounts=[("/files", StaticFiles(str(tmp_path), prefix="/files"))])
    assert set(handler.exact_routes()) == {"/hello", "/form"}
    with ThreadServer(handler) as s:
        assert request(s.port, get("/files/a.txt")).body == b"static a\n"
        assert request(s.port, get("/status")).body != b"the app's status"
        assert request(s.port, get("/hello")).body == b"hello GET /hello "


def test_thousands_of_routes_and_paths_c_cannot_match_all_served():
    app = sluice.App()
    for k in range(5000):  # past C's table (4096): the rest are routed by the app
        app.route(f"/r/{k}")(lambda req, k=k: f"route {k}")
    app.route("/caf\u00e9")(lambda req: "not latin-1 bytes on the wire")  # reached only percent-encoded
    app.route("/a%b")(lambda req: "a literal percent")
    with ThreadServer(app) as s, Conn(s.port) as c:
        for k in (0, 4095, 4096, 4999):
            c.send(get(f"/r/{k}"))
            assert c.reply().body == f"route {k}".encode()
        c.send(get("/caf%C3%A9") + get("/a%25b"))
        assert c.reply().status == 404  # App paths are decoded latin-1 of UTF-8: as before
        assert c.reply().body == b"a literal percent"


def test_a_text_answer_has_the_same_head_on_the_short_path_and_the_general_one():
    app = make_app()
    logged = []
    heads = []
    # without an access log a str answer takes sl_http_respond_text; with one, render + sl_http_respond
    for kw in ({}, {"access_log": lambda req, status, n: logged.append(status)}):
        with ThreadServer(app, **kw) as s:
            r = request(s.port, get("/hello"))
            heads.append((r.status, r.body, {k: v for k, v in r.headers.items() if k != "date"}))
    assert logged == [200]
    assert heads[0] == heads[1]
    assert heads[0][2]["content-type"] == "text/plain; charset=utf-8"


def test_a_get_route_answers_head_unless_head_has_its_own():
    app = sluice.App()

    @app.route("/g", methods=["GET"])
    def g(req):
        return "from get"

    @app.route("/p/{x}", methods=["GET", "POST"])
    def p(req, x):
        return f"p {x}"

    @app.route("/own", methods=["HEAD"])
    def own_head(req):
        return sluice.Response(b"", headers={"X-Own": "1"})

    @app.route("/own", methods=["GET"])  # after HEAD's own: does not take it over
    def own_get(req):
        return "get"

    @app.route("/post", methods=["POST"])
    def post_only(req):
        return "posted"

    head = b"HEAD %s HTTP/1.1\r\nHost: t\r\n\r\n"
    with ThreadServer(app) as s, Conn(s.port) as c:
        c.send(head % b"/g" + head % b"/p/7" + head % b"/own" + head % b"/post")
        r = c.reply(head_only=True)
        assert r.status == 200 and r.headers["content-length"] == str(len("from get"))
        r = c.reply(head_only=True)
        assert r.status == 200 and r.headers["content-length"] == str(len("p 7"))
        r = c.reply(head_only=True)
        assert r.status == 200 and r.headers["x-own"] == "1"
        r = c.reply(head_only=True)
        assert r.status == 405 and r.headers["allow"] == "POST"
        c.send(get("/own"))
        assert c.reply().body == b"get"


def test_no_status_leaves_status_and_metrics_to_the_app():
    app = sluice.App()

    @app.route("/status")
    def health(req):
        return "app ok"

    with ThreadServer(ServeHandler(app, status=False)) as s, Conn(s.port) as c:
        c.send(get("/status") + get("/metrics"))
        assert c.reply().body == b"app ok"
        assert c.reply().status == 404  # the app's: it has no /metrics
    with ThreadServer(ServeHandler(app)) as s, Conn(s.port) as c:
        c.send(get("/status"))
        assert b"Active connections" in c.reply().body  # the default: the server's page first
