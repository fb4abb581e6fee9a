"""One database, several processes of one server: change counters and write transactions."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from squall.storage import SQLiteStore, pack
from squall.storage.changes import SLOTS, SharedChanges


def test_each_process_sees_the_others_counts_and_data(tmp_path: Path) -> None:
    primary = SQLiteStore(tmp_path / "db.sqlite", process=(0, 2))
    worker = SQLiteStore(tmp_path / "db.sqlite", process=(1, 2))
    try:
        a, b = primary.changes("a"), primary.changes("b")
        with primary.write() as w:
            w.put("a", pack("k"), b"1")
        assert worker.changes("a") == primary.changes("a") == a + 1
        with worker.write() as w:
            w.put("a", pack("k"), b"2")
        assert worker.changes("a") == primary.changes("a") == a + 2
        with primary.read() as r:
            assert r.get("a", pack("k")) == b"2"
        with worker.read() as r:  # reading does not count
            r.get("a", pack("k"))
        assert primary.changes("a") == a + 2
        if SharedChanges.slot_of("a") != SharedChanges.slot_of("b"):
            assert worker.changes("b") == b
    finally:
        worker.close()
        primary.close()


def test_a_rolled_back_transaction_does_not_count(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    try:
        before = store.changes("a")
        with pytest.raises(RuntimeError), store.write() as w:
            w.put("a", pack("k"), b"1")
            raise RuntimeError("abort")
        assert store.changes("a") == before
    finally:
        store.close()


def _add(path: str, index: int, times: int) -> None:
    store = SQLiteStore(path, process=(index, 3))
    try:
        for _ in range(times):
            with store.write() as w:
                raw = w.get("n", pack("total"))
                w.put("n", pack("total"), str(int(raw or b"0") + 1).encode())
    finally:
        store.close()


def test_write_transactions_of_processes_are_serialised_and_counted(tmp_path: Path) -> None:
    """Read-modify-write from three processes at once loses no update, and the summed
    counters move by exactly the number of commits."""
    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path, process=(0, 3))
    try:
        before = store.changes("n")
        ctx = multiprocessing.get_context("spawn")
        children = [ctx.Process(target=_add, args=(str(path), i, 300)) for i in (1, 2)]
        for child in children:
            child.start()
        for _ in range(300):
            with store.write() as w:
                raw = w.get("n", pack("total"))
                w.put("n", pack("total"), str(int(raw or b"0") + 1).encode())
        for child in children:
            child.join(60)
            assert child.exitcode == 0
        with store.read() as r:
            assert r.get("n", pack("total")) == b"900"
        assert store.changes("n") == before + 900
    finally:
        store.close()


def test_slots_are_stable_and_in_range() -> None:
    slots = {SharedChanges.slot_of(f"ns{i}") for i in range(100)}
    assert all(0 <= s < SLOTS for s in slots)
    assert len(slots) > 90  # spread, so unrelated namespaces rarely share a counter
    assert SharedChanges.slot_of("dynamodb.tables") == SharedChanges.slot_of("dynamodb.tables")


def test_process_indexes_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SharedChanges(tmp_path / "c", index=2, processes=2)
