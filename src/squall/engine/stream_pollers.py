"""Stream pollers: ordered, checkpointed reading of a sharded stream for an event source mapping.

A `StreamPollerManager` keeps one `StreamPoller` per enabled stream mapping, reconciled
every `interval_s` against `desired()` (`StreamSpec`s keyed by mapping id; a changed
`revision` restarts the poller). A `StreamPoller` discovers the stream's shards
(`ShardSource.shards`) and runs one task per shard; a child shard starts once its parent
is finished (its last record processed), so a key's order holds across splits. Both are
`lib.tasks.Background` components: the manager's `run` holds one child per poller, a
poller's `run` one child per shard, in their TaskGroups.

Positions (what `Checkpoints` stores per shard) are "after this sequence number":
`BEGIN` (before the first record), a sequence number, or `END` (the shard is closed and
done). `StartingPosition` is resolved once, the first time the mapping runs, for the
shards open then (TRIM_HORIZON: `BEGIN`; LATEST: after the shard's last record, closed
shards `END`; AT_TIMESTAMP: before the first record at or after the time) and
checkpointed at once; shards that appear later start at their beginning. A spec may carry
`start_positions`, the positions LATEST stood at when the mapping was enabled (resolved by the
caller before it reported Enabled): then those are used, and a shard missing from them opened
after that moment and starts at its beginning, so nothing written after Enabled is skipped.

A shard task reads up to `batch_size * parallelization` records after its position
(waiting on `ShardSource.wait`, and with a batching window up to `window_s` for a full
batch), drops what `matches` rejects, splits the rest into `parallelization` lanes by
partition key (a key always in the same lane, in order), runs each lane's batches in
order through a `BatchRunner` (lanes concurrently; a batch holds at most `batch_size`
records and `MAX_BATCH_BYTES`), then checkpoints the last record
read. With a parallelization factor of 1 each batch is checkpointed as it completes; a
stop or crash mid-batch replays only the unacknowledged records.

Tumbling windows (`tumbling_s` > 0): records fall in windows aligned on multiples of
`tumbling_s` by their arrival time; batches never cross a window and run in one lane
(ParallelizationFactor is not applied) with the window's state; the window ends with a
final invocation without records when a record of a later window arrives, when its end
passes with the shard idle, or early when the function's state grew too large. The
window's state is checkpointed with the position (key `<shard id>#window`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from squall.engine.stream_batches import BatchRunner, RetryPolicy, StreamHandler, Window
from squall.lib.tasks import Started, periodic, spawn

log = logging.getLogger("squall.pollers.streams")

R = TypeVar("R")

BEGIN = ""
END = "~END"
STARTED = "*"  # the checkpoint key that says the starting position was resolved
WINDOW = "#window"  # suffix of the checkpoint key of a shard's open tumbling window
POLL_WAIT_S = (
    0.25  # a wake-up missed between a read and the wait costs at most this (AWS polls 4 times a second)
)
MAX_BATCH_BYTES = 6 * 1024 * 1024
DISCOVER_S = 1.0
ERROR_BACKOFF_S = 1.0
TRIM_HORIZON, LATEST, AT_TIMESTAMP = "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None = None
    end_seq: str | None = None  # set once the shard is closed


class ShardSource(Protocol[R]):
    def shards(self) -> list[Shard]: ...

    def read(self, shard_id: str, after_seq: str | None, limit: int) -> Sequence[R]:
        """Records with a sequence number above `after_seq` (None: from the oldest kept), in order."""

    def latest_seq(self, shard_id: str) -> str | None: ...

    def first_seq_at(self, shard_id: str, timestamp: float) -> str | None: ...

    async def wait(self, wait_s: float) -> None:
        """Return when a record may have been appended (or after `wait_s` seconds)."""

    def sequence(self, record: R) -> str: ...

    def partition(self, record: R) -> Hashable: ...

    def arrival(self, record: R) -> float:
        """When the record entered the stream (epoch seconds)."""

    def size(self, record: R) -> int:
        """The record's share of the invocation payload in bytes."""


class Checkpoints(Protocol):
    def load(self) -> dict[str, str]:
        """shard id -> position (and `STARTED`)."""

    def save(self, shard_id: str, position: str) -> None: ...


@dataclass(frozen=True)
class StreamSpec:
    key: str
    batch_size: int = 100
    window_s: float = 0.0
    parallelization: int = 1
    starting_position: str = LATEST
    start_timestamp: float | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    tumbling_s: float = 0.0
    revision: Hashable = None
    #: LATEST resolved earlier: (shard id, position) pairs; None: resolved when the poller first runs.
    start_positions: tuple[tuple[str, str], ...] | None = None


