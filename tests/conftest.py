"""Shared fixtures: a real Squall server on a free port, and boto3 clients for it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    endpoint: str
    port: int
    data_dir: Path
    process: subprocess.Popen[str]
    log_path: Path

    def client(
        self,
        service: str,
        *,
        access_key: str = "test",
        secret: str = "test",
        region: str = "us-east-1",
        session_token: str | None = None,
        **kw,
    ):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            aws_session_token=session_token,
            config=Config(retries={"max_attempts": 1}, **kw),
        )

    def aws(self, *args: str) -> Any:
        """Run the AWS CLI (`python -m awscli`) against this server with the default
        credentials; returns its JSON output (`{}` when it prints nothing)."""
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        out = subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", self.endpoint, "--output", "json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None, port: int | None = None
) -> RunningServer:
    port = port or free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SQUALL_DATA_DIR", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "squall", "up", "--port", str(port), "--data-dir", str(data_dir), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", port, data_dir, proc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.endpoint}/_squall/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server did not come up:\n{server.log()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("squall") / "data")
    yield srv
    srv.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Undo Hypothesis's per-item settings wrapper after each parametrized test.

    Hypothesis's pytest plugin wraps a parametrized test's settings in a new
    settings object (parent = the previous one) for every item; with the
    ~1,400 items of one codec test in a single worker that chain grows past the
    recursion limit when `settings.database` walks it. Restoring the original
    object after each item keeps the chain one deep.
    """
    fn = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
    original = getattr(fn, "_hypothesis_internal_use_settings", None)
    try:
        return (yield)
    finally:
        if original is not None:
            fn._hypothesis_internal_use_settings = original  # type: ignore[union-attr]
