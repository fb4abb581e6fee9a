"""One loop timer for every in-flight body read, instead of one per request.

`asyncio.timeout` schedules a timer handle on the loop's heap and cancels it
again for each use; on the request path that was a measurable share of a
request's CPU. All body reads share the same timeout, so their deadlines are
ordered by when they started: `Deadlines` keeps them in an insertion-ordered
dict and arms a single timer for the earliest one. When it fires, every overdue
read's task is cancelled and the timer is re-armed for the next deadline; a
read that ends in time just leaves the dict.
"""

from __future__ import annotations

import asyncio
from itertools import count


class Deadlines:
    """Cancels the tasks of reads that outlive `timeout` seconds.

    Use: `key = deadlines.enter()` before the first await of the guarded
    section, `deadlines.leave(key)` in a `finally` right after it (no await in
    between). When the section was cancelled, `leave` answers True if the
    cancellation was this deadline (the caller then `uncancel()`s its task and
    reports a timeout), False if it came from elsewhere (re-raise it)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pending: dict[int, tuple[asyncio.Task[object], float]] = {}
        self._expired: set[int] = set()
        self._keys = count()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self) -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadlines.enter() must be called from a task")
        if loop is not self._loop:  # first use, or a new loop (the old one's timer is gone)
            self._loop = loop
            self._pending.clear()
            self._expired.clear()
            self._timer = None
        deadline = loop.time() + self.timeout
        key = next(self._keys)
        self._pending[key] = (task, deadline)
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._fire)
        return key

    def leave(self, key: int) -> bool:
        """End the guarded section; True if its deadline passed (its task was cancelled)."""
        if self._pending.pop(key, None) is not None:
            return False
        if key in self._expired:
            self._expired.discard(key)
            return True
        return False

    def _fire(self) -> None:
        loop = self._loop
        self._timer = None
        if loop is None:
            return
        now = loop.time()
        pending = self._pending
        while pending:
            key = next(iter(pending))
            task, deadline = pending[key]
            if deadline > now:
                self._timer = loop.call_at(deadline, self._fire)
                return
            del pending[key]
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
