"""FIFO queues through boto3: group order, in-flight blocking, deduplication, sequence numbers."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs.conftest import error_code


def test_order_per_group_and_blocking(sqs: Any, new_queue: Any) -> None:
    url = new_queue("ord", fifo=True)
    seqs = []
    for i in range(3):
        for group in ("a", "b"):
            out = sqs.send_message(
                QueueUrl=url,
                MessageBody=f"{group}{i}",
                MessageGroupId=group,
                MessageDeduplicationId=f"{group}{i}",
            )
            seqs.append(int(out["SequenceNumber"]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    (first,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"]
    assert first["Body"] == "a0"
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    assert [m["Body"] for m in rest] == ["b0", "b1", "b2"]  # group a waits for a0
    assert {m["Attributes"]["MessageGroupId"] for m in rest} == {"b"}
    assert not sqs.receive_message(QueueUrl=url).get("Messages")  # a behind a0, b behind b0..b2
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    more = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in more] == ["a1", "a2"]  # group a is free again; b still in flight
    sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate([*more, *rest])
        ],
    )
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert [b for b in bodies if b.startswith("a")] == ["a1", "a2"]
    assert [b for b in bodies if b.startswith("b")] == ["b0", "b1", "b2"]


def test_deduplication(sqs: Any, new_queue: Any) -> None:
    url = new_queue("dd", fifo=True)
    one = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
    two = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
    assert one["MessageId"] == two["MessageId"]
    with pytest.raises(ClientError) as exc:  # neither an id nor content-based deduplication
        sqs.send_message(QueueUrl=url, MessageBody="y", MessageGroupId="g")
    assert error_code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="y", MessageDeduplicationId="d2")
    assert error_code(exc) == "MissingParameter"
    content = new_queue("cb", fifo=True, ContentBasedDeduplication="true")
    a = sqs.send_message(QueueUrl=content, MessageBody="same", MessageGroupId="g")["MessageId"]
    b = sqs.send_message(QueueUrl=content, MessageBody="same", MessageGroupId="g")["MessageId"]
    c = sqs.send_message(QueueUrl=content, MessageBody="other", MessageGroupId="g")["MessageId"]
    assert a == b != c
    (msg,) = sqs.receive_message(QueueUrl=content, MessageSystemAttributeNames=["MessageDeduplicationId"])[
        "Messages"
    ]
    assert len(msg["Attributes"]["MessageDeduplicationId"]) == 64  # SHA-256 of the body, hex


def test_per_message_delay_refused(sqs: Any, new_queue: Any) -> None:
    url = new_queue("dl", fifo=True)
    with pytest.raises(ClientError) as exc:
        sqs.send_message(
            QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=5
        )
    assert error_code(exc) == "InvalidParameterValue"
