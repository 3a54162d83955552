"""The timing wheels, driven by a clock of the test's own (no sleeping)."""

from __future__ import annotations

import heapq
import random

import pytest

from sluice import IdleWheel, TimerWheel
from sluice.wheel import Timer


class Member:
    __slots__ = ("last", "closed_at", "__weakref__")

    def __init__(self, now: int):
        self.last = now
        self.closed_at = None


def make_wheel(now: int, timeout=8000, buckets=8):
    closed = []

    def on_idle(m):
        m.closed_at = clock[0]
        closed.append(m)

    clock = [now]
    wheel = IdleWheel(timeout, lambda m: m.last, on_idle, now, buckets)
    return wheel, clock, closed


def step(wheel, clock, until: int, ms: int = 50, touch=()):
    while clock[0] < until:
        clock[0] += ms
        for m in touch:
            m.last = clock[0]
        wheel.advance(clock[0])


def test_silent_member_is_closed_after_a_whole_turn_and_not_before():
    wheel, clock, closed = make_wheel(1_000_000)
    m = Member(clock[0])
    wheel.add(m)
    step(wheel, clock, clock[0] + 8000 - 50)
    assert closed == []  # never before the timeout
    step(wheel, clock, clock[0] + 1000 + 50)
    assert closed == [m]
    # no later than one tick (timeout / buckets) after the timeout
    assert 8000 <= m.closed_at - 1_000_000 <= 8000 + 1000 + 50


@pytest.mark.parametrize("offset", [0, 1, 499, 999])
def test_exact_bounds_for_any_phase_of_the_tick(offset):
    start = 2_000_000 + offset
    wheel, clock, closed = make_wheel(start)
    m = Member(start)
    wheel.add(m)
    step(wheel, clock, start + 20_000, ms=1)
    assert closed == [m]
    idle_for = m.closed_at - m.last
    assert 8000 <= idle_for <= 9000


def test_active_member_is_never_closed():
    wheel, clock, closed = make_wheel(0)
    m = Member(0)
    wheel.add(m)
    step(wheel, clock, 60_000, ms=100, touch=[m])
    assert closed == []
    assert len(wheel) == 1


def test_member_closed_a_turn_after_its_last_activity():
    wheel, clock, closed = make_wheel(0)
    m = Member(0)
    wheel.add(m)
    step(wheel, clock, 5000, ms=100, touch=[m])  # active for 5 s
    last = m.last
    step(wheel, clock, 30_000, ms=100)
    assert closed == [m]
    assert 8000 <= m.closed_at - last <= 9000 + 100


def test_discarded_member_is_never_closed():
    wheel, clock, closed = make_wheel(0)
    m = Member(0)
    wheel.add(m)
    wheel.discard(m)
    wheel.discard(m)  # twice is fine
    step(wheel, clock, 30_000, ms=500)
    assert closed == [] and len(wheel) == 0


def test_ten_thousand_members_only_the_silent_are_closed():
    wheel, clock, closed = make_wheel(0)
    members = [Member(0) for _ in range(10_000)]
    for m in members:
        wheel.add(m)
    active = members[::2]
    step(wheel, clock, 20_000, ms=250, touch=active)
    closed_set = set(map(id, closed))
    assert len(closed) == 5000
    assert all(id(m) in closed_set for m in members[1::2])
    assert not any(id(m) in closed_set for m in active)
    assert wheel.kicked == 5000
    assert len(wheel) == 5000


def test_advance_after_a_long_stall_closes_the_silent_once():
    wheel, clock, closed = make_wheel(0)
    ms = [Member(0) for _ in range(100)]
    for m in ms:
        wheel.add(m)
    clock[0] = 100_000
    assert wheel.advance(clock[0]) == 100
    assert wheel.advance(clock[0]) == 0
    assert len(closed) == 100


def test_idle_wheel_rejects_bad_settings():
    with pytest.raises(ValueError, match="buckets"):
        IdleWheel(1000, lambda m: 0, lambda m: None, 0, buckets=0)
    with pytest.raises(ValueError, match="timeout"):
        IdleWheel(3, lambda m: 0, lambda m: None, 0, buckets=8)


# ---- TimerWheel ----------------------------------------------------------------


def fire_all(wheel: TimerWheel, now: int):
    due: list = []
    wheel.advance(now, due)
    return due


def test_timers_fire_at_their_deadline_never_early():
    w = TimerWheel(1000)
    t = w.add(Timer(1000 + 250, None, ()))
    assert fire_all(w, 1249) == []
    assert fire_all(w, 1250) == [t]
    assert len(w) == 0


def test_timers_fire_in_deadline_order_across_levels():
    w = TimerWheel(0)
    whens = [5, 63, 64, 65, 4095, 4096, 4097, 300_000, 5_000_000, 20_000_000]
    timers = {when: w.add(Timer(when, None, ())) for when in whens}
    fired = []
    now = 0
    while len(fired) < len(whens):
        nxt = w.next_deadline()
        assert nxt is not None and nxt >= now
        now = nxt
        for t in fire_all(w, now):
            assert t.when <= now, "fired early"
            fired.append((t.when, now))
    assert [when for when, _ in fired] == sorted(whens)
    for when, at in fired:
        assert at == when, f"timer {when} fired at {at}"
    assert set(timers) == set(whens)


def test_cancel_is_immediate_and_idempotent():
    w = TimerWheel(0)
    a = w.add(Timer(100, None, ()))
    b = w.add(Timer(100, None, ()))
    a.cancel()
    a.cancel()
    assert len(w) == 1
    assert fire_all(w, 200) == [b]
    assert w.next_deadline() is None


def test_timer_in_the_past_fires_at_the_next_advance():
    w = TimerWheel(10_000)
    t = w.add(Timer(5, None, ()))
    assert fire_all(w, 10_000) == [t]


def test_random_timers_match_a_heap():
    rnd = random.Random(1234)
    w = TimerWheel(0)
    heap: list = []
    now = 0
    live: dict[int, Timer] = {}  # key -> timer (keys never reused, unlike id())
    key_of: dict[int, int] = {}
    for step_no in range(3000):
        op = rnd.random()
        if op < 0.5:
            when = now + rnd.choice([0, 1, rnd.randrange(100), rnd.randrange(10_000), rnd.randrange(3_000_000)])
            t = w.add(Timer(when, None, ()))
            live[step_no] = t
            key_of[id(t)] = step_no
            heapq.heappush(heap, (when, step_no))
        elif op < 0.65 and live:
            live.pop(rnd.choice(list(live))).cancel()
        else:
            now += rnd.choice([1, 7, 64, 500, 5000, 100_000])
            fired = sorted(key_of[id(t)] for t in fire_all(w, now))
            expect = []
            while heap and heap[0][0] <= now:
                _, key = heapq.heappop(heap)
                if key in live:
                    expect.append(key)
                    del live[key]
            assert fired == sorted(expect), f"step {step_no}"
            nd = w.next_deadline()
            if live:
                first = min(t.when for t in live.values())
                assert nd is not None and nd <= max(first, now + 1)
            assert len(w) == len(live)


def test_an_emptied_wheel_jumps_instead_of_walking_the_gap():
    w = TimerWheel(0)
    t = w.add(Timer(10, None, ()))
    t.cancel()
    w.advance(10 * 3600 * 1000, [])  # ten hours later, nothing to walk
    late = w.add(Timer(10 * 3600 * 1000 + 5, None, ()))
    assert fire_all(w, 10 * 3600 * 1000 + 4) == []
    assert fire_all(w, 10 * 3600 * 1000 + 5) == [late]
