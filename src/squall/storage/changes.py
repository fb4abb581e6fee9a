"""Change counters shared by every process that opens one database.

`SQLiteStore.changes(ns)` lets in-memory caches tell whether a namespace may
have changed since they last read it. With worker processes (`squall up
--workers N`) the process that commits is not always the process that caches,
so the counters live in a memory-mapped file next to the database instead of
in a dict.

Layout: one region per server process (`REGIONS` at most), each `SLOTS`
little-endian unsigned 64-bit counters; a namespace maps to the slot
`crc32(ns) % SLOTS` (a stable hash: Python's `hash` differs per process). Two
namespaces sharing a slot only cost each other spurious cache misses.

A process bumps only its own region, after COMMIT, under its store's write
lock, so a plain read-modify-write cannot race; `get` sums the slot over the
`processes` regions in use. Every count only grows, so the sum moves whenever
any process committed a write to the namespace. The order that keeps caches
right: a writer commits, then bumps; a reader reads the sum, then opens its
read transaction. A reader that sees an old sum may read newer data and cache
it under the old sum: the next call sees the new sum and reads again.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from pathlib import Path

SLOTS = 4096
REGIONS = 65  # the primary and up to 64 workers
_SLOT = struct.Struct("<Q")
_REGION = SLOTS * _SLOT.size
_MASK = (1 << 64) - 1


class SharedChanges:
    """The counters file, mapped: this process writes region `index` and reads the first
    `processes` regions. Index 0 (the primary) creates the file."""

    def __init__(self, path: str | os.PathLike[str], *, index: int = 0, processes: int = 1) -> None:
        if not 0 <= index < processes <= REGIONS:
            raise ValueError(f"process index {index} of {processes} (at most {REGIONS} processes)")
        self.path = Path(path)
        size = REGIONS * _REGION
        fd = os.open(self.path, os.O_RDWR | (os.O_CREAT if index == 0 else 0), 0o600)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)  # sparse: untouched regions take no disk
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._own = index * _REGION
        self._regions = [r * _REGION for r in range(processes)]
        self._slots: dict[str, int] = {}

    @staticmethod
    def slot_of(ns: str) -> int:
        return zlib.crc32(ns.encode()) % SLOTS

    def _slot(self, ns: str) -> int:
        offset = self._slots.get(ns)
        if offset is None:
            offset = self.slot_of(ns) * _SLOT.size
            self._slots[ns] = offset
        return offset

    def get(self, ns: str) -> int:
        slot = self._slot(ns)
        unpack, view = _SLOT.unpack_from, self._map
        if len(self._regions) == 1:
            return int(unpack(view, slot)[0])
        return sum(int(unpack(view, region + slot)[0]) for region in self._regions)

    def bump(self, namespaces: set[str]) -> None:
        for slot in {self._slot(ns) for ns in namespaces}:
            offset = self._own + slot
            (value,) = _SLOT.unpack_from(self._map, offset)
            _SLOT.pack_into(self._map, offset, (value + 1) & _MASK)

    def close(self) -> None:
        self._map.close()
