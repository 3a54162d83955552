"""Reload under load: Sluice's master-worker vs gunicorn, HUP in the middle of
a keep-alive HTTP load. Issue 13's benchmark: failed requests, and the
latency spike while the workers are replaced.

    python benchmarks/reload.py [--quick] [--rounds R] [--duration D] [--conns C]
        [--think S] [--timeout S] [--client-procs P] [--gunicorn latest,23.0.0]
        [--only NAME ...]    (NAME: sluice, sluice-serve, gunicorn, gunicorn-X.Y.Z)

Servers (2 workers each, a pid file, loopback, all their processes pinned to
CPU 1):
  sluice    `python -m sluice.cli tcp reload_sluice_http:HelloHTTP --workers 2
            --idle-timeout 5`, run by this interpreter (the one the repo is
            installed in: pip install .); the protocol is
            benchmarks/peers/reload_sluice_http.py, a minimal HTTP/1.1
            keep-alive responder whose next response after stop_requested()
            says `Connection: close` (written before Sluice's HTTP server
            existed: the arbiter's reload alone, with the least Python)
  sluice-serve  `python -m sluice.cli serve reload_gunicorn_app:app
            --interface wsgi --workers 2 --keepalive 5`: Sluice's HTTP server
            with the very WSGI app gunicorn runs (on the loop's thread:
            --threads 0)
  gunicorn  `gunicorn reload_gunicorn_app:app -k gthread --threads 8
            --keep-alive 5 -w 2` (benchmarks/peers/reload_gunicorn_app.py),
            from PyPI into a venv of its own that this script makes if
            missing: benchmarks/build/gunicorn-venv for the newest release
            ("gunicorn"), benchmarks/build/gunicorn-X.Y.Z-venv for an older
            one ("gunicorn-X.Y.Z"). --gunicorn picks them; by default the
            newest and 23.0.0, the release before gunicorn's graceful stop
            began to answer kept-alive requests with Connection: close
            (gunicorn issues #2529, #3394)

All: graceful timeout 30 s, keep-alive 5 s, listen backlog 1024, the same
5-byte "hello".

One run: start the server, wait until it answers and has its 2 workers; the
load client (benchmarks/reload_client.py, one asyncio process pinned to CPU
0, its CPU share reported) opens C keep-alive connections and sends requests
for D seconds, each connection waiting about THINK seconds between a
response and its next request; at D/3 the master gets SIGHUP. Every request
is recorded (sent time, latency, outcome); a failure is a refused or failed
connect, a reset, EOF before a complete response, no response within
TIMEOUT, or a non-200. `Connection: close`, or EOF after a complete
response, makes the client reconnect: not a failure. The master's children
(/proc/PID/task/*/children) are read just before the HUP, every 5 ms after
it, and after the load: when the last old worker exited, and whether the
pids changed.

Windows (latencies of the successful requests only; failures are counted
apart, in all windows):
  steady  requests sent from 0.5 s after the start and completed before the HUP
  reload  requests completed after the HUP and sent before the window's end:
          the later of HUP + 3 s and the exit of the last old worker, capped
          at the end of the load (so at least 3 s for every server, and the
          whole replacement however long it takes; --quick: 2.7 s)

The servers are alternated (sluice, sluice-serve, gunicorn, gunicorn-23.0.0,
sluice, ...), R rounds. Before each run the script waits (up to 1 min) for other processes
to take under 5% of a CPU; a run during which they took over 25% is set
aside and run again (3 tries, --quick 1; the failures of a run set aside
still count in the verdict). Raw figures: docs/bench/reload.json (--quick:
benchmarks/build/reload-quick.json); the servers' logs:
benchmarks/build/reload-logs/.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    BUILD,
    CLIENT_CPU,
    CLK_TCK,
    HERE,
    PEERS,
    SERVER_CPU,
    cpu_ticks,
    free_port,
    machine,
    table,
    taskset,
    wait_quiet,
    write_json,
)

WORKERS = 2
WARMUP_S = 0.5  # the steady window starts this long after the load does
WINDOW_MIN_S = 3.0  # the reload window lasts at least this long after the HUP
TIMELINE_S = (-1.0, 4.0)  # the JSON's timeline, seconds from the HUP
OTHER_LIMIT = 0.25  # of one CPU taken by other processes during a run: disturbed, run again
TRIES = 3
CLIENT_BOUND = 0.9  # the client took more than this share of its CPU: it, not the server, set the pace
START_AFTER_S = 1.5  # the client's connections open during this time
GRACEFUL_TIMEOUT = 30
KEEP_ALIVE = 5
LOGS = BUILD / "reload-logs"
CLIENT = HERE / "reload_client.py"
OUTCOMES = [
    "ok",
    "refused",
    "connect_error",
    "reset",
    "eof_before_response",
    "eof_partial",
    "timeout",
    "bad_status",
    "bad_response",
]  # as in reload_client.py

now = time.monotonic


# ---- gunicorn's venv ----------------------------------------------------------


def ensure_gunicorn(version: str | None) -> tuple[Path, str, bool]:
    """A venv under benchmarks/build/ with gunicorn in it, made if missing:
    gunicorn-venv for PyPI's latest (as it was when the venv was made),
    gunicorn-VERSION-venv for gunicorn==VERSION. Returns the gunicorn command,
    its version, and whether it has --no-control-socket (gunicorn 25+ opens a
    control socket in ~/.gunicorn by default)."""
    BUILD.mkdir(exist_ok=True)
    venv = BUILD / (f"gunicorn-{version}-venv" if version else "gunicorn-venv")
    exe, py = venv / "bin" / "gunicorn", venv / "bin" / "python"
    if not py.exists():
        print(f"making {venv.relative_to(HERE.parent)} (python -m venv)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not exe.exists():
        spec = f"gunicorn=={version}" if version else "gunicorn"
        subprocess.run([str(py), "-m", "pip", "install", "-q", spec], check=True)
    got = subprocess.run(
        [str(py), "-c", "import gunicorn; print(gunicorn.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    helptext = subprocess.run([str(exe), "--help"], capture_output=True, text=True).stdout
    return exe, got, "--no-control-socket" in helptext


def server_cmd(name: str, port: int, pid_file: Path, peers: dict) -> list[str]:
    common = [
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--pid-file",
        str(pid_file),
        "--graceful-timeout",
        str(GRACEFUL_TIMEOUT),
        "--backlog",
        "1024",
    ]
    if name == "sluice-serve":
        return [
            sys.executable,
            "-m",
            "sluice.cli",
            "serve",
            "reload_gunicorn_app:app",
            "--interface",
            "wsgi",
            "--keepalive",
            str(KEEP_ALIVE),
            *common,
        ]
    if name == "sluice":
        return [
            sys.executable,
            "-m",
            "sluice.cli",
            "tcp",
            "reload_sluice_http:HelloHTTP",
            "--idle-timeout",
            str(KEEP_ALIVE),
            *common,
        ]
    exe, _, no_control_socket = peers[name]
    return [
        str(exe),
        "reload_gunicorn_app:app",
        "-k",
        "gthread",
        "--threads",
        "8",
        "--keep-alive",
        str(KEEP_ALIVE),
        "-w",
        str(WORKERS),
        "-b",
        f"127.0.0.1:{port}",
        "--pid",
        str(pid_file),
        "--graceful-timeout",
        str(GRACEFUL_TIMEOUT),
        "--backlog",
        "1024",
        "--chdir",
        str(PEERS),
    ] + (["--no-control-socket"] if no_control_socket else [])


# ---- /proc ----------------------------------------------------------------------


def children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def tree_cpu_us(master: int) -> float:
    """utime+stime of the master, of its reaped children (cutime+cstime) and
    of its live children: a worker that exits between two samples stays in."""
    st = _stat(master)
    if st is None:
        return float("nan")
    ticks = sum(int(x) for x in st[11:15])
    for child in children(master):
        cs = _stat(child)
        if cs is not None:
            ticks += int(cs[11]) + int(cs[12])
    return ticks * 1e6 / CLK_TCK


# ---- one run -----------------------------------------------------------------


def http_get(port: int, timeout: float = 1.0) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return int(data.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """TERM to the process group (a graceful stop for both servers), SIGKILL after grace."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
    except ProcessLookupError:
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def _self_cpu_us() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1e6


