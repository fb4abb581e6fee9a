"""The async queue: the retry / age / backoff schedule, and the queue over a real store with a fake clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from squall.engine.asyncq import (
    EVENT_AGE_EXCEEDED,
    NS,
    RETRIES_EXHAUSTED,
    SUCCESS,
    AsyncEvent,
    AsyncOutcome,
    AsyncQueue,
    Attempt,
    AttemptKind,
    Done,
    Retry,
    RetryPolicy,
    decide,
    throttle_backoff,
)
from squall.lib.tasks import running
from squall.storage import SQLiteStore

OK = Attempt(AttemptKind.SUCCESS, b'{"r":1}', "$LATEST")
FAIL = Attempt(AttemptKind.FUNCTION_ERROR, b'{"errorMessage":"boom"}', "$LATEST", "Unhandled")
THROTTLE = Attempt(AttemptKind.THROTTLED, status_code=429, error="Throttled: Rate Exceeded.")


def event(t: float = 1000.0, **kw: object) -> AsyncEvent:
    return AsyncEvent("rid-1", "000000000000", "us-east-1", "fn", None, b'{"a":1}', t, **kw)  # type: ignore[arg-type]


def test_success_is_done() -> None:
    d = decide(event(), OK, RetryPolicy(), 1001.0, 60)
    assert isinstance(d, Done) and d.outcome.condition == SUCCESS and d.outcome.event.attempts == 1


def test_function_errors_retry_after_base_then_double_then_exhaust() -> None:
    e, now, delays = event(), 1000.0, []
    for _ in range(2):
        d = decide(e, FAIL, RetryPolicy(), now, 60)
        assert isinstance(d, Retry)
        delays.append(d.event.next_due - now)
        e, now = d.event, d.event.next_due
    assert delays == [60, 120]
    final = decide(e, FAIL, RetryPolicy(), now, 60)
    assert isinstance(final, Done) and final.outcome.condition == RETRIES_EXHAUSTED
    assert final.outcome.event.attempts == 3 and final.outcome.last == FAIL


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_attempts_are_one_plus_max_retries(retries: int) -> None:
    e, now, runs = event(), 1000.0, 0
    while True:
        runs += 1
        d = decide(e, FAIL, RetryPolicy(max_retries=retries), now, 0.2)
        if isinstance(d, Done):
            break
        assert isinstance(d, Retry)
        e, now = d.event, d.event.next_due
    assert runs == 1 + retries and d.outcome.event.attempts == runs


def test_throttles_back_off_from_1s_to_5min_without_using_retries() -> None:
    assert [throttle_backoff(n) for n in (1, 2, 3, 9, 10, 50)] == [1, 2, 4, 256, 300, 300]
    e, now = event(), 1000.0
    for n in range(1, 12):
        d = decide(e, THROTTLE, RetryPolicy(max_retries=0), now, 60)
        assert isinstance(d, Retry) and d.event.next_due - now == throttle_backoff(n)
        e, now = d.event, d.event.next_due
    assert e.errors == 0 and e.attempts == 0 and e.throttles == 11
    d = decide(e, FAIL, RetryPolicy(max_retries=0), now, 60)  # the first function error still counts
    assert isinstance(d, Done) and d.outcome.condition == RETRIES_EXHAUSTED
    assert d.outcome.event.throttles == 0


def test_retry_past_the_event_age_is_scheduled_at_expiry_then_dropped() -> None:
    policy = RetryPolicy(max_retries=2, max_age_s=60)
    d = decide(event(1000.0), FAIL, policy, 1005.0, 3600)
    assert isinstance(d, Retry) and d.event.next_due == 1060.0
    late = decide(event(1000.0), THROTTLE, policy, 1061.0, 3600)
    assert isinstance(late, Done) and late.outcome.condition == EVENT_AGE_EXCEEDED


def test_gone_is_dropped() -> None:
    assert decide(event(), Attempt(AttemptKind.GONE), RetryPolicy(), 1001.0, 60) is None


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Runner:
    def __init__(self, script: Callable[[AsyncEvent], Attempt], policy: RetryPolicy | None = None) -> None:
        self.script = script
        self.runs: list[AsyncEvent] = []
        self._policy = policy or RetryPolicy()
        self.gate: asyncio.Event | None = None

    def policy(self, event: AsyncEvent) -> RetryPolicy:
        return self._policy

    async def run(self, event: AsyncEvent) -> Attempt:
        self.runs.append(event)
        if self.gate is not None:
            await self.gate.wait()
        return self.script(event)


class Sink:
    def __init__(self) -> None:
        self.outcomes: list[AsyncOutcome] = []

    async def deliver(self, outcome: AsyncOutcome) -> None:
        self.outcomes.append(outcome)


def make(tmp_path: Path, runner: Runner, clock: Clock, **kw: object) -> tuple[AsyncQueue, Sink]:
    sink = Sink()
    q = AsyncQueue(SQLiteStore(tmp_path / "q.db"), runner, sink, clock=clock, **kw)  # type: ignore[arg-type]
    return q, sink


def test_queue_retries_on_schedule_and_survives_reopen(tmp_path: Path) -> None:
    clock = Clock()
    runner = Runner(lambda e: FAIL)

    async def main() -> None:
        q, sink = make(tmp_path, runner, clock, retry_base_s=60)
        q.enqueue(event(clock.t))
        assert await q.process_due() == 1
        assert len(runner.runs) == 1 and q.pending()[0].next_due == 1060.0
        clock.t = 1059.0
        assert await q.process_due() == 0  # not due yet
        clock.t = 1060.0
        assert await q.process_due() == 1
        # a new queue over the same store (a restart) picks up where it was
        q2, sink2 = make(tmp_path, runner, clock, retry_base_s=60)
        clock.t = 1180.0
        assert await q2.process_due() == 1
        assert [r.attempts for r in runner.runs] == [0, 1, 2]
        assert q2.pending() == [] and sink.outcomes == []
        (out,) = sink2.outcomes
        assert out.condition == RETRIES_EXHAUSTED and out.event.attempts == 3

    asyncio.run(main())


def test_queue_drops_expired_event_with_event_age_exceeded(tmp_path: Path) -> None:
    clock = Clock()
    runner = Runner(lambda e: FAIL, RetryPolicy(max_retries=2, max_age_s=60))

    async def main() -> None:
        q, sink = make(tmp_path, runner, clock, retry_base_s=3600)
        q.enqueue(event(clock.t))
        await q.process_due()
        clock.t = 1060.0
        await q.process_due()
        assert len(runner.runs) == 1  # dropped at expiry without running again
        (out,) = sink.outcomes
        assert out.condition == EVENT_AGE_EXCEEDED and out.event.attempts == 1 and q.pending() == []

    asyncio.run(main())


def test_runner_exception_is_a_system_error_requeued(tmp_path: Path) -> None:
    clock = Clock()

    def boom(e: AsyncEvent) -> Attempt:
        raise RuntimeError("engine down")

    runner = Runner(boom, RetryPolicy(max_retries=0))

    async def main() -> None:
        q, sink = make(tmp_path, runner, clock)
        q.enqueue(event(clock.t))
        await q.process_due()
        (e,) = q.pending()
        assert e.next_due == 1001.0 and e.throttles == 1 and "engine down" in (e.last_error or "")
        runner.script = lambda e: OK
        clock.t = 1001.0
        await q.process_due()
        assert [o.condition for o in sink.outcomes] == [SUCCESS]

    asyncio.run(main())


def test_worker_runs_concurrently_within_bounds_and_wakes_on_enqueue(tmp_path: Path) -> None:
    runner = Runner(lambda e: OK, RetryPolicy(concurrency=2))

    async def main() -> None:
        q, sink = make(tmp_path, runner, Clock(0.0), concurrency=3)
        q.clock = time.time
        runner.gate = asyncio.Event()
        async with running(q):
            await asyncio.sleep(0.05)  # idle: the worker waits for a wake
            for i in range(3):
                q.enqueue(AsyncEvent(f"a{i}", "0", "r", "fa", None, b"{}", time.time()))
            for i in range(2):
                q.enqueue(AsyncEvent(f"b{i}", "0", "r", "fb", None, b"{}", time.time()))
            for _ in range(100):
                if len(runner.runs) >= 3:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            busy = [r.function for r in runner.runs]
            assert len(busy) == 3 and busy.count("fa") <= 2  # overall 3, per function 2
            runner.gate.set()
            for _ in range(200):
                if len(sink.outcomes) == 5:
                    break
                await asyncio.sleep(0.01)
            assert sorted(o.event.event_id for o in sink.outcomes) == ["a0", "a1", "a2", "b0", "b1"]
            assert q.pending() == []

    asyncio.run(main())


def test_cancelled_run_leaves_the_event_queued(tmp_path: Path) -> None:
    runner = Runner(lambda e: OK)

    async def main() -> None:
        q, sink = make(tmp_path, runner, Clock(0.0))
        q.clock = time.time
        runner.gate = asyncio.Event()  # never set: the run hangs like a slow function
        async with running(q):
            q.enqueue(event(time.time()))
            for _ in range(100):
                if runner.runs:
                    break
                await asyncio.sleep(0.01)
        assert len(runner.runs) == 1 and sink.outcomes == []
        (left,) = q.pending()
        assert left.event_id == "rid-1" and left.attempts == 0
        with q.store.read() as r:
            assert r.count(NS) == 1

    asyncio.run(main())
