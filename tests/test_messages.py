"""Framed messages with heartbeats (issue 16): the router and its batches,
frames split anywhere, framing errors, ping/pong, the reconnecting client
and its backoff, the drain, msg-echo and msg-client, and the idle wheel
with 10,000 clients.

Servers run on the test's loop (the fixture's), clients are raw
non-blocking sockets read between turns, or MessageClients on the same
loop; the CLI tests run `python -m sluice.messages_cli` as subprocesses.
Frames are built here with struct, not with sluice's encoder, so each test
also checks the encoder and the C decoder against the format."""

from __future__ import annotations

import logging
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from unittest import mock

import click
import pytest
from click.testing import CliRunner

import sluice
import sluice.log
from sluice.messages import MAX_PAYLOAD_LIMIT, PING, PONG, Backoff, MessageClient, MessageServer, Router
from sluice.messages_cli import echo_router, register

from conftest import raise_nofile, run_until, send_until_stalled
from servers import ServerProcess

HEADER = struct.Struct(">2sBBHHI")


def frame(kind: int, payload: bytes = b"", flags: int = 0) -> bytes:
    return HEADER.pack(b"SL", 1, kind, flags, 0, len(payload)) + payload


def parse(buf: bytes) -> list[tuple[int, int, bytes]]:
    """(type, flags, payload) of every complete frame in buf."""
    out = []
    while len(buf) >= HEADER.size:
        magic, version, kind, flags, reserved, n = HEADER.unpack_from(buf)
        assert (magic, version, reserved) == (b"SL", 1, 0)
        if len(buf) < HEADER.size + n:
            break
        out.append((kind, flags, bytes(buf[HEADER.size : HEADER.size + n])))
        buf = buf[HEADER.size + n :]
    return out


class Peer:
    """A raw client socket on loopback: it never blocks, so the test can
    turn the server's loop while it waits for the answers."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def poll(self) -> Peer:
        try:
            while chunk := self.sock.recv(65536):
                self.buf += chunk
            self.eof = True
        except BlockingIOError:
            pass
        except ConnectionResetError:
            self.eof = True
        return self

    def frames(self) -> list[tuple[int, int, bytes]]:
        return parse(bytes(self.poll().buf))

    def close(self) -> None:
        self.sock.close()


class Served:
    """A MessageServer on the test's loop, with the reasons its peers left for."""

    def __init__(self, loop, router: Router | None = None, **kw):
        self.reasons: list[str] = []
        self.server = MessageServer(
            loop,
            router or echo_router(),
            on_disconnect=lambda conn, reason: self.reasons.append(reason),
            **kw,
        )
        self.port = self.server.port


def recording_router(calls: list, loop=None) -> Router:
    """A fallback that records (type, flags, payload[, turn]) and echoes."""
    router = Router()

    @router.fallback
    def record(conn, kind, payload):
        calls.append((kind, conn.flags, bytes(payload)) + ((loop.stats()["turns"],) if loop else ()))
        conn.send(kind, payload, conn.flags)

    return router


# ---- the router and the batches -------------------------------------------


def test_on_disconnect_still_knows_the_peers_address(loop):
    gone = []
    server = MessageServer(loop, echo_router(), on_disconnect=lambda conn, reason: gone.append((conn.peer, reason)))
    peer = Peer(server.port)
    me = peer.sock.getsockname()
    peer.send(frame(0x10, b"hi"))
    run_until(loop, lambda: peer.frames() == [(0x10, 0, b"hi")])
    peer.close()
    run_until(loop, lambda: gone)
    assert gone == [(me, "peer closed")]


def test_frames_of_one_read_reach_their_handlers_in_order_in_one_batch(loop):
    calls = []
    served = Served(loop, recording_router(calls, loop))
    peer = Peer(served.port)
    sent = [(0x10 + i % 3, i, b"message %d" % i * i) for i in range(8)]
    peer.send(b"".join(frame(kind, payload, flags) for kind, flags, payload in sent))
    run_until(loop, lambda: len(peer.frames()) == len(sent))
    assert [c[:3] for c in calls] == sent
    assert len({turn for *_, turn in calls}) == 1  # one read, one batch
    assert peer.frames() == sent
    assert served.server.stats()["frames"] == len(sent)
    peer.close()


