"""Batches and transactions through boto3: limits, all-or-nothing, cancellation reasons, tokens."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.dynamodb.helpers import error, make_table


@pytest.fixture(scope="module")
def ddb(server: RunningServer):  # type: ignore[no-untyped-def]
    return server.client("dynamodb")


def key(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i}"}, "sk": {"S": "s"}}


def test_batch_write_and_get(ddb) -> None:  # type: ignore[no-untyped-def]
    t1, t2 = make_table(ddb), make_table(ddb)
    out = ddb.batch_write_item(
        RequestItems={
            t1: [{"PutRequest": {"Item": {**key(i), "v": {"N": str(i)}}}} for i in range(20)],
            t2: [{"PutRequest": {"Item": key(0)}}],
        }
    )
    assert out["UnprocessedItems"] == {}
    ddb.batch_write_item(RequestItems={t1: [{"DeleteRequest": {"Key": key(0)}}]})
    got = ddb.batch_get_item(
        RequestItems={
            t1: {"Keys": [key(0), key(1), key(2)], "ProjectionExpression": "v"},
            t2: {"Keys": [key(0)], "ConsistentRead": True},
        }
    )
    assert sorted(i["v"]["N"] for i in got["Responses"][t1]) == ["1", "2"]
    assert got["Responses"][t2] == [key(0)] and got["UnprocessedKeys"] == {}
    with pytest.raises(ClientError) as exc:
        ddb.batch_write_item(RequestItems={t1: [{"PutRequest": {"Item": key(i)}} for i in range(26)]})
    assert error(exc)[0] == "ValidationException" and "less than or equal to 25" in error(exc)[1]
    with pytest.raises(ClientError) as exc:
        ddb.batch_write_item(
            RequestItems={t1: [{"PutRequest": {"Item": key(1)}}, {"DeleteRequest": {"Key": key(1)}}]}
        )
    assert error(exc) == ("ValidationException", "Provided list of item keys contains duplicates")
    with pytest.raises(ClientError) as exc:
        ddb.batch_get_item(
            RequestItems={
                t1: {"Keys": [key(i) for i in range(60)]},
                t2: {"Keys": [key(i) for i in range(60)]},
            }
        )
    assert error(exc) == ("ValidationException", "Too many items requested for the BatchGetItem call")
    # an invalid item anywhere leaves the whole batch unwritten
    with pytest.raises(ClientError):
        ddb.batch_write_item(
            RequestItems={
                t1: [{"PutRequest": {"Item": key(50)}}, {"PutRequest": {"Item": {"pk": {"S": "x"}}}}]
            }
        )
    assert "Item" not in ddb.get_item(TableName=t1, Key=key(50))


def test_transact_write_all_or_nothing(ddb) -> None:  # type: ignore[no-untyped-def]
    t = make_table(ddb)
    ddb.put_item(TableName=t, Item={**key(1), "n": {"N": "1"}})
    items = [
        {"Put": {"TableName": t, "Item": key(2)}},
        {
            "Update": {
                "TableName": t,
                "Key": key(1),
                "UpdateExpression": "SET n = n + :one",
                "ConditionExpression": "n = :five",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":five": {"N": "5"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {
            "ConditionCheck": {
                "TableName": t,
                "Key": key(3),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=items)
    assert error(exc) == (
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed, None]",
    )
    reasons = exc.value.response["CancellationReasons"]
    assert reasons[1]["Code"] == "ConditionalCheckFailed" and reasons[1]["Item"]["n"] == {"N": "1"}
    assert "Item" not in ddb.get_item(TableName=t, Key=key(2))
    items[1]["Update"]["ExpressionAttributeValues"][":five"] = {"N": "1"}
    ddb.transact_write_items(TransactItems=[*items, {"Delete": {"TableName": t, "Key": key(4)}}])
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": t, "Key": key(i)}} for i in (1, 2, 3)])[
        "Responses"
    ]
    assert got[0]["Item"]["n"] == {"N": "2"} and got[1]["Item"] == key(2) and got[2] == {}
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": t, "Item": key(9)}},
                {"Delete": {"TableName": t, "Key": key(9)}},
            ]
        )
    assert error(exc)[1] == "Transaction request cannot include multiple operations on one item"


def test_idempotency_token(ddb) -> None:  # type: ignore[no-untyped-def]
    t = make_table(ddb)
    update = {
        "Update": {
            "TableName": t,
            "Key": key(1),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    for _ in range(3):
        ddb.transact_write_items(TransactItems=[update], ClientRequestToken="tok-1")
    assert ddb.get_item(TableName=t, Key=key(1))["Item"]["n"] == {"N": "1"}
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": t, "Item": key(2)}}], ClientRequestToken="tok-1"
        )
    assert error(exc)[0] == "IdempotentParameterMismatchException"


def test_batch_capacity(ddb) -> None:  # type: ignore[no-untyped-def]
    t = make_table(ddb)
    out = ddb.batch_write_item(
        RequestItems={t: [{"PutRequest": {"Item": {**key(i), "big": {"S": "x" * 1500}}}} for i in range(3)]},
        ReturnConsumedCapacity="TOTAL",
    )
    assert out["ConsumedCapacity"] == [{"TableName": t, "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0}]
    out = ddb.batch_get_item(RequestItems={t: {"Keys": [key(0), key(1)]}}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"][0]["CapacityUnits"] == 1.0
    assert ddb.describe_limits()["TableMaxReadCapacityUnits"] == 40000


def test_empty_requests_are_validation_errors(ddb) -> None:  # type: ignore[no-untyped-def]
    t = make_table(ddb)
    with pytest.raises(ClientError) as exc:
        ddb.batch_write_item(RequestItems={t: [{}]})
    assert error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[{}])
    assert error(exc)[0] == "ValidationException"
