"""The durable queue of asynchronous invocations (InvocationType=Event) and its worker.

Contract:

- `AsyncQueue.enqueue(event)` commits the event to the store (namespace
  `lambda.async`, key ``(due time in microseconds, event id)``) before it
  returns: once the caller answers 202, the event survives a crash.
- The worker (`run(started)`, a `lib.tasks.Background`: one child task per
  running event in the worker's TaskGroup, all cancelled with it) takes due
  events by a range scan over the keys, runs them concurrently (at most `concurrency` overall and a
  per-function cap from the `RetryPolicy`) through the service's
  `AsyncRunner`, and sleeps when idle until an enqueue or the next due time.
- An event leaves the queue only after its outcome is committed: a retry is
  re-keyed in one transaction, a final outcome is handed to the
  `OutcomeSink` first and deleted after (if the sink raises, the event is
  re-queued with the throttle backoff and runs again). A crash or `kill -9` during a run
  leaves the event in place, and it runs again after restart (at-least-once).
- The schedule (`decide`): success -> Success; a function error is retried
  after ``base * 2**(n-1)`` seconds (n = errors so far) while errors <=
  `max_retries`, then RetriesExhausted; a throttle or system error is
  re-queued after 1 s doubling up to 5 minutes without using up retries; an
  event older than `max_age_s` is dropped with EventAgeExceeded (a retry due
  after the expiry is scheduled at the expiry instead). GONE (the function
  was deleted) drops the event without an outcome.

This module is engine side: it knows no AWS shapes; the service builds the
destination records from `AsyncOutcome`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any, Protocol

from squall.engine.concurrency import Throttled
from squall.lib.tasks import Started, spawn
from squall.storage import Store, pack

log = logging.getLogger("squall.lambda.async")

NS = "lambda.async"
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600.0
THROTTLE_BACKOFF_MAX_S = 300.0
SUCCESS, RETRIES_EXHAUSTED, EVENT_AGE_EXCEEDED = "Success", "RetriesExhausted", "EventAgeExceeded"


@dataclass(frozen=True)
class AsyncEvent:
    """One accepted event: the target as invoked, the payload, and its progress."""

    event_id: str  # the request id returned to the caller
    account: str
    region: str
    function: str
    qualifier: str | None  # as invoked (None: unqualified)
    payload: bytes
    enqueued_at: float
    endpoint: str | None = None
    attempts: int = 0  # runs of the function so far (approximateInvokeCount)
    errors: int = 0  # function errors so far (each uses up a retry)
    throttles: int = 0  # consecutive throttles / system errors (drive the backoff)
    next_due: float = 0.0
    last_error: str | None = None

    @property
    def key(self) -> bytes:
        return pack(round(self.next_due * 1_000_000), self.event_id)

    @property
    def function_key(self) -> tuple[str, str, str]:
        return (self.account, self.region, self.function)

    def dump(self) -> bytes:
        d: dict[str, Any] = asdict(self)
        d["payload"] = base64.b64encode(self.payload).decode()
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def load(cls, raw: bytes) -> AsyncEvent:
        d = json.loads(raw)
        d["payload"] = base64.b64decode(d["payload"])
        return cls(**d)


class AttemptKind(Enum):
    SUCCESS = "success"
    FUNCTION_ERROR = "function_error"
    THROTTLED = "throttled"  # also system errors: re-queued without using up retries
    GONE = "gone"  # the function (or qualifier) no longer exists: dropped


@dataclass(frozen=True)
class Attempt:
    """What one run gave: `payload` is the response (or error document)."""

    kind: AttemptKind
    payload: bytes = b""
    executed_version: str | None = None
    function_error: str | None = None
    status_code: int = 200
    error: str | None = None  # message of a throttle / system error


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_MAX_RETRIES
    max_age_s: float = DEFAULT_MAX_AGE_S
    concurrency: int | None = None  # per-function cap on running events (None: the overall bound)


@dataclass(frozen=True)
class AsyncOutcome:
    """A final outcome: `condition` is Success, RetriesExhausted or EventAgeExceeded;
    `last` is the last attempt that ran the function (None if none did)."""

    event: AsyncEvent
    condition: str
    last: Attempt | None
    finished_at: float


class AsyncRunner(Protocol):
    """Supplied by the service: the policy of an event's function, and one run of it.
    `run` raising anything counts as a system error (re-queued with backoff)."""

    def policy(self, event: AsyncEvent) -> RetryPolicy: ...

    async def run(self, event: AsyncEvent) -> Attempt: ...


class OutcomeSink(Protocol):
    """Receives every final outcome before the event leaves the queue (at-least-once:
    after a crash the same outcome may be delivered again)."""

    async def deliver(self, outcome: AsyncOutcome) -> None: ...


@dataclass(frozen=True)
class Done:
    outcome: AsyncOutcome


@dataclass(frozen=True)
class Retry:
    event: AsyncEvent


def expired(event: AsyncEvent, policy: RetryPolicy, now: float) -> bool:
    return now - event.enqueued_at >= policy.max_age_s


def throttle_backoff(n: int) -> float:
    """Seconds before retrying after the n-th consecutive throttle or system error."""
    return min(THROTTLE_BACKOFF_MAX_S, 2.0 ** min(n - 1, 30))


def decide(
    event: AsyncEvent, attempt: Attempt, policy: RetryPolicy, now: float, base_s: float
) -> Done | Retry | None:
    """What follows `attempt` on `event` at `now`: a final outcome, a re-queued event, or None (drop)."""
    last: Attempt | None = attempt
    if attempt.kind is AttemptKind.GONE:
        return None
    if attempt.kind is AttemptKind.THROTTLED:
        n = event.throttles + 1
        delay = throttle_backoff(n)
        updated = replace(event, throttles=n, last_error=attempt.error)
        last = None
    else:
        updated = replace(event, attempts=event.attempts + 1, throttles=0)
        if attempt.kind is AttemptKind.SUCCESS:
            return Done(AsyncOutcome(updated, SUCCESS, attempt, now))
        errors = event.errors + 1
        updated = replace(updated, errors=errors, last_error=attempt.function_error)
        if errors > policy.max_retries:
            return Done(AsyncOutcome(updated, RETRIES_EXHAUSTED, attempt, now))
        delay = base_s * 2.0 ** (errors - 1)
    expiry = event.enqueued_at + policy.max_age_s
    if now + delay >= expiry:
        if now >= expiry:
            return Done(AsyncOutcome(updated, EVENT_AGE_EXCEEDED, last, now))
        delay = expiry - now  # the event will be dropped then, not run
    return Retry(replace(updated, next_due=now + delay))


class AsyncQueue:
    def __init__(
        self,
        store: Store,
        runner: AsyncRunner,
        sink: OutcomeSink,
        *,
        retry_base_s: float = 60.0,
        concurrency: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.runner = runner
        self.sink = sink
        self.retry_base_s = retry_base_s
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self._wake = asyncio.Event()
        self._running: dict[bytes, asyncio.Task[Any]] = {}
        self._per_function: Counter[tuple[str, str, str]] = Counter()

    def enqueue(self, event: AsyncEvent) -> AsyncEvent:
        """Commit `event` (due now unless `next_due` is set) and wake the worker."""
        if not event.next_due:
            event = replace(event, next_due=event.enqueued_at)
        with self.store.write() as w:
            w.put(NS, event.key, event.dump())
        self._wake.set()
        return event

    def pending(self) -> list[AsyncEvent]:
        """Every queued event (running ones included), by due time."""
        with self.store.read() as r:
            return [AsyncEvent.load(v) for _, v in r.scan(NS)]

    async def run(self, started: Started) -> None:
        """The worker: runs due events as children of its TaskGroup until cancelled."""
        self._wake = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            started()
            while True:
                self._wake.clear()
                try:
                    delay = self._dispatch(self.clock(), group)
                except Exception:
                    log.exception("async queue dispatch failed")
                    delay = 1.0
                if delay is None:
                    await self._wake.wait()
                elif delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wake.wait()

    async def process_due(self) -> int:
        """Start every due event (within the bounds) and wait for the runs; the count started
        (for tests and tools driving the queue without its worker)."""
        before = set(self._running)
        async with asyncio.TaskGroup() as group:
            self._dispatch(self.clock(), group)
            return len(set(self._running) - before)

    def _dispatch(self, now: float, group: asyncio.TaskGroup) -> float | None:
        """Start due events; the seconds until the next one is due, or None to wait for a wake."""
        due_end = pack(round(now * 1_000_000) + 1)
        blocked = False
        with self.store.read() as r:
            rows = list(r.scan(NS, end=due_end, limit=len(self._running) + self.concurrency + 256))
            upcoming = next(iter(r.scan(NS, start=due_end, limit=1)), None)
        for key, raw in rows:
            if key in self._running:
                continue
            if len(self._running) >= self.concurrency:
                return None
            event = AsyncEvent.load(raw)
            policy = self._policy(event)
            cap = min(policy.concurrency or self.concurrency, self.concurrency)
            if self._per_function[event.function_key] >= cap:
                blocked = True
                continue
            self._per_function[event.function_key] += 1
            self._running[key] = spawn(group, self._handle(key, event, policy), f"async-{key!r}")
        if blocked or upcoming is None:
            return None
        return max(0.0, AsyncEvent.load(upcoming[1]).next_due - now)

    def _policy(self, event: AsyncEvent) -> RetryPolicy:
        try:
            return self.runner.policy(event)
        except Exception:
            log.exception("async event %s: no retry policy, using the defaults", event.event_id)
            return RetryPolicy()

    async def _handle(self, key: bytes, event: AsyncEvent, policy: RetryPolicy) -> None:
        try:
            now = self.clock()
            decision: Done | Retry | None
            if expired(event, policy, now):
                decision = Done(AsyncOutcome(event, EVENT_AGE_EXCEEDED, None, now))
            else:
                try:
                    attempt = await self.runner.run(event)
                except Exception as exc:  # a throttle or system error
                    log.info("async event %s: %s: %s", event.event_id, type(exc).__name__, exc)
                    kind = type(exc).__name__
                    status = 429 if isinstance(exc, Throttled) else 500
                    attempt = Attempt(AttemptKind.THROTTLED, status_code=status, error=f"{kind}: {exc}")
                decision = decide(event, attempt, policy, self.clock(), self.retry_base_s)
            await self._commit(key, event, decision)
        finally:
            self._running.pop(key, None)
            self._per_function[event.function_key] -= 1
            if self._per_function[event.function_key] <= 0:
                del self._per_function[event.function_key]
            self._wake.set()

    async def _commit(self, key: bytes, event: AsyncEvent, decision: Done | Retry | None) -> None:
        if isinstance(decision, Retry):
            with self.store.write() as w:
                w.delete(NS, key)
                w.put(NS, decision.event.key, decision.event.dump())
            return
        if isinstance(decision, Done):
            try:
                await self.sink.deliver(decision.outcome)
            except Exception:
                log.exception("async event %s: outcome not delivered; re-queued", event.event_id)
                n = event.throttles + 1
                again = replace(event, throttles=n, next_due=self.clock() + throttle_backoff(n))
                with self.store.write() as w:
                    w.delete(NS, key)
                    w.put(NS, again.key, again.dump())
                return
        else:
            log.info("async event %s dropped: %s no longer exists", event.event_id, event.function)
        with self.store.write() as w:
            w.delete(NS, key)
