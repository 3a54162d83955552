"""The ``sluice`` command (click)."""

from __future__ import annotations

import sys

import click

from . import __version__
from .log import setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sluice")
def main() -> None:
    """Sluice: network servers over a small C core."""


@main.command()
@click.option("--bind", default="127.0.0.1:7000", show_default=True, help="HOST:PORT to listen on.")
@click.option(
    "--idle-timeout",
    type=float,
    default=8.0,
    show_default=True,
    help="Close a connection silent this many seconds (0: never).",
)
@click.option("--edge-triggered/--level-triggered", default=False, show_default=True, help="epoll mode.")
@click.option("--backlog", type=click.IntRange(1), default=1024, show_default=True, help="listen() backlog.")
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error.")
def echo(bind: str, idle_timeout: float, edge_triggered: bool, backlog: int, log_level: str) -> None:
    """A TCP echo server: every byte back to its sender."""
    from .echo import parse_bind, serve_echo

    try:
        parse_bind(bind)
        setup_logging(log_level)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if idle_timeout < 0:
        raise click.BadParameter("--idle-timeout: must be 0 (never) or a positive number of seconds")
    try:
        serve_echo(bind, idle_timeout=idle_timeout or None, edge_triggered=edge_triggered, backlog=backlog)
    except OSError as exc:
        click.echo(f"sluice echo: cannot listen on {bind}: {exc.strerror or exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
