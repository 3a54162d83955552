"""A worker process: its own loop over the listening sockets the master made.

The master forks, then calls ``Worker(...).run()`` in the child, which
returns the exit status. The worker loads the application (unless the
master preloaded it), builds a Loop (never made before the fork), serves,
and reports to its scoreboard slot every heartbeat: a timestamp and its
figures. Signals, handled between loop turns:

  TERM, QUIT  graceful drain: stop accepting, ask each protocol to finish
              (``stop_requested``), exit once no connection is left or after
              graceful_timeout; a second one stops at once only without a
              master (a TERM to the process group comes twice: from the
              sender and from the master, which sends INT to stop at once)
  INT         fast stop
  USR1        reopen the log files (and point faulthandler at the new one)
  USR2        faulthandler dumps every thread's stack to the error log (the
              master sends it to a silent worker before SIGKILL)
  HUP, TTIN, TTOU  ignored (the master's)
"""

from __future__ import annotations

import faulthandler
import importlib
import logging
import os
import random
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

from . import scoreboard as sb

log = logging.getLogger("sluice.worker")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BOOT_ERROR = 3  # the application did not load: the master stops instead of respawning
DUMP_SIGNAL = signal.SIGUSR2
# Blocked across the master's fork until the worker's handlers are in
# (the master unblocks them in itself at once).
WORKER_SIGNALS = {signal.SIGTERM, signal.SIGQUIT, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP}


class AppLoadError(Exception):
    """The application named in the configuration could not be loaded."""


