"""The frame echo server on uvloop: python frames_uvloop.py PORT

An asyncio.Protocol speaking docs/protocol.md's frames with struct: each
frame's 12-byte header unpacked and checked (magic, version, type, reserved,
length), application frames sent back with a header packed anew (same type,
flags and payload), PING answered with PONG; a bad header closes the
connection. The replies of one data_received leave in one write. No idle
timeout. Prints "ready" once listening; stops on SIGTERM.
"""

import asyncio
import signal
import struct
import sys

import uvloop

HEADER = struct.Struct(">2sBBHHI")  # magic, version, type, flags, reserved, payload length
MAX_PAYLOAD = 1 << 20
PING, PONG, APP_MIN = 1, 2, 0x10


class FrameEcho(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()

    def data_received(self, data):
        buf = self.buf
        buf += data
        off, end, out = 0, len(buf), []
        while end - off >= 12:
            magic, version, kind, flags, reserved, length = HEADER.unpack_from(buf, off)
            if magic != b"SL" or version != 1 or reserved or length > MAX_PAYLOAD or (kind < APP_MIN and kind > PONG):
                self.transport.close()
                return
            if end - off - 12 < length:
                break
            payload = bytes(buf[off + 12 : off + 12 + length])
            off += 12 + length
            if kind >= APP_MIN:
                out.append(HEADER.pack(b"SL", 1, kind, flags, 0, length) + payload)
            elif kind == PING:
                out.append(HEADER.pack(b"SL", 1, PONG, 0, 0, length) + payload)
        del buf[:off]
        if out:
            self.transport.write(b"".join(out))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FrameEcho, "127.0.0.1", port, backlog=4096)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    print("ready", flush=True)
    await stop
    server.close()


def main() -> None:
    uvloop.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    sys.exit(main())
