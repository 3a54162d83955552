"""benchmarks/compare's frame scenarios (issue 16): echo of 64-byte frames
over 100 connections (Sluice msg-echo vs peers/frames_uvloop.py), and the
idle wheel at 100,000 connections (CPU per tick, memory per connection)."""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import time
from pathlib import Path

from _common import CLIENT_CPU, CLK_TCK, cpu_ticks, summary, taskset
from compare_http import ratios
from compare_lib import ServerProc, Spec, checked, cpu_delta, cpu_of, say

FRAME = 64  # bytes on the wire: 12-byte header + 52-byte payload
CONNS = 100
DEPTHS = {"depth1": 1, "depth16": 16}
ECHO_SERVERS = ["sluice", "uvloop"]


def frames_run(exe: Path, spec: Spec, depth: int, warmup: float, duration: float) -> dict:
    with ServerProc(spec) as srv:
        cmd = taskset(CLIENT_CPU) + [
            str(exe),
            "echo",
            str(srv.port),
            str(CONNS),
            str(FRAME),
            str(depth),
            str(warmup),
            str(duration),
        ]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        marks: dict[str, tuple] = {}
        result = None
        for line in p.stdout:
            ev = json.loads(line)
            if ev["event"] in ("measure-start", "measure-end"):
                marks[ev["event"]] = (cpu_of(srv.pids()), _proc_cpu(p.pid), cpu_ticks(), time.monotonic())
            elif ev["event"] == "result":
                result = ev
        p.wait()
    if result is None or len(marks) != 2:
        raise RuntimeError(f"{spec.name}: the frame client gave no result (exit {p.returncode})")
    (s0, c0, b0, t0), (s1, c1, b1, t1) = marks["measure-start"], marks["measure-end"]
    server_us, client_us = cpu_delta(s0, s1), c1 - c0
    window_us = (t1 - t0) * 1e6
    task_us = (b1["task"] - b0["task"]) * 1e6 / CLK_TCK
    msgs = result["messages"]
    result.update(
        server=spec.name,
        server_cpu_us=server_us,
        cpu_us_per_msg=server_us / msgs if msgs else float("inf"),
        server_cpu_share=server_us / window_us,
        client_cpu_share=client_us / window_us,
        other_cpu_share=max(0.0, (task_us - server_us - client_us) / window_us),
    )
    return result


def _proc_cpu(pid: int) -> float:
    return sum(cpu_of([pid]).values())


def show_frames(r: dict) -> str:
    return (
        f"{r['msgs_per_s']:>10,.0f} frames/s {r['cpu_us_per_msg']:6.2f} µs/frame  "
        f"server {100 * r['server_cpu_share']:3.0f}% client {100 * r['client_cpu_share']:3.0f}% "
        f"other {100 * r['other_cpu_share']:3.0f}%  p50 {r['p50_us']:.0f} p99 {r['p99_us']:.0f} µs"
    )


def run_frames_echo(exe: Path, specs: dict[str, Spec], rounds: int, warmup: float, duration: float) -> dict:
    out = {"frame_bytes": FRAME, "conns": CONNS, "cases": {}}
    for case, depth in DEPTHS.items():
        runs: dict[str, list[dict]] = {n: [] for n in ECHO_SERVERS}
        for i in range(rounds):
            say(f"frames {case}: round {i + 1}/{rounds}")
            for name in ECHO_SERVERS:
                r = checked(
                    lambda name=name, depth=depth: frames_run(exe, specs[name], depth, warmup, duration),
                    f"frames {case} {name}",
                    show=show_frames,
                )
                r["round"] = i
                runs[name].append(r)
        per = {}
        for name, rs in runs.items():
            ok = [r for r in rs if r.get("valid")]
            per[name] = {
                "cpu_us_per_msg": summary([r["cpu_us_per_msg"] for r in ok]) if ok else None,
                "msgs_per_s": summary([r["msgs_per_s"] for r in ok]) if ok else None,
                "p50_us": statistics.median(r["p50_us"] for r in ok) if ok else None,
                "p99_us": statistics.median(r["p99_us"] for r in ok) if ok else None,
                "client_cpu_share": statistics.median(r["client_cpu_share"] for r in ok) if ok else None,
                "valid_runs": len(ok),
                "runs": len(rs),
                "errors": sum(int(r.get("error_total", 0)) for r in rs),
            }
        out["cases"][case] = {
            "about": f"{CONNS} connections, {FRAME}-byte frames, {depth} in flight per connection",
            "depth": depth,
            "servers": per,
            "ratios": {"sluice/uvloop": ratios(runs, "sluice", "uvloop", "cpu_us_per_msg", "msgs_per_s")},
            "runs": runs,
        }
    return out