def test_answers_to_one_read_leave_in_order_with_pongs_big_payloads_and_a_close_after_them(loop):
    # The answers to one read's frames wait and leave together; a PONG, a
    # payload too big to be joined (written at once, after what waited) and
    # a close by a handler all keep the order, and nothing after the close
    # is handled.
    big = bytes(range(256)) * 80  # 20 KiB: past the size joined to its header
    handled = []
    router = Router()

    @router.on(0x10)
    def echo(conn, payload):
        handled.append(0x10)
        conn.send(0x10, payload)

    @router.on(0x11)
    def two(conn, payload):
        handled.append(0x11)
        conn.send(0x11, b"x", flags=7)
        conn.send(0x11, big)

    @router.on(0x12)
    def bye(conn, payload):
        handled.append(0x12)
        conn.send(0x12, b"bye")
        conn.close()

    @router.on(0x13)
    def never(conn, payload):
        handled.append(0x13)

    served = Served(loop, router)
    peer = Peer(served.port)
    peer.send(frame(0x10, b"a") + frame(PING, b"p") + frame(0x11) + frame(0x12) + frame(0x13))
    run_until(loop, lambda: peer.poll().eof)
    assert peer.frames() == [(0x10, 0, b"a"), (PONG, 0, b"p"), (0x11, 7, b"x"), (0x11, 0, big), (0x12, 0, b"bye")]
    assert handled == [0x10, 0x11, 0x12]
    peer.close()


def test_a_router_routes_by_type_and_counts_what_no_handler_takes(loop):
    router = Router()
    seen = []

    @router.on(0x20)
    def twenty(conn, payload):
        seen.append(bytes(payload))
        conn.send(0x21, b"ok " + payload)

    served = Served(loop, router)
    peer = Peer(served.port)
    peer.send(frame(0x30, b"nobody") + frame(0x20, b"x") + frame(0xFF, b""))
    run_until(loop, lambda: peer.frames())
    assert peer.frames() == [(0x21, 0, b"ok x")]
    assert seen == [b"x"]
    assert served.server.stats()["unhandled"] == 2
    assert served.reasons == []  # an unknown type is not an error
    peer.close()


def test_a_router_refuses_protocol_types_and_a_second_handler():
    router = Router()
    for reserved in (0, PING, PONG, 15, 256):
        with pytest.raises(ValueError):
            router.on(reserved)
    router.on(0x10)(lambda conn, payload: None)
    with pytest.raises(ValueError):
        router.on(0x10)(lambda conn, payload: None)


def test_the_payload_is_a_read_only_view_released_after_the_call(loop):
    kept = []
    router = Router()

    @router.on(0x10)
    def keep(conn, payload):
        assert payload.readonly and bytes(payload) == b"abc"
        kept.append(payload)

    served = Served(loop, router)
    peer = Peer(served.port)
    peer.send(frame(0x10, b"abc"))
    run_until(loop, lambda: kept)
    with pytest.raises(ValueError):
        bytes(kept[0])  # released: bytes(payload) inside the call keeps a copy
    peer.close()


def test_send_refuses_protocol_types_and_flags_out_of_range(loop):
    errors = []
    router = Router()

    @router.on(0x10)
    def bad(conn, payload):
        for kind, flags in ((PING, 0), (0x10, 0x10000), (0x10, -1), (300, 0)):
            with pytest.raises(ValueError):
                conn.send(kind, b"", flags)
            errors.append(kind)
        conn.send(0x11, b"big" * 10_000, 0xFFFF)  # past the join threshold: header and payload apart

    served = Served(loop, router)
    peer = Peer(served.port)
    peer.send(frame(0x10))
    run_until(loop, lambda: peer.frames())
    assert len(errors) == 4
    assert peer.frames() == [(0x11, 0xFFFF, b"big" * 10_000)]
    peer.close()


# ---- frames cut anywhere, limits, garbage ------------------------------------


def test_frames_fed_one_byte_at_a_time_decode_the_same(loop):
    calls = []
    served = Served(loop, recording_router(calls))
    peer = Peer(served.port)
    sent = [(0x10, 0, b""), (0x11, 7, bytes(range(256)) * 2), (0x12, 0xFFFF, b"z")]
    stream = b"".join(frame(kind, payload, flags) for kind, flags, payload in sent) + frame(PING, b"t", 3)
    ends = []  # how many bytes had been sent when each handler ran
    for i in range(len(stream)):
        reads = loop.stats()["reads"]
        peer.send(stream[i : i + 1])
        run_until(loop, lambda r=reads: loop.stats()["reads"] > r)
        ends += [i + 1] * (len(calls) - len(ends))
    assert calls == sent
    boundaries = [sum(HEADER.size + len(p) for _, _, p in sent[: k + 1]) for k in range(len(sent))]
    assert ends == boundaries  # each frame handled as its last byte came, once
    run_until(loop, lambda: len(peer.frames()) == 4)
    assert peer.frames() == [*sent, (PONG, 3, b"t")]
    peer.close()


