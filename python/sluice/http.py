"""HTTP/1.1 over the C parser: native handlers and the server that runs them.

C parses each request (csrc/http1_parse.c), refuses the bad ones itself
(400, 413, 414, 431, 501, 505, with a lingering close), and hands Python a
turn's complete requests per connection at once; Python calls the handler
once per request, and C renders the response head. A turn's pipelined
answers leave in one write.

A handler is ``handler(request) -> response`` where response is a
``Response``, ``bytes`` or ``str`` (200), a ``(status, headers, body)`` tuple,
or a ``dict`` / ``list`` (200, JSON). ``App`` routes by exact path::

    app = sluice.http.App()

    @app.route("/hello")
    def hello(request):
        return "hello"
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from ._binding import ffi, lib
from .log import log_limited
from .tcp import Server
from .wheel import IdleWheel

__all__ = ["App", "FileResponse", "HTTPServer", "Request", "Response"]

log = logging.getLogger("sluice.http")

_METHODS = ("", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT")
_HEAD = lib.SL_HTTP_HEAD
_REFUSED = lib.SL_HTTP_REFUSED
_KEEP_ALIVE = lib.SL_HTTP_F_KEEP_ALIVE
_REC = lib.SL_HTTP_REC_WORDS
_OF_BODY = lib.SL_HTTP_LENGTH_OF_BODY
_respond = lib.sl_http_respond
_TEXT = b"Content-Type: text/plain; charset=utf-8\r\n"
_JSON = b"Content-Type: application/json\r\n"
_BINARY = b"Content-Type: application/octet-stream\r\n"


class Request:
    """One request. ``method``, ``path`` (percent-decoded, without the
    query), ``query`` (raw), ``target`` (raw), ``version`` ("HTTP/1.1"),
    ``body`` (bytes), ``headers`` (a list of (name, value) str pairs, names
    lower-case, made on first use) and ``header(name)``."""

    __slots__ = (
        "method", "target", "version", "keep_alive", "body", "conn", "_raw", "_start", "_rec", "_i", "_headers",
    )  # fmt: skip

    def __init__(self, conn, raw: bytes, start: int, rec: list[int], i: int):
        m = rec[i]
        self.method = _METHODS[m] if m else raw[start + rec[i + 4] : start + rec[i + 4] + rec[i + 5]].decode("latin-1")
        t = start + rec[i + 8]
        self.target = raw[t : t + rec[i + 9]].decode("latin-1")
        self.version = "HTTP/1.1" if rec[i + 2] else "HTTP/1.0"
        self.keep_alive = bool(rec[i + 1] & _KEEP_ALIVE)
        blen = rec[i + 13]
        b = start + rec[i + 12]
        self.body = raw[b : b + blen] if blen else b""
        self.conn = conn
        self._raw = raw
        self._start = start
        self._rec = rec
        self._i = i
        self._headers: list[tuple[str, str]] | None = None

    @property
    def path(self) -> str:
        """The target's path, percent-decoded (as WSGI's PATH_INFO: UTF-8
        bytes seen as latin-1), without the query."""
        raw = self._path_raw()
        return unquote_to_bytes(raw).decode("latin-1") if "%" in raw else raw

    def _path_raw(self) -> str:
        rec, i, s = self._rec, self._i, self._start
        p = self._raw[s + rec[i + 6] : s + rec[i + 6] + rec[i + 7]].decode("latin-1")
        return p.partition("?")[0]

    @property
    def query(self) -> str:
        rec, i, s = self._rec, self._i, self._start
        return self._raw[s + rec[i + 6] : s + rec[i + 6] + rec[i + 7]].decode("latin-1").partition("?")[2]

    @property
    def headers(self) -> list[tuple[str, str]]:
        if self._headers is None:
            rec, raw, s = self._rec, self._raw, self._start
            out = []
            for j in range(self._i + _REC, self._i + _REC + 4 * rec[self._i + 15], 4):
                name = raw[s + rec[j] : s + rec[j] + rec[j + 1]].decode("latin-1").lower()
                value = raw[s + rec[j + 2] : s + rec[j + 2] + rec[j + 3]].decode("latin-1")
                out.append((name, value))
            self._headers = out
        return self._headers

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header name (case-insensitive); several are joined with ", "."""
        name = name.lower()
        values = [v for n, v in self.headers if n == name]
        return ", ".join(values) if values else default

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} {self.version}>"


