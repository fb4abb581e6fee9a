"""Throughput of the SQLite store and blob area.

    python bench/store.py [N] [--sync FULL] [--repeat 5]

Each figure is the median over --repeat fresh runs (new database each run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from squall.storage import BlobStore, SQLiteStore, pack

RESULTS: dict[str, list[float]] = {}


def rate(label: str, ops: int, seconds: float) -> None:
    RESULTS.setdefault(label, []).append(ops / seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=5000)
    parser.add_argument("--sync", default="NORMAL")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for _ in range(args.repeat):
        run(args.n, args.sync)
    print(f"median of {args.repeat} runs")
    for label, rates in RESULTS.items():
        med = statistics.median(rates)
        print(f"{label:<42} {med:>12,.0f} ops/s  ({1e6 / med:,.1f} us/op)")


def run(n: int, sync: str) -> None:
    value = b"v" * 200
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db", synchronous=sync)
        keys = [pack("000000000000", "us-east-1", "function", f"fn-{i:06d}") for i in range(n)]

        t = time.perf_counter()
        for k in keys:
            with store.write() as w:
                w.put("bench", k, value)
        rate(f"put, one write txn each (sync={sync})", n, time.perf_counter() - t)

        t = time.perf_counter()
        with store.write() as w:
            for k in keys:
                w.put("bench2", k, value)
        rate("put, all in one write txn", n, time.perf_counter() - t)

        t = time.perf_counter()
        with store.read() as r:
            for k in keys:
                r.get("bench", k)
        rate("get, in one read txn", n, time.perf_counter() - t)

        t = time.perf_counter()
        for k in keys[: n // 5]:
            with store.read() as r:
                r.get("bench", k)
        rate("get, one read txn each", n // 5, time.perf_counter() - t)

        rounds = 20
        t = time.perf_counter()
        with store.read() as r:
            for _ in range(rounds):
                rows = sum(1 for _ in r.scan("bench"))
        rate(f"scan, rows/s ({n} rows x {rounds})", rows * rounds, time.perf_counter() - t)

        t = time.perf_counter()
        with store.read() as r:
            for k in keys[: n // 5]:
                list(r.scan("bench", start=k, limit=10))
        rate("scan of 10 from a key, scans/s", n // 5, time.perf_counter() - t)

        t = time.perf_counter()
        for _ in range(n // 5):
            with store.write() as w:
                w.next_sequence("s")
        rate("next_sequence, one write txn each", n // 5, time.perf_counter() - t)
        store.close()

        blobs = BlobStore(Path(tmp) / "blobs")
        m = max(n // 20, 10)
        t = time.perf_counter()
        for _ in range(m):
            blobs.put(b"x" * 4096)
        rate("blob put 4 KiB (fsync file + dir)", m, time.perf_counter() - t)


if __name__ == "__main__":
    main()
