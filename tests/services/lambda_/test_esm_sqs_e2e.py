"""SQS event source mappings end to end: real queues, a real function that reports every
invocation's records to a second queue with boto3 from inside its sandbox."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import pytest

from tests.conftest import start_server
from tests.services.lambda_.helpers import create, make_zip

# The function: one message to $OUT per invocation with its records; a body "fail" fails the
# invocation, bodies starting "partial" are reported as batch item failures.
SOURCE = """
import json, os
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    records = event["Records"]
    sqs.send_message(QueueUrl=os.environ["OUT"], MessageBody=json.dumps(records))
    if any(r["body"] == "fail" for r in records):
        raise RuntimeError("failing on purpose")
    return {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]} for r in records if r["body"].startswith("partial")
    ]}
"""


def new_queue(sqs: Any, fifo: bool = False, **attributes: str) -> tuple[str, str]:
    name = f"esm-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
    if fifo:
        attributes.update(FifoQueue="true", ContentBasedDeduplication="true")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def function(lam: Any, out_url: str) -> str:
    name = f"esm-{uuid.uuid4().hex[:10]}"
    create(
        lam,
        name,
        Code={"ZipFile": make_zip(SOURCE)},
        Timeout=20,
        Environment={"Variables": {"OUT": out_url}},
    )
    return name


def invocations(sqs: Any, out_url: str, records: int, timeout: float = 30) -> list[list[dict[str, Any]]]:
    """The invocations reported to `out_url` until they hold `records` records in all."""
    got: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    while sum(map(len, got)) < records and time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=out_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in msgs.get("Messages", []):
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=out_url, ReceiptHandle=m["ReceiptHandle"])
    return got


def counts(sqs: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(a[names[0]]), int(a[names[1]])


def eventually(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def wait_state(lam: Any, mapping: str, state: str) -> None:
    assert eventually(lambda: lam.get_event_source_mapping(UUID=mapping)["State"] == state)


@pytest.fixture
def clients(server: Any) -> tuple[Any, Any]:
    return server.client("lambda"), server.client("sqs")


def test_batch_delivered_with_aws_fields_then_deleted(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    url, arn = new_queue(sqs)
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
    entries[0]["MessageAttributes"] = {
        "colour": {"DataType": "String", "StringValue": "blue"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]
    md5_of_attributes = next(e["MD5OfMessageAttributes"] for e in sent if e["Id"] == "0")
    name = function(lam, out)
    m = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10)
    got = invocations(sqs, out, 10)
    assert [len(b) for b in got] == [10]  # all ten were waiting: one batch
    records = {r["body"]: r for r in got[0]}
    assert set(records) == {f"m{i}" for i in range(10)}
    r = records["m0"]
    assert r["eventSource"] == "aws:sqs" and r["eventSourceARN"] == arn and r["awsRegion"] == "us-east-1"
    assert r["md5OfBody"] == hashlib.md5(b"m0").hexdigest()
    # https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html (example SQS message event):
    # md5OfMessageAttributes is SQS's MD5OfMessageAttributes, null for a message without any.
    assert r["md5OfMessageAttributes"] == md5_of_attributes
    assert "md5OfMessageAttributes" in records["m1"] and records["m1"]["md5OfMessageAttributes"] is None
    assert r["messageId"] and r["receiptHandle"]
    assert r["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(r["attributes"])
    assert r["messageAttributes"]["colour"] == {
        "stringValue": "blue",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert r["messageAttributes"]["raw"]["binaryValue"] == "AAE="
    assert eventually(lambda: counts(sqs, url) == (0, 0))
    assert eventually(
        lambda: lam.get_event_source_mapping(UUID=m["UUID"]).get("LastProcessingResult") == "OK"
    )
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_function_error_returns_messages_then_dlq(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    dlq_url, dlq_arn = new_queue(sqs)
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url, arn = new_queue(sqs, VisibilityTimeout="20", RedrivePolicy=policy)
    name = function(lam, out)
    m = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    # (the mapping needs a visibility timeout >= the function's at create; shortened after, so
    # that the failed message comes back quickly)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    sqs.send_message(QueueUrl=url, MessageBody="fail")
    got = invocations(sqs, out, 2)
    assert [b[0]["attributes"]["ApproximateReceiveCount"] for b in got] == ["1", "2"]
    dead = eventually(
        lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages"), timeout=20
    )
    assert dead and dead[0]["Body"] == "fail"
    result = lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"]
    assert result == "PROBLEM: Function call failed"
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_report_batch_item_failures(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    url, arn = new_queue(sqs, VisibilityTimeout="60")
    entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(["ok-1", "partial-2", "ok-3"])]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    name = function(lam, out)
    m = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    assert sum(map(len, invocations(sqs, out, 3))) == 3
    assert eventually(lambda: counts(sqs, url) == (0, 1))  # only the reported one is left, in flight
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_disable_stops_delivery_enable_resumes(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    url, arn = new_queue(sqs)
    name = function(lam, out)
    m = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, Enabled=False)
    wait_state(lam, m["UUID"], "Disabled")
    time.sleep(1)  # the pollers reconcile within a second
    sqs.send_message(QueueUrl=url, MessageBody="held")
    time.sleep(2)
    assert counts(sqs, url) == (1, 0)
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    got = invocations(sqs, out, 1)
    assert [r["body"] for b in got for r in b] == ["held"]
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    wait_state(lam, m["UUID"], "Disabled")
    time.sleep(1)
    sqs.send_message(QueueUrl=url, MessageBody="held again")
    time.sleep(2)
    assert counts(sqs, url) == (1, 0)
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_fifo_groups_in_order(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    url, arn = new_queue(sqs, fifo=True)
    for start in range(0, 24, 8):
        entries = [
            {"Id": str(i), "MessageBody": f"{'ab'[i % 2]}-{i:02d}", "MessageGroupId": "ab"[i % 2]}
            for i in range(start, start + 8)
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    name = function(lam, out)
    m = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=5)
    got = invocations(sqs, out, 24)
    for batch in got:
        assert len(batch) <= 5
        assert len({r["attributes"]["MessageGroupId"] for r in batch}) == 1  # one group per batch
        assert {"SequenceNumber", "MessageDeduplicationId"} <= set(batch[0]["attributes"])
    for group in "ab":
        bodies = [r["body"] for b in got for r in b if r["attributes"]["MessageGroupId"] == group]
        assert bodies == sorted(bodies) and len(bodies) == 12
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_filter_criteria_drops_non_matching(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    url, arn = new_queue(sqs)
    name = function(lam, out)
    pattern = json.dumps({"body": {"kind": ["order"]}})
    m = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, FilterCriteria={"Filters": [{"Pattern": pattern}]}
    )
    for body in ({"kind": "order", "n": 1}, {"kind": "refund"}, "plain text", {"kind": "order", "n": 2}):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body) if isinstance(body, dict) else body)
    got = invocations(sqs, out, 2)
    assert sorted(json.loads(r["body"])["n"] for b in got for r in b) == [1, 2]
    with pytest.raises(lam.exceptions.InvalidParameterValueException):  # no wildcard in Lambda's dialect
        lam.update_event_source_mapping(
            UUID=m["UUID"],
            FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": [{"wildcard": "o*"}]}})}]},
        )
    assert eventually(lambda: counts(sqs, url) == (0, 0))  # the others were deleted unprocessed
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_batching_window_gathers_more_than_ten(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    url, arn = new_queue(sqs)
    for start in range(0, 30, 10):
        entries = [{"Id": str(i), "MessageBody": f"w{i}"} for i in range(start, start + 10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    name = function(lam, out)
    m = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, BatchSize=50, MaximumBatchingWindowInSeconds=1
    )
    got = invocations(sqs, out, 30)
    assert [len(b) for b in got] == [30]
    lam.delete_event_source_mapping(UUID=m["UUID"])


SLOW = """
import json, os, time
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    start = time.time()
    time.sleep(0.4)
    sqs.send_message(QueueUrl=os.environ["OUT"], MessageBody=json.dumps([{"start": start, "end": time.time()}]))
