"""The per-version pool: the warm execution environments of one (function, version).

Contract: a `Pool` holds idle on-demand EEs (`idle`, most recently returned
last) and idle provisioned EEs (`provisioned`), counts the busy ones, and
carries a `generation` token — the service changes it whenever the
configuration, code or credentials behind the version change. An EE is only
ever returned to the pool of the generation it was started for: `take()` hands
out the newest idle EE that is still usable (READY or FROZEN), destroying dead
ones it meets; `retire_idle()` destroys every idle EE (a new generation, a
deleted function, the manager stopping) — busy ones are destroyed when they
return, as their generation no longer matches.

An `Idle` entry records when its EE was parked (for keep-alive expiry) and
whether it was taken back (so a lazy freeze scheduled for it no longer applies).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from squall.engine.ee import Environment
from squall.engine.ee_base import EnvState
from squall.engine.spec import FunctionConfig

_USABLE = (EnvState.READY, EnvState.FROZEN)


@dataclass
class Idle:
    ee: Environment
    since: float
    taken: bool = False  # taken back from its pool: its lazy freeze no longer applies

    def take(self) -> Environment:
        self.taken = True
        return self.ee


@dataclass
class Pool:
    generation: Hashable = None
    idle: list[Idle] = field(default_factory=list)
    busy: int = 0
    provisioned: list[Idle] = field(default_factory=list)  # idle provisioned EEs
    provisioned_busy: int = 0
    provisioned_target: int = 0
    provisioned_config: FunctionConfig | None = None

    def take(self) -> Environment | None:
        """The newest usable idle on-demand EE, or None."""
        idle = self.idle
        while idle:
            ee = idle.pop().take()
            if ee.state in _USABLE:
                return ee
            ee.destroy()
        return None

    def take_provisioned(self) -> Environment | None:
        """The newest usable idle provisioned EE, or None."""
        while self.provisioned:
            ee = self.provisioned.pop().take()
            if ee.state in _USABLE:
                return ee
            ee.destroy()
        return None

    def provisioned_alive(self) -> int:
        """Provisioned EEs alive now (idle or busy)."""
        return len(self.provisioned) + self.provisioned_busy

    def retire_idle(self) -> None:
        """Destroy every idle EE, on-demand and provisioned."""
        for idle in (*self.idle, *self.provisioned):
            idle.take().destroy()
        self.idle.clear()
        self.provisioned.clear()

    def drop_orphans(self) -> int:
        """Destroy the idle EEs (on-demand and provisioned) whose zygote is gone; how many."""
        gone = 0
        for entries in (self.idle, self.provisioned):
            keep = []
            for idle in entries:
                if idle.ee.orphaned():
                    idle.take().destroy()
                    gone += 1
                else:
                    keep.append(idle)
            entries[:] = keep
        return gone

    def expire(self, cutoff: float) -> int:
        """Destroy the idle on-demand EEs parked before `cutoff`; how many."""
        keep = [i for i in self.idle if i.since >= cutoff]
        gone = 0
        for idle in self.idle:
            if idle.since < cutoff:
                idle.take().destroy()
                gone += 1
        self.idle = keep
        return gone
