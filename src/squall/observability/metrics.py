"""Per-minute metrics, aggregated in memory and flushed durably once a minute is over.

A datum is (account, region, namespace, metric, dimensions, minute) -> statistics
(SampleCount, Sum, Minimum, Maximum, Unit), the shape CloudWatch stores and
GetMetricStatistics reads. Lambda's metrics (namespace ``AWS/Lambda``) are
recorded for the dimension sets AWS publishes: none (account level),
``FunctionName``, ``FunctionName + Resource`` (``fn:qualifier`` for a version or
alias) and, for an alias, ``FunctionName + Resource + ExecutedVersion``.
Billed GB-seconds go to ``Squall/Lambda`` (``BilledGBSeconds``; AWS bills but
does not publish them).

Layout: namespace ``metrics``, key ``(account, region, namespace, metric,
dimensions-json, minute-epoch-seconds)``. A flush merges with what is stored, so
a minute flushed early on shutdown and continued after a restart adds up.
``read`` sees flushed and unflushed data alike.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from squall.observability.lambda_report import billed_ms, gb_seconds
from squall.storage import Store, pack, unpack

NS = "metrics"
LAMBDA = "AWS/Lambda"
SQUALL_LAMBDA = "Squall/Lambda"
LATEST = "$LATEST"

Dims = tuple[tuple[str, str], ...]
_Key = tuple[str, str, str, str, Dims, int]
_Item = tuple[str, str, Dims, float, str]  # namespace, metric, dimensions, value, unit


@dataclass
class Stat:
    count: float = 0.0
    sum: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    unit: str = "None"

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value

    def merge(self, other: Stat) -> None:
        self.count += other.count
        self.sum += other.sum
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def to_json(self) -> dict[str, float | str]:
        return {
            "SampleCount": self.count,
            "Sum": self.sum,
            "Minimum": self.minimum,
            "Maximum": self.maximum,
            "Unit": self.unit,
        }

    @classmethod
    def from_json(cls, d: dict[str, float | str]) -> Stat:
        return cls(
            float(d["SampleCount"]), float(d["Sum"]), float(d["Minimum"]), float(d["Maximum"]), str(d["Unit"])
        )


@dataclass(frozen=True)
class Datapoint:
    timestamp: int  # the minute's start, epoch seconds
    stat: Stat


@dataclass(frozen=True)
class Invocation:
    """One finished invocation, as the metrics need it."""

    account: str
    region: str
    function: str
    qualifier: str | None  # as addressed: None/$LATEST, a version number or an alias name
    executed_version: str
    duration_ms: float
    memory_mb: int
    error: bool
    #: None: no provisioned concurrency configured here; True: ran on it; False: spilled over to on-demand.
    provisioned: bool | None = None


@functools.lru_cache(maxsize=4096)
def lambda_dims(
    function: str, qualifier: str | None, executed_version: str | None = None
) -> tuple[Dims, ...]:
    """The dimension sets one invocation counts in, each sorted by dimension name."""
    fn = ("FunctionName", function)
    dims: list[Dims] = [(), (fn,)]
    if qualifier and qualifier != LATEST:
        resource = ("Resource", f"{function}:{qualifier}")
        dims.append((fn, resource))
        if executed_version is not None and not qualifier.isdigit():
            dims.append((("ExecutedVersion", executed_version), fn, resource))
    return tuple(dims)


def _dims_key(dims: Dims) -> str:
    return json.dumps(sorted(dims), separators=(",", ":"))


class Metrics:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._data: dict[_Key, Stat] = {}
        self._inflight: dict[tuple[str, str, Dims], int] = {}
        self._lock = threading.Lock()
        # The Stats one kind of invocation adds to in the current minute, found once per minute:
        # (account, region, function, qualifier, executed version, provisioned, minute) -> per
        # dimension set (Invocations, Errors, Duration, BilledGBSeconds, provisioned counter or None).
        # Dropped whenever a flush takes data out of `_data`.
        self._slots: dict[tuple[object, ...], tuple[tuple[Stat, Stat, Stat, Stat, Stat | None], ...]] = {}
        self._inflight_slots: dict[
            tuple[object, ...], tuple[tuple[tuple[str, str, Dims], ...], tuple[Stat, ...]]
        ] = {}

    def put(
        self,
        account: str,
        region: str,
        namespace: str,
        metric: str,
        dims: Dims,
        value: float,
        unit: str,
        at: float | None = None,
    ) -> None:
        self._add(account, region, [(namespace, metric, tuple(sorted(dims)), value, unit)], at)

    def _add(self, account: str, region: str, items: list[_Item], at: float | None = None) -> None:
        minute = int((self.clock() if at is None else at) // 60 * 60)
        data = self._data
        with self._lock:
            for namespace, metric, dims, value, unit in items:
                key = (account, region, namespace, metric, dims, minute)
                stat = data.get(key)
                if stat is None:
                    stat = data[key] = Stat(unit=unit)
                stat.add(value)

    def _stat(self, key: _Key, unit: str) -> Stat:
        stat = self._data.get(key)
        if stat is None:
            stat = self._data[key] = Stat(unit=unit)
        return stat

    def record_invocation(self, inv: Invocation) -> None:
        gbs = gb_seconds(inv.memory_mb, billed_ms(inv.duration_ms))
        error = 1 if inv.error else 0
        minute = int(self.clock() // 60 * 60)
        slot = (
            inv.account,
            inv.region,
            inv.function,
            inv.qualifier,
            inv.executed_version,
            inv.provisioned,
            minute,
        )
        with self._lock:
            stats = self._slots.get(slot)
            if stats is None:
                stats = self._slots[slot] = self._invocation_stats(inv, minute)
            for invocations, errors, duration, billed, provisioned in stats:
                invocations.add(1)
                errors.add(error)
                duration.add(inv.duration_ms)
                billed.add(gbs)
                if provisioned is not None:
                    provisioned.add(1)

    def _invocation_stats(
        self, inv: Invocation, minute: int
    ) -> tuple[tuple[Stat, Stat, Stat, Stat, Stat | None], ...]:
        a, r = inv.account, inv.region
        prov = {
            True: "ProvisionedConcurrencyInvocations",
            False: "ProvisionedConcurrencySpilloverInvocations",
        }
        out = []
        for dims in lambda_dims(inv.function, inv.qualifier, inv.executed_version):
            extra = prov.get(inv.provisioned) if inv.provisioned is not None else None
            out.append(
                (
                    self._stat((a, r, LAMBDA, "Invocations", dims, minute), "Count"),
                    self._stat((a, r, LAMBDA, "Errors", dims, minute), "Count"),
                    self._stat((a, r, LAMBDA, "Duration", dims, minute), "Milliseconds"),
                    self._stat((a, r, SQUALL_LAMBDA, "BilledGBSeconds", dims, minute), "None"),
                    None if extra is None else self._stat((a, r, LAMBDA, extra, dims, minute), "Count"),
                )
            )
        return tuple(out)

    def record_throttle(self, account: str, region: str, function: str, qualifier: str | None = None) -> None:
        """Count one throttled invocation (the concurrency limiter refused it)."""
        self._add(
            account, region, [(LAMBDA, "Throttles", d, 1, "Count") for d in lambda_dims(function, qualifier)]
        )

    @contextlib.contextmanager
    def concurrent(
        self, account: str, region: str, function: str, qualifier: str | None = None
    ) -> Iterator[None]:
        """Count an invocation in flight; ConcurrentExecutions' Maximum is the per-minute peak."""
        keys = self.begin_concurrent(account, region, function, qualifier)
        try:
            yield
        finally:
            self.end_concurrent(keys)

    def begin_concurrent(
        self, account: str, region: str, function: str, qualifier: str | None = None
    ) -> tuple[tuple[str, str, Dims], ...]:
        """`concurrent` without a context manager: pass what it returns to `end_concurrent`."""
        minute = int(self.clock() // 60 * 60)
        slot = (account, region, function, qualifier, minute)
        inflight = self._inflight
        with self._lock:
            found = self._inflight_slots.get(slot)
            if found is None:
                keys = tuple((account, region, d) for d in lambda_dims(function, qualifier))
                stats = tuple(
                    self._stat((account, region, LAMBDA, "ConcurrentExecutions", k[2], minute), "Count")
                    for k in keys
                )
                found = self._inflight_slots[slot] = (keys, stats)
            keys, stats = found
            for k, stat in zip(keys, stats, strict=True):
                inflight[k] = level = inflight.get(k, 0) + 1
                stat.add(level)
        return keys

    def end_concurrent(self, keys: tuple[tuple[str, str, Dims], ...]) -> None:
        inflight = self._inflight
        with self._lock:
            for k in keys:
                left = inflight[k] - 1
                if left:
                    inflight[k] = left
                else:
                    del inflight[k]

    def flush(self, everything: bool = False) -> int:
        """Write finished minutes (every minute if `everything`) to the store; returns how many data."""
        current = int(self.clock() // 60 * 60)
        with self._lock:
            done = {k: v for k, v in self._data.items() if everything or k[5] < current}
            for k in done:
                del self._data[k]
            if done:  # the slots may point at Stats no longer in `_data`
                self._slots.clear()
                self._inflight_slots.clear()
        if not done:
            return 0
        with self.store.write() as w:
            for (account, region, namespace, metric, dims, minute), stat in done.items():
                key = pack(account, region, namespace, metric, _dims_key(dims), minute)
                raw = w.get(NS, key)
                if raw is not None:
                    stored = Stat.from_json(json.loads(raw))
                    stored.merge(stat)
                    stat = stored
                w.put(NS, key, json.dumps(stat.to_json()).encode())
        return len(done)

    def read(
        self,
        account: str,
        region: str,
        namespace: str,
        metric: str,
        dims: Dims | dict[str, str],
        start: float = 0,
        end: float = float("inf"),
    ) -> list[Datapoint]:
        """Per-minute statistics of one metric and dimension set with start <= minute < end, by time."""
        dtuple = tuple(sorted(dims.items() if isinstance(dims, dict) else dims))
        found: dict[int, Stat] = {}
        with self.store.read() as r:
            for k, v in r.scan(NS, prefix=pack(account, region, namespace, metric, _dims_key(dtuple))):
                minute = int(unpack(k)[5])  # type: ignore[arg-type]
                if start <= minute < end:
                    found[minute] = Stat.from_json(json.loads(v))
        with self._lock:
            for (a, rg, ns, m, d, minute), stat in self._data.items():
                if (a, rg, ns, m, d) == (
                    account,
                    region,
                    namespace,
                    metric,
                    dtuple,
                ) and start <= minute < end:
                    into = found.setdefault(minute, Stat(unit=stat.unit))
                    into.merge(stat)
        return [Datapoint(m, found[m]) for m in sorted(found)]
