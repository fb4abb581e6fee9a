"""Model-driven input validation with the errors AWS front ends return.

`validate_input(route, params)` checks required members, Python types, enums,
lengths (strings, blobs, lists, maps), numeric ranges and `pattern` (matched
against the whole value, as Coral does, in linear time on RE2: see `_Pattern`) over the whole input tree, and raises one `ServiceError` listing
every violation.

Message format (Coral, the front end of JSON / rest-json / query services;
seen in AWS responses quoted by SDK issues and emulators, e.g. DynamoDB's
"1 validation error detected: Value '{t=[]}' at 'requestItems' failed to
satisfy constraint: Map value must satisfy constraint: [Member must have length
less than or equal to 25, Member must have length greater than or equal to 1]"):
    "N validation error(s) detected: Value <v> at '<path>' failed to satisfy
    constraint: <constraint>; ..."
with paths in lowerCamelCase (`environment.variables`), list items as
`<list>.<n>.member`, scalar map keys/values summarised at the map, and the
value left out ("Value at ...") for `sensitive` shapes.

Codes per service family:
- JSON, rest-json, CBOR: `ValidationException` 400.
- IAM, STS (query): `ValidationError` 400, same message.
- SNS: a missing member is `ValidationError` (e.g. "Value null at 'message'
  ... Member must not be null"); any other violation is `InvalidParameter`
  "Invalid parameter: <Name> Reason: <constraint>".
- CloudWatch (awsQueryCompatible, every protocol): `MissingParameter` "The
  parameter <Name> is required." / `InvalidParameterValue`.
- S3: missing header/query member `InvalidRequest` ("Missing required header
  for this request: <header>"), missing payload `MalformedXML`, other
  violations `InvalidArgument` with ArgumentName/ArgumentValue, except enums: a storage
  class header is `InvalidStorageClass`, a LocationConstraint `InvalidLocationConstraint`, a
  notification event type `InvalidArgument`, any other value in the XML body `MalformedXML`.
- Lambda: a `Runtime` outside the model's enum is `InvalidParameterValueException` "Value X at
  'runtime' failed to satisfy constraint: Member must satisfy enum value set: [...] or be a valid
  ARN" (the value unquoted) when nothing else is wrong; other violations come first, as a
  `ValidationException` that leaves the runtime out (Lambda checks it after the front end).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import re2
from botocore.model import Shape

from squall.protocol.errors import ServiceError
from squall.protocol.models import service_model
from squall.protocol.parsers import MALFORMED_XML
from squall.protocol.parsers._common import INT_BITS, Memo, shape_key
from squall.protocol.types import Protocol, Route

__all__ = ["Violation", "validate_input"]


@dataclass(frozen=True)
class Violation:
    path: str  # lowerCamel dotted path, as in AWS messages
    value: str | None  # rendered value; None for sensitive members
    constraint: str
    missing: bool = False
    wire: str = ""  # the member's wire name (header / query key / member name)

    def coral(self) -> str:
        shown = "Value" if self.value is None else f"Value {self.value}"
        return f"{shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


Check = Callable[[Any, str, list[Violation]], None]
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "float": (float, int),
    "double": (float, int),
    "blob": (bytes, bytearray),
    "timestamp": (dt.datetime,),
    "list": (list, tuple),
    "map": (dict,),
    "structure": (dict,),
}


def render(value: Any) -> str:
    """A value as Coral (Java) prints it in validation messages."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return _java(value)


