"""The Supervisor starts components in order, stops them in reverse, and owns their children."""

from __future__ import annotations

import asyncio

import pytest

from squall.lib.tasks import Started, StartFailed, Supervisor, running, spawn


class Recorder:
    def __init__(self, name: str, events: list[str], *, fail_before: bool = False) -> None:
        self.name = name
        self.events = events
        self.fail_before = fail_before
        self.child_cancelled = False

    async def run(self, started: Started) -> None:
        if self.fail_before:
            raise ValueError("no")
        self.events.append(f"start {self.name}")
        try:
            async with asyncio.TaskGroup() as group:
                spawn(group, self._child(), f"{self.name}-child")
                spawn(group, self._broken(), f"{self.name}-broken")
                started()
                await asyncio.Event().wait()
        finally:
            self.events.append(f"stop {self.name}")

    async def _child(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.child_cancelled = True
            raise

    async def _broken(self) -> None:
        raise RuntimeError("a failing child is logged, not fatal")


def test_start_in_order_stop_in_reverse_children_cancelled() -> None:
    events: list[str] = []
    a, b, c = (Recorder(n, events) for n in "abc")

    async def main() -> None:
        async with running(a, b, c):
            await asyncio.sleep(0)
            assert events == ["start a", "start b", "start c"]

    asyncio.run(main())
    assert events == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert a.child_cancelled and b.child_cancelled and c.child_cancelled


def test_failure_before_started_fails_the_start_and_stops_what_started() -> None:
    events: list[str] = []

    async def main() -> None:
        async with Supervisor() as supervisor:
            await supervisor.start(Recorder("a", events))
            await supervisor.start(Recorder("b", events, fail_before=True))

    with pytest.raises(StartFailed) as info:
        asyncio.run(main())
    assert isinstance(info.value.__cause__, ValueError)
    assert events == ["start a", "stop a"]


class Stubborn:
    """A component that takes a while to stop (its cleanup awaits)."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def run(self, started: Started) -> None:
        started()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.2)
            self.events.append("stubborn stopped")


def test_a_cancelled_shutdown_still_stops_every_component_and_reraises() -> None:
    events: list[str] = []
    a = Recorder("a", events)

    async def main() -> None:
        supervisor = Supervisor()
        await supervisor.__aenter__()
        await supervisor.start(a)
        await supervisor.start(Stubborn(events))
        closing = asyncio.ensure_future(supervisor.aclose())
        await asyncio.sleep(0.05)  # aclose is waiting for the stubborn component
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing

    asyncio.run(main())
    # interrupted, the rest is cancelled without waiting its turn, but everything stopped
    assert events[0] == "start a" and sorted(events[1:]) == ["stop a", "stubborn stopped"]
