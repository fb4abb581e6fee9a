"""Structured ownership of background work.

Every long-running piece of work in Squall (pollers, sweepers, the lifecycle
worker, the async-invoke queue, delivery workers, the EE reaper) is a
`Background` component: one coroutine, `run(started)`, that prepares, calls
`started()` once it is ready to be relied on, then works until it is cancelled
and cleans up in `finally`. Work a component fans out (one task per poller, per
shard, per queued event) runs in an `asyncio.TaskGroup` the component opens
inside `run`, so cancelling the component cancels and awaits its children;
children are wrapped with `guarded` so that one failing child is logged instead
of tearing down its siblings.

The server owns the components through one `Supervisor` (a TaskGroup): it
starts them in the order the composition root declares, each only after the
previous one reported `started()`, and stops them one at a time in the reverse
order (a poller stops before the queue it feeds, the queue before the pools it
runs in). Nothing creates a task it does not own, and nothing cancels a task by
hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

log = logging.getLogger("squall.tasks")

T = TypeVar("T")

#: Called by a component once it is ready (at most once; later calls do nothing).
Started = Callable[[], None]


class Background(Protocol):
    """A component with work that runs for the life of its owner."""

    async def run(self, started: Started) -> None:
        """Prepare, call `started()` once ready, then work until cancelled; clean up in `finally`.

        Raising before `started()` fails the owner's start (the server does not come up);
        raising after it is logged, and the component's work is over."""
        ...


class StartFailed(Exception):
    """A component ended (returned or raised) before it reported `started()`."""


async def guarded(work: Awaitable[T], what: str) -> T | None:
    """`work`, with any exception but cancellation logged instead of raised: for a child
    task in a TaskGroup, whose failure must not cancel its siblings or its owner."""
    try:
        return await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s failed", what)
        return None


def spawn(group: asyncio.TaskGroup, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    """A guarded child task of `group` (see `guarded`)."""
    return group.create_task(guarded(work, name), name=name)


async def periodic(
    step: Callable[[], Awaitable[None] | None], every_s: float, wake: asyncio.Event, what: str
) -> None:
    """Run `step` now, then again `every_s` seconds after each run or as soon as `wake` is set,
    until cancelled (a reconcile loop); a failing step is logged as `what` and tried next time."""
    while True:
        try:
            result = step()
            if result is not None:
                await result
        except Exception as exc:
            log.warning("%s failed: %r", what, exc, exc_info=not isinstance(exc, OSError | LookupError))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await wake.wait()
        wake.clear()


class Supervisor:
    """Owns components: `start` runs each in the supervisor's TaskGroup and waits until it
    is started; leaving the `async with` (or `aclose`) cancels them one at a time in the
    reverse of their start order, awaiting each before the next."""

    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._running: list[tuple[str, asyncio.Task[None]]] = []

    async def __aenter__(self) -> Supervisor:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self, component: Background, name: str | None = None) -> None:
        """Run `component` and return once it called `started()`; StartFailed (with the
        component's exception as cause) when it ended first."""
        if self._group is None:
            raise RuntimeError("Supervisor.start outside `async with`")
        name = name or type(component).__name__
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def started() -> None:
            if not ready.done():
                ready.set_result(None)

        task = self._group.create_task(self._run(component, name, started, ready), name=name)
        self._running.append((name, task))
        await ready

    @staticmethod
    async def _run(component: Background, name: str, started: Started, ready: asyncio.Future[None]) -> None:
        try:
            await component.run(started)
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except Exception as exc:
            if not ready.done():
                failed = StartFailed(f"{name} failed to start: {exc!r}")
                failed.__cause__ = exc
                ready.set_exception(failed)
            else:
                log.exception("background component %s failed", name)
            return
        if not ready.done():
            ready.set_exception(StartFailed(f"{name} ended before it started"))

    async def aclose(self) -> None:
        """Stop every component, last started first (idempotent)."""
        group, self._group = self._group, None
        interrupted = False
        while self._running:
            name, task = self._running.pop()
            task.cancel()
            if not interrupted:
                try:
                    await asyncio.wait([task])
                except asyncio.CancelledError:
                    # Whoever stops us stopped waiting: cancel the rest at once, let the group
                    # collect them, then pass the cancellation on.
                    interrupted = True
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("background component %s failed while stopping", name, exc_info=task.exception())
        if group is not None:
            await group.__aexit__(None, None, None)
        if interrupted:
            raise asyncio.CancelledError


@contextlib.asynccontextmanager
async def running(*components: Background) -> AsyncIterator[None]:
    """Run `components` (started in order, stopped in reverse) for the body of an `async with`:
    for tests and tools that own a few components without a server."""
    async with Supervisor() as supervisor:
        for component in components:
            await supervisor.start(component)
        yield
