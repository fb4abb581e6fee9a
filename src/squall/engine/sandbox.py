"""Resource limits for one execution environment: cgroups (v1 or v2) when writable, else rlimits.

The server owns a cgroup's life: it creates it and writes the limits before the
spawn, the EE joins it itself (writes its pid to each ``cgroup.procs`` listed
in its spec) before Init, and ``kill_all`` + ``remove`` end it. The files
touched per invocation (the freezer state, the memory high-water mark) are
opened once and kept open until ``remove``: each access is then a single
pread/pwrite at offset 0 (cgroupfs regenerates the value on every read
from 0). Without
cgroups the EE gets RLIMIT_AS/RLIMIT_NPROC and is killed by process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from squall.engine.host import CgroupSupport, Isolation

MB = 1024 * 1024
ONE_VCPU_MB = 1769


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 128
    pids: int = 1024
    # Headroom above MemorySize for the interpreter's own footprint under RLIMIT_AS,
    # which counts virtual address space, not resident memory.
    rlimit_as_overhead_mb: int = 256


class Cgroup:
    """One EE's cgroup across the controllers we use (v1: one directory per controller)."""

    def __init__(self, support: CgroupSupport, name: str, root: Path = Path("/sys/fs/cgroup")) -> None:
        self.version = support.version
        self.dirs: dict[str, Path]
        if support.version == 1:
            self.dirs = {
                c: root / c / "squall" / name
                for c in ("memory", "pids", "freezer", "cpu")
                if c in support.controllers
            }
        else:
            self.dirs = {"unified": root / "squall" / name}
        self._fds: dict[tuple[str, str], int] = {}
        self.made = False  # its directories exist (made ahead of time by ``SpareCgroups``, or by create)

    def make_dirs(self) -> None:
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        self.made = True

    def _fd(self, controller: str, name: str, flags: int) -> int:
        fd = self._fds.get((controller, name))
        if fd is None:
            fd = self._fds[(controller, name)] = os.open(self.dirs[controller] / name, flags | os.O_CLOEXEC)
        return fd

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def create(self, limits: Limits) -> None:
        if not self.made:
            self.make_dirs()
        mem = limits.memory_mb * MB
        if self.version == 1:
            self._write("memory", "memory.limit_in_bytes", str(mem))
            with contextlib.suppress(OSError):  # absent without swap accounting
                self._write("memory", "memory.memsw.limit_in_bytes", str(mem))
            self._write("pids", "pids.max", str(limits.pids))
            shares = max(2, limits.memory_mb * 1024 // ONE_VCPU_MB)
            self._write("cpu", "cpu.shares", str(shares))
        else:
            parent = self.dirs["unified"].parent
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            self._write("unified", "memory.max", str(mem))
            with contextlib.suppress(OSError):
                self._write("unified", "memory.swap.max", "0")
            self._write("unified", "pids.max", str(limits.pids))
            with contextlib.suppress(OSError):
                self._write("unified", "cpu.weight", str(max(1, limits.memory_mb * 100 // ONE_VCPU_MB)))

    def _write(self, controller: str, name: str, value: str) -> None:
        d = self.dirs.get(controller)
        if d is not None:
            (d / name).write_text(value)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for f in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in Path(f).read_text().split())
        return sorted(found)

    def oom_killed(self) -> bool:
        try:
            if self.version == 1:
                text = (self.dirs["memory"] / "memory.oom_control").read_text()
            else:
                text = (self.dirs["unified"] / "memory.events").read_text()
        except (OSError, KeyError):
            return False
        fields = dict(line.split() for line in text.splitlines() if line.count(" ") == 1)
        return int(fields.get("oom_kill", "0")) > 0

    def max_memory_bytes(self) -> int | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        controller = "memory" if self.version == 1 else "unified"
        if controller not in self.dirs:
            return None
        try:
            return int(os.pread(self._fd(controller, name, os.O_RDONLY), 64, 0))
        except (OSError, ValueError):
            return None

    def set_frozen(self, frozen: bool) -> None:
        if self.version == 1:
            if "freezer" in self.dirs:
                fd = self._fd("freezer", "freezer.state", os.O_WRONLY)
                os.pwrite(fd, b"FROZEN" if frozen else b"THAWED", 0)
        else:
            os.pwrite(self._fd("unified", "cgroup.freeze", os.O_WRONLY), b"1" if frozen else b"0", 0)

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup, freezing first so a fork bomb cannot outrun us."""
        with contextlib.suppress(OSError):
            self.set_frozen(True)
        end = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                self.set_frozen(False)
            if time.monotonic() > end:
                raise TimeoutError(f"processes left in cgroup: {pids}")
            time.sleep(0.001)

    def remove(self, wait: bool = True) -> bool:
        """Remove the directories; True once gone. An emptied cgroup can stay busy for a moment:
        with ``wait`` retry for up to a second, else try once (``SpareCgroups.discard`` retries later)."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        for _ in range(200 if wait else 1):
            leftover = False
            for d in self.dirs.values():
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    leftover = True
            if not leftover:
                return True
            if wait:
                time.sleep(0.005)
        return False


def rlimits_for(limits: Limits, with_cgroup: bool) -> dict[str, int]:
    """The rlimits an EE sets on itself; address space and process count only without cgroups."""
    out = {"RLIMIT_CORE": 0}
    if not with_cgroup:
        out["RLIMIT_AS"] = (limits.memory_mb + limits.rlimit_as_overhead_mb) * MB
        out["RLIMIT_NPROC"] = limits.pids
    return out


TASK_ROOT = "/var/task"
SANDBOX_UID = 993  # Lambda's sbx_user1051
SANDBOX_GID = 990
CHEAP_NAMESPACES = ("ipc", "uts", "mount", "pid")


def usable_namespaces(isolation: Isolation) -> frozenset[str]:
    """The namespaces EEs enter on this host: those the probe allows; mount only with a private root.

    "user" is listed when user namespaces work: an unprivileged server needs
    one for the others (it is created first and owns them); a root server
    enters one after dropping to the sandbox uid (see runtime/namespaces.py).
    """
    kinds = {k for k in CHEAP_NAMESPACES if isolation.namespaces.get(k)}
    if not isolation.private_root:
        kinds.discard("mount")
    if isolation.namespaces.get("user") and (isolation.root or kinds):
        kinds.add("user")
    return frozenset(kinds)
