"""Logging set-up and the rate limiter for per-connection errors."""

from __future__ import annotations

import logging

import pytest

from sluice.log import RateLimiter, setup_logging


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
