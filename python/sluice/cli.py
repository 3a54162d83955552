"""The ``sluice`` command (click)."""

from __future__ import annotations

import functools
import logging
import math
import sys
from pathlib import Path

import click

from . import __version__
from .log import setup_logging

log = logging.getLogger("sluice")

MAX_SECONDS = 1_000_000.0  # about 11.6 days: more does not fit the core's millisecond fields


class Seconds(click.ParamType):
    """A finite number of seconds from 0 to MAX_SECONDS (nan and inf refused:
    they passed every check before and broke the workers)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(x) or not 0 <= x <= MAX_SECONDS:
            self.fail(f"{value!r}: seconds from 0 to {MAX_SECONDS:g} expected", param, ctx)
        return x


SECONDS = Seconds()


class _Commands(click.Group):
    """The group, with the commands of other modules imported when named:
    `sluice bench` loads neither the message layer nor the servers."""

    lazy = {
        "bench": ("sluice.bench.cli", "bench"),
        "msg-echo": ("sluice.messages_cli", "msg_echo"),
        "msg-client": ("sluice.messages_cli", "msg_client"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            from importlib import import_module

            module, attr = self.lazy[name]
            return getattr(import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sluice")
def main() -> None:
    """Sluice: network servers over a small C core."""


def process_options(f):
    """The master-worker flags, shared by every serving command."""
    options = [
        click.option(
            "--bind",
            "binds",
            multiple=True,
            help="HOST:PORT to listen on (repeat for several).",
        ),
        click.option(
            "--workers",
            "-w",
            type=click.IntRange(0),
            default=None,
            help="Worker processes [default: the number of CPUs]; 0: serve in this one process, no master.",
        ),
        click.option(
            "--timeout", type=SECONDS, default=30.0, show_default=True, help="Kill a worker silent this long (s)."
        ),
        click.option(
            "--graceful-timeout",
            type=SECONDS,
            default=30.0,
            show_default=True,
            help="Seconds a draining worker may take before what remains is closed.",
        ),
        click.option(
            "--max-requests",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help="Recycle a worker after about N (0: never).",
        ),
        click.option(
            "--max-requests-jitter",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help="Spread recycling by up to J.",
        ),
        click.option("--pid-file", type=click.Path(dir_okay=False), default=None, help="Write the master's pid here."),
        click.option("--reuse-port", is_flag=True, help="One SO_REUSEPORT socket per worker instead of one shared."),
        click.option("--preload", is_flag=True, help="Load the application in the master, before forking."),
        click.option(
            "--backlog", type=click.IntRange(1, 65535), default=1024, show_default=True, help="listen() backlog."
        ),
        click.option("--error-log", default="-", show_default=True, help="Error log file ('-': stderr)."),
        click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def tcp_options(f):
    f = click.option("--edge-triggered/--level-triggered", default=False, show_default=True, help="epoll mode.")(f)
    return click.option(
        "--idle-timeout",
        type=SECONDS,
        default=8.0,
        show_default=True,
        help="Close a connection silent this many seconds (0: never).",
    )(f)


def _config(app: str | None, kw: dict, default_bind: str, options: dict):
    from .arbiter import Config, default_workers

    workers = kw.pop("workers")
    if workers == 0 and kw.get("pid_file"):
        # it would be silently unused: the pid file names a master, and -w 0 has none
        raise click.BadParameter("--pid-file names a master's pid; --workers 0 runs none (use --workers 1 or more)")
    binds = list(kw.pop("binds")) or [default_bind]
    cfg = Config(binds=binds, app=app, workers=workers or default_workers(), options=options, **kw)
    try:
        cfg.check()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return cfg, workers == 0


def _serve(what: str, cfg, single: bool, builder=None, loader=None) -> None:
    """Run cfg under a master (or in this process with --workers 0);
    loader() makes the configuration anew on HUP (default: cfg again)."""
    from .arbiter import Arbiter, ArbiterError
    from .echo import serve_single, tcp_builder

    builder = builder or tcp_builder

    try:
        setup_logging(cfg.log_level, None if cfg.error_log == "-" else cfg.error_log)
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc)) from None

    def listening(names: list[str]) -> None:
        log.info("%s on %s", what, ", ".join(names))

    if single:
        try:
            serve_single(cfg, on_listening=listening, builder=builder)
        except OSError as exc:
            click.echo(f"sluice: cannot listen on {', '.join(cfg.binds)}: {exc.strerror or exc}", err=True)
            sys.exit(1)
        return
    arbiter = Arbiter(loader or functools.partial(lambda c: c, cfg), builder, on_listening=listening)
    try:
        code = arbiter.run()
    except ArbiterError as exc:
        click.echo(f"sluice: {exc}", err=True)
        sys.exit(exc.code)
    except OSError as exc:
        click.echo(f"sluice: cannot listen on {', '.join(cfg.binds)}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    if code:
        sys.exit(code)


def _tcp_server_options(idle_timeout: float, edge_triggered: bool) -> dict:
    if idle_timeout < 0:
        raise click.BadParameter("--idle-timeout: must be 0 (never) or a positive number of seconds")
    return {"idle_timeout": idle_timeout or None, "edge_triggered": edge_triggered}


@main.command()
@process_options
@tcp_options
def echo(idle_timeout: float, edge_triggered: bool, **kw) -> None:
    """A TCP echo server: every byte back to its sender (default bind 127.0.0.1:7000)."""
    cfg, single = _config(None, kw, "127.0.0.1:7000", _tcp_server_options(idle_timeout, edge_triggered))
    _serve("echo server", cfg, single)


@main.command()
@click.argument("app")
@process_options
@tcp_options
def tcp(app: str, idle_timeout: float, edge_triggered: bool, **kw) -> None:
    """Serve APP, a TCP protocol factory ('module:Class'), as asyncio would."""
    cfg, single = _config(app, kw, "127.0.0.1:7000", _tcp_server_options(idle_timeout, edge_triggered))
    _serve(f"tcp server ({app})", cfg, single)


@main.command()
@click.argument("app", required=False)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="A TOML file; its keys are these flags.")
@click.option("-t", "--check", "check", is_flag=True, help="Check the configuration and exit (0: valid).")
@click.option(
    "--interface",
    type=click.Choice(["auto", "native", "wsgi"]),
    default="auto",
    show_default=True,
    help="APP is a sluice handler (native) or a WSGI app; auto: a sluice.App or a one-argument callable is native.",
)
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True, help="WSGI: app threads per worker.")
@click.option("--root", type=click.Path(file_okay=False), help="Serve this directory's files (no APP).")
@click.option("--static", "static", multiple=True, metavar="/PREFIX=DIR", help="Also serve DIR under /PREFIX.")
@click.option("--keepalive", type=SECONDS, default=8.0, show_default=True, help="Seconds an idle connection is kept.")
@click.option(
    "--header-timeout", type=SECONDS, default=10.0, show_default=True, help="Seconds a request head can take."
)
@click.option("--max-body", type=click.IntRange(1, 2**62), default=1 << 20, show_default=True, help="Bytes (413).")
@click.option(
    "--max-stream-body",
    type=click.IntRange(1, 2**62),
    default=1 << 30,
    show_default=True,
    help="Bytes of a body a streaming route or threaded WSGI app reads as it comes (413 above).",
)
@click.option("--max-request-line", type=click.IntRange(1, 2**31), default=8190, show_default=True, help="Bytes (414).")
@click.option("--max-header-line", type=click.IntRange(1, 2**31), default=8190, show_default=True, help="Bytes (431).")
@click.option("--max-head", type=click.IntRange(1, 2**31), default=65536, show_default=True, help="Header bytes (431).")
@click.option("--max-headers", type=click.IntRange(1, 65535), default=100, show_default=True, help="Headers (431).")
@click.option("--access-log", default=None, help="Access log file ('-': stdout) [default: off].")
@click.option("--access-log-format", type=click.Choice(["combined", "json"]), default="combined", show_default=True)
@click.option("--status-public", is_flag=True, help="Serve /status and /metrics to every client, not only loopback.")
@click.option(
    "--status/--no-status",
    default=True,
    show_default=True,
    help="Serve /status and /metrics (ahead of the app's own routes of those paths).",
)
@process_options
@click.pass_context
def serve(ctx, config, check, **kw):
    """The HTTP server: APP (module:callable, a sluice.App / handler or a
    WSGI app), or the files of --root, or the bundled site; on
    127.0.0.1:8080 by default."""
    from click.core import ParameterSource

    from .config import ConfigError, locate, merge
    from .log import setup_access_log
    from .serve import serve_builder

    explicit = {n for n in kw if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE}

    def load():
        try:
            values = merge(kw, explicit, config, ctx.command)
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from None
        try:
            return _serve_config(values)
        except click.BadParameter as exc:
            raise click.BadParameter(locate(config, exc.message)) from None

    if check:
        try:
            cfg, _, access_log = load()
            problem = _check_startable(cfg, access_log)
        except click.BadParameter as exc:
            problem = exc.message
        if problem:
            click.echo(f"sluice: configuration: {problem}", err=True)
            sys.exit(1)
        click.echo(f"sluice: configuration {'in ' + config if config else 'from the flags'} is valid")
        return
    cfg, single, access_log = load()
    try:
        setup_access_log(access_log)
    except OSError as exc:
        raise click.BadParameter(f"--access-log: {exc}") from None
    what = f"http server ({cfg.app})" if cfg.app else f"http server ({cfg.options['root'] or 'the bundled site'})"
    _serve(what, cfg, single, serve_builder, loader=lambda: load()[0])


def _check_startable(cfg, access_log: str | None) -> str | None:
    """What the values alone do not show but a start would meet: the app
    imports and is callable, the files to write have a directory. None: ok."""
    from .worker import AppLoadError, load_app

    for flag, path in (("--error-log", cfg.error_log), ("--access-log", access_log), ("--pid-file", cfg.pid_file)):
        if path and path != "-" and not Path(path).resolve().parent.is_dir():
            return f"{flag} {path}: no such directory {str(Path(path).resolve().parent)!r}"
    if cfg.app:
        try:
            load_app(cfg.app)
        except AppLoadError as exc:
            return str(exc)
    return None


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False))
def check_config(file):
    """Check a `sluice serve` configuration FILE without serving (exit 0: valid)."""
    serve.main(["--config", file, "--check"], prog_name="sluice serve")


def _serve_config(kw: dict):
    """serve's values (flags over the file) -> (Config, single process, access log)."""
    kw = dict(kw)
    kw.pop("config", None)
    kw.pop("check", None)
    app = kw.pop("app")
    keys = ("max_body", "max_stream_body", "max_request_line", "max_header_line", "max_head", "max_headers")
    limits = {k: kw.pop(k) for k in keys}
    if limits["max_stream_body"] < limits["max_body"]:
        raise click.BadParameter("max_stream_body: must be at least max_body")
    root, static = kw.pop("root"), kw.pop("static")
    keepalive, header_timeout = kw.pop("keepalive"), kw.pop("header_timeout")
    mounts = []
    for spec in static:
        prefix, sep, directory = spec.partition("=")
        if not sep or not prefix.startswith("/") or not directory:
            raise click.BadParameter(f"static: expected /PREFIX=DIR, got {spec!r}")
        if not prefix.strip("/"):
            # a mount at / would take every path: the app (or --root) would get none
            raise click.BadParameter(f"static: {spec!r} mounts at /, over everything (a whole site: --root DIR)")
        mounts.append((prefix, directory))
    if app and root:
        raise click.BadParameter("root: serves files when there is no APP (use static /prefix=DIR beside an APP)")
    if root is not None and not Path(root).is_dir():
        raise click.BadParameter(f"root: {root!r} is not a directory")
    for prefix, directory in mounts:
        if not Path(directory).is_dir():
            raise click.BadParameter(f"static: {prefix}={directory}: {directory!r} is not a directory")
    if keepalive <= 0 or header_timeout <= 0:
        raise click.BadParameter("keepalive, header_timeout: must be positive numbers of seconds")
    if not isinstance(logging.getLevelName(str(kw["log_level"]).upper()), int):
        raise click.BadParameter(f"log_level: unknown level {kw['log_level']!r} (debug, info, warning, error)")
    access_log = kw.pop("access_log")
    options = {
        "keepalive": keepalive,
        "header_timeout": header_timeout,
        "limits": limits,
        "static": mounts,
        "root": str(Path(root).resolve()) if root else None,
        "interface": kw.pop("interface"),
        "threads": kw.pop("threads"),
        "access_log": access_log,
        "access_log_format": kw.pop("access_log_format"),
        "status_public": kw.pop("status_public"),
        "status": kw.pop("status"),
    }
    cfg, single = _config(app, kw, "127.0.0.1:8080", options)
    options["multiprocess"] = not single  # WSGI's wsgi.multiprocess
    return cfg, single, access_log


@main.command("signal")
@click.argument("action", type=click.Choice(["reload", "stop", "quit", "reopen", "incr", "decr"]))
@click.option("--pid-file", type=click.Path(dir_okay=False), required=True, help="The master's pid file.")
@click.option("--wait", type=SECONDS, default=60.0, show_default=True, help="reload: seconds to wait for new workers.")
def signal_(action: str, pid_file: str, wait: float) -> None:
    """Signal a running master: reload (HUP), stop (INT, fast), quit (QUIT,
    graceful), reopen (USR1), incr (TTIN), decr (TTOU)."""
    from .control import ControlError, send

    try:
        send(action, pid_file, wait=wait, out=click.echo)
    except ControlError as exc:
        click.echo(f"sluice signal: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
