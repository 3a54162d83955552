"""`sluice echo` under load, as a subprocess: 10,000 connections, a connect
burst, EMFILE, and the idle wheel with 10,000 connections (real time, with
generous margins: the exact bounds are tested with a fake clock in
test_wheel.py)."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import pytest

from conftest import raise_nofile
from servers import EchoServer


def pattern(i: int, n: int = 1500) -> bytes:
    seed = f"conn {i:05d} ".encode()
    return (seed * (n // len(seed) + 1))[:n]


async def open_many(port: int, count: int, batch: int = 500):
    conns = []
    for start in range(0, count, batch):
        part = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(min(batch, count - start)))
        )
        conns.extend(part)
    return conns


async def echo_check(reader, writer, data: bytes, pieces: int = 3) -> bool:
    step = len(data) // pieces + 1
    for k in range(0, len(data), step):
        writer.write(data[k : k + step])
        await writer.drain()
    got = await reader.readexactly(len(data))
    return got == data


@pytest.mark.parametrize("mode", ["--level-triggered", "--edge-triggered"])
def test_ten_thousand_concurrent_connections_each_get_their_own_bytes_back(mode):
    if raise_nofile(12_000) < 12_000:
        pytest.skip("RLIMIT_NOFILE cannot be raised to 12,000 here")
    n = 10_000

    async def main(port):
        conns = await open_many(port, n)
        results = await asyncio.wait_for(
            asyncio.gather(*(echo_check(r, w, pattern(i)) for i, (r, w) in enumerate(conns))), 120
        )
        for _, w in conns:
            w.close()
        return results

    with EchoServer(mode, "--idle-timeout", "0") as server:
        results = asyncio.run(main(server.port))
        assert server.alive()
        log = server.stop()
    assert results.count(True) == n
    m = re.search(r"stopping: (\d+) connections served", log)
    assert m and int(m.group(1)) == n


def test_a_burst_of_2000_connects_is_all_accepted_edge_triggered():
    if raise_nofile(5000) < 5000:
        pytest.skip("RLIMIT_NOFILE cannot be raised to 5,000 here")
    with EchoServer("--edge-triggered", "--idle-timeout", "0", "--backlog", "4096") as server:
        socks = []
        # All 2,000 SYNs in one go: non-blocking connects, no waiting between.
        for _ in range(2000):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", server.port))
            socks.append(s)
        for s in socks:
            s.setblocking(True)
            s.settimeout(30)
        for i, s in enumerate(socks):
            s.sendall(b"%d\n" % i)
        answered = 0
        for i, s in enumerate(socks):
            want = b"%d\n" % i
            got = b""
            while len(got) < len(want):
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
            answered += got == want
            s.close()
        assert answered == 2000
        assert server.alive()


def test_emfile_is_survived_and_the_waiting_connections_are_served_after():
    limit = 64
    with EchoServer("--idle-timeout", "0", nofile=limit) as server:
        socks = []
        for _ in range(limit + 40):  # more than the server can hold open
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            socks.append(s)
        # The first ones are served.
        socks[0].sendall(b"first")
        assert socks[0].recv(10) == b"first"
        time.sleep(0.5)
        assert server.alive()
        # The last ones wait in the backlog; freeing descriptors lets them in.
        for s in socks[:50]:
            s.close()
        for s in socks[-20:]:
            s.sendall(b"late")
            assert s.recv(10) == b"late"
        for s in socks[50:]:
            s.close()
        log = server.stop()
    m = re.search(r"(\d+) accept errors", log)
    assert m and int(m.group(1)) > 0, log
    assert "Too many open files" in log


def test_idle_wheel_closes_the_silent_and_never_the_active_with_10000_connections():
    if raise_nofile(12_000) < 12_000:
        pytest.skip("RLIMIT_NOFILE cannot be raised to 12,000 here")
    n = 10_000
    timeout = 2.0

    async def main(port):
        active: list = []
        silent: list = []  # (reader, writer, opened at)
        closed_after: list[float] = []
        opening = True

        async def keep_talking():  # a byte every 0.25 s on every active connection
            while opening or time.monotonic() < talk_until:
                for _, w in active:
                    w.write(b".")
                await asyncio.sleep(0.25)

        async def watch(reader, opened):
            await reader.read(1)  # b"" at EOF: the server closed it
            closed_after.append(time.monotonic() - opened)

        talk_until = float("inf")
        talker = asyncio.ensure_future(keep_talking())
        watchers = []

        async def connect():
            started = time.monotonic()  # before the server accepted (its clock starts there)
            r, w = await asyncio.open_connection("127.0.0.1", port)
            return r, w, started

        for _ in range(0, n, 500):
            batch = await asyncio.gather(*(connect() for _ in range(500)))
            for k, (r, w, opened) in enumerate(batch):
                if k % 2:
                    silent.append((r, w))
                    watchers.append(asyncio.ensure_future(watch(r, opened)))
                else:
                    w.write(b".")
                    active.append((r, w))
        opening = False
        talk_until = time.monotonic() + 3 * timeout
        await talker
        await asyncio.wait(watchers, timeout=10)
        for _, w in active:
            w.write(b"!")
        still_open_active = 0
        for r, _ in active:
            try:
                data = await asyncio.wait_for(r.readuntil(b"!"), 10)
                still_open_active += data.endswith(b"!")
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
        for _, w in active + silent:
            w.close()
        return closed_after, still_open_active

    with EchoServer("--idle-timeout", str(timeout)) as server:
        closed_after, still_open_active = asyncio.run(main(server.port))
        log = server.stop()
    assert still_open_active == n // 2  # no active connection was kicked
    assert len(closed_after) == n // 2  # every silent one was
    # Never before the timeout (the client's clock starts before the server
    # accepted); no later than timeout + one tick + a generous margin.
    assert min(closed_after) >= timeout - 0.01
    assert max(closed_after) <= timeout + timeout / 8 + 5.0
    m = re.search(r"(\d+) closed idle", log)
    assert m and int(m.group(1)) == n // 2
