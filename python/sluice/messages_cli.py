"""The message protocol's commands: ``msg-echo``, an echo server of frames,
and ``msg-client``, which sends frames to a server and times their round
trips.

``msg_echo`` and ``msg_client`` are click commands: the ``sluice`` group
(cli.py) imports this module when one of them is named, and
``python -m sluice.messages_cli`` runs them on a group of its own
(``register(group)`` adds both to a group). msg-echo takes the serving flags
from cli.py.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time

import click

from .cli import process_options, tcp_options
from .messages import (
    APP_MIN,
    DEFAULT_MAX_PAYLOAD,
    MAX_PAYLOAD_LIMIT,
    MAX_TYPE,
    MessageClient,
    MessageConnection,
    MessageServer,
    Router,
)

DEFAULT_BIND = "127.0.0.1:7001"


def register(group: click.Group) -> None:
    """Add msg-echo and msg-client to group."""
    group.add_command(msg_echo)
    group.add_command(msg_client)


# ---- msg-echo ---------------------------------------------------------------


def echo_router() -> Router:
    """Every application frame back to its sender: same type, flags, payload."""
    router = Router()

    @router.fallback
    def echo(conn: MessageConnection, kind: int, payload: memoryview) -> None:
        conn.send(kind, payload, conn.flags)

    return router


def message_builder(loop, sockets, app, options: dict) -> list:
    """A worker's servers: a MessageServer on the sockets the master made,
    with app (a Router) or the echo router."""
    router = app if app is not None else echo_router()
    return [MessageServer(loop, router, sock=sockets, **options)]


def _msg_echo(idle_timeout: float, edge_triggered: bool, max_payload: int, **kw) -> None:
    """An echo server of frames: every application frame back to its sender,
    PINGs answered, silent peers closed (default bind 127.0.0.1:7001).

    On TERM each connection closes after its next answer (docs/protocol.md)."""
    from .cli import _config, _serve, _tcp_server_options

    options = {**_tcp_server_options(idle_timeout, edge_triggered), "max_payload": max_payload}
    cfg, single = _config(None, kw, DEFAULT_BIND, options)
    _serve("message echo server", cfg, single, builder=message_builder)


# ---- msg-client -------------------------------------------------------------


msg_echo = click.command("msg-echo")(
    process_options(
        tcp_options(
            click.option(
                "--max-payload",
                type=click.IntRange(1, MAX_PAYLOAD_LIMIT),
                default=DEFAULT_MAX_PAYLOAD,
                show_default=True,
                help="Largest payload accepted, in bytes; a bigger frame closes its connection.",
            )(_msg_echo)
        )
    )
)


def _numbered(i: int, size: int) -> bytes:
    seed = b"%08d " % i
    return (seed * (size // len(seed) + 1))[:size]


class _Run:
    """One msg-client run: each frame is sent once the one before came back,
    so each round trip is timed alone."""

    def __init__(self, loop, address: str, kind: int, payloads: list[bytes], quiet: bool):
        self.loop = loop
        self.address = address
        self.kind = kind
        self.payloads = payloads
        self.quiet = quiet
        self.round_trips: list[float] = []
        self.sent_at = 0.0
        self.error: str | None = None
        self.done = False
        self.client: MessageClient | None = None

    def send_next(self, conn: MessageConnection) -> None:
        self.sent_at = time.perf_counter()
        conn.send(self.kind, self.payloads[len(self.round_trips)])

    def echoed(self, conn: MessageConnection, kind: int, payload: memoryview) -> None:
        rtt = time.perf_counter() - self.sent_at
        i = len(self.round_trips)
        if kind != self.kind or payload != self.payloads[i]:
            self.finish(f"frame {i + 1} came back changed")
            return
        self.round_trips.append(rtt)
        if not self.quiet:
            click.echo(f"{i + 1}: {len(payload)} bytes, {rtt * 1000:.3f} ms")
        if len(self.round_trips) == len(self.payloads):
            self.finish(None)
        else:
            self.send_next(conn)

    def lost(self, conn: MessageConnection, reason: str) -> None:
        done = len(self.round_trips)
        why = f"the connection closed ({reason}) after {done} frames"
        if reason in ("peer closed", "reset") and done < len(self.payloads):
            # the server refuses a frame by closing (docs/protocol.md); the
            # likeliest refusal of a frame it did not answer is its size
            size = len(self.payloads[done])
            why += f": the server closed it instead of answering frame {done + 1} ({size} bytes)"
            why += "; its log says why (is that above its --max-payload?)"
        self.finish(why)

    def connect_failed(self, exc: Exception) -> None:
        errno = getattr(exc, "errno", None)
        # a socket.gaierror's errno is an EAI_ code (negative), not one os.strerror knows
        why = exc.strerror if isinstance(exc, socket.gaierror) else os.strerror(errno) if errno else exc
        self.finish(f"cannot connect to {self.address}: {why}")

    def timed_out(self, timeout: float) -> None:
        self.finish(f"only {len(self.round_trips)} of {len(self.payloads)} frames came back within {timeout:g} s")

    def finish(self, error: str | None) -> None:
        if self.done:
            return
        self.done = True
        self.error = error
        if self.client is not None:  # None: the first attempt failed inside MessageClient()
            self.client.close()
        self.loop.stop()

    def summary(self) -> str:
        n, total = len(self.round_trips), len(self.payloads)
        line = f"{n} of {total} frames came back"
        if n:
            ms = [t * 1000 for t in self.round_trips]
            line += f"; round trip min {min(ms):.3f} / median {statistics.median(ms):.3f} / max {max(ms):.3f} ms"
        return line


@click.command("msg-client")
@click.argument("address")
@click.option("--count", "-n", type=click.IntRange(1), default=10, show_default=True, help="Frames to send.")
@click.option(
    "--type",
    "kind",
    type=click.IntRange(APP_MIN, MAX_TYPE),
    default=APP_MIN,
    show_default=True,
    help="Message type of the frames.",
)
@click.option(
    "--size",
    type=click.IntRange(0, MAX_PAYLOAD_LIMIT),
    default=64,
    show_default=True,
    help="Payload bytes (a server takes at most its --max-payload).",
)
@click.option("--stdin", "from_stdin", is_flag=True, help="One frame per line of standard input instead of --count.")
@click.option(
    "--timeout",
    type=click.FloatRange(0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds for the whole run.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print the summary line only.")
def msg_client(address: str, count: int, kind: int, size: int, from_stdin: bool, timeout: float, quiet: bool) -> None:
    """Send frames to the message server at ADDRESS (HOST:PORT), one at a
    time, and print each round trip; exit 0 when every frame came back."""
    from .arbiter import parse_bind
    from .loop import Loop

    try:
        host, port = parse_bind(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    if not 0 < port <= 65535:  # a bind may say 0 (any port); a server to reach may not
        raise click.BadParameter(f"{address!r}: the port must be 1..65535", param_hint="ADDRESS")
    if from_stdin:
        payloads = [line.rstrip(b"\n") for line in sys.stdin.buffer]
        if not payloads:
            raise click.UsageError("--stdin: no lines to send")
    else:
        payloads = [_numbered(i, size) for i in range(count)]
    with Loop() as loop:
        run = _Run(loop, address, kind, payloads, quiet)
        router = Router()
        router.fallback(run.echoed)
        run.client = MessageClient(
            loop,
            host,
            port,
            on_connect=run.send_next,
            on_disconnect=run.lost,
            on_connect_error=run.connect_failed,
            on_message=router,
            max_payload=max(DEFAULT_MAX_PAYLOAD, *map(len, payloads)),
        )
        loop.call_later(timeout, run.timed_out, timeout)
        if run.done:  # the connect failed at once
            run.client.close()
        else:
            loop.run()
    click.echo(run.summary())
    if run.error is not None:
        click.echo(f"msg-client: {run.error}", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The message commands, as `sluice msg-echo` and `sluice msg-client` run them."""


if __name__ == "__main__":
    register(main)
    main()