def sleep_until(t: float) -> None:
    d = t - now()
    if d > 0:
        time.sleep(d)


def one_run(name: str, label: str, args, peers: dict) -> dict:
    LOGS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    pid_file = BUILD / f"reload-{name}.pid"
    pid_file.unlink(missing_ok=True)
    log_path = LOGS / f"{label}.log"
    out_prefix = BUILD / f"reload-{label}.requests"
    for old in BUILD.glob(f"{out_prefix.name}.*"):
        old.unlink()
    cmd = taskset(SERVER_CPU) + server_cmd(name, port, pid_file, peers)
    server = client = None
    with open(log_path, "w") as log:
        try:
            server = subprocess.Popen(cmd, cwd=PEERS, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            master = _wait_ready(server, port, pid_file, name)
            time.sleep(1.0)  # both workers booted and settled
            t0 = now() + START_AFTER_S
            t_hup = t0 + args.duration / 3
            t_end = t0 + args.duration
            ccmd = taskset(CLIENT_CPU) + [
                sys.executable,
                str(CLIENT),
                str(port),
                "--conns",
                str(args.conns),
                "--start",
                repr(t0),
                "--duration",
                str(args.duration),
                "--think",
                str(args.think),
                "--timeout",
                str(args.timeout),
                "--procs",
                str(args.client_procs),
                "--out",
                str(out_prefix),
            ]
            client = subprocess.Popen(ccmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
            sleep_until(t0)
            cpu0, ticks0, self0 = tree_cpu_us(master), cpu_ticks(), _self_cpu_us()
            sleep_until(t_hup - 0.05)
            old = children(master)
            sleep_until(t_hup)
            os.kill(master, signal.SIGHUP)
            t_hup = now()
            first_seen: dict[int, float] = {}
            exited: dict[int, float] = {}
            while now() < t_end:
                t = now()
                for pid in children(master) - old:
                    first_seen.setdefault(pid, t)
                for pid in old:
                    if pid not in exited and not running(pid):
                        exited[pid] = t
                time.sleep(0.005)
            cpu1, ticks1, self1 = tree_cpu_us(master), cpu_ticks(), _self_cpu_us()
            lines, _ = client.communicate(timeout=args.timeout + 30)
            after = children(master)
            deadline = now() + GRACEFUL_TIMEOUT + 5
            while len(exited) < len(old) and now() < deadline:  # old workers past the end of the load
                for pid in old:
                    if pid not in exited and not running(pid):
                        exited[pid] = now()
                time.sleep(0.02)
            if client.returncode:
                raise RuntimeError(f"{label}: the client failed (exit {client.returncode}): {lines}")
        finally:
            if client is not None and client.poll() is None:
                stop_group(client, 2)
            if server is not None:
                stop_group(server)
    parts = []
    for i in range(args.client_procs):
        with open(f"{out_prefix}.{i}", "rb") as f:
            parts.append(pickle.load(f))
        os.unlink(f"{out_prefix}.{i}")
    window = {
        "t0": t0,
        "t_hup": t_hup,
        "t_end": t_end,
        "old": sorted(old),
        "after": sorted(after),
        "first_seen": first_seen,
        "exited": exited,
        "server_cpu_us": cpu1 - cpu0,
        "self_cpu_us": self1 - self0,
        "ticks": {k: (ticks1[k] - ticks0[k]) * 1e6 / CLK_TCK for k in ticks0},
    }
    r = analyse(name, label, parts, window, args)
    r["log"] = str(log_path.relative_to(HERE.parent))
    return r


def _wait_ready(server: subprocess.Popen, port: int, pid_file: Path, name: str) -> int:
    deadline = now() + 30
    while now() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{name}: the server exited with {server.returncode} before answering")
        master = read_pid(pid_file)
        if master and http_get(port) == 200 and len([p for p in children(master) if running(p)]) == WORKERS:
            return master
        time.sleep(0.05)
    raise RuntimeError(f"{name}: no answer with {WORKERS} workers within 30 s")


# ---- figures ---------------------------------------------------------------------


def pct(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1e3, 3)


def analyse(name: str, label: str, parts: list[dict], w: dict, args) -> dict:
    t0, t_hup, t_end = w["t0"], w["t_hup"], w["t_end"]
    old_gone = max(w["exited"].values()) if len(w["exited"]) == len(w["old"]) and w["old"] else None
    w_end = min(t_end, max(t_hup + WINDOW_MIN_S, old_gone if old_gone is not None else float("inf")))
    steady, reload_, after_w = [], [], []
    fails = {k: 0 for k in OUTCOMES[1:]}
    fails_in = {"steady": 0, "reload": 0, "other": 0}
    fail_times = []
    fail_reused = 0
    total = 0
    bins: dict[int, list] = {}
    for p in parts:
        for sent, lat, outcome, reused in zip(p["sent"], p["latency"], p["outcome"], p["reused"], strict=True):
            total += 1
            done = sent + lat
            b = int((sent - t_hup) // 0.1)
            cell = bins.setdefault(b, [0, 0, 0.0])
            cell[0] += 1
            if outcome:
                cell[1] += 1
            elif lat > cell[2]:
                cell[2] = lat
            if sent >= t0 + WARMUP_S and done < t_hup:
                where = "steady"
            elif done >= t_hup and sent < w_end:
                where = "reload"
            else:
                where = "other"
            if outcome:
                fails[OUTCOMES[outcome]] += 1
                fails_in[where] += 1
                fail_times.append(round(sent - t_hup, 4))
                fail_reused += reused
                continue
            (steady if where == "steady" else reload_ if where == "reload" else after_w).append(lat)
    steady.sort()
    reload_.sort()
    counts = [p["counts"] for p in parts]
    client_cpu = sum(c["cpu_s"] for c in counts)
    wall = max(c["wall_s"] for c in counts)
    server_cpu = w["server_cpu_us"]
    window_us = (t_end - t0) * 1e6
    other = w["ticks"]["task"] - server_cpu - client_cpu * 1e6 - w["self_cpu_us"]  # this script's polling too
    failed = sum(fails.values())
    new_pids = set(w["after"]) - set(w["old"])
    first_seen = sorted(w["first_seen"].values())
    return {
        "server": name,
        "label": label,
        "requests": total,
        "failed": failed,
        "failed_by_kind": {k: v for k, v in fails.items() if v},
        "failed_by_window": fails_in,
        "failed_on_reused_connection": fail_reused,
        "failure_times_after_hup_s": fail_times[:200],
        "steady": {
            "requests_ok": len(steady),
            "p50_ms": ms(pct(steady, 0.5)),
            "p99_ms": ms(pct(steady, 0.99)),
            "max_ms": ms(steady[-1] if steady else None),
        },
        "reload": {
            "window_s": round(w_end - t_hup, 3),
            "requests_ok": len(reload_),
            "p50_ms": ms(pct(reload_, 0.5)),
            "p99_ms": ms(pct(reload_, 0.99)),
            "max_ms": ms(reload_[-1] if reload_ else None),
        },
        "after_window": {"requests_ok": len(after_w), "p99_ms": ms(pct(sorted(after_w), 0.99))},
        "workers_before": w["old"],
        "workers_after": w["after"],
        "pids_changed": bool(w["old"]) and not (set(w["old"]) & set(w["after"])) and len(w["after"]) == WORKERS,
        "new_workers_seen_after_hup_s": [round(t - t_hup, 3) for t in first_seen],
        "old_workers_exited_after_hup_s": sorted(round(t - t_hup, 3) for t in w["exited"].values()),
        "last_old_worker_exited_after_hup_s": None if old_gone is None else round(old_gone - t_hup, 3),
        "new_worker_pids": sorted(new_pids),
        "server_cpu_us_per_request": round(server_cpu / total, 1) if total else None,
        "server_cpu_share": round(server_cpu / window_us, 3),
        "client_cpu_share": round(client_cpu / wall, 3) if wall else None,
        "client_bound": bool(wall) and client_cpu / wall > CLIENT_BOUND,
        "other_cpu_share": round(max(0.0, other / window_us), 3),
        "script_cpu_share": round(w["self_cpu_us"] / window_us, 3),
        "client": counts,
        "timeline_100ms_from_hup": [  # by sent time, from 1 s before the HUP to 4 s after
            {"t_s": round(b / 10, 1), "requests": c[0], "failed": c[1], "max_ok_ms": round(c[2] * 1e3, 2)}
            for b, c in sorted(bins.items())
            if TIMELINE_S[0] <= b / 10 < TIMELINE_S[1]
        ],
    }


def f1(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def kinds(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"


def summarise(runs: list[dict], aside: list[dict]) -> dict:
    def med(get):
        vals = [get(r) for r in runs if get(r) is not None]
        if not vals:
            return None
        return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}

    by_kind: dict[str, int] = {}
    for r in runs:
        for k, v in r["failed_by_kind"].items():
            by_kind[k] = by_kind.get(k, 0) + v
    return {
        "runs": len(runs),
        "requests": sum(r["requests"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        "failed_per_run": [r["failed"] for r in runs],
        "failed_by_kind": by_kind,
        "runs_set_aside": len(aside),  # disturbed by other processes and run again
        "failed_in_runs_set_aside": sum(r["failed"] for r in aside),
        "steady_p50_ms": med(lambda r: r["steady"]["p50_ms"]),
        "steady_p99_ms": med(lambda r: r["steady"]["p99_ms"]),
        "reload_p99_ms": med(lambda r: r["reload"]["p99_ms"]),
        "reload_max_ms": med(lambda r: r["reload"]["max_ms"]),
        "last_old_worker_exited_after_hup_s": med(lambda r: r["last_old_worker_exited_after_hup_s"]),
        "server_cpu_us_per_request": med(lambda r: r["server_cpu_us_per_request"]),
        "client_cpu_share": med(lambda r: r["client_cpu_share"]),
        "pids_changed_every_run": all(r["pids_changed"] for r in runs),
    }


def _terminated(sig, frame) -> None:
    raise SystemExit(128 + sig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round of 4 s unless told otherwise (CI: it works)")
    ap.add_argument("--rounds", type=int, help="alternated runs per server (default 3; --quick 1)")
    ap.add_argument("--duration", type=float, help="seconds of load per run, HUP at a third (default 10; --quick 4)")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument(
        "--think",
        type=float,
        default=0.02,
        help="mean seconds between a response and the next request (uniform 0.5-1.5x; default 0.02)",
    )
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds for a complete response")
    ap.add_argument("--client-procs", type=int, default=1, help="client processes (all on CPU 0)")
    ap.add_argument(
        "--gunicorn",
        default="latest,23.0.0",
        metavar="VERSIONS",
        help="gunicorn versions to run, each in its own venv: 'latest' (PyPI's newest, named gunicorn) "
        "and X.Y.Z (named gunicorn-X.Y.Z); default latest,23.0.0",
    )
    ap.add_argument("--only", action="append", metavar="NAME", help="run these servers only (repeat)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _terminated)  # unwind, so that every process started is stopped
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (4.0 if args.quick else 10.0)
    machine()  # notes the commit measured
    peers = {}
    for v in filter(None, (x.strip() for x in args.gunicorn.split(","))):
        peers["gunicorn" if v == "latest" else f"gunicorn-{v}"] = ensure_gunicorn(None if v == "latest" else v)
    names = ["sluice", "sluice-serve", *peers]
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            ap.error(f"--only: unknown {sorted(unknown)} (known: {names})")
        names = [n for n in names if n in args.only]
    versions = {n: peers[n][1] for n in names if n in peers}
    about = ", ".join(f"{n} is gunicorn {v} gthread" for n, v in versions.items())
    print(
        f"reload under load: {args.conns} keep-alive connections, think {args.think * 1e3:g} ms, "
        f"{args.duration:g} s per run, HUP at {args.duration / 3:.2f} s, {WORKERS} workers; {about}",
        file=sys.stderr,
        flush=True,
    )
    runs: dict[str, list[dict]] = {n: [] for n in names}
    set_aside: dict[str, list[dict]] = {n: [] for n in names}  # disturbed runs, run again
    try:
        for i in range(args.rounds):
            for name in names:
                tries = 1 if args.quick else TRIES
                for attempt in range(1, tries + 1):
                    wait_quiet(max_wait_s=20 if args.quick else 60)
                    r = one_run(name, f"{name}-{i + 1}", args, peers)
                    r["round"], r["attempt"] = i + 1, attempt
                    disturbed = r["other_cpu_share"] > OTHER_LIMIT
                    r["disturbed"] = disturbed
                    print(
                        f"  round {i + 1} {name:8s} {r['requests']:>7,} requests, {r['failed']} failed "
                        f"({kinds(r['failed_by_kind'])}); steady p50 {f1(r['steady']['p50_ms'])} "
                        f"p99 {f1(r['steady']['p99_ms'])} ms; reload window {r['reload']['window_s']:.1f} s: "
                        f"p99 {f1(r['reload']['p99_ms'])} max {f1(r['reload']['max_ms'])} ms; "
                        f"old workers gone {r['last_old_worker_exited_after_hup_s']} s after HUP; "
                        f"pids changed: {r['pids_changed']}; client CPU {100 * r['client_cpu_share']:.0f}%, "
                        f"server {100 * r['server_cpu_share']:.0f}%, others {100 * r['other_cpu_share']:.0f}%"
                        + (" (the client set the pace)" if r["client_bound"] else "")
                        + (" -- disturbed: run again" if disturbed and attempt < tries else ""),
                        file=sys.stderr,
                        flush=True,
                    )
                    if not disturbed or attempt == tries:
                        runs[name].append(r)
                        break
                    set_aside[name].append(r)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    rows = []
    for name in names:
        for r in runs[name]:
            rows.append(
                [
                    name,
                    r["round"],
                    f"{r['requests']:,}",
                    r["failed"],
                    kinds(r["failed_by_kind"]),
                    f"{f1(r['steady']['p50_ms'])} / {f1(r['steady']['p99_ms'])}",
                    f"{f1(r['reload']['p99_ms'])} / {f1(r['reload']['max_ms'])}",
                    f"{r['reload']['window_s']:.1f}",
                    f1(r["last_old_worker_exited_after_hup_s"]),
                    "yes" if r["pids_changed"] else "NO",
                    f"{r['server_cpu_us_per_request']:.0f}",
                    f"{100 * r['client_cpu_share']:.0f}%",
                    f"{100 * r['other_cpu_share']:.0f}%",
                ]
            )
    print()
    table(
        [
            "server",
            "round",
            "requests",
            "failed",
            "failures by kind",
            "steady p50 / p99 ms",
            "reload p99 / max ms",
            "window s",
            "old gone s",
            "pids changed",
            "server CPU µs/req",
            "client CPU",
            "others' CPU",
        ],
        rows,
        f"HUP under load: {args.conns} keep-alive connections, think {args.think * 1e3:g} ms, {args.duration:g} s "
        f"per run, HUP at {args.duration / 3:.2f} s, {WORKERS} workers each; {about}",
    )
    summary = {name: summarise(runs[name], set_aside[name]) for name in names}
    srows = []
    for name in names:
        m = summary[name]

        def mm(key, m=m):
            v = m[key]
            return "-" if v is None else f"{v['median']:.1f} ({v['min']:.1f}-{v['max']:.1f})"

        srows.append(
            [
                f"{name} ({versions[name]})" if name == "gunicorn" else name,
                m["runs"],
                f"{m['requests']:,}",
                f"{m['failed']} ({', '.join(map(str, m['failed_per_run']))})",
                kinds(m["failed_by_kind"]),
                mm("steady_p50_ms"),
                mm("steady_p99_ms"),
                mm("reload_p99_ms"),
                mm("reload_max_ms"),
                mm("last_old_worker_exited_after_hup_s"),
                "yes" if m["pids_changed_every_run"] else "NO",
                f"{m['runs_set_aside']} ({m['failed_in_runs_set_aside']} failed)",
            ]
        )
    print()
    table(
        [
            "server",
            "runs",
            "requests",
            "failed (per run)",
            "failures by kind",
            "steady p50 ms",
            "steady p99 ms",
            "reload p99 ms",
            "reload max ms",
            "old workers gone s",
            "pids changed",
            "runs set aside",
        ],
        srows,
        "medians (min-max) over the runs",
    )
    verdict = None
    ours = [n for n in names if n.startswith("sluice")]
    theirs = [n for n in names if not n.startswith("sluice")]
    if ours and theirs:

        def all_failed(n):  # the runs set aside count here too: a failure is a failure
            return summary[n]["failed"] + summary[n]["failed_in_runs_set_aside"]

        def said(group):
            return ", ".join(
                f"{n} ({versions[n]}) {all_failed(n)}" if n == "gunicorn" else f"{n} {all_failed(n)}" for n in group
            )

        s = sum(all_failed(n) for n in ours)
        if s == 0 and any(all_failed(n) for n in theirs):
            verdict = f"goal met: 0 failed requests for {', '.join(ours)}; failed: {said(theirs)}"
        elif s == 0:
            verdict = f"0 failed requests for {', '.join(ours)}; and {said(theirs)}: the goal's contrast is not shown"
        else:
            verdict = f"goal NOT met: failed: {said(ours)}; {said(theirs)}"
        print("\n" + verdict)
    cmd = " ".join(["python", "benchmarks/reload.py", *sys.argv[1:]])
    write_json(
        "reload",
        {
            "command": cmd,
            "machine": machine(),
            "gunicorn_versions": versions,
            "settings": {
                "workers": WORKERS,
                "conns": args.conns,
                "duration_s": args.duration,
                "hup_at_s": args.duration / 3,
                "think_s": args.think,
                "timeout_s": args.timeout,
                "client_procs": args.client_procs,
                "rounds": args.rounds,
                "keep_alive_s": KEEP_ALIVE,
                "graceful_timeout_s": GRACEFUL_TIMEOUT,
                "server_cpu": SERVER_CPU,
                "client_cpu": CLIENT_CPU,
                "steady_window": f"requests sent from {WARMUP_S} s after the start and completed before the HUP",
                "reload_window": (
                    f"requests completed after the HUP and sent before the later of HUP + {WINDOW_MIN_S} s and "
                    "the exit of the last old worker (capped at the end of the load)"
                ),
                "latencies": "of successful requests; failures counted apart",
            },
            "servers": summary,
            "verdict": verdict,
            "runs": runs,
            "runs_set_aside": set_aside,
        },
        args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
