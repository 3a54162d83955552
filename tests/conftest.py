"""Shared fixtures: a Sluice loop per test, and a bounded way to run it."""

from __future__ import annotations

import resource
import time

import pytest

from sluice import Loop


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
