"""The data directory: everything one Squall server persists, in one place.

Layout (directories mode 0o700)::

    <path>/squall.lock    exclusive flock held for the server's lifetime; holds its pid
    <path>/server.json    endpoint, pid, started_at, version of the running server
    <path>/db/squall.db   the SQLite store (plus -wal and -shm files)
    <path>/blobs/         the BlobStore
    <path>/tmp/           scratch space on the same filesystem; emptied at open
    <path>/reserve        space kept back for a restart on a full disk (storage/space.py)

Only one process may open a data directory. `DataDir.open` takes a
non-blocking `fcntl.flock` on `squall.lock` and raises `DataDirInUse` if
another process holds it. The kernel releases the lock when the holder exits
for any reason (including `kill -9`), so a crashed server never leaves a
stale lock behind. Note that a forked child shares the lock's open file
description: children that may outlive the server must close inherited file
descriptors (sandboxes do).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from squall.storage.blobs import BlobStore, blob_usage
from squall.storage.interface import StorageError
from squall.storage.space import SpaceGuard, is_full
from squall.storage.sqlite import WAL_LIMIT, SQLiteStore

log = logging.getLogger("squall.storage")

LOCK_FILE = "squall.lock"
SERVER_INFO_FILE = "server.json"
DB_FILE = "squall.db"


class DataDirInUse(StorageError):
    """Another process holds the data directory's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "unknown pid"
        super().__init__(f"data directory {path} is already in use by another Squall server ({holder})")
        self.path = path
        self.pid = pid


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 64, 0)
        return int(raw.decode("ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DataDir:
    """An open, locked data directory with its store and blob store.
    Create with `DataDir.open(path)`; `close()` (or `with`) releases it."""

    def __init__(self, path: Path, lock_fd: int, store: SQLiteStore, blobs: BlobStore) -> None:
        self.path = path
        self.store = store
        self.blobs = blobs
        self._lock_fd: int | None = lock_fd
        self._wrote_info = False

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        processes: int = 1,
        wal_limit: int = WAL_LIMIT,
    ) -> DataDir:
        root = Path(path).expanduser().absolute()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirInUse(root, pid) from None
        except BaseException:
            os.close(fd)
            raise
        store: SQLiteStore | None = None
        space = SpaceGuard(root)
        space.release_reserve_if_low()  # a full disk: room to open the database, read-only
        try:
            pid_bytes = f"{os.getpid()}\n".encode()
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, pid_bytes, 0)
            except OSError as exc:  # the pid is informative (DataDirInUse's message)
                if not is_full(exc):
                    raise
            for sub in ("db", "blobs", "tmp"):
                (root / sub).mkdir(mode=0o700, exist_ok=True)
            for entry in (root / "tmp").iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            store = SQLiteStore(
                root / "db" / DB_FILE,
                synchronous=synchronous,
                process=(0, processes),
                wal_limit=wal_limit,
                space=space,
            )
            blobs = BlobStore(root / "blobs", space)
        except BaseException:
            if store is not None:
                store.close()
            os.close(fd)
            raise
        return cls(root, fd, store, blobs)

    @classmethod
    def attach(
        cls,
        path: str | os.PathLike[str],
        index: int,
        processes: int,
        *,
        synchronous: str = "NORMAL",
        wal_limit: int = WAL_LIMIT,
    ) -> DataDir:
        """The directory a running server holds, for its worker process `index` (of
        `processes`, the primary being 0): no lock taken, the same database and blobs."""
        root = Path(path).expanduser().absolute()
        space = SpaceGuard(root)
        store = SQLiteStore(
            root / "db" / DB_FILE,
            synchronous=synchronous,
            process=(index, processes),
            wal_limit=wal_limit,
            space=space,
        )
        return cls(root, -1, store, BlobStore(root / "blobs", space))

    @property
    def tmp(self) -> Path:
        return self.path / "tmp"

    def write_server_info(self, info: dict[str, Any]) -> None:
        """Publish `info` (endpoint, pid, started_at, version...) as server.json,
        atomically; removed again by `close()`."""
        try:
            _write_atomic(self.path / SERVER_INFO_FILE, json.dumps(info, indent=2, sort_keys=True).encode())
        except OSError as exc:
            if not is_full(exc):
                raise
            # A full disk must not stop the server: it serves reads until space returns.
            # server.json only tells `squall status` where the server is.
            (self.path / f".{SERVER_INFO_FILE}.{os.getpid()}.tmp").unlink(missing_ok=True)
            log.warning("server.json not written: the data directory's disk is full")
            return
        self._wrote_info = True

    @staticmethod
    def read_server_info(path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """server.json of the data directory at `path`, without taking the lock;
        None if absent or unreadable. The pid in it may be dead (after a crash)."""
        try:
            data = json.loads((Path(path).expanduser() / SERVER_INFO_FILE).read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def usage(self) -> dict[str, Any]:
        """Sizes for `squall status` / `squall doctor`."""
        return _usage_at(self.path)

    @staticmethod
    def usage_of(path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """Sizes of the data directory at `path` without opening it (a server may hold it);
        None if there is no data directory there."""
        root = Path(path).expanduser().absolute()
        if not (root / "db").is_dir():
            return None
        return _usage_at(root)

    @staticmethod
    def check(path: str | os.PathLike[str]) -> list[str]:
        """Human-readable health lines for `squall doctor`; never takes the lock."""
        root = Path(path).expanduser().absolute()
        lines = [f"path: {root}"]
        if not root.exists():
            parent = next((p for p in root.parents if p.exists()), root)
            ok = os.access(parent, os.W_OK)
            lines.append(f"not created yet; {'can' if ok else 'CANNOT'} be created under {parent}")
            return lines
        lines.append(f"writable: {'yes' if os.access(root, os.W_OK) else 'NO'}")
        lock = root / LOCK_FILE
        holder = None
        if lock.exists():
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                except BlockingIOError:
                    holder = _read_pid(fd) or "?"
            finally:
                os.close(fd)
        lines.append(f"in use by: pid {holder}" if holder else "in use by: nobody")
        usage = _usage_at(root)
        lines.append(
            f"database: {usage['db_bytes']} bytes; blobs: {usage['blob_count']} ({usage['blob_bytes']} bytes)"
        )
        stat = os.statvfs(root)
        lines.append(f"free space: {stat.f_bavail * stat.f_frsize // (1024 * 1024)} MiB")
        return lines

    def close(self) -> None:
        """Close the store and release the lock. Idempotent."""
        if self._lock_fd is None:
            return
        try:
            self.store.close()
            if self._wrote_info:
                (self.path / SERVER_INFO_FILE).unlink(missing_ok=True)
        finally:
            fd, self._lock_fd = self._lock_fd, None
            if fd >= 0:  # an attached directory (a worker's) holds no lock
                os.close(fd)

    def __enter__(self) -> DataDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _usage_at(root: Path) -> dict[str, Any]:
    db = root / "db" / DB_FILE
    db_bytes = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            db_bytes += os.stat(f"{db}{suffix}").st_size
    blobs = blob_usage(root / "blobs")
    return {"path": str(root), "db_bytes": db_bytes, "blob_count": blobs.count, "blob_bytes": blobs.bytes}
