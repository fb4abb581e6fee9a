"""Namespaces: pid 1 in its own pid namespace, code read-only at /var/task, a private /tmp per EE."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from squall.engine.environment import ExecutionEnvironment
from squall.engine.host import CgroupSupport, Isolation, probe_isolation
from squall.engine.runtime import seccomp
from squall.engine.sandbox import usable_namespaces
from squall.engine.zygote import Zygote

from .conftest import config, gone, run

PROBE = """
import os, socket, subprocess
def handler(event, context):
    if event.get("daemon"):
        return subprocess.Popen(["sleep", str(event["daemon"])], start_new_session=True).pid
    marker = "/tmp/marker"
    seen = open(marker).read() if os.path.exists(marker) else None
    with open(marker, "w") as f:
        f.write(event["id"])
    try:
        open("/var/task/new_file", "w").close()
        task_writable = True
    except OSError:
        task_writable = False
    return {
        "pid": os.getpid(),
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "host": socket.gethostname(),
        "cwd": os.getcwd(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "task_writable": task_writable,
        "tmp_seen": seen,
    }
"""


@pytest.fixture(scope="module")
def namespaces() -> frozenset[str]:
    kinds = usable_namespaces(probe_isolation())
    if not {"pid", "mount"} <= kinds:
        pytest.skip("pid and mount namespaces are not available here")
    return kinds


async def invoke(ee: ExecutionEnvironment, event: dict[str, object]) -> Any:
    if ee.pid is None:
        assert await ee.start(), ee.init_error
    result = await ee.invoke(json.dumps(event).encode(), time.time() + 3)
    assert result.ok, result.payload
    return json.loads(result.payload)


def test_sandbox_view(zygote: Zygote, write_function: Callable[..., str], namespaces: frozenset[str]) -> None:
    a = ExecutionEnvironment(config(write_function(PROBE)), zygote, None, namespaces)
    b = ExecutionEnvironment(config(write_function(PROBE)), zygote, None, namespaces)

    async def go() -> tuple[Any, Any, Any]:
        return await invoke(a, {"id": "a1"}), await invoke(a, {"id": "a2"}), await invoke(b, {"id": "b1"})

    first, again, other = run(go())
    a.destroy()
    b.destroy()
    assert first["pid"] == 1 and first["procs"] == [1]  # sees only itself
    assert first["host"] == "localhost"
    assert first["cwd"] == first["task_root"] == "/var/task"
    assert first["task_writable"] is False
    assert first["tmp_seen"] is None
    assert again["tmp_seen"] == "a1"  # /tmp persists across invocations of one warm EE
    assert other["tmp_seen"] is None  # and is private to it


def test_daemon_dies_with_the_ee_without_cgroups(
    zygote: Zygote, write_function: Callable[..., str], namespaces: frozenset[str]
) -> None:
    """pid 1 of the namespace dies -> the kernel kills the rest, even a daemon in its own session."""
    ee = ExecutionEnvironment(config(write_function(PROBE)), zygote, None, namespaces)
    # a duration no other test (or xdist worker) uses marks this test's daemon
    marker = f"{1000 + os.getpid() % 1000}.{time.monotonic_ns() % 997}"
    daemon = run(invoke(ee, {"daemon": marker}))
    assert ee.pid is not None
    ee.destroy()
    assert gone(ee.pid)

    def daemon_running() -> bool:
        return any(f"sleep\x00{marker}" in _cmdline(p) for p in os.listdir("/proc") if p.isdigit())

    deadline = time.monotonic() + 2  # the kernel kills the namespace's other processes asynchronously
    while daemon_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not daemon_running(), daemon


def test_namespaces_with_cgroups(
    zygote: Zygote,
    write_function: Callable[..., str],
    namespaces: frozenset[str],
    cgroups: CgroupSupport | None,
) -> None:
    if cgroups is None:
        pytest.skip("no writable cgroups")
    ee = ExecutionEnvironment(config(write_function(PROBE)), zygote, cgroups, namespaces)
    out = run(invoke(ee, {"id": "x"}))
    assert out["pid"] == 1
    cgroup = ee.cgroup
    # As root the zygote forks the EE straight into its pid namespace: pid 1 alone.
    # Unprivileged, the EE forks into it itself: an outside waiter and pid 1.
    assert cgroup is not None and len(cgroup.pids()) == (1 if os.geteuid() == 0 else 2)
    ee.destroy()
    assert cgroup.pids() == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_cannot_signal_outside_its_namespace(
    zygote: Zygote, write_function: Callable[..., str], namespaces: frozenset[str]
) -> None:
    code = write_function(
        """
        import os, signal
        def handler(event, context):
            outcomes = {"ppid": os.getppid()}
            for name, pid in (("zygote", event["zygote"]), ("server", event["server"])):
                try:
                    os.kill(pid, signal.SIGKILL)
                    outcomes[name] = "killed"
                except ProcessLookupError:
                    outcomes[name] = "invisible"
            return outcomes
        """
    )
    ee = ExecutionEnvironment(config(code), zygote, None, namespaces)

    async def go() -> Any:
        return await invoke(ee, {"zygote": zygote.process.pid, "server": os.getpid()})

    out = run(go())
    ee.destroy()
    assert out == {"ppid": 0, "zygote": "invisible", "server": "invisible"}
    assert zygote.alive()


HOSTILE = """
import ctypes, errno, os, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)

