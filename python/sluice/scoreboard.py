"""The shared counters: one memory segment the master creates before it forks.

A header (the master's figures) and one slot per worker, all 64-bit words.
Each worker writes only its own slot; the master writes the header and a
slot's identity when it spawns into it; anyone may read everything (the
status endpoint sums the slots). Aligned 8-byte stores are single
instructions, so a reader never sees a torn word, only figures a moment
apart from each other.

The segment is a file in /dev/shm (memory, not disk), named by the master's
pid, so that ``sluice signal`` can watch a reload finish; without /dev/shm it
is anonymous shared memory and only the master's children see it.
"""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

MAGIC = 0x534C5343_4F524501  # "SLSCORE" + layout version 1
SHM_DIR = Path("/dev/shm")

# header words
H_MAGIC, H_MASTER, H_SLOTS, H_STARTED = 0, 1, 2, 3
H_TARGET, H_RESTARTS, H_RELOADS_ASKED, H_RELOADS_DONE, H_RELOADS_FAILED = 4, 5, 6, 7, 8
H_TIMEOUTS, H_GENERATION = 9, 10
H_PROC_START = 11  # the master's start time in clock ticks since boot (/proc/PID/stat): tells a recycled pid
HEADER_WORDS = 16

# slot words
(
    S_PID,
    S_STATE,
    S_GENERATION,
    S_STARTED,
    S_HEARTBEAT,
    S_CONNS,
    S_ACCEPTED,
    S_REQUESTS,
    S_BYTES_IN,
    S_BYTES_OUT,
) = range(10)
S_POOL = 10  # 7 words: blocks in use per size class
N_CLASSES = 7
S_CLOSED = S_POOL + N_CLASSES  # 12 words: closes by reason (index = SL_CLOSE_*)
N_REASONS = 12
S_STATUS = S_CLOSED + N_REASONS  # 5 words: HTTP responses by status class 1xx..5xx
S_ERROR = S_STATUS + 5  # why a worker failed to boot, as text
ERROR_BYTES = 512
SLOT_WORDS = S_ERROR + ERROR_BYTES // 8

