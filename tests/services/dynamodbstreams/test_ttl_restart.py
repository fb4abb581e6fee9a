"""The TTL sweep (a server with a short interval) and stream records across a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, start_server
from tests.services.dynamodb.helpers import make_table


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("ttl") / "data", env={"SQUALL_DYNAMODB_TTL_INTERVAL": "0.2"})
    yield srv
    srv.stop()


def records(streams: Any, arn: str) -> list[dict[str, Any]]:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return list(streams.get_records(ShardIterator=it["ShardIterator"])["Records"])


def test_ttl_deletes_expired_items_with_the_service_identity(fast: RunningServer) -> None:
    ddb, streams = fast.client("dynamodb"), fast.client("dynamodbstreams")
    name = make_table(
        ddb, range_type=None, StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"}
    )
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    now = int(time.time())
    ddb.put_item(TableName=name, Item={"pk": {"S": "old"}, "exp": {"N": str(now - 10)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "future"}, "exp": {"N": str(now + 3600)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "text"}, "exp": {"S": str(now - 10)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "ancient"}, "exp": {"N": "1000"}})
    deadline = time.monotonic() + 20
    while ddb.get_item(TableName=name, Key={"pk": {"S": "old"}}).get("Item") and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sorted(i["pk"]["S"] for i in ddb.scan(TableName=name)["Items"])
    assert left == ["ancient", "future", "text"]
    removed = [
        r
        for r in records(streams, ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"])
        if r["eventName"] == "REMOVE"
    ]
    assert len(removed) == 1
    assert removed[0]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    assert removed[0]["dynamodb"]["OldImage"]["pk"] == {"S": "old"}


def test_records_survive_a_restart(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        ddb = srv.client("dynamodb")
        name = make_table(
            ddb, range_type=None, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
        )
        arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
        before = records(srv.client("dynamodbstreams"), arn)
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data")
    try:
        ddb = srv.client("dynamodb")
        ddb.put_item(TableName=name, Item={"pk": {"S": "b"}})
        after = records(srv.client("dynamodbstreams"), arn)
    finally:
        srv.stop()
    assert after[0] == before[0] and len(after) == 2
    assert after[1]["dynamodb"]["SequenceNumber"] > after[0]["dynamodb"]["SequenceNumber"]
