"""Framed messages with heartbeats: ``Router``, ``MessageServer``,
``MessageConnection``, ``MessageClient``.

The frame format and the heartbeat rules are docs/protocol.md's. C finds the
frames (each connection's input is scanned after the turn's reads, a partial
frame kept in C for the next turn) and hands a turn's complete frames over
as records with their bytes; Python routes them by type, answers PINGs itself
and decides the timeouts. A handler runs once per complete frame, and all the
frames a connection got in one loop turn are handled in one batch, in
order::

    router = Router()

    @router.on(0x10)
    def hello(conn, payload):  # payload: a read-only memoryview, valid during the call
        conn.send(0x11, b"hello " + payload)

    server = MessageServer(loop, router, "127.0.0.1", 7001)  # idle peers closed after 8 s

A ``MessageClient`` pings a quiet server, declares it dead after ``misses``
unanswered PINGs and reconnects with exponential backoff and full jitter.
Everything here runs in the loop's thread.
"""

from __future__ import annotations

import logging
import random as _random
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from ._binding import ffi, lib
from .log import log_limited
from .tcp import Protocol, Server, Transport

__all__ = [
    "Router",
    "MessageServer",
    "MessageConnection",
    "MessageClient",
    "Backoff",
    "PING",
    "PONG",
    "APP_MIN",
    "MAX_TYPE",
    "DEFAULT_MAX_PAYLOAD",
    "HEARTBEAT_MAX_PAYLOAD",
]

log = logging.getLogger("sluice.messages")

PING = lib.SL_FRAME_PING
PONG = lib.SL_FRAME_PONG
APP_MIN = lib.SL_FRAME_APP_MIN  # application types are APP_MIN .. MAX_TYPE
MAX_TYPE = 255
DEFAULT_MAX_PAYLOAD = lib.SL_FRAME_DEFAULT_MAX_PAYLOAD
HEARTBEAT_MAX_PAYLOAD = lib.SL_FRAME_HEARTBEAT_MAX  # 64: a PING or PONG of more is refused on its header

# The header in Python: one struct call per frame sent, no crossing into C.
# magic, version, type, flags, reserved (0), payload length; big-endian.
# Without flags (the common case) its first eight bytes come from a table by
# type and only the length is converted.
_MAGIC = b"SL"
_VERSION = lib.SL_FRAME_VERSION
_HEADER = struct.Struct(">8sI").pack
_HEADER_FLAGS = struct.Struct(">2sBBHHI").pack
_PREFIX = [_MAGIC + bytes((_VERSION, kind, 0, 0, 0, 0)) for kind in range(MAX_TYPE + 1)]
_JOIN_MAX = 16 * 1024  # a payload up to this size is joined to its header: one write

# A frame record (sl_frame) as C lays it out: payload offset, payload length,
# flags, type, a pad byte. Type 0 ends a connection's records when the
# decoder refused a frame; its length is then the error (-SL_FRAME_*).
_RECORDS = struct.Struct("=IIHBx").iter_unpack
_RECORD_SIZE = ffi.sizeof("sl_frame")
assert struct.calcsize("=IIHBx") == _RECORD_SIZE
# The largest max_payload: a frame is held whole in one input block (8 MiB).
MAX_PAYLOAD_LIMIT = lib.SL_FRAME_MAX_PAYLOAD_LIMIT

# MessageConnection._draining
_SERVING, _STOP_REQUESTED, _ANSWERED = 0, 1, 2

Handler = Callable[["MessageConnection", memoryview], Any]
Fallback = Callable[["MessageConnection", int, memoryview], Any]


def _check_app_type(kind: int) -> None:
    if not APP_MIN <= kind <= MAX_TYPE:
        raise ValueError(f"message type: expected {APP_MIN}..{MAX_TYPE} (0..15 are the protocol's), got {kind!r}")


