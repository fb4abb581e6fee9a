"""In-process: DynamoDB stream mappings over an in-memory stream, a real function run by the
engine: the event's shape, partial batch failures, the OnFailure record, checkpoints kept
across a provider restart, IteratorAge and LastProcessingResult."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from squall.engine.stream_batches import Window
from squall.lib.tasks import running
from squall.services.calls import Calls
from squall.services.lambda_.esm_stream_pollers import CHECKPOINTS, StoreCheckpoints, spec_of
from squall.services.lambda_.esm_streams import failure_record, returned_state, window_fields
from squall.services.lambda_.provider import LambdaProvider
from squall.storage import DataDir
from tests.services.lambda_.helpers import ROLE, make_zip
from tests.services.lambda_.mem_streams import MemDynamoStreams
from tests.services.lambda_.test_destinations import FakeServices
from tests.services.lambda_.test_functions_directory import FakeLayers, ctx

ACCOUNT, REGION = "000000000000", "us-east-1"
ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders/stream/2024-01-01T00:00:00.000"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:stream-failures"

HANDLER = f"""
def handler(event, context):
    records = event["Records"]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert seqs == sorted(seqs), seqs
    assert all(r["eventSourceARN"] == "{ARN}" and r["eventSource"] == "aws:dynamodb" for r in records)
    values = [(r["dynamodb"].get("NewImage") or {{}}).get("v", {{}}).get("S") for r in records]
    if "boom" in values:
        raise RuntimeError("boom")
    return {{"batchItemFailures": [{{"itemIdentifier": s}} for s, v in zip(seqs, values) if v == "bad"]}}
