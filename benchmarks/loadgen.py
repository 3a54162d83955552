"""Load generators side by side: ``sluice bench`` vs wrk (and locust, for the
record), each one process / one thread, against the same server in one run.

    python benchmarks/loadgen.py [--quick] [--runs N] [--duration S] [--warmup S]
                                 [--only nginx|sluice-serve] [--no-locust]

Servers, pinned to CPU 1, one process each, both serving the same 13-byte
file (``hello.txt``, "Hello, World!") from a temp dir:

  nginx         Debian's nginx-light, benchmarks/peers/loadgen_nginx.conf
                (one worker, access_log off, stub_status for the count):
                ``nginx -p DIR -e DIR/error.log -c DIR/nginx.conf -g 'daemon off;'``
  sluice-serve  ``python -m sluice.cli serve --root DIR/www --workers 0
                --bind 127.0.0.1:PORT --timeout 0.2`` (workers 0: one
                process, no master; --timeout 0.2 only makes the worker
                post its counters to /status every 50 ms instead of every
                second, so the count can be read in the middle of a run)

Load generators, pinned to CPU 0, keep-alive, 100 connections, one
process/thread each:

  wrk           ``wrk -t1 -c100 -dDs --latency -H "User-Agent: loadgen" URL``
                (Debian's wrk)
  sluice-bench  ``python -m sluice.cli bench URL -c 100 -d Ds -p 1 --json
                -H "User-Agent: loadgen"``

The two send the same request, byte for byte (``GET /hello.txt HTTP/1.1``,
``Host: 127.0.0.1:PORT``, ``User-Agent: loadgen``): sluice bench sends a
User-Agent of its own unless given one and wrk sends none, and a server's
cost per request depends on the headers (nginx looks at a User-Agent for
browser quirks).
  locust        ``locust -f peers/loadgen_locustfile.py --headless --users 100
                --spawn-rate 100 -t Ds --host URL`` (FastHttpUser, one
                process; from PyPI into benchmarks/build/locust-venv, made if
                missing), once per server, for the record

Per server: the server is started, warmed up for WARMUP s with wrk
(unmeasured), then wrk and sluice bench alternate (wrk, sluice-bench, wrk,
...), RUNS runs of DURATION s each, then locust once. Before each run the
script waits for a quiet machine (other processes under 5% of a CPU).

Per run, for the load generator:

- requests it completed and the requests/s it reports;
- its CPU: utime+stime of the generator and every process it forked
  (``os.wait4``'s rusage, for its whole life: start-up, load, exit) divided
  by the requests it completed: "CPU µs/req", the figure of the goal;
- its steady CPU: the CPU time of its process tree over a window of the
  load (/proc/PID/task/TID/schedstat, to the nanosecond; from 1 s after the
  load started to 0.5 s before its end; locust: from 2 s, after its
  ramp-up), divided by the requests the server answered in that window
  (read from the server's count at both ends): "steady µs/req", without
  the start-up; the
  difference, total minus steady x requests, is "fixed CPU ms" (start-up
  and exit: Python's imports for sluice bench and locust);
- the server's own count (nginx's stub_status; /status?format=json of
  sluice serve) before and after, against the generator's, and the server's
  CPU per request (/proc);
- p50/p99 latency as the generator reports it; errors (connect, read,
  write, timeout, non-2xx: a run with any is not a result).

A run during which other processes took over 10% of a CPU, or in which
neither the server nor the generator kept its CPU busy (stalled from
outside), or that had errors is run again (up to 3 tries; --quick: never).
Ratios sluice-bench / wrk are taken round by round (both runs valid),
median and min-max. Goal (issue 17): sluice bench >= 1.0x wrk's requests/s
at <= 1.0x wrk's CPU per request, against each server.

Raw figures: docs/bench/loadgen.json (--quick: benchmarks/build/loadgen-quick.json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    BUILD,
    CLIENT_CPU,
    CLK_TCK,
    PEERS,
    ROOT,
    SERVER_CPU,
    cpu_ticks,
    cpu_us,
    free_port,
    machine,
    summary,
    table,
    taskset,
    wait_quiet,
    write_json,
)

CONNS = 100
PATH = "/hello.txt"
HELLO = b"Hello, World!"
SERVERS = ["nginx", "sluice-serve"]
PAIR = ["wrk", "sluice-bench"]  # alternated, RUNS each
AGENT = ["-H", "User-Agent: loadgen"]  # the same request from both
GOAL_RATE = 1.0  # sluice bench's requests/s >= 1.0x wrk's
GOAL_CPU = 1.0  # at <= 1.0x wrk's CPU per request
OTHER_LIMIT = 0.10  # of one CPU taken by other processes: the run was disturbed
STALL_LIMIT = 0.90  # neither the server nor the generator above this share of its CPU: stalled
TRIES = 3
LOCUST_VENV = BUILD / "locust-venv"
LOCUSTFILE = PEERS / "loadgen_locustfile.py"
NGINX_CONF = PEERS / "loadgen_nginx.conf"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- the tools ----------------------------------------------------------------


def ensure_debian(command: str, package: str) -> str | None:
    """The path of command, installing Debian's package first if missing
    (as root); None when it cannot be had."""
    found = shutil.which(command) or (f"/usr/sbin/{command}" if os.path.exists(f"/usr/sbin/{command}") else None)
    if found:
        return found
    log(f"installing {package} (apt-get)")
    cmd = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            log(f"  could not install {package}")
            return None
    return shutil.which(command) or (f"/usr/sbin/{command}" if os.path.exists(f"/usr/sbin/{command}") else None)


def ensure_locust() -> tuple[str, str] | None:
    """(locust command, version) from benchmarks/build/locust-venv, made
    with pip if missing (so the environment running this script is not
    touched); None when it cannot be had."""
    py, exe = LOCUST_VENV / "bin" / "python", LOCUST_VENV / "bin" / "locust"
    try:
        if not py.exists():
            log(f"making {LOCUST_VENV.relative_to(ROOT)} (python -m venv)")
            BUILD.mkdir(exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(LOCUST_VENV)], check=True)
        if not exe.exists():
            log("installing locust into it (pip)")
            subprocess.run([str(py), "-m", "pip", "install", "-q", "locust"], check=True)
        version = subprocess.run(
            [str(py), "-c", "import locust; print(locust.__version__)"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (subprocess.CalledProcessError, OSError) as exc:
        log(f"  locust unavailable: {exc}")
        return None
    return str(exe), version


def tool_version(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (p.stdout + p.stderr).strip().splitlines()
    return text[0].strip() if text else "?"


# ---- /proc --------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """pid and its descendants (/proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def tree_cpu_us(pid: int) -> float:
    """utime+stime of pid and its descendants (/proc/PID/stat: clock ticks)."""
    total = 0.0
    for p in tree(pid):
        try:
            total += cpu_us(p)
        except (OSError, IndexError, ValueError):
            pass  # gone in between
    return total


def tree_run_us(pid: int) -> float:
    """The CPU time of pid's and its descendants' live threads, to the
    nanosecond (/proc/PID/task/TID/schedstat: the time on a CPU, which is
    what utime+stime counts in clock ticks): the steady window is a second
    or a few, where ticks of 10 ms would be too coarse. Falls back to the
    ticks where the kernel has no schedstat."""
    total = 0.0
    for p in tree(pid):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0]) / 1000
        except FileNotFoundError:
            if not HAVE_SCHEDSTAT:
                return tree_cpu_us(pid)
        except (OSError, IndexError, ValueError):
            pass  # gone in between
    return total


