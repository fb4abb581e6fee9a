"""A seccomp filter for an execution environment (in-sandbox code, standard library only).

``install()`` loads a classic-BPF program with ``prctl(PR_SET_SECCOMP)``
(built here with ctypes: no libseccomp binding is needed in the function's
interpreter). It is installed after the sandbox is set up and before the
handler's Init, is inherited by every process the function starts and cannot
be removed. The program:

- kills the process for any other system call ABI than the one it was built
  for (checked through ``seccomp_data.arch``; on x86_64 also the x32 ABI), so
  a 32-bit ``int 0x80`` cannot dodge the syscall numbers below;
- answers EPERM to the calls a function has no business with (``BLOCKED``:
  mounts, pivot_root, ptrace, kernel modules and kexec, reboot, swap, bpf,
  perf events, keyrings, setns/unshare, open_by_handle_at, userfaultfd,
  cross-process memory access, acct, quotas, setting the clock);
- answers EPERM to ``clone`` with any namespace flag, and ENOSYS to
  ``clone3`` (whose flags live in memory a filter cannot read), which makes
  the C library fall back to ``clone``;
- allows everything else.
"""

from __future__ import annotations

import ctypes
import errno
import platform
from typing import TYPE_CHECKING

# Names in the order both tables list them.
BLOCKED = (
    "mount", "umount2", "pivot_root", "ptrace", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "bpf", "perf_event_open", "keyctl",
    "add_key", "request_key", "setns", "unshare", "open_by_handle_at", "userfaultfd", "process_vm_readv",
    "process_vm_writev", "acct", "quotactl", "quotactl_fd", "settimeofday", "clock_settime", "open_tree",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
)  # fmt: skip

# (AUDIT_ARCH_*, syscall numbers by name) for the architectures we run on.
_X86_64 = (
    0xC000003E,
    dict(
        mount=165, umount2=166, pivot_root=155, ptrace=101, kexec_load=246, kexec_file_load=320,
        init_module=175, finit_module=313, delete_module=176, reboot=169, swapon=167, swapoff=168,
        bpf=321, perf_event_open=298, keyctl=250, add_key=248, request_key=249, setns=308, unshare=272,
        open_by_handle_at=304, userfaultfd=323, process_vm_readv=310, process_vm_writev=311, acct=163,
        quotactl=179, quotactl_fd=443, settimeofday=164, clock_settime=227, open_tree=428,
        move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
        clone=56, clone3=435,
    ),
)  # fmt: skip
_AARCH64 = (
    0xC00000B7,
    dict(
        mount=40, umount2=39, pivot_root=41, ptrace=117, kexec_load=104, kexec_file_load=294,
        init_module=105, finit_module=273, delete_module=106, reboot=142, swapon=224, swapoff=225,
        bpf=280, perf_event_open=241, keyctl=219, add_key=217, request_key=218, setns=268, unshare=97,
        open_by_handle_at=265, userfaultfd=282, process_vm_readv=270, process_vm_writev=271, acct=89,
        quotactl=60, quotactl_fd=443, settimeofday=170, clock_settime=112, open_tree=428,
        move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
        clone=220, clone3=435,
    ),
)  # fmt: skip
ARCHES = {"x86_64": _X86_64, "aarch64": _AARCH64}

CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
X32_SYSCALL_BIT = 0x40000000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # offsets in struct seccomp_data (args[0]'s low word, little endian)

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _Insn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


if TYPE_CHECKING:  # (run by interpreters from 3.9 on: no runtime `X | Y` here)
    Insn = tuple[int, int | str, int | str, int]  # code, jump-if-true, jump-if-false (offset or label), k


def program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter for ``machine`` (default: this one) as (code, jt, jf, k) instructions."""
    arch, numbers = ARCHES[machine or platform.machine()]
    eperm, enosys = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
    code: list[Insn | str] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, arch),
        (_RET_K, 0, 0, RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if arch == _X86_64[0]:
        code.append((_JGE_K, "kill", 0, X32_SYSCALL_BIT))
    code += [(_JEQ_K, "deny", 0, numbers[name]) for name in BLOCKED]
    code += [
        (_JEQ_K, "clone", 0, numbers["clone"]),
        (_JEQ_K, "nosys", 0, numbers["clone3"]),
        (_RET_K, 0, 0, RET_ALLOW),
        "clone",
        (_LD_W_ABS, 0, 0, _OFF_ARG0),
        (_JSET_K, "deny", 0, CLONE_NAMESPACES),
        (_RET_K, 0, 0, RET_ALLOW),
        "deny",
        (_RET_K, 0, 0, eperm),
        "nosys",
        (_RET_K, 0, 0, enosys),
        "kill",
        (_RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    return _resolve(code)


def _resolve(code: list[Insn | str]) -> list[tuple[int, int, int, int]]:
    labels: dict[str, int] = {}
    insns: list[Insn] = []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)

    def offset(at: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - at - 1
        if not 0 <= jump <= 255:
            raise ValueError(f"jump to {target} out of range")
        return jump

    return [(c, offset(i, jt), offset(i, jf), k) for i, (c, jt, jf, k) in enumerate(insns)]


def supported() -> bool:
    return platform.machine() in ARCHES


def install() -> None:
    """Load the filter into this process (and so into everything it starts). Sets no_new_privs."""
    insns = program()
    array = (_Insn * len(insns))(*(_Insn(c, jt, jf, k) for c, jt, jf, k in insns))
    prog = _Prog(len(insns), ctypes.cast(array, ctypes.POINTER(_Insn)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    for args in (
        (PR_SET_NO_NEW_PRIVS, 1, None, 0, 0),
        (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0),
    ):
        if libc.prctl(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp: {errno.errorcode.get(err, err)}")
