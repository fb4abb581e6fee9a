"""Applying an UpdateExpression's actions to an item, with AWS's semantics: every operand is
evaluated against the item as it was before the update, then the actions apply in order."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from squall.services.dynamodb import ast, numbers
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.evaluate import resolve
from squall.services.dynamodb.values import SET_TYPES, Item, Value, kind

_WHAT = "Invalid UpdateExpression: "
_MISSING = "The provided expression refers to an attribute that does not exist in the item"
_BAD_PATH = "The document path provided in the update expression is invalid for update"


def _operand_error(op: str, value: Value) -> Exception:
    return validation(
        f"{_WHAT}Incorrect operand type for operator or function; operator or function: {op}, "
        f"operand type: {kind(value)}"
    )


def _value(item: Item, node: ast.SetValue) -> Value:
    if isinstance(node, ast.Literal):
        return node.value
    if isinstance(node, ast.Path):
        found = resolve(item, node)
        if found is None:
            raise validation(_MISSING)
        return found
    if isinstance(node, ast.IfNotExists):
        found = resolve(item, node.path)
        return found if found is not None else _value(item, node.default)
    if isinstance(node, ast.ListAppend):
        first, second = _value(item, node.first), _value(item, node.second)
        for v in (first, second):
            if kind(v) != "L":
                raise _operand_error("list_append", v)
        return {"L": [*first["L"], *second["L"]]}
    left, right = _value(item, node.left), _value(item, node.right)
    for v in (left, right):
        if kind(v) != "N":
            raise _operand_error(node.op, v)
    a, b = Decimal(left["N"]), Decimal(right["N"])
    try:
        result = numbers.add(a, b) if node.op == "+" else numbers.subtract(a, b)
    except numbers.NumberError as exc:
        raise validation(str(exc)) from None
    return {"N": numbers.text(result)}


def _parent(item: Item, path: ast.Path) -> tuple[Any, ast.PathPart] | None:
    """The container holding the path's last element (a dict of attributes or a list), or None."""
    container: Any = item
    for part in path.parts[:-1]:
        if isinstance(part, int):
            if not isinstance(container, list) or part >= len(container):
                return None
            nxt = container[part]
        else:
            if not isinstance(container, dict) or part not in container:
                return None
            nxt = container[part]
        k = kind(nxt)
        if k == "M":
            container = nxt["M"]
        elif k == "L":
            container = nxt["L"]
        else:
            return None
    last = path.parts[-1]
    if isinstance(last, int) != isinstance(container, list):
        return None
    return container, last


def _set(item: Item, path: ast.Path, value: Value) -> None:
    found = _parent(item, path)
    if found is None:
        raise validation(_BAD_PATH)
    container, last = found
    if isinstance(container, list):
        assert isinstance(last, int)
        if last < len(container):
            container[last] = value
        else:
            container.append(value)
    else:
        container[last] = value


def _remove(item: Item, path: ast.Path) -> None:
    found = _parent(item, path)
    if found is None:
        return
    container, last = found
    if isinstance(container, list):
        assert isinstance(last, int)
        if last < len(container):
            del container[last]
    else:
        container.pop(last, None)


def _add(item: Item, path: ast.Path, value: Value) -> None:
    current = resolve(item, path)
    vk = kind(value)
    if vk not in ("N", *SET_TYPES):
        raise _operand_error("ADD", value)
    if current is None:
        _set(item, path, copy.deepcopy(value))
        return
    ck = kind(current)
    if ck != vk:
        raise validation(f"{_WHAT}An operand in the update expression has an incorrect data type")
    if vk == "N":
        try:
            total = numbers.add(Decimal(current["N"]), Decimal(value["N"]))
        except numbers.NumberError as exc:
            raise validation(str(exc)) from None
        _set(item, path, {"N": numbers.text(total)})
        return
    merged = list(current[ck])
    seen = {_set_key(vk, x) for x in merged}
    for x in value[vk]:
        if _set_key(vk, x) not in seen:
            merged.append(x)
            seen.add(_set_key(vk, x))
    _set(item, path, {vk: merged})


def _delete(item: Item, path: ast.Path, value: Value) -> None:
    vk = kind(value)
    if vk not in SET_TYPES:
        raise _operand_error("DELETE", value)
    current = resolve(item, path)
    if current is None:
        return
    if kind(current) != vk:
        raise validation(f"{_WHAT}An operand in the update expression has an incorrect data type")
    gone = {_set_key(vk, x) for x in value[vk]}
    kept = [x for x in current[vk] if _set_key(vk, x) not in gone]
    if kept:
        _set(item, path, {vk: kept})
    else:
        _remove(item, path)


def _set_key(set_kind: str, element: Any) -> Any:
    if set_kind == "NS":
        return Decimal(element)
    if set_kind == "BS":
        return bytes(element)
    return element


def apply(item: Item, actions: list[ast.Action]) -> Item:
    """A new item: `item` with the actions applied (`item` itself is not changed)."""
    values = [_value(item, a.value) if a.verb == "SET" and a.value is not None else None for a in actions]
    out = copy.deepcopy(item)
    pairs = [(a, v) for a, v in zip(actions, values, strict=True) if a.verb != "REMOVE"]
    # list elements are removed by their index in the original list: highest first
    removals = sorted((a for a in actions if a.verb == "REMOVE"), key=lambda a: a.path.parts, reverse=True)
    for action in removals:
        _remove(out, action.path)
    for action, value in pairs:
        if action.verb == "SET":
            assert value is not None
            _set(out, action.path, copy.deepcopy(value))
        elif action.verb == "ADD":
            assert isinstance(action.value, ast.Literal)
            _add(out, action.path, action.value.value)
        else:
            assert isinstance(action.value, ast.Literal)
            _delete(out, action.path, action.value.value)
    return out
