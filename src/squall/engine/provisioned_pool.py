"""Provisioned concurrency in the engine: EEs initialised ahead, used first, never reaped.

Contract: `provision(key, generation, config, n)` keeps `n` initialised EEs for
the pool `key` (started with `config`, whose `initialization_type` is
"provisioned-concurrency"): it starts the missing ones, `PROVISION_BATCH` at a
time, and destroys extras; it returns None once all are warm, else the error
document of an Init that failed. Invocations take an idle provisioned EE first
(`Pool.take_provisioned`) and run it through `invoke`, which parks it again
afterwards, or destroys it when the target shrank, the generation changed or the
manager stopped; one that dies (timeout, crash) is replaced in the background by
a refill, a guarded child of the manager's TaskGroup (no refill while the
manager is not running). An invocation on a provisioned EE reports
`init_type` PROVISIONED and no Init duration: its Init ran ahead of time.
`unprovision(key)` stops keeping them: idle ones now, busy ones when they return.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import replace
from typing import Any

from squall.engine.ee import Environment
from squall.engine.ee_base import EnvState, InvocationResult
from squall.engine.idle import Parking
from squall.engine.spec import FunctionConfig
from squall.engine.version_pool import Idle, Pool
from squall.engine.zygotes import Zygotes
from squall.lib.tasks import spawn

PROVISIONED = "provisioned-concurrency"
PROVISION_BATCH = 8  # provisioned EEs initialised at once


class ProvisionedPool:
    def __init__(self, pools: dict[Hashable, Pool], zygotes: Zygotes, parking: Parking) -> None:
        self._pools = pools  # shared with the manager: the same Pool carries both kinds
        self._zygotes = zygotes
        self._parking = parking
        #: While the manager runs: where refills go.
        self.group: asyncio.TaskGroup | None = None
        #: Set once the manager stopped: EEs that finish their invocation are destroyed.
        self.stopped = False

    async def invoke(
        self,
        key: Hashable,
        pool: Pool,
        generation: Hashable,
        ee: Environment,
        event: bytes,
        deadline: float,
        kw: dict[str, Any],
    ) -> InvocationResult:
        pool.provisioned_busy += 1
        try:
            result = await ee.invoke(event, deadline, **kw)
        finally:
            pool.provisioned_busy -= 1
            stale = pool.generation != generation
            keep = pool.provisioned_alive() < pool.provisioned_target and not self.stopped
            if ee.state is EnvState.READY and keep and not stale:
                pool.provisioned.append(self._parking.park(ee))
            elif ee.state is not EnvState.DEAD:
                ee.destroy()
            alive = self._pools.get(key) is pool and pool.provisioned_config is not None
            if ee.state is EnvState.DEAD and keep and not stale and alive:
                assert pool.provisioned_config is not None
                self._refill(key, generation, pool.provisioned_config, pool.provisioned_target)
        # Its Init ran ahead of time: no invocation pays for it.
        return replace(result, init_type=PROVISIONED, init_ms=None)

    async def provision(
        self, key: Hashable, generation: Hashable, config: FunctionConfig, count: int
    ) -> bytes | None:
        pool = self._pools.setdefault(key, Pool(generation))
        if pool.generation != generation:
            pool.retire_idle()
            pool.generation = generation
        pool.provisioned_target = count
        pool.provisioned_config = config
        while pool.provisioned and pool.provisioned_alive() > count:
            pool.provisioned.pop().take().destroy()
        zygote = await self._zygotes.for_runtime(config.runtime)
        while True:
            missing = pool.provisioned_target - pool.provisioned_alive()
            if missing <= 0 or pool.generation != generation or self._pools.get(key) is not pool:
                return None
            batch = [self._zygotes.environment(config, zygote) for _ in range(min(missing, PROVISION_BATCH))]
            started = await asyncio.gather(*(ee.start() for ee in batch), return_exceptions=True)
            error: bytes | None = None
            for ee, ok in zip(batch, started, strict=True):
                if ok is not True:
                    error = error or ee.init_error or str(ok).encode()
                    ee.destroy()
                    continue
                wanted = pool.provisioned_alive() < pool.provisioned_target
                if wanted and pool.generation == generation and self._pools.get(key) is pool:
                    ee.freeze()
                    pool.provisioned.append(Idle(ee, time.monotonic()))
                else:
                    ee.destroy()
            if error is not None:
                return error

    def refill(self, key: Hashable, pool: Pool) -> None:
        """Start the provisioned EEs ``pool`` misses (e.g. after dead ones were dropped), in the background."""
        if pool.provisioned_config is not None and pool.provisioned_alive() < pool.provisioned_target:
            self._refill(key, pool.generation, pool.provisioned_config, pool.provisioned_target)

    def _refill(self, key: Hashable, generation: Hashable, config: FunctionConfig, count: int) -> None:
        """Replace a provisioned EE that died (timeout, crash) in the background."""
        if self.group is not None:
            spawn(self.group, self.provision(key, generation, config, count), f"lambda-pc-refill-{key}")

    def unprovision(self, key: Hashable) -> None:
        pool = self._pools.get(key)
        if pool is None:
            return
        pool.provisioned_target = 0
        for idle in pool.provisioned:
            idle.take().destroy()
        pool.provisioned.clear()

    def count(self, key: Hashable) -> int:
        pool = self._pools.get(key)
        return pool.provisioned_alive() if pool else 0
