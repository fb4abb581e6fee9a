"""`SQLiteStore.changes(ns)`: committed write transactions per namespace, for in-memory caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.storage import ChangeCounter, SQLiteStore


def test_counts_committed_writes_per_namespace(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "kv.sqlite")
    try:
        assert isinstance(store, ChangeCounter)
        assert store.changes("a") == 0
        with store.write() as w:
            w.put("a", b"k", b"1")
            w.put("a", b"l", b"2")
            w.put("b", b"k", b"1")
        assert (store.changes("a"), store.changes("b")) == (1, 1)
        with store.write() as w:
            w.delete("a", b"k")
        with store.write() as w:
            w.delete_range("b", prefix=b"")
        assert (store.changes("a"), store.changes("b")) == (2, 2)
        with pytest.raises(RuntimeError), store.write() as w:
            w.put("a", b"x", b"3")
            raise RuntimeError("rolled back")
        assert store.changes("a") == 2  # nothing committed
        with store.read() as r:
            assert r.get("a", b"x") is None
        with store.write() as w:
            w.next_sequence("seq")
        assert (store.changes("a"), store.changes("b")) == (2, 2)
    finally:
        store.close()