HAVE_SCHEDSTAT = os.path.exists("/proc/self/schedstat")


# ---- the servers --------------------------------------------------------------


class Server:
    """nginx or sluice serve on CPU 1, serving DIR/www/hello.txt."""

    def __init__(self, name: str, nginx: str | None):
        self.name = name
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"loadgen-{name}-"))
        self.dir.chmod(0o755)  # nginx's worker runs as nobody
        www = self.dir / "www"
        (self.dir / "tmp").mkdir()
        www.mkdir()
        (www / "hello.txt").write_bytes(HELLO)
        (www / "hello.txt").chmod(0o644)
        self.queries = 0  # status requests made: the server counts them too
        if name == "nginx":
            conf = self.dir / "nginx.conf"
            text = NGINX_CONF.read_text().replace("@DIR@", str(self.dir)).replace("@PORT@", str(self.port))
            conf.write_text(text)
            cmd = [nginx, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(conf)]
            cmd += ["-g", "daemon off;"]
        else:
            cmd = [sys.executable, "-m", "sluice.cli", "serve", "--root", str(www), "--workers", "0"]
            cmd += ["--bind", f"127.0.0.1:{self.port}", "--timeout", "0.2", "--log-level", "warning"]
        self.cmd = cmd
        self.log = open(self.dir / "server.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(taskset(SERVER_CPU) + cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid  # taskset execs: the same pid
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name}: exited {self.proc.returncode}: {self.read_log()}")
            try:
                body = self._get(PATH)
                if body == HELLO:
                    break
                raise RuntimeError(f"{name}: {PATH} gave {body[:80]!r}")
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name}: not answering on port {self.port}: {self.read_log()}") from None
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}{PATH}"
        self.base = f"http://127.0.0.1:{self.port}"

    def read_log(self) -> str:
        text = ""
        for f in (self.dir / "server.log", self.dir / "error.log"):
            if f.exists():
                text += f.read_text()[-2000:]
        return text.strip()

    def _get(self, path: str) -> bytes:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError(f"{self.name}: GET {path}: {r.status}")
            return body
        finally:
            c.close()

    def count(self) -> tuple[int, float]:
        """(requests the server has answered, the monotonic time that count
        is from). nginx's stub_status is live (and counts this request);
        sluice's /status is the worker's last heartbeat (every 50 ms here),
        whose age it gives."""
        self.queries += 1
        if self.name == "nginx":
            text = self._get("/nginx_status").decode()
            now = time.monotonic()
            return int(text.splitlines()[2].split()[2]), now
        f = json.loads(self._get("/status?format=json"))
        now = time.monotonic()
        age = f["workers"][0]["heartbeat_age_ms"] / 1000 if f["workers"] else 0.0
        return int(f["requests"]), now - age

    def cpu(self) -> float:
        return tree_cpu_us(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT if self.name == "nginx" else signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- the load generators ------------------------------------------------------


def gen_cmd(gen: str, server: Server, duration: int, tools: dict) -> tuple[list[str], dict]:
    if gen == "wrk":
        return [tools["wrk"], "-t1", f"-c{CONNS}", f"-d{duration}s", "--latency", *AGENT, server.url], {}
    if gen == "sluice-bench":
        cmd = [sys.executable, "-m", "sluice.cli", "bench", server.url, "-c", str(CONNS), "-d", f"{duration}s"]
        return cmd + ["-p", "1", "--json", *AGENT], {}
    cmd = [tools["locust"], "-f", str(LOCUSTFILE), "--headless", "--users", str(CONNS)]
    cmd += ["--spawn-rate", str(CONNS), "-t", f"{duration}s", "--host", server.base]
    cmd += ["--json", "--only-summary", "--loglevel", "WARNING"]
    return cmd, {"LOADGEN_PATH": PATH}


_UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def _wrk_time_us(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * _UNIT_US[m.group(2)] if m else float("nan")


def parse_wrk(out: str) -> dict:
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out)
    if not m:
        raise RuntimeError(f"wrk: no result in {out[-500:]!r}")
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if e:
        errors = dict(zip(errors, map(int, e.groups()), strict=True))
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "requests": int(m.group(1)),
        "duration_s": _wrk_time_us(m.group(2) + m.group(3)) / 1e6,
        "requests_per_sec": float(rps.group(1)) if rps else float("nan"),
        "errors": errors,
        "non_2xx": int(non.group(1)) if non else 0,
        "p50_us": _wrk_time_us(lat["50"]) if "50" in lat else None,
        "p99_us": _wrk_time_us(lat["99"]) if "99" in lat else None,
    }


