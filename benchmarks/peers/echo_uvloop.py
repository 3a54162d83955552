"""Echo server on uvloop: python echo_uvloop.py PORT [--tracemalloc]

One process, one uvloop loop; a plain asyncio.Protocol that writes back what
it receives (the same class as echo_asyncio.py). Prints "ready" once
listening; stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal
import sys

import uvloop


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def serve(port: int, tracemalloc: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=1024)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    if tracemalloc:
        from _memreport import MemReport

        loop.add_signal_handler(signal.SIGUSR1, MemReport().report)
    print("ready", flush=True)
    await stop
    server.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args()
    uvloop.run(serve(args.port, args.tracemalloc))


if __name__ == "__main__":
    sys.exit(main())
