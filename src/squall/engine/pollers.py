"""Event source pollers: the generic machinery behind event source mappings.

A `PollerManager` keeps one `PollerGroup` running per enabled mapping. It
reconciles every `interval_s` against `desired()` (the service's mappings as
`PollerSpec`s, keyed by mapping id): a new key starts a group (through
`open(spec)`, which gives the group its `Source` and `BatchHandler`), a key
gone stops it, a changed `spec.revision` restarts it, a changed cap alone is
applied in place. Both are `lib.tasks.Background` components: the manager's
`run` holds a TaskGroup with one child per group, a group's `run` a TaskGroup
with its scaler and workers; cancelling the manager cancels them all.

A group runs `target` workers. A worker gathers a batch from its `Source`
(long polling: the first `receive` waits up to `POLL_WAIT_S`; then, with a
batching window, more until `batch_size` records, the window's end or
`MAX_BATCH_BYTES`; records beyond the byte limit are carried into the next
batch) and hands it to the `BatchHandler`, which invokes the function and
acknowledges what succeeded. Scaling, as Lambda's SQS pollers do: start at
`START_CONCURRENCY`, add `SCALE_UP_PER_MINUTE` a minute while batches come
back full (messages waiting), halve toward the start when polls come back
empty, never above `spec.cap` (at most `MAX_CONCURRENCY`); a handler raising
`Throttled` halves the target and retries the batch after a backoff
(`retry_after_s` when given), giving it back to the source after
`THROTTLE_RETRIES`.

Stopping a group (`drain()`, on disable, delete, update) cancels workers
waiting on the source and lets batches being handled finish, then the group's
`run` returns; cancelling the manager cancels everything.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from squall.engine.concurrency import Throttled
from squall.lib.tasks import Started, periodic, spawn

log = logging.getLogger("squall.pollers")

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)

START_CONCURRENCY = 5
SCALE_UP_PER_MINUTE = 300
MAX_CONCURRENCY = 1000
MAX_BATCH_BYTES = 6 * 1024 * 1024
POLL_WAIT_S = 20.0
SCALE_TICK_S = 1.0
THROTTLE_RETRIES = 4
ERROR_BACKOFF_S = (0.5, 10.0)


class Source(Protocol[R]):
    """Where a group's records come from (an SQS queue, later a stream shard)."""

    async def receive(self, limit: int, wait_s: float) -> Sequence[R]:
        """Up to `limit` records, waiting up to `wait_s` for the first (without polling in a loop)."""

    def size(self, record: R) -> int:
        """The record's share of the invocation payload in bytes."""

    def release(self, records: Sequence[R]) -> None:
        """Give records back unprocessed (the group stops or gives up on them)."""


class BatchHandler(Protocol[R_contra]):
    async def __call__(self, batch: Sequence[R_contra]) -> None:
        """Invoke the function with `batch` and acknowledge what succeeded.
        Raises `Throttled` when the function could not run; any other exception leaves the
        batch to the source's own retry (e.g. a visibility timeout) and backs the worker off."""


class BatchThrottled(Exception):
    """Raised by a handler when part of a batch ran and the rest (`remaining`) was throttled."""

    def __init__(self, remaining: Sequence[object], cause: Throttled) -> None:
        super().__init__(str(cause))
        self.remaining = list(remaining)
        self.cause = cause


@dataclass(frozen=True)
class PollerSpec:
    key: str
    batch_size: int
    window_s: float
    #: the cap on concurrent batches (ScalingConfig.MaximumConcurrency, reserved concurrency)
    cap: int = MAX_CONCURRENCY
    #: anything whose change needs a fresh source and handler (source, function, batching, filters)
    revision: Hashable = None


Opener = Callable[[PollerSpec], tuple[Source[R], BatchHandler[R]]]


