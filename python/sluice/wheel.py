"""Timing wheels: the seed's idle wheel and a hierarchical timer wheel.

``IdleWheel`` closes connections that were silent for a whole turn of the
wheel (``timeout``, in ``buckets`` buckets; the seed: 8 buckets of a second).
A message costs nothing here: C stores the connection's last-active time, and
only when a bucket expires does the wheel look at its members, closing the
silent and moving the others to the bucket of their last activity (lazy
refresh). A connection is closed no sooner than ``timeout`` after its last
activity and no later than one tick after that.

``TimerWheel`` holds ``call_later`` timers: 4 levels of 64 slots of 1 ms
(about 4.6 hours; later deadlines wait at the top level and are placed again
as they come closer). Adding and cancelling are O(1); advancing skips empty
slots with a bitmap per level.

Both take their time from the caller (milliseconds), so tests drive them with
a clock of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["IdleWheel", "TimerWheel", "Timer"]


class IdleWheel:
    """Kick members silent for ``timeout_ms``; checked every ``timeout_ms / buckets``."""

    def __init__(
        self,
        timeout_ms: int,
        last_active: Callable[[Any], int],
        on_idle: Callable[[Any], None],
        now_ms: int,
        buckets: int = 8,
    ):
        if buckets < 1:
            raise ValueError("idle wheel: buckets must be at least 1")
        if timeout_ms < buckets:
            raise ValueError("idle wheel: timeout must be at least one millisecond per bucket")
        self.timeout_ms = timeout_ms
        self.tick_ms = timeout_ms // buckets
        self.n = buckets
        self._last_active = last_active
        self._on_idle = on_idle
        self._tick = now_ms // self.tick_ms  # absolute tick number of "now"
        self._buckets: list[dict] = [{} for _ in range(buckets)]
        self._where: dict[Any, int] = {}  # member -> bucket index
        self.kicked = 0

    def __len__(self) -> int:
        return len(self._where)

    def add(self, member: Any) -> None:
        """Start watching; the member counts as active now."""
        i = self._tick % self.n
        self._buckets[i][member] = None
        self._where[member] = i

    def discard(self, member: Any) -> None:
        i = self._where.pop(member, None)
        if i is not None:
            self._buckets[i].pop(member, None)

    def next_tick_ms(self) -> int:
        return (self._tick + 1) * self.tick_ms

    def advance(self, now_ms: int) -> int:
        """Expire every bucket due by now_ms; returns how many were kicked."""
        kicked = 0
        target = now_ms // self.tick_ms
        while self._tick < target:
            self._tick += 1
            kicked += self._expire(self._tick, now_ms)
        return kicked

    def _expire(self, tick: int, now_ms: int) -> int:
        # The bucket of `tick` holds members placed N ticks ago (or re-placed
        # for an activity then): look at each once.
        i = tick % self.n
        members = self._buckets[i]
        self._buckets[i] = {}
        kicked = 0
        deadline = now_ms - self.timeout_ms
        for m in members:
            last = self._last_active(m)
            if last <= deadline:
                del self._where[m]
                kicked += 1
                self._on_idle(m)
                continue
            # Active since it was placed: file it under the tick of its last
            # activity, so it is looked at again a whole turn after that.
            t = max(last // self.tick_ms, tick - self.n + 1)
            j = t % self.n
            self._buckets[j][m] = None
            self._where[m] = j
        self.kicked += kicked
        return kicked


class Timer:
    """A handle on a scheduled call; ``cancel()`` is O(1) and idempotent."""

    __slots__ = ("when", "callback", "args", "cancelled", "_slot", "_wheel", "interval")

    def __init__(self, when: int, callback: Callable, args: tuple, interval: int = 0):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False
        self._slot: dict | None = None
        self._wheel: TimerWheel | None = None
        self.interval = interval  # ms, for call_every

    def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        if self._slot is not None:
            self._slot.pop(self, None)
            self._slot = None
            self._wheel._count -= 1
        self.callback = self.args = None  # drop references early

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else f"when={self.when}"
        return f"<Timer {state}>"


_BITS = 6
_SIZE = 1 << _BITS
_MASK = _SIZE - 1
_LEVELS = 4
_HORIZON = 1 << (_BITS * _LEVELS)


class TimerWheel:
    """Hierarchical wheel of Timer objects keyed by integer milliseconds."""

    def __init__(self, now_ms: int):
        self._cur = now_ms  # the next tick to process
        self._slots = [[{} for _ in range(_SIZE)] for _ in range(_LEVELS)]
        self._occupied = [0] * _LEVELS  # bit i: slot i holds timers
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, timer: Timer) -> Timer:
        timer._wheel = self
        self._place(timer)
        self._count += 1
        return timer

    def _place(self, timer: Timer) -> None:
        when = max(timer.when, self._cur)
        delta = when - self._cur
        if delta >= _HORIZON:
            when = self._cur + _HORIZON - 1
            delta = _HORIZON - 1
        level = 0
        while delta >= 1 << (_BITS * (level + 1)):
            level += 1
        idx = (when >> (_BITS * level)) & _MASK
        slot = self._slots[level][idx]
        slot[timer] = None
        timer._slot = slot
        self._occupied[level] |= 1 << idx

    def _cascade(self, level: int) -> None:
        idx = (self._cur >> (_BITS * level)) & _MASK
        slot = self._slots[level][idx]
        if not slot:
            return
        self._slots[level][idx] = {}
        self._occupied[level] &= ~(1 << idx)
        for timer in slot:
            self._place(timer)

    def advance(self, now_ms: int, due: list) -> None:
        """Move time to now_ms, appending every timer that fell due to `due`."""
        if not self._count:  # nothing to cascade or fire: jump
            self._cur = max(self._cur, now_ms + 1)
            return
        slots0 = self._slots[0]
        while self._cur <= now_ms:
            cur = self._cur
            if cur & _MASK == 0:  # entering a new level-0 revolution: cascade down
                level = 1
                while level < _LEVELS:
                    self._cascade(level)
                    if (cur >> (_BITS * level)) & _MASK:
                        break
                    level += 1
            idx = cur & _MASK
            slot = slots0[idx]
            if slot:
                slots0[idx] = {}
                self._occupied[0] &= ~(1 << idx)
                for timer in slot:
                    timer._slot = None
                    due.append(timer)
                self._count -= len(slot)
            # Skip to the next occupied level-0 slot, or the next revolution.
            rest = self._occupied[0] >> (idx + 1)
            if rest:
                step = (rest & -rest).bit_length()
            else:
                step = _SIZE - idx
            self._cur = cur + step if cur + step <= now_ms else now_ms + 1

    def next_deadline(self) -> int | None:
        """A time no later than the first deadline (exact at level 0), or None."""
        if not self._count:
            return None
        cur = self._cur
        best = None
        for level in range(_LEVELS):
            occ = self._occupied[level]
            if not occ:
                continue
            shift = _BITS * level
            c = (cur >> shift) & _MASK
            if level == 0:
                rest = occ >> c
                if rest:
                    at = cur + (rest & -rest).bit_length() - 1
                else:  # only slots of the next revolution: a lower bound
                    at = ((cur >> _BITS) + 1) << _BITS
            elif cur & ((1 << shift) - 1) == 0 and (occ >> c) & 1:
                at = cur  # this slot cascades when cur itself is processed
            else:
                rot = ((occ >> (c + 1)) | (occ << (_SIZE - c - 1))) & ((1 << _SIZE) - 1)
                d = (rot & -rot).bit_length()  # 1.._SIZE slots ahead
                at = ((cur >> shift) + d) << shift  # where that slot's range begins
            if best is None or at < best:
                best = at
        return best
