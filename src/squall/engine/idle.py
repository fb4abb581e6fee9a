"""What happens to idle execution environments: lazy freezing and keep-alive expiry.

`Parking.park(ee)` records an EE returned to its pool. Freezing is lazy: the
EE stays READY (running, not frozen) for `grace_s` (default 30 ms) and is
frozen when that grace ends without an invocation taking it; one taken within
the grace is used as it is. A steady stream of invocations therefore never pays
the freeze/thaw (a cgroup-freezer write each way), while every EE idle for
longer than the grace is frozen, as on Lambda: a daemon or thread left behind
by an invocation runs for at most the grace after the invocation's answer, then
is stopped until the next invocation (or killed when the EE is destroyed).
`grace_s=0` freezes at once. One timer serves every parked EE (the earliest
due), not one per EE. `clear()` drops what is scheduled (the manager stopping).

`Reaper` (a `lib.tasks.Background`, run by the pool manager) destroys
on-demand EEs idle for longer than `keep_alive_s`, checking every quarter of it
(between 50 ms and 30 s); provisioned EEs are never reaped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable

from squall.engine.ee import Environment
from squall.engine.ee_base import EnvState
from squall.engine.version_pool import Idle, Pool
from squall.lib.tasks import Started

KEEP_ALIVE_S = 600.0
FREEZE_GRACE_S = 0.03  # an idle EE is frozen after this long unused


class Parking:
    def __init__(self, grace_s: float = FREEZE_GRACE_S) -> None:
        self.grace_s = grace_s
        # Lazy freezes, oldest first: one timer for the earliest instead of one per parked EE.
        self._to_freeze: deque[Idle] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def park(self, ee: Environment) -> Idle:
        """An idle READY EE: frozen now without a grace, else after it unless taken first."""
        idle = Idle(ee, time.monotonic())
        if self.grace_s <= 0:
            ee.freeze()
            return idle
        self._to_freeze.append(idle)
        loop = asyncio.get_running_loop()
        if self._timer is None or self._loop is not loop:  # (a test may change loops)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_later(self.grace_s, self._freeze_due)
            self._loop = loop
        return idle

    def _freeze_due(self) -> None:
        """Freeze every parked EE whose grace is over and that nobody took; re-arm for the next one."""
        self._timer = None
        queue = self._to_freeze
        cutoff = time.monotonic() - self.grace_s
        while queue:
            idle = queue[0]
            if not idle.taken and idle.since > cutoff:
                break
            queue.popleft()
            if not idle.taken and idle.ee.state is EnvState.READY:
                idle.ee.freeze()
        if queue:
            delay = max(queue[0].since - cutoff, 0.001)
            self._timer = asyncio.get_running_loop().call_later(delay, self._freeze_due)

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._to_freeze.clear()


class Reaper:
    def __init__(self, pools: Callable[[], Iterable[Pool]], keep_alive_s: float = KEEP_ALIVE_S) -> None:
        self._pools = pools
        self.keep_alive_s = keep_alive_s

    def reap(self, now: float | None = None) -> int:
        """Destroy EEs idle for longer than the keep-alive; how many were destroyed."""
        cutoff = (now if now is not None else time.monotonic()) - self.keep_alive_s
        return sum(pool.expire(cutoff) for pool in self._pools())

    async def run(self, started: Started) -> None:
        started()
        while True:
            await asyncio.sleep(min(max(self.keep_alive_s / 4, 0.05), 30.0))
            self.reap()