class Router:
    """Handlers by message type.

    ``@router.on(TYPE)`` registers ``handler(conn, payload)`` for one
    application type (16..255); ``@router.fallback`` registers
    ``handler(conn, type, payload)`` for the types without one. A frame no
    handler takes is dropped and counted (``unhandled`` in the stats).
    ``payload`` is a read-only memoryview of the frame's bytes, valid during
    the call only: it is released when the handler returns, so that Sluice
    stays free to change where the bytes live. ``bytes(payload)`` keeps a
    copy; a buffer taken from it (numpy.frombuffer, ffi.from_buffer) must not
    outlive the call either (the release would fail, and the connection with
    it). ``conn.flags`` holds the frame's flags during the call."""

    def __init__(self) -> None:
        self._handlers: list[Handler | None] = [None] * (MAX_TYPE + 1)
        self._fallback: Fallback | None = None

    def on(self, kind: int) -> Callable[[Handler], Handler]:
        _check_app_type(kind)

        def register(handler: Handler) -> Handler:
            if self._handlers[kind] is not None:
                raise ValueError(f"message type 0x{kind:02x} already has a handler")
            self._handlers[kind] = handler
            return handler

        return register

    def fallback(self, handler: Fallback) -> Fallback:
        self._fallback = handler
        return handler


class _Context:
    """What the connections of one server or client share: the loop, the
    router, the largest payload, the callbacks and the counters."""

    __slots__ = (
        "loop", "router", "max_payload", "on_connect", "on_disconnect",
        "frames", "pings", "pongs", "unhandled", "protocol_errors",
    )  # fmt: skip

    def __init__(self, loop, router: Router, max_payload: int, on_connect, on_disconnect):
        if not 1 <= max_payload <= MAX_PAYLOAD_LIMIT:
            raise ValueError(f"max_payload: expected 1 .. {MAX_PAYLOAD_LIMIT} bytes, got {max_payload!r}")
        self.loop = loop
        self.router = router
        self.max_payload = max_payload
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.frames = 0  # every complete frame received, heartbeats included
        self.pings = 0
        self.pongs = 0
        self.unhandled = 0
        self.protocol_errors = 0

    def stats(self) -> dict:
        return {
            "frames": self.frames,
            "pings": self.pings,
            "pongs": self.pongs,
            "unhandled": self.unhandled,
            "protocol_errors": self.protocol_errors,
        }


