#!/usr/bin/env python3
"""idle_http.py PORT COUNT: opens COUNT keep-alive connections to
127.0.0.1:PORT, each makes one HTTP request and reads the answer, then all
stay open and idle. Prints "ready N" and holds them until stdin closes.
Several source addresses (127.0.0.1 .. 127.0.0.50) widen the port range."""
import resource
import selectors
import socket
import sys
import time

port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 100), hard))
req = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n"
sel = selectors.DefaultSelector()
socks, pending = [], {}
done = 0
deadline = time.time() + 120


def step():
    """One round of events: send the request when connected, read the answer."""
    global done
    for key, ev in sel.select(timeout=1):
        sk = key.fileobj
        if ev & selectors.EVENT_WRITE:
            sk.send(req)
            sel.modify(sk, selectors.EVENT_READ)
            continue
        data = sk.recv(4096)
        pending[sk] += data
        if b"\r\n\r\n" in pending[sk] or not data:
            sel.unregister(sk)
            del pending[sk]
            done += bool(data)


for i in range(count):
    s = socket.socket()
    s.setblocking(False)
    s.bind((f"127.0.0.{1 + i % 50}", 0))
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks.append(s)
    sel.register(s, selectors.EVENT_WRITE)
    pending[s] = b""
    # Keep the number of handshakes in flight bounded.
    while len(pending) > 500 and time.time() < deadline:
        step()
while pending and time.time() < deadline:
    step()
print(f"ready {done}", flush=True)
sys.stdin.read()
for s in socks:
    s.close()
