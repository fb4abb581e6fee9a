"""Pools of warm execution environments, one per (function, version).

``PoolManager.invoke(key, generation, config, event, deadline)`` reuses an
idle (frozen) EE of that pool — thawed by ``ExecutionEnvironment.invoke`` — or
cold-starts one from the zygote of the function's interpreter. After each
invocation a healthy EE is frozen and returned to its pool; a dead one is
dropped. ``generation`` is a token the service changes whenever the
configuration or code behind ``key`` changes (e.g. $LATEST's RevisionId):
idle EEs of an older generation are destroyed, busy ones when they return.
Idle EEs are destroyed after ``keep_alive_s``. Zygotes (one per interpreter)
start lazily and belong to the manager: ``start()``/``stop()`` follow the
provider's lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from squall.engine.environment import EnvState, ExecutionEnvironment, InvocationResult
from squall.engine.host import CgroupSupport, Interpreter, discover_interpreters, probe_isolation
from squall.engine.sandbox import usable_namespaces
from squall.engine.spec import FunctionConfig
from squall.engine.zygote import Zygote

KEEP_ALIVE_S = 600.0


class UnsupportedRuntime(Exception):
    """No interpreter on this host runs the function's runtime."""


@dataclass
class _Idle:
    ee: ExecutionEnvironment
    since: float


@dataclass
class Pool:
    generation: Hashable = None
    idle: list[_Idle] = field(default_factory=list)
    busy: int = 0


class PoolManager:
    def __init__(
        self,
        *,
        keep_alive_s: float = KEEP_ALIVE_S,
        interpreters: list[Interpreter] | None = None,
        cgroups: CgroupSupport | None = None,
        namespaces: frozenset[str] | None = None,
        seccomp: bool | None = None,
        overlay: bool = True,
    ) -> None:
        self._seccomp = seccomp
        self._overlay = overlay
        self.keep_alive_s = keep_alive_s
        self._interpreters = interpreters
        self._cgroups = cgroups
        self._namespaces = namespaces
        self._pools: dict[Hashable, Pool] = {}
        self._zygotes: dict[str, Zygote] = {}
        self._zygote_locks: dict[str, asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._interpreters is None or self._namespaces is None or self._seccomp is None:
            isolation = await asyncio.to_thread(probe_isolation)
            if self._seccomp is None:
                self._seccomp = isolation.seccomp
            self._overlay = isolation.overlay
            if self._namespaces is None:
                self._namespaces = usable_namespaces(isolation)
            if self._cgroups is None and isolation.cgroups.version and isolation.cgroups.writable:
                self._cgroups = isolation.cgroups
            if self._interpreters is None:
                self._interpreters = await asyncio.to_thread(discover_interpreters)
        self._reaper = asyncio.create_task(self._reap(), name="lambda-ee-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for pool in self._pools.values():
            for idle in pool.idle:
                idle.ee.destroy()
            pool.idle.clear()
        self._pools.clear()
        for zygote in self._zygotes.values():
            await asyncio.to_thread(zygote.stop)
        self._zygotes.clear()

    # -- zygotes ----------------------------------------------------------------------------

    async def _zygote(self, runtime: str) -> Zygote:
        version = runtime.removeprefix("python")
        if not runtime.startswith("python"):
            raise UnsupportedRuntime(f"runtime {runtime} is not supported by this engine yet")
        found = self._zygotes.get(version)
        if found is not None and found.alive():
            return found
        lock = self._zygote_locks.setdefault(version, asyncio.Lock())
        async with lock:
            found = self._zygotes.get(version)
            if found is not None and found.alive():
                return found
            interp = next((i for i in self._interpreters or [] if i.version == version), None)
            if interp is None:
                raise UnsupportedRuntime(f"no python{version} interpreter on this host for runtime {runtime}")
            zygote = await asyncio.to_thread(Zygote.start, interp)
            self._zygotes[version] = zygote
            return zygote

    # -- invocations ------------------------------------------------------------------------

    async def invoke(
        self,
        key: Hashable,
        generation: Hashable,
        config: FunctionConfig,
        event: bytes,
        deadline: float,
        **kw: Any,
    ) -> InvocationResult:
        pool = self._pools.setdefault(key, Pool(generation))
        if pool.generation != generation:
            self._retire_idle(pool)
            pool.generation = generation
        ee = self._take(pool)
        if ee is None:
            ee = ExecutionEnvironment(
                config,
                await self._zygote(config.runtime),
                self._cgroups,
                self._namespaces or frozenset(),
                seccomp=bool(self._seccomp),
                overlay=self._overlay,
            )
            if not await ee.start():
                rid = kw.get("request_id") or ""
                return InvocationResult(rid, False, ee.init_error or b"{}", ee.take_logs(), 0.0, ee.init_ms)
        pool.busy += 1
        try:
            result = await ee.invoke(event, deadline, **kw)
        finally:
            pool.busy -= 1
            self._give_back(pool, generation, ee)
        return result

    def _take(self, pool: Pool) -> ExecutionEnvironment | None:
        while pool.idle:
            ee = pool.idle.pop().ee
            if ee.state in (EnvState.READY, EnvState.FROZEN):
                return ee
            ee.destroy()
        return None

    def _give_back(self, pool: Pool, generation: Hashable, ee: ExecutionEnvironment) -> None:
        if ee.state is not EnvState.READY:
            if ee.state is not EnvState.DEAD:
                ee.destroy()
            return
        if pool.generation != generation:
            ee.destroy()
            return
        ee.freeze()
        pool.idle.append(_Idle(ee, time.monotonic()))

    @staticmethod
    def _retire_idle(pool: Pool) -> None:
        for idle in pool.idle:
            idle.ee.destroy()
        pool.idle.clear()

    def retire(self, match: Any) -> None:
        """Destroy the idle EEs of every pool whose key ``match(key)`` accepts, and forget those pools."""
        for key in [k for k in self._pools if match(k)]:
            pool = self._pools.pop(key)
            self._retire_idle(pool)
            pool.generation = object()  # busy EEs of this pool are destroyed when they return

    def idle_count(self, key: Hashable) -> int:
        pool = self._pools.get(key)
        return len(pool.idle) if pool else 0

    def reap(self, now: float | None = None) -> int:
        """Destroy EEs idle for longer than the keep-alive; how many were destroyed."""
        cutoff = (now if now is not None else time.monotonic()) - self.keep_alive_s
        gone = 0
        for pool in self._pools.values():
            keep = [i for i in pool.idle if i.since >= cutoff]
            for idle in pool.idle:
                if idle.since < cutoff:
                    idle.ee.destroy()
                    gone += 1
            pool.idle = keep
        return gone

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(max(self.keep_alive_s / 4, 0.05), 30.0))
            self.reap()