class MessageConnection(Protocol):
    """One peer of the message protocol, as handlers see it.

    ``send(type, payload, flags)`` queues a frame, which leaves at the end of
    the loop's turn with the rest of the turn's output; ``close()`` closes
    once the output has left, ``abort()`` at once; ``peer`` is the peer's
    address; ``flags`` holds the flags of the frame being handled. Sends
    after a close are dropped."""

    __slots__ = ("_ctx", "_transport", "_partial", "_draining", "_out", "flags")

    def __init__(self, ctx: _Context):
        self._ctx = ctx
        self._transport: Transport | None = None
        self._partial = 0  # a frame is still arriving (C holds its bytes)
        self._draining = _SERVING
        # While a turn's frames are handled, the frames sent wait here and
        # leave in one transport write after the last handler (or before a
        # close): one crossing into C for the answers to one batch.
        self._out: list[bytes] | None = None
        self.flags = 0

    # ---- for handlers --------------------------------------------------------

    @property
    def peer(self) -> Any:
        """The peer's address as socket.getpeername() gives it (None if
        unknown). Read on first use, so after the connection is gone only
        if it was read before; with an on_disconnect callback it always is."""
        return self._transport.get_extra_info("peername")

    def send(self, type: int, payload: bytes | bytearray | memoryview = b"", flags: int = 0) -> None:
        """Queue one frame of an application type (16..255); flags 0..0xFFFF."""
        if not APP_MIN <= type <= MAX_TYPE:
            _check_app_type(type)
        if not 0 <= flags <= 0xFFFF:
            raise ValueError(f"flags: expected 0..0xFFFF, got {flags!r}")
        out = self._out
        cls = payload.__class__  # `type` is the frame's type here
        if out is None or self._draining or (cls is not bytes and cls is not memoryview):
            self._write(type, flags, payload)
            return
        # the common case, _write's in line: a handler answering in a batch
        n = len(payload) if cls is bytes else payload.nbytes
        if n > _JOIN_MAX:
            self._write(type, flags, payload)
            return
        header = _HEADER_FLAGS(_MAGIC, _VERSION, type, flags, 0, n) if flags else _HEADER(_PREFIX[type], n)
        try:
            out.append(header + payload)  # a copy: the payload may be a view that ends with the call
        except TypeError:  # a strided view: _write copies it (try costs nothing until it raises)
            self._write(type, flags, payload)

    def close(self) -> None:
        if self._out:
            self._flush_out()
        self._transport.close()

    def abort(self) -> None:
        self._out = None  # what waits is dropped, as the transport's output
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __repr__(self) -> str:
        return f"<sluice.MessageConnection {self._transport!r}>"

    # ---- the protocol ----------------------------------------------------------

    def connection_made(self, transport: Transport) -> None:
        self._transport = transport
        if self._ctx.on_disconnect is not None:
            # read now: once the socket is closed it cannot be asked, and
            # on_disconnect is where a peer's address is most often logged
            transport.get_extra_info("peername")
        if self._ctx.on_connect is not None:
            self._ctx.on_connect(self)

    def pause_writing(self) -> None:
        # The peer is not taking its answers (past the high-water mark): stop
        # reading its frames until it does, so a client that only sends
        # cannot make the server queue answers until the pool is spent.
        self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._partial = 0
        if self._ctx.on_disconnect is not None:
            self._ctx.on_disconnect(self, self._transport.close_reason)

    def _frames(self, data: bytes, at: int, records: bytes, partial: int) -> None:
        """One turn's complete frames, from the loop, handed to their handlers
        in order: their bytes are data[at:], their records (offset from at,
        length, flags, type) packed in records. partial: a frame is still
        arriving. Nothing after a frame that closed the connection (a handler
        closed it, a bad heartbeat, a frame the decoder refused) is handled."""
        self._partial = partial
        transport = self._transport
        if transport._closing or not records:
            return  # asyncio drops what arrives after close(); so does a protocol error
        ctx = self._ctx
        router = ctx.router
        handlers = router._handlers
        view = memoryview(data)
        ctx.frames += len(records) // _RECORD_SIZE
        self._out = []
        try:
            for off, n, flags, kind in _RECORDS(records):
                off += at
                if kind >= APP_MIN:
                    self.flags = flags
                    payload = view[off : off + n]
                    handler = handlers[kind]
                    if handler is not None:
                        handler(self, payload)
                    elif router._fallback is not None:
                        router._fallback(self, kind, payload)
                    else:
                        ctx.unhandled += 1
                    payload.release()
                elif kind:  # the decoder lets no reserved type through: PING or PONG
                    payload = view[off : off + n]
                    self._heartbeat(kind, flags, payload)
                    payload.release()
                else:  # the decoder refused this frame; n is the error
                    ctx.frames -= 1
                    why = ffi.string(lib.sl_frame_error_name(-n)).decode()
                    if -n == lib.SL_FRAME_TOO_BIG:
                        why += f" (the largest payload taken is {ctx.max_payload} bytes)"
                    self._protocol_error(why)
                    return
                if transport._closing:
                    return
        finally:
            out = self._out  # a big payload or a close may have flushed (and replaced) it
            self._out = None
            if out:  # the answers to this batch, in one write
                transport._write_bytes(out[0] if len(out) == 1 else b"".join(out))
        if self._draining == _ANSWERED and not partial:
            transport.close()

    def stop_requested(self) -> None:
        """The server is stopping gracefully (TERM, a reload): the frames
        received are all handled, and the connection closes after its next
        answer (any frame it sends, a PONG included) once no frame is half
        received. So a client gets the answer to what it sent, then EOF, and
        reconnects to a worker that still accepts. A silent connection stays
        until the idle wheel or the graceful timeout ends it."""
        if self._draining == _SERVING:
            self._draining = _STOP_REQUESTED

    # ---- inside ---------------------------------------------------------------

    def _flush_out(self) -> None:
        out = self._out
        self._out = []
        self._transport._write_bytes(out[0] if len(out) == 1 else b"".join(out))

    def _heartbeat(self, kind: int, flags: int, payload: memoryview) -> None:
        # (a heartbeat over HEARTBEAT_MAX_PAYLOAD never gets here: C refuses its header)
        if kind == PING:
            self._ctx.pings += 1
            self._write(PONG, flags, payload)  # queued behind the earlier answers
        else:
            self._ctx.pongs += 1  # asked for or not: a sign of life, nothing more

    def _write(self, kind: int, flags: int, payload) -> None:
        tp = type(payload)
        if tp is not bytes and tp is not memoryview and tp is not bytearray:
            if isinstance(payload, str):
                raise TypeError("send: the payload must be bytes-like, not str (encode it)")
            payload = memoryview(payload)
            tp = memoryview
        if tp is memoryview and not payload.contiguous:
            payload = payload.tobytes()  # a strided view: copied once, as C takes contiguous bytes
            tp = bytes
        n = len(payload) if tp is bytes else payload.nbytes if tp is memoryview else memoryview(payload).nbytes
        header = _HEADER_FLAGS(_MAGIC, _VERSION, kind, flags, 0, n) if flags else _HEADER(_PREFIX[kind], n)
        out = self._out
        if n <= _JOIN_MAX:
            if out is not None:
                out.append(header + payload)  # a copy: the payload may be a view that ends with the call
            else:
                self._transport.write(header + payload)
        else:  # no Python copy of a big payload; C appends both to the output
            if out:
                self._flush_out()
            self._transport.write(header)
            self._transport.write(payload)
        if self._draining == _STOP_REQUESTED:
            self._draining = _ANSWERED
            self._ctx.loop.call_soon(self._close_if_whole)

    def _close_if_whole(self) -> None:
        if not self._partial:
            self._transport.close()

    def _protocol_error(self, detail: str) -> None:
        self._ctx.protocol_errors += 1
        log_limited(
            "message protocol error",
            logging.WARNING,
            "sluice: closing the message connection of %s: %s",
            self.peer,
            detail,
            log=log,
        )
        if self._out:
            self._flush_out()  # the answers to the frames before the bad one leave first
        self._transport._close(lib.SL_CLOSE_PROTOCOL, graceful=True)