def test_a_frame_of_exactly_max_payload_passes_and_one_byte_more_is_refused(loop):
    served = Served(loop, max_payload=1000)
    ok = Peer(served.port)
    ok.send(frame(0x10, b"m" * 1000))
    run_until(loop, lambda: ok.frames())
    assert ok.frames() == [(0x10, 0, b"m" * 1000)]
    big = Peer(served.port)
    big.send(HEADER.pack(b"SL", 1, 0x10, 0, 0, 1001))  # the header alone: refused before any payload
    run_until(loop, lambda: big.poll().eof and served.reasons)
    assert served.reasons == ["protocol error"]
    assert big.buf == b""
    ok.close()
    big.close()


def test_a_frame_over_the_default_input_limit_arrives_whole_when_max_payload_allows_it(loop):
    served = Served(loop, max_payload=3 << 20)  # C holds the whole frame: its input is raised past 1 MiB
    peer = Peer(served.port)
    payload = random.Random(5).randbytes(3 << 20)
    data = memoryview(frame(0x10, payload) + frame(0x11, b"after"))
    deadline = time.monotonic() + 30
    while data and time.monotonic() < deadline:
        try:
            data = data[peer.sock.send(data[: 256 << 10]) :]
        except BlockingIOError:
            pass
        loop.run_once(0.005)
        peer.poll()
    run_until(loop, lambda: len(peer.frames()) == 2, timeout=30)
    assert peer.frames() == [(0x10, 0, payload), (0x11, 0, b"after")]
    assert served.reasons == []
    peer.close()


@pytest.mark.parametrize("too_big", [0, MAX_PAYLOAD_LIMIT + 1])
def test_max_payload_outside_what_a_frame_connection_holds_is_refused_naming_it(loop, too_big):
    with pytest.raises(ValueError, match="max_payload"):
        MessageServer(loop, Router(), "127.0.0.1", 0, max_payload=too_big)
    with pytest.raises(ValueError, match="max_payload"):
        MessageClient(loop, "127.0.0.1", 1, max_payload=too_big)


BAD_STREAMS = {
    "bad magic": b"GET / HTTP/1.1\r\n\r\n",
    "bad version": b"SL\x02" + bytes(9),
    "reserved frame type": HEADER.pack(b"SL", 1, 0x05, 0, 0, 0),
    "reserved bytes not zero": HEADER.pack(b"SL", 1, 0x10, 0, 1, 0),
    "frame too big": HEADER.pack(b"SL", 1, 0x10, 0, 0, 1 << 31),
    "heartbeat payload over 64 bytes": frame(PING, b"p" * 65),
}


@pytest.mark.parametrize("error", sorted(BAD_STREAMS))
def test_a_bad_frame_closes_with_protocol_error_after_the_frames_before_it(loop, caplog, monkeypatch, error):
    monkeypatch.setattr(sluice.log, "_limiter", sluice.log.RateLimiter())  # a fresh rate limit
    served = Served(loop)
    peer = Peer(served.port)
    with caplog.at_level(logging.WARNING, logger="sluice"):
        peer.send(frame(0x10, b"one") + frame(0x11, b"two") + BAD_STREAMS[error] + frame(0x12, b"never"))
        run_until(loop, lambda: peer.poll().eof and served.reasons)
    assert peer.frames() == [(0x10, 0, b"one"), (0x11, 0, b"two")]
    assert served.reasons == ["protocol error"]
    assert loop.stats()["closed"]["protocol error"] == 1
    assert served.server.stats()["protocol_errors"] == 1
    assert any(error in r.getMessage() for r in caplog.records)
    peer.close()


@pytest.mark.parametrize("seed", range(5))
def test_random_garbage_is_closed_with_protocol_error_and_the_others_are_served(loop, seed):
    garbage = random.Random(seed).randbytes(4096)
    garbage = (b"X" if garbage[0] == ord("S") else b"") + garbage
    served = Served(loop)
    good = Peer(served.port)
    bad = Peer(served.port)
    good.send(frame(0x10, b"before"))
    bad.send(garbage)
    run_until(loop, lambda: bad.poll().eof and good.frames() and served.reasons)
    assert served.reasons == ["protocol error"]
    good.send(frame(0x10, b"after"))
    run_until(loop, lambda: len(good.frames()) == 2)
    assert good.frames() == [(0x10, 0, b"before"), (0x10, 0, b"after")]
    assert served.server.is_serving()
    good.close()
    bad.close()


