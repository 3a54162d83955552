"""``sluice bench --webbench``: webbench 1.5's command line and report over
sluice bench's engine.

webbench forks a child per client; each connects, sends one request, reads
the reply to the end, closes, and counts a page, until the time is up; the
children report through a pipe. Here the children are capped at one per
CPU, each running its share of the clients as connections of the C core
(one request per connection, as webbench), and report through pipes the
same way. The report has webbench's format, with one honest change, stated
under it: an answer that is not 2xx counts as failed (webbench counted any
answer as a success). ``-p`` (proxy) and ``-9`` (HTTP/0.9) are refused.

Called by ``sluice.bench.cli`` with the arguments after ``--webbench``;
``main`` returns webbench's exit status (0 done, 1 the server is not on
line or nothing succeeded, 2 a bad parameter, 3 an internal error).
"""

from __future__ import annotations

import getopt
import os
import socket
import sys

from .run import BenchError, BenchFailed, Plan, parse_url, run

VERSION = "1.5"
USAGE = """webbench [option]... URL
  -f|--force               Don't wait for reply from server.
  -r|--reload              Send reload request - Pragma: no-cache.
  -t|--time <sec>          Run benchmark for <sec> seconds. Default 30.
  -p|--proxy <server:port> Use proxy server for request.
  -c|--clients <n>         Run <n> HTTP clients at once. Default one.
  -9|--http09              Use HTTP/0.9 style requests.
  -1|--http10              Use HTTP/1.0 protocol.
  -2|--http11              Use HTTP/1.1 protocol.
  --get                    Use GET request method.
  --head                   Use HEAD request method.
  --options                Use OPTIONS request method.
  --trace                  Use TRACE request method.
  -?|-h|--help             This information.
  -V|--version             Display program version.
sluice bench --webbench takes webbench 1.5's flags, except -p and -9 (refused);
-f is accepted but replies are still read (a reply not read cannot be counted).
"""
SHORT = "912Vfrt:p:c:?h"
LONG = ["force", "reload", "time=", "proxy=", "clients=", "http09", "http10", "http11"]
LONG += ["get", "head", "options", "trace", "help", "version"]
REQUEST_TIMEOUT_S = 2.0  # webbench had none: a request unanswered this long counts as failed


def _error(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _number(flag: str, text: str) -> int | None:
    try:
        n = int(text)
    except ValueError:
        return None
    return n if n >= 0 else None


def build_request(url: str, method: str, http: int, reload: bool) -> tuple[bytes, int]:
    """webbench's request (its build_request), and the HTTP version used:
    HEAD needs 1.0, OPTIONS and TRACE 1.1; Host names the port too, and
    -r sends Pragma: no-cache (webbench sent it only through a proxy)."""
    if method == "HEAD" and http < 1:
        http = 1
    if method in ("OPTIONS", "TRACE"):
        http = 2
    target = parse_url(url)
    lines = [f"{method} {target.path} HTTP/1.{0 if http == 1 else 1}", f"User-Agent: WebBench {VERSION}"]
    lines.append(f"Host: {target.host}")
    if reload:
        lines.append("Pragma: no-cache")
    if http == 2:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), http


def check_url(url: str) -> str | None:
    """webbench's own checks of the URL, with its messages."""
    if "://" not in url:
        return f"\n{url}: is not a valid URL."
    if len(url) > 1500:
        return "URL is too long."
    if not url.lower().startswith("http://"):
        return "\nOnly HTTP protocol is directly supported (sluice bench --webbench has no --proxy)."
    if "/" not in url[url.index("://") + 3 :]:
        return "\nInvalid URL syntax - hostname don't ends with '/'."
    return None


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, end="", file=sys.stderr)
        return 2
    try:
        opts, args = getopt.gnu_getopt(argv, SHORT, LONG)
    except getopt.GetoptError as exc:
        print(f"webbench: {exc}", file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        return 2
    force = reload = False
    clients, seconds, http, method = 1, 30, 1, "GET"
    for flag, value in opts:
        if flag in ("-p", "--proxy"):
            return _error(f"webbench mode: {flag} is not supported: sluice bench connects to the server itself.")
        if flag in ("-9", "--http09"):
            return _error(f"webbench mode: {flag} (HTTP/0.9) is not supported: its replies cannot be checked.")
        if flag in ("-?", "-h", "--help"):
            print(USAGE, end="")
            return 0
        if flag in ("-V", "--version"):
            print(VERSION)
            return 0
        if flag in ("-f", "--force"):
            force = True
        elif flag in ("-r", "--reload"):
            reload = True
        elif flag in ("-1", "--http10"):
            http = 1
        elif flag in ("-2", "--http11"):
            http = 2
        elif flag in ("-t", "--time", "-c", "--clients"):
            n = _number(flag, value)
            if n is None:
                return _error(f"webbench: {flag} {value!r}: not a whole number >= 0")
            if flag in ("-t", "--time"):
                seconds = n or 60  # webbench: 0 means 60
            else:
                clients = n or 1  # webbench: 0 means 1
        else:
            method = flag[2:].upper()
    if not args:
        print("webbench: Missing URL!", file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        return 2
    url = args[0]
    problem = check_url(url)
    if problem:
        return _error(problem)
    try:
        request, http = build_request(url, method, http, reload)
        target = parse_url(url)
    except BenchError as exc:
        return _error(f"\n{exc}")
    print(f"sluice bench --webbench: webbench {VERSION}'s flags and report, counted honestly", file=sys.stderr)
    print(f"\nBenchmarking: {method} {url}" + (" (using HTTP/1.1)" if http == 2 else ""))
    print(
        ("1 client" if clients == 1 else f"{clients} clients")
        + f", running {seconds} sec"
        + (", early socket close" if force else "")
        + (", forcing reload" if reload else "")
        + "."
    )
    sys.stdout.flush()
    try:  # as webbench: one connection first, or nothing
        socket.create_connection((target.address, target.port), timeout=REQUEST_TIMEOUT_S).close()
    except OSError:
        print("\nConnect to server failed. Aborting benchmark.", file=sys.stderr)
        return 1
    plan = Plan(
        target=target,
        request=request,
        connections=clients,
        duration_s=float(seconds),
        processes=min(clients, os.cpu_count() or 1),
        close=True,
        head=method == "HEAD",
        timeout_s=REQUEST_TIMEOUT_S,
    )
    try:
        r = run(plan)
    except BenchFailed as exc:
        print(f"Some of our childrens died. ({exc})", file=sys.stderr)
        return 3
    except BenchError as exc:
        return _error(str(exc))
    errors = sum(r.errors.values())
    failed = r.non_2xx + errors
    minutes = r.duration_s / 60 if r.duration_s > 0 else 1
    print(
        f"\nSpeed={int(r.requests / minutes)} pages/min, {int(r.bytes / (r.duration_s or 1))} bytes/sec.\n"
        f"Requests: {r.succeeded} susceed, {failed} failed."
    )
    classes = ", ".join(f"{k} {r.status[k]}" for k in ("1xx", "3xx", "4xx", "5xx"))
    kinds = ", ".join(f"{k} {v}" for k, v in r.errors.items())
    print(f"Counted by sluice: an answer other than 2xx is a failure (webbench called it a success): {classes}.")
    print(f"Failed without an answer: {kinds}. Speed counts the pages answered, over {r.duration_s:.2f} s.")
    if force:
        print("-f: the replies were read all the same: one not read cannot be counted as succeeded.")
    return 0 if r.succeeded else 1
