"""DynamoDB Streams end to end through boto3: records, view types, iterators, errors."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from tests.services.dynamodb.helpers import error, make_table


@pytest.fixture(scope="module")
def ddb(server: Any) -> Any:
    return server.client("dynamodb")


@pytest.fixture(scope="module")
def streams(server: Any) -> Any:
    return server.client("dynamodbstreams")


def stream_table(ddb: Any, view: str = "NEW_AND_OLD_IMAGES") -> tuple[str, str]:
    name = make_table(
        ddb, range_type=None, StreamSpecification={"StreamEnabled": True, "StreamViewType": view}
    )
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    return name, arn


def shard_of(streams: Any, arn: str) -> str:
    return str(streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"])


def read_all(streams: Any, arn: str, kind: str = "TRIM_HORIZON", **kw: Any) -> list[dict[str, Any]]:
    shard = shard_of(streams, arn)
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **kw)[
        "ShardIterator"
    ]
    return list(streams.get_records(ShardIterator=it)["Records"])


def test_insert_modify_remove_in_order_with_both_images(ddb: Any, streams: Any) -> None:
    name, arn = stream_table(ddb)
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"N": "1"}})  # no change: no record
    ddb.update_item(
        TableName=name,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})  # nothing to delete: no record
    records = read_all(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    first, second, third = (r["dynamodb"] for r in records)
    assert first["NewImage"] == {"pk": {"S": "a"}, "v": {"N": "1"}} and "OldImage" not in first
    assert second["OldImage"]["v"] == {"N": "1"} and second["NewImage"]["v"] == {"N": "2"}
    assert third["OldImage"]["v"] == {"N": "2"} and "NewImage" not in third
    seqs = [r["SequenceNumber"] for r in (first, second, third)]
    assert seqs == sorted(seqs) and len(set(map(len, seqs))) == 1
    r = records[0]
    assert r["eventVersion"] == "1.1" and r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == "us-east-1"
    assert first["Keys"] == {"pk": {"S": "a"}} and first["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert first["SizeBytes"] > 0 and first["ApproximateCreationDateTime"].year >= 2024


@pytest.mark.parametrize(
    ("view", "new", "old"),
    [("KEYS_ONLY", False, False), ("NEW_IMAGE", True, False), ("OLD_IMAGE", False, True)],
)
def test_view_types(ddb: Any, streams: Any, view: str, new: bool, old: bool) -> None:
    name, arn = stream_table(ddb, view)
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"S": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"S": "2"}})
    modify = read_all(streams, arn)[1]["dynamodb"]
    assert modify["Keys"] == {"pk": {"S": "k"}} and modify["StreamViewType"] == view
    assert ("NewImage" in modify) is new and ("OldImage" in modify) is old


def test_transaction_records_are_atomic(ddb: Any, streams: Any) -> None:
    name, arn = stream_table(ddb, "KEYS_ONLY")
    ddb.put_item(TableName=name, Item={"pk": {"S": "x"}})
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "y"}}}},
                {
                    "Put": {
                        "TableName": name,
                        "Item": {"pk": {"S": "x"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert len(read_all(streams, arn)) == 1
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "y"}}}},
            {"Delete": {"Key": {"pk": {"S": "x"}}, "TableName": name}},
        ]
    )
    assert [r["eventName"] for r in read_all(streams, arn)] == ["INSERT", "INSERT", "REMOVE"]


def test_iterator_types_and_paging(ddb: Any, streams: Any) -> None:
    name, arn = stream_table(ddb, "KEYS_ONLY")
    shard = shard_of(streams, arn)
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    seqs = [r["dynamodb"]["SequenceNumber"] for r in read_all(streams, arn)]
    page = streams.get_records(ShardIterator=latest, Limit=2)
    assert [r["dynamodb"]["SequenceNumber"] for r in page["Records"]] == seqs[:2]
    rest = streams.get_records(ShardIterator=page["NextShardIterator"])
    assert [r["dynamodb"]["SequenceNumber"] for r in rest["Records"]] == seqs[2:]
    empty = streams.get_records(ShardIterator=rest["NextShardIterator"])
    assert empty["Records"] == [] and empty["NextShardIterator"]  # open shard: always a next iterator
    at = read_all(streams, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=seqs[2])
    after = read_all(streams, arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=seqs[2])
    assert [r["dynamodb"]["SequenceNumber"] for r in at] == seqs[2:]
    assert [r["dynamodb"]["SequenceNumber"] for r in after] == seqs[3:]
    assert read_all(streams, arn, "LATEST") == []


def test_expired_and_bad_iterators(ddb: Any, streams: Any) -> None:
    _, arn = stream_table(ddb)
    shard = shard_of(streams, arn)
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    head, token = it.rsplit("|", 1)
    state = orjson.loads(base64.urlsafe_b64decode(token))
    state["t"] -= 16 * 60
    old = f"{head}|{base64.urlsafe_b64encode(orjson.dumps(state)).decode()}"
    with pytest.raises(ClientError) as exc:
        streams.get_records(ShardIterator=old)
    assert error(exc)[0] == "ExpiredIteratorException"
    with pytest.raises(ClientError) as exc:
        streams.get_shard_iterator(
            StreamArn=arn, ShardId="shardId-00000000000000000000-deadbeef", ShardIteratorType="LATEST"
        )
    assert error(exc)[0] == "ResourceNotFoundException"


def test_missing_stream(streams: Any) -> None:
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/none/stream/2024-01-01T00:00:00.000"
    with pytest.raises(ClientError) as exc:
        streams.describe_stream(StreamArn=arn)
    assert error(exc) == (
        "ResourceNotFoundException",
        f"Requested resource not found: Stream: {arn} not found",
    )


def test_disable_and_reenable_creates_new_stream(ddb: Any, streams: Any) -> None:
    name, first = stream_table(ddb, "KEYS_ONLY")
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    ddb.put_item(TableName=name, Item={"pk": {"S": "b"}})  # stream off: no record
    ddb.update_table(
        TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )
    second = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    assert second != first
    ddb.put_item(TableName=name, Item={"pk": {"S": "c"}})
    desc = streams.describe_stream(StreamArn=first)["StreamDescription"]
    assert desc["StreamStatus"] == "DISABLED" and desc["TableName"] == name
    span = desc["Shards"][0]["SequenceNumberRange"]
    assert span["EndingSequenceNumber"] > span["StartingSequenceNumber"]
    shard = desc["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=first, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    page = streams.get_records(ShardIterator=it)
    assert [r["dynamodb"]["Keys"] for r in page["Records"]] == [{"pk": {"S": "a"}}]
    end = streams.get_records(ShardIterator=page["NextShardIterator"])
    assert end["Records"] == [] and "NextShardIterator" not in end  # closed shard read to its end
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_all(streams, second)] == ["c"]
    listed = streams.list_streams(TableName=name)["Streams"]
    assert {s["StreamArn"] for s in listed} == {first, second}
    paged = streams.list_streams(TableName=name, Limit=1)
    assert len(paged["Streams"]) == 1 and paged["LastEvaluatedStreamArn"] == paged["Streams"][0]["StreamArn"]


def test_deleted_table_stream_stays_readable_and_partiql_writes_records(ddb: Any, streams: Any) -> None:
    import datetime as dt

    name, arn = stream_table(ddb, "NEW_IMAGE")
    ddb.execute_statement(Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'p'}}")
    at = read_all(streams, arn, "AT_TIMESTAMP", Timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert [r["eventName"] for r in at] == ["INSERT"]
    ddb.delete_table(TableName=name)
    desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert desc["StreamStatus"] == "DISABLED"
    assert "EndingSequenceNumber" in desc["Shards"][0]["SequenceNumberRange"]
    assert [r["dynamodb"]["NewImage"] for r in read_all(streams, arn)] == [{"pk": {"S": "p"}}]
