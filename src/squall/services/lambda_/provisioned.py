"""Provisioned concurrency: the configs in "lambda.pc" made real as warm execution environments.

`Provisioner.apply(account, region, name, qualifier)` (after a Put) warms the
config's N environments for the version the qualifier denotes (an alias: its
`FunctionVersion`) in the engine's pools, with `InitType` provisioned-concurrency,
then records the outcome in the stored config: Status READY with
Available/Allocated = N, or FAILED with a StatusReason when Init fails.
`release(...)` (after a Delete) stops them. `run()` (a `lib.tasks.Background`)
re-warms every stored config (Status back to IN_PROGRESS, then READY), so they
survive a restart. Each warm-up is a child of `run`'s TaskGroup, cancelled alone
when a newer one for the same config replaces it, all of them with `run`; a
config put while not running is warmed by the next `run`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from dataclasses import replace
from typing import Any

import orjson

from squall.engine.pool import PROVISIONED
from squall.lib.tasks import Started, spawn
from squall.services.lambda_.functions import PC_NS, now_text, read_alias, read_version
from squall.services.lambda_.invoker import Invoker, Target
from squall.services.lambda_.names import FunctionRef
from squall.storage import Store, pack, unpack

log = logging.getLogger("squall.lambda")

#: The StatusReason AWS reports when the function's Init fails in a provisioned environment.
INIT_FAILURE = "FUNCTION_ERROR_INIT_FAILURE"

ConfigKey = tuple[str, str, str, str]  # account, region, name, qualifier


class Provisioner:
    def __init__(self, invoker: Invoker, endpoint: str | None = None) -> None:
        self.invoker = invoker
        self.endpoint = endpoint
        self._tasks: dict[ConfigKey, asyncio.Task[Any]] = {}  # the warm-up of each config
        self._group: asyncio.TaskGroup | None = None  # while running: the warm-ups
        self._pools: dict[ConfigKey, Hashable] = {}  # the pool key each config provisions
        invoker.shared.directory.on_delete(self._deleted)

    @property
    def store(self) -> Store:
        return self.invoker.shared.store

    async def run(self, started: Started) -> None:
        """Re-warm every stored config, then warm what `apply` asks for, until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                with self.store.read() as r:
                    keys = [unpack(k) for k, _ in r.scan(PC_NS)]
                for parts in keys:
                    key: ConfigKey = (str(parts[0]), str(parts[1]), str(parts[2]), str(parts[3]))
                    self._update(key, Status="IN_PROGRESS", AvailableProvisionedConcurrentExecutions=0)
                    self.apply(*key)
                started()
                await asyncio.Future()  # the warm-ups are the work
        finally:
            self._group = None
            self._tasks.clear()

    def apply(self, account: str, region: str, name: str, qualifier: str) -> None:
        key = (account, region, name, qualifier)
        old = self._tasks.pop(key, None)
        if old is not None:
            old.cancel()  # a newer warm-up replaces it
        if self._group is None:
            return  # not running: the next `run` warms every stored config
        task = spawn(self._group, self._warm(key), f"lambda-pc-{name}:{qualifier}")
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._tasks.pop(key, None) if self._tasks.get(key) is t else None)

    def release(self, account: str, region: str, name: str, qualifier: str) -> None:
        key = (account, region, name, qualifier)
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
        pool_key = self._pools.pop(key, None)
        if pool_key is not None and pool_key not in self._pools.values():
            self.invoker.pools.unprovision(pool_key)

    def _deleted(self, ref: FunctionRef) -> None:
        prefix = (ref.account_id, ref.region, ref.name)
        for key in [k for k in self._pools.keys() | self._tasks.keys() if k[:3] == prefix]:
            if ref.qualifier is None or ref.qualifier == key[3]:
                self.release(*key)

    def _target(self, key: ConfigKey) -> tuple[Target, int] | None:
        account, region, name, qualifier = key
        ref = FunctionRef(account, region, name, qualifier)
        with self.store.read() as r:
            raw = r.get(PC_NS, pack(*key))
            if raw is None:
                return None
            wanted = int(orjson.loads(raw)["RequestedProvisionedConcurrentExecutions"])
            version = qualifier
            if not qualifier.isdigit():
                alias = read_alias(r, ref, qualifier)
                if alias is None:
                    return None
                version = str(alias["FunctionVersion"])
            ver = read_version(r, ref, int(version))
            if ver is None:
                return None
        return Target(ref, version, ver.config, ver.code), wanted

    async def _warm(self, key: ConfigKey) -> None:
        found = await asyncio.to_thread(self._target, key)
        if found is None:
            return
        target, wanted = found
        try:
            fc = await asyncio.to_thread(self.invoker.function_config, target, self.endpoint)
            fc = replace(fc, initialization_type=PROVISIONED)
            pool_key = (key[0], key[1], key[2], target.version)
            previous = self._pools.get(key)
            if previous is not None and previous != pool_key:
                self.release(*key)
            self._pools[key] = pool_key
            error = await self.invoker.pools.provision(pool_key, target.config.get("RevisionId"), fc, wanted)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("provisioned concurrency for %s failed", key)
            self._failed(key, str(exc) or type(exc).__name__)
            return
        if error is None:
            self._update(
                key,
                Status="READY",
                AvailableProvisionedConcurrentExecutions=wanted,
                AllocatedProvisionedConcurrentExecutions=wanted,
            )
        else:
            log.warning("provisioned concurrency for %s: Init failed: %s", key, error[:1000])
            self._failed(key, INIT_FAILURE)

    def _failed(self, key: ConfigKey, reason: str) -> None:
        self._update(
            key,
            Status="FAILED",
            StatusReason=reason[:1000],
            AvailableProvisionedConcurrentExecutions=0,
            AllocatedProvisionedConcurrentExecutions=0,
        )

    def _update(self, key: ConfigKey, **members: Any) -> None:
        with self.store.write() as w:
            raw = w.get(PC_NS, pack(*key))
            if raw is None:
                return
            config = orjson.loads(raw)
            config.pop("StatusReason", None)
            config.update(members)
            config["LastModified"] = now_text()
            w.put(PC_NS, pack(*key), orjson.dumps(config))
