"""What ``sluice serve`` runs in each worker: the application (a native
handler, a WSGI app, or static files — the bundled site by default), the
status and metrics endpoints over the shared scoreboard, the access log."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from . import scoreboard as sb
from .http import HTTPServer, Request
from .http.request import direct
from .stats import CLOSE_REASONS

SITE = Path(__file__).resolve().parent / "site"
access = logging.getLogger("sluice.access")
_LOOPBACK = ("127.", "::1", "::ffff:127.")
_CLASS_NAMES = ("1xx", "2xx", "3xx", "4xx", "5xx")
_REASON_NAMES = {code: name.replace(" ", "_") for code, name in CLOSE_REASONS.items()}


def _board() -> sb.Scoreboard | None:
    from .worker import current

    w = current()
    return w.board if w is not None else None


def status_figures() -> dict:
    """Every worker's slot and the sums (what /status shows)."""
    from ._binding import lib

    sizes = [lib.buf_pool_class_size(i) for i in range(sb.N_CLASSES)]
    board = _board()
    workers = board.workers() if board is not None else []
    now_ms = int(time.time() * 1000)
    pool = [0] * sb.N_CLASSES
    closed = [0] * sb.N_REASONS
    status = [0] * 5
    for w in workers:
        w["uptime_s"] = round(max(0, now_ms - w.pop("started_ms")) / 1000, 1)
        pool = [a + b for a, b in zip(pool, w["pool_in_use"], strict=True)]
        closed = [a + b for a, b in zip(closed, w["closed"], strict=True)]
        status = [a + b for a, b in zip(status, w["status"], strict=True)]
    out = {
        "time": now_ms / 1000,
        "master_pid": board.get(sb.H_MASTER) if board else 0,
        "uptime_s": round((now_ms - board.get(sb.H_STARTED)) / 1000, 1) if board else 0,
        "restarts": board.get(sb.H_RESTARTS) if board else 0,
        "timeouts": board.get(sb.H_TIMEOUTS) if board else 0,
        "workers": workers,
        "connections": sum(w["connections"] for w in workers),
        "accepted": sum(w["accepted"] for w in workers),
        "requests": sum(w["requests"] for w in workers),
        "bytes_in": sum(w["bytes_in"] for w in workers),
        "bytes_out": sum(w["bytes_out"] for w in workers),
        "status": dict(zip(_CLASS_NAMES, status, strict=True)),
        "closed": {name: closed[code] for code, name in _REASON_NAMES.items()},
        "pool": [{"block_size": size, "in_use": n} for size, n in zip(sizes, pool, strict=True)],
    }
    for w in workers:
        w.pop("pool_in_use")
        w["closed"] = {name: w["closed"][code] for code, name in _REASON_NAMES.items()}
        w["status"] = dict(zip(_CLASS_NAMES, w["status"], strict=True))
    return out


def status_text(f: dict) -> str:
    """nginx's stub_status, with Sluice's own lines after it."""
    return (
        f"Active connections: {f['connections']}\n"
        "server accepts handled requests\n"
        f" {f['accepted']} {f['accepted']} {f['requests']}\n"
        f"Workers: {len(f['workers'])} Restarts: {f['restarts']} Timeouts: {f['timeouts']}\n"
    )


def metrics_text(f: dict) -> str:
    """The Prometheus text exposition format."""
    lines = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]):
        lines.append(f"# HELP sluice_{name} {help_}")
        lines.append(f"# TYPE sluice_{name} {kind}")
        for labels, value in samples:
            lines.append(f"sluice_{name}{labels} {value}")

    metric("connections", "gauge", "Connections open.", [("", f["connections"])])
    metric("accepted_total", "counter", "Connections accepted.", [("", f["accepted"])])
    metric("requests_total", "counter", "Requests answered.", [("", f["requests"])])
    metric(
        "responses_total",
        "counter",
        "Responses by status class.",
        [(f'{{class="{k}"}}', v) for k, v in f["status"].items()],
    )
    metric("bytes_in_total", "counter", "Bytes read.", [("", f["bytes_in"])])
    metric("bytes_out_total", "counter", "Bytes written.", [("", f["bytes_out"])])
    metric(
        "closed_total",
        "counter",
        "Connections closed, by reason.",
        [(f'{{reason="{k}"}}', v) for k, v in f["closed"].items()],
    )
    metric(
        "pool_blocks_in_use",
        "gauge",
        "Buffer pool blocks in use, by size class.",
        [(f'{{block_size="{p["block_size"]}"}}', p["in_use"]) for p in f["pool"]],
    )
    metric("worker_restarts_total", "counter", "Workers respawned.", [("", f["restarts"])])
    metric("worker_timeouts_total", "counter", "Workers killed for a missed heartbeat.", [("", f["timeouts"])])
    metric(
        "worker_heartbeat_age_seconds",
        "gauge",
        "Seconds since each worker's last heartbeat.",
        [(f'{{pid="{w["pid"]}"}}', w["heartbeat_age_ms"] / 1000) for w in f["workers"]],
    )
    return "\n".join(lines) + "\n"


