"""Pools of warm execution environments, one per (function, version).

``PoolManager.invoke(key, generation, config, event, deadline)`` reuses an
idle (frozen) EE of that pool — thawed by ``ExecutionEnvironment.invoke`` — or
cold-starts one from the zygote of the function's interpreter. After each
invocation a healthy EE is frozen and returned to its pool; a dead one is
dropped. ``generation`` is a token the service changes whenever the
configuration or code behind ``key`` changes (e.g. $LATEST's RevisionId):
idle EEs of an older generation are destroyed, busy ones when they return.
An EE's credentials are part of its generation: when the service hands in
rotated credentials, the EEs holding the old ones are retired the same way.
Idle EEs are destroyed after ``keep_alive_s``.

Freezing is lazy: an EE returned to its pool stays READY (running, not
frozen) for ``freeze_grace_s`` (default 30 ms) and is frozen when that grace
ends without another invocation taking it; an EE taken within the grace is
used as it is. A steady stream of invocations therefore never pays the
freeze/thaw (a cgroup-freezer write each way), while every EE idle for longer
than the grace is frozen, as on Lambda: a daemon or thread left behind by an
invocation runs for at most the grace after the invocation's answer, then is
stopped until the next invocation (or killed when the EE is destroyed).
``freeze_grace_s=0`` freezes at once on return. Zygotes (one per interpreter)
start lazily and belong to the manager, a ``lib.tasks.Background``: its
``run`` probes the host, builds the runtime SDK (boto3 for every interpreter,
see ``runtime_sdk``) unless ``runtime_sdk=False``, then reaps idle EEs until
cancelled, and on the way out destroys the idle EEs and stops the zygotes.

Provisioned concurrency: ``provision(key, generation, config, n)`` keeps
``n`` initialised EEs for ``key`` (started with ``config``, whose
``initialization_type`` is "provisioned-concurrency"), outside keep-alive
reaping. Invocations use an idle provisioned EE first and spill over to
on-demand EEs when all are busy; one that dies (timeout, crash) is replaced
in the background. ``InvocationResult.init_type`` and
``spillover`` say which served. ``on_cold_start`` (given to ``invoke``) is
called before an on-demand EE is started and may refuse it by raising
(the concurrency lease's scaling rate).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from squall.engine.environment import EnvState, ExecutionEnvironment, InvocationResult
from squall.engine.host import CgroupSupport, Interpreter, discover_interpreters, probe_isolation
from squall.engine.provided import ProvidedEnvironment
from squall.engine.runtime_sdk import RuntimeSdk, SdkUnavailable, build_sdk
from squall.engine.sandbox import usable_namespaces
from squall.engine.spare_cgroups import spares_for
from squall.engine.spec import FunctionConfig
from squall.engine.zygote import Zygote
from squall.lib.tasks import Started, spawn

KEEP_ALIVE_S = 600.0
FREEZE_GRACE_S = 0.03  # an idle EE is frozen after this long unused (see the module docstring)
log = logging.getLogger(__name__)
PROVISIONED = "provisioned-concurrency"
PROVISION_BATCH = 8  # provisioned EEs initialised at once
PROVIDED_RUNTIMES = frozenset({"provided.al2023", "provided.al2"})
Environment = ExecutionEnvironment | ProvidedEnvironment


class UnsupportedRuntime(Exception):
    """No interpreter on this host runs the function's runtime."""


@dataclass
class _Idle:
    ee: Environment
    since: float
    taken: bool = False  # taken back from its pool: its lazy freeze no longer applies

    def take(self) -> Environment:
        self.taken = True
        return self.ee


