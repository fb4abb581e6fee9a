"""Hostile DynamoDB inputs (issue 13, item 9): each once answered HTTP 500 (an overflowing
number, a recursion error in a parser) and must now get AWS's ValidationException."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer

TABLE = "hostile-inputs"


@pytest.fixture(scope="module")
def ddb(server: RunningServer) -> Any:
    client = server.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    return client


def refused(call: Any, **kw: Any) -> str:
    """The message of the ValidationException `call(**kw)` gets (anything else fails the test)."""
    started = time.monotonic()
    with pytest.raises(ClientError) as info:
        call(**kw)
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400, err
    assert err["Error"]["Code"] == "ValidationException", err
    assert time.monotonic() - started < 5
    return str(err["Error"]["Message"])


def test_huge_exponent_number_is_out_of_range(ddb: Any) -> None:
    for text in ("1e999999999999", "-1e999999999999", "1e-999999999999", "9" * 5000 + "e999999999"):
        msg = refused(ddb.put_item, TableName=TABLE, Item={"pk": {"S": "x"}, "n": {"N": text}})
        assert "Number overflow" in msg or "Number underflow" in msg or "38 significant" in msg, msg


def test_huge_exponent_number_in_expression_values_and_partiql(ddb: Any) -> None:
    msg = refused(
        ddb.update_item,
        TableName=TABLE,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = n + :v",
        ExpressionAttributeValues={":v": {"N": "1e999999999999"}},
    )
    assert "Number overflow" in msg, msg
    msg = refused(ddb.execute_statement, Statement=f'SELECT * FROM "{TABLE}" WHERE n = 1e999999999999')
    assert "Number overflow" in msg, msg


def test_five_thousand_nested_not(ddb: Any) -> None:
    expr = "NOT " * 5000 + "attribute_exists(pk)"
    msg = refused(ddb.scan, TableName=TABLE, FilterExpression=expr)
    assert "Invalid FilterExpression: Expression size has exceeded the maximum allowed size" in msg, msg


def test_nested_not_within_the_size_limit_counts_operators(ddb: Any) -> None:
    expr = "NOT " * 1000 + "attribute_exists(pk)"  # 4020 bytes: under 4 KB, 1001 operators
    msg = refused(ddb.scan, TableName=TABLE, FilterExpression=expr)
    assert msg == "Invalid FilterExpression: The expression contains too many operators; operator count: 301"


def test_twenty_thousand_or(ddb: Any) -> None:
    expr = " OR ".join(["pk = :v"] * 20_001)
    msg = refused(
        ddb.scan, TableName=TABLE, FilterExpression=expr, ExpressionAttributeValues={":v": {"S": "a"}}
    )
    assert "Expression size has exceeded the maximum allowed size" in msg, msg
    expr = " OR ".join(["n=:v"] * 200)  # 199 OR + 200 comparisons: 399 operators, under 4 KB
    msg = refused(
        ddb.scan, TableName=TABLE, FilterExpression=expr, ExpressionAttributeValues={":v": {"N": "1"}}
    )
    assert msg.startswith("Invalid FilterExpression: The expression contains too many operators"), msg


def test_deep_parentheses_in_expressions(ddb: Any) -> None:
    # Non-redundant nesting inside 4 KB and under 300 operators: "(n=:v AND (n=:v AND (...)))".
    depth = 140
    expr = "(n=:v AND " * depth + "n=:v" + ")" * depth
    assert len(expr) <= 4096
    msg = refused(
        ddb.scan, TableName=TABLE, FilterExpression=expr, ExpressionAttributeValues={":v": {"N": "1"}}
    )
    assert msg.startswith("Invalid FilterExpression:"), msg
    # 2,000 bare parentheses: refused quickly, no recursion error.
    expr = "(" * 2000 + "n=:v" + ")" * 2000
    msg = refused(
        ddb.scan, TableName=TABLE, FilterExpression=expr, ExpressionAttributeValues={":v": {"N": "1"}}
    )
    assert msg.startswith("Invalid FilterExpression:"), msg
    # A deep nest still within every limit works.
    expr = "(n=:v AND " * 20 + "n=:v" + ")" * 20
    out = ddb.scan(TableName=TABLE, FilterExpression=expr, ExpressionAttributeValues={":v": {"N": "1"}})
    assert out["Count"] == 1


def test_long_update_and_condition_and_key_conditions(ddb: Any) -> None:
    expr = "SET " + ", ".join(f"a{i} = if_not_exists(a{i}, :v)" for i in range(400))
    msg = refused(
        ddb.update_item,
        TableName=TABLE,
        Key={"pk": {"S": "a"}},
        UpdateExpression=expr,
        ExpressionAttributeValues={":v": {"N": "1"}},
    )
    assert msg.startswith("Invalid UpdateExpression: Expression size has exceeded"), msg
    expr = "SET " + ",".join(f"b{i}=:v+:v" for i in range(301))  # 301 "+" in 3.3 KB
    assert len(expr) < 4096
    msg = refused(
        ddb.update_item,
        TableName=TABLE,
        Key={"pk": {"S": "a"}},
        UpdateExpression=expr,
        ExpressionAttributeValues={":v": {"N": "1"}},
    )
    assert msg.startswith("Invalid UpdateExpression: The expression contains too many operators"), msg
    msg = refused(
        ddb.query,
        TableName=TABLE,
        KeyConditionExpression="pk = :v AND " + "NOT " * 1100 + "pk = :v",
        ExpressionAttributeValues={":v": {"S": "a"}},
    )
    assert msg.startswith("Invalid KeyConditionExpression:"), msg


def test_projection_paths_are_bounded(ddb: Any) -> None:
    expr = ",".join(f"p{i}" for i in range(1200))  # ~6 KB
    msg = refused(ddb.get_item, TableName=TABLE, Key={"pk": {"S": "a"}}, ProjectionExpression=expr)
    assert msg.startswith("Invalid ProjectionExpression: Expression size has exceeded"), msg
    expr = ",".join(f"#{i % 10}" for i in range(1300))  # 1,300 paths under 4 KB: answered fast
    names = {f"#{i}": f"x{i}" for i in range(10)}
    msg = refused(
        ddb.get_item,
        TableName=TABLE,
        Key={"pk": {"S": "a"}},
        ProjectionExpression=expr,
        ExpressionAttributeNames=names,
    )
    assert "Two document paths overlap" in msg, msg
    expr = ".".join(["a"] * 2000)  # one path 2,000 levels deep, under 4 KB
    out = refused(ddb.get_item, TableName=TABLE, Key={"pk": {"S": "a"}}, ProjectionExpression=expr)
    assert out.startswith("Invalid ProjectionExpression:"), out


def test_deeply_nested_item_values(ddb: Any) -> None:
    value: dict[str, Any] = {"S": "x"}
    for _ in range(40):
        value = {"M": {"m": value}}
    msg = refused(ddb.put_item, TableName=TABLE, Item={"pk": {"S": "deep"}, "v": value})
    assert msg == "Nesting Levels have exceeded supported limits: Maximum nesting level of 32", msg
    value = {"S": "x"}
    for _ in range(40):
        value = {"L": [value]}
    msg = refused(ddb.put_item, TableName=TABLE, Item={"pk": {"S": "deep"}, "v": value})
    assert "Nesting Levels have exceeded supported limits" in msg, msg


def test_partiql_nesting(ddb: Any) -> None:
    stmt = f'SELECT * FROM "{TABLE}" WHERE ' + "(" * 3000 + "pk = 'a'" + ")" * 3000
    refused(ddb.execute_statement, Statement=stmt[:8192])
    stmt = f'SELECT * FROM "{TABLE}" WHERE ' + "NOT " * 2000 + "pk = 'a'"
    refused(ddb.execute_statement, Statement=stmt)
    stmt = f"INSERT INTO \"{TABLE}\" VALUE {{'pk': 'n', 'v': " + "[" * 3000 + "1" + "]" * 3000 + "}"
    refused(ddb.execute_statement, Statement=stmt)
    stmt = f"INSERT INTO \"{TABLE}\" VALUE {{'pk': 'n', 'v': " + "{'a': " * 1000 + "1" + "}" * 1000 + "}"
    refused(ddb.execute_statement, Statement=stmt[:8192])
    # 1,250 ORs (within the statement's 8,192 characters) evaluate without a recursion error
    stmt = f'SELECT * FROM "{TABLE}" WHERE ' + "OR ".join(["n=2"] * 1250) + " OR pk='a'"
    assert len(stmt) <= 8192
    assert len(ddb.execute_statement(Statement=stmt)["Items"]) == 1
    stmt = f'SELECT * FROM "{TABLE}" WHERE ' + "AND ".join(["n=1"] * 1100) + " AND pk='a'"
    assert len(ddb.execute_statement(Statement=stmt)["Items"]) == 1
    # still fine: a nested value within 32 levels, a few parentheses
    ddb.execute_statement(Statement=f"INSERT INTO \"{TABLE}\" VALUE {{'pk': 'ok', 'v': [[[1]]]}}")
    out = ddb.execute_statement(Statement=f"SELECT * FROM \"{TABLE}\" WHERE ((pk = 'ok'))")
    assert len(out["Items"]) == 1


def test_thousands_of_legacy_conditions(ddb: Any) -> None:
    """ScanFilter has no expression size limit: 5,000 conditions evaluate without a recursion error."""
    flt = {f"a{i}": {"ComparisonOperator": "NULL"} for i in range(5000)}
    out = ddb.scan(TableName=TABLE, ScanFilter=flt, ConditionalOperator="AND")
    assert out["ScannedCount"] >= 1


def test_server_still_answers(ddb: Any) -> None:
    assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"]["pk"] == {"S": "a"}
