"""Stream pollers over an in-memory sharded stream: order per shard, starting positions,
parallelization keeping key order, filters, retries, bisect, partial failures, record
age, checkpoint resume, parent before child."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import pytest

from squall.engine import stream_batches
from squall.engine.concurrency import Throttled, ThrottleReason
from squall.engine.stream_batches import AGE_EXCEEDED, RETRIES_EXHAUSTED, Outcome, RetryPolicy, Window
from squall.engine.stream_pollers import (
    END,
    Shard,
    StreamPoller,
    StreamPollerManager,
    StreamSpec,
    before,
)
from squall.lib.tasks import running


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_batches, "RETRY_BACKOFF_S", (0.001, 0.01))


@dataclass
class Rec:
    seq: str
    key: str
    at: float = field(default_factory=time.time)


class MemStream:
    def __init__(self) -> None:
        self.records: dict[str, list[Rec]] = {"s1": []}
        self.info: dict[str, Shard] = {"s1": Shard("s1")}
        self.counter = 0
        self.changed = asyncio.Event()

    def put(self, key: str, shard: str = "s1", at: float | None = None) -> str:
        self.counter += 1
        seq = str(self.counter).zfill(10)
        self.records[shard].append(Rec(seq, key, time.time() if at is None else at))
        self.changed.set()
        return seq

    def split(self, parent: str, child: str) -> None:
        last = self.records[parent][-1].seq if self.records[parent] else "0".zfill(10)
        self.info[parent] = Shard(parent, self.info[parent].parent_id, last)
        self.info[child] = Shard(child, parent)
        self.records[child] = []

    def shards(self) -> list[Shard]:
        return list(self.info.values())

    def read(self, shard_id: str, after_seq: str | None, limit: int) -> Sequence[Rec]:
        return [r for r in self.records[shard_id] if after_seq is None or r.seq > after_seq][:limit]

    def latest_seq(self, shard_id: str) -> str | None:
        return self.records[shard_id][-1].seq if self.records[shard_id] else None

    def first_seq_at(self, shard_id: str, timestamp: float) -> str | None:
        return next((r.seq for r in self.records[shard_id] if r.at >= timestamp), None)

    async def wait(self, wait_s: float) -> None:
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self.changed.wait()

    def sequence(self, record: Rec) -> str:
        return record.seq

    def partition(self, record: Rec) -> Hashable:
        return record.key

    def arrival(self, record: Rec) -> float:
        return record.at

    def size(self, record: Rec) -> int:
        return 4 * 1024 * 1024 if record.key == "big" else 100


class MemCheckpoints:
    def __init__(self) -> None:
        self.saved: dict[str, str] = {}

    def load(self) -> dict[str, str]:
        return dict(self.saved)

    def save(self, shard_id: str, position: str) -> None:
        self.saved[shard_id] = position


class Handler:
    """Fails (or throttles) according to `script`: seq -> list of outcomes to give in turn."""

    def __init__(self, fail: set[str] | None = None, partial: bool = False, throttles: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail or set()
        self.partial = partial
        self.throttles = throttles
        self.given_up: list[tuple[str, list[str], str, int]] = []
        self.delay = 0.0
        self.windows: list[tuple[float, bool, dict[str, int], list[str]]] = []
        self.window_limit = 1_000

    async def invoke(self, shard_id: str, batch: Sequence[Rec], window: Window | None) -> Outcome:
        if window is not None:
            self.windows.append((window.start, window.final, dict(window.state), [r.seq for r in batch]))
            if not window.final:
                state = {"n": window.state.get("n", 0) + len(batch)}
                return Outcome(state=state, terminate_window=state["n"] >= self.window_limit)
            return Outcome()
        if self.throttles:
            self.throttles -= 1
            raise Throttled(ThrottleReason.CONCURRENT_INVOCATION_LIMIT, retry_after_s=0.001)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.batches.append([r.seq for r in batch])
        bad = [i for i, r in enumerate(batch) if r.seq in self.fail]
        if not bad:
            return Outcome()
        return Outcome(bad[0] if self.partial else 0)

    async def give_up(
        self, shard_id: str, batch: Sequence[Rec], condition: str, attempts: int, last: Outcome | None
    ) -> None:
        self.given_up.append((shard_id, [r.seq for r in batch], condition, attempts))

    def seen(self) -> list[str]:
        return [s for b in self.batches for s in b]


async def until(check, within_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def poller(
    stream: MemStream, handler: Handler, ckpt: MemCheckpoints | None = None, **kw
) -> StreamPoller[Rec]:  # type: ignore[no-untyped-def]
    kw.setdefault("starting_position", "TRIM_HORIZON")
    matches = kw.pop("matches", None)
    return StreamPoller(StreamSpec("m1", **kw), stream, handler, ckpt or MemCheckpoints(), matches)


def test_in_order_batches_and_checkpoints() -> None:
    async def main() -> None:
        stream, handler, ckpt = MemStream(), Handler(), MemCheckpoints()
        seqs = [stream.put(f"k{i % 3}") for i in range(7)]
        p = poller(stream, handler, ckpt, batch_size=3)
        async with running(p):
            await until(lambda: len(handler.seen()) == 7)
            seqs.append(stream.put("k9"))  # a record arriving later wakes the shard
            await until(lambda: len(handler.seen()) == 8)
        assert handler.seen() == seqs
        assert handler.batches[0] == seqs[:3]
        assert ckpt.saved["s1"] == seqs[-1]

    asyncio.run(main())


def test_latest_and_at_timestamp_starting_positions() -> None:
    async def main() -> None:
        stream = MemStream()
        stream.put("a", at=100.0)
        middle = stream.put("b", at=200.0)
        last = stream.put("c", at=300.0)
        latest, at = Handler(), Handler()
        p1 = poller(stream, latest, starting_position="LATEST")
        p2 = poller(stream, at, starting_position="AT_TIMESTAMP", start_timestamp=150.0)
        async with running(p1, p2):
            await until(lambda: at.seen() == [middle, last])
            newer = stream.put("d")
            await until(lambda: latest.seen() == [newer] and at.seen() == [middle, last, newer])
        assert before("0000000010") == "0000000009" and before("0") == ""

    asyncio.run(main())


def test_restart_resumes_after_the_last_acknowledged_batch() -> None:
    async def main() -> None:
        stream, ckpt = MemStream(), MemCheckpoints()
        seqs = [stream.put("k") for _ in range(4)]
        first = Handler()
        p = poller(stream, first, ckpt, batch_size=2, starting_position="LATEST")
        async with running(p):
            await until(lambda: "s1" in ckpt.saved)
            assert ckpt.saved["s1"] == seqs[-1]  # LATEST resolved once and checkpointed
            more = [stream.put("k") for _ in range(2)]
            await until(lambda: first.seen() == more)
        later = [stream.put("k") for _ in range(3)]
        second = Handler()  # the new poller must not go back to LATEST nor replay
        p = poller(stream, second, ckpt, batch_size=2, starting_position="LATEST")
        async with running(p):
            await until(lambda: second.seen() == later)

    asyncio.run(main())


def test_parallelization_keeps_order_per_key() -> None:
    async def main() -> None:
        stream, handler = MemStream(), Handler()
        handler.delay = 0.002
        keys = [f"k{i % 5}" for i in range(60)]
        by_seq = {stream.put(k): k for k in keys}
        p = poller(stream, handler, batch_size=4, parallelization=5)
        async with running(p):
            await until(lambda: len(handler.seen()) == 60)
        for key in set(keys):
            order = [s for s in handler.seen() if by_seq[s] == key]
            assert order == sorted(order)
        assert all(len(b) <= 4 for b in handler.batches)
        assert len(handler.batches) < 60

    asyncio.run(main())


def test_batches_stay_under_the_payload_limit() -> None:
    async def main() -> None:
        stream, handler = MemStream(), Handler()
        seqs = [stream.put(k) for k in ("big", "big", "small", "big")]
        p = poller(stream, handler, batch_size=10)
        async with running(p):
            await until(lambda: len(handler.seen()) == 4)
        assert handler.batches == [[seqs[0]], seqs[1:3], [seqs[3]]]

    asyncio.run(main())


def test_filter_skips_records_and_advances() -> None:
    async def main() -> None:
        stream, handler, ckpt = MemStream(), Handler(), MemCheckpoints()
        seqs = [stream.put(k) for k in ("keep", "drop", "keep", "drop")]
        p = poller(stream, handler, ckpt, matches=lambda r: r.key == "keep")
        async with running(p):
            await until(lambda: ckpt.saved.get("s1") == seqs[-1])
        assert handler.seen() == [seqs[0], seqs[2]]

    asyncio.run(main())


def test_retries_then_gives_up_and_moves_on() -> None:
    async def main() -> None:
        stream = MemStream()
        seqs = [stream.put("k") for _ in range(3)]
        handler = Handler(fail={seqs[0]}, throttles=2)
        p = poller(stream, handler, batch_size=2, policy=RetryPolicy(max_retries=2))
        async with running(p):
            await until(lambda: handler.seen()[-1:] == [seqs[2]])
        assert handler.batches[:3] == [seqs[:2]] * 3  # throttles are not attempts
        assert handler.given_up == [("s1", seqs[:2], RETRIES_EXHAUSTED, 3)]

    asyncio.run(main())


def test_bisect_isolates_the_bad_record() -> None:
    async def main() -> None:
        stream = MemStream()
        seqs = [stream.put("k") for _ in range(4)]
        handler = Handler(fail={seqs[2]})
        p = poller(stream, handler, batch_size=4, policy=RetryPolicy(max_retries=0, bisect=True))
        async with running(p):
            await until(lambda: handler.seen()[-1:] == [seqs[3]])
        assert handler.batches == [seqs, seqs[:2], seqs[2:], [seqs[2]], [seqs[3]]]
        assert handler.given_up == [("s1", [seqs[2]], RETRIES_EXHAUSTED, 1)]

    asyncio.run(main())


def test_partial_failure_restarts_from_the_lowest_failed() -> None:
    async def main() -> None:
        stream = MemStream()
        seqs = [stream.put("k") for _ in range(4)]
        handler = Handler(fail={seqs[2]}, partial=True)
        p = poller(stream, handler, batch_size=4, policy=RetryPolicy(max_retries=1))
        async with running(p):
            await until(lambda: bool(handler.given_up))
        assert handler.batches[:2] == [seqs, seqs[2:]]  # one retry, from the failed record on
        assert handler.given_up == [("s1", seqs[2:], RETRIES_EXHAUSTED, 2)]

    asyncio.run(main())


def test_records_too_old_are_given_up() -> None:
    async def main() -> None:
        stream = MemStream()
        old = stream.put("k", at=time.time() - 120)
        fresh = stream.put("k", at=time.time() + 3600)
        handler = Handler(fail={old, fresh})
        p = poller(stream, handler, batch_size=1, policy=RetryPolicy(max_age_s=60))
        async with running(p):
            await until(lambda: len(handler.batches) >= 3)
        assert handler.given_up[0] == ("s1", [old], AGE_EXCEEDED, 0)
        assert all(b == [fresh] for b in handler.batches)  # retried, not given up

    asyncio.run(main())


def test_child_shard_waits_for_its_parent() -> None:
    async def main() -> None:
        stream, handler, ckpt = MemStream(), Handler(), MemCheckpoints()
        handler.delay = 0.01
        first = [stream.put("k") for _ in range(3)]
        stream.split("s1", "s2")
        child = [stream.put("k", shard="s2") for _ in range(2)]
        p = poller(stream, handler, ckpt, batch_size=1)
        async with running(p):
            await until(lambda: len(handler.seen()) == 5)
        assert handler.seen() == first + child
        assert ckpt.saved["s1"] == END

    asyncio.run(main())


def test_manager_starts_and_stops_pollers() -> None:
    async def main() -> None:
        stream, handler = MemStream(), Handler()
        want: dict[str, StreamSpec] = {"m1": StreamSpec("m1", starting_position="TRIM_HORIZON")}
        mgr = StreamPollerManager(
            lambda: want,
            lambda spec: StreamPoller(spec, stream, handler, MemCheckpoints()),  # type: ignore[arg-type]
            interval_s=0.01,
        )
        async with running(mgr):
            seq = stream.put("k")
            await until(lambda: handler.seen() == [seq])
            want.clear()
            await until(lambda: not mgr.pollers)
            stream.put("k")
            await asyncio.sleep(0.05)
        assert handler.seen() == [seq]

    asyncio.run(main())


def test_tumbling_windows_carry_state_and_end_with_a_final_invocation() -> None:
    async def main() -> None:
        stream, handler, ckpt = MemStream(), Handler(), MemCheckpoints()
        a = [stream.put("k", at=1000.0 + i) for i in range(3)]  # window [1000, 1010)
        b = [stream.put("k", at=1012.0)]  # window [1010, 1020)
        p = poller(stream, handler, ckpt, batch_size=2, tumbling_s=10)
        async with running(p):
            await until(
                lambda: len(handler.windows) == 5
            )  # 2 batches + final, 1 batch + final (idle, past its end)
        assert handler.windows[:4] == [
            (1000.0, False, {}, a[:2]),
            (1000.0, False, {"n": 2}, a[2:]),
            (1000.0, True, {"n": 3}, []),
            (1010.0, False, {}, b),
        ]
        assert handler.windows[4] == (1010.0, True, {"n": 1}, [])
        assert ckpt.saved["s1#window"] == ""

    asyncio.run(main())


def test_tumbling_window_state_survives_a_restart_and_ends_early() -> None:
    async def main() -> None:
        future = time.time() + 3600  # the window stays open
        stream, ckpt = MemStream(), MemCheckpoints()
        first = Handler()
        stream.put("k", at=future)
        p = poller(stream, first, ckpt, tumbling_s=7200)
        async with running(p):
            await until(lambda: ckpt.saved.get("s1#window", "").endswith("false]"))
        second = Handler()
        second.window_limit = 3
        seqs = [stream.put("k", at=future) for _ in range(2)]
        p = poller(stream, second, ckpt, tumbling_s=7200)
        async with running(p):
            await until(lambda: len(second.windows) == 2)
        assert second.windows[0][2:] == ({"n": 1}, seqs)
        assert second.windows[1][1:3] == (True, {"n": 3})  # the state hit the limit: ended early

    asyncio.run(main())
