"""Change counters shared by every process that opens one database.

`SQLiteStore.changes(ns)` lets in-memory caches tell whether a namespace may
have changed since they last read it. With read-only worker processes
(`squall up --workers N`) the process that commits is not the process that
caches, so the counters live in a small memory-mapped file next to the
database instead of in a dict: the writing process bumps them after COMMIT,
readers compare.

Layout: `SLOTS` little-endian unsigned 64-bit counters; a namespace maps to the
slot `crc32(ns) % SLOTS` (a stable hash: Python's `hash` differs per process).
Two namespaces sharing a slot only cost each other spurious cache misses.

Only one process writes (the server, holding the data directory's lock, is the
only writer of the database), always under the store's write lock, so a plain
read-modify-write of a slot cannot race. The order that keeps caches right:
the writer commits, then bumps; a reader reads the counter, then opens its
read transaction. A reader that sees the old count may read the new data and
cache it under the old count: the next call sees the new count and reads again.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from pathlib import Path

SLOTS = 4096
_SLOT = struct.Struct("<Q")
_MASK = (1 << 64) - 1


class SharedChanges:
    """The counters file, mapped. `writer=True` creates or extends it."""

    def __init__(self, path: str | os.PathLike[str], *, writer: bool) -> None:
        self.path = Path(path)
        size = SLOTS * _SLOT.size
        flags = os.O_RDWR | (os.O_CREAT if writer else 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            if writer and os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size, access=mmap.ACCESS_WRITE if writer else mmap.ACCESS_READ)
        finally:
            os.close(fd)
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
        return int(_SLOT.unpack_from(self._map, self._slot(ns))[0])

    def bump(self, namespaces: set[str]) -> None:
        for offset in {self._slot(ns) for ns in namespaces}:
            (value,) = _SLOT.unpack_from(self._map, offset)
            _SLOT.pack_into(self._map, offset, (value + 1) & _MASK)

    def close(self) -> None:
        self._map.close()
