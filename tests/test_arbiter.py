"""The master-worker process model with real processes on loopback: respawn,
reload and drain under load, heartbeats, scaling, boot failures, log reopen,
`sluice signal`. Every server is started by the test on a free port and
killed with its whole process group at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lineclient import ask, load
from servers import ServerProcess, children, wait_until

TESTS = Path(__file__).resolve().parent
APP = "apps.lineproto:LineEcho"


def env(extra_path: Path | None = None) -> dict:
    paths = [str(extra_path)] if extra_path else []
    paths.append(str(TESTS))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1"}


def tcp_server(*args: str, app: str = APP, workers: int = 2, **kw) -> ServerProcess:
    kw.setdefault("env", env())
    return ServerProcess(["tcp", app], "--workers", str(workers), "--idle-timeout", "0", *args, **kw)


def request(port: int, line: bytes = b"hello") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(line + b"\n")
        return c.makefile("rb").readline()


async def spread_connections(port: int, workers: int, per_worker: int = 4, tries: int = 600) -> list:
    """Open connections until each of the workers holds per_worker of them
    (the kernel deals them out as it likes); the rest are closed."""
    held: dict[int, list] = {}
    for _ in range(tries):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        pid = int((await ask(reader, writer, b"pid")).split()[0])
        if len(held.setdefault(pid, [])) < per_worker:
            held[pid].append((pid, reader, writer))
        else:
            writer.close()
        if len(held) == workers and all(len(v) == per_worker for v in held.values()):
            return [c for v in held.values() for c in v]
    raise AssertionError(f"could not reach every worker in {tries} connections: {sorted(held)}")


def sluice_signal(action: str, pid_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", "signal", action, "--pid-file", str(pid_file)],
        capture_output=True,
        text=True,
        timeout=90,
    )


# ---- start, stop, the pid file --------------------------------------------


def test_master_forks_the_workers_writes_the_pid_file_and_stops_on_term(tmp_path):
    pid_file = tmp_path / "sluice.pid"
    with tcp_server("--pid-file", str(pid_file)) as server:
        assert pid_file.read_text().strip() == str(server.proc.pid)
        workers = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))
        assert request(server.port) == b"hello\n"
        log = server.stop()
        assert server.proc.returncode == 0
    assert not pid_file.exists()
    for pid in workers:
        wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 10, f"worker {pid} gone")
    assert log.count("exited with status 0") == 2, log


# ---- kill -9 --------------------------------------------------------------


def test_a_worker_killed_with_sigkill_is_respawned_and_only_its_connections_fail():
    with tcp_server() as server:
        first = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))

        async def scenario():
            conns = await spread_connections(server.port, 2, 8)
            owners = {pid for pid, _, _ in conns}
            assert owners == first
            victim = sorted(owners)[0]
            os.kill(victim, signal.SIGKILL)
            await asyncio.sleep(0.5)
            results = {}
            for k, (pid, reader, writer) in enumerate(conns):
                try:
                    answer = await ask(reader, writer, f"after-{k}".encode(), timeout=5)
                except (TimeoutError, OSError):
                    answer = b""
                results[k] = (pid, answer == f"after-{k}\n".encode())
                writer.close()
            return victim, results

        victim, results = asyncio.run(scenario())
        assert all(not ok for pid, ok in results.values() if pid == victim)
        assert all(ok for pid, ok in results.values() if pid != victim)
        wait_until(lambda: len(children(server.proc.pid)) == 2, what="a replacement worker")
        now = children(server.proc.pid)
        assert victim not in now and len(now - first) == 1
        assert request(server.port, b"new") == b"new\n"
        log = server.stop()
    assert f"worker {victim} (slot" in log and "killed by signal 9 (SIGKILL)" in log


# ---- reload and drain under load ------------------------------------------


def test_reload_under_keepalive_load_fails_no_request_and_replaces_every_worker(tmp_path):
    pid_file = tmp_path / "sluice.pid"
    with tcp_server("--pid-file", str(pid_file), "--graceful-timeout", "20") as server:
        before = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))
        replies = []

        async def hup():
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sluice.cli",
                "signal",
                "reload",
                "--pid-file",
                str(pid_file),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
            replies.append((proc.returncode, out.decode() + err.decode()))

        counts = asyncio.run(load(server.port, clients=300, duration=7.0, actions=[(2.0, hup)], pause=0.01))
        assert replies and replies[0][0] == 0, replies
        assert "reloaded" in replies[0][1]
        after = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))
        server.stop()
    assert counts.failed == 0, counts.failures
    assert counts.sent > 3000 and counts.answered == counts.sent
    assert counts.reconnects >= 300  # every connection of the old workers was told to close, then reconnected
    assert not before & after


def test_term_drains_every_request_sent_before_the_listener_closed():
    with tcp_server("--graceful-timeout", "20") as server:
        wait_until(lambda: len(children(server.proc.pid)) == 2)
        term_sent = []

        def term():
            term_sent.append(time.monotonic())
            server.send_signal(signal.SIGTERM)

        counts = asyncio.run(
            _load_until_term(server.port, 200, term),
        )
        server.proc.wait(30)
        assert server.proc.returncode == 0
    assert term_sent
    assert counts.failed == 0, counts.failures
    assert counts.answered == counts.sent > 1000


async def _load_until_term(port: int, clients: int, term):
    from lineclient import Counts, client

    counts = Counts()
    stop = asyncio.Event()
    sent_term = []

    def after_term() -> bool:
        return bool(sent_term)

    tasks = [asyncio.create_task(client(i, port, counts, stop, 0.01, stop_at=after_term)) for i in range(clients)]
    await asyncio.sleep(2.5)
    term()
    sent_term.append(1)
    await asyncio.sleep(3.0)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return counts


def test_term_to_the_whole_process_group_is_a_graceful_stop_too():
    with tcp_server("--graceful-timeout", "20") as server:
        wait_until(lambda: len(children(server.proc.pid)) == 2)

        def term_group():
            os.killpg(server.proc.pid, signal.SIGTERM)  # the master and every worker at once

        counts = asyncio.run(_load_until_term(server.port, 100, term_group))
        server.proc.wait(30)
        assert server.proc.returncode == 0
    assert counts.failed == 0, counts.failures
    assert counts.answered == counts.sent > 500
    assert "stopping now" not in server.log()


def test_a_reload_whose_application_fails_to_import_leaves_the_old_workers(tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "myapp.py").write_text("from apps.lineproto import LineEcho\n")
    pid_file = tmp_path / "sluice.pid"
    with tcp_server("--pid-file", str(pid_file), app="myapp:LineEcho", env=env(app_dir)) as server:
        before = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))
        # Both workers have imported the app: break it only then (a worker
        # forked but not yet serving would import the broken one and fail
        # the boot, not the reload).
        wait_until(lambda: server.log().count(" serving (slot ") == 2)
        (app_dir / "myapp.py").write_text("raise ImportError('broken by the test')\n")
        r = sluice_signal("reload", pid_file)
        assert r.returncode == 1 and "failed" in r.stderr, r
        server.wait_log(r"reload failed: .*broken by the test")
        assert request(server.port) == b"hello\n"
        assert wait_until(lambda: children(server.proc.pid) == before, 10)
        server.stop()


GOOD_APP = "from apps.lineproto import LineEcho\n"


@contextlib.contextmanager
def reloadable_server(app: Path, pid_file: Path):
    """A 2-worker server of app (a module file the test rewrites, holding
    GOOD_APP to start with), once both workers serve."""
    app.parent.mkdir(exist_ok=True)
    app.write_text(GOOD_APP)
    with tcp_server("--pid-file", str(pid_file), app=f"{app.stem}:LineEcho", env=env(app.parent)) as server:
        wait_until(lambda: server.log().count(" serving (slot ") == 2)
        yield server


def test_after_a_failed_reload_a_replaced_worker_does_not_stop_the_server(tmp_path):
    """The code on disk is broken (the reload said so): a worker that dies
    and whose replacement cannot import it leaves the others serving, and
    the replacement is retried with the crash backoff until the code is
    fixed. Before, the master stopped with exit 3: a whole outage."""
    app, pid_file = tmp_path / "app" / "myapp.py", tmp_path / "sluice.pid"
    with reloadable_server(app, pid_file) as server:
        app.write_text("raise ImportError('broken by the test')\n")
        assert sluice_signal("reload", pid_file).returncode == 1
        victim = sorted(children(server.proc.pid))[0]
        os.kill(victim, signal.SIGKILL)
        server.wait_log(r"replacement worker failed to boot: .*broken by the test; the others serve")
        assert server.alive()
        assert request(server.port) == b"hello\n"  # the other old worker
        app.write_text(GOOD_APP)  # fixed: a retry boots
        wait_until(lambda: server.log().count(" serving (slot ") >= 3, 30)
        assert wait_until(lambda: len(children(server.proc.pid)) == 2, 10)
        assert request(server.port) == b"hello\n"
        server.stop()
        assert server.proc.returncode == 0


def test_a_reload_whose_new_worker_is_killed_at_boot_fails_and_the_next_one_works(tmp_path):
    """A new worker that dies by a signal before serving fails the reload at
    once (before, the reload waited for ever and every later HUP was
    ignored as 'already under way')."""
    app, pid_file = tmp_path / "app" / "myapp.py", tmp_path / "sluice.pid"
    with reloadable_server(app, pid_file) as server:
        app.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
        r = sluice_signal("reload", pid_file)
        assert r.returncode == 1 and "failed" in r.stderr, r
        server.wait_log(r"reload failed: a new worker killed by signal 9")
        assert request(server.port) == b"hello\n"
        app.write_text(GOOD_APP)
        r = sluice_signal("reload", pid_file)
        assert r.returncode == 0, r
        assert request(server.port) == b"hello\n"
        server.stop()


# ---- heartbeats -----------------------------------------------------------


def test_a_blocked_handler_is_replaced_with_its_stack_in_the_log_and_others_keep_serving():
    with tcp_server("--timeout", "2") as server:
        first = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))

        async def scenario():
            conns = await spread_connections(server.port, 2, 4)
            owners = sorted({pid for pid, _, _ in conns})
            victim = owners[0]
            blocker = next(w for p, _, w in conns if p == victim)
            blocker.write(b"block\n")
            healthy = [(r, w) for p, r, w in conns if p != victim]
            ok = failed = 0
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline and victim in children(server.proc.pid):
                for k, (r, w) in enumerate(healthy):
                    try:
                        ans = await ask(r, w, f"h{k}".encode(), timeout=5)
                        ok += ans == f"h{k}\n".encode()
                        failed += ans != f"h{k}\n".encode()
                    except (TimeoutError, OSError):
                        failed += 1
                await asyncio.sleep(0.05)
            for _, _, w in conns:
                w.close()
            return victim, ok, failed

        victim, ok, failed = asyncio.run(scenario())
        assert victim not in children(server.proc.pid), "the blocked worker was not killed within 25 s"
        assert failed == 0 and ok > 0
        wait_until(lambda: len(children(server.proc.pid) - first) == 1, what="a replacement worker")
        log = server.stop()
    assert re.search(rf"WORKER TIMEOUT: worker {victim} .*a handler blocked its loop", log), log
    assert "in block_forever" in log  # faulthandler's dump of the blocked worker
    assert "lineproto.py" in log


# ---- scaling, recycling ----------------------------------------------------


def test_ttin_and_ttou_change_the_number_of_workers_never_below_one():
    with tcp_server() as server:
        master = server.proc.pid
        wait_until(lambda: len(children(master)) == 2)
        server.send_signal(signal.SIGTTIN)
        wait_until(lambda: len(children(master)) == 3, what="3 workers after TTIN")
        for _ in range(4):
            server.send_signal(signal.SIGTTOU)
            time.sleep(0.3)
        wait_until(lambda: len(children(master)) == 1, what="1 worker after TTOU x4")
        server.wait_log("never goes below one")
        time.sleep(1.5)
        assert len(children(master)) == 1
        assert request(server.port) == b"hello\n"
        server.stop()


def test_with_reuse_port_ttou_after_a_respawn_leaves_no_socket_without_a_worker():
    """The respawned worker of set 0 is the newest: TTOU must retire the
    worker of the last set (the one that closes), not it, or set 0 stays
    open in the master with no one accepting and its connections hang."""
    with tcp_server("--reuse-port") as server:
        master = server.proc.pid
        wait_until(lambda: server.log().count(" serving (slot ") == 2)
        first = int(re.search(r"spawned worker (\d+)", server.log()).group(1))  # index 0
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: server.log().count(" serving (slot ") == 3)
        server.send_signal(signal.SIGTTOU)
        wait_until(lambda: len(children(master)) == 1, what="1 worker after TTOU")
        time.sleep(0.5)
        for _ in range(16):  # the kernel spreads new connections over every open set
            assert request(server.port) == b"hello\n"
        server.stop()


def test_a_worker_that_served_and_died_young_is_replaced_at_once():
    """The crash backoff is for boot loops: workers killed after they served
    are replaced without waiting (before, a few of them in 5 s left the
    server with no worker for the backoff's delay)."""
    with tcp_server(workers=1) as server:
        master = server.proc.pid
        for k in range(4):

            def serving(k=k):
                return server.log().count(" serving (slot ") == k + 1 and children(master)

            pids = wait_until(serving)
            assert request(server.port) == b"hello\n"
            os.kill(next(iter(pids)), signal.SIGKILL)
            wait_until(lambda pids=pids: not pids & children(master), 10)
        wait_until(lambda: server.log().count(" serving (slot ") == 5, 10)
        assert "in a row died" not in server.log()
        server.stop()


def test_max_requests_recycles_a_worker_without_failing_a_request():
    with tcp_server("--max-requests", "5", workers=1) as server:
        first = wait_until(lambda: children(server.proc.pid))
        for k in range(12):
            assert request(server.port, f"r{k}".encode()) == f"r{k}\n".encode()
            time.sleep(0.15)
        wait_until(lambda: children(server.proc.pid) and not children(server.proc.pid) & first, 15)
        log = server.stop()
    assert "retiring after" in log


# ---- boot failures, logs, `sluice signal` ----------------------------------


def test_an_application_that_fails_to_import_stops_the_master_with_status_3():
    server = tcp_server(app="apps.broken:App", wait_ready=True)
    try:
        server.proc.wait(30)
        server._reader.join(5)
        log = server.log()
    finally:
        server.kill()
    assert server.proc.returncode == 3, log
    assert "this application is broken on purpose" in log
    assert "failed to boot" in log
    assert log.count("spawned worker") == 2  # no respawn loop


def test_preload_with_a_broken_application_fails_before_forking():
    proc = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "tcp", "apps.broken:App", "--bind", "127.0.0.1:0", "--preload"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
    )
    assert proc.returncode == 3
    assert "broken on purpose" in proc.stderr and "spawned" not in proc.stderr


