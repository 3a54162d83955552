"""`sluice bench` end to end: against `sluice serve` (its own /status
counters must equal bench's counts exactly) and against small servers of
the test's own that answer in varied shapes or misbehave on purpose
(garbage, resets, silence, a stop in the middle of the run); --close,
pipelining, --rate, --json, --latency, durations, bad input, and webbench
mode's report and refusals. Every run is 0.5-2 s and every subprocess has
a timeout."""

from __future__ import annotations

import http.client
import json
import re
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest

from sluice.bench.run import BenchError, parse_duration, parse_header, parse_url, render_request

from servers import ServerProcess

BENCH = [sys.executable, "-m", "sluice.cli", "bench"]
HEARTBEAT_S = 0.25  # the server's --timeout 1 makes its workers report every 0.25 s


def bench(*args: str, timeout: float = 30, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn)


def bench_json(*args: str, **kw) -> tuple[dict, subprocess.CompletedProcess]:
    r = bench(*args, "--json", **kw)
    assert r.stdout.count("\n") == 1 and r.stdout.endswith("}\n"), (r.stdout, r.stderr)
    return json.loads(r.stdout), r


@pytest.fixture(scope="module")
def server():
    with ServerProcess(["serve"], "--workers", "1", "--timeout", "1") as s:
        yield s


