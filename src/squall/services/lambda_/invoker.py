"""The invocation path below the API, shared by synchronous `Invoke`, async events and event sources.

``Invoker.resolve(ref)`` turns a function reference into a `Target`: the
executed version (an alias's `AdditionalVersionWeights` pick one at random
by weight), its configuration and its code, read in one transaction.
``Invoker.run(call)`` runs a `Call` on that target in the engine's pools:
the code unpacked once per digest, the function's `FunctionConfig` built
from the configuration, one execution environment from the version's pool.
Each run holds a concurrency lease (`engine.concurrency.Limiter`) for the
function while it runs; beyond a limit `run` raises the engine's `Throttled`.
Engine failures propagate as the engine's own exceptions; the API maps them.
`resolve` remembers what it read per reference while the store's change
counter for the functions namespace is unchanged (`storage.ChangeCounter`).
The `FunctionConfig` of a (function, version) is built once per RevisionId,
code digest and endpoint (the RevisionId changes with every configuration or
code change, as the pools' generation does) and reused; only the role
credentials, which rotate on their own schedule, are checked per call.
After each run the invocation's framed log and its metrics go to `Telemetry`
(observability/); ``record_throttle`` counts a call the concurrency limiter refused.

Unpacked code: `run` pins the trees its target uses in the `CodeCache` for the
whole call (an execution environment may start on them), and unpacks missing
ones in a thread, never on the event loop. After a function, a version or a
code zip is dropped (`Directory.on_delete`, `CodeStore.on_release`),
`collect_soon` removes, in a thread, every tree that no function or version
record uses any more (code by digest, layers by content blob, merged layer
sets) and no call has pinned.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import random
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from squall.engine.codecache import CodeCache, merged_name
from squall.engine.concurrency import LeaseRequest, Limiter, Throttled
from squall.engine.environment import InvocationResult
from squall.engine.pool import PROVISIONED, PoolManager
from squall.engine.spec import Credentials, FunctionConfig
from squall.observability import Invocation, Report, Telemetry
from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.code import CodeRef
from squall.services.lambda_.function_env import FunctionCredentials
from squall.services.lambda_.functions import (
    NS,
    is_version_number,
    read_alias,
    read_function,
    read_version,
)
from squall.services.lambda_.layer_dirs import LayerDirs, arns_of
from squall.services.lambda_.names import LATEST, FunctionRef, function_not_found
from squall.services.lambda_.shared import Shared
from squall.services.ports import RoleSessions
from squall.storage import ChangeCounter, unpack

log = logging.getLogger("squall.lambda")

CONFIG_CACHE_SIZE = 4096  # FunctionConfigs / resolved references kept (all dropped at once when full)
_Resolved = tuple[dict[str, Any] | None, dict[str, tuple[dict[str, Any], CodeRef]]]


def pick_version(alias: dict[str, Any], rng: random.Random | None = None) -> str:
    """The version an alias routes this call to: extra versions by weight, the rest to its own."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    roll = (rng or random).random()
    for version, weight in weights.items():
        if roll < float(weight):
            return str(version)
        roll -= float(weight)
    return str(alias["FunctionVersion"])


@dataclass(frozen=True)
class Target:
    """What one call runs: the function as addressed, the version executed, its configuration and code."""

    ref: FunctionRef
    version: str
    config: dict[str, Any]
    code: CodeRef

    @property
    def invoked_arn(self) -> str:
        return self.ref.qualified_arn if self.ref.qualifier else self.ref.arn

    @property
    def memory_mb(self) -> int:
        return int(self.config.get("MemorySize", 128))


@dataclass(frozen=True)
class Call:
    target: Target
    payload: bytes
    endpoint: str | None = None
    invocation_type: str = "RequestResponse"  # or "Event" (async, from the queue or an event source)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_context: dict[str, Any] | None = None


