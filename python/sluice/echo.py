"""The echo server behind ``sluice echo``: every byte back to its sender."""

from __future__ import annotations

import logging

from .arbiter import parse_bind  # noqa: F401  (re-exported)
from .tcp import Protocol, Server

log = logging.getLogger("sluice.echo")


class EchoProtocol(Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    # A client that sends but does not read: stop reading it while its echo
    # waits past the high-water mark (its output would grow without bound).
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def stop_requested(self) -> None:
        # During a drain, each connection closes right after its next echo
        # has left: a client with one message in flight gets its answer,
        # then EOF, and reconnects to a worker that is still accepting.
        # (The transport calls the cached receiver directly; swap it rather
        # than test a flag on every message.)
        if not self.transport.is_closing():
            self.transport._receive = self._echo_then_close

    def _echo_then_close(self, data: bytes) -> None:
        self.transport.write(data)
        self.transport.close()

    def eof_received(self) -> bool:
        self.transport.close()  # after what was echoed has left
        return True


def tcp_builder(loop, sockets, app, options: dict) -> list:
    """A worker's servers for a TCP protocol factory (app) on the sockets
    the master made."""
    factory = app or EchoProtocol
    return [Server(loop, factory, sock=sockets, **options)]


def serve_single(cfg, on_listening=None, builder=None) -> None:
    """cfg (an arbiter.Config) served in this one process, no master: the
    same worker (drain on TERM, fast stop on INT) without supervision."""
    from . import scoreboard
    from .arbiter import listen, sockname
    from .worker import Worker

    sockets = [s for bind in cfg.binds for s in listen(bind, cfg.backlog, cfg.reuse_port)]
    if on_listening is not None:
        on_listening([sockname(s) for s in sockets])
    board = scoreboard.Scoreboard.create(1, named=False)
    board.claim(0, 0)
    status = Worker(
        board=board,
        slot=0,
        master_pid=None,
        sockets=sockets,
        builder=builder or tcp_builder,
        app_spec=cfg.app,
        options=cfg.options,
        timeout=cfg.timeout,
        graceful_timeout=cfg.graceful_timeout,
        max_requests=0,
    ).run()
    board.close()
    if status:
        raise SystemExit(status)