class Status:
    """/status?format=json over one kept-alive connection, read once the
    worker's report has caught up (two heartbeats later): then every request
    before the read is in it, the read itself is not, and the connection's
    own accept is counted before the first figures are taken."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.read()

    def read(self) -> dict:
        time.sleep(2.5 * HEARTBEAT_S)
        self.conn.request("GET", "/status?format=json")
        resp = self.conn.getresponse()
        assert resp.status == 200
        return json.loads(resp.read())

    def close(self) -> None:
        self.conn.close()


def server_delta(port: int, run):
    status = Status(port)
    try:
        settled = status.read()
        for _ in range(10):  # a connection a previous test's generator left in the accept queue: let it land
            again = status.read()
            if again["accepted"] == settled["accepted"]:
                break
            settled = again
        before = status.read()
        result = run()
        after = status.read()
    finally:
        status.close()
    delta = {k: after[k] - before[k] for k in ("requests", "accepted")}
    delta["status"] = {k: after["status"][k] - before["status"][k] for k in after["status"]}
    delta["requests"] -= 1  # the `before` read itself
    delta["status"]["2xx"] -= 1
    return result, delta


# ---- against sluice serve: the server's own counters ------------------------


def test_counts_equal_what_the_server_counted_and_json_is_all_of_stdout(server):
    url = f"http://127.0.0.1:{server.port}/"
    (out, r), delta = server_delta(server.port, lambda: bench_json(url, "-c", "4", "-d", "1s"))
    assert r.returncode == 0, r.stderr
    assert out["requests"] > 100
    assert out["requests"] == delta["requests"]
    assert out["status"]["2xx"] == out["requests"] == delta["status"]["2xx"]
    assert out["connects"] == delta["accepted"] == 4
    assert out["errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert 0.99 <= out["duration_s"] < 1.5
    assert out["requests_per_sec"] == pytest.approx(out["requests"] / out["duration_s"], rel=0.01)
    assert out["bytes_per_sec"] > 0 and out["bytes"] > out["requests"] * 100
    lat = out["latency_us"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]


def test_head_answers_are_counted_on_kept_alive_and_closed_connections(server):
    """A HEAD's answer has a Content-Length and no body: before, the first
    answer of each connection was read as if its body followed (keep-alive:
    nothing counted; --close: a read error per connection)."""
    url = f"http://127.0.0.1:{server.port}/"
    for extra in ((), ("--close",)):
        args = ("-c", "2", "-d", "1s", "--method", "HEAD", *extra)
        (out, r), delta = server_delta(server.port, lambda args=args: bench_json(url, *args))
        assert r.returncode == 0, r.stderr
        assert out["requests"] > 50, extra
        assert out["requests"] == delta["requests"] == out["status"]["2xx"], extra
        assert out["errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}, extra


def test_404s_are_counted_as_4xx_never_as_successes(server):
    url = f"http://127.0.0.1:{server.port}/no/such/page"
    r, delta = server_delta(server.port, lambda: bench(url, "-c", "2", "-d", "1s"))
    m = re.search(r"^  (\d+) requests in [\d.]+s, ", r.stdout, re.M)
    assert m, r.stdout
    n = int(m.group(1))
    assert n > 0 and n == delta["requests"] == delta["status"]["4xx"]
    assert f"  Non-2xx responses: {n} (4xx {n})" in r.stdout
    assert r.returncode == 1 and "nothing succeeded" in r.stderr


def test_close_opens_a_connection_per_request(server):
    url = f"http://127.0.0.1:{server.port}/"
    (out, r), delta = server_delta(server.port, lambda: bench_json(url, "-c", "2", "-d", "1s", "--close"))
    assert r.returncode == 0, r.stderr
    assert out["close"] is True and out["requests"] > 20
    assert out["requests"] == delta["requests"]
    assert out["connects"] == delta["accepted"]  # every connection made, one counted by both sides
    assert out["requests"] <= out["connects"] <= out["requests"] + 2  # + the ones the end cut short


def test_pipelining_16_deep_counts_every_answer(server):
    url = f"http://127.0.0.1:{server.port}/style.css"
    (out, r), delta = server_delta(server.port, lambda: bench_json(url, "-c", "2", "-d", "1s", "--pipeline", "16"))
    assert r.returncode == 0, r.stderr
    assert out["pipeline"] == 16 and out["requests"] > 100
    assert out["requests"] == delta["requests"] == out["status"]["2xx"]
    assert sum(out["errors"].values()) == 0


def test_rate_gives_about_that_many_requests_a_second(server):
    url = f"http://127.0.0.1:{server.port}/"
    out, r = bench_json(url, "-c", "4", "-d", "2s", "--rate", "200")
    assert r.returncode == 0, r.stderr
    assert 340 <= out["requests"] <= 410, out
    assert out["requests_per_sec"] == pytest.approx(200, rel=0.15)
    assert out["rate"] == 200


def test_text_report_has_wrks_lines_and_the_percentile_table(server):
    r = bench(f"http://127.0.0.1:{server.port}/", "-c", "2", "-d", "500ms", "--latency", "-p", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"Running 500ms test @ http://127.0.0.1:{server.port}/"
    assert lines[1] == "  2 processes and 2 connections"
    assert re.search(r"^    Latency\s+[\d.]+(us|ms|s)\s+[\d.]+(us|ms|s)\s+[\d.]+(us|ms|s)\s+[\d.]+%$", r.stdout, re.M)
    assert re.search(r"^    Req/Sec\s+[\d.]+[kM]?\s+", r.stdout, re.M)
    for p in ("50%", "75%", "90%", "99%", "99.9%", "99.99%"):
        assert re.search(rf"^\s+{re.escape(p)}\s+[\d.]+(us|ms|s)$", r.stdout, re.M), p
    assert re.search(r"^  \d+ requests in [\d.]+s, [\d.]+(B|KB|MB|GB) read$", r.stdout, re.M)
    assert re.search(r"^Requests/sec:\s+[\d.]+$", r.stdout, re.M)
    assert re.search(r"^Transfer/sec:\s+[\d.]+(B|KB|MB|GB)$", r.stdout, re.M)
    assert r.stderr == ""  # no progress line when stderr is not a terminal


def test_method_headers_and_body_reach_the_server():
    with MiniServer("echo-head") as s:
        out, r = bench_json(
            f"http://127.0.0.1:{s.port}/p?q=1", "-c", "1", "-d", "300ms",
            "--method", "post", "--body", "hello", "-H", "X-Test: yes", "-H", "Host: example",
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    head = s.heads[0]
    assert head.startswith(b"POST /p?q=1 HTTP/1.1\r\n")
    assert b"\r\nHost: example\r\n" in head and b"127.0.0.1" not in head
    assert b"\r\nX-Test: yes\r\n" in head and b"\r\nContent-Length: 5\r\n" in head
    assert out["requests"] == s.requests


# ---- servers of the test's own: shapes and misbehaviour ---------------------


class MiniServer:
    """A threaded loopback server. Modes: "vary" answers the k-th request of
    a connection with k % 7 body bytes, alternately by Content-Length and
    chunked; "echo-head" keeps the heads; "garbage" answers a non-HTTP
    line; "reset" resets the connection; "silent" never answers. stop_after:
    close everything and stop listening that many seconds in."""

    def __init__(self, mode: str, stop_after: float | None = None):
        self.mode, self.requests, self.heads, self.lock = mode, 0, [], threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()
        if stop_after is not None:
            threading.Timer(stop_after, self.stop).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _answer(self, k: int) -> bytes:
        body = b"x" * (k % 7)
        if k % 2:
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        chunks = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"

    def _serve(self, conn: socket.socket) -> None:
        buf, k = b"", 0
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                out = []
                while b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                    if m:  # the body follows the head
                        while len(buf) < int(m.group(1)):
                            more = conn.recv(65536)
                            if not more:
                                return
                            buf += more
                        buf = buf[int(m.group(1)) :]
                    with self.lock:
                        self.requests += 1
                        self.heads.append(head + b"\r\n")
                    k += 1
                    if self.mode == "garbage":
                        out.append(b"SSH-2.0-not-http\r\n\r\n")
                    elif self.mode == "reset":
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                        return
                    elif self.mode != "silent":
                        out.append(self._answer(k))
                if out:
                    conn.sendall(b"".join(out))
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone would not)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> MiniServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def test_pipelined_responses_of_varied_shapes_are_matched_in_order():
    with MiniServer("vary") as s:
        out, r = bench_json(f"http://127.0.0.1:{s.port}/", "-c", "2", "-d", "1s", "--pipeline", "8")
    assert r.returncode == 0, r.stderr
    assert out["requests"] > 100
    assert out["requests"] == s.requests  # a response mis-delimited would be an error or a stray count
    assert sum(out["errors"].values()) == 0


def test_malformed_responses_are_read_errors():
    with MiniServer("garbage") as s:
        out, r = bench_json(f"http://127.0.0.1:{s.port}/", "-c", "2", "-d", "500ms")
    assert out["requests"] == 0 and out["errors"]["read"] > 0
    assert r.returncode == 1


def test_resets_are_read_errors():
    with MiniServer("reset") as s:
        out, r = bench_json(f"http://127.0.0.1:{s.port}/", "-c", "2", "-d", "500ms")
    assert out["requests"] == 0 and out["errors"]["read"] > 0
    assert r.returncode == 1


def test_a_silent_server_gives_timeouts_and_the_run_ends_on_time():
    with MiniServer("silent") as s:
        t0 = time.monotonic()
        out, r = bench_json(f"http://127.0.0.1:{s.port}/", "-c", "3", "-d", "500ms", "--timeout", "300ms")
        took = time.monotonic() - t0
    assert out["requests"] == 0
    assert out["errors"]["timeout"] >= 3  # each request unanswered: at 0.3 s, then the drain's end
    assert took < 5, took


def test_a_server_that_stops_mid_run_gives_errors_not_a_hang():
    with MiniServer("vary", stop_after=0.5) as s:
        t0 = time.monotonic()
        out, r = bench_json(f"http://127.0.0.1:{s.port}/", "-c", "2", "-d", "1500ms", "--timeout", "500ms")
        took = time.monotonic() - t0
    assert took < 6, took
    assert out["requests"] > 0 and out["requests"] <= s.requests
    assert out["errors"]["connect"] > 0  # refused once the listener is gone
    assert out["errors"]["read"] + out["errors"]["timeout"] > 0  # the connections cut
    assert r.returncode == 0  # some succeeded


def test_refused_target_counts_connect_errors_and_exits_1():
    port = socket.create_server(("127.0.0.1", 0)).getsockname()[1]  # closed again at once
    out, r = bench_json(f"http://127.0.0.1:{port}/", "-c", "2", "-d", "500ms")
    assert out["requests"] == 0 and out["connects"] == 0 and out["errors"]["connect"] >= 2
    assert r.returncode == 1 and "no connection" in r.stderr


# ---- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["https://127.0.0.1/"], "only http:// URLs"),
        (["ftp://127.0.0.1/"], "only http:// URLs"),
        (["http://"], "no host"),
        (["http://127.0.0.1:99999/"], "not a URL"),
        (["http://no-such-host.invalid/"], "cannot resolve"),
        (["http://127.0.0.1/", "-d", "ten"], "not a duration"),
        (["http://127.0.0.1/", "-d", "0s"], "more than 0"),
        (["http://127.0.0.1/", "--timeout", "5x"], "not a duration"),
        (["http://127.0.0.1/", "-H", "no colon"], "'Name: value'"),
        (["http://127.0.0.1/", "--method", "GE T"], "not an HTTP method"),
        (["http://127.0.0.1/", "--close", "--pipeline", "4"], "--pipeline needs keep-alive"),
        (["http://127.0.0.1/", "-c", "0"], "-c"),
        (["http://127.0.0.1/", "--source", "::1"], "not an IPv4 address"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_2(args, message):
    r = bench(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and r.stdout == ""


def test_more_connections_than_descriptors_is_said_clearly():
    def low_hard_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    r = bench("http://127.0.0.1:1/", "-c", "1000", "-d", "1s", preexec_fn=low_hard_limit)
    assert r.returncode == 2
    assert "1016 file descriptors" in r.stderr and "hard limit is 256" in r.stderr and "-p" in r.stderr


def test_durations_are_parsed():
    assert parse_duration("10s") == 10
    assert parse_duration("2m") == 120
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1.5") == 1.5
    assert parse_duration("1h") == 3600
    assert parse_duration(" 250 ms ") == 0.25
    for bad in ("", "s", "1.2.3", "-1s", "0", "10 sec", "1e3"):
        with pytest.raises(BenchError):
            parse_duration(bad)


def test_a_500ms_run_lasts_500ms(server):
    out, r = bench_json(f"http://127.0.0.1:{server.port}/", "-c", "1", "-d", "500ms")
    assert 0.5 <= out["duration_s"] < 0.8


def test_request_rendering():
    t = parse_url("http://localhost:8080/a/b?c=d")
    assert (t.host, t.port, t.path, t.family) == ("localhost:8080", 8080, "/a/b?c=d", 4)
    assert parse_url("http://127.0.0.1/").host == "127.0.0.1" and parse_url("http://127.0.0.1").path == "/"
    req = render_request("GET", t, [parse_header("Accept:  */* ")], close=True)
    assert req.startswith(b"GET /a/b?c=d HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: sluice-bench/")
    assert req.endswith(b"\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    assert render_request("PUT", t, body=b"xy").endswith(b"Content-Length: 2\r\n\r\nxy")
    assert b"Content-Length: 0" in render_request("POST", t)


# ---- webbench mode ------------------------------------------------------------

WEBBENCH_REPORT = re.compile(
    r"^\nBenchmarking: (GET|HEAD|OPTIONS|TRACE) (\S+)( \(using HTTP/1\.1\))?\n"
    r"(\d+) clients?, running (\d+) sec(, early socket close)?(, forcing reload)?\.\n"
    r"\nSpeed=(\d+) pages/min, (\d+) bytes/sec\.\n"
    r"Requests: (\d+) susceed, (\d+) failed\.\n"
)


def test_webbench_report_has_webbenchs_format_and_honest_counts(server):
    url = f"http://127.0.0.1:{server.port}/"
    r, delta = server_delta(server.port, lambda: bench("--webbench", "-c", "3", "-t", "1", url))
    assert r.returncode == 0, r.stderr
    m = WEBBENCH_REPORT.match(r.stdout)
    assert m, r.stdout
    assert m.group(2) == url and m.group(4) == "3" and m.group(5) == "1"
    speed, bps, ok, failed = (int(m.group(i)) for i in (8, 9, 10, 11))
    assert ok > 10 and failed == 0
    assert ok == delta["requests"]  # exactly what the server answered
    # webbench's probe connection first, then a connection per request, as
    # webbench; each of the 3 clients may end with one left unanswered
    assert ok + 1 <= delta["accepted"] <= ok + 1 + 3
    assert speed == pytest.approx(ok * 60, rel=0.1) and bps > 0
    assert "other than 2xx is a failure" in r.stdout


def test_webbench_counts_404_as_failed(server):
    r = bench("--webbench", "-2", "-c", "2", "-t", "1", f"http://127.0.0.1:{server.port}/missing")
    m = WEBBENCH_REPORT.match(r.stdout)
    assert m, r.stdout
    assert m.group(3) == " (using HTTP/1.1)"
    ok, failed = int(m.group(10)), int(m.group(11))
    assert ok == 0 and failed > 0
    assert re.search(rf"4xx {failed}\b", r.stdout)
    assert r.returncode == 1


def test_webbench_flags_head_reload_force(server):
    r = bench("--webbench", "--head", "-r", "-f", "-c", "1", "-t", "1", f"http://127.0.0.1:{server.port}/")
    m = WEBBENCH_REPORT.match(r.stdout)
    assert m, r.stdout
    assert m.group(1) == "HEAD" and m.group(4) == "1" and r.stdout.count("1 client,") == 1
    assert m.group(6) and m.group(7) and int(m.group(10)) > 0
    assert "-f: the replies were read" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "proxy:3128", "http://127.0.0.1/"], "-p is not supported"),
        (["--proxy=proxy:3128", "http://127.0.0.1/"], "--proxy is not supported"),
        (["-9", "http://127.0.0.1/"], "HTTP/0.9"),
        (["-c", "many", "http://127.0.0.1/"], "not a whole number"),
        (["-c", "2"], "Missing URL!"),
        (["-t", "1", "127.0.0.1/"], "is not a valid URL"),
        (["-t", "1", "http://127.0.0.1"], "hostname don't ends with '/'"),
        (["-t", "1", "https://127.0.0.1/"], "Only HTTP protocol"),
        (["--bogus", "http://127.0.0.1/"], "option --bogus not recognized"),
    ],
)
def test_webbench_refusals_and_bad_flags_exit_2(args, message):
    r = bench("--webbench", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr


def test_webbench_version_help_and_a_dead_server():
    assert bench("--webbench", "-V").stdout == "1.5\n"
    h = bench("--webbench", "--help")
    assert h.returncode == 0 and h.stdout.startswith("webbench [option]... URL\n") and "-9|--http09" in h.stdout
    port = socket.create_server(("127.0.0.1", 0)).getsockname()[1]
    r = bench("--webbench", "-t", "1", f"http://127.0.0.1:{port}/")
    assert r.returncode == 1 and "Connect to server failed. Aborting benchmark." in r.stderr
