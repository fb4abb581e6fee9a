"""Conditions, projections and update actions evaluated on items."""

from __future__ import annotations

from typing import Any

import pytest

from squall.protocol.errors import ServiceError
from squall.services.dynamodb.evaluate import matches, project
from squall.services.dynamodb.parser import Placeholders, parse_condition, parse_projection, parse_update
from squall.services.dynamodb.update import apply

ITEM: dict[str, Any] = {
    "pk": {"S": "k"},
    "n": {"N": "5"},
    "s": {"S": "hello"},
    "b": {"B": b"\x01\x02"},
    "ss": {"SS": ["a", "b"]},
    "l": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"x": {"N": "3"}}}]},
    "m": {"M": {"child": {"M": {"v": {"BOOL": True}}}}},
}
VALUES = {
    ":five": {"N": "5.0"},
    ":four": {"N": "4"},
    ":six": {"N": "6"},
    ":he": {"S": "he"},
    ":a": {"S": "a"},
    ":S": {"S": "S"},
    ":two": {"S": "two"},
    ":x": {"N": "3"},
}


def check(expr: str, item: dict[str, Any] | None = ITEM) -> bool:
    return matches(item, parse_condition(expr, "ConditionExpression", Placeholders(None, VALUES)))


@pytest.mark.parametrize(
    "expr",
    [
        "n = :five",
        "n BETWEEN :four AND :six",
        "n IN (:four, :five)",
        "begins_with(s, :he)",
        "contains(ss, :a)",
        "contains(s, :he)",
        "contains(l, :two)",
        "attribute_type(s, :S)",
        "size(s) = :five",
        "size(l) >= :x OR n < :four",
        "l[2].x = :x",
        "attribute_exists(m.child.v)",
        "attribute_not_exists(nope) AND NOT n <> :five",
        "n > s OR n >= :five",
        "nope <> :five",
        "nope <> gone",
    ],
)
def test_true(expr: str) -> None:
    assert check(expr)


@pytest.mark.parametrize(
    "expr",
    ["n < :four", "s = :five", "nope = nope", "n > s", "attribute_exists(l[5])", "begins_with(n, :he)"],
)
def test_false(expr: str) -> None:
    assert not check(expr)


def test_no_item() -> None:
    assert check("attribute_not_exists(pk)", None)
    assert not check("attribute_exists(pk)", None)


def test_projection_keeps_shape() -> None:
    paths = parse_projection("l[2].x, l[0], m.child, s", Placeholders(None, None))
    assert project(ITEM, paths) == {
        "l": {"L": [{"N": "1"}, {"M": {"x": {"N": "3"}}}]},
        "m": {"M": {"child": ITEM["m"]["M"]["child"]}},
        "s": {"S": "hello"},
    }


def update(expr: str, values: dict[str, Any], item: dict[str, Any] = ITEM) -> dict[str, Any]:
    return apply(item, parse_update(expr, Placeholders(None, values)))


def test_set_arithmetic_and_functions() -> None:
    out = update(
        "SET n = n + :one, c = if_not_exists(c, :zero) - :one, l = list_append(:front, l), m.child.w = :one",
        {":one": {"N": "1"}, ":zero": {"N": "0"}, ":front": {"L": [{"S": "f"}]}},
    )
    assert out["n"] == {"N": "6"} and out["c"] == {"N": "-1"}
    assert out["l"]["L"][0] == {"S": "f"} and len(out["l"]["L"]) == 4
    assert out["m"]["M"]["child"]["M"]["w"] == {"N": "1"}
    assert ITEM["n"] == {"N": "5"}  # the input is not changed


def test_remove_add_delete() -> None:
    out = update(
        "REMOVE l[0], l[1], s ADD n :two, ss :more, newset :more",
        {":two": {"N": "2"}, ":more": {"SS": ["c", "a"]}},
    )
    assert out["l"]["L"] == [ITEM["l"]["L"][2]]
    assert "s" not in out and out["n"] == {"N": "7"}
    assert sorted(out["ss"]["SS"]) == ["a", "b", "c"] and sorted(out["newset"]["SS"]) == ["a", "c"]
    out = update("DELETE ss :all", {":all": {"SS": ["a", "b"]}})
    assert "ss" not in out


def test_update_errors() -> None:
    with pytest.raises(ServiceError, match="operator or function: \\+, operand type: S"):
        update("SET n = s + :one", {":one": {"N": "1"}})
    with pytest.raises(ServiceError, match="refers to an attribute that does not exist"):
        update("SET n = nope", {})
    with pytest.raises(ServiceError, match="document path provided in the update expression is invalid"):
        update("SET nope.deep = :one", {":one": {"N": "1"}})
    with pytest.raises(ServiceError, match="incorrect data type"):
        update("ADD ss :one", {":one": {"N": "1"}})


def test_delete_from_set() -> None:
    out = update("DELETE ss :a", {":a": {"SS": ["a"]}})
    assert out["ss"] == {"SS": ["b"]}
