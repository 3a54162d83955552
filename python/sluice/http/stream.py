"""A request body read as it arrives: ``request.stream``.

On a route made with ``stream=True`` the handler is called as soon as the
request's head is in; the body's bytes follow into the request's
``BodyStream`` as C hands them over, each piece once, and what was taken
leaves the connection's input. The handler either reads it from another
thread (``read``, ``readline``, iteration: blocking, like a file) after
returning ``request.defer()``, or takes the pieces on the loop's thread with
``subscribe(on_data, on_end)``. A reader that falls behind stops the
connection reading (the client waits, TCP holds the rest) until it catches
up, so memory stays bounded however large the body. Once the request is
answered, what is still to come is read and dropped.

On any other route ``request.stream`` is the whole body, already there.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator

HIGH_WATER = 1 << 20  # bytes held for a reader before the connection stops reading
LOW_WATER = 256 << 10  # ... and reads again below this
# A reader waiting for more than is held (read() of the whole body, read(n)
# past what came, readline() with no newline yet) lifts the pause: it takes
# nothing until more comes, so a pause would wait for it for ever. What it
# may hold is then bounded by the body limit (max_stream_body).


class BodyStream:
    """A request body, as it arrives: ``read``, ``readline``, ``readlines``,
    iteration by lines (a file's interface, so it is also WSGI's
    ``wsgi.input``), ``chunks()`` for the pieces as they came, or
    ``subscribe`` on the loop's thread. A body cut short (the client left,
    a timeout, a framing error) raises ``ConnectionError`` from the reads."""

    __slots__ = ("_conn", "_cond", "_chunks", "_buffered", "_received", "_done", "_error", "_on_data", "_on_end")
    __slots__ += ("_discard", "_paused", "_waiting")

    def __init__(self, conn=None, whole: bytes | None = None):
        self._conn = conn  # None: the whole body is given
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._received = 0
        self._done = whole is not None
        self._error: Exception | None = None
        self._on_data: Callable[[bytes], None] | None = None
        self._on_end: Callable[[Exception | None], None] | None = None
        self._discard = False
        self._paused = False
        self._waiting = 0  # readers waiting for more than is held
        if whole:
            self._chunks.append(whole)
            self._buffered = self._received = len(whole)

    @property
    def received(self) -> int:
        """Body bytes that have come so far."""
        return self._received

    @property
    def done(self) -> bool:
        """True once the whole body (or its failure) has come."""
        return self._done

    # ---- the loop's side -------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._received += len(data)
        if self._on_data is not None:
            self._on_data(data)
            return
        if self._discard:
            return
        with self._cond:
            self._chunks.append(data)
            self._buffered += len(data)
            self._cond.notify_all()
            pause = self._buffered > HIGH_WATER and not self._paused and not self._waiting
            if pause:
                self._paused = True
        if pause:
            self._conn._hold(2, True)

    def _finish(self, error: Exception | None = None) -> None:
        with self._cond:
            if self._done:
                return
            self._done = True
            self._error = error
            self._cond.notify_all()
        if self._on_end is not None:
            self._on_end(error)

    def _drop_rest(self) -> None:
        """The request was answered: drop what is held and what still comes."""
        with self._cond:
            self._discard = True
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()
        self._unpause()

    def _unpause(self) -> None:
        if self._paused:
            self._paused = False
            conn = self._conn
            if threading.get_ident() == conn._loop._thread:
                conn._hold(2, False)
            else:
                conn._loop._threadsafe(conn._hold, (2, False))

    # ---- the reader's side ------------------------------------------------

    def _wait(self, enough: Callable[[], bool]) -> None:
        """Wait (with the lock held) until enough() or the end."""
        while not enough() and not self._done:
            if self._conn is not None and threading.get_ident() == self._conn._loop._thread:
                raise RuntimeError(
                    "request.stream: reading would block the loop; return request.defer() and read from "
                    "another thread, or take the pieces with subscribe()"
                )
            if self._paused:  # what is held is not enough: read on (see HIGH_WATER)
                self._unpause()
            self._waiting += 1
            try:
                self._cond.wait()
            finally:
                self._waiting -= 1
        if self._error is not None and not enough():
            raise ConnectionError(f"the request body was cut short: {self._error}")
        if self._discard:
            raise ConnectionError("the request was answered: the rest of its body was dropped")

    def _take(self, size: int) -> bytes:
        """Up to size bytes (all if size < 0) of what is held (lock held)."""
        out = []
        want = self._buffered if size < 0 else min(size, self._buffered)
        got = 0
        while got < want:
            chunk = self._chunks.popleft()
            if got + len(chunk) > want:
                cut = want - got
                self._chunks.appendleft(chunk[cut:])
                chunk = chunk[:cut]
            out.append(chunk)
            got += len(chunk)
        self._buffered -= got
        return out[0] if len(out) == 1 else b"".join(out)

    def _taken(self) -> None:
        if self._paused and self._buffered < LOW_WATER:
            self._unpause()

    def read(self, size: int | None = -1) -> bytes:
        """size bytes (fewer only at the end), or the whole rest (size < 0)."""
        size = -1 if size is None else size
        with self._cond:
            self._wait(lambda: size >= 0 and self._buffered >= size)
            data = self._take(size)
        self._taken()
        return data

    def read1(self, size: int = -1) -> bytes:
        """What is held, at least one byte unless at the end (up to size)."""
        with self._cond:
            self._wait(lambda: self._buffered > 0)
            data = self._take(size)
        self._taken()
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """One line with its b"\\n" (or what is left at the end; at most size bytes)."""
        size = -1 if size is None else size

        def enough() -> bool:
            if 0 <= size <= self._buffered:
                return True
            return any(b"\n" in c for c in self._chunks)

        with self._cond:
            self._wait(enough)
            n = 0
            for chunk in self._chunks:
                k = chunk.find(b"\n")
                if k >= 0:
                    n += k + 1
                    break
                n += len(chunk)
            data = self._take(n if size < 0 else min(n, size))
        self._taken()
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def chunks(self) -> Iterator[bytes]:
        """The body's pieces as they come (blocking between them)."""
        while True:
            data = self.read1()
            if not data:
                return
            yield data

    def subscribe(self, on_data: Callable[[bytes], None], on_end: Callable[[Exception | None], None]) -> None:
        """On the loop's thread: on_data(piece) for each piece (what is held
        first), then on_end(None), or on_end(error) if the body was cut short.
        Nothing is held for a subscriber: take what you need in on_data."""
        with self._cond:
            held = list(self._chunks)
            self._chunks.clear()
            self._buffered = 0
            done = self._done
            self._on_data, self._on_end = on_data, on_end
        for chunk in held:
            on_data(chunk)
        if self._paused:
            self._unpause()
        if done:
            on_end(self._error)

    def __repr__(self) -> str:
        state = "done" if self._done else "coming"
        return f"<BodyStream {self._received} bytes, {state}>"