def before(seq: str) -> str:
    """The position just before `seq` (zero-padded decimal sequence numbers)."""
    n = int(seq)
    return BEGIN if n == 0 else str(n - 1).zfill(len(seq))


class StreamPoller(Generic[R]):
    def __init__(
        self,
        spec: StreamSpec,
        source: ShardSource[R],
        handler: StreamHandler[R],
        checkpoints: Checkpoints,
        matches: Callable[[R], bool] | None = None,
    ) -> None:
        self.spec = spec
        self.source = source
        self.runner = BatchRunner(handler, spec.policy, source.arrival)
        self.checkpoints = checkpoints
        self.matches = matches
        self.positions: dict[str, str] = {}
        self.shards: dict[str, Shard] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}  # running shards
        self._group: asyncio.TaskGroup | None = None  # while running: one child per shard
        self._wake = asyncio.Event()

    async def run(self, started: Started) -> None:
        """Discover shards every `DISCOVER_S` (or when a shard finished); shards are children."""
        self.positions = self.checkpoints.load()
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                started()
                await periodic(
                    self.discover, DISCOVER_S, self._wake, f"stream mapping {self.spec.key}: listing shards"
                )
        finally:
            self._group = None

    def discover(self) -> None:
        """Refresh the shards, resolve the starting position once, start every shard whose parent is done."""
        self.shards = {s.shard_id: s for s in self.source.shards()}
        if STARTED not in self.positions:
            for shard in self.shards.values():
                self._save(shard.shard_id, self._initial(shard))
            self._save(STARTED, "1")
        for shard_id, shard in self.shards.items():
            if shard_id in self._tasks or self.positions.get(shard_id) == END:
                continue
            parent = shard.parent_id
            if parent in self.shards and self.positions.get(parent) != END:
                continue
            if self._group is not None:
                task = spawn(self._group, self._run_shard(shard_id), f"stream-{self.spec.key}-{shard_id}")
                self._tasks[shard_id] = task

    def _initial(self, shard: Shard) -> str:
        spec, sid = self.spec, shard.shard_id
        if spec.starting_position == TRIM_HORIZON:
            return BEGIN
        if spec.starting_position == AT_TIMESTAMP and spec.start_timestamp is not None:
            first = self.source.first_seq_at(sid, spec.start_timestamp)
            if first is not None:
                return before(first)
        if spec.starting_position == LATEST and spec.start_positions is not None:
            return dict(spec.start_positions).get(sid, BEGIN)
        if shard.end_seq is not None:
            return END
        return self.source.latest_seq(sid) or BEGIN

    def _save(self, shard_id: str, position: str) -> None:
        self.checkpoints.save(shard_id, position)
        self.positions[shard_id] = position

    async def _run_shard(self, shard_id: str) -> None:
        errors = 0
        try:
            while True:
                try:
                    if await self._step(shard_id):
                        self._save(shard_id, END)
                        self._wake.set()  # its children may start
                        return
                    errors = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not errors:  # once per run of failures (a stream deleted, a store error)
                        log.warning("stream mapping %s shard %s: %r", self.spec.key, shard_id, exc)
                    errors += 1
                    await asyncio.sleep(ERROR_BACKOFF_S)
        finally:
            self._tasks.pop(shard_id, None)

    async def _step(self, shard_id: str) -> bool:
        """Process one read of the shard; True when the shard is closed and done."""
        spec = self.spec
        position = self.positions.get(shard_id, BEGIN)
        closed = self.shards.get(shard_id, Shard(shard_id)).end_seq is not None
        limit = spec.batch_size * spec.parallelization
        records = list(self.source.read(shard_id, position or None, limit))
        window = self._window(shard_id)
        if not records:
            if window is not None and (closed or time.time() >= window.end):
                await self._close_window(shard_id, window)
                return False
            if closed:
                return True
            wait = POLL_WAIT_S if window is None else min(POLL_WAIT_S, window.end - time.time())
            await self.source.wait(max(wait, 0.001))
            return False
        if spec.window_s > 0 and len(records) < limit:
            deadline = time.monotonic() + spec.window_s
            while len(records) < limit and (left := deadline - time.monotonic()) > 0:
                await self.source.wait(left)
                after = self.source.sequence(records[-1])
                records += self.source.read(shard_id, after, limit - len(records))
        wanted = records if self.matches is None else [r for r in records if self.matches(r)]
        if wanted and spec.tumbling_s > 0:
            await self._process_windows(shard_id, wanted)
        elif wanted:
            await self._process(shard_id, wanted)
        self._save(shard_id, self.source.sequence(records[-1]))
        return False

    def _window(self, shard_id: str) -> Window | None:
        raw = self.positions.get(shard_id + WINDOW)
        if not raw:
            return None
        start, end, state, early = json.loads(raw)
        return Window(start, end, state, terminated_early=early)

    def _save_window(self, shard_id: str, window: Window | None) -> None:
        value = (
            ""
            if window is None
            else json.dumps([window.start, window.end, window.state, window.terminated_early])
        )
        if self.positions.get(shard_id + WINDOW, "") != value:
            self._save(shard_id + WINDOW, value)

    async def _close_window(self, shard_id: str, window: Window) -> None:
        await self.runner.final(shard_id, window)
        self._save_window(shard_id, None)

    async def _process_windows(self, shard_id: str, records: list[R]) -> None:
        size = self.spec.tumbling_s
        window = self._window(shard_id)
        group: list[R] = []
        for record in records:
            start = self.source.arrival(record) // size * size
            if window is not None and (start >= window.end or window.terminated_early):
                if group:
                    await self._lane(shard_id, group, window)
                    group = []
                await self._close_window(shard_id, window)
                window = None
            if window is None:
                window = Window(start, start + size)
            group.append(record)
        if group and window is not None:
            await self._lane(shard_id, group, window)
        if window is not None and window.terminated_early:
            await self._close_window(shard_id, window)
        else:
            self._save_window(shard_id, window)

    async def _process(self, shard_id: str, records: list[R]) -> None:
        spec = self.spec
        if spec.parallelization <= 1:
            lanes = [records]
        else:
            by_lane: dict[int, list[R]] = {}
            for record in records:
                lane = hash(self.source.partition(record)) % spec.parallelization
                by_lane.setdefault(lane, []).append(record)
            lanes = list(by_lane.values())
        await asyncio.gather(*(self._lane(shard_id, lane) for lane in lanes))

    async def _lane(self, shard_id: str, records: list[R], window: Window | None = None) -> None:
        batch: list[R] = []
        size = 0
        for record in records:
            n = self.source.size(record)
            if batch and (len(batch) >= self.spec.batch_size or size + n > MAX_BATCH_BYTES):
                await self.runner.run(shard_id, batch, window)
                batch, size = [], 0
            batch.append(record)
            size += n
        if batch:
            await self.runner.run(shard_id, batch, window)


