from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.storage import ReadTxn, SQLiteStore, Store, TransactionError, WriteTxn, pack


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "test.db")
    yield s
    s.close()


def test_implements_protocols(store: SQLiteStore) -> None:
    assert isinstance(store, Store)
    with store.write() as w:
        assert isinstance(w, WriteTxn)
    with store.read() as r:
        assert isinstance(r, ReadTxn)


def test_round_trip_and_namespaces(store: SQLiteStore) -> None:
    with store.write() as w:
        w.put("a", b"k", b"v1")
        w.put("b", b"k", b"v2")
        w.put("a", b"empty", b"")
        assert w.get("a", b"k") == b"v1"  # reads its own writes
    with store.read() as r:
        assert r.get("a", b"k") == b"v1"
        assert r.get("b", b"k") == b"v2"
        assert r.get("a", b"empty") == b""
        assert r.get("c", b"k") is None
        assert r.count("a") == 2
    with store.write() as w:
        w.put("a", b"k", b"v3")
        assert w.delete("a", b"k") is True
        assert w.delete("a", b"k") is False
    with store.read() as r:
        assert r.get("a", b"k") is None
        assert r.get("b", b"k") == b"v2"


def test_binary_keys_sort_bytewise(store: SQLiteStore) -> None:
    keys = [b"", b"\x00", b"\x00\x00", b"\x01", b"a", b"a\x00", b"a\xff", b"b", b"\xff", b"\xff\xff"]
    with store.write() as w:
        for k in reversed(keys):
            w.put("ns", k, k)
    with store.read() as r:
        assert [k for k, _ in r.scan("ns")] == keys
        assert [k for k, _ in r.scan("ns", reverse=True)] == keys[::-1]
        assert [k for k, _ in r.scan("ns", prefix=b"\xff")] == [b"\xff", b"\xff\xff"]
        assert [k for k, _ in r.scan("ns", prefix=b"a")] == [b"a", b"a\x00", b"a\xff"]


KEYS = st.lists(st.sampled_from([0x00, 0x01, 0x61, 0x62, 0xFF]), max_size=3).map(bytes)
BOUND = st.none() | KEYS


def _select(
    model: dict[bytes, bytes], prefix: bytes | None, start: bytes | None, end: bytes | None
) -> list[tuple[bytes, bytes]]:
    return sorted(
        (k, v)
        for k, v in model.items()
        if (prefix is None or k.startswith(prefix))
        and (start is None or k >= start)
        and (end is None or k < end)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=st.dictionaries(KEYS, st.binary(max_size=4), max_size=40),
    prefix=BOUND,
    start=BOUND,
    end=BOUND,
    reverse=st.booleans(),
    limit=st.none() | st.integers(min_value=0, max_value=12),
)
def test_scan_matches_model(
    tmp_path: Path,
    model: dict[bytes, bytes],
    prefix: bytes | None,
    start: bytes | None,
    end: bytes | None,
    reverse: bool,
    limit: int | None,
) -> None:
    store = SQLiteStore(tmp_path / "scan.db", synchronous="OFF")
    try:
        with store.write() as w:
            w.delete_range("m")
            for k, v in model.items():
                w.put("m", k, v)
            w.put("other", b"a", b"x")
        expected = _select(model, prefix, start, end)
        if reverse:
            expected.reverse()
        if limit is not None:
            expected = expected[:limit]
        with store.read() as r:
            got = list(r.scan("m", prefix=prefix, start=start, end=end, reverse=reverse, limit=limit))
            assert got == expected
            assert r.count("m", prefix) == len(_select(model, prefix, None, None))
        with store.write() as w:
            removed = w.delete_range("m", prefix=prefix, start=start, end=end)
            assert removed == len(_select(model, prefix, start, end))
            remaining = {k: v for k, v in model.items() if (k, v) not in _select(model, prefix, start, end)}
            assert list(w.scan("m")) == sorted(remaining.items())
            assert w.get("other", b"a") == b"x"
    finally:
        store.close()


def test_scan_pages_over_batches_and_allows_writes(store: SQLiteStore) -> None:
    n = 1000
    with store.write() as w:
        for i in range(n):
            w.put("big", pack(i), str(i).encode())
    with store.read() as r:
        assert [k for k, _ in r.scan("big")] == [pack(i) for i in range(n)]
        assert [k for k, _ in r.scan("big", reverse=True, limit=300)] == [
            pack(i) for i in range(n - 1, n - 301, -1)
        ]
    with store.write() as w:
        for k, _ in w.scan("big"):  # deleting while scanning is safe
            w.delete("big", k)
        assert w.count("big") == 0


def test_exception_rolls_back_everything(store: SQLiteStore) -> None:
    with store.write() as w:
        w.put("ns", b"keep", b"1")
    with pytest.raises(RuntimeError), store.write() as w:
        w.put("ns", b"new", b"2")
        w.put("ns", b"keep", b"changed")
        w.delete_range("ns", prefix=b"k")
        w.next_sequence("seq")
        raise RuntimeError("boom")
    with store.read() as r:
        assert r.get("ns", b"new") is None
        assert r.get("ns", b"keep") == b"1"
    with store.write() as w:
        assert w.next_sequence("seq") == 1


def test_sequences(store: SQLiteStore) -> None:
    with store.write() as w:
        assert [w.next_sequence("a") for _ in range(3)] == [1, 2, 3]
        assert w.next_sequence("b") == 1
    with store.write() as w:
        assert w.next_sequence("a") == 4


