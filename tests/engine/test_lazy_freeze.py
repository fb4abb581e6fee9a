"""Lazy freezing of idle EEs: a busy stream skips freeze/thaw, an idle EE is frozen after the grace."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from squall.engine.environment import EnvState
from squall.engine.host import discover_interpreters
from squall.engine.pool import PoolManager
from squall.lib.tasks import running

from .conftest import config, run, until

# A thread left running after the handler returns: it appends to a file every 2 ms.
TICKER = """
import os, threading, time
def handler(event, context):
    path = event["path"]
    def tick():
        while True:
            with open(path, "a") as f:
                f.write("x")
            time.sleep(0.002)
    threading.Thread(target=tick, daemon=True).start()
    return os.getpid()
"""


@pytest.fixture
def need_311() -> None:
    if not any(i.version == "3.11" for i in discover_interpreters()):
        pytest.skip("no python3.11")


def ticks(out: Path) -> int:
    """Bytes the ticker thread wrote so far."""
    return out.stat().st_size


def test_idle_ee_is_frozen_after_the_grace_not_before(
    need_311: None, write_function: Callable[..., str], tmp_path: Path
) -> None:
    code = write_function("import os\ndef handler(e, c):\n    return os.getpid()\n")

    async def go() -> None:
        pools = PoolManager(keep_alive_s=600, freeze_grace_s=0.5, runtime_sdk=False)
        async with running(pools):
            first = await pools.invoke("fn", "g", config(code), b"{}", time.time() + 3)
            (idle,) = pools._pools["fn"].idle
            assert idle.ee.state is EnvState.READY  # within the grace: not frozen yet
            second = await pools.invoke("fn", "g", config(code), b"{}", time.time() + 3)
            assert json.loads(first.payload) == json.loads(second.payload)  # reused as it was
            (idle,) = pools._pools["fn"].idle
            await until(lambda: idle.ee.state is EnvState.FROZEN)
            third = await pools.invoke("fn", "g", config(code), b"{}", time.time() + 3)
            assert third.ok and json.loads(third.payload) == json.loads(first.payload)  # thawed on use

    run(go())


def test_a_thread_left_behind_stops_once_the_ee_is_frozen(
    need_311: None, write_function: Callable[..., str], tmp_path: Path
) -> None:
    code = write_function(TICKER)
    out = tmp_path / "ticks"
    out.touch()
    os.chmod(tmp_path, 0o777)
    os.chmod(out, 0o666)

    async def go() -> None:
        pools = PoolManager(keep_alive_s=600, freeze_grace_s=0.05, runtime_sdk=False, namespaces=frozenset())
        async with running(pools):
            result = await pools.invoke(
                "fn", "g", config(code), json.dumps({"path": str(out)}).encode(), time.time() + 3
            )
            assert result.ok, result.payload
            (idle,) = pools._pools["fn"].idle
            await until(lambda: idle.ee.state is EnvState.FROZEN)
            await asyncio.sleep(0.2)  # let the freeze settle (cgroup v1 FREEZING -> FROZEN)
            size = ticks(out)
            assert size > 0  # the thread did run after the answer
            await asyncio.sleep(0.3)  # 150 ticks' worth if the thread still ran
            assert ticks(out) == size

    run(go())


def test_an_ee_busy_at_stop_is_destroyed_when_it_returns(
    need_311: None, write_function: Callable[..., str]
) -> None:
    code = write_function(
        "import os, time\ndef handler(e, c):\n    print('pid', os.getpid(), flush=True)\n"
        "    time.sleep(0.3)\n    return os.getpid()\n"
    )

    async def go() -> None:
        pools = PoolManager(keep_alive_s=600, runtime_sdk=False, namespaces=frozenset())
        async with running(pools):
            call = asyncio.ensure_future(pools.invoke("fn", "g", config(code), b"{}", time.time() + 10))
            await until(lambda: pools._pools.get("fn") and pools._pools["fn"].busy, within_s=20)
        result = await call
        # Stopping the manager stops the zygotes, whose EEs die with them (PR_SET_PDEATHSIG): the
        # invocation may end in an error; either way its EE must not survive the manager.
        pid = int(result.logs.split(b"pid ")[1].split()[0])
        # not parked (and later frozen) in a stopped manager
        await until(lambda: not os.path.exists(f"/proc/{pid}"))

    run(go())
