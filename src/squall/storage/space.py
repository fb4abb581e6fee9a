"""Free space on the data directory's filesystem: a full disk makes the store read-only.

`SpaceGuard.check()` runs before every write transaction and blob write: below `floor`
free bytes it raises `StorageFull` (the service answers its own "temporary server-side
failure" error; nothing is half-written, and what was accepted before stays readable).
The answer is cached for `RECHECK` seconds; a write that hits ENOSPC / SQLITE_FULL anyway
calls `full()`, which makes the guard refuse at once and look again soon. When space
returns, writes are accepted again on the next check.

A `reserve` file of `reserve` bytes is kept in the data directory while space allows. A
server (re)started on a full disk deletes it first, so that opening the database (its
-wal and -shm files), the lock's pid and server.json have room; the server then serves
reads and refuses writes until space returns, when the reserve is made again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from pathlib import Path

from squall.storage.interface import StorageFull

log = logging.getLogger("squall.storage")

RESERVE_FILE = "reserve"
RESERVE_BYTES = 8 * 1024 * 1024
FLOOR_BYTES = 16 * 1024 * 1024


def is_full(exc: BaseException) -> bool:
    """Whether ``exc`` (an OSError, or sqlite3's error) says the disk is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code == 13 or "disk is full" in str(exc)  # SQLITE_FULL


class SpaceGuard:
    RECHECK = 0.5

    def __init__(
        self, root: str | os.PathLike[str], *, floor: int = FLOOR_BYTES, reserve: int = RESERVE_BYTES
    ) -> None:
        self.root = Path(root)
        self.floor = floor
        self.reserve = reserve
        self._low = False
        self._next = 0.0
        self._lock = threading.Lock()

    def free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def check(self) -> None:
        """Raise `StorageFull` while free space is below the floor (cheap: cached)."""
        if time.monotonic() >= self._next:
            self._refresh()
        if self._low:
            raise StorageFull(
                "no space left on the data directory's disk: writes are refused until space returns"
            )

    def full(self) -> None:
        """A write just failed for lack of space: refuse from now on, and look again soon."""
        with self._lock:
            if not self._low:
                log.warning("the data directory's disk is full: writes are refused until space returns")
            self._low = True
            self._next = time.monotonic() + self.RECHECK

    @property
    def low(self) -> bool:
        if time.monotonic() >= self._next:
            self._refresh()
        return self._low

    def _refresh(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return
            self._next = now + self.RECHECK
            try:
                free = self.free()
            except OSError:
                return
            low = free < self.floor
            if low != self._low:
                log.warning(
                    "the data directory's disk is %s (%d MiB free)",
                    "full: writes are refused until space returns" if low else "writable again",
                    free >> 20,
                )
            self._low = low
            if not low and free >= self.floor + self.reserve:
                self._make_reserve()

    # -- the reserve file ------------------------------------------------------------------------

    @property
    def reserve_path(self) -> Path:
        return self.root / RESERVE_FILE

    def _make_reserve(self) -> None:
        path = self.reserve_path
        if self.reserve <= 0 or path.exists():
            return
        tmp = path.with_name(f".{RESERVE_FILE}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def release_reserve_if_low(self) -> bool:
        """At start-up: delete the reserve when the disk is full, so the server can open.
        True if it was released."""
        try:
            free = self.free()
        except OSError:
            return False
        if free >= self.floor or not self.reserve_path.exists():
            return False
        with contextlib.suppress(OSError):
            self.reserve_path.unlink()
            log.warning("the data directory's disk is full: the reserve was released, writes are refused")
            return True
        return False
