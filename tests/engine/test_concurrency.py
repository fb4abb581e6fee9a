"""The concurrency limiter: account pool, reserved cap and guarantee, scaling bucket, release on every path."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from squall.engine.concurrency import (
    LeaseRequest,
    Limiter,
    Throttled,
    ThrottleReason,
    TokenBucket,
)

A, R = "000000000000", "us-east-1"


def req(fn: str, account: str = A, region: str = R) -> LeaseRequest:
    return LeaseRequest(account, region, fn)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def hold(limiter: Limiter, fn: str, n: int, stack: contextlib.AsyncExitStack) -> None:
    for _ in range(n):
        await stack.enter_async_context(limiter.lease(req(fn)))


async def throttled(limiter: Limiter, fn: str) -> ThrottleReason:
    with pytest.raises(Throttled) as info:
        async with limiter.lease(req(fn)):
            pass
    return info.value.reason


def test_account_pool_throttles_beyond_the_limit_and_frees_on_release() -> None:
    async def main() -> None:
        limiter = Limiter(5)
        async with contextlib.AsyncExitStack() as stack:
            await hold(limiter, "a", 3, stack)
            await hold(limiter, "b", 2, stack)
            assert limiter.running(A, R) == 5
            assert await throttled(limiter, "c") is ThrottleReason.CONCURRENT_INVOCATION_LIMIT
            # another region and another account have their own pools
            async with limiter.lease(req("c", region="eu-west-1")):
                pass
            async with limiter.lease(req("c", account="111111111111")):
                pass
        assert limiter.running(A, R) == 0
        async with limiter.lease(req("c")):
            assert limiter.running(A, R, "c") == 1

    asyncio.run(main())


def test_reserved_is_a_cap_and_a_guarantee() -> None:
    async def main() -> None:
        limiter = Limiter(10)
        limiter.set_reserved(A, R, "res", 4)
        assert limiter.unreserved_limit(A, R) == 6
        async with contextlib.AsyncExitStack() as stack:
            await hold(limiter, "res", 4, stack)
            assert await throttled(limiter, "res") is ThrottleReason.RESERVED_CONCURRENT_INVOCATION_LIMIT
            await hold(limiter, "other", 6, stack)
            assert await throttled(limiter, "other") is ThrottleReason.CONCURRENT_INVOCATION_LIMIT
        async with contextlib.AsyncExitStack() as stack:
            # unreserved functions cannot eat into the reservation, even while it is unused
            await hold(limiter, "other", 6, stack)
            assert await throttled(limiter, "x") is ThrottleReason.CONCURRENT_INVOCATION_LIMIT
            await hold(limiter, "res", 4, stack)
        limiter.set_reserved(A, R, "res", None)
        assert limiter.unreserved_limit(A, R) == 10

    asyncio.run(main())


def test_reserved_zero_throttles_everything() -> None:
    async def main() -> None:
        limiter = Limiter()
        limiter.set_reserved(A, R, "off", 0)
        assert await throttled(limiter, "off") is ThrottleReason.RESERVED_CONCURRENT_INVOCATION_LIMIT
        assert limiter.running(A, R) == 0

    asyncio.run(main())


def test_changing_a_reservation_while_leases_run_keeps_the_books_straight() -> None:
    async def main() -> None:
        limiter = Limiter(3)
        async with contextlib.AsyncExitStack() as stack:
            await hold(limiter, "f", 2, stack)  # taken from the shared pool
            limiter.set_reserved(A, R, "f", 1)
            assert await throttled(limiter, "f") is ThrottleReason.RESERVED_CONCURRENT_INVOCATION_LIMIT
        limiter.set_reserved(A, R, "f", None)
        async with contextlib.AsyncExitStack() as stack:
            await hold(limiter, "g", 3, stack)
            assert await throttled(limiter, "g") is ThrottleReason.CONCURRENT_INVOCATION_LIMIT

    asyncio.run(main())


def test_token_bucket_refills_continuously_up_to_capacity() -> None:
    clock = Clock()
    bucket = TokenBucket(3, 0.5, clock)
    assert [bucket.take() for _ in range(3)] == [None, None, None]
    assert bucket.take() == pytest.approx(2.0)
    clock.now += 1.0
    assert bucket.take() == pytest.approx(1.0)  # half a token so far
    clock.now += 1.0
    assert bucket.take() is None
    clock.now += 1000.0
    assert bucket.tokens == pytest.approx(3.0)


def test_scaling_rate_limits_cold_starts_not_warm_reuse() -> None:
    async def main() -> None:
        clock = Clock()
        limiter = Limiter(100, scaling_rate=10, scaling_window_s=10.0, clock=clock)
        for _ in range(10):
            async with limiter.lease(req("f")) as lease:
                lease.cold_start()
        # warm reuse takes no token
        for _ in range(50):
            async with limiter.lease(req("f")):
                pass
        with pytest.raises(Throttled) as info:
            async with limiter.lease(req("f")) as lease:
                lease.cold_start()
        assert info.value.reason is ThrottleReason.FUNCTION_INVOCATION_RATE_LIMIT
        assert info.value.retry_after_s == pytest.approx(1.0)
        assert limiter.running(A, R) == 0  # the throttled lease was released
        # another function has its own bucket
        async with limiter.lease(req("g")) as lease:
            lease.cold_start()
        clock.now += 1.0  # one token back (1 per second)
        async with limiter.lease(req("f")) as lease:
            lease.cold_start()
        limiter.set_reserved(A, R, "f", 5)
        with pytest.raises(Throttled) as info:
            async with limiter.lease(req("f")) as lease:
                lease.cold_start()
        assert info.value.reason is ThrottleReason.RESERVED_INVOCATION_RATE_LIMIT

    asyncio.run(main())


def test_lease_released_on_exception_and_cancellation() -> None:
    async def main() -> None:
        limiter = Limiter(1)
        with pytest.raises(RuntimeError):
            async with limiter.lease(req("f")):
                raise RuntimeError("boom")
        assert limiter.running(A, R) == 0

        started = asyncio.Event()

        async def slow() -> None:
            async with limiter.lease(req("f")):
                started.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(slow())
        await started.wait()
        assert limiter.running(A, R, "f") == 1
        assert await throttled(limiter, "f") is ThrottleReason.CONCURRENT_INVOCATION_LIMIT
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert limiter.running(A, R) == 0
        lease = limiter.lease(req("f"))
        async with lease:
            pass
        lease.release()  # idempotent
        assert limiter.running(A, R) == 0

    asyncio.run(main())
