"""One loop timer for every in-flight body read, instead of one per request.

`asyncio.timeout` schedules a timer handle on the loop's heap and cancels it
again for each use; on the request path that was a measurable share of a
request's CPU. All body reads share the same timeout, so their deadlines are
ordered by when they started: `Deadlines` keeps them in an insertion-ordered
dict and arms a single timer for the earliest one. When it fires, every overdue
read's task is cancelled and the timer is re-armed for the next deadline; a
read that ends in time just leaves the dict. `TimerQueue` is that mechanism alone; the
request-head timeout (`timeouts.py`) uses it too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import count
from typing import Generic, TypeVar

K = TypeVar("K")  # a dict key: hashable
V = TypeVar("V")


class TimerQueue(Generic[K, V]):
    """Keys that expire `timeout` seconds after they were added, all on one loop timer.

    Every key shares the same timeout, so an insertion-ordered dict is ordered by deadline and
    a single timer, armed for the earliest, serves them all: adding or discarding a key is a
    dict insert or pop, never a timer handle of its own. `on_expire(key, value)` is called for
    each key still present at its deadline (it has left the queue by then)."""

    def __init__(self, timeout: float, on_expire: Callable[[K, V], None]) -> None:
        self.timeout = timeout
        self._on_expire = on_expire
        self._pending: dict[K, tuple[V, float]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, key: K, value: V, loop: asyncio.AbstractEventLoop) -> bool:
        """Start `key`'s deadline now; False (nothing changed) when it already runs. A new loop
        (the old one's timer is gone) starts afresh."""
        if loop is not self._loop:
            self._loop, self._timer = loop, None
            self._pending.clear()
        elif key in self._pending:
            return False
        deadline = loop.time() + self.timeout
        self._pending[key] = (value, deadline)
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._fire)
        return True

    def discard(self, key: K) -> bool:
        """End `key`'s deadline; True if it was still running."""
        return self._pending.pop(key, None) is not None

    def _fire(self) -> None:
        loop = self._loop
        self._timer = None
        if loop is None:
            return
        now = loop.time()
        pending = self._pending
        while pending:
            key = next(iter(pending))
            value, deadline = pending[key]
            if deadline > now:
                self._timer = loop.call_at(deadline, self._fire)
                return
            del pending[key]
            self._on_expire(key, value)


class Deadlines:
    """Cancels the tasks of reads that outlive `timeout` seconds.

    Use: `key = deadlines.enter()` before the first await of the guarded
    section, `deadlines.leave(key)` in a `finally` right after it (no await in
    between). When the section was cancelled, `leave` answers True if the
    cancellation was this deadline (the caller then `uncancel()`s its task and
    reports a timeout), False if it came from elsewhere (re-raise it)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._queue: TimerQueue[int, asyncio.Task[object]] = TimerQueue(timeout, self._expire)
        self._expired: set[int] = set()
        self._keys = count()
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self) -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadlines.enter() must be called from a task")
        if loop is not self._loop:  # first use, or a new loop
            self._loop = loop
            self._expired.clear()
        key = next(self._keys)
        self._queue.add(key, task, loop)
        return key

    def leave(self, key: int) -> bool:
        """End the guarded section; True if its deadline passed (its task was cancelled)."""
        if self._queue.discard(key):
            return False
        if key in self._expired:
            self._expired.discard(key)
            return True
        return False

    def _expire(self, key: int, task: asyncio.Task[object]) -> None:
        if not task.done():
            self._expired.add(key)
            task.cancel()

    def expired(self, key: int) -> bool:
        """In an `except asyncio.CancelledError` of the guarded section: True if this
        deadline was the cancellation (the task is uncancelled; report a timeout), False if it
        came from elsewhere (re-raise it)."""
        if not self.leave(key):
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True