def _java(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java(k)}={_java(v)}" for k, v in value.items()) + "}"
    return str(value)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Pattern:
    r"""A model `pattern`, matched against whole values in linear time.

    Values are client input, so the pattern runs on RE2 (no backtracking: AWS's own
    `^[ \t]*[\x20-\x7E]+([ \t]+[\x20-\x7E]+)*[ \t]*$` took seconds on a 22-character
    value with Python's `re` and doubled with each character). RE2's `\w`, `\d`, `\s` are
    ASCII, as in Java's regex, the models' dialect. The few patterns RE2 cannot compile
    (lookarounds, `\uXXXX`, `\p{...}`) fall back to Python's `re`, and only for values within
    the shape's length limit. Recent short values' results are kept (per pattern, bounded):
    the same table or function names on every request cost a dict lookup, not a match."""

    __slots__ = ("_full", "_max", "_seen")

    def __init__(self, full: Callable[[str], object], max_length: int | None) -> None:
        self._full = full
        self._max = max_length
        self._seen: dict[str, bool] = {}

    def matches(self, value: str) -> bool:
        seen = self._seen
        hit = seen.get(value)
        if hit is not None:
            return hit
        if self._max is not None and len(value) > self._max:
            return True  # the length constraint reports it; a fallback `re` never sees it
        hit = self._full(value) is not None
        if len(value) <= 256:
            if len(seen) >= 4096:
                seen.clear()
            seen[value] = hit
        return hit


@cache
def _pattern(text: str, max_length: int | None) -> _Pattern | None:
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    try:
        return _Pattern(re2.compile(text, options).fullmatch, None)
    except re2.error:
        pass
    try:
        return _Pattern(re.compile(text).fullmatch, max_length if max_length is not None else 4096)
    except (re.error, OverflowError, RecursionError):
        return None


_FINE: list[str] = []  # never appended to


def _scalar_constraints(shape: Shape, enums: bool = True) -> Callable[[Any], list[str]] | None:
    """The constraint messages a scalar/container value of `shape` breaks
    (not recursing into children); None when the shape has no such constraints.
    `enums`: whether the service's front end enforces the model's enums (see `UNENFORCED_ENUMS`)."""
    t = shape.type_name
    meta = shape.metadata
    lo = meta.get("min")
    hi = meta.get("max")
    enum = list(shape.enum) if enums and t == "string" and shape.enum else None
    pattern = _pattern(str(meta["pattern"]), hi) if t == "string" and meta.get("pattern") else None
    pattern_text = str(meta.get("pattern", ""))
    sized = t in ("string", "blob", "list", "map")
    numeric = t in INT_BITS or t in ("float", "double")
    if enum is None and pattern is None and ((lo is None and hi is None) or not (sized or numeric)):
        return None

    members = frozenset(enum) if enum is not None else None
    unbounded = lo is None and hi is None

    def broken(value: Any) -> list[str]:
        if sized and pattern is None and (members is None or value in members):
            n = len(value)
            if (hi is None or n <= hi) and (lo is None or n >= lo):
                return _FINE
        elif unbounded and pattern is None and members is not None and value in members:
            return _FINE
        out: list[str] = []
        if sized:
            n = len(value)
            if hi is not None and n > hi:
                out.append(f"Member must have length less than or equal to {hi}")
            if lo is not None and n < lo:
                out.append(f"Member must have length greater than or equal to {lo}")
        elif numeric:
            if hi is not None and value > hi:
                out.append(f"Member must have value less than or equal to {hi}")
            if lo is not None and value < lo:
                out.append(f"Member must have value greater than or equal to {lo}")
        if enum is not None and members is not None and value not in members:
            out.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
        if pattern is not None and not pattern.matches(value):
            out.append(f"Member must satisfy regular expression pattern: {pattern_text}")
        return out

    return broken


def _always(value: Any) -> bool:
    return True


def _type_test(shape: Shape) -> Callable[[Any], bool]:
    """Whether a value has the Python type the shape takes (bool is no number)."""
    t = shape.type_name
    if t in INT_BITS:
        return lambda value: type(value) is int
    if t == "structure" and shape.metadata.get("document"):
        return _always
    allowed = _TYPES.get(t)
    if allowed is None:
        return _always
    if t == "boolean":
        return lambda value: isinstance(value, allowed)
    return lambda value: isinstance(value, allowed) and type(value) is not bool