def test_snapshot_isolation(store: SQLiteStore) -> None:
    with store.write() as w:
        w.put("ns", b"x", b"old")
        w.put("ns", b"y", b"old")
    with store.read() as r:
        assert r.get("ns", b"x") == b"old"
        done = threading.Event()

        def writer() -> None:
            with store.write() as w:
                w.put("ns", b"x", b"new")
                w.delete("ns", b"y")
                w.put("ns", b"z", b"new")
            done.set()

        t = threading.Thread(target=writer)
        t.start()
        assert done.wait(10)  # the writer is not blocked by the reader
        assert r.get("ns", b"x") == b"old"
        assert r.get("ns", b"y") == b"old"
        assert list(r.scan("ns")) == [(b"x", b"old"), (b"y", b"old")]
        with store.read() as nested:  # nested reads share the snapshot
            assert nested.get("ns", b"x") == b"old"
        t.join()
    with store.read() as r:
        assert r.get("ns", b"x") == b"new"
        assert r.count("ns") == 2


def test_snapshot_taken_at_block_entry(store: SQLiteStore) -> None:
    with store.write() as w:
        w.put("ns", b"x", b"old")
    with store.read() as r:
        t = threading.Thread(target=lambda: _put(store, b"x", b"new"))
        t.start()
        t.join()
        assert r.get("ns", b"x") == b"old"


def _put(store: SQLiteStore, key: bytes, value: bytes) -> None:
    with store.write() as w:
        w.put("ns", key, value)


def test_concurrent_writers(store: SQLiteStore) -> None:
    threads, per_thread = 8, 50
    errors: list[BaseException] = []

    def work(tid: int) -> None:
        try:
            for i in range(per_thread):
                with store.write() as w:
                    raw = w.get("ns", b"counter")
                    w.put("ns", b"counter", str(int(raw or b"0") + 1).encode())
                    w.put("ns", pack(tid, i), b"x")
                    w.next_sequence("s")
                with store.read() as r:
                    assert r.get("ns", pack(tid, i)) == b"x"
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    with store.read() as r:
        assert r.get("ns", b"counter") == str(threads * per_thread).encode()
        assert r.count("ns") == threads * per_thread + 1
    with store.write() as w:
        assert w.next_sequence("s") == threads * per_thread + 1


def test_misuse(store: SQLiteStore) -> None:
    with store.write() as w:
        with pytest.raises(TransactionError), store.write():
            pass
        w.put("ns", b"a", b"1")
    with pytest.raises(TransactionError):
        w.get("ns", b"a")  # used after the block
    with store.read() as r:
        it = r.scan("ns")
    with pytest.raises(TransactionError):
        next(it)
    with pytest.raises(ValueError):
        SQLiteStore(store.path, synchronous="SOMETIMES")
    store.close()
    store.close()
    with pytest.raises(TransactionError), store.read():
        pass


def test_reopen_keeps_data(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "r.db")
    with s.write() as w:
        w.put("ns", b"k", b"v")
        w.next_sequence("q")
    s.close()
    s = SQLiteStore(tmp_path / "r.db")
    with s.read() as r:
        assert r.get("ns", b"k") == b"v"
    with s.write() as w:
        assert w.next_sequence("q") == 2
    s.close()


def test_readers_always_see_consistent_snapshots(store: SQLiteStore) -> None:
    # Writers move amounts between two accounts; every snapshot must show the same total.
    with store.write() as w:
        w.put("bank", b"a", b"500")
        w.put("bank", b"b", b"500")
    stop = threading.Event()
    bad: list[tuple[int, int]] = []

    def transfer() -> None:
        for i in range(300):
            with store.write() as w:
                a, b = int(w.get("bank", b"a") or 0), int(w.get("bank", b"b") or 0)
                amount = i % 7 - 3
                w.put("bank", b"a", str(a - amount).encode())
                w.put("bank", b"b", str(b + amount).encode())
        stop.set()

    def audit() -> None:
        while not stop.is_set():
            with store.read() as r:
                a = int(r.get("bank", b"a") or 0)
                b = int(dict(r.scan("bank"))[b"b"])
                if a + b != 1000:
                    bad.append((a, b))

    threads = [threading.Thread(target=transfer)] + [threading.Thread(target=audit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []


def test_usable_from_asyncio(store: SQLiteStore) -> None:
    async def handler(i: int) -> int:
        with store.write() as w:
            w.put("async", pack(i), b"x")
            seq = w.next_sequence("async")
        await asyncio.sleep(0)
        with store.read() as r:
            assert r.get("async", pack(i)) == b"x"
        return seq

    async def main() -> list[int]:
        direct = await asyncio.gather(*(handler(i) for i in range(50)))
        threaded = await asyncio.gather(*(asyncio.to_thread(_put, store, pack(i), b"t") for i in range(20)))
        assert threaded == [None] * 20
        return list(direct)

    seqs = asyncio.run(main())
    assert sorted(seqs) == list(range(1, 51))
    with store.read() as r:
        assert r.count("async") == 50
        assert r.count("ns") == 20


def test_put_many_inserts_and_replaces_in_order(store: SQLiteStore) -> None:
    with store.write() as w:
        w.put("ns", pack("a"), b"old")
    before = store.changes("ns")
    with store.write() as w:
        w.put_many("ns", [(pack("a"), b"new"), (pack("b"), b"1"), (pack("b"), b"2")])
    assert store.changes("ns") == before + 1
    with store.read() as r:
        assert list(r.scan("ns")) == [(pack("a"), b"new"), (pack("b"), b"2")]
