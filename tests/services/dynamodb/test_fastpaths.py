"""The per-request shortcuts give the answers of the long ways: plain values cleaned and sized
as the general code does, table descriptions served from memory only while unchanged."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from squall.services.base import ServiceError
from squall.services.dynamodb import numbers
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.tables import new_table
from squall.services.dynamodb.values import clean, item_size, items_equal, value_size
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
