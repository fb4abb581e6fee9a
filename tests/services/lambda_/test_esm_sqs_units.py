"""The SQS mapping's response rules (ReportBatchItemFailures) and event records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from squall.services.context import Principal
from squall.services.lambda_.esm_sqs import item_failures, record
from squall.services.sqs.messages import Message
from squall.services.sqs.messaging import SqsQueues
from squall.services.sqs.ports import FeedQueue, _received
from squall.services.sqs.queues import Queue
from squall.storage import SQLiteStore

IDS = {"a", "b", "c"}


@pytest.mark.parametrize(
    "response",
    [b"", b"null", b"{}", b'{"batchItemFailures": null}', b'{"batchItemFailures": []}', b"  "],
)
def test_empty_responses_are_complete_success(response: bytes) -> None:
    assert item_failures(response, IDS) == set()


def test_reported_identifiers() -> None:
    body = {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}
    assert item_failures(json.dumps(body).encode(), IDS) == {"a", "c"}


@pytest.mark.parametrize(
    "response",
    [
        b"not json",
        b'"a string"',
        b'{"batchItemFailures": {"itemIdentifier": "a"}}',
        b'{"batchItemFailures": [{"itemIdentifier": ""}]}',
        b'{"batchItemFailures": [{"itemIdentifier": null}]}',
        b'{"batchItemFailures": [{"itemId": "a"}]}',
        b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}',
        b'{"batchItemFailures": ["a"]}',
    ],
)
def test_malformed_responses_fail_the_batch(response: bytes) -> None:
    assert item_failures(response, IDS) is None


def test_record_fields_for_a_fifo_message(tmp_path: Path) -> None:
    queue = Queue("000000000000", "eu-west-1", "jobs.fifo", 7, {"FifoQueue": "true"}, 0, 0)
    msg = Message(
        id="mid",
        seq=42,
        body="hello",
        md5_body="5d41402abc4b2a76b9719d911017c592",
        sent=1000,
        visible_at=0,
        attributes={"n": {"DataType": "Number", "StringValue": "3"}},
        sender="000000000000",
        receive_count=1,
        first_receive=1001,
        token="t",
        group="g1",
        dedup="d1",
    )
    feed = FeedQueue(SqsQueues(SQLiteStore(tmp_path / "db.sqlite")), queue, Principal.root(queue.account))
    r = record(feed, _received(queue, msg))
    assert r["eventSourceARN"] == "arn:aws:sqs:eu-west-1:000000000000:jobs.fifo"
    assert r["awsRegion"] == "eu-west-1" and r["eventSource"] == "aws:sqs"
    assert r["attributes"] == {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1000",
        "SenderId": "000000000000",
        "ApproximateFirstReceiveTimestamp": "1001",
        "SequenceNumber": "00000000000000000042",
        "MessageGroupId": "g1",
        "MessageDeduplicationId": "d1",
    }
    assert r["messageAttributes"] == {
        "n": {"stringValue": "3", "stringListValues": [], "binaryListValues": [], "dataType": "Number"}
    }
    assert r["receiptHandle"] == msg.handle(7)
