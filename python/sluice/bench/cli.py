"""``sluice bench``: the click command, and its wrk-style and JSON reports.

``bench`` is registered by ``sluice.cli`` (``main.add_command(bench)``).
With ``--webbench`` anywhere among its arguments, the rest is parsed as
webbench 1.5's command line instead (``sluice.bench.webbench``).
"""

from __future__ import annotations

import json
import sys

import click

from .run import (
    ERROR_KINDS,
    PERCENTILES,
    STATUS_CLASSES,
    BenchError,
    BenchFailed,
    Plan,
    Progress,
    Result,
    parse_duration,
    parse_header,
    parse_url,
    percentile_key,
    render_request,
    run,
)

__all__ = ["bench", "format_text", "result_json"]


def format_time_us(us: float) -> str:
    for limit, unit, scale in ((1e3, "us", 1), (1e6, "ms", 1e3), (60e6, "s", 1e6), (3600e6, "m", 60e6)):
        if us < limit:
            return f"{us / scale:.2f}{unit}"
    return f"{us / 3600e6:.2f}h"


def format_metric(n: float) -> str:
    for limit, unit, scale in ((1e3, "", 1), (1e6, "k", 1e3), (1e9, "M", 1e6)):
        if n < limit:
            return f"{n / scale:.2f}{unit}"
    return f"{n / 1e9:.2f}G"


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.2f}{unit}"
        n /= 1024
    return f"{n:.2f}TB"


def format_text(r: Result, latency_table: bool = False) -> str:
    """wrk's report, with Sluice's honest lines (non-2xx by class)."""
    p, lat, rps = r.plan, r.latency, r.req_per_sec
    lines = [
        f"Running {format_duration(p.duration_s)} test @ {p.target.url}",
        f"  {p.processes} process{'es' if p.processes != 1 else ''} and {p.connections} connections"
        + (f", pipeline {p.pipeline}" if p.pipeline > 1 and not p.close else "")
        + (", a connection per request" if p.close else ""),
    ]
    if p.rate:
        lines.append(f"  Rate {p.rate:g} req/s: latency from the intended send times (coordinated omission corrected)")
    lines += [
        "  Process Stats   Avg      Stdev     Max   +/- Stdev",
        f"    Latency   {format_time_us(lat['mean']):>8}  {format_time_us(lat['stdev']):>8}"
        f"  {format_time_us(lat['max']):>8}  {r.latency_within_stdev:>8.2f}%",
        f"    Req/Sec   {format_metric(rps['mean']):>8}  {format_metric(rps['stdev']):>8}"
        f"  {format_metric(rps['max']):>8}  {rps['within_stdev']:>8.2f}%",
    ]
    if latency_table:
        lines.append("  Latency Distribution")
        lines += [f"  {f'{q:g}%':>6}  {format_time_us(lat[percentile_key(q)]):>9}" for q in PERCENTILES]
    lines.append(f"  {r.requests} requests in {r.duration_s:.2f}s, {format_bytes(r.bytes)} read")
    if p.close:
        lines.append(f"  Connections opened: {r.connects}")
    if any(r.errors.values()):
        lines.append("  Socket errors: " + ", ".join(f"{k} {r.errors[k]}" for k in ERROR_KINDS))
    if r.non_2xx:
        by_class = ", ".join(f"{k} {r.status[k]}" for k in STATUS_CLASSES if k != "2xx" and r.status[k])
        lines.append(f"  Non-2xx responses: {r.non_2xx} ({by_class})")
    if r.interrupted:
        lines.append("  Interrupted: the figures cover the time run")
    lines += [f"Requests/sec: {r.requests_per_sec:>10.2f}", f"Transfer/sec: {format_bytes(r.bytes_per_sec):>10}"]
    return "\n".join(lines)


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def result_json(r: Result) -> dict:
    p = r.plan
    return {
        "url": p.target.url,
        "connections": p.connections,
        "processes": p.processes,
        "pipeline": 1 if p.close else p.pipeline,
        "rate": p.rate or None,
        "close": p.close,
        "duration_s": round(r.duration_s, 6),
        "requests": r.requests,
        "bytes": r.bytes,
        "connects": r.connects,
        "requests_per_sec": round(r.requests_per_sec, 2),
        "bytes_per_sec": round(r.bytes_per_sec, 2),
        "errors": dict(r.errors),
        "status": dict(r.status),
        "non_2xx": r.non_2xx,
        "latency_us": {k: round(v, 2) if isinstance(v, float) else v for k, v in r.latency.items()},
        "req_per_sec_per_process": {k: round(v, 2) for k, v in r.req_per_sec.items()},
        "interrupted": r.interrupted,
    }


