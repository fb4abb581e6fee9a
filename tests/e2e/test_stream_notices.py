"""StreamNotices: a stream append committed in a worker wakes the primary's listeners."""

from __future__ import annotations

import asyncio
import threading
import time

from squall.services.dynamodb import streams
from squall.worker import StreamNotices


def test_an_append_is_told_to_the_primary_once_the_transaction_is_over() -> None:
    heard: list[str] = []
    got = threading.Event()

    def recorder(arn: str) -> None:
        heard.append(arn)
        got.set()

    before = set(streams.LISTENERS)
    primary = StreamNotices.listen()
    worker = StreamNotices(primary.name)
    try:
        worker.relay()
        (relay,) = set(streams.LISTENERS) - before
        streams.LISTENERS.add(recorder)

        async def write() -> None:
            relay("arn:stream/1")  # called inside the writing transaction...
            relay("arn:stream/1")
            time.sleep(0.05)  # noqa: ASYNC251 (blocks the loop on purpose: the relay must not run)
            assert heard == []  # ...nothing is sent before control is back on the loop
            await asyncio.sleep(0)

        asyncio.run(write())
        assert got.wait(5)
        time.sleep(0.05)
        assert heard == ["arn:stream/1"]  # one notice per stream per loop turn
    finally:
        streams.LISTENERS.clear()
        streams.LISTENERS.update(before)
        worker.close()
        primary.close()