# worker states
FREE, BOOTING, SERVING, DRAINING, FAILED = 0, 1, 2, 3, 4
STATE_NAMES = {FREE: "free", BOOTING: "booting", SERVING: "serving", DRAINING: "draining", FAILED: "failed"}


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def proc_start(pid: int) -> int | None:
    """A process's start time, in clock ticks after boot (field 22 of
    /proc/PID/stat); None without /proc or without the process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def shm_path(master_pid: int) -> Path:
    return SHM_DIR / f"sluice.{master_pid}"


def prune_stale() -> list[Path]:
    """Remove the segments that masters killed without their cleanup (kill
    -9, a crash) left in /dev/shm: this user's, with a scoreboard's header,
    whose master is gone (or whose pid now names a process that started at
    another time). A segment of a live master, anyone else's file, or
    one that is not a scoreboard is left as it is. The paths removed."""
    removed = []
    try:
        candidates = list(SHM_DIR.glob("sluice.*"))
    except OSError:
        return removed
    for path in candidates:
        try:
            if not path.name[7:].isdigit() or path.stat().st_uid != os.getuid():
                continue
            with open(path, "rb") as f:
                head = f.read(HEADER_WORDS * 8)
            if len(head) < HEADER_WORDS * 8:
                continue
            w = memoryview(head).cast("Q")
            if w[H_MAGIC] != MAGIC or w[H_MASTER] != int(path.name[7:]):
                continue
            pid, started = w[H_MASTER], w[H_PROC_START]
            try:
                os.kill(pid, 0)
                alive = not started or proc_start(pid) in (None, started)
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True  # someone else's process: not ours to judge
            if not alive:
                path.unlink()
                removed.append(path)
        except (OSError, ValueError, OverflowError):
            continue
    return removed


class Scoreboard:
    """The segment, seen as words; ``slots`` slots after the header."""

    def __init__(self, mem: mmap.mmap, path: Path | None = None):
        self._mem = mem
        self.words = memoryview(mem).cast("Q")
        self.path = path
        if self.words[H_MAGIC] != MAGIC:
            raise ValueError("sluice: not a scoreboard segment (or another version's)")
        self.slots = self.words[H_SLOTS]

    @classmethod
    def create(cls, slots: int, *, named: bool = True) -> Scoreboard:
        """A new zeroed segment (in the master, before any fork)."""
        size = (HEADER_WORDS + slots * SLOT_WORDS) * 8
        path = None
        if named and SHM_DIR.is_dir():
            prune_stale()
            path = shm_path(os.getpid())
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.ftruncate(fd, size)
                mem = mmap.mmap(fd, size, mmap.MAP_SHARED)
            finally:
                os.close(fd)
        else:
            mem = mmap.mmap(-1, size, mmap.MAP_SHARED)
        w = memoryview(mem).cast("Q")
        w[H_MAGIC] = MAGIC
        w[H_MASTER] = os.getpid()
        w[H_SLOTS] = slots
        w[H_STARTED] = int(time.time() * 1000)
        w[H_PROC_START] = proc_start(os.getpid()) or 0
        del w
        return cls(mem, path)

    @classmethod
    def attach(cls, master_pid: int) -> Scoreboard | None:
        """The named segment of a running master (read by `sluice signal`)."""
        path = shm_path(master_pid)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_WORDS * 8:
                return None
            mem = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        try:
            return cls(mem, path)
        except ValueError:
            return None

    def close(self, unlink: bool = False) -> None:
        self.words.release()
        self._mem.close()
        if unlink and self.path is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    # ---- header -------------------------------------------------------------

    def get(self, word: int) -> int:
        return self.words[word]

    def set(self, word: int, value: int) -> None:
        self.words[word] = value

    def bump(self, word: int, by: int = 1) -> None:
        self.words[word] += by  # only the master writes the header

    # ---- slots --------------------------------------------------------------

    def base(self, slot: int) -> int:
        if not 0 <= slot < self.slots:
            raise IndexError(f"slot {slot} out of range (0..{self.slots - 1})")
        return HEADER_WORDS + slot * SLOT_WORDS

    def claim(self, slot: int, generation: int) -> None:
        """The master readies a slot for a worker it is about to fork."""
        self.release(slot)
        b = self.base(slot)
        self.words[b + S_STATE] = BOOTING
        self.words[b + S_GENERATION] = generation
        self.words[b + S_STARTED] = int(time.time() * 1000)
        self.words[b + S_HEARTBEAT] = monotonic_ms()

    def release(self, slot: int) -> None:
        """The slot's worker is gone: zero it (state FREE)."""
        b = self.base(slot)
        self.words[b : b + SLOT_WORDS] = memoryview(bytes(SLOT_WORDS * 8)).cast("Q")

    def free_slot(self) -> int | None:
        for slot in range(self.slots):
            if self.words[self.base(slot) + S_STATE] == FREE:
                return slot
        return None

    def slot_get(self, slot: int, word: int) -> int:
        return self.words[self.base(slot) + word]

    def slot_set(self, slot: int, word: int, value: int) -> None:
        self.words[self.base(slot) + word] = value

    def set_error(self, slot: int, text: str) -> None:
        b = self.base(slot) + S_ERROR
        raw = text.encode("utf-8", "replace")[: ERROR_BYTES - 1]
        raw += bytes(ERROR_BYTES - len(raw))
        self.words[b : b + ERROR_BYTES // 8] = memoryview(raw).cast("Q")

    def error(self, slot: int) -> str:
        b = self.base(slot) + S_ERROR
        raw = self.words[b : b + ERROR_BYTES // 8].tobytes()
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def slot_dict(self, slot: int) -> dict:
        b = self.base(slot)
        w = self.words
        return {
            "slot": slot,
            "pid": w[b + S_PID],
            "state": STATE_NAMES.get(w[b + S_STATE], "?"),
            "generation": w[b + S_GENERATION],
            "started_ms": w[b + S_STARTED],
            "heartbeat_age_ms": max(0, monotonic_ms() - w[b + S_HEARTBEAT]),
            "connections": w[b + S_CONNS],
            "accepted": w[b + S_ACCEPTED],
            "requests": w[b + S_REQUESTS],
            "bytes_in": w[b + S_BYTES_IN],
            "bytes_out": w[b + S_BYTES_OUT],
            "pool_in_use": list(w[b + S_POOL : b + S_POOL + N_CLASSES]),
            "closed": list(w[b + S_CLOSED : b + S_CLOSED + N_REASONS]),
            "status": list(w[b + S_STATUS : b + S_STATUS + 5]),
        }

    def workers(self) -> list[dict]:
        """Every slot that holds a worker now."""
        return [self.slot_dict(s) for s in range(self.slots) if self.words[self.base(s) + S_STATE] != FREE]
