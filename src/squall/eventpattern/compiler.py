"""Pattern compilation: validate a pattern per dialect and build its matcher tree.

The tree is closures: an object node checks its fields in order (keys AND) and
its `$or` groups; a field is either a nested object node or a leaf
(`leaves.build_leaf`). Nothing is parsed again when an event is matched.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from squall.eventpattern import leaves
from squall.eventpattern.errors import Dialect, PatternError, pattern_error

SnsScope = Literal["MessageAttributes", "MessageBody"]
Matcher = Callable[[Any], bool]

_EMPTY: Mapping[str, Any] = {}
SNS_MAX_KEYS = 5
SNS_MAX_COMBINATIONS = 150

# Operators each dialect accepts: top-level match types and those inside anything-but.
_OPERATORS: dict[str, frozenset[str]] = {
    "eventbridge": frozenset(
        {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"}
    ),
    "sns": frozenset(
        {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"}
    ),
    "lambda": frozenset({"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case"}),
}
_ANYTHING_BUT_OPERATORS: dict[str, frozenset[str]] = {
    "eventbridge": frozenset({"prefix", "suffix", "equals-ignore-case", "wildcard"}),
    "sns": frozenset({"prefix", "suffix"}),
    "lambda": frozenset(),
}
_NUMERIC_OPS = frozenset({"=", "<", "<=", ">", ">="})


class Pattern:
    """A compiled pattern; `matches` takes the event as parsed JSON (dicts, lists, scalars)."""

    __slots__ = ("_root", "dialect", "source")

    def __init__(self, root: Matcher, dialect: Dialect, source: dict[str, Any]) -> None:
        self._root = root
        self.dialect = dialect
        self.source = source

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self._root(event)

    def __repr__(self) -> str:
        return f"Pattern({self.dialect}, {json.dumps(self.source)[:80]})"


def compile_pattern(
    pattern: str | dict[str, Any], *, dialect: Dialect, scope: SnsScope | None = None
) -> Pattern:
    """Compile an EventBridge event pattern, SNS filter policy or Lambda filter pattern.

    `scope` is SNS's FilterPolicyScope: "MessageAttributes" refuses nested
    policies as AWS does; "MessageBody" or None allows them. Raises
    `PatternError` with AWS's message for the dialect.
    """
    if dialect not in _OPERATORS:
        raise ValueError(f"unknown dialect {dialect!r}")
    if isinstance(pattern, str):
        try:
            doc = json.loads(pattern)
        except ValueError as exc:
            raise pattern_error(dialect, f"failed to parse JSON: {exc}") from None
    else:
        doc = pattern
    if not isinstance(doc, dict):
        raise pattern_error(dialect, "Filter is not an object")
    compiler = _Compiler(dialect, scope)
    if dialect == "sns":
        if len(doc) > SNS_MAX_KEYS:
            raise compiler.error("Filter policy can not have more than 5 keys")
        if _combinations(doc, 1, 1) > SNS_MAX_COMBINATIONS:
            raise compiler.error("Filter policy is too complex")
    return Pattern(compiler.object_node(doc, 1), dialect, doc)


def _combinations(doc: Mapping[str, Any], depth: int, acc: int) -> int:
    # AWS: multiply the number of values of each array by its nesting depth; $or adds.
    for key, value in doc.items():
        if key == "$or" and _is_or(value):
            acc = sum(_combinations(alt, depth, acc) for alt in value)
        elif isinstance(value, dict):
            acc = _combinations(value, depth + 1, acc)
        elif isinstance(value, list):
            acc *= max(len(value), 1) * depth
    return acc


def _is_or(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Compiler:
    def __init__(self, dialect: Dialect, scope: SnsScope | None) -> None:
        self.dialect = dialect
        self.nested_allowed = not (dialect == "sns" and scope == "MessageAttributes")
        self.operators = _OPERATORS[dialect]
        self.anything_but_operators = _ANYTHING_BUT_OPERATORS[dialect]

    def error(self, reason: str) -> PatternError:
        if self.dialect == "sns" and reason.startswith("Filter policy scope"):
            return PatternError("Invalid parameter: " + reason, reason)
        return pattern_error(self.dialect, reason)

    # --- structure ---------------------------------------------------------------

    def object_node(self, doc: Mapping[str, Any], depth: int) -> Matcher:
        fields: list[tuple[str, Matcher]] = []
        groups: list[tuple[Matcher, ...]] = []
        for key, value in doc.items():
            if key == "$or" and _is_or(value):
                groups.append(tuple(self.object_node(alt, depth) for alt in value))
            elif isinstance(value, dict):
                if not self.nested_allowed:
                    raise self.error(
                        "Filter policy scope MessageAttributes does not support nested filter policy"
                    )
                fields.append((key, self.object_node(value, depth + 1)))
            elif isinstance(value, list):
                if not value:
                    raise self.error("Empty arrays are not allowed")
                fields.append((key, self.leaf(value)))
            else:
                raise self.error(f'"{key}" must be an object or an array')
        return _object_matcher(tuple(fields), tuple(groups))

    def leaf(self, conditions: list[Any]) -> Matcher:
        exact = leaves.Exact()
        predicates: list[leaves.Predicate] = []
        exists: set[bool] = set()
        for cond in conditions:
            if cond is None or isinstance(cond, str | bool) or _is_number(cond):
                exact.add(cond)
            elif isinstance(cond, dict):
                if len(cond) != 1:
                    raise self.error("Only one key allowed in match expression")
                ((op, arg),) = cond.items()
                if op not in self.operators:
                    raise self.error(f"Unrecognized match type {op}")
                if op == "exists":
                    if not isinstance(arg, bool):
                        raise self.error("exists match pattern must be either true or false.")
                    exists.add(arg)
                else:
                    predicates.append(self.operator(op, arg))
            else:
                raise self.error("Match value must be String, number, true, false, or null")
        return leaves.build_leaf(exact, predicates, exists)

    # --- operators ---------------------------------------------------------------

    def operator(self, op: str, arg: Any) -> leaves.Predicate:
        if op in ("prefix", "suffix"):
            text, ignore_case = self.affix_argument(op, arg)
            return leaves.prefix(text, ignore_case) if op == "prefix" else leaves.suffix(text, ignore_case)
        if op == "equals-ignore-case":
            return leaves.equals_ignore_case([self.string(op, arg)])
        if op == "wildcard":
            return leaves.wildcard([self.wildcard_regex(arg)])
        if op == "cidr":
            return leaves.cidr(self.network(arg))
        if op == "numeric":
            return leaves.numeric(self.numeric_terms(arg))
        return self.anything_but(arg)

    def string(self, op: str, arg: Any) -> str:
        if not isinstance(arg, str):
            raise self.error(f"{op} match pattern must be a string")
        return arg

    def affix_argument(self, op: str, arg: Any) -> tuple[str, bool]:
        if (
            self.dialect == "eventbridge"
            and isinstance(arg, dict)
            and len(arg) == 1
            and "equals-ignore-case" in arg
        ):
            return self.string("equals-ignore-case", arg["equals-ignore-case"]), True
        return self.string(op, arg), False

    def wildcard_regex(self, arg: Any) -> str:
        parsed = leaves.parse_wildcard(self.string("wildcard", arg))
        if isinstance(parsed, tuple):
            raise self.error(f"{parsed[0]}{parsed[1]}")
        return parsed

    def network(self, arg: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        # Ruler reports a non-string CIDR with the prefix message.
        text = self.string("prefix", arg)
        address, sep, mask = text.partition("/")
        if not sep or "/" in mask:
            raise self.error("Malformed CIDR, one '/' required")
        if not mask.isdigit():
            raise self.error("Malformed CIDR, mask bits must be an integer")
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise self.error(f"Nonstandard IP address: {address}") from None

    def numeric_terms(self, arg: Any) -> list[tuple[str, float]]:
        if not isinstance(arg, list) or not arg:
            raise self.error("Invalid member in numeric match: ]")
        items = list(arg)
        op = items[0]
        if not isinstance(op, str):
            raise self.error(f"Invalid member in numeric match: {json.dumps(op)}")
        if op not in _NUMERIC_OPS:
            raise self.error(f"Unrecognized numeric range operator: {op}")
        first = self.numeric_value(op, items[1] if len(items) > 1 else None)
        if len(items) <= 2:
            return [(op, first)]
        if op not in (">", ">="):
            raise self.error("Too many elements in numeric expression")
        op2 = items[2]
        if not isinstance(op2, str):
            raise self.error(f"Bad value in numeric range: {json.dumps(op2)}")
        if op2 not in ("<", "<="):
            raise self.error(f"Bad numeric range operator: {op2}")
        second = self.numeric_value(op2, items[3] if len(items) > 3 else None)
        if second <= first:
            raise self.error("Bottom must be less than top")
        if len(items) > 4:
            raise self.error("Too many terms in numeric range expression")
        return [(op, first), (op2, second)]

    def numeric_value(self, op: str, value: Any) -> float:
        if not _is_number(value):
            raise self.error(f"Value of {'equals' if op == '=' else op} must be numeric")
        return float(value)

    def anything_but(self, arg: Any) -> leaves.Predicate:
        if isinstance(arg, str) or _is_number(arg):
            return leaves.anything_but_values([arg])
        if isinstance(arg, list):
            if not arg:
                raise self.error("Empty arrays are not allowed")
            if not all(isinstance(v, str) or _is_number(v) for v in arg):
                raise self.error("Inside anything but list, start|null|boolean is not supported.")
            if len({isinstance(v, str) for v in arg}) > 1:
                raise self.error("Inside anything but list, all members must be of the same type")
            return leaves.anything_but_values(arg)
        if isinstance(arg, dict):
            if len(arg) != 1:
                raise self.error("Only one key allowed in match expression")
            ((op, inner),) = arg.items()
            if op not in self.anything_but_operators:
                raise self.error(f"Unsupported anything-but pattern: {op}")
            if op in ("prefix", "suffix"):
                text = self.string(op, inner)
                return leaves.anything_but(leaves.prefix(text) if op == "prefix" else leaves.suffix(text))
            values = inner if isinstance(inner, list) and inner else [inner]
            if op == "equals-ignore-case":
                return leaves.anything_but(leaves.equals_ignore_case([self.string(op, v) for v in values]))
            return leaves.anything_but(leaves.wildcard([self.wildcard_regex(v) for v in values]))
        raise self.error("Value of anything-but must be an array or single string/number value.")


def _object_matcher(
    fields: tuple[tuple[str, Matcher], ...], groups: tuple[tuple[Matcher, ...], ...]
) -> Matcher:
    def match(value: Any) -> bool:
        if isinstance(value, dict):
            obj: Mapping[str, Any] = value
        elif type(value) is list:
            objects = [v for v in leaves.flatten(value) if isinstance(v, Mapping)]
            if objects:
                # An array of objects matches when one element matches the whole sub-pattern.
                return any(match(o) for o in objects)
            obj = _EMPTY
        elif isinstance(value, Mapping):
            obj = value
        else:
            obj = _EMPTY
        get = obj.get
        missing = leaves.MISSING
        for key, field in fields:
            if not field(get(key, missing)):
                return False
        return all(any(alt(obj) for alt in group) for group in groups)

    return match
