"""benchmarks/compare's HTTP scenarios: hello (native and WSGI: keep-alive
c=100, c=1000, pipelined x16 at c=256), a new connection per request, static
files (4 KiB, 1 MiB), idle keep-alive memory, syscalls per request (strace)
and Python allocations per request (peers/_allocs.py)."""

from __future__ import annotations

import json
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import time

from _common import BUILD, summary
from compare_lib import OTHER_LIMIT, ServerProc, Spec, checked, cpu_of, http_run, say, show_http, wrk

HELLO_CASES = {
    "c100": {"conns": 100, "depth": 1, "about": "keep-alive, 100 connections"},
    "c1000": {"conns": 1000, "depth": 1, "about": "keep-alive, 1,000 connections"},
    "pipe16": {"conns": 256, "depth": 16, "about": "pipelined x16, 256 connections"},
}
NATIVE = ["sluice", "uvloop+httptools", "uvicorn", "nginx", "socketify"]
WSGI = ["sluice-wsgi", "gunicorn-gthread", "gunicorn-gevent", "bjoern", "granian-wsgi"]
CLOSE_SERVERS = ["sluice", "uvloop+httptools", "nginx", "sluice-wsgi", "gunicorn-gthread"]
CLOSE_CONNS = 100
STATIC_SERVERS = ["sluice-static", "nginx-static", "gunicorn-static"]
STATIC_CONNS = 100
IDLE_SERVERS = ["sluice", "uvloop+httptools", "uvicorn", "nginx"]


# ---- alternated rounds ---------------------------------------------------------------------


