"""Echo server on Sluice: python echo_sluice.py PORT [--edge-triggered] [--idle-timeout S] [--tracemalloc]

One process, one Loop; an echo Protocol that writes back what it receives.
Prints "ready" once listening; stops on SIGTERM or SIGINT. --tracemalloc:
every SIGUSR1 writes the Python allocations that grew since the previous
SIGUSR1 to stderr (benchmarks/idle_memory.py uses it).
"""

import argparse
import signal
import sys

from sluice import Loop, Protocol


class Echo(Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--edge-triggered", action="store_true")
    ap.add_argument("--idle-timeout", type=float, default=None)
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args()
    with Loop() as loop:
        server = loop.create_server(
            Echo, "127.0.0.1", args.port, edge_triggered=args.edge_triggered, idle_timeout=args.idle_timeout
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, loop.stop)
        if args.tracemalloc:
            from _memreport import MemReport

            loop.add_signal_handler(signal.SIGUSR1, MemReport().report)
        print("ready", flush=True)
        loop.run()
        server.close()


if __name__ == "__main__":
    sys.exit(main())
