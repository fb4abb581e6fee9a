"""Provisioned EEs in the pool: started ahead, used first, spill-over, not reaped, released; cold-start hook."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from squall.engine.environment import InvocationResult
from squall.engine.host import discover_interpreters
from squall.engine.pool import PROVISIONED, PoolManager
from squall.lib.tasks import running

from .conftest import config, run

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11"
)

SOURCE = """
import os, time
INIT = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "init": INIT}
"""


def test_provisioned_ees_serve_first_and_spill_over(write_function: Callable[..., str]) -> None:
    code = write_function(SOURCE)
    on_demand = config(code)
    provisioned = replace(on_demand, initialization_type=PROVISIONED)

    async def go() -> None:
        pools = PoolManager(keep_alive_s=0.01)
        async with running(pools):
            assert await pools.provision("k", "g", provisioned, 2) is None
            assert pools.provisioned_count("k") == 2
            colds: list[int] = []

            async def invoke(sleep: float) -> InvocationResult:
                return await pools.invoke(
                    "k",
                    "g",
                    on_demand,
                    json.dumps({"sleep": sleep}).encode(),
                    time.time() + 5,
                    on_cold_start=lambda: colds.append(1),
                )

            results = await asyncio.gather(invoke(0.5), invoke(0.5), invoke(0.5))
            kinds = sorted(r.init_type for r in results)
            assert kinds == ["on-demand", PROVISIONED, PROVISIONED]
            for r in results:
                body = json.loads(r.payload)
                assert body["init"] == r.init_type
                if r.init_type == PROVISIONED:
                    assert r.init_ms is None and not r.spillover
                else:
                    assert r.spillover and r.init_ms is not None
            assert colds == [1]  # only the on-demand EE was a cold start
            await asyncio.sleep(0.3)  # the reaper runs: provisioned EEs are kept
            assert pools.provisioned_count("k") == 2 and pools.idle_count("k") == 0
            pools.unprovision("k")
            assert pools.provisioned_count("k") == 0
            again = await pools.invoke("k", "g", on_demand, b"{}", time.time() + 5)
            assert again.init_type == "on-demand" and not again.spillover

    run(go())


def test_a_provisioned_ee_that_dies_is_replaced(write_function: Callable[..., str]) -> None:
    code = write_function(SOURCE + "\ndef crash(event, context):\n    os._exit(3)\n")
    crashing = replace(config(code, handler="lambda_function.crash"), initialization_type=PROVISIONED)

    async def go() -> None:
        pools = PoolManager()
        async with running(pools):
            assert await pools.provision("k", "g", crashing, 1) is None
            result = await pools.invoke("k", "g", crashing, b"{}", time.time() + 5)
            assert not result.ok and result.init_type == PROVISIONED
            for _ in range(200):  # replaced in the background
                if pools.provisioned_count("k") == 1:
                    break
                await asyncio.sleep(0.02)
            assert pools.provisioned_count("k") == 1

    run(go())


def test_provision_reports_init_failure(write_function: Callable[..., str]) -> None:
    code = write_function("raise RuntimeError('no init')\n")

    async def go() -> None:
        pools = PoolManager()
        async with running(pools):
            error = await pools.provision("k", "g", replace(config(code), initialization_type=PROVISIONED), 2)
            assert error is not None and b"no init" in error
            assert pools.provisioned_count("k") == 0

    run(go())


def test_cold_start_hook_can_refuse_a_new_ee(write_function: Callable[..., str]) -> None:
    code = write_function(SOURCE)

    class Refused(Exception):
        pass

    def refuse() -> None:
        raise Refused

    async def go() -> None:
        pools = PoolManager()
        async with running(pools):
            with pytest.raises(Refused):
                await pools.invoke("k", "g", config(code), b"{}", time.time() + 5, on_cold_start=refuse)
            ok = await pools.invoke("k", "g", config(code), b"{}", time.time() + 5)
            warm = await pools.invoke("k", "g", config(code), b"{}", time.time() + 5, on_cold_start=refuse)
            assert ok.ok and warm.ok  # a warm reuse does not ask

    run(go())
