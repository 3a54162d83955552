"""Run the same protocol tests on Sluice's loop and on asyncio's.

A backend starts a server for a protocol factory on 127.0.0.1 and turns its
loop until a condition holds; clients are plain blocking sockets in a thread.
"""

from __future__ import annotations

import asyncio
import threading
import time

from sluice import Loop


class SluiceBackend:
    name = "sluice"

    def __init__(self):
        self.loop = Loop()
        self.servers = []

    def start_server(self, factory, **kw) -> int:
        server = self.loop.create_server(factory, "127.0.0.1", 0, **kw)
        self.servers.append(server)
        return server.port

    def turn(self):
        self.loop.run_once(0.01)

    def close(self):
        for s in self.servers:
            s.close()
        self.loop.close()


class AsyncioBackend:
    name = "asyncio"

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.servers = []

    def start_server(self, factory, **kw) -> int:
        server = self.loop.run_until_complete(self.loop.create_server(factory, "127.0.0.1", 0))
        self.servers.append(server)
        return server.sockets[0].getsockname()[1]

    def turn(self):
        self.loop.run_until_complete(asyncio.sleep(0.01))

    def close(self):
        for s in self.servers:
            s.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()


BACKENDS = {"sluice": SluiceBackend, "asyncio": AsyncioBackend}


def run_until(backend, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s on {backend.name}")
        backend.turn()


def in_thread(backend, fn, timeout: float = 20.0):
    """Run fn() in a thread while the backend's loop turns; return its result."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    run_until(backend, lambda: not t.is_alive(), timeout)
    if "error" in result:
        raise result["error"]
    return result.get("value")
