"""uvloop + httptools, a raw asyncio.Protocol: python http_uvloop.py PORT

The fastest Python HTTP server one can write on asyncio: httptools parses,
the reply (13-byte body, Content-Type, Content-Length, keep-alive) is written
from on_message_complete; pipelined requests are parsed from the same
data_received call and each reply written as its request completes. No
routing, no Date header. Prints "ready" once listening; stops on SIGTERM.
``SLUICE_BENCH_ALLOCS=DIR`` in the environment counts Python's allocations
(peers/_allocs.py).
"""

import asyncio
import signal
import sys

import _allocs
import httptools
import uvloop

REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\nHello, World!"
CLOSE = REPLY.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


class Hello(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()

    def on_message_complete(self):
        if self.parser.should_keep_alive():
            self.transport.write(REPLY)
        else:
            self.transport.write(CLOSE)
            self.transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Hello, "127.0.0.1", port, backlog=2048)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    print("ready", flush=True)
    await stop
    server.close()


def main() -> None:
    _allocs.maybe_start()
    uvloop.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    sys.exit(main())
