"""Query reads only its key range: the rows the store yields are counted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from squall.services.dynamodb.provider import DynamoDBProvider
from squall.storage import SQLiteStore
from tests.inprocess import context


class CountingStore:
    """A store whose read transactions count the rows their scans yield."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.rows = 0
        self.notices = inner.notices

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.inner.read() as r:
            outer = self

            class Counting:
                def get(self, ns: str, key: bytes) -> bytes | None:
                    return r.get(ns, key)

                def count(self, ns: str, prefix: bytes | None = None) -> int:
                    return r.count(ns, prefix)

                def scan(self, ns: str, **kw: Any) -> Iterator[tuple[bytes, bytes]]:
                    for pair in r.scan(ns, **kw):
                        outer.rows += 1
                        yield pair

            yield Counting()

    def write(self) -> Any:
        return self.inner.write()

    def close(self) -> None:
        self.inner.close()


def call(provider: DynamoDBProvider, op: str, **params: Any) -> dict[str, Any]:
    ctx = context("r", "000000000000", "us-east-1", "dynamodb", op, None, None, "http://x")
    return asyncio.run(provider.dispatch(ctx, params))


def test_query_reads_only_its_range(tmp_path: Path) -> None:
    store = CountingStore(SQLiteStore(tmp_path / "db.sqlite"))
    ddb = DynamoDBProvider(store)  # type: ignore[arg-type]
    call(
        ddb,
        "CreateTable",
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for p in range(50):
        call(
            ddb,
            "BatchWriteItem",
            RequestItems={
                "t": [
                    {"PutRequest": {"Item": {"pk": {"S": f"p{p}"}, "sk": {"N": str(i)}}}} for i in range(25)
                ]
            },
        )
    for p in range(50, 80):
        for chunk in range(8):
            call(
                ddb,
                "BatchWriteItem",
                RequestItems={
                    "t": [
                        {"PutRequest": {"Item": {"pk": {"S": f"p{p}"}, "sk": {"N": str(chunk * 25 + i)}}}}
                        for i in range(25)
                    ]
                },
            )
    store.rows = 0
    out = call(
        ddb,
        "Query",
        TableName="t",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p7"}},
    )
    assert out["Count"] == 25 and store.rows == 25
    store.rows = 0
    out = call(
        ddb,
        "Query",
        TableName="t",
        KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "p60"}, ":a": {"N": "100"}, ":b": {"N": "109"}},
    )
    assert out["Count"] == 10 and store.rows == 10
    store.rows = 0
    out = call(
        ddb,
        "Query",
        TableName="t",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p61"}},
        Limit=5,
    )
    assert out["Count"] == 5 and store.rows <= 6
    store.close()
