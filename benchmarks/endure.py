"""Endurance: mixed load on `sluice serve` and `sluice msg-echo` for 10
minutes (--quick: 30 s) while faults are injected on a schedule.

    python benchmarks/endure.py [--quick] [--minutes M]

Load (asyncio clients in this process, loopback only): keep-alive GETs,
pipelined GETs (×8), a connection per request, slowloris clients (they must
get 408), 512 KiB uploads, message clients that echo frames and ping.
Faults: kill -9 of a worker, HUP (reload), TTIN then TTOU, a request that
hangs its worker (killed by the heartbeat timeout), the pool limit reached
(a burst of 1 MiB uploads against a 24 MiB pool), EMFILE (a burst of idle
connections past the workers' descriptor limit).

Every failure is attributed to the fault whose window it falls in; one that
falls in none is unexplained and fails the run. Each worker's RSS is sampled
every second. Writes docs/bench/endure.json (quick: benchmarks/build/) and
prints the report that docs/endurance.md quotes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, machine, rss_bytes, table, write_json

HERE = Path(__file__).resolve().parent
FRAME = struct.Struct("!2sBBHHI")  # docs/protocol.md
NOFILE = 512  # the servers' descriptor limit (the EMFILE fault opens more)
POOL_LIMIT = 24 << 20
T0 = time.monotonic()


def now() -> float:
    return time.monotonic() - T0


class Stats:
    def __init__(self) -> None:
        self.sent: dict[str, int] = {}
        self.ok: dict[str, int] = {}
        self.failures: list[tuple[float, str, str]] = []  # (time, load, why)
        self.expected: dict[str, int] = {}  # outcomes a load is meant to get (slowloris: 408)

    def start(self, kind: str) -> None:
        self.sent[kind] = self.sent.get(kind, 0) + 1

    def done(self, kind: str) -> None:
        self.ok[kind] = self.ok.get(kind, 0) + 1

    def fail(self, kind: str, why: str) -> None:
        self.failures.append((now(), kind, why))


# ---- servers -----------------------------------------------------------------


class Server:
    def __init__(self, args: list[str], name: str, env: dict):
        def limits():
            resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        cmd = [sys.executable, "-m", "sluice.cli", *args, "--bind", "127.0.0.1:0"]
        self.name = name
        self.proc = subprocess.Popen(
            cmd, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=limits, start_new_session=True
        )
        self.log: list[str] = []
        self.port = 0
        deadline = time.monotonic() + 30
        while not self.port and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r" on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        if not self.port:
            self.kill()
            raise RuntimeError(f"{name} did not start:\n" + "".join(self.log))
        os.set_blocking(self.proc.stderr.fileno(), False)

    def drain_log(self) -> None:
        try:
            while True:
                line = self.proc.stderr.readline()
                if not line:
                    return
                self.log.append(line)
        except (BlockingIOError, TypeError):
            return

    def workers(self) -> list[int]:
        out: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return sorted(out)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        finally:
            self.drain_log()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


# ---- loads -----------------------------------------------------------------


async def http_once(reader, writer, raw: bytes, n: int = 1) -> list[int]:
    writer.write(raw)
    statuses = []
    for _ in range(n):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        await asyncio.wait_for(reader.readexactly(length), 15)
        statuses.append(int(lines[0].split()[1]))
        if b"connection: close" in head.lower():
            raise ConnectionResetError("closed by the server (Connection: close)")
    return statuses


GET = b"GET / HTTP/1.1\r\nHost: endure\r\n\r\n"


async def keepalive_client(port: int, st: Stats, stop: asyncio.Event, kind: str, depth: int) -> None:
    reader = writer = None
    while not stop.is_set():
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            for _ in range(depth):
                st.start(kind)
            statuses = await http_once(reader, writer, GET * depth, depth)
            for s in statuses:
                st.done(kind) if s == 200 else st.fail(kind, f"status {s}")
        except ConnectionResetError as exc:
            if "Connection: close" in str(exc):  # answered; reconnect
                for _ in range(depth):
                    st.done(kind)
            else:
                for _ in range(depth):
                    st.fail(kind, repr(exc))
            writer = None
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            for _ in range(depth):
                st.fail(kind, type(exc).__name__)
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.01)


async def per_request_client(port: int, st: Stats, stop: asyncio.Event) -> None:
    while not stop.is_set():
        st.start("conn-per-request")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            s = (await http_once(reader, writer, b"GET / HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n"))[0]
            st.done("conn-per-request") if s == 200 else st.fail("conn-per-request", f"status {s}")
        except ConnectionResetError as exc:
            if "Connection: close" in str(exc):
                st.done("conn-per-request")
            else:
                st.fail("conn-per-request", repr(exc))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            st.fail("conn-per-request", type(exc).__name__)
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await asyncio.sleep(0.02)


async def slowloris_client(port: int, st: Stats, stop: asyncio.Event) -> None:
    """Drips a head that never ends: the server must answer 408 and close."""
    while not stop.is_set():
        st.start("slowloris")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            writer.write(b"GET / HTTP/1.1\r\nHost: e\r\n")
            got = b""
            for _ in range(400):
                writer.write(b"X-Drip: 1\r\n")
                try:
                    got += await asyncio.wait_for(reader.read(4096), 0.25)
                except TimeoutError:
                    continue
                if got or reader.at_eof():
                    break
            ok = got.startswith(b"HTTP/1.1 408")
            st.done("slowloris") if ok else st.fail("slowloris", f"no 408: {got[:40]!r}")
            writer.close()
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            st.fail("slowloris", type(exc).__name__)
            await asyncio.sleep(0.2)


async def upload_client(port: int, st: Stats, stop: asyncio.Event, size: int, kind: str) -> None:
    body = b"u" * size
    raw = b"POST /upload HTTP/1.1\r\nHost: e\r\nContent-Length: %d\r\n\r\n%s" % (size, body)
    reader = writer = None
    while not stop.is_set():
        st.start(kind)
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            s = (await http_once(reader, writer, raw))[0]
            st.done(kind) if s == 200 else st.fail(kind, f"status {s}")
        except ConnectionResetError as exc:
            st.done(kind) if "Connection: close" in str(exc) else st.fail(kind, repr(exc))
            writer = None
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            st.fail(kind, type(exc).__name__)
            writer = None
            await asyncio.sleep(0.1)
        if kind == "upload":
            await asyncio.sleep(0.2)


async def message_client(port: int, st: Stats, stop: asyncio.Event) -> None:
    """Echo frames (type 0x10) and a PING each second; every frame must come back."""
    reader = writer = None
    last_ping = 0.0
    n = 0
    while not stop.is_set():
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            n += 1
            payload = f"m{n}".encode()
            kind, typ = ("message-ping", 1) if time.monotonic() - last_ping > 1 else ("message", 0x10)
            if typ == 1:
                last_ping = time.monotonic()
            st.start(kind)
            writer.write(FRAME.pack(b"SL", 1, typ, 0, 0, len(payload)) + payload)
            head = await asyncio.wait_for(reader.readexactly(12), 15)
            _, _, rtype, _, _, length = FRAME.unpack(head)
            body = await asyncio.wait_for(reader.readexactly(length), 15)
            good = body == payload and rtype == (2 if typ == 1 else 0x10)
            st.done(kind) if good else st.fail(kind, f"bad echo {rtype} {body[:20]!r}")
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            st.fail("message", type(exc).__name__)
            writer = None
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.05)


# ---- faults ------------------------------------------------------------------


async def fault_kill9(http: Server) -> str:
    victim = http.workers()[0]
    os.kill(victim, signal.SIGKILL)
    return f"kill -9 worker {victim}"


async def fault_hup(http: Server) -> str:
    http.signal(signal.SIGHUP)
    return "HUP (reload)"


async def fault_ttin_ttou(http: Server) -> str:
    http.signal(signal.SIGTTIN)
    await asyncio.sleep(2)
    http.signal(signal.SIGTTOU)
    return "TTIN, then TTOU 2 s later"


async def fault_hang(http: Server) -> str:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", http.port), 5)
        writer.write(b"GET /hang HTTP/1.1\r\nHost: e\r\n\r\n")
        await writer.drain()
        asyncio.get_running_loop().call_later(15, writer.close)
    except OSError as exc:
        return f"hang: could not connect ({exc})"
    return "a handler hangs its worker (heartbeat timeout 3 s)"


async def fault_pool(http: Server, st: Stats) -> str:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(upload_client(http.port, st, stop, 1 << 20, "pool-burst")) for _ in range(40)]
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return "pool limit: 40 concurrent 1 MiB uploads against a 24 MiB pool"


async def fault_emfile(http: Server) -> str:
    conns = []
    for _ in range(2 * NOFILE + 300):  # past the limit of both workers
        try:
            conns.append(await asyncio.wait_for(asyncio.open_connection("127.0.0.1", http.port), 2))
        except (OSError, TimeoutError):
            break
    await asyncio.sleep(2)
    for _, w in conns:
        w.close()
    return f"EMFILE: {len(conns)} idle connections against a descriptor limit of {NOFILE}"


# windows (seconds after the fault) in which its failures are expected
WINDOWS = {"kill9": 3.0, "hup": 3.0, "ttin": 4.0, "hang": 8.0, "pool": 6.0, "emfile": 8.0}


# ---- the run -------------------------------------------------------------------


async def run(duration: float, http: Server, msg: Server, rss: dict) -> tuple[Stats, list]:
    st = Stats()
    stop = asyncio.Event()
    loads = []
    loads += [keepalive_client(http.port, st, stop, "keep-alive", 1) for _ in range(20)]
    loads += [keepalive_client(http.port, st, stop, "pipelined", 8) for _ in range(4)]
    loads += [per_request_client(http.port, st, stop) for _ in range(4)]
    loads += [slowloris_client(http.port, st, stop) for _ in range(2)]
    loads += [upload_client(http.port, st, stop, 512 << 10, "upload") for _ in range(2)]
    loads += [message_client(msg.port, st, stop) for _ in range(8)]
    tasks = [asyncio.create_task(x) for x in loads]
    names = ["kill9", "hup", "ttin", "hang", "pool", "emfile"]
    step = duration / (len(names) + 1)
    faults = []

    async def sample():
        while not stop.is_set():
            for pid in http.workers() + msg.workers():
                try:
                    rss.setdefault(pid, []).append((round(now(), 1), rss_bytes(pid)))
                except OSError:
                    pass
            http.drain_log()
            msg.drain_log()
            await asyncio.sleep(1)

    sampler = asyncio.create_task(sample())
    t_start = now()
    for k, name in enumerate(names):
        await asyncio.sleep(max(0.0, t_start + step * (k + 1) - now()))
        t = now()
        if name == "kill9":
            what = await fault_kill9(http)
        elif name == "hup":
            what = await fault_hup(http)
        elif name == "ttin":
            what = await fault_ttin_ttou(http)
        elif name == "hang":
            what = await fault_hang(http)
        elif name == "pool":
            what = await fault_pool(http, st)
        else:
            what = await fault_emfile(http)
        faults.append({"name": name, "at_s": round(t, 2), "what": what, "window_s": WINDOWS[name]})
        print(f"  {t:6.1f} s  {what}", flush=True)
    await asyncio.sleep(max(0.0, t_start + duration - now()))
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    await sampler
    return st, faults


def attribute(st: Stats, faults: list) -> tuple[dict, list]:
    """{fault: failures of the other loads in its window} (the pool burst's
    own refusals are the fault itself and counted apart), and the rest."""
    by_fault: dict[str, int] = {f["name"]: 0 for f in faults}
    unexplained = []
    for t, kind, why in st.failures:
        if kind == "pool-burst":
            continue
        owner = None
        for f in faults:
            end = f["at_s"] + f["window_s"] + (4 if f["name"] == "pool" else 0)
            if f["at_s"] - 0.5 <= t <= end:
                owner = f["name"]
        if owner is None:
            unexplained.append({"at_s": round(t, 2), "load": kind, "why": why})
        else:
            by_fault[owner] += 1
    return by_fault, unexplained


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="30 s instead of 10 minutes")
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    duration = 30.0 if args.quick else args.minutes * 60
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE / "peers"), os.environ.get("PYTHONPATH", "")]),
        "ENDURE_POOL_LIMIT": str(POOL_LIMIT),
    }
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1]),) * 2)
    http = Server(
        ["serve", "endure_app:app", "--workers", "2", "--timeout", "3", "--header-timeout", "2", "--keepalive", "5"],
        "http",
        env,
    )
    msg = Server(["msg-echo", "--workers", "1", "--idle-timeout", "8"], "messages", env)
    print(f"endure: {duration:g} s; http on {http.port}, messages on {msg.port}", flush=True)
    rss: dict[int, list] = {}
    try:
        st, faults = asyncio.run(run(duration, http, msg, rss))
    finally:
        code_http = http.stop()
        code_msg = msg.stop()
    by_fault, unexplained = attribute(st, faults)
    rows = [[k, st.sent.get(k, 0), st.ok.get(k, 0), st.sent.get(k, 0) - st.ok.get(k, 0)] for k in sorted(st.sent)]
    table(["load", "sent", "answered", "failed"], rows, "requests")
    table(
        ["fault", "at (s)", "window (s)", "failures of the steady loads in its window"],
        [[f["what"], f["at_s"], f["window_s"], by_fault[f["name"]]] for f in faults],
    )
    burst_failed = sum(1 for _, k, _ in st.failures if k == "pool-burst")
    print(f"pool burst: {st.sent.get('pool-burst', 0)} uploads tried, {burst_failed} refused (the fault itself)")
    mem = []
    for pid, series in sorted(rss.items()):
        if len(series) >= 3:
            values = [v for _, v in series]
            mem.append([pid, f"{series[0][0]}–{series[-1][0]}", values[0] >> 10, values[-1] >> 10, max(values) >> 10])
    table(["worker pid", "alive (s)", "RSS first (KiB)", "RSS last (KiB)", "RSS max (KiB)"], mem, "memory")
    log_text = "".join(http.log)
    checks = {
        "worker killed by the heartbeat timeout": "WORKER TIMEOUT" in log_text,
        "the hung worker's stack in the log": "in hang" in log_text,
        "reload done": "reload done" in log_text,
        "EMFILE survived (accept paused)": "accept on listener" in log_text or "Too many open files" in log_text,
        "pool refusals counted": any(k == "pool-burst" for _, k, _ in st.failures) or "pool" in log_text.lower(),
        "servers exited cleanly": code_http == 0 and code_msg == 0,
        "no unexplained failure": not unexplained,
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    if unexplained:
        print("unexplained failures (first 10):", unexplained[:10])
    write_json(
        "endure",
        {
            "command": "python benchmarks/endure.py" + (" --quick" if args.quick else ""),
            "machine": machine(),
            "duration_s": duration,
            "sent": st.sent,
            "answered": st.ok,
            "faults": faults,
            "failures_by_fault": by_fault,
            "unexplained": unexplained,
            "failures": [{"at_s": round(t, 2), "load": k, "why": w} for t, k, w in st.failures if k != "pool-burst"],
            "rss": {str(pid): series for pid, series in rss.items()},
            "checks": checks,
        },
        args.quick,
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "python"))
    sys.exit(main())
