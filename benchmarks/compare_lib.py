"""benchmarks/compare's machinery: installing the peers, the servers (one
spec each, every one a file or a command line over benchmarks/peers/), their
process trees in /proc, wrk and the frame client, and the alternated,
checked runs of BENCHMARKING.md.

Imported by benchmarks/compare and its compare_*.py helpers only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    BUILD,
    CLIENT_CPU,
    CLK_TCK,
    HERE,
    PEERS,
    ROOT,
    SERVER_CPU,
    cpu_ticks,
    free_port,
    taskset,
    wait_quiet,
)

VENV = BUILD / "compare-venv"
LOGS = BUILD / "compare-logs"
STATIC = BUILD / "compare-static"
NGINX_PREFIX = BUILD / "compare-nginx"
WRK_LUA = HERE / "compare_wrk.lua"
FRAMES_CLIENT_SRC = PEERS / "frames_client.c"

OTHER_LIMIT = 0.10  # of one CPU taken by other processes during a run: disturbed, run again
STALL_LIMIT = 0.50  # the server and the client both below this share of a CPU: the run stalled
TRIES = 3
QUICK = False  # --quick: one try per run, a short wait for a quiet machine (figures not judged)

now = time.monotonic


def say(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ---- installing the peers ------------------------------------------------------

APT = {  # command or file that proves it -> Debian package
    "wrk": "wrk",
    "nginx": "nginx-light",
    "strace": "strace",
    "/usr/include/ev.h": "libev-dev",
    "taskset": "util-linux",
    "cc": "gcc",
}
PIP = ["uvloop", "httptools", "uvicorn", "gunicorn", "gevent", "granian", "matplotlib", "cffi", "setuptools"]
PIP_IMPORTS = ["uvloop", "httptools", "uvicorn", "gunicorn", "gevent", "granian", "matplotlib", "cffi"]
OPTIONAL = {"bjoern": "bjoern", "socketify": "socketify"}  # import -> PyPI name
VERSIONS = ["uvloop", "httptools", "uvicorn", "gunicorn", "gevent", "granian", "bjoern", "socketify", "matplotlib"]


def _have(what: str) -> bool:
    return Path(what).exists() if what.startswith("/") else shutil.which(what) is not None


def _apt_install(packages: list[str], notes: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}  # RUNLEVEL=1: no service started
    if os.geteuid() != 0:
        notes.append(f"not root: cannot apt-get install {' '.join(packages)}")
        return
    say(f"apt-get install {' '.join(packages)}")
    subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
    for pkg in packages:
        r = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", pkg], env=env, capture_output=True, text=True
        )
        if r.returncode and pkg == "nginx-light":  # Debian 13 has no nginx-light: the one nginx package
            r = subprocess.run(
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"],
                env=env,
                capture_output=True,
                text=True,
            )
        if r.returncode:
            notes.append(f"apt-get install {pkg} failed: {r.stderr.strip().splitlines()[-1:]}")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def _venv_imports(mods: list[str]) -> bool:
    r = subprocess.run([str(venv_python()), "-c", "import " + ", ".join(mods)], capture_output=True)
    return r.returncode == 0


def install(sluice_in_venv: bool) -> dict:
    """Debian's packages (apt-get) and PyPI's (pip into benchmarks/build/compare-venv),
    each only when missing. Returns what is there, with versions, and notes."""
    notes: list[str] = []
    t0 = now()
    missing = [pkg for what, pkg in APT.items() if not _have(what)]
    if missing:
        _apt_install(missing, notes)
    BUILD.mkdir(parents=True, exist_ok=True)
    if not venv_python().exists():
        say(f"making {VENV.relative_to(ROOT)} (python -m venv)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if not _venv_imports(PIP_IMPORTS):
        say(f"pip install {' '.join(PIP)} (into {VENV.relative_to(ROOT)})")
        subprocess.run(pip + PIP, check=True)
    for mod, dist in OPTIONAL.items():
        if not _venv_imports([mod]):
            say(f"pip install {dist}")
            r = subprocess.run(pip + [dist], capture_output=True, text=True)
            if r.returncode or not _venv_imports([mod]):
                tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
                notes.append(f"{dist}: pip install failed or does not import: {' / '.join(tail)}")
    if sluice_in_venv and not _venv_imports(["sluice"]):
        say("pip install . (sluice, into the venv)")
        subprocess.run(pip + [str(ROOT)], check=True)
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        f"for p in {VERSIONS!r}:\n"
        "    try: out[p] = m.version(p)\n"
        "    except Exception: out[p] = None\n"
        "print(json.dumps(out))"
    )
    versions = json.loads(subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True).stdout)
    versions["nginx"] = _cmd_version(["nginx", "-v"])
    versions["wrk"] = _cmd_version(["wrk", "-v"])
    versions["strace"] = _cmd_version(["strace", "-V"])
    return {"versions": versions, "notes": notes, "install_s": round(now() - t0, 1)}


def _cmd_version(cmd: list[str]) -> str | None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (r.stdout + r.stderr).strip().splitlines()
    return text[0] if text else None


def raise_nofile(want: int = 1 << 18) -> int:
    """RLIMIT_NOFILE for this process and its children (root may raise the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    except OSError:
        nr_open = hard
    new_hard = max(hard, min(want, nr_open)) if os.geteuid() == 0 else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, new_hard), new_hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def compile_frames_client() -> Path:
    BUILD.mkdir(parents=True, exist_ok=True)
    out = BUILD / "frames_client"
    subprocess.run(["cc", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-o", str(out), str(FRAMES_CLIENT_SRC)], check=True)
    return out


def make_static_files() -> dict[str, str]:
    """benchmarks/build/compare-static/{4k,1m}.bin: the static scenario's files."""
    STATIC.mkdir(parents=True, exist_ok=True)
    files = {"4k": ("4k.bin", 4096), "1m": ("1m.bin", 1 << 20)}
    for name, size in files.values():
        p = STATIC / name
        if not p.exists() or p.stat().st_size != size:
            p.write_bytes(bytes((i * 31 + 7) & 0xFF for i in range(size)))
    return {k: "/" + v[0] for k, v in files.items()}


def nginx_conf(port: int) -> Path:
    """peers/nginx.conf.in filled in for this port, under benchmarks/build/compare-nginx/."""
    (NGINX_PREFIX / "tmp").mkdir(parents=True, exist_ok=True)
    (NGINX_PREFIX / "logs").mkdir(parents=True, exist_ok=True)  # nginx opens logs/error.log before its config
    text = (PEERS / "nginx.conf.in").read_text()
    text = text.replace("@PREFIX@", str(NGINX_PREFIX)).replace("@PORT@", str(port)).replace("@ROOT@", str(STATIC))
    conf = NGINX_PREFIX / f"nginx-{port}.conf"
    conf.write_text(text)
    return conf


# ---- the servers -----------------------------------------------------------------


@dataclass
class Spec:
    name: str
    about: str  # what runs, for the report
    cmd: Callable[[int], list[str]]
    ready: str = "http"  # http: GET ready_path answers 200; line: prints "ready"; frames: echoes a frame
    ready_path: str = "/"
    env: dict = field(default_factory=dict)
    cleanup: Callable[[int], None] | None = None


@dataclass
class Ctx:
    sluice_py: str
    quick: bool
    available: dict  # import name -> bool (optional peers)
    gunicorn_flags: list[str] = field(default_factory=list)


def sluice_cmd(ctx: Ctx, *args: str) -> list[str]:
    return [ctx.sluice_py, "-m", "sluice.cli", *args]


def http_specs(ctx: Ctx) -> dict[str, Spec]:
    vpy, vbin = str(venv_python()), VENV / "bin"
    quiet = ["--log-level", "warning"]

    def bind(p):
        return ["--bind", f"127.0.0.1:{p}"]

    specs = [
        Spec(
            "sluice",
            "sluice serve http_sluice:app --workers 0 (a sluice.App, one process)",
            lambda p: sluice_cmd(ctx, "serve", "http_sluice:app", "--workers", "0", *bind(p), *quiet),
        ),
        Spec(
            "uvloop+httptools",
            "python http_uvloop.py (raw asyncio.Protocol on uvloop, httptools parser)",
            lambda p: [vpy, str(PEERS / "http_uvloop.py"), str(p)],
            ready="line",
        ),
        Spec(
            "uvicorn",
            "uvicorn http_uvicorn:app --loop uvloop --http httptools (ASGI, one process)",
            lambda p: [
                vpy,
                "-m",
                "uvicorn",
                "http_uvicorn:app",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--host",
                "127.0.0.1",
                "--port",
                str(p),
                "--no-access-log",
                "--log-level",
                "warning",
                "--timeout-keep-alive",
                "60",
                "--backlog",
                "2048",
            ],
        ),
        Spec(
            "nginx",
            "nginx (peers/nginx.conf.in: master + 1 worker, access_log off, return 200)",
            lambda p: ["nginx", "-p", str(NGINX_PREFIX), "-c", str(nginx_conf(p))],
            cleanup=lambda p: (NGINX_PREFIX / f"nginx-{p}.conf").unlink(missing_ok=True),
        ),
        Spec(
            "socketify",
            "python http_socketify.py (socketify.py App, one process)",
            lambda p: [vpy, str(PEERS / "http_socketify.py"), str(p)],
            ready="line",
        ),
        Spec(
            "sluice-wsgi",
            "sluice serve http_wsgi_app:app --interface wsgi --workers 0 (the app on the loop's thread)",
            lambda p: sluice_cmd(
                ctx, "serve", "http_wsgi_app:app", "--interface", "wsgi", "--workers", "0", *bind(p), *quiet
            ),
        ),
        Spec(
            "gunicorn-gthread",
            "gunicorn http_wsgi_app:app -k gthread --threads 8 -w 1 (master + 1 worker)",
            lambda p: [
                str(vbin / "gunicorn"),
                "http_wsgi_app:app",
                "-k",
                "gthread",
                "--threads",
                "8",
                "-w",
                "1",
                "--worker-connections",
                "2000",
                "--keep-alive",
                "60",
                "--backlog",
                "2048",
                "-b",
                f"127.0.0.1:{p}",
                "--log-level",
                "warning",
                *ctx.gunicorn_flags,
            ],
        ),
        Spec(
            "gunicorn-gevent",
            "gunicorn http_wsgi_app:app -k gevent --worker-connections 2000 -w 1 (master + 1 worker)",
            lambda p: [
                str(vbin / "gunicorn"),
                "http_wsgi_app:app",
                "-k",
                "gevent",
                "-w",
                "1",
                "--worker-connections",
                "2000",
                "--keep-alive",
                "60",
                "--backlog",
                "2048",
                "-b",
                f"127.0.0.1:{p}",
                "--log-level",
                "warning",
                *ctx.gunicorn_flags,
            ],
        ),
        Spec(
            "bjoern",
            "python http_bjoern.py (bjoern.run, one process)",
            lambda p: [vpy, str(PEERS / "http_bjoern.py"), str(p)],
        ),
        Spec(
            "granian-wsgi",
            "granian --interface wsgi --workers 1 http_wsgi_app:app (main + 1 worker process)",
            lambda p: [
                str(vbin / "granian"),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(p),
                "--workers",
                "1",
                "--http",
                "1",
                "--no-ws",
                "--log-level",
                "warning",
                "--backlog",
                "2048",
                "http_wsgi_app:app",
            ],
        ),
        # static files (issue 15)
        Spec(
            "sluice-static",
            "sluice serve --root DIR --workers 0 (sendfile)",
            lambda p: sluice_cmd(ctx, "serve", "--root", str(STATIC), "--workers", "0", *bind(p), *quiet),
            ready_path="/4k.bin",
        ),
        Spec(
            "nginx-static",
            "nginx, the same config: location / { root DIR; } with sendfile on",
            lambda p: ["nginx", "-p", str(NGINX_PREFIX), "-c", str(nginx_conf(p))],
            ready_path="/4k.bin",
            cleanup=lambda p: (NGINX_PREFIX / f"nginx-{p}.conf").unlink(missing_ok=True),
        ),
        Spec(
            "gunicorn-static",
            "gunicorn static_wsgi:app -k gthread --threads 8 -w 1 (wsgi.file_wrapper: sendfile)",
            lambda p: [
                str(vbin / "gunicorn"),
                "static_wsgi:app",
                "-k",
                "gthread",
                "--threads",
                "8",
                "-w",
                "1",
                "--keep-alive",
                "60",
                "-b",
                f"127.0.0.1:{p}",
                "--log-level",
                "warning",
                *ctx.gunicorn_flags,
            ],
            ready_path="/4k.bin",
            env={"STATIC_ROOT": str(STATIC)},
        ),
    ]
    out = {s.name: s for s in specs}
    if not ctx.available.get("socketify"):
        out.pop("socketify")
    if not ctx.available.get("bjoern"):
        out.pop("bjoern")
    return out


def frame_specs(ctx: Ctx, idle_timeout: float) -> dict[str, Spec]:
    vpy = str(venv_python())
    return {
        "sluice": Spec(
            "sluice",
            "sluice msg-echo --workers 0 (MessageServer, idle timeout 8 s)",
            lambda p: sluice_cmd(
                ctx, "msg-echo", "--workers", "0", "--bind", f"127.0.0.1:{p}", "--log-level", "warning"
            ),
            ready="frames",
        ),
        "uvloop": Spec(
            "uvloop",
            "python frames_uvloop.py (asyncio.Protocol on uvloop, struct parsing)",
            lambda p: [vpy, str(PEERS / "frames_uvloop.py"), str(p)],
            ready="line",
        ),
        "sluice-wheel": Spec(
            "sluice-wheel",
            f"python frames_sluice.py --idle-timeout {idle_timeout:g} (msg-echo's server, wheel ticks timed)",
            lambda p: [ctx.sluice_py, str(PEERS / "frames_sluice.py"), str(p), "--idle-timeout", f"{idle_timeout:g}"],
            ready="line",
        ),
        "sluice-nowheel": Spec(
            "sluice-nowheel",
            "python frames_sluice.py --idle-timeout 0 (the same, no idle wheel)",
            lambda p: [ctx.sluice_py, str(PEERS / "frames_sluice.py"), str(p), "--idle-timeout", "0"],
            ready="line",
        ),
    }


# ---- /proc ---------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """pid and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                try:
                    with open(f"/proc/{p}/task/{task}/children") as f:
                        todo.extend(int(x) for x in f.read().split())
                except OSError:
                    pass
        except OSError:
            pass
    return out


def cpu_of(pids: list[int]) -> dict[int, float]:
    """utime+stime (µs) of each pid still there."""
    out = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            out[p] = (int(st[11]) + int(st[12])) * 1e6 / CLK_TCK
        except (OSError, IndexError):
            pass
    return out


def cpu_delta(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(v - a.get(p, 0.0) for p, v in b.items())


def rss_of(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


# ---- one server process ------------------------------------------------------------


def http_get(port: int, path: str = "/", timeout: float = 1.0) -> tuple[int | None, bytes]:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return int(data.split(b" ", 2)[1]), data
    except (OSError, ValueError, IndexError):
        return None, b""


def frame_echo_ok(port: int, timeout: float = 1.0) -> bool:
    frame = b"SL\x01\x10\x00\x00\x00\x00\x00\x00\x00\x04ping"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(frame)
            got = b""
            while len(got) < len(frame):
                chunk = s.recv(64)
                if not chunk:
                    return False
                got += chunk
        return got == frame
    except OSError:
        return False


class ServerProc:
    """A server of a Spec in its own session, pinned to SERVER_CPU, logs in
    benchmarks/build/compare-logs/NAME.log."""

    def __init__(self, spec: Spec, env: dict | None = None, port: int | None = None):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.spec = spec
        self.port = port or free_port()
        self.log_path = LOGS / f"{spec.name}.log"
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.log.write(f"\n--- {time.strftime('%H:%M:%S')} port {self.port}\n")
        self.log.flush()
        cmd = taskset(SERVER_CPU) + spec.cmd(self.port)
        self.proc = subprocess.Popen(
            cmd,
            cwd=PEERS,
            env={**os.environ, **spec.env, **(env or {})},
            stdout=subprocess.PIPE if spec.ready == "line" else self.log,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid  # taskset execs the command: the same pid
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 30.0) -> None:
        if self.spec.ready == "line":
            line = self.proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"{self.spec.name}: did not start (said {line!r}; see {self.log_path})")
            return
        deadline = now() + timeout
        while now() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name}: exited with {self.proc.returncode} (see {self.log_path})")
            if self.spec.ready == "frames":
                if frame_echo_ok(self.port):
                    return
            elif http_get(self.port, self.spec.ready_path)[0] == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.spec.name}: no answer within {timeout:g} s (see {self.log_path})")

    def pids(self) -> list[int]:
        return tree(self.pid)

    def cpu(self) -> dict[int, float]:
        return cpu_of(self.pids())

    def rss(self) -> int:
        return rss_of(self.pids())

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if self.spec.cleanup:
            self.spec.cleanup(self.port)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- wrk -------------------------------------------------------------------------------


def wrk(port: int, path: str, conns: int, seconds: float, depth: int = 1, close: bool = False) -> dict:
    """One wrk run on CLIENT_CPU (one thread); its JSON line, plus the client's
    CPU time (wait4's rusage) and wrk's exit code."""
    cmd = taskset(CLIENT_CPU) + [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(WRK_LUA),
    ]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd += [f"http://127.0.0.1:{port}{path}", "--", str(depth)]
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)  # the client's own CPU time, from the kernel
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        err.seek(0)
        errs = err.read()
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result (exit {p.returncode}): {errs.strip()[:300]} {out[-300:]}")
    r = json.loads(line)
    r["client_cpu_us"] = (ru.ru_utime + ru.ru_stime) * 1e6
    r["wrk_exit"] = p.returncode
    r["depth"] = depth
    if depth > 1:  # wrk's percentiles come out as 0 under pipelining (its latency correction): mean and max only
        r["p50_us"] = r["p90_us"] = r["p99_us"] = None
    r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    r["error_total"] = r["socket_errors"] + r["status"]
    return r


