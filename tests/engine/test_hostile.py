"""Hostile functions: each is contained, and the EE's processes and cgroup are gone afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from squall.engine.environment import EnvState, ExecutionEnvironment
from squall.engine.host import CgroupSupport
from squall.engine.zygote import Zygote

from .conftest import config, gone, run, start_and_invoke

FORK_BOMB = """
import os, time
def handler(event, context):
    made = 0
    while made < 10000:
        try:
            pid = os.fork()
        except OSError:
            return made
        if pid == 0:
            while True:  # every child forks too
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.01)
        made += 1
    return made
"""

MEMORY_HOG = """
def handler(event, context):
    hoard = []
    for _ in range(64):
        hoard.append(bytearray(16 * 1024 * 1024))  # touched: bytearray zero-fills
    return len(hoard)
"""


def test_fork_bomb_is_contained_by_the_pids_limit(
    zygote: Zygote, write_function: Callable[..., str], cgroups: CgroupSupport | None
) -> None:
    if cgroups is None or "pids" not in cgroups.controllers:
        pytest.skip("needs a writable pids cgroup (RLIMIT_NPROC does not bind root)")
    ee = ExecutionEnvironment(config(write_function(FORK_BOMB), pids_limit=32, timeout_s=10), zygote, cgroups)
    result = run(start_and_invoke(ee, timeout_s=10))
    assert result.ok, result.payload
    assert json.loads(result.payload) < 32
    cgroup = ee.cgroup
    assert cgroup is not None
    assert len(cgroup.pids()) <= 32
    ee.destroy()
    assert cgroup.pids() == []


def test_memory_hog_hits_the_cgroup_limit(
    zygote: Zygote, write_function: Callable[..., str], cgroups: CgroupSupport | None
) -> None:
    if cgroups is None or "memory" not in cgroups.controllers:
        pytest.skip("needs a writable memory cgroup")
    ee = ExecutionEnvironment(config(write_function(MEMORY_HOG), memory_mb=128), zygote, cgroups)
    result = run(start_and_invoke(ee, request_id="r-oom"))
    doc = json.loads(result.payload)
    assert doc["errorType"] == "Runtime.OutOfMemory"
    assert doc["errorMessage"] == "RequestId: r-oom Error: Runtime exited with error: signal: killed"
    assert ee.state is EnvState.DEAD
    assert ee.pid is not None
    assert gone(ee.pid)


def test_memory_hog_hits_rlimit_without_cgroups(zygote: Zygote, write_function: Callable[..., str]) -> None:
    ee = ExecutionEnvironment(config(write_function(MEMORY_HOG), memory_mb=128), zygote, None)

    async def go() -> None:
        result = await start_and_invoke(ee)
        assert json.loads(result.payload)["errorType"] == "MemoryError"
        assert ee.state is EnvState.READY  # Python survived its MemoryError; the EE is still usable
        ee.destroy()

    run(go())


def test_platform_keeps_serving_after_hostile_functions(
    zygote: Zygote, write_function: Callable[..., str], cgroups: CgroupSupport | None
) -> None:
    ee = ExecutionEnvironment(
        config(write_function("def handler(e, c):\n    return 'ok'\n")), zygote, cgroups
    )
    assert json.loads(run(start_and_invoke(ee)).payload) == "ok"
    ee.destroy()
    assert zygote.alive()
