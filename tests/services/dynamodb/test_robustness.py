"""Random but well-typed requests never fail with anything but a 4xx ServiceError, and what is
stored reads back equal (numbers canonical)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.protocol.errors import ServiceError
from squall.services.dynamodb.provider import DynamoDBProvider
from squall.storage import SQLiteStore
from tests.inprocess import context

numbers_text = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["1e200", "-1E-200", "abc", "", " 5", "0.000"]),
)
scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=8)),
    st.builds(lambda n: {"N": n}, numbers_text),
    st.builds(lambda b: {"B": b}, st.binary(max_size=6)),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.builds(lambda b: {"NULL": b}, st.booleans()),
    st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=3), max_size=3)),
    st.builds(lambda v: {"NS": v}, st.lists(numbers_text, max_size=3)),
    st.builds(lambda v: {"BS": v}, st.lists(st.binary(max_size=3), max_size=3)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
        st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    ),
    max_leaves=8,
)
WORDS = ["a", "b", "#n", ":v", ":w", "(", ")", ",", "=", "<", "AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE",
         "ADD", "DELETE", "size", "contains", "if_not_exists", "list_append", "[0]", ".c", "+", "pk", "sk"]  # fmt: skip
VALID = [
    "SET a = :v", "SET a = a + :v", "SET a = :v - b", "ADD a :v", "DELETE a :v", "REMOVE a[0], b.c",
    "SET a.c = :v", "SET a[1] = :w", "SET a = list_append(a, :v)", "SET #n = if_not_exists(#n, :v)",
    "a = :v", "contains(a, :v)", "size(a) > :v", "a BETWEEN :v AND :w", "begins_with(a, :v)",
    "attribute_type(a, :v)", "a IN (:v, :w)", "NOT (a < :v OR b >= :w)", "a.c[0] <> :v",
    "pk = :v", "pk = :v AND sk BETWEEN :v AND :w", "pk = :v AND begins_with(sk, :w)", "pk = :v AND sk < :w",
]  # fmt: skip
expressions = st.one_of(
    st.sampled_from(VALID), st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
)


@pytest.fixture(scope="module")
def ddb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = SQLiteStore(Path(tmp_path_factory.mktemp("ddb")) / "db")
    provider = DynamoDBProvider(store)
    call(
        provider,
        "CreateTable",
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield provider
    store.close()


def call(provider: DynamoDBProvider, op: str, **params: Any) -> dict[str, Any]:
    ctx = context("r", "000000000000", "us-east-1", "dynamodb", op, None, None, "http://x")
    return asyncio.run(provider.dispatch(ctx, params))


def attempt(provider: DynamoDBProvider, op: str, **params: Any) -> dict[str, Any] | None:
    try:
        return call(provider, op, **params)
    except ServiceError as exc:
        assert 400 <= exc.status < 500, exc
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pk=st.text(max_size=5),
    sk=numbers_text,
    attrs=st.dictionaries(st.sampled_from(["a", "b", "c", "n"]), values, max_size=3),
    expr=expressions,
    v=values,
    w=values,
)
def test_random_requests(
    ddb: Any, pk: str, sk: str, attrs: dict[str, Any], expr: str, v: Any, w: Any
) -> None:
    key = {"pk": {"S": pk}, "sk": {"N": sk}}
    put = attempt(ddb, "PutItem", TableName="t", Item={**key, **attrs})
    if put is not None:
        got = call(ddb, "GetItem", TableName="t", Key=key)["Item"]
        assert set(got) == {"pk", "sk", *attrs}
    placeholders = {"ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":v": v, ":w": w}}
    attempt(ddb, "UpdateItem", TableName="t", Key=key, UpdateExpression=expr, **placeholders)
    attempt(ddb, "DeleteItem", TableName="t", Key=key, ConditionExpression=expr, **placeholders)
    attempt(ddb, "Query", TableName="t", KeyConditionExpression=expr, **placeholders)
    attempt(ddb, "Scan", TableName="t", FilterExpression=expr, **placeholders)
