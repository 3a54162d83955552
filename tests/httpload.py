"""Keep-alive HTTP load with honest counts (as lineclient, for HTTP): every
request written gets a complete 200 or is a failure; `Connection: close`
means reconnect, not failure."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Counts:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    reconnects: int = 0
    failures: list[str] = field(default_factory=list)


async def _one(reader, writer, path: str) -> tuple[int, bool]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 10)
    return status, headers.get("connection", "").lower() == "close"


async def _client(port: int, path: str, counts: Counts, stop: asyncio.Event, pause: float):
    writer = reader = None
    while not stop.is_set():
        if writer is None:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
        counts.sent += 1
        try:
            status, close = await _one(reader, writer, path)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            counts.failed += 1
            if len(counts.failures) < 20:
                counts.failures.append(repr(exc))
            writer.close()
            writer = None
            continue
        if status == 200:
            counts.ok += 1
        else:
            counts.failed += 1
            counts.failures.append(f"status {status}")
        if close:
            writer.close()
            writer = None
            counts.reconnects += 1
        if pause:
            await asyncio.sleep(pause)
    if writer is not None:
        writer.close()


async def load(port: int, clients: int, duration: float, actions=(), path: str = "/", pause: float = 0.0) -> Counts:
    counts = Counts()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_client(port, path, counts, stop, pause)) for _ in range(clients)]
    t0 = time.monotonic()
    for delay, fn in sorted(actions, key=lambda a: a[0]):
        await asyncio.sleep(max(0.0, t0 + delay - time.monotonic()))
        fn()
    await asyncio.sleep(max(0.0, t0 + duration - time.monotonic()))
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return counts