def test_usr1_reopens_the_log_files_in_the_master_and_every_worker(tmp_path):
    error_log = tmp_path / "error.log"
    with tcp_server("--error-log", str(error_log), wait_ready=False) as server:
        pass_ready = wait_until(lambda: error_log.exists() and " on 127.0.0.1:" in error_log.read_text())
        assert pass_ready
        port = int(re.search(r" on 127\.0\.0\.1:(\d+)", error_log.read_text()).group(1))
        workers = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))
        wait_until(lambda: error_log.read_text().count(" serving (slot") == 2)
        error_log.rename(tmp_path / "error.log.1")
        server.send_signal(signal.SIGUSR1)
        wait_until(lambda: error_log.exists() and error_log.read_text().count("reopened its log files") == 2)
        text = error_log.read_text()
        assert f"[{server.proc.pid}]: master: USR1" in text
        for pid in workers:
            assert f"worker {pid} reopened its log files" in text
        assert request(port) == b"hello\n"
        server.stop()
    assert "stopped" in error_log.read_text()


def test_sluice_signal_with_a_missing_or_stale_pid_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "none.pid"
    r = sluice_signal("reload", missing)
    assert r.returncode == 1 and "not found" in r.stderr
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / "stale.pid"
    stale.write_text(f"{dead.pid}\n")
    r = sluice_signal("quit", stale)
    assert r.returncode == 1 and "stale" in r.stderr
    other = subprocess.Popen(["sleep", "30"])
    try:
        stale.write_text(f"{other.pid}\n")
        r = sluice_signal("stop", stale)
        assert r.returncode == 1 and "not a sluice master" in r.stderr
        assert other.poll() is None  # it was not signalled
    finally:
        other.kill()
        other.wait()
    # a process whose command line says sluice (a recycled pid) is no master either
    named = subprocess.Popen(["bash", "-c", "exec -a sluice-lookalike sleep 30"])
    try:
        stale.write_text(f"{named.pid}\n")
        r = sluice_signal("reload", stale)
        assert r.returncode == 1 and "not a sluice master" in r.stderr
        assert named.poll() is None  # it was not signalled (a HUP would have ended it)
    finally:
        named.kill()
        named.wait()
    # a master killed with SIGKILL leaves its scoreboard; a process that got its pid is not it
    from sluice import scoreboard as sb

    recycled = subprocess.Popen(["sleep", "30"])
    left = sb.shm_path(recycled.pid)
    try:
        left.write_bytes(b"")  # the leftover of a master with this pid, started earlier
        with open(left, "r+b") as f:
            f.truncate(8 * (sb.HEADER_WORDS + sb.SLOT_WORDS))
        import mmap

        with open(left, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
            w = memoryview(m).cast("Q")
            w[sb.H_MAGIC], w[sb.H_MASTER], w[sb.H_PROC_START] = sb.MAGIC, recycled.pid, 1  # started at tick 1
            del w
        stale.write_text(f"{recycled.pid}\n")
        r = sluice_signal("reopen", stale)
        assert r.returncode == 1 and "not a sluice master" in r.stderr, r
        assert recycled.poll() is None  # not signalled (a USR1 would have ended it)
    finally:
        left.unlink(missing_ok=True)
        recycled.kill()
        recycled.wait()
    garbage = tmp_path / "garbage.pid"
    garbage.write_text("hello\n")
    r = sluice_signal("reopen", garbage)
    assert r.returncode == 1 and "does not hold a pid" in r.stderr


def test_a_second_master_on_the_same_pid_file_refuses_to_start(tmp_path):
    pid_file = tmp_path / "sluice.pid"
    with tcp_server("--pid-file", str(pid_file)) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "sluice.cli", "tcp", APP, "--bind", "127.0.0.1:0", "--pid-file", str(pid_file)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env(),
        )
        assert proc.returncode == 1 and f"already running as pid {server.proc.pid}" in proc.stderr
        server.stop()


