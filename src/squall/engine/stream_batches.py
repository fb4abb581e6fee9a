"""One batch of a stream shard, through the function until it succeeds or is given up.

`BatchRunner.run(shard_id, batch)` is what Lambda's stream pollers do with a batch of ordered
records (DynamoDB Streams, Kinesis):

- the handler invokes the function once (`StreamHandler.invoke`) and answers an
  `Outcome`: success, a function error, or (ReportBatchItemFailures) the index of the
  lowest failed record, from which the batch is retried (the records before it are done);
- `Throttled` (the function could not run) retries after a backoff without counting
  an attempt, until the records are too old;
- a function error retries the same batch; with `bisect` the batch is split in halves
  first (a split does not count against the retries) and each half is run in order;
- the batch is given up when an attempt would pass `max_retries` (-1: no limit) or its
  oldest record is older than `max_age_s` (-1: no limit) -- `StreamHandler.give_up` then
  gets the records with the condition ("RetryAttemptsExhausted" / "RecordAgeExceeded")
  and the number of invocations made, and the shard moves on.

Tumbling windows: a batch run inside a `Window` passes the window's state to the
function and takes the state it returns (`Outcome.state`); `final(shard_id, window)` is
the window's last invocation (no records, `window.final`), retried like a batch and
dropped when it keeps failing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from squall.engine.concurrency import Throttled

log = logging.getLogger("squall.pollers.streams")

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)

RETRY_BACKOFF_S = (0.05, 5.0)
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
AGE_EXCEEDED = "RecordAgeExceeded"
#: retries of a window's final invocation when MaximumRetryAttempts is -1
FINAL_RETRIES = 10


@dataclass(frozen=True)
class Outcome:
    """What one invocation did: `failed_from` None is a success; otherwise the index in the
    batch of the first record to retry (0: the whole batch failed)."""

    failed_from: int | None = None
    #: what the failure record's responseContext reports (status, executed version, error)
    response: dict[str, object] | None = None
    #: tumbling windows: the state the function returned, and whether it ends the window early
    state: dict[str, Any] | None = None
    terminate_window: bool = False

    @property
    def ok(self) -> bool:
        return self.failed_from is None


@dataclass
class Window:
    """A tumbling window of a shard: [start, end) in epoch seconds, the state so far."""

    start: float
    end: float
    state: dict[str, Any] = field(default_factory=dict)
    final: bool = False
    terminated_early: bool = False


class StreamHandler(Protocol[R_contra]):
    async def invoke(self, shard_id: str, batch: Sequence[R_contra], window: Window | None) -> Outcome:
        """Invoke the function with `batch` (raises `Throttled` when it could not run)."""

    async def give_up(
        self, shard_id: str, batch: Sequence[R_contra], condition: str, attempts: int, last: Outcome | None
    ) -> None:
        """The batch is discarded (send the OnFailure record); must not raise."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = -1
    max_age_s: float = -1
    bisect: bool = False


class BatchRunner(Generic[R]):
    def __init__(
        self,
        handler: StreamHandler[R],
        policy: RetryPolicy,
        arrival: Callable[[R], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.handler = handler
        self.policy = policy
        self.arrival = arrival
        self.clock = clock

    async def run(self, shard_id: str, batch: Sequence[R], window: Window | None = None) -> None:
        pending: list[Sequence[R]] = [batch]
        while pending:
            part = pending.pop(0)
            halves = await self._run_one(shard_id, part, window)
            pending[:0] = halves

    async def final(self, shard_id: str, window: Window) -> None:
        """The window's final invocation (without records)."""
        window.final = True
        failures = throttles = 0
        while True:
            try:
                outcome = await self.handler.invoke(shard_id, [], window)
            except Throttled as exc:
                throttles += 1
                if self.policy.max_age_s >= 0 and self.clock() - window.end > self.policy.max_age_s:
                    return
                await asyncio.sleep(exc.retry_after_s or _backoff(throttles))
                continue
            if outcome.ok:
                return
            failures += 1
            limit = self.policy.max_retries if self.policy.max_retries >= 0 else FINAL_RETRIES
            if failures > limit:
                log.info("shard %s: the final invocation of a window failed; its state is dropped", shard_id)
                return
            await asyncio.sleep(_backoff(failures))

    def _too_old(self, batch: Sequence[R]) -> bool:
        limit = self.policy.max_age_s
        return limit >= 0 and self.clock() - min(self.arrival(r) for r in batch) > limit

    async def _run_one(self, shard_id: str, batch: Sequence[R], window: Window | None) -> list[Sequence[R]]:
        """Run `batch` to success or give-up; returns halves to run next when it was bisected."""
        attempts = failures = 0
        last: Outcome | None = None
        throttles = 0
        while batch:
            if self._too_old(batch):
                await self.handler.give_up(shard_id, batch, AGE_EXCEEDED, attempts, last)
                return []
            try:
                outcome = await self.handler.invoke(shard_id, batch, window)
            except Throttled as exc:
                throttles += 1
                await asyncio.sleep(exc.retry_after_s or _backoff(throttles))
                continue
            attempts += 1
            if window is not None and outcome.state is not None and outcome.failed_from != 0:
                window.state = outcome.state
                window.terminated_early = window.terminated_early or outcome.terminate_window
            if outcome.ok:
                return []
            last = outcome
            batch = batch[outcome.failed_from or 0 :]
            if self.policy.bisect and len(batch) > 1:
                middle = len(batch) // 2
                return [batch[:middle], batch[middle:]]
            failures += 1
            if self.policy.max_retries >= 0 and failures > self.policy.max_retries:
                await self.handler.give_up(shard_id, batch, RETRIES_EXHAUSTED, attempts, last)
                return []
            await asyncio.sleep(_backoff(failures))
        return []


def _backoff(n: int) -> float:
    low, high = RETRY_BACKOFF_S
    return float(min(high, low * 2 ** (n - 1)))