def test_a_handler_that_raises_closes_only_its_connection(loop, caplog, monkeypatch):
    monkeypatch.setattr(sluice.log, "_limiter", sluice.log.RateLimiter())
    router = echo_router()

    @router.on(0x20)
    def broken(conn, payload):
        raise RuntimeError("handler bug")

    served = Served(loop, router)
    victim = Peer(served.port)
    bystander = Peer(served.port)
    with caplog.at_level(logging.ERROR, logger="sluice"):
        victim.send(frame(0x20, b"boom") + frame(0x10, b"not handled"))
        bystander.send(frame(0x10, b"fine"))
        run_until(loop, lambda: victim.poll().eof and bystander.frames() and served.reasons)
    assert victim.frames() == []
    assert served.reasons == ["aborted"]
    assert any(r.exc_info and "handler bug" in str(r.exc_info[1]) for r in caplog.records)
    bystander.send(frame(0x10, b"still"))
    run_until(loop, lambda: len(bystander.frames()) == 2)
    victim.close()
    bystander.close()


# ---- heartbeats ----------------------------------------------------------------


def test_the_server_answers_pings_without_user_code_and_ignores_pongs(loop):
    calls = []
    served = Served(loop, recording_router(calls))
    peer = Peer(served.port)
    peer.send(frame(PONG, b"unasked") + frame(PING, b"t" * 64, 5) + frame(0x10, b"x") + frame(PING))
    run_until(loop, lambda: len(peer.frames()) == 3)
    assert peer.frames() == [(PONG, 5, b"t" * 64), (0x10, 0, b"x"), (PONG, 0, b"")]  # in order
    assert calls == [(0x10, 0, b"x")]
    stats = served.server.stats()
    assert (stats["pings"], stats["pongs"], stats["frames"]) == (2, 1, 4)
    assert served.reasons == []
    peer.close()


class Swallow(sluice.Protocol):
    """A server that reads everything and answers nothing."""

    received = bytearray()

    def data_received(self, data: bytes) -> None:
        Swallow.received += data


def test_a_client_declares_a_server_that_swallows_pings_dead_after_misses_intervals(loop):
    Swallow.received = bytearray()
    server = loop.create_server(Swallow, "127.0.0.1", 0)
    events = []
    client = MessageClient(
        loop,
        "127.0.0.1",
        server.port,
        interval=0.1,
        misses=3,
        on_connect=lambda conn: events.append(("up", time.monotonic())),
        on_disconnect=lambda conn, reason: events.append((reason, time.monotonic())),
    )
    run_until(loop, lambda: len(events) == 2, timeout=10)
    client.close()
    (up, t0), (reason, t1) = events
    assert reason == "timeout"
    # PINGs at the first three ticks, each unanswered a whole interval; dead at the fourth
    assert 0.4 - 0.01 <= t1 - t0 <= 0.4 + 1.0
    assert parse(bytes(Swallow.received)) == [(PING, 0, b"")] * 3
    server.close()


def test_a_client_of_a_live_server_pings_when_quiet_and_is_never_declared_dead(loop):
    served = Served(loop)
    lost = []
    client = MessageClient(
        loop, "127.0.0.1", served.port, interval=0.05, misses=2, on_disconnect=lambda conn, reason: lost.append(reason)
    )
    deadline = time.monotonic() + 1.0
    run_until(loop, lambda: time.monotonic() > deadline)
    assert client.connected and lost == []
    assert 10 <= served.server.stats()["pings"] <= 21  # a PING at every tick of a quiet client
    assert client.stats()["pongs"] >= 10
    client.close()
    run_until(loop, lambda: served.reasons)


def test_a_client_in_conversation_sends_no_pings(loop):
    served = Served(loop)
    client = MessageClient(loop, "127.0.0.1", served.port, interval=0.25)
    run_until(loop, lambda: client.connected)
    talker = loop.call_every(0.02, lambda: client.send(0x10, b"chat"))
    deadline = time.monotonic() + 0.8
    run_until(loop, lambda: time.monotonic() > deadline)
    talker.cancel()
    assert client.stats()["frames"] >= 20  # echoes came back all along
    assert served.server.stats()["pings"] == 0  # traffic both ways is proof enough
    client.close()


