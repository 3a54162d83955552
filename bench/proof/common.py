"""Shared pieces of bench/compare and bench/endure: building, starting
servers pinned to a CPU, reading their CPU time and memory, running load
generators and parsing what they print. Standard library only."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = ROOT / "build" / "release" / "bin"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU = "1"
CLIENT_CPU = "0"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_peers():
    """The peers and load generator, from Debian."""
    subprocess.run([str(ROOT / "scripts" / "ensure-deps"), "nginx-light", "wrk"], check=True)


def ensure_built():
    """Sluice in release mode (the release preset)."""
    subprocess.run(["make", "-C", str(ROOT), "build"], check=True,
                   stdout=subprocess.DEVNULL)
    for name in ("hello-server", "sluice", "sluice-bench"):
        if not (BIN / name).exists():
            raise SystemExit(f"missing {BIN / name} after the build")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Server:
    """A server process pinned to SERVER_CPU; `worker` is the pid that does the
    work (the process itself, or its only child for master-worker servers)."""

    def __init__(self, name, argv, port, master_worker=False):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        if not wait_port(port):
            self.stop()
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise SystemExit(f"{name} did not start on port {port}: {err[-2000:]}")
        self.worker = self.proc.pid
        if master_worker:
            deadline = time.time() + 5
            while time.time() < deadline and not children(self.proc.pid):
                time.sleep(0.05)
            kids = children(self.proc.pid)
            if kids:
                self.worker = kids[0]

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def nginx_config(tmp, port, root):
    conf = Path(tmp) / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
error_log {tmp}/nginx-error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 19000; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  sendfile on;
  tcp_nopush on;
  include /etc/nginx/mime.types;
  server {{
    listen 127.0.0.1:{port} reuseport;
    root {root};
    location = /plaintext {{ default_type text/plain; return 200 "Hello, World!"; }}
  }}
}}
""")
    return ["nginx", "-c", str(conf), "-p", str(tmp), "-e", f"{tmp}/nginx-error.log"]


def sluice_config(tmp, port, root, workers=1, extra=""):
    conf = Path(tmp) / "sluice.toml"
    conf.write_text(f"""
listen = ["127.0.0.1:{port}"]
workers = {workers}
root = "{root}"
{extra}
[limits]
requests_per_connection = 1000000
[access_log]
path = "off"
""")
    return [str(BIN / "sluice"), "--config", str(conf)]


PIPELINE_LUA = """
init = function(args)
  local r = {}
  for i = 1, %d do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
"""


def run_wrk(url, conns, duration, pipeline=1, close=False, tmp="/tmp"):
    argv = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", f"-d{duration}s",
            "--latency", "--timeout", "10s"]
    if pipeline > 1:
        script = Path(tmp) / f"pipeline{pipeline}.lua"
        script.write_text(PIPELINE_LUA % pipeline)
        argv += ["-s", str(script)]
    if close:
        argv += ["-H", "Connection: close"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=duration + 60).stdout
    res = {"tool": "wrk", "raw": out}
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0

    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return None
        v = float(m.group(1))
        return v * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
    res["p50_us"], res["p99_us"] = lat(50), lat(99)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    res["errors"] = errors
    return res


def run_sluice_bench(url, conns, duration, pipeline=1, close=False):
    argv = ["taskset", "-c", CLIENT_CPU, str(BIN / "sluice-bench"), "-t1", f"-c{conns}",
            f"-d{duration}s", "--json", "--no-progress", "--timeout", "10s"]
    if pipeline > 1:
        argv += ["--pipeline", str(pipeline)]
    if close:
        argv += ["--no-keepalive"]
    proc = subprocess.run(argv + [url], capture_output=True, text=True, timeout=duration + 60)
    res = {"tool": "sluice-bench", "raw": proc.stdout[-4000:]}
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        res.update(requests=0, rps=0.0, p50_us=None, p99_us=None, errors=-1)
        res["raw"] += proc.stderr[-2000:]
        return res
    res["requests"] = int(data["requests"]["completed"])
    res["rps"] = float(data["requests_per_sec"])
    res["p50_us"] = data["latency_us"].get("p50")
    res["p99_us"] = data["latency_us"].get("p99")
    res["errors"] = int(data["errors"]["total"]) + int(data["status"]["non_2xx"])
    return res


def measure(server, load):
    """Runs `load()` and returns its result with the server's CPU per request."""
    c0 = cpu_ticks(server.worker)
    res = load()
    c1 = cpu_ticks(server.worker)
    cpu_us = (c1 - c0) * 1e6 / CLK_TCK
    res["server_cpu_us"] = cpu_us
    res["cpu_us_per_req"] = cpu_us / res["requests"] if res["requests"] else None
    res.pop("raw", None) if res.get("errors", 0) == 0 else None
    return res


def machine_description():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    kernel = os.uname().release
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} vCPU ({cpu}), {mem:.0f} GiB, Linux {kernel}"


def tool_version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"