# ---- the idle wheel at 100,000 connections ---------------------------------------------------


class Holder:
    """frames_client in hold mode: N connections, PINGs every interval, until stdin closes."""

    def __init__(self, exe: Path, port: int, n: int, interval: float, sources: int):
        cmd = taskset(CLIENT_CPU) + [str(exe), "hold", str(port), str(n), str(FRAME), str(interval), str(sources)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.held = self._event()

    def _event(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the frame client said nothing (exit {self.proc.poll()})")
        return json.loads(line)

    def stop_pings(self) -> dict:
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        return self._event()

    def close(self) -> dict:
        self.proc.stdin.close()
        done = self._event()
        self.proc.wait(60)
        return done


def _ticks_report(srv: ServerProc) -> dict:
    srv.proc.send_signal(signal.SIGUSR1)
    return json.loads(srv.proc.stdout.readline())


def _tick_stats(ticks: list) -> dict:
    if not ticks:
        return {"ticks": 0}
    cpu = [t[0] / 1e3 for t in ticks]  # µs
    looked = [t[2] for t in ticks]
    busy = [t for t in ticks if t[2]]
    return {
        "ticks": len(ticks),
        "cpu_us_per_tick": summary(cpu),
        "cpu_us_per_tick_mean": sum(cpu) / len(cpu),
        "looked_at_per_tick_mean": sum(looked) / len(looked),
        "wall_us_per_tick": summary([t[1] / 1e3 for t in ticks]),
        "looked_at_per_tick": summary(looked),
        "kicked": sum(t[3] for t in ticks),
        "ns_per_member_looked_at": (sum(t[0] for t in busy) / sum(t[2] for t in busy)) if busy else None,
        "members_at_end": ticks[-1][4],
    }


def wheel_one(exe: Path, spec: Spec, n: int, interval: float, window: float, kick_wait: float, settle: float) -> dict:
    sources = max(1, -(-n // 20000))  # past ~28,000 connections one source address runs out of ports
    with ServerProc(spec) as srv:
        warm = Holder(exe, srv.port, 100, 0, 1)
        warm.close()
        time.sleep(0.5)
        wheel = spec.name == "sluice-wheel"
        if wheel or spec.name == "sluice-nowheel":
            _ticks_report(srv)  # drop the warm-up's ticks
        rss0 = srv.rss()
        t_connect = time.monotonic()
        hold = Holder(exe, srv.port, n, interval, sources)
        connect_s = time.monotonic() - t_connect
        time.sleep(1.0)
        rss1 = srv.rss()
        # one whole turn of the wheel first: the connections, all placed as they connected, are then
        # spread over the buckets by the tick of their last PING (the steady state)
        time.sleep(settle)
        if wheel or spec.name == "sluice-nowheel":
            _ticks_report(srv)  # the window starts now
        c0, t0 = cpu_of(srv.pids()), time.monotonic()
        time.sleep(window)
        c1, t1 = cpu_of(srv.pids()), time.monotonic()
        in_window = _ticks_report(srv) if wheel or spec.name == "sluice-nowheel" else None
        kick = None
        if wheel:
            stopped = hold.stop_pings()
            k0 = cpu_of(srv.pids())
            time.sleep(kick_wait)
            k1 = cpu_of(srv.pids())
            rep = _ticks_report(srv)
            kick = {
                "after_pings_stopped_s": kick_wait,
                "server_cpu_us": cpu_delta(k0, k1),
                **_tick_stats(rep["ticks"]),
                "stats": rep["stats"],
                "alive_when_pings_stopped": stopped["alive"],
            }
        done = hold.close()
    errors = done["error_total"] + (n - hold.held["held"])  # the client's errors are counted from its start
    cpu_window = cpu_delta(c0, c1)
    r = {
        "server": spec.name,
        "conns": n,
        "held": hold.held["held"],
        "connect_s": connect_s,
        "ping_interval_s": interval,
        "window_s": t1 - t0,
        "rss_before": rss0,
        "rss_after": rss1,
        "bytes_per_conn": (rss1 - rss0) / n,
        "server_cpu_us_per_s": cpu_window / (t1 - t0),
        "pings": done["pings"],
        "pongs": done["pongs"],
        "closed_by_server": done["closed_by_server"],
        "client_errors": done["errors"],
        "error_total": errors,
        "other_cpu_share": 0.0,
    }
    if in_window is not None:
        r["window_ticks"] = _tick_stats(in_window["ticks"])
        r["stats"] = in_window["stats"]
    if kick is not None:
        r["kick"] = kick
    return r


def run_wheel(
    exe: Path, specs: dict[str, Spec], want: int, interval: float, window: float, kick_wait: float, settle: float
) -> dict:
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    n = min(want, soft - 1000)  # one process each for the server and the client: each needs n descriptors
    limited = (
        f"{want:,} connections asked, {n:,} run: RLIMIT_NOFILE is {soft:,} per process here and cannot be raised"
        if n < want
        else None
    )
    if limited:
        say(f"wheel: {limited}")
    out = {
        "conns_asked": want,
        "limited_by": limited,
        "conns": n,
        "ping_interval_s": interval,
        "window_s": window,
        "about": (
            f"{n:,} connections held, each sends a PING every {interval:g} s (spread evenly); "
            "RSS delta / connections; server CPU over the window; the wheel's ticks timed inside the server"
        ),
        "servers": {},
    }
    for name in ("sluice-wheel", "sluice-nowheel", "uvloop"):
        spec = specs[name]
        say(f"wheel: {name}, {n:,} connections")
        r = checked(
            lambda spec=spec: wheel_one(exe, spec, n, interval, window, kick_wait, settle),
            f"wheel {name}",
            tries=2,
            show=lambda r: (
                f"{r['bytes_per_conn']:7,.0f} B/conn  held {r['held']:,}  CPU {r['server_cpu_us_per_s'] / 1e4:.1f}%"
                + (
                    f"  tick {r['window_ticks']['cpu_us_per_tick']['median']:.0f} µs CPU"
                    f" ({r['window_ticks']['looked_at_per_tick']['median']:,.0f} looked at)"
                    if r.get("window_ticks", {}).get("ticks")
                    else ""
                )
                + (f"  kicked {r['kick']['kicked']:,}" if r.get("kick") else "")
            ),
        )
        out["servers"][name] = r
    t = out["servers"].get("sluice-wheel", {}).get("window_ticks") or {}
    if t.get("ticks") and n < want:
        # the tick's work is a loop over the members it looks at: linear in the connections
        out["projected"] = {
            "conns": want,
            "cpu_us_per_tick_mean": t["cpu_us_per_tick_mean"] * want / n,
            "looked_at_per_tick_mean": t["looked_at_per_tick_mean"] * want / n,
            "how": f"the measured mean CPU per tick x {want:,} / {n:,} (a tick's work is linear in members)",
        }
    return out