def _children(shape: Shape) -> list[Shape]:
    t = shape.type_name
    if t == "structure":
        return [] if shape.metadata.get("document") else list(shape.members.values())
    if t == "list":
        return [shape.member]
    if t == "map":
        return [shape.key, shape.value]
    return []


def _is_document(shape: Shape) -> bool:
    return shape.type_name == "structure" and bool(shape.metadata.get("document"))


def _constrained(shape: Shape, enums: bool = True) -> bool:
    """Whether a value already of the right type can break `shape` itself (children aside):
    lengths, ranges, enums, patterns, required members, nulls a decoder lets through."""
    if _scalar_constraints(shape, enums) is not None:
        return True
    t = shape.type_name
    if t == "structure":
        return bool(shape.required_members) and not shape.metadata.get("document")
    return t == "list" and _is_document(shape.member)


class _Compiler:
    """Check builders for one service. `typed`: the values come from a decoder that already
    guarantees each shape's Python type (the json and CBOR tree decoders), so subtrees
    where nothing but the type could be wrong are not visited at all."""

    def __init__(self, typed: bool = False, enums: bool = True) -> None:
        self._memo: Memo[Check] = Memo()
        self._typed = typed
        self._enums = enums
        self._needs_memo: dict[tuple[str, str], bool] = {}

    def needs(self, shape: Shape) -> bool:
        """Whether a value of `shape` can break anything this compiler checks."""
        if not self._typed:
            return True
        key = shape_key(shape)
        found = self._needs_memo.get(key)
        if found is None:
            found = False
            seen: set[tuple[str, str]] = set()
            stack = [shape]
            while stack:
                s = stack.pop()
                k = shape_key(s)
                if k in seen:
                    continue
                seen.add(k)
                if _constrained(s, self._enums):
                    found = True
                    break
                stack.extend(_children(s))
            self._needs_memo[key] = found
        return found

    def check(self, shape: Shape) -> Check:
        return self._memo.get(shape, self._build)

    def _build(self, shape: Shape) -> Check:
        t = shape.type_name
        sensitive = bool(shape.metadata.get("sensitive"))
        broken = _scalar_constraints(shape, self._enums)

        def mistyped(value: Any, path: str, out: list[Violation]) -> None:
            shown = None if sensitive else render(value)
            out.append(Violation(path, shown, f"Member must be of type {t}"))

        # Unconstrained containers check their own type (one call less per node).
        typed = mistyped if broken is None else None
        children: Check | None = None
        if t == "structure" and not shape.metadata.get("document"):
            children = self._structure(shape, typed)
        elif t == "list":
            children = self._list(shape, typed)
        elif t == "map":
            children = self._map(shape, typed)
        if typed is not None and children is not None:
            return children

        type_ok = _type_test(shape)
        if broken is None:
            allowed = _TYPES.get(t)
            if t in INT_BITS:

                def integer(value: Any, path: str, out: list[Violation]) -> None:
                    if type(value) is not int:
                        mistyped(value, path, out)

                return integer
            if allowed is not None and type_ok is not _always:
                exact = allowed[0]
                strict = t != "boolean"

                def scalar(value: Any, path: str, out: list[Violation]) -> None:
                    if type(value) is not exact and (
                        not isinstance(value, allowed) or (strict and type(value) is bool)
                    ):
                        mistyped(value, path, out)

                return scalar

            def plain(value: Any, path: str, out: list[Violation]) -> None:
                if not type_ok(value):
                    mistyped(value, path, out)

            return plain

        if self._typed:
            assert broken is not None

            def typed_check(value: Any, path: str, out: list[Violation]) -> None:
                problems = broken(value)
                if problems:
                    shown = None if sensitive else render(value)
                    out.extend(Violation(path, shown, message) for message in problems)
                if children is not None:
                    children(value, path, out)

            return typed_check

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if not type_ok(value):
                mistyped(value, path, out)
                return
            assert broken is not None
            for message in broken(value):
                out.append(Violation(path, None if sensitive else render(value), message))
            if children is not None:
                children(value, path, out)

        return check

    def _structure(self, shape: Shape, mistyped: Check | None = None) -> Check:
        members = [
            (
                name,
                _camel(name),
                str(m.serialization.get("name", name)),
                self.check(m),
                bool(m.metadata.get("sensitive")),
            )
            for name, m in shape.members.items()
            if self.needs(m) or name in shape.required_members
        ]
        required = set(shape.required_members)
        index = {m[0]: i for i, m in enumerate(members)}
        required_at = sorted(index[name] for name in required if name in index)
        size = len(members)
        everything = range(size)
        if self._typed and not required:
            return self._lean_structure([(n, c, w, mc) for n, c, w, mc, _ in members])

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if mistyped is not None and not isinstance(value, dict):
                mistyped(value, path, out)
                return
            # Visit only the members present (and the required ones), in model order:
            # a DynamoDB AttributeValue has ten members and carries one.
            order: Any = everything
            present = len(value)
            if 2 * present < size:
                if present == 1 and not required_at:
                    for key in value:
                        at = index.get(key)
                    order = () if at is None else (at,)
                else:
                    order = [index[k] for k in value if k in index]
                if required_at:
                    order = sorted(set(order).union(required_at))
                elif len(order) > 1:
                    order.sort()
            for i in order:
                name, camel, wire, member_check, _sensitive = members[i]
                item = value.get(name)
                if item is None:
                    if name in required:
                        where = f"{path}.{camel}" if path else camel
                        out.append(
                            Violation(where, "null", "Member must not be null", missing=True, wire=wire)
                        )
                    continue
                before = len(out)
                member_check(item, f"{path}.{camel}" if path else camel, out)
                if len(out) == before:
                    continue
                for j in range(before, len(out)):
                    if not out[j].wire:
                        v = out[j]
                        out[j] = Violation(v.path, v.value, v.constraint, v.missing, wire)

        return check

    @staticmethod
    def _lean_structure(plan: list[tuple[str, str, str, Check]]) -> Check:
        """A typed structure without required members: the members that can break anything,
        in model order (a DynamoDB AttributeValue: only `M` and `L`)."""

        def check(value: Any, path: str, out: list[Violation]) -> None:
            for name, camel, wire, member_check in plan:
                item = value.get(name)
                if item is None:
                    continue
                before = len(out)
                member_check(item, f"{path}.{camel}" if path else camel, out)
                for j in range(before, len(out)):
                    if not out[j].wire:
                        v = out[j]
                        out[j] = Violation(v.path, v.value, v.constraint, v.missing, wire)

        return check

    def _list(self, shape: Shape, mistyped: Check | None = None) -> Check:
        item_check = self.check(shape.member)
        visit = self.needs(shape.member)

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if mistyped is not None and not isinstance(value, list | tuple):
                mistyped(value, path, out)
                return
            if not visit:
                return
            for i, item in enumerate(value, 1):
                where = f"{path}.{i}.member"
                if item is None:
                    out.append(Violation(where, "null", "Member must not be null", missing=True))
                else:
                    item_check(item, where, out)

        return check

    def _map(self, shape: Shape, mistyped: Check | None = None) -> Check:
        key_check = self.check(shape.key)
        value_check = self.check(shape.value)
        keys = self.needs(shape.key)
        values = self.needs(shape.value)
        sparse = bool(shape.metadata.get("sparse"))
        hidden = any(s.metadata.get("sensitive") for s in (shape, shape.key, shape.value))

        # Typed string keys: their constraint messages straight from the rule.
        key_rule = (
            _scalar_constraints(shape.key, self._enums)
            if self._typed and shape.key.type_name == "string"
            else None
        )

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if mistyped is not None and not isinstance(value, dict):
                mistyped(value, path, out)
                return
            if not keys and not values and (sparse or None not in value.values()):
                return
            shown: list[str | None] = []  # the map rendered once, on the first violation

            def rendered() -> str | None:
                if not shown:
                    shown.append(None if hidden else render(value))
                return shown[0]

            for key, item in value.items():
                found: list[Violation] = []
                if key_rule is not None:
                    reasons = ", ".join(key_rule(key))
                    if reasons:
                        out.append(
                            Violation(path, rendered(), f"Map key must satisfy constraint: [{reasons}]")
                        )
                elif keys:
                    key_check(key, path, found)
                    if found:
                        reasons = ", ".join(v.constraint for v in found)
                        out.append(
                            Violation(path, rendered(), f"Map key must satisfy constraint: [{reasons}]")
                        )
                        found = []
                if item is None:
                    if not sparse:
                        out.append(
                            Violation(
                                path,
                                rendered(),
                                "Map value must satisfy constraint: [Member must not be null]",
                            )
                        )
                    continue
                if not values:
                    continue
                where = f"{path}.{key}"
                value_check(item, where, found)
                if not found:
                    continue
                direct = [v for v in found if v.path == where]
                if direct:
                    reasons = ", ".join(v.constraint for v in direct)
                    out.append(Violation(path, rendered(), f"Map value must satisfy constraint: [{reasons}]"))
                out.extend(v for v in found if v.path != where)

        return check