"""


async def call(p: LambdaProvider, operation: str, **params: Any) -> dict[str, Any]:
    return await p.dispatch(ctx(operation), params)


async def until(check: Callable[[], bool], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def positions(p: LambdaProvider) -> list[str]:
    with p.shared.store.read() as r:
        return [json.loads(v)["position"] for _, v in r.scan(CHECKPOINTS)]


def provider(data: DataDir, tmp: Path, streams: MemDynamoStreams, queues: FakeServices) -> LambdaProvider:
    p = LambdaProvider(
        data.store,
        data.blobs,
        layers=FakeLayers(),
        code_root=tmp / "code",
        calls=Calls(queues, "http://localhost:4566"),
        streams=streams,
    )
    return p


def test_stream_mapping_end_to_end_in_process(tmp_path: Path) -> None:
    streams, queues = MemDynamoStreams(ARN), FakeServices()
    data = DataDir.open(tmp_path / "data")

    async def main() -> None:
        p = provider(data, tmp_path, streams, queues)
        async with running(*p.background()):
            await call(
                p,
                "CreateFunction",
                FunctionName="f",
                Runtime="python3.11",
                Role=ROLE,
                Handler="app.handler",
                Code={"ZipFile": make_zip(HANDLER)},
            )
            await until(lambda: p.directory is not None and _active(p))
            streams.put("INSERT", "old", "ignored")  # before the mapping: LATEST skips it
            mapping = await call(
                p,
                "CreateEventSourceMapping",
                FunctionName="f",
                EventSourceArn=ARN,
                StartingPosition="LATEST",
                BatchSize=10,
                MaximumRetryAttempts=1,
                FunctionResponseTypes=["ReportBatchItemFailures"],
                DestinationConfig={"OnFailure": {"Destination": QUEUE}},
            )
            await until(lambda: len(positions(p)) == 2)  # the shard's LATEST position and the marker
            good = [streams.put("INSERT", "a", "1"), streams.put("MODIFY", "a", "2")]
            bad = streams.put("MODIFY", "b", "bad")
            removed = streams.put("REMOVE", "a")
            await until(lambda: bool(queues.sent) and removed in positions(p))
            (queue, body, _), *more = queues.sent
            assert queue == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/stream-failures" and not more
            failure = json.loads(body)
            info = failure["DDBStreamBatchInfo"]
            assert info["startSequenceNumber"] == bad and info["endSequenceNumber"] == removed
            assert info["batchSize"] == 2 and info["streamArn"] == ARN
            assert info["shardId"] == streams.shard.shard_id
            assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
            assert failure["requestContext"]["approximateInvokeCount"] == 2
            # the function returned (reporting item failures): no functionError, as AWS sends null
            assert failure["responseContext"] == {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": None,
            }
            assert failure["version"] == "1.0"
            assert good[0] < bad
            got = await call(p, "GetEventSourceMapping", UUID=mapping["UUID"])
            assert got["LastProcessingResult"] == "PROBLEM: Function call failed"
            ages = p.telemetry.metrics.read(
                ACCOUNT, REGION, "AWS/Lambda", "IteratorAge", {"FunctionName": "f"}
            )
            assert sum(dp.stat.count for dp in ages) >= 2

        # a restart resumes after the acknowledged records: nothing is replayed, new records run
        p = provider(data, tmp_path, streams, queues)
        async with running(*p.background()):
            after = streams.put("INSERT", "c", "boom")
            await until(lambda: len(queues.sent) == 2)
            second = json.loads(queues.sent[1][1])["DDBStreamBatchInfo"]
            assert second["startSequenceNumber"] == after == second["endSequenceNumber"]
            assert json.loads(queues.sent[1][1])["responseContext"] == {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            }
            await call(p, "DeleteEventSourceMapping", UUID=mapping["UUID"])
            await until(lambda: not positions(p))  # its checkpoints go with it
            assert p.stream_pollers is not None
            StoreCheckpoints(p.shared.store, "deleted-while-down").save("shard", "1")
            assert p.stream_pollers.sweep() == 1 and not positions(p)

    try:
        asyncio.run(main())
    finally:
        data.close()


def _active(p: LambdaProvider) -> bool:
    with p.shared.store.read() as r:
        return any(b'"State": "Active"' in v or b'"State":"Active"' in v for _, v in r.scan("lambda"))


def test_spec_of_a_mapping() -> None:
    cfg = {
        "UUID": "u",
        "EventSourceArn": ARN,
        "BatchSize": 7,
        "ParallelizationFactor": 3,
        "StartingPosition": "TRIM_HORIZON",
        "MaximumRecordAgeInSeconds": -1,
        "MaximumRetryAttempts": 5,
        "BisectBatchOnFunctionError": True,
    }
    spec = spec_of(cfg)
    assert (spec.batch_size, spec.parallelization, spec.starting_position) == (7, 3, "TRIM_HORIZON")
    assert spec.policy.max_age_s == 24 * 3600 and spec.policy.max_retries == 5 and spec.policy.bisect
    assert spec_of({**cfg, "MaximumRecordAgeInSeconds": 60}).policy.max_age_s == 60
    assert spec_of({**cfg, "BatchSize": 8}).revision != spec.revision


def test_failure_record_shape() -> None:
    streams = MemDynamoStreams(ARN)
    streams.put("INSERT", "a", "1", created=1_700_000_000)
    streams.put("INSERT", "b", "2", created=1_700_000_005)
    record = failure_record(
        streams.records,
        "shardId-1",
        ARN,
        "arn:aws:lambda:us-east-1:000000000000:function:f",
        "RecordAgeExceeded",
        0,
        None,
        now=1_700_000_010.5,
    )
    assert record["timestamp"] == "2023-11-14T22:13:30.500Z"
    assert record["DDBStreamBatchInfo"] == {
        "shardId": "shardId-1",
        "startSequenceNumber": streams.records[0]["dynamodb"]["SequenceNumber"],
        "endSequenceNumber": streams.records[1]["dynamodb"]["SequenceNumber"],
        "approximateArrivalOfFirstRecord": "2023-11-14T22:13:20Z",
        "approximateArrivalOfLastRecord": "2023-11-14T22:13:25Z",
        "batchSize": 2,
        "streamArn": ARN,
    }
    assert list(record) == ["requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"]
    assert record["requestContext"] == {
        "requestId": record["requestContext"]["requestId"],
        "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f",
        "condition": "RecordAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert record["version"] == "1.0"
    assert set(record["responseContext"]) == {"statusCode", "executedVersion", "functionError"}


def test_tumbling_window_event_fields_and_returned_state() -> None:
    window = Window(1_700_000_000.0, 1_700_000_300.0, {"total": 4}, final=True)
    assert window_fields(window, "shardId-1", ARN) == {
        "window": {"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:18:20Z"},
        "state": {"total": 4},
        "shardId": "shardId-1",
        "eventSourceARN": ARN,
        "isFinalInvokeForWindow": True,
        "isWindowTerminatedEarly": False,
    }
    assert returned_state(b'{"state": {"total": 5}, "batchItemFailures": []}') == {"total": 5}
    assert returned_state(b"null") == {} and returned_state(b"") == {} and returned_state(b"[1]") == {}
    assert returned_state(b'{"state": "x"}') == {}
