"""Linux namespaces for an execution environment, entered by the EE itself (in-sandbox code).

``enter(spec)`` unshares the namespaces named in ``spec["namespaces"]``:
ipc and uts (hostname set), mount (everything made private; the code
bind-mounted read-only at ``spec["task_root"]``; a private tmpfs on /tmp
sized by ``spec["tmp_mb"]``) and pid. A new pid namespace only applies to
children, so ``enter`` forks: the caller's process stays outside as a
waiter that mirrors the inner process's exit, and the inner process (pid 1
of the namespace, with a fresh /proc when the mount namespace is private)
returns to become the EE. When pid 1 dies the kernel kills everything left
in the namespace, so nothing the function started can outlive it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_FLAGS = {"ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "mount": CLONE_NEWNS, "pid": CLONE_NEWPID}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def enter(spec: dict[str, Any], close_outside: Callable[[], None]) -> None:
    """Enter the spec's namespaces; returns in the process that should become the EE."""
    kinds = set(spec.get("namespaces", ()))
    flags = 0
    for kind in kinds:
        flags |= _FLAGS[kind]
    if not flags:
        return
    _check(_libc.unshare(flags), "unshare")
    if "uts" in kinds:
        name = b"localhost"
        _check(_libc.sethostname(name, len(name)), "sethostname")
    if "mount" in kinds:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        task_root = spec["task_root"]
        _mount(spec["code_dir"], task_root, None, MS_BIND | MS_REC)
        _mount(None, task_root, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        _mount(
            "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(spec.get('tmp_mb', 512))}m,mode=1777"
        )
    if "pid" in kinds:
        pid = os.fork()
        if pid != 0:
            close_outside()
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        if "mount" in kinds:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
