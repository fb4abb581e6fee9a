"""Cgroups made ahead of time, and removal retried off the event loop: no mkdir/rmdir on a cold start's path.

Creating a cgroup directory takes the kernel's global cgroup lock; on a busy
host (other EEs starting and ending, other cgroup users) that mkdir is the
tail of a cold start (p50 0.1 ms, p99 above 10 ms measured on cgroup v1).
``SpareCgroups`` keeps a few empty cgroups ready, refilled by a background
thread: ``take(name)`` hands one out (its directories exist, no limits set
yet; ``Cgroup.create`` then only writes the limits) or, when none is ready,
a fresh ``Cgroup`` that ``create`` makes as before. Spares are named
``spare-<server pid>-<n>``, not after the EE, and are removed at exit
(``close``, also registered with ``atexit``); those of a server that was
killed are removed by the next one (no process of that pid left), and so
are its EEs' cgroups (``ee-<server pid>-<id>``), their processes killed.

``discard(cgroup)`` removes an emptied cgroup: at once when the kernel
allows it, else the background thread retries (up to a minute), so
``destroy`` never sleeps on the event loop waiting for a busy cgroup.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import time

from squall.engine.host import CgroupSupport
from squall.engine.sandbox import Cgroup
from squall.lib.refill import Refilling
from squall.lib.singletons import PerProcess

SPARES = 4  # cgroups kept ready
RETRY_S = 0.01  # between attempts to remove a busy cgroup
GIVE_UP_S = 60.0


class SpareCgroups(Refilling):
    def __init__(self, support: CgroupSupport, spares: int = SPARES) -> None:
        self._support = support
        self._spares = spares
        self._ready: collections.deque[Cgroup] = collections.deque()
        self._doomed: list[tuple[float, Cgroup]] = []  # (given up after, cgroup) still to remove
        self._names = itertools.count()
        super().__init__("squall-cgroups")

    def take(self, name: str) -> Cgroup:
        """A cgroup for one EE: a spare (directories made) if one is ready, else a new one named ``name``."""
        try:
            found = self._ready.popleft()
        except IndexError:
            found = Cgroup(self._support, name)
        self._poke()
        return found

    def discard(self, cgroup: Cgroup) -> None:
        """Remove an emptied cgroup now if possible, else in the background."""
        if cgroup.remove(wait=False):
            return
        with self._wake:
            self._doomed.append((time.monotonic() + GIVE_UP_S, cgroup))
        self._poke()

    def close(self) -> None:
        self._stop_thread()
        while self._ready:
            self._ready.popleft().remove(wait=False)
        for _, cgroup in self._doomed:
            cgroup.remove(wait=True)
        self._doomed.clear()

    def warm(self) -> None:
        """Start the background thread now: it first sweeps the cgroups of killed servers."""
        self._poke()

    def _sweep_stale(self) -> None:
        """Clear the cgroups of servers that died without ``close`` (killed; their pid is gone):
        spares, and EEs (``ee-<server pid>-<id>``) whose processes may still sit frozen — a
        frozen process cannot act on the SIGKILL its parent's death sent, so thaw and kill them."""
        probe = Cgroup(self._support, "probe")
        parents = {d.parent for d in probe.dirs.values()}
        names: set[str] = set()
        for parent in parents:
            with contextlib.suppress(OSError):
                names.update(n for n in os.listdir(parent) if n.startswith(("spare-", "ee-")))
        for name in names:
            owner = name.split("-")[1]
            if owner.isdigit() and int(owner) != os.getpid() and not os.path.exists(f"/proc/{owner}"):
                stale = Cgroup(self._support, name)
                with contextlib.suppress(OSError, TimeoutError):
                    stale.kill_all(timeout=1.0)
                stale.remove(wait=False)

    def _run(self) -> None:
        with contextlib.suppress(OSError, IndexError):
            self._sweep_stale()
        while True:
            with self._wake:
                if self._closed:
                    return
                idle = len(self._ready) >= self._spares and not self._doomed
                if idle:
                    self._wake.wait()
                    continue
            self._retry_doomed()
            if len(self._ready) < self._spares:
                cgroup = Cgroup(self._support, f"spare-{os.getpid()}-{next(self._names)}")
                try:
                    cgroup.make_dirs()
                except OSError:
                    cgroup.remove(wait=False)
                    time.sleep(1.0)  # e.g. out of cgroups: no busy loop
                    continue
                self._ready.append(cgroup)
            elif self._doomed:
                time.sleep(RETRY_S)

    def _retry_doomed(self) -> None:
        with self._wake:
            doomed, self._doomed = self._doomed, []
        now = time.monotonic()
        left = [(until, cg) for until, cg in doomed if not cg.remove(wait=False) and until > now]
        if left:
            with self._wake:
                self._doomed.extend(left)


_instances: PerProcess[CgroupSupport, SpareCgroups] = PerProcess(SpareCgroups)


def spares_for(support: CgroupSupport) -> SpareCgroups:
    """The process-wide spares of one cgroup hierarchy."""
    return _instances.get(support)