"""


def test_maximum_concurrency_caps_concurrent_batches(clients: tuple[Any, Any]) -> None:
    lam, sqs = clients
    out, _ = new_queue(sqs)
    url, arn = new_queue(sqs)
    for start in range(0, 12, 6):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(start, start + 6)]
        )
    name = f"esm-{uuid.uuid4().hex[:10]}"
    create(lam, name, Code={"ZipFile": make_zip(SLOW)}, Timeout=20, Environment={"Variables": {"OUT": out}})
    m = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, BatchSize=1, ScalingConfig={"MaximumConcurrency": 2}
    )
    spans = [s for b in invocations(sqs, out, 12, timeout=45) for s in b]
    assert len(spans) == 12
    edges = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert 1 <= peak <= 2  # the default start is 5 concurrent batches: capped at 2
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_pollers_resume_after_a_restart(tmp_path: Any) -> None:
    srv = start_server(tmp_path / "data")
    try:
        lam, sqs = srv.client("lambda"), srv.client("sqs")
        out, _ = new_queue(sqs)
        url, arn = new_queue(sqs)
        name = function(lam, out)
        uuid_ = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)["UUID"]
        wait_state(lam, uuid_, "Enabled")
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data", port=srv.port)
    try:
        sqs = srv.client("sqs")
        sqs.send_message(QueueUrl=url, MessageBody="after restart")
        got = invocations(sqs, out, 1)
        assert [r["body"] for b in got for r in b] == ["after restart"]
    finally:
        srv.stop()