def errname(result):
    return "ok" if result == 0 else errno.errorcode[ctypes.get_errno()]

def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

def write(path):
    with open(path, "w") as f:
        f.write("x")

def handler(event, context):
    seen = {}
    for path in event["paths"]:
        seen[path] = attempt(lambda: os.listdir(path) if os.path.isdir(path) else open(path).read())
    box = []
    t = threading.Thread(target=lambda: box.append(1))
    t.start()
    t.join()
    return {
        "uid": [os.getuid(), os.geteuid(), os.getgid()],
        "root": sorted(os.listdir("/")),
        "old_root": os.listdir("/.old") if os.path.exists("/.old") else None,
        "seen": seen,
        "write_root": attempt(lambda: write("/evil")),
        "write_task": attempt(lambda: write("/var/task/evil")),
        "write_etc": attempt(lambda: write("/etc/evil")),
        "write_dev": attempt(lambda: write("/dev/evil")),
        "write_tmp": attempt(lambda: write("/tmp/fine")),
        "shadow": attempt(lambda: open("/etc/shadow").read()) if os.path.exists("/etc/shadow") else "EACCES",
        "mount": errname(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)),
        "unshare": errname(libc.unshare(0x00020000)),
        "ptrace": errname(libc.ptrace(0, 0, None, None)),
        "subprocess": subprocess.run(["/bin/echo", "hi"], capture_output=True).stdout.decode(),
        "thread": box,
    }
"""


def test_private_root_hides_the_host(
    zygote: Zygote, write_function: Callable[..., str], namespaces: frozenset[str], tmp_path: Path
) -> None:
    if "mount" not in namespaces:
        pytest.skip("no private root on this host")
    other = tmp_path / "other-function"
    other.mkdir()
    (other / "secret.py").write_text("KEY = 1\n")
    code = write_function(HOSTILE)
    ee = ExecutionEnvironment(config(code), zygote, None, namespaces, seccomp=True)
    paths = [
        str(other),
        str(other / "secret.py"),
        code,
        str(tmp_path),
        "/home",
        "/root",
        "/var/task",
        "/.old",
    ]
    out = run(invoke(ee, {"paths": paths}))
    ee.destroy()
    seen = out["seen"]
    assert seen[str(other)] == seen[str(other / "secret.py")] == "ENOENT"  # another function's code
    assert seen[code] == seen[str(tmp_path)] == "ENOENT"  # its own host path and the data dirs
    assert seen["/home"] == "ENOENT" and seen["/var/task"] == "ok"
    assert seen["/root"] in ("ok", "ENOENT")  # at most the interpreter's own path under it
    assert {"var", "tmp", "usr", "proc", "dev", "opt"} <= set(out["root"])
    assert "home" not in out["root"]
    assert seen["/.old"] == "ENOENT" and out["old_root"] is None  # the host's root is beneath ours
    assert out["write_tmp"] == "ok"
    for where in ("write_root", "write_task", "write_etc", "write_dev"):
        assert out[where] in ("EROFS", "EACCES"), (where, out[where])
    assert out["subprocess"] == "hi\n" and out["thread"] == [1]
    assert out["mount"] == out["unshare"] == out["ptrace"] == "EPERM"
    if "user" in namespaces or os.geteuid() == 0:
        assert out["uid"] == [993, 993, 990]
        assert out["shadow"] == "EACCES"


LAYERED = """
import os, shared, from_layer_one
def handler(event, context):
    return {
        "shared": shared.WHO,
        "one": from_layer_one.WHO,
        "opt": sorted(os.listdir("/opt")),
        "tool": os.access("/opt/bin/tool", os.X_OK),
        "path": os.environ["PATH"].split(":")[-1],
    }
