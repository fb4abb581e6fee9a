"""What the hostile tests look at from outside: the server's process tree, as root."""

from __future__ import annotations

from pathlib import Path


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = parent(int(entry.name))
            except (OSError, ValueError):
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        found += kids
        todo += kids
    return found


def runs_bootstrap(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.endswith(b"runtime/bootstrap.py") for arg in cmdline)


def zygotes(server_pid: int) -> list[int]:
    """Live processes running the bootstrap whose parent does not (EEs are the zygotes' forks)."""
    out = []
    for pid in descendants(server_pid):
        try:
            if runs_bootstrap(pid) and not runs_bootstrap(parent(pid)) and not zombie(pid):
                out.append(pid)
        except OSError:
            continue
    return out


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True  # gone altogether
