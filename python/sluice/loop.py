"""Loop: the Python side of the C event loop.

A Loop owns one C loop (epoll) and drives it: each turn it runs the ready
callbacks, asks the timer wheel for the next deadline, and calls the C
``run_once`` with that timeout. C hands back the turn's events in one batch
(``_dispatch``), which reach the protocols of the connections they concern.
Signal handlers and KeyboardInterrupt run between turns; C releases the GIL
while it waits.

A Loop belongs to the thread that made it, and to the process: make it after
any fork, never before. Other threads use ``call_soon_threadsafe`` only.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from . import _binding
from ._binding import ffi, lib
from .log import log_limited, logger
from .wheel import Timer, TimerWheel

__all__ = ["Loop"]

EV_ACCEPT = lib.SL_EV_ACCEPT
EV_DATA = lib.SL_EV_DATA
EV_EOF = lib.SL_EV_EOF
EV_CLOSED = lib.SL_EV_CLOSED
EV_RESUME = lib.SL_EV_RESUME
EV_CONNECTED = lib.SL_EV_CONNECTED
EV_FD = lib.SL_EV_FD
EV_REQUESTS = lib.SL_EV_REQUESTS
EV_FRAMES = lib.SL_EV_FRAMES

# The fields of an event Python reads, unpacked in one pass per turn:
# kind, id, arg, err and len's low word (a block is at most 8 MiB); the
# pointers after them are read through the cdata when needed.
assert [ffi.offsetof("sl_event", f) for f in ("kind", "id", "arg", "err", "len")] == [0, 4, 8, 12, 16]
_EVENTS = struct.Struct(f"<IIIiI{ffi.sizeof('sl_event') - 20}x")
_EV_SIZE = _EVENTS.size
_FRAME_SIZE = ffi.sizeof("sl_frame")
_COPY_MAX = 64 * 1024  # SL_EV_DATA up to this size arrive in the turn's one buffer
_SHARE_MAX = 16 * 1024  # a turn's copied data up to this size is one bytes its requests share

_EPOLLIN = 0x001
_EPOLLOUT = 0x004


_unpack = ffi.unpack


def _ms(name: str, seconds: float) -> int:
    """seconds as whole milliseconds, rounded up (0 for a negative delay)."""
    try:
        return max(0, math.ceil(seconds * 1000))
    except (ValueError, OverflowError, TypeError):
        raise ValueError(f"{name}: expected a number of seconds (finite, below 1e305), got {seconds!r}") from None


class Loop:
    """An event loop over Sluice's C core (one per thread, made after fork)."""

    def __init__(self) -> None:
        self._handle = ffi.new_handle(self)
        callbacks = ffi.new("sl_callbacks *")
        callbacks.on_events = lib._sl_on_events
        callbacks.log = lib._sl_on_log
        c = lib.sl_loop_new(callbacks, self._handle)
        if c == ffi.NULL:
            raise OSError("sluice: could not create the event loop (epoll/eventfd)")
        self._c = c
        lib.sl_loop_set_copy_data(c, _COPY_MAX)
        self._pid = os.getpid()
        self._thread = threading.get_ident()
        self._conns: dict[int, Any] = {}  # C slot id -> Transport
        self._listeners: dict[int, Any] = {}  # listener id -> Server
        self._count = ffi.new("size_t *")  # an out-parameter for the calls that count
        self._http_route_ids: dict[bytes, int] = {}  # exact HTTP paths C matches (http/server.py)
        self._readers: dict[int, tuple] = {}
        self._writers: dict[int, tuple] = {}
        self._ready: deque[Timer] = deque()
        self._timers = TimerWheel(lib.sl_monotonic_ms())
        self._due: list[Timer] = []
        self._running = False
        self._stopping = False
        self._closed = False
        # Held by wake-ups (other threads', stop()) and by close() while it
        # marks the loop closed, so no wake-up writes to a freed loop's
        # eventfd. Reentrant: a signal handler may call stop() in a thread
        # that holds it; _waking counts the wake-ups under way, so that such
        # a handler's close() is refused instead of freeing the loop under it.
        self._wake_lock = threading.RLock()
        self._waking = 0
        self._error: BaseException | None = None
        self._signal_handlers: dict[int, Timer] = {}
        self._wakeup_pair: tuple[socket.socket, socket.socket] | None = None
        self._old_wakeup_fd = -1

    # ---- time and scheduling ------------------------------------------------

    def time(self) -> float:
        """Seconds on the loop's clock (CLOCK_MONOTONIC, cached per turn)."""
        return lib.sl_loop_now_ms(self._c) / 1000.0

    def now_ms(self) -> int:
        return lib.sl_loop_now_ms(self._c)

    def call_soon(self, callback: Callable, *args: Any) -> Timer:
        handle = Timer(0, callback, args)
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(self, callback: Callable, *args: Any) -> Timer:
        """From any thread: run callback in the loop's thread soon.
        RuntimeError once the loop is closed (as asyncio's)."""
        handle = self._threadsafe(callback, args)
        if handle is None:
            raise RuntimeError("sluice: the loop is closed")
        return handle

    def _threadsafe(self, callback: Callable, args: tuple) -> Timer | None:
        """call_soon_threadsafe for Sluice's own threads (a WSGI app's, a
        streamed body's producer, the resolver): None, and nothing queued,
        once the loop is closed, since what it would run has gone with it."""
        handle = Timer(0, callback, args)
        return handle if self._wake(handle) else None

    def _wake(self, handle: Timer | None) -> bool:
        """Queue handle (if any) and wake the loop, unless it is closed."""
        with self._wake_lock:
            self._waking += 1  # first: a close() from a signal handler after it is refused
            try:
                if self._closed:
                    return False
                if handle is not None:
                    self._ready.append(handle)
                lib.sl_loop_wake(self._c)
                return True
            finally:
                self._waking -= 1

    def call_later(self, delay: float, callback: Callable, *args: Any) -> Timer:
        """Run callback after delay seconds (never earlier; 1 ms resolution:
        up to about a millisecond late)."""
        ms = _ms("delay", delay)
        # the clock counts whole milliseconds: one more keeps a delay from
        # ending up to a millisecond early (now may be k.9 ms, read as k)
        when = lib.sl_monotonic_ms() + (ms + 1 if ms > 0 else 0)
        return self._timers.add(Timer(when, callback, args))

    def call_every(self, interval: float, callback: Callable, *args: Any) -> Timer:
        """Run callback every interval seconds until the handle is cancelled."""
        ms = _ms("interval", interval)
        if not interval > 0:
            raise ValueError(f"interval: must be a positive number of seconds, got {interval!r}")
        ms = max(1, ms)
        timer = Timer(lib.sl_monotonic_ms() + ms, callback, args, interval=ms)
        return self._timers.add(timer)

    # ---- running ------------------------------------------------------------

    def run(self) -> None:
        """Run until stop() is called."""
        if os.getpid() != self._pid:
            raise RuntimeError("sluice: this Loop was made before a fork; make a new one in the child")
        if self._running:
            raise RuntimeError("sluice: the loop is already running")
        if self._closed:
            raise RuntimeError("sluice: the loop is closed")
        self._running = True
        self._stopping = False
        try:
            while not self._stopping:
                self._run_once()
        finally:
            self._running = False

    def run_once(self, timeout: float | None = None) -> None:
        """One turn: ready callbacks, then wait for events up to timeout seconds."""
        self._run_once(None if timeout is None else max(0, math.ceil(timeout * 1000)))

    def stop(self) -> None:
        self._stopping = True
        self._wake(None)

    def _run_once(self, cap_ms: int | None = None) -> None:
        ready = self._ready
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle.cancelled:
                self._call(handle)
        if ready or self._stopping:
            timeout = 0
        else:
            deadline = self._timers.next_deadline()
            timeout = -1 if deadline is None else max(0, deadline - lib.sl_monotonic_ms())
            if cap_ms is not None and (timeout < 0 or timeout > cap_ms):
                timeout = cap_ms
        n = lib.sl_py_loop_run_once(self._c, timeout)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        _binding.raise_pending()
        if n < 0:
            raise OSError(-n, f"sluice: epoll_wait: {os.strerror(-n)}")
        due = self._due
        now = lib.sl_loop_now_ms(self._c)
        self._timers.advance(now, due)
        if due:
            ran = 0
            try:
                for timer in due:
                    ran += 1
                    if timer.cancelled:
                        continue
                    self._call(timer)
                    if timer.interval and not timer.cancelled:
                        self._again(timer, now)
            except BaseException:  # KeyboardInterrupt, SystemExit out of a callback (_call keeps the rest)
                # the timer that raised has run (a repeating one runs again
                # an interval on); the turn's others wait for the next turn
                raised = due[ran - 1]
                if raised.interval and not raised.cancelled and raised._slot is None:
                    self._again(raised, now)
                for timer in due[ran:]:
                    if not timer.cancelled:
                        self._timers.add(timer)
                raise
            finally:
                due.clear()

    def _again(self, timer: Timer, now: int) -> None:
        """A repeating timer's next run: an interval after this one was due,
        or an interval after it ran if the loop fell behind (no burst of
        catch-ups)."""
        timer.when += timer.interval
        if timer.when <= now:
            timer.when = lib.sl_monotonic_ms() + timer.interval
        self._timers.add(timer)

    def _call(self, handle: Timer) -> None:
        try:
            handle.callback(*handle.args)
        except Exception:
            log_limited("callback", 40, "sluice: callback %r raised", handle.callback, exc_info=True)

    def _dispatch(self, events, n: int, data, data_len: int) -> None:
        """Every event of one turn, from C. One failing protocol loses only
        its own connection; a BaseException is kept and raised after the turn,
        once the whole batch is accounted for.

        The events' fields are unpacked by one struct pass (no cdata per
        field, no integer made for the pointers), and
        the bytes of the small SL_EV_DATA come from the turn's one buffer:
        slicing it makes each `bytes` with a single copy."""
        turn_data = ffi.buffer(data, data_len) if data_len else None
        pos = 0
        conns = self._conns
        rb = records = None  # the turn's HTTP request records (bytes, and as words), read once if needed
        frames = None  # the turn's frame records, likewise
        shared = None  # the turn's copied data as one bytes, made once if needed
        i = -1  # the event's index (no enumerate: its tuple per event costs more than this add)
        for kind, cid, arg, err, size in _EVENTS.iter_unpack(ffi.buffer(events, n * _EV_SIZE)):
            i += 1
            try:
                if kind == EV_REQUESTS:
                    count = arg >> 1
                    if arg & 1:  # copied into the turn's buffer
                        at = pos
                        pos += size
                        if not count:
                            continue  # only a partial request (or dropped bytes)
                        if data_len <= _SHARE_MAX:  # one bytes for the turn's requests, no slice each
                            if shared is None:
                                shared = turn_data[:]
                            chunk = shared
                        else:
                            chunk, at = turn_data[at:pos], 0
                    elif count:
                        chunk, at = _unpack(events[i].data, size), 0
                    else:
                        continue
                    if rb is None:
                        rb = self._http_records()
                        records = memoryview(rb).cast("I")
                    conns[cid]._requests(chunk, at, rb, records, err, count)
                elif kind == EV_DATA:
                    if arg:  # copied into the turn's buffer
                        chunk = turn_data[pos : pos + size]
                        pos += size
                    else:
                        chunk = _unpack(events[i].data, size)
                    transport = conns[cid]
                    receive = transport._receive
                    if receive is not None:
                        receive(chunk)
                    else:
                        transport._data(chunk)
                elif kind == EV_FRAMES:
                    if arg & 1:  # copied into the turn's buffer
                        at = pos
                        pos += size
                        if data_len <= _SHARE_MAX:
                            if shared is None:
                                shared = turn_data[:]
                            chunk = shared
                        else:
                            chunk, at = turn_data[at:pos], 0
                    else:
                        chunk, at = _unpack(events[i].data, size) if size else b"", 0
                    if frames is None:
                        frames = self._frame_records()
                    first = err * _FRAME_SIZE
                    conns[cid]._protocol._frames(chunk, at, frames[first : first + (arg >> 2) * _FRAME_SIZE], arg & 2)
                elif kind == EV_ACCEPT:
                    self._listeners[arg]._accept(events[i].conn, cid)
                elif kind == EV_CLOSED:
                    transport = conns.pop(cid, None)
                    if transport is not None:
                        transport._lost(arg, err)
                elif kind == EV_EOF:
                    conns[cid]._eof()
                elif kind == EV_RESUME:
                    conns[cid]._resume()
                elif kind == EV_CONNECTED:
                    conns[cid]._connected(err)
                elif kind == EV_FD:
                    self._fd_ready(cid, arg)
            except Exception as exc:
                self._protocol_failed(kind, cid, exc)
            except BaseException as exc:  # KeyboardInterrupt, SystemExit
                if self._error is None:
                    self._error = exc

    def _frame_records(self) -> bytes:
        n = self._count
        p = lib.sl_frame_turn_records(self._c, n)
        return ffi.buffer(p, n[0] * _FRAME_SIZE)[:] if n[0] else b""

    def _http_records(self) -> bytes:
        """A copy of the turn's request records (a deferred request keeps its own)."""
        n = self._count
        p = lib.sl_http_turn_records(self._c, n)
        return ffi.buffer(p, n[0] * 4)[:] if n[0] else b""

    def _protocol_failed(self, kind: int, cid: int, exc: Exception) -> None:
        transport = self._conns.get(cid) if kind != EV_FD else None
        if transport is None:
            what = "a protocol's connection_lost" if kind == EV_CLOSED else "an event callback"
            log_limited("loop", 40, "sluice: %s raised", what, exc_info=exc)
            return
        if hasattr(transport, "_extra"):  # a Transport: connection_lost gets the exception, as asyncio's
            if transport._extra is None:
                transport._extra = {}
            transport._extra["_failure"] = exc
        log_limited(
            "protocol",
            40,
            "sluice: %s raised; closing its connection",
            type(getattr(transport, "_protocol", transport)).__qualname__,
            exc_info=exc,
        )
        transport.abort()

    # ---- descriptors and signals ------------------------------------------

    def add_reader(self, fd: int, callback: Callable, *args: Any) -> None:
        self._readers[fd] = (callback, args)
        self._watch(fd)

    def remove_reader(self, fd: int) -> bool:
        found = self._readers.pop(fd, None) is not None
        self._watch(fd)
        return found

    def add_writer(self, fd: int, callback: Callable, *args: Any) -> None:
        self._writers[fd] = (callback, args)
        self._watch(fd)

    def remove_writer(self, fd: int) -> bool:
        found = self._writers.pop(fd, None) is not None
        self._watch(fd)
        return found

    def _watch(self, fd: int) -> None:
        events = (_EPOLLIN if fd in self._readers else 0) | (_EPOLLOUT if fd in self._writers else 0)
        rc = lib.sl_watch_fd(self._c, fd, fd, events)
        if rc < 0 and events:
            self._readers.pop(fd, None)
            self._writers.pop(fd, None)
            raise OSError(-rc, f"sluice: cannot watch fd {fd}: {os.strerror(-rc)}")

    def _fd_ready(self, fd: int, revents: int) -> None:
        if revents & ~_EPOLLOUT and fd in self._readers:
            callback, args = self._readers[fd]
            callback(*args)
        if revents & (_EPOLLOUT | 0x018) and fd in self._writers:  # OUT, ERR, HUP
            callback, args = self._writers[fd]
            callback(*args)

    def add_signal_handler(self, sig: int, callback: Callable, *args: Any) -> None:
        """Run callback in the loop (between turns) when sig arrives."""
        if threading.get_ident() != threading.main_thread().ident:
            raise RuntimeError("sluice: signal handlers can only be set in the main thread")
        if self._wakeup_pair is None:
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._wakeup_pair = (r, w)
            self._old_wakeup_fd = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
            self.add_reader(r.fileno(), self._drain_wakeup)
        signal.signal(sig, self._on_signal)  # first: a signal that cannot be caught (SIGKILL) is not recorded
        self._signal_handlers[sig] = Timer(0, callback, args)

    def remove_signal_handler(self, sig: int) -> bool:
        if self._signal_handlers.pop(sig, None) is None:
            return False
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        return True

    def _on_signal(self, sig: int, frame: Any) -> None:
        # Python runs this between bytecodes of the main thread; the wakeup
        # fd has already woken epoll_wait. Only queue: the work runs in turn.
        handle = self._signal_handlers.get(sig)
        if handle is not None:
            self._ready.append(Timer(0, handle.callback, handle.args))

    def _drain_wakeup(self) -> None:
        try:
            while self._wakeup_pair[0].recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # ---- TCP (tcp.py holds the types) --------------------------------------

    def create_server(self, protocol_factory: Callable, host: str | None = "127.0.0.1", port: int = 0, **kw):
        """Listen on host:port (or on sock=) and serve protocol_factory()'s protocols."""
        from .tcp import Server

        return Server(self, protocol_factory, host, port, **kw)

    def create_connection(self, protocol_factory: Callable, host: str, port: int, **kw):
        """Connect to host:port; protocol.connection_made() follows once connected."""
        from .tcp import connect

        return connect(self, protocol_factory, host, port, **kw)

    # ---- figures and teardown -----------------------------------------------

    def stats(self) -> dict:
        """The C loop's counters (accepted, reads, writes, closes by reason...)."""
        from .stats import loop_stats

        return loop_stats(self._c)

    def close(self) -> None:
        """Close every connection (without callbacks) and free the C loop."""
        if self._closed:
            return
        if self._running:
            raise RuntimeError("sluice: cannot close a running loop")
        self._not_waking()
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)
        if self._wakeup_pair is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            for s in self._wakeup_pair:
                s.close()
            self._wakeup_pair = None
        for server in list(self._listeners.values()):
            server.close()
        for transport in self._conns.values():
            transport._detach()
        self._conns.clear()
        with self._wake_lock:
            self._not_waking()
            self._closed = True
            c, self._c = self._c, ffi.NULL
        lib.sl_loop_free(c)
        logger.debug("loop closed")

    def _not_waking(self) -> None:
        """RuntimeError if this thread is in the middle of a wake-up (a signal
        handler that interrupted it): freeing the loop would pull it from
        under that wake-up. Another thread's wake-up is waited for."""
        with self._wake_lock:  # held by this thread (reentrant) or waited for
            if self._waking:
                raise RuntimeError("sluice: cannot close the loop in the middle of its wake-up (a signal handler?)")

    def __enter__(self) -> Loop:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
