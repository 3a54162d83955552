"""A keep-alive load of line-protocol clients (tests/apps/lineproto.py) that
keeps honest counts: every request written either gets its answer or is a
failure, with the reason. An answer ending in " close" closes the
connection and the client reconnects (as after HTTP's Connection: close)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Counts:
    sent: int = 0
    answered: int = 0
    failed: int = 0
    reconnects: int = 0
    connect_errors: int = 0
    failures: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)  # workers that answered "pid"
    per_client: dict[int, int] = field(default_factory=dict)  # client -> failures


async def ask(reader, writer, line: bytes, timeout: float = 10.0) -> bytes:
    writer.write(line + b"\n")
    return await asyncio.wait_for(reader.readline(), timeout)


async def client(i: int, port: int, counts: Counts, stop: asyncio.Event, pause: float = 0.0, stop_at=None):
    """Requests in a loop until stop is set. stop_at(): a deadline after
    which no new connection is attempted (e.g. once a TERM was sent)."""
    n = 0
    reader = writer = None
    while not stop.is_set():
        if writer is None:
            if stop_at is not None and stop_at():
                return
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            except (TimeoutError, OSError):
                counts.connect_errors += 1
                await asyncio.sleep(0.05)
                continue
            try:
                answer = await ask(reader, writer, b"pid")
                counts.pids.add(int(answer.split()[0]))
                if answer.split()[1:] == [b"close"]:
                    raise ValueError("the worker is draining")
            except (TimeoutError, OSError, ValueError, IndexError):
                writer.close()
                writer = None
                continue  # the "pid" probe is not counted as a request
        n += 1
        payload = f"c{i}-r{n}".encode()
        counts.sent += 1
        try:
            answer = await ask(reader, writer, payload)
        except (TimeoutError, OSError) as exc:
            answer = repr(exc).encode()
        words = answer.split()
        if answer.endswith(b"\n") and words and words[0] == payload:
            counts.answered += 1
            if len(words) > 1 and words[1] == b"close":
                writer.close()
                writer = None
                counts.reconnects += 1
        else:
            counts.failed += 1
            counts.per_client[i] = counts.per_client.get(i, 0) + 1
            if len(counts.failures) < 20:
                counts.failures.append(f"client {i} request {n}: {answer[:80]!r}")
            writer.close()
            writer = None
        if pause:
            await asyncio.sleep(pause)
    if writer is not None:
        writer.close()


async def load(port: int, clients: int, duration: float, actions=(), pause: float = 0.0) -> Counts:
    """clients connections for duration seconds; actions: (delay, fn) run in
    the same loop (fn may return a coroutine)."""
    counts = Counts()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client(i, port, counts, stop, pause)) for i in range(clients)]
    t0 = time.monotonic()
    for delay, fn in sorted(actions, key=lambda a: a[0]):
        await asyncio.sleep(max(0.0, t0 + delay - time.monotonic()))
        result = fn()
        if asyncio.iscoroutine(result):
            await result
    await asyncio.sleep(max(0.0, t0 + duration - time.monotonic()))
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return counts
