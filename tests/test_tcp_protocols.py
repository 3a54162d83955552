"""TCP protocol behaviour, run on Sluice and on asyncio (the reference)."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest

import sluice

from backends import BACKENDS, in_thread, run_until


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    b = BACKENDS[request.param]()
    yield b
    b.close()


def proto_base(backend):
    return sluice.Protocol if backend.name == "sluice" else asyncio.Protocol


def buffered_base(backend):
    return sluice.BufferedProtocol if backend.name == "sluice" else asyncio.BufferedProtocol


def recv_all(sock: socket.socket, n: int | None = None) -> bytes:
    chunks = []
    got = 0
    while n is None or got < n:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def make_recorder(base):
    class Recorder(base):
        instances: list = []

        def __init__(self):
            self.events = []
            self.data = bytearray()
            self.transport = None
            self.lost = None
            Recorder.instances.append(self)

        def connection_made(self, transport):
            self.transport = transport
            self.events.append("made")

        def data_received(self, data):
            assert type(data) is bytes
            self.data += data
            self.events.append("data")

        def eof_received(self):
            self.events.append("eof")

        def connection_lost(self, exc):
            self.lost = exc
            self.events.append("lost")

    return Recorder


def make_echo(base):
    class Echo(base):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

        def eof_received(self):
            return None  # the transport closes itself

    return Echo


def test_echo_round_trip(backend):
    port = backend.start_server(make_echo(proto_base(backend)))
    payload = bytes(range(256)) * 4000

    def client():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return recv_all(s)

    assert in_thread(backend, client) == payload


def test_data_arrives_as_bytes_then_eof_then_lost(backend):
    rec = make_recorder(proto_base(backend))
    port = backend.start_server(rec)

    def client():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"hello")
            s.shutdown(socket.SHUT_WR)
            return recv_all(s)

    assert in_thread(backend, client) == b""
    run_until(backend, lambda: rec.instances and rec.instances[0].lost is None and "lost" in rec.instances[0].events)
    p = rec.instances[0]
    assert bytes(p.data) == b"hello"
    assert p.events[0] == "made" and p.events[-2:] == ["eof", "lost"]
    assert p.lost is None


def test_half_close_keeps_the_write_side_open(backend):
    class HalfClose(proto_base(backend)):
        def connection_made(self, transport):
            self.transport = transport
            self.buf = b""

        def data_received(self, data):
            self.buf += data

        def eof_received(self):
            # The client is done sending; answer, then close.
            self.transport.write(b"got " + self.buf)
            self.transport.close()
            return True

    port = backend.start_server(HalfClose)

    def client():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"question")
            s.shutdown(socket.SHUT_WR)
            return recv_all(s)

    assert in_thread(backend, client) == b"got question"


def test_close_sends_everything_written_first(backend):
    big = b"x" * (3 << 20)

    class Sender(proto_base(backend)):
        def connection_made(self, transport):
            transport.write(big)
            transport.write(b"end")
            transport.close()

    port = backend.start_server(Sender)

    def client():
        with socket.create_connection(("127.0.0.1", port)) as s:
            return recv_all(s)

    assert in_thread(backend, client) == big + b"end"


def test_abort_drops_the_output_and_reports_lost(backend):
    rec_base = make_recorder(proto_base(backend))

    class Aborter(rec_base):
        def data_received(self, data):
            super().data_received(data)
            self.transport.write(b"w" * (32 << 20))
            self.transport.abort()

    port = backend.start_server(Aborter)

    def client():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"hi")
            try:
                return recv_all(s)
            except ConnectionResetError:
                return b""

    # asyncio sends what the socket takes at once; neither sends it all
    assert len(in_thread(backend, client)) < 32 << 20
    run_until(backend, lambda: Aborter.instances and "lost" in Aborter.instances[0].events)
    assert Aborter.instances[0].lost is None


def test_peer_reset_reports_connection_reset(backend):
    rec = make_recorder(proto_base(backend))
    port = backend.start_server(rec)

    def client():
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"x")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST

    in_thread(backend, client)
    run_until(backend, lambda: rec.instances and "lost" in rec.instances[0].events)
    assert isinstance(rec.instances[0].lost, ConnectionResetError)


def test_a_raising_protocol_loses_only_its_own_connection(backend, caplog):
    lost = []

    class Fragile(proto_base(backend)):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            if data.startswith(b"crash"):
                raise ValueError("handler bug")
            self.transport.write(data)

        def connection_lost(self, exc):
            lost.append(exc)

    port = backend.start_server(Fragile)

    def client():
        good = socket.create_connection(("127.0.0.1", port))
        bad = socket.create_connection(("127.0.0.1", port))
        bad.sendall(b"crash")
        bad_result = recv_all(bad)
        good.sendall(b"still served")
        good_result = good.recv(100)
        good.close()
        bad.close()
        return bad_result, good_result

    with caplog.at_level(logging.ERROR):
        bad_result, good_result = in_thread(backend, client)
    assert bad_result == b""
    assert good_result == b"still served"
    assert any("handler bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    run_until(backend, lambda: len(lost) == 2)
    # the broken connection's connection_lost is told why, as asyncio's is; the other's is a clean close
    assert sorted(map(repr, lost)) == sorted([repr(None), repr(ValueError("handler bug"))])


def test_pause_and_resume_writing_around_a_reader_that_stops(backend):
    chunk = b"z" * 65536
    total = 16 << 20

    class Producer(proto_base(backend)):
        def connection_made(self, transport):
            self.transport = transport
            self.paused = 0
            self.resumed = 0
            self.sent = 0
            self.max_buffered = 0
            Producer.last = self
            self.produce()

        def produce(self):
            while not self.paused_now and self.sent < total:
                self.transport.write(chunk)
                self.sent += len(chunk)
                self.max_buffered = max(self.max_buffered, self.transport.get_write_buffer_size())
            if self.sent >= total:
                self.transport.close()

        paused_now = False

        def pause_writing(self):
            self.paused += 1
            self.paused_now = True

        def resume_writing(self):
            self.resumed += 1
            self.paused_now = False
            self.produce()

    port = backend.start_server(Producer)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    run_until(backend, lambda: getattr(Producer, "last", None) is not None and Producer.last.paused)
    p = Producer.last
    for _ in range(20):  # the reader does not read: nothing more is produced
        backend.turn()
    assert p.sent < total
    # what waits in memory is bounded by the high-water mark plus one write
    assert p.max_buffered <= 64 * 1024 + len(chunk)

    got = in_thread(backend, lambda: len(recv_all(sock)), timeout=60)
    sock.close()
    assert got == total
    assert p.resumed >= 1


def test_buffered_protocol_receives_into_its_own_buffer(backend):
    class Into(buffered_base(backend)):
        def __init__(self):
            self.buf = bytearray(1000)
            self.received = bytearray()
            Into.last = self

        def connection_made(self, transport):
            self.transport = transport

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            self.received += self.buf[:nbytes]

        def eof_received(self):
            self.transport.write(bytes(self.received))
            self.transport.close()
            return True

    port = backend.start_server(Into)
    payload = bytes(range(251)) * 3000

    def client():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return recv_all(s)

    assert in_thread(backend, client) == payload


def test_pause_reading_holds_data_until_resumed(backend):
    rec_base = make_recorder(proto_base(backend))

    class Slow(rec_base):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.pause_reading()

    port = backend.start_server(Slow)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"waiting")
    run_until(backend, lambda: Slow.instances)
    for _ in range(20):
        backend.turn()
    assert Slow.instances[0].data == b""
    Slow.instances[0].transport.resume_reading()
    run_until(backend, lambda: Slow.instances[0].data == b"waiting")
    s.close()


def test_extra_info_names_both_ends(backend):
    rec = make_recorder(proto_base(backend))
    port = backend.start_server(rec)
    s = socket.create_connection(("127.0.0.1", port))
    run_until(backend, lambda: rec.instances)
    t = rec.instances[0].transport
    assert t.get_extra_info("peername") == s.getsockname()
    assert t.get_extra_info("sockname") == ("127.0.0.1", port)
    assert t.get_extra_info("nonexistent", "dflt") == "dflt"
    s.close()


@pytest.mark.parametrize("limits", [dict(high=1000), dict(high=1000, low=100), dict(high=0)])
def test_lowered_write_limits_pause_and_resume(limits):
    """set_write_buffer_limits() after the connection was made moves both
    marks: the pause that the new high mark causes is followed by a resume
    once the peer has read (it never came: C kept its own marks). Sluice
    only: asyncio writes at once when nothing waits, so it does not pause."""
    backend = BACKENDS["sluice"]()
    try:
        _lowered_limits(backend, limits)
    finally:
        backend.close()


def _flow_writer(backend, events: list, limits: dict | None = None):
    """A protocol class that records pause/resume in events, keeps its last
    instance as .last and, given limits, sets them when connected."""

    class Writer(proto_base(backend)):
        def connection_made(self, transport):
            self.transport = transport
            if limits is not None:
                transport.set_write_buffer_limits(**limits)
            Writer.last = self

        def pause_writing(self):
            events.append("pause")

        def resume_writing(self):
            events.append("resume")

    return Writer


def _lowered_limits(backend, limits):
    events = []
    Writer = _flow_writer(backend, events, limits)
    port = backend.start_server(Writer)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    run_until(backend, lambda: getattr(Writer, "last", None) is not None)
    w = Writer.last
    w.transport.pause_reading()
    assert not w.transport.is_reading()  # as asyncio's
    w.transport.resume_reading()
    assert w.transport.is_reading()
    w.transport.write(b"x" * 1500)
    assert events == ["pause"]
    got = in_thread(backend, lambda: len(recv_all(sock, 1500)))
    run_until(backend, lambda: events == ["pause", "resume"])
    assert got == 1500 and w.transport.get_write_buffer_size() == 0
    with pytest.raises(ValueError):
        w.transport.set_write_buffer_limits(high=10, low=20)
    sock.close()


def test_high_mark_lowered_below_the_buffered_output_pauses_at_once():
    """As asyncio's set_write_buffer_limits: a high mark set below what
    already waits pauses the protocol then, not at the next write; the
    resume follows once the peer has read. Sluice only: asyncio writes at
    once when nothing waits, so nothing is buffered to lower the mark under."""
    backend = BACKENDS["sluice"]()
    events = []
    try:
        Writer = _flow_writer(backend, events)
        port = backend.start_server(Writer)
        sock = socket.create_connection(("127.0.0.1", port))
        run_until(backend, lambda: getattr(Writer, "last", None) is not None)
        t = Writer.last.transport
        t.write(b"y" * 1500)  # waits for the end of the turn
        assert events == [] and t.get_write_buffer_size() == 1500
        t.set_write_buffer_limits(high=1000)
        assert events == ["pause"]
        got = in_thread(backend, lambda: len(recv_all(sock, 1500)))
        run_until(backend, lambda: events == ["pause", "resume"])
        assert got == 1500
        sock.close()
    finally:
        backend.close()
