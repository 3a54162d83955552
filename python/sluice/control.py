"""``sluice signal``: find the master through its pid file and signal it.

The actions and signals follow nginx's ``-s``: stop is INT (fast), quit is
QUIT (graceful); reload (HUP) waits until the new workers serve.
"""

from __future__ import annotations

import os
import signal
import time

from . import scoreboard as sb

ACTIONS = {
    "reload": signal.SIGHUP,
    "stop": signal.SIGINT,
    "quit": signal.SIGQUIT,
    "reopen": signal.SIGUSR1,
    "incr": signal.SIGTTIN,
    "decr": signal.SIGTTOU,
}


class ControlError(Exception):
    """The pid file is missing, unreadable or stale, or the action failed."""


def read_pid_file(path: str) -> int:
    """The pid of the running master the file names, or ControlError."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        raise ControlError(f"pid file {path}: not found (is sluice running with --pid-file {path}?)") from None
    except OSError as exc:
        raise ControlError(f"pid file {path}: cannot read it: {exc.strerror}") from None
    if not text.isdigit() or int(text) <= 1:
        raise ControlError(f"pid file {path}: does not hold a pid (it holds {text[:40]!r})")
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ControlError(f"pid file {path}: stale: no process {pid} is running (sluice stopped uncleanly)") from None
    except PermissionError:
        pass  # it exists; someone else's: the cmdline check below decides
    if not _is_sluice(pid):
        raise ControlError(f"pid file {path}: stale: process {pid} is not a sluice master")
    return pid


def _is_sluice(pid: int) -> bool:
    """A master has its scoreboard in /dev/shm from its start to its end,
    naming it and its start time: that alone decides. A process whose
    command line only mentions sluice, or that got the pid of a master
    killed without its cleanup (its scoreboard left behind), is never
    signalled."""
    board = sb.Scoreboard.attach(pid)
    if board is None:
        return False
    try:
        if board.get(sb.H_MASTER) != pid:
            return False
        started, now = board.get(sb.H_PROC_START), sb.proc_start(pid)
        return not started or now is None or started == now  # 0 / None: no /proc to tell
    finally:
        board.close()


def send(action: str, pid_file: str, *, wait: float = 60.0, out=print) -> None:
    """Signal the master; for reload, wait up to ``wait`` seconds until the
    new workers serve (or the reload is reported failed)."""
    if action not in ACTIONS:
        raise ControlError(f"action: expected one of {', '.join(ACTIONS)}, got {action!r}")
    pid = read_pid_file(pid_file)
    sig = ACTIONS[action]
    board = sb.Scoreboard.attach(pid) if action == "reload" else None
    before = (board.get(sb.H_RELOADS_DONE), board.get(sb.H_RELOADS_FAILED)) if board else None
    try:
        os.kill(pid, sig)
    except OSError as exc:
        raise ControlError(f"cannot signal pid {pid}: {exc.strerror}") from None
    if board is None:
        out(f"sent {sig.name} to sluice master {pid}")
        return
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            done, failed = board.get(sb.H_RELOADS_DONE), board.get(sb.H_RELOADS_FAILED)
            if done > before[0]:
                out(f"reloaded: sluice master {pid} serves with its new workers")
                return
            if failed > before[1]:
                raise ControlError(f"reload of master {pid} failed; the old workers keep running (see its error log)")
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                raise ControlError(f"master {pid} exited during the reload") from None
            time.sleep(0.05)
        raise ControlError(f"reload of master {pid}: the new workers did not serve within {wait:g} s")
    finally:
        board.close()
