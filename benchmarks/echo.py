"""TCP echo, 1 KiB messages, 100 connections, one server process:
Sluice (level- and edge-triggered) vs uvloop vs plain asyncio.

    python benchmarks/echo.py [--quick] [--runs N] [--warmup S] [--duration S]
                              [--no-strace] [--no-profile]

The servers are the small files in benchmarks/peers/; the load generator is
benchmarks/echo_client.c (compiled here with cc -O2), the same for all: each
connection sends 1 KiB, waits for the whole echo, checks it, sends the next.
Server pinned to CPU 1, client to CPU 0 (BENCHMARKING.md); the servers are
alternated (sluice, sluice-et, uvloop, asyncio, sluice, ...), N runs each of
DURATION s after a WARMUP s warm-up. Per run: messages/s, server CPU µs per
message (utime+stime from /proc/PID/stat over the measured window, divided
by the messages echoed in it), p50/p99 latency, errors. A run with errors is
not a result and is run again; so is a run during which other processes took
more than 10% of a CPU (the machine is shared).

Then, unmeasured: syscalls per message of each server (strace -c -f -p PID
over a short run) and a py-spy profile of the Sluice server under the same
load. Raw figures: docs/bench/echo.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    BUILD,
    CLIENT_CPU,
    CLK_TCK,
    Server,
    client_exe,
    cpu_split_us,
    cpu_ticks,
    cpu_us,
    ensure,
    ensure_tool,
    machine,
    summary,
    table,
    taskset,
    wait_quiet,
    write_json,
)

NAMES = ["sluice", "sluice-et", "uvloop", "asyncio"]
CONNS, SIZE = 100, 1024
GOAL = 0.9  # Sluice's CPU per message <= 0.9x uvloop's
OTHER_LIMIT = 0.10  # of one CPU: more than that taken by other processes = disturbed
STALL_LIMIT = 0.90  # both the server and the client below this share of their CPU = disturbed


def run_client(exe: Path, server: Server, warmup: float, duration: float) -> dict:
    """One client run against server; the server's CPU is sampled at the
    client's measure-start and measure-end lines."""
    cmd = taskset(CLIENT_CPU) + [str(exe), "echo", str(server.port), str(CONNS), str(SIZE), str(warmup), str(duration)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    marks: dict[str, tuple] = {}
    result = None
    for line in p.stdout:
        ev = json.loads(line)
        if ev["event"] in ("measure-start", "measure-end"):
            marks[ev["event"]] = (cpu_split_us(server.pid), cpu_us(p.pid), cpu_ticks(), time.monotonic())
        elif ev["event"] == "result":
            result = ev
    p.wait()
    if result is None or len(marks) != 2:
        raise RuntimeError(f"{server.name}: the client gave no result (exit {p.returncode})")
    (s0, c0, b0, t0), (s1, c1, b1, t1) = marks["measure-start"], marks["measure-end"]
    user_us, sys_us = s1[0] - s0[0], s1[1] - s0[1]
    server_us, client_us = user_us + sys_us, c1 - c0
    window_us = (t1 - t0) * 1e6
    ticks = {k: (b1[k] - b0[k]) * 1e6 / CLK_TCK for k in b0}
    other_us = ticks["task"] - server_us - client_us  # other processes' user+system time
    msgs = result["messages"]
    result.update(
        server=server.name,
        server_cpu_us=server_us,
        client_cpu_us=client_us,
        cpu_us_per_msg=server_us / msgs if msgs else float("inf"),
        user_us_per_msg=user_us / msgs if msgs else float("inf"),
        sys_us_per_msg=sys_us / msgs if msgs else float("inf"),
        server_cpu_share=server_us / window_us,
        client_cpu_share=client_us / window_us,
        other_cpu_share=max(0.0, other_us / window_us),
        irq_cpu_share=ticks["irq"] / window_us,
        steal_cpu_share=ticks["steal"] / window_us,
    )
    return result


def measured_run(exe: Path, name: str, warmup: float, duration: float, tries: int = 5) -> dict:
    for attempt in range(1, tries + 1):
        wait_quiet()
        with Server(name) as server:
            r = run_client(exe, server, warmup, duration)
        r["attempt"] = attempt
        bad = []
        if r["error_total"]:
            bad.append(f"errors {r['errors']}")
        if r["other_cpu_share"] > OTHER_LIMIT:
            bad.append(f"other processes took {100 * r['other_cpu_share']:.0f}% of a CPU")
        if max(r["server_cpu_share"], r["client_cpu_share"]) < STALL_LIMIT:
            # closed loop: one side is the bottleneck and runs flat out, unless
            # something outside (the host) stalled them both
            bad.append("neither the server nor the client kept its CPU busy: stalled from outside")
        print(
            f"  {name:9s} {r['msgs_per_s']:>9,.0f} msg/s  {r['cpu_us_per_msg']:6.2f} µs/msg "
            f"(user {r['user_us_per_msg']:.2f} sys {r['sys_us_per_msg']:.2f})  "
            f"server {100 * r['server_cpu_share']:3.0f}% client {100 * r['client_cpu_share']:3.0f}% "
            f"softirq {100 * r['irq_cpu_share']:3.0f}% other {100 * r['other_cpu_share']:3.0f}%  "
            f"p50 {r['p50_us']:.0f} µs  p99 {r['p99_us']:.0f} µs" + (f"  -- rerun: {'; '.join(bad)}" if bad else ""),
            file=sys.stderr,
            flush=True,
        )
        if not bad:
            r["valid"] = True
            return r
    r["valid"] = False
    return r


# ---- syscalls per message (strace) ------------------------------------------


def parse_strace_c(text: str) -> dict[str, int]:
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total", "syscall"):
            # % time, seconds, usecs/call, calls, [errors], syscall
            try:
                calls[parts[-1]] = int(parts[3])
            except ValueError:
                pass
    return calls


def strace_run(exe: Path, name: str, duration: float) -> dict:
    if not shutil.which("strace"):
        subprocess.run(["apt-get", "install", "-y", "-q", "strace"], check=False, capture_output=True)
    out = BUILD / f"strace-{name}.txt"
    with Server(name) as server:
        st = subprocess.Popen(
            ["strace", "-c", "-f", "-o", str(out), "-p", str(server.pid)], stderr=subprocess.PIPE, text=True
        )
        # strace says "Process N attached" on stderr once it traces the process
        st.stderr.readline()
        time.sleep(0.2)
        r = run_client(exe, server, 0.5, duration)
        st.send_signal(signal.SIGINT)
        st.wait(30)
    calls = parse_strace_c(out.read_text())
    msgs = r["messages_total"]
    per = {k: v / msgs for k, v in sorted(calls.items(), key=lambda kv: -kv[1])}
    return {
        "server": name,
        "messages": msgs,
        "errors": r["error_total"],
        "syscalls": calls,
        "syscalls_per_msg": per,
        "total_per_msg": sum(calls.values()) / msgs,
    }


# ---- where the Sluice server's time goes (py-spy) --------------------------


def profile_run(exe: Path, name: str, seconds: float) -> dict:
    pyspy = ensure_tool("py-spy", "py-spy")
    raw = BUILD / f"py-spy-{name}.txt"
    wait_quiet()
    with Server(name) as server:
        cmd = taskset(CLIENT_CPU) + [str(exe), "echo", str(server.port), str(CONNS), str(SIZE), "1", str(seconds + 2)]
        client = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        time.sleep(1)
        subprocess.run(
            [
                pyspy,
                "record",
                "--native",
                "-r",
                "400",
                "-d",
                str(int(seconds)),
                "-f",
                "raw",
                "-o",
                str(raw),
                "--pid",
                str(server.pid),
            ],
            check=True,
            capture_output=True,
        )
        client.wait()
    total = 0
    self_c: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        total += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return {
        "server": name,
        "samples": total,
        "self": [(f, c / total) for f, c in self_c.most_common(20)],
        "inclusive": [(f, c / total) for f, c in incl.most_common(30)],
    }


def _short(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file.py:123)"
    if " (" in frame and frame.endswith(")"):
        func, where = frame[:-1].split(" (", 1)
        return f"{func} ({os.path.basename(where)})"
    return frame


def _with_range(s: dict) -> str:
    return f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 run of 1 s each, no strace, no profile (CI: it works)")
    ap.add_argument("--runs", type=int, default=7, help="alternated runs per server (default 7)")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    machine()  # notes the commit measured
    if args.quick:
        args.runs, args.warmup, args.duration, args.no_strace, args.no_profile = 1, 0.5, 1.0, True, True
    ensure("uvloop")
    exe = client_exe()

    runs: dict[str, list[dict]] = {n: [] for n in NAMES}
    for i in range(args.runs):
        print(f"round {i + 1}/{args.runs}", file=sys.stderr, flush=True)
        for name in NAMES:
            runs[name].append(measured_run(exe, name, args.warmup, args.duration))

    def valid(name):
        return [r for r in runs[name] if r["valid"]]

    rows, per_server = [], {}
    for name in NAMES:
        ok = valid(name)
        cpu = [r["cpu_us_per_msg"] for r in ok] or [float("nan")]
        rate = [r["msgs_per_s"] for r in ok] or [float("nan")]
        per_server[name] = {
            "cpu_us_per_msg": summary(cpu),
            "user_us_per_msg": summary([r["user_us_per_msg"] for r in ok] or [float("nan")]),
            "sys_us_per_msg": summary([r["sys_us_per_msg"] for r in ok] or [float("nan")]),
            "msgs_per_s": summary(rate),
            "p50_us": statistics.median([r["p50_us"] for r in ok]) if ok else None,
            "p99_us": statistics.median([r["p99_us"] for r in ok]) if ok else None,
            "server_cpu_share": statistics.median([r["server_cpu_share"] for r in ok]) if ok else None,
            "valid_runs": len(ok),
            "errors": sum(r["error_total"] for r in runs[name]),
        }
        s = per_server[name]
        rows.append(
            [
                name,
                f"{s['cpu_us_per_msg']['median']:.2f}",
                f"{s['cpu_us_per_msg']['min']:.2f}-{s['cpu_us_per_msg']['max']:.2f}",
                f"{s['user_us_per_msg']['median']:.2f} / {s['sys_us_per_msg']['median']:.2f}",
                f"{s['msgs_per_s']['median']:,.0f}",
                f"{s['p50_us']:.0f} / {s['p99_us']:.0f}" if ok else "-",
                f"{100 * s['server_cpu_share']:.0f}%" if ok else "-",
                f"{s['valid_runs']}/{len(runs[name])}",
                str(s["errors"]),
            ]
        )
    print()
    table(
        [
            "server",
            "CPU µs/msg (median)",
            "min-max",
            "user / sys µs/msg",
            "msg/s",
            "p50 / p99 µs",
            "server CPU",
            "valid runs",
            "errors",
        ],
        rows,
        f"echo, {CONNS} connections, {SIZE} B messages, {args.runs} alternated runs of {args.duration:g} s "
        f"after {args.warmup:g} s",
    )

    # Ratios against uvloop, round by round (both valid).
    ratios, ratio_rows = {}, []
    for name in NAMES:
        if name == "uvloop":
            continue
        vals = [
            a["cpu_us_per_msg"] / b["cpu_us_per_msg"]
            for a, b in zip(runs[name], runs["uvloop"], strict=True)
            if a["valid"] and b["valid"]
        ]
        pairs = [(a, b) for a, b in zip(runs[name], runs["uvloop"], strict=True) if a["valid"] and b["valid"]]
        rates = [a["msgs_per_s"] / b["msgs_per_s"] for a, b in pairs]
        users = [a["user_us_per_msg"] / b["user_us_per_msg"] for a, b in pairs]
        syss = [a["sys_us_per_msg"] / b["sys_us_per_msg"] for a, b in pairs]
        if vals:
            ratios[name] = {
                "cpu_per_msg": summary(vals),
                "user_per_msg": summary(users),
                "sys_per_msg": summary(syss),
                "msgs_per_s": summary(rates),
            }
            q = ratios[name]
            ratio_rows.append(
                [
                    f"{name} / uvloop",
                    f"{q['cpu_per_msg']['median']:.2f}x",
                    f"{q['cpu_per_msg']['min']:.2f}-{q['cpu_per_msg']['max']:.2f}",
                    _with_range(q["user_per_msg"]),
                    _with_range(q["sys_per_msg"]),
                    f"{q['msgs_per_s']['median']:.2f}x",
                    str(len(vals)),
                ]
            )
    print()
    table(
        [
            "ratio",
            "CPU per msg (median)",
            "min-max",
            "user time (min-max)",
            "system time (min-max)",
            "msg/s ratio",
            "rounds",
        ],
        ratio_rows,
    )
    met = None
    if "sluice" in ratios:
        m = ratios["sluice"]["cpu_per_msg"]["median"]
        met = m <= GOAL
        verdict = f"goal: Sluice's CPU per message <= {GOAL}x uvloop's: {'met' if met else 'NOT met'} ({m:.2f}x)"
    else:
        verdict = "goal: no valid round to judge"
    print("\n" + verdict)

    straces = []
    if not args.no_strace:
        for name in NAMES:
            straces.append(strace_run(exe, name, 3.0))
        print()
        keys = ["read", "recvfrom", "write", "sendto", "writev", "epoll_wait", "epoll_pwait", "epoll_ctl"]
        srows = []
        for s in straces:
            per = s["syscalls_per_msg"]
            top = ", ".join(f"{k} {v:.3f}" for k, v in per.items() if k in keys or v >= 0.01)
            srows.append([s["server"], f"{s['total_per_msg']:.3f}", f"{s['messages']:,}", top])
        table(
            ["server", "syscalls/msg", "messages (under strace)", "per message"],
            srows,
            "syscalls per message (strace -c -f -p PID, unmeasured run)",
        )

    profile = None
    if not args.no_profile:
        try:
            profile = profile_run(exe, "sluice", 4)
            print()
            table(
                ["function (self time)", "share"],
                [[f, f"{100 * s:.1f}%"] for f, s in profile["self"][:15]],
                f"py-spy --native on the Sluice server under load ({profile['samples']} samples)",
            )
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"py-spy failed: {exc}", file=sys.stderr)

    cmd = "python benchmarks/echo.py" + (" --quick" if args.quick else "")
    write_json(
        "echo",
        {
            "command": cmd,
            "machine": machine(),
            "conns": CONNS,
            "size": SIZE,
            "runs_per_server": args.runs,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "servers": per_server,
            "ratios_vs_uvloop": ratios,
            "goal": verdict,
            "goal_met": met,
            "strace": straces,
            "profile": profile,
            "runs": runs,
        },
        args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
