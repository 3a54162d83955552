"""A small raw-socket HTTP/1.1 client for tests, and an in-process server
run in a thread of its own (the loop belongs to that thread)."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import sluice
from sluice.http import HTTPServer


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    raw_head: bytes


class Conn:
    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def reply(self, head_only: bool = False) -> Reply:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(f"EOF before a complete head: {self.buf[:200]!r}")
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        lines = head.decode("latin-1").split("\r\n")
        _, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if not head_only and int(status) not in (100, 204, 304) and headers.get("transfer-encoding") == "chunked":
            return Reply(int(status), reason, headers, self._chunked_body(), head)
        n = 0 if head_only or int(status) in (100, 204, 304) else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("EOF inside a body")
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return Reply(int(status), reason, headers, body, head)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("EOF inside a chunked body")
        end = self.buf.index(b"\r\n")
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def chunk(self) -> bytes | None:
        """The next chunk of a chunked body (b"" at its end, the trailers read)."""
        size = int(self._line().split(b";")[0], 16)
        if size == 0:
            while self._line():
                pass
            return b""
        while len(self.buf) < size + 2:
            if not self._fill():
                raise EOFError("EOF inside a chunk")
        data = bytes(self.buf[:size])
        assert self.buf[size : size + 2] == b"\r\n", "no CRLF after a chunk"
        del self.buf[: size + 2]
        return data

    def _chunked_body(self) -> bytes:
        parts = []
        while True:
            data = self.chunk()
            if not data:
                return b"".join(parts)
            parts.append(data)

    def head(self) -> Reply:
        """Only the head of a reply (its body is read after, by chunk())."""
        return self.reply(head_only=True)

    def at_eof(self, timeout: float = 5.0) -> bool:
        """True once the server has closed (after what was buffered)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return False
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def get(path: str = "/", host: str = "t", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


class ThreadServer:
    """An HTTPServer on 127.0.0.1:free port, its loop in a thread."""

    def __init__(self, handler, **kw):
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.server: HTTPServer | None = None
        self.loop: sluice.Loop | None = None
        self._thread = threading.Thread(target=self._run, args=(handler, kw), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test server did not start")
        if self._error:
            raise self._error

    def _run(self, handler, kw) -> None:
        try:
            with sluice.Loop() as loop:
                self.loop = loop
                self.server = HTTPServer(loop, handler, "127.0.0.1", 0, **kw)
                self.port = self.server.port
                self._ready.set()
                loop.run()
                self.server.close()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self._error = exc
            self._ready.set()

    def call(self, fn, *args) -> None:
        """Run fn in the loop's thread."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if self._error:
            raise self._error

    def __enter__(self) -> ThreadServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
