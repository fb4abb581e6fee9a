"""Leaf matching: the value conditions of one field, compiled into one closure.

A field's conditions are ORed. Exact values become set lookups; every other
operator becomes a predicate over one scalar. `build_leaf` returns
`match(value)`, where value is what the event holds at the field: a scalar, a
list (any element may match; nested lists are flattened), an object or
`MISSING` (objects count as absent: AWS matches leaf nodes only).
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

MISSING: Any = object()

Predicate = Callable[[Any], bool]
LeafMatch = Callable[[Any], bool]


def is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float or t is Decimal


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def flatten(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if type(v) is list:
            out.extend(flatten(v))
        else:
            out.append(v)
    return out


class Exact:
    """Exact values of one leaf, by JSON type."""

    def __init__(self) -> None:
        self.strings: set[str] = set()
        self.numbers: set[float] = set()
        self.true = False
        self.false = False
        self.null = False

    def add(self, value: Any) -> None:
        if value is None:
            self.null = True
        elif value is True:
            self.true = True
        elif value is False:
            self.false = True
        elif isinstance(value, str):
            self.strings.add(value)
        else:
            self.numbers.add(float(value))

    def contains(self, v: Any) -> bool:
        t = type(v)
        if t is str:
            return v in self.strings
        if t is bool:
            return self.true if v else self.false
        if v is None:
            return self.null
        if t is int or t is float or t is Decimal:
            return float(v) in self.numbers
        return False


# --- string operators ------------------------------------------------------------


def prefix(text: str, ignore_case: bool = False) -> Predicate:
    if ignore_case:
        low = text.lower()
        return lambda v: type(v) is str and v.lower().startswith(low)
    return lambda v: type(v) is str and v.startswith(text)


def suffix(text: str, ignore_case: bool = False) -> Predicate:
    if ignore_case:
        low = text.lower()
        return lambda v: type(v) is str and v.lower().endswith(low)
    return lambda v: type(v) is str and v.endswith(text)


def equals_ignore_case(texts: Iterable[str]) -> Predicate:
    lows = frozenset(t.lower() for t in texts)
    return lambda v: type(v) is str and v.lower() in lows


def parse_wildcard(text: str) -> tuple[str, int] | str:
    """The regex for a wildcard pattern, or (reason, position) when it is malformed.

    `*` matches any run of characters; `\\*` is a literal star and `\\\\` a
    literal backslash; a backslash before anything else, and two stars in a
    row, are refused.
    """
    parts: list[str] = []
    i = 0
    last_star = -2
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt not in ("*", "\\"):
                return ("Invalid escape character at pos ", i)
            parts.append(re.escape(nxt))
            i += 2
            continue
        if c == "*":
            if last_star == i - 1:
                return ("Consecutive wildcard characters at pos ", i)
            last_star = i
            parts.append(".*")
        else:
            parts.append(re.escape(c))
        i += 1
    return "".join(parts)


def wildcard(regexes: Iterable[str]) -> Predicate:
    compiled = re.compile("|".join(f"(?:{r})" for r in regexes), re.DOTALL)
    full = compiled.fullmatch
    return lambda v: type(v) is str and full(v) is not None


def cidr(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Predicate:
    def match(v: Any) -> bool:
        if type(v) is not str:
            return False
        try:
            return ipaddress.ip_address(v) in network
        except ValueError:
            return False

    return match


# --- numeric -------------------------------------------------------------------


def numeric(terms: list[tuple[str, float]]) -> Predicate:
    """A conjunction of comparisons, e.g. [(">", 0), ("<=", 5)], over numbers only."""
    (op1, b1), *rest = terms
    cmp1 = _COMPARE[op1]
    if not rest:
        return lambda v: is_number(v) and cmp1(float(v), b1)
    ((op2, b2),) = rest
    cmp2 = _COMPARE[op2]
    return lambda v: is_number(v) and cmp1(float(v), b1) and cmp2(float(v), b2)


# --- anything-but ----------------------------------------------------------------


def anything_but_values(values: Iterable[Any]) -> Predicate:
    excluded = Exact()
    for v in values:
        excluded.add(v)
    return lambda v: not excluded.contains(v)


def anything_but(inner: Predicate) -> Predicate:
    """Anything but a string operator: strings that fail it, and every non-string."""
    return lambda v: type(v) is not str or not inner(v)


# --- the leaf ---------------------------------------------------------------------


def build_leaf(exact: Exact, predicates: list[Predicate], exists: set[bool]) -> LeafMatch:
    exists_true = True in exists
    exists_false = False in exists
    preds = tuple(predicates)
    contains = exact.contains

    if preds:

        def scalar(v: Any) -> bool:
            if contains(v):
                return True
            return any(p(v) for p in preds)

    else:
        scalar = contains

    def match(value: Any) -> bool:
        if value is MISSING or isinstance(value, dict):
            return exists_false
        if type(value) is list:
            leaves = [v for v in flatten(value) if not isinstance(v, dict)]
            if not leaves:
                return exists_false
            return exists_true or any(scalar(v) for v in leaves)
        return exists_true or scalar(value)

    return match
