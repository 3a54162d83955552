"""The echo server behind ``sluice echo``: every byte back to its sender."""

from __future__ import annotations

import logging
import signal

from .loop import Loop
from .tcp import Protocol

log = logging.getLogger("sluice.echo")


class EchoProtocol(Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        self.transport.close()  # after what was echoed has left
        return True


def parse_bind(bind: str) -> tuple[str, int]:
    """'HOST:PORT', '[V6]:PORT' or ':PORT' -> (host, port)."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bind: expected HOST:PORT, got {bind!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def serve_echo(
    bind: str = "127.0.0.1:7000",
    *,
    idle_timeout: float | None = 8.0,
    edge_triggered: bool = False,
    backlog: int = 1024,
    ready=None,
) -> None:
    """Serve until SIGINT or SIGTERM; ready(server) is called once listening."""
    host, port = parse_bind(bind)
    with Loop() as loop:
        server = loop.create_server(
            EchoProtocol,
            host,
            port,
            backlog=backlog,
            edge_triggered=edge_triggered,
            idle_timeout=idle_timeout,
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, loop.stop)
        names = ", ".join(_name(s.getsockname()) for s in server.sockets)
        log.info(
            "echo server on %s (%s-triggered, idle timeout %s)",
            names,
            "edge" if edge_triggered else "level",
            f"{idle_timeout:g} s" if idle_timeout else "off",
        )
        if ready is not None:
            ready(server)
        loop.run()
        stats = loop.stats()
        log.info(
            "stopping: %d connections served, %d closed idle, %d accept errors (EMFILE and the like)",
            stats["accepted"],
            stats["closed"]["idle"],
            stats["accept_errors"],
        )
        server.close()


def _name(addr) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
