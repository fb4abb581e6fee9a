"""Disk-backed /tmp for execution environments: EphemeralStorage, not memory.

A tmpfs /tmp is charged to the memory cgroup of whoever writes it (and cannot
be reclaimed without swap), so a 128 MB function with 1 GB of
EphemeralStorage died writing 200 MB. Each EE gets its own small ext4
filesystem instead, sized to its EphemeralStorage: a sparse image file on the
host's disk, attached to a loop device (direct I/O: no second copy in the page
cache) and mounted on the host under ``root/<server pid>/`` (root-only), which
the EE binds at /tmp. Its page cache is reclaimable, so /tmp no longer counts
against MemorySize; a full /tmp gives the function ENOSPC, and the image never
grows past its size.

Making one (mkfs, loop, mount: ~70 ms) is never on a cold start's path when
avoidable: ``ScratchPool`` keeps ``SPARES`` ready per size in use (the default
512 MB from the start), made by a background thread, and reuses them: once the
EE that had one is gone (its pid namespace's init reaped, so no process of it
can still write there), the filesystem is emptied and goes back to the spares.
Without a pid namespace it is destroyed instead (unmounted, the image deleted).

The host's disk is protected: a new image is only made while the disk keeps,
after every image present grew to its full size, ``RESERVE_FRACTION`` of its
capacity free; otherwise ``take`` returns None and the EE falls back to a
tmpfs /tmp (charged to its memory, as before). Images of a server that was
killed are unmounted and removed by the next one.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from squall.engine.runtime import rootfs
from squall.lib.refill import Refilling
from squall.lib.singletons import PerProcess

log = logging.getLogger("squall.engine.scratch")

SPARES = 6  # per size in use
DEFAULT_MB = 512
RESERVE_FRACTION = 0.05
REAP_WAIT_S = 60.0  # how long a used filesystem waits for its EE to be gone before it is destroyed
MKFS = ("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard")
_MNT_DETACH = 2


class ScratchUnavailable(Exception):
    """No filesystem can be made (no loop devices, no tools, or the host's disk is short)."""


@dataclass
class Scratch:
    size_mb: int
    image: Path
    mount: Path  # where the host has it mounted; the EE binds this at /tmp


def supported() -> bool:
    return (
        os.geteuid() == 0
        and os.path.exists("/dev/loop-control")
        and shutil.which("losetup") is not None
        and shutil.which(MKFS[0]) is not None
    )


class ScratchPool(Refilling):
    def __init__(self, root: Path, spares: int = SPARES) -> None:
        self.root = root
        self._dir = root / str(os.getpid())
        self._spares = spares
        self._ready: dict[int, collections.deque[Scratch]] = collections.defaultdict(collections.deque)
        self._sizes: set[int] = {DEFAULT_MB}
        self._used: list[tuple[float, Scratch, int | None]] = []  # (give up after, scratch, EE pid)
        self._live: set[Path] = set()  # images made and not yet destroyed
        self._names = itertools.count()
        super().__init__("squall-scratch")

    # -- the event loop's side ---------------------------------------------------------------

    def take(self, size_mb: int) -> Scratch | None:
        """A ready filesystem of ``size_mb``, or None (spares of that size are made from now on)."""
        with self._wake:
            ready = self._ready[size_mb]
            found = ready.popleft() if ready else None
            self._sizes.add(size_mb)
        self._poke()
        return found

    def make(self, size_mb: int) -> Scratch:
        """A new filesystem now (blocking: call it off the event loop). Raises ScratchUnavailable."""
        return self._make(size_mb)

    def give_back(self, scratch: Scratch, ee_pid: int | None) -> None:
        """The EE that had ``scratch`` is being destroyed: empty and reuse it once the process
        ``ee_pid`` (its pid namespace's init) is gone; destroy it when there is no such pid."""
        with self._wake:
            self._used.append((time.monotonic() + REAP_WAIT_S, scratch, ee_pid))
        self._poke()

    def warm(self) -> None:
        self._poke()

    def close(self) -> None:
        self._stop_thread()
        for path in list(self._live):
            self._destroy_image(path)
        with contextlib.suppress(OSError):
            self._dir.rmdir()

    # -- the background thread ---------------------------------------------------------------

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            self._sweep_stale()
        failed_at: dict[int, float] = {}
        while True:
            self._recycle()  # first: reusing one is much cheaper than making one
            with self._wake:
                if self._closed:
                    return
                now = time.monotonic()
                coming = collections.Counter(s.size_mb for _, s, _ in self._used)
                short = [
                    s
                    for s in sorted(self._sizes)
                    if len(self._ready[s]) + coming[s] < self._spares and now - failed_at.get(s, -1e9) > 5.0
                ]
                if not short and not self._used:
                    self._wake.wait()
                    continue
            if short:
                size = short[0]
                try:
                    scratch = self._make(size)
                except ScratchUnavailable as exc:
                    log.warning("no disk-backed /tmp of %d MB: %s", size, exc)
                    failed_at[size] = time.monotonic()
                    continue
                with self._wake:
                    self._ready[size].append(scratch)
            elif self._used:
                time.sleep(0.005)  # until their EEs are gone

    def _recycle(self) -> None:
        with self._wake:
            used, self._used = self._used, []
        waiting = []
        now = time.monotonic()
        for until, scratch, pid in used:
            if pid is not None and os.path.exists(f"/proc/{pid}"):
                if until > now:
                    waiting.append((until, scratch, pid))
                else:
                    self._destroy_image(scratch.image)
                continue
            if pid is None or not self._empty(scratch):
                self._destroy_image(scratch.image)
                continue
            with self._wake:
                # spares were made while this one was in use: keep some extra rather than churn
                full = len(self._ready[scratch.size_mb]) >= 2 * self._spares
                if not full:
                    self._ready[scratch.size_mb].append(scratch)
            if full:
                self._destroy_image(scratch.image)
        if waiting:
            with self._wake:
                self._used.extend(waiting)

    @staticmethod
    def _empty(scratch: Scratch) -> bool:
        """Remove everything the last EE left (never following its symlinks); True when clean."""
        try:
            with os.scandir(scratch.mount) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)
            st = os.stat(scratch.mount)
            if (st.st_uid, st.st_gid) != (0, 0):  # (the EE's uid cannot change these: never, in practice)
                os.chown(scratch.mount, 0, 0)
            if st.st_mode & 0o7777 != 0o1777:
                os.chmod(scratch.mount, 0o1777)
            return not os.listdir(scratch.mount)
        except OSError:
            return False

    # -- making and destroying ---------------------------------------------------------------

    def _make(self, size_mb: int) -> Scratch:
        self._check_space(size_mb)
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        n = next(self._names)
        image, mount = self._dir / f"{n}.img", self._dir / f"{n}.mnt"
        try:
            with open(image, "wb") as f:
                f.truncate(size_mb * 1024 * 1024)
            self._live.add(image)
            _run(*MKFS, str(image))
            device = _run("losetup", "--direct-io=on", "-f", "--show", str(image)).strip()
            try:
                mount.mkdir(mode=0o700)
                rootfs.mount(device, str(mount), "ext4", rootfs.MS_NOSUID | rootfs.MS_NODEV)
            finally:
                _run("losetup", "-d", device)  # detached once unmounted (autoclear)
            with contextlib.suppress(OSError):
                os.rmdir(mount / "lost+found")
            os.chmod(mount, 0o1777)
        except (OSError, subprocess.SubprocessError) as exc:
            self._destroy_image(image)
            raise ScratchUnavailable(str(exc)) from exc
        return Scratch(size_mb, image, mount)

    def _check_space(self, size_mb: int) -> None:
        """Refuse an image the disk could not hold with every other image full, and a reserve left."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = os.statvfs(self.root)
        capacity, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        growth = 0
        for image in list(self._live):
            with contextlib.suppress(OSError):
                info = image.stat()
                growth += max(info.st_size - info.st_blocks * 512, 0)
        if free - growth - size_mb * 1024 * 1024 < capacity * RESERVE_FRACTION:
            raise ScratchUnavailable(f"the disk under {self.root} is too full for another {size_mb} MB /tmp")

    def _destroy_image(self, image: Path) -> None:
        mount = image.with_suffix(".mnt")
        _unmount(mount)
        with contextlib.suppress(OSError):
            mount.rmdir()
        with contextlib.suppress(OSError):
            image.unlink()
        self._live.discard(image)

    def _sweep_stale(self) -> None:
        """Unmount and remove the images of servers that died without ``close``."""
        if not self.root.is_dir():
            return
        for entry in os.scandir(self.root):
            if (
                not entry.name.isdigit()
                or int(entry.name) == os.getpid()
                or os.path.exists(f"/proc/{entry.name}")
            ):
                continue
            for item in os.scandir(entry.path):
                if item.name.endswith(".mnt"):
                    _unmount(Path(item.path))
            shutil.rmtree(entry.path, ignore_errors=True)


def _unmount(mount: Path) -> None:
    libc = rootfs._libc
    with contextlib.suppress(OSError):
        if os.path.ismount(mount):
            rootfs.check(libc.umount2(str(mount).encode(), _MNT_DETACH), f"umount {mount}")


def _run(*args: str) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0:
        raise subprocess.SubprocessError(f"{args[0]}: {out.stderr.strip() or out.returncode}")
    return out.stdout


_instances: PerProcess[Path, ScratchPool] = PerProcess(ScratchPool)


def pool_for(root: Path) -> ScratchPool:
    """The process-wide pool under ``root``."""
    return _instances.get(root)
