"""The single write path: index rows and figures move with the item; a write that changes
nothing writes nothing (where the stream record will not be appended)."""

from __future__ import annotations

from pathlib import Path

from squall.services.dynamodb import itemstore
from squall.services.dynamodb.tables import Table, new_table
from squall.storage import SQLiteStore


def table() -> Table:
    return Table(
        new_table(
            {
                "TableName": "t",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "g", "AttributeType": "N"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "GlobalSecondaryIndexes": [
                    {"IndexName": "ix", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}
                ],
            },
            "000000000000",
            "us-east-1",
        )
    )


def test_write_item(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db")
    t = table()
    item = {"pk": {"S": "a"}, "g": {"N": "1"}}
    row = itemstore.item_row(t, item)
    with store.write() as w:
        assert itemstore.write_item(w, t, row, None, item)
    with store.write() as w:
        assert not itemstore.write_item(w, t, row, item, {"g": {"N": "1.0"}, "pk": {"S": "a"}})
    with store.read() as r:
        assert itemstore.stats(r, t) == (1, itemstore.item_size(item))
        assert r.count(itemstore.ITEMS, prefix=itemstore.base(t, "ix")) == 1
    moved = {"pk": {"S": "a"}, "g": {"N": "2"}}
    with store.write() as w:
        assert itemstore.write_item(w, t, row, item, moved)
    with store.read() as r:
        rows = list(itemstore.rows(r, itemstore.base(t, "ix")))
        assert [i["g"] for _, i in rows] == [{"N": "2"}]
    with store.write() as w:
        assert itemstore.write_item(w, t, row, moved, None)
    with store.read() as r:
        assert itemstore.stats(r, t) == (0, 0)
        assert r.count(itemstore.ITEMS) == 0
    store.close()
