"""Start a `sluice` serving command as a subprocess on a free loopback port,
and stop it with everything it forked.

The server runs in its own session (process group), so cleanup reaches the
master's workers too. Its log is drained by a thread all along, so a chatty
server never blocks on a full pipe.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def children(pid: int) -> set[int]:
    """The pids of a process's children (a master's workers)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def wait_until(cond, timeout: float = 30.0, what: str = "condition"):
    """cond()'s first true value, polled for up to timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s")


class ServerProcess:
    """`python -m sluice.cli COMMAND --bind 127.0.0.1:0 ARGS...`; ready
    once the line "<what> on 127.0.0.1:PORT" is logged."""

    def __init__(
        self,
        command: list[str],
        *args: str,
        nofile: int | None = None,
        log_level: str = "info",
        bind: bool = True,
        env: dict | None = None,
        cwd: str | None = None,
        wait_ready: bool = True,
    ):
        def limit():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        cmd = [sys.executable, "-m", "sluice.cli", *command]
        if bind:
            cmd += ["--bind", "127.0.0.1:0"]
        cmd += ["--log-level", log_level, *args]
        self.proc = subprocess.Popen(
            cmd,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            preexec_fn=limit,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if wait_ready and not self._ready.wait(30):
            self.kill()
            raise RuntimeError(f"{command[0]} did not start within 30 s:\n" + self.log())

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if not self.port:
                m = re.search(r" on 127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self._ready.set()
        self._ready.set()

    def log(self) -> str:
        return "".join(self.lines)

    def wait_log(self, pattern: str, timeout: float = 30, after: int = 0) -> re.Match:
        """Wait until a line (from the after-th on) matches pattern."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                m = rx.search(line)
                if m:
                    return m
            if not self.alive() and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout} s:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 30, sig: int = signal.SIGTERM) -> str:
        """Signal the master, wait, and return everything it logged."""
        self.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reader.join(5)
        self._kill_group()
        return self.log()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        self._kill_group()
        self.proc.wait()
        self._reader.join(5)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


class EchoServer(ServerProcess):
    """`sluice echo` (one worker under a master unless args say otherwise)."""

    def __init__(self, *args: str, **kw):
        if "--workers" not in args:
            args = ("--workers", "1", *args)
        super().__init__(["echo"], *args, **kw)