class Response:
    """status, headers (a list of (name, value)), body (bytes or str)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, body: bytes | str = b"", status: int = 200, headers: Iterable[tuple[str, str]] = ()):
        self.status = status
        self.headers = list(headers)
        self.body = body


class FileResponse:
    """len bytes of the open file fd from offset, sent by sendfile (the
    caller keeps fd open; the connection dups it). no_body: a 304."""

    __slots__ = ("fd", "offset", "length", "status", "headers", "no_body")

    def __init__(self, fd: int, offset: int, length: int, status: int = 200, headers=(), no_body: bool = False):
        self.fd = fd
        self.offset = offset
        self.length = length
        self.status = status
        self.headers = list(headers)
        self.no_body = no_body


def _header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    out = []
    for name, value in headers:
        if any(c in name or c in value for c in "\r\n\0"):
            raise ValueError(f"response header {name!r}: CR, LF or NUL in it")
        out.append(f"{name}: {value}\r\n")
    return "".join(out).encode("latin-1")


def _render(result: Any) -> tuple[int, bytes, bytes]:
    """A handler's result as (status, extra header lines, body)."""
    if isinstance(result, bytes):
        return 200, _BINARY, result
    if isinstance(result, str):
        return 200, _TEXT, result.encode()
    if isinstance(result, Response):
        status, headers, body = result.status, result.headers, result.body
    elif isinstance(result, tuple) and len(result) == 3:
        status, headers, body = result
    elif isinstance(result, dict | list):
        return 200, _JSON, json.dumps(result).encode()
    else:
        raise TypeError(f"a handler returned {type(result).__name__}; expected Response, bytes, str, dict or tuple")
    if isinstance(body, str):
        body = body.encode()
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers = [*headers, ("Content-Type", "text/plain; charset=utf-8")]
    return int(status), _header_block(headers), bytes(body)


class App:
    """Routes by exact path (and method); 404 and 405 otherwise."""

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Callable]] = {}

    def route(self, path: str, methods: Iterable[str] = ("GET", "HEAD")):
        def add(fn: Callable) -> Callable:
            table = self.routes.setdefault(path, {})
            for m in methods:
                table[m.upper()] = fn
            return fn

        return add

    def __call__(self, request: Request) -> Any:
        table = self.routes.get(request.path)
        if table is None:
            return 404, [], "not found\n"
        fn = table.get(request.method)
        if fn is None:
            return 405, [("Allow", ", ".join(sorted(table)))], "method not allowed\n"
        return fn(request)


class HTTPConnection:
    """One HTTP connection (what a Transport is for raw TCP)."""

    __slots__ = ("_loop", "_c", "_id", "_server", "_closing", "_closed", "draining", "close_reason", "_peer")

    def __init__(self, loop, c, conn_id: int, server: HTTPServer):
        self._loop = loop
        self._c = c
        self._id = conn_id
        self._server = server
        self._closing = False
        self._closed = False
        self.draining = server.draining
        self.close_reason: str | None = None
        self._peer = None

    def _requests(self, raw: bytes, rec: list[int], i: int, count: int) -> None:
        server = self._server
        handler = server.handler
        start = 0
        for _ in range(count):
            if rec[i] == _REFUSED:
                server.refused += 1
                server.status_classes[3 if rec[i + 3] < 500 else 4] += 1
                log.debug("refused a request with %d (%r)", rec[i + 3], self)
                i += _REC
                continue
            req = Request(self, raw, start, rec, i)
            server.requests += 1
            keep = req.keep_alive and not self.draining
            head = rec[i] == _HEAD
            try:
                result = handler(req)
                if type(result) is FileResponse:
                    status, length = result.status, 0 if result.no_body else result.length
                    r = self._send_file(result, rec[i + 2], keep, head)
                else:
                    status, extra, body = _render(result)
                    length = len(body)
                    r = _respond(self._c, status, extra, len(extra), body, length, _OF_BODY, rec[i + 2], keep, head)
            except Exception as exc:
                log_limited("http-handler", 40, "sluice: the handler raised on %r; answering 500", req, exc_info=exc)
                r = -22
            if r == -22:  # EINVAL: raised, or a head C could not render (a bad status)
                status, length = 500, 22
                _respond(self._c, 500, _TEXT, len(_TEXT), b"internal server error\n", 22, _OF_BODY, rec[i + 2], keep, 0)
            k = status // 100 - 1
            if 0 <= k < 5:
                server.status_classes[k] += 1
            if server.access_log is not None:
                server.access_log(req, status, 0 if head else length)
            if not keep:
                return  # the connection lingers, then closes: the rest is not answered
            start += rec[i + 14]
            i += _REC + 4 * rec[i + 15]

    def _send_file(self, f: FileResponse, version: int, keep: bool, head: bool) -> int:
        extra = _header_block(f.headers)
        if f.no_body:
            return _respond(self._c, f.status, extra, len(extra), b"", 0, -2, version, keep, 1)
        c, n = self._c, len(extra)
        return lib.sl_http_respond_file(c, f.status, extra, n, f.fd, f.offset, f.length, version, keep, head)

    def _eof(self) -> None:
        self._close(lib.SL_CLOSE_PEER, graceful=True)

    def _resume(self) -> None:
        pass

    def _lost(self, reason: int, err: int) -> None:
        from .stats import CLOSE_REASONS

        self._closed = True
        self._closing = True
        self.close_reason = CLOSE_REASONS.get(reason, str(reason))
        self._server._forget(self)

    def _close(self, reason: int, graceful: bool) -> None:
        if self._closed or (self._closing and graceful):
            return
        self._closing = True
        lib.sl_conn_close(self._c, reason, 1 if graceful else 0)

    def _detach(self) -> None:
        self._closed = True

    def _expire(self) -> None:
        if not self._closed:
            lib.sl_http_expire(self._c)
            self._server._wheel.add(self)  # a 408 lingers: look again

    def stop_requested(self) -> None:
        self.draining = True

    def close(self) -> None:
        self._close(lib.SL_CLOSE_LOCAL, graceful=True)

    def abort(self) -> None:
        self._close(lib.SL_CLOSE_ABORT, graceful=False)

    def is_closing(self) -> bool:
        return self._closing

    @property
    def peer(self) -> tuple[str, int] | None:
        """(host, port) of the client, looked up on first use."""
        if self._peer is None and not self._closed:
            out = ffi.new("char[64]")
            port = lib.sl_conn_peername(self._c, out, 64)
            if port >= 0:
                self._peer = (ffi.string(out).decode(), port)
        return self._peer

    def __repr__(self) -> str:
        return f"<HTTPConnection #{self._id}>"


