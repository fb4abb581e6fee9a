"""The legacy parameters (Expected, AttributeUpdates, KeyConditions, QueryFilter, ScanFilter,
AttributesToGet) through boto3, and the refusal to mix them with expressions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.dynamodb.helpers import error, make_table


@pytest.fixture(scope="module")
def ddb(server: RunningServer):  # type: ignore[no-untyped-def]
    return server.client("dynamodb")


def test_legacy_writes_and_reads(ddb) -> None:  # type: ignore[no-untyped-def]
    t = make_table(ddb, range_type="N")
    for i in range(6):
        ddb.put_item(
            TableName=t,
            Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "v": {"N": str(i * 10)}},
            Expected={"pk": {"Exists": False}},
        )
    with pytest.raises(ClientError) as exc:
        ddb.put_item(
            TableName=t, Item={"pk": {"S": "p"}, "sk": {"N": "1"}}, Expected={"pk": {"Exists": False}}
        )
    assert error(exc)[0] == "ConditionalCheckFailedException"
    key = {"pk": {"S": "p"}, "sk": {"N": "1"}}
    out = ddb.update_item(
        TableName=t,
        Key=key,
        AttributeUpdates={
            "v": {"Action": "ADD", "Value": {"N": "5"}},
            "tags": {"Action": "PUT", "Value": {"SS": ["a"]}},
        },
        Expected={"v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "10"}]}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    assert out["v"] == {"N": "15"} and out["tags"] == {"SS": ["a"]}
    ddb.update_item(TableName=t, Key=key, AttributeUpdates={"tags": {"Action": "DELETE"}})
    assert "tags" not in ddb.get_item(TableName=t, Key=key, AttributesToGet=["tags", "v"]).get("Item", {})
    got = ddb.query(
        TableName=t,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "4"}]},
        },
        QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "20"}]}},
    )
    assert [i["sk"]["N"] for i in got["Items"]] == ["3", "4"] and got["ScannedCount"] == 4
    got = ddb.scan(
        TableName=t,
        ScanFilter={
            "v": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "0"}, {"N": "50"}]},
            "sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]},
        },
        ConditionalOperator="OR",
    )
    assert sorted(i["sk"]["N"] for i in got["Items"]) == ["0", "1", "5"]


def test_mixing_refused(ddb) -> None:  # type: ignore[no-untyped-def]
    t = make_table(ddb)
    with pytest.raises(ClientError) as exc:
        ddb.put_item(
            TableName=t,
            Item={"pk": {"S": "a"}, "sk": {"S": "b"}},
            Expected={"pk": {"Exists": False}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert error(exc) == (
        "ValidationException",
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: "
        "{Expected} Expression parameters: {ConditionExpression}",
    )