def http_run(spec: Spec, path: str, conns: int, depth: int, close: bool, warmup: float, duration: float) -> dict:
    """Start the server, warm it up (a wrk run of WARMUP s), then the measured
    wrk run: the server's CPU (its whole process tree) sampled right before
    and right after it."""
    with ServerProc(spec) as srv:
        if warmup > 0:
            wrk(srv.port, path, conns, warmup, depth, close)
        pids = srv.pids()
        c0, b0, t0 = cpu_of(pids), cpu_ticks(), now()
        r = wrk(srv.port, path, conns, duration, depth, close)
        c1, b1, t1 = cpu_of(srv.pids()), cpu_ticks(), now()
        r["processes"] = len(pids)
    server_us = cpu_delta(c0, c1)
    window_us = (t1 - t0) * 1e6
    task_us = (b1["task"] - b0["task"]) * 1e6 / CLK_TCK
    n = r["requests"]
    r.update(
        server=spec.name,
        server_cpu_us=server_us,
        cpu_us_per_req=server_us / n if n else float("inf"),
        rps=n / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0,
        server_cpu_share=server_us / window_us,
        client_cpu_share=r["client_cpu_us"] / window_us,
        other_cpu_share=max(0.0, (task_us - server_us - r["client_cpu_us"]) / window_us),
        irq_cpu_share=(b1["irq"] - b0["irq"]) * 1e6 / CLK_TCK / window_us,
        steal_cpu_share=(b1["steal"] - b0["steal"]) * 1e6 / CLK_TCK / window_us,
    )
    return r