# ---- reconnecting --------------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter_and_starts_over_on_reset():
    draws = iter([0.5, 0.25, 0.999, 0.0, 0.5, 0.75, 0.5])
    backoff = Backoff(0.1, 1.0, random=draws.__next__)
    waits = [backoff.next() for _ in range(6)]
    assert waits == [0.5 * 0.1, 0.25 * 0.2, 0.999 * 0.4, 0.0, 0.5 * 1.0, 0.75 * 1.0]  # ceilings 0.1 .. 0.8, then 1.0
    backoff.reset()
    assert backoff.next() == 0.5 * 0.1
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def test_a_client_retries_with_the_injected_jitter_and_starts_over_after_a_long_connection(loop):
    draws = [0.5, 0.25, 1.0, 0.125, 0.75, 0.5, 0.5, 0.5]
    source = iter(draws)
    now = [100.0]
    waits = []
    port = closed_port()
    client = MessageClient(
        loop,
        "127.0.0.1",
        port,
        backoff_initial=0.01,
        backoff_max=0.04,
        random=source.__next__,
        clock=lambda: now[0],
        on_connect_error=lambda exc: waits.append(client.retry_delay),
    )
    run_until(loop, lambda: len(waits) == 5)
    assert waits == [0.5 * 0.01, 0.25 * 0.02, 1.0 * 0.04, 0.125 * 0.04, 0.75 * 0.04]
    # A server comes up; the next attempt connects.
    served = Served(loop, port=port)
    run_until(loop, lambda: client.connected)
    now[0] += 0.01  # a short connection: the backoff goes on from its ceiling
    served.server.close_clients()
    run_until(loop, lambda: client.connected is False and client.retry_delay is not None)
    assert client.retry_delay == 0.5 * 0.04
    run_until(loop, lambda: client.connected)
    now[0] += 0.04  # as long as the longest wait: start over
    served.server.close_clients()
    run_until(loop, lambda: client.connected is False and client.retry_delay is not None)
    assert client.retry_delay == 0.5 * 0.01
    client.close()
    assert client.retry_delay is None


def test_a_client_closed_while_connecting_stops_for_good(loop):
    served = Served(loop)
    events = []
    client = MessageClient(loop, "127.0.0.1", served.port, on_connect=events.append)
    client.close()
    for _ in range(5):
        loop.run_once(0.02)
    assert events == [] and not client.connected and client.retry_delay is None
    with pytest.raises(ConnectionError):
        client.send(0x10, b"x")


MESSAGES_CLI = "sluice.messages_cli"


class MsgEcho(ServerProcess):
    """`msg-echo` under ServerProcess, which runs `python -m sluice.cli
    COMMAND`: until the sluice command registers msg-echo, the command line
    is pointed at `python -m sluice.messages_cli` (afterwards this class is
    `ServerProcess(["msg-echo"], ...)`)."""

    def __init__(self, *args: str, **kw):
        popen = subprocess.Popen

        def to_messages_cli(cmd, **popen_kw):
            return popen([MESSAGES_CLI if part == "sluice.cli" else part for part in cmd], **popen_kw)

        with mock.patch.object(subprocess, "Popen", to_messages_cli):
            super().__init__(["msg-echo"], *args, **kw)


def msg_client(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", MESSAGES_CLI, "msg-client", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
    )


def test_a_client_reconnects_and_resumes_after_its_server_is_killed_and_restarted(loop):
    first = MsgEcho("--workers", "0")
    port = first.port
    events = []
    echoes = []
    router = Router()
    router.fallback(lambda conn, kind, payload: echoes.append(bytes(payload)))
    client = MessageClient(
        loop,
        "127.0.0.1",
        port,
        backoff_initial=0.05,
        backoff_max=0.2,
        on_connect=lambda conn: events.append("connect"),
        on_disconnect=lambda conn, reason: events.append(reason),
        on_connect_error=lambda exc: events.append("refused"),
        on_message=router,
    )
    try:
        run_until(loop, lambda: client.connected)
        client.send(0x10, b"before")
        run_until(loop, lambda: echoes == [b"before"])
        first.kill()  # SIGKILL, the whole process group
        run_until(loop, lambda: "refused" in events)
        with MsgEcho("--workers", "0", "--bind", f"127.0.0.1:{port}", bind=False):
            run_until(loop, lambda: client.connected, timeout=30)
            client.send(0x10, b"after")
            run_until(loop, lambda: echoes == [b"before", b"after"])
            client.close()
            run_until(loop, lambda: events[-1] == "closed")
    finally:
        first.kill()
    assert events[0] == "connect" and events[1] in ("peer closed", "reset")
    assert set(events[2:-2]) == {"refused"} and events[-2:] == ["connect", "closed"]


