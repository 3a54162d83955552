"""Logging for Sluice through the standard ``logging`` module.

``setup_logging`` sets up the error log (stderr or a file) with a level;
``RateLimiter`` keeps per-connection errors from flooding it: a given key
logs at most ``burst`` lines per ``period`` seconds, then one line saying
how many were suppressed. Library code logs to ``logging.getLogger("sluice")``
and its children.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

logger = logging.getLogger("sluice")

FORMAT = "%(asctime)s [%(levelname)s] %(name)s[%(process)d]: %(message)s"


def setup_logging(level: str | int = "info", error_log: str | None = None) -> logging.Handler:
    """Send sluice's log to stderr (error_log None or "-") or to a file."""
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        if not isinstance(value, int):
            raise ValueError(f"log level: unknown level {level!r} (debug, info, warning, error)")
        level = value
    if error_log in (None, "-", "stderr"):
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.FileHandler(error_log)
    handler.setFormatter(logging.Formatter(FORMAT))
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler


def setup_access_log(path: str | None) -> logging.Handler | None:
    """The access log (sluice.access, one line a response) to a file, or to
    stdout for "-"; None: off."""
    access = logging.getLogger("sluice.access")
    for old in list(access.handlers):
        access.removeHandler(old)
        old.close()
    if path is None:
        access.disabled = True
        return None
    access.disabled = False
    handler: logging.Handler = logging.StreamHandler(sys.stdout) if path == "-" else logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    return handler


def reopen_logs() -> int:
    """Reopen every log file sluice writes (logrotate's contract, on USR1):
    the old name may have been moved away; the new file is created. Returns
    how many files were reopened."""
    n = 0
    for log in (logger, *_children(logger)):
        for handler in log.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.acquire()
                try:
                    new = open(handler.baseFilename, handler.mode, encoding=handler.encoding)  # noqa: SIM115
                    old = handler.setStream(new)
                    if old is not None:
                        old.close()
                finally:
                    handler.release()
                n += 1
    return n


def _children(parent: logging.Logger) -> list[logging.Logger]:
    prefix = parent.name + "."
    return [
        log
        for name, log in logging.Logger.manager.loggerDict.items()
        if name.startswith(prefix) and isinstance(log, logging.Logger)
    ]


def error_stream():
    """The stream of the error log (for faulthandler's stack dumps)."""
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and hasattr(handler.stream, "fileno"):
            return handler.stream
    return sys.stderr


class RateLimiter:
    """Allow ``burst`` events per ``period`` seconds for each key."""

    def __init__(self, burst: int = 10, period: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.burst = burst
        self.period = period
        self.clock = clock
        self._windows: dict[str, list] = {}  # key -> [window start, count, suppressed]

    def allow(self, key: str) -> tuple[bool, int]:
        """(may log now, how many were suppressed before this one)."""
        now = self.clock()
        w = self._windows.get(key)
        if w is None or now - w[0] >= self.period:
            suppressed = w[2] if w else 0
            self._windows[key] = [now, 1, 0]
            if len(self._windows) > 1000:  # forget old keys
                cutoff = now - self.period
                self._windows = {k: v for k, v in self._windows.items() if v[0] >= cutoff}
            return True, suppressed
        if w[1] < self.burst:
            w[1] += 1
            return True, 0
        w[2] += 1
        return False, 0


_limiter = RateLimiter()


def log_limited(key: str, level: int, msg: str, *args, exc_info=None, log: logging.Logger = logger) -> None:
    """Log through the shared rate limiter (per-connection errors)."""
    ok, suppressed = _limiter.allow(key)
    if not ok:
        return
    if suppressed:
        log.log(level, "%d similar messages suppressed (%s)", suppressed, key)
    log.log(level, msg, *args, exc_info=exc_info)
