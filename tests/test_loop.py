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
