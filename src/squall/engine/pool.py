"""The pool manager: what the service invokes through; warm EEs per (function, version).

``PoolManager.invoke(key, generation, config, event, deadline)`` runs one
invocation on an EE of pool ``key``: an idle provisioned EE first
(``provisioned_pool``), else an idle on-demand one (thawed by its ``invoke``
when frozen), else a cold start from the zygote of the function's interpreter
(``zygotes``). ``on_cold_start`` (given to ``invoke``) is called before an
on-demand EE is started and may refuse it by raising (the concurrency lease's
scaling rate). After the invocation a healthy EE is parked in its pool
(``idle.Parking``: frozen once unused for ``freeze_grace_s``); a dead one is
dropped. An invocation whose EE was dead before its function took the event
(``NotDelivered``: e.g. the zygote was killed, and its EEs with it) runs again
on another EE, warm or cold (a dead zygote is restarted on the next cold start),
up to ``MAX_ATTEMPTS`` times. ``generation`` is a token the service changes whenever the
configuration or code behind ``key`` changes (e.g. $LATEST's RevisionId); an
EE's credentials are part of it: idle EEs of an older generation are destroyed,
busy ones when they return (``version_pool``). Idle on-demand EEs are destroyed
after ``keep_alive_s`` (``idle.Reaper``). ``InvocationResult.init_type`` and
``spillover`` say which kind of EE served a call.

The manager is a ``lib.tasks.Background``: its ``run`` prepares the zygote set
(host probe, runtime SDK unless ``runtime_sdk=False``), then reaps until
cancelled, with provisioned refills as children of its TaskGroup; on the way out
it destroys the idle EEs and stops the zygotes (their EEs die with them), and
EEs still busy are destroyed when they return.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import replace
from pathlib import Path
from typing import Any

from squall.engine.ee import Environment
from squall.engine.ee_base import EnvState, InvocationResult, NotDelivered
from squall.engine.host import CgroupSupport, Interpreter
from squall.engine.idle import FREEZE_GRACE_S, KEEP_ALIVE_S, Parking, Reaper
from squall.engine.netns import Plan
from squall.engine.provisioned_pool import PROVISIONED, ProvisionedPool
from squall.engine.spec import FunctionConfig
from squall.engine.version_pool import Pool
from squall.engine.zygote import ZygoteError
from squall.engine.zygotes import UnsupportedRuntime, Zygotes
from squall.lib.tasks import Started

#: Tries of one invocation whose EE turned out dead before the function got the event.
MAX_ATTEMPTS = 3

__all__ = ["FREEZE_GRACE_S", "KEEP_ALIVE_S", "PROVISIONED", "PoolManager", "UnsupportedRuntime"]


class PoolManager:
    def __init__(
        self,
        *,
        keep_alive_s: float = KEEP_ALIVE_S,
        freeze_grace_s: float = FREEZE_GRACE_S,
        interpreters: list[Interpreter] | None = None,
        cgroups: CgroupSupport | None = None,
        namespaces: frozenset[str] | None = None,
        runtime_sdk: bool = True,
        sdk_root: Path | None = None,
        seccomp: bool | None = None,
        overlay: bool = True,
        network: Plan | None = None,
    ) -> None:
        self.zygotes = Zygotes(
            interpreters=interpreters,
            cgroups=cgroups,
            namespaces=namespaces,
            runtime_sdk=runtime_sdk,
            sdk_root=sdk_root,
            seccomp=seccomp,
            overlay=overlay,
            network=network,
        )
        self._pools: dict[Hashable, Pool] = {}
        self._parking = Parking(freeze_grace_s)
        self._reaper = Reaper(self._pools.values, keep_alive_s)
        self._provisioned = ProvisionedPool(self._pools, self.zygotes, self._parking)
        self._stopped = False  # after run() ended, EEs that finish their invocation are destroyed
        self.zygotes.on_death = self._drop_orphans  # a zygote's EEs die with it: drop them at once

    @property
    def keep_alive_s(self) -> float:
        return self._reaper.keep_alive_s

    @property
    def freeze_grace_s(self) -> float:
        return self._parking.grace_s

    async def run(self, started: Started) -> None:
        """Prepare the zygote set, then reap idle EEs until cancelled (provisioned refills are
        children); on the way out destroy idle EEs and stop the zygotes."""
        self._stopped = self._provisioned.stopped = False
        try:
            await self.zygotes.prepare()
            async with asyncio.TaskGroup() as group:
                self._provisioned.group = group
                await self._reaper.run(started)
        finally:
            self._provisioned.group = None
            self._stopped = self._provisioned.stopped = True
            self._parking.clear()
            for pool in self._pools.values():
                pool.retire_idle()
                pool.provisioned_target = 0
            self._pools.clear()
            await self.zygotes.stop()

    # -- invocations (the hot path: keep it flat) -------------------------------------------

    async def invoke(
        self,
        key: Hashable,
        generation: Hashable,
        config: FunctionConfig,
        event: bytes,
        deadline: float,
        on_cold_start: Callable[[], None] | None = None,
        **kw: Any,
    ) -> InvocationResult:
        generation = (generation, config.credentials)
        for attempt in range(MAX_ATTEMPTS):
            try:
                return await self._invoke_once(key, generation, config, event, deadline, on_cold_start, kw)
            except NotDelivered as lost:  # its EE was dead already (e.g. its zygote was killed)
                if attempt == MAX_ATTEMPTS - 1:
                    return lost.result
                self._drop_orphans()
            except ZygoteError:  # killed between its liveness check and the spawn: start another
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _invoke_once(
        self,
        key: Hashable,
        generation: Hashable,
        config: FunctionConfig,
        event: bytes,
        deadline: float,
        on_cold_start: Callable[[], None] | None,
        kw: dict[str, Any],
    ) -> InvocationResult:
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(generation)
        elif pool.generation != generation:
            pool.retire_idle()
            pool.generation = generation
        if pool.provisioned:
            provisioned = pool.take_provisioned()
            if provisioned is not None:
                return await self._provisioned.invoke(key, pool, generation, provisioned, event, deadline, kw)
        spillover = pool.provisioned_target > 0
        ee = pool.take()
        if ee is None:
            if on_cold_start is not None:
                on_cold_start()
            ee = self.zygotes.environment(config, await self.zygotes.for_runtime(config.runtime))
            if not await ee.start():
                rid = kw.get("request_id") or ""
                return InvocationResult(
                    rid,
                    False,
                    ee.init_error_for(rid),
                    ee.take_logs(),
                    0.0,
                    ee.init_ms,
                    spillover=spillover,
                    log_stream_name=ee.log_stream_name,
                )
        pool.busy += 1
        try:
            result = await ee.invoke(event, deadline, **kw)
        finally:
            pool.busy -= 1
            self._give_back(pool, generation, ee)
        return replace(result, spillover=True) if spillover else result

    def _drop_orphans(self) -> None:
        """Destroy every idle EE whose zygote died (they died with it); refill provisioned ones."""
        for key, pool in list(self._pools.items()):
            if pool.drop_orphans() and pool.provisioned_config is not None:
                self._provisioned.refill(key, pool)

    def _give_back(self, pool: Pool, generation: Hashable, ee: Environment) -> None:
        if ee.state is not EnvState.READY:
            if ee.state is not EnvState.DEAD:
                ee.destroy()
            return
        if pool.generation != generation or self._stopped:
            ee.destroy()
            return
        pool.idle.append(self._parking.park(ee))

    # -- provisioned concurrency (see provisioned_pool) -------------------------------------

    async def provision(
        self, key: Hashable, generation: Hashable, config: FunctionConfig, count: int
    ) -> bytes | None:
        """Keep ``count`` provisioned EEs for ``key``: start the missing ones (Init run now), stop extras.

        Returns None once all are warm, else the error document of an Init that failed.
        """
        return await self._provisioned.provision(key, (generation, config.credentials), config, count)

    def unprovision(self, key: Hashable) -> None:
        """Stop keeping provisioned EEs for ``key``: idle ones now, busy ones when they return."""
        self._provisioned.unprovision(key)

    def provisioned_count(self, key: Hashable) -> int:
        """Provisioned EEs of ``key`` alive now (idle or busy)."""
        return self._provisioned.count(key)

    # -- retiring and reaping ---------------------------------------------------------------

    def retire(self, match: Callable[[Any], bool]) -> None:
        """Destroy the idle EEs of every pool whose key ``match(key)`` accepts, and forget those pools."""
        for key in [k for k in self._pools if match(k)]:
            pool = self._pools.pop(key)
            pool.retire_idle()
            pool.generation = object()  # busy EEs of this pool are destroyed when they return

    def idle_count(self, key: Hashable) -> int:
        pool = self._pools.get(key)
        return len(pool.idle) if pool else 0

    def reap(self, now: float | None = None) -> int:
        """Destroy EEs idle for longer than the keep-alive; how many were destroyed."""
        return self._reaper.reap(now)