class MessageServer(Server):
    """A TCP server of the message protocol: the router's handlers get the
    application frames, PINGs are answered without them, idle peers closed.

    idle_timeout: seconds a peer may stay silent before it is closed with
    reason "idle" (default 8, checked by a wheel of idle_buckets buckets, as
    the seed; None: never); any bytes count as life. max_payload: the largest
    payload accepted (default 1 MiB); a bigger frame, or any other framing
    error, closes its connection with reason "protocol error" once the frames
    before it are handled. on_connect(conn) and on_disconnect(conn, reason)
    are called as peers come and go (reason: "peer closed", "idle", "protocol
    error"...). The other keywords are tcp.Server's (sock, backlog,
    reuse_port, edge_triggered, high_water, low_water). The server does not
    ping: its clients do, and the idle wheel finds the dead ones."""

    conn_protocol = lib.SL_PROTO_FRAMES

    def __init__(
        self,
        loop,
        router: Router,
        host: str | None = "127.0.0.1",
        port: int = 0,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        idle_timeout: float | None = 8.0,
        idle_buckets: int = 8,
        on_connect: Callable[[MessageConnection], Any] | None = None,
        on_disconnect: Callable[[MessageConnection, str], Any] | None = None,
        **server_options: Any,
    ):
        self._ctx = _Context(loop, router, max_payload, on_connect, on_disconnect)
        self.conn_max_frame = max_payload  # read by Server.__init__ for the connections' config
        super().__init__(
            loop,
            self._new_connection,
            host,
            port,
            idle_timeout=idle_timeout,
            idle_buckets=idle_buckets,
            **server_options,
        )

    def _new_connection(self) -> MessageConnection:
        return MessageConnection(self._ctx)

    @property
    def router(self) -> Router:
        return self._ctx.router

    @property
    def requests(self) -> int:
        """Frames received (what a worker reports, and max-requests counts)."""
        return self._ctx.frames

    def stats(self) -> dict:
        """frames, pings, pongs, unhandled, protocol_errors, idle_kicked, connections."""
        return {**self._ctx.stats(), "idle_kicked": self.idle_kicked, "connections": len(self.transports)}


class Backoff:
    """Waits between reconnection attempts: exponential, with full jitter.

    The n-th wait (from 0) is ``random() * min(maximum, initial * 2**n)``:
    uniform below a ceiling that doubles up to maximum. Full jitter spreads
    the clients a server restart dropped, so they do not all come back in
    the same instant. random: a source of floats in [0, 1)."""

    def __init__(self, initial: float, maximum: float, random: Callable[[], float] = _random.random):
        if not 0 < initial <= maximum:
            raise ValueError("backoff: expected 0 < initial <= maximum seconds")
        self.initial = initial
        self.maximum = maximum
        self.ceiling = initial
        self._random = random

    def next(self) -> float:
        delay = self._random() * self.ceiling
        self.ceiling = min(self.maximum, self.ceiling * 2)
        return delay

    def reset(self) -> None:
        self.ceiling = self.initial


