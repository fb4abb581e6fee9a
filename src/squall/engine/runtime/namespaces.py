"""Linux namespaces and credentials for an execution environment, entered by the EE itself (in-sandbox code).

``enter(spec)`` unshares the namespaces named in ``spec["namespaces"]`` and
ends with the EE unprivileged. Two ways, chosen by the process's own euid:

- as root (the server runs as root): ipc/uts/mount/pid are unshared with
  the host's credentials; the private root is built (``rootfs``); then the
  EE drops to ``spec["uid"]``/``spec["gid"]`` (Lambda's sbx_user1051 is
  993:990), which clears every capability, and, when "user" is listed,
  enters a user namespace mapping that uid to itself;
- as an ordinary user: the user namespace is created first, in the same
  unshare as the others (so it owns them), mapping ``spec["uid"]`` inside to
  the invoking uid outside; it grants the capabilities the mounts need.

Either way (with a private root; without one the credentials are left
alone, as the EE needs the host's paths) the EE ends with no capabilities (``capset``) and
``no_new_privs`` set, so nothing it runs can regain them.

A new pid namespace only applies to children. A root zygote makes it for
the EE it is about to fork (``PidNamespaceForChild``: unshare before the
fork, back to its own after), so the EE is born as pid 1 of its namespace.
Otherwise (an unprivileged server) ``enter`` forks: the caller's process
stays outside as a waiter that mirrors the inner process's exit, and the
inner process (pid 1) returns to become the EE. Either way the EE is pid 1
of its namespace with a fresh /proc, and when it dies the kernel kills
everything left in the namespace, so nothing the function started can
outlive it.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.engine.runtime import rootfs
else:  # loaded by bootstrap.py from the file next to this one
    rootfs = sys.modules.get("_squall_runtime_rootfs") or importlib.import_module(
        "squall.engine.runtime.rootfs"
    )

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
_CAP_VERSION_3 = 0x20080522

_FLAGS = {"ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "mount": CLONE_NEWNS, "pid": CLONE_NEWPID}

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def die_with_parent(parent: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent dies, so that a server killed with -9
    (its zygotes then exit on their closed control socket) leaves no execution environment running.
    The kernel forgets this on a credential change: call it again after one. With ``parent``, exit
    at once if the parent is already gone."""
    zero = ctypes.c_ulong(0)
    rootfs.check(
        _libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), zero, zero, zero), "prctl(PDEATHSIG)"
    )
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def join_network(fd: int) -> None:
    """Move into the network namespace ``fd`` holds (the server made it: see engine/netns.py) and
    close ``fd``. Needs CAP_SYS_ADMIN, so it comes before ``enter`` drops privileges."""
    try:
        rootfs.check(_libc.setns(fd, CLONE_NEWNET), "setns(net)")
    finally:
        os.close(fd)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def map_ids(inside_uid: int, inside_gid: int, outside_uid: int, outside_gid: int) -> None:
    """Map one uid and gid into the user namespace this process just created (no privilege needed)."""
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{inside_uid} {outside_uid} 1\n")
    _write("/proc/self/gid_map", f"{inside_gid} {outside_gid} 1\n")


def drop_privileges() -> None:
    """No capabilities left in any set, and none to be gained by exec (setuid bits, file capabilities)."""
    data = (_CapData * 2)()
    rootfs.check(_libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), data), "capset")
    zero = ctypes.c_ulong(0)
    rootfs.check(_libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero), "prctl(NO_NEW_PRIVS)")


def _become_user(uid: int, gid: int, userns: bool) -> None:
    """As root: become uid:gid (the kernel clears every capability), then optionally a user namespace."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # A credential change makes the process non-dumpable, which leaves /proc/self owned by root.
    one, zero = ctypes.c_ulong(1), ctypes.c_ulong(0)
    rootfs.check(_libc.prctl(PR_SET_DUMPABLE, one, zero, zero, zero), "prctl(DUMPABLE)")
    if userns:
        rootfs.check(_libc.unshare(CLONE_NEWUSER), "unshare(user)")
        map_ids(uid, gid, uid, gid)


def enter(spec: dict[str, Any], close_outside: Callable[[], None]) -> None:
    """Enter the spec's namespaces; returns in the process that should become the EE."""
    kinds = set(spec.get("namespaces", ()))
    uid, gid = int(spec.get("uid", 993)), int(spec.get("gid", 990))
    privileged = os.geteuid() == 0
    flags = 0
    for kind in kinds & _FLAGS.keys():
        flags |= _FLAGS[kind]
    if os.getpid() == 1:  # born in its pid namespace (see PidNamespaceForChild)
        flags &= ~CLONE_NEWPID
    user_first = "user" in kinds and not privileged
    if user_first:
        flags |= CLONE_NEWUSER
        outside_uid, outside_gid = os.geteuid(), os.getegid()
    if flags:
        rootfs.check(_libc.unshare(flags), "unshare")
    if user_first:
        map_ids(uid, gid, outside_uid, outside_gid)
    if "pid" in kinds and os.getpid() != 1:  # pid 1 already: the zygote made the namespace
        # Fork as early as possible: every page the waiter touches before the fork and the EE
        # touches again after it ends up copied twice (the waiter keeps its own copy).
        pid = os.fork()
        if pid != 0:
            close_outside()
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        die_with_parent()  # the waiter outside; its death takes the whole pid namespace down
    if "uts" in kinds:
        name = b"localhost"
        rootfs.check(_libc.sethostname(name, len(name)), "sethostname")
    private_root = "mount" in kinds
    if private_root:
        rootfs.build(spec)
        if "pid" in kinds:
            rootfs.mount_proc()
    if private_root:
        rootfs.seal()
        if privileged:
            _become_user(uid, gid, "user" in kinds)
        drop_privileges()
    die_with_parent()  # again: changing credentials (uid, user namespace) cleared it


class PidNamespaceForChild:
    """In the zygote, as root: the next child forked is pid 1 of a new pid namespace.

    ``before_fork()`` unshares CLONE_NEWPID (it changes only where children go);
    ``after_fork()`` puts the zygote's own namespace back for later children.
    Returns False (and nothing changed) where that is not allowed: the EE then
    forks itself into the namespace (see ``enter``).
    """

    def __init__(self) -> None:
        self._own: int | None = None
        if os.geteuid() == 0:
            try:
                self._own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._own = None

    def before_fork(self) -> bool:
        return self._own is not None and _libc.unshare(CLONE_NEWPID) == 0

    def after_fork(self) -> None:
        assert self._own is not None
        rootfs.check(_libc.setns(self._own, CLONE_NEWPID), "setns(pid)")
