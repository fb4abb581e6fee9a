"""The legacy (pre-expression) parameters turned into the same syntax trees the expressions
parse to: Expected, KeyConditions, QueryFilter, ScanFilter (with ConditionalOperator) and
AttributeUpdates."""

from __future__ import annotations

from typing import Any

from squall.services.dynamodb import ast
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.values import INVALID, clean

_COMPARE = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_ARITY = {
    **dict.fromkeys(_COMPARE, 1),
    "NOT_NULL": 0,
    "NULL": 0,
    "CONTAINS": 1,
    "NOT_CONTAINS": 1,
    "BEGINS_WITH": 1,
    "BETWEEN": 2,
}


def _literals(values: list[Any], start: int) -> list[ast.Literal]:
    return [ast.Literal(f":legacy{start + i}", clean(v)) for i, v in enumerate(values)]


def _one(name: str, spec: dict[str, Any], counter: list[int]) -> ast.Condition:
    path = ast.Path((name,))
    op = spec.get("ComparisonOperator")
    values = spec.get("AttributeValueList") or []
    if op is None:  # Expected's Value / Exists form
        exists = spec.get("Exists", True)
        if "Value" in spec and spec["Value"] is not None:
            if exists is False:
                raise validation(f"{INVALID}Value cannot be used when Exists is false for Attribute: {name}")
            op, values = "EQ", [spec["Value"]]
        elif exists is False:
            return ast.Function("attribute_not_exists", (path,))
        else:
            raise validation(f"{INVALID}Value must be provided when Exists is true for Attribute: {name}")
    expected = _ARITY.get(op)
    if op != "IN" and expected is not None and len(values) != expected:
        raise validation(f"{INVALID}Invalid number of argument(s) for the {op} ComparisonOperator")
    if op == "IN" and not values:
        raise validation(f"{INVALID}Invalid number of argument(s) for the IN ComparisonOperator")
    lits = _literals(values, counter[0])
    counter[0] += len(lits)
    if op in _COMPARE:
        return ast.Compare(_COMPARE[op], path, lits[0])
    if op == "NOT_NULL":
        return ast.Function("attribute_exists", (path,))
    if op == "NULL":
        return ast.Function("attribute_not_exists", (path,))
    if op == "CONTAINS":
        return ast.Function("contains", (path, lits[0]))
    if op == "NOT_CONTAINS":
        return ast.Not(ast.Function("contains", (path, lits[0])))
    if op == "BEGINS_WITH":
        return ast.Function("begins_with", (path, lits[0]))
    if op == "BETWEEN":
        return ast.Between(path, lits[0], lits[1])
    return ast.In(path, tuple(lits))


def condition(conditions: dict[str, Any], operator: str | None) -> ast.Condition:
    """One tree for a map of legacy conditions joined by ConditionalOperator (AND by default)."""
    counter = [0]
    nodes = [_one(name, spec, counter) for name, spec in conditions.items()]
    return ast.joined(operator or "AND", nodes)


def updates(attribute_updates: dict[str, Any]) -> list[ast.Action]:
    actions = []
    for i, (name, spec) in enumerate(attribute_updates.items()):
        path = ast.Path((name,))
        action = spec.get("Action") or "PUT"
        value = spec.get("Value")
        lit = ast.Literal(f":legacy{i}", clean(value)) if value is not None else None
        if action == "PUT":
            if lit is None:
                raise validation(
                    f"{INVALID}Only DELETE action is allowed when no attribute value is specified"
                )
            actions.append(ast.Action("SET", path, lit))
        elif action == "DELETE":
            actions.append(ast.Action("REMOVE", path) if lit is None else ast.Action("DELETE", path, lit))
        else:
            if lit is None:
                raise validation(
                    f"{INVALID}Only DELETE action is allowed when no attribute value is specified"
                )
            actions.append(ast.Action("ADD", path, lit))
    return actions
