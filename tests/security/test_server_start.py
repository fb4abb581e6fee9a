"""The server's own start and its worker processes (issue 13, item 9): the banner shows no
secret, a second Squall on the same port is refused in every process mode, a port held by
another program gives a one-line error, and a stopped worker stops receiving connections."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port, start_server
from tests.e2e.test_workers import _listeners, _wait_for_worker, _workers

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def _up(data_dir: Path, port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """`squall up` expected to refuse to start: its exit code and output."""
    env = {**os.environ}
    env.pop("SQUALL_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "squall", "up", "--port", str(port), "--data-dir", str(data_dir), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_banner_shows_key_ids_not_secrets(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--root-key", f"AKIDBANNER0000000001:{SECRET}:123456789012")
    try:
        log = srv.log()
        assert "AKIDBANNER0000000001" in log
        assert SECRET not in log
    finally:
        srv.stop()
    assert SECRET not in srv.log()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_second_server_on_the_same_port_is_refused(tmp_path: Path, workers: str) -> None:
    first = start_server(tmp_path / "first", "--workers", workers)
    try:
        if workers == "2":
            _wait_for_worker(first)
        before = _listeners(first.port)
        second = _up(tmp_path / "second", first.port, "--workers", workers)
        assert second.returncode != 0
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert lines == [
            f"squall: cannot listen on 127.0.0.1:{first.port}: another Squall server is using it"
        ]
        assert "Traceback" not in second.stdout + second.stderr
        assert not (tmp_path / "second" / "server.json").exists()
        assert _listeners(first.port) == before  # nobody else listens on the port
        conn = http.client.HTTPConnection("127.0.0.1", first.port, timeout=5)
        conn.request("GET", "/_squall/health")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        first.stop()


def test_port_taken_by_another_program_is_a_one_line_error(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        for workers in ("1", "2"):
            result = _up(tmp_path / f"data{workers}", port, "--workers", workers)
            assert result.returncode != 0
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert lines == [
                f"squall: cannot listen on 127.0.0.1:{port}: the address is in use by another program"
            ]
            assert "Traceback" not in result.stdout


def _health_over_fresh_connections(port: int, count: int) -> int:
    ok = 0
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        try:
            conn.request("GET", "/_squall/health")
            if conn.getresponse().status == 200:
                ok += 1
        except OSError:
            pass
        finally:
            conn.close()
    return ok


def test_a_stopped_worker_is_replaced_and_requests_keep_succeeding(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--workers", "2", "--worker-timeout", "2")
    try:
        stopped = _wait_for_worker(srv)
        assert _health_over_fresh_connections(srv.port, 10) == 10  # the worker serves (and beats)
        os.kill(stopped, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and stopped in _workers(srv):
                time.sleep(0.1)
            assert stopped not in _workers(srv), "the stopped worker was not killed"
            fresh = _wait_for_worker(srv, frozenset({stopped}))
            assert fresh != stopped
            assert "sent no heartbeat" in srv.log()
            # Every fresh connection lands on a live process again.
            assert _health_over_fresh_connections(srv.port, 24) == 24
        finally:
            if stopped in _workers(srv):
                os.kill(stopped, signal.SIGCONT)
    finally:
        srv.stop()