@dataclass
class Pool:
    generation: Hashable = None
    idle: list[_Idle] = field(default_factory=list)
    busy: int = 0
    provisioned: list[_Idle] = field(default_factory=list)  # idle provisioned EEs
    provisioned_busy: int = 0
    provisioned_target: int = 0
    provisioned_config: FunctionConfig | None = None


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
    ) -> None:
        self._seccomp = seccomp
        self._overlay = overlay
        self.keep_alive_s = keep_alive_s
        self.freeze_grace_s = freeze_grace_s
        self._want_sdk = runtime_sdk
        self._sdk_root = sdk_root
        self.sdk: RuntimeSdk | None = None
        self._interpreters = interpreters
        self._cgroups = cgroups
        self._namespaces = namespaces
        self._pools: dict[Hashable, Pool] = {}
        self._zygotes: dict[str, Zygote] = {}
        self._zygote_locks: dict[str, asyncio.Lock] = {}
        self._group: asyncio.TaskGroup | None = None  # while running: provisioned refills
        self._stopped = False  # after run() ended, EEs that finish their invocation are destroyed
        # Lazy freezes, oldest first: one timer for the earliest instead of one per parked EE.
        self._to_freeze: deque[_Idle] = deque()
        self._freeze_timer: asyncio.TimerHandle | None = None
        self._freeze_loop: asyncio.AbstractEventLoop | None = None

    async def run(self, started: Started) -> None:
        """Probe the host and build the SDK, then reap idle EEs until cancelled (refills of
        provisioned EEs are children); on the way out destroy idle EEs and stop the zygotes."""
        self._stopped = False
        try:
            await self._prepare()
            async with asyncio.TaskGroup() as group:
                self._group = group
                started()
                await self._reap()
        finally:
            self._group = None
            await self._shut()

    async def _prepare(self) -> None:
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
        if self._cgroups is not None and self._cgroups.version and self._cgroups.writable:
            spares_for(self._cgroups).warm()  # sweeps what killed servers left, makes spares
        if self._want_sdk and self.sdk is None:
            try:
                self.sdk = await asyncio.to_thread(build_sdk, self._sdk_root)
            except (SdkUnavailable, OSError) as exc:
                log.warning("no runtime SDK for functions (boto3 only where the interpreter has it): %s", exc)

    async def _shut(self) -> None:
        self._stopped = True
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
            self._freeze_timer = None
        self._to_freeze.clear()
        for pool in self._pools.values():
            self._retire_idle(pool)
            pool.provisioned_target = 0
        self._pools.clear()
        for zygote in self._zygotes.values():
            await asyncio.to_thread(zygote.stop)
        self._zygotes.clear()

    # -- zygotes ----------------------------------------------------------------------------

    async def _zygote(self, runtime: str) -> Zygote:
        version = runtime.removeprefix("python")
        if runtime in PROVIDED_RUNTIMES:  # any zygote can exec a bootstrap: prefer our own Python's
            known = [i.version for i in self._interpreters or []]
            ours = f"{sys.version_info.major}.{sys.version_info.minor}"
            version = ours if ours in known or not known else known[0]
        elif not runtime.startswith("python"):
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
            zygote = await asyncio.to_thread(Zygote.start, interp, self._sdk_paths(interp))
            self._zygotes[version] = zygote
            return zygote

    def _sdk_paths(self, interp: Interpreter) -> tuple[str, ...]:
        """The SDK for interpreters its distributions support (e.g. urllib3 2.x needs 3.10+)."""
        if self.sdk is None or not self.sdk.supports(interp.version):
            return ()
        return (str(self.sdk.path),)

    # -- invocations ------------------------------------------------------------------------

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
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(generation)
        elif pool.generation != generation:
            self._retire_idle(pool)
            pool.generation = generation
        if pool.provisioned:
            provisioned = self._take_provisioned(pool)
            if provisioned is not None:
                return await self._invoke_provisioned(key, pool, generation, provisioned, event, deadline, kw)
        spillover = pool.provisioned_target > 0
        ee = self._take(pool)
        if ee is None:
            if on_cold_start is not None:
                on_cold_start()
            ee = self._new_ee(config, await self._zygote(config.runtime))
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

    async def _invoke_provisioned(
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
            keep = len(pool.provisioned) + pool.provisioned_busy < pool.provisioned_target
            keep = keep and not self._stopped
            if ee.state is EnvState.READY and keep and not stale:
                pool.provisioned.append(self._park(ee))
            elif ee.state is not EnvState.DEAD:
                ee.destroy()
            alive = self._pools.get(key) is pool and pool.provisioned_config is not None
            if ee.state is EnvState.DEAD and keep and not stale and alive:
                assert pool.provisioned_config is not None
                self._refill(key, generation, pool.provisioned_config, pool.provisioned_target)
        # Its Init ran ahead of time: no invocation pays for it.
        return replace(result, init_type=PROVISIONED, init_ms=None)

    @staticmethod
    def _take_provisioned(pool: Pool) -> Environment | None:
        while pool.provisioned:
            ee = pool.provisioned.pop().take()
            if ee.state in (EnvState.READY, EnvState.FROZEN):
                return ee
            ee.destroy()
        return None

    # -- provisioned concurrency ------------------------------------------------------------

    async def provision(
        self, key: Hashable, generation: Hashable, config: FunctionConfig, count: int
    ) -> bytes | None:
        """Keep ``count`` provisioned EEs for ``key``: start the missing ones (Init run now), stop extras.

        Returns None once all are warm, else the error document of an Init that failed.
        """
        return await self._provision(key, (generation, config.credentials), config, count)

    async def _provision(
        self, key: Hashable, generation: Hashable, config: FunctionConfig, count: int
    ) -> bytes | None:
        pool = self._pools.setdefault(key, Pool(generation))
        if pool.generation != generation:
            self._retire_idle(pool)
            pool.generation = generation
        pool.provisioned_target = count
        pool.provisioned_config = config
        while pool.provisioned and len(pool.provisioned) + pool.provisioned_busy > count:
            pool.provisioned.pop().take().destroy()
        zygote = await self._zygote(config.runtime)
        while True:
            missing = pool.provisioned_target - len(pool.provisioned) - pool.provisioned_busy
            if missing <= 0 or pool.generation != generation or self._pools.get(key) is not pool:
                return None
            batch = [self._new_ee(config, zygote) for _ in range(min(missing, PROVISION_BATCH))]
            started = await asyncio.gather(*(ee.start() for ee in batch), return_exceptions=True)
            error: bytes | None = None
            for ee, ok in zip(batch, started, strict=True):
                if ok is not True:
                    error = error or ee.init_error or str(ok).encode()
                    ee.destroy()
                    continue
                wanted = len(pool.provisioned) + pool.provisioned_busy < pool.provisioned_target
                if wanted and pool.generation == generation and self._pools.get(key) is pool:
                    ee.freeze()
                    pool.provisioned.append(_Idle(ee, time.monotonic()))
                else:
                    ee.destroy()
            if error is not None:
                return error

    def _refill(self, key: Hashable, generation: Hashable, config: FunctionConfig, count: int) -> None:
        """Replace a provisioned EE that died (timeout, crash) in the background."""
        if self._group is not None:
            spawn(self._group, self._provision(key, generation, config, count), f"lambda-pc-refill-{key}")

    def unprovision(self, key: Hashable) -> None:
        """Stop keeping provisioned EEs for ``key``: idle ones now, busy ones when they return."""
        pool = self._pools.get(key)
        if pool is None:
            return
        pool.provisioned_target = 0
        for idle in pool.provisioned:
            idle.take().destroy()
        pool.provisioned.clear()

    def provisioned_count(self, key: Hashable) -> int:
        """Provisioned EEs of ``key`` alive now (idle or busy)."""
        pool = self._pools.get(key)
        return len(pool.provisioned) + pool.provisioned_busy if pool else 0

    def _new_ee(self, config: FunctionConfig, zygote: Zygote) -> Environment:
        kind: type[Environment] = (
            ProvidedEnvironment if config.runtime in PROVIDED_RUNTIMES else ExecutionEnvironment
        )
        return kind(
            config,
            zygote,
            self._cgroups,
            self._namespaces or frozenset(),
            seccomp=bool(self._seccomp),
            overlay=self._overlay,
        )

    def _take(self, pool: Pool) -> Environment | None:
        while pool.idle:
            ee = pool.idle.pop().take()
            if ee.state in (EnvState.READY, EnvState.FROZEN):
                return ee
            ee.destroy()
        return None

    def _give_back(self, pool: Pool, generation: Hashable, ee: Environment) -> None:
        if ee.state is not EnvState.READY:
            if ee.state is not EnvState.DEAD:
                ee.destroy()
            return
        if pool.generation != generation or self._stopped:
            ee.destroy()
            return
        pool.idle.append(self._park(ee))

    def _park(self, ee: Environment) -> _Idle:
        """An idle READY EE: frozen now without a grace, else after it unless taken first."""
        idle = _Idle(ee, time.monotonic())
        if self.freeze_grace_s <= 0:
            ee.freeze()
            return idle
        self._to_freeze.append(idle)
        loop = asyncio.get_running_loop()
        if self._freeze_timer is None or self._freeze_loop is not loop:  # (a test may change loops)
            if self._freeze_timer is not None:
                self._freeze_timer.cancel()
            self._freeze_timer = loop.call_later(self.freeze_grace_s, self._freeze_due)
            self._freeze_loop = loop
        return idle

    def _freeze_due(self) -> None:
        """Freeze every parked EE whose grace is over and that nobody took; re-arm for the next one."""
        self._freeze_timer = None
        queue = self._to_freeze
        cutoff = time.monotonic() - self.freeze_grace_s
        while queue:
            idle = queue[0]
            if not idle.taken and idle.since > cutoff:
                break
            queue.popleft()
            if not idle.taken and idle.ee.state is EnvState.READY:
                idle.ee.freeze()
        if queue:
            delay = max(queue[0].since - cutoff, 0.001)
            self._freeze_timer = asyncio.get_running_loop().call_later(delay, self._freeze_due)

    @staticmethod
    def _retire_idle(pool: Pool) -> None:
        for idle in (*pool.idle, *pool.provisioned):
            idle.take().destroy()
        pool.idle.clear()
        pool.provisioned.clear()

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
                    idle.take().destroy()
                    gone += 1
            pool.idle = keep
        return gone

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(max(self.keep_alive_s / 4, 0.05), 30.0))
            self.reap()
