"""Immutable blobs as files: object bodies, function code, large payloads.

A blob is written once and never modified: `put` streams the data into a
temporary file under `<root>/.tmp/` (same filesystem), renames it to
`<root>/<id[:2]>/<id>`, then fsyncs the file and the directory. A rename is
atomic, so a reader sees either no blob or the whole blob, never part of it;
after `put` returns the blob survives a crash and a power loss. Temporary
files left by a crash are removed when the `BlobStore` is opened (only one
process opens a data directory, see `DataDir`).

Group commit: the fsyncs go through `GroupSync`. Concurrent writers queue
their files; one of them (the leader) fsyncs every file queued, then every
directory once, while the others wait. Because all their renames happened
before the first fsync, one filesystem journal commit covers the whole batch
(ext4, xfs): N concurrent puts cost about one flush instead of 2N. Large
blobs start writeback every few MiB while they are written
(`sync_file_range`), so the final fsync has little left to do.

Ids are 32 random hex digits. Metadata (which object owns which blob) lives
in the `Store`; write the blob first, then commit the reference, and delete
the blob after the transaction that dropped its last reference committed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from squall.storage.interface import StorageError

_ID = re.compile(r"[0-9a-f]{32}")
_TMP = ".tmp"
_WRITEBACK_BYTES = 8 << 20  # start writeback of a growing blob every this many bytes
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> ctypes._NamedFuncPointer | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        func = libc.sync_file_range
    except (OSError, AttributeError):  # not Linux
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    func.restype = ctypes.c_int
    return func


_sync_file_range = _load_sync_file_range()


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


class _SyncRequest:
    __slots__ = ("directory", "done", "error", "fd")

    def __init__(self, fd: int | None, directory: Path) -> None:
        self.fd = fd
        self.directory = directory
        self.done = False
        self.error: OSError | None = None


class GroupSync:
    """Makes files and directory entries durable, batching concurrent callers.

    `sync(fd, directory)` returns once the open file `fd` (or only the entries of
    `directory`, with fd None) is on stable storage. A caller arriving while a
    flush runs queues up; when it ends, one waiting caller flushes everything
    queued (each file, then each distinct directory once) for all of them.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[_SyncRequest] = []
        self._busy = False
        self.flushes = 0  # batches flushed (for tests and benchmarks)

    def sync(self, fd: int | None, directory: Path) -> None:
        request = _SyncRequest(fd, directory)
        with self._cond:
            self._queue.append(request)
            while not request.done:
                if self._busy:
                    self._cond.wait()
                    continue
                batch, self._queue = self._queue, []
                self._busy = True
                self._cond.release()
                try:
                    _flush(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self.flushes += 1
                    for done in batch:
                        done.done = True
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error


def _flush(batch: list[_SyncRequest]) -> None:
    for request in batch:
        if request.fd is not None:
            try:
                os.fsync(request.fd)
            except OSError as exc:
                request.error = exc
    for directory in {request.directory for request in batch}:
        try:
            _fsync_dir(directory)
        except OSError as exc:
            for request in batch:
                if request.directory == directory:
                    request.error = exc


class BlobStore:
    """Files under `root`, created (mode 0o700) if missing."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._tmp = self.root / _TMP
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._tmp.mkdir(mode=0o700)
        _fsync_dir(self.root)
        self._sync = GroupSync()

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
                self._install(tmp_path, blob_id, tmp.fileno())
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        return BlobRef(blob_id, size, md5.hexdigest(), sha256.hexdigest())

    def begin(self) -> BlobWriter:
        """A blob written piece by piece (a streamed upload): `write` the pieces,
        then `commit` (fsync + rename, as `put`) or `abort`. Its id is known
        before the first byte, so a caller can record its intent first."""
        return BlobWriter(self, secrets.token_hex(16))

    def _install(self, tmp_path: Path, blob_id: str, fd: int) -> None:
        """Rename the written temp file (open as `fd`) into place and make both durable."""
        shard = self.root / blob_id[:2]
        if not shard.is_dir():
            shard.mkdir(mode=0o700, exist_ok=True)
            _fsync_dir(self.root)
        os.rename(tmp_path, shard / blob_id)
        try:
            self._sync.sync(fd, shard)
        except BaseException:
            (shard / blob_id).unlink(missing_ok=True)
            raise

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
        self._sync.sync(None, path.parent)
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
        self._file.write(data)
        self._md5.update(data)
        self.size += len(data)
        if self.size - self._written_back >= _WRITEBACK_BYTES and _sync_file_range is not None:
            self._file.flush()
            # Start writeback of what is written so far (no waiting): the final fsync
            # then only flushes the tail, and the disk works while the body arrives.
            _sync_file_range(self._file.fileno(), self._written_back, 0, _SYNC_FILE_RANGE_WRITE)
            self._written_back = self.size

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    def commit(self) -> None:
        assert self._file is not None, "blob already committed or aborted"
        try:
            self._file.flush()
            self._store._install(self._tmp_path, self.id, self._file.fileno())
            self._file.close()
            self._file = None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp_path.unlink(missing_ok=True)
