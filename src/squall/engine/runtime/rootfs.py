"""A private root filesystem for an execution environment (in-sandbox code, standard library only).

Inside the EE's own mount namespace, ``build(spec)`` makes a tmpfs the new
root and fills it with read-only bind mounts of what a runtime needs: the
system directories (``/usr``, ``/lib*``, ``/bin``, ``/sbin``), the image
``/etc`` (``spec["etc_dir"]``, see ``engine/image_etc.py``; the host's only
when none is given), the
interpreter's prefixes and every ``sys.path`` directory at the same paths (so
modules the zygote imported, and those imported lazily later, keep working),
the function's code at ``/var/task``, its layers at ``/opt`` (one bind mount,
or a read-only overlayfs when there are several: later layers win, as when
AWS extracts them in order into /opt), a private tmpfs ``/tmp`` sized by
EphemeralStorage and a minimal ``/dev``. It then moves that tmpfs onto ``/``
and chroots into it (as ``switch_root`` does), so the host's mounts are
beneath the EE's root and unreachable from it: the kernel leaves them out of
``/proc/self/mounts`` (it lists only mounts reachable from the reader's root)
and no path leads to them; the EE has no capability to chroot again.
Unmounting the old root instead (pivot_root + umount) waits for an RCU grace
period, milliseconds on a busy host. ``seal()`` (run by pid 1 of the EE's pid
namespace after it mounted a fresh ``/proc``) makes ``/`` read-only. What was
not mounted — the data directory, other functions' code, the host's /etc,
/tmp, /root and /home — does not exist for the EE.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
_ST_KEEP = MS_NOSUID | MS_NODEV | MS_NOEXEC | 1024 | 2048 | 4096  # + noatime, nodiratime, relatime

_SYS_MOUNT_SETATTR = 442
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 1
_MOUNT_ATTR_NOSUID = 2

SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
STAGING = "/tmp"  # where the new root is assembled (in this mount namespace only)

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def bind_readonly(source: str, target: str) -> None:
    """Bind ``source`` at ``target`` (recursively) and make the whole subtree read-only and nosuid."""
    mount(source, target, None, MS_BIND | MS_REC)
    attr = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, 0, 0)
    done = _libc.syscall(
        _SYS_MOUNT_SETATTR,
        ctypes.c_int(_AT_FDCWD),
        target.encode(),
        ctypes.c_uint(_AT_RECURSIVE),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if done != 0:  # before Linux 5.12: the top mount only, keeping the flags a user namespace locks
        kept = os.statvfs(source).f_flag & _ST_KEEP
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | kept)


_remembered: tuple[int, list[str]] | None = None  # (len(sys.modules), paths) when last computed


def runtime_paths() -> list[str]:
    """Directories the running interpreter needs, outside the system dirs: its prefixes, and the
    sys.path entries it has imported from (the SDK, this runtime); not every path a .pth file added.

    A realpath per loaded module costs milliseconds with boto3 loaded: the answer is remembered
    while no module is added, so the zygote computes it once and every EE it forks inherits it.
    """
    global _remembered
    if _remembered is not None and _remembered[0] == len(sys.modules):
        return list(_remembered[1])
    count = len(sys.modules)
    paths = _runtime_paths()
    _remembered = (count, paths)
    return list(paths)


def _runtime_paths() -> list[str]:
    loaded = [
        os.path.realpath(f) for f in (getattr(m, "__file__", None) for m in list(sys.modules.values())) if f
    ]
    found: list[str] = []
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    candidates.append(os.path.dirname(os.path.realpath(sys.executable)))
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and any(_under(f, real) for f in loaded):
            candidates.append(real)
    for path in candidates:
        if not path or not os.path.isdir(path):
            continue
        real = os.path.realpath(path)
        if real == "/" or any(_under(real, top) for top in SYSTEM_DIRS):
            continue
        found.append(real)
    found.sort(key=len)
    kept: list[str] = []
    for path in found:
        if not any(_under(path, k) for k in kept):
            kept.append(path)
    return kept


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _dir(root: str, path: str) -> str:
    target = root + path
    os.makedirs(target, mode=0o755, exist_ok=True)
    return target


def _mount_layers(root: str, layers: list[str]) -> None:
    target = _dir(root, "/opt")
    if len(layers) == 1:
        bind_readonly(layers[0], target)
    elif layers:
        lower = ":".join(reversed(layers))  # overlayfs: the leftmost lower directory is on top
        mount("overlay", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, f"lowerdir={lower}")


def _mount_dev(root: str) -> None:
    dev = _dir(root, "/dev")
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in DEV_NODES:
        source = "/dev/" + name
        if not os.path.exists(source):
            continue
        node = f"{dev}/{name}"
        os.close(os.open(node, os.O_CREAT | os.O_WRONLY, 0o666))
        mount(source, node, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"{dev}/{name}")
    os.symlink("/proc/self/fd/1", f"{dev}/stdout")
    os.symlink("/proc/self/fd/2", f"{dev}/stderr")
    mount(None, dev, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)


def build(spec: dict[str, Any]) -> None:
    """Assemble the private root, move it onto / and chroot into it (the host's mounts stay beneath)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Hold every source by an O_PATH descriptor first: the staging tmpfs may cover some of them.
    etc = spec.get("etc_dir")
    binds = [
        (top, top)
        for top in SYSTEM_DIRS
        if os.path.isdir(top) and not os.path.islink(top) and not (etc and top == "/etc")
    ]
    if etc:
        binds.append((etc, "/etc"))
    binds += [(path, path) for path in runtime_paths()]
    binds.append((spec["code_dir"], spec["task_root"]))
    layers = list(spec.get("layer_dirs", ()))
    tmp = spec.get("tmp_dir")
    tmp_fd = os.open(tmp, os.O_PATH | os.O_DIRECTORY) if tmp else None
    fds = [os.open(src, os.O_PATH | os.O_DIRECTORY) for src in [b[0] for b in binds] + layers]
    pinned = [f"/proc/self/fd/{fd}" for fd in fds]
    try:
        root = STAGING
        mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        for top in SYSTEM_DIRS:
            if os.path.islink(top):
                os.symlink(os.readlink(top), root + top)
        for i, (_, dest) in enumerate(binds):
            bind_readonly(pinned[i], _dir(root, dest))
        _mount_layers(root, pinned[len(binds) :])
        if tmp_fd is not None:  # its own disk-backed filesystem (engine/scratch.py), writable
            # A bind keeps the source mount's nosuid/nodev; no remount (it would take the
            # filesystem's s_umount lock for writing, which writeback may hold).
            mount(f"/proc/self/fd/{tmp_fd}", _dir(root, "/tmp"), None, MS_BIND)
        else:
            size = f"size={int(spec['tmp_mb'])}m,mode=1777"
            mount("tmpfs", _dir(root, "/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, size)
    finally:
        for fd in fds:
            os.close(fd)
        if tmp_fd is not None:
            os.close(tmp_fd)
    _mount_dev(root)
    _dir(root, "/proc")
    os.chmod(root + "/tmp", 0o1777)
    os.chdir(root)
    mount(root, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def seal() -> None:
    """Make the new root read-only (after /proc is mounted)."""
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def mount_proc() -> None:
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
