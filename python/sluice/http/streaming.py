"""Response bodies sent as they are made.

A native ``Response`` whose body is an iterable of bytes (a generator, say),
and a WSGI application's iterable that is not a list and declares no
Content-Length of 1 MiB or less, are not collected: the head goes out once
the first non-empty block is there (PEP 3333), then each block as it comes,
framed as chunks on HTTP/1.1 (``Transfer-Encoding: chunked``), as they are
with a declared Content-Length, or up to a close on HTTP/1.0.

A ``StreamedAnswer`` is filled one of two ways: pulled on the loop from an
iterator, one block per loop turn, so other connections are served between
blocks; or pushed from another thread (WSGI ``--threads``) with ``push``,
which waits while more than 1 MiB is on its way. Either way a client that
reads slowly holds the body back (the connection's output high-water mark),
not the server's memory. Later pipelined answers on the connection wait
behind it; a body cut short (the producer raised, or fewer bytes than the
declared length) closes the connection, so the client cannot take it for a
whole one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from .._binding import lib
from ..log import log_limited
from .request import ERROR_BODY, TEXT

log = logging.getLogger("sluice.http")

BACKLOG_MAX = 1 << 20  # bytes pushed from a thread and not yet written before push() waits
COLLECT_MAX = 1 << 20  # a WSGI body declared at most this long is collected and sent in one write
_CHUNK_END = b"0\r\n\r\n"


class StreamedAnswer:
    """status, extra (rendered header lines), length (declared, or None),
    blocks (already made, sent first), source (an iterator pulled on the
    loop; None: blocks come by push), close (called once, at the end)."""

    __slots__ = ("status", "extra", "length", "source", "close", "_blocks", "_cond", "_backlog", "_conn")
    __slots__ += ("_started", "_ended", "_error", "_stopped", "_sent", "_waiting", "_mode", "_keep", "_req")
    __slots__ += ("finished",)

    def __init__(
        self,
        status: int,
        extra: bytes,
        length: int | None = None,
        blocks: list[bytes] | None = None,
        source: Iterator[bytes] | None = None,
        close: Callable[[], None] | None = None,
    ):
        self.status = status
        self.extra = extra
        self.length = length
        self.source = source
        self.close = close
        self._blocks = [b for b in blocks or () if b]
        self._cond = threading.Condition()
        self._backlog = sum(map(len, self._blocks))
        self._conn = None
        self._req = None
        self._started = False
        self._ended = False  # the producer has made its last block
        self._error: BaseException | None = None
        self._stopped = False  # nothing more is wanted (sent whole, HEAD, or the connection went)
        self._sent = 0
        self._waiting = False  # the client is behind: wait for the connection's resume
        self._mode = "length"
        self._keep = True
        self.finished = False  # the answer is done with: the next one may go

    # ---- the producer's side (any thread) ---------------------------------

    def push(self, block: bytes) -> bool:
        """Send block (from a thread other than the loop's); waits while the
        backlog is over BACKLOG_MAX. False once nothing more is wanted.
        TypeError for a block that is not bytes (the producer then ends the
        answer with it: the body is cut short)."""
        if not isinstance(block, (bytes, bytearray, memoryview)):
            raise TypeError(f"a streamed body block must be bytes, got {type(block).__name__}")
        if not block:
            return not self._stopped
        with self._cond:
            while self._backlog > BACKLOG_MAX and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return False
            self._backlog += len(block)
            conn = self._conn
            if conn is None:  # not started yet: kept for the start
                self._blocks.append(block)
                return True
        if conn._loop._threadsafe(self._take, (block,)) is None:
            with self._cond:  # the loop is closed: nothing will send it, or anything after it
                self._stopped = True
                self._cond.notify_all()
            return False
        return True

    def add(self, block: bytes) -> None:
        """A block written between the blocks of the source (WSGI's write()
        while the iterable runs): sent in its place, from either side."""
        conn = self._conn
        if conn is None or threading.get_ident() != conn._loop._thread:
            # the producer's thread, or not started yet: push() holds the lock _start takes
            self.push(block)
            return
        if not isinstance(block, (bytes, bytearray, memoryview)):
            raise TypeError(f"a streamed body block must be bytes, got {type(block).__name__}")
        if not self._stopped:
            self._write(block)  # on the loop, inside _pump's next(): this block comes before the next one

    def end(self, error: BaseException | None = None) -> None:
        """No more blocks (error: the body is cut short)."""
        with self._cond:
            conn = self._conn
            if conn is None:
                self._ended, self._error = True, error
                return
        conn._loop._threadsafe(self._end_here, (error,))

    # ---- the loop's side ---------------------------------------------------

    def _start(self, conn, req, version: int, keep: bool, head: bool) -> None:
        """The answer's turn has come: the head, then the blocks so far."""
        with self._cond:
            self._conn, self._req, self._started = conn, req, True
            blocks, self._blocks = self._blocks, []
            self._backlog -= sum(map(len, blocks))
            self._cond.notify_all()
        status = self.status
        no_body = head or status in (204, 304)
        if self.length is not None:
            self._mode, length = "length", self.length
        elif version == 1:
            self._mode, length = "chunked", -1
        else:
            self._mode, length, keep = "close", -2, False
        if status in (204, 304):
            length = -2
        self._keep = keep
        flag = 1 if no_body else lib.SL_HTTP_STREAM_HEAD
        r = lib.sl_http_respond(conn._c, status, self.extra, len(self.extra), b"", 0, length, version, keep, flag)
        if r == -22:  # a head C cannot render (a status that is no final answer): nothing went, a 500 goes
            log_limited("http-render", 40, "sluice: cannot render status %r for %r", status, req)
            self.status = status = 500
            no_body = True
            body_len = len(ERROR_BODY)
            of_body = lib.SL_HTTP_LENGTH_OF_BODY
            r = lib.sl_http_respond(conn._c, 500, TEXT, len(TEXT), ERROR_BODY, body_len, of_body, version, keep, head)
        server = conn._server
        k = status // 100 - 1
        if r >= 0 and 0 <= k < 5:
            server.status_classes[k] += 1
        if r < 0 or no_body:
            self._stop(sent_whole=r >= 0)
            if r >= 0 and not keep:
                conn._linger()
            return
        for block in blocks:
            self._write(block)
        if self._ended:
            self._end_here(self._error)
        elif self.source is not None and not self._stopped:
            conn._loop.call_soon(self._pump)

    def _take(self, block: bytes) -> None:
        """A pushed block reached the loop: written, or held while the client is behind."""
        if self._stopped:
            return
        if self._waiting:
            self._blocks.append(block)  # still counted in the backlog: push() waits
            return
        self._write(block)
        self._taken(len(block))

    def _taken(self, n: int) -> None:
        with self._cond:
            self._backlog -= n
            if self._backlog <= BACKLOG_MAX:
                self._cond.notify_all()

    def _write(self, block: bytes) -> None:
        conn = self._conn
        if self._mode == "length":
            room = self.length - self._sent
            if len(block) > room:
                log_limited("http-stream", 30, "sluice: %r: the body is longer than its Content-Length", self._req)
                block = block[:room]
        if not block:
            return
        data = b"%x\r\n%s\r\n" % (len(block), block) if self._mode == "chunked" else block
        r = lib.sl_conn_write(conn._c, data, len(data))
        if r < 0:  # the connection is closing
            self._stop()
            return
        self._sent += len(block)
        if r > conn._server._high:
            self._waiting = True

    def _pump(self) -> None:
        """Pull the next block (loop mode), one per turn while the client keeps up."""
        if self._stopped or self._waiting:
            return
        try:
            block = next(self.source)
        except StopIteration:
            self._end_here(None)
            return
        except Exception as exc:
            self._end_here(exc)
            return
        try:
            if not isinstance(block, (bytes, bytearray, memoryview)):
                raise TypeError(f"the body's iterable yielded {type(block).__name__}, not bytes")
            self._write(block)
        except Exception as exc:
            self._end_here(exc)  # the body is cut short: the connection closes
            return
        if not self._stopped and not self._waiting:
            self._conn._loop.call_soon(self._pump)

    def _resume(self) -> None:
        """The client took the output: go on."""
        if self._waiting and not self._stopped:
            self._waiting = False
            if self.source is not None:
                self._pump()
                return
            held = self._blocks
            while held and not self._waiting and not self._stopped:
                block = held.pop(0)
                self._write(block)
                self._taken(len(block))
            if not held and self._ended and not self._stopped:
                self._end_here(self._error)

    def _end_here(self, error: BaseException | None) -> None:
        if self._stopped:
            return
        if self._blocks and self._started:  # pushed blocks still held for a slow client: after them
            self._ended, self._error = True, error
            return
        conn = self._conn
        short = self._mode == "length" and self._sent < self.length
        if error is not None or short:
            why = f"the body was cut short ({error!r})" if error else "fewer bytes than its Content-Length"
            log_limited("http-stream", 40, "sluice: %r: %s; closing", self._req, why, exc_info=error)
            self._stop()
            conn._close(lib.SL_CLOSE_LOCAL, graceful=True)  # what was sent leaves, then the close says it ended
            return
        if self._mode == "chunked":
            lib.sl_conn_write(conn._c, _CHUNK_END, len(_CHUNK_END))
        lib.sl_http_finish(conn._c, 1 if self._keep else 0)
        if not self._keep:
            conn._linger()
        self._stop(sent_whole=True)

    def _stop(self, sent_whole: bool = False) -> None:
        """Nothing more is wanted: wake a waiting producer, close the source,
        let the connection's next answer go."""
        if self._stopped:
            return
        self._stopped = True
        with self._cond:
            self._cond.notify_all()
        close, self.close = self.close, None
        if close is not None:
            try:
                close()
            except Exception as exc:
                log_limited("http-stream", 40, "sluice: closing the body of %r raised", self._req, exc_info=exc)
        self.finished = True
        if not sent_whole:
            self._keep = False
        conn = self._conn
        if conn is not None:
            server = conn._server
            if server.access_log is not None and self._req is not None:
                server.access_log(self._req, self.status, self._sent)
            conn._stream_answer_done(self)

    def __repr__(self) -> str:
        return f"<StreamedAnswer {self.status} {self._mode} {self._sent} bytes sent>"


def _is_bytes(body) -> bool:
    return isinstance(body, (bytes, bytearray, memoryview, str))


def streamed_response(result) -> StreamedAnswer | None:
    """A native Response whose body is an iterable (not bytes/str) as a
    StreamedAnswer pulled on the loop; None for any other result."""
    from .request import Response, header_block

    if type(result) is not Response or _is_bytes(result.body):
        return None
    body = result.body
    if not hasattr(body, "__iter__"):
        return None
    headers, length = [], None
    for name, value in result.headers:
        if str(name).lower() == "content-length":
            length = int(value)
        elif str(name).lower() not in ("transfer-encoding", "connection"):
            headers.append((name, value))
    close = getattr(body, "close", None)
    return StreamedAnswer(int(result.status), header_block(headers), length, source=iter(body), close=close)