class Desired(Protocol):
    def __call__(self) -> dict[str, StreamSpec]: ...


Opener = Callable[[StreamSpec], StreamPoller[object]]


class StreamPollerManager:
    """Keeps one `StreamPoller` per desired spec (see the module docstring)."""

    def __init__(self, desired: Desired, opener: Opener, interval_s: float = 0.5) -> None:
        self._desired = desired
        self._open = opener
        self._interval = interval_s
        self.pollers: dict[str, StreamPoller[object]] = {}
        self._running: dict[str, asyncio.Task[Any]] = {}  # each poller's run, a child of the group
        self._group: asyncio.TaskGroup | None = None
        self._broken: dict[str, Hashable] = {}
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run(self, started: Started) -> None:
        """Reconcile every `interval_s` (or on `poke`); the pollers are children of this TaskGroup."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                started()
                await periodic(
                    self.reconcile, self._interval, self._wake, "reconciling stream event source mappings"
                )
        finally:
            self._group = None
            self.pollers, self._running = {}, {}

    async def reconcile(self) -> None:
        if self._group is None:
            raise RuntimeError("StreamPollerManager.reconcile outside run()")
        want = self._desired()
        for key, poller in list(self.pollers.items()):
            spec = want.get(key)
            if spec is None or spec.revision != poller.spec.revision:
                del self.pollers[key]
                task = self._running.pop(key)
                task.cancel()  # this poller alone; its checkpoints say where a successor resumes
                await asyncio.wait([task])
        for key, spec in want.items():
            if key in self.pollers:
                continue
            try:
                poller = self._open(spec)
            except Exception as exc:
                if self._broken.get(key, ...) != spec.revision:
                    log.warning("stream mapping %s: cannot start its pollers: %s", key, exc)
                    self._broken[key] = spec.revision
                continue
            self._broken.pop(key, None)
            self.pollers[key] = poller
            self._running[key] = spawn(self._group, poller.run(lambda: None), f"stream-{key}")
