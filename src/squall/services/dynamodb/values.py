"""Attribute values in their wire form (`{"S": "x"}`, `{"N": "1"}`, `{"B": b"..."}`,
`{"SS": [...]}`, `{"L": [...]}`, `{"M": {...}}`, `{"BOOL": True}`, `{"NULL": True}`):
validation with AWS's messages, canonical numbers, AWS's size, and the key encoding that
makes stored keys sort as DynamoDB sorts them (S by UTF-8 bytes, N numerically, B by bytes).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from squall.services.dynamodb import numbers
from squall.services.dynamodb.errors import validation
from squall.storage import pack

Value = dict[str, Any]
Item = dict[str, Value]

TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
SET_TYPES = {"SS": "S", "NS": "N", "BS": "B"}
_SET_NAMES = {"SS": "string", "NS": "number", "BS": "binary"}
MAX_ITEM = 400 * 1024
MAX_HASH = 2048
MAX_RANGE = 1024
INVALID = "One or more parameter values were invalid: "


#: Integers that are their own canonical form (no sign on zero, no leading zeros, <= 38 digits).
PLAIN_INT = re.compile(r"-?[1-9][0-9]{0,37}")


def kind(value: Value) -> str:
    return next(iter(value))


def clean(value: Any, *, depth: int = 0) -> Value:
    """A validated copy of a wire value (numbers made canonical)."""
    if (
        type(value) is dict and len(value) == 1 and depth <= 32
    ):  # the usual wire form: one member, checked cheaply
        k, v = next(iter(value.items()))
        if k == "S" and type(v) is str:
            return {"S": v}
        if k == "N" and type(v) is str and PLAIN_INT.fullmatch(v):
            return {"N": v}  # already canonical
        if k == "M" and type(v) is dict:
            return {"M": {name: clean(x, depth=depth + 1) for name, x in v.items()}}
        if k == "L" and type(v) is list:
            return {"L": [clean(x, depth=depth + 1) for x in v]}
    if not isinstance(value, dict):
        raise validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    present = [(k, v) for k, v in value.items() if v is not None and k in TYPES]
    if not present:
        raise validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    if len(present) > 1:
        raise validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported "
            "datatypes"
        )
    if depth > 32:
        raise validation("Nesting Levels have exceeded supported limits: Maximum nesting level of 32")
    k, v = present[0]
    try:
        if k == "N":
            return {"N": numbers.canonical(v)}
        if k in SET_TYPES:
            if not v:
                raise validation(f"{INVALID}An {_SET_NAMES[k]} set  may not be empty")
            items = [numbers.canonical(x) for x in v] if k == "NS" else list(v)
            if len(set(items)) != len(items):
                shown = ", ".join(str(x) for x in v)
                raise validation(f"{INVALID}Input collection [{shown}] contains duplicates.")
            return {k: items}
    except numbers.NumberError as exc:
        raise validation(str(exc)) from None
    if k == "L":
        return {"L": [clean(x, depth=depth + 1) for x in v]}
    if k == "M":
        return {"M": {name: clean(x, depth=depth + 1) for name, x in v.items()}}
    if k in ("NULL", "BOOL"):
        if k == "NULL" and v is not True:
            raise validation(f"{INVALID}Null attribute value types must have the value of true")
        return {k: bool(v)}
    return {k: v}


def clean_item(item: dict[str, Any]) -> Item:
    return {name: clean(v) for name, v in item.items()}


def _name_size(name: str) -> int:
    return len(name) if name.isascii() else len(name.encode("utf-8", "surrogatepass"))


def _str_size(v: str) -> int:
    return len(v) if v.isascii() else len(v.encode("utf-8", "surrogatepass"))


def _clean_sized(value: Any, depth: int) -> tuple[Value, int]:
    """`clean(value)` and its `value_size` in one walk (the usual forms inline, the rest via both)."""
    if type(value) is dict and len(value) == 1 and depth <= 32:
        ((k, v),) = value.items()
        if k == "S":
            if type(v) is str:
                return {"S": v}, _str_size(v)
        elif k == "N":
            if type(v) is str and PLAIN_INT.fullmatch(v):
                return {"N": v}, 1 + (len(v.lstrip("-").rstrip("0")) + 1) // 2
        elif k == "M":
            if type(v) is dict:
                members: Item = {}
                size = 3
                for name, x in v.items():
                    s = x.get("S") if type(x) is dict and len(x) == 1 else None
                    if type(s) is str:  # inline: the most common member
                        members[name], n = {"S": s}, _str_size(s)
                    else:
                        members[name], n = _clean_sized(x, depth + 1)
                    size += len(name.encode()) + n + 1
                return {"M": members}, size
        elif k == "L":
            if type(v) is list:
                elements: list[Value] = []
                size = 3
                for x in v:
                    c, n = _clean_sized(x, depth + 1)
                    elements.append(c)
                    size += n + 1
                return {"L": elements}, size
        elif k == "SS":
            if type(v) is list and v and all(type(x) is str for x in v) and len(set(v)) == len(v):
                return {"SS": list(v)}, sum(_str_size(x) for x in v)
        elif k == "BOOL":
            if type(v) is bool:
                return {"BOOL": v}, 1
        elif k == "B" and type(v) is bytes:
            return {"B": v}, len(v)
    cleaned = clean(value, depth=depth)
    return cleaned, value_size(cleaned)


def clean_item_sized(item: dict[str, Any]) -> tuple[Item, int]:
    """`clean_item(item)` and its `item_size`, in one walk."""
    out: Item = {}
    total = 0
    for name, v in item.items():
        s = v.get("S") if type(v) is dict and len(v) == 1 else None
        if type(s) is str:  # inline: the most common attribute
            out[name], n = {"S": s}, len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
        else:
            out[name], n = _clean_sized(v, 0)
        total += n + (len(name) if name.isascii() else len(name.encode("utf-8", "surrogatepass")))
    return out, total


def value_size(value: Value) -> int:
    k, v = next(iter(value.items()))
    if k == "S":
        return _str_size(v)
    if k == "N":
        if PLAIN_INT.fullmatch(v):  # 1 byte + half the digits, trailing zeros trimmed
            return 1 + (len(v.lstrip("-").rstrip("0")) + 1) // 2
        return numbers.size(Decimal(v))
    if k == "B":
        return len(v)
    if k in ("BOOL", "NULL"):
        return 1
    if k == "SS":
        return sum(_str_size(x) for x in v)
    if k == "NS":
        return sum(numbers.size(Decimal(x)) for x in v)
    if k == "BS":
        return sum(len(x) for x in v)
    if k == "L":
        return 3 + sum(value_size(x) + 1 for x in v)
    return 3 + sum(len(n.encode()) + value_size(x) + 1 for n, x in v.items())


def item_size(item: Item) -> int:
    total = 0
    for name, v in item.items():
        total += _name_size(name) + value_size(v)
    return total


def sort_key(value: Value) -> bytes:
    """The order-preserving bytes of a key value (S, N or B)."""
    k, v = next(iter(value.items()))
    if k == "S":
        return pack(v)
    if k == "N":
        return pack(numbers.encode(Decimal(v)))
    return pack(bytes(v))


def equal(a: Value | None, b: Value | None) -> bool:
    if a is None or b is None:
        return a is b
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return False
    if ka == "N":
        return Decimal(a["N"]) == Decimal(b["N"])
    if ka == "NS":
        return {Decimal(x) for x in a["NS"]} == {Decimal(x) for x in b["NS"]}
    if ka in ("SS", "BS"):
        return set(a[ka]) == set(b[kb])
    if ka == "L":
        return len(a["L"]) == len(b["L"]) and all(equal(x, y) for x, y in zip(a["L"], b["L"], strict=True))
    if ka == "M":
        return a["M"].keys() == b["M"].keys() and all(equal(x, b["M"][n]) for n, x in a["M"].items())
    return bool(a[ka] == b[kb])


def scalar(value: Value) -> Any:
    """The comparable Python value of an S, N or B (None for other types)."""
    k, v = next(iter(value.items()))
    if k == "N":
        return Decimal(v)
    if k in ("S", "B"):
        return v if k == "S" else bytes(v)
    return None


def items_equal(a: Item | None, b: Item | None) -> bool:
    if a is None or b is None:
        return a is b
    if a == b:  # identical wire forms are equal values (numbers are canonical); the rest compare as values
        return True
    return a.keys() == b.keys() and all(equal(v, b[n]) for n, v in a.items())