class PollerGroup(Generic[R]):
    def __init__(self, spec: PollerSpec, source: Source[R], handler: BatchHandler[R]) -> None:
        self.spec = spec
        self.source = source
        self.handler = handler
        self.target = min(START_CONCURRENCY, self.cap)
        self._workers: set[asyncio.Task[Any]] = set()
        self._waiting: set[asyncio.Task[Any]] = set()  # workers blocked on the source
        self._group: asyncio.TaskGroup | None = None  # while running: the scaler and the workers
        self._scaler: asyncio.Task[Any] | None = None
        self._stopping = False
        self._full = self._empty = 0
        self._throttled_until = 0.0
        self.batches = 0

    @property
    def cap(self) -> int:
        return max(1, min(self.spec.cap, MAX_CONCURRENCY))

    @property
    def workers(self) -> int:
        return len(self._workers)

    async def run(self, started: Started) -> None:
        """The scaler and `target` workers, children of one TaskGroup: until cancelled (every
        worker cancelled) or, after `drain()`, until the batches being handled are done."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                if not self._stopping:  # (drained before it ran)
                    self._scaler = spawn(group, self._scale_loop(), f"poller-scale-{self.spec.key}")
                self._fill()
                started()
        finally:
            self._group = self._scaler = None

    def _fill(self) -> None:
        group = self._group
        while group is not None and not self._stopping and len(self._workers) < self.target:
            task = spawn(group, self._work(), f"poller-{self.spec.key}")
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    def drain(self) -> None:
        """Stop gracefully: the scaler and the workers waiting on the source are cancelled,
        batches being handled finish; `run` returns when they did."""
        self._stopping = True
        if self._scaler is not None:
            self._scaler.cancel()
        for task in list(self._waiting):
            task.cancel()

    def rescale(self) -> None:
        """One scaling step from what the polls since the last step saw."""
        full, empty, self._full, self._empty = self._full, self._empty, 0, 0
        if time.monotonic() < self._throttled_until:
            pass
        elif full and not empty:
            self.target += max(1, round(SCALE_UP_PER_MINUTE * SCALE_TICK_S / 60))
        elif empty and not full:
            self.target = max(min(START_CONCURRENCY, self.cap), self.target // 2)
        self.target = min(self.target, self.cap)
        self._fill()

    def throttled(self, retry_after_s: float | None) -> None:
        self.target = max(1, self.target // 2)
        self._throttled_until = time.monotonic() + max(retry_after_s or 0.0, 5.0)

    async def _scale_loop(self) -> None:
        while True:
            await asyncio.sleep(SCALE_TICK_S)
            self.rescale()

    async def _work(self) -> None:
        carry: list[R] = []
        errors = 0
        try:
            while not self._stopping and not self._retire():
                try:
                    taken, carry = carry, []
                    gathered = await self._gather(taken)
                    if gathered is None:
                        return
                    batch, carry = gathered
                    if batch:
                        await self._handle(batch)
                    errors = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not errors:
                        log.warning("event source mapping %s: %r", self.spec.key, exc, exc_info=True)
                    errors += 1
                    low, high = ERROR_BACKOFF_S
                    await self._idle(min(high, low * 2 ** (errors - 1)))
        finally:
            if carry:
                self.source.release(carry)

    async def _idle(self, seconds: float) -> None:
        """Sleep where a graceful stop may cancel it."""
        current = asyncio.current_task()
        assert current is not None
        self._waiting.add(current)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._waiting.discard(current)

    def _retire(self) -> bool:
        """Whether this worker leaves (more workers than the target); it leaves the set at once,
        so that a shrinking target retires exactly the surplus."""
        if len(self._workers) <= self.target:
            return False
        current = asyncio.current_task()
        if current is not None:
            self._workers.discard(current)
        return True

    async def _gather(self, carry: list[R]) -> tuple[list[R], list[R]] | None:
        """One batch (and what to carry into the next), starting from `carry`; None when the
        worker retires while waiting."""
        spec = self.spec
        batch, size = self._take(carry, [], 0)
        deadline: float | None = None
        while len(batch) < spec.batch_size and size < MAX_BATCH_BYTES:
            if not batch:
                wait = POLL_WAIT_S
            elif spec.window_s > 0:
                deadline = deadline or time.monotonic() + spec.window_s
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
            else:
                break
            current = asyncio.current_task()
            assert current is not None
            self._waiting.add(current)
            try:
                got = list(await self.source.receive(spec.batch_size - len(batch), wait))
            except BaseException:  # cancelled (a stop) or the source failed: give back what we hold
                if batch:
                    self.source.release(batch)
                raise
            finally:
                self._waiting.discard(current)
            if not got and not batch:
                self._empty += 1
                if self._stopping or self._retire():
                    return None
                continue
            if len(got) >= min(spec.batch_size, 10):
                self._full += 1
            if not got:
                break
            batch, size = self._take(got, batch, size)
        return self._split(batch)

    def _take(self, records: list[R], batch: list[R], size: int) -> tuple[list[R], int]:
        for record in records:
            batch.append(record)
            size += self.source.size(record)
        return batch, size

    def _split(self, batch: list[R]) -> tuple[list[R], list[R]]:
        """The records that fit in one invocation (at least one) and the rest."""
        size = 0
        for i, record in enumerate(batch):
            size += self.source.size(record)
            if i and (size > MAX_BATCH_BYTES or i >= self.spec.batch_size):
                return batch[:i], batch[i:]
        return batch, []

    async def _handle(self, batch: list[R]) -> None:
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                await self.handler(batch)
                self.batches += 1
                return
            except (Throttled, BatchThrottled) as raised:
                exc = raised if isinstance(raised, Throttled) else raised.cause
                if isinstance(raised, BatchThrottled):
                    batch = [r for r in batch if r in raised.remaining]
                self.throttled(exc.retry_after_s)
                if attempt == THROTTLE_RETRIES or self._stopping:
                    self.source.release(batch)
                    return
                delay = exc.retry_after_s or min(5.0, 0.2 * 2**attempt)
                await asyncio.sleep(delay * (0.5 + random.random()))


class Desired(Protocol):
    def __call__(self) -> dict[str, PollerSpec]: ...


class PollerManager:
    """Keeps one `PollerGroup` per desired spec; see the module docstring."""

    def __init__(self, desired: Desired, opener: Opener[object], interval_s: float = 0.5) -> None:
        self._desired = desired
        self._open = opener
        self._interval = interval_s
        self.groups: dict[str, PollerGroup[object]] = {}
        self._group: asyncio.TaskGroup | None = None  # while running: one child per poller group
        self._broken: dict[str, Hashable] = {}  # key -> revision that failed to open (logged once)
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Reconcile now (a mapping changed)."""
        self._wake.set()

    async def run(self, started: Started) -> None:
        """Reconcile every `interval_s` (or on `poke`); the groups are children of this TaskGroup."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                started()
                await periodic(
                    self.reconcile, self._interval, self._wake, "reconciling event source mappings"
                )
        finally:
            self._group = None
            self.groups = {}

    async def reconcile(self) -> None:
        if self._group is None:
            raise RuntimeError("PollerManager.reconcile outside run()")
        want = self._desired()
        stopping = []
        for key, group in list(self.groups.items()):
            spec = want.get(key)
            if spec is None or spec.revision != group.spec.revision:
                stopping.append(group)
                del self.groups[key]
            elif spec != group.spec:
                group.spec = spec
                group.target = min(group.target, group.cap)
        for key, spec in want.items():
            if key not in self.groups:
                try:
                    source, handler = self._open(spec)
                except Exception as exc:
                    if self._broken.get(key, ...) != spec.revision:
                        log.warning("event source mapping %s: cannot start its pollers: %s", key, exc)
                        self._broken[key] = spec.revision
                    continue
                self._broken.pop(key, None)
                group = PollerGroup(spec, source, handler)
                self.groups[key] = group
                spawn(self._group, group.run(lambda: None), f"poller-group-{key}")
        for group in stopping:  # batches being handled finish in the background
            group.drain()
