"""Shared helpers of the benchmark scripts: the machine, pip, /proc figures,
compiling C, statistics, tables and the raw JSON under docs/bench/.

Only the scripts in this folder import it (``python benchmarks/X.py`` puts
this folder first on sys.path).
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CSRC = ROOT / "csrc"
BENCH_JSON = ROOT / "docs" / "bench"
BUILD = HERE / "build"  # compiled helpers (ignored by git)
CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVER_CPU = "1"  # BENCHMARKING.md: server on CPU 1, load generator on CPU 0
CLIENT_CPU = "0"


def ensure(module: str, package: str | None = None) -> None:
    """Import module, installing package with pip into this interpreter first if missing."""
    try:
        importlib.import_module(module)
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", package or module], check=True)
        importlib.invalidate_caches()
        importlib.import_module(module)


def ensure_tool(command: str, package: str) -> str:
    """The path of a command a pip package provides, installing it with pip first if missing."""
    from shutil import which

    here = Path(sys.executable).parent / command
    if not here.exists() and not which(command):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)
    return str(here) if here.exists() else (which(command) or command)


START_COMMIT = None  # the commit when the script started (set by machine()'s first call)


def machine() -> dict:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cc": _cc_version(),
        **_commits(),
    }


def _commits() -> dict:
    global START_COMMIT
    now = _commit()
    if START_COMMIT is None:
        START_COMMIT = now
    out = {"commit": START_COMMIT}
    if now != START_COMMIT:  # the tree moved during the run: say so
        out["commit_at_end"] = now
    return out


def _commit() -> str:
    """The commit measured, with "+dirty" when python/, csrc/ or build.py differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "python", "csrc", "build.py"],
            capture_output=True,
            text=True,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if head.returncode == 0 else "?"
    except OSError:
        return "?"


def _cc_version() -> str:
    try:
        out = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "?"
    except OSError:
        return "?"


def compile_c(out_name: str, sources: list[Path], extra: list[str] | None = None) -> Path:
    """cc -O2 sources -> benchmarks/build/out_name (rebuilt every time: it takes a second)."""
    BUILD.mkdir(exist_ok=True)
    out = BUILD / out_name
    cmd = ["cc", "-O2", "-std=gnu11", "-Wall", "-Wextra", f"-I{CSRC}", "-o", str(out)]
    cmd += [str(s) for s in sources] + (extra or [])
    subprocess.run(cmd, check=True)
    return out


def cpu_us(pid: int) -> float:
    """utime + stime of pid (all its threads), in microseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e6 / CLK_TCK


def cpu_split_us(pid: int) -> tuple[float, float]:
    """(utime, stime) of pid, in microseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) * 1e6 / CLK_TCK, int(fields[12]) * 1e6 / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    if title:
        lines.append(title)
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def write_json(name: str, data: dict, quick: bool) -> Path:
    """docs/bench/NAME.json; with --quick benchmarks/build/NAME-quick.json, so a
    CI check never overwrites the figures the docs quote."""
    folder = BUILD if quick else BENCH_JSON
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{name}-quick.json" if quick else f"{name}.json")
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"raw figures: {path.relative_to(ROOT)}")
    return path


def taskset(cpu: str) -> list[str]:
    """The taskset prefix, or nothing where taskset is missing or the CPU does not exist."""
    if os.cpu_count() and os.cpu_count() > int(cpu.split(",")[0]) and _has("taskset"):
        return ["taskset", "-c", cpu]
    return []


def _has(prog: str) -> bool:
    from shutil import which

    return which(prog) is not None


# ---- servers and the C client ----------------------------------------------

PEERS = HERE / "peers"
SERVERS = {
    # name: (peer file, extra arguments)
    "sluice": ("echo_sluice.py", []),
    "sluice-et": ("echo_sluice.py", ["--edge-triggered"]),
    "uvloop": ("echo_uvloop.py", []),
    "asyncio": ("echo_asyncio.py", []),
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A peer echo server in its own process, pinned to SERVER_CPU."""

    def __init__(self, name: str, extra: list[str] | None = None, stderr=None):
        import signal  # noqa: F401

        script, args = SERVERS[name]
        self.name = name
        self.port = free_port()
        cmd = taskset(SERVER_CPU) + [sys.executable, str(PEERS / script), str(self.port), *args, *(extra or [])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"{name}: server did not start (said {line!r})")
        self.pid = self.proc.pid  # taskset execs the interpreter: same pid

    def stop(self) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def client_exe() -> Path:
    return compile_c("echo_client", [HERE / "echo_client.c"])


def cpu_ticks() -> dict[str, int]:
    """Clock ticks of all CPUs by kind (/proc/stat): task time (user, nice,
    system: what processes are charged), irq+softirq (the kernel's network
    work, charged to no process) and steal (the hypervisor's)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return {"task": v[0] + v[1] + v[2], "irq": v[5] + v[6], "steal": v[7]}


def wait_quiet(limit: float = 0.05, max_wait_s: float = 900, quiet_s: float = 1.0) -> float:
    """Wait until processes other than ours took less than limit of a CPU
    over quiet_s (the machine is shared); returns the seconds waited. Gives up
    after max_wait_s (the run that follows is then judged by its own check)."""
    import time

    t0 = time.monotonic()
    told = False
    while True:
        a = cpu_ticks()["task"]
        time.sleep(quiet_s)
        busy = (cpu_ticks()["task"] - a) / CLK_TCK / quiet_s
        waited = time.monotonic() - t0
        if busy < limit or waited > max_wait_s:
            if told:
                print(f"  (waited {waited:.0f} s for a quiet machine)", file=sys.stderr, flush=True)
            return waited
        if not told:
            print(f"  other processes busy ({100 * busy:.0f}% of a CPU): waiting", file=sys.stderr, flush=True)
            told = True
