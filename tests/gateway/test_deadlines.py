"""The shared body-read deadline (gateway/deadlines.py) and the gateway's RequestTimeout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from squall.gateway.app import Gateway
from squall.gateway.deadlines import Deadlines
from squall.services.sts.provider import StsProvider
from tests.gateway.test_app import make_gateway, scope_for, sessions
from tests.protocol.wire import request_for


async def _guarded(deadlines: Deadlines, wait: float) -> str:
    key = deadlines.enter()
    try:
        await asyncio.sleep(wait)
    except asyncio.CancelledError:
        if not deadlines.leave(key):
            raise
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()
        return "timed out"
    finally:
        deadlines.leave(key)
    return "done"


def test_overdue_reads_time_out_and_timely_ones_do_not() -> None:
    async def main() -> list[str]:
        deadlines = Deadlines(0.2)
        slow = [asyncio.create_task(_guarded(deadlines, 5)) for _ in range(3)]
        fast = [asyncio.create_task(_guarded(deadlines, 0.01)) for _ in range(3)]
        return await asyncio.gather(*slow, *fast)

    assert asyncio.run(main()) == ["timed out"] * 3 + ["done"] * 3


def test_later_reads_get_their_own_full_timeout() -> None:
    async def main() -> list[str]:
        deadlines = Deadlines(0.3)
        first = asyncio.create_task(_guarded(deadlines, 0.05))
        await asyncio.sleep(0.2)
        # Starts 0.2 s after the first: must not be cut off at the first one's deadline.
        second = asyncio.create_task(_guarded(deadlines, 0.2))
        return [await first, await second]

    assert asyncio.run(main()) == ["done", "done"]


def test_other_cancellations_propagate() -> None:
    async def main() -> None:
        deadlines = Deadlines(10)
        task = asyncio.create_task(_guarded(deadlines, 5))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def _call_slow(app: Gateway) -> tuple[int, bytes]:
    request = request_for("sts", "GetCallerIdentity", {})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(30)
        return {"type": "http.request", "body": request.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope_for(request), receive, send), 10))
    return sent[0]["status"], sent[1]["body"]


def test_a_body_that_never_arrives_is_a_request_timeout(tmp_path: Path) -> None:
    app = make_gateway(StsProvider({}, sessions(tmp_path)))
    app._deadlines.timeout = 0.2
    status, body = _call_slow(app)
    assert status == 400
    assert b"<Code>RequestTimeout</Code>" in body