# ---- draining ------------------------------------------------------------------


def test_on_stop_each_connection_closes_after_its_next_answer(loop):
    served = Served(loop)
    idle = Peer(served.port)
    split = Peer(served.port)
    arriving = frame(0x11, b"arriving")
    split.send(arriving[:5])
    run_until(loop, lambda: loop.stats()["bytes_in"] >= 5)
    served.server.request_stop()
    idle.send(frame(0x10, b"one") + frame(0x10, b"two"))  # one read: both answered, then EOF
    run_until(loop, lambda: idle.poll().eof)
    assert idle.frames() == [(0x10, 0, b"one"), (0x10, 0, b"two")]
    assert not split.poll().eof  # nothing answered yet: it stays
    split.send(arriving[5:])
    run_until(loop, lambda: split.poll().eof and len(served.reasons) == 2)
    assert split.frames() == [(0x11, 0, b"arriving")]
    assert served.reasons == ["closed", "closed"]
    idle.close()
    split.close()


def test_on_stop_an_answer_with_a_frame_half_received_waits_for_the_rest(loop):
    served = Served(loop)
    peer = Peer(served.port)
    run_until(loop, lambda: served.server.transports)
    served.server.request_stop()
    second = frame(0x11, b"second")
    peer.send(frame(0x10, b"first") + second[:7])
    run_until(loop, lambda: peer.frames())
    for _ in range(3):
        loop.run_once(0.02)
    assert not peer.poll().eof  # answered, but the second frame is still on its way
    peer.send(second[7:])
    run_until(loop, lambda: peer.poll().eof and served.reasons)
    assert peer.frames() == [(0x10, 0, b"first"), (0x11, 0, b"second")]
    assert served.reasons == ["closed"]
    peer.close()


# ---- the commands --------------------------------------------------------------


def test_msg_echo_and_msg_client_count_100_end_to_end():
    with MsgEcho("--workers", "0") as server:
        done = msg_client(f"127.0.0.1:{server.port}", "--count", "100", "--size", "200", "--type", "42")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.decode().splitlines()
        assert len(lines) == 101 and re.match(r"100: 200 bytes, [\d.]+ ms", lines[99])
        summary = r"100 of 100 frames came back; round trip min [\d.]+ / median [\d.]+ / max [\d.]+ ms"
        assert re.match(summary, lines[100])
        lines_in = msg_client(f"127.0.0.1:{server.port}", "--stdin", "-q", stdin=b"one\ntwo\n\nfour\n")
        assert lines_in.returncode == 0 and lines_in.stdout.startswith(b"4 of 4 frames came back")
        log = server.stop()
    assert server.proc.returncode == 0
    assert "stopping: 2 connections served" in log


@pytest.fixture(scope="module")
def commands() -> click.Group:
    group = click.Group("sluice")
    register(group)
    return group


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["msg-echo", "--bind", "nonsense"], "HOST:PORT"),
        (["msg-echo", "--idle-timeout", "-1"], "idle-timeout"),
        (["msg-echo", "--max-payload", "0"], "max-payload"),
        (["msg-echo", "--max-payload", str(8 << 20)], "max-payload"),
        (["msg-client", "nonsense"], "ADDRESS"),
        (["msg-client", "127.0.0.1:1", "--type", "2"], "type"),
    ],
)
def test_the_commands_refuse_bad_arguments_naming_them(commands, args, named):
    result = CliRunner().invoke(commands, args)
    assert result.exit_code == 2
    assert named in result.output


def test_msg_echo_reports_a_port_in_use_and_exits_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        bind = f"127.0.0.1:{s.getsockname()[1]}"
        command = [sys.executable, "-m", MESSAGES_CLI, "msg-echo", "--workers", "0", "--bind", bind]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "cannot listen" in done.stderr and "in use" in done.stderr


def test_msg_client_fails_without_a_server_and_says_why():
    done = msg_client(f"127.0.0.1:{closed_port()}", "--count", "3", "--timeout", "5")
    assert done.returncode == 1
    assert b"0 of 3 frames came back" in done.stdout
    assert b"cannot connect" in done.stderr and b"refused" in done.stderr


