"""Logging set-up and the rate limiter for per-connection errors."""

from __future__ import annotations

import logging

import pytest

from sluice.log import RateLimiter, setup_logging


@pytest.fixture(autouse=True)
def sluice_logger_restored():
    """setup_logging reconfigures the "sluice" logger (its handler, level,
    propagate=False): put it back, so later tests' caplog still sees it."""
    log = logging.getLogger("sluice")
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    for h in list(log.handlers):
        log.removeHandler(h)
        if h not in saved[0]:
            h.close()
    for h in saved[0]:
        log.addHandler(h)
    log.setLevel(saved[1])
    log.propagate = saved[2]


def test_rate_limiter_allows_a_burst_then_counts_what_it_suppressed():
    now = [0.0]
    rl = RateLimiter(burst=3, period=10, clock=lambda: now[0])
    assert [rl.allow("k")[0] for _ in range(5)] == [True, True, True, False, False]
    assert rl.allow("other") == (True, 0)  # keys are separate
    now[0] = 10.0
    assert rl.allow("k") == (True, 2)  # a new window says how many were dropped
    assert rl.allow("k") == (True, 0)


def test_setup_logging_to_a_file_with_a_level(tmp_path):
    path = tmp_path / "error.log"
    handler = setup_logging("warning", str(path))
    log = logging.getLogger("sluice.test")
    log.info("not this")
    log.warning("this one")
    handler.flush()
    text = path.read_text()
    assert "this one" in text and "not this" not in text
    setup_logging("info")  # back to stderr


def test_setup_logging_names_a_bad_level():
    with pytest.raises(ValueError, match="log level"):
        setup_logging("loud")
