"""A minimal HTTP/1.1 keep-alive "hello" responder as a Sluice TCP protocol,
for benchmarks/reload.py (Sluice's HTTP server does not exist yet):

    cd benchmarks/peers && python -m sluice.cli tcp reload_sluice_http:HelloHTTP \
        --bind 127.0.0.1:PORT --workers 2 --pid-file F

A request head ends at the first b"\\r\\n\\r\\n"; GET only, no body. Each one
is answered `HTTP/1.1 200 OK` with Content-Length and "hello"; the
connection stays open (keep-alive) unless the request asked for
`Connection: close`. Once a graceful stop is requested (TERM, or the old
workers of a reload), the NEXT response carries `Connection: close` and the
connection closes after it has left — what the real HTTP server will do. A
connection idle past the server's idle timeout is closed by the idle wheel.
Anything but GET gets 405 and a close; a head over 8 KiB, 431 and a close.
"""

from __future__ import annotations

from sluice import Protocol

BODY = b"hello"
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
NOT_ALLOWED = b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD = 8192


class HelloHTTP(Protocol):
    __slots__ = ("transport", "buf", "stopping")

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buf = b""
        self.stopping = False

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        write = self.transport.write
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            buf = buf[end + 4 :]
            if not head.startswith(b"GET "):
                write(NOT_ALLOWED)
                self.transport.close()
                return
            if self.stopping or _asks_close(head):
                write(OK_CLOSE)
                self.transport.close()  # once the response has left
                return
            write(OK)
        if len(buf) > MAX_HEAD:
            write(TOO_LARGE)
            self.transport.close()
            return
        self.buf = buf

    def stop_requested(self) -> None:
        self.stopping = True

    def eof_received(self) -> bool:
        self.transport.close()
        return True


def _asks_close(head: bytes) -> bool:
    """HTTP/1.0 without keep-alive, or a Connection header that says close."""
    first, _, rest = head.partition(b"\r\n")
    if first.endswith(b"HTTP/1.0"):
        return b"keep-alive" not in rest.lower()
    if b"lose" not in rest:
        return False  # the common case, decided without lowering the head
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"connection" and b"close" in value.lower():
            return True
    return False
