"""Immutable blobs as files: object bodies, function code, large payloads.

A blob is written once and never modified: `put` streams the data into a
temporary file under `<root>/.tmp/` (same filesystem), fsyncs it, renames it
to `<root>/<id[:2]>/<id>` and fsyncs the directory. A rename is atomic, so a
reader sees either no blob or the whole blob, never part of it; after `put`
returns the blob survives a crash. Temporary files left by a crash are
removed when the `BlobStore` is opened (only one process opens a data
directory, see `DataDir`).

A large blob written piece by piece (`BlobWriter`) starts writeback of what
it has so far every 8 MiB (`sync_file_range`, no waiting), so the disk works
while the body arrives and the final fsync only flushes the tail.

Ids are 32 random hex digits. Metadata (which object owns which blob) lives
in the `Store`; write the blob first, then commit the reference, and delete
the blob after the transaction that dropped its last reference committed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from squall.storage.interface import StorageError, StorageFull
from squall.storage.space import SpaceGuard, is_full

_ID = re.compile(r"[0-9a-f]{32}")
_TMP = ".tmp"
_WRITEBACK_BYTES = 8 << 20
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> ctypes._NamedFuncPointer | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        func = libc.sync_file_range
    except (OSError, AttributeError):  # not Linux: the final fsync does it all
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    func.restype = ctypes.c_int
    return func


_sync_file_range = _load_sync_file_range()


def _start_writeback(fd: int, offset: int) -> None:
    """Start writing back the file from `offset` to its end; returns at once."""
    if _sync_file_range is not None and _sync_file_range(fd, offset, 0, _SYNC_FILE_RANGE_WRITE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class BlobNotFoundError(StorageError, LookupError):
    """No blob with that id."""


@dataclass(frozen=True, slots=True)
class BlobRef:
    id: str
    size: int
    md5_hex: str
    sha256_hex: str


@dataclass(frozen=True, slots=True)
class BlobUsage:
    count: int
    bytes: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Files under `root`, created (mode 0o700) if missing."""

    def __init__(self, root: str | os.PathLike[str], space: SpaceGuard | None = None) -> None:
        """`space`: writes are refused with `StorageFull` while its disk is full."""
        self.root = Path(root)
        self.space = space
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._tmp = self.root / _TMP
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._tmp.mkdir(mode=0o700)
        _fsync_dir(self.root)

    def _path(self, blob_id: str) -> Path:
        if not _ID.fullmatch(blob_id):
            raise BlobNotFoundError(f"invalid blob id {blob_id!r}")
        return self.root / blob_id[:2] / blob_id

    def path(self, blob_id: str) -> Path:
        """Where the blob's file is (for sendfile or mmap); it must exist."""
        path = self._path(blob_id)
        if not path.is_file():
            raise BlobNotFoundError(f"no blob {blob_id}")
        return path

    def put(self, data: bytes | bytearray | memoryview | Iterable[bytes]) -> BlobRef:
        """Store `data` (bytes, or an iterable of chunks) durably; returns its
        reference with size and digests."""
        if self.space is not None:
            self.space.check()
        chunks: Iterable[bytes] = (bytes(data),) if isinstance(data, bytes | bytearray | memoryview) else data
        md5 = hashlib.md5(usedforsecurity=False)
        sha256 = hashlib.sha256()
        size = 0
        blob_id = secrets.token_hex(16)
        tmp_path = self._tmp / f"{blob_id}.part"
        try:
            with open(tmp_path, "xb") as tmp:
                for chunk in chunks:
                    tmp.write(chunk)
                    md5.update(chunk)
                    sha256.update(chunk)
                    size += len(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            shard = self.root / blob_id[:2]
            if not shard.is_dir():
                shard.mkdir(mode=0o700, exist_ok=True)
                _fsync_dir(self.root)
            os.rename(tmp_path, shard / blob_id)
            _fsync_dir(shard)
        except BaseException as exc:
            tmp_path.unlink(missing_ok=True)
            self._raise_if_full(exc)
            raise
        return BlobRef(blob_id, size, md5.hexdigest(), sha256.hexdigest())

    def _raise_if_full(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and is_full(exc):
            if self.space is not None:
                self.space.full()
            raise StorageFull("the disk is full; the blob was not written") from exc

    def begin(self) -> BlobWriter:
        """A blob written piece by piece (a streamed upload): `write` the pieces,
        then `commit` (fsync + rename, as `put`) or `abort`. Its id is known
        before the first byte, so a caller can record its intent first."""
        if self.space is not None:
            self.space.check()
        try:
            return BlobWriter(self, secrets.token_hex(16))
        except OSError as exc:
            self._raise_if_full(exc)
            raise

    def _install(self, tmp_path: Path, blob_id: str) -> None:
        shard = self.root / blob_id[:2]
        if not shard.is_dir():
            shard.mkdir(mode=0o700, exist_ok=True)
            _fsync_dir(self.root)
        os.rename(tmp_path, shard / blob_id)
        _fsync_dir(shard)

    def open(self, blob_id: str) -> BinaryIO:
        """The blob's content as a seekable binary file; close it after use."""
        try:
            return open(self._path(blob_id), "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob {blob_id}") from None

    def read(self, blob_id: str) -> bytes:
        with self.open(blob_id) as f:
            return f.read()

    def exists(self, blob_id: str) -> bool:
        return _ID.fullmatch(blob_id) is not None and self._path(blob_id).is_file()

    def delete(self, blob_id: str) -> bool:
        """Remove the blob; True if it existed. Open readers keep reading it."""
        path = self._path(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def usage(self) -> BlobUsage:
        return blob_usage(self.root)


def blob_usage(root: Path) -> BlobUsage:
    """Count and total size of the blobs under `root`; read-only, safe while a server runs."""
    count = total = 0
    if not root.is_dir():
        return BlobUsage(0, 0)
    for shard in root.iterdir():
        if shard.name == _TMP or not shard.is_dir():
            continue
        for entry in os.scandir(shard):
            if entry.is_file(follow_symlinks=False) and _ID.fullmatch(entry.name):
                count += 1
                total += entry.stat(follow_symlinks=False).st_size
    return BlobUsage(count, total)


class BlobWriter:
    """An uncommitted blob (see `BlobStore.begin`). `write` is buffered file I/O;
    `commit` fsyncs and may block: run it in a thread from async code."""

    def __init__(self, store: BlobStore, blob_id: str) -> None:
        self.id = blob_id
        self.size = 0
        self._store = store
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._tmp_path = store._tmp / f"{blob_id}.part"
        self._file: BinaryIO | None = open(self._tmp_path, "xb")  # noqa: SIM115 - closed by commit/abort
        self._written_back = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._file is not None, "blob already committed or aborted"
        try:
            self._file.write(data)
            self._md5.update(data)
            self.size += len(data)
            if self.size - self._written_back >= _WRITEBACK_BYTES:
                self._file.flush()
                _start_writeback(self._file.fileno(), self._written_back)
                self._written_back = self.size
        except OSError as exc:
            self.abort()
            self._store._raise_if_full(exc)
            raise

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    def commit(self) -> None:
        assert self._file is not None, "blob already committed or aborted"
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            self._store._install(self._tmp_path, self.id)
        except BaseException as exc:
            self.abort()
            self._store._raise_if_full(exc)
            raise

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # the buffer's flush fails on a full disk
                self._file.close()
            self._file = None
        self._tmp_path.unlink(missing_ok=True)
