"""A sent message survives a restart of the server (SIGKILL included)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import start_server


def test_messages_survive_kill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        sqs = first.client("sqs")
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)]
        )
        (inflight,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    finally:
        first.stop(signal.SIGKILL)
    second = start_server(data)
    try:
        sqs = second.client("sqs")
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        bodies = set()
        for _ in range(5):
            for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                bodies.add(msg["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
            if len(bodies) == 5:
                break
        assert bodies == {f"m{i}" for i in range(5)}
        assert inflight["Body"] in bodies
    finally:
        second.stop()
