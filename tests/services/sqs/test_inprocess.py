"""The in-process interface other services use: send, receive (long poll), delete, available."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.sqs.provider import SqsProvider
from squall.storage import DataDir
from tests.inprocess import context

ACCOUNT, REGION = "000000000000", "us-east-1"


def ctx(operation: str) -> RequestContext:
    return context("req", ACCOUNT, REGION, "sqs", operation, "test", None, "http://localhost:4566")


async def scenario(provider: SqsProvider) -> None:
    sqs = provider.queues
    await provider.dispatch(ctx("CreateQueue"), {"QueueName": "inproc"})
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:inproc"
    queue = sqs.queue(ACCOUNT, REGION, arn)
    assert (
        sqs.queue(ACCOUNT, REGION, "http://sqs.us-east-1.localhost:4566/000000000000/inproc").qid == queue.qid
    )

    waiter = asyncio.create_task(sqs.receive_from(queue, limit=10, wait_s=10))
    available = asyncio.create_task(sqs.available(queue))
    await asyncio.sleep(0.01)
    assert not waiter.done() and not available.done()
    message_id = sqs.send(ACCOUNT, REGION, arn, "hello", {"k": {"DataType": "String", "StringValue": "v"}})
    (msg,) = await asyncio.wait_for(waiter, 5)
    await asyncio.wait_for(available, 5)
    assert msg.id == message_id and msg.body == "hello" and msg.receive_count == 1
    assert msg.attributes == {"k": {"DataType": "String", "StringValue": "v"}}
    sqs.delete(ACCOUNT, REGION, arn, msg.handle(queue.qid))
    assert await sqs.receive(ACCOUNT, REGION, arn, wait_s=0) == []
    with pytest.raises(ServiceError) as err:
        sqs.send(ACCOUNT, REGION, f"arn:aws:sqs:{REGION}:{ACCOUNT}:missing", "x")
    assert err.value.code == "QueueDoesNotExist"


def test_in_process_interface(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path / "d")
    try:
        asyncio.run(scenario(SqsProvider(data.store)))
    finally:
        data.close()
