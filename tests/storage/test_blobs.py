from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.storage import BlobNotFoundError, BlobStore

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_read_delete(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "b")
    data = os.urandom(100_000)
    ref = blobs.put(data)
    assert ref.size == len(data)
    assert ref.md5_hex == hashlib.md5(data).hexdigest()
    assert ref.sha256_hex == hashlib.sha256(data).hexdigest()
    assert blobs.exists(ref.id)
    assert blobs.read(ref.id) == data
    with blobs.open(ref.id) as f:
        f.seek(50_000)
        assert f.read(10) == data[50_000:50_010]
    assert blobs.path(ref.id).parent.name == ref.id[:2]
    assert blobs.delete(ref.id) is True
    assert blobs.delete(ref.id) is False
    assert not blobs.exists(ref.id)
    with pytest.raises(BlobNotFoundError):
        blobs.read(ref.id)
    with pytest.raises(BlobNotFoundError):
        blobs.path(ref.id)


def test_chunks_empty_and_bytearray(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    chunks = [b"hello ", b"", b"world"]
    ref = blobs.put(iter(chunks))
    assert blobs.read(ref.id) == b"hello world"
    assert ref.md5_hex == hashlib.md5(b"hello world").hexdigest()
    empty = blobs.put(b"")
    assert (empty.size, blobs.read(empty.id)) == (0, b"")
    assert blobs.read(blobs.put(bytearray(b"abc")).id) == b"abc"
    ids = {blobs.put(b"same").id for _ in range(20)}
    assert len(ids) == 20
    usage = blobs.usage()
    assert (usage.count, usage.bytes) == (23, 11 + 0 + 3 + 80)


def test_ids_are_validated(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "b")
    (tmp_path / "secret").write_bytes(b"x")
    for bad in ("../secret", "..", "", "ZZ" * 16, "a" * 31, "a" * 33 + "/"):
        assert not blobs.exists(bad)
        with pytest.raises(BlobNotFoundError):
            blobs.read(bad)
        with pytest.raises(BlobNotFoundError):
            blobs.delete(bad)


def test_partial_blob_is_never_visible(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "b")
    kept = blobs.put(b"kept")
    seen_during: list[int] = []

    def slow() -> Iterator[bytes]:
        for _ in range(3):
            yield b"x" * 1000
            seen_during.append(blobs.usage().count)

    ref = blobs.put(slow())
    assert seen_during == [1, 1, 1]  # only `kept` was visible while writing
    assert blobs.usage().count == 2
    assert blobs.read(ref.id) == b"x" * 3000

    def failing() -> Iterator[bytes]:
        yield b"partial"
        raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        blobs.put(failing())
    assert blobs.usage().count == 2
    assert _files(tmp_path / "b" / ".tmp") == []
    assert blobs.read(kept.id) == b"kept"


def test_stale_temp_files_removed_at_open(tmp_path: Path) -> None:
    root = tmp_path / "b"
    blobs = BlobStore(root)
    ref = blobs.put(b"data")
    (root / ".tmp" / "0123.part").write_bytes(b"half")
    BlobStore(root)
    assert _files(root / ".tmp") == []
    assert blobs.read(ref.id) == b"data"


CHILD = textwrap.dedent(
    """
    import sys, time
    from squall.storage import BlobStore
    blobs = BlobStore(sys.argv[1])
    ref = blobs.put(b"complete")
    print(ref.id, flush=True)
    def endless():
        yield b"a" * 65536
        print("writing", flush=True)
        while True:
            time.sleep(0.01)
            yield b"b"
    blobs.put(endless())
    """
)


def test_kill_during_put_leaves_no_partial_blob(tmp_path: Path) -> None:
    root = tmp_path / "b"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert proc.stdout is not None
    complete_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert len(_files(root / ".tmp")) == 1  # the interrupted write
    blobs = BlobStore(root)
    assert _files(root / ".tmp") == []
    assert blobs.usage().count == 1
    assert blobs.read(complete_id) == b"complete"


def test_large_blob_written_in_pieces(tmp_path: Path) -> None:
    """Past 8 MiB a writer starts writeback as it goes; the blob is still exact."""
    blobs = BlobStore(tmp_path / "blobs")
    piece = os.urandom(1 << 20)
    writer = blobs.begin()
    for i in range(20):
        writer.write(piece[i:] + piece[:i])
    writer.commit()
    expected = hashlib.md5(b"".join(piece[i:] + piece[:i] for i in range(20))).hexdigest()
    assert writer.size == 20 << 20 and writer.md5_hex == expected
    assert hashlib.md5(blobs.read(writer.id)).hexdigest() == expected
    assert writer._written_back == 16 << 20
