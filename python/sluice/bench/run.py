"""The engine of ``sluice bench``: the target, the request bytes, the
processes, and their merged figures.

``run(plan)`` forks ``plan.processes`` children. Each runs
``sl_bench_run`` (the C client core, csrc/client.c) over its share of the
connections and the rate, and writes its ``sl_bench_result`` and
``sl_hist`` raw into a pipe; the parent watches a shared page of progress
counters meanwhile (the live line, the req/s samples), then merges the
reports with ``sl_hist_merge``. Used by ``sluice.bench.cli`` and
``sluice.bench.webbench``; nothing from ffi or lib leaves this module.
"""

from __future__ import annotations

import ipaddress
import math
import mmap
import os
import re
import resource
import select
import signal
import socket
import struct
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .. import __version__

ERROR_KINDS = ("connect", "read", "write", "timeout")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
PERCENTILES = (50, 75, 90, 99, 99.9, 99.99)
SAMPLE_S = 0.1  # the parent's look at the progress counters: the req/s samples and the live line
FDS_PER_PROCESS = 16  # beside the connections: epoll, the timerfd, the pipe, Python's own
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class BenchError(Exception):
    """A bad URL, flag or limit: a message for the user."""


class BenchFailed(BenchError):
    """The run could not happen or a load process died: a message for the user."""


def parse_duration(text: str, what: str = "duration") -> float:
    """``10s``, ``2m``, ``500ms``, ``1h`` or plain seconds (``1.5``), > 0."""
    m = _DURATION.match(str(text))
    if not m:
        raise BenchError(f"{what}: {text!r} is not a duration (e.g. 10s, 2m, 500ms or seconds)")
    seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds <= 0:
        raise BenchError(f"{what}: must be more than 0")
    return seconds


@dataclass
class Target:
    """An http:// URL, resolved."""

    url: str
    host: str  # as the Host header names it (IPv6 in brackets, the port unless 80)
    port: int
    path: str  # path and query, as sent
    family: int  # 4 or 6
    address: str  # the resolved numeric address