def test_msg_client_fails_when_the_server_refuses_its_frames():
    with MsgEcho("--workers", "0", "--max-payload", "100") as server:
        done = msg_client(f"127.0.0.1:{server.port}", "--count", "2", "--size", "101")
        log = server.stop(sig=signal.SIGTERM)
    assert done.returncode == 1
    assert b"the connection closed" in done.stderr
    # the client names the frame and the likely cause; the server's log, the limit
    assert b"instead of answering frame 1 (101 bytes)" in done.stderr and b"--max-payload" in done.stderr
    assert "frame too big (the largest payload taken is 100 bytes)" in log


def test_msg_echo_with_two_workers_end_to_end_and_a_clean_stop():
    with MsgEcho("--workers", "2", "--idle-timeout", "8") as server:
        server.wait_log(r"worker \d+ serving")
        runs = [msg_client(f"127.0.0.1:{server.port}", "-q", "--count", "20") for _ in range(4)]
        assert [r.returncode for r in runs] == [0] * 4, runs[0].stderr
        assert all(r.stdout.startswith(b"20 of 20 frames came back") for r in runs)
        log = server.stop(sig=signal.SIGTERM)
    assert server.proc.returncode == 0
    assert len(re.findall(r"worker \d+ exiting", log)) == 2
    served = sum(int(n) for n in re.findall(r"stopping: (\d+) connections served", log))
    assert served == 4


# ---- the idle wheel with 10,000 clients --------------------------------------------


class Client(sluice.Protocol):
    """One of the 10,000: counts what comes back, notes when it is closed."""

    __slots__ = ("transport", "started", "received", "lost_after")

    def __init__(self, started: float):
        self.started = started
        self.received = 0
        self.lost_after: float | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += len(data)

    def connection_lost(self, exc) -> None:
        self.lost_after = time.monotonic() - self.started


def test_ten_thousand_clients_and_exactly_the_1000_silent_are_kicked_after_a_whole_turn(loop):
    n, silent_every, timeout = 10_000, 10, 2.0
    if raise_nofile(n + 500) < n + 500:
        pytest.skip(f"RLIMIT_NOFILE cannot be raised to {n + 500} here")
    ping = frame(PING)
    clients: list[Client] = []
    active: list[Client] = []
    with MsgEcho("--workers", "0", "--idle-timeout", str(timeout), log_level="debug") as server:
        pinger = loop.call_every(timeout / 4, lambda: [c.transport.write(ping) for c in active])
        for start in range(0, n, 500):
            for _ in range(500):
                client = Client(time.monotonic())  # before the server accepts: its clock starts later
                loop.create_connection(lambda c=client: c, "127.0.0.1", server.port)
                clients.append(client)
            batch = clients[start:]
            run_until(loop, lambda b=batch: all(hasattr(c, "transport") for c in b), timeout=30)
            active += [c for i, c in enumerate(batch, start) if i % silent_every]
        silent = clients[::silent_every]
        opened = time.monotonic()
        run_until(loop, lambda: all(c.lost_after is not None for c in silent), timeout=timeout + 30)
        run_until(loop, lambda: time.monotonic() > opened + 3 * timeout, timeout=3 * timeout + 5)
        pinger.cancel()
        assert [c for c in active if c.lost_after is not None] == []  # no active one was kicked
        before = [c.received for c in active]
        for c in active:
            c.transport.write(ping)
        run_until(loop, lambda: all(c.received >= b + 12 for c, b in zip(active, before, strict=True)), timeout=30)
        for c in active:
            c.transport.close()
        run_until(loop, lambda: all(c.lost_after is not None for c in active), timeout=30)
        log = server.stop()
    assert len(silent) == 1000 and len(active) == 9000
    idle_for = [c.lost_after for c in silent]
    # never before the timeout; no later than one tick after it, and a generous margin
    assert min(idle_for) >= timeout - 0.01
    assert max(idle_for) <= timeout + timeout / 8 + 5.0
    assert re.search(r"stopping: 10000 connections served, 1000 closed idle", log), log[-2000:]
    assert len(re.findall(r"closing an idle connection", log)) == 1000  # each kick logged at debug


def test_a_peer_that_sends_but_never_reads_is_held_back_not_buffered(loop):
    """Its answers past the high-water mark pause reading its frames (as the
    HTTP layer does), so the server's output for it stays bounded: before,
    an echo server queued hundreds of MB for such a client until the pool
    was spent and another connection was closed."""
    served = Served(loop)
    sock, sent = send_until_stalled(loop, served.port, frame(0x10, b"x" * 65536))  # bounded: 20000 sends at most
    transport = next(iter(served.server.transports))
    assert transport.get_write_buffer_size() < 16 << 20, transport.get_write_buffer_size()
    assert sent < 64 << 20
    other = Peer(served.port)  # the others are served meanwhile
    other.send(frame(0x11, b"still here"))
    run_until(loop, lambda: other.frames() == [(0x11, 0, b"still here")])
    other.close()
    sock.close()