# Services whose front end does not enforce the enums of their model: the lists there are
# documentation (and sometimes wrong: SQS's ReceiveMessage `AttributeNames` is modelled as
# QueueAttributeName, yet AWS documents and accepts message system attribute names such as
# ApproximateReceiveCount there, and ignores names it does not know). The service checks the
# names it cares about itself, with its own errors (SQS: InvalidAttributeName "Unknown
# Attribute X." for queue attributes). See docs/audits/enum-validation.md.
UNENFORCED_ENUMS = frozenset({"sqs"})


@cache
def _compiler(service: str, typed: bool) -> _Compiler:
    return _Compiler(typed, enums=service not in UNENFORCED_ENUMS)


@cache
def _checker(service: str, operation: str, typed: bool) -> Check | None:
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None:
        return None
    compiler = _compiler(service, typed)
    return compiler.check(shape) if compiler.needs(shape) else None


# The tree decoders (parsers/tree.py) hand over values of each shape's Python type or fail.
_TYPED_PROTOCOLS = (Protocol.JSON, Protocol.CBOR)


def violations(route: Route, params: dict[str, Any]) -> list[Violation]:
    """Every constraint `params` breaks, in model order."""
    check = _checker(route.service, route.operation, route.protocol in _TYPED_PROTOCOLS)
    found: list[Violation] = []
    if check is not None:
        check(params, "", found)
    return found


