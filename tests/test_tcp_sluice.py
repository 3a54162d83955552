"""Behaviour of Sluice's TCP layer that asyncio has no counterpart for:
outgoing connections on the C loop, one write per turn, close reasons and
counters, the buffer pool's limit, the idle wheel on a live loop."""

from __future__ import annotations

import socket

import pytest

import sluice

from conftest import run_until, send_until_stalled


class Recorder(sluice.Protocol):
    def __init__(self):
        self.transport = None
        self.data = bytearray()
        self.lost = "not yet"
        self.made = False

    def connection_made(self, transport):
        self.transport = transport
        self.made = True

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.lost = exc


class Echo(sluice.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def test_create_connection_talks_to_a_server_on_the_same_loop(loop):
    server = loop.create_server(Echo, "127.0.0.1", 0)
    client = Recorder()
    transport = loop.create_connection(lambda: client, "127.0.0.1", server.port)
    run_until(loop, lambda: client.made)
    transport.write(b"ping over the loop")
    run_until(loop, lambda: bytes(client.data) == b"ping over the loop")
    transport.close()
    run_until(loop, lambda: client.lost is None)
    server.close()


def test_create_connection_to_a_closed_port_calls_on_error(loop):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    errors = []
    client = Recorder()
    loop.create_connection(lambda: client, "127.0.0.1", port, on_error=errors.append)
    run_until(loop, lambda: errors)
    assert isinstance(errors[0], ConnectionRefusedError) or errors[0].errno == 111
    for _ in range(5):
        loop.run_once(0.01)
    assert not client.made and client.lost == "not yet"  # neither callback ran


def test_writes_of_one_turn_leave_in_one_syscall(loop):
    class Chatty(sluice.Protocol):
        def connection_made(self, transport):
            for i in range(100):
                transport.write(b"part %03d;" % i)

    server = loop.create_server(Chatty, "127.0.0.1", 0)
    s = socket.create_connection(("127.0.0.1", server.port))
    run_until(loop, lambda: loop.stats()["accepted"] == 1)
    before = loop.stats()["writes"]
    s.settimeout(5)
    got = b""
    while len(got) < 900:
        got += s.recv(4096)
    assert got == b"".join(b"part %03d;" % i for i in range(100))
    assert loop.stats()["writes"] - before <= 1  # 100 writes, one syscall
    s.close()
    server.close()


def test_close_reasons_are_counted(loop):
    server = loop.create_server(Recorder, "127.0.0.1", 0)
    a = socket.create_connection(("127.0.0.1", server.port))
    a.close()  # peer closes
    run_until(loop, lambda: loop.stats()["closed"]["peer closed"] == 1 and not server.transports)
    b = socket.create_connection(("127.0.0.1", server.port))
    run_until(loop, lambda: len(server.transports) == 1)
    next(iter(server.transports)).abort()
    run_until(loop, lambda: loop.stats()["closed"]["aborted"] == 1)
    b.close()
    assert loop.stats()["conns_open"] == 0
    server.close()


def test_an_exhausted_pool_closes_one_connection_and_serves_the_rest(loop):
    held = []

    class Hog(sluice.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            if data == b"hog":
                held.append(self)
                self.transport.pause_reading()
                # 8 MiB per write into a socket nobody reads: over the limit soon
                for _ in range(64):
                    self.transport.write(b"h" * (8 << 20))
                    if self.transport.is_closing():
                        break
            else:
                self.transport.write(data)

    sluice.pool_set_limit(64 << 20)
    try:
        server = loop.create_server(Hog, "127.0.0.1", 0)
        hog = socket.create_connection(("127.0.0.1", server.port))
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.sendall(b"hog")
        run_until(loop, lambda: loop.stats()["closed"]["pool exhausted"] == 1)
        fails = sum(c["failures"] for c in sluice.pool_stats()["classes"])
        assert fails >= 1
        # another client is still served
        ok = socket.create_connection(("127.0.0.1", server.port))
        ok.sendall(b"fine")
        ok.settimeout(0.05)
        got = b""
        for _ in range(200):
            try:
                got += ok.recv(10)
            except TimeoutError:
                loop.run_once(0.01)
            if got == b"fine":
                break
        assert got == b"fine"
        ok.close()
        hog.close()
        server.close()
    finally:
        sluice.pool_set_limit(0)
        sluice.pool_trim()


def test_pool_stats_show_blocks_in_use_and_trim_gives_memory_back(loop):
    stats = sluice.pool_stats()
    sizes = [c["block_size"] for c in stats["classes"]]
    assert sizes == [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20]
    server = loop.create_server(Recorder, "127.0.0.1", 0)
    s = socket.create_connection(("127.0.0.1", server.port))
    run_until(loop, lambda: len(server.transports) == 1)
    t = next(iter(server.transports))
    t.write(b"x" * (3 << 20))  # one 4M block until the turn's flush
    during = sluice.pool_stats()
    assert during["classes"][5]["in_use"] >= 1
    t.abort()
    run_until(loop, lambda: not server.transports)
    after = sluice.pool_stats()
    assert after["classes"][5]["in_use"] == 0
    assert after["held_bytes"] > 0
    released = sluice.pool_trim()
    assert released > 0
    assert sluice.pool_stats()["held_bytes"] == after["held_bytes"] - released
    s.close()
    server.close()


def test_idle_connections_are_closed_with_reason_idle(loop):
    server = loop.create_server(Recorder, "127.0.0.1", 0, idle_timeout=0.4, idle_buckets=4)
    quiet = socket.create_connection(("127.0.0.1", server.port))
    talky = socket.create_connection(("127.0.0.1", server.port))
    quiet.setblocking(False)
    import time

    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        talky.send(b".")
        loop.run_once(0.05)
    assert loop.stats()["closed"]["idle"] == 1
    assert server.idle_kicked == 1
    assert len(server.transports) == 1  # the talky one
    assert quiet.recv(10) == b""  # closed by the server
    talky.close()
    quiet.close()
    server.close()


def test_bad_settings_are_refused_with_their_name(loop):
    with pytest.raises(ValueError, match="idle_timeout"):
        loop.create_server(Recorder, "127.0.0.1", 0, idle_timeout=-1)
    with pytest.raises(ValueError, match="low_water"):
        loop.create_server(Recorder, "127.0.0.1", 0, high_water=10, low_water=20)
    with pytest.raises(ValueError, match="pool limit"):
        sluice.pool_set_limit(-5)


def test_write_rejects_non_bytes(loop):
    server = loop.create_server(Recorder, "127.0.0.1", 0)
    s = socket.create_connection(("127.0.0.1", server.port))
    run_until(loop, lambda: len(server.transports) == 1)
    t = next(iter(server.transports))
    with pytest.raises(TypeError, match="data"):
        t.write("text")
    t.write(bytearray(b"ab"))
    t.write(memoryview(b"cd"))
    loop.run_once(0.01)
    s.settimeout(5)
    assert s.recv(10) == b"abcd"
    s.close()
    server.close()


def test_a_protocol_factory_that_raises_closes_that_connection_and_serves_the_next(loop):
    """Before, the C connection stayed open with no protocol: never read,
    never closed, not even by the idle wheel."""
    calls = []

    def factory():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the factory failed on purpose")
        return Echo()

    server = loop.create_server(factory, "127.0.0.1", 0)
    bad = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    bad.setblocking(False)
    got: list[bytes] = []

    def closed() -> bool:
        try:
            got.append(bad.recv(100))
        except BlockingIOError:
            return False
        except ConnectionResetError:
            got.append(b"reset")
        return True

    run_until(loop, closed)
    assert got[-1] in (b"", b"reset")  # EOF or a reset: either way the client is not left waiting
    assert loop.stats()["closed"]["aborted"] == 1
    good = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    good.sendall(b"ping")
    good.setblocking(False)
    echoed = bytearray()

    def answered() -> bool:
        try:
            echoed.extend(good.recv(100))
        except BlockingIOError:
            pass
        return echoed == b"ping"

    run_until(loop, answered)
    bad.close()
    good.close()
    server.close()


def test_the_echo_server_stops_reading_a_client_that_does_not_read(loop):
    from sluice.echo import EchoProtocol

    server = loop.create_server(EchoProtocol, "127.0.0.1", 0)
    sock, _ = send_until_stalled(loop, server.port, b"x" * 65536)
    (transport,) = server.transports
    assert transport.get_write_buffer_size() < 16 << 20
    sock.close()
    server.close()
