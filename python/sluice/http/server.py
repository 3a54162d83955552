"""The HTTP/1.1 server: connections over the C parser, handlers called once
per request.

C parses each request (csrc/http1_parse.c), refuses the bad ones itself
(400, 413, 414, 431, 501, 505, with a lingering close), and hands Python a
turn's complete requests per connection at once; Python calls the handler
once per request, and C renders the response head. A turn's pipelined
answers leave in one write.

A handler is ``handler(request) -> response`` where response is a
``Response``, ``bytes`` or ``str`` (200), a ``(status, headers, body)`` tuple,
a ``dict`` / ``list`` (200, JSON), a ``FileResponse`` (sendfile) or
``request.defer()`` (answered later, in order).
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from .._binding import ffi, lib
from ..log import log_limited
from ..tcp import Server
from ..wheel import IdleWheel
from .request import ERROR_BODY, TEXT, Deferred, FileResponse, Rendered, Request, Response, direct, header_block, render
from .stream import BodyStream
from .streaming import StreamedAnswer, streamed_response

log = logging.getLogger("sluice.http")

_HEAD = lib.SL_HTTP_HEAD
_KEEP_ALIVE = lib.SL_HTTP_F_KEEP_ALIVE
_REFUSED = lib.SL_HTTP_REFUSED
_PIECE = lib.SL_HTTP_BODY_PIECE
_REFUSAL = object()  # a queue entry: the refused request's answer, sent in its turn
_ANNOUNCED = lib.SL_HTTP_F_ANNOUNCED
_BODY_END = lib.SL_HTTP_F_BODY_END
MAX_STREAM_BODY = 1 << 30  # a streamed body's default limit (max_stream_body)
_REC = lib.SL_HTTP_REC_WORDS
_OF_BODY = lib.SL_HTTP_LENGTH_OF_BODY
# a record's method, flags, version, route (or status), body offset and
# length, bytes used, headers (csrc/http1.h, SL_HTTP_R_*)
_HOT = struct.Struct(f"=4I{4 * (lib.SL_HTTP_R_BODY_OFF - 4)}x4I").unpack_from
_respond = lib.sl_http_respond
_respond_text = lib.sl_http_respond_text
_new = object.__new__
_TEXT_LEN = len(TEXT)
_NO_CONTENT = frozenset([204, 304])  # answers without a body or a length (C refuses 1xx as an answer)
_MAX_QUEUED = 64  # answers waiting behind a deferred one before the connection stops reading


class HTTPConnection:
    """One HTTP connection (what a Transport is for raw TCP)."""

    __slots__ = ("_loop", "_c", "_id", "_server", "_closing", "_closed", "draining", "close_reason", "_peer", "_queue")
    __slots__ += ("_stream", "_held", "_draining", "_sending")

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
        self._queue: deque | None = None  # answers waiting behind a deferred one
        self._stream: BodyStream | None = None  # the body still coming of a streamed request
        self._held = 0  # why reading is paused: 1 answers queued, 2 a stream's reader behind
        self._draining = False  # _drain is sending queued answers
        self._sending: StreamedAnswer | None = None  # the answer whose body is on its way

    def _requests(self, raw: bytes, start: int, rb: bytes, rec: memoryview, i: int, count: int) -> None:
        """A turn's complete requests of this connection: their bytes are
        raw[start:], their records start at word i of the turn's records (rb
        as bytes, rec the same as 32-bit words)."""
        server = self._server
        routes = server._routes
        while count:
            count -= 1
            # one unpack for the fields used here (no int made for the others)
            m, flags, version, route, body_at, body_len, used, nh = _HOT(rb, i << 2)
            if m >= _PIECE:
                if m == _PIECE:  # a streamed body's bytes
                    s = self._stream
                    if s is not None:
                        if body_len:
                            b = start + body_at
                            s._feed(raw[b : b + body_len])
                        if flags & _BODY_END:
                            self._stream = None
                            s._finish()
                    start += used
                else:  # refused: the last record; its answer goes after the ones before it
                    if self._queue is not None:
                        self._queue.append([None, _REFUSAL, 0, False])
                    else:
                        self._refuse()
                    self._stream_cut("the request was refused")
                    server.refused += 1
                    server.status_classes[3 if route < 500 else 4] += 1  # (route: the status, refused)
                    log.debug("refused a request with %d (%r)", route, self)
                i += _REC
                continue
            req = _new(Request)  # Request(self, raw, start, rec, i) without an __init__ frame
            req.conn = self
            req._raw = raw
            req._start = start
            req._rec = rec
            req._i = i
            req._stream = None
            if flags & _ANNOUNCED and not self._announced(req):
                return  # buffered (it comes again whole) or refused (413): the last record
            server.requests += 1
            try:
                fns = routes[route]  # this server's handlers of C's route number, by method code
                fn = fns[m] if fns is not None else None
                result = fn(req) if fn is not None else server._handle(req)
            except Exception as exc:
                log_limited("http-handler", 40, "sluice: the handler raised on %r; answering 500", req, exc_info=exc)
                result = None
            tr = type(result)
            if (
                (tr is str or tr is Rendered)
                and self._queue is None
                and server.access_log is None
                and req._stream is None
            ):
                # the common cases in full here (as _answer, without its
                # other kinds): a text answer or a WSGI one, no access log
                keep = flags & _KEEP_ALIVE and not self.draining
                if tr is str:
                    body = result.encode()
                    r = _respond_text(self._c, body, len(body), version, keep, m == _HEAD)
                    k = 1
                else:
                    status, extra, body, of = result.status, result.extra, result.body, result.length
                    if of is None:
                        of = _OF_BODY
                    if status in _NO_CONTENT:
                        body, of = b"", -2
                    r = _respond(self._c, status, extra, len(extra), body, len(body), of, version, keep, m == _HEAD)
                    if r == -22:
                        log_limited("http-render", 40, "sluice: cannot render status %r for %r", status, req)
                    k = status // 100 - 1
                if r == -22:
                    self._answer(req, None, version, m == _HEAD)  # a 500 (which lingers itself when not keep)
                elif k < 5:
                    server.status_classes[k] += 1
                if not keep:
                    if r != -22:
                        self._linger()
                    return
            else:
                head = m == _HEAD
                if tr is Response:
                    result = streamed_response(result) or result
                    tr = type(result)
                if self._queue is not None or tr is Deferred or tr is StreamedAnswer:
                    first = self._queue is None
                    if first:
                        self._queue = deque()
                    self._queue.append([req, result, version, head])
                    if len(self._queue) == _MAX_QUEUED:  # a client pipelining behind a slow answer: stop reading
                        self._hold(1, True)
                    if first and tr is StreamedAnswer:
                        self._drain()
                elif not self._answer(req, result, version, head):
                    return  # the connection lingers, then closes: the rest is not answered
            start += used
            i += _REC + 4 * nh

    def _announced(self, req: Request) -> bool:
        """A head whose body has not all come: stream it to the handler
        (True: call it now) or have C buffer it as for any request."""
        wants = self._server.handler.wants_stream
        try:
            stream = bool(wants(req))
        except Exception as exc:
            log_limited("http-handler", 40, "sluice: wants_stream raised on %r; buffering", req, exc_info=exc)
            stream = False
        if lib.sl_http_body_mode(self._c, 1 if stream else 0) == 413:
            server = self._server
            server.refused += 1
            server.status_classes[3] += 1
            self._linger()
            return False
        if stream:
            req._stream = self._stream = BodyStream(self)
        return stream

    def _stream_cut(self, why: str) -> None:
        s = self._stream
        if s is not None:
            self._stream = None
            s._finish(ConnectionError(why))

    def _hold(self, why: int, on: bool) -> None:
        """Pause reading for a reason (1: answers queued, 2: a body's reader
        behind); read again once no reason is left."""
        was = self._held
        self._held = was | why if on else was & ~why
        if self._closed or bool(was) == bool(self._held):
            return
        if self._held:
            lib.sl_conn_pause_reading(self._c)
        else:
            lib.sl_conn_resume_reading(self._c)

    def _answer(self, req: Request, result: Any, version: int, head: bool) -> bool:
        """Send one answer; False once the connection is closing."""
        server = self._server
        keep = bool(req._rec[req._i + 1] & _KEEP_ALIVE) and not self.draining
        r = -22
        if req._stream is not None and not req._stream._done:
            req._stream._drop_rest()  # answered: the rest of the body is read and dropped
        if result is not None:
            try:
                if type(result) is FileResponse:
                    status, length = result.status, 0 if result.no_body else result.length
                    r = self._send_file(result, version, keep, head)
                else:
                    of = _OF_BODY
                    if type(result) is Rendered:  # WSGI's answers
                        status, extra, body = result.status, result.extra, result.body
                        if result.length is not None:  # a HEAD: the length the application gave
                            of = result.length
                    else:
                        status, extra, body = render(result)
                    if status in _NO_CONTENT:  # no content, no length (RFC 9110 §6.4.1)
                        body, of = b"", -2
                    length = len(body)
                    r = _respond(self._c, status, extra, len(extra), body, length, of, version, keep, head)
                    if r == -22:
                        log_limited("http-render", 40, "sluice: cannot render status %r for %r", status, req)
            except Exception as exc:
                log_limited("http-handler", 40, "sluice: bad answer to %r; answering 500", req, exc_info=exc)
        if r == -22:  # EINVAL: raised, or a head C could not render (a bad status)
            status, length = 500, len(ERROR_BODY)
            _respond(self._c, 500, TEXT, len(TEXT), ERROR_BODY, length, _OF_BODY, version, keep, head)
        k = status // 100 - 1
        if 0 <= k < 5:
            server.status_classes[k] += 1
        if server.access_log is not None:
            server.access_log(req, status, 0 if head else length)
        if not keep:
            self._linger()
        return keep

    def _refuse(self) -> None:
        """Send the refusal C keeps for the refused record, then linger."""
        if not self._closed and lib.sl_http_refuse(self._c) > 0:
            self._linger()

    def _linger(self) -> None:
        """C lingers after a closing answer; end it after the linger time."""
        self._loop.call_later(self._server._ms[2] / 1000, self._linger_done)

    def _linger_done(self) -> None:
        if not self._closed:
            lib.sl_http_expire(self._c)

    def _resolve(self, deferred: Deferred, result: Any) -> None:
        """A deferred answer is ready (in the loop's thread): send what can go."""
        deferred.result, deferred.done = result, True
        self._drain()

    def _drain(self) -> None:
        """Send the queued answers that are ready, in order; a streamed one
        holds the rest until its body has gone."""
        if self._draining:
            return  # the loop below is running: it sees what changed
        self._draining = True
        try:
            q = self._queue
            while q:
                req, res, version, head = q[0]
                if type(res) is Deferred:
                    if not res.done:
                        return
                    res = res.result
                    if type(res) is Response:
                        res = streamed_response(res) or res
                if type(res) is StreamedAnswer:
                    if not res._started:
                        if self._closed:
                            res._stop()
                        else:
                            keep = bool(req._rec[req._i + 1] & _KEEP_ALIVE) and not self.draining
                            self._sending = res
                            res._start(self, req, version, keep, head)
                    if not res.finished:
                        return
                    self._sending = None
                    q.popleft()
                    if self._closed or not res._keep:
                        q.clear()
                    continue
                q.popleft()
                if res is _REFUSAL:  # the refused request's turn: nothing is answered after it
                    self._refuse()
                    q.clear()
                elif self._closed or not self._answer(req, res, version, head):
                    q.clear()
            self._queue = None
            self._hold(1, False)
        finally:
            self._draining = False

    def _stream_answer_done(self, answer: StreamedAnswer) -> None:
        """A streamed answer's body has gone (or will not): the next may go."""
        self._drain()

    def _send_file(self, f: FileResponse, version: int, keep: bool, head: bool) -> int:
        try:
            extra = f.raw_headers if f.raw_headers is not None else header_block(f.headers)
            if f.no_body:
                return _respond(self._c, f.status, extra, len(extra), b"", 0, -2, version, keep, 1)
            c, n = self._c, len(extra)
            return lib.sl_http_respond_file(c, f.status, extra, n, f.fd, f.offset, f.length, version, keep, head)
        finally:
            if f.close_fd:
                os.close(f.fd)

    def _eof(self) -> None:
        self._close(lib.SL_CLOSE_PEER, graceful=True)

    def _resume(self) -> None:
        if self._sending is not None:
            self._sending._resume()

    def _lost(self, reason: int, err: int) -> None:
        from ..stats import CLOSE_REASONS

        self._closed = True
        self._closing = True
        self.close_reason = CLOSE_REASONS.get(reason, str(reason))
        self._stream_cut(f"the connection closed ({self.close_reason})")
        q = list(self._queue or ())  # before _stop: it lets _drain run, which empties the queue
        if self._sending is not None:
            self._sending._stop()
        if q:  # streamed answers not started: their producers must stop too (their close())
            for entry in q:
                res = entry[1].result if type(entry[1]) is Deferred else entry[1]
                if type(res) is StreamedAnswer:
                    res._stop()
        self._server._forget(self)

    def _close(self, reason: int, graceful: bool) -> None:
        if self._closed or (self._closing and graceful):
            return
        self._closing = True
        lib.sl_conn_close(self._c, reason, 1 if graceful else 0)

    def _detach(self) -> None:
        self._closed = True

    def _expire(self) -> None:
        if self._closed:
            return
        r = lib.sl_http_expire(self._c)
        if r == 408:
            self._linger()  # a 408 lingers too
            self._stream_cut("the body did not arrive in time (408)")
        elif r > 0:  # a refusal that waited too long for the answers before it
            self._linger()

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
        limits = dict(limits or {})
        streams = bool(getattr(handler, "streams", False)) and hasattr(handler, "wants_stream")
        stream_max = limits.pop("max_stream_body", MAX_STREAM_BODY)
        for key, value in limits.items():
            if not hasattr(lim, key):
                raise ValueError(f"http limits: unknown key {key!r}")
            if int(value) <= 0:
                raise ValueError(f"http limits: {key} must be a positive number")
            setattr(lim, key, int(value))
        if int(stream_max) < lim.max_body:
            raise ValueError("http limits: max_stream_body must be at least max_body")
        lim.max_stream_body = int(stream_max) if streams else 0
        name = server_name.encode()
        if lib.sl_http_configure(loop._c, lim, name, len(name)) != 0:
            raise ValueError("server_name: at most 63 bytes")
        kw.setdefault("max_input", lim.max_request_line + lim.max_head + lim.max_body + 8192)
        kw.pop("idle_timeout", None)
        self.handler = handler
        self._handle = direct(handler)  # what a request without a C-matched route calls
        self._routes = _register_routes(loop, handler)
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
        if conn._stream is not None and not conn._held & 2:  # a body coming: the client's time counts
            return lib.sl_http_deadline(conn._c, *self._ms) - self._ms[1]
        if conn._sending is not None and conn._sending._waiting:  # the client is not taking the body
            return lib.sl_http_deadline(conn._c, *self._ms) - self._ms[1]
        if conn._queue or conn._held:  # an answer is being worked on, or a reader is behind: not idle
            return self._loop.now_ms()
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


def _register_routes(loop, handler) -> list:
    """Have C match the handler's exact paths (handler.exact_routes(), if it
    has one): C's route number -> the handlers by method code (None for 0
    and for another server's path). The numbers belong to the loop (every
    HTTP server on it shares one table of paths); each server maps only
    its own."""
    mine: list = [None] * (lib.SL_HTTP_MAX_ROUTES + 1)
    exact = getattr(handler, "exact_routes", None)
    if exact is None:
        return mine
    ids = loop._http_route_ids  # raw path -> C's number
    had = len(ids)
    for path, table in exact().items():
        try:
            raw = path.encode("latin-1")  # Request.path's form of a path without '%'
        except UnicodeEncodeError:
            continue  # such a path is never a request's: __call__ sees it
        if not raw.startswith(b"/") or any(c in raw for c in b"\0%?") or len(raw) > lib.SL_HTTP_MAX_ROUTE_LEN:
            continue  # C cannot match it byte for byte: left to the handler
        if raw not in ids:
            if len(ids) == lib.SL_HTTP_MAX_ROUTES:
                continue  # past C's table: left to the handler
            ids[raw] = len(ids) + 1
        mine[ids[raw]] = table
    if len(ids) > had:
        blob = b"\0".join(ids)
        rc = lib.sl_http_set_routes(loop._c, blob, len(blob))
        if rc != 0:
            for raw in list(ids)[had:]:
                del ids[raw]
            raise OSError(-rc, f"sluice: cannot set the HTTP routes: {os.strerror(-rc)}")
    return mine


def http_builder(loop, sockets, app, options: dict) -> list:
    """A worker's HTTP server on the master's sockets (arbiter builder)."""
    handler = app
    if options.get("wsgi"):
        from .wsgi import WSGIHandler

        handler = WSGIHandler(app)
    opts = {k: v for k, v in options.items() if k != "wsgi"}
    return [HTTPServer(loop, handler, sock=sockets, **opts)]
