"""A line protocol for the process-model tests: each line comes back.

"pid" answers the worker's pid; "block" blocks the worker's loop forever (a
handler that hangs, for the heartbeat test: never something `sluice echo`
would obey). Once a graceful stop is requested, the next answer ends in
" close" and the connection closes after it: a client reconnects, as an
HTTP client does after `Connection: close`.
"""

from __future__ import annotations

import os
import time

from sluice import Protocol


def block_forever() -> None:
    while True:
        time.sleep(0.5)


class LineEcho(Protocol):
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buf = b""
        self.stopping = False

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            if line == b"block":
                block_forever()
            answer = str(os.getpid()).encode() if line == b"pid" else line
            if self.stopping:
                self.transport.write(answer + b" close\n")
                self.transport.close()
                return
            self.transport.write(answer + b"\n")

    def stop_requested(self) -> None:
        self.stopping = True
