"""Start `sluice echo` as a subprocess on a free loopback port, and stop it.

Its log is drained by a thread all along, so a chatty server never blocks
on a full pipe.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading


class EchoServer:
    def __init__(self, *args: str, nofile: int | None = None, log_level: str = "info"):
        def limit():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        cmd = [
            sys.executable,
            "-m",
            "sluice.cli",
            "echo",
            "--bind",
            "127.0.0.1:0",
            "--log-level",
            log_level,
            *args,
        ]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=limit)
        self.lines: list[str] = []
        self._port_found = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._port_found.wait(30):
            self.kill()
            raise RuntimeError("echo server did not start within 30 s:\n" + self.log())

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if not self.port:
                m = re.search(r"echo server on 127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self._port_found.set()
        self._port_found.set()

    def log(self) -> str:
        return "".join(self.lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20) -> str:
        """SIGTERM, wait, and return everything it logged."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reader.join(5)
        return self.log()

    def kill(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(5)

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
