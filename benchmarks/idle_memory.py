"""Idle memory per connection: 10,000 connections that each made one echo,
held open; the server's RSS delta divided by the connections.

    python benchmarks/idle_memory.py [--quick] [--conns N] [--rounds N] [--no-tracemalloc]

Servers: the peers of benchmarks/echo.py (Sluice, uvloop, plain asyncio) and
Sluice with idle_timeout=60 (its idle wheel holds every connection too).
Client: benchmarks/echo_client.c in its hold mode (each connection sends one
1 KiB message, waits for the echo, then stays open). Per server and round:
start the server; warm it up with 100 connections that echo once and close;
read VmRSS (/proc/PID/status); open N connections and wait until every one
has had its echo; wait 0.5 s; read VmRSS again. Rounds alternate the
servers. Then, unmeasured, the Sluice and uvloop servers run under
tracemalloc and report which Python lines hold the memory the N connections
added. Raw figures: docs/bench/idle_memory.json.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from _common import CLIENT_CPU, Server, client_exe, ensure, machine, rss_bytes, summary, table, taskset, write_json

GOAL = 1000  # bytes per idle connection, Sluice
VARIANTS = {
    # name: (peer in _common.SERVERS, extra arguments)
    "sluice": ("sluice", []),
    "sluice idle_timeout=60": ("sluice", ["--idle-timeout", "60"]),
    "uvloop": ("uvloop", []),
    "asyncio": ("asyncio", []),
}


class Holder:
    """The C client in hold mode: connections stay open until close()."""

    def __init__(self, exe, port: int, conns: int):
        cmd = taskset(CLIENT_CPU) + [str(exe), "hold", str(port), str(conns), "1024"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the client said nothing")
        self.result = json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard == resource.RLIM_INFINITY else hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need + 100:
        sys.exit(f"idle_memory: RLIMIT_NOFILE is {soft}; {need} connections need more (raise the hard limit)")


def measure(exe, variant: str, conns: int, stderr=None, extra=()) -> dict:
    peer, args = VARIANTS[variant]
    with Server(peer, args + list(extra), stderr=stderr) as server:
        warm = Holder(exe, server.port, 100)
        warm.close()
        time.sleep(0.5)
        if extra:
            server.proc.send_signal(signal.SIGUSR1)  # tracemalloc: the baseline
            time.sleep(1.0)
        before = rss_bytes(server.pid)
        hold = Holder(exe, server.port, conns)
        time.sleep(0.5)
        after = rss_bytes(server.pid)
        if extra:
            server.proc.send_signal(signal.SIGUSR1)  # tracemalloc: what the connections added
            time.sleep(2.0)
        hold.close()
    r = hold.result
    return {
        "server": variant,
        "conns": conns,
        "held": r["held"],
        "errors": r["errors"],
        "error_total": r["error_total"] + (conns - r["held"] if not r["error_total"] else 0),
        "connect_s": r["connect_s"],
        "rss_before": before,
        "rss_after": after,
        "bytes_per_conn": (after - before) / conns,
    }


def tracemalloc_report(exe, variant: str, conns: int) -> dict:
    with tempfile.TemporaryFile("w+") as err:
        r = measure(exe, variant, conns, stderr=err, extra=["--tracemalloc"])
        err.seek(0)
        lines = [ln[len("tracemalloc: ") :].rstrip() for ln in err if ln.startswith("tracemalloc: ")]
    # two reports: the warm-up's (dropped) and the connections'
    starts = [i for i, ln in enumerate(lines) if "bytes grown in" in ln]
    report = lines[starts[-1] :] if starts else []
    grown = int(re.match(r"(-?\d+) bytes", report[0]).group(1)) if report else 0
    return {
        "server": variant,
        "conns": conns,
        "rss_bytes_per_conn_under_tracemalloc": r["bytes_per_conn"],
        "python_bytes_per_conn": grown / conns,
        "top_lines": report[1:],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round of 1,000 connections, no tracemalloc (CI)")
    ap.add_argument("--conns", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-tracemalloc", action="store_true")
    args = ap.parse_args()
    machine()  # notes the commit measured
    if args.quick:
        args.conns, args.rounds, args.no_tracemalloc = 1000, 1, True
    ensure("uvloop")
    raise_nofile(args.conns)
    exe = client_exe()

    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for i in range(args.rounds):
        print(f"round {i + 1}/{args.rounds}", file=sys.stderr, flush=True)
        for variant in VARIANTS:
            r = measure(exe, variant, args.conns)
            runs[variant].append(r)
            print(
                f"  {variant:24s} {r['bytes_per_conn']:8.0f} B/conn  held {r['held']}  errors {r['error_total']}"
                f"  (RSS {r['rss_before'] / 2**20:.1f} -> {r['rss_after'] / 2**20:.1f} MiB)",
                file=sys.stderr,
                flush=True,
            )

    rows, per = [], {}
    for variant, rs in runs.items():
        ok = [r for r in rs if not r["error_total"]]
        vals = [r["bytes_per_conn"] for r in ok] or [float("nan")]
        per[variant] = {
            "bytes_per_conn": summary(vals),
            "valid_runs": len(ok),
            "errors": sum(r["error_total"] for r in rs),
        }
        s = per[variant]["bytes_per_conn"]
        rows.append(
            [
                variant,
                f"{s['median']:,.0f}",
                f"{s['min']:,.0f}-{s['max']:,.0f}",
                f"{statistics.median(r['rss_before'] for r in rs) / 2**20:.1f}",
                f"{len(ok)}/{len(rs)}",
                str(per[variant]["errors"]),
            ]
        )
    print()
    table(
        ["server", "bytes/conn (median)", "min-max", "RSS before (MiB)", "valid rounds", "errors"],
        rows,
        f"idle memory: {args.conns:,} connections, each echoed 1 KiB once, {args.rounds} alternated rounds",
    )
    m = per["sluice"]["bytes_per_conn"]["median"]
    met = m <= GOAL
    verdict = f"goal: Sluice <= {GOAL:,} bytes per idle connection: {'met' if met else 'NOT met'} ({m:,.0f} B)"
    print("\n" + verdict)

    reports = []
    if not args.no_tracemalloc:
        for variant in ("sluice", "uvloop"):
            rep = tracemalloc_report(exe, variant, args.conns)
            reports.append(rep)
            print(
                f"\ntracemalloc, {variant}: Python allocations grown by {args.conns:,} connections: "
                f"{rep['python_bytes_per_conn']:,.0f} B/conn (RSS under tracemalloc: "
                f"{rep['rss_bytes_per_conn_under_tracemalloc']:,.0f} B/conn)"
            )
            for line in rep["top_lines"][:10]:
                print("  " + line)

    cmd = "python benchmarks/idle_memory.py" + (" --quick" if args.quick else "")
    write_json(
        "idle_memory",
        {
            "command": cmd,
            "machine": machine(),
            "conns": args.conns,
            "rounds": args.rounds,
            "servers": per,
            "goal": verdict,
            "goal_met": met,
            "tracemalloc": reports,
            "runs": runs,
        },
        args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
