"""Shared fixtures: a Sluice loop per test, and a bounded way to run it."""

from __future__ import annotations

import resource
import socket
import time

import pytest

import sluice.log
from sluice import Loop


@pytest.fixture(autouse=True)
def _fresh_log_limits():
    """Each test starts with the shared log rate limiter empty: a test that
    looks for a message must not find it suppressed by another test's
    repeats of the same kind (10 a key per 10 s)."""
    sluice.log._limiter._windows.clear()
    yield


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def run_until(loop: Loop, cond, timeout: float = 10.0) -> None:
    """Turn the loop until cond() holds; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        loop.run_once(0.05)


def send_until_stalled(loop: Loop, port: int, chunk: bytes, rounds: int = 20000):
    """A client that sends chunk after chunk and never reads, the loop
    turning between sends: (its socket, the bytes the server took) once
    the server has stopped taking them (200 sends in a row refused), or
    after rounds sends. The caller closes the socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    sent = stalled = 0
    for _ in range(rounds):
        try:
            sent += sock.send(chunk)
            stalled = 0
        except BlockingIOError:
            stalled += 1
            if stalled > 200:
                return sock, sent
        loop.run_once(0.005)
    raise AssertionError(f"the server kept reading: {sent} bytes taken")


def raise_nofile(want: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to want (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):
            if hard < want:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
                except (ValueError, OSError):
                    pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
