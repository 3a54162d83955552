"""The master: makes the listening sockets, forks the workers, supervises.

The master never builds a Sluice loop or pool and never touches client
traffic. Its loop is plain: signal handlers only queue the signal and wake
a select(); one loop reads the queue, reaps children, kills the silent ones
and keeps the count.

  TERM, QUIT  graceful stop: every worker drains (graceful_timeout), then exit
  INT         fast stop; a second TERM/QUIT/INT during a drain is one too
  HUP         reload: re-read the configuration, start new workers (which
              import the application afresh unless preload), and once they
              serve, drain the old ones. A configuration or application that
              fails to load leaves the old workers running.
  USR1        reopen the log files, here and in every worker
  TTIN, TTOU  one worker more, one fewer (never below one)
  CHLD        reap; respawn at once, with exponential backoff only while
              workers keep dying soon after they start. A worker that cannot
              load the application stops the master (exit status 3) instead of
              a crash loop, except during a reload.

Heartbeats: each worker stamps its scoreboard slot every min(1 s, timeout/4);
one silent for ``timeout`` seconds gets USR2 (faulthandler dumps its stack to
the error log), then SIGKILL a second later, and is respawned.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import select
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import scoreboard as sb
from .worker import DUMP_SIGNAL, EXIT_BOOT_ERROR, WORKER_SIGNALS, AppLoadError, Worker, load_app

log = logging.getLogger("sluice.arbiter")

MIN_UPTIME = 5.0  # a worker that dies sooner counts towards the respawn backoff
MAX_BACKOFF = 30.0
RELOAD_TIMEOUT_MIN = 30.0  # a reload's new workers must all serve within max(this, --timeout) seconds
KILL_AFTER_DUMP = 1.0  # seconds between the stack dump and SIGKILL
FAST_STOP_GRACE = 5.0  # INT: seconds before SIGKILL


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class Config:
    """What the master needs; every field is a CLI flag (and later a key)."""

    binds: list[str] = field(default_factory=lambda: ["127.0.0.1:7000"])
    app: str | None = None  # "module:attribute", loaded in each worker
    workers: int = field(default_factory=default_workers)
    timeout: float = 30.0
    graceful_timeout: float = 30.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    reuse_port: bool = False
    backlog: int = 1024
    preload: bool = False
    pid_file: str | None = None
    error_log: str | None = None
    log_level: str = "info"
    options: dict = field(default_factory=dict)  # passed to the builder

    def check(self) -> Config:
        if self.workers < 1:
            raise ValueError("workers: must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout: must be a positive number of seconds")
        if self.graceful_timeout < 0:
            raise ValueError("graceful_timeout: must be 0 or more seconds")
        if self.max_requests < 0 or self.max_requests_jitter < 0:
            raise ValueError("max_requests, max_requests_jitter: must be 0 or more")
        if not self.binds:
            raise ValueError("bind: at least one address is needed")
        for bind in self.binds:
            parse_bind(bind)
        return self


def parse_bind(bind: str) -> tuple[str, int]:
    """'HOST:PORT', '[V6]:PORT' or ':PORT' -> (host, port)."""
    host, sep, port = bind.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):  # "²".isdigit(), but int() refuses it
        raise ValueError(f"bind: expected HOST:PORT, got {bind!r}")
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"bind: port {port} of {bind!r} is out of range 0-65535")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def listen(bind: str, backlog: int, reuse_port: bool) -> list[socket.socket]:
    """Listening sockets for one bind (one per address it resolves to)."""
    from .tcp import listen_sockets

    host, port = parse_bind(bind)
    return listen_sockets(host, port, backlog, reuse_port)


def sockname(s: socket.socket) -> str:
    host, port = s.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class WorkerRecord:
    pid: int
    slot: int
    generation: int
    index: int  # the socket set it serves (reuse_port), else 0
    started: float
    term_sent: float = 0.0  # when we asked it to drain
    int_sent: float = 0.0
    dump_sent: float = 0.0
    killed: bool = False


class ArbiterError(Exception):
    """The master could not start (the message says why; code: exit status)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class Arbiter:
    """load_config() returns a checked Config (called at start and on HUP);
    builder(loop, sockets, app, options) makes a worker's servers; on_listening(names)
    is called once the sockets listen (the CLI prints the addresses)."""

    def __init__(
        self,
        load_config: Callable[[], Config],
        builder: Callable[[Any, list, Any, dict], list],
        *,
        on_listening: Callable[[list[str]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.load_config = load_config
        self.builder = builder
        self.on_listening = on_listening
        self.clock = clock
        self.cfg: Config | None = None
        self.workers: dict[int, WorkerRecord] = {}
        self.sockets: dict[str, list[list[socket.socket]]] = {}  # bind -> per index -> sockets
        self.generation = 0
        self.target = 1
        self.app: Any = None
        self.board: sb.Scoreboard | None = None
        self.stopping: str | None = None  # None, "graceful", "fast"
        self.stop_deadline = 0.0
        self.exit_code = 0
        self.reloading: int | None = None  # the old generation while a reload is under way
        self._cfg_before: Config | None = None  # the configuration the old generation runs, during a reload
        self._reload_started = 0.0
        self.failures = 0  # workers that died young, in a row
        self.spawn_after = 0.0
        self._signals: deque[int] = deque()
        self._pipe: tuple[int, int] | None = None
        self._pid_written = False

    # ---- start --------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; returns the exit status."""
        try:
            self.cfg = self.load_config().check()
        except Exception as exc:
            raise ArbiterError(f"configuration: {exc}") from exc
        self.target = self.cfg.workers
        self._check_pid_file()
        self._open_sockets(self.cfg)
        if self.cfg.preload and self.cfg.app:
            try:
                self.app = load_app(self.cfg.app)
            except AppLoadError as exc:
                self._close_sockets()
                raise ArbiterError(str(exc), EXIT_BOOT_ERROR) from exc
        self.board = sb.Scoreboard.create(max(64, 4 * self.target + 4))
        self.board.set(sb.H_TARGET, self.target)
        try:
            self._write_pid_file()
            self._install_signals()  # before anyone can know the address: a HUP sent at once is a reload
            if self.on_listening is not None:
                self.on_listening([sockname(s) for sets in self.sockets.values() for s in sets[0]])
            log.info(
                "master %d: %d workers, timeout %g s, graceful timeout %g s",
                os.getpid(),
                self.target,
                self.cfg.timeout,
                self.cfg.graceful_timeout,
            )
            self._main_loop()
        finally:
            self._teardown()
        return self.exit_code

    def _main_loop(self) -> None:
        while True:
            self._handle_signals()
            self._reap()
            if self.stopping and not self.workers:
                break
            self._murder_silent()
            self._manage()
            self._wait(0.1 if self._busy() else 1.0)

    def _busy(self) -> bool:
        if self.stopping or self.reloading is not None or self.spawn_after:
            return True
        return any(self.board.slot_get(w.slot, sb.S_STATE) != sb.SERVING or w.term_sent for w in self.workers.values())

    # ---- signals ------------------------------------------------------------

    def _install_signals(self) -> None:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pipe = (r, w)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in (
            signal.SIGTERM,
            signal.SIGQUIT,
            signal.SIGINT,
            signal.SIGHUP,
            signal.SIGUSR1,
            signal.SIGUSR2,
            signal.SIGTTIN,
            signal.SIGTTOU,
            signal.SIGCHLD,
        ):
            signal.signal(sig, self._queue_signal)

    def _queue_signal(self, sig: int, frame: Any) -> None:
        self._signals.append(sig)  # the wakeup fd has already woken select()

    def _wait(self, timeout: float) -> None:
        if self._signals:
            return
        try:
            select.select([self._pipe[0]], [], [], timeout)
        except InterruptedError:
            pass
        try:
            while os.read(self._pipe[0], 4096):
                pass
        except BlockingIOError:
            pass

    def _handle_signals(self) -> None:
        while self._signals:
            sig = self._signals.popleft()
            if sig == signal.SIGCHLD:
                continue  # _reap runs next
            name = signal.Signals(sig).name
            if sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
                if self.stopping:
                    if self.stopping != "fast":
                        log.info("master: %s during the drain: stopping now", name)
                        self._stop("fast")
                else:
                    log.info("master: %s: %s stop", name, "fast" if sig == signal.SIGINT else "graceful")
                    self._stop("fast" if sig == signal.SIGINT else "graceful")
            elif self.stopping:
                log.info("master: %s ignored while stopping", name)
            elif sig == signal.SIGHUP:
                self.reload()
            elif sig == signal.SIGUSR1:
                self.reopen_logs()
            elif sig == signal.SIGTTIN:
                self.scale(self.target + 1)
            elif sig == signal.SIGTTOU:
                self.scale(self.target - 1)
            else:
                log.info("master: %s ignored", name)

    # ---- operations ---------------------------------------------------------

    def _stop(self, how: str) -> None:
        self.stopping = how
        self._close_sockets()  # the kernel's socket closes once the workers drop theirs
        now = self.clock()
        if how == "graceful":
            self.stop_deadline = now + self.cfg.graceful_timeout + 5.0
            for w in self.workers.values():
                self._term(w)
        else:
            self.stop_deadline = now + FAST_STOP_GRACE
            for w in self.workers.values():
                if not w.int_sent:
                    w.int_sent = now
                    self._kill(w.pid, signal.SIGINT)

    def reload(self) -> None:
        if self.reloading is not None:
            log.warning("master: HUP: a reload is already under way; ignored")
            return
        self.board.bump(sb.H_RELOADS_ASKED)
        try:
            cfg = self.load_config().check()
        except Exception as exc:
            log.error("master: reload: the configuration failed to load (%s); the old workers keep running", exc)
            self.board.bump(sb.H_RELOADS_FAILED)
            return
        try:
            self._open_sockets(cfg)
        except OSError as exc:
            log.error("master: reload: cannot listen (%s); the old workers keep running", exc)
            self.board.bump(sb.H_RELOADS_FAILED)
            return
        self._apply_logging(cfg)
        self._cfg_before = self.cfg
        self._reload_started = self.clock()
        self.cfg = cfg
        self.target = cfg.workers
        self.board.set(sb.H_TARGET, self.target)
        self.reloading = self.generation
        self.generation += 1
        self.board.set(sb.H_GENERATION, self.generation)
        self.failures = 0
        self.spawn_after = 0.0
        log.info("master: HUP: reloading: starting %d new workers (generation %d)", self.target, self.generation)

    def _reload_progress(self) -> None:
        new = [w for w in self.workers.values() if w.generation == self.generation and not w.term_sent]
        limit = max(RELOAD_TIMEOUT_MIN, self.cfg.timeout)
        if self.clock() - self._reload_started > limit:
            self._reload_failed(f"the new workers did not all serve within {limit:g} s")
            return
        if len(new) < self.target:
            return
        if any(self.board.slot_get(w.slot, sb.S_STATE) != sb.SERVING for w in new):
            return
        old = [w for w in self.workers.values() if w.generation != self.generation]
        for w in old:
            self._term(w)
        self.reloading = None
        self.board.bump(sb.H_RELOADS_DONE)
        log.info("master: reload done: %d new workers serve; draining %d old ones", len(new), len(old))
        self._close_unused_sockets()

    def _reload_failed(self, why: str) -> None:
        log.error("master: reload failed: %s; the old workers keep running", why)
        for w in self.workers.values():
            if w.generation == self.generation:
                self._term(w)
        self.generation = self.reloading
        self.board.set(sb.H_GENERATION, self.generation)
        self.reloading = None
        if self._cfg_before is not None:  # the old workers' configuration is the one in force again
            self.cfg, self._cfg_before = self._cfg_before, None
        self.target = sum(1 for w in self.workers.values() if w.generation == self.generation and not w.term_sent)
        self.target = max(1, self.target)
        self.board.bump(sb.H_RELOADS_FAILED)

    def reopen_logs(self) -> None:
        from .log import reopen_logs

        n = reopen_logs()
        log.info("master: USR1: reopened %d log files; telling the workers", n)
        for w in self.workers.values():
            self._kill(w.pid, signal.SIGUSR1)

    def scale(self, n: int) -> None:
        limit = (self.board.slots - 2) // 2
        if n < 1:
            log.info("master: TTOU: already at one worker; the master never goes below one")
            return
        if n > limit:
            log.warning("master: TTIN: at most %d workers (the scoreboard's size); staying at %d", limit, self.target)
            return
        log.info("master: workers %d -> %d", self.target, n)
        self.target = n
        self.board.set(sb.H_TARGET, n)

    # ---- children -----------------------------------------------------------

    def _active(self) -> list[WorkerRecord]:
        """The current generation's workers that are not on their way out."""
        return [
            w
            for w in self.workers.values()
            if w.generation == self.generation
            and not w.term_sent
            and not w.killed
            and self.board.slot_get(w.slot, sb.S_STATE) not in (sb.DRAINING, sb.FAILED)
        ]

    def _manage(self) -> None:
        if self.stopping:
            if self.clock() > self.stop_deadline:
                for w in self.workers.values():
                    if not w.killed:
                        log.warning("master: worker %d still running at the stop deadline: SIGKILL", w.pid)
                        w.killed = True
                        self._kill(w.pid, signal.SIGKILL)
            return
        if self.reloading is not None:
            self._reload_progress()
        active = self._active()
        if len(active) > self.target:
            # the highest socket set first (with --reuse-port a set must not be left without a worker
            # accepting on it: the trailing ones are the sets that close), the newest among equals
            for w in sorted(active, key=lambda w: (w.index, w.started))[self.target :]:
                log.info("master: retiring worker %d (slot %d)", w.pid, w.slot)
                self._term(w)
        now = self.clock()
        while len(active) < self.target:
            if self.spawn_after and now < self.spawn_after:
                return
            self.spawn_after = 0.0
            rec = self._spawn(self._free_index(active))
            if rec is None:
                return
            active.append(rec)
        if self.reloading is None:
            self._close_unused_sockets()

    def _free_index(self, active: list[WorkerRecord]) -> int:
        if not self.cfg.reuse_port:
            return 0
        used = {w.index for w in active}
        return next(i for i in range(len(active) + 1) if i not in used)

    def _spawn(self, index: int) -> WorkerRecord | None:
        slot = self.board.free_slot()
        if slot is None:
            log.error("master: no free scoreboard slot; not spawning")
            return None
        sockets = self._sockets_for(index)
        self.board.claim(slot, self.generation)
        cfg = self.cfg
        # Signals wait until the child has its own handlers: a TERM in
        # between would find the master's handler, or none, and be lost or fatal.
        signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)
        if pid == 0:  # the child: never returns
            status = 1
            try:
                self._in_child(sockets)
                status = Worker(
                    board=self.board,
                    slot=slot,
                    master_pid=os.getppid(),
                    sockets=sockets,
                    builder=self.builder,
                    app=self.app,
                    app_spec=None if self.app is not None else cfg.app,
                    options=cfg.options,
                    timeout=cfg.timeout,
                    graceful_timeout=cfg.graceful_timeout,
                    max_requests=cfg.max_requests,
                    max_requests_jitter=cfg.max_requests_jitter,
                ).run()
            except BaseException:
                log.exception("worker %d: unexpected failure", os.getpid())
            finally:
                logging.shutdown()
                os._exit(status)
        self.board.slot_set(slot, sb.S_PID, pid)
        rec = WorkerRecord(pid, slot, self.generation, index, self.clock())
        self.workers[pid] = rec
        log.info("master: spawned worker %d (slot %d, generation %d)", pid, slot, self.generation)
        return rec

    def _in_child(self, keep: list[socket.socket]) -> None:
        """Undo the master's set-up in a fresh child: signals, its pipe, and
        the listening sockets this worker does not serve."""
        for sets in self.sockets.values():
            for ss in sets:
                for s in ss:
                    if s not in keep:
                        s.close()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.close(self._pipe[0])
        os.close(self._pipe[1])

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            w = self.workers.pop(pid, None)
            if w is None:
                continue
            self._exited(w, status)

    def _exited(self, w: WorkerRecord, status: int) -> None:
        lived = self.clock() - w.started
        state = self.board.slot_get(w.slot, sb.S_STATE)
        error = self.board.error(w.slot)
        self.board.release(w.slot)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            how = f"killed by signal {sig} ({signal.Signals(sig).name})"
            code = -sig
        else:
            code = os.waitstatus_to_exitcode(status)
            how = f"exited with status {code}"
        planned = w.term_sent or w.int_sent or state == sb.DRAINING or self.stopping
        level = logging.INFO if planned and code == 0 else logging.WARNING
        log.log(level, "master: worker %d (slot %d) %s after %.1f s", w.pid, w.slot, how, lived)
        if self.stopping:
            return
        self.board.bump(sb.H_RESTARTS)
        never_served = state not in (sb.SERVING, sb.DRAINING)
        if self.reloading is not None and w.generation == self.generation and never_served:
            # a new worker that died before serving (a boot error, a signal, a hang killed): the
            # reload fails at once, and the old workers go on (they are replaced as usual meanwhile)
            self._reload_failed(error or f"a new worker {how} before serving")
            return
        if code == EXIT_BOOT_ERROR or state == sb.FAILED:
            why = error or "the worker failed to boot"
            if w.generation != self.generation:
                return  # the rest of a reload that already failed
            if any(self.board.slot_get(o.slot, sb.S_STATE) == sb.SERVING for o in self._active()):
                # Others serve (the application's files changed on disk since they started, say):
                # keep them, and retry the replacement with the crash backoff, not stop everything.
                self.failures += 1
                delay = self._back_off(self.failures + 1)  # waits from the first failure on
                log.error(
                    "master: a replacement worker failed to boot: %s; the others serve; retry in %.2f s", why, delay
                )
                return
            log.error("master: a worker failed to boot: %s; stopping (no respawn loop)", why)
            self.exit_code = EXIT_BOOT_ERROR
            self._stop("graceful")
            return
        if planned and code == 0:
            return  # a drain we (or max-requests) asked for; _manage tops up
        if lived < MIN_UPTIME and never_served:  # a boot loop; one that served is replaced at once
            self.failures += 1
            if self.failures > 1:
                delay = self._back_off(self.failures)
                log.warning(
                    "master: %d workers in a row died within %g s of starting; next spawn in %.2f s",
                    self.failures,
                    MIN_UPTIME,
                    delay,
                )
        else:
            self.failures = 0

    def _back_off(self, failures: int) -> float:
        """The next spawn waits 0.25 s after the second failure in a row,
        doubling up to MAX_BACKOFF; returns the wait."""
        delay = min(MAX_BACKOFF, 0.25 * 2 ** (failures - 2))
        self.spawn_after = self.clock() + delay
        return delay

    def _murder_silent(self) -> None:
        now_ms = sb.monotonic_ms()
        now = self.clock()
        timeout_ms = self.cfg.timeout * 1000
        for w in self.workers.values():
            if w.killed:
                continue
            if w.term_sent and now - w.term_sent > self.cfg.graceful_timeout + 5.0:
                log.warning("master: worker %d still draining after the graceful timeout: SIGKILL", w.pid)
                w.killed = True
                self._kill(w.pid, signal.SIGKILL)
                continue
            silent_ms = now_ms - self.board.slot_get(w.slot, sb.S_HEARTBEAT)
            if silent_ms <= timeout_ms:
                continue
            booting = self.board.slot_get(w.slot, sb.S_STATE) == sb.BOOTING
            if not w.dump_sent and booting:
                # its signals stay blocked until it serves: no stack can come; kill it now
                w.dump_sent = now - KILL_AFTER_DUMP
            if not w.dump_sent:
                w.dump_sent = now
                log.warning(
                    "master: worker %d (slot %d) silent for %.1f s (timeout %g s): dumping its stack",
                    w.pid,
                    w.slot,
                    silent_ms / 1000,
                    self.cfg.timeout,
                )
                self._kill(w.pid, DUMP_SIGNAL)
            elif now - w.dump_sent >= KILL_AFTER_DUMP:
                w.killed = True
                self.board.bump(sb.H_TIMEOUTS)
                why = (
                    "it is still booting (importing or building the application took too long)"
                    if booting
                    else "a handler blocked its loop (its Python stack is in the error log above)"
                )
                log.error(
                    "master: WORKER TIMEOUT: worker %d (slot %d) sent no heartbeat for %.1f s (timeout %g s): "
                    "%s; killed with SIGKILL",
                    w.pid,
                    w.slot,
                    silent_ms / 1000,
                    self.cfg.timeout,
                    why,
                )
                self._kill(w.pid, signal.SIGKILL)

    def _term(self, w: WorkerRecord) -> None:
        if not w.term_sent:
            w.term_sent = self.clock()
            self._kill(w.pid, signal.SIGTERM)

    @staticmethod
    def _kill(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    # ---- sockets ------------------------------------------------------------

    def _open_sockets(self, cfg: Config) -> None:
        """Listen on every bind of cfg not yet open (reuse_port: one set of
        sockets per worker index, all on the first set's port). Nothing is
        closed here; see _close_unused_sockets."""
        made: list[socket.socket] = []
        try:
            for bind in cfg.binds:
                sets = self.sockets.get(bind)
                if sets is None:
                    first = listen(bind, cfg.backlog, cfg.reuse_port)
                    made.extend(first)
                    self.sockets[bind] = sets = [first]
                while cfg.reuse_port and len(sets) < cfg.workers:
                    more = self._another_set(sets[0], cfg.backlog)
                    made.extend(more)
                    sets.append(more)
        except OSError:
            for s in made:
                s.close()
            for bind in list(self.sockets):
                self.sockets[bind] = [ss for ss in self.sockets[bind] if not set(ss) & set(made)]
                if not self.sockets[bind]:
                    del self.sockets[bind]
            raise

    @staticmethod
    def _another_set(first: list[socket.socket], backlog: int) -> list[socket.socket]:
        return [s for b in (sockname(x) for x in first) for s in listen(b, backlog, True)]

    def _sockets_for(self, index: int) -> list[socket.socket]:
        out = []
        for bind, sets in self.sockets.items():
            if bind not in self.cfg.binds:  # dropped by a reload: the old workers keep it until they go
                continue
            while index >= len(sets):  # TTIN with reuse_port: another set
                sets.append(self._another_set(sets[0], self.cfg.backlog))
            out.extend(sets[index])
        return out

    def _close_unused_sockets(self) -> None:
        live = {w.index for w in self.workers.values()}
        for bind in list(self.sockets):
            sets = self.sockets[bind]
            if bind not in self.cfg.binds:
                if not self.workers or all(w.generation == self.generation for w in self.workers.values()):
                    for ss in sets:
                        for s in ss:
                            s.close()
                    del self.sockets[bind]
                continue
            while len(sets) > max(1, self.target) and (len(sets) - 1) not in live:
                for s in sets.pop():
                    s.close()

    def _close_sockets(self) -> None:
        for sets in self.sockets.values():
            for ss in sets:
                for s in ss:
                    s.close()
        self.sockets.clear()

    # ---- pid file, logging, teardown ----------------------------------------

    def _check_pid_file(self) -> None:
        from .control import ControlError, read_pid_file

        if not self.cfg.pid_file:
            return
        try:
            pid = read_pid_file(self.cfg.pid_file)
        except ControlError:
            return  # missing or stale: ours to overwrite
        raise ArbiterError(f"pid file {self.cfg.pid_file}: sluice is already running as pid {pid}")

    def _write_pid_file(self) -> None:
        path = self.cfg.pid_file
        if not path:
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(tmp, path)
        except OSError as exc:  # not an address problem: say what it is
            raise ArbiterError(f"--pid-file {path}: cannot write it: {exc.strerror or exc}") from None
        self._pid_written = True

    def _apply_logging(self, cfg: Config) -> None:
        if (cfg.error_log, cfg.log_level) != (self.cfg.error_log, self.cfg.log_level):
            from .log import setup_logging

            setup_logging(cfg.log_level, cfg.error_log)

    def _teardown(self) -> None:
        for w in list(self.workers.values()):
            self._kill(w.pid, signal.SIGKILL)
        for pid in list(self.workers):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.workers.clear()
        self._close_sockets()
        if self._pipe is not None:
            signal.set_wakeup_fd(-1)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
        if self._pid_written:
            try:
                with open(self.cfg.pid_file) as f:
                    ours = f.read().strip() == str(os.getpid())
                if ours:
                    os.unlink(self.cfg.pid_file)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    log.warning("master: cannot remove the pid file %s: %s", self.cfg.pid_file, exc)
        if self.board is not None:
            self.board.close(unlink=True)
            self.board = None
        log.info("master %d: stopped", os.getpid())


def replace(cfg: Config, **changes: Any) -> Config:
    return dataclasses.replace(cfg, **changes)
