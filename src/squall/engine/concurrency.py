"""Concurrency leases: the account pool, reserved concurrency and the per-function scaling rate.

One ``Limiter`` serves every (account, region). An invocation holds a lease
while it runs::

    async with limiter.lease(LeaseRequest(account, region, function)) as lease:
        ...  # lease.cold_start() before starting a new execution environment

Taking a lease never waits: beyond a limit it raises ``Throttled`` at once,
as Lambda throttles a synchronous call instead of queueing it. The rules,
per (account, region):

- A function with reserved concurrency R runs at most R invocations at once
  (R = 0 throttles every call), and those R are guaranteed: they are taken out
  of the account pool whether in use or not.
- Functions without a reservation share the rest: the account limit minus the
  sum of all reservations.
- Each new execution environment (a cold start, not a warm reuse) takes a token
  from the function's scaling bucket: ``scaling_rate`` tokens per
  ``scaling_window_s`` seconds, refilled continuously, holding at most
  ``scaling_rate``. Provisioned environments are started ahead of time and
  take none.

Invocations served by provisioned environments are leases like any other:
they count against the function's reservation and the account pool.
The lease is released when the ``async with`` block exits, on every path
(return, exception, cancellation); ``release`` is idempotent.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

ACCOUNT_CONCURRENCY = 1000
SCALING_RATE = 1000  # new execution environments per function per window
SCALING_WINDOW_S = 10.0


class ThrottleReason(enum.StrEnum):
    """The `Reason` of Lambda's TooManyRequestsException (botocore's `ThrottleReason`)."""

    CONCURRENT_INVOCATION_LIMIT = "ConcurrentInvocationLimitExceeded"
    FUNCTION_INVOCATION_RATE_LIMIT = "FunctionInvocationRateLimitExceeded"
    RESERVED_CONCURRENT_INVOCATION_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
    RESERVED_INVOCATION_RATE_LIMIT = "ReservedFunctionInvocationRateLimitExceeded"


class Throttled(Exception):
    """A limit refused the invocation; ``retry_after_s`` is set when a wait is known to help."""

    def __init__(self, reason: ThrottleReason, retry_after_s: float | None = None) -> None:
        super().__init__(f"throttled: {reason.value}")
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LeaseRequest:
    account: str
    region: str
    function: str


class TokenBucket:
    """``capacity`` tokens at most, refilled at ``rate`` per second, continuously."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self) -> float | None:
        """Take one token; None if taken, else the seconds until one is available."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self.rate if self.rate > 0 else float("inf")

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens


@dataclass
class _Scope:
    """One (account, region): reservations and what is running now."""

    reserved: dict[str, int] = field(default_factory=dict)
    reserved_sum: int = 0
    running: dict[str, int] = field(default_factory=dict)
    unreserved_running: int = 0


class Lease:
    def __init__(self, limiter: Limiter, request: LeaseRequest, reserved: bool) -> None:
        self._limiter = limiter
        self.request = request
        self.reserved = reserved
        self.cold_starts = 0
        self._held = False

    def cold_start(self) -> None:
        """Account for one new execution environment; raises ``Throttled`` past the scaling rate."""
        self._limiter._scale(self)
        self.cold_starts += 1

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limiter._release(self)

    def hold(self) -> Lease:
        """Take the lease now (what ``async with`` does); raises ``Throttled`` beyond a limit."""
        self._limiter._acquire(self)
        self._held = True
        return self

    async def __aenter__(self) -> Lease:
        return self.hold()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Limiter:
    def __init__(
        self,
        account_limit: int = ACCOUNT_CONCURRENCY,
        *,
        scaling_rate: int = SCALING_RATE,
        scaling_window_s: float = SCALING_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account_limit = account_limit
        self.scaling_rate = scaling_rate
        self.scaling_window_s = scaling_window_s
        self._clock = clock
        self._scopes: dict[tuple[str, str], _Scope] = {}
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}

    def _scope(self, account: str, region: str) -> _Scope:
        scope = self._scopes.get((account, region))
        if scope is None:
            scope = self._scopes[(account, region)] = _Scope()
        return scope

    # -- reservations (the service keeps these in step with its store) ----------------------

    def set_reserved(self, account: str, region: str, function: str, reserved: int | None) -> None:
        """Set (or with None clear) a function's reserved concurrency; running leases keep their kind."""
        scope = self._scope(account, region)
        old = scope.reserved.pop(function, None)
        if old is not None:
            scope.reserved_sum -= old
        if reserved is not None:
            scope.reserved[function] = reserved
            scope.reserved_sum += reserved

    def reserved(self, account: str, region: str, function: str) -> int | None:
        return self._scope(account, region).reserved.get(function)

    def unreserved_limit(self, account: str, region: str) -> int:
        return max(0, self.account_limit - self._scope(account, region).reserved_sum)

    def running(self, account: str, region: str, function: str | None = None) -> int:
        """Invocations running now: of one function, or of the whole (account, region)."""
        scope = self._scope(account, region)
        if function is not None:
            return scope.running.get(function, 0)
        return sum(scope.running.values())

    # -- leases -----------------------------------------------------------------------------

    def lease(self, request: LeaseRequest) -> Lease:
        """A lease to take with ``async with``; entering it raises ``Throttled`` beyond a limit."""
        scope = self._scope(request.account, request.region)
        return Lease(self, request, request.function in scope.reserved)

    def _acquire(self, lease: Lease) -> None:
        req = lease.request
        scope = self._scope(req.account, req.region)
        limit = scope.reserved.get(req.function)
        lease.reserved = limit is not None
        running = scope.running.get(req.function, 0)
        if limit is not None:
            if running >= limit:
                raise Throttled(ThrottleReason.RESERVED_CONCURRENT_INVOCATION_LIMIT)
        else:
            if scope.unreserved_running >= self.account_limit - scope.reserved_sum:
                raise Throttled(ThrottleReason.CONCURRENT_INVOCATION_LIMIT)
            scope.unreserved_running += 1
        scope.running[req.function] = running + 1

    def _release(self, lease: Lease) -> None:
        req = lease.request
        scope = self._scope(req.account, req.region)
        left = scope.running.get(req.function, 0) - 1
        if left > 0:
            scope.running[req.function] = left
        else:
            scope.running.pop(req.function, None)
        if not lease.reserved:
            scope.unreserved_running -= 1

    def _scale(self, lease: Lease) -> None:
        req = lease.request
        key = (req.account, req.region, req.function)
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = self.scaling_rate / self.scaling_window_s
            bucket = self._buckets[key] = TokenBucket(self.scaling_rate, rate, self._clock)
        wait = bucket.take()
        if wait is not None:
            reason = (
                ThrottleReason.RESERVED_INVOCATION_RATE_LIMIT
                if lease.reserved
                else ThrottleReason.FUNCTION_INVOCATION_RATE_LIMIT
            )
            raise Throttled(reason, wait)

    def forget(self, account: str, region: str, function: str) -> None:
        """A deleted function: drop its reservation and scaling bucket (running leases still release)."""
        self.set_reserved(account, region, function, None)
        self._buckets.pop((account, region, function), None)
