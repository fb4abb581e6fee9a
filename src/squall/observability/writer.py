"""The owned background writer: appends are buffered in memory and written in batches.

``append`` only takes a lock and extends a list, so the invocation path never
waits for the disk. A thread (started by ``start``, owned by whoever built the
writer and stopped by ``close``) writes the buffer in one transaction every
``interval`` seconds, or sooner once ``max_events`` are waiting, and runs the
``ticks`` (periodic work such as the per-minute metrics flush) after each round.
``flush`` writes everything appended so far before returning (readers call it
for read-your-writes). ``close`` stops the thread and flushes: a SIGTERM of the
server loses nothing. A ``kill -9`` loses what was appended in the last
``interval`` (≈50 ms) and not yet written, and the metrics of the minute not yet flushed.
Batches are written in append order; one writer per store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from squall.observability.logs import LogStore
from squall.storage import StorageFull

log = logging.getLogger("squall.observability")

Batch = tuple[str, str, str, str, Sequence[tuple[int, str]]]


class LogWriter:
    #: On a full disk, up to this many events wait in memory for space to return.
    KEEP_WHEN_FULL = 100_000
    FULL_PAUSE = 0.5

    def __init__(
        self,
        logs: LogStore,
        *,
        interval: float = 0.05,
        max_events: int = 2000,
        ticks: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.logs = logs
        self.interval = interval
        self.max_events = max_events
        self.ticks = list(ticks)
        self._pending: list[Batch] = []
        self._count = 0
        self._writing = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._flush_lock = threading.Lock()  # one batch at a time, in order
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._paused_until = 0.0  # after a full disk: no write attempt before then
        self.batches_written = 0

    def append(
        self, account: str, region: str, group: str, stream: str, events: Sequence[tuple[int, str]]
    ) -> None:
        """Queue `(timestamp_ms, message)` events for a stream; never blocks on I/O."""
        if not events:
            return
        with self._lock:
            self._pending.append((account, region, group, stream, list(events)))
            self._count += len(events)
            if self._count >= self.max_events:
                self._wake.notify()

    @property
    def pending(self) -> int:
        """Events appended and not yet committed (buffered or being written)."""
        with self._lock:
            return self._count + self._writing

    def flush(self) -> None:
        """Write everything appended before this call, durably, before returning."""
        with self._flush_lock:
            with self._lock:
                batches, self._pending = self._pending, []
                self._writing, self._count = self._count, 0
            if batches:
                try:
                    self.logs.append(batches)
                    self.batches_written += 1
                except StorageFull:
                    self._keep(batches)
                except Exception:
                    log.exception("writing %d log batches failed; they are lost", len(batches))
                finally:
                    with self._lock:
                        self._writing = 0

    def _keep(self, batches: list[Batch]) -> None:
        """The disk is full: put `batches` back in front of what came meanwhile, to be written
        once space returns (the oldest beyond `KEEP_WHEN_FULL` events are dropped), and let
        the thread wait `FULL_PAUSE` s before it tries again."""
        with self._lock:
            kept = batches + self._pending
            count = sum(len(b[4]) for b in kept)
            dropped = 0
            while count > self.KEEP_WHEN_FULL and len(kept) > 1:
                count -= len(kept[0][4])
                dropped += len(kept.pop(0)[4])
            self._pending, self._count = kept, count
            self._paused_until = time.monotonic() + self.FULL_PAUSE
        if dropped:
            log.warning(
                "disk full: %d log events dropped (more than %d waiting)", dropped, self.KEEP_WHEN_FULL
            )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="squall-log-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                pause = self._paused_until - time.monotonic()
                if not self._stopping and (self._count < self.max_events or pause > 0):
                    self._wake.wait(max(self.interval, pause))
                stopping = self._stopping
            self.flush()
            self._tick()
            if stopping:
                return

    def _tick(self) -> None:
        for tick in self.ticks:
            try:
                tick()
            except StorageFull:
                pass  # a full disk: the housekeeping waits for space (storage/space.py logs it)
            except Exception:
                log.exception("observability tick %r failed", tick)

    def close(self) -> None:
        """Stop the thread and write everything still buffered (ticks run one last time)."""
        thread = self._thread
        if thread is not None:
            with self._lock:
                self._stopping = True
                self._wake.notify()
            thread.join()
            self._thread = None
        else:
            self.flush()
            self._tick()


class Periodic:
    """A tick that runs `fn` at most every `every` seconds (e.g. the retention sweep)."""

    def __init__(self, fn: Callable[[], object], every: float) -> None:
        self.fn = fn
        self.every = every
        self._last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.fn()
