"""Message operations through boto3 against the real server."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs.conftest import error_code


def test_send_receive_delete_with_digests(sqs: Any, new_queue: Any) -> None:
    url = new_queue()
    attrs = {
        "s": {"DataType": "String", "StringValue": "hello"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="body ✓",
        MessageAttributes=attrs,
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}},
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5("body ✓".encode()).hexdigest()
    assert len(sent["MD5OfMessageAttributes"]) == 32 and len(sent["MD5OfMessageSystemAttributes"]) == 32
    got = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    (msg,) = got["Messages"]
    assert msg["MessageId"] == sent["MessageId"] and msg["Body"] == "body ✓"
    assert msg["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert msg["MessageAttributes"] == attrs
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    system = msg["Attributes"]
    assert system["ApproximateReceiveCount"] == "1" and system["SenderId"] == "000000000000"
    assert system["AWSTraceHeader"] == "Root=1-abc"
    assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])  # already gone: still succeeds
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_attribute_name_selection(sqs: Any, new_queue: Any) -> None:
    url = new_queue()
    attrs = {k: {"DataType": "String", "StringValue": k} for k in ("foo.a", "foo.b", "bar")}
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)
    (msg,) = sqs.receive_message(
        QueueUrl=url,
        MessageAttributeNames=["foo.*"],
        MessageSystemAttributeNames=["SentTimestamp"],
        VisibilityTimeout=0,
    )["Messages"]
    assert set(msg["MessageAttributes"]) == {"foo.a", "foo.b"} and set(msg["Attributes"]) == {"SentTimestamp"}
    (msg,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert "MessageAttributes" not in msg and "Attributes" not in msg and "MD5OfMessageAttributes" not in msg


def test_invalid_messages(sqs: Any, new_queue: Any) -> None:
    url = new_queue(MaximumMessageSize="1024")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    assert error_code(exc) == "InvalidParameterValue"
    assert "Message must be shorter than 1024 bytes" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="bad \x01")
    assert error_code(exc) == "InvalidMessageContents"
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_code(exc) == "InvalidParameterValue"


def test_batches(sqs: Any, new_queue: Any) -> None:
    url = new_queue(MaximumMessageSize="1024")
    out = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "ok", "MessageBody": "a"}, {"Id": "big", "MessageBody": "x" * 2000}],
    )
    assert [s["Id"] for s in out["Successful"]] == ["ok"]
    (failed,) = out["Failed"]
    assert failed["Id"] == "big" and failed["SenderFault"] and failed["Code"] == "InvalidParameterValue"
    for entries, code in (
        ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
        (
            [{"Id": str(i), "MessageBody": "m"} for i in range(11)],
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        ([{"Id": "a", "MessageBody": "m"}] * 2, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        ([{"Id": "a b", "MessageBody": "m"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
        (
            [{"Id": str(i), "MessageBody": "x" * 200_000} for i in range(6)],
            "AWS.SimpleQueueService.BatchRequestTooLong",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert error_code(exc) == code
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(4)])
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(msgs) == 5
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        + [{"Id": "junk", "ReceiptHandle": "garbage"}],
    )
    assert len(deleted["Successful"]) == 5 and deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"


def test_visibility_timeout_and_change(sqs: Any, new_queue: Any) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="v")
    (msg,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    assert (
        "Messages" not in sqs.receive_message(QueueUrl=url)
        or not sqs.receive_message(QueueUrl=url)["Messages"]
    )
    (again,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, VisibilityTimeout=60)["Messages"]
    assert again["MessageId"] == msg["MessageId"] and again["ReceiptHandle"] != msg["ReceiptHandle"]
    with pytest.raises(ClientError) as exc:  # the older handle is no longer the message's current one
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0)
    assert error_code(exc) == "InvalidParameterValue"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    (third,) = sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"], VisibilityTimeout=60
    )["Messages"]
    assert third["Attributes"]["ApproximateReceiveCount"] == "3"
    out = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "ReceiptHandle": third["ReceiptHandle"], "VisibilityTimeout": 0}],
    )
    assert [s["Id"] for s in out["Successful"]] == ["a"]
    with pytest.raises(ClientError) as exc:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert error_code(exc) == "ReceiptHandleIsInvalid"


def test_delay(sqs: Any, new_queue: Any) -> None:
    url = new_queue()
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert not sqs.receive_message(QueueUrl=url).get("Messages")
    started = time.monotonic()
    (msg,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    assert msg["Body"] == "later" and time.monotonic() - started < 8


def test_long_poll_wakes_on_send(sqs: Any, server: Any, new_queue: Any) -> None:
    url = new_queue()
    other = server.client("sqs")
    timer = threading.Timer(0.5, lambda: other.send_message(QueueUrl=url, MessageBody="wake"))
    started = time.monotonic()
    timer.start()
    try:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15)
    finally:
        timer.cancel()
    assert got["Messages"][0]["Body"] == "wake"
    assert time.monotonic() - started < 10  # woke on the send, not at the end of the wait


def test_long_poll_times_out_empty(sqs: Any, new_queue: Any) -> None:
    url = new_queue(ReceiveMessageWaitTimeSeconds="1")
    started = time.monotonic()
    assert not sqs.receive_message(QueueUrl=url).get("Messages")
    assert time.monotonic() - started >= 0.9
