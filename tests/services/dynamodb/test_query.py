"""Query and Scan through boto3: key order by type, key conditions, indexes, paging, filters."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.dynamodb.helpers import error, make_table

NUMS = [
    "-1E+20",
    "-100",
    "-12.5",
    "-12",
    "-1.25",
    "-0.001",
    "0",
    "1E-10",
    "0.5",
    "1",
    "1.05",
    "1.5",
    "10",
    "1E+30",
]


@pytest.fixture(scope="module")
def ddb(server: RunningServer):  # type: ignore[no-untyped-def]
    return server.client("dynamodb")


def query(ddb: Any, table: str, kce: str, values: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return ddb.query(TableName=table, KeyConditionExpression=kce, ExpressionAttributeValues=values, **kw)  # type: ignore[no-any-return]


def test_numeric_sort_key_order_and_ranges(ddb) -> None:  # type: ignore[no-untyped-def]
    table = make_table(ddb, range_type="N")
    for n in reversed(NUMS):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": n}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "other"}, "sk": {"N": "5"}})
    p = {":p": {"S": "p"}}
    items = query(ddb, table, "pk = :p", p)["Items"]
    assert [float(i["sk"]["N"]) for i in items] == sorted(float(n) for n in NUMS)
    back = query(ddb, table, "pk = :p", p, ScanIndexForward=False)["Items"]
    assert back == list(reversed(items))

    def sks(kce: str, **values: str) -> list[str]:
        vals = {**p, **{f":{k}": {"N": v} for k, v in values.items()}}
        return [i["sk"]["N"] for i in query(ddb, table, kce, vals)["Items"]]

    assert sks("pk = :p AND sk = :v", v="1.50") == ["1.5"]
    assert sks("pk = :p AND sk < :v", v="-12") == ["-100000000000000000000", "-100", "-12.5"]
    assert sks("pk = :p AND sk <= :v", v="-12") == ["-100000000000000000000", "-100", "-12.5", "-12"]
    assert sks("pk = :p AND sk > :v", v="1.5") == ["10", "1" + "0" * 30]
    assert sks("pk = :p AND sk >= :v", v="1.5") == ["1.5", "10", "1" + "0" * 30]
    assert sks("pk = :p AND sk BETWEEN :a AND :b", a="-1.25", b="0.5") == [
        "-1.25",
        "-0.001",
        "0",
        "0.0000000001",
        "0.5",
    ]
    assert sks(":v < sk AND pk = :p", v="10") == ["1" + "0" * 30]


def test_string_and_binary_order_begins_with(ddb) -> None:  # type: ignore[no-untyped-def]
    table = make_table(ddb)
    words = ["b", "a", "ab", "aB", "a\u00e9", "a\U0001f600", "abc", "ac", "Z"]
    for w in words:
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": w}})
    got = [i["sk"]["S"] for i in query(ddb, table, "pk = :p", {":p": {"S": "p"}})["Items"]]
    assert got == sorted(words, key=lambda w: w.encode())
    got = [
        i["sk"]["S"]
        for i in query(ddb, table, "pk = :p AND begins_with(sk, :a)", {":p": {"S": "p"}, ":a": {"S": "ab"}})[
            "Items"
        ]
    ]
    assert got == ["ab", "abc"]
    btable = make_table(ddb, range_type="B")
    blobs = [b"\xff", b"\x00", b"\x00\x00", b"\x01", b"\x00\x01", b"\x7f\xff"]
    for b in blobs:
        ddb.put_item(TableName=btable, Item={"pk": {"S": "p"}, "sk": {"B": b}})
    got = [i["sk"]["B"] for i in query(ddb, btable, "pk = :p", {":p": {"S": "p"}})["Items"]]
    assert got == sorted(blobs)
    got = [
        i["sk"]["B"]
        for i in query(
            ddb, btable, "pk = :p AND begins_with(sk, :b)", {":p": {"S": "p"}, ":b": {"B": b"\x00"}}
        )["Items"]
    ]
    assert got == [b"\x00", b"\x00\x00", b"\x00\x01"]


def test_paging_filter_select(ddb) -> None:  # type: ignore[no-untyped-def]
    table = make_table(ddb, range_type="N")
    for i in range(10):
        ddb.put_item(
            TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "even": {"BOOL": i % 2 == 0}}
        )
    seen: list[str] = []
    kwargs: dict[str, Any] = {}
    pages = 0
    while True:
        page = query(
            ddb,
            table,
            "pk = :p",
            {":p": {"S": "p"}, ":t": {"BOOL": True}},
            Limit=3,
            FilterExpression="even = :t",
            **kwargs,
        )
        pages += 1
        assert page["ScannedCount"] <= 3
        seen += [i["sk"]["N"] for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert seen == ["0", "2", "4", "6", "8"] and pages == 4
    count = query(ddb, table, "pk = :p", {":p": {"S": "p"}}, Select="COUNT")
    assert count["Count"] == 10 and "Items" not in count
    proj = query(ddb, table, "pk = :p", {":p": {"S": "p"}}, ProjectionExpression="even", Limit=1)
    assert proj["Items"] == [{"even": {"BOOL": True}}]
    for select, message in [
        ("COUNT", "Cannot specify the ProjectionExpression when choosing to get only the Count"),
        ("ALL_ATTRIBUTES", "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"),
    ]:
        with pytest.raises(ClientError) as exc:
            query(ddb, table, "pk = :p", {":p": {"S": "p"}}, ProjectionExpression="even", Select=select)
        assert error(exc) == ("ValidationException", message)
    with pytest.raises(ClientError) as exc:
        query(ddb, table, "pk = :p", {":p": {"S": "p"}}, Select="ALL_PROJECTED_ATTRIBUTES")
    assert error(exc)[1] == "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
    with pytest.raises(ClientError) as exc:
        query(ddb, table, "pk = :p", {":p": {"S": "p"}}, Select="SPECIFIC_ATTRIBUTES")
    assert error(exc)[1] == (
        "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
    )
    with pytest.raises(ClientError) as exc:
        query(ddb, table, "pk = :p", {":p": {"S": "p"}, ":v": {"N": "1"}}, FilterExpression="sk = :v")
    assert (
        error(exc)[1]
        == "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"
    )


def test_key_condition_errors(ddb) -> None:  # type: ignore[no-untyped-def]
    table = make_table(ddb)
    cases = [
        ("sk = :v", "Query condition missed key schema element: pk"),
        ("pk = :v OR sk = :v", "Invalid operator used in KeyConditionExpression: OR"),
        ("pk = :v AND attr1 = :v", "Query condition missed key schema element: sk"),
        ("pk = :v AND sk = :v AND attr1 = :v", "Query key condition not supported"),
        ("pk < :v", "Query key condition not supported"),
        ("pk = :v AND pk = :v", "KeyConditionExpressions must only contain one condition per key"),
        (
            "pk = :n",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
    ]
    for kce, message in cases:
        values = {":v": {"S": "x"}} if ":v" in kce else {":n": {"N": "1"}}
        with pytest.raises(ClientError) as exc:
            query(ddb, table, kce, values)
        assert error(exc) == ("ValidationException", message), kce


def test_indexes(ddb) -> None:  # type: ignore[no-untyped-def]
    table = make_table(
        ddb,
        ExtraDefinitions=[
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "l", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["extra"]},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "lsi",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    for i in range(6):
        item = {
            "pk": {"S": "p"},
            "sk": {"S": f"s{i}"},
            "l": {"N": str(10 - i)},
            "extra": {"S": "e"},
            "other": {"S": "o"},
        }
        if i % 3:
            item["g"] = {"S": "G"}
        ddb.put_item(TableName=table, Item=item)
    got = query(ddb, table, "g = :g AND l > :l", {":g": {"S": "G"}, ":l": {"N": "5"}}, IndexName="gsi")
    assert [i["sk"]["S"] for i in got["Items"]] == ["s4", "s2", "s1"]
    assert set(got["Items"][0]) == {"pk", "sk", "g", "l", "extra"}
    page = query(ddb, table, "g = :g", {":g": {"S": "G"}}, IndexName="gsi", Limit=2)
    assert set(page["LastEvaluatedKey"]) == {"pk", "sk", "g", "l"}
    rest = query(
        ddb, table, "g = :g", {":g": {"S": "G"}}, IndexName="gsi", ExclusiveStartKey=page["LastEvaluatedKey"]
    )
    assert [i["sk"]["S"] for i in page["Items"] + rest["Items"]] == ["s5", "s4", "s2", "s1"]
    lsi = query(ddb, table, "pk = :p", {":p": {"S": "p"}}, IndexName="lsi")
    assert [i["l"]["N"] for i in lsi["Items"]] == ["5", "6", "7", "8", "9", "10"]
    full = query(ddb, table, "pk = :p", {":p": {"S": "p"}}, IndexName="lsi", Select="ALL_ATTRIBUTES", Limit=1)
    assert full["Items"][0]["other"] == {"S": "o"}
    # moving an item out of the sparse index and changing its index key
    ddb.update_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "s1"}}, UpdateExpression="REMOVE g")
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "p"}, "sk": {"S": "s2"}},
        UpdateExpression="SET l = :l",
        ExpressionAttributeValues={":l": {"N": "100"}},
    )
    got = query(ddb, table, "g = :g", {":g": {"S": "G"}}, IndexName="gsi")
    assert [i["sk"]["S"] for i in got["Items"]] == ["s5", "s4", "s2"]
    with pytest.raises(ClientError) as exc:
        query(ddb, table, "g = :g", {":g": {"S": "G"}}, IndexName="gsi", ConsistentRead=True)
    assert error(exc)[1] == "Consistent reads are not supported on global secondary indexes"
    with pytest.raises(ClientError) as exc:
        ddb.put_item(
            TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "x"}, "g": {"N": "1"}, "l": {"N": "1"}}
        )
    assert error(exc)[1] == (
        "One or more parameter values were invalid: Type mismatch for Index Key g Expected: S Actual: N IndexName: gsi"
    )
    with pytest.raises(ClientError) as exc:
        ddb.put_item(
            TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "x"}, "g": {"S": ""}, "l": {"N": "1"}}
        )
    assert error(exc)[1] == (
        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. "
        "The AttributeValue for a key attribute cannot contain an empty string value. IndexName: gsi, IndexKey: g"
    )


def test_scan_segments_and_page_size(ddb) -> None:  # type: ignore[no-untyped-def]
    table = make_table(ddb, range_type=None)
    blob = "x" * 100_000
    for i in range(30):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "blob": {"S": blob}})
    first = ddb.scan(TableName=table)
    assert first["Count"] == 11 and "LastEvaluatedKey" in first  # 1 MB page
    keys: list[str] = []
    for segment in range(3):
        kwargs: dict[str, Any] = {}
        while True:
            page = ddb.scan(
                TableName=table, Segment=segment, TotalSegments=3, ProjectionExpression="pk", **kwargs
            )
            keys += [i["pk"]["S"] for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert sorted(keys) == sorted(f"k{i}" for i in range(30))
    with pytest.raises(ClientError) as exc:
        ddb.scan(TableName=table, Segment=3, TotalSegments=3)
    assert error(exc)[1] == (
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 3 is not less "
        "than TotalSegments: 3"
    )
