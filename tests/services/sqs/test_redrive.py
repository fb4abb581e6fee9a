"""Dead-letter queues: redrive on receive, allow policies, DLQ sources, message move tasks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs.conftest import arn_of, error_code


def _redrive(dlq_arn: str, count: int = 2) -> str:
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": count})


def test_message_moves_to_dlq_after_max_receives(sqs: Any, new_queue: Any) -> None:
    dlq = new_queue("dlq")
    dlq_arn = arn_of(sqs, dlq)
    src = new_queue("src", RedrivePolicy=_redrive(dlq_arn))
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison")["MessageId"]
    for _ in range(2):
        (msg,) = sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]
        assert msg["MessageId"] == sent
    assert not sqs.receive_message(QueueUrl=src).get("Messages")  # the third receive moved it
    (dead,) = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"], VisibilityTimeout=0)[
        "Messages"
    ]
    assert dead["MessageId"] == sent and dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn_of(sqs, src)
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]


def test_redrive_policy_checks(sqs: Any, new_queue: Any) -> None:
    with pytest.raises(ClientError) as exc:
        new_queue(RedrivePolicy=_redrive("arn:aws:sqs:us-east-1:000000000000:missing"))
    assert error_code(exc) == "InvalidParameterValue"
    assert "Dead letter target does not exist" in exc.value.response["Error"]["Message"]
    dlq = new_queue("deny", RedriveAllowPolicy=json.dumps({"redrivePermission": "denyAll"}))
    with pytest.raises(ClientError):
        new_queue(RedrivePolicy=_redrive(arn_of(sqs, dlq)))
    fifo_dlq = new_queue("fdlq", fifo=True)
    with pytest.raises(ClientError):
        new_queue(RedrivePolicy=_redrive(arn_of(sqs, fifo_dlq)))
    with pytest.raises(ClientError):
        new_queue(RedrivePolicy=_redrive(arn_of(sqs, new_queue()), count=0))


def test_move_task_back_to_source(sqs: Any, new_queue: Any) -> None:
    dlq = new_queue("mdlq")
    dlq_arn = arn_of(sqs, dlq)
    src = new_queue("msrc", RedrivePolicy=_redrive(dlq_arn, count=1))
    sqs.send_message_batch(QueueUrl=src, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    for _ in range(2):
        sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10, VisibilityTimeout=0)
    counts = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "3"
    with pytest.raises(ClientError):
        sqs.start_message_move_task(SourceArn=arn_of(sqs, src))  # not a DLQ
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    deadline = time.monotonic() + 10
    while True:
        (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if task["Status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert task["TaskHandle"] == handle and task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    bodies = {m["Body"] for m in sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)["Messages"]}
    assert bodies == {"m0", "m1", "m2"}
    with pytest.raises(ClientError):
        sqs.cancel_message_move_task(TaskHandle=handle)  # no longer running


def test_move_task_to_a_destination(sqs: Any, new_queue: Any) -> None:
    dlq = new_queue("ddlq")
    dlq_arn = arn_of(sqs, dlq)
    src = new_queue("dsrc", RedrivePolicy=_redrive(dlq_arn, count=1))
    target = new_queue("dtarget")
    sqs.send_message(QueueUrl=src, MessageBody="elsewhere")
    for _ in range(2):
        sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)
    sqs.start_message_move_task(
        SourceArn=dlq_arn, DestinationArn=arn_of(sqs, target), MaxNumberOfMessagesPerSecond=5
    )
    (msg,) = sqs.receive_message(QueueUrl=target, WaitTimeSeconds=10)["Messages"]
    assert msg["Body"] == "elsewhere"
    (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["DestinationArn"] == arn_of(sqs, target) and task["MaxNumberOfMessagesPerSecond"] == 5