def parse_url(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise BenchError(f"{url!r}: not a URL ({exc})") from None
    if parts.scheme.lower() != "http":
        raise BenchError(f"{url!r}: only http:// URLs are supported")
    if not parts.hostname:
        raise BenchError(f"{url!r}: no host")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BenchError(f"{parts.hostname}: cannot resolve ({exc})") from None
    infos.sort(key=lambda i: i[0] != socket.AF_INET)  # IPv4 first, as most servers listen there
    family, *_, sockaddr = infos[0]
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(
        url=url,
        host=name if port == 80 else f"{name}:{port}",
        port=port,
        path=path,
        family=4 if family == socket.AF_INET else 6,
        address=sockaddr[0],
    )


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.match(name) or "\r" in value or "\n" in value:
        raise BenchError(f"-H {text!r}: a header is 'Name: value'")
    return name, value


def render_request(
    method: str,
    target: Target,
    headers: list[tuple[str, str]] = (),
    body: bytes = b"",
    close: bool = False,
    version: str = "HTTP/1.1",
) -> bytes:
    """The request bytes, sent as they are: Host and User-Agent unless given,
    Content-Length with a body (or a method that carries one), Connection:
    close with close."""
    if not _TOKEN.match(method):
        raise BenchError(f"--method {method!r}: not an HTTP method token")
    given = {name.lower() for name, _ in headers}
    lines = [f"{method} {target.path} {version}"]
    if "host" not in given:
        lines.append(f"Host: {target.host}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: sluice-bench/{__version__}")
    lines += [f"{name}: {value}" for name, value in headers]
    if (body or method in ("POST", "PUT", "PATCH")) and "content-length" not in given:
        lines.append(f"Content-Length: {len(body)}")
    if close and "connection" not in given:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Plan:
    target: Target
    request: bytes
    connections: int
    duration_s: float
    processes: int = 1
    pipeline: int = 1
    rate: float = 0.0  # requests/s over all processes; 0: as fast as possible
    close: bool = False
    head: bool = False
    timeout_s: float = 2.0
    sources: list[str] = field(default_factory=list)  # IPv4 source addresses


@dataclass
class Progress:
    elapsed_s: float
    requests: int
    errors: int
    rate: float  # req/s over the last sample


@dataclass
class Result:
    """The merged figures of every process."""

    plan: Plan
    requests: int
    bytes: int
    connects: int
    duration_s: float
    status: dict[str, int]
    errors: dict[str, int]
    latency: dict[str, float]  # us: min mean stdev max, and p50 ... p99.99 as "p50" "p999" "p9999"
    latency_within_stdev: float  # % of the values within mean +/- stdev
    req_per_sec: dict[str, float]  # per process, from the samples: mean stdev max within_stdev
    interrupted: bool = False

    @property
    def succeeded(self) -> int:
        return self.status["2xx"]

    @property
    def non_2xx(self) -> int:
        return self.requests - self.status["2xx"]

    @property
    def requests_per_sec(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def bytes_per_sec(self) -> float:
        return self.bytes / self.duration_s if self.duration_s > 0 else 0.0


def percentile_key(p: float) -> str:
    return "p" + f"{p:g}".replace(".", "")


def _ephemeral_ports() -> int:
    try:
        low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        return high - low + 1
    except (OSError, ValueError):
        return 28232


def _sources(plan: Plan) -> list[str]:
    """The source addresses: given, or enough of 127.0.0.0/8 for a loopback
    target past one address's ephemeral ports."""
    ports = _ephemeral_ports()
    if plan.sources:
        for s in plan.sources:
            try:
                ipaddress.IPv4Address(s)
            except ValueError:
                raise BenchError(f"--source {s!r}: not an IPv4 address") from None
        if plan.target.family != 4:
            raise BenchError("--source: IPv4 source addresses need an IPv4 target")
        return plan.sources
    if plan.connections <= ports:
        return []
    need = math.ceil(plan.connections / ports)
    if plan.target.family == 4 and plan.target.address.startswith("127.") and need <= 64:
        return [f"127.0.0.{i + 1}" for i in range(need)]
    raise BenchError(
        f"-c {plan.connections}: one source address has {ports} ephemeral ports for a server address; "
        f"give {need} or more with --source"
    )


def _raise_nofile(per_process: int, plan: Plan) -> None:
    need = per_process + FDS_PER_PROCESS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise BenchError(
                f"-c {plan.connections} with -p {plan.processes}: {per_process} connections a process need "
                f"{need} file descriptors, and the hard limit is {hard} (ulimit -Hn): "
                f"use more processes (-p) or raise the limit"
            )
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        except (ValueError, OSError) as exc:
            raise BenchError(f"cannot raise the file descriptor limit to {need}: {exc}") from None


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _child(plan: Plan, conns: int, rate: float, sources: list[str], shared, index: int) -> bytes:
    from .._binding import ffi, lib

    cfg = ffi.new("sl_bench_config *")
    request = ffi.new("char[]", plan.request)
    cfg.request = request
    cfg.request_len = len(plan.request)
    cfg.connections = conns
    cfg.pipeline = 1 if plan.close else plan.pipeline
    cfg.flags = (lib.SL_BENCH_CLOSE if plan.close else 0) | (lib.SL_BENCH_HEAD if plan.head else 0)
    cfg.duration_us = int(plan.duration_s * 1e6)
    cfg.timeout_us = max(1, int(plan.timeout_s * 1e6))
    cfg.rate_milli = max(1, round(rate * 1000)) if rate > 0 else 0
    cfg.family = plan.target.family
    cfg.port = plan.target.port
    packed = socket.inet_pton(socket.AF_INET if plan.target.family == 4 else socket.AF_INET6, plan.target.address)
    ffi.memmove(cfg.addr, packed, len(packed))
    cfg.n_sources = len(sources)
    for i, s in enumerate(sources):
        cfg.sources[i] = struct.unpack("=I", socket.inet_aton(s))[0]
    words = ffi.cast("uint64_t *", ffi.from_buffer(shared))
    cfg.shared = words + 3 * index
    result = ffi.new("sl_bench_result *")
    hist = ffi.new("sl_hist *")
    lib.sl_py_bench_run(cfg, result, hist)
    return bytes(ffi.buffer(result)) + bytes(ffi.buffer(hist))


def _bucket_middle(i: int) -> int:
    """The value sl_hist reports for bucket i (histogram.c's bucket_middle)."""
    if i < 256:
        return i
    shift = i // 128 - 1
    return ((128 + i % 128) << shift) + ((1 << shift) - 1) // 2


def _latency(hist, lib) -> tuple[dict[str, float], float]:
    from .._binding import ffi

    count = hist.count
    out: dict[str, float] = {"min": hist.min, "mean": lib.sl_hist_mean(hist), "stdev": 0.0, "max": hist.max}
    for p in PERCENTILES:
        out[percentile_key(p)] = lib.sl_hist_percentile(hist, p)
    if not count:
        return out, 0.0
    buckets = list(ffi.unpack(hist.buckets, lib.SL_HIST_BUCKETS))
    used = [(_bucket_middle(i), n) for i, n in enumerate(buckets) if n]
    mean = out["mean"]
    binned = count - hist.overflow
    var = sum(n * (v - mean) ** 2 for v, n in used) + hist.overflow * (hist.max - mean) ** 2
    stdev = math.sqrt(var / count)
    within = sum(n for v, n in used if abs(v - mean) <= stdev) if binned else 0
    out["stdev"] = stdev
    return out, 100.0 * within / count


def _sample_stats(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"mean": 0.0, "stdev": 0.0, "max": 0.0, "within_stdev": 0.0}
    mean = sum(samples) / len(samples)
    stdev = math.sqrt(sum((s - mean) ** 2 for s in samples) / (len(samples) - 1)) if len(samples) > 1 else 0.0
    within = sum(1 for s in samples if abs(s - mean) <= stdev)
    return {"mean": mean, "stdev": stdev, "max": max(samples), "within_stdev": 100.0 * within / len(samples)}


def run(plan: Plan, on_progress: Callable[[Progress], None] | None = None) -> Result:
    """Fork the processes, run the load, merge. Ctrl-C ends it early (what
    was in flight is still awaited) and the figures so far are returned."""
    from .._binding import ffi, lib

    if plan.connections < 1 or plan.processes < 1 or plan.pipeline < 1 or plan.pipeline > 65536:
        raise BenchError("connections, processes and the pipeline depth (up to 65536) must be at least 1")
    if plan.connections > 2**32 - 1:
        raise BenchError(f"-c {plan.connections}: too many connections")
    processes = min(plan.processes, plan.connections)
    conns = _shares(plan.connections, processes)
    sources = _sources(plan)
    _raise_nofile(max(conns), plan)
    result_size, hist_size = ffi.sizeof("sl_bench_result"), lib.sl_hist_size()
    shared = mmap.mmap(-1, max(mmap.PAGESIZE, 24 * processes))  # MAP_SHARED: the children write it
    children: list[tuple[int, int]] = []  # (pid, read end)
    try:
        for i in range(processes):
            try:
                rfd, wfd = os.pipe()
                pid = os.fork()
            except OSError as exc:
                _kill(children)
                raise BenchFailed(f"cannot start load process {i}: {exc.strerror or exc}") from None
            if pid == 0:  # the child: never returns into the caller's code
                code = 70
                try:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through the page
                    os.close(rfd)
                    for _, other in children:
                        os.close(other)
                    rate = plan.rate * conns[i] / plan.connections
                    data = memoryview(_child(plan, conns[i], rate, sources, shared, i))
                    while data:
                        data = data[os.write(wfd, data) :]
                    code = 0
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)
            os.close(wfd)
            children.append((pid, rfd))
        reports, samples, interrupted = _watch(
            children, shared, processes, result_size + hist_size, plan.duration_s, on_progress
        )
    finally:
        for _, rfd in children:
            try:
                os.close(rfd)
            except OSError:
                pass
    statuses = [os.waitpid(pid, 0)[1] for pid, _ in children]
    total, hist = ffi.new("sl_bench_result *"), ffi.new("sl_hist *")
    one, one_hist = ffi.new("sl_bench_result *"), ffi.new("sl_hist *")
    elapsed = 0
    for i, data in enumerate(reports):
        if len(data) != result_size + hist_size:
            raise BenchFailed(f"load process {i} ended without its report ({_describe(statuses[i])})")
        ffi.memmove(one, data[:result_size], result_size)
        ffi.memmove(one_hist, data[result_size:], hist_size)
        if one.setup_errno:
            raise BenchFailed(f"load process {i} could not run: {os.strerror(one.setup_errno)}")
        for name in ("requests", "bytes", "connects"):
            setattr(total, name, getattr(total, name) + getattr(one, name))
        for k in range(5):
            total.status[k] += one.status[k]
        for k in range(4):
            total.errors[k] += one.errors[k]
        elapsed = max(elapsed, one.elapsed_us)
        lib.sl_hist_merge(hist, one_hist)
    latency, within = _latency(hist, lib)
    return Result(
        plan=plan,
        requests=total.requests,
        bytes=total.bytes,
        connects=total.connects,
        duration_s=elapsed / 1e6,
        status={name: total.status[k] for k, name in enumerate(STATUS_CLASSES)},
        errors={name: total.errors[k] for k, name in enumerate(ERROR_KINDS)},
        latency=latency,
        latency_within_stdev=within,
        req_per_sec=_sample_stats(samples),
        interrupted=interrupted,
    )


def _kill(children) -> None:
    for pid, _ in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _watch(children, shared, processes: int, size: int, duration_s: float, on_progress):
    """Read the reports as they come; sample the progress page meanwhile
    (req/s samples for the duration only, not its drain). Returns (reports,
    per-process req/s samples, interrupted)."""
    reports = [b""] * len(children)
    open_fds = {rfd: i for i, (_, rfd) in enumerate(children)}
    start = last = time.monotonic()
    last_counts = [0] * processes
    samples: list[float] = []
    interrupted = False
    while open_fds:
        try:
            ready, _, _ = select.select(list(open_fds), [], [], SAMPLE_S)
            for rfd in ready:
                chunk = os.read(rfd, size)
                if chunk:
                    reports[open_fds[rfd]] += chunk
                else:
                    del open_fds[rfd]
            now = time.monotonic()
            if now - last >= SAMPLE_S and open_fds:
                words = struct.unpack_from(f"={3 * processes}Q", shared)
                counts = words[0::3]
                dt = now - last
                if now - start <= duration_s:
                    samples += [(c - p) / dt for c, p in zip(counts, last_counts, strict=True)]
                if on_progress:
                    rate = (sum(counts) - sum(last_counts)) / dt
                    on_progress(Progress(now - start, sum(counts), sum(words[1::3]), rate))
                last, last_counts = now, list(counts)
        except KeyboardInterrupt:
            if interrupted:  # a second Ctrl-C: no more waiting
                _kill(children)
                raise
            interrupted = True
            for i in range(processes):
                struct.pack_into("=Q", shared, 24 * i + 16, 1)
    return reports, samples[processes:] if len(samples) > 2 * processes else samples, interrupted