def validate_input(route: Route, params: dict[str, Any]) -> None:
    """Raise the service's validation error if `params` breaks the model."""
    found = violations(route, params)
    if found:
        raise _error(route, found)


def _coral_message(found: list[Violation]) -> str:
    noun = "error" if len(found) == 1 else "errors"
    return f"{len(found)} validation {noun} detected: " + "; ".join(v.coral() for v in found)


def _error(route: Route, found: list[Violation]) -> ServiceError:
    service = route.service
    if service == "s3":
        return _s3_error(route, found)
    if service == "cloudwatch":
        first = found[0]
        if first.missing:
            return ServiceError("MissingParameter", f"The parameter {first.wire} is required.")
        return ServiceError("InvalidParameterValue", _coral_message(found))
    if service == "sns":
        missing = [v for v in found if v.missing]
        if missing:
            return ServiceError("ValidationError", _coral_message(missing))
        first = found[0]
        return ServiceError("InvalidParameter", f"Invalid parameter: {first.wire} Reason: {first.constraint}")
    if service == "lambda":
        # Lambda checks the runtime itself, after the front end's checks of the other members:
        # its own code, the value unquoted and "or be a valid ARN"
        runtime = next(
            (v for v in found if v.path == "runtime" and v.constraint.startswith("Member must satisfy enum")),
            None,
        )
        others = [v for v in found if v is not runtime]
        if others:
            return ServiceError("ValidationException", _coral_message(others))
        if runtime is not None:
            value = (runtime.value or "").strip("'")
            return ServiceError(
                "InvalidParameterValueException",
                f"Value {value} at 'runtime' failed to satisfy constraint: "
                f"{runtime.constraint} or be a valid ARN",
                400,
                fields={"Type": "User"},
            )
    if route.protocol in (Protocol.QUERY, Protocol.EC2):
        return ServiceError("ValidationError", _coral_message([_as_sent(v) for v in found]))
    return ServiceError("ValidationException", _coral_message(found))


