"""The cost of crossing between C and Python through cffi, as Sluice crosses.

    python benchmarks/crossing.py [--quick] [--reps N]

C -> Python: a throwaway cffi module (API mode, built in a temp dir by this
script) whose C function calls an ``extern "Python"`` function (defined with
``@ffi.def_extern``, never ``ffi.callback``) N times in one call: ns per
callback, with no argument, with three arguments (pointer, pointer, size), and with what
Sluice's ``_sl_on_events`` does before its dispatch loop (``ffi.from_handle``
and a method call). Then Sluice's own turn: a Loop watching an always-readable
eventfd (``add_reader``, level-triggered): turns per second, ns per turn
(epoll_wait, the callback, ``_dispatch``, the reader), beside asyncio and
uvloop doing the same.

Python -> C: a loop of calls to a trivial function (the throwaway module's
``noop``; Sluice's ``lib.sl_monotonic_ms`` and ``lib.sl_loop_now_ms``), and
``Transport.write`` of 1 KiB (and 16 bytes) on a connected Transport: ns per
call, which includes the copy into the output buffer (the write syscall
happens at the end of the loop's turn and is not timed).

Pinned to CPU 1; every figure is the median of N repetitions (thread CPU
time, net of the empty Python loop where it says so). Raw figures:
docs/bench/crossing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time

from _common import ensure, machine, summary, table, wait_quiet, write_json

CDEF = """
extern "Python" void cb_void(void);
extern "Python" void cb_events(void *ud, void *events, size_t n);
extern "Python" void cb_handle(void *ud, void *events, size_t n);
void call_void(long n);
void call_events(long n, void *ud);
void call_handle(long n, void *ud);
long noop(void);
"""

SOURCE = """
#include <stddef.h>
static void cb_void(void);
static void cb_events(void *ud, void *events, size_t n);
static void cb_handle(void *ud, void *events, size_t n);
static char events[64];
void call_void(long n) { for (long i = 0; i < n; i++) cb_void(); }
void call_events(long n, void *ud) { for (long i = 0; i < n; i++) cb_events(ud, events, 1); }
void call_handle(long n, void *ud) { for (long i = 0; i < n; i++) cb_handle(ud, events, 1); }
long noop(void) { return 0; }
"""


def build_throwaway(tmp: str):
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source("_sluice_crossing_bench", SOURCE, extra_compile_args=["-O2"])
    ffi.compile(tmpdir=tmp, verbose=False)
    sys.path.insert(0, tmp)
    import _sluice_crossing_bench as mod

    return mod.ffi, mod.lib


def cpu_ns() -> int:
    return time.thread_time_ns()


QUIET = True  # wait for a quiet machine before each figure (not with --quick)


def reps_of(fn, reps: int) -> list[float]:
    if QUIET:
        wait_quiet()
    fn()  # warm-up
    return [fn() for _ in range(reps)]


def empty_loop(n: int) -> float:
    r = range(n)
    t0 = cpu_ns()
    for _ in r:
        pass
    return (cpu_ns() - t0) / n


# ---- C -> Python -----------------------------------------------------------


def c_to_python(ffi, lib, n: int, reps: int) -> dict:
    @ffi.def_extern()
    def cb_void():
        pass

    @ffi.def_extern()
    def cb_events(ud, events, k):
        pass

    class Owner:
        def _dispatch(self, events, k):
            pass

    owner = Owner()
    handle = ffi.new_handle(owner)

    @ffi.def_extern()
    def cb_handle(ud, events, k):
        ffi.from_handle(ud)._dispatch(events, k)

    def timed(call, *args):
        def one():
            t0 = cpu_ns()
            call(n, *args)
            return (cpu_ns() - t0) / n

        return one

    return {
        "callback, no arguments": summary(reps_of(timed(lib.call_void), reps)),
        "callback (void *, void *, size_t)": summary(reps_of(timed(lib.call_events, handle), reps)),
        "callback + ffi.from_handle + method call (the shape of _sl_on_events)": summary(
            reps_of(timed(lib.call_handle, handle), reps)
        ),
    }


# ---- Sluice's turn, and the peers' -----------------------------------------


def sluice_turns(n: int) -> float:
    from sluice import Loop

    fd = os.eventfd(1, os.EFD_NONBLOCK)  # readable until read: level-triggered fires every turn
    loop = Loop()
    count = 0

    def ready():
        nonlocal count
        count += 1
        if count >= n:
            loop.stop()

    loop.add_reader(fd, ready)
    t0 = cpu_ns()
    loop.run()
    dt = cpu_ns() - t0
    loop.remove_reader(fd)
    loop.close()
    os.close(fd)
    return dt / n


def asyncio_turns(n: int, new_loop) -> float:
    fd = os.eventfd(1, os.EFD_NONBLOCK)
    loop = new_loop()
    count = 0
    done = loop.create_future()

    def ready():
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    loop.add_reader(fd, ready)
    t0 = cpu_ns()
    loop.run_until_complete(done)
    dt = cpu_ns() - t0
    loop.remove_reader(fd)
    loop.close()
    os.close(fd)
    return dt / n


# ---- Python -> C -----------------------------------------------------------


def python_to_c(lib_t, n: int, reps: int) -> dict:
    from sluice import Loop
    from sluice._binding import lib

    loop = Loop()
    c = loop._c

    def calls(f, *args):
        def one():
            r = range(n)
            t0 = cpu_ns()
            for _ in r:
                f(*args)
            return (cpu_ns() - t0) / n

        return one

    def pyfunc():
        return 0

    base = statistics.median(reps_of(lambda: empty_loop(n), reps))
    out = {
        "empty Python loop (subtracted below)": {"median": base, "min": base, "max": base, "n": reps},
    }
    for name, fn in [
        ("a Python function returning 0 (for scale)", calls(pyfunc)),
        ("throwaway lib.noop()", calls(lib_t.noop)),
        ("sluice lib.sl_monotonic_ms() (clock_gettime inside)", calls(lib.sl_monotonic_ms)),
        ("sluice lib.sl_loop_now_ms(loop) (reads a field)", calls(lib.sl_loop_now_ms, c)),
    ]:
        out[name] = summary([v - base for v in reps_of(fn, reps)])
    loop.close()
    return out


def transport_write(batches: int, reps: int) -> dict:
    """ns per Transport.write: four writes timed together (they fit the
    connection's first 4 KiB block, so no block grows), the loop's turn that
    sends them and the client's drain untimed; net of the empty timing pair."""
    from sluice import Loop, Protocol

    loop = Loop()
    got = []

    class Keep(Protocol):
        def connection_made(self, transport):
            got.append(transport)

    server = loop.create_server(Keep, "127.0.0.1", 0)
    client = socket.create_connection(("127.0.0.1", server.port))
    client.setblocking(False)
    while not got:
        loop.run_once(0.1)
    transport = got[0]
    perf = time.perf_counter_ns

    def drain():
        try:
            while client.recv(1 << 20):
                pass
        except BlockingIOError:
            pass

    def run(data: bytes | None) -> float:
        w = transport.write
        run_once = loop.run_once
        total = 0
        for _ in range(batches):
            if data is None:
                t0 = perf()
                t1 = perf()
            else:
                t0 = perf()
                w(data)
                w(data)
                w(data)
                w(data)
                t1 = perf()
            total += t1 - t0
            run_once(0)
            drain()
        return total / batches

    out = {}
    empty = reps_of(lambda: run(None), reps)
    base = statistics.median(empty)
    out["timing pair alone (subtracted)"] = summary(empty)
    for size in (1024, 16):
        data = bytes(size)
        vals = [(v - base) / 4 for v in reps_of(lambda data=data: run(data), reps)]
        out[f"Transport.write({size} bytes)"] = summary(vals)
    client.close()
    loop.run_once(0.05)
    server.close()
    loop.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, short loops (CI: it works)")
    ap.add_argument("--reps", type=int, default=9, help="repetitions per figure (default 9)")
    args = ap.parse_args()
    machine()  # notes the commit measured
    ensure("uvloop")
    import uvloop

    try:
        os.sched_setaffinity(0, {1} if os.cpu_count() > 1 else {0})
    except OSError:
        pass
    global QUIET
    QUIET = not args.quick
    reps = 1 if args.quick else args.reps
    n_cb, n_calls, n_turns, batches = (
        (100_000, 200_000, 20_000, 2_000) if args.quick else (2_000_000, 5_000_000, 300_000, 50_000)
    )

    with tempfile.TemporaryDirectory(prefix="sluice-crossing-") as tmp:
        ffi_t, lib_t = build_throwaway(tmp)
        c2p = c_to_python(ffi_t, lib_t, n_cb, reps)
        p2c = python_to_c(lib_t, n_calls, reps)
    turns = {
        "sluice Loop.add_reader": summary(reps_of(lambda: sluice_turns(n_turns), reps)),
        "uvloop add_reader": summary(reps_of(lambda: asyncio_turns(n_turns, uvloop.new_event_loop), reps)),
        "asyncio add_reader": summary(reps_of(lambda: asyncio_turns(n_turns, asyncio.new_event_loop), reps)),
    }
    writes = transport_write(batches, reps)

    def rows(d: dict, per_s: bool = False) -> list[list]:
        out = []
        for name, s in d.items():
            row = [name, f"{s['median']:.1f}", f"{s['min']:.1f}-{s['max']:.1f}"]
            if per_s:
                row.append(f"{1e9 / s['median']:,.0f}")
            out.append(row)
        return out

    print()
    table(["C -> Python (throwaway module)", "ns per call", "min-max"], rows(c2p))
    print()
    table(["Python -> C", "ns per call (net)", "min-max"], rows(p2c))
    print()
    table(["one loop turn, one ready fd", "ns per turn", "min-max", "turns/s"], rows(turns, per_s=True))
    print()
    table(["on a connected Transport", "ns per call (net)", "min-max"], rows(writes))
    cmd = "python benchmarks/crossing.py" + (" --quick" if args.quick else "")
    write_json(
        "crossing",
        {
            "command": cmd,
            "machine": machine(),
            "reps": reps,
            "loops": {"callbacks": n_cb, "calls": n_calls, "turns": n_turns, "write_batches": batches},
            "clock": "thread CPU time (time.thread_time_ns); Transport.write: perf_counter_ns around 4 writes",
            "c_to_python": c2p,
            "python_to_c": p2c,
            "turns": turns,
            "transport_write": writes,
        },
        args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
