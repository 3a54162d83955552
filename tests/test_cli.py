"""The `sluice` command as a user runs it."""

from __future__ import annotations

import socket
import subprocess
import sys

from click.testing import CliRunner

import sluice
from sluice.cli import main

from servers import EchoServer


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert sluice.__version__ in result.output


def test_echo_rejects_a_bad_bind_naming_the_option():
    result = CliRunner().invoke(main, ["echo", "--bind", "nonsense"])
    assert result.exit_code != 0
    assert "bind" in result.output and "HOST:PORT" in result.output


def test_echo_rejects_a_negative_idle_timeout():
    result = CliRunner().invoke(main, ["echo", "--idle-timeout", "-1"])
    assert result.exit_code != 0
    assert "idle-timeout" in result.output


def test_echo_reports_a_port_in_use_and_exits_1():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "echo", "--bind", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    s.close()
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr and "in use" in proc.stderr


def test_echo_serves_and_stops_on_sigterm():
    with EchoServer() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
            c.sendall(b"hello sluice")
            assert c.recv(100) == b"hello sluice"
        log = server.stop()
        assert server.proc.returncode == 0
    assert "stopping: 1 connections served" in log


def test_console_script_is_installed():
    proc = subprocess.run(["sluice", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "echo" in proc.stdout
