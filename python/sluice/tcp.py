"""TCP with asyncio's names: Protocol, BufferedProtocol, Transport, Server.

A Transport stands for one C connection. Writes append to its output buffer
in C and leave at the end of the loop's turn, all of a turn's writes in one
syscall. Data reaches the protocol as ``bytes`` (``data_received``) or is
copied into the protocol's own buffer (``BufferedProtocol``): no view of a
pool block ever reaches user code. Closing is one path whoever starts it,
and ends with one ``connection_lost``.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import Any

from ._binding import ffi, lib
from .log import log_limited, logger
from .stats import CLOSE_REASONS
from .wheel import IdleWheel

__all__ = ["Protocol", "BufferedProtocol", "Transport", "Server", "connect"]

_write = lib.sl_conn_write
_from_buffer = ffi.from_buffer


class BaseProtocol:
    def connection_made(self, transport: Transport) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def stop_requested(self) -> None:
        """The server is stopping gracefully (TERM, QUIT, a reload): finish
        what is in flight, then close. By default nothing happens, and the
        connection stays until the peer closes it, the idle wheel kicks it,
        or the graceful timeout ends the drain."""


class Protocol(BaseProtocol):
    """Bytes arrive in data_received (as asyncio.Protocol)."""

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        return None


class BufferedProtocol(BaseProtocol):
    """Bytes are copied into the buffer get_buffer() returns (as asyncio's)."""

    def get_buffer(self, sizehint: int):
        raise NotImplementedError

    def buffer_updated(self, nbytes: int) -> None:
        pass

    def eof_received(self) -> bool | None:
        return None


def _lost_exception(reason: int, err: int) -> Exception | None:
    if reason == lib.SL_CLOSE_RESET:
        return ConnectionResetError(err or errno.ECONNRESET, "connection reset by peer")
    if reason == lib.SL_CLOSE_ERROR:
        return OSError(err, os.strerror(err)) if err else OSError("socket error")
    if reason == lib.SL_CLOSE_POOL:
        return ConnectionAbortedError(errno.ENOBUFS, "sluice: buffer pool exhausted")
    if reason == lib.SL_CLOSE_INPUT_LIMIT:
        return ConnectionAbortedError(errno.EMSGSIZE, "sluice: input over the connection's maximum")
    if reason == lib.SL_CLOSE_TIMEOUT:
        return TimeoutError("sluice: timed out")
    return None  # closed by us, by the peer, idle, shutdown: not an error


class Transport:
    """One connection. Methods and meanings as asyncio's transports."""

    __slots__ = (
        "_loop", "_c", "_id", "_protocol", "_server", "_closing", "_closed",
        "_write_paused", "_high", "_extra", "_buffered", "_receive", "close_reason", "_reading_paused",
    )  # fmt: skip

    def __init__(self, loop, c, conn_id: int, protocol, server=None, high_water: int = 64 * 1024):
        self._loop = loop
        self._c = c
        self._id = conn_id
        self._protocol = protocol
        self._server = server
        self._closing = False
        self._closed = False
        self._write_paused = False
        self._high = high_water or 64 * 1024  # 0: C's default mark (SL_DEFAULT_HIGH_WATER)
        self._reading_paused = False
        self._extra: dict | None = None
        self._buffered = isinstance(protocol, BufferedProtocol)
        # The loop calls this directly for each chunk while the connection
        # is open and the protocol plain (one Python frame less per read).
        self._receive = None if self._buffered else protocol.data_received
        self.close_reason: str | None = None

    # ---- from the loop -------------------------------------------------------

    def _data(self, data: bytes) -> None:
        if self._closing:
            return  # asyncio drops what arrives after close()
        if not self._buffered:
            self._protocol.data_received(data)
            return
        protocol = self._protocol
        n = len(data)
        src = memoryview(data)
        done = 0
        while done < n and not self._closing:
            buf = protocol.get_buffer(n - done)
            with memoryview(buf) as mv, mv.cast("B") as view:
                k = min(len(view), n - done)
                if k <= 0:
                    raise RuntimeError("get_buffer() returned an empty buffer")
                view[:k] = src[done : done + k]
            done += k
            protocol.buffer_updated(k)

    def _eof(self) -> None:
        keep_open = self._protocol.eof_received()
        if not keep_open and not self._closing:
            self._close(lib.SL_CLOSE_PEER, graceful=True)

    def _pause(self) -> None:
        if not self._write_paused:
            self._write_paused = True
            try:
                self._protocol.pause_writing()
            except Exception as exc:  # not the writer's to catch: the data was queued
                self._flow_failed("pause_writing", exc)

    def _resume(self) -> None:
        if self._write_paused:
            self._write_paused = False
            try:
                self._protocol.resume_writing()
            except Exception as exc:  # as asyncio: logged, the connection goes on
                self._flow_failed("resume_writing", exc)

    def _flow_failed(self, what: str, exc: Exception) -> None:
        name = type(self._protocol).__qualname__
        log_limited("protocol", 40, "sluice: %s.%s raised", name, what, exc_info=exc)

    def _connected(self, err: int) -> None:
        if err:
            self._closing = True
            on_error = self._extra.pop("_on_error", None) if self._extra else None
            self._extra = {"_connect_failed": True}
            self._receive = None
            exc = OSError(err, f"connect: {os.strerror(err)}")
            if on_error is not None:
                on_error(exc)
            else:
                log_limited("connect", 30, "sluice: %s", exc)
            return
        if self._extra:
            self._extra.pop("_on_error", None)
        self._protocol.connection_made(self)

    def _lost(self, reason: int, err: int) -> None:
        self._closing = True
        self._receive = None
        self._closed = True
        self._c = ffi.NULL
        self.close_reason = CLOSE_REASONS.get(reason, str(reason))
        server = self._server
        if server is not None:
            server._forget(self)
        if self._extra is not None and ("_connect_failed" in self._extra or "_on_error" in self._extra):
            return  # the connect failed, or never finished: connection_made never ran
        failure = self._extra.pop("_failure", None) if self._extra else None  # the protocol's own exception
        self._protocol.connection_lost(failure or _lost_exception(reason, err))

    def _detach(self) -> None:  # the loop is being freed
        self._closing = self._closed = True
        self._receive = None
        self._c = ffi.NULL

    # ---- asyncio's Transport API --------------------------------------------

    def write(self, data) -> None:
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError(f"data: expected bytes, bytearray or memoryview, not {type(data).__name__}")
            data = _from_buffer(data)
        if self._closed:
            return
        pending = _write(self._c, data, len(data))
        if pending > self._high or pending < 0:
            self._wrote(pending)

    def _write_bytes(self, data: bytes) -> None:
        """write() for bytes from Sluice's own layers (messages): the same
        answers, without the checks of the argument."""
        if not self._closed:
            pending = _write(self._c, data, len(data))
            if pending > self._high or pending < 0:
                self._wrote(pending)

    def _wrote(self, pending: int) -> None:
        """After a write: pause the protocol past the high-water mark, close
        on a refused block, refuse a write after write_eof()."""
        if pending > self._high:
            self._pause()
        elif pending == -errno.ENOBUFS:
            log_limited("pool", 40, "sluice: buffer pool exhausted; closing a connection")
            self._close(lib.SL_CLOSE_POOL, graceful=False)
        elif pending == -errno.EPIPE and not self._closing:
            raise RuntimeError("write() after write_eof()")

    def writelines(self, lines) -> None:
        for data in lines:
            self.write(data)

    def write_eof(self) -> None:
        if not self._closed:
            lib.sl_conn_write_eof(self._c)

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0 if self._closed else lib.sl_conn_pending(self._c)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """As asyncio's: pause_writing() once more than high bytes wait,
        resume_writing() once no more than low do (defaults: high 64 KiB,
        or 4x low; low high // 4). ValueError unless high >= low >= 0."""
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        if not self._closed and lib.sl_conn_set_water(self._c, high or 1, low) != 0:
            raise ValueError(f"high ({high!r}): at most {0xFFFFFFFF} bytes")
        self._high = high or 1  # (0 in C means its default: one byte pauses at once, as asyncio's 0)
        buffered = self.get_write_buffer_size()
        if self._write_paused and buffered <= low:
            self._resume()
        elif buffered > self._high and not self._closed:
            self._pause()  # as asyncio's: at once, not at the next write (C's resume follows the drain)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Close once the output has left; connection_lost(None) follows."""
        self._close(lib.SL_CLOSE_LOCAL, graceful=True)

    def abort(self) -> None:
        """Close now; waiting output is dropped."""
        self._close(lib.SL_CLOSE_ABORT, graceful=False)

    def _close(self, reason: int, graceful: bool) -> None:
        if self._closed:
            return
        if self._closing and graceful:
            return
        self._closing = True
        self._receive = None
        lib.sl_conn_close(self._c, reason, 1 if graceful else 0)

    def pause_reading(self) -> None:
        if not self._closed:
            lib.sl_conn_pause_reading(self._c)
            self._reading_paused = True

    def resume_reading(self) -> None:
        if not self._closed:
            lib.sl_conn_resume_reading(self._c)
            self._reading_paused = False

    def is_reading(self) -> bool:
        return not self._closing and not self._reading_paused

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, BufferedProtocol)
        self._receive = None if self._buffered or self._closing else protocol.data_received

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._extra is None:
            self._extra = {}
        if name not in self._extra and not self._closed and name in ("peername", "sockname", "socket"):
            fd = lib.sl_conn_fd(self._c)
            s = socket.socket(fileno=os.dup(fd))
            try:
                self._extra["peername"] = s.getpeername()
                self._extra["sockname"] = s.getsockname()
            except OSError:
                pass
            finally:
                s.close()
        return self._extra.get(name, default)

    def last_active_ms(self) -> int:
        return 0 if self._closed else lib.sl_conn_last_active_ms(self._c)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        return f"<sluice.Transport #{self._id} {state}>"


