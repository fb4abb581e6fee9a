"""The background log writer: batching, ordering, flush and shutdown."""

from __future__ import annotations

import time
from pathlib import Path

from squall.observability.logs import LogStore
from squall.observability.writer import LogWriter
from squall.storage import SQLiteStore

A, R, G = "000000000000", "us-east-1", "/aws/lambda/f"


def stored(logs: LogStore, stream: str = "s") -> list[str]:
    return [e.message for e in logs.get_events(A, R, G, stream, from_head=True)[0]]


def make(tmp_path: Path) -> LogStore:
    return LogStore(SQLiteStore(tmp_path / "db.sqlite"))


def test_append_does_not_write_until_flush(tmp_path: Path) -> None:
    logs = make(tmp_path)
    writer = LogWriter(logs)  # not started: nothing writes behind our back
    writer.append(A, R, G, "s", [(1, "a"), (1, "b")])
    assert writer.pending == 2 and logs.group(A, R, G) is None
    writer.flush()
    assert stored(logs) == ["a", "b"] and writer.pending == 0


def test_thread_batches_appends_and_keeps_their_order(tmp_path: Path) -> None:
    logs = make(tmp_path)
    writer = LogWriter(logs, interval=0.2)
    writer.start()
    try:
        for i in range(200):
            writer.append(A, R, G, "s", [(5, f"m{i}")])  # equal timestamps: arrival order decides
        deadline = time.monotonic() + 10
        while writer.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stored(logs) == [f"m{i}" for i in range(200)]
        assert writer.batches_written < 200  # written in batches, not one transaction per append
    finally:
        writer.close()


def test_a_full_buffer_wakes_the_writer_early(tmp_path: Path) -> None:
    logs = make(tmp_path)
    writer = LogWriter(logs, interval=30, max_events=10)
    writer.start()
    try:
        writer.append(A, R, G, "s", [(i, str(i)) for i in range(10)])
        deadline = time.monotonic() + 10
        while writer.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(stored(logs)) == 10
    finally:
        writer.close()


def test_close_writes_everything_and_runs_the_ticks(tmp_path: Path) -> None:
    logs = make(tmp_path)
    ticks: list[int] = []
    writer = LogWriter(logs, interval=30, ticks=[lambda: ticks.append(1)])
    writer.start()
    writer.append(A, R, G, "s", [(1, "last words")])
    writer.close()  # a SIGTERM'd server closes its writer: nothing buffered is lost
    assert stored(logs) == ["last words"] and ticks
    logs.store.close()
    assert stored(make(tmp_path)) == ["last words"]


def test_a_failing_tick_does_not_stop_the_writer(tmp_path: Path) -> None:
    logs = make(tmp_path)

    def boom() -> None:
        raise RuntimeError("tick")

    writer = LogWriter(logs, interval=0.01, ticks=[boom])
    writer.start()
    try:
        time.sleep(0.05)
        writer.append(A, R, G, "s", [(1, "still here")])
        writer.flush()
        assert stored(logs) == ["still here"]
    finally:
        writer.close()


def test_a_full_disk_keeps_events_until_space_returns(tmp_path: Path) -> None:
    from squall.storage import SpaceGuard

    space = SpaceGuard(tmp_path, floor=1 << 62, reserve=0)  # "full": every write refused
    logs = LogStore(SQLiteStore(tmp_path / "db.sqlite", space=space))
    writer = LogWriter(logs)
    writer.append(A, R, G, "s", [(1, "a")])
    writer.flush()
    writer.append(A, R, G, "s", [(2, "b")])
    writer.flush()
    assert writer.pending == 2  # kept, in order, not lost
    space.floor = 0
    space._next = 0.0  # look at the disk again now
    writer.flush()
    assert stored(logs) == ["a", "b"] and writer.pending == 0
