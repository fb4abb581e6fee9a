"""What this host allows: isolation layers and Python interpreters.

Probed at start-up (`squall up` prints it) and by `squall doctor`. Each
namespace kind is tried for real in a short-lived forked child, so the
answer reflects this process's privileges, not just the kernel's config.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from squall.engine import scratch
from squall.engine.runtime import namespaces, rootfs, seccomp

# clone(2) flags for unshare(2)
NAMESPACE_FLAGS: dict[str, int] = {
    "user": 0x10000000,
    "mount": 0x00020000,
    "pid": 0x20000000,
    "ipc": 0x08000000,
    "uts": 0x04000000,
    "net": 0x40000000,
}

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("memory", "pids", "cpu", "freezer")


@dataclass(frozen=True)
class CgroupSupport:
    version: int | None  # 1, 2 or None (no usable hierarchy)
    controllers: tuple[str, ...]
    writable: bool


@dataclass(frozen=True)
class Isolation:
    namespaces: dict[str, bool]
    cgroups: CgroupSupport
    seccomp_kernel: bool
    seccomp_filter: bool  # our BPF program knows this architecture's syscall numbers
    bubblewrap: str | None
    rlimits: bool = True
    private_root: bool = False
    overlay: bool = False  # several layers stack at /opt by overlayfs (else a merged copy per layer set)
    root: bool = False  # the server runs as root

    @property
    def seccomp(self) -> bool:
        return self.seccomp_kernel and self.seccomp_filter

    def user_line(self) -> str:
        if not self.private_root:
            return "user: the server's own uid (no private root to drop privileges in)"
        how = "dropped from root" if self.root else f"mapped to uid {os.geteuid()}"
        if self.namespaces.get("user"):
            return f"user: uid 993 in a user namespace ({how}), no capabilities"
        return "user: uid 993 (dropped from root; no user namespace), no capabilities"

    def network_line(self, egress: bool = True) -> str:
        """Where EEs' network stands (``egress``: the setting; it needs ``nft`` as well)."""
        if not (self.root and self.namespaces.get("net")):
            why = "no network namespaces here" if self.root else "not root"
            return f"network: the host's, shared by every EE ({why}: a namespace per EE needs root)"
        line = (
            "network: a namespace per EE (Runtime API at 127.0.0.1:9001, Squall endpoint at localhost:<port>)"
        )
        if not egress:
            return line + "; egress off (loopback only)"
        if shutil.which("nft") is None:
            return line + "; egress off: nft not found (install Debian's nftables)"
        return line + "; egress on (veth + nftables masquerade; sets net.ipv4.ip_forward=1)"

    def summary(self, egress: bool = True) -> list[str]:
        ns = [name for name, ok in self.namespaces.items() if ok and (name != "net" or self.root)]
        cg = self.cgroups
        lines = [
            "namespaces: " + (", ".join(ns) if ns else "none"),
            "private root: "
            + (
                "yes (own root: code at /var/task, layers at /opt by "
                + ("overlayfs" if self.overlay else "merged copies")
                + ", read-only; an image /etc; private /tmp: "
                + ("its own disk filesystem)" if scratch.supported() else "tmpfs, counted as memory)")
                if self.private_root
                else "no (EEs see the host's filesystem)"
            ),
            self.user_line(),
            (
                f"cgroups: v{cg.version} ({', '.join(cg.controllers) or 'no controllers'})"
                f"{'' if cg.writable else ', read-only'}"
                if cg.version
                else "cgroups: unavailable (rlimits instead)"
            ),
            "seccomp: "
            + (
                "filter installed in every EE (EPERM for mount, ptrace, unshare, bpf, ...)"
                if self.seccomp
                else "unavailable"
                + ("" if self.seccomp_filter else " (no syscall table for this architecture)")
            ),
            self.network_line(egress),
            f"bubblewrap: {self.bubblewrap or 'not installed'}",
            "rlimits: yes",
        ]
        return lines


@dataclass(frozen=True)
class Interpreter:
    version: str  # "3.12"
    path: str  # a real binary, never a pyenv shim
    full_version: str = field(default="")


