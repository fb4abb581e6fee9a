"""Spare cgroups: made ahead by a background thread, handed out, removed on discard and on close."""

from __future__ import annotations

import os
import time

import pytest

from squall.engine.host import CgroupSupport
from squall.engine.sandbox import Cgroup, Limits
from squall.engine.spare_cgroups import SpareCgroups


def test_spares_are_made_ahead_and_cleaned_up(cgroups: CgroupSupport | None) -> None:
    if cgroups is None:
        pytest.skip("no writable cgroups")
    spares = SpareCgroups(cgroups, spares=2)
    try:
        first = spares.take("ee-first")  # none ready yet: a fresh one, made by create
        assert not first.made
        deadline = time.monotonic() + 10
        while len(spares._ready) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(spares._ready) == 2
        ready = list(spares._ready)
        assert all(cg.made and all(d.is_dir() for d in cg.dirs.values()) for cg in ready)
        second = spares.take("ee-second")
        assert second is ready[0] and second.made
        second.create(Limits(memory_mb=256))
        if "memory" in second.dirs:
            assert (second.dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(256 << 20)
        spares.discard(second)
        assert all(not d.exists() for d in second.dirs.values())
    finally:
        spares.close()
    assert all(not d.exists() for cg in ready for d in cg.dirs.values())  # spares removed on close
    assert not spares._ready
    assert not os.path.exists(first.dirs[next(iter(first.dirs))])


def test_spares_of_a_killed_server_are_removed(cgroups: CgroupSupport | None) -> None:
    if cgroups is None:
        pytest.skip("no writable cgroups")
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = Cgroup(cgroups, f"spare-{gone.pid}-0")
    stale.make_dirs()
    spares = SpareCgroups(cgroups, spares=1)
    try:
        spares.take("ee")
        deadline = time.monotonic() + 10
        while any(d.exists() for d in stale.dirs.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not any(d.exists() for d in stale.dirs.values())
    finally:
        spares.close()
        stale.remove(wait=False)