def parse_sluice(out: str) -> dict:
    r = json.loads(out)
    return {
        "requests": r["requests"],
        "duration_s": r["duration_s"],
        "requests_per_sec": r["requests_per_sec"],
        "errors": r["errors"],
        "non_2xx": r["non_2xx"],
        "p50_us": r["latency_us"].get("p50"),
        "p99_us": r["latency_us"].get("p99"),
    }


def parse_locust(out: str) -> dict:
    entries = json.loads(out[out.index("[") :])
    if not entries:
        raise RuntimeError("locust: no requests in its stats")
    e = entries[0]  # the one endpoint
    n = e["num_requests"]
    span = (e["last_request_timestamp"] or e["start_time"]) - e["start_time"]
    hist = sorted((int(k), v) for k, v in e["response_times"].items())  # ms (rounded) -> count

    def pct(p: float) -> float | None:
        want, seen = p / 100 * sum(v for _, v in hist), 0
        for ms, v in hist:
            seen += v
            if seen >= want:
                return ms * 1000.0
        return None

    return {
        "requests": n,
        "duration_s": span,
        "requests_per_sec": n / span if span > 0 else float("nan"),
        "errors": {"failures": e["num_failures"]},
        "non_2xx": 0,  # locust counts a non-2xx answer as a failure
        "p50_us": pct(50),
        "p99_us": pct(99),
    }


