"""Evaluating condition expressions and projections on an item (wire-form values)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from squall.services.dynamodb import ast
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.values import Item, Value, equal, kind, scalar

TYPE_NAMES = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")
_ORDERED = ("S", "N", "B")


def resolve(item: Item | None, path: ast.Path) -> Value | None:
    if item is None:
        return None
    first = path.parts[0]
    current: Value | None = item.get(first) if isinstance(first, str) else None
    for part in path.parts[1:]:
        if current is None:
            return None
        if isinstance(part, int):
            lst = current.get("L")
            current = lst[part] if lst is not None and part < len(lst) else None
        else:
            m = current.get("M")
            current = m.get(part) if m is not None else None
    return current


def operand(item: Item | None, node: ast.Operand) -> Value | None:
    if isinstance(node, ast.Path):
        return resolve(item, node)
    if isinstance(node, ast.Literal):
        return node.value
    value = resolve(item, node.path)
    if value is None:
        return None
    k, v = next(iter(value.items()))
    if k in ("S",):
        return {"N": str(len(v))}
    if k == "B":
        return {"N": str(len(v))}
    if k in ("SS", "NS", "BS", "L", "M"):
        return {"N": str(len(v))}
    return None


def _less(a: Value, b: Value) -> bool | None:
    ka, kb = kind(a), kind(b)
    if ka != kb or ka not in _ORDERED:
        return None
    return bool(scalar(a) < scalar(b))


def _compare(op: str, a: Value | None, b: Value | None) -> bool:
    if a is None or b is None:  # a missing operand: only "<>" holds (even between two missing ones)
        return op == "<>"
    if op == "<>":
        return not equal(a, b)
    if op == "=":
        return equal(a, b)
    if kind(a) != kind(b) or kind(a) not in _ORDERED:
        return False
    x, y = scalar(a), scalar(b)
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _contains(container: Value, element: Value) -> bool:
    k, v = next(iter(container.items()))
    ek, ev = next(iter(element.items()))
    if k == "S":
        return ek == "S" and ev in v
    if k == "B":
        return ek == "B" and bytes(ev) in bytes(v)
    if k == "SS":
        return ek == "S" and ev in v
    if k == "NS":
        return ek == "N" and Decimal(ev) in {Decimal(x) for x in v}
    if k == "BS":
        return ek == "B" and bytes(ev) in {bytes(x) for x in v}
    if k == "L":
        return any(equal(x, element) for x in v)
    return False


def _function(item: Item | None, node: ast.Function) -> bool:
    target = node.args[0]
    assert isinstance(target, ast.Path)
    value = resolve(item, target)
    if node.name == "attribute_exists":
        return value is not None
    if node.name == "attribute_not_exists":
        return value is None
    arg = operand(item, node.args[1])
    if value is None or arg is None:
        return False
    if node.name == "attribute_type":
        return kind(value) == arg.get("S")
    if node.name == "begins_with":
        if kind(value) != kind(arg) or kind(value) not in ("S", "B"):
            return False
        return bool(scalar(value).startswith(scalar(arg)))
    return _contains(value, arg)


def matches(item: Item | None, node: ast.Condition) -> bool:
    """Whether `item` (None: no item) satisfies the condition."""
    if isinstance(node, ast.Logical):
        if node.op == "AND":
            return matches(item, node.left) and matches(item, node.right)
        return matches(item, node.left) or matches(item, node.right)
    if isinstance(node, ast.Not):
        return not matches(item, node.operand)
    if isinstance(node, ast.Compare):
        return _compare(node.op, operand(item, node.left), operand(item, node.right))
    if isinstance(node, ast.Between):
        v, lo, hi = (operand(item, x) for x in (node.operand, node.low, node.high))
        if v is None or lo is None or hi is None:
            return False
        return _less(v, lo) is False and _less(hi, v) is False
    if isinstance(node, ast.In):
        v = operand(item, node.operand)
        return v is not None and any(equal(v, operand(item, o)) for o in node.options)
    return _function(item, node)


def check_condition(node: ast.Condition, what: str) -> None:
    """Static checks AWS makes on literal operands before evaluating anything."""
    if isinstance(node, ast.Logical):
        check_condition(node.left, what)
        check_condition(node.right, what)
    elif isinstance(node, ast.Not):
        check_condition(node.operand, what)
    elif isinstance(node, ast.Compare) and node.op not in ("=", "<>"):
        for side in (node.left, node.right):
            if isinstance(side, ast.Literal) and kind(side.value) not in _ORDERED:
                raise validation(
                    f"Invalid {what}: Incorrect operand type for operator or function; "
                    f"operator or function: {node.op}, operand type: {kind(side.value)}"
                )
    elif isinstance(node, ast.Between):
        lo, hi = node.low, node.high
        for side in (node.operand, lo, hi):
            if isinstance(side, ast.Literal) and kind(side.value) not in _ORDERED:
                raise validation(
                    f"Invalid {what}: Incorrect operand type for operator or function; "
                    f"operator or function: BETWEEN, operand type: {kind(side.value)}"
                )
        if isinstance(lo, ast.Literal) and isinstance(hi, ast.Literal) and _less(hi.value, lo.value):
            raise validation(
                f"Invalid {what}: The BETWEEN operator requires upper bound to be greater than or equal to lower "
                f"bound; lower bound operand: AttributeValue: {_show(lo.value)}, upper bound operand: "
                f"AttributeValue: {_show(hi.value)}"
            )
    elif isinstance(node, ast.Function) and node.name == "attribute_type":
        arg = node.args[1]
        if isinstance(arg, ast.Literal) and arg.value.get("S") not in TYPE_NAMES:
            raise validation(
                f"Invalid {what}: Invalid attribute type name found; type: {next(iter(arg.value.values()))}, "
                "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
            )


def _show(value: Value) -> str:
    k, v = next(iter(value.items()))
    return f"{{{k}:{v}}}"


def project(item: Item, paths: list[ast.Path]) -> Item:
    """The parts of `item` the projection names (nested maps and lists kept in shape)."""
    out: dict[str, Any] = {}
    for path in paths:
        value = resolve(item, path)
        if value is None:
            continue
        _place(out, path.parts, value, item)
    return {k: _finish(v) for k, v in out.items()}


class _Partial(dict[int, Any]):
    """List elements picked by index while projecting."""


def _place(out: dict[str, Any], parts: tuple[ast.PathPart, ...], value: Value, source: Any) -> None:
    head = parts[0]
    assert isinstance(head, str)
    if len(parts) == 1:
        out[head] = value
        return
    nxt = parts[1]
    src = source[head]
    if isinstance(nxt, int):
        holder = out.setdefault(head, {"L": _Partial()})
        _place_list(holder["L"], parts[1:], value, src["L"])
    else:
        holder = out.setdefault(head, {"M": {}})
        _place(holder["M"], parts[1:], value, src["M"])


def _place_list(
    out: dict[int, Any], parts: tuple[ast.PathPart, ...], value: Value, source: list[Any]
) -> None:
    index = parts[0]
    assert isinstance(index, int)
    if len(parts) == 1:
        out[index] = value
        return
    nxt = parts[1]
    src = source[index]
    if isinstance(nxt, int):
        holder = out.setdefault(index, {"L": _Partial()})
        _place_list(holder["L"], parts[1:], value, src["L"])
    else:
        holder = out.setdefault(index, {"M": {}})
        _place(holder["M"], parts[1:], value, src["M"])


def _finish(value: Any) -> Any:
    k, v = next(iter(value.items()))
    if isinstance(v, _Partial):
        return {"L": [_finish(v[i]) for i in sorted(v)]}
    if k == "M":
        return {"M": {n: _finish(x) for n, x in v.items()}}
    return value
