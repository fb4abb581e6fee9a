"""The pool of disk-backed /tmp filesystems (engine/scratch.py): sizes, ENOSPC, reuse, the host's disk."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.engine import scratch
from squall.engine.runtime import rootfs

pytestmark = pytest.mark.skipif(not scratch.supported(), reason="no loop devices / mkfs.ext4, or not root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 400 MB filesystem standing for the host's disk."""
    where = tmp_path / "disk"
    where.mkdir()
    rootfs.mount("tmpfs", str(where), "tmpfs", 0, "size=400m")
    try:
        yield where
    finally:
        os.system(f"umount -l {where}")


def test_a_filesystem_of_the_size_asked_for_then_enospc(small_disk: Path) -> None:
    pool = scratch.ScratchPool(small_disk / "scratch")
    try:
        s = pool.make(64)
        st = os.statvfs(s.mount)
        assert 56 <= st.f_blocks * st.f_frsize // 2**20 <= 64
        assert os.listdir(s.mount) == [] and oct(os.stat(s.mount).st_mode & 0o7777) == "0o1777"
        with pytest.raises(OSError) as full, open(s.mount / "fill", "wb") as f:
            for _ in range(80):
                f.write(b"x" * 2**20)
                f.flush()
                os.fsync(f.fileno())
        assert full.value.errno == errno.ENOSPC
        assert os.statvfs(small_disk).f_bavail > 0  # the disk under it did not fill
    finally:
        pool.close()


def test_the_host_disk_keeps_its_reserve(small_disk: Path) -> None:
    """Images are sparse: one is only made while the disk could hold every image full."""
    pool = scratch.ScratchPool(small_disk / "scratch")
    try:
        pool.make(200)
        with pytest.raises(scratch.ScratchUnavailable):
            pool.make(200)  # 400 MB of images on a 400 MB disk: no reserve left
    finally:
        pool.close()
    assert subprocess.run(["losetup", "-j", str(small_disk)], capture_output=True, text=True).stdout == ""


def test_reused_only_once_emptied_and_the_ee_gone(small_disk: Path, tmp_path: Path) -> None:
    pool = scratch.ScratchPool(small_disk / "scratch", spares=1)
    try:
        s = pool.make(32)
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "keep").write_text("host file")
        (s.mount / "dir").mkdir()
        (s.mount / "dir" / "f").write_text("secret")
        os.symlink(outside, s.mount / "link")  # a symlink out: not followed when emptying
        sleeper = subprocess.Popen(["sleep", "30"])
        pool.give_back(s, sleeper.pid)
        time.sleep(0.2)
        assert s not in pool._ready[32] and (s.mount / "dir" / "f").exists()  # its EE still runs
        sleeper.kill()
        sleeper.wait()
        deadline = time.monotonic() + 10
        while s not in pool._ready[32]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert os.listdir(s.mount) == [] and oct(os.stat(s.mount).st_mode & 0o7777) == "0o1777"
        assert (outside / "keep").read_text() == "host file"
        assert pool.take(32) is s
    finally:
        pool.close()