PARSE = {"wrk": parse_wrk, "sluice-bench": parse_sluice, "locust": parse_locust}


def window(gen: str, duration: float) -> tuple[float, float]:
    """(start, end) of the steady window, in seconds after the load started."""
    skip = min(2.0, duration / 2) if gen == "locust" else min(1.0, duration / 4)
    return skip, duration - min(0.5, duration / 4)


def sample(server: Server, pid: int) -> dict:
    t = time.monotonic()
    g, s, ticks = tree_run_us(pid), tree_run_us(server.pid), cpu_ticks()
    count, count_t = server.count()
    return {"t": t, "gen_cpu_us": g, "srv_cpu_us": s, "ticks": ticks, "count": count, "count_t": count_t}


def one_run(gen: str, server: Server, duration: int, tools: dict) -> dict:
    cmd, env = gen_cmd(gen, server, duration, tools)
    out_path, err_path = server.dir / f"{gen}.out", server.dir / f"{gen}.err"
    q0 = server.queries
    count0, _ = server.count()
    srv0, ticks0, t0 = server.cpu(), cpu_ticks(), time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(taskset(CLIENT_CPU) + cmd, stdout=out, stderr=err, env={**os.environ, **env})
    pid, status, rusage = p.pid, None, None
    load_start, marks = None, []
    w0, w1 = window(gen, duration)
    deadline = t0 + duration + 60
    while status is None:
        got, st, ru = os.wait4(pid, os.WNOHANG)
        if got == pid:
            status, rusage = st, ru
            break
        now = time.monotonic()
        if now > deadline:  # hung: stop it (its figures, if any, still count)
            os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        if load_start is None:  # the first answers beyond our own status requests
            c, _ = server.count()
            if c - count0 - (server.queries - q0) > 10:
                load_start = now
        elif not marks and now >= load_start + w0:
            marks.append(sample(server, pid))
        elif len(marks) == 1 and now >= load_start + w1:
            marks.append(sample(server, pid))
        time.sleep(0.02 if load_start is None else 0.01)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    time.sleep(0.15)  # sluice's count: its next heartbeat
    count1, _ = server.count()
    srv1, ticks1, t1 = server.cpu(), cpu_ticks(), time.monotonic()
    queries = server.queries - q0 - 1  # those between the first and the last count
    output, errtext = out_path.read_text(), err_path.read_text()
    try:
        r = PARSE[gen](output)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise RuntimeError(f"{gen} vs {server.name}: exit {p.returncode}, {exc}; stderr: {errtext[-800:]}") from None
    gen_cpu = (rusage.ru_utime + rusage.ru_stime) * 1e6
    n = r["requests"]
    served = count1 - count0 - queries
    srv_cpu = srv1 - srv0
    other = ((ticks1["task"] - ticks0["task"]) * 1e6 / CLK_TCK - gen_cpu - srv_cpu) / ((t1 - t0) * 1e6)
    r.update(
        generator=gen,
        server=server.name,
        exit=p.returncode,
        wall_s=wall,
        gen_cpu_us=gen_cpu,
        gen_user_us=rusage.ru_utime * 1e6,
        gen_sys_us=rusage.ru_stime * 1e6,
        gen_max_rss_kib=rusage.ru_maxrss,
        cpu_us_per_req=gen_cpu / n if n else float("inf"),
        server_requests=served,
        server_minus_gen=served - n,
        server_cpu_us_per_req=srv_cpu / served if served else float("inf"),
        other_cpu_share=max(0.0, other),
        error_total=sum(r["errors"].values()) + r["non_2xx"],
        stderr_tail=errtext[-400:] if p.returncode else "",
    )
    if len(marks) == 2:
        a, b = marks
        dt, dct = b["t"] - a["t"], b["count_t"] - a["count_t"]
        reqs = b["count"] - a["count"] - 1  # less the second mark's own status request
        rate = reqs / dct if dct > 0 else float("nan")
        gen_share = (b["gen_cpu_us"] - a["gen_cpu_us"]) / (dt * 1e6)
        srv_share = (b["srv_cpu_us"] - a["srv_cpu_us"]) / (dt * 1e6)
        task_us = (b["ticks"]["task"] - a["ticks"]["task"]) * 1e6 / CLK_TCK
        other_w = (task_us - (b["gen_cpu_us"] - a["gen_cpu_us"]) - (b["srv_cpu_us"] - a["srv_cpu_us"])) / (dt * 1e6)
        steady = gen_share * 1e6 / rate if rate > 0 else float("nan")
        r.update(
            steady_window_s=dt,
            steady_requests_per_sec=rate,
            steady_cpu_us_per_req=steady,
            steady_server_cpu_us_per_req=srv_share * 1e6 / rate if rate > 0 else float("nan"),
            gen_cpu_share=gen_share,
            server_cpu_share=srv_share,
            other_cpu_share_steady=max(0.0, other_w),
            fixed_cpu_ms=(gen_cpu - steady * n) / 1000,
        )
    else:
        r.update(steady_cpu_us_per_req=None, gen_cpu_share=None, server_cpu_share=None, fixed_cpu_ms=None)
    return r