class _Live:
    """The progress line on a terminal (stderr), overwritten in place."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.shown = False

    def __call__(self, pr: Progress) -> None:
        if self.enabled:
            sys.stderr.write(
                f"\r\033[K  {pr.elapsed_s:6.1f}s  {pr.requests} requests  {pr.rate:,.0f} req/s  {pr.errors} errors"
            )
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


class _BenchCommand(click.Command):
    """``--webbench`` hands the whole command line to webbench's parser."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        head = args[: args.index("--")] if "--" in args else args
        if "--webbench" in head:
            rest = list(args)
            rest.remove("--webbench")
            ctx.meta["sluice.webbench"] = rest
            return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        if "sluice.webbench" in ctx.meta:
            from .webbench import main as webbench_main

            ctx.exit(webbench_main(ctx.meta["sluice.webbench"]))
        return super().invoke(ctx)


@click.command("bench", cls=_BenchCommand)
@click.argument("url")
@click.option("-c", "--connections", type=click.IntRange(1), default=10, show_default=True, help="Kept open.")
@click.option("-d", "--duration", default="10s", show_default=True, metavar="DURATION", help="10s, 2m, 500ms, seconds.")
@click.option("-p", "--processes", type=click.IntRange(1), default=1, show_default=True, help="Load processes.")
@click.option("--pipeline", type=click.IntRange(1, 65536), default=1, show_default=True, help="Requests in flight.")
@click.option("-R", "--rate", type=click.FloatRange(0, min_open=True), help="Constant rate, requests/s in all.")
@click.option("--close", is_flag=True, help="A connection per request (Connection: close).")
@click.option("--latency", "latency_table", is_flag=True, help="Print the latency percentiles.")
@click.option("--timeout", default="2s", show_default=True, metavar="DURATION", help="Unanswered this long: failed.")
@click.option("-H", "--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="Add a header (repeat).")
@click.option("--method", default="GET", show_default=True, help="The request method.")
@click.option("--body", default=None, help="The request body (sent with its Content-Length).")
@click.option("--source", "sources", multiple=True, metavar="IPV4", help="Source address to bind (repeat).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout, nothing else.")
@click.option("--webbench", is_flag=True, help="Take webbench 1.5's flags and print its report (--webbench -h).")
def bench(
    url: str,
    connections: int,
    duration: str,
    processes: int,
    pipeline: int,
    rate: float | None,
    close: bool,
    latency_table: bool,
    timeout: str,
    headers: tuple[str, ...],
    method: str,
    body: str | None,
    sources: tuple[str, ...],
    as_json: bool,
    webbench: bool,
) -> None:
    """Load-test the HTTP server at URL (http:// only): wrk's figures, with
    honest counts (non-2xx apart), keep-alive or --close, pipelining, a
    constant --rate with coordinated omission corrected, percentiles."""
    try:
        if close and pipeline > 1:
            raise BenchError("--close sends one request per connection: --pipeline needs keep-alive")
        target = parse_url(url)
        method = method.upper()
        request = render_request(
            method, target, [parse_header(h) for h in headers], (body or "").encode("utf-8"), close=close
        )
        plan = Plan(
            target=target,
            request=request,
            connections=connections,
            duration_s=parse_duration(duration, "--duration"),
            processes=min(processes, connections),
            pipeline=pipeline,
            rate=rate or 0.0,
            close=close,
            head=method == "HEAD",
            timeout_s=parse_duration(timeout, "--timeout"),
            sources=list(sources),
        )
        live = _Live(sys.stderr.isatty())
        try:
            result = run(plan, live)
        finally:
            live.clear()
    except BenchFailed as exc:
        click.echo(f"sluice bench: {exc}", err=True)
        sys.exit(1)
    except BenchError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result_json(result)))
    else:
        click.echo(format_text(result, latency_table))
    if result.succeeded == 0:
        if result.connects == 0:
            click.echo(f"sluice bench: no connection to {target.address} port {target.port} succeeded", err=True)
        click.echo("sluice bench: nothing succeeded (no 2xx response)", err=True)
        sys.exit(1)


if __name__ == "__main__":  # python -m sluice.bench.cli URL ... (as `sluice bench`)
    bench(prog_name="sluice bench")