class ServeHandler:
    """/status, /status?format=json and /metrics (loopback clients only
    unless status_public; none with status=False, then the app has those
    paths too), static mounts by prefix, then the application."""

    def __init__(self, app, *, mounts: list | None = None, status_public: bool = False, status: bool = True):
        self.app = app
        self._call_app = direct(app) if app is not None else None
        self.mounts = mounts or []  # [(prefix, StaticFiles)], longest prefix first
        self.status_public = status_public
        self.status_paths = ("/status", "/metrics") if status else ()

    def _status_allowed(self, req: Request) -> bool:
        if self.status_public:
            return True
        peer = req.conn.peer if req.conn is not None else None
        return peer is not None and peer[0].startswith(_LOOPBACK)

    @property
    def streams(self) -> bool:
        return bool(getattr(self.app, "streams", False))

    def wants_stream(self, req: Request) -> bool:
        path = req.path
        if path in self.status_paths or any(path == p or path.startswith(p + "/") for p, _ in self.mounts):
            return False
        return bool(self.app.wants_stream(req))

    def exact_routes(self) -> dict:
        """The app's exact routes that __call__ hands to the app (not status,
        metrics, or under a static mount)."""
        routes = getattr(self.app, "exact_routes", None)
        if routes is None:
            return {}
        return {
            path: table
            for path, table in routes().items()
            if path not in self.status_paths and not any(path == p or path.startswith(p + "/") for p, _ in self.mounts)
        }

    def __call__(self, req: Request) -> Any:
        path = req.path
        if path in self.status_paths:
            if not self._status_allowed(req):
                return 403, [], "forbidden: status is served to loopback clients only\n"
            f = status_figures()
            if path == "/metrics":
                return 200, [("Content-Type", "text/plain; version=0.0.4")], metrics_text(f)
            if req.query.get("format") == "json":
                return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], json.dumps(f)
            return 200, [("Cache-Control", "no-store")], status_text(f)
        for prefix, files in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                return files(req)
        if self._call_app is None:
            return 404, [], "not found\n"
        return self._call_app(req)


def access_logger(fmt: str):
    """A server's access_log callback: 'combined' or 'json' lines through
    the sluice.access logger."""

    def log_combined(req: Request, status: int, nbytes: int) -> None:
        peer = req.conn.peer if req.conn is not None else None
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        access.info(
            '%s - - [%s] "%s %s %s" %d %d "%s" "%s"',
            peer[0] if peer else "-",
            stamp,
            req.method,
            req.target,
            req.version,
            status,
            nbytes,
            req.header("referer", "-"),
            req.header("user-agent", "-"),
        )

    def log_json(req: Request, status: int, nbytes: int) -> None:
        peer = req.conn.peer if req.conn is not None else None
        access.info(
            "%s",
            json.dumps(
                {
                    "time": time.time(),
                    "remote": peer[0] if peer else None,
                    "method": req.method,
                    "target": req.target,
                    "version": req.version,
                    "status": status,
                    "bytes": nbytes,
                    "referer": req.header("referer"),
                    "user_agent": req.header("user-agent"),
                }
            ),
        )

    if fmt not in ("combined", "json"):
        raise ValueError(f"access_log_format: expected 'combined' or 'json', got {fmt!r}")
    return log_combined if fmt == "combined" else log_json


def app_kind(app, interface: str = "auto") -> str:
    """'native' (a sluice.App, or a callable of one argument: the request)
    or 'wsgi' (a callable of two: environ, start_response)."""
    import inspect

    from .http import App

    if interface in ("native", "wsgi"):
        return interface
    if isinstance(app, App):
        return "native"
    try:
        params = [
            p
            for p in inspect.signature(app).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        return "wsgi"
    return "native" if len(params) == 1 else "wsgi"


def serve_builder(loop, sockets, app, options: dict) -> list:
    """The arbiter's builder for `sluice serve`."""
    from .static import StaticFiles

    opts = dict(options)
    mounts = [(prefix.rstrip("/") or "", StaticFiles(d, prefix=prefix)) for prefix, d in opts.pop("static", [])]
    root = opts.pop("root", None)
    interface = opts.pop("interface", "auto")
    threads = opts.pop("threads", 0)
    multiprocess = opts.pop("multiprocess", True)
    handler = app
    if app is not None and app_kind(app, interface) == "wsgi":
        from .http.wsgi import WSGIHandler

        # SERVER_NAME/PORT: the first bind's; wsgi.multiprocess: False only
        # with --workers 0 (a master may run the app in several at once)
        name = sockets[0].getsockname() if sockets else ("127.0.0.1", 0)
        handler = WSGIHandler(app, threads=threads, server_name=name[0], server_port=name[1], multiprocess=multiprocess)
    if app is None:
        handler = StaticFiles(root or str(SITE))
    mounts.sort(key=lambda m: -len(m[0]))
    access_fmt = opts.pop("access_log_format", "combined")
    use_access = opts.pop("access_log", None)
    status_public = opts.pop("status_public", False)
    status = opts.pop("status", True)
    server = HTTPServer(
        loop,
        ServeHandler(handler, mounts=mounts, status_public=status_public, status=status),
        sock=sockets,
        access_log=access_logger(access_fmt) if use_access else None,
        **opts,
    )
    return [server]
