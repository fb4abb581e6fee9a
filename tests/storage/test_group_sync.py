"""Group commit of blob fsyncs: writers queued behind a running flush share the next one;
a failed fsync fails only its own writer and leaves nothing behind."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from squall.storage import BlobStore

_real_fsync = os.fsync


def _wait_for(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_waiting_writers_share_one_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    for shard in range(256):  # no shard creation (and its own fsync) during the test
        (tmp_path / "blobs" / f"{shard:02x}").mkdir()
    gate, entered = threading.Event(), threading.Event()

    def gated_fsync(fd: int) -> None:
        if not gate.is_set():
            entered.set()
            gate.wait(10)
        _real_fsync(fd)

    monkeypatch.setattr(os, "fsync", gated_fsync)
    refs: dict[int, str] = {}

    def put(i: int) -> None:
        refs[i] = blobs.put(f"blob {i}".encode() * 100).id

    first = threading.Thread(target=put, args=(0,))
    first.start()
    assert entered.wait(10)  # the first writer leads a flush and is stuck in it
    others = [threading.Thread(target=put, args=(i,)) for i in range(1, 9)]
    for t in others:
        t.start()
    _wait_for(lambda: len(blobs._sync._queue) == 8)
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert blobs._sync.flushes == 2  # the leader's own, then one for the 8 queued behind it
    for i, blob_id in refs.items():
        assert blobs.read(blob_id) == f"blob {i}".encode() * 100


def test_failed_fsync_fails_its_writer_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    kept = blobs.put(b"kept")
    writer = blobs.begin()
    writer.write(b"doomed")
    doomed_fd = writer._file.fileno()  # type: ignore[union-attr]

    failed: list[int] = []

    def failing_fsync(fd: int) -> None:
        if fd == doomed_fd and not failed:
            failed.append(fd)
            raise OSError(5, "Input/output error")
        _real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        writer.commit()
    assert not blobs.exists(writer.id)
    assert sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()) == [kept.id]
    assert blobs.read(kept.id) == b"kept"
    other = blobs.put(b"after")  # the group sync is usable again
    assert blobs.read(other.id) == b"after"
