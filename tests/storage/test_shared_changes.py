"""Change counters shared between the writing store and read-only stores of other processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from squall.storage import SQLiteStore, TransactionError, pack
from squall.storage.changes import SLOTS, SharedChanges


def test_a_readonly_store_sees_the_writers_counts_and_data(tmp_path: Path) -> None:
    writer = SQLiteStore(tmp_path / "db.sqlite")
    reader = SQLiteStore(tmp_path / "db.sqlite", readonly=True)
    try:
        before = reader.changes("a")
        other = reader.changes("b")
        with writer.write() as w:
            w.put("a", pack("k"), b"1")
        assert reader.changes("a") == before + 1
        assert writer.changes("a") == before + 1
        with reader.read() as r:
            assert r.get("a", pack("k")) == b"1"
        with writer.read() as r:  # reading does not count
            r.get("a", pack("k"))
        assert reader.changes("a") == before + 1
        if SharedChanges.slot_of("a") != SharedChanges.slot_of("b"):
            assert reader.changes("b") == other
        with pytest.raises(TransactionError, match="read-only"), reader.write() as w:
            w.put("a", pack("k"), b"2")
        with writer.read() as r:
            assert r.get("a", pack("k")) == b"1"
    finally:
        reader.close()
        writer.close()


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


def _count_in_child(path: str, ns: str, out: multiprocessing.SimpleQueue[int]) -> None:
    store = SQLiteStore(path, readonly=True)
    out.put(store.changes(ns))
    store.close()


def test_counts_cross_process_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path)
    try:
        for i in range(3):
            with store.write() as w:
                w.put("ns", pack(i), b"x")
        ctx = multiprocessing.get_context("spawn")
        out: multiprocessing.SimpleQueue[int] = ctx.SimpleQueue()
        child = ctx.Process(target=_count_in_child, args=(str(path), "ns", out))
        child.start()
        child.join(30)
        assert out.get() == store.changes("ns") >= 3
    finally:
        store.close()


def test_slots_are_stable_and_in_range() -> None:
    slots = {SharedChanges.slot_of(f"ns{i}") for i in range(100)}
    assert all(0 <= s < SLOTS for s in slots)
    assert len(slots) > 90  # spread, so unrelated namespaces rarely share a counter
    assert SharedChanges.slot_of("dynamodb.tables") == SharedChanges.slot_of("dynamodb.tables")
