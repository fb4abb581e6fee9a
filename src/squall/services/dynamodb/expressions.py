"""The expressions of one request: placeholders checked and resolved, each expression parsed
once, unused placeholders reported; the legacy (pre-expression) parameters translated to the
same trees (legacy.py), never mixed with expressions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from squall.services.dynamodb import ast, legacy
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.evaluate import check_condition
from squall.services.dynamodb.parser import Placeholders, parse_condition, parse_projection, parse_update
from squall.services.dynamodb.values import clean

LEGACY = ("Expected", "AttributeUpdates", "ScanFilter", "QueryFilter", "KeyConditions")
EXPRESSIONS = ("ConditionExpression", "UpdateExpression", "FilterExpression", "KeyConditionExpression")
#: The legacy parameter(s) each expression replaces.
LEGACY_FOR = {
    "ConditionExpression": ("Expected",),
    "FilterExpression": ("QueryFilter", "ScanFilter"),
    "KeyConditionExpression": ("KeyConditions",),
}


#: Every parameter that makes a request use expressions or their legacy forms.
_ANY = frozenset((*LEGACY, *EXPRESSIONS, "AttributesToGet", "ProjectionExpression")) | {
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
}
_NO_PLACEHOLDERS = Placeholders(None, None)


class Expressions:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        #: No expression, legacy form or placeholder given: every accessor answers None at once.
        self.empty = params.keys().isdisjoint(_ANY)
        if self.empty:
            self.ph = _NO_PLACEHOLDERS
            return
        old = [n for n in (*LEGACY, "AttributesToGet") if params.get(n) is not None]
        new = [n for n in (*EXPRESSIONS, "ProjectionExpression") if params.get(n) is not None]
        if old and new:
            raise validation(
                "Can not use both expression and non-expression parameters in the same request: "
                f"Non-expression parameters: {{{', '.join(old)}}} Expression parameters: {{{', '.join(new)}}}"
            )
        names = params.get("ExpressionAttributeNames")
        values = params.get("ExpressionAttributeValues")
        if names is not None and not names:
            raise validation("ExpressionAttributeNames must not be empty")
        if values is not None and not values:
            raise validation("ExpressionAttributeValues must not be empty")
        if names and not any(params.get(e) is not None for e in (*EXPRESSIONS, "ProjectionExpression")):
            raise validation("ExpressionAttributeNames can only be specified when using expressions")
        if values and not any(params.get(e) is not None for e in EXPRESSIONS):
            raise validation("ExpressionAttributeValues can only be specified when using expressions")
        cleaned = {k: clean(v) for k, v in (values or {}).items()}
        self.ph = Placeholders(names, cleaned)

    def condition(self, key: str) -> ast.Condition | None:
        if self.empty:
            return None
        source = self.params.get(key)
        if source is None:
            found = next((self.params[n] for n in LEGACY_FOR[key] if self.params.get(n)), None)
            if found is None:
                return None
            node = legacy.condition(found, self.params.get("ConditionalOperator"))
        else:
            node = parse_condition(source, key, self.ph)
        check_condition(node, key)
        return node

    def update(self) -> list[ast.Action] | None:
        if self.empty:
            return None
        source = self.params.get("UpdateExpression")
        if source is None:
            old = self.params.get("AttributeUpdates")
            return legacy.updates(old) if old else None
        return parse_update(source, self.ph)

    def projection(self) -> list[ast.Path] | None:
        if self.empty:
            return None
        source = self.params.get("ProjectionExpression")
        if source is None:
            attrs = self.params.get("AttributesToGet")
            return [ast.Path((a,)) for a in attrs] if attrs else None
        return parse_projection(source, self.ph)

    def done(self) -> None:
        if not self.empty:
            self.ph.check_unused()


def capacity(
    params: dict[str, Any],
    table: str,
    size: int | Callable[[], int],
    *,
    write: bool = False,
    consistent: bool = True,
) -> dict[str, Any] | None:
    """ConsumedCapacity as AWS computes it (1 KB write units, 4 KB read units, half for eventual
    reads), or None unless ReturnConsumedCapacity asks for it."""
    mode = params.get("ReturnConsumedCapacity") or "NONE"
    if mode == "NONE":
        return None
    if callable(size):
        size = size()
    if write:
        units = float(max(1, math.ceil(size / 1024)))
    else:
        units = max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)
    out: dict[str, Any] = {"TableName": table, "CapacityUnits": units}
    out["WriteCapacityUnits" if write else "ReadCapacityUnits"] = units
    if mode == "INDEXES":
        out["Table"] = {"CapacityUnits": units}
    return out


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def capacity_list(
    params: dict[str, Any], units: dict[str, float], *, write: bool
) -> list[dict[str, Any]] | None:
    """ConsumedCapacity of a batch or transaction: one entry per table, units already summed."""
    mode = params.get("ReturnConsumedCapacity") or "NONE"
    if mode == "NONE":
        return None
    out = []
    for table, n in units.items():
        entry: dict[str, Any] = {"TableName": table, "CapacityUnits": n}
        entry["WriteCapacityUnits" if write else "ReadCapacityUnits"] = n
        if mode == "INDEXES":
            entry["Table"] = {"CapacityUnits": n}
        out.append(entry)
    return out