def load_app(spec: str) -> Any:
    """'package.module:attribute' (attribute may be dotted) -> the object."""
    module_name, sep, attr = spec.partition(":")
    if not module_name or (sep and not attr):
        raise AppLoadError(f"app: expected MODULE:ATTRIBUTE, got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as gunicorn: the app is found from where sluice runs
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise AppLoadError(f"app {spec!r}: cannot import {module_name!r}: {detail}") from exc
    for part in attr.split(".") if attr else ():
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"app {spec!r}: {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        hint = "" if sep else " (expected MODULE:ATTRIBUTE)"
        raise AppLoadError(f"app {spec!r}: {type(obj).__name__} is not callable{hint}")
    return obj


_current: Worker | None = None


def current() -> Worker | None:
    """The Worker this process runs (its scoreboard is current().board)."""
    return _current


# A builder makes the worker's servers on its loop: (loop, sockets, app, options) -> servers.
Builder = Callable[[Any, list, Any, dict], list]


class Worker:
    def __init__(
        self,
        *,
        board: sb.Scoreboard,
        slot: int,
        master_pid: int | None,
        sockets: list,
        builder: Builder,
        app: Any = None,
        app_spec: str | None = None,
        options: dict | None = None,
        timeout: float = 30.0,
        graceful_timeout: float = 30.0,
        max_requests: int = 0,
        max_requests_jitter: int = 0,
    ):
        self.board = board
        self.slot = slot
        self.master_pid = master_pid
        self.sockets = sockets
        self.builder = builder
        self.app = app
        self.app_spec = app_spec
        self.options = options or {}
        self.timeout = timeout
        self.graceful_timeout = graceful_timeout
        self.retire_after = 0
        if max_requests > 0:
            self.retire_after = max_requests + random.randint(0, max(0, max_requests_jitter))
        self.loop = None
        self.servers: list = []
        self.draining = False
        self._dump_file = None

    # ---- the process --------------------------------------------------------

    def run(self) -> int:
        global _current
        _current = self
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        self.board.slot_set(self.slot, sb.S_PID, os.getpid())
        self._register_dump()
        if self.app is None and self.app_spec is not None:
            try:
                self.app = load_app(self.app_spec)
            except AppLoadError as exc:
                log.error("worker %d: %s", os.getpid(), exc)
                self.board.set_error(self.slot, str(exc))
                self.board.slot_set(self.slot, sb.S_STATE, sb.FAILED)
                return EXIT_BOOT_ERROR
        from .loop import Loop

        try:
            with Loop() as loop:
                self.loop = loop
                try:
                    self.servers = self.builder(loop, self.sockets, self.app, self.options)
                except Exception as exc:
                    log.exception("worker %d: the application failed to start", os.getpid())
                    self.board.set_error(self.slot, f"the application failed to start: {exc!r}")
                    self.board.slot_set(self.slot, sb.S_STATE, sb.FAILED)
                    return EXIT_BOOT_ERROR
                for sig in (signal.SIGTERM, signal.SIGQUIT):
                    loop.add_signal_handler(sig, self.drain)
                loop.add_signal_handler(signal.SIGINT, self.stop_now)
                loop.add_signal_handler(signal.SIGUSR1, self.reopen_logs)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)  # blocked since the fork
                period = max(0.05, min(1.0, self.timeout / 4))
                if self.retire_after:  # the count is looked at each beat: often, so the recycle comes near N
                    period = min(period, 0.1)
                loop.call_every(period, self.heartbeat)
                self.heartbeat()
                self.board.slot_set(self.slot, sb.S_STATE, sb.SERVING)
                log.info("worker %d serving (slot %d)", os.getpid(), self.slot)
                loop.run()
                self.heartbeat()
                for server in self.servers:
                    server.close()
                stats = loop.stats()
                log.info(
                    "worker %d stopping: %d connections served, %d closed idle, %d accept errors (EMFILE and the like)",
                    os.getpid(),
                    stats["accepted"],
                    stats["closed"]["idle"],
                    stats["accept_errors"],
                )
        except Exception:
            log.exception("worker %d failed", os.getpid())
            return EXIT_ERROR
        log.info("worker %d exiting", os.getpid())
        return EXIT_OK

    # ---- heartbeat and figures ----------------------------------------------

    def requests(self) -> int:
        return sum(getattr(s, "requests", s.accepted) for s in self.servers)

    def heartbeat(self) -> None:
        from .stats import pool_stats

        board, slot = self.board, self.slot
        board.slot_set(slot, sb.S_HEARTBEAT, sb.monotonic_ms())
        stats = self.loop.stats() if self.loop is not None else None
        if stats is not None:
            requests = self.requests()
            board.slot_set(slot, sb.S_CONNS, stats["conns_open"])
            board.slot_set(slot, sb.S_ACCEPTED, stats["accepted"])
            board.slot_set(slot, sb.S_REQUESTS, requests)
            board.slot_set(slot, sb.S_BYTES_IN, stats["bytes_in"])
            board.slot_set(slot, sb.S_BYTES_OUT, stats["bytes_out"])
            for i, cls in enumerate(pool_stats()["classes"][: sb.N_CLASSES]):
                board.slot_set(slot, sb.S_POOL + i, cls["in_use"])
            for i, n in enumerate(stats["closed_by_code"][: sb.N_REASONS]):
                board.slot_set(slot, sb.S_CLOSED + i, n)
            classes = [0] * 5
            for server in self.servers:
                for i, n in enumerate(getattr(server, "status_classes", ())):
                    classes[i] += n
            for i, n in enumerate(classes):
                board.slot_set(slot, sb.S_STATUS + i, n)
            if self.retire_after and requests >= self.retire_after and not self.draining:
                log.info("worker %d retiring after %d requests (max-requests)", os.getpid(), requests)
                self.drain()
        if self.master_pid is not None and os.getppid() != self.master_pid and not self.draining:
            log.warning("worker %d: the master (pid %d) is gone; stopping", os.getpid(), self.master_pid)
            self.drain()

    # ---- stopping -----------------------------------------------------------

    def drain(self) -> None:
        if self.draining:
            if self.master_pid is None:  # alone: a second TERM/QUIT means now
                log.info("worker %d: second stop signal during the drain; stopping now", os.getpid())
                self.stop_now()
            # under a master, a TERM sent to the whole group reaches us twice
            # (directly and from the master): the master decides "now" (INT)
            return
        self.draining = True
        self.board.slot_set(self.slot, sb.S_STATE, sb.DRAINING)
        open_now = sum(len(s.transports) for s in self.servers)
        log.info("worker %d draining: %d connections open", os.getpid(), open_now)
        for server in self.servers:
            server.stop_accepting()
            server.request_stop()
        self.loop.call_later(self.graceful_timeout, self._drain_timeout)
        self.loop.call_every(0.05, self._drained)
        self._drained()

    def _drained(self) -> None:
        if all(not s.transports for s in self.servers):
            self.loop.stop()

    def _drain_timeout(self) -> None:
        left = sum(len(s.transports) for s in self.servers)
        log.warning(
            "worker %d: graceful timeout (%g s): closing %d connections",
            os.getpid(),
            self.graceful_timeout,
            left,
        )
        self.stop_now()

    def stop_now(self) -> None:
        for server in self.servers:
            server.close()
            server.close_clients(abort=True)
        self.loop.stop()

    # ---- logs ---------------------------------------------------------------

    def reopen_logs(self) -> None:
        from .log import reopen_logs

        reopen_logs()
        self._register_dump()
        log.info("worker %d reopened its log files", os.getpid())

    def _register_dump(self) -> None:
        """faulthandler writes the stacks to the error log's file on USR2."""
        from .log import error_stream

        stream = error_stream()
        try:
            faulthandler.register(DUMP_SIGNAL, file=stream, all_threads=True)
        except (ValueError, OSError, AttributeError):  # a stream without a file descriptor
            faulthandler.register(DUMP_SIGNAL, file=sys.__stderr__, all_threads=True)
        self._dump_file = stream  # faulthandler keeps the fd, not the object