def probe_namespace(flag: int) -> bool:
    """Can a child of this process unshare this namespace kind?"""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 2
        try:
            code = 0 if libc.unshare(flag) == 0 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def probe_cgroups() -> CgroupSupport:
    if (_CGROUP_ROOT / "cgroup.controllers").is_file():
        controllers = tuple((_CGROUP_ROOT / "cgroup.controllers").read_text().split())
        return CgroupSupport(2, controllers, os.access(_CGROUP_ROOT, os.W_OK))
    present = tuple(c for c in _V1_CONTROLLERS if (_CGROUP_ROOT / c).is_dir())
    if present:
        writable = all(os.access(_CGROUP_ROOT / c, os.W_OK) for c in present)
        return CgroupSupport(1, present, writable)
    return CgroupSupport(None, (), False)


def probe_private_root() -> tuple[bool, bool]:
    """Can a child build a root of its own and switch into it (through a user namespace unless root)?
    And can it stack layers with a read-only overlayfs there? (private root, overlay)"""
    libc = ctypes.CDLL(None, use_errno=True)
    root = os.geteuid() == 0
    flags = NAMESPACE_FLAGS["mount"] | (0 if root else NAMESPACE_FLAGS["user"])
    uid, gid = os.geteuid(), os.getegid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            if libc.unshare(flags) == 0:
                if not root:
                    namespaces.map_ids(0, 0, uid, gid)
                rootfs.mount(None, "/", None, rootfs.MS_REC | rootfs.MS_PRIVATE)
                new = rootfs.STAGING
                rootfs.mount("tmpfs", new, "tmpfs", 0, "size=64k")
                rootfs.bind_readonly("/usr", _mkdir(new + "/usr"))
                overlay = True
                try:
                    lower = ":".join(_mkdir(f"{new}/{name}") for name in ("a", "b"))
                    rootfs.mount(
                        "overlay", _mkdir(new + "/o"), "overlay", rootfs.MS_RDONLY, f"lowerdir={lower}"
                    )
                except OSError:
                    overlay = False
                os.chdir(new)
                rootfs.mount(new, "/", None, rootfs.MS_MOVE)
                os.chroot(".")
                code = 0 if overlay else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code in (0, 2), code == 0


def _mkdir(path: str) -> str:
    os.mkdir(path)
    return path


def probe_seccomp() -> tuple[bool, bool]:
    kernel = Path("/proc/sys/kernel/seccomp/actions_avail").exists()
    return kernel, seccomp.supported()


def probe_isolation() -> Isolation:
    kernel, ours = probe_seccomp()
    root = os.geteuid() == 0
    user = NAMESPACE_FLAGS["user"]
    kinds = {
        # Unprivileged, the other namespaces can only be had together with a user namespace.
        name: probe_namespace(flag if root or name == "user" else flag | user)
        for name, flag in NAMESPACE_FLAGS.items()
    }
    private_root, overlay = probe_private_root() if kinds["mount"] else (False, False)
    return Isolation(
        namespaces=kinds,
        cgroups=probe_cgroups(),
        seccomp_kernel=kernel,
        seccomp_filter=ours,
        bubblewrap=shutil.which("bwrap"),
        private_root=private_root,
        overlay=overlay,
        root=root,
    )


_VERSION_RE = re.compile(r"^python(3\.\d+)$")


def discover_interpreters() -> list[Interpreter]:
    """Real CPython 3.x binaries on PATH and under pyenv, newest patch per minor version."""
    candidates: list[Path] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory and "shims" not in Path(directory).parts:
            candidates.extend(Path(directory).glob("python3.*"))
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates.extend(sorted((pyenv_root / "versions").glob("3.*/bin/python3.*")))
    found: dict[str, Interpreter] = {}
    for path in candidates:
        m = _VERSION_RE.match(path.name)
        if not m or not path.is_file() or not os.access(path, os.X_OK):
            continue
        real = path.resolve()
        if "shims" in real.parts:
            continue
        minor = m.group(1)
        full = _full_version(real)
        if full is None:
            continue
        known = found.get(minor)
        if known is None or _version_key(full) > _version_key(known.full_version):
            found[minor] = Interpreter(minor, str(real), full)
    return sorted(found.values(), key=lambda i: _version_key(i.version))


def _full_version(path: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(path), "-c", "import sys;print('.'.join(map(str, sys.version_info[:3])))"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())
