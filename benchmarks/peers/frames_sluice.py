"""Sluice's frame echo server with its idle wheel timed: python frames_sluice.py PORT [--idle-timeout S]

The server of `sluice msg-echo` (sluice.messages.MessageServer with the echo
router of sluice.messages_cli) on one Loop, in this one process, with
IdleWheel ticks measured: each tick's CPU time (time.thread_time_ns around
the wheel's advance: this thread only, the work of the tick itself), its
wall time, how many connections the wheel looked at and how many it kicked.
--idle-timeout 0: no wheel. SIGUSR1 writes one JSON line to stdout: the
ticks since the previous SIGUSR1 and the server's stats. Prints "ready" once
listening; stops on SIGTERM.
"""

import argparse
import json
import signal
import sys
import time

from sluice import Loop
from sluice.messages import MessageServer
from sluice.messages_cli import echo_router
from sluice.tcp import Server

TICKS: list[tuple[int, int, int, int, int]] = []  # (cpu ns, wall ns, looked at, kicked, members after)


def _timed_tick(self) -> None:
    wheel = self._idle
    target = self._loop.now_ms() // wheel.tick_ms
    looked = sum(len(wheel._buckets[t % wheel.n]) for t in range(wheel._tick + 1, target + 1))
    c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
    kicked = wheel.advance(self._loop.now_ms())
    TICKS.append((time.thread_time_ns() - c0, time.perf_counter_ns() - w0, looked, kicked, len(wheel)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--idle-timeout", type=float, default=8.0)
    args = ap.parse_args()
    Server._idle_tick = _timed_tick  # before the server exists: its call_every takes the bound method
    with Loop() as loop:
        server = MessageServer(
            loop, echo_router(), "127.0.0.1", args.port, idle_timeout=args.idle_timeout or None, backlog=4096
        )

        def report() -> None:
            ticks = TICKS[:]
            del TICKS[:]
            print(json.dumps({"ticks": ticks, "stats": server.stats()}), flush=True)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, loop.stop)
        loop.add_signal_handler(signal.SIGUSR1, report)
        print("ready", flush=True)
        loop.run()
        server.close()


if __name__ == "__main__":
    sys.exit(main())