# ---- checked runs, alternated -------------------------------------------------------


def checked(fn: Callable[[], dict], label: str, tries: int = TRIES, show: Callable[[dict], str] | None = None) -> dict:
    """fn() until a run has no error and other processes took under
    OTHER_LIMIT of a CPU (tries times at most); the last run, marked valid or not."""
    r: dict = {}
    if QUICK:
        tries = 1
    for attempt in range(1, tries + 1):
        if QUICK:
            wait_quiet(quiet_s=0.3, max_wait_s=5)
        else:
            wait_quiet(quiet_s=1.0)
        try:
            r = fn()
        except Exception as exc:  # a server that did not start, a client that said nothing: not a result
            r = {"failed": str(exc), "error_total": 1, "other_cpu_share": 0.0}
        r["attempt"] = attempt
        bad = []
        if r.get("failed"):
            bad.append(r["failed"])
        elif r.get("error_total"):
            bad.append(f"errors {r.get('errors') or _err_text(r)}")
        if r.get("other_cpu_share", 0) > OTHER_LIMIT:
            bad.append(f"other processes took {100 * r['other_cpu_share']:.0f}% of a CPU")
        stalled = "server_cpu_share" in r and max(r["server_cpu_share"], r.get("client_cpu_share", 1.0)) < STALL_LIMIT
        if stalled:
            # a closed loop runs one side flat out; neither busy: requests left unanswered (or the host stalled)
            r["stalled"] = True
            bad.append(
                f"stalled: server {100 * r['server_cpu_share']:.0f}% and client "
                f"{100 * r['client_cpu_share']:.0f}% of a CPU"
            )
        text = show(r) if show and not r.get("failed") else ""
        if bad:
            text += f"  -- {'run again' if attempt < tries else 'not a result'}: {'; '.join(bad)}"
        say(f"  {label:28s} {text}")
        if not bad:
            r["valid"] = True
            return r
        if stalled:  # the same again next time (a server that does not answer pipelined requests): no retry
            break
    r["valid"] = False
    return r


def _err_text(r: dict) -> str:
    keys = ["connect", "read", "write", "timeout", "status"]
    return ", ".join(f"{k} {r[k]}" for k in keys if r.get(k))


def show_http(r: dict) -> str:
    lat = (
        f"p50 {r['p50_us']:.0f} p99 {r['p99_us']:.0f} µs"
        if r.get("p99_us") is not None
        else f"mean {r['mean_us']:.0f} max {r['max_us']:.0f} µs"
    )
    return (
        f"{r['rps']:>9,.0f} req/s {r['cpu_us_per_req']:7.2f} µs/req  server {100 * r['server_cpu_share']:3.0f}% "
        f"client {100 * r['client_cpu_share']:3.0f}% other {100 * r['other_cpu_share']:3.0f}%  {lat}"
    )
