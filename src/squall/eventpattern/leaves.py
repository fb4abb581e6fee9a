"""Leaf matching: the value conditions of one field, compiled into one closure.

A field's conditions are ORed. Exact values become set lookups; every other
operator becomes a predicate over one scalar. `build_leaf` returns
`match(value)`, where value is what the event holds at the field: a scalar, a
list (any element may match; nested lists are flattened), an object or
`MISSING` (objects count as absent: AWS matches leaf nodes only).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import re2

MISSING: Any = object()

Predicate = Callable[[Any], bool]
LeafMatch = Callable[[Any], bool]


_SCALARS = frozenset({str, int, float, bool, type(None), Decimal})


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
    """Matched by RE2 (linear time): with a backtracking engine a tenant's `*a*a*a*a*b` against
    a 400-character value ran for minutes on the event loop (issue 13, ReDoS)."""
    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False
    compiled = re2.compile("|".join(f"(?:{r})" for r in regexes), options)
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
    lo, lo_incl, hi, hi_incl = -math.inf, True, math.inf, True
    for op, bound in terms:
        if op == "=":
            lo, hi = bound, bound
        elif op in (">", ">="):
            lo, lo_incl = bound, op == ">="
        else:
            hi, hi_incl = bound, op == "<="

    def match(v: Any) -> bool:
        t = type(v)
        if t is int or t is float:
            x = v
        elif t is Decimal:
            x = float(v)
        else:
            return False
        return (x > lo or (lo_incl and x == lo)) and (x < hi or (hi_incl and x == hi))

    return match


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
    strings = frozenset(exact.strings)
    numbers = frozenset(exact.numbers)
    true, false, null = exact.true, exact.false, exact.null

    def scalar(v: Any) -> bool:
        t = type(v)
        if t is str:
            if v in strings:
                return True
        elif t is int or t is float:
            if v in numbers:
                return True
        elif t is bool:
            if true if v else false:
                return True
        elif v is None:
            if null:
                return True
        elif t is Decimal and float(v) in numbers:
            return True
        for p in preds:  # noqa: SIM110 (a loop beats any() with a generator here)
            if p(v):
                return True
        return False

    def match(value: Any) -> bool:
        t = type(value)
        if t is list:
            values = [v for v in flatten(value) if not isinstance(v, Mapping)]
            if not values:
                return exists_false
            if exists_true:
                return True
            for v in values:  # noqa: SIM110
                if scalar(v):
                    return True
            return False
        if t in _SCALARS:
            return exists_true or scalar(value)
        if t is dict or value is MISSING or isinstance(value, Mapping):
            return exists_false
        return exists_true or scalar(value)

    if preds or exists or numbers or true or false or null:
        return match

    def match_strings(value: Any) -> bool:
        # The common leaf: exact strings only.
        if type(value) is str:
            return value in strings
        return match(value)

    return match_strings