def alternate(names: list[str], rounds: int, run_one, label: str, broken: dict[str, str]) -> dict[str, list[dict]]:
    """rounds x names, alternated (a b c a b c ...); a server that fails to
    run at all is left out of the rest (broken[name] says why)."""
    runs: dict[str, list[dict]] = {n: [] for n in names}
    stalled: set[str] = set()
    for i in range(rounds):
        say(f"{label}: round {i + 1}/{rounds}")
        for name in names:
            if name in broken or name in stalled:
                continue
            r = checked(lambda name=name: run_one(name), f"{label} {name}", show=show_http)
            r["round"] = i
            runs[name].append(r)
            if not r["valid"] and r.get("failed") and all(x.get("failed") for x in runs[name]):
                broken[name] = r["failed"]
                say(f"  {name}: left out of the rest ({r['failed']})")
            elif r.get("stalled") and not r["valid"]:
                stalled.add(name)
                say(f"  {name}: stalled; left out of this case's other rounds")
    return runs


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if r.get("valid")]

    def med(key):
        vals = [r[key] for r in ok if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    return {
        "cpu_us_per_req": summary([r["cpu_us_per_req"] for r in ok]) if ok else None,
        "rps": summary([r["rps"] for r in ok]) if ok else None,
        "p50_us": med("p50_us"),
        "p99_us": med("p99_us"),
        "mean_us": med("mean_us"),
        "max_us": med("max_us"),
        "stalled_runs": sum(1 for r in runs if r.get("stalled")),
        "server_cpu_share": med("server_cpu_share"),
        "client_cpu_share": med("client_cpu_share"),
        "valid_runs": len(ok),
        "runs": len(runs),
        "errors": sum(int(r.get("error_total", 0)) for r in runs),
        "errors_by_kind": {
            k: sum(int(r.get(k, 0)) for r in runs) for k in ("connect", "read", "write", "timeout", "status")
        },
    }


def ratios(runs: dict[str, list[dict]], a: str, b: str, cpu_key: str = "cpu_us_per_req", rate_key: str = "rps"):
    """a / b round by round (both valid): CPU per request and requests/s."""
    pairs = [
        (x, y)
        for x in runs.get(a, [])
        for y in runs.get(b, [])
        if x.get("round") == y.get("round") and x.get("valid") and y.get("valid")
    ]
    if not pairs:
        return None
    return {
        "cpu": summary([x[cpu_key] / y[cpu_key] for x, y in pairs]),
        "rate": summary([x[rate_key] / y[rate_key] for x, y in pairs]),
        "rounds": len(pairs),
    }


# ---- hello, close, static ---------------------------------------------------------------


def sample_reply(spec: Spec, path: str) -> dict:
    """The server's answer to one GET (status line and headers), to show everyone's reply."""
    with ServerProc(spec) as srv:
        from compare_lib import http_get

        status, data = http_get(srv.port, path)
    head, _, body = data.partition(b"\r\n\r\n")
    return {"status": status, "head": head.decode("latin-1").split("\r\n"), "body_bytes": len(body)}


QUICK_SUBSET = ["sluice", "uvloop+httptools", "sluice-wsgi"]  # --quick: c=1000 and pipelined for these only


def run_hello(
    specs: dict[str, Spec], rounds: int, warmup: float, duration: float, broken: dict, quick: bool = False
) -> dict:
    servers = [n for n in NATIVE + WSGI if n in specs]
    out = {"servers": servers, "cases": {}, "replies": {}}
    for name in servers:
        try:
            out["replies"][name] = sample_reply(specs[name], "/")
        except RuntimeError as exc:
            broken[name] = str(exc)
            say(f"  {name}: cannot run: {exc}")
    for case, c in HELLO_CASES.items():

        def one(name, c=c):
            return http_run(specs[name], "/", c["conns"], c["depth"], False, warmup, duration)

        names = [n for n in servers if n in QUICK_SUBSET] if quick and case != "c100" else servers
        runs = alternate(names, rounds, one, f"hello {case}", broken)
        out["cases"][case] = {
            "about": c["about"],
            "conns": c["conns"],
            "depth": c["depth"],
            "servers": {n: summarise(rs) for n, rs in runs.items()},
            "ratios": {
                **{f"sluice/{b}": ratios(runs, "sluice", b) for b in NATIVE[1:] if b in runs},
                **{
                    f"sluice-wsgi/{b}": ratios(runs, "sluice-wsgi", b)
                    for b in WSGI[1:] + ["uvloop+httptools"]
                    if b in runs
                },
            },
            "runs": runs,
        }
    return out


def run_close(specs: dict[str, Spec], rounds: int, warmup: float, duration: float, broken: dict) -> dict:
    servers = [n for n in CLOSE_SERVERS if n in specs and n not in broken]

    def one(name):
        return http_run(specs[name], "/", CLOSE_CONNS, 1, True, warmup, duration)

    runs = alternate(servers, rounds, one, "close", broken)
    return {
        "about": f"a new connection per request (Connection: close), {CLOSE_CONNS} concurrent",
        "conns": CLOSE_CONNS,
        "servers": {n: summarise(rs) for n, rs in runs.items()},
        "ratios": {
            **{f"sluice/{b}": ratios(runs, "sluice", b) for b in ["uvloop+httptools", "nginx"] if b in runs},
            "sluice-wsgi/gunicorn-gthread": ratios(runs, "sluice-wsgi", "gunicorn-gthread"),
        },
        "runs": runs,
    }


def run_static(specs: dict[str, Spec], paths: dict, rounds: int, warmup: float, duration: float, broken: dict):
    servers = [n for n in STATIC_SERVERS if n in specs]
    out = {"servers": servers, "cases": {}}
    for case, path in paths.items():

        def one(name, path=path):
            return http_run(specs[name], path, STATIC_CONNS, 1, False, warmup, duration)

        runs = alternate(servers, rounds, one, f"static {case}", broken)
        out["cases"][case] = {
            "about": f"GET {path}, keep-alive, {STATIC_CONNS} connections",
            "path": path,
            "servers": {n: summarise(rs) for n, rs in runs.items()},
            "ratios": {f"sluice-static/{b}": ratios(runs, "sluice-static", b) for b in servers[1:]},
            "runs": runs,
        }
    return out


# ---- syscalls per request ------------------------------------------------------------------


def parse_strace_c(text: str) -> dict[str, int]:
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total", "syscall"):
            try:
                calls[parts[-1]] = int(parts[3])  # % time, seconds, usecs/call, calls, [errors], syscall
            except ValueError:
                pass
    return calls


def strace_one(spec: Spec, conns: int, depth: int, seconds: float) -> dict:
    out = BUILD / f"compare-strace-{spec.name}-{depth}.txt"
    with ServerProc(spec) as srv:
        wrk(srv.port, "/", conns, 1, depth)  # warm: connections, caches, the app's first request
        cmd = ["strace", "-c", "-f", "-o", str(out)]
        for p in srv.pids():
            cmd += ["-p", str(p)]
        st = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        st.stderr.readline()  # "Process N attached"
        time.sleep(0.5)
        r = wrk(srv.port, "/", conns, seconds, depth)
        st.send_signal(signal.SIGINT)
        st.wait(60)
    calls = parse_strace_c(out.read_text())
    n = r["requests"] or 1
    return {
        "server": spec.name,
        "conns": conns,
        "depth": depth,
        "requests": r["requests"],
        "errors": r["error_total"],
        "total_per_req": sum(calls.values()) / n,
        "per_req": {k: v / n for k, v in sorted(calls.items(), key=lambda kv: -kv[1]) if v / n >= 0.001},
        "calls": calls,
    }


def run_strace(specs: dict[str, Spec], names: list[str], pipelined: list[str], seconds: float, broken: dict) -> dict:
    if not shutil.which("strace"):
        return {"skipped": "no strace"}
    out = {"c100": {}, "pipe16": {}}
    for name in names:
        if name in specs and name not in broken:
            try:
                out["c100"][name] = strace_one(specs[name], 100, 1, seconds)
                say(f"  strace c100 {name}: {out['c100'][name]['total_per_req']:.2f} syscalls/req")
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                out["c100"][name] = {"failed": str(exc)}
    for name in pipelined:
        if name in specs and name not in broken:
            try:
                out["pipe16"][name] = strace_one(specs[name], 256, 16, seconds)
                say(f"  strace pipe16 {name}: {out['pipe16'][name]['total_per_req']:.3f} syscalls/req")
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                out["pipe16"][name] = {"failed": str(exc)}
    return out


# ---- Python allocations per request -----------------------------------------------------------

ALLOC_KEYS = [
    "mem_allocs",
    "mem_reallocs",
    "mem_bytes",
    "mem_frees",
    "obj_allocs",
    "obj_reallocs",
    "obj_bytes",
    "obj_frees",
    "allocated_blocks",
    "traced_current",
]


def _read_allocs(folder) -> dict[int, dict]:
    out = {}
    for sock_path in sorted(folder.glob("allocs-*.sock")):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(str(sock_path))
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            v = json.loads(data)
            out[v["pid"]] = v
        except (OSError, ValueError):
            pass
    return out


def allocs_one(spec: Spec, conns: int, depth: int, seconds: float) -> dict:
    folder = BUILD / "compare-allocs" / spec.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with ServerProc(spec, env={"SLUICE_BENCH_ALLOCS": str(folder)}) as srv:
        wrk(srv.port, "/", conns, 1, depth)
        deadline = time.monotonic() + 10
        a = _read_allocs(folder)
        while not a and time.monotonic() < deadline:
            time.sleep(0.2)
            a = _read_allocs(folder)
        r = wrk(srv.port, "/", conns, seconds, depth)
        b = _read_allocs(folder)
    if not a or not b:
        raise RuntimeError(f"{spec.name}: no allocation counts (no peers/_allocs.py socket in {folder})")
    n = r["requests"] or 1
    d = {k: sum(b[p][k] - a[p][k] for p in b if p in a) for k in ALLOC_KEYS}
    peak = sum(b[p]["traced_peak"] - a[p]["traced_current"] for p in b if p in a)
    return {
        "server": spec.name,
        "conns": conns,
        "depth": depth,
        "requests": r["requests"],
        "errors": r["error_total"],
        "processes": len(b),
        "allocs_per_req": (d["mem_allocs"] + d["obj_allocs"]) / n,
        "reallocs_per_req": (d["mem_reallocs"] + d["obj_reallocs"]) / n,
        "obj_allocs_per_req": d["obj_allocs"] / n,
        "mem_allocs_per_req": d["mem_allocs"] / n,
        "bytes_per_req": (d["mem_bytes"] + d["obj_bytes"]) / n,
        "frees_per_req": (d["mem_frees"] + d["obj_frees"]) / n,
        "net_blocks_per_req": d["allocated_blocks"] / n,
        "traced_net_bytes_per_req": d["traced_current"] / n,
        "traced_peak_above_start_bytes": peak,
    }


def run_allocs(specs: dict[str, Spec], names: list[str], pipelined: list[str], seconds: float, broken: dict) -> dict:
    out = {"c100": {}, "pipe16": {}}
    for case, conns, depth, group in (("c100", 100, 1, names), ("pipe16", 256, 16, pipelined)):
        for name in group:
            if name in specs and name not in broken:
                try:
                    out[case][name] = r = allocs_one(specs[name], conns, depth, seconds)
                    say(
                        f"  allocations {case} {name}: {r['allocs_per_req']:.1f} allocs "
                        f"+ {r['reallocs_per_req']:.2f} reallocs per request, "
                        f"net {r['net_blocks_per_req']:.4f} blocks/req"
                    )
                except (RuntimeError, OSError) as exc:
                    out[case][name] = {"failed": str(exc)}
                    say(f"  allocations {case} {name}: failed: {exc}")
    return out


# ---- idle keep-alive memory ------------------------------------------------------------------


def hold_http(port: int, n: int, timeout: float = 120.0) -> tuple[list[socket.socket], int]:
    """n connections that each made one GET / and read its whole response, left open."""
    sel = selectors.DefaultSelector()
    done: list[socket.socket] = []
    errors = 0
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    started = 0
    active = 0
    deadline = time.monotonic() + timeout
    while (len(done) + errors < n) and time.monotonic() < deadline:
        while started < n and active < 256:
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            except OSError:
                errors += 1
                s.close()
                started += 1
                continue
            sel.register(s, selectors.EVENT_WRITE, [b""])
            started += 1
            active += 1
        for key, ev in sel.select(0.1):
            s, state = key.fileobj, key.data
            try:
                if ev & selectors.EVENT_WRITE:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        raise OSError("connect failed")
                    s.sendall(request)
                    sel.modify(s, selectors.EVENT_READ, state)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("closed")
                state[0] += chunk
                head, sep, body = state[0].partition(b"\r\n\r\n")
                if sep:
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                    if len(body) >= length:
                        sel.unregister(s)
                        done.append(s)
                        active -= 1
            except (OSError, ValueError):
                sel.unregister(s)
                s.close()
                errors += 1
                active -= 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        errors += 1
    sel.close()
    return done, errors


def idle_one(spec: Spec, n: int) -> dict:
    with ServerProc(spec) as srv:
        warm, _ = hold_http(srv.port, 100)
        for s in warm:
            s.close()
        time.sleep(0.5)
        before = srv.rss()
        held, errors = hold_http(srv.port, n)
        time.sleep(0.5)
        after = srv.rss()
        c0 = cpu_of(srv.pids())
        time.sleep(1.0)
        idle_cpu = sum(cpu_of(srv.pids()).values()) - sum(c0.values())
        for s in held:
            s.close()
    return {
        "server": spec.name,
        "conns": n,
        "held": len(held),
        "error_total": errors,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_conn": (after - before) / n,
        "idle_cpu_us_per_s": idle_cpu,
        "other_cpu_share": 0.0,
    }


def run_idle(specs: dict[str, Spec], idle_spec: Spec, n: int, rounds: int, broken: dict) -> dict:
    names = [x for x in IDLE_SERVERS if x in specs and x not in broken]
    runs: dict[str, list[dict]] = {x: [] for x in names}
    for i in range(rounds):
        say(f"idle keep-alive memory: round {i + 1}/{rounds}")
        for name in names:
            spec = idle_spec if name == "sluice" else specs[name]
            r = checked(
                lambda spec=spec: idle_one(spec, n),
                f"idle {name}",
                tries=2,
                show=lambda r: f"{r['bytes_per_conn']:8,.0f} B/conn  held {r['held']}  errors {r['error_total']}",
            )
            r["round"] = i
            runs[name].append(r)
    per = {}
    for name, rs in runs.items():
        ok = [r for r in rs if r.get("valid")]
        per[name] = {
            "bytes_per_conn": summary([r["bytes_per_conn"] for r in ok]) if ok else None,
            "valid_runs": len(ok),
            "errors": sum(int(r.get("error_total", 0)) for r in rs),
        }
    return {
        "conns": n,
        "about": f"{n:,} keep-alive connections that each made one GET /, held open; RSS delta / connections",
        "servers": per,
        "runs": runs,
    }


__all__ = ["OTHER_LIMIT", "run_hello", "run_close", "run_static", "run_strace", "run_allocs", "run_idle"]