class HTTPServer(Server):
    """An HTTP/1.1 server: handler(request) -> response for each request.

    keepalive: seconds an idle keep-alive connection is kept (default 8);
    header_timeout: seconds a request head may take from its first byte
    (default 10; then 408, so a client dripping bytes is cut off); linger:
    seconds a closing connection reads and drops what still comes (2).
    limits: sl_http_limits fields (max_request_line, max_header_line,
    max_head, max_headers, max_body), each with its documented default.
    access_log(request, status, body_bytes): called after each response.
    """

    conn_protocol = lib.SL_PROTO_HTTP1

    def __init__(
        self,
        loop,
        handler: Callable[[Request], Any],
        host: str | None = "127.0.0.1",
        port: int = 0,
        *,
        keepalive: float = 8.0,
        header_timeout: float = 10.0,
        linger: float = 2.0,
        server_name: str = "sluice",
        limits: dict | None = None,
        access_log: Callable[[Request, int, int], None] | None = None,
        **kw: Any,
    ):
        if keepalive <= 0 or header_timeout <= 0 or linger <= 0:
            raise ValueError("keepalive, header_timeout, linger: must be positive numbers of seconds")
        lim = ffi.new("sl_http_limits *")
        lib.sl_http_limits_default(lim)
        for key, value in (limits or {}).items():
            if not hasattr(lim, key):
                raise ValueError(f"http limits: unknown key {key!r}")
            if int(value) <= 0:
                raise ValueError(f"http limits: {key} must be a positive number")
            setattr(lim, key, int(value))
        name = server_name.encode()
        if lib.sl_http_configure(loop._c, lim, name, len(name)) != 0:
            raise ValueError("server_name: at most 63 bytes")
        kw.setdefault("max_input", lim.max_request_line + lim.max_head + lim.max_body + 8192)
        kw.pop("idle_timeout", None)
        self.handler = handler
        self.access_log = access_log
        self.status_classes = [0, 0, 0, 0, 0]  # responses 1xx..5xx
        self.requests = 0
        self.refused = 0
        self.draining = False
        self._ms = (round(header_timeout * 1000), round(keepalive * 1000), round(linger * 1000))
        super().__init__(loop, None, host, port, idle_timeout=None, **kw)
        self._wheel = IdleWheel(self._ms[1], self._effective_last_active, HTTPConnection._expire, loop.now_ms(), 8)
        self._wheel_timer = loop.call_every(self._wheel.tick_ms / 1000, self._tick)

    def _effective_last_active(self, conn: HTTPConnection) -> int:
        # The wheel kicks at last_active + keepalive: shift the connection's
        # own deadline (head, body, idle or linger) onto that scale.
        if conn._closed:
            return 0
        return lib.sl_http_deadline(conn._c, *self._ms) - self._ms[1]

    def _tick(self) -> None:
        self._wheel.advance(self._loop.now_ms())

    def _accept(self, c, conn_id: int) -> None:
        conn = HTTPConnection(self._loop, c, conn_id, self)
        self._loop._conns[conn_id] = conn
        self.transports[conn] = None
        self.accepted += 1
        self._wheel.add(conn)

    def _forget(self, conn) -> None:
        self.transports.pop(conn, None)
        self._wheel.discard(conn)

    def request_stop(self) -> None:
        """Drain: each connection's next response says Connection: close."""
        self.draining = True
        for conn in self.transports:
            conn.stop_requested()

    def close(self) -> None:
        super().close()
        if self._wheel_timer is not None:
            self._wheel_timer.cancel()
            self._wheel_timer = None


def http_builder(loop, sockets, app, options: dict) -> list:
    """A worker's HTTP server on the master's sockets (arbiter builder)."""
    handler = app
    if options.get("wsgi"):
        from .wsgi import WSGIHandler

        handler = WSGIHandler(app)
    opts = {k: v for k, v in options.items() if k != "wsgi"}
    return [HTTPServer(loop, handler, sock=sockets, **opts)]
