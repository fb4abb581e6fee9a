"""kill -9 of the server takes its zygotes and execution environments down with it."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import start_server
from tests.services.lambda_.helpers import create, make_zip

SLOW = "import time\n\ndef handler(event, context):\n    time.sleep(30)\n    return 'done'\n"


def _descendants(pid: int) -> set[int]:
    """Every live process whose ancestry leads to ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(90)
def test_kill_9_of_the_server_leaves_no_process_behind(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client("lambda", read_timeout=60)
        name = create(client, Code={"ZipFile": make_zip(SLOW)}, Timeout=60)["FunctionName"]
        threading.Thread(
            target=lambda: _swallow(lambda: client.invoke(FunctionName=name)), daemon=True
        ).start()
        deadline = time.monotonic() + 20
        tree: set[int] = set()
        while time.monotonic() < deadline:  # the zygote, the EE (and its pid-namespace init) are up
            tree = _descendants(server.process.pid)
            if len(tree) >= 2:
                time.sleep(0.5)
                tree = _descendants(server.process.pid)
                break
            time.sleep(0.1)
        assert len(tree) >= 2, "the invocation never started an execution environment"
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in tree):
            time.sleep(0.1)
        assert not [p for p in tree if _alive(p)], "processes outlived the server"
    finally:
        if server.process.poll() is None:
            server.stop()


def _swallow(call) -> None:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception:
        pass