def test_reuse_port_reload_keeps_each_workers_socket_and_fails_no_request(tmp_path):
    pid_file = tmp_path / "sluice.pid"
    with tcp_server("--pid-file", str(pid_file), "--reuse-port") as server:
        before = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))

        def hup():
            server.send_signal(signal.SIGHUP)

        counts = asyncio.run(load(server.port, clients=100, duration=5.0, actions=[(1.5, hup)], pause=0.01))
        server.wait_log("reload done")
        after = wait_until(lambda: len(children(server.proc.pid)) == 2 and children(server.proc.pid))
        assert not before & after
        assert len(counts.pids) >= 3  # old and new workers both answered
        server.stop()
    assert counts.failed == 0, counts.failures
    assert counts.answered == counts.sent > 500


def test_a_worker_that_hangs_while_booting_is_killed_and_named_as_booting(tmp_path):
    """Its signals are blocked until it serves, so no stack can be dumped:
    it is killed at the timeout, and the log says it was booting (not that
    a handler blocked)."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "slowapp.py").write_text("import time\ntime.sleep(60)\nfrom apps.lineproto import LineEcho\n")
    with tcp_server("--timeout", "1", app="slowapp:LineEcho", workers=1, env=env(app_dir)) as server:
        m = server.wait_log(r"WORKER TIMEOUT: .*", timeout=30)
        assert "still booting" in m.group(0) and "a handler blocked" not in m.group(0)
        assert "dumping its stack" not in server.log()
        server.stop()
