"""DynamoDB stream event source mappings end to end: a real table with a stream, a real
function that reports every invocation's records to a queue with boto3 from its sandbox."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import create, make_zip
from tests.services.lambda_.test_esm_sqs_e2e import invocations, new_queue

# One message to $OUT per invocation with its records; an item with v = "fail" fails the invocation.
SOURCE = """
import json, os
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    records = event["Records"]
    sqs.send_message(QueueUrl=os.environ["OUT"], MessageBody=json.dumps(records))
    if any((r["dynamodb"].get("NewImage") or {}).get("v", {}).get("S") == "fail" for r in records):
        raise RuntimeError("failing on purpose")
"""


def table(ddb: Any) -> tuple[str, str]:
    name = f"esm-{uuid.uuid4().hex[:10]}"
    out = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    ddb.get_waiter("table_exists").wait(TableName=name)
    return name, out["LatestStreamArn"]


def mapped(srv: RunningServer, **params: Any) -> tuple[Any, str, str, str, str]:
    """(clients, table, stream ARN, output queue URL, mapping id) with an Enabled mapping."""
    lam, ddb, sqs = srv.client("lambda"), srv.client("dynamodb"), srv.client("sqs")
    out, _ = new_queue(sqs)
    name, stream = table(ddb)
    fn = f"esm-{uuid.uuid4().hex[:10]}"
    create(lam, fn, Code={"ZipFile": make_zip(SOURCE)}, Timeout=20, Environment={"Variables": {"OUT": out}})
    params.setdefault("StartingPosition", "TRIM_HORIZON")
    mid = lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=stream, **params)["UUID"]
    deadline = time.monotonic() + 15
    while lam.get_event_source_mapping(UUID=mid)["State"] != "Enabled":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return (lam, ddb, sqs), name, stream, out, mid


def records(got: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for batch in got for r in batch]


def test_insert_modify_remove_in_order(server: RunningServer) -> None:
    (_, ddb, sqs), name, stream, out, _ = mapped(server)
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"S": "2"}})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})
    got = records(invocations(sqs, out, 3))
    assert [r["eventName"] for r in got] == ["INSERT", "MODIFY", "REMOVE"]
    assert all(r["eventSourceARN"] == stream and r["eventSource"] == "aws:dynamodb" for r in got)
    assert got[1]["dynamodb"]["OldImage"]["v"] == {"S": "1"}
    assert got[1]["dynamodb"]["NewImage"]["v"] == {"S": "2"}
    assert got[2]["dynamodb"]["Keys"] == {"pk": {"S": "a"}} and "NewImage" not in got[2]["dynamodb"]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in got]
    assert seqs == sorted(seqs)


def test_failed_batch_goes_to_on_failure_and_the_shard_moves_on(server: RunningServer) -> None:
    sqs = server.client("sqs")
    failures, failures_arn = new_queue(sqs)
    (lam, ddb, _), name, stream, out, mid = mapped(
        server,
        BatchSize=1,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    ddb.put_item(TableName=name, Item={"pk": {"S": "x"}, "v": {"S": "fail"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "y"}, "v": {"S": "ok"}})
    got = records(invocations(sqs, out, 2))
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == ["x", "y"]
    msgs = sqs.receive_message(QueueUrl=failures, WaitTimeSeconds=5).get("Messages", [])
    assert len(msgs) == 1
    record = json.loads(msgs[0]["Body"])
    # AWS's documented invocation record for a DynamoDB stream (Lambda developer guide, with-ddb),
    # field for field and in its order; the arrival times are whole seconds, the timestamp has millis
    assert list(record) == ["requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"]
    request_id = record["requestContext"]["requestId"]
    assert str(uuid.UUID(request_id)) == request_id
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": lam.get_event_source_mapping(UUID=mid)["FunctionArn"],
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    info = record["DDBStreamBatchInfo"]
    arrival = got[0]["dynamodb"]["ApproximateCreationDateTime"]
    second = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(float(arrival))))
    shard = server.client("dynamodbstreams").describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][
        0
    ]
    assert list(info.items()) == [
        ("shardId", shard["ShardId"]),
        ("startSequenceNumber", got[0]["dynamodb"]["SequenceNumber"]),
        ("endSequenceNumber", got[0]["dynamodb"]["SequenceNumber"]),
        ("approximateArrivalOfFirstRecord", second),
        ("approximateArrivalOfLastRecord", second),
        ("batchSize", 1),
        ("streamArn", stream),
    ]


def test_restart_neither_loses_nor_replays(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        (_, ddb, sqs), name, _, out, _ = mapped(srv)
        ddb.put_item(TableName=name, Item={"pk": {"S": "before"}})
        assert len(records(invocations(sqs, out, 1))) == 1
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data", port=srv.port)
    try:
        ddb, sqs = srv.client("dynamodb"), srv.client("sqs")
        ddb.put_item(TableName=name, Item={"pk": {"S": "after"}})
        got = records(invocations(sqs, out, 1))
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == ["after"]
        assert not sqs.receive_message(QueueUrl=out, WaitTimeSeconds=2).get("Messages")
    finally:
        srv.stop()


def test_latest_is_positioned_once_enabled(server: RunningServer) -> None:
    """A LATEST mapping that reports Enabled delivers what is written right after, every time.

    AWS: "LATEST - Read only new records" (https://docs.aws.amazon.com/lambda/latest/api/
    API_CreateEventSourceMapping.html, StartingPosition) and the DynamoDB Streams tutorial
    (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb-example.html) writes items as soon as
    the mapping is Enabled and expects the function to see them. Squall records where LATEST
    stands when the mapping is created, before it can report Enabled."""
    lam, ddb, sqs = server.client("lambda"), server.client("dynamodb"), server.client("sqs")
    out, _ = new_queue(sqs)
    fn = f"esm-{uuid.uuid4().hex[:10]}"
    create(lam, fn, Code={"ZipFile": make_zip(SOURCE)}, Timeout=20, Environment={"Variables": {"OUT": out}})
    runs = 8
    streams = []
    for i in range(runs):
        name, stream = table(ddb)
        ddb.put_item(TableName=name, Item={"pk": {"S": f"before-{i}"}})  # not after LATEST: never delivered
        mid = lam.create_event_source_mapping(
            FunctionName=fn, EventSourceArn=stream, StartingPosition="LATEST"
        )["UUID"]
        deadline = time.monotonic() + 15
        while lam.get_event_source_mapping(UUID=mid)["State"] != "Enabled":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ddb.put_item(TableName=name, Item={"pk": {"S": f"after-{i}"}})
        streams.append(stream)
    got = records(invocations(sqs, out, runs, timeout=60))
    keys = sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in got)
    assert keys == sorted(f"after-{i}" for i in range(runs))
    assert {r["eventSourceARN"] for r in got} == set(streams)