"""


@pytest.mark.parametrize("overlay", [True, False], ids=["overlayfs", "merged-copy"])
def test_layers_stack_at_opt(
    zygote: Zygote,
    write_function: Callable[..., str],
    namespaces: frozenset[str],
    tmp_path: Path,
    overlay: bool,
) -> None:
    if overlay and not probe_isolation().overlay:
        pytest.skip("no overlayfs here")
    if "mount" not in namespaces:
        pytest.skip("no private root on this host")
    one, two = tmp_path / "layer1", tmp_path / "layer2"
    for layer, who in ((one, "one"), (two, "two")):
        (layer / "python").mkdir(parents=True)
        (layer / "python" / "shared.py").write_text(f"WHO = {who!r}\n")
    (one / "python" / "from_layer_one.py").write_text("WHO = 'one'\n")
    (one / "bin").mkdir()
    (one / "bin" / "tool").write_text("#!/bin/sh\n")
    (one / "bin" / "tool").chmod(0o755)
    cfg = config(write_function(LAYERED), layer_dirs=(str(one), str(two)))
    ee = ExecutionEnvironment(cfg, zygote, None, namespaces, seccomp=True, overlay=overlay)
    out = run(invoke(ee, {}))
    ee.destroy()
    assert out == {"shared": "two", "one": "one", "opt": ["bin", "python"], "tool": True, "path": "/opt/bin"}


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_seccomp_program_checks_the_architecture_first(machine: str) -> None:
    insns = seccomp.program(machine)
    arch, numbers = seccomp.ARCHES[machine]
    assert set(seccomp.BLOCKED) | {"clone", "clone3"} == set(numbers)
    assert insns[0] == (0x20, 0, 0, 4) and insns[1] == (0x15, 1, 0, arch)  # load arch, compare
    assert insns[2] == (0x06, 0, 0, seccomp.RET_KILL_PROCESS)
    jumps = [(i, jt, jf) for i, (code, jt, jf, _) in enumerate(insns) if code & 0x07 == 0x05]
    assert jumps and all(i + 1 + max(jt, jf) < len(insns) for i, jt, jf in jumps)
    assert insns[-1][0] == 0x06  # every path ends in a return


def test_seccomp_filter_in_a_child() -> None:
    if not probe_isolation().seccomp:
        pytest.skip("no seccomp here")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            seccomp.install()
            libc = ctypes.CDLL(None, use_errno=True)
            traced = libc.ptrace(0, 0, None, None) == -1 and ctypes.get_errno() == errno.EPERM
            os.write(w, json.dumps([traced, os.getpid() > 0]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = json.loads(f.read())
    os.waitpid(pid, 0)
    assert out == [True, True]


def test_summary_reports_the_layers_truthfully() -> None:
    none = CgroupSupport(None, (), False)
    bare = Isolation({"user": False, "mount": False}, none, False, True, None)
    lines = "\n".join(bare.summary())
    assert "private root: no" in lines and "user: the server's own uid" in lines
    assert "seccomp: unavailable" in lines
    full = Isolation({"user": True, "mount": True}, none, True, True, None, private_root=True, root=True)
    lines = "\n".join(full.summary())
    assert "private root: yes" in lines and "merged copies" in lines
    assert "uid 993 in a user namespace (dropped from root)" in lines
    assert "seccomp: filter installed" in lines
    assert usable_namespaces(full) == {"mount", "user"} and usable_namespaces(bare) == frozenset()