class Invoker:
    def __init__(
        self,
        shared: Shared,
        pools: PoolManager,
        code_root: Path | None,
        telemetry: Telemetry,
        limiter: Limiter | None = None,
        role_sessions: RoleSessions | None = None,
    ) -> None:
        """`role_sessions`: STS's, for the functions' execution-role credentials (None: none)."""
        self.shared = shared
        self.pools = pools
        self.telemetry = telemetry
        self.limiter = limiter or Limiter()
        self._code_root = code_root
        self._codes: CodeCache | None = None
        self._configs: dict[tuple[Any, ...], FunctionConfig] = {}
        self._resolved: dict[tuple[Any, ...], tuple[int, _Resolved]] = {}
        store = shared.store
        self._changes = store.changes if isinstance(store, ChangeCounter) else None
        shared.directory.on_delete(self._deleted)
        self.layer_dirs = LayerDirs(lambda: shared.layers, shared.codes.blobs.read)
        self.credentials = FunctionCredentials(
            role_sessions, pools.keep_alive_s, on_delete=shared.directory.on_delete
        )
        self._trees: dict[tuple[str, tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._gc_lock = threading.Lock()
        self._gc_state = 0  # 0 idle, 1 running, 2 running and asked again
        shared.codes.on_release(self.collect_soon)

    @property
    def codes(self) -> CodeCache:
        """Unpacked code; without a data directory (in-process tests) a temporary one, made on first use."""
        if self._codes is None:
            root = self._code_root or Path(tempfile.mkdtemp(prefix="squall-code-"))
            self._codes = CodeCache(root)
        return self._codes

    def _deleted(self, ref: FunctionRef) -> None:
        prefix = (ref.account_id, ref.region, ref.name)
        self.pools.retire(lambda key: key[:3] == prefix)
        if ref.qualifier is None:
            self.limiter.forget(*prefix)
        for key in [k for k in list(self._configs) if k[:3] == prefix]:
            self._configs.pop(key, None)
        self.collect_soon()

    # -- unpacked trees -------------------------------------------------------------------------

    def tree_names(self, target: Target) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The code cache trees ``target`` runs on: (all of them, to pin: its code, its layers,
        their merged set; those `CodeCache.path` makes: the code and the layers)."""
        layers = target.config.get("Layers")
        key = (target.code.sha256, tuple(arns_of(target.config)) if layers else ())
        found = self._trees.get(key)
        if found is None:
            names = self._names_of(key[0], key[1])
            found = (names, names[: 1 + len(key[1])])
            if len(self._trees) >= CONFIG_CACHE_SIZE:
                self._trees.clear()
            self._trees[key] = found
        return found

    def _names_of(self, sha256: str, arns: tuple[str, ...]) -> tuple[str, ...]:
        names = [base64.b64decode(sha256).hex()]
        layers = self.layer_dirs.names(arns)
        names += layers
        if len(layers) > 1:
            names.append(os.path.basename(merged_name([str(self.codes.root / n) for n in layers])))
        return tuple(names)

    def _unpack(self, target: Target) -> None:
        """Every tree of ``target`` on disk (blocking: run it in a thread)."""
        sha_hex = base64.b64decode(target.code.sha256).hex()
        self.codes.path(sha_hex, lambda: self.shared.codes.read(target.code))
        self.layer_dirs.resolve(target.config, self.codes)

    def collect_at_start(self) -> None:
        """A first collection in a thread, when there is a code directory on disk to tidy."""
        if self._code_root is not None and self._code_root.is_dir():
            self.collect_soon()

    def collect_soon(self) -> None:
        """Remove unused trees in a thread (one pass at a time; a request during a pass runs one more)."""
        with self._gc_lock:
            if self._gc_state:
                self._gc_state = 2
                return
            self._gc_state = 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._collect_passes()
            return
        loop.run_in_executor(None, self._collect_passes)

    def _collect_passes(self) -> None:
        while True:
            try:
                removed = self.codes.collect(self._in_use)
                if removed:
                    log.info("removed %d unused code trees", len(removed))
            except Exception:
                log.exception("code tree collection failed")
            with self._gc_lock:
                if self._gc_state == 2:
                    self._gc_state = 1
                    continue
                self._gc_state = 0
                return

    def _in_use(self) -> set[str]:
        """The trees some function or version record (of any account) uses."""
        keep: set[str] = set()
        layer_sets: set[tuple[str, ...]] = set()
        with self.shared.store.read() as r:
            for key, raw in r.scan(NS):
                if unpack(key)[2:3] not in (("fn",), ("ver",)):
                    continue
                record = orjson.loads(raw)
                keep.add(base64.b64decode(record["code"]["sha"]).hex())
                layer_sets.add(tuple(arns_of(record.get("config") or {})))
        for arns in layer_sets:
            try:
                keep.update(self._names_of("", arns)[1:])
            except Exception:  # a layer version that no longer resolves: nothing to keep for it
                continue
        return keep

    def resolve(self, ref: FunctionRef) -> Target:
        """The target of one call; an alias picks its version per call, by weight.

        What the records say is remembered per reference while the store reports
        no committed write to the functions namespace since it was read (the
        returned configuration is shared: callers must not change it).
        """
        stamp = self._changes(NS) if self._changes is not None else None
        key = (ref.account_id, ref.region, ref.name, ref.qualifier)
        hit = self._resolved.get(key)
        if hit is not None and hit[0] == stamp and stamp is not None:
            found = hit[1]
        else:
            found = self._read_target(ref)
            if stamp is not None:
                if len(self._resolved) >= CONFIG_CACHE_SIZE:
                    self._resolved.clear()
                self._resolved[key] = (stamp, found)
        alias, targets = found
        version = pick_version(alias) if alias is not None else next(iter(targets))
        if version not in targets:
            raise function_not_found(ref)
        config, code = targets[version]
        return Target(ref, version, config, code)

    @staticmethod
    def _versions(alias: dict[str, Any]) -> list[str]:
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return [str(alias["FunctionVersion"]), *(str(v) for v in weights)]

    def _read_target(self, ref: FunctionRef) -> _Resolved:
        """(alias or None, version -> (config, code)): every version the reference can run, read at once."""
        with self.shared.store.read() as r:
            fn = read_function(r, ref)
            q = ref.qualifier
            alias = None
            if q is not None and not is_version_number(q) and q != LATEST:
                alias = read_alias(r, ref, q)
                if alias is None:
                    raise function_not_found(ref)
            targets: dict[str, tuple[dict[str, Any], CodeRef]] = {}
            for version in self._versions(alias) if alias is not None else [q or LATEST]:
                if version == LATEST:
                    targets[version] = (fn.config, fn.code)
                elif (ver := read_version(r, ref, int(version))) is not None:
                    targets[version] = (ver.config, ver.code)
            if alias is None and not targets:
                raise function_not_found(ref)
            return alias, targets

    def function_config(self, target: Target, endpoint: str | None) -> FunctionConfig:
        """The engine's configuration of ``target``: cached per RevisionId, code and endpoint."""
        config, ref = target.config, target.ref
        credentials = self.credentials.for_function(
            ref,
            target.version,
            config.get("RevisionId"),
            config.get("Role", ""),
            float(config.get("Timeout", 3)),
        )
        key = (
            ref.account_id,
            ref.region,
            ref.name,
            target.version,
            config.get("RevisionId"),
            target.code.sha256,
            endpoint,
        )
        found = self._configs.get(key)
        if found is None or config.get("RevisionId") is None:
            if len(self._configs) >= CONFIG_CACHE_SIZE:
                self._configs.clear()
            found = self._configs[key] = self._build_config(target, endpoint, credentials)
        elif found.credentials is not credentials:
            found = self._configs[key] = dataclasses.replace(found, credentials=credentials)
        return found

    def _build_config(
        self, target: Target, endpoint: str | None, credentials: Credentials | None
    ) -> FunctionConfig:
        config, ref = target.config, target.ref
        sha_hex = base64.b64decode(target.code.sha256).hex()
        code_dir = self.codes.path(sha_hex, lambda: self.shared.codes.read(target.code))
        return FunctionConfig(
            function_name=ref.name,
            handler=str(config.get("Handler", "")),
            code_dir=code_dir,
            runtime=str(config.get("Runtime", "")),
            version=target.version,
            memory_mb=target.memory_mb,
            timeout_s=float(config.get("Timeout", 3)),
            region=ref.region,
            account_id=ref.account_id,
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            endpoint_url=endpoint,
            credentials=credentials,
            ephemeral_mb=int((config.get("EphemeralStorage") or {}).get("Size", 512)),
            layer_dirs=self.layer_dirs.resolve(config, self.codes),
        )

    async def run(self, call: Call) -> InvocationResult:
        """Run `call` under a concurrency lease; record its logs and metrics (throttles included)."""
        target = call.target
        names, unpacked = self.tree_names(target)
        codes = self.codes
        codes.pin(names)
        try:
            if not codes.ready(unpacked):
                await asyncio.to_thread(self._unpack, target)
            return await self._run(call, self.function_config(target, call.endpoint))
        finally:
            codes.unpin(names)

    async def _run(self, call: Call, fc: FunctionConfig) -> InvocationResult:
        target = call.target
        ref = target.ref
        key = (ref.account_id, ref.region, ref.name, target.version)
        metrics = self.telemetry.metrics
        try:
            lease = self.limiter.lease(LeaseRequest(*key[:3])).hold()
            try:
                inflight = metrics.begin_concurrent(ref.account_id, ref.region, ref.name, ref.qualifier)
                try:
                    result = await self.pools.invoke(
                        key,
                        target.config.get("RevisionId"),
                        fc,
                        call.payload,
                        time.time() + fc.timeout_s,
                        on_cold_start=lease.cold_start,
                        request_id=call.request_id,
                        invoked_function_arn=target.invoked_arn,
                        client_context=call.client_context,
                    )
                finally:
                    metrics.end_concurrent(inflight)
            finally:
                lease.release()
        except Throttled:
            self.record_throttle(ref)
            raise
        self.record(target, result, _provisioned(result))
        return result

    def acting_principal(self, function: FunctionRef, source_arn: str) -> Principal:
        """Who Lambda acts as for `function` when it reaches other services (an event source
        mapping's poller reading its source, an async outcome sent to a destination): the
        function's execution role, as on AWS; else Lambda acting for `source_arn` (a function
        that cannot be resolved now)."""
        try:
            role = self.resolve(function).config.get("Role") or ""
        except ServiceError:
            role = ""
        if role.startswith("arn:") and ":role/" in role and role.split(":")[4] == function.account_id:
            # (a role of another account is never acted as: the function's account would
            # borrow that account's identity; STS refuses such a role to the sandbox too)
            return Principal.role_session(role, function.name)
        return Principal.for_service("lambda.amazonaws.com", function.account_id, source_arn=source_arn)

    def record(self, target: Target, result: InvocationResult, provisioned: bool | None = None) -> None:
        ref = target.ref
        inv = Invocation(
            ref.account_id,
            ref.region,
            ref.name,
            ref.qualifier,
            target.version,
            result.duration_ms,
            target.memory_mb,
            not result.ok,
            provisioned,
        )
        report = report_of(result, target.version, target.memory_mb)
        self.telemetry.record_lambda(inv, report, result.log_stream_name)

    def record_throttle(self, ref: FunctionRef) -> None:
        """Count one throttled call of `ref` (as addressed) in the Throttles metric."""
        self.telemetry.metrics.record_throttle(ref.account_id, ref.region, ref.name, ref.qualifier)


def _provisioned(result: InvocationResult) -> bool | None:
    """True: a provisioned EE served it; False: spill-over to on-demand; None: no provisioned EEs here."""
    if result.init_type == PROVISIONED:
        return True
    return False if result.spillover else None


def report_of(result: InvocationResult, version: str, memory_mb: int) -> Report:
    return Report(
        result.request_id,
        version,
        result.logs,
        result.duration_ms,
        memory_mb,
        result.max_memory_mb,
        result.init_ms,
    )
