"""The per-request shortcuts give the answers of the long ways: plain values cleaned and sized
as the general code does, table descriptions served from memory only while unchanged."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from squall.services.base import ServiceError
from squall.services.dynamodb import itemstore, numbers
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.expressions import Expressions
from squall.services.dynamodb.tables import Table, new_table
from squall.services.dynamodb.values import (
    clean,
    clean_item,
    clean_item_sized,
    item_size,
    items_equal,
    sort_key,
    value_size,
)
from squall.storage import SQLiteStore


def test_numbers_match_the_general_path() -> None:
    rng = random.Random(7)
    samples = ["0", "-0", "007", "1", "-1", "10", "100", "1" * 38, "1" * 39, "-" + "9" * 38, "1e3", "1.50"]
    samples += [str(rng.randint(-(10**40), 10**40)) for _ in range(2000)]
    samples += [str(rng.randint(1, 999) * 10 ** rng.randint(0, 30)) for _ in range(500)]
    for raw in samples:
        try:
            expected: str | None = numbers.canonical(raw)
        except numbers.NumberError:
            expected = None
        try:
            got: str | None = clean({"N": raw})["N"]
        except ServiceError:
            got = None
        assert got == expected, raw
        if expected is not None:
            assert value_size({"N": expected}) == numbers.size(Decimal(expected)), expected


def test_strings_sized_in_utf8() -> None:
    assert value_size({"S": "abc"}) == 3
    assert value_size({"S": "é"}) == 2
    assert item_size({"é": {"S": "x"}, "a": {"BOOL": True}}) == 2 + 1 + 1 + 1


def test_nesting_limit_still_applies_to_plain_values() -> None:
    value: dict[str, object] = {"S": "x"}
    for _ in range(33):
        value = {"L": [value]}
    with pytest.raises(ServiceError, match="Nesting Levels"):
        clean(value)


def test_items_equal_compares_values_not_forms() -> None:
    assert items_equal({"a": {"SS": ["x", "y"]}}, {"a": {"SS": ["y", "x"]}})
    assert items_equal({"a": {"N": "1"}}, {"a": {"N": "1"}})
    assert not items_equal({"a": {"N": "1"}}, {"a": {"S": "1"}})


def _desc(name: str) -> dict[str, object]:
    params: dict[str, object] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    return new_table(params, "000000000000", "us-east-1")


def test_catalog_memo_follows_the_change_counter(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db")
    catalog = Catalog()
    scope = ("000000000000", "us-east-1")
    with store.write() as w:
        first = catalog.save(w, _desc("t"))
    stamp = catalog.stamp(store)
    assert stamp is not None
    with store.read() as r:
        assert catalog.find(r, *scope, "t", stamp=stamp) is not None
    with store.read() as r:  # unchanged: served from memory
        assert catalog.find(r, *scope, "t", stamp=catalog.stamp(store)).id == first.id  # type: ignore[union-attr]
    with store.write() as w:
        catalog.delete(w, first)
    with store.read() as r:
        assert catalog.find(r, *scope, "t", stamp=catalog.stamp(store)) is None
    with store.write() as w:
        second = catalog.save(w, _desc("t"))
    with store.read() as r:
        found = catalog.find(r, *scope, "t", stamp=catalog.stamp(store))
    assert found is not None and found.id == second.id != first.id
    store.close()


_ITEMS: list[dict[str, object]] = [
    {"pk": {"S": "user#1"}, "age": {"N": "36"}, "tags": {"SS": ["a", "b"]}},
    {"pk": {"S": "é"}, "é": {"SS": ["ü", "x"]}, "n": {"N": "1.50"}, "z": {"N": "0"}, "big": {"N": "1e3"}},
    {"m": {"M": {"é": {"S": "x"}, "l": {"L": [{"BOOL": True}, {"NULL": True}, {"B": b"\x00\x01"}]}}}},
    {"s": {"NS": ["1", "2.0"]}, "b": {"BS": [b"a", b"b"]}, "t": {"BOOL": False}},
    {"e": {"S": ""}, "l": {"L": []}, "m": {"M": {}}},
]


@pytest.mark.parametrize("item", _ITEMS)
def test_clean_item_sized_matches_clean_then_size(item: dict[str, object]) -> None:
    cleaned, size = clean_item_sized(item)
    assert cleaned == clean_item(item)
    assert size == item_size(cleaned)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"SS": ["a", "a"]}, "contains duplicates"),
        ({"SS": []}, "may not be empty"),
        ({"N": "1e200"}, "Number overflow"),
        ({"NULL": False}, "Null attribute value types"),
        ({"S": "x", "N": "1"}, "more than one datatypes"),
        ({"M": {"x": {}}}, "Supplied AttributeValue is empty"),
    ],
)
def test_clean_item_sized_raises_what_clean_raises(value: dict[str, object], message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        clean_item({"a": value})
    with pytest.raises(ServiceError, match=message):
        clean_item_sized({"a": value})


def _range_table(range_type: str) -> Table:
    desc = new_table(
        {
            "TableName": "t",
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": range_type},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
        "000000000000",
        "us-east-1",
    )
    return Table(desc)


@pytest.mark.parametrize(
    ("range_type", "sk"),
    [("N", "42"), ("N", "-7"), ("N", "1.5"), ("N", "0"), ("S", "a\x00b"), ("S", "é"), ("B", b"\x00\xff")],
)
def test_plain_row_keys_equal_the_general_encoding(range_type: str, sk: object) -> None:
    table = _range_table(range_type)
    key = {"pk": {"S": "user#1"}, "sk": {range_type: sk}}
    expected = itemstore.base(table) + sort_key(key["pk"]) + sort_key(key["sk"])  # type: ignore[arg-type]
    assert itemstore.key_row(table, key) == expected
    assert itemstore.item_row(table, {**key, "x": {"S": "y"}}) == expected


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ({"pk": {"S": "a"}}, "does not match the schema"),
        ({"pk": {"S": "a"}, "sk": {"S": "1"}}, "does not match the schema"),
        ({"pk": {"S": "a"}, "other": {"N": "1"}}, "does not match the schema"),
        ({"pk": {"S": ""}, "sk": {"N": "1"}}, "cannot contain an empty string value"),
        ({"pk": {"S": "x" * 2049}, "sk": {"N": "1"}}, "Size of hashkey has exceeded"),
    ],
)
def test_key_rows_outside_the_fast_path_keep_their_errors(key: dict[str, object], message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        itemstore.key_row(_range_table("N"), key)


def test_requests_without_expressions_take_the_empty_path() -> None:
    plain = Expressions({"TableName": "t", "Key": {}})
    assert plain.empty and plain.condition("ConditionExpression") is None and plain.projection() is None
    plain.done()
    given = Expressions({"ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": "a", "#b": "b"}})
    assert not given.empty
    given.projection()
    with pytest.raises(ServiceError, match=r"unused in expressions: keys: \{#b\}"):
        given.done()