def _conn_config(
    edge_triggered: bool, max_input: int, high_water: int, low_water: int, protocol: int = 0, max_frame: int = 0
):
    cfg = ffi.new("sl_conn_config *")
    cfg.protocol = protocol
    cfg.max_frame = max_frame
    cfg.edge_triggered = 1 if edge_triggered else 0
    cfg.max_input = max_input
    cfg.high_water = high_water
    cfg.low_water = low_water
    return cfg


def listen_sockets(host: str | None, port: int, backlog: int, reuse_port: bool) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for host:port (every address it
    resolves to, all on one port)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    socks = []
    try:
        for family, type_, proto, _, addr in dict.fromkeys(infos):
            s = socket.socket(family, type_, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(addr)
            if port == 0:  # every family on the same port as the first
                port = s.getsockname()[1]
            s.listen(backlog)
            s.setblocking(False)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


class Server:
    """Listening sockets whose connections get protocol_factory()'s protocols.

    backlog: listen() backlog (default 1024; the kernel caps it at
    net.core.somaxconn). reuse_port: SO_REUSEPORT. edge_triggered: epoll ET
    for the listener and its connections (default level-triggered).
    idle_timeout: seconds of silence after which a connection is closed with
    reason "idle" (None: never), checked by an IdleWheel of idle_buckets.
    """

    conn_protocol = lib.SL_PROTO_RAW  # what C frames the input as (HTTPServer: SL_PROTO_HTTP1)
    conn_max_frame = 0  # SL_PROTO_FRAMES: the largest payload (MessageServer sets it)

    def __init__(
        self,
        loop,
        protocol_factory: Callable[[], Any],
        host: str | None = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | list[socket.socket] | None = None,
        backlog: int = 1024,
        reuse_port: bool = False,
        edge_triggered: bool = False,
        idle_timeout: float | None = None,
        idle_buckets: int = 8,
        max_input: int = 1 << 20,
        high_water: int = 64 * 1024,
        low_water: int = 16 * 1024,
    ):
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout: must be a positive number of seconds, or None")
        if not 0 <= low_water <= high_water:
            raise ValueError("low_water: must be between 0 and high_water")
        self._loop = loop
        self._factory = protocol_factory
        self._high = high_water
        if sock is not None:
            self.sockets = list(sock) if isinstance(sock, list) else [sock]
            for s in self.sockets:
                s.setblocking(False)
        else:
            self.sockets = listen_sockets(host, port, backlog, reuse_port)
        self._cfg = _conn_config(
            edge_triggered, max_input, high_water, low_water, self.conn_protocol, self.conn_max_frame
        )
        self._ids: list[int] = []
        self.transports: dict[Transport, None] = {}
        self.accepted = 0
        self._idle: IdleWheel | None = None
        self._idle_timer = None
        if idle_timeout is not None:
            self._idle = IdleWheel(
                round(idle_timeout * 1000),
                Transport.last_active_ms,
                self._kick_idle,
                loop.now_ms(),
                idle_buckets,
            )
            self._idle_timer = loop.call_every(self._idle.tick_ms / 1000, self._idle_tick)
        for s in self.sockets:
            lid = lib.sl_listener_add(loop._c, s.fileno(), self._cfg)
            if lid < 0:
                self.close()
                raise OSError(-lid, f"sluice: cannot watch the listening socket: {os.strerror(-lid)}")
            self._ids.append(lid)
            loop._listeners[lid] = self

    @property
    def port(self) -> int:
        return self.sockets[0].getsockname()[1]

    @property
    def idle_kicked(self) -> int:
        return self._idle.kicked if self._idle is not None else 0

    def _accept(self, c, conn_id: int) -> None:
        try:
            protocol = self._factory()
        except Exception:  # no protocol: the connection cannot be served, so it is closed (not left open)
            log_limited(
                "protocol-factory", 40, "sluice: the protocol factory raised; closing its connection", exc_info=True
            )
            lib.sl_conn_close(c, lib.SL_CLOSE_ABORT, 0)
            return
        transport = Transport(self._loop, c, conn_id, protocol, self, self._high)
        self._loop._conns[conn_id] = transport
        self.transports[transport] = None
        self.accepted += 1
        if self._idle is not None:
            self._idle.add(transport)
        protocol.connection_made(transport)

    def _forget(self, transport: Transport) -> None:
        self.transports.pop(transport, None)
        if self._idle is not None:
            self._idle.discard(transport)

    def _kick_idle(self, transport: Transport) -> None:
        logger.debug("closing an idle connection (%r)", transport)
        transport._close(lib.SL_CLOSE_IDLE, graceful=False)

    def _idle_tick(self) -> None:
        self._idle.advance(self._loop.now_ms())

    def stop_accepting(self) -> None:
        """Stop listening (this process's sockets); connections and the idle
        wheel go on. A socket shared with other processes stays open there."""
        for lid in self._ids:
            if not self._loop._closed:
                lib.sl_listener_close(self._loop._c, lid)
            self._loop._listeners.pop(lid, None)
        self._ids = []
        for s in self.sockets:
            s.close()

    def close(self) -> None:
        """Stop listening and stop the idle wheel; open connections stay
        (close_clients() ends them)."""
        self.stop_accepting()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def request_stop(self) -> None:
        """A graceful stop has begun: each protocol's stop_requested() is
        called so it can finish what is in flight and then close."""
        for transport in list(self.transports):
            stop = getattr(transport._protocol, "stop_requested", None)
            if stop is not None:
                try:
                    stop()
                except Exception as exc:
                    self._loop._protocol_failed(0, transport._id, exc)

    def close_clients(self, abort: bool = False) -> None:
        """Close every connection with reason "server shutdown" (abort: now,
        dropping unsent output; else once the output has left)."""
        for transport in list(self.transports):
            transport._close(lib.SL_CLOSE_SHUTDOWN, graceful=not abort)

    def is_serving(self) -> bool:
        return bool(self._ids)


def connect(
    loop,
    protocol_factory: Callable[[], Any],
    host: str,
    port: int,
    *,
    on_error: Callable[[Exception], None] | None = None,
    edge_triggered: bool = False,
    max_input: int = 1 << 20,
    high_water: int = 64 * 1024,
    low_water: int = 16 * 1024,
    source: tuple[str, int] | None = None,
    _protocol: int = lib.SL_PROTO_RAW,
    _max_frame: int = 0,
) -> Transport:
    """Start connecting; connection_made() runs once connected, on_error(exc)
    if the connect fails (without connection_made/connection_lost)."""
    if isinstance(port, str) and port.isascii() and port.isdigit():  # as asyncio takes it
        port = int(port)
    if not isinstance(port, int) or not 0 < port <= 65535:  # getaddrinfo takes 65536 + p as p
        raise ValueError(f"port: expected 1..65535, got {port!r}")
    family, type_, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    s = socket.socket(family, type_, proto)
    try:
        s.setblocking(False)
        if source is not None:
            s.bind(source)
        rc = s.connect_ex(addr)
        if rc not in (0, errno.EINPROGRESS):
            raise OSError(rc, f"connect to {host}:{port}: {os.strerror(rc)}")
        protocol = protocol_factory()  # before C owns the socket: a factory that raises leaves nothing open
    except BaseException:
        s.close()
        raise
    cfg = _conn_config(edge_triggered, max_input, high_water, low_water, _protocol, _max_frame)
    c = lib.sl_conn_adopt(loop._c, s.detach(), 1, cfg)
    if c == ffi.NULL:
        raise OSError(errno.ENOMEM, "sluice: cannot watch the new connection")
    conn_id = lib.sl_conn_id(c)
    transport = Transport(loop, c, conn_id, protocol, None, high_water)
    transport._extra = {"_on_error": on_error or (lambda exc: log_limited("connect", 30, "sluice: %s", exc))}
    loop._conns[conn_id] = transport
    return transport
