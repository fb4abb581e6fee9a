"""StreamReader (DynamoDB's stream records port) and the 24-hour trim, over a store directly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.dynamodb import itemstore, streams
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.ports import StreamReader
from squall.services.dynamodb.tables import Table, new_table
from squall.storage.sqlite import SQLiteStore
from tests.inprocess import context


def setup(tmp_path: Path) -> tuple[SQLiteStore, Table, StreamReader]:
    store = SQLiteStore(tmp_path / "db.sqlite")
    params = {
        "TableName": "t",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }
    with store.write() as w:
        table = Catalog().save(w, new_table(params, "000000000000", "us-east-1"))
    return store, table, StreamReader(store)


def put(store: SQLiteStore, table: Table, pk: str) -> None:
    item = {"pk": {"S": pk}}
    with store.write() as w:
        itemstore.write_item(w, table, itemstore.item_row(table, item), None, item)


def test_read_latest_and_first_seq_at(tmp_path: Path) -> None:
    store, table, ds = setup(tmp_path)
    arn = table.desc["LatestStreamArn"]
    info = ds.stream(arn)
    assert (info.table, info.view_type, info.status, info.account) == (
        "t",
        "NEW_IMAGE",
        "ENABLED",
        "000000000000",
    )
    (shard,) = ds.shards(arn)
    assert shard.end_seq is None and shard.parent_id is None
    assert ds.latest_seq(arn, shard.shard_id) is None
    put(store, table, "a")
    put(store, table, "b")
    recs = ds.read(arn, shard.shard_id, None, 10)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in recs] == ["a", "b"]
    first, second = (r["dynamodb"]["SequenceNumber"] for r in recs)
    assert shard.start_seq < first < second and len(first) == len(second) == 21
    assert ds.latest_seq(arn, shard.shard_id) == second
    assert [r["dynamodb"]["SequenceNumber"] for r in ds.read(arn, shard.shard_id, first, 10)] == [second]
    assert ds.first_seq_at(arn, shard.shard_id, time.time() - 60) == first
    assert ds.first_seq_at(arn, shard.shard_id, time.time() + 60) is None
    with pytest.raises(ServiceError) as exc:
        ds.stream(arn + "x")
    assert exc.value.code == "ResourceNotFoundException"


def test_wait_wakes_on_append(tmp_path: Path) -> None:
    store, table, ds = setup(tmp_path)
    arn = table.desc["LatestStreamArn"]

    async def main() -> float:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, put, store, table, "a")
        started = time.monotonic()
        await ds.wait(arn, 30)
        return time.monotonic() - started

    assert asyncio.run(main()) < 20
    assert asyncio.run(asyncio.wait_for(ds.wait(arn, 0.05), 5)) is None  # a timeout returns


def test_trim_drops_records_older_than_a_day(tmp_path: Path) -> None:
    store, table, ds = setup(tmp_path)
    arn = table.desc["LatestStreamArn"]
    put(store, table, "a")
    (shard,) = ds.shards(arn)
    with store.write() as w:
        assert streams.trim(w, time.time()) == 0
    assert len(ds.read(arn, shard.shard_id, None, 10)) == 1
    last = ds.latest_seq(arn, shard.shard_id)
    with store.write() as w:
        assert streams.trim(w, time.time() + 25 * 3600) == 1
    assert ds.read(arn, shard.shard_id, None, 10) == []
    assert ds.trimmed_through(arn) == last


def test_iterators_before_the_trim_horizon_are_refused(tmp_path: Path) -> None:
    from squall.services.dynamodbstreams.provider import DynamoDBStreamsProvider

    store, table, ds = setup(tmp_path)
    arn = table.desc["LatestStreamArn"]
    put(store, table, "a")
    (shard,) = ds.shards(arn)
    first = ds.latest_seq(arn, shard.shard_id)
    api = DynamoDBStreamsProvider(StreamReader(store))
    ctx = context("r", "000000000000", "us-east-1", "dynamodbstreams", "GetShardIterator", None, None, "")
    at = {
        "StreamArn": arn,
        "ShardId": shard.shard_id,
        "ShardIteratorType": "AT_SEQUENCE_NUMBER",
        "SequenceNumber": first,
    }
    old = api.get_shard_iterator(ctx, at)["ShardIterator"]
    with store.write() as w:
        streams.trim(w, time.time() + 25 * 3600)
    put(store, table, "b")
    for call in (
        lambda: api.get_records(ctx, {"ShardIterator": old}),
        lambda: api.get_shard_iterator(ctx, at),
    ):
        with pytest.raises(ServiceError) as exc:
            call()
        assert exc.value.code == "TrimmedDataAccessException"
    horizon = {"StreamArn": arn, "ShardId": shard.shard_id, "ShardIteratorType": "TRIM_HORIZON"}
    it = api.get_shard_iterator(ctx, horizon)["ShardIterator"]
    assert [
        r["dynamodb"]["Keys"]["pk"]["S"] for r in api.get_records(ctx, {"ShardIterator": it})["Records"]
    ] == ["b"]