def problems(r: dict) -> tuple[list[str], list[str]]:
    """(what makes the run no result: errors; what says it was disturbed)."""
    bad, disturbed = [], []
    if r["exit"] not in (0, None) and r["generator"] != "locust":  # locust exits 1 on any failure: counted below
        bad.append(f"exit {r['exit']}")
    if r["error_total"]:
        bad.append(f"errors {r['errors']} non-2xx {r['non_2xx']}")
    if not r["requests"]:
        bad.append("no requests")
    if r["gen_cpu_share"] is None:
        bad.append("no steady window (the load ended early)")
    other = r.get("other_cpu_share_steady", r["other_cpu_share"])
    if other > OTHER_LIMIT:
        disturbed.append(f"other processes took {100 * other:.0f}% of a CPU")
    if r["gen_cpu_share"] is not None and max(r["gen_cpu_share"], r["server_cpu_share"]) < STALL_LIMIT:
        disturbed.append("neither the server nor the generator kept its CPU busy: stalled from outside")
    return bad, disturbed


def measured_run(gen: str, server: Server, duration: int, tools: dict, quick: bool) -> dict:
    tries = 1 if quick else TRIES
    for attempt in range(1, tries + 1):
        if quick:
            wait_quiet(max_wait_s=2, quiet_s=0.5)
        else:
            wait_quiet()
        try:
            r = one_run(gen, server, duration, tools)
        except (RuntimeError, OSError) as exc:  # the generator failed: no figures, said so
            log(f"  {server.name:12s} {gen:12s} failed: {exc}")
            r = {"generator": gen, "server": server.name, "valid": False, "error_total": 1, "problems": [str(exc)]}
            r["attempt"] = attempt
            continue
        r["attempt"] = attempt
        errors, disturbed = problems(r)
        # --quick only shows that it works: a disturbed run still counts there
        bad = errors + ([] if quick else disturbed)
        steady = r["steady_cpu_us_per_req"]
        log(
            f"  {server.name:12s} {gen:12s} {r['requests_per_sec']:>9,.0f} req/s  "
            f"{r['cpu_us_per_req']:6.2f} µs/req (steady {steady if steady is None else f'{steady:.2f}'})  "
            f"server {r['server_cpu_us_per_req']:5.2f} µs/req, counted {r['server_minus_gen']:+d}  "
            f"p50 {_us(r['p50_us'])} p99 {_us(r['p99_us'])}  other {100 * r['other_cpu_share']:.0f}%"
            + (f"  -- {'not valid' if attempt == tries else 'rerun'}: {'; '.join(bad)}" if bad else "")
            + (f"  -- disturbed (counted: --quick): {'; '.join(disturbed)}" if quick and disturbed else "")
        )
        r["problems"] = errors + disturbed
        r["valid"] = not bad
        if not bad:
            return r
    return r


