"""Namespaces: pid 1 in its own pid namespace, code read-only at /var/task, a private /tmp per EE."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from squall.engine.environment import ExecutionEnvironment
from squall.engine.host import CgroupSupport, probe_isolation
from squall.engine.sandbox import usable_namespaces
from squall.engine.zygote import Zygote

from .conftest import config, gone, run

PROBE = """
import os, socket, subprocess
def handler(event, context):
    if event.get("daemon"):
        return subprocess.Popen(["sleep", str(event["daemon"])], start_new_session=True).pid
    marker = "/tmp/marker"
    seen = open(marker).read() if os.path.exists(marker) else None
    with open(marker, "w") as f:
        f.write(event["id"])
    try:
        open("/var/task/new_file", "w").close()
        task_writable = True
    except OSError:
        task_writable = False
    return {
        "pid": os.getpid(),
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "host": socket.gethostname(),
        "cwd": os.getcwd(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "task_writable": task_writable,
        "tmp_seen": seen,
    }
"""


@pytest.fixture(scope="module")
def namespaces() -> frozenset[str]:
    kinds = usable_namespaces(probe_isolation())
    if not {"pid", "mount"} <= kinds:
        pytest.skip("pid and mount namespaces are not available here")
    return kinds


async def invoke(ee: ExecutionEnvironment, event: dict[str, object]) -> Any:
    if ee.pid is None:
        assert await ee.start(), ee.init_error
    result = await ee.invoke(json.dumps(event).encode(), time.time() + 3)
    assert result.ok, result.payload
    return json.loads(result.payload)


def test_sandbox_view(zygote: Zygote, write_function: Callable[..., str], namespaces: frozenset[str]) -> None:
    a = ExecutionEnvironment(config(write_function(PROBE)), zygote, None, namespaces)
    b = ExecutionEnvironment(config(write_function(PROBE)), zygote, None, namespaces)

    async def go() -> tuple[Any, Any, Any]:
        return await invoke(a, {"id": "a1"}), await invoke(a, {"id": "a2"}), await invoke(b, {"id": "b1"})

    first, again, other = run(go())
    a.destroy()
    b.destroy()
    assert first["pid"] == 1 and first["procs"] == [1]  # sees only itself
    assert first["host"] == "localhost"
    assert first["cwd"] == first["task_root"] == "/var/task"
    assert first["task_writable"] is False
    assert first["tmp_seen"] is None
    assert again["tmp_seen"] == "a1"  # /tmp persists across invocations of one warm EE
    assert other["tmp_seen"] is None  # and is private to it


def test_daemon_dies_with_the_ee_without_cgroups(
    zygote: Zygote, write_function: Callable[..., str], namespaces: frozenset[str]
) -> None:
    """pid 1 of the namespace dies -> the kernel kills the rest, even a daemon in its own session."""
    ee = ExecutionEnvironment(config(write_function(PROBE)), zygote, None, namespaces)
    # a duration no other test (or xdist worker) uses marks this test's daemon
    marker = f"{1000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    daemon = run(invoke(ee, {"daemon": marker}))
    assert ee.pid is not None
    ee.destroy()
    assert gone(ee.pid)

    def daemon_running() -> bool:
        return any(f"sleep\x00{marker}" in _cmdline(p) for p in os.listdir("/proc") if p.isdigit())

    deadline = time.monotonic() + 2  # the kernel kills the namespace's other processes asynchronously
    while daemon_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not daemon_running(), daemon


def test_namespaces_with_cgroups(
    zygote: Zygote,
    write_function: Callable[..., str],
    namespaces: frozenset[str],
    cgroups: CgroupSupport | None,
) -> None:
    if cgroups is None:
        pytest.skip("no writable cgroups")
    ee = ExecutionEnvironment(config(write_function(PROBE)), zygote, cgroups, namespaces)
    out = run(invoke(ee, {"id": "x"}))
    assert out["pid"] == 1
    cgroup = ee.cgroup
    assert cgroup is not None and len(cgroup.pids()) == 2  # the outside waiter and pid 1
    ee.destroy()
    assert cgroup.pids() == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_cannot_signal_outside_its_namespace(
    zygote: Zygote, write_function: Callable[..., str], namespaces: frozenset[str]
) -> None:
    code = write_function(
        """
        import os, signal
        def handler(event, context):
            outcomes = {"ppid": os.getppid()}
            for name, pid in (("zygote", event["zygote"]), ("server", event["server"])):
                try:
                    os.kill(pid, signal.SIGKILL)
                    outcomes[name] = "killed"
                except ProcessLookupError:
                    outcomes[name] = "invisible"
            return outcomes
        """
    )
    ee = ExecutionEnvironment(config(code), zygote, None, namespaces)

    async def go() -> Any:
        return await invoke(ee, {"zygote": zygote.process.pid, "server": os.getpid()})

    out = run(go())
    ee.destroy()
    assert out == {"ppid": 0, "zygote": "invisible", "server": "invisible"}
    assert zygote.alive()
