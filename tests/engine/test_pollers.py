"""Poller groups and the manager over a fake source: batching window, payload limit,
scaling, throttling, lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from squall.engine import pollers
from squall.engine.concurrency import Throttled, ThrottleReason
from squall.engine.pollers import PollerGroup, PollerManager, PollerSpec
from squall.lib.tasks import running


class FakeSource:
    """Records are (name, size); `receive` waits on an event like a long poll."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int]] = []
        self.released: list[tuple[str, int]] = []
        self.arrived = asyncio.Event()

    def put(self, *items: tuple[str, int]) -> None:
        self.items.extend(items)
        self.arrived.set()

    async def receive(self, limit: int, wait_s: float) -> Sequence[tuple[str, int]]:
        if not self.items:
            self.arrived.clear()
            try:
                async with asyncio.timeout(wait_s):
                    await self.arrived.wait()
            except TimeoutError:
                return []
        taken, self.items = self.items[:limit], self.items[limit:]
        return taken

    def size(self, record: tuple[str, int]) -> int:
        return record[1]

    def release(self, records: Sequence[tuple[str, int]]) -> None:
        self.released.extend(records)


class Recorder:
    def __init__(self, throttles: int = 0, hold: asyncio.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.throttles = throttles
        self.hold = hold

    async def __call__(self, batch: Sequence[tuple[str, int]]) -> None:
        if self.throttles:
            self.throttles -= 1
            raise Throttled(ThrottleReason.CONCURRENT_INVOCATION_LIMIT, retry_after_s=0.01)
        if self.hold is not None:
            await self.hold.wait()
        self.batches.append([name for name, _ in batch])


async def until(check, within_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def spec(**kw: object) -> PollerSpec:
    return PollerSpec(**{"key": "m", "batch_size": 10, "window_s": 0.0, **kw})  # type: ignore[arg-type]


def test_batching_window_gathers_until_it_ends() -> None:
    async def main() -> list[list[str]]:
        source, handler = FakeSource(), Recorder()
        group = PollerGroup(spec(window_s=0.5), source, handler)
        group.target = 1
        source.put(("a", 1), ("b", 1), ("c", 1))
        async with running(group):

            async def late() -> None:
                await asyncio.sleep(0.1)
                source.put(("d", 1), ("e", 1))

            await late()
            await until(lambda: handler.batches)
        return handler.batches

    assert asyncio.run(main()) == [["a", "b", "c", "d", "e"]]


def test_stop_while_gathering_gives_the_records_back() -> None:
    async def main() -> tuple[list[list[str]], list[tuple[str, int]]]:
        source, handler = FakeSource(), Recorder()
        group = PollerGroup(spec(window_s=30), source, handler)
        group.target = 1
        source.put(("a", 1))
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(group.run(lambda: None))
            await until(lambda: not source.items)  # taken; the window is open
            group.drain()  # graceful: leaving the TaskGroup waits for the group's run to end
        return handler.batches, source.released

    assert asyncio.run(main()) == ([], [("a", 1)])


def test_without_window_a_batch_goes_at_once() -> None:
    async def main() -> list[list[str]]:
        source, handler = FakeSource(), Recorder()
        group = PollerGroup(spec(batch_size=2), source, handler)
        group.target = 1
        source.put(("a", 1), ("b", 1), ("c", 1))
        async with running(group):
            await until(lambda: len(handler.batches) == 2)
        return handler.batches

    assert asyncio.run(main()) == [["a", "b"], ["c"]]


def test_payload_limit_splits_and_carries_the_rest() -> None:
    mb = 1024 * 1024

    async def main() -> list[list[str]]:
        source, handler = FakeSource(), Recorder()
        group = PollerGroup(spec(window_s=0.2), source, handler)
        group.target = 1
        source.put(*[(str(i), int(2.5 * mb)) for i in range(5)])
        async with running(group):
            await until(lambda: sum(map(len, handler.batches)) == 5)
        return handler.batches

    batches = asyncio.run(main())
    assert [x for b in batches for x in b] == ["0", "1", "2", "3", "4"]
    assert all(len(b) * 2.5 <= 6 for b in batches)


def test_scaling_up_while_full_down_when_empty_capped() -> None:
    async def main() -> None:
        group = PollerGroup(spec(cap=12), FakeSource(), Recorder())
        assert group.target == pollers.START_CONCURRENCY
        async with running(group):  # (no await below: the scaler does not tick meanwhile)
            step = round(pollers.SCALE_UP_PER_MINUTE * pollers.SCALE_TICK_S / 60)
            group._full = 3
            group.rescale()
            assert group.target == pollers.START_CONCURRENCY + step
            group._full = 1
            group.rescale()
            assert group.target == 12  # the cap
            assert group.workers == 12
            group._empty = 4
            group.rescale()
            assert group.target == 6
            group._empty = 4
            group.rescale()
            assert group.target == pollers.START_CONCURRENCY
            group.spec = spec(cap=2)
            group.rescale()
            assert group.target == 2

    asyncio.run(main())


def test_throttled_batch_is_retried_and_the_target_halved() -> None:
    async def main() -> tuple[list[list[str]], int]:
        source, handler = FakeSource(), Recorder(throttles=2)
        group = PollerGroup(spec(), source, handler)
        group.target = 8
        source.put(("a", 1))
        async with running(group):
            await until(lambda: handler.batches)
            target = group.target
        return handler.batches, target

    batches, target = asyncio.run(main())
    assert batches == [["a"]] and target <= 2


def test_always_throttled_gives_the_batch_back() -> None:
    async def main() -> list[tuple[str, int]]:
        source = FakeSource()
        group = PollerGroup(spec(), source, Recorder(throttles=10**6))
        group.target = 1
        source.put(("a", 1))
        async with running(group):
            await until(lambda: source.released, within_s=10)
        return source.released

    assert asyncio.run(main())[:1] == [("a", 1)]


def test_manager_follows_the_desired_mappings() -> None:
    async def main() -> None:
        desired: dict[str, PollerSpec] = {}
        opened: list[tuple[PollerSpec, FakeSource, Recorder]] = []
        hold = asyncio.Event()

        def opener(s: PollerSpec) -> tuple[FakeSource, Recorder]:
            opened.append((s, FakeSource(), Recorder(hold=hold)))
            return opened[-1][1], opened[-1][2]

        manager = PollerManager(lambda: dict(desired), opener, interval_s=0.05)  # type: ignore[arg-type]
        async with running(manager):
            desired["m"] = spec(revision=1)
            await until(lambda: "m" in manager.groups)
            group = manager.groups["m"]
            desired["m"] = spec(revision=1, cap=3)  # a cap change applies in place
            await until(lambda: group.spec.cap == 3)
            assert manager.groups["m"] is group and len(opened) == 1
            _, first_source, first_handler = opened[0]
            first_source.put(("x", 1))
            await until(lambda: not first_source.items)  # taken: the batch is being handled (held)
            desired["m"] = spec(revision=2)  # restart with fresh pollers
            await until(lambda: len(opened) == 2)
            assert manager.groups["m"] is not group
            assert not first_handler.batches
            hold.set()
            await until(lambda: first_handler.batches == [["x"]])  # the running batch finished
            del desired["m"]
            await until(lambda: not manager.groups)

    asyncio.run(main())
