"""Commit notices of a worker's store reach the primary's listeners (worker.Notices)."""

from __future__ import annotations

import asyncio
import threading
import time

from squall.storage.notices import Notices as StoreNotices
from squall.worker import Notices


def test_a_commit_notice_is_relayed_to_the_primary_once_control_is_back_on_the_loop() -> None:
    heard: list[str] = []
    got = threading.Event()
    primary_store, worker_store = StoreNotices(), StoreNotices()

    def recorder(arn: str) -> None:
        heard.append(arn)
        got.set()

    primary_store.subscribe("dynamodb.stream", recorder)
    relayed_again: list[tuple[str, str]] = []
    primary_store.subscribe_all(lambda channel, value: relayed_again.append((channel, value)))
    primary = Notices.listen(primary_store)
    worker = Notices(primary.name)
    try:
        worker.relay(worker_store)

        async def write() -> None:
            worker_store.publish([("dynamodb.stream", "arn:stream/1")])  # what a commit publishes
            worker_store.publish([("dynamodb.stream", "arn:stream/1")])
            time.sleep(0.05)  # noqa: ASYNC251 (blocks the loop on purpose: the relay must not run)
            assert heard == []  # nothing is sent before control is back on the loop
            await asyncio.sleep(0)

        asyncio.run(write())
        assert got.wait(5)
        time.sleep(0.05)
        assert heard == ["arn:stream/1"]  # one notice per (channel, value) per loop turn
        assert relayed_again == []  # what arrives from a worker is not relayed further
    finally:
        worker.close()
        primary.close()
