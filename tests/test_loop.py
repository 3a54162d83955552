"""Loop: scheduling, threads, signals, descriptors, fork."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from sluice import Loop


def test_call_soon_runs_in_order(loop):
    seen = []
    loop.call_soon(seen.append, 1)
    loop.call_soon(seen.append, 2)
    h = loop.call_soon(seen.append, 3)
    h.cancel()
    loop.call_soon(loop.stop)
    loop.run()
    assert seen == [1, 2]


def test_call_later_is_never_early(loop):
    fired = []
    start = time.monotonic()
    loop.call_later(0.05, lambda: (fired.append(time.monotonic() - start), loop.stop()))
    loop.run()
    assert fired and fired[0] >= 0.049


def test_call_later_order_and_cancel(loop):
    seen = []
    loop.call_later(0.03, seen.append, "c")
    loop.call_later(0.01, seen.append, "a")
    b = loop.call_later(0.02, seen.append, "b")
    b.cancel()
    loop.call_later(0.06, loop.stop)
    loop.run()
    assert seen == ["a", "c"]


def test_call_every_repeats_until_cancelled(loop):
    count = [0]

    def tick():
        count[0] += 1
        if count[0] == 3:
            handle.cancel()
            loop.call_later(0.05, loop.stop)

    handle = loop.call_every(0.01, tick)
    loop.run()
    assert count[0] == 3


def test_call_soon_threadsafe_wakes_a_blocked_loop(loop):
    # The loop has nothing to do (no timers): run_once would block forever
    # without the eventfd wake-up.
    def other_thread():
        time.sleep(0.1)
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=other_thread).start()
    start = time.monotonic()
    loop.run()
    assert time.monotonic() - start < 5


def test_call_soon_threadsafe_after_close_raises():
    loop = Loop()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon_threadsafe(print)
    assert not loop._ready  # nothing queued that would never run
    loop.stop()  # a no-op, as before


def test_wake_ups_from_another_thread_race_close_without_a_crash():
    """Another thread keeps handing work over while the loop closes: each
    call either queues and wakes a live loop or raises RuntimeError; none
    writes to a freed loop (the check and the wake-up were apart, so a close
    between them freed the C loop under the other thread)."""
    for _ in range(30):
        loop = Loop()
        outcome = []
        started = threading.Event()

        def hammer(loop=loop, outcome=outcome, started=started):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                started.set()
                try:
                    loop.call_soon_threadsafe(len, ())
                    loop.stop()
                except RuntimeError:
                    outcome.append("closed")
                    return

        t = threading.Thread(target=hammer)
        t.start()
        started.wait(5)
        loop.run_once(0)
        loop.close()
        t.join(10)
        assert outcome == ["closed"]


def test_loop_releases_the_gil_while_waiting(loop):
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    loop.call_later(0.3, loop.stop)
    loop.run()
    stop.set()
    t.join()
    assert counter[0] > 1000  # the thread ran while the loop waited in epoll


def test_signal_handler_runs_between_turns(loop):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, lambda: (got.append("usr1"), loop.stop()))
    loop.call_later(0.05, os.kill, os.getpid(), signal.SIGUSR1)
    loop.call_later(5, loop.stop)
    loop.run()
    assert got == ["usr1"]
    assert loop.remove_signal_handler(signal.SIGUSR1)
    assert not loop.remove_signal_handler(signal.SIGUSR1)


def test_keyboard_interrupt_surfaces_from_run(loop):
    loop.call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
    guard = loop.call_later(5, loop.stop)
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    guard.cancel()


def test_a_raising_callback_is_logged_and_the_loop_goes_on(loop, caplog):
    def bad():
        raise ValueError("boom")

    loop.call_soon(bad)
    loop.call_later(0.02, loop.stop)
    with caplog.at_level(logging.ERROR, logger="sluice"):
        loop.run()
    assert any("boom" in (r.exc_text or "") or (r.exc_info and "boom" in str(r.exc_info[1])) for r in caplog.records)


def test_add_reader_reports_a_readable_pipe(loop):
    r, w = os.pipe()
    got = []

    def on_read():
        got.append(os.read(r, 100))
        loop.remove_reader(r)
        loop.stop()

    loop.add_reader(r, on_read)
    loop.call_later(0.02, os.write, w, b"x")
    loop.call_later(5, loop.stop)
    loop.run()
    os.close(r)
    os.close(w)
    assert got == [b"x"]


def test_add_writer_reports_a_writable_pipe(loop):
    r, w = os.pipe()
    got = []
    loop.add_writer(w, lambda: (got.append(1), loop.remove_writer(w), loop.stop()))
    loop.call_later(5, loop.stop)
    loop.run()
    os.close(r)
    os.close(w)
    assert got == [1]


def test_a_loop_made_before_fork_refuses_to_run_in_the_child():
    loop = Loop()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            loop.run()
        except RuntimeError as exc:
            code = 0 if "fork" in str(exc) else 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    loop.close()
    assert os.WEXITSTATUS(status) == 0


def test_a_child_makes_its_own_loop_and_pool():
    # The child builds its own loop (and so its own pool) after the fork.
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with Loop() as child:
                child.call_soon(child.stop)
                child.run()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_closed_loop_cannot_run():
    loop = Loop()
    loop.close()
    loop.close()
    with pytest.raises(RuntimeError):
        loop.run()


def test_a_timer_that_raises_keyboard_interrupt_has_run_once_and_the_others_still_run(loop):
    runs = []

    def a():
        runs.append("a")
        if runs.count("a") == 1:
            raise KeyboardInterrupt

    loop.call_later(0.01, a)
    loop.call_later(0.01, runs.append, "b")
    time.sleep(0.03)
    with pytest.raises(KeyboardInterrupt):
        for _ in range(100):
            loop.run_once(0.01)
    for _ in range(5):  # a program drains after Ctrl-C
        loop.run_once(0.01)
    assert sorted(runs) == ["a", "b"]  # each once: "a" is not run again, "b" is not lost


def test_call_every_after_a_blocked_turn_runs_an_interval_later_not_at_once(loop):
    times = []

    def tick():
        times.append(time.monotonic())
        if len(times) == 2:
            time.sleep(0.15)  # the loop is blocked past two due times
        if len(times) == 5:
            handle.cancel()
            loop.stop()

    handle = loop.call_every(0.05, tick)
    guard = loop.call_later(10, loop.stop)
    loop.run()
    guard.cancel()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps[2:]) >= 0.045, gaps  # no catch-up burst after the blocked one


def test_call_later_never_fires_before_its_delay(loop):
    import random

    rng = random.Random(7)
    early = []
    for _ in range(40):
        delay = rng.uniform(0, 0.02)
        start = time.monotonic()
        fired = []
        loop.call_later(delay, lambda fired=fired: fired.append(time.monotonic()))
        while not fired:
            loop.run_once(0.05)
        if fired[0] - start < delay:
            early.append((delay, fired[0] - start))
    assert not early


def test_a_bad_delay_names_itself(loop):
    for bad in (float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="delay"):
            loop.call_later(bad, print)
        with pytest.raises(ValueError, match="interval"):
            loop.call_every(bad, print)


def test_a_signal_that_cannot_be_caught_is_not_recorded_and_close_still_works():
    loop = Loop()
    with pytest.raises(OSError):
        loop.add_signal_handler(signal.SIGKILL, print)
    assert not loop.remove_signal_handler(signal.SIGKILL)
    loop.close()  # it raised the same OSError halfway before
    with pytest.raises(RuntimeError):
        loop.run()


def test_a_connect_whose_protocol_factory_raises_leaves_no_connection(loop, caplog):
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    fds = len(os.listdir("/proc/self/fd"))

    def bad():
        raise RuntimeError("no protocol")

    with pytest.raises(RuntimeError, match="no protocol"):
        loop.create_connection(bad, "127.0.0.1", port)
    for _ in range(5):
        loop.run_once(0.01)
    assert len(os.listdir("/proc/self/fd")) == fds  # the socket was closed
    assert not loop._conns
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    listener.close()


def test_a_repeating_timer_that_raises_keyboard_interrupt_keeps_repeating(loop):
    runs = []

    def tick():
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise KeyboardInterrupt

    handle = loop.call_every(0.01, tick)
    with pytest.raises(KeyboardInterrupt):
        for _ in range(100):
            loop.run_once(0.02)
    deadline = time.monotonic() + 5
    while len(runs) < 3 and time.monotonic() < deadline:
        loop.run_once(0.02)
    handle.cancel()
    assert len(runs) >= 3  # it went on after the interrupt


def test_call_every_needs_a_positive_interval(loop):
    for bad in (0, -1, 0.0):
        with pytest.raises(ValueError, match="interval"):
            loop.call_every(bad, print)


def test_close_from_a_signal_handler_inside_a_wake_up_is_refused_not_a_crash():
    """A Python signal handler can run between the closed check and the
    eventfd write of call_soon_threadsafe, in the same thread (the lock is
    reentrant). Its close() must not free the loop under the wake-up: it is
    refused, and the loop closes normally afterwards. The deque's append
    stands in for the handler's moment (reviewer's reproduction: SIGSEGV)."""
    import collections

    loop = Loop()
    refused = []

    class Interrupting(collections.deque):
        def append(self, item):
            super().append(item)
            try:
                loop.close()
            except RuntimeError as exc:
                refused.append(str(exc))

    loop._ready = Interrupting()
    loop.call_soon_threadsafe(len, ())
    assert refused and "wake-up" in refused[0]
    assert not loop._closed
    loop._ready = collections.deque()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon_threadsafe(len, ())