class _ClientConnection(MessageConnection):
    """The client's end: notes, for the heartbeat, whether anything came in
    and whether a frame went out since the last tick."""

    __slots__ = ("heard", "spoke")

    def __init__(self, ctx: _Context):
        super().__init__(ctx)
        self.heard = False
        self.spoke = False

    def _frames(self, data: bytes, at: int, records: bytes, partial: int) -> None:
        self.heard = True  # any bytes count as life, a part of a frame too
        super()._frames(data, at, records, partial)

    def send(self, type: int, payload: bytes | bytearray | memoryview = b"", flags: int = 0) -> None:
        self.spoke = True
        super().send(type, payload, flags)

    def _write(self, kind: int, flags: int, payload) -> None:
        self.spoke = True
        super()._write(kind, flags, payload)


def _numeric(host: str) -> bool:
    """An address already (nothing to look up): IPv4 or IPv6 (with a zone)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.partition("%")[0])
            return True
        except (OSError, ValueError, TypeError):
            pass
    return False


class MessageClient:
    """A connection to a message server that stays up: heartbeats, and
    reconnection with backoff.

    It connects at once. Every ``interval`` seconds it sends a PING unless a
    frame went out and something came in during the interval; after
    ``misses`` PINGs in a row left a whole interval unanswered (no byte
    received), it closes the connection with reason "timeout": a dead server
    is found between misses and misses + 1 intervals after its last frame
    (misses + 2 at most when the client kept sending frames: the first PING
    goes out only after the first silent interval; an unanswered
    application frame is no miss, it may need no answer).
    Keep ``interval`` below half the server's idle timeout (default 3 s, for
    the server's 8 s): a client that only listens then never looks idle.

    After a disconnect, or a failed attempt, it tries again after a
    ``Backoff(backoff_initial, backoff_max, random)`` wait; a connection that
    lasted at least backoff_max seconds (by ``clock``) starts the backoff
    over. Callbacks: on_connect(conn) once connected; on_disconnect(conn,
    reason) once a connection is gone ("timeout", "peer closed", "reset",
    "closed"...); on_connect_error(exc) after each failed attempt.
    on_message: the Router for the server's frames."""

    def __init__(
        self,
        loop,
        host: str,
        port: int,
        *,
        interval: float = 3.0,
        misses: int = 3,
        on_connect: Callable[[MessageConnection], Any] | None = None,
        on_disconnect: Callable[[MessageConnection, str], Any] | None = None,
        on_connect_error: Callable[[Exception], Any] | None = None,
        on_message: Router | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 30.0,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not interval > 0 or interval == float("inf"):  # nan and inf too: every connection failed in its setup
            raise ValueError("interval: must be a positive, finite number of seconds")
        if misses < 1:
            raise ValueError("misses: must be at least 1")
        if isinstance(port, str) and port.isascii() and port.isdigit():  # as asyncio takes it
            port = int(port)
        if not isinstance(port, int) or not 0 < port <= 65535:
            raise ValueError(f"port: expected 1..65535, got {port!r}")
        self.loop = loop
        self.host = host
        self.port = port
        self.interval = interval
        self.misses = misses
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_connect_error = on_connect_error
        self._ctx = _Context(loop, on_message or Router(), max_payload, self._connected, self._disconnected)
        self._backoff = Backoff(backoff_initial, backoff_max, random)
        self._clock = clock
        self._conn: _ClientConnection | None = None
        self._pending: Transport | None = None  # a connect under way
        self._more: list[str] = []  # the host name's addresses not tried yet in this attempt
        self._connected_at = 0.0
        self._ticker = None
        self._retry = None
        self._pinged = False  # the last tick sent a PING
        self._missed = 0
        self._closed = False
        self.retry_delay: float | None = None  # the wait before the next attempt, while one is pending
        self._connect()

    # ---- the API -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def connection(self) -> MessageConnection | None:
        return self._conn

    def send(self, type: int, payload: bytes | bytearray | memoryview = b"", flags: int = 0) -> None:
        """Queue a frame on the current connection (ConnectionError between connections)."""
        if self._conn is None:
            raise ConnectionError(f"sluice: not connected to {self.host}:{self.port}")
        self._conn.send(type, payload, flags)

    def stats(self) -> dict:
        return self._ctx.stats()

    def close(self) -> None:
        """Close for good: no more attempts; on_disconnect(conn, "closed") follows if connected."""
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.retry_delay = None
        if self._pending is not None:
            self._pending.abort()
            self._pending = None
        if self._conn is not None:
            self._conn.close()

    # ---- connecting ------------------------------------------------------------

    def _connect(self) -> None:
        self._retry = None
        self.retry_delay = None
        if not _numeric(self.host):
            # a name is looked up in a thread of its own: a slow resolver
            # must not stop the loop (the other connections, the timers)
            threading.Thread(target=self._resolve, name="sluice-resolve", daemon=True).start()
            return
        self._connect_to(self.host)

    def _resolve(self) -> None:  # (in the resolver's thread)
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            found: Any = list(dict.fromkeys(info[4][0] for info in infos))  # each address once, in order
        except (OSError, UnicodeError) as exc:
            found = exc if isinstance(exc, OSError) else OSError(f"cannot resolve {self.host!r}: {exc}")
        if not self._closed:
            self.loop._threadsafe(self._resolved, (found,))

    def _resolved(self, found: Any) -> None:
        if self._closed:
            return
        if isinstance(found, Exception):
            self._connect_failed(found)
        else:
            # the name's other addresses are tried in turn when one refuses
            # ("localhost" may give ::1 first to a server on 127.0.0.1)
            self._more = found[1:]
            self._connect_to(found[0])

    def _connect_to(self, host: str) -> None:
        try:
            self._pending = self.loop.create_connection(
                self._new_connection,
                host,
                self.port,
                on_error=self._connect_failed,
                _protocol=lib.SL_PROTO_FRAMES,
                _max_frame=self._ctx.max_payload,
            )
        except OSError as exc:
            self._connect_failed(exc)

    def _new_connection(self) -> _ClientConnection:
        return _ClientConnection(self._ctx)

    def _connect_failed(self, exc: Exception) -> None:
        self._pending = None
        if self._more and not self._closed:
            self._connect_to(self._more.pop(0))  # the next address of the name, at once
            return
        self._schedule_retry()
        log_limited(
            "message client connect",
            logging.INFO,
            "sluice: cannot connect to %s:%d (%s); next attempt in %.2f s",
            self.host,
            self.port,
            exc,
            self.retry_delay,
            log=log,
        )
        if self._on_connect_error is not None:
            self._on_connect_error(exc)

    def _schedule_retry(self) -> None:
        self.retry_delay = self._backoff.next()
        self._retry = self.loop.call_later(self.retry_delay, self._connect)

    def _connected(self, conn: _ClientConnection) -> None:
        self._pending = None
        self._more = []  # the next attempt looks the name up again
        self._conn = conn
        self._connected_at = self._clock()
        self._pinged = False
        self._missed = 0
        self._ticker = self.loop.call_every(self.interval, self._tick)
        if self._on_connect is not None:
            self._on_connect(conn)

    def _disconnected(self, conn: _ClientConnection, reason: str) -> None:
        self._conn = None
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._clock() - self._connected_at >= self._backoff.maximum:
            self._backoff.reset()
        if not self._closed:
            self._schedule_retry()
            log.info(
                "connection to %s:%d lost (%s); reconnecting in %.2f s", self.host, self.port, reason, self.retry_delay
            )
        if self._on_disconnect is not None:
            self._on_disconnect(conn, reason)

    # ---- the heartbeat -------------------------------------------------------

    def _tick(self) -> None:
        conn = self._conn
        if conn.heard:
            self._missed = 0
        elif self._pinged:
            self._missed += 1
        if self._missed >= self.misses:
            log_limited(
                "message client timeout",
                logging.WARNING,
                "sluice: %s:%d left %d PINGs unanswered; closing",
                self.host,
                self.port,
                self._missed,
                log=log,
            )
            self._ticker.cancel()
            conn._transport._close(lib.SL_CLOSE_TIMEOUT, graceful=False)
            return
        self._pinged = not (conn.heard and conn.spoke)
        if self._pinged:
            conn._write(PING, 0, b"")
        conn.heard = conn.spoke = False