def _as_sent(v: Violation) -> Violation:
    """Query-protocol values arrive as strings, and AWS quotes them so: "Value '100' at 'durationSeconds'"."""
    if v.value is None or v.value == "null" or v.value.startswith(("'", "[", "{", "java.")):
        return v
    return Violation(v.path, f"'{v.value}'", v.constraint, v.missing, v.wire)


def _s3_error(route: Route, found: list[Violation]) -> ServiceError:
    shape = service_model("s3").operation_model(route.operation).input_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    first = found[0]
    if first.missing:
        member = _member_by_wire(shape, first.wire)
        if member is not None and member[0] == payload:
            return ServiceError("MalformedXML", MALFORMED_XML)
        location = member[1].serialization.get("location") if member is not None else None
        if location == "header":
            return ServiceError("InvalidRequest", f"Missing required header for this request: {first.wire}")
        if location == "querystring":
            return ServiceError(
                "InvalidRequest", f"Missing required query parameter for this request: {first.wire}"
            )
        return ServiceError("MalformedXML", MALFORMED_XML)
    if first.constraint.startswith("Member must satisfy enum value set"):
        if first.wire == "x-amz-storage-class":
            return ServiceError(
                "InvalidStorageClass",
                "The storage class you specified is not valid",
                fields={"StorageClassRequested": (first.value or "").strip("'")},
            )
        if first.wire == "LocationConstraint":
            return ServiceError(
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
                fields={"LocationConstraint": (first.value or "").strip("'")},
            )
        if first.wire in ("Event", "Events"):  # a notification event type S3 does not know
            return ServiceError(
                "InvalidArgument",
                "The event is not supported for notifications",
                fields={"ArgumentName": "Event", "ArgumentValue": (first.value or "").strip("'")},
            )
        member = _member_by_wire(shape, first.wire)
        if member is None or member[0] == payload:  # inside the XML body: it breaks the schema
            return ServiceError("MalformedXML", MALFORMED_XML)
    return ServiceError(
        "InvalidArgument",
        first.constraint,
        fields={"ArgumentName": first.wire, "ArgumentValue": (first.value or "").strip("'")},
    )


def _member_by_wire(shape: Shape | None, wire: str) -> tuple[str, Shape] | None:
    if shape is None:
        return None
    for name, member in shape.members.items():
        if str(member.serialization.get("name", name)) == wire:
            return name, member
    return None


def validate_call(service: str, operation: str, params: dict[str, Any]) -> None:
    """`validate_input` for an in-process call (services/calls.py), as a JSON-protocol request is
    validated: every constraint (required members, enums, lengths, ranges, patterns), reported
    as the service's own protocol family reports it; subtrees where only a Python type could be
    wrong are not walked (callers hand the values boto3 would take, as the wire decoders do:
    walking a DynamoDB item's attribute values would cost more than most operations)."""
    check = _checker(service, operation, True)
    if check is None:
        return
    found: list[Violation] = []
    check(params, "", found)
    if found:
        raise _error(Route(service, operation, _native_protocol(service)), found)


@cache
def _native_protocol(service: str) -> Protocol:
    return Protocol(service_model(service).protocol)
