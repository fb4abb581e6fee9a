"""Item operations through boto3 (client and resource API) against a real server."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.dynamodb.helpers import error, make_table

KEY = {"pk": {"S": "a"}, "sk": {"S": "1"}}
CAP_KEY = {"pk": {"S": "capacity"}, "sk": {"S": "1"}}


@pytest.fixture(scope="module")
def ddb(server: RunningServer):  # type: ignore[no-untyped-def]
    return server.client("dynamodb")


@pytest.fixture(scope="module")
def table(ddb) -> str:  # type: ignore[no-untyped-def]
    return make_table(ddb)


def test_all_types_round_trip(ddb, table) -> None:  # type: ignore[no-untyped-def]
    item = {
        **KEY,
        "s": {"S": ""},
        "n": {"N": "010.50"},
        "b": {"B": b"\x00\xff"},
        "t": {"BOOL": False},
        "z": {"NULL": True},
        "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "l": {"L": [{"S": "q"}, {"M": {"k": {"N": "1"}}}]},
        "m": {"M": {"deep": {"L": []}}},
    }
    ddb.put_item(TableName=table, Item=item)
    got = ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)["Item"]
    assert got == {**item, "n": {"N": "10.5"}}
    part = ddb.get_item(
        TableName=table, Key=KEY, ProjectionExpression="l[1].k, #m", ExpressionAttributeNames={"#m": "m"}
    )
    assert part["Item"] == {"l": {"L": [{"M": {"k": {"N": "1"}}}]}, "m": item["m"]}


def test_resource_api(server: RunningServer, table: str) -> None:
    res = boto3.resource(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    t = res.Table(table)
    t.put_item(Item={"pk": "res", "sk": "1", "price": Decimal("9.99"), "tags": {"a", "b"}})
    t.update_item(
        Key={"pk": "res", "sk": "1"},
        UpdateExpression="SET price = price + :d",
        ExpressionAttributeValues={":d": 1},
    )
    got = t.get_item(Key={"pk": "res", "sk": "1"})["Item"]
    assert got["price"] == Decimal("10.99") and got["tags"] == {"a", "b"}
    with pytest.raises(ClientError) as exc:
        t.put_item(Item={"pk": "res", "sk": "1"}, ConditionExpression=Attr("price").lt(5))
    assert error(exc)[0] == "ConditionalCheckFailedException"


def test_conditions_and_return_values(ddb, table) -> None:  # type: ignore[no-untyped-def]
    key = {"pk": {"S": "cond"}, "sk": {"S": "1"}}
    ddb.put_item(
        TableName=table, Item={**key, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)"
    )
    with pytest.raises(ClientError) as exc:
        ddb.put_item(
            TableName=table,
            Item={**key, "v": {"N": "2"}},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert error(exc) == ("ConditionalCheckFailedException", "The conditional request failed")
    assert exc.value.response["Item"] == {**key, "v": {"N": "1"}}
    old = ddb.put_item(TableName=table, Item={**key, "v": {"N": "2"}}, ReturnValues="ALL_OLD")["Attributes"]
    assert old["v"] == {"N": "1"}
    out = ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET v = v + :one, w = :w",
        ConditionExpression="v = :two",
        ExpressionAttributeValues={":one": {"N": "1"}, ":two": {"N": "2"}, ":w": {"S": "x"}},
        ReturnValues="UPDATED_NEW",
    )
    assert out["Attributes"] == {"v": {"N": "3"}, "w": {"S": "x"}}
    out = ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE w", ReturnValues="UPDATED_OLD")
    assert out["Attributes"] == {"w": {"S": "x"}}
    gone = ddb.delete_item(
        TableName=table, Key=key, ReturnValues="ALL_OLD", ConditionExpression="attribute_exists(v)"
    )
    assert gone["Attributes"] == {**key, "v": {"N": "3"}}
    assert "Item" not in ddb.get_item(TableName=table, Key=key)
    with pytest.raises(ClientError) as exc:
        ddb.delete_item(TableName=table, Key=key, ConditionExpression="attribute_exists(v)")
    assert error(exc)[0] == "ConditionalCheckFailedException"


def test_update_creates_item(ddb, table) -> None:  # type: ignore[no-untyped-def]
    key = {"pk": {"S": "counter"}, "sk": {"S": "1"}}
    for _ in range(3):
        out = ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="ADD hits :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
    assert out["Attributes"] == {**key, "hits": {"N": "3"}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"Item": {"pk": {"S": "a"}}},
            "One or more parameter values were invalid: Missing the key sk in the item",
        ),
        (
            {"Item": {"pk": {"N": "1"}, "sk": {"S": "x"}}},
            "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N",
        ),
        (
            {"Item": {"pk": {"S": ""}, "sk": {"S": "x"}}},
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an "
            "empty string value. Key: pk",
        ),
        (
            {"Item": {**KEY, "n": {"N": "1E+126"}}},
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            {"Item": {**KEY, "ss": {"SS": []}}},
            "One or more parameter values were invalid: An string set  may not be empty",
        ),
        (
            {"Item": {**KEY, "ss": {"SS": ["a", "a"]}}},
            "One or more parameter values were invalid: Input collection [a, a] contains duplicates.",
        ),
        ({"Item": {**KEY, "big": {"S": "x" * 410_000}}}, "Item size has exceeded the maximum allowed size"),
        (
            {"Item": {"pk": {"S": "x" * 2049}, "sk": {"S": "x"}}},
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ),
        (
            {
                "Item": KEY,
                "ConditionExpression": "a = :a",
                "ExpressionAttributeValues": {":a": {"S": "1"}, ":b": {"S": "2"}},
            },
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}",
        ),
        ({"Item": KEY, "ReturnValues": "ALL_NEW"}, "Return values set to invalid value"),
    ],
)
def test_put_validation(ddb, table, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=table, **kwargs)
    assert error(exc) == ("ValidationException", message)


def test_update_validation(ddb, table) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        ddb.update_item(
            TableName=table,
            Key=KEY,
            UpdateExpression="SET sk = :v",
            ExpressionAttributeValues={":v": {"S": "2"}},
        )
    assert (
        error(exc)[1]
        == "One or more parameter values were invalid: Cannot update attribute sk. This attribute is part of the key"
    )
    with pytest.raises(ClientError) as exc:
        ddb.update_item(
            TableName=table,
            Key=KEY,
            UpdateExpression="SET a = :v,",
            ExpressionAttributeValues={":v": {"S": "2"}},
        )
    assert error(exc)[1] == 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","'
    with pytest.raises(ClientError) as exc:
        ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})
    assert error(exc)[1] == "The provided key element does not match the schema"
    with pytest.raises(ClientError) as exc:
        ddb.get_item(TableName="missing-table", Key=KEY)
    assert error(exc) == ("ResourceNotFoundException", "Requested resource not found")


def test_consumed_capacity(ddb, table) -> None:  # type: ignore[no-untyped-def]
    out = ddb.put_item(
        TableName=table, Item={**CAP_KEY, "x": {"S": "y" * 1500}}, ReturnConsumedCapacity="TOTAL"
    )
    assert out["ConsumedCapacity"]["CapacityUnits"] == 2.0
    out = ddb.get_item(TableName=table, Key=CAP_KEY, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 0.5


def test_items_survive_kill(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import signal

    from tests.conftest import start_server

    srv = start_server(tmp_path / "data")
    try:
        ddb = srv.client("dynamodb")
        table = make_table(ddb, range_type="N")
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": "1"}, "v": {"S": "kept"}})
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "p"}, "sk": {"N": "1"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(tmp_path / "data")
    try:
        item = srv.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"N": "1"}})[
            "Item"
        ]
        assert item["v"] == {"S": "kept"} and item["n"] == {"N": "1"}
    finally:
        srv.stop()