@pytest.mark.parametrize("interval", [float("nan"), float("inf"), 0, -1])
def test_a_client_refuses_an_interval_that_is_not_a_finite_positive_number(loop, interval):
    with pytest.raises(ValueError, match="interval"):
        MessageClient(loop, "127.0.0.1", 1, interval=interval)


def test_a_port_past_65535_is_refused_not_wrapped(loop):
    """getaddrinfo takes 65536 + p as p: the client would reach another port."""
    with pytest.raises(ValueError, match="port"):
        MessageClient(loop, "127.0.0.1", 65536 + 9)


def test_a_host_name_is_looked_up_off_the_loop(loop, monkeypatch):
    """A slow resolver holds only the connect, not the loop: its timers and
    other connections go on; the name's failure is a connect error, retried."""
    import threading

    served = Served(loop)
    release = threading.Event()
    real = socket.getaddrinfo
    names = []

    def slow(host, *args, **kw):
        if host in ("sluice-test-host", "sluice-test-unknown"):
            names.append((host, threading.current_thread() is threading.main_thread()))
            assert release.wait(10)
            if host == "sluice-test-unknown":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = "127.0.0.1"
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    errors = []
    client = MessageClient(loop, "sluice-test-host", str(served.port), interval=0.5)
    bad = MessageClient(loop, "sluice-test-unknown", served.port, on_connect_error=errors.append, backoff_initial=5)
    ticks = []
    timer = loop.call_every(0.01, lambda: ticks.append(1))
    run_until(loop, lambda: len(ticks) >= 5)  # the loop turns while both names are looked up
    assert not client.connected and sorted(names) == [("sluice-test-host", False), ("sluice-test-unknown", False)]
    release.set()
    run_until(loop, lambda: client.connected and errors)
    timer.cancel()
    assert isinstance(errors[0], OSError) and "not known" in str(errors[0])
    assert bad.retry_delay is not None  # and it tries again later
    client.send(0x10, b"by name")
    run_until(loop, lambda: client.stats()["frames"] == 1)
    client.close()
    bad.close()
    run_until(loop, lambda: served.reasons)


def test_send_takes_strided_views_and_names_a_str(loop):
    answers: list = []
    router = Router()

    @router.on(0x10)
    def strided(conn, payload):
        conn.send(0x10, memoryview(b"a-b-c-")[::2])  # not contiguous: copied, sent
        try:
            conn.send(0x11, "text")
        except TypeError as exc:
            answers.append(str(exc))

    served = Served(loop, router)
    peer = Peer(served.port)
    peer.send(frame(0x10))
    run_until(loop, lambda: peer.frames() == [(0x10, 0, b"abc")])
    assert answers and "not str" in answers[0]
    peer.close()


def test_a_big_heartbeat_is_refused_on_its_header_without_waiting_for_its_payload(loop):
    served = Served(loop)
    peer = Peer(served.port)
    peer.send(frame(0x10, b"one") + HEADER.pack(b"SL", 1, PING, 0, 0, 1 << 20))  # no payload follows
    run_until(loop, lambda: peer.poll().eof and served.reasons)
    assert peer.frames() == [(0x10, 0, b"one")]
    assert served.reasons == ["protocol error"]
    peer.close()


def test_a_host_name_s_next_address_is_tried_when_the_first_refuses(loop, monkeypatch):
    """localhost may give ::1 first while the server listens on 127.0.0.1."""
    served = Served(loop)
    real = socket.getaddrinfo

    def both(host, *args, **kw):
        if host == "sluice-test-two":  # 127.0.0.2 first: nothing listens there, a refusal
            return [*real("127.0.0.2", *args, **kw), *real("127.0.0.1", *args, **kw)]
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", both)
    errors = []
    client = MessageClient(loop, "sluice-test-two", served.port, on_connect_error=errors.append)
    run_until(loop, lambda: client.connected)
    assert not errors  # the refusal of the first address was not the attempt's end
    client.close()
    run_until(loop, lambda: served.reasons)


def test_msg_client_refuses_port_0_with_a_usage_error():
    done = msg_client("localhost:0", "--count", "1", "--timeout", "5")
    assert done.returncode == 2
    assert b"1..65535" in done.stderr and b"Traceback" not in done.stderr
