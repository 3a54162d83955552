"""`sluice serve` end to end, in subprocesses on loopback: the bundled site
from any directory, native and WSGI apps found and told apart, status and
metrics that count what the client did, the access log and its reopen, and
a reload under HTTP keep-alive load that fails nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from sluice.serve import ServeHandler

from httpclient import Conn, get
from httpload import load
from servers import ServerProcess, children, wait_until

TESTS = Path(__file__).resolve().parent


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(TESTS), "PYTHONDONTWRITEBYTECODE": "1"}


def serve(*args: str, workers: int = 1, **kw) -> ServerProcess:
    kw.setdefault("env", env())
    return ServerProcess(["serve", *args], "--workers", str(workers), **kw)


def fetch(port: int, path: str = "/", extra: str = ""):
    with Conn(port) as c:
        c.send(get(path, extra=extra))
        return c.reply()


def test_the_bundled_site_is_served_from_any_directory(tmp_path):
    with serve(cwd=str(tmp_path)) as s:
        r = fetch(s.port, "/")
        assert r.status == 200 and b"<title>Sluice</title>" in r.body
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert fetch(s.port, "/status.js").status == 200
        assert fetch(s.port, "/style.css").headers["content-type"].startswith("text/css")
        s.stop()


def test_native_and_wsgi_apps_are_told_apart():
    with serve("apps.webapps:app") as s:
        assert fetch(s.port, "/").body == b"native hello\n"
        s.stop()
    with serve("apps.webapps:wsgi_app") as s:
        assert fetch(s.port, "/x/y").body == b"wsgi hello /x/y"
        s.stop()


def test_wsgi_environ_names_the_bind_and_how_many_processes_may_run_the_app():
    # -w 0: this one process only; with a master, workers run it side by side
    # (and TTIN can add one at any time)
    for workers, multiprocess in ((0, False), (1, True)):
        with serve("apps.webapps:wsgi_environ", workers=workers) as s:
            env = json.loads(fetch(s.port, "/").body)
            assert env == {
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(s.port),
                "wsgi.multiprocess": multiprocess,
                "wsgi.multithread": False,
            }
            s.stop()


def test_wsgi_server_name_is_the_host_of_the_first_bind():
    import threading

    import sluice
    from sluice.serve import serve_builder

    from apps.webapps import wsgi_environ
    from conftest import run_until

    sock = socket.socket(socket.AF_INET6)
    sock.bind(("::1", 0))
    sock.listen()
    sock.setblocking(False)
    port = sock.getsockname()[1]
    got = []

    def client():
        with socket.create_connection(("::1", port), timeout=10) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got.append(b"".join(iter(lambda: c.recv(65536), b"")))

    with sluice.Loop() as loop:
        servers = serve_builder(loop, [sock], wsgi_environ, {"multiprocess": False})
        t = threading.Thread(target=client)
        t.start()
        run_until(loop, lambda: got)
        t.join(10)
        for server in servers:
            server.close()
    sock.close()
    env = json.loads(got[0].partition(b"\r\n\r\n")[2])
    assert env["SERVER_NAME"] == "::1" and env["SERVER_PORT"] == str(port) and env["wsgi.multiprocess"] is False


def test_an_apps_own_date_and_server_are_the_only_ones():
    with serve("apps.webapps:wsgi_own_date", workers=0) as s:
        r = fetch(s.port, "/")
        head = r.raw_head.lower() + b"\r\n"
        assert head.count(b"\r\ndate:") == 1 and b"\r\ndate: mon, 01 jan 2024 00:00:00 gmt\r\n" in head
        assert head.count(b"\r\nserver:") == 1 and b"\r\nserver: mine/1\r\n" in head
        assert r.status == 200 and r.body == b"dated"
        s.stop()


def test_status_and_metrics_count_what_the_client_did(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with serve("--root", str(tmp_path)) as s:
        for _ in range(10):
            assert fetch(s.port, "/a.txt").status == 200
        for _ in range(3):
            assert fetch(s.port, "/missing").status == 404
        time.sleep(1.6)  # a heartbeat publishes the worker's figures
        f = json.loads(fetch(s.port, "/status?format=json").body)
        assert f["requests"] == 13, f
        assert f["status"]["2xx"] == 10 and f["status"]["4xx"] == 3
        assert f["accepted"] == 13 and len(f["workers"]) == 1
        w = f["workers"][0]
        assert w["state"] == "serving" and w["heartbeat_age_ms"] < 5000 and w["pid"] in children(s.proc.pid)
        assert f["pool"][0]["block_size"] == 4096
        text = fetch(s.port, "/status").body.decode()
        assert text.startswith("Active connections: ") and "server accepts handled requests\n" in text
        accepts, handled, requests = map(int, text.splitlines()[2].split())
        assert accepts == handled and 13 <= accepts <= 14 and 13 <= requests <= 14  # + the JSON request, if published
        metrics = fetch(s.port, "/metrics").body.decode()
        assert "# TYPE sluice_requests_total counter" in metrics
        assert 'sluice_responses_total{class="4xx"} 3' in metrics
        s.stop()


def test_status_is_for_loopback_clients_unless_made_public():
    class Peer:
        def __init__(self, host):
            self.peer = (host, 1234)

    class Req:
        path, query = "/status", {}

        def __init__(self, host):
            self.conn = Peer(host)

    handler = ServeHandler(lambda req: "app")
    assert handler(Req("10.1.2.3"))[0] == 403
    assert handler(Req("127.0.0.1"))[0] == 200
    assert handler(Req("::1"))[0] == 200
    assert ServeHandler(None, status_public=True)(Req("10.1.2.3"))[0] == 200


def test_access_log_lines_and_usr1_reopen(tmp_path):
    access = tmp_path / "access.log"
    with serve("apps.webapps:app", "--access-log", str(access), workers=2) as s:
        for _ in range(5):
            fetch(s.port, "/", "User-Agent: tester\r\n")
        wait_until(lambda: access.exists() and access.read_text().count("\n") == 5)
        line = access.read_text().splitlines()[0]
        assert line.startswith("127.0.0.1 - - [") and '"GET / HTTP/1.1" 200 13 "-" "tester"' in line
        access.rename(tmp_path / "access.log.1")
        s.send_signal(signal.SIGUSR1)
        s.wait_log("reopened its log files")
        time.sleep(0.5)
        for _ in range(4):
            fetch(s.port, "/")
        wait_until(lambda: access.exists() and access.read_text().count("\n") == 4)
        s.stop()


def test_reload_under_http_keepalive_load_fails_no_request(tmp_path):
    pid_file = tmp_path / "s.pid"
    with serve("apps.webapps:app", "--pid-file", str(pid_file), workers=2) as s:
        before = wait_until(lambda: len(children(s.proc.pid)) == 2 and children(s.proc.pid))
        counts = asyncio.run(load(s.port, 100, 6.0, actions=[(2.0, lambda: s.send_signal(signal.SIGHUP))]))
        s.wait_log("reload done")
        after = wait_until(lambda: len(children(s.proc.pid)) == 2 and children(s.proc.pid))
        s.stop()
    assert counts.failed == 0, counts.failures
    assert counts.ok == counts.sent > 1000
    assert counts.reconnects >= 50  # the old workers' connections were told Connection: close
    assert not before & after


def test_a_bad_flag_names_itself():
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "serve", "--static", "nope"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "static" in r.stderr and "/PREFIX=DIR" in r.stderr


@pytest.mark.parametrize("bind", ["127.0.0.1:0"])
def test_serve_refuses_a_port_in_use(bind):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        import subprocess

        r = subprocess.run(
            [sys.executable, "-m", "sluice.cli", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1 and "cannot listen" in r.stderr


def test_workers_access_lines_never_interleave(tmp_path):
    access = tmp_path / "access.log"
    with serve("apps.webapps:app", "--access-log", str(access), workers=2) as s:
        agent = "x" * 3000  # long lines: an interleaving write would show
        counts = asyncio.run(_many(s.port, 20, 25, agent))
        assert counts == 500
        wait_until(lambda: access.exists() and access.read_text().count("\n") == 500)
        s.stop()
    pattern = re.compile(r'^127\.0\.0\.1 - - \[[^\]]+\] "GET /pid HTTP/1\.1" 200 \d+ "-" "x{3000}"$')
    lines = access.read_text().splitlines()
    assert len(lines) == 500 and all(pattern.match(line) for line in lines)


async def _many(port: int, conns: int, each: int, agent: str) -> int:
    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = 0
        for _ in range(each):
            writer.write(f"GET /pid HTTP/1.1\r\nHost: t\r\nUser-Agent: {agent}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            await reader.readexactly(length)
            n += 1
        writer.close()
        return n

    return sum(await asyncio.gather(*(one() for _ in range(conns))))
