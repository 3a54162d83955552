"""The keep-alive HTTP load client of benchmarks/reload.py (the same for every server):

    python benchmarks/reload_client.py PORT --conns 100 --start T --duration D
        [--think S] [--timeout S] [--procs P] [--uvloop] --out PREFIX

CONNS connections (split over PROCS forked processes, each one asyncio loop
driving its connections with callbacks, no task per request) open before the
start time T (time.monotonic(), the machine's CLOCK_MONOTONIC: the caller's
clock too). From T to T + D each connection sends `GET / HTTP/1.1`, waits for
the whole response, waits THINK seconds (drawn uniformly between 0.5 and
1.5 times THINK; the first requests are spread over one THINK, so the
connections do not move in lockstep), sends the next. A request is issued
(its sent time taken) before any connect it needs, so the latency of a
request on a fresh connection includes the connect.

Every request is recorded: sent time, latency, outcome. A failure is a
refused or failed connect, a reset, EOF before a complete response (before
its first byte, or part-way), no complete response within TIMEOUT, or a
status other than 200. A response that carries `Connection: close`, or EOF
after a complete response, is not one: the connection is closed and the next
request opens a new one. After a failure the connection is dropped too and
the next request (after THINK, at least 10 ms) opens a new one.

Each process writes PREFIX.N (a pickle: arrays sent, latency, outcome,
reused — whether the request went out on a connection that had already
carried one — and counts), and prints one JSON line when its connections
are open and one when it is done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import random
import resource
import sys
import time
from array import array

OUTCOMES = [
    "ok",
    "refused",  # connect: ECONNREFUSED
    "connect_error",  # connect: any other error, or no connection within the timeout
    "reset",  # ECONNRESET / EPIPE with the request outstanding
    "eof_before_response",  # EOF before the first byte of the response
    "eof_partial",  # EOF part-way through the response
    "timeout",  # no complete response within --timeout
    "bad_status",  # a complete response, not 200
    "bad_response",  # unparseable
]
OK, REFUSED, CONNECT_ERROR, RESET, EOF_BEFORE, EOF_PARTIAL, TIMEOUT, BAD_STATUS, BAD_RESPONSE = range(len(OUTCOMES))

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sluice-reload-bench\r\n\r\n"
AFTER_FAILURE_S = 0.01

now = time.monotonic


class Wire(asyncio.Protocol):
    """One TCP connection of a slot; once the slot has dropped it, what it
    still reports (a late connection_lost, data) is ignored."""

    __slots__ = ("slot", "transport")

    def __init__(self, slot: Conn):
        self.slot = slot
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.slot.wire is self:
            self.slot.made()
        else:
            transport.abort()  # the slot gave up on this connect (timeout)

    def data_received(self, data: bytes) -> None:
        if self.slot.wire is self:
            self.slot.data(data)

    def eof_received(self) -> bool:
        return False  # asyncio closes the transport: connection_lost follows

    def connection_lost(self, exc) -> None:
        if self.slot.wire is self:
            self.slot.lost(exc)


class Conn:
    """One client connection slot: it reconnects as needed until the run ends."""

    def __init__(self, run: Run):
        self.run = run
        self.wire: Wire | None = None
        self.connecting = False
        self.sent = 0.0  # sent time of the outstanding request, 0: none
        self.reused = False
        self.served = 0  # responses on the current connection
        self.buf = b""
        self.need = -1  # total bytes of the response being read, -1: head not complete
        self.status = b""
        self.close_after = False

    # ---- issuing ------------------------------------------------------------

    def issue(self) -> None:
        run = self.run
        t = now()
        if t >= run.end or run.stopping:
            run.slot_done(self)
            return
        self.sent = t
        self.buf = b""
        self.need = -1
        if self.wire is None:
            self.reused = False
            self.connect()
        elif self.connecting:
            self.reused = False  # the request leaves once connected (made)
        else:
            self.reused = self.served > 0
            self.wire.transport.write(REQUEST)

    def connect(self) -> None:
        self.connecting = True
        self.wire = w = Wire(self)
        self.run.loop.create_task(self._connect(w))

    async def _connect(self, w: Wire) -> None:
        try:
            await self.run.loop.create_connection(lambda: w, "127.0.0.1", self.run.port)
        except OSError as exc:
            if self.wire is w:
                self.wire = None
                self.connecting = False
                if self.sent:
                    self.fail(REFUSED if isinstance(exc, ConnectionRefusedError) else CONNECT_ERROR)

    # ---- from the wire --------------------------------------------------------

    def made(self) -> None:
        self.connecting = False
        self.served = 0
        self.run.connects += 1
        if self.sent:
            self.wire.transport.write(REQUEST)
        elif self.run.opening:
            self.run.opened()

    def data(self, data: bytes) -> None:
        if not self.sent:
            return  # nothing asked: ignore (the server should send nothing)
        buf = self.buf + data if self.buf else data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                if len(buf) > 65536:
                    self.fail(BAD_RESPONSE)
                return
            head = buf[:end].lower()
            if not head.startswith(b"http/1.1 ") and not head.startswith(b"http/1.0 "):
                self.fail(BAD_RESPONSE)
                return
            i = head.find(b"\r\ncontent-length:")
            if i < 0:
                self.fail(BAD_RESPONSE)
                return
            j = head.find(b"\r\n", i + 17)
            try:
                length = int(head[i + 17 : j if j > 0 else len(head)])
            except ValueError:
                self.fail(BAD_RESPONSE)
                return
            self.need = end + 4 + length
            self.status = head[9:12]
            self.close_after = b"\r\nconnection: close" in head or head.startswith(b"http/1.0")
        if len(buf) < self.need:
            self.buf = buf
            return
        # complete (anything after it would be a response nobody asked for)
        self.buf = b""
        self.served += 1
        self.run.closes_announced += self.close_after
        self.record(OK if self.status == b"200" else BAD_STATUS)
        if self.close_after:
            self.drop()
        self.next(self.run.think * (0.5 + self.run.rand()))

    def lost(self, exc) -> None:
        self.wire = None
        self.connecting = False
        if self.sent:  # a request was outstanding
            if isinstance(exc, ConnectionResetError | BrokenPipeError):
                kind = RESET
            elif self.buf or self.need >= 0:
                kind = EOF_PARTIAL
            else:
                kind = EOF_BEFORE
            self.record(kind)
            self.next(max(self.run.think, AFTER_FAILURE_S))
        else:  # closed after a complete response: not a failure, the next request reconnects
            self.run.eof_after_response += 1

    # ---- outcomes -------------------------------------------------------------

    def record(self, outcome: int) -> None:
        run = self.run
        run.sent.append(self.sent)
        run.latency.append(now() - self.sent)
        run.outcome.append(outcome)
        run.reused.append(self.reused)
        self.sent = 0.0

    def fail(self, outcome: int) -> None:
        if not self.sent:
            return
        self.record(outcome)
        self.drop(abort=True)
        self.next(max(self.run.think, AFTER_FAILURE_S))

    def drop(self, abort: bool = False) -> None:
        w, self.wire = self.wire, None
        self.connecting = False
        if w is not None and w.transport is not None:
            w.transport.abort() if abort else w.transport.close()

    def next(self, delay: float) -> None:
        if delay > 0:
            self.run.loop.call_later(delay, self.issue)
        else:
            self.run.loop.call_soon(self.issue)


class Run:
    def __init__(self, loop, port: int, conns: int, start: float, duration: float, think: float, timeout: float):
        self.loop = loop
        self.port = port
        self.start = start
        self.end = start + duration
        self.think = think
        self.timeout = timeout
        self.rand = random.Random(port * 1000 + os.getpid()).random
        self.slots = [Conn(self) for _ in range(conns)]
        self.sent = array("d")
        self.latency = array("d")
        self.outcome = array("b")
        self.reused = array("b")
        self.connects = 0
        self.closes_announced = 0  # responses with Connection: close
        self.eof_after_response = 0  # EOF with no request outstanding
        self.opening = True
        self.open_count = 0
        self.active = conns
        self.stopping = False
        self.all_open = loop.create_future()
        self.finished = loop.create_future()

    def opened(self) -> None:
        self.open_count += 1
        if self.open_count == len(self.slots) and not self.all_open.done():
            self.all_open.set_result(None)

    def slot_done(self, conn: Conn) -> None:
        conn.drop()
        self.active -= 1
        if self.active == 0 and not self.finished.done():
            self.finished.set_result(None)

    def sweep(self) -> None:
        """Every 50 ms: requests outstanding past the timeout fail."""
        limit = now() - self.timeout
        for c in self.slots:
            if c.sent and c.sent < limit:
                c.fail(CONNECT_ERROR if c.connecting and c.transport is None else TIMEOUT)
        if not self.finished.done():
            self.loop.call_later(0.05, self.sweep)

    async def main(self) -> dict:
        loop = self.loop
        for c in self.slots:
            c.connect()
        try:
            await asyncio.wait_for(asyncio.shield(self.all_open), max(0.1, self.start - now()))
        except TimeoutError:
            pass
        opened = self.open_count
        print(json.dumps({"event": "open", "pid": os.getpid(), "conns": opened}), flush=True)
        self.opening = False
        await asyncio.sleep(max(0.0, self.start - now()))
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = now()
        for c in self.slots:  # staggered over one think time: no lockstep waves
            c.next(self.rand() * self.think)
        loop.call_later(0.05, self.sweep)
        try:
            await asyncio.wait_for(asyncio.shield(self.finished), self.end - now() + self.timeout + 1.0)
        except TimeoutError:
            self.stopping = True
        t1 = now()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        unfinished = sum(1 for c in self.slots if c.sent)
        for c in self.slots:
            c.drop(abort=True)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        return {
            "opened_before_start": opened,
            "connects": self.connects,
            "closes_announced": self.closes_announced,
            "eof_after_response": self.eof_after_response,
            "unfinished": unfinished,
            "cpu_s": cpu,
            "wall_s": t1 - t0,
            "late_start_s": t0 - self.start,
        }


def child(args, index: int, conns: int) -> None:
    if args.uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run = Run(loop, args.port, conns, args.start, args.duration, args.think, args.timeout)
    counts = loop.run_until_complete(run.main())
    with open(f"{args.out}.{index}", "wb") as f:
        pickle.dump(
            {
                "sent": run.sent,
                "latency": run.latency,
                "outcome": run.outcome,
                "reused": run.reused,
                "counts": counts,
            },
            f,
        )
    print(json.dumps({"event": "done", "pid": os.getpid(), "requests": len(run.sent), **counts}), flush=True)
    loop.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--start", type=float, required=True, help="time.monotonic() at which to start sending")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--think", type=float, default=0.0, help="seconds between a response and the next request")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds for a complete response")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--uvloop", action="store_true")
    ap.add_argument("--out", required=True, help="each process writes OUT.N")
    args = ap.parse_args()
    shares = [args.conns // args.procs + (1 if i < args.conns % args.procs else 0) for i in range(args.procs)]
    pids = []
    for i, n in enumerate(shares):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(args, i, n)
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        pids.append(pid)
    status = 0
    for pid in pids:
        _, st = os.waitpid(pid, 0)
        status = status or os.waitstatus_to_exitcode(st)
    return status


if __name__ == "__main__":
    sys.exit(main())