def warm_up(server: Server, seconds: float, tools: dict) -> None:
    cmd = taskset(CLIENT_CPU) + [tools["wrk"], "-t1", f"-c{CONNS}", f"-d{max(1, round(seconds))}s", *AGENT, server.url]
    subprocess.run(cmd, capture_output=True)


# ---- figures ------------------------------------------------------------------


def _us(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def _med(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _sum_or_none(values: list) -> dict | None:
    vals = [v for v in values if v is not None]
    return summary(vals) if vals else None


def _fmt(s: dict | None, spec: str = ".2f", unit: str = "") -> str:
    if not s:
        return "-"
    return f"{s['median']:{spec}}{unit} ({s['min']:{spec}}-{s['max']:{spec}})"


def per_generator(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["valid"]]
    return {
        "requests_per_sec": _sum_or_none([r["requests_per_sec"] for r in ok]),
        "cpu_us_per_req": _sum_or_none([r["cpu_us_per_req"] for r in ok]),
        "steady_cpu_us_per_req": _sum_or_none([r["steady_cpu_us_per_req"] for r in ok]),
        "fixed_cpu_ms": _med([r["fixed_cpu_ms"] for r in ok]),
        "gen_cpu_share": _med([r["gen_cpu_share"] for r in ok]),
        "server_cpu_us_per_req": _med([r["server_cpu_us_per_req"] for r in ok]),
        "server_minus_gen": _med([r["server_minus_gen"] for r in ok]),
        "p50_us": _med([r["p50_us"] for r in ok]),
        "p99_us": _med([r["p99_us"] for r in ok]),
        "valid_runs": len(ok),
        "runs": len(runs),
        "errors": sum(r["error_total"] for r in runs),
    }


def ratios(a_runs: list[dict], b_runs: list[dict]) -> dict | None:
    pairs = [(a, b) for a, b in zip(a_runs, b_runs, strict=False) if a["valid"] and b["valid"]]
    if not pairs:
        return None
    steady = [
        (a["steady_cpu_us_per_req"], b["steady_cpu_us_per_req"])
        for a, b in pairs
        if a["steady_cpu_us_per_req"] and b["steady_cpu_us_per_req"]
    ]
    return {
        "requests_per_sec": summary([a["requests_per_sec"] / b["requests_per_sec"] for a, b in pairs]),
        "cpu_per_req": summary([a["cpu_us_per_req"] / b["cpu_us_per_req"] for a, b in pairs]),
        "steady_cpu_per_req": summary([x / y for x, y in steady]) if steady else None,
        "rounds": len(pairs),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 run of 2 s each (locust 4 s), 1 s warm-up (CI: it works)")
    ap.add_argument("--runs", type=int, default=5, help="alternated runs per generator and server (default 5)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of wrk against a fresh server (default 2)")
    ap.add_argument("--only", action="append", choices=SERVERS, help="this server only (repeat)")
    ap.add_argument("--no-locust", action="store_true")
    args = ap.parse_args()
    machine()  # notes the commit measured
    locust_duration = args.duration
    if args.quick:
        args.runs, args.duration, args.warmup, locust_duration = 1, 2, 1, 4
    servers = args.only or SERVERS

    tools: dict = {"wrk": ensure_debian("wrk", "wrk")}
    if not tools["wrk"]:
        log("wrk is needed (apt-get install wrk): stopping")
        return 1
    nginx = ensure_debian("nginx", "nginx-light") if "nginx" in servers else None
    if "nginx" in servers and not nginx:
        log("nginx unavailable: sluice serve only")
        servers = [s for s in servers if s != "nginx"]
    locust = None if args.no_locust else ensure_locust()
    if locust:
        tools["locust"] = locust[0]
    versions = {
        "wrk": tool_version([tools["wrk"], "-v"]),
        "nginx": tool_version([nginx, "-v"]) if nginx else None,
        "locust": locust[1] if locust else None,
        "sluice": tool_version([sys.executable, "-m", "sluice.cli", "--version"]),
    }

    runs: dict[str, dict[str, list[dict]]] = {}
    for name in servers:
        runs[name] = {g: [] for g in [*PAIR, *(["locust"] if locust else [])]}
        log(f"{name}: starting (CPU {SERVER_CPU})")
        with Server(name, nginx) as server:
            warm_up(server, args.warmup, tools)
            for i in range(args.runs):
                log(f" round {i + 1}/{args.runs}")
                for gen in PAIR:
                    runs[name][gen].append(measured_run(gen, server, args.duration, tools, args.quick))
            if locust:
                runs[name]["locust"].append(measured_run("locust", server, locust_duration, tools, args.quick))

    figures = {s: {g: per_generator(rs) for g, rs in by_gen.items()} for s, by_gen in runs.items()}
    rows = []
    for s, by_gen in figures.items():
        for g, f in by_gen.items():
            rows.append(
                [
                    s,
                    g,
                    _fmt(f["requests_per_sec"], ",.0f"),
                    _fmt(f["cpu_us_per_req"]),
                    _fmt(f["steady_cpu_us_per_req"]),
                    "-" if f["fixed_cpu_ms"] is None else f"{f['fixed_cpu_ms']:.0f}",
                    "-" if f["gen_cpu_share"] is None else f"{100 * f['gen_cpu_share']:.0f}%",
                    "-" if f["server_cpu_us_per_req"] is None else f"{f['server_cpu_us_per_req']:.2f}",
                    "-" if f["server_minus_gen"] is None else f"{f['server_minus_gen']:+.0f}",
                    f"{_us(f['p50_us'])} / {_us(f['p99_us'])}",
                    f"{f['valid_runs']}/{f['runs']}",
                    str(f["errors"]),
                ]
            )
    print()
    table(
        [
            "server",
            "generator",
            "req/s (min-max)",
            "CPU µs/req (min-max)",
            "steady µs/req (min-max)",
            "fixed CPU ms",
            "gen CPU",
            "server µs/req",
            "server - gen count",
            "p50 / p99 µs",
            "valid",
            "errors",
        ],
        rows,
        f"load generators, keep-alive, {CONNS} connections, one process/thread each, runs of {args.duration} s "
        f"(locust {locust_duration} s), {args.runs} alternated runs (locust once); generator on CPU {CLIENT_CPU}, "
        f"server on CPU {SERVER_CPU}",
    )

    ratio_rows, ratio_figs, verdicts, met_all = [], {}, [], True
    for s in runs:
        q = ratios(runs[s]["sluice-bench"], runs[s]["wrk"])
        ratio_figs[s] = q
        if q is None:
            verdicts.append(f"{s}: no valid round to judge")
            met_all = False
            continue
        ratio_rows.append(
            [
                s,
                _fmt(q["requests_per_sec"], ".2f", "x"),
                _fmt(q["cpu_per_req"], ".2f", "x"),
                _fmt(q["steady_cpu_per_req"], ".2f", "x"),
                str(q["rounds"]),
            ]
        )
        rate, cpu = q["requests_per_sec"]["median"], q["cpu_per_req"]["median"]
        met = rate >= GOAL_RATE and cpu <= GOAL_CPU
        met_all = met_all and met
        steady = q["steady_cpu_per_req"]
        verdicts.append(
            f"{s}: {'met' if met else 'NOT met'} ({rate:.2f}x the requests/s at {cpu:.2f}x the CPU per request"
            + (f"; steady {steady['median']:.2f}x" if steady else "")
            + ")"
        )
    print()
    table(
        ["server", "req/s ratio", "CPU/req ratio", "steady CPU/req ratio", "rounds"],
        ratio_rows,
        "sluice bench / wrk, round by round: median (min-max)",
    )
    goal = f"goal: sluice bench >= {GOAL_RATE}x wrk's requests/s at <= {GOAL_CPU}x wrk's CPU per request"
    print("\n" + goal + ":\n" + "\n".join("  " + v for v in verdicts))

    cmd = "python benchmarks/loadgen.py" + (" --quick" if args.quick else "")
    write_json(
        "loadgen",
        {
            "command": cmd,
            "machine": machine(),
            "versions": versions,
            "conns": CONNS,
            "path": PATH,
            "body_bytes": len(HELLO),
            "runs_per_generator": args.runs,
            "duration_s": args.duration,
            "locust_duration_s": locust_duration,
            "warmup_s": args.warmup,
            "commands": {
                "wrk": f"wrk -t1 -c{CONNS} -d{args.duration}s --latency URL",
                "sluice-bench": f"python -m sluice.cli bench URL -c {CONNS} -d {args.duration}s -p 1 --json",
                "locust": f"locust -f benchmarks/peers/loadgen_locustfile.py --headless --users {CONNS} "
                f"--spawn-rate {CONNS} -t {locust_duration}s --host URL --json --only-summary",
                "nginx": "nginx -p DIR -e DIR/error.log -c DIR/nginx.conf -g 'daemon off;' "
                "(benchmarks/peers/loadgen_nginx.conf)",
                "sluice-serve": "python -m sluice.cli serve --root DIR/www --workers 0 --bind 127.0.0.1:PORT "
                "--timeout 0.2",
            },
            "figures": figures,
            "ratios_sluice_bench_vs_wrk": ratio_figs,
            "goal": goal,
            "verdicts": verdicts,
            "goal_met": met_all,
            "runs": runs,
        },
        args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
