from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from squall.storage import DataDir, DataDirInUse

SRC = str(Path(__file__).resolve().parents[2] / "src")

HOLDER = textwrap.dedent(
    """
    import sys, time
    from squall.storage import DataDir
    d = DataDir.open(sys.argv[1])
    d.write_server_info({"endpoint": "http://localhost:4566", "pid": 1})
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_layout_and_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with DataDir.open(root) as d:
        assert d.path == root
        for sub in ("", "db", "blobs", "tmp"):
            assert _mode(root / sub) == 0o700
        assert _mode(root / "squall.lock") == 0o600
        assert (root / "squall.lock").read_text().strip() == str(os.getpid())
        with d.store.write() as w:
            w.put("ns", b"k", b"v")
        ref = d.blobs.put(b"blob")
        (d.tmp / "scratch").mkdir()
        (d.tmp / "scratch" / "f").write_bytes(b"x")
        (d.tmp / "loose").write_bytes(b"x")
        usage = d.usage()
        assert usage["blob_count"] == 1 and usage["blob_bytes"] == 4
        assert usage["db_bytes"] > 0 and usage["path"] == str(root)
    with DataDir.open(root) as d:
        with d.store.read() as r:
            assert r.get("ns", b"k") == b"v"
        assert d.blobs.read(ref.id) == b"blob"
        assert list(d.tmp.iterdir()) == []


def test_second_open_in_same_process_is_refused(tmp_path: Path) -> None:
    d = DataDir.open(tmp_path)
    try:
        with pytest.raises(DataDirInUse) as info:
            DataDir.open(tmp_path)
        assert info.value.pid == os.getpid()
        assert str(info.value) == (
            f"data directory {tmp_path} is already in use by another Squall server (pid {os.getpid()})"
        )
    finally:
        d.close()
    d.close()  # idempotent
    DataDir.open(tmp_path).close()  # free again


def test_lock_across_processes_and_after_sigkill(tmp_path: Path) -> None:
    root = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(
            DataDirInUse, match=rf"already in use by another Squall server \(pid {proc.pid}\)"
        ):
            DataDir.open(root)
        # status reads server.json without the lock
        assert DataDir.read_server_info(root) == {"endpoint": "http://localhost:4566", "pid": 1}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with DataDir.open(root) as d:
        assert (root / "squall.lock").read_text().strip() == str(os.getpid())
        assert d.store is not None


def test_server_info(tmp_path: Path) -> None:
    assert DataDir.read_server_info(tmp_path / "nowhere") is None
    with DataDir.open(tmp_path) as d:
        info = {"endpoint": "http://127.0.0.1:4566", "pid": os.getpid(), "started_at": 1.5, "version": "0.1"}
        d.write_server_info(info)
        assert DataDir.read_server_info(tmp_path) == info
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert DataDir.read_server_info(tmp_path) is None  # removed on clean close
    (tmp_path / "server.json").write_text("{not json")
    assert DataDir.read_server_info(tmp_path) is None
    (tmp_path / "server.json").write_text("[1, 2]")
    assert DataDir.read_server_info(tmp_path) is None


def test_failed_open_releases_lock(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "squall.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(Exception, match="not a database"):
        DataDir.open(tmp_path)
    (tmp_path / "db" / "squall.db").unlink()
    DataDir.open(tmp_path).close()
